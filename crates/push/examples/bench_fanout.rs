//! Fan-out benchmark (issue 11, bench 1): one deal notice to 10,000 devices — stored, encrypted
//! (RFC 8291 `aes128gcm`), signed (VAPID) and POSTed to a local push service that answers 201 —
//! from the moment the notice is recorded until the last push is acknowledged. The baseline,
//! measured in the same run: the raw cost of encrypting the same payload 10,000 times.
//!
//! `cargo run --release -p gonggu-push --example bench_fanout [devices]`

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{routing::post, Router};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use gonggu_kernel::{
    clock::Clock,
    db::{Db, SqliteTuning},
};
use gonggu_push::{
    delivery::{Worker, WorkerConfig},
    domain::{Endpoint, Kind, SubscriptionKeys},
    notices::{Notice, Urgency},
    sender::Sender,
    store::MAX_DEVICES,
    vapid::{generate, Vapid},
};
use uuid::Uuid;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let devices: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let app = Router::new().route(
        "/push/{id}",
        post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::CREATED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir()?;
    let db = Db::connect(None, dir.path(), "push", SqliteTuning::default()).await?;
    let store = gonggu_push::store::open(&db, Default::default()).await?;
    // The deal's members, each with as many devices as a user may keep (so 10,000 devices are
    // 500 members).
    let users: Vec<Uuid> = (0..devices.div_ceil(MAX_DEVICES)).map(|_| Uuid::now_v7()).collect();
    // One key pair for all devices keeps setup short; each push still runs its own ECDH with a
    // fresh ephemeral key, as for distinct devices.
    let (pair, auth) = ece::generate_keypair_and_auth_secret()?;
    let p256dh = pair.pub_as_raw()?;
    let keys = SubscriptionKeys { p256dh: URL_SAFE_NO_PAD.encode(&p256dh), auth: URL_SAFE_NO_PAD.encode(auth) };
    for i in 0..devices {
        let e = Endpoint::parse(&format!("{origin}/push/{i}"), true).map_err(anyhow::Error::msg)?;
        store.subscribe(users[i / MAX_DEVICES], None, &e, &keys, chrono::Utc::now()).await?;
    }
    let deal_id = Uuid::now_v7();
    let notice = |user_id| Notice {
        user_id,
        kind: Kind::Deal,
        event: "deal_confirmed",
        title: "공구가 확정됐어요".into(),
        body: "‘제주 삼다수 2L 12병’ 공구에 최소 인원이 모였어요.".into(),
        url: format!("/deals/{deal_id}"),
        deal_id: Some(deal_id),
        keyword: None,
        dedupe: "bench".into(),
        urgency: Urgency::High,
    };
    let sample = notice(users[0]);
    let payload = serde_json::to_vec(&serde_json::json!({
        "title": sample.title, "body": sample.body, "url": sample.url, "tag": "deal-x", "icon": "/assets/icons/icon-192.png", "badge_count": 1, "kind": "deal"
    }))?;

    // Baseline: encryption alone, on one core.
    let started = Instant::now();
    for _ in 0..devices {
        std::hint::black_box(ece::encrypt(&p256dh, &auth, &payload)?);
    }
    let encrypt_only = started.elapsed();

    let vapid = Arc::new(Vapid::from_pkcs8(&generate(), "https://gonggu.example")?);
    let sender = Arc::new(Sender::new(vapid, Duration::from_secs(10), true)?);
    let worker = Worker::new(store.clone(), Clock::system(), sender, WorkerConfig { allow_loopback: true, ..Default::default() });
    // The worker runs as in the app: woken when notices are stored and by every finished push.
    let (stop, shutdown) = gonggu_kernel::shutdown::channel();
    tokio::spawn(worker.clone().run(shutdown));
    let started = Instant::now();
    let notices: Vec<Notice> = users.iter().map(|u| notice(*u)).collect();
    store.record(&notices, "bench", Uuid::now_v7(), chrono::Utc::now()).await?;
    worker.wake.notify_one();
    while received.load(Ordering::Relaxed) < devices {
        tokio::time::sleep(Duration::from_millis(1)).await;
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "stuck at {}", received.load(Ordering::Relaxed));
    }
    let fan_out = started.elapsed();
    // Let the last outcomes be written.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.fire();
    let states = store.delivery_states().await?;
    println!("devices {devices}; delivery states after: {states:?}");
    println!(
        "encrypt only (baseline, 1 core): {:.0} ms ({:.1} µs per push)",
        encrypt_only.as_secs_f64() * 1e3,
        encrypt_only.as_secs_f64() * 1e6 / devices as f64
    );
    println!(
        "record → every push acknowledged: {:.0} ms ({:.0} pushes/s)",
        fan_out.as_secs_f64() * 1e3,
        devices as f64 / fan_out.as_secs_f64()
    );
    println!("ratio (fan-out / encryption alone): {:.1}x", fan_out.as_secs_f64() / encrypt_only.as_secs_f64());
    Ok(())
}
