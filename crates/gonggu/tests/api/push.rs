//! Notifications (issue 11): every trigger reaches the right people once — in the 알림 inbox
//! and, encrypted for their devices, through a local push service that checks the VAPID token
//! and decrypts each push with the device's own key — and never the one who did it.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{error_of, spawn_app_tuned, TestApp},
    push_stub::{Device, PushStub, Reply},
};

fn token(v: &Value) -> String {
    v["access_token"].as_str().unwrap().to_owned()
}

/// The app with loopback push endpoints allowed and quick retries, and a push stub trusting
/// its VAPID key.
async fn app_and_stub() -> (TestApp, PushStub) {
    app_and_stub_on(None).await
}

/// The same on PostgreSQL (`Some(url)`).
async fn app_and_stub_on(postgres: Option<String>) -> (TestApp, PushStub) {
    let app = spawn_app_tuned(
        |s| {
            s.push.allow_insecure_loopback = true;
            s.database.url = postgres.map(gonggu::settings::Secret::new);
        },
        |o| {
            o.push_worker = Some(gonggu_push::delivery::WorkerConfig {
                retry_base: Duration::from_millis(200),
                allow_loopback: true,
                ..Default::default()
            });
            o.push_send_timeout = Some(Duration::from_secs(2));
        },
    )
    .await;
    let key: Value = app.get("/api/v1/push/vapid-public-key").await.json().await.unwrap();
    let stub = PushStub::start().await;
    stub.trust(key["public_key"].as_str().unwrap());
    (app, stub)
}

/// Signs up `login_id` with one registered device.
async fn person(app: &TestApp, stub: &PushStub, login_id: &str) -> (String, Device) {
    let t = token(&app.signed_in(login_id).await);
    let device = stub.device();
    let res = app.post_json_as("/api/v1/push/subscriptions", &t, &device.subscription()).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{login_id}'s device");
    (t, device)
}

