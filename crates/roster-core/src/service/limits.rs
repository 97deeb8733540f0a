//! Rate limits and login throttling, applied inside the services every dialect calls, so
//! that no route can go around them. Counters are in-process, or shared through Redis (see
//! [`crate::limit`]).

use super::Core;
use super::auth::ClientMeta;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::limit::{Limit, Rate};
use crate::user::User;
use time::Duration;

/// The throttle counters one login attempt touches.
#[derive(Debug, Clone)]
pub(crate) struct LoginKeys {
    /// The account: its id when it exists, else a digest of the login as typed (so unknown
    /// accounts are throttled exactly like known ones, and answers do not tell them apart).
    account: String,
    /// The client address, when known.
    ip: Option<String>,
}

impl LoginKeys {
    fn all(&self) -> Vec<String> {
        std::iter::once(self.account.clone()).chain(self.ip.clone()).collect()
    }
}

fn account_key(user: UserId) -> String {
    format!("throttle:account:{user}")
}

/// Whole seconds to wait, rounded up (at least one).
fn retry_after(wait: Duration) -> std::time::Duration {
    let millis = wait.whole_milliseconds().max(1);
    std::time::Duration::from_secs(((millis + 999) / 1000).clamp(1, i128::from(u32::MAX)) as u64)
}

fn client_key(meta: &ClientMeta) -> &str {
    meta.ip.as_deref().unwrap_or("unknown")
}

impl Core {
    /// The configured rate of a named limit.
    pub fn rate_of(&self, limit: Limit) -> Rate {
        let limits = &self.config.limits;
        match limit {
            Limit::Login => limits.login,
            Limit::Register => limits.register,
            Limit::VerificationResend => Rate::new(
                self.config.verification_resend_max,
                self.config.verification_resend_window,
            ),
            Limit::PasswordReset => limits.password_reset,
            Limit::TwoFactor => limits.two_factor,
        }
    }

    /// Counts one event of `limit` for `key` (a client address, a user id, a challenge: the
    /// caller chooses); [`Error::RateLimited`] with the time to wait when over the limit.
    /// Two-factor code checks call `check_rate_limit(Limit::TwoFactor, &user_id)`.
    pub async fn check_rate_limit(&self, limit: Limit, key: &str) -> Result<()> {
        let rate = self.rate_of(limit);
        if rate.max == 0 {
            return Ok(());
        }
        let (count, left) = self
            .counters
            .hit(&format!("{}:{key}", limit.name()), rate.window, self.clock.now())
            .await;
        if count > u64::from(rate.max) {
            tracing::info!(limit = limit.name(), "rate limited");
            crate::telemetry::limit_hit(limit.name());
            return Err(Error::RateLimited {
                retry_after: retry_after(left),
            });
        }
        Ok(())
    }

    /// [`Core::check_rate_limit`] keyed by the client's address.
    pub async fn check_client_rate_limit(&self, limit: Limit, meta: &ClientMeta) -> Result<()> {
        self.check_rate_limit(limit, client_key(meta)).await
    }

    /// The throttle counters of a login attempt for `login` (normalised) by `meta`'s client.
    pub(crate) fn login_keys(&self, login: &str, user: Option<&User>, meta: &ClientMeta) -> LoginKeys {
        let account = match user {
            Some(user) => account_key(user.id),
            None => format!("throttle:login:{}", crate::token::digest(login)),
        };
        LoginKeys {
            account,
            ip: meta.ip.as_ref().map(|ip| format!("throttle:ip:{ip}")),
        }
    }

    /// Before a password is checked: the login rate limit of the client's address (when there
    /// is one), then the throttle locks of the account and the address. A locked attempt is
    /// refused without checking the password, and does not count as a failure.
    pub(crate) async fn ensure_login_allowed(&self, keys: &LoginKeys, meta: &ClientMeta) -> Result<()> {
        // Checks without a client (a password confirmed inside the process) share no address.
        if let Some(ip) = &meta.ip {
            self.check_rate_limit(Limit::Login, ip).await?;
        }
        if let Some(wait) = self.counters.locked_for(&keys.all(), self.clock.now()).await {
            crate::telemetry::limit_hit("login_throttle");
            return Err(Error::RateLimited {
                retry_after: retry_after(wait),
            });
        }
        Ok(())
    }

    /// After a wrong password (or an unknown account): counts the failure for the account and
    /// the address, and locks either once it is past its free failures.
    pub(crate) async fn record_login_failure(&self, keys: &LoginKeys) {
        let throttle = self.config.limits.throttle;
        let now = self.clock.now();
        let counted = [
            (Some(&keys.account), throttle.account_free_failures),
            (keys.ip.as_ref(), throttle.ip_free_failures),
        ];
        for (key, free) in counted {
            let Some(key) = key.filter(|_| free > 0) else {
                continue;
            };
            let failures = self.counters.add_failure(key, throttle.reset_after, now).await;
            if let Some(delay) = throttle.delay_after(failures, free) {
                let scope = if key.starts_with("throttle:ip:") {
                    "address"
                } else {
                    "account"
                };
                tracing::warn!(
                    scope,
                    failures,
                    delay_ms = delay.whole_milliseconds() as i64,
                    "login throttled"
                );
                self.counters.lock(key, delay, now).await;
            }
        }
    }

    /// After a correct password: the account's failures are forgotten (the address's are not,
    /// so one known password does not let a client spray others).
    pub(crate) async fn record_login_success(&self, keys: &LoginKeys) {
        self.counters.clear(&keys.account).await;
    }

    /// Forgets a user's login failures and lock: after a password reset.
    pub(crate) async fn clear_login_throttle(&self, user: UserId) {
        self.counters.clear(&account_key(user)).await;
    }

    /// Whether rate-limit counters are shared through Redis.
    pub fn limits_shared(&self) -> bool {
        self.counters.shared()
    }
}
