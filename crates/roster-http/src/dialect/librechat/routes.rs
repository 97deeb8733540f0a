//! LibreChat's routes. Each handler parses, calls core services, and renders LibreChat's
//! shapes, statuses and messages.

use super::dto::*;
use super::error::{LcError, from_core, message_of, rate_limited, render_response};
use super::map;
use crate::cookie::{self, SameSite, SetCookie};
use crate::extract::{Auth, Json, Meta, OptionalJson};
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use roster_core::limit::Limit;
use roster_core::service::{ADMIN_CANNOT_DELETE_SELF, PluginChange, SESSION_REQUIRED, SecondFactor, SignupForm};
use roster_core::{Actor, Error, User, UserId};
use serde_json::{Value, json};

type LcResult<T> = Result<T, LcError>;

/// The answer to every registration and verification-resend request.
const CHECK_YOUR_EMAIL: &str = "Please check your email to verify your email address.";
const RESET_REQUESTED: &str = "If an account with that email exists, a password reset link has been sent to it.";

/// LibreChat's 429 message of a limiter, naming its window as LibreChat does.
fn too_many_attempts(state: &AppState, limit: Limit) -> String {
    let minutes = state.core.rate_of(limit).window.whole_minutes().max(1);
    format!("Too many attempts, please try again after {minutes} minute(s)")
}

/// Mounts the LibreChat routes at `librechat_prefix`, with LibreChat's error rendering.
pub fn mount(state: &AppState) -> Router<AppState> {
    crate::dialect::mount_at(&state.config.librechat_prefix, routes(state), render_response)
}

/// The LibreChat routes, relative to the mount prefix.
fn routes(state: &AppState) -> Router<AppState> {
    let avatar_limit = crate::dialect::avatar_body_limit(state.core.config.avatar_max_bytes);
    Router::new()
        .route("/health", get(health))
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/requestPasswordReset", post(request_password_reset))
        .route("/api/auth/resetPassword", post(reset_password))
        .route("/api/user", get(user_get))
        .route("/api/user/plugins", post(plugins_post))
        .route("/api/user/preferences", axum::routing::patch(preferences_patch))
        .route("/api/user/settings/favorites", get(favorites_get).post(favorites_post))
        .route(
            "/api/user/settings/pinned-order",
            get(pinned_order_get).post(pinned_order_post),
        )
        .route("/api/user/settings/skills/active", get(skills_get).post(skills_post))
        .route("/api/user/settings/favorites/tools", get(tool_favorites_get))
        .route(
            "/api/user/settings/favorites/tools/{item_type}/{item_id}",
            axum::routing::put(tool_favorite_put).delete(tool_favorite_delete),
        )
        .route("/api/user/delete", axum::routing::delete(user_delete))
        .route("/api/user/verify", post(verify_post))
        .route("/api/user/verify/resend", post(verify_resend))
        .route("/verify", get(verify_link))
        .route("/api/user/terms", get(terms_get))
        .route("/api/user/terms/accept", post(terms_accept))
        .route("/api/balance", get(balance_get))
        .route(
            "/api/files/images/avatar",
            post(avatar_post).layer(DefaultBodyLimit::max(avatar_limit)),
        )
        .route("/avatars/{file}", get(avatar_get))
        .merge(super::two_factor::routes())
}

/// The mount prefix of this dialect (`""` at the root).
fn prefix(state: &AppState) -> String {
    map::normalize_prefix(&state.config.librechat_prefix)
}

/// The page verification links lead to.
fn verify_page(state: &AppState) -> String {
    format!("{}/verify", prefix(state))
}

pub(super) fn user_json(state: &AppState, user: &User) -> UserBody {
    map::user_body(user, state.core.terms_status_of(user).accepted)
}

async fn health() -> &'static str {
    "OK"
}

/// LibreChat's session cookies: the refresh token and the provider that issued it.
const REFRESH_COOKIE: &str = "refreshToken";
const PROVIDER_COOKIE: &str = "token_provider";

