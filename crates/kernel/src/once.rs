//! One-time form tokens, so that a page form that changes something does it once.
//!
//! A page renders a fresh random token into its form ([`field`]). The first submit carrying it
//! claims the token, does the work and remembers where it led; the same form sent again (the back
//! button and the button pressed again, a double tap, a browser retrying the POST) is sent to
//! that page instead of doing the work a second time. A submit that failed releases its token, so
//! the form re-rendered with its errors can be corrected and sent again.
//!
//! Tokens are remembered per user (`scope`), so a token seen in someone else's form leads
//! nowhere, for [`OnceTokens::TTL`] and at most [`OnceTokens::MAX_ENTRIES`] of them (oldest
//! forgotten first). The memory is this process's: behind several instances, a repeat that lands
//! on another instance is not recognised. A form without a token (a page rendered before tokens
//! existed) is served as before.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use maud::{html, Markup};

/// The form field's name.
pub const FIELD: &str = "once";

/// A fresh token for a form.
pub fn issue() -> String {
    crate::random_token(16)
}

/// The hidden input carrying `token`.
pub fn field(token: &str) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(token); }
}

type Key = (String, String);

enum State {
    Running,
    Done(String),
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, (Instant, State)>,
    /// Keys by the time they were claimed, oldest first (may name keys already released).
    order: VecDeque<(Instant, Key)>,
}

pub struct OnceTokens {
    inner: Mutex<Inner>,
    ttl: Duration,
    max_entries: usize,
}

/// What a submit may do with its token.
pub enum Claim {
    /// The first submit with this token (or one without a token): do the work, then
    /// [`Ticket::done`] with where it led.
    Fresh(Ticket),
    /// Done before: redirect here.
    Done(String),
    /// Another submit with this token is still at work.
    Busy,
}

/// A claimed token. Dropped without [`Ticket::done`] (the work failed), the token is released.
pub struct Ticket {
    owner: Option<(Arc<OnceTokens>, Key)>,
}

