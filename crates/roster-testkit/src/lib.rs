//! Test harness: fresh databases per test on SQLite and PostgreSQL, and a running Roster.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod app;
pub mod db;
pub mod redis;
pub mod smtp;
pub mod webhooks;

pub use app::{TestApp, spawn_app};
pub use db::{Backend, TestDatabase};
