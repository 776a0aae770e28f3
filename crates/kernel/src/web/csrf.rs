//! CSRF protection for forms.

//!
//! Every form carries a token that is an HMAC, under a server key, of who is filling it in: the
//! session (refresh family) once signed in, else a random visitor id kept in a cookie. The
//! server compares it in constant time with the token it computes for the request, and checks
//! that the browser says the form came from our own origin. A client cannot choose a pair that
//! passes, and the token changes at login and logout.

use std::sync::Arc;

use axum::{
    extract::{FromRequest, FromRequestParts, RawForm, Request},
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use sha2::Sha256;

use super::{PageError, WebSession};

/// The server key CSRF tokens are made with, derived from the application secret.
#[derive(Clone)]
pub struct CsrfKey(Arc<[u8]>);

impl CsrfKey {
    pub fn derive(secret: &[u8]) -> Self {
        Self(crate::derive_key(secret, b"gonggu csrf tokens").into())
    }

    /// The token of one binding (`session:<id>` or `visitor:<id>`).
    pub fn token(&self, binding: &str) -> CsrfToken {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(binding.as_bytes());
        CsrfToken(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }
}

/// A visitor id this server could have made: 43 base64url characters (32 random bytes).
pub(crate) fn valid_visitor_id(v: &str) -> bool {
    v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The token the current request's forms must carry; put in by the page middleware.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<CsrfToken>().cloned().ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

pub trait HasCsrfToken {
    fn csrf_token(&self) -> &str;
}

/// A form that passed the CSRF checks. Rejections are a 403 page.
pub struct CsrfForm<T>(pub T);

pub struct CsrfRejected(&'static str);

impl IntoResponse for CsrfRejected {
    fn into_response(self) -> Response {
        tracing::info!(reason = self.0, "form rejected by CSRF check");
        PageError::new(
            StatusCode::FORBIDDEN,
            "요청을 처리할 수 없습니다",
            "페이지가 오래되었거나 다른 사이트에서 보낸 요청입니다. 페이지를 새로고침한 뒤 다시 시도해 주세요.",
        )
        .into_response()
    }
}

fn unreadable_form<D: std::fmt::Display>(why: D) -> Response {
    PageError::bad_request(format!("양식을 읽을 수 없습니다: {why}")).into_response()
}

/// A form field holding a NUL, a bidi override or another control character.
fn bad_characters() -> Response {
    PageError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "입력을 확인해 주세요",
        "입력에 쓸 수 없는 문자(제어 문자나 방향 제어 문자)가 들어 있습니다. 지우고 다시 보내 주세요.",
    )
    .into_response()
}

pub fn origin_allowed(headers: &HeaderMap, public_origin: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site == "cross-site" || site == "same-site" {
            return false;
        }
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true, // old browsers; the token still has to match
        Some("null") => false,
        Some(origin) => {
            origin.eq_ignore_ascii_case(public_origin)
                || headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .is_some_and(|host| origin.split("://").nth(1).is_some_and(|o| o.eq_ignore_ascii_case(host)))
        }
    }
}

/// The first half of every CSRF check, before the body is read: the request comes from our own
/// origin. Returns the token the cookie holds, if any.
fn csrf_origin_check(req: &Request) -> Result<Option<CsrfToken>, CsrfRejected> {
    let origin = req.extensions().get::<WebSession>().map(|w| w.public_origin.as_str()).unwrap_or_default();
    if !origin_allowed(req.headers(), origin) {
        return Err(CsrfRejected("origin"));
    }
    Ok(req.extensions().get::<CsrfToken>().cloned())
}

/// The second half: the form's token is the one made for this session or visitor
/// (constant-time).
fn csrf_token_check(given: &str, expected: Option<CsrfToken>) -> Result<(), CsrfRejected> {
    let Some(expected) = expected else { return Err(CsrfRejected("no cookie")) };
    if given.is_empty() || !bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.0.as_bytes())) {
        return Err(CsrfRejected("token mismatch"));
    }
    Ok(())
}

impl<T, S> FromRequest<S> for CsrfForm<T>
where
    T: DeserializeOwned + HasCsrfToken,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let expected = csrf_origin_check(&req).map_err(IntoResponse::into_response)?;
        let RawForm(bytes) = RawForm::from_request(req, state).await.map_err(|e| unreadable_form(e.body_text()))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(unreadable_form)?;
        if crate::text::find_in_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).is_some() {
            return Err(bad_characters());
        }
        let form: T = serde_urlencoded::from_bytes(&bytes).map_err(unreadable_form)?;
        csrf_token_check(form.csrf_token(), expected).map_err(IntoResponse::into_response)?;
        Ok(CsrfForm(form))
    }
}

/// A multipart form (a form with files) that passed the same CSRF checks as [`CsrfForm`]. Text
/// fields become `T` (every field a string); files of the field `file_field` are collected, empty
/// ones (no file chosen) skipped.
pub struct CsrfMultipart<T> {
    pub form: T,
    pub files: Vec<Vec<u8>>,
}

pub trait MultipartFiles {
    /// The name of the file input, e.g. `photos`.
    const FILE_FIELD: &'static str;
}

impl<T, S> FromRequest<S> for CsrfMultipart<T>
where
    T: DeserializeOwned + HasCsrfToken + MultipartFiles,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let expected = csrf_origin_check(&req).map_err(IntoResponse::into_response)?;
        let bad = unreadable_form::<String>;
        let mut multipart = axum::extract::Multipart::from_request(req, state).await.map_err(|e| bad(e.body_text()))?;
        let mut fields = serde_json::Map::new();
        let mut files = vec![];
        while let Some(field) = multipart.next_field().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "파일이 너무 큽니다", "사진은 한 장에 5MB, 한 번에 5장까지 올릴 수 있습니다.")
                    .into_response()
            } else {
                bad(e.body_text())
            }
        })? {
            let name = field.name().unwrap_or("").to_owned();
            if name == T::FILE_FIELD {
                let bytes = field.bytes().await.map_err(|e| bad(e.body_text()))?;
                if !bytes.is_empty() {
                    files.push(bytes.to_vec());
                }
            } else {
                let text = field.text().await.map_err(|e| bad(e.body_text()))?;
                if crate::text::has_forbidden_chars(&name) || crate::text::has_forbidden_chars(&text) {
                    return Err(bad_characters());
                }
                fields.insert(name, serde_json::Value::String(text));
            }
        }
        let form: T = serde_json::from_value(serde_json::Value::Object(fields)).map_err(unreadable_form)?;
        csrf_token_check(form.csrf_token(), expected).map_err(IntoResponse::into_response)?;
        Ok(CsrfMultipart { form, files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cross_site_forms_are_refused() {
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!origin_allowed(&h, "http://127.0.0.1:8080"));
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(!origin_allowed(&h, "http://127.0.0.1:8080"));
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(origin_allowed(&h, "http://127.0.0.1:8080"));
    }
}
