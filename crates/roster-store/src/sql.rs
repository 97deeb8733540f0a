//! The SQL text, shared by SQLite and PostgreSQL: `$n` placeholders, `RETURNING`,
//! `ON CONFLICT` and row values mean the same in both. Statements only; no policy. The user
//! listing's statements, built per query, are in `sql/user_listing.rs`.

/// The `users` columns that `codec::UserRow` decodes.
macro_rules! user_columns {
    () => {
        "id, email, email_verified, username, name, password_hash, provider, role, active, avatar, bio, timezone, \
         terms_version, terms_accepted_at, preferences, created_at, updated_at, last_login_at, last_active_at, revision, \
         banned_until, ban_reason"
    };
}

/// Takes the one-time "an account exists" marker; one row affected means this caller took it.
pub(crate) const CLAIM_FIRST_ACCOUNT: &str =
    "INSERT INTO instance_state (name) VALUES ('first_account') ON CONFLICT DO NOTHING";

/// `$1`..`$21` as in `codec::UserParams`, `$22` the revision.
pub(crate) const INSERT_USER: &str = concat!(
    "INSERT INTO users (id, email, email_verified, username, username_key, name, password_hash, provider, role, \
     active, avatar, bio, timezone, terms_version, terms_accepted_at, preferences, created_at, updated_at, \
     last_login_at, last_active_at, search_key, revision) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
     RETURNING ",
    user_columns!()
);

/// The head of a multi-row user insert; `codec::UserParams` supplies the rows in this order.
pub(crate) const INSERT_USERS_HEAD: &str = "INSERT INTO users (id, email, email_verified, username, username_key, \
     name, password_hash, provider, role, active, avatar, bio, timezone, terms_version, terms_accepted_at, \
     preferences, created_at, updated_at, last_login_at, last_active_at, search_key, revision) ";

/// Rows per multi-row insert: 22 parameters each stays under both backends' limits.
pub(crate) const BULK_ROWS_PER_STATEMENT: usize = 1000;

/// From this many users on, a bulk insert takes each backend's bulk path (PostgreSQL `COPY`;
/// SQLite's search index written after the rows, not by its trigger row by row); fewer (an
/// import's records retried one at a time) are inserted as any batch is.
pub(crate) const BULK_LOAD_MIN_USERS: usize = 100;

/// The assignments of a user update: `$2`..`$21` as in `codec::UserParams` (the revision rises
/// by one).
macro_rules! user_assignments {
    () => {
        "email = $2, email_verified = $3, username = $4, username_key = $5, name = $6, \
         password_hash = $7, provider = $8, role = $9, active = $10, avatar = $11, bio = $12, timezone = $13, \
         terms_version = $14, terms_accepted_at = $15, preferences = $16, created_at = $17, updated_at = $18, \
         last_login_at = $19, last_active_at = $20, search_key = $21, revision = revision + 1"
    };
}

/// The identifiers a user had before an update (which login keys it held, whether mailed
/// links end), named apart from the user's columns.
macro_rules! old_identity {
    () => {
        "email AS old_email, username AS old_username, password_hash AS old_password_hash"
    };
}

/// The `WITH` list of a user update that also returns the identifiers the row had before
/// (`old_email`, `old_username`, `old_password_hash`), in one statement (PostgreSQL): `$1`..`$21`
/// as in `codec::UserParams`, `$22` the revision the caller read; more `WITH` parts (the
/// change's journal) may follow, then [`SELECT_UPDATED_USER`]. `before_update` reads the statement's snapshot; the update succeeds
/// only at the caller's revision, which every change of an identifier raises (a row changed
/// since the snapshot is checked again at its newest version), so the identifiers read are
/// those of the row updated.
pub(crate) const UPDATE_USER_RETURNING_OLD_IDENTITY_CTE: &str = concat!(
    "WITH before_update AS (SELECT ",
    old_identity!(),
    " FROM users WHERE id = $1), updated AS (UPDATE users SET ",
    user_assignments!(),
    " FROM before_update WHERE id = $1 AND revision = $22 RETURNING ",
    user_columns!(),
    ", old_email, old_username, old_password_hash)"
);
/// The end of [`UPDATE_USER_RETURNING_OLD_IDENTITY_CTE`]'s statement.
pub(crate) const SELECT_UPDATED_USER: &str = " SELECT * FROM updated";

