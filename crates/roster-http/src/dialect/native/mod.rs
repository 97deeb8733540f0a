//! Roster's own API under `/v1`, described by the OpenAPI document at `/v1/openapi.json`.

mod dto;
mod map;
mod openapi;
mod routes;

pub use routes::router;
