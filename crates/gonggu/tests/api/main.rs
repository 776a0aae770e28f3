//! Integration tests: the real app on port 0, one fresh instance per test.

mod accounts;
mod deals;
mod helpers;
mod mail;
mod ops;
mod pages;
mod sessions;
mod wallet;
