//! `roster user-stats`.

use super::explain;
use roster_core::Core;
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// table or json.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

pub async fn run(core: &Core, args: Args) -> anyhow::Result<()> {
    let s = core.user_stats(core.operator()).await.map_err(explain)?;
    let pairs = |v: &[(String, i64)]| serde_json::Value::Object(v.iter().map(|(k, n)| (k.clone(), json!(n))).collect());
    if args.format == "json" {
        let days: Vec<_> = s
            .signups_by_day
            .iter()
            .map(|(day, n)| json!({"date": day.to_string(), "signups": n}))
            .collect();
        let value = json!({
            "total": s.total,
            "by_role": pairs(&s.by_role),
            "by_provider": pairs(&s.by_provider),
            "email_verified": s.email_verified,
            "email_unverified": s.email_unverified,
            "active": s.active,
            "deactivated": s.deactivated,
            "banned": s.banned,
            "signups_by_day": days,
            "active_last_24_hours": s.active_last_24_hours,
            "active_last_7_days": s.active_last_7_days,
            "active_last_30_days": s.active_last_30_days,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let list = |v: &[(String, i64)]| v.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ");
    println!("Users: {}", s.total);
    println!("By role: {}", list(&s.by_role));
    println!(
        "By provider: {}",
        if s.by_provider.is_empty() {
            "-".into()
        } else {
            list(&s.by_provider)
        }
    );
    println!(
        "Email verified: {}, unverified: {}",
        s.email_verified, s.email_unverified
    );
    println!("Active: {}, deactivated: {}", s.active, s.deactivated);
    println!("Banned now: {}", s.banned);
    println!(
        "Active in the last 24 hours: {}, 7 days: {}, 30 days: {}",
        s.active_last_24_hours, s.active_last_7_days, s.active_last_30_days
    );
    println!("Sign-ups per day (last {} days, UTC):", s.signups_by_day.len());
    for (day, n) in &s.signups_by_day {
        println!("  {day}  {n}");
    }
    Ok(())
}
