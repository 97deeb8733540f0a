//! Bans: an administrator shuts a user out until a time. A ban refuses login, refresh and
//! every request made with a session or an API key (see `User::ensure_may_sign_in_at`), on
//! every instance, and ends by itself. When its time has run out, the delivery worker clears
//! it and records `user.unbanned` ([`Core::end_expired_bans`]), so the webhooks and the SCIM
//! targets hear that the user is back as they hear of any other change.

use super::users::not_found;
use super::{Authority, Core};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::journal::{audit, event};
use crate::user::{User, validate_text};
use time::Duration;

/// The most expired bans one store call ends (a round ends them all, in batches).
const EXPIRED_BANS_PER_BATCH: u32 = 500;

/// The longest ban: 100 years (for "forever", deactivate or delete the account instead).
pub const MAX_BAN: Duration = Duration::days(36_525);

/// Parses a ban or expiry length: whole minutes (`60`, as LibreChat's `ban-user` takes it) or
/// a number with a unit: `s`, `m`, `h`, `d`, `w` (`90m`, `24h`, `7d`).
pub fn parse_duration(field: &'static str, raw: &str) -> Result<Duration> {
    let s = raw.trim().to_ascii_lowercase();
    let bad = || {
        Error::invalid(
            field,
            format!("{raw:?} is not a duration: use minutes (60) or 90m, 24h, 7d"),
        )
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let seconds_per_unit = match unit.trim() {
        "" | "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return Err(bad()),
    };
    let seconds = n.checked_mul(seconds_per_unit).ok_or_else(bad)?;
    if seconds <= 0 {
        return Err(Error::invalid(field, "must be longer than zero"));
    }
    Ok(Duration::seconds(seconds))
}

impl Core {
    /// Bans a user for `duration`, replacing any ban in force (administrators, not oneself nor
    /// the primary administrator, see [`Core::administer`]; and the operator). The last active
    /// administrator who is not banned cannot be banned.
    pub async fn ban_user(
        &self,
        by: impl Into<Authority<'_>>,
        id: UserId,
        duration: Duration,
        reason: Option<&str>,
    ) -> Result<User> {
        let by = self.administer(by.into(), id).await?;
        if by == Some(id) {
            return Err(Error::Forbidden(crate::error::Refusal::CannotBanSelf));
        }
        if duration <= Duration::ZERO {
            return Err(Error::invalid("duration", "must be longer than zero"));
        }
        if duration > MAX_BAN {
            return Err(Error::invalid("duration", "must be at most 100 years"));
        }
        let reason = reason.map(|r| validate_text("reason", r, 500)).transpose()?.flatten();
        let now = self.clock.now();
        let user = self.store.get_user(id).await.map_err(not_found("user"))?;
        let until = now + duration;
        let details = serde_json::json!({ "until": crate::user::rfc3339(until), "reason": reason });
        let journal = self
            .journal(by)
            .event(
                event::USER_BANNED,
                id,
                serde_json::json!({ "until": crate::user::rfc3339(until) }),
            )
            .audit(audit::USER_BAN, Some(id), details)
            .build();
        let banned = self
            .store
            .set_user_ban(
                id,
                Some(until),
                reason.as_deref(),
                user.is_active_admin(),
                now,
                &journal,
            )
            .await
            .map_err(not_found("user"))?;
        tracing::info!(user = %id, until = %crate::user::rfc3339(until), "user banned");
        Ok(banned)
    }

    /// Lifts a user's ban (a user without one is left as is): administrators (see
    /// [`Core::administer`]) and the operator; `user.unbanned` only when a ban was in force.
    pub async fn unban_user(&self, by: impl Into<Authority<'_>>, id: UserId) -> Result<User> {
        let by = self.administer(by.into(), id).await?;
        let now = self.clock.now();
        let current = self.store.get_user(id).await.map_err(not_found("user"))?;
        let mut journal = self
            .journal(by)
            .audit(audit::USER_UNBAN, Some(id), serde_json::json!({}));
        if current.banned_until.is_some_and(|t| t > now) {
            journal = journal.event(event::USER_UNBANNED, id, serde_json::json!({}));
        }
        let user = self
            .store
            .set_user_ban(id, None, None, false, now, &journal.build())
            .await
            .map_err(not_found("user"))?;
        tracing::info!(user = %id, "ban lifted");
        Ok(user)
    }

    /// Ends the bans whose time has run out by the core's clock: each is cleared and
    /// `user.unbanned` (`{"expired": true}`) is recorded in the same transaction, so webhooks,
    /// `GET /v1/events` and the SCIM targets hear of it as of any other change. The delivery
    /// worker runs it every round. Idempotent and safe with several instances: a ban is
    /// cleared, and announced, once. Returns the users whose ban ended.
    pub async fn end_expired_bans(&self) -> Result<Vec<UserId>> {
        let now = self.clock.now();
        let journal = |user: UserId| {
            self.journal(None)
                .event(event::USER_UNBANNED, user, serde_json::json!({ "expired": true }))
                .build()
        };
        let mut ended = Vec::new();
        loop {
            let batch = self
                .store
                .end_expired_bans(now, EXPIRED_BANS_PER_BATCH, &journal)
                .await?;
            let full = batch.len() == EXPIRED_BANS_PER_BATCH as usize;
            ended.extend(batch);
            if !full {
                break;
            }
        }
        if !ended.is_empty() {
            tracing::info!(users = ended.len(), "expired bans ended");
        }
        Ok(ended)
    }

    /// Users whose ban is in force, the soonest to end first (administrators and the operator).
    pub async fn list_bans(&self, by: impl Into<Authority<'_>>) -> Result<Vec<User>> {
        by.into().require_admin()?;
        Ok(self.store.list_banned_users(self.clock.now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("d", "60").unwrap(), Duration::minutes(60));
        assert_eq!(parse_duration("d", "90m").unwrap(), Duration::minutes(90));
        assert_eq!(parse_duration("d", "24h").unwrap(), Duration::hours(24));
        assert_eq!(parse_duration("d", " 7d ").unwrap(), Duration::days(7));
        assert_eq!(parse_duration("d", "2w").unwrap(), Duration::weeks(2));
        assert_eq!(parse_duration("d", "30s").unwrap(), Duration::seconds(30));
        for bad in ["", "0", "-5", "h", "5y", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration("d", bad).is_err(), "{bad}");
        }
    }
}
