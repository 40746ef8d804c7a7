//! The session flow once the request is understood: one unit of the user's
//! quota (when `SESSION_QUOTA` is set), the key from the cache, one call to
//! Parsec, one retry only when a rotated key replaced a rejected one, and the
//! quota unit given back when no session came of it. Generic over its outside
//! dependencies through [`Deps`].

pub mod panic_guard;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::config::Config;
use crate::domain::error::BrokerError;
use crate::domain::external_id::ExternalId;
use crate::domain::policy::Policy;
use crate::observability::audit::UpstreamTrace;
use crate::observability::metrics::{MetricsSink, QuotaMetrics, RequestMetrics};
use crate::parsec::{Minted, Session, SessionMinter, UpstreamError};
use crate::quotas::gate::QuotaGate;
use crate::quotas::QuotaStore;
use crate::secrets::cache::KeyCache;
use crate::secrets::{SecretError, SecretSource};

/// The broker's outside dependencies as one type parameter: adding a store
/// adds an associated type here, not a parameter to every function. Static
/// dispatch throughout: no `dyn`, no boxed futures on the request path.
pub trait Deps: Send + Sync + 'static {
    type Secrets: SecretSource;
    type Parsec: SessionMinter;
    type Quotas: QuotaStore;
}

pub struct Broker<D: Deps> {
    policy: Policy,
    keys: KeyCache<D::Secrets>,
    parsec: D::Parsec,
    parsec_timeout: Duration,
    parsec_warm_up: bool,
    /// `None` without `SESSION_QUOTA`: no quota, no store call.
    quota: Option<QuotaGate<D::Quotas>>,
    metrics: MetricsSink,
}

impl<D: Deps> Broker<D> {
    /// The broker, with `quotas` as the counter store when the configuration has a
    /// quota (`quotas` is not touched otherwise, so it may be a client never used).
    pub fn new(config: &Config, secrets: D::Secrets, parsec: D::Parsec, quotas: Option<D::Quotas>) -> Self {
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
            quota: config
                .quota
                .as_ref()
                .zip(quotas)
                .map(|(q, store)| QuotaGate::new(store, q.limit, q.store_wait)),
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
            quota: self.quota.as_ref().map(|gate| QuotaMetrics {
                exceeded: error_code == Some("quota_exceeded"),
                store_failures: gate.take_failure_count(),
            }),
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
    /// function must have answered; the Parsec budget is cut to it. With a quota,
    /// one unit is taken first (`429` when none is left) and given back when the
    /// request ends without a session.
    pub async fn create_session(
        &self,
        external_id: &ExternalId,
        invocation_deadline: Instant,
        trace: &mut UpstreamTrace,
    ) -> Result<Session, BrokerError> {
        let Some(gate) = &self.quota else {
            return self.mint(external_id, invocation_deadline, trace).await;
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let grant = gate.take(external_id.as_str(), now).await.map_err(|exceeded| {
            trace.quota = Some(exceeded.by.as_str());
            BrokerError::QuotaExceeded { retry_after: exceeded.retry_after_secs.to_string() }
        })?;
        trace.quota = Some(grant.by.as_str());
        let minted = self.mint(external_id, invocation_deadline, trace).await;
        if minted.is_err() {
            gate.give_back(&grant).await;
        }
        minted
    }

    async fn mint(
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
