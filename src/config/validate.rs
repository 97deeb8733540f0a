//! The checks every setting passes before Roster starts (and `roster config check` runs):
//! each failure names the setting.

use super::Settings;
use anyhow::bail;
use roster_core::Role;

impl Settings {
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if !(1..=128).contains(&self.min_password_length) {
            bail!("min_password_length must be between 1 and 128");
        }
        self.role()?;
        self.forward_auth()?;
        if self.access_token_ttl_seconds < 10 {
            bail!("access_token_ttl_seconds must be at least 10");
        }
        if self.refresh_token_ttl_days < 1 {
            bail!("refresh_token_ttl_days must be at least 1");
        }
        if self.node_id.is_some_and(|n| n > 1023) {
            bail!("node_id must be between 0 and 1023");
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://"))
            || self.public_url.chars().any(char::is_whitespace)
        {
            bail!("public_url must be an http:// or https:// URL");
        }
        if !self.librechat_prefix.starts_with('/') || self.librechat_prefix.chars().any(char::is_whitespace) {
            bail!("librechat_prefix must be a path starting with / (or / itself)");
        }
        if !self.openwebui_prefix.starts_with('/') || self.openwebui_prefix.chars().any(char::is_whitespace) {
            bail!("openwebui_prefix must be a path starting with / (or / itself)");
        }
        if !self.langflow_prefix.starts_with('/') || self.langflow_prefix.chars().any(char::is_whitespace) {
            bail!("langflow_prefix must be a path starting with / (or / itself)");
        }
        if same_mount(&self.langflow_prefix, &self.openwebui_prefix) {
            bail!("langflow_prefix and openwebui_prefix must differ (both dialects serve /api/v1/users)");
        }
        if !matches!(
            Role::parse(&self.openwebui_default_role),
            Ok(Role::User | Role::Pending)
        ) {
            bail!("openwebui_default_role must be user or pending");
        }
        if self.openwebui_token_ttl_seconds < 60 {
            bail!("openwebui_token_ttl_seconds must be at least 60");
        }
        if !(1..=64).contains(&self.avatar_concurrency) {
            bail!("avatar_concurrency must be between 1 and 64");
        }
        if !(1..=1_000_000).contains(&self.scim_max_scanned_users) {
            bail!("scim_max_scanned_users must be between 1 and 1000000");
        }
        if self.activity_interval_seconds < 0 {
            bail!("activity_interval_seconds must not be negative");
        }
        if self.verification_token_ttl_minutes < 1 || self.verification_resend_window_minutes < 1 {
            bail!("verification_token_ttl_minutes and verification_resend_window_minutes must be at least 1");
        }
        if self.langflow_auto_login && self.langflow_superuser.trim().is_empty() {
            bail!("langflow_superuser must name the account langflow_auto_login signs in as");
        }
        if self.terms_version.trim().is_empty() || self.terms_version.len() > 64 {
            bail!("terms_version must be 1 to 64 characters");
        }
        self.balance_refill()?;
        if roster_core::service::ApiKeyGate::parse(&self.api_key_permission).is_none() {
            bail!("api_key_permission must be openwebui or everywhere");
        }
        if roster_core::service::PrimaryAdminRole::parse(&self.primary_admin_keeps_role).is_none() {
            bail!("primary_admin_keeps_role must be openwebui or everywhere");
        }
        self.pages().validate().map_err(|e| anyhow::anyhow!(e))?;
        self.validate_plexichat_prefix()?;
        self.validate_operations()?;
        self.validate_webhooks()?;
        self.validate_limits()?;
        Ok(())
    }

