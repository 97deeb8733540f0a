//! The LibreChat dialect: auth routes, the user, settings, deletion, verification over SMTP,
//! terms, balance and avatars, with LibreChat's shapes and errors.

use reqwest::Method;
use roster_core::time::Duration;
use roster_core::{Core, Role, UserId};
use roster_http::HttpConfig;
use roster_testkit::app::{TestApp, TestResponse, spawn_app_with, spawn_app_with_http};
use roster_testkit::smtp::SmtpSink;
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

const P: &str = "/librechat";

async fn lc(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> TestResponse {
    app.request(method, &format!("{P}{path}"), token, body).await
}

#[track_caller]
fn assert_message(r: &TestResponse, status: u16, message: &str) {
    r.assert_status(status);
    assert_eq!(r.body["message"], message, "body: {}", r.text);
}

#[track_caller]
fn assert_unauthorized(r: &TestResponse) {
    assert_message(r, 401, "You must be logged in to access this resource");
    assert_eq!(r.body["error"], "Unauthorized");
}

fn signup(email: &str, username: &str) -> Value {
    json!({
        "name": "Ann Lee",
        "email": email,
        "username": username,
        "password": "correct horse",
        "confirm_password": "correct horse",
    })
}

async fn register(app: &TestApp, body: &Value) -> TestResponse {
    lc(app, Method::POST, "/api/auth/register", None, Some(body)).await
}

async fn login(app: &TestApp, email: &str, password: &str) -> TestResponse {
    lc(
        app,
        Method::POST,
        "/api/auth/login",
        None,
        Some(&json!({ "email": email, "password": password })),
    )
    .await
}

/// Registers and logs in; returns (token, refresh cookie value, user body).
async fn signed_up(app: &TestApp, email: &str, username: &str) -> (String, String, Value) {
    assert_message(
        &register(app, &signup(email, username)).await,
        200,
        "Please check your email to verify your email address.",
    );
    let r = login(app, email, "correct horse").await;
    r.assert_status(200);
    let cookie = refresh_cookie(&r).expect("refreshToken cookie");
    (
        r.body["token"].as_str().unwrap().to_string(),
        cookie,
        r.body["user"].clone(),
    )
}

fn refresh_cookie(r: &TestResponse) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("refreshToken="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .filter(|c| !c.is_empty())
}

async fn refresh(app: &TestApp, cookie: Option<&str>) -> TestResponse {
    let mut request = app.client.post(format!("{}{P}/api/auth/refresh", app.address));
    if let Some(c) = cookie {
        request = request.header("cookie", format!("token_provider=librechat; refreshToken={c}"));
    }
    TestApp::read(request.send().await.unwrap()).await
}

async fn register_login_refresh_logout(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let (token, cookie, user) = signed_up(&app, "Ann@Example.org", "ann").await;
    // The user as LibreChat shows it: 24-hex ids, ADMIN for the first account, ISO times.
    let id = user["id"].as_str().unwrap();
    assert_eq!(id.len(), 24);
    assert_eq!(user["_id"], id);
    assert_eq!(user["role"], "ADMIN");
    assert_eq!(user["email"], "ann@example.org");
    assert_eq!(user["emailVerified"], true, "without mail, addresses count as verified");
    let r = lc(&app, Method::GET, "/api/user", Some(&token), None).await;
    r.assert_status(200);
    for key in [
        "_id",
        "id",
        "name",
        "username",
        "email",
        "emailVerified",
        "avatar",
        "provider",
        "role",
        "plugins",
        "twoFactorEnabled",
        "termsAccepted",
        "personalization",
        "favorites",
        "skillStates",
        "createdAt",
        "updatedAt",
    ] {
        assert!(r.body.get(key).is_some(), "{key} in {}", r.text);
    }
    assert!(r.body["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r.body["provider"], "local");
    assert_eq!(r.body["name"], "Ann Lee");
    // One user in every dialect: the LibreChat token works natively and the ids agree.
    let me = app.get("/v1/me", Some(&token)).await;
    me.assert_status(200);
    let native_id: i64 = me.body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(UserId::from_object_id(id).unwrap(), UserId(native_id));
    let native = app.login("ann@example.org", "correct horse").await;
    let native_token = native.body["access_token"].as_str().unwrap();
    lc(&app, Method::GET, "/api/user", Some(native_token), None)
        .await
        .assert_status(200);
    // A second account is USER; registering a taken address answers the same.
    let (_, _, second) = signed_up(&app, "bob@example.org", "bob").await;
    assert_eq!(second["role"], "USER");
    assert_message(
        &register(&app, &signup("ANN@example.org", "ann2")).await,
        200,
        "Please check your email to verify your email address.",
    );
    // Refresh with the cookie rotates it; the old one is then refused.
    let r = refresh(&app, Some(&cookie)).await;
    r.assert_status(200);
    assert!(r.body["token"].is_string());
    assert_eq!(r.body["user"]["id"], id);
    let new_cookie = refresh_cookie(&r).unwrap();
    assert_ne!(new_cookie, cookie);
    let r = refresh(&app, None).await;
    r.assert_status(200);
    assert_eq!(r.text, "Refresh token not provided");
    let r = refresh(&app, Some("not-a-token")).await;
    r.assert_status(403);
    assert_eq!(r.text, "Invalid refresh token");
    // Logout ends the session and clears the cookie.
    let r = lc(&app, Method::POST, "/api/auth/logout", Some(&token), None).await;
    assert_message(&r, 200, "Logout successful");
    assert!(
        r.headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().contains("Max-Age=0"))
    );
    assert_unauthorized(&lc(&app, Method::GET, "/api/user", Some(&token), None).await);
    assert_unauthorized(&lc(&app, Method::POST, "/api/auth/logout", None, None).await);
}

async fn auth_errors(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    signed_up(&app, "ann@example.org", "ann").await;
    // Validation: 404 with LibreChat's messages.
    let cases = [
        (
            json!({"confirm_password": "other horse"}),
            "The passwords did not match",
        ),
        (json!({"username": "ann$ne"}), "Potential injection attack detected"),
        (json!({"username": "a b"}), "Invalid characters in username"),
        (json!({"name": "A"}), "Name must be between 3 and 80 characters"),
        (json!({"email": "nope"}), "Invalid email"),
        (
            json!({"password": "        ", "confirm_password": "        "}),
            "Password cannot be only spaces",
        ),
        (
            json!({"password": "short", "confirm_password": "short"}),
            "Password must be between 8 and 128 characters",
        ),
    ];
    for (change, message) in cases {
        let mut body = signup("new@example.org", "newbie");
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        assert_message(&register(&app, &body).await, 404, message);
    }
    // LibreChat's allow-list (with # $ % & ( )) is accepted, and usernames are stored lower-cased.
    let (_, _, user) = signed_up(&app, "mixed@example.org", "Mixed#Case(1)").await;
    assert_eq!(user["username"], "mixed#case(1)");
    // A taken username is a conflict (emails are not revealed).
    assert_message(
        &register(&app, &signup("other@example.org", "ANN")).await,
        409,
        "Username is already taken.",
    );
    // Login errors.
    assert_message(
        &login(&app, "ann@example.org", "wrong password").await,
        404,
        "Email does not exist or the password is incorrect.",
    );
    assert_message(
        &login(&app, "nobody@example.org", "wrong password").await,
        404,
        "Email does not exist or the password is incorrect.",
    );
    assert_message(&login(&app, "", "").await, 404, "Missing credentials");
    // Malformed requests, unknown routes, missing and bad tokens: LibreChat's shapes.
    let r = app
        .client
        .post(format!("{}{P}/api/auth/login", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    r.assert_status(400);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("malformed json"),
        "{}",
        r.text
    );
    assert_message(
        &lc(&app, Method::GET, "/api/nothing", None, None).await,
        404,
        "Not Found",
    );
    assert_message(
        &lc(&app, Method::PUT, "/api/user", None, None).await,
        405,
        "Method not allowed on this route",
    );
    assert_unauthorized(&lc(&app, Method::GET, "/api/user", None, None).await);
    assert_unauthorized(&lc(&app, Method::GET, "/api/user", Some("garbage"), None).await);
    // A banned account is refused with a message naming the end of the ban.
    let user = app.user(Role::User).await;
    app.core
        .ban_user(app.core.operator(), user.id, Duration::hours(1), None)
        .await
        .unwrap();
    let r = lc(&app, Method::GET, "/api/user", Some(&user.access_token), None).await;
    r.assert_status(403);
    assert!(
        r.body["message"].as_str().unwrap().contains("banned until"),
        "{}",
        r.text
    );
}

async fn registration_switch_and_invitations(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.allow_registration = false).await);
    assert_message(
        &register(&app, &signup("ann@example.org", "ann")).await,
        403,
        "Registration is not allowed.",
    );
    let invitation = app
        .core
        .create_invitation(
            app.core.operator(),
            roster_core::service::NewInvitation {
                email: "ann@example.org".into(),
                role: None,
                expires_in: Duration::days(1),
            },
        )
        .await
        .unwrap();
    let mut body = signup("ann@example.org", "ann");
    body["token"] = json!("wrong");
    register(&app, &body).await.assert_status(404);
    body["token"] = json!(invitation.token);
    register(&app, &body).await.assert_status(200);
    login(&app, "ann@example.org", "correct horse").await.assert_status(200);
}

async fn email_verification_over_smtp(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let url = smtp.url.clone();
    let app = roster_testkit::or_skip!(
        spawn_app_with(backend, move |c| {
            c.smtp_url = Some(url);
            c.allow_unverified_email_login = false;
        })
        .await
    );
    register(&app, &signup("ann@example.org", "ann"))
        .await
        .assert_status(200);
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail[0].to, vec!["ann@example.org".to_string()]);
    assert!(mail[0].data.contains("text/plain") && mail[0].data.contains("text/html"));
    // Unverified: login refused as LibreChat does.
    assert_message(
        &login(&app, "ann@example.org", "correct horse").await,
        422,
        "Email not verified.",
    );
    // Resend: a new link; an unknown address gets the same answer and no mail.
    let resend = |email: &'static str| {
        let app = &app;
        async move {
            lc(
                app,
                Method::POST,
                "/api/user/verify/resend",
                None,
                Some(&json!({ "email": email })),
            )
            .await
        }
    };
    assert_message(
        &resend("ann@example.org").await,
        200,
        "Please check your email to verify your email address.",
    );
    assert_message(
        &resend("nobody@example.org").await,
        200,
        "Please check your email to verify your email address.",
    );
    let mail = smtp.wait_for(2).await;
    assert_eq!(mail.len(), 2, "no mail for an unknown address");
    // The third request within two minutes from this address is refused.
    let r = resend("ann@example.org").await;
    assert_message(&r, 429, "Please wait before requesting another verification email");
    assert_eq!(r.body["error"], "Too many requests");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=120).contains(&retry));
    // The first link was replaced by the second; follow the second.
    let first = mail[0].link(&format!("{}{P}/verify?", app.address)).unwrap();
    let link = mail[1].link(&format!("{}{P}/verify?", app.address)).unwrap();
    assert!(link.contains("email=ann%40example.org"), "{link}");
    let first_token = first
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let r = lc(
        &app,
        Method::POST,
        "/api/user/verify",
        None,
        Some(&json!({"email": "ann@example.org", "token": first_token})),
    )
    .await;
    assert_message(&r, 400, "Invalid or expired email verification token");
    assert_eq!(r.body["error"], "Invalid or expired verification token");
    // The link is for Ann: with another address or user it verifies nothing (and stays usable).
    let token = link
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let r = lc(
        &app,
        Method::POST,
        "/api/user/verify",
        None,
        Some(&json!({"email": "bob@example.org", "token": token})),
    )
    .await;
    r.assert_status(400);
    let r = lc(
        &app,
        Method::POST,
        "/api/user/verify",
        None,
        Some(&json!({"userId": UserId(1).to_object_id(), "token": token})),
    )
    .await;
    r.assert_status(400);
    let r = TestApp::read(app.client.get(&link).send().await.unwrap()).await;
    assert_message(&r, 200, "Email verified successfully");
    // Single use.
    let r = TestApp::read(app.client.get(&link).send().await.unwrap()).await;
    assert_message(&r, 400, "Invalid or expired email verification token");
    let r = login(&app, "ann@example.org", "correct horse").await;
    r.assert_status(200);
    assert_eq!(r.body["user"]["emailVerified"], true);
    // Links expire after 15 minutes.
    register(&app, &signup("bob@example.org", "bob"))
        .await
        .assert_status(200);
    let mail = smtp.wait_for(3).await;
    let link = mail[2].link(&format!("{}{P}/verify?", app.address)).unwrap();
    let token = link
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    app.advance(Duration::minutes(16));
    let r = lc(
        &app,
        Method::POST,
        "/api/user/verify",
        None,
        Some(&json!({"token": token})),
    )
    .await;
    r.assert_status(400);
    let r = lc(
        &app,
        Method::POST,
        "/api/user/verify",
        None,
        Some(&json!({"token": ""})),
    )
    .await;
    r.assert_status(400);
}

