//! The Langflow dialect's store API key (`POST /api/v1/api_key/store`, kept sealed, shown as
//! its encrypted value like Langflow's) and auto-login (`GET /api/v1/auto_login`, off by
//! default; when configured, tokens for the configured superuser).

use super::two_factor::enable;
use reqwest::Method;
use roster_core::Role;
use roster_core::service::{AdminUserChanges, NewUser};
use roster_http::HttpConfig;
use roster_testkit::app::{TestApp, TestResponse, spawn_app_with_http};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

const P: &str = "/langflow/api/v1";

async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> TestResponse {
    app.request(method, &format!("{P}{path}"), token, body).await
}

fn cookie_value(r: &TestResponse, name: &str) -> Option<String> {
    r.headers.get_all("set-cookie").iter().find_map(|c| {
        let c = c.to_str().ok()?;
        let (pair, _) = c.split_once(';').unwrap_or((c, ""));
        let (n, v) = pair.split_once('=')?;
        (n == name).then(|| v.to_string())
    })
}

async fn form_login(app: &TestApp, username: &str, password: &str) -> TestResponse {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("username", username)
        .append_pair("password", password)
        .finish();
    let r = app
        .client
        .post(format!("{}{P}/login", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    TestApp::read(r).await
}

async fn store_api_key_is_kept_sealed(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let t = Some(user.access_token.as_str());
    let secret = "lf-store-key-1234567890";

    let saved = call(
        &app,
        Method::POST,
        "/api_key/store",
        t,
        Some(&json!({"api_key": secret})),
    )
    .await;
    saved.assert_status(200);
    assert_eq!(saved.body, json!({"detail": "API Key saved"}));
    let cookie = cookie_value(&saved, "apikey_tkn_lflw").unwrap();
    assert!(cookie.starts_with("rsb1.") && !cookie.contains(secret), "{cookie}");

    // Sealed at rest; the core opens it for its owner.
    let stored = app
        .core
        .store
        .get_user_secret(user.id, "langflow_store_api_key")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.starts_with("rsb1.") && !stored.contains(secret));
    assert_eq!(
        app.core.langflow_store_api_key(user.id).await.unwrap().as_deref(),
        Some(secret)
    );

    // The user object shows the encrypted value, as Langflow does; never the key.
    let me = call(&app, Method::GET, "/users/whoami", t, None).await;
    me.assert_status(200);
    assert_eq!(me.body["store_api_key"], stored);
    let list = call(&app, Method::GET, "/users/?limit=50", Some(&admin.access_token), None).await;
    list.assert_status(200);
    assert!(!list.text.contains(secret));
    let users = list.body["users"].as_array().unwrap();
    let row = |name: &str| users.iter().find(|u| u["username"] == name).unwrap().clone();
    assert_eq!(row(&user.username)["store_api_key"], stored);
    assert_eq!(row(&admin.username)["store_api_key"], Value::Null);
    // Login sets the cookie to it.
    let login = form_login(&app, &user.username, &user.password).await;
    login.assert_status(200);
    assert_eq!(
        cookie_value(&login, "apikey_tkn_lflw").as_deref(),
        Some(stored.as_str())
    );
    let admin_login = form_login(&app, &admin.username, &admin.password).await;
    assert_eq!(cookie_value(&admin_login, "apikey_tkn_lflw").as_deref(), Some(""));

    // Replacing and removing; bad bodies; no credential.
    call(
        &app,
        Method::POST,
        "/api_key/store",
        t,
        Some(&json!({"api_key": "second"})),
    )
    .await
    .assert_status(200);
    assert_eq!(
        app.core.langflow_store_api_key(user.id).await.unwrap().as_deref(),
        Some("second")
    );
    call(&app, Method::POST, "/api_key/store", t, Some(&json!({"api_key": ""})))
        .await
        .assert_status(200);
    assert_eq!(app.core.langflow_store_api_key(user.id).await.unwrap(), None);
    assert_eq!(
        call(&app, Method::GET, "/users/whoami", t, None).await.body["store_api_key"],
        Value::Null
    );
    call(&app, Method::POST, "/api_key/store", t, Some(&json!({})))
        .await
        .assert_status(422);
    let long = "k".repeat(4097);
    let r = call(&app, Method::POST, "/api_key/store", t, Some(&json!({"api_key": long}))).await;
    r.assert_status(400);
    assert!(r.body["detail"].as_str().unwrap().contains("api_key"), "{}", r.text);
    call(
        &app,
        Method::POST,
        "/api_key/store",
        None,
        Some(&json!({"api_key": "x"})),
    )
    .await
    .assert_status(403);
    // A key goes with its user.
    call(
        &app,
        Method::POST,
        "/api_key/store",
        t,
        Some(&json!({"api_key": "third"})),
    )
    .await
    .assert_status(200);
    app.core.delete_user(app.core.operator(), user.id).await.unwrap();
    assert_eq!(
        app.core
            .store
            .get_user_secret(user.id, "langflow_store_api_key")
            .await
            .unwrap(),
        None
    );
}

async fn auto_login_when_configured(backend: Backend) {
    // Off by default.
    let off = roster_testkit::or_skip!(spawn_app(backend).await);
    let r = call(&off, Method::GET, "/auto_login", None, None).await;
    r.assert_status(403);
    assert_eq!(
        r.body,
        json!({"detail": {"message": "Auto login is disabled.", "auto_login": false}})
    );

    let http = HttpConfig {
        langflow_auto_login: true,
        ..HttpConfig::default()
    };
    let app = roster_testkit::or_skip!(spawn_app_with_http(backend, |_| {}, http).await);
    let _admin = app.admin().await;
    let r = call(&app, Method::GET, "/auto_login", None, None).await;
    r.assert_status(400);
    assert_eq!(r.body, json!({"detail": "Super user hasn't been created"}));
    // `langflow` exists but is not a superuser: still refused.
    let created = app
        .core
        .create_user(
            app.core.operator(),
            NewUser {
                username: Some("langflow".into()),
                password: Some("password-langflow".into()),
                role: Some(Role::User),
                ..NewUser::default()
            },
        )
        .await
        .unwrap();
    call(&app, Method::GET, "/auto_login", None, None)
        .await
        .assert_status(400);
    app.set_user(
        created.id,
        AdminUserChanges {
            role: Some(Role::Admin),
            ..Default::default()
        },
    )
    .await;

    let r = call(&app, Method::GET, "/auto_login", None, None).await;
    r.assert_status(200);
    assert_eq!(r.body["token_type"], "bearer");
    let token = r.body["access_token"].as_str().unwrap().to_string();
    // A refresh token, in the body and the `refresh_token_lf` cookie, as Langflow 1.13.
    let refresh = r.body["refresh_token"].as_str().expect("a refresh token").to_string();
    assert_eq!(cookie_value(&r, "refresh_token_lf").as_deref(), Some(refresh.as_str()));
    assert_eq!(cookie_value(&r, "access_token_lf").as_deref(), Some(token.as_str()));
    assert_eq!(cookie_value(&r, "apikey_tkn_lflw").as_deref(), Some(""));
    let cookies: Vec<String> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .collect();
    let refresh_cookie = cookies.iter().find(|c| c.starts_with("refresh_token_lf=")).unwrap();
    assert!(
        refresh_cookie.contains("HttpOnly") && refresh_cookie.contains("Max-Age=604800"),
        "{refresh_cookie}"
    );
    // The access cookie lasts the browser session.
    let access_cookie = cookies.iter().find(|c| c.starts_with("access_token_lf=")).unwrap();
    assert!(!access_cookie.contains("Max-Age"), "{access_cookie}");
    // The client refreshes right after.
    let refreshed = app
        .client
        .post(format!("{}{P}/refresh", app.address))
        .header("cookie", format!("refresh_token_lf={refresh}"))
        .send()
        .await
        .unwrap();
    let refreshed = TestApp::read(refreshed).await;
    refreshed.assert_status(200);
    assert!(refreshed.body["access_token"].is_string());
    assert_ne!(
        cookie_value(&refreshed, "refresh_token_lf").as_deref(),
        Some(refresh.as_str())
    );
    let me = call(&app, Method::GET, "/users/whoami", Some(&token), None).await;
    me.assert_status(200);
    assert_eq!(me.body["username"], "langflow");
    assert_eq!(me.body["is_superuser"], true);
    assert!(me.body["last_login_at"].is_string());

    // A superuser with two-factor authentication is never signed in without the code.
    let user = roster_testkit::app::TestUser {
        id: created.id,
        email: String::new(),
        username: "langflow".into(),
        password: "password-langflow".into(),
        access_token: token.clone(),
        refresh_token: String::new(),
    };
    enable(&app, &user).await;
    let r = call(&app, Method::GET, "/auto_login", None, None).await;
    r.assert_status(403);
    assert!(r.text.contains("two-factor"), "{}", r.text);
}

backend_tests!(store_api_key_is_kept_sealed, auto_login_when_configured);
