//! Chat across instances (issue 10): members on different instances hear each other live and
//! in seq order; a frame the fan-out loses is filled from storage, never missed.

use std::{collections::HashSet, sync::Arc, time::Duration};

use gonggu_kernel::fanout::MemoryFanoutHub;
use serde_json::{json, Value};

use crate::{
    chat_socket::{connect, next_of, put, room_with, token, Socket},
    helpers::{spawn_app_tuned, spawn_scaled_instance, TestApp},
};

/// The newest seq of `room` as `who` sees it over HTTP.
async fn last_seq(app: &TestApp, who: &str, room: &str) -> i64 {
    let page: Value = app.get_as(&format!("/api/v1/rooms/{room}/messages"), who).await.json().await.unwrap();
    page["items"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).max().unwrap()
}

/// The next `n` messages on `ws`: (seq, client_id).
async fn messages(ws: &mut Socket, n: usize) -> Vec<(i64, String)> {
    let mut out = vec![];
    while out.len() < n {
        let f = next_of(ws, "message").await;
        out.push((f["seq"].as_i64().unwrap(), f["client_id"].as_str().unwrap_or_default().to_owned()));
    }
    out
}

fn assert_in_order_from(heard: &[(i64, String)], after: i64, who: &str) {
    let seqs: Vec<i64> = heard.iter().map(|h| h.0).collect();
    let expected: Vec<i64> = (after + 1..=after + heard.len() as i64).collect();
    assert_eq!(seqs, expected, "{who} hears every seq once, in order, with no gap");
}

#[tokio::test]
async fn a_frame_lost_between_instances_is_filled_from_storage() {
    let data = tempfile::tempdir().unwrap();
    let fanout = MemoryFanoutHub::new();
    let instance = |fanout: Arc<gonggu_kernel::fanout::MemoryFanout>| {
        let dir = data.path().to_path_buf();
        spawn_app_tuned(
            // One data dir: one database and one signing secret for both.
            move |s| s.data_dir = dir,
            move |o| o.fanout = Some(fanout),
        )
    };
    let a = instance(fanout.instance()).await;
    let b = instance(fanout.instance()).await;
    let host = token(&a.signed_in("lossy_host").await);
    let member = token(&a.signed_in("lossy_member").await);
    let room = room_with(&a, &host, &member).await;
    let after = last_seq(&b, &member, &room).await;
    let mut listener = connect(&b, &member, json!({ room.clone(): after })).await;
    // From here every third frame between the instances is lost.
    fanout.lose_from_now(3);
    let mut writer = connect(&a, &host, json!({})).await;
    for i in 0..10 {
        put(&mut writer, json!({"type": "send", "room_id": room, "client_id": format!("lossy-{i}"), "body": format!("{i}번째")})).await;
        next_of(&mut writer, "ack").await;
    }
    assert_eq!(fanout.lost(), 3, "the 3rd, 6th and 9th frames never reached instance B");
    let heard = messages(&mut listener, 10).await;
    assert_in_order_from(&heard, after, "the member on the other instance");
    let ids: Vec<&str> = heard.iter().map(|h| h.1.as_str()).collect();
    assert_eq!(ids, (0..10).map(|i| format!("lossy-{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn members_on_different_instances_chat_live_and_in_order_through_nats() {
    let test = "members_on_different_instances_chat_live_and_in_order_through_nats";
    let Some((nats_url, prefix)) = gonggu_kernel::testkit::nats(test) else { return };
    let Some(pg) = gonggu_kernel::testkit::fresh_postgres(test).await else { return };
    let secret = format!("shared-jwt-key-{}", uuid::Uuid::new_v4().simple());
    let instance = || spawn_scaled_instance(&nats_url, &prefix, &pg, &secret, |_| {});
    let (a, b) = (instance().await, instance().await);
    let host = token(&a.signed_in("nats_chat_host").await);
    let member = token(&b.signed_in("nats_chat_member").await);
    let room = room_with(&a, &host, &member).await;
    let after = last_seq(&b, &member, &room).await;
    let mut on_a = connect(&a, &host, json!({ room.clone(): after })).await;
    let mut on_b = connect(&b, &member, json!({ room.clone(): after })).await;
    // Both write at once, each on its own instance, so their messages race for seqs (each
    // stays under the ten a second a user may send).
    const EACH: usize = 9;
    for i in 0..EACH {
        put(&mut on_a, json!({"type": "send", "room_id": room, "client_id": format!("a-{i}"), "body": format!("A {i}")})).await;
        put(&mut on_b, json!({"type": "send", "room_id": room, "client_id": format!("b-{i}"), "body": format!("B {i}")})).await;
    }
    let (heard_a, heard_b) =
        tokio::time::timeout(Duration::from_secs(20), async { tokio::join!(messages(&mut on_a, 2 * EACH), messages(&mut on_b, 2 * EACH)) })
            .await
            .expect("every message reaches both instances");
    assert_in_order_from(&heard_a, after, "the host on instance A");
    assert_in_order_from(&heard_b, after, "the member on instance B");
    assert_eq!(heard_a, heard_b, "both hear the same messages under the same seqs");
    let ids: HashSet<&str> = heard_a.iter().map(|h| h.1.as_str()).collect();
    assert_eq!(ids.len(), 2 * EACH, "each message once");
    gonggu_kernel::nats_bus::NatsBus::connect(&nats_url, &prefix).await.unwrap().delete_stream().await.unwrap();
}
