//! The one error type of every context's pages, as [`ApiError`] is the API's: a status, a
//! Korean title and message, and the cause of a server error. Handlers return
//! `Result<Response, PageError>` and use `?` on service calls; the page is rendered once at the
//! edge ([`crate::error::finish_errors`]), which knows the request id to show and the signed-in
//! user for the header, and which logs the error chain once.

use std::borrow::Cow;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::html;

use super::{layout, Page, Tab};
use crate::{auth::AuthUser, error::ApiError};

#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: Cow<'static, str>,
    pub message: String,
    /// The cause of a server error; logged at the edge, never shown.
    pub source: Option<anyhow::Error>,
}

impl PageError {
    pub fn new(status: StatusCode, title: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { status, title: title.into(), message: message.into(), source: None }
    }

    pub fn not_found(title: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, title, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "잘못된 요청입니다", message)
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, default_title(StatusCode::INTERNAL_SERVER_ERROR), SERVER_ERROR_MESSAGE);
        e.source = Some(source.into());
        e
    }

    /// Keeps the status and the cause, with a title that names what failed (e.g. "공구페이를 열 수
    /// 없습니다").
    pub fn titled(mut self, title: impl Into<Cow<'static, str>>) -> Self {
        self.title = title.into();
        self
    }
}

const SERVER_ERROR_MESSAGE: &str = "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.";

/// A page's title for a bare status.
pub fn default_title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "페이지를 찾을 수 없습니다",
        StatusCode::FORBIDDEN => "요청을 처리할 수 없습니다",
        StatusCode::METHOD_NOT_ALLOWED => "이 주소로는 열 수 없습니다",
        StatusCode::PAYLOAD_TOO_LARGE => "보낸 내용이 너무 큽니다",
        StatusCode::URI_TOO_LONG => "주소가 너무 깁니다",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "요청 헤더가 너무 큽니다",
        StatusCode::UNPROCESSABLE_ENTITY => "입력을 확인해 주세요",
        StatusCode::TOO_MANY_REQUESTS => "요청이 너무 많습니다",
        s if s.is_server_error() => "일시적인 오류입니다",
        _ => "잘못된 요청입니다",
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        let message = if e.status.is_server_error() { SERVER_ERROR_MESSAGE.to_owned() } else { e.message };
        Self { status: e.status, title: default_title(e.status).into(), message, source: e.source }
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(e)
    }
}

/// What [`PageError::into_response`] leaves for the edge.
#[derive(Clone)]
pub(crate) struct PendingPage {
    pub title: String,
    pub message: String,
    pub chain: Option<String>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let pending = PendingPage { title: self.title.into_owned(), message: self.message, chain: self.source.map(|e| format!("{e:#}")) };
        // Rendered right away too, so the page is right even without the edge middleware.
        let mut res = render_error_page(self.status, &pending.title, &pending.message, None, None);
        res.extensions_mut().insert(pending);
        res
    }
}

/// A full-page error in the shell, with the request id people can quote.
pub fn render_error_page(status: StatusCode, title: &str, message: &str, user: Option<&AuthUser>, request_id: Option<&str>) -> Response {
    let body = html! {
        section.card.empty.error-page {
            h1 { (title) }
            p { (message) }
            @if let Some(id) = request_id {
                p.meta.request-id { "요청 번호 " code { (id) } }
            }
            a.button href="/" { "홈으로" }
        }
    };
    (status, layout(Page { title, tab: Tab::None, user, flash: None }, body)).into_response()
}
