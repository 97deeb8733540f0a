//! Roster's own API under `/v1`, described by the OpenAPI document at `/v1/openapi.json`.

mod audit;
mod dto;
mod map;
mod routes;
mod webhooks;

pub use routes::router;
