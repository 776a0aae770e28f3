//! Cookie sessions: the page middleware and the signed-in-user extractors.

use std::sync::Arc;

use async_trait::async_trait;
use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;

use super::{see_other, urlencode, CookieConfig, CsrfKey};
use crate::auth::{AuthUser, Authenticator, TokenError};
use crate::error::ApiError;

pub struct RefreshedSession {
    pub user: AuthUser,
    pub access_token: String,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
}

/// Turns a refresh cookie into a new token pair. `accounts` implements it; the binary hands it
/// to every context's page middleware so an expired access cookie is renewed in-process.
#[async_trait]
pub trait SessionRefresher: Send + Sync {
    async fn refresh(
        &self,
        refresh_token: &str,
        user_agent: Option<&str>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<RefreshedSession, ApiError>;
}

#[derive(Clone)]
pub struct WebSession {
    pub auth: Arc<Authenticator>,
    pub refresher: Option<Arc<dyn SessionRefresher>>,
    pub cookies: CookieConfig,
    /// The origin users see (e.g. `https://gonggu.example`), for the CSRF Origin check.
    pub public_origin: String,
    /// Signs CSRF tokens to the session (or the visitor, before signing in).
    pub csrf_key: CsrfKey,
}

/// Page middleware: authenticates from the access cookie, renews it from the refresh cookie when
/// it has expired, and makes sure a CSRF cookie exists. Puts [`AuthUser`] and [`CsrfToken`] into
/// the request for the extractors below.
pub async fn web_session(State(ws): State<WebSession>, jar: CookieJar, mut req: Request, next: Next) -> Response {
    let mut jar_out = CookieJar::new();
    let visitor = match jar.get(ws.cookies.csrf_name()).map(|c| c.value()).filter(|v| super::csrf::valid_visitor_id(v)) {
        Some(v) => v.to_owned(),
        None => {
            let (jar, id) = ws.cookies.new_visitor(jar_out);
            jar_out = jar;
            id
        }
    };
    req.extensions_mut().insert(ws.clone());

    let access = jar.get(ws.cookies.access_name()).map(|c| c.value().to_owned());
    let mut user = match access.as_deref().map(|t| ws.auth.verify(t)) {
        Some(Ok(u)) => Some(u),
        _ => None,
    };
    if user.is_none() {
        if let (Some(refresh), Some(refresher)) = (jar.get(ws.cookies.refresh_name()), ws.refresher.as_ref()) {
            let ua = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let ip = crate::http::ClientIp::from_request_parts(&mut req_parts_view(&mut req), &()).await.ok().map(|c| c.0);
            match refresher.refresh(refresh.value(), ua.as_deref(), ip).await {
                Ok(s) => {
                    jar_out = ws.cookies.session_cookies(jar_out, s.access_token, s.refresh_token, s.refresh_expires_in);
                    user = Some(s.user);
                }
                Err(_) => jar_out = ws.cookies.clear_session(jar_out),
            }
        } else if access.is_some() {
            jar_out = jar_out.add(ws.cookies.removal(ws.cookies.access_name()));
        }
    }
    // A signed-in visitor's forms carry a token of the session, so it changes at login and
    // logout, and a token made for one session is worth nothing in another.
    let csrf = match &user {
        Some(u) => ws.csrf_key.token(&format!("session:{}", u.session_id)),
        None => ws.csrf_key.token(&format!("visitor:{visitor}")),
    };
    req.extensions_mut().insert(csrf);
    if let Some(u) = &user {
        req.extensions_mut().insert(u.clone());
    }
    let res = next.run(req).await;
    let mut res = (jar_out, res).into_response();
    // Whatever is rendered for a signed-in user names them (the header, balances, profile), so
    // it is never stored: not by shared caches, not by the browser, not by the service worker
    // (which caches only what it may store), so it cannot be shown to the next session.
    // Anonymous pages may be kept for offline use, privately.
    let cache = if user.is_some() { "no-store" } else { "private, no-cache" };
    res.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static(cache));
    res.headers_mut().append(header::VARY, HeaderValue::from_static("Cookie"));
    // The edge renders error pages with the signed-in header.
    if let Some(u) = user {
        res.extensions_mut().insert(u);
    }
    res
}

/// Borrow a request's head as `Parts`-like view for extractors that only read headers/extensions.
fn req_parts_view(req: &mut Request) -> Parts {
    let (mut parts, _) = Request::new(()).into_parts();
    parts.headers = req.headers().clone();
    parts.extensions = req.extensions().clone();
    parts.uri = req.uri().clone();
    parts.method = req.method().clone();
    parts
}

/// A signed-in user on a page; otherwise a redirect to the login page that comes back to the
/// page the user was on: the page itself for a GET, the form's page for a form post (a POST
/// route is no page to come back to; see [`super::FormPage`]).
pub struct WebUser(pub AuthUser);

pub struct LoginRedirect(String);

impl IntoResponse for LoginRedirect {
    fn into_response(self) -> Response {
        see_other(&format!("/login?next={}", urlencode(&self.0)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebUser {
    type Rejection = LoginRedirect;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<AuthUser>() {
            Some(u) => Ok(WebUser(u.clone())),
            None => Err(LoginRedirect(super::come_back_to(parts))),
        }
    }
}

/// The signed-in user, if any.
pub struct MaybeWebUser(pub Option<AuthUser>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeWebUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeWebUser(parts.extensions.get::<AuthUser>().cloned()))
    }
}
impl From<TokenError> for LoginRedirect {
    fn from(_: TokenError) -> Self {
        LoginRedirect("/".into())
    }
}
