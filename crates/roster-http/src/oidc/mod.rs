//! The OpenID Connect provider's endpoints: discovery, JWKS, authorization, token, userinfo,
//! revocation, introspection and end-session. Parse, call the core, render: errors are OAuth
//! JSON (`{"error", "error_description"}`) with `Cache-Control: no-store`, except on the
//! authorization endpoint, whose errors go back to the client's redirect URI once it is
//! verified, and are shown as a page before.

mod pages;

use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use roster_core::service::oidc::{
    AuthorizeOutcome, AuthorizeRequest, ClientAuth, EndSessionRequest, OAuthError, TokenRequest,
};
use serde::de::DeserializeOwned;

/// The provider's routes, at the root (the issuer is `public_url`).
pub fn mount(_state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oidc/jwks", get(jwks))
        .route("/oidc/authorize", get(authorize).post(authorize))
        .route("/oidc/token", post(token))
        .route("/oidc/userinfo", get(userinfo).post(userinfo))
        .route("/oidc/revoke", post(revoke))
        .route("/oidc/introspect", post(introspect))
        .route("/oidc/logout", get(end_session).post(end_session))
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An OAuth error as JSON: 401 for `invalid_client` (with `WWW-Authenticate: Basic` when the
/// client tried Basic), 500/503 for the server's own failures, 400 otherwise.
fn oauth_error(error: OAuthError, basic: bool) -> Response {
    let status = match error.error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = serde_json::json!({ "error": error.error, "error_description": error.description });
    let mut response = no_store((status, axum::Json(body)).into_response());
    if status == StatusCode::UNAUTHORIZED && basic {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"roster\", charset=\"UTF-8\""),
        );
    }
    response
}

fn json_ok(value: serde_json::Value) -> Response {
    no_store(axum::Json(value).into_response())
}

/// Reads a form body (`application/x-www-form-urlencoded`); a repeated parameter is an error.
fn form<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    query_params(body)
}

fn query_params<T: DeserializeOwned>(raw: &[u8]) -> Result<T, OAuthError> {
    serde_urlencoded::from_bytes(raw).map_err(|e| {
        let message = e.to_string();
        match message
            .split("duplicate field `")
            .nth(1)
            .and_then(|r| r.split('`').next())
        {
            Some(field) => OAuthError::invalid_request(format!("{field} must not be repeated")),
            None => OAuthError::invalid_request(format!("the parameters are malformed: {message}")),
        }
    })
}

/// `Authorization: Basic` credentials, URL-decoded (RFC 6749 §2.3.1). Err: present but
/// malformed.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("the Basic credentials are malformed");
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return Err(malformed());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

fn client_auth(
    headers: &HeaderMap,
    client_id: Option<String>,
    client_secret: Option<String>,
) -> Result<ClientAuth, OAuthError> {
    Ok(ClientAuth {
        basic: basic_credentials(headers)?,
        client_id: client_id.filter(|c| !c.is_empty()),
        client_secret: client_secret.filter(|c| !c.is_empty()),
    })
}

/// `GET /.well-known/openid-configuration`.
async fn discovery(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(state.core.oidc_discovery()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// `GET /oidc/jwks`.
async fn jwks(State(state): State<AppState>) -> Response {
    match state.core.oidc_jwks().await {
        Ok(keys) => {
            let mut response = axum::Json(keys).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
            response
        }
        Err(e) => oauth_error(e.into(), false),
    }
}

/// The consent form's answer, posted back with the request's parameters.
#[derive(serde::Deserialize, Default)]
struct ConsentAnswer {
    decision: Option<String>,
    csrf: Option<String>,
}

/// `GET|POST /oidc/authorize`. A POST carrying `decision` is the consent form's answer
/// (CSRF-checked).
async fn authorize(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let raw: Vec<u8> = if method == Method::POST {
        body.to_vec()
    } else {
        query.unwrap_or_default().into_bytes()
    };
    let parsed: Result<AuthorizeRequest, OAuthError> = if method == Method::POST {
        form(&headers, &raw)
    } else {
        query_params(&raw)
    };
    let request = match parsed {
        Ok(r) => r,
        Err(e) => return pages::error_page(&state, &headers, e.error, &e.description),
    };
    let answer: ConsentAnswer = if method == Method::POST {
        serde_urlencoded::from_bytes(&raw).unwrap_or_default()
    } else {
        ConsentAnswer::default()
    };
    // The request's own parameters (not the consent form's), to come back with.
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&raw)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| pages::AUTHORIZE_PARAMS.contains(&k.as_str()))
        .collect();
    let return_to = if method == Method::POST {
        format!(
            "/oidc/authorize?{}",
            serde_urlencoded::to_string(&params).unwrap_or_default()
        )
    } else {
        uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default()
    };
    let session = match pages::current(&state, &headers).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let consent = match answer.decision.as_deref() {
        None => None,
        Some(decision) => {
            if session.is_none() || !crate::pages::csrf::Csrf::verify(&state, &headers, answer.csrf.as_deref()) {
                return pages::error_page(
                    &state,
                    &headers,
                    "invalid_request",
                    "the consent form expired; start the sign-in again from the application",
                );
            }
            Some(decision == "allow")
        }
    };
    let signed_in = session.as_ref().map(pages::signed_in);
    match state
        .core
        .oidc_authorize(&request, signed_in.as_ref(), consent, &return_to)
        .await
    {
        Ok(AuthorizeOutcome::Redirect(to)) => no_store(Redirect::to(&to).into_response()),
        Ok(AuthorizeOutcome::ErrorPage { error, description }) => {
            pages::error_page(&state, &headers, error, &description)
        }
        Ok(AuthorizeOutcome::SignIn {
            force,
            login_hint,
            return_to,
        }) => pages::to_sign_in(&return_to, force, login_hint.as_deref()),
        Ok(AuthorizeOutcome::Consent {
            client_name, scopes, ..
        }) => match &session {
            Some(session) => pages::consent(&state, &headers, session, params, &client_name, &scopes),
            None => pages::error_page(&state, &headers, "login_required", "sign in first"),
        },
        Err(e) => {
            let e: OAuthError = e.into();
            pages::error_page(&state, &headers, e.error, &e.description)
        }
    }
}

