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

#[path = "browser_kit/mod.rs"]
mod browser_kit;
#[path = "api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use browser_kit::{
    click_button, field, log_in, query, scroll_into_view, set_value, text_of, type_into, visible_texts, wait_flash, wait_xpath, xq,
    Browser, Screenshots, WAIT,
};
use fantoccini::{Client, Locator};
use helpers::{spawn_app, TestApp};
use serde_json::{json, Value};

const HOST: &str = "deal_host";
const NEIGHBOUR: &str = "deal_neighbour";
const TITLE: &str = "코스트코 휴지 30롤";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_posts_neighbour_joins_host_cancels() {
    let Some(browser) = Browser::start("chromedriver-deals.log").await else { return };
    let app = spawn_app().await;
    // Two sessions, two sets of cookies: two people on two phones.
    let host = browser.session().await;
    let neighbour = browser.session().await;
    browser.run("deals browser", &[&host, &neighbour], journey(&app, &host, &neighbour, &browser.shots)).await;
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
    assert_eq!(viewport, json!([390, 844]), "a 390×844 phone (iPhone 12–15)");
    let tab = h.find(Locator::Css("nav.tabbar a[aria-current=page]")).await.unwrap().attr("href").await.unwrap();
    assert_eq!(tab.as_deref(), Some("/deals/new"), "the 공구 등록 tab is highlighted");
    for name in [
        "title",
        "category_id",
        "product_url",
        "total_price",
        "shares_total",
        "min_shares",
        "host_shares",
        "items_per_share",
        "unit",
        "deadline",
        "name",
        "place",
        "code",
        "lat",
        "lon",
        "description",
        "keywords",
    ] {
        h.find(Locator::Css(&format!("form[action='/deals'] [name={name}]"))).await.unwrap_or_else(|e| panic!("field {name}: {e}"));
    }
    h.find(Locator::Css("form[action='/deals'] [data-locate]")).await.expect("the 현재 위치로 찾기 button");
    assert_eq!(field(h, "#deadline").await.attr("type").await.unwrap().as_deref(), Some("datetime-local"));
    // The deadline defaults to three days from now, in Seoul time, to the minute.
    let deadline = field(h, "#deadline").await.prop("value").await.unwrap().unwrap_or_default();
    let shown =
        chrono::NaiveDateTime::parse_from_str(&deadline, "%Y-%m-%dT%H:%M").unwrap_or_else(|e| panic!("deadline value {deadline:?}: {e}"));
    let expected =
        (app.clock.now() + chrono::Duration::days(3)).with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap()).naive_local();
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
    // The 동, typed whole (the server takes a full address without a pick from the list).
    type_into(h, "#meeting-place", "서울특별시 강남구 역삼동").await;
    type_into(h, "#description", "30롤을 10롤씩 나눠요.\n저녁 7시 이후에 만나요.").await;
    type_into(h, "#keywords", "휴지, 코스트코").await;
    // A photo straight from a phone: it carries GPS tags, which the server strips.
    let photo = std::env::temp_dir().join(format!("gonggu-photo-{}.jpg", uuid::Uuid::new_v4()));
    std::fs::write(&photo, gonggu_media::testdata::jpeg_with_gps()).unwrap();
    field(h, "input[name='photos']").await.send_keys(photo.to_str().unwrap()).await.expect("choose a photo");
    wait_xpath(h, "//ul[@id='photo-preview']/li/img", "photo preview").await;
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
    let photos = app.deals.get(uuid::Uuid::parse_str(&id).unwrap()).await.unwrap().images;
    assert_eq!(photos.len(), 1, "the photo chosen before the refused submit was kept");
    let shown = h.find(Locator::Css("img[src^='/media/']")).await.expect("the deal shows its photo");
    let src = shown.attr("src").await.unwrap().unwrap();
    let served = reqwest::get(app.url(&src)).await.unwrap().bytes().await.unwrap();
    assert!(!served.windows(4).any(|w| w == b"Exif"), "served without EXIF/GPS");
    let _ = std::fs::remove_file(&photo);
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
    // The folded filters: a price range that leaves the deal out, then one that keeps it.
    n.find(Locator::Css("details.filter-more > summary")).await.expect("the filters fold").click().await.unwrap();
    type_into(n, "#min_price", "30,000").await;
    click_button(n, "검색").await;
    wait_xpath(n, "//h2[normalize-space()='조건에 맞는 공구가 없어요']", "no 휴지 deal totals 30,000원 or more").await;
    assert!(n.find(Locator::Css("details.filter-more[open]")).await.is_ok(), "filters in use stay open");
    shots.take(n, "deals-04b-price-filter").await;
    let min = field(n, "#min_price").await;
    min.clear().await.unwrap();
    type_into(n, "#max_price", "30000").await;
    click_button(n, "검색").await;
    let card =
        wait_xpath(n, &format!("//a[contains(@class,'deal-card')][@href='{deal_path}']"), "its 25,990원 total is under 30,000원").await;

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
    // The stepper: + takes the second share and the amount follows, to the won; at the last
    // share + stops; − goes back.
    let plus = field(n, "button[data-step='1']").await;
    let minus = field(n, "button[data-step='-1']").await;
    assert!(!minus.is_enabled().await.unwrap(), "no fewer than one share");
    plus.click().await.expect("tap +");
    assert_eq!(shares.prop("value").await.unwrap().as_deref(), Some("2"));
    assert_eq!(text_of(n, "#join-amount").await, "내 몫: 17,326원 (2몫)");
    assert!(!plus.is_enabled().await.unwrap(), "two shares are all that is left");
    shots.take(n, "deals-05b-stepper").await;
    minus.click().await.expect("tap −");
    assert_eq!(text_of(n, "#join-amount").await, "내 몫: 8,663원 (1몫)");

    // ---- 6. Join with one share.
    click_button(n, "참여하기").await;
    wait_flash(n, "공구에 참여했습니다.").await;
    assert_eq!(query(&n.current_url().await.unwrap(), "msg").as_deref(), Some("joined"));
    assert_eq!(text_of(n, "#my-share").await, "내 몫: 1몫 · 8,663원");
    assert_eq!(text_of(n, "#progress .progress-count").await, "2/3 몫 · 남은 몫 1개");
    // Paying is offered once the deal is confirmed (issue 9, item 24); 2 of 3 is not yet.
    assert_eq!(text_of(n, "#pay-later").await, "공구가 확정되면 내 몫을 송금할 수 있어요.");
    assert!(n.find_all(Locator::Css("#pay-link")).await.unwrap().is_empty(), "nothing to pay while recruiting: {id}");
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
    assert_eq!(question, "공구를 취소할까요? 취소한 공구는 되돌릴 수 없어요.");
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

