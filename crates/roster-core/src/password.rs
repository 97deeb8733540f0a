//! Password policy and hashing: Argon2id for new hashes, bcrypt accepted and upgraded.
//! Hashing runs on a few dedicated threads, so a login flood cannot exhaust memory or the runtime.

use crate::error::{Error, Result};
use crate::user::PasswordHash;
use argon2::password_hash::{Output, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Arc, Mutex, mpsc};
use subtle::ConstantTimeEq;

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

/// Memory cost of stored hashes we are willing to recompute (a guard against absurd imports).
const MAX_MEMORY_KIB: u32 = 256 * 1024;

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Hashes and verifies passwords on a few dedicated threads of lowered priority, each
/// reusing one Argon2 memory block: a login flood then neither allocates nor starves the
/// cheap requests served beside it.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    jobs: mpsc::Sender<Job>,
    dummy: Arc<tokio::sync::OnceCell<PasswordHash>>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").field("params", &self.params).finish()
    }
}

/// Makes the calling thread yield the processor to the request-serving threads.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread (who = 0) with a valid nice value.
    unsafe {
        let _ = libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

impl PasswordHasher {
    /// Argon2id with OWASP's parameters (19 MiB, t=2, p=1), on `threads` threads.
    pub fn new(threads: usize) -> Self {
        #[allow(clippy::expect_used)] // constant, valid parameters
        let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..threads.max(1) {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("roster-hasher-{i}"))
                .spawn(move || {
                    lower_priority();
                    let mut memory = Vec::new();
                    loop {
                        let job = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match job {
                            Ok(job) => job(&mut memory),
                            // Every sender is gone: the hasher was dropped.
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self {
            params,
            jobs,
            dummy: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queue = metrics::gauge!(crate::telemetry::HASHER_QUEUE);
        let wait = metrics::histogram!(crate::telemetry::HASHER_WAIT);
        let queued_at = std::time::Instant::now();
        let dequeued = queue.clone();
        let job: Job = Box::new(move |memory| {
            dequeued.decrement(1.0);
            wait.record(queued_at.elapsed().as_secs_f64());
            let _ = tx.send(job(memory));
        });
        queue.increment(1.0);
        self.jobs.send(job).map_err(|_| {
            queue.decrement(1.0);
            Error::Internal(anyhow::anyhow!("the password hasher has stopped"))
        })?;
        rx.await
            .map_err(|_| Error::Internal(anyhow::anyhow!("a password hashing job was lost")))
    }

    /// Hashes a password with Argon2id.
    pub async fn hash(&self, password: &str) -> Result<PasswordHash> {
        let password = password.to_owned();
        let params = self.params.clone();
        self.run(move |memory| hash_with(&params, memory, &password)).await?
    }

    /// Checks `password` against `stored`, and says whether the hash needs upgrading.
    pub async fn verify(&self, password: &str, stored: &PasswordHash) -> Result<Verified> {
        let password = password.to_owned();
        let stored = stored.0.clone();
        let params = self.params.clone();
        self.run(move |memory| verify_with(&params, memory, &password, &stored))
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

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(anyhow::anyhow!("{what}: {e}"))
}

/// Runs Argon2 into `out`, growing the reused `memory` when needed.
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    memory: &mut Vec<Block>,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
        .map_err(|e| internal("argon2", e))
}

fn hash_with(params: &Params, memory: &mut Vec<Block>, password: &str) -> Result<PasswordHash> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| internal("salt", e))?;
    let mut out = [0u8; 32];
    compute(
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        memory,
        password,
        salt_bytes,
        &mut out,
    )?;
    let output = Output::new(&out).map_err(|e| internal("argon2 output", e))?;
    Ok(PasswordHash(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str(),
        output
    )))
}

fn verify_with(params: &Params, memory: &mut Vec<Block>, password: &str, stored: &str) -> Result<Verified> {
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        // bcrypt only looks at the first 72 bytes; the crate refuses longer input, so truncate as the peers did.
        let bytes = password.as_bytes();
        let truncated = &bytes[..bytes.len().min(72)];
        return match bcrypt::verify(truncated, stored) {
            Ok(true) => Ok(Verified::YesRehashed(hash_with(params, memory, password)?)),
            Ok(false) => Ok(Verified::No),
            Err(e) => {
                tracing::warn!(error = %e, "stored bcrypt hash is malformed");
                Ok(Verified::No)
            }
        };
    }
    let malformed = |why: &dyn std::fmt::Display| {
        tracing::warn!(error = %why, "stored password hash is malformed");
        Ok(Verified::No)
    };
    let parsed = match argon2::PasswordHash::new(stored) {
        Ok(p) => p,
        Err(e) => return malformed(&e),
    };
    let (algorithm, stored_params) = match (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) {
        (Ok(a), Ok(p)) => (a, p),
        (Err(e), _) | (_, Err(e)) => return malformed(&e),
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or(Version::V0x13),
        Err(e) => return malformed(&e),
    };
    if stored_params.m_cost() > MAX_MEMORY_KIB {
        return malformed(&"memory cost too high");
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return malformed(&"no salt or hash");
    };
    let mut salt_buf = [0u8; 64];
    let salt_bytes = match salt.decode_b64(&mut salt_buf) {
        Ok(b) => b,
        Err(e) => return malformed(&e),
    };
    let mut out = vec![0u8; expected.len()];
    let stored_params = match Params::new(
        stored_params.m_cost(),
        stored_params.t_cost(),
        stored_params.p_cost(),
        Some(expected.len()),
    ) {
        Ok(p) => p,
        Err(e) => return malformed(&e),
    };
    if let Err(e) = compute(
        algorithm,
        version,
        &stored_params,
        memory,
        password,
        salt_bytes,
        &mut out,
    ) {
        return malformed(&e);
    }
    if !bool::from(out.as_slice().ct_eq(expected.as_bytes())) {
        return Ok(Verified::No);
    }
    let current = algorithm == Algorithm::Argon2id
        && version == Version::V0x13
        && stored_params.m_cost() == params.m_cost()
        && stored_params.t_cost() == params.t_cost()
        && stored_params.p_cost() == params.p_cost();
    if current {
        Ok(Verified::Yes)
    } else {
        Ok(Verified::YesRehashed(hash_with(params, memory, password)?))
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
