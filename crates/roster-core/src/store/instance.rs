//! What every instance shares: instance settings and the token signing keys.

use super::StoreResult;
use crate::journal::Journal;
use crate::token::SigningKeyRecord;
use async_trait::async_trait;
use time::OffsetDateTime;

/// What a database must offer for what every instance shares: instance settings and the token
/// signing keys (a part of [`crate::store::Store`]).
#[async_trait]
pub trait InstanceStore: Send + Sync {
    /// A value shared by every instance (such as the secret key's check value), if set.
    async fn get_instance_setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Stores a shared value unless one is set already; returns the value in force (this one,
    /// or the one another instance stored first).
    async fn init_instance_setting(&self, name: &str, value: &str, at: OffsetDateTime) -> StoreResult<String>;
    /// Sets a shared value (replacing the one stored), with the change's journal, in one
    /// transaction.
    async fn put_instance_setting(
        &self,
        name: &str,
        value: &str,
        at: OffsetDateTime,
        journal: &Journal,
    ) -> StoreResult<()>;
    /// All token signing keys.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Adds a signing key; false if its generation already exists (another instance won).
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool>;
    /// Replaces the private key of a signing key (when it is sealed at rest).
    async fn update_signing_key_private(&self, kid: &str, private_key: &[u8]) -> StoreResult<()>;
}
