//! The persistence seam: what the core needs from a database, and nothing about policy.
//! Implementations live in `roster-store` (SQLite and PostgreSQL) and must pass its
//! conformance suite.
//!
//! The seam is cut by capability: one trait per kind of record (users, sessions, API keys,
//! groups, two-factor authentication, the journal, webhooks, ...), each in its own file with
//! the record types it uses, and [`Store`] is their sum. Through `dyn Store` (or an `S: Store`
//! bound) every capability's methods are callable as they are; on a concrete store
//! (`SqliteStore`, `PgStore`) bring the traits in with `use roster_core::store::prelude::*;`.

mod account_tokens;
mod api_keys;
mod balances;
mod changes;
mod features;
mod groups;
mod instance;
mod journal;
mod migration;
mod oidc;
mod oidc_consents;
mod retention;
mod scim_push;
mod scim_records;
mod secrets;
mod sessions;
mod social;
mod two_factor;
mod users;

pub use crate::webhooks::WebhookStore;
pub use account_tokens::*;
pub use api_keys::*;
pub use balances::*;
pub use changes::{AuthChanges, Channel, HEARTBEAT_INTERVAL, HEARTBEAT_LIFETIME, PENDING_LIFETIME};
pub use features::*;
pub use groups::*;
pub use instance::*;
pub use journal::*;
pub use migration::*;
pub use oidc::*;
pub use oidc_consents::*;
pub use retention::*;
pub use scim_push::*;
pub use scim_records::*;
pub use secrets::*;
pub use sessions::*;
pub use social::*;
pub use two_factor::*;
pub use users::*;

use async_trait::async_trait;

/// The store's errors: kinds, never constraint names or SQL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row.
    #[error("not found")]
    NotFound,
    /// A unique field is taken; `field` is `email` or `username`.
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// The write would leave no active administrator; nothing was written.
    #[error("no active administrator would remain")]
    LastAdmin,
    /// The row changed since it was read (optimistic concurrency); nothing was written.
    #[error("the record changed concurrently")]
    Stale,
    /// A text value holds a character no backend can store (NUL, U+0000); nothing was
    /// written. `field` names the value (`text` when the database alone noticed).
    #[error("{field} contains the NUL character (U+0000), which the database cannot store")]
    InvalidText { field: &'static str },
    /// The database could not be reached.
    #[error("database unavailable: {0}")]
    Unavailable(anyhow::Error),
    /// Anything else.
    #[error(transparent)]
    Other(anyhow::Error),
}

/// Result with the store's error.
pub type StoreResult<T> = Result<T, StoreError>;

/// What a database must offer the core: the sum of the capabilities.
///
/// Every method that changes users, sessions, keys, groups or permissions takes the change's
/// [`crate::journal::Journal`] and writes it in the same transaction as the change: nothing
/// is written when the change fails, and a committed change always has its records.
#[async_trait]
pub trait Store:
    UserStore
    + SessionStore
    + ApiKeyStore
    + AccountTokenStore
    + BalanceStore
    + GroupStore
    + SocialStore
    + UserSettingStore
    + TierStore
    + TwoFactorStore
    + UserSecretStore
    + InstanceStore
    + JournalStore
    + MigrationStore
    + WebhookStore
    + OidcStore
    + OidcConsentStore
    + RetentionStore
    + ScimRecordStore
    + ScimPushStore
    + Send
    + Sync
    + 'static
{
    /// Checks that the database can serve: that it answers, and that it can take writes (a
    /// database that reads but cannot commit, on a full disk or a read-only server, is not
    /// ready). Backs `/readyz`; cheap enough to call often.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the connection pools, waiting for connections in use to be returned.
    async fn close(&self);
    /// The connection pools as they are now (no round trip; for the metrics).
    fn pool_stats(&self) -> Vec<PoolStats>;
    /// The marks of the changes to sessions, API keys and accounts (see [`AuthChanges`]): the
    /// store marks each change it commits before returning; [`Store::watch_changes`] relays
    /// those of other processes.
    fn changes(&self) -> std::sync::Arc<AuthChanges>;
    /// Relays into [`Store::changes`] the changes other processes (other instances, the admin
    /// commands) commit, and beats its heartbeat while the channel works: PostgreSQL
    /// `LISTEN/NOTIFY`, or on SQLite a poll of the change counter. Runs until the store is
    /// closed. Until it runs, nothing is remembered between requests.
    fn watch_changes(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;
}

/// One connection pool's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `reader` or `writer` (SQLite), `main` (PostgreSQL).
    pub pool: &'static str,
    /// Open connections, in use or idle.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Acquisitions of a connection waiting now (counted by the store around each acquire).
    pub waiting: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

/// Every capability trait, imported for its methods only: `use roster_core::store::prelude::*;`
/// in a file that calls store methods on a concrete store type.
pub mod prelude {
    pub use super::{
        AccountTokenStore as _, ApiKeyStore as _, BalanceStore as _, GroupStore as _, InstanceStore as _,
        JournalStore as _, MigrationStore as _, OidcConsentStore as _, OidcStore as _, RetentionStore as _,
        ScimPushStore as _, ScimRecordStore as _, SessionStore as _, SocialStore as _, Store as _, TierStore as _,
        TwoFactorStore as _, UserSecretStore as _, UserSettingStore as _, UserStore as _, WebhookStore as _,
    };
}
