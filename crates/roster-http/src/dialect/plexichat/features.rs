//! Plexichat's synced settings (`src/api/routes/settings.py`: `/users/@me/settings`) and user
//! features (`src/api/routes/features/tier_features.py` and the admin router's tier and badge
//! routes): tiers and badges are Roster's, rendered in Plexichat's shapes.

use super::dto::*;
use super::error::{self, PlexiError};
use super::map;
use crate::extract::{Auth, Json, Path};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use roster_core::service::TierChange;
use roster_core::tier::UserTier;
use roster_core::{Actor, Error, UserId};
use serde_json::Value;

type Result<T> = std::result::Result<T, PlexiError>;

/// The routes, as Plexichat's own paths.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users/@me/settings", get(settings_get))
        // `PUT /bulk` is the bulk write; any other method on `bulk` is the setting named so.
        .route(
            "/users/@me/settings/bulk",
            put(settings_bulk_put)
                .get(|s: State<AppState>, a: Auth| setting_get(s, a, Path("bulk".to_string())))
                .delete(|s: State<AppState>, a: Auth| setting_delete(s, a, Path("bulk".to_string()))),
        )
        .route(
            "/users/@me/settings/{key}",
            get(setting_get).put(setting_put).delete(setting_delete),
        )
        .route("/users/@me/features", get(my_features_get))
        .route(
            "/admin/users/{user_id}/features",
            get(user_features_get).put(user_features_put),
        )
        .route("/admin/tiers", get(tiers_get))
        .route("/admin/badges", get(badges_get))
        .route("/admin/users/{user_id}/tier", put(user_tier_put))
        .route(
            "/admin/users/{user_id}/badges/{badge}",
            post(badge_post).delete(badge_delete),
        )
}

/// A fixed 400 answer.
fn fixed_400(message: &'static str) -> PlexiError {
    PlexiError::Detail(StatusCode::BAD_REQUEST, message)
}

fn bad_request(message: String) -> PlexiError {
    PlexiError::Object(StatusCode::BAD_REQUEST, message)
}

/// A settings rule broken: 400 with the rule's message (Plexichat's words).
fn setting_error(e: Error) -> PlexiError {
    match e {
        Error::Invalid { field, reason } if reason == roster_core::user::NUL_REASON => {
            bad_request(format!("Invalid {field}: {reason}"))
        }
        Error::Invalid { reason, .. } => bad_request(reason),
        e => e.into(),
    }
}

fn setting_not_found(key: &str) -> PlexiError {
    PlexiError::Object(StatusCode::NOT_FOUND, format!("Setting '{key}' not found"))
}

async fn settings_get(State(state): State<AppState>, Auth(actor): Auth) -> Result<axum::Json<SettingsBody>> {
    let settings = state.core.user_settings(&actor).await?;
    Ok(axum::Json(SettingsBody {
        count: settings.len(),
        settings: settings.into_iter().map(|s| (s.key, s.value)).collect(),
        limit: roster_core::service::MAX_USER_SETTINGS,
    }))
}

async fn setting_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(key): Path<String>,
) -> Result<axum::Json<SettingBody>> {
    match state.core.user_setting(&actor, &key).await {
        Ok(setting) => Ok(axum::Json(map::setting(&setting))),
        Err(Error::NotFound(_)) => Err(setting_not_found(&key)),
        Err(e) => Err(e.into()),
    }
}

/// `PUT /users/@me/settings/{key} {"value": str}`: the body checked as Plexichat's pydantic
/// model (`value` required, a string of at most 10,000 characters), then the store's rules.
async fn setting_put(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> Result<axum::Json<SettingBody>> {
    let value = match body.get("value") {
        None | Some(Value::Null) if body.is_object() => {
            return Err(fixed_400(error::INVALID_VALUE_REQUIRED));
        }
        Some(Value::String(value)) => value,
        None => {
            return Err(fixed_400(error::INVALID_BODY_NOT_OBJECT));
        }
        Some(_) => return Err(fixed_400(error::INVALID_VALUE_TYPE)),
    };
    if value.chars().count() > roster_core::service::MAX_SETTING_VALUE {
        return Err(fixed_400(error::INVALID_VALUE_TOO_LONG));
    }
    let setting = state
        .core
        .put_user_setting(&actor, &key, value)
        .await
        .map_err(setting_error)?;
    Ok(axum::Json(map::setting(&setting)))
}

async fn setting_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(key): Path<String>,
) -> Result<axum::Json<SuccessBody>> {
    match state.core.delete_user_setting(&actor, &key).await {
        Ok(()) => Ok(axum::Json(SuccessBody {
            success: true,
            message: None,
        })),
        Err(Error::NotFound(_)) => Err(setting_not_found(&key)),
        Err(e) => Err(e.into()),
    }
}

