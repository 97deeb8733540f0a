//! The check of every operation on one user by an administrator or the operator; the primary
//! administrator (the earliest administrator) and what other administrators may do to it;
//! that no administrator deletes themself; registration with a role chosen by a dialect;
//! whether a user counts as active.

use super::auth::ClientMeta;
use super::users::{Registration, not_found};
use super::{Actor, Authority, Core, LoginOutcome, Surface};
use crate::error::{Error, Result};
use crate::id::{GroupId, UserId};
use crate::store::{UserQuery, UserSort};
use crate::user::{Role, User};
use time::Duration;

/// A user seen within this window counts as active.
pub const ACTIVE_WINDOW: Duration = Duration::seconds(180);

/// How a dialect's self-registration goes (see [`Core::register_with_role`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignupPolicy {
    /// The role of accounts after the first (the first account ever becomes admin).
    pub role: Role,
    /// How long the access token is valid (None: `access_token_ttl`).
    pub access_ttl: Option<Duration>,
    /// A pending account gets a session too, one that only identifies it (see
    /// [`Core::authenticate_identity`]).
    pub identify_pending: bool,
    /// Only the first account may sign up (Open WebUI closes sign-up after it), decided safely
    /// under concurrency: of racing first sign-ups, one account is kept.
    pub only_first_account: bool,
    /// A group every new account joins (Open WebUI's `DEFAULT_GROUP_ID`); an unknown group is
    /// logged and skipped, as Open WebUI does.
    pub default_group: Option<GroupId>,
}

/// Where the primary administrator must keep its administrator role (may not give it up
/// itself): a per-deployment choice (`primary_admin_keeps_role`). Other administrators can
/// never change it, wherever (see [`Core::administer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrimaryAdminRole {
    /// On Open WebUI's routes, as in Open WebUI. Elsewhere the primary administrator may step
    /// down while another active administrator remains (the last-admin rule keeps one).
    #[default]
    OpenWebUi,
    /// On every route (the operator's admin commands aside).
    Everywhere,
}

impl PrimaryAdminRole {
    /// Parses the setting's value: `openwebui` or `everywhere`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openwebui" => Some(PrimaryAdminRole::OpenWebUi),
            "everywhere" => Some(PrimaryAdminRole::Everywhere),
            _ => None,
        }
    }
}

/// Refusal: an administrator deleting their own account (by any route).
pub const ADMIN_CANNOT_DELETE_SELF: crate::error::Refusal = crate::error::Refusal::AdminCannotDeleteSelf;

/// The rule of every deletion, checked where every deletion goes (see
/// [`Core::delete_user_by`]): no administrator deletes themself, whether through an
/// administrator's route or a self-service one.
pub(super) fn ensure_not_deleting_self(by: Option<UserId>, target: &User) -> Result<()> {
    if by == Some(target.id) && target.role == Role::Admin {
        return Err(Error::Forbidden(ADMIN_CANNOT_DELETE_SELF));
    }
    Ok(())
}

impl Core {
    /// The primary administrator: the earliest account that is an administrator now (the
    /// first account ever, while it stays one), if there is any administrator.
    pub async fn primary_admin(&self) -> Result<Option<UserId>> {
        let first = self
            .store
            .list_users(&UserQuery {
                role: Some(Role::Admin),
                sort: UserSort::CreatedAt,
                descending: false,
                limit: 1,
                ..UserQuery::default()
            })
            .await?;
        Ok(first.first().map(|u| u.id))
    }

    /// The account a product shows as the administrators' contact (Open WebUI's pending-user
    /// screen), to any signed-in caller, pending ones too (the product decides whether to show
    /// it): the account whose email or username is `login` when given (None if there is none),
    /// else the first account ever created (whatever its role now).
    pub async fn contact_account(&self, _caller: &Actor, login: Option<&str>) -> Result<Option<User>> {
        if let Some(login) = login {
            return match self.find_user_by_login(login).await {
                Ok(user) => Ok(Some(user)),
                Err(Error::NotFound(_) | Error::Invalid { .. }) => Ok(None),
                Err(e) => Err(e),
            };
        }
        let first = self
            .store
            .list_users(&UserQuery {
                sort: UserSort::CreatedAt,
                descending: false,
                limit: 1,
                ..UserQuery::default()
            })
            .await?;
        Ok(first.into_iter().next())
    }

    /// The check of every operation on one user that takes authority over the account (a
    /// change, deletion, ban, session revocation, password or second-factor reset), on every
    /// route: an API caller must be an administrator, and the primary administrator cannot be
    /// the target of another administrator. The operator may. Returns who the journal names
    /// (see [`Authority::user_id`]).
    pub(super) async fn administer(&self, by: Authority<'_>, target: UserId) -> Result<Option<UserId>> {
        if let Authority::Actor(actor) = by {
            actor.require_admin()?;
            if actor.user.id != target && self.primary_admin().await? == Some(target) {
                return Err(Error::Forbidden(crate::error::Refusal::PrimaryAdminProtected));
            }
        }
        Ok(by.user_id())
    }

    /// Checks that `actor` leaves the primary administrator its role when the change sets
    /// `role`, where the deployment's [`PrimaryAdminRole`] holds (the route's product is the
    /// actor's [`Surface`]).
    pub(super) async fn ensure_primary_admin_keeps_role(
        &self,
        actor: &Actor,
        target: UserId,
        role: Option<Role>,
    ) -> Result<()> {
        let holds =
            actor.surface == Surface::OpenWebUi || self.config.primary_admin_role == PrimaryAdminRole::Everywhere;
        if holds && role.is_some_and(|r| r != Role::Admin) && self.primary_admin().await? == Some(target) {
            return Err(Error::Forbidden(crate::error::Refusal::PrimaryAdminStaysAdmin));
        }
        Ok(())
    }

