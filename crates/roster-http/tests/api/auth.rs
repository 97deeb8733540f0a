//! Registration, login, refresh, logout, tokens and introspection.

use reqwest::Method;
use roster_core::Role;
use roster_core::time::Duration;
use roster_testkit::app::{TestApp, spawn_app_with};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::json;

async fn form(app: &TestApp, path: &str, token: &str, body: &str) -> roster_testkit::app::TestResponse {
    let r = app
        .client
        .post(format!("{}{}", app.address, path))
        .bearer_auth(token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    TestApp::read(r).await
}

async fn first_user_becomes_admin(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let r = app.register("First@Example.org", "correct horse battery").await;
    r.assert_status(201);
    assert_eq!(r.body["user"]["role"], "admin");
    assert_eq!(r.body["user"]["email"], "first@example.org");
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert!(r.body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert_eq!(r.body["refresh_token"].as_str().unwrap().len(), 43);
    let r = app.register("second@example.org", "correct horse battery").await;
    r.assert_status(201);
    assert_eq!(r.body["user"]["role"], "user");
    assert!(r.body["user"]["id"].as_str().unwrap().parse::<i64>().is_ok());
}

async fn first_admin_is_unique_under_concurrent_registration(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.register(&format!("racer{i}@example.org"), "correct horse battery")
                .await
        }));
    }
    let mut admins = 0;
    for t in tasks {
        let r = t.await.unwrap();
        r.assert_status(201);
        if r.body["user"]["role"] == "admin" {
            admins += 1;
        }
    }
    assert_eq!(admins, 1);
}

async fn registration_validates_every_field(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let cases = [
        (json!({"email": "a@example.org"}), "password"),
        (json!({"email": "a@example.org", "password": "short"}), "password"),
        (json!({"email": "a@example.org", "password": "        "}), "password"),
        (
            json!({"email": "a@example.org", "password": "x".repeat(129)}),
            "password",
        ),
        (json!({"email": "not-an-email", "password": "long enough"}), "email"),
        (json!({"password": "long enough"}), "email"),
        (json!({"username": "a b", "password": "long enough"}), "username"),
        (json!({"username": "x", "password": "long enough"}), "username"),
        (
            json!({"email": "a@example.org", "password": "long enough", "role": "admin"}),
            "role",
        ),
        (json!({"email": 5, "password": "long enough"}), "email"),
    ];
    for (body, field) in cases {
        let r = app.post("/v1/auth/register", None, &body).await;
        r.assert_problem(422, "invalid_field");
        assert_eq!(r.body["field"], field, "for {body}: {}", r.text);
    }
    // Only a username is fine, too.
    app.post(
        "/v1/auth/register",
        None,
        &json!({"username": "only_name", "password": "long enough"}),
    )
    .await
    .assert_status(201);
}

async fn email_and_username_are_unique_ignoring_case(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let body = json!({"email": "ann@example.org", "username": "Ann", "password": "long enough"});
    app.post("/v1/auth/register", None, &body).await.assert_status(201);
    let r = app
        .post(
            "/v1/auth/register",
            None,
            &json!({"email": "ANN@example.org", "password": "long enough"}),
        )
        .await;
    r.assert_problem(409, "conflict");
    assert_eq!(r.body["field"], "email");
    let r = app
        .post(
            "/v1/auth/register",
            None,
            &json!({"email": "b@example.org", "username": "aNN", "password": "long enough"}),
        )
        .await;
    r.assert_problem(409, "conflict");
    assert_eq!(r.body["field"], "username");
}

async fn pending_accounts_get_no_tokens_and_cannot_log_in(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.default_role = Role::Pending).await);
    app.register("admin@example.org", "long enough")
        .await
        .assert_status(201);
    let r = app.register("wait@example.org", "long enough").await;
    r.assert_status(201);
    assert_eq!(r.body["user"]["role"], "pending");
    assert!(r.body.get("access_token").is_none());
    app.login("wait@example.org", "long enough")
        .await
        .assert_problem(403, "account_pending");
}

async fn registration_can_be_switched_off(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.allow_registration = false).await);
    app.register("a@example.org", "long enough")
        .await
        .assert_problem(403, "registration_disabled");
}

