//! Deals pages: the home deal list, deal detail, create/edit, my deals, a seller's page.
//! Plain HTML forms and links that work without JavaScript; `app.js` adds inline validation,
//! confirmations, busy buttons and the "현재 위치 사용" button on top.
//!
//! Money shown here is exact: a deal's total is split into shares that add up to the total to
//! the won (`crate::money`), so "내 몫" is what the member really owes for their position.

use std::sync::Arc;

use axum::{
    extract::DefaultBodyLimit,
    extract::{rejection::QueryRejection, MatchedPath, Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, TimeZone, Utc};
use gonggu_kernel::{
    auth::AuthUser,
    error::FieldErrors,
    web::{
        csrf_field, error_page, error_status, format_kst, group_digits, layout, split_error, urlencode, won, CsrfForm, CsrfMultipart,
        CsrfToken, Flash, MaybeWebUser, MultipartFiles, Page, Tab, WebUser,
    },
    ApiError,
};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    domain::{DealPatch, DealStatus, MeetingPlace, NewDealInput, CATEGORIES, MAX_TOTAL_PRICE, UNITS},
    money,
    service::{DealPage, DealView, ListParams, MemberView},
    Deals,
};

pub fn router(deals: Arc<Deals>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/deals", post(create_submit).layer(DefaultBodyLimit::max(PHOTO_FORM_LIMIT)))
        .route("/deals/new", get(new_page))
        .route("/deals/{id}", get(detail_page))
        .route("/deals/{id}/edit", get(edit_page).post(edit_submit).layer(DefaultBodyLimit::max(PHOTO_FORM_LIMIT)))
        .route("/deals/{id}/join", post(join_submit))
        .route("/deals/{id}/leave", post(button_submit))
        .route("/deals/{id}/cancel", post(button_submit))
        .route("/deals/{id}/complete", post(button_submit))
        .route("/me/deals", get(my_deals_page))
        .route("/users/{login_id}", get(seller_page))
        .with_state(deals)
}

/// Five 5 MB photos plus the text fields.
const PHOTO_FORM_LIMIT: usize = 5 * 5 * 1024 * 1024 + 256 * 1024;

impl MultipartFiles for DealForm {
    const FILE_FIELD: &'static str = "photos";
}

gonggu_kernel::csrf_forms!(DealForm, JoinForm, OnlyCsrf);

/// Messages a redirect can ask the next page to show (`?msg=`), so no text travels in URLs.
fn flash_for(code: Option<&str>) -> Option<Flash> {
    Some(match code? {
        "created" => Flash::ok("공구를 등록했습니다."),
        "updated" => Flash::ok("공구를 수정했습니다."),
        "joined" => Flash::ok("공구에 참여했습니다."),
        "changed" => Flash::ok("내 몫을 바꿨습니다."),
        "left" => Flash::ok("공구에서 나왔습니다."),
        "cancelled" => Flash::ok("공구를 취소했습니다."),
        "completed" => Flash::ok("거래 완료로 표시했습니다."),
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MsgQuery {
    msg: Option<String>,
}

// ------------------------------------------------------------------------------------ helpers

/// Asia/Seoul: UTC+9 all year.
fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("valid offset")
}

/// How far a meeting place is, as people say it: `350m`, `1.2km`, `23km`.
fn distance_label(metres: i64) -> String {
    match metres {
        ..50 => "바로 근처".into(),
        50..1_000 => format!("{metres}m"),
        1_000..100_000 => format!("{:.1}km", metres as f64 / 1000.0),
        _ => format!("{}km", metres / 1000),
    }
}

/// Counted in Asia/Seoul calendar days: `3일 뒤 마감`, `오늘 마감`, or `마감된 공구`.
fn deadline_label(d: &DealView, now: DateTime<Utc>) -> String {
    if !d.status.is_open() || d.deadline <= now {
        return "마감된 공구".into();
    }
    let days = (d.deadline.with_timezone(&kst()).date_naive() - now.with_timezone(&kst()).date_naive()).num_days();
    if days <= 0 {
        "오늘 마감".into()
    } else {
        format!("{days}일 뒤 마감")
    }
}

/// Why a deal takes no more changes from members, if it doesn't.
fn closed_reason(d: &DealView, now: DateTime<Utc>) -> Option<(&'static str, &'static str)> {
    match d.status {
        DealStatus::Cancelled => Some(("취소된 공구", "공구를 연 이웃이 취소했어요.")),
        DealStatus::Failed => Some(("무산된 공구", "마감까지 최소 인원이 모이지 않았어요.")),
        DealStatus::Completed => Some(("거래 완료", "물건을 모두 나눈 공구예요.")),
        DealStatus::Confirmed if d.deadline <= now => Some(("마감", "모집이 끝났어요. 확정된 공구라 거래가 진행돼요.")),
        DealStatus::Recruiting if d.deadline <= now => Some(("마감", "마감 시간이 지났어요.")),
        _ => None,
    }
}

fn status_badge(s: DealStatus) -> Markup {
    let (text, class) = match s {
        DealStatus::Recruiting => ("모집 중", "badge"),
        DealStatus::Confirmed => ("확정", "badge badge-ok"),
        DealStatus::Completed => ("완료", "badge badge-off"),
        DealStatus::Cancelled => ("취소", "badge badge-off"),
        DealStatus::Failed => ("무산", "badge badge-off"),
    };
    html! { span class=(class) { (text) } }
}

/// A picture for each category while deals have no photos (photo upload comes with media).
fn category_icon(id: i64) -> &'static str {
    const ICONS: [&str; 18] = ["📱", "🔌", "🛋️", "🍳", "🧸", "📚", "👗", "👜", "👔", "💄", "⚽", "🎮", "📖", "🎟️", "🥫", "🐾", "🪴", "📦"];
    ICONS.get((id - 1).max(0) as usize).copied().unwrap_or("📦")
}

fn thumb(d: &DealView, large: bool) -> Markup {
    html! {
        div.thumb.thumb-lg[large] aria-hidden="true" {
            @if let Some(img) = d.images.first() {
                img src=(if large { &img.url } else { &img.thumbnail_url }) alt="" loading="lazy";
            } @else {
                (category_icon(d.category.id))
            }
        }
    }
}

fn deal_href(id: Uuid) -> String {
    format!("/deals/{id}")
}

fn parse_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

fn not_found_page(user: Option<&AuthUser>) -> Response {
    error_page(StatusCode::NOT_FOUND, "공구를 찾을 수 없습니다", "주소가 잘못되었거나 지워진 공구입니다.", user)
}

/// An error that leaves nothing to re-render: 404 for a missing deal, otherwise a page with the message.
fn failure_page(e: ApiError, user: Option<&AuthUser>) -> Response {
    if e.status == StatusCode::NOT_FOUND {
        return not_found_page(user);
    }
    if e.status.is_server_error() {
        let chain = e.source.as_ref().map(|s| format!("{s:#}")).unwrap_or_default();
        tracing::error!(code = e.code, error.chain = %chain, "deals page failed");
        return error_page(e.status, "일시적인 오류입니다", &e.message, user);
    }
    error_page(e.status, "요청을 처리할 수 없습니다", &e.message, user)
}

/// `" 25,990 "` → 25990; `None` for blank or not a whole number.
fn parse_int(raw: &str) -> Option<i64> {
    let cleaned: String = raw.chars().filter(|c| !c.is_whitespace() && *c != ',').collect();
    if cleaned.is_empty() {
        return None;
    }
    cleaned.parse().ok()
}

/// `<input type=datetime-local>` text, read as Asia/Seoul time.
fn parse_kst_input(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    let naive =
        NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M").or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")).ok()?;
    kst().from_local_datetime(&naive).single().map(|t| t.with_timezone(&Utc))
}

fn kst_input(t: DateTime<Utc>) -> String {
    t.with_timezone(&kst()).format("%Y-%m-%dT%H:%M").to_string()
}

