//! `roster scim targets add|list|remove`, `roster scim deliveries`, `roster scim replay` and
//! `roster scim sync`: SCIM push to other products, through the same core services as
//! `/v1/scim/targets`. `roster serve` pushes; these commands change and show the database,
//! except `sync`, which talks to the target itself.

use super::{explain, password_from_stdin, usage};
use crate::config::Settings;
use roster_core::Core;
use roster_core::service::{HttpTransport, NewScimTarget, SyncReport};
use roster_core::user::rfc3339;
use roster_core::webhooks::{Delivery, DeliveryQuery, DeliveryStatus};
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Manages the SCIM targets.
    #[command(subcommand)]
    Targets(TargetsCommand),
    /// Shows a target's delivery log, newest first (--failed: the dead letters only).
    Deliveries(DeliveriesArgs),
    /// Sends a target's deliveries again (pending, due now, attempts reset).
    Replay(ReplayArgs),
    /// Lists the drift between Roster's users and a target's, and fixes it unless --dry-run.
    Sync(SyncArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum TargetsCommand {
    /// Adds a target; its bearer token is read from standard input.
    Add(AddArgs),
    /// Lists the targets (never their tokens).
    List(FormatArgs),
    /// Removes a target and its delivery log (nothing is removed from the provider).
    Remove {
        /// The target's name.
        name: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// A name for the target (letters, digits, '-', '_', '.').
    name: String,
    /// The SCIM base URL, e.g. https://chat.example.org/api/v1/scim/v2 (loopback and private
    /// addresses need webhook_allow_private_networks).
    #[arg(long)]
    url: String,
    /// Read the bearer token from standard input (required: it never goes on a command line).
    #[arg(long, required = true)]
    token_stdin: bool,
    /// Also push groups and memberships.
    #[arg(long)]
    groups: bool,
    /// Deactivate a user deleted in Roster instead of deleting it on the target.
    #[arg(long)]
    deactivate_on_delete: bool,
}

#[derive(Debug, clap::Args)]
pub struct FormatArgs {
    /// table or json.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {
    /// The target's name.
    name: String,
    /// Only failed (given up) deliveries: the dead letters.
    #[arg(long)]
    failed: bool,
    /// At most this many (1-500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
    /// table or json.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The target's name.
    name: String,
    /// Delivery ids.
    ids: Vec<i64>,
    /// Every failed delivery of the target.
    #[arg(long)]
    failed: bool,
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The target's name.
    name: String,
    /// Only list the drift.
    #[arg(long)]
    dry_run: bool,
    /// table or json.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

pub async fn run(core: &Core, settings: &Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Targets(TargetsCommand::Add(args)) => add(core, args).await,
        Command::Targets(TargetsCommand::List(args)) => list(core, args).await,
        Command::Targets(TargetsCommand::Remove { name }) => {
            core.remove_scim_target(core.operator(), &name).await.map_err(explain)?;
            println!("SCIM target {name} removed.");
            Ok(())
        }
        Command::Deliveries(args) => deliveries(core, args).await,
        Command::Replay(args) => replay(core, args).await,
        Command::Sync(args) => sync(core, settings, args).await,
    }
}

async fn add(core: &Core, args: AddArgs) -> anyhow::Result<()> {
    let token = password_from_stdin().map_err(|_| usage("--token-stdin: standard input held no token"))?;
    let target = core
        .add_scim_target(
            core.operator(),
            NewScimTarget {
                name: args.name,
                url: args.url,
                token,
                push_groups: args.groups,
                deactivate_on_delete: args.deactivate_on_delete,
            },
        )
        .await
        .map_err(explain)?;
    println!("SCIM target {} added for {}.", target.name, target.url);
    Ok(())
}

async fn list(core: &Core, args: FormatArgs) -> anyhow::Result<()> {
    let targets = core.list_scim_targets(core.operator()).await.map_err(explain)?;
    if args.format == "json" {
        let all: Vec<_> = targets
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "url": t.url,
                    "groups": t.push_groups,
                    "deactivate_on_delete": t.deactivate_on_delete,
                    "created_at": rfc3339(t.created_at),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    for t in &targets {
        println!(
            "{}  {}{}{}",
            t.name,
            t.url,
            if t.push_groups { "  groups" } else { "" },
            if t.deactivate_on_delete {
                "  deactivate on delete"
            } else {
                ""
            }
        );
    }
    println!("SCIM targets: {}", targets.len());
    Ok(())
}

fn delivery_json(d: &Delivery) -> serde_json::Value {
    json!({
        "id": d.id.to_string(),
        "event_id": d.event_id.to_string(),
        "event_type": d.event_type,
        "subject_id": d.subject_id.to_string(),
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "next_attempt_at": (d.status == DeliveryStatus::Pending).then(|| rfc3339(d.next_attempt_at)),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": d.delivered_at.map(rfc3339),
    })
}

async fn deliveries(core: &Core, args: DeliveriesArgs) -> anyhow::Result<()> {
    let query = DeliveryQuery {
        status: args.failed.then_some(DeliveryStatus::Failed),
        limit: args.limit,
        ..DeliveryQuery::default()
    };
    let list = core
        .list_scim_deliveries(core.operator(), &args.name, query)
        .await
        .map_err(explain)?;
    if args.format == "json" {
        let all: Vec<_> = list.iter().map(delivery_json).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    for d in &list {
        println!(
            "{}  {} {} subject {}  {}  attempts {}  last status {}  last error {}",
            d.id,
            d.event_type,
            d.event_id,
            d.subject_id,
            d.status.as_str(),
            d.attempts,
            d.last_status_code.map_or("-".to_string(), |c| c.to_string()),
            d.last_error.as_deref().unwrap_or("-"),
        );
    }
    println!("Deliveries: {}", list.len());
    Ok(())
}

async fn replay(core: &Core, args: ReplayArgs) -> anyhow::Result<()> {
    if args.failed {
        let replayed = core
            .replay_failed_scim_deliveries(core.operator(), &args.name)
            .await
            .map_err(explain)?;
        for d in &replayed {
            println!("Delivery {} queued again.", d.id);
        }
    } else if args.ids.is_empty() {
        return Err(usage("give delivery ids, or --failed"));
    }
    for id in args.ids {
        core.replay_scim_delivery(core.operator(), &args.name, id)
            .await
            .map_err(explain)?;
        println!("Delivery {id} queued again.");
    }
    Ok(())
}

fn print_report(report: &SyncReport) {
    for d in &report.drift {
        println!(
            "{}  user {}  {}  {}{}{}",
            d.kind,
            d.user_id.map_or("-".to_string(), |u| u.to_string()),
            d.email.as_deref().unwrap_or("-"),
            d.remote_id.as_deref().map_or(String::new(), |r| format!("remote {r}")),
            if d.fields.is_empty() {
                String::new()
            } else {
                format!("  fields {}", d.fields.join(","))
            },
            d.error
                .as_deref()
                .map_or(String::new(), |e| format!("  NOT FIXED: {e}")),
        );
    }
    let count = |kind: &str| report.drift.iter().filter(|d| d.kind == kind).count();
    println!(
        "{} {}: {} missing, {} different, {} extra ({} users in Roster, {} on the target){}",
        if report.dry_run { "Drift of" } else { "Synced" },
        report.target,
        count("missing"),
        count("different"),
        count("extra"),
        report.local_users,
        report.remote_users,
        if report.dry_run {
            "; nothing changed (--dry-run)"
        } else {
            ""
        },
    );
}

async fn sync(core: &Core, settings: &Settings, args: SyncArgs) -> anyhow::Result<()> {
    let transport = HttpTransport::new().map_err(explain)?;
    let report = core
        .sync_scim_target(
            core.operator(),
            &transport,
            &settings.webhooks(),
            &args.name,
            args.dry_run,
        )
        .await
        .map_err(explain)?;
    if args.format == "json" {
        let drift: Vec<_> = report
            .drift
            .iter()
            .map(|d| {
                json!({
                    "kind": d.kind,
                    "user_id": d.user_id.map(|u| u.to_string()),
                    "remote_id": d.remote_id,
                    "email": d.email,
                    "fields": d.fields,
                    "error": d.error,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "target": report.target,
                "dry_run": report.dry_run,
                "local_users": report.local_users,
                "remote_users": report.remote_users,
                "drift": drift,
            }))?
        );
    } else {
        print_report(&report);
    }
    if report.drift.iter().any(|d| d.error.is_some()) {
        anyhow::bail!("some drift could not be fixed");
    }
    Ok(())
}
