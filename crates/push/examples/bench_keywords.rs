//! Keyword matching benchmark (issue 11, bench 2): 100,000 users holding up to 20 interest
//! keywords each; the time to find every matching user for one new deal, against a scan over
//! every user's keywords (what a naive `LIKE` per user amounts to), measured in the same run.
//!
//! `cargo run --release -p gonggu-push --example bench_keywords [users]`

use std::time::Instant;

use gonggu_push::keywords::{fold, KeywordIndex};
use rand::{rngs::StdRng, Rng, SeedableRng};
use uuid::Uuid;

const WORDS: &[&str] = &[
    "생수",
    "삼다수",
    "휴지",
    "물티슈",
    "기저귀",
    "우유",
    "서울우유",
    "계란",
    "쌀",
    "라면",
    "신라면",
    "커피",
    "원두",
    "캡슐커피",
    "세제",
    "섬유유연제",
    "샴푸",
    "치약",
    "칫솔",
    "고구마",
    "감자",
    "양파",
    "사과",
    "배",
    "귤",
    "딸기",
    "바나나",
    "닭가슴살",
    "소고기",
    "돼지고기",
    "삼겹살",
    "오리고기",
    "연어",
    "새우",
    "김치",
    "만두",
    "떡볶이",
    "과자",
    "초콜릿",
    "견과류",
    "아몬드",
    "올리브유",
    "참기름",
    "식용유",
    "costco",
    "코스트코",
    "트레이더스",
    "이마트",
    "홈플러스",
    "노브랜드",
    "크루아상",
    "베이글",
    "식빵",
    "치즈",
    "요거트",
    "두부",
    "콩나물",
    "marvel",
    "lego",
    "레고",
    "장난감",
    "유모차",
    "카시트",
    "강아지사료",
    "고양이모래",
    "캣타워",
    "배변패드",
    "마스크",
    "손소독제",
];

fn syllable(rng: &mut StdRng) -> char {
    char::from_u32(0xAC00 + rng.gen_range(0..11172)).unwrap()
}

fn keyword(rng: &mut StdRng) -> String {
    if rng.gen_bool(0.6) {
        WORDS[rng.gen_range(0..WORDS.len())].to_owned()
    } else {
        // A long tail of rarer keywords (2–4 syllables).
        (0..rng.gen_range(2..=4)).map(|_| syllable(rng)).collect()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let users: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(100_000);
    let mut rng = StdRng::seed_from_u64(11);
    let mut pairs = Vec::new();
    let mut per_user: Vec<(Uuid, Vec<String>)> = Vec::with_capacity(users);
    for _ in 0..users {
        let id = Uuid::now_v7();
        let n = rng.gen_range(1..=20);
        let ks: Vec<String> = (0..n).map(|_| keyword(&mut rng)).collect();
        pairs.extend(ks.iter().map(|k| (id, k.clone())));
        per_user.push((id, ks.iter().map(|k| fold(k)).collect()));
    }
    let started = Instant::now();
    let index = KeywordIndex::build(pairs.iter().cloned())?;
    let build = started.elapsed();

    let deals: Vec<(String, String)> = (0..200)
        .map(|i| {
            let a = WORDS[rng.gen_range(0..WORDS.len())];
            let b = WORDS[rng.gen_range(0..WORDS.len())];
            let tail: String = (0..3).map(|_| syllable(&mut rng)).collect();
            (format!("{a} {b} 공동구매 {i}차"), format!("이번 주말 {b} 소분해요. {tail} 같이 사실 분 구해요. 직거래 역삼역."))
        })
        .collect();

    let mut indexed = Vec::new();
    let mut found_total = 0usize;
    for (title, body) in &deals {
        let t = Instant::now();
        let found = index.matches(&[title, body]);
        indexed.push(t.elapsed().as_secs_f64() * 1e3);
        found_total += found.len();
    }
    let mut scanned = Vec::new();
    for (title, body) in deals.iter().take(20) {
        let t = Instant::now();
        let (title, body) = (fold(title), fold(body));
        let mut n = 0usize;
        for (_, ks) in &per_user {
            if ks.iter().any(|k| title.contains(k.as_str()) || body.contains(k.as_str())) {
                n += 1;
            }
        }
        scanned.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(n);
    }
    indexed.sort_by(f64::total_cmp);
    scanned.sort_by(f64::total_cmp);
    println!("users {users}, (user, keyword) pairs {}, distinct keywords {}", pairs.len(), index.len());
    println!("automaton build: {:.0} ms", build.as_secs_f64() * 1e3);
    println!(
        "match one deal (automaton): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {:.0} matching users per deal on average",
        percentile(&indexed, 0.5),
        percentile(&indexed, 0.99),
        indexed.last().unwrap(),
        found_total as f64 / deals.len() as f64
    );
    println!(
        "match one deal (scan over users, baseline): p50 {:.1} ms, p99 {:.1} ms",
        percentile(&scanned, 0.5),
        percentile(&scanned, 0.99)
    );
    println!("ratio (scan p50 / automaton p50): {:.0}x", percentile(&scanned, 0.5) / percentile(&indexed, 0.5));
    Ok(())
}