async fn configured_minimum_password_length_applies(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.min_password_length = 12).await);
    let r = app.register("a@example.org", "elevenchars").await;
    r.assert_problem(422, "invalid_field");
    assert!(r.body["detail"].as_str().unwrap().contains("12"));
    app.register("a@example.org", "twelve chars").await.assert_status(201);
}

async fn login_by_email_or_username_and_no_enumeration(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    app.login(&user.email.to_uppercase(), &user.password)
        .await
        .assert_status(200);
    let r = app.login(&user.username.to_uppercase(), &user.password).await;
    r.assert_status(200);
    assert!(r.body["user"]["last_login_at"].is_string());
    let wrong = app.login(&user.email, "wrong password").await;
    wrong.assert_problem(401, "invalid_credentials");
    let unknown = app.login("nobody@example.org", "wrong password").await;
    unknown.assert_problem(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    app.login("", "x").await.assert_problem(422, "invalid_field");
}

async fn deactivated_accounts_cannot_log_in(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    app.admin().await;
    let user = app.deactivated_user().await;
    app.login(&user.email, &user.password)
        .await
        .assert_problem(403, "account_disabled");
}

async fn bcrypt_hashes_verify_and_are_upgraded(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let mut stored = app.core.store.get_user(user.id).await.unwrap();
    stored.password_hash = Some(roster_core::user::PasswordHash(bcrypt_hash("from librechat")));
    app.core
        .store
        .update_user(&stored, false, &Default::default())
        .await
        .unwrap();
    app.login(&user.email, &user.password)
        .await
        .assert_problem(401, "invalid_credentials");
    app.login(&user.email, "from librechat").await.assert_status(200);
    let upgraded = app.core.store.get_user(user.id).await.unwrap();
    assert!(upgraded.password_hash.unwrap().0.starts_with("$argon2id$"));
    app.login(&user.email, "from librechat").await.assert_status(200);
}

/// A bcrypt hash of `password` made at cost 4, as the peers' databases hold them.
fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

async fn refresh_rotates_and_reuse_revokes_the_session(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let r = app
        .post("/v1/auth/refresh", None, &json!({"refresh_token": user.refresh_token}))
        .await;
    r.assert_status(200);
    let second_refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    let second_access = r.body["access_token"].as_str().unwrap().to_string();
    assert_ne!(second_refresh, user.refresh_token);
    app.get("/v1/me", Some(&second_access)).await.assert_status(200);
    // The old refresh token again: theft assumed, the whole session goes.
    app.post("/v1/auth/refresh", None, &json!({"refresh_token": user.refresh_token}))
        .await
        .assert_problem(401, "invalid_token");
    app.post("/v1/auth/refresh", None, &json!({"refresh_token": second_refresh}))
        .await
        .assert_problem(401, "invalid_token");
    app.get("/v1/me", Some(&second_access))
        .await
        .assert_problem(401, "invalid_token");
    app.post("/v1/auth/refresh", None, &json!({"refresh_token": "garbage"}))
        .await
        .assert_problem(401, "invalid_token");
}

async fn access_tokens_expire_and_refresh_chains_end(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    app.advance(Duration::minutes(14));
    app.get("/v1/me", Some(&user.access_token)).await.assert_status(200);
    app.advance(Duration::minutes(2));
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    let r = app
        .post("/v1/auth/refresh", None, &json!({"refresh_token": user.refresh_token}))
        .await;
    r.assert_status(200);
    app.advance(Duration::days(31));
    app.post(
        "/v1/auth/refresh",
        None,
        &json!({"refresh_token": r.body["refresh_token"]}),
    )
    .await
    .assert_problem(401, "invalid_token");
}

async fn logout_ends_the_session(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    app.request(Method::POST, "/v1/auth/logout", Some(&user.access_token), None)
        .await
        .assert_status(204);
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    app.post("/v1/auth/refresh", None, &json!({"refresh_token": user.refresh_token}))
        .await
        .assert_problem(401, "invalid_token");
    // By refresh token, without an access token.
    let login = app.login(&user.email, &user.password).await;
    app.post(
        "/v1/auth/logout",
        None,
        &json!({"refresh_token": login.body["refresh_token"]}),
    )
    .await
    .assert_status(204);
    app.get("/v1/me", login.body["access_token"].as_str())
        .await
        .assert_problem(401, "invalid_token");
    app.request(Method::POST, "/v1/auth/logout", None, None)
        .await
        .assert_problem(401, "unauthenticated");
}

async fn access_tokens_verify_with_the_published_keys(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let jwks = app.get("/.well-known/jwks.json", None).await;
    jwks.assert_status(200);
    let key = &jwks.body["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    let header = jsonwebtoken::decode_header(&user.access_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding = jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["roster"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(&user.access_token, &decoding, &validation).unwrap();
    assert_eq!(data.claims["sub"], user.id_str());
    assert!(data.claims["sid"].is_string());
    let ttl = data.claims["exp"].as_i64().unwrap() - data.claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 900);
    // A rotated key signs new tokens; old ones stay valid.
    app.core.rotate_signing_key().await.unwrap();
    app.get("/v1/me", Some(&user.access_token)).await.assert_status(200);
    let fresh = app.login(&user.email, &user.password).await;
    let new_header = jsonwebtoken::decode_header(fresh.body["access_token"].as_str().unwrap()).unwrap();
    assert_ne!(new_header.kid, header.kid);
    assert_eq!(
        app.get("/.well-known/jwks.json", None).await.body["keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn introspection_reports_live_tokens_to_trusted_services(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let service_key = app.api_key(&admin, &["introspect"]).await;
    let r = form(
        &app,
        "/v1/introspect",
        &service_key,
        &format!("token={}", user.access_token),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["sub"], user.id_str());
    assert_eq!(r.body["token_type"], "access_token");
    let r = form(
        &app,
        "/v1/introspect",
        &service_key,
        &format!("token={}", user.refresh_token),
    )
    .await;
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["token_type"], "refresh_token");
    let r = form(&app, "/v1/introspect", &service_key, "token=nonsense").await;
    assert_eq!(r.body, json!({"active": false}));
    // Revocation shows at once.
    app.request(Method::POST, "/v1/auth/logout", Some(&user.access_token), None)
        .await
        .assert_status(204);
    let r = form(
        &app,
        "/v1/introspect",
        &service_key,
        &format!("token={}", user.access_token),
    )
    .await;
    assert_eq!(r.body, json!({"active": false}));
    // Only keys with the scope may ask; only admins may grant it.
    let plain_key = app.api_key(&admin, &[]).await;
    form(&app, "/v1/introspect", &plain_key, "token=x")
        .await
        .assert_problem(403, "forbidden");
    form(&app, "/v1/introspect", &admin.access_token, "token=x")
        .await
        .assert_problem(403, "forbidden");
    let other = app.user(Role::User).await;
    let r = app
        .post(
            "/v1/me/api-keys",
            Some(&other.access_token),
            &json!({"name": "k", "scopes": ["introspect"]}),
        )
        .await;
    r.assert_problem(403, "forbidden");
    let r = app
        .post(
            "/v1/me/api-keys",
            Some(&admin.access_token),
            &json!({"name": "k", "scopes": ["root"]}),
        )
        .await;
    r.assert_problem(422, "invalid_field");
    assert_eq!(r.body["field"], "scopes");
    let r = app
        .client
        .post(format!("{}/v1/introspect", app.address))
        .body("token=x")
        .send()
        .await
        .unwrap();
    TestApp::read(r).await.assert_problem(401, "unauthenticated");
}

backend_tests!(
    first_user_becomes_admin,
    first_admin_is_unique_under_concurrent_registration,
    registration_validates_every_field,
    email_and_username_are_unique_ignoring_case,
    pending_accounts_get_no_tokens_and_cannot_log_in,
    registration_can_be_switched_off,
    configured_minimum_password_length_applies,
    login_by_email_or_username_and_no_enumeration,
    deactivated_accounts_cannot_log_in,
    bcrypt_hashes_verify_and_are_upgraded,
    refresh_rotates_and_reuse_revokes_the_session,
    access_tokens_expire_and_refresh_chains_end,
    logout_ends_the_session,
    access_tokens_verify_with_the_published_keys,
    introspection_reports_live_tokens_to_trusted_services,
);
