//! What the broker takes in for one request and what it hands back: the
//! [`Inbound`] request as the entry point read it (no `lambda_http` types), and
//! the [`Outcome`]: the result and the audit [`Record`], by value.

use std::time::Duration;

use tokio::time::Instant;

use crate::domain::caller::Caller;
use crate::domain::error::BrokerError;
use crate::parsec::Session;
use crate::tokens::BearerToken;

/// One request as the entry point read it.
#[derive(Debug)]
pub struct Inbound<'a> {
    /// API Gateway's request id, else the Lambda request id.
    pub request_id: String,
    pub method: &'a str,
    /// Who the authorizer vouched for; `None` when nobody.
    pub caller: Option<Caller>,
    /// The token from the `Authorization` header, re-verified with `JWT_ISSUER`.
    pub token: Option<BearerToken<'a>>,
    pub content_type: Option<&'a [u8]>,
    /// The body, base64 already decoded.
    pub body: &'a [u8],
    /// When the answer must be ready.
    pub deadline: Instant,
    /// Where the request came from, as API Gateway reports them.
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// How one request ended: the result and what the audit line says about it.
#[derive(Debug)]
pub struct Outcome {
    pub result: Result<Session, BrokerError>,
    pub record: Record,
}

impl Outcome {
    /// An event that could not be read as an API Gateway request: `400`.
    pub fn unreadable(request_id: String, why: &'static str) -> Outcome {
        let record = Record { request_id, detail: Some(why.to_owned()), ..Record::default() };
        Outcome { result: Err(BrokerError::InvalidRequest("The request could not be read.")), record }
    }

    /// The device's stored session was handed back (`200`, not `201`).
    pub fn reused(&self) -> bool {
        self.result.is_ok() && self.record.session == Some("reused")
    }

    /// The error code, or `None` for a created session.
    pub fn error_code(&self) -> Option<&'static str> {
        self.result.as_ref().err().map(BrokerError::code)
    }
}

const MAX_USER_AGENT_BYTES: usize = 256;

/// The audit record of one request. It names who asked for whom and how it
/// ended; it never holds the key, a session id or a header.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Record {
    pub request_id: String,
    pub caller_kind: Option<&'static str>,
    pub principal: Option<String>,
    pub source_ip: Option<String>,
    /// Cut to 256 bytes: it is the client's own text.
    pub user_agent: Option<String>,
    pub external_id: Option<String>,
    /// Parsec's last status, the exchange's latency and how many calls it took.
    pub upstream_status: Option<u16>,
    pub upstream_latency: Option<Duration>,
    pub upstream_calls: u8,
    /// Which quota counter answered (`store` or `local`), when a quota is set.
    pub quota_counter: Option<&'static str>,
    /// For a request naming a device: how its session came about: `reused`, `minted`,
    /// `renewed`, or `minted_without_store` when no session store is configured. Never the
    /// session id.
    pub session: Option<&'static str>,
    /// Why a request failed on the server side, or why an event could not be read;
    /// logged, never returned.
    pub detail: Option<String>,
    pub expires_at: Option<i64>,
}

impl Record {
    pub(crate) fn of(inbound: &Inbound<'_>) -> Record {
        Record {
            request_id: inbound.request_id.clone(),
            source_ip: inbound.source_ip.map(str::to_owned),
            user_agent: inbound.user_agent.map(cut_user_agent),
            ..Record::default()
        }
    }

    pub(crate) fn caller(&mut self, caller: &Caller) {
        self.caller_kind = Some(caller.kind().as_str());
        self.principal = Some(caller.principal().to_owned());
    }
}

fn cut_user_agent(agent: &str) -> String {
    let mut end = agent.len().min(MAX_USER_AGENT_BYTES);
    while !agent.is_char_boundary(end) {
        end -= 1;
    }
    agent[..end].to_owned()
}

/// What the broker counted since the last time it was asked: the metrics of
/// the next request carry it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub secret_fetches: u64,
    /// Background key refreshes that failed (the cached key was served).
    pub secret_refresh_failures: u64,
    /// Quota store failures; `None` without a quota.
    pub quota_store_failures: Option<u64>,
    /// Session store failures; `None` without a session store.
    pub session_store_failures: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_user_agent_is_cut_at_a_character_boundary_within_256_bytes() {
        let agent = "é".repeat(200);
        let cut = cut_user_agent(&agent);
        assert!(cut.len() <= 256 && cut.len() >= 254, "{}", cut.len());
        assert!(agent.starts_with(&cut));
    }
}
