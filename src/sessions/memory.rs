//! An in-memory [`SessionStore`]: the double tests share. Applies the lease's conditions
//! atomically (one lock), as DynamoDB does per item; counts its calls; can be made to fail
//! (transiently or as a missing table does) or to hang; lets a test read and edit the items
//! as a reader or writer of the table could.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::sessions::{
    Claim, ItemKey, Lease, LeaseRequest, Replace, Sealed, SessionStore, StoreError, StoredItem,
};

/// How the double answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StoreMode {
    #[default]
    Healthy,
    /// Every call fails as a throttled or unreachable table does.
    Failing,
    /// Every call fails as a missing table does.
    MissingTable,
    /// No call ever answers.
    Hanging,
}

#[derive(Default)]
pub struct MemorySessionStore {
    items: Mutex<HashMap<ItemKey, StoredItem>>,
    mode: Mutex<StoreMode>,
    calls: AtomicUsize,
}

impl MemorySessionStore {
    pub fn set_mode(&self, mode: StoreMode) {
        *lock(&self.mode) = mode;
    }

    /// Calls made so far, answered or not.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Every item, as a table scan would return it.
    pub fn items(&self) -> Vec<(ItemKey, StoredItem)> {
        lock(&self.items).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Writes `item` at `key`, as anyone with write access to the table could.
    pub fn put(&self, key: ItemKey, item: StoredItem) {
        lock(&self.items).insert(key, item);
    }

    async fn answer(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mode = *lock(&self.mode);
        match mode {
            StoreMode::Healthy => Ok(()),
            StoreMode::Failing => Err(StoreError::transient("ProvisionedThroughputExceededException")),
            StoreMode::MissingTable => Err(StoreError::permanent("ResourceNotFoundException")),
            StoreMode::Hanging => std::future::pending().await,
        }
    }
}

impl SessionStore for MemorySessionStore {
    async fn read(&self, key: &ItemKey) -> Result<Option<StoredItem>, StoreError> {
        self.answer().await?;
        Ok(lock(&self.items).get(key).cloned())
    }

    async fn lease(&self, key: &ItemKey, request: &LeaseRequest) -> Result<Claim, StoreError> {
        self.answer().await?;
        let mut items = lock(&self.items);
        let current = items.get(key);
        let free = current.is_none_or(|item| item.live_lease(request.now_ms).is_none());
        let replaceable = match request.replace {
            Replace::Any => true,
            Replace::ExpiringBefore(before) => current
                .and_then(|item| item.sealed.as_ref())
                .is_none_or(|sealed| sealed.session_expires_at < before),
        };
        if !(free && replaceable) {
            return Ok(Claim::Refused(current.cloned()));
        }
        let item = items.entry(key.clone()).or_default();
        item.lease = Some(Lease { owner: request.lease.owner.clone(), until_ms: request.lease.until_ms });
        Ok(Claim::Taken)
    }

    async fn complete(
        &self,
        key: &ItemKey,
        owner: &str,
        sealed: &Sealed,
        _expires_at: u64,
    ) -> Result<bool, StoreError> {
        self.answer().await?;
        let mut items = lock(&self.items);
        match items.get_mut(key) {
            Some(item) if item.lease.as_ref().is_some_and(|l| l.owner == owner) => {
                *item = StoredItem { sealed: Some(sealed.clone()), lease: None };
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, key: &ItemKey, owner: &str) -> Result<(), StoreError> {
        self.answer().await?;
        if let Some(item) = lock(&self.items).get_mut(key) {
            if item.lease.as_ref().is_some_and(|l| l.owner == owner) {
                item.lease = None;
            }
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
