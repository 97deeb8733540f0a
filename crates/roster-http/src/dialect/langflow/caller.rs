//! Who is calling: a JWT (`Authorization: Bearer` or the `access_token_lf` cookie) first,
//! then an API key (`x-api-key` header or query parameter); and the parsing and refusals
//! every resource shares.

use super::error::{self, LangflowError};
use crate::cookie;
use crate::dialect::fastapi;
use crate::extract::bearer_token;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use roster_core::id::id_from_uuid;
use roster_core::service::{TokenHolder, is_api_key};
use roster_core::{Actor, Error, UserId};

pub(super) type Result<T> = std::result::Result<T, LangflowError>;

/// Langflow's header and query parameter for API keys.
const API_KEY_NAME: &str = "x-api-key";
/// The cookie Langflow's frontend keeps its access token in.
pub(super) const ACCESS_COOKIE: &str = "access_token_lf";

/// The JWT a request presents (`Authorization: Bearer` or the access cookie).
pub(super) fn access_token(parts: &Parts) -> Option<String> {
    bearer_token(parts).or_else(|| cookie::get(&parts.headers, ACCESS_COOKIE))
}

fn api_key(parts: &Parts) -> Option<String> {
    let header = parts
        .headers
        .get(API_KEY_NAME)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string());
    let query = || {
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .find(|(k, _)| k == API_KEY_NAME)
            .map(|(_, v)| v.trim().to_string())
    };
    header.or_else(query).filter(|v| !v.is_empty())
}

/// The authenticated, active caller.
pub(super) struct Caller {
    pub actor: Actor,
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Caller>> {
    let key = api_key(parts);
    if let Some(token) = access_token(parts) {
        match state.core.authenticate_bearer(&token).await {
            Ok(actor) => return Ok(Some(Caller { actor })),
            Err(e @ (Error::Unavailable | Error::Internal(_))) => return Err(e.into()),
            Err(e) if key.is_none() => return Err(token_refusal(state, &token, e).await),
            Err(_) => {}
        }
    }
    let Some(key) = key else { return Ok(None) };
    if !is_api_key(&key) {
        return Err(LangflowError::Detail(StatusCode::FORBIDDEN, error::INVALID_API_KEY));
    }
    match state.core.authenticate_bearer(&key).await {
        Ok(actor) => Ok(Some(Caller { actor })),
        Err(Error::InvalidToken) => Err(LangflowError::Detail(StatusCode::FORBIDDEN, error::INVALID_API_KEY)),
        Err(e) => Err(e.into()),
    }
}

/// Langflow 1.13's answer to an access token that does not authenticate: 401 `User account
/// is inactive` when its user may no longer sign in, 401 `Token authentication failed` when
/// the user was deleted (its user lookup fails), else the error as it is.
async fn token_refusal(state: &AppState, token: &str, e: Error) -> LangflowError {
    let inactive = || LangflowError::Detail(StatusCode::UNAUTHORIZED, error::ACCOUNT_INACTIVE);
    match e {
        Error::AccountPending | Error::AccountDisabled | Error::Banned { .. } => inactive(),
        Error::InvalidToken => match state.core.access_token_holder(token).await {
            Ok(Some(TokenHolder::Inactive)) => inactive(),
            Ok(Some(TokenHolder::Gone)) => LangflowError::Detail(StatusCode::UNAUTHORIZED, error::TOKEN_AUTH_FAILED),
            Ok(None) => Error::InvalidToken.into(),
            Err(e) => e.into(),
        },
        e => e.into(),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = LangflowError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        authenticate(parts, state).await?.ok_or(Error::Unauthenticated.into())
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Caller {
    type Rejection = LangflowError;

    /// No credential, or one that does not authenticate (a stale cookie at sign-up): `None`.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>> {
        match authenticate(parts, state).await {
            Ok(caller) => Ok(caller),
            Err(LangflowError::Api(crate::error::ApiError::Core(e @ (Error::Unavailable | Error::Internal(_))))) => {
                Err(e.into())
            }
            Err(_) => Ok(None),
        }
    }
}

/// A `user_id` path parameter, a UUID as Langflow declares it: a malformed one is FastAPI's
/// 422 `uuid_parsing`; a well-formed one Roster never issued names no user (id 0, which no
/// user has), so the route answers as for any unknown user.
pub(super) fn user_id(raw: &str) -> Result<UserId> {
    let uuid = fastapi::path_uuid("user_id", raw)?;
    Ok(UserId(id_from_uuid(&uuid.hyphenated().to_string()).unwrap_or(NO_USER)))
}

/// An id no user has: ids start at 1.
const NO_USER: i64 = 0;

/// Replaces a core refusal (`Forbidden`) with Langflow's words for this route.
pub(super) fn forbidden_as(text: &'static str) -> impl Fn(Error) -> LangflowError {
    move |e| match e {
        Error::Forbidden(_) => LangflowError::Detail(StatusCode::FORBIDDEN, text),
        e => e.into(),
    }
}

pub(super) fn require_superuser(actor: &Actor) -> Result<()> {
    actor
        .require_admin()
        .map_err(forbidden_as(error::NOT_ENOUGH_PRIVILEGES))
}
