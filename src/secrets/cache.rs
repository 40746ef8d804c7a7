//! The process-wide cache of the API key (see `docs/contract.md`, "Secrets
//! Manager"). Fetched during Init and reused for the TTL. After the TTL the
//! cached key keeps serving while one refresh runs in the background
//! (stale-while-revalidate): a request waits at most [`REFRESH_WAIT`] for it,
//! and a slow or failing Secrets Manager never takes a request's Parsec
//! budget. A failed refresh is retried no sooner than [`REFRESH_BACKOFF`]
//! (with jitter). A stale key is served for at most [`MAX_STALE`] past its TTL.
//! When Parsec rejects the key, one refetch; rejections of the same version
//! within [`REJECTION_WINDOW`] reuse its result.
//!
//! | state | a request gets | Secrets Manager sees |
//! | --- | --- | --- |
//! | fresh (within the TTL) | the cached key | nothing |
//! | stale, refreshing | the refreshed key if it lands within 250 ms, else the cached one | one refresh at a time |
//! | stale, refresh failing | the cached key at once | one refresh every 2-4 s |
//! | nothing cached (cold start failed, or past `MAX_STALE`) | a fetch within its deadline, else `503` | one fetch at a time |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;
use tokio::time::{timeout_at, Instant};

use crate::secrets::{SecretError, SecretSource, Versioned};

/// The longest a request waits for a background refresh it started.
pub const REFRESH_WAIT: Duration = Duration::from_millis(250);
/// After a failed refresh, the next one starts no sooner than this, plus up
/// to as much again of jitter (so a fleet does not refresh in step).
pub const REFRESH_BACKOFF: Duration = Duration::from_secs(2);
/// How long past its TTL a key is served while Secrets Manager keeps failing.
/// The rejection path covers a revoked key; this bounds a rotation missed
/// because Secrets Manager was down.
pub const MAX_STALE: Duration = Duration::from_secs(6 * 3600);
/// Rejections of the same key version within this window share one refetch.
pub const REJECTION_WINDOW: Duration = Duration::from_secs(10);

pub struct KeyCache<S: SecretSource> {
    inner: Arc<Inner<S>>,
}

struct Inner<S: SecretSource> {
    source: S,
    /// What the secret is, for the warnings: "API key" or "seal secret".
    what: &'static str,
    ttl: Duration,
    state: StdMutex<State<S::Value>>,
    /// Serialises the fetches requests wait for (cold path, rejection path).
    fetching: Mutex<()>,
    fetches: AtomicU64,
    failed_refreshes: AtomicU64,
}

struct State<T> {
    entry: Option<Entry<T>>,
    /// A background refresh is running.
    refreshing: bool,
    /// No background refresh before this (after a failed one).
    retry_at: Option<Instant>,
    /// The last refetch after a rejection, shared by rejections that follow it.
    rejection: Option<Rejection<T>>,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        State { entry: None, refreshing: false, retry_at: None, rejection: None }
    }
}

#[derive(Clone)]
struct Entry<T> {
    key: Versioned<T>,
    fetched_at: Instant,
}

struct Rejection<T> {
    at: Instant,
    version: Arc<str>,
    replacement: Option<Versioned<T>>,
}

/// What the cache holds for a request, decided under the lock.
enum Lookup<T> {
    Fresh(Versioned<T>),
    Stale { key: Versioned<T>, start_refresh: bool },
    Missing,
}

impl<S: SecretSource> KeyCache<S> {
    /// The cache of the API key.
    pub fn new(source: S, ttl: Duration) -> Self {
        KeyCache::named(source, ttl, "API key")
    }

    /// The cache of a secret the warnings call `what`.
    pub fn named(source: S, ttl: Duration, what: &'static str) -> Self {
        KeyCache {
            inner: Arc::new(Inner {
                source,
                what,
                ttl,
                state: StdMutex::new(State::default()),
                fetching: Mutex::new(()),
                fetches: AtomicU64::new(0),
                failed_refreshes: AtomicU64::new(0),
            }),
        }
    }

    /// The Init-time fetch. A failure is logged, not fatal: requests retry it.
    pub async fn prime(&self) -> Result<(), SecretError> {
        let _guard = self.inner.fetching.lock().await;
        let fetched = self.inner.fetch().await;
        self.inner.record(fetched).map(drop)
    }

    /// The key to use now: the cached one within the TTL; past it, the cached
    /// one while a background refresh runs (waiting at most [`REFRESH_WAIT`]
    /// for it); with nothing usable cached, a fetch bounded by `deadline`.
    pub async fn current(&self, deadline: Instant) -> Result<Versioned<S::Value>, SecretError> {
        match self.inner.lookup() {
            Lookup::Fresh(key) => Ok(key),
            Lookup::Stale { key, start_refresh: false } => Ok(key),
            Lookup::Stale { key, start_refresh: true } => {
                let refresh = tokio::spawn(Arc::clone(&self.inner).refresh());
                let wait_until = deadline.min(Instant::now() + REFRESH_WAIT);
                match timeout_at(wait_until, refresh).await {
                    Ok(Ok(Ok(fresh))) => Ok(fresh),
                    Ok(Ok(Err(e @ SecretError::Misconfigured(_)))) => Err(e),
                    _ => Ok(key), // still running (it goes on), failed transiently, or panicked
                }
            }
            Lookup::Missing => self.fetch_now(deadline).await,
        }
    }

