//! My deals: the ones I opened and the ones I joined.

use std::sync::Arc;

use axum::{
    extract::{rejection::QueryRejection, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use gonggu_kernel::web::{layout, Flash, Page, Tab, WebUser};
use maud::html;
use serde::Deserialize;

use super::{deal_list, failure_page, more_link, query_href};
use crate::{service::ListParams, Deals};

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RoleQuery {
    role: Option<String>,
    cursor: Option<String>,
}

pub(super) async fn my_deals_page(
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
                Err(e) => return failure_page(e),
            }
        }
        Err(e) => return failure_page(e),
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
