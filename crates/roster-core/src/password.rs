//! Password policy and hashing: Argon2id for new hashes, bcrypt accepted and upgraded.
//! Hashing runs on blocking threads, bounded so a login flood cannot exhaust memory.

use crate::error::{Error, Result};
use crate::user::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The most characters a password may have.
pub const MAX_PASSWORD_LENGTH: usize = 128;

/// Checks a new password against the policy.
pub fn validate_password(field: &'static str, password: &str, min_length: usize) -> Result<()> {
    let n = password.chars().count();
    if n < min_length {
        return Err(Error::invalid(
            field,
            format!("must be at least {min_length} characters"),
        ));
    }
    if n > MAX_PASSWORD_LENGTH {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_PASSWORD_LENGTH} characters"),
        ));
    }
    if password.trim().is_empty() {
        return Err(Error::invalid(field, "must not be only whitespace"));
    }
    Ok(())
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password.
    No,
    /// Right password, and the hash is current.
    Yes,
    /// Right password, but the hash should be replaced by this new one.
    YesRehashed(PasswordHash),
}

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    dummy: Arc<tokio::sync::OnceCell<PasswordHash>>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").field("params", &self.params).finish()
    }
}

impl PasswordHasher {
    /// Argon2id with OWASP's parameters (19 MiB, t=2, p=1), at most `concurrency` at once.
    pub fn new(concurrency: usize) -> Self {
        #[allow(clippy::expect_used)] // constant, valid parameters
        let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
        Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    async fn run_blocking<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(|e| Error::Internal(e.into()))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| Error::Internal(e.into()))
    }

    /// Hashes a password with Argon2id.
    pub async fn hash(&self, password: &str) -> Result<PasswordHash> {
        let argon2 = self.argon2();
        let password = password.to_owned();
        self.run_blocking(move || hash_with(&argon2, &password)).await?
    }

    /// Checks `password` against `stored`, and says whether the hash needs upgrading.
    pub async fn verify(&self, password: &str, stored: &PasswordHash) -> Result<Verified> {
        let argon2 = self.argon2();
        let password = password.to_owned();
        let stored = stored.0.clone();
        let params = self.params.clone();
        self.run_blocking(move || verify_with(&argon2, &params, &password, &stored))
            .await?
    }

    /// Spends the same work as a real verification, for accounts that do not exist,
    /// so response times do not reveal which accounts exist.
    pub async fn verify_dummy(&self, password: &str) -> Result<()> {
        let dummy = self
            .dummy
            .get_or_try_init(|| async { self.hash("roster-dummy-password").await })
            .await?
            .clone();
        self.verify(password, &dummy).await.map(|_| ())
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<PasswordHash> {
    let salt = SaltString::generate(&mut OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| Error::Internal(anyhow::anyhow!("argon2: {e}")))
}

fn verify_with(argon2: &Argon2<'_>, params: &Params, password: &str, stored: &str) -> Result<Verified> {
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        // bcrypt only looks at the first 72 bytes; the crate refuses longer input, so truncate as the peers did.
        let bytes = password.as_bytes();
        let truncated = &bytes[..bytes.len().min(72)];
        return match bcrypt::verify(truncated, stored) {
            Ok(true) => Ok(Verified::YesRehashed(hash_with(argon2, password)?)),
            Ok(false) => Ok(Verified::No),
            Err(e) => {
                tracing::warn!(error = %e, "stored bcrypt hash is malformed");
                Ok(Verified::No)
            }
        };
    }
    let parsed = match argon2::PasswordHash::new(stored) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "stored password hash is malformed");
            return Ok(Verified::No);
        }
    };
    if argon2.verify_password(password.as_bytes(), &parsed).is_err() {
        return Ok(Verified::No);
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed)
            .map(|p| p.m_cost() == params.m_cost() && p.t_cost() == params.t_cost() && p.p_cost() == params.p_cost())
            .unwrap_or(false);
    if current {
        Ok(Verified::Yes)
    } else {
        Ok(Verified::YesRehashed(hash_with(argon2, password)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(validate_password("password", "short", 8).is_err());
        assert!(validate_password("password", "        ", 8).is_err());
        assert!(validate_password("password", &"x".repeat(129), 8).is_err());
        assert!(validate_password("password", "long enough", 8).is_ok());
        assert!(validate_password("password", "abcd", 4).is_ok());
    }

    #[tokio::test]
    async fn argon2_round_trip_and_bcrypt_upgrade() {
        let hasher = PasswordHasher::new(2);
        let h = hasher.hash("correct horse").await.unwrap();
        assert!(h.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(hasher.verify("correct horse", &h).await.unwrap(), Verified::Yes);
        assert_eq!(hasher.verify("wrong horse", &h).await.unwrap(), Verified::No);

        let bcrypt_hash = PasswordHash(bcrypt::hash("old secret", 4).unwrap());
        match hasher.verify("old secret", &bcrypt_hash).await.unwrap() {
            Verified::YesRehashed(new) => {
                assert!(new.0.starts_with("$argon2id$"));
                assert_eq!(hasher.verify("old secret", &new).await.unwrap(), Verified::Yes);
            }
            other => panic!("expected a rehash, got {other:?}"),
        }
        assert_eq!(hasher.verify("nope", &bcrypt_hash).await.unwrap(), Verified::No);
        // $2y$ (PHP) and $2a$ prefixes verify too.
        let y = PasswordHash(bcrypt_hash.0.replacen("$2b$", "$2y$", 1));
        assert!(matches!(
            hasher.verify("old secret", &y).await.unwrap(),
            Verified::YesRehashed(_)
        ));
        assert_eq!(
            hasher.verify("x", &PasswordHash("garbage".into())).await.unwrap(),
            Verified::No
        );
    }
}
