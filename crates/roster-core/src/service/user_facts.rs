//! What the dialects' current-user routes show beside the user itself, remembered per user
//! between requests as the credential cache remembers sessions (see [`super::credentials`]):
//! the effective permissions over Open WebUI's defaults (the permission template and the
//! user's groups), whether two-factor authentication is on, the badges, and the sealed
//! Langflow store key.
//!
//! Each is remembered with the change mark noted before its read and used while no change of
//! its user (or of everything) was marked since and the notification channel works, the very
//! rule of the credential cache: this instance marks every change it commits before the call
//! returns, and the triggers of migrations 0040 and 0048 notify (PostgreSQL) or count
//! (SQLite) every change to these tables made by anyone (a membership or a store key names its
//! user; a template or a group's permissions change everything). Without a working channel
//! every request reads the database and nothing is remembered.

use super::Core;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::store::AuthChanges;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::future::Future;
use std::sync::Arc;

/// How many users' facts of each kind are remembered.
const USER_FACTS: usize = 10_000;

/// One kind of fact, per user, with the mark noted before it was read.
pub(super) struct FactCache<T> {
    cache: quick_cache::sync::Cache<UserId, (u64, Arc<T>)>,
}

impl<T> Default for FactCache<T> {
    fn default() -> Self {
        Self {
            cache: quick_cache::sync::Cache::new(USER_FACTS),
        }
    }
}

impl<T> FactCache<T> {
    /// The fact of `user`: remembered and still valid, or read by `read` (and remembered when
    /// the channel works).
    pub(super) async fn get<F>(&self, changes: &AuthChanges, user: UserId, read: F) -> Result<Arc<T>>
    where
        F: Future<Output = Result<T>>,
    {
        if let Some((mark, fact)) = self.cache.get(&user)
            && changes.is_valid(mark, user)
        {
            return Ok(fact);
        }
        let mark = changes.mark();
        let fact = Arc::new(read.await?);
        if let Some(mark) = mark {
            self.cache.insert(user, (mark, fact.clone()));
        }
        Ok(fact)
    }
}

/// A user's effective permissions (see [`Core::effective_permissions`]), with their JSON text
/// written once, when they were read: a route that shows them copies that text into its body
/// (they serialise as the text) instead of walking the object on every request.
#[derive(Debug)]
pub struct Permissions {
    value: Value,
    json: Box<RawValue>,
}

impl Permissions {
    pub(super) fn new(value: Value) -> Result<Self> {
        let json = serde_json::value::to_raw_value(&value).map_err(|e| Error::Internal(e.into()))?;
        Ok(Self { value, json })
    }

    /// The permissions.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The permissions as JSON text, as `serde_json` writes [`Permissions::value`].
    pub fn json(&self) -> &RawValue {
        &self.json
    }
}

impl Serialize for Permissions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

/// The facts the core remembers per user (see the module).
#[derive(Default)]
pub(super) struct UserFacts {
    /// Effective permissions over [`super::builtin_permissions_ref`].
    pub permissions: FactCache<Permissions>,
    /// Whether two-factor authentication is on.
    pub two_factor: FactCache<bool>,
    pub badges: FactCache<Vec<String>>,
    /// The sealed Langflow store key.
    pub langflow_store_key: FactCache<Option<String>>,
}

impl Core {
    /// Whether `user` has two-factor authentication on: remembered between requests (see the
    /// module), for the current-user routes that show it.
    pub async fn two_factor_enabled(&self, user: UserId) -> Result<bool> {
        let enabled = self
            .facts
            .two_factor
            .get(&self.changes, user, async {
                let record = self.store.get_two_factor(user).await?;
                Ok::<_, Error>(record.is_some_and(|record| record.enabled_at.is_some()))
            })
            .await?;
        Ok(*enabled)
    }

    /// The sealed Langflow store key of `user` (see [`Core::sealed_langflow_store_api_keys`]),
    /// remembered between requests.
    pub async fn sealed_langflow_store_api_key(&self, user: UserId) -> Result<Arc<Option<String>>> {
        self.facts
            .langflow_store_key
            .get(&self.changes, user, async {
                let sealed = self
                    .store
                    .get_user_secret(user, super::two_factor::LANGFLOW_STORE_API_KEY)
                    .await?;
                Ok::<_, Error>(sealed)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Reads the fact of user 1 through `cache`, counting the reads in `reads`.
    async fn fact(cache: &FactCache<usize>, changes: &AuthChanges, reads: &AtomicUsize) -> usize {
        let read = async { Ok::<_, Error>(reads.fetch_add(1, Ordering::SeqCst) + 1) };
        *cache.get(changes, UserId(1), read).await.unwrap()
    }

    #[tokio::test]
    async fn remembered_until_a_change_and_only_with_the_channel() {
        let (cache, changes, reads) = (FactCache::default(), AuthChanges::new(), AtomicUsize::new(0));
        // No channel: read every time, remember nothing.
        assert_eq!(fact(&cache, &changes, &reads).await, 1);
        assert_eq!(fact(&cache, &changes, &reads).await, 2);
        changes.heartbeat();
        assert_eq!(fact(&cache, &changes, &reads).await, 3);
        assert_eq!(fact(&cache, &changes, &reads).await, 3, "remembered");
        changes.changed_user(UserId(2));
        assert_eq!(fact(&cache, &changes, &reads).await, 3, "another user's change");
        changes.changed_user(UserId(1));
        assert_eq!(fact(&cache, &changes, &reads).await, 4, "its user's change");
        assert_eq!(fact(&cache, &changes, &reads).await, 4);
        changes.changed_everything();
        assert_eq!(fact(&cache, &changes, &reads).await, 5, "a change of everything");
        changes.lost();
        assert_eq!(fact(&cache, &changes, &reads).await, 6, "the channel lost");
        assert_eq!(fact(&cache, &changes, &reads).await, 7);
    }

    #[test]
    fn permissions_serialise_as_their_text() {
        let value = serde_json::json!({"chat": {"delete": true, "edit": false}, "features": {}});
        let permissions = Permissions::new(value.clone()).unwrap();
        assert_eq!(permissions.json().get(), value.to_string());
        #[derive(Serialize)]
        struct Body<'a> {
            n: i32,
            permissions: &'a Permissions,
        }
        let written = serde_json::to_string(&Body {
            n: 1,
            permissions: &permissions,
        })
        .unwrap();
        assert_eq!(written, format!(r#"{{"n":1,"permissions":{value}}}"#));
    }
}
