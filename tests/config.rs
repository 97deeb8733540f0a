//! `roster config check` and `roster doctor` as processes, on SQLite and on PostgreSQL: the
//! effective settings with their sources and secrets masked, a bad setting named with exit 1;
//! the doctor's verdicts on a ready deployment and on broken ones (pending migrations, another
//! secret key, an SMTP server that does not answer).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_testkit::process::free_port;
use roster_testkit::redis::TestRedis;
use roster_testkit::smtp::SmtpSink;
use roster_testkit::{Backend, TestDatabase, backend_tests};
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

fn roster(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.current_dir(dir).env_clear().args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The line of `name` in `config check`'s output.
fn line<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"))
}

async fn config_check_shows_values_sources_and_masks_secrets(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("roster.toml"),
        "min_password_length = 12\nsmtp_url = \"smtp://mailer:smtp-pass-1@127.0.0.1:2525\"\nlog_format = \"json\"\n",
    )
    .unwrap();
    let key = "q2Jq9a3vNq8Jm6m7qfY2b2lJw4bQm5q0rX3m4i9e2VQ=";
    let with_password = db.url.replacen("://", "://someone:db-pass-2@", 1);
    let database = if backend == Backend::Postgres {
        with_password.as_str()
    } else {
        db.url.as_str()
    };
    let out = roster(
        dir.path(),
        &["--config", "roster.toml", "--data-dir", "from-flag", "config", "check"],
        &[
            ("ROSTER_SECRET_KEY", key),
            ("ROSTER_DATABASE_URL", database),
            ("ROSTER_REDIS_URL", "redis://:redis-pass-3@127.0.0.1:6379/0"),
            ("ROSTER_METRICS_LISTEN", "127.0.0.1:9480"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.ends_with("configuration OK\n"), "{stdout}");
    assert!(line(&stdout, "listen").ends_with("# default"));
    assert!(line(&stdout, "data_dir").contains("\"from-flag\"") && line(&stdout, "data_dir").ends_with("# flag"));
    assert!(
        line(&stdout, "min_password_length").contains("= 12")
            && line(&stdout, "min_password_length").ends_with("# file")
    );
    assert!(line(&stdout, "log_format").ends_with("# file"));
    assert!(
        line(&stdout, "metrics_listen").contains("127.0.0.1:9480")
            && line(&stdout, "metrics_listen").ends_with("# environment")
    );
    assert!(line(&stdout, "secret_key").ends_with("# environment"));
    assert!(line(&stdout, "node_id").contains("(unset)"));
    for secret in [key, "smtp-pass-1", "db-pass-2", "redis-pass-3"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} shown:\n{stdout}"
        );
    }
    assert!(line(&stdout, "smtp_url").contains("smtp://mailer:***@127.0.0.1:2525"));
    assert!(line(&stdout, "redis_url").contains("***@127.0.0.1:6379"));
    // Nothing was opened or created.
    assert!(!dir.path().join("from-flag").exists());

    // Bad settings: exit 1, the setting named.
    for (name, value, named) in [
        ("ROSTER_PUBLIC_URL", "ftp://x", "public_url"),
        ("ROSTER_METRICS_LISTEN", "nowhere", "metrics_listen"),
        ("ROSTER_LOG_FORMAT", "xml", "log_format"),
        ("ROSTER_SECRET_KEY", "dG9vIHNob3J0", "secret_key"),
        ("ROSTER_REDIS_URL", "http://127.0.0.1", "redis_url"),
        ("ROSTER_LIBRECHAT_PREFIX", "librechat", "librechat_prefix"),
        ("ROSTER_ACCESS_TOKEN_TTL_SECONDS", "5", "access_token_ttl_seconds"),
        ("ROSTER_MIN_PASSWORD_LENGTH", "many", "min_password_length"),
        ("ROSTER_DATABASE_URL", "mysql://x", "database"),
    ] {
        let out = roster(dir.path(), &["config", "check"], &[(name, value)]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}={value}: {stdout}{stderr}");
        assert!(stderr.to_lowercase().contains(named), "{name}={value}: {stderr}");
        assert!(!stdout.contains("configuration OK"));
    }
}

async fn doctor_passes_a_ready_deployment_and_names_what_fails(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let redis = roster_testkit::or_skip!(TestRedis::new().await);
    let smtp = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [("ROSTER_DATABASE_URL", db.url.as_str())];

    // Before any Roster ran on it: migrations pending (PostgreSQL) or no file (SQLite), no key.
    let out = roster(dir.path(), &["doctor"], &env);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL secret key"), "{stdout}");
    match backend {
        Backend::Postgres => assert!(
            stdout.contains("FAIL migrations") && stdout.contains("pending"),
            "{stdout}"
        ),
        Backend::Sqlite => assert!(
            stdout.contains("FAIL database") && stdout.contains("does not exist"),
            "{stdout}"
        ),
    }

    // An admin command migrates the database and creates the key file.
    assert!(roster(dir.path(), &["list-users"], &env).status.success());
    let ready = [
        ("ROSTER_DATABASE_URL", db.url.as_str()),
        ("ROSTER_SMTP_URL", smtp.url.as_str()),
        ("ROSTER_REDIS_URL", redis.url.as_str()),
    ];
    let out = roster(dir.path(), &["doctor"], &ready);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    for check in [
        "configuration",
        "database",
        "migrations",
        "secret key",
        "smtp",
        "redis",
        "clock",
    ] {
        assert!(stdout.contains(&format!("ok   {check}:")), "{check}:\n{stdout}");
    }
    assert!(stdout.contains("none pending"), "{stdout}");
    assert!(stdout.contains("matches the database"), "{stdout}");
    assert_eq!(stdout.lines().count(), 7, "one line per check:\n{stdout}");

    // Another key, and an SMTP server that is not there: both named, exit 1.
    let dead_smtp = format!("smtp://127.0.0.1:{}", free_port());
    let out = roster(
        dir.path(),
        &["doctor"],
        &[
            ("ROSTER_DATABASE_URL", db.url.as_str()),
            ("ROSTER_SECRET_KEY", "q2Jq9a3vNq8Jm6m7qfY2b2lJw4bQm5q0rX3m4i9e2VQ="),
            ("ROSTER_SMTP_URL", dead_smtp.as_str()),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL secret key") && stdout.contains("not the one"),
        "{stdout}"
    );
    assert!(stdout.contains("FAIL smtp"), "{stdout}");
    assert!(stdout.contains("ok   database"), "{stdout}");
    assert!(stderr.contains("secret key") && stderr.contains("smtp"), "{stderr}");
}

backend_tests!(
    config_check_shows_values_sources_and_masks_secrets,
    doctor_passes_a_ready_deployment_and_names_what_fails,
);
