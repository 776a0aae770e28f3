//! Each room's messages in seq order before this instance's sockets hear them.
//!
//! Messages reach an instance from two places: its own posts (in seq order, under the room's
//! lock) and other instances' posts over the fan-out, which can arrive after a later local one,
//! or not at all (NATS core delivers at most once). Each room keeps the next seq it expects. A
//! message past it waits for the ones before it, up to [`HOLD`]; then the hole is read from
//! storage, once for the instance rather than once per socket. Sockets still check their own
//! order (`ws`), for what happened before they connected.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;
use uuid::Uuid;

use crate::{
    hub::Hub,
    protocol::ServerFrame,
    store::{ChatStore, MemberIds},
    view, MessageView,
};

/// How long a message waits for an earlier one from another instance before that one is read
/// from storage. Instances on one NATS server hear each other in well under a millisecond; this
/// bounds only a lost frame.
pub const HOLD: Duration = Duration::from_millis(150);
/// A room nobody has posted in for this long is forgotten (its next message starts it again).
const IDLE: Duration = Duration::from_secs(600);
/// Messages one fill reads at most; a longer hole takes several fills.
const FILL_LIMIT: u32 = 500;

struct Held {
    to: MemberIds,
    frame: ServerFrame,
}

struct Line {
    next: i64,
    held: BTreeMap<i64, Held>,
    filling: bool,
    heard: Instant,
}

pub struct Sequencer {
    rooms: Mutex<HashMap<Uuid, Line>>,
    store: Arc<dyn ChatStore>,
    hub: Arc<Hub>,
}

impl Sequencer {
    pub fn new(store: Arc<dyn ChatStore>, hub: Arc<Hub>) -> Arc<Self> {
        Arc::new(Self { rooms: Mutex::new(HashMap::new()), store, hub })
    }

    /// Hands `frame` to the sockets of `to` here: at once if it is the room's next message (or
    /// not a message), after the ones before it otherwise. A message heard before is dropped.
    pub fn hand_out(self: &Arc<Self>, to: MemberIds, frame: ServerFrame) {
        let ServerFrame::Message(m) = &frame else { return self.hub.send_to(to.iter().copied(), &frame) };
        let (room_id, seq) = (m.room_id, m.seq);
        let mut rooms = self.rooms.lock().expect("sequencer lock");
        let line = rooms.entry(room_id).or_insert_with(|| Line { next: seq, held: BTreeMap::new(), filling: false, heard: Instant::now() });
        line.heard = Instant::now();
        if seq < line.next {
            return;
        }
        line.held.insert(seq, Held { to, frame });
        self.drain(line);
        if !line.held.is_empty() && !line.filling {
            line.filling = true;
            tokio::spawn(self.clone().fill_after_hold(room_id));
        }
    }

    /// Hands out the held messages that are next in line.
    fn drain(&self, line: &mut Line) {
        while let Some(entry) = line.held.first_entry() {
            if *entry.key() > line.next {
                break;
            }
            let (seq, held) = entry.remove_entry();
            if seq == line.next {
                self.hub.send_to(held.to.iter().copied(), &held.frame);
                line.next = seq + 1;
            }
        }
    }

    /// Waits [`HOLD`] and reads from storage whatever is still missing before the held messages.
    async fn fill_after_hold(self: Arc<Self>, room_id: Uuid) {
        tokio::time::sleep(HOLD).await;
        loop {
            let (after, upto) = {
                let mut rooms = self.rooms.lock().expect("sequencer lock");
                let Some(line) = rooms.get_mut(&room_id) else { return };
                match line.held.keys().next() {
                    Some(&first) => (line.next - 1, first - 1),
                    None => {
                        line.filling = false;
                        return;
                    }
                }
            };
            let missing = self.missing(room_id, after, upto).await;
            let mut rooms = self.rooms.lock().expect("sequencer lock");
            let Some(line) = rooms.get_mut(&room_id) else { return };
            let before = line.next;
            match missing {
                Ok((to, messages)) => {
                    for m in messages.into_iter().filter(|m| m.seq >= line.next) {
                        line.held.insert(m.seq, Held { to: to.clone(), frame: ServerFrame::Message(m) });
                    }
                }
                Err(e) => tracing::warn!(error = %format!("{e:#}"), %room_id, "chat: a hole between instances could not be read"),
            }
            self.drain(line);
            // Storage has every message before anyone hears of it, so a fill moves the line on;
            // if it did not (storage failing), the held messages go out rather than hold the
            // room up, and each socket's own check tries the hole again.
            if line.next == before {
                if let Some(&first) = line.held.keys().next() {
                    line.next = first;
                    self.drain(line);
                }
            }
            if line.held.is_empty() {
                line.filling = false;
                return;
            }
        }
    }

