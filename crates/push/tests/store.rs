//! Push storage on both engines: a redelivered event stores nothing twice, a claimed delivery
//! is never handed out again — not to a second claimer at the same moment, not after its
//! sender died mid-send (a restart in the middle of a fan-out) — and what nobody claimed yet
//! still goes.

use std::{collections::HashSet, sync::Arc};

use chrono::{Duration, Utc};
use gonggu_kernel::db::{Db, SqliteTuning};
use gonggu_push::{
    domain::{Endpoint, Kind, SubscriptionKeys},
    notices::{Notice, Urgency},
    store::{Outcome, PushStore, MAX_DEVICES},
};
use uuid::Uuid;

fn keys() -> SubscriptionKeys {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
    SubscriptionKeys { p256dh: URL_SAFE_NO_PAD.encode(pair.pub_as_raw().unwrap()), auth: URL_SAFE_NO_PAD.encode(auth) }
}

fn notice(user: Uuid, dedupe: &str) -> Notice {
    Notice {
        user_id: user,
        kind: Kind::Deal,
        event: "member_joined",
        title: "새 참여자가 있어요".into(),
        body: "누군가 참여했어요.".into(),
        url: "/deals/x".into(),
        deal_id: None,
        keyword: None,
        dedupe: dedupe.into(),
        urgency: Urgency::Normal,
    }
}

