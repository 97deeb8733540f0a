//! Setting a user's password on an administrator's behalf: directly (the admin command
//! line, an administrator's route) or through a single-use reset link. Either way every
//! session of the user ends; a reset by link, or an administrator's when asked, deletes every
//! API key too (see [`Core::write_password_reset`]).

use super::invitations::validate_lifetime;
use super::users::not_found;
use super::{Authority, Core};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::journal::{audit, event};
use crate::password::validate_password;
use crate::store::{AccountToken, AccountTokenKind, StoreError};
use crate::token::{digest, random_secret};
use time::{Duration, OffsetDateTime};

/// What a password reset revoked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PasswordResetDone {
    pub sessions_revoked: u64,
    pub api_keys_revoked: u64,
}

/// A reset link just created: the only time its token is seen.
#[derive(Debug, Clone)]
pub struct ResetLinkCreated {
    pub token: String,
    pub expires_at: OffsetDateTime,
}

/// What [`Core::send_password_reset`] did with the link.
#[derive(Debug, Clone)]
pub enum ResetLinkSent {
    /// Mailed to the user's address (as stored); it is not shown.
    Mailed { to: String, expires_at: OffsetDateTime },
    /// Mail is not sent (no SMTP server) or the user has no address: the link, to be shown
    /// this once.
    Shown(ResetLinkCreated),
}

fn bad_reset_token() -> Error {
    Error::invalid("token", "the reset link is invalid, expired or already used")
}

impl Core {
    /// The records of a password reset by `by` (None: the command line or a link's owner
    /// unknown): the new password, the ended sessions and, with `revoke_keys`, the keys.
    fn password_reset_journal(&self, by: Option<UserId>, id: UserId, revoke_keys: bool) -> crate::journal::Journal {
        let ended = serde_json::json!({ "all": true, "kept_current": false, "reason": "password_reset" });
        let mut journal = self
            .journal(by)
            .event(event::USER_PASSWORD_CHANGED, id, serde_json::json!({}))
            .event(event::SESSION_REVOKED, id, ended)
            .audit(
                audit::PASSWORD_RESET,
                Some(id),
                serde_json::json!({ "revoke_keys": revoke_keys }),
            );
        if revoke_keys {
            let details = serde_json::json!({ "all": true, "reason": "password_reset" });
            journal = journal.event(event::API_KEY_REVOKED, id, details.clone()).audit(
                audit::API_KEY_REVOKE,
                Some(id),
                details,
            );
        }
        journal.build()
    }

    /// Writes a password set by someone other than the user at their own account (`by`:
    /// an administrator, None for the command line or a link's owner): the one place the rule
    /// lives. In one transaction (no crash leaves the new password with the old sessions or
    /// keys) it uses up `link`, sets the hash and ends every session; it deletes every API key
    /// of the user when the password is set through a reset link (the mailbox's owner has
    /// proved themself: whoever held the account before keeps nothing) or when `revoke_keys`
    /// asks. Store errors are the caller's to map (NotFound: unknown user or unusable link).
    pub(super) async fn write_password_reset(
        &self,
        by: Option<UserId>,
        id: UserId,
        hash: &crate::user::PasswordHash,
        link: Option<&str>,
        revoke_keys: bool,
    ) -> std::result::Result<PasswordResetDone, StoreError> {
        let revoke_keys = revoke_keys || link.is_some();
        let journal = self.password_reset_journal(by, id, revoke_keys);
        let (sessions_revoked, api_keys_revoked) = self
            .store
            .set_password_hash(id, hash, link, revoke_keys, self.clock.now(), &journal)
            .await?;
        self.clear_login_throttle(id).await;
        tracing::info!(user = %id, sessions_revoked, api_keys_revoked, link = link.is_some(), "password reset");
        Ok(PasswordResetDone {
            sessions_revoked,
            api_keys_revoked,
        })
    }

    /// Sets a user's password; every session of the user is revoked, and with `revoke_keys`
    /// every API key too (administrators, see [`Core::administer`]; and the operator).
    pub async fn reset_password(
        &self,
        by: impl Into<Authority<'_>>,
        id: UserId,
        password: &str,
        revoke_keys: bool,
    ) -> Result<PasswordResetDone> {
        let by = self.administer(by.into(), id).await?;
        validate_password("password", password, self.config.min_password_length)?;
        let hash = self.hasher.hash(password).await?;
        self.write_password_reset(by, id, &hash, None, revoke_keys)
            .await
            .map_err(not_found("user"))
    }

