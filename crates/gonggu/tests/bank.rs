//! The bank test (DESIGN §6): 32 concurrent clients make random transfers among 50 users through
//! the HTTP API — 10 % into one hot account, 10 % overdraft attempts — while readers keep reading
//! every balance. Money is neither created nor lost, no balance goes negative, every 2xx transfer
//! is one journal entry, and `gonggu wallet verify` passes. Runs on SQLite and on PostgreSQL.
//! `GONGGU_BANK_TRANSFERS` sets the number of transfers (CI: a few thousand; the bench: 20,000+).

#[path = "api/helpers.rs"]
mod helpers;

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc,
};

use helpers::{spawn_app_with, TestApp, PASSWORD};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const USERS: usize = 50;
const CLIENTS: usize = 32;
const CHARGE: i64 = 50_000;
const TOTAL: i64 = USERS as i64 * 100_000;

fn transfers_to_run() -> usize {
    std::env::var("GONGGU_BANK_TRANSFERS").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000)
}

async fn open_users(app: &TestApp) -> Vec<(String, String)> {
    let tasks = (0..USERS).map(|i| {
        let http = app.api.clone();
        let base = app.address.clone();
        async move {
            let login_id = format!("bank_{i:02}");
            // One address per user keeps the sign-up and login limits out of the way.
            let ip = format!("10.0.{}.{}", i / 200, i % 200 + 1);
            let res = http
                .post(format!("{base}/api/v1/auth/register"))
                .header("x-forwarded-for", &ip)
                .json(&json!({"login_id": login_id, "email": format!("{login_id}@example.com"), "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            let pair: Value = http
                .post(format!("{base}/api/v1/auth/login"))
                .header("x-forwarded-for", &ip)
                .json(&json!({"login_id": login_id, "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let token = pair["access_token"].as_str().unwrap().to_owned();
            let res = http
                .post(format!("{base}/api/v1/wallet/charge"))
                .bearer_auth(&token)
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .json(&json!({"amount": CHARGE}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "{:?}", res.text().await);
            (login_id, token)
        }
    });
    futures::future::join_all(tasks).await
}

async fn bank_test(app: TestApp, verify_env: Vec<(&'static str, String)>) {
    let users = Arc::new(open_users(&app).await);
    assert_eq!(app.wallet.store.total_user_money().await.unwrap(), TOTAL);
    let target = transfers_to_run();
    let issued = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, base, users, issued, ok, refused) =
                (app.api.clone(), app.address.clone(), users.clone(), issued.clone(), ok.clone(), refused.clone());
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64);
                while issued.fetch_add(1, Ordering::Relaxed) < target {
                    let from = rng.gen_range(0..USERS);
                    let roll: f64 = rng.gen();
                    let to = if roll < 0.10 { 0 } else { rng.gen_range(0..USERS) };
                    if to == from {
                        continue;
                    }
                    // 10 % ask for more than exists in the whole system.
                    let amount = if (0.10..0.20).contains(&roll) { TOTAL + 1 } else { rng.gen_range(1..=5_000) };
                    let amount = amount.min(10_000_000);
                    let res = http
                        .post(format!("{base}/api/v1/wallet/transfers"))
                        .bearer_auth(&users[from].1)
                        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                        .json(&json!({"to_login_id": users[to].0, "amount": amount}))
                        .send()
                        .await
                        .unwrap();
                    match res.status().as_u16() {
                        201 => ok.fetch_add(1, Ordering::Relaxed),
                        409 => refused.fetch_add(1, Ordering::Relaxed),
                        other => panic!("transfer answered {other}: {:?}", res.text().await),
                    };
                }
            })
        })
        .collect();

    // Readers: a consistent sum of all balances, and each user's balance through the API.
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (store, http, base, users, done, reads) =
                (app.wallet.store.clone(), app.api.clone(), app.address.clone(), users.clone(), done.clone(), reads.clone());
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + r);
                while !done.load(Ordering::Relaxed) {
                    assert_eq!(store.total_user_money().await.unwrap(), TOTAL, "money created or lost mid-run");
                    let u = &users[rng.gen_range(0..USERS)];
                    let w: Value = http.get(format!("{base}/api/v1/wallet")).bearer_auth(&u.1).send().await.unwrap().json().await.unwrap();
                    assert!(w["balance"].as_i64().unwrap() >= 0 && w["bank_balance"].as_i64().unwrap() >= 0, "{w}");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let started = std::time::Instant::now();
    for w in writers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }

    let ok = ok.load(Ordering::Relaxed);
    let refused = refused.load(Ordering::Relaxed);
    eprintln!(
        "bank test: {ok} transfers, {refused} refused, {} consistent reads, {:.0} transfers/s",
        reads.load(Ordering::Relaxed),
        (ok + refused) as f64 / elapsed.as_secs_f64()
    );
    assert!(ok > target / 2, "most transfers succeed ({ok} of {target})");
    assert!(refused >= target / 20, "overdraft attempts were refused ({refused})");
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert_eq!(app.wallet.store.total_user_money().await.unwrap(), TOTAL);
    assert_eq!(app.wallet.store.count_entries("transfer").await.unwrap() as usize, ok, "one journal entry per 2xx transfer");
    let mut sum = 0;
    for (_, token) in users.iter() {
        let w: Value = app.get_as("/api/v1/wallet", token).await.json().await.unwrap();
        let (b, bank) = (w["balance"].as_i64().unwrap(), w["bank_balance"].as_i64().unwrap());
        assert!(b >= 0 && bank == 100_000 - CHARGE);
        sum += b;
    }
    assert_eq!(sum, USERS as i64 * CHARGE, "wallets hold exactly what was charged");
    let audit = app.wallet.store.audit().await.unwrap();
    assert!(audit.violations.is_empty(), "{:?}", audit.violations);

    // The operator's check, as a separate process.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gonggu"));
    cmd.args(["wallet", "verify"]).env("GONGGU_DATA_DIR", app.data_dir.path());
    for (k, v) in verify_env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "gonggu wallet verify: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ledger OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_test_on_sqlite() {
    let app = spawn_app_with(|_| {}).await;
    bank_test(app, vec![]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_test_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("bank_test_on_postgres").await else { return };
    let app = spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url.clone()))).await;
    bank_test(app, vec![("GONGGU_DATABASE__URL", url)]).await;
}

/// `gonggu wallet verify` fails on a broken ledger (so the check above can fail).
#[tokio::test]
async fn verify_detects_a_broken_ledger() {
    let app = spawn_app_with(|_| {}).await;
    let pair = app.signed_in("broken").await;
    let token = pair["access_token"].as_str().unwrap();
    let res = app
        .api
        .post(app.url("/api/v1/wallet/charge"))
        .bearer_auth(token)
        .header("idempotency-key", "k1")
        .json(&json!({"amount": 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.data_dir.path().join("wallet.db").display())).await.unwrap();
    // Tamper behind the application's back: a balance that no posting explains.
    sqlx::query("UPDATE ledger_accounts SET balance = balance + 500 WHERE kind = 'wallet'").execute(&pool).await.unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gonggu"))
        .args(["wallet", "verify"])
        .env("GONGGU_DATA_DIR", app.data_dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("VIOLATION") && text.contains("postings sum to"), "{text}");
}
