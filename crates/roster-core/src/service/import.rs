//! Bulk import and export of users (the admin command line's `import-users` and
//! `export-users`). Every record is validated by the same rules as an account created by an
//! administrator; bad records are reported with their line and do not stop good ones; a
//! re-run of the same file changes nothing.

use super::Core;
use super::users::{parse_email, parse_username, validate_preferences, validate_provider};
use crate::error::{Error, Result};
use crate::password::{Verified, validate_password};
use crate::store::{AccountToken, AccountTokenKind, StoreError};
use crate::user::{
    PasswordHash, Role, User, login_key, login_keys, validate_avatar, validate_name, validate_text, validate_timezone,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// One user as `export-users` writes it and `import-users` reads it (JSON lines or CSV with
/// these column names). `id`, `last_login_at` and `banned_until` are exported for reference
/// and ignored on import; `password` (plaintext) and `password_hash` (bcrypt or Argon2) are
/// only ever read, never written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub bio: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    /// A JSON object (in CSV: its JSON text).
    #[serde(default)]
    pub preferences: Option<serde_json::Value>,
    /// RFC 3339; kept on import (the sign-up date survives a move).
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub last_login_at: Option<String>,
    #[serde(default)]
    pub banned_until: Option<String>,
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    #[serde(default, skip_serializing)]
    pub password_hash: Option<String>,
}

impl UserRecord {
    /// The exported view of a user: everything but secrets.
    pub fn from_user(user: &User) -> Self {
        let time = |t: OffsetDateTime| t.format(&Rfc3339).ok();
        UserRecord {
            id: Some(user.id.to_string()),
            email: user.email.clone(),
            username: user.username.clone(),
            name: user.name.clone(),
            role: Some(user.role.as_str().to_string()),
            provider: Some(user.provider.clone()),
            email_verified: Some(user.email_verified),
            active: Some(user.active),
            avatar_url: user.avatar.clone(),
            bio: user.bio.clone(),
            timezone: user.timezone.clone(),
            preferences: Some(user.preferences.clone()),
            created_at: time(user.created_at),
            last_login_at: user.last_login_at.and_then(time),
            banned_until: user.banned_until.and_then(time),
            password: None,
            password_hash: None,
        }
    }
}

/// One record of an import file: its line number and the record, or why it could not be read.
#[derive(Debug, Clone)]
pub struct ImportLine {
    pub line: u64,
    pub record: std::result::Result<UserRecord, String>,
}

/// What to do with a record whose email or username is already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// Leave the existing account alone (the default: a re-run changes nothing).
    #[default]
    Skip,
    /// Update the existing account with the fields the record gives.
    Update,
    /// Report the record as failed.
    Fail,
}

/// Import settings.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub on_conflict: OnConflict,
    /// Decide and report, write nothing.
    pub dry_run: bool,
    /// How long the set-password links of accounts imported without a password stay valid.
    pub link_expires_in: Duration,
}

/// What happened (or, on a dry run, would happen) to one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A new account with a password or a kept hash.
    Created,
    /// A new account without a password, and a single-use set-password link (its token;
    /// None on a dry run).
    CreatedWithLink(Option<String>),
    /// An existing account was updated.
    Updated,
    /// An existing account already matched the record.
    Unchanged,
    /// An existing account was left alone (`--on-conflict skip`).
    Skipped,
    /// The record was refused; why.
    Failed(String),
}

/// One record's outcome.
#[derive(Debug, Clone)]
pub struct RecordReport {
    pub line: u64,
    /// The record's email or username, for messages.
    pub who: String,
    pub outcome: Outcome,
}

/// The outcome of every record, in file order.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub records: Vec<RecordReport>,
    pub dry_run: bool,
}

impl ImportReport {
    fn count(&self, matches: impl Fn(&Outcome) -> bool) -> usize {
        self.records.iter().filter(|r| matches(&r.outcome)).count()
    }

    /// Accounts created (with or without a link).
    pub fn created(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Created | Outcome::CreatedWithLink(_)))
    }
    /// Accounts created without a password, each with a set-password link.
    pub fn linked(&self) -> usize {
        self.count(|o| matches!(o, Outcome::CreatedWithLink(_)))
    }
    pub fn updated(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Updated))
    }
    pub fn unchanged(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Unchanged))
    }
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped))
    }
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }
}

