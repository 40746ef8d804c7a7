//! The owner of a request: [`Broker::handle`] takes what the entry point read
//! ([`Inbound`]) and returns the [`Outcome`], running the contract's checks 2–12
//! in the order `docs/contract.md` lists them, then key → Parsec → the
//! rotated-key retry (`mint.rs`). Generic over its outside dependencies
//! through [`Deps`]. It reports nothing itself: the entry point turns the
//! outcome into the response, the audit line and the metrics.

mod device;
mod mint;
mod outcome;
pub(crate) mod panic_guard;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::domain::body;
use crate::domain::caller::{Caller, CallerKind};
use crate::domain::error::BrokerError;
use crate::domain::policy::Policy;
use crate::parsec::{Session, SessionMinter};
use crate::quotas::gate::QuotaGate;
use crate::quotas::QuotaStore;
use crate::secrets::cache::KeyCache;
use crate::secrets::{ApiKey, SecretError, SecretSource};
use crate::sessions::seal::SealKeys;
use crate::sessions::SessionStore;
use crate::tokens::{context_agrees, BearerToken, Disagreement, KeySetSource, TokenError, TokenVerifier};

pub use device::WAIT_FOR_HOLDER;
pub use outcome::{Counters, Inbound, Outcome, Record};

use device::DeviceSessions;

/// The broker's outside dependencies as one type parameter: adding a store
/// adds an associated type here, not a parameter to every function. Static
/// dispatch throughout: no `dyn`, no boxed futures on the request path.
pub trait Deps: Send + Sync + 'static {
    type Secrets: SecretSource<Value = ApiKey>;
    type Parsec: SessionMinter;
    type Quotas: QuotaStore;
    type Jwks: KeySetSource;
    /// The seal secret of the device-session store.
    type Seal: SecretSource<Value = Arc<SealKeys>>;
    type Sessions: SessionStore;
}

/// The session store and the source of its seal secret, when `SESSION_STORE_TABLE` is set.
pub struct DeviceStore<K, T> {
    pub seal: K,
    pub store: T,
}

pub struct Broker<D: Deps> {
    policy: Policy,
    keys: KeyCache<D::Secrets>,
    parsec: D::Parsec,
    parsec_timeout: Duration,
    parsec_warm_up: bool,
    /// `None` without `SESSION_QUOTA`: no quota, no store call.
    quota: Option<QuotaGate<D::Quotas>>,
    tokens: TokenCheck<D::Jwks>,
    /// `None` without `SESSION_STORE_TABLE`: `device_id` is validated, every request mints.
    devices: Option<DeviceSessions<D::Seal, D::Sessions>>,
}

/// Whether callers' tokens are re-verified (`JWT_ISSUER`).
enum TokenCheck<J> {
    Off,
    On(TokenVerifier<J>),
    /// Configured, but built without a JWKS source: a wiring bug, answered `500`.
    NoSource,
}

impl<D: Deps> Broker<D> {
    /// The broker, with `quotas` as the counter store when the configuration has a
    /// quota, `jwks` as the issuer's keys when it re-verifies tokens and `devices` as the
    /// session store when it has one (each is not touched otherwise, so it may be a
    /// client never used).
    pub fn new(
        config: &Config,
        secrets: D::Secrets,
        parsec: D::Parsec,
        quotas: Option<D::Quotas>,
        jwks: Option<D::Jwks>,
        devices: Option<DeviceStore<D::Seal, D::Sessions>>,
    ) -> Self {
        let tokens = match (&config.jwt, jwks) {
            (None, _) => TokenCheck::Off,
            (Some(jwt), Some(source)) => {
                TokenCheck::On(TokenVerifier::new(source, jwt.issuer.clone(), jwt.audiences.clone()))
            }
            (Some(_), None) => TokenCheck::NoSource,
        };
        Broker {
            tokens,
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
            devices: config.devices.as_ref().zip(devices).map(|(d, DeviceStore { seal, store })| {
                let seal = KeyCache::named(seal, config.secret_cache_ttl, "seal secret");
                DeviceSessions::new(seal, store, d.store_wait, d.min_remaining)
            }),
        }
    }

    /// Answers one request. Never fails: a caught panic is `500 internal_error`.
    pub async fn handle(&self, inbound: Inbound<'_>) -> Outcome {
        let mut record = Record::of(&inbound);
        let result = panic_guard::catch_panic(self.checked_session(&inbound, &mut record))
            .await
            .unwrap_or(Err(BrokerError::Internal));
        if let Ok(session) = &result {
            record.expires_at = Some(session.expires_at);
        }
        Outcome { result, record }
    }

