//! SQL and rows of the OpenID Connect provider (migrations 0020, 0026): signing keys, clients,
//! grants, authorization codes, refresh tokens and the back-channel logout queue. Lists are
//! JSON text in both backends.

use crate::codec::from_ms;
use roster_core::store::{
    OidcClient, OidcCode, OidcGrant, OidcGrantProfile, OidcKeyRecord, OidcLogout, StoreError, StoreResult,
};
use roster_core::webhooks::DeliveryStatus;
use roster_core::{SessionId, UserId};

pub(crate) const LIST_KEYS: &str = "SELECT kid, alg, generation, private_key, public_key, created_at \
     FROM oidc_signing_keys ORDER BY alg, generation";
pub(crate) const INSERT_KEY: &str = "INSERT INTO oidc_signing_keys (kid, alg, generation, private_key, public_key, \
     created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
pub(crate) const DELETE_KEY: &str = "DELETE FROM oidc_signing_keys WHERE kid = $1";

const CLIENT_COLUMNS: &str = "client_id, name, secret_digest, redirect_uris, post_logout_redirect_uris, scopes, \
     grant_types, audience, first_party, backchannel_logout_uri, signing_alg, access_token_ttl, id_token_ttl, \
     refresh_token_ttl, roles_claim, groups_claim, created_at, updated_at";

pub(crate) fn get_client() -> String {
    format!("SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE client_id = $1")
}
pub(crate) fn list_clients() -> String {
    format!("SELECT {CLIENT_COLUMNS} FROM oidc_clients ORDER BY client_id")
}
pub(crate) fn insert_client() -> String {
    format!(
        "INSERT INTO oidc_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
         $14, $15, $16, $17, $18)"
    )
}
pub(crate) const UPDATE_CLIENT: &str = "UPDATE oidc_clients SET name = $2, secret_digest = $3, redirect_uris = $4, \
     post_logout_redirect_uris = $5, scopes = $6, grant_types = $7, audience = $8, first_party = $9, \
     backchannel_logout_uri = $10, signing_alg = $11, access_token_ttl = $12, id_token_ttl = $13, \
     refresh_token_ttl = $14, roles_claim = $15, groups_claim = $16, created_at = $17, updated_at = $18 \
     WHERE client_id = $1";
pub(crate) const DELETE_CLIENT: &str = "DELETE FROM oidc_clients WHERE client_id = $1";

const GRANT_COLUMNS: &str = "id, client_id, user_id, session_id, COALESCE(sid, session_id) AS sid, offline, scope, \
     auth_time, amr, created_at, expires_at";
pub(crate) fn get_grant() -> String {
    format!("SELECT {GRANT_COLUMNS} FROM oidc_grants WHERE id = $1")
}
pub(crate) fn list_grants_of_user() -> String {
    format!("SELECT {GRANT_COLUMNS} FROM oidc_grants WHERE user_id = $1 AND expires_at > $2 ORDER BY id")
}
pub(crate) const INSERT_GRANT: &str = "INSERT INTO oidc_grants (id, client_id, user_id, session_id, scope, \
     auth_time, amr, created_at, expires_at, sid, offline) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
/// `$1` session, `$2` user: whether the browser session an offline grant comes from is live.
pub(crate) const COUNT_SESSION_OF_USER: &str = "SELECT COUNT(*) FROM sessions WHERE id = $1 AND user_id = $2";
/// An offline grant's own session: `$1` id, `$2` user, `$3` now, `$4` expiry, `$5` its label.
pub(crate) const INSERT_OFFLINE_SESSION: &str = "INSERT INTO sessions (id, user_id, created_at, last_used_at, \
     expires_at, user_agent, ip) VALUES ($1, $2, $3, $3, $4, $5, NULL)";
/// Expired grants end without a back-channel logout (their sessions have not ended): marked
/// first, then deleted (see migration 0026).
pub(crate) const QUIET_EXPIRED_GRANTS: &str =
    "UPDATE oidc_grants SET quiet_end = TRUE WHERE user_id = $1 AND expires_at <= $2";
pub(crate) const DELETE_EXPIRED_GRANTS: &str = "DELETE FROM oidc_grants WHERE user_id = $1 AND expires_at <= $2";
/// Every grant of a user (a ban); each queues a back-channel logout.
pub(crate) const DELETE_GRANTS_OF_USER: &str = "DELETE FROM oidc_grants WHERE user_id = $1";
pub(crate) const DELETE_GRANT: &str = "DELETE FROM oidc_grants WHERE id = $1";

