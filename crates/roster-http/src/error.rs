//! The one table from core error to HTTP status, and the native error body
//! (RFC 9457 `application/problem+json`). Dialects reuse the status table, re-render errors
//! from their [`ErrorInfo`] (typed code, refusal, field reason, shape flag: never the
//! message's words), and answer with a [`DialectError`] where a route has its own answer.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::{Error, ErrorCode, Refusal};
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
    Request(ErrorInfo),
}

impl ApiError {
    /// A malformed-request error.
    pub fn request(status: StatusCode, code: ErrorCode, detail: impl Into<String>, field: Option<String>) -> Self {
        ApiError::Request(ErrorInfo::request(status, code, detail.into(), field))
    }

    /// A request that does not fit the route's types, in serde's `message`: the field at
    /// fault (if known) leads the detail when the message does not name it. A shape error
    /// (see [`ErrorInfo::shape`]).
    pub fn misfit(status: StatusCode, code: ErrorCode, message: String, field: Option<String>) -> Self {
        Self::misfit_of(status, code, message, field, None)
    }

    /// As [`ApiError::misfit`], with what the client sent at the field.
    pub fn misfit_of(
        status: StatusCode,
        code: ErrorCode,
        message: String,
        field: Option<String>,
        input: Option<serde_json::Value>,
    ) -> Self {
        let (detail, reason) = match &field {
            Some(f) if !message.contains(f.as_str()) => (format!("{f}: {message}"), Some(message)),
            _ => (message, None),
        };
        ApiError::Request(ErrorInfo {
            reason,
            shape: true,
            input,
            ..ErrorInfo::request(status, code, detail, field)
        })
    }

    /// Text with a NUL character at `field`: PostgreSQL cannot store it (in `text` or in
    /// `jsonb`), so no backend accepts it; the one character valid JSON and UTF-8 can carry
    /// that a store cannot hold (lone surrogates are refused by the JSON parser already). A
    /// 422 shape error with `code` (`invalid_field` for a body, `invalid_query` /
    /// `invalid_path` for the URL) so each dialect renders it where its product puts such
    /// errors.
    pub fn nul(code: ErrorCode, field: String) -> Self {
        let detail = format!("{field} {}", roster_core::user::NUL_REASON);
        ApiError::Request(ErrorInfo {
            shape: true,
            ..ErrorInfo::request(StatusCode::UNPROCESSABLE_ENTITY, code, detail, Some(field))
        })
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Core(e) => status_of(e),
            ApiError::Request(info) => info.status,
        }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Core(e) => e.code(),
            ApiError::Request(info) => info.code,
        }
    }

    /// The offending field, if any.
    pub fn field(&self) -> Option<String> {
        match self {
            ApiError::Core(e) => e.field().map(str::to_string),
            ApiError::Request(info) => info.field.clone(),
        }
    }

    /// A message safe to show the client (internal details never are).
    pub fn detail(&self) -> String {
        match self {
            ApiError::Core(e) => e.to_string(),
            ApiError::Request(info) => info.detail.clone(),
        }
    }

    /// What the error is about, for a dialect to render it (see [`render_errors_with`]).
    pub fn info(&self) -> ErrorInfo {
        match self {
            ApiError::Core(e) => ErrorInfo {
                status: status_of(e),
                code: e.code(),
                detail: e.to_string(),
                field: e.field().map(str::to_string),
                reason: e.reason().map(str::to_string),
                refusal: e.refusal(),
                shape: e.is_nul_rejection(),
                input: None,
            },
            ApiError::Request(info) => info.clone(),
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
        let info = self.info();
        let status = info.status;
        let problem = Problem {
            kind: format!("urn:roster:problem:{}", info.code.as_str()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: info.detail.clone(),
            code: info.code.as_str().to_string(),
            field: info.field.clone(),
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
        response.extensions_mut().insert(info);
        response
    }
}

/// What an error response was about, kept in the response's extensions so that a dialect
/// can render the same error in its product's shape (see [`render_errors_with`]).
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// The status of the native table ([`status_of`]).
    pub status: StatusCode,
    /// The stable code.
    pub code: ErrorCode,
    /// The client-safe message.
    pub detail: String,
    /// The field at fault, for validation errors.
    pub field: Option<String>,
    /// For a field error whose `detail` is `"{field}: {reason}"`: the reason alone (a core
    /// rule's words, such as the password rule's).
    pub reason: Option<String>,
    /// Why the core refused, for `forbidden`.
    pub refusal: Option<Refusal>,
    /// Whether a field error is about the request's shape, not a rule of the core: the body
    /// or URL does not fit the route's types (serde's errors), or holds a NUL character,
    /// which no store can hold.
    pub shape: bool,
    /// For a shape error: what the client sent at the field (the enclosing object for a
    /// missing field), for products that echo it (FastAPI's `input`).
    pub input: Option<serde_json::Value>,
}

impl ErrorInfo {
    /// A request error: no refusal, no separate reason, not about the request's shape.
    fn request(status: StatusCode, code: ErrorCode, detail: String, field: Option<String>) -> Self {
        ErrorInfo {
            status,
            code,
            detail,
            field,
            reason: None,
            refusal: None,
            shape: false,
            input: None,
        }
    }
}

/// Re-renders every error response of `router` (handlers, extractors, fallbacks) with
/// `render`: how a dialect gives core errors its product's shape, statuses and messages.
/// Headers of the original response that still apply (`Retry-After`) are kept.
pub fn render_errors_with<S, F>(router: axum::Router<S>, render: F) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(&ErrorInfo) -> Response + Clone + Send + Sync + 'static,
{
    // A plain `tower` map (no future of its own, nothing cloned but `render`): it runs on
    // every response of the dialect, and almost all of them are not errors.
    router.layer(tower::util::MapResponseLayer::new(move |response: Response| {
        let Some(info) = response.extensions().get::<ErrorInfo>().cloned() else {
            return response;
        };
        let mut rendered = render(&info);
        if let Some(retry) = response.headers().get(header::RETRY_AFTER) {
            rendered.headers_mut().insert(header::RETRY_AFTER, retry.clone());
        }
        rendered.extensions_mut().insert(info);
        rendered
    }))
}

/// 404 for routes that do not exist.
pub async fn not_found_fallback() -> ApiError {
    ApiError::request(StatusCode::NOT_FOUND, ErrorCode::RouteNotFound, "no such route", None)
}

/// 405 for a known route called with the wrong method.
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::request(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
        None,
    )
}

