//! The Langflow dialect: every route of `/langflow/api/v1/{login,refresh,logout,auto_login,
//! users,api_key}`, the seed's curl examples with a real API key, and each documented error
//! with Langflow's exact statuses and strings.

use reqwest::{Method, RequestBuilder};
use roster_core::id::id_to_uuid;
use roster_core::service::NewUser;
use roster_core::{Role, UserId};
use roster_http::HttpConfig;
use roster_testkit::app::spawn_app_with;
use roster_testkit::app::{TestApp, TestResponse, TestUser};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

const P: &str = "/langflow/api/v1";

fn uuid(id: UserId) -> String {
    id_to_uuid(id.0)
}

#[track_caller]
fn detail(r: &TestResponse, status: u16, text: &str) {
    r.assert_status(status);
    assert_eq!(r.body, json!({ "detail": text }), "body: {}", r.text);
}

fn req(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    app.client.request(method, format!("{}{P}{path}", app.address))
}

async fn send(rb: RequestBuilder) -> TestResponse {
    TestApp::read(rb.send().await.unwrap()).await
}

/// A request authenticated with `x-api-key` (or a bearer token when it is not an `sk-` key).
async fn call(app: &TestApp, method: Method, path: &str, credential: &str, body: Option<Value>) -> TestResponse {
    let mut rb = req(app, method, path);
    rb = if credential.starts_with("sk-") {
        rb.header("x-api-key", credential)
    } else {
        rb.bearer_auth(credential)
    };
    if let Some(body) = body {
        rb = rb.json(&body);
    }
    send(rb).await
}

