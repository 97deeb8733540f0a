//! Plexichat's error shape: `{"error": {"code": <HTTP status>, "message": "<text>"}}` (its
//! `ErrorResponse`), with the seed's strings. A validation error also names the `field` and
//! the `details` of the rule it broke.

use crate::error::{DialectError, ErrorInfo, ErrorShape};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::ErrorCode as C;
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
pub const ADMIN_ACCESS_REQUIRED: &str = "Admin access required";
pub const INSUFFICIENT_PERMISSIONS: &str = "Insufficient permissions";
pub const INVALID_BADGE: &str = "Invalid badge";
pub const INVALID_VALUE_REQUIRED: &str = "Invalid value: Field required";
pub const INVALID_VALUE_TYPE: &str = "Invalid value: Input should be a valid string";
pub const INVALID_VALUE_TOO_LONG: &str = "Invalid value: String should have at most 10000 characters";
pub const INVALID_BODY_NOT_OBJECT: &str = "Invalid body: Input should be a valid dictionary";

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
        C::NotFound => message(StatusCode::NOT_FOUND, USER_NOT_FOUND),
        C::InvalidId => message(StatusCode::BAD_REQUEST, INVALID_USER_ID),
        C::RouteNotFound => message(StatusCode::NOT_FOUND, "Not found"),
        C::MethodNotAllowed => message(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
        C::Unauthenticated | C::InvalidToken | C::InvalidCredentials => message(StatusCode::UNAUTHORIZED, UNAUTHORIZED),
        C::AccountPending
        | C::AccountDisabled
        | C::Banned
        | C::EmailNotVerified
        | C::Forbidden
        | C::RegistrationDisabled => body(StatusCode::FORBIDDEN, FORBIDDEN, None, Some(&info.detail)),
        C::Conflict => body(StatusCode::CONFLICT, ALREADY_EXISTS, info.field.as_deref(), None),
        C::LastAdmin => body(StatusCode::CONFLICT, &info.detail, None, None),
        C::InvalidField | C::MalformedJson | C::UnsupportedMediaType | C::UnreadableBody | C::InvalidQuery => body(
            StatusCode::BAD_REQUEST,
            INVALID_INPUT,
            info.field.as_deref(),
            Some(&info.detail),
        ),
        C::TooLarge | C::BodyTooLarge => message(StatusCode::PAYLOAD_TOO_LARGE, "Request too large"),
        C::RateLimited => message(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
        C::Unavailable => message(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
        _ if info.status.is_client_error() => message(info.status, &info.detail),
        _ => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"),
    }
}

/// A handler's error: a core or request error (re-rendered by [`render_error`]), or an
/// answer Plexichat gives on one route only (`Detail`).
pub type PlexiError = DialectError<Plexichat>;

/// Plexichat's error shape (see [`ErrorShape`]): a fixed answer is an error body with a
/// message; a composed message (naming a key or a tier) is an `Object`.
#[derive(Debug)]
pub struct Plexichat;

impl ErrorShape for Plexichat {
    type Object = String;

    fn detail(status: StatusCode, message: &'static str) -> Response {
        body(status, message, None, None)
    }

    fn object(status: StatusCode, message: Self::Object) -> Response {
        body(status, &message, None, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(code: C, status: StatusCode, field: Option<&str>) -> ErrorInfo {
        ErrorInfo {
            status,
            code,
            detail: "x".into(),
            field: field.map(str::to_string),
            reason: None,
            refusal: None,
            shape: false,
            input: None,
        }
    }

    #[test]
    fn core_errors_take_plexichat_statuses() {
        for (code, status, expected) in [
            (C::NotFound, StatusCode::NOT_FOUND, StatusCode::NOT_FOUND),
            (C::InvalidId, StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST),
            (
                C::InvalidField,
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::BAD_REQUEST,
            ),
            (C::Conflict, StatusCode::CONFLICT, StatusCode::CONFLICT),
            (C::AccountDisabled, StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
            (C::Unauthenticated, StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED),
            (
                C::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ] {
            assert_eq!(render_error(&info(code, status, None)).status(), expected, "{code:?}");
        }
        let unauthorized = render_error(&info(C::InvalidToken, StatusCode::UNAUTHORIZED, None));
        assert_eq!(unauthorized.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
