//! Open WebUI's error shape: `{"detail": "<string>"}` with its statuses and exact strings
//! (`backend/open_webui/constants.py` `ERROR_MESSAGES`), and FastAPI's 422 list for bodies
//! that do not fit.

pub use crate::dialect::fastapi::detail;
use crate::dialect::fastapi::validation;
use crate::error::{ApiError, ErrorInfo};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub const NOT_FOUND: &str = "We could not find what you're looking for :/";
pub const ACTION_PROHIBITED: &str = "The requested action has been restricted as a security measure.";
pub const ACCESS_PROHIBITED: &str =
    "You do not have permission to access this resource. Please contact your administrator for assistance.";
pub const EMAIL_TAKEN: &str = "Uh-oh! This email is already registered. Sign in with your existing account or choose another email to start anew.";
pub const USERNAME_TAKEN: &str = "Uh-oh! This username is already registered. Please choose another username.";
pub const DELETE_USER_ERROR: &str =
    "Oops! Something went wrong. We encountered an issue while trying to delete the user. Please give it another shot.";
pub const INVALID_TOKEN: &str = "Your session has expired or the token is invalid. Please sign in again.";
pub const INVALID_CRED: &str =
    "The email or password provided is incorrect. Please check for typos and try logging in again.";
pub const INCORRECT_PASSWORD: &str = "The password provided is incorrect. Please check for typos and try again.";
pub const INVALID_EMAIL_FORMAT: &str = "The email format you entered is invalid. Please double-check and make sure you're using a valid email address (e.g., yourname@example.com).";
pub const INVALID_PASSWORD: &str = "The password does not meet the required validation criteria.";
pub const API_KEY_CREATION_NOT_ALLOWED: &str = "API key creation is not allowed in the environment.";
pub const API_KEY_NOT_ALLOWED: &str = "Use of API key is not enabled in the environment.";
pub const API_KEY_NOT_FOUND: &str = "Oops! It looks like there's a hiccup. The API key is missing. Please make sure to provide a valid API key to access this feature.";
pub const RATE_LIMIT_EXCEEDED: &str = "API rate limit exceeded";
pub const DEFAULT: &str = "Something went wrong :/";
pub const NOT_AUTHENTICATED: &str = "Not authenticated";
/// `POST /users/{id}/sessions/revoke` says this for an unknown user, with 404.
pub const SESSIONS_USER_NOT_FOUND: &str = "User not found.";

/// The core's message for a non-admin caller (see `Actor::require_admin`).
const ADMIN_REQUIRED: &str = "administrator role required";

/// Whether a field error is about the body's shape (serde's words, or a character no store
/// can hold), not a rule of the core.
fn is_shape_error(detail: &str) -> bool {
    [
        "invalid type",
        "missing field",
        "unknown field",
        "invalid value",
        "invalid length",
    ]
    .iter()
    .any(|marker| detail.contains(marker))
        || detail.ends_with(crate::extract::NUL_REASON)
}

/// Renders any error of this dialect's router (handlers, extractors, fallbacks) as Open WebUI
/// does.
pub fn render_error(info: &ErrorInfo) -> Response {
    let field = info.field.as_deref();
    match info.code {
        "not_found" | "invalid_id" => detail(StatusCode::BAD_REQUEST, NOT_FOUND),
        "route_not_found" => detail(StatusCode::NOT_FOUND, "Not Found"),
        "method_not_allowed" => detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
        "unauthenticated" => detail(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED),
        "invalid_token" => detail(StatusCode::UNAUTHORIZED, INVALID_TOKEN),
        "invalid_credentials" => detail(StatusCode::BAD_REQUEST, INVALID_CRED),
        "account_pending" | "account_disabled" | "banned" | "email_not_verified" => {
            detail(StatusCode::UNAUTHORIZED, ACCESS_PROHIBITED)
        }
        "forbidden" if info.detail == roster_core::service::API_KEYS_NOT_PERMITTED => {
            detail(StatusCode::FORBIDDEN, API_KEY_NOT_ALLOWED)
        }
        "forbidden" if info.detail == ADMIN_REQUIRED => detail(StatusCode::UNAUTHORIZED, ACCESS_PROHIBITED),
        "forbidden" | "last_admin" => detail(StatusCode::FORBIDDEN, ACTION_PROHIBITED),
        "registration_disabled" => detail(StatusCode::FORBIDDEN, ACCESS_PROHIBITED),
        "conflict" if field == Some("username") => detail(StatusCode::BAD_REQUEST, USERNAME_TAKEN),
        "conflict" => detail(StatusCode::BAD_REQUEST, EMAIL_TAKEN),
        "invalid_field" if is_shape_error(&info.detail) => validation("body", field, &info.detail),
        "invalid_field" if field == Some("email") => detail(StatusCode::BAD_REQUEST, INVALID_EMAIL_FORMAT),
        "invalid_field" if field == Some("current_password") => detail(StatusCode::BAD_REQUEST, INCORRECT_PASSWORD),
        "invalid_field"
            if matches!(field, Some("password" | "new_password"))
                && info.detail.starts_with(&format!("{}: ", field.unwrap_or_default())) =>
        {
            // The core's password rule, in its own words, as Open WebUI shows its hint.
            let hint = info.detail.split_once(": ").map_or("", |(_, r)| r);
            let hint = if hint.is_empty() { INVALID_PASSWORD } else { hint };
            detail(StatusCode::BAD_REQUEST, hint)
        }
        "invalid_field" => validation("body", field, &info.detail),
        "malformed_json" | "unsupported_media_type" => validation("body", None, &info.detail),
        "invalid_query" => validation("query", field, &info.detail),
        "invalid_path" if info.status == StatusCode::UNPROCESSABLE_ENTITY => validation("path", field, &info.detail),
        "body_too_large" => detail(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
        "rate_limited" => detail(StatusCode::TOO_MANY_REQUESTS, RATE_LIMIT_EXCEEDED),
        _ if info.status.is_client_error() => detail(info.status, info.detail.as_str()),
        _ => detail(StatusCode::INTERNAL_SERVER_ERROR, DEFAULT),
    }
}

/// A handler's error: a core or request error (re-rendered by [`render_error`]), or an
/// answer Open WebUI gives on one route only.
#[derive(Debug)]
pub enum OpenWebUiError {
    Api(ApiError),
    Detail(StatusCode, &'static str),
}

impl From<ApiError> for OpenWebUiError {
    fn from(e: ApiError) -> Self {
        OpenWebUiError::Api(e)
    }
}

impl From<roster_core::Error> for OpenWebUiError {
    fn from(e: roster_core::Error) -> Self {
        OpenWebUiError::Api(e.into())
    }
}

impl IntoResponse for OpenWebUiError {
    fn into_response(self) -> Response {
        match self {
            OpenWebUiError::Api(e) => e.into_response(),
            OpenWebUiError::Detail(status, text) => detail(status, text),
        }
    }
}
