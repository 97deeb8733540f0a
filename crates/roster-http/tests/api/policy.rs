//! Account-security policy across every dialect: what a reset by link revokes, what an API key
//! may not do on its own, scopes that follow their owner's role, who the primary administrator
//! is and that no administrator deletes themself, and the throttle on current-password checks.

use reqwest::Method;
use roster_core::Role;
use roster_core::id::id_to_uuid;
use roster_core::service::AdminUserChanges;
use roster_core::time::Duration;
use roster_testkit::app::{TestApp, TestResponse, TestUser};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

/// A request with the credential as `x-api-key` when it is an API key, else as a bearer token.
async fn call(app: &TestApp, method: Method, path: &str, credential: &str, body: Option<&Value>) -> TestResponse {
    let mut rb = app.client.request(method, format!("{}{path}", app.address));
    rb = if credential.starts_with("rst_") || credential.starts_with("sk-") {
        rb.header("x-api-key", credential)
    } else {
        rb.bearer_auth(credential)
    };
    if let Some(body) = body {
        rb = rb.json(body);
    }
    TestApp::read(rb.send().await.expect("request sent")).await
}

/// An `sk-` key made through Langflow's route.
async fn langflow_key(app: &TestApp, user: &TestUser) -> String {
    let r = call(
        app,
        Method::POST,
        "/langflow/api/v1/api_key/",
        &user.access_token,
        Some(&json!({"name": "lf"})),
    )
    .await;
    r.assert_status(200);
    let key = r.body["api_key"].as_str().expect("api_key").to_string();
    assert!(key.starts_with("sk-"), "{key}");
    key
}

/// Whether an API key (or token) still authenticates on the native API.
async fn works(app: &TestApp, credential: &str) -> bool {
    let r = call(app, Method::GET, "/v1/me", credential, None).await;
    match r.status.as_u16() {
        200 => true,
        401 => false,
        other => panic!("unexpected {other}: {}", r.text),
    }
}

// ---------------------------------------------------------------------------------------
// 4. A reset by link, or an admin-set password when asked, revokes every API key.

async fn a_reset_by_link_revokes_every_api_key(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    // Someone holding the account made keys of both forms; the owner reclaims it by mail.
    for route in ["native", "librechat"] {
        let squatter = app.user(Role::User).await;
        let rst = app.api_key(&squatter, &[]).await;
        let sk = langflow_key(&app, &squatter).await;
        assert!(works(&app, &rst).await && works(&app, &sk).await);
        let link = app
            .core
            .create_password_reset(app.core.operator(), squatter.id, Duration::hours(1))
            .await
            .unwrap();
        let r = match route {
            "native" => {
                app.post(
                    "/v1/auth/reset-password",
                    None,
                    &json!({"token": link.token, "new_password": "the owner's password"}),
                )
                .await
            }
            _ => {
                app.post(
                    "/librechat/api/auth/resetPassword",
                    None,
                    &json!({"userId": squatter.id.to_object_id(), "token": link.token,
                            "password": "the owner's password", "confirm_password": "the owner's password"}),
                )
                .await
            }
        };
        assert!(r.status.is_success(), "{route}: {}", r.text);
        assert!(!works(&app, &rst).await, "{route}: the rst_ key still works");
        assert!(!works(&app, &sk).await, "{route}: the sk- key still works");
        assert!(
            !works(&app, &squatter.access_token).await,
            "{route}: the session still works"
        );
        assert!(app.core.store.list_api_keys(squatter.id).await.unwrap().is_empty());
        app.login(&squatter.email, "the owner's password")
            .await
            .assert_status(200);
    }
}

