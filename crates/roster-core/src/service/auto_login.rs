//! Sign-in without a password for a configured administrator (Langflow's `AUTO_LOGIN`, for
//! single-user installations). Off unless a dialect is configured to offer it.

use super::Core;
use super::auth::{ClientMeta, LoginOutcome};
use crate::error::{Error, Result};
use crate::user::Role;

impl Core {
    /// A session for the administrator named `username`, without a password: an access
    /// token of the usual lifetime and a refresh token, as any sign-in. NotFound when there
    /// is no such active administrator; refused for an account with two-factor
    /// authentication (no sign-in may skip its second factor).
    pub async fn auto_login(&self, username: &str, meta: &ClientMeta) -> Result<LoginOutcome> {
        let user = self
            .store
            .find_user_by_login(&username.trim().to_lowercase())
            .await
            .map_err(super::users::not_found("superuser"))?;
        if user.role != Role::Admin {
            return Err(Error::NotFound("superuser"));
        }
        let now = self.clock.now();
        user.ensure_may_sign_in_at(now)?;
        if self.two_factor_status(user.id).await?.enabled {
            return Err(Error::Forbidden(crate::error::Refusal::AutoLoginWithTwoFactor));
        }
        self.store
            .record_login(user.id, now, None, &self.login_journal(user.id, "auto_login"))
            .await?;
        let mut user = user;
        user.last_login_at = Some(now);
        let tokens = self.start_session(&user, meta).await?;
        tracing::info!(user = %user.id, session = %tokens.session_id, "auto-login");
        Ok(LoginOutcome {
            user,
            tokens: Some(tokens),
        })
    }
}
