//! Pure mapping between the core's user and group and Open WebUI's shapes. Open WebUI's
//! `settings`, `info`, `status`, `gender`, `date_of_birth` and a `data:` profile image live in
//! the core user's `preferences` object under top-level keys of those names.

use super::dto::*;
use roster_core::User;
use roster_core::id::id_to_uuid;
use roster_core::service::{MAX_PREFERENCES_BYTES, Patch, Permissions, own_avatar_file};
use roster_core::store::Group;
use serde_json::Value;

/// Preference keys this dialect uses.
pub const SETTINGS: &str = "settings";
pub const INFO: &str = "info";
pub const STATUS: &str = "status";
pub const GENDER: &str = "gender";
pub const DATE_OF_BIRTH: &str = "date_of_birth";
/// A profile image the core's avatar does not keep verbatim (a `data:` image, for one).
pub const PROFILE_IMAGE: &str = "profile_image_url";

/// Open WebUI's page size.
pub const PAGE_SIZE: i64 = 30;

/// Epoch seconds.
pub fn epoch(t: time::OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn preference_str(user: &User, key: &str) -> Option<String> {
    preference_ref(user, key).map(str::to_string)
}

fn preference_ref<'a>(user: &'a User, key: &str) -> Option<&'a str> {
    user.preferences.get(key).and_then(Value::as_str)
}

fn preference_object(user: &User, key: &str) -> Option<Value> {
    user.preferences.get(key).filter(|v| v.is_object()).cloned()
}

fn status(user: &User) -> (Option<String>, Option<String>, Option<i64>) {
    let (emoji, message, expires_at) = status_ref(user);
    (emoji.map(str::to_string), message.map(str::to_string), expires_at)
}

