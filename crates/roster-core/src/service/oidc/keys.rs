//! Signing keys of ID, access and logout tokens: RS256 (RSA 2048) and EdDSA (Ed25519), kept
//! in the database (sealed) so every instance agrees.
//!
//! Per algorithm the keys form a chain by generation: the highest is the **next** key
//! (published in the JWKS, not yet used), the one below it is the **current** key (signs),
//! older ones are **retired** (published, verify only) until every token they signed has
//! expired. A rotation adds one generation: the next key becomes current, the current one
//! retires, and a new next key is published. A relying party that cached the JWKS therefore
//! already knows the key that signs after a rotation.

use crate::error::{Error, Result};
use crate::store::OidcKeyRecord;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// RS256: what every relying party accepts.
pub const RS256: &str = "RS256";
/// EdDSA (Ed25519), per client choice.
pub const EDDSA: &str = "EdDSA";
/// The algorithms a client may choose.
pub const ALGORITHMS: [&str; 2] = [RS256, EDDSA];
/// The longest lifetime of an ID or access token a client may be given; a retired key stays
/// published this long after it stopped signing.
pub const MAX_TOKEN_TTL: Duration = Duration::days(1);
/// How long an instance keeps its copy of the keys before reading them again (so keys rotated
/// by another instance or by `roster keys rotate` are used everywhere within this time).
pub const KEY_RELOAD: std::time::Duration = std::time::Duration::from_secs(30);
/// The least time between two reads of the keys caused by a token naming an unknown key.
pub const UNKNOWN_KEY_RELOAD: std::time::Duration = std::time::Duration::from_secs(1);

/// A fresh key of `alg`, generation `generation`.
pub fn generate(alg: &str, generation: i64, now: OffsetDateTime) -> Result<OidcKeyRecord> {
    let internal = |e: &dyn std::fmt::Display| Error::Internal(anyhow::anyhow!("oidc key generation: {e}"));
    let (private_key, public_key) = match alg {
        RS256 => {
            use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| internal(&e))?;
            let private = key.to_pkcs1_der().map_err(|e| internal(&e))?.as_bytes().to_vec();
            let public = key
                .to_public_key()
                .to_pkcs1_der()
                .map_err(|e| internal(&e))?
                .as_bytes()
                .to_vec();
            (private, public)
        }
        EDDSA => {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| internal(&e))?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| internal(&e))?;
            (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
        }
        other => return Err(internal(&format!("unknown algorithm {other}"))),
    };
    let mut hash = Sha256::new();
    hash.update(alg.as_bytes());
    hash.update(&public_key);
    let kid = URL_SAFE_NO_PAD.encode(&hash.finalize()[..12]);
    Ok(OidcKeyRecord {
        kid,
        alg: alg.to_string(),
        generation,
        private_key,
        public_key,
        created_at: now,
    })
}

/// What a key is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, will sign after the next rotation.
    Next,
    /// Signs.
    Current,
    /// Verifies only, until `until`.
    Retired { until: OffsetDateTime },
}

/// The state of each key (by kid) and the keys whose retirement is over (to delete).
pub fn classify(records: &[OidcKeyRecord], now: OffsetDateTime) -> (Vec<(String, KeyState)>, Vec<String>) {
    let mut states = Vec::new();
    let mut expired = Vec::new();
    for alg in ALGORITHMS {
        let mut chain: Vec<&OidcKeyRecord> = records.iter().filter(|r| r.alg == alg).collect();
        chain.sort_by_key(|r| std::cmp::Reverse(r.generation));
        for (i, record) in chain.iter().enumerate() {
            let state = match i {
                0 => KeyState::Next,
                1 => KeyState::Current,
                // Retired when the key two generations up was made (its predecessor began
                // to sign then), plus the longest token lifetime.
                _ => KeyState::Retired {
                    until: chain[i - 2].created_at + MAX_TOKEN_TTL + Duration::minutes(5),
                },
            };
            match state {
                KeyState::Retired { until } if until <= now => expired.push(record.kid.clone()),
                _ => states.push((record.kid.clone(), state)),
            }
        }
    }
    (states, expired)
}

struct Signer {
    kid: String,
    key: EncodingKey,
}

/// The keys in force: one signer per algorithm and every published key for verification.
pub struct OidcKeys {
    signers: HashMap<&'static str, Signer>,
    verifiers: HashMap<String, (Algorithm, DecodingKey)>,
    jwks: serde_json::Value,
    /// When this copy was read.
    pub loaded: std::time::Instant,
}

