//! Rows as both backends store them, and their conversion to and from the core's types:
//! timestamps as milliseconds since the Unix epoch, JSON documents, roles as text. Shared by
//! SQLite and PostgreSQL; no SQL and no policy.

use roster_core::store::{
    AccountToken, AccountTokenKind, ApiKey, BrowserSessionRecord, RefreshTokenRecord, Session, StoreResult,
};
use roster_core::token::SigningKeyRecord;
use roster_core::user::PasswordHash;
use roster_core::{ApiKeyId, Role, SessionId, StoreError, User, UserId};
use sqlx::types::Json;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch (truncated, as the core computes list cursors).
pub(crate) fn to_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The time `ms` milliseconds after the Unix epoch.
pub(crate) fn from_ms(ms: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("stored timestamp {ms} is out of range: {e}")))
}

fn from_ms_opt(ms: Option<i64>) -> StoreResult<Option<OffsetDateTime>> {
    ms.map(from_ms).transpose()
}

/// The case-insensitive key of a username.
pub(crate) fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// The login keys of a user, each with its field (see `roster_core::user::login_keys`).
pub(crate) fn login_keys(user: &User) -> Vec<(String, &'static str)> {
    roster_core::user::login_keys(user.email.as_deref(), user.username.as_deref())
}

/// What `list_users` searches: lower-case email, username and name, space-separated.
pub(crate) fn search_key(user: &User) -> String {
    let part = |s: &Option<String>| s.as_deref().unwrap_or_default().to_lowercase();
    format!("{} {} {}", part(&user.email), part(&user.username), part(&user.name))
}

/// A `users` row as selected by `sql::user_columns!`.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    email: Option<String>,
    email_verified: bool,
    username: Option<String>,
    name: Option<String>,
    password_hash: Option<String>,
    provider: String,
    role: String,
    active: bool,
    avatar: Option<String>,
    bio: Option<String>,
    timezone: Option<String>,
    terms_version: Option<String>,
    terms_accepted_at: Option<i64>,
    preferences: Json<serde_json::Value>,
    created_at: i64,
    updated_at: i64,
    last_login_at: Option<i64>,
    last_active_at: Option<i64>,
    revision: i64,
    banned_until: Option<i64>,
    ban_reason: Option<String>,
}

impl UserRow {
    pub(crate) fn into_user(self) -> StoreResult<User> {
        let role = Role::parse(&self.role)
            .map_err(|_| StoreError::Other(anyhow::anyhow!("stored role {:?} is unknown", self.role)))?;
        Ok(User {
            id: UserId(self.id),
            email: self.email,
            email_verified: self.email_verified,
            username: self.username,
            name: self.name,
            password_hash: self.password_hash.map(PasswordHash),
            provider: self.provider,
            role,
            active: self.active,
            avatar: self.avatar,
            bio: self.bio,
            timezone: self.timezone,
            terms_version: self.terms_version,
            terms_accepted_at: from_ms_opt(self.terms_accepted_at)?,
            preferences: self.preferences.0,
            created_at: from_ms(self.created_at)?,
            updated_at: from_ms(self.updated_at)?,
            last_login_at: from_ms_opt(self.last_login_at)?,
            last_active_at: from_ms_opt(self.last_active_at)?,
            revision: self.revision,
            banned_until: from_ms_opt(self.banned_until)?,
            ban_reason: self.ban_reason,
        })
    }
}

/// The values a user write binds, in the order of `sql::INSERT_USER` and the user update
/// (`$1` to `$21`), with the columns the store maintains (`username_key`, `search_key`).
pub(crate) struct UserParams {
    pub id: i64,
    pub email: Option<String>,
    pub email_verified: bool,
    pub username: Option<String>,
    pub username_key: Option<String>,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub provider: String,
    pub role: &'static str,
    pub active: bool,
    pub avatar: Option<String>,
    pub bio: Option<String>,
    pub timezone: Option<String>,
    pub terms_version: Option<String>,
    pub terms_accepted_at: Option<i64>,
    pub preferences: Json<serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_login_at: Option<i64>,
    pub last_active_at: Option<i64>,
    pub search_key: String,
}

/// Refuses text no backend can store (a NUL character: PostgreSQL refuses it in `text` and
/// `jsonb`; SQLite would keep it), so both backends answer alike, with the field named.
pub(crate) fn check_text(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.contains('\0') {
        return Err(StoreError::InvalidText { field });
    }
    Ok(())
}

