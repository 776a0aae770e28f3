//! End-to-end test of the wallet pages (공구페이) in a real browser: headless Chromium over
//! WebDriver on a phone-sized screen. Two members: the sender charges coins through the
//! confirmation step, tries an unknown recipient, sends 12,000원 with a memo through the
//! recipient check, and reads the history; then the receiver logs in and finds the money.
//!
//! Same requirements and switches as `browser.rs`: needs `chromedriver` and Chromium; without
//! chromedriver the test prints a note and passes unless `GONGGU_REQUIRE_BROWSER=1`. Screenshots
//! (`wallet-*.png`) go to `$GONGGU_SCREENSHOT_DIR` (default `target/screenshots/`).

#[path = "browser_kit/mod.rs"]
mod browser_kit;
#[path = "api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use browser_kit::{
    body_text, click_button, field, log_in, query, scroll_into_view, set_value, type_into, url_of, visible_texts, wait_flash, wait_xpath,
    xq, Browser, Screenshots, WAIT,
};
use fantoccini::{Client, Locator};
use helpers::{spawn_app, TestApp, PASSWORD};
use serde_json::{json, Value};

const DISCLAIMER: &str = "우리동네 공구마켓은 회원간의 송금에 책임을 지지 않으며, 실물 거래 현장에서 송금할 것을 강력히 권장합니다.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charge_transfer_and_both_histories() {
    let Some(browser) = Browser::start("chromedriver-wallet.log").await else { return };
    let app = spawn_app().await;
    let client = browser.session().await;
    browser.run("wallet browser", &[&client], journey(&app, &client, &browser.shots)).await;
}