async fn open_deal(app: &TestApp, host: &str, title: &str, shares: i64) -> String {
    let res = app
        .post_json_as(
            "/api/v1/deals",
            host,
            &json!({
                "title": title, "description": "같이 사요", "category_id": 4, "total_price": 24_000, "shares_total": shares, "min_shares": 3,
                "items_per_share": 1, "unit": "개", "deadline": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn join(app: &TestApp, who: &str, deal: &str, shares: i64) {
    let res = app.put_json_as(&format!("/api/v1/deals/{deal}/members/me"), who, &json!({"shares": shares})).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// The inbox once `check` holds for it (events are handled in the background).
async fn inbox_once(app: &TestApp, who: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    get_once(app, "/api/v1/notifications", who, what, check).await
}

/// `path` as `who` sees it, once `check` holds (within 10 s).
async fn get_once(app: &TestApp, path: &str, who: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v: Value = app.get_as(path, who).await.json().await.unwrap();
        if check(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().unwrap()
}

#[tokio::test]
async fn subscriptions_take_only_public_https_endpoints_and_real_keys() {
    let (app, stub) = app_and_stub().await;
    let me = token(&app.signed_in("push_owner").await);
    let other = token(&app.signed_in("push_other").await);
    let key: Value = app.get("/api/v1/push/vapid-public-key").await.json().await.unwrap();
    assert_eq!(key, app.get("/api/v1/push/vapid-public-key").await.json::<Value>().await.unwrap(), "one key");

    let device = stub.device();
    let good = device.subscription();
    for (endpoint, why) in [
        ("http://push.example.com/x", "not https"),
        ("https://10.0.0.7/push", "private network"),
        ("https://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("https://localhost/push", "localhost"),
        ("http://127.0.0.2:9/push", "loopback but not 127.0.0.1's test stub... still loopback http"),
    ] {
        let mut body = good.clone();
        body["endpoint"] = json!(endpoint);
        let res = app.post_json_as("/api/v1/push/subscriptions", &me, &body).await;
        if endpoint.starts_with("http://127.") {
            // The test setting lets loopback stubs in; the rest stays refused.
            assert_eq!(res.status(), StatusCode::CREATED, "{why}");
            assert_eq!(
                app.delete_json_as("/api/v1/push/subscriptions", &me, &json!({"endpoint": endpoint})).await.status(),
                StatusCode::NO_CONTENT
            );
            continue;
        }
        let (status, err) = error_of(res).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {err}");
        assert!(err["details"]["fields"]["endpoint"].is_string(), "{why}: {err}");
    }
    let mut long = good.clone();
    long["endpoint"] = json!(format!("{}/{}", stub.origin, "a".repeat(2100)));
    assert_eq!(error_of(app.post_json_as("/api/v1/push/subscriptions", &me, &long).await).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let mut bad_key = good.clone();
    bad_key["keys"]["p256dh"] = json!(base64_of(&[4u8; 65]));
    let (status, err) = error_of(app.post_json_as("/api/v1/push/subscriptions", &me, &bad_key).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["keys.p256dh"].is_string(), "{err}");
    let mut bad_auth = good.clone();
    bad_auth["keys"]["auth"] = json!(base64_of(&[1u8; 4]));
    assert_eq!(error_of(app.post_json_as("/api/v1/push/subscriptions", &me, &bad_auth).await).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.api.post(app.url("/api/v1/push/subscriptions")).json(&good).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    assert_eq!(app.post_json_as("/api/v1/push/subscriptions", &me, &good).await.status(), StatusCode::CREATED);
    assert_eq!(app.post_json_as("/api/v1/push/subscriptions", &me, &good).await.status(), StatusCode::OK, "again: the same device");
    let prefs: Value = app.get_as("/api/v1/push/preferences", &me).await.json().await.unwrap();
    assert_eq!(prefs["devices"], 1);
    // Someone else cannot remove my device.
    let (status, err) =
        error_of(app.delete_json_as("/api/v1/push/subscriptions", &other, &json!({"endpoint": device.endpoint})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("subscription_not_found")));
    assert_eq!(
        app.delete_json_as("/api/v1/push/subscriptions", &me, &json!({"endpoint": device.endpoint})).await.status(),
        StatusCode::NO_CONTENT
    );
    let prefs: Value = app.get_as("/api/v1/push/preferences", &me).await.json().await.unwrap();
    assert_eq!(prefs["devices"], 0);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn joins_reach_the_host_and_the_other_members_never_the_joiner() {
    let (app, stub) = app_and_stub().await;
    joins_reach_the_host_and_the_other_members_never_the_joiner_story(app, stub).await;
}

#[tokio::test]
async fn joins_reach_the_host_and_the_other_members_never_the_joiner_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("joins_reach_the_host_and_the_other_members_never_the_joiner_on_postgres").await
    else {
        return;
    };
    let (app, stub) = app_and_stub_on(Some(url)).await;
    joins_reach_the_host_and_the_other_members_never_the_joiner_story(app, stub).await;
}

async fn joins_reach_the_host_and_the_other_members_never_the_joiner_story(app: TestApp, stub: PushStub) {
    let (host, host_phone) = person(&app, &stub, "push_host").await;
    let (first, first_phone) = person(&app, &stub, "push_first").await;
    let (second, second_phone) = person(&app, &stub, "push_second").await;
    let deal = open_deal(&app, &host, "제주 삼다수 2L 12병", 4).await;

    join(&app, &first, &deal, 1).await;
    let got = stub.wait_for(&host_phone, 1, "the host hears of the first join").await;
    let push = &got[0];
    assert_eq!(push.payload["title"], "새 참여자가 있어요");
    assert_eq!(push.payload["body"], "push_first님이 ‘제주 삼다수 2L 12병’ 공구에 1개 참여했어요.");
    assert_eq!(push.payload["url"], format!("/deals/{deal}"));
    assert_eq!(push.payload["tag"], format!("deal-{deal}"));
    assert_eq!(push.payload["badge_count"], 1);
    assert_eq!(push.ttl, "86400");
    assert_eq!(push.urgency.as_deref(), Some("normal"));
    assert_eq!(push.topic.as_ref().map(String::len), Some(32));

    // The second join makes the deal reach its minimum: everyone hears it is confirmed, and the
    // host and the first member hear of the join; the joiner hears only of the confirmation.
    join(&app, &second, &deal, 1).await;
    let host_got = stub.wait_for(&host_phone, 3, "the host: first join, second join, confirmed").await;
    let first_got = stub.wait_for(&first_phone, 2, "the first member: the second join and the confirmation").await;
    let second_got = stub.wait_for(&second_phone, 1, "the second member: the confirmation").await;
    let titles = |r: &[crate::push_stub::Received]| {
        let mut t: Vec<String> = r.iter().map(|p| p.payload["title"].as_str().unwrap().to_owned()).collect();
        t.sort();
        t
    };
    assert_eq!(titles(&host_got), ["공구가 확정됐어요", "새 참여자가 있어요", "새 참여자가 있어요"]);
    assert_eq!(titles(&first_got), ["공구가 확정됐어요", "새 참여자가 있어요"]);
    assert_eq!(titles(&second_got), ["공구가 확정됐어요"]);
    assert!(host_got.iter().any(|p| p.urgency.as_deref() == Some("high")), "confirmation is urgent");
    stub.stays_at(&first_phone, 2, "no push to the first member about their own join").await;
    stub.stays_at(&second_phone, 1, "no push to the second member about their own join").await;
    assert!(stub.problems().is_empty(), "{:?}", stub.problems());

    // The same notices are in the inbox, newest first; reading them clears the badge.
    let inbox = inbox_once(&app, &host, "the host's inbox", |v| items(v).len() == 3).await;
    assert_eq!(inbox["unread"], 3);
    assert!(items(&inbox).iter().all(|n| n["url"] == format!("/deals/{deal}") && n["read"] == false && n["type"] == "deal"));
    let one = items(&inbox)[0]["id"].clone();
    let res: Value = app.post_json_as("/api/v1/notifications/read", &host, &json!({"ids": [one]})).await.json().await.unwrap();
    assert_eq!(res["unread"], 2);
    let res: Value = app.post_json_as("/api/v1/notifications/read", &first, &json!({"ids": [one]})).await.json().await.unwrap();
    assert_eq!(res["unread"], 2, "someone else's notice is not mine to mark");
    let res: Value = app.post_json_as("/api/v1/notifications/read", &host, &json!({"all": true})).await.json().await.unwrap();
    assert_eq!(res["unread"], 0);
    let (status, _) = error_of(app.post_json_as("/api/v1/notifications/read", &host, &json!({})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Paging: one at a time, no repeats, then the end.
    let mut seen = vec![];
    let mut path = "/api/v1/notifications?limit=1".to_owned();
    loop {
        let page: Value = app.get_as(&path, &host).await.json().await.unwrap();
        seen.extend(items(&page).iter().map(|n| n["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/notifications?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3);
    seen.dedup();
    assert_eq!(seen.len(), 3);
    let (status, err) = error_of(app.get_as("/api/v1/notifications?cursor=bm9wZQ", &host).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_cursor")));
}

#[tokio::test]
async fn chat_pushes_skip_the_sender_and_muted_rooms_and_gather_per_minute() {
    let (app, stub) = app_and_stub().await;
    chat_pushes_skip_the_sender_and_muted_rooms_and_gather_per_minute_story(app, stub).await;
}

#[tokio::test]
async fn chat_pushes_skip_the_sender_and_muted_rooms_and_gather_per_minute_on_postgres() {
    let Some(url) =
        gonggu_kernel::testkit::fresh_postgres("chat_pushes_skip_the_sender_and_muted_rooms_and_gather_per_minute_on_postgres").await
    else {
        return;
    };
    let (app, stub) = app_and_stub_on(Some(url)).await;
    chat_pushes_skip_the_sender_and_muted_rooms_and_gather_per_minute_story(app, stub).await;
}

async fn chat_pushes_skip_the_sender_and_muted_rooms_and_gather_per_minute_story(app: TestApp, stub: PushStub) {
    let (host, host_phone) = person(&app, &stub, "chatpush_host").await;
    let (member, member_phone) = person(&app, &stub, "chatpush_member").await;
    let (quiet, quiet_phone) = person(&app, &stub, "chatpush_quiet").await;
    let deal = open_deal(&app, &host, "양재 코스트코 소분", 5).await;
    join(&app, &member, &deal, 1).await;
    join(&app, &quiet, &deal, 1).await;
    // Deal pushes out of the way first: the host hears two joins and the confirmation, etc.
    stub.wait_for(&host_phone, 3, "deal pushes to the host").await;
    let member_before = stub.wait_for(&member_phone, 2, "deal pushes to the member").await.len();
    let quiet_before = stub.wait_for(&quiet_phone, 1, "the confirmation to the last joiner").await.len();
    assert_eq!(app.put_json_as(&format!("/api/v1/push/muted-rooms/{deal}"), &quiet, &json!({})).await.status(), StatusCode::NO_CONTENT);

    // The room is the deal's; wait until chat has it with all three.
    let messages = format!("/api/v1/rooms/{deal}/messages");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.post_json_as(&messages, &host, &json!({"client_id": "m-1", "body": "내일 저녁 7시에 나눠요"})).await;
        if res.status().is_success() {
            break;
        }
        assert!(Instant::now() < deadline, "the room never opened: {}", res.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = stub.wait_for(&member_phone, member_before + 1, "the member hears the host's message").await;
    let push = got.last().unwrap();
    assert_eq!(push.payload["title"], "‘양재 코스트코 소분’");
    assert_eq!(push.payload["body"], "chatpush_host: 내일 저녁 7시에 나눠요");
    assert_eq!(push.payload["url"], format!("/chat/{deal}"));
    assert_eq!(push.payload["tag"], format!("chat-{deal}"));
    assert_eq!(push.ttl, "3600");

    // Two more within the minute: no push yet; they gather into the next one.
    for (i, body) in ["주차는 B2에 하세요", "봉투 챙겨 오세요"].iter().enumerate() {
        let res = app.post_json_as(&messages, &host, &json!({"client_id": format!("m-{}", i + 2), "body": body})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    stub.stays_at(&member_phone, member_before + 1, "at most one chat push per room per minute").await;
    app.clock.advance(chrono::Duration::seconds(61));
    let got = stub.wait_for(&member_phone, member_before + 2, "the gathered push after the minute").await;
    assert_eq!(got.last().unwrap().payload["body"], "새 메시지 3개 · chatpush_host: 봉투 챙겨 오세요");

    stub.stays_at(&host_phone, 3, "the sender hears nothing of their own messages").await;
    stub.stays_at(&quiet_phone, quiet_before, "a muted room pushes nothing").await;
    // …but its inbox has the room's notice, gathered.
    let inbox = inbox_once(&app, &quiet, "the muted member's inbox", |v| items(v).iter().any(|n| n["type"] == "chat")).await;
    let chat = items(&inbox).iter().find(|n| n["type"] == "chat").unwrap();
    assert_eq!((chat["count"].as_i64(), chat["url"].as_str()), (Some(3), Some(format!("/chat/{deal}").as_str())));
    assert!(stub.problems().is_empty(), "{:?}", stub.problems());
}

#[tokio::test]
async fn gone_devices_are_deleted_and_busy_push_services_are_retried() {
    let (app, stub) = app_and_stub().await;
    gone_devices_are_deleted_and_busy_push_services_are_retried_story(app, stub).await;
}

#[tokio::test]
async fn gone_devices_are_deleted_and_busy_push_services_are_retried_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("gone_devices_are_deleted_and_busy_push_services_are_retried_on_postgres").await
    else {
        return;
    };
    let (app, stub) = app_and_stub_on(Some(url)).await;
    gone_devices_are_deleted_and_busy_push_services_are_retried_story(app, stub).await;
}

async fn gone_devices_are_deleted_and_busy_push_services_are_retried_story(app: TestApp, stub: PushStub) {
    let (host, gone_phone) = person(&app, &stub, "retry_host").await;
    let busy_phone = stub.device();
    assert_eq!(app.post_json_as("/api/v1/push/subscriptions", &host, &busy_phone.subscription()).await.status(), StatusCode::CREATED);
    let (member, _) = person(&app, &stub, "retry_member").await;
    stub.script(&gone_phone, &[Reply::Status(410)]);
    stub.script(&busy_phone, &[Reply::Status(503), Reply::TooMany(30)]);
    let deal = open_deal(&app, &host, "대용량 세제", 4).await;
    join(&app, &member, &deal, 1).await;

    // 410: the device is forgotten.
    get_once(&app, "/api/v1/push/preferences", &host, "the gone device stays", |p| p["devices"] == 1).await;
    assert_eq!(stub.attempts(&gone_phone), 1);
    // 503: tried again after a backoff (about 200 ms here, on the app's clock); then 429 with
    // Retry-After: 30 — nothing before the 30 seconds are up, then once.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stub.attempts(&busy_phone) < 1 {
        assert!(Instant::now() < deadline, "the busy device was never tried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stub.stays_at(&busy_phone, 0, "the backoff is waited out").await;
    assert_eq!(stub.attempts(&busy_phone), 1);
    app.clock.advance(chrono::Duration::seconds(1));
    while stub.attempts(&busy_phone) < 2 {
        assert!(Instant::now() < deadline, "the 503 was not retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stub.stays_at(&busy_phone, 0, "Retry-After is honoured").await;
    assert_eq!(stub.attempts(&busy_phone), 2);
    app.clock.advance(chrono::Duration::seconds(31));
    let got = stub.wait_for(&busy_phone, 1, "delivered after Retry-After").await;
    assert_eq!(got[0].payload["title"], "새 참여자가 있어요");
    stub.stays_at(&busy_phone, 1, "and only once").await;
    assert_eq!(stub.attempts(&busy_phone), 3);
    assert!(stub.problems().is_empty(), "{:?}", stub.problems());
}

#[tokio::test]
async fn keyword_alerts_come_once_per_deal_and_never_to_its_host() {
    let (app, stub) = app_and_stub().await;
    let (fan, fan_phone) = person(&app, &stub, "kw_fan").await;
    let (host, host_phone) = person(&app, &stub, "kw_host").await;
    let (_other, other_phone) = person(&app, &stub, "kw_other").await;
    for (who, words) in [(&fan, json!(["삼다수", "휴지"])), (&host, json!(["삼다수"]))] {
        assert_eq!(app.put_json_as("/api/v1/me/keywords", who, &json!({"keywords": words})).await.status(), StatusCode::OK);
    }
    // Keywords reach push in the background; a deal posted before would not match them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut deal;
    loop {
        deal = open_deal(&app, &host, "제주 삼다수 2L", 4).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !stub.received(&fan_phone).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no keyword alert");
    }
    let got = stub.wait_for(&fan_phone, 1, "the keyword alert").await;
    assert_eq!(got.len(), 1, "one alert for the one deal: {got:?}");
    assert_eq!(got[0].payload["title"], "관심 키워드 ‘삼다수’ 새 공구");
    assert_eq!(got[0].payload["url"], format!("/deals/{deal}"));
    stub.stays_at(&host_phone, 0, "the host is not alerted about their own deal").await;
    stub.stays_at(&other_phone, 0, "no keyword, no alert").await;
    let inbox = inbox_once(&app, &fan, "the alert in the inbox", |v| !items(v).is_empty()).await;
    assert_eq!((items(&inbox)[0]["type"].as_str(), items(&inbox)[0]["keyword"].as_str()), (Some("keyword"), Some("삼다수")));

    // Editing the deal alerts nobody again.
    let res = app.patch_json_as(&format!("/api/v1/deals/{deal}"), &host, &json!({"description": "휴지도 같이 사요"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    stub.stays_at(&fan_phone, 1, "at most once per deal").await;
}

#[tokio::test]
async fn preferences_off_and_quiet_hours_hold_pushes_but_not_the_inbox() {
    let (app, stub) = app_and_stub().await;
    let (host, host_phone) = person(&app, &stub, "pref_host").await;
    let (member, _) = person(&app, &stub, "pref_member").await;
    let res = app
        .put_json_as(
            "/api/v1/push/preferences",
            &host,
            &json!({"deal": false, "chat": true, "keyword": true, "wallet": true, "quiet_hours": null}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let prefs: Value = res.json().await.unwrap();
    assert_eq!((prefs["deal"].as_bool(), prefs["chat"].as_bool()), (Some(false), Some(true)));
    let (status, _) = error_of(
        app.put_json_as(
            "/api/v1/push/preferences",
            &host,
            &json!({"deal": true, "chat": true, "keyword": true, "wallet": true, "quiet_hours": {"start": "25:00", "end": "07:00"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A refused change changes nothing: too many muted rooms, and the "chat off" with it stays unsaved.
    let rooms: Vec<String> = (0..501).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let (status, err) = error_of(
        app.put_json_as(
            "/api/v1/push/preferences",
            &host,
            &json!({"deal": false, "chat": false, "keyword": true, "wallet": true, "quiet_hours": null, "muted_rooms": rooms}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let prefs: Value = app.get_as("/api/v1/push/preferences", &host).await.json().await.unwrap();
    assert_eq!((prefs["chat"].as_bool(), prefs["muted_rooms"].as_array().map(Vec::len)), (Some(true), Some(0)), "{prefs}");
    let deal = open_deal(&app, &host, "두루마리 휴지", 4).await;
    join(&app, &member, &deal, 1).await;
    inbox_once(&app, &host, "the join is in the inbox", |v| items(v).len() == 1).await;
    stub.stays_at(&host_phone, 0, "deal pushes are off").await;

    // Quiet hours around now (Seoul time): the push waits for their end.
    let now = app.clock.now().with_timezone(&gonggu_push::domain::seoul());
    let start = now - chrono::Duration::minutes(30);
    let end = now + chrono::Duration::minutes(30);
    let res = app
        .put_json_as(
            "/api/v1/push/preferences",
            &host,
            &json!({"deal": true, "chat": true, "keyword": true, "wallet": true,
                    "quiet_hours": {"start": start.format("%H:%M").to_string(), "end": end.format("%H:%M").to_string()}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.delete_json_as(&format!("/api/v1/deals/{deal}/members/me"), &member, &json!({})).await;
    assert!(res.status().is_success(), "{}", res.status());
    inbox_once(&app, &host, "the leave is in the inbox", |v| items(v).len() == 2).await;
    stub.stays_at(&host_phone, 0, "quiet hours hold the push").await;
    app.clock.advance(chrono::Duration::minutes(31));
    let got = stub.wait_for(&host_phone, 1, "the held push after quiet hours").await;
    assert_eq!(got[0].payload["title"], "참여를 취소한 이웃이 있어요");
}

#[tokio::test]
async fn coins_received_reach_the_receiver_and_logout_removes_the_device() {
    let (app, stub) = app_and_stub().await;
    let sender_pair = app.signed_in("coin_sender").await;
    let sender = token(&sender_pair);
    let (receiver, receiver_phone) = person(&app, &stub, "coin_receiver").await;
    let sender_phone = stub.device();
    assert_eq!(app.post_json_as("/api/v1/push/subscriptions", &sender, &sender_phone.subscription()).await.status(), StatusCode::CREATED);
    let money = |path: &'static str, body: Value| {
        let app = &app;
        let sender = sender.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let res = app
                    .api
                    .post(app.url(path))
                    .bearer_auth(&sender)
                    .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                if res.status().is_success() {
                    return;
                }
                // The wallet opens in the background after sign-up.
                assert!(Instant::now() < deadline, "{path}: {}", res.status());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    money("/api/v1/wallet/charge", json!({"amount": 10_000})).await;
    money("/api/v1/wallet/transfers", json!({"to_login_id": "coin_receiver", "amount": 3_000, "memo": "휴지 값"})).await;
    let got = stub.wait_for(&receiver_phone, 1, "the receiver hears of the coins").await;
    assert_eq!(got[0].payload["title"], "공구페이가 들어왔어요");
    assert_eq!(got[0].payload["body"], "coin_sender님이 3,000원을 보냈어요: 휴지 값");
    assert_eq!(got[0].payload["url"], "/wallet/history");
    let _ = receiver;
    stub.stays_at(&sender_phone, 0, "the sender is not told of their own transfer").await;

    // Logging out ends the session, and the device registered under it stops receiving.
    let res = app.post_json("/api/v1/auth/logout", &json!({"refresh_token": sender_pair["refresh_token"]})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let again = token(&app.login("coin_sender", crate::helpers::PASSWORD).await.json::<Value>().await.unwrap());
    get_once(&app, "/api/v1/push/preferences", &again, "the logged-out device is still registered", |p| p["devices"] == 0).await;
}

#[tokio::test]
async fn two_instances_on_nats_push_each_notice_to_each_device_once() {
    let test = "two_instances_on_nats_push_each_notice_to_each_device_once";
    let Some((nats_url, prefix)) = gonggu_kernel::testkit::nats(test) else { return };
    let Some(pg) = gonggu_kernel::testkit::fresh_postgres(test).await else { return };
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let tune = |o: &mut gonggu::Overrides| {
        o.push_worker = Some(gonggu_push::delivery::WorkerConfig { allow_loopback: true, ..Default::default() });
    };
    let a = crate::helpers::spawn_scaled_instance(&nats_url, &prefix, &pg, &secret, tune).await;
    let b = crate::helpers::spawn_scaled_instance(&nats_url, &prefix, &pg, &secret, tune).await;
    let key_a: Value = a.get("/api/v1/push/vapid-public-key").await.json().await.unwrap();
    let key_b: Value = b.get("/api/v1/push/vapid-public-key").await.json().await.unwrap();
    assert_eq!(key_a, key_b, "every instance signs with the one key");
    let stub = PushStub::start().await;
    stub.trust(key_a["public_key"].as_str().unwrap());

    let host = token(&a.signed_in("twin_host").await);
    let phones: Vec<Device> = (0..4).map(|_| stub.device()).collect();
    for (i, p) in phones.iter().enumerate() {
        let on = if i % 2 == 0 { &a } else { &b };
        assert_eq!(on.post_json_as("/api/v1/push/subscriptions", &host, &p.subscription()).await.status(), StatusCode::CREATED);
    }
    let deal = open_deal(&a, &host, "두 인스턴스 공구", 12).await;
    let joiners = 6;
    for i in 0..joiners {
        let t = token(&b.signed_in(&format!("twin_member{i}")).await);
        join(if i % 2 == 0 { &a } else { &b }, &t, &deal, 1).await;
    }
    // Joins 1..6, and the confirmation at the second: seven notices, each once on each device.
    for p in &phones {
        stub.wait_for(p, joiners + 1, "every notice on every device").await;
    }
    for p in &phones {
        stub.stays_at(p, joiners + 1, "no notice twice, though two instances send").await;
        let mut bodies: Vec<String> = stub.received(p).iter().map(|r| r.payload["body"].as_str().unwrap().to_owned()).collect();
        bodies.sort();
        let before = bodies.len();
        bodies.dedup();
        assert_eq!(bodies.len(), before, "{bodies:?}");
    }
    assert!(stub.problems().is_empty(), "{:?}", stub.problems());
}

#[tokio::test]
async fn an_open_socket_hears_when_its_inbox_changes() {
    use crate::chat_socket::{connect, next_of, quiet};
    let (app, _stub) = app_and_stub().await;
    let host = token(&app.signed_in("live_host").await);
    let member = token(&app.signed_in("live_member").await);
    let deal = open_deal(&app, &host, "제주 감귤 10kg", 4).await;
    let mut host_tab = connect(&app, &host, json!({})).await;
    let mut member_tab = connect(&app, &member, json!({})).await;

    // A new notice: the host's tab is told (its 🔔 asks again), not the member who joined.
    join(&app, &member, &deal, 1).await;
    next_of(&mut host_tab, "notices").await;
    let inbox: Value = app.get_as("/api/v1/notifications", &host).await.json().await.unwrap();
    assert_eq!(inbox["unread"], 1, "told after the notice is stored: {inbox}");
    assert!(quiet(&mut member_tab, "notices", Duration::from_millis(500)).await, "the joiner's inbox did not change");

    // Read on another device: told again; reading nothing new tells nobody.
    app.post_json_as("/api/v1/notifications/read", &host, &json!({"all": true})).await;
    next_of(&mut host_tab, "notices").await;
    app.post_json_as("/api/v1/notifications/read", &host, &json!({"all": true})).await;
    assert!(quiet(&mut host_tab, "notices", Duration::from_millis(500)).await, "nothing changed");
}

#[tokio::test]
async fn a_deadline_a_day_away_is_pushed_to_the_members_and_host_once() {
    let (app, stub) = app_and_stub().await;
    let (host, host_phone) = person(&app, &stub, "soon_host").await;
    let (member, member_phone) = person(&app, &stub, "soon_member").await;
    let (_, bystander_phone) = person(&app, &stub, "soon_bystander").await;
    let res = app
        .post_json_as(
            "/api/v1/deals",
            &host,
            &json!({
                "title": "하루 남은 딸기 공구", "description": "같이 사요", "category_id": 4, "total_price": 24_000, "shares_total": 4,
                "min_shares": 3, "items_per_share": 1, "unit": "팩", "deadline": (chrono::Utc::now() + chrono::Duration::hours(20)).to_rfc3339(),
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let deal = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    join(&app, &member, &deal, 1).await;
    stub.wait_for(&host_phone, 1, "the join, to the host").await;

    // The deadline pass announces it (twice over: once is what counts).
    app.deals_tick().await;
    app.deals_tick().await;
    let to_member = stub.wait_for(&member_phone, 1, "the deadline, to the member").await;
    assert_eq!(to_member[0].payload["title"], "마감이 24시간 남았어요", "{:?}", to_member[0].payload);
    assert_eq!(to_member[0].payload["url"], format!("/deals/{deal}"));
    let to_host = stub.wait_for(&host_phone, 2, "the deadline, to the host").await;
    assert_eq!(to_host[1].payload["title"], "마감이 24시간 남았어요");
    stub.stays_at(&member_phone, 1, "once").await;
    stub.stays_at(&bystander_phone, 0, "not a member").await;
    assert!(stub.problems().is_empty(), "{:?}", stub.problems());
    let inbox = inbox_once(&app, &member, "the deadline in the member's inbox", |v| items(v).len() == 1).await;
    assert_eq!(items(&inbox)[0]["event"], "deal_deadline_soon");
}

/// A deal of `shares` with `min` needed, ending `deadline` from now.
async fn deal_with(app: &TestApp, host: &str, title: &str, shares: i64, min: i64, deadline: chrono::Duration) -> String {
    let res = app
        .post_json_as(
            "/api/v1/deals",
            host,
            &json!({
                "title": title, "category_id": 4, "total_price": 20_000, "shares_total": shares, "min_shares": min,
                "items_per_share": 1, "unit": "개", "deadline": (chrono::Utc::now() + deadline).to_rfc3339(),
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// The titles of these pushes, sorted (pushes of different notices may arrive in any order).
fn titles(r: &[crate::push_stub::Received]) -> Vec<String> {
    let mut t: Vec<String> = r.iter().map(|p| p.payload["title"].as_str().unwrap().to_owned()).collect();
    t.sort();
    t
}

/// Waits for a push titled `title` on `device`.
async fn wait_for_title(stub: &PushStub, device: &Device, title: &str) -> crate::push_stub::Received {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(r) = stub.received(device).into_iter().find(|r| r.payload["title"] == title) {
            return r;
        }
        assert!(Instant::now() < deadline, "no push titled {title}: {:?}", titles(&stub.received(device)));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_deal_change_reaches_the_others_never_whoever_made_it() {
    let (app, stub) = app_and_stub().await;
    let (host, host_phone) = person(&app, &stub, "change_host").await;
    let (a, a_phone) = person(&app, &stub, "change_a").await;
    let (b, b_phone) = person(&app, &stub, "change_b").await;

    // Shares changed, a member left, the host cancelled.
    let deal = deal_with(&app, &host, "동네 빵집 식빵", 10, 8, chrono::Duration::days(3)).await;
    join(&app, &a, &deal, 1).await;
    join(&app, &b, &deal, 1).await;
    stub.wait_for(&a_phone, 1, "b's join, to a").await;
    join(&app, &a, &deal, 2).await;
    let to_b = stub.wait_for(&b_phone, 1, "a's new share count, to b").await;
    assert_eq!(to_b[0].payload["title"], "참여 수량이 바뀌었어요");
    assert_eq!(to_b[0].payload["body"], "change_a님이 ‘동네 빵집 식빵’ 공구의 몫을 2개로 바꿨어요.");
    assert_eq!(app.delete_as(&format!("/api/v1/deals/{deal}/members/me"), &b).await.status(), StatusCode::NO_CONTENT);
    let to_a = stub.wait_for(&a_phone, 2, "b's leaving, to a").await;
    assert_eq!(to_a[1].payload["title"], "참여를 취소한 이웃이 있어요");
    assert_eq!(app.delete_as(&format!("/api/v1/deals/{deal}"), &host).await.status(), StatusCode::OK);
    let to_a = stub.wait_for(&a_phone, 3, "the cancellation, to a").await;
    assert_eq!(to_a[2].payload["title"], "공구가 취소됐어요");
    assert_eq!(to_a[2].urgency.as_deref(), Some("high"));
    let to_host = stub.wait_for(&host_phone, 4, "joins, the change and the leaving, to the host").await;
    assert_eq!(titles(&to_host), ["새 참여자가 있어요", "새 참여자가 있어요", "참여 수량이 바뀌었어요", "참여를 취소한 이웃이 있어요"]);
    stub.stays_at(&host_phone, 4, "the host is not told of their own cancellation").await;
    assert_eq!(stub.received(&b_phone).len(), 1, "b hears nothing of their own leaving, nor after it");

    // Confirmed, then completed by the host: a hears both, the host only the confirmation.
    let deal = deal_with(&app, &host, "코스트코 베이글 소분", 4, 2, chrono::Duration::days(3)).await;
    join(&app, &a, &deal, 2).await;
    let to_a = stub.wait_for(&a_phone, 4, "the confirmation, to a").await;
    assert_eq!(to_a[3].payload["title"], "공구가 확정됐어요");
    assert_eq!(app.post_json_as(&format!("/api/v1/deals/{deal}/complete"), &host, &json!({})).await.status(), StatusCode::OK);
    let to_a = stub.wait_for(&a_phone, 5, "the completion, to a").await;
    assert_eq!(to_a[4].payload["title"], "거래가 완료됐어요");
    let to_host = stub.wait_for(&host_phone, 6, "a's join and the confirmation, to the host").await;
    assert_eq!(titles(&to_host[4..]), ["공구가 확정됐어요", "새 참여자가 있어요"]);
    stub.stays_at(&host_phone, 6, "the host is not told of their own completion").await;

    // Failed at the deadline: nobody did it, so the host hears too. (Ending within the hour, it
    // is also announced as ending soon, whenever the deadline pass runs.)
    let deal = deal_with(&app, &host, "제철 사과 한 상자", 5, 3, chrono::Duration::minutes(65)).await;
    join(&app, &a, &deal, 1).await;
    app.clock.advance(chrono::Duration::hours(2));
    app.deals_tick().await;
    let failed = wait_for_title(&stub, &a_phone, "공구가 무산됐어요").await;
    assert_eq!(failed.payload["body"], "마감까지 인원이 모이지 않아 ‘제철 사과 한 상자’ 공구가 무산됐어요.");
    wait_for_title(&stub, &host_phone, "공구가 무산됐어요").await;
    assert!(stub.problems().is_empty(), "{:?}", stub.problems());
}

#[tokio::test]
async fn a_member_with_the_room_on_screen_gets_no_chat_push() {
    use crate::chat_socket::{connect, next_of, put};
    let (app, stub) = app_and_stub().await;
    let (host, _) = person(&app, &stub, "viewer_host").await;
    let (watching, watching_phone) = person(&app, &stub, "viewer_watching").await;
    let (away, away_phone) = person(&app, &stub, "viewer_away").await;
    let deal = deal_with(&app, &host, "수박 반통씩", 6, 5, chrono::Duration::days(3)).await;
    join(&app, &watching, &deal, 1).await;
    join(&app, &away, &deal, 1).await;
    stub.wait_for(&watching_phone, 1, "away's join, to watching").await;

    // The room is on `watching`'s screen; `away` has it closed.
    let mut tab = connect(&app, &watching, json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        put(&mut tab, json!({"type": "viewing", "room_id": deal})).await;
        // A refused `viewing` (the room not known to chat yet) answers an error; a kept one nothing.
        if crate::chat_socket::quiet(&mut tab, "error", Duration::from_millis(200)).await {
            break;
        }
        assert!(Instant::now() < deadline, "the room never opened");
    }
    let res = app.post_json_as(&format!("/api/v1/rooms/{deal}/messages"), &host, &json!({"client_id": "v-1", "body": "수박 왔어요"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    next_of(&mut tab, "message").await;
    let got = stub.wait_for(&away_phone, 1, "the message, to the member who is away").await;
    assert_eq!(got[0].payload["body"], "viewer_host: 수박 왔어요");
    stub.stays_at(&watching_phone, 1, "no push for a message already on screen").await;
}

#[tokio::test]
async fn a_replaced_subscription_moves_to_its_new_endpoint_with_what_was_waiting() {
    let (app, stub) = app_and_stub().await;
    let pair = app.signed_in("renew_host").await;
    let host = token(&pair);
    let old = stub.device();
    assert_eq!(app.post_json_as("/api/v1/push/subscriptions", &host, &old.subscription()).await.status(), StatusCode::CREATED);
    let (member, _) = person(&app, &stub, "renew_member").await;
    // Quiet hours around now, so the join's push waits for the old endpoint.
    let now = app.clock.now().with_timezone(&gonggu_push::domain::seoul());
    let quiet = json!({"deal": true, "chat": true, "keyword": true, "wallet": true, "quiet_hours": {
        "start": (now - chrono::Duration::minutes(30)).format("%H:%M").to_string(),
        "end": (now + chrono::Duration::minutes(30)).format("%H:%M").to_string()}});
    assert_eq!(app.put_json_as("/api/v1/push/preferences", &host, &quiet).await.status(), StatusCode::OK);
    let deal = open_deal(&app, &host, "키친타월 6롤", 4).await;
    join(&app, &member, &deal, 1).await;
    inbox_once(&app, &host, "the join is in the inbox", |v| items(v).len() == 1).await;

    // The service worker's call: no session, the old auth secret as proof.
    let new = stub.device();
    let renewal = |old_endpoint: &str, old_auth: &str, new: &crate::push_stub::Device| json!({"old_endpoint": old_endpoint, "old_auth": old_auth, "endpoint": new.endpoint, "keys": new.subscription()["keys"]});
    let wrong_secret = base64_of(&[7u8; 16]);
    let (status, err) =
        error_of(app.post_json("/api/v1/push/subscriptions/renew", &renewal(&old.endpoint, &wrong_secret, &new)).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("subscription_not_found")), "{err}");
    let (status, err) = error_of(app.post_json("/api/v1/push/subscriptions/renew", &renewal(&new.endpoint, &new.auth, &old)).await).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("subscription_not_found")),
        "an endpoint never registered: {err}"
    );
    let mut private = renewal(&old.endpoint, &old.auth, &new);
    private["endpoint"] = json!("https://10.0.0.7/push/x");
    let (status, err) = error_of(app.post_json("/api/v1/push/subscriptions/renew", &private).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a private address is refused here too: {err}");
    let res = app.post_json("/api/v1/push/subscriptions/renew", &renewal(&old.endpoint, &old.auth, &new)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (status, _) = error_of(app.post_json("/api/v1/push/subscriptions/renew", &renewal(&old.endpoint, &old.auth, &new)).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the old endpoint is gone once moved");
    let prefs: Value = app.get_as("/api/v1/push/preferences", &host).await.json().await.unwrap();
    assert_eq!(prefs["devices"], 1, "moved, not added: {prefs}");

    // After quiet hours the waiting push reaches the new endpoint only.
    app.clock.advance(chrono::Duration::minutes(31));
    let got = stub.wait_for(&new, 1, "the waiting push at the new endpoint").await;
    assert_eq!(got[0].payload["title"], "새 참여자가 있어요");
    stub.stays_at(&old, 0, "nothing goes to the replaced endpoint").await;
    assert_eq!(stub.attempts(&old), 0);

    // Still the same session's device: logging out of it removes the renewed one.
    let res = app.post_json("/api/v1/auth/logout", &json!({"refresh_token": pair["refresh_token"]})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let again = token(&app.login("renew_host", crate::helpers::PASSWORD).await.json::<Value>().await.unwrap());
    get_once(&app, "/api/v1/push/preferences", &again, "the renewed device outlives its session", |p| p["devices"] == 0).await;
    assert!(stub.problems().is_empty(), "{:?}", stub.problems());
}

/// Keyword alerts reach only neighbours (issue 12): a user with a neighbourhood hears of deals
/// within their reach; a user without one hears of every deal.
#[tokio::test]
async fn keyword_alerts_reach_only_as_far_as_the_neighbourhood() {
    let (app, stub) = app_and_stub().await;
    let (near, near_phone) = person(&app, &stub, "kw_near").await;
    let (anywhere, anywhere_phone) = person(&app, &stub, "kw_anywhere").await;
    let (host, _) = person(&app, &stub, "kw_far_host").await;
    let centre: Value = app.get("/api/v1/places?q=%EB%A7%9D%EC%9B%90%EB%8F%99").await.json().await.unwrap(); // 망원동
    let (lat0, lon0) = (centre["items"][0]["lat"].as_f64().unwrap(), centre["items"][0]["lon"].as_f64().unwrap());
    let res = app.put_json_as("/api/v1/me/neighborhood", &near, &json!({"code": "11440123", "reach_km": 3})).await;
    assert_eq!(res.status(), StatusCode::OK);
    for who in [&near, &anywhere] {
        assert_eq!(app.put_json_as("/api/v1/me/keywords", who, &json!({"keywords": ["키친타월"]})).await.status(), StatusCode::OK);
    }
    let deal_at = |title: &'static str, dlat: f64| {
        let (app, host) = (&app, host.clone());
        async move {
            let body = json!({
                "title": title, "category_id": 4, "total_price": 12_000, "shares_total": 4, "items_per_share": 1, "unit": "개",
                "deadline": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
                "meeting_place": {"name": title, "lat": lat0 - dlat, "lon": lon0},
            });
            let res = app.post_json_as("/api/v1/deals", &host, &body).await;
            assert_eq!(res.status(), StatusCode::CREATED);
        }
    };
    // The keywords and the neighbourhood reach push in the background: post until the one
    // without a neighbourhood hears (from then on both are known).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        deal_at("키친타월 (가까운 곳 확인)", 0.0).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !stub.received(&anywhere_phone).is_empty() && !stub.received(&near_phone).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no keyword alert at all");
    }
    let (near_before, anywhere_before) = (stub.received(&near_phone).len(), stub.received(&anywhere_phone).len());
    deal_at("키친타월 2km 앞", 0.018).await; // about 2 km: within 3 km
    deal_at("키친타월 15km 밖", 0.135).await; // about 15 km: beyond
    let got = stub.wait_for(&anywhere_phone, anywhere_before + 2, "both deals for the one without a neighbourhood").await;
    assert!(got.iter().any(|r| r.payload["body"].as_str().is_some_and(|b| b.contains("15km 밖"))), "{got:?}");
    let got = stub.wait_for(&near_phone, near_before + 1, "the near deal for the neighbour").await;
    assert!(got.iter().any(|r| r.payload["body"].as_str().is_some_and(|b| b.contains("2km 앞"))), "{got:?}");
    stub.stays_at(&near_phone, near_before + 1, "nothing from 15 km away").await;
}