impl Ticket {
    /// Remembers where the work led, for a repeat of the same form.
    pub fn done(mut self, location: &str) {
        if let Some((tokens, key)) = self.owner.take() {
            let mut inner = tokens.inner.lock().expect("once lock");
            if let Some(entry) = inner.entries.get_mut(&key) {
                entry.1 = State::Done(location.to_owned());
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some((tokens, key)) = self.owner.take() {
            tokens.inner.lock().expect("once lock").entries.remove(&key);
        }
    }
}

impl OnceTokens {
    /// Long enough for the back button after a coffee break.
    pub const TTL: Duration = Duration::from_secs(6 * 3600);
    /// ~200 bytes each: a bounded few MB.
    pub const MAX_ENTRIES: usize = 50_000;
    /// How long a repeat waits for the first submit to finish before it is told to wait.
    const WAIT_FOR_RUNNING: Duration = Duration::from_secs(5);

    pub fn new() -> Arc<Self> {
        Self::with_limits(Self::TTL, Self::MAX_ENTRIES)
    }

    pub fn with_limits(ttl: Duration, max_entries: usize) -> Arc<Self> {
        Arc::new(OnceTokens { inner: Mutex::new(Inner::default()), ttl, max_entries: max_entries.max(1) })
    }

    /// Claims `token` for `scope` (the user): see [`Claim`]. A repeat that arrives while the first
    /// submit is still at work waits for it a few seconds.
    pub async fn claim(self: &Arc<Self>, scope: &str, token: &str) -> Claim {
        let token = token.trim();
        if token.is_empty() {
            return Claim::Fresh(Ticket { owner: None });
        }
        let started = Instant::now();
        loop {
            match self.try_claim(scope, token) {
                Claim::Busy if started.elapsed() < Self::WAIT_FOR_RUNNING => tokio::time::sleep(Duration::from_millis(50)).await,
                other => return other,
            }
        }
    }

    fn try_claim(self: &Arc<Self>, scope: &str, token: &str) -> Claim {
        let key = (scope.to_owned(), token.to_owned());
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("once lock");
        self.forget_old(&mut inner, now);
        match inner.entries.get(&key) {
            Some((_, State::Done(location))) => return Claim::Done(location.clone()),
            Some((_, State::Running)) => return Claim::Busy,
            None => {}
        }
        inner.entries.insert(key.clone(), (now, State::Running));
        inner.order.push_back((now, key.clone()));
        Claim::Fresh(Ticket { owner: Some((self.clone(), key)) })
    }

    /// Drops expired entries, then the oldest ones while there are too many.
    fn forget_old(&self, inner: &mut Inner, now: Instant) {
        while let Some((at, key)) = inner.order.front() {
            // A slot is live while its entry is the claim it was made for: a released token
            // leaves a stale slot, and a re-claimed one has a newer slot further back.
            let live = inner.entries.get(key).is_some_and(|(claimed, _)| claimed == at);
            let expired = now.duration_since(*at) >= self.ttl;
            if live && !expired && inner.entries.len() < self.max_entries {
                break;
            }
            if live {
                inner.entries.remove(key);
            }
            inner.order.pop_front();
        }
        // Stale slots behind a live one (many failed submits) must not pile up either.
        if inner.order.len() > 2 * self.max_entries {
            let Inner { entries, order } = inner;
            order.retain(|(at, key)| entries.get(key).is_some_and(|(claimed, _)| claimed == at));
        }
    }

    /// How many tokens are remembered now.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("once lock").entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(c: Claim) -> Ticket {
        match c {
            Claim::Fresh(t) => t,
            Claim::Done(l) => panic!("done before: {l}"),
            Claim::Busy => panic!("busy"),
        }
    }

    #[tokio::test]
    async fn a_token_does_the_work_once_and_then_leads_to_its_result() {
        let tokens = OnceTokens::new();
        let t = fresh(tokens.claim("alice", "tok").await);
        t.done("/deals/1?msg=created");
        assert!(matches!(tokens.claim("alice", "tok").await, Claim::Done(l) if l == "/deals/1?msg=created"));
        // Someone else's submit with the same token is theirs alone.
        fresh(tokens.claim("bob", "tok").await).done("/deals/2");
    }

    #[tokio::test]
    async fn a_failed_submit_releases_its_token() {
        let tokens = OnceTokens::new();
        drop(fresh(tokens.claim("alice", "tok").await));
        assert!(tokens.is_empty());
        fresh(tokens.claim("alice", "tok").await).done("/x");
    }

    #[tokio::test]
    async fn no_token_means_no_memory() {
        let tokens = OnceTokens::new();
        fresh(tokens.claim("alice", "").await).done("/x");
        fresh(tokens.claim("alice", "  ").await).done("/x");
        assert!(tokens.is_empty());
    }

    #[tokio::test]
    async fn a_repeat_waits_for_the_first_submit() {
        let tokens = OnceTokens::new();
        let first = fresh(tokens.claim("alice", "tok").await);
        let repeat = tokio::spawn({
            let tokens = tokens.clone();
            async move { tokens.claim("alice", "tok").await }
        });
        tokio::time::sleep(Duration::from_millis(120)).await;
        first.done("/deals/1");
        assert!(matches!(repeat.await.unwrap(), Claim::Done(l) if l == "/deals/1"));
    }

    #[tokio::test]
    async fn memory_is_bounded_by_count_and_age() {
        let tokens = OnceTokens::with_limits(Duration::from_millis(50), 3);
        for i in 0..10 {
            fresh(tokens.claim("alice", &i.to_string()).await).done("/x");
        }
        assert!(tokens.len() <= 3, "{}", tokens.len());
        assert!(matches!(tokens.claim("alice", "9").await, Claim::Done(_)), "the newest is kept");
        tokio::time::sleep(Duration::from_millis(80)).await;
        fresh(tokens.claim("alice", "9").await).done("/x");
        assert_eq!(tokens.len(), 1, "expired entries are forgotten");
    }
}
