//! The request body: its size, its media type and its shape, checked in the
//! contract's order (413, then 415, then 400).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::domain::error::BrokerError;

pub const MAX_BODY_BYTES: usize = 4096;

/// What a caller may send: nothing, or an object with at most `external_id`, `device_id`
/// and `renew`. The device fields are kept as sent: their rules are checked after the
/// `external_id` rules ([`device`]), as the contract orders them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    pub external_id: Option<String>,
    pub device_id: Option<serde_json::Value>,
    pub renew: Option<serde_json::Value>,
}

/// A device the app names, and whether it asks for a fresh session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// 1 to 64 of `A–Z a–z 0–9 . _ : -`.
    pub id: String,
    pub renew: bool,
}

/// The device fields' rules: a bad `device_id` is `invalid_device_id`; `renew` without a
/// `device_id`, or not a boolean, is `invalid_request`.
pub fn device(request: &SessionRequest) -> Result<Option<Device>, BrokerError> {
    let renew = match &request.renew {
        None => None,
        Some(serde_json::Value::Bool(renew)) => Some(*renew),
        Some(_) => return Err(BrokerError::InvalidRequest("renew must be true or false.")),
    };
    let Some(id) = &request.device_id else {
        return match renew {
            None => Ok(None),
            Some(_) => Err(BrokerError::InvalidRequest("renew is only allowed with a device_id.")),
        };
    };
    let id = id.as_str().filter(|id| is_device_id(id)).ok_or(BrokerError::InvalidDeviceId(
        "device_id must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'.",
    ))?;
    Ok(Some(Device { id: id.to_owned(), renew: renew.unwrap_or(false) }))
}

fn is_device_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b))
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
        "The body must be a JSON object with no fields but external_id (a string), device_id and renew.",
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
        let mut request = SessionRequest::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let repeated = match key.as_ref() {
                "external_id" => request.external_id.replace(map.next_value::<String>()?).is_some(),
                "device_id" => request.device_id.replace(map.next_value()?).is_some(),
                "renew" => request.renew.replace(map.next_value()?).is_some(),
                _ => return Err(de::Error::custom("unknown field")),
            };
            if repeated {
                return Err(de::Error::custom("repeated field"));
            }
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&[u8]> = Some(b"application/json");

    fn code(content_type: Option<&[u8]>, body: &str) -> &'static str {
        parse(content_type, body.as_bytes()).unwrap_err().code()
    }

    fn device_of(body: &str) -> Result<Option<Device>, &'static str> {
        device(&parse(JSON, body.as_bytes()).unwrap()).map_err(|e| e.code())
    }

    #[test]
    fn device_id_and_renew_follow_their_rules() {
        let id = "3f1c2a9e-7b6d-4c1e-9f0a-1b2c3d4e5f60";
        let ok = device_of(&format!(r#"{{"device_id":"{id}","renew":true}}"#)).unwrap().unwrap();
        assert_eq!(ok, Device { id: id.into(), renew: true });
        assert!(!device_of(r#"{"device_id":"a.b_c:d-E9"}"#).unwrap().unwrap().renew);
        assert_eq!(
            device_of(&format!(r#"{{"device_id":"{}"}}"#, "x".repeat(64))).map(|d| d.is_some()),
            Ok(true)
        );
        assert_eq!(device_of("{}"), Ok(None));
        for bad in [r#""""#, r#""a b""#, r#""é""#, r#""a/b""#, "7", "null", r#"["a"]"#] {
            assert_eq!(device_of(&format!(r#"{{"device_id":{bad}}}"#)), Err("invalid_device_id"), "{bad}");
        }
        assert_eq!(device_of(&format!(r#"{{"device_id":"{}"}}"#, "x".repeat(65))), Err("invalid_device_id"));
        for bad in [
            r#"{"renew":true}"#,
            r#"{"renew":false}"#,
            r#"{"device_id":"d","renew":"yes"}"#,
            r#"{"device_id":"d","renew":1}"#,
        ] {
            assert_eq!(device_of(bad), Err("invalid_request"), "{bad}");
        }
        assert_eq!(code(JSON, r#"{"device_id":"a","device_id":"b"}"#), "invalid_request", "repeated");
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
