//! Langflow's database (`langflow.db` or PostgreSQL): tables `user` and `apikey`.
//! Langflow has no roles, only `is_superuser` and `is_active`: a superuser becomes `admin`;
//! an inactive user who never signed in is awaiting approval (`pending`), one who did is
//! deactivated. `optins` and the profile picture (a file of Langflow's picture set, such as
//! `Space/046-rocket.svg`) go to the preferences, where the Langflow dialect shows them.
//! API keys: Langflow 1.7+ stores an encrypted key and its SHA-256 (`api_key_hash`), which is
//! exactly the digest Roster keeps; older versions stored the key in plain text, whose
//! digest is computed here. Keys encrypted without a hash cannot be carried over (that
//! needs Langflow's secret key) and are reported.

use super::db::{Row, SourceDb, boolean, get, json, rfc3339, timestamp};
use roster_core::service::{SourceApiKey, SourceData, SourceUser, UserRecord};
use roster_core::token::digest;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

const USER_COLUMNS: &[&str] = &[
    "id",
    "username",
    "password",
    "profile_image",
    "is_active",
    "is_superuser",
    "create_at",
    "updated_at",
    "last_login_at",
    "optins",
    "store_api_key",
];

const KEY_COLUMNS: &[&str] = &[
    "id",
    "name",
    "user_id",
    "api_key",
    "api_key_hash",
    "is_active",
    "created_at",
    "last_used_at",
    "expires_at",
];

fn string(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// A key row as Roster keeps it, or why it cannot be.
fn map_key(r: &Row) -> Result<SourceApiKey, String> {
    let id = string(get(r, "id")).ok_or("an API key without an id")?;
    if boolean(get(r, "is_active")) == Some(false) {
        return Err(format!("API key {id} is inactive in Langflow; not carried over"));
    }
    let stored = string(get(r, "api_key")).unwrap_or_default();
    let (key_digest, prefix) = match string(get(r, "api_key_hash")) {
        Some(hash) => (hash.to_ascii_lowercase(), "sk-".to_string()),
        None if stored.starts_with("sk-") => (digest(&stored), stored.chars().take(8).collect()),
        None => {
            return Err(format!(
                "API key {id} is stored encrypted without a hash (needs Langflow's secret key); not carried over"
            ));
        }
    };
    Ok(SourceApiKey {
        source_id: id,
        name: string(get(r, "name")).unwrap_or_else(|| "Langflow API key".into()),
        digest: key_digest,
        prefix,
        created_at: timestamp(get(r, "created_at")),
        expires_at: timestamp(get(r, "expires_at")),
        last_used_at: timestamp(get(r, "last_used_at")),
    })
}

fn map_user(row: &Row, keys: Vec<Result<SourceApiKey, String>>) -> Result<SourceUser, String> {
    let id = string(get(row, "id")).ok_or("no id")?;
    let mut notes = Vec::new();
    let superuser = boolean(get(row, "is_superuser")).unwrap_or(false);
    let active = boolean(get(row, "is_active")).unwrap_or(false);
    let last_login_at = timestamp(get(row, "last_login_at"));
    // Inactive and never signed in: waiting for a superuser's approval.
    let (role, active) = match (superuser, active, last_login_at) {
        (true, _, _) => ("admin", active),
        (false, false, None) => ("pending", true),
        (false, a, _) => ("user", a),
    };
    let mut preferences = Map::new();
    if let Some(optins) = json(get(row, "optins")).filter(Value::is_object) {
        preferences.insert("optins".into(), optins);
    }
    if let Some(picture) = string(get(row, "profile_image")) {
        preferences.insert("profile_image".into(), json!(picture));
    }
    if string(get(row, "store_api_key")).is_some() {
        notes.push("the Langflow Store API key is encrypted with Langflow's secret key; not carried over".into());
    }
    let mut api_keys = Vec::new();
    for key in keys {
        match key {
            Ok(k) => api_keys.push(k),
            Err(why) => notes.push(why),
        }
    }
    let record = UserRecord {
        username: string(get(row, "username")),
        role: Some(role.into()),
        active: Some(active),
        preferences: Some(Value::Object(preferences)),
        created_at: timestamp(get(row, "create_at")).map(rfc3339),
        password_hash: string(get(row, "password")),
        ..UserRecord::default()
    };
    Ok(SourceUser {
        source_id: id,
        record,
        last_login_at,
        api_keys,
        notes,
        ..SourceUser::default()
    })
}

/// Reads everything `roster migrate langflow` carries over.
pub async fn read(db: &SourceDb) -> anyhow::Result<SourceData> {
    let users = db.rows("user", USER_COLUMNS, Some("create_at")).await?;
    if !db.columns("user").await?.contains("is_superuser") {
        anyhow::bail!("this is not a Langflow database (no user table with is_superuser)");
    }
    let mut keys: HashMap<String, Vec<Result<SourceApiKey, String>>> = HashMap::new();
    for r in db.rows("apikey", KEY_COLUMNS, Some("created_at")).await? {
        if let Some(user) = get(&r, "user_id") {
            keys.entry(user.to_string()).or_default().push(map_key(&r));
        }
    }
    let mut data = SourceData::default();
    for r in &users {
        let id = get(r, "id").unwrap_or_default().to_string();
        data.users
            .push(map_user(r, keys.remove(&id).unwrap_or_default()).map_err(|why| (id, why)));
    }
    Ok(data)
}