/// The identifiers before (a row of `old_email`, `old_username`, `old_password_hash`) and the
/// user update (`$1`..`$22` as in [`UPDATE_USER_RETURNING_OLD_IDENTITY_CTE`]), as two
/// statements sent at once (SQLite, whose single writer holds the write lock between them); the
/// change's journal may follow as more statements.
pub(crate) const SELECT_OLD_IDENTITY_THEN_UPDATE_USER: &str = concat!(
    "SELECT ",
    old_identity!(),
    " FROM users WHERE id = $1; UPDATE users SET ",
    user_assignments!(),
    " WHERE id = $1 AND revision = $22 RETURNING ",
    user_columns!()
);

pub(crate) const GET_USER: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

/// The one account that holds the login key `$1` (see `login_keys`, migration 0014).
pub(crate) const FIND_USER_BY_LOGIN: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id = (SELECT user_id FROM login_keys WHERE login_key = $1)"
);

/// `$1` key, `$2` user: takes a login key unless another account holds it (no row affected).
pub(crate) const CLAIM_LOGIN_KEY: &str =
    "INSERT INTO login_keys (login_key, user_id) VALUES ($1, $2) ON CONFLICT (login_key) DO NOTHING";
/// The head of a multi-row claim of login keys; `ON CONFLICT (login_key) DO NOTHING` follows.
pub(crate) const CLAIM_LOGIN_KEYS_HEAD: &str = "INSERT INTO login_keys (login_key, user_id) ";
pub(crate) const LOGIN_KEY_HOLDER: &str = "SELECT user_id FROM login_keys WHERE login_key = $1";
/// `$1` key, `$2` user.
pub(crate) const RELEASE_LOGIN_KEY: &str = "DELETE FROM login_keys WHERE login_key = $1 AND user_id = $2";
/// Taken once, by the start that fills the login keys of the accounts stored before them.
pub(crate) const CLAIM_LOGIN_KEYS_FILLED: &str =
    "INSERT INTO instance_state (name) VALUES ('login_keys_filled') ON CONFLICT DO NOTHING";
/// Accounts oldest first after (`$1` created_at, `$2` id), `$3` at a time: who keeps a key
/// two accounts stored before migration 0014 share.
pub(crate) const USER_LOGINS_BY_AGE: &str = "SELECT id, created_at, email, username FROM users \
     WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3";
/// `$1` user: its unused password-reset links (ended by a change of email or password).
pub(crate) const DELETE_UNUSED_RESET_LINKS_OF_USER: &str =
    "DELETE FROM account_tokens WHERE user_id = $1 AND kind = 'password_reset' AND used_at IS NULL";

pub(crate) const COUNT_USERS: &str = "SELECT COUNT(*) FROM users";
pub(crate) const COUNT_USERS_WITH_ID: &str = "SELECT COUNT(*) FROM users WHERE id = $1";
pub(crate) const COUNT_OTHER_USERS_WITH_EMAIL: &str = "SELECT COUNT(*) FROM users WHERE email = $1 AND id <> $2";
pub(crate) const COUNT_OTHER_USERS_WITH_USERNAME: &str =
    "SELECT COUNT(*) FROM users WHERE username_key = $1 AND id <> $2";
/// Active administrators not banned at `$1` (ms).
pub(crate) const COUNT_ACTIVE_ADMINS: &str =
    "SELECT COUNT(*) FROM users WHERE role = 'admin' AND active AND (banned_until IS NULL OR banned_until <= $1)";

pub(crate) const RECORD_LOGIN: &str = "UPDATE users SET last_login_at = $2, last_active_at = $2, \
     password_hash = COALESCE($3, password_hash), revision = revision + 1 WHERE id = $1";

pub(crate) const TOUCH_USER: &str = "UPDATE users SET last_active_at = $2 WHERE id = $1";

pub(crate) const DELETE_REFRESH_TOKENS_OF_USER: &str =
    "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)";
pub(crate) const DELETE_SESSIONS_OF_USER: &str = "DELETE FROM sessions WHERE user_id = $1";
pub(crate) const DELETE_API_KEYS_OF_USER: &str = "DELETE FROM api_keys WHERE user_id = $1";
pub(crate) const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";

macro_rules! session_columns {
    () => {
        "id, user_id, created_at, last_used_at, expires_at, user_agent, ip"
    };
}

pub(crate) const INSERT_SESSION: &str = concat!(
    "INSERT INTO sessions (",
    session_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
pub(crate) const GET_SESSION: &str = concat!("SELECT ", session_columns!(), " FROM sessions WHERE id = $1");
pub(crate) const LIST_SESSIONS: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE user_id = $1 ORDER BY id DESC"
);
pub(crate) const TOUCH_SESSION: &str = "UPDATE sessions SET last_used_at = $2 WHERE id = $1";
/// `$1` session, `$2` user.
pub(crate) const DELETE_REFRESH_TOKENS_OF_SESSION: &str =
    "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE id = $1 AND user_id = $2)";
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE id = $1 AND user_id = $2";
/// `$1` user, `$2` the session to keep (0 for none: ids are positive).
pub(crate) const DELETE_REFRESH_TOKENS_OF_OTHER_SESSIONS: &str =
    "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1 AND id <> $2)";
