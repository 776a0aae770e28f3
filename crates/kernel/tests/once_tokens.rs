//! One-time form tokens on both engines: the work runs once, a repeat leads to its result, and
//! that holds after a restart and on a second instance over the same database.

use std::{sync::Arc, time::Duration};

use gonggu_kernel::{
    db::{Db, SqliteTuning},
    once::{Claim, OnceTokens, Ticket},
};

fn fresh(c: Claim) -> Ticket {
    match c {
        Claim::Fresh(t) => t,
        Claim::Done(l) => panic!("done before: {l}"),
        Claim::Busy => panic!("busy"),
    }
}

async fn until_empty(tokens: &OnceTokens) {
    for _ in 0..100 {
        if tokens.len().await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("a released token stayed");
}

/// `a` and `b` are two instances (or one before and after a restart) over one database.
async fn story(a: Arc<OnceTokens>, b: Arc<OnceTokens>) {
    fresh(a.claim("alice", "tok").await.unwrap()).done("/deals/1?msg=created").await;
    assert!(matches!(a.claim("alice", "tok").await.unwrap(), Claim::Done(l) if l == "/deals/1?msg=created"));
    assert!(matches!(b.claim("alice", "tok").await.unwrap(), Claim::Done(l) if l == "/deals/1?msg=created"), "the other instance knows");
    // Someone else's submit with the same token is theirs alone.
    fresh(b.claim("bob", "tok").await.unwrap()).done("/deals/2").await;

    // A failed submit releases its token, wherever the repeat lands.
    drop(fresh(a.claim("carol", "t2").await.unwrap()));
    for _ in 0..100 {
        if let Claim::Fresh(t) = b.claim("carol", "t2").await.unwrap() {
            t.done("/x").await;
            break;
        }
    }
    assert!(matches!(a.claim("carol", "t2").await.unwrap(), Claim::Done(_)));

    // No token, no memory.
    let before = a.len().await.unwrap();
    fresh(a.claim("alice", "").await.unwrap()).done("/x").await;
    fresh(a.claim("alice", "  ").await.unwrap()).done("/x").await;
    assert_eq!(a.len().await.unwrap(), before);

    // A repeat on the other instance waits for the first submit.
    let first = fresh(a.claim("dave", "t3").await.unwrap());
    let repeat = tokio::spawn({
        let b = b.clone();
        async move { b.claim("dave", "t3").await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    first.done("/deals/3").await;
    assert!(matches!(repeat.await.unwrap(), Claim::Done(l) if l == "/deals/3"));

    // A claim whose process died at work is taken over once abandoned, not before.
    std::mem::forget(fresh(a.claim("erin", "t4").await.unwrap()));
    a.age_for_tests(Duration::from_secs(30)).await.unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(b.claim("erin", "t4").await.unwrap(), Claim::Busy), "still at work after 30 s");
    assert!(started.elapsed() >= Duration::from_secs(4), "a repeat waits a while before saying so");
    a.age_for_tests(OnceTokens::ABANDONED_AFTER).await.unwrap();
    fresh(b.claim("erin", "t4").await.unwrap()).done("/deals/4").await;
}

async fn expiry(db: &Db) {
    let tokens = OnceTokens::open(db).await.unwrap();
    assert!(tokens.len().await.unwrap() > 0);
    tokens.age_for_tests(OnceTokens::TTL + Duration::from_secs(1)).await.unwrap();
    // A new instance's first claim clears what has expired.
    let restarted = OnceTokens::open(db).await.unwrap();
    fresh(restarted.claim("frank", "t5").await.unwrap()).done("/y").await;
    assert_eq!(restarted.len().await.unwrap(), 1, "expired claims are forgotten");
}

async fn release(db: &Db) {
    let tokens = OnceTokens::open(db).await.unwrap();
    fresh(tokens.claim("gina", "t6").await.unwrap()).done("/z").await;
    tokens.age_for_tests(OnceTokens::TTL + Duration::from_secs(1)).await.unwrap();
    let tokens = OnceTokens::open(db).await.unwrap();
    drop(fresh(tokens.claim("hank", "t7").await.unwrap()));
    until_empty(&tokens).await;
}

#[tokio::test]
async fn once_tokens_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let connect = || Db::connect(None, dir.path(), "once_test", SqliteTuning::default());
    let (one, two) = (connect().await.unwrap(), connect().await.unwrap());
    story(OnceTokens::open(&one).await.unwrap(), OnceTokens::open(&two).await.unwrap()).await;
    expiry(&one).await;
    release(&two).await;
}

#[tokio::test]
async fn once_tokens_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("once tokens").await else { return };
    let connect = || Db::connect(Some(&url), std::path::Path::new("."), "once_test", SqliteTuning::default());
    let (one, two) = (connect().await.unwrap(), connect().await.unwrap());
    let (a, b) = tokio::join!(OnceTokens::open(&one), OnceTokens::open(&two));
    story(a.unwrap(), b.unwrap()).await;
    expiry(&one).await;
    release(&two).await;
}