async fn unreachable_smtp_server(backend: Backend) {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = roster_testkit::or_skip!(
        spawn_app_with(backend, move |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await
    );
    // The account is created; the failed mail is logged; the user can ask again later. Mail
    // is sent outside the request, so a resend answers as for any address.
    register(&app, &signup("ann@example.org", "ann"))
        .await
        .assert_status(200);
    let r = login(&app, "ann@example.org", "correct horse").await;
    r.assert_status(200);
    assert_eq!(r.body["user"]["emailVerified"], false);
    let r = lc(
        &app,
        Method::POST,
        "/api/user/verify/resend",
        None,
        Some(&json!({"email": "ann@example.org"})),
    )
    .await;
    assert_message(&r, 200, "Please check your email to verify your email address.");
}

async fn password_reset(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let url = smtp.url.clone();
    let app = roster_testkit::or_skip!(spawn_app_with(backend, move |c| c.smtp_url = Some(url)).await);
    let (token, _, user) = signed_up(&app, "ann@example.org", "ann").await;
    smtp.wait_for(1).await;
    let ask = |email: &'static str| {
        let app = &app;
        async move {
            lc(
                app,
                Method::POST,
                "/api/auth/requestPasswordReset",
                None,
                Some(&json!({ "email": email })),
            )
            .await
        }
    };
    assert_message(
        &ask("nobody@example.org").await,
        200,
        "If an account with that email exists, a password reset link has been sent to it.",
    );
    // The same answer for an existing account (no enumeration); the link comes by mail.
    assert_message(
        &ask("ann@example.org").await,
        200,
        "If an account with that email exists, a password reset link has been sent to it.",
    );
    let mail = smtp.wait_for(2).await;
    let link = mail[1].link(&format!("{}/reset-password?", app.address)).unwrap();
    assert!(
        link.contains(&format!("userId={}", user["id"].as_str().unwrap())),
        "{link}"
    );
    let reset_token = link
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    // Rate limited: two per two minutes per address.
    let r = ask("ann@example.org").await;
    assert_message(&r, 429, "Too many attempts, please try again after 2 minute(s)");
    assert!(r.headers.contains_key("retry-after"));
    let reset = |t: &str, confirm: &str| json!({ "userId": user["id"], "token": t, "password": "new password!", "confirm_password": confirm });
    assert_message(
        &lc(
            &app,
            Method::POST,
            "/api/auth/resetPassword",
            None,
            Some(&reset(&reset_token, "other")),
        )
        .await,
        400,
        "The passwords did not match",
    );
    assert_message(
        &lc(
            &app,
            Method::POST,
            "/api/auth/resetPassword",
            None,
            Some(&reset("wrong", "new password!")),
        )
        .await,
        400,
        "Invalid or expired password reset token",
    );
    // The link is Ann's: another user id does not use it.
    let mut other = reset(&reset_token, "new password!");
    other["userId"] = json!(UserId(1).to_object_id());
    assert_message(
        &lc(&app, Method::POST, "/api/auth/resetPassword", None, Some(&other)).await,
        400,
        "Invalid or expired password reset token",
    );
    assert_message(
        &lc(
            &app,
            Method::POST,
            "/api/auth/resetPassword",
            None,
            Some(&reset(&reset_token, "new password!")),
        )
        .await,
        200,
        "Password reset was successful",
    );
    // Every session ended; the link works once; the new password works.
    assert_unauthorized(&lc(&app, Method::GET, "/api/user", Some(&token), None).await);
    lc(
        &app,
        Method::POST,
        "/api/auth/resetPassword",
        None,
        Some(&reset(&reset_token, "new password!")),
    )
    .await
    .assert_status(400);
    login(&app, "ann@example.org", "new password!").await.assert_status(200);
}

