//! The chat socket (`GET /ws`, issue 10) within one instance: members hear each other live and
//! in order; a resend is one message; a reconnect resumes with no gap and no repeat; a leaver
//! stops hearing the room; a stranger, a cross-site page and an ended session are refused.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, protocol::frame::coding::CloseCode, Message},
    MaybeTlsStream, WebSocketStream,
};

use crate::helpers::{spawn_app, TestApp, PASSWORD};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

fn ws_url(app: &TestApp) -> String {
    format!("ws://127.0.0.1:{}/ws", app.port)
}

pub(crate) async fn put(ws: &mut Socket, frame: Value) {
    ws.send(Message::Text(frame.to_string().into())).await.unwrap();
}

/// The next JSON frame (pings answered by the library), within 5 s.
pub(crate) async fn next(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a frame within 5 s").expect("socket open").unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// The next frame of `kind`, skipping others.
pub(crate) async fn next_of(ws: &mut Socket, kind: &str) -> Value {
    loop {
        let f = next(ws).await;
        if f["type"] == kind {
            return f;
        }
    }
}

/// Nothing of `kind` arrives within `wait`.
pub(crate) async fn quiet(ws: &mut Socket, kind: &str, wait: Duration) -> bool {
    let until = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(until, ws.next()).await {
            Err(_) => return true,
            Ok(Some(Ok(Message::Text(t)))) => {
                let f: Value = serde_json::from_str(&t).unwrap();
                if f["type"] == kind {
                    return false;
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(_) => return true,
        }
    }
}

/// A socket signed in with an access token in its first frame, resumed from `rooms`.
pub(crate) async fn connect(app: &TestApp, token: &str, rooms: Value) -> Socket {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(app)).await.unwrap();
    put(&mut ws, json!({"type": "auth", "access_token": token})).await;
    assert_eq!(next(&mut ws).await["type"], "hello");
    put(&mut ws, json!({"type": "resume", "rooms": rooms})).await;
    ws
}

pub(crate) fn token(v: &Value) -> String {
    v["access_token"].as_str().unwrap().to_owned()
}

/// A deal by `host` that `member` joined, once its room knows both (events arrive in the background).
pub(crate) async fn room_with(app: &TestApp, host: &str, member: &str) -> String {
    let res = app
        .post_json_as(
            "/api/v1/deals",
            host,
            &json!({
                "title": "생수 2L 24병", "category_id": 4, "total_price": 12_000, "shares_total": 6,
                "items_per_share": 4, "unit": "병", "deadline": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let room = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.put_json_as(&format!("/api/v1/deals/{room}/members/me"), member, &json!({"shares": 1})).await.status(), StatusCode::OK);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.get_as(&format!("/api/v1/rooms/{room}/messages"), member).await;
        if res.status() == StatusCode::OK {
            let items = res.json::<Value>().await.unwrap()["items"].as_array().unwrap().len();
            if items >= 2 {
                return room;
            }
        }
        assert!(std::time::Instant::now() < deadline, "the room never knew the member");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn members_chat_live_in_order_and_a_resend_is_one_message() {
    let app = spawn_app().await;
    let host = token(&app.signed_in("ws_host").await);
    let member = token(&app.signed_in("ws_member").await);
    let stranger = token(&app.signed_in("ws_stranger").await);
    let room = room_with(&app, &host, &member).await;
    let mut h = connect(&app, &host, json!({})).await;
    let mut m = connect(&app, &member, json!({})).await;
    let mut s = connect(&app, &stranger, json!({})).await;

    for i in 0..8 {
        put(&mut h, json!({"type": "send", "room_id": room, "client_id": format!("h{i}"), "body": format!("메시지 {i}")})).await;
    }
    let mut acked = vec![];
    for _ in 0..8 {
        acked.push(next_of(&mut h, "ack").await["seq"].as_i64().unwrap());
    }
    let mut heard = vec![];
    for _ in 0..8 {
        let f = next_of(&mut m, "message").await;
        heard.push((
            f["seq"].as_i64().unwrap(),
            f["body"].as_str().unwrap().to_owned(),
            f["sender"]["login_id"].as_str().unwrap().to_owned(),
        ));
    }
    let seqs: Vec<i64> = heard.iter().map(|h| h.0).collect();
    let mut sorted = acked.clone();
    sorted.sort();
    assert_eq!(seqs, sorted, "the member hears every message in seq order");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "with no gap: {seqs:?}");
    assert_eq!(heard[0].1, "메시지 0");
    assert_eq!(heard[0].2, "ws_host");

    // The host's own tab hears its messages too (other tabs of the same user would).
    assert!(quiet(&mut h, "none", Duration::from_millis(300)).await);

    // A resend: the same seq in the ack, and no second message for anyone.
    put(&mut m, json!({"type": "send", "room_id": room, "client_id": "m1", "body": "네 좋아요"})).await;
    let first = next_of(&mut m, "ack").await["seq"].clone();
    put(&mut m, json!({"type": "send", "room_id": room, "client_id": "m1", "body": "네 좋아요"})).await;
    assert_eq!(next_of(&mut m, "ack").await["seq"], first);
    assert_eq!(next_of(&mut h, "message").await["seq"], first);
    assert!(quiet(&mut h, "message", Duration::from_millis(300)).await, "one message, not two");

    // Reads reach the other members, with who read up to where.
    put(&mut h, json!({"type": "read", "room_id": room, "seq": first})).await;
    let read = next_of(&mut m, "read").await;
    assert_eq!((read["login_id"].as_str(), &read["seq"]), (Some("ws_host"), &first));

    // A stranger can neither send nor hear.
    put(&mut s, json!({"type": "send", "room_id": room, "client_id": "s1", "body": "저도요"})).await;
    assert_eq!(next_of(&mut s, "error").await["code"], "not_a_member");
    assert!(quiet(&mut s, "message", Duration::from_millis(300)).await);

    // Bad frames are answered, not fatal.
    h.send(Message::Text("{\"type\":\"shout\"}".into())).await.unwrap();
    assert_eq!(next_of(&mut h, "error").await["code"], "bad_frame");
    put(&mut h, json!({"type": "send", "room_id": room, "client_id": "h-blank", "body": "   "})).await;
    assert_eq!(next_of(&mut h, "error").await["code"], "validation_failed");
}

#[tokio::test]
async fn a_reconnect_resumes_with_no_gap_and_no_repeat() {
    let app = spawn_app().await;
    let host = token(&app.signed_in("resume_host").await);
    let member = token(&app.signed_in("resume_member").await);
    let room = room_with(&app, &host, &member).await;
    let mut h = connect(&app, &host, json!({})).await;
    let mut m = connect(&app, &member, json!({})).await;
    put(&mut h, json!({"type": "send", "room_id": room, "client_id": "a", "body": "하나"})).await;
    let last = next_of(&mut m, "message").await["seq"].as_i64().unwrap();
    m.close(None).await.unwrap();

    // While the member is away.
    for (id, body) in [("b", "둘"), ("c", "셋"), ("d", "넷")] {
        put(&mut h, json!({"type": "send", "room_id": room, "client_id": id, "body": body})).await;
        next_of(&mut h, "ack").await;
    }
    let mut m = connect(&app, &member, json!({ room.clone(): last })).await;
    let mut got = vec![];
    for _ in 0..3 {
        let f = next_of(&mut m, "message").await;
        got.push((f["seq"].as_i64().unwrap(), f["body"].as_str().unwrap().to_owned()));
    }
    assert_eq!(got, vec![(last + 1, "둘".to_owned()), (last + 2, "셋".to_owned()), (last + 3, "넷".to_owned())]);
    put(&mut h, json!({"type": "send", "room_id": room, "client_id": "e", "body": "다섯"})).await;
    let live = next_of(&mut m, "message").await;
    assert_eq!((live["seq"].as_i64(), live["body"].as_str()), (Some(last + 4), Some("다섯")), "then live, nothing twice");
}

#[tokio::test]
async fn a_leaver_stops_hearing_the_room_and_sends_are_rate_limited() {
    let app = spawn_app().await;
    let host = token(&app.signed_in("left_host").await);
    let member = token(&app.signed_in("left_member").await);
    let room = room_with(&app, &host, &member).await;
    let mut h = connect(&app, &host, json!({})).await;
    let mut m = connect(&app, &member, json!({})).await;
    // A message before the leave: the instance now knows the room's members (and keeps them).
    put(&mut h, json!({"type": "send", "room_id": room, "client_id": "before", "body": "곧 나가시나요?"})).await;
    next_of(&mut h, "ack").await;
    assert_eq!(next_of(&mut h, "message").await["client_id"], "before");
    assert_eq!(next_of(&mut m, "message").await["client_id"], "before");
    assert_eq!(app.delete_as(&format!("/api/v1/deals/{room}/members/me"), &member).await.status(), StatusCode::NO_CONTENT);
    let left = next_of(&mut m, "room").await;
    assert_eq!((left["room_id"].as_str(), left["state"].as_str()), (Some(room.as_str()), Some("left")));
    let notice = next_of(&mut h, "message").await;
    assert_eq!(notice["body"], "left_member님이 나갔어요.");
    put(&mut h, json!({"type": "send", "room_id": room, "client_id": "after", "body": "아직 계세요?"})).await;
    next_of(&mut h, "ack").await;
    assert!(quiet(&mut m, "message", Duration::from_millis(300)).await, "the leaver hears nothing more");

    // Eleven sends within a second: the eleventh is refused, the first ten stored.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for i in 0..11 {
        put(&mut h, json!({"type": "send", "room_id": room, "client_id": format!("burst{i}"), "body": "빨리"})).await;
    }
    let (mut acks, mut limited) = (0, 0);
    while acks + limited < 11 {
        let f = next(&mut h).await;
        match f["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") if f["code"] == "rate_limited" => limited += 1,
            _ => {}
        }
    }
    assert_eq!((acks, limited), (10, 1));
}

/// Someone who joins a room the instance has been handing out hears its next message live
/// (the instance's list of the room's members follows joins and leaves).
#[tokio::test]
async fn a_newcomer_hears_the_room_at_once() {
    let app = spawn_app().await;
    let host = token(&app.signed_in("newcomer_host").await);
    let member = token(&app.signed_in("newcomer_first").await);
    let newcomer = token(&app.signed_in("newcomer_late").await);
    let room = room_with(&app, &host, &member).await;
    let mut h = connect(&app, &host, json!({})).await;
    let mut n = connect(&app, &newcomer, json!({})).await;
    // Not in the room yet: it is not theirs to have on screen.
    put(&mut n, json!({"type": "viewing", "room_id": room})).await;
    assert_eq!(next_of(&mut n, "error").await["code"], "not_a_member");
    put(&mut h, json!({"type": "send", "room_id": room, "client_id": "early", "body": "두 명이서 시작해요"})).await;
    next_of(&mut h, "ack").await;
    assert_eq!(next_of(&mut h, "message").await["client_id"], "early");
    let joined = app.put_json_as(&format!("/api/v1/deals/{room}/members/me"), &newcomer, &json!({"shares": 1})).await;
    assert_eq!(joined.status(), StatusCode::OK);
    let notice = next_of(&mut h, "message").await;
    assert_eq!(notice["body"], "newcomer_late님이 참여했어요.");
    put(&mut h, json!({"type": "send", "room_id": room, "client_id": "welcome", "body": "어서 오세요"})).await;
    let heard = loop {
        let f = next_of(&mut n, "message").await;
        if f["client_id"] == "welcome" {
            break f;
        }
    };
    assert_eq!(heard["body"], "어서 오세요");
}

#[tokio::test]
async fn strangers_cross_site_pages_and_ended_sessions_are_refused() {
    let app = spawn_app().await;
    let pair = app.signed_in("sock_user").await;

    // No auth frame: closed as unauthorised; a bad token too.
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app)).await.unwrap();
    put(&mut ws, json!({"type": "auth", "access_token": "not-a-token"})).await;
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::from(4401)),
        other => panic!("expected a 4401 close, got {other:?}"),
    }

    // The session cookie works only from our own origin.
    let cookies = browser_cookies(&app, "sock_user").await;
    let mut evil = ws_url(&app).into_client_request().unwrap();
    evil.headers_mut().insert("cookie", cookies.parse().unwrap());
    evil.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(evil).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), StatusCode::FORBIDDEN),
        other => panic!("a cross-site page opened the socket: {:?}", other.map(|(_, r)| r.status())),
    }
    let mut own = ws_url(&app).into_client_request().unwrap();
    own.headers_mut().insert("cookie", cookies.parse().unwrap());
    own.headers_mut().insert("origin", app.address.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(own).await.expect("our own page opens it with the cookie");
    assert_eq!(next(&mut ws).await["login_id"], "sock_user");

    // Logging out elsewhere ends the session: a socket of it closes.
    let mut by_token = connect(&app, &token(&pair), json!({})).await;
    let res = app.post_json("/api/v1/auth/logout", &json!({"refresh_token": pair["refresh_token"]})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), by_token.next()).await.expect("closed within 5 s") {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::from(4403));
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a 4403 close, got {other:?}"),
        }
    }
}

/// Signs in through the login form and returns the `Cookie` header a browser would send.
async fn browser_cookies(app: &TestApp, login_id: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut jar: Vec<String> = vec![];
    let keep = |jar: &mut Vec<String>, res: &reqwest::Response| {
        for v in res.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            jar.retain(|c| !c.starts_with(&format!("{name}=")));
            jar.push(pair);
        }
    };
    let page = client.get(app.url("/login")).send().await.unwrap();
    keep(&mut jar, &page);
    let html = page.text().await.unwrap();
    let csrf = crate::helpers::csrf_token(&html);
    let res = client
        .post(app.url("/login"))
        .header("cookie", jar.join("; "))
        .header("origin", &app.address)
        .form(&[("csrf_token", csrf.as_str()), ("login_id", login_id), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    keep(&mut jar, &res);
    jar.join("; ")
}
