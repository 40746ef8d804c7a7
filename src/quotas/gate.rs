//! The quota as the broker applies it: N sessions per user per fixed window (windows aligned
//! to multiples of the window's length since the epoch). The store is asked first and waited
//! for at most [`STORE_WAIT`] (`QUOTA_STORE_WAIT_MS`); when it fails or is slow, a per-process
//! counter enforces the same limit, and the store is tried again after [`STORE_RETRY`]. One
//! warning per failure burst; every failure counts in `QuotaStoreFailures`. A store never
//! turns into a 5xx.
//!
//! The per-process counter starts from the highest count the store reported, and a store
//! grant that, with the grants this process made on its own or already handed out, would
//! pass the limit is given back and refused: one process never hands out more than N in a
//! window, even when it switched between the two counters mid-burst (a store write given up
//! on may or may not have landed). Across execution environments the store's conditional
//! write is what keeps the count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::{timeout, Instant};

use crate::quotas::per_process::PerProcessCounter;
use crate::quotas::{QuotaKey, QuotaStore, Take};

/// The longest a request waits for the store.
pub const STORE_WAIT: Duration = Duration::from_millis(250);
/// After a store failure, how long the per-process counter answers alone.
pub const STORE_RETRY: Duration = Duration::from_secs(1);
/// How long after its window a counter may still be read before TTL removes it.
pub const EXPIRY_MARGIN_SECS: u64 = 300;

/// `SESSION_QUOTA=<limit>/<window_secs>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimit {
    pub limit: u32,
    pub window_secs: u64,
}

impl QuotaLimit {
    /// `N/SECONDS`, both positive integers.
    pub fn parse(text: &str) -> Option<QuotaLimit> {
        let (limit, window) = text.trim().split_once('/')?;
        let limit: u32 = limit.trim().parse().ok().filter(|n| *n > 0)?;
        let window_secs: u64 = window.trim().parse().ok().filter(|s| *s > 0 && *s <= 366 * 86_400)?;
        Some(QuotaLimit { limit, window_secs })
    }

    fn window_start(&self, now_epoch: u64) -> u64 {
        now_epoch - now_epoch % self.window_secs
    }
}

/// Which counter took the unit: a refund goes back to the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Store,
    Local,
}

impl Counter {
    pub fn as_str(self) -> &'static str {
        match self {
            Counter::Store => "store",
            Counter::Local => "local",
        }
    }
}

/// One unit taken for one user in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    key: QuotaKey,
    pub by: Counter,
}

/// Over the limit: whole seconds until the window ends (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub retry_after_secs: u64,
    pub by: Counter,
}

/// Why a unit was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Exceeded(Exceeded),
    /// The store answered with a permanent error (no table, no permission): `500 misconfigured`,
    /// never a silent fall back to per-process counting. The error code, for the audit line.
    Misconfigured(String),
}

impl Refused {
    /// The limit that was reached, if that is why.
    pub fn exceeded(&self) -> Option<Exceeded> {
        match self {
            Refused::Exceeded(exceeded) => Some(*exceeded),
            Refused::Misconfigured(_) => None,
        }
    }
}

pub struct QuotaGate<Q> {
    store: Q,
    limit: QuotaLimit,
    store_wait: Duration,
    local: PerProcessCounter,
    health: Mutex<Health>,
    failures: AtomicU64,
}

#[derive(Default)]
struct Health {
    /// While set and in the future, the store is not asked.
    retry_store_at: Option<Instant>,
    /// A failure burst is on (its one warning was logged).
    failing: bool,
}

impl<Q: QuotaStore> QuotaGate<Q> {
    /// `store_wait`: the longest a request waits for the store ([`STORE_WAIT`] by default).
    pub fn new(store: Q, limit: QuotaLimit, store_wait: Duration) -> Self {
        QuotaGate {
            store,
            limit,
            store_wait,
            local: PerProcessCounter::default(),
            health: Mutex::default(),
            failures: AtomicU64::new(0),
        }
    }

