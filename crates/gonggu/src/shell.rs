//! Shell pages that belong to no context. The home page (`/`) is the deals context's deal list
//! now (`gonggu_deals::pages`); this router stays for pages that have no context of their own.

use axum::Router;

pub fn router() -> Router {
    Router::new()
}
