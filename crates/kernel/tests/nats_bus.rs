//! The JetStream bus against a real NATS server (GONGGU_TEST_NATS_URL), one stream per test.

use std::time::Duration;

use gonggu_kernel::{
    events::{Bus, Envelope, Subscription},
    nats_bus::NatsBus,
};

fn event(event_type: &str, n: i64) -> Envelope {
    Envelope::named(event_type, "accounts", serde_json::json!({ "n": n }), chrono::Utc::now())
}

async fn next(sub: &mut Subscription) -> gonggu_kernel::events::Delivery {
    tokio::time::timeout(Duration::from_secs(10), sub.next()).await.expect("a delivery within 10 s").expect("feed open")
}

async fn nothing_within(sub: &mut Subscription, wait: Duration) -> bool {
    tokio::time::timeout(wait, sub.next()).await.is_err()
}

#[tokio::test]
async fn a_durable_consumer_gets_its_types_in_order_once_and_again_if_unacknowledged() {
    let Some((url, prefix)) = gonggu_kernel::testkit::nats("nats durable consumer") else { return };
    let bus = NatsBus::connect_with(&url, &prefix, Duration::from_secs(1)).await.unwrap();
    let registered = event("UserRegistered", 1);
    bus.publish(&registered).await.unwrap();
    bus.publish(&event("DealCreated", 2)).await.unwrap();
    let moved = event("NeighborhoodChanged", 3);
    bus.publish(&moved).await.unwrap();
    // The relay may publish the same row again after a crash: stored once.
    bus.publish(&moved).await.unwrap();

    let mut sub = bus.subscribe("places", &["UserRegistered", "NeighborhoodChanged"]).await.unwrap();
    let first = next(&mut sub).await;
    assert_eq!(first.envelope, registered, "published before the consumer existed, still delivered, in order");
    first.ack().await.unwrap();
    let second = next(&mut sub).await;
    assert_eq!(second.envelope, moved, "other types skipped");
    // Not acknowledged: after ack_wait it comes again.
    drop(second);
    let again = next(&mut sub).await;
    assert_eq!(again.envelope, moved, "redelivered");
    again.ack().await.unwrap();
    assert!(nothing_within(&mut sub, Duration::from_millis(1500)).await, "the duplicate publish was stored once");
    drop(sub);

    // A second instance of the same consumer resumes after what was acknowledged.
    let mut resumed = bus.subscribe("places", &["UserRegistered", "NeighborhoodChanged"]).await.unwrap();
    let later = event("UserRegistered", 4);
    bus.publish(&later).await.unwrap();
    let d = next(&mut resumed).await;
    assert_eq!(d.envelope, later);
    d.ack().await.unwrap();
    bus.delete_stream().await.unwrap();
}

#[tokio::test]
async fn every_instance_gets_its_own_feed() {
    let Some((url, prefix)) = gonggu_kernel::testkit::nats("nats per-instance feed") else { return };
    let bus = NatsBus::connect(&url, &prefix).await.unwrap();
    let old = event("SessionsRevoked", 1);
    bus.publish(&old).await.unwrap();
    let mut a = bus.subscribe_each_instance("revocations", &["SessionsRevoked"], Duration::from_secs(900)).await.unwrap();
    let mut b = bus.subscribe_each_instance("revocations", &["SessionsRevoked"], Duration::from_secs(900)).await.unwrap();
    let fresh = event("SessionsRevoked", 2);
    bus.publish(&fresh).await.unwrap();
    for sub in [&mut a, &mut b] {
        for want in [&old, &fresh] {
            let d = next(sub).await;
            assert_eq!(&d.envelope, want, "recent history first, then new events, on each instance");
            d.ack().await.unwrap();
        }
    }
    bus.delete_stream().await.unwrap();
}

#[tokio::test]
async fn a_bad_prefix_is_refused() {
    let Some((url, _)) = gonggu_kernel::testkit::nats("nats prefix check") else { return };
    let e = NatsBus::connect(&url, "has.dots").await.err().expect("refused");
    assert!(e.to_string().contains("nats.prefix"), "{e}");
}