/// The longest texts a deal may hold, on a 390-px phone (iPhone 12 to 15): an unbroken 60-letter
/// title, a description and a product link without a single space, a long meeting place. No
/// page is wider than the screen (the tab bar stays on it) and titles in lists end in "…".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_texts_fit_a_390px_phone() {
    let Some(browser) = Browser::start("chromedriver-deals-narrow.log").await else { return };
    let app = spawn_app().await;
    let phone = browser.session_sized(390, 844).await;
    browser.run("narrow deals browser", &[&phone], narrow_journey(&app, &phone, &browser.shots)).await;
}

const LONG_HOST: &str = "long_title_host";

/// The same pages on a 1280×800 desktop window: nothing overflows, and the shots show how the
/// phone layout reads on a wide screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_fit_a_desktop_window() {
    let Some(browser) = Browser::start("chromedriver-deals-desktop.log").await else { return };
    let app = spawn_app().await;
    let desktop = browser.session_sized(1280, 800).await;
    browser.run("desktop deals browser", &[&desktop], sized_journey(&app, &desktop, &browser.shots, 1280.0, "desktop")).await;
}

async fn narrow_journey(app: &TestApp, c: &Client, shots: &Screenshots) {
    sized_journey(app, c, shots, 390.0, "narrow").await;
}

