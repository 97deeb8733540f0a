//! Open WebUI's routes (`routers/auths.py`, `routers/users.py`, `routers/groups.py`). Each
//! handler parses, calls core services, and renders Open WebUI's shapes.

use super::dto::*;
use super::error::{self, OpenWebUiError};
use super::map;
use crate::error::ApiError;
use crate::extract::{Json, Meta, Query, credential_of};
use crate::state::AppState;
use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use roster_core::id::{id_from_uuid, id_to_uuid};
use roster_core::service::{
    API_KEY_PREFIX, API_KEYS_NOT_PERMITTED, AdminUserChanges, DEFAULT_TEMPLATE, GroupChanges, ListUsers, NewApiKey,
    NewGroup, NewUser, Patch, ProfileChanges, Registration, SignupPolicy, Surface, own_avatar_file,
};
use roster_core::store::UserSort;
use roster_core::{Actor, Credential, Error, GroupId, Role, User, UserId};
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, OpenWebUiError>;

/// The name of the Roster API key that is this dialect's one key per user.
const API_KEY_NAME: &str = "openwebui";

/// The Open WebUI router (paths as Open WebUI's own, to be mounted under the dialect prefix),
/// with every error rendered in Open WebUI's shape. `nested`: it has a prefix of its own, so
/// it answers unknown paths under it too (at the root, the application's fallback does).
pub fn router(nested: bool) -> Router<AppState> {
    let auths = Router::new()
        .route("/signin", post(auths_signin_post))
        .route("/signup", post(auths_signup_post))
        .route("/signout", get(auths_signout_get))
        .route("/add", post(auths_add_post))
        .route("/update/password", post(auths_update_password_post))
        .route("/update/profile", post(auths_update_profile_post))
        .route("/update/timezone", post(auths_update_timezone_post))
        .route(
            "/api_key",
            get(auths_api_key_get)
                .post(auths_api_key_post)
                .delete(auths_api_key_delete),
        );
    let users = Router::new()
        .route("/all", get(users_all_get))
        .route("/search", get(users_search_get))
        .route("/groups", get(users_groups_get))
        .route("/permissions", get(users_permissions_get))
        .route(
            "/default/permissions",
            get(users_default_permissions_get).post(users_default_permissions_post),
        )
        .route(
            "/default/permissions/defaults",
            get(users_default_permissions_defaults_get),
        )
        .route("/user/settings", get(users_settings_get))
        .route("/user/settings/update", post(users_settings_update_post))
        .route("/user/status", get(users_status_get))
        .route("/user/status/update", post(users_status_update_post))
        .route("/user/info", get(users_info_get))
        .route("/user/info/update", post(users_info_update_post))
        // Chat analytics and model data Roster does not hold: unknown routes, as the issue says.
        .route("/usage", get(not_found))
        .route("/user/variables", get(not_found))
        .route("/user/variables/update", post(not_found))
        .route("/{id}", get(users_id_get).delete(users_id_delete))
        .route("/{id}/info", get(users_id_info_get))
        .route("/{id}/active", get(users_id_active_get))
        .route("/{id}/profile/image", get(users_id_profile_image_get))
        .route("/{id}/oauth/sessions", get(users_id_oauth_sessions_get))
        .route("/{id}/groups", get(users_id_groups_get))
        .route("/{id}/update", post(users_id_update_post))
        .route("/{id}/sessions/revoke", post(users_id_sessions_revoke_post));
    let groups = Router::new()
        .route("/create", post(groups_create_post))
        .route("/id/{id}", get(groups_id_get))
        .route("/id/{id}/update", post(groups_id_update_post))
        .route("/id/{id}/users/add", post(groups_id_users_add_post))
        .route("/id/{id}/users/remove", post(groups_id_users_remove_post))
        .route("/id/{id}/delete", delete(groups_id_delete));
    // The collection routes answer with and without the trailing slash the frontend sends.
    let mut router = Router::new()
        .route("/api/v1/auths", get(auths_session_get))
        .route("/api/v1/auths/", get(auths_session_get))
        .route("/api/v1/users", get(users_list_get))
        .route("/api/v1/users/", get(users_list_get))
        .route("/api/v1/groups", get(groups_list_get))
        .route("/api/v1/groups/", get(groups_list_get))
        .nest("/api/v1/auths", auths)
        .nest("/api/v1/users", users)
        .nest("/api/v1/groups", groups);
    if nested {
        router = router
            .fallback(crate::error::not_found_fallback)
            .method_not_allowed_fallback(crate::error::method_not_allowed_fallback);
    }
    crate::error::render_errors_with(
        router.route_layer(axum::middleware::from_fn(crate::extract::reject_nul_in_uri)),
        error::render_error,
    )
}

