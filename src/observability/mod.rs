//! What the function tells its operators: the log set-up, the one audit line
//! per request and the per-request metrics document.

pub mod audit;
pub mod metrics;
pub mod telemetry;
