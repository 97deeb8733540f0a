//! The Open WebUI dialect's profile images (validated and stored as given, as Open WebUI
//! 0.12.4's `validate_image_url`), its admin contact (`/auths/admin/details`) and the
//! user-management part of its admin configuration (`/auths/admin/config`), used by the routes
//! it governs. Strings and shapes are Open WebUI's.

use roster_core::id::id_to_uuid;
use roster_core::journal::AuditQuery;
use roster_core::service::NewGroup;
use roster_core::{Clock, Role};
use roster_testkit::app::{TestApp, TestResponse};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

use super::openwebui::{ACCESS_PROHIBITED, ACTION_PROHIBITED, P, detail, get, post};

const API_KEY_CREATION_NOT_ALLOWED: &str = "API key creation is not allowed in the environment.";
const API_KEY_NOT_ALLOWED: &str = "Use of API key is not enabled in the environment.";
const INVALID_IMAGE: &str = "Invalid profile image URL: must be a known internal path, an HTTP(S) URL with a host, or a data:image URI (png/jpeg/gif/webp).";
const NO_HOST: &str = "Invalid profile image URL: HTTP(S) URLs must include a host.";

/// FastAPI's 422 for Open WebUI's `profile_image_url` validator.
#[track_caller]
fn invalid_image(r: &TestResponse, input: &str, message: &str) {
    r.assert_status(422);
    assert_eq!(
        r.body,
        json!({"detail": [{
            "type": "value_error",
            "loc": ["body", "profile_image_url"],
            "msg": format!("Value error, {message}"),
            "input": input,
            "ctx": {"error": {}},
        }]}),
        "body: {}",
        r.text
    );
}

async fn signup(app: &TestApp, body: Value) -> TestResponse {
    app.post(&format!("{P}/auths/signup"), None, &body).await
}

/// The configuration as Open WebUI's admin panel posts it, with `changes` over Roster's defaults
/// (and a field of Open WebUI's that is not Roster's, which is ignored).
fn form(changes: Value) -> Value {
    let mut form = json!({
        "SHOW_ADMIN_DETAILS": true,
        "ADMIN_EMAIL": null,
        "WEBUI_URL": "",
        "ENABLE_SIGNUP": false,
        "ENABLE_API_KEYS": true,
        "ENABLE_API_KEYS_ENDPOINT_RESTRICTIONS": false,
        "API_KEYS_ALLOWED_ENDPOINTS": "",
        "DEFAULT_USER_ROLE": "pending",
        "DEFAULT_GROUP_ID": "",
        "JWT_EXPIRES_IN": "4w",
        "ENABLE_USER_WEBHOOKS": false,
        "ENABLE_USER_STATUS": true,
        "ENABLE_COMMUNITY_SHARING": true,
    });
    for (key, value) in changes.as_object().unwrap() {
        form[key] = value.clone();
    }
    form
}

/// Signs up the first account (Ada, the administrator) through Open WebUI's route: its token.
async fn first_admin(app: &TestApp) -> String {
    let first = signup(
        app,
        json!({"name": "Ada", "email": "ada@example.org", "password": "password-1"}),
    )
    .await;
    first.assert_status(200);
    first.body["token"].as_str().unwrap().to_string()
}

async fn configure(app: &TestApp, admin: &str, changes: Value) -> TestResponse {
    let r = post(app, "/auths/admin/config", admin, form(changes)).await;
    r.assert_status(200);
    r
}