fn split_keywords(raw: &str) -> Vec<String> {
    raw.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// One labelled input (or textarea) with its hint and error slot.
#[derive(Default)]
struct Input<'a> {
    name: &'a str,
    label: &'a str,
    /// `text` when empty; `textarea` for a textarea.
    kind: &'a str,
    value: &'a str,
    hint: Option<&'a str>,
    /// The error's key when it differs from `name` (e.g. `meeting_place.lat` for `lat`).
    error_key: Option<&'a str>,
    required: bool,
    minlength: Option<&'a str>,
    maxlength: Option<&'a str>,
    min: Option<&'a str>,
    max: Option<&'a str>,
    step: Option<&'a str>,
    inputmode: Option<&'a str>,
    placeholder: Option<&'a str>,
}

fn input(i: Input<'_>, errors: &FieldErrors) -> Markup {
    let error = errors.get(i.error_key.unwrap_or(i.name));
    let kind = if i.kind.is_empty() { "text" } else { i.kind };
    html! {
        label.field.invalid[error.is_some()] {
            span.label { (i.label) }
            @if kind == "textarea" {
                textarea name=(i.name) id=(i.name) required[i.required] maxlength=[i.maxlength] placeholder=[i.placeholder]
                    aria-invalid=[error.map(|_| "true")] autofocus[error.is_some()] { (i.value) }
            } @else {
                input type=(kind) name=(i.name) id=(i.name) value=(i.value) required[i.required]
                    minlength=[i.minlength] maxlength=[i.maxlength] min=[i.min] max=[i.max] step=[i.step]
                    inputmode=[i.inputmode] placeholder=[i.placeholder] autocomplete="off"
                    aria-invalid=[error.map(|_| "true")] autofocus[error.is_some()];
            }
            @if let Some(h) = i.hint { small.hint { (h) } }
            small.field-error { @if let Some(e) = error { (e) } }
        }
    }
}

fn select(name: &str, label: &str, options: &[(String, String)], value: &str, placeholder: Option<&str>, errors: &FieldErrors) -> Markup {
    let error = errors.get(name);
    html! {
        label.field.invalid[error.is_some()] {
            span.label { (label) }
            select name=(name) id=(name) required aria-invalid=[error.map(|_| "true")] autofocus[error.is_some()] {
                @if let Some(p) = placeholder { option value="" { (p) } }
                @for (v, text) in options { option value=(v) selected[v == value] { (text) } }
            }
            small.field-error { @if let Some(e) = error { (e) } }
        }
    }
}

// ------------------------------------------------------------------------------------ cards

fn deal_card(d: &DealView, now: DateTime<Utc>) -> Markup {
    html! {
        li {
            a.card.deal-card href=(deal_href(d.id)) {
                (thumb(d, false))
                div.deal-body {
                    h2.deal-title { (d.title) }
                    p.deal-badges {
                        span.badge { (d.category.name) }
                        @if d.status != DealStatus::Recruiting { (status_badge(d.status)) }
                    }
                    p.price { "1인당 " (won(d.share_price)) }
                    p.meta {
                        (d.shares_taken) "/" (d.shares_total) " 몫 · " (deadline_label(d, now))
                        @if let Some(m) = d.distance_m { " · 📍 " (distance_label(m)) }
                    }
                }
            }
        }
    }
}

fn deal_list(items: &[DealView], now: DateTime<Utc>) -> Markup {
    html! { ul.deal-list { @for d in items { (deal_card(d, now)) } } }
}

fn more_link(href: Option<String>) -> Markup {
    html! { @if let Some(h) = href { a.button.secondary.block.more href=(h) rel="next" { "더 보기" } } }
}

/// `/?q=…&category=…` with the defaults left out.
fn query_href(path: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| format!("{k}={}", urlencode(v)))).collect();
    if parts.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", parts.join("&"))
    }
}

// ------------------------------------------------------------------------------------ home list

const SORTS: [(&str, &str); 5] =
    [("newest", "최신순"), ("deadline", "마감 임박순"), ("remaining", "남은 몫 적은 순"), ("popular", "인기순"), ("nearest", "가까운 순")];
const STATUSES: [(&str, &str); 6] =
    [("open", "모집 중"), ("all", "전체"), ("confirmed", "확정"), ("completed", "완료"), ("cancelled", "취소"), ("failed", "무산")];

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListForm {
    q: Option<String>,
    category: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
    cursor: Option<String>,
    msg: Option<String>,
}

/// The list's filters, checked; the defaults (open deals, newest first, any price) when absent.
#[derive(Clone)]
struct Filters {
    q: String,
    category: Option<i64>,
    status: &'static str,
    sort: &'static str,
    /// Total price range in won, inclusive.
    min_price: Option<i64>,
    max_price: Option<i64>,
}

impl Default for Filters {
    fn default() -> Self {
        Filters { q: String::new(), category: None, status: "open", sort: "newest", min_price: None, max_price: None }
    }
}

/// A total-price box (the whole deal's price, as the original's filter compared): blank is no
/// bound; digits with optional commas ("10,000") are won.
fn price_bound(raw: Option<&str>, which: &str) -> Result<Option<i64>, String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
    let digits: String = raw.chars().filter(|c| *c != ',').collect();
    match digits.parse::<i64>() {
        Ok(n) if (0..=MAX_TOTAL_PRICE).contains(&n) => Ok(Some(n)),
        _ => Err(format!("총액 {which}은 0원에서 {}원 사이의 숫자로 입력해 주세요.", group_digits(MAX_TOTAL_PRICE))),
    }
}

impl Filters {
    fn from_form(f: &ListForm) -> Result<Filters, String> {
        let q: String = f.q.as_deref().unwrap_or("").trim().chars().take(crate::service::MAX_QUERY_CHARS).collect();
        let category = match f.category.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => match c.parse::<i64>() {
                Ok(n) if (1..=CATEGORIES.len() as i64).contains(&n) => Some(n),
                _ => return Err("알 수 없는 카테고리입니다.".into()),
            },
        };
        let status = match f.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => "open",
            Some(s) => STATUSES.iter().find(|(k, _)| *k == s).map(|(k, _)| *k).ok_or_else(|| "알 수 없는 공구 상태입니다.".to_owned())?,
        };
        let sort = match f.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => "newest",
            Some(s) => SORTS.iter().find(|(k, _)| *k == s).map(|(k, _)| *k).ok_or_else(|| "알 수 없는 정렬 방식입니다.".to_owned())?,
        };
        let min_price = price_bound(f.min_price.as_deref(), "최솟값")?;
        let max_price = price_bound(f.max_price.as_deref(), "최댓값")?;
        // min ≤ max is the service's rule; its refusal comes back as the page's notice.
        Ok(Filters { q, category, status, sort, min_price, max_price })
    }

    fn params(&self, cursor: Option<String>) -> ListParams {
        ListParams {
            q: (!self.q.is_empty()).then(|| self.q.clone()),
            category: self.category,
            status: (self.status != "all").then(|| self.status.to_owned()),
            sort: Some(self.sort.to_owned()),
            min_price: self.min_price,
            max_price: self.max_price,
            cursor: cursor.filter(|c| !c.is_empty()),
            ..Default::default()
        }
    }

    fn href(&self, category: Option<i64>, cursor: Option<&str>) -> String {
        let cat = category.map(|c| c.to_string());
        let (min, max) = (self.min_price.map(|p| p.to_string()), self.max_price.map(|p| p.to_string()));
        query_href(
            "/",
            &[
                ("q", Some(self.q.as_str())),
                ("category", cat.as_deref()),
                ("status", (self.status != "open").then_some(self.status)),
                ("sort", (self.sort != "newest").then_some(self.sort)),
                ("min_price", min.as_deref()),
                ("max_price", max.as_deref()),
                ("cursor", cursor),
            ],
        )
    }

    /// Sorting, status or price differ from the defaults (the folded part of the form is in use).
    fn refined(&self) -> bool {
        self.status != "open" || self.sort != "newest" || self.min_price.is_some() || self.max_price.is_some()
    }

    fn is_default(&self) -> bool {
        self.q.is_empty()
            && self.category.is_none()
            && self.status == "open"
            && self.sort == "newest"
            && self.min_price.is_none()
            && self.max_price.is_none()
    }
}