async fn story(store: Arc<dyn PushStore>) {
    let now = Utc::now();
    let user = Uuid::now_v7();
    let devices = 20;
    for i in 0..devices {
        let e = Endpoint::parse(&format!("https://push{}.example.com/d/{i}", i % 4), false).unwrap();
        store.subscribe(user, None, &e, &keys(), now).await.unwrap();
    }
    // One more than a user keeps: the one registered longest ago gives way.
    let many = Uuid::now_v7();
    for i in 0..=MAX_DEVICES {
        let e = Endpoint::parse(&format!("https://push9.example.com/m/{i}"), false).unwrap();
        store.subscribe(many, None, &e, &keys(), now + Duration::seconds(i as i64)).await.unwrap();
    }
    assert_eq!(store.devices(many).await.unwrap(), MAX_DEVICES as i64);
    assert!(!store.unsubscribe(many, "https://push9.example.com/m/0").await.unwrap(), "the oldest went");
    assert!(store.unsubscribe(many, "https://push9.example.com/m/1").await.unwrap());
    let event = Uuid::now_v7();
    assert_eq!(store.record(&[notice(user, "event:1")], "test", event, now).await.unwrap(), 1);
    assert_eq!(store.record(&[notice(user, "event:1")], "test", event, now).await.unwrap(), 0, "a redelivered event");
    assert_eq!(store.record(&[notice(user, "event:1")], "test", Uuid::now_v7(), now).await.unwrap(), 0, "the same notice again");
    assert_eq!(store.unread(user).await.unwrap(), 1);

    // The push services with something due, each claimed on its own.
    let mut origins = store.due_origins(now, 10).await.unwrap();
    origins.sort();
    let origin = |i: usize| format!("https://push{i}.example.com");
    assert_eq!(origins, (0..4).map(origin).collect::<Vec<_>>());
    // Two claimers at once take disjoint sets, of the origin asked for only.
    let push0 = origin(0);
    let (a, b) =
        tokio::join!(store.claim_due(now, Duration::seconds(60), &push0, 3), store.claim_due(now, Duration::seconds(60), &push0, 3));
    let (a, b) = (a.unwrap(), b.unwrap());
    let taken: Vec<String> = a.iter().chain(b.iter()).map(|d| d.endpoint.clone()).collect();
    let distinct: HashSet<&String> = taken.iter().collect();
    assert!(a.len() <= 3 && b.len() <= 3, "no claim takes more than it asked for: {} and {}", a.len(), b.len());
    assert_eq!(distinct.len(), taken.len(), "no delivery claimed twice");
    assert_eq!(taken.len(), 5, "push0 has five devices");
    assert!(a.iter().chain(b.iter()).all(|d| d.origin == origin(0)));
    assert!(a.iter().all(|d| d.p256dh.is_some() && d.unread == 1 && d.attempts == 1));
    // The first claimer sends; the second dies mid-send (never finishes).
    for d in &a {
        store.finish(d, Outcome::Sent(201)).await.unwrap();
    }
    let c = store.claim_due(now, Duration::seconds(60), &origin(1), 100).await.unwrap();
    assert_eq!(c.len(), 5);
    for d in &c {
        store.finish(d, Outcome::Sent(201)).await.unwrap();
    }
    assert!(!store.due_origins(now, 10).await.unwrap().contains(&origin(0)), "nothing of push0 is left to claim");
    // After the dead claimer's lease, its deliveries are abandoned, never handed out again.
    assert_eq!(store.abandon_stale(now + Duration::seconds(61)).await.unwrap(), b.len() as u64);
    let later = now + Duration::seconds(62);
    let mut rest = Vec::new();
    for o in store.due_origins(later, 10).await.unwrap() {
        rest.extend(store.claim_due(later, Duration::seconds(60), &o, 100).await.unwrap());
    }
    let again: HashSet<String> = a.iter().chain(b.iter()).chain(c.iter()).map(|d| d.endpoint.clone()).collect();
    assert!(rest.iter().all(|d| !again.contains(&d.endpoint)), "nothing claimed before comes back");
    assert_eq!(a.len() + b.len() + c.len() + rest.len(), devices, "every device's delivery was handed out exactly once");
    for d in &rest {
        store.finish(d, Outcome::Retry { status: Some(503), at: now + Duration::seconds(100) }).await.unwrap();
    }
    assert!(store.due_origins(now + Duration::seconds(99), 10).await.unwrap().is_empty(), "not before its retry time");
    let mut retried = Vec::new();
    for o in store.due_origins(now + Duration::seconds(100), 10).await.unwrap() {
        retried.extend(store.claim_due(now + Duration::seconds(100), Duration::seconds(60), &o, 100).await.unwrap());
    }
    assert_eq!(retried.len(), rest.len());
    assert!(retried.iter().all(|d| d.attempts == 2));
    // 410 deletes the device, and what waited for it.
    store.finish(&retried[0], Outcome::Gone(410)).await.unwrap();
    assert_eq!(store.devices(user).await.unwrap(), devices as i64 - 1);
    let states: std::collections::HashMap<String, i64> = store.delivery_states().await.unwrap().into_iter().collect();
    assert_eq!(states.get("abandoned").copied(), Some(b.len() as i64));
    assert_eq!(states.get("gone").copied(), Some(1));

    // The inbox is the user's own; read marks are too.
    assert_eq!(store.mark_read(Uuid::now_v7(), None, now).await.unwrap(), 0);
    assert_eq!(store.mark_read(user, None, now).await.unwrap(), 1);
    assert_eq!(store.unread(user).await.unwrap(), 0);
    assert_eq!(store.prune(now + Duration::days(31)).await.unwrap(), 1);
    assert!(store.inbox(user, None, 10).await.unwrap().is_empty());

    // Preferences and muted rooms are written together; a given list replaces the old one.
    let (r1, r2, r3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut p = store.preferences(user).await.unwrap();
    p.chat = false;
    store.set_preferences(user, &p, Some(&[r1, r2])).await.unwrap();
    store.set_preferences(user, &p, Some(&[r2, r3])).await.unwrap();
    let muted = |rooms: Vec<Uuid>| rooms.into_iter().collect::<HashSet<Uuid>>();
    assert_eq!(muted(store.muted_rooms(user).await.unwrap()), HashSet::from([r2, r3]));
    p.chat = true;
    store.set_preferences(user, &p, None).await.unwrap();
    assert_eq!(muted(store.muted_rooms(user).await.unwrap()), HashSet::from([r2, r3]), "no list keeps the rooms");
    assert!(store.preferences(user).await.unwrap().chat);
}

#[tokio::test]
async fn deliveries_go_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(None, dir.path(), "push", SqliteTuning::default()).await.unwrap();
    story(gonggu_push::store::open(&db, Default::default()).await.unwrap()).await;
}

#[tokio::test]
async fn deliveries_go_once_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("deliveries_go_once_on_postgres").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(Some(&url), dir.path(), "push", SqliteTuning::default()).await.unwrap();
    story(gonggu_push::store::open(&db, Default::default()).await.unwrap()).await;
}

