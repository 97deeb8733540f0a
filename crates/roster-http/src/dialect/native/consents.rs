//! `/v1/me/consents`: the clients the caller allowed (OpenID Connect clients that are not
//! first-party), and withdrawing that consent (the same core services as the pages).

use crate::error::{ApiError, Problem};
use crate::extract::Auth;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::service::oidc::ConsentView;
use roster_core::user::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<T, ApiError>;

/// The consent routes, merged into the native router.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me_consents_get))
        .routes(routes!(me_consents_id_get, me_consents_id_delete))
}

/// What the caller allowed a client.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentBody {
    pub client_id: String,
    /// The client's display name (its id when it has none).
    pub client_name: String,
    /// The scopes allowed; asking for another shows the consent page again.
    pub scopes: Vec<String>,
    /// RFC 3339: when the client was first allowed.
    pub granted_at: String,
    /// RFC 3339: when it was last allowed.
    pub updated_at: String,
}

/// The caller's consents.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentListBody {
    pub consents: Vec<ConsentBody>,
}

fn consent_body(c: ConsentView) -> ConsentBody {
    ConsentBody {
        client_id: c.client_id,
        client_name: c.client_name,
        scopes: c.scopes,
        granted_at: rfc3339(c.granted_at),
        updated_at: rfc3339(c.updated_at),
    }
}

/// The clients the caller allowed, by client id.
#[utoipa::path(get, path = "/v1/me/consents", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = ConsentListBody), (status = 401, body = Problem)))]
async fn me_consents_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<ConsentListBody>> {
    let consents = state.core.list_oidc_consents(&actor).await?;
    Ok(axum::Json(ConsentListBody {
        consents: consents.into_iter().map(consent_body).collect(),
    }))
}

/// The caller's consent to one client.
#[utoipa::path(get, path = "/v1/me/consents/{client_id}", tag = "me", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "client id")),
    responses((status = 200, body = ConsentBody), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn me_consents_id_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(client_id): Path<String>,
) -> ApiResult<axum::Json<ConsentBody>> {
    Ok(axum::Json(consent_body(
        state.core.get_oidc_consent(&actor, &client_id).await?,
    )))
}

/// Withdraws the caller's consent to a client: the client's refresh and access tokens of the
/// caller stop working, and the next sign-in to it asks again.
#[utoipa::path(delete, path = "/v1/me/consents/{client_id}", tag = "me", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "client id")),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn me_consents_id_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(client_id): Path<String>,
) -> ApiResult<StatusCode> {
    state.core.withdraw_oidc_consent(&actor, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
