//! `roster audit`: reads the audit trail, newest first.

use super::{explain, find_user, usage};
use roster_core::journal::AuditEntry;
use roster_core::service::{ListAudit, MAX_AUDIT_PAGE};
use roster_core::time::OffsetDateTime;
use roster_core::user::rfc3339;
use roster_core::{Core, UserId};
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only entries of this actor: a user id, email or username.
    #[arg(long, value_name = "USER")]
    actor: Option<String>,
    /// Only entries about this user: a user id, email or username.
    #[arg(long, value_name = "USER")]
    target: Option<String>,
    /// Only this action, such as user.update, user.ban or login.failure.
    #[arg(long, value_name = "ACTION")]
    action: Option<String>,
    /// Only entries at or after this time (RFC 3339, e.g. 2026-01-31T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only entries before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// At most this many entries, newest first.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    limit: u64,
    /// One JSON object per entry (JSON lines) instead of a table.
    #[arg(long)]
    json: bool,
}

/// A user named by id, email or username. A number is an id, whether or not the user still
/// exists (the trail outlives deleted users).
async fn user_of(core: &Core, raw: Option<&str>) -> anyhow::Result<Option<UserId>> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(None);
    };
    if let Ok(id) = raw.parse::<UserId>() {
        return Ok(Some(id));
    }
    Ok(Some(find_user(core, raw).await?.id))
}

fn time(flag: &str, raw: Option<&str>) -> anyhow::Result<Option<OffsetDateTime>> {
    raw.map(|s| {
        OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).map_err(|_| {
            usage(format!(
                "{flag}: expected an RFC 3339 time such as 2026-01-31T12:00:00Z"
            ))
        })
    })
    .transpose()
}

fn entry_json(entry: &AuditEntry) -> serde_json::Value {
    serde_json::json!({
        "id": entry.id.to_string(),
        "at": rfc3339(entry.at),
        "actor_id": entry.actor_id.map(|u| u.to_string()),
        "action": entry.action,
        "target_id": entry.target_id.map(|u| u.to_string()),
        "ip": entry.ip,
        "details": entry.details,
    })
}

pub async fn run(core: &Core, args: Args) -> anyhow::Result<()> {
    let actor = user_of(core, args.actor.as_deref()).await?;
    let target = user_of(core, args.target.as_deref()).await?;
    let since = time("--since", args.since.as_deref())?;
    let until = time("--until", args.until.as_deref())?;
    let mut entries = Vec::new();
    let mut cursor = None;
    loop {
        let remaining = args.limit - entries.len() as u64;
        let page = core
            .list_audit(
                core.operator(),
                ListAudit {
                    actor,
                    target,
                    action: args.action.clone(),
                    since,
                    until,
                    cursor,
                    limit: Some(remaining.min(u64::from(MAX_AUDIT_PAGE)) as u32),
                },
            )
            .await
            .map_err(explain)?;
        entries.extend(page.entries);
        cursor = page.next_cursor;
        if cursor.is_none() || entries.len() as u64 >= args.limit {
            break;
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        for entry in &entries {
            serde_json::to_writer(&mut out, &entry_json(entry))?;
            writeln!(out)?;
        }
        return Ok(());
    }
    let id = |u: Option<UserId>| u.map_or_else(|| "-".to_string(), |u| u.to_string());
    writeln!(
        out,
        "{:<20}  {:<20}  {:<26}  {:<20}  {:<15}  DETAILS",
        "AT", "ACTOR", "ACTION", "TARGET", "IP"
    )?;
    for e in &entries {
        writeln!(
            out,
            "{:<20}  {:<20}  {:<26}  {:<20}  {:<15}  {}",
            rfc3339(e.at),
            id(e.actor_id),
            e.action,
            id(e.target_id),
            e.ip.as_deref().unwrap_or("-"),
            e.details
        )?;
    }
    if entries.is_empty() {
        writeln!(out, "(no entries)")?;
    }
    Ok(())
}
