//! One test story for the accounts store, run against SQLite and PostgreSQL.

use std::sync::Arc;

use chrono::{Duration, Utc};
use gonggu_accounts::{
    domain::Neighborhood,
    events::{KeywordsChanged, SessionsRevoked, UserRegistered},
    store::{self, AccountStore, CodePurpose, CodeRecord, Revoke, Rotation, SessionRecord, StoreError, UserRecord},
};
use gonggu_kernel::{
    db::{Db, SqliteTuning},
    events::{Bus, Envelope, Event, InMemoryBus, OutboxExt, OutboxSignal},
    testkit::fresh_postgres,
};
use uuid::Uuid;

async fn sqlite() -> (Db, Arc<dyn AccountStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(None, dir.path(), "accounts", SqliteTuning::default()).await.unwrap();
    let store = store::open(&db, OutboxSignal::default()).await.unwrap();
    (db, store, dir)
}

async fn postgres(test: &str) -> Option<(Db, Arc<dyn AccountStore>)> {
    let url = fresh_postgres(test).await?;
    let db = Db::connect(Some(&url), std::path::Path::new("."), "accounts", SqliteTuning::default()).await.unwrap();
    let store = store::open(&db, OutboxSignal::default()).await.unwrap();
    Some((db, store))
}

fn user(login_id: &str) -> UserRecord {
    UserRecord {
        id: Uuid::now_v7(),
        login_id: login_id.into(),
        email: format!("{login_id}@example.com"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        neighborhood: None,
        second_neighborhood: None,
        keywords: vec![],
        created_at: Utc::now(),
    }
}

fn session(user_id: Uuid, now: chrono::DateTime<Utc>) -> SessionRecord {
    SessionRecord {
        id: Uuid::now_v7(),
        user_id,
        created_at: now,
        expires_at: now + Duration::days(14),
        last_used_at: now,
        user_agent: Some("test".into()),
        ip: Some("127.0.0.1".into()),
    }
}

fn h(s: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).to_vec()
}

/// Publishes the outbox and returns the event types that came out, in order.
async fn drain_outbox(db: &Db) -> Vec<Envelope> {
    let bus = InMemoryBus::new();
    let mut sub =
        bus.subscribe("test", &[UserRegistered::TYPE, SessionsRevoked::TYPE, KeywordsChanged::TYPE, "NeighborhoodChanged"]).await.unwrap();
    // The in-memory bus's publish returns once every subscriber acknowledged, so take them
    // while the relay runs.
    let taken = tokio::spawn(async move {
        let mut out = vec![];
        while let Ok(Some(d)) = tokio::time::timeout(std::time::Duration::from_millis(300), sub.next()).await {
            out.push(d.envelope.clone());
            d.ack().await.unwrap();
        }
        out
    });
    let n = db.relay_outbox_batch(bus.as_ref()).await.unwrap();
    let out = taken.await.unwrap();
    assert_eq!(out.len(), n);
    assert_eq!(db.relay_outbox_batch(bus.as_ref()).await.unwrap(), 0, "published rows are not sent again");
    out
}

