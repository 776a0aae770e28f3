//! The test harness: the real application on port 0 with a fresh data directory per test.

#![allow(dead_code)]

use std::{path::PathBuf, sync::Arc};

use gonggu::{Application, Overrides, Settings};
use gonggu_kernel::clock::Clock;
use reqwest::{header, Response, StatusCode};
use serde_json::{json, Value};

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub api: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    pub clock: Clock,
    pub accounts: Arc<gonggu_accounts::Accounts>,
    pub wallet: Arc<gonggu_wallet::Wallet>,
    pub auth: Arc<gonggu_kernel::auth::Authenticator>,
    pub deals: Arc<gonggu_deals::Deals>,
}

pub const PASSWORD: &str = "coffee-and-tissues-42";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app; `configure` may change settings (e.g. a PostgreSQL database URL).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_tuned(configure, |_| {}).await
}

/// As [`spawn_app_with`], and `tune` may change what tests override in the wiring.
pub async fn spawn_app_tuned(configure: impl FnOnce(&mut Settings), tune: impl FnOnce(&mut Overrides)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::defaults();
    settings.data_dir = data_dir.path().to_path_buf();
    settings.http.addr = "127.0.0.1:0".parse().unwrap();
    // Lets tests pose as different clients with X-Forwarded-For.
    settings.http.trust_proxy = true;
    configure(&mut settings);
    let clock = Clock::manual(chrono::Utc::now());
    // Argon2id at OWASP cost is most of a sign-up's time; tests that are about hashing put the
    // real hasher back through `tune`.
    let hasher = Some(gonggu_accounts::password::PasswordHasher::for_tests());
    let mut overrides = Overrides { clock: Some(clock.clone()), hasher, ..Default::default() };
    tune(&mut overrides);
    let app = Application::build_with(settings, overrides).await.expect("app builds");
    let port = app.port();
    let accounts = app.accounts.clone();
    let wallet = app.wallet.clone();
    let auth = app.auth.clone();
    let deals = app.deals.clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        api: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        data_dir,
        clock,
        accounts,
        wallet,
        auth,
        deals,
    }
}

