//! The dialects: each maps one product's routes, shapes and error bodies onto the core.
//! A dialect owns no rules and never imports another dialect; `fastapi` holds the error
//! shapes that Open WebUI and Langflow share through their framework.

mod fastapi;
pub mod langflow;
pub mod librechat;
pub mod native;
pub mod openwebui;
pub mod plexichat;

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
