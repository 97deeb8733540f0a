//! The Open WebUI dialect: every route of `/openwebui/api/v1/{auths,users,groups}` and its
//! documented errors, with Open WebUI's exact statuses and strings.

use reqwest::Method;
use roster_core::id::id_to_uuid;
use roster_core::service::{AdminUserChanges, NewUser};
use roster_core::time::Duration;
use roster_core::{Clock, Role, UserId};
use roster_testkit::app::{TestApp, TestResponse};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

pub(super) const P: &str = "/openwebui/api/v1";

const NOT_FOUND: &str = "We could not find what you're looking for :/";
pub(super) const ACTION_PROHIBITED: &str = "The requested action has been restricted as a security measure.";
pub(super) const ACCESS_PROHIBITED: &str =
    "You do not have permission to access this resource. Please contact your administrator for assistance.";
const EMAIL_TAKEN: &str = "Uh-oh! This email is already registered. Sign in with your existing account or choose another email to start anew.";
const INVALID_TOKEN: &str = "Your session has expired or the token is invalid. Please sign in again.";
const INVALID_CRED: &str =
    "The email or password provided is incorrect. Please check for typos and try logging in again.";
const INCORRECT_PASSWORD: &str = "The password provided is incorrect. Please check for typos and try again.";
const INVALID_EMAIL_FORMAT: &str = "The email format you entered is invalid. Please double-check and make sure you're using a valid email address (e.g., yourname@example.com).";

fn uuid(id: UserId) -> String {
    id_to_uuid(id.0)
}

#[track_caller]
pub(super) fn detail(r: &TestResponse, status: u16, text: &str) {
    r.assert_status(status);
    assert_eq!(r.body, json!({ "detail": text }), "body: {}", r.text);
}

pub(super) async fn get(app: &TestApp, path: &str, token: &str) -> TestResponse {
    app.get(&format!("{P}{path}"), Some(token)).await
}

pub(super) async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> TestResponse {
    app.post(&format!("{P}{path}"), Some(token), &body).await
}

/// Users without passwords, fast to make in bulk.
async fn bulk_users(app: &TestApp, n: usize, prefix: &str) -> Vec<UserId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let user = app
            .core
            .create_user(
                app.core.operator(),
                NewUser {
                    email: Some(format!("{prefix}{i:02}@example.org")),
                    name: Some(format!("{prefix} {i:02}")),
                    ..NewUser::default()
                },
            )
            .await
            .unwrap();
        ids.push(user.id);
    }
    ids
}

