//! A seller's page: the deals one user opened.

use std::sync::Arc;

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use gonggu_kernel::{
    web::{layout, Flash, MaybeWebUser, Page, PageError, Tab},
    ApiError,
};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{deal_list, failure_page, more_link, query_href};
use crate::{service::ListParams, Deals};

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CursorQuery {
    cursor: Option<String>,
}

/// "2026년 12월부터 이웃" (Seoul time).
fn member_since(at: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Datelike;
    let k = at.with_timezone(&gonggu_kernel::web::kst());
    format!("{}년 {}월부터 이웃", k.year(), k.month())
}

fn no_such_user() -> Response {
    PageError::not_found("사용자를 찾을 수 없습니다", "주소가 잘못되었거나 없는 사용자입니다.").into_response()
}

/// Deals does not own users; it knows who signed up from accounts' `UserRegistered` events
/// (`known_users`), and who opened a deal from its own rows (a host whose sign-up event is
/// still on its way, or who signed up before deals remembered users).
async fn known_user(deals: &Deals, login_id: &str) -> sqlx::Result<Option<Uuid>> {
    match deals.store.user_by_login(login_id).await? {
        Some(id) => Ok(Some(id)),
        None => deals.store.host_by_login(login_id).await,
    }
}

pub(super) async fn seller_page(
    State(deals): State<Arc<Deals>>,
    MaybeWebUser(user): MaybeWebUser,
    Path(login_id): Path<String>,
    query: Result<Query<CursorQuery>, QueryRejection>,
) -> Response {
    let login_id = login_id.trim().to_ascii_lowercase();
    let valid = (3..=20).contains(&login_id.len()) && login_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return no_such_user();
    }
    let now = deals.clock.now();
    let cursor = query.map(|Query(q)| q.cursor).unwrap_or_default().filter(|c| !c.is_empty());
    let host = match known_user(&deals, &login_id).await {
        Ok(Some(h)) => h,
        Ok(None) => return no_such_user(),
        Err(e) => return failure_page(ApiError::from(e)),
    };
    let mut flash = None;
    let page = match deals.list(ListParams { cursor, ..Default::default() }, Some(host), None).await {
        Ok(p) => p,
        Err(e) if e.status.is_client_error() => {
            flash = Some(Flash::error("더 보기 주소가 올바르지 않습니다. 처음부터 보여 드려요."));
            match deals.list(ListParams::default(), Some(host), None).await {
                Ok(p) => p,
                Err(e) => return failure_page(e),
            }
        }
        Err(e) => return failure_page(e),
    };
    let profile = deals.profile(host).await.unwrap_or_default();
    let dong = profile.home.and_then(|h| gonggu_places::reverse(h.lat, h.lon).ok());
    let status = if flash.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let title = format!("{login_id}님의 공구");
    let path = format!("/users/{login_id}");
    let more = page.next_cursor.as_deref().map(|c| query_href(&path, &[("cursor", Some(c))]));
    let body = html! {
        h1.page-title { (title) }
        @if dong.is_some() || profile.joined_at.is_some() {
            p.seller-facts.muted {
                @if let Some(p) = dong { "📍 " (p.name) }
                @if dong.is_some() && profile.joined_at.is_some() { " · " }
                @if let Some(at) = profile.joined_at { (member_since(at)) }
            }
        }
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