async fn home(
    State(deals): State<Arc<Deals>>,
    MaybeWebUser(user): MaybeWebUser,
    query: Result<Query<ListForm>, QueryRejection>,
) -> Response {
    let now = deals.clock.now();
    let form = query.map(|Query(f)| f).map_err(|_| "검색 조건을 읽을 수 없습니다.".to_owned());
    let mut problem = None;
    let (filters, cursor, msg) = match form {
        Ok(f) => match Filters::from_form(&f) {
            Ok(filters) => (filters, f.cursor, f.msg),
            Err(m) => {
                problem = Some(m);
                (Filters::default(), None, None)
            }
        },
        Err(m) => {
            problem = Some(m);
            (Filters::default(), None, None)
        }
    };
    let viewer = user.as_ref().map(|u| u.user_id);
    let page = match deals.list_for(filters.params(cursor.clone()), None, None, viewer).await {
        Ok(p) => p,
        Err(e) if e.status.is_client_error() => {
            problem = Some(if e.code == "invalid_cursor" {
                "더 보기 주소가 올바르지 않습니다.".to_owned()
            } else if filters.sort == "nearest" && user.is_none() {
                "가까운 순은 로그인한 뒤 내 정보에서 우리 동네를 설정하면 볼 수 있어요.".to_owned()
            } else if filters.sort == "nearest" {
                "가까운 순으로 보려면 내 정보에서 우리 동네를 설정해 주세요.".to_owned()
            } else {
                e.message.clone()
            });
            match deals.list(Filters::default().params(None), None, None).await {
                Ok(p) => p,
                Err(e) => return failure_page(e, user.as_ref()),
            }
        }
        Err(e) => return failure_page(e, user.as_ref()),
    };
    let (status, flash, filters) = match problem {
        Some(m) => (StatusCode::BAD_REQUEST, Some(Flash::error(format!("{m} 기본 목록을 보여 드려요."))), Filters::default()),
        None => (StatusCode::OK, flash_for(msg.as_deref()), filters),
    };
    let first_page = cursor.as_deref().is_none_or(str::is_empty);
    (status, home_view(user.as_ref(), &filters, &page, now, flash, first_page)).into_response()
}

fn home_view(user: Option<&AuthUser>, f: &Filters, page: &DealPage, now: DateTime<Utc>, flash: Option<Flash>, first_page: bool) -> Markup {
    let categories: Vec<(i64, &str)> = CATEGORIES.iter().enumerate().map(|(i, n)| (i as i64 + 1, *n)).collect();
    layout(
        Page { title: "우리 동네 공동구매", tab: Tab::Deals, user, flash },
        html! {
            @if f.is_default() && first_page {
                section.hero.hero-compact {
                    h1 { "이웃과 함께 사면 더 싸요" }
                    @if let Some(u) = user {
                        p { (u.login_id) "님, 반가워요!" }
                        div.actions { a.button.secondary href="/me/deals" { "내 공구" } }
                    } @else {
                        p { "대용량 상품을 우리 동네 이웃과 나눠 사세요." }
                        div.actions {
                            a.button.primary href="/register" { "회원가입" }
                            a.button.secondary href="/login" { "로그인" }
                        }
                    }
                }
            } @else {
                h1.page-title { @if f.q.is_empty() { "공구 목록" } @else { "‘" (f.q) "’ 검색 결과" } }
            }
            form.card.stack.filters method="get" action="/" role="search" {
                label.field {
                    span.label { "공구 검색" }
                    input type="search" name="q" id="q" value=(f.q) maxlength="100" placeholder="휴지, 생수, 코스트코…" enterkeyhint="search";
                }
                @if let Some(c) = f.category { input type="hidden" name="category" value=(c); }
                details.filter-more open[f.refined()] {
                    summary { "정렬 · 상태 · 총액" @if f.refined() { span.badge { "사용 중" } } }
                    div.row {
                        label.field {
                            span.label { "정렬" }
                            select name="sort" id="sort" { @for (k, v) in SORTS { option value=(k) selected[k == f.sort] { (v) } } }
                        }
                        label.field {
                            span.label { "상태" }
                            select name="status" id="status" { @for (k, v) in STATUSES { option value=(k) selected[k == f.status] { (v) } } }
                        }
                    }
                    div.row {
                        label.field {
                            span.label { "총액 최소 (원)" }
                            input type="text" name="min_price" id="min_price" inputmode="numeric" pattern="[0-9,]*" value=[f.min_price] placeholder="0";
                        }
                        label.field {
                            span.label { "총액 최대 (원)" }
                            input type="text" name="max_price" id="max_price" inputmode="numeric" pattern="[0-9,]*" value=[f.max_price] placeholder="제한 없음";
                        }
                    }
                }
                button.primary.block type="submit" { "검색" }
            }
            nav aria-label="카테고리" {
                ul.chips.chips-scroll {
                    li { a.chip.chip-on[f.category.is_none()] href=(f.href(None, None)) aria-current=[f.category.is_none().then_some("true")] { "전체" } }
                    @for (id, name) in &categories {
                        li { a.chip.chip-on[f.category == Some(*id)] href=(f.href(Some(*id), None)) aria-current=[(f.category == Some(*id)).then_some("true")] { (name) } }
                    }
                }
            }
            @if page.items.is_empty() {
                section.card.empty {
                    div.empty-icon aria-hidden="true" { "🛒" }
                    h2 { @if f.is_default() { "아직 열린 공구가 없어요" } @else { "조건에 맞는 공구가 없어요" } }
                    p { "필요한 물건이 있다면 직접 공구를 열어 이웃을 모아 보세요." }
                    a.button.primary href="/deals/new" { "공구 등록하기" }
                    @if !f.is_default() { p { a href="/" { "모든 공구 보기" } } }
                }
            } @else {
                (deal_list(&page.items, now))
                (more_link(page.next_cursor.as_deref().map(|c| f.href(f.category, Some(c)))))
            }
        },
    )
}

// ------------------------------------------------------------------------------------ detail

async fn detail_page(
    State(deals): State<Arc<Deals>>,
    MaybeWebUser(user): MaybeWebUser,
    csrf: CsrfToken,
    Path(id): Path<String>,
    query: Result<Query<MsgQuery>, QueryRejection>,
) -> Response {
    let Some(id) = parse_id(&id) else { return not_found_page(user.as_ref()) };
    let msg = query.map(|Query(q)| q.msg).unwrap_or_default();
    render_detail(&deals, user.as_ref(), &csrf, id, StatusCode::OK, flash_for(msg.as_deref()), true).await
}

async fn render_detail(
    deals: &Deals,
    user: Option<&AuthUser>,
    csrf: &CsrfToken,
    id: Uuid,
    status: StatusCode,
    flash: Option<Flash>,
    count_view: bool,
) -> Response {
    // A signed-in viewer counts once a day (Asia/Seoul).
    let viewer = user.filter(|_| count_view).map(|u| u.user_id.to_string());
    let deal = match deals.open_deal(id, viewer.as_deref()).await {
        Ok(d) => d,
        Err(e) => return failure_page(e, user),
    };
    let members = match user {
        Some(_) => match deals.members(id).await {
            Ok(m) => m,
            Err(e) => return failure_page(e, user),
        },
        None => vec![],
    };
    (status, detail_view(&deal, &members, user, csrf, deals.clock.now(), flash)).into_response()
}

/// What `k` shares cost for someone whose shares come after `before` shares (host first, then
/// members by joining time).
fn amount_at(d: &DealView, before: i64, k: i64) -> i64 {
    let n = d.shares_total.max(1) as u32;
    money::amounts(d.total_price, n, &[before.max(0) as u32, k.max(0) as u32])[1]
}

