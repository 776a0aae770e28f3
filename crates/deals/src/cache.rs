//! The first page of a deal list, kept in memory. The home page and `GET /api/v1/deals` are by
//! far the most requested reads and their first page is the same for everyone who uses the same
//! filters, so a [`DealStore`] decorator answers it from memory.
//!
//! Freshness: every write through this process (create, change, the deadline job) starts a new
//! generation, so whoever changed a deal sees it at once; other processes' writes arrive as deal
//! events (the binary calls [`FirstPageCache::invalidate`] on each, see [`DEAL_EVENTS`]); a cached
//! page lives at most [`FRESH_FOR`] in any case — the bound on how stale view counts (which do not
//! invalidate: a busy day would otherwise empty the cache on every visit) can be.
//! Later pages, per-user lists (hosted / joined) and "nearest" (a per-caller point) always go to
//! the database.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gonggu_kernel::ApiError;
use uuid::Uuid;

use crate::store::{DealRecord, DealStore, Decide, ListQuery, MemberRecord, Sort};

pub const FRESH_FOR: Duration = Duration::from_secs(2);

/// The events after which a list may look different (views aside).
pub const DEAL_EVENTS: [&str; 9] = [
    "DealCreated",
    "DealUpdated",
    "MemberJoined",
    "MemberSharesChanged",
    "MemberLeft",
    "DealConfirmed",
    "DealCancelled",
    "DealFailed",
    "DealCompleted",
];
/// Free-text search makes the key space open-ended; past this many pages the cache starts over.
const MAX_PAGES: usize = 1_000;

struct Cached {
    generation: u64,
    at: Instant,
    rows: Arc<Vec<DealRecord>>,
}

pub struct FirstPageCache {
    inner: Arc<dyn DealStore>,
    fresh_for: Duration,
    generation: AtomicU64,
    pages: RwLock<HashMap<String, Cached>>,
}

impl FirstPageCache {
    pub fn wrap(inner: Arc<dyn DealStore>) -> Arc<dyn DealStore> {
        Self::wrap_for(inner, FRESH_FOR)
    }

    pub fn wrap_for(inner: Arc<dyn DealStore>, fresh_for: Duration) -> Arc<dyn DealStore> {
        Self::shared(inner, fresh_for)
    }

    /// The cache itself, for whoever also calls [`FirstPageCache::invalidate`].
    pub fn shared(inner: Arc<dyn DealStore>, fresh_for: Duration) -> Arc<FirstPageCache> {
        Arc::new(FirstPageCache { inner, fresh_for, generation: AtomicU64::new(0), pages: RwLock::new(HashMap::new()) })
    }

    /// Forgets every cached page: on this process's own writes, and on deal events from other
    /// processes (see [`DEAL_EVENTS`]).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The key of a cacheable query; `None` for the queries that always go to the database.
    fn key(q: &ListQuery) -> Option<String> {
        let shared = q.after.is_none() && q.host_id.is_none() && q.member_id.is_none() && q.sort != Some(Sort::Nearest);
        shared
            .then(|| format!("{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}", q.q, q.category_id, q.statuses, q.min_price, q.max_price, q.sort, q.limit))
    }
}

#[async_trait]
impl DealStore for FirstPageCache {
    async fn list(&self, q: &ListQuery) -> sqlx::Result<Vec<DealRecord>> {
        let Some(key) = Self::key(q) else { return self.inner.list(q).await };
        // Read the generation before the query: a write that lands while it runs makes this
        // answer stale, and then it is stored under the old generation and never served.
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(hit) = self.pages.read().expect("cache lock").get(&key) {
            if hit.generation == generation && hit.at.elapsed() < self.fresh_for {
                return Ok(hit.rows.as_ref().clone());
            }
        }
        let rows = self.inner.list(q).await?;
        let mut pages = self.pages.write().expect("cache lock");
        if pages.len() >= MAX_PAGES {
            pages.clear();
        }
        pages.insert(key, Cached { generation, at: Instant::now(), rows: Arc::new(rows.clone()) });
        Ok(rows)
    }

    async fn create(&self, deal: &DealRecord, host: &MemberRecord, now: DateTime<Utc>) -> sqlx::Result<()> {
        let r = self.inner.create(deal, host, now).await;
        self.invalidate();
        r
    }

    async fn change(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        decide: Decide<'_>,
    ) -> sqlx::Result<Option<Result<(DealRecord, Vec<MemberRecord>), ApiError>>> {
        let r = self.inner.change(id, now, decide).await;
        self.invalidate();
        r
    }

    async fn fail_overdue(&self, now: DateTime<Utc>) -> sqlx::Result<usize> {
        let r = self.inner.fail_overdue(now).await;
        if !matches!(r, Ok(0)) {
            self.invalidate();
        }
        r
    }

    async fn get(&self, id: Uuid) -> sqlx::Result<Option<DealRecord>> {
        self.inner.get(id).await
    }

    async fn members(&self, id: Uuid) -> sqlx::Result<Vec<MemberRecord>> {
        self.inner.members(id).await
    }

    async fn announce_deadlines(&self, now: DateTime<Utc>) -> sqlx::Result<usize> {
        self.inner.announce_deadlines(now).await
    }

    async fn host_by_login(&self, login_id: &str) -> sqlx::Result<Option<Uuid>> {
        self.inner.host_by_login(login_id).await
    }

