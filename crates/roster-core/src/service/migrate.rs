//! Moving in from another product (`roster migrate open-webui|langflow|librechat`). The
//! command line reads the source and maps each user into a [`SourceUser`]; this service
//! validates it with the import rules ([`UserRecord`]), matches it against earlier runs
//! (external references) and existing accounts (`--on-conflict`), and writes each user with
//! its references, API keys and ledger in one transaction. A failed record is reported with
//! its source id and does not stop the others; a dry run decides everything and writes
//! nothing.

use super::Core;
use super::avatars::{NATIVE_AVATAR_BASE, avatar_file_name, own_avatar_file};
use super::import::{OnConflict, UserRecord, Valid, describe};
use crate::error::{Error, Result};
use crate::id::{ApiKeyId, GroupId, UserId};
use crate::store::{
    ApiKey, BalanceKind, BalanceTransaction, ExternalRef, Group, MigratedBalance, MigratedTwoFactor, MigratedUser,
    StoreError,
};
use crate::token::digest;
use crate::user::User;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

/// An API key as the source stored it: only the SHA-256 digest (hex) of its secret.
#[derive(Debug, Clone)]
pub struct SourceApiKey {
    pub source_id: String,
    pub name: String,
    /// SHA-256 of the secret, lower-case hex (what Roster stores).
    pub digest: String,
    /// The first characters shown in listings.
    pub prefix: String,
    pub created_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

/// One entry of the source's credit history.
#[derive(Debug, Clone)]
pub struct SourceTransaction {
    pub source_id: String,
    /// Credits added (negative: spent).
    pub amount: i64,
    pub created_at: OffsetDateTime,
}

/// A profile image of the source (the bytes of a `data:` URL or of a file on the old server),
/// stored as a Roster avatar through the upload pipeline.
#[derive(Clone, Default)]
pub struct SourceImage {
    pub bytes: Vec<u8>,
    /// Where it came from, for the record's notes (`a data: URL`, a file path).
    pub origin: String,
}

impl std::fmt::Debug for SourceImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceImage")
            .field("bytes", &self.bytes.len())
            .field("origin", &self.origin)
            .finish()
    }
}

/// A backup code as the source kept it: the unsalted SHA-256 of the code (LibreChat).
#[derive(Debug, Clone)]
pub struct SourceBackupCode {
    /// SHA-256 of the code, hex.
    pub sha256: String,
    pub used: bool,
    pub used_at: Option<OffsetDateTime>,
}

/// A source account's enabled TOTP two-factor authentication.
#[derive(Clone, Default)]
pub struct SourceTwoFactor {
    /// The TOTP secret in base32 (decrypted by the reader).
    pub secret_base32: String,
    pub backup_codes: Vec<SourceBackupCode>,
}

impl std::fmt::Debug for SourceTwoFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceTwoFactor")
            .field("backup_codes", &self.backup_codes.len())
            .finish_non_exhaustive()
    }
}

/// One user of the source, mapped into Roster's terms.
#[derive(Debug, Clone, Default)]
pub struct SourceUser {
    /// The id in the source (kept as the external reference).
    pub source_id: String,
    /// The account, checked by the same rules as `import-users`; `password_hash` is the
    /// source's hash, kept and upgraded to Argon2id at the first login.
    pub record: UserRecord,
    pub last_login_at: Option<OffsetDateTime>,
    /// When the user accepted the terms (they count as accepting the terms in force).
    pub terms_accepted_at: Option<OffsetDateTime>,
    pub api_keys: Vec<SourceApiKey>,
    pub transactions: Vec<SourceTransaction>,
    /// The balance to end with (the history above plus an adjustment for the rest).
    pub balance: Option<i64>,
    /// The profile image, made the account's avatar (an `http(s)` image is
    /// `record.avatar_url` instead).
    pub avatar_image: Option<SourceImage>,
    /// What was not carried over, and why (printed with the record).
    pub notes: Vec<String>,
    /// Enabled two-factor authentication to carry over.
    pub two_factor: Option<SourceTwoFactor>,
}

