//! Shell pages that belong to no context. The home page (`/`) is the deals context's deal list
//! now (`gonggu_deals::pages`); this router stays for pages that have no context of their own.

use axum::Router;

/// Also the "not found" page of every unknown path: inside the page middleware, so that it
/// shows who is signed in.
pub fn router() -> Router {
    Router::new().fallback(gonggu_kernel::web::page_not_found)
}
