//! The one structured line logged per request, written from the broker's
//! [`Record`]. It names who asked for whom and how it ended; it never holds
//! the key, a session id or a header.

use crate::broker::Record;

/// Writes the line: `info` for answers the function meant to give, `error`
/// for server-side failures.
pub fn emit(record: &Record, outcome: &str, status: u16) {
    macro_rules! line {
        ($level:expr) => {
            tracing::event!(
                target: "session_broker::observability::audit",
                $level,
                request_id = %record.request_id,
                caller_kind = record.caller_kind.unwrap_or("none"),
                principal = record.principal.as_deref().unwrap_or(""),
                source_ip = record.source_ip.as_deref().unwrap_or(""),
                user_agent = record.user_agent.as_deref().unwrap_or(""),
                external_id = record.external_id.as_deref().unwrap_or(""),
                outcome,
                status,
                upstream_status = record.upstream_status,
                upstream_latency_ms = record.upstream_latency.map(|d| d.as_secs_f64() * 1000.0),
                upstream_calls = record.upstream_calls,
                expires_at = record.expires_at,
                quota = record.quota_counter,
                session = record.session,
                detail = record.detail.as_deref(),
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
