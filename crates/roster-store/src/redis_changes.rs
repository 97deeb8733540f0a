//! The changes to sessions, API keys and accounts relayed through Redis pub/sub, for the
//! credential cache (see `roster_core::store::AuthChanges`), when Redis is configured over
//! PostgreSQL.
//!
//! The triggers of migration 0040 and 0048 name the users each change touches. Without Redis
//! they `NOTIFY` in the changing transaction. With Redis, every connection of the store says so
//! at start-up (`roster.auth_channel = redis`) and the triggers collect the ids in the
//! transaction instead (migration 0049): `NOTIFY` takes a lock that serialises the commits
//! of every transaction that notified, and this takes it off the write path. Before its commit
//! a writer reads the ids and publishes them as *pending*; after the commit (or a failed one) it
//! publishes them as *done*. Other instances serve nothing of a pending user from memory until
//! the done message (or `PENDING_LIFETIME`), so a writer that dies between its commit and its
//! second message cannot leave them serving what it changed. When Redis does not take the
//! pending message, the writer notifies through PostgreSQL in the same transaction, as
//! without Redis: every instance also listens there.
//!
//! Messages on `<prefix>auth-changes`: `ping` (each instance publishes one every
//! `HEARTBEAT_INTERVAL`, and a received one is the channel's heartbeat), `p <token> <ids>` and
//! `d <token> <ids>`, where `<ids>` is `*` (anyone) or user ids joined by commas.

use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;
use roster_core::UserId;
use roster_core::store::{AuthChanges, Channel, HEARTBEAT_INTERVAL, HEARTBEAT_LIFETIME};
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The longest a publish waits for Redis before the writer falls back to the database channel.
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failed publish, writers go straight to the database channel for this long.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// The heartbeat's message.
const PING: &str = "ping";

/// Where a store publishes and hears the changes (see the module).
pub struct RedisChanges {
    client: redis::Client,
    channel: String,
    connection: Mutex<Option<ConnectionManager>>,
    /// When the last publish failed (writers skip Redis for [`RETRY_AFTER`]).
    failed_at: StdMutex<Option<Instant>>,
    /// This process's tokens: a random start, counted up.
    tokens: AtomicU64,
}

impl std::fmt::Debug for RedisChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisChanges")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// A change announced as pending, to announce as done after the commit.
#[derive(Debug)]
pub(crate) struct Announced {
    token: u64,
    ids: String,
}

/// `*` or ids joined by commas, as the triggers collect them; None means anyone.
fn parse_ids(ids: &str) -> Option<Vec<UserId>> {
    if ids == "*" {
        return None;
    }
    let mut users: Vec<UserId> = Vec::new();
    for id in ids.split(',') {
        let user = UserId(id.trim().parse().ok()?);
        if !users.contains(&user) {
            users.push(user);
        }
    }
    Some(users)
}

