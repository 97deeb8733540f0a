//! Two-factor authentication (native API) and secrets at rest: enrolment, confirmation, the
//! second login step, replay, the ±1 step window, backup codes, challenges' limits, the other
//! dialects' logins, an administrator's reset; the secret key's check and sealed keys.

use roster_core::service::SecondFactor;
use roster_core::two_factor::{STEP_SECONDS, code_at, step_at};
use roster_core::{Clock, Core, CoreConfig, Role, SystemClock};
use roster_testkit::app::{TestResponse, TestUser};
use roster_testkit::{Backend, TestApp, TestDatabase, backend_tests, spawn_app};
use serde_json::{Value, json};
use std::sync::Arc;
use time::Duration;

pub use roster_testkit::base32_decode;

/// The code of the app clock's current step, shifted by `delta` steps.
pub fn code(app: &TestApp, secret: &[u8], delta: i64) -> String {
    code_at(secret, step_at(app.clock.now()) + delta)
}

/// Enrols and confirms two-factor authentication for `user`; returns the secret and the
/// backup codes. The confirming code's step is used up: the clock moves on one step.
pub async fn enable(app: &TestApp, user: &TestUser) -> (Vec<u8>, Vec<String>) {
    let t = Some(user.access_token.as_str());
    let setup = app.post("/v1/me/2fa/setup", t, &json!({})).await;
    setup.assert_status(200);
    let secret = base32_decode(setup.body["secret"].as_str().unwrap());
    let codes: Vec<String> = serde_json::from_value(setup.body["backup_codes"].clone()).unwrap();
    app.post("/v1/me/2fa/confirm", t, &json!({ "code": code(app, &secret, 0) }))
        .await
        .assert_status(200);
    app.advance(Duration::seconds(STEP_SECONDS));
    (secret, codes)
}

/// Logs in and expects a challenge.
async fn challenge(app: &TestApp, user: &TestUser) -> String {
    let r = app.login(&user.email, &user.password).await;
    r.assert_status(200);
    assert_eq!(r.body["two_factor_required"], true, "{}", r.text);
    assert!(r.body.get("access_token").is_none());
    assert_eq!(r.body["expires_in"], 300);
    r.body["challenge"].as_str().unwrap().to_string()
}

async fn second_step(app: &TestApp, challenge: &str, factor: Value) -> TestResponse {
    let mut body = factor;
    body["challenge"] = json!(challenge);
    app.post("/v1/auth/login/2fa", None, &body).await
}

