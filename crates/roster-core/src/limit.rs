//! An in-process rate limiter: a fixed window counter per key (a client address).

use std::collections::HashMap;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// Allows `max` events per `window` per key.
#[derive(Debug)]
pub struct WindowLimiter {
    max: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (OffsetDateTime, u32)>>,
}

/// How many keys are remembered before expired windows are swept.
const SWEEP_AT: usize = 10_000;

impl WindowLimiter {
    /// A limiter of `max` events per `window` (`max` 0: unlimited).
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an event for `key` at `now`; Err with the time to wait when over the limit.
    pub fn check(&self, key: &str, now: OffsetDateTime) -> Result<(), std::time::Duration> {
        if self.max == 0 {
            return Ok(());
        }
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= SWEEP_AT {
            let window = self.window;
            windows.retain(|_, (start, _)| now - *start < window);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now - entry.0 >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let wait = (entry.0 + self.window - now).max(Duration::seconds(1));
            return Err(std::time::Duration::from_secs(
                wait.whole_seconds().max(1).unsigned_abs(),
            ));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_window() {
        let limiter = WindowLimiter::new(2, Duration::minutes(2));
        let t = OffsetDateTime::UNIX_EPOCH;
        assert!(limiter.check("a", t).is_ok());
        assert!(limiter.check("a", t + Duration::seconds(1)).is_ok());
        assert_eq!(
            limiter.check("a", t + Duration::seconds(20)),
            Err(std::time::Duration::from_secs(100))
        );
        assert!(limiter.check("b", t).is_ok());
        assert!(limiter.check("a", t + Duration::minutes(2)).is_ok());
    }
}
