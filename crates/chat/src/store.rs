//! Chat storage, one SQL text for SQLite and PostgreSQL.
//!
//! A message is numbered inside the transaction that stores it: `rooms.last_seq` is raised by
//! one and the message takes that number, so seqs are unique and gap-free per room (a failed
//! transaction gives its number back). A sender's `client_id` is unique per room, so a resend
//! finds the stored message instead of adding one. Room facts come from deals' events, applied
//! in the same transaction as the inbox claim, so a redelivered event changes nothing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gonggu_kernel::{
    db::Db,
    events::{Envelope, OutboxExt, OutboxSignal},
};
use uuid::Uuid;

use crate::{
    domain::{ClientId, MessageBody, MessageKind, RoomState},
    events::ChatMessagePosted,
};

/// What a member sends.
#[derive(Debug, Clone)]
pub enum Content {
    Text(MessageBody),
    Image(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub room_id: Uuid,
    pub seq: i64,
    pub kind: MessageKind,
    pub sender_id: Option<Uuid>,
    pub sender_login_id: Option<String>,
    pub client_id: Option<String>,
    pub body: String,
    pub image_key: Option<String>,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoomRecord {
    pub id: Uuid,
    pub title: String,
    pub host_id: Uuid,
    pub state: RoomState,
    pub last_seq: i64,
    pub last_at: DateTime<Utc>,
    /// The host's pinned notice.
    pub pin: Option<Pin>,
}

/// The notice the host pinned at the top of the room.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Pin {
    pub body: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MemberRecord {
    pub user_id: Uuid,
    pub login_id: String,
    pub read_seq: i64,
}

/// One of the user's rooms, for the chat list.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSummary {
    pub room: RoomRecord,
    pub read_seq: i64,
    pub last_message: Option<MessageRecord>,
}

/// Why a room refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no such room")]
    NoSuchRoom,
    #[error("not a member of the room")]
    NotAMember,
    #[error("the room is read-only")]
    ReadOnly,
    #[error("only the host may do this")]
    NotTheHost,
}

/// A stored message, and whether it was stored just now or found (a resend).
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub message: MessageRecord,
    pub replayed: bool,
    /// Who is in the room as it was stored, by id (empty for a resend).
    pub member_ids: MemberIds,
}

/// What applying an event's facts did, for the sockets to hear.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// The notice stored, if any.
    pub notice: Option<MessageRecord>,
    /// Who is no longer in the room.
    pub removed: Vec<Uuid>,
}

