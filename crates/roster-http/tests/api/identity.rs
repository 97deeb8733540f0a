//! Login identifiers across dialects: an email may never take over another account's
//! username login (nor the reverse), links die with the address or password they were made
//! for, the quiet registration answers alike for taken and free emails, and lookalike
//! addresses are one address or refused.

use roster_core::Role;
use roster_core::service::{AdminUserChanges, Patch, ProfileChanges};
use roster_http::HttpConfig;
use roster_testkit::app::{TestApp, spawn_app_with, spawn_app_with_http};
use roster_testkit::smtp::SmtpSink;
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};
use time::Duration;

const LANGFLOW: &str = "/langflow/api/v1";

/// An app whose Langflow sign-ups are active at once (so they can sign in).
async fn app_with_active_langflow_signups(backend: Backend) -> Option<TestApp> {
    let http = HttpConfig {
        langflow_new_user_is_active: true,
        ..HttpConfig::default()
    };
    spawn_app_with_http(backend, |_| {}, http).await
}

async fn langflow_sign_up(app: &TestApp, username: &str, password: &str) -> roster_testkit::app::TestResponse {
    app.post(
        &format!("{LANGFLOW}/users/"),
        None,
        &json!({ "username": username, "password": password }),
    )
    .await
}

async fn native_register(app: &TestApp, body: Value) -> roster_testkit::app::TestResponse {
    app.post("/v1/auth/register", None, &body).await
}

/// The sequence: Langflow sign-up `{"username":"carol@corp.com"}`, then a native
/// registration `{"email":"carol@corp.com","username":"mallory"}`. Refused (409 naming the
/// email) in any case, and Carol's login still finds Carol. The other order too (an email
/// first, then a Langflow username equal to it), and by updates of email and username.
async fn an_email_cannot_take_over_a_username_login(backend: Backend) {
    let app = roster_testkit::or_skip!(app_with_active_langflow_signups(backend).await);
    app.admin().await;
    langflow_sign_up(&app, "carol@corp.com", "carol-password")
        .await
        .assert_status(201);
    let carol = app.login("carol@corp.com", "carol-password").await;
    carol.assert_status(200);
    let carol_id = carol.body["user"]["id"].clone();
    for email in ["carol@corp.com", "CAROL@Corp.Com"] {
        let r = native_register(
            &app,
            json!({ "email": email, "username": "mallory", "password": "mallory-password" }),
        )
        .await;
        r.assert_problem(409, "conflict");
        assert!(r.text.contains("email"), "the conflict names the email: {}", r.text);
    }
    // Carol's login still names Carol; the attacker's password names nobody.
    let again = app.login("carol@corp.com", "carol-password").await;
    again.assert_status(200);
    assert_eq!(again.body["user"]["id"], carol_id);
    app.login("carol@corp.com", "mallory-password").await.assert_status(401);

    // The other order: a native account's email first, then a Langflow username equal to it.
    native_register(&app, json!({ "email": "dave@corp.com", "password": "dave-password" }))
        .await
        .assert_status(201);
    let r = langflow_sign_up(&app, "DAVE@corp.com", "other-password").await;
    r.assert_status(400);
    assert_eq!(
        r.body,
        json!({ "detail": "This username is unavailable." }),
        "{}",
        r.text
    );

    // By update: an existing account taking Carol's username as its email, or Dave's email
    // as its username, through the native API and through an administrator.
    let mallory = native_register(
        &app,
        json!({ "email": "mallory@corp.com", "username": "mallory", "password": "mallory-password" }),
    )
    .await;
    mallory.assert_status(201);
    let token = mallory.body["access_token"].as_str().unwrap().to_string();
    app.patch("/v1/me", Some(&token), &json!({ "email": "Carol@corp.com" }))
        .await
        .assert_problem(409, "conflict");
    app.patch("/v1/me", Some(&token), &json!({ "username": "dave@CORP.com" }))
        .await
        .assert_problem(409, "conflict");
    let mallory_id = roster_core::UserId(mallory.body["user"]["id"].as_str().unwrap().parse().unwrap());
    let by_admin = app
        .core
        .admin_update_user(
            app.core.operator(),
            mallory_id,
            AdminUserChanges {
                profile: ProfileChanges {
                    email: Patch::Set("carol@corp.com".into()),
                    ..ProfileChanges::default()
                },
                ..AdminUserChanges::default()
            },
        )
        .await;
    assert!(
        matches!(by_admin, Err(roster_core::Error::Conflict { field: "email" })),
        "{by_admin:?}"
    );
    let again = app.login("carol@corp.com", "carol-password").await;
    again.assert_status(200);
    assert_eq!(again.body["user"]["id"], carol_id);
}

