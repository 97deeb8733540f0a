//! Who is calling (by `Authorization: Bearer`, `x-api-key`, or the `token` cookie Open
//! WebUI's frontend keeps), the `token` cookie this dialect sets, and the parsing every
//! resource shares (ids, emails).

use super::admin::AdminConfig;
use super::error::{self, OpenWebUiError};
use super::map;
use crate::cookie::{self, SameSite, SetCookie};
use crate::extract::credential_of;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use roster_core::id::id_from_uuid;
use roster_core::service::{Permissions, Surface};
use roster_core::{Actor, Credential, Error, GroupId, UserId};
use std::sync::Arc;

pub(super) type Result<T> = std::result::Result<T, OpenWebUiError>;

/// The cookie Open WebUI's frontend keeps its token in.
const TOKEN_COOKIE: &str = "token";

/// The signed-in caller (not a pending account).
pub(super) struct Caller {
    pub actor: Actor,
}

fn token_of(parts: &Parts) -> Option<String> {
    credential_of(parts).or_else(|| cookie::get(&parts.headers, TOKEN_COOKIE))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = OpenWebUiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = token_of(parts).ok_or(Error::Unauthenticated)?;
        let actor = state.core.authenticate_bearer(&token).await?;
        Ok(Caller {
            actor: usable(state, actor, parts).await?,
        })
    }
}

/// An API key works on these routes only while the admin configuration's `ENABLE_API_KEYS`
/// is on, and only for administrators and holders of `features.api_keys`, wherever it was
/// created (Open WebUI's 403 `API_KEY_NOT_ALLOWED`); with `ENABLE_API_KEYS_ENDPOINT_RESTRICTIONS`,
/// only on the `API_KEYS_ALLOWED_ENDPOINTS` (`path` is the route's path under the dialect's
/// prefix; 403 `ACCESS_PROHIBITED`). The actor is marked as calling through Open WebUI's
/// routes, so the core applies Open WebUI's rules to it (the primary administrator keeps its
/// role).
async fn usable(state: &AppState, actor: Actor, parts: &Parts) -> Result<Actor> {
    if matches!(actor.credential, Credential::ApiKey { .. }) {
        let config = AdminConfig::load(state).await?;
        if !config.enable_api_keys {
            return Err(OpenWebUiError::Detail(
                StatusCode::FORBIDDEN,
                error::API_KEY_NOT_ALLOWED,
            ));
        }
        state
            .core
            .ensure_api_keys_permitted(&actor.user, Surface::OpenWebUi)
            .await?;
        if !config.api_key_may_call(&route_path(parts, state)) {
            return Err(OpenWebUiError::Detail(StatusCode::FORBIDDEN, error::ACCESS_PROHIBITED));
        }
    }
    Ok(actor.through(Surface::OpenWebUi))
}

/// The request's path under the dialect's prefix (`/api/v1/...`, as Open WebUI sees it):
/// nested routers see only the rest of it.
fn route_path(parts: &Parts, state: &AppState) -> String {
    let full = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(parts.uri.path(), |uri| uri.0.path());
    let prefix = state.config.openwebui_prefix.trim().trim_matches('/');
    if prefix.is_empty() {
        return full.to_string();
    }
    full.strip_prefix('/')
        .and_then(|rest| rest.strip_prefix(prefix))
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(full)
        .to_string()
}

/// The caller of the few routes Open WebUI opens to pending accounts too (`get_current_user`:
/// the session user, sign-out, password, time zone, API key).
pub(super) struct Identity {
    pub actor: Actor,
    pub token: String,
}

impl FromRequestParts<AppState> for Identity {
    type Rejection = OpenWebUiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = token_of(parts).ok_or(Error::Unauthenticated)?;
        let actor = state.core.authenticate_identity(&token).await?;
        Ok(Identity {
            actor: usable(state, actor, parts).await?,
            token,
        })
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Identity {
    type Rejection = OpenWebUiError;

    /// No credential, or one that no longer works: `None`.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>> {
        let Some(token) = token_of(parts) else {
            return Ok(None);
        };
        match state.core.authenticate_identity(&token).await {
            Ok(actor) => Ok(Some(Identity {
                actor: usable(state, actor, parts).await?,
                token,
            })),
            Err(Error::Unavailable) => Err(Error::Unavailable.into()),
            Err(_) => Ok(None),
        }
    }
}

/// `Set-Cookie: token=...` as Open WebUI sets it at sign-in (none for an empty token).
pub(super) fn with_token_cookie(mut response: Response, token: &str, max_age: Option<i64>) -> Response {
    if token.is_empty() {
        return response;
    }
    let mut cookie = SetCookie::new(TOKEN_COOKIE, token, SameSite::Lax);
    if let Some(age) = max_age {
        cookie = cookie.max_age(age);
    }
    cookie.append_to(&mut response);
    response
}

/// Clears the `token` cookie (sign-out).
pub(super) fn without_token_cookie(mut response: Response) -> Response {
    SetCookie::removal(TOKEN_COOKIE, SameSite::Lax).append_to(&mut response);
    response
}

pub(super) fn user_id(raw: &str) -> Result<UserId> {
    Ok(UserId(id_from_uuid(raw)?))
}

pub(super) fn group_id(raw: &str) -> Result<GroupId> {
    Ok(GroupId(id_from_uuid(raw)?))
}

pub(super) fn user_ids(raw: &[String]) -> Result<Vec<UserId>> {
    raw.iter().map(|id| user_id(id)).collect()
}

/// An email as the core normalises it, checked as Open WebUI checks one
/// (`INVALID_EMAIL_FORMAT`).
pub(super) fn email(raw: &str) -> Result<String> {
    let email = roster_core::user::normalise_email(raw);
    if !map::email_format_ok(&email) {
        return Err(OpenWebUiError::Detail(
            StatusCode::BAD_REQUEST,
            error::INVALID_EMAIL_FORMAT,
        ));
    }
    Ok(email)
}

/// A `profile_image_url` as Open WebUI's forms check it (422 with its message otherwise).
pub(super) fn profile_image(url: &str) -> Result<map::ProfileImage> {
    map::ProfileImage::parse(url).map_err(|message| error::value_error("profile_image_url", url, &message))
}

/// The user's effective permissions over Open WebUI's defaults (remembered by the core
/// between requests, forgotten on every change of them).
pub(super) async fn permissions_of(state: &AppState, user: UserId) -> Result<Arc<Permissions>> {
    Ok(state.core.builtin_effective_permissions(user).await?)
}