/// Sets the refresh cookies of a new or rotated session.
pub(super) fn with_session_cookies(state: &AppState, mut response: Response, refresh_token: &str) -> Response {
    let max_age = state.core.config.refresh_token_ttl.whole_seconds();
    for (name, value) in [(REFRESH_COOKIE, refresh_token), (PROVIDER_COOKIE, "librechat")] {
        SetCookie::new(name, value, SameSite::Strict)
            .max_age(max_age)
            .append_to(&mut response);
    }
    response
}

async fn register(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<RegisterRequest>,
) -> LcResult<Response> {
    let form = SignupForm {
        name: body.name,
        email: body.email,
        // LibreChat stores usernames lower-cased.
        username: body.username.map(|u| u.to_lowercase()),
        password: body.password,
        confirm_password: body.confirm_password,
        invite_token: body.token,
    };
    match state.core.sign_up(form, &verify_page(&state), &meta).await {
        // An address that already has an account gets the same answer (no enumeration).
        Ok(_) | Err(Error::Conflict { field: "email" }) => {
            Ok(axum::Json(json!({ "message": CHECK_YOUR_EMAIL })).into_response())
        }
        Err(Error::RegistrationDisabled) => {
            Err(LcError::message(StatusCode::FORBIDDEN, "Registration is not allowed."))
        }
        Err(Error::RateLimited { retry_after }) => {
            let minutes = state.core.rate_of(Limit::Register).window.whole_minutes().max(1);
            Err(rate_limited(
                retry_after,
                &format!("Too many accounts created, please try again after {minutes} minutes"),
            ))
        }
        Err(e @ Error::Invalid { .. }) => Err(LcError::message(StatusCode::NOT_FOUND, message_of(&e))),
        Err(Error::Conflict { .. }) => Err(LcError::message(StatusCode::CONFLICT, "Username is already taken.")),
        Err(e) => Err(from_core(e)),
    }
}

async fn login(State(state): State<AppState>, Meta(meta): Meta, Json(body): Json<LoginRequest>) -> LcResult<Response> {
    if body.email.trim().is_empty() || body.password.is_empty() {
        return Err(LcError::message(StatusCode::NOT_FOUND, "Missing credentials"));
    }
    let outcome = match state.core.login(&body.email, &body.password, &meta).await {
        Ok(o) => o,
        Err(Error::InvalidCredentials) => {
            return Err(LcError::message(
                StatusCode::NOT_FOUND,
                "Email does not exist or the password is incorrect.",
            ));
        }
        Err(Error::EmailNotVerified) => {
            return Err(LcError::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Email not verified.",
            ));
        }
        Err(Error::TwoFactorRequired(challenge)) => {
            let factor = SecondFactor::from_parts(body.token.as_deref(), body.backup_code.as_deref());
            return super::two_factor::login_needs_second_factor(&state, challenge, factor, &meta).await;
        }
        Err(Error::RateLimited { retry_after }) => {
            let minutes = retry_after.as_secs().div_ceil(60).max(1);
            return Err(rate_limited(
                retry_after,
                &format!("Too many login attempts, please try again after {minutes} minutes."),
            ));
        }
        Err(e) => return Err(from_core(e)),
    };
    let Some(tokens) = outcome.tokens else {
        return Err(LcError::message(
            StatusCode::FORBIDDEN,
            "The account is awaiting approval",
        ));
    };
    let body = TokenResponse {
        token: tokens.access_token,
        user: user_json(&state, &outcome.user),
    };
    Ok(with_session_cookies(
        &state,
        axum::Json(body).into_response(),
        &tokens.refresh_token,
    ))
}

async fn refresh(State(state): State<AppState>, headers: HeaderMap) -> LcResult<Response> {
    let Some(token) = cookie::get(&headers, REFRESH_COOKIE) else {
        return Ok((StatusCode::OK, "Refresh token not provided").into_response());
    };
    let outcome = match state.core.refresh(&token).await {
        Ok(o) => o,
        Err(Error::InvalidToken) => return Err(LcError::text(StatusCode::FORBIDDEN, "Invalid refresh token")),
        Err(e @ (Error::Unavailable | Error::Internal(_))) => return Err(from_core(e)),
        Err(_) => {
            return Err(LcError::text(
                StatusCode::UNAUTHORIZED,
                "Refresh token expired or not found for this user",
            ));
        }
    };
    let Some(tokens) = outcome.tokens else {
        return Err(LcError::text(StatusCode::FORBIDDEN, "Invalid refresh token"));
    };
    let body = TokenResponse {
        token: tokens.access_token,
        user: user_json(&state, &outcome.user),
    };
    Ok(with_session_cookies(
        &state,
        axum::Json(body).into_response(),
        &tokens.refresh_token,
    ))
}

