//! Account changes under the superuser model (products with an `is_superuser` and an
//! `is_active` flag, such as Langflow): a user may edit their own profile; only
//! administrators touch other accounts, grant or take the administrator role, deactivate,
//! or set passwords; nobody deactivates themself. Also a password change without the current
//! password, refusing the current one again.

use super::users::{AdminUserChanges, PreferencesEdit, ProfileChanges, not_found};
use super::{Actor, Core};
use crate::error::{Error, Refusal, Result};
use crate::id::UserId;
use crate::password::{Verified, validate_password};
use crate::user::{Role, User};

/// Refusal: a non-administrator changing another account.
pub const NOT_OWN_ACCOUNT: Refusal = Refusal::NotOwnAccount;
/// Refusal: a non-administrator changing the administrator flag, activation or password.
pub const ONLY_SUPERUSERS: Refusal = Refusal::OnlySuperusers;
/// Refusal: deactivating one's own account.
pub const CANNOT_DEACTIVATE_SELF: Refusal = Refusal::CannotDeactivateSelf;

/// A change to an account in the superuser model.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    pub profile: ProfileChanges,
    /// `Some(true)`: make an administrator; `Some(false)`: an administrator becomes a user.
    pub superuser: Option<bool>,
    /// `Some(true)`: active (a pending account is approved); `Some(false)`: deactivated.
    pub active: Option<bool>,
    pub password: Option<String>,
}

impl Core {
    /// Applies `changes` to user `id` on behalf of `actor` under the superuser model.
    pub async fn update_account(&self, actor: &Actor, id: UserId, changes: AccountChanges) -> Result<User> {
        self.update_account_editing(actor, id, changes, None).await
    }

    /// As [`Core::update_account`], and `edit` changes the preferences object of the stored
    /// user (after `changes`) at its revision, in the same write: a concurrent change to
    /// other keys is kept (see [`Core::update_profile_editing`],
    /// [`Core::admin_update_user_editing`]).
    pub async fn update_account_editing(
        &self,
        actor: &Actor,
        id: UserId,
        changes: AccountChanges,
        edit: Option<&PreferencesEdit<'_>>,
    ) -> Result<User> {
        let is_admin = actor.require_admin().is_ok();
        if !is_admin {
            if actor.user.id != id {
                return Err(Error::Forbidden(NOT_OWN_ACCOUNT));
            }
            if changes.superuser.is_some() || changes.password.is_some() {
                return Err(Error::Forbidden(ONLY_SUPERUSERS));
            }
        }
        if actor.user.id == id && changes.active == Some(false) {
            return Err(Error::Forbidden(CANNOT_DEACTIVATE_SELF));
        }
        let target = self.store.get_user(id).await.map_err(not_found("user"))?;
        if !is_admin {
            return self.update_profile_editing(actor, changes.profile, edit).await;
        }
        let mut role = match changes.superuser {
            Some(true) => Some(Role::Admin),
            Some(false) if target.role == Role::Admin => Some(Role::User),
            _ => None,
        };
        if changes.active == Some(true) && role.is_none() && target.role == Role::Pending {
            role = Some(Role::User);
        }
        self.admin_update_user_editing(
            actor,
            id,
            AdminUserChanges {
                profile: changes.profile,
                role,
                active: changes.active,
                password: changes.password,
                ..AdminUserChanges::default()
            },
            edit,
        )
        .await
    }

    /// Sets the caller's own password. Needs a session, not an API key (without `current`,
    /// the session is all that proves it is them). With `current`, it must be the current
    /// password (throttled as a login, see [`Core::verify_current_password`]); the new one
    /// must not be. Every other session of the caller is revoked.
    pub async fn set_own_password(
        &self,
        actor: &Actor,
        current: Option<&str>,
        new: &str,
        meta: &super::ClientMeta,
    ) -> Result<User> {
        actor.require_session()?;
        let user = self.store.get_user(actor.user.id).await.map_err(not_found("user"))?;
        if let Some(current) = current
            && !self.verify_current_password(&user, current, meta).await?
        {
            return Err(Error::invalid("current_password", "is incorrect"));
        }
        validate_password("password", new, self.config.min_password_length)?;
        if let Some(stored) = &user.password_hash
            && self.hasher.verify(new, stored).await? != Verified::No
        {
            return Err(Error::invalid("password", "must differ from the current password"));
        }
        let hash = self.hasher.hash(new).await?;
        let (_, after) = self
            .modify_user_keeping(user.id, Some(actor.user.id), None, actor.session(), |u| {
                u.password_hash = Some(hash.clone());
                Ok(())
            })
            .await?;
        tracing::info!(user = %user.id, "password set");
        Ok(after)
    }
}
