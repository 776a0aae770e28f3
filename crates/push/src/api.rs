//! The push JSON API (DESIGN §4).

use std::sync::Arc;

use axum::{
    extract::{FromRef, Path, State},
    http::StatusCode,
    response::IntoResponse,
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

use crate::{domain::Preferences, domain::SubscriptionKeys, Inbox, PreferencesView, Push};

#[derive(Clone, FromRef)]
pub struct PushState {
    pub push: Arc<Push>,
    pub auth: Arc<Authenticator>,
}

pub fn router(state: PushState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(vapid_public_key))
        .routes(routes!(subscribe, unsubscribe))
        .routes(routes!(renew))
        .routes(routes!(preferences, set_preferences))
        .routes(routes!(mute_room, unmute_room))
        .routes(routes!(inbox))
        .routes(routes!(mark_read))
        .with_state(state)
}

#[derive(Serialize, ToSchema)]
struct VapidKey {
    /// The server's P-256 public key, base64url: `applicationServerKey` for `pushManager.subscribe`.
    public_key: String,
}

/// The key browsers subscribe with.
#[utoipa::path(get, path = "/api/v1/push/vapid-public-key", tag = "push", responses((status = 200, body = VapidKey)))]
async fn vapid_public_key(State(s): State<PushState>) -> Json<VapidKey> {
    Json(VapidKey { public_key: s.push.vapid_public_key().to_owned() })
}

#[derive(Deserialize, ToSchema)]
struct SubscriptionInput {
    /// The push service URL (`https`, a public host, ≤ 2,048 characters).
    #[schema(max_length = 2048)]
    endpoint: String,
    keys: SubscriptionKeys,
}

/// Registers this device for pushes (many devices per user; a device moves to whoever registers it last).
#[utoipa::path(post, path = "/api/v1/push/subscriptions", tag = "push", security(("bearer" = [])), request_body = SubscriptionInput,
    responses((status = 201, description = "registered"), (status = 200, description = "already registered: keys and owner updated"),
              (status = 401, body = ErrorEnvelope), (status = 422, description = "endpoint or keys invalid", body = ErrorEnvelope)))]
async fn subscribe(State(s): State<PushState>, user: AuthUser, Json(input): Json<SubscriptionInput>) -> Result<StatusCode, ApiError> {
    let new = s.push.subscribe(&user, &input.endpoint, &input.keys).await?;
    Ok(if new { StatusCode::CREATED } else { StatusCode::OK })
}

#[derive(Deserialize, ToSchema)]
struct EndpointInput {
    endpoint: String,
}

/// Stops pushes to this device. Only your own devices.
#[utoipa::path(delete, path = "/api/v1/push/subscriptions", tag = "push", security(("bearer" = [])), request_body = EndpointInput,
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, description = "subscription_not_found", body = ErrorEnvelope)))]
async fn unsubscribe(State(s): State<PushState>, user: AuthUser, Json(input): Json<EndpointInput>) -> Result<StatusCode, ApiError> {
    s.push.unsubscribe(&user, &input.endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RenewInput {
    /// The endpoint the push service replaced.
    old_endpoint: String,
    /// The replaced subscription's auth secret (base64url): the proof that this device held it.
    old_auth: String,
    /// The new subscription, as `PushSubscription.toJSON()` gives it.
    endpoint: String,
    keys: SubscriptionKeys,
}

/// Moves a device to the subscription its push service replaced it with (`pushsubscriptionchange`
/// in the service worker, which has no session): same user, same session, and what was waiting
/// for the old endpoint goes to the new one. Proved by the old subscription's auth secret.
#[utoipa::path(post, path = "/api/v1/push/subscriptions/renew", tag = "push", request_body = RenewInput,
    responses((status = 204, description = "moved"), (status = 404, description = "subscription_not_found: unknown endpoint or wrong secret", body = ErrorEnvelope),
              (status = 422, description = "new endpoint or keys invalid", body = ErrorEnvelope)))]