    /// Whether the user was seen within [`ACTIVE_WINDOW`].
    pub fn is_recently_active(&self, user: &User) -> bool {
        user.last_active_at
            .is_some_and(|t| self.clock.now() - t <= ACTIVE_WINDOW)
    }

    /// Whether the user with this id was seen within [`ACTIVE_WINDOW`]; unknown ids are not.
    pub async fn is_user_active(&self, id: UserId) -> Result<bool> {
        match self.store.get_user(id).await.map_err(not_found("user")) {
            Ok(user) => Ok(self.is_recently_active(&user)),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Self-registration as [`Core::register`], with the role of accounts after the first
    /// chosen by the caller (a dialect's own default, e.g. Open WebUI's `pending`). The first
    /// account ever still becomes admin. Signs the user in unless the account may not.
    pub async fn register_with_role(
        &self,
        input: Registration,
        policy: SignupPolicy,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome> {
        let SignupPolicy {
            role,
            access_ttl,
            identify_pending,
            only_first_account,
            default_group,
        } = policy;
        self.check_client_rate_limit(crate::limit::Limit::Register, meta)
            .await?;
        if !self.config.allow_registration || (only_first_account && self.has_accounts().await?) {
            return Err(Error::RegistrationDisabled);
        }
        let mut user = self.user_from_registration(&input).await?;
        user.role = role;
        let journal = self.journal(None).user_created(&user, None).build();
        let user = self.store.insert_user(&user, true, &journal).await?;
        if only_first_account && role != Role::Admin && user.role != Role::Admin {
            // Another sign-up became the first account meanwhile: sign-up was already closed.
            let cleanup = super::users::Deletion::Administered;
            self.delete_user_by(None, user.id, cleanup).await?;
            return Err(Error::RegistrationDisabled);
        }
        tracing::info!(user = %user.id, role = %user.role, "user registered");
        if let Some(group) = default_group {
            self.join_default_group(user.id, group).await;
        }
        let may_sign_in = if identify_pending {
            user.ensure_may_identify_at(self.clock.now()).is_ok()
        } else {
            user.ensure_may_sign_in().is_ok()
        };
        if !may_sign_in {
            return Ok(LoginOutcome { user, tokens: None });
        }
        let ttl = access_ttl.unwrap_or(self.config.access_token_ttl);
        let tokens = self.start_session_with_ttl(&user, meta, ttl).await?;
        Ok(LoginOutcome {
            user,
            tokens: Some(tokens),
        })
    }

    /// Password login as [`Core::login`], with the access token valid for `access_ttl` (at
    /// most the session's lifetime): for products whose clients never refresh (Open WebUI's
    /// frontend keeps one token for weeks). Revocation still takes effect on the next request.
    /// With `identify_pending`, a pending account signs in to a session that only identifies
    /// it (see [`Core::authenticate_identity`]).
    pub async fn login_with_access_ttl(
        &self,
        login: &str,
        password: &str,
        access_ttl: Duration,
        identify_pending: bool,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome> {
        if login.trim().is_empty() {
            return Err(Error::invalid("login", "must not be empty"));
        }
        if password.is_empty() {
            return Err(Error::invalid("password", "must not be empty"));
        }
        let user = self.check_password_for(login, password, identify_pending, meta).await?;
        let tokens = self.start_session_with_ttl(&user, meta, access_ttl).await?;
        tracing::info!(user = %user.id, session = %tokens.session_id, "login");
        Ok(LoginOutcome {
            user,
            tokens: Some(tokens),
        })
    }

    /// Authenticates a bearer credential as [`Core::authenticate_bearer`] does, except that an
    /// access token of a pending account is accepted: for the few calls that only identify the
    /// caller (who am I, sign out, change my password or time zone). Every other call still
    /// refuses a pending account, and API keys of pending accounts never work.
    pub async fn authenticate_identity(&self, token: &str) -> Result<Actor> {
        if super::is_api_key(token) {
            self.authenticate_api_key(token).await
        } else {
            self.authenticate_access_token_for(token, true).await
        }
    }

    /// Whether any account exists (products that close sign-up after the first account ask).
    pub async fn has_accounts(&self) -> Result<bool> {
        Ok(self.store.count_users().await? > 0)
    }

    /// Reads another user's directory entry: any signed-in user may (products such as Open
    /// WebUI show every user's name, email and role to every user).
    pub async fn read_user_entry(&self, actor: &Actor, id: UserId) -> Result<User> {
        let _ = actor;
        self.store.get_user(id).await.map_err(not_found("user"))
    }

    /// The groups of another user, as the directory shows them (see [`Core::read_user_entry`]).
    pub async fn user_entry_groups(&self, actor: &Actor, id: UserId) -> Result<Vec<crate::store::Group>> {
        let _ = actor;
        Ok(self.store.list_groups_of_user(id).await?)
    }

    /// Searches the user directory: any signed-in user may (see [`Core::read_user_entry`]).
    pub async fn search_user_directory(&self, actor: &Actor, request: super::ListUsers) -> Result<super::UserPage> {
        let _ = actor;
        self.user_page(request).await
    }
}
