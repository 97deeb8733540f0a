//! A Redis for tests: the one at `ROSTER_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`),
//! with a key prefix of each test's own, whose keys are deleted when dropped. Without a
//! reachable Redis the tests print a loud `SKIPPED` line and pass; with `CI=true` (or
//! `ROSTER_TEST_REQUIRE_REDIS=true`) they fail instead.

use std::time::Duration;

/// Where Redis tests connect unless `ROSTER_TEST_REDIS_URL` says otherwise.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A reachable Redis and a fresh key prefix.
#[derive(Debug)]
pub struct TestRedis {
    pub url: String,
    /// `roster-test:<random>:`; every key the test writes starts with it.
    pub prefix: String,
}

fn required() -> bool {
    crate::in_ci() || crate::env_flag("ROSTER_TEST_REQUIRE_REDIS")
}

async fn ping(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut connection = tokio::time::timeout(Duration::from_secs(5), client.get_multiplexed_async_connection())
        .await
        .map_err(|_| "timed out after 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    redis::cmd("PING")
        .query_async::<String>(&mut connection)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

impl TestRedis {
    /// The test Redis with a fresh prefix; None (after a loud line) when it is unreachable
    /// outside CI.
    pub async fn new() -> Option<TestRedis> {
        let url = std::env::var("ROSTER_TEST_REDIS_URL")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_REDIS_URL.to_string());
        if let Err(error) = ping(&url).await {
            if required() {
                panic!("Redis not reachable at {url} ({error}), and CI requires it; set ROSTER_TEST_REDIS_URL");
            }
            eprintln!(
                "\n*** SKIPPED: Redis not reachable at {url} ({error}); this Redis test did not run. \
                 Set ROSTER_TEST_REDIS_URL, or CI=true to make this a failure. ***\n"
            );
            return None;
        }
        Some(TestRedis {
            url,
            prefix: format!("roster-test:{:016x}:", rand::random::<u64>()),
        })
    }

    /// The keys under this test's prefix.
    pub async fn keys(&self) -> Vec<String> {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return Vec::new();
        };
        let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
            return Vec::new();
        };
        redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut connection)
            .await
            .unwrap_or_default()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let (url, pattern) = (self.url.clone(), format!("{}*", self.prefix));
        let _ = std::thread::spawn(move || {
            let Ok(client) = redis::Client::open(url.as_str()) else {
                return;
            };
            let Ok(mut connection) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
                return;
            };
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query(&mut connection)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut connection);
            }
        })
        .join();
    }
}
