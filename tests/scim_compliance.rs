//! The SCIM server against `scim2-tester`, an RFC 7643/7644 compliance checker (PyPI): a real
//! `roster serve` on a fresh database, an administrator's API key with the `scim` scope, and
//! `tests/scim/check.py` driving the checker against `/scim/v2`. Every check must pass (none
//! in ERROR or CRITICAL). The checker comes from `scripts/e2e/install.sh scim` (a virtualenv in
//! the cache); without it the test prints SKIPPED loudly and passes, except with `CI=true`,
//! where it fails. See docs/scim.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_testkit::process::{ServerProcess, free_port, wait_ready};
use roster_testkit::{Backend, TestDatabase, backend_tests, in_ci};
use serde_json::{Value, json};
use std::path::PathBuf;

const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// The checker's interpreter, from the install script's cache.
fn checker_python() -> Option<PathBuf> {
    let cache = match std::env::var_os("ROSTER_E2E_CACHE").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/roster-e2e"),
    };
    let dir = cache.join("scim");
    if dir.join(".installed").is_file() && dir.join("bin/python").is_file() {
        return Some(dir.join("bin/python"));
    }
    let why = format!("scim2-tester is not installed in {}", dir.display());
    if in_ci() {
        panic!("the SCIM compliance test cannot run in CI: {why} (run scripts/e2e/install.sh first)");
    }
    eprintln!("\n*** SKIPPED: SCIM compliance test: {why}; run scripts/e2e/install.sh scim (see docs/scim.md). ***\n");
    None
}

async fn post(client: &reqwest::Client, url: &str, token: Option<&str>, body: &Value) -> Value {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

async fn scim2_tester_finds_no_failure(backend: Backend) {
    let Some(python) = checker_python() else { return };
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{address}");
    let _server = ServerProcess::serve(
        BIN,
        dir.path(),
        &["--listen", &address, "--database", &db.url],
        &[
            ("ROSTER_PUBLIC_URL", &url),
            ("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY),
        ],
    );
    wait_ready(&address).await;
    let client = reqwest::Client::new();
    // The first account is the administrator; it makes a key with the scim scope.
    let password = "correct horse battery staple";
    post(
        &client,
        &format!("{url}/v1/auth/register"),
        None,
        &json!({"email": "admin@example.org", "password": password}),
    )
    .await;
    let login = post(
        &client,
        &format!("{url}/v1/auth/login"),
        None,
        &json!({"login": "admin@example.org", "password": password}),
    )
    .await;
    let token = login["access_token"].as_str().expect("an access token");
    let key = post(
        &client,
        &format!("{url}/v1/me/api-keys"),
        Some(token),
        &json!({"name": "scim2-tester", "scopes": ["scim"]}),
    )
    .await;
    let key = key["secret"].as_str().unwrap().to_string();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scim/check.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(format!("{url}/scim/v2"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SCIM_TOKEN", &key)
        .output()
        .await
        .expect("the checker runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    let summary = stdout
        .lines()
        .rfind(|l| l.starts_with("scim2-tester:"))
        .unwrap_or_else(|| panic!("scim2-tester printed no summary:\n{stdout}\n{stderr}"));
    assert!(
        output.status.success() && summary.contains(" 0 failed"),
        "scim2-tester found failures: {summary}"
    );
}

backend_tests!(scim2_tester_finds_no_failure);
