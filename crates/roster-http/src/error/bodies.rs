//! Pins every error body each dialect renders: every core error code and refusal, and every
//! kind of malformed request (produced by the real extractors, fallbacks and middleware),
//! rendered natively and through each dialect's renderer into (status, headers, body) and
//! compared with the snapshots in `snapshots/`. A change of any status, header or word shows
//! as a diff there.

use super::{ApiError, method_not_allowed_fallback, not_found_fallback, render_errors_with};
use crate::extract::{Form, Json, OptionalJson, Path, Query, RejectNulInUri};
use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use roster_core::{Error, ErrorCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// Every core error, once per code, per refusal, and per field a renderer treats apart.
pub(crate) fn core_errors() -> Vec<(&'static str, Error)> {
    use roster_core::Refusal as R;
    let forbidden = [
        ("admin_required", R::AdminRequired),
        ("admin_cannot_delete_self", R::AdminCannotDeleteSelf),
        ("primary_admin_protected", R::PrimaryAdminProtected),
        ("primary_admin_stays_admin", R::PrimaryAdminStaysAdmin),
        ("auto_login_with_two_factor", R::AutoLoginWithTwoFactor),
        ("friend_request_blocked", R::FriendRequestBlocked),
        ("incorrect_current_password", R::IncorrectCurrentPassword),
        ("introspect_scope_required", R::IntrospectScopeRequired),
        ("cannot_ban_self", R::CannotBanSelf),
        ("account_deletion_disabled", R::AccountDeletionDisabled),
        ("events_access_required", R::EventsAccessRequired),
        ("cannot_message", R::CannotMessage),
        ("limits_admin_only", R::LimitsAdminOnly),
        ("notifications_need_webhooks", R::NotificationsNeedWebhooks),
        ("webhook_url_needs_webhooks", R::WebhookUrlNeedsWebhooks),
        ("system_prompt_needs_chat_controls", R::SystemPromptNeedsChatControls),
        (
            "tool_servers_need_direct_tool_servers",
            R::ToolServersNeedDirectToolServers,
        ),
        ("api_keys_not_permitted", R::ApiKeysNotPermitted),
        ("session_required", R::SessionRequired),
        ("not_own_account", R::NotOwnAccount),
        ("only_superusers", R::OnlySuperusers),
        ("cannot_deactivate_self", R::CannotDeactivateSelf),
        ("introspect_grant_admin_only", R::IntrospectGrantAdminOnly),
        ("events_grant_admin_only", R::EventsGrantAdminOnly),
        ("scim_scope_required", R::ScimScopeRequired),
        ("scim_grant_admin_only", R::ScimGrantAdminOnly),
    ];
    let nul = roster_core::user::NUL_REASON;
    let mut errors = vec![
        ("not_found", Error::NotFound("user")),
        ("invalid_id", Error::InvalidId),
        ("conflict_email", Error::Conflict { field: "email" }),
        ("conflict_username", Error::Conflict { field: "username" }),
        ("invalid_email", Error::invalid("email", "is not a valid address")),
        ("invalid_email_nul", Error::invalid("email", nul)),
        ("invalid_name", Error::invalid("name", "must be at most 128 characters")),
        ("invalid_name_nul", Error::invalid("name", nul)),
        (
            "invalid_password",
            Error::invalid("password", "must be at least 8 characters"),
        ),
        ("invalid_password_empty", Error::invalid("password", "")),
        (
            "invalid_new_password",
            Error::invalid("new_password", "must contain a digit"),
        ),
        (
            "invalid_current_password",
            Error::invalid("current_password", "is required"),
        ),
        ("unauthenticated", Error::Unauthenticated),
        ("invalid_credentials", Error::InvalidCredentials),
        ("invalid_token", Error::InvalidToken),
        ("account_pending", Error::AccountPending),
        ("account_disabled", Error::AccountDisabled),
        (
            "banned",
            Error::Banned {
                until: time::OffsetDateTime::UNIX_EPOCH,
            },
        ),
        ("registration_disabled", Error::RegistrationDisabled),
        ("last_admin", Error::LastAdmin),
        ("email_not_verified", Error::EmailNotVerified),
        ("too_large", Error::TooLarge("the avatar is larger than 1 MiB")),
        (
            "rate_limited",
            Error::RateLimited {
                retry_after: std::time::Duration::from_secs(7),
            },
        ),
        ("unavailable", Error::Unavailable),
        ("internal", Error::Internal(anyhow::anyhow!("a secret detail"))),
        (
            "two_factor_required",
            Error::TwoFactorRequired(roster_core::two_factor::TwoFactorChallenge {
                token: "challenge".into(),
                expires_in: 300,
                user_id: roster_core::UserId(1),
            }),
        ),
        ("invalid_two_factor_code", Error::InvalidTwoFactorCode),
    ];
    errors.extend(forbidden.map(|(name, refusal)| (name, Error::Forbidden(refusal))));
    errors
}

/// Request errors no request here can provoke (a body that fails while read, a timeout).
pub(crate) fn other_request_errors() -> Vec<(&'static str, ApiError)> {
    vec![
        (
            "unreadable_body",
            ApiError::request(
                StatusCode::BAD_REQUEST,
                ErrorCode::UnreadableBody,
                "failed to read the body",
                None,
            ),
        ),
        (
            "request_timeout",
            ApiError::request(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::RequestTimeout,
                "the request took longer than 30 s",
                None,
            ),
        ),
    ]
}

/// The errors of [`crate::extract::parse_json`] (which handlers also call themselves) for
/// each JSON body of [`requests`] that it refuses.
pub(crate) fn json_errors() -> Vec<(&'static str, ApiError)> {
    requests()
        .into_iter()
        .filter(|(_, _, path, content_type, _)| *path == "/json" && *content_type == Some(JSON))
        .filter_map(|(name, _, _, _, body)| {
            crate::extract::parse_json::<Fields>(body.as_bytes())
                .err()
                .map(|e| (name, e))
        })
        .collect()
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Fields {
    email: String,
    password: Option<String>,
    age: Option<u8>,
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Filter {
    age: Option<u8>,
    q: Option<String>,
}

/// A router with one route per extractor, the NUL middleware, the fallbacks and a body limit,
/// and routes answering with each core error (`/core/{i}`) and other request error
/// (`/request/{i}`).
fn router() -> Router {
    Router::new()
        .route(
            "/core/{i}",
            get(|Path(i): Path<usize>| async move { ApiError::from(core_errors().swap_remove(i).1) }),
        )
        .route(
            "/request/{i}",
            get(|Path(i): Path<usize>| async move { other_request_errors().swap_remove(i).1 }),
        )
        .route("/json", post(|Json(_): Json<Fields>| async { "ok" }))
        .route(
            "/optional",
            post(|OptionalJson(_): OptionalJson<Fields>| async { "ok" }),
        )
        .route("/form", post(|Form(_): Form<Fields>| async { "ok" }))
        .route("/query", get(|Query(_): Query<Filter>| async { "ok" }))
        .route("/number/{n}", get(|Path(_): Path<u8>| async { "ok" }))
        .route("/name/{name}", get(|Path(_): Path<String>| async { "ok" }))
        .route_layer(RejectNulInUri)
        .fallback(not_found_fallback)
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(256))
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// The malformed requests: name, method, path, content type, body.
fn requests() -> Vec<(&'static str, &'static str, &'static str, Option<&'static str>, String)> {
    let big = format!(r#"{{"email": "{}"}}"#, "a".repeat(1000));
    vec![
        (
            "unsupported_media_type",
            "POST",
            "/json",
            Some("text/plain"),
            "{}".into(),
        ),
        ("unsupported_media_type_none", "POST", "/json", None, "{}".into()),
        ("unsupported_media_type_form", "POST", "/form", Some(JSON), "{}".into()),
        (
            "unsupported_media_type_optional",
            "POST",
            "/optional",
            Some("text/plain"),
            "{}".into(),
        ),
        ("malformed_json", "POST", "/json", Some(JSON), r#"{"email": "#.into()),
        (
            "malformed_json_trailing",
            "POST",
            "/json",
            Some(JSON),
            r#"{"email": "a"} x"#.into(),
        ),
        (
            "shape_invalid_type_email",
            "POST",
            "/json",
            Some(JSON),
            r#"{"email": 5}"#.into(),
        ),
        (
            "shape_invalid_type_password",
            "POST",
            "/json",
            Some(JSON),
            r#"{"email": "a", "password": 5}"#.into(),
        ),
        (
            "shape_missing_field",
            "POST",
            "/json",
            Some(JSON),
            r#"{"password": "x"}"#.into(),
        ),
        (
            "shape_unknown_field",
            "POST",
            "/json",
            Some(JSON),
            r#"{"email": "a", "extra": 1}"#.into(),
        ),
        (
            "shape_invalid_value",
            "POST",
            "/json",
            Some(JSON),
            r#"{"email": "a", "age": 300}"#.into(),
        ),
        ("shape_not_an_object", "POST", "/json", Some(JSON), "[1, 2]".into()),
        (
            "shape_optional",
            "POST",
            "/optional",
            Some(JSON),
            r#"{"email": 5}"#.into(),
        ),
        (
            "nul_in_body_email",
            "POST",
            "/json",
            Some(JSON),
            r#"{"email": "a\u0000b"}"#.into(),
        ),
        (
            "nul_in_body_password",
            "POST",
            "/json",
            Some(JSON),
            r#"{"email": "a", "password": "\u0000"}"#.into(),
        ),
        ("nul_in_body_root", "POST", "/json", Some(JSON), r#""\u0000""#.into()),
        ("form_missing_field", "POST", "/form", Some(FORM), "password=x".into()),
        (
            "form_invalid_value",
            "POST",
            "/form",
            Some(FORM),
            "email=a&age=x".into(),
        ),
        ("nul_in_form", "POST", "/form", Some(FORM), "email=a%00".into()),
        ("body_too_large", "POST", "/json", Some(JSON), big),
        ("invalid_query", "GET", "/query?age=x", None, String::new()),
        ("nul_in_query", "GET", "/query?q=%00", None, String::new()),
        ("invalid_path", "GET", "/number/abc", None, String::new()),
        ("nul_in_path", "GET", "/name/a%00b", None, String::new()),
        ("route_not_found", "GET", "/nope", None, String::new()),
        ("method_not_allowed", "GET", "/json", None, String::new()),
    ]
}

/// A response as (status, the headers that matter, body): JSON where it parses, else text.
pub(crate) async fn describe(response: Response) -> Value {
    let status = response.status().as_u16();
    let mut headers = serde_json::Map::new();
    for name in [header::CONTENT_TYPE, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            headers.insert(name.to_string(), json!(v.to_str().unwrap_or("<binary>")));
        }
    }
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body = serde_json::from_slice::<Value>(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    json!({ "status": status, "headers": headers, "body": body })
}

/// Every case through `router`, as `{case: description}`.
async fn render_all(router: Router) -> Value {
    let mut cases = serde_json::Map::new();
    let mut send = async |name: String, request: Request<Body>| {
        let response = router.clone().oneshot(request).await.unwrap();
        cases.insert(name, describe(response).await);
    };
    for (i, (name, _)) in core_errors().iter().enumerate() {
        let request = Request::get(format!("/core/{i}")).body(Body::empty()).unwrap();
        send(format!("core {name}"), request).await;
    }
    for (i, (name, _)) in other_request_errors().iter().enumerate() {
        let request = Request::get(format!("/request/{i}")).body(Body::empty()).unwrap();
        send(format!("request {name}"), request).await;
    }
    for (name, method, path, content_type, body) in requests() {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        send(format!("request {name}"), request.body(Body::from(body)).unwrap()).await;
    }
    Value::Object(cases)
}

#[tokio::test]
async fn native_error_bodies() {
    insta::assert_json_snapshot!("native", render_all(router()).await);
}

#[tokio::test]
async fn open_webui_error_bodies() {
    let router = render_errors_with(router(), crate::dialect::openwebui::render_error);
    insta::assert_json_snapshot!("openwebui", render_all(router).await);
}

#[tokio::test]
async fn librechat_error_bodies() {
    let router = render_errors_with(router(), crate::dialect::librechat::render_error);
    insta::assert_json_snapshot!("librechat", render_all(router).await);
}

#[tokio::test]
async fn langflow_error_bodies() {
    let router = render_errors_with(router(), crate::dialect::langflow::render_error);
    insta::assert_json_snapshot!("langflow", render_all(router).await);
}

#[tokio::test]
async fn plexichat_error_bodies() {
    let router = render_errors_with(router(), crate::dialect::plexichat::render_error);
    insta::assert_json_snapshot!("plexichat", render_all(router).await);
}

/// The answers handlers give on one route only, in each product's shape.
#[tokio::test]
async fn fixed_answers() {
    use crate::dialect::langflow::error::LangflowError;
    use crate::dialect::openwebui::error::OpenWebUiError;
    use crate::dialect::plexichat::error::PlexiError;
    let answers = vec![
        (
            "openwebui detail",
            OpenWebUiError::Detail(StatusCode::FORBIDDEN, "a fixed answer").into_response(),
        ),
        (
            "openwebui detail 401",
            OpenWebUiError::Detail(StatusCode::UNAUTHORIZED, "a fixed answer").into_response(),
        ),
        (
            "openwebui api",
            OpenWebUiError::from(Error::NotFound("user")).into_response(),
        ),
        (
            "langflow detail",
            LangflowError::Detail(StatusCode::BAD_REQUEST, "a fixed answer").into_response(),
        ),
        (
            "langflow object",
            LangflowError::Object(StatusCode::BAD_REQUEST, json!({"message": "m", "auto_login": false}))
                .into_response(),
        ),
        (
            "langflow api",
            LangflowError::from(ApiError::from(Error::InvalidToken)).into_response(),
        ),
        (
            "plexichat message",
            PlexiError::Detail(StatusCode::FORBIDDEN, "a fixed answer").into_response(),
        ),
        (
            "plexichat message 401",
            PlexiError::Detail(StatusCode::UNAUTHORIZED, "a fixed answer").into_response(),
        ),
        ("plexichat api", PlexiError::from(Error::LastAdmin).into_response()),
    ];
    let mut described = serde_json::Map::new();
    for (name, response) in answers {
        described.insert(name.to_string(), describe(response).await);
    }
    insta::assert_json_snapshot!("fixed_answers", Value::Object(described));
}
