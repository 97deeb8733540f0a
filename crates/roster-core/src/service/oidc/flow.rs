//! The authorization code flow, the token endpoint, userinfo, revocation, introspection and
//! RP-initiated logout.

use super::clients::secret_matches;
use super::{OAuthError, action};
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::service::Core;
use crate::store::{CodeRedemption, OidcClient, OidcCode, OidcGrant, RefreshRotation, StoreError};
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

impl Core {
    fn oauth_redirect_error(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        error: &'static str,
        description: &str,
    ) -> AuthorizeOutcome {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(state) = state {
            params.push(("state", state));
        }
        params.push(("iss", self.oidc_issuer()));
        AuthorizeOutcome::Redirect(with_query(redirect_uri, &params))
    }

    /// The authorization endpoint: checks the request, then decides whether to issue a code,
    /// ask the user to sign in or to consent, or send an error back. `consent` is the user's
    /// answer on the consent page (None: not asked yet). `return_to` is the path and query of
    /// this request, to come back to after signing in.
    pub async fn oidc_authorize(
        &self,
        request: &AuthorizeRequest,
        signed_in: Option<&SignedIn>,
        consent: Option<bool>,
        return_to: &str,
    ) -> Result<AuthorizeOutcome> {
        let page = |error: &'static str, description: &str| AuthorizeOutcome::ErrorPage {
            error,
            description: description.to_string(),
        };
        // Until the client and redirect URI are verified, errors are shown, never redirected.
        let Some(client_id) = request.client_id.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(page("invalid_request", "client_id is missing"));
        };
        let client = match self.store.get_oidc_client(client_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Ok(page("invalid_client", "the client is not registered")),
            Err(e) => return Err(e.into()),
        };
        let Some(redirect_uri) = request.redirect_uri.as_deref() else {
            return Ok(page("invalid_request", "redirect_uri is missing"));
        };
        if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Ok(page(
                "invalid_request",
                "redirect_uri is not registered for this client (it must match exactly)",
            ));
        }
        let state = request.state.as_deref();
        let fail = |error: &'static str, description: &str| -> Result<AuthorizeOutcome> {
            Ok(self.oauth_redirect_error(redirect_uri, state, error, description))
        };
        for (field, value) in [
            ("state", &request.state),
            ("nonce", &request.nonce),
            ("login_hint", &request.login_hint),
        ] {
            if let Some(description) = too_long(field, value) {
                return fail("invalid_request", &description);
            }
        }
        if request.request.is_some() {
            return fail("request_not_supported", "request objects are not supported");
        }
        if request.request_uri.is_some() {
            return fail("request_uri_not_supported", "request_uri is not supported");
        }
        match request.response_type.as_deref() {
            Some("code") => {}
            None => return fail("invalid_request", "response_type is missing"),
            Some(_) => return fail("unsupported_response_type", "only response_type=code is supported"),
        }
        if request.response_mode.as_deref().is_some_and(|m| m != "query") {
            return fail("invalid_request", "only response_mode=query is supported");
        }
        if !client.grant_types.iter().any(|g| g == "authorization_code") {
            return fail(
                "unauthorized_client",
                "this client may not use the authorization code flow",
            );
        }
        let requested = scopes(request.scope.as_deref().unwrap_or(""));
        if requested.is_empty() {
            return fail("invalid_scope", "scope is missing");
        }
        if let Some(bad) = requested.iter().find(|s| !client.scopes.contains(s)) {
            return fail(
                "invalid_scope",
                &format!("scope {bad:?} is not allowed for this client"),
            );
        }
        let challenge = match (
            request.code_challenge.as_deref(),
            request.code_challenge_method.as_deref(),
        ) {
            (None, None) => None,
            (None, Some(_)) => return fail("invalid_request", "code_challenge_method without code_challenge"),
            (Some(c), Some("S256")) => Some(c),
            (Some(_), None) => {
                return fail(
                    "invalid_request",
                    "code_challenge_method must be S256 (plain is not supported)",
                );
            }
            (Some(_), Some(_)) => return fail("invalid_request", "code_challenge_method must be S256"),
        };
        if let Some(c) = challenge
            && (c.len() != 43 || !c.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return fail(
                "invalid_request",
                "code_challenge must be a base64url SHA-256 (43 characters)",
            );
        }
        if challenge.is_none() && client.secret_digest.is_none() {
            return fail(
                "invalid_request",
                "a public client must use PKCE (code_challenge with S256)",
            );
        }
        let prompts = scopes(request.prompt.as_deref().unwrap_or(""));
        if let Some(bad) = prompts
            .iter()
            .find(|p| !["none", "login", "consent", "select_account"].contains(&p.as_str()))
        {
            return fail("invalid_request", &format!("prompt {bad:?} is not supported"));
        }
        let prompt_none = prompts.iter().any(|p| p == "none");
        if prompt_none && prompts.len() > 1 {
            return fail("invalid_request", "prompt=none cannot be combined with other values");
        }
        let max_age = match request.max_age.as_deref() {
            None | Some("") => None,
            Some(v) => match v.parse::<u32>() {
                Ok(v) => Some(i64::from(v)),
                Err(_) => return fail("invalid_request", "max_age must be a number of seconds"),
            },
        };
        let auth_after = request.auth_after.as_deref().and_then(|v| v.parse::<i64>().ok());
        let now = self.clock.now();

        // Who is signed in.
        let Some(signed_in) = signed_in else {
            if prompt_none {
                return fail("login_required", "the user is not signed in");
            }
            return Ok(AuthorizeOutcome::SignIn {
                force: false,
                login_hint: request.login_hint.clone(),
                return_to: return_to.to_string(),
            });
        };
        let auth_time = signed_in.auth_time.unix_timestamp();
        let too_old = max_age.is_some_and(|m| now.unix_timestamp() - auth_time > m);
        let wants_login = prompts.iter().any(|p| p == "login");
        let fresh = auth_after.is_some_and(|t| auth_time >= t);
        if !fresh && (wants_login || too_old) {
            if prompt_none {
                return fail("login_required", "the user must sign in again");
            }
            // Come back without prompt=login (or a max_age already past), but require a
            // sign-in from now on.
            let return_to = with_auth_after(return_to, now.unix_timestamp());
            return Ok(AuthorizeOutcome::SignIn {
                force: true,
                login_hint: request.login_hint.clone(),
                return_to,
            });
        }
        if signed_in.user.ensure_may_sign_in_at(now).is_err() {
            return fail("access_denied", "this account may not sign in");
        }
        if !client.first_party {
            match consent {
                Some(true) => {
                    self.remember_oidc_consent(signed_in.user.id, &client, &requested)
                        .await?
                }
                Some(false) => return fail("access_denied", "the user did not allow access"),
                // A remembered consent covers scopes allowed before, unless prompt=consent.
                None if !prompts.iter().any(|p| p == "consent")
                    && self
                        .oidc_consent_covers(signed_in.user.id, &client.client_id, &requested)
                        .await? => {}
                None if prompt_none => {
                    return fail("consent_required", "the user must approve this client");
                }
                None => {
                    return Ok(AuthorizeOutcome::Consent {
                        client_id: client.client_id.clone(),
                        client_name: client.name.clone().unwrap_or_else(|| client.client_id.clone()),
                        scopes: requested,
                    });
                }
            }
        }

        // Issue the code. With offline_access (and refresh tokens), the grant lives in a
        // session of its own and outlives the browser session's sign-out.
        let code = random_secret();
        let offline = has_scope(&requested.join(" "), "offline_access")
            && client.grant_types.iter().any(|g| g == "refresh_token");
        let grant = OidcGrant {
            id: self.next_id(),
            client_id: client.client_id.clone(),
            user_id: signed_in.user.id,
            session_id: if offline {
                SessionId(self.next_id())
            } else {
                signed_in.session_id
            },
            sid: signed_in.session_id,
            offline,
            scope: requested.join(" "),
            auth_time: signed_in.auth_time,
            amr: signed_in.amr.clone(),
            created_at: now,
            expires_at: now + Duration::seconds(client.refresh_token_ttl),
        };
        let stored = OidcCode {
            grant_id: grant.id,
            redirect_uri: redirect_uri.to_string(),
            nonce: request.nonce.clone(),
            code_challenge: challenge.map(str::to_string),
            created_at: now,
            expires_at: now + CODE_TTL,
        };
        let journal = self
            .journal(Some(signed_in.user.id))
            .audit(
                action::AUTHORIZE,
                Some(signed_in.user.id),
                json!({ "client_id": client.client_id, "scope": grant.scope }),
            )
            .build();
        self.store
            .insert_oidc_grant(&grant, &digest(&code), &stored, &journal)
            .await
            .map_err(|e| match e {
                // The browser session ended meanwhile.
                StoreError::NotFound => Error::InvalidToken,
                e => e.into(),
            })?;
        let mut params = vec![("code", code.as_str())];
        if let Some(state) = state {
            params.push(("state", state));
        }
        params.push(("iss", self.oidc_issuer()));
        Ok(AuthorizeOutcome::Redirect(with_query(redirect_uri, &params)))
    }

    /// Authenticates the client of a token, revocation or introspection request.
    /// `require_confidential`: a public client (no secret) is refused.
    pub async fn oidc_authenticate_client(
        &self,
        auth: &ClientAuth,
        require_confidential: bool,
    ) -> Result<OidcClient, OAuthError> {
        let (id, secret) = match (&auth.basic, &auth.client_id, &auth.client_secret) {
            (Some(_), _, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method (Basic or client_secret), not both",
                ));
            }
            (Some((id, _)), Some(body_id), None) if body_id != id => {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the Basic credentials",
                ));
            }
            (Some((id, secret)), _, None) => (id.clone(), Some(secret.clone())),
            (None, Some(id), secret) => (id.clone(), secret.clone()),
            (None, None, _) => {
                return Err(OAuthError::invalid_client("client authentication is missing"));
            }
        };
        let client = match self.store.get_oidc_client(&id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                let _ = digest(secret.as_deref().unwrap_or(""));
                return Err(OAuthError::invalid_client("unknown client or wrong secret"));
            }
            Err(e) => return Err(e.into()),
        };
        match (&client.secret_digest, secret) {
            (Some(_), Some(s)) if secret_matches(&client, &s) => Ok(client),
            (Some(_), _) => Err(OAuthError::invalid_client("unknown client or wrong secret")),
            (None, Some(_)) => Err(OAuthError::invalid_client("a public client has no secret")),
            (None, None) if require_confidential => Err(OAuthError::invalid_client(
                "this endpoint needs a confidential client's credentials",
            )),
            (None, None) => Ok(client),
        }
    }

    /// The token endpoint.
    pub async fn oidc_token(&self, request: &TokenRequest, auth: &ClientAuth) -> Result<TokenResponse, OAuthError> {
        let grant_type = request
            .grant_type
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
        if !super::SUPPORTED_GRANT_TYPES.contains(&grant_type) {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("grant_type {grant_type:?} is not supported"),
            ));
        }
        let client = self.oidc_authenticate_client(auth, false).await?;
        if !client.grant_types.iter().any(|g| g == grant_type) {
            return Err(OAuthError::unauthorized_client(format!(
                "this client may not use the {grant_type} grant"
            )));
        }
        match grant_type {
            "authorization_code" => {
                let outcome = self.exchange_code(&client, request).await;
                let label = match &outcome {
                    Ok(_) => "success",
                    Err(e) if e.error == "invalid_grant" => "invalid_credentials",
                    Err(e) if e.error == "server_error" => "error",
                    Err(_) => "refused",
                };
                crate::telemetry::login(crate::telemetry::LoginMethod::Oidc, label);
                outcome
            }
            "refresh_token" => self.exchange_refresh_token(&client, request).await,
            _ => self.client_credentials(&client, request).await,
        }
    }

    async fn exchange_code(&self, client: &OidcClient, request: &TokenRequest) -> Result<TokenResponse, OAuthError> {
        let code = request
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let redirect_uri = request
            .redirect_uri
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
        let now = self.clock.now();
        let (stored, grant, user) = match self.store.redeem_oidc_code(&digest(code), now).await? {
            CodeRedemption::Unknown => return Err(OAuthError::invalid_grant("the code is invalid or expired")),
            CodeRedemption::Replayed { grant_id } => {
                // A replayed code has leaked: end what it issued.
                self.end_oidc_grant(grant_id, "code_replayed").await?;
                return Err(OAuthError::invalid_grant("the code was already used"));
            }
            CodeRedemption::Redeemed(found) => *found,
        };
        if grant.client_id != client.client_id {
            return Err(OAuthError::invalid_grant("the code was issued to another client"));
        }
        if stored.expires_at <= now {
            return Err(OAuthError::invalid_grant("the code is invalid or expired"));
        }
        if stored.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        match (&stored.code_challenge, request.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
            (Some(_), Some(_)) => return Err(OAuthError::invalid_grant("code_verifier does not match")),
            (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier given, but the authorization request had no code_challenge",
                ));
            }
            (None, None) => {}
        }
        if user.ensure_may_sign_in_at(now).is_err() {
            self.end_oidc_grant(grant.id, "account_may_not_sign_in").await?;
            return Err(OAuthError::invalid_grant("this account may not sign in"));
        }
        self.issue_tokens(
            client,
            &grant,
            &user,
            &grant.scope,
            stored.nonce.as_deref(),
            "authorization_code",
        )
        .await
    }

    async fn exchange_refresh_token(
        &self,
        client: &OidcClient,
        request: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let token = request
            .refresh_token
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
        let old = digest(token);
        let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
        // The token must be this client's before anything changes.
        let Some((grant_id, _)) = self.store.get_oidc_refresh_token(&old).await? else {
            return Err(invalid());
        };
        let (grant, _) = match self.store.get_oidc_grant(grant_id).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(invalid()),
            Err(e) => return Err(e.into()),
        };
        if grant.client_id != client.client_id {
            return Err(invalid());
        }
        let now = self.clock.now();
        if grant.expires_at <= now {
            self.end_oidc_grant(grant.id, "expired").await?;
            return Err(invalid());
        }
        let scope = match request.scope.as_deref().filter(|s| !s.trim().is_empty()) {
            None => grant.scope.clone(),
            Some(asked) => {
                let asked = scopes(asked);
                if let Some(bad) = asked.iter().find(|s| !has_scope(&grant.scope, s)) {
                    return Err(OAuthError::invalid_scope(format!("scope {bad:?} was not granted")));
                }
                asked.join(" ")
            }
        };
        let next = random_secret();
        let (grant, user) = match self.store.rotate_oidc_refresh_token(&old, &digest(&next), now).await? {
            RefreshRotation::Unknown => return Err(invalid()),
            RefreshRotation::Reused { grant_id } => {
                tracing::warn!(grant = grant_id, client = %client.client_id, "oidc refresh token reused; grant revoked");
                self.end_oidc_grant(grant_id, "refresh_token_reused").await?;
                return Err(invalid());
            }
            RefreshRotation::Rotated(found) => *found,
        };
        if user.ensure_may_sign_in_at(now).is_err() {
            self.end_oidc_grant(grant.id, "account_may_not_sign_in").await?;
            return Err(OAuthError::invalid_grant("this account may not sign in"));
        }
        let mut response = self
            .issue_tokens_inner(client, &grant, &user, &scope, None, "refresh_token", false)
            .await?;
        response.refresh_token = Some(next);
        Ok(response)
    }

    async fn client_credentials(
        &self,
        client: &OidcClient,
        request: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        if client.secret_digest.is_none() {
            return Err(OAuthError::unauthorized_client(
                "client_credentials needs a confidential client",
            ));
        }
        let asked = scopes(request.scope.as_deref().unwrap_or(""));
        if let Some(bad) = asked
            .iter()
            .find(|s| ["openid", "offline_access"].contains(&s.as_str()) || !client.scopes.contains(s))
        {
            return Err(OAuthError::invalid_scope(format!(
                "scope {bad:?} is not allowed for client_credentials"
            )));
        }
        let scope = asked.join(" ");
        let now = self.clock.now();
        let claims = json!({
            "iss": self.oidc_issuer(),
            "sub": client.client_id,
            "aud": client.audience.clone().unwrap_or_else(|| client.client_id.clone()),
            "exp": (now + Duration::seconds(client.access_token_ttl)).unix_timestamp(),
            "iat": now.unix_timestamp(),
            "jti": random_secret(),
            "client_id": client.client_id,
            "scope": scope,
            "token_use": "access",
        });
        let keys = self.oidc_keys().await?;
        let access_token = keys.sign(&client.signing_alg, Some("at+jwt"), &claims)?;
        let journal = self
            .journal(None)
            .audit(
                action::TOKEN,
                None,
                json!({ "client_id": client.client_id, "grant_type": "client_credentials" }),
            )
            .build();
        self.store.append_journal(&journal).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: client.access_token_ttl,
            scope,
            id_token: None,
            refresh_token: None,
        })
    }

    async fn issue_tokens(
        &self,
        client: &OidcClient,
        grant: &OidcGrant,
        user: &User,
        scope: &str,
        nonce: Option<&str>,
        grant_type: &str,
    ) -> Result<TokenResponse, OAuthError> {
        self.issue_tokens_inner(client, grant, user, scope, nonce, grant_type, true)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue_tokens_inner(
        &self,
        client: &OidcClient,
        grant: &OidcGrant,
        user: &User,
        scope: &str,
        nonce: Option<&str>,
        grant_type: &str,
        new_refresh_token: bool,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now();
        let profile = self.oidc_profile_claims(client, user, scope).await?;
        let keys = self.oidc_keys().await?;
        let sid = grant.sid.to_string();
        let mut access = Map::new();
        access.insert("iss".into(), json!(self.oidc_issuer()));
        access.insert("sub".into(), json!(user.id.to_string()));
        access.insert(
            "aud".into(),
            json!(client.audience.clone().unwrap_or_else(|| client.client_id.clone())),
        );
        access.insert(
            "exp".into(),
            json!((now + Duration::seconds(client.access_token_ttl)).unix_timestamp()),
        );
        access.insert("iat".into(), json!(now.unix_timestamp()));
        access.insert("auth_time".into(), json!(grant.auth_time.unix_timestamp()));
        access.insert("jti".into(), json!(random_secret()));
        access.insert("client_id".into(), json!(client.client_id));
        access.insert("azp".into(), json!(client.client_id));
        access.insert("scope".into(), json!(scope));
        access.insert("sid".into(), json!(sid));
        access.insert("gid".into(), json!(grant.id.to_string()));
        access.insert("token_use".into(), json!("access"));
        for (k, v) in &profile {
            access.insert(k.clone(), v.clone());
        }
        let access_token = keys.sign(&client.signing_alg, Some("at+jwt"), &Value::Object(access))?;
        let id_token = if has_scope(scope, "openid") {
            let mut id = Map::new();
            id.insert("iss".into(), json!(self.oidc_issuer()));
            id.insert("sub".into(), json!(user.id.to_string()));
            id.insert("aud".into(), json!(client.client_id));
            id.insert(
                "exp".into(),
                json!((now + Duration::seconds(client.id_token_ttl)).unix_timestamp()),
            );
            id.insert("iat".into(), json!(now.unix_timestamp()));
            id.insert("auth_time".into(), json!(grant.auth_time.unix_timestamp()));
            if let Some(nonce) = nonce {
                id.insert("nonce".into(), json!(nonce));
            }
            id.insert("azp".into(), json!(client.client_id));
            id.insert("sid".into(), json!(sid));
            if !grant.amr.is_empty() {
                id.insert("amr".into(), json!(grant.amr));
            }
            for (k, v) in profile {
                id.insert(k, v);
            }
            Some(keys.sign(&client.signing_alg, Some("JWT"), &Value::Object(id))?)
        } else {
            None
        };
        let refresh_token = if new_refresh_token && client.grant_types.iter().any(|g| g == "refresh_token") {
            let token = random_secret();
            match self
                .store
                .insert_oidc_refresh_token(grant.id, &digest(&token), now)
                .await
            {
                Ok(()) => Some(token),
                Err(StoreError::NotFound) => {
                    return Err(OAuthError::invalid_grant("the grant was revoked"));
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        let journal = self
            .journal(Some(user.id))
            .audit(
                action::TOKEN,
                Some(user.id),
                json!({ "client_id": client.client_id, "grant_type": grant_type }),
            )
            .build();
        self.store.append_journal(&journal).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: client.access_token_ttl,
            scope: scope.to_string(),
            id_token,
            refresh_token,
        })
    }

    /// The profile claims `scope` allows: `email`, `email_verified` (true only when Roster
    /// verified the address), `name`, `preferred_username`, `picture`, the role and the group
    /// names (under the client's claim names).
    async fn oidc_profile_claims(&self, client: &OidcClient, user: &User, scope: &str) -> Result<Map<String, Value>> {
        let groups: Vec<String> = if has_scope(scope, "profile") || has_scope(scope, "groups") {
            self.store
                .list_groups_of_user(user.id)
                .await?
                .into_iter()
                .map(|g| g.name)
                .collect()
        } else {
            Vec::new()
        };
        Ok(self.profile_claims(&client.roles_claim, &client.groups_claim, user, scope, groups))
    }

    /// [`Self::oidc_profile_claims`] with the user's group names at hand.
    fn profile_claims(
        &self,
        roles_claim: &str,
        groups_claim: &str,
        user: &User,
        scope: &str,
        groups: Vec<String>,
    ) -> Map<String, Value> {
        let mut claims = Map::new();
        if has_scope(scope, "email")
            && let Some(email) = &user.email
        {
            claims.insert("email".into(), json!(email));
            claims.insert("email_verified".into(), json!(user.email_verified));
        }
        let profile = has_scope(scope, "profile");
        if profile {
            let name = user
                .name
                .clone()
                .or_else(|| user.username.clone())
                .or_else(|| user.email.clone());
            if let Some(name) = name {
                claims.insert("name".into(), json!(name));
            }
            let username = user.username.clone().or_else(|| user.email.clone());
            if let Some(username) = username {
                claims.insert("preferred_username".into(), json!(username));
            }
            if let Some(picture) = user.avatar.as_deref().and_then(|a| self.absolute_url(a)) {
                claims.insert("picture".into(), json!(picture));
            }
        }
        if profile || has_scope(scope, "roles") {
            claims.insert(roles_claim.to_string(), json!([user.role.as_str()]));
        }
        if profile || has_scope(scope, "groups") {
            claims.insert(groups_claim.to_string(), json!(groups));
        }
        claims
    }

    fn absolute_url(&self, path: &str) -> Option<String> {
        if path.starts_with("https://") || path.starts_with("http://") {
            Some(path.to_string())
        } else if path.starts_with('/') {
            Some(format!("{}{path}", self.oidc_base()))
        } else {
            None
        }
    }

    /// Ends a grant (and every token it issued).
    async fn end_oidc_grant(&self, grant_id: i64, reason: &str) -> Result<()> {
        let journal = self
            .journal(None)
            .audit(
                action::GRANT_REVOKED,
                None,
                json!({ "grant_id": grant_id.to_string(), "reason": reason }),
            )
            .build();
        self.store.delete_oidc_grant(grant_id, &journal).await?;
        Ok(())
    }

    /// Reads an access token Roster issued: signature, issuer, expiry, and (for a user's
    /// token) a live grant and an account that may sign in.
    async fn read_access_token(&self, token: &str) -> Result<(AccessTokenClaims, Option<(OidcGrant, User)>)> {
        let claims = self.verified_access_claims(token).await?;
        let Some(gid) = claims.grant_id()? else {
            return Ok((claims, None));
        };
        let (grant, user) = self.store.get_oidc_grant(gid).await.map_err(|e| match e {
            StoreError::NotFound => Error::InvalidToken,
            e => e.into(),
        })?;
        grant_backs(&claims, &grant, &user, self.clock.now())?;
        Ok((claims, Some((grant, user))))
    }

    /// Checks an access token Roster issued: signature, issuer, expiry and type. A token
    /// cannot change, so its signature check is remembered (by its SHA-256, a bounded
    /// number of them); expiry is compared on every call. Says nothing about revocation:
    /// the callers read the grant and the user on every request.
    async fn verified_access_claims(&self, token: &str) -> Result<AccessTokenClaims> {
        let now = self.clock.now();
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.oidc.verified.get(&key) {
            if claims.exp <= now.unix_timestamp() {
                return Err(Error::InvalidToken);
            }
            return Ok(claims);
        }
        let mut keys = self.oidc_keys().await?;
        if keys.should_reload_for(token) {
            // One reload for many such requests: whoever waited finds the fresh copy.
            let _turn = self.oidc.load.lock().await;
            keys = self.cached_oidc_keys().unwrap_or(keys);
            if keys.should_reload_for(token) {
                keys = self.reload_oidc_keys().await?;
            }
        }
        let claims: AccessTokenClaims = keys.verify(token, self.oidc_issuer(), now)?;
        if claims.token_use.as_deref() != Some("access") {
            return Err(Error::InvalidToken);
        }
        self.oidc.verified.insert(key, claims.clone());
        Ok(claims)
    }

    /// The userinfo endpoint: the profile claims of the token's scope, with `sub`. One read
    /// per request (grant, user, client claim names and groups together), so a grant that
    /// ended or an account that may no longer sign in is refused at once.
    pub async fn oidc_userinfo(&self, access_token: &str) -> Result<Value> {
        let claims = self.verified_access_claims(access_token).await?;
        if !has_scope(&claims.scope, "openid") {
            return Err(Error::InvalidToken);
        }
        let gid = claims.grant_id()?.ok_or(Error::InvalidToken)?;
        let found = self.store.get_oidc_grant_profile(gid).await.map_err(|e| match e {
            StoreError::NotFound => Error::InvalidToken,
            e => e.into(),
        })?;
        grant_backs(&claims, &found.grant, &found.user, self.clock.now())?;
        // Issued for this client: its audience (or its client id when it has none).
        let audience = found.audience.as_deref().unwrap_or(&found.grant.client_id);
        if !audience_names(&claims.aud, audience) {
            return Err(Error::InvalidToken);
        }
        let mut out = Map::new();
        out.insert("sub".into(), json!(found.user.id.to_string()));
        out.extend(self.profile_claims(
            &found.roles_claim,
            &found.groups_claim,
            &found.user,
            &claims.scope,
            found.groups,
        ));
        Ok(Value::Object(out))
    }

    /// Revocation (RFC 7009): a refresh or access token of the calling client ends its
    /// grant. Unknown tokens and other clients' tokens are ignored (the answer is the same).
    pub async fn oidc_revoke(&self, auth: &ClientAuth, token: Option<&str>) -> Result<(), OAuthError> {
        let client = self.oidc_authenticate_client(auth, false).await?;
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let grant_id = match self.store.get_oidc_refresh_token(&digest(token)).await? {
            Some((id, _)) => Some(id),
            None => match self.read_access_token(token).await {
                Ok((claims, Some((grant, _)))) if claims.client_id == client.client_id => Some(grant.id),
                _ => None,
            },
        };
        if let Some(grant_id) = grant_id
            && let Ok((grant, _)) = self.store.get_oidc_grant(grant_id).await
            && grant.client_id == client.client_id
        {
            self.end_oidc_grant(grant_id, "revoked_by_client").await?;
        }
        Ok(())
    }

    /// Introspection (RFC 7662), for confidential clients.
    pub async fn oidc_introspect(&self, auth: &ClientAuth, token: Option<&str>) -> Result<Value, OAuthError> {
        self.oidc_authenticate_client(auth, true).await?;
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let inactive = json!({ "active": false });
        if let Some((grant_id, used)) = self.store.get_oidc_refresh_token(&digest(token)).await? {
            let now = self.clock.now();
            return Ok(match self.store.get_oidc_grant(grant_id).await {
                Ok((grant, user)) if !used && grant.expires_at > now && user.ensure_may_sign_in_at(now).is_ok() => {
                    json!({
                        "active": true,
                        "token_type": "refresh_token",
                        "client_id": grant.client_id,
                        "sub": user.id.to_string(),
                        "scope": grant.scope,
                        "exp": grant.expires_at.unix_timestamp(),
                        "iss": self.oidc_issuer(),
                    })
                }
                _ => inactive,
            });
        }
        Ok(match self.read_access_token(token).await {
            Ok((claims, found)) => {
                let mut out = json!({
                    "active": true,
                    "token_type": "Bearer",
                    "client_id": claims.client_id,
                    "sub": claims.sub,
                    "scope": claims.scope,
                    "exp": claims.exp,
                    "iat": claims.iat,
                    "aud": claims.aud,
                    "iss": self.oidc_issuer(),
                });
                if let Some((_, user)) = found
                    && let Some(name) = user.username.clone().or(user.email.clone())
                {
                    out["username"] = json!(name);
                }
                out
            }
            Err(Error::InvalidToken) => inactive,
            Err(e) => return Err(e.into()),
        })
    }

    /// Checks an end-session request: the hint (an ID token Roster signed, even expired;
    /// the literal `None` counts as absent), and the post-logout redirect URI, which must be
    /// registered for the hinted client or `client_id`.
    pub async fn oidc_end_session(&self, request: &EndSessionRequest) -> Result<EndSessionTarget, OAuthError> {
        let hint = request
            .id_token_hint
            .as_deref()
            .filter(|h| !h.is_empty() && *h != "None" && *h != "null");
        let mut hinted = None;
        let mut hinted_client = None;
        if let Some(hint) = hint {
            let keys = self.oidc_keys().await?;
            // An expired ID token is a fine hint: verify at its own issue time.
            let claims: Value = keys
                .verify(hint, self.oidc_issuer(), OffsetDateTime::UNIX_EPOCH)
                .map_err(|_| OAuthError::invalid_request("id_token_hint is not an ID token Roster issued"))?;
            let user = claims["sub"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| OAuthError::invalid_request("id_token_hint has no subject"))?;
            let sid = claims["sid"].as_str().and_then(|s| s.parse().ok()).map(SessionId);
            hinted = Some((crate::id::UserId(user), sid));
            hinted_client = claims["aud"].as_str().map(str::to_string);
        }
        if let (Some(from_hint), Some(given)) = (&hinted_client, &request.client_id)
            && from_hint != given
        {
            return Err(OAuthError::invalid_request(
                "client_id differs from the audience of id_token_hint",
            ));
        }
        let client_id = hinted_client.or_else(|| request.client_id.clone());
        let redirect = match request.post_logout_redirect_uri.as_deref().filter(|u| !u.is_empty()) {
            None => None,
            Some(uri) => {
                let Some(client_id) = client_id else {
                    return Err(OAuthError::invalid_request(
                        "post_logout_redirect_uri needs id_token_hint or client_id",
                    ));
                };
                let client = match self.store.get_oidc_client(&client_id).await {
                    Ok(c) => c,
                    Err(StoreError::NotFound) => return Err(OAuthError::invalid_client("unknown client")),
                    Err(e) => return Err(e.into()),
                };
                if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                    return Err(OAuthError::invalid_request(
                        "post_logout_redirect_uri is not registered for this client",
                    ));
                }
                Some(match request.state.as_deref() {
                    Some(state) => with_query(uri, &[("state", state)]),
                    None => uri.to_string(),
                })
            }
        };
        Ok(EndSessionTarget { hinted, redirect })
    }
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
