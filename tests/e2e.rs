//! End to end against the real products: Roster (`roster serve`, this build) as the OpenID
//! Connect provider of a real Open WebUI 0.12.4 and a real Langflow 1.13, and its sign-in pages
//! in a real Chromium. The products come from `scripts/e2e/install.sh` (a cache directory
//! outside the repository); the scenarios are the Python drivers in tests/e2e/. Each product is
//! started once and its checks run in sequence against it. Without the products installed the
//! tests print SKIPPED loudly and pass, except with `CI=true`, where they fail. See docs/e2e.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_testkit::process::{ServerProcess, free_port, wait_ready};
use roster_testkit::redis::TestRedis;
use roster_testkit::{Backend, TestDatabase, backend_tests, in_ci};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// Where `scripts/e2e/install.sh` puts the products.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROSTER_E2E_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/roster-e2e")
}

/// Screenshots, product logs and driver output: target/tmp/e2e/<test>/.
fn artifacts(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn drivers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

/// None after a loud SKIPPED line; a panic in CI, where every end-to-end test must run.
fn skip<T>(test: &str, why: &str) -> Option<T> {
    if in_ci() {
        panic!("end-to-end test {test} cannot run in CI: {why} (CI must run scripts/e2e/install.sh first)");
    }
    eprintln!("\n*** SKIPPED: end-to-end test {test}: {why}; run scripts/e2e/install.sh (see docs/e2e.md). ***\n");
    None
}

/// The interpreter of a virtualenv the install script finished (it writes `.installed` last).
fn venv(test: &str, name: &str) -> Option<PathBuf> {
    let dir = cache_dir().join(name);
    if dir.join(".installed").is_file() && dir.join("bin/python").is_file() {
        Some(dir.join("bin/python"))
    } else {
        skip(test, &format!("{} is not installed", dir.display()))
    }
}

/// `site-packages/<package>` inside a virtualenv.
fn package_dir(venv_python: &Path, package: &str) -> Option<PathBuf> {
    let lib = venv_python.parent()?.parent()?.join("lib");
    std::fs::read_dir(lib)
        .ok()?
        .flatten()
        .map(|e| e.path().join("site-packages").join(package))
        .find(|p| p.is_dir())
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut buf)
        .unwrap();
    hex::encode(buf)
}

/// A `roster serve` on a fresh database, its issuer `http://127.0.0.1:<port>`.
struct Roster {
    _server: ServerProcess,
    _dir: tempfile::TempDir,
    db: TestDatabase,
    url: String,
}

