//! The key cache's behaviour, on paused time: TTL, stale-while-revalidate,
//! back-off, longest staleness and the shared refetch after a rejection.
use super::*;
use crate::secrets::memory::{transient, versioned, MemorySecrets};
use crate::secrets::VersionedKey;
use std::sync::Arc;

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
    assert_eq!(cache.inner.source.fetches(), 1);
}

#[tokio::test]
async fn a_zero_ttl_fetches_for_every_request() {
    let cache = KeyCache::new(MemorySecrets::scripted(vec![key("v1"), key("v2"), key("v3")]), Duration::ZERO);
    cache.prime().await.unwrap();
    assert_eq!(&*cache.current(later()).await.unwrap().version, "v2");
    assert_eq!(&*cache.current(later()).await.unwrap().version, "v3");
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_the_cached_key_and_a_later_one_recovers() {
    let cache =
        KeyCache::new(MemorySecrets::scripted(vec![key("v1"), transient(), key("v2")]), Duration::ZERO);
    cache.prime().await.unwrap();
    assert_eq!(&*cache.current(later()).await.unwrap().version, "v1");
    assert_eq!(cache.take_failed_refresh_count(), 1);
    tokio::time::advance(REFRESH_BACKOFF * 2 + Duration::from_millis(1)).await;
    assert_eq!(&*cache.current(later()).await.unwrap().version, "v2");
    assert_eq!(cache.take_failed_refresh_count(), 0);
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
    let cache = KeyCache::new(MemorySecrets::scripted(vec![key("v1"), gone, transient()]), Duration::ZERO);
    cache.prime().await.unwrap();
    assert!(matches!(cache.current(later()).await, Err(SecretError::Misconfigured(_))));
    assert!(matches!(cache.current(later()).await, Err(SecretError::Transient(_))));
}

#[tokio::test(start_paused = true)]
async fn a_rejected_key_is_replaced_only_when_the_version_changed() {
    let cache = KeyCache::new(
        MemorySecrets::scripted(vec![key("v1"), key("v1"), key("v2")]),
        Duration::from_secs(300),
    );
    cache.prime().await.unwrap();
    let v1 = cache.current(later()).await.unwrap();
    assert_eq!(cache.refresh_after_rejection(&v1, later()).await, None);
    tokio::time::advance(REJECTION_WINDOW).await;
    let v2 = cache.refresh_after_rejection(&v1, later()).await.unwrap();
    assert_eq!(&*v2.version, "v2");
    // The refreshed key is what later requests use, without another fetch.
    assert_eq!(cache.current(later()).await.unwrap(), v2);
    assert_eq!(cache.inner.source.fetches(), 3);
}

#[tokio::test]
async fn a_rejection_after_a_concurrent_rotation_uses_the_rotated_key_without_fetching() {
    let cache = KeyCache::new(MemorySecrets::scripted(vec![key("v1"), key("v2")]), Duration::from_secs(300));
    cache.prime().await.unwrap();
    let v1 = cache.current(later()).await.unwrap();
    let v2 = cache.refresh_after_rejection(&v1, later()).await.unwrap();
    assert_eq!(cache.refresh_after_rejection(&v1, later()).await, Some(v2));
    assert_eq!(cache.inner.source.fetches(), 2);
}

#[tokio::test]
async fn a_failed_refetch_after_rejection_means_no_retry() {
    let cache =
        KeyCache::new(MemorySecrets::scripted(vec![key("v1"), transient()]), Duration::from_secs(300));
    cache.prime().await.unwrap();
    let v1 = cache.current(later()).await.unwrap();
    assert_eq!(cache.refresh_after_rejection(&v1, later()).await, None);
}

#[tokio::test(start_paused = true)]
async fn past_the_ttl_a_slow_refresh_never_holds_requests_and_runs_once() {
    let source = Arc::new(MemorySecrets::new(versioned("k1", "v1")));
    let cache = Arc::new(KeyCache::new(source.clone(), Duration::from_secs(1)));
    cache.prime().await.unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    source.set_delay(Some(Duration::from_secs(3)));
    source.set(key("v2"));
    let started = Instant::now();
    let requests: Vec<_> = (0..16)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.current(later()).await })
        })
        .collect();
    for request in requests {
        assert_eq!(&*request.await.unwrap().unwrap().version, "v1");
    }
    assert!(started.elapsed() <= REFRESH_WAIT, "{:?}", started.elapsed());
    assert_eq!(source.fetches(), 2, "the Init fetch and one refresh");
    // The refresh outlives the request that started it and lands.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(&*cache.current(later()).await.unwrap().version, "v2");
}

#[tokio::test(start_paused = true)]
async fn after_a_failed_refresh_requests_do_not_retry_it_until_the_backoff_passed() {
    let source = Arc::new(MemorySecrets::new(versioned("k1", "v1")));
    let cache = KeyCache::new(source.clone(), Duration::from_secs(1));
    cache.prime().await.unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    source.set(transient());
    for _ in 0..50 {
        assert_eq!(&*cache.current(later()).await.unwrap().version, "v1");
    }
    assert_eq!(source.fetches(), 2, "one failed refresh, then the backoff");
    tokio::time::advance(REFRESH_BACKOFF * 2 + Duration::from_millis(1)).await;
    assert_eq!(&*cache.current(later()).await.unwrap().version, "v1");
    assert_eq!(source.fetches(), 3);
    assert_eq!(cache.take_failed_refresh_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_key_past_its_longest_staleness_is_no_longer_served() {
    let source = Arc::new(MemorySecrets::new(versioned("k1", "v1")));
    let cache = KeyCache::new(source.clone(), Duration::from_secs(1));
    cache.prime().await.unwrap();
    source.set(transient());
    tokio::time::advance(MAX_STALE).await;
    assert!(cache.current(later()).await.is_ok(), "still within the TTL plus MAX_STALE");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(matches!(cache.current(later()).await, Err(SecretError::Transient(_))));
}

#[tokio::test(start_paused = true)]
async fn many_rejections_of_one_version_share_one_refetch() {
    let source = Arc::new(MemorySecrets::new(versioned("k1", "v1")));
    let cache = Arc::new(KeyCache::new(source.clone(), Duration::from_secs(300)));
    cache.prime().await.unwrap();
    let v1 = cache.current(later()).await.unwrap();
    let rejections: Vec<_> = (0..64)
        .map(|_| {
            let (cache, v1) = (cache.clone(), v1.clone());
            tokio::spawn(async move { cache.refresh_after_rejection(&v1, later()).await })
        })
        .collect();
    for rejection in rejections {
        assert_eq!(rejection.await.unwrap(), None);
    }
    assert_eq!(source.fetches(), 2, "the Init fetch and one refetch");
    // A rotation after the window is still picked up.
    tokio::time::advance(REJECTION_WINDOW).await;
    source.set(key("v2"));
    assert_eq!(&*cache.refresh_after_rejection(&v1, later()).await.unwrap().version, "v2");
}
