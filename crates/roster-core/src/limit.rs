//! Rate limits and login throttling. Counters live in-process by default ([`MemoryCounters`])
//! and in Redis when a Redis URL is configured ([`redis::RedisCounters`]), so that limits hold
//! across every instance behind a load balancer. When Redis cannot be reached the counters
//! fall back to the in-process ones of this instance ([`Counters`]): requests are neither
//! refused wholesale nor left unlimited, each instance keeps counting on its own until
//! Redis answers again.

pub mod redis;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use time::{Duration, OffsetDateTime};

/// At most `max` events per `window` (`max` 0: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub max: u32,
    pub window: Duration,
}

impl Rate {
    /// `max` events per `window`.
    pub const fn new(max: u32, window: Duration) -> Self {
        Self { max, window }
    }

    /// No limit.
    pub const UNLIMITED: Rate = Rate {
        max: 0,
        window: Duration::seconds(1),
    };
}

/// The named rate limits. Each counts per key (a client address, or what the caller names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Every login attempt, per client address.
    Login,
    /// Every self-registration attempt, per client address.
    Register,
    /// Verification-mail resends, per client address.
    VerificationResend,
    /// Password-reset requests, per client address.
    PasswordReset,
    /// Two-factor code attempts, per user (or challenge) as the caller keys it.
    TwoFactor,
}

impl Limit {
    /// The limit's stable name (also its part of counter keys).
    pub fn name(self) -> &'static str {
        match self {
            Limit::Login => "login",
            Limit::Register => "register",
            Limit::VerificationResend => "verification_resend",
            Limit::PasswordReset => "password_reset",
            Limit::TwoFactor => "two_factor",
        }
    }
}

/// Login throttling: growing delays after repeated failures, per account and per client
/// address. After `*_free_failures` failures in a row, each further failure locks the
/// account (or address) for `base_delay` doubled per failure, at most `max_delay`. Attempts
/// during a lock are refused (429 with `Retry-After`) without checking the password and
/// without counting. Failures are forgotten `reset_after` after the last one; a successful
/// login forgets the account's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Failures per account before delays start (0: no account throttling).
    pub account_free_failures: u32,
    /// Failures per client address (over all accounts) before delays start (0: none).
    pub ip_free_failures: u32,
    /// The first delay.
    pub base_delay: Duration,
    /// The longest delay: the throttle window. No lock lasts longer.
    pub max_delay: Duration,
    /// How long failures are remembered after the last one.
    pub reset_after: Duration,
}

impl Throttle {
    /// The lock after the `failures`-th failure in a row, given `free` failures without one.
    pub fn delay_after(&self, failures: u64, free: u32) -> Option<Duration> {
        if free == 0 || failures <= u64::from(free) {
            return None;
        }
        let doublings = (failures - u64::from(free) - 1).min(40) as u32;
        let millis = self
            .base_delay
            .whole_milliseconds()
            .max(1)
            .saturating_mul(1i128 << doublings);
        let cap = self.max_delay.whole_milliseconds().max(1);
        Some(Duration::milliseconds(millis.min(cap) as i64))
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            account_free_failures: 5,
            ip_free_failures: 20,
            base_delay: Duration::seconds(1),
            max_delay: Duration::minutes(15),
            reset_after: Duration::hours(1),
        }
    }
}

/// Every limit's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    pub login: Rate,
    pub register: Rate,
    pub password_reset: Rate,
    pub two_factor: Rate,
    pub throttle: Throttle,
    /// `redis://...`: share the counters through Redis. None: in-process.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key Roster writes.
    pub redis_prefix: String,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            login: Rate::new(20, Duration::minutes(1)),
            register: Rate::new(5, Duration::hours(1)),
            password_reset: Rate::new(2, Duration::minutes(2)),
            two_factor: Rate::new(5, Duration::minutes(1)),
            throttle: Throttle::default(),
            redis_url: None,
            redis_prefix: "roster:".into(),
        }
    }
}

/// A counter store failed (Redis unreachable or erring).
#[derive(Debug, thiserror::Error)]
#[error("rate-limit counters unavailable: {0}")]
pub struct CounterError(pub String);

