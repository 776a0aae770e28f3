//! The web shell shared by every context's pages: the layout, embedded assets, cookie
//! sessions with transparent refresh, and CSRF protection for forms.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::{
    extract::{FromRequest, FromRequestParts, Path, Request, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
    Form,
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::auth::{AuthUser, Authenticator, TokenError};
use crate::error::ApiError;

// ---------------------------------------------------------------------------------------------
// Assets, embedded in the binary and addressed by content hash.

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $ct:literal) => {
        Asset { path: $path, content_type: $ct, bytes: include_bytes!(concat!("../assets/", $path)) }
    };
}

pub static ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("icons/icon-192.png", "image/png"),
    asset!("icons/icon-512.png", "image/png"),
    asset!("icons/maskable-512.png", "image/png"),
    asset!("icons/apple-touch-icon.png", "image/png"),
    asset!("icons/favicon-32.png", "image/png"),
];

static SERVICE_WORKER: &[u8] = include_bytes!("../assets/sw.js");
static MANIFEST: &[u8] = include_bytes!("../assets/manifest.webmanifest");
static OFFLINE: &[u8] = include_bytes!("../assets/offline.html");

fn hashes() -> &'static Vec<(&'static str, String)> {
    static H: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    H.get_or_init(|| ASSETS.iter().map(|a| (a.path, hex(&Sha256::digest(a.bytes)[..6]))).collect())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `/assets/<path>?v=<hash>`: the URL changes whenever the file does, so it can be cached forever.
pub fn asset_url(path: &str) -> String {
    let hash = hashes().iter().find(|(p, _)| *p == path).map(|(_, h)| h.as_str()).unwrap_or("0");
    format!("/assets/{path}?v={hash}")
}

/// A version string for the service worker's caches: changes whenever any asset does.
pub fn build_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut h = Sha256::new();
        for a in ASSETS {
            h.update(a.bytes);
        }
        h.update(SERVICE_WORKER);
        h.update(OFFLINE);
        h.update(env!("CARGO_PKG_VERSION"));
        hex(&h.finalize()[..6])
    })
}

pub async fn serve_asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => ([(header::CONTENT_TYPE, a.content_type), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], a.bytes)
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The service worker, at the root so that its scope is the whole site. Never cached by HTTP,
/// so that an update reaches users on their next visit; its cache name carries the build version.
pub async fn serve_service_worker() -> Response {
    let body = String::from_utf8_lossy(SERVICE_WORKER)
        .replace("__BUILD_VERSION__", build_version())
        .replace("__APP_CSS__", &asset_url("app.css"))
        .replace("__APP_JS__", &asset_url("app.js"))
        .replace("__ICON_192__", &asset_url("icons/icon-192.png"));
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

pub async fn serve_manifest() -> Response {
    let body = String::from_utf8_lossy(MANIFEST)
        .replace("__ICON_192__", &asset_url("icons/icon-192.png"))
        .replace("__ICON_512__", &asset_url("icons/icon-512.png"))
        .replace("__MASKABLE_512__", &asset_url("icons/maskable-512.png"));
    ([(header::CONTENT_TYPE, "application/manifest+json"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

pub async fn serve_offline() -> Response {
    let body = String::from_utf8_lossy(OFFLINE).replace("__APP_CSS__", &asset_url("app.css"));
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

// ---------------------------------------------------------------------------------------------
// Layout.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tab {
    Deals,
    NewDeal,
    Chat,
    Wallet,
    Me,
    None,
}

const TABS: [(Tab, &str, &str, &str); 5] = [
    (Tab::Deals, "/", "공구 목록", "🛒"),
    (Tab::NewDeal, "/deals/new", "공구 등록", "➕"),
    (Tab::Chat, "/chat", "채팅", "💬"),
    (Tab::Wallet, "/wallet", "공구페이", "🪙"),
    (Tab::Me, "/me", "내 정보", "👤"),
];

/// What every page needs to know about the request it renders for.
pub struct Page<'a> {
    pub title: &'a str,
    pub tab: Tab,
    pub user: Option<&'a AuthUser>,
    /// A notice shown on top (e.g. "저장되었습니다").
    pub flash: Option<Flash>,
}

#[derive(Clone, Debug)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Self {
        Self { ok: true, text: text.into() }
    }
    pub fn error(text: impl Into<String>) -> Self {
        Self { ok: false, text: text.into() }
    }
}

pub fn layout(page: Page<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ko" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover";
                title { (page.title) " · 공구마켓" }
                meta name="description" content="우리 동네 이웃과 함께 나누는 공동구매, 공구마켓";
                meta name="theme-color" content="#ff7a00";
                link rel="manifest" href="/manifest.webmanifest";
                link rel="icon" type="image/png" href=(asset_url("icons/favicon-32.png"));
                link rel="apple-touch-icon" href=(asset_url("icons/apple-touch-icon.png"));
                link rel="stylesheet" href=(asset_url("app.css"));
                script type="module" src=(asset_url("app.js")) {}
            }
            body {
                header.topbar {
                    a.brand href="/" { "공구마켓" }
                    @if let Some(u) = page.user {
                        a.topbar-user href="/me" { (u.login_id) " 님" }
                    } @else {
                        a.topbar-user href="/login" { "로그인" }
                    }
                }
                main id="main" class="container" {
                    @if let Some(f) = &page.flash {
                        p.flash.(if f.ok { "flash-ok" } else { "flash-error" }) role=(if f.ok { "status" } else { "alert" }) { (f.text) }
                    }
                    (body)
                }
                nav.tabbar aria-label="주 메뉴" {
                    @for (tab, href, label, icon) in TABS {
                        a.tab href=(href) aria-current=[(tab == page.tab).then_some("page")] {
                            span.tab-icon aria-hidden="true" { (icon) }
                            span.tab-label { (label) }
                        }
                    }
                }
                div id="update-banner" class="update-banner" hidden {
                    span { "새 버전이 있습니다." }
                    button id="update-reload" type="button" { "새로고침" }
                }
            }
        }
    }
}

