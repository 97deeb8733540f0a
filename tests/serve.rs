//! The `roster serve` binary: defaults, configuration precedence, many instances on one
//! PostgreSQL, and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_testkit::process::{ServerProcess, free_port, wait_ready};
use roster_testkit::{Backend, TestDatabase};
use serde_json::json;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_roster");

#[tokio::test]
async fn defaults_use_sqlite_in_roster_data_and_port_8480() {
    let dir = tempfile::tempdir().unwrap();
    if std::net::TcpListener::bind("127.0.0.1:8480").is_err() {
        panic!("port 8480 is taken on this machine; the default-port test needs it free");
    }
    let server = ServerProcess::serve(BIN, dir.path(), &[], &[]);
    wait_ready("127.0.0.1:8480").await;
    assert!(dir.path().join("roster-data/roster.db").exists());
    assert!(
        dir.path().join("roster-data/roster.db-wal").exists(),
        "the database runs in WAL mode"
    );
    let r = reqwest::get("http://127.0.0.1:8480/healthz").await.unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
    assert!(server.stop("-TERM").success());
    // Starting again on the same data is harmless.
    let server = ServerProcess::serve(BIN, dir.path(), &[], &[]);
    wait_ready("127.0.0.1:8480").await;
    assert!(server.stop("-INT").success());
}

#[tokio::test]
async fn flags_beat_environment_beat_file_beat_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.path().join("roster.toml"),
        format!("listen = \"127.0.0.1:{file_port}\"\ndata_dir = \"from-file\"\nmin_password_length = 12\n"),
    )
    .unwrap();
    let env_listen = format!("127.0.0.1:{env_port}");
    let flag_listen = format!("127.0.0.1:{flag_port}");

    let s = ServerProcess::serve(BIN, dir.path(), &["--config", "roster.toml"], &[]);
    wait_ready(&format!("127.0.0.1:{file_port}")).await;
    assert!(dir.path().join("from-file/roster.db").exists());
    // The file's password rule is in force.
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{file_port}/v1/auth/register"))
        .json(&json!({"email": "a@example.org", "password": "elevenchars"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(s.stop("-TERM").success());

    let s = ServerProcess::serve(
        BIN,
        dir.path(),
        &["--config", "roster.toml"],
        &[("ROSTER_LISTEN", &env_listen)],
    );
    wait_ready(&env_listen).await;
    assert!(s.stop("-TERM").success());

    let s = ServerProcess::serve(
        BIN,
        dir.path(),
        &[
            "--config",
            "roster.toml",
            "--listen",
            &flag_listen,
            "--data-dir",
            "from-flag",
        ],
        &[("ROSTER_LISTEN", &env_listen), ("ROSTER_DATA_DIR", "from-env")],
    );
    wait_ready(&flag_listen).await;
    assert!(dir.path().join("from-flag/roster.db").exists());
    assert!(!dir.path().join("from-env").exists());
    assert!(s.stop("-TERM").success());
}

#[tokio::test]
async fn bad_configuration_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "listen = \"127.0.0.1:1\"\nno_such_setting = 1\n",
    )
    .unwrap();
    for (args, env, needle) in [
        (vec!["serve", "--config", "bad.toml"], vec![], "no_such_setting"),
        (vec!["serve", "--config", "missing.toml"], vec![], "does not exist"),
        (vec!["serve", "--database", "mysql://x"], vec![], "mysql"),
        (vec!["serve"], vec![("ROSTER_DEFAULT_ROLE", "admin")], "default_role"),
        (
            vec!["serve"],
            vec![("ROSTER_LIBRECHAT_PREFIX", "librechat")],
            "librechat_prefix",
        ),
        (
            vec!["serve"],
            vec![("ROSTER_SMTP_URL", "http://mail.example.org")],
            "smtp_url",
        ),
        (vec!["serve"], vec![("ROSTER_TERMS_VERSION", "")], "terms_version"),
    ] {
        // An address that cannot be bound: a case that wrongly passes validation fails at
        // listening instead of serving (and hanging this test).
        let out = Command::new(BIN)
            .current_dir(dir.path())
            .env_clear()
            .env("ROSTER_LISTEN", "256.0.0.1:1")
            .envs(env)
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn instances_sharing_postgres_start_together_and_share_tokens() {
    let db = roster_testkit::or_skip!(TestDatabase::new(Backend::Postgres).await);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let sa = ServerProcess::serve(
        BIN,
        dir.path(),
        &["--listen", &a, "--database", &db.url],
        &[("ROSTER_NODE_ID", "1")],
    );
    let sb = ServerProcess::serve(
        BIN,
        dir.path(),
        &["--listen", &b, "--database", &db.url],
        &[("ROSTER_NODE_ID", "2")],
    );
    wait_ready(&a).await;
    wait_ready(&b).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{a}/v1/auth/register"))
        .json(&json!({"email": "shared@example.org", "password": "long enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    // A token from one instance works on the other, and a logout on one is seen by the other.
    let r = client
        .get(format!("http://{b}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(format!("http://{b}/v1/auth/logout"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client
        .get(format!("http://{a}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(sa.stop("-TERM").success());
    assert!(sb.stop("-TERM").success());
}

#[tokio::test]
async fn librechat_settings_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = roster_testkit::smtp::SmtpSink::start().await;
    let address = format!("127.0.0.1:{}", free_port());
    let public_url = format!("http://{address}");
    let _server = ServerProcess::serve(
        BIN,
        dir.path(),
        &[],
        &[
            ("ROSTER_LISTEN", &address),
            ("ROSTER_PUBLIC_URL", &public_url),
            ("ROSTER_LIBRECHAT_PREFIX", "/"),
            ("ROSTER_SMTP_URL", &smtp.url),
            ("ROSTER_MAIL_FROM", "Chat <chat@example.org>"),
            ("ROSTER_ALLOW_UNVERIFIED_EMAIL_LOGIN", "false"),
            ("ROSTER_START_BALANCE", "777"),
            ("ROSTER_TERMS_VERSION", "3"),
        ],
    );
    wait_ready(&address).await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| client.post(format!("{public_url}{path}")).json(&body).send();
    let credentials = json!({"email": "ann@example.org", "password": "correct horse"});
    let r = post(
        "/api/auth/register",
        json!({"name": "Ann Lee", "email": "ann@example.org", "username": "ann",
               "password": "correct horse", "confirm_password": "correct horse"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        post("/api/auth/login", credentials.clone()).await.unwrap().status(),
        422
    );
    let mail = smtp.wait_for(1).await;
    assert!(mail[0].from.contains("chat@example.org"), "{:?}", mail[0].from);
    let link = mail[0].link(&format!("{public_url}/verify?")).unwrap();
    assert_eq!(client.get(&link).send().await.unwrap().status(), 200);
    let login: serde_json::Value = post("/api/auth/login", credentials)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    let get = |path: &str| client.get(format!("{public_url}{path}")).bearer_auth(token).send();
    let balance: serde_json::Value = get("/api/balance").await.unwrap().json().await.unwrap();
    assert_eq!(balance["tokenCredits"], 777);
    let terms: serde_json::Value = get("/api/user/terms").await.unwrap().json().await.unwrap();
    assert_eq!(terms["currentTermsVersion"], "3");
    assert_eq!(get("/v1/me").await.unwrap().status(), 200);
}
