//! Open WebUI's error shape: `{"detail": "<string>"}` with its statuses and exact strings
//! (`backend/open_webui/constants.py` `ERROR_MESSAGES`), and FastAPI's 422 list for bodies
//! that do not fit.

pub use crate::dialect::fastapi::detail;
use crate::dialect::fastapi::validation;
use crate::error::ErrorInfo;
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::{ErrorCode as C, Refusal};

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

/// Renders any error of this dialect's router (handlers, extractors, fallbacks) as Open WebUI
/// does.
pub fn render_error(info: &ErrorInfo) -> Response {
    let field = info.field.as_deref();
    match info.code {
        C::NotFound | C::InvalidId => detail(StatusCode::BAD_REQUEST, NOT_FOUND),
        C::RouteNotFound => detail(StatusCode::NOT_FOUND, "Not Found"),
        C::MethodNotAllowed => detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
        C::Unauthenticated => detail(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED),
        C::InvalidToken => detail(StatusCode::UNAUTHORIZED, INVALID_TOKEN),
        C::InvalidCredentials => detail(StatusCode::BAD_REQUEST, INVALID_CRED),
        C::AccountPending | C::AccountDisabled | C::Banned | C::EmailNotVerified => {
            detail(StatusCode::UNAUTHORIZED, ACCESS_PROHIBITED)
        }
        C::Forbidden if info.refusal == Some(Refusal::ApiKeysNotPermitted) => {
            detail(StatusCode::FORBIDDEN, API_KEY_NOT_ALLOWED)
        }
        C::Forbidden if info.refusal == Some(Refusal::AdminRequired) => {
            detail(StatusCode::UNAUTHORIZED, ACCESS_PROHIBITED)
        }
        C::Forbidden | C::LastAdmin => detail(StatusCode::FORBIDDEN, ACTION_PROHIBITED),
        C::RegistrationDisabled => detail(StatusCode::FORBIDDEN, ACCESS_PROHIBITED),
        C::Conflict if field == Some("username") => detail(StatusCode::BAD_REQUEST, USERNAME_TAKEN),
        C::Conflict => detail(StatusCode::BAD_REQUEST, EMAIL_TAKEN),
        C::InvalidField if info.shape => validation("body", info, &info.detail),
        C::InvalidField if field == Some("email") => detail(StatusCode::BAD_REQUEST, INVALID_EMAIL_FORMAT),
        C::InvalidField if field == Some("current_password") => detail(StatusCode::BAD_REQUEST, INCORRECT_PASSWORD),
        C::InvalidField if matches!(field, Some("password" | "new_password")) && info.reason.is_some() => {
            // The core's password rule, in its own words, as Open WebUI shows its hint.
            let hint = info.reason.as_deref().filter(|r| !r.is_empty());
            detail(StatusCode::BAD_REQUEST, hint.unwrap_or(INVALID_PASSWORD))
        }
        C::InvalidField => validation("body", info, &info.detail),
        C::MalformedJson | C::UnsupportedMediaType => validation("body", info, &info.detail),
        C::InvalidQuery => validation("query", info, &info.detail),
        C::InvalidPath if info.status == StatusCode::UNPROCESSABLE_ENTITY => validation("path", info, &info.detail),
        C::BodyTooLarge => detail(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
        C::RateLimited => detail(StatusCode::TOO_MANY_REQUESTS, RATE_LIMIT_EXCEEDED),
        _ if info.status.is_client_error() => detail(info.status, info.detail.as_str()),
        _ => detail(StatusCode::INTERNAL_SERVER_ERROR, DEFAULT),
    }
}

/// FastAPI's 422 for a body field whose pydantic `field_validator` raised
/// `ValueError(message)`: `{type: "value_error", loc: ["body", field], msg: "Value error, ...",
/// input, ctx: {error: {}}}`.
pub fn value_error(field: &str, input: &str, message: &str) -> OpenWebUiError {
    OpenWebUiError::Object(
        StatusCode::UNPROCESSABLE_ENTITY,
        serde_json::json!([{
            "type": "value_error",
            "loc": ["body", field],
            "msg": format!("Value error, {message}"),
            "input": input,
            "ctx": {"error": {}},
        }]),
    )
}

/// A handler's error: a core or request error (re-rendered by [`render_error`]), or an
/// answer Open WebUI gives on one route only (`Detail`).
pub type OpenWebUiError = crate::dialect::fastapi::FastApiError;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use roster_core::Error;

    #[tokio::test]
    async fn errors_are_told_apart_by_their_structure_not_their_words() {
        let mut info = ApiError::Core(Error::Forbidden(Refusal::AdminRequired)).info();
        info.detail = "reworded".into();
        assert_eq!(render_error(&info).status(), StatusCode::UNAUTHORIZED);
        // A core rule is not a shape error, whatever its words.
        let info = ApiError::Core(Error::invalid("email", "invalid type of address")).info();
        assert_eq!(render_error(&info).status(), StatusCode::BAD_REQUEST);
        let info = ApiError::Core(Error::invalid("password", "needs: a digit")).info();
        let body = axum::body::to_bytes(render_error(&info).into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"detail":"needs: a digit"}"#);
    }
}
