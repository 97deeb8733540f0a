//! Two-factor authentication in the native API: `/v1/me/2fa` (status, setup, confirm,
//! disable, backup codes), the second login step `/v1/auth/login/2fa`, and an administrator's
//! reset `DELETE /v1/users/{id}/2fa`. The rules are the core's (`service/two_factor.rs`).

use super::dto::AuthResponse;
use super::map;
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Json, Meta, parse_id};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::UserId;
use roster_core::service::{SecondFactor, TwoFactorStatus};
use roster_core::two_factor::TwoFactorChallenge;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<T, ApiError>;

/// The routes, with their OpenAPI description (merged into the native router).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me_2fa_get))
        .routes(routes!(me_2fa_setup_post))
        .routes(routes!(me_2fa_confirm_post))
        .routes(routes!(me_2fa_disable_post))
        .routes(routes!(me_2fa_backup_codes_post))
        .routes(routes!(auth_login_2fa_post))
        .routes(routes!(users_id_2fa_delete))
}

/// The answer to `POST /v1/auth/login`: a session, or (for an account with two-factor
/// authentication) a challenge to complete at `POST /v1/auth/login/2fa`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Session(Box<AuthResponse>),
    TwoFactor(TwoFactorChallengeBody),
}

/// A login waiting for its second factor.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TwoFactorChallengeBody {
    /// Always true.
    pub two_factor_required: bool,
    /// Give it to `POST /v1/auth/login/2fa` with a code; single use.
    pub challenge: String,
    /// Seconds until the challenge expires.
    pub expires_in: i64,
}

impl From<TwoFactorChallenge> for TwoFactorChallengeBody {
    fn from(c: TwoFactorChallenge) -> Self {
        Self {
            two_factor_required: true,
            challenge: c.token,
            expires_in: c.expires_in,
        }
    }
}

/// Where the caller's two-factor authentication stands.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TwoFactorStatusBody {
    /// Logins need a code.
    pub enabled: bool,
    /// An enrolment waits for its first code (`POST /v1/me/2fa/confirm`).
    pub pending: bool,
    /// RFC 3339.
    pub enabled_at: Option<String>,
    /// Unused backup codes.
    pub backup_codes_remaining: usize,
}

impl From<TwoFactorStatus> for TwoFactorStatusBody {
    fn from(s: TwoFactorStatus) -> Self {
        Self {
            enabled: s.enabled,
            pending: s.pending,
            enabled_at: s.enabled_at.map(roster_core::user::rfc3339),
            backup_codes_remaining: s.backup_codes_remaining,
        }
    }
}

/// A new enrolment, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TwoFactorSetupBody {
    /// The TOTP secret, base32 (SHA-1, 6 digits, 30 s).
    pub secret: String,
    /// `otpauth://totp/...`, for a QR code.
    pub otpauth_url: String,
    /// Ten single-use backup codes.
    pub backup_codes: Vec<String>,
}

/// A first code from the authenticator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorConfirmRequest {
    /// Six digits.
    pub code: String,
}

/// A code or a backup code (one of them).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorRequest {
    /// A six-digit code from the authenticator.
    #[serde(default)]
    pub code: Option<String>,
    /// One of the backup codes.
    #[serde(default)]
    pub backup_code: Option<String>,
}

impl SecondFactorRequest {
    fn factor(&self) -> Option<SecondFactor> {
        SecondFactor::from_parts(self.code.as_deref(), self.backup_code.as_deref())
    }
}

/// The second login step.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginTwoFactorRequest {
    /// The challenge `POST /v1/auth/login` returned.
    pub challenge: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub backup_code: Option<String>,
}

/// Fresh backup codes, shown once (the earlier ones stop working).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BackupCodesBody {
    pub backup_codes: Vec<String>,
}

/// The caller's two-factor status.
#[utoipa::path(get, path = "/v1/me/2fa", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = TwoFactorStatusBody), (status = 401, body = Problem)))]
async fn me_2fa_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<TwoFactorStatusBody>> {
    Ok(axum::Json(state.core.two_factor_status(actor.user.id).await?.into()))
}

/// Starts (or restarts) an enrolment: a new TOTP secret, its `otpauth://` URI and ten backup
/// codes. Nothing changes for logins until `POST /v1/me/2fa/confirm`. 422 when two-factor
/// authentication is enabled already.
#[utoipa::path(post, path = "/v1/me/2fa/setup", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = TwoFactorSetupBody), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn me_2fa_setup_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<axum::Json<TwoFactorSetupBody>> {
    let enrolment = state.core.begin_two_factor(&actor).await?;
    Ok(axum::Json(TwoFactorSetupBody {
        secret: enrolment.secret,
        otpauth_url: enrolment.otpauth_url,
        backup_codes: enrolment.backup_codes,
    }))
}

/// Enables two-factor authentication with a first code. A wrong code is 401
/// `invalid_two_factor_code`; no enrolment, 422.
#[utoipa::path(post, path = "/v1/me/2fa/confirm", tag = "me", security(("bearer" = [])),
    request_body = TwoFactorConfirmRequest,
    responses((status = 200, body = TwoFactorStatusBody), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn me_2fa_confirm_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<TwoFactorConfirmRequest>,
) -> ApiResult<axum::Json<TwoFactorStatusBody>> {
    state.core.confirm_two_factor(&actor, &body.code).await?;
    Ok(axum::Json(state.core.two_factor_status(actor.user.id).await?.into()))
}

/// Turns two-factor authentication off, with a code or a backup code (a pending enrolment
/// needs neither).
#[utoipa::path(post, path = "/v1/me/2fa/disable", tag = "me", security(("bearer" = [])),
    request_body = SecondFactorRequest,
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn me_2fa_disable_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<SecondFactorRequest>,
) -> ApiResult<StatusCode> {
    state.core.disable_two_factor(&actor, body.factor().as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the backup codes (a code or an unused backup code is required).
#[utoipa::path(post, path = "/v1/me/2fa/backup-codes", tag = "me", security(("bearer" = [])),
    request_body = SecondFactorRequest,
    responses((status = 200, body = BackupCodesBody), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn me_2fa_backup_codes_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<SecondFactorRequest>,
) -> ApiResult<axum::Json<BackupCodesBody>> {
    let codes = state
        .core
        .regenerate_backup_codes(&actor, body.factor().as_ref())
        .await?;
    Ok(axum::Json(BackupCodesBody {
        backup_codes: codes.codes,
    }))
}

/// Completes a login that answered `two_factor_required`: the challenge and a code (or a
/// backup code) give the session. A challenge serves once, for at most five codes within
/// five minutes (then 401 `invalid_token`: log in again); a wrong code is 401
/// `invalid_two_factor_code`.
#[utoipa::path(post, path = "/v1/auth/login/2fa", tag = "auth", request_body = LoginTwoFactorRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn auth_login_2fa_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<LoginTwoFactorRequest>,
) -> ApiResult<axum::Json<AuthResponse>> {
    let factor = SecondFactor::from_parts(body.code.as_deref(), body.backup_code.as_deref())
        .ok_or_else(|| roster_core::Error::invalid("code", "a two-factor code or a backup code is required"))?;
    let outcome = state
        .core
        .complete_two_factor_login(&body.challenge, &factor, &meta)
        .await?;
    Ok(axum::Json(map::auth_response(outcome)))
}

/// An administrator turns a user's two-factor authentication off (lost authenticator).
#[utoipa::path(delete, path = "/v1/users/{id}/2fa", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn users_id_2fa_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: UserId = parse_id(&id)?;
    state.core.admin_disable_two_factor(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
