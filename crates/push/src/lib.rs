//! Push context (DESIGN §2 "Push"): Web Push subscriptions per device, what each user wants to
//! hear and when, the 알림 inbox every notice lands in, keyword alerts, and the delivery worker.
//!
//! Notices come from other contexts' events ([`consumer`]); who hears of what is decided in
//! [`notices`]. Each notice is stored with one delivery per device in the same transaction as
//! the event's claim, and the [`delivery::Worker`] sends them (RFC 8030/8291/8292).

use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Utc};
use gonggu_kernel::{auth::AuthUser, clock::Clock, ApiError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub mod api;
pub mod consumer;
pub mod delivery;
pub mod domain;
pub mod events;
pub mod keywords;
pub mod module;
pub mod notices;
pub mod pages;
pub mod sender;
pub mod store;
pub mod vapid;

use domain::{Endpoint, Preferences, SubscriptionKeys};
use store::{Cursor, NotificationRecord, PushStore};

/// A room's chat pushes go at most this often to a member (the rest gather into the next one).
pub const CHAT_PUSH_EVERY: chrono::Duration = chrono::Duration::seconds(60);
/// How long the inbox keeps a notice.
pub const KEEP_FOR: chrono::Duration = chrono::Duration::days(30);

/// One notice in the inbox (DESIGN §4).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct NotificationView {
    pub id: Uuid,
    /// `deal`, `chat`, `keyword` or `wallet`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What happened: `member_joined`, `deal_confirmed`, `chat_message`, `keyword_match`, `coins_received`, …
    pub event: String,
    pub title: String,
    pub body: String,
    /// Where a tap leads.
    pub url: String,
    pub read: bool,
    /// The deal (or its room) it is about; the 알림 page groups by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<Uuid>,
    /// The interest keyword that matched (keyword alerts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    /// Messages gathered in a chat notice.
    pub count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<NotificationRecord> for NotificationView {
    fn from(r: NotificationRecord) -> Self {
        NotificationView {
            id: r.id,
            kind: r.kind,
            event: r.event,
            title: r.title,
            body: r.body,
            url: r.url,
            read: r.read_at.is_some(),
            deal_id: r.deal_id,
            keyword: r.keyword,
            count: r.count,
            created_at: store::at(r.created_at),
            updated_at: store::at(r.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Inbox {
    pub items: Vec<NotificationView>,
    /// For the next page (`?cursor=`); absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Unread notices in all.
    pub unread: i64,
}

fn encode_cursor(c: Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", c.updated_at, c.id))
}

fn decode_cursor(s: &str) -> Result<Cursor, ApiError> {
    let bad = || ApiError::bad_request("invalid_cursor", "cursor 값이 올바르지 않습니다. 첫 페이지부터 다시 불러와 주세요.");
    let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let raw = std::str::from_utf8(&raw).map_err(|_| bad())?;
    let (at, id) = raw.split_once(':').ok_or_else(bad)?;
    Ok(Cursor { updated_at: at.parse().map_err(|_| bad())?, id: id.parse().map_err(|_| bad())? })
}

pub struct Push {
    pub store: Arc<dyn PushStore>,
    pub clock: Clock,
    vapid_public_key: String,
    allow_loopback: bool,
    /// Wakes the delivery worker when a notice was stored on this instance.
    wake: Arc<tokio::sync::Notify>,
    keywords: consumer::KeywordMatcher,
}

impl Push {
    pub fn new(
        store: Arc<dyn PushStore>,
        clock: Clock,
        vapid_public_key: String,
        allow_loopback: bool,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self { keywords: consumer::KeywordMatcher::new(store.clone()), store, clock, vapid_public_key, allow_loopback, wake }
    }

    pub fn vapid_public_key(&self) -> &str {
        &self.vapid_public_key
    }

    pub(crate) fn woke(&self) {
        self.wake.notify_one();
    }

    /// Registers the device for `user`; true when it is new to the server.
    pub async fn subscribe(&self, user: &AuthUser, endpoint: &str, keys: &SubscriptionKeys) -> Result<bool, ApiError> {
        let endpoint = Endpoint::parse(endpoint, self.allow_loopback).map_err(|m| ApiError::field("endpoint", m))?;
        keys.check().map_err(|(field, m)| ApiError::field(field, m))?;
        self.store.subscribe(user.user_id, Some(user.session_id), &endpoint, keys, self.clock.now()).await.map_err(ApiError::internal)
    }

    /// The service worker's `pushsubscriptionchange`: the device moves to its new endpoint,
    /// proved by the old subscription's endpoint and auth secret.
    pub async fn renew(&self, old_endpoint: &str, old_auth: &str, endpoint: &str, keys: &SubscriptionKeys) -> Result<(), ApiError> {
        let endpoint = Endpoint::parse(endpoint, self.allow_loopback).map_err(|m| ApiError::field("endpoint", m))?;
        keys.check().map_err(|(field, m)| ApiError::field(field, m))?;
        let not_found = || ApiError::not_found("subscription_not_found", "이 기기의 알림 구독을 찾을 수 없습니다.");
        let old_auth = crate::domain::decode_secret(old_auth).ok_or_else(not_found)?;
        if self.store.renew(old_endpoint, &old_auth, &endpoint, keys, self.clock.now()).await.map_err(ApiError::internal)? {
            Ok(())
        } else {
            Err(not_found())
        }
    }

    pub async fn unsubscribe(&self, user: &AuthUser, endpoint: &str) -> Result<(), ApiError> {
        if self.store.unsubscribe(user.user_id, endpoint).await.map_err(ApiError::internal)? {
            Ok(())
        } else {
            Err(ApiError::not_found("subscription_not_found", "이 기기의 알림 구독을 찾을 수 없습니다."))
        }
    }

    pub async fn preferences(&self, user: &AuthUser) -> Result<PreferencesView, ApiError> {
        let prefs = self.store.preferences(user.user_id).await.map_err(ApiError::internal)?;
        let muted_rooms = self.store.muted_rooms(user.user_id).await.map_err(ApiError::internal)?;
        let devices = self.store.devices(user.user_id).await.map_err(ApiError::internal)?;
        Ok(PreferencesView { preferences: prefs, muted_rooms, devices })
    }

    pub async fn set_preferences(
        &self,
        user: &AuthUser,
        p: &Preferences,
        muted_rooms: Option<&[Uuid]>,
    ) -> Result<PreferencesView, ApiError> {
        if muted_rooms.is_some_and(|rooms| rooms.len() > 500) {
            return Err(ApiError::field("muted_rooms", "알림을 끈 채팅방은 500개까지입니다."));
        }
        self.store.set_preferences(user.user_id, p, muted_rooms).await.map_err(ApiError::internal)?;
        self.preferences(user).await
    }

    pub async fn set_room_muted(&self, user: &AuthUser, room_id: Uuid, muted: bool) -> Result<(), ApiError> {
        self.store.set_muted(user.user_id, room_id, muted).await.map_err(ApiError::internal)
    }

    pub async fn inbox(&self, user: &AuthUser, cursor: Option<&str>, limit: u32) -> Result<Inbox, ApiError> {
        let cursor = cursor.filter(|c| !c.is_empty()).map(decode_cursor).transpose()?;
        let mut rows = self.store.inbox(user.user_id, cursor, limit + 1).await.map_err(ApiError::internal)?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more { rows.last().map(|r| encode_cursor(Cursor { updated_at: r.updated_at, id: r.id })) } else { None };
        let unread = self.store.unread(user.user_id).await.map_err(ApiError::internal)?;
        Ok(Inbox { items: rows.into_iter().map(NotificationView::from).collect(), next_cursor, unread })
    }

    pub async fn unread(&self, user_id: Uuid) -> Result<i64, ApiError> {
        self.store.unread(user_id).await.map_err(ApiError::internal)
    }

    /// Marks the notice read and answers where it leads (a path of this app only).
    pub async fn open(&self, user: &AuthUser, id: Uuid) -> Result<Option<String>, ApiError> {
        let Some(url) = self.store.url_of(user.user_id, id).await.map_err(ApiError::internal)? else { return Ok(None) };
        self.store.mark_read(user.user_id, Some(&[id]), self.clock.now()).await.map_err(ApiError::internal)?;
        let local = url.starts_with('/') && !url.starts_with("//") && !url.contains('\\');
        Ok(Some(if local { url } else { "/notifications".to_owned() }))
    }

    /// Marks notices read (`None`: all); answers how many are left unread.
    pub async fn mark_read(&self, user: &AuthUser, ids: Option<&[Uuid]>) -> Result<i64, ApiError> {
        if ids.is_some_and(|ids| ids.len() > 100) {
            return Err(ApiError::field("ids", "한 번에 100개까지 읽음으로 표시할 수 있습니다."));
        }
        self.store.mark_read(user.user_id, ids, self.clock.now()).await.map_err(ApiError::internal)?;
        self.unread(user.user_id).await
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct PreferencesView {
    #[serde(flatten)]
    pub preferences: Preferences,
    /// Rooms whose chat pushes are off.
    pub muted_rooms: Vec<Uuid>,
    /// This account's registered devices.
    pub devices: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_a_422() {
        let c = Cursor { updated_at: 1_764_700_000_000, id: Uuid::now_v7() };
        assert_eq!(decode_cursor(&encode_cursor(c)).unwrap(), c);
        for junk in ["", "!!!", "bm9jb2xvbg", &URL_SAFE_NO_PAD.encode("12:not-a-uuid")] {
            assert_eq!(decode_cursor(junk).unwrap_err().code, "invalid_cursor", "{junk}");
        }
    }
}
