//! The chat pages in a real browser (issue 10): a host on a phone (390×844) and a member on a
//! desktop (1280×800) chat live in their deal's room; each sees the other's message appear,
//! the host's "1" beside their message goes when the member has read it, and the member's chat
//! list and tab badge update live while they are elsewhere. Then the member's network drops and
//! comes back: the room says it is reconnecting, what the member wrote meanwhile goes once they
//! are back, and what the host wrote meanwhile arrives — each once, in order, on both screens.
//!
//! Same requirements and switches as `browser.rs`. Screenshots: `chat-*.png`.

#[path = "browser_kit/mod.rs"]
mod browser_kit;
#[path = "api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use browser_kit::{line::Line, log_in, scroll_into_view, text_of, type_into, wait_xpath, xq, Browser, Screenshots};
use fantoccini::{Client, Locator};
use helpers::{spawn_app, TestApp};
use serde_json::{json, Value};

const HOST: &str = "chat_host";
const MEMBER: &str = "chat_member";
const TITLE: &str = "제주 감귤 10kg 나눠요";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_neighbours_chat_live_in_their_deals_room() {
    let Some(browser) = Browser::start("chromedriver-chat.log").await else { return };
    let app = spawn_app().await;
    let host = browser.session().await;
    let member = browser.session_sized(1280, 800).await;
    browser.run("chat browser", &[&host, &member], journey(&app, &host, &member, &browser.shots)).await;
}