async fn enrol_confirm_and_log_in(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let t = Some(user.access_token.as_str());
    let status = app.get("/v1/me/2fa", t).await;
    status.assert_status(200);
    assert_eq!(
        status.body,
        json!({"enabled": false, "pending": false, "enabled_at": null, "backup_codes_remaining": 0})
    );

    let setup = app.post("/v1/me/2fa/setup", t, &json!({})).await;
    setup.assert_status(200);
    let secret_text = setup.body["secret"].as_str().unwrap();
    assert_eq!(secret_text.len(), 32, "160 bits in base32");
    let url = setup.body["otpauth_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!(
            "otpauth://totp/Roster:{}?secret={secret_text}&issuer=Roster",
            user.email.replace('@', "%40")
        )),
        "{url}"
    );
    assert!(url.ends_with("&algorithm=SHA1&digits=6&period=30"), "{url}");
    assert_eq!(setup.body["backup_codes"].as_array().unwrap().len(), 10);
    let secret = base32_decode(secret_text);

    // Pending: logins are not gated yet; the secret is sealed at rest.
    app.login(&user.email, &user.password).await.assert_status(200);
    let pending = app.get("/v1/me/2fa", t).await;
    assert_eq!(pending.body["pending"], true);
    assert_eq!(pending.body["enabled"], false);
    let stored = app.core.store.get_two_factor(user.id).await.unwrap().unwrap();
    assert!(stored.sealed_secret.starts_with("rsb1."), "sealed");
    assert!(!stored.sealed_secret.contains(secret_text));

    // A wrong first code, a malformed one, then the right one.
    let wrong = if code(&app, &secret, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    app.post("/v1/me/2fa/confirm", t, &json!({"code": wrong}))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    app.post("/v1/me/2fa/confirm", t, &json!({})).await.assert_status(422);
    let first = code(&app, &secret, 0);
    let confirmed = app.post("/v1/me/2fa/confirm", t, &json!({"code": first})).await;
    confirmed.assert_status(200);
    assert_eq!(confirmed.body["enabled"], true);
    assert_eq!(confirmed.body["backup_codes_remaining"], 10);
    assert!(confirmed.body["enabled_at"].is_string());
    // Setup again is refused while enabled.
    app.post("/v1/me/2fa/setup", t, &json!({}))
        .await
        .assert_problem(422, "invalid_field");
    assert!(app.core.two_factor_status(user.id).await.unwrap().enabled);

    // Login now answers with a challenge; the confirming code cannot be replayed.
    let ch = challenge(&app, &user).await;
    second_step(&app, &ch, json!({"code": first}))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    second_step(&app, &ch, json!({}))
        .await
        .assert_problem(422, "invalid_field");
    // The next step's code works (within the window), and gives a working session.
    let next = code(&app, &secret, 1);
    let done = second_step(&app, &ch, json!({"code": next})).await;
    done.assert_status(200);
    let token = done.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(done.body["user"]["id"], user.id_str());
    app.get("/v1/me", Some(&token)).await.assert_status(200);
    // A challenge serves once.
    second_step(&app, &ch, json!({"code": code(&app, &secret, 0)}))
        .await
        .assert_problem(401, "invalid_token");
    // The same code with a new challenge: a replay, refused; so is any earlier step's code.
    let ch = challenge(&app, &user).await;
    second_step(&app, &ch, json!({"code": next}))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    second_step(&app, &ch, json!({"code": code(&app, &secret, 0)}))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    // Two steps ahead is outside the window; one step behind is inside.
    app.advance(Duration::seconds(2 * STEP_SECONDS));
    second_step(&app, &ch, json!({"code": code(&app, &secret, 2)}))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    second_step(&app, &ch, json!({"code": code(&app, &secret, -2)}))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    app.advance(Duration::seconds(2 * STEP_SECONDS));
    second_step(&app, &ch, json!({"code": code(&app, &secret, -1)}))
        .await
        .assert_status(200);
    // The wrong password still fails as before, without a challenge.
    app.login(&user.email, "wrong password")
        .await
        .assert_problem(401, "invalid_credentials");
}

async fn backup_codes_are_single_use_and_regenerable(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.admin().await;
    let t = Some(user.access_token.as_str());
    let (secret, codes) = enable(&app, &user).await;

    let ch = challenge(&app, &user).await;
    second_step(&app, &ch, json!({"backup_code": codes[0].to_uppercase()}))
        .await
        .assert_status(200);
    let ch = challenge(&app, &user).await;
    second_step(&app, &ch, json!({"backup_code": codes[0]}))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    assert_eq!(app.get("/v1/me/2fa", t).await.body["backup_codes_remaining"], 9);

    // Regenerating needs a factor; the old codes stop working.
    app.post("/v1/me/2fa/backup-codes", t, &json!({}))
        .await
        .assert_problem(422, "invalid_field");
    app.post("/v1/me/2fa/backup-codes", t, &json!({"backup_code": codes[0]}))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    let fresh = app
        .post("/v1/me/2fa/backup-codes", t, &json!({"backup_code": codes[1]}))
        .await;
    fresh.assert_status(200);
    let fresh: Vec<String> = serde_json::from_value(fresh.body["backup_codes"].clone()).unwrap();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    assert_eq!(app.get("/v1/me/2fa", t).await.body["backup_codes_remaining"], 10);
    second_step(&app, &ch, json!({"backup_code": codes[2]}))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    second_step(&app, &ch, json!({"backup_code": fresh[0]}))
        .await
        .assert_status(200);

    // Disabling needs a valid factor; then logins give sessions directly again.
    app.post("/v1/me/2fa/disable", t, &json!({}))
        .await
        .assert_problem(422, "invalid_field");
    app.post("/v1/me/2fa/disable", t, &json!({"backup_code": fresh[0]}))
        .await
        .assert_problem(401, "invalid_two_factor_code");
    app.post("/v1/me/2fa/disable", t, &json!({"code": code(&app, &secret, 0)}))
        .await
        .assert_status(204);
    let login = app.login(&user.email, &user.password).await;
    login.assert_status(200);
    assert!(login.body["access_token"].is_string());
    assert!(app.core.store.list_backup_codes(user.id).await.unwrap().is_empty());
    app.post("/v1/me/2fa/disable", t, &json!({}))
        .await
        .assert_problem(422, "invalid_field");
    // A pending enrolment is dropped without a code.
    app.post("/v1/me/2fa/setup", t, &json!({})).await.assert_status(200);
    app.post("/v1/me/2fa/disable", t, &json!({})).await.assert_status(204);
    assert_eq!(app.get("/v1/me/2fa", t).await.body["pending"], false);
}

