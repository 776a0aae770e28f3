//! The shared kernel of 공구마켓: what every context needs and no business rule.
//!
//! - [`error`]: the error envelope and extractors that answer with it
//! - [`auth`]: access tokens and the `AuthUser` extractor
//! - [`events`]: envelope, outbox, relay, bus, consumers
//! - [`db`]: SQLite/PostgreSQL connection per context
//! - [`geo`], [`page`]: query parameters with ranges (positions, list limits and cursors)
//! - [`http`]: security headers, request ids, request limits, client address
//! - [`text`]: the characters no user text may hold
//! - [`fs`]: a private data directory
//! - [`ratelimit`]: keyed limits answering 429
//! - [`web`]: layout, assets, cookie sessions, CSRF, page errors, form widgets
//! - [`clock`]: the time source, replaceable in tests
//! - [`once`]: one-time tokens for page forms that change something

pub mod auth;
pub mod clock;
pub mod db;
pub mod error;
pub mod events;
pub mod fs;
pub mod geo;
pub mod http;
pub mod module;
pub mod nats_bus;
pub mod once;
pub mod page;
pub mod ratelimit;
pub mod testkit;
pub mod text;
pub mod web;

pub use error::{ApiError, Json, Query};

use base64::Engine;
use rand::RngCore;

/// `n` random bytes from the OS generator, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
