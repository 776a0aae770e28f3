//! The delivery worker against local push services: it claims for a push service only as many
//! deliveries as it can send to it at once (a claim is never handed out again — at most once,
//! even across restarts — so a claim left waiting in memory behind a slow push service would be
//! lost, not sent, if its process died); a service that never answers holds up no other; 413
//! goes again shorter; no answer within the timeout is retried after a backoff.

use std::{
    collections::HashMap,
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
    store::PushStore,
    vapid::{generate, Vapid},
};
use tokio::sync::Semaphore;
use uuid::Uuid;

async fn states(store: &Arc<dyn PushStore>) -> HashMap<String, i64> {
    store.delivery_states().await.unwrap().into_iter().collect()
}

/// A local push service: `answer` says what each push gets (it sees the push's body).
async fn push_service<F, Fut>(answer: F) -> String
where
    F: Fn(axum::body::Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = axum::http::StatusCode> + Send + 'static,
{
    let app = Router::new().route("/push/{id}", post(move |body: axum::body::Bytes| answer(body)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

/// A store with `devices` devices of one user on each of `origins`, and one notice for them.
async fn store_with(dir: &std::path::Path, origins: &[&str], devices: usize, body: &str) -> Arc<dyn PushStore> {
    let db = Db::connect(None, dir, "push", SqliteTuning::default()).await.unwrap();
    let store = gonggu_push::store::open(&db, Default::default()).await.unwrap();
    let user = Uuid::now_v7();
    let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
    let keys = SubscriptionKeys { p256dh: URL_SAFE_NO_PAD.encode(pair.pub_as_raw().unwrap()), auth: URL_SAFE_NO_PAD.encode(auth) };
    for origin in origins {
        for i in 0..devices {
            let e = Endpoint::parse(&format!("{origin}/push/{i}"), true).unwrap();
            store.subscribe(user, None, &e, &keys, chrono::Utc::now()).await.unwrap();
        }
    }
    let notice = Notice {
        user_id: user,
        kind: Kind::Deal,
        event: "deal_confirmed",
        title: "공구가 확정됐어요".into(),
        body: body.into(),
        url: "/deals/x".into(),
        deal_id: None,
        keyword: None,
        dedupe: "worker-test".into(),
        urgency: Urgency::High,
    };
    store.record(&[notice], "test", Uuid::now_v7(), chrono::Utc::now()).await.unwrap();
    store
}

fn worker_for(store: &Arc<dyn PushStore>, timeout: Duration, config: WorkerConfig) -> Arc<Worker> {
    let vapid = Arc::new(Vapid::from_pkcs8(&generate(), "https://gonggu.example").unwrap());
    let sender = Arc::new(Sender::new(vapid, timeout, true).unwrap());
    Worker::new(store.clone(), Clock::system(), sender, WorkerConfig { allow_loopback: true, ..config })
}

/// Drains until `done` holds for the delivery states (within 10 s).
async fn drain_until(worker: &Arc<Worker>, store: &Arc<dyn PushStore>, what: &str, done: impl Fn(&HashMap<String, i64>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = states(store).await;
        if done(&now) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {now:?}");
        worker.drain().await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// Several threads, so the sending tasks run while the worker claims (as in the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_push_service_gets_no_more_claims_than_it_has_lanes() {
    // A push service that holds every push until the test lets it answer.
    let arrived = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let (count, held) = (arrived.clone(), gate.clone());
    let origin = push_service(move |_| {
        let (count, held) = (count.clone(), held.clone());
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            held.acquire().await.unwrap().forget();
            axum::http::StatusCode::CREATED
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let devices = 5;
    let store = store_with(dir.path(), &[&origin], devices, "최소 인원이 모였어요.").await;
    let worker = worker_for(&store, Duration::from_secs(10), WorkerConfig { per_origin: 2, ..Default::default() });

    assert_eq!(worker.drain().await.unwrap(), 2, "two lanes: two claims");
    let deadline = Instant::now() + Duration::from_secs(10);
    while arrived.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the two claims were not sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(worker.drain().await.unwrap(), 0, "both lanes busy: nothing more claimed");
    let now = states(&store).await;
    assert_eq!((now.get("sending").copied(), now.get("pending").copied()), (Some(2), Some(3)), "{now:?}");

    // The push service answers: the rest go, each once.
    gate.add_permits(devices);
    drain_until(&worker, &store, "all sent", |s| s.get("sent").copied() == Some(devices as i64)).await;
    assert_eq!(arrived.load(Ordering::SeqCst), devices, "each device once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_service_that_never_answers_holds_up_no_other() {
    let held = push_service(|_| async { std::future::pending().await }).await;
    let quick = push_service(|_| async { axum::http::StatusCode::CREATED }).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &[&held, &quick], 4, "최소 인원이 모였어요.").await;
    let worker = worker_for(&store, Duration::from_secs(30), WorkerConfig { per_origin: 2, ..Default::default() });
    drain_until(&worker, &store, "the quick service's four sent", |s| s.get("sent").copied() == Some(4)).await;
    let now = states(&store).await;
    assert_eq!((now.get("sending").copied(), now.get("pending").copied()), (Some(2), Some(2)), "{now:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_goes_again_shorter_and_no_answer_is_retried() {
    // 413 to the first push, then 201: the second is the same notice, shortened.
    let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = sizes.clone();
    let origin = push_service(move |body| {
        let seen = seen.clone();
        async move {
            let mut seen = seen.lock().unwrap();
            seen.push(body.len());
            if seen.len() == 1 {
                axum::http::StatusCode::PAYLOAD_TOO_LARGE
            } else {
                axum::http::StatusCode::CREATED
            }
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &[&origin], 1, &"가".repeat(1200)).await;
    let worker = worker_for(&store, Duration::from_secs(10), WorkerConfig::default());
    drain_until(&worker, &store, "sent after the 413", |s| s.get("sent").copied() == Some(1)).await;
    let sizes = sizes.lock().unwrap().clone();
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert!(sizes[0] > 3000 && sizes[1] < 1200, "shortened to about 1 KB: {sizes:?}");

    // No answer within the send timeout: tried again after a backoff, and sent then.
    let tries = Arc::new(AtomicUsize::new(0));
    let count = tries.clone();
    let origin = push_service(move |_| {
        let count = count.clone();
        async move {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                std::future::pending::<()>().await;
            }
            axum::http::StatusCode::CREATED
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &[&origin], 1, "최소 인원이 모였어요.").await;
    let worker =
        worker_for(&store, Duration::from_millis(300), WorkerConfig { retry_base: Duration::from_millis(50), ..Default::default() });
    drain_until(&worker, &store, "sent after the timeout", |s| s.get("sent").copied() == Some(1)).await;
    assert_eq!(tries.load(Ordering::SeqCst), 2);
}
