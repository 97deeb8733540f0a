//! Login sessions and their refresh tokens.

use super::StoreResult;
use crate::id::{SessionId, UserId};
use crate::journal::Journal;
use crate::user::User;
use async_trait::async_trait;
use time::OffsetDateTime;

/// A login session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    /// When the refresh token chain ends.
    pub expires_at: OffsetDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A browser session: a [`Session`] signed in through Roster's own pages, found by the digest
/// of its cookie. Ending the session (any path that deletes sessions) ends it.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserSessionRecord {
    pub session: Session,
    /// When the user last proved who they are in this session.
    pub auth_time: OffsetDateTime,
    /// How (RFC 8176 values: `pwd`, `otp`).
    pub amr: Vec<String>,
}

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshTokenRecord {
    pub session_id: SessionId,
    /// Set once the token has been exchanged for a new one.
    pub used_at: Option<OffsetDateTime>,
}

/// What a database must offer for login sessions and their refresh tokens (a part of
/// [`crate::store::Store`]).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates a session with its first refresh token (stored as a digest).
    async fn insert_session(&self, session: &Session, refresh_digest: &str) -> StoreResult<()>;
    /// Creates a browser session: the session (without a refresh token) and its cookie's
    /// digest, `auth_time` and `amr`, in one transaction.
    async fn insert_browser_session(
        &self,
        session: &Session,
        cookie_digest: &str,
        auth_time: OffsetDateTime,
        amr: &[String],
    ) -> StoreResult<()>;
    /// Reads a browser session by its cookie's digest, with its user, in one round trip.
    async fn get_browser_session(&self, cookie_digest: &str) -> StoreResult<(BrowserSessionRecord, User)>;
    /// Reads a session.
    async fn get_session(&self, id: SessionId) -> StoreResult<Session>;
    /// Reads a session and its user in one round trip (the per-request check).
    async fn get_session_with_user(&self, id: SessionId) -> StoreResult<(Session, User)>;
    /// Reads a refresh token by digest.
    async fn get_refresh_token(&self, digest: &str) -> StoreResult<RefreshTokenRecord>;
    /// Marks `old_digest` used and adds `new_digest` to the session, atomically. Returns
    /// false, writing nothing, if `old_digest` was already used.
    async fn rotate_refresh_token(
        &self,
        session: SessionId,
        old_digest: &str,
        new_digest: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Updates a session's last use.
    async fn touch_session(&self, id: SessionId, at: OffsetDateTime) -> StoreResult<()>;
    /// A user's sessions, newest first.
    async fn list_sessions(&self, user: UserId) -> StoreResult<Vec<Session>>;
    /// Deletes one session of a user; NotFound if the user has no such session.
    async fn delete_session(&self, user: UserId, id: SessionId, journal: &Journal) -> StoreResult<()>;
    /// Deletes all sessions of a user except `keep`; returns how many. The journal is written
    /// only when a session was deleted.
    async fn delete_sessions_of_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        journal: &Journal,
    ) -> StoreResult<u64>;
}