    async fn set_place(&self, user_id: Uuid, place: Option<(f64, f64)>, consumer: &str, event_id: Uuid) -> sqlx::Result<()> {
        self.inner.set_place(user_id, place, consumer, event_id).await
    }

    async fn add_user(&self, user_id: Uuid, login_id: &str, place: Option<(f64, f64)>, consumer: &str, event_id: Uuid) -> sqlx::Result<()> {
        self.inner.add_user(user_id, login_id, place, consumer, event_id).await
    }

    async fn user_by_login(&self, login_id: &str) -> sqlx::Result<Option<Uuid>> {
        self.inner.user_by_login(login_id).await
    }

    async fn place(&self, user_id: Uuid) -> sqlx::Result<Option<(f64, f64)>> {
        self.inner.place(user_id).await
    }

    async fn record_view(&self, id: Uuid, viewer: &str, day: &str) -> sqlx::Result<()> {
        self.inner.record_view(id, viewer, day).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts list queries; everything else is never called by these tests.
    #[derive(Default)]
    struct Counting {
        lists: AtomicUsize,
    }

    #[async_trait]
    impl DealStore for Counting {
        async fn list(&self, _q: &ListQuery) -> sqlx::Result<Vec<DealRecord>> {
            self.lists.fetch_add(1, Ordering::SeqCst);
            Ok(vec![])
        }
        async fn create(&self, _: &DealRecord, _: &MemberRecord, _: DateTime<Utc>) -> sqlx::Result<()> {
            Ok(())
        }
        async fn change(
            &self,
            _: Uuid,
            _: DateTime<Utc>,
            _: Decide<'_>,
        ) -> sqlx::Result<Option<Result<(DealRecord, Vec<MemberRecord>), ApiError>>> {
            Ok(None)
        }
        async fn fail_overdue(&self, _: DateTime<Utc>) -> sqlx::Result<usize> {
            Ok(1)
        }
        async fn get(&self, _: Uuid) -> sqlx::Result<Option<DealRecord>> {
            unreachable!()
        }
        async fn members(&self, _: Uuid) -> sqlx::Result<Vec<MemberRecord>> {
            unreachable!()
        }
        async fn announce_deadlines(&self, _: DateTime<Utc>) -> sqlx::Result<usize> {
            unreachable!()
        }
        async fn host_by_login(&self, _: &str) -> sqlx::Result<Option<Uuid>> {
            unreachable!()
        }
        async fn set_place(&self, _: Uuid, _: Option<(f64, f64)>, _: &str, _: Uuid) -> sqlx::Result<()> {
            unreachable!()
        }
        async fn add_user(&self, _: Uuid, _: &str, _: Option<(f64, f64)>, _: &str, _: Uuid) -> sqlx::Result<()> {
            unreachable!()
        }
        async fn user_by_login(&self, _: &str) -> sqlx::Result<Option<Uuid>> {
            unreachable!()
        }
        async fn place(&self, _: Uuid) -> sqlx::Result<Option<(f64, f64)>> {
            unreachable!()
        }
        async fn record_view(&self, _: Uuid, _: &str, _: &str) -> sqlx::Result<()> {
            Ok(())
        }
    }

    fn home() -> ListQuery {
        ListQuery { sort: Some(Sort::Newest), limit: 21, ..Default::default() }
    }

    #[tokio::test]
    async fn a_first_page_is_read_once_until_a_write() {
        let inner = Arc::new(Counting::default());
        let cache = FirstPageCache::wrap_for(inner.clone(), Duration::from_secs(60));
        let reads = || inner.lists.load(Ordering::SeqCst);
        cache.list(&home()).await.unwrap();
        cache.list(&home()).await.unwrap();
        assert_eq!(reads(), 1, "the second read is served from memory");
        cache.list(&ListQuery { q: Some("휴지".into()), ..home() }).await.unwrap();
        assert_eq!(reads(), 2, "other filters are another page");
        cache.record_view(Uuid::nil(), "v", "2026-11-25").await.unwrap();
        cache.list(&home()).await.unwrap();
        assert_eq!(reads(), 2, "views do not invalidate");
        cache.change(Uuid::nil(), Utc::now(), &|_, _| Ok(Default::default())).await.unwrap();
        cache.list(&home()).await.unwrap();
        assert_eq!(reads(), 3, "a change invalidates");
        cache.fail_overdue(Utc::now()).await.unwrap();
        cache.list(&home()).await.unwrap();
        assert_eq!(reads(), 4, "failed deals invalidate");
    }

    #[tokio::test]
    async fn later_pages_personal_lists_and_nearest_always_go_to_the_store() {
        let inner = Arc::new(Counting::default());
        let cache = FirstPageCache::wrap_for(inner.clone(), Duration::from_secs(60));
        for q in [
            ListQuery { after: Some((5, 5)), ..home() },
            ListQuery { host_id: Some(Uuid::nil()), ..home() },
            ListQuery { member_id: Some(Uuid::nil()), ..home() },
            ListQuery { sort: Some(Sort::Nearest), near: Some((37.5, 127.0)), ..home() },
        ] {
            cache.list(&q).await.unwrap();
            cache.list(&q).await.unwrap();
        }
        assert_eq!(inner.lists.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn a_cached_page_expires() {
        let inner = Arc::new(Counting::default());
        let cache = FirstPageCache::wrap_for(inner.clone(), Duration::from_millis(30));
        cache.list(&home()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        cache.list(&home()).await.unwrap();
        assert_eq!(inner.lists.load(Ordering::SeqCst), 2);
    }
}