/// A record after validation: `Some` fields were given.
#[derive(Debug, Clone, Default)]
pub(super) struct Valid {
    pub(super) email: Option<String>,
    pub(super) username: Option<String>,
    pub(super) name: Option<String>,
    pub(super) role: Option<Role>,
    pub(super) provider: Option<String>,
    pub(super) email_verified: Option<bool>,
    pub(super) active: Option<bool>,
    pub(super) avatar: Option<String>,
    pub(super) bio: Option<String>,
    pub(super) timezone: Option<String>,
    pub(super) preferences: Option<serde_json::Value>,
    pub(super) created_at: Option<OffsetDateTime>,
    pub(super) password: Option<String>,
    pub(super) password_hash: Option<PasswordHash>,
}

/// Accepts stored hashes of the kinds Roster verifies: bcrypt (`$2a$`, `$2b$`, `$2y$`) and
/// Argon2 PHC strings. They are kept as they are and upgraded at the first login.
pub fn validate_password_hash(raw: &str) -> Result<PasswordHash> {
    let s = raw.trim();
    let bcrypt = (s.starts_with("$2a$") || s.starts_with("$2b$") || s.starts_with("$2y$")) && s.len() == 60;
    let argon2 = s.starts_with("$argon2")
        && argon2::PasswordHash::new(s)
            .is_ok_and(|h| matches!(h.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d") && h.hash.is_some());
    if bcrypt || argon2 {
        Ok(PasswordHash(s.to_string()))
    } else {
        Err(Error::invalid(
            "password_hash",
            "must be a bcrypt ($2a$, $2b$, $2y$) or Argon2 hash",
        ))
    }
}

fn text(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub(super) fn describe(error: &Error) -> String {
    match error {
        Error::Internal(e) => format!("internal error: {e:#}"),
        other => other.to_string(),
    }
}

impl Core {
    pub(super) fn validate_record(&self, r: &UserRecord) -> Result<Valid> {
        let email = parse_email(text(&r.email))?.map(|e| e.as_str().to_string());
        let username = parse_username(text(&r.username))?.map(|u| u.as_str().to_string());
        if email.is_none() && username.is_none() {
            return Err(Error::invalid("email", "an email or a username is required"));
        }
        if text(&r.password).is_some() && text(&r.password_hash).is_some() {
            return Err(Error::invalid(
                "password",
                "give a password or a password_hash, not both",
            ));
        }
        let password = match r.password.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => {
                validate_password("password", p, self.config.min_password_length)?;
                Some(p.to_string())
            }
            None => None,
        };
        let preferences = match &r.preferences {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => None,
            Some(serde_json::Value::String(s)) => Some(validate_preferences(
                serde_json::from_str(s).map_err(|_| Error::invalid("preferences", "must be a JSON object"))?,
            )?),
            Some(v) => Some(validate_preferences(v.clone())?),
        };
        let created_at = text(&r.created_at)
            .map(|t| {
                OffsetDateTime::parse(t, &Rfc3339)
                    .map(crate::clock::to_millis_precision)
                    .map_err(|_| Error::invalid("created_at", "must be an RFC 3339 time"))
            })
            .transpose()?;
        Ok(Valid {
            email,
            username,
            name: text(&r.name).map(validate_name).transpose()?.flatten(),
            role: text(&r.role).map(Role::parse).transpose()?,
            provider: text(&r.provider).map(validate_provider).transpose()?,
            email_verified: r.email_verified,
            active: r.active,
            avatar: text(&r.avatar_url).map(validate_avatar).transpose()?.flatten(),
            bio: text(&r.bio)
                .map(|b| validate_text("bio", b, 1000))
                .transpose()?
                .flatten(),
            timezone: text(&r.timezone).map(validate_timezone).transpose()?.flatten(),
            preferences,
            created_at,
            password,
            password_hash: text(&r.password_hash).map(validate_password_hash).transpose()?,
        })
    }

    /// A new user from a valid record (its password, if plaintext, still to be hashed).
    pub(super) fn user_from_record(&self, v: &Valid) -> Result<User> {
        let mut user = self.build_user(
            v.email.as_deref().map(crate::user::Email::parse).transpose()?,
            v.username.as_deref().map(crate::user::Username::parse).transpose()?,
            v.name.clone(),
            v.password_hash.clone(),
        )?;
        if let Some(role) = v.role {
            user.role = role;
        }
        if let Some(p) = &v.provider {
            user.provider = p.clone();
        }
        user.email_verified = v.email_verified.unwrap_or(false);
        user.active = v.active.unwrap_or(true);
        user.avatar = v.avatar.clone();
        user.bio = v.bio.clone();
        user.timezone = v.timezone.clone();
        if let Some(p) = &v.preferences {
            user.preferences = p.clone();
        }
        if let Some(t) = v.created_at {
            user.created_at = t;
            user.updated_at = t;
        }
        Ok(user)
    }

    /// Applies the fields a record gives to an existing user (its plaintext password, if
    /// any, already hashed into `new_hash`).
    pub(super) fn apply_record(user: &mut User, v: &Valid, new_hash: Option<&PasswordHash>) {
        if let Some(email) = &v.email
            && user.email.as_deref() != Some(email)
        {
            user.email = Some(email.clone());
            user.email_verified = false;
        }
        if let Some(u) = &v.username {
            user.username = Some(u.clone());
        }
        if let Some(n) = &v.name {
            user.name = Some(n.clone());
        }
        if let Some(role) = v.role {
            user.role = role;
        }
        if let Some(p) = &v.provider {
            user.provider = p.clone();
        }
        if let Some(b) = v.email_verified {
            user.email_verified = b;
        }
        if let Some(b) = v.active {
            user.active = b;
        }
        if let Some(a) = &v.avatar {
            user.avatar = Some(a.clone());
        }
        if let Some(b) = &v.bio {
            user.bio = Some(b.clone());
        }
        if let Some(t) = &v.timezone {
            user.timezone = Some(t.clone());
        }
        if let Some(p) = &v.preferences {
            user.preferences = p.clone();
        }
        if let Some(h) = new_hash.or(v.password_hash.as_ref()) {
            user.password_hash = Some(h.clone());
        }
    }

    /// The hash to write for a record's plaintext password: None when it already matches
    /// the stored hash (so a re-run changes nothing).
    async fn hash_if_changed(&self, password: &str, existing: Option<&PasswordHash>) -> Result<Option<PasswordHash>> {
        if let Some(stored) = existing
            && self.hasher.verify(password, stored).await? != Verified::No
        {
            return Ok(None);
        }
        Ok(Some(self.hasher.hash(password).await?))
    }

    /// Imports users: the operator's alone (`roster import-users`), as the whole deployment's
    /// accounts are at stake. `progress` is told how many more records were handled.
    pub async fn import_users(
        &self,
        _: super::Operator,
        lines: Vec<ImportLine>,
        options: &ImportOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportReport> {
        super::invitations::validate_lifetime("link_expires", options.link_expires_in)?;
        let mut report = ImportReport {
            records: Vec::with_capacity(lines.len()),
            dry_run: options.dry_run,
        };
        // 1. Validate, and find duplicates inside the file.
        let mut valid: Vec<(usize, Valid)> = Vec::new();
        // Login keys seen so far, with their line: an email of one record may not be the
        // username of another, as in the database.
        let mut seen: HashMap<String, u64> = HashMap::new();
        for ImportLine { line, record } in lines {
            let who = match &record {
                Ok(r) => text(&r.email)
                    .or(text(&r.username))
                    .unwrap_or("(no email or username)")
                    .to_string(),
                Err(_) => String::from("(unreadable)"),
            };
            let checked = record.and_then(|r| self.validate_record(&r).map_err(|e| describe(&e)));
            let outcome = match checked {
                Err(reason) => Some(Outcome::Failed(reason)),
                Ok(v) => {
                    let keys = login_keys(v.email.as_deref(), v.username.as_deref());
                    match keys.iter().find_map(|(key, _)| seen.get(key).copied()) {
                        Some(first) => Some(Outcome::Failed(format!("the same email or username as line {first}"))),
                        None => {
                            for (key, _) in keys {
                                seen.insert(key, line);
                            }
                            valid.push((report.records.len(), v));
                            None
                        }
                    }
                }
            };
            let failed = outcome.is_some();
            report.records.push(RecordReport {
                line,
                who,
                outcome: outcome.unwrap_or(Outcome::Skipped),
            });
            if failed {
                progress(1);
            }
        }

        // 2. Find the accounts that exist already, a few hundred look-ups at a time: the
        // holders of the records' login keys (an email may be another account's username).
        let mut by_key: HashMap<String, User> = HashMap::new();
        for chunk in valid.chunks(500) {
            let logins: Vec<String> = chunk
                .iter()
                .flat_map(|(_, v)| v.email.iter().chain(v.username.iter()).cloned())
                .collect();
            for user in self.store.find_users_by_logins(&logins).await? {
                for (key, _) in login_keys(user.email.as_deref(), user.username.as_deref()) {
                    by_key.insert(key, user.clone());
                }
            }
        }

        // 3. Decide per record: new, or a conflict handled by the policy.
        let mut new: Vec<(usize, Valid)> = Vec::new();
        for (index, v) in valid {
            let email_owner = v.email.as_deref().and_then(|e| by_key.get(&login_key(e)));
            let username_owner = v.username.as_deref().and_then(|u| by_key.get(&login_key(u)));
            let existing = match (email_owner, username_owner) {
                (None, None) => {
                    new.push((index, v));
                    continue;
                }
                (Some(a), Some(b)) if a.id != b.id => {
                    report.records[index].outcome =
                        Outcome::Failed("the email belongs to one account and the username to another".into());
                    progress(1);
                    continue;
                }
                (Some(a), _) => a.clone(),
                (None, Some(b)) => b.clone(),
            };
            let outcome = match options.on_conflict {
                OnConflict::Skip => Outcome::Skipped,
                OnConflict::Fail => Outcome::Failed(format!(
                    "an account with this email or username exists ({})",
                    existing.id
                )),
                OnConflict::Update => self.update_from_record(&existing, &v, options.dry_run).await,
            };
            report.records[index].outcome = outcome;
            progress(1);
        }

        // 4. Create the new accounts.
        if options.dry_run {
            for (index, v) in &new {
                report.records[*index].outcome = if v.password.is_none() && v.password_hash.is_none() {
                    Outcome::CreatedWithLink(None)
                } else {
                    Outcome::Created
                };
                progress(1);
            }
            return Ok(report);
        }
        self.create_from_records(new, options, &mut report, progress).await?;
        Ok(report)
    }

    /// Which of a new user's logins another account holds (`email` or `username`).
    async fn taken_field(&self, user: &User) -> Result<&'static str> {
        let Some(email) = user.email.as_deref() else {
            return Ok("username");
        };
        let holders = self.store.find_users_by_logins(&[email.to_string()]).await?;
        Ok(if holders.iter().any(|h| h.id != user.id) {
            "email"
        } else {
            "username"
        })
    }

    async fn update_from_record(&self, existing: &User, v: &Valid, dry_run: bool) -> Outcome {
        let new_hash = match &v.password {
            Some(p) => match self.hash_if_changed(p, existing.password_hash.as_ref()).await {
                Ok(h) => h,
                Err(e) => return Outcome::Failed(describe(&e)),
            },
            None => None,
        };
        let mut changed = existing.clone();
        Self::apply_record(&mut changed, v, new_hash.as_ref());
        if changed == *existing {
            return Outcome::Unchanged;
        }
        if dry_run {
            return Outcome::Updated;
        }
        let result = self
            .modify_user(existing.id, None, Some(crate::journal::audit::USER_IMPORT), |u| {
                Self::apply_record(u, v, new_hash.as_ref());
                Ok(())
            })
            .await;
        match result {
            Ok((before, after)) => {
                if before == after {
                    Outcome::Unchanged
                } else {
                    Outcome::Updated
                }
            }
            Err(e) => Outcome::Failed(describe(&e)),
        }
    }

    async fn create_from_records(
        &self,
        new: Vec<(usize, Valid)>,
        options: &ImportOptions,
        report: &mut ImportReport,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        for chunk in new.chunks(1000) {
            // Plaintext passwords are hashed in parallel (bounded by the hasher).
            let mut hashing = tokio::task::JoinSet::new();
            for (position, (_, v)) in chunk.iter().enumerate() {
                if let Some(p) = &v.password {
                    let hasher = self.hasher.clone();
                    let p = p.clone();
                    hashing.spawn(async move { (position, hasher.hash(&p).await) });
                }
            }
            let mut hashes: HashMap<usize, PasswordHash> = HashMap::new();
            while let Some(joined) = hashing.join_next().await {
                let (position, hash) = joined.map_err(|e| Error::Internal(e.into()))?;
                hashes.insert(position, hash?);
            }
            let mut users = Vec::with_capacity(chunk.len());
            let mut indexes = Vec::with_capacity(chunk.len());
            for (position, (index, v)) in chunk.iter().enumerate() {
                match self.user_from_record(v) {
                    Ok(mut user) => {
                        if let Some(h) = hashes.remove(&position) {
                            user.password_hash = Some(h);
                        }
                        users.push(user);
                        indexes.push(*index);
                    }
                    Err(e) => report.records[*index].outcome = Outcome::Failed(describe(&e)),
                }
            }
            // Accounts without a password get their set-password link in the same
            // transaction: an import killed midway leaves no account without its link.
            let now = self.clock.now();
            let mut links: HashMap<usize, String> = HashMap::new();
            let mut tokens = Vec::new();
            for (position, user) in users.iter().enumerate() {
                if user.password_hash.is_none() {
                    let token = crate::token::random_secret();
                    tokens.push((
                        AccountToken {
                            kind: AccountTokenKind::PasswordReset,
                            user_id: Some(user.id),
                            email: None,
                            role: None,
                            created_at: now,
                            expires_at: now + options.link_expires_in,
                            used_at: None,
                        },
                        crate::token::digest(&token),
                    ));
                    links.insert(position, token);
                }
            }
            let mut journal = self.journal(None);
            for user in &users {
                journal = journal.user_created(user, Some(crate::journal::audit::USER_IMPORT));
            }
            let inserted: Vec<bool> = match self
                .store
                .insert_users_with_tokens(&users, &tokens, &journal.build())
                .await
            {
                Ok(_) => vec![true; users.len()],
                // Someone took an email or username since the look-up, or a record holds text
                // the store cannot keep: one at a time, to tell which.
                Err(StoreError::Conflict { .. } | StoreError::InvalidText { .. }) => {
                    let mut each = Vec::with_capacity(users.len());
                    for (user, index) in users.iter().zip(&indexes) {
                        let journal = self
                            .journal(None)
                            .user_created(user, Some(crate::journal::audit::USER_IMPORT))
                            .build();
                        let own: Vec<_> = tokens
                            .iter()
                            .filter(|(t, _)| t.user_id == Some(user.id))
                            .cloned()
                            .collect();
                        match self
                            .store
                            .insert_users_with_tokens(std::slice::from_ref(user), &own, &journal)
                            .await
                        {
                            Ok(_) => each.push(true),
                            Err(StoreError::Conflict { .. }) => {
                                let field = self.taken_field(user).await?;
                                report.records[*index].outcome = Outcome::Failed(format!("{field} is already taken"));
                                each.push(false);
                            }
                            Err(e @ StoreError::InvalidText { .. }) => {
                                report.records[*index].outcome = Outcome::Failed(describe(&e.into()));
                                each.push(false);
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    each
                }
                Err(e) => return Err(e.into()),
            };
            for (position, ((_, index), ok)) in users.iter().zip(&indexes).zip(inserted).enumerate() {
                if !ok {
                    continue;
                }
                report.records[*index].outcome = match links.remove(&position) {
                    Some(token) => Outcome::CreatedWithLink(Some(token)),
                    None => Outcome::Created,
                };
            }
            progress(chunk.len() as u64);
        }
        tracing::info!(created = report.created(), "users imported");
        // After a large load, let PostgreSQL's planner see the new rows (searches plan badly
        // on an unanalysed table).
        if report.created() >= 1000 {
            self.store.refresh_statistics().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_recognised() {
        let bcrypt = "$2b$04$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234";
        assert_eq!(bcrypt.len(), 60);
        assert!(validate_password_hash(bcrypt).is_ok());
        assert!(validate_password_hash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA").is_ok());
        assert!(validate_password_hash("plaintext").is_err());
        assert!(validate_password_hash("$2b$short").is_err());
        assert!(validate_password_hash("$argon2id$garbage").is_err());
    }

    #[test]
    fn records_round_trip_without_secrets() {
        let r = UserRecord {
            email: Some("a@example.org".into()),
            password: Some("secret".into()),
            password_hash: Some("$2b$...".into()),
            ..UserRecord::default()
        };
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert!(!json.contains("password"), "{json}");
        assert!(serde_json::from_str::<UserRecord>(r#"{"email":"a@x.org","bogus":1}"#).is_err());
    }
}