async fn profile_images_are_kept_as_given(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    // Sign-up without an image stores Open WebUI's placeholder; an invalid one is refused.
    invalid_image(
        &signup(
            &app,
            json!({"name": "A", "email": "a@example.org", "password": "password-1", "profile_image_url": "/etc/passwd"}),
        )
        .await,
        "/etc/passwd",
        INVALID_IMAGE,
    );
    let first = signup(
        &app,
        json!({"name": "Ada", "email": "ada@example.org", "password": "password-1"}),
    )
    .await;
    first.assert_status(200);
    assert_eq!(first.body["profile_image_url"], "/user.png");
    let a = first.body["token"].as_str().unwrap().to_string();
    let ada = first.body["id"].as_str().unwrap().to_string();
    assert_eq!(get(&app, "/auths/", &a).await.body["profile_image_url"], "/user.png");

    // /auths/add stores the image it is given (and answers the profile-image route, as
    // Open WebUI does); the listing shows what was stored.
    let added = post(
        &app,
        "/auths/add",
        &a,
        json!({"name": "Bo", "email": "bo@example.org", "password": "password-2", "role": "user", "profile_image_url": "/favicon.png"}),
    )
    .await;
    added.assert_status(200);
    let bo = added.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        added.body["profile_image_url"],
        format!("/api/v1/users/{bo}/profile/image")
    );
    assert_eq!(
        get(&app, &format!("/users/{bo}"), &a).await.body["profile_image_url"],
        "/favicon.png"
    );
    invalid_image(
        &post(
            &app,
            "/auths/add",
            &a,
            json!({"name": "C", "email": "c@example.org", "password": "password-3", "profile_image_url": "javascript:alert(1)"}),
        )
        .await,
        "javascript:alert(1)",
        INVALID_IMAGE,
    );
    assert_eq!(
        get(&app, "/users/all", &a).await.body["total"],
        2,
        "a refused /auths/add creates nobody"
    );

    // Profile and user updates: the route itself, static paths, URLs, as given.
    for url in [
        format!("/api/v1/users/{ada}/profile/image"),
        "/static/favicon.png".to_string(),
        "HTTPS://Images.example.org/a.png".to_string(),
        "https://images.example.org/a.png".to_string(),
        "data:image/webp;base64,aGk=".to_string(),
        "/user.png".to_string(),
    ] {
        let r = post(
            &app,
            "/auths/update/profile",
            &a,
            json!({"profile_image_url": url, "name": "Ada"}),
        )
        .await;
        r.assert_status(200);
        assert_eq!(r.body["profile_image_url"], url);
        assert_eq!(get(&app, "/auths/", &a).await.body["profile_image_url"], url);
    }
    for (url, message) in [
        ("http://:80/x", NO_HOST),
        ("data:image/svg+xml;base64,PHN2Zy8+", INVALID_IMAGE),
    ] {
        let body = json!({"profile_image_url": url, "name": "Ada"});
        invalid_image(&post(&app, "/auths/update/profile", &a, body).await, url, message);
    }
    assert_eq!(get(&app, "/auths/", &a).await.body["profile_image_url"], "/user.png");
    let updated = post(
        &app,
        &format!("/users/{bo}/update"),
        &a,
        json!({"profile_image_url": "/user.png"}),
    )
    .await;
    updated.assert_status(200);
    assert_eq!(updated.body["profile_image_url"], "/user.png");
    invalid_image(
        &post(
            &app,
            &format!("/users/{bo}/update"),
            &a,
            json!({"profile_image_url": "//evil.example.org/a.png"}),
        )
        .await,
        "//evil.example.org/a.png",
        INVALID_IMAGE,
    );
    // The placeholder is served as the default image.
    let image = get(&app, &format!("/users/{bo}/profile/image"), &a).await;
    image.assert_status(200);
    assert_eq!(image.headers["content-type"], "image/png");

    // An avatar uploaded through another dialect is still served at the profile-image route,
    // which the profile then names.
    let actor = app.core.authenticate_bearer(&a).await.unwrap();
    let png = roster_http::dialect::openwebui::map::DEFAULT_PROFILE_IMAGE.to_vec();
    let (_, url) = app.core.set_avatar(&actor, png, "/v1/avatars").await.unwrap();
    let session = get(&app, "/auths/", &a).await;
    assert_eq!(
        session.body["profile_image_url"],
        format!("/api/v1/users/{ada}/profile/image")
    );
    let served = get(&app, &format!("/users/{ada}/profile/image"), &a).await;
    served.assert_status(200);
    let file = url.rsplit('/').next().unwrap().to_string();
    let stored = app.get(&format!("/v1/avatars/{file}"), None).await;
    assert_eq!(served.text, stored.text);
}

