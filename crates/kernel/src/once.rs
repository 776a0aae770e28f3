//! One-time form tokens, so that a page form that changes something does it once.
//!
//! A page renders a fresh random token into its form ([`field`]). The first submit carrying it
//! claims the token, does the work and remembers where it led; the same form sent again (the back
//! button and the button pressed again, a double tap, a browser retrying the POST) is sent to
//! that page instead of doing the work a second time. A submit that failed releases its token, so
//! the form re-rendered with its errors can be corrected and sent again.
//!
//! Claims live in the context's database (table `form_tokens`, created by [`OnceTokens::open`]),
//! so a repeat is recognised after a restart and on every instance behind a load balancer. They
//! are per user (`scope`): a token seen in someone else's form leads nowhere. They are forgotten
//! after [`OnceTokens::TTL`]. A claim whose work never finished (the process died at it) may be
//! taken again after [`OnceTokens::ABANDONED_AFTER`]. A form without a token is served as
//! before.

use std::{
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
    time::Duration,
};

use maud::{html, Markup};

use crate::db::Db;

/// The form field's name.
pub const FIELD: &str = "once";

/// A fresh token for a form.
pub fn issue() -> String {
    crate::random_token(16)
}

/// The hidden input carrying `token`.
pub fn field(token: &str) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(token); }
}

const TABLE_SQLITE: &str = "
CREATE TABLE IF NOT EXISTS form_tokens (
    scope      TEXT NOT NULL,
    token      TEXT NOT NULL,
    claimed_at INTEGER NOT NULL,
    location   TEXT,
    PRIMARY KEY (scope, token)
);
CREATE INDEX IF NOT EXISTS form_tokens_claimed ON form_tokens (claimed_at);";

const TABLE_POSTGRES: &str = "
CREATE TABLE IF NOT EXISTS form_tokens (
    scope      TEXT NOT NULL,
    token      TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    location   TEXT,
    PRIMARY KEY (scope, token)
);
CREATE INDEX IF NOT EXISTS form_tokens_claimed ON form_tokens (claimed_at);";

/// Runs one statement on whichever engine `db` is: `$q` (a `sqlx::query*` builder, written out
/// here so that it is typed for each engine) then `$run` (`execute`, `fetch_optional`, …).
macro_rules! on_db {
    // `execute` answers the number of rows affected, the same type on both engines.
    ($db:expr, $q:expr, execute) => {
        match $db {
            Db::Sqlite(p) => $q.execute(p).await.map(|r| r.rows_affected()),
            Db::Postgres(p) => $q.execute(p).await.map(|r| r.rows_affected()),
        }
    };
    ($db:expr, $q:expr, $run:ident) => {
        match $db {
            Db::Sqlite(p) => $q.$run(p).await,
            Db::Postgres(p) => $q.$run(p).await,
        }
    };
}

pub struct OnceTokens {
    db: Db,
    claims: AtomicU32,
}

/// What a submit may do with its token.
pub enum Claim {
    /// The first submit with this token (or one without a token): do the work, then
    /// [`Ticket::done`] with where it led.
    Fresh(Ticket),
    /// Done before: redirect here.
    Done(String),
    /// Another submit with this token is still at work.
    Busy,
}

/// A claimed token. Dropped without [`Ticket::done`] (the work failed), the token is released.
pub struct Ticket {
    owner: Option<(Arc<OnceTokens>, String, String)>,
}

