//! Per-user session quotas (`SESSION_QUOTA`, `QUOTA_TABLE`; see `docs/contract.md`, "Per-user
//! quota"): what the broker needs from a counter store, as a trait, the gate that applies the
//! limit with a bounded wait and a per-process fallback, and the stores.
//!
//! - [`dynamodb`]: the live store, one conditional `UpdateItem` per request;
//! - [`local`]: the per-process counter the gate falls back to while the store fails;
//! - [`gate`]: the limit, the windows, the fallback and its recovery;
//! - `memory`: the in-memory double (tests and fuzz targets only).

pub mod dynamodb;
pub mod gate;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod per_process;

/// How the counter store fails (shared with the session store).
pub use crate::store_error::StoreError;

use std::future::Future;
use std::sync::Arc;

/// One user's counter in one window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuotaKey {
    pub external_id: String,
    /// The window's start, epoch seconds (a multiple of the window's length).
    pub window_start: u64,
}

impl QuotaKey {
    /// The table's partition key. It holds the `external_id` as it is (an opaque user id,
    /// never a secret) so operators can read the table; counters only, nothing else.
    pub fn partition_key(&self) -> String {
        format!("session-quota#{}#{}", self.window_start, self.external_id)
    }
}

/// What taking a unit gave, with the counter as the store reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Counted: `count` sessions in this window, this one included.
    Granted { count: u32 },
    /// The window's limit is reached (`count` sessions); nothing was counted.
    Exhausted { count: u32 },
}

/// Where the counters live. DynamoDB in production, doubles in tests.
pub trait QuotaStore: Send + Sync + 'static {
    /// Counts one session for `key` unless `limit` are counted already. `expires_at` (epoch
    /// seconds, after the window ends) lets the store forget the counter.
    fn take(
        &self,
        key: &QuotaKey,
        limit: u32,
        expires_at: u64,
    ) -> impl Future<Output = Result<Take, StoreError>> + Send;

    /// Uncounts one session for `key` (never below zero).
    fn give_back(&self, key: &QuotaKey) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A shared store is a store: lets tests keep a handle on their double.
impl<T: QuotaStore> QuotaStore for Arc<T> {
    fn take(
        &self,
        key: &QuotaKey,
        limit: u32,
        expires_at: u64,
    ) -> impl Future<Output = Result<Take, StoreError>> + Send {
        T::take(self, key, limit, expires_at)
    }

    fn give_back(&self, key: &QuotaKey) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::give_back(self, key)
    }
}
