//! Remembered counts of matching users. A listing with a total (the admin console, Open WebUI's
//! and Langflow's user lists, SCIM) counted every match on every page, which at a million users
//! costs more than the page itself. A count is remembered per filter for at most
//! [`COUNT_LIFETIME`], and forgotten at once when this process commits any change
//! ([`crate::store::AuthChanges::commits`]): the instance that made a change counts it on its
//! next request, and a change made elsewhere (another instance, an admin command) shows once
//! the count expires and is counted again: after [`COUNT_LIFETIME`], plus the time of that one
//! recount (at most [`RECOUNT_PATIENCE`]) during which the other requests keep the old count.
//!
//! One filter is counted by one request at a time: after a change of this instance's, the
//! requests that need the new count wait for the one counting it instead of each counting (a
//! million-row count under load takes most of a second on PostgreSQL, and a herd of them took
//! every connection).

use super::Core;
use crate::error::Result;
use crate::store::{UserFilters, UserQuery};
use crate::user::Role;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a count is remembered without a change of this instance's.
pub const COUNT_LIFETIME: Duration = Duration::from_secs(1);
/// How long the others keep the expired count while one caller counts again (a count that
/// takes longer, or failed, is counted again by the next caller).
const RECOUNT_PATIENCE: Duration = Duration::from_secs(2);
/// How many filters' counts are remembered (the oldest is forgotten past it).
const MAX_COUNTS: usize = 64;

/// What a count depends on: the query without its position, order and limit.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CountKey {
    search: Option<String>,
    role: Option<Role>,
    active: Option<bool>,
    filters: UserFilters,
}

impl CountKey {
    pub(super) fn of(query: &UserQuery) -> Self {
        Self {
            search: query.search.clone(),
            role: query.role,
            active: query.active,
            filters: query.filters.clone(),
        }
    }

    /// A filter on bans depends on the instant it is asked at: never remembered.
    pub(super) fn is_timeless(&self) -> bool {
        self.filters.banned.is_none()
    }
}

#[derive(Debug)]
struct Counted {
    key: CountKey,
    /// This process's commit count, read before counting.
    generation: u64,
    at: Instant,
    total: i64,
    /// When a caller started counting it again (see [`CountCache::get`]).
    recount_from: Option<Instant>,
}

/// The remembered counts (see the module).
#[derive(Debug, Default)]
pub(super) struct CountCache {
    counted: Mutex<Vec<Counted>>,
    /// Per filter, the lock its counter holds (at most [`MAX_COUNTS`]; an older one is dropped,
    /// which at worst lets two requests count it at once).
    gates: Mutex<Vec<(CountKey, Arc<tokio::sync::Mutex<()>>)>>,
}

impl CountCache {
    /// The remembered count of `key` if it is still valid: counted since this process's
    /// commit count was `generation`. A count past its lifetime (but with no commit since) is
    /// handed to one caller to count again, and the others keep getting it meanwhile (for at
    /// most [`RECOUNT_PATIENCE`] more), so that a busy listing counts once when its count
    /// expires, not once per request in flight.
    fn get(&self, key: &CountKey, generation: u64, now: Instant) -> Option<i64> {
        let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        let entry = counted
            .iter_mut()
            .find(|c| &c.key == key && c.generation >= generation)?;
        let age = now.saturating_duration_since(entry.at);
        if age < COUNT_LIFETIME {
            return Some(entry.total);
        }
        match entry.recount_from {
            Some(started) if now.saturating_duration_since(started) < RECOUNT_PATIENCE => Some(entry.total),
            _ => {
                entry.recount_from = Some(now);
                None
            }
        }
    }

    /// A count of `key` made since `generation` and within its lifetime (what a caller that
    /// waited for another's count takes).
    fn fresh(&self, key: &CountKey, generation: u64, now: Instant) -> Option<i64> {
        let counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        counted
            .iter()
            .find(|c| &c.key == key && c.generation >= generation)
            .filter(|c| now.saturating_duration_since(c.at) < COUNT_LIFETIME)
            .map(|c| c.total)
    }