/// A full-page error in the shell (for pages, not the API).
pub fn error_page(status: StatusCode, title: &str, message: &str, user: Option<&AuthUser>) -> Response {
    let body = html! {
        section.card.empty {
            h1 { (title) }
            p { (message) }
            a.button href="/" { "홈으로" }
        }
    };
    (status, layout(Page { title, tab: Tab::None, user, flash: None }, body)).into_response()
}

pub async fn page_not_found(user: Option<axum::Extension<AuthUser>>) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "페이지를 찾을 수 없습니다",
        "주소가 바뀌었거나 아직 준비되지 않은 페이지입니다.",
        user.as_ref().map(|u| &u.0),
    )
}

/// Renders a `<input type=hidden>` carrying the CSRF token.
pub fn csrf_field(token: &CsrfToken) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(token.0); }
}

pub fn raw(s: &str) -> PreEscaped<String> {
    PreEscaped(s.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Cookies.

/// Cookie names and flags. Over HTTPS the names carry the `__Host-` prefix (which requires
/// `Secure`, `Path=/` and no `Domain`), so no subdomain can plant or read them.
#[derive(Clone, Copy, Debug)]
pub struct CookieConfig {
    pub secure: bool,
}

impl CookieConfig {
    pub fn access_name(&self) -> &'static str {
        if self.secure {
            "__Host-gonggu_access"
        } else {
            "gonggu_access"
        }
    }
    pub fn refresh_name(&self) -> &'static str {
        if self.secure {
            "__Host-gonggu_refresh"
        } else {
            "gonggu_refresh"
        }
    }
    pub fn csrf_name(&self) -> &'static str {
        if self.secure {
            "__Host-gonggu_csrf"
        } else {
            "gonggu_csrf"
        }
    }

    pub fn cookie(&self, name: &'static str, value: String, max_age: Option<time_compat::Duration>) -> Cookie<'static> {
        let mut c = Cookie::build((name, value)).path("/").http_only(true).secure(self.secure).same_site(SameSite::Lax).build();
        if let Some(age) = max_age {
            c.set_max_age(age);
        }
        c
    }

    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut c = self.cookie(name, String::new(), None);
        c.make_removal();
        c
    }

    /// Cookies for a fresh login (or refresh): access for 15 minutes, refresh until the session's absolute end.
    pub fn session_cookies(&self, jar: CookieJar, access: String, refresh: String, refresh_secs: i64) -> CookieJar {
        jar.add(self.cookie(self.access_name(), access, Some(time_compat::Duration::seconds(15 * 60)))).add(self.cookie(
            self.refresh_name(),
            refresh,
            Some(time_compat::Duration::seconds(refresh_secs.max(0))),
        ))
    }

    pub fn clear_session(&self, jar: CookieJar) -> CookieJar {
        jar.add(self.removal(self.access_name())).add(self.removal(self.refresh_name()))
    }
}

