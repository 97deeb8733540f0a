//! Langflow's routes (`api/v1/login.py`, `api/v1/users.py`, `api/v1/api_key.py`). Each
//! handler parses, calls core services, and renders Langflow's shapes.

use super::dto::*;
use super::error::{self, LangflowError};
use super::map;
use crate::extract::{Form, Json, Meta, Query};
use crate::state::AppState;
use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use roster_core::id::{id_from_uuid, id_to_uuid};
use roster_core::service::{
    AccountChanges, CANNOT_DEACTIVATE_SELF, ListUsers, NewApiKey, NewUser, Patch, Registration, SignupPolicy,
    TokenPair, is_api_key,
};
use roster_core::store::UserSort;
use roster_core::{Actor, ApiKeyId, Error, Role, User, UserId};
use serde_json::json;

type Result<T> = std::result::Result<T, LangflowError>;

/// The prefix of the API keys this dialect creates, as Langflow's.
const KEY_PREFIX: &str = "sk-";
/// The name of a key created without one.
const DEFAULT_KEY_NAME: &str = "Langflow API key";
/// Langflow's header and query parameter for API keys.
const API_KEY_NAME: &str = "x-api-key";
const ACCESS_COOKIE: &str = "access_token_lf";
const REFRESH_COOKIE: &str = "refresh_token_lf";
const STORE_KEY_COOKIE: &str = "apikey_tkn_lflw";
/// Langflow's `REFRESH_TOKEN_EXPIRE_SECONDS`.
const REFRESH_COOKIE_SECONDS: i64 = 604_800;
const AUTO_LOGIN_DISABLED: &str = "Auto login is disabled. Please enable it in the settings";
/// The lifetime of an auto-login access token (Langflow's long-term token: a year; at most
/// the session lifetime, `refresh_token_ttl_days`).
const AUTO_LOGIN_TOKEN_TTL: time::Duration = time::Duration::days(365);

/// The Langflow router (paths as Langflow's own, to be mounted under the dialect prefix), with
/// every error rendered in Langflow's shape. `nested`: it has a prefix of its own, so it
/// answers unknown paths under it too (at the root, the application's fallback does).
pub fn router(nested: bool) -> Router<AppState> {
    let mut router = Router::new()
        .route("/api/v1/login", post(login_post))
        .route("/api/v1/refresh", post(refresh_post))
        .route("/api/v1/logout", post(logout_post))
        .route("/api/v1/auto_login", get(auto_login_get))
        .route("/api/v1/users", get(users_list_get).post(users_create_post))
        .route("/api/v1/users/", get(users_list_get).post(users_create_post))
        .route("/api/v1/users/whoami", get(whoami_get))
        .route(
            "/api/v1/users/{id}",
            get(user_get).patch(user_patch).delete(user_delete),
        )
        .route("/api/v1/users/{id}/reset-password", patch(reset_password_patch))
        .route("/api/v1/api_key", get(api_keys_get).post(api_keys_post))
        .route("/api/v1/api_key/", get(api_keys_get).post(api_keys_post))
        .route("/api/v1/api_key/{id}", delete(api_key_delete))
        .route("/api/v1/api_key/store", post(api_key_store_post));
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

// ---------------------------------------------------------------------------------------
// Credentials: a JWT (`Authorization: Bearer` or the `access_token_lf` cookie) first, then an
// API key (`x-api-key` header or query parameter).

fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, value)| *n == name && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

fn bearer(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

fn api_key(parts: &Parts) -> Option<String> {
    let header = parts
        .headers
        .get(API_KEY_NAME)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string());
    let query = || {
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .find(|(k, _)| k == API_KEY_NAME)
            .map(|(_, v)| v.trim().to_string())
    };
    header.or_else(query).filter(|v| !v.is_empty())
}

