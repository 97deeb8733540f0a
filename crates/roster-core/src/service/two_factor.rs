//! Two-factor authentication: TOTP enrolment (secret and `otpauth://` URI), confirmation by a
//! first code, backup codes, disabling, and the second login step. Every dialect's login goes
//! through [`Core::check_password_for`], which answers [`Error::TwoFactorRequired`] with a
//! challenge for an account with two-factor authentication; [`Core::complete_two_factor_login`]
//! turns the challenge and a code into a session. The TOTP secret is sealed at rest; a code is
//! accepted once (its time step is recorded), a backup code once.

use super::auth::{ClientMeta, LoginOutcome};
use super::{Actor, Core};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::journal::audit;
use crate::store::StoreError;
use crate::token::{digest, random_secret};
use crate::two_factor::{
    TwoFactorChallenge, TwoFactorChallengeRecord, TwoFactorRecord, backup_code_digest, backup_code_matches,
    generate_backup_codes, generate_secret, matching_step, otpauth_uri,
};
use crate::user::User;
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// How long a login challenge may be completed.
pub const CHALLENGE_TTL: Duration = Duration::minutes(5);
/// Codes one challenge may be tried with; then the password must be given again.
pub const MAX_CHALLENGE_ATTEMPTS: i32 = 5;
/// The name of Langflow's store API key among a user's sealed secrets.
pub const LANGFLOW_STORE_API_KEY: &str = "langflow_store_api_key";

/// Where a user's two-factor authentication stands.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoFactorStatus {
    /// Logins need a second factor.
    pub enabled: bool,
    /// An enrolment waits for its first code.
    pub pending: bool,
    pub enabled_at: Option<OffsetDateTime>,
    /// Unused backup codes (of an enabled or pending enrolment).
    pub backup_codes_remaining: usize,
}

/// A new enrolment: shown once.
#[derive(Clone)]
pub struct TwoFactorEnrolment {
    /// The TOTP secret in base32, for typing into an authenticator.
    pub secret: String,
    /// The `otpauth://totp/...` URI (for a QR code).
    pub otpauth_url: String,
    /// Ten single-use backup codes.
    pub backup_codes: Vec<String>,
}

impl std::fmt::Debug for TwoFactorEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TwoFactorEnrolment(..)")
    }
}

/// Fresh backup codes: shown once; `digests` are what is stored.
#[derive(Clone)]
pub struct BackupCodes {
    pub codes: Vec<String>,
    pub digests: Vec<String>,
}

impl std::fmt::Debug for BackupCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupCodes(..)")
    }
}

/// A second factor as a client presents it.
#[derive(Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// A six-digit TOTP code.
    Code(String),
    /// One of the backup codes.
    BackupCode(String),
}

impl std::fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecondFactor::Code(_) => "Code(..)",
            SecondFactor::BackupCode(_) => "BackupCode(..)",
        })
    }
}

impl SecondFactor {
    /// The factor a request carries: its code, else its backup code (blank ones ignored).
    pub fn from_parts(code: Option<&str>, backup_code: Option<&str>) -> Option<Self> {
        let present = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        present(code)
            .map(SecondFactor::Code)
            .or_else(|| present(backup_code).map(SecondFactor::BackupCode))
    }
}

/// The context a user's TOTP secret is sealed with.
pub(super) fn secret_context(user: UserId) -> String {
    format!("totp:{}", user.0)
}

fn not_set_up() -> Error {
    Error::invalid("two_factor", "is not set up for this account")
}

fn not_enabled() -> Error {
    Error::invalid("two_factor", "is not enabled for this account")
}

fn factor_required() -> Error {
    Error::invalid("code", "a two-factor code or a backup code is required")
}

impl Core {
    /// Where a user's two-factor authentication stands.
    pub async fn two_factor_status(&self, user: UserId) -> Result<TwoFactorStatus> {
        let Some(record) = self.store.get_two_factor(user).await? else {
            return Ok(TwoFactorStatus {
                enabled: false,
                pending: false,
                enabled_at: None,
                backup_codes_remaining: 0,
            });
        };
        let codes = self.store.list_backup_codes(user).await?;
        Ok(TwoFactorStatus {
            enabled: record.enabled_at.is_some(),
            pending: record.enabled_at.is_none(),
            enabled_at: record.enabled_at,
            backup_codes_remaining: codes.iter().filter(|c| c.used_at.is_none()).count(),
        })
    }

