//! End-to-end test in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! through the accounts pages on a phone-sized screen: sign up (with the client-side validation
//! stopping a short password first), log in, save interest keywords, log out.
//!
//! Needs `chromedriver` and Chromium (Debian: `apt-get install chromium chromium-driver`). Without
//! chromedriver the test prints a note and passes, unless `GONGGU_REQUIRE_BROWSER=1` (as in CI).
//! Screenshots of every step go to `$GONGGU_SCREENSHOT_DIR` (default `target/screenshots/`),
//! together with `chromedriver.log`.

#[path = "browser_kit/mod.rs"]
mod browser_kit;
#[path = "api/helpers.rs"]
mod helpers;

use browser_kit::{
    click_button, query, scroll_into_view, set_value, type_into, visible_texts, wait_flash, wait_xpath, xq, Browser, Screenshots, WAIT,
};
use fantoccini::{Client, Locator};
use helpers::{spawn_app, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_edit_keywords_logout() {
    let Some(browser) = Browser::start("chromedriver.log").await else { return };
    let app = spawn_app().await;
    let client = browser.session().await;
    browser.run("browser", &[&client], journey(&app, &client, &browser.shots)).await;
}

async fn journey(app: &TestApp, c: &Client, shots: &Screenshots) {
    let login_id = format!("web_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let email = format!("{login_id}@example.com");

    // The page answers plainly before the browser gets involved.
    let res = app.get("/register").await;
    assert_eq!(res.status(), StatusCode::OK, "GET /register");
    assert!(res.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));

    // ---- 1. Sign up: fill in the form, with a password that is too short.
    let register_url = app.url("/register");
    c.goto(&register_url).await.expect("open /register");
    let viewport = c.execute("return [window.innerWidth, window.innerHeight];", vec![]).await.unwrap();
    assert_eq!(viewport, json!([390, 844]), "a 390×844 phone (iPhone 12–15)");
    assert_eq!(c.title().await.unwrap(), "회원가입 · 공구마켓");
    type_into(c, "#login_id", &login_id).await;
    // The live check asks the API after a pause and says the id is free.
    wait_xpath(
        c,
        &format!("//small[@id='login_id-status'][normalize-space()={}]", xq("사용할 수 있는 아이디입니다.")),
        "login id availability",
    )
    .await;
    let status_class = c.find(Locator::Id("login_id-status")).await.unwrap().attr("class").await.unwrap().unwrap_or_default();
    assert!(status_class.contains("status-ok"), "availability message is styled as ok: class={status_class:?}");
    type_into(c, "input[name=email]", &email).await;
    type_into(c, "input[name=password]", "short").await;
    type_into(c, "input[name=password_confirm]", "short").await;
    shots.take(c, "accounts-01-register").await;

    // ---- 2. The browser refuses the short password and stays on the page.
    assert_eq!(c.active_element().await.unwrap().attr("id").await.unwrap().as_deref(), Some("password_confirm"));
    click_button(c, "가입하기").await;
    let password_error =
        "//input[@id='password']/following-sibling::small[contains(@class,'field-error')][normalize-space()='8자 이상 입력해 주세요.']";
    wait_xpath(c, password_error, "client-side password error").await;
    assert_eq!(c.current_url().await.unwrap().as_str(), register_url, "the invalid form was not submitted");
    let password = c.find(Locator::Id("password")).await.unwrap();
    assert_eq!(password.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    let errors = visible_texts(c, "small.field-error").await;
    assert_eq!(errors, vec!["8자 이상 입력해 주세요.".to_owned()], "only the password is wrong");
    assert_eq!(
        c.active_element().await.unwrap().attr("id").await.unwrap().as_deref(),
        Some("password"),
        "focus moves to the first bad field"
    );
    shots.take(c, "accounts-02-register-error").await;
    let res = app.get(&format!("/api/v1/auth/login-id-available?login_id={login_id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["available"], json!(true), "nothing reached the server");

    // ---- 3. Fix it and sign up: signed in at once, without typing the id again.
    set_value(c, "input[name=password]", PASSWORD).await;
    set_value(c, "input[name=password_confirm]", PASSWORD).await;
    assert!(visible_texts(c, "small.field-error").await.is_empty(), "errors clear once fixed");
    click_button(c, "가입하기").await;

    // ---- 4. The home page greets the new user and the session cookies are HttpOnly.
    let user_link = wait_xpath(
        c,
        &format!("//a[contains(@class,'topbar-user')][normalize-space()={}]", xq(&format!("{login_id} 님"))),
        "signed-in top bar",
    )
    .await;
    assert_eq!(user_link.attr("href").await.unwrap().as_deref(), Some("/me"));
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    let hero = c.find(Locator::Css("section.hero")).await.unwrap().text().await.unwrap();
    assert!(hero.contains(&format!("{login_id}님, 반가워요!")), "home greets the user: {hero:?}");
    let cookies = c.get_all_cookies().await.unwrap();
    for name in ["gonggu_access", "gonggu_refresh"] {
        let cookie = cookies.iter().find(|k| k.name() == name).unwrap_or_else(|| panic!("cookie {name} set after login"));
        assert_eq!(cookie.http_only(), Some(true), "{name} is HttpOnly");
    }
    shots.take(c, "accounts-03-home-signed-up").await;

    // ---- 5. Profile: save keywords (with a duplicate).
    c.goto(&app.url("/me")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/me");
    assert_eq!(c.title().await.unwrap(), "내 정보 · 공구마켓");
    let profile = c.find(Locator::Css("dl.profile")).await.unwrap().text().await.unwrap();
    assert!(profile.contains(&login_id) && profile.contains(&email), "profile shows id and email: {profile:?}");
    assert!(c.find_all(Locator::Css("#keywords li.chip")).await.unwrap().is_empty(), "no keywords yet");
    set_value(c, "#keywords textarea[name=keywords]", "휴지, 생수, 휴지").await;
    click_button(c, "키워드 저장").await;
    wait_flash(c, "관심 키워드를 저장했습니다.").await;
    let url = c.current_url().await.unwrap();
    assert_eq!((url.path(), query(&url, "msg").as_deref(), url.fragment()), ("/me", Some("keywords"), Some("keywords")));
    let chips = visible_texts(c, "#keywords ul.chips li.chip").await;
    assert_eq!(chips, vec!["휴지".to_owned(), "생수".to_owned()], "duplicates are dropped");
    let textarea = c.find(Locator::Css("#keywords textarea[name=keywords]")).await.unwrap();
    assert_eq!(textarea.prop("value").await.unwrap().as_deref(), Some("휴지, 생수"));
    shots.take(c, "accounts-05-keywords-saved").await;

    // ---- 6. Log out.
    let logout = c.find(Locator::Id("logout")).await.unwrap();
    assert_eq!(logout.text().await.unwrap().trim(), "로그아웃");
    scroll_into_view(c, &logout).await;
    logout.click().await.expect("click 로그아웃");
    wait_flash(c, "로그아웃되었습니다.").await;
    let url = c.current_url().await.unwrap();
    assert_eq!((url.path(), query(&url, "msg").as_deref()), ("/login", Some("logged_out")));
    let top = c.find(Locator::Css("a.topbar-user")).await.unwrap().text().await.unwrap();
    assert_eq!(top.trim(), "로그인", "the top bar no longer shows the user");
    let cookies = c.get_all_cookies().await.unwrap();
    let left: Vec<_> = cookies.iter().map(|k| k.name()).filter(|n| ["gonggu_access", "gonggu_refresh"].contains(n)).collect();
    assert!(left.is_empty(), "session cookies removed, left: {left:?}");
    shots.take(c, "accounts-06-logged-out").await;

    // ---- 7. The profile is closed again: back to the login page, which returns to /me.
    c.goto(&app.url("/me")).await.unwrap();
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/login", "signed out, /me redirects to the login page (at {url})");
    assert_eq!(query(&url, "next").as_deref(), Some("/me"));
    c.wait().at_most(WAIT).for_element(Locator::Css("form[action='/login']")).await.expect("login form");
    shots.take(c, "accounts-07-me-signed-out").await;

    // ---- The server agrees: keywords stored, and the browser's session is gone.
    let res = app.login(&login_id, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK, "API login with the password set in the browser");
    let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let res = app.get_as("/api/v1/me", &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!((&me["login_id"], &me["email"], &me["keywords"]), (&json!(login_id), &json!(email), &json!(["휴지", "생수"])));
    let res = app.get_as("/api/v1/me/sessions", &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let sessions: Value = res.json().await.unwrap();
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the API session is left after the browser logged out: {sessions}");
    assert_eq!(items[0]["current"], json!(true));
}
