//! Extractors that turn every malformed request into a clear client error: JSON and form
//! bodies, query strings, credentials, and the client's address.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use roster_core::service::ClientMeta;
use roster_core::{Actor, Error, ErrorCode};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::request(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            "the request body is too large",
            None,
        )
    } else {
        ApiError::request(StatusCode::BAD_REQUEST, ErrorCode::UnreadableBody, e.body_text(), None)
    }
}

fn content_type_is(parts_headers: &axum::http::HeaderMap, expected: &str) -> bool {
    parts_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == expected || (expected == "application/json" && v.starts_with("application/") && v.ends_with("+json"))
        })
}

/// Where in the input a deserialisation error happened, as a field path (`a.b[0]`).
fn error_field(path: &serde_path_to_error::Path) -> Option<String> {
    let s = path.to_string();
    (s != "." && !s.is_empty()).then_some(s)
}

/// Serde's message for a missing or unknown field names it; pull the name out.
fn field_in_message(message: &str) -> Option<String> {
    for marker in ["missing field `", "unknown field `"] {
        if let Some(rest) = message.split(marker).nth(1) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    None
}

/// Whether the raw JSON may hold a NUL: an unescaped `\u0000` escape. Valid JSON has no raw
/// NUL byte, so this is the only way one gets in; a cheap scan keeps the common case free.
fn json_may_hold_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes[i + 1..].starts_with(b"u0000") {
                return true;
            }
            // Skip the escaped character (an escaped backslash cannot start an escape).
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// The path (`a.b[0]`, as serde's field paths) of the first string, key or value, that
/// holds a NUL character.
fn nul_path(value: &serde_json::Value, path: &str) -> Option<String> {
    match value {
        serde_json::Value::String(s) => s.contains('\0').then(|| path.to_string()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
            let key_path = if path.is_empty() {
                key.replace('\0', "\\u0000")
            } else {
                format!("{path}.{}", key.replace('\0', "\\u0000"))
            };
            if key.contains('\0') {
                return Some(key_path);
            }
            nul_path(item, &key_path)
        }),
        _ => None,
    }
}

/// Refuses a JSON body holding a NUL character in any string, naming where.
fn reject_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    if !json_may_hold_nul(bytes) {
        return Ok(());
    }
    // Malformed JSON is left to the parser's own error.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match nul_path(&value, "") {
        Some(path) if path.is_empty() => Err(ApiError::nul(ErrorCode::InvalidField, "body".to_string())),
        Some(path) => Err(ApiError::nul(ErrorCode::InvalidField, path)),
        None => Ok(()),
    }
}

/// Refuses URL-encoded pairs (a form body, a query string) with a NUL character in a name
/// or a value, naming the field.
fn reject_nul_in_pairs(encoded: &[u8], code: ErrorCode) -> Result<(), ApiError> {
    if !encoded.windows(3).any(|w| w == b"%00") {
        return Ok(());
    }
    for (name, value) in form_urlencoded::parse(encoded) {
        if name.contains('\0') || value.contains('\0') {
            return Err(ApiError::nul(code, name.replace('\0', "\\u0000")));
        }
    }
    Ok(())
}

/// The layer for every dialect's routes (`route_layer(RejectNulInUri)`): a query string or a
/// path parameter holding a NUL character (`%00`) is refused with a 422 naming it, before any
/// handler (whichever extractor it uses) can pass it to the store. Bodies are checked by
/// [`Json`], [`OptionalJson`] and [`Form`]. Headers cannot carry a NUL (HTTP refuses it). A
/// request without `%00` in its URI passes straight through, allocating nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectNulInUri;

impl<S> tower::Layer<S> for RejectNulInUri {
    type Service = RejectNulInUriService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RejectNulInUriService { inner }
    }
}

/// The service of [`RejectNulInUri`].
#[derive(Debug, Clone)]
pub struct RejectNulInUriService<S> {
    inner: S,
}

impl<S> tower::Service<Request> for RejectNulInUriService<S>
where
    S: tower::Service<Request, Response = axum::response::Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<crate::context::BoxResponseFuture, S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures_util::future::Either;
        let query = request.uri().query().map(str::as_bytes).unwrap_or_default();
        let path = request.uri().path().as_bytes();
        if !has_escaped_nul(query) && !has_escaped_nul(path) {
            return Either::Right(self.inner.call(request));
        }
        // The rare request that may hold one: checked as the handlers will decode it.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let checked: crate::context::BoxResponseFuture =
            Box::pin(async move { Ok(reject_nul_in_uri(request, |request| inner.call(request)).await) });
        Either::Left(checked)
    }
}

