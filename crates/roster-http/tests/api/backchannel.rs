//! OpenID Connect Back-Channel Logout 1.0: every way a session ends (sign-out, "log out
//! everywhere", an administrator's revocation, a ban, deactivation, a password reset,
//! deletion) sends the client a logout token that verifies against the JWKS; the queue
//! survives a restart; a receiver that keeps failing is given up visibly and audited.

use crate::oidc::{REDIRECT, claims_of, client, code_for, exchange, query_of, url_encode, verify_with_jwks};
use crate::pages::Browser;
use crate::webhooks::webhook_app;
use roster_core::service::oidc::ClientChanges;
use roster_core::service::oidc::backchannel::{BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_TYPE};
use roster_core::service::{DeliveryWorker, HttpTransport, WebhookSettings};
use roster_core::store::OidcLogout;
use roster_core::webhooks::DeliveryStatus;
use roster_core::{Core, CoreConfig, Role, SystemClock};
use roster_testkit::app::{TestApp, TestUser};
use roster_testkit::webhooks::{Answer, Received, Receiver};
use roster_testkit::{Backend, backend_tests};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const CHALLENGE: &str = "QkivW4l930RkWv961iReOTNmRwNtPvQw3MK03HrFTKU";

/// The webhook tests' fast settings, with fewer attempts.
fn fast() -> WebhookSettings {
    WebhookSettings {
        request_timeout: Duration::from_secs(2),
        max_attempts: 3,
        ..crate::webhooks::fast()
    }
}

fn worker(core: Arc<Core>) -> DeliveryWorker {
    DeliveryWorker::new(core, fast(), Arc::new(HttpTransport::new().unwrap()))
}

