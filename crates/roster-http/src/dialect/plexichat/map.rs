//! Pure mapping between the core's types and Plexichat's shapes.

use super::dto::*;
use roster_core::User;
use roster_core::chat::{Channel, MessagingSettings};
use roster_core::tier::{Tier, UserSetting};
use time::OffsetDateTime;

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

/// Milliseconds since the Unix epoch, as Plexichat's timestamps are.
pub fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A timestamp a Plexichat client sends: milliseconds, as Plexichat's code compares them, or
/// seconds, as its documentation shows them (a value below 10^11 is taken as seconds: in
/// milliseconds it would be in 1973).
pub fn timestamp(raw: i64) -> Option<OffsetDateTime> {
    let nanos = if raw.unsigned_abs() < 100_000_000_000 {
        i128::from(raw) * 1_000_000_000
    } else {
        i128::from(raw) * 1_000_000
    };
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

pub fn setting(s: &UserSetting) -> SettingBody {
    SettingBody {
        key: s.key.clone(),
        value: s.value.clone(),
        created_at: millis(s.created_at),
        updated_at: millis(s.updated_at),
    }
}

/// Plexichat's badges: (name, display name, description, icon, colour), in its order.
pub const BADGES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "alpha_tester",
        "Alpha Tester",
        "Participated in PlexiChat alpha testing",
        "\u{1f9ea}",
        "#9333ea",
    ),
    (
        "early_supporter",
        "Early Supporter",
        "Supported PlexiChat early on",
        "\u{1f48e}",
        "#06b6d4",
    ),
    ("staff", "Staff", "PlexiChat team member", "\u{26a1}", "#ef4444"),
    ("verified", "Verified", "Verified account", "\u{2713}", "#22c55e"),
    (
        "bug_hunter",
        "Bug Hunter",
        "Found and reported bugs",
        "\u{1f41b}",
        "#84cc16",
    ),
    (
        "contributor",
        "Contributor",
        "Contributed to PlexiChat",
        "\u{1f527}",
        "#3b82f6",
    ),
    (
        "moderator",
        "Moderator",
        "Community moderator",
        "\u{1f6e1}\u{fe0f}",
        "#8b5cf6",
    ),
    ("partner", "Partner", "PlexiChat partner", "\u{1f91d}", "#ec4899"),
];

/// Whether Plexichat knows the badge.
pub fn is_plexichat_badge(name: &str) -> bool {
    BADGES.iter().any(|(n, ..)| *n == name)
}

/// How Plexichat shows a badge: its own eight as it defines them; any other (given through
/// the native API) as Plexichat shows an unknown one: the name in title case, a tag, grey.
pub fn badge_info(name: &str) -> BadgeInfoBody {
    if let Some((n, display, description, icon, color)) = BADGES.iter().find(|(n, ..)| *n == name) {
        return BadgeInfoBody {
            name: (*n).into(),
            display_name: (*display).into(),
            description: (*description).into(),
            icon: (*icon).into(),
            color: (*color).into(),
        };
    }
    BadgeInfoBody {
        name: name.into(),
        display_name: title_case(&name.replace('_', " ")),
        description: String::new(),
        icon: "\u{1f3f7}\u{fe0f}".into(),
        color: "#6b7280".into(),
    }
}

/// Python's `str.title()`: a letter after a non-letter is upper-cased, any other lower-cased.
fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_letter = false;
    for c in text.chars() {
        if after_letter {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        after_letter = c.is_alphabetic();
    }
    out
}

/// A tier's limits in Plexichat's shape; a limit the tier does not define has the value of
/// Plexichat's `TierLimits` defaults (those of its `standard` tier).
pub fn tier_limits(tier: &Tier) -> TierLimitsBody {
    let int = |name: &str, default: i64| {
        tier.limits
            .get(name)
            .cloned()
            .unwrap_or_else(|| serde_json::Number::from(default))
    };
    TierLimitsBody {
        name: tier.name.clone(),
        multiplier: tier
            .limits
            .get("multiplier")
            .and_then(serde_json::Number::as_f64)
            .unwrap_or(1.0),
        max_voice_minutes_per_day: int("max_voice_minutes_per_day", 120),
        max_video_minutes_per_day: int("max_video_minutes_per_day", 60),
        max_file_uploads_per_day: int("max_file_uploads_per_day", 50),
        max_file_size_mb: int("max_file_size_mb", 10),
        max_servers: int("max_servers", 100),
        max_message_length: int("max_message_length", 2000),
        max_reactions_per_message: int("max_reactions_per_message", 20),
        max_pins_per_channel: int("max_pins_per_channel", 50),
        custom_emoji_slots: int("custom_emoji_slots", 50),
    }
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
    fn badges_and_timestamps_read_like_plexichat() {
        assert_eq!(badge_info("bug_hunter").display_name, "Bug Hunter");
        assert_eq!(badge_info("bug_hunter").icon, "\u{1f41b}");
        let unknown = badge_info("beta_2x-tester");
        assert_eq!(unknown.display_name, "Beta 2X-Tester");
        assert_eq!((unknown.description.as_str(), unknown.color.as_str()), ("", "#6b7280"));
        assert_eq!(timestamp(1_735_689_600), timestamp(1_735_689_600_000));
        assert_eq!(millis(timestamp(1_735_689_600_123).unwrap()), 1_735_689_600_123);
        assert_eq!(timestamp(i64::MAX), None);
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
