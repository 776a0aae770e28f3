//! The deal page's forms that change a deal: join or change shares, leave, cancel, complete.

use std::sync::Arc;

use axum::{
    extract::{MatchedPath, Path, State},
    response::Response,
    Extension,
};
use gonggu_kernel::{
    auth::AuthUser,
    once::OnceTokens,
    web::{error_status, CsrfForm, CsrfToken, Flash, WebUser},
    ApiError,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{claim_once, deal_href, detail::render_detail, done_once, failure_page, not_found_page, parse_id, parse_int};
use crate::Deals;

gonggu_kernel::csrf_forms!(JoinForm, OnlyCsrf);

#[derive(Deserialize)]
pub(super) struct OnlyCsrf {
    #[serde(default)]
    csrf_token: String,
    /// The one-time token (`gonggu_kernel::once`).
    #[serde(default)]
    once: String,
}

#[derive(Deserialize)]
pub(super) struct JoinForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    shares: String,
    #[serde(default)]
    once: String,
}

/// The deal page with a message, where a form leads once done.
pub(super) fn back_href(id: Uuid, msg: &str) -> String {
    format!("{}?msg={msg}", deal_href(id))
}

/// A refused action: the detail page again with the reason on top, under the error's status.
async fn refused(deals: &Deals, user: &AuthUser, csrf: &CsrfToken, id: Uuid, e: ApiError) -> Response {
    if e.code == "deal_not_found" || e.status.is_server_error() {
        return failure_page(e);
    }
    render_detail(deals, Some(user), csrf, id, error_status(&e), Some(Flash::error(e.message.clone())), false).await
}

pub(super) async fn join_submit(
    State(deals): State<Arc<Deals>>,
    Extension(once): Extension<Arc<OnceTokens>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Path(id): Path<String>,
    CsrfForm(f): CsrfForm<JoinForm>,
) -> Response {
    let Some(id) = parse_id(&id) else { return not_found_page() };
    let ticket = match claim_once(&once, &user, &f.once).await {
        Ok(t) => t,
        Err(repeat) => return repeat,
    };
    let Some(shares) = parse_int(&f.shares) else {
        return refused(&deals, &user, &csrf, id, ApiError::field("shares", "몫 수를 숫자로 입력해 주세요.")).await;
    };
    let was_member = match deals.members(id).await {
        Ok(m) => m.iter().any(|m| m.login_id == user.login_id),
        Err(e) => return refused(&deals, &user, &csrf, id, e).await,
    };
    match deals.set_shares(&user, id, shares).await {
        Ok(_) => done_once(ticket, back_href(id, if was_member { "changed" } else { "joined" })).await,
        Err(e) => refused(&deals, &user, &csrf, id, e).await,
    }
}

/// The deal page's one-button forms (`/deals/{id}/leave`, `/cancel`, `/complete`): the rules and
/// the owner checks are the service's; this only answers with the deal page and a message.
pub(super) async fn button_submit(
    State(deals): State<Arc<Deals>>,
    Extension(once): Extension<Arc<OnceTokens>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    route: MatchedPath,
    Path(id): Path<String>,
    CsrfForm(f): CsrfForm<OnlyCsrf>,
) -> Response {
    let Some(id) = parse_id(&id) else { return not_found_page() };
    let ticket = match claim_once(&once, &user, &f.once).await {
        Ok(t) => t,
        Err(repeat) => return repeat,
    };
    let (done, result) = match route.as_str().rsplit('/').next() {
        Some("leave") => ("left", deals.leave(&user, id).await),
        Some("cancel") => ("cancelled", deals.cancel(&user, id).await.map(drop)),
        Some("complete") => ("completed", deals.complete(&user, id).await.map(drop)),
        _ => return not_found_page(),
    };
    match result {
        Ok(()) => done_once(ticket, back_href(id, done)).await,
        Err(e) => refused(&deals, &user, &csrf, id, e).await,
    }
}
