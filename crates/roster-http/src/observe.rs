//! What every request leaves behind: one log line (request id, method, route template,
//! dialect, status, latency, the user when known) and the HTTP metrics (requests by route
//! template, dialect, method and status; latency by route template, dialect and method), and
//! the `X-Request-Id` echoed in the response; and the security headers every response
//! carries. One layer, the outermost of every route (see [`crate::app`]).
//!
//! Cheap on purpose: the metric handles of each (route, method, status) are made once and
//! kept ([`HttpMetrics`]), so a request only hashes its route template and bumps two atomics;
//! labels are route templates and fixed words, never a raw path or anything a user typed.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Histogram};
use roster_core::telemetry;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

/// The request id header, read and echoed.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest request id taken from a client.
const MAX_REQUEST_ID: usize = 128;
/// The route label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// Whether a client's `X-Request-Id` is taken as is: 1 to 128 characters of letters, digits
/// and `-_.:@`. Anything else (empty, too long, spaces, quotes, control characters) is
/// replaced by a generated id, so a log line never carries what a client smuggled in.
pub fn well_formed_request_id(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'@'))
}

/// A new request id: 32 hex digits, a per-process random prefix and a counter.
fn generate_request_id() -> HeaderValue {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let prefix = *PREFIX.get_or_init(|| {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one((std::process::id(), Instant::now()))
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 32];
    for (i, byte) in prefix.to_be_bytes().iter().chain(n.to_be_bytes().iter()).enumerate() {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        buf[2 * i] = HEX[usize::from(byte >> 4)];
        buf[2 * i + 1] = HEX[usize::from(byte & 0xf)];
    }
    HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static("0"))
}

