//! The `roster` binary: `roster serve` runs the server; other subcommands administer the
//! same database through the same core services.

mod admin;
mod config;
mod healthcheck;
mod limits;
mod observe;
mod serve;
mod webhooks;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

const EXIT_CODES: &str = "Exit codes: 0 success, 1 failure (one line on standard error), 2 usage error \
(including a prompt needed without a terminal).";

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version,
    about = "User management for AI chat platforms",
    after_help = "The admin commands work on the database `roster serve` uses (same --config, --data-dir, \
                  --database and ROSTER_* settings), also while the server runs: every change is seen by \
                  the server at once.\n\nExit codes: 0 success, 1 failure, 2 usage error."
)]
struct Cli {
    /// TOML configuration file (settings: see docs/configuration.md).
    #[arg(long, global = true, env = "ROSTER_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [env: ROSTER_DATA_DIR] [default: roster-data]
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL, sqlite://PATH or postgres://... [env: ROSTER_DATABASE_URL]
    #[arg(long, global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server (SQLite in ./roster-data by default).
    Serve {
        /// Address to listen on [env: ROSTER_LISTEN] [default: 127.0.0.1:8480]
        #[arg(long)]
        listen: Option<String>,
    },
    /// Shows or checks the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Asks the running server's GET /readyz; exits 0 only if it answers 200 (for container
    /// health checks).
    #[command(after_help = EXIT_CODES)]
    Healthcheck(healthcheck::Args),
    /// Checks what the server needs: the database and its migrations, the secret key, SMTP,
    /// Redis and the clock, one verdict a line.
    #[command(
        long_about = "Checks the configuration, then the database (reachable; migrations applied, none \
                      pending or unknown), the secret key (its format; on a migrated database, that it is the \
                      database's), SMTP (connect and EHLO, when smtp_url is set), Redis (PING, when redis_url is \
                      set) and the clock (after 2024; on PostgreSQL within 5 s of the server's). One line per \
                      check: `ok` or `FAIL`, what, and why. Changes nothing (the SQLite file is opened read-only \
                      and never created). Exits 1 if any check fails.",
        after_help = EXIT_CODES
    )]
    Doctor,
    /// Creates a user. Without EMAIL NAME USERNAME, asks for them (on a terminal).
    #[command(
        long_about = "Creates a user, as an administrator would through the API (same validation; the \
                      first account ever becomes admin).\n\nWith no arguments on a terminal it asks: Email, \
                      Name (default: the email's local part), Username (default: the same), Password (hidden; \
                      leave blank to generate a strong one, printed once) and Email verified? (Y/n). A \
                      password given as an argument works but prints a warning: it is visible to other \
                      users of the machine; scripts use --password-stdin or --generate-password. With \
                      --email-verified=false the address gets a verification link (LibreChat's, under \
                      librechat_prefix): mailed when SMTP is configured, else printed.",
        after_help = EXIT_CODES
    )]
    CreateUser(admin::create::Args),
    /// Creates a single-use invitation and prints its registration link.
    #[command(
        long_about = "Creates a single-use invitation for EMAIL with a role, valid for --expires. The \
                      registration link ({public_url}/register?token=...) is mailed when smtp_url is set, \
                      and always printed, for you to pass on. Registering with it (POST /v1/auth/register \
                      with invite_token) works even when self-registration is off, needs the invited \
                      email, and gives the invited role. An address that already has an account is refused.",
        after_help = EXIT_CODES
    )]
    InviteUser(admin::invite::Args),
    /// Lists users: id, email, username, name, provider, role, verified, active, banned until, created.
    #[command(after_help = EXIT_CODES)]
    ListUsers(admin::list::Args),
    /// Sets a user's password (asked twice, hidden) or prints a one-time reset link.
    #[command(
        long_about = "Sets a user's password. On a terminal it asks for the email (unless given) and the new \
                      password twice, hidden, asking again while it is too short or the two differ. \
                      --password-stdin reads it from standard input instead; --link sets nothing and \
                      prints a single-use reset link ({public_url}/reset-password?token=..., used with \
                      POST /v1/auth/reset-password). A reset ends every session of the user; API keys stay \
                      unless --revoke-keys is given (a reset link, once used, deletes them too).",
        after_help = EXIT_CODES
    )]
    ResetPassword(admin::password::Args),
    /// Bans a user for DURATION (minutes, or 90m, 24h, 7d): no login, no request.
    #[command(
        long_about = "Bans a user until now + DURATION. DURATION is in minutes (60), or has a unit: s, m, h, \
                      d, w (90m, 24h, 7d). While banned, login, refresh and every request with a session \
                      or an API key are refused (403, code `banned`, with the ban's end), on every \
                      instance; the ban ends by itself. Banning again replaces the ban. The last active \
                      administrator who is not banned cannot be banned.",
        after_help = EXIT_CODES
    )]
    BanUser(admin::bans::BanArgs),
    /// Lifts a user's ban.
    #[command(after_help = EXIT_CODES)]
    UnbanUser(admin::bans::UnbanArgs),
    /// Lists the bans in force, with their reason and end.
    #[command(after_help = EXIT_CODES)]
    ListBans(admin::bans::ListArgs),
    /// Deletes a user and everything it owns, after confirmation.
    #[command(
        long_about = "Deletes a user and everything it owns in one transaction: sessions, refresh tokens, \
                      API keys, invitations and reset links, preferences and profile. Asks `Really delete \
                      user EMAIL (ID) and ALL their data? (y/N)` and whether to delete the transaction \
                      history too, unless --yes is given (then the history is deleted unless \
                      --keep-transactions). The transaction history is the credit ledger (balances); \
                      email verifications, terms acceptances and group memberships are always deleted. \
                      An unknown user is an \
                      error (exit 1). The last active administrator cannot be deleted.",
        after_help = EXIT_CODES
    )]
    DeleteUser(admin::delete::Args),
    /// Shows totals, sign-ups per day (30 days) and active users (24 h, 7 d, 30 d).
    #[command(after_help = EXIT_CODES)]
    UserStats(admin::stats::Args),
    /// Creates (or updates) users from a CSV or JSON-lines file.
    #[command(
        long_about = "Creates users from FILE (CSV with a header, or JSON lines; the columns are those \
                      export-users writes). Each record may carry a plaintext `password`, an existing \
                      `password_hash` (bcrypt or Argon2, kept and upgraded at the first login), or neither: \
                      then the account is created without a password and a single-use set-password link \
                      ({public_url}/reset-password?token=...) is printed for it. Records whose email or \
                      username exists are skipped, updated or failed (--on-conflict); a re-run of the same \
                      file changes nothing. A bad record is reported with its line number and does not stop \
                      the others. --dry-run reports what would happen to each record and writes nothing. \
                      Exits 1 if any record failed.",
        after_help = EXIT_CODES
    )]
    ImportUsers(admin::transfer::ImportArgs),
    /// Writes every user, without secrets, as JSON lines or CSV (for import-users).
    #[command(after_help = EXIT_CODES)]
    ExportUsers(admin::transfer::ExportArgs),
    /// Adds credits to a user's balance (a ledger adjustment; negative amounts take credits).
    #[command(
        long_about = "Adds AMOUNT credits to the user's balance as an administrator's adjustment in the \
                      credit ledger (the balance is the sum of the ledger; the start balance is granted \
                      first if the user never used it). 1,000,000 credits = $1. Prints the new balance.",
        after_help = EXIT_CODES
    )]
    AddBalance(admin::balance::Args),
    /// Sets a user's balance to an amount of credits (by a ledger adjustment).
    #[command(
        long_about = "Sets the user's balance to AMOUNT credits by adding the difference as an \
                      administrator's adjustment in the credit ledger; earlier transactions are kept.",
        after_help = EXIT_CODES
    )]
    SetBalance(admin::balance::Args),
    /// Shows a user's balance and auto-refill settings; sets the user's own with options.
    #[command(
        long_about = "Shows the user's balance and the auto-refill settings in effect (LibreChat's \
                      autoRefillEnabled, refillIntervalValue, refillIntervalUnit, refillAmount, lastRefill). \
                      --auto-refill, --refill-interval, --refill-unit and --refill-amount set the user's own \
                      value of each; `default` returns it to the deployment's setting (balance_* in the \
                      configuration).",
        after_help = EXIT_CODES
    )]
    Balance(admin::balance::ShowArgs),
    /// Gives, takes or lists a user's badges (shown on the Plexichat profile).
    #[command(
        long_about = "Manages the badges shown on a user's profile (the Plexichat dialect's `badges`): \
                      `roster badge add USER BADGE`, `roster badge remove USER BADGE`, `roster badge list USER`, \
                      USER being an email or username. A badge is 1 to 32 letters, digits, _ and - (stored \
                      lower-cased). The same rules as PUT|DELETE /v1/users/{id}/badges/{badge}.",
        after_help = EXIT_CODES
    )]
    Badge(admin::badges::Args),
    /// Manages tiers (named sets of limits, one the default) and users' tiers.
    #[command(
        long_about = "Manages tiers and users' tiers: `roster tier list`, `roster tier set NAME --limit \
                      NAME=NUMBER ... [--default]`, `roster tier delete NAME`, `roster tier assign USER TIER \
                      [--for 30d] [--note TEXT]`, `roster tier clear USER`, `roster tier show USER`, USER being \
                      an email or username. The same rules as /v1/tiers and /v1/users/{id}/tier.",
        after_help = EXIT_CODES
    )]
    Tier(admin::tiers::Args),
    /// Reads the audit trail, newest first: who did what to whom, when, from where.
    #[command(
        long_about = "Prints the audit trail, newest first: every administrative action (user created, \
                      updated, role changed, banned, unbanned, deleted, sessions revoked, permission \
                      template changed, import) and security event (login success and failure, password \
                      change, API key created or revoked), with the actor, the target, the time and the \
                      client address. Filters: --actor and --target (a user id, email or username), \
                      --action, --since and --until (RFC 3339). Actions of the command line have no actor \
                      (-). --json prints one JSON object per line.",
        after_help = EXIT_CODES
    )]
    Audit(admin::audit::Args),
    /// Manages webhook subscriptions and their delivery log.
    #[command(
        subcommand,
        long_about = "Webhook subscriptions: `add URL` (prints the id and the signing secret, shown once; \
                      --events TYPES, --required-for-deletion, --secret-stdin), `list`, `remove ID`, \
                      `deliveries` (the delivery log: status, attempts, last status code and error) and \
                      `replay ID... | --failed`. `roster serve` delivers; these commands only change and show \
                      the database.",
        after_help = EXIT_CODES
    )]
    Webhooks(admin::webhooks::Command),
    /// Pushes users and groups to SCIM 2.0 providers (Open WebUI): targets, deliveries, sync.
    #[command(
        subcommand,
        long_about = "SCIM push: `targets add NAME --url BASE --token-stdin [--groups] \
                      [--deactivate-on-delete]`, `targets list`, `targets remove NAME`, `deliveries NAME \
                      [--failed]`, `replay NAME ID... | --failed` and `sync NAME [--dry-run]`. `roster serve` \
                      pushes; `sync` compares and fixes by talking to the target. See docs/scim-push.md.",
        after_help = EXIT_CODES
    )]
    Scim(admin::scim::Command),
    /// Manages OpenID Connect relying parties (clients).
    #[command(
        subcommand,
        long_about = "OpenID Connect clients: `add CLIENT_ID --redirect-uri URI...` (prints the generated \
                      secret once; --public for a PKCE-only client, --secret-stdin to give it, \
                      --first-party to skip consent, --audience, --backchannel-logout-uri, \
                      --post-logout-redirect-uri), `list`, `show`, `update`, `remove` and \
                      `rotate-secret`. The same rules as /v1/clients.",
        after_help = EXIT_CODES
    )]
    Clients(admin::clients::Command),
    /// Rotates the OpenID Connect signing keys.
    #[command(subcommand, after_help = EXIT_CODES)]
    Keys(admin::clients::KeysCommand),
    /// Shows user deletions waiting for required webhook receivers (which are late).
    #[command(after_help = EXIT_CODES)]
    Deletions(admin::webhooks::DeletionsArgs),
    /// Makes groups, the permission template, webhooks and OpenID Connect clients match a file.
    #[command(
        long_about = "Makes the objects FILE declares (TOML, or YAML for .yaml/.yml) match it: the \
                      permission template (permission_templates), groups (with their members by email or \
                      username), webhook subscriptions (webhooks, named by URL) and OpenID Connect clients \
                      (clients, by client_id). Every entry is checked before anything changes; an error \
                      names the file, the entry and the field. Prints one line per object created, updated \
                      (with the fields) or deleted; a second run changes nothing and says so. --dry-run \
                      prints the same and changes nothing. Objects of a kind the file has a section for but \
                      does not name are listed and kept, or removed with --prune. Secrets may be \
                      `env:NAME` or `file:PATH`; they are never printed. See docs/operations.md.",
        after_help = EXIT_CODES
    )]
    Apply(admin::apply::Args),
    /// Moves users in from Open WebUI, Langflow or LibreChat (their passwords keep working).
    #[command(
        long_about = "Imports the users of an Open WebUI or Langflow database (a SQLite file or a \
                      postgres:// URL, opened read-only) or of LibreChat's mongoexport files (users, \
                      balances, transactions; JSON lines or --jsonArray), with their password hashes \
                      (upgraded to Argon2id at each user's first login), roles, settings, profile images, \
                      groups, permissions, API keys and balances. Source ids are kept as external \
                      references: a second run updates the accounts it created instead of duplicating \
                      them. An email or username held by another account follows --on-conflict. \
                      --dry-run prints what would be created, updated and skipped, and writes nothing. A \
                      failed record is reported with its source id and does not stop the others; exits 1 \
                      if any failed.",
        after_help = EXIT_CODES
    )]
    Migrate(admin::migrate::Args),
    /// Writes a consistent copy of the database to FILE, also while the server runs.
    #[command(
        long_about = "Writes a consistent copy of the database to FILE (which must not exist), also while \
                      the server runs and writes. SQLite: a copy of the database file (VACUUM INTO). \
                      PostgreSQL: a dump of every table (gzip-compressed JSON lines) read in one REPEATABLE \
                      READ transaction. Sealed secrets (two-factor, OIDC keys) stay sealed: keep the \
                      secret_key with the backup. Prints the rows per table.",
        after_help = EXIT_CODES
    )]
    Backup(admin::backup::BackupArgs),
    /// Loads a backup into an empty database (migrated first).
    #[command(
        long_about = "Loads FILE (a SQLite file or a dump `roster backup` wrote) into the configured \
                      database, which must be empty: it is created and migrated first, then every table is \
                      loaded in one transaction (nothing is written if anything fails). Refuses a database \
                      that has data, naming a table that has rows, and a backup made by a Roster with other \
                      migrations. A SQLite backup can be restored into PostgreSQL and a dump into SQLite.",
        after_help = EXIT_CODES
    )]
    Restore(admin::backup::RestoreArgs),
    /// Copies every table from one database to another (SQLite to PostgreSQL and back).
    #[command(
        long_about = "Copies every row of every table of --from (read in one snapshot, never changed) into \
                      --to, which must be empty (created and migrated first; loaded in one transaction): \
                      users, password hashes, sessions, API keys, groups, two-factor (sealed secrets stay \
                      sealed: use the same secret_key), ledger, audit, outbox, webhooks, OpenID Connect \
                      clients, keys and grants. PostgreSQL's sequences are set past the copied rows. The \
                      configured database is not used.",
        after_help = EXIT_CODES
    )]
    Copy(admin::backup::CopyArgs),
    /// Deletes what retention no longer keeps (--dry-run: counts it), in batches.
    #[command(
        long_about = "Deletes, in batches of purge_batch_size (each its own short transaction, so servers \
                      keep writing), audit entries older than audit_retention_days, outbox events no receiver \
                      is owed older than outbox_retention_days, delivered webhook deliveries and back-channel \
                      logouts older than delivery_retention_days, and expired sessions (with their refresh \
                      tokens), reset and invitation links, verification links, email-change requests, \
                      two-factor challenges and OpenID Connect codes and grants. Prints the rows per kind. \
                      --dry-run prints what would go and deletes nothing. `roster serve` does the same every \
                      purge_interval_minutes.",
        after_help = EXIT_CODES
    )]
    Purge(admin::purge::Args),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Prints every setting's effective value and where it came from, then checks them all.
    #[command(
        long_about = "Prints every setting as `name = value  # source`, the source being default, file \
                      (--config), environment (ROSTER_*) or flag, with secrets masked (secret_key, and the \
                      password in database_url, smtp_url and redis_url); then checks every value (URLs, \
                      prefixes, addresses, durations, the key's format). Prints `configuration OK`, or exits 1 \
                      with an error naming the bad setting. Opens nothing.",
        after_help = EXIT_CODES
    )]
    Check,
}

