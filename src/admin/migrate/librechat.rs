//! LibreChat's MongoDB collections as `mongoexport` writes them (JSON lines, or one array
//! with `--jsonArray`; canonical or relaxed extended JSON: `{"$oid"}`, `{"$date"}`,
//! `{"$numberLong"}`...): `users`, `balances` and `transactions`. Which collection a file
//! holds is told by its documents (users have an email; balances `tokenCredits`;
//! transactions a `tokenType`).

use super::ImageDir;
use super::db::rfc3339;
use anyhow::Context;
use roster_core::service::{SourceBackupCode, SourceData, SourceTransaction, SourceTwoFactor, SourceUser, UserRecord};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
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

fn map_user(doc: &Value, creds_key: Option<&CredsKey>, images: &ImageDir) -> Result<SourceUser, (String, String)> {
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
    let two_factor = two_factor(doc, creds_key, &mut notes);
    // The avatar: a link (OAuth pictures, cloud file strategies), or a file of the local file
    // strategy, /images/<user>/avatar-<ms>.png?manual=true under LibreChat's client/public.
    let mut avatar_image = None;
    let avatar_url = match text(doc, "avatar") {
        Some(a) if a.starts_with("https://") || a.starts_with("http://") => Some(a),
        Some(a) if a.starts_with("/images/") => {
            let path = a.split(['?', '#']).next().unwrap_or(&a);
            match images.read(
                Path::new(path.trim_start_matches('/')),
                &a,
                "LibreChat's client/public directory",
            ) {
                Ok(image) => avatar_image = Some(image),
                Err(why) => notes.push(why),
            }
            None
        }
        Some(a) => {
            notes.push(format!(
                "the avatar {a:?} is a path of the LibreChat server; not carried over"
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
        two_factor,
        avatar_image,
        ..SourceUser::default()
    })
}

/// LibreChat's `CREDS_KEY`: the AES key (hex in its `.env`) of its encrypted credentials.
pub struct CredsKey(Vec<u8>);

impl CredsKey {
    /// Parses the hex key: 32 bytes as LibreChat needs (its v3 format is AES-256), or 16 or 24
    /// for the older AES-CBC formats.
    pub fn parse(hex_key: &str) -> anyhow::Result<Self> {
        let bytes =
            hex::decode(hex_key.trim()).map_err(|e| anyhow::anyhow!("--creds-key (CREDS_KEY): not hex ({e})"))?;
        anyhow::ensure!(
            matches!(bytes.len(), 16 | 24 | 32),
            "--creds-key (CREDS_KEY): {} bytes; LibreChat's key is 32 bytes (64 hex characters)",
            bytes.len()
        );
        Ok(Self(bytes))
    }
}

/// Why a stored `totpSecret` could not be read.
#[derive(Debug, PartialEq)]
enum SecretError {
    NoKey(&'static str),
    Malformed(&'static str, String),
    WrongKey(&'static str),
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::NoKey(format) => write!(
                f,
                "totpSecret is encrypted ({format}) and no --creds-key (or CREDS_KEY) was given"
            ),
            SecretError::Malformed(format, why) => write!(f, "totpSecret ({format}): {why}"),
            SecretError::WrongKey(format) => write!(
                f,
                "totpSecret ({format}) does not decrypt to a base32 secret with the given CREDS_KEY (wrong key?)"
            ),
        }
    }
}

fn hex_part(format: &'static str, what: &str, text: &str) -> Result<Vec<u8>, SecretError> {
    hex::decode(text).map_err(|e| SecretError::Malformed(format, format!("the {what} is not hex ({e})")))
}

/// The base32 secret of a stored `totpSecret`, as LibreChat's `getTOTPSecret` reads it:
/// `v3:IV:CIPHERTEXT` (AES-256-CTR, hex), `IV:CIPHERTEXT` (v2: AES-CBC with PKCS#7 padding,
/// hex), else the plain base32 secret.
fn decrypt_secret(stored: &str, key: Option<&CredsKey>) -> Result<String, SecretError> {
    use aes::cipher::{BlockDecryptMut, KeyIvInit, StreamCipher, block_padding::Pkcs7};
    let (format, plain) = if let Some(rest) = stored.strip_prefix("v3:") {
        const V3: &str = "v3";
        let key = key.ok_or(SecretError::NoKey(V3))?;
        let (iv, ciphertext) = rest
            .split_once(':')
            .ok_or_else(|| SecretError::Malformed(V3, "no ':' between IV and ciphertext".into()))?;
        let (iv, mut data) = (hex_part(V3, "IV", iv)?, hex_part(V3, "ciphertext", ciphertext)?);
        if key.0.len() != 32 {
            return Err(SecretError::Malformed(V3, "needs a 32-byte CREDS_KEY (AES-256)".into()));
        }
        let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new_from_slices(&key.0, &iv)
            .map_err(|_| SecretError::Malformed(V3, format!("an IV of {} bytes; 16 expected", iv.len())))?;
        cipher.apply_keystream(&mut data);
        (V3, data)
    } else if let Some((iv, ciphertext)) = stored.split_once(':') {
        const V2: &str = "v2";
        let key = key.ok_or(SecretError::NoKey(V2))?;
        let (iv, data) = (hex_part(V2, "IV", iv)?, hex_part(V2, "ciphertext", ciphertext)?);
        if iv.len() != 16 {
            return Err(SecretError::Malformed(
                V2,
                format!("an IV of {} bytes; 16 expected", iv.len()),
            ));
        }
        fn cbc<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>>
        where
            cbc::Decryptor<C>: KeyIvInit + BlockDecryptMut,
            C: aes::cipher::BlockCipher + aes::cipher::BlockDecryptMut,
        {
            cbc::Decryptor::<C>::new_from_slices(key, iv)
                .ok()?
                .decrypt_padded_vec_mut::<Pkcs7>(data)
                .ok()
        }
        let plain = match key.0.len() {
            16 => cbc::<aes::Aes128>(&key.0, &iv, &data),
            24 => cbc::<aes::Aes192>(&key.0, &iv, &data),
            _ => cbc::<aes::Aes256>(&key.0, &iv, &data),
        };
        (V2, plain.ok_or(SecretError::WrongKey(V2))?)
    } else {
        return Ok(stored.to_string());
    };
    // CTR has no integrity check and a wrong key may still unpad: a wrong key shows as text
    // that is no base32 secret.
    match String::from_utf8(plain) {
        Ok(text) if !text.trim().is_empty() && roster_core::two_factor::decode_base32(&text).is_ok() => Ok(text),
        _ => Err(SecretError::WrongKey(format)),
    }
}

/// A user's enabled two-factor authentication (`twoFactorEnabled`, `totpSecret`,
/// `backupCodes: [{codeHash, used, usedAt}]`); what cannot be carried over is a note.
fn two_factor(doc: &Value, creds_key: Option<&CredsKey>, notes: &mut Vec<String>) -> Option<SourceTwoFactor> {
    let enabled = doc.get("twoFactorEnabled").and_then(Value::as_bool) == Some(true);
    let stored = text(doc, "totpSecret");
    let stored = match (enabled, stored) {
        (true, Some(s)) => s,
        (true, None) => {
            notes.push("two-factor not carried over: twoFactorEnabled without a totpSecret".into());
            return None;
        }
        // An enrolment never confirmed: LibreChat does not ask for a code either.
        (false, Some(_)) => {
            notes.push("a two-factor enrolment never confirmed in LibreChat is not carried over".into());
            return None;
        }
        (false, None) => return None,
    };
    let secret = match decrypt_secret(&stored, creds_key) {
        Ok(s) => s,
        Err(why) => {
            notes.push(format!("two-factor not carried over: {why}"));
            return None;
        }
    };
    let mut backup_codes = Vec::new();
    for (i, code) in doc
        .get("backupCodes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match code.get("codeHash").and_then(Value::as_str) {
            Some(hash) => backup_codes.push(SourceBackupCode {
                sha256: hash.to_string(),
                used: code.get("used").and_then(Value::as_bool) == Some(true),
                used_at: time_of(code.get("usedAt")),
            }),
            None => notes.push(format!(
                "backupCodes[{i}]: no codeHash; that backup code is not carried over"
            )),
        }
    }
    Some(SourceTwoFactor {
        secret_base32: secret,
        backup_codes,
    })
}

/// Reads the export files of `roster migrate librechat`; `creds_key` (LibreChat's
/// `CREDS_KEY`) decrypts the users' TOTP secrets.
/// Reads the export files; avatars stored as files are read through `images` (LibreChat's
/// public directory).
pub fn read(files: &[PathBuf], creds_key: Option<&CredsKey>, images: &ImageDir) -> anyhow::Result<SourceData> {
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
                users.push(map_user(&doc, creds_key, images));
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

    /// The fixture's secrets, encrypted by LibreChat's own encryptV3 and encryptV2
    /// (tests/fixtures/migrate/scripts/make_librechat.cjs), decrypt to the manifest's.
    #[test]
    fn librechat_secrets_decrypt() -> anyhow::Result<()> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/migrate/librechat");
        let manifest: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json"))?)?;
        let key = CredsKey::parse(manifest["creds_key"].as_str().unwrap_or_default())?;
        let mut wrong = CredsKey::parse(manifest["creds_key"].as_str().unwrap_or_default())?;
        wrong.0[0] ^= 1;
        let docs = read_documents(&dir.join("export/users.json"))?;
        let mut formats = Vec::new();
        for entry in manifest["users"].as_array().into_iter().flatten() {
            let Some(secret) = entry["totp_secret"].as_str() else {
                continue;
            };
            let format = entry["totp_format"].as_str().unwrap_or_default();
            formats.push(format);
            let doc = docs
                .iter()
                .flatten()
                .find(|d| d["_id"] == entry["id"])
                .ok_or_else(|| anyhow::anyhow!("{} not in users.json", entry["id"]))?;
            let stored = doc["totpSecret"].as_str().unwrap_or_default();
            assert_eq!(decrypt_secret(stored, Some(&key)).as_deref(), Ok(secret), "{format}");
            let mut notes = Vec::new();
            let read = two_factor(doc, Some(&key), &mut notes).ok_or_else(|| anyhow::anyhow!("{notes:?}"))?;
            assert_eq!(read.secret_base32, secret);
            assert_eq!(read.backup_codes.len(), 10);
            assert_eq!(read.backup_codes.iter().filter(|c| c.used).count(), 1);
            assert!(read.backup_codes[0].used_at.is_some());
            if format == "plain" {
                assert_eq!(decrypt_secret(stored, None).as_deref(), Ok(secret));
                continue;
            }
            let v = if format == "v3" { "v3" } else { "v2" };
            assert_eq!(decrypt_secret(stored, None), Err(SecretError::NoKey(v)));
            assert_eq!(decrypt_secret(stored, Some(&wrong)), Err(SecretError::WrongKey(v)));
            let mut notes = Vec::new();
            assert!(two_factor(doc, Some(&wrong), &mut notes).is_none());
            assert!(
                notes[0].starts_with("two-factor not carried over: totpSecret"),
                "{notes:?}"
            );
        }
        formats.sort_unstable();
        assert_eq!(formats, ["plain", "v2", "v3"]);
        Ok(())
    }

    #[test]
    fn malformed_secrets_and_keys() {
        let key = CredsKey(vec![7; 32]);
        for stored in ["v3:zz:00", "v3:00112233", "v3:0011:00", "zz:00", "0011:00"] {
            assert!(
                matches!(decrypt_secret(stored, Some(&key)), Err(SecretError::Malformed(..))),
                "{stored}"
            );
        }
        // Not a whole block: no padding to remove.
        assert_eq!(
            decrypt_secret(&format!("{}:0011", "00".repeat(16)), Some(&key)),
            Err(SecretError::WrongKey("v2"))
        );
        assert!(CredsKey::parse("not hex").is_err());
        assert!(CredsKey::parse(&"ab".repeat(31)).is_err());
        assert!(CredsKey::parse(&"ab".repeat(32)).is_ok());
    }
}
