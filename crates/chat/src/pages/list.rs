//! `/chat`: my rooms, newest activity first, with the last message, its time and my unread count.

use std::sync::Arc;

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use gonggu_kernel::web::{asset_url, layout, Page, Tab, WebUser};
use maud::html;

use super::{failure_page, render::list_time};
use crate::{domain::RoomState, store::preview, Chat};

/// `99+` past 99, as messengers show it.
pub(super) fn badge_text(n: i64) -> String {
    if n > 99 {
        "99+".into()
    } else {
        n.to_string()
    }
}

pub(super) async fn list_page(State(chat): State<Arc<Chat>>, WebUser(user): WebUser) -> Response {
    let rooms = match chat.rooms(&user).await {
        Ok(r) => r,
        Err(e) => return failure_page(e),
    };
    let now = chat.clock.now();
    let body = html! {
        h1.page-title { "채팅" }
        @if rooms.is_empty() {
            section.card.empty {
                div.empty-icon aria-hidden="true" { "💬" }
                h2 { "아직 채팅방이 없어요" }
                p { "공구를 열거나 참여하면 함께하는 이웃과 이야기할 수 있는 채팅방이 생겨요." }
                a.button.primary href="/" { "공구 둘러보기" }
            }
        } @else {
            ul.room-list id="room-list" {
                @for r in &rooms {
                    li.room-item data-room=(r.room_id) data-last-seq=(r.last_seq) {
                        a.room-link href=(format!("/chat/{}", r.room_id)) {
                            span.room-avatar aria-hidden="true" { (r.title.chars().next().unwrap_or('공')) }
                            span.room-main {
                                span.room-name {
                                    (r.title)
                                    @if r.state == RoomState::Closed { " " span.room-closed { "종료" } }
                                }
                                span.room-preview { (r.last_message.as_ref().map(|m| preview(m.kind, &m.body)).unwrap_or_default()) }
                            }
                            span.room-side {
                                @if let Some(m) = &r.last_message {
                                    time.room-time datetime=(m.sent_at.to_rfc3339()) { (list_time(m.sent_at, now)) }
                                }
                                span.room-badge hidden[r.unread == 0] aria-label=(format!("안 읽은 메시지 {}개", r.unread)) { (badge_text(r.unread)) }
                            }
                        }
                    }
                }
            }
        }
        script type="module" src=(asset_url("chat.js")) {}
    };
    layout(Page { title: "채팅", tab: Tab::Chat, user: Some(&user), flash: None }, body).into_response()
}
