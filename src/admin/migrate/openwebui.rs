//! Open WebUI's database (`webui.db` or PostgreSQL): tables `user`, `auth`, `api_key`,
//! `group`, `group_member` and `config`, mapped into the keys the Open WebUI dialect uses
//! (`settings`, `info`, `status`, `gender` and `date_of_birth` live in the preferences).
//! Profile images become Roster avatars through the upload pipeline: a `data:` URL (what Open
//! WebUI's editor and its OAuth login store), or a file of the Open WebUI server (an uploaded
//! file, `/api/v1/files/{id}/content`, read from the `uploads` directory; or a path under the
//! data directory such as `/cache/...`). An `http(s)` image stays a link.

use super::ImageDir;
use super::db::{Row, SourceDb, boolean, epoch, get, json, rfc3339};
use base64::Engine as _;
use roster_core::service::{SourceApiKey, SourceData, SourceGroup, SourceImage, SourceUser, UserRecord};
use roster_core::token::digest;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Open WebUI's own placeholder images (no image of the user's).
const OPEN_WEBUI_IMAGES: &[&str] = &["/user.png", "/favicon.png", "/static/favicon.png"];
/// Image types Open WebUI serves from a `data:` URL.
const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif"];

const USER_COLUMNS: &[&str] = &[
    "id",
    "email",
    "username",
    "role",
    "name",
    "profile_image_url",
    "bio",
    "gender",
    "date_of_birth",
    "timezone",
    "status_emoji",
    "status_message",
    "status_expires_at",
    "info",
    "settings",
    "oauth",
    "oauth_sub",
    "api_key",
    "last_active_at",
    "updated_at",
    "created_at",
];

/// The image of a `data:` URL: base64 of an image type Open WebUI serves. Returns why not.
fn data_url_image(url: &str) -> Result<Vec<u8>, String> {
    let Some((head, payload)) = url.strip_prefix("data:").and_then(|rest| rest.split_once(',')) else {
        return Err("the profile image is not a data URL".into());
    };
    let Some(mime) = head.strip_suffix(";base64") else {
        return Err("the profile image data URL is not base64".into());
    };
    if !IMAGE_TYPES.contains(&mime.to_ascii_lowercase().as_str()) {
        return Err(format!("the profile image type {mime} is not an image Roster serves"));
    }
    let payload: String = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|_| "the profile image data URL is not valid base64".to_string())?;
    if bytes.is_empty() {
        return Err("the profile image is empty".into());
    }
    Ok(bytes)
}

/// Profile images stored as files on the Open WebUI server: its data directory (holding
/// `uploads/` and `cache/`) and the file table's paths.
pub struct ImageFiles {
    files: ImageDir,
    /// Uploaded files: id to the path Open WebUI stored.
    uploads: HashMap<String, String>,
}

impl ImageFiles {
    pub fn new(files: ImageDir) -> Self {
        ImageFiles {
            files,
            uploads: HashMap::new(),
        }
    }

    /// The image behind a profile image path of the Open WebUI server, or why not.
    fn load(&self, url: &str) -> Result<SourceImage, String> {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let relative: PathBuf = match path
            .strip_prefix("/api/v1/files/")
            .map(|rest| rest.trim_end_matches("/content").trim_end_matches('/'))
        {
            Some(id) => {
                let stored = self.uploads.get(id).ok_or_else(|| {
                    format!("the profile image {url:?} names file {id}, which is not in the file table")
                })?;
                if stored.contains("://") {
                    return Err(format!(
                        "the profile image {url:?} is in cloud storage ({stored}); not carried over"
                    ));
                }
                // Open WebUI's local storage keeps uploads in <data dir>/uploads/<id>_<name>;
                // the stored path is the server's, so only its file name is used.
                let name = Path::new(stored)
                    .file_name()
                    .ok_or_else(|| format!("the profile image {url:?} has no file name"))?;
                Path::new("uploads").join(name)
            }
            None if path.starts_with("/cache/") => PathBuf::from(path.trim_start_matches('/')),
            None => {
                return Err(format!(
                    "the profile image {url:?} is a path of the Open WebUI server; not carried over"
                ));
            }
        };
        self.files.read(&relative, url, "Open WebUI's data directory")
    }
}

