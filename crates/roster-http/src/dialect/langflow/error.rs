//! Langflow's error shape: `{"detail": "<string>"}` with its statuses and exact strings, and
//! FastAPI's 422 list for requests that do not fit.

pub use crate::dialect::fastapi::detail;
use crate::dialect::fastapi::validation;
use crate::error::{ApiError, ErrorInfo};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub const NO_CREDENTIALS: &str = "An API key must be passed as query or header";
pub const INVALID_API_KEY: &str = "Invalid or missing API key";
pub const INVALID_TOKEN: &str = "Could not validate credentials";
pub const INACTIVE_USER: &str = "Inactive user";
pub const WAITING_FOR_APPROVAL: &str = "Waiting for approval";
pub const INCORRECT_LOGIN: &str = "Incorrect username or password";
pub const NOT_ENOUGH_PRIVILEGES: &str = "The user doesn't have enough privileges";
pub const PERMISSION_DENIED: &str = "Permission denied";
pub const USER_MANAGE_REQUIRED: &str = "Permission denied: user:manage is required.";
pub const USER_NOT_FOUND: &str = "User not found";
pub const USERNAME_UNAVAILABLE: &str = "This username is unavailable.";
pub const NO_PASSWORD_HERE: &str = "You can't change your password here";
pub const CANNOT_DEACTIVATE_SELF: &str = "You can't deactivate your own user account";
pub const OTHERS_PASSWORD: &str = "You can't change another user's password";
pub const SAME_PASSWORD: &str = "You can't use your current password";
pub const WRONG_CURRENT_PASSWORD: &str = "Current password is incorrect";
pub const CANNOT_DELETE_SELF: &str = "You can't delete your own user account";
pub const SIGNUP_DISABLED: &str = "Public user registration is disabled.";
pub const INVALID_REFRESH_TOKEN: &str = "Invalid refresh token";
pub const API_KEY_NOT_FOUND: &str = "API Key not found";
/// `auto_login` when the configured superuser does not exist.
pub const SUPERUSER_NOT_CREATED: &str = "Super user hasn't been created";

/// Renders any error of this dialect's router (handlers, extractors, fallbacks) as Langflow
/// does. Route-specific answers are chosen by the handlers ([`LangflowError::Detail`]).
pub fn render_error(info: &ErrorInfo) -> Response {
    let field = info.field.as_deref();
    match info.code {
        "not_found" => detail(StatusCode::NOT_FOUND, USER_NOT_FOUND),
        "invalid_id" => validation("path", Some("user_id"), "Input should be a valid UUID"),
        "route_not_found" => detail(StatusCode::NOT_FOUND, "Not Found"),
        "method_not_allowed" => detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
        "unauthenticated" => detail(StatusCode::FORBIDDEN, NO_CREDENTIALS),
        "invalid_token" => detail(StatusCode::UNAUTHORIZED, INVALID_TOKEN),
        "invalid_credentials" => detail(StatusCode::UNAUTHORIZED, INCORRECT_LOGIN),
        "account_pending" | "account_disabled" | "banned" | "email_not_verified" => {
            detail(StatusCode::UNAUTHORIZED, INACTIVE_USER)
        }
        "forbidden" => detail(StatusCode::FORBIDDEN, NOT_ENOUGH_PRIVILEGES),
        "registration_disabled" => detail(StatusCode::FORBIDDEN, SIGNUP_DISABLED),
        "conflict" => detail(StatusCode::BAD_REQUEST, USERNAME_UNAVAILABLE),
        "last_admin" => detail(StatusCode::BAD_REQUEST, info.detail.as_str()),
        "invalid_field" => validation("body", field, &info.detail),
        "malformed_json" | "unsupported_media_type" | "unreadable_body" => validation("body", None, &info.detail),
        "invalid_query" => validation("query", field, &info.detail),
        "invalid_path" if info.status == StatusCode::UNPROCESSABLE_ENTITY => validation("path", field, &info.detail),
        "body_too_large" => detail(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
        "rate_limited" => detail(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
        "unavailable" => {
            let mut response = detail(StatusCode::SERVICE_UNAVAILABLE, "Service temporarily unavailable");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        _ if info.status.is_client_error() => detail(info.status, info.detail.as_str()),
        _ => detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
}

/// A handler's error: a core or request error (re-rendered by [`render_error`]), or an
/// answer Langflow gives on one route only.
#[derive(Debug)]
pub enum LangflowError {
    Api(ApiError),
    Detail(StatusCode, &'static str),
    /// A detail object (`auto_login`'s refusal).
    Object(StatusCode, Value),
}

impl From<ApiError> for LangflowError {
    fn from(e: ApiError) -> Self {
        LangflowError::Api(e)
    }
}

impl From<roster_core::Error> for LangflowError {
    fn from(e: roster_core::Error) -> Self {
        LangflowError::Api(e.into())
    }
}

impl IntoResponse for LangflowError {
    fn into_response(self) -> Response {
        match self {
            LangflowError::Api(e) => e.into_response(),
            LangflowError::Detail(status, text) => detail(status, text),
            LangflowError::Object(status, value) => detail(status, value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(code: &'static str, status: StatusCode) -> ErrorInfo {
        ErrorInfo {
            status,
            code,
            detail: "x".into(),
            field: None,
        }
    }

    #[test]
    fn core_errors_take_langflow_statuses() {
        for (code, status, expected) in [
            ("not_found", StatusCode::NOT_FOUND, StatusCode::NOT_FOUND),
            ("unauthenticated", StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN),
            ("account_disabled", StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED),
            ("conflict", StatusCode::CONFLICT, StatusCode::BAD_REQUEST),
            ("invalid_id", StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY),
            (
                "internal",
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ] {
            assert_eq!(render_error(&info(code, status)).status(), expected, "{code}");
        }
        let outage = render_error(&info("unavailable", StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(outage.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(outage.headers()[header::RETRY_AFTER], "1");
        let unauthorized = render_error(&info("invalid_token", StatusCode::UNAUTHORIZED));
        assert_eq!(unauthorized.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
