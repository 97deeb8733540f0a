//! What tells the core that a session, an API key or an account changed, so that it may
//! remember them between requests (see `Core`'s credential cache) and still refuse a revoked
//! credential on the next request.
//!
//! Two sources feed it. The store marks every change it commits in this process (every write
//! transaction but the last-use touches) at once, before the call returns. A watcher (the
//! store's `watch_changes`, run by `roster serve`) relays the changes other processes make:
//! PostgreSQL `LISTEN/NOTIFY` (triggers notify in the changing transaction, so the notice
//! follows the commit), or on SQLite a change counter that triggers keep and the watcher
//! polls. The watcher also proves the channel works, by a heartbeat: while no heartbeat came
//! within [`HEARTBEAT_LIFETIME`], [`AuthChanges::mark`] says so and the core reads the
//! database on every request (it never serves what it remembers without a working channel).

use crate::id::UserId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long one heartbeat keeps the channel counted as working. The watchers beat every
/// [`HEARTBEAT_INTERVAL`]; a channel that stops (a dropped connection, a database that no
/// longer answers) stops the cache within this time.
pub const HEARTBEAT_LIFETIME: Duration = Duration::from_millis(1000);
/// How often the watchers prove the channel works (and, on SQLite, poll the counter).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(200);

/// Past this many users named since the last change of everything, the next is recorded as
/// a change of everything (the map stays small).
const MAX_NAMED_USERS: usize = 4096;

/// The change marks (see the module). A remembered record is valid while no change of its user
/// (or of everything) was marked after its read began, and the channel works.
#[derive(Debug)]
pub struct AuthChanges {
    /// Counts marks; a read notes its value before it starts.
    counter: AtomicU64,
    /// Counts the changes this process committed (a subset of `counter`'s marks; see
    /// [`AuthChanges::committed_here`]).
    commits: AtomicU64,
    /// Reads begun before this are stale (a change of everything).
    floor: AtomicU64,
    /// Per user, reads begun before this are stale.
    users: Mutex<HashMap<UserId, u64>>,
    origin: Instant,
    /// Milliseconds since `origin` until which the channel counts as working (0: it does not).
    fresh_until: AtomicU64,
}

impl Default for AuthChanges {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthChanges {
    /// No watcher yet: nothing may be remembered until one beats.
    pub fn new() -> Self {
        Self {
            counter: AtomicU64::new(1),
            commits: AtomicU64::new(0),
            floor: AtomicU64::new(1),
            users: Mutex::new(HashMap::new()),
            origin: Instant::now(),
            fresh_until: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the channel works now.
    pub fn is_live(&self) -> bool {
        self.now_ms() < self.fresh_until.load(Ordering::Acquire)
    }

    /// The mark to note before reading a credential and its user from the database, or None
    /// when the channel does not work (read the database; remember nothing).
    pub fn mark(&self) -> Option<u64> {
        self.is_live().then(|| self.counter.load(Ordering::Acquire))
    }

    /// How many changes this process committed so far (not those relayed from elsewhere): a
    /// value read before a read of the database and unchanged after it means this process
    /// committed nothing in between.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    /// This process committed a change (the store calls it after the commit, before the
    /// caller answers): forget everything read before now, and count the commit.
    pub fn committed_here(&self) {
        self.commits.fetch_add(1, Ordering::AcqRel);
        self.changed_everything();
    }

    /// Whether a record of `user` read after `mark` is still valid.
    pub fn is_valid(&self, mark: u64, user: UserId) -> bool {
        if !self.is_live() || mark < self.floor.load(Ordering::Acquire) {
            return false;
        }
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.get(&user).is_none_or(|&changed| mark >= changed)
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Anything may have changed: forget everything read before now.
    pub fn changed_everything(&self) {
        let at = self.next();
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        self.floor.fetch_max(at, Ordering::AcqRel);
        users.clear();
    }

    /// `user`, a session or an API key of theirs changed: forget what was read of them before.
    pub fn changed_user(&self, user: UserId) {
        let at = self.next();
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if users.len() >= MAX_NAMED_USERS {
            self.floor.fetch_max(at, Ordering::AcqRel);
            users.clear();
        } else {
            users.insert(user, at);
        }
    }

    /// The channel was just proven to work. After a gap (or at the start) changes may have
    /// been missed: everything read before is forgotten first.
    pub fn heartbeat(&self) {
        let now = self.now_ms();
        if self.fresh_until.load(Ordering::Acquire) <= now {
            self.changed_everything();
        }
        let until = now.saturating_add(u64::try_from(HEARTBEAT_LIFETIME.as_millis()).unwrap_or(u64::MAX));
        self.fresh_until.store(until, Ordering::Release);
    }

    /// The channel is known to be down: read the database until the next heartbeat.
    pub fn lost(&self) {
        self.fresh_until.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_valid_without_a_heartbeat() {
        let changes = AuthChanges::new();
        assert_eq!(changes.mark(), None);
        changes.heartbeat();
        let mark = changes.mark().unwrap();
        assert!(changes.is_valid(mark, UserId(1)));
        changes.lost();
        assert_eq!(changes.mark(), None);
        assert!(!changes.is_valid(mark, UserId(1)));
        // Back: what was read before the gap stays forgotten.
        changes.heartbeat();
        assert!(!changes.is_valid(mark, UserId(1)));
        assert!(changes.is_valid(changes.mark().unwrap(), UserId(1)));
    }

    #[test]
    fn a_change_forgets_reads_begun_before_it() {
        let changes = AuthChanges::new();
        changes.heartbeat();
        let before = changes.mark().unwrap();
        changes.changed_user(UserId(7));
        assert!(!changes.is_valid(before, UserId(7)));
        assert!(changes.is_valid(before, UserId(8)));
        let after = changes.mark().unwrap();
        assert!(changes.is_valid(after, UserId(7)));
        changes.changed_everything();
        assert!(!changes.is_valid(after, UserId(8)));
        assert!(changes.is_valid(changes.mark().unwrap(), UserId(8)));
    }

    #[test]
    fn many_named_users_become_a_change_of_everything() {
        let changes = AuthChanges::new();
        changes.heartbeat();
        let before = changes.mark().unwrap();
        for id in 1..=i64::try_from(MAX_NAMED_USERS).unwrap() + 1 {
            changes.changed_user(UserId(id));
        }
        assert!(!changes.is_valid(before, UserId(1_000_000)));
        assert!(changes.users.lock().unwrap().len() < MAX_NAMED_USERS);
    }
}
