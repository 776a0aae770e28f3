//! The home page: the open deals near you, with search, category chips, sorting and price filters.

use std::sync::Arc;

use axum::{
    extract::{rejection::QueryRejection, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use gonggu_kernel::{
    auth::AuthUser,
    web::{group_digits, layout, see_other, CsrfToken, Flash, MaybeWebUser, Page, Tab},
};
use maud::{html, Markup};
use serde::Deserialize;

use super::{
    area::{area_bar, Area, ReachChoice},
    deal_list, failure_page, flash_for, more_link, query_href,
};
use crate::{
    domain::{CategoryId, PriceBound, CATEGORIES, MAX_TOTAL_PRICE},
    service::{DealPage, ListParams},
    Deals,
};

const SORTS: [(&str, &str); 5] =
    [("newest", "최신순"), ("deadline", "마감 임박순"), ("remaining", "남은 몫 적은 순"), ("popular", "인기순"), ("nearest", "가까운 순")];
const STATUSES: [(&str, &str); 6] =
    [("open", "진행 중"), ("all", "전체"), ("confirmed", "확정"), ("completed", "완료"), ("cancelled", "취소"), ("failed", "무산")];

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ListForm {
    q: Option<String>,
    category: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
    cursor: Option<String>,
    msg: Option<String>,
    /// `1`, `3`, `5`, `10` (km) or `all`.
    reach: Option<String>,
    /// A 동 (법정동 code) to look around, for visitors; the place picker posts it.
    code: Option<String>,
    /// The place picker's other fields (text typed without script, or a located point).
    place: Option<String>,
    lat: Option<String>,
    lon: Option<String>,
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
    reach: ReachChoice,
    /// The 동 the address names (visitors).
    code: Option<&'static gonggu_places::Place>,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            q: String::new(),
            category: None,
            status: "open",
            sort: "newest",
            min_price: None,
            max_price: None,
            reach: ReachChoice::Unset,
            code: None,
        }
    }
}

/// A total-price box (the whole deal's price, as the original's filter compared): blank is no
/// bound; digits with optional commas ("10,000") are won.
fn price_bound(raw: Option<&str>, which: &str) -> Result<Option<i64>, String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
    let digits: String = raw.chars().filter(|c| *c != ',').collect();
    match digits.parse::<i64>().ok().and_then(|n| PriceBound::parse(n).ok()) {
        Some(n) => Ok(Some(n.get())),
        None => Err(format!("총액 {which}은 0원에서 {}원 사이의 숫자로 입력해 주세요.", group_digits(MAX_TOTAL_PRICE))),
    }
}

impl Filters {
    fn from_form(f: &ListForm) -> Result<Filters, String> {
        let q: String = f.q.as_deref().unwrap_or("").trim().chars().take(crate::service::MAX_QUERY_CHARS).collect();
        let category = match f.category.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => match c.parse::<i64>().ok().and_then(|n| CategoryId::parse(n).ok()) {
                Some(id) => Some(id.get()),
                None => return Err("알 수 없는 카테고리입니다.".into()),
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
        let reach = ReachChoice::parse(f.reach.as_deref())?;
        let code = match f.code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(gonggu_places::get(c).ok_or_else(|| "알 수 없는 동네입니다.".to_owned())?),
        };
        // min ≤ max is the service's rule; its refusal comes back as the page's notice.
        Ok(Filters { q, category, status, sort, min_price, max_price, reach, code })
    }