    /// The contract's check table, in its order (check 1, a readable event, is
    /// the entry point's), then the session.
    async fn checked_session(
        &self,
        request: &Inbound<'_>,
        record: &mut Record,
    ) -> Result<Session, BrokerError> {
        // 2. method is POST
        if request.method != "POST" {
            return Err(BrokerError::MethodNotAllowed);
        }
        // 3. an authorizer vouched for a caller
        let caller = request.caller.as_ref().ok_or(BrokerError::Unauthenticated)?;
        record.caller(caller);
        // 4. with JWT_ISSUER: the token verifies, and the context agrees with it
        let caller = self.verified(caller, request.token, request.deadline, record).await?;
        // 5. not a guest; holds REQUIRED_SCOPE
        self.policy.check_caller(&caller)?;
        // 6–8. size, media type, shape
        let body = body::parse(request.content_type, request.body)?;
        // 9–10. which user, and the external_id rules
        let external_id = self.policy.external_id(&caller, body.external_id.as_deref())?;
        record.external_id = Some(external_id.as_str().to_owned());
        // 11. device_id and renew
        let device = body::device(&body)?;
        // 12. the device's stored session, else the quota, then key → Parsec → the rotated-key retry
        match (device, &self.devices) {
            (Some(device), Some(devices)) => {
                self.device_session(devices, &external_id, &device, request.deadline, record).await
            }
            (device, _) => {
                let session = self.session_within_quota(&external_id, request.deadline, record).await?;
                if device.is_some() {
                    record.session = Some("minted_without_store");
                }
                Ok(session)
            }
        }
    }

    /// The caller the checks after 4 read: the context's without `JWT_ISSUER`, else
    /// the verified token's, once the context agrees with it.
    async fn verified<'c>(
        &self,
        context: &'c Caller,
        token: Option<BearerToken<'_>>,
        deadline: tokio::time::Instant,
        record: &mut Record,
    ) -> Result<Cow<'c, Caller>, BrokerError> {
        let verifier = match &self.tokens {
            TokenCheck::Off => return Ok(Cow::Borrowed(context)),
            TokenCheck::On(verifier) => verifier,
            TokenCheck::NoSource => {
                record.detail = Some("JWT_ISSUER is set but no JWKS source was built".to_owned());
                return Err(BrokerError::Misconfigured);
            }
        };
        let mut reject = |why: String| {
            record.detail = Some(why);
            BrokerError::TokenRejected
        };
        if !matches!(context.kind(), CallerKind::Jwt | CallerKind::Cognito) {
            return Err(reject(format!("a {} context where a JWT one is required", context.kind().as_str())));
        }
        let token = token.ok_or_else(|| reject("no token in the Authorization header".to_owned()))?;
        let verified = verifier.verify(token, deadline).await.map_err(|e| match e {
            TokenError::Rejected(why) => reject(why.to_owned()),
            TokenError::KeysUnavailable { retry_after } => BrokerError::JwksUnavailable {
                retry_after: retry_after.as_secs_f64().ceil().max(1.0).to_string(),
            },
        })?;
        context_agrees(context, &verified).map_err(|d| {
            reject(match d {
                Disagreement::Claim(name) => {
                    // The name is the event's own text: cut, so a forged event cannot flood the log.
                    let cut: String = name.chars().take(64).collect();
                    format!("the context's claim `{cut}` is not the token's")
                }
                Disagreement::Scope => "the context reports a scope the token does not hold".to_owned(),
            })
        })?;
        let caller =
            verified.caller(context.kind()).ok_or_else(|| reject("the token has no claims".to_owned()))?;
        record.caller(&caller);
        Ok(Cow::Owned(caller))
    }

    /// What was counted since the last call: the metrics of the request that asks.
    pub fn take_counters(&self) -> Counters {
        Counters {
            secret_fetches: self.keys.take_fetch_count()
                + self.devices.as_ref().map_or(0, DeviceSessions::take_secret_fetch_count),
            session_store_failures: self.devices.as_ref().map(DeviceSessions::take_failure_count),
            secret_refresh_failures: self.keys.take_failed_refresh_count(),
            quota_store_failures: self.quota.as_ref().map(QuotaGate::take_failure_count),
        }
    }

    /// Fetches the key during Init and, at the same time, the issuer's JWKS (with
    /// `JWT_ISSUER`), the seal secret (with a session store) and, with `PARSEC_WARM_UP`,
    /// the Parsec connection, so the first request waits for none of them.
    pub async fn prime(&self) {
        let warm_up = async {
            if self.parsec_warm_up {
                self.parsec.warm_up().await;
            }
        };
        let tokens = async {
            if let TokenCheck::On(verifier) = &self.tokens {
                verifier.prime().await;
            }
        };
        let seal = async {
            if let Some(devices) = &self.devices {
                devices.prime().await;
            }
        };
        let (fetched, (), (), ()) = tokio::join!(self.keys.prime(), warm_up, tokens, seal);
        match fetched {
            Ok(()) => tracing::debug!("API key fetched during Init"),
            Err(e) => {
                tracing::warn!(reason = %e, "could not fetch the API key during Init; requests will retry")
            }
        }
    }
}

/// A secret (`what`: the API key or the seal secret) that could not be had: `503` while
/// Secrets Manager fails, `500` when the secret is unusable.
pub(crate) fn secret_error(e: SecretError, what: &str, record: &mut Record) -> BrokerError {
    record.detail = Some(format!("{what}: {e}"));
    match e {
        SecretError::Transient(_) => BrokerError::SecretUnavailable,
        SecretError::Misconfigured(_) => BrokerError::Misconfigured,
    }
}
