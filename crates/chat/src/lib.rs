//! Chat context (DESIGN §2 "Chat"): a room per deal, kept from deals' events; messages stored
//! with a gap-free per-room seq before anyone hears of them; a resend of a client id is the same
//! message; read positions per member and unread counts per room and per message.
//!
//! A stored message goes to the members' sockets on this instance through the [`Hub`], and to
//! the other instances' hubs through the kernel's fan-out (NATS core) in the scaled mode.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gonggu_kernel::{auth::AuthUser, clock::Clock, fanout::Fanout, ratelimit::KeyedLimiter, ApiError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub mod api;
pub mod consumer;
pub mod domain;
pub mod events;
pub mod hub;
pub mod module;
pub mod pages;
pub mod protocol;
pub mod store;
pub mod ws;

use domain::{ClientId, MessageBody, MessageKind, RoomState};
use hub::Hub;
use protocol::{RoomFrameState, ServerFrame};
use store::{Applied, ChatStore, Content, MemberRecord, MessageRecord, Refusal, RoomFacts};

/// Posts in one room are stored and handed out one at a time (per process), so every socket
/// hears a room's messages in seq order; rooms share these few locks by hash.
const ROOM_LOCKS: usize = 64;
/// Messages a user may send a second, over the socket and HTTP together.
pub const SENDS_PER_SECOND: u32 = 10;

pub struct Chat {
    pub store: Arc<dyn ChatStore>,
    pub clock: Clock,
    pub hub: Arc<Hub>,
    room_locks: Vec<tokio::sync::Mutex<()>>,
    sends: Arc<KeyedLimiter<Uuid>>,
    /// The other instances' hubs (scaled mode).
    fanout: Option<Arc<dyn Fanout>>,
}

/// A frame for some users, as it travels to the other instances.
#[derive(Debug, Serialize, Deserialize)]
pub struct Relay {
    pub to: Vec<Uuid>,
    pub frame: ServerFrame,
}

