//! Check 12 for a request naming a device, with a session store (`SESSION_STORE_TABLE`):
//! reuse the device's live session, or take the lease and mint the one session concurrent
//! duplicates share (`docs/contract.md`, "Device sessions"). Every store call is bounded by
//! `SESSION_STORE_WAIT_MS`; a transient failure mints without reuse, a permanent one is a
//! misconfiguration.
//!
//! | the item holds | the request |
//! | --- | --- |
//! | a session that opens, with enough life left (not the one a `renew` refuses) | `200`, that session |
//! | a live lease and no such session | waits for the holder (≤ 2 s, within its deadline): `200` with its session, else `409` |
//! | nothing, an old session, one that does not open, or the one `renew` refuses | takes the lease, then quota → mint → seal → store: `201` |

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tokio::time::{sleep, timeout_at, Instant};

use crate::broker::outcome::Record;
use crate::broker::{secret_error, Broker, Deps};
use crate::domain::body::Device;
use crate::domain::error::BrokerError;
use crate::domain::external_id::ExternalId;
use crate::parsec::Session;
use crate::secrets::cache::KeyCache;
use crate::secrets::{SecretSource, Versioned};
use crate::sessions::seal::SealKeys;
use crate::sessions::{Claim, ItemKey, Lease, LeaseRequest, Replace, SessionStore, StoreError, StoredItem};

/// The longest a request waits for another one minting the same device's session.
pub const WAIT_FOR_HOLDER: Duration = Duration::from_secs(2);
/// Read → lease rounds before a request that keeps losing the race answers `409`.
const MAX_ROUNDS: usize = 4;
/// The first pause between reads while waiting; it doubles up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(25);
const MAX_POLL: Duration = Duration::from_millis(200);
/// A lease lasts until the holder's deadline, and never less than this (a lease computed
/// from a deadline that has nearly passed would expire before it was written).
const MIN_LEASE: Duration = Duration::from_secs(1);
/// The TTL attribute: this long after the stored session expires (DynamoDB deletes late,
/// and every read compares `session_expires_at` anyway) …
const KEPT_PAST_EXPIRY_SECS: u64 = 3600;
/// … and, for an item holding only a lease, this long after it was taken (longer than any
/// Parsec session lives, so a renew's lease never shortens the stored session's TTL).
const LEASE_ITEM_TTL_SECS: u64 = 4 * 3600;

/// The store, the seal secret's cache, and the store's health.
pub struct DeviceSessions<K: SecretSource, T> {
    seal: KeyCache<K>,
    store: T,
    wait: Duration,
    min_remaining: Duration,
    /// The last store call failed: the next failure does not warn again.
    failing: AtomicBool,
    failures: AtomicU64,
}

/// How a request sees what the store holds.
enum Judged {
    Usable(Session),
    InFlight,
    Replaceable(Replace),
}

/// How a wait for another request's lease ended.
enum Waited {
    /// The lease is gone or expired; the item as it is now.
    Free(Option<StoredItem>),
    StillHeld,
}

impl<K: SecretSource<Value = Arc<SealKeys>>, T: SessionStore> DeviceSessions<K, T> {
    pub(crate) fn new(seal: KeyCache<K>, store: T, wait: Duration, min_remaining: Duration) -> Self {
        DeviceSessions {
            seal,
            store,
            wait,
            min_remaining,
            failing: AtomicBool::new(false),
            failures: AtomicU64::new(0),
        }
    }

    pub(crate) async fn prime(&self) {
        if let Err(e) = self.seal.prime().await {
            tracing::warn!(reason = %e, "could not fetch the seal secret during Init; requests will retry");
        }
    }

    /// Store failures since the last call (the `SessionStoreFailures` metric).
    pub(crate) fn take_failure_count(&self) -> u64 {
        self.failures.swap(0, Ordering::Relaxed)
    }

    pub(crate) fn take_secret_fetch_count(&self) -> u64 {
        self.seal.take_fetch_count()
    }

