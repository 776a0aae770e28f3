//! The places API: 읍면동 autocomplete and reverse lookup, as a browser's place picker and
//! 동네 인증 call them.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{error_of, spawn_app};

#[tokio::test]
async fn search_finds_a_dong_by_its_start_and_its_district() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/places?q=%EC%97%AD%EC%82%BC").await; // 역삼
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["cache-control"].to_str().unwrap().contains("max-age"), "the table only changes with a release");
    let v: Value = res.json().await.unwrap();
    let first = &v["items"][0];
    assert_eq!(
        (first["sido"].as_str(), first["sigungu"].as_str(), first["name"].as_str()),
        (Some("서울특별시"), Some("강남구"), Some("역삼동")),
        "{v}"
    );
    assert_eq!(first["code"], "11680101");
    assert!(first["lat"].as_f64().is_some_and(|lat| (37.4..37.6).contains(&lat)), "{first}");
    let v: Value = app.get(&format!("/api/v1/places?q={}&limit=3", urlencode("부산 해운대구 우"))).await.json().await.unwrap();
    let items = v["items"].as_array().unwrap();
    assert!(!items.is_empty() && items.len() <= 3, "{v}");
    assert!(items.iter().all(|p| p["sigungu"] == "해운대구"), "{v}");
    assert_eq!(items[0]["name"], "우동", "{v}");
    let v: Value = app.get("/api/v1/places?q=%20%20").await.json().await.unwrap();
    assert_eq!(v["items"].as_array().map(Vec::len), Some(0), "a blank query finds nothing");
    let (status, err) = error_of(app.get(&format!("/api/v1/places?q={}", "가".repeat(51))).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (status, _) = error_of(app.get("/api/v1/places").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "q is required");
    for limit in ["0", "21"] {
        let (status, err) = error_of(app.get(&format!("/api/v1/places?q=%EC%97%AD&limit={limit}")).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "limit {limit} is outside 1–20: {err}");
    }
    // A deal list centred on a place takes only a place code.
    for place in ["", "1168010", "abcdefgh", "99999999"] {
        let (status, err) = error_of(app.get(&format!("/api/v1/deals?place={place}")).await).await;
        assert_eq!(
            (status, err["details"]["fields"]["place"].is_string()),
            (StatusCode::UNPROCESSABLE_ENTITY, true),
            "place={place:?}: {err}"
        );
    }
}

#[tokio::test]
async fn reverse_names_the_dong_of_a_point_and_refuses_the_sea() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/places/reverse?lat=33.4996&lon=126.5312").await; // 제주시청
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["sido"].as_str(), v["sigungu"].as_str(), v["name"].as_str()),
        (Some("제주특별자치도"), Some("제주시"), Some("이도이동")),
        "{v}"
    );
    let (status, err) = error_of(app.get("/api/v1/places/reverse?lat=36.0&lon=125.0").await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_in_korea")), "the Yellow Sea: {err}");
    assert_eq!(err["message"], "대한민국 안의 위치가 아닙니다.");
    let (status, _) = error_of(app.get("/api/v1/places/reverse?lat=35.68&lon=139.76").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "Tokyo");
    let (status, _) = error_of(app.get("/api/v1/places/reverse?lat=95&lon=127").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "not a latitude");
    let (status, _) = error_of(app.get("/api/v1/places/reverse?lat=abc&lon=127").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not a number");
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
