//! The Parsec user a session is for. [`ExternalId::parse`] is the only way in,
//! so every value that reaches Parsec keeps the contract's rules.

use std::fmt;

/// The Parsec SDK keeps the id in a 64-byte field with a terminating NUL.
pub const MAX_EXTERNAL_ID_BYTES: usize = 63;

#[derive(Clone, PartialEq, Eq)]
pub struct ExternalId(String);

impl ExternalId {
    /// Accepts 1 to 63 bytes of UTF-8 with no control or format characters
    /// and no white space at either end: hosts see the id as the user's name,
    /// so it must not be able to look like someone else's.
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
        if value.chars().any(is_format_character) {
            return Err("external_id must not contain invisible format characters (zero-width, bidi, BOM).");
        }
        if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
            return Err("external_id must not start or end with white space.");
        }
        Ok(ExternalId(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unicode general category Cf (format characters), as of Unicode 16.0:
/// invisible characters that change how text around them looks (soft hyphen,
/// zero-width space and joiners, bidi controls, the BOM, tags, ...).
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

fn is_format_character(c: char) -> bool {
    FORMAT_CHARACTERS.iter().any(|(first, last)| (*first..=*last).contains(&c))
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

    #[test]
    fn invisible_format_characters_are_refused_anywhere() {
        for bad in [
            "user\u{200B}42",  // zero-width space
            "user\u{200D}42",  // zero-width joiner
            "\u{FEFF}user-42", // byte-order mark
            "user-42\u{202E}", // right-to-left override
            "us\u{2066}er",    // left-to-right isolate
            "user\u{00AD}42",  // soft hyphen
            "user\u{E0041}",   // tag letter A
            "\u{2060}user",    // word joiner
        ] {
            assert_eq!(
                ExternalId::parse(bad).unwrap_err(),
                "external_id must not contain invisible format characters (zero-width, bidi, BOM).",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn white_space_is_refused_at_either_end_but_allowed_inside() {
        for bad in [" user", "user ", "\u{3000}user", "user\u{00A0}", "\u{2003}"] {
            assert!(ExternalId::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ExternalId::parse("Ada Lovelace").unwrap().as_str(), "Ada Lovelace");
    }
}
