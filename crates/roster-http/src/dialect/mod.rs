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

/// A time in UTC as `YYYY-MM-DDTHH:MM:SS.` with `fraction_digits` (1 to 9) of the second and
/// `suffix` after them, written digit by digit (list pages render two or three per user, and
/// the `time` crate's generic formatter costs several thousand instructions each); None for a
/// year outside 0000-9999, which the caller formats generically.
pub(crate) fn iso_time(t: time::OffsetDateTime, fraction_digits: usize, suffix: &str) -> Option<String> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let digits = fraction_digits.clamp(1, 9);
    let fraction = t.nanosecond() / 10_u32.pow(9 - digits as u32);
    let mut out = [0u8; 29];
    let fields: [(u32, usize, usize); 7] = [
        (year, 0, 4),
        (u32::from(u8::from(t.month())), 5, 2),
        (u32::from(t.day()), 8, 2),
        (u32::from(t.hour()), 11, 2),
        (u32::from(t.minute()), 14, 2),
        (u32::from(t.second()), 17, 2),
        (fraction, 20, digits),
    ];
    for (mut value, start, width) in fields {
        for at in out[start..start + width].iter_mut().rev() {
            *at = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    for (at, separator) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.')] {
        out[at] = separator;
    }
    let mut text = String::with_capacity(20 + digits + suffix.len());
    text.push_str(std::str::from_utf8(&out[..20 + digits]).ok()?);
    text.push_str(suffix);
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::iso_time;
    use time::macros::datetime;

    #[test]
    fn times_are_written_as_the_generic_formatter_writes_them() {
        let t = datetime!(2025-05-29 16:02:20.132436789 UTC);
        assert_eq!(iso_time(t, 6, "").as_deref(), Some("2025-05-29T16:02:20.132436"));
        assert_eq!(iso_time(t, 3, "Z").as_deref(), Some("2025-05-29T16:02:20.132Z"));
        let early = datetime!(0007-01-02 03:04:05.000001 +02:00);
        assert_eq!(iso_time(early, 6, "").as_deref(), Some("0007-01-02T01:04:05.000001"));
        assert_eq!(iso_time(datetime!(-0001-01-01 0:00 UTC), 3, "Z"), None);
    }
}