async fn not_found() -> ApiError {
    ApiError::request(StatusCode::NOT_FOUND, "route_not_found", "no such route", None)
}

/// The signed-in caller (not a pending account), by `Authorization: Bearer`, `x-api-key`, or
/// the `token` cookie Open WebUI's frontend keeps.
struct Caller {
    actor: Actor,
}

fn cookie_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == "token" && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = OpenWebUiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let Some(token) = credential_of(parts).or_else(|| cookie_token(parts)) else {
            return Err(Error::Unauthenticated.into());
        };
        let actor = state.core.authenticate_bearer(&token).await?;
        ensure_key_usable(state, &actor).await?;
        Ok(Caller {
            actor: actor.through(Surface::OpenWebUi),
        })
    }
}

/// An API key works on these routes only for administrators and holders of
/// `features.api_keys`, wherever it was created (Open WebUI's `API_KEY_NOT_ALLOWED`).
async fn ensure_key_usable(state: &AppState, actor: &Actor) -> Result<()> {
    if matches!(actor.credential, Credential::ApiKey { .. }) {
        state
            .core
            .ensure_api_keys_permitted(&actor.user, Surface::OpenWebUi)
            .await?;
    }
    Ok(())
}

/// How long this dialect's sign-in tokens last.
fn token_ttl(state: &AppState) -> time::Duration {
    time::Duration::seconds(state.config.openwebui_token_ttl_seconds.max(1))
}

/// The caller of the few routes Open WebUI opens to pending accounts too (`get_current_user`:
/// the session user, sign-out, password, time zone, API key).
struct Identity {
    actor: Actor,
    token: String,
}

impl FromRequestParts<AppState> for Identity {
    type Rejection = OpenWebUiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let Some(token) = credential_of(parts).or_else(|| cookie_token(parts)) else {
            return Err(Error::Unauthenticated.into());
        };
        let actor = state.core.authenticate_identity(&token).await?;
        ensure_key_usable(state, &actor).await?;
        let actor = actor.through(Surface::OpenWebUi);
        Ok(Identity { actor, token })
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Identity {
    type Rejection = OpenWebUiError;

    /// No credential, or one that no longer works: `None`.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>> {
        let Some(token) = credential_of(parts).or_else(|| cookie_token(parts)) else {
            return Ok(None);
        };
        match state.core.authenticate_identity(&token).await {
            Ok(actor) => {
                ensure_key_usable(state, &actor).await?;
                let actor = actor.through(Surface::OpenWebUi);
                Ok(Some(Identity { actor, token }))
            }
            Err(Error::Unavailable) => Err(Error::Unavailable.into()),
            Err(_) => Ok(None),
        }
    }
}

fn user_id(raw: &str) -> Result<UserId> {
    Ok(UserId(id_from_uuid(raw)?))
}

fn group_id(raw: &str) -> Result<GroupId> {
    Ok(GroupId(id_from_uuid(raw)?))
}

fn user_ids(raw: &[String]) -> Result<Vec<UserId>> {
    raw.iter().map(|id| user_id(id)).collect()
}

async fn permissions_of(state: &AppState, user: UserId) -> Result<Value> {
    Ok(state
        .core
        .effective_permissions(user, &map::default_permissions())
        .await?)
}

