//! Pure mapping between the core's user and group and Open WebUI's shapes. Open WebUI's
//! `settings`, `info`, `status`, `gender`, `date_of_birth` and a `data:` profile image live in
//! the core user's `preferences` object under top-level keys of those names.

use super::dto::*;
use roster_core::User;
use roster_core::id::id_to_uuid;
use roster_core::service::{Patch, own_avatar_file};
use roster_core::store::Group;
use serde_json::Value;

/// Preference keys this dialect uses.
pub const SETTINGS: &str = "settings";
pub const INFO: &str = "info";
pub const STATUS: &str = "status";
pub const GENDER: &str = "gender";
pub const DATE_OF_BIRTH: &str = "date_of_birth";
/// A `data:` URL profile image (the core's avatar holds only URLs and paths).
pub const PROFILE_IMAGE: &str = "profile_image_url";

/// Open WebUI's page size.
pub const PAGE_SIZE: i64 = 30;

/// Epoch seconds.
pub fn epoch(t: time::OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn preference_str(user: &User, key: &str) -> Option<String> {
    user.preferences.get(key).and_then(Value::as_str).map(str::to_string)
}

fn preference_object(user: &User, key: &str) -> Option<Value> {
    user.preferences.get(key).filter(|v| v.is_object()).cloned()
}

fn status(user: &User) -> (Option<String>, Option<String>, Option<i64>) {
    let status = user.preferences.get(STATUS);
    let get = |k: &str| status.and_then(|s| s.get(k));
    (
        get("emoji").and_then(Value::as_str).map(str::to_string),
        get("message").and_then(Value::as_str).map(str::to_string),
        get("expires_at").and_then(Value::as_i64),
    )
}

/// The name Open WebUI shows: the core name, else the email's local part.
pub fn display_name(user: &User) -> String {
    user.name.clone().unwrap_or_else(|| {
        user.email
            .as_deref()
            .or(user.username.as_deref())
            .map(|e| e.split('@').next().unwrap_or(e).to_string())
            .unwrap_or_default()
    })
}

/// `profile_image_url`: the stored URL or `data:` image, else the route serving the image
/// (which also serves an avatar stored by Roster).
pub fn profile_image_url(user: &User) -> String {
    user.avatar
        .clone()
        .filter(|a| own_avatar_file(a).is_none())
        .or_else(|| preference_str(user, PROFILE_IMAGE))
        .unwrap_or_else(|| format!("/api/v1/users/{}/profile/image", id_to_uuid(user.id.0)))
}

/// The core user as `UserModel`.
pub fn user_model(user: &User) -> UserModel {
    let (status_emoji, status_message, status_expires_at) = status(user);
    UserModel {
        id: id_to_uuid(user.id.0),
        email: user.email.clone().unwrap_or_default(),
        username: user.username.clone(),
        role: user.role.as_str().to_string(),
        name: display_name(user),
        profile_image_url: profile_image_url(user),
        profile_banner_image_url: None,
        bio: user.bio.clone(),
        gender: preference_str(user, GENDER),
        date_of_birth: preference_str(user, DATE_OF_BIRTH),
        timezone: user.timezone.clone(),
        presence_state: None,
        status_emoji,
        status_message,
        status_expires_at,
        info: preference_object(user, INFO),
        settings: preference_object(user, SETTINGS),
        oauth: None,
        scim: None,
        last_active_at: epoch(user.last_active_at.unwrap_or(user.created_at)),
        updated_at: epoch(user.updated_at),
        created_at: epoch(user.created_at),
    }
}

/// `{id, name}` of each group.
pub fn group_refs(groups: &[Group]) -> Vec<GroupRef> {
    groups
        .iter()
        .map(|g| GroupRef {
            id: id_to_uuid(g.id.0),
            name: g.name.clone(),
        })
        .collect()
}

/// The core user as `UserInfoResponse`.
pub fn user_info(user: &User, groups: Vec<GroupRef>, is_active: bool) -> UserInfoResponse {
    let (status_emoji, status_message, status_expires_at) = status(user);
    UserInfoResponse {
        id: id_to_uuid(user.id.0),
        name: display_name(user),
        email: user.email.clone().unwrap_or_default(),
        role: user.role.as_str().to_string(),
        bio: user.bio.clone(),
        last_active_at: user.last_active_at.map(epoch),
        timezone: user.timezone.clone(),
        groups,
        is_active,
        status_emoji,
        status_message,
        status_expires_at,
    }
}

/// The session answer for `user`, with `token` (empty when the account may not sign in yet).
pub fn session_user(user: &User, token: String, expires_at: Option<i64>, permissions: Value) -> SessionUserResponse {
    let (status_emoji, status_message, status_expires_at) = status(user);
    SessionUserResponse {
        token,
        token_type: "Bearer",
        expires_at,
        id: id_to_uuid(user.id.0),
        email: user.email.clone().unwrap_or_default(),
        name: display_name(user),
        role: user.role.as_str().to_string(),
        profile_image_url: profile_image_url(user),
        bio: user.bio.clone(),
        gender: preference_str(user, GENDER),
        date_of_birth: preference_str(user, DATE_OF_BIRTH),
        status_emoji,
        status_message,
        status_expires_at,
        permissions,
    }
}

/// A core group as `GroupResponse`.
pub fn group_response(group: Group, members: Option<Vec<roster_core::UserId>>) -> GroupResponse {
    GroupResponse {
        id: id_to_uuid(group.id.0),
        user_id: group.created_by.map(|u| id_to_uuid(u.0)),
        name: group.name,
        description: group.description,
        permissions: group.permissions,
        data: None,
        meta: None,
        created_at: epoch(group.created_at),
        updated_at: epoch(group.updated_at),
        member_count: members.as_ref().map(Vec::len),
        user_ids: members.map(|m| m.into_iter().map(|u| id_to_uuid(u.0)).collect()),
        membership_type: None,
    }
}

/// Open WebUI's built-in `DEFAULT_USER_PERMISSIONS` (no `USER_PERMISSIONS_*` overrides), as
/// the core completes templates with.
pub fn default_permissions() -> Value {
    roster_core::service::builtin_permissions()
}

/// The sections `POST /users/default/permissions` requires.
pub const PERMISSION_SECTIONS: [&str; 6] = ["workspace", "sharing", "access_grants", "chat", "features", "settings"];

/// Applies a settings update as Open WebUI does: top-level keys replace, `ui` merges key by
/// key and a `null` there deletes the key.
pub fn merge_settings(current: Option<Value>, update: &serde_json::Map<String, Value>) -> Value {
    let mut settings = match current {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    for (key, value) in update {
        if key == "ui" {
            let mut ui = match settings.remove("ui") {
                Some(Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            if let Value::Object(changes) = value {
                for (k, v) in changes {
                    if v.is_null() {
                        ui.remove(k);
                    } else {
                        ui.insert(k.clone(), v.clone());
                    }
                }
            }
            settings.insert("ui".into(), Value::Object(ui));
        } else {
            settings.insert(key.clone(), value.clone());
        }
    }
    Value::Object(settings)
}

/// Drops the keys a non-admin may not set (Open WebUI drops them silently): the core's gated
/// preference fields (`ui.system` without `chat.controls` and `chat.system_prompt`,
/// `ui.toolServers` without `features.direct_tool_servers`, `notifications` and
/// `ui.notifications.webhook_url` without `features.webhooks`), which live under `settings`.
pub fn drop_forbidden_settings(update: &mut serde_json::Map<String, Value>, permissions: &Value) {
    let mut document = Value::Object(std::mem::take(update));
    for gate in roster_core::service::forbidden_by(permissions) {
        if let Some((&SETTINGS, path)) = gate.path.split_first() {
            roster_core::service::remove_at(&mut document, path);
        }
    }
    if let Value::Object(map) = document {
        *update = map;
    }
}

/// The built-in profile image (`static/user.png`): a 1x1 grey PNG.
pub const DEFAULT_PROFILE_IMAGE: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b, 0x55, 0x00, 0x00, 0x00, 0x0a, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x98, 0x09, 0x00, 0x00, 0x9b, 0x00, 0x9a, 0xad, 0x2e, 0x48, 0xb4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Image types a `data:` profile image may declare (`PROFILE_IMAGE_ALLOWED_MIME_TYPES`).
pub const ALLOWED_IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Splits `data:<mime>;base64,<data>` into the mime type and the decoded bytes.
pub fn decode_data_url(url: &str) -> Option<(String, Vec<u8>)> {
    use base64::Engine as _;
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?.to_ascii_lowercase();
    let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).ok()?;
    Some((mime, bytes))
}

/// Where a profile image goes: URLs and paths in the core's avatar; `data:` images in the
/// preferences; `/user.png` (Open WebUI's placeholder) and empty: none.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileImage {
    pub avatar: Patch<String>,
    data_url: Option<String>,
}

impl ProfileImage {
    pub fn new(url: &str) -> Self {
        let url = url.trim();
        if url.starts_with("data:") {
            return ProfileImage {
                avatar: Patch::Clear,
                data_url: Some(url.to_string()),
            };
        }
        let avatar = if url.is_empty() || url == "/user.png" {
            Patch::Clear
        } else {
            Patch::Set(url.to_string())
        };
        ProfileImage { avatar, data_url: None }
    }

    /// Whether it sets an image (not none).
    pub fn sets_image(&self) -> bool {
        self.data_url.is_some() || self.avatar != Patch::Clear
    }

    /// Keeps the `data:` image in `preferences`, or removes the one there.
    pub fn apply(&self, preferences: &mut serde_json::Map<String, Value>) {
        match &self.data_url {
            Some(url) => preferences.insert(PROFILE_IMAGE.into(), Value::String(url.clone())),
            None => preferences.remove(PROFILE_IMAGE),
        };
    }
}

/// Open WebUI's email check (`validate_email_format`): anything `@localhost`, else
/// `[^@]+@[^@]+\.[^@]+` at the start.
pub fn email_format_ok(email: &str) -> bool {
    if email.ends_with("@localhost") {
        return true;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    if local.is_empty() {
        return false;
    }
    let domain = domain.split('@').next().unwrap_or_default();
    matches!(domain.split_once('.'), Some((a, b)) if !a.is_empty() && !b.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_merge_like_open_webui() {
        let current = json!({"ui": {"a": 1, "b": 2}, "x": {"y": 1}});
        let update = json!({"ui": {"a": null, "c": 3}, "x": {"z": 2}});
        let merged = merge_settings(Some(current), update.as_object().unwrap());
        assert_eq!(merged, json!({"ui": {"b": 2, "c": 3}, "x": {"z": 2}}));
    }

    #[test]
    fn forbidden_settings_are_dropped() {
        let mut update = json!({"ui": {"system": "s", "toolServers": [], "notifications": {"webhook_url": "u", "x": 1}}, "notifications": {}})
            .as_object()
            .unwrap()
            .clone();
        drop_forbidden_settings(&mut update, &default_permissions());
        assert_eq!(
            Value::Object(update),
            json!({"ui": {"system": "s", "notifications": {"x": 1}}})
        );
    }

    #[test]
    fn email_check() {
        assert!(email_format_ok("a@b.c"));
        assert!(email_format_ok("admin@localhost"));
        assert!(!email_format_ok("nope"));
        assert!(!email_format_ok("a@b"));
        assert!(!email_format_ok("@b.c"));
    }

    #[test]
    fn data_urls() {
        let (mime, bytes) = decode_data_url("data:image/png;base64,aGk=").unwrap();
        assert_eq!((mime.as_str(), bytes.as_slice()), ("image/png", &b"hi"[..]));
        assert!(decode_data_url("https://x").is_none());
    }
}
