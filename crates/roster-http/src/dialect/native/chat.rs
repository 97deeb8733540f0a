//! The native routes of the chat products' social features: blocks and friends (the
//! caller's), badges (given by administrators), messaging settings (limits set by
//! administrators) and the last message of a channel (recorded by the messaging service).
//! Registered with the other native routes and documented in the same OpenAPI document.

use super::map::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Json, double_option, parse_id};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::chat::{AllowDmsFrom, Block, Channel, Friendship, MessagingSettings, MessagingSettingsChange};
use roster_core::id::ChannelId;
use roster_core::{Error, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<T, ApiError>;

/// Adds these routes to the native router.
pub(super) fn register(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(me_blocks_get))
        .routes(routes!(me_blocks_id_put, me_blocks_id_delete))
        .routes(routes!(me_friends_get))
        .routes(routes!(me_friends_id_post, me_friends_id_delete))
        .routes(routes!(me_friends_id_accept_post))
        .routes(routes!(users_id_badges_get))
        .routes(routes!(users_id_badges_badge_put, users_id_badges_badge_delete))
        .routes(routes!(
            users_id_messaging_settings_get,
            users_id_messaging_settings_patch
        ))
        .routes(routes!(channels_id_last_message_put))
}

/// A user the caller blocks.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockBody {
    /// Decimal id of the blocked user.
    pub user_id: String,
    /// RFC 3339.
    pub created_at: String,
}

/// The users the caller blocks, the latest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockListBody {
    pub blocks: Vec<BlockBody>,
}

/// A friendship or friend request, seen from the caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FriendBody {
    /// Decimal id of the other user.
    pub user_id: String,
    /// `friends`, `outgoing` (the caller asked) or `incoming` (the other user asked).
    pub status: String,
    /// RFC 3339: when the request was sent.
    pub created_at: String,
    /// RFC 3339: when it was accepted.
    pub accepted_at: Option<String>,
}

/// The caller's friends and friend requests, the latest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FriendListBody {
    pub friends: Vec<FriendBody>,
}

/// A user's badges, in the order they were given.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BadgesBody {
    pub badges: Vec<String>,
}

/// A user's messaging settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessagingSettingsBody {
    pub user_id: String,
    pub read_receipts_enabled: bool,
    pub typing_indicators_enabled: bool,
    pub compact_messages_enabled: bool,
    /// `everyone`, `friends` or `none`.
    pub allow_dms_from: String,
    pub auto_create_dms: bool,
    /// Set by administrators; null: no limit.
    pub max_message_length: Option<i64>,
    pub max_attachment_size: Option<i64>,
    pub max_attachments_per_message: Option<i64>,
}

/// Changes messaging settings; absent fields are kept. The limits are for administrators
/// (`null` removes one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagingSettingsRequest {
    pub read_receipts_enabled: Option<bool>,
    pub typing_indicators_enabled: Option<bool>,
    pub compact_messages_enabled: Option<bool>,
    /// `everyone`, `friends` or `none`.
    pub allow_dms_from: Option<String>,
    pub auto_create_dms: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub max_message_length: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub max_attachment_size: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub max_attachments_per_message: Option<Option<i64>>,
}

/// A channel: personal notes or a direct message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelBody {
    pub id: String,
    /// `notes` or `dm`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Decimal ids of the members (one for notes).
    pub member_ids: Vec<String>,
    pub name: Option<String>,
    pub last_message_id: Option<String>,
    /// RFC 3339.
    pub last_message_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// The last message of a channel, as the messaging service reports it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LastMessageRequest {
    /// Decimal snowflake id of the message.
    pub message_id: String,
    /// RFC 3339; default: the time in the message id.
    pub at: Option<String>,
}

fn block_body(b: Block) -> BlockBody {
    BlockBody {
        user_id: b.blocked.to_string(),
        created_at: rfc3339(b.created_at),
    }
}

fn friend_body(me: UserId, f: Friendship) -> FriendBody {
    let status = if f.is_accepted() {
        "friends"
    } else if f.requester == me {
        "outgoing"
    } else {
        "incoming"
    };
    FriendBody {
        user_id: f.other(me).to_string(),
        status: status.to_string(),
        created_at: rfc3339(f.created_at),
        accepted_at: f.accepted_at.map(rfc3339),
    }
}

fn settings_body(s: MessagingSettings) -> MessagingSettingsBody {
    MessagingSettingsBody {
        user_id: s.user_id.to_string(),
        read_receipts_enabled: s.read_receipts_enabled,
        typing_indicators_enabled: s.typing_indicators_enabled,
        compact_messages_enabled: s.compact_messages_enabled,
        allow_dms_from: s.allow_dms_from.as_str().to_string(),
        auto_create_dms: s.auto_create_dms,
        max_message_length: s.max_message_length,
        max_attachment_size: s.max_attachment_size,
        max_attachments_per_message: s.max_attachments_per_message,
    }
}

fn channel_body(c: Channel) -> ChannelBody {
    let mut member_ids = vec![c.user_low.to_string()];
    if c.user_high != c.user_low {
        member_ids.push(c.user_high.to_string());
    }
    ChannelBody {
        id: c.id.to_string(),
        kind: c.kind.as_str().to_string(),
        member_ids,
        name: c.name,
        last_message_id: c.last_message_id.map(|m| m.to_string()),
        last_message_at: c.last_message_at.map(rfc3339),
        created_at: rfc3339(c.created_at),
    }
}

/// The users the caller blocks.
#[utoipa::path(get, path = "/v1/me/blocks", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = BlockListBody), (status = 401, body = Problem)))]
async fn me_blocks_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<BlockListBody>> {
    let blocks = state.core.list_blocked_users(&actor).await?;
    Ok(axum::Json(BlockListBody {
        blocks: blocks.into_iter().map(block_body).collect(),
    }))
}