/// `cookie` re-exports the `time` crate's Duration; name it once here.
pub mod time_compat {
    pub use time::Duration;
}

// ---------------------------------------------------------------------------------------------
// Cookie sessions.

pub struct RefreshedSession {
    pub user: AuthUser,
    pub access_token: String,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
}

/// Turns a refresh cookie into a new token pair. `accounts` implements it; the binary hands it
/// to every context's page middleware so an expired access cookie is renewed in-process.
#[async_trait]
pub trait SessionRefresher: Send + Sync {
    async fn refresh(
        &self,
        refresh_token: &str,
        user_agent: Option<&str>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<RefreshedSession, ApiError>;
}

#[derive(Clone)]
pub struct WebSession {
    pub auth: Arc<Authenticator>,
    pub refresher: Option<Arc<dyn SessionRefresher>>,
    pub cookies: CookieConfig,
    /// The origin users see (e.g. `https://gonggu.example`), for the CSRF Origin check.
    pub public_origin: String,
}

/// Page middleware: authenticates from the access cookie, renews it from the refresh cookie when
/// it has expired, and makes sure a CSRF cookie exists. Puts [`AuthUser`] and [`CsrfToken`] into
/// the request for the extractors below.
pub async fn web_session(State(ws): State<WebSession>, jar: CookieJar, mut req: Request, next: Next) -> Response {
    let mut jar_out = CookieJar::new();
    let csrf = match jar.get(ws.cookies.csrf_name()) {
        Some(c) if c.value().len() >= 32 => c.value().to_owned(),
        _ => {
            let token = crate::random_token(32);
            let mut c = ws.cookies.cookie(ws.cookies.csrf_name(), token.clone(), None);
            c.set_same_site(SameSite::Strict);
            jar_out = jar_out.add(c);
            token
        }
    };
    req.extensions_mut().insert(CsrfToken(csrf));
    req.extensions_mut().insert(ws.clone());

    let access = jar.get(ws.cookies.access_name()).map(|c| c.value().to_owned());
    let mut user = match access.as_deref().map(|t| ws.auth.verify(t)) {
        Some(Ok(u)) => Some(u),
        _ => None,
    };
    if user.is_none() {
        if let (Some(refresh), Some(refresher)) = (jar.get(ws.cookies.refresh_name()), ws.refresher.as_ref()) {
            let ua = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let ip = crate::http::ClientIp::from_request_parts(&mut req_parts_view(&mut req), &()).await.ok().map(|c| c.0);
            match refresher.refresh(refresh.value(), ua.as_deref(), ip).await {
                Ok(s) => {
                    jar_out = ws.cookies.session_cookies(jar_out, s.access_token, s.refresh_token, s.refresh_expires_in);
                    user = Some(s.user);
                }
                Err(_) => jar_out = ws.cookies.clear_session(jar_out),
            }
        } else if access.is_some() {
            jar_out = jar_out.add(ws.cookies.removal(ws.cookies.access_name()));
        }
    }
    if let Some(u) = user {
        req.extensions_mut().insert(u);
    }
    let res = next.run(req).await;
    let mut res = (jar_out, res).into_response();
    // Pages show personal data; keep them out of shared caches.
    res.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("private, no-cache"));
    res.headers_mut().append(header::VARY, HeaderValue::from_static("Cookie"));
    res
}

/// Borrow a request's head as `Parts`-like view for extractors that only read headers/extensions.
fn req_parts_view(req: &mut Request) -> Parts {
    let (mut parts, _) = Request::new(()).into_parts();
    parts.headers = req.headers().clone();
    parts.extensions = req.extensions().clone();
    parts.uri = req.uri().clone();
    parts.method = req.method().clone();
    parts
}

/// A signed-in user on a page; otherwise a redirect to the login page that comes back here.
pub struct WebUser(pub AuthUser);

pub struct LoginRedirect(String);

impl IntoResponse for LoginRedirect {
    fn into_response(self) -> Response {
        Redirect::to(&format!("/login?next={}", urlencode(&self.0))).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebUser {
    type Rejection = LoginRedirect;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<AuthUser>() {
            Some(u) => Ok(WebUser(u.clone())),
            None => Err(LoginRedirect(parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into()))),
        }
    }
}

