//! The 알림 page in a real browser (issue 11): a neighbour joins the host's deal; the host sees
//! the 🔔 badge on any page, finds the notice on the 알림 page, taps it and lands on the deal
//! with the badge cleared; the device settings offer "알림 받기" and, pressed, subscribe this
//! browser through its push manager (or say why not). A neighbour who joins a first deal is
//! offered pushes (never on page load), sees the settings say how to undo a refusal, and — once
//! allowed — a push the server sent (received and decrypted by the local push-service stub) is
//! handed to the browser's service worker, which shows it as a notification and refreshes the
//! 🔔 badge. Screenshots `notifications-*.png`.
//!
//! Same requirements and switches as `browser.rs`.

#[path = "browser_kit/mod.rs"]
mod browser_kit;
#[path = "api/helpers.rs"]
mod helpers;
#[path = "api/push_stub.rs"]
#[allow(dead_code)] // the scripted replies are for the API tests
mod push_stub;

use std::time::{Duration, Instant};

use browser_kit::{cdp::Cdp, click_button, log_in, text_of, wait_flash, wait_xpath, Browser, Notifications, Screenshots, WAIT};
use fantoccini::{Client, Locator};
use helpers::{spawn_app, spawn_app_tuned, TestApp};
use push_stub::PushStub;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_reaches_the_hosts_bell_and_notice_list() {
    let Some(browser) = Browser::start("chromedriver-push.log").await else { return };
    let app = spawn_app().await;
    let phone = browser.session().await;
    let desktop = browser.session_sized(1280, 800).await;
    browser.run("push browser", &[&phone, &desktop], journey(&app, &phone, &desktop, &browser.shots)).await;
}

async fn badge(c: &Client) -> Option<String> {
    let el = c.find(Locator::Id("notice-badge")).await.ok()?;
    if el.attr("hidden").await.ok().flatten().is_some() {
        return None;
    }
    el.text().await.ok()
}

