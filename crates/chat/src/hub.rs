//! Who is connected, and handing them frames. One [`Hub`] per process: every open socket
//! registers its user and a bounded queue; a stored message goes to the queues of the room's
//! members. A queue that is full means a client too slow to keep up: it is dropped (its socket
//! closes, the client resumes from its last seq), so it never slows the room or grows memory.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU16, AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::protocol::{close, ServerFrame};

/// A frame on its way out, serialised once for every socket it goes to (a room's message to a
/// thousand members is one JSON text, not a thousand).
#[derive(Debug)]
pub struct Outgoing {
    /// The room and seq of a `message` frame, for each socket's order check.
    pub message: Option<(Uuid, i64)>,
    pub text: Utf8Bytes,
}

impl Outgoing {
    pub fn new(frame: &ServerFrame) -> Arc<Self> {
        let message = match frame {
            ServerFrame::Message(m) => Some((m.room_id, m.seq)),
            _ => None,
        };
        Arc::new(Self { message, text: Utf8Bytes::from(serde_json::to_string(frame).expect("frames serialise")) })
    }
}

/// Frames a connection may have waiting before it counts as too slow.
pub const QUEUE: usize = 256;

struct Connection {
    id: u64,
    session_id: Uuid,
    tx: mpsc::Sender<Arc<Outgoing>>,
    /// Why the hub let go of it (a close code), for the socket to say.
    dropped: Arc<AtomicU16>,
}

#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    users: Mutex<HashMap<Uuid, Vec<Connection>>>,
}

/// A registered connection; dropping it unregisters.
pub struct Registration {
    hub: Arc<Hub>,
    user_id: Uuid,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut users = self.hub.users.lock().expect("hub lock");
        if let Some(conns) = users.get_mut(&self.user_id) {
            conns.retain(|c| c.id != self.id);
            if conns.is_empty() {
                users.remove(&self.user_id);
            }
        }
    }
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Registers a socket of `user_id`'s session; frames for it arrive on the receiver. When the
    /// receiver ends, the returned code says why (see [`close`]).
    pub fn register(self: &Arc<Self>, user_id: Uuid, session_id: Uuid) -> (Registration, mpsc::Receiver<Arc<Outgoing>>, Arc<AtomicU16>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let dropped = Arc::new(AtomicU16::new(0));
        self.users.lock().expect("hub lock").entry(user_id).or_default().push(Connection { id, session_id, tx, dropped: dropped.clone() });
        (Registration { hub: self.clone(), user_id, id }, rx, dropped)
    }

    /// Queues `frame` for every open socket of `users`. A full queue drops that connection
    /// (closing its socket); a closed one is forgotten.
    pub fn send_to(&self, users: impl IntoIterator<Item = Uuid>, frame: &ServerFrame) {
        let frame = Outgoing::new(frame);
        let mut map = self.users.lock().expect("hub lock");
        for user in users {
            if let Some(conns) = map.get_mut(&user) {
                conns.retain(|c| {
                    let kept = c.tx.try_send(frame.clone()).is_ok();
                    if !kept {
                        c.dropped.store(close::TOO_SLOW, Ordering::Relaxed);
                    }
                    kept
                });
                if conns.is_empty() {
                    map.remove(&user);
                }
            }
        }
    }

    /// Closes every socket of these sessions (they were revoked).
    pub fn close_sessions(&self, sessions: &[Uuid]) {
        let mut map = self.users.lock().expect("hub lock");
        for conns in map.values_mut() {
            conns.retain(|c| {
                let ended = sessions.contains(&c.session_id);
                if ended {
                    c.dropped.store(close::SESSION_ENDED, Ordering::Relaxed);
                }
                !ended
            });
        }
        map.retain(|_, conns| !conns.is_empty());
    }

    /// Open sockets now, all users together.
    pub fn connections(&self) -> usize {
        self.users.lock().expect("hub lock").values().map(Vec::len).sum()
    }

    /// Whether `user_id` has a socket open.
    pub fn is_connected(&self, user_id: Uuid) -> bool {
        self.users.lock().expect("hub lock").contains_key(&user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typing(n: usize) -> ServerFrame {
        ServerFrame::Typing { room_id: Uuid::nil(), login_id: format!("user_{n}") }
    }

    #[tokio::test]
    async fn a_connection_that_lets_its_queue_fill_is_dropped_and_the_others_keep_hearing() {
        let hub = Hub::new();
        let (slow_user, quick_user) = (Uuid::now_v7(), Uuid::now_v7());
        let (_slow, mut slow_rx, slow_why) = hub.register(slow_user, Uuid::now_v7());
        let (_quick, mut quick_rx, quick_why) = hub.register(quick_user, Uuid::now_v7());
        for n in 0..=QUEUE {
            hub.send_to([slow_user, quick_user], &typing(n));
            // The quick one reads as frames come; the slow one never does.
            assert!(quick_rx.recv().await.is_some());
        }
        assert_eq!(slow_why.load(Ordering::Relaxed), close::TOO_SLOW, "the slow one is let go as too slow");
        assert_eq!(quick_why.load(Ordering::Relaxed), 0);
        assert_eq!(hub.connections(), 1, "only the quick one is still registered");
        // The slow one gets what was queued, then the end (its socket closes with 4408).
        let mut queued = 0;
        while slow_rx.recv().await.is_some() {
            queued += 1;
        }
        assert_eq!(queued, QUEUE, "memory stayed bounded by the queue");
        hub.send_to([slow_user, quick_user], &typing(0));
        assert!(quick_rx.recv().await.is_some(), "the room goes on for the others");
    }

    #[test]
    fn an_outgoing_frame_is_its_json_text() {
        let frame = typing(7);
        let out = Outgoing::new(&frame);
        assert_eq!(serde_json::from_str::<ServerFrame>(out.text.as_str()).unwrap(), frame);
        assert_eq!(out.message, None);
    }
}
