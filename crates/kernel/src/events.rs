//! Events between contexts (DESIGN §3): an [`Envelope`], an outbox written in the same
//! transaction as the change, a relay that publishes the outbox to a [`Bus`] at least once, and
//! an inbox that lets consumers handle each event id once.

use futures::FutureExt as _;
use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sqlx::{PgConnection, SqliteConnection};
use tokio::sync::{mpsc, oneshot, Notify, RwLock};
use uuid::Uuid;

use crate::{db::Db, shutdown};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: Uuid,
    /// e.g. `UserRegistered`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: i32,
    pub occurred_at: DateTime<Utc>,
    /// The context that published it, e.g. `accounts`.
    pub source: String,
    pub payload: serde_json::Value,
}

/// A payload type that knows its own name, source and version.
pub trait Event: Serialize + DeserializeOwned {
    const TYPE: &'static str;
    const SOURCE: &'static str;
    const VERSION: i32 = 1;
}

impl Envelope {
    pub fn new<E: Event>(event: &E, occurred_at: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            event_type: E::TYPE.to_owned(),
            version: E::VERSION,
            occurred_at,
            source: E::SOURCE.to_owned(),
            payload: serde_json::to_value(event).expect("event payloads serialise"),
        }
    }

    /// An envelope for an event named at run time (a family of events sharing one payload shape).
    pub fn named(event_type: &str, source: &str, payload: serde_json::Value, occurred_at: DateTime<Utc>) -> Self {
        Self { id: Uuid::now_v7(), event_type: event_type.to_owned(), version: 1, occurred_at, source: source.to_owned(), payload }
    }

    /// The payload, if this envelope carries an `E`.
    pub fn decode<E: Event>(&self) -> Option<serde_json::Result<E>> {
        (self.event_type == E::TYPE).then(|| serde_json::from_value(self.payload.clone()))
    }

    /// Subject on a broker: `gonggu.<source>.<type>`.
    pub fn subject(&self) -> String {
        format!("gonggu.{}.{}", self.source, self.event_type)
    }
}

// ---------------------------------------------------------------------------------------------
// Outbox and inbox, for both backends. The kernel owns their two tables; a context that publishes
// or consumes events calls [`create_event_tables`] before its own migrations.

const EVENT_TABLES_SQLITE: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           BLOB NOT NULL UNIQUE,
    event_type   TEXT NOT NULL,
    version      INTEGER NOT NULL,
    occurred_at  TEXT NOT NULL,
    source       TEXT NOT NULL,
    payload      TEXT NOT NULL,
    published_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS processed_events (
    consumer     TEXT NOT NULL,
    event_id     BLOB NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);";

const EVENT_TABLES_POSTGRES: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq          BIGSERIAL PRIMARY KEY,
    id           UUID NOT NULL UNIQUE,
    event_type   TEXT NOT NULL,
    version      INTEGER NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL,
    source       TEXT NOT NULL,
    payload      TEXT NOT NULL,
    published_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS processed_events (
    consumer     TEXT NOT NULL,
    event_id     UUID NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, event_id)
);";

