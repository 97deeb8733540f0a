//! `roster delete-user`.

use super::{ask, ask_yes_no, describe, explain, find_user, require_terminal};
use roster_core::Core;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user's email or username (asked for when absent).
    email: Option<String>,
    /// Deletes without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Keeps the user's transaction history (without asking).
    #[arg(long)]
    keep_transactions: bool,
}

pub async fn run(core: &Core, args: Args) -> anyhow::Result<()> {
    let login = match args.email {
        Some(e) => e,
        None => {
            require_terminal("the email", "give it as an argument: roster delete-user EMAIL --yes")?;
            eprintln!("Deleting a user and all related data");
            ask("Email: ")?
        }
    };
    let user = find_user(core, &login).await?;
    let login = user.email.clone().or(user.username.clone()).unwrap_or_default();
    let mut keep_transactions = args.keep_transactions;
    if !args.yes {
        require_terminal("confirmation", "add --yes to delete without asking")?;
        let question = format!("Really delete user {login} ({}) and ALL their data? (y/N) ", user.id);
        if !ask_yes_no(&question, false)? {
            println!("Aborted.");
            return Ok(());
        }
        if !keep_transactions {
            keep_transactions = !ask_yes_no("Also delete all transaction history for this user? (y/N) ", false)?;
        }
    }
    let deleted = if keep_transactions {
        core.delete_user_keeping_transactions(core.operator(), user.id).await
    } else {
        core.delete_user(core.operator(), user.id).await
    };
    deleted.map_err(|e| match e {
        roster_core::Error::LastAdmin => {
            anyhow::anyhow!("{} is the last active administrator; delete refused", describe(&user))
        }
        e => explain(e),
    })?;
    println!("Successfully deleted user {login} and all associated data.");
    if keep_transactions {
        println!("Transaction history was retained.");
    }
    Ok(())
}