/// Blocks a user: ends any friendship or friend request with them; they can no longer open a
/// direct message with the caller or send a friend request.
#[utoipa::path(put, path = "/v1/me/blocks/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = BlockBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn me_blocks_id_put(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<BlockBody>> {
    let id: UserId = parse_id(&id)?;
    Ok(axum::Json(block_body(state.core.block_user(&actor, id).await?)))
}

/// Lifts a block.
#[utoipa::path(delete, path = "/v1/me/blocks/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn me_blocks_id_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: UserId = parse_id(&id)?;
    state.core.unblock_user(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's friends and friend requests (sent and received).
#[utoipa::path(get, path = "/v1/me/friends", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = FriendListBody), (status = 401, body = Problem)))]
async fn me_friends_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<FriendListBody>> {
    let me = actor.user.id;
    let friends = state.core.list_friendships(&actor).await?;
    Ok(axum::Json(FriendListBody {
        friends: friends.into_iter().map(|f| friend_body(me, f)).collect(),
    }))
}

/// Sends a friend request (accepting theirs if the user asked first).
#[utoipa::path(post, path = "/v1/me/friends/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = FriendBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "either user blocks the other"), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn me_friends_id_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<FriendBody>> {
    let id: UserId = parse_id(&id)?;
    let friendship = state.core.send_friend_request(&actor, id).await?;
    Ok(axum::Json(friend_body(actor.user.id, friendship)))
}

/// Accepts the friend request the user sent the caller.
#[utoipa::path(post, path = "/v1/me/friends/{id}/accept", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = FriendBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn me_friends_id_accept_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<FriendBody>> {
    let id: UserId = parse_id(&id)?;
    let friendship = state.core.accept_friend_request(&actor, id).await?;
    Ok(axum::Json(friend_body(actor.user.id, friendship)))
}

/// Ends a friendship, or withdraws or declines a friend request.
#[utoipa::path(delete, path = "/v1/me/friends/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn me_friends_id_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: UserId = parse_id(&id)?;
    state.core.remove_friend(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's badges (anyone signed in: badges are public).
#[utoipa::path(get, path = "/v1/users/{id}/badges", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = BadgesBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn users_id_badges_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<BadgesBody>> {
    let id: UserId = parse_id(&id)?;
    let user = state.core.public_profile(&actor, id).await?;
    Ok(axum::Json(BadgesBody {
        badges: state.core.badges_of(user.id).await?,
    }))
}

/// Gives a user a badge (administrators); answers the user's badges.
#[utoipa::path(put, path = "/v1/users/{id}/badges/{badge}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id"),
        ("badge" = String, Path, description = "1 to 32 letters, digits, _ and -")),
    responses((status = 200, body = BadgesBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn users_id_badges_badge_put(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((id, badge)): Path<(String, String)>,
) -> ApiResult<axum::Json<BadgesBody>> {
    let id: UserId = parse_id(&id)?;
    Ok(axum::Json(BadgesBody {
        badges: state.core.add_badge(&actor, id, &badge).await?,
    }))
}

/// Takes a badge from a user (administrators); answers the user's badges.
#[utoipa::path(delete, path = "/v1/users/{id}/badges/{badge}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id"), ("badge" = String, Path, description = "the badge")),
    responses((status = 200, body = BadgesBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn users_id_badges_badge_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((id, badge)): Path<(String, String)>,
) -> ApiResult<axum::Json<BadgesBody>> {
    let id: UserId = parse_id(&id)?;
    Ok(axum::Json(BadgesBody {
        badges: state.core.remove_badge(&actor, id, &badge).await?,
    }))
}

/// A user's messaging settings (the user, or administrators).
#[utoipa::path(get, path = "/v1/users/{id}/messaging-settings", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = MessagingSettingsBody), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn users_id_messaging_settings_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<MessagingSettingsBody>> {
    let id: UserId = parse_id(&id)?;
    Ok(axum::Json(settings_body(
        state.core.messaging_settings(&actor, id).await?,
    )))
}

/// Changes a user's messaging settings: preferences (the user, or administrators), limits
/// (administrators only).
#[utoipa::path(patch, path = "/v1/users/{id}/messaging-settings", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")), request_body = MessagingSettingsRequest,
    responses((status = 200, body = MessagingSettingsBody), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn users_id_messaging_settings_patch(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(body): Json<MessagingSettingsRequest>,
) -> ApiResult<axum::Json<MessagingSettingsBody>> {
    let id: UserId = parse_id(&id)?;
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
    Ok(axum::Json(settings_body(
        state.core.update_messaging_settings(&actor, id, change).await?,
    )))
}

/// Records a channel's last message (a member of the channel, or an administrator: the
/// messaging service). An older message than the one recorded changes nothing.
#[utoipa::path(put, path = "/v1/channels/{id}/last-message", tag = "chat", security(("bearer" = [])),
    params(("id" = String, Path, description = "channel id")), request_body = LastMessageRequest,
    responses((status = 200, body = ChannelBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn channels_id_last_message_put(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(body): Json<LastMessageRequest>,
) -> ApiResult<axum::Json<ChannelBody>> {
    let id: ChannelId = parse_id(&id)?;
    let message_id = body
        .message_id
        .parse::<i64>()
        .ok()
        .filter(|m| *m > 0 && !body.message_id.starts_with('+'))
        .ok_or_else(|| Error::invalid("message_id", "must be a decimal snowflake id"))?;
    let at = body
        .at
        .as_deref()
        .map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map_err(|_| Error::invalid("at", "must be an RFC 3339 time"))
        })
        .transpose()?;
    Ok(axum::Json(channel_body(
        state.core.record_last_message(&actor, id, message_id, at).await?,
    )))
}
