//! Roster's HTTP layer: routing, authentication extractors, the error table, and the
//! dialects. Handlers parse and render; every rule lives in `roster-core`.

pub mod dialect;
pub mod error;
pub mod extract;
mod health;
mod state;

pub use state::{AppState, HttpConfig};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::trace::TraceLayer;

/// Builds the whole application. The only way the server and the tests get a router.
pub fn app(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    let (native, _openapi) = dialect::native::router();
    Router::new()
        .merge(health::router())
        .merge(native)
        .fallback(error::not_found_fallback)
        .method_not_allowed_fallback(error::method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