/// The method label: the standard methods by name, anything else `other` (a client picks
/// the method; the label set must stay bounded).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The handles of one route template.
struct RouteMetrics {
    dialect: &'static str,
    /// (method, status) → requests.
    requests: Vec<(&'static str, u16, Counter)>,
    /// method → latency.
    durations: Vec<(&'static str, Histogram)>,
}

/// The HTTP metrics' handles, made once per label set and reused.
pub struct HttpMetrics {
    routes: RwLock<HashMap<Box<str>, RouteMetrics>>,
    dialects: Vec<(String, &'static str)>,
    root_dialect: &'static str,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

impl HttpMetrics {
    /// The handles for an app configured by `config` (whose prefixes name the dialects).
    pub fn new(config: &crate::HttpConfig) -> Self {
        let mounted = [
            (&config.librechat_prefix, "librechat"),
            (&config.openwebui_prefix, "openwebui"),
            (&config.langflow_prefix, "langflow"),
            (&config.plexichat_prefix, "plexichat"),
        ];
        let mut dialects: Vec<(String, &'static str)> = vec![
            ("/v1".into(), "native"),
            ("/oidc".into(), "oidc"),
            ("/.well-known/openid-configuration".into(), "oidc"),
            ("/signin".into(), "pages"),
            ("/signout".into(), "pages"),
            ("/pages".into(), "pages"),
            ("/healthz".into(), "health"),
            ("/readyz".into(), "health"),
            ("/metrics".into(), "health"),
            ("/.well-known/jwks.json".into(), "health"),
        ];
        let mut root_dialect = "other";
        for (prefix, name) in mounted {
            match prefix.trim().trim_matches('/') {
                "" if root_dialect == "other" => root_dialect = name,
                "" => {}
                p => dialects.push((format!("/{p}"), name)),
            }
        }
        // The longest prefix first, so that a prefix inside another's is told apart.
        dialects.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Self {
            routes: RwLock::default(),
            dialects,
            root_dialect,
        }
    }

    /// The dialect a route template belongs to (worked out once per route).
    fn dialect_of(&self, route: &str) -> &'static str {
        if route == UNMATCHED {
            return UNMATCHED;
        }
        self.dialects
            .iter()
            .find(|(prefix, _)| {
                route
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .map_or(self.root_dialect, |(_, name)| *name)
    }

    /// Counts one request and its latency.
    fn record(&self, route: &str, method: &'static str, status: u16, seconds: f64) -> &'static str {
        {
            let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = routes.get(route)
                && let Some((_, _, counter)) = entry.requests.iter().find(|(m, s, _)| *m == method && *s == status)
                && let Some((_, histogram)) = entry.durations.iter().find(|(m, _)| *m == method)
            {
                counter.increment(1);
                histogram.record(seconds);
                return entry.dialect;
            }
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        let dialect = self.dialect_of(route);
        let entry = routes.entry(route.into()).or_insert_with(|| RouteMetrics {
            dialect,
            requests: Vec::new(),
            durations: Vec::new(),
        });
        let route_label = route.to_string();
        if !entry.requests.iter().any(|(m, s, _)| *m == method && *s == status) {
            let counter = metrics::counter!(
                telemetry::HTTP_REQUESTS,
                "route" => route_label.clone(),
                "dialect" => dialect,
                "method" => method,
                "status" => status.to_string()
            );
            entry.requests.push((method, status, counter));
        }
        if !entry.durations.iter().any(|(m, _)| *m == method) {
            let histogram = metrics::histogram!(
                telemetry::HTTP_DURATION,
                "route" => route_label,
                "dialect" => dialect,
                "method" => method
            );
            entry.durations.push((method, histogram));
        }
        if let Some((_, _, counter)) = entry.requests.iter().find(|(m, s, _)| *m == method && *s == status) {
            counter.increment(1);
        }
        if let Some((_, histogram)) = entry.durations.iter().find(|(m, _)| *m == method) {
            histogram.record(seconds);
        }
        dialect
    }
}

/// The layer of [`Observe`], outermost around every route.
#[derive(Clone)]
pub(crate) struct ObserveLayer {
    metrics: Arc<HttpMetrics>,
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

impl ObserveLayer {
    pub(crate) fn new(state: &AppState) -> Self {
        Self {
            metrics: state.http_metrics.clone(),
            headers: crate::protect::security_headers(&state.config).into(),
        }
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: self.metrics.clone(),
            headers: self.headers.clone(),
        }
    }
}

/// Request id in, the request served inside the request-user slot, the security headers
/// added where the response has none of its own (every response, preflight answers and
/// errors included), the id echoed, the metrics counted, one log line out.
#[derive(Clone)]
pub(crate) struct Observe<S> {
    inner: S,
    metrics: Arc<HttpMetrics>,
    /// The security headers (see [`crate::protect::security_headers`]).
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = crate::context::BoxResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let request_id = match request.headers().get(&REQUEST_ID) {
            Some(value) if well_formed_request_id(value.as_bytes()) => value.clone(),
            _ => generate_request_id(),
        };
        let method = method_label(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        let work = telemetry::with_request_user(self.inner.call(request));
        let metrics = self.metrics.clone();
        let headers = self.headers.clone();
        Box::pin(async move {
            let (response, user) = work.await;
            let Ok(mut response) = response;
            for (name, value) in headers.iter() {
                if !response.headers().contains_key(name) {
                    response.headers_mut().insert(name.clone(), value.clone());
                }
            }
            let elapsed = started.elapsed();
            let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
            let status = response.status().as_u16();
            let dialect = metrics.record(route, method, status, elapsed.as_secs_f64());
            tracing::info!(
                target: "roster::request",
                request_id = request_id.to_str().unwrap_or_default(),
                method,
                route,
                dialect,
                status,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                user_id = user.map(|u| u.0),
                "request"
            );
            response.headers_mut().insert(REQUEST_ID, request_id);
            Ok(response)
        })
    }
}

/// `GET /metrics`: the Prometheus text format (the pool gauges read now, the rest as last
/// recorded or refreshed).
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    telemetry::refresh_pool_gauges(state.core.store.as_ref());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_clients_are_checked() {
        assert!(well_formed_request_id(b"abc-123_x.y:z@w"));
        assert!(!well_formed_request_id(b""));
        assert!(!well_formed_request_id(b"has space"));
        assert!(!well_formed_request_id(b"quote\""));
        assert!(!well_formed_request_id(&[b'a'; 129]));
        let a = generate_request_id();
        let b = generate_request_id();
        assert_ne!(a, b);
        assert!(well_formed_request_id(a.as_bytes()));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn route_templates_name_their_dialect() {
        let config = crate::HttpConfig {
            plexichat_prefix: "/".into(),
            langflow_prefix: "/lf".into(),
            ..crate::HttpConfig::default()
        };
        let m = HttpMetrics::new(&config);
        assert_eq!(m.dialect_of("/v1/users/{id}"), "native");
        assert_eq!(m.dialect_of("/librechat/api/auth/login"), "librechat");
        assert_eq!(m.dialect_of("/lf/api/v1/login"), "langflow");
        assert_eq!(m.dialect_of("/lfx/api"), "plexichat");
        assert_eq!(m.dialect_of("/users/@me"), "plexichat");
        assert_eq!(m.dialect_of("/oidc/token"), "oidc");
        assert_eq!(m.dialect_of("/healthz"), "health");
        assert_eq!(m.dialect_of(UNMATCHED), UNMATCHED);
        assert_eq!(
            method_label(&Method::from_bytes(b"BREW").unwrap_or(Method::GET)),
            "other"
        );
    }
}
