//! Name autocomplete over the 읍면동 table. Keys are precomputed once; a query is one substring
//! scan over all names laid end to end, plus one pass over the ~250 시군구.

use unicode_normalization::UnicodeNormalization;

use crate::place::Place;

/// 시도 as people write them in a query: "서울 역삼", "충북 청주". Keyed by the full name,
/// the new 전북/강원 names included so a data update keeps working.
const SIDO_SHORT: &[(&str, &str)] = &[
    ("서울특별시", "서울"),
    ("부산광역시", "부산"),
    ("대구광역시", "대구"),
    ("인천광역시", "인천"),
    ("광주광역시", "광주"),
    ("대전광역시", "대전"),
    ("울산광역시", "울산"),
    ("세종특별자치시", "세종"),
    ("경기도", "경기"),
    ("강원도", "강원"),
    ("강원특별자치도", "강원"),
    ("충청북도", "충북"),
    ("충청남도", "충남"),
    ("전라북도", "전북"),
    ("전북특별자치도", "전북"),
    ("전라남도", "전남"),
    ("경상북도", "경북"),
    ("경상남도", "경남"),
    ("제주특별자치도", "제주"),
];

/// How well a place answers a query; lower ranks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    /// The name, or the name without its 동/읍/면 ("역삼" for 역삼동).
    Exact,
    Prefix,
    Substring,
    /// Only the 시군구 or 시도 matched ("강남구" lists every 동 of 강남구).
    Region,
}

/// A (시도, 시군구) pair: about 250 of them, so a query tests each once, not once per place.
struct Region {
    sido: String,
    sigungu: String,
    sido_short: Option<&'static str>,
    places: Vec<u32>,
}

pub(crate) struct SearchIndex {
    /// Every place's name key followed by '\n' (which no key contains), in place order.
    names: String,
    /// Where each place's key starts in `names`, plus the end.
    starts: Vec<u32>,
    region_of: Vec<u32>,
    regions: Vec<Region>,
    /// Position of each place in (시도, 시군구, 읍면동, code) order, the tie-break.
    order: Vec<u32>,
}

const SEP: char = '\n';

/// Lower-cased, NFC, every kind of space removed.
pub(crate) fn key(s: &str) -> String {
    s.nfc().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect()
}

impl SearchIndex {
    pub(crate) fn build(places: &[Place]) -> SearchIndex {
        let mut regions: Vec<Region> = Vec::new();
        let mut region_names: Vec<(&str, &str)> = Vec::new();
        let mut region_of = Vec::with_capacity(places.len());
        let mut names = String::new();
        let mut starts = Vec::with_capacity(places.len() + 1);
        for (i, p) in places.iter().enumerate() {
            let r = region_names.iter().position(|&r| r == (p.sido, p.sigungu)).unwrap_or_else(|| {
                region_names.push((p.sido, p.sigungu));
                let sido_short = SIDO_SHORT.iter().find(|(full, _)| *full == p.sido).map(|(_, short)| *short);
                regions.push(Region { sido: key(p.sido), sigungu: key(p.sigungu), sido_short, places: Vec::new() });
                regions.len() - 1
            });
            regions[r].places.push(i as u32);
            region_of.push(r as u32);
            starts.push(names.len() as u32);
            names.push_str(&key(p.name));
            names.push(SEP);
        }
        starts.push(names.len() as u32);

        let mut by_region: Vec<usize> = (0..places.len()).collect();
        by_region.sort_by_key(|&i| (places[i].sido, places[i].sigungu, places[i].name, places[i].code));
        let mut order = vec![0u32; places.len()];
        for (rank, i) in by_region.into_iter().enumerate() {
            order[i] = rank as u32;
        }
        SearchIndex { names, starts, region_of, regions, order }
    }

    fn name(&self, i: usize) -> &str {
        &self.names[self.starts[i] as usize..self.starts[i + 1] as usize - SEP.len_utf8()]
    }

