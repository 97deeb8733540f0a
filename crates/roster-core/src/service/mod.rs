//! The core services: every rule about users, sessions and keys, called alike by the HTTP
//! handlers of every dialect and by the admin commands.

mod account;
mod administration;
pub use administration::{ACTIVITY_DAYS, Activity, BACKLOG_CAP};
mod admins;
mod api_keys;
mod audit;
mod auth;
mod auto_login;
mod avatars;
mod badges;
mod balances;
mod bans;
mod browser;
mod channels;
mod chat_profile;
mod credentials;
mod email_change;
mod groups;
mod import;
mod import_read;
mod invitations;
mod limits;
mod messaging;
mod migrate;
pub mod oidc;
mod password_resets;
mod permissions;
mod product_config;
mod retention;
mod scim_push;
mod scim_server;
mod sealing;
mod sessions;
mod social;
mod stats;
mod superusers;
mod terms;
mod tiers;
mod two_factor;
mod user_counts;
mod user_facts;
mod user_pages;
mod user_positions;
mod user_settings;
mod users;
mod verification;
mod webhook_net;
mod webhooks;

pub use account::{CODE_ENVIRONMENTS, PluginChange};
pub use admins::{ACTIVE_WINDOW, ADMIN_CANNOT_DELETE_SELF, PrimaryAdminRole, SignupPolicy};
pub use api_keys::{
    API_KEY_PREFIX, API_KEY_PREFIXES, ApiKeyCreated, NewApiKey, SCOPE_INTROSPECT, is_api_key, may_grant,
};
pub use audit::{AuditPage, ListAudit, MAX_AUDIT_PAGE};
pub use auth::{ClientMeta, Introspection, LoginOutcome, TokenHolder, TokenPair};
pub use avatars::{
    AVATAR_DECODE_BUDGET, AVATAR_SIZE, NATIVE_AVATAR_BASE, StoredAvatar, avatar_content_type, own_avatar_file,
};
pub use avatars::{Processed as ProcessedAvatar, process as process_avatar};
pub use badges::{MAX_BADGE_LENGTH, validate_badge};
pub use balances::{
    BalanceView, MAX_AMOUNT, MAX_LEDGER_PAGE, MAX_REFILL_INTERVAL, RefillChanges, RefillSettings, SpendOutcome,
    refill_due, refill_eligible_at,
};
pub use bans::{MAX_BAN, parse_duration};
pub use browser::{AMR_OTP, AMR_PASSWORD, BrowserSession, BrowserSessionStarted, BrowserSignIn};
pub use channels::{CANNOT_MESSAGE, NOTES_CHANNEL_NAME};
pub use chat_profile::{ChatAccountChanges, INCORRECT_CURRENT_PASSWORD};
pub use email_change::{EMAIL_CHANGE_TTL, EmailChangeRequested};
pub use groups::{
    GroupChanges, GroupWithMembers, MAX_MEMBERS_PER_CHANGE, NewGroup, check_group, group_subject, validate_permissions,
};
pub use import::{
    ImportLine, ImportOptions, ImportReport, OnConflict, Outcome, RecordReport, UserRecord, validate_password_hash,
};
pub use import_read::{ImportFormat, read_import_lines};
pub use invitations::{
    InvitationCreated, InvitationPage, InvitationStatus, InvitationView, ListInvitations, MAX_INVITATIONS_LISTED,
    MAX_TOKEN_LIFETIME, NewInvitation,
};
pub use messaging::LIMITS_ADMIN_ONLY;
pub use migrate::{
    MigrateOptions, MigrationOutcome, MigrationRecord, MigrationReport, SourceApiKey, SourceBackupCode, SourceData,
    SourceGroup, SourceImage, SourceTransaction, SourceTwoFactor, SourceUser,
};
pub use password_resets::{PasswordResetDone, ResetLinkCreated, ResetLinkSent};
pub use permissions::{
    API_KEYS_NOT_PERMITTED, API_KEYS_PERMISSION, ApiKeyGate, DEFAULT_TEMPLATE, GATED_PREFERENCES, GatedPreference,
    Surface, builtin_permissions, builtin_permissions_ref, check_preference_gates, fill_missing, forbidden_by,
    or_merge, remove_at, value_at,
};
pub use retention::{Purged, RetentionPolicy};
pub use scim_push::{
    AUDIT_DELIVERY_REPLAY as AUDIT_SCIM_DELIVERY_REPLAY, AUDIT_SYNC as AUDIT_SCIM_SYNC,
    AUDIT_TARGET_ADD as AUDIT_SCIM_TARGET_ADD, AUDIT_TARGET_REMOVE as AUDIT_SCIM_TARGET_REMOVE, DesiredUser, Drift,
    GROUP_EVENTS as SCIM_GROUP_EVENTS, NewScimTarget, PAGE_SIZE as SCIM_PAGE_SIZE, RemoteGroup, RemoteUser, StepError,
    SyncReport, USER_EVENTS as SCIM_USER_EVENTS, desired_user,
};
pub use scim_server::{
    ERROR_SCHEMA as SCIM_ERROR_SCHEMA, SCOPE_SCIM, ScimList, ScimListQuery, ScimResourceKind, project_attributes,
    resource_type_by_id as scim_resource_type, resource_types as scim_resource_types, schema_by_id as scim_schema,
    schemas as scim_schemas, service_provider_config as scim_service_provider_config,
};
pub use sealing::{KEY_CHECK_SETTING, key_matches_database};
pub use social::FRIEND_REQUEST_BLOCKED;
pub use stats::{SIGNUP_DAYS, STATS_CACHE_TTL, UserStats, epoch_day};
pub use superusers::{AccountChanges, CANNOT_DEACTIVATE_SELF, NOT_OWN_ACCOUNT, ONLY_SUPERUSERS};
pub use terms::TermsStatus;
pub use tiers::{MAX_TIER_NAME, TierChange, validate_limits, validate_tier_name};
pub use two_factor::{
    BackupCodes, CHALLENGE_TTL, LANGFLOW_STORE_API_KEY, MAX_CHALLENGE_ATTEMPTS, SecondFactor, TwoFactorEnrolment,
    TwoFactorStatus,
};
pub use user_facts::Permissions;
pub use user_pages::{ListUsers, MAX_PAGE_SIZE, OffsetPage, UserListing, UserPage, cursor_after};
pub use user_settings::{
    MAX_SETTING_KEY, MAX_SETTING_VALUE, MAX_USER_SETTINGS, RESERVED_SETTING_PREFIX, SETTING_VALUE_TOO_LONG,
    TOO_MANY_SETTINGS, check_setting,
};
pub use users::{
    AdminUserChanges, MAX_PREFERENCES_BYTES, NewUser, Patch, PreferencesEdit, ProfileChanges, Registration,
};
pub use verification::SignupForm;
pub use webhook_net::{AddressPolicy, Refusal, check_ip, check_url, without_credentials};
pub use webhooks::{
    Answer, Checked as CheckedSubscription, DeletionReceiver, DeletionStatus, DeliveryWorker, EventPage, HostResolver,
    HttpTransport, MAX_ANSWER_BODY, MAX_DELIVERIES_PAGE, MAX_EVENTS_PAGE, NewSubscription, SCOPE_EVENTS, SendFailure,
    SubscriptionCreated, SystemResolver, WEBHOOK_SECRET_PREFIX, WebhookSettings, WebhookTransport,
};

