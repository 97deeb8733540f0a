//! Metrics and logs of a real `roster serve`, on SQLite and on PostgreSQL: real traffic (sign-up,
//! logins right and wrong, two-factor, API keys, a password reset, a webhook) moves the
//! Prometheus metrics, which `promtool check metrics` accepts; in JSON log mode every request
//! has exactly one parseable line with its id, route template, status, latency and user; and no
//! log line holds a password, token, key, secret or full email address the test used.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::two_factor::{code_at, step_at};
use roster_testkit::process::{ServerProcess, free_port, wait_ready};
use roster_testkit::smtp::SmtpSink;
use roster_testkit::webhooks::{Answer, Receiver};
use roster_testkit::{Backend, TestDatabase, backend_tests, base32_decode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// A client that tags every request with its own `X-Request-Id` (`t-N`), so that the test
/// knows every request it made.
struct Client {
    http: reqwest::Client,
    base: String,
    sent: AtomicUsize,
}

struct Reply {
    status: u16,
    body: Value,
    request_id: String,
}

impl Client {
    async fn send(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-request-id", format!("t-{n}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let request_id = response.headers()["x-request-id"].to_str().unwrap().to_string();
        let text = response.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            request_id,
        }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, token, Some(&body)).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(reqwest::Method::GET, path, token, None).await
    }
}

/// The samples of a Prometheus text exposition: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key} in {:#?}", samples.keys().collect::<Vec<_>>()))
}

/// Whether `promtool` runs; in CI its absence fails, elsewhere it skips that check loudly.
fn promtool_available() -> bool {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let ci = std::env::var("CI").is_ok_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
        assert!(
            !ci,
            "promtool is needed (Debian's prometheus package; scripts/e2e/install.sh promtool)"
        );
        eprintln!("\n*** SKIPPED: promtool not found; `promtool check metrics` was not run. ***\n");
    }
    found
}