/// `Set-Cookie: token=...` as Open WebUI sets it at sign-in.
fn with_token_cookie(mut response: Response, token: &str, max_age: Option<i64>) -> Response {
    if token.is_empty() {
        return response;
    }
    let mut cookie = format!("token={token}; HttpOnly; Path=/; SameSite=Lax");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Where a profile image goes: URLs and paths in the core's avatar; `data:` images in the
/// preferences; `/user.png` (Open WebUI's placeholder) and empty: none.
fn image_changes(url: Option<&str>, user: &User, changes: &mut ProfileChanges) {
    let Some(url) = url.map(str::trim) else { return };
    let mut preferences = changes.preferences.clone().unwrap_or_else(|| user.preferences.clone());
    if url.starts_with("data:") {
        changes.avatar = Patch::Clear;
        if let Some(p) = preferences.as_object_mut() {
            p.insert(map::PROFILE_IMAGE.into(), json!(url));
        }
    } else {
        changes.avatar = if url.is_empty() || url == "/user.png" {
            Patch::Clear
        } else {
            Patch::Set(url.to_string())
        };
        if let Some(p) = preferences.as_object_mut() {
            p.remove(map::PROFILE_IMAGE);
        }
    }
    if preferences != user.preferences {
        changes.preferences = Some(preferences);
    }
}

// ---------------------------------------------------------------------------------------
// /api/v1/auths

async fn auths_signin_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<SigninForm>,
) -> Result<Response> {
    let outcome = state
        .core
        .login_with_access_ttl(&body.email, &body.password, token_ttl(&state), true, &meta)
        .await?;
    let tokens = outcome.tokens.ok_or(Error::AccountPending)?;
    let permissions = permissions_of(&state, outcome.user.id).await?;
    let expires_at = state.core.clock.now().unix_timestamp() + tokens.expires_in;
    let body = map::session_user(
        &outcome.user,
        tokens.access_token.clone(),
        Some(expires_at),
        permissions,
    );
    Ok(with_token_cookie(
        axum::Json(body).into_response(),
        &tokens.access_token,
        Some(tokens.expires_in),
    ))
}

async fn auths_signup_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<SignupForm>,
) -> Result<Response> {
    // Closed sign-up (403) is decided before the email is checked (400), as in Open WebUI.
    let email = roster_core::user::normalise_email(&body.email);
    let input = Registration {
        email: Some(email),
        username: None,
        name: Some(body.name),
        password: body.password,
        preferences: None,
    };
    let outcome = state
        .core
        .register_with_role(
            input,
            SignupPolicy {
                role: state.config.openwebui_default_role,
                access_ttl: Some(token_ttl(&state)),
                identify_pending: true,
                only_first_account: !state.config.openwebui_enable_signup,
            },
            &meta,
        )
        .await?;
    let mut user = outcome.user;
    if let (Some(url), Some(tokens)) = (body.profile_image_url.as_deref(), outcome.tokens.as_ref()) {
        let actor = state.core.authenticate_identity(&tokens.access_token).await?;
        let mut changes = ProfileChanges::default();
        image_changes(Some(url), &user, &mut changes);
        if changes.preferences.is_some() || changes.avatar != Patch::Clear {
            user = state.core.update_profile(&actor, changes).await?;
        }
    }
    let permissions = permissions_of(&state, user.id).await?;
    let now = state.core.clock.now().unix_timestamp();
    let (token, expires_in) = match outcome.tokens {
        Some(t) => (t.access_token, Some(t.expires_in)),
        None => (String::new(), None),
    };
    let body = map::session_user(&user, token.clone(), expires_in.map(|e| now + e), permissions);
    Ok(with_token_cookie(axum::Json(body).into_response(), &token, expires_in))
}

/// Ends the caller's session (if any) and clears the `token` cookie → `{"status": true}`.
async fn auths_signout_get(State(state): State<AppState>, caller: Option<Identity>) -> Result<Response> {
    if let Some(caller) = caller {
        state.core.logout(&caller.actor).await?;
    }
    let mut response = axum::Json(json!({"status": true})).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("token=; HttpOnly; Path=/; SameSite=Lax; Max-Age=0"),
    );
    Ok(response)
}

async fn auths_add_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<AddUserForm>,
) -> Result<axum::Json<AddUserResponse>> {
    caller.actor.require_admin()?;
    let email = roster_core::user::normalise_email(&body.email);
    if !map::email_format_ok(&email) {
        return Err(OpenWebUiError::Detail(
            StatusCode::BAD_REQUEST,
            error::INVALID_EMAIL_FORMAT,
        ));
    }
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
    if body.profile_image_url.is_some() {
        let mut changes = ProfileChanges::default();
        image_changes(body.profile_image_url.as_deref(), &user, &mut changes);
        user = state
            .core
            .admin_update_user(
                &caller.actor,
                user.id,
                AdminUserChanges {
                    profile: changes,
                    ..AdminUserChanges::default()
                },
            )
            .await?;
    }
    Ok(axum::Json(AddUserResponse {
        token: String::new(),
        token_type: "Bearer",
        id: id_to_uuid(user.id.0),
        email: user.email.clone().unwrap_or_default(),
        name: map::display_name(&user),
        role: user.role.as_str().to_string(),
        profile_image_url: map::profile_image_url(&user),
    }))
}

