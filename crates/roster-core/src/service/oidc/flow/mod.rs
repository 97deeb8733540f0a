//! The authorization code flow, the token endpoint, userinfo, revocation, introspection and
//! RP-initiated logout.

mod access;
mod authorize;
mod logout;
mod token;

use super::{OAuthError, action};
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::service::Core;
use crate::store::{OidcGrant, StoreError};
use crate::token::{digest, random_secret};
use crate::user::User;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// How long an authorization code may wait for its exchange.
pub const CODE_TTL: Duration = Duration::seconds(60);
/// Longest accepted `state`, `nonce` or `login_hint`.
const MAX_PARAM: usize = 2048;

/// Who is signed in in the browser that asks (from the browser session).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    /// The browser session (the OpenID `sid`).
    pub session_id: SessionId,
    pub auth_time: OffsetDateTime,
    /// `pwd`, and `otp` after a second factor.
    pub amr: Vec<String>,
}

/// The parameters of an authorization request (query or form).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthorizeRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// Roster's own: a sign-in at or after this time (unix seconds) is required. Set when
    /// `prompt=login` or `max_age` sent the user to sign in again, so the return does not
    /// ask again.
    pub auth_after: Option<String>,
}

/// What the authorization endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeOutcome {
    /// Back to the client: with a code, or with an error (`error`, `state`, `iss`).
    Redirect(String),
    /// The user must sign in (again: `force`), then come back to `return_to` (a path).
    SignIn {
        force: bool,
        login_hint: Option<String>,
        return_to: String,
    },
    /// The user must approve this client (not first-party): show the consent page.
    Consent {
        client_id: String,
        client_name: String,
        scopes: Vec<String>,
    },
    /// An error shown to the user, never sent to an unverified redirect URI.
    ErrorPage { error: &'static str, description: String },
}

/// How a client authenticated at the token, revocation or introspection endpoint.
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    /// From `Authorization: Basic` (already URL-decoded by the caller).
    pub basic: Option<(String, String)>,
    /// `client_id` of the body.
    pub client_id: Option<String>,
    /// `client_secret` of the body.
    pub client_secret: Option<String>,
}

/// The parameters of a token request (form).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// A successful token response.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The parameters of an end-session request.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct EndSessionRequest {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub client_id: Option<String>,
    pub logout_hint: Option<String>,
    pub state: Option<String>,
}

/// What an end-session request names: whose session, and where to go after.
#[derive(Debug, Clone, PartialEq)]
pub struct EndSessionTarget {
    /// The user and browser session of a valid `id_token_hint`.
    pub hinted: Option<(crate::id::UserId, Option<SessionId>)>,
    /// A registered post-logout redirect URI, with `state`.
    pub redirect: Option<String>,
}

/// Access token claims Roster reads back (userinfo, introspection, revocation).
#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct AccessTokenClaims {
    sub: String,
    client_id: String,
    #[serde(default)]
    scope: String,
    iat: i64,
    exp: i64,
    #[serde(default)]
    aud: Value,
    /// The grant (absent for client_credentials).
    #[serde(default)]
    gid: Option<String>,
    /// Roster's marker: this is an access token.
    #[serde(default)]
    token_use: Option<String>,
}

impl AccessTokenClaims {
    /// The grant the token came from (None for client_credentials).
    fn grant_id(&self) -> Result<Option<i64>> {
        self.gid
            .as_deref()
            .map(|g| g.parse().map_err(|_| Error::InvalidToken))
            .transpose()
    }
}

/// Whether `grant` and its `user` still back an access token at `now`: the same user and
/// client, the grant not expired, the account allowed to sign in.
fn grant_backs(claims: &AccessTokenClaims, grant: &OidcGrant, user: &User, now: OffsetDateTime) -> Result<()> {
    if grant.user_id.to_string() != claims.sub || grant.client_id != claims.client_id || grant.expires_at <= now {
        return Err(Error::InvalidToken);
    }
    user.ensure_may_sign_in_at(now).map_err(|_| Error::InvalidToken)
}

/// Whether a token's `aud` (a string or an array of them) names `audience`.
fn audience_names(aud: &Value, audience: &str) -> bool {
    match aud {
        Value::String(a) => a == audience,
        Value::Array(items) => items.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

fn scopes(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|x| x == s) {
            out.push(s.to_string());
        }
    }
    out
}

fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

fn too_long(field: &str, value: &Option<String>) -> Option<String> {
    value
        .as_ref()
        .filter(|v| v.len() > MAX_PARAM)
        .map(|_| format!("{field} must be at most {MAX_PARAM} characters"))
}

/// `uri` with `params` added to its query.
fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in params {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

/// Whether `verifier` matches the S256 `challenge` (RFC 7636 §4.6).
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    if !(43..=128).contains(&verifier.len()) || !verifier.chars().all(ok_char) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    crate::token::digests_equal(&computed, challenge)
}

/// `return_to` with `auth_after` set to `at` (replacing one already there).
fn with_auth_after(return_to: &str, at: i64) -> String {
    let (path, query) = return_to.split_once('?').unwrap_or((return_to, ""));
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(k, _)| k != "auth_after")
        .collect();
    pairs.push(("auth_after".into(), at.to_string()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256() {
        // base64url(SHA-256(verifier)), computed independently.
        let verifier = "dBjftJeZ4CVP-mJ92K59mJ9ptYyXoSvcwQ98Ua8hCm4";
        assert!(pkce_matches(verifier, "QkivW4l930RkWv961iReOTNmRwNtPvQw3MK03HrFTKU"));
        assert!(!pkce_matches(verifier, "QkivW4l930RkWv961iReOTNmRwNtPvQw3MK03HrFTKV"));
        assert!(!pkce_matches("short", "QkivW4l930RkWv961iReOTNmRwNtPvQw3MK03HrFTKU"));
    }

    #[test]
    fn queries_and_return_paths() {
        assert_eq!(
            with_query("https://rp.example/cb?x=1", &[("code", "a b"), ("state", "s")]),
            "https://rp.example/cb?x=1&code=a+b&state=s"
        );
        assert_eq!(
            with_auth_after("/oidc/authorize?client_id=c&auth_after=1&prompt=login", 5),
            "/oidc/authorize?client_id=c&prompt=login&auth_after=5"
        );
        assert_eq!(scopes("openid  email openid"), vec!["openid", "email"]);
    }
}
