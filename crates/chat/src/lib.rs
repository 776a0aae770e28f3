//! Chat context (DESIGN §2 "Chat"): a room per deal, kept from deals' events; messages stored
//! with a gap-free per-room seq before anyone hears of them; a resend of a client id is the same
//! message; read positions per member and unread counts per room and per message.
//!
//! A stored message goes to the members' sockets on this instance through the [`Hub`], and to
//! the other instances' hubs through the kernel's fan-out (NATS core) in the scaled mode.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gonggu_kernel::{
    auth::AuthUser,
    clock::Clock,
    fanout::Fanout,
    images::{ImageCatalog, ImageView},
    ratelimit::KeyedLimiter,
    ApiError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub mod api;
pub mod consumer;
pub mod domain;
pub mod events;
pub mod hub;
pub mod module;
pub mod order;
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
    /// Puts messages from this instance and the others in seq order for the hub.
    sequencer: Arc<order::Sequencer>,
    room_locks: Vec<tokio::sync::Mutex<()>>,
    sends: Arc<KeyedLimiter<Uuid>>,
    /// The other instances' hubs (scaled mode).
    fanout: Option<Arc<dyn Fanout>>,
    /// Media, asked whether a photo message's key exists.
    images: Arc<dyn ImageCatalog>,
}

/// A frame for some users, as it travels to the other instances.
#[derive(Debug, Serialize, Deserialize)]
pub struct Relay {
    pub to: Vec<Uuid>,
    pub frame: ServerFrame,
}

#[derive(Serialize)]
struct RelayRef<'a> {
    to: &'a [Uuid],
    frame: &'a ServerFrame,
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
    /// Empty on a photo.
    pub body: String,
    /// A photo message's picture (`kind` `image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageView>,
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
    /// The host's pinned notice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<store::Pin>,
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

/// What a member sends: text, or the key of a photo they uploaded to media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Draft<'a> {
    Text(&'a str),
    Image(&'a str),
}

impl<'a> Draft<'a> {
    /// A message's `body` or `image_key`, exactly one of them.
    pub fn of(body: Option<&'a str>, image_key: Option<&'a str>) -> Result<Self, ApiError> {
        match (body, image_key) {
            (Some(body), None) => Ok(Draft::Text(body)),
            (None, Some(key)) => Ok(Draft::Image(key)),
            (None, None) => Err(ApiError::field("body", "메시지를 입력해 주세요.")),
            (Some(_), Some(_)) => Err(ApiError::field("image_key", "글과 사진은 따로 보내 주세요.")),
        }
    }
}

const NO_SUCH_PHOTO: &str = "사진을 찾을 수 없습니다. 다시 올려 주세요.";

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
        Refusal::NotTheHost => ApiError::forbidden("not_the_host", "공지는 공구를 연 방장만 고정할 수 있습니다."),
    }
}

/// How many of `members` have not read `seq`.
fn unread_of(members: &[MemberRecord], seq: i64) -> i64 {
    members.iter().filter(|m| m.read_seq < seq).count() as i64
}

fn view(m: MessageRecord, members: &[MemberRecord]) -> MessageView {
    let seq = m.seq;
    view_with(m, unread_of(members, seq))
}

fn view_with(m: MessageRecord, unread_count: i64) -> MessageView {
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
        image: m.image_key.as_deref().map(ImageView::of),
        sent_at: m.sent_at,
        unread_count,
    }
}

impl Chat {
    pub fn new(store: Arc<dyn ChatStore>, clock: Clock, fanout: Option<Arc<dyn Fanout>>, images: Arc<dyn ImageCatalog>) -> Self {
        let hub = Hub::new();
        Self {
            fanout,
            images,
            sequencer: order::Sequencer::new(store.clone(), hub.clone()),
            store,
            clock,
            hub,
            room_locks: (0..ROOM_LOCKS).map(|_| tokio::sync::Mutex::new(())).collect(),
            sends: KeyedLimiter::new(SENDS_PER_SECOND, std::time::Duration::from_secs(1)),
        }
    }