/// A group of the source with its members (source user ids).
#[derive(Debug, Clone)]
pub struct SourceGroup {
    pub source_id: String,
    pub name: String,
    pub description: String,
    pub permissions: Value,
    pub members: Vec<String>,
    pub created_at: Option<OffsetDateTime>,
}

/// Everything read from a source. A record the reader could not map is an `Err` with its
/// source id and the reason.
#[derive(Debug, Clone, Default)]
pub struct SourceData {
    pub users: Vec<std::result::Result<SourceUser, (String, String)>>,
    pub groups: Vec<SourceGroup>,
    /// The permission template every user starts from (Roster's `default`).
    pub default_permissions: Option<Value>,
}

impl SourceData {
    /// How many records a migration reports (for a progress bar).
    pub fn len(&self) -> usize {
        self.users.len() + self.groups.len() + usize::from(self.default_permissions.is_some())
    }

    /// Whether there is nothing to migrate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Migration settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct MigrateOptions {
    /// What to do with a user whose email or username belongs to an account that did not
    /// come from this source's earlier runs.
    pub on_conflict: OnConflict,
    /// Decide and report; write nothing.
    pub dry_run: bool,
}

/// What happened (or, on a dry run, would happen) to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationOutcome {
    Created,
    Updated,
    Unchanged,
    Skipped,
    Failed,
}

impl MigrationOutcome {
    /// The word for a report line.
    pub fn as_str(self, dry_run: bool) -> &'static str {
        match (self, dry_run) {
            (MigrationOutcome::Created, false) => "created",
            (MigrationOutcome::Created, true) => "would be created",
            (MigrationOutcome::Updated, false) => "updated",
            (MigrationOutcome::Updated, true) => "would be updated",
            (MigrationOutcome::Unchanged, _) => "unchanged",
            (MigrationOutcome::Skipped, false) => "skipped",
            (MigrationOutcome::Skipped, true) => "would be skipped",
            (MigrationOutcome::Failed, _) => "failed",
        }
    }
}

/// One record's outcome.
#[derive(Debug, Clone)]
pub struct MigrationRecord {
    /// `user`, `group` or `default permissions`.
    pub kind: &'static str,
    pub source_id: String,
    /// The email or username (users), the name (groups).
    pub who: String,
    pub outcome: MigrationOutcome,
    /// Why (skips and failures), and what was not carried over.
    pub reasons: Vec<String>,
    /// The Roster id, when there is one.
    pub local_id: Option<i64>,
}

/// Every record's outcome, in source order.
#[derive(Debug, Clone, Default)]
pub struct MigrationReport {
    pub records: Vec<MigrationRecord>,
    pub dry_run: bool,
}

impl MigrationReport {
    /// How many records of `kind` had `outcome`.
    pub fn count(&self, kind: &str, outcome: MigrationOutcome) -> usize {
        self.records
            .iter()
            .filter(|r| r.kind == kind && r.outcome == outcome)
            .count()
    }

    /// How many records failed.
    pub fn failed(&self) -> usize {
        self.records
            .iter()
            .filter(|r| r.outcome == MigrationOutcome::Failed)
            .count()
    }
}

/// The shortest TOTP secret carried over: 80 bits (LibreChat makes 10-byte secrets).
const MIN_SECRET_BYTES: usize = 10;
/// The longest: 512 bits (HMAC-SHA-1 hashes a longer key first; no authenticator makes one).
const MAX_SECRET_BYTES: usize = 64;

const USER: &str = "user";
const GROUP: &str = "group";
const API_KEY: &str = "api_key";
const TRANSACTION: &str = "transaction";

/// The fingerprint of a source password hash kept in the external reference.
fn fingerprint(hash: Option<&str>) -> Option<String> {
    hash.map(|h| digest(h.trim()))
}

/// A user's fields compared for "unchanged" (the write time and revision aside).
fn same_account(a: &User, b: &User) -> bool {
    let mut a = a.clone();
    a.updated_at = b.updated_at;
    a.revision = b.revision;
    a == *b
}

