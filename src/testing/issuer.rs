//! A token issuer for tests: RSA and P-256 keys made per run (nothing committed),
//! its JWKS, and tokens signed with aws-lc-rs directly, independently of the
//! library that verifies them, so a test can also sign what a forger would.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

pub const ISSUER: &str = "https://issuer.test.invalid";
pub const AUDIENCE: &str = "parsec-broker-test";
pub const RSA_KID: &str = "rsa-1";
pub const EC_KID: &str = "ec-1";

pub struct TestIssuer {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
}

/// How a test wants a token signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Rs256,
    Rs512,
    Es256,
    /// `alg: none`, no signature.
    None,
    /// HS256 with the issuer's RSA public key (its DER) as the HMAC secret.
    Hs256WithPublicKey,
}

impl Default for TestIssuer {
    fn default() -> Self {
        Self::new()
    }
}

impl TestIssuer {
    pub fn new() -> Self {
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key");
        let ec = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key");
        TestIssuer { rsa, ec }
    }

    /// The issuer's JWKS: the RSA key (`rsa-1`) and the P-256 key (`ec-1`).
    pub fn jwks(&self) -> String {
        let public = self.rsa.public_key();
        let point = self.ec.public_key().as_ref();
        json!({"keys": [
            {"kty": "RSA", "kid": RSA_KID, "use": "sig",
             "n": b64(public.modulus().big_endian_without_leading_zero()),
             "e": b64(public.exponent().big_endian_without_leading_zero())},
            {"kty": "EC", "kid": EC_KID, "use": "sig", "crv": "P-256",
             "x": b64(&point[1..33]), "y": b64(&point[33..65])}
        ]})
        .to_string()
    }

    /// Claims of a valid access token for `sub`, like Cognito's: `iss`, `client_id`,
    /// `scope`, `iat`, `nbf` and `exp` an hour ahead.
    pub fn claims(sub: &str) -> Value {
        let now = now();
        json!({"iss": ISSUER, "sub": sub, "client_id": AUDIENCE, "token_use": "access",
               "scope": "parsec/sessions", "iat": now, "nbf": now, "exp": now + 3600})
    }

    /// A valid RS256 token for `sub`.
    pub fn token(&self, sub: &str) -> String {
        self.sign(Signing::Rs256, RSA_KID, &Self::claims(sub))
    }

    /// `claims` signed as `signing` says, naming `kid`.
    pub fn sign(&self, signing: Signing, kid: &str, claims: &Value) -> String {
        let alg = match signing {
            Signing::Rs256 => "RS256",
            Signing::Rs512 => "RS512",
            Signing::Es256 => "ES256",
            Signing::None => "none",
            Signing::Hs256WithPublicKey => "HS256",
        };
        let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
        let message =
            format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let rng = SystemRandom::new();
        let signature = match signing {
            Signing::Rs256 | Signing::Rs512 => {
                let padding: &'static dyn signature::RsaEncoding = if signing == Signing::Rs256 {
                    &signature::RSA_PKCS1_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA512
                };
                let mut out = vec![0; self.rsa.public_modulus_len()];
                self.rsa.sign(padding, &rng, message.as_bytes(), &mut out).expect("RSA signature");
                out
            }
            Signing::Es256 => self.ec.sign(&rng, message.as_bytes()).expect("EC signature").as_ref().to_vec(),
            Signing::None => Vec::new(),
            Signing::Hs256WithPublicKey => {
                let key =
                    aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.rsa.public_key().as_ref());
                aws_lc_rs::hmac::sign(&key, message.as_bytes()).as_ref().to_vec()
            }
        };
        format!("{message}.{}", b64(&signature))
    }
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