async fn admin_details_follow_the_configuration(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let a = first_admin(&app).await;
    configure(&app, &a, json!({"ENABLE_SIGNUP": true})).await;
    let pending = signup(
        &app,
        json!({"name": "Pat", "email": "pat@example.org", "password": "password-2"}),
    )
    .await;
    assert_eq!(pending.body["role"], "pending");
    let p = pending.body["token"].as_str().unwrap().to_string();

    detail(
        &app.get(&format!("{P}/auths/admin/details"), None).await,
        401,
        "Not authenticated",
    );
    // A pending account sees the first account's contact.
    let shown = get(&app, "/auths/admin/details", &p).await;
    shown.assert_status(200);
    assert_eq!(shown.body, json!({"name": "Ada", "email": "ada@example.org"}));

    // ADMIN_EMAIL names the contact (its account's name, null when there is none).
    configure(
        &app,
        &a,
        json!({"ENABLE_SIGNUP": true, "ADMIN_EMAIL": "pat@example.org"}),
    )
    .await;
    assert_eq!(
        get(&app, "/auths/admin/details", &p).await.body,
        json!({"name": "Pat", "email": "pat@example.org"})
    );
    configure(&app, &a, json!({"ADMIN_EMAIL": "help@example.org"})).await;
    assert_eq!(
        get(&app, "/auths/admin/details", &a).await.body,
        json!({"name": null, "email": "help@example.org"})
    );

    configure(&app, &a, json!({"SHOW_ADMIN_DETAILS": false})).await;
    detail(&get(&app, "/auths/admin/details", &p).await, 400, ACTION_PROHIBITED);
}

