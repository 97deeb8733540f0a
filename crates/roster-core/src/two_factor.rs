//! TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps), backup codes, and the records the
//! stores keep for two-factor authentication. HMAC-SHA-1 is ring's
//! `HMAC_SHA1_FOR_LEGACY_USE_ONLY` (no extra crate); the rules live in `service/two_factor.rs`.

use crate::id::UserId;
use rand::Rng;
use ring::hmac;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Seconds per TOTP step.
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Steps accepted either side of the current one.
pub const WINDOW: i64 = 1;
/// Bytes of a TOTP secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;
/// Backup codes per user.
pub const BACKUP_CODES: usize = 10;
/// Characters of a backup code (without its dashes): 12 of 32 symbols, 60 bits.
const BACKUP_CODE_CHARS: usize = 12;
/// The backup-code alphabet: lower-case letters and digits without 0, 1, l and o.
const BACKUP_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The TOTP time step containing `at`.
pub fn step_at(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(STEP_SECONDS)
}

/// The code of `step` for `secret`.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &(step as u64).to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    format!("{:0width$}", binary % 10u32.pow(DIGITS as u32), width = DIGITS)
}

/// Whether `code` has the form of a TOTP code (six digits, spaces ignored).
pub fn normalize_code(code: &str) -> Option<String> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// The step within ±[`WINDOW`] of `now` whose code is `code`, if any (each candidate compared
/// in constant time).
pub fn matching_step(secret: &[u8], code: &str, now: OffsetDateTime) -> Option<i64> {
    use subtle::ConstantTimeEq;
    let code = normalize_code(code)?;
    let current = step_at(now);
    let mut found = None;
    for step in current - WINDOW..=current + WINDOW {
        if bool::from(code_at(secret, step).as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A fresh TOTP secret.
pub fn generate_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill(secret.as_mut_slice());
    secret
}

/// RFC 4648 base32 without padding (what authenticator apps take).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32_ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Percent-encodes a URI component (RFC 3986 unreserved characters are kept).
fn uri_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `otpauth://totp/...` URI of Google Authenticator's key-URI format.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        uri_component(issuer),
        uri_component(account),
        base32(secret),
        uri_component(issuer)
    )
}

/// Ten fresh backup codes, shown as `xxxx-xxxx-xxxx`.
pub fn generate_backup_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..BACKUP_CODES)
        .map(|_| {
            let raw: String = (0..BACKUP_CODE_CHARS)
                .map(|_| BACKUP_ALPHABET[rng.gen_range(0..BACKUP_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12])
        })
        .collect()
}

/// What is stored of a backup code: SHA-256 of the owner and the code (case, spaces and
/// dashes ignored), as hex. Codes carry 60 random bits, so a fast hash suffices.
pub fn backup_code_digest(user: UserId, code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    hex::encode(Sha256::digest(format!("{}:{normalized}", user.0).as_bytes()))
}

/// The scheme prefix of a backup code imported from a product that stored the unsalted
/// SHA-256 of the code (LibreChat): `sha256:` and the digest in lower-case hex. Such a digest
/// cannot be turned into Roster's (which includes the user id), so it is kept as it is.
pub const IMPORTED_SHA256_PREFIX: &str = "sha256:";

/// The stored form of an imported backup code whose source kept `SHA-256(code)` as hex; None
/// when `sha256_hex` is not such a digest.
pub fn imported_backup_code_digest(sha256_hex: &str) -> Option<String> {
    let hex = sha256_hex.trim();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("{IMPORTED_SHA256_PREFIX}{}", hex.to_ascii_lowercase()))
}

/// Whether `code` is the backup code stored as `stored` for `user`: Roster's own digest
/// ([`backup_code_digest`]), or an imported `sha256:` digest of the code as LibreChat
/// normalises it (surrounding white space trimmed, nothing else). Compared in constant time.
pub fn backup_code_matches(user: UserId, stored: &str, code: &str) -> bool {
    let candidate = if stored.starts_with(IMPORTED_SHA256_PREFIX) {
        format!(
            "{IMPORTED_SHA256_PREFIX}{}",
            hex::encode(Sha256::digest(code.trim().as_bytes()))
        )
    } else {
        backup_code_digest(user, code)
    };
    crate::token::digests_equal(stored, &candidate)
}

