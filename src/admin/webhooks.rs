//! `roster webhooks add|list|remove|deliveries|replay` and `roster deletions`: the same core
//! services as `/v1/webhooks` and `/v1/deletions`.

use super::{explain, password_from_stdin, usage};
use roster_core::service::{DeletionStatus, NewSubscription};
use roster_core::user::rfc3339;
use roster_core::webhooks::{Delivery, DeliveryQuery, DeliveryStatus, IdForms, Subscription};
use roster_core::{Core, UserId};
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Subscribes URL to events; prints the id and the signing secret (shown once).
    Add(AddArgs),
    /// Lists the subscriptions.
    List(FormatArgs),
    /// Deletes a subscription and its delivery log.
    Remove {
        /// The webhook id.
        id: i64,
    },
    /// Shows the delivery log, newest first: status, attempts, last status code and error.
    Deliveries(DeliveriesArgs),
    /// Sends deliveries again (pending, due now, attempts reset).
    Replay(ReplayArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Where to POST events: an http:// or https:// URL without credentials, at a public
    /// address (loopback and private ones need webhook_allow_private_networks).
    url: String,
    /// Event types to send, comma-separated (user.created,user.deleted,...) [default: all].
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    events: Vec<String>,
    /// A user's deletion is complete only once this receiver acknowledged it with a 2xx.
    #[arg(long)]
    required_for_deletion: bool,
    /// Read the secret from standard input instead of generating one (16 to 256 characters).
    #[arg(long)]
    secret_stdin: bool,
    /// A note shown in listings.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct FormatArgs {
    /// table or json.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {
    /// Only this webhook's deliveries.
    #[arg(long, value_name = "ID")]
    webhook: Option<i64>,
    /// Only pending, delivered or failed ones.
    #[arg(long, value_parser = ["pending", "delivered", "failed"])]
    status: Option<String>,
    /// Only deliveries about this user id.
    #[arg(long, value_name = "USER_ID")]
    user: Option<String>,
    /// At most this many (1-500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
    /// table or json.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Delivery ids.
    ids: Vec<i64>,
    /// Every failed (given up) delivery, of --webhook only when given.
    #[arg(long)]
    failed: bool,
    /// With --failed: only this webhook's.
    #[arg(long, value_name = "ID", requires = "failed")]
    webhook: Option<i64>,
}

#[derive(Debug, clap::Args)]
pub struct DeletionsArgs {
    /// Also completed deletions (the latest, newest first); default: pending ones only.
    #[arg(long)]
    all: bool,
    /// At most this many (1-500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
    /// table or json.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

pub async fn run(core: &Core, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Add(args) => add(core, args).await,
        Command::List(args) => list(core, args).await,
        Command::Remove { id } => {
            core.delete_subscription(core.operator(), id).await.map_err(explain)?;
            println!("Webhook {id} removed.");
            Ok(())
        }
        Command::Deliveries(args) => deliveries(core, args).await,
        Command::Replay(args) => replay(core, args).await,
    }
}

async fn add(core: &Core, args: AddArgs) -> anyhow::Result<()> {
    let secret = if args.secret_stdin {
        Some(password_from_stdin().map_err(|_| usage("--secret-stdin: standard input held no secret"))?)
    } else {
        None
    };
    let created = core
        .create_subscription(
            core.operator(),
            NewSubscription {
                url: args.url,
                event_types: args.events,
                secret,
                required_for_deletion: args.required_for_deletion,
                description: args.description,
            },
        )
        .await
        .map_err(explain)?;
    println!(
        "Webhook {} created for {}.",
        created.subscription.id, created.subscription.url
    );
    if !args.secret_stdin {
        println!("Secret (shown once): {}", created.secret);
    }
    Ok(())
}

fn subscription_json(s: &Subscription) -> serde_json::Value {
    json!({
        "id": s.id.to_string(),
        "url": s.url,
        "event_types": s.event_types,
        "required_for_deletion": s.required_for_deletion,
        "description": s.description,
        "created_at": rfc3339(s.created_at),
    })
}

