//! The request context every request runs in: the client address the journal records with
//! each change (see `roster_core::journal::RequestContext`). Set here, once, for every route
//! of every dialect.

use crate::extract::Meta;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use roster_core::journal::{RequestContext, with_request_context};

/// Runs the rest of the request inside its [`RequestContext`], the client address found as
/// the [`Meta`] extractor finds it (forwarded-for rules included).
pub(crate) async fn request_context(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let ip = match Meta::from_request_parts(&mut parts, &state).await {
        Ok(Meta(meta)) => meta.ip,
        Err(_) => None,
    };
    let request = Request::from_parts(parts, body);
    with_request_context(RequestContext { ip }, next.run(request)).await
}
