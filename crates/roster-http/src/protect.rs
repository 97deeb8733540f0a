//! Layers every response passes through: the request timeout, security headers and CORS.
//! All of them are set by [`HttpConfig`].

use crate::error::ApiError;
use crate::state::HttpConfig;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

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

/// A 408 for a request that took longer than `request_timeout`.
async fn request_timeout(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::request(
            StatusCode::REQUEST_TIMEOUT,
            roster_core::ErrorCode::RequestTimeout,
            format!("the request took longer than {} s", limit.as_secs_f64()),
            None,
        )
        .into_response(),
    }
}

fn header_layer(name: HeaderName, value: Option<&str>) -> Option<SetResponseHeaderLayer<HeaderValue>> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    match HeaderValue::from_str(value) {
        Ok(v) => Some(SetResponseHeaderLayer::if_not_present(name, v)),
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

/// Wraps the whole app: the request timeout inside, CORS around it, security headers
/// outermost (so that preflight answers and errors carry them too).
pub fn protect<S: Clone + Send + Sync + 'static>(router: Router<S>, config: &HttpConfig) -> Router<S> {
    let mut router = router;
    if !config.request_timeout.is_zero() {
        router = router.layer(axum::middleware::from_fn_with_state(
            config.request_timeout,
            request_timeout,
        ));
    }
    if let Some(cors) = cors_layer(&config.cors) {
        router = router.layer(cors);
    }
    let headers = &config.security_headers;
    let hsts = headers
        .hsts_max_age_seconds
        .map(|s| format!("max-age={s}; includeSubDomains"));
    let layers = [
        header_layer(header::X_CONTENT_TYPE_OPTIONS, Some("nosniff")),
        header_layer(header::X_FRAME_OPTIONS, headers.frame_options.as_deref()),
        header_layer(
            header::CONTENT_SECURITY_POLICY,
            headers.content_security_policy.as_deref(),
        ),
        header_layer(header::REFERRER_POLICY, headers.referrer_policy.as_deref()),
        header_layer(header::STRICT_TRANSPORT_SECURITY, hsts.as_deref()),
    ];
    for layer in layers.into_iter().flatten() {
        router = router.layer(layer);
    }
    router
}
