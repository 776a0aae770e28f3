//! Push storage, one SQL text for SQLite and PostgreSQL. Times are epoch milliseconds.
//!
//! A notice and its deliveries are written in the transaction that claims the event, so a
//! redelivered event adds nothing, and a notice is once per user by its `dedupe` key. A delivery
//! is claimed (`sending`) before it is sent and never handed out again once claimed: a sender
//! that died mid-send leaves it `abandoned`, so no device hears a notice twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gonggu_kernel::{
    db::Db,
    events::{Envelope, OutboxExt, OutboxSignal},
};
use uuid::Uuid;

use crate::{
    domain::{same_secret, Endpoint, Kind, Preferences, QuietHours, SubscriptionKeys},
    events::{NoticesChanged, USERS_PER_EVENT},
    notices::{ChatMessagePosted, Notice, Urgency},
};

/// Devices kept per user; registering one more lets the one registered longest ago go.
pub const MAX_DEVICES: usize = 20;

pub fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A stored notice, for the inbox.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NotificationRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub event: String,
    pub title: String,
    pub body: String,
    pub url: String,
    pub deal_id: Option<Uuid>,
    pub keyword: Option<String>,
    pub urgency: String,
    pub count: i64,
    pub read_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const NOTIFICATION_COLUMNS: &str =
    "n.id, n.user_id, n.kind, n.event, n.title, n.body, n.url, n.deal_id, n.keyword, n.urgency, n.count, n.read_at, n.created_at, n.updated_at";

/// A delivery claimed for sending, with everything the push needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub notification_id: Uuid,
    pub round: i64,
    pub endpoint: String,
    pub origin: String,
    pub attempts: i64,
    /// `None`: the device unsubscribed since.
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    #[sqlx(flatten)]
    pub notice: NotificationRecord,
    /// The user's unread notices (the app badge).
    pub unread: i64,
}

/// How a delivery ended, or when to try it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent(u16),
    /// The push service says the subscription is gone (404/410): it is deleted.
    Gone(u16),
    Retry {
        status: Option<u16>,
        at: DateTime<Utc>,
    },
    Failed(Option<u16>),
}

/// The inbox's position: after this (updated_at, id), newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub updated_at: i64,
    pub id: Uuid,
}