    /// Starts (or restarts) an enrolment for the caller: a new secret and backup codes, which
    /// take effect once a first code confirms them ([`Core::confirm_two_factor`]). Refused
    /// while two-factor authentication is enabled.
    pub async fn begin_two_factor(&self, actor: &Actor) -> Result<TwoFactorEnrolment> {
        actor.require_session()?;
        let user = &actor.user;
        let secret = generate_secret();
        let codes = generate_backup_codes();
        let record = TwoFactorRecord {
            user_id: user.id,
            sealed_secret: self.secrets.seal(&secret, &secret_context(user.id))?,
            enabled_at: None,
            last_used_step: None,
            created_at: self.clock.now(),
        };
        let digests: Vec<String> = codes.iter().map(|c| backup_code_digest(user.id, c)).collect();
        if !self.store.begin_two_factor(&record, &digests).await? {
            return Err(Error::invalid("two_factor", "is already enabled; disable it first"));
        }
        let account = user
            .email
            .clone()
            .or_else(|| user.username.clone())
            .unwrap_or_else(|| user.id.to_string());
        tracing::info!(user = %user.id, "two-factor enrolment started");
        Ok(TwoFactorEnrolment {
            secret: crate::two_factor::base32(&secret),
            otpauth_url: otpauth_uri(&self.config.two_factor_issuer, &account, &secret),
            backup_codes: codes,
        })
    }

    /// Enables the caller's pending enrolment with a first code from the authenticator.
    pub async fn confirm_two_factor(&self, actor: &Actor, code: &str) -> Result<()> {
        actor.require_session()?;
        let user = actor.user.id;
        let record = self.store.get_two_factor(user).await?.ok_or_else(not_set_up)?;
        if record.enabled_at.is_some() {
            return Err(Error::invalid("two_factor", "is already enabled"));
        }
        if code.trim().is_empty() {
            return Err(Error::invalid("code", "must not be empty"));
        }
        let secret = self.secrets.open(&record.sealed_secret, &secret_context(user))?;
        let now = self.clock.now();
        let step = matching_step(&secret, code, now).ok_or(Error::InvalidTwoFactorCode)?;
        let journal = self
            .journal(Some(user))
            .audit(audit::TWO_FACTOR_ENABLE, Some(user), json!({}))
            .build();
        if !self.store.enable_two_factor(user, step, now, &journal).await? {
            return Err(Error::invalid("two_factor", "is already enabled"));
        }
        tracing::info!(user = %user, "two-factor authentication enabled");
        Ok(())
    }

    /// Checks and uses up a second factor of an enabled two-factor authentication: a code's
    /// time step cannot be used again, nor can a backup code.
    async fn use_second_factor(&self, record: &TwoFactorRecord, factor: &SecondFactor) -> Result<()> {
        let user = record.user_id;
        // Every code or backup-code attempt of a user counts against the `two_factor` limit.
        self.check_rate_limit(crate::limit::Limit::TwoFactor, &format!("user:{user}"))
            .await?;
        let accepted = match factor {
            SecondFactor::Code(code) => {
                let secret = self.secrets.open(&record.sealed_secret, &secret_context(user))?;
                match matching_step(&secret, code, self.clock.now()) {
                    Some(step) => self.store.use_two_factor_step(user, step).await?,
                    None => false,
                }
            }
            SecondFactor::BackupCode(code) => {
                // Found among the unused codes (either stored form, constant-time), then used
                // up by its stored digest: the store's update lets it be used only once.
                let stored = self.unused_backup_code(user, code).await?;
                let used = match stored {
                    Some(digest) => self.store.use_backup_code(user, &digest, self.clock.now()).await?,
                    None => false,
                };
                if used {
                    tracing::info!(user = %user, "backup code used");
                }
                used
            }
        };
        if accepted {
            Ok(())
        } else {
            Err(Error::InvalidTwoFactorCode)
        }
    }

    /// The stored digest of `user`'s unused backup code `code` (Roster's or an imported form:
    /// [`backup_code_matches`]), if any.
    async fn unused_backup_code(&self, user: UserId, code: &str) -> Result<Option<String>> {
        let codes = self.store.list_backup_codes(user).await?;
        let mut found = None;
        for c in codes {
            // Every code is compared, so the time does not tell which one matched.
            if backup_code_matches(user, &c.digest, code) && c.used_at.is_none() && found.is_none() {
                found = Some(c.digest);
            }
        }
        Ok(found)
    }

    async fn enabled_record(&self, user: UserId) -> Result<Option<TwoFactorRecord>> {
        Ok(self
            .store
            .get_two_factor(user)
            .await?
            .filter(|r| r.enabled_at.is_some()))
    }

