//! Settings: built-in defaults, then a TOML file (`--config`), then `ROSTER_*` environment
//! variables, then command-line flags. This file holds the settings and what they become
//! (the core's and the transport's configurations); `sources` reads the layers and tells
//! where each value came from, `validate` checks them, `check` is `roster config check` and
//! `roster doctor`.

pub mod check;
mod sources;
mod validate;

pub use sources::FlagOverrides;

use anyhow::bail;
use roster_core::{CoreConfig, Role};
use roster_http::HttpConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Every setting, with its default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: String,
    /// Where Roster keeps its files (the SQLite database by default).
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...`; default: `sqlite://<data_dir>/roster.db`.
    pub database_url: Option<String>,
    /// Shortest accepted password.
    pub min_password_length: usize,
    /// Role of accounts after the first: `user` or `pending`.
    pub default_role: String,
    /// Whether anyone may register.
    pub allow_registration: bool,
    /// Whether `POST /v1/auth/register` answers alike for a taken and a free email (202, no
    /// tokens, the address mailed either way) instead of 409 for a taken one and 201 with tokens.
    pub quiet_registration: bool,
    /// Access token lifetime, seconds.
    pub access_token_ttl_seconds: i64,
    /// Refresh chain lifetime, days.
    pub refresh_token_ttl_days: i64,
    /// Snowflake node id (0-1023); random when absent. Give each instance its own.
    pub node_id: Option<u16>,
    /// Largest request body, bytes.
    pub body_limit_bytes: usize,
    /// How long in-flight requests may run after SIGTERM/SIGINT, seconds.
    pub shutdown_grace_seconds: u64,
    /// Trust `X-Forwarded-For` for client addresses (only behind your own proxy).
    pub trust_forwarded_for: bool,
    /// Log filter (`info`, `roster=debug,info`, ...); `RUST_LOG` wins when set.
    pub log: String,
    /// `text` (one human-readable line per event) or `json` (one JSON object per line).
    pub log_format: String,
    /// Whether Prometheus metrics are kept and served at `/metrics`.
    pub metrics: bool,
    /// Serve `/metrics` only on this address (`host:port`), not on `listen`; empty: on
    /// `listen`, beside the API.
    pub metrics_listen: String,
    /// How often the gauges read from the database (users by role and status, the outbox
    /// backlog) are refreshed, seconds.
    pub metrics_refresh_seconds: u64,
    /// Audit entries are kept this many days, then purged (0: for ever).
    pub audit_retention_days: u32,
    /// Outbox events no receiver is owed are kept this many days, then purged (0: for ever).
    pub outbox_retention_days: u32,
    /// Delivered webhook deliveries and back-channel logouts are kept this many days (0: for ever).
    pub delivery_retention_days: u32,
    /// How often `roster serve` purges (retention), minutes (0: never; `roster purge` still works).
    pub purge_interval_minutes: u64,
    /// Rows a purge deletes per transaction.
    pub purge_batch_size: u32,
    /// Where users reach Roster's pages: the base of the links the admin commands print
    /// (`{public_url}/register?token=...`, `{public_url}/reset-password?token=...`).
    pub public_url: String,
    /// Where the LibreChat dialect is mounted (`/` for the root).
    pub librechat_prefix: String,
    /// Where the Open WebUI dialect is mounted (`/` for the root).
    pub openwebui_prefix: String,
    /// Where the Langflow dialect is mounted (`/` for the root).
    pub langflow_prefix: String,
    /// Whether Langflow sign-ups are active at once (Langflow's `NEW_USER_IS_ACTIVE`).
    pub langflow_new_user_is_active: bool,
    /// Role of Open WebUI sign-ups after the first account: `pending` or `user`.
    pub openwebui_default_role: String,
    /// Whether Open WebUI sign-up stays open after the first account (Open WebUI closes it).
    pub openwebui_enable_signup: bool,
    /// How often a user's `last_active_at` is written at most, seconds (0: every request).
    pub activity_interval_seconds: i64,
    /// Lifetime of Open WebUI sign-in tokens, seconds (at most the session lifetime).
    pub openwebui_token_ttl_seconds: i64,
    /// Whether accounts whose email is not verified may sign in.
    pub allow_unverified_email_login: bool,
    /// Whether users may delete their own account (never an administrator's:
    /// no administrator deletes themself).
    pub allow_account_deletion: bool,
    /// Lifetime of email verification links, minutes.
    pub verification_token_ttl_minutes: i64,
    /// Verification emails one client address may ask for per window (0: unlimited).
    pub verification_resend_max: u32,
    /// The window of `verification_resend_max`, minutes.
    pub verification_resend_window_minutes: i64,
    /// The version of the terms of service in force.
    pub terms_version: String,
    /// Credits granted to every user on first use of the balance.
    pub start_balance: i64,
    /// Whether spends refill balances automatically (LibreChat's `balance.autoRefillEnabled`),
    /// unless a user's own setting says otherwise.
    pub balance_auto_refill_enabled: bool,
    /// The interval between automatic refills, in `balance_refill_interval_unit`s.
    pub balance_refill_interval_value: i64,
    /// `seconds`, `minutes`, `hours`, `days`, `weeks` or `months` (calendar months).
    pub balance_refill_interval_unit: String,
    /// Credits one automatic refill adds.
    pub balance_refill_amount: i64,
    /// `smtp://[user:password@]host[:port]`; absent: no mail is sent (and no link logged).
    pub smtp_url: Option<String>,
    /// The From address of mail.
    pub mail_from: String,
    /// Largest avatar upload, bytes.
    pub avatar_max_bytes: usize,
    /// How many avatar uploads are decoded at once (each may take up to 96 MiB).
    pub avatar_concurrency: usize,
    /// The most users a SCIM list filters or sorts in memory (refused with `tooMany` past it).
    pub scim_max_scanned_users: usize,
    /// Where the Plexichat dialect is mounted (`/` for the root).
    pub plexichat_prefix: String,
    /// The key that seals secrets at rest: base64 of 32 bytes. Absent: the key file
    /// `<data_dir>/secret.key`, generated on first start. Every instance on one database
    /// needs the same key.
    pub secret_key: Option<SecretSetting>,
    /// Whether Langflow's `GET /api/v1/auto_login` signs in as `langflow_superuser`.
    pub langflow_auto_login: bool,
    /// The account auto-login signs in as (Langflow's `LANGFLOW_SUPERUSER`).
    pub langflow_superuser: String,
    /// The product name the sign-in pages show.
    pub pages_product_name: String,
    /// The logo above the sign-in pages (an http(s) URL or a path on Roster); none by default.
    pub pages_logo_url: Option<String>,
    /// The sign-in pages' accent colour (buttons, links, focus), `#rrggbb`.
    pub pages_accent_color: String,
    /// The sign-in pages' background colour, `#rrggbb`.
    pub pages_background_color: String,
    /// The sign-in pages' text colour, `#rrggbb`.
    pub pages_text_color: String,
    /// Whether this instance runs the webhook delivery worker.
    pub webhook_worker: bool,
    /// How often an idle delivery worker looks for new events, milliseconds.
    pub webhook_poll_interval_ms: u64,
    /// How long one webhook request may take, seconds.
    pub webhook_timeout_seconds: u64,
    /// Attempts before a delivery is given up.
    pub webhook_max_attempts: u32,
    /// The wait after a first failed attempt, milliseconds (doubled after each further one).
    pub webhook_backoff_base_ms: u64,
    /// The longest wait between attempts, seconds.
    pub webhook_backoff_cap_seconds: u64,
    /// How long a claim outlives the timeout before another instance may take it over, seconds.
    pub webhook_lease_seconds: u64,
    /// Login attempts per client address per window (0: unlimited).
    pub rate_limit_login_max: u32,
    /// The window of `rate_limit_login_max`, seconds.
    pub rate_limit_login_window_seconds: i64,
    /// Self-registrations per client address per window (0: unlimited).
    pub rate_limit_register_max: u32,
    /// The window of `rate_limit_register_max`, seconds.
    pub rate_limit_register_window_seconds: i64,
    /// Password-reset requests per client address per window (0: unlimited).
    pub rate_limit_password_reset_max: u32,
    /// The window of `rate_limit_password_reset_max`, seconds.
    pub rate_limit_password_reset_window_seconds: i64,
    /// Two-factor code attempts per user per window (0: unlimited).
    pub rate_limit_two_factor_max: u32,
    /// The window of `rate_limit_two_factor_max`, seconds.
    pub rate_limit_two_factor_window_seconds: i64,
    /// Failed logins of one account before delays start (0: no account throttling).
    pub login_throttle_account_failures: u32,
    /// Failed logins from one client address before delays start (0: none).
    pub login_throttle_ip_failures: u32,
    /// The first delay, seconds; each further failure doubles it.
    pub login_throttle_base_delay_seconds: i64,
    /// The longest delay (the throttle window), seconds.
    pub login_throttle_max_delay_seconds: i64,
    /// Failures are forgotten this long after the last one, seconds.
    pub login_throttle_reset_seconds: i64,
    /// `redis://[:password@]host[:port][/db]`: share rate limits and throttles across instances.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key Roster writes.
    pub redis_key_prefix: String,
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` is believed.
    #[serde(deserialize_with = "crate::limits::string_or_list")]
    pub trusted_proxies: Vec<String>,
    /// Largest request head (request line and headers), bytes.
    pub max_header_bytes: usize,
    /// Time a client has to send the request head, seconds.
    pub header_read_timeout_seconds: u64,
    /// Time a whole request may take, body included, seconds (0: no limit).
    pub request_timeout_seconds: u64,
    /// `X-Frame-Options` ("" : not sent).
    pub frame_options: String,
    /// `Content-Security-Policy` ("" : not sent).
    pub content_security_policy: String,
    /// `Referrer-Policy` ("" : not sent).
    pub referrer_policy: String,
    /// `Strict-Transport-Security` max-age, seconds (0: not sent; set it behind HTTPS).
    pub hsts_max_age_seconds: u64,
    /// Origins browsers may call Roster from (`*`: any); empty: CORS off.
    #[serde(deserialize_with = "crate::limits::string_or_list")]
    pub cors_allowed_origins: Vec<String>,
    /// Whether cross-origin requests may carry cookies and credentials.
    pub cors_allow_credentials: bool,
    /// How long browsers cache a preflight answer, seconds.
    pub cors_max_age_seconds: u64,
    /// Where the `features.api_keys` permission (Open WebUI's) gates API keys: `openwebui`
    /// (its routes only: keys are created there only with it, and no key works there without
    /// it) or `everywhere` (creating or using a key on any route needs it).
    pub api_key_permission: String,
    /// Where the primary administrator (the oldest account that is an administrator) must
    /// keep its role: `openwebui` (on Open WebUI's routes, as Open WebUI has it; elsewhere it
    /// may step down while another admin remains) or `everywhere`.
    pub primary_admin_keeps_role: String,
    /// Whether webhooks may go to loopback, private (RFC 1918, ULA, CGNAT) and link-local
    /// addresses, for receivers on the same host or network. Cloud metadata, unspecified and
    /// multicast addresses stay refused.
    pub webhook_allow_private_networks: bool,
    /// Hosts `GET /v1/forward-auth` may send a browser back to after signing in (`name`,
    /// `name:port`, or `*.domain`); empty: none.
    #[serde(deserialize_with = "crate::limits::string_or_list")]
    pub forward_auth_allowed_hosts: Vec<String>,
    /// The header forward authentication answers the user's id in.
    pub forward_auth_user_header: String,
    /// ... the user's email in.
    pub forward_auth_email_header: String,
    /// ... the user's name in.
    pub forward_auth_name_header: String,
    /// ... the user's group names in (comma-separated).
    pub forward_auth_groups_header: String,
    /// ... the user's role in (`admin`, `user`).
    pub forward_auth_role_header: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8480".into(),
            data_dir: PathBuf::from("roster-data"),
            database_url: None,
            min_password_length: 8,
            default_role: "user".into(),
            allow_registration: true,
            quiet_registration: false,
            access_token_ttl_seconds: 900,
            refresh_token_ttl_days: 30,
            node_id: None,
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_seconds: 10,
            trust_forwarded_for: false,
            log: "info".into(),
            log_format: "text".into(),
            metrics: true,
            metrics_listen: String::new(),
            metrics_refresh_seconds: 30,
            audit_retention_days: 365,
            outbox_retention_days: 30,
            delivery_retention_days: 30,
            purge_interval_minutes: 60,
            purge_batch_size: 1000,
            public_url: "http://127.0.0.1:8480".into(),
            librechat_prefix: "/librechat".into(),
            openwebui_prefix: "/openwebui".into(),
            langflow_prefix: "/langflow".into(),
            langflow_new_user_is_active: false,
            openwebui_default_role: "pending".into(),
            openwebui_enable_signup: false,
            activity_interval_seconds: 60,
            openwebui_token_ttl_seconds: 28 * 86_400,
            allow_unverified_email_login: true,
            allow_account_deletion: true,
            verification_token_ttl_minutes: 15,
            verification_resend_max: 2,
            verification_resend_window_minutes: 2,
            terms_version: "1.0".into(),
            start_balance: 0,
            balance_auto_refill_enabled: false,
            balance_refill_interval_value: 30,
            balance_refill_interval_unit: "days".into(),
            balance_refill_amount: 10_000,
            smtp_url: None,
            mail_from: "Roster <roster@localhost>".into(),
            avatar_max_bytes: 5 * 1024 * 1024,
            avatar_concurrency: 1,
            scim_max_scanned_users: 10_000,
            plexichat_prefix: "/plexichat".into(),
            secret_key: None,
            langflow_auto_login: false,
            langflow_superuser: "langflow".into(),
            pages_product_name: roster_http::pages::PageSettings::default().product_name,
            pages_logo_url: None,
            pages_accent_color: roster_http::pages::PageSettings::default().accent_color,
            pages_background_color: roster_http::pages::PageSettings::default().background_color,
            pages_text_color: roster_http::pages::PageSettings::default().text_color,
            webhook_worker: true,
            webhook_poll_interval_ms: 1000,
            webhook_timeout_seconds: 10,
            webhook_max_attempts: 12,
            webhook_backoff_base_ms: 5000,
            webhook_backoff_cap_seconds: 3600,
            webhook_lease_seconds: 30,
            rate_limit_login_max: 20,
            rate_limit_login_window_seconds: 60,
            rate_limit_register_max: 5,
            rate_limit_register_window_seconds: 3600,
            rate_limit_password_reset_max: 2,
            rate_limit_password_reset_window_seconds: 120,
            rate_limit_two_factor_max: 5,
            rate_limit_two_factor_window_seconds: 60,
            login_throttle_account_failures: 5,
            login_throttle_ip_failures: 20,
            login_throttle_base_delay_seconds: 1,
            login_throttle_max_delay_seconds: 900,
            login_throttle_reset_seconds: 3600,
            redis_url: None,
            redis_key_prefix: "roster:".into(),
            trusted_proxies: Vec::new(),
            max_header_bytes: 16 * 1024,
            header_read_timeout_seconds: 10,
            request_timeout_seconds: 30,
            frame_options: "DENY".into(),
            content_security_policy: "default-src 'none'; frame-ancestors 'none'".into(),
            referrer_policy: "no-referrer".into(),
            hsts_max_age_seconds: 0,
            cors_allowed_origins: Vec::new(),
            cors_allow_credentials: false,
            cors_max_age_seconds: 600,
            api_key_permission: "openwebui".into(),
            primary_admin_keeps_role: "openwebui".into(),
            webhook_allow_private_networks: false,
            forward_auth_allowed_hosts: Vec::new(),
            forward_auth_user_header: "X-Roster-User".into(),
            forward_auth_email_header: "X-Roster-Email".into(),
            forward_auth_name_header: "X-Roster-Name".into(),
            forward_auth_groups_header: "X-Roster-Groups".into(),
            forward_auth_role_header: "X-Roster-Role".into(),
        }
    }
}

impl Settings {
    pub(crate) fn role(&self) -> anyhow::Result<Role> {
        match Role::parse(&self.default_role) {
            Ok(Role::Admin) | Err(_) => bail!("default_role must be user or pending"),
            Ok(role) => Ok(role),
        }
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("roster.db").display()))
    }

    /// The core's settings.
    pub fn core(&self) -> anyhow::Result<CoreConfig> {
        Ok(CoreConfig {
            min_password_length: self.min_password_length,
            default_role: self.role()?,
            allow_registration: self.allow_registration,
            quiet_registration: self.quiet_registration,
            access_token_ttl: time_duration_seconds(self.access_token_ttl_seconds),
            refresh_token_ttl: time_duration_seconds(self.refresh_token_ttl_days * 86_400),
            node_id: self.node_id.unwrap_or_else(random_node_id),
            allow_unverified_email_login: self.allow_unverified_email_login,
            allow_account_deletion: self.allow_account_deletion,
            verification_token_ttl: roster_core::time::Duration::minutes(self.verification_token_ttl_minutes),
            verification_resend_max: self.verification_resend_max,
            verification_resend_window: roster_core::time::Duration::minutes(self.verification_resend_window_minutes),
            terms_version: self.terms_version.clone(),
            start_balance: self.start_balance,
            balance_refill: self.balance_refill()?,
            smtp_url: self.smtp_url.clone().filter(|u| !u.trim().is_empty()),
            mail_from: self.mail_from.clone(),
            public_url: self.public_url.trim_end_matches('/').to_string(),
            avatar_dir: self.data_dir.join("avatars"),
            avatar_max_bytes: self.avatar_max_bytes,
            avatar_concurrency: self.avatar_concurrency,
            scim_max_scanned_users: self.scim_max_scanned_users,
            activity_interval: time_duration_seconds(self.activity_interval_seconds),
            limits: self.limits(),
            api_key_gate: roster_core::service::ApiKeyGate::parse(&self.api_key_permission).unwrap_or_default(),
            primary_admin_role: roster_core::service::PrimaryAdminRole::parse(&self.primary_admin_keeps_role)
                .unwrap_or_default(),
            webhook_allow_private_networks: self.webhook_allow_private_networks,
            ..CoreConfig::default()
        })
    }

    /// A link to a page of Roster's under `public_url`, e.g. `link("register", token)`.
    pub fn link(&self, page: &str, token: &str) -> String {
        format!("{}/{page}?token={token}", self.public_url.trim_end_matches('/'))
    }

    /// The transport's settings.
    /// The retention the purges apply.
    pub fn retention(&self) -> roster_core::service::RetentionPolicy {
        roster_core::service::RetentionPolicy {
            audit_days: self.audit_retention_days,
            outbox_days: self.outbox_retention_days,
            delivery_days: self.delivery_retention_days,
            batch_size: self.purge_batch_size,
        }
    }

    pub fn http(&self) -> HttpConfig {
        HttpConfig {
            body_limit: self.body_limit_bytes,
            trust_forwarded_for: self.trust_forwarded_for,
            librechat_prefix: self.librechat_prefix.clone(),
            openwebui_prefix: self.openwebui_prefix.clone(),
            langflow_prefix: self.langflow_prefix.clone(),
            langflow_new_user_is_active: self.langflow_new_user_is_active,
            openwebui_default_role: Role::parse(&self.openwebui_default_role).unwrap_or(Role::Pending),
            openwebui_enable_signup: self.openwebui_enable_signup,
            openwebui_token_ttl_seconds: self.openwebui_token_ttl_seconds,
            plexichat_prefix: self.plexichat_prefix.clone(),
            langflow_auto_login: self.langflow_auto_login,
            langflow_superuser: self.langflow_superuser.clone(),
            pages: self.pages(),
            forward_auth: self.forward_auth().unwrap_or_default(),
            ..self.http_limits()
        }
    }

    /// The sign-in pages' branding (an empty logo URL is none).
    pub(crate) fn pages(&self) -> roster_http::pages::PageSettings {
        roster_http::pages::PageSettings {
            product_name: self.pages_product_name.trim().to_string(),
            logo_url: self
                .pages_logo_url
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string),
            accent_color: self.pages_accent_color.trim().to_string(),
            background_color: self.pages_background_color.trim().to_string(),
            text_color: self.pages_text_color.trim().to_string(),
        }
    }
}

fn time_duration_seconds(s: i64) -> roster_core::time::Duration {
    roster_core::time::Duration::seconds(s)
}

fn random_node_id() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    (RandomState::new().hash_one(std::process::id()) % 1024) as u16
}

impl Settings {
    /// The default auto-refill settings, checked.
    pub(crate) fn balance_refill(&self) -> anyhow::Result<roster_core::service::RefillSettings> {
        let unit = self.balance_refill_interval_unit.trim();
        let Some(interval_unit) = roster_core::store::RefillUnit::parse(unit) else {
            bail!("balance_refill_interval_unit must be seconds, minutes, hours, days, weeks or months, not {unit:?}");
        };
        let settings = roster_core::service::RefillSettings {
            enabled: self.balance_auto_refill_enabled,
            interval_value: self.balance_refill_interval_value,
            interval_unit,
            amount: self.balance_refill_amount,
        };
        if let Err(e) = settings.validate() {
            bail!("balance_{e}");
        }
        Ok(settings)
    }
}

/// A secret setting: read like a string, never shown by `Debug`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretSetting(pub String);

impl std::fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl Settings {
    /// The key that seals secrets at rest: `secret_key` (`ROSTER_SECRET_KEY`), else the key
    /// file in the data directory, created (mode 0600) when absent.
    pub fn secret_key(&self) -> anyhow::Result<roster_core::secret::SecretKey> {
        use roster_core::secret::{KEY_FILE, KEY_SETTING, SecretKey};
        match self.secret_key.as_ref().filter(|k| !k.0.trim().is_empty()) {
            Some(key) => SecretKey::from_base64(&key.0).map_err(|e| {
                anyhow::anyhow!("{KEY_SETTING} (secret_key) {e}; generate one with: openssl rand -base64 32")
            }),
            None => SecretKey::load_or_create(&self.data_dir.join(KEY_FILE)),
        }
    }
}

#[cfg(test)]
mod secret_key_tests {
    use super::*;

    #[test]
    fn secret_key_from_setting_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        let generated = settings.secret_key().unwrap();
        assert!(dir.path().join("secret.key").exists());
        assert_eq!(settings.secret_key().unwrap(), generated, "the file is reused");
        settings.secret_key = Some(SecretSetting(generated.to_base64()));
        assert_eq!(settings.secret_key().unwrap(), generated);
        assert!(!format!("{settings:?}").contains(&generated.to_base64()));
        settings.secret_key = Some(SecretSetting("dG9vIHNob3J0".into()));
        let error = settings.secret_key().unwrap_err().to_string();
        assert!(
            error.contains("ROSTER_SECRET_KEY") && error.contains("32 bytes"),
            "{error}"
        );
    }

    #[test]
    fn page_branding_is_checked_and_passed_on() {
        let mut settings = Settings {
            pages_product_name: " Acme Chat ".into(),
            pages_logo_url: Some(" ".into()),
            ..Settings::default()
        };
        assert!(settings.validate().is_ok());
        assert_eq!(settings.http().pages.product_name, "Acme Chat");
        assert_eq!(settings.http().pages.logo_url, None);
        settings.pages_logo_url = Some("https://cdn.example.org/logo.svg".into());
        assert_eq!(
            settings.http().pages.logo_url.as_deref(),
            Some("https://cdn.example.org/logo.svg")
        );
        settings.pages_text_color = "#eeeeee".into();
        let error = settings.validate().unwrap_err().to_string();
        assert!(
            error.contains("pages_text_color") && error.contains("contrast"),
            "{error}"
        );
    }

    #[test]
    fn auto_login_needs_a_superuser_name() {
        let mut settings = Settings {
            langflow_auto_login: true,
            ..Settings::default()
        };
        assert!(settings.validate().is_ok());
        assert_eq!(settings.http().langflow_superuser, "langflow");
        assert!(settings.http().langflow_auto_login);
        settings.langflow_superuser = " ".into();
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("langflow_superuser")
        );
    }

    #[test]
    fn avatar_concurrency_is_checked() {
        let mut settings = Settings::default();
        assert_eq!(settings.avatar_concurrency, 1);
        settings.avatar_concurrency = 0;
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("avatar_concurrency"), "{error}");
        settings.avatar_concurrency = 3;
        assert!(settings.validate().is_ok());
        assert_eq!(settings.core().unwrap().avatar_concurrency, 3);
    }
}

#[cfg(test)]
mod webhook_tests {
    use super::*;

    #[test]
    fn webhook_settings_are_checked_and_converted() {
        let mut settings = Settings::default();
        assert!(settings.validate().is_ok());
        let worker = settings.webhooks();
        assert_eq!(worker.request_timeout, std::time::Duration::from_secs(10));
        assert_eq!(worker.backoff_base, std::time::Duration::from_millis(5000));
        assert_eq!(worker.max_attempts, 12);
        settings.webhook_timeout_seconds = 0;
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("webhook_timeout_seconds"), "{error}");
        settings.webhook_timeout_seconds = 10;
        settings.webhook_max_attempts = 0;
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("webhook_max_attempts")
        );
    }
}

#[cfg(test)]
mod gate_tests {
    use super::*;

    #[test]
    fn permission_and_address_settings_are_checked_and_converted() {
        let mut settings = Settings::default();
        let core = settings.core().unwrap();
        assert_eq!(core.api_key_gate, roster_core::service::ApiKeyGate::OpenWebUi);
        assert!(!core.webhook_allow_private_networks);
        settings.api_key_permission = "everywhere".into();
        settings.webhook_allow_private_networks = true;
        assert!(settings.validate().is_ok());
        let core = settings.core().unwrap();
        assert_eq!(core.api_key_gate, roster_core::service::ApiKeyGate::Everywhere);
        assert!(core.webhook_allow_private_networks);
        settings.api_key_permission = "all".into();
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("api_key_permission"), "{error}");
    }

    #[test]
    fn the_primary_admin_setting_is_checked_and_converted() {
        use roster_core::service::PrimaryAdminRole;
        let mut settings = Settings::default();
        assert_eq!(settings.core().unwrap().primary_admin_role, PrimaryAdminRole::OpenWebUi);
        settings.primary_admin_keeps_role = "everywhere".into();
        assert!(settings.validate().is_ok());
        assert_eq!(
            settings.core().unwrap().primary_admin_role,
            PrimaryAdminRole::Everywhere
        );
        settings.primary_admin_keeps_role = "native".into();
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("primary_admin_keeps_role"), "{error}");
    }
}

#[cfg(test)]
mod balance_tests {
    use super::*;
    use roster_core::service::RefillSettings;
    use roster_core::store::RefillUnit;

    #[test]
    fn refill_settings_default_as_librechat_and_are_checked() {
        let mut settings = Settings::default();
        assert_eq!(settings.core().unwrap().balance_refill, RefillSettings::default());
        settings.balance_auto_refill_enabled = true;
        settings.balance_refill_interval_value = 1;
        settings.balance_refill_interval_unit = "months".into();
        settings.balance_refill_amount = 500;
        assert_eq!(
            settings.core().unwrap().balance_refill,
            RefillSettings {
                enabled: true,
                interval_value: 1,
                interval_unit: RefillUnit::Months,
                amount: 500,
            }
        );
        settings.balance_refill_interval_unit = "fortnights".into();
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("balance_refill_interval_unit"), "{error}");
        settings.balance_refill_interval_unit = "days".into();
        settings.balance_refill_amount = -1;
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("balance_refill_amount"), "{error}");
        settings.balance_refill_amount = 0;
        settings.balance_refill_interval_value = -3;
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("balance_refill_interval_value"), "{error}");
    }
}

#[cfg(test)]
mod forward_auth_tests {
    use super::*;

    #[test]
    fn forward_auth_settings_are_checked() {
        let mut settings = Settings::default();
        assert_eq!(settings.http().forward_auth.headers.email.as_str(), "x-roster-email");
        settings.forward_auth_email_header = "X-User-Email".into();
        settings.forward_auth_allowed_hosts = vec!["chat.example.org".into(), "*.example.net:8443".into()];
        assert!(settings.validate().is_ok());
        let http = settings.http();
        assert_eq!(http.forward_auth.headers.email.as_str(), "x-user-email");
        assert!(http.forward_auth.host_allowed("a.example.net:8443"));
        settings.forward_auth_name_header = "X-User-Email".into();
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("five different headers"), "{error}");
        settings.forward_auth_name_header = "bad header".into();
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("forward_auth_name_header"), "{error}");
        settings.forward_auth_name_header = "X-User-Name".into();
        for bad in ["https://chat.example.org", "a*.example.org", "", "user@host"] {
            settings.forward_auth_allowed_hosts = vec![bad.into()];
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains("forward_auth_allowed_hosts"), "{bad}: {error}");
        }
    }
}