#[async_trait]
pub trait PushStore: Send + Sync {
    /// The stored VAPID key, or `fresh` stored now if there is none (first start; every
    /// instance ends up with the one key the first stored).
    async fn vapid_key(&self, fresh: &[u8], now: DateTime<Utc>) -> sqlx::Result<Vec<u8>>;
    /// Registers (or moves to `user_id`) the device; true when it is new.
    async fn subscribe(
        &self,
        user_id: Uuid,
        session_id: Option<Uuid>,
        endpoint: &Endpoint,
        keys: &SubscriptionKeys,
        now: DateTime<Utc>,
    ) -> sqlx::Result<bool>;
    /// Moves a device the push service replaced (`pushsubscriptionchange`) to its new endpoint,
    /// for the same user and session, with what was waiting for it. The service worker has no
    /// session, so the old subscription's auth secret proves the device; false when the old
    /// endpoint is unknown or the secret does not match.
    async fn renew(
        &self,
        old_endpoint: &str,
        old_auth: &[u8],
        endpoint: &Endpoint,
        keys: &SubscriptionKeys,
        now: DateTime<Utc>,
    ) -> sqlx::Result<bool>;
    /// Removes the user's own device; false when they have none with that endpoint.
    async fn unsubscribe(&self, user_id: Uuid, endpoint: &str) -> sqlx::Result<bool>;
    /// Removes the devices registered under ended sessions (logout unsubscribes that device).
    async fn forget_sessions(&self, session_ids: &[Uuid]) -> sqlx::Result<u64>;
    async fn devices(&self, user_id: Uuid) -> sqlx::Result<i64>;
    async fn preferences(&self, user_id: Uuid) -> sqlx::Result<Preferences>;
    /// Writes the preferences and, when given, replaces the muted rooms, in one transaction.
    async fn set_preferences(&self, user_id: Uuid, p: &Preferences, muted_rooms: Option<&[Uuid]>) -> sqlx::Result<()>;
    async fn muted_rooms(&self, user_id: Uuid) -> sqlx::Result<Vec<Uuid>>;
    async fn set_muted(&self, user_id: Uuid, room_id: Uuid, muted: bool) -> sqlx::Result<()>;
    /// Replaces the user's keywords, once per event.
    async fn set_keywords(&self, user_id: Uuid, keywords: &[String], consumer: &str, event_id: Uuid) -> sqlx::Result<()>;
    /// Records (or forgets) where a user lives and how far their alerts reach, once per event.
    async fn set_home(&self, user_id: Uuid, home: Option<Home>, consumer: &str, event_id: Uuid) -> sqlx::Result<()>;
    /// The homes of those of `users` who set one.
    async fn homes(&self, users: &[Uuid]) -> sqlx::Result<std::collections::HashMap<Uuid, Home>>;
    /// Every (user, keyword) with the version they are at.
    async fn keywords(&self) -> sqlx::Result<(i64, Vec<(Uuid, String)>)>;
    async fn keywords_version(&self) -> sqlx::Result<i64>;
    /// Stores the notices of one event (once per event) with their deliveries; answers how
    /// many notices were new.
    async fn record(&self, notices: &[Notice], consumer: &str, event_id: Uuid, now: DateTime<Utc>) -> sqlx::Result<usize>;
    /// Adds a chat message to each recipient's notice of the room, once per event; schedules a
    /// push round unless one is waiting or the room was pushed less than a minute ago.
    async fn record_chat(&self, e: &ChatMessagePosted, consumer: &str, event_id: Uuid, now: DateTime<Utc>) -> sqlx::Result<usize>;
    /// The user's notices after `cursor`, newest first.
    async fn inbox(&self, user_id: Uuid, cursor: Option<Cursor>, limit: u32) -> sqlx::Result<Vec<NotificationRecord>>;
    async fn unread(&self, user_id: Uuid) -> sqlx::Result<i64>;
    /// Where the user's notice leads (`None`: not theirs, or gone).
    async fn url_of(&self, user_id: Uuid, id: Uuid) -> sqlx::Result<Option<String>>;
    /// Marks the user's notices read (`None`: all); answers how many changed.
    async fn mark_read(&self, user_id: Uuid, ids: Option<&[Uuid]>, now: DateTime<Utc>) -> sqlx::Result<u64>;
    /// The push services (origins) with deliveries due now, at most `limit` of them.
    async fn due_origins(&self, now: DateTime<Utc>, limit: u32) -> sqlx::Result<Vec<String>>;
    /// Claims up to `limit` deliveries to `origin` that are due now (the worker asks for no more
    /// than it can send at once: a claim is never handed out again, so one that waited in memory
    /// when its process died would be lost, not sent).
    async fn claim_due(&self, now: DateTime<Utc>, lease: chrono::Duration, origin: &str, limit: u32) -> sqlx::Result<Vec<Due>>;
    /// Records how deliveries ended, all in one transaction (the worker gathers them).
    async fn finish_all(&self, done: &[(Due, Outcome)]) -> sqlx::Result<()>;
    async fn finish(&self, due: &Due, outcome: Outcome) -> sqlx::Result<()> {
        self.finish_all(&[(due.clone(), outcome)]).await
    }
    /// Claims whose lease ran out (the sender died mid-send) are abandoned, never resent.
    async fn abandon_stale(&self, now: DateTime<Utc>) -> sqlx::Result<u64>;
    /// Forgets notices last changed before `before` (the inbox keeps 30 days).
    async fn prune(&self, before: DateTime<Utc>) -> sqlx::Result<u64>;
    /// How many deliveries are in each state (tests, metrics).
    async fn delivery_states(&self) -> sqlx::Result<Vec<(String, i64)>>;
}

/// Where a user lives, as accounts said: a keyword alert reaches them only for deals within
/// `reach_km` of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Home {
    pub lat: f64,
    pub lon: f64,
    pub reach_km: i64,
}

impl Home {
    /// Whether a deal meeting at `lat`/`lon` is within this home's reach.
    pub fn reaches(&self, lat: f64, lon: f64) -> bool {
        gonggu_places::distance_m(self.lat, self.lon, lat, lon) <= self.reach_km as f64 * 1000.0
    }
}

const PREFERENCES_SQL: &str = "SELECT deal, chat, keyword, wallet, quiet_start, quiet_end FROM preferences WHERE user_id = $1";

#[derive(sqlx::FromRow)]
struct PreferenceRow {
    deal: bool,
    chat: bool,
    keyword: bool,
    wallet: bool,
    quiet_start: Option<i64>,
    quiet_end: Option<i64>,
}

