//! Listing and revoking sessions.

use roster_core::Role;
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::json;

async fn sessions_are_listed_with_their_client(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let r = app
        .client
        .post(format!("{}/v1/auth/login", app.address))
        .header("user-agent", "roster-test/1.0")
        .json(&json!({"login": user.email, "password": user.password}))
        .send()
        .await
        .unwrap();
    let second = roster_testkit::app::TestApp::read(r).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app.get("/v1/me/sessions", Some(&second)).await;
    r.assert_status(200);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["user_agent"], "roster-test/1.0");
    assert_eq!(list[0]["ip"], "127.0.0.1");
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[1]["current"], false);
    assert!(list[0]["expires_at"].is_string() && list[0]["last_used_at"].is_string());
}

async fn revoking_a_session_takes_effect_at_once(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let other = app.user(Role::User).await;
    let second = app.login(&user.email, &user.password).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let sessions = app.get("/v1/me/sessions", Some(&second)).await.body;
    let first_id = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Someone else's session is not found, not revoked.
    app.delete(&format!("/v1/me/sessions/{first_id}"), Some(&other.access_token))
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/me", Some(&user.access_token)).await.assert_status(200);
    app.delete(&format!("/v1/me/sessions/{first_id}"), Some(&second))
        .await
        .assert_status(204);
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    app.delete(&format!("/v1/me/sessions/{first_id}"), Some(&second))
        .await
        .assert_problem(404, "not_found");
    app.delete("/v1/me/sessions/abc", Some(&second))
        .await
        .assert_problem(400, "invalid_id");
}

async fn revoke_others_keeps_only_the_current_session(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let b = app.login(&user.email, &user.password).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let c = app.login(&user.email, &user.password).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app.post("/v1/me/sessions/revoke-others", Some(&c), &json!({})).await;
    r.assert_status(200);
    assert_eq!(r.body["revoked"], 2);
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    app.get("/v1/me", Some(&b)).await.assert_problem(401, "invalid_token");
    app.get("/v1/me", Some(&c)).await.assert_status(200);
    assert_eq!(
        app.get("/v1/me/sessions", Some(&c))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn an_admin_revokes_all_sessions_of_a_user(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let r = app
        .post(
            &format!("/v1/users/{}/sessions/revoke", user.id),
            Some(&admin.access_token),
            &json!({}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["revoked"], 1);
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    app.post("/v1/auth/refresh", None, &json!({"refresh_token": user.refresh_token}))
        .await
        .assert_problem(401, "invalid_token");
    app.post("/v1/users/999/sessions/revoke", Some(&admin.access_token), &json!({}))
        .await
        .assert_problem(404, "not_found");
}

backend_tests!(
    sessions_are_listed_with_their_client,
    revoking_a_session_takes_effect_at_once,
    revoke_others_keeps_only_the_current_session,
    an_admin_revokes_all_sessions_of_a_user,
);
