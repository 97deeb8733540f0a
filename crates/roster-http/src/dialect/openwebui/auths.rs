//! `/api/v1/auths`: sign-in, sign-up, sign-out, the session, an administrator's new user, the
//! caller's password, profile and time zone, and the caller's API key.

use super::admin::AdminConfig;
use super::caller::{
    Caller, Identity, Result, email, permissions_of, profile_image, with_token_cookie, without_token_cookie,
};
use super::dto::*;
use super::error::{self, OpenWebUiError};
use super::map;
use crate::extract::{Json, Meta};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::id::id_to_uuid;
use roster_core::service::{
    API_KEY_PREFIX, API_KEYS_NOT_PERMITTED, AdminUserChanges, NewApiKey, NewUser, Patch, ProfileChanges, Registration,
    SignupPolicy, Surface,
};
use roster_core::{Actor, Error, Role};
use serde_json::{Map, Value, json};

/// The name of the Roster API key that is this dialect's one key per user.
const API_KEY_NAME: &str = "openwebui";

pub(super) async fn signin_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<SigninForm>,
) -> Result<Response> {
    let ttl = AdminConfig::load(&state).await?.token_ttl();
    let outcome = state
        .core
        .login_with_access_ttl(&body.email, &body.password, ttl, true, &meta)
        .await?;
    let tokens = outcome.tokens.ok_or(Error::AccountPending)?;
    let permissions = permissions_of(&state, outcome.user.id).await?;
    let expires_at = state.core.clock.now().unix_timestamp() + tokens.expires_in;
    let body = map::session_user(&outcome.user, &tokens.access_token, Some(expires_at), &permissions);
    Ok(with_token_cookie(
        axum::Json(body).into_response(),
        &tokens.access_token,
        Some(tokens.expires_in),
    ))
}

pub(super) async fn signup_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<SignupForm>,
) -> Result<Response> {
    // The image is checked with the form (422), before anything else, as in Open WebUI; no
    // image (or null) is its placeholder, `/user.png`.
    let image = profile_image(body.profile_image_url.as_deref().unwrap_or("/user.png"))?;
    let config = AdminConfig::load(&state).await?;
    // Closed sign-up (403) is decided before the email is checked (400), as in Open WebUI.
    let input = Registration {
        email: Some(roster_core::user::normalise_email(&body.email)),
        username: None,
        name: Some(body.name),
        password: body.password,
        preferences: image.initial_preferences(),
    };
    let only_first_account = !config.signup_open();
    let outcome = state
        .core
        .register_with_role(
            input,
            SignupPolicy {
                // While only the first account may sign up (it becomes the administrator), a
                // racing second one must not get the administrator role from the setting.
                role: if only_first_account {
                    state.config.openwebui_default_role
                } else {
                    config.default_role()
                },
                access_ttl: Some(config.token_ttl()),
                identify_pending: true,
                only_first_account,
                default_group: config.default_group(),
            },
            &meta,
        )
        .await?;
    let mut user = outcome.user;
    if let (Patch::Set(_), Some(tokens)) = (&image.avatar, outcome.tokens.as_ref()) {
        // An http(s) image goes in the core's avatar, where every dialect shows it.
        let actor = state.core.authenticate_identity(&tokens.access_token).await?;
        let changes = ProfileChanges {
            avatar: image.avatar.clone(),
            ..ProfileChanges::default()
        };
        user = state.core.update_profile(&actor, changes).await?;
    }
    let permissions = permissions_of(&state, user.id).await?;
    let now = state.core.clock.now().unix_timestamp();
    let (token, expires_in) = match outcome.tokens {
        Some(t) => (t.access_token, Some(t.expires_in)),
        None => (String::new(), None),
    };
    let body = map::session_user(&user, &token, expires_in.map(|e| now + e), &permissions);
    Ok(with_token_cookie(axum::Json(body).into_response(), &token, expires_in))
}