/// A device its push service replaced moves, proved by the old auth secret, to the new endpoint
/// with its user, its session and what was waiting for it.
async fn renewal_story(store: Arc<dyn PushStore>) {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    let now = Utc::now();
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let old = Endpoint::parse("https://old.push.example.com/d/1", false).unwrap();
    let old_keys = keys();
    store.subscribe(user, Some(session), &old, &old_keys, now).await.unwrap();
    assert_eq!(store.record(&[notice(user, "renew:1")], "test", Uuid::now_v7(), now).await.unwrap(), 1);
    let new = Endpoint::parse("https://new.push.example.com/d/2", false).unwrap();
    let secret = URL_SAFE_NO_PAD.decode(&old_keys.auth).unwrap();
    assert!(!store.renew(old.as_str(), &[0u8; 16], &new, &keys(), now).await.unwrap(), "a wrong secret");
    assert!(!store.renew(old.as_str(), &secret[..15], &new, &keys(), now).await.unwrap(), "a short secret");
    assert!(!store.renew(new.as_str(), &secret, &old, &keys(), now).await.unwrap(), "an unknown endpoint");
    assert!(store.renew(old.as_str(), &secret, &new, &keys(), now).await.unwrap());
    assert!(!store.renew(old.as_str(), &secret, &new, &keys(), now).await.unwrap(), "the old endpoint is gone");
    assert_eq!(store.devices(user).await.unwrap(), 1);
    assert!(store.due_origins(now, 10).await.unwrap() == vec!["https://new.push.example.com".to_owned()], "only the new endpoint has work");
    let due = store.claim_due(now, Duration::seconds(60), "https://new.push.example.com", 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].endpoint, new.as_str());
    assert!(due[0].p256dh.is_some(), "the new keys are there");
    assert_eq!(store.forget_sessions(&[session]).await.unwrap(), 1, "still the session's device");
}

#[tokio::test]
async fn replaced_subscriptions_move_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(None, dir.path(), "push", SqliteTuning::default()).await.unwrap();
    renewal_story(gonggu_push::store::open(&db, Default::default()).await.unwrap()).await;
}

#[tokio::test]
async fn replaced_subscriptions_move_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("replaced_subscriptions_move_on_postgres").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(Some(&url), dir.path(), "push", SqliteTuning::default()).await.unwrap();
    renewal_story(gonggu_push::store::open(&db, Default::default()).await.unwrap()).await;
}

/// Outcomes recorded together — more sent ones than one statement takes, under two statuses,
/// beside a retry — each land on their own delivery.
async fn batch_story(store: Arc<dyn PushStore>) {
    let now = Utc::now();
    let users: Vec<Uuid> = (0..16).map(|_| Uuid::now_v7()).collect();
    for (u, user) in users.iter().enumerate() {
        for i in 0..MAX_DEVICES {
            let e = Endpoint::parse(&format!("https://batch.push.example.com/{u}/{i}"), false).unwrap();
            store.subscribe(*user, None, &e, &keys(), now).await.unwrap();
        }
    }
    let notices: Vec<Notice> = users.iter().map(|u| notice(*u, "batch:1")).collect();
    assert_eq!(store.record(&notices, "test", Uuid::now_v7(), now).await.unwrap(), users.len());
    let due = store.claim_due(now, Duration::seconds(60), "https://batch.push.example.com", 1000).await.unwrap();
    assert_eq!(due.len(), users.len() * MAX_DEVICES);
    let done: Vec<(gonggu_push::store::Due, Outcome)> = due
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let outcome = match i {
                0 => Outcome::Retry { status: Some(503), at: now + Duration::seconds(30) },
                i if i % 3 == 0 => Outcome::Sent(200),
                _ => Outcome::Sent(201),
            };
            (d, outcome)
        })
        .collect();
    store.finish_all(&done).await.unwrap();
    let states: std::collections::HashMap<String, i64> = store.delivery_states().await.unwrap().into_iter().collect();
    assert_eq!(states.get("sent").copied(), Some(done.len() as i64 - 1), "{states:?}");
    assert_eq!(states.get("pending").copied(), Some(1), "{states:?}");
    assert_eq!(states.get("sending"), None, "{states:?}");
    assert!(store.due_origins(now + Duration::seconds(29), 10).await.unwrap().is_empty());
    let again = store.claim_due(now + Duration::seconds(30), Duration::seconds(60), "https://batch.push.example.com", 1000).await.unwrap();
    assert_eq!((again.len(), again[0].endpoint.as_str()), (1, done[0].0.endpoint.as_str()), "only the retry comes back");
}

#[tokio::test]
async fn outcomes_recorded_together_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(None, dir.path(), "push", SqliteTuning::default()).await.unwrap();
    batch_story(gonggu_push::store::open(&db, Default::default()).await.unwrap()).await;
}

#[tokio::test]
async fn outcomes_recorded_together_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("outcomes_recorded_together_on_postgres").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(Some(&url), dir.path(), "push", SqliteTuning::default()).await.unwrap();
    batch_story(gonggu_push::store::open(&db, Default::default()).await.unwrap()).await;
}
