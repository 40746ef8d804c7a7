//! The one structured line logged per request. It names who asked for whom and
//! how it ended; it never holds the key, a session id or a header.

use std::time::Duration;

use crate::domain::caller::Caller;
use crate::domain::external_id::ExternalId;

/// What the upstream exchange looked like, for the audit log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UpstreamTrace {
    pub status: Option<u16>,
    pub latency: Option<Duration>,
    pub calls: u8,
    /// Which quota counter answered (`store` or `local`), when a quota is set.
    pub quota: Option<&'static str>,
    /// Why a request failed on the server side, or why an event could not be read;
    /// logged, never returned.
    pub detail: Option<String>,
}

const MAX_USER_AGENT_BYTES: usize = 256;

#[derive(Debug, Default)]
pub struct Audit {
    pub request_id: String,
    pub caller_kind: Option<&'static str>,
    pub principal: Option<String>,
    /// Where the request came from, as API Gateway reports it.
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub external_id: Option<String>,
    pub upstream: UpstreamTrace,
    pub expires_at: Option<i64>,
}

impl Audit {
    pub fn new(request_id: String) -> Self {
        Audit { request_id, ..Audit::default() }
    }

    pub fn caller(&mut self, caller: &Caller) {
        self.caller_kind = Some(caller.kind().as_str());
        self.principal = Some(caller.principal().to_owned());
    }

    /// The client's address and user agent; the agent is cut to 256 bytes
    /// (it is the client's own text).
    pub fn client(&mut self, source_ip: Option<&str>, user_agent: Option<&str>) {
        self.source_ip = source_ip.map(str::to_owned);
        self.user_agent = user_agent.map(|agent| {
            let mut end = agent.len().min(MAX_USER_AGENT_BYTES);
            while !agent.is_char_boundary(end) {
                end -= 1;
            }
            agent[..end].to_owned()
        });
    }

    pub fn external_id(&mut self, id: &ExternalId) {
        self.external_id = Some(id.as_str().to_owned());
    }

    /// Writes the line: `info` for answers the function meant to give, `error`
    /// for server-side failures.
    pub fn emit(&self, outcome: &str, status: u16) {
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    target: "session_broker::observability::audit",
                    $level,
                    request_id = %self.request_id,
                    caller_kind = self.caller_kind.unwrap_or("none"),
                    principal = self.principal.as_deref().unwrap_or(""),
                    source_ip = self.source_ip.as_deref().unwrap_or(""),
                    user_agent = self.user_agent.as_deref().unwrap_or(""),
                    external_id = self.external_id.as_deref().unwrap_or(""),
                    outcome,
                    status,
                    upstream_status = self.upstream.status,
                    upstream_latency_ms = self.upstream.latency.map(|d| d.as_secs_f64() * 1000.0),
                    upstream_calls = self.upstream.calls,
                    expires_at = self.expires_at,
                    quota = self.upstream.quota,
                    detail = self.upstream.detail.as_deref(),
                    "session request"
                )
            };
        }
        if status >= 500 {
            line!(tracing::Level::ERROR)
        } else {
            line!(tracing::Level::INFO)
        }
    }
}
