//! Plexichat's user routes (`src/api/routes/users/*` of Plexichat). Each handler parses,
//! calls core services, and renders Plexichat's shapes and strings.

use super::dto::*;
use super::error::{self, PlexiError};
use super::map;
use crate::extract::{Auth, Json, Meta};
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use roster_core::chat::{AllowDmsFrom, MessagingSettingsChange};
use roster_core::service::{CANNOT_MESSAGE, ChatAccountChanges, INCORRECT_CURRENT_PASSWORD, LIMITS_ADMIN_ONLY};
use roster_core::{Core, Error, User, UserId};
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, PlexiError>;

/// Mounts the Plexichat routes (paths as Plexichat's own) at `plexichat_prefix`, with every
/// error rendered in Plexichat's shape.
pub fn mount(state: &AppState) -> Router<AppState> {
    let avatar_limit = crate::dialect::avatar_body_limit(state.core.config.avatar_max_bytes);
    let routes = Router::new()
        .route("/users/@me", get(me_get).patch(me_patch))
        .route(
            "/users/@me/messaging-settings",
            get(messaging_settings_get).patch(messaging_settings_patch),
        )
        .route(
            "/users/@me/avatar",
            post(avatar_post).layer(DefaultBodyLimit::max(avatar_limit)),
        )
        .route("/users/@me/notes", get(notes_get))
        .route("/users/@me/channels", get(channels_get).post(channels_post))
        .route("/users/search", get(search_get))
        .route("/users/{user_id}", get(user_get))
        .route("/avatars/users/{file}", get(avatar_get))
        .route("/auth/verify-email", get(verify_email_get))
        .merge(super::features::routes());
    crate::dialect::mount_at(&state.config.plexichat_prefix, routes, error::render_error)
}

/// The mount prefix of this dialect (`""` at the root).
fn prefix(state: &AppState) -> String {
    map::normalize_prefix(&state.config.plexichat_prefix)
}

/// Whether the user has two-factor authentication on: the one place this dialect asks.
async fn totp_enabled(core: &Core, user: UserId) -> roster_core::Result<bool> {
    core.two_factor_enabled(user).await
}

async fn private_user(state: &AppState, user: &User) -> Result<PrivateUser> {
    let badges = state.core.badges_of(user.id).await?;
    let totp = totp_enabled(&state.core, user.id).await?;
    Ok(map::private_user(user, &state.core.config.public_url, badges, totp))
}

async fn public_user(state: &AppState, user: &User) -> Result<PublicUser> {
    let badges = state.core.badges_of(user.id).await?;
    Ok(map::public_user(user, &state.core.config.public_url, badges))
}

async fn me_get(State(state): State<AppState>, Auth(actor): Auth) -> Result<axum::Json<PrivateUser>> {
    Ok(axum::Json(private_user(&state, &actor.user).await?))
}

async fn me_patch(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Meta(meta): Meta,
    Json(body): Json<UpdateMeRequest>,
) -> Result<axum::Json<PrivateUser>> {
    let changes = ChatAccountChanges {
        username: body.username,
        email: body.email,
        password: body.password,
        current_password: body.current_password,
    };
    let verify_page = format!("{}/auth/verify-email", prefix(&state));
    let user = state
        .core
        .update_chat_account(&actor, changes, &verify_page, &meta)
        .await
        .map_err(|e| match e {
            Error::Invalid {
                field: "current_password",
                ..
            } => PlexiError::Detail(StatusCode::BAD_REQUEST, error::MISSING_CURRENT_PASSWORD),
            Error::Invalid { field: "password", .. } => {
                PlexiError::Detail(StatusCode::BAD_REQUEST, error::WEAK_PASSWORD)
            }
            Error::Forbidden(INCORRECT_CURRENT_PASSWORD) => {
                PlexiError::Detail(StatusCode::FORBIDDEN, error::INCORRECT_CURRENT_PASSWORD)
            }
            e => e.into(),
        })?;
    Ok(axum::Json(private_user(&state, &user).await?))
}

async fn messaging_settings_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<axum::Json<MessagingSettingsBody>> {
    let settings = state.core.messaging_settings(&actor, actor.user.id).await?;
    Ok(axum::Json(map::messaging_settings(&settings)))
}

async fn messaging_settings_patch(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<MessagingSettingsPatch>,
) -> Result<axum::Json<MessagingSettingsBody>> {
    let change = MessagingSettingsChange {
        read_receipts_enabled: body.read_receipts_enabled,
        typing_indicators_enabled: body.typing_indicators_enabled,
        compact_messages_enabled: body.compact_messages_enabled,
        allow_dms_from: body.allow_dms_from.as_deref().map(AllowDmsFrom::parse).transpose()?,
        auto_create_dms: body.auto_create_dms,
        max_message_length: body.max_message_length,
        max_attachment_size: body.max_attachment_size,
        max_attachments_per_message: body.max_attachments_per_message,
    };
    let settings = state
        .core
        .update_messaging_settings(&actor, actor.user.id, change)
        .await
        .map_err(|e| match e {
            Error::Forbidden(LIMITS_ADMIN_ONLY) => PlexiError::Detail(StatusCode::FORBIDDEN, error::LIMITS_READ_ONLY),
            e => e.into(),
        })?;
    Ok(axum::Json(map::messaging_settings(&settings)))
}

