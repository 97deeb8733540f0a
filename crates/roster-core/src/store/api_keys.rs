//! API keys (their secrets stored as digests).

use super::StoreResult;
use crate::id::{ApiKeyId, UserId};
use crate::journal::Journal;
use crate::user::User;
use async_trait::async_trait;
use time::OffsetDateTime;

/// An API key as stored (the secret itself is only a digest).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the key, shown in listings.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

/// What a database must offer for API keys (their secrets stored as digests) (a part of
/// [`crate::store::Store`]).
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores an API key (the secret as a digest).
    async fn insert_api_key(&self, key: &ApiKey, digest: &str, journal: &Journal) -> StoreResult<()>;
    /// Finds an API key by the digest of its secret.
    async fn get_api_key_by_digest(&self, digest: &str) -> StoreResult<ApiKey>;
    /// Finds an API key by the digest of its secret, with its user, in one round trip.
    async fn get_api_key_with_user(&self, digest: &str) -> StoreResult<(ApiKey, User)>;
    /// A user's API keys, newest first.
    async fn list_api_keys(&self, user: UserId) -> StoreResult<Vec<ApiKey>>;
    /// Deletes one API key of a user; NotFound if the user has no such key.
    async fn delete_api_key(&self, user: UserId, id: ApiKeyId, journal: &Journal) -> StoreResult<()>;
    /// Updates a key's last use.
    async fn touch_api_key(&self, id: ApiKeyId, at: OffsetDateTime) -> StoreResult<()>;
    /// Deletes every API key of a user; returns how many. The journal is written only when a
    /// key was deleted.
    async fn delete_api_keys_of_user(&self, user: UserId, journal: &Journal) -> StoreResult<u64>;
}