async fn renew(State(s): State<PushState>, Json(input): Json<RenewInput>) -> Result<StatusCode, ApiError> {
    s.push.renew(&input.old_endpoint, &input.old_auth, &input.endpoint, &input.keys).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What I want pushed (deal activity, chat, keyword alerts, wallet), quiet hours (Asia/Seoul) and muted rooms.
#[utoipa::path(get, path = "/api/v1/push/preferences", tag = "push", security(("bearer" = [])),
    responses((status = 200, body = PreferencesView), (status = 401, body = ErrorEnvelope)))]
async fn preferences(State(s): State<PushState>, user: AuthUser) -> Result<Json<PreferencesView>, ApiError> {
    Ok(Json(s.push.preferences(&user).await?))
}

#[derive(Deserialize, ToSchema)]
struct PreferencesInput {
    #[serde(flatten)]
    preferences: Preferences,
    /// Replaces the muted rooms when given.
    #[serde(default)]
    muted_rooms: Option<Vec<Uuid>>,
}

/// Replaces my preferences. Pushes in quiet hours wait until they end; chat pushes in quiet hours are dropped (the room shows the messages).
#[utoipa::path(put, path = "/api/v1/push/preferences", tag = "push", security(("bearer" = [])), request_body = PreferencesInput,
    responses((status = 200, body = PreferencesView), (status = 401, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn set_preferences(
    State(s): State<PushState>,
    user: AuthUser,
    Json(input): Json<PreferencesInput>,
) -> Result<Json<PreferencesView>, ApiError> {
    Ok(Json(s.push.set_preferences(&user, &input.preferences, input.muted_rooms.as_deref()).await?))
}

fn room_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("room_not_found", "채팅방을 찾을 수 없습니다."))
}

/// Turns chat pushes of one room off.
#[utoipa::path(put, path = "/api/v1/push/muted-rooms/{id}", tag = "push", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn mute_room(State(s): State<PushState>, user: AuthUser, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.push.set_room_muted(&user, room_id(&id)?, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turns chat pushes of one room back on.
#[utoipa::path(delete, path = "/api/v1/push/muted-rooms/{id}", tag = "push", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn unmute_room(State(s): State<PushState>, user: AuthUser, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.push.set_room_muted(&user, room_id(&id)?, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
struct InboxQuery {
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    #[serde(default, deserialize_with = "gonggu_kernel::page::deserialize_limit")]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// My 알림 inbox, newest first (kept 30 days).
#[utoipa::path(get, path = "/api/v1/notifications", tag = "push", security(("bearer" = [])), params(InboxQuery),
    responses((status = 200, body = Inbox), (status = 401, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn inbox(State(s): State<PushState>, user: AuthUser, Query(q): Query<InboxQuery>) -> Result<Json<Inbox>, ApiError> {
    Ok(Json(s.push.inbox(&user, q.cursor.as_deref(), gonggu_kernel::page::clamp_limit(q.limit)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReadInput {
    /// These notices (≤ 100)…
    #[serde(default)]
    ids: Option<Vec<Uuid>>,
    /// …or every one.
    #[serde(default)]
    all: bool,
}

#[derive(Serialize, ToSchema)]
struct Unread {
    unread: i64,
}

/// Marks notices read: `{"ids": [...]}` or `{"all": true}`.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "push", security(("bearer" = [])), request_body = ReadInput,
    responses((status = 200, body = Unread), (status = 401, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn mark_read(State(s): State<PushState>, user: AuthUser, Json(input): Json<ReadInput>) -> Result<impl IntoResponse, ApiError> {
    let ids = match (input.ids.as_deref(), input.all) {
        (Some(ids), false) => Some(ids),
        (None, true) => None,
        (Some(_), true) => return Err(ApiError::field("all", "ids와 all 중 하나만 보내 주세요.")),
        (None, false) => return Err(ApiError::field("ids", "읽음으로 표시할 알림(ids)이나 all: true를 보내 주세요.")),
    };
    Ok(Json(Unread { unread: s.push.mark_read(&user, ids).await? }))
}