pub(crate) const DELETE_OTHER_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1 AND id <> $2";

pub(crate) const INSERT_REFRESH_TOKEN: &str =
    "INSERT INTO refresh_tokens (digest, session_id, created_at, used_at) VALUES ($1, $2, $3, NULL)";
pub(crate) const GET_REFRESH_TOKEN: &str = "SELECT session_id, used_at FROM refresh_tokens WHERE digest = $1";
/// `$1` digest, `$2` session, `$3` now; affects no row if the token was used already.
pub(crate) const USE_REFRESH_TOKEN: &str =
    "UPDATE refresh_tokens SET used_at = $3 WHERE digest = $1 AND session_id = $2 AND used_at IS NULL";

macro_rules! api_key_columns {
    () => {
        "id, user_id, name, prefix, scopes, created_at, expires_at, last_used_at"
    };
}

pub(crate) const INSERT_API_KEY: &str = concat!(
    "INSERT INTO api_keys (",
    api_key_columns!(),
    ", digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
);
/// A session and its user in one statement (`$1` the session id): the hot path of every
/// request made with an access token.
pub(crate) const GET_SESSION_WITH_USER: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", s_id, s_user_id, s_created_at, s_last_used_at, s_expires_at, s_user_agent, s_ip FROM users \
     JOIN (SELECT id AS s_id, user_id AS s_user_id, created_at AS s_created_at, last_used_at AS s_last_used_at, \
     expires_at AS s_expires_at, user_agent AS s_user_agent, ip AS s_ip FROM sessions WHERE id = $1) s \
     ON users.id = s.s_user_id"
);

/// What OpenID Connect's userinfo reads, in one statement (`$1` the grant id): the grant, its
/// client's audience and claim names, its user, and one row per group of the user (`gm_name`
/// NULL when there is none), in group name order. The group tables join as single-table
/// subqueries so that every engine flattens them into index lookups.
pub(crate) const GET_OIDC_GRANT_PROFILE: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", g_id, g_client_id, g_user_id, g_session_id, g_sid, g_offline, g_scope, g_auth_time, g_amr, g_created_at, g_expires_at, \
     c_audience, c_roles_claim, c_groups_claim, gm_name FROM users \
     JOIN (SELECT og.id AS g_id, og.client_id AS g_client_id, og.user_id AS g_user_id, \
     og.session_id AS g_session_id, COALESCE(og.sid, og.session_id) AS g_sid, \
     og.offline AS g_offline, og.scope AS g_scope, og.auth_time AS g_auth_time, og.amr AS g_amr, \
     og.created_at AS g_created_at, og.expires_at AS g_expires_at, c.audience AS c_audience, \
     c.roles_claim AS c_roles_claim, c.groups_claim AS c_groups_claim FROM oidc_grants og \
     JOIN oidc_clients c ON c.client_id = og.client_id WHERE og.id = $1) g ON users.id = g.g_user_id \
     LEFT JOIN (SELECT user_id AS gm_user_id, group_id AS gm_group_id FROM group_members) m \
     ON m.gm_user_id = users.id \
     LEFT JOIN (SELECT id AS gm_id, name AS gm_name FROM groups) gr ON gr.gm_id = m.gm_group_id \
     ORDER BY gm_name, gm_id"
);

/// `$1` session, `$2` cookie digest, `$3` auth_time, `$4` amr.
pub(crate) const INSERT_BROWSER_SESSION: &str =
    "INSERT INTO browser_sessions (session_id, digest, auth_time, amr) VALUES ($1, $2, $3, $4)";

/// A browser session, its session and its user in one statement (`$1` the cookie's digest).
pub(crate) const GET_BROWSER_SESSION_WITH_USER: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", s_id, s_user_id, s_created_at, s_last_used_at, s_expires_at, s_user_agent, s_ip, b_auth_time, b_amr \
     FROM users JOIN (SELECT s.id AS s_id, s.user_id AS s_user_id, s.created_at AS s_created_at, \
     s.last_used_at AS s_last_used_at, s.expires_at AS s_expires_at, s.user_agent AS s_user_agent, s.ip AS s_ip, \
     b.auth_time AS b_auth_time, b.amr AS b_amr FROM browser_sessions b JOIN sessions s ON s.id = b.session_id \
     WHERE b.digest = $1) bs ON users.id = bs.s_user_id"
);

