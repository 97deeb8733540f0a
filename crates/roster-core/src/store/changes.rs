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

/// How long a change announced as pending (before its commit) keeps its user out of the
/// caches when its done message never comes (the writer died between the two).
pub const PENDING_LIFETIME: Duration = Duration::from_secs(5);

/// A channel that relays changes and must beat for the caches to be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// PostgreSQL `LISTEN/NOTIFY`, or SQLite's change counter: always required.
    Database,
    /// Redis pub/sub: required once [`AuthChanges::require`] names it.
    Redis,
}

impl Channel {
    fn index(self) -> usize {
        match self {
            Channel::Database => 0,
            Channel::Redis => 1,
        }
    }
}

/// Past this many changes pending at once, the next is taken as pending for anyone.
const MAX_PENDING: usize = 256;

/// Per user, the mark of their last change; and the changes announced as pending.
#[derive(Debug, Default)]
struct Marks {
    changed: HashMap<UserId, u64>,
    pending: Vec<Pending>,
}

/// A change announced before its commit.
#[derive(Debug)]
struct Pending {
    token: u64,
    /// None: anyone.
    users: Option<Vec<UserId>>,
    /// Milliseconds since `origin` after which it no longer keeps anyone out.
    until: u64,
}

/// The change marks (see the module). A remembered record is valid while no change of its user
/// (or of everything) was marked after its read began, and the channel works.
#[derive(Debug)]
pub struct AuthChanges {
    /// Counts marks; a read notes its value before it starts.
    counter: AtomicU64,
    /// Counts the changes this process committed (a subset of `counter`'s marks; see
    /// [`AuthChanges::committed_here`]).
    commits: AtomicU64,
    /// How many users are pending (0 spares the clock read on the hot path).
    pending_count: AtomicU64,
    /// Reads begun before this are stale (a change of everything).
    floor: AtomicU64,
    /// Per user, reads begun before this are stale; and the users pending.
    users: Mutex<Marks>,
    origin: Instant,
    /// Per [`Channel`], milliseconds since `origin` until which it counts as working (0: it
    /// does not).
    fresh_until: [AtomicU64; 2],
    /// Whether the Redis channel must beat too.
    redis_required: std::sync::atomic::AtomicBool,
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
            pending_count: AtomicU64::new(0),
            floor: AtomicU64::new(1),
            users: Mutex::new(Marks::default()),
            origin: Instant::now(),
            fresh_until: [AtomicU64::new(0), AtomicU64::new(0)],
            redis_required: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// From now on the caches also need `channel`'s heartbeat (called once, before the
    /// watchers start).
    pub fn require(&self, channel: Channel) {
        if channel == Channel::Redis {
            self.redis_required.store(true, Ordering::Release);
        }
    }

    /// Whether `channel`'s heartbeat is required.
    pub fn requires(&self, channel: Channel) -> bool {
        match channel {
            Channel::Database => true,
            Channel::Redis => self.redis_required.load(Ordering::Acquire),
        }
    }

