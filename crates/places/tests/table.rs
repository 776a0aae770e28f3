//! The table as a whole: codes, names, JSON shape.

use gonggu_places::{get, places, Code};

#[test]
fn about_five_thousand_places_in_code_order() {
    let all = places();
    assert!((4900..5200).contains(&all.len()), "{}", all.len());
    assert!(all.windows(2).all(|w| w[0].code < w[1].code));
    assert!(gonggu_places::embedded_data_bytes() < 3 * 1024 * 1024);
}

#[test]
fn every_place_is_named_and_in_korea() {
    for p in places() {
        assert!(!p.sido.is_empty() && !p.name.is_empty(), "{p:?}");
        assert_eq!(p.sigungu.is_empty(), p.sido == "세종특별자치시", "{p:?}");
        assert!(p.name.ends_with(['동', '읍', '면', '가', '로']), "{p:?}");
        assert!((33.0..38.7).contains(&p.lat) && (124.5..132.0).contains(&p.lon), "{p:?}");
        assert_eq!(p.code.to_string().len(), 8);
        assert_eq!(p.code.sido_code(), p.code.as_u32() / 1_000_000);
    }
    let sido: std::collections::BTreeSet<_> = places().iter().map(|p| p.sido).collect();
    // The 17 시도; names.rs checks which.
    assert_eq!(sido.len(), 17, "{sido:?}");
    // The source's "서울시성북구" is written as 성북구.
    assert!(places().iter().all(|p| !p.sigungu.starts_with("서울시")));
}

#[test]
fn get_round_trips_every_code() {
    for p in places() {
        assert!(std::ptr::eq(get(&p.code.to_string()).unwrap(), p));
    }
    let p = get("11680101").unwrap();
    assert_eq!(p.to_string(), "서울특별시 강남구 역삼동");
    assert_eq!(p.code, "11680101");
}

#[test]
fn get_rejects_what_is_not_a_code() {
    for code in ["", "1168010", "116801010", "+1168010", "1168010a", " 11680101", "00000000", "99999999"] {
        assert!(get(code).is_none(), "{code:?}");
    }
    assert!("1168010".parse::<Code>().is_err());
}

#[test]
fn json_shape() {
    let p = get("11680101").unwrap();
    let v = serde_json::to_value(p).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 6);
    for k in ["code", "sido", "sigungu", "name", "lat", "lon"] {
        assert!(keys.contains(&k), "{keys:?}");
    }
    assert_eq!(v["code"], "11680101");
    assert_eq!(v["name"], "역삼동");
    assert_eq!(v["lat"].as_f64().unwrap(), p.lat);
    // A code with leading zeros would lose them as a number; it is always the 8-character string.
    assert!(v["code"].is_string());
}

#[test]
fn openapi_schema_has_the_json_fields() {
    use utoipa::PartialSchema;
    let schema = serde_json::to_value(gonggu_places::Place::schema()).unwrap();
    let props = schema["properties"].as_object().unwrap();
    let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["code", "lat", "lon", "name", "sido", "sigungu"]);
    assert_eq!(props["code"]["type"], "string");
}

#[test]
fn haversine() {
    // 서울시청 → 부산시청, about 325 km.
    let d = gonggu_places::distance_m(37.5663, 126.9779, 35.1798, 129.0750);
    assert!((320_000.0..330_000.0).contains(&d), "{d}");
    assert_eq!(gonggu_places::distance_m(37.5, 127.0, 37.5, 127.0), 0.0);
    // One degree of latitude ≈ 111.2 km.
    assert!((gonggu_places::distance_m(37.0, 127.0, 38.0, 127.0) - 111_195.0).abs() < 10.0);
}
