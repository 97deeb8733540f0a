//! Accounts: registration, creation by an administrator, profile changes, listing, deletion.

use super::auth::ClientMeta;
use super::{Actor, Authority, Core, LoginOutcome};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::journal::{JournalExtra, audit, event};
use crate::password::validate_password;
use crate::store::StoreError;
use crate::user::{
    Email, PasswordHash, Role, User, Username, validate_avatar, validate_name, validate_text, validate_timezone,
};

/// The largest preferences document, serialised.
pub const MAX_PREFERENCES_BYTES: usize = 64 * 1024;

/// A change to one optional field.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    /// Leave as is.
    #[default]
    Keep,
    /// Remove the value.
    Clear,
    /// Set a new value.
    Set(T),
}

impl<T> Patch<T> {
    /// From JSON's three states: absent (`None`), `null` (`Some(None)`), a value.
    pub fn from_json(value: Option<Option<T>>) -> Self {
        match value {
            None => Patch::Keep,
            Some(None) => Patch::Clear,
            Some(Some(v)) => Patch::Set(v),
        }
    }
}

/// A self-registration.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub email: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub password: String,
    /// Initial preferences (a JSON object), when the product's sign-up carries some.
    pub preferences: Option<serde_json::Value>,
}

/// A user created by an administrator (or an admin command).
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub email: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    /// None: an account without a password (it cannot log in with one).
    pub password: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub email_verified: bool,
    pub provider: Option<String>,
}

/// Changes a user may make to their own profile (and an administrator to anyone's).
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub email: Patch<String>,
    pub username: Patch<String>,
    pub name: Patch<String>,
    pub avatar: Patch<String>,
    pub bio: Patch<String>,
    pub timezone: Patch<String>,
    /// Replaces the preferences object.
    pub preferences: Option<serde_json::Value>,
    /// Records acceptance of this terms version, now.
    pub accept_terms_version: Option<String>,
}

/// Changes only an administrator may make.
#[derive(Debug, Clone, Default)]
pub struct AdminUserChanges {
    pub profile: ProfileChanges,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub email_verified: Option<bool>,
    pub password: Option<String>,
    /// With `password`: also delete every API key of the user, in the same transaction that
    /// sets the password and ends the sessions (see [`Core::write_password_reset`]).
    pub revoke_api_keys: bool,
}

pub(super) fn parse_email(raw: Option<&str>) -> Result<Option<Email>> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Email::parse)
        .transpose()
}

pub(super) fn parse_username(raw: Option<&str>) -> Result<Option<Username>> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Username::parse)
        .transpose()
}

pub(super) fn validate_provider(raw: &str) -> Result<String> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 32 || !s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        return Err(Error::invalid("provider", "must be 1 to 32 letters, digits, _ - ."));
    }
    Ok(s.to_ascii_lowercase())
}

pub(super) fn validate_preferences(value: serde_json::Value) -> Result<serde_json::Value> {
    if !value.is_object() {
        return Err(Error::invalid("preferences", "must be a JSON object"));
    }
    if value.to_string().len() > MAX_PREFERENCES_BYTES {
        return Err(Error::invalid("preferences", "must be at most 64 KiB"));
    }
    if crate::user::json_contains_nul(&value) {
        return Err(Error::invalid("preferences", crate::user::NUL_REASON));
    }
    Ok(value)
}

/// A change to a user's preferences object, applied to the stored copy when it is written
/// (and again if another writer got there first).
pub type PreferencesEdit<'a> = dyn Fn(&mut serde_json::Map<String, serde_json::Value>) + Send + Sync + 'a;

