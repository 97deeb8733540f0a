//! The settings of rate limits, login throttling, Redis, request limits, security headers
//! and CORS: checking them and turning them into the core's and the transport's settings.

use crate::config::Settings;
use anyhow::bail;
use roster_core::limit::{LimitSettings, Rate, Throttle};
use roster_core::time::Duration;
use roster_http::HttpConfig;
use roster_http::client_ip::IpNet;
use roster_http::protect::{CorsSettings, SecurityHeaders};
use serde::{Deserialize, Deserializer};

/// A list given as a TOML array or as one comma-separated string (environment variables).
pub fn string_or_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrList {
        One(String),
        Many(Vec<String>),
    }
    let items = match StringOrList::deserialize(deserializer)? {
        StringOrList::One(s) => s.split(',').map(str::to_string).collect(),
        StringOrList::Many(v) => v,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

fn none_if_empty(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

fn rate(max: u32, window_seconds: i64) -> Rate {
    Rate::new(max, Duration::seconds(window_seconds))
}

/// Whether `origin` is a browser origin: `http(s)://host[:port]`, no path.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty() && !rest.contains(['/', '?', '#', ' ', '@'])
}

impl Settings {
    pub(crate) fn validate_limits(&self) -> anyhow::Result<()> {
        for (name, seconds) in [
            ("rate_limit_login_window_seconds", self.rate_limit_login_window_seconds),
            (
                "rate_limit_register_window_seconds",
                self.rate_limit_register_window_seconds,
            ),
            (
                "rate_limit_password_reset_window_seconds",
                self.rate_limit_password_reset_window_seconds,
            ),
            (
                "rate_limit_two_factor_window_seconds",
                self.rate_limit_two_factor_window_seconds,
            ),
            (
                "login_throttle_base_delay_seconds",
                self.login_throttle_base_delay_seconds,
            ),
            (
                "login_throttle_max_delay_seconds",
                self.login_throttle_max_delay_seconds,
            ),
            ("login_throttle_reset_seconds", self.login_throttle_reset_seconds),
        ] {
            if !(1..=366 * 86_400).contains(&seconds) {
                bail!("{name} must be between 1 and 31622400 (a year)");
            }
        }
        if self.login_throttle_base_delay_seconds > self.login_throttle_max_delay_seconds {
            bail!("login_throttle_base_delay_seconds must not exceed login_throttle_max_delay_seconds");
        }
        if let Some(url) = self.redis_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("redis+unix://")) {
                bail!("redis_url must be a redis://, rediss:// or redis+unix:// URL");
            }
            roster_core::limit::redis::RedisCounters::new(url, &self.redis_key_prefix)
                .map_err(|e| anyhow::anyhow!("redis_url: {e}"))?;
        }
        if self.redis_key_prefix.len() > 64 || self.redis_key_prefix.chars().any(char::is_whitespace) {
            bail!("redis_key_prefix must be at most 64 characters without spaces");
        }
        for proxy in &self.trusted_proxies {
            proxy
                .parse::<IpNet>()
                .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?;
        }
        if !(1024..=1024 * 1024).contains(&self.max_header_bytes) {
            bail!("max_header_bytes must be between 1024 and 1048576");
        }
        if !(1..=3600).contains(&self.header_read_timeout_seconds) {
            bail!("header_read_timeout_seconds must be between 1 and 3600");
        }
        if self.request_timeout_seconds > 86_400 {
            bail!("request_timeout_seconds must be at most 86400 (0: no limit)");
        }
        for (name, value) in [
            ("frame_options", &self.frame_options),
            ("content_security_policy", &self.content_security_policy),
            ("referrer_policy", &self.referrer_policy),
        ] {
            if axum::http::HeaderValue::from_str(value.trim()).is_err() {
                bail!("{name} is not a valid header value");
            }
        }
        for origin in &self.cors_allowed_origins {
            if origin == "*" {
                if self.cors_allow_credentials {
                    bail!("cors_allowed_origins `*` cannot be combined with cors_allow_credentials");
                }
            } else if !is_origin(origin.trim_end_matches('/')) {
                bail!("cors_allowed_origins: `{origin}` is not an origin (http(s)://host[:port]) or *");
            }
        }
        Ok(())
    }

    /// The core's limit settings.
    pub(crate) fn limits(&self) -> LimitSettings {
        LimitSettings {
            login: rate(self.rate_limit_login_max, self.rate_limit_login_window_seconds),
            register: rate(self.rate_limit_register_max, self.rate_limit_register_window_seconds),
            password_reset: rate(
                self.rate_limit_password_reset_max,
                self.rate_limit_password_reset_window_seconds,
            ),
            two_factor: rate(
                self.rate_limit_two_factor_max,
                self.rate_limit_two_factor_window_seconds,
            ),
            throttle: Throttle {
                account_free_failures: self.login_throttle_account_failures,
                ip_free_failures: self.login_throttle_ip_failures,
                base_delay: Duration::seconds(self.login_throttle_base_delay_seconds),
                max_delay: Duration::seconds(self.login_throttle_max_delay_seconds),
                reset_after: Duration::seconds(self.login_throttle_reset_seconds),
            },
            redis_url: self.redis_url.as_deref().and_then(none_if_empty),
            redis_prefix: self.redis_key_prefix.clone(),
        }
    }

    /// The transport's limits, headers and CORS (the rest of [`HttpConfig`] as defaults).
    pub(crate) fn http_limits(&self) -> HttpConfig {
        HttpConfig {
            trusted_proxies: self.trusted_proxies.iter().filter_map(|p| p.parse().ok()).collect(),
            max_header_bytes: self.max_header_bytes,
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_seconds),
            request_timeout: std::time::Duration::from_secs(self.request_timeout_seconds),
            security_headers: SecurityHeaders {
                frame_options: none_if_empty(&self.frame_options),
                content_security_policy: none_if_empty(&self.content_security_policy),
                referrer_policy: none_if_empty(&self.referrer_policy),
                hsts_max_age_seconds: (self.hsts_max_age_seconds > 0).then_some(self.hsts_max_age_seconds),
            },
            cors: CorsSettings {
                allowed_origins: self.cors_allowed_origins.clone(),
                allow_credentials: self.cors_allow_credentials,
                max_age_seconds: self.cors_max_age_seconds,
            },
            ..HttpConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_settings_are_checked() {
        let ok = Settings::default();
        assert!(ok.validate_limits().is_ok());
        let check = |change: &dyn Fn(&mut Settings), needle: &str| {
            let mut s = Settings::default();
            change(&mut s);
            let e = s.validate_limits().unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        check(
            &|s| s.rate_limit_login_window_seconds = 0,
            "rate_limit_login_window_seconds",
        );
        check(
            &|s| s.login_throttle_base_delay_seconds = 1000,
            "login_throttle_base_delay_seconds",
        );
        check(&|s| s.redis_url = Some("http://x".into()), "redis_url");
        check(&|s| s.trusted_proxies = vec!["10.0.0.0/99".into()], "trusted_proxies");
        check(&|s| s.max_header_bytes = 10, "max_header_bytes");
        check(
            &|s| s.cors_allowed_origins = vec!["chat.example.org".into()],
            "cors_allowed_origins",
        );
        check(
            &|s| {
                s.cors_allowed_origins = vec!["*".into()];
                s.cors_allow_credentials = true;
            },
            "cors_allow_credentials",
        );
        let s = Settings {
            cors_allowed_origins: vec!["https://chat.example.org".into(), "http://localhost:3000/".into()],
            trusted_proxies: vec!["10.0.0.0/8".into(), "::1".into()],
            ..Settings::default()
        };
        assert!(s.validate_limits().is_ok());
        assert_eq!(s.http_limits().trusted_proxies.len(), 2);
        assert_eq!(s.limits().login, Rate::new(20, Duration::minutes(1)));
    }
}
