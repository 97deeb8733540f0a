//! `roster ban-user`, `roster unban-user`, `roster list-bans`.

use super::{ask, describe, explain, find_user, require_terminal, user_json};
use roster_core::Core;
use roster_core::service::parse_duration;
use roster_core::user::rfc3339;

#[derive(Debug, clap::Args)]
pub struct BanArgs {
    /// The user's email or username (asked for when absent).
    email: Option<String>,
    /// Minutes (60), or with a unit: 90m, 24h, 7d (asked for when absent).
    duration: Option<String>,
    /// Why (kept with the ban, shown by list-bans, not to the user).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct UnbanArgs {
    /// The user's email or username.
    email: String,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// table or json.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

pub async fn ban(core: &Core, args: BanArgs) -> anyhow::Result<()> {
    let login = match args.email {
        Some(e) => e,
        None => {
            require_terminal("the email", "give it as an argument: roster ban-user EMAIL DURATION")?;
            ask("Email: ")?
        }
    };
    let duration = match args.duration {
        Some(d) => d,
        None => {
            require_terminal("the duration", "give it as an argument: roster ban-user EMAIL DURATION")?;
            ask("Duration (in minutes, or 90m, 24h, 7d): ")?
        }
    };
    let duration = parse_duration("duration", &duration)
        .map_err(|_| anyhow::anyhow!("invalid duration {duration:?}: use minutes (60) or 90m, 24h, 7d"))?;
    let user = find_user(core, &login).await?;
    println!("Found user: {}", describe(&user));
    let banned = core
        .ban_user(core.operator(), user.id, duration, args.reason.as_deref())
        .await
        .map_err(|e| match e {
            roster_core::Error::LastAdmin => {
                anyhow::anyhow!(
                    "{} is the last active administrator who is not banned; ban refused",
                    describe(&user)
                )
            }
            e => explain(e),
        })?;
    let until = banned.banned_until.map(rfc3339).unwrap_or_default();
    println!("User banned until {until}.");
    Ok(())
}

pub async fn unban(core: &Core, args: UnbanArgs) -> anyhow::Result<()> {
    let user = find_user(core, &args.email).await?;
    let was_banned = user.banned_at(core.clock.now()).is_some();
    core.unban_user(core.operator(), user.id).await.map_err(explain)?;
    if was_banned {
        println!("Ban lifted for {}.", describe(&user));
    } else {
        println!("{} was not banned.", describe(&user));
    }
    Ok(())
}

pub async fn list(core: &Core, args: ListArgs) -> anyhow::Result<()> {
    let bans = core.list_bans(core.operator()).await.map_err(explain)?;
    match args.format.as_str() {
        "json" => {
            let all: Vec<_> = bans.iter().map(user_json).collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
        _ => {
            for user in &bans {
                println!(
                    "{}  until {}  reason: {}",
                    describe(user),
                    user.banned_until.map(rfc3339).unwrap_or_default(),
                    user.ban_reason.as_deref().unwrap_or("-")
                );
            }
            println!("Active bans: {}", bans.len());
        }
    }
    Ok(())
}
