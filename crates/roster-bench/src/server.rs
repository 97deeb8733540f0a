//! The server under test: built from this workspace, started as its own process.

use crate::BackendArg;
use anyhow::{Context, bail};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Builds `roster` in release mode and returns its path.
///
/// The build is the same cargo invocation the README gives for the benchmark itself
/// (`cargo build --release -p roster -p roster-bench`): one feature resolution for both
/// binaries, so after that command this build has nothing to do and the run starts at once.
/// (A build of `--bin roster` alone resolves the shared dependencies' features differently
/// from one of `roster-bench`, and each then rebuilt what the other had built.) The variables
/// `cargo run` sets for the program it runs are removed, so that no build script sees a
/// changed environment.
pub fn build_server_binary() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "-p",
            "roster",
            "-p",
            "roster-bench",
            "--manifest-path",
        ])
        .arg(workspace.join("Cargo.toml"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_MANIFEST_LINKS",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "OUT_DIR",
            ]
            .contains(&name.as_ref())
        {
            command.env_remove(name.as_ref());
        }
    }
    let started = std::time::Instant::now();
    let status = command.status()?;
    if !status.success() {
        bail!("cargo build failed");
    }
    eprintln!("server binary ready in {:.1} s", started.elapsed().as_secs_f64());
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("target"));
    Ok(target.join("release/roster"))
}

/// The database the run uses, removed at the end.
pub struct Database {
    pub url: String,
    admin_url: Option<String>,
    name: String,
}

impl Database {
    pub async fn create(backend: BackendArg, pg_url: &str, data_dir: &Path) -> anyhow::Result<Self> {
        match backend {
            BackendArg::Sqlite => Ok(Self {
                // (the directory is created by the store when it opens the file)
                url: format!("sqlite://{}", data_dir.join("roster.db").display()),
                admin_url: None,
                name: String::new(),
            }),
            BackendArg::Postgres => {
                static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = format!("roster_bench_{}_{n}", std::process::id());
                let mut conn = sqlx::PgConnection::connect(pg_url)
                    .await
                    .context("connecting to PostgreSQL")?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await?;
                let base = pg_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(pg_url);
                Ok(Self {
                    url: format!("{base}/{name}"),
                    admin_url: Some(pg_url.to_string()),
                    name,
                })
            }
        }
    }

    pub async fn drop_database(&self) {
        if let Some(admin) = &self.admin_url
            && let Ok(mut conn) = sqlx::PgConnection::connect(admin).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .execute(&mut conn)
                .await;
        }
    }
}

/// A running `roster serve`.
pub struct Server {
    child: Child,
    pub address: String,
    pub startup: Duration,
}

impl Server {
    /// Starts the server and measures the time from spawn to the first successful `/readyz`.
    pub async fn start(
        bin: &Path,
        database_url: &str,
        data_dir: &Path,
        redis_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = format!("127.0.0.1:{port}");
        let started = Instant::now();
        let mut command = Command::new(bin);
        if let Some(url) = redis_url {
            command.env("ROSTER_REDIS_URL", url);
        }
        let child = command
            .args(["serve", "--listen", &address, "--database", database_url, "--data-dir"])
            .arg(data_dir)
            .env("ROSTER_LOG", "warn")
            // The login scenarios measure hashing from one address; the per-address login
            // limit would turn them into a measurement of 429s.
            .env("ROSTER_RATE_LIMIT_LOGIN_MAX", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut server = Self {
            child,
            address,
            startup: Duration::ZERO,
        };
        loop {
            if crate::load::get_status(&server.address, "/readyz").await == Some(200) {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("the server did not become ready");
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("the server exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.startup = started.elapsed();
        Ok(server)
    }

    /// Resident set size of the server process, KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
