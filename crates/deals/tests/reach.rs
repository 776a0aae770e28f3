//! The local feed (issue 12): deals meeting within a reach of a point, on SQLite and PostgreSQL.
//! A deal exactly at the radius is in, one microdegree beyond is out; and over random deals and
//! points (some on grid-cell edges) the indexed query finds exactly the deals a measurement of
//! every one of them finds — the cells never drop a deal.

mod common;

use common::{deals_on, in_two_days, Opened};
use gonggu_deals::{
    domain::MeetingPlace,
    service::{Deals, ListParams},
    store::{micro, nearest_key, reach_key},
};
use gonggu_kernel::db::Db;
use proptest::{prelude::*, test_runner::TestRunner};
use uuid::Uuid;

/// Opens one deal per place under a new host; answers the host and the deals' ids in order.
async fn seed(deals: &Deals, places: &[Option<(f64, f64)>]) -> (Uuid, Vec<Uuid>) {
    let host = Uuid::now_v7();
    let mut ids = vec![];
    for (i, p) in places.iter().enumerate() {
        let place = p.map(|(lat, lon)| MeetingPlace::at("만나는 곳", lat, lon));
        let opened = Opened { title: format!("동네 공구 {i}"), taken: 1, deadline: in_two_days(deals), place };
        ids.push(common::open(deals, host, "reacher", opened).await);
    }
    (host, ids)
}

async fn within(deals: &Deals, host: Uuid, from: (f64, f64), km: i64) -> Vec<Uuid> {
    let params = ListParams { lat: Some(from.0), lon: Some(from.1), reach_km: Some(km), limit: Some(100), ..Default::default() };
    let mut ids: Vec<Uuid> = deals.list(params, Some(host), None).await.unwrap().items.iter().map(|d| d.id).collect();
    ids.sort();
    ids
}

fn edges(db: Db) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let deals = deals_on(&db, &rt);
    rt.block_on(async {
        // 역삼동; 5 km is this many microdegrees of latitude.
        let from = (37.500_11, 127.038_52);
        let r = (reach_key(5000.0) as f64).sqrt() as i64;
        assert_eq!(r * r, reach_key(5000.0));
        let north = |extra: i64| Some(((micro(from.0) + r + extra) as f64 / 1e6, from.1));
        let (host, ids) = seed(&deals, &[north(0), north(1), north(-1), Some(from), None]).await;
        let mut expect = vec![ids[0], ids[2], ids[3]];
        expect.sort();
        assert_eq!(within(&deals, host, from, 5).await, expect, "at the radius in, a microdegree beyond out, no place out");
        let mut all_placed = vec![ids[0], ids[1], ids[2], ids[3]];
        all_placed.sort();
        assert_eq!(within(&deals, host, from, 10).await, all_placed, "10 km takes them all");
        // Every card of the feed says how far.
        let params = ListParams { lat: Some(from.0), lon: Some(from.1), reach_km: Some(5), ..Default::default() };
        let page = deals.list(params, Some(host), None).await.unwrap();
        assert!(
            page.items.iter().all(|d| d.distance_m.is_some_and(|m| m <= 5_005)),
            "{:?}",
            page.items.iter().map(|d| d.distance_m).collect::<Vec<_>>()
        );
        assert!(page.items.iter().all(|d| d.meeting_place.as_ref().and_then(|p| p.dong.as_deref()).is_some()), "each names its 동");
    });
}

#[test]
fn reach_edges_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    edges(rt.block_on(Db::connect(None, dir.path(), "deals", Default::default())).unwrap());
}

#[test]
fn reach_edges_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = rt.block_on(gonggu_kernel::testkit::fresh_postgres("reach_edges_on_postgres")) else { return };
    let dir = tempfile::tempdir().unwrap();
    edges(rt.block_on(Db::connect(Some(&url), dir.path(), "deals", Default::default())).unwrap());
}

/// Origins on and beside cell edges (multiples of 0.125°), and ordinary ones.
const ORIGINS: [(f64, f64); 4] = [(37.5, 127.0), (37.499_99, 126.875_01), (35.158_7, 129.160_4), (33.499_6, 126.531_2)];

fn same_as_measuring_each(db: Db) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let deals = deals_on(&db, &rt);
    let mut runner = TestRunner::new(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() });
    let offsets = proptest::collection::vec((-0.15f64..0.15, -0.18f64..0.18), 1..25);
    let strategy = (offsets, 0usize..ORIGINS.len(), prop::sample::select(vec![1i64, 3, 5, 10]));
    runner
        .run(&strategy, |(offsets, o, km)| {
            let from = ORIGINS[o];
            let places: Vec<Option<(f64, f64)>> = offsets.iter().map(|(dy, dx)| Some((from.0 + dy, from.1 + dx))).collect();
            rt.block_on(async {
                let (host, ids) = seed(&deals, &places).await;
                let mut measured: Vec<Uuid> = ids
                    .iter()
                    .zip(&places)
                    .filter(|(_, p)| {
                        let p = p.map(|(lat, lon)| MeetingPlace::at("x", lat, lon));
                        nearest_key(from, p.as_ref()) <= reach_key(km as f64 * 1000.0)
                    })
                    .map(|(id, _)| *id)
                    .collect();
                measured.sort();
                prop_assert_eq!(within(&deals, host, from, km).await, measured, "{} km from {:?}", km, from);
                Ok(())
            })
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_cells_drop_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    same_as_measuring_each(rt.block_on(Db::connect(None, dir.path(), "deals", Default::default())).unwrap());
}

#[test]
fn the_cells_drop_nothing_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = rt.block_on(gonggu_kernel::testkit::fresh_postgres("the_cells_drop_nothing_on_postgres")) else { return };
    let dir = tempfile::tempdir().unwrap();
    same_as_measuring_each(rt.block_on(Db::connect(Some(&url), dir.path(), "deals", Default::default())).unwrap());
}
