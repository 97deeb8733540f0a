//! `roster create-user`.

use super::{ask, ask_hidden, ask_yes_no, explain, interactive, password_from_stdin, usage};
use roster_core::service::NewUser;
use roster_core::{Core, Role};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Email address (asked for when absent).
    email: Option<String>,
    /// Display name (asked for; default: the email's local part).
    name: Option<String>,
    /// Username (asked for; default: the email's local part).
    username: Option<String>,
    /// Password: visible to other users of this machine, prefer --password-stdin.
    password: Option<String>,
    /// Whether the email counts as verified [default: true]; false mails a verification link
    /// (LibreChat's, under librechat_prefix) when SMTP is configured, else prints it.
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    email_verified: Option<bool>,
    /// Sign-in provider recorded for the account [default: local].
    #[arg(long, value_name = "P")]
    provider: Option<String>,
    /// admin, user or pending [default: the default role; the first account is admin].
    #[arg(long, value_name = "R")]
    role: Option<String>,
    /// Reads the password from the first line of standard input.
    #[arg(long, conflicts_with_all = ["password", "generate_password"])]
    password_stdin: bool,
    /// Generates a strong password and prints it once.
    #[arg(long, conflicts_with = "password")]
    generate_password: bool,
}

fn local_part(email: &str) -> String {
    email.split('@').next().unwrap_or_default().trim().to_string()
}

pub async fn run(core: &Core, args: Args) -> anyhow::Result<()> {
    let role = args.role.as_deref().map(Role::parse).transpose().map_err(explain)?;
    let prompting = args.username.is_none();
    if prompting {
        if !interactive() {
            return Err(usage(
                "no terminal to ask for the new user's details: give them as arguments, \
                 e.g. roster create-user EMAIL NAME USERNAME --password-stdin",
            ));
        }
        eprintln!("Create a new user account!");
    }
    let email = match args.email {
        Some(e) => e,
        None => ask("Email: ")?,
    };
    if !email.contains('@') {
        anyhow::bail!("invalid email address {:?}", email.trim());
    }
    let local = local_part(&email);
    let name = match args.name {
        Some(n) => n,
        None => Some(ask(&format!("Name: (default is: {local}) "))?)
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| local.clone()),
    };
    let username = match args.username {
        Some(u) => u,
        None => Some(ask(&format!("Username: (default is: {local}) "))?)
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| local.clone()),
    };
    let mut generated = false;
    let password = if let Some(p) = args.password {
        eprintln!(
            "warning: a password passed as an argument is visible to other users of this machine; use --password-stdin"
        );
        p
    } else if args.password_stdin {
        password_from_stdin()?
    } else if args.generate_password {
        generated = true;
        roster_core::token::random_secret()
    } else if interactive() {
        let p = ask_hidden("Password: (leave blank, to generate one) ")?;
        if p.is_empty() {
            generated = true;
            roster_core::token::random_secret()
        } else {
            p
        }
    } else {
        return Err(usage(
            "no terminal to ask for the password: use --password-stdin or --generate-password",
        ));
    };
    let email_verified = match args.email_verified {
        Some(v) => v,
        None if prompting => ask_yes_no("Email verified? (Y/n, default is Y): ", true)?,
        None => true,
    };
    let user = core
        .create_user(
            core.operator(),
            NewUser {
                email: Some(email),
                username: Some(username),
                name: Some(name),
                password: Some(password.clone()),
                role,
                active: None,
                email_verified,
                provider: args.provider,
            },
        )
        .await
        .map_err(explain)?;
    println!("User created successfully!");
    println!("ID: {}", user.id);
    println!("Email: {}", user.email.as_deref().unwrap_or("-"));
    println!("Username: {}", user.username.as_deref().unwrap_or("-"));
    println!("Role: {}", user.role);
    println!("Email verified: {}", user.email_verified);
    if generated {
        println!("Your password is: {password}");
    }
    if !user.email_verified {
        // As LibreChat's script (its registerUser): an unverified address gets a verification
        // mail when an email service is configured. The link leads to Roster's own
        // verification page, which asks to confirm before it uses the link.
        let sent = core
            .send_verification(&user, roster_http::pages::VERIFY_EMAIL_PATH)
            .await;
        match sent {
            Ok(_) if core.mail_enabled() => {
                println!("Verification email sent to {}.", user.email.as_deref().unwrap_or("-"));
            }
            Ok(link) => {
                println!("No email service is configured; send this verification link to the user:");
                println!("{link}");
            }
            Err(e) => {
                return Err(explain(e).context(
                    "the user was created, but the verification email could not be sent \
                     (the user can ask for another link from the sign-in page)",
                ));
            }
        }
    }
    Ok(())
}
