//! LibreChat's two-factor routes (`/api/auth/2fa/*`, `TwoFactorController.js`) and the
//! second step of its login (`twoFAPending` / `tempToken`, `verify-temp`). The rules are the
//! core's (`service/two_factor.rs`); this renders LibreChat's shapes and messages.

use super::dto::TokenResponse;
use super::error::{LcError, from_core};
use super::routes::{user_json, with_session_cookies};
use crate::extract::{Auth, Meta, OptionalJson};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use roster_core::Error;
use roster_core::service::{ClientMeta, LoginOutcome, SecondFactor};
use roster_core::two_factor::TwoFactorChallenge;
use serde::Deserialize;
use serde_json::{Value, json};

type LcResult<T> = Result<T, LcError>;

/// LibreChat's `TOTPVerificationPayload` (and `verify-temp`'s `tempToken`).
#[derive(Debug, Default, Deserialize)]
pub struct TotpRequest {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default, rename = "backupCode")]
    pub backup_code: Option<String>,
    #[serde(default, rename = "tempToken")]
    pub temp_token: Option<String>,
}

impl TotpRequest {
    fn factor(&self) -> Option<SecondFactor> {
        SecondFactor::from_parts(self.token.as_deref(), self.backup_code.as_deref())
    }
}

/// The routes, relative to the dialect's prefix. `enable` answers GET too (older servers
/// declared it so; the client POSTs).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/2fa/enable", get(enable).post(enable))
        .route("/api/auth/2fa/verify", post(verify))
        .route("/api/auth/2fa/confirm", post(confirm))
        .route("/api/auth/2fa/disable", post(disable))
        .route("/api/auth/2fa/backup/regenerate", post(regenerate))
        .route("/api/auth/2fa/verify-temp", post(verify_temp))
}

fn bad_request(message: &str) -> LcError {
    LcError::message(StatusCode::BAD_REQUEST, message)
}

fn unauthorized(message: &str) -> LcError {
    LcError::message(StatusCode::UNAUTHORIZED, message)
}

/// Which core refusal this is: no enrolment (`two_factor`) or no factor given (`code`).
fn invalid_field(e: &Error) -> Option<&'static str> {
    match e {
        Error::Invalid { field, .. } => Some(field),
        _ => None,
    }
}

/// The session answer of a login: `{token, user}` and the refresh cookies.
pub async fn session_response(state: &AppState, outcome: LoginOutcome) -> LcResult<Response> {
    let Some(tokens) = outcome.tokens else {
        return Err(LcError::message(
            StatusCode::FORBIDDEN,
            "The account is awaiting approval",
        ));
    };
    let mut user = user_json(state, &outcome.user);
    user.two_factor_enabled = state.core.two_factor_status(outcome.user.id).await?.enabled;
    let body = TokenResponse {
        token: tokens.access_token,
        user,
    };
    Ok(with_session_cookies(
        state,
        axum::Json(body).into_response(),
        &tokens.refresh_token,
    ))
}

/// A login whose password was right for an account with two-factor authentication: with a
/// code or backup code in the login request, the login completes at once; without, the
/// client gets `{twoFAPending: true, tempToken}` for `verify-temp`.
pub async fn login_needs_second_factor(
    state: &AppState,
    challenge: TwoFactorChallenge,
    factor: Option<SecondFactor>,
    meta: &ClientMeta,
) -> LcResult<Response> {
    match factor {
        None => Ok(axum::Json(json!({ "twoFAPending": true, "tempToken": challenge.token })).into_response()),
        Some(factor) => complete(state, &challenge.token, &factor, meta).await,
    }
}

async fn complete(state: &AppState, temp_token: &str, factor: &SecondFactor, meta: &ClientMeta) -> LcResult<Response> {
    match state.core.complete_two_factor_login(temp_token, factor, meta).await {
        Ok(outcome) => session_response(state, outcome).await,
        Err(Error::InvalidToken) => Err(unauthorized("Invalid or expired temporary token")),
        Err(Error::InvalidTwoFactorCode) => Err(unauthorized("Invalid 2FA code or backup code")),
        Err(e) => Err(from_core(e)),
    }
}

async fn enable(State(state): State<AppState>, Auth(actor): Auth) -> LcResult<axum::Json<Value>> {
    match state.core.begin_two_factor(&actor).await {
        Ok(enrolment) => Ok(axum::Json(json!({
            "otpauthUrl": enrolment.otpauth_url,
            "backupCodes": enrolment.backup_codes,
        }))),
        Err(e) if invalid_field(&e) == Some("two_factor") => Err(bad_request("2FA is already enabled for this user")),
        Err(e) => Err(from_core(e)),
    }
}

