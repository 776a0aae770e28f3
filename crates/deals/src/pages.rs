//! Deals pages: the home deal list, deal detail, create/edit, my deals, a seller's page.

use std::sync::Arc;

use axum::Router;

use crate::Deals;

pub fn router(deals: Arc<Deals>) -> Router {
    Router::new().with_state(deals)
}
