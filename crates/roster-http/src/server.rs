//! The HTTP/1.1 server loop: accepts connections and serves the app with the transport
//! limits of [`HttpConfig`](crate::HttpConfig): largest request head (431 beyond), a read
//! timeout for the request head (slow clients are disconnected), and a graceful shutdown
//! that lets requests in flight finish. The body size, body read timeout and request timeout
//! are layers of the app itself (see [`crate::app`]).

use crate::AppState;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt as _};

/// The smallest read buffer hyper accepts.
const MIN_BUFFER: usize = 8192;

/// Serves the app for `state` on `listener` until `shutdown` completes, then waits for the
/// connections in flight to finish (the caller bounds that wait).
pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let config = state.config.clone();
    let mut make_service = crate::app(state).into_make_service_with_connect_info::<SocketAddr>();
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_header_size(config.max_header_bytes)
        .max_buf_size(config.max_header_bytes.max(MIN_BUFFER) + MIN_BUFFER);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(tower_service) = make_service.call(peer).await;
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            tower_service.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection closed with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