impl From<PreferenceRow> for Preferences {
    fn from(r: PreferenceRow) -> Self {
        let quiet_hours = match (r.quiet_start, r.quiet_end) {
            (Some(s), Some(e)) => QuietHours::new(s as u16, e as u16),
            _ => None,
        };
        Preferences { deal: r.deal, chat: r.chat, keyword: r.keyword, wallet: r.wallet, quiet_hours }
    }
}

/// Deliveries marked sent by one statement (three parameters each, well under either engine's limit).
const SENT_PER_STATEMENT: usize = 256;

macro_rules! sql_push_store {
    ($name:ident, $db:ty, $begin:literal, $skip_locked:literal) => {
        pub struct $name {
            pool: sqlx::Pool<$db>,
            signal: OutboxSignal,
        }

        impl $name {
            /// Tells the users' open tabs that their inboxes changed, in the transaction that changed them.
            async fn changed(tx: &mut sqlx::Transaction<'static, $db>, users: &[Uuid], now: DateTime<Utc>) -> sqlx::Result<()> {
                for chunk in users.chunks(USERS_PER_EVENT) {
                    (&mut **tx).enqueue(&Envelope::new(&NoticesChanged { user_ids: chunk.to_vec() }, now)).await?;
                }
                Ok(())
            }

            /// Registers `endpoint` to the user (a device moves to whoever registers it last) and
            /// evicts their oldest devices past the cap; true when the endpoint was new.
            async fn register(
                tx: &mut sqlx::Transaction<'static, $db>,
                user_id: Uuid,
                session_id: Option<Uuid>,
                endpoint: &Endpoint,
                keys: &SubscriptionKeys,
                now: DateTime<Utc>,
            ) -> sqlx::Result<bool> {
                let existed: Option<(Uuid,)> =
                    sqlx::query_as("SELECT user_id FROM subscriptions WHERE endpoint = $1").bind(endpoint.as_str()).fetch_optional(&mut **tx).await?;
                sqlx::query(
                    "INSERT INTO subscriptions (endpoint, user_id, session_id, p256dh, auth, origin, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, session_id = excluded.session_id, \
                     p256dh = excluded.p256dh, auth = excluded.auth, origin = excluded.origin, created_at = excluded.created_at",
                )
                .bind(endpoint.as_str())
                .bind(user_id)
                .bind(session_id)
                .bind(&keys.p256dh)
                .bind(&keys.auth)
                .bind(endpoint.origin())
                .bind(ms(now))
                .execute(&mut **tx)
                .await?;
                if existed.is_some_and(|(owner,)| owner != user_id) {
                    // The device changed hands: what was waiting for the last user stays theirs.
                    sqlx::query("UPDATE deliveries SET state = 'gone' WHERE endpoint = $1 AND state = 'pending'")
                        .bind(endpoint.as_str())
                        .execute(&mut **tx)
                        .await?;
                }
                // Past the cap the devices registered longest ago give way (every push goes to
                // every device, so their number is what one notice costs).
                let evicted: Vec<(String,)> = sqlx::query_as(
                    "SELECT endpoint FROM subscriptions WHERE user_id = $1 ORDER BY created_at DESC, endpoint DESC LIMIT 1000 OFFSET $2",
                )
                .bind(user_id)
                .bind(MAX_DEVICES as i64)
                .fetch_all(&mut **tx)
                .await?;
                for (old,) in &evicted {
                    sqlx::query("DELETE FROM subscriptions WHERE endpoint = $1").bind(old).execute(&mut **tx).await?;
                    sqlx::query("UPDATE deliveries SET state = 'gone' WHERE endpoint = $1 AND state = 'pending'").bind(old).execute(&mut **tx).await?;
                }
                Ok(existed.is_none())
            }

            async fn prefs_in(tx: &mut sqlx::Transaction<'static, $db>, user_id: Uuid) -> sqlx::Result<Preferences> {
                let row: Option<PreferenceRow> = sqlx::query_as(PREFERENCES_SQL).bind(user_id).fetch_optional(&mut **tx).await?;
                Ok(row.map(Preferences::from).unwrap_or_default())
            }

            /// One push round of `notification_id` to each of the user's devices.
            async fn schedule(
                tx: &mut sqlx::Transaction<'static, $db>,
                notification_id: Uuid,
                round: i64,
                user_id: Uuid,
                due: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> sqlx::Result<()> {
                sqlx::query(
                    "INSERT INTO deliveries (notification_id, round, endpoint, origin, state, due_at) \
                     SELECT $1, $2, endpoint, origin, 'pending', $3 FROM subscriptions WHERE user_id = $4 ON CONFLICT DO NOTHING",
                )
                .bind(notification_id)
                .bind(round)
                .bind(ms(due))
                .bind(user_id)
                .execute(&mut **tx)
                .await?;
                sqlx::query("UPDATE notifications SET push_round = $1, pushed_at = $2 WHERE id = $3")
                    .bind(round)
                    .bind(ms(due.max(now)))
                    .bind(notification_id)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl PushStore for $name {
            async fn vapid_key(&self, fresh: &[u8], now: DateTime<Utc>) -> sqlx::Result<Vec<u8>> {
                sqlx::query("INSERT INTO vapid_keys (id, pkcs8, created_at) VALUES (1, $1, $2) ON CONFLICT DO NOTHING")
                    .bind(fresh)
                    .bind(ms(now))
                    .execute(&self.pool)
                    .await?;
                let (key,): (Vec<u8>,) = sqlx::query_as("SELECT pkcs8 FROM vapid_keys WHERE id = 1").fetch_one(&self.pool).await?;
                Ok(key)
            }

            async fn subscribe(
                &self,
                user_id: Uuid,
                session_id: Option<Uuid>,
                endpoint: &Endpoint,
                keys: &SubscriptionKeys,
                now: DateTime<Utc>,
            ) -> sqlx::Result<bool> {
                let mut tx = self.pool.begin_with($begin).await?;
                let new = Self::register(&mut tx, user_id, session_id, endpoint, keys, now).await?;
                tx.commit().await?;
                Ok(new)
            }

            async fn renew(&self, old_endpoint: &str, old_auth: &[u8], endpoint: &Endpoint, keys: &SubscriptionKeys, now: DateTime<Utc>) -> sqlx::Result<bool> {
                let mut tx = self.pool.begin_with($begin).await?;
                let old: Option<(Uuid, Option<Uuid>, String)> = sqlx::query_as("SELECT user_id, session_id, auth FROM subscriptions WHERE endpoint = $1")
                    .bind(old_endpoint)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((user_id, session_id, _)) = old.filter(|(_, _, auth)| same_secret(auth, old_auth)) else {
                    return Ok(false);
                };
                Self::register(&mut tx, user_id, session_id, endpoint, keys, now).await?;
                if old_endpoint != endpoint.as_str() {
                    // What was waiting for the old endpoint goes to the new one.
                    sqlx::query(
                        "INSERT INTO deliveries (notification_id, round, endpoint, origin, state, attempts, due_at) \
                         SELECT notification_id, round, $1, $2, 'pending', attempts, due_at FROM deliveries WHERE endpoint = $3 AND state = 'pending' \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(endpoint.as_str())
                    .bind(endpoint.origin())
                    .bind(old_endpoint)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE deliveries SET state = 'gone' WHERE endpoint = $1 AND state = 'pending'").bind(old_endpoint).execute(&mut *tx).await?;
                    sqlx::query("DELETE FROM subscriptions WHERE endpoint = $1").bind(old_endpoint).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn unsubscribe(&self, user_id: Uuid, endpoint: &str) -> sqlx::Result<bool> {
                let mut tx = self.pool.begin_with($begin).await?;
                let gone = sqlx::query("DELETE FROM subscriptions WHERE endpoint = $1 AND user_id = $2")
                    .bind(endpoint)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if gone > 0 {
                    sqlx::query("UPDATE deliveries SET state = 'gone' WHERE endpoint = $1 AND state = 'pending'").bind(endpoint).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(gone > 0)
            }

            async fn forget_sessions(&self, session_ids: &[Uuid]) -> sqlx::Result<u64> {
                let mut n = 0;
                for s in session_ids {
                    n += sqlx::query("DELETE FROM subscriptions WHERE session_id = $1").bind(s).execute(&self.pool).await?.rows_affected();
                }
                Ok(n)
            }

            async fn devices(&self, user_id: Uuid) -> sqlx::Result<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM subscriptions WHERE user_id = $1").bind(user_id).fetch_one(&self.pool).await?;
                Ok(n)
            }

            async fn preferences(&self, user_id: Uuid) -> sqlx::Result<Preferences> {
                let row: Option<PreferenceRow> = sqlx::query_as(PREFERENCES_SQL).bind(user_id).fetch_optional(&self.pool).await?;
                Ok(row.map(Preferences::from).unwrap_or_default())
            }

            async fn set_preferences(&self, user_id: Uuid, p: &Preferences, muted_rooms: Option<&[Uuid]>) -> sqlx::Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "INSERT INTO preferences (user_id, deal, chat, keyword, wallet, quiet_start, quiet_end) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (user_id) DO UPDATE SET deal = excluded.deal, chat = excluded.chat, keyword = excluded.keyword, \
                     wallet = excluded.wallet, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end",
                )
                .bind(user_id)
                .bind(p.deal)
                .bind(p.chat)
                .bind(p.keyword)
                .bind(p.wallet)
                .bind(p.quiet_hours.map(|q| i64::from(q.start)))
                .bind(p.quiet_hours.map(|q| i64::from(q.end)))
                .execute(&mut *tx)
                .await?;
                if let Some(rooms) = muted_rooms {
                    sqlx::query("DELETE FROM muted_rooms WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                    for room_id in rooms {
                        sqlx::query("INSERT INTO muted_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                            .bind(user_id)
                            .bind(room_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await
            }

            async fn muted_rooms(&self, user_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
                let rows: Vec<(Uuid,)> =
                    sqlx::query_as("SELECT room_id FROM muted_rooms WHERE user_id = $1 ORDER BY room_id").bind(user_id).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(|(r,)| r).collect())
            }

            async fn set_muted(&self, user_id: Uuid, room_id: Uuid, muted: bool) -> sqlx::Result<()> {
                let q = if muted {
                    "INSERT INTO muted_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
                } else {
                    "DELETE FROM muted_rooms WHERE user_id = $1 AND room_id = $2"
                };
                sqlx::query(q).bind(user_id).bind(room_id).execute(&self.pool).await?;
                Ok(())
            }

            async fn set_keywords(&self, user_id: Uuid, keywords: &[String], consumer: &str, event_id: Uuid) -> sqlx::Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                if !(&mut *tx).claim_event(consumer, event_id).await? {
                    return Ok(());
                }
                sqlx::query("DELETE FROM user_keywords WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                for k in keywords {
                    sqlx::query("INSERT INTO user_keywords (user_id, keyword) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(user_id)
                        .bind(k)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("UPDATE keywords_version SET version = version + 1 WHERE id = 1").execute(&mut *tx).await?;
                tx.commit().await
            }

            async fn set_home(&self, user_id: Uuid, home: Option<Home>, consumer: &str, event_id: Uuid) -> sqlx::Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                if !(&mut *tx).claim_event(consumer, event_id).await? {
                    return Ok(());
                }
                match home {
                    Some(h) => {
                        sqlx::query(
                            "INSERT INTO homes (user_id, lat, lon, reach_km) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (user_id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, reach_km = excluded.reach_km",
                        )
                        .bind(user_id)
                        .bind(h.lat)
                        .bind(h.lon)
                        .bind(h.reach_km)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM homes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await
            }

            async fn homes(&self, users: &[Uuid]) -> sqlx::Result<std::collections::HashMap<Uuid, Home>> {
                let mut out = std::collections::HashMap::new();
                for chunk in users.chunks(500) {
                    let mut b = sqlx::QueryBuilder::<$db>::new("SELECT user_id, lat, lon, reach_km FROM homes WHERE user_id IN (");
                    let mut sep = b.separated(", ");
                    for u in chunk {
                        sep.push_bind(*u);
                    }
                    b.push(")");
                    let rows: Vec<(Uuid, f64, f64, i64)> = b.build_query_as().fetch_all(&self.pool).await?;
                    out.extend(rows.into_iter().map(|(u, lat, lon, reach_km)| (u, Home { lat, lon, reach_km })));
                }
                Ok(out)
            }

            async fn keywords(&self) -> sqlx::Result<(i64, Vec<(Uuid, String)>)> {
                let mut tx = self.pool.begin().await?;
                let (version,): (i64,) = sqlx::query_as("SELECT version FROM keywords_version WHERE id = 1").fetch_one(&mut *tx).await?;
                let rows: Vec<(Uuid, String)> = sqlx::query_as("SELECT user_id, keyword FROM user_keywords").fetch_all(&mut *tx).await?;
                tx.commit().await?;
                Ok((version, rows))
            }

            async fn keywords_version(&self) -> sqlx::Result<i64> {
                let (v,): (i64,) = sqlx::query_as("SELECT version FROM keywords_version WHERE id = 1").fetch_one(&self.pool).await?;
                Ok(v)
            }

            async fn record(&self, notices: &[Notice], consumer: &str, event_id: Uuid, now: DateTime<Utc>) -> sqlx::Result<usize> {
                let mut tx = self.pool.begin_with($begin).await?;
                if !(&mut *tx).claim_event(consumer, event_id).await? {
                    return Ok(0);
                }
                let mut new = 0;
                let mut told: Vec<Uuid> = Vec::new();
                for n in notices {
                    let id = Uuid::now_v7();
                    let stored = sqlx::query(
                        "INSERT INTO notifications (id, user_id, kind, event, title, body, url, deal_id, keyword, urgency, dedupe, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) ON CONFLICT (user_id, dedupe) DO NOTHING",
                    )
                    .bind(id)
                    .bind(n.user_id)
                    .bind(n.kind.as_str())
                    .bind(n.event)
                    .bind(&n.title)
                    .bind(&n.body)
                    .bind(&n.url)
                    .bind(n.deal_id)
                    .bind(&n.keyword)
                    .bind(n.urgency.as_str())
                    .bind(&n.dedupe)
                    .bind(ms(now))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if stored == 0 {
                        continue;
                    }
                    new += 1;
                    if !told.contains(&n.user_id) {
                        told.push(n.user_id);
                    }
                    if let Some(due) = Self::prefs_in(&mut tx, n.user_id).await?.due(n.kind, now) {
                        Self::schedule(&mut tx, id, 1, n.user_id, due, now).await?;
                    }
                }
                Self::changed(&mut tx, &told, now).await?;
                tx.commit().await?;
                if !told.is_empty() {
                    self.signal.notify();
                }
                Ok(new)
            }

            async fn record_chat(&self, e: &ChatMessagePosted, consumer: &str, event_id: Uuid, now: DateTime<Utc>) -> sqlx::Result<usize> {
                let mut tx = self.pool.begin_with($begin).await?;
                if !(&mut *tx).claim_event(consumer, event_id).await? {
                    return Ok(0);
                }
                let recipients = e.recipients();
                for user_id in &recipients {
                    let existing: Option<(Uuid, i64, Option<i64>, i64, Option<i64>)> = sqlx::query_as(
                        "SELECT id, count, read_at, push_round, pushed_at FROM notifications WHERE user_id = $1 AND dedupe = $2",
                    )
                    .bind(user_id)
                    .bind(format!("chat:{}", e.room_id))
                    .fetch_optional(&mut *tx)
                    .await?;
                    let count = match existing {
                        Some((_, count, None, _, _)) => count + 1,
                        _ => 1,
                    };
                    let n = crate::notices::of_chat(*user_id, e, count);
                    let (id, round, pushed_at) = match existing {
                        Some((id, _, read_at, round, pushed_at)) => {
                            sqlx::query(
                                "UPDATE notifications SET title = $1, body = $2, count = $3, read_at = NULL, updated_at = $4, \
                                 created_at = CASE WHEN $5 THEN $4 ELSE created_at END WHERE id = $6",
                            )
                            .bind(&n.title)
                            .bind(&n.body)
                            .bind(count)
                            .bind(ms(now))
                            .bind(read_at.is_some())
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                            (id, round, pushed_at)
                        }
                        None => {
                            let id = Uuid::now_v7();
                            sqlx::query(
                                "INSERT INTO notifications (id, user_id, kind, event, title, body, url, deal_id, keyword, urgency, dedupe, created_at, updated_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10, $11, $11)",
                            )
                            .bind(id)
                            .bind(user_id)
                            .bind(Kind::Chat.as_str())
                            .bind(n.event)
                            .bind(&n.title)
                            .bind(&n.body)
                            .bind(&n.url)
                            .bind(n.deal_id)
                            .bind(n.urgency.as_str())
                            .bind(&n.dedupe)
                            .bind(ms(now))
                            .execute(&mut *tx)
                            .await?;
                            (id, 0, None)
                        }
                    };
                    let muted: Option<(Uuid,)> = sqlx::query_as("SELECT room_id FROM muted_rooms WHERE user_id = $1 AND room_id = $2")
                        .bind(user_id)
                        .bind(e.room_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if muted.is_some() {
                        continue;
                    }
                    let Some(due) = Self::prefs_in(&mut tx, *user_id).await?.due(Kind::Chat, now) else { continue };
                    // A round still waiting sends the newest count when it goes.
                    let (waiting,): (i64,) =
                        sqlx::query_as("SELECT COUNT(*) FROM deliveries WHERE notification_id = $1 AND round = $2 AND state = 'pending'")
                            .bind(id)
                            .bind(round)
                            .fetch_one(&mut *tx)
                            .await?;
                    if waiting > 0 {
                        continue;
                    }
                    let due = match pushed_at {
                        Some(last) => due.max(at(last) + crate::CHAT_PUSH_EVERY),
                        None => due,
                    };
                    Self::schedule(&mut tx, id, round + 1, *user_id, due, now).await?;
                }
                tx.commit().await?;
                Ok(recipients.len())
            }

            async fn inbox(&self, user_id: Uuid, cursor: Option<Cursor>, limit: u32) -> sqlx::Result<Vec<NotificationRecord>> {
                let (before_at, before_id) = cursor.map_or((i64::MAX, Uuid::max()), |c| (c.updated_at, c.id));
                sqlx::query_as(&format!(
                    "SELECT {NOTIFICATION_COLUMNS} FROM notifications n WHERE n.user_id = $1 \
                     AND (n.updated_at < $2 OR (n.updated_at = $2 AND n.id < $3)) ORDER BY n.updated_at DESC, n.id DESC LIMIT $4"
                ))
                .bind(user_id)
                .bind(before_at)
                .bind(before_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
            }

            async fn unread(&self, user_id: Uuid) -> sqlx::Result<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
                    .bind(user_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n)
            }

            async fn url_of(&self, user_id: Uuid, id: Uuid) -> sqlx::Result<Option<String>> {
                let row: Option<(String,)> = sqlx::query_as("SELECT url FROM notifications WHERE user_id = $1 AND id = $2")
                    .bind(user_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(u,)| u))
            }

            async fn mark_read(&self, user_id: Uuid, ids: Option<&[Uuid]>, now: DateTime<Utc>) -> sqlx::Result<u64> {
                let mut tx = self.pool.begin_with($begin).await?;
                let mut n = 0;
                match ids {
                    None => {
                        n = sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
                            .bind(ms(now))
                            .bind(user_id)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    }
                    Some(ids) => {
                        for id in ids {
                            n += sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND id = $3 AND read_at IS NULL")
                                .bind(ms(now))
                                .bind(user_id)
                                .bind(id)
                                .execute(&mut *tx)
                                .await?
                                .rows_affected();
                        }
                    }
                }
                if n > 0 {
                    Self::changed(&mut tx, &[user_id], now).await?;
                }
                tx.commit().await?;
                if n > 0 {
                    self.signal.notify();
                }
                Ok(n)
            }

            async fn due_origins(&self, now: DateTime<Utc>, limit: u32) -> sqlx::Result<Vec<String>> {
                let rows: Vec<(String,)> =
                    sqlx::query_as("SELECT DISTINCT origin FROM deliveries WHERE state = 'pending' AND due_at <= $1 LIMIT $2")
                        .bind(ms(now))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(|(o,)| o).collect())
            }

            async fn claim_due(&self, now: DateTime<Utc>, lease: chrono::Duration, origin: &str, limit: u32) -> sqlx::Result<Vec<Due>> {
                let claim = Uuid::new_v4();
                let sql = concat!(
                    "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, lease_until = $1, claim_id = $2 \
                     WHERE (notification_id, round, endpoint) IN (SELECT notification_id, round, endpoint FROM deliveries \
                     WHERE state = 'pending' AND origin = $3 AND due_at <= $4 ORDER BY due_at LIMIT $5",
                    $skip_locked,
                    ")"
                );
                let mut tx = self.pool.begin_with($begin).await?;
                let q = sqlx::query(sql).bind(ms(now + lease)).bind(claim).bind(origin).bind(ms(now)).bind(i64::from(limit));
                let claimed = q.execute(&mut *tx).await?.rows_affected();
                let due: Vec<Due> = if claimed == 0 {
                    Vec::new()
                } else {
                    sqlx::query_as(&format!(
                        "SELECT d.notification_id, d.round, d.endpoint, d.origin, d.attempts, s.p256dh, s.auth, {NOTIFICATION_COLUMNS}, \
                         (SELECT COUNT(*) FROM notifications u WHERE u.user_id = n.user_id AND u.read_at IS NULL) AS unread \
                         FROM deliveries d JOIN notifications n ON n.id = d.notification_id \
                         LEFT JOIN subscriptions s ON s.endpoint = d.endpoint AND s.user_id = n.user_id WHERE d.claim_id = $1"
                    ))
                    .bind(claim)
                    .fetch_all(&mut *tx)
                    .await?
                };
                tx.commit().await?;
                Ok(due)
            }

            async fn finish_all(&self, done: &[(Due, Outcome)]) -> sqlx::Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                // Pushes that went out (nearly all of them) are marked in one statement per
                // status: a statement per push was most of what a fan-out spent in storage.
                let mut sent: std::collections::BTreeMap<u16, Vec<&Due>> = Default::default();
                for (due, outcome) in done {
                    if let Outcome::Sent(code) = *outcome {
                        sent.entry(code).or_default().push(due);
                    }
                }
                for (code, dues) in &sent {
                    for chunk in dues.chunks(SENT_PER_STATEMENT) {
                        let rows: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, ${}, ${})", 3 * i + 2, 3 * i + 3, 3 * i + 4)).collect();
                        let sql = format!(
                            "UPDATE deliveries SET state = 'sent', last_status = $1, lease_until = NULL, claim_id = NULL \
                             WHERE state = 'sending' AND (notification_id, round, endpoint) IN (VALUES {})",
                            rows.join(", ")
                        );
                        let mut q = sqlx::query(&sql).bind(i64::from(*code));
                        for due in chunk {
                            q = q.bind(due.notification_id).bind(due.round).bind(&due.endpoint);
                        }
                        q.execute(&mut *tx).await?;
                    }
                }
                for (due, outcome) in done {
                    let (state, status, retry_at) = match *outcome {
                        Outcome::Sent(_) => continue,
                        Outcome::Gone(s) => ("gone", Some(s), None),
                        Outcome::Failed(s) => ("failed", s, None),
                        Outcome::Retry { status, at } => ("pending", status, Some(at)),
                    };
                    sqlx::query(
                        "UPDATE deliveries SET state = $1, last_status = $2, due_at = COALESCE($3, due_at), lease_until = NULL, claim_id = NULL \
                         WHERE notification_id = $4 AND round = $5 AND endpoint = $6 AND state = 'sending'",
                    )
                    .bind(state)
                    .bind(status.map(i64::from))
                    .bind(retry_at.map(ms))
                    .bind(due.notification_id)
                    .bind(due.round)
                    .bind(&due.endpoint)
                    .execute(&mut *tx)
                    .await?;
                    if matches!(outcome, Outcome::Gone(_)) {
                        sqlx::query("DELETE FROM subscriptions WHERE endpoint = $1").bind(&due.endpoint).execute(&mut *tx).await?;
                        sqlx::query("UPDATE deliveries SET state = 'gone' WHERE endpoint = $1 AND state = 'pending'")
                            .bind(&due.endpoint)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await
            }

            async fn abandon_stale(&self, now: DateTime<Utc>) -> sqlx::Result<u64> {
                Ok(sqlx::query("UPDATE deliveries SET state = 'abandoned', claim_id = NULL WHERE state = 'sending' AND lease_until < $1")
                    .bind(ms(now))
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }

            async fn prune(&self, before: DateTime<Utc>) -> sqlx::Result<u64> {
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query("DELETE FROM deliveries WHERE notification_id IN (SELECT id FROM notifications WHERE updated_at < $1)")
                    .bind(ms(before))
                    .execute(&mut *tx)
                    .await?;
                let n = sqlx::query("DELETE FROM notifications WHERE updated_at < $1").bind(ms(before)).execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn delivery_states(&self) -> sqlx::Result<Vec<(String, i64)>> {
                sqlx::query_as("SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY state").fetch_all(&self.pool).await
            }
        }
    };
}

sql_push_store!(SqlitePushStore, sqlx::Sqlite, "BEGIN IMMEDIATE", "");
sql_push_store!(PgPushStore, sqlx::Postgres, "BEGIN", " FOR UPDATE SKIP LOCKED");

/// Creates the event tables and push's tables (migrations) and the store for `db`'s engine.
pub async fn open(db: &Db, signal: OutboxSignal) -> anyhow::Result<std::sync::Arc<dyn PushStore>> {
    gonggu_kernel::events::create_event_tables(db).await?;
    db.migrate(&sqlx::migrate!("./migrations/sqlite"), &sqlx::migrate!("./migrations/postgres")).await?;
    Ok(match db {
        Db::Sqlite(pool) => std::sync::Arc::new(SqlitePushStore { pool: pool.clone(), signal }),
        Db::Postgres(pool) => std::sync::Arc::new(PgPushStore { pool: pool.clone(), signal }),
    })
}

impl NotificationRecord {
    pub fn urgency(&self) -> Urgency {
        Urgency::parse(&self.urgency)
    }
}