/// The authenticated, active caller.
struct Caller {
    actor: Actor,
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Caller>> {
    let key = api_key(parts);
    if let Some(token) = bearer(parts).or_else(|| cookie(parts, ACCESS_COOKIE)) {
        match state.core.authenticate_bearer(&token).await {
            Ok(actor) => return Ok(Some(Caller { actor })),
            Err(e @ (Error::Unavailable | Error::Internal(_))) => return Err(e.into()),
            Err(e) if key.is_none() => return Err(e.into()),
            Err(_) => {}
        }
    }
    let Some(key) = key else { return Ok(None) };
    if !is_api_key(&key) {
        return Err(LangflowError::Detail(StatusCode::FORBIDDEN, error::INVALID_API_KEY));
    }
    match state.core.authenticate_bearer(&key).await {
        Ok(actor) => Ok(Some(Caller { actor })),
        Err(Error::InvalidToken) => Err(LangflowError::Detail(StatusCode::FORBIDDEN, error::INVALID_API_KEY)),
        Err(e) => Err(e.into()),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = LangflowError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        authenticate(parts, state).await?.ok_or(Error::Unauthenticated.into())
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Caller {
    type Rejection = LangflowError;

    /// No credential, or one that does not authenticate (a stale cookie at sign-up): `None`.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>> {
        match authenticate(parts, state).await {
            Ok(caller) => Ok(caller),
            Err(LangflowError::Api(crate::error::ApiError::Core(e @ (Error::Unavailable | Error::Internal(_))))) => {
                Err(e.into())
            }
            Err(_) => Ok(None),
        }
    }
}

fn user_id(raw: &str) -> Result<UserId> {
    Ok(UserId(id_from_uuid(raw)?))
}

/// Replaces a core refusal (`Forbidden`) with Langflow's words for this route.
fn forbidden_as(text: &'static str) -> impl Fn(Error) -> LangflowError {
    move |e| match e {
        Error::Forbidden(_) => LangflowError::Detail(StatusCode::FORBIDDEN, text),
        e => e.into(),
    }
}

fn require_superuser(actor: &Actor) -> Result<()> {
    actor
        .require_admin()
        .map_err(forbidden_as(error::NOT_ENOUGH_PRIVILEGES))
}

// ---------------------------------------------------------------------------------------
// Login, refresh, logout, auto-login

fn append_cookie(response: &mut Response, cookie: String) {
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The token pair and Langflow's three cookies (`apikey_tkn_lflw`: the user's sealed store
/// API key, as Langflow sets its encrypted value, or empty).
fn token_response(tokens: TokenPair, store_key: Option<String>) -> Response {
    let mut response = axum::Json(Token {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
        token_type: "bearer",
    })
    .into_response();
    append_cookie(
        &mut response,
        format!(
            "{REFRESH_COOKIE}={}; HttpOnly; Path=/; SameSite=Lax; Max-Age={REFRESH_COOKIE_SECONDS}",
            tokens.refresh_token
        ),
    );
    append_cookie(
        &mut response,
        format!(
            "{ACCESS_COOKIE}={}; HttpOnly; Path=/; SameSite=Lax; Max-Age={}",
            tokens.access_token, tokens.expires_in
        ),
    );
    append_cookie(
        &mut response,
        format!(
            "{STORE_KEY_COOKIE}={}; HttpOnly; Path=/; SameSite=Lax",
            store_key.unwrap_or_default()
        ),
    );
    response
}

async fn login_post(State(state): State<AppState>, Meta(meta): Meta, Form(form): Form<LoginForm>) -> Result<Response> {
    match state.core.login(&form.username, &form.password, &meta).await {
        Ok(outcome) => {
            let tokens = outcome.tokens.ok_or(Error::AccountPending)?;
            Ok(token_response(tokens, sealed_store_key(&state, outcome.user.id).await?))
        }
        Err(Error::AccountPending | Error::AccountDisabled | Error::Banned { .. }) => {
            // The password was right: Langflow tells accounts that never signed in to wait.
            Err(if state.core.never_signed_in(&form.username).await {
                LangflowError::Detail(StatusCode::BAD_REQUEST, error::WAITING_FOR_APPROVAL)
            } else {
                LangflowError::Detail(StatusCode::UNAUTHORIZED, error::INACTIVE_USER)
            })
        }
        Err(e) => Err(e.into()),
    }
}

async fn refresh_post(State(state): State<AppState>, parts: Parts) -> Result<Response> {
    let invalid = LangflowError::Detail(StatusCode::UNAUTHORIZED, error::INVALID_REFRESH_TOKEN);
    let Some(token) = cookie(&parts, REFRESH_COOKIE) else {
        return Err(invalid);
    };
    match state.core.refresh(&token).await {
        Ok(outcome) => {
            let store_key = sealed_store_key(&state, outcome.user.id).await?;
            Ok(token_response(outcome.tokens.ok_or(Error::InvalidToken)?, store_key))
        }
        Err(e @ (Error::Unavailable | Error::Internal(_))) => Err(e.into()),
        Err(_) => Err(invalid),
    }
}

async fn logout_post(State(state): State<AppState>, parts: Parts) -> Result<Response> {
    if let Some(token) = cookie(&parts, REFRESH_COOKIE) {
        state.core.logout_refresh_token(&token).await?;
    }
    if let Some(token) = bearer(&parts).or_else(|| cookie(&parts, ACCESS_COOKIE))
        && let Ok(actor) = state.core.authenticate_bearer(&token).await
    {
        state.core.logout(&actor).await?;
    }
    let mut response = axum::Json(json!({"message": "Logout successful"})).into_response();
    for name in [REFRESH_COOKIE, ACCESS_COOKIE, STORE_KEY_COOKIE] {
        append_cookie(
            &mut response,
            format!("{name}=; HttpOnly; Path=/; SameSite=Lax; Max-Age=0"),
        );
    }
    Ok(response)
}

/// Langflow's `AUTO_LOGIN`: when `langflow_auto_login` is set, tokens for the configured
/// superuser without a password (a long-lived access token, no refresh token, as Langflow's
/// `create_user_longterm_token`); otherwise 403 with Langflow's detail object.
async fn auto_login_get(State(state): State<AppState>, Meta(meta): Meta) -> Result<Response> {
    if !state.config.langflow_auto_login {
        return Err(LangflowError::Object(
            StatusCode::FORBIDDEN,
            json!({"message": AUTO_LOGIN_DISABLED, "auto_login": false}),
        ));
    }
    let outcome = match state
        .core
        .auto_login(&state.config.langflow_superuser, AUTO_LOGIN_TOKEN_TTL, &meta)
        .await
    {
        Ok(outcome) => outcome,
        Err(Error::NotFound(_)) => {
            return Err(LangflowError::Detail(
                StatusCode::BAD_REQUEST,
                error::SUPERUSER_NOT_CREATED,
            ));
        }
        Err(Error::Forbidden(text)) => return Err(LangflowError::Detail(StatusCode::FORBIDDEN, text)),
        Err(e) => return Err(e.into()),
    };
    let tokens = outcome.tokens.ok_or(Error::AccountPending)?;
    let store_key = sealed_store_key(&state, outcome.user.id).await?;
    let mut response = axum::Json(json!({
        "access_token": tokens.access_token,
        "refresh_token": null,
        "token_type": "bearer",
    }))
    .into_response();
    append_cookie(
        &mut response,
        format!(
            "{ACCESS_COOKIE}={}; HttpOnly; Path=/; SameSite=Lax",
            tokens.access_token
        ),
    );
    append_cookie(
        &mut response,
        format!(
            "{STORE_KEY_COOKIE}={}; HttpOnly; Path=/; SameSite=Lax",
            store_key.unwrap_or_default()
        ),
    );
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// The store API key: kept sealed; Langflow shows its encrypted value as `store_api_key`.

async fn sealed_store_key(state: &AppState, user: UserId) -> Result<Option<String>> {
    Ok(state
        .core
        .sealed_langflow_store_api_keys(&[user])
        .await?
        .into_iter()
        .next()
        .map(|(_, sealed)| sealed))
}

/// `UserRead` with the user's sealed store API key.
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

/// `POST /api/v1/api_key/store`: saves the caller's store API key, sealed, and sets the
/// `apikey_tkn_lflw` cookie to its encrypted value. An empty key removes it.
async fn api_key_store_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ApiKeyStore>,
) -> Result<Response> {
    state
        .core
        .set_langflow_store_api_key(&caller.actor, &body.api_key)
        .await
        .map_err(|e| match e {
            e @ Error::Invalid { .. } => LangflowError::Object(StatusCode::BAD_REQUEST, json!(e.to_string())),
            e => e.into(),
        })?;
    let store_key = sealed_store_key(&state, caller.actor.user.id).await?;
    let mut response = axum::Json(json!({"detail": "API Key saved"})).into_response();
    append_cookie(
        &mut response,
        format!(
            "{STORE_KEY_COOKIE}={}; HttpOnly; Path=/; SameSite=Lax",
            store_key.unwrap_or_default()
        ),
    );
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// /api/v1/users

fn new_user_role(state: &AppState) -> Role {
    if state.config.langflow_new_user_is_active {
        Role::User
    } else {
        Role::Pending
    }
}

/// Public sign-up, or creation by a superuser; the account is inactive until a superuser
/// activates it unless `langflow_new_user_is_active`.
async fn users_create_post(
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
            match body
                .optins
                .as_ref()
                .and_then(|o| map::preferences_with_optins(&user, o))
            {
                Some(preferences) => {
                    let mut changes = AccountChanges::default();
                    changes.profile.preferences = Some(preferences);
                    state.core.update_account(&caller.actor, user.id, changes).await?
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
                    },
                    &meta,
                )
                .await?
                .user
        }
    };
    Ok((StatusCode::CREATED, axum::Json(user_read(&state, &user).await?)).into_response())
}

async fn whoami_get(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<UserRead>> {
    Ok(axum::Json(user_read(&state, &caller.actor.user).await?))
}

/// `skip` (≥ 0, default 0) and `limit` (1 to 200, default 10), ordered by username.
async fn users_list_get(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<UsersResponse>> {
    require_superuser(&caller.actor)?;
    let limit = query.limit.unwrap_or(10);
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid("limit", "Input should be between 1 and 200").into());
    }
    let mut skip = query.skip.unwrap_or(0);
    if skip < 0 {
        return Err(Error::invalid("skip", "Input should be greater than or equal to 0").into());
    }
    let mut cursor = None;
    let mut total = None;
    loop {
        let page_size = if skip > 0 { skip.min(200) } else { limit };
        let page = state
            .core
            .list_users(
                &caller.actor,
                ListUsers {
                    search: query.search.clone(),
                    sort: UserSort::Username,
                    cursor: cursor.clone(),
                    limit: Some(page_size as u32),
                    with_total: total.is_none(),
                    ..ListUsers::default()
                },
            )
            .await?;
        total = total.or(page.total);
        if skip == 0 {
            return Ok(axum::Json(UsersResponse {
                total_count: total.unwrap_or(0),
                users: users_read(&state, &page.users).await?,
            }));
        }
        skip -= page.users.len() as i64;
        match page.next_cursor {
            Some(next) if skip >= 0 => cursor = Some(next),
            _ => {
                return Ok(axum::Json(UsersResponse {
                    total_count: total.unwrap_or(0),
                    users: Vec::new(),
                }));
            }
        }
    }
}

async fn user_get(
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

async fn user_patch(
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
    changes.profile.avatar = Patch::from_json(body.profile_image);
    if let Some(optins) = &body.optins {
        let target = state
            .core
            .get_user(actor, id)
            .await
            .map_err(forbidden_as(error::PERMISSION_DENIED))?;
        changes.profile.preferences = map::preferences_with_optins(&target, optins);
    }
    let user = state
        .core
        .update_account(actor, id, changes)
        .await
        .map_err(|e| match e {
            Error::Forbidden(CANNOT_DEACTIVATE_SELF) => {
                LangflowError::Detail(StatusCode::FORBIDDEN, error::CANNOT_DEACTIVATE_SELF)
            }
            e => forbidden_as(error::PERMISSION_DENIED)(e),
        })?;
    Ok(axum::Json(user_read(&state, &user).await?))
}

/// Self only; `current_password` checked when given (current Langflow sends it; classic
/// does not); the current password cannot be reused.
async fn reset_password_patch(
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

async fn user_delete(
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

// ---------------------------------------------------------------------------------------
// /api/v1/api_key

async fn api_keys_get(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<ApiKeysResponse>> {
    let keys = state.core.list_my_api_keys(&caller.actor).await?;
    Ok(axum::Json(ApiKeysResponse {
        total_count: keys.len() as i64,
        user_id: id_to_uuid(caller.actor.user.id.0),
        api_keys: keys.iter().map(|k| map::api_key_read(k, map::masked(k))).collect(),
    }))
}

async fn api_keys_post(
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

async fn api_key_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<serde_json::Value>> {
    let not_found = || LangflowError::Detail(StatusCode::BAD_REQUEST, error::API_KEY_NOT_FOUND);
    let id = ApiKeyId(id_from_uuid(&id).map_err(|_| not_found())?);
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
