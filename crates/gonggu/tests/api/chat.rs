//! Chat over HTTP (issue 10): rooms follow deals' events; messages are numbered without gaps,
//! a resend is the same message; unread counts per room and per message follow reads; leaving
//! shuts the room; a cancelled deal's room is read-only. The same story on both engines.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_of, spawn_app, spawn_app_with, TestApp};

fn token(v: &Value) -> String {
    v["access_token"].as_str().unwrap().to_owned()
}

/// Waits until `check` holds for the answer to `GET path` (events reach chat in the background).
async fn eventually(app: &TestApp, path: &str, token: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.get_as(path, token).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status == StatusCode::OK && check(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: last answer {status} {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(app: &TestApp, token: &str, room: &str, client_id: &str, body: &str) -> reqwest::Response {
    app.post_json_as(&format!("/api/v1/rooms/{room}/messages"), token, &json!({ "client_id": client_id, "body": body })).await
}

fn bodies(history: &Value) -> Vec<(i64, String)> {
    history["items"].as_array().unwrap().iter().map(|m| (m["seq"].as_i64().unwrap(), m["body"].as_str().unwrap().to_owned())).collect()
}

async fn story(app: TestApp) {
    let host = token(&app.signed_in("chat_host").await);
    let neighbour = token(&app.signed_in("chat_neighbour").await);
    let stranger = token(&app.signed_in("chat_stranger").await);
    let deal = app
        .post_json_as(
            "/api/v1/deals",
            &host,
            &json!({
                "title": "코스트코 휴지 30롤", "category_id": 4, "total_price": 25_990, "shares_total": 3, "min_shares": 2,
                "items_per_share": 10, "unit": "롤", "deadline": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
            }),
        )
        .await;
    assert_eq!(deal.status(), StatusCode::CREATED);
    let room = deal.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let messages = format!("/api/v1/rooms/{room}/messages");

    // The deal's room opens with a notice, for its host only.
    let rooms = eventually(&app, "/api/v1/rooms", &host, "the host's room", |v| v["items"].as_array().is_some_and(|i| i.len() == 1)).await;
    assert_eq!(rooms["items"][0]["room_id"], room.as_str());
    assert_eq!(rooms["items"][0]["title"], "코스트코 휴지 30롤");
    assert_eq!(rooms["items"][0]["last_message"]["kind"], "notice");
    let (status, err) = error_of(app.get_as(&messages, &neighbour).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_a_member")));
    let (status, err) = error_of(send(&app, &stranger, &room, "c-1", "끼워 주세요").await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_a_member")));

    // The neighbour joins: the room is theirs too, with a notice, and nothing unread yet.
    let res = app.put_json_as(&format!("/api/v1/deals/{room}/members/me"), &neighbour, &json!({"shares": 1})).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The join confirmed the deal (2 of 3 reach the tipping point of 2): two notices.
    let history =
        eventually(&app, &messages, &host, "the join and confirmed notices", |v| v["items"].as_array().is_some_and(|i| i.len() == 3)).await;
    assert_eq!(history["items"][1]["body"], "chat_neighbour님이 참여했어요.");
    assert_eq!(history["items"][2]["body"], "최소 인원이 모여 공구가 확정됐어요.");
    let rooms: Value = app.get_as("/api/v1/rooms", &neighbour).await.json().await.unwrap();
    assert_eq!(rooms["items"][0]["unread"], 1, "the confirmation is news to the newcomer, their own join is not: {rooms}");
    let rooms: Value = app.get_as("/api/v1/rooms", &host).await.json().await.unwrap();
    assert_eq!(
        rooms["items"][0]["unread"], 2,
        "the host has not read the join and the confirmation (the opening notice came with their deal): {rooms}"
    );

    // A message, and its resend: one message, the same seq.
    let first = send(&app, &host, &room, "host-1", "  저녁 7시에 역삼역 2번 출구에서 만나요 \n").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!((first["seq"].as_i64(), first["body"].as_str()), (Some(4), Some("저녁 7시에 역삼역 2번 출구에서 만나요")));
    assert_eq!(first["sender"]["login_id"], "chat_host");
    assert_eq!(first["unread_count"], 1, "the neighbour has not read it");
    let again = send(&app, &host, &room, "host-1", "저녁 7시에 역삼역 2번 출구에서 만나요").await;
    assert_eq!(again.status(), StatusCode::OK, "a resend is answered with the stored message");
    assert_eq!(again.json::<Value>().await.unwrap()["seq"], 4);
    // The same client id sent five times at once is still one message.
    let racers = (0..5).map(|_| async { send(&app, &neighbour, &room, "neighbour-race", "저도 그때 갈게요").await });
    let answers = futures::future::join_all(racers).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::OK), "{statuses:?}");
    let mut raced = vec![];
    for r in answers {
        raced.push(r.json::<Value>().await.unwrap()["seq"].as_i64().unwrap());
    }
    assert!(raced.iter().all(|s| *s == 5), "{raced:?}");

    // Both write at once: every message gets its own seq, with no gap. (Each may send ten a
    // second; the second before is let pass first.)
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut sends = vec![];
    for i in 0..10 {
        for (who, t) in [("h", &host), ("n", &neighbour)] {
            let (app, t, room) = (&app, t.clone(), room.clone());
            sends.push(async move { send(app, &t, &room, &format!("{who}-{i}"), &format!("{who} {i}")).await.status() });
        }
    }
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
    let history: Value = app.get_as(&format!("{messages}?limit=100"), &host).await.json().await.unwrap();
    let seqs: Vec<i64> = bodies(&history).into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, (1..=25).collect::<Vec<_>>(), "gap-free and in order");
    // Pages of history by `before`, oldest first within a page.
    let page: Value = app.get_as(&format!("{messages}?before=10&limit=3"), &host).await.json().await.unwrap();
    assert_eq!(bodies(&page).into_iter().map(|(s, _)| s).collect::<Vec<_>>(), vec![7, 8, 9]);

    // Unread: each writer has read up to their own last message; reads move it, never back.
    let rooms: Value = app.get_as("/api/v1/rooms", &host).await.json().await.unwrap();
    let host_unread = rooms["items"][0]["unread"].as_i64().unwrap();
    assert!(host_unread < 25 && rooms["items"][0]["last_seq"] == 25, "{rooms}");
    let read = app.post_json_as(&format!("/api/v1/rooms/{room}/read"), &neighbour, &json!({"seq": 25})).await;
    assert_eq!(read.json::<Value>().await.unwrap()["seq"], 25);
    let back = app.post_json_as(&format!("/api/v1/rooms/{room}/read"), &neighbour, &json!({"seq": 5})).await;
    assert_eq!(back.json::<Value>().await.unwrap()["seq"], 25, "a read position never moves back");
    let past = app.post_json_as(&format!("/api/v1/rooms/{room}/read"), &host, &json!({"seq": 9_999})).await;
    assert_eq!(past.json::<Value>().await.unwrap()["seq"], 25, "nor past the newest message");
    let history: Value = app.get_as(&format!("{messages}?limit=100"), &neighbour).await.json().await.unwrap();
    assert!(history["items"].as_array().unwrap().iter().all(|m| m["unread_count"] == 0), "everyone read everything");
    let rooms: Value = app.get_as("/api/v1/rooms", &neighbour).await.json().await.unwrap();
    assert_eq!(rooms["items"][0]["unread"], 0);
    // One reader does not clear anyone else's count.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(send(&app, &host, &room, "host-2", "도착했어요").await.status(), StatusCode::CREATED);
    let rooms: Value = app.get_as("/api/v1/rooms", &neighbour).await.json().await.unwrap();
    assert_eq!(rooms["items"][0]["unread"], 1);
    let rooms: Value = app.get_as("/api/v1/rooms", &host).await.json().await.unwrap();
    assert_eq!(rooms["items"][0]["unread"], 0);

    // Eleven at once: ten are stored, the eleventh is told to wait.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let burst = (0..11).map(|i| {
        let (app, host, room) = (&app, host.clone(), room.clone());
        async move { send(app, &host, &room, &format!("burst-{i}"), "빨리").await }
    });
    let answers = futures::future::join_all(burst).await;
    let limited: Vec<&reqwest::Response> = answers.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(limited.len(), 1, "{:?}", answers.iter().map(|r| r.status()).collect::<Vec<_>>());
    assert!(limited[0].headers().contains_key("retry-after"));

    // Bad input is refused with a field.
    for (body, why) in [("   ", "blank"), (&"가".repeat(1_001) as &str, "too long"), ("a\u{202e}b", "bidi")] {
        let (status, _) = error_of(send(&app, &host, &room, "bad", body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
    }
    let (status, _) = error_of(send(&app, &host, &room, "a b", "hi").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "client id with a space");
    let (status, err) = error_of(app.get_as(&format!("{messages}?limit=0"), &host).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    let (status, err) = error_of(app.get_as("/api/v1/rooms/not-a-room/messages", &host).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("room_not_found")));
    let (status, err) = error_of(app.get_as(&format!("/api/v1/rooms/{}/messages", uuid::Uuid::now_v7()), &host).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("room_not_found")));

    // The host cancels: the room says so and becomes read-only.
    let res = app.delete_as(&format!("/api/v1/deals/{room}"), &host).await;
    assert!(res.status().is_success(), "{}", res.status());
    let rooms = eventually(&app, "/api/v1/rooms", &host, "read-only", |v| v["items"][0]["state"] == "closed").await;
    assert!(rooms["items"][0]["last_message"]["body"].as_str().unwrap().contains("취소"), "{rooms}");
    let (status, err) = error_of(send(&app, &neighbour, &room, "late", "그럼 다음에 봐요").await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("room_read_only")));
    assert_eq!(app.get_as(&messages, &neighbour).await.status(), StatusCode::OK, "history stays readable");
}