async fn an_admin_set_password_revokes_api_keys_when_asked(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let a = Some(admin.access_token.as_str());
    let user = app.user(Role::User).await;
    let key = app.api_key(&user, &[]).await;
    let path = format!("/v1/users/{}", user.id);
    // Not asked: sessions end, keys stay.
    app.patch(&path, a, &json!({"password": "first new password"}))
        .await
        .assert_status(200);
    assert!(works(&app, &key).await);
    assert!(!works(&app, &user.access_token).await);
    // The flag needs a password to go with it.
    let r = app.patch(&path, a, &json!({"revoke_api_keys": true})).await;
    r.assert_problem(422, "invalid_field");
    assert_eq!(r.body["field"], "revoke_api_keys");
    assert!(works(&app, &key).await);
    // Asked: the keys go too, with the rest of the change.
    let sk = langflow_key(&app, &app.user(Role::User).await).await;
    let r = app
        .patch(
            &path,
            a,
            &json!({"password": "second new password", "revoke_api_keys": true, "name": "Renamed"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["name"], "Renamed");
    assert!(!works(&app, &key).await);
    assert!(works(&app, &sk).await, "another user's key is untouched");
    app.login(&user.email, "second new password").await.assert_status(200);
    // The command line's --revoke-keys takes the same path.
    let login = app.login(&user.email, "second new password").await;
    let token = login.body["access_token"].as_str().unwrap().to_string();
    let r = app
        .post("/v1/me/api-keys", Some(&token), &json!({"name": "again"}))
        .await;
    r.assert_status(201);
    let key = r.body["secret"].as_str().unwrap().to_string();
    let done = app
        .core
        .reset_password(app.core.operator(), user.id, "third new password", true)
        .await
        .unwrap();
    assert_eq!(done.api_keys_revoked, 1);
    assert!(!works(&app, &key).await && !works(&app, &token).await);
}

// ---------------------------------------------------------------------------------------
// 5. An API key alone changes no password, email or second factor, and deletes no account.

async fn an_api_key_alone_cannot_take_over_the_account(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let rst = app.api_key(&user, &[]).await;
    let sk = langflow_key(&app, &user).await;
    let uid = id_to_uuid(user.id.0);
    let new_password = json!({"current_password": user.password, "new_password": "a stolen password"});
    for key in [&rst, &sk] {
        // Native: password, email, two-factor.
        call(&app, Method::POST, "/v1/me/password", key, Some(&new_password))
            .await
            .assert_problem(403, "forbidden");
        call(
            &app,
            Method::PATCH,
            "/v1/me",
            key,
            Some(&json!({"email": "thief@example.org"})),
        )
        .await
        .assert_problem(403, "forbidden");
        call(&app, Method::POST, "/v1/me/2fa/setup", key, None)
            .await
            .assert_problem(403, "forbidden");
        // Langflow: reset-password has no current password at all.
        let r = call(
            &app,
            Method::PATCH,
            &format!("/langflow/api/v1/users/{uid}/reset-password"),
            key,
            Some(&json!({"password": "a stolen password"})),
        )
        .await;
        r.assert_status(403);
        assert!(r.body["detail"].is_string(), "{}", r.text);
        // LibreChat: deletion and two-factor.
        let r = call(&app, Method::DELETE, "/librechat/api/user/delete", key, None).await;
        r.assert_status(403);
        assert!(r.body["message"].is_string(), "{}", r.text);
        call(&app, Method::GET, "/librechat/api/auth/2fa/enable", key, None)
            .await
            .assert_status(403);
        // Plexichat: password and email.
        for body in [
            json!({"password": "a stolen password", "current_password": user.password}),
            json!({"email": "thief@example.org"}),
        ] {
            let r = call(&app, Method::PATCH, "/plexichat/users/@me", key, Some(&body)).await;
            r.assert_status(403);
            assert_eq!(r.body["error"]["code"], 403, "{}", r.text);
        }
        // Open WebUI.
        let r = call(
            &app,
            Method::POST,
            "/openwebui/api/v1/auths/update/password",
            key,
            Some(&json!({"password": user.password, "new_password": "a stolen password"})),
        )
        .await;
        r.assert_status(403);
        assert!(r.body["detail"].is_string(), "{}", r.text);
        // What a key may still do: read, and change harmless fields.
        call(&app, Method::PATCH, "/v1/me", key, Some(&json!({"name": "Still Me"})))
            .await
            .assert_status(200);
    }
    // Nothing changed: the password, the email, the account.
    app.login(&user.email, &user.password).await.assert_status(200);
    assert!(!app.core.two_factor_status(user.id).await.unwrap().enabled);
    assert!(works(&app, &rst).await);
    // With the session from a login, the same changes work.
    let t = Some(user.access_token.as_str());
    app.post("/v1/me/password", t, &new_password).await.assert_status(204);
    app.patch("/v1/me", t, &json!({"email": "new-address@example.org"}))
        .await
        .assert_status(200);
}

async fn an_admin_key_administers_others_but_not_itself(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let key = app.api_key(&admin, &[]).await;
    let user = app.user(Role::User).await;
    // Other users: an admin's key is what automation uses.
    call(
        &app,
        Method::PATCH,
        &format!("/v1/users/{}", user.id),
        &key,
        Some(&json!({"password": "set by automation", "email": "moved@example.org"})),
    )
    .await
    .assert_status(200);
    // Itself: the sensitive fields need a session, on the native and the Langflow route.
    for body in [
        json!({"password": "a stolen password"}),
        json!({"email": "thief@example.org"}),
    ] {
        call(
            &app,
            Method::PATCH,
            &format!("/v1/users/{}", admin.id),
            &key,
            Some(&body),
        )
        .await
        .assert_problem(403, "forbidden");
    }
    let sk = langflow_key(&app, &admin).await;
    call(
        &app,
        Method::PATCH,
        &format!("/langflow/api/v1/users/{}", id_to_uuid(admin.id.0)),
        &sk,
        Some(&json!({"password": "a stolen password"})),
    )
    .await
    .assert_status(403);
    app.login(&admin.email, &admin.password).await.assert_status(200);
}

// ---------------------------------------------------------------------------------------
// 6. Scopes hold only while their owner may grant them.

async fn events(app: &TestApp, key: &str) -> u16 {
    call(app, Method::GET, "/v1/events", key, None).await.status.as_u16()
}

async fn introspect(app: &TestApp, key: &str) -> TestResponse {
    let request = app
        .client
        .post(format!("{}/v1/introspect", app.address))
        .header("x-api-key", key)
        .form(&[("token", key)]);
    TestApp::read(request.send().await.unwrap()).await
}

async fn scopes_end_with_the_role_that_granted_them(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _primary = app.admin().await;
    let admin = app.user(Role::Admin).await;
    let key = app.api_key(&admin, &["events", "introspect"]).await;
    assert_eq!(events(&app, &key).await, 200);
    let r = introspect(&app, &key).await;
    r.assert_status(200);
    assert_eq!(r.body["scope"], "events introspect");
    app.set_user(
        admin.id,
        AdminUserChanges {
            role: Some(Role::User),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(events(&app, &key).await, 403);
    introspect(&app, &key).await.assert_problem(403, "forbidden");
    // The key itself still works, without its scopes.
    assert!(works(&app, &key).await);
    // Made admin again, the grant holds again.
    app.set_user(
        admin.id,
        AdminUserChanges {
            role: Some(Role::Admin),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(events(&app, &key).await, 200);
    introspect(&app, &key).await.assert_status(200);
}

// ---------------------------------------------------------------------------------------
// 8. No administrator deletes themself; the primary administrator is the oldest admin.

async fn no_admin_deletes_itself_through_any_route(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let primary = app.admin().await;
    let second = app.user(Role::Admin).await;
    for admin in [&primary, &second] {
        let r = app
            .request(
                Method::DELETE,
                "/librechat/api/user/delete",
                Some(&admin.access_token),
                None,
            )
            .await;
        r.assert_status(403);
        assert_eq!(
            r.body["message"], "Administrators cannot delete their own account",
            "{}",
            r.text
        );
        app.delete(&format!("/v1/users/{}", admin.id), Some(&admin.access_token))
            .await
            .assert_problem(403, "forbidden");
        let r = app
            .delete(
                &format!("/openwebui/api/v1/users/{}", id_to_uuid(admin.id.0)),
                Some(&admin.access_token),
            )
            .await;
        r.assert_status(403);
        assert!(works(&app, &admin.access_token).await);
    }
    // A user still may (deletion is allowed by default).
    let user = app.user(Role::User).await;
    app.request(
        Method::DELETE,
        "/librechat/api/user/delete",
        Some(&user.access_token),
        None,
    )
    .await
    .assert_status(200);
}

async fn the_primary_admin_is_the_oldest_admin(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let first = app.admin().await;
    let user = app.user(Role::User).await;
    let second = app.user(Role::Admin).await;
    let third = app.user(Role::Admin).await;
    assert_eq!(app.core.primary_admin().await.unwrap(), Some(first.id));
    // The earliest account goes (the command line may delete any admin but the last).
    app.core.delete_user(app.core.operator(), first.id).await.unwrap();
    assert_eq!(app.core.primary_admin().await.unwrap(), Some(second.id));
    // The oldest remaining account, a plain user, is no primary admin: admins may change it.
    let update = |target: &TestUser, by: &TestUser, body: Value| {
        let path = format!("/openwebui/api/v1/users/{}/update", id_to_uuid(target.id.0));
        let token = by.access_token.clone();
        let app = &app;
        async move { app.post(&path, Some(&token), &body).await }
    };
    update(&user, &third, json!({"name": "Renamed"}))
        .await
        .assert_status(200);
    // The oldest admin is, on every route.
    let r = update(&second, &third, json!({"role": "user"})).await;
    r.assert_status(403);
    let a = Some(third.access_token.as_str());
    let path = format!("/v1/users/{}", second.id);
    app.patch(&path, a, &json!({"role": "user"}))
        .await
        .assert_problem(403, "forbidden");
    app.patch(&path, a, &json!({"name": "Renamed"}))
        .await
        .assert_problem(403, "forbidden");
    app.delete(&path, a).await.assert_problem(403, "forbidden");
    app.post(&format!("{path}/sessions/revoke"), a, &json!({}))
        .await
        .assert_problem(403, "forbidden");
    call(
        &app,
        Method::PATCH,
        &format!("/langflow/api/v1/users/{}", id_to_uuid(second.id.0)),
        &third.access_token,
        Some(&json!({"is_superuser": false})),
    )
    .await
    .assert_status(403);
    call(
        &app,
        Method::DELETE,
        &format!("/langflow/api/v1/users/{}", id_to_uuid(second.id.0)),
        &third.access_token,
        None,
    )
    .await
    .assert_status(403);
    let kept = app.core.store.get_user(second.id).await.unwrap();
    assert_eq!(kept.role, Role::Admin);
    assert!(works(&app, &second.access_token).await);
    // The primary admin changes itself; on Open WebUI's route it stays an admin.
    let own = format!("/v1/users/{}", second.id);
    let s = Some(second.access_token.as_str());
    app.patch(&own, s, &json!({"name": "Primary"})).await.assert_status(200);
    update(&second, &second, json!({"role": "user"}))
        .await
        .assert_status(403);
    // Other admins are administered as before.
    app.patch(&format!("/v1/users/{}", third.id), s, &json!({"role": "user"}))
        .await
        .assert_status(200);
}

// ---------------------------------------------------------------------------------------
// 10. Every current-password check is throttled like a login.

async fn current_password_guesses_are_throttled(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    for route in ["native", "plexichat", "openwebui", "langflow"] {
        let user = app.user(Role::User).await;
        let guess = |n: usize| {
            let wrong = format!("wrong guess {n}");
            let (method, path, body) = match route {
                "native" => (
                    Method::POST,
                    "/v1/me/password".to_string(),
                    json!({"current_password": wrong, "new_password": "the thief's password"}),
                ),
                "plexichat" => (
                    Method::PATCH,
                    "/plexichat/users/@me".to_string(),
                    json!({"current_password": wrong, "password": "the thief's password"}),
                ),
                "openwebui" => (
                    Method::POST,
                    "/openwebui/api/v1/auths/update/password".to_string(),
                    json!({"password": wrong, "new_password": "the thief's password"}),
                ),
                _ => (
                    Method::PATCH,
                    format!("/langflow/api/v1/users/{}/reset-password", id_to_uuid(user.id.0)),
                    json!({"current_password": wrong, "password": "the thief's password"}),
                ),
            };
            let token = user.access_token.clone();
            let app = &app;
            async move { call(app, method, &path, &token, Some(&body)).await }
        };
        let mut throttled = None;
        for n in 0..45 {
            let r = guess(n).await;
            if r.status.as_u16() == 429 {
                throttled = Some(r);
                break;
            }
            assert!(r.status.is_client_error(), "{route}: {}", r.text);
        }
        let r = throttled.unwrap_or_else(|| panic!("{route}: 45 wrong current passwords, no 429"));
        assert!(r.headers.contains_key("retry-after"), "{route}");
        match route {
            "native" => {
                r.assert_problem(429, "rate_limited");
            }
            "plexichat" => assert_eq!(r.body["error"]["code"], 429, "{}", r.text),
            _ => assert!(r.body["detail"].is_string(), "{route}: {}", r.text),
        }
        // The account is locked for logins too, until the lock ends.
        app.login(&user.email, &user.password).await.assert_status(429);
        app.advance(Duration::minutes(16));
        app.login(&user.email, &user.password).await.assert_status(200);
    }
}

backend_tests!(
    a_reset_by_link_revokes_every_api_key,
    an_admin_set_password_revokes_api_keys_when_asked,
    an_api_key_alone_cannot_take_over_the_account,
    an_admin_key_administers_others_but_not_itself,
    scopes_end_with_the_role_that_granted_them,
    no_admin_deletes_itself_through_any_route,
    the_primary_admin_is_the_oldest_admin,
    current_password_guesses_are_throttled,
);
