//! The chat JSON API (DESIGN §4): the same operations as the socket, for API clients and tests.

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

use crate::{Chat, MessageView, ReadView, RoomView};

#[derive(Clone, FromRef)]
pub struct ChatState {
    pub chat: Arc<Chat>,
    pub auth: Arc<Authenticator>,
}

pub fn router(state: ChatState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(rooms))
        .routes(routes!(history, post_message))
        .routes(routes!(read))
        .routes(routes!(pin, unpin))
        .with_state(state)
}

fn room_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("room_not_found", "채팅방을 찾을 수 없습니다."))
}

#[derive(Serialize, ToSchema)]
struct RoomList {
    items: Vec<RoomView>,
}

/// My rooms (one per deal I host or joined), newest activity first.
#[utoipa::path(get, path = "/api/v1/rooms", tag = "chat", security(("bearer" = [])),
    responses((status = 200, body = RoomList), (status = 401, body = ErrorEnvelope)))]
async fn rooms(State(s): State<ChatState>, user: AuthUser) -> Result<Json<RoomList>, ApiError> {
    Ok(Json(RoomList { items: s.chat.rooms(&user).await? }))
}

#[derive(Deserialize, IntoParams)]
struct HistoryQuery {
    /// Messages with a seq below this one (omit for the newest).
    #[param(minimum = 1)]
    before: Option<i64>,
    #[serde(default, deserialize_with = "gonggu_kernel::page::deserialize_limit")]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
struct MessageList {
    /// Oldest first.
    items: Vec<MessageView>,
}

/// A room's messages, `limit` of them before `before`, oldest first. Members only.
#[utoipa::path(get, path = "/api/v1/rooms/{id}/messages", tag = "chat", security(("bearer" = [])), params(("id" = Uuid, Path), HistoryQuery),
    responses((status = 200, body = MessageList), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 403, description = "not_a_member", body = ErrorEnvelope), (status = 404, description = "room_not_found", body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope)))]
async fn history(
    State(s): State<ChatState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<MessageList>, ApiError> {
    if q.before.is_some_and(|b| b < 1) {
        return Err(ApiError::field("before", "before는 1 이상이어야 합니다."));
    }
    let limit = gonggu_kernel::page::clamp_limit(q.limit);
    Ok(Json(MessageList { items: s.chat.history(&user, room_id(&id)?, q.before, limit).await? }))
}

#[derive(Deserialize, ToSchema)]
struct MessageInput {
    /// Yours, unique per message (a UUID is typical): sending it again returns the same message.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]{1,64}$")]
    client_id: String,
    /// 1–1,000 characters once trimmed; or, instead, `image_key`.
    #[schema(min_length = 1, max_length = 1000)]
    #[serde(default)]
    body: Option<String>,
    /// A photo uploaded first with `POST /api/v1/media` (its `key`); or, instead, `body`.
    #[serde(default)]
    image_key: Option<String>,
}

/// Sends a message: text, or a photo uploaded first. Stored (and numbered) before it is answered; a resend of the same `client_id`
/// answers 200 with the message stored the first time.
#[utoipa::path(post, path = "/api/v1/rooms/{id}/messages", tag = "chat", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = MessageInput,
    responses((status = 201, body = MessageView), (status = 200, description = "a resend: the message stored before", body = MessageView),
              (status = 401, body = ErrorEnvelope), (status = 403, description = "not_a_member", body = ErrorEnvelope),
              (status = 404, description = "room_not_found", body = ErrorEnvelope), (status = 409, description = "room_read_only", body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope), (status = 429, description = "rate_limited: more than 10 messages a second (Retry-After)", body = ErrorEnvelope)))]
async fn post_message(
    State(s): State<ChatState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(input): Json<MessageInput>,
) -> Result<impl IntoResponse, ApiError> {
    let draft = crate::Draft::of(input.body.as_deref(), input.image_key.as_deref())?;
    let answer = s.chat.post(&user, room_id(&id)?, &input.client_id, draft).await?;
    let status = if answer.replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(answer.message)))
}

#[derive(Deserialize, ToSchema)]
struct ReadInput {
    /// The newest seq read; the position never moves back.
    #[schema(minimum = 0)]
    seq: i64,
}

/// Moves my read position in the room up to `seq`.
#[utoipa::path(post, path = "/api/v1/rooms/{id}/read", tag = "chat", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ReadInput,
    responses((status = 200, body = ReadView), (status = 401, body = ErrorEnvelope), (status = 403, description = "not_a_member", body = ErrorEnvelope),
              (status = 404, description = "room_not_found", body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn read(
    State(s): State<ChatState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(input): Json<ReadInput>,
) -> Result<Json<ReadView>, ApiError> {
    if input.seq < 0 {
        return Err(ApiError::field("seq", "seq는 0 이상이어야 합니다."));
    }
    Ok(Json(s.chat.read(&user, room_id(&id)?, input.seq).await?))
}

#[derive(Deserialize, ToSchema)]
struct PinInput {
    /// 1–300 characters once trimmed (the pickup place and time, say).
    #[schema(min_length = 1, max_length = 300)]
    body: String,
}

/// Pins a notice at the top of the room, in place of the one before. The host only.
#[utoipa::path(put, path = "/api/v1/rooms/{id}/pin", tag = "chat", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = PinInput,
    responses((status = 200, body = crate::store::Pin), (status = 401, body = ErrorEnvelope),
              (status = 403, description = "not_a_member, not_the_host", body = ErrorEnvelope), (status = 404, description = "room_not_found", body = ErrorEnvelope),
              (status = 409, description = "room_read_only", body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn pin(
    State(s): State<ChatState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(input): Json<PinInput>,
) -> Result<Json<crate::store::Pin>, ApiError> {
    let pin = s.chat.pin(&user, room_id(&id)?, Some(&input.body)).await?;
    Ok(Json(pin.expect("a body pins")))
}

/// Takes the pinned notice down. The host only.
#[utoipa::path(delete, path = "/api/v1/rooms/{id}/pin", tag = "chat", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 403, description = "not_a_member, not_the_host", body = ErrorEnvelope),
              (status = 404, description = "room_not_found", body = ErrorEnvelope), (status = 409, description = "room_read_only", body = ErrorEnvelope)))]
async fn unpin(State(s): State<ChatState>, user: AuthUser, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.chat.pin(&user, room_id(&id)?, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
