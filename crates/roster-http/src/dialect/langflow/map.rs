//! Pure mapping between core types and Langflow's shapes.

use super::dto::{ApiKeyRead, UserRead};
use roster_core::id::id_to_uuid;
use roster_core::store::ApiKey;
use roster_core::{Role, User};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

/// The preferences key holding Langflow's `optins`.
pub const OPTINS: &str = "optins";
/// How many characters of a key Langflow's listings show.
const MASK_VISIBLE: usize = 8;
/// Characters of randomness after a key's prefix (256 bits, URL-safe base64).
const KEY_RANDOM_LENGTH: usize = 43;

/// Langflow's times: naive UTC ISO 8601 with microseconds (`2025-05-29T16:02:20.132436`).
/// Written digit by digit (every listed user has two or three of them); a year outside
/// 0000-9999 goes through the generic formatter.
pub fn time(t: OffsetDateTime) -> String {
    crate::dialect::iso_time(t, 6, "").unwrap_or_else(|| generic_time(t))
}

/// [`time`] through the `time` crate's formatter.
fn generic_time(t: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]");
    t.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// `optins` with Langflow's defaults filled in.
pub fn optins(user: &User) -> Value {
    let mut out = json!({"github_starred": false, "dialog_dismissed": false, "discord_clicked": false});
    if let (Some(stored), Some(out)) = (
        user.preferences.get(OPTINS).and_then(Value::as_object),
        out.as_object_mut(),
    ) {
        for (k, v) in stored {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Langflow's `is_active`: active and not awaiting approval.
pub fn is_active(user: &User) -> bool {
    user.active && user.role != Role::Pending
}

/// The preferences key holding a picture of Langflow's own set (`Space/046-rocket.svg`).
pub const PROFILE_IMAGE: &str = "profile_image";
/// The longest `profile_image` accepted (as the core's avatar references).
const PROFILE_IMAGE_MAX: usize = 2048;
/// Why a `profile_image` is refused.
pub const PROFILE_IMAGE_RULE: &str =
    "must be an http(s) URL, an absolute path, or a picture of Langflow's set as {folder}/{file}";

/// Where a `profile_image` sent to Langflow's routes is kept.
#[derive(Debug, PartialEq)]
pub enum ProfileImage {
    /// An http(s) URL or an absolute path: the user's avatar (checked by the core).
    Avatar(String),
    /// A picture of Langflow's bundled set, `{folder}/{file}` (what its avatar picker
    /// sends): kept as given in the preferences, where `roster migrate langflow` puts it.
    Bundled(String),
    /// `null` or empty: no picture.
    Clear,
}

/// Sorts a `profile_image` into where it is kept; `None` when it is neither a URL, an
/// absolute path, nor `{folder}/{file}` of names (letters, digits, `-`, `_`, `.`, spaces;
/// never `.` or `..`).
pub fn profile_image(raw: Option<&str>) -> Option<ProfileImage> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Some(ProfileImage::Clear);
    };
    if raw.starts_with("https://") || raw.starts_with("http://") || raw.starts_with('/') {
        return Some(ProfileImage::Avatar(raw.to_string()));
    }
    let name = |part: &str| {
        !part.trim().is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '))
    };
    let bundled = raw.len() <= PROFILE_IMAGE_MAX
        && raw
            .split_once('/')
            .is_some_and(|(folder, file)| name(folder) && name(file));
    bundled.then(|| ProfileImage::Bundled(raw.to_string()))
}

/// The edit of a user's preferences a Langflow `PATCH` makes, applied by the core to the
/// stored user when it writes: `optins` replaced when given, and the bundled picture set or
/// removed when `profile_image` is given.
pub fn edit_preferences<'a>(
    optins: Option<&'a Value>,
    picture: Option<&'a ProfileImage>,
) -> impl Fn(&mut serde_json::Map<String, Value>) + Send + Sync + 'a {
    move |preferences| {
        if let Some(optins) = optins {
            preferences.insert(OPTINS.into(), optins.clone());
        }
        match picture {
            Some(ProfileImage::Bundled(path)) => {
                preferences.insert(PROFILE_IMAGE.into(), Value::String(path.clone()));
            }
            Some(ProfileImage::Avatar(_) | ProfileImage::Clear) => {
                preferences.remove(PROFILE_IMAGE);
            }
            None => {}
        }
    }
}