async fn login(app: &TestApp, username: &str, password: &str) -> TestResponse {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("username", username)
        .append_pair("password", password)
        .finish();
    send(
        req(app, Method::POST, "/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await
}

async fn new_key(app: &TestApp, user: &TestUser) -> String {
    let r = call(
        app,
        Method::POST,
        "/api_key/",
        &user.access_token,
        Some(json!({"name": "k"})),
    )
    .await;
    r.assert_status(200);
    r.body["api_key"].as_str().unwrap().to_string()
}

fn set_cookies(r: &TestResponse) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn cookie_value(r: &TestResponse, name: &str) -> Option<String> {
    set_cookies(r).iter().find_map(|c| {
        let (pair, _) = c.split_once(';').unwrap_or((c, ""));
        let (n, v) = pair.split_once('=')?;
        (n == name).then(|| v.to_string())
    })
}

#[track_caller]
fn assert_user_read(body: &Value, username: &str, active: bool, superuser: bool) {
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    for key in [
        "id",
        "username",
        "profile_image",
        "store_api_key",
        "is_active",
        "is_superuser",
        "create_at",
        "updated_at",
        "last_login_at",
        "optins",
    ] {
        assert!(keys.contains(&key), "{key} missing in {body}");
    }
    assert_eq!(body["username"], username, "{body}");
    assert_eq!(body["is_active"], active, "{body}");
    assert_eq!(body["is_superuser"], superuser, "{body}");
    assert_eq!(body["store_api_key"], Value::Null);
    let create_at = body["create_at"].as_str().unwrap();
    assert_eq!(create_at.len(), 26, "{create_at}");
    assert!(!create_at.ends_with('Z'));
    assert_eq!(body["optins"]["github_starred"], false);
    assert_eq!(body["id"].as_str().unwrap().len(), 36);
}

async fn login_whoami_and_error_shapes(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let r = login(&app, &admin.username, &admin.password).await;
    r.assert_status(200);
    assert_eq!(r.body["token_type"], "bearer");
    let access = r.body["access_token"].as_str().unwrap().to_string();
    assert!(r.body["refresh_token"].as_str().is_some());
    assert_eq!(cookie_value(&r, "access_token_lf").as_deref(), Some(access.as_str()));
    assert!(cookie_value(&r, "refresh_token_lf").is_some());
    assert!(cookie_value(&r, "apikey_tkn_lflw").is_some());

    let me = call(&app, Method::GET, "/users/whoami", &access, None).await;
    me.assert_status(200);
    assert_user_read(&me.body, &admin.username, true, true);
    assert_eq!(me.body["id"], uuid(admin.id));
    assert!(me.body["last_login_at"].is_string());
    // The access cookie authenticates too.
    let by_cookie =
        send(req(&app, Method::GET, "/users/whoami").header("cookie", format!("access_token_lf={access}"))).await;
    by_cookie.assert_status(200);

    detail(
        &login(&app, &admin.username, "wrong-password").await,
        401,
        "Incorrect username or password",
    );
    detail(
        &login(&app, "nobody", "wrong-password").await,
        401,
        "Incorrect username or password",
    );
    let json_login = send(req(&app, Method::POST, "/login").json(&json!({"username": "a", "password": "b"}))).await;
    json_login.assert_status(422);
    assert!(json_login.body["detail"].is_array(), "{}", json_login.text);

    detail(
        &send(req(&app, Method::GET, "/users/whoami")).await,
        403,
        "An API key must be passed as query or header",
    );
    detail(
        &call(&app, Method::GET, "/users/whoami", "not-a-jwt", None).await,
        401,
        "Could not validate credentials",
    );
    detail(
        &call(&app, Method::GET, "/users/whoami", "sk-nope", None).await,
        403,
        "Invalid or missing API key",
    );
    detail(&send(req(&app, Method::GET, "/nowhere")).await, 404, "Not Found");
    detail(
        &call(&app, Method::PUT, "/users/whoami", &access, None).await,
        405,
        "Method Not Allowed",
    );
    // A deactivated user's API key: Langflow's inactive refusal.
    let user = app.user(Role::User).await;
    let key = new_key(&app, &user).await;
    call(&app, Method::GET, "/users/whoami", &key, None)
        .await
        .assert_status(200);
    let r = call(
        &app,
        Method::PATCH,
        &format!("/users/{}", uuid(user.id)),
        &access,
        Some(json!({"is_active": false})),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["is_active"], false);
    detail(
        &call(&app, Method::GET, "/users/whoami", &key, None).await,
        401,
        "Inactive user",
    );
    detail(&login(&app, &user.username, &user.password).await, 401, "Inactive user");
}

async fn signup_waits_for_approval(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let a = admin.access_token.as_str();
    let signup = |body: Value| {
        let app = &app;
        async move { send(req(app, Method::POST, "/users/").json(&body)).await }
    };
    let r = signup(json!({"username": "newuser2", "password": "securepassword123"})).await;
    r.assert_status(201);
    assert_user_read(&r.body, "newuser2", false, false);
    assert_eq!(r.body["last_login_at"], Value::Null);
    assert_eq!(
        r.body["optins"],
        json!({"github_starred": false, "dialog_dismissed": false, "discord_clicked": false})
    );
    let id = r.body["id"].as_str().unwrap().to_string();
    // A stale access cookie does not stand in the way of signing up.
    let stale = send(
        req(&app, Method::POST, "/users/")
            .header("cookie", "access_token_lf=expired")
            .json(&json!({"username": "newuser3", "password": "securepassword123"})),
    )
    .await;
    stale.assert_status(201);
    assert_eq!(stale.body["is_active"], false);
    // The optins of a public sign-up are kept.
    let r =
        signup(json!({"username": "opted", "password": "securepassword123", "optins": {"github_starred": true}})).await;
    r.assert_status(201);
    assert_eq!(r.body["optins"]["github_starred"], true);
    assert_eq!(r.body["optins"]["discord_clicked"], false);
    detail(
        &signup(json!({"username": "newuser2", "password": "securepassword123"})).await,
        400,
        "This username is unavailable.",
    );
    detail(
        &login(&app, "newuser2", "securepassword123").await,
        400,
        "Waiting for approval",
    );
    let r = call(
        &app,
        Method::PATCH,
        &format!("/users/{id}"),
        a,
        Some(json!({"is_active": true})),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["is_active"], true);
    login(&app, "newuser2", "securepassword123").await.assert_status(200);
    call(
        &app,
        Method::PATCH,
        &format!("/users/{id}"),
        a,
        Some(json!({"is_active": false})),
    )
    .await
    .assert_status(200);
    // Signed in before: no longer waiting, but inactive.
    detail(
        &login(&app, "newuser2", "securepassword123").await,
        401,
        "Inactive user",
    );

    let closed = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.allow_registration = false).await);
    closed.admin().await;
    let r =
        send(req(&closed, Method::POST, "/users/").json(&json!({"username": "x1", "password": "password-x1"}))).await;
    detail(&r, 403, "Public user registration is disabled.");

    let http = HttpConfig {
        langflow_new_user_is_active: true,
        langflow_prefix: "/".into(),
        ..HttpConfig::default()
    };
    let open = roster_testkit::or_skip!(roster_testkit::app::spawn_app_with_http(backend, |_| {}, http).await);
    open.admin().await;
    let r = open
        .post(
            "/api/v1/users/",
            None,
            &json!({"username": "active1", "password": "password-a1"}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["is_active"], true);
}

/// The seed's curl examples, with `$LANGFLOW_URL` the dialect's URL and a real API key.
async fn seed_examples_with_an_api_key(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let key = new_key(&app, &admin).await;
    let k = key.as_str();

    let created = call(
        &app,
        Method::POST,
        "/users/",
        k,
        Some(json!({"username": "newuser2", "password": "securepassword123"})),
    )
    .await;
    created.assert_status(201);
    assert_user_read(&created.body, "newuser2", false, false);
    let id = created.body["id"].as_str().unwrap().to_string();

    let me = call(&app, Method::GET, "/users/whoami", k, None).await;
    me.assert_status(200);
    assert_user_read(&me.body, &admin.username, true, true);

    let list = call(&app, Method::GET, "/users/?skip=0&limit=10", k, None).await;
    list.assert_status(200);
    assert_eq!(list.body["total_count"], 2);
    assert_eq!(list.body["users"].as_array().unwrap().len(), 2);

    let patched = call(
        &app,
        Method::PATCH,
        &format!("/users/{id}"),
        k,
        Some(json!({"is_active": true, "is_superuser": true})),
    )
    .await;
    patched.assert_status(200);
    assert_user_read(&patched.body, "newuser2", true, true);

    // Another user's password: refused (the seed's own example shows the caller's account).
    detail(
        &call(
            &app,
            Method::PATCH,
            &format!("/users/{id}/reset-password"),
            k,
            Some(json!({"password": "newsecurepassword123"})),
        )
        .await,
        400,
        "You can't change another user's password",
    );
    // One's own password: the seed's example with the key alone is refused (a leaked key must
    // not take the account over); with the session of a login it works.
    let own = format!("/users/{}/reset-password", uuid(admin.id));
    let body = json!({"password": "newsecurepassword123"});
    detail(
        &call(&app, Method::PATCH, &own, k, Some(body.clone())).await,
        403,
        "The user doesn't have enough privileges",
    );
    let reset = call(&app, Method::PATCH, &own, &admin.access_token, Some(body)).await;
    reset.assert_status(200);
    assert_user_read(&reset.body, &admin.username, true, true);
    login(&app, &admin.username, "newsecurepassword123")
        .await
        .assert_status(200);

    let deleted = call(&app, Method::DELETE, &format!("/users/{id}"), k, None).await;
    deleted.assert_status(200);
    assert_eq!(deleted.body, json!({"detail": "User deleted"}));
    detail(
        &call(&app, Method::GET, &format!("/users/{id}"), k, None).await,
        404,
        "User not found",
    );

    // The key as a query parameter.
    let r = send(req(&app, Method::GET, &format!("/users/whoami?x-api-key={key}"))).await;
    r.assert_status(200);
    assert_eq!(r.body["id"], uuid(admin.id));
}

async fn user_rules_and_errors(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let other = app.user(Role::User).await;
    let a = admin.access_token.as_str();
    let u = user.access_token.as_str();
    let unknown = id_to_uuid(424_242);

    // List: superusers only.
    detail(
        &call(&app, Method::GET, "/users/", u, None).await,
        403,
        "The user doesn't have enough privileges",
    );
    // Read: oneself, or a superuser.
    call(&app, Method::GET, &format!("/users/{}", uuid(user.id)), u, None)
        .await
        .assert_status(200);
    detail(
        &call(&app, Method::GET, &format!("/users/{}", uuid(other.id)), u, None).await,
        403,
        "Permission denied: user:manage is required.",
    );
    detail(
        &call(&app, Method::GET, &format!("/users/{unknown}"), a, None).await,
        404,
        "User not found",
    );
    let bad = call(&app, Method::GET, "/users/not-a-uuid", a, None).await;
    bad.assert_status(422);
    assert_eq!(bad.body["detail"][0]["type"], "uuid_parsing", "{}", bad.text);

    // Patch.
    let other_path = format!("/users/{}", uuid(other.id));
    let self_path = format!("/users/{}", uuid(user.id));
    detail(
        &call(&app, Method::PATCH, &other_path, u, Some(json!({"username": "stolen"}))).await,
        403,
        "Permission denied",
    );
    detail(
        &call(&app, Method::PATCH, &self_path, u, Some(json!({"is_superuser": true}))).await,
        403,
        "Permission denied",
    );
    detail(
        &call(
            &app,
            Method::PATCH,
            &self_path,
            u,
            Some(json!({"password": "password-new-1"})),
        )
        .await,
        400,
        "You can't change your password here",
    );
    detail(
        &call(&app, Method::PATCH, &self_path, u, Some(json!({"is_active": false}))).await,
        403,
        "You can't deactivate your own user account",
    );
    detail(
        &call(
            &app,
            Method::PATCH,
            &format!("/users/{}", uuid(admin.id)),
            a,
            Some(json!({"is_active": false})),
        )
        .await,
        403,
        "You can't deactivate your own user account",
    );
    detail(
        &call(
            &app,
            Method::PATCH,
            &self_path,
            u,
            Some(json!({"username": other.username})),
        )
        .await,
        400,
        "This username is unavailable.",
    );
    detail(
        &call(
            &app,
            Method::PATCH,
            &format!("/users/{unknown}"),
            a,
            Some(json!({"username": "zz"})),
        )
        .await,
        404,
        "User not found",
    );
    let r = call(
        &app,
        Method::PATCH,
        &self_path,
        u,
        Some(json!({"username": "renamed", "profile_image": "/img/a.png", "optins": {"github_starred": true}})),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["username"], "renamed");
    assert_eq!(r.body["profile_image"], "/img/a.png");
    assert_eq!(r.body["optins"]["github_starred"], true);
    assert_eq!(r.body["optins"]["discord_clicked"], false);
    // A superuser sets another's password and takes the superuser flag back.
    call(
        &app,
        Method::PATCH,
        &other_path,
        a,
        Some(json!({"password": "password-set-by-admin", "is_superuser": true})),
    )
    .await
    .assert_status(200);
    login(&app, &other.username, "password-set-by-admin")
        .await
        .assert_status(200);
    let r = call(
        &app,
        Method::PATCH,
        &other_path,
        a,
        Some(json!({"is_superuser": false})),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["is_superuser"], false);
    assert_eq!(r.body["is_active"], true);

    // Reset password: self only; not the current one again; current_password checked.
    let reset = |path: String, body: Value| {
        let app = &app;
        async move { call(app, Method::PATCH, &format!("{path}/reset-password"), u, Some(body)).await }
    };
    detail(
        &reset(other_path.clone(), json!({"password": "password-x-1"})).await,
        400,
        "You can't change another user's password",
    );
    detail(
        &reset(self_path.clone(), json!({"password": user.password})).await,
        400,
        "You can't use your current password",
    );
    detail(
        &reset(
            self_path.clone(),
            json!({"current_password": "wrong-one", "password": "password-x-2"}),
        )
        .await,
        400,
        "Current password is incorrect",
    );
    reset(
        self_path.clone(),
        json!({"current_password": user.password, "password": "password-x-2"}),
    )
    .await
    .assert_status(200);
    login(&app, "renamed", "password-x-2").await.assert_status(200);

    // Delete: superusers only, never oneself.
    detail(
        &call(&app, Method::DELETE, &other_path, u, None).await,
        403,
        "Permission denied",
    );
    detail(
        &call(&app, Method::DELETE, &format!("/users/{}", uuid(admin.id)), a, None).await,
        400,
        "You can't delete your own user account",
    );
    detail(
        &call(&app, Method::DELETE, &format!("/users/{unknown}"), a, None).await,
        404,
        "User not found",
    );
    let r = call(&app, Method::DELETE, &other_path, a, None).await;
    assert_eq!(r.body, json!({"detail": "User deleted"}));
}

async fn list_pages_and_search(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    for i in 0..12 {
        app.core
            .create_user(
                app.core.operator(),
                NewUser {
                    username: Some(format!("member{i:02}")),
                    ..NewUser::default()
                },
            )
            .await
            .unwrap();
    }
    let a = admin.access_token.as_str();
    let r = call(&app, Method::GET, "/users/", a, None).await;
    r.assert_status(200);
    assert_eq!(r.body["total_count"], 13);
    let users = r.body["users"].as_array().unwrap();
    assert_eq!(users.len(), 10);
    assert_eq!(users[1]["username"], "member00");
    let r = call(&app, Method::GET, "/users/?skip=10&limit=10", a, None).await;
    let names: Vec<&str> = r.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["member09", "member10", "member11"]);
    let r = call(&app, Method::GET, "/users/?skip=100", a, None).await;
    assert_eq!(r.body["users"], json!([]));
    assert_eq!(r.body["total_count"], 13);
    let r = call(&app, Method::GET, "/users/?search=member1", a, None).await;
    assert_eq!(r.body["total_count"], 2);
    for bad in ["limit=0", "limit=201", "skip=-1", "limit=x"] {
        let r = call(&app, Method::GET, &format!("/users/?{bad}"), a, None).await;
        r.assert_status(422);
        assert!(r.body["detail"].is_array(), "{bad}: {}", r.text);
    }
}

