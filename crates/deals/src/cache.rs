//! The first page of a deal list, kept in memory. The home page and `GET /api/v1/deals` are by
//! far the most requested reads and their first page is the same for everyone who uses the same
//! filters, so a [`DealStore`] decorator answers it from memory.
//!
//! Freshness: every write through this process (create, change, the deadline job) starts a new
//! generation, so whoever changed a deal sees it at once; other processes' writes arrive as deal
//! events (the binary calls [`FirstPageCache::invalidate`] on each, see [`crate::domain::DealEvent::CHANGES`]); a cached
//! page lives at most [`FRESH_FOR`] in any case — the bound on how stale view counts (which do not
//! invalidate: a busy day would otherwise empty the cache on every visit) can be.
//! Later pages, per-user lists (hosted / joined) and "nearest" (a per-caller point) always go to
//! the database.
//!
//! Memory: every filter set (free text, prices, category, …) is its own page, so the key space is
//! open-ended; what the pages hold is bounded by [`BYTE_BUDGET`] (an estimate of their rows'
//! size), and the least recently used page goes first when a new one does not fit.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    rules::DealError,
    store::{DealRecord, DealStore, Decide, ListQuery, MemberRecord, Sort},
};

pub const FRESH_FOR: Duration = Duration::from_secs(2);

/// What all cached pages may hold together. A full first page of deals with long descriptions is
/// ~100 KB, so this keeps the few hundred busiest filter sets.
pub const BYTE_BUDGET: usize = 16 * 1024 * 1024;

struct Cached {
    generation: u64,
    at: Instant,
    rows: Arc<Vec<DealRecord>>,
    /// The estimated size of the entry, key included.
    bytes: usize,
    /// When it was last read or written, on the cache's own counter (the key in `Pages::by_use`).
    used: u64,
}

/// The pages and their order of use, least recently used first.
#[derive(Default)]
struct Pages {
    map: HashMap<String, Cached>,
    by_use: BTreeMap<u64, String>,
    bytes: usize,
    tick: u64,
}

impl Pages {
    fn touch(&mut self, key: &str) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(c) = self.map.get_mut(key) {
            let old = std::mem::replace(&mut c.used, tick);
            self.by_use.remove(&old);
            self.by_use.insert(tick, key.to_owned());
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(c) = self.map.remove(key) {
            self.by_use.remove(&c.used);
            self.bytes -= c.bytes;
        }
    }

    /// Stores a page, evicting the least recently used ones until it fits; one larger than the
    /// whole budget is not kept.
    fn insert(&mut self, key: String, generation: u64, rows: Arc<Vec<DealRecord>>, budget: usize) {
        self.remove(&key);
        let bytes = entry_bytes(&key, &rows);
        if bytes > budget {
            return;
        }
        while self.bytes + bytes > budget {
            let Some((_, oldest)) = self.by_use.pop_first() else { break };
            if let Some(c) = self.map.remove(&oldest) {
                self.bytes -= c.bytes;
            }
        }
        self.tick += 1;
        self.by_use.insert(self.tick, key.clone());
        self.bytes += bytes;
        self.map.insert(key, Cached { generation, at: Instant::now(), rows, bytes, used: self.tick });
    }
}

/// An estimate of what a page costs in memory: the records themselves plus the text they own.
fn entry_bytes(key: &str, rows: &[DealRecord]) -> usize {
    const ENTRY_OVERHEAD: usize = std::mem::size_of::<Cached>() + 3 * std::mem::size_of::<String>() + 64;
    let text = |s: &String| s.capacity();
    let row = |r: &DealRecord| {
        std::mem::size_of::<DealRecord>()
            + text(&r.host_login_id)
            + text(&r.title)
            + text(&r.description)
            + r.product_url.as_ref().map_or(0, text)
            + text(&r.unit)
            + r.meeting_place.as_ref().map_or(0, |p| text(&p.name))
            + r.keywords.iter().map(|k| std::mem::size_of::<String>() + text(k)).sum::<usize>()
            + r.images.iter().map(|k| std::mem::size_of::<String>() + text(k)).sum::<usize>()
    };
    ENTRY_OVERHEAD + 2 * key.len() + rows.iter().map(row).sum::<usize>()
}