    /// Forgets send rates of users and orders of rooms that have been quiet (keeps memory bounded).
    pub fn prune(&self) {
        self.sends.prune();
        self.sequencer.prune();
    }

    /// Hands `frame` to the sockets of `users` here and on every other instance. Called under
    /// the room's lock, so one instance publishes a room's messages in seq order; across
    /// instances a socket that sees a hole fills it from storage (see `ws`).
    async fn deliver(&self, room_id: Uuid, users: store::MemberIds, frame: ServerFrame) {
        if users.is_empty() {
            return;
        }
        let payload = self.fanout.as_ref().map(|_| serde_json::to_vec(&RelayRef { to: &users, frame: &frame }).expect("frames serialise"));
        self.sequencer.hand_out(users, frame);
        let (Some(fanout), Some(payload)) = (&self.fanout, payload) else { return };
        if let Err(e) = fanout.publish(&format!("{FANOUT_FAMILY}.room.{room_id}"), payload.into()).await {
            tracing::warn!(error = %format!("{e:#}"), "chat fan-out failed; other instances' sockets catch up on their next message or resume");
        }
    }

    /// Hands a frame another instance published to the sockets here.
    pub fn deliver_relayed(&self, payload: &[u8]) {
        match serde_json::from_slice::<Relay>(payload) {
            Ok(relay) => self.sequencer.hand_out(relay.to.into(), relay.frame),
            Err(e) => tracing::warn!(error = %e, "unreadable chat fan-out frame skipped"),
        }
    }

    fn room_lock(&self, room_id: Uuid) -> &tokio::sync::Mutex<()> {
        &self.room_locks[(room_id.as_u128() % ROOM_LOCKS as u128) as usize]
    }

    pub async fn post_text(&self, user: &AuthUser, room_id: Uuid, client_id: &str, body: &str) -> Result<PostAnswer, ApiError> {
        self.post(user, room_id, client_id, Draft::Text(body)).await
    }

    /// Stores a message (text, or a photo media has: the member uploaded it first) and hands
    /// it to the members.
    pub async fn post(&self, user: &AuthUser, room_id: Uuid, client_id: &str, draft: Draft<'_>) -> Result<PostAnswer, ApiError> {
        let client_id = ClientId::parse(client_id).map_err(|e| ApiError::field("client_id", e.0))?;
        let content = match draft {
            Draft::Text(body) => Content::Text(MessageBody::parse(body).map_err(|e| ApiError::field("body", e.0))?),
            Draft::Image(key) => {
                if !gonggu_kernel::images::is_image_key(key) || !self.images.exists(key).await? {
                    return Err(ApiError::field("image_key", NO_SUCH_PHOTO));
                }
                Content::Image(key.to_owned())
            }
        };
        self.sends.check(&user.user_id)?;
        let _room = self.room_lock(room_id).lock().await;
        let now = self.clock.now();
        let posted = self.store.post(room_id, (user.user_id, &user.login_id), &client_id, &content, now).await?.map_err(refused)?;
        if posted.replayed {
            let members = self.store.member_list(room_id).await?;
            return Ok(PostAnswer { message: view(posted.message, &members), replayed: true });
        }
        // The newest message: the sender has read it (their position moved with it), no one
        // else can have yet.
        let unread = posted.member_ids.len().saturating_sub(1) as i64;
        let message = view_with(posted.message, unread);
        self.deliver(room_id, posted.member_ids, ServerFrame::Message(message.clone())).await;
        Ok(PostAnswer { message, replayed: false })
    }

    /// A photo from the room page's form: stored in media, then sent as a photo message. The
    /// room is checked first, so only its members leave photos behind.
    pub async fn post_photo(&self, user: &AuthUser, room_id: Uuid, client_id: &str, bytes: Vec<u8>) -> Result<PostAnswer, ApiError> {
        let room = self.store.room(room_id, user.user_id).await?.map_err(refused)?;
        if room.state == RoomState::Closed {
            return Err(refused(Refusal::ReadOnly));
        }
        let key = self.images.store(bytes).await?.map_err(|reason| ApiError::field("image_key", reason))?;
        self.post(user, room_id, client_id, Draft::Image(&key)).await
    }

