//! Lookup and autocomplete timings: `cargo run --release -p gonggu-places --example bench_places`.
//!
//! Goals: reverse ≤ 50 µs per point, search ≤ 1 ms per query.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::{rngs::StdRng, Rng, SeedableRng};

// Korea's bounding box, seas included: most random points are at sea, which exercises the
// coastal fallback as well as the fast "no candidate" path.
const LAT: (f64, f64) = (33.0, 38.7);
const LON: (f64, f64) = (124.5, 132.0);

const QUERIES: &[&str] = &[
    "역삼",
    "역",
    "강남",
    "강남구 역삼",
    "서울 역삼",
    "신사",
    "해운대",
    "우동",
    "중동",
    "송도",
    "판교",
    "분당",
    "정자",
    "성수",
    "망원",
    "연남",
    "홍대",
    "이도",
    "노형",
    "봉천",
    "신림",
    "상계",
    "광교",
    "동탄",
    "수원 팔달",
    "고양 일산",
    "제주",
    "부산 해운대 우",
    "면",
    "동",
    "ㅇ",
    "가",
    "충북 청주",
    "세종 반곡",
    "서울특별시 강남구 역삼동",
];

fn per_item(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n as f64
}

fn main() {
    let t = Instant::now();
    let n_places = gonggu_places::places().len();
    println!("first use (decode + grid + search keys): {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let (cells, entries) = gonggu_places::index_stats();
    println!("places: {n_places}, grid cells: {cells}, cell entries: {entries}");
    println!(
        "embedded data: {} bytes ({:.2} MiB) - the part of a release binary the table adds, since it is include_bytes! verbatim",
        gonggu_places::embedded_data_bytes(),
        gonggu_places::embedded_data_bytes() as f64 / 1024.0 / 1024.0
    );

    let mut rng = StdRng::seed_from_u64(7);
    let random: Vec<(f64, f64)> = (0..100_000).map(|_| (rng.gen_range(LAT.0..LAT.1), rng.gen_range(LON.0..LON.1))).collect();
    let t = Instant::now();
    let mut found = 0usize;
    for &(lat, lon) in &random {
        found += usize::from(black_box(gonggu_places::reverse(black_box(lat), black_box(lon))).is_ok());
    }
    let d = t.elapsed();
    println!("reverse, {} random points in the bounding box ({found} in Korea): {:.2} µs/point", random.len(), per_item(d, random.len()));

    // Single calls, to see the tail: the slowest are sea points near a long coast, where the
    // nearest-edge fallback measures many edges. The maximum also catches scheduler noise.
    let mut each: Vec<Duration> = random
        .iter()
        .take(20_000)
        .map(|&(lat, lon)| {
            let t = Instant::now();
            black_box(gonggu_places::reverse(lat, lon)).ok();
            t.elapsed()
        })
        .collect();
    each.sort_unstable();
    let pct = |p: f64| each[((each.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    println!(
        "reverse, single calls over 20,000 random points: p50 {:.2} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );

    let centres: Vec<(f64, f64)> = gonggu_places::places().iter().map(|p| (p.lat, p.lon)).collect();
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        for &(lat, lon) in &centres {
            black_box(gonggu_places::reverse(black_box(lat), black_box(lon))).ok();
        }
    }
    println!("reverse, all {} centre points: {:.2} µs/point", centres.len(), per_item(t.elapsed(), centres.len() * rounds));

    let rounds = 200;
    let mut each: Vec<Duration> = Vec::with_capacity(QUERIES.len() * rounds);
    for _ in 0..rounds {
        for &q in QUERIES {
            let t = Instant::now();
            black_box(gonggu_places::search(black_box(q), 10));
            each.push(t.elapsed());
        }
    }
    let mean = per_item(each.iter().sum(), each.len());
    each.sort_unstable();
    let pct = |p: f64| each[((each.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    println!(
        "search, {} realistic queries × {rounds}, limit 10: mean {mean:.1} µs/query, p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        QUERIES.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}
