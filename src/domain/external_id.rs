//! The Parsec user a session is for. [`ExternalId::parse`] is the only way in,
//! so every value that reaches Parsec keeps the contract's rules.

use std::fmt;

/// The Parsec SDK keeps the id in a 64-byte field with a terminating NUL.
pub const MAX_EXTERNAL_ID_BYTES: usize = 63;

#[derive(Clone, PartialEq, Eq)]
pub struct ExternalId(String);

impl ExternalId {
    /// Accepts 1 to 63 bytes of UTF-8 that can only look like what they are:
    /// hosts see the id as the user's name, so it must not be able to look like
    /// someone else's. Refused anywhere in the id: controls, format characters,
    /// private-use, unassigned and surrogate code points, line and paragraph
    /// separators, every Default_Ignorable_Code_Point (fillers, variation
    /// selectors, the combining grapheme joiner, ...), the Braille blank U+2800
    /// and any white space but U+0020, which may not start or end it.
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
        if value.chars().any(is_invisible) {
            return Err("external_id must not contain invisible or unassigned characters (zero-width, bidi, fillers, variation selectors, BOM).");
        }
        if value.chars().any(|c| c.is_whitespace() && c != ' ') {
            return Err("external_id must not contain white space other than the ordinary space.");
        }
        if value.starts_with(' ') || value.ends_with(' ') {
            return Err("external_id must not start or end with white space.");
        }
        Ok(ExternalId(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Unicode version the character tables come from: the general categories
/// (`unicode-general-category`) and [`DEFAULT_IGNORABLE`].
pub const UNICODE_VERSION: (u64, u64, u64) = unicode_general_category::UNICODE_VERSION;

/// Default_Ignorable_Code_Point, from Unicode 16.0's DerivedCoreProperties.txt:
/// code points that render as nothing (Cf characters, Hangul fillers, variation
/// selectors, the combining grapheme joiner, reserved ignorables).
const DEFAULT_IGNORABLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// The Braille pattern blank: a letter-like symbol that prints as a space.
const BRAILLE_BLANK: char = '\u{2800}';

fn is_invisible(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory as G};
    c == BRAILLE_BLANK
        || DEFAULT_IGNORABLE.iter().any(|(first, last)| (*first..=*last).contains(&c))
        || matches!(
            get_general_category(c),
            G::Format
                | G::PrivateUse
                | G::Unassigned
                | G::Surrogate
                | G::LineSeparator
                | G::ParagraphSeparator
        )
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
            assert!(ExternalId::parse(bad).unwrap_err().contains("invisible"), "{bad:?}");
        }
    }

    #[test]
    fn look_alike_invisible_characters_outside_category_cf_are_refused_anywhere() {
        let look_alikes = [
            '\u{115F}',
            '\u{1160}',
            '\u{3164}',
            '\u{FFA0}', // Hangul fillers
            '\u{2800}', // Braille blank
            '\u{034F}', // combining grapheme joiner
            '\u{FE00}',
            '\u{FE0F}',
            '\u{E0100}',
            '\u{E01EF}',
            '\u{180B}',
            '\u{180F}', // variation selectors
            '\u{2028}',
            '\u{2029}', // line and paragraph separators
            '\u{E000}',
            '\u{F0000}', // private use
            '\u{0378}',
            '\u{FFFF}', // unassigned
        ];
        for c in look_alikes {
            for id in [format!("user{c}42"), format!("{c}user-42"), format!("user-42{c}")] {
                assert!(ExternalId::parse(&id).is_err(), "U+{:04X} in {id:?}", c as u32);
            }
        }
        assert!(ExternalId::parse("Zoë 李 42").is_ok(), "ordinary letters, marks and inner spaces stay");
        assert!(UNICODE_VERSION.0 >= 15, "{UNICODE_VERSION:?}");
    }

    #[test]
    fn white_space_other_than_the_ordinary_space_is_refused_anywhere() {
        for bad in ["a\u{00A0}b", "a\u{2003}b", "a\u{3000}b", "a\u{1680}b"] {
            assert!(ExternalId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ExternalId::parse("a b").is_ok());
    }

    #[test]
    fn white_space_is_refused_at_either_end_but_allowed_inside() {
        for bad in [" user", "user ", "\u{3000}user", "user\u{00A0}", "\u{2003}"] {
            assert!(ExternalId::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ExternalId::parse("Ada Lovelace").unwrap().as_str(), "Ada Lovelace");
    }
}