    /// Checks a second factor. With two-factor authentication enabled it is used up; during
    /// an enrolment it is only checked against the pending secret and backup codes (a client
    /// may check a code before confirming with it, as LibreChat's does).
    pub async fn verify_two_factor(&self, user: UserId, factor: &SecondFactor) -> Result<()> {
        let record = self.store.get_two_factor(user).await?.ok_or_else(not_set_up)?;
        if record.enabled_at.is_some() {
            return self.use_second_factor(&record, factor).await;
        }
        let valid = match factor {
            SecondFactor::Code(code) => {
                let secret = self.secrets.open(&record.sealed_secret, &secret_context(user))?;
                matching_step(&secret, code, self.clock.now()).is_some()
            }
            SecondFactor::BackupCode(code) => self.unused_backup_code(user, code).await?.is_some(),
        };
        if valid {
            Ok(())
        } else {
            Err(Error::InvalidTwoFactorCode)
        }
    }

    /// For actions that need the second factor when there is one (deleting one's account):
    /// passes without two-factor authentication, else needs a valid factor.
    pub async fn require_second_factor(&self, user: UserId, factor: Option<&SecondFactor>) -> Result<()> {
        let Some(record) = self.enabled_record(user).await? else {
            return Ok(());
        };
        let factor = factor.ok_or_else(factor_required)?;
        self.use_second_factor(&record, factor).await
    }

    /// Turns the caller's two-factor authentication off: with a code or backup code when it is
    /// enabled; a pending enrolment is simply dropped.
    pub async fn disable_two_factor(&self, actor: &Actor, factor: Option<&SecondFactor>) -> Result<()> {
        actor.require_session()?;
        let user = actor.user.id;
        let record = self.store.get_two_factor(user).await?.ok_or_else(not_set_up)?;
        if record.enabled_at.is_some() {
            self.use_second_factor(&record, factor.ok_or_else(factor_required)?)
                .await?;
        }
        let journal = self
            .journal(Some(user))
            .audit(audit::TWO_FACTOR_DISABLE, Some(user), json!({ "by": "self" }))
            .build();
        self.store.delete_two_factor(user, &journal).await?;
        tracing::info!(user = %user, "two-factor authentication disabled");
        Ok(())
    }

    /// Replaces the caller's backup codes (a code or an unused backup code proves it is them).
    pub async fn regenerate_backup_codes(&self, actor: &Actor, factor: Option<&SecondFactor>) -> Result<BackupCodes> {
        actor.require_session()?;
        let user = actor.user.id;
        let record = self.enabled_record(user).await?.ok_or_else(not_enabled)?;
        self.use_second_factor(&record, factor.ok_or_else(factor_required)?)
            .await?;
        let codes = generate_backup_codes();
        let digests: Vec<String> = codes.iter().map(|c| backup_code_digest(user, c)).collect();
        let journal = self
            .journal(Some(user))
            .audit(audit::TWO_FACTOR_BACKUP_CODES, Some(user), json!({}))
            .build();
        if !self.store.replace_backup_codes(user, &digests, &journal).await? {
            return Err(not_enabled());
        }
        tracing::info!(user = %user, "backup codes regenerated");
        Ok(BackupCodes { codes, digests })
    }

    /// An administrator turns a user's two-factor authentication off (a lost authenticator
    /// and lost backup codes); the user's sessions stay. Returns whether there was any. An
    /// administrator's own needs a session, as [`Core::disable_two_factor`] does; the primary
    /// administrator's is its own to reset (see [`Core::administer`]).
    pub async fn admin_disable_two_factor(&self, actor: &Actor, user: UserId) -> Result<bool> {
        self.administer(actor.into(), user).await?;
        if user == actor.user.id {
            actor.require_session()?;
        }
        self.store
            .get_user(user)
            .await
            .map_err(super::users::not_found("user"))?;
        let journal = self
            .journal(Some(actor.user.id))
            .audit(audit::TWO_FACTOR_DISABLE, Some(user), json!({ "by": "administrator" }))
            .build();
        let removed = self.store.delete_two_factor(user, &journal).await?;
        if removed {
            tracing::info!(user = %user, admin = %actor.user.id, "two-factor authentication reset by an administrator");
        }
        Ok(removed)
    }

    /// The gate of every password login: an account with two-factor authentication gets a
    /// challenge ([`Error::TwoFactorRequired`]) instead of passing.
    pub(crate) async fn two_factor_gate(&self, user: &User) -> Result<()> {
        if self.enabled_record(user.id).await?.is_none() {
            return Ok(());
        }
        let token = random_secret();
        let now = self.clock.now();
        let record = TwoFactorChallengeRecord {
            user_id: user.id,
            created_at: now,
            expires_at: now + CHALLENGE_TTL,
            attempts: 0,
        };
        self.store.insert_two_factor_challenge(&record, &digest(&token)).await?;
        tracing::info!(user = %user.id, "login waits for its second factor");
        Err(Error::TwoFactorRequired(TwoFactorChallenge {
            token,
            expires_in: CHALLENGE_TTL.whole_seconds(),
            user_id: user.id,
        }))
    }

