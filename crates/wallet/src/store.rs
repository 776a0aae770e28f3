//! Wallet storage: the ledger. One trait, one implementation per backend, generated from the same
//! SQL by one macro; `tests/store.rs` and the bank test run against both.
//!
//! Every movement is one transaction: find and lock its accounts in id order (one statement), move
//! money with guarded updates (`balance >= amount`; the database's CHECK forbids a negative balance
//! regardless), write the journal entry and its postings, the event, and last the idempotency key
//! with the stored answer — a key that already exists undoes the whole try (see `execute_in`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gonggu_kernel::{
    db::Db,
    events::{Envelope, MarkPublished, OutboxExt, OutboxSignal},
};
use std::sync::Arc;

use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::events::CoinsReceived;

pub const OPENING_BANK_BALANCE: i64 = 100_000;
const SYSTEM_ACCOUNT: i64 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Movement {
    /// Bank → wallet.
    Charge { user_id: Uuid, amount: i64 },
    /// Wallet → bank.
    Withdraw { user_id: Uuid, amount: i64 },
    /// Wallet → another holder's wallet.
    Transfer { from: Uuid, to: Uuid, amount: i64, memo: Option<String>, deal_id: Option<Uuid> },
}

impl Movement {
    pub fn initiator(&self) -> Uuid {
        match self {
            Movement::Charge { user_id, .. } | Movement::Withdraw { user_id, .. } => *user_id,
            Movement::Transfer { from, .. } => *from,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            Movement::Charge { .. } => "charge",
            Movement::Withdraw { .. } => "withdraw",
            Movement::Transfer { .. } => "transfer",
        }
    }
    fn amount(&self) -> i64 {
        match self {
            Movement::Charge { amount, .. } | Movement::Withdraw { amount, .. } | Movement::Transfer { amount, .. } => *amount,
        }
    }
}

/// A committed movement, as the initiator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub entry_id: Uuid,
    pub kind: &'static str,
    pub amount: i64,
    /// The initiator's wallet and bank balances right after the movement.
    pub balance: i64,
    pub bank_balance: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The wallet (charge: the bank account) holds less than the amount.
    InsufficientFunds,
    /// A holder of the movement has no accounts.
    NoSuchHolder,
}

/// The request's identity for idempotency: per user and key, with a hash of what was asked.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub user_id: Uuid,
    pub key: String,
    pub request_hash: Vec<u8>,
}

/// Turns the outcome into the HTTP answer (status, JSON body) that is stored with the key.
pub type Render = Arc<dyn Fn(Result<&Receipt, Refusal>) -> (u16, String) + Send + Sync>;

/// One movement waiting for the SQLite group-commit writer.
struct Job {
    movement: Movement,
    claim: IdempotencyClaim,
    now: DateTime<Utc>,
    render: Render,
    reply: tokio::sync::oneshot::Sender<sqlx::Result<(Executed, bool)>>,
}

/// What the SQLite writer does: movements, and the outbox relay's "published" marks, which ride
/// in the same commits instead of waiting for the write lock between them.
enum Work {
    Move(Job),
    MarkPublished { up_to: i64, reply: tokio::sync::oneshot::Sender<sqlx::Result<()>> },
}

/// Hands the outbox relay's marks to the group-commit writer.
struct WriterMarker(tokio::sync::mpsc::UnboundedSender<Work>);

#[async_trait]
impl MarkPublished for WriterMarker {
    async fn mark_published(&self, up_to: i64) -> anyhow::Result<()> {
        let (reply, done) = tokio::sync::oneshot::channel();
        self.0.send(Work::MarkPublished { up_to, reply }).map_err(|_| anyhow::anyhow!("wallet writer stopped"))?;
        Ok(done.await.map_err(|_| anyhow::anyhow!("wallet writer stopped"))??)
    }
}

/// Most movements one SQLite commit carries.
const MAX_BATCH: usize = 64;
/// How long the outbox relay's marks wait for a movement to share a commit with.
const MARK_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// Done now (money moved, or the refusal was recorded).
    Fresh { status: u16, body: String },
    /// The key was seen before with the same request: its stored answer.
    Replayed { status: u16, body: String },
    /// The key was seen before with a different request.
    KeyReused,
}

