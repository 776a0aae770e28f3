//! Integration tests: the real app on port 0, one fresh instance per test.

mod accounts;
mod chat;
mod chat_instances;
mod chat_photos;
mod chat_pin;
mod chat_socket;
mod connections;
mod deal_pages;
mod deal_payments;
mod deals;
mod helpers;
mod mail;
mod media;
mod openapi;
mod ops;
mod pages;
mod places;
mod push;
mod push_stub;
mod sessions;
mod wallet;
mod web_shell;
