//! `roster list-users`.

use super::{Format, explain, user_json};
use roster_core::service::{ListUsers, MAX_PAGE_SIZE};
use roster_core::user::rfc3339;
use roster_core::{Core, Role, User};
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only users whose email, username or name contains this (any case).
    #[arg(long, value_name = "Q")]
    search: Option<String>,
    /// Only users with this role: admin, user or pending.
    #[arg(long, value_name = "R")]
    role: Option<String>,
    /// At most this many users (oldest first) [default: all].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// table (for people), json (an array of complete user objects) or csv (the same fields).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Reads users page by page, oldest first.
pub async fn read_users(
    core: &Core,
    search: Option<String>,
    role: Option<Role>,
    limit: Option<u64>,
) -> anyhow::Result<(Vec<User>, i64)> {
    let mut users = Vec::new();
    let mut cursor = None;
    let mut total = 0;
    loop {
        let remaining = limit.map_or(u64::MAX, |l| l - users.len() as u64);
        let page = core
            .list_users(
                core.operator(),
                ListUsers {
                    search: search.clone(),
                    role,
                    cursor,
                    limit: Some(remaining.min(u64::from(MAX_PAGE_SIZE)) as u32),
                    with_total: users.is_empty(),
                    ..ListUsers::default()
                },
            )
            .await
            .map_err(explain)?;
        if let Some(t) = page.total {
            total = t;
        }
        users.extend(page.users);
        cursor = page.next_cursor;
        if cursor.is_none() || limit.is_some_and(|l| users.len() as u64 >= l) {
            return Ok((users, total));
        }
    }
}

fn flat(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn run(core: &Core, args: Args) -> anyhow::Result<()> {
    let role = args.role.as_deref().map(Role::parse).transpose().map_err(explain)?;
    let (users, total) = read_users(core, args.search, role, args.limit).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let all: Vec<_> = users.iter().map(user_json).collect();
            serde_json::to_writer_pretty(&mut out, &all)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            let mut header_written = false;
            for user in &users {
                let serde_json::Value::Object(fields) = user_json(user) else {
                    continue;
                };
                if !header_written {
                    writer.write_record(fields.keys())?;
                    header_written = true;
                }
                writer.write_record(fields.values().map(flat))?;
            }
            writer.flush()?;
        }
        Format::Table => {
            let header = [
                "ID",
                "EMAIL",
                "USERNAME",
                "NAME",
                "PROVIDER",
                "ROLE",
                "VERIFIED",
                "ACTIVE",
                "BANNED UNTIL",
                "CREATED",
            ];
            let rows: Vec<[String; 10]> = users
                .iter()
                .map(|u| {
                    [
                        u.id.to_string(),
                        u.email.clone().unwrap_or_else(|| "-".into()),
                        u.username.clone().unwrap_or_else(|| "-".into()),
                        u.name.clone().unwrap_or_else(|| "-".into()),
                        u.provider.clone(),
                        u.role.to_string(),
                        if u.email_verified { "yes" } else { "no" }.into(),
                        if u.active { "yes" } else { "no" }.into(),
                        u.banned_until.map_or_else(|| "-".into(), rfc3339),
                        rfc3339(u.created_at),
                    ]
                })
                .collect();
            let mut widths = header.map(|h| h.chars().count());
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: &[String]| {
                cells
                    .iter()
                    .zip(widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            writeln!(out, "{}", line(&header.map(String::from)))?;
            for row in &rows {
                writeln!(out, "{}", line(row))?;
            }
            if (users.len() as i64) < total {
                writeln!(
                    out,
                    "Total users: {total} ({} shown; raise --limit to see more)",
                    users.len()
                )?;
            } else {
                writeln!(out, "Total users: {}", users.len())?;
            }
        }
    }
    Ok(())
}