/// An API key and its user in one statement (`$1` the key's digest).
pub(crate) const GET_API_KEY_WITH_USER: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", k_id, k_user_id, k_name, k_prefix, k_scopes, k_created_at, k_expires_at, k_last_used_at FROM users \
     JOIN (SELECT id AS k_id, user_id AS k_user_id, name AS k_name, prefix AS k_prefix, scopes AS k_scopes, \
     created_at AS k_created_at, expires_at AS k_expires_at, last_used_at AS k_last_used_at \
     FROM api_keys WHERE digest = $1) k ON users.id = k.k_user_id"
);

pub(crate) const GET_API_KEY_BY_DIGEST: &str =
    concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE digest = $1");
pub(crate) const LIST_API_KEYS: &str = concat!(
    "SELECT ",
    api_key_columns!(),
    " FROM api_keys WHERE user_id = $1 ORDER BY id DESC"
);
pub(crate) const DELETE_API_KEY: &str = "DELETE FROM api_keys WHERE id = $1 AND user_id = $2";
pub(crate) const TOUCH_API_KEY: &str = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1";

pub(crate) const LIST_SIGNING_KEYS: &str =
    "SELECT kid, generation, private_key, public_key, created_at FROM signing_keys ORDER BY generation";
pub(crate) const INSERT_SIGNING_KEY: &str = "INSERT INTO signing_keys (kid, generation, private_key, public_key, \
     created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";

/// `$1` user, `$2` ban end (ms, or NULL to lift), `$3` reason.
pub(crate) const SET_USER_BAN: &str = concat!(
    "UPDATE users SET banned_until = $2, ban_reason = $3, revision = revision + 1 WHERE id = $1 RETURNING ",
    user_columns!()
);
/// Clears the bans that ended at or before `$1` (ms), at most `$2`, the earliest first; the
/// outer condition is checked again on the row it locks, so a ban another writer cleared or
/// renewed meanwhile is left alone.
pub(crate) const END_EXPIRED_BANS: &str = "UPDATE users SET banned_until = NULL, ban_reason = NULL, \
     revision = revision + 1 WHERE id IN (SELECT id FROM users WHERE banned_until <= $1 \
     ORDER BY banned_until, id LIMIT $2) AND banned_until <= $1 RETURNING id";
/// Bans in force at `$1` (ms).
pub(crate) const LIST_BANNED_USERS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE banned_until > $1 ORDER BY banned_until, id"
);
/// The head of the look-up of users by email or username key; the lists are appended.
pub(crate) const FIND_USERS_HEAD: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE ");

/// Statistics: `$1` now (ms) for bans in force.
pub(crate) const USER_TOTALS: &str = "SELECT COUNT(*), \
     COALESCE(SUM(CASE WHEN email_verified THEN 1 ELSE 0 END), 0), \
     COALESCE(SUM(CASE WHEN active THEN 1 ELSE 0 END), 0), \
     COALESCE(SUM(CASE WHEN banned_until > $1 THEN 1 ELSE 0 END), 0) FROM users";
/// Users per role and status (`$1`: now, ms).
pub(crate) const USERS_BY_ROLE_AND_STATUS: &str = "SELECT role, CASE WHEN banned_until > $1 THEN 'banned' \
     WHEN active THEN 'active' ELSE 'inactive' END, COUNT(*) FROM users GROUP BY 1, 2 ORDER BY 1, 2";
pub(crate) const USERS_BY_ROLE: &str = "SELECT role, COUNT(*) FROM users GROUP BY role ORDER BY role";
pub(crate) const USERS_BY_PROVIDER: &str =
    "SELECT provider, COUNT(*) FROM users GROUP BY provider ORDER BY COUNT(*) DESC, provider";
/// Sign-ups per whole day since the epoch, from `$1` (ms).
pub(crate) const SIGNUPS_BY_DAY: &str = "SELECT created_at / 86400000, COUNT(*) FROM users WHERE created_at >= $1 \
     GROUP BY created_at / 86400000 ORDER BY created_at / 86400000";
/// Users active at or after `$1` (ms).
pub(crate) const COUNT_ACTIVE_SINCE: &str = "SELECT COUNT(*) FROM users WHERE last_active_at >= $1";

macro_rules! account_token_columns {
    () => {
        "kind, user_id, email, role, created_at, expires_at, used_at"
    };
}

pub(crate) const INSERT_ACCOUNT_TOKEN: &str = concat!(
    "INSERT INTO account_tokens (digest, ",
    account_token_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);
