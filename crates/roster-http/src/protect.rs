//! What every response is protected by: security headers and CORS, both set by
//! [`HttpConfig`]. The app adds them around every route (see [`crate::app`]), with the
//! request timeout (see `context.rs`) inside CORS.

use crate::state::HttpConfig;
use axum::http::{HeaderName, HeaderValue, Method, header};
use std::time::Duration;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// The security headers added to every response (each `None` or empty: not sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityHeaders {
    /// `X-Frame-Options` (`DENY`).
    pub frame_options: Option<String>,
    /// `Content-Security-Policy` (`default-src 'none'; frame-ancestors 'none'`: the API serves
    /// JSON and images; the sign-in pages set their own, see [`crate::pages::theme`]).
    pub content_security_policy: Option<String>,
    /// `Referrer-Policy` (`no-referrer`).
    pub referrer_policy: Option<String>,
    /// `Strict-Transport-Security: max-age=N; includeSubDomains`, when set (only behind
    /// HTTPS).
    pub hsts_max_age_seconds: Option<u64>,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        Self {
            frame_options: Some("DENY".into()),
            content_security_policy: Some("default-src 'none'; frame-ancestors 'none'".into()),
            referrer_policy: Some("no-referrer".into()),
            hsts_max_age_seconds: None,
        }
    }
}

/// Cross-origin access for browsers. Off (no CORS headers at all) unless origins are listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsSettings {
    /// Origins allowed to call Roster from a browser (`https://chat.example.org`), or `*`
    /// for any (without credentials). Empty: CORS off.
    pub allowed_origins: Vec<String>,
    /// Whether browsers may send cookies and credentials cross-origin.
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer, seconds.
    pub max_age_seconds: u64,
}

fn header_pair(name: HeaderName, value: Option<&str>) -> Option<(HeaderName, HeaderValue)> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    match HeaderValue::from_str(value) {
        Ok(v) => Some((name, v)),
        Err(_) => {
            tracing::error!(header = %name, "invalid header value in the configuration; not sent");
            None
        }
    }
}

/// The CORS layer for the settings; None when CORS is off.
pub fn cors_layer(settings: &CorsSettings) -> Option<CorsLayer> {
    let origins: Vec<&str> = settings
        .allowed_origins
        .iter()
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.contains(&"*") && !settings.allow_credentials {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE])
            .allow_credentials(settings.allow_credentials)
            .max_age(Duration::from_secs(settings.max_age_seconds)),
    )
}

/// The security headers every response carries unless it sets its own (made once, added by
/// [`crate::observe::Observe`] outside CORS, so that preflight answers and errors carry them
/// too).
pub(crate) fn security_headers(config: &HttpConfig) -> Vec<(HeaderName, HeaderValue)> {
    let headers = &config.security_headers;
    let hsts = headers
        .hsts_max_age_seconds
        .map(|s| format!("max-age={s}; includeSubDomains"));
    [
        header_pair(header::X_CONTENT_TYPE_OPTIONS, Some("nosniff")),
        header_pair(header::X_FRAME_OPTIONS, headers.frame_options.as_deref()),
        header_pair(
            header::CONTENT_SECURITY_POLICY,
            headers.content_security_policy.as_deref(),
        ),
        header_pair(header::REFERRER_POLICY, headers.referrer_policy.as_deref()),
        header_pair(header::STRICT_TRANSPORT_SECURITY, hsts.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect()
}
