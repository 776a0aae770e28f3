use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_of, spawn_app, spawn_app_with, TestApp};

fn new_deal(shares: i64) -> Value {
    json!({
        "title": "코스트코 휴지 30롤",
        "description": "반씩 나눠요. 역삼역 2번 출구에서 만나요.",
        "category_id": 4,
        "product_url": "https://www.costco.co.kr/p/123",
        "total_price": 25_990,
        "shares_total": shares,
        "items_per_share": 10,
        "unit": "개",
        "deadline": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
        "keywords": ["휴지", "코스트코"],
    })
}

async fn create(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app.post_json_as("/api/v1/deals", token, body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn join(app: &TestApp, token: &str, id: &str, shares: i64) -> reqwest::Response {
    app.put_json_as(&format!("/api/v1/deals/{id}/members/me"), token, &json!({"shares": shares})).await
}

#[tokio::test]
async fn create_view_and_categories() {
    let app = spawn_app().await;
    let host = app.token_for("host_a");
    let d = create(&app, &host, &new_deal(3)).await;
    assert_eq!((d["status"].as_str(), d["shares_taken"].as_i64(), d["min_shares"].as_i64()), (Some("recruiting"), Some(1), Some(3)));
    assert_eq!(d["share_price"], 8664, "25,990 over 3 shares: 8,664 + 8,663 + 8,663");
    assert_eq!(d["category"], json!({"id": 4, "name": "생활/주방"}));
    assert_eq!(d["host"]["login_id"], "host_a");
    assert_eq!(d["images"], json!([]), "a deal without images is fine");
    let id = d["id"].as_str().unwrap();
    let got: Value = app.get(&format!("/api/v1/deals/{id}")).await.json().await.unwrap();
    assert_eq!(got["title"], "코스트코 휴지 30롤");
    let cats: Value = app.get("/api/v1/categories").await.json().await.unwrap();
    assert_eq!(cats["items"].as_array().unwrap().len(), gonggu_deals::domain::CATEGORIES.len());
    assert_eq!(cats["items"][0], json!({"id": 1, "name": "디지털기기"}));
    let (status, err) = error_of(app.get("/api/v1/deals/00000000-0000-0000-0000-000000000000").await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("deal_not_found")));
    let (status, _) = error_of(app.get("/api/v1/deals/not-a-uuid").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.post_json("/api/v1/deals", &new_deal(3)).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn creation_rules_answer_422_by_field() {
    let app = spawn_app().await;
    let host = app.token_for("rules_host");
    let cases = [
        ("title", json!({"title": "휴"})),
        ("total_price", json!({"total_price": 50})),
        ("shares_total", json!({"shares_total": 1})),
        ("min_shares", json!({"min_shares": 9})),
        ("product_url", json!({"product_url": "javascript:alert(1)"})),
        ("deadline", json!({"deadline": chrono::Utc::now().to_rfc3339()})),
        ("deadline", json!({"deadline": (chrono::Utc::now() + chrono::Duration::days(15)).to_rfc3339()})),
        ("unit", json!({"unit": "톤"})),
        ("category_id", json!({"category_id": 99})),
        ("keywords", json!({"keywords": (0..11).map(|i| format!("k{i}")).collect::<Vec<_>>()})),
    ];
    for (field, patch) in cases {
        let mut body = new_deal(3);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err) = error_of(app.post_json_as("/api/v1/deals", &host, &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert!(err["details"]["fields"][field].is_string(), "{field}: {err}");
    }
}

#[tokio::test]
async fn join_change_leave_and_exact_amounts() {
    let app = spawn_app().await;
    let host = app.token_for("j_host");
    let (a, b) = (app.token_for("j_a"), app.token_for("j_b"));
    let mut body = new_deal(3);
    body["min_shares"] = json!(2);
    let d = create(&app, &host, &body).await;
    let id = d["id"].as_str().unwrap();

    let res = join(&app, &a, id, 1).await;
    assert_eq!(res.status(), StatusCode::OK);
    let m: Value = res.json().await.unwrap();
    assert_eq!(m["deal"]["status"], "confirmed", "tipping point reached");
    let (status, err) = error_of(join(&app, &b, id, 2).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("deal_full")));
    assert_eq!(err["details"]["remaining"], 1);
    let m: Value = join(&app, &b, id, 1).await.json().await.unwrap();
    assert_eq!(m["deal"]["shares_taken"], 3);
    let amounts: Vec<i64> = m["members"].as_array().unwrap().iter().map(|x| x["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, [8664, 8663, 8663]);
    assert_eq!(amounts.iter().sum::<i64>(), 25_990);
    assert_eq!(m["members"][0]["is_host"], true);

    let members: Value = app.get_as(&format!("/api/v1/deals/{id}/members"), &a).await.json().await.unwrap();
    assert_eq!(members["items"].as_array().unwrap().len(), 3);

    for (token, shares, code) in [(&host, 1, "own_deal"), (&a, 0, "validation_failed"), (&a, -1, "validation_failed")] {
        let (_, err) = error_of(join(&app, token, id, shares).await).await;
        assert_eq!(err["code"], code);
    }
    let (_, err) = error_of(app.delete_as(&format!("/api/v1/deals/{id}/members/me"), &a).await).await;
    assert_eq!(err["code"], "deal_confirmed", "no leaving after confirmation");
    let (_, err) = error_of(app.delete_as(&format!("/api/v1/deals/{id}/members/me"), &host).await).await;
    assert_eq!(err["code"], "host_cannot_leave");

    // Leaving works while recruiting.
    let d2 = create(&app, &host, &new_deal(4)).await;
    let id2 = d2["id"].as_str().unwrap();
    join(&app, &a, id2, 2).await;
    assert_eq!(app.delete_as(&format!("/api/v1/deals/{id2}/members/me"), &a).await.status(), StatusCode::NO_CONTENT);
    let after: Value = app.get(&format!("/api/v1/deals/{id2}")).await.json().await.unwrap();
    assert_eq!(after["shares_taken"], 1);
    let (_, err) = error_of(app.delete_as(&format!("/api/v1/deals/{id2}/members/me"), &a).await).await;
    assert_eq!(err["code"], "not_a_member");
}

#[tokio::test]
async fn only_the_host_cancels_or_completes() {
    let app = spawn_app().await;
    let host = app.token_for("c_host");
    let other = app.token_for("c_other");
    let d = create(&app, &host, &new_deal(2)).await;
    let id = d["id"].as_str().unwrap();
    let (status, err) = error_of(app.delete_as(&format!("/api/v1/deals/{id}"), &other).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_host")));
    let (status, _) = error_of(app.post_json_as(&format!("/api/v1/deals/{id}/complete"), &other, &json!({})).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, err) = error_of(app.post_json_as(&format!("/api/v1/deals/{id}/complete"), &host, &json!({})).await).await;
    assert_eq!(err["code"], "not_confirmed");
    join(&app, &other, id, 1).await;
    let done: Value = app.post_json_as(&format!("/api/v1/deals/{id}/complete"), &host, &json!({})).await.json().await.unwrap();
    assert_eq!(done["status"], "completed");

    let d = create(&app, &host, &new_deal(3)).await;
    let id = d["id"].as_str().unwrap();
    let cancelled: Value = app.delete_as(&format!("/api/v1/deals/{id}"), &host).await.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let (_, err) = error_of(join(&app, &other, id, 1).await).await;
    assert_eq!(err["code"], "deal_closed", "no joining a cancelled deal");
}

#[tokio::test]
async fn past_deadline_deals_fail_and_refuse_joins() {
    let app = spawn_app().await;
    let host = app.token_for("f_host");
    let d = create(&app, &host, &new_deal(3)).await;
    let id = d["id"].as_str().unwrap();
    app.clock.advance(chrono::Duration::days(3) + chrono::Duration::minutes(1));
    let (_, err) = error_of(join(&app, &app.token_for("late"), id, 1).await).await;
    assert_eq!(err["code"], "deadline_passed");
    app.deals_tick().await;
    let after: Value = app.get(&format!("/api/v1/deals/{id}")).await.json().await.unwrap();
    assert_eq!(after["status"], "failed");
}

#[tokio::test]
async fn browse_search_filter_sort_and_page() {
    browse(spawn_app().await).await;
}

#[tokio::test]
async fn browse_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("browse_on_postgres").await else { return };
    let app = spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await;
    browse(app).await;
}

async fn browse(app: TestApp) {
    let host = app.token_for("b_host");
    let titles = ["코스트코 휴지 30롤", "제주 감귤 10kg", "생수 2L 24병", "대용량 물티슈", "키친타올 휴지 묶음"];
    let mut ids = vec![];
    for (i, t) in titles.iter().enumerate() {
        let mut body = new_deal(2 + i as i64);
        body["title"] = json!(t);
        body["keywords"] = json!([]);
        body["description"] = json!("");
        body["total_price"] = json!(10_000 * (i as i64 + 1));
        ids.push(create(&app, &host, &body).await["id"].as_str().unwrap().to_owned());
    }
    let found: Value = app.get("/api/v1/deals?q=%ED%9C%B4%EC%A7%80").await.json().await.unwrap(); // 휴지
    let names: Vec<&str> = found["items"].as_array().unwrap().iter().map(|d| d["title"].as_str().unwrap()).collect();
    assert_eq!(names, ["키친타올 휴지 묶음", "코스트코 휴지 30롤"]);
    let search = |q: &'static str| {
        let app = &app;
        async move {
            let res = app.api.get(app.url("/api/v1/deals")).query(&[("q", q)]).send().await.unwrap();
            let v: Value = res.json().await.unwrap();
            v["items"].as_array().unwrap().iter().map(|d| d["title"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(search("휴").await, ["키친타올 휴지 묶음", "코스트코 휴지 30롤"], "one letter scans");
    assert_eq!(search("스트코 휴").await, ["코스트코 휴지 30롤"], "across a space");
    assert_eq!(search("COSTCO").await, Vec::<String>::new());
    assert_eq!(search("트코스").await, Vec::<String>::new(), "all bigrams present is not enough: the word must be");
    let res = app.api.get(app.url("/api/v1/deals")).query(&[("q", "휴".repeat(101))]).send().await.unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["q"].is_string(), "{err}");
    // The index follows edits: a new description is found, the old one is not.
    let res = app
        .patch_json_as(&format!("/api/v1/deals/{}", ids[1]), &host, &json!({"description": "한라봉도 섞어요", "keywords": ["Costco"]}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(search("한라봉").await, ["제주 감귤 10kg"]);
    assert_eq!(search("costco").await, ["제주 감귤 10kg"], "keywords, case-insensitive");
    let res = app.patch_json_as(&format!("/api/v1/deals/{}", ids[1]), &host, &json!({"description": "", "keywords": []})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(search("한라봉").await, Vec::<String>::new());
    let priced: Value = app.get("/api/v1/deals?min_price=20000&max_price=30000").await.json().await.unwrap();
    assert_eq!(priced["items"].as_array().unwrap().len(), 2);
    let remaining: Value = app.get("/api/v1/deals?sort=remaining").await.json().await.unwrap();
    let left: Vec<i64> = remaining["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["shares_total"].as_i64().unwrap() - d["shares_taken"].as_i64().unwrap())
        .collect();
    assert_eq!(left, [1, 2, 3, 4, 5]);

    // Pages of two never repeat or skip, even when deals are added between pages.
    let first: Value = app.get("/api/v1/deals?limit=2").await.json().await.unwrap();
    let mut seen: Vec<String> = first["items"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect();
    create(&app, &host, &new_deal(2)).await;
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page: Value = app.get(&format!("/api/v1/deals?limit=2&cursor={c}")).await.json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);

    let mine: Value = app.get_as("/api/v1/me/deals?role=host", &host).await.json().await.unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 6);
    let public: Value = app.get("/api/v1/users/b_host/deals").await.json().await.unwrap();
    assert_eq!(public["items"].as_array().unwrap().len(), 6);
    let joiner = app.token_for("b_joiner");
    join(&app, &joiner, &ids[2], 1).await;
    let joined: Value = app.get_as("/api/v1/me/deals?role=member", &joiner).await.json().await.unwrap();
    assert_eq!(joined["items"].as_array().unwrap().len(), 1);

    for (q, status) in [
        ("sort=cheapest", 422),
        ("status=open", 200),
        ("status=weird", 422),
        ("category=0", 422),
        ("cursor=%21", 400),
        ("min_price=5&max_price=1", 422),
    ] {
        assert_eq!(app.get(&format!("/api/v1/deals?{q}")).await.status().as_u16(), status, "{q}");
    }
}

/// 200 buyers race for the 10 shares left: exactly 10 are granted.
async fn race(app: TestApp) {
    let host = app.token_for("race_host");
    let mut body = new_deal(11);
    body["min_shares"] = json!(11);
    let d = create(&app, &host, &body).await;
    let id = Arc::new(d["id"].as_str().unwrap().to_owned());
    let app = Arc::new(app);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (app, id) = (app.clone(), id.clone());
            tokio::spawn(async move {
                let token = app.token_for(&format!("buyer_{i}"));
                join(&app, &token, &id, 1).await.status()
            })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => granted += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(granted, 10);
    let after: Value = app.get(&format!("/api/v1/deals/{id}")).await.json().await.unwrap();
    assert_eq!((after["shares_taken"].as_i64(), after["status"].as_str()), (Some(11), Some("confirmed")));
    let members: Value = app.get_as(&format!("/api/v1/deals/{id}/members"), &host).await.json().await.unwrap();
    assert_eq!(members["items"].as_array().unwrap().len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_overbooking_on_sqlite() {
    race(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_overbooking_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("no_overbooking_on_postgres").await else { return };
    race(spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await).await;
}

#[tokio::test]
async fn host_edits_with_frozen_fields_after_a_join() {
    let app = spawn_app().await;
    let host = app.token_for("e_host");
    let other = app.token_for("e_other");
    let d = create(&app, &host, &new_deal(4)).await;
    let id = d["id"].as_str().unwrap();
    let url = app.url(&format!("/api/v1/deals/{id}"));
    let patch = |body: Value| app.api.patch(&url).bearer_auth(&host).json(&body).send();
    let res = patch(json!({"total_price": 30_000, "description": "새 설명", "keywords": ["휴지"]})).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["total_price"].as_i64(), v["share_price"].as_i64(), v["description"].as_str()),
        (Some(30_000), Some(7_500), Some("새 설명"))
    );
    let (status, err) = error_of(patch(json!({"total_price": 5})).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["total_price"].is_string());
    let res = app
        .api
        .patch(app.url(&format!("/api/v1/deals/{id}")))
        .bearer_auth(&other)
        .json(&json!({"description": "hijack"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "owner check");

    join(&app, &other, id, 1).await;
    let (status, err) = error_of(patch(json!({"total_price": 40_000})).await.unwrap()).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("deal_locked")));
    let res = patch(json!({"description": "만날 장소 바뀜", "meeting_place": {"name": "역삼역 3번 출구", "lat": 37.5, "lon": 127.03}}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "description and place stay editable");
    let v: Value = app.get(&format!("/api/v1/deals/{id}")).await.json().await.unwrap();
    assert_eq!((v["total_price"].as_i64(), v["meeting_place"]["name"].as_str()), (Some(30_000), Some("역삼역 3번 출구")));
    // Leaving out a field keeps it (no wiping).
    assert_eq!(v["keywords"], json!(["휴지"]));
    let res = patch(json!({"description": "장소는 채팅으로"})).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = app.get(&format!("/api/v1/deals/{id}")).await.json().await.unwrap();
    assert_eq!(v["meeting_place"]["name"], "역삼역 3번 출구", "an absent meeting_place is kept");
    let res = patch(json!({"meeting_place": null})).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "null removes the place");
    let v: Value = app.get(&format!("/api/v1/deals/{id}")).await.json().await.unwrap();
    assert!(v["meeting_place"].is_null(), "{v}");
    let (status, err) = error_of(patch(json!({"meeting_place": {"name": "", "lat": 37.5, "lon": 127.0}})).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["meeting_place.name"].is_string(), "{err}");
}

#[tokio::test]
async fn views_count_once_per_viewer_per_day() {
    let app = spawn_app().await;
    let host = app.token_for("v_host");
    let d = create(&app, &host, &new_deal(3)).await;
    let id = d["id"].as_str().unwrap();
    let viewer = app.token_for("v_viewer");
    for _ in 0..3 {
        app.get_as(&format!("/api/v1/deals/{id}"), &viewer).await;
    }
    app.get(&format!("/api/v1/deals/{id}")).await;
    let v: Value = app.get(&format!("/api/v1/deals/{id}")).await.json().await.unwrap();
    assert_eq!(v["views"], 1);
    app.clock.advance(chrono::Duration::days(1));
    app.get_as(&format!("/api/v1/deals/{id}"), &viewer).await;
    app.get_as(&format!("/api/v1/deals/{id}"), &app.token_for("v_second")).await;
    let v: Value = app.get(&format!("/api/v1/deals/{id}")).await.json().await.unwrap();
    assert_eq!(v["views"], 3);
    assert_eq!(app.get_as(&format!("/api/v1/deals/{id}"), "bad-token").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deal_events_carry_the_members() {
    let app = spawn_app().await;
    let host = app.token_for("ev_host");
    let a = app.token_for("ev_a");
    let mut body = new_deal(3);
    body["min_shares"] = json!(2);
    let d = create(&app, &host, &body).await;
    let id = d["id"].as_str().unwrap();
    join(&app, &a, id, 1).await;
    app.post_json_as(&format!("/api/v1/deals/{id}/complete"), &host, &json!({})).await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.data_dir.path().join("deals.db").display())).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT event_type, payload FROM outbox ORDER BY seq").fetch_all(&pool).await.unwrap();
    let types: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(types, ["DealCreated", "MemberJoined", "DealConfirmed", "DealCompleted"]);
    let joined: Value = serde_json::from_str(&rows[1].1).unwrap();
    assert_eq!(joined["title"], "코스트코 휴지 30롤");
    assert_eq!(joined["host_login_id"], "ev_host");
    assert_eq!(joined["member_ids"].as_array().unwrap().len(), 2);
    assert_eq!(joined["member"]["login_id"], "ev_a");

    // 24 hours before the deadline a recruiting deal is announced once.
    let d2 = create(&app, &host, &new_deal(3)).await;
    app.clock.advance(chrono::Duration::days(2) + chrono::Duration::hours(1));
    app.deals_tick().await;
    app.deals_tick().await;
    let soon: Vec<(String,)> =
        sqlx::query_as("SELECT payload FROM outbox WHERE event_type = 'DealDeadlineSoon'").fetch_all(&pool).await.unwrap();
    assert_eq!(soon.len(), 1);
    assert!(soon[0].0.contains(d2["id"].as_str().unwrap()));
}

#[tokio::test]
async fn deals_carry_uploaded_photos() {
    let app = spawn_app().await;
    let host = app.token_for("photo_host");
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(gonggu_media::testdata::jpeg(640, 480)).file_name("a.jpg"));
    let up: Value = app.api.post(app.url("/api/v1/media")).bearer_auth(&host).multipart(form).send().await.unwrap().json().await.unwrap();
    let key = up["items"][0]["key"].as_str().unwrap().to_owned();
    let mut body = new_deal(3);
    body["image_keys"] = json!([key]);
    let d = create(&app, &host, &body).await;
    assert_eq!(d["images"][0]["key"], key.as_str());
    assert_eq!(d["images"][0]["url"], format!("/media/{key}"));
    assert_eq!(app.get(d["images"][0]["thumbnail_url"].as_str().unwrap()).await.status(), StatusCode::OK);

    for bad in
        [json!(["../../etc/passwd"]), json!([format!("{}.jpg", "a".repeat(40))]), json!((0..6).map(|_| key.clone()).collect::<Vec<_>>())]
    {
        let mut body = new_deal(3);
        body["image_keys"] = bad.clone();
        let (status, err) = error_of(app.post_json_as("/api/v1/deals", &host, &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(err["details"]["fields"]["image_keys"].is_string());
    }
    // Photos may be replaced or removed later, even after someone joined.
    let id = d["id"].as_str().unwrap();
    join(&app, &app.token_for("photo_joiner"), id, 1).await;
    let res =
        app.api.patch(app.url(&format!("/api/v1/deals/{id}"))).bearer_auth(&host).json(&json!({"image_keys": []})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["images"], json!([]));
}

#[tokio::test]
async fn nearest_first_from_a_point_or_my_neighbourhood() {
    nearest(spawn_app().await).await;
}

#[tokio::test]
async fn nearest_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("nearest_on_postgres").await else { return };
    nearest(spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await).await;
}

async fn nearest(app: TestApp) {
    let host = app.token_for("near_host");
    // 역삼역, 강남역, 홍대입구역, and one without a place.
    let places = [("역삼", 37.5007, 127.0365), ("강남", 37.4979, 127.0276), ("홍대", 37.5572, 126.9245)];
    for (name, lat, lon) in places {
        let mut body = new_deal(3);
        body["title"] = json!(format!("{name} 공구"));
        body["meeting_place"] = json!({"name": name, "lat": lat, "lon": lon});
        create(&app, &host, &body).await;
    }
    let mut body = new_deal(3);
    body["title"] = json!("장소 미정 공구");
    create(&app, &host, &body).await;

    let titles = |v: &Value| v["items"].as_array().unwrap().iter().map(|d| d["title"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    // From 신촌 (37.5551, 126.9368): 홍대 is nearest.
    let v: Value = app.get("/api/v1/deals?sort=nearest&lat=37.5551&lon=126.9368").await.json().await.unwrap();
    assert_eq!(titles(&v), ["홍대 공구", "강남 공구", "역삼 공구", "장소 미정 공구"]);
    let metres: Vec<Option<i64>> = v["items"].as_array().unwrap().iter().map(|d| d["distance_m"].as_i64()).collect();
    // 신촌 → 홍대 about 1.1 km, → 강남 about 10 km; no place, no distance.
    assert!(matches!(metres[..], [Some(a), Some(b), Some(c), None] if (1_000..2_000).contains(&a) && a < b && b < c), "{metres:?}");
    let newest: Value = app.get("/api/v1/deals").await.json().await.unwrap();
    assert!(newest["items"][0].get("distance_m").is_none(), "only nearest lists measure");
    // Paged by two: same order, nothing repeated.
    let p1: Value = app.get("/api/v1/deals?sort=nearest&lat=37.5551&lon=126.9368&limit=2").await.json().await.unwrap();
    let c = p1["next_cursor"].as_str().unwrap();
    let p2: Value = app.get(&format!("/api/v1/deals?sort=nearest&lat=37.5551&lon=126.9368&limit=2&cursor={c}")).await.json().await.unwrap();
    assert_eq!([titles(&p1), titles(&p2)].concat(), titles(&v));

    // Without a point: the signed-in user's neighbourhood (learnt from accounts' events).
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"login_id": "near_me", "email": "near@example.com", "password": crate::helpers::PASSWORD,
            "neighborhood": {"name": "역삼동", "lat": 37.5006, "lon": 127.0364}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let me = app.login("near_me", crate::helpers::PASSWORD).await.json::<Value>().await.unwrap();
    let token = me["access_token"].as_str().unwrap();
    let mut ordered = vec![];
    for _ in 0..100 {
        let res = app.get_as("/api/v1/deals?sort=nearest", token).await;
        if res.status() == StatusCode::OK {
            ordered = titles(&res.json().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(ordered.first().map(String::as_str), Some("역삼 공구"));
    let (status, err) = error_of(app.get("/api/v1/deals?sort=nearest").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no place known for an anonymous visitor");
    assert!(err["details"]["fields"]["sort"].is_string());
}

#[tokio::test]
async fn deals_written_before_the_search_index_are_indexed_when_the_store_opens() {
    let app = spawn_app().await;
    let host = app.token_for("old_host");
    let mut body = new_deal(3);
    body["title"] = json!("오래된 참기름 공구");
    create(&app, &host, &body).await;
    let db = gonggu_kernel::db::Db::connect(None, app.data_dir.path(), "deals", Default::default()).await.unwrap();
    let gonggu_kernel::db::Db::Sqlite(pool) = &db else { unreachable!() };
    // As a deal written before the index: no grams and no folded text (added with the index).
    sqlx::query("DELETE FROM deal_grams").execute(pool).await.unwrap();
    sqlx::query("UPDATE deals SET search_text = NULL").execute(pool).await.unwrap();
    let found = |store: Arc<dyn gonggu_deals::store::DealStore>| async move {
        let q = gonggu_deals::store::ListQuery { q: Some("참기름".into()), limit: 10, ..Default::default() };
        store.list(&q).await.unwrap().len()
    };
    // Without its bigrams the deal is invisible to search (the index narrows before LIKE) ...
    let res = app.api.get(app.url("/api/v1/deals")).query(&[("q", "참기름")]).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["items"], json!([]));
    // ... until the store opens again, as at the next start.
    let bare = gonggu_deals::store::open(&db, Default::default()).await.unwrap();
    assert_eq!(found(bare).await, 1, "re-indexed on open");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM deal_grams WHERE gram = '참기'").fetch_one(pool).await.unwrap();
    assert_eq!(n, 1);
}

/// Issue 9, item 9: numbers far outside any rule used to reach arithmetic and the database.
#[tokio::test]
async fn out_of_range_numbers_are_422_by_field_never_500() {
    let app = spawn_app().await;
    let host = app.token_for("big_host");
    let d = create(&app, &host, &new_deal(3)).await;
    let id = d["id"].as_str().unwrap();
    let member = app.token_for("big_member");
    for shares in [i64::MAX, i64::MIN, 101, 1_000_000] {
        let (status, err) = error_of(join(&app, &member, id, shares).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "shares {shares}");
        assert!(err["details"]["fields"]["shares"].is_string(), "{err}");
    }
    // A member who joined and then asks for an enormous number is refused the same way.
    assert_eq!(join(&app, &member, id, 1).await.status(), StatusCode::OK);
    let (status, err) = error_of(join(&app, &member, id, i64::MAX).await).await;
    assert_eq!((status, err["details"]["fields"]["shares"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true), "{err}");

    let fresh = create(&app, &host, &new_deal(3)).await;
    let fid = fresh["id"].as_str().unwrap();
    for (field, value) in [
        ("total_price", json!(i64::MAX)),
        ("shares_total", json!(i64::MIN)),
        ("min_shares", json!(i64::MAX)),
        ("items_per_share", json!(i64::MAX)),
        ("category_id", json!(i64::MIN)),
    ] {
        let (status, err) = error_of(app.patch_json_as(&format!("/api/v1/deals/{fid}"), &host, &json!({ field: value })).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "patch {field}");
        assert!(err["details"]["fields"][field].is_string(), "{field}: {err}");
        let mut body = new_deal(3);
        body[field] = value.clone();
        let (status, err) = error_of(app.post_json_as("/api/v1/deals", &host, &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "create {field}");
        assert!(err["details"]["fields"][field].is_string(), "{field}: {err}");
    }
    let mut body = new_deal(3);
    body["host_shares"] = json!(i64::MIN);
    let (status, err) = error_of(app.post_json_as("/api/v1/deals", &host, &body).await).await;
    assert_eq!((status, err["details"]["fields"]["host_shares"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true), "{err}");

    for (q, field) in [("min_price=-9223372036854775808", "min_price"), ("max_price=9223372036854775807", "max_price")] {
        let (status, err) = error_of(app.get(&format!("/api/v1/deals?{q}")).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert!(err["details"]["fields"][field].is_string(), "{q}: {err}");
    }
    // Positions out of range are refused where the query is read (documented as 400 invalid_query).
    for q in ["sort=nearest&lat=1e308&lon=0", "sort=nearest&lat=0&lon=-1e308", "sort=nearest&lat=NaN&lon=0"] {
        let (status, err) = error_of(app.get(&format!("/api/v1/deals?{q}")).await).await;
        assert_eq!((status, err["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{q}: {err}");
    }
}

/// Issue 9, item 27: a host raising the tipping point of a deal confirmed by their own shares
/// used to leave it `confirmed` below that point, and it could then be completed.
#[tokio::test]
async fn an_edit_keeps_the_status_true_to_the_tipping_point() {
    let app = spawn_app().await;
    let host = app.token_for("tip_host");
    let mut body = new_deal(4);
    body["min_shares"] = json!(2);
    body["host_shares"] = json!(2);
    let d = create(&app, &host, &body).await;
    assert_eq!((d["status"].as_str(), d["shares_taken"].as_i64()), (Some("confirmed"), Some(2)));
    let id = d["id"].as_str().unwrap();
    let res = app.patch_json_as(&format!("/api/v1/deals/{id}"), &host, &json!({"min_shares": 4})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!((v["status"].as_str(), v["min_shares"].as_i64()), (Some("recruiting"), Some(4)), "2 of 4 is below the new tipping point");
    let (status, err) = error_of(app.post_json_as(&format!("/api/v1/deals/{id}/complete"), &host, &json!({})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("not_confirmed")));
    // Lowering it again confirms, as joining up to it would.
    let v: Value = app.patch_json_as(&format!("/api/v1/deals/{id}"), &host, &json!({"min_shares": 2})).await.json().await.unwrap();
    assert_eq!(v["status"], "confirmed");
    // Once someone else joined, the tipping point is frozen, so it can never drop below it.
    join(&app, &app.token_for("tip_member"), id, 1).await;
    let (status, err) = error_of(app.patch_json_as(&format!("/api/v1/deals/{id}"), &host, &json!({"min_shares": 4})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("deal_locked")));
    let v: Value = app.get(&format!("/api/v1/deals/{id}")).await.json().await.unwrap();
    assert_eq!((v["status"].as_str(), v["min_shares"].as_i64(), v["shares_taken"].as_i64()), (Some("confirmed"), Some(2), Some(3)));
}

/// Issue 9, items 19 and 29: every word must match, in any order; spacing, case and accents do
/// not matter, the same on both engines; a query of only punctuation finds nothing.
async fn search_by_words(app: TestApp) {
    let host = app.token_for("w_host");
    for (title, keywords) in [
        ("코스트코 키친타올 휴지 30롤 나눠요", json!([])),
        ("논산 딸기 2kg 공구", json!(["과일"])),
        ("CAFÉ 원두 1kg", json!([])),
        ("이마트 휴지", json!([])),
    ] {
        let mut body = new_deal(3);
        body["title"] = json!(title);
        body["description"] = json!("");
        body["keywords"] = keywords;
        create(&app, &host, &body).await;
    }
    let closed = {
        let mut body = new_deal(3);
        body["title"] = json!("취소된 \"따옴표\" 공구");
        body["description"] = json!("");
        body["keywords"] = json!([]);
        let d = create(&app, &host, &body).await;
        let id = d["id"].as_str().unwrap().to_owned();
        assert_eq!(app.delete_as(&format!("/api/v1/deals/{id}"), &host).await.status(), StatusCode::OK);
        id
    };
    let search = |q: &'static str| {
        let app = &app;
        async move {
            let res = app.api.get(app.url("/api/v1/deals")).query(&[("q", q)]).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{q}");
            let v: Value = res.json().await.unwrap();
            let mut t: Vec<String> = v["items"].as_array().unwrap().iter().map(|d| d["title"].as_str().unwrap().to_owned()).collect();
            t.sort();
            t
        }
    };
    let costco = vec!["코스트코 키친타올 휴지 30롤 나눠요".to_owned()];
    let strawberry = vec!["논산 딸기 2kg 공구".to_owned()];
    assert_eq!(search("코스트코 휴지").await, costco);
    assert_eq!(search("휴지 코스트코").await, costco, "any order");
    assert_eq!(search("휴지").await, ["이마트 휴지", "코스트코 키친타올 휴지 30롤 나눠요"]);
    assert_eq!(search("딸기 공구").await, strawberry);
    assert_eq!(search("논산딸기").await, strawberry, "spacing does not matter");
    assert_eq!(search("딸기 과일").await, strawberry, "words from title and keywords");
    assert_eq!(search("딸기 휴지").await, Vec::<String>::new(), "every word must match");
    for q in ["CAFÉ", "café", "Café", "ＣＡＦＥ\u{301}", "cafe\u{301} 원두"] {
        assert_eq!(search(q).await, ["CAFÉ 원두 1kg"], "{q}");
    }
    for q in ["\"", "\"\"", "!?", "…"] {
        let res = app.api.get(app.url("/api/v1/deals")).query(&[("q", q)]).send().await.unwrap();
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["items"], json!([]), "{q:?} has no word, so it finds nothing");
    }
    assert_eq!(search("\"따옴표\"").await, ["취소된 \"따옴표\" 공구"], "punctuation around a word is ignored");
    let all: Value = app.get("/api/v1/deals?q=%20").await.json().await.unwrap();
    assert!(all["items"].as_array().unwrap().iter().any(|d| d["id"] == closed.as_str()), "a blank query filters nothing");
}

#[tokio::test]
async fn search_matches_every_word_on_sqlite() {
    search_by_words(spawn_app().await).await;
}

#[tokio::test]
async fn search_matches_every_word_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("search_matches_every_word_on_postgres").await else { return };
    search_by_words(spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await).await;
}

/// Issue 9, item 38: a stored value no code writes is an error naming the deal, not a quiet
/// default (empty keywords, a 1970 date).
#[tokio::test]
async fn corrupt_stored_values_fail_loudly() {
    let app = spawn_app().await;
    let host = app.token_for("corrupt_host");
    let db = gonggu_kernel::db::Db::connect(None, app.data_dir.path(), "deals", Default::default()).await.unwrap();
    let gonggu_kernel::db::Db::Sqlite(pool) = &db else { unreachable!() };
    let store = gonggu_deals::store::open(&db, Default::default()).await.unwrap();
    for (column, value, what) in [
        ("keywords", "'not json'", "corrupt keywords"),
        ("images", "'{}'", "corrupt images"),
        ("created_at", "9223372036854775807", "corrupt created_at"),
    ] {
        let d = create(&app, &host, &new_deal(3)).await;
        let id: uuid::Uuid = d["id"].as_str().unwrap().parse().unwrap();
        sqlx::query(&format!("UPDATE deals SET {column} = {value} WHERE id = ?")).bind(id).execute(pool).await.unwrap();
        let err = store.get(id).await.expect_err(column).to_string();
        assert!(err.contains(what) && err.contains("deal "), "{column}: {err}");
        let (status, _) = error_of(app.get(&format!("/api/v1/deals/{id}")).await).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{column}: not a default");
    }
}