async fn plugins_preferences_and_settings(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let (token, _, _) = signed_up(&app, "ann@example.org", "ann").await;
    let t = Some(token.as_str());
    // The seed's body: the list, answered with the user.
    let r = lc(
        &app,
        Method::POST,
        "/api/user/plugins",
        t,
        Some(&json!({"plugins": ["web-search", "calculator"]})),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["plugins"], json!(["web-search", "calculator"]));
    // The client's body: install and uninstall one, answered with an empty 200.
    let r = lc(
        &app,
        Method::POST,
        "/api/user/plugins",
        t,
        Some(&json!({"pluginKey": "dalle", "action": "install", "auth": null})),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.text, "");
    lc(
        &app,
        Method::POST,
        "/api/user/plugins",
        t,
        Some(&json!({"pluginKey": "calculator", "action": "uninstall"})),
    )
    .await
    .assert_status(200);
    let r = lc(&app, Method::GET, "/api/user", t, None).await;
    assert_eq!(r.body["plugins"], json!(["web-search", "dalle"]));
    assert_message(
        &lc(
            &app,
            Method::POST,
            "/api/user/plugins",
            t,
            Some(&json!({"pluginKey": "x", "action": "explode"})),
        )
        .await,
        400,
        "action must be install or uninstall",
    );
    lc(
        &app,
        Method::POST,
        "/api/user/plugins",
        t,
        Some(&json!({"pluginKey": ""  , "action": "install"})),
    )
    .await
    .assert_status(400);
    assert_unauthorized(
        &lc(
            &app,
            Method::POST,
            "/api/user/plugins",
            None,
            Some(&json!({"plugins": []})),
        )
        .await,
    );
    // Preferences: personalization.statefulCodeEnvironment.
    let r = lc(
        &app,
        Method::PATCH,
        "/api/user/preferences",
        t,
        Some(&json!({"statefulCodeEnvironment": "conversation"})),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["updated"], true);
    assert_eq!(r.body["preferences"]["statefulCodeEnvironment"], "conversation");
    assert_eq!(r.body["preferences"]["memories"], true);
    assert_message(
        &lc(
            &app,
            Method::PATCH,
            "/api/user/preferences",
            t,
            Some(&json!({"statefulCodeEnvironment": "mars"})),
        )
        .await,
        400,
        "must be one of user, agent-user, conversation",
    );
    // Settings: favorites, pinned order, skill states; all in the one preferences object.
    let r = lc(&app, Method::GET, "/api/user/settings/favorites", t, None).await;
    assert_eq!(r.body, json!([]));
    let favorites = json!([{"agentId": "a1"}, {"model": "gpt", "endpoint": "openAI"}]);
    let r = lc(
        &app,
        Method::POST,
        "/api/user/settings/favorites",
        t,
        Some(&json!({"favorites": favorites})),
    )
    .await;
    assert_eq!(r.body, favorites);
    let r = lc(
        &app,
        Method::POST,
        "/api/user/settings/pinned-order",
        t,
        Some(&json!({"pinnedOrder": ["b", "a"]})),
    )
    .await;
    assert_eq!(r.body, json!(["b", "a"]));
    assert_eq!(
        lc(&app, Method::GET, "/api/user/settings/pinned-order", t, None)
            .await
            .body,
        json!(["b", "a"])
    );
    let r = lc(
        &app,
        Method::POST,
        "/api/user/settings/skills/active",
        t,
        Some(&json!({"skillStates": {"s1": true}})),
    )
    .await;
    assert_eq!(r.body, json!({"s1": true}));
    assert_eq!(
        lc(&app, Method::GET, "/api/user/settings/skills/active", t, None)
            .await
            .body,
        json!({"s1": true})
    );
    assert_message(
        &lc(
            &app,
            Method::POST,
            "/api/user/settings/skills/active",
            t,
            Some(&json!({"skillStates": {"s1": 3}})),
        )
        .await,
        400,
        "must be an object of booleans",
    );
    lc(
        &app,
        Method::POST,
        "/api/user/settings/pinned-order",
        t,
        Some(&json!({"pinnedOrder": "x"})),
    )
    .await
    .assert_status(400);
    assert_unauthorized(&lc(&app, Method::GET, "/api/user/settings/favorites", None, None).await);
    // Tool favorites: starred marketplace items.
    let r = lc(
        &app,
        Method::PUT,
        "/api/user/settings/favorites/tools/mcp/my%20server",
        t,
        None,
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body, json!({"itemType": "mcp", "itemId": "my server"}));
    lc(
        &app,
        Method::PUT,
        "/api/user/settings/favorites/tools/skill/s1",
        t,
        None,
    )
    .await
    .assert_status(200);
    let r = lc(
        &app,
        Method::DELETE,
        "/api/user/settings/favorites/tools/skill/s1",
        t,
        None,
    )
    .await;
    assert_eq!(r.body, json!({"ok": true}));
    let r = lc(&app, Method::GET, "/api/user/settings/favorites/tools", t, None).await;
    assert_eq!(r.body, json!([{"itemType": "mcp", "itemId": "my server"}]));
    assert_message(
        &lc(
            &app,
            Method::PUT,
            "/api/user/settings/favorites/tools/gadget/x",
            t,
            None,
        )
        .await,
        400,
        "must be one of builtin, tool, mcp, skill",
    );
    assert_unauthorized(&lc(&app, Method::GET, "/api/user/settings/favorites/tools", None, None).await);
    let me = app.get("/v1/me", t).await;
    let p = &me.body["preferences"];
    assert_eq!(p["plugins"], json!(["web-search", "dalle"]));
    assert_eq!(p["favorites"], favorites);
    assert_eq!(p["pinnedOrder"], json!(["b", "a"]));
    assert_eq!(p["skillStates"], json!({"s1": true}));
    assert_eq!(p["personalization"]["statefulCodeEnvironment"], "conversation");
}