async fn logout(State(state): State<AppState>, Auth(actor): Auth, headers: HeaderMap) -> LcResult<Response> {
    state.core.logout(&actor).await?;
    if let Some(token) = cookie::get(&headers, REFRESH_COOKIE) {
        state.core.logout_refresh_token(&token).await?;
    }
    let mut response = axum::Json(json!({ "message": "Logout successful" })).into_response();
    for name in [REFRESH_COOKIE, PROVIDER_COOKIE] {
        SetCookie::removal(name, SameSite::Strict).append_to(&mut response);
    }
    Ok(response)
}

async fn request_password_reset(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<EmailRequest>,
) -> LcResult<axum::Json<Value>> {
    // Roster's own page (at the root, whatever the prefix) serves the link.
    let page = crate::pages::RESET_PASSWORD_PATH;
    match state
        .core
        .request_password_reset(&body.email, &meta, page, |u| u.id.to_object_id())
        .await
    {
        Ok(()) => Ok(axum::Json(json!({ "message": RESET_REQUESTED }))),
        Err(Error::RateLimited { retry_after }) => Err(rate_limited(
            retry_after,
            &too_many_attempts(&state, Limit::PasswordReset),
        )),
        Err(e @ Error::Invalid { .. }) => Err(LcError::message(StatusCode::BAD_REQUEST, message_of(&e))),
        Err(e) => Err(from_core(e)),
    }
}

async fn reset_password(
    State(state): State<AppState>,
    Json(body): Json<ResetPasswordRequest>,
) -> LcResult<axum::Json<Value>> {
    let invalid_token = || LcError::message(StatusCode::BAD_REQUEST, "Invalid or expired password reset token");
    if body.token.trim().is_empty() {
        return Err(invalid_token());
    }
    let user = match body.user_id.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => Some(UserId::from_object_id(u).map_err(|_| invalid_token())?),
        None => None,
    };
    match state
        .core
        .reset_password_confirmed(&body.token, &body.password, body.confirm_password.as_deref(), user)
        .await
    {
        Ok(_) => Ok(axum::Json(json!({ "message": "Password reset was successful" }))),
        Err(Error::Invalid { field: "token", .. }) => Err(invalid_token()),
        Err(e) => Err(from_core(e)),
    }
}

async fn user_get(State(state): State<AppState>, Auth(actor): Auth) -> LcResult<axum::Json<UserBody>> {
    let mut body = user_json(&state, &actor.user);
    body.two_factor_enabled = state.core.two_factor_enabled(actor.user.id).await?;
    Ok(axum::Json(body))
}

async fn plugins_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<PluginsRequest>,
) -> LcResult<Response> {
    let change = match (body.plugins, body.plugin_key, body.action.as_deref()) {
        (Some(list), _, _) => {
            let user = state.core.update_plugins(&actor, PluginChange::Set(list)).await?;
            return Ok(axum::Json(user_json(&state, &user)).into_response());
        }
        (None, Some(key), Some("install")) => PluginChange::Install(key),
        (None, Some(key), Some("uninstall")) => PluginChange::Uninstall(key),
        (None, Some(_), _) => {
            return Err(LcError::message(
                StatusCode::BAD_REQUEST,
                "action must be install or uninstall",
            ));
        }
        (None, None, _) => {
            return Err(LcError::message(
                StatusCode::BAD_REQUEST,
                "plugins or pluginKey is required",
            ));
        }
    };
    state.core.update_plugins(&actor, change).await?;
    Ok(StatusCode::OK.into_response())
}

async fn preferences_patch(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<serde_json::Map<String, Value>>,
) -> LcResult<axum::Json<Value>> {
    let user = state.core.update_personalization(&actor, body).await?;
    Ok(axum::Json(
        json!({ "updated": true, "preferences": map::personalization(&user) }),
    ))
}

