//! Roster's own API under `/v1`, described by the OpenAPI document at `/v1/openapi.json`.

pub(crate) mod audit;
mod balances;
mod chat;
mod clients;
mod consents;
mod dto;
mod email_change;
mod map;
mod openapi;
mod routes;
mod scim_push;
mod tiers;
mod two_factor;
mod webhooks;

pub use routes::{mount, router};
