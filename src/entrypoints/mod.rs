//! What calls the function: the raw Lambda event in (`lambda.rs`), the request
//! read into what the broker needs and every outcome ended in one place
//! (`request.rs`: response, audit line, metrics), the caller read out of the
//! authorizer context (`identity.rs`), and the one status mapping (`response.rs`).
//! These only translate; the broker decides.

pub mod identity;
pub mod lambda;
pub mod request;
pub mod response;

use crate::broker::{Broker, Deps};
use crate::observability::metrics::MetricsSink;

/// The broker and where its requests' metrics go: what the runtime serves.
pub struct Service<D: Deps> {
    pub broker: Broker<D>,
    pub metrics: MetricsSink,
}

impl<D: Deps> Service<D> {
    pub fn new(broker: Broker<D>, metrics: MetricsSink) -> Self {
        Service { broker, metrics }
    }
}
