//! A user's sessions: listing and revocation.

use super::users::not_found;
use super::{Actor, Authority, Core};
use crate::error::Result;
use crate::id::{SessionId, UserId};
use crate::journal::{audit, event};
use crate::store::{Session, StoreError};
use serde_json::json;

impl Core {
    /// Deletes one session (a logout); a session already gone is fine.
    pub(crate) async fn end_session(&self, user: UserId, id: SessionId) -> Result<()> {
        self.end_session_because(user, id, "logout").await
    }

    /// Deletes one session for `reason` (`session.revoked`); a session already gone is fine.
    pub(crate) async fn end_session_because(&self, user: UserId, id: SessionId, reason: &str) -> Result<()> {
        let journal = self
            .journal(Some(user))
            .event(
                event::SESSION_REVOKED,
                user,
                json!({ "session_id": id.to_string(), "reason": reason }),
            )
            .build();
        match self.store.delete_session(user, id, &journal).await {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes every session of `user` but `keep`, for `reason`, as `by` did
    /// (`session.revoked` with `all: true`; the audit entry `session.revoke` when
    /// `audited`). Returns how many.
    pub(super) async fn revoke_sessions(
        &self,
        by: Option<UserId>,
        user: UserId,
        keep: Option<SessionId>,
        reason: &str,
        audited: bool,
    ) -> Result<u64> {
        let details = json!({ "all": true, "kept_current": keep.is_some(), "reason": reason });
        let mut journal = self.journal(by).event(event::SESSION_REVOKED, user, details.clone());
        if audited {
            journal = journal.audit(audit::SESSION_REVOKE, Some(user), details);
        }
        Ok(self.store.delete_sessions_of_user(user, keep, &journal.build()).await?)
    }

    /// The caller's sessions, newest first.
    pub async fn list_my_sessions(&self, actor: &Actor) -> Result<Vec<Session>> {
        Ok(self.store.list_sessions(actor.user.id).await?)
    }

    /// Revokes one of the caller's sessions.
    pub async fn revoke_my_session(&self, actor: &Actor, id: SessionId) -> Result<()> {
        self.own_session(actor, id).await?;
        let journal = self
            .journal(Some(actor.user.id))
            .event(
                event::SESSION_REVOKED,
                actor.user.id,
                json!({ "session_id": id.to_string(), "reason": "revoked" }),
            )
            .build();
        self.store
            .delete_session(actor.user.id, id, &journal)
            .await
            .map_err(not_found("session"))
    }

    /// Revokes every session of the caller except the one making this call.
    pub async fn revoke_my_other_sessions(&self, actor: &Actor) -> Result<u64> {
        self.revoke_sessions(Some(actor.user.id), actor.user.id, actor.session(), "revoked", false)
            .await
    }

    /// Revokes every session of a user, for administrators and the operator (not the primary
    /// administrator's, but by itself: see [`Core::administer`]).
    pub async fn revoke_user_sessions(&self, by: impl Into<Authority<'_>>, user: UserId) -> Result<u64> {
        let by = self.administer(by.into(), user).await?;
        self.store.get_user(user).await.map_err(not_found("user"))?;
        let n = self.revoke_sessions(by, user, None, "revoked_by_admin", true).await?;
        tracing::info!(user = %user, revoked = n, "all sessions revoked");
        Ok(n)
    }
}
