//! Opaque secrets (refresh tokens, API keys) and signed access tokens (EdDSA JWTs).

use crate::error::{Error, Result};
use crate::id::{SessionId, UserId};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use time::OffsetDateTime;

/// 256 random bits, base64url without padding.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// 256 random bits as 64 hex digits (the form LibreChat's links carry).
pub fn random_secret_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The SHA-256 digest of a secret, as hex: what the stores keep.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two digests in constant time.
pub fn digests_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// An Ed25519 signing key as persisted: PKCS#8 private key and raw public key.
#[derive(Clone)]
pub struct SigningKeyRecord {
    /// Key id (`kid`).
    pub kid: String,
    /// Increases with each rotation; the highest signs.
    pub generation: i64,
    pub private_pkcs8: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("generation", &self.generation)
            .finish()
    }
}

impl SigningKeyRecord {
    /// A fresh key of the given generation.
    pub fn generate(generation: i64, now: OffsetDateTime) -> Result<Self> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 =
            Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| Error::Internal(anyhow::anyhow!("keygen: {e}")))?;
        let pair =
            Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| Error::Internal(anyhow::anyhow!("key: {e}")))?;
        let public_key = pair.public_key().as_ref().to_vec();
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(&public_key)[..12]);
        Ok(Self {
            kid,
            generation,
            private_pkcs8: pkcs8.as_ref().to_vec(),
            public_key,
            created_at: now,
        })
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user id, decimal.
    pub sub: String,
    /// The session id, decimal.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

impl AccessClaims {
    /// The user and session the token names.
    pub fn ids(&self) -> Result<(UserId, SessionId)> {
        let user = self.sub.parse().map_err(|_| Error::InvalidToken)?;
        let session = self.sid.parse().map_err(|_| Error::InvalidToken)?;
        Ok((user, session))
    }
}

/// The issuer written into every access token.
pub const ISSUER: &str = "roster";

/// Signs with the newest key; verifies with any known key.
pub struct TokenKeys {
    signing_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    public: Vec<(String, Vec<u8>)>,
}

impl TokenKeys {
    /// Builds the key set from stored records (at least one).
    pub fn from_records(records: &[SigningKeyRecord]) -> Result<Self> {
        let newest = records
            .iter()
            .max_by_key(|r| r.generation)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no signing keys")))?;
        Ed25519KeyPair::from_pkcs8(&newest.private_pkcs8)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored signing key is invalid: {e}")))?;
        Ok(Self {
            signing_kid: newest.kid.clone(),
            encoding: EncodingKey::from_ed_der(&newest.private_pkcs8),
            decoding: records
                .iter()
                .map(|r| (r.kid.clone(), DecodingKey::from_ed_der(&r.public_key)))
                .collect(),
            public: records.iter().map(|r| (r.kid.clone(), r.public_key.clone())).collect(),
        })
    }

    /// Signs an access token.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing_kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| Error::Internal(e.into()))
    }

    /// The key id a token names, if it parses as a JWT at all.
    pub fn kid_of(token: &str) -> Option<String> {
        jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid)
    }

    /// Whether a key with this id is known.
    pub fn knows(&self, kid: &str) -> bool {
        self.decoding.contains_key(kid)
    }

    /// Verifies signature, issuer and expiry (against `now`, not the system clock).
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims> {
        let kid = Self::kid_of(token).ok_or(Error::InvalidToken)?;
        let key = self.decoding.get(&kid).ok_or(Error::InvalidToken)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &validation).map_err(|_| Error::InvalidToken)?;
        if data.claims.exp <= now.unix_timestamp() {
            return Err(Error::InvalidToken);
        }
        Ok(data.claims)
    }

    /// The public keys as a JWK set (RFC 7517, OKP/Ed25519).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .public
            .iter()
            .map(|(kid, public)| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                    "kid": kid, "x": URL_SAFE_NO_PAD.encode(public),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: ISSUER.into(),
            sub: "1".into(),
            sid: "2".into(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn sign_verify_and_expire() {
        let now = OffsetDateTime::now_utc();
        let old = SigningKeyRecord::generate(1, now).unwrap();
        let new = SigningKeyRecord::generate(2, now).unwrap();
        let keys_old = TokenKeys::from_records(std::slice::from_ref(&old)).unwrap();
        let keys = TokenKeys::from_records(&[old.clone(), new]).unwrap();
        let t = keys_old.sign(&claims(now.unix_timestamp() + 60)).unwrap();
        // A token signed by the older key still verifies after rotation.
        assert_eq!(keys.verify(&t, now).unwrap().sub, "1");
        assert!(keys.verify(&t, now + time::Duration::seconds(61)).is_err());
        let t2 = keys.sign(&claims(now.unix_timestamp() + 60)).unwrap();
        // The old key set does not know the new key.
        assert!(keys_old.verify(&t2, now).is_err());
        let mut tampered = t2.clone();
        tampered.pop();
        assert!(keys.verify(&tampered, now).is_err());
        assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn digests() {
        assert!(digests_equal(&digest("a"), &digest("a")));
        assert!(!digests_equal(&digest("a"), &digest("b")));
        assert_eq!(random_secret().len(), 43);
    }
}
