//! The native routes. Each handler parses, calls one core service, and renders.

use super::dto::*;
use super::map;
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Form, Json, Meta, OptionalJson, Path, Query, parse_id};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use roster_core::service::DEFAULT_TEMPLATE;
use roster_core::service::{ListUsers, NewApiKey, NewUser, Registration};
use roster_core::store::UserSort;
use roster_core::{ApiKeyId, GroupId, Role, SessionId, UserId};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<T, ApiError>;

#[derive(OpenApi)]
#[openapi(
    info(title = "Roster", description = "Roster's native user-management API."),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
    tags((name = "auth"), (name = "me"), (name = "users"), (name = "groups"), (name = "webhooks"), (name = "scim"), (name = "clients"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or rst_ API key")
                    .build(),
            ),
        );
    }
}

/// Mounts the native API (routes under `/v1`, errors in Roster's own shape).
pub fn mount(_state: &AppState) -> Router<AppState> {
    router().0
}

/// The native router (routes under `/v1`) and its OpenAPI document, served at `/v1/openapi.json`.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth_register_post))
        .routes(routes!(auth_login_post))
        .routes(routes!(auth_refresh_post))
        .routes(routes!(auth_logout_post))
        .routes(routes!(auth_reset_password_post))
        .routes(routes!(me_get, me_patch))
        .routes(routes!(me_password_post))
        .routes(routes!(me_sessions_get))
        .routes(routes!(me_sessions_id_delete))
        .routes(routes!(me_sessions_revoke_others_post))
        .routes(routes!(me_api_keys_get, me_api_keys_post))
        .routes(routes!(me_api_keys_id_delete))
        .routes(routes!(users_get, users_post))
        .routes(routes!(users_id_get, users_id_patch, users_id_delete))
        .routes(routes!(users_id_sessions_revoke_post))
        .routes(routes!(introspect_post))
        .routes(routes!(avatars_file_get))
        .routes(routes!(groups_get, groups_post))
        .routes(routes!(groups_id_get, groups_id_patch, groups_id_delete))
        .routes(routes!(
            groups_id_members_get,
            groups_id_members_post,
            groups_id_members_delete
        ))
        .routes(routes!(permissions_default_get, permissions_default_put))
        .routes(routes!(me_permissions_get))
        .routes(routes!(super::audit::audit_get))
        .merge(super::two_factor::routes())
        .merge(super::balances::routes())
        .merge(super::email_change::routes())
        .merge(super::webhooks::routes())
        .merge(super::scim_push::routes())
        .merge(super::clients::routes())
        .merge(super::consents::routes());
    let (router, openapi) = super::tiers::register(super::chat::register(router)).split_for_parts();
    let mut openapi = openapi;
    super::openapi::complete(&mut openapi);
    let document = openapi.clone();
    let router = router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || async move { axum::Json(document) }),
        )
        .route_layer(crate::extract::RejectNulInUri);
    (router, openapi)
}

/// Creates an account. The first account becomes admin; a pending account gets no tokens.
/// With `quiet_registration`, every registration without an invitation answers 202 alike
/// (taken email or username, or a new account, which must then sign in), and the address
/// given is mailed what happened.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse),
        (status = 202, body = RegisterAccepted, description = "quiet_registration: the same answer for a taken and a free email"),
        (status = 403, body = Problem, description = "registration disabled"),
        (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem, description = "too many sign-ups from this address; see Retry-After")))]
async fn auth_register_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<axum::response::Response> {
    let input = Registration {
        email: body.email,
        username: body.username,
        name: body.name,
        password: body.password,
        preferences: None,
    };
    let outcome = match body.invite_token.as_deref() {
        Some(token) => state.core.register_with_invitation(input, token, &meta).await?,
        None if state.core.config.quiet_registration => {
            state.core.register_quietly(input, &meta).await?;
            let body = RegisterAccepted {
                status: "accepted".into(),
                message: REGISTER_ACCEPTED.into(),
            };
            return Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response());
        }
        None => state.core.register(input, &meta).await?,
    };
    Ok((StatusCode::CREATED, axum::Json(map::auth_response(outcome))).into_response())
}

