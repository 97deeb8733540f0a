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
    let env = [
        ("DATA_DIR", data.path().display().to_string()),
        ("FRONTEND_BUILD_DIR", frontend.display().to_string()),
        ("WEBUI_SECRET_KEY", random_hex(32)),
        ("WEBUI_URL", owui_url.clone()),
        ("REDIS_URL", redis.url.clone()),
        ("REDIS_KEY_PREFIX", redis.prefix.trim_end_matches(':').to_string()),
        // Nothing is fetched at start: no models, no embeddings, no update check.
        ("OFFLINE_MODE", "true".into()),
        ("HF_HUB_OFFLINE", "1".into()),
        ("ENABLE_OLLAMA_API", "false".into()),
        ("ENABLE_OPENAI_API", "false".into()),
        ("RAG_EMBEDDING_ENGINE", "openai".into()),
        ("AUDIO_STT_ENGINE", "openai".into()),
        ("ENABLE_VERSION_UPDATE_CHECK", "false".into()),
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
    let port_arg = port.to_string();
    let mut product = Product::start(
        "open-webui",
        &owui,
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
        data.path(),
        &artifacts,
    );
    // About a minute on an idle machine; far more while other builds share the cores.
    product
        .wait_healthy(&format!("{owui_url}/health"), Duration::from_secs(420))
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
        Duration::from_secs(600),
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