/// The signed-in user, if any.
pub struct MaybeWebUser(pub Option<AuthUser>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeWebUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeWebUser(parts.extensions.get::<AuthUser>().cloned()))
    }
}

// ---------------------------------------------------------------------------------------------
// CSRF: a double-submit token (cookie = form field, compared in constant time) plus a check
// that the browser says the form came from our own origin.

#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<CsrfToken>().cloned().ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

pub trait HasCsrfToken {
    fn csrf_token(&self) -> &str;
}

/// A form that passed the CSRF checks. Rejections are a 403 page.
pub struct CsrfForm<T>(pub T);

pub struct CsrfRejected(&'static str);

impl IntoResponse for CsrfRejected {
    fn into_response(self) -> Response {
        tracing::info!(reason = self.0, "form rejected by CSRF check");
        error_page(
            StatusCode::FORBIDDEN,
            "요청을 처리할 수 없습니다",
            "페이지가 오래되었거나 다른 사이트에서 보낸 요청입니다. 페이지를 새로고침한 뒤 다시 시도해 주세요.",
            None,
        )
    }
}

pub fn origin_allowed(headers: &HeaderMap, public_origin: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site == "cross-site" || site == "same-site" {
            return false;
        }
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true, // old browsers; the token still has to match
        Some("null") => false,
        Some(origin) => {
            origin.eq_ignore_ascii_case(public_origin)
                || headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .is_some_and(|host| origin.split("://").nth(1).is_some_and(|o| o.eq_ignore_ascii_case(host)))
        }
    }
}

/// The first half of every CSRF check, before the body is read: the request comes from our own
/// origin. Returns the token the cookie holds, if any.
fn csrf_origin_check(req: &Request) -> Result<Option<CsrfToken>, CsrfRejected> {
    let origin = req.extensions().get::<WebSession>().map(|w| w.public_origin.as_str()).unwrap_or_default();
    if !origin_allowed(req.headers(), origin) {
        return Err(CsrfRejected("origin"));
    }
    Ok(req.extensions().get::<CsrfToken>().cloned())
}

/// The second half: the form's token equals the cookie's (double submit, constant-time).
fn csrf_token_check(given: &str, expected: Option<CsrfToken>) -> Result<(), CsrfRejected> {
    let Some(expected) = expected else { return Err(CsrfRejected("no cookie")) };
    if given.is_empty() || !bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.0.as_bytes())) {
        return Err(CsrfRejected("token mismatch"));
    }
    Ok(())
}

impl<T, S> FromRequest<S> for CsrfForm<T>
where
    T: DeserializeOwned + HasCsrfToken,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let expected = csrf_origin_check(&req).map_err(IntoResponse::into_response)?;
        let Form(form) = Form::<T>::from_request(req, state).await.map_err(|e| {
            error_page(StatusCode::BAD_REQUEST, "잘못된 요청입니다", &format!("양식을 읽을 수 없습니다: {}", e.body_text()), None)
        })?;
        csrf_token_check(form.csrf_token(), expected).map_err(IntoResponse::into_response)?;
        Ok(CsrfForm(form))
    }
}

/// A multipart form (a form with files) that passed the same CSRF checks as [`CsrfForm`]. Text
/// fields become `T` (every field a string); files of the field `file_field` are collected, empty
/// ones (no file chosen) skipped.
pub struct CsrfMultipart<T> {
    pub form: T,
    pub files: Vec<Vec<u8>>,
}

pub trait MultipartFiles {
    /// The name of the file input, e.g. `photos`.
    const FILE_FIELD: &'static str;
}

