//! Search by words, indexed. Korean words are short (휴지, 생수, 쌀), sit inside longer words
//! without spaces (화장지휴지) and are spaced freely (논산 딸기 / 논산딸기), so word tokenizers and
//! trigram indexes (FTS5 `trigram`, `pg_trgm`) cannot serve a two-letter query.
//!
//! Instead both a deal and a query are *folded* here, in Rust, so both engines compare the same
//! strings with the same SQL: NFKC, Unicode lowercase, and only letters, digits and combining
//! marks kept (spacing and punctuation never matter). A deal stores its folded text
//! (`deals.search_text`, one line per field) and the distinct pairs of adjacent characters
//! ("bigrams") of it in `deal_grams`. A query is split into words at spaces and punctuation;
//! every word must occur in the folded text, in any order. The index keeps only the deals that
//! contain the words' bigrams, then the exact substring test (`LIKE`) runs on those few rows.

use std::collections::BTreeSet;

use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

/// Most bigrams a query narrows by: each one is a semi-join, and a handful already leaves only
/// deals that very probably match.
const QUERY_GRAMS: usize = 4;

/// The characters search compares: NFKC-normalized, lowercased, and only the ones that carry
/// meaning (letters, digits, marks). Whitespace and punctuation fold away.
pub fn fold(text: &str) -> String {
    text.nfkc().flat_map(char::to_lowercase).filter(|c| kept(*c)).collect()
}

fn kept(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// The text a deal is searched by: each field folded, one per line, so no word matches across
/// two fields (a query word never holds a line break).
pub fn searchable(title: &str, description: &str, keywords: &[String]) -> String {
    let mut lines = vec![fold(title), fold(description)];
    lines.extend(keywords.iter().map(|k| fold(k)));
    lines.join("\n")
}

/// What a query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// No query (absent or blank): no text filter.
    Everything,
    /// Text with nothing searchable in it (only punctuation or symbols, e.g. `"`): nothing can
    /// contain "no word", so it finds nothing rather than everything.
    Nothing,
    /// Folded words, each of which must occur.
    Words(Vec<String>),
}

/// Splits a query into folded words at whitespace and punctuation.
pub fn parse_query(raw: Option<&str>) -> Query {
    let Some(raw) = raw.map(str::trim).filter(|q| !q.is_empty()) else { return Query::Everything };
    // Split what `fold` would keep, so the words of a text are always substrings of its fold.
    let lowered: String = raw.nfkc().flat_map(char::to_lowercase).collect();
    let mut words: Vec<String> = vec![];
    for w in lowered.split(|c: char| !kept(c)).filter(|w| !w.is_empty()) {
        if !words.iter().any(|seen| seen == w) {
            words.push(w.to_owned());
        }
    }
    if words.is_empty() {
        Query::Nothing
    } else {
        Query::Words(words)
    }
}

/// The distinct bigrams of `text`; pairs across a line break are left out (a query word's
/// bigrams never need them, since they only ever have to be a subset).
pub fn grams(text: &str) -> BTreeSet<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(2).filter(|w| !w[0].is_whitespace() && !w[1].is_whitespace()).map(|w| w.iter().collect()).collect()
}

/// The bigrams a query's (folded) words narrow by; empty when they have none (one-letter
/// words), and then the search scans.
pub fn query_grams(words: &[String]) -> Vec<String> {
    let all: BTreeSet<String> = words.iter().flat_map(|w| grams(w)).collect();
    // Prefer bigrams that are not plain ASCII letters/digits: Korean pairs are far more selective
    // than "co" or "00".
    let (rare, common): (Vec<String>, Vec<String>) = all.into_iter().partition(|g| !g.chars().all(|c| c.is_ascii_alphanumeric()));
    rare.into_iter().chain(common).take(QUERY_GRAMS).collect()
}

