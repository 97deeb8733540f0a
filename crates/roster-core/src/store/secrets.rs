//! Secrets users keep with Roster, sealed (such as a Langflow store API key).

use super::StoreResult;
use crate::id::UserId;
use async_trait::async_trait;
use time::OffsetDateTime;

/// What a database must offer for secrets users keep with Roster, sealed (such as a Langflow
/// store API key) (a part of [`crate::store::Store`]).
#[async_trait]
pub trait UserSecretStore: Send + Sync {
    /// A secret a user keeps with Roster (sealed), by name (`langflow_store_api_key`).
    async fn get_user_secret(&self, user: UserId, name: &str) -> StoreResult<Option<String>>;
    /// The named secret of each of `users` that has one.
    async fn list_user_secrets(&self, users: &[UserId], name: &str) -> StoreResult<Vec<(UserId, String)>>;
    /// Sets (Some) or removes (None) a user's named secret; NotFound if the user does not exist.
    async fn put_user_secret(
        &self,
        user: UserId,
        name: &str,
        value: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
}
