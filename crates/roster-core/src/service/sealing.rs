//! Secrets at rest, at start-up: the secret key is checked against the database (every
//! instance must use the same), and token signing keys are kept sealed (plaintext rows of an
//! older Roster are sealed in place on start).

use crate::error::{Error, Result};
use crate::secret::{KEY_SETTING, SecretBox, SecretKey};
use crate::store::Store;
use crate::token::SigningKeyRecord;

/// The instance setting that holds the key's check value.
pub const KEY_CHECK_SETTING: &str = "secret_key_check";

/// The box of the configured key, after checking that the database was set up with the same
/// key (the first instance records it). Without a configured key: a random key for this
/// process only, nothing checked, and signing keys left as they are.
pub(super) async fn open_secret_box(
    store: &dyn Store,
    now: time::OffsetDateTime,
    key: Option<&SecretKey>,
) -> Result<(SecretBox, bool)> {
    let Some(key) = key else {
        return Ok((SecretBox::new(&SecretKey::generate())?, false));
    };
    let check = key.check_value();
    let stored = store.init_instance_setting(KEY_CHECK_SETTING, &check, now).await?;
    if !crate::token::digests_equal(&stored, &check) {
        return Err(Error::Internal(anyhow::anyhow!(
            "the secret key (key id {}) is not the one this database was set up with: start every instance \
             with the same {KEY_SETTING} (or the same secret.key file in its data directory); with another \
             key the sealed secrets (TOTP secrets, signing keys) cannot be read",
            key.key_id()
        )));
    }
    Ok((SecretBox::new(key)?, true))
}

/// Whether `key` is the one the database was set up with: None when no instance has recorded
/// one yet (for `roster doctor`; the start-up check is [`open_secret_box`]).
pub async fn key_matches_database(store: &dyn Store, key: &SecretKey) -> Result<Option<bool>> {
    let stored = store.get_instance_setting(KEY_CHECK_SETTING).await?;
    Ok(stored.map(|stored| crate::token::digests_equal(&stored, &key.check_value())))
}

fn context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// The record as it is stored: its private key sealed (when `seal`).
pub(super) fn sealed_signing_key(
    secrets: &SecretBox,
    seal: bool,
    record: SigningKeyRecord,
) -> Result<SigningKeyRecord> {
    if !seal {
        return Ok(record);
    }
    let sealed = secrets.seal(&record.private_pkcs8, &context(&record.kid))?;
    Ok(SigningKeyRecord {
        private_pkcs8: sealed.into_bytes(),
        ..record
    })
}

/// The stored records with their private keys opened. With `seal`, plaintext rows (written
/// before keys were sealed) are sealed in place.
pub(super) async fn open_signing_keys(
    store: &dyn Store,
    secrets: &SecretBox,
    seal: bool,
    records: Vec<SigningKeyRecord>,
) -> Result<Vec<SigningKeyRecord>> {
    let mut opened = Vec::with_capacity(records.len());
    for mut record in records {
        let sealed = std::str::from_utf8(&record.private_pkcs8)
            .ok()
            .filter(|s| SecretBox::is_sealed(s))
            .map(str::to_string);
        match sealed {
            Some(sealed) => {
                record.private_pkcs8 = secrets.open(&sealed, &context(&record.kid)).map_err(|_| {
                    Error::Internal(anyhow::anyhow!(
                        "the token signing key {} is sealed with another secret key: start with the {KEY_SETTING} \
                         the other instances use",
                        record.kid
                    ))
                })?;
            }
            None if seal => {
                let sealed = secrets.seal(&record.private_pkcs8, &context(&record.kid))?;
                store.update_signing_key_private(&record.kid, sealed.as_bytes()).await?;
            }
            None => {}
        }
        opened.push(record);
    }
    Ok(opened)
}
