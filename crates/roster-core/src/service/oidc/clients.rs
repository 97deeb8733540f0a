//! Relying parties: registration, changes, secrets (hashed, shown once), removal. Every
//! change is audited and in the outbox (subject: the administrator who made it, 0 for the
//! command line).

use super::action;
use super::keys::{ALGORITHMS, MAX_TOKEN_TTL, RS256};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::service::webhook_net::{AddressPolicy, check_url};
use crate::service::{Authority, Core};
use crate::store::{OidcClient, StoreError};
use crate::token::{digest, digests_equal};
use rand::Rng as _;
use serde::Serialize;

/// The scopes Roster knows. `profile` also carries the role and the groups; `roles` and
/// `groups` carry them alone.
pub const SUPPORTED_SCOPES: [&str; 6] = ["openid", "profile", "email", "offline_access", "roles", "groups"];
/// The grants Roster supports (no implicit, no password grant).
pub const SUPPORTED_GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

const DEFAULT_ACCESS_TTL: i64 = 900;
const DEFAULT_ID_TTL: i64 = 3600;
const DEFAULT_REFRESH_TTL: i64 = 30 * 86_400;
const MAX_REFRESH_TTL: i64 = 365 * 86_400;
const MAX_URIS: usize = 20;
const MAX_URI_LENGTH: usize = 2000;
/// Length of a generated secret (`[A-Za-z0-9]`, about 238 bits).
const SECRET_LENGTH: usize = 40;
/// Shortest secret accepted from the operator.
const MIN_SECRET_LENGTH: usize = 32;
/// Claims a client may not rename the role or groups claim to.
const RESERVED_CLAIMS: [&str; 20] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "azp",
    "sid",
    "amr",
    "acr",
    "at_hash",
    "email",
    "email_verified",
    "name",
    "preferred_username",
    "picture",
    "scope",
];

/// A new client: its id, whether it is public (no secret; PKCE), the secret to use (None:
/// one is generated) and its settings.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub client_id: String,
    pub public: bool,
    pub secret: Option<String>,
    pub settings: ClientChanges,
}

/// Settings to set; None leaves a setting as it is (on a new client: its default). For the
/// optional ones, `Some(None)` clears.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    pub name: Option<Option<String>>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub audience: Option<Option<String>>,
    pub first_party: Option<bool>,
    pub backchannel_logout_uri: Option<Option<String>>,
    pub signing_alg: Option<String>,
    pub access_token_ttl: Option<i64>,
    pub id_token_ttl: Option<i64>,
    pub refresh_token_ttl: Option<i64>,
    pub roles_claim: Option<String>,
    pub groups_claim: Option<String>,
}

/// A client as shown to administrators: everything but the secret's digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub name: Option<String>,
    /// Whether it authenticates with a secret.
    pub confidential: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub audience: Option<String>,
    pub first_party: bool,
    pub backchannel_logout_uri: Option<String>,
    pub signing_alg: String,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub roles_claim: String,
    pub groups_claim: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
}

impl From<&OidcClient> for ClientView {
    fn from(c: &OidcClient) -> Self {
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            confidential: c.secret_digest.is_some(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            scopes: c.scopes.clone(),
            grant_types: c.grant_types.clone(),
            audience: c.audience.clone(),
            first_party: c.first_party,
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            signing_alg: c.signing_alg.clone(),
            access_token_ttl: c.access_token_ttl,
            id_token_ttl: c.id_token_ttl,
            refresh_token_ttl: c.refresh_token_ttl,
            roles_claim: c.roles_claim.clone(),
            groups_claim: c.groups_claim.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A client just made (or whose secret was just replaced): the secret is shown this once.
#[derive(Debug, Clone)]
pub struct ClientCreated {
    pub client: ClientView,
    /// The generated secret (None: public, or the operator gave it).
    pub secret: Option<String>,
}

/// A random secret of `[A-Za-z0-9]` (what every relying party sends unchanged, encoded or
/// not).
fn generate_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..SECRET_LENGTH)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn validate_client_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            "client_id",
            "must be 1 to 64 letters (A-Z, a-z) and digits, which every relying party sends unchanged",
        ));
    }
    Ok(())
}

fn validate_secret(secret: &str) -> Result<()> {
    if secret.len() < MIN_SECRET_LENGTH || secret.len() > 128 || !secret.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            "secret",
            format!("must be {MIN_SECRET_LENGTH} to 128 letters (A-Z, a-z) and digits"),
        ));
    }
    Ok(())
}

