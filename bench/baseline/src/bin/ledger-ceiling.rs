//! `ledger-ceiling`: the raw engine ceiling that `bench/wallet.sh` measures the wallet's
//! `POST /api/v1/wallet/transfers` against.
//!
//! It creates its own minimal ledger (accounts with `CHECK (balance >= 0)`, a journal with a
//! UNIQUE idempotency column, 50 accounts × 1,000,000) and runs N concurrent clients through
//! sqlx, one transfer per transaction, the same shape as the wallet's `execute` minus HTTP,
//! auth, idempotency-answer storage, outbox and history columns:
//!
//! ```text
//! BEGIN IMMEDIATE (SQLite) | BEGIN (PostgreSQL)
//!   SELECT id FROM accounts WHERE id IN (lo, hi) ORDER BY id FOR UPDATE   -- PostgreSQL only
//!   UPDATE accounts SET balance = balance - $amount WHERE id = $from AND balance >= $amount RETURNING balance
//!   UPDATE accounts SET balance = balance + $amount WHERE id = $to RETURNING balance
//!   INSERT INTO journal (idem, from_id, to_id, amount, created_at) VALUES (...) RETURNING seq
//! COMMIT
//! ```
//!
//! SQLite is opened like the wallet's file (WAL, synchronous=FULL, busy_timeout 10 s, foreign
//! keys, pool of 8); PostgreSQL like the wallet's pool (16 connections, READ COMMITTED).
//!
//! For finding where the application's time goes, `--extras` adds back, one by one, the other
//! statements the wallet ran per transfer before it was slimmed (see `Extras`; `--extras all` is
//! that old sequence). `--extras lean` is the wallet's statement sequence today (one locking
//! lookup, the key written once with its answer) and `batchrelay` the outbox relay as
//! `gonggu_kernel::events` runs it (one UPDATE per batch).
//! `--group-commit 64` hands the transfers to one writer task that commits up to 64 at a time,
//! each in a savepoint, as the wallet does on SQLite.
//!
//! At the end it checks that the sum of all balances is unchanged and that the journal holds one
//! row per committed transfer; it exits 1 otherwise. The last line of its output is a
//! `RESULT key=value ...` line for scripts.
//!
//! ```sh
//! ledger-ceiling --engine sqlite --url /tmp/ceiling.db --clients 32 --seconds 10
//! ledger-ceiling --engine postgres --url postgres://postgres@127.0.0.1:5432/bench --clients 32 --seconds 10
//! ```

use std::{
    collections::BTreeMap,
    str::FromStr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tokio::sync::Notify;
use uuid::Uuid;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Synchronous {
    Full,
    Normal,
    Off,
}

#[derive(Parser, Debug)]
#[command(about = "Raw ledger-transfer throughput of SQLite or PostgreSQL through sqlx (the wallet benchmark's ceiling).")]
struct Args {
    #[arg(long, value_enum)]
    engine: Engine,
    /// SQLite: a file path or a `sqlite:` URL (its tables are dropped and recreated).
    /// PostgreSQL: a `postgres://` URL; everything lives in schema `--schema`, dropped and recreated.
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Length of the measured window.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Transfers run before the measured window starts (not counted in transfers/s).
    #[arg(long, default_value_t = 1)]
    warmup_seconds: u64,
    #[arg(long, default_value_t = 50)]
    accounts: usize,
    #[arg(long, default_value_t = 1_000_000)]
    balance: i64,
    /// Largest transfer (amounts are uniform in 1..=max).
    #[arg(long, default_value_t = 1000)]
    max_amount: i64,
    /// Pool size. Default: 8 on SQLite (the wallet's WALLET_TUNING), 16 on PostgreSQL (kernel::db).
    #[arg(long)]
    pool: Option<u32>,
    /// Comma-separated statements of the wallet to add back: reads, idem, lookups, postings,
    /// balances, outbox, relay, batchrelay, writerrelay, lean; `all` = every one of the first six;
    /// `none` (default) = the minimal shape. See `Extras`.
    #[arg(long, default_value = "none")]
    extras: String,
    /// SQLite only (diagnostic): the wallet uses FULL.
    #[arg(long, value_enum, default_value = "full")]
    synchronous: Synchronous,
    /// PostgreSQL only: the schema to (re)create.
    #[arg(long, default_value = "ledger_ceiling")]
    schema: String,
    /// A block device name (e.g. `vda`) whose flush requests are counted during the window
    /// (`/sys/block/<dev>/stat`), as a proxy for fsyncs reaching the disk.
    #[arg(long)]
    block_dev: Option<String>,
    /// Group commit (0 = off): the clients hand their transfers to one writer task, which runs up
    /// to this many waiting transfers in one transaction, each in its own savepoint, and commits
    /// once — what the wallet does on SQLite (`write_batches`, at most 64). The pool reads
    /// (`reads`, and `lean`'s recipient lookup) stay in the clients.
    #[arg(long, default_value_t = 0)]
    group_commit: usize,
    /// Diagnostic: one write transaction at a time inside this process (a tokio mutex held from
    /// BEGIN to COMMIT, and around each relay UPDATE), instead of SQLite's busy handler, which
    /// makes waiting connections sleep and poll. Reads outside transactions stay concurrent.
    #[arg(long)]
    serialize_writes: bool,
    /// Processes with this name (`/proc/<pid>/comm`) have their CPU time counted during the
    /// window as "server CPU", e.g. `postgres`.
    #[arg(long)]
    server_comm: Option<String>,
}

/// The wallet's statements beyond the minimal transfer, each switchable for attribution.
#[derive(Copy, Clone, Debug, Default)]
struct Extras {
    /// Before the transaction, on the pool: `ensure_open` (`SELECT 1 FROM holders WHERE user_id`)
    /// and `holder_by_login` (`SELECT user_id FROM holders WHERE login_id`).
    reads: bool,
    /// `INSERT INTO idempotency_keys … ON CONFLICT DO NOTHING` first, `UPDATE idempotency_keys SET
    /// status, body` (a ~300-byte stored answer) last.
    idem: bool,
    /// `account_ids` for both holders, `SELECT user_id, login_id FROM holders WHERE user_id IN`,
    /// and on SQLite the row-locking SELECT (which has no `FOR UPDATE` there, so locks nothing).
    lookups: bool,
    /// `INSERT INTO postings` (two rows, two foreign keys each).
    postings: bool,
    /// `balances_in`: `SELECT kind, balance FROM accounts WHERE user_id` after the move.
    balances: bool,
    /// `INSERT INTO outbox` of a `CoinsReceived` envelope.
    outbox: bool,
    /// A relay task like `gonggu_kernel::events::spawn_relay` as it is now: woken after each
    /// commit (polling every second anyway), it selects up to 100 unpublished rows and marks them
    /// published — on SQLite with one autocommit UPDATE for the batch (`… WHERE published_at IS
    /// NULL AND seq <= last`), on PostgreSQL with one UPDATE per row in the batch's transaction.
    relay: bool,
    /// Proposed for PostgreSQL: the relay marks the batch with one UPDATE (`seq = ANY($1)`) in
    /// its transaction. On SQLite the same as `relay` (which already does that).
    batch_relay: bool,
    /// Proposed for SQLite, with `--group-commit`: the relay reads on the pool but hands its
    /// "mark published up to seq" to the group-commit writer, which runs it inside its next
    /// batch — so the relay never waits for the write lock in SQLite's busy handler.
    writer_relay: bool,
    /// Not the wallet's sequence but the one proposed for `crates/wallet/src/store.rs`: the same
    /// rows written (journal, postings, outbox, the idempotency key with its stored answer) in
    /// fewer statements — see `body_lean`.
    lean: bool,
}

impl FromStr for Extras {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut e = Extras::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "none" => {}
                "all" => {
                    e.reads = true;
                    e.idem = true;
                    e.lookups = true;
                    e.postings = true;
                    e.balances = true;
                    e.outbox = true;
                }
                "reads" => e.reads = true,
                "idem" => e.idem = true,
                "lookups" => e.lookups = true,
                "postings" => e.postings = true,
                "balances" => e.balances = true,
                "outbox" => e.outbox = true,
                "relay" => e.relay = true,
                "batchrelay" => e.batch_relay = true,
                "writerrelay" => e.writer_relay = true,
                "lean" => e.lean = true,
                other => {
                    bail!(
                        "unknown extra {other:?} (reads, idem, lookups, postings, balances, outbox, relay, batchrelay, writerrelay, lean, all, none)"
                    )
                }
            }
        }
        if e.any_relay() && !(e.outbox || e.lean) {
            bail!("the relay extras need `outbox` or `lean`");
        }
        if [e.relay, e.batch_relay, e.writer_relay].iter().filter(|x| **x).count() > 1 {
            bail!("extras `relay`, `batchrelay` and `writerrelay` exclude each other");
        }
        if e.lean && (e.reads || e.idem || e.lookups || e.postings || e.balances || e.outbox) {
            bail!("extra `lean` is a whole statement sequence of its own; combine it only with `relay` or `batchrelay`");
        }
        Ok(e)
    }
}

