//! No event is lost when the one process stops mid-way. Users register over HTTP while the real
//! binary is killed (kill -9) or asked to stop (SIGTERM) right after a registration answered;
//! after a restart on the same data, every registered user must end up with a wallet (wallet
//! context) and a place (deals context), both made from accounts' `UserRegistered`.

use std::{
    collections::HashSet,
    path::Path,
    process::Child,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use uuid::Uuid;

#[path = "process_kit/mod.rs"]
mod process_kit;

use process_kit::{gonggu, sigterm, wait_exit};

/// Restarts per test: each one is a fresh chance to stop in the window between a commit and
/// the consumers' commits.
const ROUNDS: usize = 3;
/// Registrations in flight at once, so a stop lands among events at different stages.
const IN_FLIGHT: usize = 4;

#[derive(Clone, Copy, Debug)]
enum Stop {
    Kill,
    Term,
}

struct Server {
    child: Child,
    base: String,
}

fn start(dir: &Path, database_url: Option<&str>) -> Server {
    let mut c = gonggu(dir);
    // Each registration comes "from" its own address, so the per-address sign-up limit does not
    // stop the loop.
    c.env("GONGGU_HTTP__TRUST_PROXY", "true");
    if let Some(url) = database_url {
        c.env("GONGGU_DATABASE__URL", url);
    }
    let (child, base) = process_kit::serve(c);
    Server { child, base }
}

/// Registers users with `IN_FLIGHT` requests at a time and stops the server right after the
/// `stop_after`-th success. Returns how many registrations answered 201.
async fn register_then_stop(server: Server, round: usize, stop_after: usize, how: Stop) -> usize {
    let base = Arc::new(server.base.clone());
    let child = Arc::new(Mutex::new(Some(server.child)));
    let ok = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut tasks = vec![];
    for _ in 0..IN_FLIGHT {
        let (base, child, ok, next, http) = (base.clone(), child.clone(), ok.clone(), next.clone(), http.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let body = serde_json::json!({
                    "login_id": format!("r{round}u{i}"),
                    "email": format!("r{round}u{i}@example.com"),
                    "password": "coffee-and-tissues-42",
                    "neighborhood": {"name": "역삼동", "lat": 37.5 + i as f64 / 1000.0, "lon": 127.03},
                });
                let sent = http
                    .post(format!("{base}/api/v1/auth/register"))
                    .header("x-forwarded-for", format!("127.1.{round}.{}", i % 250))
                    .json(&body)
                    .send()
                    .await;
                match sent {
                    Ok(res) if res.status() == 201 => {
                        if ok.fetch_add(1, Ordering::SeqCst) + 1 == stop_after {
                            let mut guard = child.lock().unwrap();
                            let c = guard.as_mut().unwrap();
                            match how {
                                Stop::Kill => c.kill().unwrap(),
                                Stop::Term => sigterm(c),
                            }
                        }
                    }
                    Ok(res) if ok.load(Ordering::SeqCst) < stop_after => {
                        panic!("register answered {}: {}", res.status(), res.text().await.unwrap())
                    }
                    // Anything after the stop: the server is going or gone.
                    _ => return,
                }
                if ok.load(Ordering::SeqCst) >= stop_after {
                    return;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut c = child.lock().unwrap().take().unwrap();
    wait_exit(&mut c, Duration::from_secs(15));
    ok.load(Ordering::SeqCst)
}

/// Users (accounts), wallet holders (wallet) and places (deals) as stored now.
async fn stored(dir: &Path, database_url: Option<&str>) -> (HashSet<Uuid>, HashSet<Uuid>, HashSet<Uuid>) {
    async fn ids_sqlite(file: &Path, sql: &str) -> HashSet<Uuid> {
        let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(file).read_only(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.expect("open sqlite file");
        let rows: Vec<(Uuid,)> = sqlx::query_as(sql).fetch_all(&pool).await.expect(sql);
        pool.close().await;
        rows.into_iter().map(|r| r.0).collect()
    }
    match database_url {
        None => (
            ids_sqlite(&dir.join("accounts.db"), "SELECT id FROM users").await,
            ids_sqlite(&dir.join("wallet.db"), "SELECT user_id FROM holders").await,
            ids_sqlite(&dir.join("deals.db"), "SELECT user_id FROM user_places").await,
        ),
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.expect("connect postgres");
            let mut sets = vec![];
            for sql in ["SELECT id FROM accounts.users", "SELECT user_id FROM wallet.holders", "SELECT user_id FROM deals.user_places"] {
                let rows: Vec<(Uuid,)> = sqlx::query_as(sql).fetch_all(&pool).await.expect(sql);
                sets.push(rows.into_iter().map(|r| r.0).collect::<HashSet<_>>());
            }
            pool.close().await;
            let places = sets.pop().unwrap();
            let holders = sets.pop().unwrap();
            (sets.pop().unwrap(), holders, places)
        }
    }
}

async fn no_event_lost(how: Stop, database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url.as_deref();
    let mut answered = 0;
    for round in 0..ROUNDS {
        let server = start(dir.path(), url);
        // Stop at a different point each round (and never on the first few, so a batch is going).
        answered += register_then_stop(server, round, 3 + 2 * round, how).await;
    }
    let mut server = start(dir.path(), url);
    // Whatever was still on its way when the process stopped arrives after the restart.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (users, holders, places) = stored(dir.path(), url).await;
        assert!(users.len() >= answered, "{answered} registrations answered 201 but only {} users are stored", users.len());
        let no_wallet = users.difference(&holders).count();
        let no_place = users.difference(&places).count();
        if no_wallet == 0 && no_place == 0 {
            break;
        }
        if Instant::now() > deadline {
            let _ = server.child.kill();
            let _ = server.child.wait();
            panic!("{how:?}: of {} users, {no_wallet} never got a wallet and {no_place} never got a place", users.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sigterm(&server.child);
    wait_exit(&mut server.child, Duration::from_secs(15));
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_loses_no_event_on_sqlite() {
    no_event_lost(Stop::Kill, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_loses_no_event_on_sqlite() {
    no_event_lost(Stop::Term, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_loses_no_event_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("kill_9_loses_no_event_on_postgres").await else { return };
    no_event_lost(Stop::Kill, Some(url)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_loses_no_event_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("sigterm_loses_no_event_on_postgres").await else { return };
    no_event_lost(Stop::Term, Some(url)).await;
}