    /// The second login step: a challenge from [`Error::TwoFactorRequired`] and a code or
    /// backup code give a session. A challenge serves once, for at most
    /// [`MAX_CHALLENGE_ATTEMPTS`] codes within [`CHALLENGE_TTL`]; an unknown, used or
    /// exhausted challenge is [`Error::InvalidToken`], a wrong code
    /// [`Error::InvalidTwoFactorCode`].
    pub async fn complete_two_factor_login(
        &self,
        challenge: &str,
        factor: &SecondFactor,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome> {
        let user = self.pass_two_factor_challenge(challenge, factor).await?;
        let tokens = self.start_session(&user, meta).await?;
        tracing::info!(user = %user.id, session = %tokens.session_id, "login (two-factor)");
        Ok(LoginOutcome {
            user,
            tokens: Some(tokens),
        })
    }

    /// The second login step without the session: checks the challenge and the factor
    /// (the rules of [`Core::complete_two_factor_login`]), uses both up and records the
    /// login; the caller starts the session it needs.
    pub(super) async fn pass_two_factor_challenge(&self, challenge: &str, factor: &SecondFactor) -> Result<User> {
        let outcome = self.check_two_factor_challenge(challenge, factor).await;
        crate::telemetry::login(
            crate::telemetry::LoginMethod::TwoFactor,
            crate::telemetry::login_outcome(&outcome),
        );
        if let Ok(user) = &outcome {
            crate::telemetry::note_request_user(user.id);
        }
        outcome
    }

    async fn check_two_factor_challenge(&self, challenge: &str, factor: &SecondFactor) -> Result<User> {
        let challenge = challenge.trim();
        if challenge.is_empty() {
            return Err(Error::invalid("challenge", "must not be empty"));
        }
        let key = digest(challenge);
        let now = self.clock.now();
        let record = self
            .store
            .attempt_two_factor_challenge(&key, now, MAX_CHALLENGE_ATTEMPTS)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::InvalidToken,
                e => e.into(),
            })?;
        let user = self
            .store
            .get_user(record.user_id)
            .await
            .map_err(|_| Error::InvalidToken)?;
        user.ensure_may_sign_in_at(now)?;
        let Some(two_factor) = self.enabled_record(user.id).await? else {
            // Turned off meanwhile: the password step must be repeated.
            self.store.delete_two_factor_challenge(&key).await?;
            return Err(Error::InvalidToken);
        };
        self.use_second_factor(&two_factor, factor).await?;
        if !self.store.delete_two_factor_challenge(&key).await? {
            return Err(Error::InvalidToken);
        }
        self.store
            .record_login(user.id, now, None, &self.login_journal(user.id, "two_factor"))
            .await?;
        let mut user = user;
        user.last_login_at = Some(now);
        Ok(user)
    }

    /// The Langflow store API key of a user, opened; None when not set.
    pub async fn langflow_store_api_key(&self, user: UserId) -> Result<Option<String>> {
        match self.store.get_user_secret(user, LANGFLOW_STORE_API_KEY).await? {
            Some(sealed) => Ok(Some(self.secrets.open_str(&sealed, &store_key_context(user))?)),
            None => Ok(None),
        }
    }

    /// The sealed Langflow store API keys of `users` (what Langflow shows as `store_api_key`:
    /// the encrypted value, never the key).
    pub async fn sealed_langflow_store_api_keys(&self, users: &[UserId]) -> Result<Vec<(UserId, String)>> {
        Ok(self.store.list_user_secrets(users, LANGFLOW_STORE_API_KEY).await?)
    }

    /// Saves the caller's Langflow store API key, sealed; an empty key removes it.
    pub async fn set_langflow_store_api_key(&self, actor: &Actor, key: &str) -> Result<()> {
        let user = actor.user.id;
        let key = key.trim();
        if key.chars().count() > 4096 {
            return Err(Error::invalid("api_key", "must be at most 4096 characters"));
        }
        let sealed = if key.is_empty() {
            None
        } else {
            Some(self.secrets.seal_str(key, &store_key_context(user))?)
        };
        self.store
            .put_user_secret(user, LANGFLOW_STORE_API_KEY, sealed.as_deref(), self.clock.now())
            .await
            .map_err(super::users::not_found("user"))?;
        Ok(())
    }
}

fn store_key_context(user: UserId) -> String {
    format!("{LANGFLOW_STORE_API_KEY}:{}", user.0)
}