/// An absolute http(s) URL without a fragment or credentials.
fn validate_uri(field: &'static str, uri: &str) -> Result<()> {
    if uri.len() > MAX_URI_LENGTH {
        return Err(Error::invalid(
            field,
            format!("each must be at most {MAX_URI_LENGTH} characters"),
        ));
    }
    let parsed = url::Url::parse(uri).map_err(|_| Error::invalid(field, format!("{uri:?} is not an absolute URL")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::invalid(field, format!("{uri:?} must be an http or https URL")));
    }
    if parsed.fragment().is_some() {
        return Err(Error::invalid(field, format!("{uri:?} must not have a fragment")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::invalid(field, format!("{uri:?} must not carry credentials")));
    }
    Ok(())
}

fn validate_uris(field: &'static str, uris: &[String]) -> Result<Vec<String>> {
    if uris.len() > MAX_URIS {
        return Err(Error::invalid(field, format!("at most {MAX_URIS}")));
    }
    let mut out: Vec<String> = Vec::with_capacity(uris.len());
    for uri in uris {
        validate_uri(field, uri)?;
        if !out.contains(uri) {
            out.push(uri.clone());
        }
    }
    Ok(out)
}

fn validate_list(field: &'static str, values: &[String], allowed: &[&str]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !allowed.contains(&v.as_str()) {
            return Err(Error::invalid(
                field,
                format!("{v:?} is not one of {}", allowed.join(", ")),
            ));
        }
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    Ok(out)
}

fn validate_ttl(field: &'static str, ttl: i64, max: i64) -> Result<()> {
    if !(60..=max).contains(&ttl) {
        return Err(Error::invalid(field, format!("must be 60 to {max} seconds")));
    }
    Ok(())
}

fn validate_claim_name(field: &'static str, name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_-.:/".contains(c);
    if name.is_empty() || name.len() > 100 || !name.chars().all(ok_char) {
        return Err(Error::invalid(
            field,
            "must be 1 to 100 letters, digits and _ - . : / (a claim name)",
        ));
    }
    if RESERVED_CLAIMS.contains(&name) {
        return Err(Error::invalid(
            field,
            format!("{name:?} is a standard claim Roster sets itself"),
        ));
    }
    Ok(())
}

fn optional_text(field: &'static str, value: Option<String>, max: usize) -> Result<Option<String>> {
    let Some(v) = value else { return Ok(None) };
    let v = v.trim().to_string();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} characters, without control characters"),
        ));
    }
    Ok(Some(v))
}

/// Applies `changes` to `client` and checks the whole result.
/// Applies `changes` to `client`; `policy` is where outbound requests may go (the
/// back-channel logout URI is checked as a webhook URL is).
fn apply(client: &mut OidcClient, changes: ClientChanges, policy: AddressPolicy) -> Result<()> {
    if let Some(name) = changes.name {
        client.name = optional_text("name", name, 200)?;
    }
    if let Some(uris) = changes.redirect_uris {
        client.redirect_uris = validate_uris("redirect_uris", &uris)?;
    }
    if let Some(uris) = changes.post_logout_redirect_uris {
        client.post_logout_redirect_uris = validate_uris("post_logout_redirect_uris", &uris)?;
    }
    if let Some(scopes) = changes.scopes {
        client.scopes = validate_list("scopes", &scopes, &SUPPORTED_SCOPES)?;
    }
    if let Some(grants) = changes.grant_types {
        client.grant_types = validate_list("grant_types", &grants, &SUPPORTED_GRANT_TYPES)?;
    }
    if let Some(audience) = changes.audience {
        let audience = optional_text("audience", audience, 200)?;
        if audience.as_deref().is_some_and(|a| a.contains(char::is_whitespace)) {
            return Err(Error::invalid("audience", "must not contain whitespace"));
        }
        client.audience = audience;
    }
    if let Some(first_party) = changes.first_party {
        client.first_party = first_party;
    }
    if let Some(uri) = changes.backchannel_logout_uri {
        let uri = uri.filter(|u| !u.trim().is_empty());
        if let Some(u) = &uri {
            validate_uri("backchannel_logout_uri", u)?;
            let parsed = url::Url::parse(u).map_err(|_| Error::invalid("backchannel_logout_uri", "is not a URL"))?;
            check_url(&parsed, policy).map_err(|e| match e {
                Error::Invalid { reason, .. } => Error::invalid("backchannel_logout_uri", reason),
                e => e,
            })?;
        }
        client.backchannel_logout_uri = uri;
    }
    if let Some(alg) = changes.signing_alg {
        let Some(alg) = ALGORITHMS.iter().find(|a| a.eq_ignore_ascii_case(&alg)) else {
            return Err(Error::invalid(
                "signing_alg",
                format!("must be one of {}", ALGORITHMS.join(", ")),
            ));
        };
        client.signing_alg = (*alg).to_string();
    }
    let max_ttl = MAX_TOKEN_TTL.whole_seconds();
    if let Some(ttl) = changes.access_token_ttl {
        validate_ttl("access_token_ttl", ttl, max_ttl)?;
        client.access_token_ttl = ttl;
    }
    if let Some(ttl) = changes.id_token_ttl {
        validate_ttl("id_token_ttl", ttl, max_ttl)?;
        client.id_token_ttl = ttl;
    }
    if let Some(ttl) = changes.refresh_token_ttl {
        validate_ttl("refresh_token_ttl", ttl, MAX_REFRESH_TTL)?;
        client.refresh_token_ttl = ttl;
    }
    if let Some(claim) = changes.roles_claim {
        validate_claim_name("roles_claim", &claim)?;
        client.roles_claim = claim;
    }
    if let Some(claim) = changes.groups_claim {
        validate_claim_name("groups_claim", &claim)?;
        client.groups_claim = claim;
    }
    if client.roles_claim == client.groups_claim {
        return Err(Error::invalid("groups_claim", "must differ from roles_claim"));
    }
    let has = |g: &str| client.grant_types.iter().any(|x| x == g);
    if has("authorization_code") && client.redirect_uris.is_empty() {
        return Err(Error::invalid(
            "redirect_uris",
            "at least one is needed for the authorization_code grant",
        ));
    }
    if has("refresh_token") && !has("authorization_code") {
        return Err(Error::invalid("grant_types", "refresh_token needs authorization_code"));
    }
    if has("client_credentials") && client.secret_digest.is_none() {
        return Err(Error::invalid(
            "grant_types",
            "client_credentials needs a confidential client (one with a secret)",
        ));
    }
    if client.grant_types.is_empty() {
        return Err(Error::invalid("grant_types", "must not be empty"));
    }
    Ok(())
}

