//! Storage plumbing shared by the contexts: one SQLite file per context in the embedded mode,
//! one PostgreSQL schema per context in the scaled mode. Contexts never share tables.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    PgPool, SqlitePool,
};

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// How a context wants its SQLite file tuned.
#[derive(Clone, Copy, Debug)]
pub struct SqliteTuning {
    /// `FULL` where a lost commit would lose money; `NORMAL` (durable across process crashes in WAL) elsewhere.
    pub synchronous_full: bool,
    pub max_connections: u32,
}

impl Default for SqliteTuning {
    fn default() -> Self {
        Self { synchronous_full: false, max_connections: 8 }
    }
}

impl Db {
    /// `database_url` unset → `<data_dir>/<context>.db`; a `postgres://` URL → schema `<context>`.
    pub async fn connect(database_url: Option<&str>, data_dir: &Path, context: &str, tuning: SqliteTuning) -> anyhow::Result<Db> {
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Self::connect_postgres(url, context).await,
            Some(url) if url.starts_with("sqlite:") => {
                let opts = SqliteConnectOptions::from_str(url)?;
                Ok(Db::Sqlite(Self::sqlite_pool(opts, tuning).await?))
            }
            Some(other) => anyhow::bail!(
                "database.url (GONGGU_DATABASE__URL) must start with postgres:// or sqlite:, got {:?}",
                other.split(':').next().unwrap_or("")
            ),
            None => {
                std::fs::create_dir_all(data_dir)?;
                let opts = SqliteConnectOptions::new().filename(data_dir.join(format!("{context}.db")));
                Ok(Db::Sqlite(Self::sqlite_pool(opts, tuning).await?))
            }
        }
    }

    async fn sqlite_pool(opts: SqliteConnectOptions, tuning: SqliteTuning) -> anyhow::Result<SqlitePool> {
        let opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if tuning.synchronous_full { SqliteSynchronous::Full } else { SqliteSynchronous::Normal })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        // A connection to a local file cannot have gone away, so skip the ping sqlx would otherwise
        // send through the connection's worker thread on every acquire.
        Ok(SqlitePoolOptions::new()
            .max_connections(tuning.max_connections)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(opts)
            .await?)
    }

    async fn connect_postgres(url: &str, schema: &str) -> anyhow::Result<Db> {
        anyhow::ensure!(schema.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "bad schema name {schema}");
        let base = PgConnectOptions::from_str(url)?;
        // The schema must exist before connections pin their search_path to it.
        let admin = PgPoolOptions::new().max_connections(1).connect_with(base.clone()).await?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).execute(&admin).await?;
        admin.close().await;
        let opts = base.options([("search_path", schema)]);
        let pool = PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(10)).connect_with(opts).await?;
        Ok(Db::Postgres(pool))
    }

    /// Runs the context's embedded migrations for whichever backend this is. On PostgreSQL sqlx
    /// holds an advisory lock while migrating, so several instances may start at once.
    pub async fn migrate(&self, sqlite: &Migrator, postgres: &Migrator) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(p) => sqlite.run(p).await?,
            Db::Postgres(p) => postgres.run(p).await?,
        }
        Ok(())
    }

    /// For `/readyz`.
    pub async fn ping(&self) -> sqlx::Result<()> {
        match self {
            Db::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
            Db::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// True when the error is a unique-constraint violation (on either backend).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