pub(crate) const GET_ACCOUNT_TOKEN: &str = concat!(
    "SELECT ",
    account_token_columns!(),
    " FROM account_tokens WHERE digest = $1"
);
/// `$1` digest, `$2` kind, `$3` now (ms); affects no row unless the token is unused and unexpired.
pub(crate) const USE_ACCOUNT_TOKEN: &str = concat!(
    "UPDATE account_tokens SET used_at = $3 WHERE digest = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3 \
     RETURNING ",
    account_token_columns!()
);
/// `$1` the most to list: invitations, newest first (the index on kind and creation time).
pub(crate) const LIST_INVITATIONS: &str = concat!(
    "SELECT digest, ",
    account_token_columns!(),
    " FROM account_tokens WHERE kind = 'invitation' ORDER BY created_at DESC, digest DESC LIMIT $1"
);
/// `$1` created_at (ms) and `$2` digest of the last invitation of the previous page, `$3` limit:
/// the invitations after it in [`LIST_INVITATIONS`]' order (a range on `(kind, created_at)`).
pub(crate) const LIST_INVITATIONS_AFTER: &str = concat!(
    "SELECT digest, ",
    account_token_columns!(),
    " FROM account_tokens WHERE kind = 'invitation' AND created_at <= $1 AND (created_at < $1 OR digest < $2) \
     ORDER BY created_at DESC, digest DESC LIMIT $3"
);
/// `$1` digest, `$2` now (ms): deletes the invitation only while it is pending.
pub(crate) const DELETE_PENDING_INVITATION: &str = "DELETE FROM account_tokens \
     WHERE digest = $1 AND kind = 'invitation' AND used_at IS NULL AND expires_at > $2";
pub(crate) const DELETE_ACCOUNT_TOKENS_OF_USER: &str = "DELETE FROM account_tokens WHERE user_id = $1";

mod user_listing;

pub(crate) use user_listing::{
    FULL_TEXT_PROBE, FULL_TEXT_PROBE_LIMIT, Param, SearchPlan, count_matching_users, full_text_pattern, list_users,
    sorts_by_number, user_position,
};

// Groups and permission templates (0005_groups.sql)

macro_rules! group_columns {
    () => {
        "id, name, description, permissions, created_by, created_at, updated_at"
    };
}

