//! The place picker (`widgets::place_picker`) in a real browser: on the profile, typing "망원"
//! offers 망원동 under the field, the arrow keys and Enter pick it (the hidden `code` follows,
//! and editing the text drops it again), and 동네 저장 keeps it 미인증; "📍 현재 위치로 찾기"
//! with the location faked through DevTools finds 역삼동 and saves it 인증됨, while a point in
//! the Yellow Sea is refused. The sign-up page offers the same picker. On a phone and on a
//! desktop screen; screenshots `places-*.png`.
//!
//! The home feed around a 동 (issue 12): a visitor is asked to choose one, picks 역삼동 and sees
//! the deals within 5 km, then taps wider reaches; a member's feed is their neighbourhood's, each
//! card says 동 · distance · age, and the reach chip they tap is kept. Screenshots `feed-*.png`.
//!
//! Same requirements and switches as `browser.rs`.

#[path = "browser_kit/mod.rs"]
mod browser_kit;
#[path = "api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use browser_kit::{
    cdp::Cdp, click_button, field, log_in, query, scroll_into_view, type_into, url_of, visible_texts, wait_flash, wait_xpath, xq, Browser,
    Screenshots, WAIT,
};
use fantoccini::{elements::Element, key::Key, Client, Locator};
use helpers::{spawn_app, TestApp, PASSWORD};
use serde_json::{json, Value};