async fn list(core: &Core, args: FormatArgs) -> anyhow::Result<()> {
    let subscriptions = core.list_subscriptions(core.operator()).await.map_err(explain)?;
    if args.format == "json" {
        let all: Vec<_> = subscriptions.iter().map(subscription_json).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    for s in &subscriptions {
        let types = if s.event_types.is_empty() {
            "all events".to_string()
        } else {
            s.event_types.join(",")
        };
        println!(
            "{}  {}  {}{}{}",
            s.id,
            s.url,
            types,
            if s.required_for_deletion {
                "  required for deletion"
            } else {
                ""
            },
            s.description.as_deref().map(|d| format!("  ({d})")).unwrap_or_default()
        );
    }
    println!("Webhooks: {}", subscriptions.len());
    Ok(())
}

fn delivery_json(d: &Delivery) -> serde_json::Value {
    json!({
        "id": d.id.to_string(),
        "webhook_id": d.subscription_id.to_string(),
        "event_id": d.event_id.to_string(),
        "event_type": d.event_type,
        "user_id": d.subject_id.to_string(),
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "next_attempt_at": (d.status == DeliveryStatus::Pending).then(|| rfc3339(d.next_attempt_at)),
        "last_attempt_at": d.last_attempt_at.map(rfc3339),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": d.delivered_at.map(rfc3339),
    })
}

fn delivery_line(d: &Delivery) -> String {
    format!(
        "{}  webhook {}  {} {} user {}  {}  attempts {}  last status {}  last error {}",
        d.id,
        d.subscription_id,
        d.event_type,
        d.event_id,
        d.subject_id,
        d.status.as_str(),
        d.attempts,
        d.last_status_code.map_or("-".to_string(), |c| c.to_string()),
        d.last_error.as_deref().unwrap_or("-"),
    )
}

async fn deliveries(core: &Core, args: DeliveriesArgs) -> anyhow::Result<()> {
    let subject_id = match args.user.as_deref() {
        None => None,
        Some(raw) => Some(
            raw.parse::<UserId>()
                .map_err(|_| usage(format!("--user: {raw:?} is not a user id")))?,
        ),
    };
    let list = core
        .list_deliveries(
            core.operator(),
            DeliveryQuery {
                subscription_id: args.webhook,
                status: args
                    .status
                    .as_deref()
                    .map(DeliveryStatus::parse)
                    .transpose()
                    .map_err(explain)?,
                subject_id,
                before: None,
                limit: args.limit,
            },
        )
        .await
        .map_err(explain)?;
    if args.format == "json" {
        let all: Vec<_> = list.iter().map(delivery_json).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    for d in &list {
        println!("{}", delivery_line(d));
    }
    println!("Deliveries: {}", list.len());
    Ok(())
}

async fn replay(core: &Core, args: ReplayArgs) -> anyhow::Result<()> {
    let mut ids = args.ids;
    if args.failed {
        loop {
            let failed = core
                .list_deliveries(
                    core.operator(),
                    DeliveryQuery {
                        subscription_id: args.webhook,
                        status: Some(DeliveryStatus::Failed),
                        limit: 500,
                        ..DeliveryQuery::default()
                    },
                )
                .await
                .map_err(explain)?;
            if failed.is_empty() {
                break;
            }
            for d in failed {
                core.replay_delivery(core.operator(), d.id).await.map_err(explain)?;
                println!("Delivery {} queued again.", d.id);
            }
        }
    } else if ids.is_empty() {
        return Err(usage("give delivery ids, or --failed"));
    }
    for id in ids.drain(..) {
        core.replay_delivery(core.operator(), id).await.map_err(explain)?;
        println!("Delivery {id} queued again.");
    }
    Ok(())
}

fn deletion_json(d: &DeletionStatus) -> serde_json::Value {
    let forms = IdForms::of(d.event.subject_id);
    json!({
        "user": {"id": forms.id, "uuid": forms.uuid, "object_id": forms.object_id},
        "event_id": d.event.id.to_string(),
        "deleted_at": rfc3339(d.event.occurred_at),
        "status": if d.complete() { "complete" } else { "pending" },
        "receivers": d.receivers.iter().map(|r| json!({
            "webhook_id": r.subscription_id.to_string(),
            "url": r.url,
            "acknowledged": r.acknowledged(),
            "delivery": r.delivery.as_ref().map(delivery_json),
        })).collect::<Vec<_>>(),
    })
}

/// `roster deletions`.
pub async fn deletions(core: &Core, args: DeletionsArgs) -> anyhow::Result<()> {
    let list = core
        .list_deletions(core.operator(), !args.all, args.limit)
        .await
        .map_err(explain)?;
    if args.format == "json" {
        let all: Vec<_> = list.iter().map(deletion_json).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    for d in &list {
        let status = if d.complete() { "complete" } else { "pending" };
        println!(
            "user {} deleted {}  {}",
            d.event.subject_id,
            rfc3339(d.event.occurred_at),
            status
        );
        for r in d.receivers.iter().filter(|r| !r.acknowledged()) {
            let state = r.delivery.as_ref().map_or("not queued yet".to_string(), |d| {
                format!(
                    "{}, attempts {}, last error {}",
                    d.status.as_str(),
                    d.attempts,
                    d.last_error.as_deref().unwrap_or("-")
                )
            });
            println!("  late: webhook {} {} ({state})", r.subscription_id, r.url);
        }
    }
    println!(
        "{}: {}",
        if args.all { "Deletions" } else { "Pending deletions" },
        list.len()
    );
    Ok(())
}
