//! LibreChat's user API (`/api/auth`, `/api/user`, `/api/balance`, the avatar upload), as
//! LibreChat's own client (`librechat-data-provider`) calls it, under `librechat_prefix`.
//! Ids are 24 hex digits, errors are `{"message": ...}`.

mod dto;
mod error;
mod map;
mod routes;
mod two_factor;

/// The error renderer `mount` installs, for the error-body snapshots.
#[cfg(test)]
pub(crate) use error::render_response as render_error;
pub use routes::mount;
