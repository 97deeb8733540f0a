//! Balances in the native API: the caller's (`GET /v1/me/balance`), a user's with its
//! auto-refill settings (`GET|PATCH /v1/users/{id}/balance`, administrators) and spending
//! (`POST /v1/users/{id}/balance/spend`, the platform as an administrator). The rules are the
//! core's (`service/balances.rs`).

use super::dto::double_option;
use super::map::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Json, parse_id};
use crate::state::AppState;
use axum::extract::{Path, State};
use roster_core::service::{BalanceView, RefillChanges, SpendOutcome};
use roster_core::store::{RefillOverrides, RefillUnit};
use roster_core::{Error, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<T, ApiError>;

/// The routes, with their OpenAPI description (merged into the native router).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me_balance_get))
        .routes(routes!(users_id_balance_get, users_id_balance_patch))
        .routes(routes!(users_id_balance_spend_post))
}

/// Auto-refill settings: in effect (the defaults with the user's own), or the user's own
/// (`null`: the deployment's default).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefillBody {
    pub auto_refill_enabled: Option<bool>,
    pub refill_interval_value: Option<i64>,
    /// `seconds`, `minutes`, `hours`, `days`, `weeks` or `months`.
    pub refill_interval_unit: Option<String>,
    /// Credits one refill adds.
    pub refill_amount: Option<i64>,
}

/// A user's balance and its auto-refill state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceBody {
    /// Decimal snowflake id.
    pub user_id: String,
    /// The balance: the sum of the user's credit ledger.
    pub credits: i64,
    /// The settings in effect.
    pub auto_refill: RefillBody,
    /// The user's own settings; each `null` is the deployment's default.
    pub overrides: RefillBody,
    /// RFC 3339: the last automatic refill or, before the first, when the balance began.
    pub last_refill: Option<String>,
    /// RFC 3339: from when a spend that would empty the balance refills it (`null`: auto-refill
    /// is off or adds nothing).
    pub refill_eligible_at: Option<String>,
}

/// `PATCH /v1/users/{id}/balance`: a user's own auto-refill settings. Absent fields are kept,
/// `null` returns a field to the deployment's default.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefillRequest {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<bool>)]
    pub auto_refill_enabled: Option<Option<bool>>,
    /// 0 to 1000000.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub refill_interval_value: Option<Option<i64>>,
    /// `seconds`, `minutes`, `hours`, `days`, `weeks` or `months` (calendar months).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub refill_interval_unit: Option<Option<String>>,
    /// Credits one refill adds (0 or more).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub refill_amount: Option<Option<i64>>,
}

/// `POST /v1/users/{id}/balance/spend`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendRequest {
    /// Credits to take (0: only the check, refilling as a spend would).
    pub amount: i64,
}

/// What a spend did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SpendBody {
    /// Whether the balance covered the amount (and, for a positive amount, it was taken).
    pub spent: bool,
    /// Credits an automatic refill added first (0: none).
    pub refilled: i64,
    /// The balance after.
    pub balance: BalanceBody,
}

fn refill_body(enabled: Option<bool>, value: Option<i64>, unit: Option<RefillUnit>, amount: Option<i64>) -> RefillBody {
    RefillBody {
        auto_refill_enabled: enabled,
        refill_interval_value: value,
        refill_interval_unit: unit.map(|u| u.as_str().to_string()),
        refill_amount: amount,
    }
}

fn balance_body(b: BalanceView) -> BalanceBody {
    let RefillOverrides {
        enabled,
        interval_value,
        interval_unit,
        amount,
    } = b.overrides;
    BalanceBody {
        user_id: b.user.to_string(),
        credits: b.credits,
        auto_refill: refill_body(
            Some(b.refill.enabled),
            Some(b.refill.interval_value),
            Some(b.refill.interval_unit),
            Some(b.refill.amount),
        ),
        overrides: refill_body(enabled, interval_value, interval_unit, amount),
        last_refill: b.last_refill.map(rfc3339),
        refill_eligible_at: b.refill_eligible_at.map(rfc3339),
    }
}

fn spend_body(o: SpendOutcome) -> SpendBody {
    SpendBody {
        spent: o.spent,
        refilled: o.refilled,
        balance: balance_body(o.balance),
    }
}

/// The core's change from the request; an unknown unit names the field.
fn refill_changes(body: RefillRequest) -> Result<RefillChanges, Error> {
    let interval_unit = match body.refill_interval_unit {
        None => None,
        Some(None) => Some(None),
        Some(Some(unit)) => Some(Some(RefillUnit::parse(unit.trim()).ok_or_else(|| {
            Error::invalid(
                "refill_interval_unit",
                "must be seconds, minutes, hours, days, weeks or months",
            )
        })?)),
    };
    Ok(RefillChanges {
        enabled: body.auto_refill_enabled,
        interval_value: body.refill_interval_value,
        interval_unit,
        amount: body.refill_amount,
    })
}

/// The caller's balance and its auto-refill state (the start balance is granted on first use).
#[utoipa::path(get, path = "/v1/me/balance", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = BalanceBody), (status = 401, body = Problem)))]
async fn me_balance_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<BalanceBody>> {
    Ok(axum::Json(balance_body(state.core.balance_details(&actor).await?)))
}

/// A user's balance and its auto-refill state (administrators).
#[utoipa::path(get, path = "/v1/users/{id}/balance", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = BalanceBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn users_id_balance_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<BalanceBody>> {
    let id: UserId = parse_id(&id)?;
    Ok(axum::Json(balance_body(
        state.core.balance_details_of(&actor, id).await?,
    )))
}

/// Sets a user's own auto-refill settings (administrators): absent fields are kept, `null`
/// returns a field to the deployment's default.
#[utoipa::path(patch, path = "/v1/users/{id}/balance", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")), request_body = RefillRequest,
    responses((status = 200, body = BalanceBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn users_id_balance_patch(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(body): Json<RefillRequest>,
) -> ApiResult<axum::Json<BalanceBody>> {
    let id: UserId = parse_id(&id)?;
    let changes = refill_changes(body)?;
    Ok(axum::Json(balance_body(
        state.core.set_refill_overrides(&actor, id, changes).await?,
    )))
}

/// Spends credits of a user's balance (the platform, as an administrator), as LibreChat's
/// balance check does: when the spend would take the balance to 0 or below and a refill is
/// due, the refill is added first (once; concurrent spends take turns). A balance that then
/// does not cover the amount answers `spent: false` and takes nothing.
#[utoipa::path(post, path = "/v1/users/{id}/balance/spend", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")), request_body = SpendRequest,
    responses((status = 200, body = SpendBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn users_id_balance_spend_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(body): Json<SpendRequest>,
) -> ApiResult<axum::Json<SpendBody>> {
    let id: UserId = parse_id(&id)?;
    Ok(axum::Json(spend_body(
        state.core.spend_balance(&actor, id, body.amount).await?,
    )))
}