    /// The lock of `key`'s counter.
    fn gate(&self, key: &CountKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, gate)) = gates.iter().find(|(k, _)| k == key) {
            return gate.clone();
        }
        if gates.len() >= MAX_COUNTS {
            gates.remove(0);
        }
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        gates.push((key.clone(), gate.clone()));
        gate
    }

    fn put(&self, key: CountKey, generation: u64, at: Instant, total: i64) {
        let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        counted.retain(|c| c.key != key);
        if counted.len() >= MAX_COUNTS {
            counted.remove(0);
        }
        counted.push(Counted {
            key,
            generation,
            at,
            total,
            recount_from: None,
        });
    }
}

impl Core {
    /// How many users match `query` (its position and limit aside), remembered as the module
    /// says.
    pub(super) async fn count_matching_users(&self, query: &UserQuery) -> Result<i64> {
        let key = CountKey::of(query);
        if !key.is_timeless() {
            return Ok(self.store.count_matching_users(query).await?);
        }
        // The commit count is read before the count, so a change committed while counting makes
        // the count stale at once.
        let generation = self.changes.commits();
        if let Some(total) = self.user_counts.get(&key, generation, Instant::now()) {
            return Ok(total);
        }
        let gate = self.user_counts.gate(&key);
        let _counting = gate.lock().await;
        // Whoever held the lock may have counted what this request needs.
        if let Some(total) = self.user_counts.fresh(&key, generation, Instant::now()) {
            return Ok(total);
        }
        let generation = self.changes.commits();
        let total = self.store.count_matching_users(query).await?;
        self.user_counts.put(key, generation, Instant::now(), total);
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(search: &str) -> CountKey {
        CountKey::of(&UserQuery {
            search: Some(search.to_string()),
            ..UserQuery::default()
        })
    }

    #[test]
    fn a_count_holds_until_a_change_or_its_lifetime() {
        let cache = CountCache::default();
        let start = Instant::now();
        cache.put(key("ann"), 7, start, 3);
        assert_eq!(cache.get(&key("ann"), 7, start), Some(3));
        assert_eq!(cache.get(&key("bob"), 7, start), None);
        // A change marked since: counted again.
        assert_eq!(cache.get(&key("ann"), 8, start), None);
        // Past its lifetime: counted again by one caller, while the others keep the old count
        // until the new one is in, or until the recount has taken too long.
        let expired = start + COUNT_LIFETIME;
        assert_eq!(cache.get(&key("ann"), 7, expired), None);
        assert_eq!(cache.get(&key("ann"), 7, expired), Some(3));
        assert_eq!(cache.get(&key("ann"), 7, expired + RECOUNT_PATIENCE), None);
        // A new count replaces the old.
        cache.put(key("ann"), 8, start, 4);
        assert_eq!(cache.get(&key("ann"), 8, start), Some(4));
        // A caller that read an older commit count takes a newer count.
        assert_eq!(cache.get(&key("ann"), 7, start), Some(4));
        assert_eq!(cache.fresh(&key("ann"), 7, start), Some(4));
        assert_eq!(cache.fresh(&key("ann"), 9, start), None);
        assert_eq!(cache.fresh(&key("ann"), 8, start + COUNT_LIFETIME), None);
    }

    #[test]
    fn one_filter_has_one_gate() {
        let cache = CountCache::default();
        let first = cache.gate(&key("ann"));
        assert!(Arc::ptr_eq(&first, &cache.gate(&key("ann"))));
        assert!(!Arc::ptr_eq(&first, &cache.gate(&key("bob"))));
        for i in 0..MAX_COUNTS {
            cache.gate(&key(&format!("u{i}")));
        }
        assert_eq!(cache.gates.lock().unwrap().len(), MAX_COUNTS);
    }

    #[test]
    fn the_oldest_count_goes_first() {
        let cache = CountCache::default();
        let now = Instant::now();
        for i in 0..=MAX_COUNTS {
            cache.put(key(&format!("u{i}")), 1, now, i as i64);
        }
        assert_eq!(cache.get(&key("u0"), 1, now), None);
        assert_eq!(cache.get(&key("u1"), 1, now), Some(1));
        assert_eq!(
            cache.get(&key(&format!("u{MAX_COUNTS}")), 1, now),
            Some(MAX_COUNTS as i64)
        );
    }

    #[test]
    fn a_ban_filter_is_never_remembered() {
        let mut query = UserQuery::default();
        assert!(CountKey::of(&query).is_timeless());
        query.filters.banned = Some((true, time::OffsetDateTime::UNIX_EPOCH));
        assert!(!CountKey::of(&query).is_timeless());
    }
}
