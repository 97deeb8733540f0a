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