async fn api_keys(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let created = call(
        &app,
        Method::POST,
        "/api_key/",
        &user.access_token,
        Some(json!({"name": "mine"})),
    )
    .await;
    created.assert_status(200);
    let key = created.body["api_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk-") && key.len() == 46, "{key}");
    assert_eq!(created.body["name"], "mine");
    assert_eq!(created.body["user_id"], uuid(user.id));
    let unnamed = call(&app, Method::POST, "/api_key/", &key, Some(json!({}))).await;
    unnamed.assert_status(200);

    let list = call(&app, Method::GET, "/api_key/", &key, None).await;
    list.assert_status(200);
    assert_eq!(list.body["total_count"], 2);
    assert_eq!(list.body["user_id"], uuid(user.id));
    let listed = list.body["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created.body["id"])
        .unwrap()
        .clone();
    let masked = listed["api_key"].as_str().unwrap();
    assert_eq!(masked.len(), 46);
    assert_eq!(&masked[..8], &key[..8]);
    assert!(masked[8..].chars().all(|c| c == '*'), "{masked}");
    // Another user's keys are not listed.
    let theirs = call(&app, Method::GET, "/api_key/", &admin.access_token, None).await;
    assert_eq!(theirs.body["total_count"], 0);
    detail(
        &call(
            &app,
            Method::DELETE,
            &format!("/api_key/{}", created.body["id"].as_str().unwrap()),
            &admin.access_token,
            None,
        )
        .await,
        400,
        "API Key not found",
    );

    let path = format!("/api_key/{}", created.body["id"].as_str().unwrap());
    let r = call(&app, Method::DELETE, &path, &user.access_token, None).await;
    assert_eq!(r.body, json!({"detail": "API Key deleted"}));
    detail(
        &call(&app, Method::GET, "/users/whoami", &key, None).await,
        403,
        "Invalid or missing API key",
    );
    detail(
        &call(&app, Method::DELETE, &path, &user.access_token, None).await,
        400,
        "API Key not found",
    );
    detail(
        &send(req(&app, Method::GET, "/api_key/")).await,
        403,
        "An API key must be passed as query or header",
    );
}

