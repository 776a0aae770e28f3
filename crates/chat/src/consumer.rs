//! What chat learns from deals' events: each deal's room, who is in it, and the notices posted
//! in it (joined, left, shares changed, confirmed, cancelled, failed, completed).

use std::sync::Arc;

use gonggu_kernel::{
    events::{spawn_consumer, Bus, Envelope},
    shutdown::Shutdown,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{domain::RoomState, store::RoomFacts, Chat};

pub const CONSUMER: &str = "chat-rooms";

/// Deals' events that change a room; each carries the whole current party.
pub const DEAL_EVENTS: [&str; 9] = [
    "DealCreated",
    "DealUpdated",
    "MemberJoined",
    "MemberSharesChanged",
    "MemberLeft",
    "DealConfirmed",
    "DealCancelled",
    "DealFailed",
    "DealCompleted",
];

/// The part of deals' `DealFacts` chat needs; declared here so chat depends on the events'
/// shape, not on the deals crate.
#[derive(Debug, Deserialize)]
struct DealFacts {
    deal_id: Uuid,
    title: String,
    host_id: Uuid,
    status: String,
    members: Vec<Member>,
    member: Option<Member>,
}

#[derive(Debug, Deserialize)]
struct Member {
    user_id: Uuid,
    login_id: String,
    shares: i64,
}

/// The room's facts after `env`, with the notice it posts.
fn room_facts(env: &Envelope) -> anyhow::Result<RoomFacts> {
    let f: DealFacts = serde_json::from_value(env.payload.clone())
        .map_err(|e| anyhow::anyhow!("{} {} from deals: payload is not deal facts: {e}", env.event_type, env.id))?;
    let who = f.member.as_ref().map(|m| m.login_id.as_str()).unwrap_or("이웃");
    let notice = match env.event_type.as_str() {
        "DealCreated" => Some("공구 채팅방이 열렸어요. 이웃과 구매와 전달을 이야기해 보세요.".to_owned()),
        "MemberJoined" => Some(format!("{who}님이 참여했어요.")),
        "MemberLeft" => Some(format!("{who}님이 나갔어요.")),
        "MemberSharesChanged" => f.member.as_ref().map(|m| format!("{}님이 몫을 {}개로 바꿨어요.", m.login_id, m.shares)),
        "DealConfirmed" => Some("최소 인원이 모여 공구가 확정됐어요.".to_owned()),
        "DealCancelled" => Some("공구장이 공구를 취소했어요. 이제 이 채팅방은 읽기만 할 수 있어요.".to_owned()),
        "DealFailed" => Some("마감까지 인원이 모이지 않아 공구가 무산됐어요. 이제 이 채팅방은 읽기만 할 수 있어요.".to_owned()),
        "DealCompleted" => Some("거래가 완료됐어요.".to_owned()),
        _ => None,
    };
    let state = match f.status.as_str() {
        "cancelled" | "failed" => RoomState::Closed,
        _ => RoomState::Open,
    };
    Ok(RoomFacts {
        room_id: f.deal_id,
        title: f.title,
        host_id: f.host_id,
        state,
        members: f.members.into_iter().map(|m| (m.user_id, m.login_id)).collect(),
        notice,
        at: env.occurred_at,
    })
}

pub async fn spawn_rooms(bus: Arc<dyn Bus>, chat: Arc<Chat>, shutdown: Shutdown) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sub = bus.subscribe(CONSUMER, &DEAL_EVENTS).await?;
    Ok(spawn_consumer(CONSUMER, sub, shutdown, move |env| {
        let chat = chat.clone();
        async move {
            if env.source != "deals" {
                return Ok(());
            }
            chat.apply_facts(&room_facts(&env)?, CONSUMER, env.id).await
        }
    }))
}

/// This process's feed of ended sessions: their sockets close at once.
pub const SESSIONS_FEED: &str = "chat-sessions";

/// The part of accounts' `SessionsRevoked` chat needs.
#[derive(Debug, Deserialize)]
struct SessionsRevoked {
    session_ids: Vec<Uuid>,
}

pub async fn spawn_sessions(bus: Arc<dyn Bus>, chat: Arc<Chat>, shutdown: Shutdown) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    spawn_each_instance(bus, SESSIONS_FEED, "SessionsRevoked", shutdown, move |e: SessionsRevoked| chat.hub.close_sessions(&e.session_ids))
        .await
}

/// A feed of `event_type` for this process alone (its sockets are here), each event read as the
/// shape `E` chat needs of it and handed to `apply`.
async fn spawn_each_instance<E: serde::de::DeserializeOwned + 'static>(
    bus: Arc<dyn Bus>,
    feed: &'static str,
    event_type: &'static str,
    shutdown: Shutdown,
    apply: impl Fn(E) + Send + Sync + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sub = bus.subscribe_each_instance(feed, &[event_type], std::time::Duration::ZERO).await?;
    let apply = Arc::new(apply);
    Ok(spawn_consumer(feed, sub, shutdown, move |env| {
        let apply = apply.clone();
        async move {
            let e: E = serde_json::from_value(env.payload.clone())
                .map_err(|e| anyhow::anyhow!("{event_type} {}: not the shape chat needs: {e}", env.id))?;
            apply(e);
            Ok(())
        }
    }))
}

/// This process's feed of changed 알림 inboxes: the users' open sockets hear of it.
pub const NOTICES_FEED: &str = "chat-notices";

/// The part of push's `NoticesChanged` chat needs.
#[derive(Debug, Deserialize)]
struct NoticesChanged {
    user_ids: Vec<Uuid>,
}

pub async fn spawn_notices(bus: Arc<dyn Bus>, chat: Arc<Chat>, shutdown: Shutdown) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    spawn_each_instance(bus, NOTICES_FEED, "NoticesChanged", shutdown, move |e: NoticesChanged| {
        chat.hub.send_to(e.user_ids, &crate::protocol::ServerFrame::Notices)
    })
    .await
}
