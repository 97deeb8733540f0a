//! Test harness: fresh databases per test on SQLite and PostgreSQL, and a running Roster.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod app;
pub mod db;
pub mod process;
pub mod redis;
pub mod scim_provider;
pub mod smtp;
pub mod webhooks;

pub use app::{TestApp, spawn_app};
pub use db::{Backend, TestDatabase};

/// RFC 4648 base32 (no padding) to bytes: the two-factor secrets the pages and the API show.
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == c).expect("base32") as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// Whether this run is CI's (`CI` is `true`, `1` or `yes`): a test that cannot reach what it
/// needs fails there instead of printing `SKIPPED`.
pub fn in_ci() -> bool {
    env_flag("CI")
}

/// Whether the environment variable `name` is `true`, `1` or `yes` (any case).
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// The value in `$option`, or a return from the calling test when it is `None`: the harness
/// that made it (`TestDatabase::new`, `spawn_app`, `TestRedis::new`, ...) has already said
/// loudly why (no PostgreSQL, no Redis) and, in CI, failed instead of skipping. The one way a
/// test skips.
#[macro_export]
macro_rules! or_skip {
    ($option:expr) => {
        match $option {
            Some(value) => value,
            None => return,
        }
    };
}
