//! The admin commands: thin. Each parses its arguments, asks what it must ask (on a terminal
//! only), calls the core services the HTTP API calls, and prints. Every rule is the core's.

pub mod apply;
pub mod audit;
pub mod backup;
pub mod badges;
pub mod balance;
pub mod bans;
pub mod clients;
pub mod create;
pub mod delete;
pub mod invite;
pub mod list;
pub mod migrate;
pub mod password;
pub mod purge;
pub mod scim;
pub mod stats;
pub mod tiers;
pub mod transfer;
pub mod webhooks;

use anyhow::Context;
use roster_core::user::rfc3339;
use roster_core::{Core, Error, User};
use std::io::{BufRead, IsTerminal, Write};

/// A usage error: exit code 2 (the code clap uses for its own).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Fails with a usage error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// Whether prompts can be answered: standard input is a terminal.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Fails with a usage error naming `instead` unless a terminal can answer a prompt.
pub fn require_terminal(what: &str, instead: &str) -> anyhow::Result<()> {
    if interactive() {
        Ok(())
    } else {
        Err(usage(format!("no terminal to ask for {what}: {instead}")))
    }
}

/// Asks on standard error and reads one line from standard input (without its newline).
pub fn ask(prompt: &str) -> anyhow::Result<String> {
    let mut stderr = std::io::stderr();
    write!(stderr, "{prompt}")?;
    stderr.flush()?;
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line)?;
    if read == 0 {
        anyhow::bail!("no answer (end of input)");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Asks without echoing the answer (read from the terminal).
pub fn ask_hidden(prompt: &str) -> anyhow::Result<String> {
    rpassword::prompt_password(prompt).context("reading a password from the terminal")
}

/// Asks a yes/no question; an empty answer is `default`.
pub fn ask_yes_no(prompt: &str, default: bool) -> anyhow::Result<bool> {
    loop {
        let answer = ask(prompt)?;
        match answer.trim().to_ascii_lowercase().as_str() {
            "" => return Ok(default),
            "y" | "yes" => return Ok(true),
            "n" | "no" => return Ok(false),
            _ => eprintln!("Please answer y or n."),
        }
    }
}

/// Reads a password from standard input (`--password-stdin`): everything up to the first
/// newline.
pub fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err(usage("--password-stdin: standard input held no password"));
    }
    Ok(password)
}

/// A core error as one line for an operator: internal errors show their cause.
pub fn explain(error: Error) -> anyhow::Error {
    match error {
        Error::Internal(source) => source.context("internal error"),
        other => anyhow::Error::new(other),
    }
}

/// Finds a user by email or username, with a message naming what was looked for.
pub async fn find_user(core: &Core, login: &str) -> anyhow::Result<User> {
    match core.find_user(core.operator(), login).await {
        Ok(user) => Ok(user),
        Err(Error::NotFound(_)) => anyhow::bail!("no user with the email or username {:?}", login.trim()),
        Err(e) => Err(explain(e)),
    }
}

/// How a user is named in messages: `email (id)`.
pub fn describe(user: &User) -> String {
    let login = user.email.as_deref().or(user.username.as_deref()).unwrap_or("?");
    format!("{login} ({})", user.id)
}

/// Every field of a user but the password hash, as JSON (list-users --format json).
pub fn user_json(user: &User) -> serde_json::Value {
    let time = |t: Option<roster_core::time::OffsetDateTime>| t.map(rfc3339);
    serde_json::json!({
        "id": user.id.to_string(),
        "email": user.email,
        "email_verified": user.email_verified,
        "username": user.username,
        "name": user.name,
        "role": user.role.as_str(),
        "active": user.active,
        "provider": user.provider,
        "has_password": user.password_hash.is_some(),
        "avatar_url": user.avatar,
        "bio": user.bio,
        "timezone": user.timezone,
        "terms_version": user.terms_version,
        "terms_accepted_at": time(user.terms_accepted_at),
        "preferences": user.preferences,
        "created_at": rfc3339(user.created_at),
        "updated_at": rfc3339(user.updated_at),
        "last_login_at": time(user.last_login_at),
        "last_active_at": time(user.last_active_at),
        "banned_until": time(user.banned_until),
        "ban_reason": user.ban_reason,
    })
}

/// Output formats of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}
