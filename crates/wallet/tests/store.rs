//! The wallet store on SQLite and PostgreSQL: opening, movements, refusals, idempotency under
//! concurrency, history and the audit.

use std::sync::Arc;

use chrono::Utc;
use gonggu_kernel::{
    db::{Db, SqliteTuning},
    events::OutboxSignal,
    testkit::fresh_postgres,
};
use gonggu_wallet::consumer::DealParties;
use gonggu_wallet::store::{
    self, Direction, Executed, HistoryQuery, IdempotencyClaim, Movement, OpenError, Refusal, SortBy, StoredAnswer, WalletStore,
};
use uuid::Uuid;

async fn sqlite() -> (Arc<dyn WalletStore>, tempfile::TempDir) {
    let (s, _, dir) = sqlite_db().await;
    (s, dir)
}

/// The store and its database, for tests that damage rows behind its back.
async fn sqlite_db() -> (Arc<dyn WalletStore>, sqlx::SqlitePool, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(None, dir.path(), "wallet", SqliteTuning { synchronous_full: true, max_connections: 8 }).await.unwrap();
    let Db::Sqlite(pool) = &db else { unreachable!("no database URL: SQLite") };
    let pool = pool.clone();
    (store::open(&db, OutboxSignal::default()).await.unwrap(), pool, dir)
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
        Err(Refusal::DealTagInvalid) => (422, "not your deal".into()),
    }
}