/// One instance of the scaled mode: the NATS JetStream bus under `prefix` and the PostgreSQL
/// database `pg`; instances started with the same arguments work as one deployment.
pub async fn spawn_scaled_instance(nats_url: &str, prefix: &str, pg: &str, secret: &str, tune: impl FnOnce(&mut Overrides)) -> TestApp {
    spawn_app_tuned(
        |s| {
            s.bus = gonggu::settings::BusKind::Nats;
            s.nats.url = Some(nats_url.to_owned());
            s.nats.prefix = prefix.to_owned();
            s.database.url = Some(gonggu::settings::Secret::new(pg.to_owned()));
            s.auth.jwt_secret = Some(gonggu::settings::Secret::new(secret.to_owned()));
            // Push tests' local push-service stubs listen on 127.0.0.1.
            s.push.allow_insecure_loopback = true;
        },
        tune,
    )
    .await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.api.post(self.url(path)).json(body).send().await.expect("request")
    }

    pub async fn post_json_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.api.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    pub async fn put_json_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.api.put(self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    pub async fn patch_json_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.api.patch(self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.api.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.api.get(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    pub async fn delete_json_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.api.delete(self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    pub async fn delete_as(&self, path: &str, token: &str) -> Response {
        self.api.delete(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    pub async fn register(&self, login_id: &str) -> Value {
        let res = self
            .post_json(
                "/api/v1/auth/register",
                &json!({"login_id": login_id, "email": format!("{login_id}@example.com"), "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "register {login_id}");
        res.json().await.unwrap()
    }

    pub async fn login(&self, login_id: &str, password: &str) -> Response {
        self.post_json("/api/v1/auth/login", &json!({"login_id": login_id, "password": password})).await
    }

    /// Registers and logs in; returns the token pair JSON.
    pub async fn signed_in(&self, login_id: &str) -> Value {
        self.register(login_id).await;
        let res = self.login(login_id, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// Signs `client` in through the login form, as a browser does; returns the CSRF token of the
    /// new session (it is bound to the session, so the one of the login page no longer works).
    pub async fn form_login(&self, client: &reqwest::Client, login_id: &str) -> String {
        let token = csrf_token(&client.get(self.url("/login")).send().await.unwrap().text().await.unwrap());
        let res = client
            .post(self.url("/login"))
            .form(&[("csrf_token", token.as_str()), ("login_id", login_id), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "form login as {login_id}");
        csrf_token(&client.get(self.url("/me")).send().await.unwrap().text().await.unwrap())
    }

    /// An access token for a synthetic user, minted with the app's key (for tests that need many
    /// users of other contexts without paying for sign-up and Argon2 each time).
    pub fn token_for(&self, login_id: &str) -> String {
        self.auth.issue(uuid::Uuid::now_v7(), login_id, uuid::Uuid::now_v7(), chrono::Utc::now()).unwrap()
    }

    /// Runs the deals deadline pass now (instead of waiting for its timer).
    pub async fn deals_tick(&self) {
        self.deals.tick().await.unwrap();
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.path().join("mail")
    }

    /// The newest mail sent to `to`, waiting briefly because mail goes out in the background.
    pub async fn mail_to(&self, to: &str) -> String {
        for _ in 0..100 {
            let mut found: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(self.mail_dir())
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter_map(|e| {
                            let text = std::fs::read_to_string(e.path()).ok()?;
                            let modified = e.metadata().ok()?.modified().ok()?;
                            text.contains(&format!("To: {to}")).then_some((modified, text))
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            if let Some((_, text)) = found.pop() {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no mail to {to}");
    }

    pub fn mail_count(&self) -> usize {
        std::fs::read_dir(self.mail_dir()).map(|d| d.count()).unwrap_or(0)
    }

    /// The six-digit code in the newest mail to `to`.
    pub async fn code_for(&self, to: &str) -> String {
        extract_code(&self.mail_to(to).await)
    }
}

/// Finds the 6-digit code in a mail body (the body may be quoted-printable or base64 encoded).
pub fn extract_code(eml: &str) -> String {
    let body = decode_body(eml);
    let re = regex_lite_six_digits(&body);
    re.unwrap_or_else(|| panic!("no code in mail: {body}"))
}

fn decode_body(eml: &str) -> String {
    let (headers, body) = eml.split_once("\r\n\r\n").or_else(|| eml.split_once("\n\n")).unwrap_or(("", eml));
    if headers.to_ascii_lowercase().contains("content-transfer-encoding: base64") {
        use base64::Engine;
        let joined: String = body.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD.decode(joined).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        body.to_owned()
    }
}

fn regex_lite_six_digits(s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    for i in 0..chars.len() {
        if i + 6 <= chars.len()
            && chars[i..i + 6].iter().all(|c| c.is_ascii_digit())
            && (i == 0 || !chars[i - 1].is_ascii_digit())
            && (i + 6 == chars.len() || !chars[i + 6].is_ascii_digit())
        {
            return Some(chars[i..i + 6].iter().collect());
        }
    }
    None
}

/// The error envelope of a response, asserting its shape.
pub async fn error_of(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let ct = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body: Value = res.json().await.unwrap_or_else(|e| panic!("error body is JSON ({ct}): {e}"));
    let err = body.get("error").unwrap_or_else(|| panic!("envelope: {body}"));
    assert!(err["code"].is_string() && err["message"].is_string(), "envelope: {body}");
    assert!(err["request_id"].is_string(), "request id in envelope: {body}");
    (status, err.clone())
}

/// A client that keeps cookies and does not follow redirects, as the page tests need.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The CSRF token in a page's form.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("csrf field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}
