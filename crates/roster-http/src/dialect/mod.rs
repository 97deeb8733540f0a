//! The dialects: each maps one product's routes, shapes and error bodies onto the core.
//! A dialect owns no rules and never imports another dialect; `fastapi` holds the error
//! shapes that Open WebUI and Langflow share through their framework.

use crate::state::AppState;

mod fastapi;
pub mod langflow;
pub mod librechat;
pub mod native;
pub mod openwebui;
pub mod plexichat;

/// Mounts a dialect's `routes` as every product dialect is mounted: at `prefix` (`/` or empty:
/// the root), every error rendered by `render` (the product's shape), NUL bytes in the path
/// refused, and, under a prefix of its own, unknown paths and methods answered in the
/// product's shape too (at the root, the application's fallback answers them).
pub(crate) fn mount_at<F>(prefix: &str, routes: axum::Router<AppState>, render: F) -> axum::Router<AppState>
where
    F: Fn(&crate::error::ErrorInfo) -> axum::response::Response + Clone + Send + Sync + 'static,
{
    use crate::error::{method_not_allowed_fallback, not_found_fallback, render_errors_with};
    let prefix = prefix.trim().trim_matches('/');
    let mut router = routes.route_layer(crate::extract::RejectNulInUri);
    if !prefix.is_empty() {
        router = router
            .fallback(not_found_fallback)
            .method_not_allowed_fallback(method_not_allowed_fallback);
    }
    let router = render_errors_with(router, render);
    if prefix.is_empty() {
        return router;
    }
    axum::Router::new().nest(&format!("/{prefix}"), router)
}

/// The body limit of an avatar upload route. The core refuses any image over
/// `avatar_max_bytes` with the dialect's own error; the transport limit sits well above that
/// (twice the limit, plus room for the multipart framing) so a modestly oversized upload is read
/// to its end and answered, rather than cut off mid-body, which a client still sending sees as a
/// closed connection instead of the error.
pub(crate) fn avatar_body_limit(avatar_max_bytes: usize) -> usize {
    avatar_max_bytes.saturating_mul(2).saturating_add(64 * 1024)
}

/// A stored avatar as every dialect serves it: its media type, cached for a year (a new
/// avatar gets a new name), never sniffed.
pub(crate) fn avatar_response(file: &str, bytes: Vec<u8>) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    (
        [
            (header::CONTENT_TYPE, roster_core::service::avatar_content_type(file)),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response()
}
