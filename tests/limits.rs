//! The limit, header and CORS settings of `roster serve`, from the environment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_testkit::process::{ServerProcess, free_port, wait_ready};
use serde_json::json;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_roster");

#[tokio::test]
async fn limit_settings_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let _server = ServerProcess::serve(
        BIN,
        dir.path(),
        &[],
        &[
            ("ROSTER_LISTEN", &address),
            ("ROSTER_RATE_LIMIT_REGISTER_MAX", "1"),
            ("ROSTER_RATE_LIMIT_REGISTER_WINDOW_SECONDS", "600"),
            ("ROSTER_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
            (
                "ROSTER_CORS_ALLOWED_ORIGINS",
                "https://a.example.org,https://b.example.org",
            ),
            ("ROSTER_HSTS_MAX_AGE_SECONDS", "600"),
            ("ROSTER_FRAME_OPTIONS", "SAMEORIGIN"),
            ("ROSTER_BODY_LIMIT_BYTES", "2048"),
        ],
    );
    wait_ready(&address).await;
    let client = reqwest::Client::new();
    let register = |ip: &'static str, email: &'static str| {
        client
            .post(format!("http://{address}/v1/auth/register"))
            .header("x-forwarded-for", ip)
            .header("origin", "https://b.example.org")
            .json(&json!({"email": email, "password": "long enough"}))
            .send()
    };
    let r = register("192.0.2.1", "a@example.org").await.unwrap();
    assert_eq!(r.status(), 201);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://b.example.org");
    assert_eq!(h["strict-transport-security"], "max-age=600; includeSubDomains");
    assert_eq!(h["x-frame-options"], "SAMEORIGIN");
    let r = register("192.0.2.1", "b@example.org").await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((590..=600).contains(&wait), "{wait}");
    // Another address (believed: the peer is a trusted proxy) may register.
    assert_eq!(register("192.0.2.2", "b@example.org").await.unwrap().status(), 201);
    let r = client
        .post(format!("http://{address}/v1/auth/login"))
        .json(&json!({"login": "x".repeat(3000), "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[test]
fn bad_limit_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("ROSTER_TRUSTED_PROXIES", "10.0.0.0/40"),
        ("ROSTER_REDIS_URL", "http://127.0.0.1:6379"),
        ("ROSTER_CORS_ALLOWED_ORIGINS", "chat.example.org"),
        ("ROSTER_MAX_HEADER_BYTES", "100"),
        ("ROSTER_RATE_LIMIT_LOGIN_WINDOW_SECONDS", "0"),
        ("ROSTER_LOGIN_THROTTLE_MAX_DELAY_SECONDS", "0"),
    ] {
        let out = Command::new(BIN)
            .current_dir(dir.path())
            .env_clear()
            .env("ROSTER_LISTEN", "256.0.0.1:1")
            .env(key, value)
            .arg("serve")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{key}={value} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let setting = key.trim_start_matches("ROSTER_").to_lowercase();
        assert!(stderr.contains(&setting), "{key}: {stderr}");
    }
}
