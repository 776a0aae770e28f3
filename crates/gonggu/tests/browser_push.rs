//! The 알림 page in a real browser (issue 11): a neighbour joins the host's deal; the host sees
//! the 🔔 badge on any page, finds the notice on the 알림 page, taps it and lands on the deal
//! with the badge cleared; the device settings offer "알림 받기" and, pressed, subscribe this
//! browser through its push manager (or say why not). Screenshots `notifications-*.png`.
//!
//! Same requirements and switches as `browser.rs`.

#[path = "browser_kit/mod.rs"]
mod browser_kit;
#[path = "api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use browser_kit::{log_in, text_of, wait_xpath, Browser, Screenshots, WAIT};
use fantoccini::{Client, Locator};
use helpers::{spawn_app, TestApp};
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
    assert_eq!(app.put_json_as(&format!("/api/v1/deals/{deal}/members/me"), &member, &json!({"shares": 1})).await.status(), 200);
    // The badge is asked for on every page: the next page shows it.
    let deadline = Instant::now() + WAIT;
    loop {
        c.goto(&app.url("/")).await.unwrap();
        if badge(c).await.as_deref() == Some("1") {
            break;
        }
        assert!(Instant::now() < deadline, "the join never reached the host's 🔔");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

    log_in(app, desktop, "bell_host").await;
    desktop.goto(&app.url("/notifications")).await.unwrap();
    wait_xpath(desktop, "//li[contains(@class,'notice-item')]", "the notice on the desktop").await;
    shots.take(desktop, "notifications-list-desktop").await;
}
