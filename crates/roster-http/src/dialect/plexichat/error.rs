//! Plexichat's error shape: `{"error": {"code": <HTTP status>, "message": "<text>"}}` (its
//! `ErrorResponse`), with the seed's strings. A validation error also names the `field` and
//! the `details` of the rule it broke.

use crate::error::{ApiError, ErrorInfo};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

pub const UNAUTHORIZED: &str = "Unauthorized";
pub const FORBIDDEN: &str = "Forbidden";
pub const USER_NOT_FOUND: &str = "User not found";
pub const INVALID_USER_ID: &str = "Invalid user ID";
pub const INVALID_INPUT: &str = "Invalid input";
pub const WEAK_PASSWORD: &str = "Weak password";
pub const MISSING_CURRENT_PASSWORD: &str = "Missing current_password";
pub const INCORRECT_CURRENT_PASSWORD: &str = "Incorrect current password";
pub const ALREADY_EXISTS: &str = "Already exists";
pub const INVALID_FILE_TYPE: &str = "Invalid file type";
pub const FILE_TOO_LARGE: &str = "File too large";
pub const RECIPIENT_REQUIRED: &str = "recipient_id required";
pub const INVALID_RECIPIENT_ID: &str = "Invalid recipient ID";
pub const CANNOT_MESSAGE: &str = "Cannot message";
pub const CANNOT_MESSAGE_YOURSELF: &str = "Cannot message yourself";
pub const USERNAME_REQUIRED: &str = "Username required";
pub const LIMITS_READ_ONLY: &str = "Messaging limits are set by administrators";
pub const INVALID_VERIFICATION: &str = "Invalid or expired verification token";

/// The error body with `status` as its code.
pub fn body(status: StatusCode, message: &str, field: Option<&str>, details: Option<&str>) -> Response {
    let mut error = Map::new();
    error.insert("code".into(), json!(status.as_u16()));
    error.insert("message".into(), json!(message));
    if let Some(field) = field {
        error.insert("field".into(), json!(field));
    }
    if let Some(details) = details {
        error.insert("details".into(), json!(details));
    }
    let mut response = (status, axum::Json(json!({ "error": Value::Object(error) }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// Renders any error of this dialect's router (handlers, extractors, fallbacks) as
/// Plexichat does. Route-specific answers are chosen by the handlers ([`PlexiError`]).
pub fn render_error(info: &ErrorInfo) -> Response {
    let message = |status: StatusCode, text: &str| body(status, text, None, None);
    match info.code {
        "not_found" => message(StatusCode::NOT_FOUND, USER_NOT_FOUND),
        "invalid_id" => message(StatusCode::BAD_REQUEST, INVALID_USER_ID),
        "route_not_found" => message(StatusCode::NOT_FOUND, "Not found"),
        "method_not_allowed" => message(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
        "unauthenticated" | "invalid_token" | "invalid_credentials" => message(StatusCode::UNAUTHORIZED, UNAUTHORIZED),
        "account_pending"
        | "account_disabled"
        | "banned"
        | "email_not_verified"
        | "forbidden"
        | "registration_disabled" => body(StatusCode::FORBIDDEN, FORBIDDEN, None, Some(&info.detail)),
        "conflict" => body(StatusCode::CONFLICT, ALREADY_EXISTS, info.field.as_deref(), None),
        "last_admin" => body(StatusCode::CONFLICT, &info.detail, None, None),
        "invalid_field" | "malformed_json" | "unsupported_media_type" | "unreadable_body" | "invalid_query" => body(
            StatusCode::BAD_REQUEST,
            INVALID_INPUT,
            info.field.as_deref(),
            Some(&info.detail),
        ),
        "too_large" | "body_too_large" => message(StatusCode::PAYLOAD_TOO_LARGE, "Request too large"),
        "rate_limited" => message(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
        "unavailable" => message(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
        _ if info.status.is_client_error() => message(info.status, &info.detail),
        _ => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"),
    }
}

/// A handler's error: a core or request error (re-rendered by [`render_error`]), or an
/// answer Plexichat gives on one route only.
#[derive(Debug)]
pub enum PlexiError {
    Api(ApiError),
    Message(StatusCode, &'static str),
}

impl From<ApiError> for PlexiError {
    fn from(e: ApiError) -> Self {
        PlexiError::Api(e)
    }
}

impl From<roster_core::Error> for PlexiError {
    fn from(e: roster_core::Error) -> Self {
        PlexiError::Api(e.into())
    }
}

impl IntoResponse for PlexiError {
    fn into_response(self) -> Response {
        match self {
            PlexiError::Api(e) => e.into_response(),
            PlexiError::Message(status, text) => body(status, text, None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(code: &'static str, status: StatusCode, field: Option<&str>) -> ErrorInfo {
        ErrorInfo {
            status,
            code,
            detail: "x".into(),
            field: field.map(str::to_string),
        }
    }

    #[test]
    fn core_errors_take_plexichat_statuses() {
        for (code, status, expected) in [
            ("not_found", StatusCode::NOT_FOUND, StatusCode::NOT_FOUND),
            ("invalid_id", StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST),
            (
                "invalid_field",
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::BAD_REQUEST,
            ),
            ("conflict", StatusCode::CONFLICT, StatusCode::CONFLICT),
            ("account_disabled", StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
            ("unauthenticated", StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED),
            (
                "internal",
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ] {
            assert_eq!(render_error(&info(code, status, None)).status(), expected, "{code}");
        }
        let unauthorized = render_error(&info("invalid_token", StatusCode::UNAUTHORIZED, None));
        assert_eq!(unauthorized.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
