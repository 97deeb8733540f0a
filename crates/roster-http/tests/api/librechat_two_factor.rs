//! LibreChat's two-factor authentication: `/api/auth/2fa/*`, the `twoFAPending`/`tempToken`
//! login and `verify-temp`, a code in the login request, and account deletion with
//! `token`/`backupCode`, all through the core's one mechanism.

use super::two_factor::{base32_decode, code};
use reqwest::Method;
use roster_core::Role;
use roster_core::two_factor::STEP_SECONDS;
use roster_testkit::app::{TestApp, TestResponse};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};
use time::Duration;

const P: &str = "/librechat";

async fn lc(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> TestResponse {
    app.request(method, &format!("{P}{path}"), token, body).await
}

#[track_caller]
fn assert_message(r: &TestResponse, status: u16, message: &str) {
    r.assert_status(status);
    assert_eq!(r.body["message"], message, "body: {}", r.text);
}

/// The secret in an `otpauth://` URI.
fn secret_of(url: &str) -> Vec<u8> {
    let secret = url.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    base32_decode(secret)
}

async fn login(app: &TestApp, email: &str, password: &str, extra: Value) -> TestResponse {
    let mut body = json!({ "email": email, "password": password });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    lc(app, Method::POST, "/api/auth/login", None, Some(&body)).await
}

async fn enrol_confirm_login_and_disable(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let t = Some(user.access_token.as_str());

    // Enrolment: GET (older servers) and POST both answer; the last one counts.
    let first = lc(&app, Method::GET, "/api/auth/2fa/enable", t, None).await;
    first.assert_status(200);
    let enable = lc(&app, Method::POST, "/api/auth/2fa/enable", t, None).await;
    enable.assert_status(200);
    let url = enable.body["otpauthUrl"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/Roster:"), "{url}");
    assert_ne!(url, first.body["otpauthUrl"].as_str().unwrap());
    let codes: Vec<String> = serde_json::from_value(enable.body["backupCodes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    let secret = secret_of(url);

    // The client verifies a code, then confirms with the same code.
    assert_message(
        &lc(&app, Method::POST, "/api/auth/2fa/confirm", t, Some(&json!({}))).await,
        400,
        "Invalid token.",
    );
    let now = code(&app, &secret, 0);
    lc(
        &app,
        Method::POST,
        "/api/auth/2fa/verify",
        t,
        Some(&json!({"token": now})),
    )
    .await
    .assert_status(200);
    let wrong = if now == "000000" { "111111" } else { "000000" };
    assert_message(
        &lc(
            &app,
            Method::POST,
            "/api/auth/2fa/verify",
            t,
            Some(&json!({"token": wrong})),
        )
        .await,
        400,
        "Invalid token or backup code.",
    );
    lc(
        &app,
        Method::POST,
        "/api/auth/2fa/confirm",
        t,
        Some(&json!({"token": now})),
    )
    .await
    .assert_status(200);
    assert_eq!(
        lc(&app, Method::GET, "/api/user", t, None).await.body["twoFactorEnabled"],
        true
    );
    assert_message(
        &lc(&app, Method::POST, "/api/auth/2fa/enable", t, None).await,
        400,
        "2FA is already enabled for this user",
    );

    // Login: a pending second step, completed at verify-temp.
    let r = login(&app, &user.email, &user.password, json!({})).await;
    r.assert_status(200);
    assert_eq!(r.body["twoFAPending"], true);
    assert!(r.body.get("token").is_none());
    assert!(!r.headers.contains_key("set-cookie"), "no session yet");
    let temp = r.body["tempToken"].as_str().unwrap().to_string();
    assert_message(
        &lc(
            &app,
            Method::POST,
            "/api/auth/2fa/verify-temp",
            None,
            Some(&json!({"token": now})),
        )
        .await,
        400,
        "Missing temporary token",
    );
    assert_message(
        &lc(
            &app,
            Method::POST,
            "/api/auth/2fa/verify-temp",
            None,
            Some(&json!({"tempToken": "forged", "token": now})),
        )
        .await,
        401,
        "Invalid or expired temporary token",
    );
    // The confirming code was used: a replay.
    assert_message(
        &lc(
            &app,
            Method::POST,
            "/api/auth/2fa/verify-temp",
            None,
            Some(&json!({"tempToken": temp, "token": now})),
        )
        .await,
        401,
        "Invalid 2FA code or backup code",
    );
    let next = code(&app, &secret, 1);
    let done = lc(
        &app,
        Method::POST,
        "/api/auth/2fa/verify-temp",
        None,
        Some(&json!({"tempToken": temp, "token": next})),
    )
    .await;
    done.assert_status(200);
    assert_eq!(done.body["user"]["twoFactorEnabled"], true);
    assert_eq!(done.body["user"]["email"], user.email);
    let token = done.body["token"].as_str().unwrap().to_string();
    assert!(
        done.headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("refreshToken="))
    );
    lc(&app, Method::GET, "/api/user", Some(&token), None)
        .await
        .assert_status(200);

    // A code (or backup code) in the login request completes it at once.
    app.advance(Duration::seconds(2 * STEP_SECONDS));
    let inline = login(
        &app,
        &user.email,
        &user.password,
        json!({"token": code(&app, &secret, 0)}),
    )
    .await;
    inline.assert_status(200);
    assert!(inline.body["token"].is_string(), "{}", inline.text);
    let inline = login(&app, &user.email, &user.password, json!({"backupCode": codes[0]})).await;
    inline.assert_status(200);
    assert!(inline.body["token"].is_string(), "{}", inline.text);
    let reused = login(&app, &user.email, &user.password, json!({"backupCode": codes[0]})).await;
    assert_message(&reused, 401, "Invalid 2FA code or backup code");

    // Backup codes: regenerated with a factor, shown once with their hashes.
    assert_message(
        &lc(
            &app,
            Method::POST,
            "/api/auth/2fa/backup/regenerate",
            t,
            Some(&json!({})),
        )
        .await,
        400,
        "Either token or backup code is required to regenerate backup codes",
    );
    let fresh = lc(
        &app,
        Method::POST,
        "/api/auth/2fa/backup/regenerate",
        t,
        Some(&json!({"backupCode": codes[1]})),
    )
    .await;
    fresh.assert_status(200);
    let fresh_codes: Vec<String> = serde_json::from_value(fresh.body["backupCodes"].clone()).unwrap();
    assert_eq!(fresh_codes.len(), 10);
    assert_eq!(fresh.body["backupCodesHash"].as_array().unwrap().len(), 10);
    assert_eq!(fresh.body["backupCodesHash"][0]["used"], false);
    assert!(fresh.body["backupCodesHash"][0]["usedAt"].is_null());

    // Disabling needs a valid factor.
    assert_message(
        &lc(&app, Method::POST, "/api/auth/2fa/disable", t, Some(&json!({}))).await,
        400,
        "Either token or backup code is required to disable 2FA",
    );
    assert_message(
        &lc(
            &app,
            Method::POST,
            "/api/auth/2fa/disable",
            t,
            Some(&json!({"backupCode": codes[2]})),
        )
        .await,
        401,
        "Invalid token or backup code",
    );
    lc(
        &app,
        Method::POST,
        "/api/auth/2fa/disable",
        t,
        Some(&json!({"backupCode": fresh_codes[0]})),
    )
    .await
    .assert_status(200);
    assert_eq!(
        lc(&app, Method::GET, "/api/user", t, None).await.body["twoFactorEnabled"],
        false
    );
    assert_message(
        &lc(&app, Method::POST, "/api/auth/2fa/disable", t, Some(&json!({}))).await,
        400,
        "2FA is not setup for this user",
    );
    let plain = login(&app, &user.email, &user.password, json!({})).await;
    plain.assert_status(200);
    assert!(plain.body["token"].is_string());
}

async fn account_deletion_needs_the_second_factor(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let t = Some(user.access_token.as_str());
    let enable = lc(&app, Method::POST, "/api/auth/2fa/enable", t, None).await;
    let secret = secret_of(enable.body["otpauthUrl"].as_str().unwrap());
    let codes: Vec<String> = serde_json::from_value(enable.body["backupCodes"].clone()).unwrap();
    lc(
        &app,
        Method::POST,
        "/api/auth/2fa/confirm",
        t,
        Some(&json!({"token": code(&app, &secret, 0)})),
    )
    .await
    .assert_status(200);

    assert_message(
        &lc(&app, Method::DELETE, "/api/user/delete", t, None).await,
        400,
        "TOTP token or backup code is required to delete account with 2FA enabled",
    );
    assert_message(
        &lc(
            &app,
            Method::DELETE,
            "/api/user/delete",
            t,
            Some(&json!({"backupCode": "nope-nope-nope"})),
        )
        .await,
        401,
        "Invalid token or backup code",
    );
    // The code that confirmed the enrolment cannot be replayed either.
    assert_message(
        &lc(
            &app,
            Method::DELETE,
            "/api/user/delete",
            t,
            Some(&json!({"token": code(&app, &secret, 0)})),
        )
        .await,
        401,
        "Invalid token or backup code",
    );
    assert!(app.core.store.get_user(user.id).await.is_ok(), "nothing deleted");
    lc(
        &app,
        Method::DELETE,
        "/api/user/delete",
        t,
        Some(&json!({"backupCode": codes[4]})),
    )
    .await
    .assert_status(200);
    assert!(app.core.store.get_user(user.id).await.is_err(), "deleted");
}

backend_tests!(
    enrol_confirm_login_and_disable,
    account_deletion_needs_the_second_factor
);
