//! What every context's forms share: where a form lives (so that a session that ended mid-form
//! comes back to it), and turning a service's refusal into messages by the fields.

use std::collections::HashMap;

use axum::{
    extract::MatchedPath,
    handler::Handler,
    http::{request::Parts, Method, StatusCode},
    routing::{get, MethodRouter},
    Extension,
};

use super::{see_other, Flash};
use crate::error::ApiError;

/// The page a POST-only route's form lives on, e.g. `/me#keywords` for `POST /me/keywords` or
/// `/deals/{id}` for `POST /deals/{id}/join` (`{name}`s are filled from the route's own
/// parameters). A signed-out post goes to the login page with this page as `next`, and a GET
/// of the route (after login, or opened directly) is sent here instead of a 405.
#[derive(Clone, Copy, Debug)]
pub struct FormPage(pub &'static str);

impl FormPage {
    /// The page for this request, with the route's parameters filled in.
    pub fn resolve(&self, parts: &Parts) -> String {
        let Some(pattern) = parts.extensions.get::<MatchedPath>() else { return strip_params(self.0) };
        let names: HashMap<&str, &str> = pattern
            .as_str()
            .split('/')
            .zip(parts.uri.path().split('/'))
            .filter_map(|(p, v)| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')).map(|name| (name, v)))
            .collect();
        let mut out = String::with_capacity(self.0.len());
        let mut rest = self.0;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else { break };
            let name = &rest[start + 1..start + end];
            out.push_str(names.get(name).copied().unwrap_or(""));
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn strip_params(page: &str) -> String {
    page.split('{').next().unwrap_or("/").to_owned()
}

/// A POST-only form route: `handler` for the post, a 303 to the form's page for a GET.
pub fn form_post<H, T, S>(page: &'static str, handler: H) -> MethodRouter<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    get(move |parts: Parts| async move { see_other(&FormPage(page).resolve(&parts)) }).post(handler).layer(Extension(FormPage(page)))
}

/// Where the login page should send someone back to: the page itself for a GET, the form's
/// page for a post (never the POST route itself, which is no page).
pub(crate) fn come_back_to(parts: &Parts) -> String {
    if parts.method == Method::GET || parts.method == Method::HEAD {
        return parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    }
    parts.extensions.get::<FormPage>().map(|p| p.resolve(parts)).unwrap_or_else(|| "/".into())
}

/// Splits an API error for a form page: per-field messages, and a page notice — the error's own
/// message when no field is named, else `summary` if given.
pub fn split_error(e: &ApiError, summary: Option<&str>) -> (crate::error::FieldErrors, Option<Flash>) {
    let fields: crate::error::FieldErrors =
        e.details.as_ref().and_then(|d| d.get("fields")).and_then(|f| serde_json::from_value(f.clone()).ok()).unwrap_or_default();
    let flash = if fields.is_empty() { Some(Flash::error(e.message.clone())) } else { summary.map(Flash::error) };
    (fields, flash)
}

/// The status a page answers a refused form with: the error's own 4xx/5xx.
pub fn error_status(e: &ApiError) -> StatusCode {
    if e.status.is_client_error() || e.status.is_server_error() {
        e.status
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// Implements [`HasCsrfToken`] for form types that have a `csrf_token: String` field.
#[macro_export]
macro_rules! csrf_forms {
    ($($t:ty),* $(,)?) => { $(impl $crate::web::HasCsrfToken for $t { fn csrf_token(&self) -> &str { &self.csrf_token } })* };
}