async fn journey(app: &TestApp, c: &Client, shots: &Screenshots) {
    app.signed_in("pay_sender").await;
    app.register("pay_receiver").await;
    // Wallets open from the UserRegistered event, in the background: wait for the receiver's.
    let deadline = Instant::now() + WAIT;
    while app.wallet.store.holder_by_login("pay_receiver").await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "pay_receiver's wallet was not opened from the event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // ---- 1. Log in as the sender and open the wallet: nothing yet, 100,000원 in the mock bank.
    log_in(app, c, "pay_sender").await;
    c.goto(&app.url("/wallet")).await.expect("open /wallet");
    assert_eq!(c.current_url().await.unwrap().path(), "/wallet");
    assert_eq!(c.title().await.unwrap(), "공구페이 · 공구마켓");
    let viewport = c.execute("return [window.innerWidth, window.innerHeight];", vec![]).await.unwrap();
    assert_eq!(viewport, json!([390, 844]), "a 390×844 phone (iPhone 12–15)");
    assert_balances(c, "0원", "100,000원").await;
    let current_tab = c.find(Locator::Css("nav.tabbar a[aria-current=page]")).await.unwrap().attr("href").await.unwrap();
    assert_eq!(current_tab.as_deref(), Some("/wallet"), "the 공구페이 tab is highlighted");
    let page = body_text(c).await;
    assert!(page.contains(DISCLAIMER), "the disclaimer is on the wallet page");
    for id in ["charge-amount", "withdraw-amount", "transfer-amount"] {
        let input = c.find(Locator::Id(id)).await.unwrap();
        for (attr, want) in [("type", "number"), ("inputmode", "numeric"), ("min", "1"), ("max", "10000000"), ("step", "1")] {
            assert_eq!(input.attr(attr).await.unwrap().as_deref(), Some(want), "#{id} {attr}");
        }
        assert!(input.attr("required").await.unwrap().is_some(), "#{id} is required");
    }
    shots.take(c, "wallet-01-empty").await;

    // ---- 2. Charge 30,000원: the confirmation shows bank and wallet before → after.
    type_into(c, "#charge-amount", "30000").await;
    click_button(c, "충전 금액 확인").await;
    wait_xpath(
        c,
        &format!("//p[contains(@class,'confirm-lead')][normalize-space()={}]", xq("30,000원을 충전합니다")),
        "charge confirmation",
    )
    .await;
    assert_eq!(c.current_url().await.unwrap().path(), "/wallet/charge/confirm");
    let summary = c.find(Locator::Css("dl.summary")).await.unwrap().text().await.unwrap();
    assert!(summary.contains("100,000원 → 70,000원") && summary.contains("0원 → 30,000원"), "before → after: {summary:?}");
    let key = c
        .find(Locator::Css("form[action='/wallet/charge'] input[name=idempotency_key]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(uuid::Uuid::parse_str(&key).is_ok(), "a fresh idempotency key in the form: {key:?}");
    shots.take(c, "wallet-02-charge-confirm").await;
    click_button(c, "충전하기").await;
    wait_flash(c, "충전했습니다.").await;
    let url = c.current_url().await.unwrap();
    assert_eq!((url.path(), query(&url, "msg").as_deref()), ("/wallet", Some("charged")));
    assert_balances(c, "30,000원", "70,000원").await;
    shots.take(c, "wallet-03-charged").await;

    // ---- 3. The same confirmation submitted again (double click, browser resubmit) replays.
    c.goto(&app.url("/wallet")).await.unwrap();
    let csrf = c.find(Locator::Css("input[name=csrf_token]")).await.unwrap().prop("value").await.unwrap().unwrap_or_default();
    c.execute(
        "const [action, fields] = arguments; const f = document.createElement('form'); f.method = 'post'; f.action = action;
         for (const [k, v] of Object.entries(fields)) { const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.append(i); }
         document.body.append(f); f.submit();",
        vec![json!("/wallet/charge"), json!({"csrf_token": csrf, "amount": "30000", "idempotency_key": key})],
    )
    .await
    .expect("resubmit the charge");
    wait_flash(c, "충전했습니다.").await;
    assert_balances(c, "30,000원", "70,000원").await;

    // ---- 4. A transfer to an id nobody has: the message by the field, the values kept.
    type_into(c, "#transfer-to", "nobody_here").await;
    type_into(c, "#transfer-amount", "12000").await;
    click_button(c, "받는 사람 확인").await;
    let error = "//input[@id='transfer-to']/following-sibling::small[contains(@class,'field-error')][normalize-space()='받는 사람을 찾을 수 없습니다.']";
    wait_xpath(c, error, "unknown recipient message").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/wallet/transfer/confirm");
    let to = c.find(Locator::Id("transfer-to")).await.unwrap();
    assert_eq!(to.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    assert_eq!(c.find(Locator::Id("transfer-amount")).await.unwrap().prop("value").await.unwrap().as_deref(), Some("12000"));
    assert!(
        c.find_all(Locator::Css("form[action='/wallet/transfer']")).await.unwrap().is_empty(),
        "no confirmation for an unknown recipient"
    );
    shots.take(c, "wallet-04-unknown-recipient").await;

    // ---- 5. Fix the id, add a memo: the confirmation names the recipient and the amount.
    set_value(c, "#transfer-to", "pay_receiver").await;
    type_into(c, "#transfer-memo", "휴지 값").await;
    click_button(c, "받는 사람 확인").await;
    wait_xpath(
        c,
        &format!("//p[contains(@class,'confirm-lead')][normalize-space()={}]", xq("pay_receiver님에게 12,000원을 보냅니다")),
        "transfer confirmation",
    )
    .await;
    assert_eq!(c.find(Locator::Id("confirm-to")).await.unwrap().text().await.unwrap().trim(), "pay_receiver");
    assert_eq!(c.find(Locator::Id("confirm-amount")).await.unwrap().text().await.unwrap().trim(), "12,000원");
    assert_eq!(c.find(Locator::Id("confirm-memo")).await.unwrap().text().await.unwrap().trim(), "휴지 값");
    let page = body_text(c).await;
    assert!(page.contains("30,000원 → 18,000원"), "balance after the transfer: {page}");
    assert!(page.contains(DISCLAIMER), "the disclaimer is on the confirmation");
    let send = wait_xpath(c, "//button[@type='submit'][normalize-space()='송금하기']", "send button").await;
    assert!(send.is_enabled().await.unwrap(), "enough coins: the button works");
    shots.take(c, "wallet-05-transfer-confirm").await;
    click_button(c, "송금하기").await;
    wait_flash(c, "송금했습니다.").await;
    let url = c.current_url().await.unwrap();
    assert_eq!((url.path(), query(&url, "msg").as_deref()), ("/wallet", Some("sent")));
    assert_balances(c, "18,000원", "70,000원").await;
    shots.take(c, "wallet-06-sent").await;

    // ---- 6. More than the balance: a warning, a link to charge, and no way to send.
    c.goto(&app.url("/wallet/transfer?to=pay_receiver&amount=50000")).await.unwrap();
    assert_eq!(
        c.find(Locator::Id("transfer-amount")).await.unwrap().prop("value").await.unwrap().as_deref(),
        Some("50000"),
        "pre-filled from the link"
    );
    click_button(c, "받는 사람 확인").await;
    let warning = wait_xpath(c, "//div[contains(@class,'flash-error')]", "insufficient balance warning").await;
    assert!(warning.text().await.unwrap().contains("잔액(18,000원)이 부족합니다"), "warning: {:?}", warning.text().await);
    let summary = c.find(Locator::Css("dl.summary")).await.unwrap().text().await.unwrap();
    assert!(summary.contains("18,000원 → 잔액 부족") && !summary.contains("-32,000"), "no negative balance promised: {summary:?}");
    let send = c.find(Locator::XPath("//button[@type='submit'][normalize-space()='송금하기']")).await.unwrap();
    assert!(!send.is_enabled().await.unwrap(), "the send button is disabled");
    let charge_link = c.find(Locator::LinkText("충전하러 가기")).await.unwrap();
    assert_eq!(charge_link.attr("href").await.unwrap().as_deref(), Some("/wallet#charge"));
    shots.take(c, "wallet-07-transfer-insufficient").await;

    // ---- 7. The sender's history: the transfer (newest) and the charge, each with its balance.
    c.goto(&app.url("/wallet")).await.unwrap();
    let link = c.find(Locator::LinkText("거래 내역 보기")).await.unwrap();
    scroll_into_view(c, &link).await;
    link.click().await.expect("click 거래 내역 보기");
    wait_xpath(c, "//h1[normalize-space()='거래 내역']", "history page").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/wallet/history");
    let rows = visible_texts(c, "ul.tx-list li.tx").await;
    assert_eq!(rows.len(), 2, "one transfer and one charge (the replay added nothing): {rows:?}");
    for want in ["pay_receiver님에게 송금", "휴지 값", "−12,000원", "잔액 18,000원"] {
        assert!(rows[0].contains(want), "transfer row has {want:?}: {:?}", rows[0]);
    }
    for want in ["충전", "+30,000원", "잔액 30,000원"] {
        assert!(rows[1].contains(want), "charge row has {want:?}: {:?}", rows[1]);
    }
    let amounts = c.find_all(Locator::Css("ul.tx-list .amount")).await.unwrap();
    assert!(!amounts[0].attr("class").await.unwrap().unwrap_or_default().contains("amount-in"));
    assert!(amounts[1].attr("class").await.unwrap().unwrap_or_default().contains("amount-in"), "money in is marked");
    shots.take(c, "wallet-08-history-sender").await;

    // Only what was sent.
    c.find(Locator::Id("direction")).await.unwrap().select_by_value("sent").await.expect("choose 보낸 송금");
    click_button(c, "조회").await;
    wait_xpath(c, "//select[@id='direction']/option[@value='sent'][@selected]", "filtered page").await;
    assert_eq!(query(&c.current_url().await.unwrap(), "direction").as_deref(), Some("sent"));
    let rows = visible_texts(c, "ul.tx-list li.tx").await;
    assert_eq!(rows.len(), 1, "only the transfer: {rows:?}");
    assert!(rows[0].contains("pay_receiver"));

    // A broken filter is a notice on the page, not a crash.
    c.goto(&app.url("/wallet/history?from=2026-13-01")).await.unwrap();
    wait_xpath(c, "//p[contains(@class,'flash-error')][normalize-space()='조회 조건을 확인해 주세요.']", "invalid filter notice").await;
    wait_xpath(
        c,
        "//input[@id='from']/following-sibling::small[contains(@class,'field-error')][normalize-space()!='']",
        "date error by the field",
    )
    .await;

    // ---- 8. Log out; the receiver logs in and finds the money and the memo.
    log_out(app, c).await;
    log_in(app, c, "pay_receiver").await;
    c.goto(&app.url("/wallet/history")).await.unwrap();
    wait_xpath(c, "//h1[normalize-space()='거래 내역']", "receiver's history").await;
    let rows = visible_texts(c, "ul.tx-list li.tx").await;
    assert_eq!(rows.len(), 1, "only the incoming transfer: {rows:?}");
    for want in ["pay_sender님에게서 입금", "휴지 값", "+12,000원", "잔액 12,000원"] {
        assert!(rows[0].contains(want), "incoming row has {want:?}: {:?}", rows[0]);
    }
    shots.take(c, "wallet-09-history-receiver").await;
    c.goto(&app.url("/wallet")).await.unwrap();
    assert_balances(c, "12,000원", "100,000원").await;
    shots.take(c, "wallet-10-receiver-wallet").await;

    // ---- 9. The receiver takes 2,000원 out to the bank, through its confirmation.
    type_into(c, "#withdraw-amount", "2000").await;
    click_button(c, "환전 금액 확인").await;
    wait_xpath(
        c,
        &format!("//p[contains(@class,'confirm-lead')][normalize-space()={}]", xq("2,000원을 환전합니다")),
        "withdraw confirmation",
    )
    .await;
    let summary = c.find(Locator::Css("dl.summary")).await.unwrap().text().await.unwrap();
    assert!(summary.contains("100,000원 → 102,000원") && summary.contains("12,000원 → 10,000원"), "before → after: {summary:?}");
    click_button(c, "환전하기").await;
    wait_flash(c, "환전했습니다. 은행 계좌로 보냈습니다.").await;
    assert_balances(c, "10,000원", "102,000원").await;

    // ---- 10. A long history pages with "더 보기", keeping the chosen order.
    let res = app.login("pay_receiver", PASSWORD).await;
    let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    for _ in 0..20 {
        let res = app
            .api
            .post(app.url("/api/v1/wallet/charge"))
            .bearer_auth(&token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({"amount": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    }
    c.goto(&app.url("/wallet/history")).await.unwrap();
    c.find(Locator::Id("sort")).await.unwrap().select_by_value("amount").await.expect("choose 금액순");
    click_button(c, "조회").await;
    wait_xpath(c, "//select[@id='sort']/option[@value='amount'][@selected]", "sorted page").await;
    let rows = visible_texts(c, "ul.tx-list li.tx").await;
    assert_eq!(rows.len(), 20, "a page of 20");
    assert!(rows[0].contains("+12,000원") && rows[1].contains("−2,000원"), "largest first: {:?}", &rows[..2]);
    let more = c.find(Locator::LinkText("더 보기")).await.unwrap();
    let href = more.attr("href").await.unwrap().unwrap_or_default();
    assert!(href.contains("sort=amount") && href.contains("cursor="), "the link keeps the order: {href}");
    shots.take(c, "wallet-11-history-more").await;
    scroll_into_view(c, &more).await;
    more.click().await.expect("click 더 보기");
    let deadline = Instant::now() + WAIT;
    while query(&c.current_url().await.unwrap(), "cursor").is_none() {
        assert!(Instant::now() < deadline, "the second page did not open: {}", url_of(c).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_xpath(c, "//select[@id='sort']/option[@value='amount'][@selected]", "second page keeps the order").await;
    let rows = visible_texts(c, "ul.tx-list li.tx").await;
    assert_eq!(rows.len(), 2, "the two 1원 charges left: {rows:?}");
    assert!(rows.iter().all(|r| r.contains("+1원")), "{rows:?}");
    assert!(c.find_all(Locator::LinkText("더 보기")).await.unwrap().is_empty(), "nothing more");
}

async fn log_out(app: &TestApp, c: &Client) {
    c.goto(&app.url("/me")).await.unwrap();
    let logout = field(c, "#logout").await;
    scroll_into_view(c, &logout).await;
    logout.click().await.expect("click 로그아웃");
    wait_flash(c, "로그아웃되었습니다.").await;
}

async fn assert_balances(c: &Client, wallet: &str, bank: &str) {
    let shown = field(c, "#wallet-balance").await.text().await.unwrap();
    assert_eq!(shown.trim(), wallet, "wallet balance on {}", url_of(c).await);
    let shown = field(c, "#bank-balance").await.text().await.unwrap();
    assert_eq!(shown.trim(), bank, "bank balance on {}", url_of(c).await);
}

/// Issue 10: the service worker never keeps a personal page, so none can be shown offline to a
/// later session, on this phone or after the session ended elsewhere. The worker does cache (the
/// shell and public pages), so an empty answer here is not for want of a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_worker_keeps_no_personal_page() {
    let Some(browser) = Browser::start("chromedriver-wallet-sw.log").await else { return };
    let app = spawn_app().await;
    let client = browser.session_sized(390, 844).await;
    browser.run("service worker browser", &[&client], sw_journey(&app, &client)).await;
}

/// Every URL in every cache the worker opened, once it controls the page.
async fn cached_urls(c: &Client) -> Vec<String> {
    let urls = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             (async () => {
               await navigator.serviceWorker.ready;
               const out = [];
               for (const name of await caches.keys()) {
                 for (const req of await (await caches.open(name)).keys()) out.push(new URL(req.url).pathname);
               }
               return out;
             })().then(done, (e) => done(['error: ' + e]));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(urls).unwrap()
}

async fn sw_journey(app: &TestApp, c: &Client) {
    let other_device = app.signed_in("sw_user").await["access_token"].as_str().unwrap().to_owned();
    // Signed out first: the public home page may be kept.
    c.goto(&app.url("/")).await.unwrap();
    c.execute_async("const done = arguments[0]; navigator.serviceWorker.ready.then(() => done(true));", vec![]).await.unwrap();
    c.goto(&app.url("/")).await.unwrap();
    log_in(app, c, "sw_user").await;
    for path in ["/wallet", "/wallet/history", "/me", "/me/deals", "/"] {
        c.goto(&app.url(path)).await.unwrap();
        wait_xpath(c, "//a[contains(@class,'topbar-user')][normalize-space()='sw_user 님']", path).await;
    }
    let controlled = c.execute("return !!navigator.serviceWorker.controller;", vec![]).await.unwrap();
    assert_eq!(controlled, json!(true), "the worker controls the page");
    let cached = cached_urls(c).await;
    assert!(
        cached.iter().any(|u| u.starts_with("/assets/")) && cached.iter().any(|u| u == "/offline.html"),
        "the shell is cached: {cached:?}"
    );
    for personal in ["/wallet", "/wallet/history", "/me", "/me/deals"] {
        assert!(!cached.iter().any(|u| u == personal), "{personal} was cached: {cached:?}");
    }

    // The session ends on another device; the next page here is signed out and nothing
    // personal was left behind for it.
    let res = app.delete_as("/api/v1/me/sessions", &other_device).await;
    assert!(res.status().is_success(), "{}", res.status());
    c.goto(&app.url("/wallet")).await.unwrap();
    wait_xpath(c, "//button[normalize-space()='로그인']", "the login page").await;
    let cached = cached_urls(c).await;
    assert!(!cached.iter().any(|u| u.starts_with("/wallet") || u.starts_with("/me")), "{cached:?}");
}
