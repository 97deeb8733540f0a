//! API keys: creation, use, listing, expiry and revocation.

use roster_core::Role;
use roster_core::time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::json;

async fn keys_are_shown_once_and_work_in_both_headers(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let t = Some(user.access_token.as_str());
    let r = app.post("/v1/me/api-keys", t, &json!({"name": "ci"})).await;
    r.assert_status(201);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("rst_") && secret.len() > 40);
    assert!(secret.starts_with(r.body["prefix"].as_str().unwrap()));
    let list = app.get("/v1/me/api-keys", t).await;
    list.assert_status(200);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert!(list.body[0].get("secret").is_none() && !list.text.contains(&secret[12..]));
    assert!(list.body[0]["last_used_at"].is_null());
    // Authorization: Bearer
    let me = app.get("/v1/me", Some(&secret)).await;
    me.assert_status(200);
    assert_eq!(me.body["id"], user.id_str());
    // x-api-key
    let r = app
        .client
        .get(format!("{}/v1/me", app.address))
        .header("x-api-key", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(app.get("/v1/me/api-keys", t).await.body[0]["last_used_at"].is_string());
    app.get("/v1/me", Some("rst_not-a-key"))
        .await
        .assert_problem(401, "invalid_token");
}

async fn revoking_a_key_is_immediate_and_scoped_to_its_owner(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let other = app.user(Role::User).await;
    let secret = app.api_key(&user, &[]).await;
    let id = app.get("/v1/me/api-keys", Some(&user.access_token)).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.delete(&format!("/v1/me/api-keys/{id}"), Some(&other.access_token))
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/me", Some(&secret)).await.assert_status(200);
    app.delete(&format!("/v1/me/api-keys/{id}"), Some(&user.access_token))
        .await
        .assert_status(204);
    app.get("/v1/me", Some(&secret))
        .await
        .assert_problem(401, "invalid_token");
    app.delete("/v1/me/api-keys/x1", Some(&user.access_token))
        .await
        .assert_problem(400, "invalid_id");
}

async fn keys_expire(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let t = Some(user.access_token.as_str());
    let now = app.clock_now();
    let past = (now - Duration::hours(1)).format(&Rfc3339).unwrap();
    let r = app
        .post("/v1/me/api-keys", t, &json!({"name": "old", "expires_at": past}))
        .await;
    r.assert_problem(422, "invalid_field");
    assert_eq!(r.body["field"], "expires_at");
    let r = app
        .post("/v1/me/api-keys", t, &json!({"name": "x", "expires_at": "tomorrow"}))
        .await;
    assert_eq!(r.body["field"], "expires_at");
    let r = app.post("/v1/me/api-keys", t, &json!({"name": ""})).await;
    assert_eq!(r.body["field"], "name");
    let soon = (now + Duration::hours(1)).format(&Rfc3339).unwrap();
    let r = app
        .post("/v1/me/api-keys", t, &json!({"name": "soon", "expires_at": soon}))
        .await;
    r.assert_status(201);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    app.get("/v1/me", Some(&secret)).await.assert_status(200);
    app.advance(Duration::hours(2));
    app.get("/v1/me", Some(&secret))
        .await
        .assert_problem(401, "invalid_token");
}

async fn keys_of_deactivated_or_pending_users_stop_working(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let secret = app.api_key(&user, &[]).await;
    let id = user.id_str();
    app.patch(
        &format!("/v1/users/{id}"),
        Some(&admin.access_token),
        &json!({"role": "pending"}),
    )
    .await
    .assert_status(200);
    app.get("/v1/me", Some(&secret))
        .await
        .assert_problem(403, "account_pending");
    app.patch(
        &format!("/v1/users/{id}"),
        Some(&admin.access_token),
        &json!({"role": "user", "active": false}),
    )
    .await
    .assert_status(200);
    app.get("/v1/me", Some(&secret))
        .await
        .assert_problem(403, "account_disabled");
    app.patch(
        &format!("/v1/users/{id}"),
        Some(&admin.access_token),
        &json!({"active": true}),
    )
    .await
    .assert_status(200);
    app.get("/v1/me", Some(&secret)).await.assert_status(200);
}

trait ClockNow {
    fn clock_now(&self) -> OffsetDateTime;
}

impl ClockNow for roster_testkit::TestApp {
    fn clock_now(&self) -> OffsetDateTime {
        use roster_core::Clock;
        self.clock.now()
    }
}

backend_tests!(
    keys_are_shown_once_and_work_in_both_headers,
    revoking_a_key_is_immediate_and_scoped_to_its_owner,
    keys_expire,
    keys_of_deactivated_or_pending_users_stop_working,
);
