//! The native routes of SCIM push (administrators): `/v1/scim/targets` (the SCIM providers
//! Roster provisions into; their tokens are never shown), each target's delivery log and its
//! replay, and the reconciliation (`sync`). Parse, call the core, render.

use super::webhooks::{
    DeliveriesQuery, DeliveryBody, DeliveryListBody, delivery_body, delivery_list, delivery_query, parse_number,
};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use roster_core::service::{Drift, HttpTransport, NewScimTarget, SyncReport, WebhookSettings};
use roster_core::store::ScimTarget;
use roster_core::user::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<T, ApiError>;

/// The SCIM push routes, merged into the native router.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(scim_targets_get, scim_targets_post))
        .routes(routes!(scim_targets_name_get, scim_targets_name_delete))
        .routes(routes!(scim_targets_name_deliveries_get))
        .routes(routes!(scim_targets_name_deliveries_id_replay_post))
        .routes(routes!(scim_targets_name_sync_post))
}

/// A SCIM target (never its token).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimTargetBody {
    pub name: String,
    /// The SCIM base URL.
    pub url: String,
    /// Whether groups and memberships are pushed.
    pub groups: bool,
    /// Whether a user deleted in Roster is deactivated on the target instead of deleted.
    pub deactivate_on_delete: bool,
    pub created_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// The SCIM targets.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimTargetListBody {
    pub targets: Vec<ScimTargetBody>,
}

/// `POST /v1/scim/targets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScimTargetRequest {
    /// 1 to 64 letters, digits, `-`, `_` or `.`.
    pub name: String,
    /// The SCIM base URL, e.g. `https://chat.example.org/api/v1/scim/v2`.
    pub url: String,
    /// The provider's bearer token (kept sealed; never shown again).
    pub token: String,
    #[serde(default)]
    pub groups: bool,
    #[serde(default)]
    pub deactivate_on_delete: bool,
}

/// `POST /v1/scim/targets/{name}/sync`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Only list the drift (default false: fix it too).
    #[serde(default)]
    pub dry_run: bool,
}

/// One user out of step.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DriftBody {
    /// `missing`, `different` or `extra`.
    pub kind: String,
    pub user_id: Option<String>,
    /// The provider's id.
    pub remote_id: Option<String>,
    pub email: Option<String>,
    /// The attributes that differ (`externalId`, `userName`, `displayName`, `active`).
    pub fields: Vec<String>,
    /// Why the fix failed (a run that fixes).
    pub error: Option<String>,
}

/// What a sync found (and fixed, unless a dry run).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncBody {
    pub target: String,
    pub dry_run: bool,
    pub remote_users: usize,
    pub local_users: usize,
    pub drift: Vec<DriftBody>,
}

fn target_body(t: ScimTarget) -> ScimTargetBody {
    ScimTargetBody {
        name: t.name,
        url: t.url,
        groups: t.push_groups,
        deactivate_on_delete: t.deactivate_on_delete,
        created_by: t.created_by.map(|u| u.to_string()),
        created_at: rfc3339(t.created_at),
    }
}

fn drift_body(d: Drift) -> DriftBody {
    DriftBody {
        kind: d.kind.to_string(),
        user_id: d.user_id.map(|u| u.to_string()),
        remote_id: d.remote_id,
        email: d.email,
        fields: d.fields.into_iter().map(str::to_string).collect(),
        error: d.error,
    }
}

fn sync_body(r: SyncReport) -> SyncBody {
    SyncBody {
        target: r.target,
        dry_run: r.dry_run,
        remote_users: r.remote_users,
        local_users: r.local_users,
        drift: r.drift.into_iter().map(drift_body).collect(),
    }
}

