//! End-to-end test of the deals pages (공구) in a real browser: headless Chromium over WebDriver
//! on a phone-sized screen, with two members in two browser sessions. The host posts a deal
//! through the create form (a server-side rule stops it once, with the message by the field),
//! the neighbour finds it from the home page by searching "휴지", joins with one share and sees
//! the exact amount for it, the host watches the progress and cancels, and the neighbour sees
//! the deal cancelled.
//!
//! Photos are not part of this journey: photo upload arrives with the media context, and until
//! then deals show a placeholder picture for their category.
//!
//! Same requirements and switches as `browser.rs`: needs `chromedriver` and Chromium; without
//! chromedriver the test prints a note and passes unless `GONGGU_REQUIRE_BROWSER=1`. Screenshots
//! (`deals-*.png`) go to `$GONGGU_SCREENSHOT_DIR` (default `target/screenshots/`).

#[path = "api/helpers.rs"]
mod helpers;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use futures::FutureExt;
use helpers::{spawn_app, TestApp, PASSWORD};
use serde_json::{json, Value};

/// How long any one wait (an element, a text, a page after a click) may take.
const WAIT: Duration = Duration::from_secs(10);
const CHROMIUM: &str = "/usr/bin/chromium";

const HOST: &str = "deal_host";
const NEIGHBOUR: &str = "deal_neighbour";
const TITLE: &str = "코스트코 휴지 30롤";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_posts_neighbour_joins_host_cancels() {
    let Some(chromedriver) = find_chromedriver() else {
        if std::env::var("GONGGU_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("chromedriver not found (looked at /usr/bin/chromedriver and on PATH) but GONGGU_REQUIRE_BROWSER=1; install chromium and chromium-driver");
        }
        println!("skipped: chromedriver not installed (set GONGGU_REQUIRE_BROWSER=1 to require it)");
        return;
    };
    let started = Instant::now();
    let shots = Screenshots::new();
    let app = spawn_app().await;

    // Declared before the driver so that they are removed only after the browsers are gone.
    let host_profile = tempfile::tempdir().expect("temp dir for the host's browser profile");
    let neighbour_profile = tempfile::tempdir().expect("temp dir for the neighbour's browser profile");
    let driver = Chromedriver::start(&chromedriver, &shots.dir.join("chromedriver-deals.log")).await;
    // Two sessions, two sets of cookies: two people on two phones.
    let host = connect(&driver, host_profile.path()).await;
    let neighbour = connect(&driver, neighbour_profile.path()).await;

    // Run the journey, then end the browser sessions whether it passed or not.
    let outcome = std::panic::AssertUnwindSafe(journey(&app, &host, &neighbour, &shots)).catch_unwind().await;
    let _ = host.close().await;
    let _ = neighbour.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        eprintln!("deals browser test failed; screenshots so far are in {}", shots.dir.display());
        std::panic::resume_unwind(panic);
    }
    println!("deals browser journey passed in {:.1?}; screenshots in {}", started.elapsed(), shots.dir.display());
}

