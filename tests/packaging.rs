//! The packaging, checked cheaply (no image is built here: see docs/deployment.md): the
//! Dockerfile's and compose.yaml's settings are real settings with valid values (`roster config
//! check` reads them from the environment), their health check (`roster healthcheck`) passes
//! against a running server and fails without one, and the systemd unit passes
//! `systemd-analyze verify`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_testkit::process::{ServerProcess, free_port, wait_ready};
use roster_testkit::{Backend, TestDatabase, backend_tests};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_roster");

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// The `ENV` settings of the Dockerfile's final stage.
fn dockerfile_env() -> Vec<(String, String)> {
    let text = repo_file("Dockerfile").replace("\\\n", " ");
    let mut env = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("ENV ")) {
        for pair in line["ENV ".len()..].split_whitespace() {
            let (key, value) = pair.split_once('=').unwrap();
            env.push((key.to_string(), value.to_string()));
        }
    }
    env
}

/// The `roster` service's environment in compose.yaml, `${VAR...}` replaced by test values.
fn compose_env() -> Vec<(String, String)> {
    let compose: serde_json::Value = serde_yaml_ng::from_str(&repo_file("compose.yaml")).unwrap();
    let environment = compose["services"]["roster"]["environment"].as_object().unwrap();
    let substitute = |value: &str| {
        let mut out = String::new();
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').unwrap() + start;
            let name = rest[start + 2..end].split([':', '-']).next().unwrap();
            out.push_str(match name {
                "POSTGRES_PASSWORD" => "secret",
                "ROSTER_SECRET_KEY" => roster_testkit::app::TEST_SECRET_KEY,
                "ROSTER_PUBLIC_URL" => "https://roster.example.org",
                other => panic!("compose.yaml uses ${{{other}}}: give it a test value here"),
            });
            rest = &rest[end + 1..];
        }
        out + rest
    };
    environment
        .iter()
        .map(|(k, v)| (k.clone(), substitute(v.as_str().unwrap())))
        .collect()
}

/// `roster config check` with exactly `env`: every variable must be read as a setting (shown
/// with the source `environment`) and every value valid.
#[track_caller]
fn settings_are_real(what: &str, env: &[(String, String)]) {
    let out = Command::new(BIN)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["config", "check"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (key, _) in env {
        let setting = key.strip_prefix("ROSTER_").unwrap().to_ascii_lowercase();
        assert!(
            stdout
                .lines()
                .any(|l| l.split('=').next().map(str::trim) == Some(setting.as_str()) && l.ends_with("# environment")),
            "{what}: {key} is not a setting read from the environment:\n{stdout}"
        );
    }
}

#[test]
fn the_dockerfile_and_compose_name_real_settings() {
    let docker = dockerfile_env();
    assert!(docker.iter().any(|(k, _)| k == "ROSTER_DATA_DIR"), "{docker:?}");
    settings_are_real("Dockerfile", &docker);
    let compose = compose_env();
    assert!(compose.iter().any(|(k, _)| k == "ROSTER_DATABASE_URL"), "{compose:?}");
    settings_are_real("compose.yaml", &compose);

    // The data directory is the volume, and the health checks ask roster itself.
    let dockerfile = repo_file("Dockerfile");
    assert!(dockerfile.contains("VOLUME [\"/var/lib/roster\"]"));
    assert!(docker.contains(&("ROSTER_DATA_DIR".into(), "/var/lib/roster".into())));
    assert!(dockerfile.contains("CMD [\"/usr/local/bin/roster\", \"healthcheck\"]"));
    assert!(repo_file("compose.yaml").contains("test: [\"CMD\", \"/usr/local/bin/roster\", \"healthcheck\"]"));
    assert!(dockerfile.contains("\nUSER 65532:65532\n"), "runs as a non-root user");
}

/// The image's health check: `roster healthcheck` is 0 against a ready server, 1 without one.
async fn the_health_check_asks_readyz(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let env = [
        ("ROSTER_DATABASE_URL", db.url.as_str()),
        ("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY),
        ("ROSTER_LISTEN", address.as_str()),
    ];
    let server = ServerProcess::serve(BIN, dir.path(), &[], &env);
    wait_ready(&address).await;
    let check = |env: &[(&str, &str)]| {
        Command::new(BIN)
            .env_clear()
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .arg("healthcheck")
            .output()
            .unwrap()
    };
    let out = check(&env);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("/readyz: 200"), "{out:?}");
    assert!(server.stop("-TERM").success());
    let out = check(&env);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("cannot connect to {address}")));
}

/// `systemd-analyze verify` accepts the unit (its ExecStart pointed at the binary built here).
#[test]
fn the_systemd_unit_verifies() {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let ci = std::env::var("CI").is_ok_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
        assert!(
            !ci,
            "systemd-analyze is needed (Debian's systemd package; scripts/e2e/install.sh)"
        );
        eprintln!("\n*** SKIPPED: systemd-analyze not found; the unit was not verified. ***\n");
        return;
    }
    let unit = repo_file("packaging/systemd/roster.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/roster "));
    for hardening in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/roster ", &format!("{BIN} "))).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let complaints: Vec<&str> = stderr.lines().filter(|l| l.contains("roster.service")).collect();
    assert!(out.status.success() && complaints.is_empty(), "{out:?}");
}

backend_tests!(the_health_check_asks_readyz);