    /// Nothing usable is cached: fetch while the request waits, one at a time.
    async fn fetch_now(&self, deadline: Instant) -> Result<Versioned<S::Value>, SecretError> {
        let inner = &self.inner;
        let attempt = async {
            let _guard = inner.fetching.lock().await;
            if let Lookup::Fresh(key) | Lookup::Stale { key, .. } = inner.lookup_quietly() {
                return Ok(key); // another invocation fetched it while we waited
            }
            inner.record(inner.fetch().await)
        };
        timeout_at(deadline, attempt)
            .await
            .unwrap_or_else(|_| Err(SecretError::Transient("timed out fetching the secret".into())))
    }

    /// After Parsec rejected `rejected`: the new key if the secret's version
    /// changed, else `None` (do not retry). One refetch per rejected version
    /// per [`REJECTION_WINDOW`]; later rejections reuse its result.
    pub async fn refresh_after_rejection(
        &self,
        rejected: &Versioned<S::Value>,
        deadline: Instant,
    ) -> Option<Versioned<S::Value>> {
        let inner = &self.inner;
        let attempt = async {
            let _guard = inner.fetching.lock().await;
            {
                let state = inner.lock();
                if let Some(current) = state.entry.as_ref().filter(|e| e.key.version != rejected.version) {
                    return Some(current.key.clone()); // already rotated by a concurrent invocation
                }
                if let Some(shared) = state
                    .rejection
                    .as_ref()
                    .filter(|r| r.version == rejected.version && r.at.elapsed() < REJECTION_WINDOW)
                {
                    return shared.replacement.clone();
                }
            }
            let replacement = match inner.record(inner.fetch().await) {
                Ok(fresh) if fresh.version != rejected.version => Some(fresh),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(reason = %e, "could not refetch the secret after Parsec rejected the key");
                    None
                }
            };
            inner.lock().rejection = Some(Rejection {
                at: Instant::now(),
                version: rejected.version.clone(),
                replacement: replacement.clone(),
            });
            replacement
        };
        timeout_at(deadline, attempt).await.ok().flatten()
    }

    /// Fetches made since the last call (for the `SecretFetches` metric).
    pub fn take_fetch_count(&self) -> u64 {
        self.inner.fetches.swap(0, Ordering::Relaxed)
    }

    /// Background refreshes that failed since the last call (for the
    /// `SecretRefreshFailures` metric).
    pub fn take_failed_refresh_count(&self) -> u64 {
        self.inner.failed_refreshes.swap(0, Ordering::Relaxed)
    }
}

impl<S: SecretSource> Inner<S> {
    fn lock(&self) -> MutexGuard<'_, State<S::Value>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What a request gets, claiming the background refresh when one is due.
    fn lookup(&self) -> Lookup<S::Value> {
        let mut state = self.lock();
        let now = Instant::now();
        let due = !state.refreshing && state.retry_at.is_none_or(|at| now >= at);
        match self.classify(&state) {
            Lookup::Stale { key, .. } => {
                if due {
                    state.refreshing = true;
                }
                Lookup::Stale { key, start_refresh: due }
            }
            other => other,
        }
    }

    /// [`Self::lookup`] without claiming a refresh.
    fn lookup_quietly(&self) -> Lookup<S::Value> {
        self.classify(&self.lock())
    }

    fn classify(&self, state: &State<S::Value>) -> Lookup<S::Value> {
        match &state.entry {
            Some(e) if e.fetched_at.elapsed() < self.ttl => Lookup::Fresh(e.key.clone()),
            Some(e) if e.fetched_at.elapsed() < self.ttl.saturating_add(MAX_STALE) => {
                Lookup::Stale { key: e.key.clone(), start_refresh: false }
            }
            _ => Lookup::Missing,
        }
    }

    /// The background refresh: one at a time (the caller claimed it). A
    /// transient failure keeps the cached key and backs off; one warning each.
    async fn refresh(self: Arc<Self>) -> Result<Versioned<S::Value>, SecretError> {
        let claim = RefreshClaim(&self);
        let fetched = self.fetch().await;
        let result = self.record(fetched);
        if let Err(e) = &result {
            self.failed_refreshes.fetch_add(1, Ordering::Relaxed);
            let backoff = REFRESH_BACKOFF + jitter(REFRESH_BACKOFF);
            self.lock().retry_at = Some(Instant::now() + backoff);
            tracing::warn!(
                reason = %e,
                retry_in_ms = backoff.as_millis() as u64,
                "could not refresh the {}; serving the cached key",
                self.what
            );
        }
        drop(claim);
        result
    }

    async fn fetch(&self) -> Result<Versioned<S::Value>, SecretError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.source.fetch().await
    }

    /// Stores a successful fetch; forgets the key when the secret became unusable.
    fn record(
        &self,
        fetched: Result<Versioned<S::Value>, SecretError>,
    ) -> Result<Versioned<S::Value>, SecretError> {
        let mut state = self.lock();
        match &fetched {
            Ok(key) => {
                state.entry = Some(Entry { key: key.clone(), fetched_at: Instant::now() });
                state.retry_at = None;
            }
            Err(SecretError::Misconfigured(_)) => state.entry = None,
            Err(SecretError::Transient(_)) => {}
        }
        fetched
    }
}

/// Releases the refresh claim however the refresh ends (panics included).
struct RefreshClaim<'a, S: SecretSource>(&'a Inner<S>);

impl<S: SecretSource> Drop for RefreshClaim<'_, S> {
    fn drop(&mut self) {
        self.0.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).refreshing = false;
    }
}

/// Up to `max` of jitter, from the clock's sub-second digits: enough to keep
/// execution environments out of step, with no random-number crate.
fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    max.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

#[cfg(test)]
mod tests;