pub struct FirstPageCache {
    inner: Arc<dyn DealStore>,
    fresh_for: Duration,
    budget: usize,
    generation: AtomicU64,
    pages: Mutex<Pages>,
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
        Self::with_budget(inner, fresh_for, BYTE_BUDGET)
    }

    /// As [`FirstPageCache::shared`], holding at most `budget` bytes of pages.
    pub fn with_budget(inner: Arc<dyn DealStore>, fresh_for: Duration, budget: usize) -> Arc<FirstPageCache> {
        Arc::new(FirstPageCache { inner, fresh_for, budget, generation: AtomicU64::new(0), pages: Mutex::new(Pages::default()) })
    }

    /// The estimated size of the pages held now.
    pub fn held_bytes(&self) -> usize {
        self.pages.lock().expect("cache lock").bytes
    }

    /// Forgets every cached page: on this process's own writes, and on deal events from other
    /// processes (see [`crate::domain::DealEvent::CHANGES`]).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The key of a cacheable query; `None` for the queries that always go to the database.
    fn key(q: &ListQuery) -> Option<String> {
        let shared =
            q.after.is_none() && q.host_id.is_none() && q.member_id.is_none() && q.sort != Some(Sort::Nearest) && q.within.is_none();
        shared
            .then(|| format!("{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}", q.q, q.category_id, q.statuses, q.min_price, q.max_price, q.sort, q.limit))
    }
}

#[async_trait]
impl DealStore for FirstPageCache {
    async fn list_plan(&self, q: &ListQuery) -> sqlx::Result<Vec<String>> {
        self.inner.list_plan(q).await
    }

