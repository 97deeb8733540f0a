//! Real `roster` processes for the root crate's tests: a free port, a child process that is
//! killed when dropped, and waiting for `/readyz`.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server process, killed (and reaped) when dropped.
pub struct ServerProcess {
    child: Child,
}

impl ServerProcess {
    /// Starts `BIN serve ARGS` in `dir` with a clean environment holding only `RUST_LOG=warn`
    /// and `env` (which may override it); its standard output is dropped, its errors go to the
    /// test's.
    pub fn serve(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new(bin);
        command
            .current_dir(dir)
            .env_clear()
            .env("RUST_LOG", "warn")
            .arg("serve")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        ServerProcess::new(command.spawn().unwrap())
    }

    /// Takes charge of a spawned child.
    pub fn new(child: Child) -> ServerProcess {
        ServerProcess { child }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child itself, for a test that must kill or inspect it.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends `signal` (as `kill` takes it: `-TERM`, `-INT`, `-9`) and waits, at most 20 s, for
    /// the exit status.
    pub fn stop(mut self, signal: &str) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args([signal, &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `http://ADDRESS/readyz` until it answers 200; panics after 60 s.
pub async fn wait_ready(address: &str) {
    wait_readyz(&reqwest::Client::new(), address, 200, Duration::from_secs(60)).await;
}

/// Polls `http://ADDRESS/readyz` until it answers `status`; panics after `within`.
pub async fn wait_readyz(client: &reqwest::Client, address: &str, status: u16, within: Duration) {
    let deadline = Instant::now() + within;
    let mut last = None;
    loop {
        if let Ok(r) = client.get(format!("http://{address}/readyz")).send().await {
            if r.status() == status {
                return;
            }
            last = Some(r.status());
        }
        assert!(
            Instant::now() < deadline,
            "{address}/readyz never answered {status} (last: {last:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