fn detail_view(
    d: &DealView,
    members: &[MemberView],
    user: Option<&AuthUser>,
    csrf: &CsrfToken,
    now: DateTime<Utc>,
    flash: Option<Flash>,
) -> Markup {
    let href = deal_href(d.id);
    let is_host = user.is_some_and(|u| u.login_id == d.host.login_id);
    let mine = user.and_then(|u| members.iter().position(|m| m.login_id == u.login_id && !m.is_host));
    let me = mine.map(|i| &members[i]);
    let before_me: i64 = match mine {
        Some(i) => members[..i].iter().map(|m| m.shares).sum(),
        None => d.shares_taken,
    };
    let joinable = d.status.is_open() && d.deadline > now;
    let remaining = d.shares_total - d.shares_taken;
    let current = me.map_or(0, |m| m.shares);
    let max_choice = remaining + current;
    let choice = if current > 0 { current } else { 1 };
    let uneven = d.total_price % d.shares_total.max(1) != 0;
    let to_tip = (d.min_shares - d.shares_taken).max(0);
    layout(
        Page { title: &d.title, tab: Tab::Deals, user, flash },
        html! {
            article.deal-detail {
                section.card {
                    (thumb(d, true))
                    p.deal-badges { span.badge { (d.category.name) } (status_badge(d.status)) }
                    h1.deal-name { (d.title) }
                    p.meta {
                        "공구장 " a href={ "/users/" (urlencode(&d.host.login_id)) } { (d.host.login_id) }
                        " · 조회 " (d.views) " · " (format_kst(d.created_at)) " 등록"
                    }
                    p.price.price-lg { "1인당 " (won(d.share_price)) }
                    p.meta {
                        "총 " (won(d.total_price)) "을 " (d.shares_total) "몫으로 나눠요."
                        @if uneven { " 몫마다 1원까지 차이가 나요." }
                    }
                    dl.summary.facts {
                        dt { "한 몫" } dd { (d.items_per_share) (d.unit) }
                        dt { "마감" } dd { (format_kst(d.deadline)) br; span.meta { (deadline_label(d, now)) } }
                        @if let Some(p) = &d.meeting_place {
                            dt { "만날 장소" }
                            dd {
                                (p.name) br;
                                a.meta href={ "https://map.kakao.com/link/map/" (urlencode(&p.name)) "," (p.lat) "," (p.lon) } target="_blank" rel="noopener noreferrer" { "지도에서 보기 ↗" }
                            }
                        }
                        @if let Some(u) = &d.product_url {
                            dt { "상품 링크" }
                            dd { a href=(u) target="_blank" rel="noopener noreferrer" { "상품 보러 가기 ↗" } }
                        }
                    }
                }

                section.card.stack id="progress" {
                    h2 { "모집 현황" }
                    p.progress-count { strong { (d.shares_taken) "/" (d.shares_total) " 몫" } " · 남은 몫 " (remaining) "개" }
                    label.field {
                        span.label { "확정까지 (최소 " (d.min_shares) "몫)" }
                        progress value=(d.shares_taken.min(d.min_shares)) max=(d.min_shares) { (d.shares_taken.min(d.min_shares)) "/" (d.min_shares) }
                        small.hint {
                            @if d.status == DealStatus::Recruiting && to_tip > 0 { (to_tip) "몫 더 모이면 공구가 확정돼요." }
                            @else if d.shares_taken >= d.min_shares { "최소 인원이 모였어요." }
                            @else { "최소 인원이 모이지 않았어요." }
                        }
                    }
                    label.field {
                        span.label { "전체 " (d.shares_total) "몫" }
                        progress value=(d.shares_taken) max=(d.shares_total) { (d.shares_taken) "/" (d.shares_total) }
                    }
                }

                section.card id="actions" {
                    @if let Some((title, why)) = closed_reason(d, now) {
                        p.closed-note role="status" { strong { (title) } " " span { (why) } }
                    }
                    @if let Some(u) = user {
                        @if is_host {
                            (host_actions(d, csrf, u))
                        } @else {
                            @if let Some(m) = me {
                                p id="my-share" { "내 몫: " strong { (m.shares) "몫 · " (won(m.amount)) } }
                                (crate::payment_view::pay_action(d, m))
                            }
                            @if joinable {
                                @if max_choice < 1 {
                                    p.muted { "남은 몫이 없어요." }
                                } @else {
                                    form.stack method="post" action={ (href) "/join" } data-validate novalidate {
                                        (csrf_field(csrf))
                                        label.field {
                                            span.label { @if me.is_some() { "몫 바꾸기" } @else { "참여할 몫" } }
                                            input type="number" name="shares" id="shares" value=(choice) min="1" max=(max_choice) step="1" inputmode="numeric" required;
                                            small.hint {
                                                "1몫 = " (d.items_per_share) (d.unit) " · 고를 수 있는 몫 최대 " (max_choice) "개"
                                            }
                                            small.field-error {}
                                        }
                                        @if me.is_none() {
                                            p id="join-amount" { "내 몫: " strong { (won(amount_at(d, before_me, choice))) } " (" (choice) "몫)" }
                                        }
                                        @if max_choice > 1 {
                                            p.meta {
                                                "몫별 금액: "
                                                @for k in 1..=max_choice.min(5) {
                                                    @if k > 1 { " · " }
                                                    (k) "몫 " (won(amount_at(d, before_me, k)))
                                                }
                                            }
                                        }
                                        button.block.(if me.is_some() { "secondary" } else { "primary" }) type="submit" data-busy-label="처리 중…" { @if me.is_some() { "몫 바꾸기" } @else { "참여하기" } }
                                    }
                                }
                                @if me.is_some() && d.status == DealStatus::Recruiting {
                                    form method="post" action={ (href) "/leave" } data-confirm="이 공구에서 나갈까요?" {
                                        (csrf_field(csrf))
                                        button.danger.block type="submit" data-busy-label="나가는 중…" { "참여 취소하기" }
                                    }
                                }
                                @if me.is_some() && d.status == DealStatus::Confirmed {
                                    p.meta { "확정된 공구라 나갈 수 없어요. 공구장과 이야기해 주세요." }
                                }
                            }
                        }
                    } @else if joinable {
                        a.button.primary.block href={ "/login?next=" (urlencode(&href)) } { "로그인하고 참여하기" }
                    } @else {
                        p.muted { "이 공구는 더 참여할 수 없어요." }
                    }
                }

                @if !d.description.is_empty() || !d.keywords.is_empty() {
                    section.card {
                        h2 { "상품 설명" }
                        @if !d.description.is_empty() { p.description { (d.description) } }
                        @if !d.keywords.is_empty() { ul.chips { @for k in &d.keywords { li.chip { "#" (k) } } } }
                    }
                }

                section.card id="members" {
                    h2 { "참여한 이웃" }
                    @if user.is_some() {
                        ul.list {
                            @for m in members {
                                li.list-item {
                                    div.list-main {
                                        strong { (m.login_id) }
                                        @if m.is_host { span.badge { "공구장" } }
                                        @if user.is_some_and(|u| u.login_id == m.login_id) { span.badge.badge-ok { "나" } }
                                        span.meta { (format_kst(m.joined_at)) " 참여" }
                                    }
                                    div.list-side { span.meta { (m.shares) "몫" } span.amount { (won(m.amount)) } (crate::payment_view::payment_state(m)) }
                                }
                            }
                        }
                    } @else {
                        p.muted { "참여한 이웃과 몫별 금액은 로그인하면 볼 수 있어요." }
                    }
                }
            }
        },
    )
}