/// The SCIM targets (administrators).
#[utoipa::path(get, path = "/v1/scim/targets", tag = "scim", security(("bearer" = [])),
    responses((status = 200, body = ScimTargetListBody), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn scim_targets_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<axum::Json<ScimTargetListBody>> {
    let targets = state.core.list_scim_targets(&actor).await?;
    Ok(axum::Json(ScimTargetListBody {
        targets: targets.into_iter().map(target_body).collect(),
    }))
}

/// Adds a SCIM target (administrators): user (and, with `groups`, group) changes committed
/// from now on are pushed to it, at least once, in order per user. The URL follows the
/// webhooks' address rules (422).
#[utoipa::path(post, path = "/v1/scim/targets", tag = "scim", security(("bearer" = [])), request_body = CreateScimTargetRequest,
    responses((status = 201, body = ScimTargetBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn scim_targets_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<CreateScimTargetRequest>,
) -> ApiResult<impl IntoResponse> {
    let target = state
        .core
        .add_scim_target(
            &actor,
            NewScimTarget {
                name: body.name,
                url: body.url,
                token: body.token,
                push_groups: body.groups,
                deactivate_on_delete: body.deactivate_on_delete,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(target_body(target))))
}

/// One SCIM target (administrators).
#[utoipa::path(get, path = "/v1/scim/targets/{name}", tag = "scim", security(("bearer" = [])),
    params(("name" = String, Path, description = "target name")),
    responses((status = 200, body = ScimTargetBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn scim_targets_name_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<ScimTargetBody>> {
    Ok(axum::Json(target_body(
        state.core.get_scim_target(&actor, &name).await?,
    )))
}

/// Removes a SCIM target and its delivery log (administrators); nothing is removed from the
/// provider.
#[utoipa::path(delete, path = "/v1/scim/targets/{name}", tag = "scim", security(("bearer" = [])),
    params(("name" = String, Path, description = "target name")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn scim_targets_name_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.core.remove_scim_target(&actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A target's delivery log, newest first (administrators); `status=failed` lists the dead
/// letters.
#[utoipa::path(get, path = "/v1/scim/targets/{name}/deliveries", tag = "scim", security(("bearer" = [])),
    params(("name" = String, Path, description = "target name"), DeliveriesQuery),
    responses((status = 200, body = DeliveryListBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn scim_targets_name_deliveries_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(name): Path<String>,
    Query(query): Query<DeliveriesQuery>,
) -> ApiResult<axum::Json<DeliveryListBody>> {
    let query = delivery_query(query, None)?;
    let limit = query.limit;
    let deliveries = state.core.list_scim_deliveries(&actor, &name, query).await?;
    Ok(axum::Json(delivery_list(deliveries, limit)))
}

/// Sends a delivery of a target again (administrators): pending and due now, attempts reset.
#[utoipa::path(post, path = "/v1/scim/targets/{name}/deliveries/{id}/replay", tag = "scim", security(("bearer" = [])),
    params(("name" = String, Path, description = "target name"), ("id" = String, Path, description = "delivery id")),
    responses((status = 200, body = DeliveryBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn scim_targets_name_deliveries_id_replay_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<axum::Json<DeliveryBody>> {
    let id = parse_number(&id)?;
    Ok(axum::Json(delivery_body(
        state.core.replay_scim_delivery(&actor, &name, id).await?,
    )))
}

/// Compares Roster's users with the target's and, unless `dry_run`, fixes the drift
/// (administrators). Safe to run at any time.
#[utoipa::path(post, path = "/v1/scim/targets/{name}/sync", tag = "scim", security(("bearer" = [])),
    params(("name" = String, Path, description = "target name")), request_body = SyncRequest,
    responses((status = 200, body = SyncBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn scim_targets_name_sync_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(name): Path<String>,
    Json(body): Json<SyncRequest>,
) -> ApiResult<axum::Json<SyncBody>> {
    let transport = HttpTransport::new()?;
    let report = state
        .core
        .sync_scim_target(&actor, &transport, &WebhookSettings::default(), &name, body.dry_run)
        .await?;
    Ok(axum::Json(sync_body(report)))
}
