//! `/api/v1/users`: the listings and one user's routes.

use super::caller::{Caller, Result, email, profile_image, user_id};
use super::dto::*;
use super::error::{self, OpenWebUiError};
use super::map::{self, ProfileImage};
use crate::dialect::fastapi::Query;
use crate::extract::Json;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::id::{id_from_uuid, id_to_uuid};
use roster_core::service::{
    AdminUserChanges, ListUsers, OffsetPage, Patch, ProfileChanges, UserListing, own_avatar_file,
};
use roster_core::store::UserSort;
use roster_core::{Error, Role, User, UserId};
use serde_json::{Value, json};

/// The profile changes an administrator's new image makes to `user` (kept in the avatar or
/// the preferences, as [`ProfileImage`] says).
pub(super) fn image_changes(image: ProfileImage, user: &User) -> ProfileChanges {
    let mut preferences = user.preferences.clone();
    if let Some(p) = preferences.as_object_mut() {
        image.apply(p);
    }
    ProfileChanges {
        avatar: image.avatar,
        preferences: (preferences != user.preferences).then_some(preferences),
        ..ProfileChanges::default()
    }
}

// ---------------------------------------------------------------------------------------
// Listings

/// Open WebUI's ordering: `order_by` (name, email, created_at, updated_at, last_active_at,
/// role; other keys fall back to created_at), `direction` `asc` or anything else for descending.
fn ordering(query: &ListQuery) -> (UserSort, bool) {
    let sort = match query.order_by.as_deref() {
        Some("name") => UserSort::Name,
        Some("email") => UserSort::Email,
        Some("updated_at") => UserSort::UpdatedAt,
        Some("last_active_at") => UserSort::LastActiveAt,
        Some("role") => UserSort::Role,
        _ => UserSort::CreatedAt,
    };
    let descending = query.direction.as_deref() != Some("asc");
    (sort, descending)
}

/// One page of 30 (`page` from 1), and the total of matches.
async fn users_page(state: &AppState, caller: &Caller, query: &ListQuery, listing: UserListing) -> Result<OffsetPage> {
    let page = query.page.unwrap_or(1).max(1);
    let (sort, descending) = ordering(query);
    let request = ListUsers {
        search: query.query.clone(),
        sort,
        descending,
        limit: Some(map::PAGE_SIZE as u32),
        with_total: true,
        ..ListUsers::default()
    };
    let offset = (page - 1).saturating_mul(map::PAGE_SIZE) as u64;
    Ok(state
        .core
        .list_users_by_offset(&caller.actor, listing, request, offset)
        .await?)
}

