//! Cross-cutting HTTP pieces: the middleware every service wears, security headers and the
//! client address used for rate limits.

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