    /// Pins the host's notice at the top of the room (`None` takes it down), tells the room with
    /// a notice, and hands both to the members' sockets.
    pub async fn pin(&self, user: &AuthUser, room_id: Uuid, body: Option<&str>) -> Result<Option<store::Pin>, ApiError> {
        let body = body.map(domain::PinBody::parse).transpose().map_err(|e| ApiError::field("body", e.0))?;
        let _room = self.room_lock(room_id).lock().await;
        let now = self.clock.now();
        let notice = if body.is_some() { "방장이 공지를 고정했어요." } else { "방장이 고정된 공지를 내렸어요." };
        let (stored, ids) =
            self.store.pin(room_id, user.user_id, body.as_ref().map(|b| b.as_str()), notice, now).await?.map_err(refused)?;
        let pin = body.map(|b| store::Pin { body: b.as_str().to_owned(), at: now });
        let unread = ids.len() as i64;
        self.deliver(room_id, ids.clone(), ServerFrame::Message(view_with(stored, unread))).await;
        self.deliver(room_id, ids, ServerFrame::Pin { room_id, pin: pin.clone() }).await;
        Ok(pin)
    }

    /// Applies deals' facts about a room (once per event) and tells the sockets: the notice to
    /// the members, `left` to whoever is out, the room's state when it closed.
    pub async fn apply_facts(&self, facts: &RoomFacts, consumer: &str, event_id: Uuid) -> anyhow::Result<()> {
        let _room = self.room_lock(facts.room_id).lock().await;
        let Applied { notice, removed } = self.store.apply_facts(facts, consumer, event_id).await?;
        let room_id = facts.room_id;
        if !removed.is_empty() {
            self.deliver(room_id, removed.into(), ServerFrame::Room { room_id, state: RoomFrameState::Left }).await;
        }
        if let Some(notice) = notice {
            let members = self.store.member_list(room_id).await?;
            let ids: store::MemberIds = members.iter().map(|m| m.user_id).collect();
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
        let members = self.store.member_ids(room_id, user.user_id).await?.map_err(refused)?;
        let others: store::MemberIds = members.iter().copied().filter(|id| *id != user.user_id).collect();
        self.deliver(room_id, others, ServerFrame::Typing { room_id, login_id: user.login_id.clone() }).await;
        Ok(())
    }

    pub async fn history(&self, user: &AuthUser, room_id: Uuid, before: Option<i64>, limit: u32) -> Result<Vec<MessageView>, ApiError> {
        let messages = self.store.history(room_id, user.user_id, before, limit).await?.map_err(refused)?;
        let members = self.store.member_list(room_id).await?;
        Ok(messages.into_iter().map(|m| view(m, &members)).collect())
    }

    pub async fn read(&self, user: &AuthUser, room_id: Uuid, seq: i64) -> Result<ReadView, ApiError> {
        let (seq, members) = self.store.read(room_id, user.user_id, seq).await?.map_err(refused)?;
        self.deliver(room_id, members, ServerFrame::Read { room_id, login_id: user.login_id.clone(), seq }).await;
        Ok(ReadView { room_id, seq })
    }

    /// Records the room socket `socket_id` shows now (`None`: none), for push to leave alone.
    pub async fn viewing(&self, user: &AuthUser, socket_id: Uuid, room_id: Option<Uuid>) -> Result<(), ApiError> {
        self.store.set_viewing(socket_id, user.user_id, room_id, self.clock.now()).await?.map_err(refused)
    }

    /// Keeps a socket's viewing row current; a failure only lets it lapse (a push too many).
    pub async fn still_viewing(&self, socket_id: Uuid) {
        if let Err(e) = self.store.refresh_viewing(socket_id, self.clock.now()).await {
            tracing::warn!(error = %e, "chat: could not refresh a viewing row");
        }
    }

    /// Forgets viewing rows their instances left behind.
    pub async fn forget_stale_viewers(&self) -> anyhow::Result<()> {
        self.store.forget_viewers(self.clock.now() - store::VIEWING_FRESH).await?;
        Ok(())
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
                pin: s.room.pin,
                last_message,
            });
        }
        Ok(out)
    }
}
