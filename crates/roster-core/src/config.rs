//! The settings the core's rules depend on.

use crate::user::Role;
use time::Duration;

/// Rule settings, with defaults that work on a laptop.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Shortest accepted password, in characters.
    pub min_password_length: usize,
    /// Role given to accounts after the first.
    pub default_role: Role,
    /// Whether anyone may register.
    pub allow_registration: bool,
    /// Whether the native registration hides whether an email is taken (see
    /// [`crate::service::Core::register_quietly`]).
    pub quiet_registration: bool,
    /// Lifetime of an access token.
    pub access_token_ttl: Duration,
    /// Lifetime of a session's refresh chain.
    pub refresh_token_ttl: Duration,
    /// Snowflake node id of this instance.
    pub node_id: u16,
    /// Threads that hash passwords (at lowered priority).
    pub hash_concurrency: usize,
    /// Whether accounts whose email is not verified may sign in.
    pub allow_unverified_email_login: bool,
    /// Whether users may delete their own account (never an administrator's:
    /// no administrator deletes themself).
    pub allow_account_deletion: bool,
    /// Lifetime of an email verification link.
    pub verification_token_ttl: Duration,
    /// Verification emails one client address may ask for per window (0: unlimited).
    pub verification_resend_max: u32,
    /// The window of `verification_resend_max`.
    pub verification_resend_window: Duration,
    /// The version of the terms of service in force; users must accept it again when it changes.
    pub terms_version: String,
    /// Credits granted to every user on first use of the balance.
    pub start_balance: i64,
    /// The default auto-refill settings (LibreChat's `balance` section); users may have their own.
    pub balance_refill: crate::service::RefillSettings,
    /// `smtp://[user:pass@]host:port` or `smtps://...`; None: no mail is sent (and no link logged).
    pub smtp_url: Option<String>,
    /// The From address of mail.
    pub mail_from: String,
    /// Where users reach Roster: the base of links in mail.
    pub public_url: String,
    /// Where avatars are stored.
    pub avatar_dir: std::path::PathBuf,
    /// Largest avatar upload, in bytes.
    pub avatar_max_bytes: usize,
    /// How many avatar uploads are decoded at once (each may take up to
    /// [`crate::service::AVATAR_DECODE_BUDGET`] of memory); more wait their turn.
    pub avatar_concurrency: usize,
    /// The most users a SCIM list may filter or sort in memory (a filter or sort no index
    /// serves); past it the list is refused with SCIM's `tooMany`.
    pub scim_max_scanned_users: usize,
    /// How often a user's `last_active_at` is written at most (zero: on every request).
    pub activity_interval: Duration,
    /// The key that seals secrets at rest (see [`crate::secret`]). None: a random key for this
    /// process only, and no check against the database (tests and embedders).
    pub secret_key: Option<crate::secret::SecretKey>,
    /// The issuer named in TOTP enrolment URIs (what authenticator apps show).
    pub two_factor_issuer: String,
    /// Rate limits, login throttling and where their counters live.
    pub limits: crate::limit::LimitSettings,
    /// Where the `features.api_keys` permission gates API keys (see
    /// [`crate::service::ApiKeyGate`]).
    pub api_key_gate: crate::service::ApiKeyGate,
    /// Where the primary administrator must keep its administrator role (see
    /// [`crate::service::PrimaryAdminRole`]).
    pub primary_admin_role: crate::service::PrimaryAdminRole,
    /// Whether webhooks may go to private, loopback and link-local addresses (receivers on
    /// the same host or network); off, they may go to public addresses only.
    pub webhook_allow_private_networks: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            min_password_length: 8,
            default_role: Role::User,
            allow_registration: true,
            quiet_registration: false,
            access_token_ttl: Duration::minutes(15),
            refresh_token_ttl: Duration::days(30),
            node_id: 0,
            hash_concurrency: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            allow_unverified_email_login: true,
            allow_account_deletion: true,
            verification_token_ttl: Duration::minutes(15),
            verification_resend_max: 2,
            verification_resend_window: Duration::minutes(2),
            terms_version: "1.0".into(),
            start_balance: 0,
            balance_refill: crate::service::RefillSettings::default(),
            smtp_url: None,
            mail_from: "Roster <roster@localhost>".into(),
            public_url: "http://127.0.0.1:8480".into(),
            avatar_dir: std::path::PathBuf::from("roster-data/avatars"),
            avatar_max_bytes: 5 * 1024 * 1024,
            avatar_concurrency: 1,
            scim_max_scanned_users: 10_000,
            activity_interval: Duration::seconds(60),
            secret_key: None,
            two_factor_issuer: "Roster".into(),
            limits: crate::limit::LimitSettings::default(),
            api_key_gate: crate::service::ApiKeyGate::OpenWebUi,
            primary_admin_role: crate::service::PrimaryAdminRole::OpenWebUi,
            webhook_allow_private_networks: false,
        }
    }
}
