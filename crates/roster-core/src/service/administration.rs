//! What an administrator sees and does to one user's credentials beyond the calls every
//! route already has (the admin console's user page): the user's sessions and API keys, each
//! revoked on its own; and the password check an administrator passes again before a
//! dangerous change when their sign-in is old.

use super::users::not_found;
use super::{Actor, Authority, ClientMeta, Core};
use crate::error::{Error, Result};
use crate::id::{ApiKeyId, SessionId, UserId};
use crate::journal::{audit, event};
use crate::store::{ApiKey, Session};
use serde_json::json;

impl Core {
    /// Checks the caller's own password again (before a dangerous change, when their sign-in
    /// is old), throttled as a login is ([`Core::verify_current_password`]: 429 while the
    /// account or the address is locked). A wrong password is [`Error::InvalidCredentials`].
    pub async fn confirm_own_password(&self, actor: &Actor, password: &str, meta: &ClientMeta) -> Result<()> {
        let user = self.store.get_user(actor.user.id).await.map_err(not_found("user"))?;
        if self.verify_current_password(&user, password, meta).await? {
            Ok(())
        } else {
            Err(Error::InvalidCredentials)
        }
    }

    /// A user's sessions, newest first (administrators and the operator).
    pub async fn list_user_sessions(&self, by: impl Into<Authority<'_>>, user: UserId) -> Result<Vec<Session>> {
        by.into().require_admin()?;
        self.store.get_user(user).await.map_err(not_found("user"))?;
        Ok(self.store.list_sessions(user).await?)
    }

    /// Revokes one session of a user (administrators, see [`Core::administer`]; and the
    /// operator): audited as `session.revoke` with the session's id.
    pub async fn revoke_user_session(&self, by: impl Into<Authority<'_>>, user: UserId, id: SessionId) -> Result<()> {
        let by = self.administer(by.into(), user).await?;
        let details = json!({ "session_id": id.to_string(), "reason": "revoked_by_admin" });
        let journal = self
            .journal(by)
            .event(event::SESSION_REVOKED, user, details.clone())
            .audit(audit::SESSION_REVOKE, Some(user), details)
            .build();
        self.store
            .delete_session(user, id, &journal)
            .await
            .map_err(not_found("session"))?;
        tracing::info!(user = %user, session = %id, "session revoked by an administrator");
        Ok(())
    }

    /// A user's API keys, never their secrets (administrators and the operator).
    pub async fn list_user_api_keys(&self, by: impl Into<Authority<'_>>, user: UserId) -> Result<Vec<ApiKey>> {
        by.into().require_admin()?;
        self.store.get_user(user).await.map_err(not_found("user"))?;
        Ok(self.store.list_api_keys(user).await?)
    }

    /// Revokes one API key of a user, at once (administrators, see [`Core::administer`]; and
    /// the operator): audited as `api_key.revoke`.
    pub async fn revoke_user_api_key(&self, by: impl Into<Authority<'_>>, user: UserId, id: ApiKeyId) -> Result<()> {
        let by = self.administer(by.into(), user).await?;
        let details = json!({ "key_id": id.to_string(), "by": "administrator" });
        let journal = self
            .journal(by)
            .event(event::API_KEY_REVOKED, user, details.clone())
            .audit(audit::API_KEY_REVOKE, Some(user), details)
            .build();
        self.store
            .delete_api_key(user, id, &journal)
            .await
            .map_err(not_found("API key"))?;
        tracing::info!(user = %user, key = %id, "API key revoked by an administrator");
        Ok(())
    }
}

/// How many days the dashboard charts (today included), as sign-ups are.
pub const ACTIVITY_DAYS: i64 = super::stats::SIGNUP_DAYS;

/// The most the dashboard counts of one backlog ("more than" past it).
pub const BACKLOG_CAP: i64 = 100_000;

/// The platform's activity as the admin dashboard shows it, read by indexes only (the hourly
/// counters kept with the audit trail, the outbox's and the deliveries' positions).
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// Successful sign-ins per UTC day for [`ACTIVITY_DAYS`] days, oldest first, every day listed.
    pub logins_by_day: Vec<(time::Date, i64)>,
    /// Refused sign-ins in the last 24 hours (counted by the hour: the current hour and the 24
    /// before it).
    pub failed_logins_24h: i64,
    /// Sign-ins refused by the login throttle in the same hours.
    pub throttled_24h: i64,
    /// The outbox's backlog behind its slowest reader; None without a webhook subscription.
    pub outbox: Option<crate::store::OutboxLag>,
    /// Each webhook subscription's lag.
    pub subscriptions: Vec<crate::store::SubscriptionLag>,
}

const HOUR_SECONDS: i64 = 3_600;

impl Core {
    /// The platform's activity for the dashboard (administrators and the operator); every
    /// backlog is counted up to [`BACKLOG_CAP`].
    pub async fn activity(&self, by: impl Into<Authority<'_>>) -> Result<Activity> {
        by.into().require_admin()?;
        let now = self.clock.now();
        let today = now.date();
        let first_day = today - time::Duration::days(ACTIVITY_DAYS - 1);
        let since_hour = first_day
            .midnight()
            .assume_utc()
            .unix_timestamp()
            .div_euclid(HOUR_SECONDS);
        let now_hour = now.unix_timestamp().div_euclid(HOUR_SECONDS);
        let report = self.store.activity_report(since_hour, BACKLOG_CAP).await?;
        let sum = |metric: &str, hours: std::ops::RangeInclusive<i64>| -> i64 {
            report
                .counts
                .iter()
                .filter(|(m, h, _)| m == metric && hours.contains(h))
                .map(|(_, _, n)| n)
                .sum()
        };
        let logins_by_day = (0..ACTIVITY_DAYS)
            .map(|i| {
                let day = first_day + time::Duration::days(i);
                let start = day.midnight().assume_utc().unix_timestamp().div_euclid(HOUR_SECONDS);
                (day, sum(crate::journal::metric::LOGIN, start..=start + 23))
            })
            .collect();
        let last_day = now_hour - 24..=now_hour;
        Ok(Activity {
            logins_by_day,
            failed_logins_24h: sum(crate::journal::metric::LOGIN_FAILURE, last_day.clone()),
            throttled_24h: sum(crate::journal::metric::LOGIN_THROTTLED, last_day),
            outbox: report.outbox,
            subscriptions: report.subscriptions,
        })
    }

    /// A user's credit ledger, newest first (administrators and the operator): at most
    /// `limit` (1 to [`super::balances::MAX_LEDGER_PAGE`]) transactions after `before` in that
    /// order (the last one of the page before: its time and id; None: from the newest).
    pub async fn user_balance_transactions(
        &self,
        by: impl Into<Authority<'_>>,
        user: UserId,
        before: Option<(time::OffsetDateTime, i64)>,
        limit: i64,
    ) -> Result<Vec<crate::store::BalanceTransaction>> {
        by.into().require_admin()?;
        super::balances::check_ledger_limit(limit)?;
        self.store.get_user(user).await.map_err(not_found("user"))?;
        Ok(self.store.list_balance_transactions_before(user, before, limit).await?)
    }
}
