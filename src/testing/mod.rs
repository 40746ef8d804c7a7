//! What tests and fuzz targets share, compiled only for them
//! (`cfg(test)` or the `testing` feature): any pair of doubles as [`Deps`],
//! configurations built without touching the environment, and the sample
//! events of `events/`.

use std::marker::PhantomData;
use std::sync::Arc;

use lambda_http::Request;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::broker::Deps;
use crate::config::{Config, ConfigError};
use crate::parsec::SessionMinter;
use crate::quotas::QuotaStore;
use crate::secrets::{ApiKey, ReadSecret, SecretError, SecretSource, Versioned};
use crate::sessions::seal::{SealKeys, SealMaterial};
use crate::sessions::SessionStore;
use crate::tokens::KeySetSource;

pub use crate::parsec::memory::MemoryParsec;
pub use crate::quotas::memory::MemoryQuotaStore;
pub use crate::secrets::memory::{misconfigured, transient, versioned, MemorySecrets};
pub use crate::sessions::memory::{MemorySessionStore, StoreMode};
pub use crate::tokens::memory::MemoryKeySet;

/// Any secret source, minter, quota store, JWKS source, session store and seal secret
/// source as the broker's dependencies.
#[allow(clippy::type_complexity)]
pub struct With<
    S,
    P,
    Q = MemoryQuotaStore,
    J = Arc<MemoryKeySet>,
    T = Arc<MemorySessionStore>,
    K = Arc<MemorySecrets<Arc<SealKeys>>>,
>(PhantomData<(S, P, Q, J, T, K)>);

/// All three in memory: what the property tests and the fuzz targets run on.
pub type Doubles = With<MemorySecrets, Arc<MemoryParsec>>;

impl<S, P, Q, J, T, K> Deps for With<S, P, Q, J, T, K>
where
    S: SecretSource<Value = ApiKey>,
    P: SessionMinter,
    Q: QuotaStore,
    J: KeySetSource,
    T: SessionStore,
    K: SecretSource<Value = Arc<SealKeys>>,
{
    type Secrets = S;
    type Parsec = P;
    type Quotas = Q;
    type Jwks = J;
    type Seal = K;
    type Sessions = T;
}

/// A seal secret fetch: keys derived from `material` (at least 32 characters), at `version`.
pub fn seal_secret(material: &str, version: &str) -> Result<Versioned<Arc<SealKeys>>, SecretError> {
    Ok(Versioned { key: SealMaterial.read(material)?, version: version.into() })
}

/// A configuration from `vars`, with `PARSEC_SECRET_ID` set unless `vars`
/// sets it; later pairs win.
pub fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut all = vec![("PARSEC_SECRET_ID", "parsec/enterprise")];
    all.extend_from_slice(vars);
    Config::from_lookup(|name| all.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
}

/// `events/<name>` as JSON, edited by `edit`.
pub fn event_json(name: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    edit(&mut value);
    value
}

/// `events/<name>`, edited, as the raw event Lambda delivers.
pub fn raw_event(name: &str, edit: impl FnOnce(&mut Value)) -> Box<RawValue> {
    RawValue::from_string(event_json(name, edit).to_string()).expect("JSON text")
}

/// `events/<name>`, edited, as lambda_http reads it.
pub fn request(name: &str, edit: impl FnOnce(&mut Value)) -> Request {
    let value = event_json(name, edit);
    lambda_http::request::from_str(&value.to_string()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub mod issuer;

/// Now, as epoch milliseconds (leases are written in them).
pub fn epoch_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