use crate::clock::Clock;
use crate::config::CoreConfig;
use crate::error::{Error, Result};
use crate::id::{ApiKeyId, IdGenerator, SessionId};
use crate::password::PasswordHasher;
use crate::store::Store;
use crate::token::{SigningKeyRecord, TokenKeys};
use crate::user::User;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// How the caller of a request proved who they are.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// A session's access token.
    Session(SessionId),
    /// An API key, with its scopes.
    ApiKey { id: ApiKeyId, scopes: Vec<String> },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: User,
    pub credential: Credential,
    /// Which product's routes the call came in through: the core applies that product's
    /// rules where products differ (see [`PrimaryAdminRole`]).
    pub surface: Surface,
}

/// Who asks for an operation on other accounts or on the whole deployment. Every such
/// operation is one method taking this, and checks it itself: an API caller must hold the
/// right (an administrator, and the rules of every route, see [`Core::administer`]), the
/// local operator may do what the operation allows anyone.
#[derive(Debug, Clone, Copy)]
pub enum Authority<'a> {
    /// A caller of the API.
    Actor(&'a Actor),
    /// The local operator (see [`Operator`]).
    Operator(Operator),
}

/// The authority of the local operator, who holds the database: what the admin commands
/// (`roster create-user`, `roster migrate`, ...) run with. Its changes are journaled with no
/// actor. Made only by [`Core::operator`]; never for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator(());

impl<'a> From<&'a Actor> for Authority<'a> {
    fn from(actor: &'a Actor) -> Self {
        Authority::Actor(actor)
    }
}

impl From<Operator> for Authority<'_> {
    fn from(operator: Operator) -> Self {
        Authority::Operator(operator)
    }
}

impl Authority<'_> {
    /// The user the journal names as having done it (None: the operator).
    pub fn user_id(&self) -> Option<crate::id::UserId> {
        match self {
            Authority::Actor(actor) => Some(actor.user.id),
            Authority::Operator(_) => None,
        }
    }

    /// Fails unless the caller is an administrator (the operator is); returns
    /// [`Authority::user_id`].
    pub fn require_admin(&self) -> Result<Option<crate::id::UserId>> {
        if let Authority::Actor(actor) = self {
            actor.require_admin()?;
        }
        Ok(self.user_id())
    }
}