    /// One store call within `SESSION_STORE_WAIT_MS` (and `deadline`), with the health
    /// bookkeeping: one warning per failure burst.
    async fn call<R>(
        &self,
        call: impl std::future::Future<Output = Result<R, StoreError>>,
        deadline: Instant,
    ) -> Result<R, StoreError> {
        let bound = deadline.min(Instant::now() + self.wait);
        let result = timeout_at(bound, call)
            .await
            .unwrap_or_else(|_| Err(StoreError::transient("no answer within SESSION_STORE_WAIT_MS")));
        match &result {
            Ok(_) => self.failing.store(false, Ordering::Relaxed),
            Err(e) if !e.permanent => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(reason = %e.reason, "the session store failed; minting without reuse until it answers");
                }
            }
            Err(_) => {}
        }
        result
    }

    fn judge(
        &self,
        found: Option<&StoredItem>,
        keys: &Versioned<Arc<SealKeys>>,
        item: &ItemKey,
        refused: Option<&[u8]>,
    ) -> Judged {
        let now_ms = epoch_ms();
        let fresh_from = (now_ms / 1000) as i64 + self.min_remaining.as_secs() as i64;
        let sealed = found.and_then(|f| f.sealed.as_ref()).filter(|s| s.session_expires_at >= fresh_from);
        let usable = sealed
            .filter(|s| refused != Some(s.ct.as_slice()))
            .and_then(|s| keys.key.open(item, &keys.version, s));
        match (usable, found.and_then(|f| f.live_lease(now_ms))) {
            (Some(session), _) => Judged::Usable(session),
            (None, Some(_)) => Judged::InFlight,
            // A session with life left that will not do (renew refused it, or it does not
            // open here) may be replaced whatever its expiry; otherwise only an old one.
            (None, None) if sealed.is_some() => Judged::Replaceable(Replace::Any),
            (None, None) => Judged::Replaceable(Replace::ExpiringBefore(fresh_from)),
        }
    }

    /// Reads until nobody holds a live lease, up to `until`.
    async fn wait_for_holder(
        &self,
        item: &ItemKey,
        until: Instant,
        deadline: Instant,
    ) -> Result<Waited, StoreError> {
        let mut pause = FIRST_POLL;
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(Waited::StillHeld);
            }
            sleep(pause.min(until - now)).await;
            pause = (pause * 2).min(MAX_POLL);
            let found = self.call(self.store.read(item), deadline).await?;
            if found.as_ref().and_then(|f| f.live_lease(epoch_ms())).is_none() {
                return Ok(Waited::Free(found));
            }
        }
    }
}

impl<D: Deps> Broker<D> {
    /// The device's session: reused, waited for, or minted under the lease.
    pub(crate) async fn device_session(
        &self,
        devices: &DeviceSessions<D::Seal, D::Sessions>,
        external_id: &ExternalId,
        device: &Device,
        deadline: Instant,
        record: &mut Record,
    ) -> Result<Session, BrokerError> {
        let keys =
            devices.seal.current(deadline).await.map_err(|e| secret_error(e, "seal secret", record))?;
        let item = keys.key.item_key(external_id.as_str(), &device.id);
        let minted = if device.renew { "renewed" } else { "minted" };
        let wait_until = deadline.min(Instant::now() + WAIT_FOR_HOLDER);
        // What the next round judges, when a wait or a refused lease already read it.
        let mut known: Option<Option<StoredItem>> = None;
        // With renew: the stored session this request asks to replace.
        let mut refused: Option<Vec<u8>> = None;
        for round in 0..MAX_ROUNDS {
            let found = match known.take() {
                Some(found) => found,
                None => match devices.call(devices.store.read(&item), deadline).await {
                    Ok(found) => found,
                    Err(e) => return self.mint_unstored(e, external_id, deadline, minted, record).await,
                },
            };
            if round == 0 && device.renew {
                refused = found.as_ref().and_then(|f| f.sealed.as_ref()).map(|s| s.ct.clone());
            }
            match devices.judge(found.as_ref(), &keys, &item, refused.as_deref()) {
                Judged::Usable(session) => {
                    record.session = Some("reused");
                    return Ok(session);
                }
                Judged::InFlight => match devices.wait_for_holder(&item, wait_until, deadline).await {
                    Ok(Waited::Free(found)) => known = Some(found),
                    Ok(Waited::StillHeld) => break,
                    Err(e) => return self.mint_unstored(e, external_id, deadline, minted, record).await,
                },
                Judged::Replaceable(replace) => {
                    let now_ms = epoch_ms();
                    let lease = Lease {
                        owner: owner_id(&record.request_id),
                        until_ms: lease_until(now_ms, deadline),
                    };
                    let request = LeaseRequest {
                        lease,
                        now_ms,
                        replace,
                        expires_at: now_ms / 1000 + LEASE_ITEM_TTL_SECS,
                    };
                    match devices.call(devices.store.lease(&item, &request), deadline).await {
                        Ok(Claim::Taken) => {
                            return self
                                .mint_under_lease(
                                    devices,
                                    &keys,
                                    &item,
                                    &request.lease.owner,
                                    external_id,
                                    deadline,
                                    record,
                                )
                                .await
                                .inspect(|_| record.session = Some(minted))
                        }
                        // Someone else got there first: the next round looks at what they left.
                        Ok(Claim::Refused(item)) => known = item.map(Some),
                        Err(e) => return self.mint_unstored(e, external_id, deadline, minted, record).await,
                    }
                }
            }
        }
        record.detail = Some("another request held the device's lease".to_owned());
        Err(BrokerError::RequestInProgress)
    }

