//! Error bodies in the conventions of FastAPI, the framework under Open WebUI and Langflow:
//! `{"detail": ...}`, and 422 `{"detail": [{type, loc, msg, input}]}` for a request that does
//! not fit its schema, written once here for both products: path UUIDs and query parameters
//! read and refused as pydantic v2 does, and the client's input echoed. Which error gets
//! which status and words otherwise is each dialect's.

use crate::error::{DialectError, ErrorInfo, ErrorShape};
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

/// FastAPI's validation error for the field of `info` (dotted path, if any) in `location`
/// (`body`, `path`, `query`), with `message` and the client's input at that field (`null`
/// when the request did not carry it).
pub fn validation(location: &str, info: &ErrorInfo, message: &str) -> Response {
    let mut loc = vec![json!(location)];
    if let Some(field) = info.field.as_deref() {
        loc.extend(field.split('.').map(|part| json!(part)));
    }
    let input = info.input.clone().unwrap_or(Value::Null);
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"detail": [{"type": "value_error", "loc": loc, "msg": message, "input": input}]})),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------
// 422 bodies as pydantic v2 writes them (`pydantic_core` 2.46, under FastAPI 0.13x): each
// entry `{type, loc, msg, input[, ctx]}`, `input` echoing what the client sent.

/// One entry of FastAPI's 422 list.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    kind: &'static str,
    loc: Vec<Value>,
    msg: String,
    input: Value,
    ctx: Option<Value>,
}

impl FieldError {
    /// An error of pydantic type `kind` at `location` (`path`, `query`, `body`) `name`.
    pub fn new(kind: &'static str, location: &str, name: &str, msg: impl Into<String>, input: Value) -> Self {
        FieldError {
            kind,
            loc: vec![json!(location), json!(name)],
            msg: msg.into(),
            input,
            ctx: None,
        }
    }

    fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// A field validator's refusal: `value_error`, `Value error, {reason}`, as pydantic words
    /// a `ValueError` raised by a validator.
    pub fn value_error(location: &str, name: &str, reason: &str, input: Value) -> Self {
        Self::new("value_error", location, name, format!("Value error, {reason}"), input).with_ctx(json!({"error": {}}))
    }

    /// The entry as FastAPI serialises it.
    pub fn to_json(&self) -> Value {
        let mut out = json!({"type": self.kind, "loc": self.loc, "msg": self.msg, "input": self.input});
        if let (Some(ctx), Some(map)) = (&self.ctx, out.as_object_mut()) {
            map.insert("ctx".into(), ctx.clone());
        }
        out
    }
}

/// FastAPI's answer to a request that does not fit its schema: 422 `{"detail": [...]}`.
pub fn invalid(errors: Vec<FieldError>) -> FastApiError {
    DialectError::Object(
        StatusCode::UNPROCESSABLE_ENTITY,
        Value::Array(errors.iter().map(FieldError::to_json).collect()),
    )
}

/// A `UUID` path parameter `name` as pydantic parses it (hyphenated, simple, braced or URN,
/// any case), its refusal in pydantic's words: `uuid_parsing`, the parser's reason in `msg`
/// and `ctx.error` (pydantic-core uses the `uuid` crate, pinned to the version it ships).
pub fn path_uuid(name: &str, raw: &str) -> Result<uuid::Uuid, FastApiError> {
    uuid::Uuid::parse_str(raw).map_err(|e| {
        let reason = e.to_string();
        invalid(vec![
            FieldError::new(
                "uuid_parsing",
                "path",
                name,
                format!("Input should be a valid UUID, {reason}"),
                json!(raw),
            )
            .with_ctx(json!({ "error": reason })),
        ])
    })
}

/// Query parameters as FastAPI reads them (the last value of a repeated name), each read
/// as its declared type; every misfit is collected, as pydantic reports them all at once.
#[derive(Debug, Default)]
pub struct QueryReader {
    values: std::collections::HashMap<String, String>,
    errors: Vec<FieldError>,
}

impl QueryReader {
    /// The parameters of a query string (`None`: no query string).
    pub fn new(query: Option<&str>) -> Self {
        QueryReader {
            values: form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            errors: Vec::new(),
        }
    }

