//! The Langflow dialect: `/api/v1/login`, `/refresh`, `/logout`, `/auto_login`,
//! `/api/v1/users` and `/api/v1/api_key` as Langflow's backend answers them (the classic 0.4
//! shapes the documentation shows, accepting the current 1.x request shapes too), with UUID
//! ids, `create_at` times and `{"detail": ...}` errors carrying Langflow's exact strings.

mod api_keys;
mod caller;
pub mod dto;
pub mod error;
mod login;
pub mod map;
mod routes;
mod users;

pub use error::render_error;
pub use routes::mount;