async fn avatar_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    mut multipart: Multipart,
) -> Result<axum::Json<AvatarBody>> {
    let too_large = || PlexiError::Detail(StatusCode::BAD_REQUEST, error::FILE_TOO_LARGE);
    let invalid = || PlexiError::Detail(StatusCode::BAD_REQUEST, error::INVALID_FILE_TYPE);
    let mut file = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(_) => return Err(invalid()),
        };
        if field.name() == Some("file") {
            match field.bytes().await {
                Ok(b) => file = Some(b.to_vec()),
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                Err(_) => return Err(invalid()),
            }
        }
    }
    let bytes = file.ok_or_else(invalid)?;
    let base = format!("{}/avatars/users", prefix(&state));
    match state.core.set_avatar_image(&actor, bytes, &base).await {
        Ok((_, stored)) => Ok(axum::Json(AvatarBody {
            success: true,
            avatar_url: map::avatar_url(&state.core.config.public_url, Some(&stored.url)).unwrap_or(stored.url),
            width: stored.width,
            height: stored.height,
            size: stored.size,
            animated: stored.animated,
        })),
        Err(Error::TooLarge(_)) => Err(too_large()),
        Err(Error::Invalid { field: "file", reason }) if reason.contains("too large") => Err(too_large()),
        Err(Error::Invalid { field: "file", .. }) => Err(invalid()),
        Err(e) => Err(e.into()),
    }
}

async fn avatar_get(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response> {
    let bytes = state
        .core
        .read_avatar(&file)
        .await
        .map_err(|_| PlexiError::Detail(StatusCode::NOT_FOUND, "Not found"))?;
    Ok(crate::dialect::avatar_response(&file, bytes))
}

async fn notes_get(State(state): State<AppState>, Auth(actor): Auth) -> Result<axum::Json<NotesChannelBody>> {
    let channel = state.core.notes_channel(&actor).await?;
    Ok(axum::Json(map::notes_channel(&channel)))
}

async fn channels_get(State(state): State<AppState>, Auth(actor): Auth) -> Result<axum::Json<Vec<DmChannelBody>>> {
    let channels = state.core.list_direct_messages(&actor).await?;
    Ok(axum::Json(
        channels
            .iter()
            .map(|(c, recipient)| map::dm_channel(c, recipient))
            .collect(),
    ))
}

/// `POST /users/@me/channels {"recipient_id": "..."}`: the id as a string or an integer.
async fn channels_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<Value>,
) -> Result<axum::Json<DmChannelBody>> {
    let raw = body.get("recipient_id").filter(|v| !v.is_null());
    let Some(raw) = raw else {
        return Err(PlexiError::Detail(StatusCode::BAD_REQUEST, error::RECIPIENT_REQUIRED));
    };
    let Some(recipient) = map::snowflake(raw) else {
        return Err(PlexiError::Detail(StatusCode::BAD_REQUEST, error::INVALID_RECIPIENT_ID));
    };
    let (channel, recipient) = state
        .core
        .open_direct_message(&actor, UserId(recipient))
        .await
        .map_err(|e| match e {
            Error::Forbidden(CANNOT_MESSAGE) => PlexiError::Detail(StatusCode::FORBIDDEN, error::CANNOT_MESSAGE),
            Error::Invalid {
                field: "recipient_id", ..
            } => PlexiError::Detail(StatusCode::BAD_REQUEST, error::CANNOT_MESSAGE_YOURSELF),
            e => e.into(),
        })?;
    Ok(axum::Json(map::dm_channel(&channel, &recipient)))
}

/// `GET /users/search?username=`: exact, case-insensitive.
async fn search_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<PublicUser>> {
    let username = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "username")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let Some(username) = username else {
        return Err(PlexiError::Detail(StatusCode::BAD_REQUEST, error::USERNAME_REQUIRED));
    };
    let user = state.core.find_by_username(&actor, &username).await?;
    Ok(axum::Json(public_user(&state, &user).await?))
}

async fn user_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(user_id): Path<String>,
) -> Result<axum::Json<PublicUser>> {
    let Some(id) = map::snowflake_str(&user_id) else {
        return Err(PlexiError::Detail(StatusCode::BAD_REQUEST, error::INVALID_USER_ID));
    };
    let user = state.core.public_profile(&actor, UserId(id)).await?;
    Ok(axum::Json(public_user(&state, &user).await?))
}

#[derive(Debug, serde::Deserialize)]
struct VerifyLink {
    #[serde(default)]
    token: String,
    email: Option<String>,
}

/// The page a verification mail (sent when the email changes) links to.
async fn verify_email_get(
    State(state): State<AppState>,
    crate::extract::Query(link): crate::extract::Query<VerifyLink>,
) -> Result<axum::Json<Value>> {
    match state.core.verify_email(&link.token, link.email.as_deref(), None).await {
        Ok(_) => Ok(axum::Json(json!({ "success": true, "message": "Email verified" }))),
        Err(Error::Invalid { .. } | Error::NotFound(_)) => {
            Err(PlexiError::Detail(StatusCode::BAD_REQUEST, error::INVALID_VERIFICATION))
        }
        Err(e) => Err(e.into()),
    }
}
