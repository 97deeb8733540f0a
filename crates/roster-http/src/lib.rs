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
use tower::ServiceBuilder;

/// Builds the whole application. The only way the server and the tests get a router.
///
/// Every route runs inside one stack of layers, added once (each `Router::layer` call boxes
/// and clones the route's service per request): the request log, metrics and security
/// headers outermost ([`observe`]), CORS when configured ([`protect`]), then the request
/// timeout, the client address and the body limit (`context.rs`).
pub fn app(state: AppState) -> Router {
    let body_limit = DefaultBodyLimit::max(state.config.body_limit);
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
        .method_not_allowed_fallback(error::method_not_allowed_fallback);
    let observe = observe::ObserveLayer::new(&state);
    let request = context::RequestLayer::new(&state);
    let router = match protect::cors_layer(&state.config.cors) {
        Some(cors) => router.layer(
            ServiceBuilder::new()
                .layer(observe)
                .layer(cors)
                .layer(request)
                .layer(body_limit),
        ),
        None => router.layer(ServiceBuilder::new().layer(observe).layer(request).layer(body_limit)),
    };
    router.with_state(state)
}

/// The app of a separate metrics listener (`metrics_listen`): `GET /metrics` only.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(observe::metrics))
        .with_state(state)
}