/// What one try of a movement came to inside its transaction.
enum Attempt {
    /// Ready to commit; the bool says whether an event was queued.
    Done(Executed, bool),
    /// The key was already used: undo everything the try wrote, then answer from the stored row.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balances {
    pub balance: i64,
    pub bank_balance: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    All,
    Sent,
    Received,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Newest,
    Amount,
}

#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub direction: Direction,
    pub sort: SortBy,
    /// Unix milliseconds, inclusive / exclusive.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Keyset position: the last row's (amount, seq) for `Amount`, seq for `Newest`.
    pub after: Option<(i64, i64)>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub seq: i64,
    pub entry_id: Uuid,
    pub kind: String,
    pub amount: i64,
    /// Signed change of the user's wallet.
    pub delta: i64,
    pub balance_after: i64,
    pub counterpart: Option<String>,
    pub memo: Option<String>,
    pub deal_id: Option<Uuid>,
    pub created_at_ms: i64,
}

/// What `gonggu wallet verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    pub accounts: i64,
    pub entries: i64,
    pub violations: Vec<String>,
}

#[async_trait]
pub trait WalletStore: Send + Sync {
    /// Opens a wallet and bank account (with the opening deposit) unless the holder has them.
    /// `event` is the `UserRegistered` id when opened from the event (recorded as processed).
    async fn open(&self, user_id: Uuid, login_id: &str, now: DateTime<Utc>, event: Option<(&str, Uuid)>) -> sqlx::Result<bool>;
    async fn holder_by_login(&self, login_id: &str) -> sqlx::Result<Option<Uuid>>;
    async fn balances(&self, user_id: Uuid) -> sqlx::Result<Option<Balances>>;
    async fn execute(&self, movement: &Movement, claim: &IdempotencyClaim, now: DateTime<Utc>, render: Render) -> sqlx::Result<Executed>;
    async fn history(&self, user_id: Uuid, q: &HistoryQuery) -> sqlx::Result<Vec<HistoryRow>>;
    /// Sum of every holder's wallet and bank balance (what the system account owes).
    async fn total_user_money(&self) -> sqlx::Result<i64>;
    async fn count_entries(&self, kind: &str) -> sqlx::Result<i64>;
    /// Forgets idempotency keys older than `before`.
    async fn prune_keys(&self, before: DateTime<Utc>) -> sqlx::Result<u64>;
    async fn audit(&self) -> sqlx::Result<Audit>;
    /// How the outbox relay should mark events published (`None`: its own UPDATE).
    fn outbox_marker(&self) -> Option<Arc<dyn MarkPublished>>;
}

pub async fn open(db: &Db, signal: OutboxSignal) -> anyhow::Result<std::sync::Arc<dyn WalletStore>> {
    db.migrate(&sqlx::migrate!("./migrations/sqlite"), &sqlx::migrate!("./migrations/postgres")).await?;
    Ok(match db {
        Db::Sqlite(pool) => {
            // SQLite has one writer and fsyncs every commit (synchronous = FULL), so movements
            // that arrive together share one transaction and one fsync ("group commit"); each
            // keeps its own savepoint, journal entry, idempotency key and answer, and no answer
            // leaves before its commit is durable.
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(SqliteWalletStore::write_batches(pool.clone(), signal.clone(), rx));
            std::sync::Arc::new(SqliteWalletStore { pool: pool.clone(), signal, batch: Some(tx) })
        }
        Db::Postgres(pool) => std::sync::Arc::new(PgWalletStore { pool: pool.clone(), signal, batch: None }),
    })
}

type HistoryTuple = (i64, Uuid, String, i64, i64, i64, Option<String>, Option<String>, Option<Uuid>, i64);

