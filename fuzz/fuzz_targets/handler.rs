//! The whole handler over arbitrary events: whatever lambda_http can read,
//! the answer is a session or a documented 4xx, never a 5xx, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use session_broker::broker::Broker;
use session_broker::config::Config;
use session_broker::external_id::ExternalId;
use session_broker::parsec::{Minted, Session, SessionId, SessionMinter, UpstreamError};
use session_broker::secret::{ApiKey, SecretError, SecretSource, VersionedKey};
use tokio::time::Instant;

struct Key;

impl SecretSource for Key {
    async fn fetch(&self) -> Result<VersionedKey, SecretError> {
        Ok(VersionedKey { key: ApiKey::new("k").unwrap(), version: "v".into() })
    }
}

struct Parsec;

impl SessionMinter for Parsec {
    async fn create_session(&self, _: &ApiKey, _: &ExternalId, _: Instant) -> Result<Minted, UpstreamError> {
        Ok(Minted { session: Session { id: SessionId::new("s".into()), expires_at: i64::MAX }, status: 201 })
    }
}

fn broker(mode: &str) -> Broker<Key, Parsec> {
    let config = Config::from_lookup(|name| match name {
        "PARSEC_SECRET_ID" => Some("s".into()),
        "EXTERNAL_ID_SOURCE" => Some(mode.into()),
        "REQUIRED_SCOPE" if mode == "body" => Some("parsec/sessions".into()),
        _ => None,
    })
    .unwrap();
    Broker::new(&config, Key, Parsec)
}

fuzz_target!(|data: &[u8]| {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    static BROKERS: OnceLock<[Broker<Key, Parsec>; 2]> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap());
    let brokers = BROKERS.get_or_init(|| [broker("claim"), broker("body")]);
    let Ok(text) = std::str::from_utf8(data) else { return };
    if has_undecodable_base64_body(text) {
        return; // lambda_http panics on these before any handler runs; API Gateway never sends them
    }
    let Ok(request) = lambda_http::request::from_str(text) else { return };
    let broker = &brokers[data.len() % 2];
    let status = runtime.block_on(session_broker::http::serve(broker, request)).status().as_u16();
    assert!([201, 400, 401, 403, 405, 413, 415].contains(&status), "status {status}");
});

/// `isBase64Encoded: true` with a body that is not base64.
fn has_undecodable_base64_body(text: &str) -> bool {
    use base64::Engine;
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return false };
    let flagged = value.get("isBase64Encoded").and_then(|v| v.as_bool()).unwrap_or(false);
    let body = value.get("body").and_then(|b| b.as_str()).unwrap_or("");
    flagged && base64::engine::general_purpose::STANDARD.decode(body).is_err()
}
