//! Statistics over all users, for the admin command line.

use super::{Authority, Core};
use crate::error::Result;
use time::{Date, Duration, OffsetDateTime};

/// How many days of sign-ups [`UserStats::signups_by_day`] covers (today included).
pub const SIGNUP_DAYS: i64 = 30;

/// Totals and activity.
#[derive(Debug, Clone, PartialEq)]
pub struct UserStats {
    pub total: i64,
    /// Users per role, every role listed.
    pub by_role: Vec<(String, i64)>,
    /// Users per sign-in provider.
    pub by_provider: Vec<(String, i64)>,
    pub email_verified: i64,
    pub email_unverified: i64,
    pub active: i64,
    pub deactivated: i64,
    /// Bans in force now.
    pub banned: i64,
    /// Sign-ups per UTC day for the last 30 days, oldest first, days without sign-ups included.
    pub signups_by_day: Vec<(Date, i64)>,
    /// Users seen (a login or a request) in the last 24 hours, 7 days and 30 days.
    pub active_last_24_hours: i64,
    pub active_last_7_days: i64,
    pub active_last_30_days: i64,
}

const DAY_SECONDS: i64 = 86_400;

impl Core {
    /// Statistics over all users (administrators and the operator).
    pub async fn user_stats(&self, by: impl Into<Authority<'_>>) -> Result<UserStats> {
        by.into().require_admin()?;
        let now = self.clock.now();
        let today = now.date();
        let first_day = today - Duration::days(SIGNUP_DAYS - 1);
        let since = first_day.midnight().assume_utc();
        let windows = [
            now - Duration::hours(24),
            now - Duration::days(7),
            now - Duration::days(30),
        ];
        let counts = self.store.user_counts(now, since, &windows).await?;
        let epoch_day = |date: Date| (date.midnight().assume_utc().unix_timestamp()).div_euclid(DAY_SECONDS);
        let signups_by_day = (0..SIGNUP_DAYS)
            .map(|i| {
                let day = first_day + Duration::days(i);
                let n = counts
                    .signups_by_day
                    .iter()
                    .find(|(d, _)| *d == epoch_day(day))
                    .map_or(0, |(_, n)| *n);
                (day, n)
            })
            .collect();
        let mut by_role = counts.by_role.clone();
        for role in ["admin", "user", "pending"] {
            if !by_role.iter().any(|(r, _)| r == role) {
                by_role.push((role.to_string(), 0));
            }
        }
        let rank = |r: &str| ["admin", "user", "pending"].iter().position(|x| *x == r).unwrap_or(3);
        by_role.sort_by_key(|(r, _)| rank(r));
        let window = |i: usize| counts.active_since.get(i).copied().unwrap_or(0);
        Ok(UserStats {
            total: counts.total,
            by_role,
            by_provider: counts.by_provider,
            email_verified: counts.email_verified,
            email_unverified: counts.total - counts.email_verified,
            active: counts.active,
            deactivated: counts.total - counts.active,
            banned: counts.banned,
            signups_by_day,
            active_last_24_hours: window(0),
            active_last_7_days: window(1),
            active_last_30_days: window(2),
        })
    }
}

/// How long the admin dashboard reuses the totals of [`Core::cached_user_stats`]: they count
/// every user (full scans at 1,000,000 users), so a page view does not recount them.
pub const STATS_CACHE_TTL: Duration = Duration::seconds(30);

impl Core {
    /// [`Core::user_stats`] as counted at most [`STATS_CACHE_TTL`] ago (administrators and the
    /// operator), with when they were counted. One request at a time counts (at a million users
    /// counting takes a while); while it does, the others get the previous counts with their
    /// older time, or wait for the first counts.
    pub async fn cached_user_stats(&self, by: impl Into<Authority<'_>>) -> Result<(UserStats, OffsetDateTime)> {
        let by = by.into();
        by.require_admin()?;
        if let Some(fresh) = self.remembered_stats(true) {
            return Ok(fresh);
        }
        let _counting = match self.stats_counting.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.remembered_stats(false) {
                Some(previous) => return Ok(previous),
                None => self.stats_counting.lock().await,
            },
        };
        // Another request may have counted while this one waited.
        if let Some(fresh) = self.remembered_stats(true) {
            return Ok(fresh);
        }
        let now = self.clock.now();
        let stats = self.user_stats(by).await?;
        if let Ok(mut cache) = self.stats_cache.lock() {
            *cache = Some((now, stats.clone()));
        }
        Ok((stats, now))
    }

    /// The remembered counts and when they were made; with `fresh`, only if made less than
    /// [`STATS_CACHE_TTL`] ago.
    fn remembered_stats(&self, fresh: bool) -> Option<(UserStats, OffsetDateTime)> {
        let now = self.clock.now();
        let (at, stats) = self.stats_cache.lock().ok().and_then(|c| c.clone())?;
        (!fresh || (at <= now && now - at < STATS_CACHE_TTL)).then_some((stats, at))
    }
}

/// The whole days since the Unix epoch of a time (what the stores group sign-ups by).
pub fn epoch_day(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(DAY_SECONDS)
}
