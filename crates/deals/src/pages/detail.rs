//! One deal: its photos, price, progress, the join form and the host's buttons, and who joined.

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use gonggu_kernel::{
    auth::AuthUser,
    once,
    web::{csrf_field, format_kst, layout, urlencode, won, CsrfToken, Flash, MaybeWebUser, Page, Tab},
};
use maud::{html, Markup};
use std::sync::Arc;
use uuid::Uuid;

use super::{
    category_icon, closed_reason, deadline_label, deal_href, failure_page, flash_for, full_badge, is_full, not_found_page, parse_id,
    payment, status_badge, MsgQuery,
};
use crate::{
    domain::DealStatus,
    money,
    service::{DealView, MemberView},
    Deals,
};

pub(super) async fn detail_page(
    State(deals): State<Arc<Deals>>,
    MaybeWebUser(user): MaybeWebUser,
    csrf: CsrfToken,
    Path(id): Path<String>,
    query: Result<Query<MsgQuery>, QueryRejection>,
) -> Response {
    let Some(id) = parse_id(&id) else { return not_found_page() };
    let msg = query.map(|Query(q)| q.msg).unwrap_or_default();
    render_detail(&deals, user.as_ref(), &csrf, id, StatusCode::OK, flash_for(msg.as_deref()), true).await
}

pub(super) async fn render_detail(
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
    let mut deal = match deals.open_deal(id, viewer.as_deref()).await {
        Ok(d) => d,
        Err(e) => return failure_page(e),
    };
    // How far the meeting place is from the viewer's neighbourhood.
    if let (Some(u), Some(p)) = (user, deal.meeting_place.as_ref()) {
        if let Ok(Some(home)) = deals.home_of(u.user_id).await {
            deal.distance_m = Some(gonggu_places::distance_m(home.lat, home.lon, p.lat, p.lon).round() as i64);
        }
    }
    let members = match user {
        Some(_) => match deals.members(id).await {
            Ok(m) => m,
            Err(e) => return failure_page(e),
        },
        None => vec![],
    };
    (status, detail_view(&deal, &members, user, csrf, deals.clock.now(), flash)).into_response()
}

/// Every photo of the deal, full width, one per swipe; the category's icon when it has none.
fn gallery(d: &DealView) -> Markup {
    let n = d.images.len();
    html! {
        @if n == 0 {
            div.thumb.thumb-lg aria-hidden="true" { (category_icon(d.category.id)) }
        } @else {
            div.gallery {
                ul.gallery-track aria-label="상품 사진" tabindex="0" {
                    @for (i, img) in d.images.iter().enumerate() {
                        li.gallery-item {
                            img src=(img.url) alt={ "상품 사진 " (i + 1) "/" (n) } loading=(if i == 0 { "eager" } else { "lazy" });
                        }
                    }
                }
                @if n > 1 { p.gallery-hint { "사진 " (n) "장 · 옆으로 넘겨 보세요" } }
            }
        }
    }
}

/// What `k` shares cost for someone whose shares come after `before` shares (host first, then
/// members by joining time).
fn amount_at(d: &DealView, before: i64, k: i64) -> i64 {
    let n = d.shares_total.max(1) as u32;
    money::amounts(d.total_price, n, &[before.max(0) as u32, k.max(0) as u32])[1]
}

/// What 1, 2, … `max` shares cost at this position, `|`-separated, for the live amount.
fn share_amounts(d: &DealView, before: i64, max: i64) -> String {
    (1..=max.max(0)).map(|k| won(amount_at(d, before, k))).collect::<Vec<_>>().join("|")
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
                    (gallery(d))
                    p.deal-badges { span.badge { (d.category.name) } (status_badge(d.status)) @if is_full(d) { (full_badge()) } }
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
                                @if p.dong.is_some() || d.distance_m.is_some() {
                                    span.meta {
                                        @if let Some(dong) = &p.dong { (dong) }
                                        @if let Some(m) = d.distance_m { @if p.dong.is_some() { " · " } "우리 동네에서 " (super::distance_label(m)) }
                                    }
                                    br;
                                }
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
                    @if is_host || me.is_some() {
                        // The deal's room is the chat context's, under the deal's id.
                        a.button.secondary.room-entry href={ "/chat/" (d.id) } { "💬 채팅방 열기" }
                    }
                    @if let Some(u) = user {
                        @if is_host {
                            (host_actions(d, csrf, u))
                        } @else {
                            @if let Some(m) = me {
                                p id="my-share" { "내 몫: " strong { (m.shares) "몫 · " (won(m.amount)) } }
                                (payment::pay_action(d, m))
                            }
                            @if joinable {
                                @if max_choice < 1 {
                                    p.muted { "남은 몫이 없어요." }
                                } @else {
                                    form.stack method="post" action={ (href) "/join" } data-validate novalidate {
                                        (csrf_field(csrf))
                                        (once::field(&once::issue()))
                                        div.field {
                                            label.label for="shares" { @if me.is_some() { "몫 바꾸기" } @else { "참여할 몫" } }
                                            // The buttons and the live amount are app.js's (hidden without it); the
                                            // amounts are the server's, exact to the won for this position.
                                            div.stepper {
                                                button.secondary type="button" data-step="-1" aria-controls="shares" aria-label="한 몫 빼기" hidden { "−" }
                                                input type="number" name="shares" id="shares" value=(choice) min="1" max=(max_choice) step="1" inputmode="numeric" required
                                                    data-amounts=(share_amounts(d, before_me, max_choice));
                                                button.secondary type="button" data-step="1" aria-controls="shares" aria-label="한 몫 더하기" hidden { "+" }
                                            }
                                            small.hint {
                                                "1몫 = " (d.items_per_share) (d.unit) " · 고를 수 있는 몫 최대 " (max_choice) "개"
                                            }
                                            small.field-error {}
                                        }
                                        p id="join-amount" aria-live="polite" {
                                            @if me.is_some() { "바꾸면 내 몫: " } @else { "내 몫: " }
                                            strong data-amount { (won(amount_at(d, before_me, choice))) } " (" span data-shares { (choice) } "몫)"
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
                                        (once::field(&once::issue()))
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
                                    div.list-side { span.meta { (m.shares) "몫" } span.amount { (won(m.amount)) } (payment::payment_state(d, m)) }
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
                        (once::field(&once::issue()))
                        button.primary.block type="submit" data-busy-label="처리 중…" { "거래 완료" }
                    }
                }
                form method="post" action={ (href) "/cancel" } data-confirm="공구를 취소할까요? 취소한 공구는 되돌릴 수 없어요." {
                    (csrf_field(csrf))
                    (once::field(&once::issue()))
                    button.danger.block type="submit" data-busy-label="취소하는 중…" { "공구 취소" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::tests::deal;

    #[test]
    fn the_stepper_knows_every_amount() {
        let d = deal(DealStatus::Recruiting, Utc::now());
        assert_eq!(share_amounts(&d, 1, 2), "8,663원|17,326원");
    }

    #[test]
    fn amounts_follow_share_order() {
        let d = deal(DealStatus::Recruiting, Utc::now());
        // The host holds share 1 (8,664); the next share is 8,663.
        assert_eq!(amount_at(&d, 1, 1), 8_663);
        assert_eq!(amount_at(&d, 1, 2), 17_326);
        assert_eq!(amount_at(&d, 0, 1), 8_664);
    }
}
