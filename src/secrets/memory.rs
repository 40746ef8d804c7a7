//! An in-memory [`SecretSource`]: the double every test, fuzz target and
//! local tool shares. Answers from a script first, then a steady answer;
//! counts fetches; can be made slow or hang, as Secrets Manager sometimes is.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::secrets::{ApiKey, SecretError, SecretSource, VersionedKey};

pub struct MemorySecrets {
    script: Mutex<VecDeque<Result<VersionedKey, SecretError>>>,
    steady: Mutex<Result<VersionedKey, SecretError>>,
    delay: Mutex<Option<Duration>>,
    fetches: AtomicUsize,
}

/// A fetch that yields `key` at `version`.
pub fn versioned(key: &str, version: &str) -> Result<VersionedKey, SecretError> {
    Ok(VersionedKey { key: ApiKey::new(key).expect("a usable test key"), version: version.into() })
}

/// A fetch that failed in a way worth retrying.
pub fn transient() -> Result<VersionedKey, SecretError> {
    Err(SecretError::Transient("ServiceUnavailable".into()))
}

/// A fetch that failed in a way that will not fix itself.
pub fn misconfigured() -> Result<VersionedKey, SecretError> {
    Err(SecretError::Misconfigured("AccessDeniedException".into()))
}

impl MemorySecrets {
    /// Every fetch answers `answer` until told otherwise.
    pub fn new(answer: Result<VersionedKey, SecretError>) -> Self {
        MemorySecrets {
            script: Mutex::new(VecDeque::new()),
            steady: Mutex::new(answer),
            delay: Mutex::new(None),
            fetches: AtomicUsize::new(0),
        }
    }

    /// The next fetches answer `answers` in order, then the steady answer.
    pub fn scripted(answers: Vec<Result<VersionedKey, SecretError>>) -> Self {
        let source = MemorySecrets::new(Err(SecretError::Transient("the script ran out".into())));
        *lock(&source.script) = answers.into();
        source
    }

    /// From now on every fetch answers `answer`.
    pub fn set(&self, answer: Result<VersionedKey, SecretError>) {
        lock(&self.script).clear();
        *lock(&self.steady) = answer;
    }

    /// Every fetch first waits `delay` (`None`: answers at once).
    pub fn set_delay(&self, delay: Option<Duration>) {
        *lock(&self.delay) = delay;
    }

    /// How many fetches were made (started, for a slow source).
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl SecretSource for MemorySecrets {
    async fn fetch(&self) -> Result<VersionedKey, SecretError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let delay = *lock(&self.delay);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let scripted = lock(&self.script).pop_front();
        scripted.unwrap_or_else(|| lock(&self.steady).clone())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