    async fn list(&self, q: &ListQuery) -> sqlx::Result<Vec<DealRecord>> {
        let Some(key) = Self::key(q) else { return self.inner.list(q).await };
        // Read the generation before the query: a write that lands while it runs makes this
        // answer stale, and then it is stored under the old generation and never served.
        let generation = self.generation.load(Ordering::Acquire);
        {
            let mut pages = self.pages.lock().expect("cache lock");
            let fresh = pages.map.get(&key).filter(|hit| hit.generation == generation && hit.at.elapsed() < self.fresh_for);
            if let Some(rows) = fresh.map(|hit| hit.rows.clone()) {
                pages.touch(&key);
                drop(pages);
                return Ok(rows.as_ref().clone());
            }
        }
        let rows = self.inner.list(q).await?;
        self.pages.lock().expect("cache lock").insert(key, generation, Arc::new(rows.clone()), self.budget);
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
    ) -> sqlx::Result<Option<Result<(DealRecord, Vec<MemberRecord>), DealError>>> {
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

    async fn set_place(&self, user_id: Uuid, place: Option<crate::store::Homes>, consumer: &str, event_id: Uuid) -> sqlx::Result<()> {
        self.inner.set_place(user_id, place, consumer, event_id).await
    }

    async fn homes(&self, user_id: Uuid) -> sqlx::Result<Option<crate::store::Homes>> {
        self.inner.homes(user_id).await
    }

    async fn add_user(&self, user: &crate::store::NewUser<'_>, consumer: &str, event_id: Uuid) -> sqlx::Result<()> {
        self.inner.add_user(user, consumer, event_id).await
    }

    async fn profile(&self, user_id: Uuid) -> sqlx::Result<crate::store::Profile> {
        self.inner.profile(user_id).await
    }

    async fn user_by_login(&self, login_id: &str) -> sqlx::Result<Option<Uuid>> {
        self.inner.user_by_login(login_id).await
    }

    async fn place(&self, user_id: Uuid) -> sqlx::Result<Option<crate::store::Home>> {
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

    /// Counts list queries; everything else is never called by these tests. Each page holds
    /// `rows` deals whose descriptions are `description_bytes` long.
    #[derive(Default)]
    struct Counting {
        lists: AtomicUsize,
        rows: usize,
        description_bytes: usize,
    }

    fn record(description_bytes: usize) -> DealRecord {
        DealRecord {
            seq: 1,
            id: Uuid::now_v7(),
            host_id: Uuid::nil(),
            host_login_id: "host".into(),
            title: "코스트코 휴지 30롤".into(),
            description: "가".repeat(description_bytes / 3),
            category_id: 4,
            product_url: None,
            total_price: 25_990,
            shares_total: 3,
            shares_taken: 1,
            min_shares: 3,
            items_per_share: 10,
            unit: "개".into(),
            deadline: Utc::now(),
            meeting_place: None,
            keywords: vec!["휴지".into()],
            images: vec![],
            status: crate::domain::DealStatus::Recruiting,
            views: 0,
            created_at: Utc::now(),
        }
    }

    #[async_trait]
    impl DealStore for Counting {
        async fn list_plan(&self, _q: &ListQuery) -> sqlx::Result<Vec<String>> {
            Ok(vec!["counting store: no plan".into()])
        }
        async fn list(&self, _q: &ListQuery) -> sqlx::Result<Vec<DealRecord>> {
            self.lists.fetch_add(1, Ordering::SeqCst);
            Ok((0..self.rows).map(|_| record(self.description_bytes)).collect())
        }
        async fn create(&self, _: &DealRecord, _: &MemberRecord, _: DateTime<Utc>) -> sqlx::Result<()> {
            Ok(())
        }
        async fn change(
            &self,
            _: Uuid,
            _: DateTime<Utc>,
            _: Decide<'_>,
        ) -> sqlx::Result<Option<Result<(DealRecord, Vec<MemberRecord>), DealError>>> {
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
        async fn homes(&self, _: Uuid) -> sqlx::Result<Option<crate::store::Homes>> {
            unreachable!()
        }
        async fn set_place(&self, _: Uuid, _: Option<crate::store::Homes>, _: &str, _: Uuid) -> sqlx::Result<()> {
            unreachable!()
        }
        async fn profile(&self, _: Uuid) -> sqlx::Result<crate::store::Profile> {
            unreachable!()
        }
        async fn add_user(&self, _: &crate::store::NewUser<'_>, _: &str, _: Uuid) -> sqlx::Result<()> {
            unreachable!()
        }
        async fn user_by_login(&self, _: &str) -> sqlx::Result<Option<Uuid>> {
            unreachable!()
        }
        async fn place(&self, _: Uuid) -> sqlx::Result<Option<crate::store::Home>> {
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
            ListQuery { within: Some(((37.5, 127.0), 5000.0)), ..home() },
        ] {
            cache.list(&q).await.unwrap();
            cache.list(&q).await.unwrap();
        }
        assert_eq!(inner.lists.load(Ordering::SeqCst), 10);
    }

    /// 999 filter sets of a full first page (21 deals with long descriptions, ~100 KB) once
    /// grew the process by 1.4 GB: the cache keeps what fits its byte budget, least recently
    /// used out first.
    #[tokio::test]
    async fn many_filter_sets_stay_within_the_byte_budget() {
        let inner = Arc::new(Counting { rows: 21, description_bytes: 5_000, ..Default::default() });
        let cache = FirstPageCache::shared(inner.clone(), Duration::from_secs(600));
        let reads = || inner.lists.load(Ordering::SeqCst);
        let by_price = |p: i64| ListQuery { min_price: Some(p), ..home() };
        cache.list(&by_price(0)).await.unwrap();
        for p in 1..999 {
            cache.list(&by_price(p)).await.unwrap();
            // The first filter set is in use all along, so it is never the one evicted.
            if p % 50 == 0 {
                cache.list(&by_price(0)).await.unwrap();
            }
        }
        assert!(cache.held_bytes() <= BYTE_BUDGET, "{} bytes held, budget {BYTE_BUDGET}", cache.held_bytes());
        assert!(cache.held_bytes() > BYTE_BUDGET / 2, "the budget is used, not emptied: {}", cache.held_bytes());
        let before = reads();
        cache.list(&by_price(998)).await.unwrap();
        assert_eq!(reads(), before, "the newest page is still in memory");
        cache.list(&by_price(0)).await.unwrap();
        assert_eq!(reads(), before, "a page in use stays in memory");
        cache.list(&by_price(1)).await.unwrap();
        assert_eq!(reads(), before + 1, "the oldest unused page was evicted");
    }

    #[tokio::test]
    async fn a_page_larger_than_the_budget_is_not_kept() {
        let inner = Arc::new(Counting { rows: 1, description_bytes: 3_000, ..Default::default() });
        let cache = FirstPageCache::with_budget(inner.clone(), Duration::from_secs(600), 1_000);
        cache.list(&home()).await.unwrap();
        cache.list(&home()).await.unwrap();
        assert_eq!(inner.lists.load(Ordering::SeqCst), 2);
        assert_eq!(cache.held_bytes(), 0);
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