pub(crate) const INSERT_CODE: &str = "INSERT INTO oidc_codes (digest, grant_id, redirect_uri, nonce, \
     code_challenge, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const USE_CODE: &str = "UPDATE oidc_codes SET used_at = $2 WHERE digest = $1 AND used_at IS NULL";
pub(crate) const GET_CODE: &str =
    "SELECT grant_id, redirect_uri, nonce, code_challenge, created_at, expires_at FROM oidc_codes WHERE digest = $1";

pub(crate) const INSERT_REFRESH: &str =
    "INSERT INTO oidc_refresh_tokens (digest, grant_id, created_at) VALUES ($1, $2, $3)";
pub(crate) const USE_REFRESH: &str =
    "UPDATE oidc_refresh_tokens SET used_at = $2 WHERE digest = $1 AND used_at IS NULL";
pub(crate) const GRANT_OF_REFRESH: &str = "SELECT grant_id FROM oidc_refresh_tokens WHERE digest = $1";
pub(crate) const GET_REFRESH: &str = "SELECT grant_id, used_at FROM oidc_refresh_tokens WHERE digest = $1";

pub(crate) const LOGOUT_COLUMNS: &str = "id, client_id, user_id, sid, status, attempts, next_attempt_at, \
     last_attempt_at, last_status_code, last_error, delivered_at, created_at";

/// Due, pending, unclaimed logouts leased to `$1` until `$3` (`$2` now, `$4` the most),
/// oldest first. `{lock}` is PostgreSQL's `FOR UPDATE SKIP LOCKED` (empty on SQLite).
pub(crate) fn claim_logouts(lock: &str) -> String {
    format!(
        "UPDATE oidc_logouts SET claimed_by = $1, claimed_until = $3 WHERE id IN (\
         SELECT id FROM oidc_logouts WHERE status = 'pending' AND next_attempt_at <= $2 \
         AND (claimed_until IS NULL OR claimed_until <= $2) ORDER BY id LIMIT $4{lock}) \
         RETURNING {LOGOUT_COLUMNS}"
    )
}

fn list(field: &'static str, text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Other(anyhow::anyhow!("stored {field} is not a JSON list: {e}")))
}

/// A list as stored.
pub(crate) fn list_text(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".into())
}

/// An `oidc_signing_keys` row.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    kid: String,
    alg: String,
    generation: i64,
    private_key: Vec<u8>,
    public_key: Vec<u8>,
    created_at: i64,
}

impl KeyRow {
    pub(crate) fn into_record(self) -> StoreResult<OidcKeyRecord> {
        Ok(OidcKeyRecord {
            kid: self.kid,
            alg: self.alg,
            generation: self.generation,
            private_key: self.private_key,
            public_key: self.public_key,
            created_at: from_ms(self.created_at)?,
        })
    }
}

/// An `oidc_clients` row.
#[derive(sqlx::FromRow)]
pub(crate) struct ClientRow {
    client_id: String,
    name: Option<String>,
    secret_digest: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    scopes: String,
    grant_types: String,
    audience: Option<String>,
    first_party: bool,
    backchannel_logout_uri: Option<String>,
    signing_alg: String,
    access_token_ttl: i64,
    id_token_ttl: i64,
    refresh_token_ttl: i64,
    roles_claim: String,
    groups_claim: String,
    created_at: i64,
    updated_at: i64,
}

impl ClientRow {
    pub(crate) fn into_client(self) -> StoreResult<OidcClient> {
        Ok(OidcClient {
            client_id: self.client_id,
            name: self.name,
            secret_digest: self.secret_digest,
            redirect_uris: list("redirect_uris", &self.redirect_uris)?,
            post_logout_redirect_uris: list("post_logout_redirect_uris", &self.post_logout_redirect_uris)?,
            scopes: list("scopes", &self.scopes)?,
            grant_types: list("grant_types", &self.grant_types)?,
            audience: self.audience,
            first_party: self.first_party,
            backchannel_logout_uri: self.backchannel_logout_uri,
            signing_alg: self.signing_alg,
            access_token_ttl: self.access_token_ttl,
            id_token_ttl: self.id_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl,
            roles_claim: self.roles_claim,
            groups_claim: self.groups_claim,
            created_at: from_ms(self.created_at)?,
            updated_at: from_ms(self.updated_at)?,
        })
    }
}