/// `PUT /users/@me/settings/bulk {key: value, ...}`: strings as they are, numbers and
/// booleans as their JSON text; all keys or none (Plexichat skips failed keys silently).
async fn settings_bulk_put(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<Value>,
) -> Result<axum::Json<SuccessBody>> {
    let Value::Object(object) = body else {
        return Err(fixed_400(error::INVALID_BODY_NOT_OBJECT));
    };
    let mut settings = Vec::with_capacity(object.len());
    for (key, value) in object {
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(bad_request(format!(
                    "Setting '{key}': the value must be a string, a number or a boolean"
                )));
            }
        };
        settings.push((key, value));
    }
    state
        .core
        .put_user_settings(&actor, settings)
        .await
        .map_err(setting_error)?;
    Ok(axum::Json(SuccessBody {
        success: true,
        message: None,
    }))
}

async fn my_features_get(State(state): State<AppState>, Auth(actor): Auth) -> Result<axum::Json<PublicFeaturesBody>> {
    let tier = state.core.user_tier(&actor, actor.user.id).await?;
    let badges = state.core.badges_of(actor.user.id).await?;
    Ok(axum::Json(PublicFeaturesBody {
        badges: badges.iter().map(|b| map::badge_info(b)).collect(),
        tier: tier.tier.name.clone(),
        tier_limits: map::tier_limits(&tier.tier),
    }))
}

/// The caller must be an administrator: 403 with `message` otherwise (Plexichat answers its
/// feature routes with 401 here).
fn require_admin(actor: &Actor, message: &'static str) -> Result<()> {
    actor
        .require_admin()
        .map_err(|_| PlexiError::Detail(StatusCode::FORBIDDEN, message))
}

fn user_id(raw: &str) -> Result<UserId> {
    map::snowflake_str(raw)
        .map(UserId)
        .ok_or(fixed_400(error::INVALID_USER_ID))
}

async fn user_features(state: &AppState, tier: UserTier) -> Result<UserFeaturesBody> {
    let badges = state.core.badges_of(tier.user_id).await?;
    let expires_at = tier
        .assignment
        .as_ref()
        .filter(|_| tier.assigned)
        .and_then(|a| a.expires_at)
        .map(map::millis);
    Ok(UserFeaturesBody {
        user_id: tier.user_id.to_string(),
        rate_limit_tier: tier.tier.name.clone(),
        badges,
        tier_limits: map::tier_limits(&tier.tier),
        expires_at,
    })
}

async fn user_features_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<UserFeaturesBody>> {
    require_admin(&actor, error::ADMIN_ACCESS_REQUIRED)?;
    let user = user_id(&raw)?;
    let tier = state.core.user_tier(&actor, user).await?;
    Ok(axum::Json(user_features(&state, tier).await?))
}

/// An unknown tier, as Plexichat words it: `Invalid tier: Invalid tier '<t>'. Available: [...]`.
async fn invalid_tier(state: &AppState, actor: &Actor, tier: &str) -> PlexiError {
    let names = match state.core.list_tiers(actor).await {
        Ok(tiers) => tiers.into_iter().map(|t| format!("'{}'", t.name)).collect::<Vec<_>>(),
        Err(e) => return e.into(),
    };
    bad_request(format!(
        "Invalid tier: Invalid tier '{tier}'. Available: [{}]",
        names.join(", ")
    ))
}