pub(crate) const INSERT_GROUP: &str = concat!(
    "INSERT INTO groups (",
    group_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
pub(crate) const GET_GROUP: &str = concat!("SELECT ", group_columns!(), " FROM groups WHERE id = $1");
pub(crate) const LIST_GROUPS: &str = concat!("SELECT ", group_columns!(), " FROM groups ORDER BY name, id");
pub(crate) const UPDATE_GROUP: &str =
    "UPDATE groups SET name = $2, description = $3, permissions = $4, updated_at = $5 WHERE id = $1";
pub(crate) const DELETE_GROUP: &str = "DELETE FROM groups WHERE id = $1";
pub(crate) const COUNT_GROUPS_WITH_ID: &str = "SELECT COUNT(*) FROM groups WHERE id = $1";
pub(crate) const INSERT_GROUP_MEMBER: &str = "INSERT INTO group_members (group_id, user_id, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (group_id, user_id) DO NOTHING";
pub(crate) const DELETE_GROUP_MEMBER: &str = "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2";
pub(crate) const LIST_GROUP_MEMBERS: &str = "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id";
pub(crate) const LIST_GROUPS_OF_USER: &str = concat!(
    "SELECT ",
    group_columns!(),
    " FROM groups WHERE id IN (SELECT group_id FROM group_members WHERE user_id = $1) ORDER BY name, id"
);
/// Followed by `IN (user ids)` and [`LIST_GROUPS_OF_USERS_TAIL`]: `(user, group)` rows in user
/// id then group name, id order.
pub(crate) const LIST_GROUPS_OF_USERS_HEAD: &str = "SELECT m.user_id AS m_user_id, g.id, g.name, g.description, \
     g.permissions, g.created_by, g.created_at, g.updated_at FROM group_members m JOIN groups g ON g.id = m.group_id \
     WHERE m.user_id";
pub(crate) const LIST_GROUPS_OF_USERS_TAIL: &str = " ORDER BY m.user_id, g.name, g.id";
pub(crate) const GET_PERMISSION_TEMPLATE: &str = "SELECT permissions FROM permission_templates WHERE name = $1";
pub(crate) const PUT_PERMISSION_TEMPLATE: &str = "INSERT INTO permission_templates (name, permissions, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET permissions = excluded.permissions, \
     updated_at = excluded.updated_at";

// The LibreChat dialect: email verifications, terms acceptances, the credit ledger.

/// `$1` digest, `$2` user, `$3` email, `$4` created (ms), `$5` expires (ms).
pub(crate) const INSERT_EMAIL_VERIFICATION: &str = "INSERT INTO email_verifications \
     (digest, user_id, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
/// `$1` user, `$2` digest, `$3` new email, `$4` created (ms), `$5` expires (ms): a user's
/// pending email change, replacing an earlier one.
pub(crate) const PUT_EMAIL_CHANGE: &str = "INSERT INTO email_changes \
     (user_id, digest, new_email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (user_id) DO UPDATE SET digest = excluded.digest, new_email = excluded.new_email, \
     created_at = excluded.created_at, expires_at = excluded.expires_at";
pub(crate) const GET_EMAIL_CHANGE_BY_DIGEST: &str =
    "SELECT user_id, new_email, created_at, expires_at FROM email_changes WHERE digest = $1";
pub(crate) const GET_EMAIL_CHANGE: &str =
    "SELECT user_id, new_email, created_at, expires_at FROM email_changes WHERE user_id = $1";
/// `$1` user, `$2` the token's digest or NULL for any.
pub(crate) const DELETE_EMAIL_CHANGE: &str =
    "DELETE FROM email_changes WHERE user_id = $1 AND (CAST($2 AS TEXT) IS NULL OR digest = $2)";
pub(crate) const DELETE_EMAIL_VERIFICATIONS_OF_USER: &str = "DELETE FROM email_verifications WHERE user_id = $1";
/// `$1` digest, `$2` now (ms), `$3` the email or NULL, `$4` the user or NULL; affects no row
/// unless the token is unused, unexpired, and for that email and user when they are given.
pub(crate) const USE_EMAIL_VERIFICATION: &str = "UPDATE email_verifications SET used_at = $2 \
     WHERE digest = $1 AND used_at IS NULL AND expires_at > $2 \
     AND COALESCE($3, email) = email AND COALESCE($4, user_id) = user_id \
     RETURNING user_id, email, created_at, expires_at";
/// `$1` user, `$2` the verified email, `$3` now (ms).
pub(crate) const MARK_EMAIL_VERIFIED: &str = "UPDATE users SET email_verified = TRUE, updated_at = $3, \
     revision = revision + 1 WHERE id = $1 AND email = $2";
/// `$1` user, `$2` version, `$3` at (ms).
pub(crate) const SET_TERMS_ACCEPTED: &str = concat!(
    "UPDATE users SET terms_version = $2, terms_accepted_at = $3, updated_at = $3, revision = revision + 1 \
     WHERE id = $1 RETURNING ",
    user_columns!()
);
/// `$1` id, `$2` user, `$3` version, `$4` at (ms).
pub(crate) const INSERT_TERMS_ACCEPTANCE: &str =
    "INSERT INTO terms_acceptances (id, user_id, version, accepted_at) VALUES ($1, $2, $3, $4)";
pub(crate) const LIST_TERMS_ACCEPTANCES: &str = "SELECT user_id, version, accepted_at FROM terms_acceptances \
     WHERE user_id = $1 ORDER BY accepted_at DESC, id DESC";
/// `$1` id, `$2` user, `$3` kind, `$4` amount, `$5` at (ms); a second start grant is skipped.
pub(crate) const INSERT_BALANCE_TRANSACTION: &str = "INSERT INTO balance_transactions \
     (id, user_id, kind, amount, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
/// `$1` user, `$2` limit: the user's ledger, newest first.
pub(crate) const LIST_BALANCE_TRANSACTIONS: &str = "SELECT id, kind, amount, created_at FROM balance_transactions \
     WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2";
/// `$1` user, `$2` time (ms) and `$3` id of the last transaction of the page before.
pub(crate) const LIST_BALANCE_TRANSACTIONS_BEFORE: &str = "SELECT id, kind, amount, created_at \
     FROM balance_transactions WHERE user_id = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
     ORDER BY created_at DESC, id DESC LIMIT $4";
pub(crate) const DELETE_BALANCE_TRANSACTIONS_OF_USER: &str = "DELETE FROM balance_transactions WHERE user_id = $1";
/// `$1` user: locks the user's row (PostgreSQL) so that ledger writers of one user take turns.
pub(crate) const LOCK_USER_FOR_LEDGER: &str = "UPDATE users SET revision = revision WHERE id = $1";
/// `$1` user: the balance and the number of start grants.
pub(crate) const GET_BALANCE: &str = "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT), \
     CAST(COUNT(*) FILTER (WHERE kind = 'start_grant') AS BIGINT) FROM balance_transactions WHERE user_id = $1";
/// `$1` user: the balance, the number of start grants and the ledger's first entry (ms).
pub(crate) const GET_BALANCE_LEDGER: &str = "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT), \
     CAST(COUNT(*) FILTER (WHERE kind = 'start_grant') AS BIGINT), MIN(created_at) \
     FROM balance_transactions WHERE user_id = $1";
/// `$1` user: the auto-refill overrides and the last refill (ms).
pub(crate) const GET_BALANCE_SETTINGS: &str = "SELECT auto_refill_enabled, refill_interval_value, \
     refill_interval_unit, refill_amount, last_refill_at FROM balance_settings WHERE user_id = $1";
/// `$1` user, `$2` enabled, `$3` interval value, `$4` unit, `$5` amount: the overrides, the last
/// refill kept.
pub(crate) const PUT_REFILL_OVERRIDES: &str = "INSERT INTO balance_settings \
     (user_id, auto_refill_enabled, refill_interval_value, refill_interval_unit, refill_amount) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET \
     auto_refill_enabled = excluded.auto_refill_enabled, refill_interval_value = excluded.refill_interval_value, \
     refill_interval_unit = excluded.refill_interval_unit, refill_amount = excluded.refill_amount";
/// `$1` user, `$2` at (ms): stamps the last refill, the overrides kept.
pub(crate) const STAMP_LAST_REFILL: &str = "INSERT INTO balance_settings (user_id, last_refill_at) \
     VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET last_refill_at = excluded.last_refill_at";

// ---------------------------------------------------------------------------------------
// External references (`roster migrate`).

/// `$1` source, `$2` kind.
pub(crate) const LIST_EXTERNAL_REFS: &str = "SELECT source, kind, external_id, local_id, fingerprint \
     FROM external_refs WHERE source = $1 AND kind = $2 ORDER BY external_id";
/// `$1` source, `$2` kind, `$3` external id, `$4` local id, `$5` fingerprint, `$6` at (ms).
pub(crate) const PUT_EXTERNAL_REF: &str = "INSERT INTO external_refs \
     (source, kind, external_id, local_id, fingerprint, imported_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (source, kind, external_id) DO UPDATE SET local_id = excluded.local_id, \
     fingerprint = excluded.fingerprint, imported_at = excluded.imported_at";
/// `$1` source, `$2` kind, `$3` external id.
pub(crate) const COUNT_EXTERNAL_REF: &str =
    "SELECT COUNT(*) FROM external_refs WHERE source = $1 AND kind = $2 AND external_id = $3";
/// As [`INSERT_API_KEY`], skipping a digest already stored.
pub(crate) const INSERT_API_KEY_IF_NEW: &str = concat!(
    "INSERT INTO api_keys (",
    api_key_columns!(),
    ", digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (digest) DO NOTHING"
);

// Crash consistency (issue 9): a password reset is one transaction.
pub(crate) const SET_PASSWORD_HASH: &str =
    "UPDATE users SET password_hash = $2, updated_at = $3, revision = revision + 1 WHERE id = $1";

// The chat products' social records (migration 0007): messaging settings, badges, channels,
// blocks, friendships.

/// `$1` the lower-cased username.
pub(crate) const FIND_USER_BY_USERNAME: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE username_key = $1");

/// The `messaging_settings` columns that `codec::MessagingSettingsRow` decodes.
macro_rules! messaging_settings_columns {
    () => {
        "user_id, read_receipts_enabled, typing_indicators_enabled, compact_messages_enabled, allow_dms_from, \
         auto_create_dms, max_message_length, max_attachment_size, max_attachments_per_message, updated_at"
    };
}

pub(crate) const GET_MESSAGING_SETTINGS: &str = concat!(
    "SELECT ",
    messaging_settings_columns!(),
    " FROM messaging_settings WHERE user_id = $1"
);
/// `$1`..`$10` in the order of the columns.
pub(crate) const PUT_MESSAGING_SETTINGS: &str = concat!(
    "INSERT INTO messaging_settings (",
    messaging_settings_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (user_id) DO UPDATE SET \
     read_receipts_enabled = excluded.read_receipts_enabled, \
     typing_indicators_enabled = excluded.typing_indicators_enabled, \
     compact_messages_enabled = excluded.compact_messages_enabled, allow_dms_from = excluded.allow_dms_from, \
     auto_create_dms = excluded.auto_create_dms, max_message_length = excluded.max_message_length, \
     max_attachment_size = excluded.max_attachment_size, \
     max_attachments_per_message = excluded.max_attachments_per_message, updated_at = excluded.updated_at"
);
/// `$1` user: locks the user's row (PostgreSQL) so that writers of one user's settings take
/// turns; no row affected: no such user.
pub(crate) const LOCK_USER_FOR_SETTINGS: &str = "UPDATE users SET revision = revision WHERE id = $1";

/// `$1` user, `$2` badge, `$3` at (ms).
pub(crate) const INSERT_USER_BADGE: &str = "INSERT INTO user_badges (user_id, badge, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (user_id, badge) DO NOTHING";
pub(crate) const DELETE_USER_BADGE: &str = "DELETE FROM user_badges WHERE user_id = $1 AND badge = $2";
pub(crate) const LIST_USER_BADGES: &str = "SELECT badge FROM user_badges WHERE user_id = $1 ORDER BY created_at, badge";

/// The `channels` columns that `codec::ChannelRow` decodes.
macro_rules! channel_columns {
    () => {
        "id, kind, user_low, user_high, name, last_message_id, last_message_at, created_at"
    };
}

/// `$1`..`$8` in the order of the columns; a channel of the same kind and members wins.
pub(crate) const INSERT_CHANNEL: &str = concat!(
    "INSERT INTO channels (",
    channel_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kind, user_low, user_high) DO NOTHING"
);
/// `$1` kind, `$2` user_low, `$3` user_high.
pub(crate) const GET_CHANNEL_OF_MEMBERS: &str = concat!(
    "SELECT ",
    channel_columns!(),
    " FROM channels WHERE kind = $1 AND user_low = $2 AND user_high = $3"
);
pub(crate) const GET_CHANNEL: &str = concat!("SELECT ", channel_columns!(), " FROM channels WHERE id = $1");
/// Ids and message ids are snowflakes, so the larger of the two orders by recent activity.
pub(crate) const LIST_DM_CHANNELS: &str = concat!(
    "SELECT ",
    channel_columns!(),
    " FROM channels WHERE kind = 'dm' AND (user_low = $1 OR user_high = $1) \
     ORDER BY COALESCE(last_message_id, id) DESC, id DESC"
);
/// `$1` channel, `$2` message id, `$3` at (ms); only moves forward.
pub(crate) const SET_CHANNEL_LAST_MESSAGE: &str = "UPDATE channels SET last_message_id = $2, last_message_at = $3 \
     WHERE id = $1 AND (last_message_id IS NULL OR last_message_id < $2)";