    /// Holding the lease: quota, Parsec, then the sealed session stored and the lease ended
    /// in one write. A failed mint releases the lease (any stored session stays as it was).
    #[allow(clippy::too_many_arguments)]
    async fn mint_under_lease(
        &self,
        devices: &DeviceSessions<D::Seal, D::Sessions>,
        keys: &Versioned<Arc<SealKeys>>,
        item: &ItemKey,
        owner: &str,
        external_id: &ExternalId,
        deadline: Instant,
        record: &mut Record,
    ) -> Result<Session, BrokerError> {
        let minted = self.session_within_quota(external_id, deadline, record).await;
        // Storing or releasing may take its bound even past the deadline's edge: the
        // session is the caller's either way, and a lease left behind expires on its own.
        let store_deadline = Instant::now() + devices.wait;
        let Ok(session) = &minted else {
            let _ = devices.call(devices.store.release(item, owner), store_deadline).await;
            return minted;
        };
        let Some(sealed) = keys.key.seal(item, &keys.version, session) else {
            tracing::warn!("could not seal the session (no randomness); it is not stored");
            let _ = devices.call(devices.store.release(item, owner), store_deadline).await;
            return minted;
        };
        let expires_at = u64::try_from(session.expires_at).unwrap_or(0) + KEPT_PAST_EXPIRY_SECS;
        match devices.call(devices.store.complete(item, owner, &sealed, expires_at), store_deadline).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("the device's lease expired before its session was stored; it is not stored")
            }
            Err(e) => tracing::warn!(reason = %e.reason, "could not store the device's session"),
        }
        minted
    }

    /// The store could not answer: a permanent failure is `500`; a transient one mints
    /// without reuse.
    async fn mint_unstored(
        &self,
        failure: StoreError,
        external_id: &ExternalId,
        deadline: Instant,
        minted: &'static str,
        record: &mut Record,
    ) -> Result<Session, BrokerError> {
        if failure.permanent {
            record.detail = Some(format!("the session store answered {}", failure.reason));
            return Err(BrokerError::Misconfigured);
        }
        let session = self.session_within_quota(external_id, deadline, record).await?;
        record.session = Some(minted);
        Ok(session)
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The holder's deadline as epoch ms, at least [`MIN_LEASE`] ahead.
fn lease_until(now_ms: u64, deadline: Instant) -> u64 {
    let left = deadline.saturating_duration_since(Instant::now()).max(MIN_LEASE);
    now_ms + left.as_millis() as u64
}

/// A random id for the lease's holder (the request id if the system has no randomness).
fn owner_id(request_id: &str) -> String {
    let mut bytes = [0u8; 16];
    match aws_lc_rs::rand::fill(&mut bytes) {
        Ok(()) => URL_SAFE_NO_PAD.encode(bytes),
        Err(_) => format!("{request_id}-{}", epoch_ms()),
    }
}