/// A dialect handler's error: a core or request error (re-rendered by the dialect's
/// `render_error`, see [`render_errors_with`]), or an answer the product gives on one route
/// only, written in the dialect's shape `S`.
#[derive(Debug)]
pub enum DialectError<S: ErrorShape> {
    /// A core or request error.
    Api(ApiError),
    /// A fixed message with a status.
    Detail(StatusCode, &'static str),
    /// A structured answer with a status, where the product has them.
    Object(StatusCode, S::Object),
}

/// How a dialect writes the answers its handlers give on one route only
/// ([`DialectError::Detail`], [`DialectError::Object`]).
pub trait ErrorShape {
    /// A structured answer (`std::convert::Infallible` where the product has none).
    type Object: std::fmt::Debug;
    /// A fixed message with `status`.
    fn detail(status: StatusCode, message: &'static str) -> Response;
    /// A structured answer with `status`.
    fn object(status: StatusCode, object: Self::Object) -> Response;
}

impl<S: ErrorShape> From<ApiError> for DialectError<S> {
    fn from(e: ApiError) -> Self {
        DialectError::Api(e)
    }
}

impl<S: ErrorShape> From<Error> for DialectError<S> {
    fn from(e: Error) -> Self {
        DialectError::Api(e.into())
    }
}

impl<S: ErrorShape> IntoResponse for DialectError<S> {
    fn into_response(self) -> Response {
        match self {
            DialectError::Api(e) => e.into_response(),
            DialectError::Detail(status, message) => S::detail(status, message),
            DialectError::Object(status, object) => S::object(status, object),
        }
    }
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
                axum::Json(serde_json::json!({"detail": info.code.as_str()})),
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
    fn info_carries_refusal_reason_and_shape() {
        let info = ApiError::Core(Error::Forbidden(Refusal::AdminRequired)).info();
        assert_eq!(info.code, ErrorCode::Forbidden);
        assert_eq!(info.refusal, Some(Refusal::AdminRequired));
        assert_eq!(info.detail, "administrator role required");
        let info = ApiError::Core(Error::invalid("password", "is too short")).info();
        assert_eq!(info.detail, "password: is too short");
        assert_eq!(info.reason.as_deref(), Some("is too short"));
        assert!(!info.shape);
        let nul = Error::invalid("name", roster_core::user::NUL_REASON);
        assert!(ApiError::Core(nul).info().shape);
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