/// Creates the outbox and inbox tables in `db` unless they exist. On PostgreSQL instances that
/// start together take an advisory lock first: concurrent `CREATE TABLE IF NOT EXISTS` can still
/// collide in the catalogue.
pub async fn create_event_tables(db: &Db) -> anyhow::Result<()> {
    use anyhow::Context as _;
    match db {
        Db::Sqlite(pool) => {
            sqlx::raw_sql(EVENT_TABLES_SQLITE).execute(pool).await.context("creating the outbox and inbox tables")?;
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.event_tables'))").execute(&mut *tx).await?;
            sqlx::raw_sql(EVENT_TABLES_POSTGRES).execute(&mut *tx).await.context("creating the outbox and inbox tables")?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Writes an event into the outbox of the transaction it is called in.
#[async_trait]
pub trait OutboxExt {
    async fn enqueue(&mut self, env: &Envelope) -> sqlx::Result<()>;
    /// Records that `consumer` handled `event_id`; false when it already had (skip the work).
    async fn claim_event(&mut self, consumer: &str, event_id: Uuid) -> sqlx::Result<bool>;
}

macro_rules! impl_outbox {
    ($conn:ty) => {
        #[async_trait]
        impl OutboxExt for $conn {
            async fn enqueue(&mut self, env: &Envelope) -> sqlx::Result<()> {
                sqlx::query("INSERT INTO outbox (id, event_type, version, occurred_at, source, payload) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(env.id)
                    .bind(&env.event_type)
                    .bind(env.version)
                    .bind(env.occurred_at)
                    .bind(&env.source)
                    .bind(env.payload.to_string())
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn claim_event(&mut self, consumer: &str, event_id: Uuid) -> sqlx::Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(consumer)
                .bind(event_id)
                .bind(Utc::now())
                .execute(&mut *self)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
impl_outbox!(SqliteConnection);
impl_outbox!(PgConnection);

#[derive(sqlx::FromRow)]
struct OutboxRow {
    seq: i64,
    id: Uuid,
    event_type: String,
    version: i32,
    occurred_at: DateTime<Utc>,
    source: String,
    payload: String,
}

/// A payload that is not JSON stops the relay with the row named (it was sent on as `null`
/// before): only a hand-edited database can hold one, and consumers must never see it.
fn into_envelopes(rows: Vec<OutboxRow>) -> anyhow::Result<(Vec<i64>, Vec<Envelope>)> {
    rows.into_iter()
        .map(|r| {
            let payload = serde_json::from_str(&r.payload)
                .map_err(|e| anyhow::anyhow!("outbox row {} ({}) holds a payload that is not JSON: {e}", r.seq, r.event_type))?;
            Ok((
                r.seq,
                Envelope { id: r.id, event_type: r.event_type, version: r.version, occurred_at: r.occurred_at, source: r.source, payload },
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(|v| v.into_iter().unzip())
}

const SELECT_UNPUBLISHED: &str = "SELECT seq, id, event_type, version, occurred_at, source, payload FROM outbox \
     WHERE published_at IS NULL ORDER BY seq LIMIT 100";

/// Who marks relayed SQLite outbox rows published. By default the relay's own UPDATE; a context
/// whose SQLite file has one always-busy writer (the wallet's group commit) hands the mark to that
/// writer instead, so the relay does not queue for the write lock behind every batch (it fell
/// thousands of events behind under load).
#[async_trait]
pub trait MarkPublished: Send + Sync {
    /// Marks every unpublished row with `seq <= up_to`; returns once that is committed.
    async fn mark_published(&self, up_to: i64) -> anyhow::Result<()>;
}

impl Db {
    /// Publishes the next batch of unpublished outbox rows; returns how many went out.
    /// On PostgreSQL the rows stay locked (`SKIP LOCKED`) so several relays never double-send.
    pub async fn relay_outbox_batch(&self, bus: &dyn Bus) -> anyhow::Result<usize> {
        self.relay_outbox_batch_via(bus, None).await
    }

    /// As [`Db::relay_outbox_batch`], with SQLite's "published" mark made by `marker` when given.
    pub async fn relay_outbox_batch_via(&self, bus: &dyn Bus, marker: Option<&dyn MarkPublished>) -> anyhow::Result<usize> {
        match self {
            Db::Sqlite(pool) => {
                let rows: Vec<OutboxRow> = sqlx::query_as(SELECT_UNPUBLISHED).fetch_all(pool).await?;
                let n = rows.len();
                let (seqs, envs) = into_envelopes(rows)?;
                bus.publish_all(&envs).await?;
                let last = seqs.last().copied();
                // One statement (one commit, one fsync) marks the whole batch: every unpublished
                // row up to the last one sent was in it, because rows are read in `seq` order.
                if let (Some(last), Some(marker)) = (last, marker) {
                    marker.mark_published(last).await?;
                } else if let Some(last) = last {
                    sqlx::query("UPDATE outbox SET published_at = $1 WHERE published_at IS NULL AND seq <= $2")
                        .bind(Utc::now())
                        .bind(last)
                        .execute(pool)
                        .await?;
                }
                Ok(n)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let rows: Vec<OutboxRow> =
                    sqlx::query_as(&format!("{SELECT_UNPUBLISHED} FOR UPDATE SKIP LOCKED")).fetch_all(&mut *tx).await?;
                let n = rows.len();
                let (sent, envs) = into_envelopes(rows)?;
                bus.publish_all(&envs).await?;
                // One statement for the batch; by seq list, not a range, because another relay
                // may hold (SKIP LOCKED) rows in between.
                if !sent.is_empty() {
                    sqlx::query("UPDATE outbox SET published_at = $1 WHERE seq = ANY($2)")
                        .bind(Utc::now())
                        .bind(&sent)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(n)
            }
        }
    }
}

/// Wakes a relay right after a commit instead of waiting for its next poll.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

/// Relays one context's outbox until `shutdown` fires. Polls every second as a safety net
/// (a crash between commit and signal, or another instance's writes).
pub fn spawn_relay(
    context: &'static str,
    db: Db,
    bus: Arc<dyn Bus>,
    signal: OutboxSignal,
    marker: Option<Arc<dyn MarkPublished>>,
    shutdown: shutdown::Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match db.relay_outbox_batch_via(bus.as_ref(), marker.as_deref()).await {
                Ok(100) => continue,
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(context, error = %format!("{e:#}"), "outbox relay failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            }
            tokio::select! {
                _ = signal.0.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.wait() => {
                    // One last pass so a clean stop leaves nothing behind.
                    let _ = db.relay_outbox_batch_via(bus.as_ref(), marker.as_deref()).await;
                    return;
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The bus.

/// Where relays publish and consumers subscribe. In-process by default; NATS JetStream in the
/// scaled mode (same trait, chosen by configuration).
#[async_trait]
pub trait Bus: Send + Sync {
    /// Returns once the event is safe (the relay marks it published only then): stored by the
    /// broker, or — in one process, where nothing else keeps it — handled and committed by every
    /// consumer that subscribed to it.
    async fn publish(&self, env: &Envelope) -> anyhow::Result<()>;
    /// As [`Bus::publish`] for a batch, in order; an error means some may not be safe (the relay
    /// sends the whole batch again, and consumers skip what they already handled).
    async fn publish_all(&self, envs: &[Envelope]) -> anyhow::Result<()> {
        for env in envs {
            self.publish(env).await?;
        }
        Ok(())
    }
    /// A durable consumer named `consumer` receiving the listed event types: with several
    /// instances of a service, each event goes to one of them.
    async fn subscribe(&self, consumer: &str, event_types: &[&str]) -> anyhow::Result<Subscription>;
    /// A feed for this process alone: every instance gets every event (for state each instance
    /// keeps in memory, such as revoked sessions). It starts `replay` before now.
    async fn subscribe_each_instance(&self, consumer: &str, event_types: &[&str], replay: Duration) -> anyhow::Result<Subscription> {
        let _ = replay;
        self.subscribe(consumer, event_types).await
    }
}

/// One event handed to a consumer. Acknowledge it once handled (or given up on); a bus that
/// redelivers (JetStream) sends an unacknowledged one again after a while, and the in-memory
/// bus's publisher learns that it was not handled when a delivery is dropped unacknowledged.
pub struct Delivery {
    pub envelope: Envelope,
    pub(crate) ack: Ack,
}

pub(crate) enum Ack {
    /// The in-memory publisher waits on this.
    Memory(oneshot::Sender<()>),
    Broker(Box<async_nats::jetstream::Message>),
}

impl Delivery {
    pub async fn ack(self) -> anyhow::Result<()> {
        match self.ack {
            Ack::Memory(done) => {
                // The publisher may have stopped waiting; then the relay sends it again.
                let _ = done.send(());
            }
            Ack::Broker(msg) => msg.ack().await.map_err(|e| anyhow::anyhow!("ack failed: {e}"))?,
        }
        Ok(())
    }
}

pub struct Subscription {
    feed: Feed,
}

enum Feed {
    /// The in-memory bus never blocks a publisher on a queue (only on the handling), so its
    /// queues are unbounded.
    Memory(mpsc::UnboundedReceiver<Delivery>),
    /// A broker keeps what is not yet taken; the bound holds back fetching, not publishing.
    Broker(mpsc::Receiver<Delivery>),
}

impl Subscription {
    pub(crate) fn from_broker(rx: mpsc::Receiver<Delivery>) -> Self {
        Self { feed: Feed::Broker(rx) }
    }

    pub async fn next(&mut self) -> Option<Delivery> {
        match &mut self.feed {
            Feed::Memory(rx) => rx.recv().await,
            Feed::Broker(rx) => rx.recv().await,
        }
    }

    fn in_memory(&self) -> bool {
        matches!(self.feed, Feed::Memory(_))
    }
}

/// In-process bus: each subscriber gets its own unbounded queue, so a slow consumer never makes
/// another miss events. Nothing outlives the process here, so an event counts as published only
/// once every subscriber's handler has acknowledged it: until then its outbox row stays
/// unpublished, and a crash or stop sends it again at the next start.
#[derive(Default)]
pub struct InMemoryBus {
    subscribers: RwLock<Vec<Subscriber>>,
}

struct Subscriber {
    consumer: String,
    event_types: Vec<String>,
    queue: mpsc::UnboundedSender<Delivery>,
}

impl InMemoryBus {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

#[async_trait]
impl Bus for InMemoryBus {
    async fn publish(&self, env: &Envelope) -> anyhow::Result<()> {
        self.publish_all(std::slice::from_ref(env)).await
    }

    async fn publish_all(&self, envs: &[Envelope]) -> anyhow::Result<()> {
        // The whole batch is queued before waiting, so handlers work through it back to back
        // (each queue keeps the batch's order) instead of one round trip per event.
        let mut waiting = Vec::new();
        {
            let subs = self.subscribers.read().await;
            for env in envs {
                for sub in subs.iter().filter(|s| s.event_types.iter().any(|t| t == &env.event_type)) {
                    let (done, handled) = oneshot::channel();
                    let delivery = Delivery { envelope: env.clone(), ack: Ack::Memory(done) };
                    // A closed queue is a consumer that stopped: the event is not handled, so
                    // it must stay unpublished (it comes again after a restart).
                    anyhow::ensure!(
                        sub.queue.send(delivery).is_ok(),
                        "consumer {} has stopped; event {} {} stays unpublished",
                        sub.consumer,
                        env.event_type,
                        env.id
                    );
                    waiting.push((sub.consumer.clone(), env, handled));
                }
            }
        }
        for (consumer, env, handled) in waiting {
            anyhow::ensure!(
                handled.await.is_ok(),
                "consumer {consumer} dropped event {} {} unhandled; it stays unpublished",
                env.event_type,
                env.id
            );
        }
        for env in envs {
            metrics::counter!("gonggu_events_published_total", "type" => env.event_type.clone()).increment(1);
        }
        Ok(())
    }

    async fn subscribe(&self, consumer: &str, event_types: &[&str]) -> anyhow::Result<Subscription> {
        let (queue, rx) = mpsc::unbounded_channel();
        self.subscribers.write().await.push(Subscriber {
            consumer: consumer.to_owned(),
            event_types: event_types.iter().map(|s| s.to_string()).collect(),
            queue,
        });
        Ok(Subscription { feed: Feed::Memory(rx) })
    }
}

/// How long an in-memory consumer keeps handling after shutdown once nothing more arrives: the
/// relays' last pass at shutdown is handed over within this, so a clean stop leaves nothing
/// unhandled (what still misses it stays unpublished and comes again at the next start).
const DRAIN_IDLE: Duration = Duration::from_millis(500);

/// Runs `handle` for every delivery, retrying a failing event with backoff so that a
/// temporarily broken dependency does not drop it. Handlers that write must call
/// [`OutboxExt::claim_event`] in their own transaction, which makes redelivery harmless.
pub fn spawn_consumer<F, Fut>(
    consumer: &'static str,
    mut sub: Subscription,
    shutdown: shutdown::Shutdown,
    handle: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(Envelope) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    tokio::spawn(async move {
        let mut stopping = false;
        loop {
            let delivery = if stopping {
                match tokio::time::timeout(DRAIN_IDLE, sub.next()).await {
                    Ok(Some(d)) => d,
                    Ok(None) | Err(_) => return,
                }
            } else {
                tokio::select! {
                    d = sub.next() => match d {
                        Some(d) => d,
                        None => {
                            tracing::warn!(consumer, "event feed closed; consumer stopped");
                            return;
                        }
                    },
                    _ = shutdown.wait() => {
                        // A broker keeps what is not acknowledged; in memory the relays' last
                        // pass is still to be handled.
                        if !sub.in_memory() {
                            return;
                        }
                        stopping = true;
                        continue;
                    }
                }
            };
            let env = &delivery.envelope;
            let mut delay = Duration::from_millis(50);
            for attempt in 1.. {
                // A panicking handler is a failed attempt, not a dead consumer: in one process a
                // stopped consumer would fail every later publish of the context that feeds it.
                let handled = std::panic::AssertUnwindSafe(handle(env.clone())).catch_unwind().await.unwrap_or_else(|panic| {
                    let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
                    Err(anyhow::anyhow!("handler panicked: {}", what.unwrap_or_default()))
                });
                match handled {
                    Ok(()) => break,
                    Err(e) if attempt < 8 => {
                        tracing::warn!(consumer, event = %env.event_type, id = %env.id, attempt, error = %format!("{e:#}"), "event handler failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                    Err(e) => {
                        tracing::error!(consumer, event = %env.event_type, id = %env.id, error = %format!("{e:#}"), "event handler gave up");
                        break;
                    }
                }
            }
            // Acknowledged after handling: a crash before this point gets the event again
            // (handlers claim event ids, so a repeat does nothing).
            let (id, event_type) = (env.id, env.event_type.clone());
            if let Err(e) = delivery.ack().await {
                tracing::warn!(consumer, event = %event_type, %id, error = %format!("{e:#}"), "event acknowledgement failed; it may come again");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Ping {
        n: u32,
    }
    impl Event for Ping {
        const TYPE: &'static str = "Ping";
        const SOURCE: &'static str = "test";
    }

    #[tokio::test]
    async fn bus_delivers_by_type_to_every_subscriber() {
        let bus = InMemoryBus::new();
        let mut a = bus.subscribe("a", &["Ping"]).await.unwrap();
        let mut b = bus.subscribe("b", &["Ping", "Pong"]).await.unwrap();
        let mut c = bus.subscribe("c", &["Pong"]).await.unwrap();
        let env = Envelope::new(&Ping { n: 7 }, Utc::now());
        let published = tokio::spawn({
            let (bus, env) = (bus.clone(), env.clone());
            async move { bus.publish(&env).await }
        });
        let (da, db) = (a.next().await.unwrap(), b.next().await.unwrap());
        assert_eq!(da.envelope, env);
        assert_eq!(db.envelope.decode::<Ping>().unwrap().unwrap(), Ping { n: 7 });
        assert!(tokio::time::timeout(Duration::from_millis(50), c.next()).await.is_err(), "c did not ask for Ping");
        da.ack().await.unwrap();
        db.ack().await.unwrap();
        published.await.unwrap().unwrap();
        assert_eq!(env.subject(), "gonggu.test.Ping");
    }

    /// In one process nothing else keeps an event, so it is published only once every
    /// subscriber has handled it; until then the outbox row must stay unpublished.
    #[tokio::test]
    async fn in_memory_publish_waits_for_every_handler() {
        let bus = InMemoryBus::new();
        let mut fast = bus.subscribe("fast", &["Ping"]).await.unwrap();
        let mut slow = bus.subscribe("slow", &["Ping"]).await.unwrap();
        let batch = [Envelope::new(&Ping { n: 1 }, Utc::now()), Envelope::new(&Ping { n: 2 }, Utc::now())];
        let mut published = tokio::spawn({
            let (bus, batch) = (bus.clone(), batch.clone());
            async move { bus.publish_all(&batch).await }
        });
        for _ in 0..2 {
            fast.next().await.unwrap().ack().await.unwrap();
        }
        let first = slow.next().await.unwrap();
        assert_eq!(first.envelope, batch[0], "each queue keeps the batch's order");
        first.ack().await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut published).await.is_err(),
            "slow has not handled the second event yet"
        );
        slow.next().await.unwrap().ack().await.unwrap();
        published.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_event_not_handled_is_not_published() {
        let bus = InMemoryBus::new();
        let mut dropping = bus.subscribe("dropping", &["Ping"]).await.unwrap();
        let env = Envelope::new(&Ping { n: 1 }, Utc::now());
        let published = tokio::spawn({
            let (bus, env) = (bus.clone(), env.clone());
            async move { bus.publish(&env).await }
        });
        drop(dropping.next().await.unwrap());
        assert!(published.await.unwrap().is_err(), "a delivery dropped unacknowledged fails the publish");
        drop(dropping);
        assert!(bus.publish(&env).await.is_err(), "a consumer that stopped fails the publish");
    }

    #[tokio::test]
    async fn consumer_retries_a_failing_handler() {
        let bus = InMemoryBus::new();
        let sub = bus.subscribe("retry", &["Ping"]).await.unwrap();
        let (_trigger, shutdown) = shutdown::channel();
        let calls = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(Notify::new());
        let (c, d) = (calls.clone(), done.clone());
        spawn_consumer("retry", sub, shutdown, move |_env| {
            let (c, d) = (c.clone(), d.clone());
            async move {
                if c.fetch_add(1, Ordering::SeqCst) < 2 {
                    anyhow::bail!("temporarily broken");
                }
                d.notify_one();
                Ok(())
            }
        });
        bus.publish(&Envelope::new(&Ping { n: 1 }, Utc::now())).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), done.notified()).await.expect("handled after retries");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_handler_that_panics_is_retried_and_the_consumer_goes_on() {
        let bus = InMemoryBus::new();
        let sub = bus.subscribe("panicky", &["Ping"]).await.unwrap();
        let (_trigger, shutdown) = shutdown::channel();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        spawn_consumer("panicky", sub, shutdown, move |_env| {
            let c = c.clone();
            async move {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("a bug in one handler");
                }
                Ok(())
            }
        });
        let publish = |n| {
            let bus = bus.clone();
            async move { tokio::time::timeout(Duration::from_secs(5), bus.publish(&Envelope::new(&Ping { n }, Utc::now()))).await }
        };
        publish(1).await.expect("published in time").expect("handled after the panic");
        publish(2).await.expect("published in time").expect("the consumer still runs");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