async fn sized_journey(app: &TestApp, c: &Client, shots: &Screenshots, width: f64, name: &str) {
    let token = app.signed_in(LONG_HOST).await["access_token"].as_str().unwrap().to_owned();
    let title: String = "초대용량프리미엄무농약유기농제주감귤한라봉천혜향레드향황금향카라향세트특가공동구매선착순마감임박초특가한정수량"
        .chars()
        .take(60)
        .collect();
    let link = format!("https://shopping.example.com/products/{}", "a1b2c3d4".repeat(40));
    let description = format!("{}\n{link}", "나눠요".repeat(120));
    let body = json!({
        "title": title, "description": description, "category_id": 4, "product_url": link,
        "total_price": 9_999_999, "shares_total": 99, "items_per_share": 9_999, "unit": "개",
        "deadline": (app.clock.now() + chrono::Duration::days(3)).to_rfc3339(),
        "keywords": ["초대용량프리미엄무농약유기농감귤", "한라봉천혜향레드향"],
        "meeting_place": { "name": "서울특별시강남구역삼동테헤란로역삼역이번출구앞편의점옆골목안쪽주차장입구", "lat": 37.5, "lon": 127.03 },
    });
    let res = app.post_json_as("/api/v1/deals", &token, &body).await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED, "{:?}", res.text().await);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    log_in(app, c, LONG_HOST).await;
    let pages = [
        ("home", "/".to_owned()),
        ("search", format!("/?q={}", gonggu_kernel::web::urlencode("감귤"))),
        ("detail", format!("/deals/{id}")),
        ("my-deals", "/me/deals".to_owned()),
        ("seller", format!("/users/{LONG_HOST}")),
        ("create", "/deals/new".to_owned()),
        ("edit", format!("/deals/{id}/edit")),
    ];
    let size = name;
    for (name, path) in pages {
        c.goto(&app.url(&path)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
        wait_xpath(c, "//nav[contains(@class,'tabbar')]", "the tab bar").await;
        let sizes = c
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth, \
                 document.querySelector('nav.tabbar').getBoundingClientRect().right];",
                vec![],
            )
            .await
            .unwrap();
        let [scroll, inner, tabbar] = [0, 1, 2].map(|i| sizes[i].as_f64().unwrap());
        assert_eq!(inner, width, "a {width}-px screen");
        shots.take(c, &format!("deals-{size}-{name}")).await;
        assert!(scroll <= inner, "{path}: the page is {scroll} px wide on a {inner}-px screen");
        assert!(tabbar <= inner, "{path}: the tab bar ends at {tabbar} px");
    }
    // In lists, the title is cut with an ellipsis rather than wrapped or overflowing.
    c.goto(&app.url("/")).await.unwrap();
    let cut = c
        .execute(
            "const t = document.querySelector('.deal-card .deal-title'); \
             return [t.scrollWidth > t.clientWidth, getComputedStyle(t).textOverflow, \
                     document.querySelector('.deal-card').getBoundingClientRect().right];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(cut[0], json!(true), "the title is longer than its line");
    assert_eq!(cut[1], json!("ellipsis"));
    assert!(cut[2].as_f64().unwrap() <= width, "the card fits: {cut:?}");
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

    let anon = helpers::browser();
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
    let neighbour = helpers::browser();
    let csrf = app.form_login(&neighbour, NEIGHBOUR).await;
    assert_eq!(neighbour.get(app.url(&format!("{deal_path}/edit"))).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let join = |shares: &'static str| {
        neighbour.post(app.url(&format!("{deal_path}/join"))).form(&[("csrf_token", csrf.as_str()), ("shares", shares)]).send()
    };
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
    let host = helpers::browser();
    let csrf = app.form_login(&host, HOST).await;
    let html = host.get(app.url(&format!("{deal_path}/edit"))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("바꿀 수 없는 항목") && !html.contains("name=\"total_price\"") && html.contains("name=\"description\""));
    // The edit form is multipart (it may carry photos).
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", csrf.clone())
        .text("description", "저녁 7시 이후")
        .text("keywords", "휴지, 코스트코")
        .text("total_price", "1");
    let res = host.post(app.url(&format!("{deal_path}/edit"))).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], format!("{deal_path}?msg=updated").as_str());
    let deal = app.deals.get(uuid::Uuid::parse_str(&id).unwrap()).await.unwrap();
    assert_eq!((deal.description.as_str(), deal.total_price, deal.keywords.len()), ("저녁 7시 이후", 25_990, 2));
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

