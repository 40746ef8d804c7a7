//! The invocation's X-Ray trace header, for the AWS SDK's calls. With one
//! invocation per process the runtime sets `_X_AMZN_TRACE_ID` and the SDK
//! reads it; under `run_concurrent` (Lambda Managed Instances) it cannot, so
//! the entry point runs each request [`within`] its trace id and the shared
//! HTTP client adds the header from [`current`] when the SDK did not.

use std::future::Future;

tokio::task_local! {
    static TRACE_ID: Option<String>;
}

/// The header the SDK and X-Ray use.
pub const HEADER: &str = "x-amzn-trace-id";

/// Runs `future` with `trace_id` as the current invocation's trace id.
pub async fn within<F: Future>(trace_id: Option<String>, future: F) -> F::Output {
    TRACE_ID.scope(trace_id, future).await
}

/// The trace id of the invocation being served on this task, if any.
pub fn current() -> Option<String> {
    TRACE_ID.try_with(Clone::clone).ok().flatten().filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_trace_id_is_current_only_within_its_request() {
        assert_eq!(current(), None);
        let inside = within(Some("Root=1-abc".into()), async { current() }).await;
        assert_eq!(inside.as_deref(), Some("Root=1-abc"));
        assert_eq!(within(None, async { current() }).await, None);
        assert_eq!(current(), None);
    }
}