async fn assign(state: &AppState, actor: &Actor, user: UserId, change: TierChange) -> Result<UserTier> {
    let tier = change.tier.clone();
    match state.core.assign_tier(actor, user, change).await {
        Ok(tier) => Ok(tier),
        Err(Error::Invalid { field: "tier", .. }) => {
            Err(invalid_tier(state, actor, tier.as_deref().unwrap_or("")).await)
        }
        Err(e) => Err(e.into()),
    }
}

/// A client's `expires_at` (milliseconds, or seconds as Plexichat's documentation has them).
fn expiry(raw: i64) -> Result<time::OffsetDateTime> {
    map::timestamp(raw).ok_or_else(|| bad_request("Invalid expires_at: not a valid timestamp".into()))
}

async fn user_features_put(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    Json(body): Json<UpdateFeaturesRequest>,
) -> Result<axum::Json<UserFeaturesBody>> {
    require_admin(&actor, error::ADMIN_ACCESS_REQUIRED)?;
    let user = user_id(&raw)?;
    let change = TierChange {
        tier: body.rate_limit_tier,
        expires_at: body.expires_at.map(expiry).transpose()?.map(Some),
        notes: body.notes.map(Some),
    };
    let tier = if change == TierChange::default() {
        state.core.user_tier(&actor, user).await?
    } else {
        assign(&state, &actor, user, change).await?
    };
    Ok(axum::Json(user_features(&state, tier).await?))
}

async fn tiers_get(State(state): State<AppState>, Auth(actor): Auth) -> Result<axum::Json<TiersBody>> {
    require_admin(&actor, error::ADMIN_ACCESS_REQUIRED)?;
    let tiers = state.core.list_tiers(&actor).await?;
    let default = tiers
        .iter()
        .find(|t| t.is_default)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    Ok(axum::Json(TiersBody {
        tiers: tiers.iter().map(|t| (t.name.clone(), map::tier_limits(t))).collect(),
        default,
    }))
}

async fn badges_get(Auth(actor): Auth) -> Result<axum::Json<BadgesBody>> {
    require_admin(&actor, error::ADMIN_ACCESS_REQUIRED)?;
    Ok(axum::Json(BadgesBody {
        badges: map::BADGES.iter().map(|(name, ..)| map::badge_info(name)).collect(),
    }))
}

/// `PUT {admin_path}/users/{user_id}/tier {"tier", "expires_at"?}`: a new assignment (no
/// `expires_at`: no end).
async fn user_tier_put(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    Json(body): Json<SetTierRequest>,
) -> Result<axum::Json<SuccessBody>> {
    require_admin(&actor, error::INSUFFICIENT_PERMISSIONS)?;
    let user = user_id(&raw)?;
    let change = TierChange {
        tier: Some(body.tier),
        expires_at: Some(body.expires_at.map(expiry).transpose()?),
        notes: None,
    };
    assign(&state, &actor, user, change).await?;
    Ok(axum::Json(SuccessBody {
        success: true,
        message: Some("User tier updated successfully"),
    }))
}

async fn badge_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((raw, badge)): Path<(String, String)>,
) -> Result<axum::Json<BadgeUpdateBody>> {
    require_admin(&actor, error::INSUFFICIENT_PERMISSIONS)?;
    let user = user_id(&raw)?;
    if !map::is_plexichat_badge(&badge) {
        return Err(fixed_400(error::INVALID_BADGE));
    }
    let badges = state.core.add_badge(&actor, user, &badge).await?;
    Ok(axum::Json(BadgeUpdateBody { success: true, badges }))
}

/// Taking a badge the user does not have changes nothing and answers the user's badges.
async fn badge_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((raw, badge)): Path<(String, String)>,
) -> Result<axum::Json<BadgeUpdateBody>> {
    require_admin(&actor, error::INSUFFICIENT_PERMISSIONS)?;
    let user = user_id(&raw)?;
    let badges = match state.core.remove_badge(&actor, user, &badge).await {
        Ok(badges) => badges,
        Err(Error::NotFound("badge")) => state.core.badges_of(user).await?,
        // A name no badge can have: the user (who must exist) does not have it.
        Err(Error::Invalid { field: "badge", .. }) => {
            state.core.user_tier(&actor, user).await?;
            state.core.badges_of(user).await?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(axum::Json(BadgeUpdateBody { success: true, badges }))
}