async fn challenges_expire_and_allow_few_attempts(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let (secret, _) = enable(&app, &user).await;
    let good = code(&app, &secret, 0);
    let bad = if good == "123456" { "654321" } else { "123456" };
    let ch = challenge(&app, &user).await;
    for _ in 0..5 {
        second_step(&app, &ch, json!({"code": bad}))
            .await
            .assert_problem(401, "invalid_two_factor_code");
    }
    second_step(&app, &ch, json!({"code": good}))
        .await
        .assert_problem(401, "invalid_token");
    let ch = challenge(&app, &user).await;
    app.advance(Duration::minutes(5));
    second_step(&app, &ch, json!({"code": code(&app, &secret, 0)}))
        .await
        .assert_problem(401, "invalid_token");
    second_step(&app, "not-a-challenge", json!({"code": good}))
        .await
        .assert_problem(401, "invalid_token");
    // A user banned between the steps does not get in.
    let ch = challenge(&app, &user).await;
    app.set_user(
        user.id,
        roster_core::service::AdminUserChanges {
            active: Some(false),
            ..Default::default()
        },
    )
    .await;
    second_step(&app, &ch, json!({"code": code(&app, &secret, 0)}))
        .await
        .assert_problem(403, "account_disabled");
}

async fn every_dialect_login_goes_through_the_gate(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let (secret, _) = enable(&app, &user).await;
    // Open WebUI and Langflow clients cannot ask for a code: refused, clearly.
    let owu = app
        .post(
            "/openwebui/api/v1/auths/signin",
            None,
            &json!({"email": user.email, "password": user.password}),
        )
        .await;
    owu.assert_status(403);
    assert!(owu.text.contains("two-factor"), "{}", owu.text);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("username", &user.username)
        .append_pair("password", &user.password)
        .finish();
    let lf = app
        .client
        .post(format!("{}/langflow/api/v1/login", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let lf = TestApp::read(lf).await;
    lf.assert_status(403);
    assert!(
        lf.body["detail"].as_str().unwrap().contains("two-factor"),
        "{}",
        lf.text
    );
    // Deleting one's account through the core needs the second factor too.
    let actor = app.core.authenticate_bearer(&user.access_token).await.unwrap();
    assert!(app.core.delete_own_account(&actor).await.is_err());

    // Only an administrator resets it; then the password alone works again.
    let path = format!("/v1/users/{}/2fa", user.id_str());
    app.delete(&path, Some(&user.access_token))
        .await
        .assert_problem(403, "forbidden");
    app.delete("/v1/users/123/2fa", Some(&admin.access_token))
        .await
        .assert_problem(404, "not_found");
    app.delete(&path, Some(&admin.access_token)).await.assert_status(204);
    let login = app.login(&user.email, &user.password).await;
    login.assert_status(200);
    assert!(login.body["access_token"].is_string());
    let _ = secret;
    // The core: the factor is checked and used up.
    let (secret, codes) = enable(&app, &user).await;
    let factor = SecondFactor::Code(code(&app, &secret, 0));
    app.core.verify_two_factor(user.id, &factor).await.unwrap();
    assert!(app.core.verify_two_factor(user.id, &factor).await.is_err(), "replay");
    let backup = SecondFactor::BackupCode(codes[3].clone());
    app.core
        .delete_own_account_with_factor(&actor, Some(&backup))
        .await
        .unwrap();
    assert!(
        app.core.store.get_two_factor(user.id).await.unwrap().is_none(),
        "gone with the user"
    );
}

async fn core(db: &TestDatabase, key: Option<roster_core::secret::SecretKey>) -> roster_core::Result<Core> {
    Core::new(
        db.store().await,
        Arc::new(SystemClock),
        CoreConfig {
            secret_key: key,
            hash_concurrency: 1,
            ..CoreConfig::default()
        },
    )
    .await
}

async fn secret_key_is_checked_and_signing_keys_sealed(backend: Backend) {
    use roster_core::secret::SecretKey;
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    // A database first used without a configured key: signing keys in plaintext.
    let plain = core(&db, None).await.unwrap();
    let store = db.store().await;
    let raw = store.list_signing_keys().await.unwrap();
    assert!(!raw[0].private_pkcs8.starts_with(b"rsb1."));
    assert_eq!(store.get_instance_setting("secret_key_check").await.unwrap(), None);

    // With a key: the check value is recorded and existing keys are sealed in place.
    let key = SecretKey::generate();
    let sealed = core(&db, Some(key.clone())).await.unwrap();
    assert_eq!(sealed.jwks(), plain.jwks(), "the same signing keys");
    let raw = store.list_signing_keys().await.unwrap();
    assert!(raw[0].private_pkcs8.starts_with(b"rsb1."), "sealed at rest");
    assert_eq!(
        store.get_instance_setting("secret_key_check").await.unwrap(),
        Some(key.check_value())
    );
    // A rotated key is sealed too, and every instance with the key reads it.
    sealed.rotate_signing_key().await.unwrap();
    assert!(
        store
            .list_signing_keys()
            .await
            .unwrap()
            .iter()
            .all(|r| r.private_pkcs8.starts_with(b"rsb1."))
    );
    let again = core(&db, Some(key.clone())).await.unwrap();
    assert_eq!(again.jwks(), sealed.jwks());

    // Another key is refused with a clear error.
    let Err(roster_core::Error::Internal(error)) = core(&db, Some(SecretKey::generate())).await else {
        panic!("another key must be refused");
    };
    let message = error.to_string();
    assert!(message.contains("ROSTER_SECRET_KEY"), "{message}");
}

/// Racing uses of one code, one backup code or one challenge: exactly one wins.
async fn racing_uses_have_one_winner(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let (secret, codes) = enable(&app, &user).await;
    let step = step_at(app.clock.now());
    let code_now = code_at(&secret, step);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let core = app.core.clone();
            let factor = SecondFactor::Code(code_now.clone());
            tokio::spawn(async move { core.verify_two_factor(user.id, &factor).await.is_ok() })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1, "one use of a code");
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let core = app.core.clone();
            let factor = SecondFactor::BackupCode(codes[0].clone());
            tokio::spawn(async move { core.verify_two_factor(user.id, &factor).await.is_ok() })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1, "one use of a backup code");
    // One challenge, several valid factors at once: one session.
    let ch = challenge(&app, &user).await;
    let factors = [
        SecondFactor::Code(code_at(&secret, step + 1)),
        SecondFactor::BackupCode(codes[1].clone()),
        SecondFactor::BackupCode(codes[2].clone()),
    ];
    let tasks: Vec<_> = factors
        .into_iter()
        .map(|factor| {
            let core = app.core.clone();
            let ch = ch.clone();
            tokio::spawn(async move {
                core.complete_two_factor_login(&ch, &factor, &Default::default())
                    .await
                    .is_ok()
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1, "one session per challenge");
}

/// Code attempts of one user are rate limited (`two_factor`): 429 with Retry-After, even for
/// a right code, until the window ends.
async fn code_attempts_are_rate_limited(backend: Backend) {
    let app = roster_testkit::or_skip!(
        roster_testkit::app::spawn_app_with(backend, |c| {
            c.limits.two_factor = roster_core::limit::Rate::new(3, Duration::minutes(1));
        })
        .await
    );
    let user = app.user(Role::User).await;
    let (secret, _) = enable(&app, &user).await;
    let first = challenge(&app, &user).await;
    for _ in 0..2 {
        second_step(&app, &first, json!({ "code": "000000" }))
            .await
            .assert_status(401);
    }
    let fresh = challenge(&app, &user).await;
    second_step(&app, &fresh, json!({ "code": "000001" }))
        .await
        .assert_status(401);
    let limited = second_step(&app, &fresh, json!({ "code": code(&app, &secret, 0) })).await;
    limited.assert_status(429);
    assert!(limited.headers.get("retry-after").is_some(), "{}", limited.text);
    app.advance(Duration::minutes(2));
    let fresh = challenge(&app, &user).await;
    second_step(&app, &fresh, json!({ "code": code(&app, &secret, 0) }))
        .await
        .assert_status(200);
}

backend_tests!(
    code_attempts_are_rate_limited,
    racing_uses_have_one_winner,
    enrol_confirm_and_log_in,
    backup_codes_are_single_use_and_regenerable,
    challenges_expire_and_allow_few_attempts,
    every_dialect_login_goes_through_the_gate,
    secret_key_is_checked_and_signing_keys_sealed,
);
