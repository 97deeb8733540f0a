//! The "done when" of the LibreChat dialect: LibreChat's own client package
//! (`librechat-data-provider`, tests/clients/librechat/client.js) against a running Roster.
//! Needs node and npm; without them (outside CI) the test prints SKIPPED and passes.

use roster_testkit::app::spawn_app_with;
use roster_testkit::smtp::SmtpSink;
use roster_testkit::{Backend, backend_tests};
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn client_dir() -> PathBuf {
    crate::npm::client_dir("librechat")
}

fn ready() -> bool {
    crate::npm::ready("librechat", "librechat-data-provider", "LibreChat client test")
}

async fn librechat_data_provider_drives_the_dialect(backend: Backend) {
    if !ready() {
        return;
    }
    let smtp = SmtpSink::start().await;
    let url = smtp.url.clone();
    let app = roster_testkit::or_skip!(
        spawn_app_with(backend, move |c| {
            c.smtp_url = Some(url);
            c.start_balance = 1000;
        })
        .await
    );
    // An administrator exists, so the client's account is an ordinary one it may delete.
    let _admin = app.admin().await;
    let mut child = tokio::process::Command::new("node")
        .arg("client.js")
        .current_dir(client_dir())
        .env("ROSTER_LIBRECHAT_URL", format!("{}/librechat", app.address))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let run = async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if line == "NEED_LINK" {
                // The first mail verified the registration; the second is the resend.
                let mail = smtp.wait_for(2).await;
                let link = mail[1].link(&format!("{}/librechat/verify?", app.address)).unwrap();
                stdin.write_all(format!("{link}\n").as_bytes()).await.unwrap();
                stdin.flush().await.unwrap();
            }
            if let Some(request) = line.strip_prefix("NEED_CODE ") {
                // The code of the app clock's step plus the offset, for the URI's secret.
                let (offset, url) = request.split_once(' ').unwrap();
                let secret = url.split("secret=").nth(1).unwrap().split('&').next().unwrap();
                let secret = super::two_factor::base32_decode(secret);
                let step = roster_core::two_factor::step_at(roster_core::Clock::now(app.clock.as_ref()));
                let code = roster_core::two_factor::code_at(&secret, step + offset.parse::<i64>().unwrap());
                stdin.write_all(format!("{code}\n").as_bytes()).await.unwrap();
                stdin.flush().await.unwrap();
            }
            seen.push(line);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the client finishes within a minute");
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success() && seen.iter().any(|l| l == "ALL OK"),
        "client failed: {:?}\nstdout: {seen:#?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

backend_tests!(librechat_data_provider_drives_the_dialect);