async fn auths_session_get(State(state): State<AppState>, caller: Identity) -> Result<Response> {
    if caller.token.starts_with(roster_core::service::API_KEY_PREFIX) {
        return Err(OpenWebUiError::Detail(
            StatusCode::FORBIDDEN,
            "A human session is required.",
        ));
    }
    let permissions = permissions_of(&state, caller.actor.user.id).await?;
    let expires_at = state
        .core
        .keys()
        .verify(&caller.token, state.core.clock.now())
        .ok()
        .map(|c| c.exp);
    let body = map::session_user(&caller.actor.user, caller.token.clone(), expires_at, permissions);
    let max_age = expires_at.map(|e| e - state.core.clock.now().unix_timestamp());
    Ok(with_token_cookie(
        axum::Json(body).into_response(),
        &caller.token,
        max_age,
    ))
}

async fn auths_update_password_post(
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

async fn auths_update_profile_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<UpdateProfileForm>,
) -> Result<axum::Json<ProfileResponse>> {
    let user = &caller.actor.user;
    let mut changes = ProfileChanges {
        name: Patch::Set(body.name),
        ..ProfileChanges::default()
    };
    if let Some(bio) = body.bio {
        changes.bio = if bio.trim().is_empty() {
            Patch::Clear
        } else {
            Patch::Set(bio)
        };
    }
    image_changes(Some(&body.profile_image_url), user, &mut changes);
    let mut preferences = changes.preferences.clone().unwrap_or_else(|| user.preferences.clone());
    if let Some(p) = preferences.as_object_mut() {
        for (key, value) in [(map::GENDER, body.gender), (map::DATE_OF_BIRTH, body.date_of_birth)] {
            if let Some(v) = value {
                p.insert(key.into(), json!(v));
            }
        }
    }
    if preferences != user.preferences {
        changes.preferences = Some(preferences);
    }
    let user = state.core.update_profile(&caller.actor, changes).await?;
    Ok(axum::Json(ProfileResponse {
        id: id_to_uuid(user.id.0),
        name: map::display_name(&user),
        role: user.role.as_str().to_string(),
        email: user.email.clone().unwrap_or_default(),
        profile_image_url: map::profile_image_url(&user),
    }))
}

