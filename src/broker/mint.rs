//! The last step of a request that passed every check: one unit of the user's
//! quota (when `SESSION_QUOTA` is set), the key from the cache, one call to
//! Parsec, one retry only when a rotated key replaced a rejected one, and the
//! quota unit given back when no session came of it.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::broker::outcome::Record;
use crate::broker::{secret_error, Broker, Deps};
use crate::domain::error::BrokerError;
use crate::domain::external_id::ExternalId;
use crate::parsec::{Minted, Session, SessionMinter, UpstreamError};
use crate::quotas::gate::Refused;
use crate::secrets::ApiKey;

impl<D: Deps> Broker<D> {
    /// Check 10, the quota, then the session. With a quota, one unit is taken
    /// first (`429` when none is left) and given back when the request ends
    /// without a session.
    pub(crate) async fn session_within_quota(
        &self,
        external_id: &ExternalId,
        deadline: Instant,
        record: &mut Record,
    ) -> Result<Session, BrokerError> {
        let Some(gate) = &self.quota else {
            return self.mint(external_id, deadline, record).await;
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let grant = gate.take(external_id.as_str(), now).await.map_err(|refused| match refused {
            Refused::Exceeded(exceeded) => {
                record.quota_counter = Some(exceeded.by.as_str());
                BrokerError::QuotaExceeded { retry_after: exceeded.retry_after_secs.to_string() }
            }
            Refused::Misconfigured(code) => {
                record.quota_counter = Some("store");
                record.detail = Some(format!("the quota table answered {code}"));
                BrokerError::Misconfigured
            }
        })?;
        record.quota_counter = Some(grant.by.as_str());
        let minted = self.mint(external_id, deadline, record).await;
        if minted.is_err() {
            gate.give_back(&grant).await;
        }
        minted
    }

    /// Key, Parsec, and the rotated-key retry, within the Parsec budget cut to `deadline`.
    async fn mint(
        &self,
        external_id: &ExternalId,
        deadline: Instant,
        record: &mut Record,
    ) -> Result<Session, BrokerError> {
        let key = self.keys.current(deadline).await.map_err(|e| secret_error(e, "API key", record))?;
        let budget_end = deadline.min(Instant::now() + self.parsec_timeout);
        let started = Instant::now();
        let mut result = self.call(&key.key, external_id, budget_end, record).await;
        if let Err(UpstreamError::Rejected { .. }) = result {
            if let Some(rotated) = self.keys.refresh_after_rejection(&key, budget_end).await {
                result = self.call(&rotated.key, external_id, budget_end, record).await;
            }
        }
        record.upstream_latency = Some(started.elapsed());
        record.upstream_status = match &result {
            Ok(minted) => Some(minted.status),
            Err(e) => e.status(),
        };
        result.map(|minted| minted.session).map_err(|e| {
            if let UpstreamError::InvalidResponse { reason, .. } = &e {
                record.detail = Some((*reason).to_owned());
            }
            upstream_error(e)
        })
    }

    async fn call(
        &self,
        key: &ApiKey,
        external_id: &ExternalId,
        budget_end: Instant,
        record: &mut Record,
    ) -> Result<Minted, UpstreamError> {
        if budget_end <= Instant::now() {
            return Err(UpstreamError::Timeout);
        }
        record.upstream_calls += 1;
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
