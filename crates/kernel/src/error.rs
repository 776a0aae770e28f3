//! The one error envelope every context answers with (DESIGN §4):
//! `{"error": {"code": "...", "message": "<Korean>", "details": {...}, "request_id": "..."}}`.
//!
//! Handlers return [`ApiError`]. Its response carries the envelope as an extension; the
//! [`finish_errors`] middleware at the edge adds the request id, logs the error chain once and
//! serialises the body, so a 5xx never leaks internals and every error names its request.

use std::collections::BTreeMap;

use axum::{
    extract::{rejection::JsonRejection, rejection::QueryRejection, FromRequest, FromRequestParts, Request},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{de::DeserializeOwned, Serialize};

/// Field name → Korean message, for 422 answers.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code that clients may branch on.
    pub code: String,
    /// Korean text meant for people.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
    pub retry_after_secs: Option<u64>,
    /// The cause of a server error; logged at the edge, never sent.
    pub source: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None, retry_after_secs: None, source: None }
    }
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
    /// Replaces the stable code (e.g. a 422 more specific than `validation_failed`).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    /// 422 with one message per offending field.
    pub fn validation(fields: FieldErrors) -> Self {
        let first = fields.values().next().cloned().unwrap_or_else(|| "입력값을 확인해 주세요.".into());
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", first).with_details(serde_json::json!({ "fields": fields }))
    }
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut f = FieldErrors::new();
        f.insert(field.to_owned(), message.into());
        Self::validation(f)
    }
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("요청이 너무 많습니다. {retry_after_secs}초 후에 다시 시도해 주세요."),
        );
        e.retry_after_secs = Some(retry_after_secs.max(1));
        e
    }
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e =
            Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.");
        e.source = Some(source.into());
        e
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    pub fn body(&self) -> ErrorBody {
        ErrorBody { code: self.code.to_owned(), message: self.message.clone(), details: self.details.clone(), request_id: None }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(e)
    }
}

/// What [`ApiError::into_response`] leaves for [`finish_errors`].
#[derive(Clone)]
struct PendingError {
    body: ErrorBody,
    chain: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        if let Some(secs) = self.retry_after_secs {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        let chain = self.source.as_ref().map(|e| format!("{e:#}"));
        // Serialise right away too, so the body is right even without the edge middleware.
        let body = self.body();
        *res.body_mut() = axum::body::Body::from(serde_json::to_vec(&ErrorEnvelope { error: body.clone() }).unwrap_or_default());
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        res.extensions_mut().insert(PendingError { body, chain });
        res
    }
}

/// Edge middleware: stamps the request id into error bodies, logs each error once, and makes
/// every refusal readable: the envelope on the API, an HTML page (with the signed-in header) on
/// page routes — also for refusals that left axum's extractors as plain text.
pub async fn finish_errors(req: Request, next: Next) -> Response {
    // Only the request id is kept: method and path are already on the request's tracing span.
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let page = wants_page(req.uri().path()) && !asks_for_json(req.headers());
    let mut res = next.run(req).await;
    let status = res.status();
    let user = res.extensions().get::<crate::auth::AuthUser>().cloned();
    if let Some(pending) = res.extensions_mut().remove::<crate::web::PendingPage>() {
        log_refusal(status, "page_error", pending.chain.as_deref());
        return restamp(res, crate::web::render_error_page(status, &pending.title, &pending.message, user.as_ref(), request_id.as_deref()));
    }
    let pending = match res.extensions_mut().remove::<PendingError>() {
        Some(p) => p,
        None if (status.is_client_error() || status.is_server_error()) && !has_readable_body(&res) => {
            // A bare status or an extractor's plain-text rejection (a path that is not UTF-8, a
            // segment that is not a UUID, a form that does not parse).
            PendingError { body: ApiError::new(status, code_for(status), message_for(status)).body(), chain: None }
        }
        None => return res,
    };
    log_refusal(status, &pending.body.code, pending.chain.as_deref());
    if page {
        let message = if status.is_server_error() { message_for(status).to_owned() } else { pending.body.message };
        let title = crate::web::default_title(status);
        return restamp(res, crate::web::render_error_page(status, title, &message, user.as_ref(), request_id.as_deref()));
    }
    let mut body = pending.body;
    body.request_id = request_id;
    *res.body_mut() = axum::body::Body::from(serde_json::to_vec(&ErrorEnvelope { error: body }).unwrap_or_default());
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.headers_mut().remove(header::CONTENT_LENGTH);
    res
}

fn log_refusal(status: StatusCode, code: &str, chain: Option<&str>) {
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), code = %code, error.chain = chain.unwrap_or(""), "request failed");
    } else {
        tracing::info!(status = status.as_u16(), code = %code, "request rejected");
    }
}

/// Keeps what the handler set (cookies, `Retry-After`, `Allow`) and takes the new page's body.
fn restamp(mut res: Response, page: Response) -> Response {
    let (parts, body) = page.into_parts();
    *res.body_mut() = body;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        parts.headers.get(header::CONTENT_TYPE).cloned().unwrap_or(HeaderValue::from_static("text/html; charset=utf-8")),
    );
    res.headers_mut().remove(header::CONTENT_LENGTH);
    res
}

/// Everything outside the JSON API and the operator endpoints is a page people read.
pub fn wants_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/api" || matches!(path, "/healthz" | "/readyz" | "/metrics"))
}