/// Refusal: an API key (not a session from a login) asked to change the password, the email
/// or the second factor, or to delete the account.
pub const SESSION_REQUIRED: crate::error::Refusal = crate::error::Refusal::SessionRequired;

impl Actor {
    /// Fails unless the call was made with a session from an interactive login, not an API
    /// key: what a leaked key must never do alone (change one's password, email or second
    /// factor, delete one's account) calls this. The one place that tells the two apart.
    pub fn require_session(&self) -> Result<SessionId> {
        self.session().ok_or(Error::Forbidden(SESSION_REQUIRED))
    }

    /// Whether the call was made with an API key carrying `scope` whose owner still holds the
    /// role that may grant it (see [`api_keys::may_grant`]): a key made by an admin who is no
    /// longer one keeps working, without its admin-only scopes. The one place a key's scopes
    /// are checked, on every use.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// The scopes in effect for this call (see [`Actor::has_scope`]); none for a session.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        let scopes: &[String] = match &self.credential {
            Credential::ApiKey { scopes, .. } => scopes,
            Credential::Session(_) => &[],
        };
        scopes
            .iter()
            .map(String::as_str)
            .filter(|s| api_keys::may_grant(self.user.role, s))
    }

    /// Fails unless the caller is an administrator.
    pub fn require_admin(&self) -> Result<()> {
        if self.user.role == crate::Role::Admin {
            Ok(())
        } else {
            Err(Error::Forbidden(crate::error::Refusal::AdminRequired))
        }
    }

    /// The same caller, on `surface`'s routes: a dialect whose product has its own rules
    /// says so once, where it authenticates its callers.
    pub fn through(self, surface: Surface) -> Self {
        Self { surface, ..self }
    }

    /// The session behind this call, if it was made with an access token.
    pub fn session(&self) -> Option<SessionId> {
        match self.credential {
            Credential::Session(id) => Some(id),
            Credential::ApiKey { .. } => None,
        }
    }
}

/// The services, with everything they need. Cheap to share behind an `Arc`.
pub struct Core {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: CoreConfig,
    pub hasher: PasswordHasher,
    /// Turns to decode an avatar upload (`avatar_concurrency` of them).
    avatar_permits: Arc<tokio::sync::Semaphore>,
    ids: IdGenerator,
    keys: RwLock<Arc<TokenKeys>>,
    last_key_reload: Mutex<Option<Instant>>,
    /// The admin dashboard's totals and when they were counted (see [`Core::cached_user_stats`]).
    stats_cache: Mutex<Option<(time::OffsetDateTime, stats::UserStats)>>,
    /// Held while the dashboard's totals are counted, so that one request counts and the others
    /// wait for its result (see [`Core::cached_user_stats`]).
    stats_counting: tokio::sync::Mutex<()>,
    /// Counts of matching users (see [`user_counts`]).
    user_counts: user_counts::CountCache,
    /// Positions of offset paging (see [`user_positions`]).
    user_positions: user_positions::PositionCache,
    /// Access tokens whose signature was checked, with what they say: verifying Ed25519 on
    /// every request would cost more than the rest of the request. Revocation is still
    /// checked against the store each time.
    verified_tokens: quick_cache::sync::Cache<String, auth::VerifiedToken>,
    /// Sessions and API keys with their users, remembered between requests and forgotten when
    /// the store marks a change (see [`credentials`]).
    sessions: credentials::SessionCache,
    api_keys: credentials::ApiKeyCache,
    /// What the current-user routes show beside the user (permissions, two-factor, badges,
    /// the Langflow store key), remembered by the same rule (see [`user_facts`]).
    facts: user_facts::UserFacts,
    changes: Arc<crate::store::AuthChanges>,
    /// Delivers mail; None: nothing is sent (a log line says so, without the link).
    pub mailer: Option<Arc<dyn crate::mail::Mailer>>,
    /// Seals secrets at rest (TOTP secrets, signing keys, users' stored keys).
    pub secrets: crate::secret::SecretBox,
    /// Whether the key is configured (checked against the database, signing keys sealed).
    secrets_configured: bool,
    /// Rate-limit and login-throttle counters (in-process, or shared through Redis).
    counters: crate::limit::Counters,
    /// The OpenID Connect provider's signing keys (see [`oidc`]).
    oidc: oidc::OidcState,
}