    /// The log and metrics settings, the addresses and the URLs.
    fn validate_operations(&self) -> anyhow::Result<()> {
        if !matches!(self.log_format.trim(), "text" | "json") {
            bail!("log_format must be text or json, not {:?}", self.log_format);
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log).is_err() {
            bail!(
                "log is not a valid log filter (such as info or roster=debug,info): {:?}",
                self.log
            );
        }
        check_address("listen", &self.listen)?;
        if !self.metrics_listen.trim().is_empty() {
            check_address("metrics_listen", &self.metrics_listen)?;
            if self.metrics_listen.trim() == self.listen.trim() {
                bail!("metrics_listen must differ from listen (leave it empty to serve /metrics on listen)");
            }
        }
        if !(1..=86_400).contains(&self.metrics_refresh_seconds) {
            bail!("metrics_refresh_seconds must be between 1 and 86400");
        }
        for (name, days) in [
            ("audit_retention_days", self.audit_retention_days),
            ("outbox_retention_days", self.outbox_retention_days),
            ("delivery_retention_days", self.delivery_retention_days),
        ] {
            if days > 36_500 {
                bail!("{name} must be between 0 (keep for ever) and 36500");
            }
        }
        if self.purge_interval_minutes > 10_080 {
            bail!("purge_interval_minutes must be between 0 (no background purge) and 10080");
        }
        if !(1..=100_000).contains(&self.purge_batch_size) {
            bail!("purge_batch_size must be between 1 and 100000");
        }
        if url::Url::parse(self.public_url.trim()).is_err() {
            bail!("public_url is not a valid URL: {:?}", self.public_url);
        }
        if let Some(url) = &self.database_url {
            roster_store::backend_of(url).map_err(|e| anyhow::anyhow!("database_url: {e}"))?;
            if roster_store::backend_of(url)? == roster_store::BackendKind::Postgres && url::Url::parse(url).is_err() {
                bail!("database_url is not a valid postgres:// URL");
            }
        }
        if let Some(url) = self.smtp_url.as_deref().filter(|u| !u.trim().is_empty()) {
            roster_core::mail::SmtpMailer::new(url.trim(), &self.mail_from).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if let Some(url) = self.redis_url.as_deref().filter(|u| !u.trim().is_empty()) {
            match url::Url::parse(url.trim()) {
                Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host().is_some() => {}
                _ => bail!("redis_url must be a redis://[:password@]host[:port][/db] URL"),
            }
        }
        if let Some(key) = self.secret_key.as_ref().filter(|k| !k.0.trim().is_empty()) {
            roster_core::secret::SecretKey::from_base64(&key.0).map_err(|e| {
                anyhow::anyhow!(
                    "{} (secret_key) {e}; generate one with: openssl rand -base64 32",
                    roster_core::secret::KEY_SETTING
                )
            })?;
        }
        Ok(())
    }

    /// Forward authentication's settings, checked: header names must be valid and distinct.
    pub(super) fn forward_auth(&self) -> anyhow::Result<roster_http::forward_auth::ForwardAuthSettings> {
        use roster_http::forward_auth::{ForwardAuthHeaders, ForwardAuthSettings};
        let name = |setting: &str, raw: &str| -> anyhow::Result<axum::http::HeaderName> {
            axum::http::HeaderName::from_bytes(raw.trim().as_bytes())
                .map_err(|_| anyhow::anyhow!("{setting} must be an HTTP header name, not {raw:?}"))
        };
        let headers = ForwardAuthHeaders {
            user: name("forward_auth_user_header", &self.forward_auth_user_header)?,
            email: name("forward_auth_email_header", &self.forward_auth_email_header)?,
            name: name("forward_auth_name_header", &self.forward_auth_name_header)?,
            groups: name("forward_auth_groups_header", &self.forward_auth_groups_header)?,
            role: name("forward_auth_role_header", &self.forward_auth_role_header)?,
        };
        let all = [
            &headers.user,
            &headers.email,
            &headers.name,
            &headers.groups,
            &headers.role,
        ];
        if all.iter().enumerate().any(|(i, a)| all[..i].contains(a)) {
            bail!("the forward_auth_*_header settings must name five different headers");
        }
        for host in &self.forward_auth_allowed_hosts {
            let h = host.trim();
            if h.is_empty() || h.contains(['/', '@', ' ']) || h.strip_prefix("*.").unwrap_or(h).contains('*') {
                bail!("forward_auth_allowed_hosts: {host:?} is not a host, host:port or *.domain");
            }
        }
        Ok(ForwardAuthSettings {
            headers,
            allowed_hosts: self
                .forward_auth_allowed_hosts
                .iter()
                .map(|h| h.trim().to_string())
                .collect(),
        })
    }

    fn validate_webhooks(&self) -> anyhow::Result<()> {
        if !(10..=3_600_000).contains(&self.webhook_poll_interval_ms) {
            bail!("webhook_poll_interval_ms must be between 10 and 3600000");
        }
        if !(1..=300).contains(&self.webhook_timeout_seconds) {
            bail!("webhook_timeout_seconds must be between 1 and 300");
        }
        if !(1..=100).contains(&self.webhook_max_attempts) {
            bail!("webhook_max_attempts must be between 1 and 100");
        }
        if self.webhook_backoff_base_ms < 10 || self.webhook_backoff_cap_seconds < 1 {
            bail!("webhook_backoff_base_ms must be at least 10 and webhook_backoff_cap_seconds at least 1");
        }
        if !(1..=3600).contains(&self.webhook_lease_seconds) {
            bail!("webhook_lease_seconds must be between 1 and 3600");
        }
        Ok(())
    }

    /// The webhook delivery worker's settings.
    pub fn webhooks(&self) -> roster_core::service::WebhookSettings {
        use std::time::Duration;
        roster_core::service::WebhookSettings {
            poll_interval: Duration::from_millis(self.webhook_poll_interval_ms),
            request_timeout: Duration::from_secs(self.webhook_timeout_seconds),
            max_attempts: self.webhook_max_attempts,
            backoff_base: Duration::from_millis(self.webhook_backoff_base_ms),
            backoff_cap: Duration::from_secs(self.webhook_backoff_cap_seconds),
            lease: Duration::from_secs(self.webhook_lease_seconds),
            ..roster_core::service::WebhookSettings::default()
        }
    }

    /// The Plexichat prefix is a path, and a mount point of its own unless it is the root
    /// (where its paths, `/users/...`, meet no other dialect's).
    fn validate_plexichat_prefix(&self) -> anyhow::Result<()> {
        if !self.plexichat_prefix.starts_with('/') || self.plexichat_prefix.chars().any(char::is_whitespace) {
            bail!("plexichat_prefix must be a path starting with / (or / itself)");
        }
        if !same_mount(&self.plexichat_prefix, "/") {
            for (name, other) in [
                ("librechat_prefix", &self.librechat_prefix),
                ("openwebui_prefix", &self.openwebui_prefix),
                ("langflow_prefix", &self.langflow_prefix),
            ] {
                if same_mount(&self.plexichat_prefix, other) {
                    bail!("plexichat_prefix and {name} must differ");
                }
            }
        }
        Ok(())
    }
}

/// A `host:port` address to listen on (the host a name or an IP address).
fn check_address(name: &str, value: &str) -> anyhow::Result<()> {
    let value = value.trim();
    let ok = value.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !host.chars().any(char::is_whitespace) && port.parse::<u16>().is_ok()
    });
    if !ok {
        bail!("{name} must be host:port (such as 127.0.0.1:8480), not {value:?}");
    }
    Ok(())
}

