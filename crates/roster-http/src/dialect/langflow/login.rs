//! Login, refresh, logout and auto-login with Langflow's token pair and cookies, and the
//! store API key (kept sealed; Langflow shows its encrypted value as `store_api_key` and in
//! the `apikey_tkn_lflw` cookie).

use super::caller::{ACCESS_COOKIE, Caller, Result, access_token};
use super::dto::*;
use super::error::{self, LangflowError};
use crate::cookie::{self, SameSite, SetCookie};
use crate::extract::{Form, Json, Meta};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use roster_core::service::TokenPair;
use roster_core::{Error, UserId};
use serde_json::json;

const REFRESH_COOKIE: &str = "refresh_token_lf";
const STORE_KEY_COOKIE: &str = "apikey_tkn_lflw";
/// Langflow's `REFRESH_TOKEN_EXPIRE_SECONDS`.
const REFRESH_COOKIE_SECONDS: i64 = 604_800;
/// Langflow 1.13's refusal when `AUTO_LOGIN` is off (`api/v1/login.py`).
const AUTO_LOGIN_DISABLED: &str = "Auto login is disabled.";

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: Option<i64>) {
    let mut cookie = SetCookie::new(name, value, SameSite::Lax);
    if let Some(age) = max_age {
        cookie = cookie.max_age(age);
    }
    cookie.append_to(response);
}

/// The token pair and Langflow's three cookies (`apikey_tkn_lflw`: the user's sealed store
/// API key, as Langflow sets its encrypted value, or empty); the access cookie lives as long
/// as its token.
fn token_response(tokens: TokenPair, store_key: Option<String>) -> Response {
    let expires_in = tokens.expires_in;
    token_response_with(tokens, store_key, Some(expires_in))
}

/// As [`token_response`], the access cookie living `access_cookie_seconds` (`None`: for the
/// browser session).
fn token_response_with(tokens: TokenPair, store_key: Option<String>, access_cookie_seconds: Option<i64>) -> Response {
    let mut response = axum::Json(Token {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
        token_type: "bearer",
    })
    .into_response();
    set_cookie(
        &mut response,
        REFRESH_COOKIE,
        &tokens.refresh_token,
        Some(REFRESH_COOKIE_SECONDS),
    );
    set_cookie(
        &mut response,
        ACCESS_COOKIE,
        &tokens.access_token,
        access_cookie_seconds,
    );
    set_cookie(&mut response, STORE_KEY_COOKIE, &store_key.unwrap_or_default(), None);
    response
}

pub(super) async fn login_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Form(form): Form<LoginForm>,
) -> Result<Response> {
    match state.core.login(&form.username, &form.password, &meta).await {
        Ok(outcome) => {
            let tokens = outcome.tokens.ok_or(Error::AccountPending)?;
            Ok(token_response(tokens, sealed_store_key(&state, outcome.user.id).await?))
        }
        Err(Error::AccountPending | Error::AccountDisabled | Error::Banned { .. }) => {
            // The password was right: Langflow tells accounts that never signed in to wait.
            Err(if state.core.never_signed_in(&form.username).await {
                LangflowError::Detail(StatusCode::BAD_REQUEST, error::WAITING_FOR_APPROVAL)
            } else {
                LangflowError::Detail(StatusCode::UNAUTHORIZED, error::INACTIVE_USER)
            })
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn refresh_post(State(state): State<AppState>, parts: Parts) -> Result<Response> {
    let invalid = LangflowError::Detail(StatusCode::UNAUTHORIZED, error::INVALID_REFRESH_TOKEN);
    let Some(token) = cookie::get(&parts.headers, REFRESH_COOKIE) else {
        return Err(invalid);
    };
    match state.core.refresh(&token).await {
        Ok(outcome) => {
            let store_key = sealed_store_key(&state, outcome.user.id).await?;
            Ok(token_response(outcome.tokens.ok_or(Error::InvalidToken)?, store_key))
        }
        Err(e @ (Error::Unavailable | Error::Internal(_))) => Err(e.into()),
        Err(_) => Err(invalid),
    }
}

pub(super) async fn logout_post(State(state): State<AppState>, parts: Parts) -> Result<Response> {
    if let Some(token) = cookie::get(&parts.headers, REFRESH_COOKIE) {
        state.core.logout_refresh_token(&token).await?;
    }
    if let Some(token) = access_token(&parts)
        && let Ok(actor) = state.core.authenticate_bearer(&token).await
    {
        state.core.logout(&actor).await?;
    }
    let mut response = axum::Json(json!({"message": "Logout successful"})).into_response();
    for name in [REFRESH_COOKIE, ACCESS_COOKIE, STORE_KEY_COOKIE] {
        SetCookie::removal(name, SameSite::Lax).append_to(&mut response);
    }
    Ok(response)
}

/// Langflow's `AUTO_LOGIN`: when `langflow_auto_login` is set, a session for the configured
/// superuser without a password, as Langflow 1.13's `create_user_longterm_token`: an access
/// token of the usual lifetime and a refresh token, in the body and the `refresh_token_lf`
/// cookie, so the client refreshes through `POST /refresh`; the access cookie lasts the
/// browser session. Otherwise 403 with Langflow's detail object.
pub(super) async fn auto_login_get(State(state): State<AppState>, Meta(meta): Meta) -> Result<Response> {
    if !state.config.langflow_auto_login {
        return Err(LangflowError::Object(
            StatusCode::FORBIDDEN,
            json!({"message": AUTO_LOGIN_DISABLED, "auto_login": false}),
        ));
    }
    let outcome = match state.core.auto_login(&state.config.langflow_superuser, &meta).await {
        Ok(outcome) => outcome,
        Err(Error::NotFound(_)) => {
            return Err(LangflowError::Detail(
                StatusCode::BAD_REQUEST,
                error::SUPERUSER_NOT_CREATED,
            ));
        }
        Err(Error::Forbidden(refusal)) => return Err(LangflowError::Detail(StatusCode::FORBIDDEN, refusal.message())),
        Err(e) => return Err(e.into()),
    };
    let tokens = outcome.tokens.ok_or(Error::AccountPending)?;
    let store_key = sealed_store_key(&state, outcome.user.id).await?;
    Ok(token_response_with(tokens, store_key, None))
}

// ---------------------------------------------------------------------------------------
// The store API key: kept sealed; Langflow shows its encrypted value as `store_api_key`.

pub(super) async fn sealed_store_key(state: &AppState, user: UserId) -> Result<Option<String>> {
    let sealed = state.core.sealed_langflow_store_api_key(user).await?;
    Ok((*sealed).clone())
}

/// `UserRead` with the user's sealed store API key.
/// `POST /api/v1/api_key/store`: saves the caller's store API key, sealed, and sets the
/// `apikey_tkn_lflw` cookie to its encrypted value. An empty key removes it.
pub(super) async fn api_key_store_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ApiKeyStore>,
) -> Result<Response> {
    state
        .core
        .set_langflow_store_api_key(&caller.actor, &body.api_key)
        .await
        .map_err(|e| match e {
            e @ Error::Invalid { .. } => LangflowError::Object(StatusCode::BAD_REQUEST, json!(e.to_string())),
            e => e.into(),
        })?;
    let store_key = sealed_store_key(&state, caller.actor.user.id).await?;
    let mut response = axum::Json(json!({"detail": "API Key saved"})).into_response();
    set_cookie(&mut response, STORE_KEY_COOKIE, &store_key.unwrap_or_default(), None);
    Ok(response)
}