async fn journey(app: &TestApp, h: &Client, n: &Client, shots: &Screenshots) {
    app.signed_in(HOST).await;
    app.signed_in(NEIGHBOUR).await;

    // ---- 1. The host logs in and opens the create form: every field, sensible defaults.
    log_in(app, h, HOST).await;
    h.goto(&app.url("/deals/new")).await.expect("open /deals/new");
    assert_eq!(h.current_url().await.unwrap().path(), "/deals/new");
    assert_eq!(h.title().await.unwrap(), "공구 등록 · 공구마켓");
    let viewport = h.execute("return [window.innerWidth, window.innerHeight];", vec![]).await.unwrap();
    assert_eq!(viewport, json!([412, 915]), "a phone-sized viewport");
    let tab = h.find(Locator::Css("nav.tabbar a[aria-current=page]")).await.unwrap().attr("href").await.unwrap();
    assert_eq!(tab.as_deref(), Some("/deals/new"), "the 공구 등록 tab is highlighted");
    for name in [
        "title", "category_id", "product_url", "total_price", "shares_total", "min_shares", "host_shares", "items_per_share", "unit", "deadline",
        "name", "lat", "lon", "description", "keywords",
    ] {
        h.find(Locator::Css(&format!("form[action='/deals'] [name={name}]"))).await.unwrap_or_else(|e| panic!("field {name}: {e}"));
    }
    h.find(Locator::Id("use-location")).await.expect("the 현재 위치 사용 button");
    assert_eq!(field(h, "#deadline").await.attr("type").await.unwrap().as_deref(), Some("datetime-local"));
    // The deadline defaults to three days from now, in Seoul time, to the minute.
    let deadline = field(h, "#deadline").await.prop("value").await.unwrap().unwrap_or_default();
    let shown = chrono::NaiveDateTime::parse_from_str(&deadline, "%Y-%m-%dT%H:%M").unwrap_or_else(|e| panic!("deadline value {deadline:?}: {e}"));
    let expected = (app.clock.now() + chrono::Duration::days(3)).with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap()).naive_local();
    assert!((expected - shown).num_seconds().abs() < 60, "default deadline {shown} ≈ {expected} (KST)");
    assert_eq!(field(h, "#host_shares").await.prop("value").await.unwrap().as_deref(), Some("1"), "the host holds one share by default");
    assert_eq!(field(h, "#unit").await.prop("value").await.unwrap().as_deref(), Some("개"));
    assert!(h.find_all(Locator::Id("per-share")).await.unwrap().is_empty(), "no per-share estimate before a submit");

    type_into(h, "#title", TITLE).await;
    field(h, "#category_id").await.select_by_value("4").await.expect("pick 생활/주방");
    type_into(h, "#product_url", "https://www.costco.co.kr/p/123").await;
    type_into(h, "#total_price", "25990").await;
    type_into(h, "#shares_total", "3").await;
    // A tipping point above the number of shares: only the server knows that rule.
    type_into(h, "#min_shares", "4").await;
    set_value(h, "#items_per_share", "10").await;
    type_into(h, "#name", "역삼역 2번 출구").await;
    type_into(h, "#lat", "37.5006").await;
    type_into(h, "#lon", "127.0364").await;
    type_into(h, "#description", "30롤을 10롤씩 나눠요.\n저녁 7시 이후에 만나요.").await;
    type_into(h, "#keywords", "휴지, 코스트코").await;
    shots.take(h, "deals-01-create-form").await;

    // ---- 2. The server refuses it with 422: the message sits by the field, the values stay,
    // and now the page shows what one share will cost.
    click_button(h, "공구 등록하기").await;
    let min_error = "//input[@id='min_shares']/following-sibling::small[contains(@class,'field-error')]\
        [normalize-space()='최소 인원(몫)은 2개 이상, 전체 몫 이하여야 합니다.']";
    wait_xpath(h, min_error, "min_shares error from the server").await;
    assert_eq!(h.current_url().await.unwrap().path(), "/deals", "re-rendered by POST /deals");
    assert_eq!(visible_texts(h, "small.field-error").await.len(), 1, "only min_shares is wrong");
    assert_eq!(field(h, "#title").await.prop("value").await.unwrap().as_deref(), Some(TITLE), "typed values are kept");
    assert_eq!(field(h, "#deadline").await.prop("value").await.unwrap().as_deref(), Some(deadline.as_str()));
    assert_eq!(field(h, "#category_id").await.prop("value").await.unwrap().as_deref(), Some("4"));
    let per_share = field(h, "#per-share").await.text().await.unwrap();
    assert_eq!(per_share.trim(), "1인당 약 8,664원");
    let all = app.deals.list(Default::default(), None, None).await.unwrap();
    assert!(all.items.is_empty(), "nothing was created");
    shots.take(h, "deals-02-create-error").await;

    // ---- 3. Blank tipping point (= every share) and submit: the new deal's page.
    let min = field(h, "#min_shares").await;
    min.clear().await.unwrap();
    click_button(h, "공구 등록하기").await;
    wait_flash(h, "공구를 등록했습니다.").await;
    let url = h.current_url().await.unwrap();
    assert_eq!(query(&url, "msg").as_deref(), Some("created"));
    let id = url.path().strip_prefix("/deals/").unwrap_or_else(|| panic!("on a deal page: {url}")).to_owned();
    uuid::Uuid::parse_str(&id).unwrap_or_else(|e| panic!("deal id {id:?}: {e}"));
    let deal_path = format!("/deals/{id}");
    assert_eq!(h.title().await.unwrap(), format!("{TITLE} · 공구마켓"));
    assert_eq!(text_of(h, "h1.deal-name").await, TITLE);
    assert_eq!(text_of(h, "p.price-lg").await, "1인당 8,664원");
    assert_eq!(text_of(h, "#progress .progress-count").await, "1/3 몫 · 남은 몫 2개");
    let description = text_of(h, "p.description").await;
    assert_eq!(description, "30롤을 10롤씩 나눠요.\n저녁 7시 이후에 만나요.", "line breaks are kept");
    assert_eq!(visible_texts(h, "ul.chips li.chip").await, ["#휴지", "#코스트코"]);
    let product = h.find(Locator::LinkText("상품 보러 가기 ↗")).await.expect("product link");
    assert_eq!(product.attr("href").await.unwrap().as_deref(), Some("https://www.costco.co.kr/p/123"));
    assert_eq!(product.attr("target").await.unwrap().as_deref(), Some("_blank"));
    assert_eq!(product.attr("rel").await.unwrap().as_deref(), Some("noopener noreferrer"));
    let facts = text_of(h, "dl.facts").await;
    assert!(facts.contains("10개") && facts.contains("역삼역 2번 출구") && facts.contains("3일 뒤 마감"), "{facts:?}");
    assert!(h.find(Locator::LinkText("공구 수정")).await.is_ok(), "the host may edit");
    assert!(h.find_all(Locator::Css("form[action$='/join']")).await.unwrap().is_empty(), "the host does not join their own deal");
    shots.take(h, "deals-03-created").await;

    // ---- 4. The neighbour finds it from the home page by searching for 휴지.
    log_in(app, n, NEIGHBOUR).await;
    assert_eq!(n.current_url().await.unwrap().path(), "/");
    type_into(n, "#q", "휴지").await;
    click_button(n, "검색").await;
    wait_xpath(n, "//h1[contains(@class,'page-title')][normalize-space()='‘휴지’ 검색 결과']", "search results").await;
    assert_eq!(query(&n.current_url().await.unwrap(), "q").as_deref(), Some("휴지"));
    let card = wait_xpath(n, &format!("//a[contains(@class,'deal-card')][@href='{deal_path}']"), "the deal's card").await;
    let card_text = card.text().await.unwrap();
    for want in [TITLE, "생활/주방", "1인당 8,664원", "1/3 몫 · 3일 뒤 마감"] {
        assert!(card_text.contains(want), "card shows {want:?}: {card_text:?}");
    }
    assert_eq!(n.find_all(Locator::Css("a.deal-card")).await.unwrap().len(), 1);
    shots.take(n, "deals-04-search").await;

    // ---- 5. Open it: one share costs exactly 8,663원 (the host's share carries the extra won).
    scroll_into_view(n, &card).await;
    card.click().await.expect("open the deal");
    wait_xpath(n, &format!("//h1[contains(@class,'deal-name')][normalize-space()={}]", xq(TITLE)), "deal page").await;
    assert_eq!(n.current_url().await.unwrap().path(), deal_path);
    let shares = field(n, "#shares").await;
    assert_eq!(shares.prop("value").await.unwrap().as_deref(), Some("1"));
    assert_eq!(shares.attr("max").await.unwrap().as_deref(), Some("2"), "two shares are left");
    assert_eq!(text_of(n, "#join-amount").await, "내 몫: 8,663원 (1몫)");
    scroll_into_view(n, &shares).await;
    shots.take(n, "deals-05-detail").await;

    // ---- 6. Join with one share.
    click_button(n, "참여하기").await;
    wait_flash(n, "공구에 참여했습니다.").await;
    assert_eq!(query(&n.current_url().await.unwrap(), "msg").as_deref(), Some("joined"));
    assert_eq!(text_of(n, "#my-share").await, "내 몫: 1몫 · 8,663원");
    assert_eq!(text_of(n, "#progress .progress-count").await, "2/3 몫 · 남은 몫 1개");
    let pay = field(n, "#pay-link").await;
    assert_eq!(
        pay.attr("href").await.unwrap().as_deref(),
        Some(format!("/wallet/transfer?to={HOST}&amount=8663&deal_id={id}").as_str()),
        "내 몫 송금하기 opens a pre-filled transfer"
    );
    assert!(n.find(Locator::XPath("//button[@type='submit'][normalize-space()='참여 취소하기']")).await.is_ok(), "may still leave");
    scroll_into_view(n, &field(n, "#my-share").await).await;
    shots.take(n, "deals-06-joined").await;

    // ---- 7. The host sees the progress and everyone's exact amounts.
    h.goto(&app.url(&deal_path)).await.unwrap();
    assert_eq!(text_of(h, "#progress .progress-count").await, "2/3 몫 · 남은 몫 1개");
    let bars = h.find_all(Locator::Css("#progress progress")).await.unwrap();
    assert_eq!(bars.len(), 2, "towards the tipping point and towards full");
    for bar in &bars {
        assert_eq!(bar.attr("value").await.unwrap().as_deref(), Some("2"));
        assert_eq!(bar.attr("max").await.unwrap().as_deref(), Some("3"));
    }
    let rows = visible_texts(h, "#members li.list-item").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0].contains(HOST) && rows[0].contains("공구장") && rows[0].contains("8,664원"), "{rows:?}");
    assert!(rows[1].contains(NEIGHBOUR) && rows[1].contains("1몫") && rows[1].contains("8,663원"), "{rows:?}");
    scroll_into_view(h, &field(h, "#members").await).await;
    shots.take(h, "deals-07-host-progress").await;

    // ---- 8. The host cancels, after confirming.
    click_button(h, "공구 취소").await;
    let question = alert_text(h).await;
    assert_eq!(question, "공구를 취소할까요? 참여한 이웃에게 알림이 갑니다.");
    h.accept_alert().await.expect("accept the confirmation");
    wait_flash(h, "공구를 취소했습니다.").await;
    assert_eq!(text_of(h, "p.closed-note strong").await, "취소된 공구");
    assert!(h.find_all(Locator::Css("form[action$='/cancel']")).await.unwrap().is_empty(), "nothing left to cancel");
    scroll_into_view(h, &field(h, "p.closed-note").await).await;
    shots.take(h, "deals-08-cancelled").await;

    // ---- 9. The neighbour sees it cancelled: no joining, no paying.
    n.goto(&app.url(&deal_path)).await.unwrap();
    assert_eq!(text_of(n, "p.closed-note strong").await, "취소된 공구");
    let badges = visible_texts(n, "p.deal-badges .badge").await;
    assert!(badges.contains(&"취소".to_owned()), "{badges:?}");
    assert!(n.find_all(Locator::Css("form[action$='/join'], form[action$='/leave'], #pay-link")).await.unwrap().is_empty());
    scroll_into_view(n, &field(n, "p.closed-note").await).await;
    shots.take(n, "deals-09-neighbour-sees-cancelled").await;

    // ---- 10. Gone from the open list; still under 참여한 공구, marked 취소.
    n.goto(&app.url("/?q=%ED%9C%B4%EC%A7%80")).await.unwrap();
    wait_xpath(n, "//section[contains(@class,'empty')]//h2[normalize-space()='조건에 맞는 공구가 없어요']", "empty search").await;
    n.goto(&app.url("/me/deals?role=member")).await.unwrap();
    let card = wait_xpath(n, &format!("//a[contains(@class,'deal-card')][@href='{deal_path}']"), "the deal under 참여한 공구").await;
    let card_text = card.text().await.unwrap();
    assert!(card_text.contains("취소") && card_text.contains("마감된 공구"), "{card_text:?}");
    shots.take(n, "deals-10-my-deals").await;

    // The server agrees.
    let deal: Value = app.get(&format!("/api/v1/deals/{id}")).await.json().await.unwrap();
    assert_eq!((deal["status"].as_str(), deal["shares_taken"].as_i64(), deal["views"].as_i64()), (Some("cancelled"), Some(2), Some(2)));
}