impl Extras {
    fn label(&self) -> String {
        let mut v = Vec::new();
        for (on, name) in [
            (self.reads, "reads"),
            (self.idem, "idem"),
            (self.lookups, "lookups"),
            (self.postings, "postings"),
            (self.balances, "balances"),
            (self.outbox, "outbox"),
            (self.relay, "relay"),
            (self.batch_relay, "batchrelay"),
            (self.writer_relay, "writerrelay"),
            (self.lean, "lean"),
        ] {
            if on {
                v.push(name);
            }
        }
        if v.is_empty() {
            "none".into()
        } else {
            v.join("+")
        }
    }
    fn needs_bank(&self) -> bool {
        self.lookups || self.balances || self.lean
    }
    fn any_relay(&self) -> bool {
        self.relay || self.batch_relay || self.writer_relay
    }
}

struct User {
    user_id: Uuid,
    login_id: String,
    wallet: i64,
}

struct World {
    users: Vec<User>,
    extras: Extras,
    max_amount: i64,
    /// `--serialize-writes`.
    writer: Option<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct Counters {
    committed: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
    measuring: AtomicBool,
    stop: AtomicBool,
    first_errors: Mutex<Vec<String>>,
}

impl Counters {
    fn error(&self, e: &sqlx::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().unwrap();
        if first.len() < 5 {
            first.push(e.to_string());
        }
    }
}

/// The stored idempotency answer and the outbox payload: about the size of the wallet's.
fn receipt_body(key: &str, amount: i64, balance: i64, to: &str) -> String {
    format!(
        r#"{{"id":"{}","kind":"transfer","amount":{amount},"balance":{balance},"bank_balance":0,"to_login_id":"{to}","memo":null,"deal_id":null,"created_at":"{}","key":"{key}"}}"#,
        Uuid::now_v7(),
        chrono::Utc::now().to_rfc3339()
    )
}

fn event_payload(from: &User, to: &User, amount: i64) -> String {
    format!(
        r#"{{"entry_id":"{}","receiver_id":"{}","receiver_login_id":"{}","sender_id":"{}","sender_login_id":"{}","amount":{amount},"memo":null,"deal_id":null}}"#,
        Uuid::now_v7(),
        to.user_id,
        to.login_id,
        from.user_id,
        from.login_id
    )
}

const REQUEST_HASH: [u8; 32] = [7; 32];

/// How one transfer ended inside its transaction.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Committed,
    /// Not enough money: nothing moved (the refusal is stored with the key when `idem` is on).
    Refused,
    /// `lean` only: the idempotency key existed, so everything the transfer wrote is undone.
    Duplicate,
}

/// Work for the group-commit writer (`--group-commit`).
enum Job {
    Transfer {
        from: usize,
        to: usize,
        amount: i64,
        key: String,
        reply: tokio::sync::oneshot::Sender<sqlx::Result<Outcome>>,
    },
    /// `writerrelay`: mark the outbox published up to `last`, inside the writer's batch.
    MarkPublished {
        last: i64,
        reply: tokio::sync::oneshot::Sender<sqlx::Result<Outcome>>,
    },
}