async fn verify(
    State(state): State<AppState>,
    Auth(actor): Auth,
    OptionalJson(body): OptionalJson<TotpRequest>,
) -> LcResult<axum::Json<Value>> {
    let Some(factor) = body.unwrap_or_default().factor() else {
        return Err(bad_request("Invalid token or backup code."));
    };
    match state.core.verify_two_factor(actor.user.id, &factor).await {
        Ok(()) => Ok(axum::Json(json!({}))),
        Err(e) if invalid_field(&e) == Some("two_factor") => Err(bad_request("2FA not initiated")),
        Err(Error::InvalidTwoFactorCode) => Err(bad_request("Invalid token or backup code.")),
        Err(e) => Err(from_core(e)),
    }
}

async fn confirm(
    State(state): State<AppState>,
    Auth(actor): Auth,
    OptionalJson(body): OptionalJson<TotpRequest>,
) -> LcResult<axum::Json<Value>> {
    let token = body.unwrap_or_default().token.unwrap_or_default();
    if token.trim().is_empty() {
        return Err(bad_request("Invalid token."));
    }
    match state.core.confirm_two_factor(&actor, &token).await {
        Ok(()) => Ok(axum::Json(json!({}))),
        Err(Error::InvalidTwoFactorCode) => Err(bad_request("Invalid token.")),
        Err(e) if invalid_field(&e) == Some("two_factor") => {
            let status = state.core.two_factor_status(actor.user.id).await?;
            Err(bad_request(if status.enabled {
                "2FA is already enabled for this user"
            } else {
                "2FA not initiated"
            }))
        }
        Err(e) => Err(from_core(e)),
    }
}

async fn disable(
    State(state): State<AppState>,
    Auth(actor): Auth,
    OptionalJson(body): OptionalJson<TotpRequest>,
) -> LcResult<axum::Json<Value>> {
    let factor = body.unwrap_or_default().factor();
    match state.core.disable_two_factor(&actor, factor.as_ref()).await {
        Ok(()) => Ok(axum::Json(json!({}))),
        Err(e) if invalid_field(&e) == Some("two_factor") => Err(bad_request("2FA is not setup for this user")),
        Err(e) if invalid_field(&e) == Some("code") => {
            Err(bad_request("Either token or backup code is required to disable 2FA"))
        }
        Err(Error::InvalidTwoFactorCode) => Err(unauthorized("Invalid token or backup code")),
        Err(e) => Err(from_core(e)),
    }
}

async fn regenerate(
    State(state): State<AppState>,
    Auth(actor): Auth,
    OptionalJson(body): OptionalJson<TotpRequest>,
) -> LcResult<axum::Json<Value>> {
    let factor = body.unwrap_or_default().factor();
    match state.core.regenerate_backup_codes(&actor, factor.as_ref()).await {
        Ok(codes) => {
            let hashes: Vec<Value> = codes
                .digests
                .iter()
                .map(|d| json!({ "codeHash": d, "used": false, "usedAt": null }))
                .collect();
            Ok(axum::Json(
                json!({ "backupCodes": codes.codes, "backupCodesHash": hashes }),
            ))
        }
        Err(e) if invalid_field(&e) == Some("two_factor") => Err(bad_request("2FA is not enabled for this user")),
        Err(e) if invalid_field(&e) == Some("code") => Err(bad_request(
            "Either token or backup code is required to regenerate backup codes",
        )),
        Err(Error::InvalidTwoFactorCode) => Err(unauthorized("Invalid token or backup code")),
        Err(e) => Err(from_core(e)),
    }
}

async fn verify_temp(
    State(state): State<AppState>,
    Meta(meta): Meta,
    OptionalJson(body): OptionalJson<TotpRequest>,
) -> LcResult<Response> {
    let body = body.unwrap_or_default();
    let Some(temp_token) = body.temp_token.as_deref().filter(|t| !t.trim().is_empty()) else {
        return Err(bad_request("Missing temporary token"));
    };
    let Some(factor) = body.factor() else {
        return Err(unauthorized("Invalid 2FA code or backup code"));
    };
    complete(&state, temp_token, &factor, &meta).await
}

/// The 2FA refusals of `DELETE /api/user/delete`.
pub fn deletion_refusal(e: Error) -> LcError {
    match e {
        e if invalid_field(&e) == Some("code") => {
            bad_request("TOTP token or backup code is required to delete account with 2FA enabled")
        }
        Error::InvalidTwoFactorCode => unauthorized("Invalid token or backup code"),
        e => from_core(e),
    }
}
