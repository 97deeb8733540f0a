//! A full disk under SQLite, for real: the database lives on a 4 MiB tmpfs that is filled
//! while `roster serve` runs. A write fails (503) and `/readyz` says the database is not
//! ready; once space is freed, `/readyz` recovers and writes succeed again without a
//! restart (the connection whose transaction failed is not reused).
//!
//! Mounting a tmpfs needs root (CI runs as root). Elsewhere the test prints a loud
//! `SKIPPED` line and passes; with `CI=true` it fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_testkit::process::{ServerProcess, free_port, wait_readyz};
use serde_json::json;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// A tmpfs of `size`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(Tmpfs(at.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0_u8; 16 * 1024];
    loop {
        match file.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // The last partial chunk may fit byte by byte: take that too.
    while file.write_all(&[0]).is_ok() {}
    let _ = file.sync_all();
}

#[tokio::test]
async fn a_full_disk_fails_writes_and_readiness_until_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let disk = match Tmpfs::mount(&dir.path().join("disk"), "4m") {
        Ok(disk) => disk,
        Err(error) if !roster_testkit::in_ci() => {
            eprintln!(
                "\n*** SKIPPED: cannot mount a tmpfs ({error}); this full-disk test needs root. \
                 Set CI=true to make this a failure. ***\n"
            );
            return;
        }
        Err(error) => panic!("cannot mount a tmpfs ({error}), and CI requires this test"),
    };
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let database_url = format!("sqlite://{}/roster.db", disk.0.display());
    let data_dir = data.to_string_lossy();
    let _server = ServerProcess::serve(
        BIN,
        &data,
        &[],
        &[
            ("ROSTER_LISTEN", &address),
            ("ROSTER_DATABASE_URL", &database_url),
            ("ROSTER_DATA_DIR", &data_dir),
            ("ROSTER_RATE_LIMIT_REGISTER_MAX", "1000"),
        ],
    );
    let client = reqwest::Client::new();
    wait_readyz(&client, &address, 200, Duration::from_secs(30)).await;
    let register = |n: u32| {
        client
            .post(format!("http://{address}/v1/auth/register"))
            .json(&json!({"email": format!("user{n}@example.org"), "password": "long enough"}))
            .send()
    };
    assert_eq!(register(0).await.unwrap().status(), 201);

    // The disk fills up: writes fail as unavailable, and the instance says it is not ready.
    let filler = disk.0.join("filler");
    fill(&filler);
    let full = register(1).await.unwrap();
    assert_eq!(full.status(), 503, "{}", full.text().await.unwrap());
    wait_readyz(&client, &address, 503, Duration::from_secs(30)).await;
    // Reads still work.
    assert_eq!(
        client
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Space comes back: without a restart, readiness recovers and every write succeeds.
    std::fs::remove_file(&filler).unwrap();
    wait_readyz(&client, &address, 200, Duration::from_secs(30)).await;
    for n in 2..7 {
        let r = register(n).await.unwrap();
        assert_eq!(
            r.status(),
            201,
            "write {n} after freeing space: {}",
            r.text().await.unwrap()
        );
    }
    // The failed registration left nothing behind: its address is still free.
    assert_eq!(register(1).await.unwrap().status(), 201);
}
