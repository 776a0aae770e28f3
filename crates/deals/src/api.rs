//! The deals JSON API (DESIGN §4).

use std::sync::Arc;

use axum::{
    extract::{FromRef, Path, State},
    http::StatusCode,
};
use gonggu_kernel::{
    auth::{AuthUser, Authenticator},
    error::ErrorEnvelope,
    ApiError, Json, Query,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    domain::{DealPatch, NewDealInput},
    service::{Category, DealPage, DealView, Deals, ListParams, MemberView},
};

#[derive(Clone, FromRef)]
pub struct DealsState {
    pub deals: Arc<Deals>,
    pub auth: Arc<Authenticator>,
}

pub fn router(state: DealsState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(categories))
        .routes(routes!(list, create))
        .routes(routes!(get_deal, update, cancel))
        .routes(routes!(complete))
        .routes(routes!(members))
        .routes(routes!(join_or_change, leave))
        .routes(routes!(my_deals))
        .routes(routes!(user_deals))
        .with_state(state)
}

fn deal_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("deal_not_found", "공구를 찾을 수 없습니다."))
}

#[derive(Serialize, ToSchema)]
struct CategoryList {
    items: Vec<Category>,
}

/// The 18 categories.
#[utoipa::path(get, path = "/api/v1/categories", tag = "deals", responses((status = 200, body = CategoryList)))]
async fn categories(State(s): State<DealsState>) -> Json<CategoryList> {
    Json(CategoryList { items: s.deals.categories() })
}

/// Browse deals: search, filters, sort, cursor paging.
#[utoipa::path(get, path = "/api/v1/deals", tag = "deals", params(ListParams), security((), ("bearer" = [])),
    responses((status = 200, body = DealPage), (status = 400, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn list(State(s): State<DealsState>, user: Option<AuthUser>, Query(p): Query<ListParams>) -> Result<Json<DealPage>, ApiError> {
    Ok(Json(s.deals.list_for(p, None, None, user.map(|u| u.user_id)).await?))
}

/// Post a group buy. The host holds `host_shares` (default 1).
#[utoipa::path(post, path = "/api/v1/deals", tag = "deals", security(("bearer" = [])), request_body = NewDealInput,
    responses((status = 201, body = DealView), (status = 401, body = ErrorEnvelope), (status = 422, description = "each broken rule by field", body = ErrorEnvelope)))]
async fn create(
    State(s): State<DealsState>,
    user: AuthUser,
    Json(input): Json<NewDealInput>,
) -> Result<(StatusCode, Json<DealView>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.deals.create(&user, input).await?)))
}

/// One deal. A signed-in viewer is counted once per day.
#[utoipa::path(get, path = "/api/v1/deals/{id}", tag = "deals", params(("id" = Uuid, Path)), security((), ("bearer" = [])),
    responses((status = 200, body = DealView), (status = 404, body = ErrorEnvelope)))]
async fn get_deal(State(s): State<DealsState>, user: Option<AuthUser>, Path(id): Path<String>) -> Result<Json<DealView>, ApiError> {
    let viewer = user.map(|u| u.user_id.to_string());
    Ok(Json(s.deals.open_deal(deal_id(&id)?, viewer.as_deref()).await?))
}

/// Edit (host only). Price, shares, deadline and title are frozen once someone else joined.
#[utoipa::path(patch, path = "/api/v1/deals/{id}", tag = "deals", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = DealPatch,
    responses((status = 200, body = DealView), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, description = "deal_locked, deal_closed", body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn update(
    State(s): State<DealsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(patch): Json<DealPatch>,
) -> Result<Json<DealView>, ApiError> {
    Ok(Json(s.deals.update(&user, deal_id(&id)?, patch).await?))
}

/// Cancel (host only; members are told by event).
#[utoipa::path(delete, path = "/api/v1/deals/{id}", tag = "deals", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = DealView), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn cancel(State(s): State<DealsState>, user: AuthUser, Path(id): Path<String>) -> Result<Json<DealView>, ApiError> {
    Ok(Json(s.deals.cancel(&user, deal_id(&id)?).await?))
}

