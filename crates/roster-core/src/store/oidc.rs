//! The OpenID Connect provider: signing keys, clients, grants, authorization codes and
//! refresh tokens.

use super::StoreResult;
use crate::id::{SessionId, UserId};
use crate::journal::Journal;
use crate::user::User;
use crate::webhooks::{AttemptRecord, DeliveryStatus};
use async_trait::async_trait;
use time::OffsetDateTime;

/// A signing key of ID and access tokens as stored.
#[derive(Clone)]
pub struct OidcKeyRecord {
    /// Key id (`kid`).
    pub kid: String,
    /// `RS256` or `EdDSA`.
    pub alg: String,
    /// Increases with each rotation, per algorithm.
    pub generation: i64,
    /// RSA: PKCS#1 DER; Ed25519: PKCS#8 DER (sealed at rest when a secret key is configured).
    pub private_key: Vec<u8>,
    /// RSA: PKCS#1 DER of the public key; Ed25519: the raw public key.
    pub public_key: Vec<u8>,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for OidcKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("generation", &self.generation)
            .finish()
    }
}

/// A relying party.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcClient {
    /// `[A-Za-z0-9]`, unique.
    pub client_id: String,
    pub name: Option<String>,
    /// The SHA-256 of the secret (hex); None: a public client (PKCE, no secret).
    pub secret_digest: Option<String>,
    /// Exact-match redirect URIs.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes it may ask for.
    pub scopes: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    /// The `aud` of its access tokens (None: its client id).
    pub audience: Option<String>,
    /// Trusted: no consent screen.
    pub first_party: bool,
    pub backchannel_logout_uri: Option<String>,
    /// `RS256` or `EdDSA`.
    pub signing_alg: String,
    /// Seconds.
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
    /// The claim names that carry the Roster role and the group names.
    pub roles_claim: String,
    pub groups_claim: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A grant with what the userinfo endpoint needs besides it, read in one round trip.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcGrantProfile {
    pub grant: OidcGrant,
    pub user: User,
    /// The client's audience (None: its client id).
    pub audience: Option<String>,
    /// The client's names of the role and group claims.
    pub roles_claim: String,
    pub groups_claim: String,
    /// The user's group names, in name order.
    pub groups: Vec<String>,
}

/// What a user granted a client in one browser session.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcGrant {
    /// A snowflake.
    pub id: i64,
    pub client_id: String,
    pub user_id: UserId,
    /// The session it lives in: the browser session it came from, or for an offline grant a
    /// session of its own (created with the grant), which ends only with every session of
    /// the user or with the grant.
    pub session_id: SessionId,
    /// The browser session it came from (the OpenID `sid`).
    pub sid: SessionId,
    /// Granted with `offline_access`: outlives the browser session's sign-out.
    pub offline: bool,
    /// Space-separated granted scopes.
    pub scope: String,
    pub auth_time: OffsetDateTime,
    /// Authentication methods (`pwd`, `otp`).
    pub amr: Vec<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// An authorization code as stored (under the digest of the code).
#[derive(Debug, Clone, PartialEq)]
pub struct OidcCode {
    pub grant_id: i64,
    pub redirect_uri: String,
    pub nonce: Option<String>,
    /// The S256 challenge (base64url), if PKCE was used.
    pub code_challenge: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A back-channel logout queued for a client when a grant of one of its users ended: one
/// per (client, browser session) while pending. The worker signs a `logout_token` for it at
/// each attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcLogout {
    pub id: i64,
    pub client_id: String,
    /// The user whose session ended (the token's `sub`; the user may be deleted by now).
    pub user_id: UserId,
    /// The browser session (the token's `sid`, as in the ID tokens).
    pub sid: SessionId,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: OffsetDateTime,
    pub last_attempt_at: Option<OffsetDateTime>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// What presenting an authorization code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRedemption {
    /// The code was unused: it is now used. Its grant, the grant's user and the code.
    Redeemed(Box<(OidcCode, OidcGrant, User)>),
    /// The code had been used before: its grant (to be revoked).
    Replayed { grant_id: i64 },
    /// No such code.
    Unknown,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshRotation {
    /// The token was unused: it is now used and the new one stored.
    Rotated(Box<(OidcGrant, User)>),
    /// The token had been used before: its grant (to be revoked).
    Reused { grant_id: i64 },
    /// No such token.
    Unknown,
}

/// What a database must offer for the OpenID Connect provider (a part of
/// [`crate::store::Store`]).
#[async_trait]
pub trait OidcStore: Send + Sync {
    /// All signing keys, by algorithm and generation.
    async fn list_oidc_keys(&self) -> StoreResult<Vec<OidcKeyRecord>>;
    /// Adds a signing key; false if its (algorithm, generation) exists (another instance won).
    async fn insert_oidc_key(&self, key: &OidcKeyRecord, journal: &Journal) -> StoreResult<bool>;
    /// Deletes signing keys (retired keys whose tokens have all expired).
    async fn delete_oidc_keys(&self, kids: &[String]) -> StoreResult<()>;