/// The deal, with the member in it, once its room knows both.
async fn deal_with_member(app: &TestApp) -> String {
    let host = app.signed_in(HOST).await["access_token"].as_str().unwrap().to_owned();
    let member = app.signed_in(MEMBER).await["access_token"].as_str().unwrap().to_owned();
    let body = json!({"title": TITLE, "category_id": 4, "total_price": 30_000, "shares_total": 3, "items_per_share": 1,
        "unit": "개", "deadline": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339()});
    let deal: Value = app.post_json_as("/api/v1/deals", &host, &body).await.json().await.unwrap();
    assert!(deal["id"].is_string(), "deal created: {deal}");
    let id = deal["id"].as_str().unwrap().to_owned();
    assert!(app.put_json_as(&format!("/api/v1/deals/{id}/members/me"), &member, &json!({"shares": 1})).await.status().is_success());
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.get_as(&format!("/api/v1/rooms/{id}/messages"), &member).await;
        if res.status().is_success() && res.json::<Value>().await.unwrap()["items"].as_array().unwrap().len() >= 2 {
            return id;
        }
        assert!(Instant::now() < until, "the room never knew the member");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn send(c: &Client, text: &str) {
    type_into(c, "#composer-body", text).await;
    c.find(Locator::Css(".composer-send")).await.unwrap().click().await.unwrap();
}

fn bubble(side: &str, text: &str) -> String {
    format!(
        "//li[contains(@class,'msg') and contains(@class,'{side}') and @data-seq!='']//p[contains(@class,'bubble')][normalize-space()={}]",
        xq(text)
    )
}

async fn journey(app: &TestApp, h: &Client, m: &Client, shots: &Screenshots) {
    let id = deal_with_member(app).await;
    log_in(app, h, HOST).await;
    log_in(app, m, MEMBER).await;

    // ---- The host finds the room from the 채팅 tab.
    h.goto(&app.url("/chat")).await.unwrap();
    let row = wait_xpath(
        h,
        &format!("//li[contains(@class,'room-item')]//span[contains(@class,'room-name')][contains(normalize-space(),{})]", xq(TITLE)),
        "the room in the list",
    )
    .await;
    assert!(text_of(h, ".room-preview").await.contains("참여"), "the last message is the join notice");
    shots.take(h, "chat-list-phone").await;
    row.click().await.unwrap();
    wait_xpath(h, "//h1[contains(@class,'room-title')]", "the room").await;
    assert_eq!(h.current_url().await.unwrap().path(), format!("/chat/{id}"));
    assert!(!h.find(Locator::Css("nav.tabbar")).await.unwrap().is_displayed().await.unwrap(), "the room has the whole screen");

    // ---- The member opens it from the deal page, in one tap.
    m.goto(&app.url(&format!("/deals/{id}"))).await.unwrap();
    let entry = m.find(Locator::Css("a.room-entry")).await.unwrap();
    scroll_into_view(m, &entry).await;
    entry.click().await.unwrap();
    wait_xpath(m, "//h1[contains(@class,'room-title')]", "the room from the deal page").await;

    // ---- Live, both ways, with the KakaoTalk "1" going once read.
    let hello = "내일 저녁 7시에 정문에서 만나요";
    send(h, hello).await;
    wait_xpath(m, &bubble("theirs", hello), "the host's message on the member's screen").await;
    wait_xpath(
        h,
        &format!("{}/ancestor::li//span[contains(@class,'msg-unread') and @hidden]", bubble("mine", hello)),
        "the host's 1 gone once the member read it",
    )
    .await;
    let reply = "좋아요! 7시에 봬요 🍊";
    send(m, reply).await;
    wait_xpath(h, &bubble("theirs", reply), "the member's reply on the host's phone").await;
    assert!(!h.find(Locator::Css("#typing")).await.unwrap().is_displayed().await.unwrap(), "no \"입력하고 있어요\" once the reply is in");
    assert_eq!(
        h.find(Locator::Css("#composer-body")).await.unwrap().prop("value").await.unwrap().as_deref(),
        Some(""),
        "the composer is emptied after sending"
    );
    shots.take(h, "chat-room-phone").await;

    // ---- A photo from the member's + button: a thumbnail on both screens, the picture behind it.
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("귤.jpg");
    std::fs::write(&photo, gonggu_media::testdata::jpeg(1200, 900)).unwrap();
    // A mark on the page: still there afterwards, so the photo went without reloading the room.
    m.execute("window.photoMark = 'same page';", vec![]).await.unwrap();
    m.find(Locator::Css("#composer-photo")).await.unwrap().send_keys(photo.to_str().unwrap()).await.unwrap();
    let thumb = "//li[contains(@class,'msg') and contains(@class,'{side}') and @data-seq!='']//a[contains(@class,'bubble-photo')]/img";
    wait_xpath(m, &thumb.replace("{side}", "mine"), "the member's photo in their room").await;
    wait_xpath(h, &thumb.replace("{side}", "theirs"), "the member's photo live on the host's phone").await;
    assert_eq!(m.execute("return window.photoMark ?? null;", vec![]).await.unwrap(), json!("same page"), "the room did not reload");
    let until = Instant::now() + Duration::from_secs(10);
    let loaded = "const i = document.querySelector('.msg.theirs .bubble-photo img'); return !!i && i.complete && i.naturalWidth > 0;";
    while h.execute(loaded, vec![]).await.unwrap() != Value::Bool(true) {
        assert!(Instant::now() < until, "the thumbnail loads");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let full =
        h.find(Locator::XPath(&format!("{}/..", thumb.replace("{side}", "theirs")))).await.unwrap().attr("href").await.unwrap().unwrap();
    assert_eq!(app.get(&full).await.status(), reqwest::StatusCode::OK, "tapping opens the full picture");
    shots.take(h, "chat-photo-phone").await;

    // ---- The host pins the pickup time; it shows at the top of the member's room at once.
    let pin = "토요일 오후 2시, 정문 앞 편의점";
    h.find(Locator::Css("#pin-editor summary")).await.unwrap().click().await.unwrap();
    type_into(h, "#pin-body", pin).await;
    h.find(Locator::Css(".pin-form button.primary")).await.unwrap().click().await.unwrap();
    wait_xpath(m, &format!("//div[@id='room-pin' and not(@hidden)]/p[normalize-space()={}]", xq(pin)), "the pin on the member's screen")
        .await;
    wait_xpath(h, &format!("//div[@id='room-pin' and not(@hidden)]/p[normalize-space()={}]", xq(pin)), "the pin on the host's phone").await;
    shots.take(h, "chat-pin-phone").await;
    shots.take(m, "chat-pin-desktop").await;
    shots.take(m, "chat-room-desktop").await;

    // ---- Elsewhere in the app, the member's list and tab badge follow new messages.
    m.goto(&app.url("/chat")).await.unwrap();
    wait_xpath(m, "//li[contains(@class,'room-item')]", "the member's chat list").await;
    let late = "혹시 늦으면 채팅 남겨 주세요";
    send(h, late).await;
    wait_xpath(m, &format!("//span[contains(@class,'room-preview')][normalize-space()={}]", xq(late)), "the new last message in the list")
        .await;
    wait_xpath(m, "//span[@id='chat-badge' and not(@hidden) and normalize-space()='1']", "the chat tab's unread badge").await;
    wait_xpath(m, "//span[contains(@class,'room-badge') and not(@hidden) and normalize-space()='1']", "the room's unread badge").await;
    shots.take(m, "chat-list-desktop").await;

    // ---- The member's network drops mid-chat (through a line the test can cut) and comes back.
    let line = Line::to(app.port).await;
    m.goto(&line.url(&format!("/chat/{id}"))).await.unwrap();
    wait_xpath(m, &bubble("theirs", late), "the room, through the line").await;
    let until = Instant::now() + Duration::from_secs(10);
    while m.execute("return !!window.gongguLive && window.gongguLive.connected();", vec![]).await.unwrap() != Value::Bool(true) {
        assert!(Instant::now() < until, "the room's socket opens through the line");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    line.cut();
    wait_xpath(m, "//p[@id='room-banner' and not(@hidden)][contains(normalize-space(),'다시 연결하는 중')]", "the reconnecting banner")
        .await;
    let offline = "지하철이라 잠깐 끊겼어요";
    send(m, offline).await;
    wait_xpath(
        m,
        &format!(
            "//li[contains(@class,'msg') and contains(@class,'sending')]//p[contains(@class,'bubble')][normalize-space()={}]",
            xq(offline)
        ),
        "the member's message waiting to be sent",
    )
    .await;
    shots.take(m, "chat-reconnecting-desktop").await;
    let meanwhile = "천천히 오세요";
    send(h, meanwhile).await;
    wait_xpath(h, &bubble("mine", meanwhile), "the host's message stored while the member is away").await;
    line.restore();
    wait_xpath(m, &bubble("theirs", meanwhile), "what the host wrote meanwhile, once the member is back").await;
    wait_xpath(m, &bubble("mine", offline), "the member's message stored once they are back").await;
    wait_xpath(h, &bubble("theirs", offline), "the member's message on the host's phone").await;
    wait_xpath(m, "//p[@id='room-banner' and @hidden]", "the banner gone").await;
    for (who, c) in [("host", h), ("member", m)] {
        let seqs =
            c.execute("return [...document.querySelectorAll('li.msg[data-seq]')].map((li) => +li.dataset.seq);", vec![]).await.unwrap();
        let seqs: Vec<i64> = serde_json::from_value(seqs).unwrap();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{who}'s screen holds every message once, in order: {seqs:?}");
        for text in [offline, meanwhile] {
            let n = c.find_all(Locator::XPath(&bubble("", text))).await.unwrap().len();
            assert_eq!(n, 1, "{text:?} shows once on the {who}'s screen");
        }
    }
    shots.take(m, "chat-reconnected-desktop").await;
}