fn refused(status: u16, body: &str, refusal: Refusal) -> StoredAnswer {
    StoredAnswer { status, body: body.into(), refusal: Some(refusal) }
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
    let Executed::Fresh { outcome: Ok(receipt), answer } = r else { panic!("{r:?}") };
    assert_eq!((receipt.amount, receipt.balance, receipt.bank_balance), (60_000, 60_000, 40_000));
    assert_eq!(answer, StoredAnswer { status: 201, body: "charge:60000:60000".into(), refusal: None });
    let charge = Movement::Charge { user_id: a, amount: 50_000 };
    let r = s.execute(&charge, &claim(a, "k2", "c50"), now, Arc::new(render)).await.unwrap();
    let want = refused(409, "insufficient", Refusal::InsufficientFunds);
    assert_eq!(r, Executed::Fresh { outcome: Err(Refusal::InsufficientFunds), answer: want.clone() }, "bank has 40,000 left");
    // A replayed refusal says what it was, typed, besides the stored bytes.
    assert_eq!(s.execute(&charge, &claim(a, "k2", "c50"), now, Arc::new(render)).await.unwrap(), Executed::Replayed(want));
    let t = Movement::Transfer { from: a, to: b, amount: 25_000, memo: Some("휴지".into()), deal_id: None };
    assert!(matches!(s.execute(&t, &claim(a, "k3", "t25"), now, Arc::new(render)).await.unwrap(), Executed::Fresh { outcome: Ok(_), .. }));
    assert!(matches!(
        s.execute(&t, &claim(a, "k3", "t25"), now, Arc::new(render)).await.unwrap(),
        Executed::Replayed(StoredAnswer { status: 201, refusal: None, .. })
    ));
    assert_eq!(s.execute(&t, &claim(a, "k3", "t26"), now, Arc::new(render)).await.unwrap(), Executed::KeyReused);
    let over = Movement::Transfer { from: a, to: b, amount: 35_001, memo: None, deal_id: None };
    assert_eq!(
        s.execute(&over, &claim(a, "k4", "o"), now, Arc::new(render)).await.unwrap(),
        Executed::Fresh { outcome: Err(Refusal::InsufficientFunds), answer: refused(409, "insufficient", Refusal::InsufficientFunds) }
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
            Executed::Fresh { outcome: Ok(_), .. } => fresh += 1,
            Executed::Replayed(StoredAnswer { status: 201, .. }) => {}
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
        assert!(matches!(task.await.unwrap(), Executed::Fresh { outcome: Ok(_), .. }));
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

/// A login id belongs to one holder: a second holder claiming it is an error, not a silent
/// "already open" that leaves that user without a wallet.
async fn login_ids_stay_unique(s: Arc<dyn WalletStore>) {
    let now = Utc::now();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    assert!(s.open(a, "one_login", now, None).await.unwrap());
    let err = s.open(b, "one_login", now, None).await.unwrap_err();
    assert!(matches!(&err, OpenError::LoginTaken(l) if l == "one_login"), "{err:?}");
    assert!(s.balances(b).await.unwrap().is_none(), "nothing half-opened");
    assert!(!s.open(a, "one_login", now, None).await.unwrap(), "the holder itself is simply open already");
}

#[tokio::test]
async fn login_ids_stay_unique_on_sqlite() {
    let (s, _dir) = sqlite().await;
    login_ids_stay_unique(s).await;
}

#[tokio::test]
async fn login_ids_stay_unique_on_postgres() {
    let Some(s) = postgres("login_ids_stay_unique_on_postgres").await else { return };
    login_ids_stay_unique(s).await;
}

/// Damaged rows are errors that say what is wrong, never a default answer or a 1970 date.
#[tokio::test]
async fn corrupt_rows_fail_loudly() {
    let (s, pool, _dir) = sqlite_db().await;
    let wallet = gonggu_wallet::Wallet::new(s, gonggu_kernel::clock::Clock::system());
    let user = gonggu_kernel::auth::AuthUser { user_id: Uuid::now_v7(), login_id: "damaged".into(), session_id: Uuid::now_v7() };
    assert!(wallet.charge(&user, Some("k"), 1_000).await.unwrap().status.is_success());
    let cause = |e: gonggu_kernel::ApiError| {
        assert_eq!(e.status, 500);
        format!("{:#}", e.source.expect("a cause"))
    };

    // A stored answer that lost its body is not replayed as an empty 201.
    sqlx::query("UPDATE idempotency_keys SET body = NULL").execute(&pool).await.unwrap();
    let err = cause(wallet.charge(&user, Some("k"), 1_000).await.unwrap_err());
    assert!(err.contains("\"k\"") && err.contains("without its answer"), "{err}");
    // Nor one whose status is no HTTP status.
    sqlx::query("UPDATE idempotency_keys SET body = '{}', status = 7").execute(&pool).await.unwrap();
    let err = cause(wallet.charge(&user, Some("k"), 1_000).await.unwrap_err());
    assert!(err.contains("status 7"), "{err}");

    // A journal entry whose time is no time is not shown as 1970.
    sqlx::query("DROP TRIGGER journal_entries_immutable_update").execute(&pool).await.unwrap();
    sqlx::query("UPDATE journal_entries SET created_at = 9223372036854775807 WHERE kind = 'charge'").execute(&pool).await.unwrap();
    let err = cause(wallet.history(&user, Default::default()).await.unwrap_err());
    assert!(err.contains("is not a time"), "{err}");
}

/// Deal tags follow the newest of deals' events, each applied once.
async fn deal_parties(s: Arc<dyn WalletStore>) {
    let now = Utc::now();
    let (host, member, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for (id, login) in [(host, "dp_host"), (member, "dp_member"), (other, "dp_other")] {
        s.open(id, login, now, None).await.unwrap();
        s.execute(&Movement::Charge { user_id: id, amount: 10_000 }, &claim(id, "c", "c"), now, Arc::new(render)).await.unwrap();
    }
    let deal = Uuid::now_v7();
    let party = |members: Vec<Uuid>| DealParties { deal_id: deal, host_id: host, member_ids: members };
    let first = Uuid::now_v7();
    assert!(s.record_deal_parties(&party(vec![host, member]), now, ("dp", first)).await.unwrap());
    assert!(!s.record_deal_parties(&party(vec![host]), now, ("dp", first)).await.unwrap(), "a redelivered event is skipped");
    let pay = |from: Uuid, to: Uuid, key: &'static str| {
        let s = s.clone();
        async move {
            let m = Movement::Transfer { from, to, amount: 100, memo: None, deal_id: Some(deal) };
            match s.execute(&m, &claim(from, key, key), now, Arc::new(render)).await.unwrap() {
                Executed::Fresh { outcome, .. } => outcome.map(|_| ()),
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(pay(member, host, "m1").await, Ok(()), "a member pays the host");
    assert_eq!(pay(other, host, "o1").await, Err(Refusal::DealTagInvalid), "not a member");
    assert_eq!(pay(member, other, "m2").await, Err(Refusal::DealTagInvalid), "not the host");
    // The member leaves; an older event arriving late does not bring them back.
    let later = now + chrono::Duration::seconds(2);
    assert!(s.record_deal_parties(&party(vec![host]), later, ("dp", Uuid::now_v7())).await.unwrap());
    assert!(!s.record_deal_parties(&party(vec![host, member]), now, ("dp", Uuid::now_v7())).await.unwrap());
    assert_eq!(pay(member, host, "m3").await, Err(Refusal::DealTagInvalid), "no longer a member");
    assert!(s.audit().await.unwrap().violations.is_empty());
}

#[tokio::test]
async fn deal_parties_on_sqlite() {
    let (s, _dir) = sqlite().await;
    deal_parties(s).await;
}

#[tokio::test]
async fn deal_parties_on_postgres() {
    let Some(s) = postgres("deal_parties_on_postgres").await else { return };
    deal_parties(s).await;
}