pub(super) async fn list_get(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<UserList<UserWithGroupIds>>> {
    caller.actor.require_admin()?;
    let page = users_page(&state, &caller, &query, UserListing::Administered).await?;
    let ids: Vec<_> = page.users.iter().map(|user| user.id).collect();
    let groups = state.core.groups_of_users(&caller.actor, &ids).await?;
    let out = page
        .users
        .iter()
        .zip(groups)
        .map(|(user, groups)| UserWithGroupIds {
            user: map::user_model(user),
            group_ids: groups.iter().map(|g| id_to_uuid(g.id.0)).collect(),
        })
        .collect();
    Ok(axum::Json(UserList {
        users: out,
        total: page.total,
    }))
}

pub(super) async fn search_get(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<UserList<UserInfoResponse>>> {
    let page = users_page(&state, &caller, &query, UserListing::Directory).await?;
    let users = page
        .users
        .iter()
        .map(|u| map::user_info(u, Vec::new(), state.core.is_recently_active(u)))
        .collect();
    Ok(axum::Json(UserList {
        users,
        total: page.total,
    }))
}

pub(super) async fn all_get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<UserList<UserInfoResponse>>> {
    caller.actor.require_admin()?;
    let request = ListUsers {
        sort: UserSort::CreatedAt,
        descending: true,
        ..ListUsers::default()
    };
    let all = state
        .core
        .list_users_by_offset(&caller.actor, UserListing::Administered, request, 0)
        .await?;
    let users = all.users.iter().map(|u| map::user_info(u, Vec::new(), false)).collect();
    Ok(axum::Json(UserList {
        users,
        total: all.total,
    }))
}

// ---------------------------------------------------------------------------------------
// /api/v1/users/{id}

pub(super) async fn id_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<UserWithGroups>> {
    caller.actor.require_admin()?;
    let user = state.core.get_user(&caller.actor, user_id(&id)?).await?;
    let groups = state.core.groups_of_user(&caller.actor, user.id).await?;
    Ok(axum::Json(UserWithGroups {
        is_active: state.core.is_recently_active(&user),
        groups: map::group_refs(&groups),
        user: map::user_model(&user),
    }))
}

pub(super) async fn id_info_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<UserInfoResponse>> {
    let user = state.core.read_user_entry(&caller.actor, user_id(&id)?).await?;
    let groups = state.core.user_entry_groups(&caller.actor, user.id).await?;
    let active = state.core.is_recently_active(&user);
    Ok(axum::Json(map::user_info(&user, map::group_refs(&groups), active)))
}

pub(super) async fn id_active_get(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>> {
    let active = match id_from_uuid(&id) {
        Ok(id) => state.core.is_user_active(UserId(id)).await?,
        Err(_) => false,
    };
    Ok(axum::Json(json!({ "active": active })))
}

pub(super) async fn id_profile_image_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = state.core.read_user_entry(&caller.actor, user_id(&id)?).await?;
    if let Some(file) = user.avatar.as_deref().and_then(own_avatar_file)
        && let Ok(bytes) = state.core.read_avatar(file).await
    {
        return Ok(crate::dialect::avatar_response(file, bytes));
    }
    let url = map::profile_image_url(&user);
    if (url.starts_with("http://") || url.starts_with("https://"))
        && let Ok(location) = HeaderValue::from_str(&url)
    {
        return Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response());
    }
    if let Some((mime, bytes)) = map::decode_data_url(&url)
        && map::ALLOWED_IMAGE_TYPES.contains(&mime.as_str())
        && let Ok(content_type) = HeaderValue::from_str(&mime)
    {
        let mut response = bytes.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, content_type);
        headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
        headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        return Ok(response);
    }
    let mut response = map::DEFAULT_PROFILE_IMAGE.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    Ok(response)
}

/// Roster holds no OAuth sessions, so the list is always empty, which Open WebUI answers
/// with 400 `USER_NOT_FOUND`.
pub(super) async fn id_oauth_sessions_get(caller: Caller, Path(id): Path<String>) -> Result<axum::Json<Vec<Value>>> {
    caller.actor.require_admin()?;
    user_id(&id)?;
    Err(Error::NotFound("oauth sessions").into())
}

pub(super) async fn id_update_post(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UserUpdateForm>,
) -> Result<axum::Json<UserModel>> {
    caller.actor.require_admin()?;
    let id = user_id(&id)?;
    let role = body.role.as_deref().map(Role::parse).transpose()?;
    let email = body.email.as_deref().map(email).transpose()?;
    let image = body.profile_image_url.as_deref().map(profile_image).transpose()?;
    let target = state.core.get_user(&caller.actor, id).await?;
    let mut profile = match image {
        Some(image) => image_changes(image, &target),
        None => ProfileChanges::default(),
    };
    if let Some(name) = body.name {
        profile.name = Patch::Set(name);
    }
    if let Some(email) = email {
        profile.email = Patch::Set(email);
    }
    let changes = AdminUserChanges {
        profile,
        role,
        password: body.password.filter(|p| !p.is_empty()),
        ..AdminUserChanges::default()
    };
    let user = state.core.admin_update_user(&caller.actor, id, changes).await?;
    Ok(axum::Json(map::user_model(&user)))
}

pub(super) async fn id_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<bool>> {
    caller.actor.require_admin()?;
    let id = user_id(&id)?;
    state.core.delete_user(&caller.actor, id).await?;
    Ok(axum::Json(true))
}

pub(super) async fn id_sessions_revoke_post(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<bool>> {
    caller.actor.require_admin()?;
    let user_not_found = OpenWebUiError::Detail(StatusCode::NOT_FOUND, error::SESSIONS_USER_NOT_FOUND);
    let Ok(id) = id_from_uuid(&id).map(UserId) else {
        return Err(user_not_found);
    };
    match state.core.revoke_user_sessions(&caller.actor, id).await {
        Ok(_) => Ok(axum::Json(true)),
        Err(Error::NotFound(_)) => Err(user_not_found),
        Err(e) => Err(e.into()),
    }
}
