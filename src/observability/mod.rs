//! What the function tells its operators: the log set-up, the one audit line
//! per request (from the broker's record), the per-request metrics document,
//! and the invocation's X-Ray trace id for the SDK's calls.

pub mod audit;
pub mod metrics;
pub mod telemetry;
pub mod xray;
