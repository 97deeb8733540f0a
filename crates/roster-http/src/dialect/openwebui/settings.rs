//! `/api/v1/users/user/...` (the caller's settings, status and info, kept in the user's
//! preferences), and the permission routes under `/api/v1/users`.

use super::admin::AdminConfig;
use super::caller::{Caller, Result, permissions_of, user_id};
use super::dto::*;
use super::error::{self, OpenWebUiError};
use super::map;
use crate::dialect::fastapi::Query;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::service::DEFAULT_TEMPLATE;
use roster_core::{Role, User};
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------
// The caller's settings, status and info

/// Writes the caller's preferences after `change`, made to the stored copy when it is
/// written (so a concurrent change to other keys is kept); returns the stored user.
async fn change_preferences(
    state: &AppState,
    caller: &Caller,
    change: impl Fn(&mut Map<String, Value>) + Send + Sync,
) -> Result<User> {
    Ok(state.core.update_own_preferences(&caller.actor, &change).await?)
}

/// The object at `key` of the preferences (a new one if absent or not an object).
fn object_at(preferences: &Map<String, Value>, key: &str) -> Map<String, Value> {
    match preferences.get(key) {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

fn preference(user: &User, key: &str) -> Value {
    user.preferences.get(key).cloned().unwrap_or(Value::Null)
}

/// The stored settings, with `ui` over the administrator's `DEFAULT_INTERFACE_SETTINGS`
/// unless `raw`.
pub(super) async fn settings_get(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<SettingsQuery>,
) -> Result<axum::Json<Value>> {
    let stored = preference(&caller.actor.user, map::SETTINGS);
    if query.raw.unwrap_or(false) {
        return Ok(axum::Json(stored));
    }
    let config = AdminConfig::load(&state).await?;
    Ok(axum::Json(map::settings_with_defaults(
        stored,
        &config.default_interface_settings,
    )))
}

pub(super) async fn settings_update_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Map<String, Value>>,
) -> Result<axum::Json<Value>> {
    let mut update = body;
    if caller.actor.user.role != Role::Admin {
        let permissions = permissions_of(&state, caller.actor.user.id).await?;
        map::drop_forbidden_settings(&mut update, permissions.value());
    }
    let user = change_preferences(&state, &caller, |p| {
        let merged = map::merge_settings(p.get(map::SETTINGS).cloned(), &update);
        p.insert(map::SETTINGS.into(), merged);
    })
    .await?;
    Ok(axum::Json(preference(&user, map::SETTINGS)))
}

/// The status routes answer 403 `ACTION_PROHIBITED` while `ENABLE_USER_STATUS` is off.
async fn ensure_status_enabled(state: &AppState) -> Result<()> {
    if AdminConfig::load(state).await?.enable_user_status {
        Ok(())
    } else {
        Err(OpenWebUiError::Detail(StatusCode::FORBIDDEN, error::ACTION_PROHIBITED))
    }
}

pub(super) async fn status_get(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<UserModel>> {
    ensure_status_enabled(&state).await?;
    Ok(axum::Json(map::user_model(&caller.actor.user)))
}

pub(super) async fn status_update_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<StatusForm>,
) -> Result<axum::Json<UserModel>> {
    ensure_status_enabled(&state).await?;
    let user = change_preferences(&state, &caller, |p| {
        let mut status = object_at(p, map::STATUS);
        if let Some(v) = &body.status_emoji {
            status.insert("emoji".into(), json!(v));
        }
        if let Some(v) = &body.status_message {
            status.insert("message".into(), json!(v));
        }
        if let Some(v) = &body.status_expires_at {
            status.insert("expires_at".into(), json!(v));
        }
        p.insert(map::STATUS.into(), Value::Object(status));
    })
    .await?;
    Ok(axum::Json(map::user_model(&user)))
}

pub(super) async fn info_get(caller: Caller) -> Result<axum::Json<Value>> {
    Ok(axum::Json(preference(&caller.actor.user, map::INFO)))
}

pub(super) async fn info_update_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Map<String, Value>>,
) -> Result<axum::Json<Value>> {
    let user = change_preferences(&state, &caller, |p| {
        let mut info = object_at(p, map::INFO);
        info.extend(body.clone());
        p.insert(map::INFO.into(), Value::Object(info));
    })
    .await?;
    Ok(axum::Json(preference(&user, map::INFO)))
}

// ---------------------------------------------------------------------------------------
// Groups and permissions of users

fn groups_body(groups: Vec<roster_core::store::Group>, include_inherited: bool) -> Vec<GroupResponse> {
    groups
        .into_iter()
        .map(|g| {
            let mut body = map::group_response(g, None);
            if include_inherited {
                body.membership_type = Some("direct");
            }
            body
        })
        .collect()
}

pub(super) async fn groups_get(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<GroupsQuery>,
) -> Result<axum::Json<Vec<GroupResponse>>> {
    let groups = state.core.groups_of_user(&caller.actor, caller.actor.user.id).await?;
    Ok(axum::Json(groups_body(
        groups,
        query.include_inherited.unwrap_or(false),
    )))
}

pub(super) async fn id_groups_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<GroupsQuery>,
) -> Result<axum::Json<Vec<GroupResponse>>> {
    caller.actor.require_admin()?;
    let id = user_id(&id)?;
    let groups = state.core.groups_of_user(&caller.actor, id).await?;
    Ok(axum::Json(groups_body(
        groups,
        query.include_inherited.unwrap_or(false),
    )))
}

pub(super) async fn permissions_get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Box<serde_json::value::RawValue>>> {
    Ok(axum::Json(
        permissions_of(&state, caller.actor.user.id).await?.json().to_owned(),
    ))
}

pub(super) async fn default_permissions_get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Value>> {
    let template = state
        .core
        .permission_template(&caller.actor, DEFAULT_TEMPLATE, &map::default_permissions())
        .await?;
    Ok(axum::Json(template))
}

fn invalid_field(message: &'static str, field: Option<String>) -> ApiError {
    ApiError::request(
        StatusCode::UNPROCESSABLE_ENTITY,
        roster_core::ErrorCode::InvalidField,
        message,
        field,
    )
}

pub(super) async fn default_permissions_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Value>,
) -> Result<axum::Json<Value>> {
    caller.actor.require_admin()?;
    let defaults = map::default_permissions();
    let Value::Object(mut sections) = body else {
        return Err(invalid_field("Input should be a valid dictionary", None).into());
    };
    for section in map::PERMISSION_SECTIONS {
        match sections.get_mut(section) {
            Some(value @ Value::Object(_)) => roster_core::service::fill_missing(value, &defaults[section]),
            Some(_) => {
                return Err(invalid_field(
                    "Input should be a valid dictionary or instance of the section model",
                    Some(section.to_string()),
                )
                .into());
            }
            None => return Err(invalid_field("Field required", Some(section.to_string())).into()),
        }
    }
    sections.retain(|k, _| map::PERMISSION_SECTIONS.contains(&k.as_str()));
    let stored = state
        .core
        .set_permission_template(&caller.actor, DEFAULT_TEMPLATE, Value::Object(sections))
        .await?;
    Ok(axum::Json(stored))
}

pub(super) async fn default_permissions_defaults_get(caller: Caller) -> Result<axum::Json<Value>> {
    caller.actor.require_admin()?;
    Ok(axum::Json(map::default_permissions()))
}
