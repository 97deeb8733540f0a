//! The OpenID Connect provider (Core 1.0, Discovery 1.0, RFC 6749, 7636, 7009, 7662,
//! RP-Initiated Logout 1.0, Back-Channel Logout 1.0): signing keys, clients and the authorization code flow. The
//! HTTP side (`roster_http::oidc`) parses and renders; every rule is here.

pub mod backchannel;
mod clients;
mod consents;
mod flow;
pub mod keys;

pub use clients::{ClientChanges, ClientCreated, ClientView, NewClient, SUPPORTED_GRANT_TYPES, SUPPORTED_SCOPES};
pub use consents::ConsentView;
pub use flow::{
    AuthorizeOutcome, AuthorizeRequest, ClientAuth, EndSessionRequest, EndSessionTarget, SignedIn, TokenRequest,
    TokenResponse,
};

use super::{Authority, Core};
use crate::error::{Error, Result};
use crate::store::OidcKeyRecord;
use keys::{ALGORITHMS, KEY_RELOAD, OidcKeys};
use std::sync::{Arc, RwLock};

/// Audit actions and event types of the provider.
pub mod action {
    /// A code was issued.
    pub const AUTHORIZE: &str = "oidc.authorize";
    /// Tokens were issued at the token endpoint.
    pub const TOKEN: &str = "oidc.token";
    /// A grant ended: revoked by its client, a replayed code or a reused refresh token.
    pub const GRANT_REVOKED: &str = "oidc.grant_revoked";
    /// A back-channel logout was delivered, or given up (`status`).
    pub const BACKCHANNEL_LOGOUT: &str = "oidc.backchannel_logout";
    /// The signing keys were rotated.
    pub const KEYS_ROTATED: &str = "oidc.keys_rotated";
    pub const CLIENT_CREATED: &str = "oidc_client.created";
    pub const CLIENT_UPDATED: &str = "oidc_client.updated";
    pub const CLIENT_SECRET_ROTATED: &str = "oidc_client.secret_rotated";
    pub const CLIENT_DELETED: &str = "oidc_client.deleted";
    /// A user allowed a client that is not first-party (scopes remembered).
    pub const CONSENT_GRANTED: &str = "oidc.consent_granted";
    /// A user withdrew a consent (the client's grants of the user ended).
    pub const CONSENT_WITHDRAWN: &str = "oidc.consent_withdrawn";
}

/// The provider's per-process state: the signing keys read from the database, and the
/// access tokens whose signature was already checked.
pub struct OidcState {
    keys: RwLock<Option<Arc<OidcKeys>>>,
    load: tokio::sync::Mutex<()>,
    /// Claims of access tokens that passed the signature, issuer and type checks, by the
    /// SHA-256 of the token (a token cannot change, so its signature stays checked; expiry
    /// is compared on every use, and the grant and user are read on every use).
    verified: quick_cache::sync::Cache<[u8; 32], flow::AccessTokenClaims>,
}

/// How many checked access tokens are remembered.
const VERIFIED_ACCESS_TOKENS: usize = 10_000;

impl Default for OidcState {
    fn default() -> Self {
        Self {
            keys: RwLock::default(),
            load: tokio::sync::Mutex::default(),
            verified: quick_cache::sync::Cache::new(VERIFIED_ACCESS_TOKENS),
        }
    }
}

/// An OAuth 2.0 error (RFC 6749 §5.2, OIDC Core §3.1.2.6): the `error` code and a
/// description naming the parameter at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", description)
    }
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new("invalid_scope", description)
    }
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new("unauthorized_client", description)
    }
}

