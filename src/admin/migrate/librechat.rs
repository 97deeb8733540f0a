//! LibreChat's MongoDB collections as `mongoexport` writes them (JSON lines, or one array
//! with `--jsonArray`; canonical or relaxed extended JSON: `{"$oid"}`, `{"$date"}`,
//! `{"$numberLong"}`...): `users`, `balances` and `transactions`. Which collection a file
//! holds is told by its documents (users have an email; balances `tokenCredits`;
//! transactions a `tokenType`).

use super::db::rfc3339;
use anyhow::Context;
use roster_core::service::{SourceData, SourceTransaction, SourceUser, UserRecord};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Federated ids LibreChat keeps on a user; carried over under the preferences'
/// `provider_ids`.
const PROVIDER_IDS: &[&str] = &[
    "googleId",
    "facebookId",
    "openidId",
    "openidIssuer",
    "samlId",
    "ldapId",
    "githubId",
    "discordId",
    "appleId",
];

/// Turns extended JSON into plain JSON: `{"$oid": x}` into x, `{"$date": ...}` into an RFC
/// 3339 string, `{"$numberLong"|"$numberInt"|"$numberDouble"|"$numberDecimal": x}` into a
/// number.
pub fn plain(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            if map.len() == 1 {
                let (key, inner) = map
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .unwrap_or_default();
                match key.as_str() {
                    "$oid" => return inner,
                    "$date" => return date(plain(inner)),
                    "$numberLong" | "$numberInt" | "$numberDouble" | "$numberDecimal" => {
                        let text = inner.as_str().map(str::to_string).unwrap_or_else(|| inner.to_string());
                        if let Ok(i) = text.parse::<i64>() {
                            return json!(i);
                        }
                        if let Ok(f) = text.parse::<f64>() {
                            return json!(f);
                        }
                        return inner;
                    }
                    _ => {}
                }
            }
            Value::Object(map.into_iter().map(|(k, v)| (k, plain(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(plain).collect()),
        other => other,
    }
}

/// A `$date` value (ISO string or milliseconds) as an RFC 3339 string.
fn date(v: Value) -> Value {
    let millis = match &v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    if let Some(ms) = millis
        && let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
    {
        return json!(rfc3339(t));
    }
    v
}

fn time_of(v: Option<&Value>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v?.as_str()?, &Rfc3339).ok()
}

fn text(doc: &Value, key: &str) -> Option<String> {
    doc.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The documents of one export file (JSON lines or a JSON array), as plain JSON.
pub fn read_documents(path: &PathBuf) -> anyhow::Result<Vec<Result<Value, String>>> {
    let content = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let trimmed = content.trim_start();
    if trimmed.starts_with('[') {
        let docs: Vec<Value> = serde_json::from_str(trimmed)
            .with_context(|| format!("{}: not a JSON array of documents", path.display()))?;
        return Ok(docs.into_iter().map(|d| Ok(plain(d))).collect());
    }
    Ok(content
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<Value>(l)
                .map(plain)
                .map_err(|e| format!("{}: line {}: not a JSON document: {e}", path.display(), i + 1))
        })
        .collect())
}

fn map_user(doc: &Value) -> Result<SourceUser, (String, String)> {
    let id = text(doc, "_id").ok_or_else(|| ("(no _id)".to_string(), "a user document without an _id".to_string()))?;
    let mut notes = Vec::new();
    let mut preferences = Map::new();
    for key in ["plugins", "personalization", "favorites", "skillStates", "pinnedOrder"] {
        if let Some(v) = doc.get(key).filter(|v| !v.is_null()) {
            let mut v = v.clone();
            // Mongoose gives sub-documents an _id of their own: no setting.
            if let Some(o) = v.as_object_mut() {
                o.remove("_id");
            }
            preferences.insert(key.into(), v);
        }
    }
    let mut ids = Map::new();
    for key in PROVIDER_IDS {
        if let Some(v) = text(doc, key) {
            ids.insert((*key).into(), json!(v));
        }
    }
    if !ids.is_empty() {
        preferences.insert("provider_ids".into(), Value::Object(ids));
    }
    if doc.get("twoFactorEnabled").and_then(Value::as_bool) == Some(true) || doc.get("totpSecret").is_some() {
        notes.push(
            "two-factor secret and backup codes not carried over (this Roster has no two-factor login): \
             the account signs in with its password alone"
                .into(),
        );
    }
    let avatar = text(doc, "avatar");
    let avatar_url = match avatar {
        Some(a) if a.starts_with("https://") || a.starts_with("http://") => Some(a),
        Some(a) => {
            notes.push(format!(
                "the avatar {a:?} is a file of the LibreChat server; not carried over"
            ));
            None
        }
        None => None,
    };
    let terms_accepted_at = (doc.get("termsAccepted").and_then(Value::as_bool) == Some(true))
        .then(|| time_of(doc.get("termsAcceptedAt")).or_else(|| time_of(doc.get("createdAt"))))
        .flatten();
    let record = UserRecord {
        email: text(doc, "email"),
        username: text(doc, "username"),
        name: text(doc, "name"),
        role: text(doc, "role"),
        provider: text(doc, "provider"),
        email_verified: doc.get("emailVerified").and_then(Value::as_bool),
        avatar_url,
        preferences: Some(Value::Object(preferences)),
        created_at: time_of(doc.get("createdAt")).map(rfc3339),
        password_hash: text(doc, "password"),
        ..UserRecord::default()
    };
    Ok(SourceUser {
        source_id: id,
        record,
        terms_accepted_at,
        notes,
        ..SourceUser::default()
    })
}