async fn signup_signin_and_session(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let signup = |body: Value| {
        let app = &app;
        async move { app.post(&format!("{P}/auths/signup"), None, &body).await }
    };
    detail(
        &signup(json!({"name": "A", "email": "nope", "password": "password-1"})).await,
        400,
        INVALID_EMAIL_FORMAT,
    );
    let short = signup(json!({"name": "A", "email": "a@example.org", "password": "x"})).await;
    short.assert_status(400);
    assert!(
        short.body["detail"].as_str().unwrap().contains("at least"),
        "{}",
        short.text
    );
    signup(json!({"name": "A", "email": "a@example.org"}))
        .await
        .assert_status(422);

    // The first account becomes admin and gets a session, also as the `token` cookie.
    let first = signup(json!({"name": "Ada", "email": "Ada@Example.org", "password": "password-1"})).await;
    first.assert_status(200);
    assert_eq!(first.body["role"], "admin");
    assert_eq!(first.body["email"], "ada@example.org");
    assert_eq!(first.body["token_type"], "Bearer");
    assert_eq!(first.body["permissions"]["chat"]["delete"], true);
    let id = first.body["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36);
    // No image: Open WebUI's placeholder, stored as given.
    assert_eq!(first.body["profile_image_url"], "/user.png");
    let cookie = first.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("token=") && cookie.contains("HttpOnly"), "{cookie}");
    let token = first.body["token"].as_str().unwrap().to_string();

    // Sign-up closes after the first account (before the email is even checked).
    detail(
        &signup(json!({"name": "B", "email": "b@example.org", "password": "password-2"})).await,
        403,
        ACCESS_PROHIBITED,
    );
    detail(
        &signup(json!({"name": "B", "email": "nope", "password": "password-2"})).await,
        403,
        ACCESS_PROHIBITED,
    );

    let signin = app
        .post(
            &format!("{P}/auths/signin"),
            None,
            &json!({"email": "ada@example.org", "password": "password-1"}),
        )
        .await;
    signin.assert_status(200);
    assert_eq!(signin.body["id"], id);
    assert!(signin.body["expires_at"].as_i64().unwrap() > 0);
    detail(
        &app.post(
            &format!("{P}/auths/signin"),
            None,
            &json!({"email": "ada@example.org", "password": "wrong-password"}),
        )
        .await,
        400,
        INVALID_CRED,
    );
    detail(
        &app.post(
            &format!("{P}/auths/signin"),
            None,
            &json!({"email": "ghost@example.org", "password": "wrong-password"}),
        )
        .await,
        400,
        INVALID_CRED,
    );

    // The session user, by bearer token or by cookie; the native token works too.
    let session = get(&app, "/auths/", &token).await;
    session.assert_status(200);
    assert_eq!(session.body["id"], id);
    assert_eq!(session.body["token"], token);
    assert_eq!(session.body["permissions"]["settings"]["interface"], true);
    let by_cookie = TestApp::read(
        app.client
            .get(format!("{}{P}/auths/", app.address))
            .header("cookie", format!("other=1; token={token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    by_cookie.assert_status(200);
    let native = app.login("ada@example.org", "password-1").await;
    let native_token = native.body["access_token"].as_str().unwrap();
    get(&app, "/auths/", native_token).await.assert_status(200);

    // Sign-in tokens last four weeks by default: Open WebUI's frontend never refreshes.
    let lifetime = signin.body["expires_at"].as_i64().unwrap() - app.clock.now().unix_timestamp();
    assert_eq!(lifetime, 28 * 86_400);
    app.advance(Duration::days(1));
    get(&app, "/auths/", &token).await.assert_status(200);

    // Sign-out ends the session and clears the cookie; without a session it still answers.
    let signout = get(&app, "/auths/signout", &token).await;
    assert_eq!(signout.body, json!({"status": true}));
    assert!(signout.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    detail(&get(&app, "/auths/", &token).await, 401, INVALID_TOKEN);
    assert_eq!(
        app.get(&format!("{P}/auths/signout"), None).await.body,
        json!({"status": true})
    );
    let token = signin.body["token"].as_str().unwrap().to_string();

    detail(&app.get(&format!("{P}/auths/"), None).await, 401, "Not authenticated");
    detail(&get(&app, "/auths/", "not-a-token").await, 401, INVALID_TOKEN);

    // Unknown routes, and those Roster leaves out, are 404 in Open WebUI's shape.
    let preview = format!("/users/{id}/preview");
    for path in [
        "/nope",
        "/users/usage",
        "/users/user/variables",
        "/users/update/role",
        &preview,
    ] {
        detail(&get(&app, path, &token).await, 404, "Not Found");
    }
    detail(&app.get("/openwebui/elsewhere", None).await, 404, "Not Found");
    let malformed = app
        .request(
            Method::POST,
            &format!("{P}/auths/signin"),
            None,
            Some(&json!({"email": 1})),
        )
        .await;
    malformed.assert_status(422);
    assert!(malformed.body["detail"].is_array(), "{}", malformed.text);
}

async fn add_and_update_users(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let other_admin = app.user(Role::Admin).await;
    let user = app.user(Role::User).await;
    let a = admin.access_token.as_str();

    // /auths/add: pending by default, admins only, Open WebUI's errors.
    let added = post(
        &app,
        "/auths/add",
        a,
        json!({"name": "New", "email": "new@example.org", "password": "password-new"}),
    )
    .await;
    added.assert_status(200);
    assert_eq!(added.body["role"], "pending");
    assert_eq!(added.body["token_type"], "Bearer");
    let new_id = added.body["id"].as_str().unwrap().to_string();
    // A pending account signs in to a session that only identifies it, as in Open WebUI:
    // the session user, time zone and sign-out work; everything else is 401 ACCESS_PROHIBITED.
    let pending = app
        .post(
            &format!("{P}/auths/signin"),
            None,
            &json!({"email": "new@example.org", "password": "password-new"}),
        )
        .await;
    pending.assert_status(200);
    assert_eq!(pending.body["role"], "pending");
    let pending_token = pending.body["token"].as_str().unwrap().to_string();
    assert_eq!(get(&app, "/auths/", &pending_token).await.body["role"], "pending");
    post(
        &app,
        "/auths/update/timezone",
        &pending_token,
        json!({"timezone": "UTC"}),
    )
    .await
    .assert_status(200);
    for path in ["/users/user/settings", "/users/permissions", "/groups/"] {
        detail(&get(&app, path, &pending_token).await, 401, ACCESS_PROHIBITED);
    }
    app.get("/v1/me", Some(&pending_token)).await.assert_status(403);
    detail(
        &post(
            &app,
            "/auths/add",
            a,
            json!({"name": "N", "email": "new@example.org", "password": "password-new"}),
        )
        .await,
        400,
        EMAIL_TAKEN,
    );
    detail(
        &post(
            &app,
            "/auths/add",
            a,
            json!({"name": "N", "email": "bad", "password": "password-new"}),
        )
        .await,
        400,
        INVALID_EMAIL_FORMAT,
    );
    detail(
        &post(
            &app,
            "/auths/add",
            &user.access_token,
            json!({"name": "N", "email": "n2@example.org", "password": "password-new"}),
        )
        .await,
        401,
        ACCESS_PROHIBITED,
    );

    // /users/{id}/update
    let updated = post(
        &app,
        &format!("/users/{new_id}/update"),
        a,
        json!({"role": "user", "name": "Renamed"}),
    )
    .await;
    // Approved: the same session now works everywhere.
    get(&app, "/users/user/settings", &pending_token)
        .await
        .assert_status(200);
    updated.assert_status(200);
    assert_eq!(updated.body["role"], "user");
    assert_eq!(updated.body["name"], "Renamed");
    assert!(updated.body["created_at"].as_i64().unwrap() > 1_600_000_000);
    detail(
        &post(
            &app,
            &format!("/users/{new_id}/update"),
            a,
            json!({"email": user.email}),
        )
        .await,
        400,
        EMAIL_TAKEN,
    );
    detail(
        &post(
            &app,
            &format!("/users/{}/update", uuid(UserId(42))),
            a,
            json!({"name": "x"}),
        )
        .await,
        400,
        NOT_FOUND,
    );
    detail(
        &post(&app, "/users/not-a-uuid/update", a, json!({"name": "x"})).await,
        400,
        NOT_FOUND,
    );
    detail(
        &post(
            &app,
            &format!("/users/{new_id}/update"),
            &user.access_token,
            json!({"name": "x"}),
        )
        .await,
        401,
        ACCESS_PROHIBITED,
    );
    // The primary admin: protected from other admins, and keeps its role.
    detail(
        &post(
            &app,
            &format!("/users/{}/update", uuid(admin.id)),
            &other_admin.access_token,
            json!({"name": "x"}),
        )
        .await,
        403,
        ACTION_PROHIBITED,
    );
    detail(
        &post(
            &app,
            &format!("/users/{}/update", uuid(admin.id)),
            a,
            json!({"role": "user"}),
        )
        .await,
        403,
        ACTION_PROHIBITED,
    );
    post(
        &app,
        &format!("/users/{}/update", uuid(admin.id)),
        a,
        json!({"name": "Boss"}),
    )
    .await
    .assert_status(200);
    // A new password ends the target's sessions; an empty one is ignored.
    post(
        &app,
        &format!("/users/{}/update", uuid(user.id)),
        a,
        json!({"password": ""}),
    )
    .await
    .assert_status(200);
    get(&app, "/auths/", &user.access_token).await.assert_status(200);
    post(
        &app,
        &format!("/users/{}/update", uuid(user.id)),
        a,
        json!({"password": "a-brand-new-password"}),
    )
    .await
    .assert_status(200);
    detail(&get(&app, "/auths/", &user.access_token).await, 401, INVALID_TOKEN);
}

async fn list_search_and_read_users(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let a = admin.access_token.as_str();
    let ids = bulk_users(&app, 31, "bulk").await;

    let page1 = get(&app, "/users/?page=1", a).await;
    page1.assert_status(200);
    assert_eq!(page1.body["total"], 33);
    let users = page1.body["users"].as_array().unwrap();
    assert_eq!(users.len(), 30);
    // Newest first by default.
    assert_eq!(users[0]["id"], uuid(*ids.last().unwrap()));
    assert_eq!(users[0]["group_ids"], json!([]));
    let page2 = get(&app, "/users/?page=2", a).await;
    assert_eq!(page2.body["users"].as_array().unwrap().len(), 3);
    assert_eq!(page2.body["users"][2]["id"], uuid(admin.id));
    assert_eq!(get(&app, "/users/?page=3", a).await.body["users"], json!([]));
    let sorted = get(&app, "/users/?query=bulk&order_by=email&direction=asc&page=1", a).await;
    assert_eq!(sorted.body["total"], 31);
    assert_eq!(sorted.body["users"][0]["email"], "bulk00@example.org");
    get(&app, "/users/?page=x", a).await.assert_status(422);
    detail(
        &get(&app, "/users/?page=1", &user.access_token).await,
        401,
        ACCESS_PROHIBITED,
    );

    // Search: any signed-in user, UserInfoResponse.
    let search = get(&app, "/users/search?query=bulk0&page=1", &user.access_token).await;
    search.assert_status(200);
    assert_eq!(search.body["total"], 10);
    let first = &search.body["users"][0];
    for key in ["id", "name", "email", "role", "groups", "is_active"] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }

    let all = get(&app, "/users/all", a).await;
    assert_eq!(all.body["total"], 33);
    assert_eq!(all.body["users"].as_array().unwrap().len(), 33);
    detail(
        &get(&app, "/users/all", &user.access_token).await,
        401,
        ACCESS_PROHIBITED,
    );

    // One user: admins get the full record, everyone the info.
    let one = get(&app, &format!("/users/{}", uuid(user.id)), a).await;
    one.assert_status(200);
    assert_eq!(one.body["email"], user.email);
    assert_eq!(one.body["is_active"], true);
    assert_eq!(one.body["groups"], json!([]));
    detail(
        &get(&app, &format!("/users/{}", uuid(UserId(7))), a).await,
        400,
        NOT_FOUND,
    );
    detail(&get(&app, "/users/garbage", a).await, 400, NOT_FOUND);
    detail(
        &get(&app, &format!("/users/{}", uuid(admin.id)), &user.access_token).await,
        401,
        ACCESS_PROHIBITED,
    );
    let info = get(&app, &format!("/users/{}/info", uuid(admin.id)), &user.access_token).await;
    info.assert_status(200);
    assert_eq!(info.body["role"], "admin");
    detail(
        &get(&app, &format!("/users/{}/info", uuid(UserId(7))), &user.access_token).await,
        400,
        NOT_FOUND,
    );

    // Active: seen within 180 s.
    let active = |id: String| {
        let app = &app;
        let token = user.access_token.clone();
        async move { get(app, &format!("/users/{id}/active"), &token).await.body["active"].clone() }
    };
    assert_eq!(active(uuid(admin.id)).await, true);
    assert_eq!(active(uuid(ids[0])).await, false);
    assert_eq!(active(uuid(UserId(7))).await, false);
    assert_eq!(active("junk".into()).await, false);
    app.advance(Duration::seconds(181));
    assert_eq!(active(uuid(admin.id)).await, false);
}

async fn delete_and_revoke(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let other_admin = app.user(Role::Admin).await;
    let user = app.user(Role::User).await;
    let victim = app.user(Role::User).await;
    let (a, o) = (admin.access_token.as_str(), other_admin.access_token.as_str());

    let delete = |path: String, token: String| {
        let app = &app;
        async move { app.delete(&format!("{P}{path}"), Some(&token)).await }
    };
    detail(
        &delete(format!("/users/{}", uuid(admin.id)), a.into()).await,
        403,
        ACTION_PROHIBITED,
    );
    detail(
        &delete(format!("/users/{}", uuid(other_admin.id)), o.into()).await,
        403,
        ACTION_PROHIBITED,
    );
    detail(
        &delete(format!("/users/{}", uuid(admin.id)), o.into()).await,
        403,
        ACTION_PROHIBITED,
    );
    detail(
        &delete(format!("/users/{}", uuid(victim.id)), user.access_token.clone()).await,
        401,
        ACCESS_PROHIBITED,
    );
    let deleted = delete(format!("/users/{}", uuid(victim.id)), o.into()).await;
    deleted.assert_status(200);
    assert_eq!(deleted.body, json!(true));
    detail(
        &delete(format!("/users/{}", uuid(victim.id)), a.into()).await,
        400,
        NOT_FOUND,
    );

    detail(
        &post(
            &app,
            &format!("/users/{}/sessions/revoke", uuid(UserId(9))),
            a,
            json!({}),
        )
        .await,
        404,
        "User not found.",
    );
    detail(
        &post(
            &app,
            &format!("/users/{}/sessions/revoke", uuid(admin.id)),
            o,
            json!({}),
        )
        .await,
        403,
        ACTION_PROHIBITED,
    );
    detail(
        &post(
            &app,
            &format!("/users/{}/sessions/revoke", uuid(admin.id)),
            &user.access_token,
            json!({}),
        )
        .await,
        401,
        ACCESS_PROHIBITED,
    );
    let revoked = post(&app, &format!("/users/{}/sessions/revoke", uuid(user.id)), a, json!({})).await;
    revoked.assert_status(200);
    assert_eq!(revoked.body, json!(true));
    detail(&get(&app, "/auths/", &user.access_token).await, 401, INVALID_TOKEN);

    // OAuth sessions: Roster holds none, which Open WebUI answers with 400.
    detail(
        &get(&app, &format!("/users/{}/oauth/sessions", uuid(other_admin.id)), a).await,
        400,
        NOT_FOUND,
    );
    detail(
        &get(&app, &format!("/users/{}/oauth/sessions", uuid(other_admin.id)), o).await,
        400,
        NOT_FOUND,
    );
}

async fn settings_status_and_info(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let u = user.access_token.as_str();

    assert_eq!(get(&app, "/users/user/settings", u).await.body, Value::Null);
    let updated = post(
        &app,
        "/users/user/settings/update",
        u,
        json!({"ui": {"theme": "dark", "system": "be brief", "toolServers": [1]}, "notifications": {"x": 1}, "extra": 1}),
    )
    .await;
    updated.assert_status(200);
    // toolServers and notifications need permissions a default user lacks; system is allowed.
    assert_eq!(
        updated.body,
        json!({"ui": {"theme": "dark", "system": "be brief"}, "extra": 1})
    );
    let patched = post(
        &app,
        "/users/user/settings/update",
        u,
        json!({"ui": {"theme": null, "lang": "de"}}),
    )
    .await;
    assert_eq!(
        patched.body,
        json!({"ui": {"system": "be brief", "lang": "de"}, "extra": 1})
    );
    assert_eq!(get(&app, "/users/user/settings?raw=true", u).await.body, patched.body);
    post(&app, "/users/user/settings/update", u, json!([1]))
        .await
        .assert_status(422);

    assert_eq!(get(&app, "/users/user/info", u).await.body, Value::Null);
    post(
        &app,
        "/users/user/info/update",
        u,
        json!({"location": "Berlin", "a": 1}),
    )
    .await
    .assert_status(200);
    let info = post(&app, "/users/user/info/update", u, json!({"a": 2})).await;
    assert_eq!(info.body, json!({"location": "Berlin", "a": 2}));
    assert_eq!(get(&app, "/users/user/info", u).await.body, info.body);

    let status = post(
        &app,
        "/users/user/status/update",
        u,
        json!({"status_emoji": "🌴", "status_message": "away", "status_expires_at": 1_900_000_000}),
    )
    .await;
    status.assert_status(200);
    assert_eq!(status.body["status_emoji"], "🌴");
    let status = post(
        &app,
        "/users/user/status/update",
        u,
        json!({"status_message": "back", "status_emoji": null}),
    )
    .await;
    assert_eq!(status.body["status_emoji"], "🌴");
    assert_eq!(status.body["status_message"], "back");
    let me = get(&app, "/users/user/status", u).await;
    assert_eq!(me.body["status_expires_at"], 1_900_000_000);
    assert_eq!(me.body["info"], json!({"location": "Berlin", "a": 2}));
    assert_eq!(me.body["settings"]["extra"], 1);

    // Pending accounts get 401 ACCESS_PROHIBITED everywhere (here through an API key).
    let key = app.api_key(&user, &[]).await;
    app.set_user(
        user.id,
        AdminUserChanges {
            role: Some(Role::Pending),
            ..Default::default()
        },
    )
    .await;
    detail(&get(&app, "/users/user/settings", &key).await, 401, ACCESS_PROHIBITED);
}

async fn permissions_and_groups(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let (a, u) = (admin.access_token.as_str(), user.access_token.as_str());

    let defaults = get(&app, "/users/default/permissions/defaults", a).await;
    defaults.assert_status(200);
    assert_eq!(defaults.body["chat"]["temporary_enforced"], false);
    assert_eq!(get(&app, "/users/default/permissions", a).await.body, defaults.body);
    for path in ["/users/default/permissions", "/users/default/permissions/defaults"] {
        detail(&get(&app, path, u).await, 401, ACCESS_PROHIBITED);
    }
    let mut template = defaults.body.clone();
    template["chat"] = json!({"delete": false});
    template["features"]["api_keys"] = json!(true);
    let stored = post(&app, "/users/default/permissions", a, template.clone()).await;
    stored.assert_status(200);
    assert_eq!(stored.body["chat"]["delete"], false);
    assert_eq!(stored.body["chat"]["edit"], true);
    let mut missing = template.clone();
    missing.as_object_mut().unwrap().remove("sharing");
    post(&app, "/users/default/permissions", a, missing)
        .await
        .assert_status(422);
    detail(
        &post(&app, "/users/default/permissions", u, template.clone()).await,
        401,
        ACCESS_PROHIBITED,
    );
    assert_eq!(get(&app, "/users/default/permissions", a).await.body, stored.body);
    assert_eq!(
        get(&app, "/users/default/permissions/defaults", a).await.body,
        defaults.body
    );
    let mine = get(&app, "/users/permissions", u).await;
    assert_eq!(mine.body["chat"]["delete"], false);
    assert_eq!(mine.body["features"]["api_keys"], true);

    // Groups grant more: most permissive wins.
    let created = post(
        &app,
        "/groups/create",
        a,
        json!({"name": "Deleters", "description": "may delete", "permissions": {"chat": {"delete": true}}}),
    )
    .await;
    created.assert_status(200);
    assert_eq!(created.body["member_count"], 0);
    assert_eq!(created.body["user_id"], uuid(admin.id));
    let gid = created.body["id"].as_str().unwrap().to_string();
    detail(
        &post(&app, "/groups/create", u, json!({"name": "x", "description": ""})).await,
        401,
        ACCESS_PROHIBITED,
    );
    let added = post(
        &app,
        &format!("/groups/id/{gid}/users/add"),
        a,
        json!({"user_ids": [uuid(user.id)]}),
    )
    .await;
    added.assert_status(200);
    assert_eq!(added.body["user_ids"], json!([uuid(user.id)]));
    detail(
        &post(
            &app,
            &format!("/groups/id/{gid}/users/add"),
            a,
            json!({"user_ids": [uuid(UserId(5))]}),
        )
        .await,
        400,
        NOT_FOUND,
    );
    assert_eq!(get(&app, "/users/permissions", u).await.body["chat"]["delete"], true);

    let mine = get(&app, "/users/groups", u).await;
    assert_eq!(mine.body[0]["id"], gid);
    assert!(mine.body[0].get("membership_type").is_none());
    let inherited = get(&app, "/users/groups?include_inherited=true", u).await;
    assert_eq!(inherited.body[0]["membership_type"], "direct");
    assert_eq!(
        get(&app, &format!("/users/{}/groups", uuid(user.id)), a).await.body[0]["name"],
        "Deleters"
    );
    detail(
        &get(&app, &format!("/users/{}/groups", uuid(user.id)), u).await,
        401,
        ACCESS_PROHIBITED,
    );
    assert_eq!(
        get(&app, &format!("/users/{}", uuid(user.id)), a).await.body["groups"][0]["id"],
        gid
    );
    assert_eq!(
        get(&app, "/users/?page=1", a).await.body["users"][0]["group_ids"],
        json!([gid])
    );
    detail(
        &get(&app, &format!("/users/{}/groups", uuid(UserId(77))), a).await,
        400,
        NOT_FOUND,
    );

    assert_eq!(get(&app, "/groups/", a).await.body.as_array().unwrap().len(), 1);
    assert_eq!(get(&app, "/groups/", u).await.body[0]["id"], gid);
    get(&app, &format!("/groups/id/{gid}"), u).await.assert_status(200);
    detail(
        &get(&app, &format!("/groups/id/{}", uuid(UserId(3))), a).await,
        400,
        NOT_FOUND,
    );
    detail(&get(&app, "/groups/id/nope", a).await, 400, NOT_FOUND);

    let renamed = post(
        &app,
        &format!("/groups/id/{gid}/update"),
        a,
        json!({"name": "Editors", "description": "d", "permissions": {}, "user_ids": [uuid(admin.id)]}),
    )
    .await;
    renamed.assert_status(200);
    assert_eq!(renamed.body["name"], "Editors");
    assert_eq!(renamed.body["user_ids"], json!([uuid(admin.id)]));
    assert_eq!(get(&app, "/users/permissions", u).await.body["chat"]["delete"], false);
    detail(
        &post(&app, &format!("/groups/id/{gid}/update"), u, json!({"name": "x"})).await,
        401,
        ACCESS_PROHIBITED,
    );
    let removed = post(
        &app,
        &format!("/groups/id/{gid}/users/remove"),
        a,
        json!({"user_ids": [uuid(admin.id)]}),
    )
    .await;
    assert_eq!(removed.body["member_count"], 0);

    detail(
        &app.delete(&format!("{P}/groups/id/{gid}/delete"), Some(u)).await,
        401,
        ACCESS_PROHIBITED,
    );
    let gone = app.delete(&format!("{P}/groups/id/{gid}/delete"), Some(a)).await;
    assert_eq!(gone.body, json!(true));
    detail(
        &app.delete(&format!("{P}/groups/id/{gid}/delete"), Some(a)).await,
        400,
        NOT_FOUND,
    );
}

async fn profile_password_and_images(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let u = user.access_token.as_str();
    let image_path = format!("/users/{}/profile/image", uuid(user.id));

    let default = get(&app, &image_path, u).await;
    default.assert_status(200);
    assert_eq!(default.headers["content-type"], "image/png");

    let png = "data:image/png;base64,aGVsbG8=";
    let profile = post(
        &app,
        "/auths/update/profile",
        u,
        json!({"profile_image_url": png, "name": "Grace", "bio": "hi", "gender": "f", "date_of_birth": "1906-12-09"}),
    )
    .await;
    profile.assert_status(200);
    assert_eq!(profile.body["name"], "Grace");
    assert_eq!(profile.body["profile_image_url"], png);
    let image = get(&app, &image_path, u).await;
    image.assert_status(200);
    assert_eq!(image.text, "hello");
    assert_eq!(image.headers["content-type"], "image/png");
    assert_eq!(image.headers["x-content-type-options"], "nosniff");
    let session = get(&app, "/auths/", u).await;
    assert_eq!(session.body["gender"], "f");
    assert_eq!(session.body["date_of_birth"], "1906-12-09");
    assert_eq!(session.body["bio"], "hi");

    post(
        &app,
        "/auths/update/profile",
        u,
        json!({"profile_image_url": "https://images.example.org/g.png", "name": "Grace"}),
    )
    .await
    .assert_status(200);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = no_redirects
        .get(format!("{}{P}{image_path}", app.address))
        .bearer_auth(u)
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status().as_u16(), 302);
    assert_eq!(redirect.headers()["location"], "https://images.example.org/g.png");
    detail(
        &get(&app, &format!("/users/{}/profile/image", uuid(UserId(11))), u).await,
        400,
        NOT_FOUND,
    );

    let tz = post(&app, "/auths/update/timezone", u, json!({"timezone": "Europe/Berlin"})).await;
    assert_eq!(tz.body, json!({"status": true}));
    post(&app, "/auths/update/timezone", u, json!({"timezone": "not a zone"}))
        .await
        .assert_status(422);

    detail(
        &post(
            &app,
            "/auths/update/password",
            u,
            json!({"password": "wrong-password", "new_password": "another-password"}),
        )
        .await,
        400,
        INCORRECT_PASSWORD,
    );
    let changed = post(
        &app,
        "/auths/update/password",
        u,
        json!({"password": user.password, "new_password": "another-password"}),
    )
    .await;
    changed.assert_status(200);
    assert_eq!(changed.body, json!(true));
    app.post(
        &format!("{P}/auths/signin"),
        None,
        &json!({"email": user.email, "password": "another-password"}),
    )
    .await
    .assert_status(200);
}

async fn api_keys(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let a = admin.access_token.as_str();

    const NOT_ALLOWED: &str = "API key creation is not allowed in the environment.";
    detail(
        &post(&app, "/auths/api_key", &user.access_token, json!({})).await,
        403,
        NOT_ALLOWED,
    );
    detail(&get(&app, "/auths/api_key", &user.access_token).await, 403, NOT_ALLOWED);

    detail(
        &get(&app, "/auths/api_key", a).await,
        404,
        "Oops! It looks like there's a hiccup. The API key is missing. Please make sure to provide a valid API key to access this feature.",
    );
    let first = post(&app, "/auths/api_key", a, json!({})).await;
    first.assert_status(200);
    let key = first.body["api_key"].as_str().unwrap().to_string();
    get(&app, "/users/permissions", &key).await.assert_status(200);
    detail(&get(&app, "/auths/", &key).await, 403, "A human session is required.");
    let shown = get(&app, "/auths/api_key", a).await;
    assert!(key.starts_with(shown.body["api_key"].as_str().unwrap()));
    // POST replaces the key.
    let second = post(&app, "/auths/api_key", a, json!({})).await;
    let second_key = second.body["api_key"].as_str().unwrap().to_string();
    assert_ne!(second_key, key);
    detail(&get(&app, "/users/permissions", &key).await, 401, INVALID_TOKEN);
    let deleted = app.delete(&format!("{P}/auths/api_key"), Some(a)).await;
    assert_eq!(deleted.body, json!(true));
    detail(&get(&app, "/users/permissions", &second_key).await, 401, INVALID_TOKEN);
}

/// With `openwebui_enable_signup`, later sign-ups get `openwebui_default_role` (`pending`) and
/// a session that only identifies them.
async fn open_signup_makes_pending_accounts(backend: Backend) {
    let db = roster_testkit::or_skip!(roster_testkit::TestDatabase::new(backend).await);
    let core = std::sync::Arc::new(
        roster_core::Core::new(
            db.store().await,
            std::sync::Arc::new(roster_core::SystemClock),
            roster_core::CoreConfig {
                hash_concurrency: 2,
                ..roster_core::CoreConfig::default()
            },
        )
        .await
        .unwrap(),
    );
    let config = roster_http::HttpConfig {
        openwebui_enable_signup: true,
        openwebui_prefix: "/".into(),
        ..roster_http::HttpConfig::default()
    };
    let app = roster_http::app(roster_http::AppState::new(core, config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    let client = reqwest::Client::new();
    let signup = |email: &'static str| {
        let (client, address) = (&client, &address);
        async move {
            let response = client
                .post(format!("{address}/api/v1/auths/signup"))
                .json(&json!({"name": "N", "email": email, "password": "password-1"}))
                .send()
                .await
                .unwrap();
            TestApp::read(response).await
        }
    };
    assert_eq!(signup("first@example.org").await.body["role"], "admin");
    let second = signup("second@example.org").await;
    second.assert_status(200);
    assert_eq!(second.body["role"], "pending");
    let token = second.body["token"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    let me = client
        .get(format!("{address}/api/v1/auths/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::read(me).await.body["role"], "pending");
    let settings = client
        .get(format!("{address}/api/v1/users/user/settings"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    detail(&TestApp::read(settings).await, 401, ACCESS_PROHIBITED);
    server.abort();
}

/// `last_active_at` is written at most once per `activity_interval` (60 s by default; here
/// also 0, every request), and `/users/{id}/active` reads it with the 180 s window.
async fn activity_is_throttled(backend: Backend) {
    for (interval, expect_moved) in [(Duration::seconds(60), false), (Duration::ZERO, true)] {
        let app = roster_testkit::or_skip!(
            roster_testkit::app::spawn_app_with(backend, |c| c.activity_interval = interval).await
        );
        let admin = app.admin().await;
        let a = admin.access_token.as_str();
        let path = format!("/users/{}", uuid(admin.id));
        let before = get(&app, &path, a).await.body["last_active_at"].as_i64().unwrap();
        app.advance(Duration::seconds(10));
        get(&app, "/users/permissions", a).await.assert_status(200);
        let after = get(&app, &path, a).await.body["last_active_at"].as_i64().unwrap();
        assert_eq!(after > before, expect_moved, "interval {interval}: {before} -> {after}");
        app.advance(Duration::seconds(60));
        get(&app, "/users/permissions", a).await.assert_status(200);
        let later = get(&app, &path, a).await.body["last_active_at"].as_i64().unwrap();
        assert!(later >= before + 70, "interval {interval}: {before} -> {later}");
    }
}

/// A preference change is made to the stored user when it is written, not to the copy the
/// request authenticated: a change another request made in between is kept.
async fn concurrent_preference_changes_are_kept(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let u = user.access_token.as_str();
    // A request authenticates (its copy of the user has no info yet) ...
    let stale = app.core.authenticate_bearer(u).await.unwrap();
    // ... another request changes the info ...
    post(&app, "/users/user/info/update", u, json!({"location": "Paris"}))
        .await
        .assert_status(200);
    // ... and the first writes its settings and status.
    app.core
        .update_own_preferences(&stale, &|p: &mut serde_json::Map<String, Value>| {
            p.insert("settings".into(), json!({"ui": {"theme": "dark"}}));
        })
        .await
        .unwrap();
    let form = json!({"status_emoji": "🌴", "status_message": "away"});
    post(&app, "/users/user/status/update", u, form)
        .await
        .assert_status(200);
    assert_eq!(
        get(&app, "/users/user/info", u).await.body,
        json!({"location": "Paris"})
    );
    assert_eq!(
        get(&app, "/users/user/settings", u).await.body,
        json!({"ui": {"theme": "dark"}})
    );
    let stored = app.core.authenticate_bearer(u).await.unwrap().user.preferences;
    assert_eq!(stored["status"]["message"], "away");
    assert_eq!(stored["info"]["location"], "Paris");
}

/// A group and its members are written at once, with the journal of both: an unknown member
/// leaves the group as it was, and a change audits the update, each member added, then each
/// member removed.
async fn group_and_members_are_one_write(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let a = admin.access_token.as_str();
    let user = app.user(Role::User).await;
    let created = post(
        &app,
        "/groups/create",
        a,
        json!({"name": "Team", "description": "", "user_ids": [uuid(user.id)]}),
    )
    .await;
    created.assert_status(200);
    assert_eq!(created.body["user_ids"], json!([uuid(user.id)]));
    let gid = created.body["id"].as_str().unwrap().to_string();

    let ghost = uuid(UserId(5));
    let refused = post(
        &app,
        &format!("/groups/id/{gid}/update"),
        a,
        json!({"name": "Renamed", "description": "", "user_ids": [uuid(admin.id), ghost]}),
    )
    .await;
    detail(&refused, 400, NOT_FOUND);
    let unchanged = get(&app, &format!("/groups/id/{gid}"), a).await;
    assert_eq!(unchanged.body["name"], "Team");
    assert_eq!(unchanged.body["user_ids"], json!([uuid(user.id)]));

    let updated = post(
        &app,
        &format!("/groups/id/{gid}/update"),
        a,
        json!({"name": "Renamed", "description": "", "user_ids": [uuid(admin.id)]}),
    )
    .await;
    updated.assert_status(200);
    assert_eq!(updated.body["user_ids"], json!([uuid(admin.id)]));
    let listed = get(&app, "/groups/", a).await;
    assert_eq!(listed.body[0]["user_ids"], json!([uuid(admin.id)]));
    assert_eq!(listed.body[0]["member_count"], 1);

    let audit = app.get("/v1/audit?limit=200", Some(a)).await;
    let actions: Vec<&str> = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.starts_with("group."))
        .collect();
    // Newest first.
    assert_eq!(
        actions,
        [
            "group.member_remove",
            "group.member_add",
            "group.update",
            "group.member_add",
            "group.create"
        ]
    );
}

backend_tests!(
    activity_is_throttled,
    open_signup_makes_pending_accounts,
    signup_signin_and_session,
    add_and_update_users,
    list_search_and_read_users,
    delete_and_revoke,
    settings_status_and_info,
    concurrent_preference_changes_are_kept,
    permissions_and_groups,
    group_and_members_are_one_write,
    profile_password_and_images,
    api_keys,
);
