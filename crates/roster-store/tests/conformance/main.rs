//! The store conformance suite: every `Store` method, the same tests on SQLite and on
//! PostgreSQL (`backend_tests!`), one module per capability, plus the migration-parity checks
//! that keep the two schemas in step (`schema`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

mod account_tokens;
mod api_keys;
mod balances;
mod chat;
mod features;
mod groups;
mod instance;
mod journal;
mod lifecycle;
mod listing;
mod migration;
mod oidc;
mod one_transaction;
mod retention;
mod schema;
mod scim_push;
mod scim_records;
mod sessions;
mod two_factor_store;
mod users;
