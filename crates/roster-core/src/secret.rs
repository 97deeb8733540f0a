//! Secrets at rest: values the stores must be able to give back (TOTP secrets, Langflow store
//! keys, token signing keys) are sealed with AES-256-GCM under a key from configuration
//! (`ROSTER_SECRET_KEY`, or a key file generated into the data directory).
//!
//! A sealed value is text: `rsb1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The version
//! prefix and the key id let a later Roster add keys and rotate them; every value has its own
//! random 96-bit nonce; the associated data binds a value to its purpose and owner (a sealed
//! TOTP secret of one user cannot be moved to another row and opened there).
//!
//! The database holds only a *check value* of the key (an HMAC of a fixed label), so that an
//! instance started with a different key refuses to start instead of failing to decrypt.

use crate::error::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use std::collections::HashMap;
use std::path::Path;

/// The prefix of every sealed value (format version 1).
pub const SEALED_PREFIX: &str = "rsb1.";
/// The name of the generated key file in the data directory.
pub const KEY_FILE: &str = "secret.key";
/// The environment variable (and setting) that holds the key.
pub const KEY_SETTING: &str = "ROSTER_SECRET_KEY";

const CHECK_LABEL: &[u8] = b"roster secret key check v1";
const KEY_ID_LABEL: &[u8] = b"roster secret key id v1";

/// A 256-bit key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.key_id())
    }
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses base64 (standard or URL-safe, padded or not) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> std::result::Result<Self, String> {
        let text = text.trim();
        let bytes = [&STANDARD, &URL_SAFE]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .or_else(|| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(text)
                    .ok()
                    .or_else(|| URL_SAFE_NO_PAD.decode(text).ok())
            })
            .ok_or_else(|| "is not valid base64".to_string())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("must be 32 bytes of base64, not {}", b.len()))?;
        Ok(Self(bytes))
    }

    /// The key as standard base64 (what `ROSTER_SECRET_KEY` takes).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Reads the key file at `path`, or creates it (mode 0600) with a fresh key when absent.
    /// When several processes start at once, one creates the file and the others read it.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        use std::io::Write as _;
        for _ in 0..50 {
            if path.exists() {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the secret key file {}", path.display()))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    let mode = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0);
                    if mode & 0o077 != 0 {
                        tracing::warn!(
                            file = %path.display(),
                            mode = format!("{:o}", mode & 0o777),
                            "the secret key file is readable by others; chmod 600 it"
                        );
                    }
                }
                if text.trim().is_empty() {
                    // Another process is writing it right now.
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
                return Self::from_base64(&text)
                    .map_err(|e| anyhow::anyhow!("the secret key file {} {e}", path.display()));
            }
            let key = Self::generate();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(format!("{}\n", key.to_base64()).as_bytes())
                        .and_then(|()| file.sync_all())
                        .with_context(|| format!("cannot write the secret key file {}", path.display()))?;
                    return Ok(key);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create the secret key file {}", path.display()));
                }
            }
        }
        anyhow::bail!("the secret key file {} stays empty", path.display())
    }

    fn hmac(&self, label: &[u8]) -> hmac::Tag {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.0), label)
    }

    /// The check value kept in the database: an HMAC of a fixed label, as hex. It shows
    /// whether two keys are the same and nothing about the key.
    pub fn check_value(&self) -> String {
        hex::encode(self.hmac(CHECK_LABEL).as_ref())
    }

    /// A short public name of the key, written into every sealed value.
    pub fn key_id(&self) -> String {
        hex::encode(&self.hmac(KEY_ID_LABEL).as_ref()[..4])
    }
}

/// Seals and opens secrets with the configured key (and, after a rotation, older ones).
pub struct SecretBox {
    current: String,
    keys: HashMap<String, LessSafeKey>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox").field("current", &self.current).finish()
    }
}

fn sealing_error(what: &str) -> Error {
    Error::Internal(anyhow::anyhow!("{what}"))
}

impl SecretBox {
    /// A box that seals with `key`.
    pub fn new(key: &SecretKey) -> Result<Self> {
        let mut keys = HashMap::new();
        let id = key.key_id();
        let unbound = UnboundKey::new(&AES_256_GCM, &key.0).map_err(|_| sealing_error("bad AES-256 key"))?;
        keys.insert(id.clone(), LessSafeKey::new(unbound));
        Ok(Self { current: id, keys })
    }

