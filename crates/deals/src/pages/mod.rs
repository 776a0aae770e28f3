//! Deals pages: the home deal list (`home`), deal detail (`detail`) and its buttons (`actions`),
//! create/edit (`form`), my deals (`mine`), a seller's page (`seller`). This module keeps the
//! routes and what several pages share: labels, badges, deal cards and the error pages.
//! Plain HTML forms and links that work without JavaScript; `app.js` adds inline validation,
//! confirmations, busy buttons and the place picker (동 search, "현재 위치로 찾기") on top.
//!
//! Money shown here is exact: a deal's total is split into shares that add up to the total to
//! the won (`crate::money`), so "내 몫" is what the member really owes for their position.

use std::sync::Arc;

use axum::{
    extract::DefaultBodyLimit,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Extension, Router,
};
use chrono::{DateTime, Utc};
use gonggu_kernel::{
    auth::AuthUser,
    once::{Claim, OnceTokens, Ticket},
    web::{form_post, format_ago, kst, urlencode, won, Flash, FormPage, PageError},
    ApiError,
};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    domain::{DealStatus, CATEGORIES},
    service::DealView,
    Deals,
};

mod actions;
mod area;
mod detail;
mod form;
mod home;
mod mine;
mod payment;
mod seller;

pub fn router(deals: Arc<Deals>, once: Arc<OnceTokens>) -> Router {
    Router::new()
        .route("/", get(home::home))
        .route("/deals", form_post("/deals/new", form::create_submit).layer(DefaultBodyLimit::max(form::PHOTO_FORM_LIMIT)))
        .route("/deals/new", get(form::new_page))
        .route("/deals/{id}", get(detail::detail_page))
        .route(
            "/deals/{id}/edit",
            get(form::edit_page)
                .post(form::edit_submit)
                .layer((DefaultBodyLimit::max(form::PHOTO_FORM_LIMIT), Extension(FormPage("/deals/{id}/edit")))),
        )
        .route("/deals/{id}/join", form_post("/deals/{id}", actions::join_submit))
        .route("/deals/{id}/leave", form_post("/deals/{id}", actions::button_submit))
        .route("/deals/{id}/cancel", form_post("/deals/{id}", actions::button_submit))
        .route("/deals/{id}/complete", form_post("/deals/{id}", actions::button_submit))
        .route("/me/deals", get(mine::my_deals_page))
        .route("/users/{login_id}", get(seller::seller_page))
        .layer(Extension(once))
        .with_state(deals)
}

/// Claims a form's one-time token for this user; `Err` is the answer to a repeat: where the
/// first submit led, or a notice while it is still at work.
async fn claim_once(once: &Arc<OnceTokens>, user: &AuthUser, token: &str) -> Result<Ticket, Response> {
    match once.claim(&user.user_id.to_string(), token).await {
        Ok(Claim::Fresh(ticket)) => Ok(ticket),
        Ok(Claim::Done(location)) => Err(Redirect::to(&location).into_response()),
        Ok(Claim::Busy) => Err(PageError::new(
            StatusCode::CONFLICT,
            "처리하고 있어요",
            "같은 요청을 처리하는 중입니다. 잠시 후 공구 페이지에서 결과를 확인해 주세요.",
        )
        .into_response()),
        Err(e) => Err(failure_page(ApiError::internal(anyhow::Error::new(e).context("claiming a one-time form token")))),
    }
}

/// Redirects to where a claimed form led, and remembers it for a repeat of the form.
async fn done_once(ticket: Ticket, location: String) -> Response {
    ticket.done(&location).await;
    Redirect::to(&location).into_response()
}

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

/// Every share is taken: nobody else can join, whatever the status says (full deals are
/// confirmed, and the open list holds confirmed deals too).
fn is_full(d: &DealView) -> bool {
    d.status.is_open() && d.shares_taken >= d.shares_total
}