async fn admin_config_is_stored_and_governs_the_routes(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let a = first_admin(&app).await;
    let user = app.user(Role::User).await;
    let u = user.access_token.as_str();

    // Administrators only (Open WebUI's `get_admin_user`).
    detail(&get(&app, "/auths/admin/config", u).await, 401, ACCESS_PROHIBITED);
    detail(
        &post(&app, "/auths/admin/config", u, form(json!({}))).await,
        401,
        ACCESS_PROHIBITED,
    );

    // The defaults: Open WebUI's, and Roster's settings where it has them.
    let defaults = get(&app, "/auths/admin/config", &a).await;
    defaults.assert_status(200);
    assert_eq!(
        defaults.body,
        json!({
            "SHOW_ADMIN_DETAILS": true,
            "ADMIN_EMAIL": null,
            "WEBUI_URL": "",
            "ENABLE_LOGIN_FORM": true,
            "ENABLE_SIGNUP": false,
            "ENABLE_API_KEYS": true,
            "ENABLE_API_KEYS_ENDPOINT_RESTRICTIONS": false,
            "API_KEYS_ALLOWED_ENDPOINTS": "",
            "DEFAULT_USER_ROLE": "pending",
            "DEFAULT_GROUP_ID": "",
            "DEFAULT_INTERFACE_SETTINGS": {},
            "JWT_EXPIRES_IN": "4w",
            "ENABLE_USER_WEBHOOKS": false,
            "ENABLE_USER_STATUS": true,
            "PENDING_USER_OVERLAY_TITLE": "",
            "PENDING_USER_OVERLAY_CONTENT": "",
        })
    );
    detail(
        &signup(
            &app,
            json!({"name": "B", "email": "b@example.org", "password": "password-2"}),
        )
        .await,
        403,
        ACCESS_PROHIBITED,
    );

    // A required field missing is FastAPI's 422; nothing is stored.
    let mut incomplete = form(json!({"ENABLE_SIGNUP": true}));
    incomplete.as_object_mut().unwrap().remove("JWT_EXPIRES_IN");
    let refused = post(&app, "/auths/admin/config", &a, incomplete).await;
    refused.assert_status(422);
    assert_eq!(
        refused.body["detail"][0]["loc"],
        json!(["body", "JWT_EXPIRES_IN"]),
        "{}",
        refused.text
    );
    assert_eq!(get(&app, "/auths/admin/config", &a).await.body["ENABLE_SIGNUP"], false);

    let group = app
        .core
        .create_group(
            &app.core.authenticate_bearer(&a).await.unwrap(),
            NewGroup {
                name: "newcomers".into(),
                ..NewGroup::default()
            },
        )
        .await
        .unwrap();
    let group_id = id_to_uuid(group.id.0);
    let stored = configure(
        &app,
        &a,
        json!({
            "ENABLE_SIGNUP": true,
            "DEFAULT_USER_ROLE": "user",
            "DEFAULT_GROUP_ID": group_id,
            "JWT_EXPIRES_IN": "1h",
            "DEFAULT_INTERFACE_SETTINGS": {"theme": "dark", "params": {"temperature": 0.5, "top_k": 40}},
            "PENDING_USER_OVERLAY_TITLE": "Hold on",
            "WEBUI_URL": "https://chat.example.org",
        }),
    )
    .await;
    assert_eq!(stored.body["sessions_revoked"], false);
    assert_eq!(stored.body["DEFAULT_USER_ROLE"], "user");
    // An omitted overlay content is stored as null, as Open WebUI stores it.
    assert_eq!(stored.body["PENDING_USER_OVERLAY_CONTENT"], Value::Null);
    let read = get(&app, "/auths/admin/config", &a).await.body;
    assert_eq!(read["PENDING_USER_OVERLAY_TITLE"], "Hold on");
    assert_eq!(read["WEBUI_URL"], "https://chat.example.org");
    assert!(read.get("ENABLE_COMMUNITY_SHARING").is_none(), "not Roster's: {read}");
    assert!(read.get("sessions_revoked").is_none());

    // Sign-up is open, with the role, the group and the token lifetime configured.
    let now = app.clock.now().unix_timestamp();
    let second = signup(
        &app,
        json!({"name": "Bo", "email": "bo@example.org", "password": "password-2"}),
    )
    .await;
    second.assert_status(200);
    assert_eq!(second.body["role"], "user");
    assert_eq!(second.body["expires_at"].as_i64().unwrap() - now, 3600);
    let bo = second.body["id"].as_str().unwrap().to_string();
    let members = get(&app, &format!("/users/{bo}/groups"), &a).await;
    assert_eq!(members.body[0]["id"], group_id, "{}", members.text);
    let signin = app
        .post(
            &format!("{P}/auths/signin"),
            None,
            &json!({"email": "ada@example.org", "password": "password-1"}),
        )
        .await;
    assert_eq!(signin.body["expires_at"].as_i64().unwrap() - now, 3600);
    // /auths/add puts new accounts in the default group too.
    let added = post(
        &app,
        "/auths/add",
        &a,
        json!({"name": "Cy", "email": "cy@example.org", "password": "password-3"}),
    )
    .await;
    let cy = added.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        get(&app, &format!("/users/{cy}/groups"), &a).await.body[0]["id"],
        group_id
    );

    // The default interface settings under the user's own, unless raw.
    let b = second.body["token"].as_str().unwrap().to_string();
    assert_eq!(
        get(&app, "/users/user/settings", &b).await.body,
        json!({"ui": {"theme": "dark", "params": {"temperature": 0.5, "top_k": 40}}})
    );
    assert_eq!(get(&app, "/users/user/settings?raw=true", &b).await.body, Value::Null);
    post(
        &app,
        "/users/user/settings/update",
        &b,
        json!({"ui": {"theme": "light", "params": {"top_k": 10}}}),
    )
    .await
    .assert_status(200);
    assert_eq!(
        get(&app, "/users/user/settings", &b).await.body,
        json!({"ui": {"theme": "light", "params": {"temperature": 0.5, "top_k": 10}}})
    );
    assert_eq!(
        get(&app, "/users/user/settings?raw=true", &b).await.body,
        json!({"ui": {"theme": "light", "params": {"top_k": 10}}})
    );

    // Values Open WebUI ignores leave the stored ones.
    let kept = configure(
        &app,
        &a,
        json!({"ENABLE_SIGNUP": true, "DEFAULT_USER_ROLE": "owner", "JWT_EXPIRES_IN": "forever", "DEFAULT_GROUP_ID": group_id}),
    )
    .await;
    assert_eq!(kept.body["DEFAULT_USER_ROLE"], "user");
    assert_eq!(kept.body["JWT_EXPIRES_IN"], "1h");
    // An omitted DEFAULT_INTERFACE_SETTINGS is stored as {}.
    assert_eq!(kept.body["DEFAULT_INTERFACE_SETTINGS"], json!({}));

    // ENABLE_LOGIN_FORM off closes sign-up.
    configure(&app, &a, json!({"ENABLE_SIGNUP": true, "ENABLE_LOGIN_FORM": false})).await;
    detail(
        &signup(
            &app,
            json!({"name": "D", "email": "d@example.org", "password": "password-4"}),
        )
        .await,
        403,
        ACCESS_PROHIBITED,
    );

    // User status off: its routes are refused.
    configure(&app, &a, json!({"ENABLE_USER_STATUS": false})).await;
    detail(&get(&app, "/users/user/status", &b).await, 403, ACTION_PROHIBITED);
    detail(
        &post(&app, "/users/user/status/update", &b, json!({"status_message": "away"})).await,
        403,
        ACTION_PROHIBITED,
    );

    // API keys: restricted to some endpoints, then off.
    let key = post(&app, "/auths/api_key", &a, json!({})).await.body["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    get(&app, "/users/permissions", &key).await.assert_status(200);
    configure(
        &app,
        &a,
        json!({"ENABLE_API_KEYS_ENDPOINT_RESTRICTIONS": true, "API_KEYS_ALLOWED_ENDPOINTS": "/api/v1/groups, /api/v1/users/user"}),
    )
    .await;
    get(&app, "/groups/", &key).await.assert_status(200);
    get(&app, "/users/user/settings", &key).await.assert_status(200);
    detail(&get(&app, "/users/permissions", &key).await, 403, ACCESS_PROHIBITED);
    detail(&get(&app, "/users/user-other", &key).await, 403, ACCESS_PROHIBITED);
    // A session token is not restricted.
    get(&app, "/users/permissions", &a).await.assert_status(200);
    configure(&app, &a, json!({"ENABLE_API_KEYS": false})).await;
    detail(&get(&app, "/groups/", &key).await, 403, API_KEY_NOT_ALLOWED);
    detail(
        &post(&app, "/auths/api_key", &a, json!({})).await,
        403,
        API_KEY_CREATION_NOT_ALLOWED,
    );
    detail(
        &get(&app, "/auths/api_key", &a).await,
        403,
        API_KEY_CREATION_NOT_ALLOWED,
    );

    // Every change is audited, by the administrator who made it.
    let audited = app
        .core
        .store
        .list_audit(&AuditQuery {
            action: Some("instance_config.update".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 6);
    let ada = app.core.authenticate_bearer(&a).await.unwrap().user.id;
    assert!(audited.iter().all(|e| e.actor_id == Some(ada)));
    assert_eq!(audited[0].details["product"], "openwebui");
}

backend_tests!(
    profile_images_are_kept_as_given,
    admin_details_follow_the_configuration,
    admin_config_is_stored_and_governs_the_routes,
);
