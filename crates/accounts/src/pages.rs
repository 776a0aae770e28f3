//! Accounts' web pages: log in, sign up, password reset, and the profile ("내 정보").
//! Plain HTML forms that work without JavaScript; `app.js` adds the live id check, inline
//! validation and geolocation on top.

use std::sync::Arc;

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Extension, Router,
};
use axum_extra::extract::cookie::CookieJar;
use gonggu_kernel::{
    error::FieldErrors,
    http::ClientIp,
    web::{
        csrf_field, flash, form_post, format_day_kst, format_kst, input, layout, place_picker, safe_next, see_other, split_error,
        urlencode, CsrfForm, CsrfToken, Flash, Input, MaybeWebUser, OnlyCsrf, Page, PageError, PlacePicker, Tab, WebSession, WebUser,
    },
    ApiError,
};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::service::{Accounts, NeighborhoodInput, RegisterInput, SessionView, UserView};

pub fn router(accounts: Arc<Accounts>) -> Router {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/register", get(register_page).post(register_submit))
        .route("/logout", form_post("/me", logout_submit))
        .route("/password-reset", get(reset_request_page).post(reset_request_submit))
        .route("/password-reset/confirm", get(reset_confirm_page).post(reset_confirm_submit))
        .route("/me", get(profile_page))
        // A form's route opened as a page (after login, from history) goes to the form.
        .route("/me/keywords", form_post("/me#keywords", keywords_submit))
        .route("/me/neighborhood", form_post("/me#neighborhood", neighborhood_submit))
        .route("/me/neighborhood/clear", form_post("/me#neighborhood", neighborhood_clear))
        .route("/me/neighborhood/reach", form_post("/", reach_submit))
        .route("/me/neighborhood/second", form_post("/me#neighborhood", second_submit))
        .route("/me/neighborhood/second/clear", form_post("/me#neighborhood", second_clear))
        .route("/me/neighborhood/switch", form_post("/me#neighborhood", switch_submit))
        .route("/me/email", form_post("/me#email", email_submit))
        .route("/me/email/verify", form_post("/me#email", email_verify_submit))
        .route("/me/password", form_post("/me#password", password_submit))
        .route("/me/sessions/{id}/revoke", form_post("/me#sessions", session_revoke))
        .route("/me/sessions/revoke-others", form_post("/me#sessions", sessions_revoke_others))
        .with_state(accounts)
}

gonggu_kernel::csrf_forms!(
    LoginForm,
    RegisterForm,
    EmailChangeForm,
    EmailForm,
    ResetConfirmForm,
    KeywordsForm,
    NeighborhoodForm,
    ReachForm,
    SecondForm,
    NextForm,
    CodeForm,
    PasswordForm
);