/// Runs delivery rounds until the receiver has `count` requests (at most 20 s).
async fn deliver(worker: &DeliveryWorker, receiver: &Receiver, count: usize) -> Vec<Received> {
    for _ in 0..800 {
        worker.tick().await.unwrap();
        if receiver.received().len() >= count {
            return receiver.received();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("expected {count} logout requests, got {:?}", receiver.received().len());
}

/// A confidential first-party client whose logouts go to `receiver`; returns its secret.
async fn rp(app: &TestApp, id: &str, receiver: &Receiver) -> String {
    client(
        app,
        id,
        false,
        true,
        ClientChanges {
            backchannel_logout_uri: Some(Some(receiver.url.clone())),
            ..ClientChanges::default()
        },
    )
    .await
    .unwrap()
}

/// Signs `user` in to `client_id` through the code flow on the user's test session; the ID
/// token's claims.
async fn tokens(app: &TestApp, user: &TestUser, client_id: &str, secret: &str, scope: &str) -> Value {
    let code = code_for(app, user, client_id, &[("scope", scope)]).await;
    let (status, tokens) = exchange(app, &code, (client_id, secret)).await;
    assert_eq!(status, 200, "{tokens}");
    claims_of(tokens["id_token"].as_str().unwrap())
}

/// Signs `user` in with the browser, then to `client_id`; the ID token's claims.
async fn browser_tokens(
    app: &TestApp,
    browser: &mut Browser<'_>,
    user: &TestUser,
    client_id: &str,
    secret: &str,
) -> Value {
    let tokens = browser_grant(app, browser, user, client_id, secret, "openid%20email").await;
    claims_of(tokens["id_token"].as_str().unwrap())
}

/// Signs `user` in with the browser (if not yet), then to `client_id` with `scope` (URL
/// encoded); the token response.
async fn browser_grant(
    app: &TestApp,
    browser: &mut Browser<'_>,
    user: &TestUser,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> Value {
    let authorize = format!(
        "/oidc/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope={scope}&state=s&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256",
        url_encode(REDIRECT)
    );
    if browser.session_cookie().is_none() {
        let back = browser.sign_in(&user.email, &user.password, Some(&authorize)).await;
        assert_eq!(back.status, 303, "{}", back.html);
    }
    let answer = browser.get(&authorize).await;
    let q = query_of(&answer.location().unwrap());
    let (status, tokens) = exchange(app, &q["code"], (client_id, secret)).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// Exchanges a refresh token: the status, and the new refresh token on success.
async fn refresh(app: &TestApp, client_id: &str, secret: &str, token: &str) -> (u16, Option<String>) {
    let (status, body, _) = crate::oidc::form(
        app,
        "/oidc/token",
        Some((client_id, secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await;
    (status, body["refresh_token"].as_str().map(str::to_string))
}

/// Signs out of the browser session at `/signout` (`everywhere`: every session of the user).
async fn sign_out(browser: &mut Browser<'_>, everywhere: bool) {
    let page = browser.get("/signout").await;
    let mut form = page.form("/signout");
    if everywhere {
        form = form.set("everywhere", "on");
    }
    let out = browser.submit(&form).await;
    assert!(out.status.as_u16() < 400, "{}", out.html);
}

/// Ends `user`'s sessions the way `what` says, as an administrator or the operator would.
async fn end_account_sessions(app: &TestApp, admin: &TestUser, user: &TestUser, what: &str) {
    let op = app.core.operator();
    match what {
        "admin revocation" => {
            app.core.revoke_user_sessions(op, user.id).await.unwrap();
        }
        "ban" => {
            app.core
                .ban_user(op, user.id, roster_core::time::Duration::hours(1), None)
                .await
                .unwrap();
        }
        "deactivation" => {
            app.patch(
                &format!("/v1/users/{}", user.id),
                Some(&admin.access_token),
                &json!({"active": false}),
            )
            .await
            .assert_status(200);
        }
        "password reset" => {
            app.core
                .reset_password(op, user.id, "a brand new password", false)
                .await
                .unwrap();
        }
        "deletion" => {
            app.delete(&format!("/v1/users/{}", user.id), Some(&admin.access_token))
                .await
                .assert_status(204);
        }
        other => panic!("unknown way {other}"),
    }
}

/// The logout token of a request, checked as a relying party does (Back-Channel Logout 1.0
/// §2.6, and what Open WebUI checks): form-encoded, `typ: logout+jwt`, a `kid` the JWKS has, the
/// signature, `iss`, `aud`, `iat`, `exp`, `jti`, `events`, no `nonce`, `sub` and `sid` those of
/// the ID token.
async fn check_logout(app: &TestApp, received: &Received, client_id: &str, id_token: &Value) -> Value {
    assert_eq!(
        received.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&received.body).into_owned().collect();
    assert_eq!(form.len(), 1, "{form:?}");
    assert_eq!(form[0].0, "logout_token");
    let token = &form[0].1;
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some(LOGOUT_TOKEN_TYPE));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let claims = verify_with_jwks(app, token, client_id).await;
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["aud"], client_id);
    assert_eq!(claims["sub"], id_token["sub"]);
    assert_eq!(claims["sid"], id_token["sid"]);
    assert_eq!(claims["events"], json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
    assert!(claims.get("nonce").is_none(), "{claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16), "{claims}");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!(exp > iat && exp - iat <= 120, "short-lived: {claims}");
    claims
}

async fn logouts(app: &TestApp, client_id: &str) -> Vec<OidcLogout> {
    app.core
        .list_oidc_logouts(app.core.operator(), Some(client_id), None, None)
        .await
        .unwrap()
}

async fn every_way_a_session_ends_sends_a_logout_token(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let secret = rp(&app, "rp", &receiver).await;
    // A client without a back-channel logout URI gets nothing.
    let quiet = client(&app, "quiet", false, true, ClientChanges::default())
        .await
        .unwrap();
    let worker = worker(app.core.clone());
    let mut sent = 0;

    // Signing out at Roster (/signout): the browser session's logout, sid included.
    let user = app.user(Role::User).await;
    let mut browser = Browser::new(&app);
    let id_token = browser_tokens(&app, &mut browser, &user, "rp", &secret).await;
    // Two sign-ins to the client in one browser session make one logout.
    browser_tokens(&app, &mut browser, &user, "rp", &secret).await;
    browser_tokens(&app, &mut browser, &user, "quiet", &quiet).await;
    let page = browser.get("/signout").await;
    let out = browser.submit(&page.form("/signout")).await;
    assert!(out.status.as_u16() < 400, "{}", out.html);
    sent += 1;
    let received = deliver(&worker, &receiver, sent).await;
    check_logout(&app, &received[sent - 1], "rp", &id_token).await;

    // "Log out everywhere" at /signout: every session of the user, the token sessions too.
    let user = app.user(Role::User).await;
    let mut browser = Browser::new(&app);
    let in_browser = browser_tokens(&app, &mut browser, &user, "rp", &secret).await;
    let elsewhere = tokens(&app, &user, "rp", &secret, "openid").await;
    assert_ne!(in_browser["sid"], elsewhere["sid"]);
    let page = browser.get("/signout").await;
    let out = browser.submit(&page.form("/signout").set("everywhere", "on")).await;
    assert!(out.status.as_u16() < 400, "{}", out.html);
    sent += 2;
    let received = deliver(&worker, &receiver, sent).await;
    let sids: Vec<Value> = {
        let mut v = Vec::new();
        for r in &received[sent - 2..] {
            let expected = if claims_of(&logout_token(r))["sid"] == in_browser["sid"] {
                &in_browser
            } else {
                &elsewhere
            };
            v.push(check_logout(&app, r, "rp", expected).await["sid"].clone());
        }
        v
    };
    assert!(
        sids.contains(&in_browser["sid"]) && sids.contains(&elsewhere["sid"]),
        "{sids:?}"
    );

    // An administrator revokes the user's sessions; a ban; a deactivation; a password reset;
    // a deletion: each ends the user's grant and sends its logout.
    for what in ["admin revocation", "ban", "deactivation", "password reset", "deletion"] {
        let user = app.user(Role::User).await;
        let id_token = tokens(&app, &user, "rp", &secret, "openid email").await;
        tokens(&app, &user, "quiet", &quiet, "openid").await;
        end_account_sessions(&app, &admin, &user, what).await;
        sent += 1;
        let received = deliver(&worker, &receiver, sent).await;
        assert_eq!(received.len(), sent, "{what}: one logout");
        check_logout(&app, &received[sent - 1], "rp", &id_token).await;
    }

    // Every logout is recorded delivered, and audited.
    let queued = logouts(&app, "rp").await;
    assert_eq!(queued.len(), sent);
    assert!(
        queued
            .iter()
            .all(|l| l.status == DeliveryStatus::Delivered && l.attempts == 1),
        "{queued:?}"
    );
    assert!(logouts(&app, "quiet").await.is_empty());
    let audit = app
        .get(
            "/v1/audit?limit=200&action=oidc.backchannel_logout",
            Some(&admin.access_token),
        )
        .await;
    audit.assert_status(200);
    let entries = audit.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), sent, "{}", audit.text);
    assert!(
        entries.iter().all(|e| e["details"]["status"] == "delivered"),
        "{}",
        audit.text
    );
    // Nothing more was sent.
    tokio::time::sleep(Duration::from_millis(100)).await;
    worker.tick().await.unwrap();
    assert_eq!(receiver.received().len(), sent);
}

fn logout_token(received: &Received) -> String {
    url::form_urlencoded::parse(&received.body)
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

async fn logouts_survive_a_restart_and_are_given_up_visibly(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let receiver = Receiver::start(Answer::Status(200)).await;
    let secret = rp(&app, "rp", &receiver).await;
    let user = app.user(Role::User).await;
    let id_token = tokens(&app, &user, "rp", &secret, "openid").await;

    // No worker runs: the logout waits in the database.
    app.core
        .revoke_user_sessions(app.core.operator(), user.id)
        .await
        .unwrap();
    let queued = logouts(&app, "rp").await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].status, DeliveryStatus::Pending);
    assert_eq!((queued[0].user_id, queued[0].attempts), (user.id, 0));

    // Another process on the same database (a new core, as after a restart) delivers it.
    let restarted = Arc::new(
        Core::new(
            app.db.store().await,
            Arc::new(SystemClock),
            CoreConfig {
                node_id: 7,
                public_url: app.address.clone(),
                webhook_allow_private_networks: true,
                ..CoreConfig::default()
            },
        )
        .await
        .unwrap(),
    );
    let received = deliver(&worker(restarted.clone()), &receiver, 1).await;
    check_logout(&app, &received[0], "rp", &id_token).await;
    assert_eq!(logouts(&app, "rp").await[0].status, DeliveryStatus::Delivered);

    // Two instances deliver together: each logout is sent once (claims with a lease; on
    // SQLite one instance holds the delivery lease).
    let mut expected = std::collections::HashSet::new();
    for _ in 0..6 {
        let user = app.user(Role::User).await;
        let id_token = tokens(&app, &user, "rp", &secret, "openid").await;
        expected.insert(id_token["sid"].as_str().unwrap().to_string());
        app.core
            .revoke_user_sessions(app.core.operator(), user.id)
            .await
            .unwrap();
    }
    let (a, b) = (worker(app.core.clone()), worker(restarted.clone()));
    for _ in 0..400 {
        let (x, y) = tokio::join!(a.tick(), b.tick());
        x.unwrap();
        y.unwrap();
        if receiver.received().len() > expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (x, y) = tokio::join!(a.tick(), b.tick());
    x.unwrap();
    y.unwrap();
    let sids: Vec<String> = receiver.received()[1..]
        .iter()
        .map(|r| claims_of(&logout_token(r))["sid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sids.len(), expected.len(), "each sent once: {sids:?}");
    assert_eq!(sids.into_iter().collect::<std::collections::HashSet<_>>(), expected);
    let already = receiver.received().len();

    // A receiver that keeps failing: retried with back-off, then given up (failed, kept,
    // audited), never sent again.
    receiver.answer(Answer::Status(500));
    let user = app.user(Role::User).await;
    tokens(&app, &user, "rp", &secret, "openid").await;
    app.core
        .ban_user(
            app.core.operator(),
            user.id,
            roster_core::time::Duration::hours(1),
            None,
        )
        .await
        .unwrap();
    let worker = worker(app.core.clone());
    deliver(&worker, &receiver, already + fast().max_attempts as usize).await;
    let last = logouts(&app, "rp").await.remove(0);
    assert_eq!(last.status, DeliveryStatus::Failed, "{last:?}");
    assert_eq!(last.attempts, i64::from(fast().max_attempts));
    assert_eq!(last.last_status_code, Some(500));
    assert_eq!(last.last_error.as_deref(), Some("HTTP 500"));
    let failed = app
        .core
        .list_oidc_logouts(app.core.operator(), None, Some("failed"), None)
        .await
        .unwrap();
    assert_eq!(failed, vec![last]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    worker.tick().await.unwrap();
    assert_eq!(receiver.received().len(), already + fast().max_attempts as usize);
    assert!(
        app.core
            .list_oidc_logouts(app.core.operator(), None, Some("lost"), None)
            .await
            .is_err(),
        "a bad status is refused"
    );
}

/// An offline grant (`offline_access`) outlives the browser session's sign-out (the client is
/// still told of the sign-out), and ends, with a logout, on revocation (RFC 7009), "log out
/// everywhere", an administrator's revocation, a ban, a deactivation, a password reset and a
/// deletion. A grant without `offline_access` ends with the browser session.
async fn offline_grants_outlive_the_sign_out_but_not_the_account(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let secret = rp(&app, "rp", &receiver).await;
    let worker = worker(app.core.clone());
    let mut sent = 0;

    let user = app.user(Role::User).await;
    let mut browser = Browser::new(&app);
    let online = browser_grant(&app, &mut browser, &user, "rp", &secret, "openid%20email").await;
    let offline = browser_grant(&app, &mut browser, &user, "rp", &secret, "openid%20offline_access").await;
    let sid = claims_of(offline["id_token"].as_str().unwrap())["sid"].clone();
    assert_eq!(claims_of(online["id_token"].as_str().unwrap())["sid"], sid);
    sign_out(&mut browser, false).await;
    // The client hears of the sign-out (one logout for the sid)...
    sent += 1;
    let received = deliver(&worker, &receiver, sent).await;
    assert_eq!(claims_of(&logout_token(&received[0]))["sid"], sid);
    // ...the online grant ended, the offline one did not, and keeps rotating.
    assert_eq!(
        refresh(&app, "rp", &secret, online["refresh_token"].as_str().unwrap())
            .await
            .0,
        400
    );
    let (status, next) = refresh(&app, "rp", &secret, offline["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let (status, next) = refresh(&app, "rp", &secret, &next.unwrap()).await;
    assert_eq!(status, 200);
    let next = next.unwrap();
    let (_, refreshed, _) = crate::oidc::form(
        &app,
        "/oidc/token",
        Some(("rp", &secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &next)],
    )
    .await;
    assert_eq!(
        claims_of(refreshed["id_token"].as_str().unwrap())["sid"],
        sid,
        "tokens keep the browser session's sid"
    );
    let next = refreshed["refresh_token"].as_str().unwrap().to_string();
    // It is one of the user's sessions, named after its client.
    let sessions = app.get("/v1/me/sessions", Some(&user.access_token)).await;
    sessions.assert_status(200);
    assert!(sessions.text.contains("offline access: rp"), "{}", sessions.text);
    // Revoked by its client (RFC 7009): ended, with a logout.
    let (status, _, _) = crate::oidc::form(&app, "/oidc/revoke", Some(("rp", &secret)), &[("token", &next)]).await;
    assert_eq!(status, 200);
    assert_eq!(refresh(&app, "rp", &secret, &next).await.0, 400);
    sent += 1;
    let received = deliver(&worker, &receiver, sent).await;
    assert_eq!(claims_of(&logout_token(&received[sent - 1]))["sid"], sid);
    assert!(
        !app.get("/v1/me/sessions", Some(&user.access_token))
            .await
            .text
            .contains("offline access")
    );

    // Each way an account's sessions all end ends an offline grant left after a sign-out.
    for what in [
        "log out everywhere",
        "admin revocation",
        "ban",
        "deactivation",
        "password reset",
        "deletion",
    ] {
        let user = app.user(Role::User).await;
        let mut browser = Browser::new(&app);
        let offline = browser_grant(&app, &mut browser, &user, "rp", &secret, "openid%20offline_access").await;
        let token = offline["refresh_token"].as_str().unwrap().to_string();
        sign_out(&mut browser, false).await;
        sent += 1;
        deliver(&worker, &receiver, sent).await;
        let (status, token) = refresh(&app, "rp", &secret, &token).await;
        assert_eq!(status, 200, "{what}: alive after the sign-out");
        let token = token.unwrap();
        if what == "log out everywhere" {
            let mut again = Browser::new(&app);
            browser_grant(&app, &mut again, &user, "rp", &secret, "openid").await;
            sign_out(&mut again, true).await;
            sent += 1; // the new browser session's grant
        } else {
            end_account_sessions(&app, &admin, &user, what).await;
        }
        sent += 1;
        let received = deliver(&worker, &receiver, sent).await;
        assert_eq!(received.len(), sent, "{what}");
        let new = if what == "log out everywhere" { 2 } else { 1 };
        assert!(
            received[sent - new..]
                .iter()
                .any(|r| claims_of(&logout_token(r))["sid"] == claims_of(offline["id_token"].as_str().unwrap())["sid"]),
            "{what}: the offline grant's logout"
        );
        assert_eq!(refresh(&app, "rp", &secret, &token).await.0, 400, "{what}: ended");
    }
}

/// A back-channel logout URI obeys the webhooks' address policy, with an error naming the field.
async fn logout_uris_follow_the_address_policy(backend: Backend) {
    let app = roster_testkit::or_skip!(roster_testkit::spawn_app(backend).await);
    let admin = app.admin().await;
    let body = |uri: &str| {
        json!({
            "client_id": "rp", "redirect_uris": [REDIRECT], "first_party": true,
            "backchannel_logout_uri": uri,
        })
    };
    for uri in [
        "http://127.0.0.1:9000/logout",
        "http://169.254.169.254/",
        "http://localhost/x",
    ] {
        let r = app.post("/v1/clients", Some(&admin.access_token), &body(uri)).await;
        r.assert_status(422);
        assert_eq!(r.body["field"], "backchannel_logout_uri", "{uri}: {}", r.text);
    }
    app.post(
        "/v1/clients",
        Some(&admin.access_token),
        &body("https://chat.example.org/oauth/backchannel-logout"),
    )
    .await
    .assert_status(201);
    let r = app
        .patch(
            "/v1/clients/rp",
            Some(&admin.access_token),
            &json!({"backchannel_logout_uri": "http://10.0.0.8/"}),
        )
        .await;
    r.assert_status(422);
    assert_eq!(r.body["field"], "backchannel_logout_uri", "{}", r.text);
}

backend_tests!(
    logout_uris_follow_the_address_policy,
    offline_grants_outlive_the_sign_out_but_not_the_account,
    every_way_a_session_ends_sends_a_logout_token,
    logouts_survive_a_restart_and_are_given_up_visibly,
);
