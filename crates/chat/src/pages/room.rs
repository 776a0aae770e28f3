//! `/chat/{id}`: a room, KakaoTalk-style (see `render`), with a composer that works as a plain
//! form; `chat.js` sends over the socket instead and shows each message's state.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use gonggu_kernel::{
    auth::AuthUser,
    error::asks_for_json,
    web::{
        asset_url, csrf_field, error_status, layout, see_other, split_error, CsrfForm, CsrfMultipart, CsrfToken, Flash, MultipartFiles,
        Page, Tab, WebUser,
    },
    ApiError,
};
use maud::html;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{failure_page, not_found_page, render::message_list};
use crate::{domain::RoomState, Chat, MessageView, RoomPage};

/// Messages a page shows at first, and per "이전 메시지".
pub(super) const PAGE: u32 = 50;

gonggu_kernel::csrf_forms!(PostForm, PhotoForm, PinForm);

#[derive(Deserialize)]
pub(super) struct PinForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    body: String,
}

/// One 5 MB photo and the form's fields.
pub(super) const PHOTO_LIMIT: usize = 5 * 1024 * 1024 + 64 * 1024;

#[derive(Deserialize)]
pub(super) struct PhotoForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    client_id: String,
}

impl MultipartFiles for PhotoForm {
    const FILE_FIELD: &'static str = "photo";
}

#[derive(Deserialize)]
pub(super) struct PostForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    body: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct BeforeQuery {
    before: Option<i64>,
}

fn parse_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

/// Every member's read position by login id (the page works out each message's unread count
/// from it as reads arrive).
fn reads(page: &RoomPage) -> BTreeMap<&str, i64> {
    page.members.iter().map(|m| (m.login_id.as_str(), m.read_seq)).collect()
}

pub(super) async fn room_page(
    State(chat): State<Arc<Chat>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Path(id): Path<String>,
    query: Result<Query<BeforeQuery>, QueryRejection>,
) -> Response {
    let Some(id) = parse_id(&id) else { return not_found_page() };
    let before = query.ok().and_then(|Query(q)| q.before).filter(|b| *b > 0);
    render(&chat, &user, &csrf, id, before, StatusCode::OK, None, "").await
}

