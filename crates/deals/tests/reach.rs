//! The local feed (issue 12): deals meeting within a reach of a point, on SQLite and PostgreSQL.
//! A deal exactly at the radius is in, one microdegree beyond is out; and over random deals and
//! points (some on grid-cell edges) the indexed query finds exactly the deals a measurement of
//! every one of them finds — the cells never drop a deal.

mod common;

use common::{deals_on, in_two_days, Opened};
use gonggu_deals::{
    domain::{DealStatus, MeetingPlace},
    service::{Deals, ListParams},
    store::{cell_of, cells_within, micro, nearest_key, reach_key, ListQuery, Sort},
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

/// Origins on and beside cell edges (multiples of 1/64°), and ordinary ones.
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

/// Every point within reach lies in one of the cells the query reads, over many random origins
/// across Korea (some on cell edges) and points around them, without a database.
#[test]
fn the_cells_hold_every_point_within_reach() {
    let cell = 1.0 / 64.0;
    let origin = prop_oneof![
        (33.0f64..38.7, 124.5f64..131.0),
        // On a cell's corner, and a microdegree either side of it.
        (33i64 * 64..38 * 64, 124i64 * 64..131 * 64, -1i64..=1)
            .prop_map(move |(r, c, e)| (r as f64 * cell + e as f64 * 1e-6, c as f64 * cell + e as f64 * 1e-6)),
    ];
    let strategy = (origin, prop::collection::vec((-0.1f64..0.1, -0.13f64..0.13), 50), prop::sample::select(vec![1i64, 3, 5, 10]));
    let mut runner = TestRunner::new(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() });
    runner
        .run(&strategy, |(from, offsets, km)| {
            let metres = km as f64 * 1000.0;
            let cells = cells_within(from, metres);
            // Each point also moved onto the edge of its cell nearest the origin, the worst case.
            let points = offsets.iter().flat_map(|(dy, dx)| {
                let (lat, lon) = (from.0 + dy, from.1 + dx);
                let snap = |v: f64, towards: f64| if towards > v { (v / cell).ceil() * cell - 1e-6 } else { (v / cell).floor() * cell };
                [(lat, lon), (snap(lat, from.0), snap(lon, from.1))]
            });
            for (lat, lon) in points {
                let p = MeetingPlace::at("x", lat, lon);
                if nearest_key(from, Some(&p)) <= reach_key(metres) {
                    prop_assert!(cells.contains(&cell_of(&p)), "{lat},{lon} is within {km} km of {from:?} but its cell is not read");
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // And the cells are few: a circle, not its bounding box of 14 × 11 km cells.
    let yeoksam = (37.500_11, 127.038_52);
    let counts: Vec<usize> = [1, 3, 5, 10].iter().map(|km| cells_within(yeoksam, *km as f64 * 1000.0).len()).collect();
    assert!(counts[2] <= 50 && counts[3] <= 170, "cells for 1/3/5/10 km: {counts:?}");
}

/// The local feed reads the cell index, not every open deal newest first, on SQLite without
/// statistics (a fresh database) and with them; and only the page's rows come from the table.
#[test]
fn the_local_feed_reads_the_cell_index_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(Db::connect(None, dir.path(), "deals", Default::default())).unwrap();
    let deals = deals_on(&db, &rt);
    let yeoksam = (37.500_11, 127.038_52);
    let query = |sort| ListQuery {
        statuses: vec![DealStatus::Recruiting, DealStatus::Confirmed],
        within: Some((yeoksam, 5000.0)),
        near: Some(yeoksam),
        sort: Some(sort),
        limit: 20,
        ..Default::default()
    };
    let check = |when: &str| {
        for sort in [Sort::Newest, Sort::Nearest] {
            let plan = rt.block_on(deals.store.list_plan(&query(sort))).unwrap();
            let text = plan.join("\n");
            assert!(
                plan.iter().any(|step| step.contains("USING COVERING INDEX deals_by_cell")),
                "{when}, {sort:?}: the seqs come from the cell index alone:\n{text}"
            );
            assert!(!text.contains("deals_open_newest"), "{when}, {sort:?}: no walk over every open deal:\n{text}");
            assert!(!text.contains("SCAN deals"), "{when}, {sort:?}: no scan of the table:\n{text}");
        }
    };
    check("fresh");
    // Deals across the country, a few near, then statistics.
    rt.block_on(async {
        let places: Vec<Option<(f64, f64)>> = (0..300)
            .map(|i| Some((34.0 + (i % 40) as f64 * 0.1, 126.0 + (i / 40) as f64 * 0.4)))
            .chain((0..5).map(|i| Some((37.5 + i as f64 * 0.001, 127.04))))
            .collect();
        seed(&deals, &places).await;
        let Db::Sqlite(pool) = &db else { unreachable!() };
        sqlx::query("ANALYZE").execute(pool).await.unwrap();
    });
    check("after ANALYZE");
}
