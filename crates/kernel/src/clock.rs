//! The time source. Rules that depend on time (expiry, lifetimes) read it from here so that tests
//! can move time forward instead of sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

#[derive(Clone)]
pub struct Clock(Option<Arc<Mutex<DateTime<Utc>>>>);

impl Clock {
    /// Wall-clock time.
    pub fn system() -> Self {
        Clock(None)
    }
    /// A clock that only moves when told to.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock(Some(Arc::new(Mutex::new(start))))
    }
    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            None => Utc::now(),
            Some(t) => *t.lock().expect("clock lock"),
        }
    }
    /// Moves a manual clock forward; a no-op on the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.0 {
            *t.lock().expect("clock lock") += by;
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}
