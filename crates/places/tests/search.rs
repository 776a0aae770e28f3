//! Autocomplete ranking.

use gonggu_places::{search, Place};

fn names(q: &str, limit: usize) -> Vec<String> {
    search(q, limit).iter().map(|p| p.to_string()).collect()
}

#[test]
fn yeoksam_ranks_yeoksam_dong_first() {
    let hits = search("역삼", 10);
    assert_eq!(hits[0].to_string(), "서울특별시 강남구 역삼동");
}

#[test]
fn region_qualified_forms_find_the_dong() {
    for q in ["강남구 역삼", "서울 역삼", "서울특별시 강남구 역삼동", "강남구역삼", "강남구역삼동", "서울강남구역삼", " 강남구   역삼 "]
    {
        let hits = names(q, 5);
        assert_eq!(hits.first().map(String::as_str), Some("서울특별시 강남구 역삼동"), "{q:?} → {hits:?}");
    }
    // The qualifier filters: 신사동 is in 강남구 and 은평구 (and 관악구's is a 행정동, not here).
    assert_eq!(names("은평구 신사", 5), ["서울특별시 은평구 신사동"]);
    assert_eq!(names("강남 신사", 5), ["서울특별시 강남구 신사동"]);
}

#[test]
fn spaces_inside_a_name_are_ignored() {
    assert_eq!(names("역삼 동", 1), ["서울특별시 강남구 역삼동"]);
    assert_eq!(names("역삼동", 1), ["서울특별시 강남구 역삼동"]);
}

#[test]
fn exact_before_prefix_before_substring_before_region() {
    // "우" is exactly 우동 (less its 동); 우만동 etc. begin with it; 석우동 etc. contain it.
    let hits = search("우", 5000);
    let pos = |f: &dyn Fn(&Place) -> bool| hits.iter().position(|p| f(p)).unwrap();
    let exact = pos(&|p| p.name == "우동");
    let prefix = pos(&|p| p.name.starts_with('우') && p.name != "우동");
    let substring = pos(&|p| !p.name.starts_with('우'));
    assert!(exact < prefix && prefix < substring, "{exact} {prefix} {substring}");
    // Every prefix match comes before every substring match.
    let last_prefix = hits.iter().rposition(|p| p.name.starts_with('우')).unwrap();
    assert!(last_prefix < substring);

    // "해운대" names no 동, only the 구: every 동 of 해운대구, after any name match.
    let hits = search("해운대", 100);
    assert!(!hits.is_empty() && hits.iter().all(|p| p.sigungu == "해운대구"), "{hits:?}");
    // "중" is exact for 중동s, and 중구's 동 (matched by the 구 only) come after all name matches.
    let hits = search("중", 5000);
    let first_region_only = hits.iter().position(|p| !p.name.contains('중')).unwrap();
    assert!(hits[first_region_only..].iter().all(|p| !p.name.contains('중') && p.sigungu.contains('중')));
    assert_eq!(hits[0].name, "중동");
}

#[test]
fn prefix_outranks_substring() {
    // 신사동 begins with 신; 대신동 only contains it, although 서울 sorts it first.
    let hits = names("신", 5000);
    let pos = |n: &str| hits.iter().position(|h| h == n).unwrap_or_else(|| panic!("{n} missing"));
    assert!(pos("서울특별시 은평구 신사동") < pos("서울특별시 서대문구 대신동"));
    // "대신" is exact for 대신동 and 대신면, and only inside 동대신동1가 and 서대신동1가.
    let hits = search("대신", 100);
    let first_substring = hits.iter().position(|p| !p.name.starts_with("대신")).unwrap();
    assert!(first_substring >= 4, "{hits:?}");
    assert!(hits[..first_substring].iter().all(|p| matches!(p.name, "대신동" | "대신면")), "{hits:?}");
    assert!(hits[first_substring..].iter().all(|p| p.name.contains("대신") && !p.name.starts_with("대신")), "{hits:?}");
}

#[test]
fn ties_are_in_region_order() {
    let hits = search("신사", 10);
    let keys: Vec<_> = hits.iter().map(|p| (p.sido, p.sigungu, p.name)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(names("신사", 10), names("신사", 10));
}

#[test]
fn limit_is_respected() {
    assert_eq!(search("동", 7).len(), 7);
    assert_eq!(search("동", 0).len(), 0);
    assert!(search("동", 100_000).len() > 3000);
    // A limit cut keeps the best: the first 3 of a long list are the first 3 of a short one.
    assert_eq!(names("동", 3), names("동", 100)[..3]);
}

#[test]
fn empty_and_blank_queries_find_nothing() {
    for q in ["", " ", "\t\n", "\u{3000}"] {
        assert!(search(q, 10).is_empty(), "{q:?}");
    }
    assert!(search("zzzz", 10).is_empty());
}

#[test]
fn decomposed_hangul_is_normalised() {
    // "역삼" typed as conjoining jamo (NFD), as macOS file names and some IMEs send it.
    let nfd = "\u{110b}\u{1167}\u{11a8}\u{1109}\u{1161}\u{11b7}";
    assert_eq!(names(nfd, 1), ["서울특별시 강남구 역삼동"]);
}

#[test]
fn sido_abbreviations() {
    let hits = search("충북 청주", 20);
    assert!(!hits.is_empty() && hits.iter().all(|p| p.sido == "충청북도" && p.sigungu.starts_with("청주시")), "{hits:?}");
    let hits = search("경남 창원", 5);
    assert!(!hits.is_empty() && hits.iter().all(|p| p.sido == "경상남도"), "{hits:?}");
}

#[test]
fn city_and_gu_names_are_searchable_both_ways() {
    // The source writes "수원시팔달구" and "덕양구"; the table says "수원시 팔달구", "고양시 덕양구".
    assert!(search("팔달구 인계", 1)[0].sigungu == "수원시 팔달구");
    assert!(search("고양 덕양 행신", 1)[0].sigungu == "고양시 덕양구");
}
