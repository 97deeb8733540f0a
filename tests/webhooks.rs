//! Webhooks through the `roster` binary: an event committed before `roster serve` is killed
//! (SIGKILL, mid-delivery) is delivered after a restart; the README's verification recipe
//! accepts what Roster sends; `roster webhooks ...` and `roster deletions`. On SQLite and on
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::UserId;
use roster_core::journal::OutboxEvent;
use roster_core::service::{DeliveryWorker, HttpTransport, WebhookSettings};
use roster_core::time::OffsetDateTime;
use roster_testkit::app::{TestApp, spawn_app_on_with};
use roster_testkit::process::{ServerProcess, free_port, wait_ready};
use roster_testkit::webhooks::{Answer, Received, Receiver};
use roster_testkit::{Backend, TestDatabase, backend_tests};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// The documented receiver example (the Python block after `<!-- verify-webhook.py -->` in
/// `docs/webhooks.md`).
fn readme_verifier() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/webhooks.md")).unwrap();
    let after = readme
        .split("<!-- verify-webhook.py -->")
        .nth(1)
        .expect("docs/webhooks.md holds the verification example");
    let code = after
        .split("```python\n")
        .nth(1)
        .unwrap()
        .split("\n```")
        .next()
        .unwrap();
    code.to_string()
}

/// Whether `python3` runs; outside CI its absence skips the recipe check loudly.
fn python_available() -> bool {
    let found = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let ci = std::env::var("CI").is_ok_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
        assert!(!ci, "python3 is needed for the README's webhook verification example");
        eprintln!("\n*** SKIPPED: python3 not found; the README's webhook verification example was not run. ***\n");
    }
    found
}