/// Deals' facts about a room, as its events carry them.
#[derive(Debug, Clone)]
pub struct RoomFacts {
    pub room_id: Uuid,
    pub title: String,
    pub host_id: Uuid,
    pub state: RoomState,
    pub members: Vec<(Uuid, String)>,
    /// The notice the event posts in the room, if any.
    pub notice: Option<String>,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait ChatStore: Send + Sync {
    /// Applies deals' facts once per event (`consumer`, `event_id`): the room, who is in it, its
    /// notice. Facts older than those applied already change no membership.
    async fn apply_facts(&self, facts: &RoomFacts, consumer: &str, event_id: Uuid) -> sqlx::Result<Applied>;
    async fn post(
        &self,
        room_id: Uuid,
        sender: (Uuid, &str),
        client_id: &ClientId,
        content: &Content,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Result<Posted, Refusal>>;
    /// Messages before `before` (newest first up to `limit`, answered oldest first), for a member.
    async fn history(
        &self,
        room_id: Uuid,
        user_id: Uuid,
        before: Option<i64>,
        limit: u32,
    ) -> sqlx::Result<Result<Vec<MessageRecord>, Refusal>>;
    /// Messages after `after`, oldest first, up to `limit`, for a member (a resume).
    async fn history_after(
        &self,
        room_id: Uuid,
        user_id: Uuid,
        after: i64,
        limit: u32,
    ) -> sqlx::Result<Result<Vec<MessageRecord>, Refusal>>;
    /// Messages after `after`, oldest first, up to `limit` (for handing out; no member check).
    async fn messages_after(&self, room_id: Uuid, after: i64, limit: u32) -> sqlx::Result<Vec<MessageRecord>>;
    /// Everyone in the room with their read positions (for handing out frames; no member check).
    async fn member_list(&self, room_id: Uuid) -> sqlx::Result<Vec<MemberRecord>>;
    /// Pins `body` at the top of the room (`None` unpins), for its host; stores `notice` in the
    /// room too. Returns the notice stored and who is in the room.
    async fn pin(
        &self,
        room_id: Uuid,
        host_id: Uuid,
        body: Option<&str>,
        notice: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Result<(MessageRecord, MemberIds), Refusal>>;
    /// Who is in the room, by id, for a member.
    async fn member_ids(&self, room_id: Uuid, user_id: Uuid) -> sqlx::Result<Result<MemberIds, Refusal>>;
    /// Moves the member's read position up to `seq` (never back, never past the newest); returns
    /// it and who is in the room, by id.
    async fn read(&self, room_id: Uuid, user_id: Uuid, seq: i64) -> sqlx::Result<Result<(i64, MemberIds), Refusal>>;
    /// The room, for a member.
    async fn room(&self, room_id: Uuid, user_id: Uuid) -> sqlx::Result<Result<RoomRecord, Refusal>>;
    /// Records that socket `socket_id` of `user_id` shows `room_id` now (`None`: no room). A
    /// room the user is not in is refused.
    async fn set_viewing(
        &self,
        socket_id: Uuid,
        user_id: Uuid,
        room_id: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Result<(), Refusal>>;
    /// Keeps the socket's viewing row current (see [`VIEWING_FRESH`]).
    async fn refresh_viewing(&self, socket_id: Uuid, now: DateTime<Utc>) -> sqlx::Result<()>;
    /// Forgets viewing rows not refreshed since `before` (their instance went away).
    async fn forget_viewers(&self, before: DateTime<Utc>) -> sqlx::Result<u64>;
    /// The newest seq and the user's read position in each of their rooms (a socket's `hello`).
    async fn positions_of(&self, user_id: Uuid) -> sqlx::Result<Vec<(Uuid, i64, i64)>>;
    /// The user's rooms, newest activity first.
    async fn rooms_of(&self, user_id: Uuid) -> sqlx::Result<Vec<RoomSummary>>;
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    room_id: Uuid,
    seq: i64,
    kind: String,
    sender_id: Option<Uuid>,
    sender_login_id: Option<String>,
    client_id: Option<String>,
    body: String,
    image_key: Option<String>,
    sent_at: DateTime<Utc>,
}

impl TryFrom<MessageRow> for MessageRecord {
    type Error = sqlx::Error;
    fn try_from(r: MessageRow) -> Result<Self, Self::Error> {
        let kind = MessageKind::parse(&r.kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("message {}#{} has kind {:?}", r.room_id, r.seq, r.kind).into()))?;
        Ok(MessageRecord {
            room_id: r.room_id,
            seq: r.seq,
            kind,
            sender_id: r.sender_id,
            sender_login_id: r.sender_login_id,
            client_id: r.client_id,
            body: r.body,
            image_key: r.image_key,
            sent_at: r.sent_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RoomRow {
    id: Uuid,
    title: String,
    host_id: Uuid,
    state: String,
    last_seq: i64,
    last_at: DateTime<Utc>,
    pinned_body: Option<String>,
    pinned_at: Option<DateTime<Utc>>,
}

impl TryFrom<RoomRow> for RoomRecord {
    type Error = sqlx::Error;
    fn try_from(r: RoomRow) -> Result<Self, Self::Error> {
        let state =
            RoomState::parse(&r.state).ok_or_else(|| sqlx::Error::Decode(format!("room {} has state {:?}", r.id, r.state).into()))?;
        let pin = match (r.pinned_body, r.pinned_at) {
            (Some(body), Some(at)) => Some(Pin { body, at }),
            _ => None,
        };
        Ok(RoomRecord { id: r.id, title: r.title, host_id: r.host_id, state, last_seq: r.last_seq, last_at: r.last_at, pin })
    }
}

#[derive(sqlx::FromRow)]
struct MemberRoomRow {
    #[sqlx(flatten)]
    room: RoomRow,
    members_version: i64,
    is_member: bool,
}

/// Rooms' member ids as this instance last read them, each with the `members_version` it was
/// read at; a room whose row shows another version is read again. Bounded: past [`MemberCache::ROOMS`]
/// rooms it starts over.
#[derive(Default)]
struct MemberCache(std::sync::Mutex<std::collections::HashMap<Uuid, (i64, MemberIds)>>);

/// A room's member ids, shared by every frame that goes to them.
pub type MemberIds = std::sync::Arc<[Uuid]>;

impl MemberCache {
    const ROOMS: usize = 4096;

    fn get(&self, room_id: Uuid, version: i64) -> Option<MemberIds> {
        match self.0.lock().expect("member cache").get(&room_id) {
            Some((v, ids)) if *v == version => Some(ids.clone()),
            _ => None,
        }
    }

    fn put(&self, room_id: Uuid, version: i64, ids: MemberIds) {
        let mut map = self.0.lock().expect("member cache");
        if map.len() >= Self::ROOMS && !map.contains_key(&room_id) {
            map.clear();
        }
        map.insert(room_id, (version, ids));
    }
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    #[sqlx(flatten)]
    room: RoomRow,
    read_seq: i64,
}

const MESSAGE_COLUMNS: &str = "room_id, seq, kind, sender_id, sender_login_id, client_id, body, image_key, sent_at";
const ROOM_COLUMNS: &str = "r.id, r.title, r.host_id, r.state, r.last_seq, r.last_at, r.pinned_body, r.pinned_at";

/// A viewing row counts while it was refreshed this recently; sockets refresh theirs with every
/// ping (every 15 s), so a row whose instance went away stops counting within this.
pub const VIEWING_FRESH: chrono::Duration = chrono::Duration::seconds(45);

/// A notice's or message's first line, short, for the chat list and push.
pub fn preview(kind: MessageKind, body: &str) -> String {
    match kind {
        MessageKind::Image => "사진".to_owned(),
        _ => {
            let line = body.lines().next().unwrap_or("");
            let mut out: String = line.chars().take(60).collect();
            if line.chars().count() > 60 || body.lines().nth(1).is_some() {
                out.push('…');
            }
            out
        }
    }
}

macro_rules! sql_chat_store {
    ($name:ident, $db:ty, $begin:literal, $lock:literal) => {
        pub struct $name {
            pool: sqlx::Pool<$db>,
            signal: OutboxSignal,
            members: MemberCache,
        }

        impl $name {
            fn new(pool: sqlx::Pool<$db>, signal: OutboxSignal) -> Self {
                Self { pool, signal, members: MemberCache::default() }
            }

            /// The room's member ids at `version` (the room's `members_version`, read in this
            /// transaction): from memory when this instance has read that version already.
            async fn member_ids(&self, tx: &mut sqlx::Transaction<'static, $db>, room_id: Uuid, version: i64) -> sqlx::Result<MemberIds> {
                if let Some(ids) = self.members.get(room_id, version) {
                    return Ok(ids);
                }
                let rows: Vec<(Uuid,)> = sqlx::query_as("SELECT user_id FROM room_members WHERE room_id = $1 ORDER BY user_id")
                    .bind(room_id)
                    .fetch_all(&mut **tx)
                    .await?;
                let ids: MemberIds = rows.into_iter().map(|(id,)| id).collect();
                self.members.put(room_id, version, ids.clone());
                Ok(ids)
            }

            /// Takes the room's next seq and stores the message under it.
            async fn append(tx: &mut sqlx::Transaction<'static, $db>, m: &MessageRecord) -> sqlx::Result<MessageRecord> {
                let (seq,): (i64,) =
                    sqlx::query_as("UPDATE rooms SET last_seq = last_seq + 1, last_at = $1 WHERE id = $2 RETURNING last_seq")
                        .bind(m.sent_at)
                        .bind(m.room_id)
                        .fetch_one(&mut **tx)
                        .await?;
                sqlx::query(
                    "INSERT INTO messages (room_id, seq, kind, sender_id, sender_login_id, client_id, body, image_key, sent_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(m.room_id)
                .bind(seq)
                .bind(m.kind.as_str())
                .bind(m.sender_id)
                .bind(&m.sender_login_id)
                .bind(&m.client_id)
                .bind(&m.body)
                .bind(&m.image_key)
                .bind(m.sent_at)
                .execute(&mut **tx)
                .await?;
                Ok(MessageRecord { seq, ..m.clone() })
            }

            async fn after_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                room_id: Uuid,
                after: i64,
                limit: u32,
            ) -> sqlx::Result<Vec<MessageRecord>> {
                let rows: Vec<MessageRow> = sqlx::query_as(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
                ))
                .bind(room_id)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&mut **tx)
                .await?;
                rows.into_iter().map(MessageRecord::try_from).collect()
            }

            /// The room and its `members_version`, if `user_id` is in it. `lock` holds the room's
            /// row until the transaction ends (PostgreSQL; SQLite's `BEGIN IMMEDIATE` holds the
            /// whole file), so two posts with one client id see each other.
            async fn member_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                room_id: Uuid,
                user_id: Uuid,
                lock: bool,
            ) -> sqlx::Result<Result<(RoomRecord, i64), Refusal>> {
                let lock = if lock { $lock } else { "" };
                let row: Option<MemberRoomRow> = sqlx::query_as(&format!(
                    "SELECT {ROOM_COLUMNS}, r.members_version, m.user_id IS NOT NULL AS is_member FROM rooms r \
                     LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = $2 WHERE r.id = $1{lock}"
                ))
                .bind(room_id)
                .bind(user_id)
                .fetch_optional(&mut **tx)
                .await?;
                Ok(match row {
                    None => Err(Refusal::NoSuchRoom),
                    Some(r) if !r.is_member => Err(Refusal::NotAMember),
                    Some(r) => Ok((RoomRecord::try_from(r.room)?, r.members_version)),
                })
            }
        }

        #[async_trait]
        impl ChatStore for $name {
            async fn apply_facts(&self, f: &RoomFacts, consumer: &str, event_id: Uuid) -> sqlx::Result<Applied> {
                let mut tx = self.pool.begin_with($begin).await?;
                let mut applied = Applied::default();
                if !(&mut *tx).claim_event(consumer, event_id).await? {
                    return Ok(applied);
                }
                let known: Option<(DateTime<Utc>,)> =
                    sqlx::query_as("SELECT facts_at FROM rooms WHERE id = $1").bind(f.room_id).fetch_optional(&mut *tx).await?;
                let newest = known.is_none_or(|(at,)| at <= f.at);
                if known.is_none() {
                    sqlx::query(
                        "INSERT INTO rooms (id, title, host_id, state, last_seq, last_at, facts_at) VALUES ($1, $2, $3, $4, 0, $5, $5)",
                    )
                    .bind(f.room_id)
                    .bind(&f.title)
                    .bind(f.host_id)
                    .bind(f.state.as_str())
                    .bind(f.at)
                    .execute(&mut *tx)
                    .await?;
                } else if newest {
                    sqlx::query("UPDATE rooms SET title = $1, host_id = $2, state = $3, facts_at = $4 WHERE id = $5")
                        .bind(&f.title)
                        .bind(f.host_id)
                        .bind(f.state.as_str())
                        .bind(f.at)
                        .bind(f.room_id)
                        .execute(&mut *tx)
                        .await?;
                }
                if newest {
                    sqlx::query("UPDATE rooms SET members_version = members_version + 1 WHERE id = $1")
                        .bind(f.room_id)
                        .execute(&mut *tx)
                        .await?;
                    let now: Vec<(Uuid,)> =
                        sqlx::query_as("SELECT user_id FROM room_members WHERE room_id = $1").bind(f.room_id).fetch_all(&mut *tx).await?;
                    for (gone,) in now.iter().filter(|(id,)| !f.members.iter().any(|(m, _)| m == id)) {
                        sqlx::query("DELETE FROM room_members WHERE room_id = $1 AND user_id = $2")
                            .bind(f.room_id)
                            .bind(gone)
                            .execute(&mut *tx)
                            .await?;
                        applied.removed.push(*gone);
                    }
                }
                if let Some(text) = &f.notice {
                    let notice = MessageRecord {
                        room_id: f.room_id,
                        seq: 0,
                        kind: MessageKind::Notice,
                        sender_id: None,
                        sender_login_id: None,
                        client_id: None,
                        body: text.clone(),
                        image_key: None,
                        sent_at: f.at,
                    };
                    applied.notice = Some(Self::append(&mut tx, &notice).await?);
                }
                if newest {
                    // A newcomer starts with nothing unread (their own join notice included); the
                    // room's history is theirs to read.
                    for (user_id, login_id) in &f.members {
                        sqlx::query(
                            "INSERT INTO room_members (room_id, user_id, login_id, read_seq, joined_at) \
                             SELECT $1, $2, $3, last_seq, $4 FROM rooms WHERE id = $1 ON CONFLICT (room_id, user_id) DO NOTHING",
                        )
                        .bind(f.room_id)
                        .bind(user_id)
                        .bind(login_id)
                        .bind(f.at)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(applied)
            }

            async fn post(
                &self,
                room_id: Uuid,
                (sender_id, sender_login_id): (Uuid, &str),
                client_id: &ClientId,
                content: &Content,
                now: DateTime<Utc>,
            ) -> sqlx::Result<Result<Posted, Refusal>> {
                let mut tx = self.pool.begin_with($begin).await?;
                let (room, version) = match Self::member_in(&mut tx, room_id, sender_id, true).await? {
                    Ok(room) => room,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let earlier: Option<MessageRow> = sqlx::query_as(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND sender_id = $2 AND client_id = $3"
                ))
                .bind(room_id)
                .bind(sender_id)
                .bind(client_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = earlier {
                    return Ok(Ok(Posted { message: row.try_into()?, replayed: true, member_ids: Vec::new().into() }));
                }
                if room.state == RoomState::Closed {
                    return Ok(Err(Refusal::ReadOnly));
                }
                let (kind, body, image_key) = match content {
                    Content::Text(b) => (MessageKind::Text, b.as_str().to_owned(), None),
                    Content::Image(key) => (MessageKind::Image, String::new(), Some(key.clone())),
                };
                let draft = MessageRecord {
                    room_id,
                    seq: 0,
                    kind,
                    sender_id: Some(sender_id),
                    sender_login_id: Some(sender_login_id.to_owned()),
                    client_id: Some(client_id.as_str().to_owned()),
                    body,
                    image_key,
                    sent_at: now,
                };
                let message = Self::append(&mut tx, &draft).await?;
                // Whoever writes has read everything up to their own message.
                sqlx::query("UPDATE room_members SET read_seq = $1 WHERE room_id = $2 AND user_id = $3")
                    .bind(message.seq)
                    .bind(room_id)
                    .bind(sender_id)
                    .execute(&mut *tx)
                    .await?;
                let member_ids = self.member_ids(&mut tx, room_id, version).await?;
                let viewing: Vec<(Uuid,)> = sqlx::query_as(
                    "SELECT DISTINCT v.user_id FROM room_viewers v JOIN room_members m ON m.room_id = v.room_id AND m.user_id = v.user_id \
                     WHERE v.room_id = $1 AND v.seen_at > $2 ORDER BY v.user_id",
                )
                .bind(room_id)
                .bind(now - VIEWING_FRESH)
                .fetch_all(&mut *tx)
                .await?;
                let event = ChatMessagePosted {
                    room_id,
                    seq: message.seq,
                    sender_id,
                    sender_login_id: sender_login_id.to_owned(),
                    title: room.title.clone(),
                    preview: preview(message.kind, &message.body),
                    member_ids: member_ids.to_vec(),
                    viewing_ids: viewing.into_iter().map(|(id,)| id).collect(),
                };
                (&mut *tx).enqueue(&Envelope::new(&event, now)).await?;
                tx.commit().await?;
                self.signal.notify();
                Ok(Ok(Posted { message, replayed: false, member_ids }))
            }

            async fn history(
                &self,
                room_id: Uuid,
                user_id: Uuid,
                before: Option<i64>,
                limit: u32,
            ) -> sqlx::Result<Result<Vec<MessageRecord>, Refusal>> {
                let mut tx = self.pool.begin().await?;
                if let Err(refusal) = Self::member_in(&mut tx, room_id, user_id, false).await? {
                    return Ok(Err(refusal));
                }
                let rows: Vec<MessageRow> = sqlx::query_as(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
                ))
                .bind(room_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let mut out = rows.into_iter().map(MessageRecord::try_from).collect::<sqlx::Result<Vec<_>>>()?;
                out.reverse();
                Ok(Ok(out))
            }

            async fn history_after(
                &self,
                room_id: Uuid,
                user_id: Uuid,
                after: i64,
                limit: u32,
            ) -> sqlx::Result<Result<Vec<MessageRecord>, Refusal>> {
                let mut tx = self.pool.begin().await?;
                if let Err(refusal) = Self::member_in(&mut tx, room_id, user_id, false).await? {
                    return Ok(Err(refusal));
                }
                let rows = Self::after_in(&mut tx, room_id, after, limit).await?;
                tx.commit().await?;
                Ok(Ok(rows))
            }

            async fn messages_after(&self, room_id: Uuid, after: i64, limit: u32) -> sqlx::Result<Vec<MessageRecord>> {
                let mut tx = self.pool.begin().await?;
                let rows = Self::after_in(&mut tx, room_id, after, limit).await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn member_list(&self, room_id: Uuid) -> sqlx::Result<Vec<MemberRecord>> {
                sqlx::query_as("SELECT user_id, login_id, read_seq FROM room_members WHERE room_id = $1 ORDER BY joined_at, login_id")
                    .bind(room_id)
                    .fetch_all(&self.pool)
                    .await
            }

            async fn pin(
                &self,
                room_id: Uuid,
                host_id: Uuid,
                body: Option<&str>,
                notice: &str,
                now: DateTime<Utc>,
            ) -> sqlx::Result<Result<(MessageRecord, MemberIds), Refusal>> {
                let mut tx = self.pool.begin_with($begin).await?;
                let (room, version) = match Self::member_in(&mut tx, room_id, host_id, true).await? {
                    Ok(room) => room,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                if room.host_id != host_id {
                    return Ok(Err(Refusal::NotTheHost));
                }
                if room.state == RoomState::Closed {
                    return Ok(Err(Refusal::ReadOnly));
                }
                sqlx::query("UPDATE rooms SET pinned_body = $1, pinned_at = $2 WHERE id = $3")
                    .bind(body)
                    .bind(body.map(|_| now))
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
                let draft = MessageRecord {
                    room_id,
                    seq: 0,
                    kind: MessageKind::Notice,
                    sender_id: None,
                    sender_login_id: None,
                    client_id: None,
                    body: notice.to_owned(),
                    image_key: None,
                    sent_at: now,
                };
                let stored = Self::append(&mut tx, &draft).await?;
                let ids = self.member_ids(&mut tx, room_id, version).await?;
                tx.commit().await?;
                Ok(Ok((stored, ids)))
            }

            async fn member_ids(&self, room_id: Uuid, user_id: Uuid) -> sqlx::Result<Result<MemberIds, Refusal>> {
                let mut tx = self.pool.begin().await?;
                let ids = match Self::member_in(&mut tx, room_id, user_id, false).await? {
                    Ok((_, version)) => Ok(self.member_ids(&mut tx, room_id, version).await?),
                    Err(refusal) => Err(refusal),
                };
                tx.commit().await?;
                Ok(ids)
            }

            async fn read(&self, room_id: Uuid, user_id: Uuid, seq: i64) -> sqlx::Result<Result<(i64, MemberIds), Refusal>> {
                let mut tx = self.pool.begin_with($begin).await?;
                let (room, version) = match Self::member_in(&mut tx, room_id, user_id, false).await? {
                    Ok(room) => room,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let (read,): (i64,) = sqlx::query_as(
                    "UPDATE room_members SET read_seq = CASE WHEN read_seq < $1 THEN $1 ELSE read_seq END \
                     WHERE room_id = $2 AND user_id = $3 RETURNING read_seq",
                )
                .bind(seq.clamp(0, room.last_seq))
                .bind(room_id)
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
                let ids = self.member_ids(&mut tx, room_id, version).await?;
                tx.commit().await?;
                Ok(Ok((read, ids)))
            }

            async fn room(&self, room_id: Uuid, user_id: Uuid) -> sqlx::Result<Result<RoomRecord, Refusal>> {
                let mut tx = self.pool.begin().await?;
                let room = Self::member_in(&mut tx, room_id, user_id, false).await?;
                tx.commit().await?;
                Ok(room.map(|(room, _)| room))
            }

            async fn set_viewing(
                &self,
                socket_id: Uuid,
                user_id: Uuid,
                room_id: Option<Uuid>,
                now: DateTime<Utc>,
            ) -> sqlx::Result<Result<(), Refusal>> {
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query("DELETE FROM room_viewers WHERE socket_id = $1").bind(socket_id).execute(&mut *tx).await?;
                if let Some(room_id) = room_id {
                    if let Err(refusal) = Self::member_in(&mut tx, room_id, user_id, false).await? {
                        return Ok(Err(refusal));
                    }
                    sqlx::query("INSERT INTO room_viewers (socket_id, room_id, user_id, seen_at) VALUES ($1, $2, $3, $4)")
                        .bind(socket_id)
                        .bind(room_id)
                        .bind(user_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Ok(()))
            }

            async fn refresh_viewing(&self, socket_id: Uuid, now: DateTime<Utc>) -> sqlx::Result<()> {
                sqlx::query("UPDATE room_viewers SET seen_at = $1 WHERE socket_id = $2")
                    .bind(now)
                    .bind(socket_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn forget_viewers(&self, before: DateTime<Utc>) -> sqlx::Result<u64> {
                Ok(sqlx::query("DELETE FROM room_viewers WHERE seen_at < $1").bind(before).execute(&self.pool).await?.rows_affected())
            }

            async fn positions_of(&self, user_id: Uuid) -> sqlx::Result<Vec<(Uuid, i64, i64)>> {
                sqlx::query_as(
                    "SELECT r.id, r.last_seq, m.read_seq FROM rooms r JOIN room_members m ON m.room_id = r.id WHERE m.user_id = $1",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
            }

            async fn rooms_of(&self, user_id: Uuid) -> sqlx::Result<Vec<RoomSummary>> {
                let rows: Vec<SummaryRow> = sqlx::query_as(&format!(
                    "SELECT {ROOM_COLUMNS}, m.read_seq FROM rooms r JOIN room_members m ON m.room_id = r.id \
                     WHERE m.user_id = $1 ORDER BY r.last_at DESC, r.id"
                ))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let room = RoomRecord::try_from(row.room)?;
                    let last: Option<MessageRow> =
                        sqlx::query_as(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq = $2"))
                            .bind(room.id)
                            .bind(room.last_seq)
                            .fetch_optional(&self.pool)
                            .await?;
                    out.push(RoomSummary { last_message: last.map(MessageRecord::try_from).transpose()?, read_seq: row.read_seq, room });
                }
                Ok(out)
            }
        }
    };
}

sql_chat_store!(SqliteChatStore, sqlx::Sqlite, "BEGIN IMMEDIATE", "");
sql_chat_store!(PgChatStore, sqlx::Postgres, "BEGIN", " FOR UPDATE OF r");

/// Opens the store for whichever backend `db` is, after running its migrations.
pub async fn open(db: &Db, signal: OutboxSignal) -> anyhow::Result<std::sync::Arc<dyn ChatStore>> {
    gonggu_kernel::events::create_event_tables(db).await?;
    db.migrate(&sqlx::migrate!("./migrations/sqlite"), &sqlx::migrate!("./migrations/postgres")).await?;
    Ok(match db {
        Db::Sqlite(pool) => std::sync::Arc::new(SqliteChatStore::new(pool.clone(), signal)),
        Db::Postgres(pool) => std::sync::Arc::new(PgChatStore::new(pool.clone(), signal)),
    })
}
