//! End-to-end test in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! through the accounts pages on a phone-sized screen: sign up (with the client-side validation
//! stopping a short password first), log in, save interest keywords, log out.
//!
//! Needs `chromedriver` and Chromium (Debian: `apt-get install chromium chromium-driver`). Without
//! chromedriver the test prints a note and passes, unless `GONGGU_REQUIRE_BROWSER=1` (as in CI).
//! Screenshots of every step go to `$GONGGU_SCREENSHOT_DIR` (default `target/screenshots/`),
//! together with `chromedriver.log`.

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
use reqwest::StatusCode;
use serde_json::{json, Value};

/// How long any one wait (an element, a text, a page after a click) may take.
const WAIT: Duration = Duration::from_secs(10);
const CHROMIUM: &str = "/usr/bin/chromium";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_edit_keywords_logout() {
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

    // Declared before the driver so that it is removed only after the browser is gone.
    let profile_dir = tempfile::tempdir().expect("temp dir for the browser profile");
    let driver = Chromedriver::start(&chromedriver, &shots.dir.join("chromedriver.log")).await;
    let client = connect(&driver, profile_dir.path()).await;

    // Run the journey, then end the browser session whether it passed or not.
    let outcome = std::panic::AssertUnwindSafe(journey(&app, &client, &shots)).catch_unwind().await;
    let _ = client.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        eprintln!("browser test failed; screenshots so far are in {}", shots.dir.display());
        std::panic::resume_unwind(panic);
    }
    println!("browser journey passed in {:.1?}; screenshots in {}", started.elapsed(), shots.dir.display());
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
    assert_eq!(viewport, json!([412, 915]), "a phone-sized viewport");
    assert_eq!(c.title().await.unwrap(), "회원가입 · 공구마켓");
    type_into(c, "#login_id", &login_id).await;
    // The live check asks the API after a pause and says the id is free.
    wait_xpath(c, &format!("//small[@id='login_id-status'][normalize-space()={}]", xq("사용할 수 있는 아이디입니다.")), "login id availability")
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
    assert_eq!(c.active_element().await.unwrap().attr("id").await.unwrap().as_deref(), Some("password"), "focus moves to the first bad field");
    shots.take(c, "accounts-02-register-error").await;
    let res = app.get(&format!("/api/v1/auth/login-id-available?login_id={login_id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["available"], json!(true), "nothing reached the server");

    // ---- 3. Fix it and sign up; the login page says so.
    set_value(c, "input[name=password]", PASSWORD).await;
    set_value(c, "input[name=password_confirm]", PASSWORD).await;
    assert!(visible_texts(c, "small.field-error").await.is_empty(), "errors clear once fixed");
    click_button(c, "가입하기").await;
    wait_flash(c, "가입이 완료되었습니다. 로그인해 주세요.").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/login");
    assert_eq!(query(&url, "msg").as_deref(), Some("registered"));
    assert_eq!(c.title().await.unwrap(), "로그인 · 공구마켓");
    shots.take(c, "accounts-03-login").await;

    // ---- 4. Log in; the home page greets the user and the session cookies are HttpOnly.
    type_into(c, "input[name=login_id]", &login_id).await;
    type_into(c, "input[name=password]", PASSWORD).await;
    click_button(c, "로그인").await;
    let user_link = wait_xpath(c, &format!("//a[contains(@class,'topbar-user')][normalize-space()={}]", xq(&format!("{login_id} 님"))), "signed-in top bar").await;
    assert_eq!(user_link.attr("href").await.unwrap().as_deref(), Some("/me"));
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    let hero = c.find(Locator::Css("section.hero")).await.unwrap().text().await.unwrap();
    assert!(hero.contains(&format!("{login_id}님, 반가워요!")), "home greets the user: {hero:?}");
    let cookies = c.get_all_cookies().await.unwrap();
    for name in ["gonggu_access", "gonggu_refresh"] {
        let cookie = cookies.iter().find(|k| k.name() == name).unwrap_or_else(|| panic!("cookie {name} set after login"));
        assert_eq!(cookie.http_only(), Some(true), "{name} is HttpOnly");
    }
    shots.take(c, "accounts-04-home-signed-in").await;

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

/// Types like a person (key events, so the page's input listeners run).
async fn type_into(c: &Client, css: &str, text: &str) {
    let el = field(c, css).await;
    el.click().await.unwrap_or_else(|e| panic!("focus {css}: {e}"));
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
