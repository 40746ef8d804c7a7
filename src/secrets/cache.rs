//! The process-wide cache of the API key: fetched during Init, reused for the
//! TTL, refreshed at once when Parsec rejects it, and kept through transient
//! Secrets Manager failures. One fetch at a time, however many invocations
//! run concurrently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::{timeout_at, Instant};

use crate::secrets::{SecretError, SecretSource, VersionedKey};

pub struct KeyCache<S> {
    source: S,
    ttl: Duration,
    entry: RwLock<Option<Entry>>,
    fetching: Mutex<()>,
    fetches: AtomicU64,
}

#[derive(Clone)]
struct Entry {
    key: VersionedKey,
    fetched_at: Instant,
}

impl<S: SecretSource> KeyCache<S> {
    pub fn new(source: S, ttl: Duration) -> Self {
        KeyCache {
            source,
            ttl,
            entry: RwLock::new(None),
            fetching: Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    /// The Init-time fetch. A failure is logged, not fatal: requests retry it.
    pub async fn prime(&self) -> Result<(), SecretError> {
        let _guard = self.fetching.lock().await;
        let fetched = self.fetch().await;
        self.record(fetched).map(drop)
    }

    /// The key to use now: the cached one within the TTL, else a fresh fetch,
    /// else (on a transient failure) the stale one if there is one.
    pub async fn current(&self, deadline: Instant) -> Result<VersionedKey, SecretError> {
        if let Some(key) = self.fresh() {
            return Ok(key);
        }
        let attempt = async {
            let _guard = self.fetching.lock().await;
            if let Some(key) = self.fresh() {
                return Ok(key); // another invocation refreshed it while we waited
            }
            self.record(self.fetch().await)
        };
        let result = timeout_at(deadline, attempt)
            .await
            .unwrap_or_else(|_| Err(SecretError::Transient("timed out fetching the secret".into())));
        match result {
            Err(SecretError::Transient(why)) => match self.cached() {
                Some(stale) => {
                    tracing::warn!(reason = %why, "Secrets Manager unavailable; using the cached key");
                    Ok(stale)
                }
                None => Err(SecretError::Transient(why)),
            },
            other => other,
        }
    }

    /// After Parsec rejected `rejected`: fetch the secret again at once and
    /// return the new key if its version changed. `None` means do not retry.
    pub async fn refresh_after_rejection(
        &self,
        rejected: &VersionedKey,
        deadline: Instant,
    ) -> Option<VersionedKey> {
        let attempt = async {
            let _guard = self.fetching.lock().await;
            if let Some(current) = self.cached().filter(|c| c.version != rejected.version) {
                return Some(current); // already rotated by a concurrent invocation
            }
            match self.record(self.fetch().await) {
                Ok(fresh) if fresh.version != rejected.version => Some(fresh),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(reason = %e, "could not refetch the secret after Parsec rejected the key");
                    None
                }
            }
        };
        timeout_at(deadline, attempt).await.ok().flatten()
    }

    /// Fetches made since the last call (for the `SecretFetches` metric).
    pub fn take_fetch_count(&self) -> u64 {
        self.fetches.swap(0, Ordering::Relaxed)
    }

    async fn fetch(&self) -> Result<VersionedKey, SecretError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.source.fetch().await
    }

    /// Stores a successful fetch; forgets the key when the secret became unusable.
    fn record(&self, fetched: Result<VersionedKey, SecretError>) -> Result<VersionedKey, SecretError> {
        let mut entry = self.entry.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &fetched {
            Ok(key) => *entry = Some(Entry { key: key.clone(), fetched_at: Instant::now() }),
            Err(SecretError::Misconfigured(_)) => *entry = None,
            Err(SecretError::Transient(_)) => {}
        }
        fetched
    }

    fn fresh(&self) -> Option<VersionedKey> {
        let entry = self.entry.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        entry.as_ref().filter(|e| e.fetched_at.elapsed() < self.ttl).map(|e| e.key.clone())
    }