/// [`check_text`] over every text column of a user, its preferences included.
pub(crate) fn check_user_text(user: &User) -> Result<(), StoreError> {
    for (field, value) in [
        ("email", user.email.as_deref()),
        ("username", user.username.as_deref()),
        ("name", user.name.as_deref()),
        ("provider", Some(user.provider.as_str())),
        ("avatar", user.avatar.as_deref()),
        ("bio", user.bio.as_deref()),
        ("timezone", user.timezone.as_deref()),
        ("terms_version", user.terms_version.as_deref()),
    ] {
        if let Some(value) = value {
            check_text(field, value)?;
        }
    }
    if roster_core::user::json_contains_nul(&user.preferences) {
        return Err(StoreError::InvalidText { field: "preferences" });
    }
    Ok(())
}

impl UserParams {
    /// The parameters of a user whose text every backend can store ([`check_user_text`]).
    pub(crate) fn checked(user: &User) -> Result<Self, StoreError> {
        check_user_text(user)?;
        Ok(Self::new(user))
    }

    pub(crate) fn new(user: &User) -> Self {
        Self {
            id: user.id.0,
            email: user.email.clone(),
            email_verified: user.email_verified,
            username: user.username.clone(),
            username_key: user.username.as_deref().map(username_key),
            name: user.name.clone(),
            password_hash: user.password_hash.as_ref().map(|h| h.0.clone()),
            provider: user.provider.clone(),
            role: user.role.as_str(),
            active: user.active,
            avatar: user.avatar.clone(),
            bio: user.bio.clone(),
            timezone: user.timezone.clone(),
            terms_version: user.terms_version.clone(),
            terms_accepted_at: user.terms_accepted_at.map(to_ms),
            preferences: Json(user.preferences.clone()),
            created_at: to_ms(user.created_at),
            updated_at: to_ms(user.updated_at),
            last_login_at: user.last_login_at.map(to_ms),
            last_active_at: user.last_active_at.map(to_ms),
            search_key: search_key(user),
        }
    }
}

/// A `sessions` row.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: i64,
    user_id: i64,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    user_agent: Option<String>,
    ip: Option<String>,
}

impl SessionRow {
    pub(crate) fn into_session(self) -> StoreResult<Session> {
        Ok(Session {
            id: SessionId(self.id),
            user_id: UserId(self.user_id),
            created_at: from_ms(self.created_at)?,
            last_used_at: from_ms(self.last_used_at)?,
            expires_at: from_ms(self.expires_at)?,
            user_agent: self.user_agent,
            ip: self.ip,
        })
    }
}

/// A session joined with its user (`sql::GET_SESSION_WITH_USER`).
#[derive(sqlx::FromRow)]
pub(crate) struct SessionWithUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    s_id: i64,
    s_user_id: i64,
    s_created_at: i64,
    s_last_used_at: i64,
    s_expires_at: i64,
    s_user_agent: Option<String>,
    s_ip: Option<String>,
}

impl SessionWithUserRow {
    pub(crate) fn into_pair(self) -> StoreResult<(Session, User)> {
        let session = SessionRow {
            id: self.s_id,
            user_id: self.s_user_id,
            created_at: self.s_created_at,
            last_used_at: self.s_last_used_at,
            expires_at: self.s_expires_at,
            user_agent: self.s_user_agent,
            ip: self.s_ip,
        };
        Ok((session.into_session()?, self.user.into_user()?))
    }
}

/// A browser session joined with its session and user (`sql::GET_BROWSER_SESSION_WITH_USER`).
#[derive(sqlx::FromRow)]
pub(crate) struct BrowserSessionWithUserRow {
    #[sqlx(flatten)]
    session: SessionWithUserRow,
    b_auth_time: i64,
    b_amr: String,
}

impl BrowserSessionWithUserRow {
    pub(crate) fn into_pair(self) -> StoreResult<(BrowserSessionRecord, User)> {
        let auth_time = from_ms(self.b_auth_time)?;
        let amr = self.b_amr.split_whitespace().map(str::to_string).collect();
        let (session, user) = self.session.into_pair()?;
        Ok((
            BrowserSessionRecord {
                session,
                auth_time,
                amr,
            },
            user,
        ))
    }
}