/// Whether URI text holds an escaped NUL (`%00`), the only way one gets into a URI.
fn has_escaped_nul(text: &[u8]) -> bool {
    text.windows(3).any(|w| w == b"%00")
}

/// Refuses a request whose query string or path parameters hold a NUL character (see
/// [`RejectNulInUri`]); passes any other to `next`.
async fn reject_nul_in_uri<F, Fut>(mut request: Request, next: F) -> axum::response::Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Result<axum::response::Response, std::convert::Infallible>>,
{
    use axum::response::IntoResponse as _;
    if let Some(query) = request.uri().query()
        && let Err(e) = reject_nul_in_pairs(query.as_bytes(), ErrorCode::InvalidQuery)
    {
        return e.into_response();
    }
    if request.uri().path().contains("%00") {
        let (mut parts, body) = request.into_parts();
        if let Ok(params) = axum::extract::RawPathParams::from_request_parts(&mut parts, &()).await {
            for (name, value) in &params {
                if value.contains('\0') {
                    return ApiError::nul(ErrorCode::InvalidPath, name.to_string()).into_response();
                }
            }
        }
        request = Request::from_parts(parts, body);
    }
    let Ok(response) = next(request).await;
    response
}

/// The value at a deserialisation error's `path` in `body`: the value that did not fit, or
/// the object that lacks a missing field.
fn value_at<'a>(body: &'a serde_json::Value, path: &serde_path_to_error::Path) -> Option<&'a serde_json::Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(body, |value, segment| match segment {
        Segment::Seq { index } => value.get(index),
        Segment::Map { key } => value.get(key.as_str()),
        Segment::Enum { .. } | Segment::Unknown => Some(value),
    })
}

/// Parses a JSON body, naming the field at fault when it does not fit.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    reject_nul_in_json(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(v) => {
            deserializer.end().map_err(|e| {
                ApiError::request(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::MalformedJson,
                    format!("malformed JSON: {e}"),
                    None,
                )
            })?;
            Ok(v)
        }
        Err(e) => {
            let inner = e.inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::request(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::MalformedJson,
                    format!("malformed JSON: {inner}"),
                    None,
                ));
            }
            let message = inner.to_string();
            let field = field_in_message(&message).or_else(|| error_field(e.path()));
            let input = serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|body| value_at(&body, e.path()).cloned());
            Err(ApiError::misfit_of(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidField,
                message,
                field,
                input,
            ))
        }
    }
}

/// A JSON body; requires `Content-Type: application/json`.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !content_type_is(req.headers(), "application/json") {
            return Err(ApiError::request(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/json",
                None,
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body that may be absent (empty body, no content type).
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        let is_json = content_type_is(req.headers(), "application/json");
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        // No body, or a JSON `null`: absent.
        if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
            return Ok(OptionalJson(None));
        }
        if has_type && !is_json {
            return Err(ApiError::request(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/json",
                None,
            ));
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// A form body (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !content_type_is(req.headers(), "application/x-www-form-urlencoded") {
            return Err(ApiError::request(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/x-www-form-urlencoded",
                None,
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        reject_nul_in_pairs(&bytes, ErrorCode::InvalidField)?;
        serde_urlencoded::from_bytes(&bytes).map(Form).map_err(|e| {
            let message = e.to_string();
            let field = field_in_message(&message);
            ApiError::misfit(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidField,
                message,
                field,
            )
        })
    }
}

/// A query string.
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(deserializer).map(Query).map_err(|e| {
            let message = e.inner().to_string();
            let field = field_in_message(&message).or_else(|| error_field(e.path()));
            // The raw value of the parameter at fault (the last, as repeated names overwrite).
            let input = field.as_deref().and_then(|name| {
                form_urlencoded_parse(query)
                    .filter(|(k, _)| k == name)
                    .last()
                    .map(|(_, v)| serde_json::Value::String(v.into_owned()))
            });
            ApiError::misfit_of(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message, field, input)
        })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// For `#[serde(default, deserialize_with = "double_option")]`: tells an absent field
/// (`None`) from an explicit `null` (`Some(None)`).
pub fn double_option<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// The credential a request presents: `Authorization: Bearer <token or key>` or `x-api-key`.
pub fn credential_of(parts: &Parts) -> Option<String> {
    if let Some(key) = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        let key = key.trim();
        if !key.is_empty() {
            return Some(key.to_string());
        }
    }
    bearer_token(parts)
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
pub fn bearer_token(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

/// The authenticated caller; 401 without valid credentials, 403 for pending or deactivated.
#[derive(Debug, Clone)]
pub struct Auth(pub Actor);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(credential) = credential_of(parts) else {
            return Err(Error::Unauthenticated.into());
        };
        Ok(Auth(state.core.authenticate_bearer(&credential).await?))
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    /// No credential: `None`. A credential that does not authenticate is still an error.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        match credential_of(parts) {
            None => Ok(None),
            Some(credential) => Ok(Some(Auth(state.core.authenticate_bearer(&credential).await?))),
        }
    }
}

