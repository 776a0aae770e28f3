//! Keyed rate limits (GCRA via `governor`). A limit answers 429 with `Retry-After`.

use std::{hash::Hash, num::NonZeroU32, sync::Arc, time::Duration};

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

#[cfg(test)]
mod tests {
    use super::*;

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