/// An API key joined with its user (`sql::GET_API_KEY_WITH_USER`).
#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyWithUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    k_id: i64,
    k_user_id: i64,
    k_name: String,
    k_prefix: String,
    k_scopes: Json<Vec<String>>,
    k_created_at: i64,
    k_expires_at: Option<i64>,
    k_last_used_at: Option<i64>,
}

impl ApiKeyWithUserRow {
    pub(crate) fn into_pair(self) -> StoreResult<(ApiKey, User)> {
        let key = ApiKeyRow {
            id: self.k_id,
            user_id: self.k_user_id,
            name: self.k_name,
            prefix: self.k_prefix,
            scopes: self.k_scopes,
            created_at: self.k_created_at,
            expires_at: self.k_expires_at,
            last_used_at: self.k_last_used_at,
        };
        Ok((key.into_api_key()?, self.user.into_user()?))
    }
}

/// A `refresh_tokens` row, without its digest.
#[derive(sqlx::FromRow)]
pub(crate) struct RefreshTokenRow {
    session_id: i64,
    used_at: Option<i64>,
}

impl RefreshTokenRow {
    pub(crate) fn into_record(self) -> StoreResult<RefreshTokenRecord> {
        Ok(RefreshTokenRecord {
            session_id: SessionId(self.session_id),
            used_at: from_ms_opt(self.used_at)?,
        })
    }
}

/// An `api_keys` row, without its digest.
#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: i64,
    user_id: i64,
    name: String,
    prefix: String,
    scopes: Json<Vec<String>>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl ApiKeyRow {
    pub(crate) fn into_api_key(self) -> StoreResult<ApiKey> {
        Ok(ApiKey {
            id: ApiKeyId(self.id),
            user_id: UserId(self.user_id),
            name: self.name,
            prefix: self.prefix,
            scopes: self.scopes.0,
            created_at: from_ms(self.created_at)?,
            expires_at: from_ms_opt(self.expires_at)?,
            last_used_at: from_ms_opt(self.last_used_at)?,
        })
    }
}

/// A `signing_keys` row.
#[derive(sqlx::FromRow)]
pub(crate) struct SigningKeyRow {
    kid: String,
    generation: i64,
    private_key: Vec<u8>,
    public_key: Vec<u8>,
    created_at: i64,
}

impl SigningKeyRow {
    pub(crate) fn into_record(self) -> StoreResult<SigningKeyRecord> {
        Ok(SigningKeyRecord {
            kid: self.kid,
            generation: self.generation,
            private_pkcs8: self.private_key,
            public_key: self.public_key,
            created_at: from_ms(self.created_at)?,
        })
    }
}

/// An invitation's `account_tokens` row with its digest (the listing's id).
#[derive(sqlx::FromRow)]
pub(crate) struct InvitationRow {
    pub(crate) digest: String,
    #[sqlx(flatten)]
    pub(crate) token: AccountTokenRow,
}

/// An `account_tokens` row, without its digest.
#[derive(sqlx::FromRow)]
pub(crate) struct AccountTokenRow {
    kind: String,
    user_id: Option<i64>,
    email: Option<String>,
    role: Option<String>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl AccountTokenRow {
    pub(crate) fn into_token(self) -> StoreResult<AccountToken> {
        let kind = AccountTokenKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Other(anyhow::anyhow!("stored token kind {:?} is unknown", self.kind)))?;
        let role = self
            .role
            .map(|r| Role::parse(&r).map_err(|_| StoreError::Other(anyhow::anyhow!("stored role {r:?} is unknown"))))
            .transpose()?;
        Ok(AccountToken {
            kind,
            user_id: self.user_id.map(UserId),
            email: self.email,
            role,
            created_at: from_ms(self.created_at)?,
            expires_at: from_ms(self.expires_at)?,
            used_at: from_ms_opt(self.used_at)?,
        })
    }
}

/// Converts every row, failing on the first that does not decode.
pub(crate) fn convert_all<R, T>(rows: Vec<R>, convert: impl Fn(R) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.into_iter().map(convert).collect()
}