    /// A `str` parameter.
    pub fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    /// An `int` parameter with optional bounds (`Query(ge=, le=)`).
    pub fn int(&mut self, name: &str, ge: Option<i64>, le: Option<i64>) -> Option<i64> {
        let raw = self.values.get(name)?.clone();
        let Some(value) = pydantic_int(&raw) else {
            self.errors.push(FieldError::new(
                "int_parsing",
                "query",
                name,
                "Input should be a valid integer, unable to parse string as an integer",
                json!(raw),
            ));
            return None;
        };
        // A bound the value is beyond: pydantic's type, words and `ctx` key for it.
        let beyond = [
            ge.filter(|ge| value < i128::from(*ge))
                .map(|ge| ("greater_than_equal", "greater than or equal to", "ge", ge)),
            le.filter(|le| value > i128::from(*le))
                .map(|le| ("less_than_equal", "less than or equal to", "le", le)),
        ];
        if let Some((kind, words, key, bound)) = beyond.into_iter().flatten().next() {
            let msg = format!("Input should be {words} {bound}");
            let error = FieldError::new(kind, "query", name, msg, json!(raw));
            self.errors.push(error.with_ctx(json!({ key: bound })));
            return None;
        }
        // Python's integers have no bound; beyond i64 they are clamped.
        Some(value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// A `bool` parameter (`1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`, `t`/`f`,
    /// `y`/`n`, any case).
    pub fn bool(&mut self, name: &str) -> Option<bool> {
        let raw = self.values.get(name)?.clone();
        match raw.to_ascii_lowercase().as_str() {
            "0" | "f" | "n" | "no" | "off" | "false" => Some(false),
            "1" | "t" | "y" | "on" | "yes" | "true" => Some(true),
            _ => {
                self.errors.push(FieldError::new(
                    "bool_parsing",
                    "query",
                    name,
                    "Input should be a valid boolean, unable to interpret input",
                    json!(raw),
                ));
                None
            }
        }
    }

    /// Every misfit read so far, as FastAPI's 422.
    pub fn finish(self) -> Result<(), FastApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(invalid(self.errors))
        }
    }
}

/// A string as pydantic's lax `int` reads it (`str_as_int`): surrounding whitespace, a
/// leading `+`, leading zeros, a fractional part of zeros (`5.00`) and single underscores
/// between digits are allowed. `None` when it is not an integer.
fn pydantic_int(raw: &str) -> Option<i128> {
    let mut s = raw.trim();
    if let Some(rest) = s.strip_prefix('+') {
        if rest.starts_with('-') {
            return None;
        }
        s = rest;
    }
    let negative = s.starts_with('-');
    if negative {
        s = &s[1..];
    }
    if let Some((whole, fraction)) = s.split_once('.') {
        if fraction.is_empty() || !fraction.bytes().all(|b| b == b'0') {
            return None;
        }
        s = whole;
    }
    if s.is_empty() || s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return None;
    }
    let digits: String = s.chars().filter(|c| *c != '_').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = digits.parse::<i128>().unwrap_or(i128::MAX);
    Some(if negative { -value } else { value })
}

/// Query parameters a FastAPI route declares, read from a [`QueryReader`].
pub trait FromQuery: Sized {
    /// Reads the parameters; misfits are left in `query`.
    fn from_query(query: &mut QueryReader) -> Self;
}

/// A route's query parameters, read as FastAPI reads them (see [`QueryReader`]).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: FromQuery, S: Send + Sync> axum::extract::FromRequestParts<S> for Query<T> {
    type Rejection = FastApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, FastApiError> {
        read_query(parts.uri.query())
    }
}