/// Logs in with an email or username and a password. An account with two-factor
/// authentication gets `{two_factor_required: true, challenge, expires_in}` instead of a
/// session; `POST /v1/auth/login/2fa` completes it.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = super::two_factor::LoginResponse), (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 429, body = Problem, description = "login rate limit or throttle; see Retry-After")))]
async fn auth_login_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<LoginRequest>,
) -> ApiResult<axum::Json<super::two_factor::LoginResponse>> {
    use super::two_factor::LoginResponse;
    match state.core.login(&body.login, &body.password, &meta).await {
        Ok(outcome) => Ok(axum::Json(LoginResponse::Session(Box::new(map::auth_response(
            outcome,
        ))))),
        Err(roster_core::Error::TwoFactorRequired(challenge)) => {
            Ok(axum::Json(LoginResponse::TwoFactor(challenge.into())))
        }
        Err(e) => Err(e.into()),
    }
}

/// Exchanges a refresh token for new tokens. Reusing a refresh token revokes its session.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = Problem)))]
async fn auth_refresh_post(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<axum::Json<AuthResponse>> {
    let outcome = state.core.refresh(&body.refresh_token).await?;
    Ok(axum::Json(map::auth_response(outcome)))
}

/// Ends the current session (access token), or the session of the given refresh token.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body(content = Option<LogoutRequest>, description = "optional"),
    responses((status = 204), (status = 401, body = Problem)))]
async fn auth_logout_post(
    State(state): State<AppState>,
    auth: Option<Auth>,
    OptionalJson(body): OptionalJson<LogoutRequest>,
) -> ApiResult<StatusCode> {
    match (auth, body.and_then(|b| b.refresh_token)) {
        (Some(Auth(actor)), _) => state.core.logout(&actor).await?,
        (None, Some(refresh)) => state.core.logout_refresh_token(&refresh).await?,
        (None, None) => return Err(roster_core::Error::Unauthenticated.into()),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a new password with a single-use reset link; every session of the user ends.
#[utoipa::path(post, path = "/v1/auth/reset-password", tag = "auth", request_body = ResetPasswordRequest,
    responses((status = 204), (status = 422, body = Problem, description = "invalid, expired or used token; bad password")))]