    /// Records in `best` the tier of every name `q` occurs in, for places `wanted` accepts.
    fn scan(&self, q: &str, best: &mut [Option<Tier>], wanted: impl Fn(usize) -> bool) {
        for (at, _) in self.names.match_indices(q) {
            let i = self.starts.partition_point(|&s| s as usize <= at) - 1;
            if wanted(i) {
                let tier = tier_at(self.name(i), at - self.starts[i] as usize, q);
                best[i] = best[i].min_some(Some(tier));
            }
        }
    }

    pub(crate) fn search(&self, q: &str, limit: usize) -> Vec<usize> {
        let tokens: Vec<String> = q.split_whitespace().map(key).filter(|t| !t.is_empty()).collect();
        if tokens.is_empty() || limit == 0 {
            return Vec::new();
        }
        let whole = tokens.concat();
        let (leading, last) = tokens.split_at(tokens.len() - 1);
        let last = &last[0];

        let mut best: Vec<Option<Tier>> = vec![None; self.starts.len() - 1];
        self.scan(&whole, &mut best, |_| true);

        // "강남구 역삼": the last word names the 동, the others its 시군구 / 시도.
        let mut context = vec![false; self.regions.len()];
        let mut all = vec![false; self.regions.len()];
        for (r, region) in self.regions.iter().enumerate() {
            let leading_held = leading.iter().all(|t| region.holds(t));
            context[r] = !leading.is_empty() && leading_held;
            all[r] = leading_held && region.holds(last);
            if let Some(rest) = region.rest_after(&whole) {
                for &i in &region.places {
                    let i = i as usize;
                    let tier = self.name(i).find(rest).map(|at| tier_at(self.name(i), at, rest)).filter(|&t| t != Tier::Substring);
                    best[i] = best[i].min_some(tier);
                }
            }
        }
        if context.contains(&true) {
            self.scan(last, &mut best, |i| context[self.region_of[i] as usize]);
        }

        let mut hits: Vec<(Tier, u32, usize)> = Vec::new();
        for (i, tier) in best.into_iter().enumerate() {
            match tier {
                Some(tier) => hits.push((tier, self.order[i], i)),
                None if all[self.region_of[i] as usize] => hits.push((Tier::Region, self.order[i], i)),
                None => {}
            }
        }
        // Ranks are distinct, so an unstable sort is still deterministic.
        if hits.len() > limit {
            hits.select_nth_unstable(limit - 1);
            hits.truncate(limit);
        }
        hits.sort_unstable();
        hits.into_iter().map(|(_, _, i)| i).collect()
    }
}

/// The tier of `q` found at byte `at` of `name`.
fn tier_at(name: &str, at: usize, q: &str) -> Tier {
    if at > 0 {
        return Tier::Substring;
    }
    match &name[q.len()..] {
        "" | "동" | "읍" | "면" => Tier::Exact,
        _ => Tier::Prefix,
    }
}

impl Region {
    fn holds(&self, t: &str) -> bool {
        self.sigungu.contains(t) || self.sido.contains(t) || self.sido_short.is_some_and(|s| s.starts_with(t))
    }

    /// "강남구역삼" or "서울특별시강남구역삼동" → "역삼" / "역삼동": the 시군구 (after an
    /// optional 시도) written in front of the name without a space. `None` when nothing of a
    /// name follows, so "강남구" alone is a region match, not a prefix of every 동 in it.
    fn rest_after<'q>(&self, q: &'q str) -> Option<&'q str> {
        if self.sigungu.is_empty() {
            return None;
        }
        let after_sido = [Some(self.sido.as_str()), self.sido_short].into_iter().flatten().find_map(|s| q.strip_prefix(s)).unwrap_or(q);
        after_sido.strip_prefix(self.sigungu.as_str()).filter(|rest| !rest.is_empty())
    }
}

trait MinSome {
    fn min_some(self, other: Self) -> Self;
}

impl MinSome for Option<Tier> {
    fn min_some(self, other: Option<Tier>) -> Option<Tier> {
        match (self, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