/// The time left until `until`, at least one millisecond.
fn left(until: OffsetDateTime, now: OffsetDateTime) -> Duration {
    (until - now).max(Duration::milliseconds(1))
}

/// How long Redis is left alone after a failure, milliseconds.
const SKIP_AFTER_FAILURE_MS: i64 = 1000;

/// How many keys are remembered before expired ones are swept.
const SWEEP_AT: usize = 10_000;

/// Counters in this process, timed by the core's clock.
#[derive(Debug, Default)]
pub struct MemoryCounters {
    /// key -> (count, forgotten at)
    counts: Mutex<HashMap<String, (u64, OffsetDateTime)>>,
    /// key -> locked until
    locks: Mutex<HashMap<String, OffsetDateTime>>,
}

impl MemoryCounters {
    /// Counts an event in the fixed window of `key` (a window starts with its first event):
    /// the count so far and the time left in the window.
    pub fn hit(&self, key: &str, window: Duration, now: OffsetDateTime) -> (u64, Duration) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= SWEEP_AT {
            counts.retain(|_, (_, until)| *until > now);
        }
        let entry = counts.entry(key.to_string()).or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        (entry.0, left(entry.1, now))
    }

    /// Counts a failure of `key`, remembered `reset_after` after this one; the count so far.
    pub fn add_failure(&self, key: &str, reset_after: Duration, now: OffsetDateTime) -> u64 {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= SWEEP_AT {
            counts.retain(|_, (_, until)| *until > now);
        }
        let entry = counts.entry(key.to_string()).or_insert((0, now));
        if entry.1 <= now {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = now + reset_after;
        entry.0
    }

    /// Locks `key` for `duration`.
    pub fn lock(&self, key: &str, duration: Duration, now: OffsetDateTime) {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.len() >= SWEEP_AT {
            locks.retain(|_, until| *until > now);
        }
        locks.insert(key.to_string(), now + duration);
    }

    /// The longest lock left on any of `keys`.
    pub fn locked_for(&self, keys: &[String], now: OffsetDateTime) -> Option<Duration> {
        let locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|k| locks.get(k))
            .filter(|until| **until > now)
            .map(|until| left(*until, now))
            .max()
    }

    /// Forgets the failures and lock of `key`.
    pub fn clear(&self, key: &str) {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// The counters the core uses: Redis when configured, else (and while Redis fails) the
/// in-process ones.
pub struct Counters {
    memory: MemoryCounters,
    redis: Option<redis::RedisCounters>,
    /// When Redis last failed (unix seconds), to warn once a minute rather than per request.
    last_warning: AtomicI64,
    /// Until when (unix milliseconds) Redis is not asked after a failure, so that a Redis that
    /// hangs costs one bounded wait a second rather than one per request.
    skip_until: AtomicI64,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl Counters {
    /// In-process counters, or Redis ones when `redis_url` is given (connected lazily).
    pub fn new(redis_url: Option<&str>, prefix: &str) -> crate::Result<Self> {
        let redis = match redis_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Some(redis::RedisCounters::new(url, prefix)?),
            None => None,
        };
        Ok(Self {
            memory: MemoryCounters::default(),
            redis,
            last_warning: AtomicI64::new(0),
            skip_until: AtomicI64::new(0),
        })
    }

    /// Whether the counters are shared through Redis.
    pub fn shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Redis, unless it failed within the last second.
    fn redis(&self) -> Option<&redis::RedisCounters> {
        let now = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        self.redis
            .as_ref()
            .filter(|_| now >= self.skip_until.load(Ordering::Relaxed))
    }

    fn fell_back(&self, error: &CounterError) {
        let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        self.skip_until.store(now_ms + SKIP_AFTER_FAILURE_MS, Ordering::Relaxed);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let last = self.last_warning.load(Ordering::Relaxed);
        if now - last >= 60
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%error, "Redis unreachable: rate limits count in this instance only until it answers");
        }
    }

    /// See [`MemoryCounters::hit`].
    pub async fn hit(&self, key: &str, window: Duration, now: OffsetDateTime) -> (u64, Duration) {
        if let Some(redis) = self.redis() {
            match redis.hit(key, window).await {
                Ok(r) => return r,
                Err(e) => self.fell_back(&e),
            }
        }
        self.memory.hit(key, window, now)
    }

    /// See [`MemoryCounters::add_failure`].
    pub async fn add_failure(&self, key: &str, reset_after: Duration, now: OffsetDateTime) -> u64 {
        if let Some(redis) = self.redis() {
            match redis.add_failure(key, reset_after).await {
                Ok(r) => return r,
                Err(e) => self.fell_back(&e),
            }
        }
        self.memory.add_failure(key, reset_after, now)
    }

    /// See [`MemoryCounters::lock`].
    pub async fn lock(&self, key: &str, duration: Duration, now: OffsetDateTime) {
        if let Some(redis) = self.redis() {
            match redis.lock(key, duration).await {
                Ok(()) => return,
                Err(e) => self.fell_back(&e),
            }
        }
        self.memory.lock(key, duration, now);
    }

    /// See [`MemoryCounters::locked_for`]. While Redis fails, this instance's own locks count.
    pub async fn locked_for(&self, keys: &[String], now: OffsetDateTime) -> Option<Duration> {
        if let Some(redis) = self.redis() {
            match redis.locked_for(keys).await {
                Ok(r) => return r.max(self.memory.locked_for(keys, now)),
                Err(e) => self.fell_back(&e),
            }
        }
        self.memory.locked_for(keys, now)
    }

    /// See [`MemoryCounters::clear`].
    pub async fn clear(&self, key: &str) {
        self.memory.clear(key);
        if let Some(redis) = self.redis()
            && let Err(e) = redis.clear(key).await
        {
            self.fell_back(&e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_per_key() {
        let counters = MemoryCounters::default();
        let t = OffsetDateTime::UNIX_EPOCH;
        let window = Duration::minutes(2);
        assert_eq!(counters.hit("a", window, t).0, 1);
        assert_eq!(counters.hit("a", window, t + Duration::seconds(1)).0, 2);
        assert_eq!(
            counters.hit("a", window, t + Duration::seconds(20)),
            (3, Duration::seconds(100))
        );
        assert_eq!(counters.hit("b", window, t).0, 1);
        assert_eq!(counters.hit("a", window, t + Duration::minutes(2)).0, 1);
    }

    #[test]
    fn failures_are_forgotten_after_the_last_one() {
        let counters = MemoryCounters::default();
        let t = OffsetDateTime::UNIX_EPOCH;
        let reset = Duration::minutes(10);
        assert_eq!(counters.add_failure("a", reset, t), 1);
        assert_eq!(counters.add_failure("a", reset, t + Duration::minutes(9)), 2);
        assert_eq!(counters.add_failure("a", reset, t + Duration::minutes(18)), 3);
        assert_eq!(counters.add_failure("a", reset, t + Duration::minutes(29)), 1);
        counters.lock("a", Duration::seconds(5), t);
        let keys = ["a".to_string(), "b".to_string()];
        assert_eq!(
            counters.locked_for(&keys, t + Duration::seconds(1)),
            Some(Duration::seconds(4))
        );
        assert_eq!(counters.locked_for(&keys, t + Duration::seconds(5)), None);
        counters.lock("b", Duration::seconds(5), t);
        counters.clear("b");
        assert_eq!(counters.locked_for(&keys, t), Some(Duration::seconds(5)));
    }

    #[test]
    fn delays_double_up_to_the_window() {
        let throttle = Throttle::default();
        assert_eq!(throttle.delay_after(5, 5), None);
        assert_eq!(throttle.delay_after(6, 5), Some(Duration::seconds(1)));
        assert_eq!(throttle.delay_after(7, 5), Some(Duration::seconds(2)));
        assert_eq!(throttle.delay_after(10, 5), Some(Duration::seconds(16)));
        assert_eq!(throttle.delay_after(16, 5), Some(Duration::minutes(15)));
        assert_eq!(throttle.delay_after(10_000, 5), Some(Duration::minutes(15)));
        assert_eq!(throttle.delay_after(10_000, 0), None);
    }
}