async fn auth_reset_password_post(
    State(state): State<AppState>,
    Json(body): Json<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    state
        .core
        .reset_password_with_token(&body.token, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(get, path = "/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = UserBody), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn me_get(Auth(actor): Auth) -> axum::Json<UserBody> {
    axum::Json(map::user_body(actor.user))
}

/// Changes the caller's profile. Absent fields are kept; `null` clears. A new email is unverified.
/// Some preference fields need a permission to be set (403 without it): Open WebUI's
/// `settings.ui.notifications.webhook_url` and `settings.notifications` (`features.webhooks`),
/// `settings.ui.system` (`chat.controls` and `chat.system_prompt`), `settings.ui.toolServers`
/// (`features.direct_tool_servers`).
#[utoipa::path(patch, path = "/v1/me", tag = "me", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = UserBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn me_patch(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<UpdateMeRequest>,
) -> ApiResult<axum::Json<UserBody>> {
    let user = state.core.update_profile(&actor, map::profile_changes(body)).await?;
    Ok(axum::Json(map::user_body(user)))
}

/// Changes the caller's password; every other session is revoked.
#[utoipa::path(post, path = "/v1/me/password", tag = "me", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn me_password_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Meta(meta): Meta,
    Json(body): Json<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    state
        .core
        .change_password(&actor, &body.current_password, &body.new_password, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's sessions, newest first.
#[utoipa::path(get, path = "/v1/me/sessions", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionBody>), (status = 401, body = Problem)))]
async fn me_sessions_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<Vec<SessionBody>>> {
    let current = actor.session();
    let sessions = state.core.list_my_sessions(&actor).await?;
    Ok(axum::Json(
        sessions.into_iter().map(|s| map::session_body(s, current)).collect(),
    ))
}

/// Revokes one of the caller's sessions.
#[utoipa::path(delete, path = "/v1/me/sessions/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn me_sessions_id_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: SessionId = parse_id(&id)?;
    state.core.revoke_my_session(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes every session of the caller except the current one.
#[utoipa::path(post, path = "/v1/me/sessions/revoke-others", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = RevokedBody), (status = 401, body = Problem)))]
async fn me_sessions_revoke_others_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<axum::Json<RevokedBody>> {
    let revoked = state.core.revoke_my_other_sessions(&actor).await?;
    Ok(axum::Json(RevokedBody { revoked }))
}

/// The caller's API keys (never their secrets).
#[utoipa::path(get, path = "/v1/me/api-keys", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKeyBody>), (status = 401, body = Problem)))]
async fn me_api_keys_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<Vec<ApiKeyBody>>> {
    let keys = state.core.list_my_api_keys(&actor).await?;
    Ok(axum::Json(keys.into_iter().map(map::api_key_body).collect()))
}

/// Creates an API key; its secret is in this answer only. With `api_key_permission = everywhere`,
/// users need the `features.api_keys` permission (403 without it).
#[utoipa::path(post, path = "/v1/me/api-keys", tag = "me", security(("bearer" = [])), request_body = CreateApiKeyRequest,
    responses((status = 201, body = ApiKeyCreatedBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn me_api_keys_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<CreateApiKeyRequest>,
) -> ApiResult<impl IntoResponse> {
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|t| map::parse_time("expires_at", t))
        .transpose()?;
    let created = state
        .core
        .create_api_key(
            &actor,
            NewApiKey {
                name: body.name,
                expires_at,
                scopes: body.scopes,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(map::api_key_created_body(created))))
}

/// Revokes one of the caller's API keys, at once.
#[utoipa::path(delete, path = "/v1/me/api-keys/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "API key id")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn me_api_keys_id_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: ApiKeyId = parse_id(&id)?;
    state.core.revoke_my_api_key(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists users (administrators): search, sort, cursor pagination.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])), params(ListUsersQuery),
    responses((status = 200, body = UserListBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
async fn users_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(query): Query<ListUsersQuery>,
) -> ApiResult<axum::Json<UserListBody>> {
    let descending = match query.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(roster_core::Error::invalid("order", "must be asc or desc").into()),
    };
    let request = ListUsers {
        search: query.q,
        role: query.role.as_deref().map(Role::parse).transpose()?,
        active: query.active,
        sort: query
            .sort
            .as_deref()
            .map(UserSort::parse)
            .transpose()?
            .unwrap_or_default(),
        descending,
        cursor: query.cursor,
        limit: query.limit,
        with_total: query.total.unwrap_or(false),
        ..ListUsers::default()
    };
    let page = state.core.list_users(&actor, request).await?;
    Ok(axum::Json(UserListBody {
        users: page.users.into_iter().map(map::user_body).collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

/// Creates a user (administrators).
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])), request_body = CreateUserRequest,
    responses((status = 201, body = UserBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn users_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<CreateUserRequest>,
) -> ApiResult<impl IntoResponse> {
    let input = NewUser {
        email: body.email,
        username: body.username,
        name: body.name,
        password: body.password,
        role: body.role.as_deref().map(Role::parse).transpose()?,
        active: body.active,
        email_verified: body.email_verified,
        provider: body.provider,
    };
    let user = state.core.create_user(&actor, input).await?;
    Ok((StatusCode::CREATED, axum::Json(map::user_body(user))))
}

/// Reads a user (administrators, or oneself).
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = UserBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn users_id_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<UserBody>> {
    let id: UserId = parse_id(&id)?;
    Ok(axum::Json(map::user_body(state.core.get_user(&actor, id).await?)))
}

/// Changes a user's profile, role, active flag, verification or password (administrators).
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")), request_body = UpdateUserRequest,
    responses((status = 200, body = UserBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn users_id_patch(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(body): Json<UpdateUserRequest>,
) -> ApiResult<axum::Json<UserBody>> {
    let id: UserId = parse_id(&id)?;
    let user = state
        .core
        .admin_update_user(&actor, id, map::admin_changes(body)?)
        .await?;
    Ok(axum::Json(map::user_body(user)))
}

/// Deletes a user and everything it owns (administrators; not oneself, not the last admin).
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn users_id_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: UserId = parse_id(&id)?;
    state.core.delete_user(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes every session of a user (administrators).
#[utoipa::path(post, path = "/v1/users/{id}/sessions/revoke", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = RevokedBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn users_id_sessions_revoke_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RevokedBody>> {
    let id: UserId = parse_id(&id)?;
    let revoked = state.core.revoke_user_sessions(&actor, id).await?;
    Ok(axum::Json(RevokedBody { revoked }))
}

/// A stored avatar (public, as in every dialect): PNG, or GIF for an animation. Avatars that
/// no dialect uploaded (`roster migrate`) have URLs here.
#[utoipa::path(get, path = "/v1/avatars/{file}", tag = "me",
    params(("file" = String, Path, description = "The file name at the end of the avatar URL")),
    responses((status = 200, description = "The image", content_type = "image/png"), (status = 404, body = Problem)))]
async fn avatars_file_get(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> ApiResult<axum::response::Response> {
    let bytes = state.core.read_avatar(&file).await?;
    Ok(crate::dialect::avatar_response(&file, bytes))
}

/// RFC 7662 token introspection, for the platform's other services. Requires an API key
/// with the `introspect` scope.
#[utoipa::path(post, path = "/v1/introspect", tag = "auth", security(("bearer" = [])),
    request_body(content = IntrospectRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = IntrospectBody), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn introspect_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Form(body): Form<IntrospectRequest>,
) -> ApiResult<axum::Json<IntrospectBody>> {
    let _ = body.token_type_hint;
    let result = state.core.introspect(&actor, &body.token).await?;
    Ok(axum::Json(map::introspect_body(result)))
}

fn parse_user_ids(ids: &[String]) -> ApiResult<Vec<UserId>> {
    ids.iter()
        .map(|id| {
            id.parse::<UserId>().map_err(|_| {
                ApiError::from(roster_core::Error::invalid(
                    "user_ids",
                    format!("{id:?} is not a user id"),
                ))
            })
        })
        .collect()
}

/// Groups: every group for administrators, one's own groups for others.
#[utoipa::path(get, path = "/v1/groups", tag = "groups", security(("bearer" = [])),
    responses((status = 200, body = GroupListBody), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn groups_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<GroupListBody>> {
    let groups = state.core.list_groups(&actor).await?;
    Ok(axum::Json(GroupListBody {
        groups: groups.into_iter().map(map::group_body).collect(),
    }))
}

/// Creates a group (administrators).
#[utoipa::path(post, path = "/v1/groups", tag = "groups", security(("bearer" = [])), request_body = CreateGroupRequest,
    responses((status = 201, body = GroupBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn groups_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<CreateGroupRequest>,
) -> ApiResult<impl IntoResponse> {
    let input = roster_core::service::NewGroup {
        name: body.name,
        description: body.description,
        permissions: body.permissions,
    };
    let group = state.core.create_group(&actor, input).await?;
    Ok((StatusCode::CREATED, axum::Json(map::group_body(group))))
}

/// Reads a group (administrators, or its members).
#[utoipa::path(get, path = "/v1/groups/{id}", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path, description = "group id")),
    responses((status = 200, body = GroupBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn groups_id_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<GroupBody>> {
    let id: GroupId = parse_id(&id)?;
    Ok(axum::Json(map::group_body(state.core.get_group(&actor, id).await?)))
}

/// Changes a group's name, description or permissions (administrators).
#[utoipa::path(patch, path = "/v1/groups/{id}", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path, description = "group id")), request_body = UpdateGroupRequest,
    responses((status = 200, body = GroupBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn groups_id_patch(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(body): Json<UpdateGroupRequest>,
) -> ApiResult<axum::Json<GroupBody>> {
    let id: GroupId = parse_id(&id)?;
    let changes = roster_core::service::GroupChanges {
        name: body.name,
        description: body.description,
        permissions: body.permissions,
    };
    Ok(axum::Json(map::group_body(
        state.core.update_group(&actor, id, changes).await?,
    )))
}

/// Deletes a group and its memberships (administrators).
#[utoipa::path(delete, path = "/v1/groups/{id}", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path, description = "group id")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn groups_id_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: GroupId = parse_id(&id)?;
    state.core.delete_group(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A group's members (administrators).
#[utoipa::path(get, path = "/v1/groups/{id}/members", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path, description = "group id")),
    responses((status = 200, body = MembersBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn groups_id_members_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<MembersBody>> {
    let id: GroupId = parse_id(&id)?;
    Ok(axum::Json(map::member_ids(state.core.group_members(&actor, id).await?)))
}

/// Adds users to a group, all or none (administrators); answers the members.
#[utoipa::path(post, path = "/v1/groups/{id}/members", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path, description = "group id")), request_body = MembersBody,
    responses((status = 200, body = MembersBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn groups_id_members_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(body): Json<MembersBody>,
) -> ApiResult<axum::Json<MembersBody>> {
    let id: GroupId = parse_id(&id)?;
    let users = parse_user_ids(&body.user_ids)?;
    Ok(axum::Json(map::member_ids(
        state.core.add_group_members(&actor, id, &users).await?,
    )))
}

/// Removes users from a group (administrators); answers the members.
#[utoipa::path(delete, path = "/v1/groups/{id}/members", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path, description = "group id")), request_body = MembersBody,
    responses((status = 200, body = MembersBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn groups_id_members_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(body): Json<MembersBody>,
) -> ApiResult<axum::Json<MembersBody>> {
    let id: GroupId = parse_id(&id)?;
    let users = parse_user_ids(&body.user_ids)?;
    Ok(axum::Json(map::member_ids(
        state.core.remove_group_members(&actor, id, &users).await?,
    )))
}

/// The default permission template, what every user has before groups (administrators).
#[utoipa::path(get, path = "/v1/groups/permissions/default", tag = "groups", security(("bearer" = [])),
    responses((status = 200, body = serde_json::Value), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn permissions_default_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let template = state
        .core
        .permission_template(&actor, DEFAULT_TEMPLATE, &serde_json::json!({}))
        .await?;
    Ok(axum::Json(template))
}

/// Replaces the default permission template (administrators).
#[utoipa::path(put, path = "/v1/groups/permissions/default", tag = "groups", security(("bearer" = [])),
    request_body = serde_json::Value,
    responses((status = 200, body = serde_json::Value), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn permissions_default_put(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let stored = state
        .core
        .set_permission_template(&actor, DEFAULT_TEMPLATE, body)
        .await?;
    Ok(axum::Json(stored))
}

/// The caller's effective permissions: the default template OR-merged with their groups'.
#[utoipa::path(get, path = "/v1/me/permissions", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = serde_json::Value), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn me_permissions_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let permissions = state
        .core
        .effective_permissions(actor.user.id, &serde_json::json!({}))
        .await?;
    Ok(axum::Json(permissions))
}
