//! Roster's HTTP layer: routing, authentication extractors, the error table, and the
//! dialects. Handlers parse and render; every rule lives in `roster-core`.

pub mod client_ip;
mod context;
pub mod dialect;
pub mod error;
pub mod extract;
mod health;
pub mod protect;
pub mod server;
mod state;

pub use state::{AppState, HttpConfig};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tower_http::trace::TraceLayer;

/// Builds the whole application. The only way the server and the tests get a router.
pub fn app(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    let config = state.config.clone();
    let (native, _openapi) = dialect::native::router();
    let librechat = dialect::librechat::router(&state);
    let librechat_prefix = state.config.librechat_prefix.trim().trim_matches('/').to_string();
    let router = Router::new()
        .merge(health::router())
        .merge(native)
        .merge(mount_librechat(&librechat_prefix, librechat))
        .merge(mount_openwebui(&state.config.openwebui_prefix))
        .merge(mount_langflow(&state.config.langflow_prefix))
        .merge(mount_plexichat(&state))
        .fallback(error::not_found_fallback)
        .method_not_allowed_fallback(error::method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(close_after_unread_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            context::request_context,
        ))
        .layer(TraceLayer::new_for_http());
    protect::protect(router, &config).with_state(state)
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

/// Mounts the Open WebUI router at its prefix, or at the root for `/` or an empty prefix.
fn mount_openwebui(prefix: &str) -> Router<AppState> {
    let prefix = prefix.trim().trim_matches('/');
    if prefix.is_empty() {
        return dialect::openwebui::router(false);
    }
    Router::new().nest(&format!("/{prefix}"), dialect::openwebui::router(true))
}

/// Mounts the Langflow router at its prefix, or at the root for `/` or an empty prefix.
fn mount_langflow(prefix: &str) -> Router<AppState> {
    let prefix = prefix.trim().trim_matches('/');
    if prefix.is_empty() {
        return dialect::langflow::router(false);
    }
    Router::new().nest(&format!("/{prefix}"), dialect::langflow::router(true))
}

/// Mounts the LibreChat router at `/{prefix}`, or at the root when `prefix` is empty. Paths
/// under the prefix that no route matches are answered in LibreChat's error shape.
fn mount_librechat(prefix: &str, router: Router<AppState>) -> Router<AppState> {
    if prefix.is_empty() {
        return router;
    }
    let router = error::render_errors_with(
        router
            .fallback(error::not_found_fallback)
            .method_not_allowed_fallback(error::method_not_allowed_fallback),
        dialect::librechat::render_error,
    );
    Router::new().nest(&format!("/{prefix}"), router)
}

/// Mounts the Plexichat router at its prefix, or at the root for `/` or an empty prefix.
fn mount_plexichat(state: &AppState) -> Router<AppState> {
    let prefix = state.config.plexichat_prefix.trim().trim_matches('/');
    if prefix.is_empty() {
        return dialect::plexichat::router(state, false);
    }
    Router::new().nest(&format!("/{prefix}"), dialect::plexichat::router(state, true))
}