fn string(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn map_user(row: &Row, auth: Option<&Row>, keys: &[SourceApiKey], images: &ImageFiles) -> Result<SourceUser, String> {
    let id = string(get(row, "id")).ok_or("no id")?;
    let mut notes = Vec::new();
    let mut preferences = Map::new();
    if let Some(settings) = json(get(row, "settings")).filter(Value::is_object) {
        preferences.insert("settings".into(), settings);
    }
    if let Some(info) = json(get(row, "info")).filter(Value::is_object) {
        preferences.insert("info".into(), info);
    }
    let mut status = Map::new();
    if let Some(e) = string(get(row, "status_emoji")) {
        status.insert("emoji".into(), json!(e));
    }
    if let Some(m) = string(get(row, "status_message")) {
        status.insert("message".into(), json!(m));
    }
    if let Some(t) = get(row, "status_expires_at").and_then(|t| t.trim().parse::<i64>().ok()) {
        status.insert("expires_at".into(), json!(t));
    }
    if !status.is_empty() {
        preferences.insert("status".into(), Value::Object(status));
    }
    if let Some(g) = string(get(row, "gender")) {
        preferences.insert("gender".into(), json!(g));
    }
    if let Some(d) = string(get(row, "date_of_birth")) {
        preferences.insert("date_of_birth".into(), json!(d.get(..10).unwrap_or(&d)));
    }
    // The profile image: a data: URL (what Open WebUI's editor stores), an http(s) URL, a
    // file of the Open WebUI server, or Open WebUI's own placeholder / route (none).
    let mut avatar = None;
    let mut avatar_image = None;
    if let Some(url) = string(get(row, "profile_image_url")) {
        if url.starts_with("data:") {
            match data_url_image(&url) {
                Ok(bytes) => {
                    avatar_image = Some(SourceImage {
                        bytes,
                        origin: "a data: URL".into(),
                    })
                }
                Err(why) => notes.push(why),
            }
        } else if url.starts_with("https://") || url.starts_with("http://") {
            avatar = Some(url);
        } else if !OPEN_WEBUI_IMAGES.contains(&url.as_str()) && !url.starts_with("/api/v1/users/") {
            match images.load(&url) {
                Ok(image) => avatar_image = Some(image),
                Err(why) => notes.push(why),
            }
        }
    }
    let oauth = json(get(row, "oauth")).filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
    let provider = oauth
        .as_ref()
        .and_then(|o| o.as_object())
        .and_then(|o| o.keys().next().cloned())
        .or_else(|| string(get(row, "oauth_sub")).map(|s| s.split('@').next().unwrap_or("oauth").to_string()));
    if let Some(o) = oauth {
        preferences.insert("oauth".into(), o);
    }
    let password_hash = auth.and_then(|a| string(get(a, "password")));
    let active = auth.and_then(|a| boolean(get(a, "active"))).unwrap_or(true);
    let email = string(get(row, "email")).or_else(|| auth.and_then(|a| string(get(a, "email"))));
    let record = UserRecord {
        email,
        username: string(get(row, "username")),
        name: string(get(row, "name")),
        role: string(get(row, "role")),
        provider: provider.filter(|_| password_hash.is_none()),
        email_verified: Some(false),
        active: Some(active),
        avatar_url: avatar,
        bio: string(get(row, "bio")),
        timezone: string(get(row, "timezone")),
        preferences: Some(Value::Object(preferences)),
        created_at: epoch(get(row, "created_at")).map(rfc3339),
        password_hash,
        ..UserRecord::default()
    };
    if record.password_hash.is_none() {
        notes.push("no row in Open WebUI's auth table: no password".into());
    }
    Ok(SourceUser {
        source_id: id,
        record,
        api_keys: keys.to_vec(),
        avatar_image,
        notes,
        ..SourceUser::default()
    })
}

fn api_key(id: &str, key: &str, created_at: Option<&str>, last_used: Option<&str>) -> SourceApiKey {
    SourceApiKey {
        source_id: id.to_string(),
        name: "Open WebUI API key".into(),
        digest: digest(key.trim()),
        prefix: key.trim().chars().take(12).collect(),
        created_at: epoch(created_at),
        expires_at: None,
        last_used_at: epoch(last_used),
    }
}

/// Reads everything `roster migrate open-webui` carries over; profile images stored as files
/// are read through `images`.
pub async fn read(db: &SourceDb, mut images: ImageFiles) -> anyhow::Result<SourceData> {
    let users = db.rows("user", USER_COLUMNS, Some("created_at")).await?;
    if users.is_empty() && db.columns("user").await?.is_empty() {
        anyhow::bail!("this is not an Open WebUI database (no user table)");
    }
    let auths: HashMap<String, Row> = db
        .rows("auth", &["id", "email", "password", "active"], None)
        .await?
        .into_iter()
        .filter_map(|r| get(&r, "id").map(str::to_string).map(|id| (id, r)))
        .collect();
    // API keys: the api_key table (plaintext `key`, one per user), or the user's column in
    // older versions. Only their SHA-256 digests are kept.
    let mut keys: HashMap<String, Vec<SourceApiKey>> = HashMap::new();
    for r in db
        .rows("api_key", &["id", "user_id", "key", "created_at", "last_used_at"], None)
        .await?
    {
        if let (Some(id), Some(user), Some(key)) = (get(&r, "id"), get(&r, "user_id"), get(&r, "key"))
            && !key.trim().is_empty()
        {
            keys.entry(user.to_string()).or_default().push(api_key(
                id,
                key,
                get(&r, "created_at"),
                get(&r, "last_used_at"),
            ));
        }
    }
    for r in &users {
        if let (Some(id), Some(key)) = (get(r, "id"), string(get(r, "api_key")))
            && !keys.contains_key(id)
        {
            keys.entry(id.to_string())
                .or_default()
                .push(api_key(&format!("key_{id}"), &key, None, None));
        }
    }
    for r in db.rows("file", &["id", "path"], None).await? {
        if let (Some(id), Some(path)) = (get(&r, "id"), get(&r, "path")) {
            images.uploads.insert(id.to_string(), path.to_string());
        }
    }
    let mut data = SourceData::default();
    for r in &users {
        let id = get(r, "id").unwrap_or_default();
        data.users.push(
            map_user(
                r,
                auths.get(id),
                keys.get(id).map(Vec::as_slice).unwrap_or_default(),
                &images,
            )
            .map_err(|why| (id.to_string(), why)),
        );
    }

    // Groups: members in group_member (current) or the group's user_ids (older).
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    for r in db
        .rows(
            "group_member",
            &["group_id", "user_id", "created_at"],
            Some("created_at"),
        )
        .await?
    {
        if let (Some(g), Some(u)) = (get(&r, "group_id"), get(&r, "user_id")) {
            members.entry(g.to_string()).or_default().push(u.to_string());
        }
    }
    for r in db
        .rows(
            "group",
            &["id", "name", "description", "permissions", "user_ids", "created_at"],
            Some("created_at"),
        )
        .await?
    {
        let Some(id) = get(&r, "id") else { continue };
        let mut group_members = members.remove(id).unwrap_or_default();
        if let Some(Value::Array(ids)) = json(get(&r, "user_ids")) {
            for u in ids.iter().filter_map(Value::as_str) {
                if !group_members.iter().any(|m| m == u) {
                    group_members.push(u.to_string());
                }
            }
        }
        data.groups.push(SourceGroup {
            source_id: id.to_string(),
            name: get(&r, "name").unwrap_or_default().to_string(),
            description: get(&r, "description").unwrap_or_default().to_string(),
            permissions: json(get(&r, "permissions"))
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({})),
            members: group_members,
            created_at: epoch(get(&r, "created_at")),
        });
    }

    // The default permission template: config key `user.permissions` (one row per key in
    // current versions; one JSON document `data` with `user.permissions` in older ones).
    let configs = db.rows("config", &["id", "key", "value", "data"], None).await?;
    let per_key = configs
        .iter()
        .find(|r| get(r, "key") == Some("user.permissions"))
        .and_then(|r| json(get(r, "value")));
    let document = configs
        .iter()
        .filter(|r| get(r, "data").is_some())
        .max_by_key(|r| get(r, "id").and_then(|i| i.parse::<i64>().ok()).unwrap_or(0))
        .and_then(|r| json(get(r, "data")).and_then(|d| d.get("user")?.get("permissions").cloned()));
    data.default_permissions = per_key.or(document).filter(Value::is_object);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_are_checked() {
        assert_eq!(
            data_url_image("data:image/png;base64,iVBORw0KGgo=").unwrap(),
            b"\x89PNG\r\n\x1a\n"
        );
        assert!(data_url_image("data:image/png;base64,iVBO\nRw0KGgo=").is_ok());
        assert!(data_url_image("data:text/html;base64,PGI+").is_err());
        assert!(data_url_image("data:image/png;base64,!!!").is_err());
        assert!(data_url_image("data:image/png;base64,").is_err());
        assert!(data_url_image("https://x.org/a.png").is_err());
    }

    #[test]
    fn image_files_stay_inside_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("uploads")).unwrap();
        std::fs::write(dir.path().join("uploads/f1_me.png"), b"png bytes").unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"no").unwrap();
        let mut images = ImageFiles::new(ImageDir::new(Some(dir.path().to_path_buf()), 1024).unwrap());
        images
            .uploads
            .insert("f1".into(), "/app/backend/data/uploads/f1_me.png".into());
        images.uploads.insert("f2".into(), "s3://bucket/f2_me.png".into());
        images
            .uploads
            .insert("f3".into(), "/app/backend/data/uploads/..".into());
        assert_eq!(images.load("/api/v1/files/f1/content").unwrap().bytes, b"png bytes");
        assert_eq!(images.load("/api/v1/files/f1/content?t=1").unwrap().bytes, b"png bytes");
        assert!(
            images
                .load("/api/v1/files/f2/content")
                .unwrap_err()
                .contains("cloud storage")
        );
        assert!(images.load("/api/v1/files/f3/content").is_err());
        assert!(
            images
                .load("/api/v1/files/nope/content")
                .unwrap_err()
                .contains("not in the file table")
        );
        assert!(
            images
                .load("/cache/../secret.txt")
                .unwrap_err()
                .contains("leaves Open WebUI's data directory")
        );
        assert!(
            images
                .load("/static/user.png")
                .unwrap_err()
                .contains("not carried over")
        );
        let small = ImageFiles {
            files: ImageDir::new(Some(dir.path().to_path_buf()), 3).unwrap(),
            ..images
        };
        assert!(
            small
                .load("/api/v1/files/f1/content")
                .unwrap_err()
                .contains("larger than")
        );
        let mut none = ImageFiles::new(ImageDir::new(None, 1024).unwrap());
        none.uploads
            .insert("f1".into(), "/app/backend/data/uploads/f1_me.png".into());
        assert!(
            none.load("/api/v1/files/f1/content")
                .unwrap_err()
                .contains("--files DIR")
        );
    }
}
