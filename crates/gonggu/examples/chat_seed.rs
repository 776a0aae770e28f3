//! Seeds a chat room for `bench/chat.sh` without signing anyone up, and counts what it stored.
//!
//! `seed`: opens the chat context's database exactly as the server will (`<data_dir>/chat.db`, or
//! schema `chat` of `--database-url`), which runs its migrations through `store::open`; creates
//! one room with `--members` members through the store's own `apply_facts` (the path deals'
//! events take); mints one access token per member, each with its own session id, with the
//! server's key; writes the room id, then the tokens, one a line, to `--out`.
//!
//! The key is the server's: `GONGGU_AUTH__JWT_SECRET` when set (its bytes, as the server reads
//! it), otherwise `<data_dir>/jwt.key`, created here in the server's format (64 random bytes,
//! 0600) when it does not exist yet, so a server started afterwards on that data dir uses it.
//! Tokens live 15 minutes (`ACCESS_TTL`): seed shortly before the run.
//!
//! `count`: prints how many text messages the room holds (what the server persisted).
//!
//! ```sh
//! cargo run --release -p gonggu --example chat_seed -- seed --data-dir /tmp/d --members 1000 --out /tmp/room.txt
//! cargo run --release -p gonggu --example chat_seed -- count --data-dir /tmp/d --room <uuid>
//! ```

use std::path::PathBuf;

use anyhow::Context as _;
use chrono::Utc;
use clap::{Parser, Subcommand};
use gonggu_chat::{domain::RoomState, store::RoomFacts};
use gonggu_kernel::{
    auth::Authenticator,
    db::{Db, SqliteTuning},
    events::OutboxSignal,
};
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Seed {
        #[arg(long)]
        data_dir: PathBuf,
        /// The server's `database.url` (postgres://…); unset: SQLite in the data dir.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long)]
        members: usize,
        /// Login ids are `<prefix>_<n>`.
        #[arg(long, default_value = "bench")]
        prefix: String,
        #[arg(long)]
        out: PathBuf,
    },
    Count {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long)]
        room: Uuid,
    },
}

/// The server's token key, as the server finds it (`GONGGU_AUTH__JWT_SECRET` or `<data_dir>/jwt.key`).
fn server_secret(data_dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut settings = gonggu::Settings::defaults();
    settings.data_dir = data_dir.to_path_buf();
    if let Ok(s) = std::env::var("GONGGU_AUTH__JWT_SECRET") {
        settings.auth.jwt_secret = Some(gonggu::settings::Secret::new(s));
    }
    gonggu::startup::load_or_create_secret(&settings)
}

async fn connect(data_dir: &std::path::Path, url: Option<&str>) -> anyhow::Result<Db> {
    std::fs::create_dir_all(data_dir)?;
    Db::connect(url, data_dir, gonggu_chat::module::NAME, SqliteTuning::default()).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Seed { data_dir, database_url, members, prefix, out } => {
            anyhow::ensure!(members >= 1, "--members must be at least 1");
            let db = connect(&data_dir, database_url.as_deref()).await?;
            let store = gonggu_chat::store::open(&db, OutboxSignal::default()).await.context("chat migrations")?;
            let people: Vec<(Uuid, String)> = (0..members).map(|i| (Uuid::now_v7(), format!("{prefix}_{i:05}"))).collect();
            let now = Utc::now();
            let facts = RoomFacts {
                room_id: Uuid::now_v7(),
                title: format!("벤치마크 공구 ({members}명)"),
                host_id: people[0].0,
                state: RoomState::Open,
                members: people.clone(),
                notice: None,
                at: now,
            };
            store.apply_facts(&facts, gonggu_chat::consumer::CONSUMER, Uuid::now_v7()).await.context("apply_facts")?;
            let auth = Authenticator::new(&server_secret(&data_dir)?);
            let mut text = format!("{}\n", facts.room_id);
            for (user_id, login_id) in &people {
                text.push_str(&auth.issue(*user_id, login_id, Uuid::now_v7(), now)?);
                text.push('\n');
            }
            std::fs::write(&out, text).with_context(|| format!("cannot write {}", out.display()))?;
            db.close().await;
            println!("{}", facts.room_id);
        }
        Command::Count { data_dir, database_url, room } => {
            let db = connect(&data_dir, database_url.as_deref()).await?;
            const SQL: &str = "SELECT COUNT(*) FROM messages WHERE room_id = $1 AND kind = 'text'";
            let n: i64 = match &db {
                Db::Sqlite(p) => sqlx::query_scalar(SQL).bind(room).fetch_one(p).await?,
                Db::Postgres(p) => sqlx::query_scalar(SQL).bind(room).fetch_one(p).await?,
            };
            db.close().await;
            println!("{n}");
        }
    }
    Ok(())
}
