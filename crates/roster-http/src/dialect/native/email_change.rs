//! Changing the caller's email address with the new address verified first
//! (`POST|GET|DELETE /v1/me/email`) and using the link mailed to the new address
//! (`POST /v1/auth/email-change/confirm`; the link itself opens the page
//! `/account/email/confirm`). The rules are the core's (`service/email_change.rs`).

use super::map;
use super::map::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Json, Meta};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use roster_core::service::EmailChangeRequested;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<T, ApiError>;

/// The routes, with their OpenAPI description (merged into the native router).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me_email_get, me_email_post, me_email_delete))
        .routes(routes!(auth_email_change_confirm_post))
}

/// A request to change the caller's address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeRequest {
    /// The new address: a link to confirm it is mailed there.
    pub new_email: String,
    /// The current password (needed when the account has one).
    #[serde(default)]
    pub current_password: String,
}

/// A pending change: where the link went, until when it works.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmailChangeBody {
    pub pending_email: String,
    pub expires_at: String,
}

/// The link's token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeConfirmRequest {
    pub token: String,
}

fn body(pending: EmailChangeRequested) -> EmailChangeBody {
    EmailChangeBody {
        pending_email: pending.new_email,
        expires_at: rfc3339(pending.expires_at),
    }
}

/// The caller's pending email change (404 without one).
#[utoipa::path(get, path = "/v1/me/email", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = EmailChangeBody), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn me_email_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<EmailChangeBody>> {
    let pending = state.core.pending_email_change(&actor).await?;
    let pending = pending.ok_or(roster_core::Error::NotFound("email change"))?;
    Ok(axum::Json(body(pending)))
}

/// Asks to change the caller's address: a link is mailed to the new address (a notice to the
/// old one); the address changes only when the link is used. Needs a session, not an API key.
#[utoipa::path(post, path = "/v1/me/email", tag = "me", security(("bearer" = [])), request_body = EmailChangeRequest,
    responses((status = 202, body = EmailChangeBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn me_email_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Meta(meta): Meta,
    Json(request): Json<EmailChangeRequest>,
) -> ApiResult<(StatusCode, axum::Json<EmailChangeBody>)> {
    let pending = state
        .core
        .request_email_change(
            &actor,
            &request.new_email,
            &request.current_password,
            crate::pages::EMAIL_CHANGE_CONFIRM_PATH,
            &meta,
        )
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(body(pending))))
}

/// Drops the caller's pending email change (its link stops working).
#[utoipa::path(delete, path = "/v1/me/email", tag = "me", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn me_email_delete(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<StatusCode> {
    if state.core.cancel_email_change(&actor).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(roster_core::Error::NotFound("email change").into())
    }
}

/// Uses the link mailed to the new address: the account's address becomes it, verified.
#[utoipa::path(post, path = "/v1/auth/email-change/confirm", tag = "auth", request_body = EmailChangeConfirmRequest,
    responses((status = 200, body = super::dto::UserBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn auth_email_change_confirm_post(
    State(state): State<AppState>,
    Json(request): Json<EmailChangeConfirmRequest>,
) -> ApiResult<axum::Json<super::dto::UserBody>> {
    let user = state.core.confirm_email_change(&request.token).await?;
    Ok(axum::Json(map::user_body(user)))
}