impl From<Error> for OAuthError {
    fn from(error: Error) -> Self {
        match error {
            Error::Unavailable => Self::new("temporarily_unavailable", "the service is temporarily unavailable"),
            Error::RateLimited { .. } => Self::new("temporarily_unavailable", "too many requests; retry later"),
            Error::Invalid { field, reason } => Self::invalid_request(format!("{field}: {reason}")),
            other => {
                tracing::error!(error = ?other, "oidc request failed");
                Self::new("server_error", "internal error")
            }
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(error: crate::store::StoreError) -> Self {
        Error::from(error).into()
    }
}

fn key_context(kid: &str) -> String {
    format!("oidc_signing_key:{kid}")
}

impl Core {
    /// The issuer: `public_url`, exactly as configured.
    pub fn oidc_issuer(&self) -> &str {
        &self.config.public_url
    }

    /// `public_url` without a trailing slash: the base of the endpoints.
    fn oidc_base(&self) -> &str {
        self.config.public_url.trim_end_matches('/')
    }

    /// The discovery document (OpenID Connect Discovery 1.0).
    pub fn oidc_discovery(&self) -> serde_json::Value {
        let base = self.oidc_base();
        serde_json::json!({
            "issuer": self.oidc_issuer(),
            "authorization_endpoint": format!("{base}/oidc/authorize"),
            "token_endpoint": format!("{base}/oidc/token"),
            "userinfo_endpoint": format!("{base}/oidc/userinfo"),
            "jwks_uri": format!("{base}/oidc/jwks"),
            "revocation_endpoint": format!("{base}/oidc/revoke"),
            "introspection_endpoint": format!("{base}/oidc/introspect"),
            "end_session_endpoint": format!("{base}/oidc/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": SUPPORTED_GRANT_TYPES,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ALGORITHMS,
            "userinfo_signing_alg_values_supported": ["none"],
            "scopes_supported": SUPPORTED_SCOPES,
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "sid", "amr", "email",
                "email_verified", "name", "preferred_username", "picture", "roles", "groups",
            ],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "frontchannel_logout_supported": false,
        })
    }

    /// The published signing keys as a JWK set.
    pub async fn oidc_jwks(&self) -> Result<serde_json::Value> {
        Ok(self.oidc_keys().await?.jwks().clone())
    }

    /// The keys in force, read again from the database at most every [`KEY_RELOAD`]; the
    /// first use creates the current and next key of each algorithm.
    pub(crate) async fn oidc_keys(&self) -> Result<Arc<OidcKeys>> {
        if let Some(keys) = self.cached_oidc_keys()
            && keys.loaded.elapsed() < KEY_RELOAD
        {
            return Ok(keys);
        }
        let _turn = self.oidc.load.lock().await;
        if let Some(keys) = self.cached_oidc_keys()
            && keys.loaded.elapsed() < KEY_RELOAD
        {
            return Ok(keys);
        }
        self.reload_oidc_keys().await
    }

    fn cached_oidc_keys(&self) -> Option<Arc<OidcKeys>> {
        self.oidc.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the keys now (after a rotation, or when a token names an unknown key).
    pub(crate) async fn reload_oidc_keys(&self) -> Result<Arc<OidcKeys>> {
        let mut records = self.store.list_oidc_keys().await?;
        let mut added = false;
        for alg in ALGORITHMS {
            // Several instances may race here; (alg, generation) is unique, so one key wins.
            while records.iter().filter(|r| r.alg == alg).count() < 2 {
                let generation = records
                    .iter()
                    .filter(|r| r.alg == alg)
                    .map(|r| r.generation)
                    .max()
                    .unwrap_or(0)
                    + 1;
                let record = self.sealed_oidc_key(keys::generate(alg, generation, self.clock.now())?)?;
                self.store
                    .insert_oidc_key(&record, &crate::journal::Journal::default())
                    .await?;
                records = self.store.list_oidc_keys().await?;
                added = true;
            }
        }
        if added {
            records = self.store.list_oidc_keys().await?;
        }
        let opened = records
            .into_iter()
            .map(|r| self.opened_oidc_key(r))
            .collect::<Result<Vec<_>>>()?;
        let keys = Arc::new(OidcKeys::from_records(&opened, self.clock.now())?);
        *self.oidc.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(keys.clone());
        Ok(keys)
    }

    fn sealed_oidc_key(&self, record: OidcKeyRecord) -> Result<OidcKeyRecord> {
        if !self.secrets_configured {
            return Ok(record);
        }
        let sealed = self.secrets.seal(&record.private_key, &key_context(&record.kid))?;
        Ok(OidcKeyRecord {
            private_key: sealed.into_bytes(),
            ..record
        })
    }

    fn opened_oidc_key(&self, mut record: OidcKeyRecord) -> Result<OidcKeyRecord> {
        let sealed = std::str::from_utf8(&record.private_key)
            .ok()
            .filter(|s| crate::secret::SecretBox::is_sealed(s))
            .map(str::to_string);
        if let Some(sealed) = sealed {
            record.private_key = self.secrets.open(&sealed, &key_context(&record.kid)).map_err(|_| {
                Error::Internal(anyhow::anyhow!(
                    "the OpenID Connect signing key {} is sealed with another secret key: start with the secret key \
                     the other instances use",
                    record.kid
                ))
            })?;
        }
        Ok(record)
    }

    /// Rotates the signing keys of every algorithm: the next key starts signing, the current
    /// one retires (published until its tokens have expired), a new next key is published,
    /// and retired keys whose tokens have all expired are deleted. Returns the kids that sign
    /// now. Every instance follows within [`KEY_RELOAD`].
    pub async fn rotate_oidc_keys(&self, by: impl Into<Authority<'_>>) -> Result<Vec<(String, String)>> {
        let actor = by.into().require_admin()?;
        self.oidc_keys().await?;
        let records = self.store.list_oidc_keys().await?;
        for alg in ALGORITHMS {
            let generation = records
                .iter()
                .filter(|r| r.alg == alg)
                .map(|r| r.generation)
                .max()
                .unwrap_or(0)
                + 1;
            let record = keys::generate(alg, generation, self.clock.now())?;
            let journal = self
                .journal(actor)
                .audit(
                    action::KEYS_ROTATED,
                    None,
                    serde_json::json!({ "alg": alg, "next_kid": record.kid }),
                )
                .build();
            let record = self.sealed_oidc_key(record)?;
            self.store.insert_oidc_key(&record, &journal).await?;
        }
        let records = self.store.list_oidc_keys().await?;
        let (states, expired) = keys::classify(&records, self.clock.now());
        if !expired.is_empty() {
            self.store.delete_oidc_keys(&expired).await?;
        }
        self.reload_oidc_keys().await?;
        Ok(states
            .into_iter()
            .filter(|(_, s)| *s == keys::KeyState::Current)
            .filter_map(|(kid, _)| {
                let alg = records.iter().find(|r| r.kid == kid)?.alg.clone();
                Some((alg, kid))
            })
            .collect())
    }
}
