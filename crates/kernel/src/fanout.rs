//! Live delivery between the instances of a service, over NATS core subjects: at most once,
//! fast, and for state that is kept elsewhere. A chat message is stored before it is fanned
//! out, and a socket that sees a hole in a room's seqs fills it from storage, so a frame lost
//! here costs a read, never a message. One process needs none of this (`Platform::fanout` is
//! `None` there).
//!
//! Subjects are `<prefix>-live.<topic>`, outside the event stream's `<prefix>.>`, so JetStream
//! never stores them. The connection is opened with `no_echo`: an instance does not hear its
//! own publications (it has delivered them to its own sockets already).

use std::{
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt as _};

pub type FanoutFeed = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

#[async_trait]
pub trait Fanout: Send + Sync {
    /// Hands `payload` to the other instances subscribed to `topic`'s family. Returns once it
    /// is on its way; nothing promises it arrives.
    async fn publish(&self, topic: &str, payload: Bytes) -> anyhow::Result<()>;
    /// What the other instances publish under `family.…` (e.g. `chat` for `chat.room.<id>`).
    async fn subscribe(&self, family: &str) -> anyhow::Result<FanoutFeed>;
}

/// A topic is dot-separated tokens of letters, digits, `_` and `-` (NATS would read `*`, `>`
/// or spaces as something else).
fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.split('.').all(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}

pub struct NatsFanout {
    client: async_nats::Client,
    root: String,
}

impl NatsFanout {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Arc<Self>> {
        anyhow::ensure!(valid_topic(prefix) && !prefix.contains('.'), "nats.prefix must be letters, digits, '_' or '-', got {prefix:?}");
        let client = async_nats::ConnectOptions::new()
            .no_echo()
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to NATS at {url}: {e}"))?;
        Ok(Arc::new(Self { client, root: format!("{prefix}-live") }))
    }
}

#[async_trait]
impl Fanout for NatsFanout {
    async fn publish(&self, topic: &str, payload: Bytes) -> anyhow::Result<()> {
        anyhow::ensure!(valid_topic(topic), "not a fan-out topic: {topic:?}");
        self.client.publish(format!("{}.{topic}", self.root), payload).await.map_err(|e| anyhow::anyhow!("fan-out publish: {e}"))
    }

    async fn subscribe(&self, family: &str) -> anyhow::Result<FanoutFeed> {
        anyhow::ensure!(valid_topic(family), "not a fan-out family: {family:?}");
        let sub =
            self.client.subscribe(format!("{}.{family}.>", self.root)).await.map_err(|e| anyhow::anyhow!("fan-out subscribe: {e}"))?;
        Ok(Box::pin(sub.map(|m| m.payload)))
    }
}

/// Instances in one test process, joined as NATS would join them, that can lose frames on
/// purpose (every n-th publication) to show that the stores, not the fan-out, are
/// what keeps messages.
pub struct MemoryFanout {
    instance: u64,
    hub: Arc<MemoryFanoutHub>,
}

pub struct MemoryFanoutHub {
    tx: tokio::sync::broadcast::Sender<(u64, String, Bytes)>,
    next_instance: AtomicU64,
    /// Publications since the loss rule was last set, and how many of them were lost.
    counts: std::sync::Mutex<Loss>,
}

#[derive(Default)]
struct Loss {
    every: u64,
    published: u64,
    lost: u64,
}

impl MemoryFanoutHub {
    /// Instances that lose nothing until [`MemoryFanoutHub::lose_from_now`].
    pub fn new() -> Arc<Self> {
        let (tx, _) = tokio::sync::broadcast::channel(4096);
        Arc::new(Self { tx, next_instance: Default::default(), counts: Default::default() })
    }

    /// Loses every `every`-th publication from now on (counting from this call).
    pub fn lose_from_now(&self, every: u64) {
        *self.counts.lock().expect("fan-out counts") = Loss { every, ..Default::default() };
    }

    /// Publications lost since the rule was set.
    pub fn lost(&self) -> u64 {
        self.counts.lock().expect("fan-out counts").lost
    }

    /// The fan-out of one more instance.
    pub fn instance(self: &Arc<Self>) -> Arc<MemoryFanout> {
        let instance = self.next_instance.fetch_add(1, Ordering::Relaxed);
        Arc::new(MemoryFanout { instance, hub: self.clone() })
    }
}

#[async_trait]
impl Fanout for MemoryFanout {
    async fn publish(&self, topic: &str, payload: Bytes) -> anyhow::Result<()> {
        anyhow::ensure!(valid_topic(topic), "not a fan-out topic: {topic:?}");
        let lose = {
            let mut c = self.hub.counts.lock().expect("fan-out counts");
            c.published += 1;
            let lose = c.every != 0 && c.published.is_multiple_of(c.every);
            c.lost += u64::from(lose);
            lose
        };
        if !lose {
            let _ = self.hub.tx.send((self.instance, topic.to_owned(), payload));
        }
        Ok(())
    }

    async fn subscribe(&self, family: &str) -> anyhow::Result<FanoutFeed> {
        anyhow::ensure!(valid_topic(family), "not a fan-out family: {family:?}");
        let (me, prefix) = (self.instance, format!("{family}."));
        use tokio::sync::broadcast::error::RecvError;
        Ok(Box::pin(futures::stream::unfold(self.hub.tx.subscribe(), move |mut rx| {
            let prefix = prefix.clone();
            async move {
                loop {
                    match rx.recv().await {
                        Ok((from, topic, payload)) if from != me && topic.starts_with(&prefix) => return Some((payload, rx)),
                        Ok(_) | Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_plain_tokens() {
        assert!(valid_topic("chat.room.0b6f2c1e-8a7d-4f1e-9c3b-2a1d0e9f8c7b"));
        for bad in ["", "chat.", ".chat", "chat..room", "chat.*", "chat.>", "chat room", "채팅"] {
            assert!(!valid_topic(bad), "{bad:?}");
        }
    }
}