/// An `oidc_grants` row.
#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    id: i64,
    client_id: String,
    user_id: i64,
    session_id: i64,
    sid: i64,
    offline: bool,
    scope: String,
    auth_time: i64,
    amr: String,
    created_at: i64,
    expires_at: i64,
}

impl GrantRow {
    pub(crate) fn into_grant(self) -> StoreResult<OidcGrant> {
        Ok(OidcGrant {
            id: self.id,
            client_id: self.client_id,
            user_id: UserId(self.user_id),
            session_id: SessionId(self.session_id),
            sid: SessionId(self.sid),
            offline: self.offline,
            scope: self.scope,
            auth_time: from_ms(self.auth_time)?,
            amr: list("amr", &self.amr)?,
            created_at: from_ms(self.created_at)?,
            expires_at: from_ms(self.expires_at)?,
        })
    }
}

/// One row of `sql::GET_OIDC_GRANT_PROFILE`: the grant, its client's claim settings, its
/// user, and one of the user's groups.
#[derive(sqlx::FromRow)]
pub(crate) struct GrantProfileRow {
    #[sqlx(flatten)]
    user: crate::codec::UserRow,
    g_id: i64,
    g_client_id: String,
    g_user_id: i64,
    g_session_id: i64,
    g_sid: i64,
    g_offline: bool,
    g_scope: String,
    g_auth_time: i64,
    g_amr: String,
    g_created_at: i64,
    g_expires_at: i64,
    c_audience: Option<String>,
    c_roles_claim: String,
    c_groups_claim: String,
    gm_name: Option<String>,
}

/// The profile of the rows of one grant (NotFound when there are none).
pub(crate) fn grant_profile(rows: Vec<GrantProfileRow>) -> StoreResult<OidcGrantProfile> {
    let mut groups = Vec::new();
    let mut first = None;
    for row in rows {
        if let Some(name) = row.gm_name.clone() {
            groups.push(name);
        }
        if first.is_none() {
            first = Some(row);
        }
    }
    let row = first.ok_or(StoreError::NotFound)?;
    let grant = GrantRow {
        id: row.g_id,
        client_id: row.g_client_id,
        user_id: row.g_user_id,
        session_id: row.g_session_id,
        sid: row.g_sid,
        offline: row.g_offline,
        scope: row.g_scope,
        auth_time: row.g_auth_time,
        amr: row.g_amr,
        created_at: row.g_created_at,
        expires_at: row.g_expires_at,
    }
    .into_grant()?;
    Ok(OidcGrantProfile {
        grant,
        user: row.user.into_user()?,
        audience: row.c_audience,
        roles_claim: row.c_roles_claim,
        groups_claim: row.c_groups_claim,
        groups,
    })
}

/// An `oidc_codes` row, without its digest and use.
#[derive(sqlx::FromRow)]
pub(crate) struct CodeRow {
    grant_id: i64,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    created_at: i64,
    expires_at: i64,
}

impl CodeRow {
    pub(crate) fn into_code(self) -> StoreResult<OidcCode> {
        Ok(OidcCode {
            grant_id: self.grant_id,
            redirect_uri: self.redirect_uri,
            nonce: self.nonce,
            code_challenge: self.code_challenge,
            created_at: from_ms(self.created_at)?,
            expires_at: from_ms(self.expires_at)?,
        })
    }
}

/// An `oidc_logouts` row.
#[derive(sqlx::FromRow)]
pub(crate) struct LogoutRow {
    id: i64,
    client_id: String,
    user_id: i64,
    sid: i64,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_attempt_at: Option<i64>,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    delivered_at: Option<i64>,
    created_at: i64,
}

impl LogoutRow {
    pub(crate) fn into_logout(self) -> StoreResult<OidcLogout> {
        let status = DeliveryStatus::parse(&self.status)
            .map_err(|_| StoreError::Other(anyhow::anyhow!("unknown logout status {:?}", self.status)))?;
        let opt = |ms: Option<i64>| ms.map(from_ms).transpose();
        Ok(OidcLogout {
            id: self.id,
            client_id: self.client_id,
            user_id: UserId(self.user_id),
            sid: SessionId(self.sid),
            status,
            attempts: self.attempts,
            next_attempt_at: from_ms(self.next_attempt_at)?,
            last_attempt_at: opt(self.last_attempt_at)?,
            last_status_code: self.last_status_code,
            last_error: self.last_error,
            delivered_at: opt(self.delivered_at)?,
            created_at: from_ms(self.created_at)?,
        })
    }
}