fn subject(actor: Option<UserId>) -> UserId {
    actor.unwrap_or(UserId(0))
}

fn not_found(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => Error::NotFound("client"),
        e => e.into(),
    }
}

impl Core {
    /// Registers a client. Its secret (generated unless given) is returned once and stored
    /// only as a digest.
    pub async fn create_oidc_client(&self, by: impl Into<Authority<'_>>, new: NewClient) -> Result<ClientCreated> {
        let actor = by.into().require_admin()?;
        let (client, shown) = self.new_oidc_client(new)?;
        let details = serde_json::json!({ "client_id": client.client_id });
        let journal = self
            .journal(actor)
            .audit(action::CLIENT_CREATED, None, details.clone())
            .event(action::CLIENT_CREATED, subject(actor), details)
            .build();
        self.store
            .insert_oidc_client(&client, &journal)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => Error::Conflict { field: "client_id" },
                e => e.into(),
            })?;
        Ok(ClientCreated {
            client: ClientView::from(&client),
            secret: shown,
        })
    }

    /// The client `new` describes, as [`Core::create_oidc_client`] would store it, and the
    /// secret generated for it (None: public, or given).
    fn new_oidc_client(&self, new: NewClient) -> Result<(OidcClient, Option<String>)> {
        validate_client_id(&new.client_id)?;
        let (secret, shown) = match (new.public, new.secret) {
            (true, Some(_)) => return Err(Error::invalid("secret", "a public client has no secret")),
            (true, None) => (None, None),
            (false, Some(s)) => {
                validate_secret(&s)?;
                (Some(s), None)
            }
            (false, None) => {
                let s = generate_secret();
                (Some(s.clone()), Some(s))
            }
        };
        let now = self.clock.now();
        let mut client = OidcClient {
            client_id: new.client_id,
            name: None,
            secret_digest: secret.as_deref().map(digest),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            scopes: SUPPORTED_SCOPES.iter().map(|s| s.to_string()).collect(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            audience: None,
            first_party: false,
            backchannel_logout_uri: None,
            signing_alg: RS256.into(),
            access_token_ttl: DEFAULT_ACCESS_TTL,
            id_token_ttl: DEFAULT_ID_TTL,
            refresh_token_ttl: DEFAULT_REFRESH_TTL,
            roles_claim: "roles".into(),
            groups_claim: "groups".into(),
            created_at: now,
            updated_at: now,
        };
        apply(&mut client, new.settings, self.address_policy())?;
        Ok((client, shown))
    }

    /// Checks a client as [`Core::create_oidc_client`] would, storing nothing; returns it as
    /// it would be shown (with its defaults filled in).
    pub fn check_oidc_client(&self, new: NewClient) -> Result<ClientView> {
        self.new_oidc_client(new).map(|(client, _)| ClientView::from(&client))
    }

    /// Whether `secret` is the client's secret (false for a public client; the secret is
    /// stored only as a digest).
    pub async fn oidc_client_secret_is(
        &self,
        by: impl Into<Authority<'_>>,
        client_id: &str,
        secret: &str,
    ) -> Result<bool> {
        by.into().require_admin()?;
        let client = self.store.get_oidc_client(client_id).await.map_err(not_found)?;
        Ok(secret_matches(&client, secret))
    }

    /// Every client.
    pub async fn list_oidc_clients(&self, by: impl Into<Authority<'_>>) -> Result<Vec<ClientView>> {
        by.into().require_admin()?;
        Ok(self
            .store
            .list_oidc_clients()
            .await?
            .iter()
            .map(ClientView::from)
            .collect())
    }

    /// One client.
    pub async fn get_oidc_client(&self, by: impl Into<Authority<'_>>, client_id: &str) -> Result<ClientView> {
        by.into().require_admin()?;
        let client = self.store.get_oidc_client(client_id).await.map_err(not_found)?;
        Ok(ClientView::from(&client))
    }

    /// Changes a client's settings.
    pub async fn update_oidc_client(
        &self,
        by: impl Into<Authority<'_>>,
        client_id: &str,
        changes: ClientChanges,
    ) -> Result<ClientView> {
        let actor = by.into().require_admin()?;
        let mut client = self.store.get_oidc_client(client_id).await.map_err(not_found)?;
        apply(&mut client, changes, self.address_policy())?;
        client.updated_at = self.clock.now();
        let details = serde_json::json!({ "client_id": client.client_id });
        let journal = self
            .journal(actor)
            .audit(action::CLIENT_UPDATED, None, details.clone())
            .event(action::CLIENT_UPDATED, subject(actor), details)
            .build();
        self.store
            .update_oidc_client(&client, &journal)
            .await
            .map_err(not_found)?;
        Ok(ClientView::from(&client))
    }

    /// Replaces a confidential client's secret (generated unless given; the old one stops
    /// working at once).
    pub async fn rotate_oidc_client_secret(
        &self,
        by: impl Into<Authority<'_>>,
        client_id: &str,
        secret: Option<String>,
    ) -> Result<ClientCreated> {
        let actor = by.into().require_admin()?;
        let mut client = self.store.get_oidc_client(client_id).await.map_err(not_found)?;
        if client.secret_digest.is_none() {
            return Err(Error::invalid("client_id", "a public client has no secret"));
        }
        let (secret, shown) = match secret {
            Some(s) => {
                validate_secret(&s)?;
                (s, None)
            }
            None => {
                let s = generate_secret();
                (s.clone(), Some(s))
            }
        };
        client.secret_digest = Some(digest(&secret));
        client.updated_at = self.clock.now();
        let details = serde_json::json!({ "client_id": client.client_id });
        let journal = self
            .journal(actor)
            .audit(action::CLIENT_SECRET_ROTATED, None, details.clone())
            .event(action::CLIENT_SECRET_ROTATED, subject(actor), details)
            .build();
        self.store
            .update_oidc_client(&client, &journal)
            .await
            .map_err(not_found)?;
        Ok(ClientCreated {
            client: ClientView::from(&client),
            secret: shown,
        })
    }

    /// Removes a client with its grants and tokens.
    pub async fn delete_oidc_client(&self, by: impl Into<Authority<'_>>, client_id: &str) -> Result<()> {
        let actor = by.into().require_admin()?;
        let details = serde_json::json!({ "client_id": client_id });
        let journal = self
            .journal(actor)
            .audit(action::CLIENT_DELETED, None, details.clone())
            .event(action::CLIENT_DELETED, subject(actor), details)
            .build();
        self.store
            .delete_oidc_client(client_id, &journal)
            .await
            .map_err(not_found)
    }
}

/// Whether `secret` is the client's secret (constant time on the digests).
pub(super) fn secret_matches(client: &OidcClient, secret: &str) -> bool {
    client
        .secret_digest
        .as_deref()
        .is_some_and(|d| digests_equal(d, &digest(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        assert!(validate_client_id("openwebui1").is_ok());
        for bad in ["", "open-webui", "a b", "é"] {
            assert!(matches!(
                validate_client_id(bad),
                Err(Error::Invalid { field: "client_id", .. })
            ));
        }
        assert!(validate_secret(&generate_secret()).is_ok());
        assert!(validate_secret("short").is_err());
        assert!(validate_uri("redirect_uris", "https://chat.example/oauth/oidc/callback").is_ok());
        for bad in [
            "/relative",
            "ftp://x.example/",
            "https://x.example/#f",
            "https://u:p@x.example/",
        ] {
            assert!(matches!(
                validate_uri("redirect_uris", bad),
                Err(Error::Invalid {
                    field: "redirect_uris",
                    ..
                })
            ));
        }
        assert!(validate_claim_name("roles_claim", "realm_access.roles").is_ok());
        assert!(validate_claim_name("roles_claim", "sub").is_err());
    }
}
