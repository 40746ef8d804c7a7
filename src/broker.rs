//! The session flow once the request is understood: the key from the cache,
//! one call to Parsec, and one retry only when a rotated key replaced a
//! rejected one. Generic over its outside dependencies through [`Deps`].

use std::time::Duration;

use tokio::time::Instant;

use crate::config::Config;
use crate::domain::error::BrokerError;
use crate::domain::external_id::ExternalId;
use crate::domain::policy::Policy;
use crate::observability::audit::UpstreamTrace;
use crate::observability::metrics::{MetricsSink, RequestMetrics};
use crate::parsec::{Minted, Session, SessionMinter, UpstreamError};
use crate::secrets::cache::KeyCache;
use crate::secrets::{SecretError, SecretSource};

/// The broker's outside dependencies as one type parameter: adding a store
/// adds an associated type here, not a parameter to every function. Static
/// dispatch throughout: no `dyn`, no boxed futures on the request path.
pub trait Deps: Send + Sync + 'static {
    type Secrets: SecretSource;
    type Parsec: SessionMinter;
}

pub struct Broker<D: Deps> {
    policy: Policy,
    keys: KeyCache<D::Secrets>,
    parsec: D::Parsec,
    parsec_timeout: Duration,
    parsec_warm_up: bool,
    metrics: MetricsSink,
}

impl<D: Deps> Broker<D> {
    pub fn new(config: &Config, secrets: D::Secrets, parsec: D::Parsec) -> Self {
        Broker {
            policy: Policy {
                source: config.external_id_source,
                claim: config.external_id_claim.clone(),
                required_scope: config.required_scope.clone(),
                trusted: config.trusted_callers.clone(),
            },
            keys: KeyCache::new(secrets, config.secret_cache_ttl),
            parsec,
            parsec_timeout: config.parsec_timeout,
            parsec_warm_up: config.parsec_warm_up,
            metrics: MetricsSink::Off,
        }
    }

    /// Sends per-request metrics to `sink` (stdout in production).
    pub fn with_metrics(mut self, sink: MetricsSink) -> Self {
        self.metrics = sink;
        self
    }

    /// Records one request's metrics: its outcome, its upstream latency and
    /// the secret fetches and failed background refreshes since the last request.
    pub fn record_metrics(&self, error_code: Option<&str>, trace: &UpstreamTrace) {
        self.metrics.record(&RequestMetrics {
            created: error_code.is_none(),
            error_code,
            upstream_latency: trace.latency,
            secret_fetches: self.keys.take_fetch_count(),
            secret_refresh_failures: self.keys.take_failed_refresh_count(),
        });
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Fetches the key during Init and, with `PARSEC_WARM_UP`, opens the Parsec
    /// connection at the same time, so the first request waits for neither.
    pub async fn prime(&self) {
        let warm_up = async {
            if self.parsec_warm_up {
                self.parsec.warm_up().await;
            }
        };
        let (fetched, ()) = tokio::join!(self.keys.prime(), warm_up);
        match fetched {
            Ok(()) => tracing::debug!("API key fetched during Init"),
            Err(e) => {
                tracing::warn!(reason = %e, "could not fetch the API key during Init; requests will retry")
            }
        }
    }

    /// Creates a session for `external_id`. `invocation_deadline` is when the
    /// function must have answered; the Parsec budget is cut to it.
    pub async fn create_session(
        &self,
        external_id: &ExternalId,
        invocation_deadline: Instant,
        trace: &mut UpstreamTrace,
    ) -> Result<Session, BrokerError> {
        let key = self.keys.current(invocation_deadline).await.map_err(|e| {
            trace.detail = Some(e.to_string());
            match e {
                SecretError::Transient(_) => BrokerError::SecretUnavailable,
                SecretError::Misconfigured(_) => BrokerError::Misconfigured,
            }
        })?;
        let budget_end = invocation_deadline.min(Instant::now() + self.parsec_timeout);
        let started = Instant::now();
        let mut result = self.call(&key.key, external_id, budget_end, trace).await;
        if let Err(UpstreamError::Rejected { .. }) = result {
            if let Some(rotated) = self.keys.refresh_after_rejection(&key, budget_end).await {
                result = self.call(&rotated.key, external_id, budget_end, trace).await;
            }
        }
        trace.latency = Some(started.elapsed());
        trace.status = match &result {
            Ok(minted) => Some(minted.status),
            Err(e) => e.status(),
        };
        result.map(|minted| minted.session).map_err(|e| {
            if let UpstreamError::InvalidResponse { reason, .. } = &e {
                trace.detail = Some((*reason).to_owned());
            }
            upstream_error(e)
        })
    }

    async fn call(
        &self,
        key: &crate::secrets::ApiKey,
        external_id: &ExternalId,
        budget_end: Instant,
        trace: &mut UpstreamTrace,
    ) -> Result<Minted, UpstreamError> {
        if budget_end <= Instant::now() {
            return Err(UpstreamError::Timeout);
        }
        trace.calls += 1;
        self.parsec.create_session(key, external_id, budget_end).await
    }
}

fn upstream_error(e: UpstreamError) -> BrokerError {
    match e {
        UpstreamError::Rejected { .. } => BrokerError::UpstreamAuthFailed,
        UpstreamError::Throttled { retry_after } => BrokerError::UpstreamThrottled { retry_after },
        UpstreamError::Status(_) => BrokerError::UpstreamError,
        UpstreamError::InvalidResponse { .. } => BrokerError::UpstreamInvalidResponse,
        UpstreamError::Timeout => BrokerError::UpstreamTimeout,
        UpstreamError::Unreachable => BrokerError::UpstreamUnreachable,
    }
}