async fn refresh_logout_and_auto_login(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let r = login(&app, &admin.username, &admin.password).await;
    let refresh = cookie_value(&r, "refresh_token_lf").unwrap();
    let refreshed =
        send(req(&app, Method::POST, "/refresh").header("cookie", format!("refresh_token_lf={refresh}"))).await;
    refreshed.assert_status(200);
    assert_eq!(refreshed.body["token_type"], "bearer");
    let access = refreshed.body["access_token"].as_str().unwrap().to_string();
    let new_refresh = cookie_value(&refreshed, "refresh_token_lf").unwrap();
    assert_ne!(new_refresh, refresh);
    call(&app, Method::GET, "/users/whoami", &access, None)
        .await
        .assert_status(200);
    detail(
        &send(req(&app, Method::POST, "/refresh")).await,
        401,
        "Invalid refresh token",
    );
    detail(
        &send(req(&app, Method::POST, "/refresh").header("cookie", "refresh_token_lf=nope")).await,
        401,
        "Invalid refresh token",
    );

    let out =
        send(req(&app, Method::POST, "/logout").header("cookie", format!("refresh_token_lf={new_refresh}"))).await;
    out.assert_status(200);
    assert_eq!(out.body, json!({"message": "Logout successful"}));
    let cleared = set_cookies(&out);
    for name in ["refresh_token_lf", "access_token_lf", "apikey_tkn_lflw"] {
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0")),
            "{cleared:?}"
        );
    }
    detail(
        &send(req(&app, Method::POST, "/refresh").header("cookie", format!("refresh_token_lf={new_refresh}"))).await,
        401,
        "Invalid refresh token",
    );
    detail(
        &call(&app, Method::GET, "/users/whoami", &access, None).await,
        401,
        "Could not validate credentials",
    );
    let auto = send(req(&app, Method::GET, "/auto_login")).await;
    auto.assert_status(403);
    assert_eq!(
        auto.body,
        json!({"detail": {"message": "Auto login is disabled.", "auto_login": false}})
    );
}