    fn ms(duration: Duration) -> u64 {
        u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the channels work now.
    pub fn is_live(&self) -> bool {
        let now = self.now_ms();
        now < self.fresh_until[0].load(Ordering::Acquire)
            && (!self.redis_required.load(Ordering::Acquire) || now < self.fresh_until[1].load(Ordering::Acquire))
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

    /// Whether a record of `user` read after `mark` is still valid (and no change of theirs
    /// is pending).
    pub fn is_valid(&self, mark: u64, user: UserId) -> bool {
        if !self.is_live() || mark < self.floor.load(Ordering::Acquire) {
            return false;
        }
        let now = self.has_pending().then(|| self.now_ms());
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(now) = now
            && users
                .pending
                .iter()
                .any(|p| p.until > now && p.users.as_ref().is_none_or(|u| u.contains(&user)))
        {
            return false;
        }
        users.changed.get(&user).is_none_or(|&changed| mark >= changed)
    }

    fn has_pending(&self) -> bool {
        self.pending_count.load(Ordering::Acquire) != 0
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Anything may have changed: forget everything read before now.
    pub fn changed_everything(&self) {
        let at = self.next();
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        self.floor.fetch_max(at, Ordering::AcqRel);
        users.changed.clear();
    }

    /// `user`, a session or an API key of theirs changed: forget what was read of them before.
    pub fn changed_user(&self, user: UserId) {
        let at = self.next();
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if users.changed.len() >= MAX_NAMED_USERS {
            self.floor.fetch_max(at, Ordering::AcqRel);
            users.changed.clear();
        } else {
            users.changed.insert(user, at);
        }
    }

    /// Another process is about to commit a change of `users` (None: of anyone), under
    /// `token` (the writer's own number for this change): forget what was read of them, and
    /// serve nothing of them from memory until [`AuthChanges::done`] names the same token or
    /// [`PENDING_LIFETIME`] passes.
    pub fn pending(&self, token: u64, users: Option<Vec<UserId>>) {
        let now = self.now_ms();
        let until = now.saturating_add(Self::ms(PENDING_LIFETIME));
        let users = {
            let mut marks = self.users.lock().unwrap_or_else(|e| e.into_inner());
            marks.pending.retain(|p| p.until > now);
            let users = if marks.pending.len() >= MAX_PENDING {
                None
            } else {
                users
            };
            marks.pending.push(Pending {
                token,
                users: users.clone(),
                until,
            });
            self.pending_count.store(marks.pending.len() as u64, Ordering::Release);
            users
        };
        self.forget(users.as_deref());
    }

    fn forget(&self, users: Option<&[UserId]>) {
        match users {
            Some(users) => users.iter().for_each(|&user| self.changed_user(user)),
            None => self.changed_everything(),
        }
    }

    /// The change announced by [`AuthChanges::pending`] under `token` is committed (or
    /// abandoned): forget what was read of `users` (None: of anyone) before now.
    pub fn done(&self, token: u64, users: Option<&[UserId]>) {
        {
            let mut marks = self.users.lock().unwrap_or_else(|e| e.into_inner());
            marks.pending.retain(|p| p.token != token);
            self.pending_count.store(marks.pending.len() as u64, Ordering::Release);
        }
        self.forget(users);
    }

    /// The database channel was just proven to work (see [`AuthChanges::heartbeat_of`]).
    pub fn heartbeat(&self) {
        self.heartbeat_of(Channel::Database);
    }

    /// `channel` was just proven to work. After a gap (or at the start) changes may have
    /// been missed: everything read before is forgotten first.
    pub fn heartbeat_of(&self, channel: Channel) {
        let now = self.now_ms();
        let fresh = &self.fresh_until[channel.index()];
        if fresh.load(Ordering::Acquire) <= now {
            self.changed_everything();
        }
        fresh.store(now.saturating_add(Self::ms(HEARTBEAT_LIFETIME)), Ordering::Release);
    }

    /// The database channel is known to be down (see [`AuthChanges::lost_of`]).
    pub fn lost(&self) {
        self.lost_of(Channel::Database);
    }

    /// `channel` is known to be down: read the database until its next heartbeat.
    pub fn lost_of(&self, channel: Channel) {
        self.fresh_until[channel.index()].store(0, Ordering::Release);
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
        assert!(changes.users.lock().unwrap().changed.len() < MAX_NAMED_USERS);
    }

    #[test]
    fn a_pending_change_keeps_its_user_out_until_done() {
        let changes = AuthChanges::new();
        changes.heartbeat();
        changes.pending(1, Some(vec![UserId(7)]));
        // Two writers change user 7 at once.
        changes.pending(2, Some(vec![UserId(7)]));
        // Read after the pending message, before the commit: may be the old state.
        let during = changes.mark().unwrap();
        assert!(!changes.is_valid(during, UserId(7)));
        assert!(changes.is_valid(during, UserId(8)));
        changes.done(1, Some(&[UserId(7)]));
        assert!(!changes.is_valid(during, UserId(7)), "read before the commit");
        assert!(
            !changes.is_valid(changes.mark().unwrap(), UserId(7)),
            "the second change is still pending"
        );
        changes.done(2, Some(&[UserId(7)]));
        assert!(changes.is_valid(changes.mark().unwrap(), UserId(7)));

        changes.pending(3, None);
        let during = changes.mark().unwrap();
        assert!(!changes.is_valid(during, UserId(8)));
        changes.done(3, None);
        assert!(!changes.is_valid(during, UserId(8)));
        assert!(changes.is_valid(changes.mark().unwrap(), UserId(8)));
    }

    #[test]
    fn a_required_redis_channel_must_beat_too() {
        let changes = AuthChanges::new();
        changes.require(Channel::Redis);
        changes.heartbeat();
        assert_eq!(changes.mark(), None, "Redis has not beaten");
        changes.heartbeat_of(Channel::Redis);
        let mark = changes.mark().unwrap();
        assert!(changes.is_valid(mark, UserId(1)));
        changes.lost_of(Channel::Redis);
        assert!(!changes.is_valid(mark, UserId(1)));
        changes.heartbeat_of(Channel::Redis);
        assert!(!changes.is_valid(mark, UserId(1)), "read before the gap");
    }
}