impl Ticket {
    /// Remembers where the work led, for a repeat of the same form. Should that write fail, the
    /// claim stays unfinished and a repeat is told to wait, then may run once it is abandoned.
    pub async fn done(mut self, location: &str) {
        if let Some((tokens, scope, token)) = self.owner.take() {
            if let Err(e) = on_db!(
                &tokens.db,
                sqlx::query("UPDATE form_tokens SET location = $1 WHERE scope = $2 AND token = $3")
                    .bind(location)
                    .bind(&scope)
                    .bind(&token),
                execute
            ) {
                tracing::warn!(error = %e, "could not record where a one-time form led");
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some((tokens, scope, token)) = self.owner.take() {
            // Off the dropping task: a release is a write, and Drop cannot wait for it.
            tokio::spawn(async move {
                if let Err(e) = on_db!(
                    &tokens.db,
                    sqlx::query("DELETE FROM form_tokens WHERE scope = $1 AND token = $2 AND location IS NULL").bind(&scope).bind(&token),
                    execute
                ) {
                    tracing::warn!(error = %e, "could not release a one-time form token");
                }
            });
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl OnceTokens {
    /// Long enough for the back button after a coffee break.
    pub const TTL: Duration = Duration::from_secs(6 * 3600);
    /// A claim unfinished for this long was abandoned (no form's work takes a minute).
    pub const ABANDONED_AFTER: Duration = Duration::from_secs(60);
    /// How long a repeat waits for the first submit to finish before it is told to wait.
    const WAIT_FOR_RUNNING: Duration = Duration::from_secs(5);
    /// Expired claims are removed on every this many claims.
    const PURGE_EVERY: u32 = 100;

    /// Creates the table in `db` unless it exists.
    pub async fn open(db: &Db) -> anyhow::Result<Arc<Self>> {
        use anyhow::Context as _;
        match db {
            Db::Sqlite(p) => sqlx::raw_sql(TABLE_SQLITE).execute(p).await.map(drop),
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.form_tokens'))").execute(&mut *tx).await?;
                sqlx::raw_sql(TABLE_POSTGRES).execute(&mut *tx).await?;
                tx.commit().await
            }
        }
        .context("creating the form_tokens table")?;
        Ok(Arc::new(OnceTokens { db: db.clone(), claims: AtomicU32::new(0) }))
    }

    /// Claims `token` for `scope` (the user): see [`Claim`]. A repeat that arrives while the first
    /// submit is still at work waits for it a few seconds.
    pub async fn claim(self: &Arc<Self>, scope: &str, token: &str) -> sqlx::Result<Claim> {
        let token = token.trim();
        if token.is_empty() {
            return Ok(Claim::Fresh(Ticket { owner: None }));
        }
        if self.claims.fetch_add(1, Ordering::Relaxed).is_multiple_of(Self::PURGE_EVERY) {
            on_db!(&self.db, sqlx::query("DELETE FROM form_tokens WHERE claimed_at < $1").bind(now_ms() - ms(Self::TTL)), execute)?;
        }
        let started = std::time::Instant::now();
        loop {
            match self.try_claim(scope, token).await? {
                Claim::Busy if started.elapsed() < Self::WAIT_FOR_RUNNING => tokio::time::sleep(Duration::from_millis(50)).await,
                other => return Ok(other),
            }
        }
    }

    async fn try_claim(self: &Arc<Self>, scope: &str, token: &str) -> sqlx::Result<Claim> {
        let fresh = || Claim::Fresh(Ticket { owner: Some((self.clone(), scope.to_owned(), token.to_owned())) });
        let now = now_ms();
        if on_db!(
            &self.db,
            sqlx::query("INSERT INTO form_tokens (scope, token, claimed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(scope)
                .bind(token)
                .bind(now),
            execute
        )? == 1
        {
            return Ok(fresh());
        }
        Ok(
            match on_db!(
                &self.db,
                sqlx::query_as::<_, (i64, Option<String>)>("SELECT claimed_at, location FROM form_tokens WHERE scope = $1 AND token = $2")
                    .bind(scope)
                    .bind(token),
                fetch_optional
            )? {
                Some((_, Some(location))) => Claim::Done(location),
                Some((claimed_at, None)) if now - claimed_at >= ms(Self::ABANDONED_AFTER) => {
                    // Take the abandoned claim over, unless another repeat just did.
                    if on_db!(&self.db, sqlx::query("UPDATE form_tokens SET claimed_at = $1 WHERE scope = $2 AND token = $3 AND location IS NULL AND claimed_at = $4")
                    .bind(now)
                    .bind(scope)
                    .bind(token)
                    .bind(claimed_at), execute)? == 1 {
                    fresh()
                } else {
                    Claim::Busy
                }
                }
                Some((_, None)) => Claim::Busy,
                // Released between the two statements: try again.
                None => Claim::Busy,
            },
        )
    }

    /// How many claims are stored now.
    pub async fn len(&self) -> sqlx::Result<i64> {
        Ok(on_db!(&self.db, sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM form_tokens"), fetch_one)?.0)
    }

    /// Ages every stored claim by `by` (tests of expiry and abandonment).
    #[doc(hidden)]
    pub async fn age_for_tests(&self, by: Duration) -> sqlx::Result<()> {
        on_db!(&self.db, sqlx::query("UPDATE form_tokens SET claimed_at = claimed_at - $1").bind(ms(by)), execute).map(drop)
    }
}
