//! The Parsec user a session is for. [`ExternalId::parse`] is the only way in,
//! so every value that reaches Parsec keeps the contract's rules.

use std::fmt;

/// The Parsec SDK keeps the id in a 64-byte field with a terminating NUL.
pub const MAX_EXTERNAL_ID_BYTES: usize = 63;

#[derive(Clone, PartialEq, Eq)]
pub struct ExternalId(String);

impl ExternalId {
    /// Accepts 1 to 63 bytes of UTF-8 with no control characters.
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        if value.is_empty() {
            return Err("external_id must not be empty.");
        }
        if value.len() > MAX_EXTERNAL_ID_BYTES {
            return Err("external_id must be at most 63 bytes of UTF-8.");
        }
        if value.chars().any(char::is_control) {
            return Err("external_id must not contain control characters.");
        }
        Ok(ExternalId(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExternalId").field(&self.0).finish()
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_sixty_three_bytes_are_accepted() {
        assert_eq!(ExternalId::parse("u").unwrap().as_str(), "u");
        assert!(ExternalId::parse(&"a".repeat(63)).is_ok());
        assert!(ExternalId::parse(&"a".repeat(64)).is_err());
        assert!(ExternalId::parse("").is_err());
    }

    #[test]
    fn the_limit_counts_bytes_not_characters() {
        assert!(ExternalId::parse(&"é".repeat(31)).is_ok()); // 62 bytes
        assert!(ExternalId::parse(&"é".repeat(32)).is_err()); // 64 bytes
        assert!(ExternalId::parse(&format!("{}é", "a".repeat(62))).is_err()); // 64 bytes, 63 chars
    }

    #[test]
    fn control_characters_are_refused_anywhere() {
        for bad in ["a\nb", "\u{0}", "tab\t", "del\u{7f}", "c1\u{85}", "\u{9f}x"] {
            assert!(ExternalId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ExternalId::parse("user 42 ✓").is_ok());
    }
}
