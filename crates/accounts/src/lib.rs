//! The accounts context: who people are and how they prove it.
//!
//! Owns users, sessions (refresh-token families), one-time codes, interest keywords and
//! neighbourhoods. Publishes `UserRegistered`, `SessionsRevoked` and `KeywordsChanged`.

pub mod api;
pub mod domain;
pub mod events;
pub mod mail;
pub mod module;
pub mod pages;
pub mod password;
pub mod service;
pub mod store;

pub use service::Accounts;

/// A random secret string (for dummy hashes and generated keys).
pub(crate) fn random_secret() -> String {
    gonggu_kernel::random_token(32)
}
