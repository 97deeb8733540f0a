//! Permission gates hold on every route: API keys (`features.api_keys`) and the gated
//! preference fields (`features.webhooks` for a notification webhook URL, ...), whichever
//! dialect is used to get around them.

use roster_core::Role;
use roster_core::service::ApiKeyGate;
use roster_testkit::app::spawn_app_with;
use roster_testkit::app::{TestApp, TestResponse};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

const OW: &str = "/openwebui/api/v1";
const KEY_CREATION_NOT_ALLOWED: &str = "API key creation is not allowed in the environment.";
const KEY_NOT_ALLOWED: &str = "Use of API key is not enabled in the environment.";

#[track_caller]
fn detail(r: &TestResponse, status: u16, text: &str) {
    r.assert_status(status);
    assert_eq!(r.body, json!({ "detail": text }), "body: {}", r.text);
}

/// Sets `features.<key>` in the default permission template, through Open WebUI's admin route.
async fn set_feature(app: &TestApp, admin: &str, key: &str, on: bool) {
    let mut template = app
        .get(&format!("{OW}/users/default/permissions"), Some(admin))
        .await
        .body;
    template["features"][key] = json!(on);
    app.post(&format!("{OW}/users/default/permissions"), Some(admin), &template)
        .await
        .assert_status(200);
}

async fn langflow_key(app: &TestApp, token: &str) -> TestResponse {
    app.post("/langflow/api/v1/api_key/", Some(token), &json!({"name": "flows"}))
        .await
}

/// The default (`api_key_permission = openwebui`): other dialects give every user keys, but
/// on Open WebUI's routes no key works without the permission, wherever it was created.
async fn keys_made_elsewhere_do_not_pass_open_webui_without_the_permission(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let (a, u) = (admin.access_token.as_str(), user.access_token.as_str());

    detail(
        &app.post(&format!("{OW}/auths/api_key"), Some(u), &json!({})).await,
        403,
        KEY_CREATION_NOT_ALLOWED,
    );
    let native = app.api_key(&user, &[]).await;
    let langflow = langflow_key(&app, u).await;
    langflow.assert_status(200);
    let langflow = langflow.body["api_key"].as_str().unwrap().to_string();
    for key in [&native, &langflow] {
        // The key works where its product gives keys to everyone...
        app.get("/v1/me", Some(key)).await.assert_status(200);
        // ...but not on Open WebUI's routes (signed-in and identity routes alike).
        detail(
            &app.get(&format!("{OW}/users/user/settings"), Some(key)).await,
            403,
            KEY_NOT_ALLOWED,
        );
        detail(&app.get(&format!("{OW}/auths/"), Some(key)).await, 403, KEY_NOT_ALLOWED);
    }
    // The session itself is not affected, and an administrator's key works.
    app.get(&format!("{OW}/users/user/settings"), Some(u))
        .await
        .assert_status(200);
    let admin_key = app.api_key(&admin, &[]).await;
    app.get(&format!("{OW}/users/user/settings"), Some(&admin_key))
        .await
        .assert_status(200);

    // Granted: the keys work there, and Open WebUI makes one too.
    set_feature(&app, a, "api_keys", true).await;
    app.get(&format!("{OW}/users/user/settings"), Some(&native))
        .await
        .assert_status(200);
    app.post(&format!("{OW}/auths/api_key"), Some(u), &json!({}))
        .await
        .assert_status(200);
    // Taken back: they stop working there again at once.
    set_feature(&app, a, "api_keys", false).await;
    detail(
        &app.get(&format!("{OW}/users/user/settings"), Some(&langflow)).await,
        403,
        KEY_NOT_ALLOWED,
    );
}

