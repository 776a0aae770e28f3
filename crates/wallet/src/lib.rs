//! The wallet context (공구페이): coins in a wallet, a simulated bank account, and a double-entry
//! ledger that records every movement between them. Publishes `CoinsReceived`; consumes
//! `UserRegistered` to open wallets.

pub mod api;
pub mod consumer;
pub mod domain;
pub mod events;
pub mod module;
pub mod pages;
pub mod service;
pub mod store;

pub use service::Wallet;