/// The picker's text field (one picker on each page driven here).
const PLACE: &str = "[data-place-picker] input[name=place]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_pick_and_verify_the_neighbourhood_on_the_profile() {
    let Some(browser) = Browser::start("chromedriver-places.log").await else { return };
    let app = spawn_app().await;
    let phone = browser.session().await;
    let desktop = browser.session_sized(1280, 800).await;
    let journeys = async {
        profile_journey(&app, &phone, "phone", &browser.shots).await;
        profile_journey(&app, &desktop, "desktop", &browser.shots).await;
    };
    browser.run("places browser", &[&phone, &desktop], journeys).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_up_page_offers_the_picker_too() {
    let Some(browser) = Browser::start("chromedriver-places-register.log").await else { return };
    let app = spawn_app().await;
    let phone = browser.session().await;
    browser.run("places register browser", &[&phone], register_journey(&app, &phone, &browser.shots)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_feed_shows_the_deals_around_the_chosen_neighbourhood() {
    let Some(browser) = Browser::start("chromedriver-feed.log").await else { return };
    let app = spawn_app().await;
    let seeded = seed_feed(&app).await;
    let phone = browser.session().await;
    let member_phone = browser.session().await;
    let member_desktop = browser.session_sized(1280, 800).await;
    let journeys = async {
        visitor_feed_journey(&app, &phone, &seeded, &browser.shots).await;
        member_feed_journey(&app, &member_phone, "phone", &seeded, &browser.shots).await;
        member_feed_journey(&app, &member_desktop, "desktop", &seeded, &browser.shots).await;
    };
    browser.run("home feed browser", &[&phone, &member_phone, &member_desktop], journeys).await;
}

// ------------------------------------------------------------------------------ page helpers

/// The open list's option for the 동 `name` in `district` ("서울특별시 마포구").
fn option_xpath(name: &str, district: &str) -> String {
    format!(
        "//div[@data-place-picker]//ul[@role='listbox' and not(@hidden)]/li[@role='option'][strong[normalize-space()={}] and span[normalize-space()={}]]",
        xq(name),
        xq(district)
    )
}

/// The picker's hidden field `name` (`code`, `lat`, `lon`, `verify`), as the form would post it.
async fn hidden(c: &Client, name: &str) -> String {
    let script = format!("return document.querySelector('[data-place-picker] input[name={name}]').value;");
    let v = c.execute(&script, vec![]).await.unwrap_or_else(|e| panic!("read hidden {name}: {e}"));
    v.as_str().unwrap_or_else(|| panic!("hidden {name}: {v}")).to_owned()
}

async fn place_text(c: &Client) -> String {
    field(c, PLACE).await.prop("value").await.unwrap().unwrap_or_default()
}

async fn list_is_open(c: &Client) -> bool {
    let list = field(c, "[data-place-picker] ul[role=listbox]").await;
    list.attr("hidden").await.unwrap().is_none() && list.is_displayed().await.unwrap()
}

/// The 동 names the open list offers, top to bottom.
async fn offered(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for li in c.find_all(Locator::Css("[data-place-picker] ul[role=listbox] li[role=option] strong")).await.unwrap() {
        out.push(li.text().await.unwrap().trim().to_owned());
    }
    out
}

/// The list opens under the text field, inside the screen, with its first option in full view.
async fn assert_list_under_the_field(c: &Client, what: &str) {
    let script = "const r = (el) => { const b = el.getBoundingClientRect(); return { top: b.top, bottom: b.bottom, left: b.left, right: b.right }; };
        const picker = document.querySelector('[data-place-picker]');
        const list = picker.querySelector('[role=listbox]');
        return { input: r(picker.querySelector('input[name=place]')), list: r(list), first: r(list.querySelector('li')),
                 width: window.innerWidth, height: window.innerHeight,
                 overflowX: list.scrollWidth - list.clientWidth };";
    let g = c.execute(script, vec![]).await.unwrap();
    let n = |v: &Value| v.as_f64().unwrap();
    let (input, list, first) = (&g["input"], &g["list"], &g["first"]);
    assert!(n(&list["top"]) >= n(&input["bottom"]) - 1.0, "{what}: the list opens below the field: {g}");
    assert!(n(&list["top"]) - n(&input["bottom"]) < 60.0, "{what}: …right below it: {g}");
    assert!(n(&list["left"]) >= 0.0 && n(&list["right"]) <= n(&g["width"]), "{what}: the list fits the screen's width: {g}");
    assert!(n(&first["top"]) >= 0.0 && n(&first["bottom"]) <= n(&g["height"]), "{what}: the first option is on screen: {g}");
    assert!(n(&g["overflowX"]) <= 0.0, "{what}: nothing is cut off sideways: {g}");
}

/// What the profile says under "우리 동네".
async fn profile_hood(c: &Client) -> String {
    let dd =
        wait_xpath(c, "//dl[contains(@class,'profile')]/dt[normalize-space()='우리 동네']/following-sibling::dd[1]", "우리 동네").await;
    dd.text().await.unwrap().trim().to_owned()
}

/// The texts of the badges on the profile's 우리 동네 line with this class.
async fn hood_badges(c: &Client, class: &str) -> Vec<String> {
    let xpath = format!(
        "//dl[contains(@class,'profile')]/dt[normalize-space()='우리 동네']/following-sibling::dd[1]//span[contains(@class,'{class}')]"
    );
    let mut out = Vec::new();
    for el in c.find_all(Locator::XPath(&xpath)).await.unwrap() {
        out.push(el.text().await.unwrap().trim().to_owned());
    }
    out
}

/// Presses 동네 저장 and waits for the next page's notice (the page it leaves may show the same
/// notice from the last save).
async fn save(c: &Client) {
    let page = field(c, "body").await;
    click_button(c, "동네 저장").await;
    let deadline = Instant::now() + WAIT;
    while page.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "동네 저장 did not lead to a new page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_flash(c, "우리 동네를 저장했습니다.").await;
}

async fn press_locate(c: &Client) {
    let button =
        wait_xpath(c, "//button[@type='button' and @data-locate][normalize-space()='📍 현재 위치로 찾기']", "현재 위치로 찾기").await;
    // The page turns it off while it asks; wait until it may be pressed again.
    let deadline = Instant::now() + WAIT;
    while !button.is_enabled().await.unwrap() {
        assert!(Instant::now() < deadline, "현재 위치로 찾기 stays disabled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    scroll_into_view(c, &button).await;
    button.click().await.expect("click 현재 위치로 찾기");
}

/// Waits for the location status line to say `text`, styled as `class` (`status-ok`, `status-error`).
async fn wait_status(c: &Client, text: &str, class: &str) {
    let status =
        wait_xpath(c, &format!("//small[@data-locate-status][normalize-space()={}]", xq(text)), &format!("location status {text:?}")).await;
    let got = status.attr("class").await.unwrap().unwrap_or_default();
    assert!(got.split_whitespace().any(|k| k == class), "location status {text:?} is {class}: class={got:?}");
    assert!(status.is_displayed().await.unwrap(), "location status {text:?} is visible");
}

// ------------------------------------------------------------------------------ the journeys

async fn profile_journey(app: &TestApp, c: &Client, device: &str, shots: &Screenshots) {
    let origin = app.url("").trim_end_matches('/').to_owned();
    let login_id = format!("hood_{device}");
    let token = app.signed_in(&login_id).await["access_token"].as_str().unwrap().to_owned();
    log_in(app, c, &login_id).await;
    c.goto(&app.url("/me")).await.unwrap();
    assert_eq!(profile_hood(c).await, "설정 안 함");
    let label = wait_xpath(c, "//section[@id='neighborhood']//div[@data-place-picker]//span[@class='label']", "the picker's label").await;
    assert_eq!(label.text().await.unwrap().trim(), "동네 검색");

    // ---- Search: the list opens under the field with 망원동 of 마포구.
    type_into(c, PLACE, "망원").await;
    let option = wait_xpath(c, &option_xpath("망원동", "서울특별시 마포구"), "망원동 offered").await;
    let text = field(c, PLACE).await;
    assert_eq!(text.attr("aria-expanded").await.unwrap().as_deref(), Some("true"), "the combobox says its list is open");
    assert!(option.is_displayed().await.unwrap(), "망원동 is shown");
    assert_list_under_the_field(c, device).await;
    shots.take(c, &format!("places-search-{device}")).await;

    // ---- Pick it with the keyboard: ↓ to it, Enter.
    let names = offered(c).await;
    let at = names.iter().position(|n| n == "망원동").unwrap_or_else(|| panic!("망원동 among {names:?}"));
    for _ in 0..=at {
        text.send_keys(&Key::Down).await.unwrap();
    }
    let active = text.attr("aria-activedescendant").await.unwrap().expect("an active option");
    let chosen = c.find(Locator::Id(&active)).await.unwrap();
    assert_eq!(chosen.attr("aria-selected").await.unwrap().as_deref(), Some("true"));
    assert!(chosen.text().await.unwrap().starts_with("망원동"), "↓ lands on 망원동: {}", chosen.text().await.unwrap());
    text.send_keys(&Key::Enter).await.unwrap();
    assert_eq!(place_text(c).await, "서울특별시 마포구 망원동");
    assert_eq!(hidden(c, "code").await, "11440123");
    assert!(!list_is_open(c).await, "the list closes once a 동 is picked");
    assert_eq!(text.attr("aria-expanded").await.unwrap().as_deref(), Some("false"));
    assert_eq!(c.current_url().await.unwrap().path(), "/me", "Enter picked, it did not send the form");

    // ---- Save: 망원동, not verified.
    save(c).await;
    let line = profile_hood(c).await;
    assert!(line.contains("망원동"), "the profile shows 망원동: {line:?}");
    assert_eq!(hood_badges(c, "badge-unverified").await, ["미인증"], "{line:?}");
    assert!(hood_badges(c, "badge-verified").await.is_empty(), "{line:?}");
    let me: Value = app.get_as("/api/v1/me", &token).await.json().await.unwrap();
    assert_eq!(me["neighborhood"]["code"], "11440123", "{me}");
    assert!(me["neighborhood"]["verified_at"].is_null(), "{me}");
    // The form shows what is kept.
    assert_eq!(place_text(c).await, "서울특별시 마포구 망원동");
    assert_eq!(hidden(c, "code").await, "11440123");

    // ---- Editing the text drops the pick: what is posted is what is shown.
    let text = field(c, PLACE).await;
    scroll_into_view(c, &text).await;
    text.send_keys("2").await.unwrap();
    assert_eq!(place_text(c).await, "서울특별시 마포구 망원동2");
    assert_eq!(hidden(c, "code").await, "", "typing after the pick clears the hidden code");
    text.send_keys(&Key::Backspace).await.unwrap();
    assert_eq!(place_text(c).await, "서울특별시 마포구 망원동");
    wait_xpath(c, &option_xpath("망원동", "서울특별시 마포구"), "망원동 offered again").await;
    assert_eq!(hidden(c, "code").await, "", "typing the same text back is not a pick");
    // Escape closes the list (else it would open under the next tap, and take it).
    text.send_keys(&Key::Escape).await.unwrap();
    assert!(!list_is_open(c).await, "Escape closes the list");

    // ---- 동네 인증: the phone is in 역삼동.
    let mut cdp = Cdp::of(c).await;
    cdp.grant_geolocation(&origin).await;
    cdp.set_geolocation(&origin, 37.5006, 127.0364).await;
    press_locate(c).await;
    wait_status(c, "현재 위치는 역삼동이에요. 저장하면 동네 인증이 돼요.", "status-ok").await;
    assert_eq!(place_text(c).await, "서울특별시 강남구 역삼동");
    assert_eq!(hidden(c, "code").await, "11680101");
    assert_eq!(hidden(c, "verify").await, "1");
    assert_eq!((hidden(c, "lat").await, hidden(c, "lon").await), ("37.5006".to_owned(), "127.0364".to_owned()));
    assert!(!list_is_open(c).await);
    shots.take(c, &format!("places-located-{device}")).await;
    save(c).await;
    let line = profile_hood(c).await;
    assert!(line.contains("역삼동"), "the profile shows 역삼동: {line:?}");
    assert_eq!(hood_badges(c, "badge-verified").await, ["인증됨"], "{line:?}");
    assert!(hood_badges(c, "badge-unverified").await.is_empty(), "{line:?}");
    let me: Value = app.get_as("/api/v1/me", &token).await.json().await.unwrap();
    let hood = &me["neighborhood"];
    assert_eq!((&hood["code"], &hood["name"]), (&Value::from("11680101"), &Value::from("역삼동")), "{me}");
    assert!(hood["verified_at"].is_string(), "{me}");
    assert_ne!((hood["lat"].as_f64(), hood["lon"].as_f64()), (Some(37.5006), Some(127.0364)), "only the 동's centre is kept: {me}");
    let profile = field(c, "dl.profile").await;
    scroll_into_view(c, &profile).await;
    shots.take(c, &format!("places-verified-{device}")).await;

    // ---- The Yellow Sea is no 동.
    cdp.set_geolocation(&origin, 36.0, 125.0).await;
    press_locate(c).await;
    wait_status(c, "대한민국 안의 위치가 아닙니다.", "status-error").await;
    shots.take(c, &format!("places-sea-{device}")).await;
}

async fn register_journey(app: &TestApp, c: &Client, shots: &Screenshots) {
    c.goto(&app.url("/register")).await.unwrap();
    let label = wait_xpath(c, "//div[@data-place-picker]//span[@class='label']", "the picker's label").await;
    assert_eq!(label.text().await.unwrap().trim(), "우리 동네 (선택)");
    type_into(c, PLACE, "해운대구 우").await;
    let option = wait_xpath(c, &option_xpath("우동", "부산광역시 해운대구"), "우동 offered").await;
    assert_eq!(offered(c).await.first().map(String::as_str), Some("우동"), "우동 first");
    assert_list_under_the_field(c, "register").await;
    shots.take(c, "places-register-phone").await;

    // A tap picks it too.
    let found: Value = app.get("/api/v1/places?q=%ED%95%B4%EC%9A%B4%EB%8C%80%EA%B5%AC%20%EC%9A%B0").await.json().await.unwrap();
    let code = found["items"][0]["code"].as_str().unwrap_or_else(|| panic!("{found}")).to_owned();
    option.click().await.expect("tap 우동");
    assert_eq!(place_text(c).await, "부산광역시 해운대구 우동");
    assert_eq!(hidden(c, "code").await, code);
    assert!(!list_is_open(c).await);

    // And the new account lives there.
    type_into(c, "#login_id", "hood_busan").await;
    type_into(c, "input[name=email]", "hood_busan@example.com").await;
    type_into(c, "input[name=password]", PASSWORD).await;
    type_into(c, "input[name=password_confirm]", PASSWORD).await;
    click_button(c, "가입하기").await;
    wait_xpath(c, "//a[contains(@class,'topbar-user')][normalize-space()='hood_busan 님']", "signed up").await;
    c.goto(&app.url("/me")).await.unwrap();
    let line = profile_hood(c).await;
    assert!(line.contains("우동"), "the profile shows 우동: {line:?}");
    assert_eq!(hood_badges(c, "badge-unverified").await, ["미인증"], "{line:?}");
}

// ------------------------------------------------------------------------------ the home feed

/// 역삼동 (서울특별시 강남구).
const YEOKSAM: &str = "11680101";

/// One seeded deal: its title, and the line its card shows under the price once a distance is
/// known (`{동} · {distance} · {age}`) and without one (`{동} · {age}`).
struct FeedDeal {
    title: &'static str,
    distance: &'static str,
    dong: String,
    age: &'static str,
}

impl FeedDeal {
    fn line_with_distance(&self) -> String {
        format!("{} · {} · {}", self.dong, self.distance, self.age)
    }

    fn line(&self) -> String {
        format!("{} · {}", self.dong, self.age)
    }
}

/// Four deals of another user, nearest first: about 0.6 km, 3.3 km and 8 km south of 역삼동's
/// centre (0.009° of latitude is 1 km) and one in 부산. Opened 10 minutes apart, farthest first,
/// so newest first is also nearest first; the clock then stands 2 minutes after the last.
async fn seed_feed(app: &TestApp) -> Vec<FeedDeal> {
    let found: Value = app.get(&format!("/api/v1/places?q={}", gonggu_kernel::web::urlencode("역삼동"))).await.json().await.unwrap();
    let centre = found["items"]
        .as_array()
        .and_then(|items| items.iter().find(|p| p["code"] == YEOKSAM))
        .unwrap_or_else(|| panic!("역삼동 {YEOKSAM} among {found}"));
    assert_eq!(found["items"][0]["code"], YEOKSAM, "강남구 역삼동 comes first: {found}");
    let (lat0, lon0) = (centre["lat"].as_f64().unwrap(), centre["lon"].as_f64().unwrap());
    let host = app.token_for("feed_host");
    // (title, where, distance label from the centre, age once all are open)
    let deals = [
        ("해운대 쌀 공구", (35.1631, 129.1635), "", "32분 전"),
        ("양재 생수 공구", (lat0 - 0.072, lon0), "8.0km", "22분 전"),
        ("도곡 휴지 공구", (lat0 - 0.03, lon0), "3.3km", "12분 전"),
        ("역삼 세제 공구", (lat0 - 0.0054, lon0), "600m", "2분 전"),
    ];
    let mut seeded = Vec::new();
    for (i, (title, (lat, lon), distance, age)) in deals.into_iter().enumerate() {
        if i > 0 {
            app.clock.advance(chrono::Duration::minutes(10));
        }
        let body = json!({
            "title": title, "category_id": 4, "total_price": 9_000, "shares_total": 3, "items_per_share": 1, "unit": "개",
            "deadline": (app.clock.now() + chrono::Duration::days(3)).to_rfc3339(),
            "meeting_place": {"name": title, "lat": lat, "lon": lon},
        });
        let res = app.post_json_as("/api/v1/deals", &host, &body).await;
        assert_eq!(res.status(), reqwest::StatusCode::CREATED, "{title}: {:?}", res.text().await);
        let deal: Value = res.json().await.unwrap();
        let dong = deal["meeting_place"]["dong"].as_str().unwrap_or_else(|| panic!("the API names the 동 of {title}: {deal}")).to_owned();
        seeded.push(FeedDeal { title, distance, dong, age });
    }
    app.clock.advance(chrono::Duration::minutes(2));
    seeded.reverse();
    seeded
}

/// The titles of the cards on the page, top to bottom.
async fn card_titles(c: &Client) -> Vec<String> {
    visible_texts(c, "a.deal-card h2.deal-title").await
}

/// The titles of the first `n` seeded deals (nearest first).
fn nearest(seeded: &[FeedDeal], n: usize) -> Vec<String> {
    seeded.iter().take(n).map(|d| d.title.to_owned()).collect()
}

/// The bar's "📍 {name} · {reach}" ("5km 이내", "전국") on the page as it is.
fn bar_xpath(name: &str, reach: &str) -> String {
    format!(
        "//section[contains(@class,'area-bar')]/div[contains(@class,'area-where')][strong[normalize-space()={}]][span[contains(@class,'muted')][normalize-space(translate(., '\u{a0}', ' '))={}]]",
        xq(name),
        xq(&format!("· {reach}"))
    )
}

/// Waits for the bar to say "📍 {name} · {reach}" on this page, and checks it reads so.
async fn wait_bar(c: &Client, name: &str, reach: &str) {
    let bar = wait_xpath(c, &bar_xpath(name, reach), &format!("the bar saying {name} · {reach}")).await;
    // Its parts are flex items, which WebDriver's text puts on lines of their own.
    let text = bar.text().await.unwrap().replace('\u{a0}', " ").split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.starts_with(&format!("📍 {name} · {reach}")), "the bar reads {text:?}");
    assert!(bar.is_displayed().await.unwrap(), "the bar is visible");
}

/// Opens `path` again and again until the bar says "📍 {name} · {reach}" (a new neighbourhood
/// reaches the feed through an event).
async fn open_until_bar(app: &TestApp, c: &Client, path: &str, name: &str, reach: &str) {
    let deadline = Instant::now() + WAIT;
    let xpath = bar_xpath(name, reach);
    loop {
        c.goto(&app.url(path)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
        if c.find(Locator::XPath(&xpath)).await.is_ok() {
            return wait_bar(c, name, reach).await;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never said {name} · {reach}; page at {}:\n{}",
            url_of(c).await,
            browser_kit::body_text(c).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Clicks `el` and waits until the page it was on is gone.
async fn click_to_next_page(c: &Client, el: &Element, what: &str) {
    let page = field(c, "body").await;
    scroll_into_view(c, el).await;
    el.click().await.unwrap_or_else(|e| panic!("click {what}: {e}"));
    let deadline = Instant::now() + WAIT;
    while page.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "{what} did not lead to a new page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The reach chip labelled `label` ("10km", "전국"): a link or a form's button (`tag`).
async fn reach_chip(c: &Client, label: &str, tag: &str) -> Element {
    let xpath = format!(
        "//section[contains(@class,'area-bar')]//ul[contains(@class,'reach-chips')]/li//*[self::a or self::button][contains(@class,'chip')][normalize-space()={}]",
        xq(label)
    );
    let chip = wait_xpath(c, &xpath, &format!("reach chip {label}")).await;
    assert_eq!(chip.tag_name().await.unwrap(), tag, "the {label} chip is a {tag}");
    chip
}

/// The chip shown as chosen, and how it says so to a screen reader.
async fn assert_chosen_chip(c: &Client, label: &str, tag: &str) {
    let chip = reach_chip(c, label, tag).await;
    let class = chip.attr("class").await.unwrap().unwrap_or_default();
    assert!(class.split_whitespace().any(|k| k == "chip-on"), "{label} is the chosen reach: class={class:?}");
    let (attr, value) = if tag == "button" { ("aria-pressed", "true") } else { ("aria-current", "true") };
    assert_eq!(chip.attr(attr).await.unwrap().as_deref(), Some(value), "{label} chip's {attr}");
    let chosen = c.find_all(Locator::Css("section.area-bar .reach-chips .chip-on")).await.unwrap();
    assert_eq!(chosen.len(), 1, "one reach is chosen");
}

/// The bar's five chips are on screen, nothing sticks out sideways; says on how many lines.
async fn assert_chips_fit(c: &Client, what: &str) -> usize {
    let script = "const chips = [...document.querySelectorAll('section.area-bar .reach-chips .chip')].map((el) => {
            const b = el.getBoundingClientRect(); return { left: b.left, right: b.right, top: Math.round(b.top) }; });
        return { chips, width: window.innerWidth, scroll: document.documentElement.scrollWidth };";
    let g = c.execute(script, vec![]).await.unwrap();
    let n = |v: &Value| v.as_f64().unwrap();
    let chips = g["chips"].as_array().unwrap();
    assert_eq!(chips.len(), 5, "{what}: 1km, 3km, 5km, 10km, 전국: {g}");
    for chip in chips {
        assert!(n(&chip["left"]) >= 0.0 && n(&chip["right"]) <= n(&g["width"]), "{what}: every chip is inside the screen: {g}");
    }
    assert!(n(&g["scroll"]) <= n(&g["width"]), "{what}: the page does not scroll sideways: {g}");
    let mut tops: Vec<i64> = chips.iter().map(|c| c["top"].as_i64().unwrap()).collect();
    tops.dedup();
    tops.len()
}

/// The `p.deal-where` lines of the cards, top to bottom.
async fn where_lines(c: &Client) -> Vec<String> {
    visible_texts(c, "a.deal-card p.deal-where").await
}

async fn visitor_feed_journey(app: &TestApp, c: &Client, seeded: &[FeedDeal], shots: &Screenshots) {
    // ---- No 동 yet: the prompt, and every deal in the country.
    c.goto(&app.url("/")).await.unwrap();
    let prompt =
        wait_xpath(c, "//section[contains(@class,'area-prompt')]/h2[normalize-space()='우리 동네를 골라 보세요']", "the prompt").await;
    assert!(prompt.is_displayed().await.unwrap());
    assert!(c.find(Locator::Css("section.area-bar")).await.is_err(), "no bar before a 동 is chosen");
    assert_eq!(card_titles(c).await, nearest(seeded, 4), "the whole country, newest first");
    let lines: Vec<String> = seeded.iter().map(FeedDeal::line).collect();
    assert_eq!(where_lines(c).await, lines, "동 and age, no distance without a 동 to measure from");

    // ---- Pick 역삼동 with the prompt's picker.
    type_into(c, PLACE, "역삼").await;
    let option = wait_xpath(c, &option_xpath("역삼동", "서울특별시 강남구"), "역삼동 offered").await;
    assert_list_under_the_field(c, "feed prompt").await;
    shots.take(c, "feed-prompt-phone").await;
    option.click().await.expect("tap 역삼동");
    assert_eq!(place_text(c).await, "서울특별시 강남구 역삼동");
    assert_eq!(hidden(c, "code").await, YEOKSAM);
    let button = wait_xpath(
        c,
        "//section[contains(@class,'area-prompt')]//button[@type='submit'][normalize-space()='이 동네 공구 보기']",
        "이 동네 공구 보기",
    )
    .await;
    click_to_next_page(c, &button, "이 동네 공구 보기").await;
    let url = c.current_url().await.unwrap();
    // The picker's form is answered with the short address of the 동 alone.
    assert_eq!(url.as_str(), app.url(&format!("/?code={YEOKSAM}")), "the 동 is in the address: {url}");
    wait_bar(c, "역삼동", "5km 이내").await;
    assert!(c.find(Locator::Css("section.area-prompt")).await.is_err(), "the prompt is gone");
    assert_chosen_chip(c, "5km", "a").await;
    assert_eq!(card_titles(c).await, nearest(seeded, 2), "within 5 km: 0.6 km and 3.3 km");
    let lines: Vec<String> = seeded.iter().take(2).map(FeedDeal::line_with_distance).collect();
    assert_eq!(where_lines(c).await, lines, "동 · distance from 역삼동 · age");
    let rows = assert_chips_fit(c, "visitor phone").await;
    println!("visitor phone: the reach chips take {rows} line(s)");
    shots.take(c, "feed-visitor-phone").await;

    // ---- Wider: 10 km, then the whole country; the address keeps the 동.
    let chip = reach_chip(c, "10km", "a").await;
    click_to_next_page(c, &chip, "the 10km chip").await;
    let url = c.current_url().await.unwrap();
    assert_eq!((query(&url, "code").as_deref(), query(&url, "reach").as_deref()), (Some(YEOKSAM), Some("10")), "{url}");
    wait_bar(c, "역삼동", "10km 이내").await;
    assert_chosen_chip(c, "10km", "a").await;
    assert_eq!(card_titles(c).await, nearest(seeded, 3), "within 10 km");
    let chip = reach_chip(c, "전국", "a").await;
    click_to_next_page(c, &chip, "the 전국 chip").await;
    let url = c.current_url().await.unwrap();
    assert_eq!((query(&url, "code").as_deref(), query(&url, "reach").as_deref()), (Some(YEOKSAM), Some("all")), "{url}");
    wait_bar(c, "역삼동", "전국").await;
    assert_chosen_chip(c, "전국", "a").await;
    assert_eq!(card_titles(c).await, nearest(seeded, 4), "the whole country");
    let last = where_lines(c).await.pop().unwrap();
    assert!(
        last.starts_with(&format!("{} · ", seeded[3].dong)) && last.ends_with(" · 32분 전") && last.contains("km"),
        "부산 is far: {last:?}"
    );
}

async fn member_feed_journey(app: &TestApp, c: &Client, device: &str, seeded: &[FeedDeal], shots: &Screenshots) {
    let login_id = format!("feed_{device}");
    let token = app.signed_in(&login_id).await["access_token"].as_str().unwrap().to_owned();
    let res = app.put_json_as("/api/v1/me/neighborhood", &token, &json!({ "code": YEOKSAM })).await;
    assert_eq!(res.status(), reqwest::StatusCode::OK, "{:?}", res.text().await);
    log_in(app, c, &login_id).await;

    // ---- The feed is 역삼동's, 5 km around.
    open_until_bar(app, c, "/", "역삼동", "5km 이내").await;
    assert!(c.find(Locator::Css("section.area-prompt")).await.is_err(), "no prompt with a neighbourhood");
    let change = wait_xpath(c, "//section[contains(@class,'area-bar')]//a[contains(@class,'area-change')]", "동네 바꾸기").await;
    assert_eq!(
        (change.text().await.unwrap().trim(), change.attr("href").await.unwrap().as_deref()),
        ("동네 바꾸기", Some("/me#neighborhood"))
    );
    assert_chosen_chip(c, "5km", "button").await;
    assert_eq!(card_titles(c).await, nearest(seeded, 2), "{device}: within 5 km");
    let lines: Vec<String> = seeded.iter().take(2).map(FeedDeal::line_with_distance).collect();
    assert_eq!(where_lines(c).await, lines, "{device}: 동 · distance · age");
    let rows = assert_chips_fit(c, device).await;
    println!("member {device}: the reach chips take {rows} line(s)");
    shots.take(c, &format!("feed-member-{device}")).await;

    // ---- 10km is saved: the page comes back with it, and keeps it.
    let chip = reach_chip(c, "10km", "button").await;
    click_to_next_page(c, &chip, "the 10km chip").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/", "back on the feed");
    wait_bar(c, "역삼동", "10km 이내").await;
    assert_chosen_chip(c, "10km", "button").await;
    assert_eq!(card_titles(c).await, nearest(seeded, 3), "{device}: within 10 km");
    // Saved: the plain feed comes to it once the change has reached deals.
    open_until_bar(app, c, "/", "역삼동", "10km 이내").await;
    assert_eq!(card_titles(c).await, nearest(seeded, 3), "{device}: still 10 km");
    let me: Value = app.get_as("/api/v1/me", &token).await.json().await.unwrap();
    assert_eq!(me["neighborhood"]["reach_km"], 10, "{me}");

    // ---- A second 동: "역삼동 ▾" opens the switch to it; 내 정보 lists it.
    let res = app.put_json_as("/api/v1/me/neighborhood/second", &token, &json!({ "code": "11440123" })).await;
    assert_eq!(res.status(), reqwest::StatusCode::OK, "{:?}", res.text().await);
    let summary = "//section[contains(@class,'area-bar')]//details[contains(@class,'area-switch')]/summary";
    for _ in 0..200 {
        c.goto(&app.url("/")).await.unwrap();
        if c.find(Locator::XPath(summary)).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    wait_xpath(c, summary, "역삼동 ▾").await.click().await.unwrap();
    let switch =
        wait_xpath(c, "//div[contains(@class,'area-menu')]//button[normalize-space()='망원동으로 바꾸기']", "망원동으로 바꾸기").await;
    assert!(switch.is_displayed().await.unwrap(), "the menu opens");
    shots.take(c, &format!("feed-switch-{device}")).await;
    c.goto(&app.url("/me#neighborhood")).await.unwrap();
    wait_xpath(c, "//div[contains(@class,'second-hood')]//button[normalize-space()='망원동으로 바꾸기']", "the second 동 on 내 정보").await;
    shots.take(c, &format!("me-second-{device}")).await;
}
