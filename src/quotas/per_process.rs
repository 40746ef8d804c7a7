//! The per-process counter the gate falls back to while the store fails: the same limit per
//! window, counted in this execution environment. It also remembers the highest count the
//! store reported for each key, and starts from there: so a fallback in the middle of a
//! burst (the store slow, not down) never grants more than the limit in this process.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::quotas::{QuotaKey, Take};

#[derive(Default)]
pub struct PerProcessCounter {
    counts: Mutex<HashMap<QuotaKey, Count>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Count {
    /// Sessions known in this window: the store's highest count, plus grants made here since.
    known: u32,
    /// Grants made here (while the store was bypassed).
    local: u32,
    /// Store grants this process handed out (and did not give back).
    store: u32,
}

impl PerProcessCounter {
    pub fn take(&self, key: &QuotaKey, limit: u32) -> Take {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        // Windows that have ended are of no use: forget them as a new one starts.
        counts.retain(|k, _| k.window_start >= key.window_start);
        let count = counts.entry(key.clone()).or_default();
        if count.known >= limit || count.store + count.local >= limit {
            return Take::Exhausted { count: count.known };
        }
        count.known += 1;
        count.local += 1;
        Take::Granted { count: count.known }
    }

    /// The store refused `key` at `count`: never count lower than that here.
    pub fn observe(&self, key: &QuotaKey, count: u32) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let known = counts.entry(key.clone()).or_default();
        known.known = known.known.max(count);
    }

    /// The store granted `key` at `count`. Admitted unless, with the grants this process made
    /// on its own and the store grants it already handed out, it would pass `limit`: so one
    /// process never hands out more than `limit`, whatever the store says.
    pub fn admit_store_grant(&self, key: &QuotaKey, count: u32, limit: u32) -> bool {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let known = counts.entry(key.clone()).or_default();
        known.known = known.known.max(count);
        if count.saturating_add(known.local) > limit || known.store + known.local >= limit {
            return false;
        }
        known.store += 1;
        true
    }

    /// A store grant handed out here was given back.
    pub fn release_store_grant(&self, key: &QuotaKey) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(key) {
            count.store = count.store.saturating_sub(1);
        }
    }

    /// Gives back a grant made here.
    pub fn give_back(&self, key: &QuotaKey) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(key) {
            count.known = count.known.saturating_sub(1);
            count.local = count.local.saturating_sub(1);
        }
    }

    /// The sessions known for `key` (tests and the in-memory double).
    pub fn count(&self, key: &QuotaKey) -> u32 {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).get(key).map_or(0, |c| c.known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str, window_start: u64) -> QuotaKey {
        QuotaKey { external_id: user.into(), window_start }
    }

    #[test]
    fn each_user_gets_the_limit_in_each_window_and_a_refund_frees_one() {
        let counter = PerProcessCounter::default();
        assert_eq!(counter.take(&key("a", 0), 2), Take::Granted { count: 1 });
        assert_eq!(counter.take(&key("a", 0), 2), Take::Granted { count: 2 });
        assert_eq!(counter.take(&key("a", 0), 2), Take::Exhausted { count: 2 });
        assert_eq!(counter.take(&key("b", 0), 2), Take::Granted { count: 1 }, "another user has their own");
        counter.give_back(&key("a", 0));
        assert_eq!(counter.take(&key("a", 0), 2), Take::Granted { count: 2 });
        assert_eq!(counter.take(&key("a", 60), 2), Take::Granted { count: 1 }, "a new window starts afresh");
        assert_eq!(counter.count(&key("a", 0)), 0, "ended windows are forgotten");
    }

    #[test]
    fn counting_starts_from_the_highest_count_the_store_reported() {
        let counter = PerProcessCounter::default();
        counter.observe(&key("a", 0), 4);
        counter.observe(&key("a", 0), 2);
        assert_eq!(counter.take(&key("a", 0), 5), Take::Granted { count: 5 });
        assert_eq!(counter.take(&key("a", 0), 5), Take::Exhausted { count: 5 });
    }

    #[test]
    fn one_process_never_hands_out_more_than_the_limit_whatever_the_store_says() {
        let counter = PerProcessCounter::default();
        // A store that loses updates reports the same count twice.
        assert!(counter.admit_store_grant(&key("a", 0), 1, 2));
        assert!(counter.admit_store_grant(&key("a", 0), 1, 2));
        assert!(!counter.admit_store_grant(&key("a", 0), 2, 2));
        counter.release_store_grant(&key("a", 0));
        assert!(counter.admit_store_grant(&key("a", 0), 2, 2));
        assert_eq!(counter.take(&key("a", 0), 2), Take::Exhausted { count: 2 });
    }
}
