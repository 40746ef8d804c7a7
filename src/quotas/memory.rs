//! An in-memory [`QuotaStore`]: the double tests and tools share. Counts like the real store
//! (a [`PerProcessCounter`] underneath), counts its calls, and can be made to fail or to hang.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::quotas::per_process::PerProcessCounter;
use crate::quotas::{QuotaKey, QuotaStore, StoreError, Take};

#[derive(Default)]
pub struct MemoryQuotaStore {
    counter: PerProcessCounter,
    failing: AtomicBool,
    /// With `failing`: the failure is a permanent one (a missing table).
    permanent: AtomicBool,
    hanging: AtomicBool,
    calls: AtomicUsize,
}

impl MemoryQuotaStore {
    /// From now on every call fails (`true`) or works (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
        self.permanent.store(false, Ordering::SeqCst);
    }

    /// From now on every call fails as a missing table does.
    pub fn set_missing_table(&self) {
        self.failing.store(true, Ordering::SeqCst);
        self.permanent.store(true, Ordering::SeqCst);
    }

    /// From now on every call never answers (`true`) or answers (`false`).
    pub fn set_hanging(&self, hanging: bool) {
        self.hanging.store(hanging, Ordering::SeqCst);
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn count(&self, key: &QuotaKey) -> u32 {
        self.counter.count(key)
    }

    async fn enter(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.hanging.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(if self.permanent.load(Ordering::SeqCst) {
                StoreError::permanent("ResourceNotFoundException")
            } else {
                StoreError::transient("ServiceUnavailable")
            });
        }
        Ok(())
    }
}

impl QuotaStore for MemoryQuotaStore {
    async fn take(&self, key: &QuotaKey, limit: u32, _expires_at: u64) -> Result<Take, StoreError> {
        self.enter().await?;
        Ok(self.counter.take(key, limit))
    }

    async fn give_back(&self, key: &QuotaKey) -> Result<(), StoreError> {
        self.enter().await?;
        self.counter.give_back(key);
        Ok(())
    }
}