async fn start_roster(backend: Backend) -> Option<Roster> {
    let db = TestDatabase::new(backend).await?;
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{address}");
    let server = ServerProcess::serve(
        BIN,
        dir.path(),
        &["--listen", &address, "--database", &db.url],
        &[
            ("ROSTER_PUBLIC_URL", &url),
            ("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY),
            // Back-channel logout tokens go to the products on loopback.
            ("ROSTER_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true"),
        ],
    );
    wait_ready(&address).await;
    // The first use of the provider creates its signing keys; done here, not inside a
    // product's token request (with its own short timeout) on a busy machine.
    let jwks = reqwest::Client::new()
        .get(format!("{url}/oidc/jwks"))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("the JWKS answers");
    assert_eq!(jwks.status(), 200);
    Some(Roster {
        _server: server,
        _dir: dir,
        db,
        url,
    })
}

/// A product's process, killed when dropped; its output goes to a log file in the artifacts.
struct Product {
    name: &'static str,
    child: tokio::process::Child,
    log: PathBuf,
}

impl Product {
    fn start(
        name: &'static str,
        program: &Path,
        args: &[&str],
        env: &[(&str, String)],
        dir: &Path,
        artifacts: &Path,
    ) -> Product {
        let log = artifacts.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            // Its own process group, so that dropping it also ends the servers it forks.
            .process_group(0)
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Product { name, child, log }
    }

    /// Polls `url` until it answers 200; panics (with the log's tail) after `within` or when
    /// the process exits.
    async fn wait_healthy(&mut self, url: &str, within: Duration) {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(url).send().await
                && r.status() == 200
            {
                eprintln!("{} answered {url} after {:.0?}", self.name, started.elapsed());
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited ({status}) before answering {url}:\n{}",
                    self.name,
                    self.tail()
                );
            }
            assert!(
                started.elapsed() < within,
                "{} did not answer {url} within {within:?}:\n{}",
                self.name,
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Product {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

/// Runs a driver of tests/e2e/ with the driver virtualenv and the Roster variables; passes only
/// when it exits 0 having printed `ALL OK`. Its checks are echoed as they come.
async fn run_driver(
    python: &Path,
    script: &str,
    roster: &Roster,
    env: &[(&str, String)],
    artifacts: &Path,
    within: Duration,
) {
    let mut command = tokio::process::Command::new(python);
    command
        .arg("-u")
        .arg(drivers_dir().join(script))
        .current_dir(drivers_dir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("ROSTER_URL", &roster.url)
        .env("ROSTER_PUBLIC_URL", &roster.url)
        .env("ROSTER_BIN", BIN)
        .env("ROSTER_DATABASE_URL", &roster.db.url)
        .env("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY)
        .env("ROSTER_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
        .env("E2E_ARTIFACTS", artifacts)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().expect("the driver starts");
    let out = tokio::time::timeout(within, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {within:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    std::fs::write(
        artifacts.join(format!("{script}.out")),
        format!("{stdout}\n--- stderr ---\n{stderr}"),
    )
    .unwrap();
    eprintln!("{script}:\n{stdout}");
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "ALL OK"),
        "{script} failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
}

/// Open WebUI (the `open-webui` virtualenv's `python`, its built `frontend`) on
/// `127.0.0.1:port` with its data in `data`, nothing fetched at start (no models, no
/// embeddings, no update check), and `settings`; returns once its health check answers, at
/// most `within` after the start.
async fn start_open_webui(
    owui: &Path,
    frontend: &Path,
    data: &Path,
    port: u16,
    settings: &[(&str, String)],
    artifacts: &Path,
    within: Duration,
) -> Product {
    let owui_url = format!("http://127.0.0.1:{port}");
    let mut env = vec![
        ("DATA_DIR", data.display().to_string()),
        ("FRONTEND_BUILD_DIR", frontend.display().to_string()),
        ("WEBUI_SECRET_KEY", random_hex(32)),
        ("WEBUI_URL", owui_url.clone()),
        ("OFFLINE_MODE", "true".into()),
        ("HF_HUB_OFFLINE", "1".into()),
        ("ENABLE_OLLAMA_API", "false".into()),
        ("ENABLE_OPENAI_API", "false".into()),
        ("RAG_EMBEDDING_ENGINE", "openai".into()),
        ("AUDIO_STT_ENGINE", "openai".into()),
        ("ENABLE_VERSION_UPDATE_CHECK", "false".into()),
    ];
    env.extend(settings.iter().cloned());
    let port_arg = port.to_string();
    let mut product = Product::start(
        "open-webui",
        owui,
        &[
            "-m",
            "uvicorn",
            "open_webui.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            &port_arg,
        ],
        &env,
        data,
        artifacts,
    );
    product.wait_healthy(&format!("{owui_url}/health"), within).await;
    product
}

/// Open WebUI 0.12.4 with OpenID Connect pointing at Roster: sign-in through Roster's form,
/// email, admin role from `roles`, groups from `groups`, banned and deactivated users refused,
/// RP-initiated logout through Roster's end-session endpoint. On PostgreSQL (the product takes a minute to start, so one backend; the Langflow test runs
/// on SQLite).
#[tokio::test]
async fn open_webui_signs_users_in_through_roster() {
    open_webui("open_webui", false).await;
}

/// As [`open_webui_signs_users_in_through_roster`], and each session Roster ends (sign-out, ban)
/// ends the Open WebUI session through back-channel logout (Open WebUI with Redis).
#[tokio::test]
async fn open_webui_sessions_end_through_backchannel_logout() {
    open_webui("open_webui_backchannel", true).await;
}

async fn open_webui(test: &str, backchannel: bool) {
    let Some(owui) = venv(test, "open-webui") else { return };
    let Some(driver) = venv(test, "driver") else { return };
    let Some(frontend) = package_dir(&owui, "open_webui/frontend") else {
        return skip(test, "the open_webui package has no frontend directory").unwrap_or(());
    };
    let Some(redis) = TestRedis::new().await else { return };
    let Some(roster) = start_roster(Backend::Postgres).await else {
        return;
    };
    let artifacts = artifacts(test);
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let owui_url = format!("http://127.0.0.1:{port}");
    let (client_id, secret) = ("openwebui".to_string(), random_hex(24));
    let settings = [
        ("REDIS_URL", redis.url.clone()),
        ("REDIS_KEY_PREFIX", redis.prefix.trim_end_matches(':').to_string()),
        // The settings an operator gives the product to use Roster (docs/e2e.md).
        ("OAUTH_CLIENT_ID", client_id.clone()),
        ("OAUTH_CLIENT_SECRET", secret.clone()),
        ("OAUTH_CODE_CHALLENGE_METHOD", "S256".into()),
        (
            "OPENID_PROVIDER_URL",
            format!("{}/.well-known/openid-configuration", roster.url),
        ),
        ("OPENID_REDIRECT_URI", format!("{owui_url}/oauth/oidc/login/callback")),
        ("ENABLE_OAUTH_SIGNUP", "true".into()),
        ("OAUTH_MERGE_ACCOUNTS_BY_EMAIL", "true".into()),
        ("ENABLE_OAUTH_ROLE_MANAGEMENT", "true".into()),
        ("OAUTH_ROLES_CLAIM", "roles".into()),
        ("OAUTH_ALLOWED_ROLES", "user,admin".into()),
        ("OAUTH_ADMIN_ROLES", "admin".into()),
        ("ENABLE_OAUTH_GROUP_MANAGEMENT", "true".into()),
        ("ENABLE_OAUTH_GROUP_CREATION", "true".into()),
        ("OAUTH_GROUPS_CLAIM", "groups".into()),
        ("ENABLE_OAUTH_BACKCHANNEL_LOGOUT", "true".into()),
    ];
    // About a minute on an idle machine; far more while other builds share the cores.
    let _product = start_open_webui(
        &owui,
        &frontend,
        data.path(),
        port,
        &settings,
        &artifacts,
        Duration::from_secs(420),
    )
    .await;
    run_driver(
        &driver,
        "openwebui.py",
        &roster,
        &[
            ("OWUI_URL", owui_url),
            ("OWUI_CLIENT_ID", client_id),
            ("OWUI_CLIENT_SECRET", secret),
            (
                "OWUI_CHECK_BACKCHANNEL",
                if backchannel { "1" } else { "0" }.to_string(),
            ),
        ],
        &artifacts,
        Duration::from_secs(300),
    )
    .await;
}

/// Langflow 1.13 (`langflow-base`) in external-auth mode with Roster's JWKS: a Roster access
/// token for its audience is accepted (whoami 200, the user created), others are refused.
#[tokio::test]
async fn langflow_accepts_roster_access_tokens_for_its_audience() {
    const TEST: &str = "langflow";
    let Some(langflow) = venv(TEST, "langflow") else { return };
    let Some(driver) = venv(TEST, "driver") else { return };
    let Some(roster) = start_roster(Backend::Sqlite).await else {
        return;
    };
    let artifacts = artifacts(TEST);
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let audience = "langflow".to_string();
    let env = [
        ("LANGFLOW_CONFIG_DIR", data.path().display().to_string()),
        (
            "LANGFLOW_DATABASE_URL",
            format!("sqlite:///{}/langflow.db", data.path().display()),
        ),
        ("LANGFLOW_AUTO_LOGIN", "false".into()),
        ("LANGFLOW_SUPERUSER", "lfadmin".into()),
        ("LANGFLOW_SUPERUSER_PASSWORD", random_hex(16)),
        ("LANGFLOW_SECRET_KEY", random_hex(32)),
        ("DO_NOT_TRACK", "true".into()),
        // The settings an operator gives the product to use Roster (docs/e2e.md).
        ("LANGFLOW_EXTERNAL_AUTH_ENABLED", "true".into()),
        ("LANGFLOW_EXTERNAL_AUTH_JWKS_URL", format!("{}/oidc/jwks", roster.url)),
        ("LANGFLOW_EXTERNAL_AUTH_ISSUER", roster.url.clone()),
        ("LANGFLOW_EXTERNAL_AUTH_AUDIENCE", audience.clone()),
        ("LANGFLOW_EXTERNAL_AUTH_ALGORITHMS", "RS256".into()),
    ];
    let port_arg = port.to_string();
    let langflow_bin = langflow.with_file_name("langflow");
    let mut product = Product::start(
        "langflow",
        &langflow_bin,
        &["run", "--backend-only", "--host", "127.0.0.1", "--port", &port_arg],
        &env,
        data.path(),
        &artifacts,
    );
    product
        .wait_healthy(&format!("{url}/health"), Duration::from_secs(300))
        .await;
    run_driver(
        &driver,
        "langflow.py",
        &roster,
        &[("LANGFLOW_URL", url), ("LANGFLOW_AUDIENCE", audience)],
        &artifacts,
        Duration::from_secs(180),
    )
    .await;
}

/// Roster's sign-in pages in Debian's Chromium (headless, driven by Playwright, nothing
/// downloaded); `part` is the driver's `pages` or `oidc`; screenshots in
/// target/tmp/e2e/browser-<part>-<backend>/.
async fn in_chromium(part: &str, backend: Backend) {
    chromium_driver(
        "browser.py",
        &format!("browser-{part}-{}", backend.name()),
        part,
        backend,
    )
    .await;
}

/// Runs the Chromium driver `script` with Roster on `backend`; `part` is its BROWSER_PART;
/// screenshots in target/tmp/e2e/<test>/.
async fn chromium_driver(script: &str, test: &str, part: &str, backend: Backend) {
    let test = test.to_string();
    let Some(driver) = venv(&test, "driver") else { return };
    let chromium = std::env::var("ROSTER_E2E_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).is_file() {
        return skip(&test, &format!("{chromium} is missing (Debian's chromium)")).unwrap_or(());
    }
    let Some(roster) = start_roster(backend).await else {
        return;
    };
    let artifacts = artifacts(&test);
    run_driver(
        &driver,
        script,
        &roster,
        &[("CHROMIUM", chromium), ("BROWSER_PART", part.to_string())],
        &artifacts,
        Duration::from_secs(300),
    )
    .await;
}

/// The pages on their own: sign in, wrong password, second factor (wrong and right code),
/// sign-out, keyboard only, labels, `lang`, the session cookie's attributes.
async fn sign_in_pages_in_chromium(backend: Backend) {
    in_chromium("pages", backend).await;
}

backend_tests!(sign_in_pages_in_chromium);

/// The admin console in Chromium: sign in as an administrator, find a user by search, ban,
/// unban, revoke a session (the token then fails through the API), create a group and add the
/// user, approve a waiting account, delete with the typed confirmation, the ban flow with the
/// keyboard alone; screenshots of every console page at desktop width and 375 px in
/// target/tmp/e2e/admin-console-<backend>/.
mod admin_console_in_chromium {
    use roster_testkit::Backend;
    use roster_testkit::db::run_backend_test;

    async fn run(backend: Backend) {
        let test = format!("admin-console-{}", backend.name());
        super::chromium_driver("admin_console.py", &test, "admin", backend).await;
    }

    #[test]
    fn sqlite() {
        run_backend_test(run(Backend::Sqlite));
    }

    #[test]
    fn postgres() {
        run_backend_test(run(Backend::Postgres));
    }
}

/// axe-core's browser script, from `tests/clients/axe` (`npm ci` there when missing, as
/// `scripts/e2e/install.sh axe` does); None after SKIPPED (a failure in CI).
fn axe_script(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/axe");
    let script = dir.join("node_modules/axe-core/axe.min.js");
    if !script.is_file() {
        let npm = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output();
        match npm {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return skip(
                    test,
                    &format!(
                        "npm ci in tests/clients/axe failed: {}",
                        String::from_utf8_lossy(&o.stderr)
                    ),
                );
            }
            Err(e) => return skip(test, &format!("npm is not installed: {e}")),
        }
    }
    Some(script)
}

/// The list of pages of `tests/e2e/account.py` (`part` `a11y`: axe-core finds no serious or
/// critical violation, screenshots at desktop and 375 px width in light and dark) or the
/// account flows (`part` `flows`); artifacts in target/tmp/e2e/account-<part>-<backend>/.
async fn account_in_chromium(part: &str, backend: Backend) {
    let test = format!("account-{part}-{}", backend.name());
    let Some(driver) = venv(&test, "driver") else { return };
    let chromium = std::env::var("ROSTER_E2E_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).is_file() {
        return skip(&test, &format!("{chromium} is missing (Debian's chromium)")).unwrap_or(());
    }
    let Some(axe) = axe_script(&test) else { return };
    let Some(roster) = start_roster(backend).await else {
        return;
    };
    let artifacts = artifacts(&test);
    run_driver(
        &driver,
        "account.py",
        &roster,
        &[
            ("CHROMIUM", chromium),
            ("ACCOUNT_PART", part.to_string()),
            ("AXE_JS", axe.display().to_string()),
        ],
        &artifacts,
        // The a11y part waits until an administrator's sign-in is older than five minutes.
        Duration::from_secs(1200),
    )
    .await;
}

/// Every page of the list is accessible (axe-core) and fits a phone, in light and dark.
mod pages_pass_axe_in_chromium {
    use roster_testkit::Backend;
    use roster_testkit::db::run_backend_test;

    #[test]
    fn sqlite() {
        run_backend_test(super::account_in_chromium("a11y", Backend::Sqlite));
    }

    #[test]
    fn postgres() {
        run_backend_test(super::account_in_chromium("a11y", Backend::Postgres));
    }
}

/// As a user: change the password, enrol two-step verification from the QR code page,
/// create an API key, use it and revoke it.
mod account_flows_in_chromium {
    use roster_testkit::Backend;
    use roster_testkit::db::run_backend_test;

    #[test]
    fn sqlite() {
        run_backend_test(super::account_in_chromium("flows", Backend::Sqlite));
    }

    #[test]
    fn postgres() {
        run_backend_test(super::account_in_chromium("flows", Backend::Postgres));
    }
}

/// The pages inside a third-party client's authorization code flow: consent (allow, deny),
/// single sign-on, sign-out, and the second factor in the ID token's `amr`.
mod oidc_sign_in_and_consent_in_chromium {
    use roster_testkit::Backend;
    use roster_testkit::db::run_backend_test;

    #[test]
    fn sqlite() {
        run_backend_test(super::in_chromium("oidc", Backend::Sqlite));
    }

    #[test]
    fn postgres() {
        run_backend_test(super::in_chromium("oidc", Backend::Postgres));
    }
}

/// `roster serve` on `db`, listening on `address` (started again on the same database after a kill).
fn serve_roster(db: &TestDatabase, dir: &Path, address: &str) -> ServerProcess {
    let url = format!("http://{address}");
    ServerProcess::serve(
        BIN,
        dir,
        &["--listen", address, "--database", &db.url],
        &[
            ("ROSTER_PUBLIC_URL", &url),
            ("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY),
            ("ROSTER_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true"),
            ("ROSTER_WEBHOOK_POLL_INTERVAL_MS", "200"),
        ],
    )
}

/// A `roster` command on `db` with `stdin` as its standard input; its output (panics unless
/// it exits 0).
fn roster_command(db: &TestDatabase, dir: &Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("ROSTER_DATABASE_URL", &db.url)
        .env("ROSTER_DATA_DIR", dir)
        .env("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY)
        .env("ROSTER_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "roster {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Open WebUI's SCIM API, as the test reads and changes it behind Roster's back.
struct OwuiScim {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl OwuiScim {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .request(method, format!("{}/{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(60));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    async fn user(&self, external_id: &str) -> Option<serde_json::Value> {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("Users?filter=externalId%20eq%20%22{external_id}%22"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["externalId"] == external_id)
            .cloned()
    }

    async fn group(&self, name: &str) -> Option<serde_json::Value> {
        let (status, body) = self.call(reqwest::Method::GET, "Groups", None).await;
        assert_eq!(status, 200, "{body}");
        body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["displayName"] == name)
            .cloned()
    }

    /// Waits (polling every half second, at most `within`) until `check` holds.
    async fn wait<F, Fut>(&self, what: &str, within: Duration, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        while !check().await {
            assert!(started.elapsed() < within, "Open WebUI never showed: {what}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        eprintln!("ok: {what} (after {:.1?})", started.elapsed());
    }
}

/// SCIM push into the real Open WebUI 0.12.4 (`ENABLE_SCIM=true`): a user created in Roster
/// appears with name and email; group and membership appear; a deactivation makes it pending
/// (inactive); a deletion removes it; `roster scim sync --dry-run` lists drift made behind
/// Roster's back and `roster scim sync` fixes it; and a change committed while `roster serve`
/// is dead (killed with SIGKILL) is delivered after it restarts. On PostgreSQL.
#[tokio::test]
async fn open_webui_receives_users_and_groups_over_scim() {
    let test = "open_webui_scim";
    let Some(owui) = venv(test, "open-webui") else { return };
    let Some(frontend) = package_dir(&owui, "open_webui/frontend") else {
        return skip(test, "the open_webui package has no frontend directory").unwrap_or(());
    };
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let artifacts = artifacts(test);
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let roster_url = format!("http://{address}");
    let mut server = Some(serve_roster(&db, dir.path(), &address));
    wait_ready(&address).await;

    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let owui_url = format!("http://127.0.0.1:{port}");
    let scim_token = random_hex(24);
    let settings = [
        // The settings docs/scim-push.md gives.
        ("ENABLE_SCIM", "true".into()),
        ("SCIM_TOKEN", scim_token.clone()),
        ("SCIM_AUTH_PROVIDER", "oidc".into()),
    ];
    let product = start_open_webui(
        &owui,
        &frontend,
        data.path(),
        port,
        &settings,
        &artifacts,
        Duration::from_secs(600),
    )
    .await;
    let http = reqwest::Client::new();
    // Open WebUI's first account (its administrator, needed to create groups over SCIM).
    let signup = http
        .post(format!("{owui_url}/api/v1/auths/signup"))
        .json(&serde_json::json!({"name": "Owner", "email": "owner@example.org", "password": "owner-password-1"}))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 200, "{}", signup.text().await.unwrap_or_default());
    let scim = OwuiScim {
        base: format!("{owui_url}/api/v1/scim/v2"),
        token: scim_token.clone(),
        http: http.clone(),
    };
    let within = Duration::from_secs(120);

    // Roster's administrator (made before the target: not pushed, so missing there), the target.
    roster_command(
        &db,
        dir.path(),
        &["create-user", "admin@example.org", "Admin", "admin", "--password-stdin"],
        "admin-password-1\n",
    );
    roster_command(
        &db,
        dir.path(),
        &[
            "scim",
            "targets",
            "add",
            "owui",
            "--url",
            &scim.base,
            "--token-stdin",
            "--groups",
        ],
        &scim_token,
    );
    let listed = roster_command(&db, dir.path(), &["scim", "targets", "list"], "");
    assert!(listed.contains("owui") && !listed.contains(&scim_token), "{listed}");
    let login: serde_json::Value = http
        .post(format!("{roster_url}/v1/auth/login"))
        .json(&serde_json::json!({"login": "admin@example.org", "password": "admin-password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().expect("an access token").to_string();
    let roster = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(method, format!("{roster_url}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };

    // Created in Roster: there with name and email.
    let alice: serde_json::Value = roster(
        reqwest::Method::POST,
        "/v1/users",
        serde_json::json!({"email": "alice@example.org", "name": "Alice Liddell", "password": "alice-password-1"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let alice = alice["id"].as_str().expect("alice's id").to_string();
    scim.wait("alice with her name and email", within, || async {
        scim.user(&alice).await.is_some_and(|u| {
            u["displayName"] == "Alice Liddell" && u["userName"] == "alice@example.org" && u["active"] == true
        })
    })
    .await;
    let alice_there = scim.user(&alice).await.unwrap()["id"].as_str().unwrap().to_string();

    // Into a group: the group and the membership appear.
    let group: serde_json::Value = roster(
        reqwest::Method::POST,
        "/v1/groups",
        serde_json::json!({"name": "research"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let group = group["id"].as_str().expect("the group's id").to_string();
    let added = roster(
        reqwest::Method::POST,
        &format!("/v1/groups/{group}/members"),
        serde_json::json!({"user_ids": [alice]}),
    )
    .await
    .unwrap();
    assert_eq!(added.status(), 200);
    scim.wait("the group research with alice", within, || async {
        scim.group("research").await.is_some_and(|g| {
            g["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["value"] == alice_there.as_str()))
        })
    })
    .await;

    // Deactivated: pending (inactive).
    let patched = roster(
        reqwest::Method::PATCH,
        &format!("/v1/users/{alice}"),
        serde_json::json!({"active": false}),
    )
    .await
    .unwrap();
    assert_eq!(patched.status(), 200);
    scim.wait("alice inactive (pending)", within, || async {
        scim.user(&alice).await.is_some_and(|u| u["active"] == false)
    })
    .await;

    // Deleted: gone.
    let deleted = roster(
        reqwest::Method::DELETE,
        &format!("/v1/users/{alice}"),
        serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(deleted.status(), 204);
    scim.wait("alice gone", within, || async { scim.user(&alice).await.is_none() })
        .await;

    // Drift behind Roster's back: bob renamed there, a stranger with an externalId added.
    let bob: serde_json::Value = roster(
        reqwest::Method::POST,
        "/v1/users",
        serde_json::json!({"email": "bob@example.org", "name": "Bob", "password": "bob-password-1"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let bob = bob["id"].as_str().expect("bob's id").to_string();
    scim.wait("bob", within, || async { scim.user(&bob).await.is_some() })
        .await;
    let bob_there = scim.user(&bob).await.unwrap()["id"].as_str().unwrap().to_string();
    let (status, body) = scim
        .call(
            reqwest::Method::PUT,
            &format!("Users/{bob_there}"),
            Some(serde_json::json!({"displayName": "Robert", "name": {"formatted": "Robert"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = scim
        .call(
            reqwest::Method::POST,
            "Users",
            Some(serde_json::json!({
                "userName": "stranger@example.org", "displayName": "Stranger", "externalId": "424242",
                "emails": [{"value": "stranger@example.org", "primary": true}],
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let dry = roster_command(
        &db,
        dir.path(),
        &["scim", "sync", "owui", "--dry-run", "--format", "json"],
        "",
    );
    std::fs::write(artifacts.join("sync-dry-run.json"), &dry).unwrap();
    let dry: serde_json::Value = serde_json::from_str(&dry).unwrap();
    let drift = dry["drift"].as_array().unwrap();
    let has = |kind: &str, email: &str| drift.iter().any(|d| d["kind"] == kind && d["email"] == email);
    assert!(has("different", "bob@example.org"), "{dry:#}");
    assert!(has("extra", "stranger@example.org"), "{dry:#}");
    assert!(has("missing", "admin@example.org"), "{dry:#}");
    assert_eq!(
        scim.user(&bob).await.unwrap()["displayName"],
        "Robert",
        "a dry run changes nothing"
    );
    roster_command(&db, dir.path(), &["scim", "sync", "owui"], "");
    assert_eq!(scim.user(&bob).await.unwrap()["displayName"], "Bob");
    assert!(scim.user("424242").await.is_none());
    let after: serde_json::Value = serde_json::from_str(&roster_command(
        &db,
        dir.path(),
        &["scim", "sync", "owui", "--dry-run", "--format", "json"],
        "",
    ))
    .unwrap();
    assert_eq!(after["drift"], serde_json::json!([]), "{after:#}");

    // Roster killed; a change committed while it is dead; delivered after the restart.
    server.take().unwrap().stop("-KILL");
    let created = roster_command(
        &db,
        dir.path(),
        &["create-user", "carol@example.org", "Carol", "carol", "--password-stdin"],
        "carol-password-1\n",
    );
    eprintln!("{created}");
    let carol = roster_command(
        &db,
        dir.path(),
        &["list-users", "--search", "carol", "--format", "json"],
        "",
    );
    let carol: serde_json::Value = serde_json::from_str(&carol).unwrap();
    let carol = carol[0]["id"].as_str().expect("carol's id").to_string();
    assert!(
        scim.user(&carol).await.is_none(),
        "nothing delivers while Roster is down"
    );
    let _server = serve_roster(&db, dir.path(), &address);
    wait_ready(&address).await;
    scim.wait("carol, after the restart", within, || async {
        scim.user(&carol).await.is_some_and(|u| u["displayName"] == "Carol")
    })
    .await;
    let failed = roster_command(&db, dir.path(), &["scim", "deliveries", "owui", "--failed"], "");
    assert!(failed.contains("Deliveries: 0"), "{failed}");
    drop(product);
}
