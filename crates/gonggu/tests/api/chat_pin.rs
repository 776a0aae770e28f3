//! The host's pinned notice (issue 10): one per room, at the top for everyone, live; only the
//! host pins or takes it down, over the API or the room page.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    chat_socket::{connect, next_of, room_with, token},
    helpers::{browser, error_of, spawn_app},
};

#[tokio::test]
async fn the_host_pins_one_notice_the_room_sees_it_live() {
    let app = spawn_app().await;
    let host = token(&app.signed_in("pin_host").await);
    let member = token(&app.signed_in("pin_member").await);
    let room = room_with(&app, &host, &member).await;
    let mut m = connect(&app, &member, json!({})).await;
    let pin = format!("/api/v1/rooms/{room}/pin");

    let res = app.put_json_as(&pin, &host, &json!({"body": "  토요일 오후 2시, 정문 앞 편의점  "})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["body"], "토요일 오후 2시, 정문 앞 편의점");
    assert_eq!(next_of(&mut m, "message").await["body"], "방장이 공지를 고정했어요.");
    assert_eq!(next_of(&mut m, "pin").await["pin"]["body"], "토요일 오후 2시, 정문 앞 편의점");
    // Pinning again replaces it: one pin per room.
    app.put_json_as(&pin, &host, &json!({"body": "일요일 오전 10시로 바뀌었어요"})).await;
    assert_eq!(next_of(&mut m, "pin").await["pin"]["body"], "일요일 오전 10시로 바뀌었어요");
    let rooms: Value = app.get_as("/api/v1/rooms", &member).await.json().await.unwrap();
    assert_eq!(rooms["items"][0]["pin"]["body"], "일요일 오전 10시로 바뀌었어요");

    let (status, err) = error_of(app.put_json_as(&pin, &member, &json!({"body": "제가 고정할게요"})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_the_host")));
    let (status, err) = error_of(app.delete_as(&pin, &member).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_the_host")));
    for bad in [json!({"body": "   "}), json!({"body": "가".repeat(301)})] {
        let (status, err) = error_of(app.put_json_as(&pin, &host, &bad).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err["details"]["fields"]["body"].is_string());
    }
    let stranger = token(&app.signed_in("pin_stranger").await);
    let (status, err) = error_of(app.put_json_as(&pin, &stranger, &json!({"body": "남의 방"})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_a_member")));

    assert_eq!(app.delete_as(&pin, &host).await.status(), StatusCode::NO_CONTENT);
    assert!(next_of(&mut m, "pin").await["pin"].is_null(), "taken down for everyone");
    let rooms: Value = app.get_as("/api/v1/rooms", &member).await.json().await.unwrap();
    assert!(rooms["items"][0].get("pin").is_none());
}

#[tokio::test]
async fn the_room_page_shows_the_pin_and_only_the_host_can_edit_it() {
    let app = spawn_app().await;
    let host = token(&app.signed_in("pin_page_host").await);
    let member = token(&app.signed_in("pin_page_member").await);
    let room = room_with(&app, &host, &member).await;
    let page = format!("/chat/{room}");

    let member_browser = browser();
    app.form_login(&member_browser, "pin_page_member").await;
    let html = member_browser.get(app.url(&page)).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("pin-editor"), "a member has no pin form");

    let host_browser = browser();
    let csrf = app.form_login(&host_browser, "pin_page_host").await;
    let html = host_browser.get(app.url(&page)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("pin-editor"), "the host has one");
    let res = host_browser
        .post(app.url(&format!("{page}/pin")))
        .form(&[("csrf_token", csrf.as_str()), ("body", "택배 도착하면 알려 드릴게요")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = member_browser.get(app.url(&page)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("택배 도착하면 알려 드릴게요"), "the member sees the pin");
    let res = host_browser.post(app.url(&format!("{page}/pin"))).form(&[("csrf_token", csrf.as_str()), ("body", "")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "an empty pin is refused with the room shown again");
    let res = host_browser.post(app.url(&format!("{page}/unpin"))).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let pinned: Value = app.get_as("/api/v1/rooms", &host).await.json().await.unwrap();
    assert!(pinned["items"][0].get("pin").is_none());
    let res = host_browser.post(app.url(&format!("{page}/pin"))).form(&[("body", "CSRF 없이")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
