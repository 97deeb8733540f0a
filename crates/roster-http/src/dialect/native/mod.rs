//! Roster's own API under `/v1`, described by the OpenAPI document at `/v1/openapi.json`.

mod chat;
mod audit;
mod dto;
mod map;
mod routes;

pub use routes::router;
