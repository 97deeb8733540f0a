//! The npm clients under tests/clients/ (LibreChat's client package, openid-client): where they
//! are, and their packages installed once per test binary.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// `tests/clients/<name>`.
pub fn client_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/clients")
        .join(name)
}

fn skip(test: &str, why: &str) -> bool {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the {test} cannot run in CI: {why}");
    }
    eprintln!("SKIPPED: {test}: {why}");
    true
}

/// Installs the packages of `tests/clients/<name>` once (`npm ci`, unless `package` is there
/// already); false (and SKIPPED, or a failure in CI) when node or npm cannot do it. `test`
/// names the test in those messages.
pub fn ready(name: &str, package: &str, test: &str) -> bool {
    static READY: Mutex<Option<HashMap<String, bool>>> = Mutex::new(None);
    let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
    let ready = ready.get_or_insert_with(HashMap::new);
    if let Some(&known) = ready.get(name) {
        return known;
    }
    let dir = client_dir(name);
    let node = std::process::Command::new("node").arg("--version").output();
    let installed = if !node.is_ok_and(|o| o.status.success()) {
        !skip(test, "node is not installed")
    } else if dir.join("node_modules").join(package).exists() {
        true
    } else {
        let npm = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output();
        match npm {
            Ok(o) if o.status.success() => true,
            Ok(o) => !skip(test, &format!("npm ci failed: {}", String::from_utf8_lossy(&o.stderr))),
            Err(e) => !skip(test, &format!("npm is not installed: {e}")),
        }
    };
    ready.insert(name.to_string(), installed);
    installed
}
