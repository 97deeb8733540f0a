//! Plexichat's request and response bodies (`src/api/schemas/*.py` of Plexichat): ids are
//! snowflakes as decimal strings, times are Unix seconds.

use serde::{Deserialize, Serialize};

use crate::extract::double_option;

/// The full user object, for the user themself (`GET /users/@me`).
#[derive(Debug, Serialize)]
pub struct PrivateUser {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub created_at: i64,
    pub email_verified: bool,
    pub totp_enabled: bool,
    pub age_verified: bool,
    pub badges: Vec<String>,
}

/// The public user object, for everyone else: never an email or a private flag.
#[derive(Debug, Serialize)]
pub struct PublicUser {
    pub id: String,
    pub username: String,
    pub avatar_url: Option<String>,
    pub created_at: i64,
    pub badges: Vec<String>,
}

/// `PATCH /users/@me`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub current_password: Option<String>,
}

/// Messaging settings.
#[derive(Debug, Serialize)]
pub struct MessagingSettingsBody {
    pub user_id: String,
    pub read_receipts_enabled: bool,
    pub typing_indicators_enabled: bool,
    pub compact_messages_enabled: bool,
    pub allow_dms_from: &'static str,
    pub auto_create_dms: bool,
    pub max_message_length: Option<i64>,
    pub max_attachment_size: Option<i64>,
    pub max_attachments_per_message: Option<i64>,
}

/// `PATCH /users/@me/messaging-settings`: every field optional. The limits are listed so
/// that a user trying to change them is told they may not.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingSettingsPatch {
    pub read_receipts_enabled: Option<bool>,
    pub typing_indicators_enabled: Option<bool>,
    pub compact_messages_enabled: Option<bool>,
    pub allow_dms_from: Option<String>,
    pub auto_create_dms: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    pub max_message_length: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub max_attachment_size: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub max_attachments_per_message: Option<Option<i64>>,
}

/// `POST /users/@me/avatar`.
#[derive(Debug, Serialize)]
pub struct AvatarBody {
    pub success: bool,
    pub avatar_url: String,
    pub width: u32,
    pub height: u32,
    pub size: usize,
    pub animated: bool,
}

/// The personal notes channel.
#[derive(Debug, Serialize)]
pub struct NotesChannelBody {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub last_message_id: Option<String>,
    pub last_message_at: Option<i64>,
}

/// The other member of a direct message.
#[derive(Debug, Serialize)]
pub struct RecipientBody {
    pub id: String,
    pub username: String,
}

/// A direct-message channel.
#[derive(Debug, Serialize)]
pub struct DmChannelBody {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub recipient_id: String,
    pub recipient: RecipientBody,
    pub last_message_id: Option<String>,
    pub last_message_at: Option<i64>,
}

/// `GET /users/@me/settings`.
#[derive(Debug, Serialize)]
pub struct SettingsBody {
    pub settings: std::collections::BTreeMap<String, String>,
    pub count: usize,
    pub limit: usize,
}

/// One setting; times in milliseconds, as Plexichat stores them.
#[derive(Debug, Serialize)]
pub struct SettingBody {
    pub key: String,
    pub value: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Plexichat's `SuccessResponse`.
#[derive(Debug, Serialize)]
pub struct SuccessBody {
    pub success: bool,
    pub message: Option<&'static str>,
}

/// A badge with how Plexichat shows it (`BadgeInfo`).
#[derive(Debug, Serialize)]
pub struct BadgeInfoBody {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub icon: String,
    pub color: String,
}

/// A tier's limits (`TierLimitsResponse`).
#[derive(Debug, Serialize)]
pub struct TierLimitsBody {
    pub name: String,
    pub multiplier: f64,
    pub max_voice_minutes_per_day: serde_json::Number,
    pub max_video_minutes_per_day: serde_json::Number,
    pub max_file_uploads_per_day: serde_json::Number,
    pub max_file_size_mb: serde_json::Number,
    pub max_servers: serde_json::Number,
    pub max_message_length: serde_json::Number,
    pub max_reactions_per_message: serde_json::Number,
    pub max_pins_per_channel: serde_json::Number,
    pub custom_emoji_slots: serde_json::Number,
}

/// `GET /users/@me/features` (`PublicFeaturesResponse`).
#[derive(Debug, Serialize)]
pub struct PublicFeaturesBody {
    pub badges: Vec<BadgeInfoBody>,
    pub tier: String,
    pub tier_limits: TierLimitsBody,
}

/// `GET/PUT /admin/users/{user_id}/features` (`UserFeaturesResponse`); `expires_at` in
/// milliseconds.
#[derive(Debug, Serialize)]
pub struct UserFeaturesBody {
    pub user_id: String,
    pub rate_limit_tier: String,
    pub badges: Vec<String>,
    pub tier_limits: TierLimitsBody,
    pub expires_at: Option<i64>,
}

/// `PUT /admin/users/{user_id}/features` (`UpdateFeaturesRequest`): a null or absent field
/// is left as it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateFeaturesRequest {
    pub rate_limit_tier: Option<String>,
    pub expires_at: Option<i64>,
    pub notes: Option<String>,
}

/// `PUT /admin/users/{user_id}/tier` (`UserTierUpdate`, with the `expires_at` of
/// Plexichat's documentation).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetTierRequest {
    pub tier: String,
    pub expires_at: Option<i64>,
}

/// `GET /admin/tiers` (`TiersResponse`).
#[derive(Debug, Serialize)]
pub struct TiersBody {
    pub tiers: std::collections::BTreeMap<String, TierLimitsBody>,
    pub default: String,
}

/// `GET /admin/badges` (`BadgesResponse`).
#[derive(Debug, Serialize)]
pub struct BadgesBody {
    pub badges: Vec<BadgeInfoBody>,
}

/// A badge change (`UserBadgeUpdateResponse`).
#[derive(Debug, Serialize)]
pub struct BadgeUpdateBody {
    pub success: bool,
    pub badges: Vec<String>,
}
