//! An issuer's JWKS, read once per fetch into the keys a token may name by
//! `kid`. Only signing keys the contract accepts are kept: RSA for RS256,
//! RS384 and RS512, and P-256 / P-384 for ES256 / ES384. Symmetric keys
//! (`oct`), other curves and keys marked for encryption are left out, and a
//! key the set cannot describe is skipped rather than failing the whole set.

use std::collections::HashMap;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// What a token's header may name, and nothing else: no `none`, no HMAC, no PS*.
pub(crate) const ACCEPTED: [Algorithm; 5] =
    [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::ES256, Algorithm::ES384];

/// The keys of one JWKS document, by `kid`.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: HashMap<String, SigningKey>,
}

pub(crate) struct SigningKey {
    key: DecodingKey,
    /// The algorithms this key may verify: its JWK `alg` when it names one,
    /// else every accepted algorithm of its type (and curve).
    algorithms: Vec<Algorithm>,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// The usable keys of `document`; `Err` when it is not a JWKS at all.
    pub(crate) fn parse(document: &[u8]) -> Result<KeySet, &'static str> {
        let document: Document =
            serde_json::from_slice(document).map_err(|_| "the JWKS is not a JSON object with `keys`")?;
        let keys = document
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, signing_key(&jwk)?)))
            .collect();
        Ok(KeySet { keys })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key `kid` names, when it may verify `algorithm`.
    pub(crate) fn key_for(&self, kid: &str, algorithm: Algorithm) -> Option<&DecodingKey> {
        self.keys.get(kid).filter(|k| k.algorithms.contains(&algorithm)).map(|k| &k.key)
    }

    pub(crate) fn has(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }
}

fn signing_key(jwk: &Jwk) -> Option<SigningKey> {
    if matches!(jwk.common.public_key_use, Some(ref usage) if *usage != PublicKeyUse::Signature) {
        return None;
    }
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        _ => return None,
    };
    let algorithms = match &jwk.common.key_algorithm {
        None => by_type,
        Some(named) => {
            let named = accepted(named)?;
            by_type.contains(&named).then(|| vec![named])?
        }
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(SigningKey { key, algorithms })
}

fn accepted(named: &KeyAlgorithm) -> Option<Algorithm> {
    match named {
        KeyAlgorithm::RS256 => Some(Algorithm::RS256),
        KeyAlgorithm::RS384 => Some(Algorithm::RS384),
        KeyAlgorithm::RS512 => Some(Algorithm::RS512),
        KeyAlgorithm::ES256 => Some(Algorithm::ES256),
        KeyAlgorithm::ES384 => Some(Algorithm::ES384),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // A real 2048-bit modulus is not needed to parse a key: any base64url text is one.
    const N: &str = "sXchVmqLBr4YZ7WJhUYpM6VWlA4eMCJ8wv4k1e3Q6X6n0i1bXb3S0LpGd7Z1n3gS2kq5rJ3eLyqYz9ztXk1n0w";

    fn set(keys: serde_json::Value) -> KeySet {
        KeySet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn an_rsa_key_verifies_the_rs_family_and_nothing_else() {
        let keys = set(json!([{"kty": "RSA", "kid": "r", "n": N, "e": "AQAB"}]));
        assert!(keys.key_for("r", Algorithm::RS256).is_some());
        assert!(keys.key_for("r", Algorithm::RS512).is_some());
        assert!(keys.key_for("r", Algorithm::ES256).is_none());
        assert!(keys.key_for("r", Algorithm::HS256).is_none());
        assert!(keys.key_for("r", Algorithm::PS256).is_none());
    }

    #[test]
    fn a_key_that_names_its_algorithm_verifies_only_that_one() {
        let keys = set(json!([{"kty": "RSA", "kid": "r", "alg": "RS384", "n": N, "e": "AQAB"}]));
        assert!(keys.key_for("r", Algorithm::RS384).is_some());
        assert!(keys.key_for("r", Algorithm::RS256).is_none());
    }

    #[test]
    fn symmetric_encryption_and_kid_less_keys_are_left_out_without_failing_the_set() {
        let keys = set(json!([
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": N, "e": "AQAB"},
            {"kty": "RSA", "n": N, "e": "AQAB"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "weird", "kid": "w"},
            {"kty": "RSA", "kid": "ok", "use": "sig", "n": N, "e": "AQAB"}
        ]));
        assert!(!keys.has("h") && !keys.has("enc") && !keys.has("ed") && !keys.has("w"));
        assert!(keys.has("ok"));
    }

    #[test]
    fn a_document_without_keys_is_not_a_jwks() {
        assert!(KeySet::parse(b"{}").is_err());
        assert!(KeySet::parse(b"<html>").is_err());
        assert!(KeySet::parse(br#"{"keys": []}"#).unwrap().is_empty());
    }
}
