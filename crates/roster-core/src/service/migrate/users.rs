//! Planning one migrated user: its account, avatar and second factor.

use super::{
    MAX_SECRET_BYTES, MIN_SECRET_BYTES, MigrateOptions, MigrationOutcome, Plan, SourceImage, SourceTwoFactor,
    SourceUser, fingerprint, same_account,
};
use crate::error::Result;
use crate::id::{ApiKeyId, UserId};
use crate::service::Core;
use crate::service::avatars::{NATIVE_AVATAR_BASE, avatar_file_name, own_avatar_file};
use crate::service::import::{OnConflict, Valid, describe};
use crate::store::{
    ApiKey, BalanceKind, BalanceTransaction, ExternalRef, MigratedBalance, MigratedTwoFactor, StoreError,
};
use crate::user::User;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

impl Core {
    /// Decides what to write for one user: a plan, or an outcome with its reason (skip or
    /// failure) and the account concerned.
    pub(super) async fn plan_user(
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
    pub(super) async fn plan_avatar(
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
    pub(super) async fn plan_two_factor(
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
        let context = crate::service::two_factor::secret_context(user.id);
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
}
