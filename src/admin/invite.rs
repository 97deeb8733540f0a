//! `roster invite-user`.

use super::{ask, explain, require_terminal};
use crate::config::Settings;
use roster_core::service::{NewInvitation, parse_duration};
use roster_core::user::rfc3339;
use roster_core::{Core, Role};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to invite (asked for when absent).
    email: Option<String>,
    /// admin, user or pending [default: the default role].
    #[arg(long, value_name = "R")]
    role: Option<String>,
    /// How long the invitation stays valid: minutes, or 90m, 24h, 7d.
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    expires: String,
}

pub async fn run(core: &Core, settings: &Settings, args: Args) -> anyhow::Result<()> {
    let role = args.role.as_deref().map(Role::parse).transpose().map_err(explain)?;
    let expires_in = parse_duration("expires", &args.expires).map_err(explain)?;
    let email = match args.email {
        Some(e) => e,
        None => {
            require_terminal("the email", "give it as an argument: roster invite-user EMAIL")?;
            ask("Email: ")?
        }
    };
    let invitation = core
        .create_invitation(
            core.operator(),
            NewInvitation {
                email,
                role,
                expires_in,
            },
        )
        .await
        .map_err(|e| match e {
            roster_core::Error::Conflict { .. } => anyhow::anyhow!("a user with that email already exists"),
            e => explain(e),
        })?;
    println!(
        "Invitation created for {} (role {}), valid until {}.",
        invitation.email,
        invitation.role,
        rfc3339(invitation.expires_at)
    );
    let link = settings.link("register", &invitation.token);
    if core
        .mail_invitation(&invitation.email, &link, "Roster")
        .await
        .map_err(explain)?
    {
        println!("Invitation sent successfully to {}; the link:", invitation.email);
    } else {
        println!("No email service is configured; send this link to the user:");
    }
    println!("{link}");
    Ok(())
}
