//! Keyed rate limits (GCRA via `governor`). A limit answers 429 with `Retry-After`.

use std::{
    hash::Hash,
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use governor::{
    clock::{Clock, DefaultClock},
    state::keyed::DashMapStateStore,
    Quota, RateLimiter,
};

use crate::error::ApiError;

pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    inner: RateLimiter<K, DashMapStateStore<K>, DefaultClock>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `burst` requests at once, then one more every `period / burst`.
    pub fn new(burst: u32, period: Duration) -> Arc<Self> {
        let burst = NonZeroU32::new(burst.max(1)).expect("non-zero");
        let quota = Quota::with_period(period / burst.get()).expect("non-zero period").allow_burst(burst);
        Arc::new(Self { inner: RateLimiter::dashmap(quota), clock: DefaultClock::default() })
    }

    pub fn check(&self, key: &K) -> Result<(), ApiError> {
        self.inner.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::too_many_requests(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })
    }

    /// Drops idle keys; called now and then so memory stays bounded.
    pub fn prune(&self) {
        self.inner.retain_recent();
    }
}

/// Counts only failures: at most `max` within `window` per key, after which [`attempt`] refuses
/// until the oldest one ages out. For logins, where a person signing in often is fine but
/// guessing is not (a GCRA limiter counts every attempt, successful or not). An admitted attempt
/// counts as a failure at once — so guesses sent together cannot all pass before any has failed —
/// and a success takes it back with [`forgive`].
///
/// [`attempt`]: FailureLimiter::attempt
/// [`forgive`]: FailureLimiter::forgive
pub struct FailureLimiter<K: Hash + Eq + Clone> {
    max: usize,
    window: Duration,
    failures: dashmap::DashMap<K, std::collections::VecDeque<Instant>>,
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    pub fn new(max: u32, window: Duration) -> Arc<Self> {
        Arc::new(Self { max: max.max(1) as usize, window, failures: dashmap::DashMap::new() })
    }

    /// Refuses while `max` failures lie within the window; otherwise counts this attempt as one
    /// (in the same step, under the key's lock) and returns it, for [`forgive`](Self::forgive).
    pub fn attempt(&self, key: &K) -> Result<Instant, ApiError> {
        let now = Instant::now();
        let mut recent = self.failures.entry(key.clone()).or_default();
        while recent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            recent.pop_front();
        }
        match recent.front() {
            Some(oldest) if recent.len() >= self.max => {
                let wait = self.window.saturating_sub(now.duration_since(*oldest));
                Err(ApiError::too_many_requests(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)))
            }
            _ => {
                recent.push_back(now);
                Ok(now)
            }
        }
    }

    /// The attempt succeeded: it no longer counts.
    pub fn forgive(&self, key: &K, attempt: Instant) {
        if let Some(mut recent) = self.failures.get_mut(key) {
            if let Some(i) = recent.iter().position(|t| *t == attempt) {
                recent.remove(i);
            }
        }
    }

    /// Drops keys whose failures have all aged out.
    pub fn prune(&self) {
        let now = Instant::now();
        self.failures.retain(|_, recent| recent.back().is_some_and(|t| now.duration_since(*t) < self.window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_count() {
        let l = FailureLimiter::new(3, Duration::from_secs(300));
        for _ in 0..10 {
            let ok = l.attempt(&"alice").unwrap();
            l.forgive(&"alice", ok);
        }
        for _ in 0..3 {
            l.attempt(&"alice").unwrap();
        }
        let e = l.attempt(&"alice").unwrap_err();
        assert_eq!(e.status, http::StatusCode::TOO_MANY_REQUESTS);
        assert!((299..=300).contains(&e.retry_after_secs.unwrap()), "{:?}", e.retry_after_secs);
        l.attempt(&"bob").unwrap();
        l.prune();
        assert!(l.attempt(&"alice").is_err(), "recent failures survive pruning");
    }

    #[test]
    fn failures_age_out() {
        let l = FailureLimiter::new(1, Duration::from_millis(30));
        l.attempt(&1).unwrap();
        assert!(l.attempt(&1).is_err());
        std::thread::sleep(Duration::from_millis(40));
        let ok = l.attempt(&1).unwrap();
        l.forgive(&1, ok);
        l.prune();
        assert!(l.failures.is_empty());
    }

    #[test]
    fn burst_then_limited_with_retry_after() {
        let l = KeyedLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            l.check(&"a").unwrap();
        }
        let e = l.check(&"a").unwrap_err();
        assert_eq!(e.status, http::StatusCode::TOO_MANY_REQUESTS);
        let secs = e.retry_after_secs.unwrap();
        assert!((1..=20).contains(&secs), "retry after {secs}");
        // Another key is unaffected.
        l.check(&"b").unwrap();
    }
}