    /// Adds a client; `Conflict { field: "client_id" }` if the id is taken.
    async fn insert_oidc_client(&self, client: &OidcClient, journal: &Journal) -> StoreResult<()>;
    /// Reads a client.
    async fn get_oidc_client(&self, client_id: &str) -> StoreResult<OidcClient>;
    /// All clients, by id.
    async fn list_oidc_clients(&self) -> StoreResult<Vec<OidcClient>>;
    /// Replaces a client's settings (and secret digest); NotFound if it does not exist.
    async fn update_oidc_client(&self, client: &OidcClient, journal: &Journal) -> StoreResult<()>;
    /// Deletes a client with its grants and tokens; NotFound if it does not exist.
    async fn delete_oidc_client(&self, client_id: &str, journal: &Journal) -> StoreResult<()>;

    /// Stores a grant with its authorization code (by digest), and deletes the user's expired
    /// grants (without back-channel logouts). An offline grant's own session (`session_id`) is
    /// created with it. NotFound if the browser session (`sid`) has ended.
    async fn insert_oidc_grant(
        &self,
        grant: &OidcGrant,
        code_digest: &str,
        code: &OidcCode,
        journal: &Journal,
    ) -> StoreResult<()>;
    /// Reads a grant with its user.
    async fn get_oidc_grant(&self, id: i64) -> StoreResult<(OidcGrant, User)>;
    /// Reads, in one round trip, what userinfo needs of a grant: the grant, its user, its
    /// client's audience and claim names, and the user's group names.
    async fn get_oidc_grant_profile(&self, id: i64) -> StoreResult<OidcGrantProfile>;
    /// Marks an authorization code used, atomically (see [`CodeRedemption`]).
    async fn redeem_oidc_code(&self, digest: &str, now: OffsetDateTime) -> StoreResult<CodeRedemption>;
    /// Adds a refresh token to a grant; NotFound if the grant is gone.
    async fn insert_oidc_refresh_token(&self, grant_id: i64, digest: &str, now: OffsetDateTime) -> StoreResult<()>;
    /// Marks `old_digest` used and stores `new_digest` for the same grant, atomically (see
    /// [`RefreshRotation`]).
    async fn rotate_oidc_refresh_token(
        &self,
        old_digest: &str,
        new_digest: &str,
        now: OffsetDateTime,
    ) -> StoreResult<RefreshRotation>;
    /// The grant a refresh token belongs to and whether the token was used, if it exists.
    async fn get_oidc_refresh_token(&self, digest: &str) -> StoreResult<Option<(i64, bool)>>;
    /// Deletes a grant with its codes and tokens; false if it was gone. Like every end of a
    /// grant (its session, its user, a ban), this queues a back-channel logout for its client
    /// in the same transaction (see [`OidcLogout`]).
    async fn delete_oidc_grant(&self, id: i64, journal: &Journal) -> StoreResult<bool>;
    /// The grants of a user unexpired at `now` (for back-channel logout), oldest first.
    async fn list_oidc_grants_of_user(&self, user: UserId, now: OffsetDateTime) -> StoreResult<Vec<OidcGrant>>;

    /// Claims up to `limit` back-channel logouts that are pending, due at `now` and not
    /// claimed by a live lease: leased to `owner` until `lease_until`, oldest first. Rows
    /// being claimed by another instance are skipped, never waited for.
    async fn claim_oidc_logouts(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<OidcLogout>>;
    /// Records an attempt of a logout claimed by `owner`, ends the claim and writes `journal`
    /// (empty for an attempt to be retried); false, writing nothing, if the claim is no
    /// longer `owner`'s.
    async fn record_oidc_logout_attempt(
        &self,
        id: i64,
        owner: &str,
        attempt: &AttemptRecord,
        journal: &Journal,
    ) -> StoreResult<bool>;
    /// Queued logouts, newest first: of one client or all, of one status or all.
    async fn list_oidc_logouts(
        &self,
        client_id: Option<&str>,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> StoreResult<Vec<OidcLogout>>;
}
