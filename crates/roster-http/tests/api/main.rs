//! The HTTP test suite: one binary, every test on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abuse;
mod api_keys;
mod audit;
mod auth;
mod authority;
mod authz_props;
mod balances;
mod errors;
mod fastapi_validation;
mod gates;
mod groups;
mod identity;
mod invitations;
mod langflow;
mod langflow_store;
mod librechat;
mod librechat_client;
mod librechat_two_factor;
mod me;
mod nul;
mod oidc;
mod openid_client;
mod openwebui;
mod openwebui_admin;
mod pages;
mod permissions;
mod plexichat;
mod plexichat_features;
mod policy;
mod sessions;
mod tiers;
mod transport;
mod two_factor;
mod users;
mod webhooks;
