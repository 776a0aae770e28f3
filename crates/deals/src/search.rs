//! Search by substring, indexed. Korean words are short (휴지, 생수, 쌀) and sit inside longer
//! words without spaces (화장지휴지), so word tokenizers and trigram indexes (FTS5 `trigram`,
//! `pg_trgm`) cannot serve a two-letter query. Every deal instead lists the distinct pairs of
//! adjacent characters ("bigrams") of its title, description and keywords in `deal_grams`; a query
//! keeps only the deals that contain all of the query's bigrams, then the exact substring test
//! (`LIKE`) runs on those few rows. Same tables and SQL on SQLite and PostgreSQL.

use std::collections::BTreeSet;

/// Most bigrams a query narrows by: each one is a semi-join, and a handful already leaves only
/// deals that very probably match.
const QUERY_GRAMS: usize = 4;

/// The text a deal is searched by, lowercased as the query is.
pub fn searchable(title: &str, description: &str, keywords: &[String]) -> String {
    format!("{title}\n{description}\n{}", keywords.join("\n")).to_lowercase()
}

/// The distinct bigrams of `text`; pairs with whitespace in them are left out (a query's
/// bigrams never need them to narrow correctly, since they only ever have to be a subset).
pub fn grams(text: &str) -> BTreeSet<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(2).filter(|w| !w[0].is_whitespace() && !w[1].is_whitespace()).map(|w| w.iter().collect()).collect()
}

/// The bigrams a (lowercased) query narrows by; empty when it has none (one letter), and then
/// the search scans.
pub fn query_grams(query: &str) -> Vec<String> {
    let all = grams(query);
    // Prefer bigrams that are not plain ASCII letters/digits: Korean pairs are far more selective
    // than "co" or "00".
    let (rare, common): (Vec<String>, Vec<String>) = all.into_iter().partition(|g| !g.chars().all(|c| c.is_ascii_alphanumeric()));
    rare.into_iter().chain(common).take(QUERY_GRAMS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn korean_pairs() {
        assert_eq!(grams("휴지"), BTreeSet::from(["휴지".to_owned()]));
        assert_eq!(grams("코스트코 휴지"), ["스트", "코스", "트코", "휴지"].iter().map(|s| s.to_string()).collect());
        assert!(grams("휴").is_empty());
        assert_eq!(query_grams("휴"), Vec::<String>::new());
        assert_eq!(query_grams("coke 휴지").first().map(String::as_str), Some("휴지"), "Korean first");
        assert!(query_grams("아주 긴 검색어를 넣어도 됩니다").len() <= QUERY_GRAMS);
    }

    proptest! {
        /// What the index promises: if the query is a substring of the text, every bigram the
        /// query narrows by is among the text's bigrams (no false negatives).
        #[test]
        fn a_substring_is_never_filtered_out(text in "[가-힣a-z0-9 ]{0,40}", start in 0usize..40, len in 0usize..12) {
            let chars: Vec<char> = text.chars().collect();
            let start = start.min(chars.len());
            let end = (start + len).min(chars.len());
            let query: String = chars[start..end].iter().collect();
            let indexed = grams(&text);
            for g in query_grams(&query) {
                prop_assert!(indexed.contains(&g), "{g:?} of {query:?} missing from {text:?}");
            }
        }
    }
}