impl RedisChanges {
    /// The channel at `url`, named with `prefix`. Does not connect yet.
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("redis_url: {e}"))?;
        let start = std::collections::hash_map::RandomState::new().build_hasher().finish();
        Ok(Self {
            client,
            channel: format!("{prefix}auth-changes"),
            connection: Mutex::new(None),
            failed_at: StdMutex::new(None),
            tokens: AtomicU64::new(start),
        })
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let connection = ConnectionManager::new(self.client.clone()).await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Publishes `message`; false when Redis did not take it in time (or failed within
    /// [`RETRY_AFTER`]).
    async fn publish(&self, message: &str) -> bool {
        let recently_failed = self
            .failed_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < RETRY_AFTER);
        if recently_failed {
            return false;
        }
        let sent = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            let mut connection = self.connection().await?;
            redis::cmd("PUBLISH")
                .arg(&self.channel)
                .arg(message)
                .query_async::<i64>(&mut connection)
                .await
        })
        .await;
        match sent {
            Ok(Ok(_)) => true,
            failed => {
                let error = match failed {
                    Ok(Err(error)) => error.to_string(),
                    _ => "timed out".to_string(),
                };
                tracing::warn!(%error, "cannot publish a change to Redis; the database channel carries it");
                *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                false
            }
        }
    }

    /// Announces `ids` (collected by the triggers) as pending; None when Redis did not take
    /// it, and the caller must notify through the database instead.
    pub(crate) async fn pending(&self, ids: String) -> Option<Announced> {
        let token = self.tokens.fetch_add(1, Ordering::Relaxed);
        self.publish(&format!("p {token} {ids}"))
            .await
            .then_some(Announced { token, ids })
    }

    /// Announces a pending change as done (committed or abandoned). A message lost here only
    /// keeps the users out of the other instances' caches until the pending one expires.
    pub(crate) async fn done(&self, announced: Announced) {
        self.publish(&format!("d {} {}", announced.token, announced.ids)).await;
    }

    /// Relays what this channel carries into `changes` and beats its heartbeat; publishes a
    /// ping every [`HEARTBEAT_INTERVAL`]. Runs until `stop` says so.
    pub(crate) fn watcher(
        self: Arc<Self>,
        changes: Arc<AuthChanges>,
        stop: impl Fn() -> bool + Send + Sync + 'static,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let stop = Arc::new(stop);
        async move {
            let pinger = {
                let this = self.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    while !stop() {
                        this.publish(PING).await;
                        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
                    }
                })
            };
            while !stop() {
                if let Err(error) = self.listen(&changes, &*stop).await {
                    tracing::warn!(%error, "the Redis change channel failed; checking the database on every request");
                }
                changes.lost_of(Channel::Redis);
                if !stop() {
                    tokio::time::sleep(HEARTBEAT_INTERVAL).await;
                }
            }
            pinger.abort();
        }
    }

    /// One subscription, until it fails, goes silent for [`HEARTBEAT_LIFETIME`] or `stop`.
    async fn listen(&self, changes: &AuthChanges, stop: &(dyn Fn() -> bool + Send + Sync)) -> anyhow::Result<()> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        let mut messages = pubsub.into_on_message();
        while !stop() {
            let Ok(message) = tokio::time::timeout(HEARTBEAT_LIFETIME, messages.next()).await else {
                anyhow::bail!("no message for {} ms", HEARTBEAT_LIFETIME.as_millis());
            };
            let Some(message) = message else {
                anyhow::bail!("the connection was closed");
            };
            let payload: String = message.get_payload()?;
            relay(changes, &payload);
        }
        Ok(())
    }
}

/// Applies one message of the channel to `changes`.
fn relay(changes: &AuthChanges, message: &str) {
    if message == PING {
        changes.heartbeat_of(Channel::Redis);
        return;
    }
    let mut parts = message.splitn(3, ' ');
    let (kind, token, ids) = (parts.next(), parts.next(), parts.next());
    let token = token.and_then(|t| t.parse::<u64>().ok());
    match (kind, token, ids) {
        (Some("p"), Some(token), Some(ids)) => changes.pending(token, parse_ids(ids)),
        (Some("d"), Some(token), Some(ids)) => changes.done(token, parse_ids(ids).as_deref()),
        _ => {
            tracing::warn!(message, "an unknown message on the Redis change channel");
            changes.changed_everything();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_as_the_triggers_join_them() {
        assert_eq!(parse_ids("*"), None);
        assert_eq!(parse_ids("7,8,7"), Some(vec![UserId(7), UserId(8)]));
        assert_eq!(parse_ids("7,x"), None, "anything unreadable means anyone");
    }

    #[test]
    fn messages_reach_the_marks() {
        let changes = AuthChanges::new();
        changes.require(Channel::Redis);
        changes.heartbeat();
        relay(&changes, PING);
        let before = changes.mark().expect("both channels beat");
        relay(&changes, "p 42 7");
        assert!(!changes.is_valid(changes.mark().unwrap(), UserId(7)), "pending");
        assert!(changes.is_valid(before, UserId(8)));
        relay(&changes, "d 42 7");
        assert!(!changes.is_valid(before, UserId(7)));
        assert!(changes.is_valid(changes.mark().unwrap(), UserId(7)));
        relay(&changes, "garbage");
        assert!(
            !changes.is_valid(before, UserId(8)),
            "an unknown message forgets everything"
        );
    }
}