/// Reads `T` from a query string, as [`Query`] does, for handlers that check who is calling
/// first (FastAPI runs a route's dependencies before it validates its parameters).
pub fn read_query<T: FromQuery>(query: Option<&str>) -> Result<Query<T>, FastApiError> {
    let mut reader = QueryReader::new(query);
    let value = T::from_query(&mut reader);
    reader.finish().map(|()| Query(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(e: FastApiError) -> Value {
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// The bodies FastAPI 0.165 with pydantic 2.13 (pydantic-core 2.46.5) answers, captured
    /// from a route declaring `user_id: UUID`.
    #[tokio::test]
    async fn malformed_uuids_are_refused_in_pydantics_words() {
        for (raw, reason) in [
            ("not-a-uuid", "invalid character: found `n` at 1"),
            ("1234", "invalid length: expected length 32 for simple format, found 4"),
            ("xyz", "invalid character: found `x` at 1"),
            (
                "726f7374-6572-4001-0000-00000000000",
                "invalid group length in group 4: expected 12, found 11",
            ),
            ("726f7374-6572-4001-0000", "invalid group count: expected 5, found 4"),
        ] {
            let e = path_uuid("user_id", raw).unwrap_err();
            assert_eq!(
                body_of(e).await,
                json!({"detail": [{
                    "type": "uuid_parsing",
                    "loc": ["path", "user_id"],
                    "msg": format!("Input should be a valid UUID, {reason}"),
                    "input": raw,
                    "ctx": {"error": reason},
                }]}),
                "{raw}"
            );
        }
        for good in [
            "726f7374-6572-4001-0000-000000000001",
            "726F737465724001000000000000000A",
            "{726f7374-6572-4001-0000-000000000001}",
            "urn:uuid:726f7374-6572-4001-0000-000000000001",
        ] {
            assert!(path_uuid("user_id", good).is_ok(), "{good}");
        }
    }

    #[tokio::test]
    async fn query_parameters_are_read_and_refused_as_fastapi_does() {
        let read = |q: &str| {
            let mut reader = QueryReader::new(Some(q));
            let skip = reader.int("skip", Some(0), None);
            let limit = reader.int("limit", Some(1), Some(200));
            let raw = reader.bool("raw");
            (skip, limit, raw, reader.finish())
        };
        let (skip, limit, raw, done) = read("skip=%2B05&limit=%2010%20&raw=YES");
        assert_eq!((skip, limit, raw), (Some(5), Some(10), Some(true)));
        assert!(done.is_ok());
        // The last of a repeated name counts.
        assert_eq!(read("limit=x&limit=7").1, Some(7));
        assert_eq!(read("limit=1_00").1, Some(100));
        assert_eq!(read("limit=20.00").1, Some(20));
        assert_eq!(read("").1, None);

        let (.., done) = read("limit=abc");
        assert_eq!(
            body_of(done.unwrap_err()).await,
            json!({"detail": [{"type": "int_parsing", "loc": ["query", "limit"],
                "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "abc"}]})
        );
        for bad in ["1.5", "", "1e3", "%2B-1", "_1", "1__0", "0x10"] {
            let (.., done) = read(&format!("limit={bad}"));
            let body = body_of(done.unwrap_err()).await;
            assert_eq!(body["detail"][0]["type"], "int_parsing", "{bad}");
            assert_eq!(body["detail"][0]["input"], bad.replace("%2B", "+"));
        }
        // Every misfit at once, in the order the route declares its parameters.
        let (.., done) = read("skip=-1&limit=500&raw=maybe");
        assert_eq!(
            body_of(done.unwrap_err()).await,
            json!({"detail": [
                {"type": "greater_than_equal", "loc": ["query", "skip"],
                 "msg": "Input should be greater than or equal to 0", "input": "-1", "ctx": {"ge": 0}},
                {"type": "less_than_equal", "loc": ["query", "limit"],
                 "msg": "Input should be less than or equal to 200", "input": "500", "ctx": {"le": 200}},
                {"type": "bool_parsing", "loc": ["query", "raw"],
                 "msg": "Input should be a valid boolean, unable to interpret input", "input": "maybe"},
            ]})
        );
        let (.., done) = read("limit=0");
        assert_eq!(
            body_of(done.unwrap_err()).await["detail"][0],
            json!({"type": "greater_than_equal", "loc": ["query", "limit"],
                "msg": "Input should be greater than or equal to 1", "input": "0", "ctx": {"ge": 1}})
        );
        // Beyond i64: still refused by its bound.
        let (.., done) = read("limit=99999999999999999999999");
        assert_eq!(body_of(done.unwrap_err()).await["detail"][0]["type"], "less_than_equal");
    }

    #[tokio::test]
    async fn body_errors_echo_the_input() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Form {
            name: String,
            role: Option<Role>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Role {
            Admin,
            User,
        }
        let render = |body: &[u8]| {
            let info = crate::extract::parse_json::<Form>(body).unwrap_err().info();
            validation("body", &info, &info.detail)
        };
        let json_of = |r: Response| async move {
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        };
        let enum_error = json_of(render(br#"{"name": "a", "role": "boss"}"#)).await;
        assert_eq!(enum_error["detail"][0]["loc"], json!(["body", "role"]));
        assert_eq!(enum_error["detail"][0]["input"], "boss");
        let wrong_type = json_of(render(br#"{"name": 5}"#)).await;
        assert_eq!(wrong_type["detail"][0]["input"], 5);
        // A missing field: the object that lacks it, as pydantic's `input`.
        let missing = json_of(render(br#"{"role": "admin"}"#)).await;
        assert_eq!(missing["detail"][0]["loc"], json!(["body", "name"]));
        assert_eq!(missing["detail"][0]["input"], json!({"role": "admin"}));
    }
}
