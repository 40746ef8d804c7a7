//! The request body: its size, its media type and its shape, checked in the
//! contract's order (413, then 415, then 400).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::domain::error::BrokerError;

pub const MAX_BODY_BYTES: usize = 4096;

/// What a caller may send: `{}` or `{"external_id": "..."}`, or nothing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    pub external_id: Option<String>,
}

/// Checks a (decoded) body and its `Content-Type` header value.
pub fn parse(content_type: Option<&[u8]>, body: &[u8]) -> Result<SessionRequest, BrokerError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(BrokerError::PayloadTooLarge);
    }
    if body.is_empty() {
        return Ok(SessionRequest::default());
    }
    if !content_type.is_some_and(is_json_media_type) {
        return Err(BrokerError::UnsupportedMediaType);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let request = SessionRequest::deserialize(&mut de).map_err(|_| invalid_shape())?;
    de.end().map_err(|_| invalid_shape())?;
    Ok(request)
}

fn invalid_shape() -> BrokerError {
    BrokerError::InvalidRequest(
        "The body must be a JSON object with at most one field, external_id, a string.",
    )
}

/// `application/json`, in any case, optionally followed by parameters.
fn is_json_media_type(value: &[u8]) -> bool {
    let essence = value.split(|b| *b == b';').next().unwrap_or_default();
    essence.trim_ascii().eq_ignore_ascii_case(b"application/json")
}

impl<'de> Deserialize<'de> for SessionRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SessionRequestVisitor)
    }
}

struct SessionRequestVisitor;

impl<'de> Visitor<'de> for SessionRequestVisitor {
    type Value = SessionRequest;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    /// Unlike derived impls, refuses unknown and repeated keys.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SessionRequest, A::Error> {
        let mut external_id = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key != "external_id" {
                return Err(de::Error::custom("unknown field"));
            }
            if external_id.is_some() {
                return Err(de::Error::custom("repeated field"));
            }
            external_id = Some(map.next_value::<String>()?);
        }
        Ok(SessionRequest { external_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&[u8]> = Some(b"application/json");

    fn code(content_type: Option<&[u8]>, body: &str) -> &'static str {
        parse(content_type, body.as_bytes()).unwrap_err().code()
    }

    #[test]
    fn an_empty_body_needs_no_content_type() {
        assert_eq!(parse(None, b"").unwrap(), SessionRequest::default());
        assert_eq!(parse(Some(b"text/plain"), b"").unwrap(), SessionRequest::default());
    }

    #[test]
    fn an_object_with_external_id_is_read() {
        let r = parse(JSON, br#"{"external_id":"u-1"}"#).unwrap();
        assert_eq!(r.external_id.as_deref(), Some("u-1"));
        assert_eq!(parse(JSON, b" {} ").unwrap(), SessionRequest::default());
    }

    #[test]
    fn escaped_keys_are_compared_after_unescaping() {
        let r = parse(JSON, br#"{"external\u005fid":"u-1"}"#).unwrap();
        assert_eq!(r.external_id.as_deref(), Some("u-1"));
        assert_eq!(code(JSON, r#"{"external_id":"a","external\u005fid":"b"}"#), "invalid_request");
    }

    #[test]
    fn media_types_compare_case_insensitively_and_allow_parameters() {
        for ct in ["APPLICATION/JSON", "application/json; charset=utf-8", " application/json ;charset=UTF-8"]
        {
            assert!(parse(Some(ct.as_bytes()), b"{}").is_ok(), "{ct}");
        }
    }

    #[test]
    fn other_media_types_are_unsupported() {
        for ct in [
            "text/plain",
            "application/jsonx",
            "application/json-patch+json",
            "application/x-www-form-urlencoded",
            "",
        ] {
            assert_eq!(code(Some(ct.as_bytes()), "{}"), "unsupported_media_type", "{ct}");
        }
        assert_eq!(code(None, "{}"), "unsupported_media_type");
    }

    #[test]
    fn size_is_checked_before_media_type_and_shape() {
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        assert_eq!(code(Some(b"text/plain"), &big), "payload_too_large");
        let exact = format!(r#"{{"external_id":"{}"}}"#, "a".repeat(MAX_BODY_BYTES - 18));
        assert_eq!(exact.len(), MAX_BODY_BYTES);
        assert!(parse(JSON, exact.as_bytes()).is_ok());
    }

    #[test]
    fn anything_but_an_object_with_a_string_external_id_is_invalid() {
        for body in [
            " ",
            "\n\t",
            "null",
            "[]",
            "\"u\"",
            "42",
            "{",
            r#"{"external_id":5}"#,
            r#"{"external_id":null}"#,
            r#"{"external_id":"a","external_id":"a"}"#,
            r#"{"external_id":"a","extra":1}"#,
            r#"{"user":"a"}"#,
            r#"{} {}"#,
            r#"{"external_id":"\ud800"}"#,
        ] {
            assert_eq!(code(JSON, body), "invalid_request", "{body:?}");
        }
    }
}
