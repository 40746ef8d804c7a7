//! What the broker needs from Parsec, as a trait, and the values that cross it.
//! The HTTP implementation is in `client.rs`.

pub mod client;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;

use crate::domain::external_id::ExternalId;
use crate::secrets::ApiKey;

/// A Parsec session id: as sensitive as a password. Its `Debug` hides it and
/// it has no `Display`; [`SessionId::expose`] is for the response body only.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    pub fn new(id: String) -> Self {
        SessionId(id)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    /// Unix epoch seconds.
    pub expires_at: i64,
}

/// A session and the status Parsec created it with (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub session: Session,
    pub status: u16,
}

/// Every way the upstream exchange can fail, one variant per row of the
/// contract's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// 401 or 403: the key was refused.
    Rejected { status: u16 },
    /// 429, with the `Retry-After` to pass on.
    Throttled { retry_after: String },
    /// Any other status, a redirect included.
    Status(u16),
    /// A 200/201 whose body cannot be used.
    InvalidResponse { status: u16, reason: &'static str },
    /// No answer within the budget.
    Timeout,
    /// Could not connect (after the one retry), or the connection broke before an answer.
    Unreachable,
}

impl UpstreamError {
    /// Parsec's status, when it answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            UpstreamError::Rejected { status } | UpstreamError::Status(status) => Some(*status),
            UpstreamError::InvalidResponse { status, .. } => Some(*status),
            UpstreamError::Throttled { .. } => Some(429),
            UpstreamError::Timeout | UpstreamError::Unreachable => None,
        }
    }
}

/// Creates Parsec sessions. One call is one new session: callers must not
/// repeat a call that reached Parsec.
pub trait SessionMinter: Send + Sync + 'static {
    /// `POST /enterprise/sessions` for `external_id`, finished by `deadline`.
    fn create_session(
        &self,
        key: &ApiKey,
        external_id: &ExternalId,
        deadline: Instant,
    ) -> impl Future<Output = Result<Minted, UpstreamError>> + Send;

    /// Opens the connection ahead of the first request (during Init), without
    /// creating a session. Best effort: failures are ignored.
    fn warm_up(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A shared minter is a minter: lets tests keep a handle on their fake.
impl<T: SessionMinter> SessionMinter for Arc<T> {
    fn create_session(
        &self,
        key: &ApiKey,
        external_id: &ExternalId,
        deadline: Instant,
    ) -> impl Future<Output = Result<Minted, UpstreamError>> + Send {
        T::create_session(self, key, external_id, deadline)
    }

    fn warm_up(&self) -> impl Future<Output = ()> + Send {
        T::warm_up(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_session_id() {
        let s = Session { id: SessionId::new("abcdef0123".into()), expires_at: 1 };
        assert!(!format!("{s:?}").contains("abcdef0123"));
    }
}