    /// Creates a single-use link with which a user sets a new password (administrators, see
    /// [`Core::administer`]; and the operator).
    pub async fn create_password_reset(
        &self,
        by: impl Into<Authority<'_>>,
        id: UserId,
        expires_in: Duration,
    ) -> Result<ResetLinkCreated> {
        self.administer(by.into(), id).await?;
        validate_lifetime("expires", expires_in)?;
        self.store.get_user(id).await.map_err(not_found("user"))?;
        let now = self.clock.now();
        let token = random_secret();
        let record = AccountToken {
            kind: AccountTokenKind::PasswordReset,
            user_id: Some(id),
            email: None,
            role: None,
            created_at: now,
            expires_at: now + expires_in,
            used_at: None,
        };
        self.store.insert_account_token(&record, &digest(&token)).await?;
        tracing::info!(user = %id, "password reset link created");
        Ok(ResetLinkCreated {
            token,
            expires_at: record.expires_at,
        })
    }

    /// Sends a user a single-use link to `{public_url}{reset_page}?token=...` with which they set
    /// a new password (administrators, see [`Core::administer`]; and the operator): mailed to
    /// the user's address when mail is sent, else returned to be shown once (as
    /// [`Core::create_password_reset`]'s). Audited as `user.password_reset_link` (`mailed`),
    /// in the transaction that stores the link.
    pub async fn send_password_reset(
        &self,
        by: impl Into<Authority<'_>>,
        id: UserId,
        expires_in: Duration,
        reset_page: &str,
    ) -> Result<ResetLinkSent> {
        let by = self.administer(by.into(), id).await?;
        validate_lifetime("expires", expires_in)?;
        let user = self.store.get_user(id).await.map_err(not_found("user"))?;
        let address = user.email.clone().filter(|_| self.mail_enabled());
        let now = self.clock.now();
        let token = random_secret();
        let record = AccountToken {
            kind: AccountTokenKind::PasswordReset,
            user_id: Some(id),
            email: None,
            role: None,
            created_at: now,
            expires_at: now + expires_in,
            used_at: None,
        };
        let journal = self
            .journal(by)
            .audit(
                audit::PASSWORD_RESET_LINK,
                Some(id),
                serde_json::json!({ "mailed": address.is_some() }),
            )
            .build();
        self.store
            .insert_account_token_journaled(&record, &digest(&token), &journal)
            .await?;
        let Some(address) = address else {
            tracing::info!(user = %id, "password reset link created to be shown");
            return Ok(ResetLinkSent::Shown(ResetLinkCreated {
                token,
                expires_at: record.expires_at,
            }));
        };
        let url = super::verification::link(&self.config.public_url, reset_page, &[("token", &token)]);
        let mail = super::verification::message(
            &address,
            "Password reset",
            "An administrator sent you a link to set a new password for your account.",
            &url,
            "Set a new password",
        );
        self.deliver(mail).await?;
        tracing::info!(user = %id, "password reset link mailed");
        Ok(ResetLinkSent::Mailed {
            to: address,
            expires_at: record.expires_at,
        })
    }

    /// Whether a reset link can still be used (a page asks before it shows its form); uses
    /// nothing up.
    pub async fn password_reset_link_usable(&self, token: &str) -> Result<bool> {
        match self.store.get_account_token(&digest(token.trim())).await {
            Ok(t) => Ok(t.kind == AccountTokenKind::PasswordReset && t.usable_at(self.clock.now())),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Uses a reset link: sets the new password and revokes every session and every API key
    /// of the user.
    pub async fn reset_password_with_token(&self, token: &str, new_password: &str) -> Result<PasswordResetDone> {
        let token_digest = digest(token.trim());
        let now = self.clock.now();
        let link = match self.store.get_account_token(&token_digest).await {
            Ok(t) if t.kind == AccountTokenKind::PasswordReset && t.usable_at(now) => t,
            Ok(_) | Err(StoreError::NotFound) => return Err(bad_reset_token()),
            Err(e) => return Err(e.into()),
        };
        validate_password("new_password", new_password, self.config.min_password_length)?;
        let hash = self.hasher.hash(new_password).await?;
        let Some(id) = link.user_id else {
            return Err(bad_reset_token());
        };
        // One transaction uses the link, sets the password, ends every session and (a link
        // being a reset by mail) deletes every API key: no crash leaves a used link without
        // its password, or the new password with old sessions or keys.
        match self
            .write_password_reset(Some(id), id, &hash, Some(&token_digest), false)
            .await
        {
            Ok(done) => Ok(done),
            Err(StoreError::NotFound) => Err(bad_reset_token()),
            Err(e) => Err(e.into()),
        }
    }
}