/// The client's address and user agent.
#[derive(Debug, Clone)]
pub struct Meta(pub ClientMeta);

impl FromRequestParts<AppState> for Meta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let ip = crate::client_ip::client_ip(
            peer,
            &parts.headers,
            &state.config.trusted_proxies,
            state.config.trust_forwarded_for,
        );
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Meta(ClientMeta { ip, user_agent }))
    }
}

/// Path parameters; a path that cannot be decoded (a bad percent-escape, bytes that are not
/// UTF-8) is a problem+json 400 like every other malformed request, not axum's plain text.
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(e) => Err(ApiError::request(
                e.status(),
                ErrorCode::InvalidPath,
                e.body_text(),
                None,
            )),
        }
    }
}

/// Parses an id from a path segment.
pub fn parse_id<T: std::str::FromStr<Err = Error>>(raw: &str) -> Result<T, ApiError> {
    raw.parse::<T>().map_err(ApiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        age: Option<u8>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Body>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("name"));
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e = parse_json::<Body>(br#"{"age": 1}"#).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("name"));
        let e = parse_json::<Body>(br#"{"name": "x", "nope": 1}"#).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("nope"));
        let e = parse_json::<Body>(br#"{"name": "x", "age": 300}"#).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("age"));
        let e = parse_json::<Body>(br#"{"name": "#).unwrap_err();
        assert_eq!(e.code(), "malformed_json");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = parse_json::<Body>(br#"{"name": "x"} trailing"#).unwrap_err();
        assert_eq!(e.code(), "malformed_json");
    }

    #[test]
    fn misfits_are_shape_errors_with_their_reason_apart() {
        let e = parse_json::<Body>(br#"{"name": 5}"#).unwrap_err().info();
        assert!(e.shape);
        let reason = e.reason.as_deref().unwrap();
        assert_eq!(e.detail, format!("name: {reason}"));
        // Serde's message names the field already: no prefix, so no separate reason.
        let e = parse_json::<Body>(br#"{"age": 1}"#).unwrap_err().info();
        assert!(e.shape);
        assert_eq!(e.reason, None);
        assert!(parse_json::<Body>(br#"{"name": "\u0000"}"#).unwrap_err().info().shape);
        assert!(!parse_json::<Body>(b"{").unwrap_err().info().shape);
    }

    #[test]
    fn nul_characters_are_refused_where_they_are() {
        let e = parse_json::<Body>(br#"{"name": "a\u0000b"}"#).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field().as_deref(), Some("name"));
        // An escaped backslash before `u0000` is text, not a NUL.
        let body = parse_json::<Body>(br#"{"name": "a\\u0000b"}"#).unwrap();
        assert_eq!(body.name, "a\\u0000b");
        let e = reject_nul_in_json(br#"{"a": [{"b": 1}, {"c": ["x", "\u0000"]}]}"#).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("a[1].c[1]"));
        let e = reject_nul_in_pairs(b"x=1&name%00=2", ErrorCode::InvalidQuery).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("name\\u0000"));
        assert_eq!(e.code(), "invalid_query");
        assert!(reject_nul_in_pairs(b"x=%2500", ErrorCode::InvalidQuery).is_ok());
    }
}