async fn account_deletion(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.allow_account_deletion = false).await);
    let (admin, _, _) = signed_up(&app, "admin@example.org", "admin").await;
    let (user, _, _) = signed_up(&app, "ann@example.org", "ann").await;
    let r = lc(&app, Method::DELETE, "/api/user/delete", Some(&user), None).await;
    assert_message(&r, 403, "Account deletion is disabled");
    assert_eq!(r.body["error"], "Forbidden");
    // No administrator deletes themself.
    assert_message(
        &lc(&app, Method::DELETE, "/api/user/delete", Some(&admin), None).await,
        403,
        "Administrators cannot delete their own account",
    );
    assert_unauthorized(&lc(&app, Method::DELETE, "/api/user/delete", None, None).await);

    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let (_admin, _, _) = signed_up(&app, "admin@example.org", "admin").await;
    let (user, _, body) = signed_up(&app, "ann@example.org", "ann").await;
    let t = Some(user.as_str());
    lc(&app, Method::POST, "/api/user/terms/accept", t, None)
        .await
        .assert_status(200);
    lc(&app, Method::GET, "/api/balance", t, None).await.assert_status(200);
    let r = app
        .client
        .delete(format!("{}{P}/api/user/delete", app.address))
        .bearer_auth(&user)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_message(&TestApp::read(r).await, 200, "User account deleted successfully");
    assert_unauthorized(&lc(&app, Method::GET, "/api/user", t, None).await);
    login(&app, "ann@example.org", "correct horse").await.assert_status(404);
    let id = UserId::from_object_id(body["id"].as_str().unwrap()).unwrap();
    assert!(app.core.store.get_user(id).await.is_err());
    assert_eq!(app.core.store.get_balance(id).await.unwrap(), (0, false));
    assert!(app.core.store.list_terms_acceptances(id).await.unwrap().is_empty());
}

