//! The wallet store on SQLite and PostgreSQL: opening, movements, refusals, idempotency under
//! concurrency, history and the audit.

use std::sync::Arc;

use chrono::Utc;
use gonggu_kernel::{
    db::{Db, SqliteTuning},
    events::OutboxSignal,
    testkit::fresh_postgres,
};
use gonggu_wallet::store::{self, Direction, Executed, HistoryQuery, IdempotencyClaim, Movement, Refusal, SortBy, WalletStore};
use uuid::Uuid;

async fn sqlite() -> (Arc<dyn WalletStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(None, dir.path(), "wallet", SqliteTuning { synchronous_full: true, max_connections: 8 }).await.unwrap();
    (store::open(&db, OutboxSignal::default()).await.unwrap(), dir)
}

async fn postgres(test: &str) -> Option<Arc<dyn WalletStore>> {
    let url = fresh_postgres(test).await?;
    let db = Db::connect(Some(&url), std::path::Path::new("."), "wallet", SqliteTuning::default()).await.unwrap();
    Some(store::open(&db, OutboxSignal::default()).await.unwrap())
}

fn claim(user: Uuid, key: &str, what: &str) -> IdempotencyClaim {
    IdempotencyClaim { user_id: user, key: key.into(), request_hash: what.as_bytes().to_vec() }
}

fn render(outcome: Result<&store::Receipt, Refusal>) -> (u16, String) {
    match outcome {
        Ok(r) => (201, format!("{}:{}:{}", r.kind, r.amount, r.balance)),
        Err(Refusal::InsufficientFunds) => (409, "insufficient".into()),
        Err(Refusal::NoSuchHolder) => (404, "nobody".into()),
    }
}

async fn story(s: Arc<dyn WalletStore>) {
    let now = Utc::now();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    assert!(s.open(a, "alice", now, Some(("wallet-open", Uuid::now_v7()))).await.unwrap());
    assert!(!s.open(a, "alice", now, None).await.unwrap(), "opening twice is a no-op");
    let event = Uuid::now_v7();
    assert!(s.open(b, "bob", now, Some(("wallet-open", event))).await.unwrap());
    assert!(!s.open(Uuid::now_v7(), "bob_again", now, Some(("wallet-open", event))).await.unwrap(), "a redelivered event is skipped");
    assert_eq!(s.holder_by_login("bob").await.unwrap(), Some(b));
    assert_eq!(s.balances(a).await.unwrap().unwrap().bank_balance, 100_000);

    let r = s.execute(&Movement::Charge { user_id: a, amount: 60_000 }, &claim(a, "k1", "c60"), now, Arc::new(render)).await.unwrap();
    assert_eq!(r, Executed::Fresh { status: 201, body: "charge:60000:60000".into() });
    let r = s.execute(&Movement::Charge { user_id: a, amount: 50_000 }, &claim(a, "k2", "c50"), now, Arc::new(render)).await.unwrap();
    assert_eq!(r, Executed::Fresh { status: 409, body: "insufficient".into() }, "bank has 40,000 left");
    let t = Movement::Transfer { from: a, to: b, amount: 25_000, memo: Some("휴지".into()), deal_id: None };
    assert!(matches!(s.execute(&t, &claim(a, "k3", "t25"), now, Arc::new(render)).await.unwrap(), Executed::Fresh { status: 201, .. }));
    assert!(matches!(s.execute(&t, &claim(a, "k3", "t25"), now, Arc::new(render)).await.unwrap(), Executed::Replayed { status: 201, .. }));
    assert_eq!(s.execute(&t, &claim(a, "k3", "t26"), now, Arc::new(render)).await.unwrap(), Executed::KeyReused);
    let over = Movement::Transfer { from: a, to: b, amount: 35_001, memo: None, deal_id: None };
    assert_eq!(
        s.execute(&over, &claim(a, "k4", "o"), now, Arc::new(render)).await.unwrap(),
        Executed::Fresh { status: 409, body: "insufficient".into() }
    );
    assert_eq!(s.balances(a).await.unwrap().unwrap().balance, 35_000);
    assert_eq!(s.balances(b).await.unwrap().unwrap().balance, 25_000);
    assert_eq!(s.total_user_money().await.unwrap(), 200_000);

    let q = HistoryQuery { direction: Direction::All, sort: SortBy::Newest, from_ms: None, to_ms: None, after: None, limit: 10 };
    let rows = s.history(a, &q).await.unwrap();
    assert_eq!(rows.iter().map(|r| (r.kind.as_str(), r.delta)).collect::<Vec<_>>(), [("transfer", -25_000), ("charge", 60_000)]);
    assert_eq!(rows[0].counterpart.as_deref(), Some("bob"));
    let rows = s.history(b, &HistoryQuery { direction: Direction::Received, ..q.clone() }).await.unwrap();
    assert_eq!((rows.len(), rows[0].counterpart.as_deref(), rows[0].memo.as_deref()), (1, Some("alice"), Some("휴지")));
    assert!(s.history(b, &HistoryQuery { direction: Direction::Sent, ..q }).await.unwrap().is_empty());

    assert_eq!(s.prune_keys(now + chrono::Duration::seconds(1)).await.unwrap(), 4);
    let audit = s.audit().await.unwrap();
    assert!(audit.violations.is_empty(), "{:?}", audit.violations);
    assert_eq!(audit.entries, 4, "two openings, a charge, a transfer");
}

/// The same key from many connections at once moves money once and all get one answer.
async fn racing_duplicates(s: Arc<dyn WalletStore>) {
    let now = Utc::now();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    s.open(a, "racer_a", now, None).await.unwrap();
    s.open(b, "racer_b", now, None).await.unwrap();
    s.execute(&Movement::Charge { user_id: a, amount: 10_000 }, &claim(a, "c", "c"), now, Arc::new(render)).await.unwrap();
    let t = Movement::Transfer { from: a, to: b, amount: 1_000, memo: None, deal_id: None };
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (s, t) = (s.clone(), t.clone());
            tokio::spawn(async move { s.execute(&t, &claim(a, "same", "t"), now, Arc::new(render)).await.unwrap() })
        })
        .collect();
    let mut fresh = 0;
    for task in tasks {
        match task.await.unwrap() {
            Executed::Fresh { status: 201, .. } => fresh += 1,
            Executed::Replayed { status: 201, .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(fresh, 1);
    assert_eq!(s.balances(b).await.unwrap().unwrap().balance, 1_000);
    // And opposite transfers between two accounts at once never deadlock.
    s.execute(&Movement::Charge { user_id: b, amount: 10_000 }, &claim(b, "c", "c"), now, Arc::new(render)).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let s = s.clone();
            let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
            tokio::spawn(async move {
                let m = Movement::Transfer { from, to, amount: 10, memo: None, deal_id: None };
                s.execute(&m, &claim(from, &format!("x{i}"), "x"), now, Arc::new(render)).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await.unwrap(), Executed::Fresh { status: 201, .. }));
    }
    assert_eq!(s.total_user_money().await.unwrap(), 200_000);
    assert!(s.audit().await.unwrap().violations.is_empty());
}

#[tokio::test]
async fn wallet_story_on_sqlite() {
    let (s, _dir) = sqlite().await;
    story(s).await;
}

#[tokio::test]
async fn wallet_story_on_postgres() {
    let Some(s) = postgres("wallet_story_on_postgres").await else { return };
    story(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_duplicates_on_sqlite() {
    let (s, _dir) = sqlite().await;
    racing_duplicates(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_duplicates_on_postgres() {
    let Some(s) = postgres("racing_duplicates_on_postgres").await else { return };
    racing_duplicates(s).await;
}
