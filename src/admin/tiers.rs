//! `roster tier ...`: tiers (named sets of limits, one the default) and users' tier
//! assignments, through the same core services as `/v1/tiers` and `/v1/users/{id}/tier`.

use super::{describe, explain, find_user};
use roster_core::Core;
use roster_core::service::{TierChange, parse_duration};
use roster_core::tier::{Tier, TierLimits, UserTier};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TierCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TierCommand {
    /// Lists the tiers, one a line: name, `default` for the default tier, the limits.
    List,
    /// Creates or changes a tier.
    Set {
        /// 1 to 50 letters, digits, _ and - (such as premium).
        name: String,
        /// A limit, NAME=NUMBER (repeat it); given, they replace the tier's limits (a new
        /// tier needs at least one).
        #[arg(long = "limit", value_name = "NAME=NUMBER")]
        limits: Vec<String>,
        /// Makes this the default tier, the tier of every user without a current assignment.
        #[arg(long)]
        default: bool,
    },
    /// Deletes a tier (not the default); its users are back on the default.
    Delete {
        /// The tier's name.
        name: String,
    },
    /// Gives a user a tier (replacing any assignment).
    Assign {
        /// The user's email or username.
        user: String,
        /// The tier's name.
        tier: String,
        /// How long it holds (such as 30d, 12h); without it, until changed.
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
        /// A note for administrators.
        #[arg(long)]
        note: Option<String>,
    },
    /// Ends a user's assignment: the default tier applies.
    Clear {
        /// The user's email or username.
        user: String,
    },
    /// Shows the tier that applies to a user.
    Show {
        /// The user's email or username.
        user: String,
    },
}

fn parse_limits(raw: &[String]) -> anyhow::Result<TierLimits> {
    let mut limits = TierLimits::new();
    for item in raw {
        let Some((name, value)) = item.split_once('=') else {
            anyhow::bail!("--limit {item:?}: expected NAME=NUMBER, such as max_servers=100");
        };
        let number: serde_json::Number = serde_json::from_str(value.trim())
            .map_err(|_| anyhow::anyhow!("--limit {item:?}: {:?} is not a number", value.trim()))?;
        limits.insert(name.trim().to_string(), number);
    }
    Ok(limits)
}

fn show_tier(tier: &Tier) -> String {
    let limits = serde_json::to_string(&tier.limits).unwrap_or_default();
    let default = if tier.is_default { "  default" } else { "" };
    format!("{}{default}  {limits}", tier.name)
}

fn show_user_tier(user: &roster_core::User, tier: &UserTier) -> String {
    let mut line = format!("{}: {}", describe(user), tier.tier.name);
    match tier.assignment.as_ref().filter(|_| tier.assigned) {
        Some(a) => {
            if let Some(end) = a.expires_at {
                line.push_str(&format!(" until {}", roster_core::user::rfc3339(end)));
            }
            if let Some(note) = &a.notes {
                line.push_str(&format!(" ({note})"));
            }
        }
        None => line.push_str(" (the default)"),
    }
    line
}

pub async fn run(core: &Core, args: Args) -> anyhow::Result<()> {
    let op = core.operator();
    match args.command {
        TierCommand::List => {
            for tier in core.list_tiers(op).await.map_err(explain)? {
                println!("{}", show_tier(&tier));
            }
        }
        TierCommand::Set { name, limits, default } => {
            let limits = if limits.is_empty() {
                None
            } else {
                Some(parse_limits(&limits)?)
            };
            let tier = core.put_tier(op, &name, limits, default).await.map_err(|e| match e {
                roster_core::Error::NotFound("tier") => {
                    anyhow::anyhow!(
                        "no tier {:?}: a new tier needs its limits (--limit NAME=NUMBER)",
                        name.trim()
                    )
                }
                e => explain(e),
            })?;
            println!("{}", show_tier(&tier));
        }
        TierCommand::Delete { name } => {
            core.delete_tier(op, &name).await.map_err(explain)?;
            println!("deleted tier {}", name.trim());
        }
        TierCommand::Assign {
            user,
            tier,
            duration,
            note,
        } => {
            let user = find_user(core, &user).await?;
            let expires_at = duration
                .map(|d| parse_duration("for", &d).map(|d| core.clock.now() + d))
                .transpose()
                .map_err(explain)?;
            let change = TierChange {
                tier: Some(tier),
                expires_at: Some(expires_at),
                notes: Some(note),
            };
            let tier = core.assign_tier(op, user.id, change).await.map_err(explain)?;
            println!("{}", show_user_tier(&user, &tier));
        }
        TierCommand::Clear { user } => {
            let user = find_user(core, &user).await?;
            let tier = core.clear_user_tier(op, user.id).await.map_err(explain)?;
            println!("{}", show_user_tier(&user, &tier));
        }
        TierCommand::Show { user } => {
            let user = find_user(core, &user).await?;
            let tier = core.user_tier(op, user.id).await.map_err(explain)?;
            println!("{}", show_user_tier(&user, &tier));
        }
    }
    Ok(())
}
