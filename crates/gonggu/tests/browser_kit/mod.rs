//! What the browser tests (`browser.rs`, `browser_wallet.rs`, `browser_deals.rs`) share:
//! chromedriver and headless Chromium on a phone-sized screen, page helpers and screenshots.
//!
//! Each test file is its own crate and pulls this in with
//! `#[path = "browser_kit/mod.rs"] mod browser_kit;`, next to `mod helpers;` (`api/helpers.rs`),
//! which `log_in` uses.
//!
//! Needs `chromedriver` and Chromium (Debian: `apt-get install chromium chromium-driver`). Without
//! chromedriver a test prints a note and passes, unless `GONGGU_REQUIRE_BROWSER=1` (as in CI).
//! Screenshots go to `$GONGGU_SCREENSHOT_DIR` (default `target/screenshots/`), together with the
//! chromedriver log.

#![allow(dead_code)]

pub mod cdp;
pub mod line;

use std::{
    future::Future,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::{json, Value};

use crate::helpers::{TestApp, PASSWORD};

/// How long any one wait (an element, a text, a page after a click) may take.
pub const WAIT: Duration = Duration::from_secs(10);
pub const CHROMIUM: &str = "/usr/bin/chromium";

// ------------------------------------------------------------------------------ a browser test

/// One browser test's setup: the screenshot folder and a running chromedriver, which starts a
/// Chromium with a fresh profile for every session.
pub struct Browser {
    pub shots: Screenshots,
    started: Instant,
    // Dropped in this order: chromedriver (and every browser it started) first, then the
    // profile folders, so that they are removed only after the browsers are gone.
    driver: Chromedriver,
    profiles: Mutex<Vec<tempfile::TempDir>>,
}

impl Browser {
    /// Starts chromedriver, logging to `log_name` in the screenshot folder. Without chromedriver
    /// prints a note and returns `None` (the test passes), or panics if `GONGGU_REQUIRE_BROWSER=1`.
    pub async fn start(log_name: &str) -> Option<Self> {
        let Some(chromedriver) = find_chromedriver() else {
            if std::env::var("GONGGU_REQUIRE_BROWSER").as_deref() == Ok("1") {
                panic!("chromedriver not found (looked at /usr/bin/chromedriver and on PATH) but GONGGU_REQUIRE_BROWSER=1; install chromium and chromium-driver");
            }
            println!("skipped: chromedriver not installed (set GONGGU_REQUIRE_BROWSER=1 to require it)");
            return None;
        };
        let started = Instant::now();
        let shots = Screenshots::new();
        let driver = Chromedriver::start(&chromedriver, &shots.dir.join(log_name)).await;
        Some(Self { shots, started, driver, profiles: Mutex::new(Vec::new()) })
    }

    /// A new browser session with a fresh profile of its own: its own cookies, like a person on
    /// their own phone.
    pub async fn session(&self) -> Client {
        self.session_sized(390, 844).await
    }

    /// As [`Browser::session`], on a screen of `width`×`height` CSS pixels.
    pub async fn session_sized(&self, width: u32, height: u32) -> Client {
        self.session_with(width, height, Notifications::Allowed).await
    }

    /// As [`Browser::session_sized`], with notifications `allowed` up front or not yet asked.
    pub async fn session_with(&self, width: u32, height: u32, notifications: Notifications) -> Client {
        let profile = tempfile::tempdir().expect("temp dir for the browser profile");
        let client = connect(&self.driver, profile.path(), width, height, notifications).await;
        self.profiles.lock().unwrap().push(profile);
        client
    }

    /// Runs the journey, then ends the browser sessions whether it passed or not; a failure is
    /// passed on with a pointer to the screenshots. `what` names the test in the notes printed
    /// ("browser", "wallet browser", …).
    pub async fn run(&self, what: &str, clients: &[&Client], journey: impl Future<Output = ()>) {
        let outcome = std::panic::AssertUnwindSafe(journey).catch_unwind().await;
        for client in clients {
            let _ = (*client).clone().close().await;
        }
        if let Err(panic) = outcome {
            eprintln!("{what} test failed; screenshots so far are in {}", self.shots.dir.display());
            std::panic::resume_unwind(panic);
        }
        println!("{what} journey passed in {:.1?}; screenshots in {}", self.started.elapsed(), self.shots.dir.display());
    }
}

/// Logs in through the login page and waits for the signed-in top bar.
pub async fn log_in(app: &TestApp, c: &Client, login_id: &str) {
    c.goto(&app.url("/login")).await.expect("open /login");
    type_into(c, "input[name=login_id]", login_id).await;
    type_into(c, "input[name=password]", PASSWORD).await;
    click_button(c, "로그인").await;
    wait_xpath(
        c,
        &format!("//a[contains(@class,'topbar-user')][normalize-space()={}]", xq(&format!("{login_id} 님"))),
        "signed-in top bar",
    )
    .await;
}

// ------------------------------------------------------------------------------ page helpers

/// An XPath string literal (the texts used here contain no apostrophes).
pub fn xq(s: &str) -> String {
    assert!(!s.contains('\''), "xq: {s}");
    format!("'{s}'")
}

/// A query parameter of a page URL (`reqwest::Url` is the `url::Url` fantoccini returns).
pub fn query(url: &reqwest::Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

pub async fn wait_xpath(c: &Client, xpath: &str, what: &str) -> Element {
    match c.wait().at_most(WAIT).for_element(Locator::XPath(xpath)).await {
        Ok(e) => e,
        Err(e) => panic!("waiting for {what} ({xpath}): {e}; page at {}:\n{}", url_of(c).await, body_text(c).await),
    }
}

pub async fn wait_flash(c: &Client, text: &str) -> Element {
    let flash = wait_xpath(c, &format!("//p[contains(@class,'flash')][normalize-space()={}]", xq(text)), &format!("flash {text:?}")).await;
    let class = flash.attr("class").await.unwrap().unwrap_or_default();
    assert!(class.contains("flash-ok"), "flash {text:?} is a success notice: class={class:?}");
    assert!(flash.is_displayed().await.unwrap(), "flash {text:?} is visible");
    flash
}

pub async fn url_of(c: &Client) -> String {
    c.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("<{e}>"))
}

pub async fn body_text(c: &Client) -> String {
    match c.find(Locator::Css("body")).await {
        Ok(b) => b.text().await.unwrap_or_default(),
        Err(e) => format!("<{e}>"),
    }
}

pub async fn field(c: &Client, css: &str) -> Element {
    c.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("field {css}: {e}"))
}

