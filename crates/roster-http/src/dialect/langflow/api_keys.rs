//! `/api/v1/api_key`: the caller's API keys.

use super::caller::{Caller, Result};
use super::dto::*;
use super::error::{self, LangflowError};
use super::map;
use crate::dialect::fastapi;
use crate::extract::Json;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::id::{id_from_uuid, id_to_uuid};
use roster_core::service::NewApiKey;
use roster_core::{ApiKeyId, Error};
use serde_json::json;

/// The prefix of the API keys this dialect creates, as Langflow's.
const KEY_PREFIX: &str = "sk-";
/// The name of a key created without one.
const DEFAULT_KEY_NAME: &str = "Langflow API key";

pub(super) async fn api_keys_get(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<ApiKeysResponse>> {
    let keys = state.core.list_my_api_keys(&caller.actor).await?;
    Ok(axum::Json(ApiKeysResponse {
        total_count: keys.len() as i64,
        user_id: id_to_uuid(caller.actor.user.id.0),
        api_keys: keys.iter().map(|k| map::api_key_read(k, map::masked(k))).collect(),
    }))
}

pub(super) async fn api_keys_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ApiKeyCreate>,
) -> Result<axum::Json<ApiKeyRead>> {
    let name = body
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_KEY_NAME.to_string());
    let created = state
        .core
        .create_api_key_with_prefix(
            &caller.actor,
            NewApiKey {
                name,
                expires_at: None,
                scopes: Vec::new(),
            },
            KEY_PREFIX,
        )
        .await?;
    Ok(axum::Json(map::api_key_read(&created.key, created.secret)))
}

pub(super) async fn api_key_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<serde_json::Value>> {
    let not_found = || LangflowError::Detail(StatusCode::BAD_REQUEST, error::API_KEY_NOT_FOUND);
    let uuid = fastapi::path_uuid("api_key_id", &id)?;
    let id = ApiKeyId(id_from_uuid(&uuid.hyphenated().to_string()).map_err(|_| not_found())?);
    state
        .core
        .revoke_my_api_key(&caller.actor, id)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => not_found(),
            e => e.into(),
        })?;
    Ok(axum::Json(json!({"detail": "API Key deleted"})))
}
