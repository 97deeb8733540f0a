//! The profile rules of chat products (Plexichat): a public profile any signed-in user may
//! read, an exact username look-up, and a self-service account change where usernames are 3
//! to 32 characters and a new password needs the current one.

use super::users::not_found;
use super::{Actor, Core};
use crate::error::{Error, Refusal, Result};
use crate::id::UserId;
use crate::password::validate_password;
use crate::user::{Email, User, Username};

/// Refusal: the current password given with a new one is wrong.
pub const INCORRECT_CURRENT_PASSWORD: Refusal = Refusal::IncorrectCurrentPassword;

/// A chat user's change to their own account; absent fields are kept.
#[derive(Debug, Clone, Default)]
pub struct ChatAccountChanges {
    /// 3 to 32 characters (and Roster's username rules).
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    /// Required with `password`.
    pub current_password: Option<String>,
}

impl Core {
    /// Another user's public profile: anyone signed in may read it; deactivated accounts
    /// are not found.
    pub async fn public_profile(&self, _actor: &Actor, id: UserId) -> Result<User> {
        let user = self.store.get_user(id).await.map_err(not_found("user"))?;
        if !user.active {
            return Err(Error::NotFound("user"));
        }
        Ok(user)
    }

    /// The user whose username is exactly `username`, ignoring case (never an email); any
    /// signed-in user may look up anyone active.
    pub async fn find_by_username(&self, _actor: &Actor, username: &str) -> Result<User> {
        let username = username.trim();
        if username.is_empty() {
            return Err(Error::invalid("username", "is required"));
        }
        let user = self
            .store
            .find_user_by_username(&username.to_lowercase())
            .await
            .map_err(not_found("user"))?;
        if !user.active {
            return Err(Error::NotFound("user"));
        }
        Ok(user)
    }

    /// Changes the caller's username, email and password in one write. A new email is
    /// unverified and a verification link to `{public_url}{verify_page}` is mailed (or
    /// logged); a new password needs the right `current_password` (throttled as a login, see
    /// [`Core::verify_current_password`]) and ends every other session of the caller. A new
    /// email or password needs a session, not an API key.
    pub async fn update_chat_account(
        &self,
        actor: &Actor,
        changes: ChatAccountChanges,
        verify_page: &str,
        meta: &super::ClientMeta,
    ) -> Result<User> {
        let username = match changes.username.as_deref() {
            Some(raw) => {
                let length = raw.trim().chars().count();
                if !(3..=32).contains(&length) {
                    return Err(Error::invalid("username", "must be 3 to 32 characters"));
                }
                Some(Username::parse(raw)?.as_str().to_string())
            }
            None => None,
        };
        let email = changes
            .email
            .as_deref()
            .map(|e| Email::parse(e).map(|e| e.as_str().to_string()))
            .transpose()?;
        if changes.password.is_some() || email.as_ref().is_some_and(|e| actor.user.email.as_ref() != Some(e)) {
            actor.require_session()?;
        }
        let hash = match changes.password.as_deref() {
            Some(new) => {
                let Some(current) = changes.current_password.as_deref().filter(|c| !c.is_empty()) else {
                    return Err(Error::invalid("current_password", "is required to change the password"));
                };
                validate_password("password", new, self.config.min_password_length)?;
                let user = self.store.get_user(actor.user.id).await.map_err(not_found("user"))?;
                if !self.verify_current_password(&user, current, meta).await? {
                    return Err(Error::Forbidden(INCORRECT_CURRENT_PASSWORD));
                }
                Some(self.hasher.hash(new).await?)
            }
            None => None,
        };
        let (before, after) = self
            .modify_user_keeping(actor.user.id, Some(actor.user.id), None, actor.session(), |u| {
                if let Some(username) = &username {
                    u.username = Some(username.clone());
                }
                if let Some(email) = &email
                    && u.email.as_deref() != Some(email.as_str())
                {
                    u.email = Some(email.clone());
                    u.email_verified = false;
                }
                if let Some(hash) = &hash {
                    u.password_hash = Some(hash.clone());
                }
                Ok(())
            })
            .await?;
        if after.email != before.email && after.email.is_some() {
            // The change is made either way; a failed mail is logged, and the user can ask
            // for another link.
            if let Err(e) = self.send_verification(&after, verify_page).await {
                tracing::error!(user = %after.id, error = ?e, "could not mail the verification link");
            }
        }
        Ok(after)
    }
}
