//! The native routes of tiers: the tiers themselves (named sets of limits, one the default)
//! and users' tier assignments, managed by administrators; a user reads their own tier.
//! Registered with the other native routes and documented in the same OpenAPI document.

use super::map::{parse_time, rfc3339};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Json, parse_id};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::service::TierChange;
use roster_core::tier::{Tier, TierLimits, UserTier};
use roster_core::{Actor, UserId};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<T, ApiError>;

fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Adds these routes to the native router.
pub(super) fn register(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(tiers_get))
        .routes(routes!(tiers_name_get, tiers_name_put, tiers_name_delete))
        .routes(routes!(users_id_tier_get, users_id_tier_put, users_id_tier_delete))
}

/// A tier.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TierBody {
    pub name: String,
    /// Limit name → number (`-1`: no limit, by convention).
    #[schema(value_type = BTreeMap<String, f64>)]
    pub limits: TierLimits,
    /// Whether this is the default tier, the tier of every user without a current assignment.
    pub default: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Every tier, by name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TierListBody {
    pub tiers: Vec<TierBody>,
    /// The default tier's name.
    pub default: Option<String>,
}

/// Creates or changes a tier.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutTierRequest {
    /// The limits (replacing the stored ones); required for a new tier.
    #[schema(value_type = Option<BTreeMap<String, f64>>)]
    pub limits: Option<TierLimits>,
    /// `true` makes this the default tier (the former default no longer is).
    #[serde(default)]
    pub default: bool,
}

/// A user's tier as it applies now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserTierBody {
    pub user_id: String,
    /// The tier that applies.
    pub tier: TierBody,
    /// Whether it comes from a current assignment (false: the default applies).
    pub assigned: bool,
    /// RFC 3339: the end of the current assignment; null: no end, or no assignment.
    pub expires_at: Option<String>,
    /// The administrator who gave it (null: the command line, or no assignment).
    pub granted_by: Option<String>,
    /// RFC 3339.
    pub granted_at: Option<String>,
    /// The administrator's note (shown to administrators only).
    pub notes: Option<String>,
}

/// Gives a user a tier.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutUserTierRequest {
    /// The tier's name.
    pub tier: String,
    /// RFC 3339, in the future; absent or null: no end.
    pub expires_at: Option<String>,
    /// A note for administrators (at most 1000 characters); absent: kept, null: removed.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

fn tier_body(t: Tier) -> TierBody {
    TierBody {
        name: t.name,
        limits: t.limits,
        default: t.is_default,
        created_at: rfc3339(t.created_at),
        updated_at: rfc3339(t.updated_at),
    }
}

fn user_tier_body(t: UserTier, actor: &Actor) -> UserTierBody {
    let current = t.assignment.filter(|_| t.assigned);
    let admin = actor.require_admin().is_ok();
    UserTierBody {
        user_id: t.user_id.to_string(),
        tier: tier_body(t.tier),
        assigned: t.assigned,
        expires_at: current.as_ref().and_then(|a| a.expires_at).map(rfc3339),
        granted_by: current.as_ref().and_then(|a| a.granted_by).map(|u| u.to_string()),
        granted_at: current.as_ref().map(|a| rfc3339(a.granted_at)),
        notes: current.and_then(|a| a.notes).filter(|_| admin),
    }
}

/// Every tier (administrators).
#[utoipa::path(get, path = "/v1/tiers", tag = "tiers", security(("bearer" = [])),
    responses((status = 200, body = TierListBody), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn tiers_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<TierListBody>> {
    let tiers = state.core.list_tiers(&actor).await?;
    let default = tiers.iter().find(|t| t.is_default).map(|t| t.name.clone());
    Ok(axum::Json(TierListBody {
        tiers: tiers.into_iter().map(tier_body).collect(),
        default,
    }))
}

/// A tier (administrators).
#[utoipa::path(get, path = "/v1/tiers/{name}", tag = "tiers", security(("bearer" = [])),
    params(("name" = String, Path, description = "the tier's name")),
    responses((status = 200, body = TierBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn tiers_name_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<TierBody>> {
    Ok(axum::Json(tier_body(state.core.tier(&actor, &name).await?)))
}

/// Creates or changes a tier (administrators): new limits, and/or makes it the default.
#[utoipa::path(put, path = "/v1/tiers/{name}", tag = "tiers", security(("bearer" = [])),
    params(("name" = String, Path, description = "1 to 50 letters, digits, _ and -")),
    request_body = PutTierRequest,
    responses((status = 200, body = TierBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn tiers_name_put(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(name): Path<String>,
    Json(body): Json<PutTierRequest>,
) -> ApiResult<axum::Json<TierBody>> {
    let tier = state.core.put_tier(&actor, &name, body.limits, body.default).await?;
    Ok(axum::Json(tier_body(tier)))
}

/// Deletes a tier (administrators); its users are back on the default. The default tier
/// cannot be deleted (422).
#[utoipa::path(delete, path = "/v1/tiers/{name}", tag = "tiers", security(("bearer" = [])),
    params(("name" = String, Path, description = "the tier's name")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn tiers_name_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.core.delete_tier(&actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's tier as it applies now (the user, or administrators).
#[utoipa::path(get, path = "/v1/users/{id}/tier", tag = "tiers", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = UserTierBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn users_id_tier_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<UserTierBody>> {
    let id: UserId = parse_id(&id)?;
    let tier = state.core.user_tier(&actor, id).await?;
    Ok(axum::Json(user_tier_body(tier, &actor)))
}

/// Gives a user a tier, optionally until a time (administrators).
#[utoipa::path(put, path = "/v1/users/{id}/tier", tag = "tiers", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    request_body = PutUserTierRequest,
    responses((status = 200, body = UserTierBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn users_id_tier_put(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(body): Json<PutUserTierRequest>,
) -> ApiResult<axum::Json<UserTierBody>> {
    let id: UserId = parse_id(&id)?;
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|raw| parse_time("expires_at", raw))
        .transpose()?;
    let change = TierChange {
        tier: Some(body.tier),
        expires_at: Some(expires_at),
        notes: body.notes,
    };
    let tier = state.core.assign_tier(&actor, id, change).await?;
    Ok(axum::Json(user_tier_body(tier, &actor)))
}

/// Ends a user's tier assignment: the default tier applies (administrators).
#[utoipa::path(delete, path = "/v1/users/{id}/tier", tag = "tiers", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = UserTierBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn users_id_tier_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<UserTierBody>> {
    let id: UserId = parse_id(&id)?;
    let tier = state.core.clear_user_tier(&actor, id).await?;
    Ok(axum::Json(user_tier_body(tier, &actor)))
}