/// `POST /oidc/token`.
async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("basic "));
    let request: TokenRequest = match form(&headers, &body) {
        Ok(r) => r,
        Err(e) => return oauth_error(e, basic),
    };
    let auth = match client_auth(&headers, request.client_id.clone(), request.client_secret.clone()) {
        Ok(a) => a,
        Err(e) => return oauth_error(e, basic),
    };
    match state.core.oidc_token(&request, &auth).await {
        Ok(tokens) => no_store(axum::Json(tokens).into_response()),
        Err(e) => oauth_error(e, basic),
    }
}

#[derive(serde::Deserialize, Default)]
struct TokenParam {
    token: Option<String>,
    #[allow(dead_code)]
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    access_token: Option<String>,
}

/// `GET|POST /oidc/userinfo`: the token from `Authorization: Bearer` (or a form body's
/// `access_token`). Errors: 401 with `WWW-Authenticate: Bearer error="invalid_token"`; a 200
/// carries no `WWW-Authenticate`.
async fn userinfo(State(state): State<AppState>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let from_body = if method == Method::POST && !body.is_empty() {
        form::<TokenParam>(&headers, &body).ok().and_then(|p| p.access_token)
    } else {
        None
    };
    let Some(token) = from_header.or(from_body) else {
        let mut response = no_store(StatusCode::UNAUTHORIZED.into_response());
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"roster\""),
        );
        return response;
    };
    match state.core.oidc_userinfo(&token).await {
        Ok(claims) => json_ok(claims),
        Err(roster_core::Error::InvalidToken) => {
            let body = serde_json::json!({
                "error": "invalid_token",
                "error_description": "the access token is invalid, expired or revoked",
            });
            let mut response = no_store((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"roster\", error=\"invalid_token\", error_description=\"the access token is invalid, expired or revoked\"",
                ),
            );
            response
        }
        Err(e) => oauth_error(e.into(), false),
    }
}

/// `POST /oidc/revoke` (RFC 7009): 200 with an empty body, whether or not the token was known.
async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let basic = basic_credentials(&headers).ok().flatten().is_some();
    let params: TokenParam = match form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error(e, basic),
    };
    let auth = match client_auth(&headers, params.client_id, params.client_secret) {
        Ok(a) => a,
        Err(e) => return oauth_error(e, basic),
    };
    match state.core.oidc_revoke(&auth, params.token.as_deref()).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => oauth_error(e, basic),
    }
}

/// `POST /oidc/introspect` (RFC 7662), for confidential clients.
async fn introspect(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let basic = basic_credentials(&headers).ok().flatten().is_some();
    let params: TokenParam = match form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error(e, basic),
    };
    let auth = match client_auth(&headers, params.client_id, params.client_secret) {
        Ok(a) => a,
        Err(e) => return oauth_error(e, basic),
    };
    match state.core.oidc_introspect(&auth, params.token.as_deref()).await {
        Ok(answer) => json_ok(answer),
        Err(e) => oauth_error(e, basic),
    }
}

/// `GET|POST /oidc/logout` (RP-Initiated Logout 1.0).
async fn end_session(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let parsed: Result<EndSessionRequest, OAuthError> = if method == Method::POST {
        form(&headers, &body)
    } else {
        query_params(query.as_deref().unwrap_or("").as_bytes())
    };
    let request = match parsed {
        Ok(r) => r,
        Err(e) => return pages::error_page(&state, &headers, e.error, &e.description),
    };
    let target = match state.core.oidc_end_session(&request).await {
        Ok(t) => t,
        Err(e) => return pages::error_page(&state, &headers, e.error, &e.description),
    };
    // The confirmation page's answer: `confirm` with its CSRF token.
    let answer = if method == Method::POST {
        serde_urlencoded::from_bytes::<pages::LogoutAnswer>(&body)
            .ok()
            .filter(|a| a.confirm.is_some())
    } else {
        None
    };
    pages::end_session(&state, &headers, &request, target, answer).await
}