async fn terms_are_versioned(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.terms_version = "1.0".into()).await);
    let (token, _, body) = signed_up(&app, "ann@example.org", "ann").await;
    let t = Some(token.as_str());
    let r = lc(&app, Method::GET, "/api/user/terms", t, None).await;
    r.assert_status(200);
    assert_eq!(r.body["termsAccepted"], false);
    assert_eq!(r.body["termsAcceptedAt"], Value::Null);
    let r = lc(&app, Method::POST, "/api/user/terms/accept", t, None).await;
    assert_message(&r, 200, "Terms accepted");
    assert_eq!(r.body["termsAccepted"], true);
    let r = lc(&app, Method::GET, "/api/user/terms", t, None).await;
    assert_eq!(r.body["termsAccepted"], true);
    assert_eq!(r.body["termsVersion"], "1.0");
    assert!(r.body["acceptedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        lc(&app, Method::GET, "/api/user", t, None).await.body["termsAccepted"],
        true
    );
    assert_unauthorized(&lc(&app, Method::GET, "/api/user/terms", None, None).await);
    assert_unauthorized(&lc(&app, Method::POST, "/api/user/terms/accept", None, None).await);
    // A new version: nobody has accepted it until they do; every acceptance is kept.
    let id = UserId::from_object_id(body["id"].as_str().unwrap()).unwrap();
    let config = roster_core::CoreConfig {
        terms_version: "2.0".into(),
        hash_concurrency: 1,
        ..Default::default()
    };
    let v2 = Core::new(app.core.store.clone(), app.clock.clone(), config)
        .await
        .unwrap();
    let user = app.core.store.get_user(id).await.unwrap();
    assert!(!v2.terms_status_of(&user).accepted);
    let actor = roster_core::Actor {
        user,
        credential: roster_core::Credential::Session(roster_core::SessionId(1)),
        surface: Default::default(),
    };
    app.advance(Duration::seconds(5));
    assert!(v2.accept_terms(&actor).await.unwrap().accepted);
    let kept = app.core.list_terms_acceptances(&actor).await.unwrap();
    assert_eq!(
        kept.iter().map(|a| a.version.as_str()).collect::<Vec<_>>(),
        ["2.0", "1.0"]
    );
    let r = lc(&app, Method::GET, "/api/user/terms", t, None).await;
    assert_eq!(r.body["termsAccepted"], false, "this instance is still on 1.0");
}

