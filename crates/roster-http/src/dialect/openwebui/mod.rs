//! The Open WebUI dialect (release 0.12.4): `/api/v1/auths`, `/api/v1/users` and
//! `/api/v1/groups` as Open WebUI's own frontend calls them, with UUID ids, epoch-second
//! times and `{"detail": ...}` errors carrying Open WebUI's exact strings.

mod admin;
mod auths;
mod caller;
pub mod dto;
pub mod error;
mod groups;
pub mod map;
mod routes;
mod settings;
mod users;

pub use error::render_error;
pub use routes::mount;
