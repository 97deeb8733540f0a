//! What every route runs inside, after the request log and the security headers (see
//! [`crate::observe`]) and CORS: the request's time limit, the request context the journal
//! records with each change (the client address, see `roster_core::journal::RequestContext`),
//! the `Connection: close` of a body refused unread, and the body limit. Set here, once, for
//! every route of every dialect.
//!
//! One `tower` service rather than a middleware function per concern: each `from_fn` layer
//! cloned the rest of the route's stack and allocated several times per request.

use crate::error::ApiError;
use crate::state::{AppState, HttpConfig};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::journal::{RequestContext, with_request_context};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A response future of the layers of this crate.
pub type BoxResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// The layer of [`RequestService`].
#[derive(Clone)]
pub(crate) struct RequestLayer {
    config: Arc<HttpConfig>,
}

impl RequestLayer {
    pub(crate) fn new(state: &AppState) -> Self {
        Self {
            config: state.config.clone(),
        }
    }
}

impl<S> tower::Layer<S> for RequestLayer {
    type Service = RequestService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Runs the rest of the request inside its [`RequestContext`] (the client address as the
/// [`Meta`](crate::extract::Meta) extractor finds it, forwarded-for rules included), within
/// `request_timeout` (408 beyond; zero: no limit), and marks a 413 `Connection: close`.
#[derive(Clone)]
pub(crate) struct RequestService<S> {
    inner: S,
    config: Arc<HttpConfig>,
}

impl<S> tower::Service<Request> for RequestService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let ip = crate::client_ip::client_addr(
            peer,
            request.headers(),
            &self.config.trusted_proxies,
            self.config.trust_forwarded_for,
        );
        let limit = self.config.request_timeout;
        let work = with_request_context(RequestContext { ip }, self.inner.call(request));
        Box::pin(async move {
            let response = if limit.is_zero() {
                work.await
            } else {
                match tokio::time::timeout(limit, work).await {
                    Ok(response) => response,
                    Err(_) => return Ok(timed_out(limit)),
                }
            };
            let Ok(mut response) = response;
            close_after_unread_body(&mut response);
            Ok(response)
        })
    }
}

/// A 408 for a request that took longer than `limit`.
fn timed_out(limit: Duration) -> Response {
    ApiError::request(
        StatusCode::REQUEST_TIMEOUT,
        roster_core::ErrorCode::RequestTimeout,
        format!("the request took longer than {} s", limit.as_secs_f64()),
        None,
    )
    .into_response()
}

/// A body over the limit is answered (413) before it is read, and the server then closes the
/// connection rather than read it: the answer says so, so that no client sends its next
/// request on a connection that is going away.
fn close_after_unread_body(response: &mut Response) {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}