impl std::fmt::Debug for OidcKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcKeys")
            .field("kids", &self.verifiers.keys())
            .finish_non_exhaustive()
    }
}

fn algorithm(alg: &str) -> Option<(&'static str, Algorithm)> {
    match alg {
        RS256 => Some((RS256, Algorithm::RS256)),
        EDDSA => Some((EDDSA, Algorithm::EdDSA)),
        _ => None,
    }
}

impl OidcKeys {
    /// Builds the key set from opened records (private keys in the clear). Every algorithm
    /// needs a current key (two generations).
    pub fn from_records(records: &[OidcKeyRecord], now: OffsetDateTime) -> Result<Self> {
        let (states, _) = classify(records, now);
        let mut signers = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        for (kid, state) in &states {
            let Some(record) = records.iter().find(|r| &r.kid == kid) else {
                continue;
            };
            let Some((alg, jwt_alg)) = algorithm(&record.alg) else {
                continue;
            };
            let bad = |e: &dyn std::fmt::Display| {
                Error::Internal(anyhow::anyhow!(
                    "stored oidc signing key {} is invalid: {e}",
                    record.kid
                ))
            };
            let (decoding, jwk) = match alg {
                RS256 => {
                    use rsa::pkcs1::DecodeRsaPublicKey;
                    use rsa::traits::PublicKeyParts;
                    let public = rsa::RsaPublicKey::from_pkcs1_der(&record.public_key).map_err(|e| bad(&e))?;
                    let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
                    let e = URL_SAFE_NO_PAD.encode(public.e().to_bytes_be());
                    let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(|e| bad(&e))?;
                    let jwk = serde_json::json!({
                        "kty": "RSA", "use": "sig", "alg": RS256, "kid": record.kid, "n": n, "e": e,
                    });
                    (decoding, jwk)
                }
                _ => {
                    let x = URL_SAFE_NO_PAD.encode(&record.public_key);
                    let jwk = serde_json::json!({
                        "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": EDDSA, "kid": record.kid, "x": x,
                    });
                    (DecodingKey::from_ed_der(&record.public_key), jwk)
                }
            };
            if *state == KeyState::Current {
                let key = match alg {
                    RS256 => EncodingKey::from_rsa_der(&record.private_key),
                    _ => {
                        Ed25519KeyPair::from_pkcs8(&record.private_key).map_err(|e| bad(&e))?;
                        EncodingKey::from_ed_der(&record.private_key)
                    }
                };
                signers.insert(
                    alg,
                    Signer {
                        kid: record.kid.clone(),
                        key,
                    },
                );
            }
            verifiers.insert(record.kid.clone(), (jwt_alg, decoding));
            jwks.push(jwk);
        }
        Ok(Self {
            signers,
            verifiers,
            jwks: serde_json::json!({ "keys": jwks }),
            loaded: std::time::Instant::now(),
        })
    }

    /// Whether every algorithm has a current key.
    pub fn complete(&self) -> bool {
        ALGORITHMS.iter().all(|a| self.signers.contains_key(a))
    }

    /// The JWK set (RFC 7517) of every published key.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// Signs `claims` with the current key of `alg` (`typ` in the header when given).
    pub fn sign<T: Serialize>(&self, alg: &str, typ: Option<&str>, claims: &T) -> Result<String> {
        let (name, jwt_alg) =
            algorithm(alg).ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown signing algorithm {alg}")))?;
        let signer = self
            .signers
            .get(name)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no current {alg} signing key")))?;
        let mut header = Header::new(jwt_alg);
        header.kid = Some(signer.kid.clone());
        header.typ = typ.map(str::to_string);
        jsonwebtoken::encode(&header, claims, &signer.key).map_err(|e| Error::Internal(e.into()))
    }

    /// Whether a token is worth reading the keys again for: its header is a well-formed JWS
    /// header of an algorithm Roster signs with, naming a key this copy does not hold, and
    /// this copy is older than [`UNKNOWN_KEY_RELOAD`]. Garbage or a forged header never
    /// costs a database read more than once per interval.
    pub fn should_reload_for(&self, token: &str) -> bool {
        if self.loaded.elapsed() < UNKNOWN_KEY_RELOAD {
            return false;
        }
        jsonwebtoken::decode_header(token).ok().is_some_and(|h| {
            self.verifiers.values().any(|(alg, _)| *alg == h.alg)
                && h.kid.is_some_and(|kid| !self.verifiers.contains_key(&kid))
        })
    }