/// The fan-out family chat publishes under (`chat.room.<id>`).
pub const FANOUT_FAMILY: &str = "chat";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Sender {
    pub user_id: Uuid,
    pub login_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct MessageView {
    pub room_id: Uuid,
    /// Gap-free per room, from 1.
    pub seq: i64,
    pub kind: MessageKind,
    /// The sender's id for this message (absent on notices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Absent on notices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<Sender>,
    pub body: String,
    pub sent_at: DateTime<Utc>,
    /// How many members have not read it yet (KakaoTalk's number beside a message).
    pub unread_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct RoomView {
    pub room_id: Uuid,
    pub title: String,
    pub state: RoomState,
    /// Messages after this member's read position.
    pub unread: i64,
    pub last_seq: i64,
    pub last_message: Option<MessageView>,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct ReadView {
    pub room_id: Uuid,
    pub seq: i64,
}

/// A room's page: see [`Chat::room_page`].
#[derive(Debug, Clone)]
pub struct RoomPage {
    pub room: store::RoomRecord,
    pub members: Vec<MemberRecord>,
    /// Oldest first.
    pub messages: Vec<MessageView>,
}

/// A posted message and whether it was stored before (a resend of its client id).
#[derive(Debug, Clone, PartialEq)]
pub struct PostAnswer {
    pub message: MessageView,
    pub replayed: bool,
}

fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::NoSuchRoom => ApiError::not_found("room_not_found", "채팅방을 찾을 수 없습니다."),
        Refusal::NotAMember => ApiError::forbidden("not_a_member", "이 공구에 참여한 이웃만 채팅방에 들어올 수 있습니다."),
        Refusal::ReadOnly => ApiError::conflict("room_read_only", "취소되거나 무산된 공구의 채팅방에는 글을 쓸 수 없습니다."),
    }
}

/// How many of `members` have not read `seq`.
fn unread_of(members: &[MemberRecord], seq: i64) -> i64 {
    members.iter().filter(|m| m.read_seq < seq).count() as i64
}

fn view(m: MessageRecord, members: &[MemberRecord]) -> MessageView {
    let sender = match (m.sender_id, m.sender_login_id) {
        (Some(user_id), Some(login_id)) => Some(Sender { user_id, login_id }),
        _ => None,
    };
    MessageView {
        room_id: m.room_id,
        seq: m.seq,
        kind: m.kind,
        client_id: m.client_id,
        sender,
        body: m.body,
        sent_at: m.sent_at,
        unread_count: unread_of(members, m.seq),
    }
}

impl Chat {
    pub fn new(store: Arc<dyn ChatStore>, clock: Clock, fanout: Option<Arc<dyn Fanout>>) -> Self {
        Self {
            fanout,
            store,
            clock,
            hub: Hub::new(),
            room_locks: (0..ROOM_LOCKS).map(|_| tokio::sync::Mutex::new(())).collect(),
            sends: KeyedLimiter::new(SENDS_PER_SECOND, std::time::Duration::from_secs(1)),
        }
    }

    /// Forgets the send rates of users who have been quiet (keeps the limiter's memory bounded).
    pub fn prune_rates(&self) {
        self.sends.prune();
    }

    /// Hands `frame` to the sockets of `users` here and on every other instance. Called under
    /// the room's lock, so one instance publishes a room's messages in seq order; across
    /// instances a socket that sees a hole fills it from storage (see `ws`).
    async fn deliver(&self, room_id: Uuid, users: Vec<Uuid>, frame: ServerFrame) {
        if users.is_empty() {
            return;
        }
        let Some(fanout) = &self.fanout else {
            return self.hub.send_to(users, frame);
        };
        let relay = Relay { to: users, frame };
        let payload = serde_json::to_vec(&relay).expect("frames serialise");
        self.hub.send_to(relay.to, relay.frame);
        if let Err(e) = fanout.publish(&format!("{FANOUT_FAMILY}.room.{room_id}"), payload.into()).await {
            tracing::warn!(error = %format!("{e:#}"), "chat fan-out failed; other instances' sockets catch up on their next message or resume");
        }
    }

    /// Hands a frame another instance published to the sockets here.
    pub fn deliver_relayed(&self, payload: &[u8]) {
        match serde_json::from_slice::<Relay>(payload) {
            Ok(relay) => self.hub.send_to(relay.to, relay.frame),
            Err(e) => tracing::warn!(error = %e, "unreadable chat fan-out frame skipped"),
        }
    }

    fn room_lock(&self, room_id: Uuid) -> &tokio::sync::Mutex<()> {
        &self.room_locks[(room_id.as_u128() % ROOM_LOCKS as u128) as usize]
    }

    pub async fn post_text(&self, user: &AuthUser, room_id: Uuid, client_id: &str, body: &str) -> Result<PostAnswer, ApiError> {
        let client_id = ClientId::parse(client_id).map_err(|e| ApiError::field("client_id", e.0))?;
        let body = MessageBody::parse(body).map_err(|e| ApiError::field("body", e.0))?;
        self.sends.check(&user.user_id)?;
        let _room = self.room_lock(room_id).lock().await;
        let now = self.clock.now();
        let posted =
            self.store.post(room_id, (user.user_id, &user.login_id), &client_id, &Content::Text(body), now).await?.map_err(refused)?;
        let members = self.store.member_list(room_id).await?;
        let message = view(posted.message, &members);
        if !posted.replayed {
            self.deliver(room_id, members.iter().map(|m| m.user_id).collect(), ServerFrame::Message(message.clone())).await;
        }
        Ok(PostAnswer { message, replayed: posted.replayed })
    }

    /// Applies deals' facts about a room (once per event) and tells the sockets: the notice to
    /// the members, `left` to whoever is out, the room's state when it closed.
    pub async fn apply_facts(&self, facts: &RoomFacts, consumer: &str, event_id: Uuid) -> anyhow::Result<()> {
        let _room = self.room_lock(facts.room_id).lock().await;
        let Applied { notice, removed } = self.store.apply_facts(facts, consumer, event_id).await?;
        let room_id = facts.room_id;
        if !removed.is_empty() {
            self.deliver(room_id, removed, ServerFrame::Room { room_id, state: RoomFrameState::Left }).await;
        }
        if let Some(notice) = notice {
            let members = self.store.member_list(room_id).await?;
            let ids: Vec<Uuid> = members.iter().map(|m| m.user_id).collect();
            self.deliver(room_id, ids.clone(), ServerFrame::Message(view(notice, &members))).await;
            if facts.state == RoomState::Closed {
                self.deliver(room_id, ids, ServerFrame::Room { room_id, state: RoomFrameState::Closed }).await;
            }
        }
        Ok(())
    }

    /// Messages after `after`, oldest first, for a member's resume.
    pub async fn since(&self, user: &AuthUser, room_id: Uuid, after: i64, limit: u32) -> Result<Vec<MessageView>, ApiError> {
        let messages = self.store.history_after(room_id, user.user_id, after, limit).await?.map_err(refused)?;
        let members = self.store.member_list(room_id).await?;
        Ok(messages.into_iter().map(|m| view(m, &members)).collect())
    }

    /// Tells the room's other members that `user` is typing.
    pub async fn typing(&self, user: &AuthUser, room_id: Uuid) -> Result<(), ApiError> {
        let members = self.store.members(room_id, user.user_id).await?.map_err(refused)?;
        let others = members.iter().map(|m| m.user_id).filter(|id| *id != user.user_id).collect();
        self.deliver(room_id, others, ServerFrame::Typing { room_id, login_id: user.login_id.clone() }).await;
        Ok(())
    }

    pub async fn history(&self, user: &AuthUser, room_id: Uuid, before: Option<i64>, limit: u32) -> Result<Vec<MessageView>, ApiError> {
        let messages = self.store.history(room_id, user.user_id, before, limit).await?.map_err(refused)?;
        let members = self.store.member_list(room_id).await?;
        Ok(messages.into_iter().map(|m| view(m, &members)).collect())
    }

    pub async fn read(&self, user: &AuthUser, room_id: Uuid, seq: i64) -> Result<ReadView, ApiError> {
        let seq = self.store.read(room_id, user.user_id, seq).await?.map_err(refused)?;
        let members = self.store.member_list(room_id).await?;
        self.deliver(
            room_id,
            members.iter().map(|m| m.user_id).collect(),
            ServerFrame::Read { room_id, login_id: user.login_id.clone(), seq },
        )
        .await;
        Ok(ReadView { room_id, seq })
    }

    /// Where the user stands in each of their rooms (the socket's `hello`).
    pub async fn positions(&self, user: &AuthUser) -> Result<Vec<protocol::RoomPosition>, ApiError> {
        Ok(self
            .store
            .positions_of(user.user_id)
            .await?
            .into_iter()
            .map(|(room_id, last_seq, read_seq)| protocol::RoomPosition { room_id, last_seq, read_seq })
            .collect())
    }

    /// What a room's page shows: the room, its members with their read positions, and the
    /// newest messages before `before` (all newest when `None`).
    pub async fn room_page(&self, user: &AuthUser, room_id: Uuid, before: Option<i64>, limit: u32) -> Result<RoomPage, ApiError> {
        let room = self.store.room(room_id, user.user_id).await?.map_err(refused)?;
        let messages = self.store.history(room_id, user.user_id, before, limit).await?.map_err(refused)?;
        let members = self.store.member_list(room_id).await?;
        let messages = messages.into_iter().map(|m| view(m, &members)).collect();
        Ok(RoomPage { room, members, messages })
    }

    pub async fn rooms(&self, user: &AuthUser) -> Result<Vec<RoomView>, ApiError> {
        let mut out = vec![];
        for s in self.store.rooms_of(user.user_id).await? {
            let last_message = match s.last_message {
                Some(m) => Some(view(m, &self.store.member_list(s.room.id).await?)),
                None => None,
            };
            out.push(RoomView {
                room_id: s.room.id,
                title: s.room.title,
                state: s.room.state,
                unread: (s.room.last_seq - s.read_seq).max(0),
                last_seq: s.room.last_seq,
                last_message,
            });
        }
        Ok(out)
    }
}
