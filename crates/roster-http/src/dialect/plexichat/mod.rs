//! The Plexichat dialect: Plexichat's Users API (`/users/@me`, messaging settings, the avatar
//! upload, the personal notes and direct-message channels, username search and public
//! profiles, the synced settings, the user features: tiers and badges), with snowflake ids as decimal strings, `created_at` in Unix seconds and
//! `{"error": {"code", "message"}}` errors carrying Plexichat's strings.

pub mod dto;
pub mod error;
pub mod features;
pub mod map;
pub mod routes;

pub use error::render_error;
pub use routes::mount;