/// The trimmed text of the first element matching `css`.
pub async fn text_of(c: &Client, css: &str) -> String {
    field(c, css).await.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}")).trim().to_owned()
}

/// Types like a person (key events, so the page's input listeners run). The field is scrolled
/// into view and focused by WebDriver rather than tapped: scrolled to the centre, consecutive
/// fields sit under the same point, and with touch emulation a second quick tap there left the
/// field focused but deaf to the keys that followed (apparently taken as a double tap).
pub async fn type_into(c: &Client, css: &str, text: &str) {
    let el = field(c, css).await;
    scroll_into_view(c, &el).await;
    el.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    assert_eq!(el.prop("value").await.unwrap().as_deref(), Some(text), "{css} holds what was typed");
}

/// Replaces a field's value by selecting all and typing over it.
pub async fn set_value(c: &Client, css: &str, text: &str) {
    let el = field(c, css).await;
    el.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
    el.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    assert_eq!(el.prop("value").await.unwrap().as_deref(), Some(text), "{css} holds what was typed");
}

pub async fn scroll_into_view(c: &Client, el: &Element) {
    let arg = serde_json::to_value(el).expect("element as a script argument");
    c.execute("arguments[0].scrollIntoView({block: 'center'});", vec![arg]).await.expect("scroll into view");
}

/// Clicks the submit button with this label (the tab bar and cards have other buttons).
pub async fn click_button(c: &Client, label: &str) {
    let button = wait_xpath(c, &format!("//button[@type='submit'][normalize-space()={}]", xq(label)), &format!("button {label:?}")).await;
    scroll_into_view(c, &button).await;
    button.click().await.unwrap_or_else(|e| panic!("click {label:?}: {e}"));
}

/// Trimmed texts of the matching elements that show something.
pub async fn visible_texts(c: &Client, css: &str) -> Vec<String> {
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

pub struct Screenshots {
    pub dir: PathBuf,
}

impl Screenshots {
    pub fn new() -> Self {
        let dir = match std::env::var_os("GONGGU_SCREENSHOT_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots"),
        };
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create screenshot dir {}: {e}", dir.display()));
        Self { dir: dir.canonicalize().unwrap_or(dir) }
    }

    pub async fn take(&self, c: &Client, name: &str) {
        let png = c.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "screenshot {name} is a PNG");
        let path = self.dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

// ------------------------------------------------------------------------------ chromedriver

pub fn find_chromedriver() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/bin/chromedriver");
    if fixed.is_file() {
        return Some(fixed);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("chromedriver")).find(|p| p.is_file())
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// The chromedriver process (in its own process group, so that the browsers it starts go with
/// it); killed on drop, also when the test panics.
pub struct Chromedriver {
    child: Child,
    pub url: String,
}

impl Chromedriver {
    pub async fn start(binary: &Path, log: &Path) -> Self {
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

/// Whether a new session's browser lets the app show notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notifications {
    /// As if the person had tapped 허용 already.
    Allowed,
    /// Not asked yet (`Notification.permission` is "default"); a test grants it through [`cdp::Cdp`].
    Ask,
}

/// A Chromium session through `driver`, with its profile in `profile`, on a phone-sized screen.
pub async fn connect(driver: &Chromedriver, profile: &Path, width: u32, height: u32, notifications: Notifications) -> Client {
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
        format!("--window-size={width},{height}"),
    ];
    args.push(format!("--user-data-dir={}", profile.display()));
    // Desktop Chromium will not make a window narrower than 500 px, so the phone screen comes
    // from device emulation (which also makes it a touch screen).
    let mut options = json!({
        "args": args,
        "mobileEmulation": { "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "touch": true, "mobile": true } },
    });
    if notifications == Notifications::Allowed {
        // As a person's tap on "허용" in the permission prompt would (a headless browser shows
        // no prompt to tap).
        options["prefs"] = json!({ "profile.default_content_setting_values.notifications": 1 });
    }
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
    builder.connect(&driver.url).await.unwrap_or_else(|e| panic!("start a Chromium session through {}: {e}", driver.url))
}