#[allow(clippy::too_many_arguments)]
async fn render(
    chat: &Chat,
    user: &AuthUser,
    csrf: &CsrfToken,
    id: Uuid,
    before: Option<i64>,
    status: StatusCode,
    flash: Option<Flash>,
    draft: &str,
) -> Response {
    let page = match chat.room_page(user, id, before, PAGE).await {
        Ok(p) => p,
        Err(e) => return failure_page(e),
    };
    let my_read = page.members.iter().find(|m| m.user_id == user.user_id).map(|m| m.read_seq).unwrap_or(0);
    let first = page.messages.first().map(|m| m.seq).unwrap_or(1);
    let open = page.room.state == RoomState::Open;
    let reads = serde_json::to_string(&reads(&page)).expect("reads serialise");
    let room_href = format!("/chat/{id}");
    let body = html! {
        section.room id="room" data-room=(id) data-me=(user.login_id) data-reads=(reads) data-read-seq=(my_read)
            data-state=(page.room.state.as_str()) data-older-url=(format!("/chat/{id}/older")) {
            header.room-head {
                a.room-back href="/chat" aria-label="채팅 목록으로" { "‹" }
                div.room-heading {
                    h1.room-title { (page.room.title) }
                    span.room-count { "참여 " (page.members.len()) "명" }
                }
                a.room-deal href=(format!("/deals/{id}")) { "공구 보기" }
            }
            div.room-pin id="room-pin" hidden[page.room.pin.is_none()] {
                span.room-pin-mark aria-hidden="true" { "📌" }
                p.room-pin-body id="room-pin-body" { (page.room.pin.as_ref().map(|p| p.body.as_str()).unwrap_or_default()) }
            }
            @if open && page.room.host_id == user.user_id {
                details.pin-editor id="pin-editor" {
                    summary { @if page.room.pin.is_some() { "공지 바꾸기" } @else { "공지 고정" } }
                    form.pin-form method="post" action=(format!("{room_href}/pin")) {
                        (csrf_field(csrf))
                        label.sr-only for="pin-body" { "고정할 공지" }
                        textarea id="pin-body" name="body" rows="2" maxlength="300" required placeholder="만날 장소와 시간 등 모두가 봐야 할 내용" {
                            (page.room.pin.as_ref().map(|p| p.body.as_str()).unwrap_or_default())
                        }
                        div.pin-actions {
                            button.primary type="submit" { "고정하기" }
                            @if page.room.pin.is_some() {
                                button.secondary type="submit" formaction=(format!("{room_href}/unpin")) formnovalidate { "내리기" }
                            }
                        }
                    }
                }
            }
            p.room-banner id="room-banner" role="status" hidden {}
            div.room-scroll id="room-scroll" tabindex="0" aria-label="메시지" {
                @if first > 1 {
                    a.load-older id="load-older" href=(format!("{room_href}?before={first}")) data-before=(first) { "이전 메시지 보기" }
                }
                @if page.messages.is_empty() {
                    p.room-empty id="room-empty" { "첫 메시지를 남겨 보세요. 만날 장소와 시간을 정하면 좋아요." }
                }
                ol.messages id="messages" aria-live="polite" {
                    (message_list(&page.messages, &user.login_id, (my_read < page.room.last_seq && before.is_none()).then_some(my_read)))
                }
                p.typing id="typing" aria-live="polite" hidden {}
            }
            button.jump-latest id="jump-latest" type="button" hidden { "↓ 최신 메시지" }
            @if open {
                form.photo-form id="photo-form" method="post" action=(format!("{room_href}/photos")) enctype="multipart/form-data" {
                    (csrf_field(csrf))
                    input type="hidden" name="client_id" value=(Uuid::new_v4());
                }
                form.composer id="composer" method="post" action=(format!("{room_href}/messages")) {
                    (csrf_field(csrf))
                    input type="hidden" name="client_id" value=(Uuid::new_v4());
                    label.composer-photo title="사진 보내기" {
                        input.sr-only id="composer-photo" type="file" name="photo" form="photo-form" accept="image/jpeg,image/png";
                        span aria-hidden="true" { "＋" }
                        span.sr-only { "사진 보내기" }
                    }
                    noscript { button.secondary type="submit" form="photo-form" { "사진 보내기" } }
                    label.sr-only for="composer-body" { "메시지" }
                    textarea id="composer-body" name="body" rows="1" maxlength="1000" required placeholder="메시지 보내기" autocomplete="off" { (draft) }
                    button.primary.composer-send type="submit" { "전송" }
                }
            } @else {
                p.composer-closed id="composer-closed" { "취소되거나 무산된 공구의 채팅방이라 글을 쓸 수 없어요." }
            }
        }
        script type="module" src=(asset_url("chat.js")) {}
    };
    let mut res = layout(Page { title: &page.room.title, tab: Tab::Chat, user: Some(user), flash }, body).into_response();
    *res.status_mut() = status;
    res
}

/// The composer without JavaScript: stores the message (a repeated form is the same message,
/// by its client id) and shows the room again.
pub(super) async fn post_submit(
    State(chat): State<Arc<Chat>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Path(id): Path<String>,
    CsrfForm(f): CsrfForm<PostForm>,
) -> Response {
    let Some(id) = parse_id(&id) else { return not_found_page() };
    let posted = chat.post_text(&user, id, &f.client_id, &f.body).await.map(|_| ());
    answer(&chat, &user, &csrf, id, posted, "#composer", &f.body).await
}