async fn story(db: Db, s: Arc<dyn AccountStore>) {
    let now = Utc::now();
    // Users: unique login id and email, events with the insert.
    let alice = UserRecord {
        neighborhood: Some(Neighborhood {
            name: "역삼동".into(),
            lat: 37.5,
            lon: 127.03,
            code: Some("11680101".into()),
            verified_at: Some(chrono::SubsecRound::trunc_subsecs(now - chrono::Duration::days(3), 3)),
            reach_km: 3,
        }),
        ..user("alice")
    };
    let ev = Envelope::new(&UserRegistered { user_id: alice.id, login_id: "alice".into(), neighborhood: None }, now);
    s.insert_user(&alice, &[ev]).await.unwrap();
    let same_id = UserRecord { email: "other@example.com".into(), ..user("alice") };
    assert!(matches!(s.insert_user(&same_id, &[]).await, Err(StoreError::LoginIdTaken)));
    let clash = UserRecord { email: "alice@example.com".into(), ..user("alice2") };
    assert!(matches!(s.insert_user(&clash, &[]).await, Err(StoreError::EmailTaken)));
    assert!(s.login_id_taken("alice").await.unwrap());
    assert!(!s.login_id_taken("bob").await.unwrap());
    let found = s.user_by_login("alice").await.unwrap().unwrap();
    assert_eq!(found.neighborhood, alice.neighborhood);
    assert_eq!(found.id, alice.id);
    assert_eq!(s.user_by_email("alice@example.com").await.unwrap().unwrap().id, alice.id);
    assert_eq!(s.user_by_id(alice.id).await.unwrap().unwrap().login_id, "alice");
    assert!(s.user_by_id(Uuid::now_v7()).await.unwrap().is_none());

    // Sessions: rotation, reuse detection, expiry.
    let s1 = session(alice.id, now);
    s.create_session(&s1, &h("t1")).await.unwrap();
    let Rotation::Rotated { session: rotated, login_id } = s.rotate_refresh(&h("t1"), &h("t2"), now).await.unwrap() else {
        panic!("rotate")
    };
    assert_eq!((rotated.id, login_id.as_str()), (s1.id, "alice"));
    assert_eq!(rotated.expires_at.timestamp(), s1.expires_at.timestamp(), "rotation keeps the absolute end");
    assert_eq!(s.session_by_refresh(&h("t2"), now).await.unwrap().unwrap().id, s1.id);
    assert_eq!(s.rotate_refresh(&h("t1"), &h("t3"), now).await.unwrap(), Rotation::Reused { user_id: alice.id, session_id: s1.id });
    assert_eq!(s.rotate_refresh(&h("t2"), &h("t4"), now).await.unwrap(), Rotation::Rejected, "family revoked");
    assert_eq!(s.rotate_refresh(&h("never"), &h("t5"), now).await.unwrap(), Rotation::Rejected);
    assert!(s.session_by_refresh(&h("t2"), now).await.unwrap().is_none());

    let s2 = session(alice.id, now);
    s.create_session(&s2, &h("u1")).await.unwrap();
    assert_eq!(s.rotate_refresh(&h("u1"), &h("u2"), now + Duration::days(15)).await.unwrap(), Rotation::Rejected, "past its lifetime");

    // Listing and revoking.
    let s3 = session(alice.id, now);
    let s4 = session(alice.id, now);
    s.create_session(&s3, &h("v1")).await.unwrap();
    s.create_session(&s4, &h("w1")).await.unwrap();
    let live: Vec<Uuid> = s.list_sessions(alice.id, now).await.unwrap().iter().map(|x| x.id).collect();
    assert_eq!(live.len(), 3, "s2, s3, s4");
    assert!(!live.contains(&s1.id));
    assert_eq!(s.list_sessions(alice.id, now + Duration::days(15)).await.unwrap().len(), 0, "expired ones are not listed");
    assert_eq!(s.revoke_sessions(alice.id, Revoke::One(s3.id), now, "revoked").await.unwrap(), vec![s3.id]);
    assert!(s.revoke_sessions(alice.id, Revoke::One(s3.id), now, "revoked").await.unwrap().is_empty());
    let bob = user("bob");
    s.insert_user(&bob, &[]).await.unwrap();
    assert!(s.revoke_sessions(bob.id, Revoke::One(s4.id), now, "revoked").await.unwrap().is_empty(), "not bob's session");
    let mut others = s.revoke_sessions(alice.id, Revoke::AllExcept(Some(s4.id)), now, "others_revoked").await.unwrap();
    others.sort();
    assert_eq!(others, vec![s2.id]);

    // Password change keeps one session.
    let s5 = session(alice.id, now);
    s.create_session(&s5, &h("x1")).await.unwrap();
    let revoked = s.set_password(alice.id, "$argon2id$new", Some(s4.id), now, "password_changed").await.unwrap();
    assert_eq!(revoked, vec![s5.id]);
    assert_eq!(s.user_by_id(alice.id).await.unwrap().unwrap().password_hash, "$argon2id$new");

    // Keywords, neighbourhood, email.
    let kw = vec!["휴지".to_owned(), "생수".to_owned()];
    let ev = Envelope::new(&KeywordsChanged { user_id: alice.id, login_id: "alice".into(), keywords: kw.clone() }, now);
    s.set_keywords(alice.id, &kw, &ev).await.unwrap();
    assert_eq!(s.user_by_id(alice.id).await.unwrap().unwrap().keywords, kw);
    // A second neighbourhood, switched to and back: both engines swap the two in one statement.
    let ev = || Envelope::new(&gonggu_accounts::events::NeighborhoodChanged { user_id: alice.id, neighborhood: None, second: None }, now);
    let mangwon = Neighborhood::at_place("11440123", None).unwrap();
    s.set_second_neighborhood(alice.id, Some(&mangwon), &ev()).await.unwrap();
    let found = s.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(found.second_neighborhood.as_ref().map(|n| n.name.as_str()), Some("망원동"));
    s.swap_neighborhoods(alice.id, &ev()).await.unwrap();
    let swapped = s.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(swapped.neighborhood.as_ref().and_then(|n| n.code.as_deref()), Some("11440123"));
    assert_eq!(
        swapped.second_neighborhood.as_ref().map(|n| (n.code.as_deref(), n.verified_at)),
        alice.neighborhood.as_ref().map(|n| (n.code.as_deref(), n.verified_at)),
        "the 인증 travels with its 동"
    );
    assert_eq!(swapped.neighborhood.as_ref().map(|n| n.reach_km), Some(3), "the reach stays the user's");
    s.swap_neighborhoods(alice.id, &ev()).await.unwrap();
    assert_eq!(s.user_by_id(alice.id).await.unwrap().unwrap().neighborhood, alice.neighborhood);
    s.set_second_neighborhood(alice.id, None, &ev()).await.unwrap();
    s.swap_neighborhoods(alice.id, &ev()).await.unwrap();
    assert_eq!(s.user_by_id(alice.id).await.unwrap().unwrap().neighborhood, alice.neighborhood, "no second: nothing to swap");
    s.set_neighborhood(alice.id, None, &ev()).await.unwrap();
    assert!(s.user_by_id(alice.id).await.unwrap().unwrap().neighborhood.is_none());
    assert!(matches!(s.set_email(alice.id, "bob@example.com").await, Err(StoreError::EmailTaken)));
    s.set_email(alice.id, "alice@new.example").await.unwrap();
    assert_eq!(s.user_by_email("alice@new.example").await.unwrap().unwrap().id, alice.id);

    // One-time codes.
    let code = CodeRecord {
        code_hash: h("123456"),
        target_email: Some("x@example.com".into()),
        expires_at: now + Duration::minutes(10),
        attempts: 0,
    };
    s.put_code(alice.id, CodePurpose::EmailChange, &code).await.unwrap();
    assert_eq!(s.bump_code_attempts(alice.id, CodePurpose::EmailChange).await.unwrap(), 1);
    assert_eq!(s.bump_code_attempts(alice.id, CodePurpose::EmailChange).await.unwrap(), 2);
    assert!(s.code(alice.id, CodePurpose::PasswordReset).await.unwrap().is_none(), "purposes are separate");
    let again = CodeRecord { code_hash: h("654321"), ..code.clone() };
    s.put_code(alice.id, CodePurpose::EmailChange, &again).await.unwrap();
    let got = s.code(alice.id, CodePurpose::EmailChange).await.unwrap().unwrap();
    assert_eq!((got.code_hash, got.attempts), (h("654321"), 0), "a new code replaces the old one");
    s.delete_code(alice.id, CodePurpose::EmailChange).await.unwrap();
    assert!(s.code(alice.id, CodePurpose::EmailChange).await.unwrap().is_none());

    // The outbox holds every event, in order, and the relay sends each once.
    let events = drain_outbox(&db).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "UserRegistered",
            "SessionsRevoked",
            "SessionsRevoked",
            "SessionsRevoked",
            "SessionsRevoked",
            "KeywordsChanged",
            // Second set, swapped, swapped back, second cleared, a swap with none, active cleared.
            "NeighborhoodChanged",
            "NeighborhoodChanged",
            "NeighborhoodChanged",
            "NeighborhoodChanged",
            "NeighborhoodChanged",
            "NeighborhoodChanged"
        ]
    );
    let reuse: SessionsRevoked = events[1].decode().unwrap().unwrap();
    assert_eq!((reuse.reason.as_str(), reuse.session_ids.as_slice()), ("token_reuse", [s1.id].as_slice()));

    // The inbox: a consumer handles an event id once.
    let id = events[0].id;
    match &db {
        Db::Sqlite(p) => {
            let mut c = p.acquire().await.unwrap();
            assert!(c.claim_event("wallet", id).await.unwrap());
            assert!(!c.claim_event("wallet", id).await.unwrap());
            assert!(c.claim_event("push", id).await.unwrap(), "consumers are independent");
        }
        Db::Postgres(p) => {
            let mut c = p.acquire().await.unwrap();
            assert!(c.claim_event("wallet", id).await.unwrap());
            assert!(!c.claim_event("wallet", id).await.unwrap());
            assert!(c.claim_event("push", id).await.unwrap(), "consumers are independent");
        }
    }
}