/// Runs the README's verifier on a received request; whether it says valid.
fn readme_accepts(script: &Path, secret: &str, request: &Received) -> bool {
    let mut child = Command::new("python3")
        .arg(script)
        .arg(secret)
        .arg(request.header("roster-signature").unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(&request.body).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(said == "valid" || said == "INVALID", "{said}");
    out.status.success() && said == "valid"
}

async fn an_event_committed_before_a_kill_is_delivered_after_restart(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let env = [
        ("ROSTER_DATABASE_URL", db.url.as_str()),
        ("ROSTER_LISTEN", address.as_str()),
        ("ROSTER_WEBHOOK_POLL_INTERVAL_MS", "50"),
        ("ROSTER_WEBHOOK_TIMEOUT_SECONDS", "3"),
        ("ROSTER_WEBHOOK_LEASE_SECONDS", "2"),
        ("ROSTER_WEBHOOK_BACKOFF_BASE_MS", "100"),
        // The receiver is on loopback.
        ("ROSTER_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true"),
    ];
    // The receiver takes the request and never answers in time.
    let receiver = Receiver::start(Answer::Hang(Duration::from_secs(60))).await;
    let server = ServerProcess::serve(BIN, dir.path(), &[], &env);
    wait_ready(&address).await;
    let client = reqwest::Client::new();
    let base = format!("http://{address}");
    let admin: Value = client
        .post(format!("{base}/v1/auth/register"))
        .json(&json!({"email": "admin@example.org", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = admin["access_token"].as_str().unwrap();
    let created: Value = client
        .post(format!("{base}/v1/webhooks"))
        .bearer_auth(token)
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();

    // A change commits (bob signs up: user.created, in the outbox with the account).
    let bob: Value = client
        .post(format!("{base}/v1/auth/register"))
        .json(&json!({"email": "bob@example.org", "password": "bob's long password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bob_id = bob["user"]["id"].as_str().unwrap().to_string();
    let first = receiver
        .wait_until(Duration::from_secs(20), |r| {
            r.iter()
                .any(|r| r.json["subject"]["id"] == bob_id.as_str() && r.json["type"] == "user.created")
        })
        .await;
    let id = first
        .iter()
        .find(|r| r.json["subject"]["id"] == bob_id.as_str())
        .map(|r| r.json["id"].clone())
        .unwrap();
    // Killed mid-delivery: the claim is never resolved by this process.
    let status = server.stop("-KILL");
    assert!(!status.success());
    receiver.answer(Answer::Status(200));

    let server = ServerProcess::serve(BIN, dir.path(), &[], &env);
    wait_ready(&address).await;
    let received = receiver
        .wait_until(Duration::from_secs(40), |r| {
            r.iter().any(|r| r.json["id"] == id && r.acknowledged())
        })
        .await;
    let ours: Vec<&Received> = received.iter().filter(|r| r.json["id"] == id).collect();
    assert!(ours.len() >= 2, "sent before the kill and again after the restart");
    assert_eq!(ours[0].body, ours[ours.len() - 1].body, "the same event, byte for byte");
    assert_eq!(ours[0].json["type"], "user.created");
    assert_eq!(ours[0].json["subject"]["id"], bob_id);
    // The README's recipe verifies what was sent, and refuses a tampered body.
    if !python_available() {
        assert!(server.stop("-TERM").success());
        return;
    }
    let script = dir.path().join("verify.py");
    std::fs::write(&script, readme_verifier()).unwrap();
    let acknowledged = ours.last().unwrap();
    assert!(readme_accepts(&script, &secret, acknowledged));
    let mut tampered = (*acknowledged).clone();
    tampered.body =
        axum::body::Bytes::from(String::from_utf8_lossy(&tampered.body).replace("user.created", "user.deleted"));
    assert!(!readme_accepts(&script, &secret, &tampered));
    assert!(!readme_accepts(&script, "whsec_wrong_secret_value", acknowledged));
    // A graceful stop with the worker running exits 0.
    assert!(server.stop("-TERM").success());
}

/// What a command did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `roster` on the app's database; the test receivers are on loopback, so it may send
/// webhooks there.
fn roster(app: &TestApp, args: &[&str], stdin: &str) -> Run {
    roster_with(app, &[("ROSTER_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")], args, stdin)
}

fn roster_with(app: &TestApp, env: &[(&str, &str)], args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(BIN)
        .env_clear()
        .env("ROSTER_DATABASE_URL", &app.db.url)
        .env("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY)
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn the_webhook_commands_manage_subscriptions_deliveries_and_deletions(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let app = spawn_app_on_with(db, |c| c.webhook_allow_private_networks = true).await;
    let receiver = Receiver::start(Answer::Status(503)).await;
    let run = roster(
        &app,
        &[
            "webhooks",
            "add",
            &receiver.url,
            "--events",
            "user.deleted,user.created",
            "--required-for-deletion",
            "--description",
            "chats",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(&format!("created for {}", receiver.url)), "{run:?}");
    let secret = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Secret (shown once): "))
        .expect("the secret is printed")
        .to_string();
    assert!(secret.starts_with("whsec_"));
    let id = run.stdout.split_whitespace().nth(1).unwrap().to_string();
    let run = roster(&app, &["webhooks", "list"], "");
    assert!(
        run.stdout.contains(&receiver.url) && run.stdout.contains("required for deletion"),
        "{run:?}"
    );
    assert!(run.stdout.contains("user.deleted,user.created") && run.stdout.contains("Webhooks: 1"));
    assert!(!run.stdout.contains(&secret));
    let run = roster(&app, &["webhooks", "list", "--format", "json"], "");
    let listed: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["description"], "chats");
    // A secret from standard input is not printed.
    let run = roster(
        &app,
        &["webhooks", "add", "https://other.example.org/hook", "--secret-stdin"],
        "my-own-secret-of-some-length\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("my-own-secret") && !run.stdout.contains("Secret"));
    let other = run.stdout.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(roster(&app, &["webhooks", "remove", &other], "").code, 0);
    let run = roster(&app, &["webhooks", "add", "ftp://example.org"], "");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("url"), "{run:?}");
    // By default the commands refuse internal receivers, and credentials always.
    for url in ["http://127.0.0.1:9/x", "http://2130706433/", "http://169.254.169.254/"] {
        let run = roster_with(&app, &[], &["webhooks", "add", url], "");
        assert_eq!(run.code, 1, "{url}: {run:?}");
        assert!(run.stderr.contains("url") && run.stderr.contains("address"), "{run:?}");
    }
    let run = roster(
        &app,
        &["webhooks", "add", "https://user:hunter22@other.example.org/"],
        "",
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("credentials") && !run.stderr.contains("hunter22"),
        "{run:?}"
    );

    // A deletion the receiver refuses until it is given up.
    app.core
        .store
        .append_outbox_events(&[OutboxEvent {
            seq: 0,
            id: 5_000_001,
            event_type: "user.deleted".into(),
            subject_id: UserId(31337),
            actor_id: None,
            occurred_at: OffsetDateTime::now_utc(),
            payload: json!({}),
        }])
        .await
        .unwrap();
    let settings = WebhookSettings {
        poll_interval: Duration::from_millis(25),
        request_timeout: Duration::from_secs(2),
        max_attempts: 1,
        ..WebhookSettings::default()
    };
    let (stop, rx) = tokio::sync::watch::channel(false);
    let worker =
        tokio::spawn(DeliveryWorker::new(app.core.clone(), settings, Arc::new(HttpTransport::new().unwrap())).run(rx));
    receiver.wait_until(Duration::from_secs(20), |r| !r.is_empty()).await;
    let mut run = roster(&app, &["webhooks", "deliveries", "--status", "failed"], "");
    for _ in 0..100 {
        if run.stdout.contains("Deliveries: 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        run = roster(&app, &["webhooks", "deliveries", "--status", "failed"], "");
    }
    assert!(
        run.stdout.contains("failed") && run.stdout.contains("HTTP 503"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("user 31337") && run.stdout.contains("last status 503"),
        "{run:?}"
    );
    let run = roster(&app, &["deletions"], "");
    assert!(
        run.stdout.contains("user 31337") && run.stdout.contains("pending"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(&format!("late: webhook {id} {}", receiver.url)),
        "{run:?}"
    );
    assert!(run.stdout.contains("Pending deletions: 1"), "{run:?}");
    let run = roster(&app, &["deletions", "--format", "json"], "");
    let listed: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(listed[0]["user"]["object_id"], UserId(31337).to_object_id());
    assert_eq!(listed[0]["receivers"][0]["delivery"]["status"], "failed");

    receiver.answer(Answer::Status(200));
    let run = roster(&app, &["webhooks", "replay", "--failed"], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("queued again"), "{run:?}");
    receiver
        .wait_until(Duration::from_secs(20), |r| r.iter().any(Received::acknowledged))
        .await;
    let mut run = roster(&app, &["deletions"], "");
    for _ in 0..100 {
        if run.stdout.contains("Pending deletions: 0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        run = roster(&app, &["deletions"], "");
    }
    assert!(run.stdout.contains("Pending deletions: 0"), "{run:?}");
    let run = roster(&app, &["deletions", "--all"], "");
    assert!(
        run.stdout.contains("user 31337") && run.stdout.contains("complete"),
        "{run:?}"
    );
    stop.send(true).unwrap();
    worker.await.unwrap();

    let run = roster(&app, &["webhooks", "replay"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(roster(&app, &["webhooks", "remove", &id], "").code, 0);
    let run = roster(&app, &["webhooks", "remove", &id], "");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("webhook not found"), "{run:?}");
}

backend_tests!(
    an_event_committed_before_a_kill_is_delivered_after_restart,
    the_webhook_commands_manage_subscriptions_deliveries_and_deletions,
);