    /// Verifies the signature and the issuer of a token signed by one of these keys; expiry
    /// is checked against `now` (not the system clock). `aud` is not checked here.
    pub fn verify<T: DeserializeOwned>(&self, token: &str, issuer: &str, now: OffsetDateTime) -> Result<T> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Error::InvalidToken)?;
        let kid = header.kid.ok_or(Error::InvalidToken)?;
        let (alg, key) = self.verifiers.get(&kid).ok_or(Error::InvalidToken)?;
        if header.alg != *alg {
            return Err(Error::InvalidToken);
        }
        let mut validation = Validation::new(*alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data =
            jsonwebtoken::decode::<serde_json::Value>(token, key, &validation).map_err(|_| Error::InvalidToken)?;
        let exp = data
            .claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .ok_or(Error::InvalidToken)?;
        if exp <= now.unix_timestamp() {
            return Err(Error::InvalidToken);
        }
        serde_json::from_value(data.claims).map_err(|_| Error::InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_states_and_signing() {
        let t0 = OffsetDateTime::now_utc();
        let records: Vec<_> = (1..=3)
            .map(|g| generate(RS256, g, t0 + Duration::hours(g)).unwrap())
            .chain((1..=2).map(|g| generate(EDDSA, g, t0).unwrap()))
            .collect();
        let now = t0 + Duration::hours(4);
        let (states, expired) = classify(&records, now);
        assert!(expired.is_empty());
        let state = |kid: &str| states.iter().find(|(k, _)| k == kid).unwrap().1;
        assert_eq!(state(&records[2].kid), KeyState::Next);
        assert_eq!(state(&records[1].kid), KeyState::Current);
        assert!(matches!(state(&records[0].kid), KeyState::Retired { .. }));
        // Retired one key lifetime after the key two generations up was made.
        let (_, expired) = classify(&records, t0 + Duration::hours(3) + MAX_TOKEN_TTL + Duration::minutes(6));
        assert_eq!(expired, vec![records[0].kid.clone()]);

        let keys = OidcKeys::from_records(&records, now).unwrap();
        assert!(keys.complete());
        assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 5);
        let claims = serde_json::json!({"iss": "https://id.example", "sub": "1", "exp": now.unix_timestamp() + 60});
        for alg in ALGORITHMS {
            let token = keys.sign(alg, Some("JWT"), &claims).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            // The current key signs, never the next one.
            let current = if alg == RS256 { &records[1].kid } else { &records[3].kid };
            assert_eq!(header.kid.as_deref(), Some(current.as_str()));
            let back: serde_json::Value = keys.verify(&token, "https://id.example", now).unwrap();
            assert_eq!(back["sub"], "1");
            assert!(
                keys.verify::<serde_json::Value>(&token, "https://other.example", now)
                    .is_err()
            );
            assert!(
                keys.verify::<serde_json::Value>(&token, "https://id.example", now + Duration::seconds(61))
                    .is_err()
            );
        }
        // A key set without the signing key rejects its tokens.
        let token = keys.sign(RS256, None, &claims).unwrap();
        let other = OidcKeys::from_records(&records[3..], now).unwrap();
        assert!(
            other
                .verify::<serde_json::Value>(&token, "https://id.example", now)
                .is_err()
        );
    }

    #[test]
    fn only_a_well_formed_unknown_key_asks_for_a_reload() {
        let t0 = OffsetDateTime::now_utc();
        let records: Vec<_> = (1..=2)
            .map(|g| generate(RS256, g, t0).unwrap())
            .chain((1..=2).map(|g| generate(EDDSA, g, t0).unwrap()))
            .collect();
        let mut keys = OidcKeys::from_records(&records, t0).unwrap();
        let claims = serde_json::json!({"iss": "https://id.example", "sub": "1", "exp": t0.unix_timestamp() + 60});
        let known = keys.sign(RS256, None, &claims).unwrap();
        let strangers = [generate(RS256, 7, t0).unwrap(), generate(RS256, 8, t0).unwrap()];
        let stranger = OidcKeys::from_records(&strangers, t0)
            .unwrap()
            .sign(RS256, None, &claims)
            .unwrap();
        // A fresh copy never reloads, whatever the token.
        keys.loaded = std::time::Instant::now();
        assert!(!keys.should_reload_for(&stranger));
        keys.loaded = std::time::Instant::now() - UNKNOWN_KEY_RELOAD;
        assert!(keys.should_reload_for(&stranger));
        assert!(!keys.should_reload_for(&known));
        for garbage in ["", "abc", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "not a token at all"] {
            assert!(!keys.should_reload_for(garbage), "{garbage:?}");
        }
    }
}
