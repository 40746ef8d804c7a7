//! An in-memory [`KeySetSource`] for tests and fuzz targets: serves the JWKS
//! it is given, or fails when told to, and counts the fetches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::tokens::KeySetSource;

#[derive(Default)]
pub struct MemoryKeySet {
    /// `None`: every fetch fails.
    document: Mutex<Option<Vec<u8>>>,
    fetches: AtomicU64,
}

impl MemoryKeySet {
    pub fn serving(document: &str) -> Self {
        let set = MemoryKeySet::default();
        set.serve(Some(document));
        set
    }

    /// From now on fetches get `document` (`None`: they fail).
    pub fn serve(&self, document: Option<&str>) {
        *self.document.lock().unwrap_or_else(|p| p.into_inner()) = document.map(|d| d.as_bytes().to_vec());
    }

    /// Fetches so far.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }
}

impl KeySetSource for MemoryKeySet {
    async fn fetch(&self) -> Result<Vec<u8>, String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let document = self.document.lock().unwrap_or_else(|p| p.into_inner()).clone();
        document.ok_or_else(|| "the issuer is down".to_owned())
    }
}
