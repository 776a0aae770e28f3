//! Wallet pages (공구페이).

use std::sync::Arc;

use axum::Router;

use crate::Wallet;

pub fn router(wallet: Arc<Wallet>) -> Router {
    Router::new().with_state(wallet)
}
