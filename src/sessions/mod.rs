//! One session per device (`docs/contract.md`, "Device sessions"): what the broker needs
//! from the store that keeps each device's session, as a trait, the values that cross it,
//! and the keys that make its items useless to a reader.
//!
//! - [`seal`]: the seal secret's two derived keys: the item key (HMAC of user and device)
//!   and the AEAD that seals the session id, bound to its item and expiry;
//! - [`dynamodb`]: the live store, one item per user and device, with a lease taken by a
//!   conditional write (the pattern of Powertools' idempotency utility);
//! - `memory`: the in-memory double (tests and fuzz targets only).

pub mod dynamodb;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod seal;

/// How the session store fails (shared with the quota's).
pub use crate::store_error::StoreError;

use std::future::Future;
use std::sync::Arc;

/// The partition key of one user's device: a prefix and the base64url HMAC of both ids.
/// Nothing of either id can be read back from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemKey(pub(crate) String);

impl ItemKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session as the store holds it: sealed, with the secret version that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Nonce, ciphertext and tag.
    pub ct: Vec<u8>,
    /// The seal secret's version (its Secrets Manager `VersionId`).
    pub kid: String,
    /// Parsec's expiry, epoch seconds; part of the associated data.
    pub session_expires_at: i64,
}

/// A request minting for the device: whoever holds it, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    /// Epoch milliseconds: the holder's deadline.
    pub until_ms: u64,
}

/// What the store holds for one item key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredItem {
    pub sealed: Option<Sealed>,
    pub lease: Option<Lease>,
}

impl StoredItem {
    /// A lease someone holds at `now_ms`.
    pub fn live_lease(&self, now_ms: u64) -> Option<&Lease> {
        self.lease.as_ref().filter(|lease| lease.until_ms > now_ms)
    }
}

/// Which stored session a new lease may take the place of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Only one that expires before this (epoch seconds), or none.
    ExpiringBefore(i64),
    /// Any: the caller found it unusable (`renew`, or it did not open).
    Any,
}

/// A lease to write: granted only while nobody holds a live one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRequest {
    pub lease: Lease,
    pub now_ms: u64,
    pub replace: Replace,
    /// The item's TTL attribute (epoch seconds) while it holds no session of its own.
    pub expires_at: u64,
}

/// How a lease request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Taken,
    /// Someone holds a live lease, or the stored session is not one `replace` allows;
    /// the item as it is, when the store returned it.
    Refused(Option<StoredItem>),
}

/// Where the devices' sessions live. DynamoDB in production, a double in tests.
pub trait SessionStore: Send + Sync + 'static {
    /// The item, read consistently.
    fn read(&self, key: &ItemKey) -> impl Future<Output = Result<Option<StoredItem>, StoreError>> + Send;

    /// Writes `request`'s lease unless someone holds a live one or the stored session is
    /// not one it may replace. A stored session stays as it is until [`Self::complete`].
    fn lease(
        &self,
        key: &ItemKey,
        request: &LeaseRequest,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Stores `sealed` and ends `owner`'s lease; `false` when `owner` no longer held it.
    fn complete(
        &self,
        key: &ItemKey,
        owner: &str,
        sealed: &Sealed,
        expires_at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends `owner`'s lease, leaving any stored session as it was.
    fn release(&self, key: &ItemKey, owner: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A shared store is a store: lets tests keep a handle on their double.
impl<T: SessionStore> SessionStore for Arc<T> {
    fn read(&self, key: &ItemKey) -> impl Future<Output = Result<Option<StoredItem>, StoreError>> + Send {
        T::read(self, key)
    }

    fn lease(
        &self,
        key: &ItemKey,
        request: &LeaseRequest,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        T::lease(self, key, request)
    }

    fn complete(
        &self,
        key: &ItemKey,
        owner: &str,
        sealed: &Sealed,
        expires_at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        T::complete(self, key, owner, sealed, expires_at)
    }

    fn release(&self, key: &ItemKey, owner: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::release(self, key, owner)
    }
}