async fn balance_ledger(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.start_balance = 20_000).await);
    let (token, _, body) = signed_up(&app, "ann@example.org", "ann").await;
    let id = UserId::from_object_id(body["id"].as_str().unwrap()).unwrap();
    // Concurrent first uses grant the start balance once.
    let mut tasks = Vec::new();
    let app = std::sync::Arc::new(app);
    for _ in 0..4 {
        let (app, token) = (app.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            lc(&app, Method::GET, "/api/balance", Some(&token), None).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        r.assert_status(200);
        // LibreChat 0.8's shape: without auto-refill, only these two fields.
        assert_eq!(r.body, json!({"tokenCredits": 20_000, "autoRefillEnabled": false}));
    }
    assert_eq!(
        app.core.add_balance(app.core.operator(), id, 5_000).await.unwrap(),
        25_000
    );
    assert_eq!(
        app.core.add_balance(app.core.operator(), id, -1_000).await.unwrap(),
        24_000
    );
    assert_eq!(
        app.core.set_balance(app.core.operator(), id, 1_000_000).await.unwrap(),
        1_000_000
    );
    let r = lc(&app, Method::GET, "/api/balance", Some(&token), None).await;
    assert_eq!(r.body["tokenCredits"], 1_000_000);
    assert_unauthorized(&lc(&app, Method::GET, "/api/balance", None, None).await);
}

