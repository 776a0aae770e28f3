//! Keyword alerts without a scan over users: every distinct keyword of every user goes into one
//! Aho–Corasick automaton; a deal's text is read once and each keyword found there names its
//! users. The automaton is rebuilt from the stored keywords when they change (a version number
//! kept with them says when), so every instance matches against the same list.

use std::collections::{BTreeMap, HashMap};

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use uuid::Uuid;

/// Case-insensitive for every script: both sides are lower-cased the same way (Hangul has no
/// case and passes through, so a Korean keyword matches as a substring).
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

#[derive(Default)]
pub struct KeywordIndex {
    automaton: Option<AhoCorasick>,
    /// Per pattern id, the users holding that keyword.
    users: Vec<Vec<Uuid>>,
    patterns: Vec<String>,
}

impl KeywordIndex {
    /// From `(user, keyword)` pairs (keywords as the users typed them).
    pub fn build(pairs: impl IntoIterator<Item = (Uuid, String)>) -> anyhow::Result<Self> {
        let mut by_keyword: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
        for (user, keyword) in pairs {
            let k = fold(keyword.trim());
            if !k.is_empty() {
                by_keyword.entry(k).or_default().push(user);
            }
        }
        if by_keyword.is_empty() {
            return Ok(Self::default());
        }
        let (patterns, users): (Vec<String>, Vec<Vec<Uuid>>) = by_keyword.into_iter().unzip();
        // A DFA matches fastest; past a few thousand patterns it grows too big and the
        // contiguous NFA is the better trade (aho-corasick picks by size with `None`).
        let automaton = AhoCorasick::builder().kind(None::<AhoCorasickKind>).build(&patterns)?;
        Ok(Self { automaton: Some(automaton), users, patterns })
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Every user with a keyword in `texts`, with the first keyword of theirs found.
    pub fn matches(&self, texts: &[&str]) -> HashMap<Uuid, String> {
        let mut out = HashMap::new();
        let Some(ac) = &self.automaton else { return out };
        for text in texts {
            let text = fold(text);
            for m in ac.find_overlapping_iter(&text) {
                let p = m.pattern().as_usize();
                for user in &self.users[p] {
                    out.entry(*user).or_insert_with(|| self.patterns[p].clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_korean_substrings_and_latin_in_any_case() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let idx = KeywordIndex::build([(a, "생수".to_owned()), (b, "삼다수".to_owned()), (b, "Costco".to_owned()), (c, "휴지".to_owned())])
            .unwrap();
        let found = idx.matches(&["제주 삼다수 2L 12병", "COSTCO에서 같이 사요"]);
        assert_eq!(found.get(&b).map(String::as_str), Some("삼다수"));
        assert!(!found.contains_key(&a), "생수 is not in 삼다수");
        assert!(!found.contains_key(&c));
        let found = idx.matches(&["아이시스 생수 2L", ""]);
        assert_eq!(found.get(&a).map(String::as_str), Some("생수"));
        let found = idx.matches(&["코스트코 costco 휴지"]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(KeywordIndex::build(std::iter::empty()).unwrap().matches(&["무엇이든"]).is_empty());
    }

    #[test]
    fn overlapping_keywords_all_match() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let idx = KeywordIndex::build([(a, "우유".to_owned()), (b, "서울우유".to_owned())]).unwrap();
        let found = idx.matches(&["서울우유 1L"]);
        assert_eq!(found.len(), 2);
    }
}