/// `api_key_permission = everywhere`: creating a key on any route, and using it on any
/// route, needs the permission (administrators excepted).
async fn everywhere_the_permission_gates_every_key(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.api_key_gate = ApiKeyGate::Everywhere).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let (a, u) = (admin.access_token.as_str(), user.access_token.as_str());

    app.post("/v1/me/api-keys", Some(u), &json!({"name": "k"}))
        .await
        .assert_problem(403, "forbidden");
    langflow_key(&app, u).await.assert_status(403);
    detail(
        &app.post(&format!("{OW}/auths/api_key"), Some(u), &json!({})).await,
        403,
        KEY_CREATION_NOT_ALLOWED,
    );
    app.post("/v1/me/api-keys", Some(a), &json!({"name": "k"}))
        .await
        .assert_status(201);

    // A group grants it: keys are made, and work everywhere.
    let group = app
        .post(
            "/v1/groups",
            Some(a),
            &json!({"name": "keyholders", "permissions": {"features": {"api_keys": true}}}),
        )
        .await;
    group.assert_status(201);
    let group = group.body["id"].as_str().unwrap().to_string();
    let members = format!("/v1/groups/{group}/members");
    app.post(&members, Some(a), &json!({"user_ids": [user.id_str()]}))
        .await
        .assert_status(200);
    let key = app.api_key(&user, &[]).await;
    let langflow = langflow_key(&app, u).await;
    langflow.assert_status(200);
    let langflow = langflow.body["api_key"].as_str().unwrap().to_string();
    app.get("/v1/me", Some(&key)).await.assert_status(200);
    app.get(&format!("{OW}/users/user/settings"), Some(&langflow))
        .await
        .assert_status(200);

    // Out of the group: the keys made while allowed stop working on every route.
    app.request(
        reqwest::Method::DELETE,
        &members,
        Some(a),
        Some(&json!({"user_ids": [user.id_str()]})),
    )
    .await
    .assert_status(200);
    app.get("/v1/me", Some(&key)).await.assert_problem(403, "forbidden");
    app.get("/langflow/api/v1/users/whoami", Some(&langflow))
        .await
        .assert_status(403);
    detail(
        &app.get(&format!("{OW}/auths/"), Some(&key)).await,
        403,
        KEY_NOT_ALLOWED,
    );
}

fn webhook_prefs(url: &str) -> Value {
    json!({"settings": {"ui": {"theme": "dark", "notifications": {"webhook_url": url}}}})
}

/// A notification webhook URL needs `features.webhooks` on every route that writes
/// preferences: Open WebUI drops it (as Open WebUI does), `PATCH /v1/me` refuses it.
async fn gated_preferences_hold_on_every_route(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let (a, u) = (admin.access_token.as_str(), user.access_token.as_str());

    let refused = app
        .patch(
            "/v1/me",
            Some(u),
            &json!({"preferences": webhook_prefs("https://hooks.example.org/a")}),
        )
        .await;
    refused.assert_problem(403, "forbidden");
    assert!(
        refused.body["detail"].as_str().unwrap().contains("webhook_url"),
        "{}",
        refused.text
    );
    let me = app.get("/v1/me", Some(u)).await;
    assert_eq!(me.body["preferences"]["settings"], Value::Null, "{}", me.text);
    // The same change without the gated field passes.
    app.patch(
        "/v1/me",
        Some(u),
        &json!({"preferences": {"settings": {"ui": {"theme": "dark"}}}}),
    )
    .await
    .assert_status(200);
    // Open WebUI drops it silently, as Open WebUI does.
    let dropped = app
        .post(
            &format!("{OW}/users/user/settings/update"),
            Some(u),
            &json!({"ui": {"notifications": {"webhook_url": "https://hooks.example.org/a"}}}),
        )
        .await;
    dropped.assert_status(200);
    assert_eq!(dropped.body["ui"]["notifications"], json!({}));
    // Administrators may.
    app.patch(
        "/v1/me",
        Some(a),
        &json!({"preferences": webhook_prefs("https://hooks.example.org/admin")}),
    )
    .await
    .assert_status(200);

    // Granted: stored through either route.
    set_feature(&app, a, "webhooks", true).await;
    app.patch(
        "/v1/me",
        Some(u),
        &json!({"preferences": webhook_prefs("https://hooks.example.org/b")}),
    )
    .await
    .assert_status(200);
    let shown = app.get(&format!("{OW}/users/user/settings"), Some(u)).await;
    assert_eq!(
        shown.body["ui"]["notifications"]["webhook_url"],
        "https://hooks.example.org/b"
    );
    // Taken back: what was stored may stay or be cleared, but not be changed.
    set_feature(&app, a, "webhooks", false).await;
    app.patch(
        "/v1/me",
        Some(u),
        &json!({"preferences": webhook_prefs("https://hooks.example.org/b")}),
    )
    .await
    .assert_status(200);
    app.patch(
        "/v1/me",
        Some(u),
        &json!({"preferences": webhook_prefs("https://hooks.example.org/c")}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.patch("/v1/me", Some(u), &json!({"preferences": {}}))
        .await
        .assert_status(200);
}

backend_tests!(
    keys_made_elsewhere_do_not_pass_open_webui_without_the_permission,
    everywhere_the_permission_gates_every_key,
    gated_preferences_hold_on_every_route,
);