fn status_ref(user: &User) -> (Option<&str>, Option<&str>, Option<i64>) {
    let status = user.preferences.get(STATUS);
    let get = |k: &str| status.and_then(|s| s.get(k));
    (
        get("emoji").and_then(Value::as_str),
        get("message").and_then(Value::as_str),
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

/// `profile_image_url`: the route serving an avatar Roster stored (an upload through another
/// dialect, a migrated image), else the image as the client gave it (an `http(s)` URL in the
/// core's avatar, anything else in the preferences), else the route (which then serves the
/// default image).
pub fn profile_image_url(user: &User) -> String {
    let route = || format!("/api/v1/users/{}/profile/image", id_to_uuid(user.id.0));
    match user.avatar.as_deref() {
        Some(avatar) if own_avatar_file(avatar).is_some() => route(),
        Some(avatar) => avatar.to_string(),
        None => preference_str(user, PROFILE_IMAGE).unwrap_or_else(route),
    }
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

/// The session answer for `user`, with `token` (empty when the account may not sign in yet),
/// borrowing what it can from the user.
pub fn session_user<'a>(
    user: &'a User,
    token: &'a str,
    expires_at: Option<i64>,
    permissions: &'a Permissions,
) -> SessionUserResponse<'a> {
    let (status_emoji, status_message, status_expires_at) = status_ref(user);
    SessionUserResponse {
        token,
        token_type: "Bearer",
        expires_at,
        id: id_to_uuid(user.id.0),
        email: user.email.as_deref().unwrap_or_default(),
        name: display_name(user),
        role: user.role.as_str(),
        profile_image_url: profile_image_url(user),
        bio: user.bio.as_deref(),
        gender: preference_ref(user, GENDER),
        date_of_birth: preference_ref(user, DATE_OF_BIRTH),
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

/// Open WebUI's `merge_user_ui_settings`: the user's `ui` settings over the administrator's
/// defaults, objects merged key by key, a user's `null` leaving the default.
pub fn merge_ui_settings(
    defaults: &serde_json::Map<String, Value>,
    settings: &serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    let mut merged = defaults.clone();
    for (key, value) in settings {
        if value.is_null() {
            continue;
        }
        let value = match (merged.get(key), value) {
            (Some(Value::Object(default)), Value::Object(own)) => Value::Object(merge_ui_settings(default, own)),
            _ => value.clone(),
        };
        merged.insert(key.clone(), value);
    }
    merged
}

/// `GET /users/user/settings` without `raw`: the stored settings with `ui` over the
/// administrator's `DEFAULT_INTERFACE_SETTINGS` (the stored settings alone when there are no
/// defaults).
pub fn settings_with_defaults(stored: Value, defaults: &serde_json::Map<String, Value>) -> Value {
    if defaults.is_empty() {
        return stored;
    }
    let mut settings = match stored {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let own_ui = match settings.get("ui") {
        Some(Value::Object(ui)) => ui.clone(),
        _ => serde_json::Map::new(),
    };
    settings.insert("ui".into(), Value::Object(merge_ui_settings(defaults, &own_ui)));
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

/// Open WebUI's `validate_image_url` refusals (`utils/validate.py`, 0.12.4).
pub const PROFILE_IMAGE_INVALID: &str = "Invalid profile image URL: must be a known internal path, an HTTP(S) URL with a host, or a data:image URI (png/jpeg/gif/webp).";
pub const PROFILE_IMAGE_NO_HOST: &str = "Invalid profile image URL: HTTP(S) URLs must include a host.";
/// Open WebUI's refusal of a `data:` image over `PROFILE_IMAGE_MAX_DATA_URI_SIZE`, with the
/// most Roster keeps in a user's preferences as that limit.
pub const PROFILE_IMAGE_TOO_LARGE: &str = "Invalid profile image URL: data URI exceeds the 65536-byte limit.";
/// Python's `urlsplit` refuses a host with one bracket.
pub const PROFILE_IMAGE_BAD_IPV6: &str = "Invalid IPv6 URL";

/// The only relative paths Open WebUI accepts besides its profile-image route.
const SAFE_STATIC_PATHS: [&str; 3] = ["/user.png", "/favicon.png", "/static/favicon.png"];

/// `^/api/v1/users/[^/?#]+/profile/image$` (Python's `$` also matches before a final newline).
fn is_profile_image_route(url: &str) -> bool {
    let url = url.strip_suffix('\n').unwrap_or(url);
    url.strip_prefix("/api/v1/users/")
        .and_then(|rest| rest.strip_suffix("/profile/image"))
        .is_some_and(|id| !id.is_empty() && !id.contains(['/', '?', '#']))
}

/// The scheme (lower-cased) and the rest of `url`, as Python's `urlsplit` splits them: it
/// first drops leading spaces and control characters and every tab, CR and LF.
fn split_scheme(url: &str) -> Option<(String, String)> {
    let cleaned: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let (scheme, rest) = cleaned.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| (scheme.to_ascii_lowercase(), rest.to_string()))
}

/// `urlsplit(url).hostname` of what follows the scheme: None when there is none.
fn hostname(rest: &str) -> Result<Option<String>, String> {
    let Some(after) = rest.strip_prefix("//") else {
        return Ok(None);
    };
    let netloc = after.split(['/', '?', '#']).next().unwrap_or_default();
    if netloc.contains('[') != netloc.contains(']') {
        return Err(PROFILE_IMAGE_BAD_IPV6.into());
    }
    let host_info = netloc.rsplit_once('@').map_or(netloc, |(_, host)| host);
    let host = match host_info.split_once('[') {
        Some((_, bracketed)) => bracketed.split(']').next().unwrap_or_default(),
        None => host_info.split(':').next().unwrap_or_default(),
    };
    Ok((!host.is_empty()).then(|| host.to_ascii_lowercase()))
}

/// `^data:image/(gif|jpeg|png|webp);base64,`, case-insensitively.
fn is_safe_data_uri(url: &str) -> bool {
    let head = url.get(..url.len().min(32)).unwrap_or(url).to_ascii_lowercase();
    ALLOWED_IMAGE_TYPES
        .iter()
        .any(|mime| head.starts_with(&format!("data:{mime};base64,")))
}

/// Open WebUI's `validate_image_url` for profile images: empty, its own static paths and
/// profile-image route (exactly), `http(s)` URLs with a host, and base64 `data:` images of
/// the allowed types. The error is Open WebUI's message.
pub fn validate_image_url(url: &str) -> Result<(), String> {
    if url.is_empty() || SAFE_STATIC_PATHS.contains(&url) || is_profile_image_route(url) {
        return Ok(());
    }
    if let Some((scheme, rest)) = split_scheme(url)
        && (scheme == "http" || scheme == "https")
    {
        return match hostname(&rest)? {
            Some(_) => Ok(()),
            None => Err(PROFILE_IMAGE_NO_HOST.into()),
        };
    }
    if is_safe_data_uri(url) {
        return Ok(());
    }
    Err(PROFILE_IMAGE_INVALID.into())
}

/// Where an accepted profile image is stored, as given: an `http(s)` URL the core's avatar
/// keeps verbatim goes there (every dialect shows it); anything else (Open WebUI's own static
/// paths and route, which mean nothing elsewhere, a `data:` image, a URL the core's avatar
/// rule would change) goes in the preferences; empty: none (Open WebUI then names its
/// profile-image route).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileImage {
    pub avatar: Patch<String>,
    kept_in_preferences: Option<String>,
}

impl ProfileImage {
    /// `url` checked as Open WebUI checks it (see [`validate_image_url`]); an image kept in
    /// the preferences must also fit them ([`PROFILE_IMAGE_TOO_LARGE`]) and hold no NUL.
    pub fn parse(url: &str) -> Result<Self, String> {
        validate_image_url(url)?;
        if url.len() > MAX_PREFERENCES_BYTES {
            return Err(PROFILE_IMAGE_TOO_LARGE.to_string());
        }
        if url.contains('\0') {
            return Err(format!("Invalid profile image URL: {}", roster_core::user::NUL_REASON));
        }
        if url.is_empty() {
            return Ok(ProfileImage {
                avatar: Patch::Clear,
                kept_in_preferences: None,
            });
        }
        let verbatim = (url.starts_with("http://") || url.starts_with("https://"))
            && matches!(roster_core::user::validate_avatar(url), Ok(Some(kept)) if kept == url);
        Ok(if verbatim {
            ProfileImage {
                avatar: Patch::Set(url.to_string()),
                kept_in_preferences: None,
            }
        } else {
            ProfileImage {
                avatar: Patch::Clear,
                kept_in_preferences: Some(url.to_string()),
            }
        })
    }

    /// The preferences of a new account with this image (None: none to keep there).
    pub fn initial_preferences(&self) -> Option<Value> {
        let mut preferences = serde_json::Map::new();
        self.apply(&mut preferences);
        (!preferences.is_empty()).then_some(Value::Object(preferences))
    }

    /// Keeps the image in `preferences` when it goes there, or removes the one there.
    pub fn apply(&self, preferences: &mut serde_json::Map<String, Value>) {
        match &self.kept_in_preferences {
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
    fn default_interface_settings_under_the_users() {
        let defaults = json!({"theme": "dark", "params": {"a": 1, "b": 2}, "lang": "en"});
        let defaults = defaults.as_object().unwrap();
        let stored = json!({"ui": {"theme": "light", "params": {"b": 3}, "lang": null}, "x": 1});
        assert_eq!(
            settings_with_defaults(stored, defaults),
            json!({"ui": {"theme": "light", "params": {"a": 1, "b": 3}, "lang": "en"}, "x": 1})
        );
        assert_eq!(settings_with_defaults(Value::Null, defaults), json!({"ui": defaults}));
        assert_eq!(
            settings_with_defaults(Value::Null, &serde_json::Map::new()),
            Value::Null
        );
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
    fn profile_images_as_open_webui_checks_them() {
        for ok in [
            "",
            "/user.png",
            "/favicon.png",
            "/static/favicon.png",
            "/api/v1/users/abc/profile/image",
            "/api/v1/users/abc/profile/image\n",
            "https://example.com/a.png",
            "HTTP://Example.com",
            " http://x",
            "http://u@h:80/p",
            "http://[::1]/a",
            "data:image/png;base64,aGk=",
            "DATA:IMAGE/WEBP;BASE64,aGk=",
        ] {
            assert_eq!(validate_image_url(ok), Ok(()), "{ok:?}");
        }
        for (bad, why) in [
            ("/static/other.png", PROFILE_IMAGE_INVALID),
            ("/api/v1/users/a/b/profile/image", PROFILE_IMAGE_INVALID),
            ("user.png", PROFILE_IMAGE_INVALID),
            ("//evil.com/a.png", PROFILE_IMAGE_INVALID),
            ("javascript:alert(1)", PROFILE_IMAGE_INVALID),
            ("data:image/svg+xml;base64,aGk=", PROFILE_IMAGE_INVALID),
            ("data:image/png,aGk=", PROFILE_IMAGE_INVALID),
            ("ftp://host/a", PROFILE_IMAGE_INVALID),
            ("http://:80/path", PROFILE_IMAGE_NO_HOST),
            ("https:/x", PROFILE_IMAGE_NO_HOST),
            ("http://user@/x", PROFILE_IMAGE_NO_HOST),
            ("http://[::1/x", PROFILE_IMAGE_BAD_IPV6),
        ] {
            assert_eq!(validate_image_url(bad), Err(why.to_string()), "{bad:?}");
        }
    }

    #[test]
    fn profile_images_are_kept_as_given() {
        let at = |url: &str| {
            let image = ProfileImage::parse(url).unwrap();
            let mut preferences = serde_json::Map::new();
            image.apply(&mut preferences);
            (image.avatar, preferences.get(PROFILE_IMAGE).cloned())
        };
        assert_eq!(at("/user.png"), (Patch::Clear, Some(json!("/user.png"))));
        assert_eq!(at("https://x/a.png"), (Patch::Set("https://x/a.png".into()), None));
        assert_eq!(at(""), (Patch::Clear, None));
        assert_eq!(
            at("data:image/png;base64,aGk="),
            (Patch::Clear, Some(json!("data:image/png;base64,aGk=")))
        );
        // What the core's avatar would trim or refuse stays in the preferences, unchanged.
        assert_eq!(at(" http://x"), (Patch::Clear, Some(json!(" http://x"))));
        assert_eq!(at("HTTPS://x"), (Patch::Clear, Some(json!("HTTPS://x"))));
        assert!(ProfileImage::parse("/etc/passwd").is_err());
        let huge = format!("data:image/png;base64,{}", "A".repeat(MAX_PREFERENCES_BYTES));
        assert_eq!(ProfileImage::parse(&huge), Err(PROFILE_IMAGE_TOO_LARGE.to_string()));
        assert!(ProfileImage::parse("data:image/png;base64,\0").is_err());
    }

    #[test]
    fn data_urls() {
        let (mime, bytes) = decode_data_url("data:image/png;base64,aGk=").unwrap();
        assert_eq!((mime.as_str(), bytes.as_slice()), ("image/png", &b"hi"[..]));
        assert!(decode_data_url("https://x").is_none());
    }
}
