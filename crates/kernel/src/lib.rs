//! The shared kernel of 공구마켓: what every context needs and no business rule.
//!
//! - [`error`]: the error envelope and extractors that answer with it
//! - [`auth`]: access tokens and the `AuthUser` extractor
//! - [`events`]: envelope, outbox, relay, bus, consumers
//! - [`fanout`]: live, at-most-once delivery between instances (NATS core)
//! - [`db`]: SQLite/PostgreSQL connection per context
//! - [`geo`], [`page`]: query parameters with ranges (positions, list limits and cursors)
//! - [`http`]: security headers, request ids, request limits, client address
//! - [`text`]: the characters no user text may hold
//! - [`fs`]: a private data directory
//! - [`ratelimit`]: keyed limits answering 429
//! - [`shutdown`]: the stop signal shared by the server and background tasks
//! - [`web`]: layout, assets, cookie sessions, CSRF, page errors, form widgets
//! - [`clock`]: the time source, replaceable in tests
//! - [`once`]: one-time tokens for page forms that change something

pub mod auth;
pub mod clock;
pub mod db;
pub mod error;
pub mod events;
pub mod fanout;
pub mod fs;
pub mod geo;
pub mod http;
pub mod images;
pub mod module;
pub mod nats_bus;
pub mod once;
pub mod page;
pub mod ratelimit;
pub mod shutdown;
pub mod testkit;
pub mod text;
pub mod web;

pub use error::{ApiError, Json, Query};

use base64::Engine;
use rand::RngCore;

/// A secondary key for one purpose (`label`), derived from the process secret, so that one leaked
/// key (a CSRF token's, a code pepper) says nothing about the others or the secret.
pub fn derive_key(secret: &[u8], label: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().to_vec()
}

/// `n` random bytes from the OS generator, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