/// `UserRead`. Users without a username (made in another dialect) show their email.
pub fn user_read(user: &User) -> UserRead {
    UserRead {
        id: id_to_uuid(user.id.0),
        username: user.username.clone().or_else(|| user.email.clone()).unwrap_or_default(),
        // A picture of Langflow's set (`Space/046-rocket.svg`) brought by `roster migrate
        // langflow` lives in the preferences.
        profile_image: user.avatar.clone().or_else(|| {
            user.preferences
                .get(PROFILE_IMAGE)
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        store_api_key: None,
        is_active: is_active(user),
        is_superuser: user.role == Role::Admin,
        create_at: time(user.created_at),
        updated_at: time(user.updated_at),
        last_login_at: user.last_login_at.map(time),
        optins: optins(user),
    }
}

/// Langflow's mask: the first 8 characters, then `*` for each hidden one.
pub fn masked(key: &ApiKey) -> String {
    let visible: String = key.prefix.chars().take(MASK_VISIBLE).collect();
    let prefix_length = roster_core::service::API_KEY_PREFIXES
        .iter()
        .filter(|p| key.prefix.starts_with(**p))
        .map(|p| p.len())
        .max()
        .unwrap_or(0);
    let hidden = (prefix_length + KEY_RANDOM_LENGTH).saturating_sub(visible.chars().count());
    format!("{visible}{}", "*".repeat(hidden))
}

/// `ApiKeyRead` with `api_key` as given (masked, or the secret once).
pub fn api_key_read(key: &ApiKey, api_key: String) -> ApiKeyRead {
    ApiKeyRead {
        id: id_to_uuid(key.id.0),
        name: key.name.clone(),
        api_key,
        user_id: id_to_uuid(key.user_id.0),
        created_at: time(key.created_at),
        last_used_at: key.last_used_at.map(time),
        total_uses: 0,
        is_active: true,
    }
}

/// The edit that replaces `optins` in a user's preferences, applied by the core to the stored
/// user when it writes.
pub fn set_optins(new: &Value) -> impl Fn(&mut serde_json::Map<String, Value>) + Send + Sync + '_ {
    move |preferences| {
        preferences.insert(OPTINS.into(), new.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_images_are_sorted_by_where_they_are_kept() {
        use ProfileImage::*;
        assert_eq!(profile_image(None), Some(Clear));
        assert_eq!(profile_image(Some("")), Some(Clear));
        assert_eq!(
            profile_image(Some("Space/046-rocket.svg")),
            Some(Bundled("Space/046-rocket.svg".into()))
        );
        assert_eq!(
            profile_image(Some("People/People Avatar-01-01.svg")),
            Some(Bundled("People/People Avatar-01-01.svg".into()))
        );
        assert_eq!(
            profile_image(Some("https://x.org/a.png")),
            Some(Avatar("https://x.org/a.png".into()))
        );
        assert_eq!(profile_image(Some("/a.png")), Some(Avatar("/a.png".into())));
        for bad in [
            "rocket.svg",
            "../etc/passwd",
            "Space/..",
            "a/b/c",
            "javascript:alert(1)",
            "Space/a\nb",
            "Space/",
        ] {
            assert_eq!(profile_image(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn times_are_naive_microseconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_748_534_540_132_436_000).unwrap();
        assert_eq!(time(t), "2025-05-29T16:02:20.132436");
        // Written by hand as the generic formatter writes them, offsets and all.
        let offset = time::UtcOffset::from_hms(5, 30, 0).unwrap();
        for nanos in [
            0,
            1_000,
            999_999_999,
            -62_135_596_800_000_000_000, // 0001-01-01
            -62_167_219_200_000_000_000, // 0000-01-01
            253_402_300_799_999_999_000, // 9999-12-31T23:59:59.999999
            1_709_164_800_000_001_500,   // a leap day, a microsecond and a half
        ] {
            let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            assert_eq!(time(t), generic_time(t), "{nanos}");
            if let Some(shifted) = t.checked_to_offset(offset) {
                assert_eq!(time(shifted), generic_time(t), "{nanos}");
            }
        }
    }
}
