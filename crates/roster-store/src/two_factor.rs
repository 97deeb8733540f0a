//! Two-factor authentication, shared instance settings and sealed user secrets (migration
//! 0008): the SQL text and the row codec. The store methods are in `capability/two_factor.rs`,
//! `capability/instance.rs` and `capability/secrets.rs`. No policy: the core decides.

pub(crate) const GET_INSTANCE_SETTING: &str = "SELECT value FROM instance_settings WHERE name = $1";
pub(crate) const INIT_INSTANCE_SETTING: &str =
    "INSERT INTO instance_settings (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
/// Sets a shared value; the row keeps the time it was first stored.
pub(crate) const PUT_INSTANCE_SETTING: &str = "INSERT INTO instance_settings (name, value, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET value = excluded.value";
pub(crate) const UPDATE_SIGNING_KEY_PRIVATE: &str = "UPDATE signing_keys SET private_key = $2 WHERE kid = $1";

pub(crate) const GET_TWO_FACTOR: &str =
    "SELECT user_id, secret, enabled_at, last_used_step, created_at FROM two_factor WHERE user_id = $1";
/// Starts or restarts a pending enrolment; touches no row when 2FA is enabled.
pub(crate) const BEGIN_TWO_FACTOR: &str = "INSERT INTO two_factor (user_id, secret, enabled_at, last_used_step, \
     created_at) VALUES ($1, $2, NULL, NULL, $3) ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
     last_used_step = NULL, created_at = excluded.created_at WHERE two_factor.enabled_at IS NULL";
pub(crate) const ENABLE_TWO_FACTOR: &str =
    "UPDATE two_factor SET enabled_at = $2, last_used_step = $3 WHERE user_id = $1 AND enabled_at IS NULL";
pub(crate) const USE_TWO_FACTOR_STEP: &str = "UPDATE two_factor SET last_used_step = $2 WHERE user_id = $1 \
     AND enabled_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2)";
pub(crate) const USE_BACKUP_CODE: &str = "UPDATE two_factor_backup_codes SET used_at = $3 WHERE user_id = $1 \
     AND digest = $2 AND used_at IS NULL \
     AND EXISTS (SELECT 1 FROM two_factor WHERE two_factor.user_id = $1 AND enabled_at IS NOT NULL)";
pub(crate) const LIST_BACKUP_CODES: &str =
    "SELECT digest, used_at FROM two_factor_backup_codes WHERE user_id = $1 ORDER BY digest";
/// Locks an enabled enrolment (PostgreSQL: the row) for a change of its backup codes.
pub(crate) const LOCK_ENABLED_TWO_FACTOR: &str =
    "UPDATE two_factor SET created_at = created_at WHERE user_id = $1 AND enabled_at IS NOT NULL";
pub(crate) const DELETE_BACKUP_CODES: &str = "DELETE FROM two_factor_backup_codes WHERE user_id = $1";
pub(crate) const INSERT_BACKUP_CODE: &str =
    "INSERT INTO two_factor_backup_codes (user_id, digest, used_at) VALUES ($1, $2, NULL) ON CONFLICT DO NOTHING";
/// A migrated, enabled enrolment: written when there is none or a pending one; touches no row
/// when one is enabled.
pub(crate) const MIGRATE_TWO_FACTOR: &str = "INSERT INTO two_factor (user_id, secret, enabled_at, last_used_step, \
     created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
     enabled_at = excluded.enabled_at, last_used_step = excluded.last_used_step, created_at = excluded.created_at \
     WHERE two_factor.enabled_at IS NULL";
/// A migrated backup code, kept when already stored.
pub(crate) const MIGRATE_BACKUP_CODE: &str =
    "INSERT INTO two_factor_backup_codes (user_id, digest, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
/// Marks a stored, unused backup code used (a migrated code used in the source since).
pub(crate) const MARK_BACKUP_CODE_USED: &str =
    "UPDATE two_factor_backup_codes SET used_at = $3 WHERE user_id = $1 AND digest = $2 AND used_at IS NULL";
pub(crate) const DELETE_CHALLENGES_OF_USER: &str = "DELETE FROM two_factor_challenges WHERE user_id = $1";
pub(crate) const DELETE_TWO_FACTOR: &str = "DELETE FROM two_factor WHERE user_id = $1";
pub(crate) const DELETE_EXPIRED_CHALLENGES_OF_USER: &str =
    "DELETE FROM two_factor_challenges WHERE user_id = $1 AND expires_at <= $2";
pub(crate) const INSERT_CHALLENGE: &str = "INSERT INTO two_factor_challenges (digest, user_id, created_at, \
     expires_at, attempts) VALUES ($1, $2, $3, $4, 0)";
pub(crate) const ATTEMPT_CHALLENGE: &str = "UPDATE two_factor_challenges SET attempts = attempts + 1 \
     WHERE digest = $1 AND expires_at > $2 AND attempts < $3 RETURNING user_id, created_at, expires_at, attempts";
pub(crate) const DELETE_CHALLENGE: &str = "DELETE FROM two_factor_challenges WHERE digest = $1";

pub(crate) const GET_USER_SECRET: &str = "SELECT value FROM user_secrets WHERE user_id = $1 AND name = $2";
pub(crate) const LIST_USER_SECRETS_HEAD: &str = "SELECT user_id, value FROM user_secrets WHERE name = ";
pub(crate) const COUNT_USER: &str = "SELECT COUNT(*) FROM users WHERE id = $1";
pub(crate) const PUT_USER_SECRET: &str = "INSERT INTO user_secrets (user_id, name, value, updated_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value, \
     updated_at = excluded.updated_at";
pub(crate) const DELETE_USER_SECRET: &str = "DELETE FROM user_secrets WHERE user_id = $1 AND name = $2";

/// A `two_factor` row.
pub(crate) type TwoFactorRow = (i64, String, Option<i64>, Option<i64>, i64);

pub(crate) fn into_record(
    row: TwoFactorRow,
) -> roster_core::store::StoreResult<roster_core::two_factor::TwoFactorRecord> {
    let (user_id, sealed_secret, enabled_at, last_used_step, created_at) = row;
    Ok(roster_core::two_factor::TwoFactorRecord {
        user_id: roster_core::UserId(user_id),
        sealed_secret,
        enabled_at: enabled_at.map(crate::codec::from_ms).transpose()?,
        last_used_step,
        created_at: crate::codec::from_ms(created_at)?,
    })
}