/// The same pages over plain HTTP (no browser needed): odd filters and ids are pages with a
/// notice, never a 500; refused actions keep their status; the host's edit form locks once a
/// neighbour joined.
#[tokio::test]
async fn refusals_are_pages() {
    use reqwest::{header, StatusCode};
    let app = spawn_app().await;
    let token = app.signed_in(HOST).await["access_token"].as_str().unwrap().to_owned();
    app.signed_in(NEIGHBOUR).await;
    let body = json!({
        "title": TITLE, "category_id": 4, "total_price": 25_990, "shares_total": 3, "items_per_share": 10, "unit": "개",
        "deadline": (app.clock.now() + chrono::Duration::days(3)).to_rfc3339(), "keywords": ["휴지"],
    });
    let res = app.post_json_as("/api/v1/deals", &token, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let deal_path = format!("/deals/{id}");

    let anon = browserless();
    for path in ["/?category=abc", "/?category=99", "/?sort=cheapest", "/?status=weird", "/?cursor=!!!", "/?q=a&q=b"] {
        let res = anon.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains("기본 목록을 보여 드려요.") && html.contains(TITLE), "{path}: notice and the default list");
    }
    let html = anon.get(app.url("/?q=%ED%9C%B4%EC%A7%80&sort=deadline&status=all&category=4")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(TITLE) && html.contains("1인당 8,664원"));
    for path in ["/deals/not-a-uuid", "/deals/00000000-0000-0000-0000-000000000000", "/deals/not-a-uuid/edit", "/users/Not%20Valid!"] {
        let res = anon.get(app.url(path)).send().await.unwrap();
        let want = if path.ends_with("/edit") { StatusCode::SEE_OTHER } else { StatusCode::NOT_FOUND };
        assert_eq!(res.status(), want, "{path}");
    }

    // Signed out: a way in, and nobody's amounts.
    let html = anon.get(app.url(&deal_path)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&format!("href=\"/login?next={deal_path}\"")) && html.contains("로그인하고 참여하기"));
    assert!(!html.contains("8,663원"), "amounts by member are for signed-in members");
    let html = anon.get(app.url(&format!("/users/{HOST}"))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&format!("{HOST}님의 공구")) && html.contains(TITLE));

    // The neighbour: not the host's edit form; asks for too much, then joins.
    let neighbour = browserless();
    let csrf = form_login(&app, &neighbour, NEIGHBOUR).await;
    assert_eq!(neighbour.get(app.url(&format!("{deal_path}/edit"))).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let join = |shares: &'static str| neighbour.post(app.url(&format!("{deal_path}/join"))).form(&[("csrf_token", csrf.as_str()), ("shares", shares)]).send();
    let res = join("5").await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("남은 몫이 2개뿐입니다."));
    let res = join("많이").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = join("1").await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], format!("{deal_path}?msg=joined").as_str());
    let res = neighbour.post(app.url(&format!("{deal_path}/cancel"))).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "only the host cancels");
    assert!(res.text().await.unwrap().contains("공구를 연 사람만 할 수 있습니다."));
    let res = neighbour.post(app.url(&format!("{deal_path}/join"))).form(&[("shares", "1")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no CSRF token, no change");
    assert_eq!(neighbour.get(app.url("/me/deals?role=weird")).send().await.unwrap().status(), StatusCode::BAD_REQUEST);

    // The host: price and shares are frozen now; the description may still change.
    let host = browserless();
    let csrf = form_login(&app, &host, HOST).await;
    let html = host.get(app.url(&format!("{deal_path}/edit"))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("바꿀 수 없는 항목") && !html.contains("name=\"total_price\"") && html.contains("name=\"description\""));
    let form = [("csrf_token", csrf.as_str()), ("description", "저녁 7시 이후"), ("keywords", "휴지, 코스트코"), ("total_price", "1")];
    let res = host.post(app.url(&format!("{deal_path}/edit"))).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], format!("{deal_path}?msg=updated").as_str());
    let deal = app.deals.get(uuid::Uuid::parse_str(&id).unwrap()).await.unwrap();
    assert_eq!((deal.description.as_str(), deal.total_price, deal.keywords.len()), ("저녁 7시 이후", 25_990, 2));
}