impl<T, S> FromRequest<S> for CsrfMultipart<T>
where
    T: DeserializeOwned + HasCsrfToken + MultipartFiles,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let expected = csrf_origin_check(&req).map_err(IntoResponse::into_response)?;
        let bad = |why: String| error_page(StatusCode::BAD_REQUEST, "잘못된 요청입니다", &format!("양식을 읽을 수 없습니다: {why}"), None);
        let mut multipart = axum::extract::Multipart::from_request(req, state).await.map_err(|e| bad(e.body_text()))?;
        let mut fields = serde_json::Map::new();
        let mut files = vec![];
        while let Some(field) = multipart.next_field().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                error_page(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "파일이 너무 큽니다",
                    "사진은 한 장에 5MB, 한 번에 5장까지 올릴 수 있습니다.",
                    None,
                )
            } else {
                bad(e.body_text())
            }
        })? {
            let name = field.name().unwrap_or("").to_owned();
            if name == T::FILE_FIELD {
                let bytes = field.bytes().await.map_err(|e| bad(e.body_text()))?;
                if !bytes.is_empty() {
                    files.push(bytes.to_vec());
                }
            } else {
                let text = field.text().await.map_err(|e| bad(e.body_text()))?;
                fields.insert(name, serde_json::Value::String(text));
            }
        }
        let form: T = serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| bad(e.to_string()))?;
        csrf_token_check(form.csrf_token(), expected).map_err(IntoResponse::into_response)?;
        Ok(CsrfMultipart { form, files })
    }
}

/// Splits an API error for a form page: per-field messages, and a page notice — the error's own
/// message when no field is named, else `summary` if given.
pub fn split_error(e: &ApiError, summary: Option<&str>) -> (crate::error::FieldErrors, Option<Flash>) {
    let fields: crate::error::FieldErrors =
        e.details.as_ref().and_then(|d| d.get("fields")).and_then(|f| serde_json::from_value(f.clone()).ok()).unwrap_or_default();
    let flash = if fields.is_empty() { Some(Flash::error(e.message.clone())) } else { summary.map(Flash::error) };
    (fields, flash)
}

/// The status a page answers a refused form with: the error's own 4xx/5xx.
pub fn error_status(e: &ApiError) -> StatusCode {
    if e.status.is_client_error() || e.status.is_server_error() {
        e.status
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// Implements [`HasCsrfToken`] for form types that have a `csrf_token: String` field.
#[macro_export]
macro_rules! csrf_forms {
    ($($t:ty),* $(,)?) => { $(impl $crate::web::HasCsrfToken for $t { fn csrf_token(&self) -> &str { &self.csrf_token } })* };
}

/// Percent-encodes a string for a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A `next=` target is only followed when it is a local path (no open redirects).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") && !n.contains("://") => n.to_owned(),
        _ => "/".to_owned(),
    }
}

impl From<TokenError> for LoginRedirect {
    fn from(_: TokenError) -> Self {
        LoginRedirect("/".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_be_local() {
        assert_eq!(safe_next(Some("/me")), "/me");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn cross_site_forms_are_refused() {
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!origin_allowed(&h, "http://127.0.0.1:8080"));
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(!origin_allowed(&h, "http://127.0.0.1:8080"));
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(origin_allowed(&h, "http://127.0.0.1:8080"));
    }

    #[test]
    fn asset_urls_carry_hashes() {
        let u = asset_url("app.css");
        assert!(u.starts_with("/assets/app.css?v=") && u.len() > "/assets/app.css?v=".len() + 6, "{u}");
    }
}

/// Formats a UTC instant for people in Korea (Asia/Seoul is UTC+9 all year):
/// `2026년 11월 25일 오후 7:05`.
pub fn format_kst(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let k = t.with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("valid offset"));
    let (pm, h12) = k.hour12();
    format!("{}년 {}월 {}일 {} {}:{:02}", k.year(), k.month(), k.day(), if pm { "오후" } else { "오전" }, h12, k.minute())
}

/// Thousands separators, as Korean prices are written: `1234567` → `1,234,567`.
pub fn group_digits(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An amount of money on a page: `25,990원`.
pub fn won(n: i64) -> String {
    format!("{}원", group_digits(n))
}

#[cfg(test)]
mod number_tests {
    use super::group_digits;
    use proptest::prelude::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(100000), "100,000");
        assert_eq!(group_digits(-1234567), "-1,234,567");
    }

    proptest! {
        #[test]
        fn grouping_round_trips(n in any::<i64>().prop_filter("not MIN", |n| *n != i64::MIN)) {
            prop_assert_eq!(group_digits(n).replace(',', "").parse::<i64>().unwrap(), n);
        }
    }
}

#[cfg(test)]
mod kst_tests {
    use chrono::TimeZone;

    #[test]
    fn formats_in_seoul_time() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 25, 10, 5, 0).unwrap();
        assert_eq!(super::format_kst(t), "2026년 11월 25일 오후 7:05");
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 25, 15, 30, 0).unwrap();
        assert_eq!(super::format_kst(t), "2026년 11월 26일 오전 12:30");
    }
}