/// Whether a deal's searchable text matches the query's words: what the SQL decides, stated
/// once in Rust for the tests.
pub fn matches(text: &str, words: &[String]) -> bool {
    words.iter().all(|w| text.contains(w.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(q: &str) -> Vec<String> {
        match parse_query(Some(q)) {
            Query::Words(w) => w,
            other => panic!("{q:?}: {other:?}"),
        }
    }

    #[test]
    fn korean_pairs() {
        assert_eq!(grams("휴지"), BTreeSet::from(["휴지".to_owned()]));
        assert_eq!(grams(&fold("코스트코 휴지")), ["스트", "코스", "코휴", "트코", "휴지"].iter().map(|s| s.to_string()).collect());
        assert!(grams("휴").is_empty());
        assert_eq!(query_grams(&words("휴")), Vec::<String>::new());
        assert_eq!(query_grams(&words("coke 휴지")).first().map(String::as_str), Some("휴지"), "Korean first");
        assert!(query_grams(&words("아주 긴 검색어를 넣어도 됩니다")).len() <= QUERY_GRAMS);
    }

    #[test]
    fn folding_ignores_case_width_spacing_and_punctuation() {
        assert_eq!(fold("CAFÉ 원두 1kg"), "café원두1kg");
        assert_eq!(fold("Cafe\u{301}"), "café", "a combining accent composes");
        assert_eq!(fold("ＣＯＳＴＣＯ"), "costco", "full-width letters");
        assert_eq!(fold("2.5kg, \"특가\"!"), "25kg특가");
        assert_eq!(fold("\u{1102}\u{1169}\u{11ab}\u{1109}\u{1161}\u{11ab}"), "논산", "conjoining jamo compose");
        assert_eq!(parse_query(Some(" \" ")), Query::Nothing);
        assert_eq!(parse_query(Some("  ")), Query::Everything);
        assert_eq!(parse_query(None), Query::Everything);
        assert_eq!(words("휴지, 코스트코 휴지"), ["휴지", "코스트코"]);
    }

    #[test]
    fn every_word_in_any_order_and_spacing_does_not_matter() {
        let text = searchable("코스트코 키친타올 휴지 30롤 나눠요", "", &[]);
        assert!(matches(&text, &words("코스트코 휴지")));
        assert!(matches(&text, &words("휴지 코스트코")));
        assert!(!matches(&text, &words("휴지 이마트")));
        let text = searchable("논산 딸기 2kg 공구", "", &[]);
        assert!(matches(&text, &words("논산딸기")));
        assert!(matches(&text, &words("딸기 공구")));
        let text = searchable("딸기", "공구", &[]);
        assert!(!matches(&text, &words("기공")), "no word across two fields");
    }

    proptest! {
        /// What the index promises: if every query word is a substring of the folded text, every
        /// bigram the query narrows by is among the text's bigrams (no false negatives).
        #[test]
        fn a_match_is_never_filtered_out(
            title in "[가-힣a-zA-Z0-9 .,!\"]{0,30}", description in "[가-힣a-z0-9 ]{0,30}",
            picks in proptest::collection::vec((0usize..2, 0usize..30, 0usize..8), 1..4),
        ) {
            let fields = [fold(&title), fold(&description)];
            let text = searchable(&title, &description, &[]);
            let query: Vec<String> = picks
                .iter()
                .map(|&(f, start, len)| {
                    let chars: Vec<char> = fields[f].chars().collect();
                    let start = start.min(chars.len());
                    chars[start..(start + len).min(chars.len())].iter().collect::<String>()
                })
                .collect();
            let Query::Words(words) = parse_query(Some(&query.join(" "))) else { return Ok(()) };
            prop_assert!(matches(&text, &words), "{words:?} in {text:?}");
            let indexed = grams(&text);
            for g in query_grams(&words) {
                prop_assert!(indexed.contains(&g), "{g:?} of {words:?} missing from {text:?}");
            }
        }

        /// Any text, searched for as it is, finds itself: a query folds the way the text does.
        #[test]
        fn a_text_finds_itself(text in "\\PC{0,30}") {
            if let Query::Words(words) = parse_query(Some(&text)) {
                prop_assert!(matches(&fold(&text), &words), "{words:?} in {:?}", fold(&text));
            }
        }
    }
}