/// Whether two dialect prefixes name the same mount point (`/x`, `/x/` and `x` do; so do `/`
/// and the empty prefix).
fn same_mount(a: &str, b: &str) -> bool {
    a.trim().trim_matches('/') == b.trim().trim_matches('/')
}

#[cfg(test)]
mod plexichat_tests {
    use super::*;

    #[test]
    fn plexichat_needs_a_mount_of_its_own() {
        let mut settings = Settings::default();
        assert_eq!(settings.http().plexichat_prefix, "/plexichat");
        settings.plexichat_prefix = "/".into();
        settings.librechat_prefix = "/".into();
        assert!(settings.validate().is_ok());
        settings.plexichat_prefix = "/chat".into();
        settings.langflow_prefix = "/chat/".into();
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("plexichat_prefix"), "{error}");
        settings.langflow_prefix = "/langflow".into();
        settings.plexichat_prefix = "chat".into();
        assert!(settings.validate().is_err());
    }
}

#[cfg(test)]
mod langflow_tests {
    use super::*;

    #[test]
    fn langflow_and_openwebui_need_their_own_mounts() {
        let mut settings = Settings::default();
        assert!(settings.validate().is_ok());
        settings.langflow_prefix = "/".into();
        assert!(settings.validate().is_ok());
        settings.openwebui_prefix = "/".into();
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("langflow_prefix"), "{error}");
        settings.openwebui_prefix = "/openwebui".into();
        settings.langflow_prefix = "/openwebui/".into();
        assert!(settings.validate().is_err());
        settings.langflow_prefix = "/langflow x".into();
        assert!(settings.validate().is_err());
    }
}
