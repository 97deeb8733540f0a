//! `roster badge add|remove|list`: the badges shown on a user's profile (the Plexichat
//! dialect's `badges`), through the same core service as `PUT|DELETE /v1/users/{id}/badges`.

use super::{describe, explain, find_user};
use roster_core::Core;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: BadgeCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BadgeCommand {
    /// Gives a user a badge (giving it again changes nothing).
    Add {
        /// The user's email or username.
        user: String,
        /// 1 to 32 letters, digits, _ and - (such as early_supporter).
        badge: String,
    },
    /// Takes a badge from a user.
    Remove {
        /// The user's email or username.
        user: String,
        /// The badge.
        badge: String,
    },
    /// Lists a user's badges, one a line, in the order they were given.
    List {
        /// The user's email or username.
        user: String,
    },
}

pub async fn run(core: &Core, args: Args) -> anyhow::Result<()> {
    match args.command {
        BadgeCommand::Add { user, badge } => {
            let user = find_user(core, &user).await?;
            let badges = core
                .add_badge(core.operator(), user.id, &badge)
                .await
                .map_err(explain)?;
            println!("{}: {}", describe(&user), badges.join(", "));
        }
        BadgeCommand::Remove { user, badge } => {
            let user = find_user(core, &user).await?;
            let badges = core
                .remove_badge(core.operator(), user.id, &badge)
                .await
                .map_err(|e| match e {
                    roster_core::Error::NotFound("badge") => {
                        anyhow::anyhow!("{} has no badge {:?}", describe(&user), badge.trim())
                    }
                    e => explain(e),
                })?;
            println!("{}: {}", describe(&user), badges.join(", "));
        }
        BadgeCommand::List { user } => {
            let user = find_user(core, &user).await?;
            for badge in core.badges_of(user.id).await.map_err(explain)? {
                println!("{badge}");
            }
        }
    }
    Ok(())
}
