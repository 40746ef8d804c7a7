//! Logging set-up. The level comes from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`
//! and applies to this crate; every dependency is capped at `info`, because at
//! `trace` the Lambda runtime prints raw events (with their Authorization
//! headers) and HTTP stacks print wire details. JSON when
//! `AWS_LAMBDA_LOG_FORMAT=JSON`; there each line keeps the invocation's span,
//! so a warning raised while serving a request carries its request id.

use std::str::FromStr;

use tracing::Dispatch;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber, writing to stdout as Lambda expects.
pub fn init() {
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let level = level_from(lookup("AWS_LAMBDA_LOG_LEVEL").or_else(|| lookup("RUST_LOG")).as_deref());
    let json = lookup("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    // Fails only if a subscriber is already installed, which main never does.
    let _ = tracing::dispatcher::set_global_default(dispatch(std::io::stdout, level, json));
}

/// A level name (`trace` … `error`, `off`, in any case); anything else is `info`.
/// Only a level: directive strings cannot lift the cap on dependencies.
pub fn level_from(value: Option<&str>) -> LevelFilter {
    value.and_then(|v| LevelFilter::from_str(v.trim()).ok()).unwrap_or(LevelFilter::INFO)
}

/// Where the Lambda runtime opens its span around every invocation (`requestId`,
/// `xrayTraceId`). It logs no events of its own.
const INVOCATION_SPAN_TARGET: &str = "lambda_runtime::layers::trace";

/// The filter: `level` for this crate and the binary, at most `info` for the rest;
/// the runtime's invocation span always, so every line of a request names it.
pub fn filter(level: LevelFilter) -> Targets {
    Targets::new()
        .with_default(level.min(LevelFilter::INFO))
        .with_target("session_broker", level)
        .with_target("bootstrap", level)
        .with_target(INVOCATION_SPAN_TARGET, LevelFilter::INFO)
}

/// A subscriber writing to `writer`; also used by tests to capture the logs.
pub fn dispatch<W>(writer: W, level: LevelFilter, json: bool) -> Dispatch
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    let builder = tracing_subscriber::fmt().with_writer(writer).with_ansi(false);
    if json {
        // The current span is the runtime's invocation span: each line carries
        // `"span": {"requestId": …, "xrayTraceId": …}` as the runtime's own JSON layer writes it.
        let fmt = builder.json().flatten_event(true).with_current_span(true).with_span_list(false).finish();
        Dispatch::new(fmt.with(filter(level)))
    } else {
        Dispatch::new(builder.without_time().finish().with(filter(level)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_case_insensitively_and_fall_back_to_info() {
        assert_eq!(level_from(Some("DEBUG")), LevelFilter::DEBUG);
        assert_eq!(level_from(Some("trace")), LevelFilter::TRACE);
        assert_eq!(level_from(Some("lambda_runtime=trace")), LevelFilter::INFO);
        assert_eq!(level_from(None), LevelFilter::INFO);
    }

    #[test]
    fn dependencies_never_log_below_info_even_at_trace() {
        let verbose = filter(LevelFilter::TRACE);
        assert!(verbose.would_enable("session_broker::broker", &tracing::Level::TRACE));
        assert!(verbose.would_enable("bootstrap", &tracing::Level::TRACE));
        assert!(!verbose.would_enable("lambda_runtime::layers::api_response", &tracing::Level::DEBUG));
        assert!(!verbose.would_enable("hyper_util::client", &tracing::Level::TRACE));
        assert!(verbose.would_enable("lambda_runtime", &tracing::Level::INFO));
        let quiet = filter(LevelFilter::WARN);
        assert!(!quiet.would_enable("session_broker", &tracing::Level::INFO));
        assert!(!quiet.would_enable("aws_config", &tracing::Level::INFO));
        assert!(
            quiet.would_enable(INVOCATION_SPAN_TARGET, &tracing::Level::INFO),
            "the invocation span stays"
        );
    }
}