/// Decodes RFC 4648 base32 (upper or lower case; `=` padding, spaces and dashes ignored, as
/// authenticator apps and LibreChat write secrets). An error names the first bad character.
pub fn decode_base32(text: &str) -> Result<Vec<u8>, String> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::with_capacity(text.len() * 5 / 8));
    for c in text.trim().trim_end_matches('=').chars() {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        let upper = c.to_ascii_uppercase();
        let Some(value) = BASE32_ALPHABET.iter().position(|&a| char::from(a) == upper) else {
            return Err(format!("{c:?} is not a base32 character"));
        };
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// A user's TOTP enrolment as stored.
#[derive(Clone, PartialEq)]
pub struct TwoFactorRecord {
    pub user_id: UserId,
    /// The secret, sealed (see [`crate::secret::SecretBox`]).
    pub sealed_secret: String,
    /// None until a first code confirms the enrolment.
    pub enabled_at: Option<OffsetDateTime>,
    /// The last step whose code was accepted: codes of it and earlier steps are refused.
    pub last_used_step: Option<i64>,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for TwoFactorRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactorRecord")
            .field("user_id", &self.user_id)
            .field("enabled_at", &self.enabled_at)
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

/// A backup code as stored (only its digest).
#[derive(Debug, Clone, PartialEq)]
pub struct BackupCodeRecord {
    pub digest: String,
    pub used_at: Option<OffsetDateTime>,
}

/// A pending second login step as stored (the challenge token itself only as a digest).
#[derive(Debug, Clone, PartialEq)]
pub struct TwoFactorChallengeRecord {
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Codes tried so far.
    pub attempts: i32,
}

/// A login that needs its second step: the challenge to present with a code.
#[derive(Clone, PartialEq)]
pub struct TwoFactorChallenge {
    /// The single-use challenge token.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    pub user_id: UserId,
}

impl std::fmt::Debug for TwoFactorChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactorChallenge")
            .field("user_id", &self.user_id)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_vectors() {
        // RFC 6238 appendix B (SHA-1), the last six digits of each eight-digit value.
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(RFC_SECRET, t / STEP_SECONDS), code, "T = {t}");
        }
    }

    #[test]
    fn window_is_one_step_each_side() {
        let now = OffsetDateTime::from_unix_timestamp(1_111_111_109).unwrap();
        let step = step_at(now);
        for delta in -1..=1 {
            let code = code_at(RFC_SECRET, step + delta);
            assert_eq!(matching_step(RFC_SECRET, &code, now), Some(step + delta));
        }
        for delta in [-2, 2] {
            let code = code_at(RFC_SECRET, step + delta);
            assert_eq!(matching_step(RFC_SECRET, &code, now), None);
        }
        assert_eq!(matching_step(RFC_SECRET, "12345", now), None);
        assert_eq!(matching_step(RFC_SECRET, "abcdef", now), None);
        let spaced = code_at(RFC_SECRET, step);
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert_eq!(matching_step(RFC_SECRET, &spaced, now), Some(step));
    }

    #[test]
    fn base32_and_uri() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            otpauth_uri("Roster", "alice@example.com", RFC_SECRET),
            "otpauth://totp/Roster:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Roster\
             &algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn backup_codes() {
        let codes = generate_backup_codes();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 14 && c.matches('-').count() == 2));
        let user = UserId(7);
        let digest = backup_code_digest(user, &codes[0]);
        assert_eq!(
            backup_code_digest(user, &codes[0].to_uppercase().replace('-', " ")),
            digest
        );
        assert_ne!(backup_code_digest(UserId(8), &codes[0]), digest);
        assert!(backup_code_matches(user, &digest, &codes[0].to_uppercase()));
        assert!(!backup_code_matches(user, &digest, &codes[1]));
        assert!(!backup_code_matches(UserId(8), &digest, &codes[0]));
    }

    #[test]
    fn imported_sha256_backup_codes() {
        // LibreChat: hashBackupCode(code.trim()), SHA-256 of the 8-hex-character code.
        let librechat = hex::encode(Sha256::digest(b"0a1b2c3d"));
        let stored = imported_backup_code_digest(&librechat.to_uppercase()).unwrap();
        assert_eq!(stored, format!("sha256:{librechat}"));
        // Any user: the digest has no user id in it.
        assert!(backup_code_matches(UserId(7), &stored, "0a1b2c3d"));
        assert!(backup_code_matches(UserId(7), &stored, " 0a1b2c3d\n"));
        // Only trimmed, as LibreChat does: no case folding, no dashes dropped.
        assert!(!backup_code_matches(UserId(7), &stored, "0A1B2C3D"));
        assert!(!backup_code_matches(UserId(7), &stored, "0a1b-2c3d"));
        assert!(!backup_code_matches(UserId(7), &stored, "0a1b2c3e"));
        // Roster's own digest of the same code is another thing.
        assert!(!backup_code_matches(
            UserId(7),
            &backup_code_digest(UserId(7), "0a1b2c3d"),
            "0a1b2c3e"
        ));
        assert!(imported_backup_code_digest("not hex").is_none());
        assert!(imported_backup_code_digest(&"a".repeat(63)).is_none());
    }

    #[test]
    fn base32_decoding() {
        for bytes in [&b""[..], b"f", b"foobar", RFC_SECRET, &[0xff; 10]] {
            assert_eq!(decode_base32(&base32(bytes)).unwrap(), bytes);
        }
        assert_eq!(decode_base32("mzxw6ytboi======").unwrap(), b"foobar");
        assert_eq!(decode_base32("MZXW 6YTB-OI").unwrap(), b"foobar");
        assert!(decode_base32("MZXW1").unwrap_err().contains("'1'"));
    }
}
