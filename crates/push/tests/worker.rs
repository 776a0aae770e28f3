//! The delivery worker claims for a push service only as many deliveries as it can send to it at
//! once. A claim is never handed out again (at most once, even across restarts), so a claim left
//! waiting in memory behind a slow push service would be lost, not sent, if its process died.

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

// Several threads, so the sending tasks run while the worker claims (as in the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_push_service_gets_no_more_claims_than_it_has_lanes() {
    // A push service that holds every push until the test lets it answer.
    let arrived = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let (count, held) = (arrived.clone(), gate.clone());
    let app = Router::new().route(
        "/push/{id}",
        post(move || {
            let (count, held) = (count.clone(), held.clone());
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                held.acquire().await.unwrap().forget();
                axum::http::StatusCode::CREATED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(None, dir.path(), "push", SqliteTuning::default()).await.unwrap();
    let store = gonggu_push::store::open(&db, Default::default()).await.unwrap();
    let user = Uuid::now_v7();
    let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
    let keys = SubscriptionKeys { p256dh: URL_SAFE_NO_PAD.encode(pair.pub_as_raw().unwrap()), auth: URL_SAFE_NO_PAD.encode(auth) };
    let devices = 5;
    for i in 0..devices {
        let e = Endpoint::parse(&format!("{origin}/push/{i}"), true).unwrap();
        store.subscribe(user, None, &e, &keys, chrono::Utc::now()).await.unwrap();
    }
    let notice = Notice {
        user_id: user,
        kind: Kind::Deal,
        event: "deal_confirmed",
        title: "공구가 확정됐어요".into(),
        body: "최소 인원이 모였어요.".into(),
        url: "/deals/x".into(),
        deal_id: None,
        keyword: None,
        dedupe: "worker-test".into(),
        urgency: Urgency::High,
    };
    store.record(&[notice], "test", Uuid::now_v7(), chrono::Utc::now()).await.unwrap();

    let vapid = Arc::new(Vapid::from_pkcs8(&generate(), "https://gonggu.example").unwrap());
    let sender = Arc::new(Sender::new(vapid, Duration::from_secs(10), true).unwrap());
    let config = WorkerConfig { per_origin: 2, allow_loopback: true, ..Default::default() };
    let worker = Worker::new(store.clone(), Clock::system(), sender, config);

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
    let deadline = Instant::now() + Duration::from_secs(10);
    while states(&store).await.get("sent").copied() != Some(devices as i64) {
        assert!(Instant::now() < deadline, "not all sent: {:?}", states(&store).await);
        worker.drain().await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(arrived.load(Ordering::SeqCst), devices, "each device once");
}