fn image_bytes(format: image::ImageFormat, w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 99]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, format).unwrap();
    out.into_inner()
}

async fn upload(app: &TestApp, token: Option<&str>, bytes: Vec<u8>, field: &str) -> TestResponse {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("avatar.png")
        .mime_str("image/png")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part(field.to_string(), part)
        .text("manual", "true");
    let mut request = app
        .client
        .post(format!("{}{P}/api/files/images/avatar", app.address))
        .multipart(form);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    TestApp::read(request.send().await.unwrap()).await
}

async fn avatars(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.avatar_max_bytes = 200_000).await);
    let (token, _, _) = signed_up(&app, "ann@example.org", "ann").await;
    let t = Some(token.as_str());
    for format in [
        image::ImageFormat::Png,
        image::ImageFormat::Jpeg,
        image::ImageFormat::WebP,
    ] {
        let r = upload(&app, t, image_bytes(format, 300, 120), "file").await;
        r.assert_status(200);
        let url = r.body["url"].as_str().unwrap().to_string();
        assert!(url.starts_with(&format!("{P}/avatars/")), "{url}");
        let got = app.client.get(format!("{}{url}", app.address)).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], "image/png");
        assert!(got.headers()["cache-control"].to_str().unwrap().contains("max-age"));
        let decoded = image::load_from_memory(&got.bytes().await.unwrap()).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (120, 120));
        assert_eq!(lc(&app, Method::GET, "/api/user", t, None).await.body["avatar"], url);
    }
    // Only one file is kept per user.
    assert_eq!(std::fs::read_dir(app.files.path().join("avatars")).unwrap().count(), 1);
    let big = upload(&app, t, image_bytes(image::ImageFormat::Png, 1000, 1000), "file").await;
    big.assert_status(200);
    let url = big.body["url"].as_str().unwrap();
    let got = app.client.get(format!("{}{url}", app.address)).send().await.unwrap();
    let decoded = image::load_from_memory(&got.bytes().await.unwrap()).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (256, 256));
    // Checked by content, not by name.
    assert_message(
        &upload(&app, t, b"GIF89a\x10\x00\x10\x00 not really".to_vec(), "file").await,
        400,
        "is not a readable PNG, JPEG, GIF or WebP image",
    );
    let mut truncated = image_bytes(image::ImageFormat::Png, 50, 50);
    truncated.truncate(60);
    upload(&app, t, truncated, "file").await.assert_status(400);
    assert_message(
        &upload(&app, t, image_bytes(image::ImageFormat::Png, 10, 10), "picture").await,
        400,
        "A file field named file is required",
    );
    let noise: Vec<u8> = (0..400_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_message(&upload(&app, t, noise, "file").await, 413, "The image is too large");
    assert_unauthorized(&upload(&app, None, image_bytes(image::ImageFormat::Png, 10, 10), "file").await);
    assert_message(
        &lc(&app, Method::GET, "/avatars/..%2Fsecret.png", None, None).await,
        404,
        "Not Found",
    );
    // Deleting a user through any path (here an administrator on the native API) removes its file.
    let (bob, _, _) = signed_up(&app, "bob@example.org", "bob").await;
    upload(&app, Some(&bob), image_bytes(image::ImageFormat::Png, 40, 40), "file")
        .await
        .assert_status(200);
    let avatars = || std::fs::read_dir(app.files.path().join("avatars")).unwrap().count();
    assert_eq!(avatars(), 2);
    let bob_id = app.get("/v1/me", Some(&bob)).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.delete(&format!("/v1/users/{bob_id}"), t).await.assert_status(204);
    assert_eq!(avatars(), 1);

    // An account may point its avatar at another's file: changing it away, or uploading a new
    // one, never deletes the other's file. Clearing one's own removes one's file.
    let ann_url = lc(&app, Method::GET, "/api/user", t, None).await.body["avatar"]
        .as_str()
        .unwrap()
        .to_string();
    let (cy, _, _) = signed_up(&app, "cy@example.org", "cy").await;
    app.patch("/v1/me", Some(&cy), &json!({ "avatar_url": ann_url }))
        .await
        .assert_status(200);
    upload(&app, Some(&cy), image_bytes(image::ImageFormat::Png, 40, 40), "file")
        .await
        .assert_status(200);
    assert_eq!(avatars(), 2);
    app.patch("/v1/me", Some(&cy), &json!({ "avatar_url": ann_url }))
        .await
        .assert_status(200);
    assert_eq!(avatars(), 1, "cy's own file went when cy pointed elsewhere");
    app.patch("/v1/me", Some(&cy), &json!({ "avatar_url": null }))
        .await
        .assert_status(200);
    let got = app
        .client
        .get(format!("{}{ann_url}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200, "ann's file is still there");
    app.patch("/v1/me", t, &json!({ "avatar_url": null }))
        .await
        .assert_status(200);
    assert_eq!(avatars(), 0);
}

async fn mounted_at_the_root(backend: Backend) {
    let http = HttpConfig {
        librechat_prefix: "/".into(),
        ..HttpConfig::default()
    };
    let app = roster_testkit::or_skip!(spawn_app_with_http(backend, |_| {}, http).await);
    let r = app
        .post("/api/auth/register", None, &signup("ann@example.org", "ann"))
        .await;
    r.assert_status(200);
    let r = app
        .post(
            "/api/auth/login",
            None,
            &json!({"email": "ann@example.org", "password": "correct horse"}),
        )
        .await;
    r.assert_status(200);
    let token = r.body["token"].as_str().unwrap();
    app.get("/api/user", Some(token)).await.assert_status(200);
    app.get("/v1/me", Some(token)).await.assert_status(200);
    let r = app.get("/health", None).await;
    r.assert_status(200);
    assert_eq!(r.text, "OK");
    app.get("/healthz", None).await.assert_status(200);
    let r = app.get("/librechat/api/user", Some(token)).await;
    r.assert_status(404);
}

backend_tests!(
    register_login_refresh_logout,
    auth_errors,
    registration_switch_and_invitations,
    email_verification_over_smtp,
    unreachable_smtp_server,
    password_reset,
    plugins_preferences_and_settings,
    account_deletion,
    terms_are_versioned,
    balance_ledger,
    avatars,
    mounted_at_the_root,
);