fn host_actions(d: &DealView, csrf: &CsrfToken, _user: &AuthUser) -> Markup {
    let href = deal_href(d.id);
    html! {
        h2 { "내가 연 공구" }
        @if d.status.is_open() {
            div.stack {
                a.button.secondary.block href={ (href) "/edit" } { "공구 수정" }
                @if d.status == DealStatus::Confirmed {
                    form method="post" action={ (href) "/complete" } data-confirm="물건을 모두 나눴나요? 거래 완료로 표시합니다." {
                        (csrf_field(csrf))
                        button.primary.block type="submit" data-busy-label="처리 중…" { "거래 완료" }
                    }
                }
                form method="post" action={ (href) "/cancel" } data-confirm="공구를 취소할까요? 참여한 이웃에게 알림이 갑니다." {
                    (csrf_field(csrf))
                    button.danger.block type="submit" data-busy-label="취소하는 중…" { "공구 취소" }
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------ actions

#[derive(Deserialize)]
struct OnlyCsrf {
    #[serde(default)]
    csrf_token: String,
}

#[derive(Deserialize)]
struct JoinForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    shares: String,
}

fn login_redirect(id: Uuid) -> Response {
    Redirect::to(&format!("/login?next={}", urlencode(&deal_href(id)))).into_response()
}

fn back_to(id: Uuid, msg: &str) -> Response {
    Redirect::to(&format!("{}?msg={msg}", deal_href(id))).into_response()
}

/// A refused action: the detail page again with the reason on top, under the error's status.
async fn refused(deals: &Deals, user: &AuthUser, csrf: &CsrfToken, id: Uuid, e: ApiError) -> Response {
    if e.code == "deal_not_found" || e.status.is_server_error() {
        return failure_page(e, Some(user));
    }
    render_detail(deals, Some(user), csrf, id, error_status(&e), Some(Flash::error(e.message.clone())), false).await
}

async fn join_submit(
    State(deals): State<Arc<Deals>>,
    MaybeWebUser(user): MaybeWebUser,
    csrf: CsrfToken,
    Path(id): Path<String>,
    CsrfForm(f): CsrfForm<JoinForm>,
) -> Response {
    let Some(id) = parse_id(&id) else { return not_found_page(user.as_ref()) };
    let Some(user) = user else { return login_redirect(id) };
    let Some(shares) = parse_int(&f.shares) else {
        return refused(&deals, &user, &csrf, id, ApiError::field("shares", "몫 수를 숫자로 입력해 주세요.")).await;
    };
    let was_member = match deals.members(id).await {
        Ok(m) => m.iter().any(|m| m.login_id == user.login_id),
        Err(e) => return refused(&deals, &user, &csrf, id, e).await,
    };
    match deals.set_shares(&user, id, shares).await {
        Ok(_) => back_to(id, if was_member { "changed" } else { "joined" }),
        Err(e) => refused(&deals, &user, &csrf, id, e).await,
    }
}

/// The deal page's one-button forms (`/deals/{id}/leave`, `/cancel`, `/complete`): the rules and
/// the owner checks are the service's; this only answers with the deal page and a message.
async fn button_submit(
    State(deals): State<Arc<Deals>>,
    MaybeWebUser(user): MaybeWebUser,
    csrf: CsrfToken,
    route: MatchedPath,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<OnlyCsrf>,
) -> Response {
    let Some(id) = parse_id(&id) else { return not_found_page(user.as_ref()) };
    let Some(user) = user else { return login_redirect(id) };
    let (done, result) = match route.as_str().rsplit('/').next() {
        Some("leave") => ("left", deals.leave(&user, id).await),
        Some("cancel") => ("cancelled", deals.cancel(&user, id).await.map(drop)),
        Some("complete") => ("completed", deals.complete(&user, id).await.map(drop)),
        _ => return not_found_page(Some(&user)),
    };
    match result {
        Ok(()) => back_to(id, done),
        Err(e) => refused(&deals, &user, &csrf, id, e).await,
    }
}

// ------------------------------------------------------------------------------------ create / edit

/// The create and edit form as typed: text, so that a blank or odd value becomes a message by
/// the field instead of a rejected request. The meeting place is `name`/`lat`/`lon`, the names
/// `app.js` fills from the "현재 위치 사용" button.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct DealForm {
    csrf_token: String,
    title: String,
    description: String,
    category_id: String,
    product_url: String,
    total_price: String,
    shares_total: String,
    min_shares: String,
    host_shares: String,
    items_per_share: String,
    unit: String,
    deadline: String,
    name: String,
    lat: String,
    lon: String,
    keywords: String,
    /// Photos already stored (comma-separated keys), kept across a form that failed validation.
    image_keys: String,
    /// "on" to remove the deal's photos when editing.
    remove_photos: String,
}

fn kept_keys(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect()
}

/// The meeting place fields: all blank means none.
fn parse_place(f: &DealForm, errors: &mut FieldErrors) -> Option<MeetingPlace> {
    if f.name.trim().is_empty() && f.lat.trim().is_empty() && f.lon.trim().is_empty() {
        return None;
    }
    let lat = f.lat.trim().parse::<f64>().ok();
    let lon = f.lon.trim().parse::<f64>().ok();
    if lat.is_none() {
        errors.insert("meeting_place.lat".into(), "위도를 숫자로 입력하거나 ‘현재 위치 사용’을 눌러 주세요.".into());
    }
    if lon.is_none() {
        errors.insert("meeting_place.lon".into(), "경도를 숫자로 입력해 주세요.".into());
    }
    Some(MeetingPlace { name: f.name.clone(), lat: lat.unwrap_or(0.0), lon: lon.unwrap_or(0.0) })
}

/// Reads the create form into the API's input; messages for what could not be read at all.
fn read_new_deal(f: &DealForm, now: DateTime<Utc>) -> (NewDealInput, FieldErrors) {
    let mut errors = FieldErrors::new();
    let number = |field: &str, raw: &str, optional: bool, errors: &mut FieldErrors| -> Option<i64> {
        if optional && raw.trim().is_empty() {
            return None;
        }
        let n = parse_int(raw);
        if n.is_none() {
            errors.insert(field.into(), if raw.trim().is_empty() { "숫자를 입력해 주세요." } else { "숫자만 입력해 주세요." }.into());
        }
        n
    };
    let total_price = number("total_price", &f.total_price, false, &mut errors).unwrap_or(0);
    let shares_total = number("shares_total", &f.shares_total, false, &mut errors).unwrap_or(0);
    let min_shares = number("min_shares", &f.min_shares, true, &mut errors);
    let host_shares = number("host_shares", &f.host_shares, true, &mut errors);
    let items_per_share = number("items_per_share", &f.items_per_share, false, &mut errors).unwrap_or(0);
    let deadline = parse_kst_input(&f.deadline).unwrap_or_else(|| {
        errors.insert("deadline".into(), "마감 날짜와 시간을 골라 주세요.".into());
        now
    });
    let meeting_place = parse_place(f, &mut errors);
    let input = NewDealInput {
        title: f.title.clone(),
        description: f.description.clone(),
        category_id: parse_int(&f.category_id).unwrap_or(0),
        product_url: Some(f.product_url.clone()).filter(|u| !u.trim().is_empty()),
        total_price,
        shares_total,
        min_shares,
        host_shares,
        items_per_share,
        unit: f.unit.clone(),
        deadline,
        meeting_place,
        keywords: split_keywords(&f.keywords),
        image_keys: vec![],
    };
    // Every rule at once: what could not be read keeps its own message.
    if let Err(rules) = input.parse(now) {
        for (k, v) in rules {
            errors.entry(k).or_insert(v);
        }
    }
    (input, errors)
}

enum FormMode<'a> {
    Create,
    /// `locked`: someone else joined, so title, price, shares and deadline stay as they are.
    Edit {
        deal: &'a DealView,
        locked: bool,
    },
}

fn deal_form_view(
    csrf: &CsrfToken,
    user: &AuthUser,
    mode: FormMode<'_>,
    v: &DealForm,
    errors: &FieldErrors,
    flash: Option<Flash>,
    show_per_share: bool,
) -> Markup {
    let e = errors;
    let (title, action, submit, busy, tab) = match &mode {
        FormMode::Create => ("공구 등록".to_owned(), "/deals".to_owned(), "공구 등록하기", "등록하는 중…", Tab::NewDeal),
        FormMode::Edit { deal, .. } => {
            ("공구 수정".to_owned(), format!("/deals/{}/edit", deal.id), "수정 내용 저장", "저장하는 중…", Tab::Deals)
        }
    };
    let locked = matches!(mode, FormMode::Edit { locked: true, .. });
    let categories: Vec<(String, String)> = CATEGORIES.iter().enumerate().map(|(i, n)| ((i + 1).to_string(), (*n).to_owned())).collect();
    let units: Vec<(String, String)> = UNITS.iter().map(|u| ((*u).to_owned(), (*u).to_owned())).collect();
    let per_share = match (parse_int(&v.total_price), parse_int(&v.shares_total)) {
        (Some(t), Some(n)) if show_per_share && t > 0 && (1..=100).contains(&n) => Some(money::share_price(t, n as u32)),
        _ => None,
    };
    layout(
        Page { title: &title, tab, user: Some(user), flash },
        html! {
            h1.page-title { (title) }
            @if let FormMode::Edit { deal, .. } = &mode {
                p { a href=(deal_href(deal.id)) { "← " (deal.title) } }
            }
            section.card {
                form.stack method="post" action=(action) enctype="multipart/form-data" data-validate novalidate {
                    (csrf_field(csrf))
                    input type="hidden" name="image_keys" value=(v.image_keys);
                    @if let FormMode::Edit { deal, locked: true } = &mode {
                        fieldset.stack {
                            legend { "바꿀 수 없는 항목" }
                            p.hint { "다른 이웃이 참여해서 제목, 가격, 몫, 마감 시간은 바꿀 수 없어요." }
                            dl.summary {
                                dt { "제목" } dd { (deal.title) }
                                dt { "카테고리" } dd { (deal.category.name) }
                                dt { "총 금액" } dd { (won(deal.total_price)) }
                                dt { "나눌 몫" } dd { (deal.shares_total) "몫 (최소 " (deal.min_shares) "몫)" }
                                dt { "한 몫" } dd { (deal.items_per_share) (deal.unit) }
                                dt { "마감" } dd { (format_kst(deal.deadline)) }
                                @if let Some(u) = &deal.product_url { dt { "상품 링크" } dd { (u) } }
                            }
                        }
                    }
                    @if !locked {
                        fieldset.stack {
                            legend { "상품" }
                            (input(Input { name: "title", label: "제목", value: &v.title, required: true, minlength: Some("2"), maxlength: Some("60"), placeholder: Some("예: 코스트코 휴지 30롤 나눠요"), ..Default::default() }, e))
                            (select("category_id", "카테고리", &categories, &v.category_id, Some("카테고리를 고르세요"), e))
                            (input(Input { name: "product_url", label: "상품 링크 (선택)", kind: "url", value: &v.product_url, maxlength: Some("2000"), placeholder: Some("https://"), inputmode: Some("url"), ..Default::default() }, e))
                        }
                        fieldset.stack {
                            legend { "가격과 몫" }
                            div.row.row-top {
                                (input(Input { name: "total_price", label: "총 금액 (원)", kind: "number", value: &v.total_price, required: true, min: Some("100"), max: Some("10000000"), step: Some("1"), inputmode: Some("numeric"), ..Default::default() }, e))
                                (input(Input { name: "shares_total", label: "나눌 몫", kind: "number", value: &v.shares_total, required: true, min: Some("2"), max: Some("100"), step: Some("1"), inputmode: Some("numeric"), ..Default::default() }, e))
                            }
                            @if let Some(p) = per_share {
                                p.hint id="per-share" { "1인당 약 " strong { (won(p)) } }
                            }
                            div.row.row-top {
                                (input(Input { name: "min_shares", label: "최소 몫 (확정 기준)", kind: "number", value: &v.min_shares, min: Some("2"), step: Some("1"), inputmode: Some("numeric"), placeholder: Some("전체"), hint: Some("비우면 모든 몫이 모여야 확정돼요."), ..Default::default() }, e))
                                @if matches!(mode, FormMode::Create) {
                                    (input(Input { name: "host_shares", label: "내가 가질 몫", kind: "number", value: &v.host_shares, min: Some("1"), step: Some("1"), inputmode: Some("numeric"), ..Default::default() }, e))
                                }
                            }
                            div.row.row-top {
                                (input(Input { name: "items_per_share", label: "한 몫의 수량", kind: "number", value: &v.items_per_share, required: true, min: Some("1"), max: Some("10000"), step: Some("1"), inputmode: Some("numeric"), ..Default::default() }, e))
                                (select("unit", "단위", &units, &v.unit, None, e))
                            }
                        }
                    }
                    fieldset.stack {
                        legend { "마감과 만날 장소" }
                        @if !locked {
                            (input(Input { name: "deadline", label: "마감 시간", kind: "datetime-local", value: &v.deadline, required: true, hint: Some("한국 시간 기준, 지금부터 1시간 뒤 ~ 14일 뒤"), ..Default::default() }, e))
                        }
                        (input(Input { name: "name", label: "만날 장소 (선택)", value: &v.name, error_key: Some("meeting_place.name"), maxlength: Some("50"), placeholder: Some("예: 역삼역 2번 출구"), ..Default::default() }, e))
                        div.row.row-top {
                            (input(Input { name: "lat", label: "위도", kind: "number", value: &v.lat, error_key: Some("meeting_place.lat"), step: Some("any"), min: Some("-90"), max: Some("90"), inputmode: Some("decimal"), ..Default::default() }, e))
                            (input(Input { name: "lon", label: "경도", kind: "number", value: &v.lon, error_key: Some("meeting_place.lon"), step: Some("any"), min: Some("-180"), max: Some("180"), inputmode: Some("decimal"), ..Default::default() }, e))
                        }
                        button.secondary type="button" id="use-location" { "📍 현재 위치 사용" }
                        small id="location-status" aria-live="polite" {}
                    }
                    fieldset.stack {
                        legend { "설명" }
                        (input(Input { name: "description", label: "상품 설명 (선택)", kind: "textarea", value: &v.description, maxlength: Some("5000"), placeholder: Some("나눌 방법, 거래 시간 등을 적어 주세요."), ..Default::default() }, e))
                        (input(Input { name: "keywords", label: "키워드 (쉼표로 구분, 최대 10개)", value: &v.keywords, placeholder: Some("예: 휴지, 코스트코"), hint: Some("관심 키워드로 등록한 이웃에게 알림이 가요."), ..Default::default() }, e))
                    }
                    fieldset.stack {
                        legend { "사진 (선택, 최대 5장)" }
                        @let kept = kept_keys(&v.image_keys);
                        @let current: Vec<String> = match &mode {
                            FormMode::Edit { deal, .. } if kept.is_empty() => deal.images.iter().map(|i| i.key.clone()).collect(),
                            _ => kept,
                        };
                        @if !current.is_empty() {
                            ul.photo-strip {
                                @for k in &current { li { img src=(crate::service::image_view(k).thumbnail_url) alt="올린 사진"; } }
                            }
                        }
                        label.field.invalid[e.contains_key("image_keys")] {
                            span.label { @if current.is_empty() { "사진 고르기" } @else { "새 사진으로 바꾸기" } }
                            input type="file" name="photos" accept="image/jpeg,image/png,image/webp,image/gif" multiple data-preview="photo-preview";
                            small.hint { "첫 사진이 대표 사진이 돼요. 한 장에 5MB까지, 위치 정보는 지워서 저장해요." }
                            small.field-error { @if let Some(m) = e.get("image_keys") { (m) } }
                        }
                        ul.photo-strip id="photo-preview" {}
                        @if matches!(mode, FormMode::Edit { .. }) && !current.is_empty() {
                            label.check { input type="checkbox" name="remove_photos" value="on"; " 사진 모두 지우기" }
                        }
                    }
                    button.primary.block type="submit" data-busy-label=(busy) { (submit) }
                }
            }
        },
    )
}

async fn new_page(State(deals): State<Arc<Deals>>, WebUser(user): WebUser, csrf: CsrfToken) -> Response {
    let v = DealForm {
        host_shares: "1".into(),
        items_per_share: "1".into(),
        unit: UNITS[0].into(),
        deadline: kst_input(deals.clock.now() + Duration::days(3)),
        ..Default::default()
    };
    deal_form_view(&csrf, &user, FormMode::Create, &v, &FieldErrors::new(), None, false).into_response()
}

/// Stores the photos of a form; their keys join the ones kept from an earlier attempt.
async fn form_photos(deals: &Deals, f: &mut DealForm, files: Vec<Vec<u8>>) -> Result<Option<Vec<String>>, ApiError> {
    if files.is_empty() {
        let kept = kept_keys(&f.image_keys);
        return Ok((!kept.is_empty()).then_some(kept));
    }
    let keys = deals.store_photos(files).await?;
    f.image_keys = keys.join(",");
    Ok(Some(keys))
}

async fn create_submit(
    State(deals): State<Arc<Deals>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfMultipart { form: mut f, files }: CsrfMultipart<DealForm>,
) -> Response {
    let now = deals.clock.now();
    let photos = form_photos(&deals, &mut f, files).await;
    let (mut input, mut errors) = read_new_deal(&f, now);
    match photos {
        Ok(keys) => input.image_keys = keys.unwrap_or_default(),
        Err(e) => {
            errors.extend(split_error(&e, Some("입력한 내용을 확인해 주세요.")).0);
        }
    }
    if !errors.is_empty() {
        let flash = Some(Flash::error("입력한 내용을 확인해 주세요."));
        return (StatusCode::UNPROCESSABLE_ENTITY, deal_form_view(&csrf, &user, FormMode::Create, &f, &errors, flash, true))
            .into_response();
    }
    match deals.create(&user, input).await {
        Ok(d) => back_to(d.id, "created"),
        Err(e) if e.status.is_server_error() => failure_page(e, Some(&user)),
        Err(e) => {
            let (errors, flash) = split_error(&e, Some("입력한 내용을 확인해 주세요."));
            (error_status(&e), deal_form_view(&csrf, &user, FormMode::Create, &f, &errors, flash, true)).into_response()
        }
    }
}

fn form_from_deal(d: &DealView) -> DealForm {
    DealForm {
        title: d.title.clone(),
        description: d.description.clone(),
        category_id: d.category.id.to_string(),
        product_url: d.product_url.clone().unwrap_or_default(),
        total_price: d.total_price.to_string(),
        shares_total: d.shares_total.to_string(),
        min_shares: d.min_shares.to_string(),
        items_per_share: d.items_per_share.to_string(),
        unit: d.unit.clone(),
        deadline: kst_input(d.deadline),
        name: d.meeting_place.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
        lat: d.meeting_place.as_ref().map(|p| p.lat.to_string()).unwrap_or_default(),
        lon: d.meeting_place.as_ref().map(|p| p.lon.to_string()).unwrap_or_default(),
        keywords: d.keywords.join(", "),
        ..Default::default()
    }
}

/// The deal and whether it is locked, for its host only; otherwise the page to answer with.
async fn editable(deals: &Deals, user: &AuthUser, raw_id: &str) -> Result<(DealView, bool), Response> {
    let Some(id) = parse_id(raw_id) else { return Err(not_found_page(Some(user))) };
    let deal = deals.get(id).await.map_err(|e| failure_page(e, Some(user)))?;
    if deal.host.login_id != user.login_id {
        return Err(error_page(StatusCode::FORBIDDEN, "수정할 수 없습니다", "공구를 연 사람만 수정할 수 있습니다.", Some(user)));
    }
    if !deal.status.is_open() {
        return Err(error_page(StatusCode::CONFLICT, "수정할 수 없습니다", "끝난 공구는 수정할 수 없습니다.", Some(user)));
    }
    let members = deals.members(id).await.map_err(|e| failure_page(e, Some(user)))?;
    let locked = members.iter().any(|m| !m.is_host);
    Ok((deal, locked))
}

async fn edit_page(State(deals): State<Arc<Deals>>, WebUser(user): WebUser, csrf: CsrfToken, Path(id): Path<String>) -> Response {
    match editable(&deals, &user, &id).await {
        Ok((deal, locked)) => {
            let v = form_from_deal(&deal);
            deal_form_view(&csrf, &user, FormMode::Edit { deal: &deal, locked }, &v, &FieldErrors::new(), None, false).into_response()
        }
        Err(res) => res,
    }
}

async fn edit_submit(
    State(deals): State<Arc<Deals>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Path(id): Path<String>,
    CsrfMultipart { form: mut f, files }: CsrfMultipart<DealForm>,
) -> Response {
    let (deal, locked) = match editable(&deals, &user, &id).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let mut errors = FieldErrors::new();
    let image_keys = match form_photos(&deals, &mut f, files).await {
        Ok(Some(keys)) => Some(keys),
        Ok(None) if f.remove_photos == "on" => Some(vec![]),
        Ok(None) => None,
        Err(e) => {
            errors.extend(split_error(&e, Some("입력한 내용을 확인해 주세요.")).0);
            None
        }
    };
    let mut patch = DealPatch {
        description: Some(f.description.clone()),
        keywords: Some(split_keywords(&f.keywords)),
        // All three blank removes the place.
        meeting_place: Some(parse_place(&f, &mut errors)),
        image_keys,
        ..Default::default()
    };
    if !locked {
        let mut number = |field: &str, raw: &str| -> Option<i64> {
            let n = parse_int(raw);
            if n.is_none() {
                errors.insert(field.into(), "숫자를 입력해 주세요.".into());
            }
            n
        };
        patch.total_price = number("total_price", &f.total_price);
        patch.shares_total = number("shares_total", &f.shares_total);
        patch.items_per_share = number("items_per_share", &f.items_per_share);
        patch.min_shares = if f.min_shares.trim().is_empty() { patch.shares_total } else { number("min_shares", &f.min_shares) };
        patch.title = Some(f.title.clone());
        patch.category_id = Some(parse_int(&f.category_id).unwrap_or(0));
        patch.product_url = Some(f.product_url.trim().to_owned());
        patch.unit = Some(f.unit.clone());
        // Unchanged text keeps the exact stored instant (the input shows minutes only).
        if f.deadline.trim() != kst_input(deal.deadline) {
            match parse_kst_input(&f.deadline) {
                Some(t) => patch.deadline = Some(t),
                None => {
                    errors.insert("deadline".into(), "마감 날짜와 시간을 골라 주세요.".into());
                }
            }
        }
    }
    let result = if errors.is_empty() { deals.update(&user, deal.id, patch).await } else { Err(ApiError::validation(errors)) };
    match result {
        Ok(d) => back_to(d.id, "updated"),
        Err(e) if e.status.is_server_error() || e.code == "deal_not_found" => failure_page(e, Some(&user)),
        Err(e) => {
            let (errors, flash) = split_error(&e, Some("입력한 내용을 확인해 주세요."));
            let show = FormMode::Edit { deal: &deal, locked: locked || e.code == "deal_locked" };
            (error_status(&e), deal_form_view(&csrf, &user, show, &f, &errors, flash, true)).into_response()
        }
    }
}

// ------------------------------------------------------------------------------------ my deals, seller

#[derive(Deserialize, Default)]
#[serde(default)]
struct RoleQuery {
    role: Option<String>,
    cursor: Option<String>,
}

async fn my_deals_page(
    State(deals): State<Arc<Deals>>,
    WebUser(user): WebUser,
    query: Result<Query<RoleQuery>, QueryRejection>,
) -> Response {
    let now = deals.clock.now();
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let (role, mut problem) = match q.role.as_deref().unwrap_or("host") {
        "host" | "" => ("host", None),
        "member" => ("member", None),
        _ => ("host", Some("알 수 없는 목록입니다.".to_owned())),
    };
    let cursor = if problem.is_some() { None } else { q.cursor.filter(|c| !c.is_empty()) };
    let list = |cursor: Option<String>| {
        let params = ListParams { cursor, ..Default::default() };
        if role == "host" {
            deals.list(params, Some(user.user_id), None)
        } else {
            deals.list(params, None, Some(user.user_id))
        }
    };
    let page = match list(cursor).await {
        Ok(p) => p,
        Err(e) if e.status.is_client_error() => {
            problem = Some("더 보기 주소가 올바르지 않습니다.".to_owned());
            match list(None).await {
                Ok(p) => p,
                Err(e) => return failure_page(e, Some(&user)),
            }
        }
        Err(e) => return failure_page(e, Some(&user)),
    };
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let flash = problem.map(|m| Flash::error(format!("{m} 처음부터 보여 드려요.")));
    let more = page.next_cursor.as_deref().map(|c| query_href("/me/deals", &[("role", Some(role)), ("cursor", Some(c))]));
    let body = html! {
        h1.page-title { "내 공구" }
        nav aria-label="내 공구 종류" {
            ul.chips {
                li { a.chip.chip-on[role == "host"] href="/me/deals?role=host" aria-current=[(role == "host").then_some("page")] { "내가 연 공구" } }
                li { a.chip.chip-on[role == "member"] href="/me/deals?role=member" aria-current=[(role == "member").then_some("page")] { "참여한 공구" } }
            }
        }
        @if page.items.is_empty() {
            section.card.empty {
                div.empty-icon aria-hidden="true" { "🧺" }
                @if role == "host" {
                    h2 { "아직 연 공구가 없어요" }
                    p { "나눠 사고 싶은 물건이 있다면 공구를 열어 보세요." }
                    a.button.primary href="/deals/new" { "공구 등록하기" }
                } @else {
                    h2 { "참여한 공구가 없어요" }
                    p { "우리 동네에 열린 공구를 둘러보세요." }
                    a.button.primary href="/" { "공구 둘러보기" }
                }
            }
        } @else {
            (deal_list(&page.items, now))
            (more_link(more))
        }
    };
    (status, layout(Page { title: "내 공구", tab: Tab::Me, user: Some(&user), flash }, body)).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CursorQuery {
    cursor: Option<String>,
}

async fn seller_page(
    State(deals): State<Arc<Deals>>,
    MaybeWebUser(user): MaybeWebUser,
    Path(login_id): Path<String>,
    query: Result<Query<CursorQuery>, QueryRejection>,
) -> Response {
    let login_id = login_id.trim().to_ascii_lowercase();
    let valid = (3..=20).contains(&login_id.len()) && login_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return error_page(StatusCode::NOT_FOUND, "사용자를 찾을 수 없습니다", "주소가 잘못되었거나 없는 사용자입니다.", user.as_ref());
    }
    let now = deals.clock.now();
    let cursor = query.map(|Query(q)| q.cursor).unwrap_or_default().filter(|c| !c.is_empty());
    let host = match deals.store.host_by_login(&login_id).await {
        Ok(h) => h,
        Err(e) => return failure_page(ApiError::from(e), user.as_ref()),
    };
    let mut flash = None;
    let page = match host {
        None => DealPage { items: vec![], next_cursor: None },
        Some(host) => match deals.list(ListParams { cursor, ..Default::default() }, Some(host), None).await {
            Ok(p) => p,
            Err(e) if e.status.is_client_error() => {
                flash = Some(Flash::error("더 보기 주소가 올바르지 않습니다. 처음부터 보여 드려요."));
                match deals.list(ListParams::default(), Some(host), None).await {
                    Ok(p) => p,
                    Err(e) => return failure_page(e, user.as_ref()),
                }
            }
            Err(e) => return failure_page(e, user.as_ref()),
        },
    };
    let status = if flash.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let title = format!("{login_id}님의 공구");
    let path = format!("/users/{login_id}");
    let more = page.next_cursor.as_deref().map(|c| query_href(&path, &[("cursor", Some(c))]));
    let body = html! {
        h1.page-title { (title) }
        @if page.items.is_empty() {
            section.card.empty {
                div.empty-icon aria-hidden="true" { "🧺" }
                h2 { "아직 연 공구가 없어요" }
                a.button.primary href="/" { "공구 둘러보기" }
            }
        } @else {
            (deal_list(&page.items, now))
            (more_link(more))
        }
    };
    (status, layout(Page { title: &title, tab: Tab::Deals, user: user.as_ref(), flash }, body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{Category, HostView};

    fn deal(status: DealStatus, deadline: DateTime<Utc>) -> DealView {
        DealView {
            id: Uuid::nil(),
            title: "휴지".into(),
            description: String::new(),
            category: Category { id: 4, name: "생활/주방".into() },
            product_url: None,
            total_price: 25_990,
            share_price: 8_664,
            shares_total: 3,
            shares_taken: 1,
            min_shares: 3,
            items_per_share: 10,
            unit: "개".into(),
            deadline,
            meeting_place: None,
            keywords: vec![],
            images: vec![],
            host: HostView { login_id: "host".into() },
            status,
            views: 0,
            created_at: deadline,
            distance_m: None,
        }
    }

    #[test]
    fn distances_read_naturally() {
        assert_eq!(distance_label(0), "바로 근처");
        assert_eq!(distance_label(49), "바로 근처");
        assert_eq!(distance_label(350), "350m");
        assert_eq!(distance_label(999), "999m");
        assert_eq!(distance_label(1_049), "1.0km");
        assert_eq!(distance_label(12_345), "12.3km");
        assert_eq!(distance_label(123_456), "123km");
    }

    #[test]
    fn won_has_thousands_separators() {
        assert_eq!(won(0), "0원");
        assert_eq!(won(999), "999원");
        assert_eq!(won(8_664), "8,664원");
        assert_eq!(won(25_990), "25,990원");
        assert_eq!(won(10_000_000), "10,000,000원");
        assert_eq!(won(-1_234), "-1,234원");
    }

    #[test]
    fn deadlines_count_seoul_calendar_days() {
        // 2026-11-25 23:00 KST.
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 14, 0, 0).unwrap();
        // 23:30 KST the same day.
        assert_eq!(deadline_label(&deal(DealStatus::Recruiting, now + Duration::minutes(30)), now), "오늘 마감");
        // 01:00 KST the next day: only two hours away, but tomorrow in Seoul.
        assert_eq!(deadline_label(&deal(DealStatus::Recruiting, now + Duration::hours(2)), now), "1일 뒤 마감");
        assert_eq!(deadline_label(&deal(DealStatus::Confirmed, now + Duration::days(3)), now), "3일 뒤 마감");
        assert_eq!(deadline_label(&deal(DealStatus::Recruiting, now - Duration::minutes(1)), now), "마감된 공구");
        assert_eq!(deadline_label(&deal(DealStatus::Cancelled, now + Duration::days(3)), now), "마감된 공구");
    }

    #[test]
    fn datetime_local_is_seoul_time() {
        let t = parse_kst_input("2026-11-25T19:05").unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2026, 11, 25, 10, 5, 0).unwrap());
        assert_eq!(kst_input(t), "2026-11-25T19:05");
        assert!(parse_kst_input("내일").is_none());
        assert!(parse_kst_input("").is_none());
    }

    #[test]
    fn amounts_follow_share_order() {
        let d = deal(DealStatus::Recruiting, Utc::now());
        // The host holds share 1 (8,664); the next share is 8,663.
        assert_eq!(amount_at(&d, 1, 1), 8_663);
        assert_eq!(amount_at(&d, 1, 2), 17_326);
        assert_eq!(amount_at(&d, 0, 1), 8_664);
    }

    #[test]
    fn form_numbers_and_filters() {
        assert_eq!(parse_int(" 25,990 "), Some(25_990));
        assert_eq!(parse_int("abc"), None);
        assert_eq!(parse_int(""), None);
        let f = Filters::from_form(&ListForm { category: Some("19".into()), ..Default::default() });
        assert!(f.is_err());
        let f = Filters::from_form(&ListForm { sort: Some("cheapest".into()), ..Default::default() });
        assert!(f.is_err());
        let f = Filters::from_form(&ListForm {
            q: Some(" 휴지 ".into()),
            category: Some("4".into()),
            status: Some("all".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(f.href(f.category, Some("abc")), "/?q=%ED%9C%B4%EC%A7%80&category=4&status=all&cursor=abc");
        assert_eq!(f.params(None).status, None);
        assert_eq!(Filters::default().href(None, None), "/");
    }

    #[test]
    fn create_form_reads_every_field_and_names_problems() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let form = DealForm {
            title: "코스트코 휴지 30롤".into(),
            category_id: "4".into(),
            total_price: "25,990".into(),
            shares_total: "3".into(),
            host_shares: "1".into(),
            items_per_share: "10".into(),
            unit: "개".into(),
            deadline: "2026-11-28T18:00".into(),
            name: "역삼역".into(),
            lat: "37.5".into(),
            lon: "127.03".into(),
            keywords: "휴지, 코스트코".into(),
            ..Default::default()
        };
        let (input, errors) = read_new_deal(&form, now);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((input.total_price, input.min_shares, input.host_shares), (25_990, None, Some(1)));
        assert_eq!(input.deadline, Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap());
        assert_eq!(input.keywords, ["휴지", "코스트코"]);
        let bad = DealForm { total_price: "많이".into(), min_shares: "4".into(), lat: "".into(), category_id: "".into(), ..form };
        let (_, errors) = read_new_deal(&bad, now);
        for key in ["total_price", "min_shares", "meeting_place.lat", "category_id"] {
            assert!(errors.contains_key(key), "{key}: {errors:?}");
        }
        assert_eq!(errors["total_price"], "숫자만 입력해 주세요.");
    }
}
