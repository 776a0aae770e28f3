//! Chat pages: the list of my rooms (`list`) and a room (`room`), server-rendered so they work
//! without JavaScript (a plain form posts a message); `chat.js` makes them live over the tab's
//! socket (`app.js` opens it on every page for the unread badge).

use std::sync::Arc;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use gonggu_kernel::{
    web::{form_post, PageError},
    ApiError,
};

use crate::Chat;

mod list;
pub mod render;
mod room;

pub fn router(chat: Arc<Chat>) -> Router {
    Router::new()
        .route("/chat", get(list::list_page))
        .route("/chat/{id}", get(room::room_page))
        .route("/chat/{id}/messages", form_post("/chat/{id}", room::post_submit))
        .route(
            "/chat/{id}/photos",
            form_post("/chat/{id}", room::photo_submit).layer(axum::extract::DefaultBodyLimit::max(room::PHOTO_LIMIT)),
        )
        .route("/chat/{id}/pin", form_post("/chat/{id}", room::pin_submit))
        .route("/chat/{id}/unpin", form_post("/chat/{id}", room::unpin_submit))
        .route("/chat/{id}/older", get(room::older))
        .with_state(chat)
}

fn not_found_page() -> Response {
    PageError::not_found("채팅방을 찾을 수 없습니다", "주소가 잘못되었거나 없어진 채팅방입니다.").into_response()
}

/// A refusal with nothing to re-render: 404 for a missing room, otherwise a page with the reason.
fn failure_page(e: ApiError) -> Response {
    if e.status == StatusCode::NOT_FOUND {
        return not_found_page();
    }
    let server = e.status.is_server_error();
    PageError::from(e).titled(if server { "일시적인 오류입니다" } else { "채팅방에 들어갈 수 없습니다" }).into_response()
}
