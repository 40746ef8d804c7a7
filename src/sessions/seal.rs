//! The seal secret's keys (`SESSION_SEAL_SECRET_ID`): two keys derived from its value with
//! HKDF-SHA256 under distinct labels, through aws-lc-rs (the crypto rustls already links).
//!
//! - the item key: HMAC-SHA256 over the user and the device, each length-prefixed, so no
//!   two pairs give the same input; the store's partition key is its base64url;
//! - the seal: AES-256-GCM with a random 96-bit nonce per seal, whose associated data is the
//!   item key, the secret's version and the session's expiry. A ciphertext copied into
//!   another item, or given another expiry, does not open.
//!
//! Neither key is the API key, and neither leaves the process.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{hkdf, hmac, rand};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::parsec::{Session, SessionId};
use crate::secrets::{ReadSecret, SecretError};
use crate::sessions::{ItemKey, Sealed};

/// The least key material the seal secret may hold, in characters.
pub const MIN_SECRET_CHARS: usize = 32;
/// Fixed for this format; a new format takes a new salt.
const SALT: &[u8] = b"parsec-session-broker/device-sessions/v1";
const ITEM_KEY_LABEL: &[u8] = b"item key";
const SEAL_KEY_LABEL: &[u8] = b"seal key";
/// The partition key's prefix: these items are told apart from the quota's counters.
pub const ITEM_PREFIX: &str = "device-session#";

/// The two keys, derived once per secret version. No `Debug` of either key.
pub struct SealKeys {
    item: hmac::Key,
    seal: LessSafeKey,
}

impl fmt::Debug for SealKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKeys(<redacted>)")
    }
}

impl SealKeys {
    /// The keys of `material` (the secret's value, at least [`MIN_SECRET_CHARS`]).
    pub fn derive(material: &[u8]) -> SealKeys {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(material);
        let expand = |label: &[u8]| {
            let mut out = [0u8; 32];
            // Neither step can fail for a 32-byte output of HKDF-SHA256.
            if let Ok(okm) = prk.expand(&[label], hkdf::HKDF_SHA256) {
                let _ = okm.fill(&mut out);
            }
            out
        };
        let item = hmac::Key::new(hmac::HMAC_SHA256, &expand(ITEM_KEY_LABEL));
        let seal_bytes = expand(SEAL_KEY_LABEL);
        let seal =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &seal_bytes).expect("a 32-byte AES-256 key"));
        SealKeys { item, seal }
    }

    /// The item key of this user's device.
    pub fn item_key(&self, external_id: &str, device_id: &str) -> ItemKey {
        let mut context = hmac::Context::with_key(&self.item);
        for part in [external_id, device_id] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part.as_bytes());
        }
        ItemKey(format!("{ITEM_PREFIX}{}", URL_SAFE_NO_PAD.encode(context.sign().as_ref())))
    }

    /// `session` sealed for `item` under secret version `kid`; `None` only if the system's
    /// random source fails.
    pub fn seal(&self, item: &ItemKey, kid: &str, session: &Session) -> Option<Sealed> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce).ok()?;
        let aad = associated_data(item, kid, session.expires_at);
        let mut in_out = session.id.expose().as_bytes().to_vec();
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_slice()),
                &mut in_out,
            )
            .ok()?;
        let mut ct = nonce.to_vec();
        ct.extend_from_slice(&in_out);
        Some(Sealed { ct, kid: kid.to_owned(), session_expires_at: session.expires_at })
    }

    /// The session `sealed` holds, if it was sealed for `item` under `kid` with these keys.
    pub fn open(&self, item: &ItemKey, kid: &str, sealed: &Sealed) -> Option<Session> {
        if sealed.kid != kid || sealed.ct.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.ct.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let aad = associated_data(item, kid, sealed.session_expires_at);
        let mut in_out = ciphertext.to_vec();
        let plain = self.seal.open_in_place(nonce, Aad::from(aad.as_slice()), &mut in_out).ok()?;
        let id = String::from_utf8(plain.to_vec()).ok()?;
        Some(Session { id: SessionId::new(id), expires_at: sealed.session_expires_at })
    }
}

/// Item key, version and expiry, each length-prefixed.
fn associated_data(item: &ItemKey, kid: &str, expires_at: i64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(item.0.len() + kid.len() + 32);
    for part in [item.0.as_bytes(), kid.as_bytes()] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad.extend_from_slice(&expires_at.to_be_bytes());
    aad
}