/// A Langflow sign-up and a native registration racing for one identifier: exactly one
/// account is made, each time.
async fn a_colliding_pair_registered_at_once_yields_one_account(backend: Backend) {
    let app = roster_testkit::or_skip!(app_with_active_langflow_signups(backend).await);
    app.admin().await;
    for round in 0..6 {
        let login = format!("race{round}@corp.com");
        let (username, body) = (
            login.to_uppercase(),
            json!({ "email": login, "username": format!("racer{round}"), "password": "native-password" }),
        );
        let (a, b) = tokio::join!(
            langflow_sign_up(&app, &username, "langflow-password"),
            native_register(&app, body.clone())
        );
        let made = [a.status.is_success(), b.status.is_success()];
        assert_eq!(
            made.iter().filter(|m| **m).count(),
            1,
            "round {round}: {} / {}",
            a.text,
            b.text
        );
        assert!(matches!(a.status.as_u16(), 201 | 400), "{}", a.text);
        assert!(matches!(b.status.as_u16(), 201 | 409), "{}", b.text);
        let password = if made[0] {
            "langflow-password"
        } else {
            "native-password"
        };
        app.login(&login, password).await.assert_status(200);
    }
}

/// A reset link made before a change of email, or of password, is refused after it; so is
/// a verification link made before a change of email. A link made after the change works.
async fn links_die_with_the_address_or_password_they_were_made_for(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    app.admin().await;
    let user = app.user(Role::User).await;
    let reset = |token: String, password: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/v1/auth/reset-password",
                None,
                &json!({ "token": token, "new_password": password }),
            )
            .await
        }
    };
    let link = || async {
        app.core
            .create_password_reset(app.core.operator(), user.id, Duration::hours(1))
            .await
            .unwrap()
            .token
    };

    // Before an email change.
    let before_email = link().await;
    app.patch(
        "/v1/me",
        Some(&user.access_token),
        &json!({ "email": "moved@example.org" }),
    )
    .await
    .assert_status(200);
    reset(before_email, "taken-over-1")
        .await
        .assert_problem(422, "invalid_field");
    app.login("moved@example.org", "taken-over-1").await.assert_status(401);

    // Before a password change.
    let before_password = link().await;
    app.post(
        "/v1/me/password",
        Some(&user.access_token),
        &json!({ "current_password": user.password, "new_password": "changed-password" }),
    )
    .await
    .assert_status(204);
    reset(before_password, "taken-over-2")
        .await
        .assert_problem(422, "invalid_field");
    app.login("moved@example.org", "taken-over-2").await.assert_status(401);

    // A link made after the changes works (the refusals above are the links', not the route's).
    reset(link().await, "reset-password-3").await.assert_status(204);
    app.login("moved@example.org", "reset-password-3")
        .await
        .assert_status(200);

    // A verification link made for the old address dies with it.
    let stored = app.core.store.get_user(user.id).await.unwrap();
    let url = app.core.send_verification(&stored, "/verify").await.unwrap();
    let token = url
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    app.set_user(
        user.id,
        AdminUserChanges {
            profile: ProfileChanges {
                email: Patch::Set("again@example.org".into()),
                ..ProfileChanges::default()
            },
            ..AdminUserChanges::default()
        },
    )
    .await;
    assert!(app.core.verify_email(&token, None, None).await.is_err());
    // One made for the new address works.
    let stored = app.core.store.get_user(user.id).await.unwrap();
    let url = app.core.send_verification(&stored, "/verify").await.unwrap();
    let token = url
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    assert!(app.core.verify_email(&token, None, None).await.unwrap().email_verified);
}

/// With `quiet_registration`, a taken and a free email get the same status and body (and the
/// same for a taken username); the address is mailed what happened; the account is not
/// taken over. Without it, a taken email is a 409 and a free one a 201 with tokens.
async fn quiet_registration_answers_alike(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let url = smtp.url.clone();
    let app = roster_testkit::or_skip!(
        spawn_app_with(backend, move |c| {
            c.quiet_registration = true;
            c.smtp_url = Some(url);
        })
        .await
    );
    app.admin().await;
    let free = native_register(
        &app,
        json!({ "email": "ann@corp.com", "username": "ann", "password": "ann-password" }),
    )
    .await;
    free.assert_status(202);
    let taken = native_register(
        &app,
        json!({ "email": "ANN@corp.com", "username": "someone", "password": "other-password" }),
    )
    .await;
    taken.assert_status(202);
    assert_eq!(free.text, taken.text, "the same body for a free and a taken email");
    assert_eq!(free.body["status"], "accepted");
    assert_eq!(free.headers.get("content-type"), taken.headers.get("content-type"));
    let taken_username = native_register(
        &app,
        json!({ "email": "bea@corp.com", "username": "ANN", "password": "bea-password" }),
    )
    .await;
    taken_username.assert_status(202);
    assert_eq!(taken_username.text, free.text);
    // The address is mailed either way: a welcome, a notice to its owner, a notice to pick
    // another username.
    let mail = smtp.wait_for(3).await;
    let to_ann: Vec<_> = mail
        .iter()
        .filter(|m| m.to.iter().any(|t| t.contains("ann@corp.com")))
        .collect();
    assert_eq!(to_ann.len(), 2, "{mail:#?}");
    assert!(to_ann.iter().any(|m| m.decoded().contains("Your account was created")));
    assert!(
        to_ann
            .iter()
            .any(|m| m.decoded().contains("Someone tried to register with your address"))
    );
    let to_bea: Vec<_> = mail
        .iter()
        .filter(|m| m.to.iter().any(|t| t.contains("bea@corp.com")))
        .collect();
    assert_eq!(to_bea.len(), 1, "{mail:#?}");
    assert!(to_bea[0].decoded().contains("username chosen is taken"));
    // Ann's account is Ann's; the second registrant's password opens nothing.
    app.login("ann@corp.com", "ann-password").await.assert_status(200);
    app.login("ann@corp.com", "other-password").await.assert_status(401);
    app.login("bea@corp.com", "bea-password").await.assert_status(401);
    // Invalid input is still an error naming the field, alike for any address.
    native_register(&app, json!({ "email": "not-an-email", "password": "long-enough" }))
        .await
        .assert_problem(422, "invalid_field");

    // The default: a taken email is a 409, a free one a 201 with tokens.
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    app.admin().await;
    let free = app.register("ann@corp.com", "ann-password").await;
    free.assert_status(201);
    assert!(free.body["access_token"].is_string());
    app.register("ANN@corp.com", "other-password")
        .await
        .assert_problem(409, "conflict");
}

