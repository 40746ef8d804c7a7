//! An in-memory [`SecretSource`]: the double every test, fuzz target and
//! local tool shares. Answers from a script first, then a steady answer;
//! counts fetches; can be made slow or hang, as Secrets Manager sometimes is.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::secrets::{ApiKey, SecretError, SecretSource, Versioned, VersionedKey};

/// A secret held in memory: the API key by default, any other value (the seal keys) too.
pub struct MemorySecrets<T = ApiKey> {
    script: Mutex<VecDeque<Result<Versioned<T>, SecretError>>>,
    steady: Mutex<Result<Versioned<T>, SecretError>>,
    delay: Mutex<Option<Duration>>,
    fetches: AtomicUsize,
}

/// A fetch that yields `key` at `version`.
pub fn versioned(key: &str, version: &str) -> Result<VersionedKey, SecretError> {
    Ok(VersionedKey { key: ApiKey::new(key).expect("a usable test key"), version: version.into() })
}

/// A fetch that failed in a way worth retrying.
pub fn transient<T>() -> Result<Versioned<T>, SecretError> {
    Err(SecretError::Transient("ServiceUnavailable".into()))
}

/// A fetch that failed in a way that will not fix itself.
pub fn misconfigured<T>() -> Result<Versioned<T>, SecretError> {
    Err(SecretError::Misconfigured("AccessDeniedException".into()))
}

impl<T: Clone> MemorySecrets<T> {
    /// Every fetch answers `answer` until told otherwise.
    pub fn new(answer: Result<Versioned<T>, SecretError>) -> Self {
        MemorySecrets {
            script: Mutex::new(VecDeque::new()),
            steady: Mutex::new(answer),
            delay: Mutex::new(None),
            fetches: AtomicUsize::new(0),
        }
    }

    /// The next fetches answer `answers` in order, then the steady answer.
    pub fn scripted(answers: Vec<Result<Versioned<T>, SecretError>>) -> Self {
        let source = MemorySecrets::new(Err(SecretError::Transient("the script ran out".into())));
        *lock(&source.script) = answers.into();
        source
    }

    /// From now on every fetch answers `answer`.
    pub fn set(&self, answer: Result<Versioned<T>, SecretError>) {
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

impl<T: Clone + Send + Sync + 'static> SecretSource for MemorySecrets<T> {
    type Value = T;

    async fn fetch(&self) -> Result<Versioned<T>, SecretError> {
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