/// Mark a confirmed deal handed over (host only).
#[utoipa::path(post, path = "/api/v1/deals/{id}/complete", tag = "deals", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = DealView), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn complete(State(s): State<DealsState>, user: AuthUser, Path(id): Path<String>) -> Result<Json<DealView>, ApiError> {
    Ok(Json(s.deals.complete(&user, deal_id(&id)?).await?))
}

#[derive(Serialize, ToSchema)]
struct MemberList {
    items: Vec<MemberView>,
    next_cursor: Option<String>,
}

/// Members with their shares and exact amounts (the host first).
#[utoipa::path(get, path = "/api/v1/deals/{id}/members", tag = "deals", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = MemberList), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn members(State(s): State<DealsState>, _user: AuthUser, Path(id): Path<String>) -> Result<Json<MemberList>, ApiError> {
    Ok(Json(MemberList { items: s.deals.members(deal_id(&id)?).await?, next_cursor: None }))
}

#[derive(Deserialize, ToSchema)]
struct SharesInput {
    /// A member's shares; the host holds at least one of at most 100.
    #[schema(minimum = 1, maximum = 99)]
    shares: i64,
}

#[derive(Serialize, ToSchema)]
struct Membership {
    deal: DealView,
    members: Vec<MemberView>,
}

/// Join with N shares, or change one's shares. Never overbooks.
#[utoipa::path(put, path = "/api/v1/deals/{id}/members/me", tag = "deals", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = SharesInput,
    responses((status = 200, body = Membership), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, description = "deal_full, deal_closed, deadline_passed, own_deal, deal_confirmed", body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn join_or_change(
    State(s): State<DealsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(input): Json<SharesInput>,
) -> Result<Json<Membership>, ApiError> {
    let (deal, members) = s.deals.set_shares(&user, deal_id(&id)?, input.shares).await?;
    Ok(Json(Membership { deal, members }))
}

/// Leave (not the host; not after confirmation).
#[utoipa::path(delete, path = "/api/v1/deals/{id}/members/me", tag = "deals", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn leave(State(s): State<DealsState>, user: AuthUser, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.deals.leave(&user, deal_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
struct RoleQuery {
    /// `host` (deals I opened, the default) or `member` (deals I joined).
    #[param(schema_with = role_schema)]
    role: Option<Role>,
    #[serde(default, deserialize_with = "gonggu_kernel::page::deserialize_limit")]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    cursor: Option<String>,
}

fn role_schema() -> utoipa::openapi::Object {
    gonggu_kernel::page::string_enum(&["host", "member"])
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Role {
    Host,
    Member,
}

#[derive(Deserialize, IntoParams)]
struct PageQuery {
    #[serde(default, deserialize_with = "gonggu_kernel::page::deserialize_limit")]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    cursor: Option<String>,
}

/// My hosted or joined deals.
#[utoipa::path(get, path = "/api/v1/me/deals", tag = "deals", security(("bearer" = [])), params(RoleQuery),
    responses((status = 200, body = DealPage), (status = 401, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn my_deals(State(s): State<DealsState>, user: AuthUser, Query(q): Query<RoleQuery>) -> Result<Json<DealPage>, ApiError> {
    let params = ListParams { limit: q.limit, cursor: q.cursor, ..Default::default() };
    let page = match q.role.unwrap_or(Role::Host) {
        Role::Host => s.deals.list(params, Some(user.user_id), None).await?,
        Role::Member => s.deals.list(params, None, Some(user.user_id)).await?,
    };
    Ok(Json(page))
}

/// A user's public hosting history.
#[utoipa::path(get, path = "/api/v1/users/{login_id}/deals", tag = "deals", params(("login_id" = String, Path), PageQuery),
    responses((status = 200, body = DealPage)))]
async fn user_deals(
    State(s): State<DealsState>,
    Path(login_id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<DealPage>, ApiError> {
    let Some(host) = s.deals.store.host_by_login(&login_id.trim().to_ascii_lowercase()).await? else {
        return Ok(Json(DealPage { items: vec![], next_cursor: None }));
    };
    let params = ListParams { limit: q.limit, cursor: q.cursor, ..Default::default() };
    Ok(Json(s.deals.list(params, Some(host), None).await?))
}