/// Issue 18: a deal typed out while the session ended elsewhere is not lost. The post goes to
/// the login page, and after login the form comes back filled in for the same person; once the
/// deal is posted the form is empty again, and nobody else who signs in this tab sees the text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_sent_after_the_session_ended_comes_back_filled_in() {
    let Some(browser) = Browser::start("chromedriver-deals-draft.log").await else { return };
    let app = spawn_app().await;
    let phone = browser.session_sized(390, 844).await;
    browser.run("deal draft browser", &[&phone], draft_journey(&app, &phone, &browser.shots)).await;
}

async fn draft_journey(app: &TestApp, c: &Client, shots: &Screenshots) {
    const WRITER: &str = "draft_writer";
    let other_device = app.signed_in(WRITER).await["access_token"].as_str().unwrap().to_owned();
    app.signed_in("draft_other").await;
    log_in(app, c, WRITER).await;
    c.goto(&app.url("/deals/new")).await.unwrap();
    type_into(c, "#title", TITLE).await;
    field(c, "#category_id").await.select_by_value("4").await.unwrap();
    type_into(c, "#total_price", "25990").await;
    type_into(c, "#shares_total", "3").await;
    set_value(c, "#items_per_share", "10").await;
    type_into(c, "#description", "30롤을 10롤씩 나눠요.").await;

    // "다른 기기에서 모두 로그아웃": the session of this phone ends while the form is open.
    let res = app.delete_as("/api/v1/me/sessions", &other_device).await;
    assert!(res.status().is_success(), "{}", res.status());
    click_button(c, "공구 등록하기").await;
    wait_xpath(c, "//button[normalize-space()='로그인']", "the login page").await;
    let at = c.current_url().await.unwrap();
    assert_eq!((at.path(), query(&at, "next").as_deref()), ("/login", Some("/deals/new")));
    assert!(app.deals.list(Default::default(), None, None).await.unwrap().items.is_empty(), "nothing was posted");

    log_in_here(c, WRITER).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/deals/new", "login leads back to the form");
    wait_xpath(c, "//p[contains(@class,'flash-info')][contains(.,'다시 채워 두었어요')]", "the restored-draft notice").await;
    for (css, value) in [("#title", TITLE), ("#total_price", "25990"), ("#shares_total", "3"), ("#description", "30롤을 10롤씩 나눠요.")]
    {
        assert_eq!(field(c, css).await.prop("value").await.unwrap().as_deref(), Some(value), "{css}");
    }
    assert_eq!(field(c, "#category_id").await.prop("value").await.unwrap().as_deref(), Some("4"));
    shots.take(c, "deals-draft-restored").await;

    click_button(c, "공구 등록하기").await;
    wait_flash(c, "공구를 등록했습니다.").await;
    c.goto(&app.url("/deals/new")).await.unwrap();
    assert_eq!(field(c, "#title").await.prop("value").await.unwrap().as_deref(), Some(""), "a posted draft is gone");

    // Someone else in this tab after an ended session never gets the writer's text.
    type_into(c, "#title", "남이 보면 안 되는 제목").await;
    field(c, "#category_id").await.select_by_value("4").await.unwrap();
    type_into(c, "#total_price", "10000").await;
    type_into(c, "#shares_total", "2").await;
    set_value(c, "#items_per_share", "1").await;
    let res = app.delete_as("/api/v1/me/sessions", &other_device).await;
    assert!(res.status().is_success(), "{}", res.status());
    click_button(c, "공구 등록하기").await;
    wait_xpath(c, "//button[normalize-space()='로그인']", "the login page").await;
    log_in_here(c, "draft_other").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/deals/new");
    assert_eq!(field(c, "#title").await.prop("value").await.unwrap().as_deref(), Some(""), "another user sees no draft");
    let stored = c.execute("return sessionStorage.getItem('gonggu-draft');", vec![]).await.unwrap();
    assert_eq!(stored, Value::Null, "and the draft is dropped");
}

/// Signs in on the login page the browser is on (keeping its `next`).
async fn log_in_here(c: &Client, login_id: &str) {
    type_into(c, "input[name=login_id]", login_id).await;
    type_into(c, "input[name=password]", helpers::PASSWORD).await;
    click_button(c, "로그인").await;
    wait_xpath(c, &format!("//a[contains(@class,'topbar-user')][normalize-space()={}]", xq(&format!("{login_id} 님"))), "signed in").await;
}
