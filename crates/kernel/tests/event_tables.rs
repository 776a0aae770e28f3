//! The kernel's outbox and inbox tables on both engines: created once for any number of
//! contexts and instances, relayed in order, and a corrupt row stops the relay instead of
//! reaching consumers as `null`.

use std::sync::Mutex;

use async_trait::async_trait;
use gonggu_kernel::{
    db::{Db, SqliteTuning},
    events::{create_event_tables, Bus, Envelope, OutboxExt, Subscription},
};

#[derive(Default)]
struct Recorder(Mutex<Vec<Envelope>>);

#[async_trait]
impl Bus for Recorder {
    async fn publish(&self, env: &Envelope) -> anyhow::Result<()> {
        self.0.lock().unwrap().push(env.clone());
        Ok(())
    }
    async fn subscribe(&self, _consumer: &str, _types: &[&str]) -> anyhow::Result<Subscription> {
        anyhow::bail!("the relay only publishes")
    }
}

fn event(n: i64) -> Envelope {
    Envelope::named("Counted", "kernel_test", serde_json::json!({ "n": n }), chrono::Utc::now())
}

async fn enqueue(db: &Db, env: &Envelope) {
    match db {
        Db::Sqlite(p) => p.acquire().await.unwrap().enqueue(env).await.unwrap(),
        Db::Postgres(p) => p.acquire().await.unwrap().enqueue(env).await.unwrap(),
    }
}

async fn corrupt_payload(db: &Db, id: uuid::Uuid) {
    let sql = "UPDATE outbox SET payload = 'not json {' WHERE id = $1";
    match db {
        Db::Sqlite(p) => sqlx::query(sql).bind(id).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).bind(id).execute(p).await.map(|_| ()),
    }
    .unwrap();
}

async fn story(db: Db) {
    // Twice at once and once more: every context opening its store calls it.
    let (a, b) = tokio::join!(create_event_tables(&db), create_event_tables(&db));
    a.unwrap();
    b.unwrap();
    create_event_tables(&db).await.unwrap();

    let bus = Recorder::default();
    let (first, second) = (event(1), event(2));
    enqueue(&db, &first).await;
    enqueue(&db, &second).await;
    assert_eq!(db.relay_outbox_batch(&bus).await.unwrap(), 2);
    assert_eq!(db.relay_outbox_batch(&bus).await.unwrap(), 0, "relayed rows are marked published");
    let sent: Vec<_> = bus.0.lock().unwrap().iter().map(|e| (e.id, e.payload.clone())).collect();
    assert_eq!(sent, vec![(first.id, first.payload.clone()), (second.id, second.payload.clone())]);

    // The inbox: a consumer claims an event id once.
    let claim = |db: Db, id| async move {
        match db {
            Db::Sqlite(p) => p.acquire().await.unwrap().claim_event("counter", id).await.unwrap(),
            Db::Postgres(p) => p.acquire().await.unwrap().claim_event("counter", id).await.unwrap(),
        }
    };
    assert!(claim(db.clone(), first.id).await);
    assert!(!claim(db.clone(), first.id).await, "a second claim of the same event is refused");

    let bad = event(3);
    enqueue(&db, &bad).await;
    corrupt_payload(&db, bad.id).await;
    let err = db.relay_outbox_batch(&bus).await.expect_err("a corrupt payload stops the relay");
    assert!(format!("{err:#}").contains("not JSON"), "{err:#}");
    assert_eq!(bus.0.lock().unwrap().len(), 2, "nothing of the corrupt batch was published");
}

#[tokio::test]
async fn event_tables_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(None, dir.path(), "kernel_test", SqliteTuning::default()).await.unwrap();
    story(db).await;
}

#[tokio::test]
async fn event_tables_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("event tables").await else { return };
    let db = Db::connect(Some(&url), std::path::Path::new("."), "kernel_test", SqliteTuning::default()).await.unwrap();
    story(db).await;
}
