//! Integration tests: the real app on port 0, one fresh instance per test.

mod accounts;
mod deal_pages;
mod deals;
mod helpers;
mod mail;
mod media;
mod ops;
mod pages;
mod sessions;
mod wallet;
mod web_shell;
