//! Text with a NUL character (U+0000), which PostgreSQL cannot store, is refused in every
//! dialect, in bodies (JSON and form), query strings and path parameters, with that
//! dialect's validation error naming the field, on both backends alike; nothing is written.

use reqwest::Method;
use roster_core::Role;
use roster_testkit::app::{TestApp, TestResponse};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

const NUL: &str = "a\u{0}b";

async fn send(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> TestResponse {
    app.request(method, path, token, body).await
}

async fn form(app: &TestApp, path: &str, token: Option<&str>, body: &str) -> TestResponse {
    let mut r = app
        .client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(token) = token {
        r = r.bearer_auth(token);
    }
    TestApp::read(r.send().await.unwrap()).await
}

/// The native problem: 422 with `code`, naming `field`.
#[track_caller]
fn native(r: &TestResponse, code: &str, field: &str) {
    r.assert_problem(422, code);
    assert_eq!(r.body["field"], field, "{}", r.text);
    assert!(r.body["detail"].as_str().unwrap().contains(field), "{}", r.text);
}

/// FastAPI's 422 (Open WebUI, Langflow): `loc` is where and which field.
#[track_caller]
fn fastapi(r: &TestResponse, loc: &[&str]) {
    r.assert_status(422);
    assert_eq!(r.body["detail"][0]["loc"], json!(loc), "{}", r.text);
}

/// LibreChat's validation error: 400 `{"message"}` naming the field.
#[track_caller]
fn librechat(r: &TestResponse, field: &str) {
    r.assert_status(400);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(field) && message.contains("NUL"), "{}", r.text);
}

/// Plexichat's validation error: 400 `{"error": {field, ...}}`.
#[track_caller]
fn plexichat(r: &TestResponse, field: &str) {
    r.assert_status(400);
    assert_eq!(r.body["error"]["field"], field, "{}", r.text);
    assert!(
        r.body["error"]["details"].as_str().unwrap().contains("NUL"),
        "{}",
        r.text
    );
}

async fn nul_characters_are_refused_naming_the_field(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let token = Some(user.access_token.as_str());
    let admin_token = Some(admin.access_token.as_str());
    let users_before = app.core.store.count_users().await.unwrap();
    let stored_before = app.core.store.get_user(user.id).await.unwrap();

    // Native: without credentials, signed in, nested, a form body, a query, a path.
    let r = send(
        &app,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(&json!({"login": NUL, "password": "x"})),
    )
    .await;
    native(&r, "invalid_field", "login");
    let register = json!({"email": "new\u{0}@example.org", "password": "long enough"});
    let r = send(&app, Method::POST, "/v1/auth/register", None, Some(&register)).await;
    native(&r, "invalid_field", "email");
    for (body, field) in [
        (json!({"name": NUL}), "name"),
        (json!({"bio": NUL}), "bio"),
        (json!({"timezone": NUL}), "timezone"),
        (json!({"preferences": {"theme": NUL}}), "preferences.theme"),
        (json!({"preferences": {"list": ["ok", NUL]}}), "preferences.list[1]"),
        (json!({"preferences": {NUL: 1}}), "preferences.a\\u0000b"),
    ] {
        let r = send(&app, Method::PATCH, "/v1/me", token, Some(&body)).await;
        native(&r, "invalid_field", field);
    }
    let r = send(
        &app,
        Method::POST,
        "/v1/me/api-keys",
        token,
        Some(&json!({"name": NUL})),
    )
    .await;
    native(&r, "invalid_field", "name");
    let r = send(
        &app,
        Method::POST,
        "/v1/me/password",
        token,
        Some(&json!({"current_password": NUL, "new_password": "long enough 2"})),
    )
    .await;
    native(&r, "invalid_field", "current_password");
    let r = form(&app, "/v1/introspect", admin_token, "token=a%00b").await;
    native(&r, "invalid_field", "token");
    let r = send(&app, Method::GET, "/v1/users?q=a%00b", admin_token, None).await;
    native(&r, "invalid_query", "q");
    let r = send(&app, Method::GET, "/v1/users/a%00b", admin_token, None).await;
    native(&r, "invalid_path", "id");

    // LibreChat.
    let r = send(
        &app,
        Method::POST,
        "/librechat/api/auth/login",
        None,
        Some(&json!({"email": NUL, "password": "x"})),
    )
    .await;
    librechat(&r, "email");
    let signup = json!({"name": NUL, "email": "lc@example.org", "username": "lc", "password": "long enough", "confirm_password": "long enough"});
    let r = send(&app, Method::POST, "/librechat/api/auth/register", None, Some(&signup)).await;
    librechat(&r, "name");
    let r = send(&app, Method::GET, "/librechat/verify?token=a%00b", None, None).await;
    librechat(&r, "token");

    // Open WebUI.
    let r = send(
        &app,
        Method::POST,
        "/openwebui/api/v1/auths/signin",
        None,
        Some(&json!({"email": NUL, "password": "x"})),
    )
    .await;
    fastapi(&r, &["body", "email"]);
    let signup = json!({"name": NUL, "email": "ow@example.org", "password": "long enough"});
    let r = send(
        &app,
        Method::POST,
        "/openwebui/api/v1/auths/signup",
        None,
        Some(&signup),
    )
    .await;
    fastapi(&r, &["body", "name"]);
    let r = send(
        &app,
        Method::GET,
        "/openwebui/api/v1/users/?query=a%00b",
        admin_token,
        None,
    )
    .await;
    fastapi(&r, &["query", "query"]);

    // Langflow: its login is a form.
    let r = form(&app, "/langflow/api/v1/login", None, "username=a%00b&password=x").await;
    fastapi(&r, &["body", "username"]);
    let r = send(
        &app,
        Method::POST,
        "/langflow/api/v1/users/",
        admin_token,
        Some(&json!({"username": NUL, "password": "long enough"})),
    )
    .await;
    fastapi(&r, &["body", "username"]);
    let r = send(&app, Method::GET, "/langflow/api/v1/users/a%00b", admin_token, None).await;
    fastapi(&r, &["path", "id"]);

    // Plexichat.
    let r = send(
        &app,
        Method::PATCH,
        "/plexichat/users/@me",
        token,
        Some(&json!({"username": NUL})),
    )
    .await;
    plexichat(&r, "username");
    let r = send(&app, Method::GET, "/plexichat/users/search?username=a%00b", token, None).await;
    plexichat(&r, "username");

    // Nothing was written.
    assert_eq!(app.core.store.count_users().await.unwrap(), users_before);
    let stored = app.core.store.get_user(user.id).await.unwrap();
    assert_eq!(stored.revision, stored_before.revision);
    assert_eq!(stored.name, stored_before.name);
    assert_eq!(stored.preferences, stored_before.preferences);
}

backend_tests!(nul_characters_are_refused_naming_the_field);
