//! Moving in from another product (`roster migrate open-webui|langflow|librechat`). The
//! command line reads the source and maps each user into a [`SourceUser`]; this service
//! validates it with the import rules ([`UserRecord`]), matches it against earlier runs
//! (external references) and existing accounts (`--on-conflict`), and writes each user with
//! its references, API keys and ledger in one transaction. A failed record is reported with
//! its source id and does not stop the others; a dry run decides everything and writes
//! nothing.

use super::Core;
use super::avatars::NATIVE_AVATAR_BASE;
use super::import::{OnConflict, UserRecord, describe};
use crate::error::Result;
use crate::id::UserId;
use crate::store::{
    ApiKey, BalanceTransaction, ExternalRef, MigratedBalance, MigratedTwoFactor, MigratedUser, StoreError,
};
use crate::token::digest;
use crate::user::User;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

mod groups;
mod users;

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
    /// Migrates a source's users, groups and default permissions: the operator's alone
    /// (`roster migrate`). `source` names the product (`open-webui`, `langflow`,
    /// `librechat`); `progress` is told how many more records were handled.
    pub async fn migrate(
        &self,
        _: super::Operator,
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
}