async fn badge_becomes(c: &Client, want: Option<&str>, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = badge(c).await;
        if got.as_deref() == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: the 🔔 badge shows {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn journey(app: &TestApp, c: &Client, desktop: &Client, shots: &Screenshots) {
    let host = app.signed_in("bell_host").await["access_token"].as_str().unwrap().to_owned();
    let member = app.signed_in("bell_member").await["access_token"].as_str().unwrap().to_owned();
    let res = app
        .post_json_as(
            "/api/v1/deals",
            &host,
            &json!({
                "title": "양재 코스트코 크루아상 소분", "category_id": 1, "total_price": 12_000, "shares_total": 4, "min_shares": 3,
                "items_per_share": 3, "unit": "개", "deadline": (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339(),
            }),
        )
        .await;
    let deal = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    log_in(app, c, "bell_host").await;
    badge_becomes(c, None, "nothing to tell yet").await;
    // The page stays open: the chat socket says the inbox changed, and the 🔔 follows live.
    assert_eq!(app.put_json_as(&format!("/api/v1/deals/{deal}/members/me"), &member, &json!({"shares": 1})).await.status(), 200);
    badge_becomes(c, Some("1"), "the join reaches the open page's 🔔 without a reload").await;
    // And the next page asks for it too.
    c.goto(&app.url("/")).await.unwrap();
    badge_becomes(c, Some("1"), "the next page's 🔔").await;
    shots.take(c, "notifications-bell-phone").await;

    c.find(Locator::Css("a.topbar-bell")).await.unwrap().click().await.unwrap();
    wait_xpath(c, "//h1[normalize-space()='알림']", "the 알림 page").await;
    let item = wait_xpath(c, "//li[contains(@class,'notice-item') and contains(@class,'unread')]", "the unread notice").await;
    assert_eq!(text_of(c, ".notice-title").await, "새 참여자가 있어요");
    assert_eq!(text_of(c, ".notice-body").await, "bell_member님이 ‘양재 코스트코 크루아상 소분’ 공구에 1개 참여했어요.");
    // No permission prompt on page load: the page offers the button.
    let state = wait_xpath(c, "//p[@id='push-state' and not(contains(., '확인하는 중'))]", "the device state").await;
    let state = state.text().await.unwrap();
    assert!(state.contains("아직 알림을 받지 않아요"), "{state}");
    assert!(c.find(Locator::Id("push-enable")).await.unwrap().is_displayed().await.unwrap());
    shots.take(c, "notifications-list-phone").await;

    item.find(Locator::Css("a")).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + WAIT;
    while c.current_url().await.unwrap().path() != format!("/deals/{deal}") {
        assert!(Instant::now() < deadline, "the tap did not open the deal: {}", c.current_url().await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    badge_becomes(c, None, "the notice was read by opening it").await;

    // "알림 받기": the browser's push manager is asked for a subscription with the server's key.
    c.goto(&app.url("/notifications")).await.unwrap();
    let enable = wait_xpath(c, "//button[@id='push-enable' and not(@hidden)]", "the 알림 받기 button").await;
    enable.click().await.unwrap();
    let settled = wait_xpath(
        c,
        "//p[@id='push-state' and (contains(., '알림을 켰어요') or contains(., '켜지 못했어요'))]",
        "the outcome of 알림 받기",
    )
    .await;
    let outcome = settled.text().await.unwrap();
    let prefs: Value = app.get_as("/api/v1/push/preferences", &host).await.json().await.unwrap();
    if outcome.contains("알림을 켰어요") {
        assert_eq!(prefs["devices"], 1, "the subscription reached the server: {prefs}");
    } else {
        // Headless Chromium without Google's push service cannot make a subscription; the page
        // says so instead of pretending.
        assert_eq!(prefs["devices"], 0, "{prefs}");
        println!("push subscription not available in this browser: {outcome}");
    }
    shots.take(c, "notifications-settings-phone").await;

    // A new notice while the list is open: offered, not forced in under the reader's thumb.
    assert!(!c.find(Locator::Id("notice-fresh")).await.unwrap().is_displayed().await.unwrap(), "nothing new yet");
    let late = app.signed_in("bell_late").await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.put_json_as(&format!("/api/v1/deals/{deal}/members/me"), &late, &json!({"shares": 1})).await.status(), 200);
    let fresh = wait_xpath(c, "//a[@id='notice-fresh' and not(@hidden)]", "the offer to show the new notice").await;
    assert_eq!(fresh.text().await.unwrap(), "새 알림이 있어요 · 눌러서 보기");
    shots.take(c, "notifications-fresh-phone").await;
    fresh.click().await.unwrap();
    wait_xpath(c, "//li[contains(@class,'notice-item') and contains(@class,'unread')]//span[contains(., 'bell_late')]", "the new notice")
        .await;
    assert!(!c.find(Locator::Id("notice-fresh")).await.unwrap().is_displayed().await.unwrap(), "shown now");

    log_in(app, desktop, "bell_host").await;
    desktop.goto(&app.url("/notifications")).await.unwrap();
    wait_xpath(desktop, "//li[contains(@class,'notice-item')]", "the notice on the desktop").await;
    shots.take(desktop, "notifications-list-desktop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_join_offers_pushes_and_a_push_shows_in_the_service_worker() {
    let Some(browser) = Browser::start("chromedriver-push-offer.log").await else { return };
    let app = spawn_app_tuned(
        |s| s.push.allow_insecure_loopback = true,
        |o| o.push_worker = Some(gonggu_push::delivery::WorkerConfig { allow_loopback: true, ..Default::default() }),
    )
    .await;
    let key: Value = app.get("/api/v1/push/vapid-public-key").await.json().await.unwrap();
    let stub = PushStub::start().await;
    stub.trust(key["public_key"].as_str().unwrap());
    let phone = browser.session_with(390, 844, Notifications::Ask).await;
    browser.run("push offer browser", &[&phone], offer_journey(&app, &stub, &phone, &browser.shots)).await;
}

/// What the page's service worker registration shows as notifications.
async fn shown_notifications(c: &Client) -> Vec<Value> {
    let script = "const done = arguments[arguments.length - 1];
        navigator.serviceWorker.ready
          .then((r) => r.getNotifications())
          .then((ns) => done(ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url }))))
          .catch((e) => done(String(e)));";
    let v = c.execute_async(script, vec![]).await.unwrap();
    v.as_array().unwrap_or_else(|| panic!("getNotifications: {v}")).clone()
}

async fn offer_journey(app: &TestApp, stub: &PushStub, c: &Client, shots: &Screenshots) {
    let origin = app.url("/").trim_end_matches('/').to_owned();
    let host = app.signed_in("offer_host").await["access_token"].as_str().unwrap().to_owned();
    let member = app.signed_in("offer_member").await["access_token"].as_str().unwrap().to_owned();
    let neighbour = app.signed_in("offer_neighbour").await["access_token"].as_str().unwrap().to_owned();
    let res = app
        .post_json_as(
            "/api/v1/deals",
            &host,
            &json!({
                "title": "망원시장 제철 귤 한 박스", "category_id": 1, "total_price": 20_000, "shares_total": 5, "min_shares": 4,
                "items_per_share": 2, "unit": "kg", "deadline": (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339(),
            }),
        )
        .await;
    let deal = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    // No offer on an ordinary page load.
    log_in(app, c, "offer_member").await;
    c.goto(&app.url(&format!("/deals/{deal}"))).await.unwrap();
    wait_xpath(c, "//button[@type='submit'][normalize-space()='참여하기']", "the join button").await;
    assert!(c.find(Locator::Id("push-offer")).await.is_err(), "offered on page load");
    let permission = c.execute("return Notification.permission", vec![]).await.unwrap();
    assert_eq!(permission, "default", "the browser was not asked yet");

    // The first join: the offer, which leads to the settings without asking the browser yet.
    click_button(c, "참여하기").await;
    wait_flash(c, "공구에 참여했습니다.").await;
    let offer = wait_xpath(c, "//aside[@id='push-offer']", "the offer after the first join").await;
    assert!(offer.text().await.unwrap().contains("알림으로 알려 드릴까요?"));
    shots.take(c, "notifications-offer-phone").await;
    offer.find(Locator::LinkText("알림 설정하기")).await.unwrap().click().await.unwrap();
    let state = wait_xpath(c, "//p[@id='push-state' and not(contains(., '확인하는 중'))]", "the device state").await;
    assert!(state.text().await.unwrap().contains("아직 알림을 받지 않아요"));
    assert_eq!(c.execute("return Notification.permission", vec![]).await.unwrap(), "default", "opening the settings asks nothing");
    // Once is enough: the next join's page offers nothing again.
    c.goto(&app.url(&format!("/deals/{deal}?msg=joined"))).await.unwrap();
    wait_xpath(c, "//h1", "the deal page").await;
    assert!(c.find(Locator::Id("push-offer")).await.is_err(), "offered twice");

    // Refused in the browser: the settings say how to undo it.
    let mut cdp = Cdp::of(c).await;
    cdp.call(None, "Browser.setPermission", json!({ "origin": origin, "permission": { "name": "notifications" }, "setting": "denied" }))
        .await;
    c.goto(&app.url("/notifications")).await.unwrap();
    let state = wait_xpath(c, "//p[@id='push-state' and not(contains(., '확인하는 중'))]", "the denied state").await;
    assert!(state.text().await.unwrap().contains("사이트 설정"), "how to re-enable");
    assert!(!c.find(Locator::Id("push-enable")).await.unwrap().is_displayed().await.unwrap(), "nothing to press while refused");
    shots.take(c, "notifications-denied-phone").await;

    // Allowed (the tap on 허용), then "알림 받기".
    cdp.grant_notifications(&origin).await;
    c.refresh().await.unwrap();
    wait_xpath(c, "//button[@id='push-enable' and not(@hidden)]", "the 알림 받기 button").await.click().await.unwrap();
    wait_xpath(c, "//p[@id='push-state' and (contains(., '알림을 켰어요') or contains(., '켜지 못했어요'))]", "the outcome of 알림 받기")
        .await;
    assert_eq!(c.execute("return Notification.permission", vec![]).await.unwrap(), "granted");

    // A real push for the member: a device of theirs on the stub, a neighbour joins, the server
    // encrypts and sends, the stub verifies and decrypts; that payload goes to this browser's
    // service worker as its push service would hand it over.
    let device = stub.device();
    let res = app.post_json_as("/api/v1/push/subscriptions", &member, &device.subscription()).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(app.put_json_as(&format!("/api/v1/deals/{deal}/members/me"), &neighbour, &json!({"shares": 1})).await.status(), 200);
    let pushed = stub.wait_for(&device, 1, "the join pushed to the member").await.remove(0).payload;
    assert!(stub.problems().is_empty(), "{:?}", stub.problems());
    assert_eq!(pushed["title"], "새 참여자가 있어요", "{pushed}");
    assert!(shown_notifications(c).await.is_empty());
    // The open page heard of it over its socket.
    badge_becomes(c, Some("1"), "the notice is counted").await;
    // A tab whose socket cannot connect (as in a phone's background) learns of changes only
    // from pushes: read on another device, its badge stays stale until the push comes.
    cdp.before_load(&origin, "delete window.WebSocket;").await;
    c.refresh().await.unwrap();
    assert_eq!(c.execute("return 'WebSocket' in window", vec![]).await.unwrap(), false);
    badge_becomes(c, Some("1"), "the notice is counted without a socket").await;
    let res = app.post_json_as("/api/v1/notifications/read", &member, &json!({"all": true})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["unread"], 0);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(badge(c).await.as_deref(), Some("1"), "nothing told the tab yet");
    cdp.deliver_push(&origin, &pushed.to_string()).await;
    let deadline = Instant::now() + WAIT;
    let shown = loop {
        let shown = shown_notifications(c).await;
        if !shown.is_empty() {
            break shown;
        }
        assert!(Instant::now() < deadline, "the service worker showed no notification");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["title"], pushed["title"]);
    assert_eq!(shown[0]["body"], pushed["body"]);
    assert_eq!(shown[0]["tag"], pushed["tag"]);
    assert_eq!(shown[0]["url"], pushed["url"]);
    assert_eq!(pushed["url"], format!("/deals/{deal}"));
    shots.take(c, "notifications-pushed-phone").await;
    // The worker told the open tab, which asked the server again: nothing unread any more.
    badge_becomes(c, None, "the tab's badge follows the server after a push").await;

    // A browser without Web Push: the settings say so, and that the notices stay readable here.
    cdp.before_load(&origin, "delete window.PushManager;").await;
    c.refresh().await.unwrap();
    let state = wait_xpath(c, "//p[@id='push-state' and not(contains(., '확인하는 중'))]", "the unsupported state").await;
    assert!(state.text().await.unwrap().contains("이 브라우저는 푸시 알림을 지원하지 않아요"));
    assert!(!c.find(Locator::Id("push-enable")).await.unwrap().is_displayed().await.unwrap(), "nothing to press");
    // Safari on an iPhone, outside the home screen: how to install the app to get them.
    cdp.user_agent(
        &origin,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    )
    .await;
    c.refresh().await.unwrap();
    let state = wait_xpath(c, "//p[@id='push-state' and not(contains(., '확인하는 중'))]", "the iPhone state").await;
    assert!(state.text().await.unwrap().contains("홈 화면에 추가"), "the guidance for iOS");
    shots.take(c, "notifications-ios-phone").await;
    // (A tap on the notification cannot be driven here: no protocol reaches the system
    // notification; the click handler runs under Node in crates/kernel/tests/service_worker.rs.)
}