/// Reads the seal secret: the whole SecretString is key material, at least
/// [`MIN_SECRET_CHARS`] characters. Errors never quote it.
pub struct SealMaterial;

impl ReadSecret for SealMaterial {
    type Value = Arc<SealKeys>;

    fn read(&self, secret_string: &str) -> Result<Arc<SealKeys>, SecretError> {
        if secret_string.chars().count() < MIN_SECRET_CHARS {
            return Err(SecretError::Misconfigured(format!(
                "the seal secret holds fewer than {MIN_SECRET_CHARS} characters"
            )));
        }
        Ok(Arc::new(SealKeys::derive(secret_string.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATERIAL: &[u8] = b"0123456789abcdef0123456789abcdef-material";

    fn session(id: &str, expires_at: i64) -> Session {
        Session { id: SessionId::new(id.into()), expires_at }
    }

    #[test]
    fn a_sealed_session_opens_only_in_its_own_item_under_its_own_version_and_expiry() {
        let keys = SealKeys::derive(MATERIAL);
        let mine = keys.item_key("user-1", "device-a");
        let sealed = keys.seal(&mine, "v1", &session("sess-secret-1", 1_900_000_000)).unwrap();
        assert_eq!(keys.open(&mine, "v1", &sealed), Some(session("sess-secret-1", 1_900_000_000)));
        assert_eq!(
            keys.open(&keys.item_key("user-2", "device-a"), "v1", &sealed),
            None,
            "moved to another user"
        );
        assert_eq!(
            keys.open(&keys.item_key("user-1", "device-b"), "v1", &sealed),
            None,
            "moved to another device"
        );
        assert_eq!(keys.open(&mine, "v2", &sealed), None, "another version");
        let mut longer = sealed.clone();
        longer.session_expires_at += 3600;
        assert_eq!(keys.open(&mine, "v1", &longer), None, "expiry extended");
        let mut flipped = sealed.clone();
        let last = flipped.ct.len() - 1;
        flipped.ct[last] ^= 1;
        assert_eq!(keys.open(&mine, "v1", &flipped), None, "tampered");
        let other = SealKeys::derive(b"another secret of at least 32 characters");
        assert_eq!(other.open(&mine, "v1", &sealed), None, "other keys");
    }

    #[test]
    fn item_keys_depend_on_both_ids_and_the_secret_and_show_neither() {
        let keys = SealKeys::derive(MATERIAL);
        let key = keys.item_key("user-1", "device-a");
        assert!(key.as_str().starts_with(ITEM_PREFIX));
        assert!(!key.as_str().contains("user-1") && !key.as_str().contains("device-a"));
        assert_eq!(key, keys.item_key("user-1", "device-a"));
        assert_ne!(key, keys.item_key("user-1", "device-b"));
        assert_ne!(key, keys.item_key("user-2", "device-a"));
        // The length prefix keeps the boundary: ("ab", "c") is not ("a", "bc").
        assert_ne!(keys.item_key("ab", "c"), keys.item_key("a", "bc"));
        assert_ne!(
            key,
            SealKeys::derive(b"another secret of at least 32 characters").item_key("user-1", "device-a")
        );
    }

    #[test]
    fn the_ciphertext_holds_no_session_id_and_each_seal_differs() {
        let keys = SealKeys::derive(MATERIAL);
        let item = keys.item_key("u", "d");
        let a = keys.seal(&item, "v1", &session("sess-visible", 1)).unwrap();
        let b = keys.seal(&item, "v1", &session("sess-visible", 1)).unwrap();
        assert_ne!(a.ct, b.ct, "a fresh nonce each time");
        assert!(!a.ct.windows(12).any(|w| w == b"sess-visible"));
    }

    #[test]
    fn a_seal_secret_shorter_than_32_characters_is_misconfigured() {
        assert!(matches!(SealMaterial.read(&"x".repeat(31)), Err(SecretError::Misconfigured(_))));
        assert!(SealMaterial.read(&"x".repeat(32)).is_ok());
        assert!(!format!("{:?}", SealMaterial.read(&"y".repeat(40)).unwrap()).contains("yyyy"));
    }
}
