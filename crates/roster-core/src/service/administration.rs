//! What an administrator sees and does to one user's credentials beyond the calls every
//! route already has (the admin console's user page): the user's sessions and API keys, each
//! revoked on its own; and the password check an administrator passes again before a
//! dangerous change when their sign-in is old.

use super::users::not_found;
use super::{Actor, Authority, ClientMeta, Core};
use crate::error::{Error, Result};
use crate::id::{ApiKeyId, SessionId, UserId};
use crate::journal::{audit, event};
use crate::store::{ApiKey, Session};
use serde_json::json;

impl Core {
    /// Checks the caller's own password again (before a dangerous change, when their sign-in
    /// is old), throttled as a login is ([`Core::verify_current_password`]: 429 while the
    /// account or the address is locked). A wrong password is [`Error::InvalidCredentials`].
    pub async fn confirm_own_password(&self, actor: &Actor, password: &str, meta: &ClientMeta) -> Result<()> {
        let user = self.store.get_user(actor.user.id).await.map_err(not_found("user"))?;
        if self.verify_current_password(&user, password, meta).await? {
            Ok(())
        } else {
            Err(Error::InvalidCredentials)
        }
    }

    /// A user's sessions, newest first (administrators and the operator).
    pub async fn list_user_sessions(&self, by: impl Into<Authority<'_>>, user: UserId) -> Result<Vec<Session>> {
        by.into().require_admin()?;
        self.store.get_user(user).await.map_err(not_found("user"))?;
        Ok(self.store.list_sessions(user).await?)
    }

    /// Revokes one session of a user (administrators, see [`Core::administer`]; and the
    /// operator): audited as `session.revoke` with the session's id.
    pub async fn revoke_user_session(&self, by: impl Into<Authority<'_>>, user: UserId, id: SessionId) -> Result<()> {
        let by = self.administer(by.into(), user).await?;
        let details = json!({ "session_id": id.to_string(), "reason": "revoked_by_admin" });
        let journal = self
            .journal(by)
            .event(event::SESSION_REVOKED, user, details.clone())
            .audit(audit::SESSION_REVOKE, Some(user), details)
            .build();
        self.store
            .delete_session(user, id, &journal)
            .await
            .map_err(not_found("session"))?;
        tracing::info!(user = %user, session = %id, "session revoked by an administrator");
        Ok(())
    }

    /// A user's API keys, never their secrets (administrators and the operator).
    pub async fn list_user_api_keys(&self, by: impl Into<Authority<'_>>, user: UserId) -> Result<Vec<ApiKey>> {
        by.into().require_admin()?;
        self.store.get_user(user).await.map_err(not_found("user"))?;
        Ok(self.store.list_api_keys(user).await?)
    }

    /// Revokes one API key of a user, at once (administrators, see [`Core::administer`]; and
    /// the operator): audited as `api_key.revoke`.
    pub async fn revoke_user_api_key(&self, by: impl Into<Authority<'_>>, user: UserId, id: ApiKeyId) -> Result<()> {
        let by = self.administer(by.into(), user).await?;
        let details = json!({ "key_id": id.to_string(), "by": "administrator" });
        let journal = self
            .journal(by)
            .event(event::API_KEY_REVOKED, user, details.clone())
            .audit(audit::API_KEY_REVOKE, Some(user), details)
            .build();
        self.store
            .delete_api_key(user, id, &journal)
            .await
            .map_err(not_found("API key"))?;
        tracing::info!(user = %user, key = %id, "API key revoked by an administrator");
        Ok(())
    }
}