/// The photo button: stores the photo in media and sends it (a repeated form is the same
/// message, by its client id), then shows the room again. The room's script posts the same
/// form in the background with `Accept: application/json` and gets the stored message (201, or
/// 200 for a repeat) or the API's error instead, so the page stays where it is.
pub(super) async fn photo_submit(
    State(chat): State<Arc<Chat>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    headers: HeaderMap,
    Path(id): Path<String>,
    CsrfMultipart { form: f, mut files }: CsrfMultipart<PhotoForm>,
) -> Response {
    let wants_json = asks_for_json(&headers);
    let Some(id) = parse_id(&id) else {
        return if wants_json {
            ApiError::not_found("room_not_found", "채팅방을 찾을 수 없습니다.").into_response()
        } else {
            not_found_page()
        };
    };
    let posted = match (files.pop(), files.is_empty()) {
        (Some(bytes), true) => chat.post_photo(&user, id, &f.client_id, bytes).await,
        (Some(_), false) => Err(ApiError::field("image_key", "사진은 한 번에 한 장씩 보낼 수 있어요.")),
        (None, _) => Err(ApiError::field("image_key", "보낼 사진을 골라 주세요.")),
    };
    if wants_json {
        return match posted {
            Ok(a) => (if a.replayed { StatusCode::OK } else { StatusCode::CREATED }, Json(a.message)).into_response(),
            Err(e) => e.into_response(),
        };
    }
    answer(&chat, &user, &csrf, id, posted.map(|_| ()), "#composer", "").await
}

/// The host's pin form.
pub(super) async fn pin_submit(
    State(chat): State<Arc<Chat>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Path(id): Path<String>,
    CsrfForm(f): CsrfForm<PinForm>,
) -> Response {
    let Some(id) = parse_id(&id) else { return not_found_page() };
    answer(&chat, &user, &csrf, id, chat.pin(&user, id, Some(&f.body)).await.map(|_| ()), "", "").await
}

/// The pin form's "내리기".
pub(super) async fn unpin_submit(
    State(chat): State<Arc<Chat>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<PinForm>,
) -> Response {
    let Some(id) = parse_id(&id) else { return not_found_page() };
    answer(&chat, &user, &csrf, id, chat.pin(&user, id, None).await.map(|_| ()), "", "").await
}

/// What a room's form answers: the room again (at `anchor`) once done; a refusal with the room
/// and its reason, keeping the composer's `draft`; a missing room or a failure as its page.
async fn answer(
    chat: &Chat,
    user: &AuthUser,
    csrf: &CsrfToken,
    id: Uuid,
    done: Result<(), ApiError>,
    anchor: &str,
    draft: &str,
) -> Response {
    match done {
        Ok(()) => see_other(&format!("/chat/{id}{anchor}")),
        Err(e) if e.status == StatusCode::NOT_FOUND || e.status.is_server_error() => failure_page(e),
        Err(e) => {
            let (fields, flash) = split_error(&e, None);
            let flash = flash.or_else(|| fields.values().next().map(|m| Flash::error(m.clone())));
            render(chat, user, csrf, id, None, error_status(&e), flash, draft).await
        }
    }
}

#[derive(Serialize)]
pub(super) struct Older {
    items: Vec<MessageView>,
    reads: BTreeMap<String, i64>,
}

/// Older messages for the page's "load older" (JSON; same-origin reads only, no CORS).
pub(super) async fn older(
    State(chat): State<Arc<Chat>>,
    WebUser(user): WebUser,
    Path(id): Path<String>,
    query: Result<Query<BeforeQuery>, QueryRejection>,
) -> Result<Json<Older>, ApiError> {
    let id = parse_id(&id).ok_or_else(|| ApiError::not_found("room_not_found", "채팅방을 찾을 수 없습니다."))?;
    let before = query.ok().and_then(|Query(q)| q.before).filter(|b| *b > 0);
    let page = chat.room_page(&user, id, before, PAGE).await?;
    let reads = reads(&page).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Ok(Json(Older { items: page.messages, reads }))
}
