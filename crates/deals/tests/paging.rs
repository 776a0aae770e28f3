//! Keyset cursors never repeat or skip a deal, for every sort, on SQLite and PostgreSQL
//! (issue 9, item 28: `sort=nearest` on PostgreSQL repeated deals, because the cursor truncated
//! a distance that the query rounded).

mod common;

use chrono::Duration;
use common::{deals_on, Opened};
use gonggu_deals::{
    domain::MeetingPlace,
    service::{Deals, ListParams},
};
use gonggu_kernel::db::Db;
use proptest::{prelude::*, test_runner::TestRunner};
use uuid::Uuid;

/// One deal of a case: shares taken, views, deadline in hours, and a meeting place on a small
/// grid of awkward decimals (so equal keys and rounding both happen).
#[derive(Debug, Clone)]
struct Spec {
    taken: i64,
    views: i64,
    hours: i64,
    place: Option<(u8, u8)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1i64..=4, 0i64..=3, 1i64..=4, proptest::option::of((0u8..5, 0u8..5))).prop_map(|(taken, views, hours, place)| Spec {
        taken,
        views,
        hours,
        place,
    })
}

fn place((a, b): (u8, u8)) -> MeetingPlace {
    MeetingPlace::at("역", 37.49 + f64::from(a) * 0.001_234_567_8, 127.01 + f64::from(b) * 0.000_987_654_3)
}

const FROM: [(f64, f64); 3] = [(37.5551, 126.9368), (37.4927, 127.0133), (37.491_234_567_8, 127.010_987_654_3)];

async fn seed(db: &Db, deals: &Deals, specs: &[Spec]) -> Uuid {
    let host = Uuid::now_v7();
    let now = deals.clock.now();
    for (i, s) in specs.iter().enumerate() {
        let id = common::open(
            deals,
            host,
            "pager",
            Opened { title: format!("공구 {i}"), taken: s.taken, deadline: now + Duration::hours(s.hours), place: s.place.map(place) },
        )
        .await;
        let sql = "UPDATE deals SET views = $1 WHERE id = $2";
        match db {
            Db::Sqlite(pool) => sqlx::query(sql).bind(s.views).bind(id).execute(pool).await.map(drop),
            Db::Postgres(pool) => sqlx::query(sql).bind(s.views).bind(id).execute(pool).await.map(drop),
        }
        .unwrap();
    }
    host
}

fn params(sort: &str, from: (f64, f64), limit: u32, cursor: Option<String>) -> ListParams {
    ListParams { sort: Some(sort.into()), lat: Some(from.0), lon: Some(from.1), limit: Some(limit), cursor, ..Default::default() }
}

async fn check(db: &Db, deals: &Deals, specs: Vec<Spec>, limit: u32, from: (f64, f64)) -> Result<(), TestCaseError> {
    let host = seed(db, deals, &specs).await;
    for sort in ["newest", "deadline", "remaining", "popular", "nearest"] {
        let all = deals.list(params(sort, from, 100, None), Some(host), None).await.unwrap();
        prop_assert_eq!(all.items.len(), specs.len());
        prop_assert!(all.next_cursor.is_none());
        let all: Vec<Uuid> = all.items.iter().map(|d| d.id).collect();
        let (mut paged, mut cursor, mut pages) = (vec![], None, 0);
        loop {
            let page = deals.list(params(sort, from, limit, cursor), Some(host), None).await.unwrap();
            prop_assert!(page.items.len() <= limit as usize);
            paged.extend(page.items.iter().map(|d| d.id));
            pages += 1;
            prop_assert!(pages <= specs.len() + 1, "{sort}: paging does not end");
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        prop_assert_eq!(&paged, &all, "{} by {}: pages differ from the whole list", sort, limit);
    }
    Ok(())
}

fn pages_never_repeat_or_skip(db: Db, rt: &tokio::runtime::Runtime) {
    let deals = deals_on(&db, rt);
    // Modest, so CI stays fast: each case writes its own deals (under its own host).
    let mut runner = TestRunner::new(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() });
    let strategy = (proptest::collection::vec(spec(), 1..20), 1u32..=7, 0usize..FROM.len());
    runner
        .run(&strategy, |(specs, limit, from)| rt.block_on(check(&db, &deals, specs, limit, FROM[from])))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn cursors_never_repeat_or_skip_on_sqlite() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = rt.block_on(Db::connect(None, dir.path(), "deals", Default::default())).unwrap();
    pages_never_repeat_or_skip(db, &rt);
}

#[test]
fn cursors_never_repeat_or_skip_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = rt.block_on(gonggu_kernel::testkit::fresh_postgres("cursors_never_repeat_or_skip_on_postgres")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = rt.block_on(Db::connect(Some(&url), dir.path(), "deals", Default::default())).unwrap();
    pages_never_repeat_or_skip(db, &rt);
}
