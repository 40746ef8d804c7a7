//! An in-memory [`SessionMinter`]: the double every test, fuzz target and
//! local tool shares. Creates sessions (a fresh 64-hex id, an hour's expiry)
//! and remembers whom each was for; can be told to fail or to panic.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::domain::external_id::ExternalId;
use crate::parsec::{Minted, Session, SessionId, SessionMinter, UpstreamError};
use crate::secrets::ApiKey;

#[derive(Default)]
pub struct MemoryParsec {
    failure: Mutex<Option<UpstreamError>>,
    panics: Mutex<bool>,
    /// `(external_id, session id)` for every session created.
    issued: Mutex<Vec<(String, String)>>,
}

impl MemoryParsec {
    /// From now on every call fails with `failure` (`None`: succeeds).
    pub fn fail_with(&self, failure: Option<UpstreamError>) {
        *lock(&self.failure) = failure;
    }

    /// From now on every call panics: the bug the panic guard exists for.
    pub fn panic_on_call(&self) {
        *lock(&self.panics) = true;
    }

    /// The users sessions were created for, in order.
    pub fn external_ids(&self) -> Vec<String> {
        lock(&self.issued).iter().map(|(user, _)| user.clone()).collect()
    }

    /// The session ids handed out, in order.
    pub fn session_ids(&self) -> Vec<String> {
        lock(&self.issued).iter().map(|(_, id)| id.clone()).collect()
    }
}

impl SessionMinter for MemoryParsec {
    async fn create_session(
        &self,
        _key: &ApiKey,
        external_id: &ExternalId,
        _deadline: Instant,
    ) -> Result<Minted, UpstreamError> {
        if *lock(&self.panics) {
            panic!("a bug on the request path");
        }
        if let Some(failure) = lock(&self.failure).clone() {
            return Err(failure);
        }
        let mut issued = lock(&self.issued);
        let id = format!("{:064x}", 0x5e55_1000_u64 + issued.len() as u64 * 7919);
        issued.push((external_id.as_str().to_owned(), id.clone()));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        Ok(Minted { session: Session { id: SessionId::new(id), expires_at: now + 3600 }, status: 201 })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