async fn auths_update_timezone_post(
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

/// API keys need the admin role or the `features.api_keys` permission (the core's rule, as
/// Open WebUI words its refusal on these routes).
async fn ensure_api_keys_allowed(state: &AppState, actor: &Actor) -> Result<()> {
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

async fn auths_api_key_post(State(state): State<AppState>, caller: Identity) -> Result<axum::Json<ApiKeyResponse>> {
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
async fn auths_api_key_get(State(state): State<AppState>, caller: Identity) -> Result<axum::Json<ApiKeyResponse>> {
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

async fn auths_api_key_delete(State(state): State<AppState>, caller: Identity) -> Result<axum::Json<bool>> {
    ensure_api_keys_allowed(&state, &caller.actor).await?;
    Ok(axum::Json(revoke_dialect_keys(&state, &caller.actor).await?))
}

// ---------------------------------------------------------------------------------------
// /api/v1/users: listings

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

/// One page of 30 (`page` from 1), and the total of matches. `directory`: any signed-in
/// caller may search; otherwise administrators only.
async fn users_page(state: &AppState, actor: &Actor, query: &ListQuery, directory: bool) -> Result<(Vec<User>, i64)> {
    let page = query.page.unwrap_or(1).max(1);
    let (sort, descending) = ordering(query);
    let mut skip = (page - 1).saturating_mul(map::PAGE_SIZE);
    let mut cursor = None;
    let mut total = None;
    loop {
        let limit = if skip > 0 { skip.min(200) } else { map::PAGE_SIZE };
        let request = ListUsers {
            search: query.query.clone(),
            sort,
            descending,
            cursor: cursor.clone(),
            limit: Some(limit as u32),
            with_total: total.is_none(),
            ..ListUsers::default()
        };
        let result = if directory {
            state.core.search_user_directory(actor, request).await?
        } else {
            state.core.list_users(actor, request).await?
        };
        total = total.or(result.total);
        if skip == 0 {
            return Ok((result.users, total.unwrap_or(0)));
        }
        skip -= result.users.len() as i64;
        match result.next_cursor {
            Some(next) if skip >= 0 => cursor = Some(next),
            _ => return Ok((Vec::new(), total.unwrap_or(0))),
        }
    }
}

async fn users_list_get(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<UserList<UserWithGroupIds>>> {
    caller.actor.require_admin()?;
    let (users, total) = users_page(&state, &caller.actor, &query, false).await?;
    let mut out = Vec::with_capacity(users.len());
    for user in users {
        let groups = state.core.groups_of_user(&caller.actor, user.id).await?;
        out.push(UserWithGroupIds {
            user: map::user_model(&user),
            group_ids: groups.iter().map(|g| id_to_uuid(g.id.0)).collect(),
        });
    }
    Ok(axum::Json(UserList { users: out, total }))
}

async fn users_search_get(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<UserList<UserInfoResponse>>> {
    let (users, total) = users_page(&state, &caller.actor, &query, true).await?;
    let users = users
        .iter()
        .map(|u| map::user_info(u, Vec::new(), state.core.is_recently_active(u)))
        .collect();
    Ok(axum::Json(UserList { users, total }))
}

async fn users_all_get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<UserList<UserInfoResponse>>> {
    caller.actor.require_admin()?;
    let mut users = Vec::new();
    let mut cursor = None;
    loop {
        let page = state
            .core
            .list_users(
                &caller.actor,
                ListUsers {
                    sort: UserSort::CreatedAt,
                    descending: true,
                    cursor,
                    limit: Some(200),
                    ..ListUsers::default()
                },
            )
            .await?;
        users.extend(page.users.iter().map(|u| map::user_info(u, Vec::new(), false)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let total = users.len() as i64;
    Ok(axum::Json(UserList { users, total }))
}

// ---------------------------------------------------------------------------------------
// /api/v1/users: groups and permissions

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

async fn users_groups_get(
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

async fn users_id_groups_get(
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

async fn users_permissions_get(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Value>> {
    Ok(axum::Json(permissions_of(&state, caller.actor.user.id).await?))
}

async fn users_default_permissions_get(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Value>> {
    let template = state
        .core
        .permission_template(&caller.actor, DEFAULT_TEMPLATE, &map::default_permissions())
        .await?;
    Ok(axum::Json(template))
}

async fn users_default_permissions_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Value>,
) -> Result<axum::Json<Value>> {
    caller.actor.require_admin()?;
    let defaults = map::default_permissions();
    let Value::Object(mut sections) = body else {
        return Err(ApiError::request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "Input should be a valid dictionary",
            None,
        )
        .into());
    };
    for section in map::PERMISSION_SECTIONS {
        match sections.get_mut(section) {
            Some(value @ Value::Object(_)) => roster_core::service::fill_missing(value, &defaults[section]),
            Some(_) => {
                return Err(ApiError::request(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    "Input should be a valid dictionary or instance of the section model",
                    Some(section.to_string()),
                )
                .into());
            }
            None => {
                return Err(ApiError::request(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    "Field required",
                    Some(section.to_string()),
                )
                .into());
            }
        }
    }
    sections.retain(|k, _| map::PERMISSION_SECTIONS.contains(&k.as_str()));
    let stored = state
        .core
        .set_permission_template(&caller.actor, DEFAULT_TEMPLATE, Value::Object(sections))
        .await?;
    Ok(axum::Json(stored))
}

async fn users_default_permissions_defaults_get(caller: Caller) -> Result<axum::Json<Value>> {
    caller.actor.require_admin()?;
    Ok(axum::Json(map::default_permissions()))
}

// ---------------------------------------------------------------------------------------
// /api/v1/users/user/...: the caller's settings, status and info

/// Writes the caller's preferences after `change`, returning the stored user.
async fn change_preferences(
    state: &AppState,
    actor: &Actor,
    change: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Result<User> {
    let mut preferences = match actor.user.preferences.clone() {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    change(&mut preferences);
    let changes = ProfileChanges {
        preferences: Some(Value::Object(preferences)),
        ..ProfileChanges::default()
    };
    Ok(state.core.update_profile(actor, changes).await?)
}

async fn users_settings_get(caller: Caller, Query(_query): Query<SettingsQuery>) -> Result<axum::Json<Value>> {
    Ok(axum::Json(
        caller
            .actor
            .user
            .preferences
            .get(map::SETTINGS)
            .cloned()
            .unwrap_or(Value::Null),
    ))
}

async fn users_settings_update_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<serde_json::Map<String, Value>>,
) -> Result<axum::Json<Value>> {
    let mut update = body;
    if caller.actor.user.role != Role::Admin {
        let permissions = permissions_of(&state, caller.actor.user.id).await?;
        map::drop_forbidden_settings(&mut update, &permissions);
    }
    let current = caller.actor.user.preferences.get(map::SETTINGS).cloned();
    let merged = map::merge_settings(current, &update);
    let user = change_preferences(&state, &caller.actor, |p| {
        p.insert(map::SETTINGS.into(), merged);
    })
    .await?;
    Ok(axum::Json(
        user.preferences.get(map::SETTINGS).cloned().unwrap_or(Value::Null),
    ))
}

async fn users_status_get(caller: Caller) -> Result<axum::Json<UserModel>> {
    Ok(axum::Json(map::user_model(&caller.actor.user)))
}

async fn users_status_update_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<StatusForm>,
) -> Result<axum::Json<UserModel>> {
    let user = change_preferences(&state, &caller.actor, |p| {
        let mut status = match p.remove(map::STATUS) {
            Some(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        if let Some(v) = body.status_emoji {
            status.insert("emoji".into(), json!(v));
        }
        if let Some(v) = body.status_message {
            status.insert("message".into(), json!(v));
        }
        if let Some(v) = body.status_expires_at {
            status.insert("expires_at".into(), json!(v));
        }
        p.insert(map::STATUS.into(), Value::Object(status));
    })
    .await?;
    Ok(axum::Json(map::user_model(&user)))
}

async fn users_info_get(caller: Caller) -> Result<axum::Json<Value>> {
    Ok(axum::Json(
        caller
            .actor
            .user
            .preferences
            .get(map::INFO)
            .cloned()
            .unwrap_or(Value::Null),
    ))
}

async fn users_info_update_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<serde_json::Map<String, Value>>,
) -> Result<axum::Json<Value>> {
    let user = change_preferences(&state, &caller.actor, |p| {
        let mut info = match p.remove(map::INFO) {
            Some(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        info.extend(body);
        p.insert(map::INFO.into(), Value::Object(info));
    })
    .await?;
    Ok(axum::Json(
        user.preferences.get(map::INFO).cloned().unwrap_or(Value::Null),
    ))
}

// ---------------------------------------------------------------------------------------
// /api/v1/users/{id}

async fn users_id_get(
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

async fn users_id_info_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<UserInfoResponse>> {
    let user = state.core.read_user_entry(&caller.actor, user_id(&id)?).await?;
    let groups = state.core.user_entry_groups(&caller.actor, user.id).await?;
    let active = state.core.is_recently_active(&user);
    Ok(axum::Json(map::user_info(&user, map::group_refs(&groups), active)))
}

async fn users_id_active_get(
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

async fn users_id_profile_image_get(
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
async fn users_id_oauth_sessions_get(caller: Caller, Path(id): Path<String>) -> Result<axum::Json<Vec<Value>>> {
    caller.actor.require_admin()?;
    user_id(&id)?;
    Err(Error::NotFound("oauth sessions").into())
}

async fn users_id_update_post(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UserUpdateForm>,
) -> Result<axum::Json<UserModel>> {
    caller.actor.require_admin()?;
    let id = user_id(&id)?;
    let role = body.role.as_deref().map(Role::parse).transpose()?;
    let target = state.core.get_user(&caller.actor, id).await?;
    let mut profile = ProfileChanges::default();
    if let Some(name) = body.name {
        profile.name = Patch::Set(name);
    }
    if let Some(email) = body.email {
        let email = roster_core::user::normalise_email(&email);
        if !map::email_format_ok(&email) {
            return Err(OpenWebUiError::Detail(
                StatusCode::BAD_REQUEST,
                error::INVALID_EMAIL_FORMAT,
            ));
        }
        profile.email = Patch::Set(email);
    }
    image_changes(body.profile_image_url.as_deref(), &target, &mut profile);
    let changes = AdminUserChanges {
        profile,
        role,
        password: body.password.filter(|p| !p.is_empty()),
        ..AdminUserChanges::default()
    };
    let user = state.core.admin_update_user(&caller.actor, id, changes).await?;
    Ok(axum::Json(map::user_model(&user)))
}

async fn users_id_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<bool>> {
    caller.actor.require_admin()?;
    let id = user_id(&id)?;
    state.core.delete_user(&caller.actor, id).await?;
    Ok(axum::Json(true))
}

async fn users_id_sessions_revoke_post(
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

// ---------------------------------------------------------------------------------------
// /api/v1/groups

async fn group_with_members(
    state: &AppState,
    actor: &Actor,
    group: roster_core::store::Group,
) -> Result<GroupResponse> {
    let members = if actor.user.role == Role::Admin {
        Some(state.core.group_members(actor, group.id).await?)
    } else {
        None
    };
    Ok(map::group_response(group, members))
}

async fn groups_list_get(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Vec<GroupResponse>>> {
    let mut out = Vec::new();
    for group in state.core.list_groups(&caller.actor).await? {
        out.push(group_with_members(&state, &caller.actor, group).await?);
    }
    Ok(axum::Json(out))
}

async fn groups_create_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<GroupForm>,
) -> Result<axum::Json<GroupResponse>> {
    let group = state
        .core
        .create_group(
            &caller.actor,
            NewGroup {
                name: body.name,
                description: Some(body.description),
                permissions: body.permissions,
            },
        )
        .await?;
    if let Some(ids) = body.user_ids {
        state
            .core
            .add_group_members(&caller.actor, group.id, &user_ids(&ids)?)
            .await?;
    }
    Ok(axum::Json(group_with_members(&state, &caller.actor, group).await?))
}

async fn groups_id_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<GroupResponse>> {
    let group = state.core.get_group(&caller.actor, group_id(&id)?).await?;
    Ok(axum::Json(group_with_members(&state, &caller.actor, group).await?))
}

async fn groups_id_update_post(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<GroupForm>,
) -> Result<axum::Json<GroupResponse>> {
    let id = group_id(&id)?;
    let changes = GroupChanges {
        name: Some(body.name),
        description: Some(body.description),
        permissions: body.permissions,
    };
    let group = state.core.update_group(&caller.actor, id, changes).await?;
    if let Some(ids) = body.user_ids {
        let wanted = user_ids(&ids)?;
        let current = state.core.group_members(&caller.actor, id).await?;
        let gone: Vec<UserId> = current.iter().filter(|u| !wanted.contains(u)).copied().collect();
        state.core.add_group_members(&caller.actor, id, &wanted).await?;
        state.core.remove_group_members(&caller.actor, id, &gone).await?;
    }
    Ok(axum::Json(group_with_members(&state, &caller.actor, group).await?))
}

async fn groups_id_users_add_post(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UserIdsForm>,
) -> Result<axum::Json<GroupResponse>> {
    let id = group_id(&id)?;
    state
        .core
        .add_group_members(&caller.actor, id, &user_ids(&body.user_ids)?)
        .await?;
    let group = state.core.get_group(&caller.actor, id).await?;
    Ok(axum::Json(group_with_members(&state, &caller.actor, group).await?))
}

async fn groups_id_users_remove_post(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UserIdsForm>,
) -> Result<axum::Json<GroupResponse>> {
    let id = group_id(&id)?;
    state
        .core
        .remove_group_members(&caller.actor, id, &user_ids(&body.user_ids)?)
        .await?;
    let group = state.core.get_group(&caller.actor, id).await?;
    Ok(axum::Json(group_with_members(&state, &caller.actor, group).await?))
}

async fn groups_id_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<bool>> {
    state.core.delete_group(&caller.actor, group_id(&id)?).await?;
    Ok(axum::Json(true))
}