/// Lookalike addresses: fullwidth letters, case and ß/SS are one address (the second is
/// taken, and signs in the first); mixed Latin/Cyrillic and invisible characters are refused.
async fn lookalike_emails_are_one_address_or_refused(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    app.admin().await;
    app.register("carol@corp.com", "carol-password")
        .await
        .assert_status(201);
    app.register("\u{ff43}arol@\u{ff43}orp.com", "other-password")
        .await
        .assert_problem(409, "conflict");
    app.register("straße@example.org", "strasse-password")
        .await
        .assert_status(201);
    app.register("STRASSE@example.org", "other-password")
        .await
        .assert_problem(409, "conflict");
    // Either spelling signs in the one account.
    let a = app.login("STRASSE@example.org", "strasse-password").await;
    a.assert_status(200);
    assert_eq!(a.body["user"]["email"], "straße@example.org");
    for lookalike in [
        "c\u{0430}rol@corp.com",
        "car\u{200b}ol@corp.com",
        "carol@c\u{043e}rp.com",
    ] {
        let r = app.register(lookalike, "other-password").await;
        r.assert_problem(422, "invalid_field");
        assert!(r.text.contains("email"), "{}", r.text);
    }
    // A whole-Cyrillic address is an address of its own.
    app.register("\u{0430}\u{043d}\u{043d}\u{0430}@corp.com", "anna-password")
        .await
        .assert_status(201);
}

/// The admin command line's import follows the same rule: a record whose email is another
/// account's username (or a record's email another record's username) is refused, not
/// created beside it.
async fn an_import_cannot_take_over_a_username_login(backend: Backend) {
    use roster_core::service::{ImportFormat, ImportOptions, OnConflict, Outcome, read_import_lines};
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    app.admin().await;
    app.core
        .create_user(
            app.core.operator(),
            roster_core::service::NewUser {
                username: Some("carol@corp.com".into()),
                password: Some("carol-password".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let file = concat!(
        "{\"email\": \"CAROL@corp.com\", \"username\": \"mallory\", \"password\": \"mallory-password\"}\n",
        "{\"email\": \"erin@corp.com\", \"password\": \"erin-password\"}\n",
        "{\"username\": \"Erin@Corp.com\", \"password\": \"other-password\"}\n",
    );
    let lines = read_import_lines(file.as_bytes(), ImportFormat::Jsonl).unwrap();
    let options = ImportOptions {
        on_conflict: OnConflict::Fail,
        dry_run: false,
        link_expires_in: Duration::days(1),
    };
    let report = app
        .core
        .import_users(app.core.operator(), lines, &options, &|_| {})
        .await
        .unwrap();
    let outcomes: Vec<&Outcome> = report.records.iter().map(|r| &r.outcome).collect();
    assert!(matches!(outcomes[0], Outcome::Failed(_)), "{outcomes:?}");
    assert_eq!(outcomes[1], &Outcome::Created, "{outcomes:?}");
    assert!(matches!(outcomes[2], Outcome::Failed(_)), "{outcomes:?}");
    app.login("carol@corp.com", "carol-password").await.assert_status(200);
    app.login("carol@corp.com", "mallory-password").await.assert_status(401);
    app.login("mallory", "mallory-password").await.assert_status(401);
}

backend_tests!(
    an_import_cannot_take_over_a_username_login,
    an_email_cannot_take_over_a_username_login,
    a_colliding_pair_registered_at_once_yields_one_account,
    links_die_with_the_address_or_password_they_were_made_for,
    quiet_registration_answers_alike,
    lookalike_emails_are_one_address_or_refused,
);
