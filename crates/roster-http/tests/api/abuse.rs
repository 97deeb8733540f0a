//! Abuse resistance: login throttling, rate limits in every dialect's shape, the same
//! answers for known and unknown accounts, and counters shared through Redis.

use reqwest::Method;
use roster_core::limit::{Limit, Rate, Throttle};
use roster_core::time::Duration;
use roster_http::HttpConfig;
use roster_testkit::app::{TestApp, TestResponse, spawn_app_with_http};
use roster_testkit::redis::TestRedis;
use roster_testkit::smtp::SmtpSink;
use roster_testkit::{Backend, backend_tests};
use serde_json::{Value, json};
use std::time::Instant;

/// Client addresses are taken from `X-Forwarded-For`, so tests can play many clients.
fn behind_proxy() -> HttpConfig {
    HttpConfig {
        trust_forwarded_for: true,
        ..HttpConfig::default()
    }
}

async fn send(app: &TestApp, ip: &str, method: Method, path: &str, body: Option<&Value>) -> TestResponse {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.address))
        .header("x-forwarded-for", ip);
    if let Some(body) = body {
        request = request.json(body);
    }
    TestApp::read(request.send().await.unwrap()).await
}

async fn login(app: &TestApp, ip: &str, login: &str, password: &str) -> TestResponse {
    send(
        app,
        ip,
        Method::POST,
        "/v1/auth/login",
        Some(&json!({"login": login, "password": password})),
    )
    .await
}

async fn librechat_login(app: &TestApp, ip: &str, email: &str, password: &str) -> TestResponse {
    send(
        app,
        ip,
        Method::POST,
        "/librechat/api/auth/login",
        Some(&json!({"email": email, "password": password})),
    )
    .await
}

async fn openwebui_signin(app: &TestApp, ip: &str, email: &str, password: &str) -> TestResponse {
    send(
        app,
        ip,
        Method::POST,
        "/openwebui/api/v1/auths/signin",
        Some(&json!({"email": email, "password": password})),
    )
    .await
}

async fn langflow_login(app: &TestApp, ip: &str, username: &str, password: &str) -> TestResponse {
    let response = app
        .client
        .post(format!("{}/langflow/api/v1/login", app.address))
        .header("x-forwarded-for", ip)
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap();
    TestApp::read(response).await
}

#[track_caller]
fn retry_after(r: &TestResponse) -> u64 {
    r.headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {}", r.text))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn throttle(account: u32, ip: u32) -> Throttle {
    Throttle {
        account_free_failures: account,
        ip_free_failures: ip,
        base_delay: Duration::seconds(2),
        max_delay: Duration::seconds(8),
        reset_after: Duration::hours(1),
    }
}