async fn set_key(state: &AppState, actor: &Actor, key: &str, value: Value) -> LcResult<Value> {
    let mut change = serde_json::Map::new();
    change.insert(key.to_string(), value);
    let user = state.core.set_preference_keys(actor, change).await?;
    Ok(user.preferences.get(key).cloned().unwrap_or(Value::Null))
}

async fn favorites_get(Auth(actor): Auth) -> axum::Json<Value> {
    preference(&actor, "favorites", json!([]))
}

/// One of the user's LibreChat preferences, or `default` when never set.
fn preference(actor: &roster_core::Actor, key: &str, default: Value) -> axum::Json<Value> {
    axum::Json(actor.user.preferences.get(key).cloned().unwrap_or(default))
}

async fn favorites_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<FavoritesRequest>,
) -> LcResult<axum::Json<Value>> {
    Ok(axum::Json(
        set_key(&state, &actor, "favorites", Value::Array(body.favorites)).await?,
    ))
}

async fn pinned_order_get(Auth(actor): Auth) -> axum::Json<Value> {
    preference(&actor, "pinnedOrder", json!([]))
}

async fn pinned_order_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<PinnedOrderRequest>,
) -> LcResult<axum::Json<Value>> {
    Ok(axum::Json(
        set_key(&state, &actor, "pinnedOrder", json!(body.pinned_order)).await?,
    ))
}

async fn skills_get(Auth(actor): Auth) -> axum::Json<Value> {
    preference(&actor, "skillStates", json!({}))
}

async fn skills_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<SkillStatesRequest>,
) -> LcResult<axum::Json<Value>> {
    Ok(axum::Json(
        set_key(&state, &actor, "skillStates", Value::Object(body.skill_states)).await?,
    ))
}

async fn tool_favorites_get(Auth(actor): Auth) -> axum::Json<Value> {
    preference(&actor, "toolFavorites", json!([]))
}

async fn tool_favorite_put(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((item_type, item_id)): Path<(String, String)>,
) -> LcResult<axum::Json<Value>> {
    state
        .core
        .update_tool_favorites(&actor, &item_type, &item_id, true)
        .await?;
    Ok(axum::Json(json!({ "itemType": item_type, "itemId": item_id })))
}

async fn tool_favorite_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((item_type, item_id)): Path<(String, String)>,
) -> LcResult<axum::Json<Value>> {
    state
        .core
        .update_tool_favorites(&actor, &item_type, &item_id, false)
        .await?;
    Ok(axum::Json(json!({ "ok": true })))
}

async fn user_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    OptionalJson(body): OptionalJson<super::two_factor::TotpRequest>,
) -> LcResult<axum::Json<Value>> {
    let factor = body.and_then(|b| SecondFactor::from_parts(b.token.as_deref(), b.backup_code.as_deref()));
    match state.core.delete_own_account_with_factor(&actor, factor.as_ref()).await {
        Ok(()) => Ok(axum::Json(json!({ "message": "User account deleted successfully" }))),
        Err(Error::Forbidden(ADMIN_CANNOT_DELETE_SELF)) => Err(LcError::message(
            StatusCode::FORBIDDEN,
            "Administrators cannot delete their own account",
        )),
        Err(Error::Forbidden(SESSION_REQUIRED)) => Err(LcError::message(
            StatusCode::FORBIDDEN,
            "An API key cannot delete the account: sign in",
        )),
        Err(Error::Forbidden(_)) => Err(LcError::json(
            StatusCode::FORBIDDEN,
            json!({ "error": "Forbidden", "message": "Account deletion is disabled" }),
        )),
        Err(e) => Err(super::two_factor::deletion_refusal(e)),
    }
}

fn verification_failed() -> LcError {
    LcError::json(
        StatusCode::BAD_REQUEST,
        json!({
            "error": "Invalid or expired verification token",
            "message": "Invalid or expired email verification token",
        }),
    )
}