/// Why a deal takes no more changes from members, if it doesn't.
fn closed_reason(d: &DealView, now: DateTime<Utc>) -> Option<(&'static str, &'static str)> {
    if is_full(d) && d.deadline > now {
        return Some(("모집 마감", "모든 몫이 찼어요. 확정된 공구라 거래가 진행돼요."));
    }
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

/// The "마감" of a deal whose shares are all taken, apart from the status badges.
fn full_badge() -> Markup {
    html! { span.badge.badge-full { "마감" } }
}

/// A picture for each category, for deals without photos.
fn category_icon(id: i64) -> &'static str {
    const ICONS: [&str; CATEGORIES.len()] = [
        "📱", "🔌", "🛋️", "🍳", "🧸", "📚", "👗", "👜", "👔", "💄", "⚽", "🎮", "📖", "🎟️", "🥫", "🐾", "🪴", "📦", "🍓", "🥚", "🐟", "🌾",
        "🥤", "🧀", "🧻",
    ];
    ICONS.get((id - 1).max(0) as usize).copied().unwrap_or("📦")
}

/// A list's picture of a deal: its cover's small thumbnail (and how many photos it has), or the
/// category's icon.
fn thumb(d: &DealView) -> Markup {
    html! {
        div.thumb aria-hidden="true" {
            @if let Some(img) = d.images.first() {
                img src=(img.thumbnail_url) alt="" loading="lazy";
                @if d.images.len() > 1 { span.thumb-count { "📷 " (d.images.len()) } }
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

fn not_found_page() -> Response {
    PageError::not_found("공구를 찾을 수 없습니다", "주소가 잘못되었거나 지워진 공구입니다.").into_response()
}

/// An error that leaves nothing to re-render: 404 for a missing deal, otherwise a page with the
/// message (a server error's cause is logged once, at the edge, and not shown).
fn failure_page(e: ApiError) -> Response {
    if e.status == StatusCode::NOT_FOUND {
        return not_found_page();
    }
    let server = e.status.is_server_error();
    PageError::from(e).titled(if server { "일시적인 오류입니다" } else { "요청을 처리할 수 없습니다" }).into_response()
}

/// `" 25,990 "` → 25990; `None` for blank or not a whole number.
fn parse_int(raw: &str) -> Option<i64> {
    let cleaned: String = raw.chars().filter(|c| !c.is_whitespace() && *c != ',').collect();
    if cleaned.is_empty() {
        return None;
    }
    cleaned.parse().ok()
}

fn split_keywords(raw: &str) -> Vec<String> {
    raw.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

// ------------------------------------------------------------------------------------ cards

fn deal_card(d: &DealView, now: DateTime<Utc>) -> Markup {
    html! {
        li {
            a.card.deal-card href=(deal_href(d.id)) {
                (thumb(d))
                div.deal-body {
                    h2.deal-title { (d.title) }
                    p.deal-badges {
                        span.badge { (d.category.name) }
                        @if is_full(d) { (full_badge()) }
                        @else if d.status != DealStatus::Recruiting { (status_badge(d.status)) }
                    }
                    p.price { "1인당 " (won(d.share_price)) }
                    p.meta.deal-where {
                        @if let Some(dong) = d.meeting_place.as_ref().and_then(|p| p.dong.as_deref()) { (dong) " · " }
                        @if let Some(m) = d.distance_m { (distance_label(m)) " · " }
                        (format_ago(d.created_at, now))
                    }
                    p.meta {
                        (d.shares_taken) "/" (d.shares_total) " 몫 · "
                        @if is_full(d) && d.deadline > now { "모두 찼어요" } @else { (deadline_label(d, now)) }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{Category, HostView};
    use chrono::{Duration, TimeZone};
    use gonggu_kernel::web::{kst_input, parse_kst_input};

    pub(super) fn deal(status: DealStatus, deadline: DateTime<Utc>) -> DealView {
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
}
