//! LibreChat's error shape: `{"message": ...}` (some routes add `error`, a few answer in
//! plain text), with LibreChat's statuses and messages.

use crate::error::ErrorInfo;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::{Error, ErrorCode};
use serde_json::{Value, json};

/// An error already in LibreChat's shape (not re-rendered).
#[derive(Debug)]
pub struct LcError {
    pub status: StatusCode,
    pub body: LcBody,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
}

/// A JSON or plain-text body.
#[derive(Debug)]
pub enum LcBody {
    Json(Value),
    Text(&'static str),
}

impl LcError {
    /// `{"message": message}` with `status`.
    pub fn message(status: StatusCode, message: impl Into<String>) -> Self {
        Self::json(status, json!({ "message": message.into() }))
    }

    /// A JSON body with `status`.
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: LcBody::Json(body),
            retry_after: None,
        }
    }

    /// A plain-text body with `status`.
    pub fn text(status: StatusCode, text: &'static str) -> Self {
        Self {
            status,
            body: LcBody::Text(text),
            retry_after: None,
        }
    }
}

impl IntoResponse for LcError {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            LcBody::Json(v) => (self.status, axum::Json(v)).into_response(),
            LcBody::Text(t) => (self.status, t).into_response(),
        };
        if let Some(seconds) = self.retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&seconds.max(1).to_string())
        {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        response
    }
}

/// The message of a core error as LibreChat users read it.
pub fn message_of(e: &Error) -> String {
    match e {
        Error::Invalid { reason, .. } => reason.clone(),
        Error::Internal(_) | Error::Unavailable => "Something went wrong.".into(),
        other => {
            let s = other.to_string();
            let mut chars = s.chars();
            match chars.next() {
                Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
                None => s,
            }
        }
    }
}

/// The 401 body of every route that needs a login.
pub fn unauthorized() -> Value {
    json!({ "error": "Unauthorized", "message": "You must be logged in to access this resource" })
}

/// The 429 of verification-mail routes.
pub fn rate_limited(retry_after: std::time::Duration, message: &str) -> LcError {
    LcError {
        retry_after: Some(retry_after.as_secs()),
        ..LcError::json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "error": "Too many requests", "message": message }),
        )
    }
}

/// A core error in LibreChat's shape, for the routes without their own table.
pub fn from_core(e: Error) -> LcError {
    if matches!(e, Error::Internal(_) | Error::Unavailable) {
        tracing::error!(error = ?e, "request failed");
    }
    match &e {
        Error::Unauthenticated | Error::InvalidToken | Error::InvalidCredentials => {
            LcError::json(StatusCode::UNAUTHORIZED, unauthorized())
        }
        Error::Invalid { .. } | Error::InvalidId => LcError::message(StatusCode::BAD_REQUEST, message_of(&e)),
        Error::RateLimited { retry_after } => rate_limited(*retry_after, "Too many requests, please try again later."),
        Error::Internal(_) | Error::Unavailable => {
            LcError::message(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.")
        }
        _ => LcError::message(crate::error::status_of(&e), message_of(&e)),
    }
}

impl From<Error> for LcError {
    fn from(e: Error) -> Self {
        from_core(e)
    }
}

impl From<crate::error::ApiError> for LcError {
    fn from(e: crate::error::ApiError) -> Self {
        match e {
            crate::error::ApiError::Core(e) => from_core(e),
            other => render(&other.info()),
        }
    }
}

/// Re-renders an error of the shared layers (extractors, authentication, fallbacks).
pub fn render(info: &ErrorInfo) -> LcError {
    // A validation error's reason, without its field's name.
    let message = info.reason.clone().unwrap_or_else(|| info.detail.clone());
    match info.status {
        StatusCode::UNAUTHORIZED => LcError::json(StatusCode::UNAUTHORIZED, unauthorized()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::UNPROCESSABLE_ENTITY => {
            LcError::message(StatusCode::BAD_REQUEST, message)
        }
        StatusCode::NOT_FOUND if info.code == ErrorCode::RouteNotFound => {
            LcError::message(StatusCode::NOT_FOUND, "Not Found")
        }
        StatusCode::FORBIDDEN if info.code == ErrorCode::EmailNotVerified => {
            LcError::message(StatusCode::UNPROCESSABLE_ENTITY, "Email not verified.")
        }
        status if status.is_server_error() => LcError::message(status, "Something went wrong."),
        status => {
            let mut chars = message.chars();
            let message = match chars.next() {
                Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
                None => message,
            };
            LcError::message(status, message)
        }
    }
}

/// [`render`] as a response, for `render_errors_with`.
pub fn render_response(info: &ErrorInfo) -> Response {
    render(info).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::bodies::{core_errors, describe, json_errors, other_request_errors};

    /// Pins LibreChat's answer to an error a handler returns (not re-rendered: converted
    /// where it happens), for every core error and request error.
    #[tokio::test]
    async fn handler_error_bodies() {
        let mut described = serde_json::Map::new();
        for (name, e) in core_errors() {
            let response = LcError::from(e).into_response();
            described.insert(format!("core {name}"), describe(response).await);
        }
        for (name, e) in other_request_errors().into_iter().chain(json_errors()) {
            let response = LcError::from(e).into_response();
            described.insert(format!("request {name}"), describe(response).await);
        }
        insta::assert_json_snapshot!("librechat_handler", Value::Object(described));
    }
}