/// Messages a redirect can ask the next page to show (`?msg=`), so no text travels in URLs.
fn flash_for(code: Option<&str>) -> Option<Flash> {
    Some(match code? {
        "logged_out" => Flash::ok("로그아웃되었습니다."),
        "password_reset" => Flash::ok("비밀번호를 바꿨습니다. 새 비밀번호로 로그인해 주세요."),
        "keywords" => Flash::ok("관심 키워드를 저장했습니다."),
        "neighborhood" => Flash::ok("우리 동네를 저장했습니다."),
        "neighborhood_cleared" => Flash::ok("우리 동네를 지웠습니다."),
        "second_saved" => Flash::ok("다른 동네를 추가했습니다."),
        "second_cleared" => Flash::ok("다른 동네를 지웠습니다."),
        "switched" => Flash::ok("동네를 바꿨습니다."),
        "email_code_sent" => Flash::ok("새 이메일로 인증 코드를 보냈습니다. 10분 안에 입력해 주세요."),
        "email_changed" => Flash::ok("이메일을 바꿨습니다."),
        "password_changed" => Flash::ok("비밀번호를 바꿨습니다. 다른 기기는 로그아웃되었습니다."),
        "session_revoked" => Flash::ok("선택한 기기를 로그아웃했습니다."),
        "others_revoked" => Flash::ok("다른 기기를 모두 로그아웃했습니다."),
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
struct PageQuery {
    next: Option<String>,
    msg: Option<String>,
    email: Option<String>,
}

/// A form's answer: rate limits and server errors keep their status; every other refusal is
/// "fix the form" (422), whatever status the API would give.
fn status_of(e: &ApiError) -> StatusCode {
    if e.status.is_server_error() || e.status == StatusCode::TOO_MANY_REQUESTS {
        e.status
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

// ------------------------------------------------------------------------------------ log in

#[derive(Deserialize)]
struct LoginForm {
    csrf_token: String,
    login_id: String,
    password: String,
    next: Option<String>,
}

fn login_view(csrf: &CsrfToken, next: &str, login_id: &str, flash: Option<Flash>) -> Markup {
    layout(
        Page { title: "로그인", tab: Tab::Me, user: None, flash },
        html! {
            h1.page-title { "로그인" }
            section.card {
                form.stack method="post" action="/login" data-validate novalidate {
                    (csrf_field(csrf))
                    input type="hidden" name="next" value=(next);
                    (input(Input { name: "login_id", label: "아이디", value: login_id, autocomplete: "username", required: true, ..Default::default() }, &FieldErrors::new()))
                    (input(Input { name: "password", label: "비밀번호", kind: "password", value: "", autocomplete: "current-password", required: true, ..Default::default() }, &FieldErrors::new()))
                    button.primary.block type="submit" data-busy-label="로그인 중…" { "로그인" }
                }
                p.auth-links {
                    a href={ "/register?next=" (urlencode(next)) } { "회원가입" }
                    " · "
                    a href="/password-reset" { "비밀번호를 잊으셨나요?" }
                }
            }
        },
    )
}

async fn login_page(MaybeWebUser(user): MaybeWebUser, csrf: CsrfToken, Query(q): Query<PageQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    if user.is_some() {
        return see_other(&next);
    }
    login_view(&csrf, &next, "", flash_for(q.msg.as_deref())).into_response()
}

async fn login_submit(
    State(accounts): State<Arc<Accounts>>,
    Extension(ws): Extension<WebSession>,
    csrf: CsrfToken,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    match accounts.login(&form.login_id, &form.password, ua, ip).await {
        Ok(pair) => {
            let jar = ws.cookies.session_cookies(jar, pair.access_token, pair.refresh_token, pair.refresh_expires_in);
            // A new visitor id too: nothing of the signed-out visit carries over.
            let (jar, _) = ws.cookies.new_visitor(jar);
            (jar, see_other(&next)).into_response()
        }
        Err(e) => {
            // A busy hashing queue or a server error is not "wrong credentials".
            let status =
                if e.status.is_server_error() || e.status == StatusCode::TOO_MANY_REQUESTS { e.status } else { StatusCode::UNAUTHORIZED };
            let mut res = (status, login_view(&csrf, &next, &form.login_id, Some(Flash::error(e.message.clone())))).into_response();
            if let Some(secs) = e.retry_after_secs {
                res.headers_mut().insert(header::RETRY_AFTER, secs.into());
            }
            res
        }
    }
}

async fn logout_submit(
    State(accounts): State<Arc<Accounts>>,
    Extension(ws): Extension<WebSession>,
    MaybeWebUser(user): MaybeWebUser,
    jar: CookieJar,
    CsrfForm(_): CsrfForm<OnlyCsrf>,
) -> Response {
    let result = match (jar.get(ws.cookies.refresh_name()), &user) {
        (Some(refresh), _) => accounts.logout(refresh.value()).await,
        (None, Some(user)) => accounts.logout_session(user).await,
        (None, None) => Ok(()),
    };
    if let Err(e) = result {
        tracing::error!(error = %e.message, "logout failed");
    }
    // Also drop what the service worker cached; and a new visitor id, so that the next person
    // on this browser gets other CSRF tokens than the last session's visit had.
    let clear = [(axum::http::HeaderName::from_static("clear-site-data"), "\"cache\", \"storage\"")];
    let (jar, _) = ws.cookies.new_visitor(ws.cookies.clear_session(jar));
    (jar, clear, see_other("/login?msg=logged_out")).into_response()
}

// ------------------------------------------------------------------------------------ sign up

#[derive(Deserialize)]
struct RegisterForm {
    csrf_token: String,
    login_id: String,
    email: String,
    password: String,
    password_confirm: String,
    #[serde(flatten)]
    place: PlaceFields,
    next: Option<String>,
}

struct RegisterValues<'a> {
    login_id: &'a str,
    email: &'a str,
    place: &'a str,
    code: &'a str,
    next: &'a str,
}

fn register_view(csrf: &CsrfToken, v: RegisterValues<'_>, errors: &FieldErrors, flash: Option<Flash>) -> Markup {
    let hood_errors = place_errors(errors, "neighborhood.");
    layout(
        Page { title: "회원가입", tab: Tab::Me, user: None, flash },
        html! {
            h1.page-title { "회원가입" }
            section.card {
                form.stack method="post" action="/register" data-validate novalidate {
                    (csrf_field(csrf))
                    input type="hidden" name="next" value=(v.next);
                    label.field.invalid[errors.contains_key("login_id")] {
                        span.label { "아이디" }
                        input type="text" name="login_id" id="login_id" value=(v.login_id) required minlength="3" maxlength="20"
                            pattern="[a-z0-9_]{3,20}" autocomplete="username" autocapitalize="none" spellcheck="false"
                            data-pattern-message="아이디는 영어 소문자, 숫자, 밑줄(_)로 3~20자여야 합니다."
                            data-check-url="/api/v1/auth/login-id-available";
                        small.hint { "영어 소문자, 숫자, 밑줄(_) 3~20자" }
                        small id="login_id-status" aria-live="polite" {}
                        small.field-error { @if let Some(e) = errors.get("login_id") { (e) } }
                    }
                    (input(Input { name: "email", label: "이메일", kind: "email", value: v.email, autocomplete: "email", required: true, maxlength: Some("254"), hint: Some("비밀번호를 잊었을 때 인증 코드를 받습니다."), ..Default::default() }, errors))
                    (input(Input { name: "password", label: "비밀번호", kind: "password", value: "", autocomplete: "new-password", required: true, minlength: Some("8"), maxlength: Some("128"), hint: Some("8자 이상. 흔한 비밀번호는 쓸 수 없어요."), ..Default::default() }, errors))
                    (input(Input { name: "password_confirm", label: "비밀번호 확인", kind: "password", value: "", autocomplete: "new-password", required: true, must_match: Some("password"), ..Default::default() }, errors))
                    (neighborhood_picker(v.place, v.code, &hood_errors, "우리 동네 (선택)"))
                    button.primary.block type="submit" data-busy-label="가입하는 중…" { "가입하기" }
                }
                p.auth-links { "이미 계정이 있나요? " a href="/login" { "로그인" } }
            }
        },
    )
}

fn neighborhood_picker(text: &str, code: &str, errors: &FieldErrors, label: &str) -> Markup {
    let picker = PlacePicker {
        id: "neighborhood-place",
        label,
        text,
        code,
        hint: Some("동 이름으로 검색하거나 현재 위치로 찾으면 동네 인증이 돼요."),
        error_key: "place",
        locate: true,
        point: None,
    };
    place_picker(picker, errors)
}

/// The place picker's fields as a form posts them (`widgets::place_picker`); `name` is an
/// older form's own name for the neighbourhood.
#[derive(Deserialize, Default, Clone)]
struct PlaceFields {
    #[serde(default)]
    place: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    lon: String,
    #[serde(default)]
    verify: String,
    #[serde(default)]
    name: String,
}

/// Nothing filled in means "no neighbourhood". A picked 동 (`code`) or a located one (`lat`,
/// `lon`) is taken as it is; text alone (no script ran) must name one 동 unambiguously.
/// Errors are keyed `{prefix}place`.
fn parse_neighborhood(f: &PlaceFields, prefix: &str) -> Result<Option<NeighborhoodInput>, FieldErrors> {
    let blank = |v: &str| v.trim().is_empty();
    let fail = |m: &str| {
        let mut e = FieldErrors::new();
        e.insert(format!("{prefix}place"), m.to_owned());
        Err(e)
    };
    let name = (!blank(&f.name)).then(|| f.name.trim().to_owned());
    let verify = f.verify == "1";
    let point = if blank(&f.lat) && blank(&f.lon) {
        None
    } else {
        match (f.lat.trim().parse::<f64>(), f.lon.trim().parse::<f64>()) {
            (Ok(lat), Ok(lon)) => Some((lat, lon)),
            _ => return fail("위치 값이 올바르지 않습니다. 동 이름으로 검색해 주세요."),
        }
    };
    let code = if !blank(&f.code) {
        Some(f.code.trim().to_owned())
    } else if point.is_some() || blank(&f.place) {
        None
    } else {
        match gonggu_places::pick(&f.place) {
            Ok(p) => Some(p.code.to_string()),
            Err(e) => return fail(&e.to_string()),
        }
    };
    if code.is_none() && point.is_none() {
        return if name.is_some() { fail("동네를 검색해서 골라 주세요.") } else { Ok(None) };
    }
    let (lat, lon) = point.map_or((None, None), |(lat, lon)| (Some(lat), Some(lon)));
    Ok(Some(NeighborhoodInput { code, name, lat, lon, verify, reach_km: None }))
}

/// The errors of the neighbourhood fields (`{prefix}…`) as the picker shows them: the service
/// names `code`, `lat`, `lon` or `name`; the page has one field for them all.
fn place_errors(errors: &FieldErrors, prefix: &str) -> FieldErrors {
    errors
        .iter()
        .filter_map(|(k, m)| k.strip_prefix(prefix).map(|k| (k, m)))
        .map(|(k, m)| (if matches!(k, "code" | "lat" | "lon" | "name") { "place" } else { k }.to_owned(), m.clone()))
        .collect()
}

async fn register_page(MaybeWebUser(user): MaybeWebUser, csrf: CsrfToken, Query(q): Query<PageQuery>) -> Response {
    if user.is_some() {
        return see_other("/me");
    }
    let next = safe_next(q.next.as_deref());
    let v = RegisterValues { login_id: "", email: "", place: "", code: "", next: &next };
    register_view(&csrf, v, &FieldErrors::new(), None).into_response()
}

async fn register_submit(
    State(accounts): State<Arc<Accounts>>,
    Extension(ws): Extension<WebSession>,
    csrf: CsrfToken,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    CsrfForm(f): CsrfForm<RegisterForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let values = RegisterValues { login_id: &f.login_id, email: &f.email, place: &f.place.place, code: &f.place.code, next: &next };
    let neighborhood = match parse_neighborhood(&f.place, "neighborhood.") {
        Ok(n) => n,
        Err(errors) => return (StatusCode::UNPROCESSABLE_ENTITY, register_view(&csrf, values, &errors, None)).into_response(),
    };
    if f.password != f.password_confirm {
        let mut errors = FieldErrors::new();
        errors.insert("password_confirm".into(), "비밀번호가 일치하지 않습니다.".into());
        return (StatusCode::UNPROCESSABLE_ENTITY, register_view(&csrf, values, &errors, None)).into_response();
    }
    let input = RegisterInput { login_id: f.login_id.clone(), email: f.email.clone(), password: f.password.clone(), neighborhood };
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    match accounts.register_and_sign_in(input, ua, ip).await {
        Ok(pair) => {
            let jar = ws.cookies.session_cookies(jar, pair.access_token, pair.refresh_token, pair.refresh_expires_in);
            // As at login: nothing of the signed-out visit carries over.
            let (jar, _) = ws.cookies.new_visitor(jar);
            (jar, see_other(&next)).into_response()
        }
        Err(e) => {
            let (errors, flash) = split_error(&e, None);
            (status_of(&e), register_view(&csrf, values, &errors, flash)).into_response()
        }
    }
}

// ------------------------------------------------------------------------------ password reset

#[derive(Deserialize)]
struct EmailForm {
    csrf_token: String,
    email: String,
}

fn reset_request_view(csrf: &CsrfToken, email: &str, errors: &FieldErrors, flash: Option<Flash>) -> Markup {
    layout(
        Page { title: "비밀번호 재설정", tab: Tab::Me, user: None, flash },
        html! {
            h1.page-title { "비밀번호 재설정" }
            section.card {
                p.muted { "가입한 이메일을 입력하면 6자리 인증 코드를 보내 드립니다." }
                form.stack method="post" action="/password-reset" data-validate novalidate {
                    (csrf_field(csrf))
                    (input(Input { name: "email", label: "이메일", kind: "email", value: email, autocomplete: "email", required: true, ..Default::default() }, errors))
                    button.primary.block type="submit" data-busy-label="보내는 중…" { "인증 코드 받기" }
                }
                p.auth-links { a href="/password-reset/confirm" { "이미 코드를 받았어요" } " · " a href="/login" { "로그인" } }
            }
        },
    )
}

async fn reset_request_page(csrf: CsrfToken) -> Markup {
    reset_request_view(&csrf, "", &FieldErrors::new(), None)
}

async fn reset_request_submit(
    State(accounts): State<Arc<Accounts>>,
    csrf: CsrfToken,
    ClientIp(ip): ClientIp,
    CsrfForm(f): CsrfForm<EmailForm>,
) -> Response {
    match accounts.request_password_reset(&f.email, ip).await {
        Ok(()) => see_other(&format!("/password-reset/confirm?email={}", urlencode(f.email.trim()))),
        Err(e) => {
            let (errors, flash) = split_error(&e, None);
            (status_of(&e), reset_request_view(&csrf, &f.email, &errors, flash)).into_response()
        }
    }
}

#[derive(Deserialize)]
struct ResetConfirmForm {
    csrf_token: String,
    email: String,
    code: String,
    new_password: String,
    new_password_confirm: String,
}

fn reset_confirm_view(csrf: &CsrfToken, email: &str, errors: &FieldErrors, flash: Option<Flash>) -> Markup {
    layout(
        Page { title: "새 비밀번호", tab: Tab::Me, user: None, flash },
        html! {
            h1.page-title { "새 비밀번호 설정" }
            section.card {
                p.muted { "메일로 받은 6자리 코드를 10분 안에 입력해 주세요. 계정이 있는 이메일이면 코드가 도착합니다." }
                form.stack method="post" action="/password-reset/confirm" data-validate novalidate {
                    (csrf_field(csrf))
                    (input(Input { name: "email", label: "이메일", kind: "email", value: email, autocomplete: "email", required: true, ..Default::default() }, errors))
                    (input(Input { name: "code", label: "인증 코드", value: "", autocomplete: "one-time-code", required: true, inputmode: Some("numeric"), pattern: Some("[0-9]{6}"), pattern_message: Some("인증 코드는 숫자 6자리입니다."), maxlength: Some("6"), ..Default::default() }, errors))
                    (input(Input { name: "new_password", label: "새 비밀번호", kind: "password", value: "", autocomplete: "new-password", required: true, minlength: Some("8"), maxlength: Some("128"), ..Default::default() }, errors))
                    (input(Input { name: "new_password_confirm", label: "새 비밀번호 확인", kind: "password", value: "", autocomplete: "new-password", required: true, must_match: Some("new_password"), ..Default::default() }, errors))
                    button.primary.block type="submit" data-busy-label="바꾸는 중…" { "비밀번호 바꾸기" }
                }
            }
        },
    )
}

async fn reset_confirm_page(csrf: CsrfToken, Query(q): Query<PageQuery>) -> Markup {
    let flash = q.email.as_ref().map(|_| Flash::ok("인증 코드를 보냈습니다. 메일함을 확인해 주세요."));
    reset_confirm_view(&csrf, q.email.as_deref().unwrap_or(""), &FieldErrors::new(), flash)
}

async fn reset_confirm_submit(
    State(accounts): State<Arc<Accounts>>,
    csrf: CsrfToken,
    ClientIp(ip): ClientIp,
    CsrfForm(f): CsrfForm<ResetConfirmForm>,
) -> Response {
    if f.new_password != f.new_password_confirm {
        let mut errors = FieldErrors::new();
        errors.insert("new_password_confirm".into(), "비밀번호가 일치하지 않습니다.".into());
        return (StatusCode::UNPROCESSABLE_ENTITY, reset_confirm_view(&csrf, &f.email, &errors, None)).into_response();
    }
    match accounts.confirm_password_reset(&f.email, &f.code, &f.new_password, ip).await {
        Ok(()) => see_other("/login?msg=password_reset"),
        Err(e) => {
            let (errors, flash) = split_error(&e, None);
            (status_of(&e), reset_confirm_view(&csrf, &f.email, &errors, flash)).into_response()
        }
    }
}

// ------------------------------------------------------------------------------------ profile

#[derive(Default)]
struct ProfileState {
    errors: FieldErrors,
    flash: Option<Flash>,
    /// The section a success notice belongs to; it is shown there, where the user is looking.
    flash_at: Option<&'static str>,
    /// Values to put back into a form that failed.
    keywords: Option<String>,
    /// The picker's text and code.
    hood: Option<(String, String)>,
    /// The second neighbourhood's picker.
    second: Option<(String, String)>,
    email: Option<String>,
    show_code_form: bool,
}

fn user_agent_label(ua: Option<&str>) -> String {
    let ua = ua.unwrap_or("");
    let browser = ["Edg/", "Chrome/", "Firefox/", "Safari/"].iter().find(|b| ua.contains(*b)).map(|b| match *b {
        "Edg/" => "Edge",
        "Chrome/" => "Chrome",
        "Firefox/" => "Firefox",
        _ => "Safari",
    });
    let os =
        [("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"), ("Mac OS", "macOS"), ("Linux", "Linux")]
            .iter()
            .find(|(k, _)| ua.contains(k))
            .map(|(_, v)| *v);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} · {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => o.to_owned(),
        (None, None) if ua.is_empty() => "알 수 없는 기기".to_owned(),
        (None, None) => ua.chars().take(40).collect(),
    }
}

/// "역삼동 · 서울특별시 강남구 · 인증됨 2027년 1월 3일까지", or "미인증" / "인증 만료".
fn neighborhood_line(n: &crate::domain::Neighborhood, now: chrono::DateTime<chrono::Utc>) -> Markup {
    let district = n
        .code
        .as_deref()
        .and_then(gonggu_places::get)
        .map(|p| [p.sido, p.sigungu].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" "));
    html! {
        (n.name)
        @if let Some(d) = district { span.muted { " · " (d) } }
        @if let Some(at) = n.verified_at.filter(|_| n.verified(now)) {
            span.badge-verified title=(format!("{} 인증", format_kst(at))) { "인증됨" }
            small.muted { " " (format_day_kst(at + crate::domain::VERIFIED_FOR)) "까지" }
        } @else if n.code.is_some() {
            span.badge-unverified { @if n.verified_at.is_some() { "인증 만료" } @else { "미인증" } }
        }
    }
}

/// The second neighbourhood: switch to it, forget it, or add one (at most two).
fn second_neighborhood(csrf: &CsrfToken, me: &UserView, st: &ProfileState, now: chrono::DateTime<chrono::Utc>) -> Markup {
    // `st.second` is set when this form was the one sent, so the page's errors are its own.
    let errors = if st.second.is_some() { place_errors(&st.errors, "") } else { FieldErrors::new() };
    html! {
        div.second-hood {
            h3 { "다른 동네" }
            @if let Some(n) = &me.second_neighborhood {
                p { (neighborhood_line(n, now)) }
                div.actions {
                    form method="post" action="/me/neighborhood/switch" {
                        (csrf_field(csrf))
                        button.secondary type="submit" { (n.name) "으로 바꾸기" }
                    }
                    form method="post" action="/me/neighborhood/second/clear" {
                        (csrf_field(csrf))
                        button.link-button type="submit" { "다른 동네 지우기" }
                    }
                }
            } @else {
                details open[!errors.is_empty()] {
                    summary { "다른 동네 추가 (회사, 본가 등)" }
                    @let (text, code) = st.second.clone().unwrap_or_default();
                    form.stack method="post" action="/me/neighborhood/second" data-validate novalidate {
                        (csrf_field(csrf))
                        (place_picker(PlacePicker { id: "second-place", label: "다른 동네 검색", text: &text, code: &code, hint: None, error_key: "place", locate: true, point: None }, &errors))
                        button.secondary type="submit" data-busy-label="저장 중…" { "다른 동네 추가" }
                    }
                }
            }
        }
    }
}

fn profile_view(
    csrf: &CsrfToken,
    auth: &gonggu_kernel::auth::AuthUser,
    me: &UserView,
    sessions: &[SessionView],
    st: ProfileState,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    let second = me.neighborhood.is_some().then(|| second_neighborhood(csrf, me, &st, now));
    let e = &st.errors;
    let keywords_text = st.keywords.clone().unwrap_or_else(|| me.keywords.join(", "));
    let (htext, hcode) = st.hood.clone().unwrap_or_else(|| match &me.neighborhood {
        Some(n) => (n.address().unwrap_or_else(|| n.name.clone()), n.code.clone().unwrap_or_default()),
        None => (String::new(), String::new()),
    });
    let others = sessions.iter().filter(|s| !s.current).count();
    // Both the email and the password forms have a `current_password` field; a message for it
    // belongs to the form that was sent.
    let (email_errors, password_errors) = match st.email {
        Some(_) => (e.clone(), FieldErrors::new()),
        None => (FieldErrors::new(), e.clone()),
    };
    let (top_flash, section_flash) = match st.flash_at {
        Some(at) => (None, st.flash.map(|f| (at, f))),
        None => (st.flash, None),
    };
    let notice = |section: &str| -> Markup {
        html! {
            @if let Some((at, f)) = &section_flash {
                @if *at == section { (flash(f)) }
            }
        }
    };
    layout(
        Page { title: "내 정보", tab: Tab::Me, user: Some(auth), flash: top_flash },
        html! {
            h1.page-title { "내 정보" }
            section.card {
                dl.profile {
                    dt { "아이디" } dd { (me.login_id) }
                    dt { "이메일" } dd { (me.email) }
                    dt { "우리 동네" } dd { @match &me.neighborhood { Some(n) => (neighborhood_line(n, now)), None => span.muted { "설정 안 함" } } }
                    dt { "가입일" } dd { (format_kst(me.created_at)) }
                }
            }
            section.card id="keywords" {
                h2 { "관심 키워드" }
                (notice("keywords"))
                @if me.keywords.is_empty() {
                    p.muted { "관심 있는 물건의 키워드를 적어 두세요. 맞는 공구가 올라오면 알림으로 알려 드려요." }
                } @else {
                    ul.chips { @for k in &me.keywords { li.chip { (k) } } }
                }
                form.stack method="post" action="/me/keywords" data-validate novalidate {
                    (csrf_field(csrf))
                    (input(Input { name: "keywords", label: "키워드 (쉼표나 줄바꿈으로 구분, 최대 20개)", kind: "textarea", value: &keywords_text,  hint: Some("예: 휴지, 생수, 코스트코"), ..Default::default() }, e))
                    button.primary type="submit" data-busy-label="저장 중…" { "키워드 저장" }
                }
            }
            section.card id="neighborhood" {
                h2 { "우리 동네" }
                (notice("neighborhood"))
                form.stack method="post" action="/me/neighborhood" data-validate novalidate {
                    (csrf_field(csrf))
                    (neighborhood_picker(&htext, &hcode, &if st.second.is_none() { place_errors(e, "") } else { FieldErrors::new() }, "동네 검색"))
                    button.primary type="submit" data-busy-label="저장 중…" { "동네 저장" }
                }
                @if me.neighborhood.is_some() {
                    form method="post" action="/me/neighborhood/clear" {
                        (csrf_field(csrf))
                        button.link-button type="submit" { "동네 지우기" }
                    }
                    @if let Some(m) = &second { (m) }
                }
            }
            section.card id="email" {
                h2 { "이메일 변경" }
                (notice("email"))
                form.stack method="post" action="/me/email" data-validate novalidate {
                    (csrf_field(csrf))
                    (input(Input { name: "email", label: "새 이메일", kind: "email", value: st.email.as_deref().unwrap_or(""), autocomplete: "email", required: true, ..Default::default() }, e))
                    (input(Input { name: "current_password", id: Some("email_current_password"), label: "현재 비밀번호", kind: "password", value: "", autocomplete: "current-password", required: true, hint: Some("바뀌면 지금 이메일로도 메일을 보내요."), ..Default::default() }, &email_errors))
                    button.secondary type="submit" data-busy-label="보내는 중…" { "인증 코드 받기" }
                }
                @if st.show_code_form || e.contains_key("code") {
                    form.stack method="post" action="/me/email/verify" data-validate novalidate {
                        (csrf_field(csrf))
                        (input(Input { name: "code", label: "인증 코드 6자리", value: "", autocomplete: "one-time-code", required: true, inputmode: Some("numeric"), pattern: Some("[0-9]{6}"), pattern_message: Some("인증 코드는 숫자 6자리입니다."), maxlength: Some("6"), ..Default::default() }, e))
                        button.primary type="submit" data-busy-label="확인 중…" { "이메일 바꾸기" }
                    }
                }
            }
            section.card id="password" {
                h2 { "비밀번호 변경" }
                (notice("password"))
                form.stack method="post" action="/me/password" data-validate novalidate {
                    (csrf_field(csrf))
                    (input(Input { name: "current_password", label: "현재 비밀번호", kind: "password", value: "", autocomplete: "current-password", required: true, ..Default::default() }, &password_errors))
                    (input(Input { name: "new_password", label: "새 비밀번호", kind: "password", value: "", autocomplete: "new-password", required: true, minlength: Some("8"), maxlength: Some("128"), hint: Some("바꾸면 다른 기기는 모두 로그아웃됩니다."), ..Default::default() }, e))
                    (input(Input { name: "new_password_confirm", label: "새 비밀번호 확인", kind: "password", value: "", autocomplete: "new-password", required: true, must_match: Some("new_password"), ..Default::default() }, e))
                    button.primary type="submit" data-busy-label="바꾸는 중…" { "비밀번호 바꾸기" }
                }
            }
            section.card id="sessions" {
                h2 { "로그인된 기기" }
                (notice("sessions"))
                ul.list {
                    @for s in sessions {
                        li.list-item {
                            div.list-main {
                                strong { (user_agent_label(s.user_agent.as_deref())) }
                                @if s.current { " " span.badge { "현재 기기" } }
                                div.meta { "마지막 사용 " (format_kst(s.last_used_at)) @if let Some(ip) = &s.ip { " · " (ip) } }
                            }
                            @if !s.current {
                                div.list-side {
                                    form method="post" action={ "/me/sessions/" (s.id) "/revoke" } {
                                        (csrf_field(csrf))
                                        button.danger type="submit" { "로그아웃" }
                                    }
                                }
                            }
                        }
                    }
                }
                @if others > 0 {
                    form method="post" action="/me/sessions/revoke-others" data-confirm="다른 기기에서 모두 로그아웃할까요?" {
                        (csrf_field(csrf))
                        button.danger.block type="submit" { "다른 기기 모두 로그아웃 (" (others) ")" }
                    }
                }
            }
            section.card {
                form method="post" action="/logout" {
                    (csrf_field(csrf))
                    button.secondary.block type="submit" id="logout" { "로그아웃" }
                }
            }
        },
    )
}

async fn render_profile(
    accounts: &Accounts,
    csrf: &CsrfToken,
    user: &gonggu_kernel::auth::AuthUser,
    status: StatusCode,
    st: ProfileState,
) -> Response {
    let me = match accounts.me(user).await {
        Ok(me) => me,
        Err(e) => return PageError::from(e).titled("내 정보를 열 수 없습니다").into_response(),
    };
    let sessions = accounts.sessions(user).await.unwrap_or_default();
    (status, profile_view(csrf, user, &me, &sessions, st, accounts.now())).into_response()
}

async fn profile_page(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Query(q): Query<PageQuery>,
) -> Response {
    let flash_at = match q.msg.as_deref() {
        Some("keywords") => Some("keywords"),
        Some("neighborhood" | "neighborhood_cleared" | "second_saved" | "second_cleared" | "switched") => Some("neighborhood"),
        Some("email_code_sent" | "email_changed") => Some("email"),
        Some("password_changed") => Some("password"),
        Some("session_revoked" | "others_revoked") => Some("sessions"),
        _ => None,
    };
    let st = ProfileState {
        show_code_form: q.msg.as_deref() == Some("email_code_sent"),
        flash: flash_for(q.msg.as_deref()),
        flash_at,
        ..Default::default()
    };
    render_profile(&accounts, &csrf, &user, StatusCode::OK, st).await
}

/// After a profile form: success → back to the right section with a notice; failure → the page
/// again with the messages next to the fields and the typed values kept.
async fn profile_result<T>(
    accounts: &Accounts,
    csrf: &CsrfToken,
    user: &gonggu_kernel::auth::AuthUser,
    result: Result<T, ApiError>,
    ok: &str,
    anchor: &str,
    keep: ProfileState,
) -> Response {
    match result {
        Ok(_) => see_other(&format!("/me?msg={ok}#{anchor}")),
        Err(e) => {
            let (errors, flash) = split_error(&e, None);
            let mut res = render_profile(accounts, csrf, user, status_of(&e), ProfileState { errors, flash, ..keep }).await;
            if let Some(secs) = e.retry_after_secs {
                res.headers_mut().insert(header::RETRY_AFTER, secs.into());
            }
            res
        }
    }
}

#[derive(Deserialize)]
struct KeywordsForm {
    csrf_token: String,
    #[serde(default)]
    keywords: String,
}

async fn keywords_submit(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<KeywordsForm>,
) -> Response {
    let list: Vec<String> = f.keywords.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let result = accounts.set_keywords(&user, &list).await;
    profile_result(
        &accounts,
        &csrf,
        &user,
        result,
        "keywords",
        "keywords",
        ProfileState { keywords: Some(f.keywords), ..Default::default() },
    )
    .await
}

#[derive(Deserialize)]
struct NeighborhoodForm {
    csrf_token: String,
    #[serde(flatten)]
    place: PlaceFields,
}

async fn neighborhood_submit(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<NeighborhoodForm>,
) -> Response {
    let keep = ProfileState { hood: Some((f.place.place.clone(), f.place.code.clone())), ..Default::default() };
    let result = match parse_neighborhood(&f.place, "") {
        Ok(Some(input)) => accounts.set_neighborhood(&user, Some(input)).await,
        Ok(None) => Err(ApiError::field("place", "동 이름으로 검색하거나 현재 위치로 찾아 주세요.")),
        Err(errors) => Err(ApiError::validation(errors)),
    };
    profile_result(&accounts, &csrf, &user, result, "neighborhood", "neighborhood", keep).await
}

async fn neighborhood_clear(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(_): CsrfForm<OnlyCsrf>,
) -> Response {
    let result = accounts.set_neighborhood(&user, None).await;
    profile_result(&accounts, &csrf, &user, result, "neighborhood_cleared", "neighborhood", ProfileState::default()).await
}

#[derive(Deserialize)]
struct SecondForm {
    csrf_token: String,
    #[serde(flatten)]
    place: PlaceFields,
}

async fn second_submit(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<SecondForm>,
) -> Response {
    let keep = ProfileState { second: Some((f.place.place.clone(), f.place.code.clone())), ..Default::default() };
    let result = match parse_neighborhood(&f.place, "") {
        Ok(Some(input)) => accounts.set_second_neighborhood(&user, Some(input)).await,
        Ok(None) => Err(ApiError::field("place", "동 이름으로 검색하거나 현재 위치로 찾아 주세요.")),
        Err(errors) => Err(ApiError::validation(errors)),
    };
    profile_result(&accounts, &csrf, &user, result, "second_saved", "neighborhood", keep).await
}

async fn second_clear(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(_): CsrfForm<OnlyCsrf>,
) -> Response {
    let result = accounts.set_second_neighborhood(&user, None).await;
    profile_result(&accounts, &csrf, &user, result, "second_cleared", "neighborhood", ProfileState::default()).await
}

#[derive(Deserialize)]
struct NextForm {
    csrf_token: String,
    next: Option<String>,
}

/// "이 동네로 바꾸기", from the profile or the feed's 동네 menu: back where it was pressed.
async fn switch_submit(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<NextForm>,
) -> Response {
    match (accounts.switch_neighborhood(&user).await, f.next.as_deref()) {
        (Ok(_), Some(next)) => see_other(&safe_next(Some(next))),
        (result, _) => profile_result(&accounts, &csrf, &user, result, "switched", "neighborhood", ProfileState::default()).await,
    }
}

#[derive(Deserialize)]
struct ReachForm {
    csrf_token: String,
    km: i64,
    next: Option<String>,
}

/// The home feed's 동네 범위 chips: saved, then back to the feed.
async fn reach_submit(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<ReachForm>,
) -> Response {
    match accounts.set_reach(&user, f.km).await {
        Ok(_) => see_other(&safe_next(f.next.as_deref())),
        Err(e) => profile_result(&accounts, &csrf, &user, Err::<(), _>(e), "", "neighborhood", ProfileState::default()).await,
    }
}

#[derive(Deserialize)]
struct EmailChangeForm {
    csrf_token: String,
    email: String,
    #[serde(default)]
    current_password: String,
}

async fn email_submit(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<EmailChangeForm>,
) -> Response {
    let result = accounts.request_email_change(&user, &f.email, &f.current_password).await;
    profile_result(&accounts, &csrf, &user, result, "email_code_sent", "email", ProfileState { email: Some(f.email), ..Default::default() })
        .await
}

#[derive(Deserialize)]
struct CodeForm {
    csrf_token: String,
    code: String,
}

async fn email_verify_submit(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<CodeForm>,
) -> Response {
    let result = accounts.verify_email_change(&user, &f.code).await;
    profile_result(&accounts, &csrf, &user, result, "email_changed", "email", ProfileState { show_code_form: true, ..Default::default() })
        .await
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf_token: String,
    current_password: String,
    new_password: String,
    new_password_confirm: String,
}

async fn password_submit(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    ClientIp(ip): ClientIp,
    CsrfForm(f): CsrfForm<PasswordForm>,
) -> Response {
    let result = if f.new_password != f.new_password_confirm {
        Err(ApiError::field("new_password_confirm", "비밀번호가 일치하지 않습니다."))
    } else {
        accounts.change_password(&user, &f.current_password, &f.new_password, ip).await
    };
    profile_result(&accounts, &csrf, &user, result, "password_changed", "password", ProfileState::default()).await
}

async fn session_revoke(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<OnlyCsrf>,
) -> Response {
    let result = accounts.revoke_session(&user, id).await;
    profile_result(&accounts, &csrf, &user, result, "session_revoked", "sessions", ProfileState::default()).await
}

async fn sessions_revoke_others(
    State(accounts): State<Arc<Accounts>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(_): CsrfForm<OnlyCsrf>,
) -> Response {
    let result = accounts.revoke_other_sessions(&user).await;
    profile_result(&accounts, &csrf, &user, result, "others_revoked", "sessions", ProfileState::default()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighborhood_form_parsing() {
        let form = |place: &str, code: &str, lat: &str, lon: &str| PlaceFields {
            place: place.into(),
            code: code.into(),
            lat: lat.into(),
            lon: lon.into(),
            ..Default::default()
        };
        assert!(parse_neighborhood(&form(" ", "", "", ""), "").unwrap().is_none(), "nothing filled in");
        // A picked 동 is taken as it is, whatever the text says.
        let n = parse_neighborhood(&form("아무 글", "11680101", "", ""), "").unwrap().unwrap();
        assert_eq!(n.code.as_deref(), Some("11680101"));
        // A located one keeps its point (the service decides the 동).
        let n = parse_neighborhood(&form("", "", "37.5", "127.03"), "").unwrap().unwrap();
        assert_eq!((n.lat, n.lon, n.code), (Some(37.5), Some(127.03), None));
        let e = parse_neighborhood(&form("", "", "abc", "127"), "neighborhood.").unwrap_err();
        assert!(e.contains_key("neighborhood.place"), "{e:?}");
        // Text alone (no script): one 동 it names is enough; none or several is a question back.
        let n = parse_neighborhood(&form("서울특별시 강남구 역삼동", "", "", ""), "").unwrap().unwrap();
        assert_eq!(n.code.as_deref(), Some("11680101"));
        assert!(parse_neighborhood(&form("없는동네이름", "", "", ""), "").unwrap_err().contains_key("place"));
        assert!(parse_neighborhood(&form("중앙동", "", "", ""), "").unwrap_err()["place"].contains("여럿"), "many 중앙동");
    }

    #[test]
    fn device_labels() {
        assert_eq!(user_agent_label(Some("Mozilla/5.0 (Linux; Android 14) AppleWebKit Chrome/120 Safari/537")), "Chrome · Android");
        assert_eq!(user_agent_label(None), "알 수 없는 기기");
    }
}