async fn verify(
    state: &AppState,
    token: &str,
    email: Option<&str>,
    user_id: Option<&str>,
) -> LcResult<axum::Json<Value>> {
    // LibreChat's client may send the address URI-encoded, as it appears in the link.
    let email = email.map(map::percent_decode);
    let user = match user_id.filter(|u| !u.is_empty()) {
        Some(u) => Some(UserId::from_object_id(u).map_err(|_| verification_failed())?),
        None => None,
    };
    match state.core.verify_email(token, email.as_deref(), user).await {
        Ok(_) => Ok(axum::Json(
            json!({ "message": "Email verified successfully", "status": "success" }),
        )),
        Err(Error::Invalid { .. } | Error::NotFound(_)) => Err(verification_failed()),
        Err(e) => Err(from_core(e)),
    }
}

async fn verify_post(State(state): State<AppState>, Json(body): Json<VerifyRequest>) -> LcResult<axum::Json<Value>> {
    verify(&state, &body.token, body.email.as_deref(), body.user_id.as_deref()).await
}

#[derive(Debug, serde::Deserialize)]
struct VerifyLink {
    #[serde(default)]
    token: String,
    email: Option<String>,
}

/// The page a verification mail links to: verifies and says so.
async fn verify_link(State(state): State<AppState>, Query(query): Query<VerifyLink>) -> LcResult<axum::Json<Value>> {
    verify(&state, &query.token, query.email.as_deref(), None).await
}

async fn verify_resend(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<EmailRequest>,
) -> LcResult<axum::Json<Value>> {
    match state
        .core
        .resend_verification(&body.email, &meta, &verify_page(&state))
        .await
    {
        Ok(()) => Ok(axum::Json(json!({ "message": CHECK_YOUR_EMAIL }))),
        Err(Error::RateLimited { retry_after }) => Err(rate_limited(
            retry_after,
            "Please wait before requesting another verification email",
        )),
        Err(e @ Error::Invalid { .. }) => Err(LcError::message(StatusCode::BAD_REQUEST, message_of(&e))),
        Err(e) => Err(from_core(e)),
    }
}

async fn terms_get(State(state): State<AppState>, Auth(actor): Auth) -> LcResult<axum::Json<TermsBody>> {
    let status = state.core.terms_status(&actor).await?;
    Ok(axum::Json(map::terms_body(&actor.user, &status)))
}

async fn terms_accept(State(state): State<AppState>, Auth(actor): Auth) -> LcResult<axum::Json<Value>> {
    let status = state.core.accept_terms(&actor).await?;
    Ok(axum::Json(json!({
        "message": "Terms accepted",
        "termsAccepted": status.accepted,
        "termsVersion": status.version,
        "termsAcceptedAt": status.accepted_at.map(map::iso),
    })))
}

async fn balance_get(State(state): State<AppState>, Auth(actor): Auth) -> LcResult<axum::Json<BalanceBody>> {
    let balance = state.core.balance_details(&actor).await?;
    Ok(axum::Json(map::balance_body(&balance)))
}

async fn avatar_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    mut multipart: Multipart,
) -> LcResult<axum::Json<AvatarBody>> {
    let too_large = || LcError::message(StatusCode::PAYLOAD_TOO_LARGE, "The image is too large");
    let mut file = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(LcError::message(StatusCode::BAD_REQUEST, e.body_text())),
        };
        if field.name() == Some("file") {
            match field.bytes().await {
                Ok(b) => file = Some(b.to_vec()),
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                Err(e) => return Err(LcError::message(StatusCode::BAD_REQUEST, e.body_text())),
            }
        }
    }
    let Some(bytes) = file else {
        return Err(LcError::message(
            StatusCode::BAD_REQUEST,
            "A file field named file is required",
        ));
    };
    let base = format!("{}/avatars", prefix(&state));
    match state.core.set_avatar(&actor, bytes, &base).await {
        Ok((_, url)) => Ok(axum::Json(AvatarBody {
            filepath: url.clone(),
            url,
        })),
        Err(Error::TooLarge(_)) => Err(too_large()),
        Err(e) => Err(from_core(e)),
    }
}

async fn avatar_get(State(state): State<AppState>, Path(file): Path<String>) -> LcResult<Response> {
    let bytes = state
        .core
        .read_avatar(&file)
        .await
        .map_err(|_| LcError::message(StatusCode::NOT_FOUND, "Not Found"))?;
    Ok(crate::dialect::avatar_response(&file, bytes))
}