/// Reads the export files of `roster migrate librechat`.
pub fn read(files: &[PathBuf]) -> anyhow::Result<SourceData> {
    let mut users: Vec<Result<SourceUser, (String, String)>> = Vec::new();
    let mut balances: HashMap<String, i64> = HashMap::new();
    let mut transactions: HashMap<String, Vec<SourceTransaction>> = HashMap::new();
    let mut orphans: Vec<(String, String)> = Vec::new();
    for file in files {
        for doc in read_documents(file)? {
            let doc = match doc {
                Ok(d) => d,
                Err(why) => {
                    users.push(Err((file.display().to_string(), why)));
                    continue;
                }
            };
            let owner = text(&doc, "user");
            if doc.get("email").is_some() {
                users.push(map_user(&doc));
            } else if let (Some(user), Some(credits)) = (owner.clone(), doc.get("tokenCredits")) {
                match credits.as_f64() {
                    Some(c) => {
                        balances.insert(user, c.round() as i64);
                    }
                    None => orphans.push((user, "a balance whose tokenCredits is not a number".into())),
                }
            } else if let (Some(user), true) = (owner, doc.get("tokenType").is_some()) {
                let id = text(&doc, "_id").unwrap_or_default();
                let amount = doc
                    .get("tokenValue")
                    .and_then(Value::as_f64)
                    .or_else(|| doc.get("rawAmount").and_then(Value::as_f64));
                match (id.is_empty(), amount) {
                    (false, Some(a)) => transactions.entry(user).or_default().push(SourceTransaction {
                        source_id: id,
                        amount: a.round() as i64,
                        created_at: time_of(doc.get("createdAt")).unwrap_or_else(OffsetDateTime::now_utc),
                    }),
                    _ => orphans.push((user, format!("transaction {id:?} without an _id or a tokenValue"))),
                }
            } else {
                let id = text(&doc, "_id").unwrap_or_else(|| "(no _id)".into());
                users.push(Err((
                    id,
                    format!("{}: a document that is no user, balance or transaction", file.display()),
                )));
            }
        }
    }
    for user in users.iter_mut().flatten() {
        user.balance = balances.remove(&user.source_id);
        if let Some(list) = transactions.remove(&user.source_id) {
            user.transactions = list;
        }
        if let Some(pos) = orphans.iter().position(|(u, _)| *u == user.source_id) {
            let (_, why) = orphans.remove(pos);
            user.notes.push(why);
        }
    }
    for (user, _) in balances {
        users.push(Err((user, "a balance of a user not in the users export".into())));
    }
    for (user, list) in transactions {
        users.push(Err((
            user,
            format!("{} transaction(s) of a user not in the users export", list.len()),
        )));
    }
    for (user, why) in orphans {
        users.push(Err((user, why)));
    }
    Ok(SourceData {
        users,
        ..SourceData::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_json_becomes_plain() {
        let v = plain(json!({
            "_id": {"$oid": "65a1b2c3d4e5f60718293a4b"},
            "createdAt": {"$date": "2024-01-02T03:04:05.678Z"},
            "updatedAt": {"$date": {"$numberLong": "1704164645678"}},
            "n": {"$numberLong": "42"},
            "list": [{"$numberInt": "7"}]
        }));
        assert_eq!(v["_id"], json!("65a1b2c3d4e5f60718293a4b"));
        assert_eq!(v["createdAt"], json!("2024-01-02T03:04:05.678Z"));
        assert_eq!(v["updatedAt"], json!("2024-01-02T03:04:05.678Z"));
        assert_eq!(v["n"], json!(42));
        assert_eq!(v["list"], json!([7]));
    }
}
