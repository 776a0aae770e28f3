//! Cross-cutting HTTP pieces: the middleware every service wears, security headers, request
//! ids, the limits on what a request may carry, and the client address used for rate limits.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request},
    http::{header, request::Parts, HeaderName, HeaderValue},
    middleware::Next,
    response::IntoResponse,
    response::Response,
};

/// `X-Request-Id`.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A strict policy: nothing inline, nothing from elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; media-src 'self'; object-src 'none'; \
base-uri 'none'; frame-ancestors 'none'; form-action 'self'; manifest-src 'self'; worker-src 'self'";

/// Adds the security headers to every response; `hsts` when served over HTTPS.
pub async fn security_headers(hsts: bool, req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut http::HeaderMap, k: HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(h, HeaderName::from_static("cross-origin-resource-policy"), "same-origin");
    set(h, HeaderName::from_static("permissions-policy"), "geolocation=(self), camera=(), microphone=(), payment=()");
    if is_api {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    if hsts {
        set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains");
    }
    res
}

/// Runs state-changing requests to completion even if the client goes away mid-request: a
/// cancelled handler could otherwise stop between two statements of a transaction and leave the
/// rollback to a connection that may wait in the pool. Reads stay cancellable.
pub async fn finish_writes(req: Request, next: Next) -> Response {
    if req.method().is_safe() {
        return next.run(req).await;
    }
    match tokio::spawn(next.run(req)).await {
        Ok(res) => res,
        Err(e) => crate::ApiError::internal(anyhow::anyhow!("request task failed: {e}")).into_response(),
    }
}

/// The caller's address. Behind a reverse proxy (`http.trust_proxy = true`) it is the last
/// `X-Forwarded-For` hop the proxy appended; otherwise the socket peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// Whether to believe `X-Forwarded-For`; put in request extensions by the binary.
#[derive(Debug, Clone, Copy)]
pub struct TrustProxy(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let trust = parts.extensions.get::<TrustProxy>().is_some_and(|t| t.0);
        if trust {
            if let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse().ok())
            {
                return Ok(ClientIp(ip));
            }
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientIp(peer))
    }
}

/// Request timeout for API and pages (uploads get their own, later).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default body limit; JSON bodies are small.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The longest request target served. hyper's own limit is far larger and answers with an
/// empty body, so this one is met first and answered with the envelope.
pub const MAX_URI_LEN: usize = 8 * 1024;
/// The most header bytes (names and values) a request may carry, for the same reason.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most header lines a request may carry (browsers send about 20).
pub const MAX_HEADERS: usize = 100;
/// What the server loop should configure hyper with (`max_buf_size`, `max_headers`): well above
/// our own limits, so that ours answer first, with a body. Past these hyper closes the
/// connection with a bare 431 before any handler runs; that is the bound on what one request
/// head may cost (hyper sizes its header array by `max_headers`: 32 bytes each, per parse).
pub const HYPER_MAX_BUF_SIZE: usize = 64 * 1024;
pub const HYPER_MAX_HEADERS: usize = 1024;

/// Refuses, with the envelope (or a page), what no handler should have to read: an overlong
/// target or header block, a path that is not UTF-8 once percent-decoded, and control or bidi
/// characters in the path or the query string (NUL cannot be stored in PostgreSQL text).
pub async fn refuse_unreadable(req: Request, next: Next) -> Response {
    match unreadable(&req) {
        Some(e) => e.into_response(),
        None => next.run(req).await,
    }
}

fn unreadable(req: &Request) -> Option<crate::ApiError> {
    use crate::ApiError;
    use axum::http::StatusCode;
    let uri_len = req.uri().path_and_query().map(|p| p.as_str().len()).unwrap_or(0);
    if uri_len > MAX_URI_LEN {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("주소가 너무 깁니다. {MAX_URI_LEN}바이트까지 받습니다."),
        ));
    }
    if req.headers().len() > MAX_HEADERS {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("요청 헤더가 너무 많습니다. {MAX_HEADERS}개까지 받습니다."),
        ));
    }
    let header_bytes: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("요청 헤더가 너무 큽니다. 모두 합쳐 {MAX_HEADER_BYTES}바이트까지 받습니다."),
        ));
    }
    let Ok(path) = percent_encoding::percent_decode_str(req.uri().path()).decode_utf8() else {
        return Some(ApiError::bad_request("invalid_path", "주소에 읽을 수 없는 문자가 들어 있습니다."));
    };
    if crate::text::has_forbidden_chars(&path) {
        return Some(crate::text::invalid_characters("path"));
    }
    let query = req.uri().query().unwrap_or("");
    let pairs: Vec<(String, String)> = form_urlencoded_pairs(query);
    crate::text::find_in_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map(|field| crate::text::invalid_characters(&field))
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query).unwrap_or_default()
}

/// A client's `X-Request-Id` is kept only when it is a short token that is safe to log and to
/// echo (≤ 64 of `A-Z a-z 0-9 . _ -`); anything else is replaced by a fresh UUID. Wear it
/// outside `SetRequestIdLayer`, which keeps whatever it finds.
pub async fn safe_request_id(mut req: Request, next: Next) -> Response {
    let keep = req.headers().get(REQUEST_ID).is_some_and(|v| safe_request_id_value(v.as_bytes()));
    if !keep {
        let fresh = uuid::Uuid::new_v4().to_string();
        if let Ok(v) = HeaderValue::from_str(&fresh) {
            req.headers_mut().insert(REQUEST_ID, v);
        }
    }
    next.run(req).await
}

fn safe_request_id_value(v: &[u8]) -> bool {
    !v.is_empty() && v.len() <= 64 && v.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_safe_tokens() {
        for ok in ["trace-01", "a.b_c-D", &"x".repeat(64), "0b6f3c9e-2a4d-4f7e-9c1a-2b3c4d5e6f70"] {
            assert!(safe_request_id_value(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "a b", "<x>", &"x".repeat(65), "é", "a\tb", "a/b", "a:b"] {
            assert!(!safe_request_id_value(bad.as_bytes()), "{bad:?}");
        }
    }

    fn request(uri: &str) -> Request {
        http::Request::builder().uri(uri).body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn unreadable_requests() {
        assert!(unreadable(&request("/api/v1/deals?q=%ED%9C%B4%EC%A7%80&limit=3")).is_none());
        assert!(unreadable(&request("/deals?q=%0A%09")).is_none(), "line breaks and tabs are text");
        let e = unreadable(&request("/api/v1/deals?q=a%00b")).unwrap();
        assert_eq!((e.status.as_u16(), e.code), (422, "invalid_characters"));
        assert!(e.details.unwrap()["fields"]["q"].is_string());
        assert_eq!(unreadable(&request("/users/a%E2%80%AEb")).unwrap().code, "invalid_characters");
        assert_eq!(unreadable(&request("/users/%FF")).unwrap().code, "invalid_path");
        assert_eq!(unreadable(&request(&format!("/?q={}", "a".repeat(MAX_URI_LEN)))).unwrap().code, "uri_too_long");
        let mut big = request("/");
        big.headers_mut().insert("x-big", HeaderValue::from_str(&"a".repeat(MAX_HEADER_BYTES)).unwrap());
        assert_eq!(unreadable(&big).unwrap().code, "headers_too_large");
    }
}