async fn login_throttle_grows_and_never_outlasts_the_window(backend: Backend) {
    let app = roster_testkit::or_skip!(
        spawn_app_with_http(backend, |c| c.limits.throttle = throttle(3, 0), behind_proxy()).await
    );
    // The only (last) administrator, attacked from ever new addresses.
    let admin = app.admin().await;
    for i in 0..3 {
        login(&app, &format!("198.51.100.{i}"), &admin.email, "wrong password")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    // The fourth failure still answers 401 and locks the account for 2 s, 4 s, 8 s, 8 s...
    let mut expected = [2, 4, 8, 8, 8].into_iter();
    login(&app, "198.51.100.10", &admin.email, "wrong password")
        .await
        .assert_problem(401, "invalid_credentials");
    for round in 0..5 {
        let wait = expected.next().unwrap();
        // Locked: even the right password is refused, from any address, without a check.
        let r = login(&app, "203.0.113.1", &admin.email, &admin.password).await;
        r.assert_problem(429, "rate_limited");
        assert_eq!(retry_after(&r), wait, "round {round}");
        app.advance(Duration::seconds(wait as i64 - 1));
        login(&app, "203.0.113.2", &admin.email, "wrong password")
            .await
            .assert_problem(429, "rate_limited");
        app.advance(Duration::seconds(1));
        if round < 4 {
            login(
                &app,
                &format!("198.51.100.{}", 20 + round),
                &admin.email,
                "wrong password",
            )
            .await
            .assert_problem(401, "invalid_credentials");
        }
    }
    // After the window the right password works, and the account's failures are forgotten.
    login(&app, "203.0.113.1", &admin.email, &admin.password)
        .await
        .assert_status(200);
    for _ in 0..4 {
        login(&app, "198.51.100.1", &admin.email, "wrong password")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    login(&app, "198.51.100.1", &admin.email, &admin.password)
        .await
        .assert_problem(429, "rate_limited");
    // A password reset lifts the lock at once.
    let link = app
        .core
        .create_password_reset(app.core.operator(), admin.id, Duration::hours(1))
        .await
        .unwrap();
    app.post(
        "/v1/auth/reset-password",
        None,
        &json!({"token": link.token, "new_password": "a new password"}),
    )
    .await
    .assert_status(204);
    login(&app, "198.51.100.1", &admin.email, "a new password")
        .await
        .assert_status(200);
}

async fn every_dialect_shares_the_throttle(backend: Backend) {
    let app = roster_testkit::or_skip!(
        spawn_app_with_http(backend, |c| c.limits.throttle = throttle(3, 0), behind_proxy()).await
    );
    let user = app.user(roster_core::Role::User).await;
    librechat_login(&app, "192.0.2.1", &user.email, "wrong password")
        .await
        .assert_status(404);
    openwebui_signin(&app, "192.0.2.2", &user.email, "wrong password")
        .await
        .assert_status(400);
    langflow_login(&app, "192.0.2.3", &user.username, "wrong password")
        .await
        .assert_status(401);
    login(&app, "192.0.2.4", &user.username, "wrong password")
        .await
        .assert_problem(401, "invalid_credentials");
    // Locked for 2 s, in each product's shape, with Retry-After.
    let r = librechat_login(&app, "192.0.2.5", &user.email, &user.password).await;
    r.assert_status(429);
    assert_eq!(
        r.body["message"],
        "Too many login attempts, please try again after 1 minutes."
    );
    assert_eq!(retry_after(&r), 2);
    let r = openwebui_signin(&app, "192.0.2.5", &user.email, &user.password).await;
    r.assert_status(429);
    assert_eq!(r.body, json!({"detail": "API rate limit exceeded"}));
    assert_eq!(retry_after(&r), 2);
    let r = langflow_login(&app, "192.0.2.5", &user.username, &user.password).await;
    r.assert_status(429);
    assert_eq!(r.body, json!({"detail": "Too many requests"}));
    assert_eq!(retry_after(&r), 2);
    app.advance(Duration::seconds(2));
    librechat_login(&app, "192.0.2.5", &user.email, &user.password)
        .await
        .assert_status(200);
}

async fn client_addresses_are_throttled_across_accounts(backend: Backend) {
    let app = roster_testkit::or_skip!(
        spawn_app_with_http(backend, |c| c.limits.throttle = throttle(0, 3), behind_proxy()).await
    );
    let user = app.user(roster_core::Role::User).await;
    // Password spraying from one address over many (unknown) accounts.
    for i in 0..4 {
        login(&app, "203.0.113.66", &format!("victim{i}@example.org"), "Summer2024!")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let r = login(&app, "203.0.113.66", &user.email, &user.password).await;
    r.assert_problem(429, "rate_limited");
    assert_eq!(retry_after(&r), 2);
    // A forged entry before the one the proxy appended does not free the address.
    let r = app
        .client
        .post(format!("{}/v1/auth/login", app.address))
        .header("x-forwarded-for", "192.0.2.200, 203.0.113.66")
        .json(&json!({"login": user.email, "password": user.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // Other clients are not affected; the address is free again after the delay.
    login(&app, "203.0.113.67", &user.email, &user.password)
        .await
        .assert_status(200);
    app.advance(Duration::seconds(2));
    login(&app, "203.0.113.66", &user.email, &user.password)
        .await
        .assert_status(200);
}

async fn rate_limits_answer_429_in_every_dialect(backend: Backend) {
    let app = roster_testkit::or_skip!(
        spawn_app_with_http(
            backend,
            |c| {
                c.limits.login = Rate::new(2, Duration::minutes(1));
                c.limits.register = Rate::new(1, Duration::hours(1));
                c.limits.two_factor = Rate::new(3, Duration::minutes(1));
            },
            behind_proxy(),
        )
        .await
    );
    let user = app.user(roster_core::Role::User).await;
    // Login: two attempts per minute per address, whatever their outcome.
    login(&app, "192.0.2.10", &user.email, "wrong password")
        .await
        .assert_status(401);
    login(&app, "192.0.2.10", &user.email, &user.password)
        .await
        .assert_status(200);
    let r = login(&app, "192.0.2.10", &user.email, &user.password).await;
    r.assert_problem(429, "rate_limited");
    assert!((1..=60).contains(&retry_after(&r)));
    let r = librechat_login(&app, "192.0.2.10", &user.email, &user.password).await;
    r.assert_status(429);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Too many login attempts")
    );
    login(&app, "192.0.2.11", &user.email, &user.password)
        .await
        .assert_status(200);
    app.advance(Duration::minutes(1));
    login(&app, "192.0.2.10", &user.email, &user.password)
        .await
        .assert_status(200);

    // Registration: one per hour per address, in each dialect's shape.
    let native = |email: &str| json!({"email": email, "password": "long enough"});
    send(
        &app,
        "192.0.2.20",
        Method::POST,
        "/v1/auth/register",
        Some(&native("a@example.org")),
    )
    .await
    .assert_status(201);
    let r = send(
        &app,
        "192.0.2.20",
        Method::POST,
        "/v1/auth/register",
        Some(&native("b@example.org")),
    )
    .await;
    r.assert_problem(429, "rate_limited");
    assert!(retry_after(&r) > 3500);
    let signup = |email: &str| {
        json!({"name": "Ann Lee", "email": email, "username": email.split('@').next().unwrap(),
               "password": "correct horse", "confirm_password": "correct horse"})
    };
    let path = "/librechat/api/auth/register";
    send(
        &app,
        "192.0.2.21",
        Method::POST,
        path,
        Some(&signup("carol@example.org")),
    )
    .await
    .assert_status(200);
    let r = send(
        &app,
        "192.0.2.21",
        Method::POST,
        path,
        Some(&signup("dave@example.org")),
    )
    .await;
    r.assert_status(429);
    assert_eq!(
        r.body["message"],
        "Too many accounts created, please try again after 60 minutes"
    );
    assert!(r.headers.contains_key("retry-after"));
    let ow = |email: &str| json!({"name": "Ow", "email": email, "password": "long enough"});
    let path = "/openwebui/api/v1/auths/signup";
    send(&app, "192.0.2.22", Method::POST, path, Some(&ow("e@example.org"))).await;
    let r = send(&app, "192.0.2.22", Method::POST, path, Some(&ow("f@example.org"))).await;
    r.assert_status(429);
    assert_eq!(r.body, json!({"detail": "API rate limit exceeded"}));
    assert!(r.headers.contains_key("retry-after"));
    let lf = |name: &str| json!({"username": name, "password": "long enough"});
    let path = "/langflow/api/v1/users/";
    send(&app, "192.0.2.23", Method::POST, path, Some(&lf("grace")))
        .await
        .assert_status(201);
    let r = send(&app, "192.0.2.23", Method::POST, path, Some(&lf("heidi"))).await;
    r.assert_status(429);
    assert_eq!(r.body, json!({"detail": "Too many requests"}));
    assert!(r.headers.contains_key("retry-after"));

    // Two-factor attempts: the named limit the two-factor service calls, per user.
    let key = user.id.to_string();
    for _ in 0..3 {
        app.core.check_rate_limit(Limit::TwoFactor, &key).await.unwrap();
    }
    match app.core.check_rate_limit(Limit::TwoFactor, &key).await {
        Err(roster_core::Error::RateLimited { retry_after }) => assert_eq!(retry_after.as_secs(), 60),
        other => panic!("{other:?}"),
    }
    app.core
        .check_rate_limit(Limit::TwoFactor, "another user")
        .await
        .unwrap();
}

/// Medians of `runs` timings of `known(i)` and `unknown(i)`, in milliseconds, measured in
/// turns so that load on the machine falls on both alike.
async fn medians_ms<K, U, KF, UF>(runs: usize, known: K, unknown: U) -> (f64, f64)
where
    K: Fn() -> KF,
    U: Fn() -> UF,
    KF: std::future::Future<Output = TestResponse>,
    UF: std::future::Future<Output = TestResponse>,
{
    let (mut k, mut u) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        known().await;
        k.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        unknown().await;
        u.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    k.sort_by(f64::total_cmp);
    u.sort_by(f64::total_cmp);
    (k[runs / 2], u[runs / 2])
}

/// Status, body and the headers a client could tell apart by.
fn answer(r: &TestResponse) -> (u16, String, Option<String>) {
    (
        r.status.as_u16(),
        r.text.clone(),
        r.headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string()),
    )
}

async fn unknown_and_known_accounts_get_the_same_answers(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let url = smtp.url.clone();
    let app = roster_testkit::or_skip!(
        spawn_app_with_http(
            backend,
            move |c| {
                c.smtp_url = Some(url);
                c.verification_resend_max = 0;
                c.limits.password_reset = Rate::UNLIMITED;
                c.limits.throttle = throttle(50, 0);
            },
            behind_proxy(),
        )
        .await
    );
    let user = app.user(roster_core::Role::User).await;
    let unknown = "nobody@example.org";
    let ip = "192.0.2.30";
    // Login, in every dialect: a wrong password and an unknown account are indistinguishable.
    assert_eq!(
        answer(&login(&app, ip, &user.email, "wrong password").await),
        answer(&login(&app, ip, unknown, "wrong password").await)
    );
    assert_eq!(
        answer(&librechat_login(&app, ip, &user.email, "wrong password").await),
        answer(&librechat_login(&app, ip, unknown, "wrong password").await)
    );
    assert_eq!(
        answer(&openwebui_signin(&app, ip, &user.email, "wrong password").await),
        answer(&openwebui_signin(&app, ip, unknown, "wrong password").await)
    );
    assert_eq!(
        answer(&langflow_login(&app, ip, &user.username, "wrong password").await),
        answer(&langflow_login(&app, ip, "nobody", "wrong password").await)
    );
    // Password-reset requests and verification resends (the user is unverified: SMTP is on).
    let ask = |path: &'static str, email: String| {
        let app = &app;
        async move { send(app, ip, Method::POST, path, Some(&json!({ "email": email }))).await }
    };
    let reset = "/librechat/api/auth/requestPasswordReset";
    let resend = "/librechat/api/user/verify/resend";
    assert_eq!(
        answer(&ask(reset, user.email.clone()).await),
        answer(&ask(reset, unknown.into()).await)
    );
    assert_eq!(
        answer(&ask(resend, user.email.clone()).await),
        answer(&ask(resend, unknown.into()).await)
    );
    // Mail went only to the real account, outside the requests.
    let mail = smtp.wait_for(2).await;
    assert!(mail.iter().all(|m| m.to == vec![user.email.clone()]), "{mail:?}");

    // Timings, reported and not asserted (see docs/limits.md).
    let runs = 15;
    let (known_login, unknown_login) = medians_ms(
        runs,
        || login(&app, ip, &user.email, "wrong password"),
        || login(&app, ip, unknown, "wrong password"),
    )
    .await;
    let (known_reset, unknown_reset) =
        medians_ms(runs, || ask(reset, user.email.clone()), || ask(reset, unknown.into())).await;
    let (known_resend, unknown_resend) =
        medians_ms(runs, || ask(resend, user.email.clone()), || ask(resend, unknown.into())).await;
    eprintln!(
        "TIMINGS ({}; median of {runs}, ms): login known {known_login:.1} / unknown {unknown_login:.1}; \
         reset request known {known_reset:.1} / unknown {unknown_reset:.1}; \
         verification resend known {known_resend:.1} / unknown {unknown_resend:.1}",
        backend.name()
    );
}

async fn redis_shares_counters_between_instances(backend: Backend) {
    let redis = roster_testkit::or_skip!(TestRedis::new().await);
    let configure = |c: &mut roster_core::CoreConfig| {
        c.limits.redis_url = Some(redis.url.clone());
        c.limits.redis_prefix = redis.prefix.clone();
        c.limits.login = Rate::new(3, Duration::minutes(1));
        c.limits.throttle = throttle(2, 0);
    };
    let a = roster_testkit::or_skip!(spawn_app_with_http(backend, configure, behind_proxy()).await);
    let b = roster_testkit::or_skip!(spawn_app_with_http(backend, configure, behind_proxy()).await);
    assert!(a.core.limits_shared());
    // The login rate limit of one address counts on both instances.
    for app in [&a, &b, &a] {
        login(app, "192.0.2.40", "ghost@example.org", "x")
            .await
            .assert_status(401);
    }
    login(&b, "192.0.2.40", "ghost@example.org", "x")
        .await
        .assert_problem(429, "rate_limited");
    // The throttle of an account name (unknown to both: the same key) is shared too.
    for (app, ip) in [(&a, "192.0.2.41"), (&b, "192.0.2.42"), (&a, "192.0.2.43")] {
        login(app, ip, "target@example.org", "x").await.assert_status(401);
    }
    let r = login(&b, "192.0.2.44", "target@example.org", "x").await;
    r.assert_problem(429, "rate_limited");
    assert_eq!(retry_after(&r), 2);
    let keys = redis.keys().await;
    assert!(keys.iter().any(|k| k.contains("lock:throttle:login:")), "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with(&redis.prefix)), "{keys:?}");
}

async fn redis_down_falls_back_to_local_counters(backend: Backend) {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = roster_testkit::or_skip!(
        spawn_app_with_http(
            backend,
            move |c| {
                c.limits.redis_url = Some(format!("redis://127.0.0.1:{port}"));
                c.limits.login = Rate::new(2, Duration::minutes(1));
            },
            behind_proxy(),
        )
        .await
    );
    let user = app.user(roster_core::Role::User).await;
    // Requests are served (neither refused nor held up), and limits still count here.
    let started = Instant::now();
    for _ in 0..2 {
        login(&app, "192.0.2.50", &user.email, &user.password)
            .await
            .assert_status(200);
    }
    login(&app, "192.0.2.50", &user.email, &user.password)
        .await
        .assert_problem(429, "rate_limited");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

backend_tests!(
    login_throttle_grows_and_never_outlasts_the_window,
    every_dialect_shares_the_throttle,
    client_addresses_are_throttled_across_accounts,
    rate_limits_answer_429_in_every_dialect,
    unknown_and_known_accounts_get_the_same_answers,
    redis_shares_counters_between_instances,
    redis_down_falls_back_to_local_counters,
);

/// Redis counters on their own: windows and failure counts expire by Redis's clock, locks
/// end, and clearing forgets both.
#[tokio::test]
async fn redis_counters_expire_by_themselves() {
    use roster_core::limit::Counters;
    let redis = roster_testkit::or_skip!(TestRedis::new().await);
    let counters = Counters::new(Some(&redis.url), &redis.prefix).unwrap();
    let now = roster_core::time::OffsetDateTime::now_utc();
    // Windows long enough that a loaded machine does not end them between two calls, and
    // each wait well past what it waits for.
    let window = Duration::seconds(1);
    assert_eq!(counters.hit("w", window, now).await.0, 1);
    let (count, left) = counters.hit("w", window, now).await;
    assert_eq!(count, 2);
    assert!(left <= window && left > Duration::ZERO, "{left:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(counters.hit("w", window, now).await.0, 1, "a new window");
    let failures = Duration::seconds(30);
    assert_eq!(counters.add_failure("f", failures, now).await, 1);
    assert_eq!(counters.add_failure("f", failures, now).await, 2);
    counters.lock("f", Duration::seconds(1), now).await;
    let keys = ["f".to_string(), "other".to_string()];
    assert!(counters.locked_for(&keys, now).await.is_some());
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(counters.locked_for(&keys, now).await, None, "the lock ended");
    assert_eq!(counters.add_failure("f", failures, now).await, 3);
    counters.lock("f", Duration::seconds(30), now).await;
    counters.clear("f").await;
    assert_eq!(counters.locked_for(&keys, now).await, None);
    assert_eq!(counters.add_failure("f", failures, now).await, 1, "cleared");
}
