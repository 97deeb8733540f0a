//! Roster's HTTP layer: routing, authentication extractors, the error table, and the
//! dialects. Handlers parse and render; every rule lives in `roster-core`.

pub mod client_ip;
mod context;
pub mod cookie;
pub mod dialect;
pub mod error;
pub mod extract;
pub mod forward_auth;
mod health;
pub mod observe;
pub mod oidc;
pub mod pages;
pub mod protect;
pub mod scim;
pub mod server;
mod state;

pub use state::{AppState, HttpConfig};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// Builds the whole application. The only way the server and the tests get a router.
pub fn app(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    let config = state.config.clone();
    let mut router = Router::new().merge(health::router());
    if state.metrics.is_some() {
        router = router.route("/metrics", axum::routing::get(observe::metrics));
    }
    let router = router
        .merge(dialect::native::mount(&state))
        .merge(dialect::librechat::mount(&state))
        .merge(dialect::openwebui::mount(&state))
        .merge(dialect::langflow::mount(&state))
        .merge(dialect::plexichat::mount(&state))
        .merge(oidc::mount(&state))
        .merge(pages::mount(&state))
        .merge(forward_auth::mount(&state))
        .merge(scim::mount(&state))
        .fallback(error::not_found_fallback)
        .method_not_allowed_fallback(error::method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(close_after_unread_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            context::request_context,
        ));
    protect::protect(router, &config)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}

/// The app of a separate metrics listener (`metrics_listen`): `GET /metrics` only.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(observe::metrics))
        .with_state(state)
}

/// A body over the limit is answered (413) before it is read, and the server then closes the
/// connection rather than read it: the answer says so, so that no client sends its next
/// request on a connection that is going away.
async fn close_after_unread_body(mut response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
