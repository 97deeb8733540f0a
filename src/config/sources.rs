//! Where settings come from: the defaults, a TOML file, `ROSTER_*` environment variables and
//! flags, merged in that order; and, for `roster config check`, which layer gave each value.

use super::Settings;
use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The environment variables read, each `ROSTER_` + the upper-cased setting name.
/// `ROSTER_TERMS_VERSION` is read apart, as a string (see [`Settings::load`]).
const ENV_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "min_password_length",
    "default_role",
    "allow_registration",
    "quiet_registration",
    "access_token_ttl_seconds",
    "refresh_token_ttl_days",
    "node_id",
    "body_limit_bytes",
    "shutdown_grace_seconds",
    "trust_forwarded_for",
    "log",
    "log_format",
    "metrics",
    "metrics_listen",
    "metrics_refresh_seconds",
    "audit_retention_days",
    "outbox_retention_days",
    "delivery_retention_days",
    "purge_interval_minutes",
    "purge_batch_size",
    "public_url",
    "librechat_prefix",
    "openwebui_prefix",
    "langflow_prefix",
    "langflow_new_user_is_active",
    "openwebui_default_role",
    "openwebui_enable_signup",
    "activity_interval_seconds",
    "openwebui_token_ttl_seconds",
    "allow_unverified_email_login",
    "allow_account_deletion",
    "verification_token_ttl_minutes",
    "verification_resend_max",
    "verification_resend_window_minutes",
    "start_balance",
    "balance_auto_refill_enabled",
    "balance_refill_interval_value",
    "balance_refill_interval_unit",
    "balance_refill_amount",
    "smtp_url",
    "mail_from",
    "avatar_max_bytes",
    "avatar_concurrency",
    "scim_max_scanned_users",
    "plexichat_prefix",
    "secret_key",
    "langflow_auto_login",
    "langflow_superuser",
    "pages_product_name",
    "pages_logo_url",
    "pages_accent_color",
    "pages_background_color",
    "pages_text_color",
    "webhook_worker",
    "webhook_poll_interval_ms",
    "webhook_timeout_seconds",
    "webhook_max_attempts",
    "webhook_backoff_base_ms",
    "webhook_backoff_cap_seconds",
    "webhook_lease_seconds",
    "rate_limit_login_max",
    "rate_limit_login_window_seconds",
    "rate_limit_register_max",
    "rate_limit_register_window_seconds",
    "rate_limit_password_reset_max",
    "rate_limit_password_reset_window_seconds",
    "rate_limit_two_factor_max",
    "rate_limit_two_factor_window_seconds",
    "login_throttle_account_failures",
    "login_throttle_ip_failures",
    "login_throttle_base_delay_seconds",
    "login_throttle_max_delay_seconds",
    "login_throttle_reset_seconds",
    "redis_url",
    "redis_key_prefix",
    "trusted_proxies",
    "max_header_bytes",
    "header_read_timeout_seconds",
    "request_timeout_seconds",
    "frame_options",
    "content_security_policy",
    "referrer_policy",
    "hsts_max_age_seconds",
    "cors_allowed_origins",
    "cors_allow_credentials",
    "cors_max_age_seconds",
    "api_key_permission",
    "primary_admin_keeps_role",
    "webhook_allow_private_networks",
    "forward_auth_allowed_hosts",
    "forward_auth_user_header",
    "forward_auth_email_header",
    "forward_auth_name_header",
    "forward_auth_groups_header",
    "forward_auth_role_header",
];

/// Settings given as flags; only those present override.
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// Which layer gave a setting its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Default,
    File,
    Environment,
    Flag,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Environment => "environment",
            Source::Flag => "flag",
        }
    }
}

/// Every setting's name, in the order of [`Settings`]' fields.
pub fn setting_names() -> impl Iterator<Item = &'static str> {
    ENV_KEYS.iter().copied().chain(std::iter::once("terms_version"))
}

impl Settings {
    /// Loads the layers in order of precedence and checks the result.
    pub fn load(config_file: Option<&Path>, flags: FlagOverrides) -> anyhow::Result<Self> {
        let (settings, _) = Self::load_unchecked(config_file, flags)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Loads the layers without checking the values, with the layer each value came from
    /// (every setting, in order). Fails only on what cannot be read (a missing file, a
    /// value of the wrong type, an unknown key), naming the setting.
    pub fn load_unchecked(
        config_file: Option<&Path>,
        flags: FlagOverrides,
    ) -> anyhow::Result<(Self, Vec<(&'static str, Source)>)> {
        let file = config_file.map(|path| Figment::from(Toml::file(path)));
        let flag_values = serde_json::to_value(&flags).unwrap_or_default();
        let settings = Self::merge(config_file, flags)?;
        let sources = setting_names()
            .map(|name| {
                let source = if flag_values.get(name).is_some() {
                    Source::Flag
                } else if std::env::var_os(format!("ROSTER_{}", name.to_uppercase())).is_some() {
                    Source::Environment
                } else if file.as_ref().is_some_and(|f| f.contains(name)) {
                    Source::File
                } else {
                    Source::Default
                };
                (name, source)
            })
            .collect();
        Ok((settings, sources))
    }

    fn merge(config_file: Option<&Path>, flags: FlagOverrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = config_file {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        let mut settings: Settings = figment
            .merge(Env::prefixed("ROSTER_").only(ENV_KEYS))
            .merge(Serialized::defaults(flags))
            .extract()
            .context("invalid configuration")?;
        // Read as written: figment would turn `2` or `1.0` into a number.
        if let Ok(version) = std::env::var("ROSTER_TERMS_VERSION") {
            settings.terms_version = version;
        }
        Ok(settings)
    }
}
