//! Remembered consent to OpenID Connect clients that are not first-party.

use super::StoreResult;
use crate::id::UserId;
use crate::journal::Journal;
use async_trait::async_trait;
use time::OffsetDateTime;

/// What a user allowed a client: the scopes of every approval together.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcConsent {
    pub user_id: UserId,
    pub client_id: String,
    /// The scopes allowed, in the order they were first allowed.
    pub scopes: Vec<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What a database must offer for remembered consent (a part of [`crate::store::Store`]).
#[async_trait]
pub trait OidcConsentStore: Send + Sync {
    /// The user's consent to the client, if any.
    async fn get_oidc_consent(&self, user: UserId, client_id: &str) -> StoreResult<Option<OidcConsent>>;
    /// The user's consents, by client id.
    async fn list_oidc_consents(&self, user: UserId) -> StoreResult<Vec<OidcConsent>>;
    /// Stores a consent (replacing the user's earlier one for the client, `created_at` kept);
    /// NotFound if the user or the client does not exist.
    async fn put_oidc_consent(&self, consent: &OidcConsent, journal: &Journal) -> StoreResult<()>;
    /// Deletes the user's consent to the client and every grant (with its codes and refresh
    /// tokens) the client holds of the user, in one transaction; NotFound if there was no
    /// consent.
    async fn delete_oidc_consent(&self, user: UserId, client_id: &str, journal: &Journal) -> StoreResult<()>;
}
