//! The caller's token, re-verified inside the function (`JWT_ISSUER`; see
//! `docs/contract.md`, "Re-verifying the caller's token"). Whoever can invoke
//! the function writes the authorizer context themselves; a token signed by
//! the issuer is what they cannot forge. The issuer's JWKS is the outside
//! dependency: [`KeySetSource`] is its trait, `http.rs` the live fetch over
//! the shared client, `memory.rs` the double; `verifier.rs` caches it and
//! decides, `agreement.rs` compares the context with the verified token.

mod agreement;
pub mod http;
mod key_set;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
mod verifier;

use std::fmt;
use std::future::Future;

pub use agreement::{context_agrees, Disagreement};
pub use verifier::{TokenError, TokenVerifier, VerifiedToken, MIN_REFETCH_INTERVAL};

/// The issuer's JSON Web Key Set document.
pub trait KeySetSource: Send + Sync + 'static {
    /// The JWKS as the issuer serves it; an error says why not (no key material in it).
    fn fetch(&self) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
}

impl<T: KeySetSource> KeySetSource for std::sync::Arc<T> {
    async fn fetch(&self) -> Result<Vec<u8>, String> {
        (**self).fetch().await
    }
}

/// The token a request carries, as the route's identity source sent it (the
/// `Authorization` header, with or without `Bearer `). Its `Debug` prints
/// nothing of it: it is a credential.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BearerToken<'a>(&'a str);

impl<'a> BearerToken<'a> {
    /// The token of an `Authorization` header value; `None` when it is empty.
    pub fn from_header(value: &'a str) -> Option<Self> {
        let value = value.trim();
        let token = match value.split_once(char::is_whitespace) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim_start(),
            _ if value.eq_ignore_ascii_case("bearer") => "",
            _ => value,
        };
        (!token.is_empty()).then_some(BearerToken(token))
    }

    pub(crate) fn as_str(&self) -> &'a str {
        self.0
    }
}

impl fmt::Debug for BearerToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_with_or_without_bearer_in_any_case() {
        for header in ["Bearer a.b.c", "bearer a.b.c", "BEARER   a.b.c", "a.b.c", " a.b.c "] {
            assert_eq!(BearerToken::from_header(header).map(|t| t.as_str()), Some("a.b.c"), "{header}");
        }
        assert_eq!(BearerToken::from_header("Bearer "), None);
        assert_eq!(BearerToken::from_header(""), None);
    }

    #[test]
    fn a_token_prints_nothing_of_itself() {
        let token = BearerToken::from_header("Bearer secret.token.value").unwrap();
        assert!(!format!("{token:?}").contains("secret"));
    }
}