    /// Takes one unit for `external_id` at `now_epoch` (seconds).
    pub async fn take(&self, external_id: &str, now_epoch: u64) -> Result<Grant, Refused> {
        let window_start = self.limit.window_start(now_epoch);
        let window_end = window_start + self.limit.window_secs;
        let key = QuotaKey { external_id: external_id.to_owned(), window_start };
        let exceeded = |by| {
            Refused::Exceeded(Exceeded { retry_after_secs: window_end.saturating_sub(now_epoch).max(1), by })
        };
        if self.store_is_due() {
            let asked = timeout(
                self.store_wait,
                self.store.take(&key, self.limit.limit, window_end + EXPIRY_MARGIN_SECS),
            );
            match asked.await {
                Ok(Ok(taken)) => {
                    self.store_answered();
                    return match taken {
                        Take::Granted { count } => {
                            if self.local.admit_store_grant(&key, count, self.limit.limit) {
                                return Ok(Grant { key, by: Counter::Store });
                            }
                            self.store_give_back(&key).await;
                            Err(exceeded(Counter::Store))
                        }
                        Take::Exhausted { count } => {
                            self.local.observe(&key, count);
                            Err(exceeded(Counter::Store))
                        }
                    };
                }
                Ok(Err(e)) if e.permanent => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    return Err(Refused::Misconfigured(e.reason));
                }
                Ok(Err(e)) => self.store_failed(&e.reason),
                Err(_) => self.store_failed("no answer in time"),
            }
        }
        match self.local.take(&key, self.limit.limit) {
            Take::Granted { .. } => Ok(Grant { key, by: Counter::Local }),
            Take::Exhausted { .. } => Err(exceeded(Counter::Local)),
        }
    }

    /// Gives a unit back after Parsec did not create the session.
    pub async fn give_back(&self, grant: &Grant) {
        match grant.by {
            Counter::Local => self.local.give_back(&grant.key),
            Counter::Store => {
                self.local.release_store_grant(&grant.key);
                self.store_give_back(&grant.key).await;
            }
        }
    }

    async fn store_give_back(&self, key: &QuotaKey) {
        match timeout(self.store_wait, self.store.give_back(key)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(reason = %e, "could not give a quota unit back"),
            Err(_) => tracing::warn!("could not give a quota unit back: no answer in time"),
        }
    }

    /// Store failures since the last call (for the `QuotaStoreFailures` metric).
    pub fn take_failure_count(&self) -> u64 {
        self.failures.swap(0, Ordering::Relaxed)
    }

    fn store_is_due(&self) -> bool {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        health.retry_store_at.is_none_or(|at| Instant::now() >= at)
    }

    fn store_answered(&self) {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if health.failing {
            tracing::info!("the quota store answers again; counting there");
        }
        *health = Health::default();
    }

    fn store_failed(&self, why: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        health.retry_store_at = Some(Instant::now() + STORE_RETRY);
        if !health.failing {
            health.failing = true;
            tracing::warn!(
                reason = why,
                "the quota store is failing; counting in this process until it answers"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quotas::memory::MemoryQuotaStore;
    use std::sync::Arc;

    const HOUR: QuotaLimit = QuotaLimit { limit: 2, window_secs: 3600 };

    fn gate() -> (QuotaGate<Arc<MemoryQuotaStore>>, Arc<MemoryQuotaStore>) {
        let store = Arc::new(MemoryQuotaStore::default());
        (QuotaGate::new(store.clone(), HOUR, STORE_WAIT), store)
    }

    #[test]
    fn only_positive_n_and_seconds_make_a_quota() {
        assert_eq!(QuotaLimit::parse("5/60"), Some(QuotaLimit { limit: 5, window_secs: 60 }));
        for bad in [
            "",
            "5",
            "/60",
            "5/",
            "0/60",
            "5/0",
            "-1/60",
            "5/-60",
            "5.5/60",
            "a/b",
            "5/60/1",
            "5/99999999999",
        ] {
            assert_eq!(QuotaLimit::parse(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn windows_are_aligned_to_the_epoch_and_retry_after_runs_to_the_window_end() {
        let (gate, store) = gate();
        let now = 7200 + 3000; // 3000 s into the window that started at 7200
        gate.take("u", now).await.unwrap();
        gate.take("u", now).await.unwrap();
        let refused = gate.take("u", now).await.unwrap_err();
        assert_eq!(refused, Refused::Exceeded(Exceeded { retry_after_secs: 600, by: Counter::Store }));
        assert_eq!(store.count(&QuotaKey { external_id: "u".into(), window_start: 7200 }), 2);
        assert!(gate.take("u", 10_800).await.is_ok(), "the next window starts afresh");
        let last_second = gate.take("u", 10_800 + 3599).await;
        assert!(last_second.is_ok());
        assert_eq!(gate.take("u", 10_800 + 3599).await.unwrap_err().exceeded().unwrap().retry_after_secs, 1);
    }

    #[tokio::test]
    async fn a_refund_goes_back_to_the_counter_that_took_it() {
        let (gate, store) = gate();
        let grant = gate.take("u", 100).await.unwrap();
        gate.give_back(&grant).await;
        assert_eq!(store.count(&grant.key), 0);
    }

    #[tokio::test]
    async fn a_missing_table_is_a_misconfiguration_every_time_never_a_per_process_quota() {
        let (gate, store) = gate();
        store.set_missing_table();
        for _ in 0..3 {
            let refused = gate.take("u", 100).await.unwrap_err();
            assert_eq!(refused, Refused::Misconfigured("ResourceNotFoundException".into()));
        }
        assert_eq!(
            store.calls(),
            3,
            "no back-off: the next request asks again, so a fix takes effect at once"
        );
        assert_eq!(gate.take_failure_count(), 3);
        store.set_failing(false);
        assert_eq!(gate.take("u", 100).await.unwrap().by, Counter::Store);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_store_falls_back_to_the_same_limit_in_process_then_recovers() {
        let (gate, store) = gate();
        store.set_failing(true);
        assert_eq!(gate.take("u", 100).await.unwrap().by, Counter::Local);
        assert_eq!(gate.take("u", 100).await.unwrap().by, Counter::Local);
        assert_eq!(gate.take("u", 100).await.unwrap_err().exceeded().unwrap().by, Counter::Local);
        assert_eq!(store.calls(), 1, "within STORE_RETRY the store is not asked again");
        assert_eq!(gate.take_failure_count(), 1);
        store.set_failing(false);
        tokio::time::advance(STORE_RETRY).await;
        assert_eq!(gate.take("v", 100).await.unwrap().by, Counter::Store, "back to the store");
        assert_eq!(
            gate.take("u", 100).await.unwrap_err().exceeded().unwrap().by,
            Counter::Store,
            "u had its 2 in-process"
        );
        assert_eq!(gate.take_failure_count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fallback_in_the_middle_of_a_window_continues_from_the_stores_count() {
        let (gate, store) = gate();
        assert_eq!(gate.take("u", 100).await.unwrap().by, Counter::Store);
        store.set_hanging(true);
        assert_eq!(gate.take("u", 100).await.unwrap().by, Counter::Local);
        assert_eq!(
            gate.take("u", 100).await.unwrap_err().exceeded().unwrap().by,
            Counter::Local,
            "1 by the store + 1 here = 2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn grants_made_in_process_count_against_later_store_grants() {
        let (gate, store) = gate();
        store.set_failing(true);
        assert_eq!(gate.take("u", 100).await.unwrap().by, Counter::Local);
        store.set_failing(false);
        tokio::time::advance(STORE_RETRY).await;
        // The store knows nothing of the local grant: it grants its first unit...
        assert_eq!(gate.take("u", 100).await.unwrap().by, Counter::Store);
        // ...and its second, which with the local one would be 3 of 2: given back, refused.
        assert_eq!(gate.take("u", 100).await.unwrap_err().exceeded().unwrap().by, Counter::Store);
        assert_eq!(store.count(&QuotaKey { external_id: "u".into(), window_start: 0 }), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_never_answers_is_waited_for_at_most_250_ms() {
        let (gate, store) = gate();
        store.set_hanging(true);
        let started = Instant::now();
        assert_eq!(gate.take("u", 100).await.unwrap().by, Counter::Local);
        assert_eq!(started.elapsed(), STORE_WAIT);
        assert_eq!(gate.take_failure_count(), 1);
    }
}