/// Caps glibc's allocation arenas at two per core, unless `MALLOC_ARENA_MAX` already says how
/// many. glibc gives each thread that allocates an arena of its own (up to eight per core) and
/// keeps what each once held: every SQLite connection runs on a thread of its own, and with
/// one arena each, their page caches and statements kept the server's memory 40 MiB higher
/// after a busy hour (bench/README.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let arenas = libc::c_int::try_from(cores.saturating_mul(2)).unwrap_or(libc::c_int::MAX);
    // SAFETY: `mallopt` only changes the allocator's settings, and runs before any other
    // thread exists; a value it refuses leaves glibc's default.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    cap_malloc_arenas();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let flags = config::FlagOverrides {
        listen: None,
        data_dir: cli.data_dir,
        database_url: cli.database,
    };
    let config_file = cli.config;
    let result = runtime.block_on(async move {
        if let Command::Serve { listen } = cli.command {
            let flags = config::FlagOverrides { listen, ..flags };
            let settings = config::Settings::load(config_file.as_deref(), flags)?;
            return serve::run(settings).await;
        }
        match cli.command {
            Command::Config(ConfigCommand::Check) => return config::check::config_check(config_file.as_deref(), flags),
            Command::Doctor => return config::check::doctor(config_file.as_deref(), flags).await,
            Command::Healthcheck(args) => {
                let settings = config::Settings::load(config_file.as_deref(), flags)?;
                return healthcheck::run(&settings.listen, args);
            }
            _ => {}
        }
        if let Command::Copy(args) = cli.command {
            init_command_logging();
            return admin::backup::copy(args).await;
        }
        let settings = config::Settings::load(config_file.as_deref(), flags)?;
        init_command_logging();
        match cli.command {
            Command::Backup(args) => return admin::backup::backup(&settings.database_url(), args).await,
            Command::Restore(args) => return admin::backup::restore(&settings.database_url(), args).await,
            _ => {}
        }
        let (store, core) = serve::build_core(&settings).await?;
        let outcome = match cli.command {
            Command::Serve { .. }
            | Command::Config(_)
            | Command::Doctor
            | Command::Healthcheck(_)
            | Command::Backup(_)
            | Command::Restore(_)
            | Command::Copy(_) => Ok(()),
            Command::CreateUser(args) => admin::create::run(&core, args).await,
            Command::InviteUser(args) => admin::invite::run(&core, &settings, args).await,
            Command::ListUsers(args) => admin::list::run(&core, args).await,
            Command::ResetPassword(args) => admin::password::run(&core, &settings, args).await,
            Command::BanUser(args) => admin::bans::ban(&core, args).await,
            Command::UnbanUser(args) => admin::bans::unban(&core, args).await,
            Command::ListBans(args) => admin::bans::list(&core, args).await,
            Command::DeleteUser(args) => admin::delete::run(&core, args).await,
            Command::UserStats(args) => admin::stats::run(&core, args).await,
            Command::ImportUsers(args) => admin::transfer::import(&core, &settings, args).await,
            Command::ExportUsers(args) => admin::transfer::export(&core, args).await,
            Command::AddBalance(args) => admin::balance::add(&core, args).await,
            Command::SetBalance(args) => admin::balance::set(&core, args).await,
            Command::Balance(args) => admin::balance::show(&core, args).await,
            Command::Badge(args) => admin::badges::run(&core, args).await,
            Command::Tier(args) => admin::tiers::run(&core, args).await,
            Command::Audit(args) => admin::audit::run(&core, args).await,
            Command::Webhooks(command) => admin::webhooks::run(&core, command).await,
            Command::Scim(command) => admin::scim::run(&core, &settings, command).await,
            Command::Deletions(args) => admin::webhooks::deletions(&core, args).await,
            Command::Clients(command) => admin::clients::run(&core, command).await,
            Command::Keys(command) => admin::clients::run_keys(&core, command).await,
            Command::Migrate(args) => admin::migrate::run(&core, args).await,
            Command::Purge(args) => admin::purge::run(&core, &settings.retention(), args).await,
            Command::Apply(args) => admin::apply::run(&core, args).await,
        };
        store.close().await;
        outcome
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<admin::UsageError>().is_some() => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Admin commands keep standard output and standard error for their own lines: logs only
/// when `RUST_LOG` asks for them.
fn init_command_logging() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn unused_format_is_rejected() {
        assert!(Cli::try_parse_from(["roster", "list-users", "--format", "xml"]).is_err());
    }
}
