//! The caller's own account: read, profile changes, password.

use roster_core::Role;
use roster_core::service::AdminUserChanges;
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::json;

async fn me_shows_the_documented_fields(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let r = app.get("/v1/me", Some(&user.access_token)).await;
    r.assert_status(200);
    let b = &r.body;
    assert_eq!(b["id"], user.id_str());
    assert_eq!(b["email"], user.email);
    assert_eq!(b["username"], user.username);
    assert_eq!(b["email_verified"], false);
    assert_eq!(b["role"], "admin");
    assert_eq!(b["active"], true);
    assert!(b["avatar_url"].is_null());
    assert_eq!(b["preferences"], json!({}));
    for field in ["created_at", "updated_at", "last_login_at"] {
        let s = b[field].as_str().unwrap_or_else(|| panic!("{field} missing: {b}"));
        assert!(
            roster_core::time::OffsetDateTime::parse(s, &roster_core::time::format_description::well_known::Rfc3339)
                .is_ok()
        );
    }
    assert!(b.get("password_hash").is_none() && !r.text.contains("argon2"));
}

async fn profile_changes_apply_and_null_clears(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let t = Some(user.access_token.as_str());
    let r = app
        .patch(
            "/v1/me",
            t,
            &json!({"name": "Ann Lee", "bio": "hello", "timezone": "Europe/Berlin",
                    "avatar_url": "https://cdn.example.org/a.png", "preferences": {"theme": "dark", "n": [1, 2]},
                    "accept_terms_version": "2024-05"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["name"], "Ann Lee");
    assert_eq!(r.body["timezone"], "Europe/Berlin");
    assert_eq!(r.body["preferences"]["theme"], "dark");
    assert_eq!(r.body["terms_version"], "2024-05");
    assert!(r.body["terms_accepted_at"].is_string());
    let r = app.patch("/v1/me", t, &json!({"bio": null, "name": "Ann"})).await;
    r.assert_status(200);
    assert!(r.body["bio"].is_null());
    assert_eq!(r.body["timezone"], "Europe/Berlin");
    // And it was stored.
    assert_eq!(app.get("/v1/me", t).await.body["name"], "Ann");
}

async fn profile_changes_are_validated(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let other = app.user(Role::User).await;
    let t = Some(user.access_token.as_str());
    for (body, field) in [
        (json!({"timezone": "not a zone"}), "timezone"),
        (json!({"avatar_url": "javascript:alert(1)"}), "avatar_url"),
        (json!({"email": "nope"}), "email"),
        (json!({"preferences": [1]}), "preferences"),
        (json!({"name": "x".repeat(200)}), "name"),
        (json!({"username": "bad name"}), "username"),
        (json!({"role": "admin"}), "role"),
        (json!({"email": null, "username": null}), "email"),
    ] {
        let r = app.patch("/v1/me", t, &body).await;
        r.assert_problem(422, "invalid_field");
        assert_eq!(r.body["field"], field, "{body}");
    }
    let r = app
        .patch("/v1/me", t, &json!({"username": other.username.to_uppercase()}))
        .await;
    r.assert_problem(409, "conflict");
    assert_eq!(r.body["field"], "username");
}

async fn a_new_email_is_unverified(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    app.set_user(
        user.id,
        AdminUserChanges {
            email_verified: Some(true),
            ..Default::default()
        },
    )
    .await;
    let t = Some(user.access_token.as_str());
    assert_eq!(app.get("/v1/me", t).await.body["email_verified"], true);
    let r = app.patch("/v1/me", t, &json!({"email": user.email})).await;
    assert_eq!(r.body["email_verified"], true, "same email keeps verification");
    let r = app.patch("/v1/me", t, &json!({"email": "New@Example.org"})).await;
    r.assert_status(200);
    assert_eq!(r.body["email"], "new@example.org");
    assert_eq!(r.body["email_verified"], false);
}

async fn changing_the_password_revokes_other_sessions(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let other_session = app.login(&user.email, &user.password).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let t = Some(user.access_token.as_str());
    let r = app
        .post(
            "/v1/me/password",
            t,
            &json!({"current_password": "wrong", "new_password": "brand new pass"}),
        )
        .await;
    r.assert_problem(422, "invalid_field");
    assert_eq!(r.body["field"], "current_password");
    let r = app
        .post(
            "/v1/me/password",
            t,
            &json!({"current_password": user.password, "new_password": "short"}),
        )
        .await;
    assert_eq!(r.body["field"], "new_password");
    app.post(
        "/v1/me/password",
        t,
        &json!({"current_password": user.password, "new_password": "brand new pass"}),
    )
    .await
    .assert_status(204);
    app.get("/v1/me", t).await.assert_status(200);
    app.get("/v1/me", Some(&other_session))
        .await
        .assert_problem(401, "invalid_token");
    app.login(&user.email, &user.password)
        .await
        .assert_problem(401, "invalid_credentials");
    app.login(&user.email, "brand new pass").await.assert_status(200);
}

async fn activity_is_recorded_at_most_once_a_minute(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let t = Some(user.access_token.as_str());
    let first = app.get("/v1/me", t).await.body["last_active_at"].clone();
    assert!(first.is_string());
    app.advance(roster_core::time::Duration::seconds(30));
    assert_eq!(app.get("/v1/me", t).await.body["last_active_at"], first);
    app.advance(roster_core::time::Duration::seconds(40));
    let later = app.get("/v1/me", t).await.body["last_active_at"].clone();
    assert_ne!(later, first);
    // Through an API key too.
    let key = app.api_key(&user, &[]).await;
    app.advance(roster_core::time::Duration::minutes(2));
    let by_key = app.get("/v1/me", Some(&key)).await.body["last_active_at"].clone();
    assert_ne!(by_key, later);
}

backend_tests!(
    activity_is_recorded_at_most_once_a_minute,
    me_shows_the_documented_fields,
    profile_changes_apply_and_null_clears,
    profile_changes_are_validated,
    a_new_email_is_unverified,
    changing_the_password_revokes_other_sessions,
);
