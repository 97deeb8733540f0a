//! Liveness, readiness and the public signing keys.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(jwks))
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The database answers and can take writes (see `Store::ping`: on SQLite a committed probe
/// write, reused for a second; on PostgreSQL a round trip that also refuses a read-only server).
async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.core.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// The public keys that verify access tokens (RFC 7517).
async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.core.jwks())
}
