//! Pure mapping between the core's types and Plexichat's shapes.

use super::dto::*;
use roster_core::User;
use roster_core::chat::{Channel, MessagingSettings};

/// The mount prefix without a trailing slash (`""` at the root).
pub fn normalize_prefix(prefix: &str) -> String {
    let p = prefix.trim().trim_matches('/');
    if p.is_empty() { String::new() } else { format!("/{p}") }
}

/// An avatar reference as an absolute URL: paths of this server are prefixed with its public
/// URL (as Plexichat answers `https://api.plexichat.com/avatars/...`); URLs stay as they are.
pub fn avatar_url(public_url: &str, avatar: Option<&str>) -> Option<String> {
    avatar.map(|a| {
        if a.starts_with('/') {
            format!("{}{a}", public_url.trim_end_matches('/'))
        } else {
            a.to_string()
        }
    })
}

/// The name shown for a user: the username, else the display name (never the email).
pub fn shown_username(user: &User) -> String {
    user.username.clone().or_else(|| user.name.clone()).unwrap_or_default()
}

/// The full object for the user themself.
pub fn private_user(user: &User, public_url: &str, badges: Vec<String>, totp_enabled: bool) -> PrivateUser {
    PrivateUser {
        id: user.id.to_string(),
        username: shown_username(user),
        email: user.email.clone(),
        avatar_url: avatar_url(public_url, user.avatar.as_deref()),
        created_at: user.created_at.unix_timestamp(),
        email_verified: user.email_verified,
        totp_enabled,
        // Roster does not verify ages.
        age_verified: false,
        badges,
    }
}

/// The public object, for everyone.
pub fn public_user(user: &User, public_url: &str, badges: Vec<String>) -> PublicUser {
    PublicUser {
        id: user.id.to_string(),
        username: shown_username(user),
        avatar_url: avatar_url(public_url, user.avatar.as_deref()),
        created_at: user.created_at.unix_timestamp(),
        badges,
    }
}

pub fn messaging_settings(s: &MessagingSettings) -> MessagingSettingsBody {
    MessagingSettingsBody {
        user_id: s.user_id.to_string(),
        read_receipts_enabled: s.read_receipts_enabled,
        typing_indicators_enabled: s.typing_indicators_enabled,
        compact_messages_enabled: s.compact_messages_enabled,
        allow_dms_from: s.allow_dms_from.as_str(),
        auto_create_dms: s.auto_create_dms,
        max_message_length: s.max_message_length,
        max_attachment_size: s.max_attachment_size,
        max_attachments_per_message: s.max_attachments_per_message,
    }
}

pub fn notes_channel(c: &Channel) -> NotesChannelBody {
    NotesChannelBody {
        id: c.id.to_string(),
        kind: c.kind.as_str(),
        name: c.name.clone().unwrap_or_default(),
        last_message_id: c.last_message_id.map(|m| m.to_string()),
        last_message_at: c.last_message_at.map(|t| t.unix_timestamp()),
    }
}

pub fn dm_channel(c: &Channel, recipient: &User) -> DmChannelBody {
    DmChannelBody {
        id: c.id.to_string(),
        kind: c.kind.as_str(),
        recipient_id: recipient.id.to_string(),
        recipient: RecipientBody {
            id: recipient.id.to_string(),
            username: shown_username(recipient),
        },
        last_message_id: c.last_message_id.map(|m| m.to_string()),
        last_message_at: c.last_message_at.map(|t| t.unix_timestamp()),
    }
}

/// Parses a snowflake as Plexichat accepts it: a JSON integer or a numeric string, positive.
pub fn snowflake(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => snowflake_str(s),
        _ => None,
    }
    .filter(|v| *v > 0)
}

/// Parses a snowflake from its decimal string (digits only, positive, within 63 bits).
pub fn snowflake_str(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snowflakes_parse_like_plexichat() {
        assert_eq!(snowflake(&json!("123456789012345678")), Some(123_456_789_012_345_678));
        assert_eq!(snowflake(&json!(42)), Some(42));
        assert_eq!(snowflake(&json!("12a")), None);
        assert_eq!(snowflake(&json!("-5")), None);
        assert_eq!(snowflake(&json!("+5")), None);
        assert_eq!(snowflake(&json!(1.5)), None);
        assert_eq!(snowflake(&json!("99999999999999999999")), None);
        assert_eq!(snowflake(&json!(null)), None);
        assert_eq!(snowflake(&json!(0)), None);
    }

    #[test]
    fn avatar_paths_become_absolute() {
        assert_eq!(
            avatar_url("http://h:1/", Some("/plexichat/avatars/users/a.png")).as_deref(),
            Some("http://h:1/plexichat/avatars/users/a.png")
        );
        assert_eq!(
            avatar_url("http://h:1", Some("https://cdn/x.png")).as_deref(),
            Some("https://cdn/x.png")
        );
        assert_eq!(normalize_prefix("/"), "");
        assert_eq!(normalize_prefix("/plexichat/"), "/plexichat");
    }
}
