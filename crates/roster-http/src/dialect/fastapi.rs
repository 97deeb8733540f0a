//! Error bodies in the conventions of FastAPI, the framework under Open WebUI and Langflow:
//! `{"detail": ...}`, and 422 `{"detail": [{type, loc, msg, input}]}` for a request that does
//! not fit its schema. Shapes only; which error gets which status and words is each dialect's.

use crate::error::{DialectError, ErrorShape};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A handler error of a FastAPI product: fixed answers are `{"detail": ...}`.
pub type FastApiError = DialectError<FastApi>;

/// FastAPI's error shape (see [`ErrorShape`]): a message or an object under `detail`.
#[derive(Debug)]
pub struct FastApi;

impl ErrorShape for FastApi {
    type Object = Value;

    fn detail(status: StatusCode, message: &'static str) -> Response {
        detail(status, message)
    }

    fn object(status: StatusCode, object: Value) -> Response {
        detail(status, object)
    }
}

/// `{"detail": detail}` with `status` (401s carry `WWW-Authenticate: Bearer`, as FastAPI's do).
pub fn detail(status: StatusCode, detail: impl Into<Value>) -> Response {
    let mut response = (status, axum::Json(json!({ "detail": detail.into() }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// FastAPI's validation error for `field` (dotted path, if any) in `location` (`body`, `path`, `query`).
pub fn validation(location: &str, field: Option<&str>, message: &str) -> Response {
    let mut loc = vec![json!(location)];
    if let Some(field) = field {
        loc.extend(field.split('.').map(|part| json!(part)));
    }
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"detail": [{"type": "value_error", "loc": loc, "msg": message, "input": null}]})),
    )
        .into_response()
}
