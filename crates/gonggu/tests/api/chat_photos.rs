//! Photo messages (issue 10): uploaded to media first and sent by key over HTTP or the socket,
//! or from the room page's photo button (a multipart form); shown as a thumbnail that opens the
//! full picture.

use reqwest::{multipart, StatusCode};
use serde_json::{json, Value};

use crate::{
    chat_socket::{connect, next_of, put, room_with, token},
    helpers::{browser, csrf_token, error_of, spawn_app, TestApp},
};

async fn upload(app: &TestApp, token: &str) -> String {
    let form = multipart::Form::new().part("file", multipart::Part::bytes(gonggu_media::testdata::jpeg(640, 480)).file_name("a.jpg"));
    let res = app.api.post(app.url("/api/v1/media")).bearer_auth(token).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["items"][0]["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_photo_is_sent_by_its_key_and_bad_keys_are_refused() {
    let app = spawn_app().await;
    let host = token(&app.signed_in("photo_chat_host").await);
    let member = token(&app.signed_in("photo_chat_member").await);
    let room = room_with(&app, &host, &member).await;
    let mut h = connect(&app, &host, json!({})).await;
    let key = upload(&app, &member).await;
    let messages = format!("/api/v1/rooms/{room}/messages");

    let res = app.post_json_as(&messages, &member, &json!({"client_id": "photo-1", "image_key": key})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let sent: Value = res.json().await.unwrap();
    assert_eq!((sent["kind"].as_str(), sent["body"].as_str()), (Some("image"), Some("")));
    assert_eq!(sent["image"]["url"], format!("/media/{key}"));
    // The photo's own frame: a notice of the room (the member's join) may still be on its way.
    let heard = loop {
        let m = next_of(&mut h, "message").await;
        if m["client_id"] == "photo-1" {
            break m;
        }
    };
    assert_eq!(heard["image"], sent["image"], "the room hears the photo live");
    assert_eq!(app.get(sent["image"]["thumbnail_url"].as_str().unwrap()).await.status(), StatusCode::OK);
    assert_eq!(app.get(sent["image"]["url"].as_str().unwrap()).await.status(), StatusCode::OK);
    let rooms: Value = app.get_as("/api/v1/rooms", &host).await.json().await.unwrap();
    assert_eq!(rooms["items"][0]["last_message"]["kind"], "image");

    // Over the socket too.
    put(&mut h, json!({"type": "send", "room_id": room, "client_id": "photo-ws", "image_key": key})).await;
    assert_eq!(next_of(&mut h, "ack").await["client_id"], "photo-ws");

    let missing = format!("{}.jpg", "a".repeat(40));
    for (input, field) in [
        (json!({"client_id": "bad-1", "image_key": missing}), "image_key"),
        (json!({"client_id": "bad-2", "image_key": "../../etc/passwd"}), "image_key"),
        (json!({"client_id": "bad-3", "image_key": key, "body": "사진과 글"}), "image_key"),
        (json!({"client_id": "bad-4"}), "body"),
    ] {
        let (status, err) = error_of(app.post_json_as(&messages, &member, &input).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{input}");
        assert!(err["details"]["fields"][field].is_string(), "{input}: {err}");
    }
    put(&mut h, json!({"type": "send", "room_id": room, "client_id": "bad-ws", "image_key": missing})).await;
    let refused = next_of(&mut h, "error").await;
    assert_eq!((refused["code"].as_str(), refused["client_id"].as_str()), (Some("validation_failed"), Some("bad-ws")));
}

#[tokio::test]
async fn the_room_pages_photo_button_sends_a_photo() {
    let app = spawn_app().await;
    let host = token(&app.signed_in("photo_page_host").await);
    let member = token(&app.signed_in("photo_page_member").await);
    let room = room_with(&app, &host, &member).await;
    let client = browser();
    let csrf = app.form_login(&client, "photo_page_member").await;
    let page = format!("/chat/{room}");
    let html = client.get(app.url(&page)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&format!("action=\"/chat/{room}/photos\"")), "the room offers a photo button");
    assert_eq!(csrf_token(&html), csrf, "the room's forms carry the session's token");

    let form = |bytes: Vec<u8>, client_id: &str| {
        multipart::Form::new()
            .text("csrf_token", csrf.clone())
            .text("client_id", client_id.to_owned())
            .part("photo", multipart::Part::bytes(bytes).file_name("IMG_0001.jpg"))
    };
    let photos = app.url(&format!("{page}/photos"));
    let res = client.post(&photos).multipart(form(gonggu_media::testdata::jpeg(800, 600), "page-photo")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", res.text().await);
    // The same form again (a double tap, a resubmit) is the same message.
    let res = client.post(&photos).multipart(form(gonggu_media::testdata::jpeg(800, 600), "page-photo")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let history: Value = app.get_as(&format!("/api/v1/rooms/{room}/messages"), &host).await.json().await.unwrap();
    let photos_sent: Vec<&Value> = history["items"].as_array().unwrap().iter().filter(|m| m["kind"] == "image").collect();
    assert_eq!(photos_sent.len(), 1, "one photo message");
    let thumb = photos_sent[0]["image"]["thumbnail_url"].as_str().unwrap();
    let html = client.get(app.url(&page)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("bubble-photo") && html.contains(thumb), "the room shows the thumbnail");

    let res = client.post(&photos).multipart(form(b"not an image".to_vec(), "page-bad")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("flash"), "the room says why");
    let no_csrf = multipart::Form::new()
        .text("client_id", "x")
        .part("photo", multipart::Part::bytes(gonggu_media::testdata::jpeg(10, 10)).file_name("a.jpg"));
    assert_eq!(client.post(&photos).multipart(no_csrf).send().await.unwrap().status(), StatusCode::FORBIDDEN);
}

/// The room's script posts the photo form in the background (`Accept: application/json`): it
/// gets the stored message, the same one for a repeat, or the API's error, never a page.
#[tokio::test]
async fn the_photo_button_answers_the_rooms_script_with_the_stored_message() {
    let app = spawn_app().await;
    let host = token(&app.signed_in("photo_js_host").await);
    let member = token(&app.signed_in("photo_js_member").await);
    let room = room_with(&app, &host, &member).await;
    let client = browser();
    let csrf = app.form_login(&client, "photo_js_member").await;
    let mut h = connect(&app, &host, json!({})).await;
    let form = |bytes: Vec<u8>, client_id: &str| {
        multipart::Form::new()
            .text("csrf_token", csrf.clone())
            .text("client_id", client_id.to_owned())
            .part("photo", multipart::Part::bytes(bytes).file_name("IMG_0002.png"))
    };
    let photos = app.url(&format!("/chat/{room}/photos"));
    let post = |bytes: Vec<u8>, client_id: &'static str| {
        client.post(&photos).header("accept", "application/json").multipart(form(bytes, client_id)).send()
    };

    let res = post(gonggu_media::testdata::jpeg(800, 600), "js-photo").await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["content-type"], "application/json");
    let sent: Value = res.json().await.unwrap();
    assert_eq!((sent["kind"].as_str(), sent["client_id"].as_str()), (Some("image"), Some("js-photo")));
    assert!(sent["seq"].as_i64().is_some_and(|s| s > 0) && sent["image"]["thumbnail_url"].is_string(), "{sent}");
    assert_eq!(next_of(&mut h, "message").await["seq"], sent["seq"], "the room hears it live too");

    let res = post(gonggu_media::testdata::jpeg(800, 600), "js-photo").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "a retry of the same photo is the same message");
    assert_eq!(res.json::<Value>().await.unwrap()["seq"], sent["seq"]);

    let (status, err) = error_of(post(b"not an image".to_vec(), "js-bad").await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["image_key"].is_string(), "{err}");
    let history: Value = app.get_as(&format!("/api/v1/rooms/{room}/messages"), &host).await.json().await.unwrap();
    assert_eq!(history["items"].as_array().unwrap().iter().filter(|m| m["kind"] == "image").count(), 1, "one photo message");
}