/// `$1` blocker, `$2` blocked, `$3` at (ms).
pub(crate) const INSERT_BLOCK: &str = "INSERT INTO user_blocks (blocker_id, blocked_id, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (blocker_id, blocked_id) DO NOTHING";
pub(crate) const DELETE_BLOCK: &str = "DELETE FROM user_blocks WHERE blocker_id = $1 AND blocked_id = $2";
pub(crate) const COUNT_BLOCKS: &str = "SELECT COUNT(*) FROM user_blocks WHERE blocker_id = $1 AND blocked_id = $2";
pub(crate) const LIST_BLOCKS: &str = "SELECT blocker_id, blocked_id, created_at FROM user_blocks \
     WHERE blocker_id = $1 ORDER BY created_at DESC, blocked_id DESC";

/// The `friendships` columns that `codec::FriendshipRow` decodes.
macro_rules! friendship_columns {
    () => {
        "user_low, user_high, requester_id, created_at, accepted_at"
    };
}

/// `$1` user_low, `$2` user_high.
pub(crate) const GET_FRIENDSHIP: &str = concat!(
    "SELECT ",
    friendship_columns!(),
    " FROM friendships WHERE user_low = $1 AND user_high = $2"
);
/// `$1`..`$5` in the order of the columns; nothing is written while either user blocks the
/// other, or when the pair has a row already.
pub(crate) const INSERT_FRIEND_REQUEST: &str = concat!(
    "INSERT INTO friendships (",
    friendship_columns!(),
    ") SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM user_blocks \
     WHERE (blocker_id = $1 AND blocked_id = $2) OR (blocker_id = $2 AND blocked_id = $1)) \
     ON CONFLICT (user_low, user_high) DO NOTHING"
);
/// `$1` user_low, `$2` user_high, `$3` the acceptor (not the requester), `$4` at (ms).
pub(crate) const ACCEPT_FRIEND_REQUEST: &str = "UPDATE friendships SET accepted_at = $4 \
     WHERE user_low = $1 AND user_high = $2 AND requester_id <> $3 AND accepted_at IS NULL";
/// `$1` user_low, `$2` user_high.
pub(crate) const DELETE_FRIENDSHIP: &str = "DELETE FROM friendships WHERE user_low = $1 AND user_high = $2";
pub(crate) const LIST_FRIENDSHIPS: &str = concat!(
    "SELECT ",
    friendship_columns!(),
    " FROM friendships WHERE user_low = $1 OR user_high = $1 \
     ORDER BY COALESCE(accepted_at, created_at) DESC, user_low, user_high"
);