async fn traffic_moves_the_metrics_and_every_request_logs_one_clean_line(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start().await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let address = format!("127.0.0.1:{}", free_port());
    let metrics_address = format!("127.0.0.1:{}", free_port());
    let log_path = dir.path().join("roster.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut command = Command::new(BIN);
    command
        .current_dir(dir.path())
        .env_clear()
        .env("RUST_LOG", "info")
        .env("ROSTER_LOG_FORMAT", "json")
        .env("ROSTER_DATABASE_URL", &db.url)
        .env("ROSTER_LISTEN", &address)
        .env("ROSTER_METRICS_LISTEN", &metrics_address)
        .env("ROSTER_METRICS_REFRESH_SECONDS", "1")
        .env("ROSTER_SMTP_URL", &smtp.url)
        .env("ROSTER_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
        .env("ROSTER_WEBHOOK_POLL_INTERVAL_MS", "50")
        .arg("serve")
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file));
    let server = ServerProcess::new(command.spawn().unwrap());
    wait_ready(&address).await;
    let c = Client {
        http: reqwest::Client::new(),
        base: format!("http://{address}"),
        sent: AtomicUsize::new(0),
    };

    // The secrets and addresses the logs must never show.
    let admin_email = "ops-admin@example.org";
    let user_email = "ops-user@example.org";
    let admin_password = "correct horse battery staple";
    let user_password = "user password 12345";
    let wrong_password = "wrong password 98765";
    let new_password = "brand new password 555";
    let mut secrets: Vec<String> = vec![
        admin_email.into(),
        user_email.into(),
        admin_password.into(),
        user_password.into(),
        wrong_password.into(),
        new_password.into(),
    ];

    // Sign-up (the first account is the administrator), a wrong and a right login.
    let r = c
        .post(
            "/v1/auth/register",
            None,
            json!({"email": admin_email, "password": admin_password}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let admin_id = r.body["user"]["id"].as_str().unwrap().to_string();
    secrets.push(r.body["access_token"].as_str().unwrap().into());
    secrets.push(r.body["refresh_token"].as_str().unwrap().into());
    let r = c
        .post(
            "/v1/auth/login",
            None,
            json!({"login": admin_email, "password": wrong_password}),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = c
        .post(
            "/v1/auth/login",
            None,
            json!({"login": admin_email, "password": admin_password}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body["access_token"].as_str().unwrap().to_string();
    secrets.push(token.clone());
    secrets.push(r.body["refresh_token"].as_str().unwrap().into());
    let me = c.get("/v1/me", Some(&token)).await;
    assert_eq!(me.status, 200);

    // A webhook, then an event for it (a second user signs up).
    let r = c
        .post(
            "/v1/webhooks",
            Some(&token),
            json!({"url": receiver.url, "event_types": ["user.created"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    secrets.push(r.body["secret"].as_str().unwrap().into());
    let r = c
        .post(
            "/v1/auth/register",
            None,
            json!({"email": user_email, "password": user_password}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let user_id = r.body["user"]["id"].as_str().unwrap().to_string();
    secrets.push(r.body["access_token"].as_str().unwrap().into());
    receiver
        .wait_until(Duration::from_secs(30), |got| got.iter().any(|r| r.acknowledged()))
        .await;
    // A route with an id: its template is the label, never the id.
    assert_eq!(c.get(&format!("/v1/users/{user_id}"), Some(&token)).await.status, 200);

    // An API key: used, and a wrong one.
    let r = c.post("/v1/me/api-keys", Some(&token), json!({"name": "ops"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.body["secret"].as_str().unwrap().to_string();
    secrets.push(key.clone());
    assert_eq!(c.get("/v1/me", Some(&key)).await.status, 200);
    let bogus_key = "rst_0000000000000000000000000000000000000000000";
    secrets.push(bogus_key.into());
    assert_eq!(c.get("/v1/me", Some(bogus_key)).await.status, 401);

    // Two-factor: enrol, confirm, then a login completed with a backup code.
    let setup = c.post("/v1/me/2fa/setup", Some(&token), json!({})).await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    let totp_secret = setup.body["secret"].as_str().unwrap().to_string();
    let backup_codes: Vec<String> = serde_json::from_value(setup.body["backup_codes"].clone()).unwrap();
    let now = roster_core::time::OffsetDateTime::now_utc();
    let code = code_at(&base32_decode(&totp_secret), step_at(now));
    let r = c.post("/v1/me/2fa/confirm", Some(&token), json!({"code": code})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    secrets.push(totp_secret.clone());
    secrets.extend(backup_codes.iter().cloned());
    let r = c
        .post(
            "/v1/auth/login",
            None,
            json!({"login": admin_email, "password": admin_password}),
        )
        .await;
    assert_eq!(r.body["two_factor_required"], true, "{}", r.body);
    let challenge = r.body["challenge"].as_str().unwrap().to_string();
    secrets.push(challenge.clone());
    let r = c
        .post(
            "/v1/auth/login/2fa",
            None,
            json!({"challenge": challenge, "backup_code": backup_codes[0]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    secrets.push(r.body["access_token"].as_str().unwrap().into());

    // A password reset by mail (LibreChat's form), the third request over the limit.
    let reset = "/librechat/api/auth/requestPasswordReset";
    assert_eq!(c.post(reset, None, json!({"email": user_email})).await.status, 200);
    let mail = smtp.wait_for(1).await;
    let link = mail
        .iter()
        .find_map(|m| m.link("http://127.0.0.1:8480/reset-password?"))
        .unwrap();
    let reset_token = link
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    secrets.push(reset_token.clone());
    assert_eq!(c.post(reset, None, json!({"email": user_email})).await.status, 200);
    assert_eq!(c.post(reset, None, json!({"email": user_email})).await.status, 429);
    let r = c
        .post(
            "/v1/auth/reset-password",
            None,
            json!({"token": reset_token, "new_password": new_password}),
        )
        .await;
    assert!(r.status < 300, "{} {}", r.status, r.body);

    // Request ids: a well-formed one is kept, a malformed one replaced.
    let kept = c.get("/healthz", None).await;
    assert!(kept.request_id.starts_with("t-"));
    let replaced = c
        .http
        .get(format!("http://{address}/healthz"))
        .header("x-request-id", "not ok \"quoted\"")
        .send()
        .await
        .unwrap();
    let generated = replaced.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 32, "{generated}");
    // /metrics is on its own address, not beside the API.
    assert_eq!(c.get("/metrics", None).await.status, 404);

    // The gauges refresh every second; wait for one refresh after the traffic.
    let scrape = || async {
        reqwest::get(format!("http://{metrics_address}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let mut text = scrape().await;
    for _ in 0..100 {
        let s = samples(&text);
        if s.get(r#"roster_users{role="user",status="active"}"#) == Some(&1.0)
            && s.get("roster_deliveries_pending") == Some(&0.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        text = scrape().await;
    }
    let s = samples(&text);
    let requests = |route: &str, dialect: &str, method: &str, status: u16| {
        value(
            &s,
            &format!(
                r#"roster_http_requests_total{{route="{route}",dialect="{dialect}",method="{method}",status="{status}"}}"#
            ),
        )
    };
    assert_eq!(requests("/v1/auth/login", "native", "POST", 401), 1.0);
    assert_eq!(requests("/v1/auth/login", "native", "POST", 200), 2.0);
    assert_eq!(requests("/v1/auth/register", "native", "POST", 201), 2.0);
    assert_eq!(requests("/v1/users/{id}", "native", "GET", 200), 1.0);
    assert_eq!(
        requests("/librechat/api/auth/requestPasswordReset", "librechat", "POST", 429),
        1.0
    );
    assert_eq!(requests("/healthz", "health", "GET", 200), 2.0);
    assert!(
        !text.contains(&user_id) && !text.contains(&admin_id),
        "no ids in labels"
    );
    assert!(!text.contains("@example.org"), "no addresses in labels");
    assert!(
        value(
            &s,
            r#"roster_http_request_duration_seconds_count{route="/v1/auth/login",dialect="native",method="POST"}"#
        ) >= 3.0
    );
    let logins = |method: &str, outcome: &str| {
        value(
            &s,
            &format!(r#"roster_logins_total{{method="{method}",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(logins("password", "invalid_credentials"), 1.0);
    assert_eq!(logins("password", "success"), 1.0);
    assert_eq!(logins("password", "two_factor_required"), 1.0);
    assert_eq!(logins("two_factor", "success"), 1.0);
    assert!(logins("api_key", "success") >= 1.0);
    assert_eq!(logins("api_key", "invalid_credentials"), 1.0);
    assert_eq!(value(&s, r#"roster_limit_hits_total{limit="password_reset"}"#), 1.0);
    assert!(value(&s, r#"roster_deliveries_total{kind="webhook",outcome="delivered"}"#) >= 1.0);
    assert_eq!(value(&s, r#"roster_users{role="admin",status="active"}"#), 1.0);
    assert_eq!(value(&s, r#"roster_users{role="user",status="active"}"#), 1.0);
    assert_eq!(value(&s, "roster_deliveries_pending"), 0.0);
    assert_eq!(value(&s, "roster_outbox_oldest_undelivered_age_seconds"), 0.0);
    assert!(value(&s, "roster_password_hasher_wait_seconds_count") >= 6.0);
    assert_eq!(value(&s, "roster_password_hasher_queue_depth"), 0.0);
    let pool = match backend {
        Backend::Sqlite => "writer",
        Backend::Postgres => "main",
    };
    assert!(value(&s, &format!(r#"roster_db_connections_max{{pool="{pool}"}}"#)) >= 1.0);
    assert!(s.contains_key(&format!(r#"roster_db_connections{{pool="{pool}",state="idle"}}"#)));
    assert!(s.contains_key(&format!(r#"roster_db_connections{{pool="{pool}",state="waiting"}}"#)));
    if promtool_available() {
        let metrics_file = dir.path().join("metrics.txt");
        std::fs::write(&metrics_file, &text).unwrap();
        let out = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&metrics_file).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    assert!(server.stop("-TERM").success());
    let log = std::fs::read_to_string(&log_path).unwrap();

    // Every line is JSON; each request of the test has exactly one line, with its fields.
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let request_lines: Vec<&Value> = lines.iter().filter(|l| l["target"] == "roster::request").collect();
    for n in 0..c.sent.load(Ordering::SeqCst) {
        let id = format!("t-{n}");
        let mine: Vec<&&Value> = request_lines
            .iter()
            .filter(|l| l["request_id"] == id.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "request {id}: {mine:?}");
        let line = mine[0];
        assert!(line["route"].is_string() && line["method"].is_string(), "{line}");
        assert!(line["status"].is_u64() && line["latency_ms"].is_f64(), "{line}");
        assert!(line["dialect"].is_string(), "{line}");
    }
    assert_eq!(
        request_lines
            .iter()
            .filter(|l| l["request_id"] == generated.as_str())
            .count(),
        1,
        "the generated id is logged as echoed"
    );
    let me_line = request_lines
        .iter()
        .find(|l| l["request_id"] == me.request_id.as_str())
        .unwrap();
    assert_eq!(me_line["route"], "/v1/me");
    assert_eq!(me_line["status"], 200);
    assert_eq!(me_line["user_id"].to_string(), admin_id, "{me_line}");
    let user_page = request_lines.iter().find(|l| l["route"] == "/v1/users/{id}").unwrap();
    assert_eq!(
        user_page["user_id"].to_string(),
        admin_id,
        "the caller, not the user read"
    );

    // No secret and no full address in any line.
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(
            !log.contains(secret.as_str()),
            "the log holds a secret or an address: {secret}"
        );
    }
}

backend_tests!(traffic_moves_the_metrics_and_every_request_logs_one_clean_line);
