//! Single-use account tokens (invitations, password resets) and email verifications.

use super::StoreResult;
use crate::id::UserId;
use crate::journal::{Journal, JournalFor};
use crate::user::{Role, User};
use async_trait::async_trait;
use time::OffsetDateTime;

/// What a single-use account token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountTokenKind {
    /// Registration for an email address with a role, even when self-registration is off.
    Invitation,
    /// Setting a new password for an existing user.
    PasswordReset,
}

impl AccountTokenKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountTokenKind::Invitation => "invitation",
            AccountTokenKind::PasswordReset => "password_reset",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invitation" => Some(AccountTokenKind::Invitation),
            "password_reset" => Some(AccountTokenKind::PasswordReset),
            _ => None,
        }
    }
}

/// A single-use account token as stored (the secret itself is only a digest).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountToken {
    pub kind: AccountTokenKind,
    /// The user a password reset is for.
    pub user_id: Option<UserId>,
    /// The address an invitation is for.
    pub email: Option<String>,
    /// The role an invitation grants.
    pub role: Option<Role>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

impl AccountToken {
    /// Whether the token may still be used at `now`.
    pub fn usable_at(&self, now: OffsetDateTime) -> bool {
        self.used_at.is_none() && self.expires_at > now
    }
}

/// An invitation as listed: its id is the digest of its secret (which cannot be used to
/// register; the secret itself is never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredInvitation {
    pub id: String,
    pub token: AccountToken,
}

/// Where a page of invitations goes on from: after the invitation created at `created_at`
/// whose id is `id` (the list runs newest first, by creation time and then by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationPosition {
    pub created_at: OffsetDateTime,
    pub id: String,
}

/// A pending email verification (the secret itself is only a digest).
#[derive(Debug, Clone, PartialEq)]
pub struct EmailVerification {
    pub user_id: UserId,
    /// The address being verified.
    pub email: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// An email change waiting for its confirmation (the link's token is only a digest).
#[derive(Debug, Clone, PartialEq)]
pub struct EmailChange {
    pub user_id: UserId,
    /// The address asked for (the link was mailed there).
    pub new_email: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What a database must offer for single-use account tokens (invitations, password resets) and
/// email verifications (a part of [`crate::store::Store`]).
#[async_trait]
pub trait AccountTokenStore: Send + Sync {
    /// Stores a single-use account token (the secret as a digest).
    async fn insert_account_token(&self, token: &AccountToken, digest: &str) -> StoreResult<()>;
    /// Stores a single-use account token with `journal`, in one transaction.
    async fn insert_account_token_journaled(
        &self,
        token: &AccountToken,
        digest: &str,
        journal: &Journal,
    ) -> StoreResult<()>;
    /// Reads an account token by digest.
    async fn get_account_token(&self, digest: &str) -> StoreResult<AccountToken>;
    /// Invitations (used, expired or pending), newest first (by creation time, then by id),
    /// those after `after` when it is given (a keyset page), at most `limit`.
    async fn list_invitations(
        &self,
        after: Option<&InvitationPosition>,
        limit: i64,
    ) -> StoreResult<Vec<StoredInvitation>>;
    /// Deletes the invitation `id` (see [`StoredInvitation`]) while it is pending (unused and
    /// unexpired at `now`), with `journal`, in one transaction; NotFound, writing nothing,
    /// otherwise.
    async fn delete_pending_invitation(&self, id: &str, now: OffsetDateTime, journal: &Journal) -> StoreResult<()>;
    /// Marks a token of `kind` used if it is unused and unexpired at `now`, and returns it;
    /// NotFound, writing nothing, otherwise (so of two racing uses, one wins).
    async fn use_account_token(
        &self,
        digest: &str,
        kind: AccountTokenKind,
        now: OffsetDateTime,
    ) -> StoreResult<AccountToken>;
    /// Uses an invitation (as [`AccountTokenStore::use_account_token`]) and inserts the user (as
    /// [`crate::store::UserStore::insert_user`] with `claim_first_admin`) in one transaction: both or neither.
    async fn insert_user_with_invitation(
        &self,
        user: &User,
        digest: &str,
        now: OffsetDateTime,
        journal: &Journal,
    ) -> StoreResult<User>;
    /// Stores an email-verification token (as a digest) for a user's address, deleting the
    /// user's earlier ones.
    async fn insert_email_verification(&self, record: &EmailVerification, digest: &str) -> StoreResult<()>;
    /// Uses a verification token that is unused and unexpired at `now` (and, when given, for
    /// `email` and `user`) and marks its user's email verified (if the address is still the
    /// one verified), in one transaction with the journal made for the token's user (written
    /// only when the address was marked verified); returns the token. NotFound, writing
    /// nothing, otherwise.
    async fn use_email_verification(
        &self,
        digest: &str,
        email: Option<&str>,
        user: Option<UserId>,
        now: OffsetDateTime,
        journal: JournalFor<'_>,
    ) -> StoreResult<EmailVerification>;
    /// Stores a user's pending email change (its token as a digest), replacing an earlier
    /// one, with `journal`, in one transaction.
    async fn put_email_change(&self, change: &EmailChange, digest: &str, journal: &Journal) -> StoreResult<()>;
    /// The pending email change whose token has `digest` (expired or not). NotFound without.
    async fn get_email_change_by_digest(&self, digest: &str) -> StoreResult<EmailChange>;
    /// A user's pending email change, if any (expired or not).
    async fn get_email_change(&self, user: UserId) -> StoreResult<Option<EmailChange>>;
    /// Deletes a user's pending email change (only the one whose token has `digest`, when
    /// given), with `journal` when there was one; whether there was.
    async fn delete_email_change(&self, user: UserId, digest: Option<&str>, journal: &Journal) -> StoreResult<bool>;
}
