//! A user's sessions: listing and revocation.

use super::users::not_found;
use super::{Actor, Core};
use crate::error::Result;
use crate::id::{SessionId, UserId};
use crate::store::{Session, StoreError};

impl Core {
    /// Deletes one session; a session already gone is fine.
    pub(crate) async fn end_session(&self, user: UserId, id: SessionId) -> Result<()> {
        match self.store.delete_session(user, id).await {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The caller's sessions, newest first.
    pub async fn list_my_sessions(&self, actor: &Actor) -> Result<Vec<Session>> {
        Ok(self.store.list_sessions(actor.user.id).await?)
    }

    /// Revokes one of the caller's sessions.
    pub async fn revoke_my_session(&self, actor: &Actor, id: SessionId) -> Result<()> {
        self.own_session(actor, id).await?;
        self.store
            .delete_session(actor.user.id, id)
            .await
            .map_err(not_found("session"))
    }

    /// Revokes every session of the caller except the one making this call.
    pub async fn revoke_my_other_sessions(&self, actor: &Actor) -> Result<u64> {
        Ok(self
            .store
            .delete_sessions_of_user(actor.user.id, actor.session())
            .await?)
    }

    /// Revokes every session of a user, for administrators.
    pub async fn revoke_user_sessions(&self, actor: &Actor, user: UserId) -> Result<u64> {
        actor.require_admin()?;
        self.revoke_user_sessions_unchecked(user).await
    }

    /// As [`Core::revoke_user_sessions`], without the permission check (admin commands).
    pub async fn revoke_user_sessions_unchecked(&self, user: UserId) -> Result<u64> {
        self.store.get_user(user).await.map_err(not_found("user"))?;
        let n = self.store.delete_sessions_of_user(user, None).await?;
        tracing::info!(user = %user, revoked = n, "all sessions revoked");
        Ok(n)
    }
}