    fn params(&self, cursor: Option<String>, area: Option<&Area>) -> ListParams {
        // The area's point, so the list does not look the viewer's home up again.
        ListParams {
            lat: area.map(|a| a.from.0),
            lon: area.map(|a| a.from.1),
            reach_km: area.and_then(|a| a.reach_km),
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
        self.href_with(category, cursor, self.reach)
    }

    fn href_with(&self, category: Option<i64>, cursor: Option<&str>, reach: ReachChoice) -> String {
        let cat = category.map(|c| c.to_string());
        let (min, max) = (self.min_price.map(|p| p.to_string()), self.max_price.map(|p| p.to_string()));
        let (code, reach) = (self.code.map(|p| p.code.to_string()), reach.as_param());
        query_href(
            "/",
            &[
                ("code", code.as_deref()),
                ("reach", reach.as_deref()),
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

    /// This list sorted another way (the sort chips).
    fn sorted_href(&self, sort: &'static str) -> String {
        Filters { sort, ..self.clone() }.href(self.category, None)
    }

    /// Sorting, status or price differ from the defaults (the folded part of the form is in use).
    fn refined(&self) -> bool {
        self.status != "open" || self.sort != "newest" || self.min_price.is_some() || self.max_price.is_some()
    }

    fn is_default(&self) -> bool {
        self.reach == ReachChoice::Unset
            && self.code.is_none()
            && self.q.is_empty()
            && self.category.is_none()
            && self.status == "open"
            && self.sort == "newest"
            && self.min_price.is_none()
            && self.max_price.is_none()
    }
}

/// A 동 chosen with the picker but not sent as a code (no script ran, or the location was used):
/// the code it means, to put in the address.
fn picked_code(f: &ListForm) -> Option<Result<String, String>> {
    if let Some(code) = f.code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        // The picker's form also sends its text and empty point fields: a short address instead.
        return f.place.is_some().then(|| Ok(code.to_owned()));
    }
    let number = |v: &Option<String>| v.as_deref().and_then(|v| v.trim().parse::<f64>().ok());
    if let (Some(lat), Some(lon)) = (number(&f.lat), number(&f.lon)) {
        return Some(gonggu_places::reverse(lat, lon).map(|p| p.code.to_string()).map_err(|e| e.to_string()));
    }
    let typed = f.place.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
    Some(gonggu_places::pick(typed).map(|p| p.code.to_string()).map_err(|e| e.to_string()))
}

pub(super) async fn home(
    State(deals): State<Arc<Deals>>,
    MaybeWebUser(user): MaybeWebUser,
    csrf: CsrfToken,
    query: Result<Query<ListForm>, QueryRejection>,
) -> Response {
    let now = deals.clock.now();
    if let Ok(Query(f)) = &query {
        match picked_code(f) {
            Some(Ok(code)) => return see_other(&format!("/?code={code}")),
            Some(Err(m)) => {
                let flash = Flash::error(m);
                let page = deals.list(Filters::default().params(None, None), None, None).await;
                return match page {
                    Ok(p) => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        home_view(user.as_ref(), &csrf, &Filters::default(), None, &p, now, Some(flash), true),
                    )
                        .into_response(),
                    Err(e) => failure_page(e),
                };
            }
            None => {}
        }
    }
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
    let homes = match viewer {
        Some(v) => deals.homes_of(v).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e.message, "the viewer's neighbourhood could not be read; showing the whole country");
            None
        }),
        None => None,
    };
    let area = Area::resolve(filters.code, homes.as_ref(), filters.reach);
    let page = match deals.list_for(filters.params(cursor.clone(), area.as_ref()), None, None, viewer).await {
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
            match deals.list(Filters::default().params(None, None), None, None).await {
                Ok(p) => p,
                Err(e) => return failure_page(e),
            }
        }
        Err(e) => return failure_page(e),
    };
    let (status, flash, filters, area) = match problem {
        Some(m) => (StatusCode::BAD_REQUEST, Some(Flash::error(format!("{m} 기본 목록을 보여 드려요."))), Filters::default(), None),
        None => (StatusCode::OK, flash_for(msg.as_deref()), filters, area),
    };
    let first_page = cursor.as_deref().is_none_or(str::is_empty);
    (status, home_view(user.as_ref(), &csrf, &filters, area, &page, now, flash, first_page)).into_response()
}

#[allow(clippy::too_many_arguments)] // one page's parts; a struct for them would only be unpacked here
fn home_view(
    user: Option<&AuthUser>,
    csrf: &CsrfToken,
    f: &Filters,
    area: Option<Area>,
    page: &DealPage,
    now: DateTime<Utc>,
    flash: Option<Flash>,
    first_page: bool,
) -> Markup {
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
            (area_bar(area.as_ref(), user.is_some(), csrf, &|reach| f.href_with(f.category, None, reach)))
            form.card.stack.filters method="get" action="/" role="search" {
                @if let Some(p) = f.code { input type="hidden" name="code" value=(p.code.to_string()); }
                @if let Some(r) = f.reach.as_param() { input type="hidden" name="reach" value=(r); }
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
            // 마감 임박 and 가까운 순 one tap away (가까운 순 needs somewhere to measure from).
            nav aria-label="정렬" {
                ul.chips.sort-chips {
                    @for (key, label) in [("newest", "최신순"), ("deadline", "마감 임박"), ("nearest", "가까운 순")] {
                        @if key != "nearest" || area.is_some() {
                            li { a.chip.chip-on[f.sort == key] href=(f.sorted_href(key)) aria-current=[(f.sort == key).then_some("true")] { (label) } }
                        }
                    }
                }
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
                    @let near = area.as_ref().filter(|a| a.reach_km.is_some()).and_then(|a| a.place);
                    h2 {
                        @if let Some(p) = near.filter(|_| f.q.is_empty() && f.category.is_none()) { (p.name) " 가까이에 열린 공구가 없어요" }
                        @else if f.is_default() { "아직 열린 공구가 없어요" }
                        @else { "조건에 맞는 공구가 없어요" }
                    }
                    p {
                        @if near.is_some() { "범위를 넓혀 보거나, 필요한 물건이 있다면 직접 공구를 열어 이웃을 모아 보세요." }
                        @else { "필요한 물건이 있다면 직접 공구를 열어 이웃을 모아 보세요." }
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::parse_int;

    #[test]
    fn form_numbers_and_filters() {
        assert_eq!(parse_int(" 25,990 "), Some(25_990));
        assert_eq!(parse_int("abc"), None);
        assert_eq!(parse_int(""), None);
        let f = Filters::from_form(&ListForm { category: Some((CATEGORIES.len() + 1).to_string()), ..Default::default() });
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
        assert_eq!(f.params(None, None).status, None);
        assert_eq!(Filters::default().href(None, None), "/");
    }
}