/// A page's script asking for JSON (`Accept: application/json`, not HTML): on a page route it
/// gets the API's error envelope rather than an error page. A browser's navigation asks for
/// `text/html` first, so it still gets pages.
pub fn asks_for_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return false };
    let types = || accept.split(',').map(|t| t.split(';').next().unwrap_or("").trim());
    types().any(|t| t.eq_ignore_ascii_case("application/json")) && !types().any(|t| t.eq_ignore_ascii_case("text/html"))
}

/// A body someone wrote for this refusal: JSON or HTML. Plain text comes from extractors.
fn has_readable_body(res: &Response) -> bool {
    res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.contains("json") || ct.contains("html"))
}

fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    }
}

fn message_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "요청한 주소를 찾을 수 없습니다.",
        StatusCode::METHOD_NOT_ALLOWED => "허용되지 않는 메서드입니다.",
        StatusCode::REQUEST_TIMEOUT => "요청 시간이 초과되었습니다. 다시 시도해 주세요.",
        StatusCode::PAYLOAD_TOO_LARGE => "요청 본문이 너무 큽니다.",
        StatusCode::URI_TOO_LONG => "주소가 너무 깁니다.",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "지원하지 않는 형식입니다.",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "요청 헤더가 너무 큽니다.",
        StatusCode::SERVICE_UNAVAILABLE => "잠시 서비스를 이용할 수 없습니다. 잠시 후 다시 시도해 주세요.",
        s if s.is_server_error() => "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.",
        _ => "요청을 읽을 수 없습니다. 주소나 입력을 확인해 주세요.",
    }
}

/// JSON body extractor whose failures are envelopes: 400 for malformed JSON or a wrong
/// content type, 422 for well-formed JSON of the wrong shape (naming the field when serde can).
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(not_json());
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| json_rejection(e.into()))?;
        // Every string is looked at before the body becomes `T`, so no handler sees a NUL or a
        // bidi override, whatever field it lands in.
        let value = axum::Json::<serde_json::Value>::from_bytes(&bytes).map_err(json_rejection)?;
        if let Some(field) = crate::text::find_in_json(&value.0) {
            return Err(crate::text::invalid_characters(&field));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// `application/json` or `application/<anything>+json`, as axum's own `Json` accepts.
fn json_content_type(headers: &http::HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            let field = field_from_serde_message(&text);
            ApiError::field(field.as_deref().unwrap_or("body"), "값의 형식이 올바르지 않습니다.").with_details(serde_json::json!({
                "fields": { field.as_deref().unwrap_or("body"): "값의 형식이 올바르지 않습니다." },
                "reason": text,
            }))
        }
        JsonRejection::MissingJsonContentType(_) => not_json(),
        JsonRejection::BytesRejection(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "요청 본문이 너무 큽니다."),
        other => ApiError::bad_request("malformed_json", "JSON 형식이 올바르지 않습니다.")
            .with_details(serde_json::json!({ "reason": other.body_text() })),
    }
}

fn not_json() -> ApiError {
    ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Content-Type: application/json 으로 보내 주세요.")
}

/// serde_path_to_error style messages look like `Failed to deserialize the JSON body into the
/// target type: login_id: invalid type...` or `missing field `email``.
fn field_from_serde_message(text: &str) -> Option<String> {
    if let Some(start) = text.find("missing field `") {
        let rest = &text[start + 15..];
        return rest.find('`').map(|end| rest[..end].to_owned());
    }
    let after = text.split("target type: ").nth(1)?;
    let candidate = after.split(": ").next()?;
    (!candidate.contains(' ') && !candidate.is_empty()).then(|| candidate.to_owned())
}

/// Query-string extractor with an envelope on failure.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(query_rejection(e)),
        }
    }
}

fn query_rejection(e: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", "쿼리 매개변수가 올바르지 않습니다.")
        .with_details(serde_json::json!({ "reason": e.body_text() }))
}

/// Fallback for unknown paths under /api.
pub async fn api_not_found() -> ApiError {
    ApiError::not_found("route_not_found", "요청한 API를 찾을 수 없습니다.")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "허용되지 않는 메서드입니다.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_script_asking_for_json_gets_it() {
        let accept = |v: &'static str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_static(v));
            asks_for_json(&h)
        };
        assert!(accept("application/json"));
        assert!(accept("application/json; charset=utf-8, */*;q=0.1"));
        assert!(!accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), "a navigation");
        assert!(!accept("text/html, application/json"));
        assert!(!accept("*/*"));
        assert!(!asks_for_json(&axum::http::HeaderMap::new()));
    }

    #[test]
    fn finds_missing_field() {
        assert_eq!(
            field_from_serde_message("Failed to deserialize the JSON body into the target type: missing field `email` at line 1 column 2")
                .as_deref(),
            Some("email")
        );
    }

    #[test]
    fn finds_wrong_type_field() {
        assert_eq!(
            field_from_serde_message("Failed to deserialize the JSON body into the target type: login_id: invalid type: integer `3`, expected a string at line 1 column 14").as_deref(),
            Some("login_id")
        );
    }

    #[test]
    fn validation_lists_fields() {
        let e = ApiError::field("email", "이메일 형식이 아닙니다.");
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.details.unwrap()["fields"]["email"], "이메일 형식이 아닙니다.");
    }
}
