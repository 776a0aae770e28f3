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

use crate::{consumer::DealParties, events::CoinsReceived};

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
    pub fn kind(&self) -> MovementKind {
        match self {
            Movement::Charge { .. } => MovementKind::Charge,
            Movement::Withdraw { .. } => MovementKind::Withdraw,
            Movement::Transfer { .. } => MovementKind::Transfer,
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
pub enum MovementKind {
    Charge,
    Withdraw,
    Transfer,
}

impl MovementKind {
    /// As stored in `journal_entries.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Charge => "charge",
            MovementKind::Withdraw => "withdraw",
            MovementKind::Transfer => "transfer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The wallet (charge: the bank account) holds less than the amount.
    InsufficientFunds,
    /// A holder of the movement has no accounts.
    NoSuchHolder,
    /// The transfer names a deal, but the deal is unknown, the payer is not its member, or the
    /// receiver is not its host.
    DealTagInvalid,
}

impl Refusal {
    /// As stored with the idempotency key (`idempotency_keys.refusal`).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::InsufficientFunds => "insufficient_funds",
            Refusal::NoSuchHolder => "no_such_holder",
            Refusal::DealTagInvalid => "deal_tag_invalid",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [Refusal::InsufficientFunds, Refusal::NoSuchHolder, Refusal::DealTagInvalid].into_iter().find(|r| r.as_str() == stored)
    }
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

/// The answer stored with an idempotency key: the HTTP status and body exactly as first sent, and
/// what was refused, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: String,
    pub refusal: Option<Refusal>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// Done now: money moved (the receipt), or the refusal was recorded; `answer` is what was
    /// stored with the key.
    Fresh { outcome: Result<Receipt, Refusal>, answer: StoredAnswer },
    /// The key was seen before with the same request: its stored answer.
    Replayed(StoredAnswer),
    /// The key was seen before with a different request.
    KeyReused,
}

/// Why a holder could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another holder has this login id (accounts hands out each login id once, so the wallet's
    /// records and accounts' disagree).
    #[error("login id {0:?} already belongs to another wallet holder")]
    LoginTaken(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<OpenError> for gonggu_kernel::ApiError {
    fn from(e: OpenError) -> Self {
        gonggu_kernel::ApiError::internal(e)
    }
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
    pub created_at: DateTime<Utc>,
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
    async fn open(&self, user_id: Uuid, login_id: &str, now: DateTime<Utc>, event: Option<(&str, Uuid)>) -> Result<bool, OpenError>;
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
    /// Remembers who takes part in a deal, from one of deals' events (`event`: consumer and event
    /// id, recorded as processed). An event older than what is known changes nothing.
    async fn record_deal_parties(&self, parties: &DealParties, occurred_at: DateTime<Utc>, event: (&str, Uuid)) -> sqlx::Result<bool>;
    /// How the outbox relay should mark events published (`None`: its own UPDATE).
    fn outbox_marker(&self) -> Option<Arc<dyn MarkPublished>>;
}

pub async fn open(db: &Db, signal: OutboxSignal) -> anyhow::Result<std::sync::Arc<dyn WalletStore>> {
    gonggu_kernel::events::create_event_tables(db).await?;
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

/// One wallet posting with its journal entry, as `history` selects it.
#[derive(sqlx::FromRow)]
struct HistoryRecord {
    seq: i64,
    entry_id: Uuid,
    kind: String,
    amount: i64,
    delta: i64,
    balance_after: i64,
    counterpart: Option<String>,
    memo: Option<String>,
    deal_id: Option<Uuid>,
    created_at: i64,
}

/// An account a movement locks, with its holder's login id.
#[derive(sqlx::FromRow)]
struct LockedAccount {
    id: i64,
    user_id: Uuid,
    kind: String,
    balance: i64,
    login_id: String,
}

#[derive(sqlx::FromRow)]
struct StoredKey {
    request_hash: Vec<u8>,
    status: Option<i32>,
    body: Option<String>,
    refusal: Option<String>,
}

impl StoredKey {
    /// The stored answer, or an error naming what is wrong with the row: a replay must answer
    /// exactly what was answered, never a made-up default.
    fn answer(self, claim: &IdempotencyClaim) -> sqlx::Result<StoredAnswer> {
        let corrupt =
            |what: String| sqlx::Error::Decode(format!("idempotency key {:?} of user {}: {what}", claim.key, claim.user_id).into());
        let (Some(status), Some(body)) = (self.status, self.body) else {
            return Err(corrupt("stored without its answer".into()));
        };
        let status = u16::try_from(status).ok().filter(|s| (200..=599).contains(s)).ok_or_else(|| corrupt(format!("status {status}")))?;
        let refusal = match self.refusal.as_deref() {
            None => None,
            Some(r) => Some(Refusal::parse(r).ok_or_else(|| corrupt(format!("unknown refusal {r:?}")))?),
        };
        if (status >= 400) != refusal.is_some() {
            return Err(corrupt(format!("status {status} with refusal {refusal:?}")));
        }
        Ok(StoredAnswer { status, body, refusal })
    }
}

#[derive(sqlx::FromRow)]
struct AccountBalance {
    kind: String,
    balance: i64,
}

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}

#[derive(sqlx::FromRow)]
struct Sum {
    total: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct UnbalancedEntry {
    seq: i64,
    total: i64,
    accounts: i64,
}

#[derive(sqlx::FromRow)]
struct DriftedAccount {
    id: i64,
    balance: i64,
    postings: i64,
}

#[derive(sqlx::FromRow)]
struct NegativeAccount {
    id: i64,
    balance: i64,
}

#[derive(sqlx::FromRow)]
struct StalePosting {
    entry_seq: i64,
    account_id: i64,
    balance_after: i64,
}

/// Reads `created_at` columns (Unix ms) back, refusing values that are no time at all.
fn time_from_ms(ms: i64, what: impl FnOnce() -> String) -> sqlx::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| sqlx::Error::Decode(format!("{}: created_at {ms} is not a time", what()).into()))
}

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
                let refusal = outcome.as_ref().err().copied();
                let evented = matches!(outcome, Ok((_, Some(_))));
                if let Ok((_, Some(event))) = &outcome {
                    (&mut **tx).enqueue(event).await?;
                }
                let claimed = sqlx::query(
                    "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at, status, body, refusal) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id, key) DO NOTHING",
                )
                .bind(claim.user_id).bind(&claim.key).bind(&claim.request_hash).bind(now.timestamp_millis())
                .bind(i32::from(status)).bind(&body).bind(refusal.map(Refusal::as_str))
                .execute(&mut **tx).await?;
                if claimed.rows_affected() == 0 {
                    return Ok(Attempt::Duplicate);
                }
                let answer = StoredAnswer { status, body, refusal };
                Ok(Attempt::Done(Executed::Fresh { outcome: outcome.map(|(receipt, _)| receipt), answer }, evented))
            }

            /// The answer stored with a key that was already used.
            async fn stored_answer<'e, E: sqlx::Executor<'e, Database = $db>>(conn: E, claim: &IdempotencyClaim) -> sqlx::Result<Executed> {
                let stored: StoredKey =
                    sqlx::query_as("SELECT request_hash, status, body, refusal FROM idempotency_keys WHERE user_id = $1 AND key = $2")
                        .bind(claim.user_id).bind(&claim.key).fetch_one(conn).await?;
                if stored.request_hash != claim.request_hash {
                    return Ok(Executed::KeyReused);
                }
                Ok(Executed::Replayed(stored.answer(claim)?))
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
                let debited: Option<i64> = sqlx::query_scalar(
                    "UPDATE ledger_accounts SET balance = balance - $1 WHERE id = $2 AND (kind = 'system' OR balance >= $1) RETURNING balance",
                )
                .bind(entry.amount).bind(from).fetch_optional(&mut **tx).await?;
                let Some(from_after) = debited else { return Ok(None) };
                let to_after: i64 = sqlx::query_scalar("UPDATE ledger_accounts SET balance = balance + $1 WHERE id = $2 RETURNING balance")
                    .bind(entry.amount).bind(to).fetch_one(&mut **tx).await?;
                let seq: i64 = sqlx::query_scalar(
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
                let rows: Vec<LockedAccount> = sqlx::query_as(concat!(
                    "SELECT a.id, a.user_id, a.kind, a.balance, h.login_id FROM ledger_accounts a JOIN holders h ON h.user_id = a.user_id \
                     WHERE (a.user_id = $1 OR (a.user_id = $2 AND a.kind = 'wallet')) ORDER BY a.id",
                    $lock_suffix
                ))
                .bind(user).bind(receiver).fetch_all(&mut **tx).await?;
                let find = |u: Uuid, kind: &str| rows.iter().find(|r| r.user_id == u && r.kind == kind);
                let (Some(wallet), Some(bank)) = (find(user, "wallet"), find(user, "bank")) else { return Ok(Err(Refusal::NoSuchHolder)) };
                let mut entry = EntryHead {
                    id: Uuid::now_v7(),
                    kind: m.kind().as_str(),
                    amount: m.amount(),
                    initiator: Some(user),
                    counterparty: None,
                    memo: None,
                    deal_id: None,
                    created_at: now,
                };
                let (from, to, event) = match m {
                    Movement::Charge { .. } => (bank.id, wallet.id, None),
                    Movement::Withdraw { .. } => (wallet.id, bank.id, None),
                    Movement::Transfer { to: receiver, memo, deal_id, .. } => {
                        let Some(theirs) = find(*receiver, "wallet") else { return Ok(Err(Refusal::NoSuchHolder)) };
                        if let Some(deal_id) = deal_id {
                            // Checked inside the movement's transaction, so the answer is stored
                            // with its key and a retry gets the same one.
                            let party: Option<i32> = sqlx::query_scalar(
                                "SELECT 1 FROM deal_parties d JOIN deal_party_members m ON m.deal_id = d.deal_id AND m.user_id = $2 \
                                 WHERE d.deal_id = $1 AND d.host_id = $3",
                            )
                            .bind(deal_id).bind(user).bind(receiver).fetch_optional(&mut **tx).await?;
                            if party.is_none() {
                                return Ok(Err(Refusal::DealTagInvalid));
                            }
                        }
                        entry.counterparty = Some(*receiver);
                        entry.memo = memo.clone();
                        entry.deal_id = *deal_id;
                        let event = Envelope::new(
                            &CoinsReceived {
                                entry_id: entry.id,
                                receiver_id: *receiver,
                                receiver_login_id: theirs.login_id.clone(),
                                sender_id: user,
                                sender_login_id: wallet.login_id.clone(),
                                amount: entry.amount,
                                memo: memo.clone(),
                                deal_id: *deal_id,
                            },
                            now,
                        );
                        (wallet.id, theirs.id, Some(event))
                    }
                };
                let Some((from_after, to_after)) = Self::post(tx, &entry, from, to).await? else {
                    return Ok(Err(Refusal::InsufficientFunds));
                };
                let (balance, bank_balance) = match m {
                    Movement::Charge { .. } => (to_after, from_after),
                    Movement::Withdraw { .. } => (from_after, to_after),
                    Movement::Transfer { .. } => (from_after, bank.balance),
                };
                Ok(Ok((Receipt { entry_id: entry.id, kind: entry.kind, amount: entry.amount, balance, bank_balance, created_at: now }, event)))
            }
        }

        #[async_trait]
        impl WalletStore for $name {
            async fn open(&self, user_id: Uuid, login_id: &str, now: DateTime<Utc>, event: Option<(&str, Uuid)>) -> Result<bool, OpenError> {
                if event.is_none() {
                    // The common case on every request: already open, and a read says so without
                    // taking the write lock.
                    let known: Option<i32> = sqlx::query_scalar("SELECT 1 FROM holders WHERE user_id = $1")
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
                // Only the holder already being open is expected; the login id's own unique index
                // raising means another holder has it.
                let inserted = sqlx::query("INSERT INTO holders (user_id, login_id, opened_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING")
                    .bind(user_id).bind(login_id).bind(now.timestamp_millis())
                    .execute(&mut *tx).await
                    .map_err(|e| if violates(&e, "holders_login_id_key") { OpenError::LoginTaken(login_id.to_owned()) } else { e.into() })?;
                if inserted.rows_affected() == 0 {
                    tx.commit().await?;
                    return Ok(false);
                }
                sqlx::query("INSERT INTO ledger_accounts (user_id, kind, balance) VALUES ($1, 'wallet', 0)")
                    .bind(user_id).execute(&mut *tx).await?;
                let bank: i64 = sqlx::query_scalar("INSERT INTO ledger_accounts (user_id, kind, balance) VALUES ($1, 'bank', 0) RETURNING id")
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
                sqlx::query_scalar("SELECT user_id FROM holders WHERE login_id = $1").bind(login_id).fetch_optional(&self.pool).await
            }

            async fn balances(&self, user_id: Uuid) -> sqlx::Result<Option<Balances>> {
                let rows: Vec<AccountBalance> = sqlx::query_as("SELECT kind, balance FROM ledger_accounts WHERE user_id = $1")
                    .bind(user_id).fetch_all(&self.pool).await?;
                if rows.is_empty() {
                    return Ok(None);
                }
                // A holder has both accounts from the moment it is opened, in one transaction.
                let get = |k: &str| {
                    rows.iter().find(|r| r.kind == k).map(|r| r.balance).ok_or_else(|| {
                        sqlx::Error::Decode(format!("holder {user_id} has ledger accounts but no {k} account").into())
                    })
                };
                Ok(Some(Balances { balance: get("wallet")?, bank_balance: get("bank")? }))
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
                    "SELECT e.seq, e.id AS entry_id, e.kind, e.amount, p.amount AS delta, p.balance_after, \
                     CASE WHEN e.initiator = ",
                );
                b.push_bind(user_id);
                b.push(
                    " THEN cp.login_id ELSE ini.login_id END AS counterpart, e.memo, e.deal_id, e.created_at \
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
                let rows: Vec<HistoryRecord> = b.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter()
                    .map(|r| {
                        Ok(HistoryRow {
                            created_at: time_from_ms(r.created_at, || format!("journal entry {}", r.entry_id))?,
                            seq: r.seq,
                            entry_id: r.entry_id,
                            kind: r.kind,
                            amount: r.amount,
                            delta: r.delta,
                            balance_after: r.balance_after,
                            counterpart: r.counterpart,
                            memo: r.memo,
                            deal_id: r.deal_id,
                        })
                    })
                    .collect()
            }

            async fn total_user_money(&self) -> sqlx::Result<i64> {
                let sum: Sum = sqlx::query_as("SELECT CAST(SUM(balance) AS BIGINT) AS total FROM ledger_accounts WHERE kind <> 'system'")
                    .fetch_one(&self.pool).await?;
                // No holders yet: the sum of nothing.
                Ok(sum.total.unwrap_or(0))
            }

            async fn count_entries(&self, kind: &str) -> sqlx::Result<i64> {
                let count: Count = sqlx::query_as("SELECT COUNT(*) AS n FROM journal_entries WHERE kind = $1")
                    .bind(kind).fetch_one(&self.pool).await?;
                Ok(count.n)
            }

            async fn prune_keys(&self, before: DateTime<Utc>) -> sqlx::Result<u64> {
                Ok(sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind(before.timestamp_millis()).execute(&self.pool).await?.rows_affected())
            }

            async fn record_deal_parties(&self, parties: &DealParties, occurred_at: DateTime<Utc>, event: (&str, Uuid)) -> sqlx::Result<bool> {
                let mut tx = self.pool.begin_with($begin).await?;
                if !(&mut *tx).claim_event(event.0, event.1).await? {
                    return Ok(false);
                }
                let newer = sqlx::query(
                    "INSERT INTO deal_parties (deal_id, host_id, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (deal_id) DO UPDATE SET host_id = excluded.host_id, updated_at = excluded.updated_at \
                     WHERE deal_parties.updated_at <= excluded.updated_at",
                )
                .bind(parties.deal_id).bind(parties.host_id).bind(occurred_at.timestamp_millis())
                .execute(&mut *tx).await?;
                if newer.rows_affected() == 0 {
                    tx.commit().await?;
                    return Ok(false);
                }
                sqlx::query("DELETE FROM deal_party_members WHERE deal_id = $1").bind(parties.deal_id).execute(&mut *tx).await?;
                for member in &parties.member_ids {
                    sqlx::query("INSERT INTO deal_party_members (deal_id, user_id) VALUES ($1, $2) ON CONFLICT (deal_id, user_id) DO NOTHING")
                        .bind(parties.deal_id).bind(member).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            fn outbox_marker(&self) -> Option<Arc<dyn MarkPublished>> {
                self.batch.as_ref().map(|tx| Arc::new(WriterMarker(tx.clone())) as Arc<dyn MarkPublished>)
            }

            async fn audit(&self) -> sqlx::Result<Audit> {
                let mut audit = Audit::default();
                let accounts: Count = sqlx::query_as("SELECT COUNT(*) AS n FROM ledger_accounts").fetch_one(&self.pool).await?;
                let entries: Count = sqlx::query_as("SELECT COUNT(*) AS n FROM journal_entries").fetch_one(&self.pool).await?;
                audit.accounts = accounts.n;
                audit.entries = entries.n;
                let unbalanced: Vec<UnbalancedEntry> = sqlx::query_as(
                    "SELECT e.seq, CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) AS total, COUNT(p.account_id) AS accounts FROM journal_entries e \
                     LEFT JOIN postings p ON p.entry_seq = e.seq GROUP BY e.seq \
                     HAVING COALESCE(SUM(p.amount), 0) <> 0 OR COUNT(p.account_id) < 2",
                )
                .fetch_all(&self.pool).await?;
                for UnbalancedEntry { seq, total, accounts } in unbalanced {
                    audit.violations.push(format!("journal entry {seq}: postings sum to {total} over {accounts} accounts (must be 0 over at least 2)"));
                }
                let drift: Vec<DriftedAccount> = sqlx::query_as(
                    "SELECT a.id, a.balance, CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) AS postings FROM ledger_accounts a \
                     LEFT JOIN postings p ON p.account_id = a.id GROUP BY a.id, a.balance \
                     HAVING a.balance <> COALESCE(SUM(p.amount), 0)",
                )
                .fetch_all(&self.pool).await?;
                for DriftedAccount { id, balance, postings } in drift {
                    audit.violations.push(format!("account {id}: balance {balance} but its postings sum to {postings}"));
                }
                let negative: Vec<NegativeAccount> = sqlx::query_as("SELECT id, balance FROM ledger_accounts WHERE kind <> 'system' AND balance < 0")
                    .fetch_all(&self.pool).await?;
                for NegativeAccount { id, balance } in negative {
                    audit.violations.push(format!("account {id}: negative balance {balance}"));
                }
                // The system account always exists, so the sum is never of nothing.
                let sum: Sum = sqlx::query_as("SELECT CAST(SUM(balance) AS BIGINT) AS total FROM ledger_accounts").fetch_one(&self.pool).await?;
                match sum.total {
                    Some(0) => {}
                    Some(total) => audit.violations.push(format!("all balances sum to {total} (must be 0)")),
                    None => audit.violations.push("no ledger accounts at all (the system account is missing)".to_owned()),
                }
                let stale: Vec<StalePosting> = sqlx::query_as(
                    "SELECT p.entry_seq, p.account_id, p.balance_after FROM postings p \
                     JOIN (SELECT account_id, MAX(entry_seq) AS last FROM postings GROUP BY account_id) l \
                       ON l.account_id = p.account_id AND l.last = p.entry_seq \
                     JOIN ledger_accounts a ON a.id = p.account_id WHERE a.balance <> p.balance_after",
                )
                .fetch_all(&self.pool).await?;
                for StalePosting { entry_seq, account_id, balance_after } in stale {
                    audit.violations.push(format!("account {account_id}: last posting (entry {entry_seq}) left {balance_after}, balance differs"));
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

/// Whether `e` is a unique violation of `constraint`. PostgreSQL names the constraint; SQLite
/// does not, so there the caller's conflict target (which absorbs every other expected
/// conflict) is what leaves this one constraint.
fn violates(e: &sqlx::Error, constraint: &str) -> bool {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => d.constraint().is_none_or(|c| c == constraint),
        _ => false,
    }
}