/// Applies `edit`, when given, to the user's preferences object, and validates the result.
fn apply_preferences_edit(user: &mut User, edit: Option<&PreferencesEdit<'_>>) -> Result<()> {
    if let Some(edit) = edit {
        let mut preferences = match std::mem::take(&mut user.preferences) {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        edit(&mut preferences);
        user.preferences = validate_preferences(serde_json::Value::Object(preferences))?;
    }
    Ok(())
}

impl Core {
    pub(super) fn build_user(
        &self,
        email: Option<Email>,
        username: Option<Username>,
        name: Option<String>,
        password_hash: Option<PasswordHash>,
    ) -> Result<User> {
        if email.is_none() && username.is_none() {
            return Err(Error::invalid("email", "an email or a username is required"));
        }
        let now = self.clock.now();
        Ok(User {
            id: UserId(self.next_id()),
            email: email.map(|e| e.as_str().to_string()),
            email_verified: false,
            username: username.map(|u| u.as_str().to_string()),
            name,
            password_hash,
            provider: "local".into(),
            role: self.config.default_role,
            active: true,
            avatar: None,
            bio: None,
            timezone: None,
            terms_version: None,
            terms_accepted_at: None,
            preferences: serde_json::json!({}),
            created_at: now,
            updated_at: now,
            last_login_at: None,
            last_active_at: None,
            revision: 0,
            banned_until: None,
            ban_reason: None,
        })
    }

    /// Self-registration. The first account ever becomes admin; later ones get the default
    /// role. Signs the new user in unless the account is pending approval.
    pub async fn register(&self, input: Registration, meta: &ClientMeta) -> Result<LoginOutcome> {
        self.check_client_rate_limit(crate::limit::Limit::Register, meta)
            .await?;
        let user = self.register_account(input).await?;
        if user.ensure_may_sign_in().is_err() {
            return Ok(LoginOutcome { user, tokens: None });
        }
        let tokens = self.start_session(&user, meta).await?;
        Ok(LoginOutcome {
            user,
            tokens: Some(tokens),
        })
    }

    /// Validates a registration and builds the user it asks for (not yet stored), with its
    /// password hashed: the one place the rules of every sign-up path are checked.
    pub(super) async fn user_from_registration(&self, input: &Registration) -> Result<User> {
        let email = parse_email(input.email.as_deref())?;
        let username = parse_username(input.username.as_deref())?;
        let name = input.name.as_deref().map(validate_name).transpose()?.flatten();
        if email.is_none() && username.is_none() {
            return Err(Error::invalid("email", "an email or a username is required"));
        }
        validate_password("password", &input.password, self.config.min_password_length)?;
        let preferences = input.preferences.clone().map(validate_preferences).transpose()?;
        let hash = self.hasher.hash(&input.password).await?;
        let mut user = self.build_user(email, username, name, Some(hash))?;
        if let Some(preferences) = preferences {
            user.preferences = preferences;
        }
        Ok(user)
    }

    /// Self-registration without signing in (see [`Core::register`]).
    pub async fn register_account(&self, input: Registration) -> Result<User> {
        if !self.config.allow_registration {
            return Err(Error::RegistrationDisabled);
        }
        let user = self.user_from_registration(&input).await?;
        let journal = self.journal(None).user_created(&user, None).build();
        let user = self.store.insert_user(&user, true, &journal).await?;
        tracing::info!(user = %user.id, role = %user.role, "user registered");
        Ok(user)
    }

    /// Creates a user on an administrator's (or the operator's) behalf.
    pub async fn create_user(&self, by: impl Into<Authority<'_>>, input: NewUser) -> Result<User> {
        self.create_user_with(by, input, None).await
    }

    /// As [`Core::create_user`], `extra` adding to the change's journal (given the new user's
    /// id) what must be written in the same transaction.
    pub(crate) async fn create_user_with(
        &self,
        by: impl Into<Authority<'_>>,
        input: NewUser,
        extra: Option<JournalExtra<'_>>,
    ) -> Result<User> {
        let by = by.into().require_admin()?;
        let email = parse_email(input.email.as_deref())?;
        let username = parse_username(input.username.as_deref())?;
        let name = input.name.as_deref().map(validate_name).transpose()?.flatten();
        if email.is_none() && username.is_none() {
            return Err(Error::invalid("email", "an email or a username is required"));
        }
        let provider = input.provider.as_deref().map(validate_provider).transpose()?;
        let hash = match &input.password {
            Some(p) => {
                validate_password("password", p, self.config.min_password_length)?;
                Some(self.hasher.hash(p).await?)
            }
            None => None,
        };
        let mut user = self.build_user(email, username, name, hash)?;
        if let Some(role) = input.role {
            user.role = role;
        }
        user.active = input.active.unwrap_or(true);
        user.email_verified = input.email_verified;
        if let Some(p) = provider {
            user.provider = p;
        }
        let mut journal = self.journal(by).user_created(&user, Some(audit::USER_CREATE));
        if let Some(extra) = extra {
            journal = extra(journal, user.id.0);
        }
        let journal = journal.build();
        let user = self.store.insert_user(&user, true, &journal).await?;
        tracing::info!(user = %user.id, role = %user.role, "user created");
        Ok(user)
    }

    /// Reads a user: oneself, or anyone for an administrator. Others get NotFound, so ids
    /// of other accounts are not confirmed.
    pub async fn get_user(&self, actor: &Actor, id: UserId) -> Result<User> {
        if actor.user.id != id && actor.require_admin().is_err() {
            return Err(Error::Forbidden(crate::error::Refusal::AdminRequired));
        }
        self.store.get_user(id).await.map_err(not_found("user"))
    }

    /// Finds a user by email or username (any case): administrators and the operator.
    pub async fn find_user(&self, by: impl Into<Authority<'_>>, login: &str) -> Result<User> {
        by.into().require_admin()?;
        self.find_user_by_login(login).await
    }

    /// Whether the account `login` names has never signed in: a product that refuses a
    /// pending or deactivated account after its right password (Langflow) tells such an
    /// account to wait for approval. False for an unknown login.
    pub async fn never_signed_in(&self, login: &str) -> bool {
        self.find_user_by_login(login)
            .await
            .is_ok_and(|u| u.last_login_at.is_none())
    }

    pub(super) async fn find_user_by_login(&self, login: &str) -> Result<User> {
        let login = login.trim().to_lowercase();
        if login.is_empty() {
            return Err(Error::invalid("email", "must not be empty"));
        }
        self.store.find_user_by_login(&login).await.map_err(not_found("user"))
    }

    /// Applies `change` to a fresh copy of the user and writes it, retrying when another
    /// writer got there first. The last-admin guard is applied when the change removes an
    /// active admin. The change is journaled as `by` made it (see
    /// [`crate::journal::JournalBuilder::user_changed`]), audited as `action` when given.
    /// A change of password, or one that takes away the right to sign in, ends every session
    /// of the user in the same write (see [`Core::modify_user_keeping`]).
    pub(super) async fn modify_user<F>(
        &self,
        id: UserId,
        by: Option<UserId>,
        action: Option<&str>,
        change: F,
    ) -> Result<(User, User)>
    where
        F: Fn(&mut User) -> Result<()>,
    {
        self.modify_user_keeping(id, by, action, None, change).await
    }

    /// As [`Core::modify_user`]; a change that ends the user's sessions keeps `keep` (the
    /// caller's own session, when users change their own password). This is the one place
    /// that rule lives: a new password or a lost right to sign in (deactivated, pending) ends
    /// the sessions, in the same transaction as the change.
    pub(super) async fn modify_user_keeping<F>(
        &self,
        id: UserId,
        by: Option<UserId>,
        action: Option<&str>,
        keep: Option<crate::SessionId>,
        change: F,
    ) -> Result<(User, User)>
    where
        F: Fn(&mut User) -> Result<()>,
    {
        self.modify_user_with(id, by, action, keep, None, change).await
    }

    /// As [`Core::modify_user_keeping`], `extra` adding to the change's journal what must be
    /// written in the same transaction; when `change` changes nothing, that is written alone.
    pub(super) async fn modify_user_with<F>(
        &self,
        id: UserId,
        by: Option<UserId>,
        action: Option<&str>,
        keep: Option<crate::SessionId>,
        extra: Option<JournalExtra<'_>>,
        change: F,
    ) -> Result<(User, User)>
    where
        F: Fn(&mut User) -> Result<()>,
    {
        for _ in 0..5 {
            let before = self.store.get_user(id).await.map_err(not_found("user"))?;
            let mut after = before.clone();
            change(&mut after)?;
            if after == before {
                if let Some(extra) = extra {
                    let journal = extra(self.journal(by), id.0).build();
                    self.store.append_journal(&journal).await.map_err(not_found("user"))?;
                }
                return Ok((before, after));
            }
            after.updated_at = self.clock.now();
            let keep_an_admin = before.is_active_admin() && !after.is_active_admin();
            let mut journal = self.journal(by).user_changed(&before, &after, action);
            if let Some(extra) = extra {
                journal = extra(journal, id.0);
            }
            let journal = journal.build();
            let new_password = before.password_hash != after.password_hash;
            let lost_access = after.ensure_may_sign_in().is_err() && before.ensure_may_sign_in().is_ok();
            let written = if new_password || lost_access {
                let reason = if new_password {
                    "password_changed"
                } else {
                    "access_lost"
                };
                let details = serde_json::json!({ "all": true, "kept_current": keep.is_some(), "reason": reason });
                let ended = self
                    .journal(by)
                    .event(crate::journal::event::SESSION_REVOKED, id, details)
                    .build();
                self.store
                    .update_user_ending_sessions(&after, keep_an_admin, keep, &journal, &ended)
                    .await
                    .inspect(|(_, n)| tracing::info!(user = %id, revoked = n, reason, "sessions ended"))
                    .map(|(user, _)| user)
            } else {
                self.store.update_user(&after, keep_an_admin, &journal).await
            };
            match written {
                Ok(stored) => {
                    // An avatar file of this user's that the change replaced or cleared.
                    if let Some(old) = before.avatar.as_deref().filter(|_| before.avatar != stored.avatar) {
                        self.remove_avatar_file(id, old).await;
                    }
                    return Ok((before, stored));
                }
                Err(StoreError::Stale) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Stale.into())
    }

    fn apply_profile(&self, user: &mut User, validated: &ValidatedProfile) -> Result<()> {
        if let Some(email) = &validated.email {
            if user.email.as_deref() != email.as_deref() {
                user.email_verified = false;
            }
            user.email = email.clone();
        }
        if let Some(username) = &validated.username {
            user.username = username.clone();
        }
        if let Some(v) = &validated.name {
            user.name = v.clone();
        }
        if let Some(v) = &validated.avatar {
            user.avatar = v.clone();
        }
        if let Some(v) = &validated.bio {
            user.bio = v.clone();
        }
        if let Some(v) = &validated.timezone {
            user.timezone = v.clone();
        }
        if let Some(v) = &validated.preferences {
            user.preferences = v.clone();
        }
        if let Some(version) = &validated.terms_version {
            user.terms_version = Some(version.clone());
            user.terms_accepted_at = Some(self.clock.now());
        }
        if user.email.is_none() && user.username.is_none() {
            return Err(Error::invalid("email", "an email or a username is required"));
        }
        Ok(())
    }

    /// Updates the caller's own profile. A new email needs a session, not an API key (see
    /// [`Actor::require_session`]).
    pub async fn update_profile(&self, actor: &Actor, changes: ProfileChanges) -> Result<User> {
        self.update_profile_editing(actor, changes, None).await
    }

    /// As [`Core::update_profile`], and `edit` changes the preferences object of the stored
    /// user (after `changes`) at its revision: a concurrent change to other keys is kept.
    pub async fn update_profile_editing(
        &self,
        actor: &Actor,
        changes: ProfileChanges,
        edit: Option<&PreferencesEdit<'_>>,
    ) -> Result<User> {
        let validated = ValidatedProfile::new(&changes)?;
        if validated.changes_email(&actor.user) {
            actor.require_session()?;
        }
        let forbidden = match (&validated.preferences, edit) {
            (None, None) => Vec::new(),
            _ => self.forbidden_preferences(&actor.user).await?,
        };
        let (_, user) = self
            .modify_user(actor.user.id, Some(actor.user.id), None, |u| {
                let before = u.preferences.clone();
                self.apply_profile(u, &validated)?;
                apply_preferences_edit(u, edit)?;
                super::check_preference_gates(&forbidden, &before, &u.preferences)
            })
            .await?;
        Ok(user)
    }

    /// Changes the caller's own preferences by `edit` (see [`Core::update_profile_editing`]).
    pub async fn update_own_preferences(&self, actor: &Actor, edit: &PreferencesEdit<'_>) -> Result<User> {
        self.update_profile_editing(actor, ProfileChanges::default(), Some(edit))
            .await
    }

    /// Changes the caller's password after checking the current one (throttled as a login,
    /// see [`Core::verify_current_password`]); needs a session, not an API key. Every other
    /// session of the caller is revoked.
    pub async fn change_password(&self, actor: &Actor, current: &str, new: &str, meta: &ClientMeta) -> Result<()> {
        actor.require_session()?;
        let user = self.store.get_user(actor.user.id).await.map_err(not_found("user"))?;
        if !self.verify_current_password(&user, current, meta).await? {
            return Err(Error::invalid("current_password", "is incorrect"));
        }
        validate_password("new_password", new, self.config.min_password_length)?;
        let hash = self.hasher.hash(new).await?;
        self.modify_user_keeping(user.id, Some(actor.user.id), None, actor.session(), |u| {
            u.password_hash = Some(hash.clone());
            Ok(())
        })
        .await?;
        tracing::info!(user = %user.id, "password changed");
        Ok(())
    }

    /// An administrator's (or the operator's) change to any user: profile, role, active,
    /// verification, password. The primary administrator is protected from other
    /// administrators (see [`Core::administer`]) and, where the deployment's
    /// [`super::PrimaryAdminRole`] holds, keeps its role; an administrator's own password or
    /// email needs a session, not an API key.
    pub async fn admin_update_user(
        &self,
        by: impl Into<Authority<'_>>,
        id: UserId,
        changes: AdminUserChanges,
    ) -> Result<User> {
        self.admin_update_user_editing(by, id, changes, None).await
    }

    /// As [`Core::admin_update_user`], and `edit` changes the preferences object of the
    /// stored user (after `changes`) at its revision, in the same write: a concurrent change
    /// to other keys is kept.
    pub async fn admin_update_user_editing(
        &self,
        by: impl Into<Authority<'_>>,
        id: UserId,
        changes: AdminUserChanges,
        edit: Option<&PreferencesEdit<'_>>,
    ) -> Result<User> {
        self.admin_update_user_with(by, id, changes, edit, None).await
    }

    /// As [`Core::admin_update_user_editing`], `extra` adding to the change's journal what
    /// must be written in the same transaction (alone when nothing else changes).
    pub(crate) async fn admin_update_user_with(
        &self,
        by: impl Into<Authority<'_>>,
        id: UserId,
        changes: AdminUserChanges,
        edit: Option<&PreferencesEdit<'_>>,
        extra: Option<JournalExtra<'_>>,
    ) -> Result<User> {
        let authority = by.into();
        let by = self.administer(authority, id).await?;
        if let Authority::Actor(actor) = authority {
            self.ensure_primary_admin_keeps_role(actor, id, changes.role).await?;
            if id == actor.user.id
                && (changes.password.is_some() || ValidatedProfile::new(&changes.profile)?.changes_email(&actor.user))
            {
                actor.require_session()?;
            }
        }
        let validated = ValidatedProfile::new(&changes.profile)?;
        if changes.revoke_api_keys && changes.password.is_none() {
            return Err(Error::invalid("revoke_api_keys", "is only allowed with a new password"));
        }
        let hash = match &changes.password {
            Some(p) => {
                validate_password("password", p, self.config.min_password_length)?;
                Some(self.hasher.hash(p).await?)
            }
            None => None,
        };
        // A password that takes the API keys with it is written where every such reset is.
        let (hash, reset) = if changes.revoke_api_keys {
            (None, hash)
        } else {
            (hash, None)
        };
        let (_, after) = self
            .modify_user_with(id, by, Some(audit::USER_UPDATE), None, extra, |u| {
                self.apply_profile(u, &validated)?;
                apply_preferences_edit(u, edit)?;
                if let Some(role) = changes.role {
                    u.role = role;
                }
                if let Some(active) = changes.active {
                    u.active = active;
                }
                if let Some(verified) = changes.email_verified {
                    u.email_verified = verified;
                }
                if let Some(h) = &hash {
                    u.password_hash = Some(h.clone());
                }
                Ok(())
            })
            .await?;
        match reset {
            Some(hash) => {
                self.write_password_reset(by, id, &hash, None, true)
                    .await
                    .map_err(not_found("user"))?;
                Ok(self.store.get_user(id).await.map_err(not_found("user"))?)
            }
            None => Ok(after),
        }
    }

    /// Deletes a user and everything it owns (administrators and the operator). No
    /// administrator deletes themself, the primary administrator is protected from other
    /// administrators (see [`Core::administer`]), and the last active administrator cannot be
    /// deleted.
    pub async fn delete_user(&self, by: impl Into<Authority<'_>>, id: UserId) -> Result<()> {
        let by = self.administer(by.into(), id).await?;
        self.delete_user_by(by, id, Deletion::Administered).await
    }

    /// Deletes a user as `by` (themselves, an administrator, or None: the operator): every
    /// deletion comes here, so the rules of every deletion hold on every route. No
    /// administrator deletes themself (checked before a self-deletion's second factor is used
    /// up); the last active administrator stays (checked in the store's transaction).
    pub(super) async fn delete_user_by(&self, by: Option<UserId>, id: UserId, how: Deletion<'_>) -> Result<()> {
        let user = self.store.get_user(id).await.map_err(not_found("user"))?;
        super::admins::ensure_not_deleting_self(by, &user)?;
        if let Deletion::Own(factor) = how {
            if !self.config.allow_account_deletion {
                return Err(Error::Forbidden(crate::error::Refusal::AccountDeletionDisabled));
            }
            self.require_second_factor(id, factor).await?;
        }
        let journal = self.user_deleted_journal(by, &user);
        let keep_ledger = matches!(how, Deletion::KeepingLedger);
        let deleted = if keep_ledger {
            self.store
                .delete_user_keeping_transactions(id, user.is_active_admin(), &journal)
                .await
        } else {
            self.store.delete_user(id, user.is_active_admin(), &journal).await
        };
        deleted.map_err(not_found("user"))?;
        self.remove_files_of(&user).await;
        if keep_ledger {
            tracing::info!(user = %id, "user deleted; credit ledger kept");
        } else {
            tracing::info!(user = %id, "user deleted");
        }
        Ok(())
    }

    /// `user.deleted`, audited as `user.delete`.
    pub(super) fn user_deleted_journal(&self, by: Option<UserId>, user: &User) -> crate::journal::Journal {
        self.journal(by)
            .event(event::USER_DELETED, user.id, serde_json::json!({}))
            .audit(
                audit::USER_DELETE,
                Some(user.id),
                serde_json::json!({ "self": by == Some(user.id) }),
            )
            .build()
    }

    /// Removes what a deleted user kept on disk (its avatar), once its rows are gone.
    pub(super) async fn remove_files_of(&self, user: &User) {
        if let Some(avatar) = &user.avatar {
            self.remove_avatar_file(user.id, avatar).await;
        }
    }
}

/// How a user is deleted (see [`Core::delete_user_by`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum Deletion<'a> {
    /// By an administrator or the operator, with everything the user owns.
    Administered,
    /// As `Administered`, keeping the user's credit ledger.
    KeepingLedger,
    /// The user's own account: only while account deletion is allowed, and with the second
    /// factor when the account has one.
    Own(Option<&'a super::SecondFactor>),
}

/// Profile changes after validation: `Some(None)` clears, `Some(Some(v))` sets.
#[derive(Debug, Default)]
struct ValidatedProfile {
    email: Option<Option<String>>,
    username: Option<Option<String>>,
    name: Option<Option<String>>,
    avatar: Option<Option<String>>,
    bio: Option<Option<String>>,
    timezone: Option<Option<String>>,
    preferences: Option<serde_json::Value>,
    terms_version: Option<String>,
}

fn validate_patch(
    patch: &Patch<String>,
    check: impl Fn(&str) -> Result<Option<String>>,
) -> Result<Option<Option<String>>> {
    match patch {
        Patch::Keep => Ok(None),
        Patch::Clear => Ok(Some(None)),
        Patch::Set(v) => Ok(Some(check(v)?)),
    }
}

impl ValidatedProfile {
    /// Whether these changes give `user` another email (or none).
    fn changes_email(&self, user: &User) -> bool {
        self.email
            .as_ref()
            .is_some_and(|email| email.as_deref() != user.email.as_deref())
    }

    fn new(c: &ProfileChanges) -> Result<Self> {
        let terms_version = match &c.accept_terms_version {
            Some(v) => Some(
                validate_text("accept_terms_version", v, 64)?
                    .ok_or_else(|| Error::invalid("accept_terms_version", "must not be empty"))?,
            ),
            None => None,
        };
        Ok(Self {
            email: validate_patch(&c.email, |s| Email::parse(s).map(|e| Some(e.as_str().to_string())))?,
            username: validate_patch(&c.username, |s| {
                Username::parse(s).map(|u| Some(u.as_str().to_string()))
            })?,
            name: validate_patch(&c.name, validate_name)?,
            avatar: validate_patch(&c.avatar, validate_avatar)?,
            bio: validate_patch(&c.bio, |s| validate_text("bio", s, 1000))?,
            timezone: validate_patch(&c.timezone, validate_timezone)?,
            preferences: c.preferences.clone().map(validate_preferences).transpose()?,
            terms_version,
        })
    }
}

/// Maps the store's NotFound to the core's NotFound for `what`.
pub(crate) fn not_found(what: &'static str) -> impl Fn(StoreError) -> Error {
    move |e| match e {
        StoreError::NotFound => Error::NotFound(what),
        other => other.into(),
    }
}