macro_rules! sql_wallet_store {
    ($name:ident, $db:ty, $begin:literal, $lock_suffix:literal) => {
        pub struct $name {
            pool: sqlx::Pool<$db>,
            signal: OutboxSignal,
            batch: Option<tokio::sync::mpsc::UnboundedSender<Work>>,
        }

        impl $name {
            /// One movement inside an open transaction. The idempotency key is written last, together
            /// with its answer: if it already exists (0 rows) the caller undoes everything this wrote
            /// and answers from the stored row. On PostgreSQL a concurrent duplicate waits on the key's
            /// unique index until the first transaction commits, then sees the conflict.
            async fn execute_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                m: &Movement,
                claim: &IdempotencyClaim,
                now: DateTime<Utc>,
                render: &Render,
            ) -> sqlx::Result<Attempt> {
                let outcome = Self::apply(tx, m, now).await?;
                let (status, body) = match &outcome {
                    Ok((receipt, _)) => render(Ok(receipt)),
                    Err(refusal) => render(Err(*refusal)),
                };
                let evented = matches!(outcome, Ok((_, Some(_))));
                if let Ok((_, Some(event))) = &outcome {
                    (&mut **tx).enqueue(event).await?;
                }
                let claimed = sqlx::query(
                    "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at, status, body) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(claim.user_id).bind(&claim.key).bind(&claim.request_hash).bind(now.timestamp_millis())
                .bind(status as i32).bind(&body)
                .execute(&mut **tx).await?;
                if claimed.rows_affected() == 0 {
                    return Ok(Attempt::Duplicate);
                }
                Ok(Attempt::Done(Executed::Fresh { status, body }, evented))
            }

            /// The answer stored with a key that was already used.
            async fn stored_answer<'e, E: sqlx::Executor<'e, Database = $db>>(conn: E, claim: &IdempotencyClaim) -> sqlx::Result<Executed> {
                let (hash, status, body): (Vec<u8>, Option<i32>, Option<String>) =
                    sqlx::query_as("SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2")
                        .bind(claim.user_id).bind(&claim.key).fetch_one(conn).await?;
                if hash != claim.request_hash {
                    return Ok(Executed::KeyReused);
                }
                Ok(Executed::Replayed { status: status.unwrap_or(500) as u16, body: body.unwrap_or_default() })
            }

            /// The group-commit writer: takes whatever movements are waiting (up to
            /// `MAX_BATCH`), runs each in its own savepoint, commits once, then answers.
            #[allow(dead_code)]
            async fn write_batches(pool: sqlx::Pool<$db>, signal: OutboxSignal, mut rx: tokio::sync::mpsc::UnboundedReceiver<Work>) {
                while let Some(first) = rx.recv().await {
                    let mut jobs = vec![];
                    let mut marks = vec![];
                    let mut next = Some(first);
                    while let Some(work) = next.take() {
                        match work {
                            Work::Move(job) => jobs.push(job),
                            Work::MarkPublished { up_to, reply } => marks.push((up_to, reply)),
                        }
                        if jobs.len() < MAX_BATCH {
                            next = rx.try_recv().ok();
                        }
                        if next.is_none() && jobs.is_empty() {
                            // Only marks so far: they are not urgent (a lost one only means an
                            // event is sent again, and consumers drop repeats), so give a movement
                            // a moment to come and share the commit's fsync.
                            next = tokio::time::timeout(MARK_WAIT, rx.recv()).await.ok().flatten();
                        }
                    }
                    let mut results: Vec<sqlx::Result<(Executed, bool)>> = Vec::with_capacity(jobs.len());
                    let committed: sqlx::Result<()> = async {
                        let mut tx = pool.begin_with($begin).await?;
                        if let Some(up_to) = marks.iter().map(|m| m.0).max() {
                            sqlx::query("UPDATE outbox SET published_at = $1 WHERE published_at IS NULL AND seq <= $2")
                                .bind(Utc::now()).bind(up_to).execute(&mut *tx).await?;
                        }
                        for job in &jobs {
                            sqlx::query("SAVEPOINT movement").execute(&mut *tx).await?;
                            let r = match Self::execute_in(&mut tx, &job.movement, &job.claim, job.now, &job.render).await {
                                Ok(Attempt::Done(executed, evented)) => Ok((executed, evented)),
                                Ok(Attempt::Duplicate) => {
                                    sqlx::query("ROLLBACK TO SAVEPOINT movement").execute(&mut *tx).await?;
                                    Self::stored_answer(&mut *tx, &job.claim).await.map(|e| (e, false))
                                }
                                Err(e) => {
                                    sqlx::query("ROLLBACK TO SAVEPOINT movement").execute(&mut *tx).await?;
                                    Err(e)
                                }
                            };
                            sqlx::query("RELEASE SAVEPOINT movement").execute(&mut *tx).await?;
                            results.push(r);
                        }
                        tx.commit().await
                    }
                    .await;
                    if let Err(e) = committed {
                        let msg = e.to_string();
                        for job in jobs {
                            let _ = job.reply.send(Err(sqlx::Error::Protocol(format!("batch commit failed: {msg}"))));
                        }
                        for (_, reply) in marks {
                            let _ = reply.send(Err(sqlx::Error::Protocol(format!("batch commit failed: {msg}"))));
                        }
                        continue;
                    }
                    for (_, reply) in marks {
                        let _ = reply.send(Ok(()));
                    }
                    if results.iter().any(|r| matches!(r, Ok((_, true)))) {
                        signal.notify();
                    }
                    for (job, r) in jobs.into_iter().zip(results) {
                        let _ = job.reply.send(r);
                    }
                }
            }

            /// Moves `amount` from one account to another inside `tx` and journals it; `None` when
            /// `from` lacks the money. Callers hold the rows' locks (taken in id order, see `apply`).
            async fn post(
                tx: &mut sqlx::Transaction<'static, $db>,
                entry: &EntryHead,
                from: i64,
                to: i64,
            ) -> sqlx::Result<Option<(i64, i64)>> {
                let debited: Option<(i64,)> = sqlx::query_as(
                    "UPDATE ledger_accounts SET balance = balance - $1 WHERE id = $2 AND (kind = 'system' OR balance >= $1) RETURNING balance",
                )
                .bind(entry.amount).bind(from).fetch_optional(&mut **tx).await?;
                let Some((from_after,)) = debited else { return Ok(None) };
                let (to_after,): (i64,) = sqlx::query_as("UPDATE ledger_accounts SET balance = balance + $1 WHERE id = $2 RETURNING balance")
                    .bind(entry.amount).bind(to).fetch_one(&mut **tx).await?;
                let (seq,): (i64,) = sqlx::query_as(
                    "INSERT INTO journal_entries (id, kind, amount, initiator, counterparty, memo, deal_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
                )
                .bind(entry.id).bind(entry.kind).bind(entry.amount).bind(entry.initiator).bind(entry.counterparty)
                .bind(&entry.memo).bind(entry.deal_id).bind(entry.created_at.timestamp_millis())
                .fetch_one(&mut **tx).await?;
                sqlx::query("INSERT INTO postings (entry_seq, account_id, amount, balance_after) VALUES ($1, $2, $3, $4), ($1, $5, $6, $7)")
                    .bind(seq).bind(from).bind(-entry.amount).bind(from_after)
                    .bind(to).bind(entry.amount).bind(to_after)
                    .execute(&mut **tx).await?;
                Ok(Some((from_after, to_after)))
            }

            async fn apply(
                tx: &mut sqlx::Transaction<'static, $db>,
                m: &Movement,
                now: DateTime<Utc>,
            ) -> sqlx::Result<Result<(Receipt, Option<Envelope>), Refusal>> {
                let user = m.initiator();
                let receiver = match m {
                    Movement::Transfer { to, .. } => *to,
                    _ => user,
                };
                // One statement finds and locks every row the movement touches — the initiator's
                // wallet and bank, the receiver's wallet — in id order, so that two opposite
                // transfers cannot deadlock; it also brings the holders' login ids for the event.
                let rows: Vec<(i64, Uuid, String, i64, String)> = sqlx::query_as(concat!(
                    "SELECT a.id, a.user_id, a.kind, a.balance, h.login_id FROM ledger_accounts a JOIN holders h ON h.user_id = a.user_id \
                     WHERE (a.user_id = $1 OR (a.user_id = $2 AND a.kind = 'wallet')) ORDER BY a.id",
                    $lock_suffix
                ))
                .bind(user).bind(receiver).fetch_all(&mut **tx).await?;
                let find = |u: Uuid, kind: &str| rows.iter().find(|r| r.1 == u && r.2 == kind);
                let (Some(wallet), Some(bank)) = (find(user, "wallet"), find(user, "bank")) else { return Ok(Err(Refusal::NoSuchHolder)) };
                let mut entry = EntryHead {
                    id: Uuid::now_v7(),
                    kind: m.kind(),
                    amount: m.amount(),
                    initiator: Some(user),
                    counterparty: None,
                    memo: None,
                    deal_id: None,
                    created_at: now,
                };
                let (from, to, event) = match m {
                    Movement::Charge { .. } => (bank.0, wallet.0, None),
                    Movement::Withdraw { .. } => (wallet.0, bank.0, None),
                    Movement::Transfer { to: receiver, memo, deal_id, .. } => {
                        let Some(theirs) = find(*receiver, "wallet") else { return Ok(Err(Refusal::NoSuchHolder)) };
                        entry.counterparty = Some(*receiver);
                        entry.memo = memo.clone();
                        entry.deal_id = *deal_id;
                        let event = Envelope::new(
                            &CoinsReceived {
                                entry_id: entry.id,
                                receiver_id: *receiver,
                                receiver_login_id: theirs.4.clone(),
                                sender_id: user,
                                sender_login_id: wallet.4.clone(),
                                amount: entry.amount,
                                memo: memo.clone(),
                                deal_id: *deal_id,
                            },
                            now,
                        );
                        (wallet.0, theirs.0, Some(event))
                    }
                };
                let Some((from_after, to_after)) = Self::post(tx, &entry, from, to).await? else {
                    return Ok(Err(Refusal::InsufficientFunds));
                };
                let (balance, bank_balance) = match m {
                    Movement::Charge { .. } => (to_after, from_after),
                    Movement::Withdraw { .. } => (from_after, to_after),
                    Movement::Transfer { .. } => (from_after, bank.3),
                };
                Ok(Ok((Receipt { entry_id: entry.id, kind: entry.kind, amount: entry.amount, balance, bank_balance, created_at: now }, event)))
            }
        }

        #[async_trait]
        impl WalletStore for $name {
            async fn open(&self, user_id: Uuid, login_id: &str, now: DateTime<Utc>, event: Option<(&str, Uuid)>) -> sqlx::Result<bool> {
                if event.is_none() {
                    // The common case on every request: already open, and a read says so without
                    // taking the write lock.
                    let known: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM holders WHERE user_id = $1")
                        .bind(user_id).fetch_optional(&self.pool).await?;
                    if known.is_some() {
                        return Ok(false);
                    }
                }
                let mut tx = self.pool.begin_with($begin).await?;
                if let Some((consumer, id)) = event {
                    if !(&mut *tx).claim_event(consumer, id).await? {
                        return Ok(false);
                    }
                }
                let inserted = sqlx::query("INSERT INTO holders (user_id, login_id, opened_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(user_id).bind(login_id).bind(now.timestamp_millis())
                    .execute(&mut *tx).await?;
                if inserted.rows_affected() == 0 {
                    tx.commit().await?;
                    return Ok(false);
                }
                let (_wallet,): (i64,) = sqlx::query_as("INSERT INTO ledger_accounts (user_id, kind, balance) VALUES ($1, 'wallet', 0) RETURNING id")
                    .bind(user_id).fetch_one(&mut *tx).await?;
                let (bank,): (i64,) = sqlx::query_as("INSERT INTO ledger_accounts (user_id, kind, balance) VALUES ($1, 'bank', 0) RETURNING id")
                    .bind(user_id).fetch_one(&mut *tx).await?;
                let entry = EntryHead {
                    id: Uuid::now_v7(),
                    kind: "opening",
                    amount: OPENING_BANK_BALANCE,
                    initiator: Some(user_id),
                    counterparty: None,
                    memo: None,
                    deal_id: None,
                    created_at: now,
                };
                Self::post(&mut tx, &entry, SYSTEM_ACCOUNT, bank).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn holder_by_login(&self, login_id: &str) -> sqlx::Result<Option<Uuid>> {
                let row: Option<(Uuid,)> = sqlx::query_as("SELECT user_id FROM holders WHERE login_id = $1")
                    .bind(login_id).fetch_optional(&self.pool).await?;
                Ok(row.map(|r| r.0))
            }

            async fn balances(&self, user_id: Uuid) -> sqlx::Result<Option<Balances>> {
                let rows: Vec<(String, i64)> = sqlx::query_as("SELECT kind, balance FROM ledger_accounts WHERE user_id = $1")
                    .bind(user_id).fetch_all(&self.pool).await?;
                if rows.is_empty() {
                    return Ok(None);
                }
                let get = |k: &str| rows.iter().find(|r| r.0 == k).map(|r| r.1).unwrap_or(0);
                Ok(Some(Balances { balance: get("wallet"), bank_balance: get("bank") }))
            }

            async fn execute(&self, m: &Movement, claim: &IdempotencyClaim, now: DateTime<Utc>, render: Render) -> sqlx::Result<Executed> {
                if let Some(batch) = &self.batch {
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    let job = Job { movement: m.clone(), claim: claim.clone(), now, render, reply };
                    batch.send(Work::Move(job)).map_err(|_| sqlx::Error::PoolClosed)?;
                    let (executed, _) = answer.await.map_err(|_| sqlx::Error::PoolClosed)??;
                    return Ok(executed);
                }
                let mut tx = self.pool.begin_with($begin).await?;
                match Self::execute_in(&mut tx, m, claim, now, &render).await? {
                    Attempt::Done(executed, evented) => {
                        tx.commit().await?;
                        if evented {
                            self.signal.notify();
                        }
                        Ok(executed)
                    }
                    Attempt::Duplicate => {
                        tx.rollback().await?;
                        Self::stored_answer(&self.pool, claim).await
                    }
                }
            }

            async fn history(&self, user_id: Uuid, q: &HistoryQuery) -> sqlx::Result<Vec<HistoryRow>> {
                let mut b = QueryBuilder::<$db>::new(
                    "SELECT e.seq, e.id, e.kind, e.amount, p.amount, p.balance_after, \
                     CASE WHEN e.initiator = ",
                );
                b.push_bind(user_id);
                b.push(
                    " THEN cp.login_id ELSE ini.login_id END, e.memo, e.deal_id, e.created_at \
                     FROM ledger_accounts a \
                     JOIN postings p ON p.account_id = a.id \
                     JOIN journal_entries e ON e.seq = p.entry_seq \
                     LEFT JOIN holders ini ON ini.user_id = e.initiator \
                     LEFT JOIN holders cp ON cp.user_id = e.counterparty \
                     WHERE a.kind = 'wallet' AND a.user_id = ",
                );
                b.push_bind(user_id);
                match q.direction {
                    Direction::All => {}
                    Direction::Sent => {
                        b.push(" AND e.kind = 'transfer' AND p.amount < 0");
                    }
                    Direction::Received => {
                        b.push(" AND e.kind = 'transfer' AND p.amount > 0");
                    }
                }
                if let Some(from) = q.from_ms {
                    b.push(" AND e.created_at >= ").push_bind(from);
                }
                if let Some(to) = q.to_ms {
                    b.push(" AND e.created_at < ").push_bind(to);
                }
                match (q.sort, q.after) {
                    (SortBy::Newest, Some((_, seq))) => {
                        b.push(" AND e.seq < ").push_bind(seq);
                    }
                    (SortBy::Amount, Some((amount, seq))) => {
                        b.push(" AND (e.amount < ").push_bind(amount);
                        b.push(" OR (e.amount = ").push_bind(amount);
                        b.push(" AND e.seq < ").push_bind(seq).push("))");
                    }
                    _ => {}
                }
                b.push(match q.sort {
                    SortBy::Newest => " ORDER BY e.seq DESC",
                    SortBy::Amount => " ORDER BY e.amount DESC, e.seq DESC",
                });
                b.push(" LIMIT ").push_bind(i64::from(q.limit));
                let rows: Vec<HistoryTuple> = b.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows
                    .into_iter()
                    .map(|r| HistoryRow {
                        seq: r.0,
                        entry_id: r.1,
                        kind: r.2,
                        amount: r.3,
                        delta: r.4,
                        balance_after: r.5,
                        counterpart: r.6,
                        memo: r.7,
                        deal_id: r.8,
                        created_at_ms: r.9,
                    })
                    .collect())
            }

            async fn total_user_money(&self) -> sqlx::Result<i64> {
                let (sum,): (Option<i64>,) = sqlx::query_as("SELECT CAST(SUM(balance) AS BIGINT) FROM ledger_accounts WHERE kind <> 'system'")
                    .fetch_one(&self.pool).await?;
                Ok(sum.unwrap_or(0))
            }

            async fn count_entries(&self, kind: &str) -> sqlx::Result<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM journal_entries WHERE kind = $1")
                    .bind(kind).fetch_one(&self.pool).await?;
                Ok(n)
            }

            async fn prune_keys(&self, before: DateTime<Utc>) -> sqlx::Result<u64> {
                Ok(sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind(before.timestamp_millis()).execute(&self.pool).await?.rows_affected())
            }

            fn outbox_marker(&self) -> Option<Arc<dyn MarkPublished>> {
                self.batch.as_ref().map(|tx| Arc::new(WriterMarker(tx.clone())) as Arc<dyn MarkPublished>)
            }

            async fn audit(&self) -> sqlx::Result<Audit> {
                let mut audit = Audit::default();
                let (accounts,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM ledger_accounts").fetch_one(&self.pool).await?;
                let (entries,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM journal_entries").fetch_one(&self.pool).await?;
                audit.accounts = accounts;
                audit.entries = entries;
                let unbalanced: Vec<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT e.seq, CAST(COALESCE(SUM(p.amount), 0) AS BIGINT), COUNT(p.account_id) FROM journal_entries e \
                     LEFT JOIN postings p ON p.entry_seq = e.seq GROUP BY e.seq \
                     HAVING COALESCE(SUM(p.amount), 0) <> 0 OR COUNT(p.account_id) < 2",
                )
                .fetch_all(&self.pool).await?;
                for (seq, sum, n) in unbalanced {
                    audit.violations.push(format!("journal entry {seq}: postings sum to {sum} over {n} accounts (must be 0 over at least 2)"));
                }
                let drift: Vec<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT a.id, a.balance, CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) FROM ledger_accounts a \
                     LEFT JOIN postings p ON p.account_id = a.id GROUP BY a.id, a.balance \
                     HAVING a.balance <> COALESCE(SUM(p.amount), 0)",
                )
                .fetch_all(&self.pool).await?;
                for (id, balance, sum) in drift {
                    audit.violations.push(format!("account {id}: balance {balance} but its postings sum to {sum}"));
                }
                let negative: Vec<(i64, i64)> = sqlx::query_as("SELECT id, balance FROM ledger_accounts WHERE kind <> 'system' AND balance < 0")
                    .fetch_all(&self.pool).await?;
                for (id, balance) in negative {
                    audit.violations.push(format!("account {id}: negative balance {balance}"));
                }
                let (total,): (Option<i64>,) = sqlx::query_as("SELECT CAST(SUM(balance) AS BIGINT) FROM ledger_accounts").fetch_one(&self.pool).await?;
                if total.unwrap_or(0) != 0 {
                    audit.violations.push(format!("all balances sum to {} (must be 0)", total.unwrap_or(0)));
                }
                let stale: Vec<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT p.entry_seq, p.account_id, p.balance_after FROM postings p \
                     JOIN (SELECT account_id, MAX(entry_seq) AS last FROM postings GROUP BY account_id) l \
                       ON l.account_id = p.account_id AND l.last = p.entry_seq \
                     JOIN ledger_accounts a ON a.id = p.account_id WHERE a.balance <> p.balance_after",
                )
                .fetch_all(&self.pool).await?;
                for (seq, id, after) in stale {
                    audit.violations.push(format!("account {id}: last posting (entry {seq}) left {after}, balance differs"));
                }
                Ok(audit)
            }
        }
    };
}

struct EntryHead {
    id: Uuid,
    kind: &'static str,
    amount: i64,
    initiator: Option<Uuid>,
    counterparty: Option<Uuid>,
    memo: Option<String>,
    deal_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

sql_wallet_store!(SqliteWalletStore, sqlx::Sqlite, "BEGIN IMMEDIATE", "");
sql_wallet_store!(PgWalletStore, sqlx::Postgres, "BEGIN", " FOR UPDATE OF a");