/// Many devices presenting one refresh token at once: at most one rotation wins.
async fn racing_rotation(s: Arc<dyn AccountStore>) {
    let now = Utc::now();
    let u = user("racer");
    s.insert_user(&u, &[]).await.unwrap();
    let sess = session(u.id, now);
    s.create_session(&sess, &h("r0")).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.rotate_refresh(&h("r0"), &h(&format!("r{}", i + 1)), now).await.unwrap() })
        })
        .collect();
    let mut rotated = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Rotation::Rotated { .. }) {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1, "exactly one rotation wins");
}

#[tokio::test]
async fn store_story_on_sqlite() {
    let (db, s, _dir) = sqlite().await;
    story(db, s).await;
}

#[tokio::test]
async fn store_story_on_postgres() {
    let Some((db, s)) = postgres("store_story_on_postgres").await else { return };
    story(db, s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_rotation_on_sqlite() {
    let (_db, s, _dir) = sqlite().await;
    racing_rotation(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_rotation_on_postgres() {
    let Some((_db, s)) = postgres("racing_rotation_on_postgres").await else { return };
    racing_rotation(s).await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let (db, _s, _dir) = sqlite().await;
    store::open(&db, OutboxSignal::default()).await.unwrap();
}

/// Values that no write of ours produces must not read back as defaults (no keywords, no
/// neighbourhood): the read fails and says which column of which user.
async fn corrupt_values_fail_loudly(db: Db, s: Arc<dyn AccountStore>) {
    let u = user("corrupt");
    s.insert_user(&u, &[]).await.unwrap();
    let break_it = |sql: &'static str| {
        let db = db.clone();
        async move {
            match &db {
                Db::Sqlite(p) => sqlx::query(sql).bind(u.id).execute(p).await.map(drop),
                Db::Postgres(p) => sqlx::query(sql).bind(u.id).execute(p).await.map(drop),
            }
            .unwrap()
        }
    };
    break_it("UPDATE users SET keywords = '{not json' WHERE id = $1").await;
    let e = s.user_by_id(u.id).await.unwrap_err().to_string();
    assert!(e.contains("users.keywords") && e.contains(&u.id.to_string()), "{e}");
    break_it("UPDATE users SET keywords = '[\"휴지\"]', neighborhood_name = '역삼동' WHERE id = $1").await;
    let e = s.user_by_login("corrupt").await.unwrap_err().to_string();
    assert!(e.contains("neighborhood") && e.contains(&u.id.to_string()), "{e}");
    break_it("UPDATE users SET neighborhood_name = NULL WHERE id = $1").await;
    assert_eq!(s.user_by_email("corrupt@example.com").await.unwrap().unwrap().keywords, ["휴지"]);
}

#[tokio::test]
async fn corrupt_values_fail_loudly_on_sqlite() {
    let (db, s, _dir) = sqlite().await;
    corrupt_values_fail_loudly(db, s).await;
}

#[tokio::test]
async fn corrupt_values_fail_loudly_on_postgres() {
    let Some((db, s)) = postgres("corrupt_values_fail_loudly").await else { return };
    corrupt_values_fail_loudly(db, s).await;
}

/// What a starting instance seeds its revoked-token set with.
async fn recent_revocations(s: Arc<dyn AccountStore>) {
    let u = user("revoker");
    s.insert_user(&u, &[]).await.unwrap();
    let now = Utc::now();
    let (old, recent, live) = (session(u.id, now), session(u.id, now), session(u.id, now));
    for (x, t) in [(&old, "old"), (&recent, "recent"), (&live, "live")] {
        s.create_session(x, &h(t)).await.unwrap();
    }
    s.revoke_sessions(u.id, Revoke::One(old.id), now - Duration::hours(1), "logout").await.unwrap();
    s.revoke_sessions(u.id, Revoke::One(recent.id), now - Duration::minutes(3), "logout").await.unwrap();
    let found = s.revoked_since(now - Duration::minutes(16)).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, recent.id);
    assert!((found[0].1 - (now - Duration::minutes(3))).num_milliseconds().abs() < 1000);
}

#[tokio::test]
async fn recent_revocations_on_sqlite() {
    let (_db, s, _dir) = sqlite().await;
    recent_revocations(s).await;
}

#[tokio::test]
async fn recent_revocations_on_postgres() {
    let Some((_db, s)) = postgres("recent_revocations").await else { return };
    recent_revocations(s).await;
}
