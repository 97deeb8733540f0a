//! `/api/v1/users`: sign-up and creation, the caller, the listing, and one user's routes.

use super::caller::{Caller, Result, forbidden_as, require_superuser, user_id};
use super::dto::*;
use super::error::{self, LangflowError};
use super::login::sealed_store_key;
use super::map;
use crate::dialect::fastapi::{self, FieldError};
use crate::extract::{Json, Meta};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use roster_core::service::{
    AccountChanges, CANNOT_DEACTIVATE_SELF, ListUsers, NewUser, Patch, PreferencesEdit, Registration, SignupPolicy,
    UserListing,
};
use roster_core::store::UserSort;
use roster_core::{Error, Role, User, UserId};
use serde_json::json;

async fn user_read(state: &AppState, user: &User) -> Result<UserRead> {
    let mut read = map::user_read(user);
    read.store_api_key = sealed_store_key(state, user.id).await?;
    Ok(read)
}

/// `UserRead` of each user, their store API keys read in one query.
async fn users_read(state: &AppState, users: &[User]) -> Result<Vec<UserRead>> {
    let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
    let keys: std::collections::HashMap<UserId, String> = state
        .core
        .sealed_langflow_store_api_keys(&ids)
        .await?
        .into_iter()
        .collect();
    Ok(users
        .iter()
        .map(|u| {
            let mut read = map::user_read(u);
            read.store_api_key = keys.get(&u.id).cloned();
            read
        })
        .collect())
}

fn new_user_role(state: &AppState) -> Role {
    if state.config.langflow_new_user_is_active {
        Role::User
    } else {
        Role::Pending
    }
}

/// Public sign-up, or creation by a superuser; the account is inactive until a superuser
/// activates it unless `langflow_new_user_is_active`.
pub(super) async fn users_create_post(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Meta(meta): Meta,
    Json(body): Json<UserCreate>,
) -> Result<Response> {
    let role = new_user_role(&state);
    let user = match caller {
        Some(caller) if caller.actor.require_admin().is_ok() => {
            let user = state
                .core
                .create_user(
                    &caller.actor,
                    NewUser {
                        username: Some(body.username),
                        password: Some(body.password),
                        role: Some(role),
                        ..NewUser::default()
                    },
                )
                .await?;
            match &body.optins {
                Some(optins) => {
                    let edit = map::set_optins(optins);
                    state
                        .core
                        .update_account_editing(&caller.actor, user.id, AccountChanges::default(), Some(&edit))
                        .await?
                }
                None => user,
            }
        }
        _ => {
            let registration = Registration {
                username: Some(body.username),
                password: body.password,
                // Langflow keeps the sign-up's optins on the user.
                preferences: body.optins.map(|optins| json!({ map::OPTINS: optins })),
                ..Registration::default()
            };
            state
                .core
                .register_with_role(
                    registration,
                    SignupPolicy {
                        role,
                        access_ttl: None,
                        identify_pending: false,
                        only_first_account: false,
                        default_group: None,
                    },
                    &meta,
                )
                .await?
                .user
        }
    };
    Ok((StatusCode::CREATED, axum::Json(user_read(&state, &user).await?)).into_response())
}