    /// Messages `after < seq <= upto`, with the room's members to hand them to.
    async fn missing(&self, room_id: Uuid, after: i64, upto: i64) -> anyhow::Result<(MemberIds, Vec<MessageView>)> {
        let limit = (upto - after).clamp(1, FILL_LIMIT as i64) as u32;
        let members = self.store.member_list(room_id).await?;
        let records = self.store.messages_after(room_id, after, limit).await?;
        let to: MemberIds = members.iter().map(|m| m.user_id).collect();
        Ok((to, records.into_iter().filter(|m| m.seq <= upto).map(|m| view(m, &members)).collect()))
    }

    /// Forgets rooms that have been quiet (keeps memory bounded).
    pub fn prune(&self) {
        self.rooms.lock().expect("sequencer lock").retain(|_, line| !line.held.is_empty() || line.heard.elapsed() < IDLE);
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use gonggu_kernel::{
        db::{Db, SqliteTuning},
        events::OutboxSignal,
    };
    use tokio::sync::mpsc::Receiver;

    use super::*;
    use crate::{
        domain::{ClientId, MessageBody, RoomState},
        hub::Outgoing,
        store::{Content, RoomFacts},
    };

    struct Room {
        _dir: tempfile::TempDir,
        store: Arc<dyn ChatStore>,
        id: Uuid,
        sender: (Uuid, String),
        to: Arc<[Uuid]>,
    }

    async fn room() -> Room {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(None, dir.path(), "chat", SqliteTuning::default()).await.unwrap();
        let store = crate::store::open(&db, OutboxSignal::default()).await.unwrap();
        let people: Vec<(Uuid, String)> = (0..3).map(|i| (Uuid::now_v7(), format!("order_{i}"))).collect();
        let id = Uuid::now_v7();
        let facts = RoomFacts {
            room_id: id,
            title: "순서".into(),
            host_id: people[0].0,
            state: RoomState::Open,
            members: people.clone(),
            notice: None,
            at: Utc::now(),
        };
        store.apply_facts(&facts, "test", Uuid::now_v7()).await.unwrap();
        let to = people.iter().map(|p| p.0).collect();
        Room { _dir: dir, store, id, sender: people[0].clone(), to }
    }

    /// Stores `n` messages and returns them as the frames their posts hand out.
    async fn posted(room: &Room, n: usize) -> Vec<ServerFrame> {
        let mut out = vec![];
        for i in 0..n {
            let content = Content::Text(MessageBody::parse(&format!("{i}번째")).unwrap());
            let client_id = ClientId::parse(&format!("order-{i}")).unwrap();
            let p = room.store.post(room.id, (room.sender.0, &room.sender.1), &client_id, &content, Utc::now()).await.unwrap().unwrap();
            out.push(ServerFrame::Message(view(p.message, &[])));
        }
        out
    }

    async fn heard(rx: &mut Receiver<Arc<Outgoing>>, n: usize) -> Vec<i64> {
        let mut out = vec![];
        for _ in 0..n {
            let f = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a frame in time").unwrap();
            out.push(f.message.unwrap().1);
        }
        out
    }

    #[tokio::test]
    async fn a_message_that_overtook_an_earlier_one_waits_for_it() {
        let room = room().await;
        let frames = posted(&room, 3).await;
        let hub = Hub::new();
        let (_reg, mut rx, _) = hub.register(room.to[1], Uuid::now_v7());
        let line = Sequencer::new(room.store.clone(), hub.clone());
        line.hand_out(room.to.clone(), frames[0].clone());
        line.hand_out(room.to.clone(), frames[2].clone());
        assert_eq!(heard(&mut rx, 1).await, vec![1], "the first goes out at once");
        assert!(rx.try_recv().is_err(), "the third waits for the second");
        line.hand_out(room.to.clone(), frames[1].clone());
        // A repeat (a replay heard live as well) goes out once.
        line.hand_out(room.to.clone(), frames[1].clone());
        assert_eq!(heard(&mut rx, 2).await, vec![2, 3]);
        tokio::time::sleep(HOLD * 2).await;
        assert!(rx.try_recv().is_err(), "nothing twice");
    }

    #[tokio::test]
    async fn a_lost_message_is_read_from_storage_once_it_has_been_held_long_enough() {
        let room = room().await;
        let frames = posted(&room, 4).await;
        let hub = Hub::new();
        let (_reg_a, mut a, _) = hub.register(room.to[1], Uuid::now_v7());
        let (_reg_b, mut b, _) = hub.register(room.to[2], Uuid::now_v7());
        let line = Sequencer::new(room.store.clone(), hub.clone());
        line.hand_out(room.to.clone(), frames[0].clone());
        // The second and third never arrive; the fourth does.
        let started = Instant::now();
        line.hand_out(room.to.clone(), frames[3].clone());
        assert_eq!(heard(&mut a, 4).await, vec![1, 2, 3, 4]);
        assert!(started.elapsed() >= HOLD, "the fourth waited for the hole before it was read");
        assert_eq!(heard(&mut b, 4).await, vec![1, 2, 3, 4]);
    }
}
