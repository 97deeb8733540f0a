//! Invitations and password-reset links, as the admin command line creates them.

use roster_core::Role;
use roster_core::service::NewInvitation;
use roster_core::time::Duration;
use roster_testkit::app::spawn_app_with;
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::json;

async fn invitation(app: &roster_testkit::TestApp, email: &str, role: Role) -> String {
    app.core
        .create_invitation(
            app.core.operator(),
            NewInvitation {
                email: email.into(),
                role: Some(role),
                expires_in: Duration::days(7),
            },
        )
        .await
        .unwrap()
        .token
}

async fn invitation_registers_when_registration_is_closed(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.allow_registration = false).await);
    let admin = app.admin().await;
    let token = invitation(&app, "Invited@Example.org", Role::Admin).await;
    // Without the invitation, registration is closed.
    app.register("invited@example.org", "long enough password")
        .await
        .assert_problem(403, "registration_disabled");
    // Another email than the invited one is refused, and does not use the invitation up.
    let r = app
        .post(
            "/v1/auth/register",
            None,
            &json!({"email": "other@example.org", "password": "long enough password", "invite_token": token}),
        )
        .await;
    r.assert_problem(422, "invalid_field");
    assert_eq!(r.body["field"], "email");
    let r = app
        .post(
            "/v1/auth/register",
            None,
            &json!({"email": "INVITED@example.org", "username": "invited", "password": "long enough password",
                    "invite_token": token}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["user"]["role"], "admin");
    assert_eq!(r.body["user"]["email"], "invited@example.org");
    let access = r.body["access_token"].as_str().unwrap().to_string();
    app.get("/v1/me", Some(&access)).await.assert_status(200);
    // Single use.
    let r = app
        .post(
            "/v1/auth/register",
            None,
            &json!({"email": "invited@example.org", "password": "long enough password", "invite_token": token}),
        )
        .await;
    r.assert_problem(422, "invalid_field");
    assert_eq!(r.body["field"], "invite_token");
    // The admin still works; a made-up token is refused.
    app.get("/v1/me", Some(&admin.access_token)).await.assert_status(200);
    let r = app
        .post(
            "/v1/auth/register",
            None,
            &json!({"email": "x@example.org", "password": "long enough password", "invite_token": "nope"}),
        )
        .await;
    assert_eq!(r.body["field"], "invite_token");
}

async fn invitations_expire_and_refuse_taken_addresses(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let taken = app
        .core
        .create_invitation(
            app.core.operator(),
            NewInvitation {
                email: admin.email.clone(),
                role: None,
                expires_in: Duration::days(1),
            },
        )
        .await;
    assert!(
        matches!(taken, Err(roster_core::Error::Conflict { field: "email" })),
        "{taken:?}"
    );
    let token = invitation(&app, "late@example.org", Role::User).await;
    app.advance(Duration::days(8));
    let r = app
        .post(
            "/v1/auth/register",
            None,
            &json!({"email": "late@example.org", "password": "long enough password", "invite_token": token}),
        )
        .await;
    r.assert_problem(422, "invalid_field");
    assert_eq!(r.body["field"], "invite_token");
}

async fn reset_link_sets_the_password_once_and_ends_sessions(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let key = app.api_key(&user, &[]).await;
    let link = app
        .core
        .create_password_reset(app.core.operator(), user.id, Duration::hours(1))
        .await
        .unwrap();
    // A bad password is refused without using the link up.
    let r = app
        .post(
            "/v1/auth/reset-password",
            None,
            &json!({"token": link.token, "new_password": "short"}),
        )
        .await;
    r.assert_problem(422, "invalid_field");
    assert_eq!(r.body["field"], "new_password");
    app.post(
        "/v1/auth/reset-password",
        None,
        &json!({"token": link.token, "new_password": "a brand new password"}),
    )
    .await
    .assert_status(204);
    // Old sessions and API keys are gone (the mailbox's owner keeps nothing another made), the
    // old password fails, the new one works.
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    app.login(&user.email, &user.password)
        .await
        .assert_problem(401, "invalid_credentials");
    app.login(&user.email, "a brand new password").await.assert_status(200);
    app.get("/v1/me", Some(&key)).await.assert_problem(401, "invalid_token");
    // Single use, and unknown tokens are refused alike.
    for token in [link.token.as_str(), "made-up"] {
        let r = app
            .post(
                "/v1/auth/reset-password",
                None,
                &json!({"token": token, "new_password": "yet another password"}),
            )
            .await;
        r.assert_problem(422, "invalid_field");
        assert_eq!(r.body["field"], "token");
    }
}

async fn bans_refuse_login_tokens_and_keys_until_they_end(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let key = app.api_key(&user, &[]).await;
    app.core
        .ban_user(app.core.operator(), user.id, Duration::hours(2), Some("spam"))
        .await
        .unwrap();
    for token in [user.access_token.as_str(), key.as_str()] {
        let r = app.get("/v1/me", Some(token)).await;
        r.assert_problem(403, "banned");
        assert!(
            r.body["detail"].as_str().unwrap().contains("banned until"),
            "{}",
            r.text
        );
    }
    app.login(&user.email, &user.password)
        .await
        .assert_problem(403, "banned");
    app.post("/v1/auth/refresh", None, &json!({"refresh_token": user.refresh_token}))
        .await
        .assert_problem(403, "banned");
    // A wrong password does not reveal the ban.
    app.login(&user.email, "wrong password")
        .await
        .assert_problem(401, "invalid_credentials");
    // The last active admin who is not banned cannot be banned.
    let r = app
        .core
        .ban_user(app.core.operator(), admin.id, Duration::hours(1), None)
        .await;
    assert!(matches!(r, Err(roster_core::Error::LastAdmin)), "{r:?}");
    // The ban ends by itself.
    app.advance(Duration::hours(2) + Duration::seconds(1));
    app.get("/v1/me", Some(&key)).await.assert_status(200);
    app.login(&user.email, &user.password).await.assert_status(200);
}

backend_tests!(
    invitation_registers_when_registration_is_closed,
    invitations_expire_and_refuse_taken_addresses,
    reset_link_sets_the_password_once_and_ends_sessions,
    bans_refuse_login_tokens_and_keys_until_they_end,
);