    fn cached(&self) -> Option<VersionedKey> {
        let entry = self.entry.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        entry.as_ref().map(|e| e.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::memory::{transient, versioned, MemorySecrets};

    fn key(version: &str) -> Result<VersionedKey, SecretError> {
        versioned(&format!("key-{version}"), version)
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn within_the_ttl_the_primed_key_is_reused_without_fetching() {
        let cache = KeyCache::new(MemorySecrets::scripted(vec![key("v1")]), Duration::from_secs(300));
        cache.prime().await.unwrap();
        for _ in 0..3 {
            assert_eq!(&*cache.current(later()).await.unwrap().version, "v1");
        }
        assert_eq!(cache.source.fetches(), 1);
    }

    #[tokio::test]
    async fn a_zero_ttl_fetches_for_every_request() {
        let cache =
            KeyCache::new(MemorySecrets::scripted(vec![key("v1"), key("v2"), key("v3")]), Duration::ZERO);
        cache.prime().await.unwrap();
        assert_eq!(&*cache.current(later()).await.unwrap().version, "v2");
        assert_eq!(&*cache.current(later()).await.unwrap().version, "v3");
    }

    #[tokio::test]
    async fn a_transient_failure_keeps_the_cached_key_and_the_next_fetch_recovers() {
        let cache =
            KeyCache::new(MemorySecrets::scripted(vec![key("v1"), transient(), key("v2")]), Duration::ZERO);
        cache.prime().await.unwrap();
        assert_eq!(&*cache.current(later()).await.unwrap().version, "v1");
        assert_eq!(&*cache.current(later()).await.unwrap().version, "v2");
    }

    #[tokio::test]
    async fn a_transient_failure_with_nothing_cached_is_an_error_until_a_fetch_works() {
        let cache = KeyCache::new(
            MemorySecrets::scripted(vec![transient(), transient(), key("v1")]),
            Duration::from_secs(300),
        );
        assert!(cache.prime().await.is_err());
        assert!(matches!(cache.current(later()).await, Err(SecretError::Transient(_))));
        assert_eq!(&*cache.current(later()).await.unwrap().version, "v1");
    }

    #[tokio::test]
    async fn a_misconfigured_secret_forgets_the_cached_key() {
        let gone = Err(SecretError::Misconfigured("not found".into()));
        let cache =
            KeyCache::new(MemorySecrets::scripted(vec![key("v1"), gone, transient()]), Duration::ZERO);
        cache.prime().await.unwrap();
        assert!(matches!(cache.current(later()).await, Err(SecretError::Misconfigured(_))));
        assert!(matches!(cache.current(later()).await, Err(SecretError::Transient(_))));
    }

    #[tokio::test]
    async fn a_rejected_key_is_replaced_only_when_the_version_changed() {
        let cache = KeyCache::new(
            MemorySecrets::scripted(vec![key("v1"), key("v1"), key("v2")]),
            Duration::from_secs(300),
        );
        cache.prime().await.unwrap();
        let v1 = cache.current(later()).await.unwrap();
        assert_eq!(cache.refresh_after_rejection(&v1, later()).await, None);
        let v2 = cache.refresh_after_rejection(&v1, later()).await.unwrap();
        assert_eq!(&*v2.version, "v2");
        // The refreshed key is what later requests use, without another fetch.
        assert_eq!(cache.current(later()).await.unwrap(), v2);
        assert_eq!(cache.source.fetches(), 3);
    }

    #[tokio::test]
    async fn a_rejection_after_a_concurrent_rotation_uses_the_rotated_key_without_fetching() {
        let cache =
            KeyCache::new(MemorySecrets::scripted(vec![key("v1"), key("v2")]), Duration::from_secs(300));
        cache.prime().await.unwrap();
        let v1 = cache.current(later()).await.unwrap();
        let v2 = cache.refresh_after_rejection(&v1, later()).await.unwrap();
        assert_eq!(cache.refresh_after_rejection(&v1, later()).await, Some(v2));
        assert_eq!(cache.source.fetches(), 2);
    }

    #[tokio::test]
    async fn a_failed_refetch_after_rejection_means_no_retry() {
        let cache =
            KeyCache::new(MemorySecrets::scripted(vec![key("v1"), transient()]), Duration::from_secs(300));
        cache.prime().await.unwrap();
        let v1 = cache.current(later()).await.unwrap();
        assert_eq!(cache.refresh_after_rejection(&v1, later()).await, None);
    }
}
