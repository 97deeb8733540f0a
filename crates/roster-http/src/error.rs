//! The one table from core error to HTTP status, and the native error body
//! (RFC 9457 `application/problem+json`). Dialects reuse the status table.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::Error;
use serde::Serialize;

/// The HTTP status for a core error. The single place this mapping lives.
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::InvalidId => StatusCode::BAD_REQUEST,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Unauthenticated | Error::InvalidCredentials | Error::InvalidToken => StatusCode::UNAUTHORIZED,
        Error::AccountPending
        | Error::AccountDisabled
        | Error::Banned { .. }
        | Error::Forbidden(_)
        | Error::RegistrationDisabled => StatusCode::FORBIDDEN,
        Error::LastAdmin => StatusCode::CONFLICT,
        Error::EmailNotVerified => StatusCode::FORBIDDEN,
        Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        Error::TwoFactorRequired(_) => StatusCode::FORBIDDEN,
        Error::InvalidTwoFactorCode => StatusCode::UNAUTHORIZED,
    }
}

/// An error of the HTTP layer: a core error, or a request the transport could not read.
#[derive(Debug)]
pub enum ApiError {
    /// A core error.
    Core(Error),
    /// A malformed request: bad JSON, wrong content type, oversized body, bad query.
    Request {
        status: StatusCode,
        code: &'static str,
        detail: String,
        field: Option<String>,
    },
}

impl ApiError {
    /// A malformed-request error.
    pub fn request(status: StatusCode, code: &'static str, detail: impl Into<String>, field: Option<String>) -> Self {
        ApiError::Request {
            status,
            code,
            detail: detail.into(),
            field,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Core(e) => status_of(e),
            ApiError::Request { status, .. } => *status,
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Core(e) => e.code(),
            ApiError::Request { code, .. } => code,
        }
    }

    /// The offending field, if any.
    pub fn field(&self) -> Option<String> {
        match self {
            ApiError::Core(e) => e.field().map(str::to_string),
            ApiError::Request { field, .. } => field.clone(),
        }
    }

    /// A message safe to show the client (internal details never are).
    pub fn detail(&self) -> String {
        match self {
            ApiError::Core(e) => e.to_string(),
            ApiError::Request { detail, .. } => detail.clone(),
        }
    }

    /// Logs server-side failures; client mistakes are not logged as errors.
    pub fn log(&self) {
        if let ApiError::Core(e @ (Error::Internal(_) | Error::Unavailable)) = self {
            tracing::error!(error = ?e, "request failed");
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Core(e)
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:roster:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// The stable code (the last part of `type`).
    pub code: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let problem = Problem {
            kind: format!("urn:roster:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code().to_string(),
            field: self.field(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::Core(Error::RateLimited { retry_after }) = &self
            && let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        response.extensions_mut().insert(ErrorInfo {
            status,
            code: self.code(),
            detail: problem.detail,
            field: problem.field,
        });
        response
    }
}

/// What an error response was about, kept in the response's extensions so that a dialect
/// can render the same error in its product's shape (see [`render_errors_with`]).
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// The status of the native table ([`status_of`]).
    pub status: StatusCode,
    /// The stable code (`not_found`, `invalid_field`, `account_pending`, ...).
    pub code: &'static str,
    /// The client-safe message.
    pub detail: String,
    /// The field at fault, for validation errors.
    pub field: Option<String>,
}

/// Re-renders every error response of `router` (handlers, extractors, fallbacks) with
/// `render`: how a dialect gives core errors its product's shape, statuses and messages.
/// Headers of the original response that still apply (`Retry-After`) are kept.
pub fn render_errors_with<S, F>(router: axum::Router<S>, render: F) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(&ErrorInfo) -> Response + Clone + Send + Sync + 'static,
{
    router.layer(axum::middleware::map_response(move |response: Response| {
        let render = render.clone();
        async move {
            let Some(info) = response.extensions().get::<ErrorInfo>().cloned() else {
                return response;
            };
            let mut rendered = render(&info);
            if let Some(retry) = response.headers().get(header::RETRY_AFTER) {
                rendered.headers_mut().insert(header::RETRY_AFTER, retry.clone());
            }
            rendered.extensions_mut().insert(info);
            rendered
        }
    }))
}

/// 404 for routes that do not exist.
pub async fn not_found_fallback() -> ApiError {
    ApiError::request(StatusCode::NOT_FOUND, "route_not_found", "no such route", None)
}

/// 405 for a known route called with the wrong method.
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::request(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
        None,
    )
}

#[cfg(test)]
pub(crate) mod bodies;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_table() {
        assert_eq!(status_of(&Error::NotFound("user")), StatusCode::NOT_FOUND);
        assert_eq!(status_of(&Error::Conflict { field: "email" }), StatusCode::CONFLICT);
        assert_eq!(
            status_of(&Error::invalid("email", "bad")),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status_of(&Error::InvalidCredentials), StatusCode::UNAUTHORIZED);
        assert_eq!(status_of(&Error::AccountPending), StatusCode::FORBIDDEN);
        assert_eq!(
            status_of(&Error::Banned {
                until: time::OffsetDateTime::UNIX_EPOCH
            }),
            StatusCode::FORBIDDEN
        );
        assert_eq!(status_of(&Error::LastAdmin), StatusCode::CONFLICT);
        assert_eq!(
            status_of(&Error::RateLimited {
                retry_after: Duration::from_secs(3)
            }),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            status_of(&Error::Internal(anyhow::anyhow!("x"))),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[tokio::test]
    async fn dialects_re_render_errors() {
        use tower::ServiceExt as _;
        let router: axum::Router = axum::Router::new().route(
            "/x",
            axum::routing::get(|| async { ApiError::Core(Error::NotFound("user")) }),
        );
        let router = render_errors_with(router, |info| {
            (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({"detail": info.code})),
            )
                .into_response()
        });
        let response = router
            .oneshot(axum::http::Request::get("/x").body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], br#"{"detail":"not_found"}"#);
    }

    #[test]
    fn internal_details_are_not_shown() {
        let e = ApiError::Core(Error::Internal(anyhow::anyhow!("secret database detail")));
        assert_eq!(e.detail(), "internal error");
        let r = ApiError::Core(Error::RateLimited {
            retry_after: Duration::from_secs(7),
        })
        .into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
    }
}