impl Job {
    fn reply(self, r: sqlx::Result<Outcome>) {
        let _ = match self {
            Job::Transfer { reply, .. } | Job::MarkPublished { reply, .. } => reply.send(r),
        };
    }
}

macro_rules! engine {
    ($module:ident, $db:ty, $begin:literal, $pg:literal) => {
        mod $module {
            use super::*;

            pub type Pool = sqlx::Pool<$db>;
            type Tx = sqlx::Transaction<'static, $db>;

            /// The reads the wallet's service makes on the pool before the transaction.
            async fn pre_reads(pool: &Pool, w: &World, a: &User, b: &User) -> sqlx::Result<()> {
                if w.extras.reads {
                    let _: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM holders WHERE user_id = $1").bind(a.user_id).fetch_optional(pool).await?;
                }
                if w.extras.reads || w.extras.lean {
                    let _: Option<(Uuid,)> =
                        sqlx::query_as("SELECT user_id FROM holders WHERE login_id = $1").bind(&b.login_id).fetch_optional(pool).await?;
                }
                Ok(())
            }

            /// One transfer, in the caller's transaction (not committed here).
            async fn body(tx: &mut Tx, w: &World, from: usize, to: usize, amount: i64, key: &str) -> sqlx::Result<Outcome> {
                if w.extras.lean {
                    return body_lean(tx, w, from, to, amount, key).await;
                }
                let ex = w.extras;
                let (a, b) = (&w.users[from], &w.users[to]);
                let now = chrono::Utc::now();
                let now_ms = now.timestamp_millis();
                if ex.idem {
                    sqlx::query("INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                        .bind(a.user_id).bind(key).bind(&REQUEST_HASH[..]).bind(now_ms)
                        .execute(&mut **tx).await?;
                }
                if ex.lookups {
                    let _: Vec<(i64, String)> = sqlx::query_as("SELECT id, kind FROM accounts WHERE user_id = $1").bind(a.user_id).fetch_all(&mut **tx).await?;
                    let _: Vec<(i64, String)> = sqlx::query_as("SELECT id, kind FROM accounts WHERE user_id = $1").bind(b.user_id).fetch_all(&mut **tx).await?;
                    let _: Vec<(Uuid, String)> = sqlx::query_as("SELECT user_id, login_id FROM holders WHERE user_id IN ($1, $2)")
                        .bind(a.user_id).bind(b.user_id).fetch_all(&mut **tx).await?;
                }
                let (lo, hi) = if a.wallet < b.wallet { (a.wallet, b.wallet) } else { (b.wallet, a.wallet) };
                if $pg {
                    sqlx::query("SELECT id FROM accounts WHERE id IN ($1, $2) ORDER BY id FOR UPDATE").bind(lo).bind(hi).execute(&mut **tx).await?;
                } else if ex.lookups {
                    sqlx::query("SELECT id FROM accounts WHERE id IN ($1, $2) ORDER BY id").bind(lo).bind(hi).execute(&mut **tx).await?;
                }
                let debited: Option<(i64,)> = sqlx::query_as("UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1 RETURNING balance")
                    .bind(amount).bind(a.wallet).fetch_optional(&mut **tx).await?;
                let Some((from_after,)) = debited else {
                    if ex.idem {
                        sqlx::query("UPDATE idempotency_keys SET status = $1, body = $2 WHERE user_id = $3 AND key = $4")
                            .bind(409i32).bind(r#"{"error":{"code":"insufficient_balance"}}"#).bind(a.user_id).bind(key)
                            .execute(&mut **tx).await?;
                    }
                    return Ok(Outcome::Refused);
                };
                let (to_after,): (i64,) = sqlx::query_as("UPDATE accounts SET balance = balance + $1 WHERE id = $2 RETURNING balance")
                    .bind(amount).bind(b.wallet).fetch_one(&mut **tx).await?;
                let (seq,): (i64,) = sqlx::query_as("INSERT INTO journal (idem, from_id, to_id, amount, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING seq")
                    .bind(key).bind(a.wallet).bind(b.wallet).bind(amount).bind(now_ms)
                    .fetch_one(&mut **tx).await?;
                if ex.postings {
                    sqlx::query("INSERT INTO postings (entry_seq, account_id, amount, balance_after) VALUES ($1, $2, $3, $4), ($1, $5, $6, $7)")
                        .bind(seq).bind(a.wallet).bind(-amount).bind(from_after)
                        .bind(b.wallet).bind(amount).bind(to_after)
                        .execute(&mut **tx).await?;
                }
                if ex.balances {
                    let _: Vec<(String, i64)> = sqlx::query_as("SELECT kind, balance FROM accounts WHERE user_id = $1").bind(a.user_id).fetch_all(&mut **tx).await?;
                }
                if ex.outbox {
                    sqlx::query("INSERT INTO outbox (id, event_type, version, occurred_at, source, payload) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(Uuid::now_v7()).bind("CoinsReceived").bind(1i32).bind(now).bind("wallet").bind(event_payload(a, b, amount))
                        .execute(&mut **tx).await?;
                }
                if ex.idem {
                    sqlx::query("UPDATE idempotency_keys SET status = $1, body = $2 WHERE user_id = $3 AND key = $4")
                        .bind(201i32).bind(receipt_body(key, amount, from_after, &b.login_id)).bind(a.user_id).bind(key)
                        .execute(&mut **tx).await?;
                }
                Ok(Outcome::Committed)
            }

            /// The sequence proposed for the wallet's `execute`: every row the wallet writes, in 7
            /// statements inside the transaction instead of 12, and one pool read before it
            /// instead of two (see `pre_reads`):
            /// * `holder_by_login` stays (the recipient's id is needed); `ensure_open` leaves the
            ///   hot path (open the wallet only when the lookup finds no accounts);
            /// * one SELECT returns both holders' account ids, kinds, balances and login ids, and
            ///   on PostgreSQL locks the rows in id order (`FOR UPDATE OF a`) — replacing the two
            ///   `account_ids`, the holders SELECT and the separate locking SELECT;
            /// * no balances SELECT after the move: the debit's `RETURNING` gives the wallet
            ///   balance, the lookup the (locked, unchanged) bank balance;
            /// * the idempotency key is inserted once, at the end, with its answer
            ///   (`ON CONFLICT DO NOTHING`; 0 rows = a duplicate → undo and replay). On
            ///   PostgreSQL a concurrent duplicate waits on the unique index until the first
            ///   commits, as it does now on the early claim.
            async fn body_lean(tx: &mut Tx, w: &World, from: usize, to: usize, amount: i64, key: &str) -> sqlx::Result<Outcome> {
                let (a, b) = (&w.users[from], &w.users[to]);
                let now = chrono::Utc::now();
                let now_ms = now.timestamp_millis();
                let rows: Vec<(i64, Uuid, String, i64, String)> = sqlx::query_as(if $pg {
                    "SELECT a.id, a.user_id, a.kind, a.balance, h.login_id FROM accounts a JOIN holders h ON h.user_id = a.user_id \
                     WHERE a.user_id IN ($1, $2) ORDER BY a.id FOR UPDATE OF a"
                } else {
                    "SELECT a.id, a.user_id, a.kind, a.balance, h.login_id FROM accounts a JOIN holders h ON h.user_id = a.user_id \
                     WHERE a.user_id IN ($1, $2)"
                })
                .bind(a.user_id).bind(b.user_id).fetch_all(&mut **tx).await?;
                let find = |u: Uuid, k: &str| rows.iter().find(|r| r.1 == u && r.2 == k).map(|r| r.0);
                let (Some(from_wallet), Some(to_wallet)) = (find(a.user_id, "wallet"), find(b.user_id, "wallet")) else {
                    return Err(sqlx::Error::RowNotFound);
                };
                let debited: Option<(i64,)> = sqlx::query_as("UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1 RETURNING balance")
                    .bind(amount).bind(from_wallet).fetch_optional(&mut **tx).await?;
                let answer = match debited {
                    Some((from_after,)) => {
                        let (to_after,): (i64,) = sqlx::query_as("UPDATE accounts SET balance = balance + $1 WHERE id = $2 RETURNING balance")
                            .bind(amount).bind(to_wallet).fetch_one(&mut **tx).await?;
                        let (seq,): (i64,) = sqlx::query_as("INSERT INTO journal (idem, from_id, to_id, amount, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING seq")
                            .bind(key).bind(from_wallet).bind(to_wallet).bind(amount).bind(now_ms)
                            .fetch_one(&mut **tx).await?;
                        sqlx::query("INSERT INTO postings (entry_seq, account_id, amount, balance_after) VALUES ($1, $2, $3, $4), ($1, $5, $6, $7)")
                            .bind(seq).bind(from_wallet).bind(-amount).bind(from_after)
                            .bind(to_wallet).bind(amount).bind(to_after)
                            .execute(&mut **tx).await?;
                        sqlx::query("INSERT INTO outbox (id, event_type, version, occurred_at, source, payload) VALUES ($1, $2, $3, $4, $5, $6)")
                            .bind(Uuid::now_v7()).bind("CoinsReceived").bind(1i32).bind(now).bind("wallet").bind(event_payload(a, b, amount))
                            .execute(&mut **tx).await?;
                        Some((201i32, receipt_body(key, amount, from_after, &b.login_id)))
                    }
                    None => None,
                };
                let (status, stored) = answer.clone().unwrap_or((409, r#"{"error":{"code":"insufficient_balance"}}"#.to_owned()));
                let claimed = sqlx::query(
                    "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at, status, body) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(a.user_id).bind(key).bind(&REQUEST_HASH[..]).bind(now_ms).bind(status).bind(stored)
                .execute(&mut **tx).await?;
                Ok(if claimed.rows_affected() == 0 {
                    Outcome::Duplicate
                } else if answer.is_some() {
                    Outcome::Committed
                } else {
                    Outcome::Refused
                })
            }

            /// One transfer, one transaction.
            pub async fn transfer(pool: &Pool, w: &World, from: usize, to: usize, amount: i64, key: &str) -> sqlx::Result<Outcome> {
                pre_reads(pool, w, &w.users[from], &w.users[to]).await?;
                let _writing = match &w.writer {
                    Some(m) => Some(m.lock().await),
                    None => None,
                };
                let mut tx = pool.begin_with($begin).await?;
                let outcome = body(&mut tx, w, from, to, amount, key).await?;
                if outcome == Outcome::Duplicate {
                    tx.rollback().await?;
                } else {
                    tx.commit().await?;
                }
                Ok(outcome)
            }

            /// The reads before the transaction, for a transfer that goes through the writer.
            pub async fn reads_only(pool: &Pool, w: &World, from: usize, to: usize) -> sqlx::Result<()> {
                pre_reads(pool, w, &w.users[from], &w.users[to]).await
            }

            /// Group commit, as the wallet's SQLite writer (`write_batches` in
            /// `crates/wallet/src/store.rs`) does it: take whatever transfers are waiting (up to
            /// `max`), run each in its own savepoint, commit once, then answer them all.
            pub async fn group_writer(pool: Pool, w: Arc<World>, max: usize, mut rx: tokio::sync::mpsc::UnboundedReceiver<Job>, signal: Arc<Notify>) {
                while let Some(first) = rx.recv().await {
                    let mut jobs = vec![first];
                    while jobs.len() < max {
                        match rx.try_recv() {
                            Ok(job) => jobs.push(job),
                            Err(_) => break,
                        }
                    }
                    let mut results: Vec<sqlx::Result<Outcome>> = Vec::with_capacity(jobs.len());
                    let committed: sqlx::Result<()> = async {
                        let _writing = match &w.writer {
                            Some(m) => Some(m.lock().await),
                            None => None,
                        };
                        let mut tx = pool.begin_with($begin).await?;
                        for job in &jobs {
                            let (from, to, amount, key) = match job {
                                Job::Transfer { from, to, amount, key, .. } => (*from, *to, *amount, key),
                                Job::MarkPublished { last, .. } => {
                                    let r = sqlx::query("UPDATE outbox SET published_at = $1 WHERE published_at IS NULL AND seq <= $2")
                                        .bind(chrono::Utc::now())
                                        .bind(*last)
                                        .execute(&mut *tx)
                                        .await
                                        .map(|_| Outcome::Committed);
                                    results.push(r);
                                    continue;
                                }
                            };
                            sqlx::query("SAVEPOINT movement").execute(&mut *tx).await?;
                            let r = body(&mut tx, &w, from, to, amount, key).await;
                            if !matches!(r, Ok(Outcome::Committed | Outcome::Refused)) {
                                sqlx::query("ROLLBACK TO SAVEPOINT movement").execute(&mut *tx).await?;
                            }
                            sqlx::query("RELEASE SAVEPOINT movement").execute(&mut *tx).await?;
                            results.push(r);
                        }
                        tx.commit().await
                    }
                    .await;
                    if let Err(e) = committed {
                        let msg = e.to_string();
                        for job in jobs {
                            job.reply(Err(sqlx::Error::Protocol(format!("batch commit failed: {msg}"))));
                        }
                        continue;
                    }
                    let moved = jobs.iter().zip(&results).any(|(j, r)| matches!(j, Job::Transfer { .. }) && matches!(r, Ok(Outcome::Committed)));
                    if w.extras.any_relay() && moved {
                        signal.notify_one();
                    }
                    for (job, r) in jobs.into_iter().zip(results) {
                        job.reply(r);
                    }
                }
            }

            type OutboxRow = (i64, Uuid, String, i32, chrono::DateTime<chrono::Utc>, String, String);
            const SELECT_UNPUBLISHED: &str = "SELECT seq, id, event_type, version, occurred_at, source, payload FROM outbox \
                 WHERE published_at IS NULL ORDER BY seq LIMIT 100";

            /// One batch of the relay (`Db::relay_outbox_batch` in `gonggu_kernel::events`), in the
            /// mode the extras ask for (see `Extras::relay`, `batch_relay`, `writer_relay`).
            pub async fn relay_batch(pool: &Pool, w: &World, writer: Option<&tokio::sync::mpsc::UnboundedSender<Job>>) -> sqlx::Result<usize> {
                if $pg {
                    let _writing = match &w.writer {
                        Some(m) => Some(m.lock().await),
                        None => None,
                    };
                    let mut tx = pool.begin().await?;
                    let rows: Vec<OutboxRow> = sqlx::query_as(&format!("{SELECT_UNPUBLISHED} FOR UPDATE SKIP LOCKED")).fetch_all(&mut *tx).await?;
                    if w.extras.batch_relay {
                        if !rows.is_empty() {
                            let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
                            let mut q = sqlx::QueryBuilder::<$db>::new("UPDATE outbox SET published_at = ");
                            q.push_bind(chrono::Utc::now()).push(" WHERE seq IN (");
                            let mut sep = q.separated(", ");
                            for s in seqs {
                                sep.push_bind(s);
                            }
                            q.push(")");
                            q.build().execute(&mut *tx).await?;
                        }
                    } else {
                        for row in &rows {
                            sqlx::query("UPDATE outbox SET published_at = $1 WHERE seq = $2").bind(chrono::Utc::now()).bind(row.0).execute(&mut *tx).await?;
                        }
                    }
                    tx.commit().await?;
                    Ok(rows.len())
                } else {
                    let rows: Vec<OutboxRow> = sqlx::query_as(SELECT_UNPUBLISHED).fetch_all(pool).await?;
                    let Some(last) = rows.last().map(|r| r.0) else { return Ok(0) };
                    match (w.extras.writer_relay, writer) {
                        (true, Some(writer)) => {
                            let (reply, done) = tokio::sync::oneshot::channel();
                            writer.send(Job::MarkPublished { last, reply }).map_err(|_| sqlx::Error::PoolClosed)?;
                            done.await.map_err(|_| sqlx::Error::PoolClosed)??;
                        }
                        _ => {
                            let _writing = match &w.writer {
                                Some(m) => Some(m.lock().await),
                                None => None,
                            };
                            sqlx::query("UPDATE outbox SET published_at = $1 WHERE published_at IS NULL AND seq <= $2")
                                .bind(chrono::Utc::now())
                                .bind(last)
                                .execute(pool)
                                .await?;
                        }
                    }
                    Ok(rows.len())
                }
            }

            pub async fn seed(pool: &Pool, ddl: &str, w: &mut World, balance: i64) -> Result<()> {
                sqlx::raw_sql(ddl).execute(pool).await.context("creating the ceiling schema")?;
                let mut tx = pool.begin().await?;
                for u in w.users.iter_mut() {
                    sqlx::query("INSERT INTO holders (user_id, login_id) VALUES ($1, $2)").bind(u.user_id).bind(&u.login_id).execute(&mut *tx).await?;
                    let (id,): (i64,) = sqlx::query_as("INSERT INTO accounts (user_id, kind, balance) VALUES ($1, 'wallet', $2) RETURNING id")
                        .bind(u.user_id).bind(balance).fetch_one(&mut *tx).await?;
                    u.wallet = id;
                    if w.extras.needs_bank() {
                        sqlx::query("INSERT INTO accounts (user_id, kind, balance) VALUES ($1, 'bank', 0)").bind(u.user_id).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            pub async fn backlog(pool: &Pool) -> Option<i64> {
                sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL").fetch_one(pool).await.ok().map(|r| r.0)
            }

            pub async fn totals(pool: &Pool, postings: bool) -> Result<(i64, i64, i64)> {
                let (sum,): (Option<i64>,) = sqlx::query_as("SELECT CAST(SUM(balance) AS BIGINT) FROM accounts").fetch_one(pool).await?;
                let (entries,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM journal").fetch_one(pool).await?;
                let unbalanced: i64 = if postings {
                    let (n,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM (SELECT entry_seq FROM postings GROUP BY entry_seq HAVING SUM(amount) <> 0 OR COUNT(*) <> 2) x",
                    )
                    .fetch_one(pool).await?;
                    n
                } else {
                    0
                };
                Ok((sum.unwrap_or(0), entries, unbalanced))
            }
        }
    };
}

engine!(lite, sqlx::Sqlite, "BEGIN IMMEDIATE", false);
engine!(pg, sqlx::Postgres, "BEGIN", true);

const SQLITE_DDL: &str = r#"
DROP TABLE IF EXISTS postings;
DROP TABLE IF EXISTS journal;
DROP TABLE IF EXISTS accounts;
DROP TABLE IF EXISTS holders;
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS outbox;
CREATE TABLE holders (user_id BLOB PRIMARY KEY NOT NULL, login_id TEXT NOT NULL UNIQUE);
CREATE TABLE accounts (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BLOB NOT NULL REFERENCES holders (user_id),
    kind    TEXT NOT NULL,
    balance INTEGER NOT NULL CHECK (balance >= 0),
    UNIQUE (user_id, kind)
);
CREATE TABLE journal (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    idem       TEXT NOT NULL UNIQUE,
    from_id    INTEGER NOT NULL,
    to_id      INTEGER NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    created_at INTEGER NOT NULL
);
CREATE TABLE postings (
    entry_seq     INTEGER NOT NULL REFERENCES journal (seq),
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    amount        INTEGER NOT NULL CHECK (amount <> 0),
    balance_after INTEGER NOT NULL,
    PRIMARY KEY (entry_seq, account_id)
);
CREATE INDEX postings_by_account ON postings (account_id, entry_seq);
CREATE TABLE idempotency_keys (
    user_id BLOB NOT NULL, key TEXT NOT NULL, request_hash BLOB NOT NULL, status INTEGER, body TEXT,
    created_at INTEGER NOT NULL, PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB NOT NULL UNIQUE, event_type TEXT NOT NULL, version INTEGER NOT NULL,
    occurred_at TEXT NOT NULL, source TEXT NOT NULL, payload TEXT NOT NULL, published_at TEXT
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
"#;

/// Runs with `search_path` set to the schema, which is (re)created before.
const PG_DDL: &str = r#"
CREATE TABLE holders (user_id UUID PRIMARY KEY, login_id TEXT NOT NULL UNIQUE);
CREATE TABLE accounts (
    id      BIGSERIAL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES holders (user_id),
    kind    TEXT NOT NULL,
    balance BIGINT NOT NULL CHECK (balance >= 0),
    UNIQUE (user_id, kind)
);
CREATE TABLE journal (
    seq        BIGSERIAL PRIMARY KEY,
    idem       TEXT NOT NULL UNIQUE,
    from_id    BIGINT NOT NULL,
    to_id      BIGINT NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount > 0),
    created_at BIGINT NOT NULL
);
CREATE TABLE postings (
    entry_seq     BIGINT NOT NULL REFERENCES journal (seq),
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    amount        BIGINT NOT NULL CHECK (amount <> 0),
    balance_after BIGINT NOT NULL,
    PRIMARY KEY (entry_seq, account_id)
);
CREATE INDEX postings_by_account ON postings (account_id, entry_seq);
CREATE TABLE idempotency_keys (
    user_id UUID NOT NULL, key TEXT NOT NULL, request_hash BYTEA NOT NULL, status INTEGER, body TEXT,
    created_at BIGINT NOT NULL, PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY, id UUID NOT NULL UNIQUE, event_type TEXT NOT NULL, version INTEGER NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL, source TEXT NOT NULL, payload TEXT NOT NULL, published_at TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
"#;

enum Pools {
    Sqlite(lite::Pool),
    Postgres(pg::Pool),
}

impl Pools {
    async fn transfer(&self, w: &World, from: usize, to: usize, amount: i64, key: &str) -> sqlx::Result<Outcome> {
        match self {
            Pools::Sqlite(p) => lite::transfer(p, w, from, to, amount, key).await,
            Pools::Postgres(p) => pg::transfer(p, w, from, to, amount, key).await,
        }
    }
    async fn reads_only(&self, w: &World, from: usize, to: usize) -> sqlx::Result<()> {
        match self {
            Pools::Sqlite(p) => lite::reads_only(p, w, from, to).await,
            Pools::Postgres(p) => pg::reads_only(p, w, from, to).await,
        }
    }
    /// Sends a transfer to the group-commit writer (after the pool reads) and waits for its answer.
    async fn transfer_grouped(
        &self,
        writer: &tokio::sync::mpsc::UnboundedSender<Job>,
        w: &World,
        from: usize,
        to: usize,
        amount: i64,
        key: String,
    ) -> sqlx::Result<Outcome> {
        self.reads_only(w, from, to).await?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        writer.send(Job::Transfer { from, to, amount, key, reply }).map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
    async fn relay_batch(&self, w: &World, writer: Option<&tokio::sync::mpsc::UnboundedSender<Job>>) -> sqlx::Result<usize> {
        match self {
            Pools::Sqlite(p) => lite::relay_batch(p, w, writer).await,
            Pools::Postgres(p) => pg::relay_batch(p, w, writer).await,
        }
    }
    async fn backlog(&self) -> Option<i64> {
        match self {
            Pools::Sqlite(p) => lite::backlog(p).await,
            Pools::Postgres(p) => pg::backlog(p).await,
        }
    }
    async fn totals(&self, postings: bool) -> Result<(i64, i64, i64)> {
        match self {
            Pools::Sqlite(p) => lite::totals(p, postings).await,
            Pools::Postgres(p) => pg::totals(p, postings).await,
        }
    }
    /// WAL bytes (exact, from the LSN) and WAL syncs (`pg_stat_wal`, flushed by backends at most
    /// once a second, so approximate over a short window). PostgreSQL only.
    async fn wal(&self) -> Option<(i64, i64)> {
        let Pools::Postgres(p) = self else { return None };
        sqlx::query_as::<_, (i64, i64)>("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint, wal_sync FROM pg_stat_wal")
            .fetch_one(p)
            .await
            .ok()
    }
    async fn close(&self) {
        match self {
            Pools::Sqlite(p) => p.close().await,
            Pools::Postgres(p) => p.close().await,
        }
    }
}

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process (all threads), in clock ticks.
fn proc_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks of every process whose comm is `name`, by pid (so exits and starts can be matched).
fn ticks_of(name: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| c.trim() == name).unwrap_or(false) {
                if let Some(t) = proc_ticks(&pid) {
                    out.insert(pid, t);
                }
            }
        }
    }
    out
}

/// Ticks used between two snapshots by the processes alive at the second one.
fn ticks_between(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> u64 {
    after.iter().map(|(pid, t)| t.saturating_sub(*before.get(pid).unwrap_or(&0))).sum()
}

fn block_flushes(dev: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/sys/block/{dev}/stat")).ok()?;
    s.split_whitespace().nth(15)?.parse().ok()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let extras: Extras = args.extras.parse()?;
    anyhow::ensure!(args.accounts >= 2, "--accounts must be at least 2");
    anyhow::ensure!(
        args.clients >= 1 && args.seconds >= 1 && args.max_amount >= 1,
        "--clients, --seconds and --max-amount must be positive"
    );
    anyhow::ensure!(
        !extras.writer_relay || (args.group_commit > 0 && args.engine == Engine::Sqlite),
        "extra `writerrelay` needs --engine sqlite and --group-commit"
    );
    let pool_size = args.pool.unwrap_or(match args.engine {
        Engine::Sqlite => 8,
        Engine::Postgres => 16,
    });

    let mut world = World {
        users: (0..args.accounts).map(|i| User { user_id: Uuid::new_v4(), login_id: format!("ceiling_{i:02}"), wallet: 0 }).collect(),
        extras,
        max_amount: args.max_amount,
        writer: args.serialize_writes.then(|| tokio::sync::Mutex::new(())),
    };

    let pools = match args.engine {
        Engine::Sqlite => {
            let opts = if args.url.starts_with("sqlite:") {
                SqliteConnectOptions::from_str(&args.url)?
            } else {
                SqliteConnectOptions::new().filename(&args.url)
            };
            let opts = opts
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match args.synchronous {
                    Synchronous::Full => SqliteSynchronous::Full,
                    Synchronous::Normal => SqliteSynchronous::Normal,
                    Synchronous::Off => SqliteSynchronous::Off,
                })
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("temp_store", "memory");
            let pool = SqlitePoolOptions::new().max_connections(pool_size).min_connections(1).connect_with(opts).await?;
            lite::seed(&pool, SQLITE_DDL, &mut world, args.balance).await?;
            Pools::Sqlite(pool)
        }
        Engine::Postgres => {
            anyhow::ensure!(
                args.schema.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !args.schema.is_empty(),
                "bad schema name {}",
                args.schema
            );
            let base = PgConnectOptions::from_str(&args.url)?;
            let admin = PgPoolOptions::new().max_connections(1).connect_with(base.clone()).await.context("connecting to PostgreSQL")?;
            sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s};", s = args.schema)).execute(&admin).await?;
            admin.close().await;
            let pool = PgPoolOptions::new()
                .max_connections(pool_size)
                .min_connections(pool_size)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(base.options([("search_path", args.schema.as_str())]))
                .await?;
            pg::seed(&pool, PG_DDL, &mut world, args.balance).await?;
            Pools::Postgres(pool)
        }
    };
    let expected_sum = args.accounts as i64 * args.balance;

    let pools = Arc::new(pools);
    let world = Arc::new(world);
    let counters = Arc::new(Counters::default());
    let relay_signal = Arc::new(Notify::new());

    eprintln!(
        "ledger-ceiling: {:?}, {} clients, pool {}{}{}, {} accounts × {}, extras {}, {} s warm-up + {} s measured",
        args.engine,
        args.clients,
        pool_size,
        if args.serialize_writes { " (writes serialised in-process)" } else { "" },
        if args.group_commit > 0 { format!(", group commit ≤ {}", args.group_commit) } else { String::new() },
        args.accounts,
        args.balance,
        extras.label(),
        args.warmup_seconds,
        args.seconds
    );

    // --group-commit: one writer task takes the transfers, as the wallet does on SQLite.
    let (group_tx, group_writer) = if args.group_commit > 0 {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let (world, signal, max) = (world.clone(), relay_signal.clone(), args.group_commit);
        let handle = match &*pools {
            Pools::Sqlite(p) => tokio::spawn(lite::group_writer(p.clone(), world, max, rx, signal)),
            Pools::Postgres(p) => tokio::spawn(pg::group_writer(p.clone(), world, max, rx, signal)),
        };
        (Some(tx), Some(handle))
    } else {
        (None, None)
    };

    let workers: Vec<_> = (0..args.clients)
        .map(|c| {
            let (pools, world, counters, relay_signal) = (pools.clone(), world.clone(), counters.clone(), relay_signal.clone());
            let group = group_tx.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(0x5eed_0000 + c as u64);
                let mut latencies_us: Vec<u32> = Vec::with_capacity(1 << 14);
                let mut n: u64 = 0;
                let users = world.users.len();
                while !counters.stop.load(Ordering::Relaxed) {
                    let from = rng.gen_range(0..users);
                    let mut to = rng.gen_range(0..users - 1);
                    if to >= from {
                        to += 1;
                    }
                    let amount = rng.gen_range(1..=world.max_amount);
                    n += 1;
                    let key = format!("ceil-{c}-{n}-{:08x}", rng.gen::<u32>());
                    let measuring = counters.measuring.load(Ordering::Relaxed);
                    let t = Instant::now();
                    let outcome = match &group {
                        Some(writer) => pools.transfer_grouped(writer, &world, from, to, amount, key).await,
                        None => pools.transfer(&world, from, to, amount, &key).await,
                    };
                    match outcome {
                        Ok(Outcome::Committed) => {
                            counters.committed.fetch_add(1, Ordering::Relaxed);
                            if group.is_none() && world.extras.any_relay() {
                                relay_signal.notify_one();
                            }
                        }
                        Ok(Outcome::Refused) => {
                            counters.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Outcome::Duplicate) => counters.error(&sqlx::Error::Protocol("idempotency key unexpectedly taken".into())),
                        Err(e) => counters.error(&e),
                    }
                    if measuring && counters.measuring.load(Ordering::Relaxed) {
                        latencies_us.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                }
                latencies_us
            })
        })
        .collect();

    let relay = extras.any_relay().then(|| {
        let (pools, world, counters, signal) = (pools.clone(), world.clone(), counters.clone(), relay_signal.clone());
        let writer = group_tx.clone();
        tokio::spawn(async move {
            let mut relayed = 0u64;
            loop {
                match pools.relay_batch(&world, writer.as_ref()).await {
                    Ok(n) => {
                        relayed += n as u64;
                        if n == 100 {
                            continue;
                        }
                    }
                    Err(e) => {
                        counters.error(&e);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                if counters.stop.load(Ordering::Relaxed) {
                    return relayed;
                }
                tokio::select! {
                    _ = signal.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    });

    tokio::time::sleep(Duration::from_secs(args.warmup_seconds)).await;

    // The measured window.
    let hz = clk_tck();
    let self_pid = std::process::id().to_string();
    let server_name = args.server_comm.clone();
    let (c0, r0) = (counters.committed.load(Ordering::Relaxed), counters.refused.load(Ordering::Relaxed));
    let self0 = proc_ticks(&self_pid).unwrap_or(0);
    let server0 = server_name.as_deref().map(ticks_of);
    let flush0 = args.block_dev.as_deref().and_then(block_flushes);
    let wal0 = pools.wal().await;
    let t0 = Instant::now();
    counters.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    counters.measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let (c1, r1) = (counters.committed.load(Ordering::Relaxed), counters.refused.load(Ordering::Relaxed));
    let self1 = proc_ticks(&self_pid).unwrap_or(0);
    let server1 = server_name.as_deref().map(ticks_of);
    let flush1 = args.block_dev.as_deref().and_then(block_flushes);
    let wal1 = pools.wal().await;
    // Events the relay had not published yet when the window closed.
    let backlog = if extras.any_relay() { pools.backlog().await } else { None };

    counters.stop.store(true, Ordering::Relaxed);
    let mut latencies: Vec<u32> = Vec::new();
    for w in workers {
        latencies.extend(w.await?);
    }
    // The relay first (it may hold a sender to the writer and wait for its answer), then the writer.
    let relayed = match relay {
        Some(r) => {
            relay_signal.notify_one();
            Some(r.await?)
        }
        None => None,
    };
    drop(group_tx);
    if let Some(writer) = group_writer {
        writer.await?;
    }
    latencies.sort_unstable();

    let committed = c1 - c0;
    let refused = r1 - r0;
    let done = committed + refused;
    let tps = committed as f64 / elapsed;
    let per = |x: f64| if done > 0 { format!("{:.1}", x / done as f64) } else { "n/a".into() };
    let cpu_us = per((self1 - self0) as f64 * 1e6 / hz);
    let server_cpu_us = match (&server0, &server1) {
        (Some(a), Some(b)) => per(ticks_between(a, b) as f64 * 1e6 / hz),
        _ => "n/a".into(),
    };
    let flushes = match (flush0, flush1) {
        (Some(a), Some(b)) => per((b - a) as f64),
        _ => "n/a".into(),
    };
    let (wal_bytes, wal_syncs) = match (wal0, wal1) {
        (Some(a), Some(b)) => (per((b.0 - a.0) as f64), per((b.1 - a.1) as f64)),
        _ => ("n/a".into(), "n/a".into()),
    };

    // Integrity: no money created or lost, one journal row per committed transfer.
    let total_committed = counters.committed.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    let (sum, entries, unbalanced) = pools.totals(extras.postings || extras.lean).await?;
    pools.close().await;
    let sum_ok = sum == expected_sum;
    // A transfer whose COMMIT errored may or may not have committed, so with errors the journal
    // count can only be bounded.
    let journal_ok = if errors == 0 { entries as u64 == total_committed } else { entries as u64 >= total_committed };
    let ok = sum_ok && journal_ok && unbalanced == 0;

    println!(
        "engine            {:?} (pool {pool_size}{}{}, {} clients, extras {})",
        args.engine,
        if args.serialize_writes { ", writes serialised in-process" } else { "" },
        if args.group_commit > 0 { format!(", group commit ≤ {}", args.group_commit) } else { String::new() },
        args.clients,
        extras.label()
    );
    println!("window            {elapsed:.2} s after {} s warm-up", args.warmup_seconds);
    println!("committed         {committed} transfers ({tps:.0} transfers/s), {refused} refused, {errors} errors (whole run)");
    println!("latency           p50 {:.2} ms, p99 {:.2} ms", percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    println!(
        "CPU per transfer  this process {cpu_us} µs, server processes ({}) {server_cpu_us} µs",
        server_name.as_deref().unwrap_or("none")
    );
    println!(
        "disk              {flushes} device flushes per transfer; WAL {wal_bytes} bytes and {wal_syncs} syncs per transfer (PostgreSQL)"
    );
    if let Some(r) = relayed {
        println!(
            "relay             {r} outbox rows marked published; {} unpublished when the window closed",
            backlog.map(|b| b.to_string()).unwrap_or_else(|| "?".into())
        );
    }
    for e in counters.first_errors.lock().unwrap().iter() {
        println!("error             {e}");
    }
    println!(
        "integrity         sum of balances {sum} (expected {expected_sum}): {}; journal {entries} rows for {total_committed} commits: {}{}",
        if sum_ok { "unchanged" } else { "CHANGED" },
        if journal_ok { "ok" } else { "MISMATCH" },
        if extras.postings || extras.lean { format!("; unbalanced entries: {unbalanced}") } else { String::new() }
    );
    println!(
        "RESULT engine={} extras={} clients={} pool={pool_size} group_commit={} serialize_writes={} seconds={elapsed:.2} transfers={committed} refused={refused} errors={errors} \
         tps={tps:.1} p50_ms={:.2} p99_ms={:.2} cpu_us={cpu_us} server_cpu_us={server_cpu_us} flushes={flushes} wal_bytes={wal_bytes} \
         wal_syncs={wal_syncs} backlog={} sum_ok={} journal_ok={}",
        match args.engine {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        },
        extras.label(),
        args.clients,
        args.group_commit,
        args.serialize_writes as u8,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        backlog.map(|b| b.to_string()).unwrap_or_else(|| "n/a".into()),
        sum_ok as u8,
        journal_ok as u8,
    );
    if !ok {
        eprintln!("ledger-ceiling: INTEGRITY CHECK FAILED");
        std::process::exit(1);
    }
    if committed == 0 {
        eprintln!("ledger-ceiling: no transfer committed in the window");
        std::process::exit(1);
    }
    Ok(())
}
