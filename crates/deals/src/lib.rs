//! The deals context: group buys (공구), their shares and members, and their life cycle
//! `recruiting → confirmed → completed`, or `cancelled` / `failed`.

pub mod api;
pub mod cache;
pub mod consumer;
pub mod domain;
pub mod module;
pub mod money;
pub mod pages;
pub mod rules;
pub mod search;
pub mod service;
pub mod store;

pub use service::Deals;