#[tokio::test]
async fn a_room_per_deal_on_sqlite() {
    story(spawn_app().await).await;
}

#[tokio::test]
async fn a_room_per_deal_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("a_room_per_deal_on_postgres").await else { return };
    story(spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await).await;
}

/// A member who leaves is out of the room at once: no history, no sending.
#[tokio::test]
async fn a_member_who_leaves_is_out_of_the_room() {
    let app = spawn_app().await;
    let host = token(&app.signed_in("leave_host").await);
    let member = token(&app.signed_in("leave_member").await);
    let res = app
        .post_json_as(
            "/api/v1/deals",
            &host,
            &json!({
                "title": "제주 감귤 10kg", "category_id": 4, "total_price": 30_000, "shares_total": 5,
                "items_per_share": 2, "unit": "kg", "deadline": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
            }),
        )
        .await;
    let room = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    app.put_json_as(&format!("/api/v1/deals/{room}/members/me"), &member, &json!({"shares": 1})).await;
    let messages = format!("/api/v1/rooms/{room}/messages");
    eventually(&app, &messages, &member, "member's room", |v| v["items"].as_array().is_some()).await;
    assert_eq!(send(&app, &member, &room, "m-1", "안녕하세요").await.status(), StatusCode::CREATED);
    let res = app.delete_as(&format!("/api/v1/deals/{room}/members/me"), &member).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.get_as(&messages, &member).await.status() != StatusCode::FORBIDDEN {
        assert!(Instant::now() < deadline, "still a member after leaving");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, err) = error_of(send(&app, &member, &room, "m-2", "아직 있나요").await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_a_member")));
    let history = eventually(&app, &messages, &host, "leave notice", |v| {
        v["items"].as_array().is_some_and(|i| i.iter().any(|m| m["body"] == "leave_member님이 나갔어요."))
    })
    .await;
    assert!(bodies(&history).iter().any(|(_, b)| b == "안녕하세요"), "what they wrote stays");
}
