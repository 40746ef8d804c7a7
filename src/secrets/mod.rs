//! The Parsec Enterprise API key: how it is held (never printable), how it is
//! read out of a SecretString, and the trait behind which Secrets Manager sits.

pub mod cache;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod secrets_manager;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use reqwest::header::HeaderValue;

/// The Enterprise API key, ready to be sent as the `x-api-key` header. It has
/// no `Display`, and its `Debug` prints nothing of the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(HeaderValue);

impl ApiKey {
    /// A key must be usable as a header value: visible ASCII, no spaces.
    pub fn new(key: &str) -> Option<ApiKey> {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let mut value = HeaderValue::from_str(key).ok()?;
        value.set_sensitive(true);
        Some(ApiKey(value))
    }

    /// The one place the key is exposed: the header written to Parsec.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// What a secret yields (the API key, or the seal keys) together with the secret
/// version it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub key: T,
    pub version: Arc<str>,
}

/// The API key and its version.
pub type VersionedKey = Versioned<ApiKey>;

/// Why the key could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// Worth retrying: throttling, a network fault, a Secrets Manager outage.
    Transient(String),
    /// Will not fix itself: access denied, no such secret, no usable key in it.
    /// The text never contains the secret's value.
    Misconfigured(String),
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::Transient(why) => write!(f, "transient secret fetch failure: {why}"),
            SecretError::Misconfigured(why) => write!(f, "unusable secret: {why}"),
        }
    }
}

/// Where a secret comes from. Secrets Manager in production, fakes in tests.
pub trait SecretSource: Send + Sync + 'static {
    /// What the secret is read as: [`ApiKey`], or the seal keys of the session store.
    type Value: Clone + Send + Sync + 'static;

    /// Reads the current (`AWSCURRENT`) version of the secret.
    fn fetch(&self) -> impl Future<Output = Result<Versioned<Self::Value>, SecretError>> + Send;
}

/// A shared source is a source: lets tests keep a handle on their fake.
impl<T: SecretSource> SecretSource for Arc<T> {
    type Value = T::Value;

    fn fetch(&self) -> impl Future<Output = Result<Versioned<T::Value>, SecretError>> + Send {
        T::fetch(self)
    }
}

/// How a SecretString becomes the value a [`SecretSource`] yields. Errors never quote it.
pub trait ReadSecret: Send + Sync + 'static {
    type Value: Clone + Send + Sync + 'static;

    fn read(&self, secret_string: &str) -> Result<Self::Value, SecretError>;
}

/// The API key, in the named field of a JSON secret or as the whole string ([`extract_key`]).
pub struct ApiKeyField(pub String);

impl ReadSecret for ApiKeyField {
    type Value = ApiKey;

    fn read(&self, secret_string: &str) -> Result<ApiKey, SecretError> {
        extract_key(secret_string, &self.0)
    }
}

/// Reads the key out of a SecretString: the `field` of a JSON object, or the
/// whole string when it is anything else. Errors never quote the value.
pub fn extract_key(secret_string: &str, field: &str) -> Result<ApiKey, SecretError> {
    let trimmed = secret_string.trim();
    let from_field;
    let raw = if trimmed.starts_with('{') {
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(trimmed).map_err(|_| {
                SecretError::Misconfigured("the secret looks like JSON but does not parse".into())
            })?;
        match object.remove(field) {
            Some(serde_json::Value::String(key)) => {
                from_field = key;
                from_field.trim()
            }
            Some(_) => {
                return Err(SecretError::Misconfigured(format!(
                    "field `{field}` of the secret is not a string"
                )))
            }
            None => return Err(SecretError::Misconfigured(format!("the secret has no field `{field}`"))),
        }
    } else {
        trimmed
    };
    if raw.is_empty() {
        return Err(SecretError::Misconfigured("the secret holds an empty key".into()));
    }
    ApiKey::new(raw).ok_or_else(|| {
        SecretError::Misconfigured("the key holds characters that cannot be sent in a header".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_text(k: &ApiKey) -> &str {
        k.header_value().to_str().unwrap()
    }

    #[test]
    fn a_json_secret_yields_its_field() {
        let k = extract_key(r#"{"api_key":"k-123","other":"x"}"#, "api_key").unwrap();
        assert_eq!(key_text(&k), "k-123");
        let k = extract_key(r#"{"key":"k-9"}"#, "key").unwrap();
        assert_eq!(key_text(&k), "k-9");
    }

    #[test]
    fn a_plain_secret_is_the_key_itself() {
        assert_eq!(key_text(&extract_key("plain-key\n", "api_key").unwrap()), "plain-key");
    }

    #[test]
    fn unusable_secrets_are_misconfigured_and_never_quoted() {
        for (secret, field) in [
            ("", "api_key"),
            ("   ", "api_key"),
            (r#"{"other":"k-secret"}"#, "api_key"),
            (r#"{"api_key":""}"#, "api_key"),
            (r#"{"api_key":42}"#, "api_key"),
            (r#"{"api_key":null}"#, "api_key"),
            (r#"{"api_key": "k-secret"#, "api_key"),
            ("k-secret with spaces", "api_key"),
        ] {
            match extract_key(secret, field) {
                Err(SecretError::Misconfigured(why)) => assert!(!why.contains("k-secret"), "{why}"),
                other => panic!("{secret:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let k = ApiKey::new("k-very-secret").unwrap();
        assert!(!format!("{k:?}").contains("very-secret"));
        assert!(k.header_value().is_sensitive());
    }
}
