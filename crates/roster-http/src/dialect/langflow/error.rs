//! Langflow's error shape: `{"detail": "<string>"}` with its statuses and exact strings, and
//! FastAPI's 422 list for requests that do not fit.

pub use crate::dialect::fastapi::detail;
use crate::dialect::fastapi::validation;
use crate::error::ErrorInfo;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use roster_core::ErrorCode as C;

pub const NO_CREDENTIALS: &str = "An API key must be passed as query or header";
pub const INVALID_API_KEY: &str = "Invalid or missing API key";
pub const INVALID_TOKEN: &str = "Could not validate credentials";
pub const INACTIVE_USER: &str = "Inactive user";
/// Langflow 1.13, an access token whose user is inactive (`InactiveUserError`).
pub const ACCOUNT_INACTIVE: &str = "User account is inactive";
/// Langflow 1.13, an access token whose user was deleted (its lookup fails, reported as
/// `AuthInvalidTokenError("Token authentication failed")`).
pub const TOKEN_AUTH_FAILED: &str = "Token authentication failed";
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
    match info.code {
        C::NotFound => detail(StatusCode::NOT_FOUND, USER_NOT_FOUND),
        // A well-formed UUID Roster never issued: no such user.
        C::InvalidId => detail(StatusCode::NOT_FOUND, USER_NOT_FOUND),
        C::RouteNotFound => detail(StatusCode::NOT_FOUND, "Not Found"),
        C::MethodNotAllowed => detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
        C::Unauthenticated => detail(StatusCode::FORBIDDEN, NO_CREDENTIALS),
        C::InvalidToken => detail(StatusCode::UNAUTHORIZED, INVALID_TOKEN),
        C::InvalidCredentials => detail(StatusCode::UNAUTHORIZED, INCORRECT_LOGIN),
        C::AccountPending | C::AccountDisabled | C::Banned | C::EmailNotVerified => {
            detail(StatusCode::UNAUTHORIZED, INACTIVE_USER)
        }
        C::Forbidden => detail(StatusCode::FORBIDDEN, NOT_ENOUGH_PRIVILEGES),
        C::RegistrationDisabled => detail(StatusCode::FORBIDDEN, SIGNUP_DISABLED),
        C::Conflict => detail(StatusCode::BAD_REQUEST, USERNAME_UNAVAILABLE),
        C::LastAdmin => detail(StatusCode::BAD_REQUEST, info.detail.as_str()),
        C::InvalidField => validation("body", info, &info.detail),
        C::MalformedJson | C::UnsupportedMediaType | C::UnreadableBody => validation("body", info, &info.detail),
        C::InvalidQuery => validation("query", info, &info.detail),
        C::InvalidPath if info.status == StatusCode::UNPROCESSABLE_ENTITY => validation("path", info, &info.detail),
        C::BodyTooLarge => detail(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
        C::RateLimited => detail(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
        C::Unavailable => {
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
/// answer Langflow gives on one route only (`Detail`, or `Object` for `auto_login`'s refusal).
pub type LangflowError = crate::dialect::fastapi::FastApiError;

#[cfg(test)]
mod tests {
    use super::*;

    fn info(code: C, status: StatusCode) -> ErrorInfo {
        ErrorInfo {
            status,
            code,
            detail: "x".into(),
            field: None,
            reason: None,
            refusal: None,
            shape: false,
            input: None,
        }
    }

    #[test]
    fn core_errors_take_langflow_statuses() {
        for (code, status, expected) in [
            (C::NotFound, StatusCode::NOT_FOUND, StatusCode::NOT_FOUND),
            (C::Unauthenticated, StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN),
            (C::AccountDisabled, StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED),
            (C::Conflict, StatusCode::CONFLICT, StatusCode::BAD_REQUEST),
            (C::InvalidId, StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND),
            (
                C::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ] {
            assert_eq!(render_error(&info(code, status)).status(), expected, "{code:?}");
        }
        let outage = render_error(&info(C::Unavailable, StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(outage.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(outage.headers()[header::RETRY_AFTER], "1");
        let unauthorized = render_error(&info(C::InvalidToken, StatusCode::UNAUTHORIZED));
        assert_eq!(unauthorized.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