    /// Whether a stored value is sealed (rather than a plaintext written before sealing).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(SEALED_PREFIX)
    }

    /// Seals `plaintext`; `context` (purpose and owner, e.g. `totp:123`) must be given again
    /// to open it.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String> {
        let key = self
            .keys
            .get(&self.current)
            .ok_or_else(|| sealing_error("no current key"))?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut buffer = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut buffer,
        )
        .map_err(|_| sealing_error("sealing failed"))?;
        let mut payload = nonce.to_vec();
        payload.extend_from_slice(&buffer);
        Ok(format!(
            "{SEALED_PREFIX}{}.{}",
            self.current,
            URL_SAFE_NO_PAD.encode(payload)
        ))
    }

    /// Seals a string.
    pub fn seal_str(&self, plaintext: &str, context: &str) -> Result<String> {
        self.seal(plaintext.as_bytes(), context)
    }

    /// Opens a sealed value. Fails (an internal error: the data or the key is wrong, not the
    /// request) when the key is unknown, the value was altered or `context` differs.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>> {
        let rest = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or_else(|| sealing_error("stored secret is not sealed"))?;
        let (kid, payload) = rest
            .split_once('.')
            .ok_or_else(|| sealing_error("sealed secret is malformed"))?;
        let key = self
            .keys
            .get(kid)
            .ok_or_else(|| sealing_error("a stored secret was sealed with another key (check ROSTER_SECRET_KEY)"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| sealing_error("sealed secret is malformed"))?;
        if payload.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(sealing_error("sealed secret is too short"));
        }
        let (nonce, ciphertext) = payload.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| sealing_error("bad nonce"))?;
        let mut buffer = ciphertext.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| sealing_error("a stored secret does not open (altered, or sealed for another owner)"))?;
        Ok(plain.to_vec())
    }

    /// Opens a sealed string.
    pub fn open_str(&self, sealed: &str, context: &str) -> Result<String> {
        String::from_utf8(self.open(sealed, context)?).map_err(|_| sealing_error("sealed secret is not text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let key = SecretKey::generate();
        let sealed_box = SecretBox::new(&key).unwrap();
        let a = sealed_box.seal_str("JBSWY3DPEHPK3PXP", "totp:1").unwrap();
        let b = sealed_box.seal_str("JBSWY3DPEHPK3PXP", "totp:1").unwrap();
        assert!(a.starts_with(&format!("rsb1.{}.", key.key_id())), "{a}");
        assert_ne!(a, b, "every value has its own nonce");
        assert!(!a.contains("JBSWY3DP"));
        assert_eq!(sealed_box.open_str(&a, "totp:1").unwrap(), "JBSWY3DPEHPK3PXP");
        // Another owner, another key, or a changed byte: refused.
        assert!(sealed_box.open_str(&a, "totp:2").is_err());
        assert!(
            SecretBox::new(&SecretKey::generate())
                .unwrap()
                .open_str(&a, "totp:1")
                .is_err()
        );
        let mut altered = a.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            sealed_box
                .open_str(&String::from_utf8(altered).unwrap(), "totp:1")
                .is_err()
        );
        assert!(sealed_box.open_str("plain", "totp:1").is_err());
        assert!(SecretBox::is_sealed(&a) && !SecretBox::is_sealed("plain"));
    }

    #[test]
    fn keys_parse_and_check() {
        let key = SecretKey::generate();
        assert_eq!(SecretKey::from_base64(&key.to_base64()).unwrap(), key);
        assert_eq!(SecretKey::from_base64(&URL_SAFE_NO_PAD.encode(key.0)).unwrap(), key);
        assert!(SecretKey::from_base64("c2hvcnQ=").unwrap_err().contains("32 bytes"));
        assert!(SecretKey::from_base64("not base64 !").is_err());
        assert_eq!(key.check_value(), key.clone().check_value());
        assert_ne!(key.check_value(), SecretKey::generate().check_value());
        assert!(!format!("{key:?}").contains(&key.to_base64()));
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("roster-secret-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(KEY_FILE);
        let first = SecretKey::load_or_create(&path).unwrap();
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        assert!(
            SecretKey::load_or_create(&path)
                .unwrap_err()
                .to_string()
                .contains("secret.key")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
