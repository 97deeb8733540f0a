//! `/api/v1/groups`: each group with its members (for administrators), written with its
//! members in one transaction.

use super::caller::{Caller, Result, group_id, user_ids};
use super::dto::*;
use super::map;
use crate::extract::Json;
use crate::state::AppState;
use axum::extract::{Path, State};
use roster_core::service::{GroupChanges, GroupWithMembers, NewGroup};

fn group_body(group: GroupWithMembers) -> axum::Json<GroupResponse> {
    axum::Json(map::group_response(group.group, group.members))
}

pub(super) async fn list_get(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<GroupResponse>>> {
    let groups = state.core.list_groups_with_members(&caller.actor).await?;
    Ok(axum::Json(
        groups
            .into_iter()
            .map(|g| map::group_response(g.group, g.members))
            .collect(),
    ))
}

pub(super) async fn create_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<GroupForm>,
) -> Result<axum::Json<GroupResponse>> {
    caller.actor.require_admin()?;
    let members = user_ids(body.user_ids.as_deref().unwrap_or_default())?;
    let input = NewGroup {
        name: body.name,
        description: Some(body.description),
        permissions: body.permissions,
    };
    let group = state
        .core
        .create_group_with_members(&caller.actor, input, &members)
        .await?;
    Ok(group_body(group))
}

pub(super) async fn id_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<GroupResponse>> {
    let group = state.core.get_group_with_members(&caller.actor, group_id(&id)?).await?;
    Ok(group_body(group))
}

pub(super) async fn id_update_post(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<GroupForm>,
) -> Result<axum::Json<GroupResponse>> {
    let id = group_id(&id)?;
    caller.actor.require_admin()?;
    let members = body.user_ids.as_deref().map(user_ids).transpose()?;
    let changes = GroupChanges {
        name: Some(body.name),
        description: Some(body.description),
        permissions: body.permissions,
    };
    let group = state
        .core
        .update_group_with_members(&caller.actor, id, changes, members.as_deref())
        .await?;
    Ok(group_body(group))
}

pub(super) async fn id_users_add_post(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UserIdsForm>,
) -> Result<axum::Json<GroupResponse>> {
    change_members(&state, &caller, &id, &body, true).await
}

pub(super) async fn id_users_remove_post(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UserIdsForm>,
) -> Result<axum::Json<GroupResponse>> {
    change_members(&state, &caller, &id, &body, false).await
}

/// Adds (or removes) members → the group with its members afterwards.
async fn change_members(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: &UserIdsForm,
    add: bool,
) -> Result<axum::Json<GroupResponse>> {
    let id = group_id(id)?;
    let users = user_ids(&body.user_ids)?;
    let members = if add {
        state.core.add_group_members(&caller.actor, id, &users).await?
    } else {
        state.core.remove_group_members(&caller.actor, id, &users).await?
    };
    let group = state.core.get_group(&caller.actor, id).await?;
    Ok(axum::Json(map::group_response(group, Some(members))))
}

pub(super) async fn id_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<bool>> {
    state.core.delete_group(&caller.actor, group_id(&id)?).await?;
    Ok(axum::Json(true))
}
