//! `roster reset-password`.

use super::{ask, ask_hidden, describe, explain, find_user, interactive, password_from_stdin, require_terminal, usage};
use crate::config::Settings;
use roster_core::Core;
use roster_core::password::validate_password;
use roster_core::service::parse_duration;
use roster_core::user::rfc3339;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user's email or username (asked for when absent).
    email: Option<String>,
    /// Reads the new password from the first line of standard input.
    #[arg(long, conflicts_with = "link")]
    password_stdin: bool,
    /// Sets nothing; prints a single-use link with which the user sets a new password.
    #[arg(long)]
    link: bool,
    /// How long the --link stays valid: minutes, or 90m, 24h, 7d.
    #[arg(long, value_name = "DURATION", default_value = "24h", requires = "link")]
    expires: String,
    /// Also deletes every API key of the user.
    #[arg(long, conflicts_with = "link")]
    revoke_keys: bool,
}

pub async fn run(core: &Core, settings: &Settings, args: Args) -> anyhow::Result<()> {
    let login = match args.email {
        Some(e) => e,
        None => {
            require_terminal(
                "the email",
                "give it as an argument: roster reset-password EMAIL --password-stdin",
            )?;
            ask("Enter user email: ")?
        }
    };
    let user = find_user(core, &login).await?;
    if args.link {
        let expires_in = parse_duration("expires", &args.expires).map_err(explain)?;
        let link = core
            .create_password_reset(core.operator(), user.id, expires_in)
            .await
            .map_err(explain)?;
        println!(
            "Password reset link for {}, valid until {}:",
            describe(&user),
            rfc3339(link.expires_at)
        );
        println!("{}", settings.link("reset-password", &link.token));
        return Ok(());
    }
    let password = if args.password_stdin {
        password_from_stdin()?
    } else if interactive() {
        let min = core.config.min_password_length;
        loop {
            let first = ask_hidden("Enter new password: ")?;
            if let Err(e) = validate_password("password", &first, min) {
                match e {
                    roster_core::Error::Invalid { reason, .. } if first.chars().count() < min => {
                        let _ = reason;
                        eprintln!("Password must be at least {min} characters! Please try again.");
                    }
                    other => eprintln!("{other}! Please try again."),
                }
                continue;
            }
            let second = ask_hidden("Confirm new password: ")?;
            if first != second {
                eprintln!("Passwords do not match! Please try again.");
                continue;
            }
            break first;
        }
    } else {
        return Err(usage(
            "no terminal to ask for the new password: use --password-stdin, or --link for a reset link",
        ));
    };
    let done = core
        .reset_password(core.operator(), user.id, &password, args.revoke_keys)
        .await
        .map_err(explain)?;
    println!("Password successfully reset!");
    println!(
        "{} session(s) ended{}.",
        done.sessions_revoked,
        if args.revoke_keys {
            format!(", {} API key(s) deleted", done.api_keys_revoked)
        } else {
            String::new()
        }
    );
    Ok(())
}