/// Ends the caller's session (if any) and clears the `token` cookie → `{"status": true}`.
pub(super) async fn signout_get(State(state): State<AppState>, caller: Option<Identity>) -> Result<Response> {
    if let Some(caller) = caller {
        state.core.logout(&caller.actor).await?;
    }
    Ok(without_token_cookie(
        axum::Json(json!({"status": true})).into_response(),
    ))
}

pub(super) async fn add_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<AddUserForm>,
) -> Result<axum::Json<AddUserResponse>> {
    caller.actor.require_admin()?;
    let image = profile_image(body.profile_image_url.as_deref().unwrap_or("/user.png"))?;
    let email = email(&body.email)?;
    let role = match body.role.as_deref() {
        Some(r) => Role::parse(r)?,
        None => Role::Pending,
    };
    let mut user = state
        .core
        .create_user(
            &caller.actor,
            NewUser {
                email: Some(email),
                name: Some(body.name),
                password: Some(body.password),
                role: Some(role),
                ..NewUser::default()
            },
        )
        .await?;
    let changes = AdminUserChanges {
        profile: super::users::image_changes(image, &user),
        ..AdminUserChanges::default()
    };
    user = state.core.admin_update_user(&caller.actor, user.id, changes).await?;
    if let Some(group) = AdminConfig::load(&state).await?.default_group() {
        // Open WebUI logs a default group it cannot join and keeps the account.
        if let Err(e) = state.core.add_group_members(&caller.actor, group, &[user.id]).await {
            tracing::warn!(user = %user.id, %group, error = %e, "could not add the new account to the default group");
        }
    }
    Ok(axum::Json(AddUserResponse {
        token: String::new(),
        token_type: "Bearer",
        id: id_to_uuid(user.id.0),
        email: user.email.clone().unwrap_or_default(),
        name: map::display_name(&user),
        role: user.role.as_str().to_string(),
        // Open WebUI answers its profile-image route here, whatever it stored.
        profile_image_url: format!("/api/v1/users/{}/profile/image", id_to_uuid(user.id.0)),
    }))
}

pub(super) async fn session_get(State(state): State<AppState>, caller: Identity) -> Result<Response> {
    if caller.token.starts_with(roster_core::service::API_KEY_PREFIX) {
        return Err(OpenWebUiError::Detail(
            StatusCode::FORBIDDEN,
            "A human session is required.",
        ));
    }
    let permissions = permissions_of(&state, caller.actor.user.id).await?;
    let expires_at = state.core.access_token_expiry(&caller.token).await;
    let body = map::session_user(&caller.actor.user, &caller.token, expires_at, &permissions);
    let max_age = expires_at.map(|e| e - state.core.clock.now().unix_timestamp());
    Ok(with_token_cookie(
        axum::Json(body).into_response(),
        &caller.token,
        max_age,
    ))
}

pub(super) async fn update_password_post(
    State(state): State<AppState>,
    caller: Identity,
    Meta(meta): Meta,
    Json(body): Json<UpdatePasswordForm>,
) -> Result<axum::Json<bool>> {
    state
        .core
        .change_password(&caller.actor, &body.password, &body.new_password, &meta)
        .await?;
    Ok(axum::Json(true))
}

/// The image, gender and date of birth go into the stored user's preferences when it is
/// written (see [`roster_core::Core::update_profile_editing`]).
pub(super) async fn update_profile_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<UpdateProfileForm>,
) -> Result<axum::Json<ProfileResponse>> {
    let image = profile_image(&body.profile_image_url)?;
    let mut changes = ProfileChanges {
        name: Patch::Set(body.name),
        avatar: image.avatar.clone(),
        ..ProfileChanges::default()
    };
    if let Some(bio) = body.bio {
        changes.bio = if bio.trim().is_empty() {
            Patch::Clear
        } else {
            Patch::Set(bio)
        };
    }
    let personal = [(map::GENDER, body.gender), (map::DATE_OF_BIRTH, body.date_of_birth)];
    let edit = |p: &mut Map<String, Value>| {
        image.apply(p);
        for (key, value) in &personal {
            if let Some(v) = value {
                p.insert((*key).into(), json!(v));
            }
        }
    };
    let user = state
        .core
        .update_profile_editing(&caller.actor, changes, Some(&edit))
        .await?;
    Ok(axum::Json(ProfileResponse {
        id: id_to_uuid(user.id.0),
        name: map::display_name(&user),
        role: user.role.as_str().to_string(),
        email: user.email.clone().unwrap_or_default(),
        profile_image_url: map::profile_image_url(&user),
    }))
}