/// A superuser's PATCH sets the optins on the stored user when it writes, not on a copy read
/// before: a preference change made while the request waits (here, for its password's hash
/// behind a queue of others on the one hashing thread) is kept.
async fn concurrent_preference_changes_are_kept(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.hash_concurrency = 1).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let owner = app.core.authenticate_bearer(&user.access_token).await.unwrap();
    // Enough hashing queued ahead of the request to keep it waiting for about two seconds.
    let started = std::time::Instant::now();
    app.core.hasher.hash("a-password-to-time").await.unwrap();
    let one = started.elapsed().max(std::time::Duration::from_millis(1));
    let queued = (2000 / one.as_millis().max(1)).clamp(2, 400) as usize;
    let backlog: Vec<_> = (0..queued)
        .map(|_| {
            let hasher = app.core.hasher.clone();
            tokio::spawn(async move { hasher.hash("a-password-in-the-queue").await })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let patch = {
        let rb = req(&app, Method::PATCH, &format!("/users/{}", uuid(user.id)))
            .bearer_auth(&admin.access_token)
            .json(&json!({"password": "password-set-by-admin", "optins": {"github_starred": true}}));
        tokio::spawn(send(rb))
    };
    // The request has read the user and waits for its hash; another change lands meanwhile.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.core
        .update_own_preferences(&owner, &|p: &mut serde_json::Map<String, Value>| {
            p.insert("theme".into(), json!("dark"));
        })
        .await
        .unwrap();
    assert!(!patch.is_finished(), "the PATCH must still be waiting for its hash");
    let r = patch.await.unwrap();
    r.assert_status(200);
    assert_eq!(r.body["optins"]["github_starred"], true);
    for job in backlog {
        job.await.unwrap().unwrap();
    }
    let a = app.core.authenticate_bearer(&admin.access_token).await.unwrap();
    let stored = app.core.get_user(&a, user.id).await.unwrap().preferences;
    assert_eq!(stored["theme"], "dark", "preferences: {stored}");
    assert_eq!(stored["optins"]["github_starred"], true, "preferences: {stored}");
}

/// Langflow's avatar picker sends a picture of its bundled set, `{folder}/{file}`: kept as
/// given; URLs and absolute paths are the avatar; anything else is refused naming
/// `profile_image`, never Roster's own field.
async fn profile_images_of_langflows_set(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let u = user.access_token.as_str();
    let me = format!("/users/{}", uuid(user.id));
    let patch = |body: Value| {
        let (app, me) = (&app, &me);
        async move { call(app, Method::PATCH, me, u, Some(body)).await }
    };
    let whoami = || async { call(&app, Method::GET, "/users/whoami", u, None).await };

    for picture in ["Space/046-rocket.svg", "People/People Avatar-01-01.svg"] {
        let r = patch(json!({"profile_image": picture})).await;
        r.assert_status(200);
        assert_eq!(r.body["profile_image"], picture, "{}", r.text);
        assert_eq!(whoami().await.body["profile_image"], picture);
    }
    // Another change keeps it.
    let r = patch(json!({"optins": {"github_starred": true}})).await;
    assert_eq!(r.body["profile_image"], "People/People Avatar-01-01.svg");
    // A URL replaces it, and a picture of the set replaces the URL.
    let r = patch(json!({"profile_image": "https://example.org/me.png"})).await;
    r.assert_status(200);
    assert_eq!(r.body["profile_image"], "https://example.org/me.png");
    let r = patch(json!({"profile_image": "Space/046-rocket.svg"})).await;
    assert_eq!(r.body["profile_image"], "Space/046-rocket.svg");
    let r = patch(json!({"profile_image": null})).await;
    r.assert_status(200);
    assert_eq!(r.body["profile_image"], Value::Null);
    assert_eq!(whoami().await.body["profile_image"], Value::Null);

    let rule =
        "Value error, must be an http(s) URL, an absolute path, or a picture of Langflow's set as {folder}/{file}";
    for bad in ["../../etc/passwd", "rocket.svg", "javascript:alert(1)"] {
        let r = patch(json!({"profile_image": bad})).await;
        r.assert_status(422);
        assert_eq!(
            r.body,
            json!({"detail": [{
                "type": "value_error",
                "loc": ["body", "profile_image"],
                "msg": rule,
                "input": bad,
                "ctx": {"error": {}},
            }]}),
            "{bad}"
        );
    }
    // The core's avatar rule (no spaces in a URL), under the client's field name.
    let r = patch(json!({"profile_image": "/a b.png"})).await;
    r.assert_status(422);
    assert_eq!(
        r.body["detail"][0]["loc"],
        json!(["body", "profile_image"]),
        "{}",
        r.text
    );
    assert_eq!(r.body["detail"][0]["input"], "/a b.png");
    assert!(!r.text.contains("avatar"), "{}", r.text);
    assert_eq!(whoami().await.body["profile_image"], Value::Null);
}

/// Langflow 1.13's 401s for an access token whose user was deactivated (`User account is
/// inactive`) or deleted (its user lookup fails: `Token authentication failed`).
async fn tokens_of_inactive_and_deleted_users(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let a = admin.access_token.as_str();

    let user = app.user(Role::User).await;
    call(&app, Method::GET, "/users/whoami", &user.access_token, None)
        .await
        .assert_status(200);
    call(
        &app,
        Method::PATCH,
        &format!("/users/{}", uuid(user.id)),
        a,
        Some(json!({"is_active": false})),
    )
    .await
    .assert_status(200);
    let r = call(&app, Method::GET, "/users/whoami", &user.access_token, None).await;
    detail(&r, 401, "User account is inactive");
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    // The access cookie is the same token.
    let by_cookie =
        send(req(&app, Method::GET, "/api_key/").header("cookie", format!("access_token_lf={}", user.access_token)))
            .await;
    detail(&by_cookie, 401, "User account is inactive");

    let gone = app.user(Role::User).await;
    call(&app, Method::DELETE, &format!("/users/{}", uuid(gone.id)), a, None)
        .await
        .assert_status(200);
    detail(
        &call(&app, Method::GET, "/users/whoami", &gone.access_token, None).await,
        401,
        "Token authentication failed",
    );
    // A session ended while the account may still sign in: the token is simply invalid.
    let out = app.user(Role::User).await;
    send(req(&app, Method::POST, "/logout").bearer_auth(&out.access_token))
        .await
        .assert_status(200);
    detail(
        &call(&app, Method::GET, "/users/whoami", &out.access_token, None).await,
        401,
        "Could not validate credentials",
    );
}

backend_tests!(
    login_whoami_and_error_shapes,
    signup_waits_for_approval,
    seed_examples_with_an_api_key,
    user_rules_and_errors,
    list_pages_and_search,
    api_keys,
    refresh_logout_and_auto_login,
    concurrent_preference_changes_are_kept,
    profile_images_of_langflows_set,
    tokens_of_inactive_and_deleted_users,
);