/// A `groups` row.
#[derive(sqlx::FromRow)]
pub(crate) struct GroupRow {
    id: i64,
    name: String,
    description: String,
    permissions: Json<serde_json::Value>,
    created_by: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl GroupRow {
    pub(crate) fn into_group(self) -> StoreResult<roster_core::store::Group> {
        Ok(roster_core::store::Group {
            id: roster_core::GroupId(self.id),
            name: self.name,
            description: self.description,
            permissions: self.permissions.0,
            created_by: self.created_by.map(UserId),
            created_at: from_ms(self.created_at)?,
            updated_at: from_ms(self.updated_at)?,
        })
    }
}

/// A group with the id of one of its members (`sql::LIST_GROUPS_OF_USERS_HEAD`).
#[derive(sqlx::FromRow)]
pub(crate) struct GroupOfUserRow {
    m_user_id: i64,
    #[sqlx(flatten)]
    group: GroupRow,
}

impl GroupOfUserRow {
    pub(crate) fn into_pair(self) -> StoreResult<(UserId, roster_core::store::Group)> {
        Ok((UserId(self.m_user_id), self.group.into_group()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip_and_truncate() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(to_ms(at), 1_700_000_000_123);
        assert_eq!(to_ms(from_ms(to_ms(at)).unwrap()), 1_700_000_000_123);
        assert!(from_ms(i64::MAX).is_err());
    }
}

/// A `messaging_settings` row.
#[derive(sqlx::FromRow)]
pub(crate) struct MessagingSettingsRow {
    user_id: i64,
    read_receipts_enabled: bool,
    typing_indicators_enabled: bool,
    compact_messages_enabled: bool,
    allow_dms_from: String,
    auto_create_dms: bool,
    max_message_length: Option<i64>,
    max_attachment_size: Option<i64>,
    max_attachments_per_message: Option<i64>,
    updated_at: i64,
}

impl MessagingSettingsRow {
    pub(crate) fn into_settings(self) -> StoreResult<roster_core::chat::MessagingSettings> {
        let allow_dms_from = roster_core::chat::AllowDmsFrom::parse(&self.allow_dms_from).map_err(|_| {
            StoreError::Other(anyhow::anyhow!(
                "stored allow_dms_from {:?} is unknown",
                self.allow_dms_from
            ))
        })?;
        Ok(roster_core::chat::MessagingSettings {
            user_id: UserId(self.user_id),
            read_receipts_enabled: self.read_receipts_enabled,
            typing_indicators_enabled: self.typing_indicators_enabled,
            compact_messages_enabled: self.compact_messages_enabled,
            allow_dms_from,
            auto_create_dms: self.auto_create_dms,
            max_message_length: self.max_message_length,
            max_attachment_size: self.max_attachment_size,
            max_attachments_per_message: self.max_attachments_per_message,
            updated_at: Some(from_ms(self.updated_at)?),
        })
    }
}

/// A `channels` row.
#[derive(sqlx::FromRow)]
pub(crate) struct ChannelRow {
    id: i64,
    kind: String,
    user_low: i64,
    user_high: i64,
    name: Option<String>,
    last_message_id: Option<i64>,
    last_message_at: Option<i64>,
    created_at: i64,
}

impl ChannelRow {
    pub(crate) fn into_channel(self) -> StoreResult<roster_core::chat::Channel> {
        let kind = roster_core::chat::ChannelKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Other(anyhow::anyhow!("stored channel kind {:?} is unknown", self.kind)))?;
        Ok(roster_core::chat::Channel {
            id: roster_core::id::ChannelId(self.id),
            kind,
            user_low: UserId(self.user_low),
            user_high: UserId(self.user_high),
            name: self.name,
            last_message_id: self.last_message_id,
            last_message_at: from_ms_opt(self.last_message_at)?,
            created_at: from_ms(self.created_at)?,
        })
    }
}

/// A `friendships` row.
#[derive(sqlx::FromRow)]
pub(crate) struct FriendshipRow {
    user_low: i64,
    user_high: i64,
    requester_id: i64,
    created_at: i64,
    accepted_at: Option<i64>,
}

impl FriendshipRow {
    pub(crate) fn into_friendship(self) -> StoreResult<roster_core::chat::Friendship> {
        Ok(roster_core::chat::Friendship {
            user_low: UserId(self.user_low),
            user_high: UserId(self.user_high),
            requester: UserId(self.requester_id),
            created_at: from_ms(self.created_at)?,
            accepted_at: from_ms_opt(self.accepted_at)?,
        })
    }
}