pub(super) async fn update_timezone_post(
    State(state): State<AppState>,
    caller: Identity,
    Json(body): Json<UpdateTimezoneForm>,
) -> Result<axum::Json<Value>> {
    let changes = ProfileChanges {
        timezone: Patch::Set(body.timezone),
        ..ProfileChanges::default()
    };
    state.core.update_profile(&caller.actor, changes).await?;
    Ok(axum::Json(json!({"status": true})))
}

/// API keys need `ENABLE_API_KEYS` on, and the admin role or the `features.api_keys`
/// permission (the core's rule, as Open WebUI words its refusal on these routes).
async fn ensure_api_keys_allowed(state: &AppState, actor: &Actor) -> Result<()> {
    if !AdminConfig::load(state).await?.enable_api_keys {
        return Err(OpenWebUiError::Detail(
            StatusCode::FORBIDDEN,
            error::API_KEY_CREATION_NOT_ALLOWED,
        ));
    }
    state
        .core
        .ensure_api_keys_permitted(&actor.user, Surface::OpenWebUi)
        .await
        .map_err(creation_refused)
}

fn creation_refused(e: Error) -> OpenWebUiError {
    match e {
        Error::Forbidden(API_KEYS_NOT_PERMITTED) => {
            OpenWebUiError::Detail(StatusCode::FORBIDDEN, error::API_KEY_CREATION_NOT_ALLOWED)
        }
        e => e.into(),
    }
}

async fn revoke_dialect_keys(state: &AppState, actor: &Actor) -> Result<bool> {
    let mut revoked = false;
    for key in state.core.list_my_api_keys(actor).await? {
        if key.name == API_KEY_NAME {
            state.core.revoke_my_api_key(actor, key.id).await?;
            revoked = true;
        }
    }
    Ok(revoked)
}

pub(super) async fn api_key_post(
    State(state): State<AppState>,
    caller: Identity,
) -> Result<axum::Json<ApiKeyResponse>> {
    ensure_api_keys_allowed(&state, &caller.actor).await?;
    revoke_dialect_keys(&state, &caller.actor).await?;
    let created = state
        .core
        .create_api_key_on(
            &caller.actor,
            NewApiKey {
                name: API_KEY_NAME.into(),
                expires_at: None,
                scopes: Vec::new(),
            },
            API_KEY_PREFIX,
            Surface::OpenWebUi,
        )
        .await
        .map_err(creation_refused)?;
    Ok(axum::Json(ApiKeyResponse {
        api_key: created.secret,
    }))
}

/// Roster keeps only a digest of each key, so the key itself cannot be shown again: the
/// answer carries its listing prefix.
pub(super) async fn api_key_get(State(state): State<AppState>, caller: Identity) -> Result<axum::Json<ApiKeyResponse>> {
    ensure_api_keys_allowed(&state, &caller.actor).await?;
    let key = state
        .core
        .list_my_api_keys(&caller.actor)
        .await?
        .into_iter()
        .find(|k| k.name == API_KEY_NAME)
        .ok_or(OpenWebUiError::Detail(StatusCode::NOT_FOUND, error::API_KEY_NOT_FOUND))?;
    Ok(axum::Json(ApiKeyResponse { api_key: key.prefix }))
}

pub(super) async fn api_key_delete(State(state): State<AppState>, caller: Identity) -> Result<axum::Json<bool>> {
    ensure_api_keys_allowed(&state, &caller.actor).await?;
    Ok(axum::Json(revoke_dialect_keys(&state, &caller.actor).await?))
}
