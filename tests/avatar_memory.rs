//! A real `roster serve` under 32 concurrent hostile avatar uploads through LibreChat's
//! upload route: tiny files declaring huge images, and valid images as costly as the limits
//! allow. The server's peak resident memory (VmHWM) stays under 300 MB: hostile headers are
//! refused before decoding, and only `avatar_concurrency` uploads are decoded at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_testkit::process::{ServerProcess, free_port, wait_ready};
use roster_testkit::{Backend, TestDatabase};
use serde_json::json;
use std::io::Write;

const BIN: &str = env!("CARGO_BIN_EXE_roster");
/// The bound on the server's peak resident memory.
const MAX_PEAK_RSS: u64 = 300 * 1000 * 1000;

/// The peak resident memory of a process, in bytes (`VmHWM` of `/proc/PID/status`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// A GIF with a `side` x `side` logical screen and three frames of one pixel (101 bytes).
fn gif_with_screen(side: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&side.to_le_bytes());
    out.extend_from_slice(&side.to_le_bytes());
    out.extend_from_slice(&[0x00, 0, 0]);
    for _ in 0..3 {
        out.extend_from_slice(&[0x21, 0xF9, 0x04, 0x00, 10, 0, 0, 0x00]);
        out.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0x80]);
        out.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        out.extend_from_slice(&[0x02, 0x02, 0x44, 0x01, 0x00]);
    }
    out.push(0x3B);
    out
}

/// A PNG of `side` x `side` transparent black RGBA pixels, written row by row.
fn blank_png(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        let mut stream = writer.stream_writer().unwrap();
        let row = vec![0u8; side as usize * 4];
        for _ in 0..side {
            stream.write_all(&row).unwrap();
        }
        stream.finish().unwrap();
    }
    out
}

async fn hostile_uploads_keep_the_server_small(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    // 20 GIFs of 101 bytes declaring an 8192x8192 screen, 6 blank 8192x8192 PNGs (a few
    // hundred KB each): refused. 6 blank 4400x4400 PNGs: valid, and each as costly to decode
    // as the budget allows. (Made first: the server closes idle connections.)
    let gif = gif_with_screen(8192);
    let huge = blank_png(8192);
    let costly = blank_png(4400);
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let server = ServerProcess::serve(
        BIN,
        dir.path(),
        &[],
        &[
            ("RUST_LOG", "error"),
            ("ROSTER_LISTEN", &address),
            ("ROSTER_DATABASE_URL", &db.url),
            // Decoding waits its turn; on a loaded machine the last ones wait a while.
            ("ROSTER_REQUEST_TIMEOUT_SECONDS", "600"),
        ],
    );
    wait_ready(&address).await;
    let base = format!("http://{address}/librechat");
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/auth/register"))
        .json(
            &json!({"name": "Mallory", "email": "mallory@example.org", "username": "mallory",
                      "password": "correct horse", "confirm_password": "correct horse"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let login: serde_json::Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "mallory@example.org", "password": "correct horse"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    let before = peak_rss(server.id());

    let mut uploads = Vec::new();
    for i in 0..32 {
        let (bytes, name, refused) = match i % 16 {
            0..10 => (gif.clone(), "a.gif", true),
            10..13 => (huge.clone(), "a.png", true),
            _ => (costly.clone(), "a.png", false),
        };
        let client = client.clone();
        let (url, token) = (format!("{base}/api/files/images/avatar"), token.clone());
        uploads.push(tokio::spawn(async move {
            let form =
                reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
            let r = client
                .post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap(), refused)
        }));
    }
    let mut outcomes = Vec::new();
    for upload in uploads {
        outcomes.push(upload.await.unwrap());
    }
    let peak = peak_rss(server.id());
    eprintln!(
        "{backend:?}: peak RSS {} MB before the uploads, {} MB after 32 concurrent hostile uploads",
        before / 1_000_000,
        peak / 1_000_000
    );
    assert!(
        peak < MAX_PEAK_RSS,
        "the server peaked at {} MB (at most {} MB)",
        peak / 1_000_000,
        MAX_PEAK_RSS / 1_000_000
    );
    let (mut refused, mut stored) = (0, 0);
    for (status, body, hostile) in outcomes {
        if hostile {
            assert_eq!(status, 400, "{body}");
            assert!(body.contains("too large"), "{body}");
            refused += 1;
        } else {
            assert_eq!(status, 200, "{body}");
            stored += 1;
        }
    }
    assert_eq!((refused, stored), (26, 6));
    // Still serving.
    let r = client.get(format!("http://{address}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn hostile_avatar_uploads_keep_the_server_small_sqlite() {
    hostile_uploads_keep_the_server_small(Backend::Sqlite).await;
}

#[tokio::test]
async fn hostile_avatar_uploads_keep_the_server_small_postgres() {
    hostile_uploads_keep_the_server_small(Backend::Postgres).await;
}