/// How many verified access tokens are remembered.
const VERIFIED_TOKEN_CACHE: usize = 20_000;

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// Builds the core over a migrated store, creating the first signing key if there is none.
    pub async fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: CoreConfig) -> Result<Self> {
        let (secrets, secrets_configured) =
            sealing::open_secret_box(store.as_ref(), clock.now(), config.secret_key.as_ref()).await?;
        let keys = Self::load_or_create_keys(store.as_ref(), clock.as_ref(), &secrets, secrets_configured).await?;
        let mailer = match &config.smtp_url {
            Some(url) => {
                Some(Arc::new(crate::mail::SmtpMailer::new(url, &config.mail_from)?) as Arc<dyn crate::mail::Mailer>)
            }
            None => None,
        };
        let counters = crate::limit::Counters::new(config.limits.redis_url.as_deref(), &config.limits.redis_prefix)?;
        Ok(Self {
            mailer,
            counters,
            hasher: PasswordHasher::new(config.hash_concurrency),
            avatar_permits: Arc::new(tokio::sync::Semaphore::new(config.avatar_concurrency.max(1))),
            ids: IdGenerator::new(config.node_id),
            changes: store.changes(),
            store,
            clock,
            config,
            keys: RwLock::new(Arc::new(keys)),
            last_key_reload: Mutex::new(None),
            stats_cache: Mutex::new(None),
            stats_counting: tokio::sync::Mutex::new(()),
            user_counts: user_counts::CountCache::default(),
            user_positions: user_positions::PositionCache::default(),
            verified_tokens: quick_cache::sync::Cache::new(VERIFIED_TOKEN_CACHE),
            sessions: quick_cache::sync::Cache::new(credentials::CREDENTIAL_CACHE),
            api_keys: quick_cache::sync::Cache::new(credentials::CREDENTIAL_CACHE),
            facts: user_facts::UserFacts::default(),
            secrets,
            secrets_configured,
            oidc: oidc::OidcState::default(),
        })
    }

    async fn load_or_create_keys(
        store: &dyn Store,
        clock: &dyn Clock,
        secrets: &crate::secret::SecretBox,
        seal: bool,
    ) -> Result<TokenKeys> {
        let mut records = store.list_signing_keys().await?;
        if records.is_empty() {
            // Several instances may race here; the generation is unique, so one key wins.
            let record = sealing::sealed_signing_key(secrets, seal, SigningKeyRecord::generate(1, clock.now())?)?;
            store.insert_signing_key(&record).await?;
            records = store.list_signing_keys().await?;
        }
        let records = sealing::open_signing_keys(store, secrets, seal, records).await?;
        TokenKeys::from_records(&records)
    }

    /// Adds a new signing key; tokens signed by older keys stay valid until they expire.
    pub async fn rotate_signing_key(&self) -> Result<String> {
        let records = self.store.list_signing_keys().await?;
        let generation = records.iter().map(|r| r.generation).max().unwrap_or(0) + 1;
        let record = SigningKeyRecord::generate(generation, self.clock.now())?;
        let kid = record.kid.clone();
        let record = sealing::sealed_signing_key(&self.secrets, self.secrets_configured, record)?;
        self.store.insert_signing_key(&record).await?;
        self.reload_keys().await?;
        Ok(kid)
    }

    async fn reload_keys(&self) -> Result<()> {
        let records = self.store.list_signing_keys().await?;
        let records =
            sealing::open_signing_keys(self.store.as_ref(), &self.secrets, self.secrets_configured, records).await?;
        let keys = TokenKeys::from_records(&records)?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(())
    }

    /// The current key set; reloads it (at most once a second) when a token names an unknown
    /// key, so keys rotated by another instance are picked up.
    async fn keys_for(&self, token: &str) -> Result<Arc<TokenKeys>> {
        let keys = self.keys();
        let Some(kid) = TokenKeys::kid_of(token) else {
            return Ok(keys);
        };
        if keys.knows(&kid) {
            return Ok(keys);
        }
        let due = {
            let mut last = self.last_key_reload.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|t| t.elapsed().as_secs() >= 1);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            self.reload_keys().await?;
        }
        Ok(self.keys())
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<TokenKeys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The public signing keys as a JWK set.
    pub fn jwks(&self) -> serde_json::Value {
        self.keys().jwks()
    }

    /// The local operator's authority, for the admin commands, which run with the database in
    /// hand (see [`Operator`]).
    pub fn operator(&self) -> Operator {
        Operator(())
    }

    fn next_id(&self) -> i64 {
        self.ids.next_id()
    }

    /// Starts the journal of a change made now by `actor` (None: the admin command line or
    /// an anonymous client), from the current request's client address.
    pub fn journal(&self, actor: Option<crate::id::UserId>) -> crate::journal::JournalBuilder<'_> {
        crate::journal::JournalBuilder::new(&self.ids, self.clock.now(), actor)
    }
}
