//! Rate-limit counters in Redis, shared by every instance: fixed windows and failure counts
//! by Lua scripts (INCR and PEXPIRE in one atomic step), locks as keys with a PX expiry.
//! Redis keeps the time, so instances with skewed clocks agree. The connection is made
//! lazily and re-made when it breaks; every call is bounded by a short timeout.

use super::CounterError;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script};
use std::sync::Mutex as StdMutex;
use std::time::Instant;
use time::Duration;
use tokio::sync::Mutex;

/// The longest a counter call waits for Redis before falling back.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
/// How often a failed connection is retried at most.
const RECONNECT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// `INCR`; a new window (no expiry yet) gets `ARGV[1]` ms. Returns {count, ms left}.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

/// `INCR` and push the expiry to `ARGV[1]` ms from now. Returns the count.
const FAIL: &str = r"
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
";

/// Counters in Redis.
pub struct RedisCounters {
    client: Client,
    prefix: String,
    connection: Mutex<Option<ConnectionManager>>,
    last_attempt: StdMutex<Option<Instant>>,
    hit: Script,
    fail: Script,
}

fn err(e: impl std::fmt::Display) -> CounterError {
    CounterError(e.to_string())
}

fn millis(d: Duration) -> i64 {
    d.whole_milliseconds().clamp(1, i128::from(i64::MAX)) as i64
}

impl RedisCounters {
    /// Counters at `url` (`redis://[:password@]host[:port][/db]`, `rediss://...`), every key
    /// starting with `prefix`. Does not connect yet.
    pub fn new(url: &str, prefix: &str) -> crate::Result<Self> {
        let client = Client::open(url).map_err(|e| crate::Error::invalid("redis_url", e.to_string()))?;
        Ok(Self {
            client,
            prefix: prefix.to_string(),
            connection: Mutex::new(None),
            last_attempt: StdMutex::new(None),
            hit: Script::new(HIT),
            fail: Script::new(FAIL),
        })
    }

    /// Connects and sends PING (for `roster doctor`).
    pub async fn ping(&self) -> Result<(), CounterError> {
        let mut connection = self.connection().await?;
        self.bounded(::redis::cmd("PING").query_async::<String>(&mut connection))
            .await
            .map(drop)
    }

    fn key(&self, kind: &str, key: &str) -> String {
        format!("{}{kind}:{key}", self.prefix)
    }

    async fn connection(&self) -> Result<ConnectionManager, CounterError> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        {
            let mut last = self.last_attempt.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < RECONNECT_EVERY) {
                return Err(CounterError("not connected (retrying)".into()));
            }
            *last = Some(Instant::now());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CALL_TIMEOUT)
            .set_response_timeout(CALL_TIMEOUT)
            .set_number_of_retries(1);
        let manager = tokio::time::timeout(
            CALL_TIMEOUT * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await
        .map_err(|_| CounterError("connecting timed out".into()))?
        .map_err(err)?;
        *slot = Some(manager.clone());
        Ok(manager)
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = ::redis::RedisResult<T>>,
    ) -> Result<T, CounterError> {
        tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| CounterError("timed out".into()))?
            .map_err(err)
    }

    /// A fixed window: the count so far and the time left.
    pub async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration), CounterError> {
        let mut c = self.connection().await?;
        let key = self.key("rate", key);
        let (n, ttl): (u64, i64) = self
            .bounded(self.hit.key(&key).arg(millis(window)).invoke_async(&mut c))
            .await?;
        Ok((n, Duration::milliseconds(ttl.max(1))))
    }

    /// Counts a failure, remembered `reset_after` after this one; the count so far.
    pub async fn add_failure(&self, key: &str, reset_after: Duration) -> Result<u64, CounterError> {
        let mut c = self.connection().await?;
        let key = self.key("fail", key);
        self.bounded(self.fail.key(&key).arg(millis(reset_after)).invoke_async(&mut c))
            .await
    }

    /// Locks `key` for `duration`.
    pub async fn lock(&self, key: &str, duration: Duration) -> Result<(), CounterError> {
        let mut c = self.connection().await?;
        let key = self.key("lock", key);
        self.bounded(
            ::redis::cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("PX")
                .arg(millis(duration))
                .query_async::<()>(&mut c),
        )
        .await
    }

    /// The longest lock left on any of `keys`.
    pub async fn locked_for(&self, keys: &[String]) -> Result<Option<Duration>, CounterError> {
        if keys.is_empty() {
            return Ok(None);
        }
        let mut c = self.connection().await?;
        let mut pipe = ::redis::pipe();
        for key in keys {
            pipe.cmd("PTTL").arg(self.key("lock", key));
        }
        let ttls: Vec<i64> = self.bounded(pipe.query_async(&mut c)).await?;
        Ok(ttls.into_iter().filter(|t| *t > 0).max().map(Duration::milliseconds))
    }

    /// Forgets the failures and lock of `key`.
    pub async fn clear(&self, key: &str) -> Result<(), CounterError> {
        let mut c = self.connection().await?;
        self.bounded(
            ::redis::cmd("DEL")
                .arg(self.key("fail", key))
                .arg(self.key("lock", key))
                .query_async::<()>(&mut c),
        )
        .await
    }
}