fn refs_by_id(refs: Vec<ExternalRef>) -> HashMap<String, ExternalRef> {
    refs.into_iter().map(|r| (r.external_id.clone(), r)).collect()
}

/// A decision for one user before it is written.
struct Plan {
    user: User,
    is_new: bool,
    keep_an_admin: bool,
    api_keys: Vec<(String, ApiKey, String)>,
    transactions: Vec<(String, BalanceTransaction)>,
    balance: Option<MigratedBalance>,
    /// A new avatar file to write before the account (name, bytes), and the avatar it
    /// replaces.
    avatar_file: Option<(String, Vec<u8>)>,
    replaced_avatar: Option<String>,
    two_factor: Option<MigratedTwoFactor>,
    /// What was not carried over, found while planning.
    notes: Vec<String>,
    changed: bool,
}

impl Core {
    /// Migrates a source's users, groups and default permissions (admin command; no
    /// permission check). `source` names the product (`open-webui`, `langflow`,
    /// `librechat`); `progress` is told how many more records were handled.
    pub async fn migrate_unchecked(
        &self,
        source: &str,
        data: SourceData,
        options: MigrateOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<MigrationReport> {
        let mut report = MigrationReport {
            records: Vec::with_capacity(data.len()),
            dry_run: options.dry_run,
        };
        let user_refs = refs_by_id(self.store.list_external_refs(source, USER).await?);
        let key_refs: HashSet<String> = self
            .store
            .list_external_refs(source, API_KEY)
            .await?
            .into_iter()
            .map(|r| r.external_id)
            .collect();
        let transaction_refs: HashSet<String> = self
            .store
            .list_external_refs(source, TRANSACTION)
            .await?
            .into_iter()
            .map(|r| r.external_id)
            .collect();
        // Source user id -> Roster id, for group members.
        let mut local_ids: HashMap<String, UserId> = HashMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        for entry in data.users {
            let record = match entry {
                Err((source_id, reason)) => MigrationRecord {
                    kind: USER,
                    who: source_id.clone(),
                    source_id,
                    outcome: MigrationOutcome::Failed,
                    reasons: vec![reason],
                    local_id: None,
                },
                Ok(user) if !seen.insert(user.source_id.clone()) => MigrationRecord {
                    kind: USER,
                    who: user.source_id.clone(),
                    source_id: user.source_id,
                    outcome: MigrationOutcome::Failed,
                    reasons: vec!["the same source id appears twice".into()],
                    local_id: None,
                },
                Ok(user) => {
                    self.migrate_user(source, user, &options, &user_refs, &key_refs, &transaction_refs)
                        .await
                }
            };
            if let Some(id) = record.local_id {
                local_ids.insert(record.source_id.clone(), UserId(id));
            }
            report.records.push(record);
            progress(1);
        }

        let group_refs = refs_by_id(self.store.list_external_refs(source, GROUP).await?);
        for group in data.groups {
            let record = self
                .migrate_group(source, group, &options, &group_refs, &local_ids)
                .await;
            report.records.push(record);
            progress(1);
        }

        if let Some(permissions) = data.default_permissions {
            let record = self.migrate_default_permissions(permissions, &options).await;
            report.records.push(record);
            progress(1);
        }
        tracing::info!(
            source,
            dry_run = options.dry_run,
            created = report.count(USER, MigrationOutcome::Created),
            updated = report.count(USER, MigrationOutcome::Updated),
            failed = report.failed(),
            "migration finished"
        );
        Ok(report)
    }

    async fn migrate_user(
        &self,
        source: &str,
        input: SourceUser,
        options: &MigrateOptions,
        user_refs: &HashMap<String, ExternalRef>,
        key_refs: &HashSet<String>,
        transaction_refs: &HashSet<String>,
    ) -> MigrationRecord {
        let who = input
            .record
            .email
            .clone()
            .or_else(|| input.record.username.clone())
            .unwrap_or_else(|| input.source_id.clone());
        let mut record = MigrationRecord {
            kind: USER,
            source_id: input.source_id.clone(),
            who,
            outcome: MigrationOutcome::Failed,
            reasons: input.notes.clone(),
            local_id: None,
        };
        let plan = match self
            .plan_user(&input, options, user_refs, key_refs, transaction_refs)
            .await
        {
            Ok(Ok(plan)) => plan,
            Ok(Err((outcome, reason, local))) => {
                record.outcome = outcome;
                record.reasons.insert(0, reason);
                record.local_id = local;
                return record;
            }
            Err(e) => {
                record.reasons.insert(0, describe(&e));
                return record;
            }
        };
        record.local_id = Some(plan.user.id.0);
        record.reasons.extend(plan.notes.iter().cloned());
        let outcome = if plan.is_new {
            MigrationOutcome::Created
        } else if plan.changed {
            MigrationOutcome::Updated
        } else {
            MigrationOutcome::Unchanged
        };
        if plan.user.password_hash.is_none() {
            record
                .reasons
                .push("no password: set one with `roster reset-password`".into());
        }
        if options.dry_run || outcome == MigrationOutcome::Unchanged {
            // On a dry run a new user's id is only planned; groups count it as a member.
            record.outcome = outcome;
            return record;
        }
        let details = serde_json::json!({ "source": source, "source_id": input.source_id });
        let journal = if plan.is_new {
            self.journal(None).user_created(&plan.user, None)
        } else {
            self.journal(None)
                .event(crate::journal::event::USER_UPDATED, plan.user.id, details.clone())
        }
        .audit(crate::journal::audit::USER_IMPORT, Some(plan.user.id), details);
        let journal = match plan.two_factor.as_ref().filter(|t| t.enrolment.is_some()) {
            Some(_) => journal.audit(
                crate::journal::audit::TWO_FACTOR_ENABLE,
                Some(plan.user.id),
                serde_json::json!({ "by": "migrate", "source": source }),
            ),
            None => journal,
        }
        .build();
        // The avatar file goes first: an account never points at a missing file. If the
        // account is not written, the file is removed again.
        if let Some((name, bytes)) = &plan.avatar_file
            && let Err(e) = self.write_avatar_file(name, bytes).await
        {
            record.reasons.insert(0, describe(&e));
            return record;
        }
        let new_avatar = plan
            .avatar_file
            .as_ref()
            .map(|(name, _)| format!("{NATIVE_AVATAR_BASE}/{name}"));
        let replaced_avatar = plan.replaced_avatar.clone();
        let owner = plan.user.id;
        let migrated = MigratedUser {
            journal,
            source: source.to_string(),
            external_id: input.source_id.clone(),
            fingerprint: fingerprint(input.record.password_hash.as_deref()),
            is_new: plan.is_new,
            keep_an_admin: plan.keep_an_admin,
            user: plan.user,
            api_keys: plan.api_keys,
            transactions: plan.transactions,
            balance: plan.balance,
            two_factor: plan.two_factor,
        };
        let written = self.store.write_migrated_user(&migrated).await;
        if let Some(url) = &new_avatar {
            match (&written, replaced_avatar) {
                (Ok(_), Some(old)) if old != *url => self.remove_avatar_file(owner, &old).await,
                (Ok(_), _) => {}
                (Err(_), _) => self.remove_avatar_file(owner, url).await,
            }
        }
        match written {
            Ok(_) => record.outcome = outcome,
            Err(StoreError::Conflict { field }) => {
                record.reasons.insert(0, format!("{field} is already taken"));
            }
            Err(StoreError::LastAdmin) => record
                .reasons
                .insert(0, "the update would leave no active administrator".into()),
            Err(StoreError::Stale) => record
                .reasons
                .insert(0, "the account changed during the migration; run it again".into()),
            Err(e) => record.reasons.insert(0, describe(&e.into())),
        }
        record
    }

    /// Decides what to write for one user: a plan, or an outcome with its reason (skip or
    /// failure) and the account concerned.
    async fn plan_user(
        &self,
        input: &SourceUser,
        options: &MigrateOptions,
        user_refs: &HashMap<String, ExternalRef>,
        key_refs: &HashSet<String>,
        transaction_refs: &HashSet<String>,
    ) -> Result<std::result::Result<Plan, (MigrationOutcome, String, Option<i64>)>> {
        let valid: Valid = match self.validate_record(&input.record) {
            Ok(v) => v,
            Err(e) => return Ok(Err((MigrationOutcome::Failed, describe(&e), None))),
        };
        // 1. An account from an earlier run of this source?
        let mut existing: Option<User> = None;
        let mut earlier_fingerprint: Option<Option<String>> = None;
        if let Some(reference) = user_refs.get(&input.source_id) {
            match self.store.get_user(UserId(reference.local_id)).await {
                Ok(user) => {
                    existing = Some(user);
                    earlier_fingerprint = Some(reference.fingerprint.clone());
                }
                // Deleted in Roster since: imported anew.
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // 2. Else an account holding its email or username: a conflict.
        if existing.is_none() {
            let mut owners: Vec<User> = Vec::new();
            for login in [valid.email.as_deref(), valid.username.as_deref()]
                .into_iter()
                .flatten()
            {
                match self.store.find_user_by_login(login).await {
                    Ok(user) if !owners.iter().any(|o| o.id == user.id) => owners.push(user),
                    Ok(_) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match owners.len() {
                0 => {}
                1 => {
                    let owner = owners.remove(0);
                    let id = Some(owner.id.0);
                    match options.on_conflict {
                        OnConflict::Skip => {
                            return Ok(Err((
                                MigrationOutcome::Skipped,
                                format!("an account with this email or username exists ({})", owner.id),
                                id,
                            )));
                        }
                        OnConflict::Fail => {
                            return Ok(Err((
                                MigrationOutcome::Failed,
                                format!("an account with this email or username exists ({})", owner.id),
                                id,
                            )));
                        }
                        OnConflict::Update => existing = Some(owner),
                    }
                }
                _ => {
                    return Ok(Err((
                        MigrationOutcome::Failed,
                        "the email belongs to one account and the username to another".into(),
                        None,
                    )));
                }
            }
        }

        let now = self.clock.now();
        let (mut user, is_new, keep_an_admin) = match &existing {
            None => {
                let mut user = self.user_from_record(&valid)?;
                user.last_login_at = input.last_login_at;
                if let Some(at) = input.terms_accepted_at {
                    user.terms_version = Some(self.config.terms_version.clone());
                    user.terms_accepted_at = Some(at);
                }
                (user, true, false)
            }
            Some(before) => {
                let mut v = valid.clone();
                // Source preferences are merged over the account's own.
                if let (Some(Value::Object(given)), Value::Object(own)) = (&valid.preferences, &before.preferences) {
                    let mut merged = own.clone();
                    for (k, val) in given {
                        merged.insert(k.clone(), val.clone());
                    }
                    v.preferences = Some(Value::Object(merged));
                }
                // A hash unchanged in the source since the last run does not undo a password
                // changed (or upgraded) in Roster since.
                if let Some(earlier) = &earlier_fingerprint
                    && *earlier == fingerprint(input.record.password_hash.as_deref())
                {
                    v.password_hash = None;
                }
                let mut after = before.clone();
                Self::apply_record(&mut after, &v, None);
                if let Some(t) = valid.created_at {
                    after.created_at = t;
                }
                if input.last_login_at > after.last_login_at {
                    after.last_login_at = input.last_login_at;
                }
                if let Some(at) = input.terms_accepted_at
                    && after.terms_version.is_none()
                {
                    after.terms_version = Some(self.config.terms_version.clone());
                    after.terms_accepted_at = Some(at);
                }
                let keep = before.is_active_admin() && !after.is_active_admin();
                (after, false, keep)
            }
        };
        let mut notes = Vec::new();
        let mut avatar_file = None;
        if let Some(image) = &input.avatar_image {
            match self.plan_avatar(user.id, image, user.avatar.as_deref()).await {
                Ok(None) => {}
                Ok(Some((name, bytes))) => {
                    user.avatar = Some(format!("{NATIVE_AVATAR_BASE}/{name}"));
                    avatar_file = Some((name, bytes));
                }
                Err(e) => notes.push(format!(
                    "the profile image ({}) is not carried over: {}",
                    image.origin,
                    describe(&e)
                )),
            }
        }
        let mut changed = match &existing {
            Some(before) => !same_account(before, &user),
            None => true,
        };
        if !is_new && changed {
            user.updated_at = now;
        }

        let mut api_keys = Vec::new();
        for key in &input.api_keys {
            if key_refs.contains(&key.source_id) {
                continue;
            }
            if key.digest.len() != 64 || !key.digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(Err((
                    MigrationOutcome::Failed,
                    format!("API key {}: not a SHA-256 digest", key.source_id),
                    None,
                )));
            }
            let name = crate::user::validate_text("name", &key.name, 100)?.unwrap_or_else(|| "imported key".into());
            api_keys.push((
                key.source_id.clone(),
                ApiKey {
                    id: ApiKeyId(self.next_id()),
                    user_id: user.id,
                    name,
                    prefix: key.prefix.chars().take(12).collect(),
                    scopes: Vec::new(),
                    created_at: key.created_at.unwrap_or(now),
                    expires_at: key.expires_at,
                    last_used_at: key.last_used_at,
                },
                key.digest.to_ascii_lowercase(),
            ));
        }
        let mut transactions = Vec::new();
        for t in &input.transactions {
            if transaction_refs.contains(&t.source_id) {
                continue;
            }
            transactions.push((
                t.source_id.clone(),
                BalanceTransaction {
                    id: self.next_id(),
                    user_id: user.id,
                    kind: if t.amount < 0 {
                        BalanceKind::Spend
                    } else {
                        BalanceKind::Adjustment
                    },
                    amount: t.amount,
                    created_at: t.created_at,
                },
            ));
        }
        let mut balance = None;
        if let Some(target) = input.balance {
            let current = if is_new {
                0
            } else {
                self.store.get_balance(user.id).await?.0
            };
            let incoming: i64 = transactions.iter().map(|(_, t)| t.amount).sum();
            if is_new || current.saturating_add(incoming) != target || !transactions.is_empty() {
                changed = true;
            }
            balance = Some(MigratedBalance {
                target,
                adjustment_id: self.next_id(),
                grant_id: self.next_id(),
                at: now,
            });
        }
        if !api_keys.is_empty() || !transactions.is_empty() {
            changed = true;
        }
        let two_factor = match &input.two_factor {
            Some(source) => self.plan_two_factor(&user, is_new, source, &mut notes).await?,
            None => None,
        };
        if two_factor.is_some() {
            changed = true;
        }
        Ok(Ok(Plan {
            user,
            is_new,
            keep_an_admin,
            api_keys,
            transactions,
            balance,
            avatar_file,
            replaced_avatar: existing.and_then(|u| u.avatar),
            two_factor,
            notes,
            changed,
        }))
    }

    /// Plans a migrated profile image: the file to write and its name, or None when the
    /// account's avatar is this image already (a second run). The name carries a digest of
    /// the source image, which is how a second run knows it.
    async fn plan_avatar(
        &self,
        owner: UserId,
        image: &SourceImage,
        current: Option<&str>,
    ) -> Result<Option<(String, Vec<u8>)>> {
        use sha2::Digest as _;
        let tag = &hex::encode(sha2::Sha256::digest(&image.bytes))[..16];
        if let Some(name) = current.and_then(own_avatar_file)
            && name.starts_with(&format!("{:x}-{tag}.", owner.0))
            && self.avatar_file_exists(name).await
        {
            return Ok(None);
        }
        let processed = self.process_avatar_upload(image.bytes.clone()).await?;
        Ok(Some((avatar_file_name(owner, tag, &processed), processed.bytes)))
    }

    /// The two-factor part of a user's plan: an enabled enrolment with the sealed secret and
    /// the imported backup codes (`sha256:` digests, used ones kept used), or only the codes
    /// new or used since an earlier run, or nothing when nothing changed. An account with an
    /// enabled two-factor authentication of its own keeps it. What cannot be carried over is
    /// a note; the user is imported without it.
    async fn plan_two_factor(
        &self,
        user: &User,
        is_new: bool,
        source: &SourceTwoFactor,
        notes: &mut Vec<String>,
    ) -> Result<Option<MigratedTwoFactor>> {
        let not_carried = |why: String| format!("two-factor not carried over: {why}");
        let secret = match crate::two_factor::decode_base32(&source.secret_base32) {
            Ok(s) if (MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&s.len()) => s,
            Ok(s) => {
                notes.push(not_carried(format!(
                    "totpSecret: {} bits; between {} and {} expected",
                    s.len() * 8,
                    MIN_SECRET_BYTES * 8,
                    MAX_SECRET_BYTES * 8
                )));
                return Ok(None);
            }
            Err(why) => {
                notes.push(not_carried(format!("totpSecret is not base32 ({why})")));
                return Ok(None);
            }
        };
        let now = self.clock.now();
        let mut codes = Vec::new();
        for (i, code) in source.backup_codes.iter().enumerate() {
            match crate::two_factor::imported_backup_code_digest(&code.sha256) {
                Some(digest) => codes.push(crate::two_factor::BackupCodeRecord {
                    digest,
                    used_at: code.used.then(|| code.used_at.unwrap_or(now)),
                }),
                None => notes.push(format!(
                    "backupCodes[{i}]: codeHash is not a SHA-256 digest; that backup code is not carried over"
                )),
            }
        }
        let stored = if is_new {
            None
        } else {
            self.store.get_two_factor(user.id).await?
        };
        let context = super::two_factor::secret_context(user.id);
        match stored {
            Some(record) if record.enabled_at.is_some() => {
                let same = self
                    .secrets
                    .open(&record.sealed_secret, &context)
                    .is_ok_and(|s| crate::token::digests_equal(&hex::encode(s), &hex::encode(&secret)));
                if !same {
                    notes.push(
                        "two-factor: the account's two-factor authentication in Roster differs from the \
                         source's and is kept (its own, or one carried over before the source changed); the \
                         source's secret and backup codes are not carried over (turn it off in Roster and \
                         run again to take them)"
                            .into(),
                    );
                    return Ok(None);
                }
                // Carried over before: only codes new since, or used in the source since.
                let have: HashMap<String, bool> = self
                    .store
                    .list_backup_codes(user.id)
                    .await?
                    .into_iter()
                    .map(|c| (c.digest, c.used_at.is_some()))
                    .collect();
                codes.retain(|c| match have.get(&c.digest) {
                    None => true,
                    Some(used) => c.used_at.is_some() && !used,
                });
                Ok((!codes.is_empty()).then_some(MigratedTwoFactor {
                    enrolment: None,
                    backup_codes: codes,
                }))
            }
            pending => {
                if pending.is_some() {
                    notes.push("two-factor: a pending Roster enrolment is replaced by the source's".into());
                }
                Ok(Some(MigratedTwoFactor {
                    enrolment: Some(crate::two_factor::TwoFactorRecord {
                        user_id: user.id,
                        sealed_secret: self.secrets.seal(&secret, &context)?,
                        enabled_at: Some(now),
                        last_used_step: None,
                        created_at: now,
                    }),
                    backup_codes: codes,
                }))
            }
        }
    }

    async fn migrate_group(
        &self,
        source: &str,
        input: SourceGroup,
        options: &MigrateOptions,
        group_refs: &HashMap<String, ExternalRef>,
        local_ids: &HashMap<String, UserId>,
    ) -> MigrationRecord {
        let mut record = MigrationRecord {
            kind: GROUP,
            source_id: input.source_id.clone(),
            who: input.name.clone(),
            outcome: MigrationOutcome::Failed,
            reasons: Vec::new(),
            local_id: None,
        };
        match self.plan_group(source, &input, options, group_refs, local_ids).await {
            Ok((outcome, id, missing)) => {
                record.outcome = outcome;
                record.local_id = id;
                if missing > 0 {
                    record
                        .reasons
                        .push(format!("{missing} member(s) were not migrated and are left out"));
                }
            }
            Err(e) => record.reasons.push(describe(&e)),
        }
        record
    }

    async fn plan_group(
        &self,
        source: &str,
        input: &SourceGroup,
        options: &MigrateOptions,
        group_refs: &HashMap<String, ExternalRef>,
        local_ids: &HashMap<String, UserId>,
    ) -> Result<(MigrationOutcome, Option<i64>, usize)> {
        let name = crate::user::validate_text("name", &input.name, 128)?
            .ok_or_else(|| Error::invalid("name", "must not be empty"))?;
        let description = crate::user::validate_text("description", &input.description, 2000)?.unwrap_or_default();
        let permissions = super::groups::validate_permissions(input.permissions.clone())?;
        let members: Vec<UserId> = input.members.iter().filter_map(|m| local_ids.get(m).copied()).collect();
        let missing = input.members.len() - members.len();
        let now = self.clock.now();
        let existing = match group_refs.get(&input.source_id) {
            Some(r) => match self.store.get_group(GroupId(r.local_id)).await {
                Ok(g) => Some(g),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let (group, is_new, changed) = match existing {
            None => (
                Group {
                    id: GroupId(self.next_id()),
                    name,
                    description,
                    permissions,
                    created_by: None,
                    created_at: input.created_at.unwrap_or(now),
                    updated_at: now,
                },
                true,
                true,
            ),
            Some(before) => {
                let current: HashSet<UserId> = self.store.list_group_members(before.id).await?.into_iter().collect();
                let changed = before.name != name
                    || before.description != description
                    || before.permissions != permissions
                    || members.iter().any(|m| !current.contains(m));
                let group = Group {
                    name,
                    description,
                    permissions,
                    updated_at: now,
                    ..before
                };
                (group, false, changed)
            }
        };
        let outcome = if is_new {
            MigrationOutcome::Created
        } else if changed {
            MigrationOutcome::Updated
        } else {
            MigrationOutcome::Unchanged
        };
        if options.dry_run || !changed {
            return Ok((outcome, (!is_new).then_some(group.id.0), missing));
        }
        self.store
            .write_migrated_group(source, &input.source_id, &group, is_new, &members)
            .await?;
        Ok((outcome, Some(group.id.0), missing))
    }

    async fn migrate_default_permissions(&self, permissions: Value, options: &MigrateOptions) -> MigrationRecord {
        let mut record = MigrationRecord {
            kind: "default permissions",
            source_id: super::DEFAULT_TEMPLATE.into(),
            who: super::DEFAULT_TEMPLATE.into(),
            outcome: MigrationOutcome::Failed,
            reasons: Vec::new(),
            local_id: None,
        };
        let result: Result<MigrationOutcome> = async {
            let permissions = super::groups::validate_permissions(permissions)?;
            let stored = self.store.get_permission_template(super::DEFAULT_TEMPLATE).await?;
            let outcome = match &stored {
                None => MigrationOutcome::Created,
                Some(p) if *p == permissions => return Ok(MigrationOutcome::Unchanged),
                Some(_) => MigrationOutcome::Updated,
            };
            if !options.dry_run {
                self.store
                    .put_permission_template(
                        super::DEFAULT_TEMPLATE,
                        &permissions,
                        self.clock.now(),
                        &self
                            .journal(None)
                            .audit(
                                crate::journal::audit::PERMISSION_TEMPLATE_UPDATE,
                                None,
                                serde_json::json!({ "name": super::DEFAULT_TEMPLATE, "by": "migrate" }),
                            )
                            .build(),
                    )
                    .await?;
            }
            Ok(outcome)
        }
        .await;
        match result {
            Ok(outcome) => record.outcome = outcome,
            Err(e) => record.reasons.push(describe(&e)),
        }
        record
    }
}
