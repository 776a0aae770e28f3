//! Who has a room on screen, as a message's `ChatMessagePosted` says (push leaves them alone):
//! one story on SQLite and on PostgreSQL.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gonggu_chat::{
    domain::{ClientId, MessageBody, RoomState},
    events::ChatMessagePosted,
    store::{ChatStore, Content, Refusal, RoomFacts, VIEWING_FRESH},
};
use gonggu_kernel::{
    db::{Db, SqliteTuning},
    events::OutboxSignal,
};
use uuid::Uuid;

async fn last_event(db: &Db) -> ChatMessagePosted {
    const SQL: &str = "SELECT payload FROM outbox WHERE event_type = 'ChatMessagePosted' ORDER BY seq DESC LIMIT 1";
    let payload: String = match db {
        Db::Sqlite(p) => sqlx::query_scalar(SQL).fetch_one(p).await.unwrap(),
        Db::Postgres(p) => sqlx::query_scalar(SQL).fetch_one(p).await.unwrap(),
    };
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    serde_json::from_value(v.get("data").cloned().unwrap_or(v)).unwrap()
}

struct Room {
    store: Arc<dyn ChatStore>,
    id: Uuid,
    host: (Uuid, String),
    member: Uuid,
    n: std::sync::atomic::AtomicUsize,
}

impl Room {
    async fn post_at(&self, at: DateTime<Utc>) {
        let i = self.n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let client_id = ClientId::parse(&format!("viewing-{i}")).unwrap();
        let content = Content::Text(MessageBody::parse("픽업은 7시에요").unwrap());
        self.store.post(self.id, (self.host.0, &self.host.1), &client_id, &content, at).await.unwrap().unwrap();
    }
}

async fn story(db: Db) {
    let store = gonggu_chat::store::open(&db, OutboxSignal::default()).await.unwrap();
    let people: Vec<(Uuid, String)> = (0..3).map(|i| (Uuid::now_v7(), format!("viewer_{i}"))).collect();
    let now = Utc::now();
    let id = Uuid::now_v7();
    let facts = RoomFacts {
        room_id: id,
        title: "화면".into(),
        host_id: people[0].0,
        state: RoomState::Open,
        members: people.clone(),
        notice: None,
        at: now,
    };
    store.apply_facts(&facts, "test", Uuid::now_v7()).await.unwrap();
    let room = Room { store: store.clone(), id, host: people[0].clone(), member: people[1].0, n: Default::default() };
    let (tab, other_tab) = (Uuid::now_v7(), Uuid::now_v7());

    room.post_at(now).await;
    assert_eq!(last_event(&db).await.viewing_ids, Vec::<Uuid>::new(), "no one has the room open");

    store.set_viewing(tab, room.member, Some(id), now).await.unwrap().unwrap();
    // Two tabs of one member count once.
    store.set_viewing(other_tab, room.member, Some(id), now).await.unwrap().unwrap();
    let stranger = Uuid::now_v7();
    assert_eq!(store.set_viewing(Uuid::now_v7(), stranger, Some(id), now).await.unwrap(), Err(Refusal::NotAMember));
    room.post_at(now).await;
    let event = last_event(&db).await;
    assert_eq!(event.viewing_ids, vec![room.member]);
    assert_eq!(event.member_ids.len(), 3);

    // One tab goes to the background: the other still shows the room.
    store.set_viewing(other_tab, room.member, None, now).await.unwrap().unwrap();
    room.post_at(now).await;
    assert_eq!(last_event(&db).await.viewing_ids, vec![room.member]);
    store.set_viewing(tab, room.member, None, now).await.unwrap().unwrap();
    room.post_at(now).await;
    assert_eq!(last_event(&db).await.viewing_ids, Vec::<Uuid>::new(), "a hidden tab is not looking");

    // A row its socket stopped refreshing (its server went away) stops counting.
    store.set_viewing(tab, room.member, Some(id), now).await.unwrap().unwrap();
    let later = now + VIEWING_FRESH + chrono::Duration::seconds(1);
    room.post_at(later).await;
    assert_eq!(last_event(&db).await.viewing_ids, Vec::<Uuid>::new(), "a stale row does not count");
    store.refresh_viewing(tab, later).await.unwrap();
    room.post_at(later).await;
    assert_eq!(last_event(&db).await.viewing_ids, vec![room.member], "a refreshed row counts again");
    assert_eq!(store.forget_viewers(later + VIEWING_FRESH + chrono::Duration::seconds(1)).await.unwrap(), 1);

    // A member who leaves is no longer looking, whatever their row says.
    store.set_viewing(tab, room.member, Some(id), later).await.unwrap().unwrap();
    let without = RoomFacts { members: vec![people[0].clone(), people[2].clone()], at: later, ..facts };
    store.apply_facts(&without, "test", Uuid::now_v7()).await.unwrap();
    room.post_at(later).await;
    assert_eq!(last_event(&db).await.viewing_ids, Vec::<Uuid>::new());
}

#[tokio::test]
async fn viewing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    story(Db::connect(None, dir.path(), "chat", SqliteTuning::default()).await.unwrap()).await;
}

#[tokio::test]
async fn viewing_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("viewing_on_postgres").await else { return };
    story(Db::connect(Some(&url), std::path::Path::new("."), "chat", SqliteTuning::default()).await.unwrap()).await;
}