pub(super) async fn whoami_get(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<UserRead>> {
    Ok(axum::Json(user_read(&state, &caller.actor.user).await?))
}

/// Ordered by username. The query is read after the superuser check, as Langflow's route
/// dependency runs before FastAPI validates the parameters.
pub(super) async fn users_list_get(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<axum::Json<UsersResponse>> {
    require_superuser(&caller.actor)?;
    let fastapi::Query(query) = fastapi::read_query::<ListQuery>(uri.query())?;
    let request = ListUsers {
        search: query.search.clone(),
        sort: UserSort::Username,
        limit: Some(query.limit as u32),
        with_total: true,
        ..ListUsers::default()
    };
    let page = state
        .core
        .list_users_by_offset(&caller.actor, UserListing::Administered, request, query.skip as u64)
        .await?;
    Ok(axum::Json(UsersResponse {
        total_count: page.total,
        users: users_read(&state, &page.users).await?,
    }))
}

pub(super) async fn user_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<UserRead>> {
    let id = user_id(&id)?;
    let user = state
        .core
        .get_user(&caller.actor, id)
        .await
        .map_err(forbidden_as(error::USER_MANAGE_REQUIRED))?;
    Ok(axum::Json(user_read(&state, &user).await?))
}

pub(super) async fn user_patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UserUpdate>,
) -> Result<axum::Json<UserRead>> {
    let id = user_id(&id)?;
    let actor = &caller.actor;
    let is_superuser = actor.require_admin().is_ok();
    if !is_superuser && (actor.user.id != id || body.is_superuser.is_some()) {
        return Err(LangflowError::Detail(StatusCode::FORBIDDEN, error::PERMISSION_DENIED));
    }
    if !is_superuser && body.password.is_some() {
        return Err(LangflowError::Detail(StatusCode::BAD_REQUEST, error::NO_PASSWORD_HERE));
    }
    let mut changes = AccountChanges {
        superuser: body.is_superuser,
        active: body.is_active,
        password: body.password,
        ..AccountChanges::default()
    };
    if let Some(username) = body.username {
        changes.profile.username = Patch::Set(username);
    }
    // `profile_image`: a URL or absolute path is the avatar; a picture of Langflow's set is
    // kept as given in the preferences (and the avatar cleared, so it shows).
    let picture = match &body.profile_image {
        None => None,
        Some(raw) => Some(map::profile_image(raw.as_deref()).ok_or_else(|| {
            fastapi::invalid(vec![FieldError::value_error(
                "body",
                "profile_image",
                map::PROFILE_IMAGE_RULE,
                json!(raw),
            )])
        })?),
    };
    changes.profile.avatar = match &picture {
        None => Patch::Keep,
        Some(map::ProfileImage::Avatar(url)) => Patch::Set(url.clone()),
        Some(map::ProfileImage::Bundled(_) | map::ProfileImage::Clear) => Patch::Clear,
    };
    // The optins and the picture are set on the stored user when it is written: a
    // concurrent change to the other preferences is kept.
    let edit = (body.optins.is_some() || picture.is_some())
        .then(|| map::edit_preferences(body.optins.as_ref(), picture.as_ref()));
    let edit = edit.as_ref().map(|e| e as &PreferencesEdit<'_>);
    let user = state
        .core
        .update_account_editing(actor, id, changes, edit)
        .await
        .map_err(|e| match e {
            Error::Forbidden(CANNOT_DEACTIVATE_SELF) => {
                LangflowError::Detail(StatusCode::FORBIDDEN, error::CANNOT_DEACTIVATE_SELF)
            }
            // The core's avatar rule, under the client's field name.
            Error::Invalid {
                field: "avatar_url",
                reason,
            } => fastapi::invalid(vec![FieldError::value_error(
                "body",
                "profile_image",
                &reason,
                json!(body.profile_image),
            )]),
            e => forbidden_as(error::PERMISSION_DENIED)(e),
        })?;
    Ok(axum::Json(user_read(&state, &user).await?))
}

/// Self only; `current_password` checked when given (current Langflow sends it; classic
/// does not); the current password cannot be reused.
pub(super) async fn reset_password_patch(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    Path(id): Path<String>,
    Json(body): Json<PasswordReset>,
) -> Result<axum::Json<UserRead>> {
    let id = user_id(&id)?;
    if id != caller.actor.user.id {
        return Err(LangflowError::Detail(StatusCode::BAD_REQUEST, error::OTHERS_PASSWORD));
    }
    let user = state
        .core
        .set_own_password(&caller.actor, body.current_password.as_deref(), &body.password, &meta)
        .await
        .map_err(|e| match e {
            Error::Invalid {
                field: "current_password",
                ..
            } => LangflowError::Detail(StatusCode::BAD_REQUEST, error::WRONG_CURRENT_PASSWORD),
            Error::Invalid {
                field: "password",
                ref reason,
            } if reason.contains("differ") => LangflowError::Detail(StatusCode::BAD_REQUEST, error::SAME_PASSWORD),
            e => e.into(),
        })?;
    Ok(axum::Json(user_read(&state, &user).await?))
}

pub(super) async fn user_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<serde_json::Value>> {
    let id = user_id(&id)?;
    if id == caller.actor.user.id {
        return Err(LangflowError::Detail(
            StatusCode::BAD_REQUEST,
            error::CANNOT_DELETE_SELF,
        ));
    }
    state
        .core
        .delete_user(&caller.actor, id)
        .await
        .map_err(forbidden_as(error::PERMISSION_DENIED))?;
    Ok(axum::Json(json!({"detail": "User deleted"})))
}
