//! The HTTP test suite: one binary, every test on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_keys;
mod auth;
mod authz_props;
mod errors;
mod groups;
mod invitations;
mod langflow;
mod librechat;
mod librechat_client;
mod me;
mod openwebui;
mod permissions;
mod sessions;
mod users;