fn browserless() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Logs in through the form; returns the CSRF token for later forms.
async fn form_login(app: &TestApp, client: &reqwest::Client, login_id: &str) -> String {
    let html = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("csrf field") + marker.len();
    let token = html[start..].split('"').next().unwrap().to_owned();
    let res = client.post(app.url("/login")).form(&[("csrf_token", token.as_str()), ("login_id", login_id), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER, "form login as {login_id}");
    token
}

async fn log_in(app: &TestApp, c: &Client, login_id: &str) {
    c.goto(&app.url("/login")).await.expect("open /login");
    type_into(c, "input[name=login_id]", login_id).await;
    type_into(c, "input[name=password]", PASSWORD).await;
    click_button(c, "로그인").await;
    wait_xpath(c, &format!("//a[contains(@class,'topbar-user')][normalize-space()={}]", xq(&format!("{login_id} 님"))), "signed-in top bar").await;
}

/// The text of a `confirm()` dialog, once it is up.
async fn alert_text(c: &Client) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        match c.get_alert_text().await {
            Ok(text) => return text,
            Err(e) if Instant::now() > deadline => panic!("no confirmation dialog: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

// ------------------------------------------------------------------------------ page helpers

/// An XPath string literal (the texts used here contain no apostrophes).
fn xq(s: &str) -> String {
    assert!(!s.contains('\''), "xq: {s}");
    format!("'{s}'")
}

/// A query parameter of a page URL (`reqwest::Url` is the `url::Url` fantoccini returns).
fn query(url: &reqwest::Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

async fn wait_xpath(c: &Client, xpath: &str, what: &str) -> Element {
    match c.wait().at_most(WAIT).for_element(Locator::XPath(xpath)).await {
        Ok(e) => e,
        Err(e) => panic!("waiting for {what} ({xpath}): {e}; page at {}:\n{}", url_of(c).await, body_text(c).await),
    }
}

async fn wait_flash(c: &Client, text: &str) -> Element {
    let flash = wait_xpath(c, &format!("//p[contains(@class,'flash')][normalize-space()={}]", xq(text)), &format!("flash {text:?}")).await;
    let class = flash.attr("class").await.unwrap().unwrap_or_default();
    assert!(class.contains("flash-ok"), "flash {text:?} is a success notice: class={class:?}");
    assert!(flash.is_displayed().await.unwrap(), "flash {text:?} is visible");
    flash
}

async fn url_of(c: &Client) -> String {
    c.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("<{e}>"))
}

async fn body_text(c: &Client) -> String {
    match c.find(Locator::Css("body")).await {
        Ok(b) => b.text().await.unwrap_or_default(),
        Err(e) => format!("<{e}>"),
    }
}

async fn field(c: &Client, css: &str) -> Element {
    c.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("field {css}: {e}"))
}

/// The trimmed text of the first element matching `css`.
async fn text_of(c: &Client, css: &str) -> String {
    field(c, css).await.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}")).trim().to_owned()
}

/// Types like a person (key events, so the page's input listeners run). The field is scrolled
/// into view and focused by WebDriver rather than tapped (with touch emulation, a quick second
/// tap at the same point can be taken as a double tap and swallow the keys).
async fn type_into(c: &Client, css: &str, text: &str) {
    let el = field(c, css).await;
    scroll_into_view(c, &el).await;
    el.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    assert_eq!(el.prop("value").await.unwrap().as_deref(), Some(text), "{css} holds what was typed");
}

/// Replaces a field's value by selecting all and typing over it.
async fn set_value(c: &Client, css: &str, text: &str) {
    let el = field(c, css).await;
    el.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
    el.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    assert_eq!(el.prop("value").await.unwrap().as_deref(), Some(text), "{css} holds what was typed");
}

async fn scroll_into_view(c: &Client, el: &Element) {
    let arg = serde_json::to_value(el).expect("element as a script argument");
    c.execute("arguments[0].scrollIntoView({block: 'center'});", vec![arg]).await.expect("scroll into view");
}

/// Clicks the submit button with this label (the tab bar and cards have other buttons).
async fn click_button(c: &Client, label: &str) {
    let button = wait_xpath(c, &format!("//button[@type='submit'][normalize-space()={}]", xq(label)), &format!("button {label:?}")).await;
    scroll_into_view(c, &button).await;
    button.click().await.unwrap_or_else(|e| panic!("click {label:?}: {e}"));
}

/// Trimmed texts of the matching elements that show something.
async fn visible_texts(c: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for el in c.find_all(Locator::Css(css)).await.unwrap() {
        let text = el.text().await.unwrap();
        if !text.trim().is_empty() {
            out.push(text.trim().to_owned());
        }
    }
    out
}

// ------------------------------------------------------------------------------ screenshots

struct Screenshots {
    dir: PathBuf,
}

impl Screenshots {
    fn new() -> Self {
        let dir = match std::env::var_os("GONGGU_SCREENSHOT_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots"),
        };
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create screenshot dir {}: {e}", dir.display()));
        Self { dir: dir.canonicalize().unwrap_or(dir) }
    }

    async fn take(&self, c: &Client, name: &str) {
        let png = c.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "screenshot {name} is a PNG");
        let path = self.dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

// ------------------------------------------------------------------------------ chromedriver

fn find_chromedriver() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/bin/chromedriver");
    if fixed.is_file() {
        return Some(fixed);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("chromedriver")).find(|p| p.is_file())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// The chromedriver process (in its own process group, so that the browsers it starts go with
/// it); killed on drop, also when the test panics.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    async fn start(binary: &Path, log: &Path) -> Self {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let mut driver = Chromedriver { child, url: format!("http://127.0.0.1:{port}") };
        driver.wait_ready().await;
        driver
    }

    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("chromedriver status") {
                panic!("chromedriver exited early ({status})");
            }
            if let Ok(res) = http.get(format!("{}/status", self.url)).timeout(Duration::from_secs(2)).send().await {
                if let Ok(body) = res.json::<Value>().await {
                    if body["value"]["ready"] == json!(true) {
                        return;
                    }
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer on {}/status within 20 s", self.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and any Chromium left behind by a failed test.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(driver: &Chromedriver, profile: &Path) -> Client {
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        // A phone: the pages are mobile-first.
        "--window-size=412,915".into(),
    ];
    args.push(format!("--user-data-dir={}", profile.display()));
    // Desktop Chromium will not make a window narrower than 500 px, so the phone screen comes
    // from device emulation (which also makes it a touch screen).
    let mut options = json!({
        "args": args,
        "mobileEmulation": { "deviceMetrics": { "width": 412, "height": 915, "pixelRatio": 1.0, "touch": true, "mobile": true } },
    });
    if Path::new(CHROMIUM).is_file() {
        options["binary"] = json!(CHROMIUM);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    // fantoccini's connector asks rustls for the process-wide crypto provider, and rustls cannot
    // pick one by itself here: the dependency tree enables both `ring` (reqwest, lettre) and
    // `aws-lc-rs` (hyper-rustls via fantoccini). `Err` means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = ClientBuilder::rustls().expect("rustls connector");
    builder.capabilities(caps);
    builder
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("start a Chromium session through {}: {e}", driver.url))
}
