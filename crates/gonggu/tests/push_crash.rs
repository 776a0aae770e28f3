//! A push goes to each device at most once even when the process dies in the middle of a
//! fan-out, and what it had not started yet still goes after the restart. The real binary sends
//! one notice to 80 devices on a local push service that holds every push unanswered; with 64
//! pushes in flight to that service (its cap) the process is killed (kill -9) and started again
//! on the same data. The 16 it had not claimed go then; the 64 that may have reached the phones
//! are never sent again.

#[path = "process_kit/mod.rs"]
mod process_kit;
#[path = "api/push_stub.rs"]
#[allow(dead_code)] // the other scripted replies are for the API tests
mod push_stub;

use std::time::{Duration, Instant};

use process_kit::gonggu;
use push_stub::{Device, PushStub, Reply};
use serde_json::{json, Value};

/// As many devices as a user may keep.
const DEVICES_EACH: usize = 20;

fn start(dir: &std::path::Path) -> (std::process::Child, String) {
    let mut c = gonggu(dir);
    c.env("GONGGU_PUSH__ALLOW_INSECURE_LOOPBACK", "true").env("GONGGU_HTTP__TRUST_PROXY", "true");
    process_kit::serve(c)
}

/// Signs `login_id` up from an address of its own (sign-ups are limited per address).
async fn person(http: &reqwest::Client, base: &str, login_id: &str, n: u8) -> String {
    process_kit::sign_up(http, base, login_id, Some(&format!("203.0.113.{n}"))).await
}

fn attempts(stub: &PushStub, phones: &[Device]) -> Vec<usize> {
    phones.iter().map(|p| stub.attempts(p)).collect()
}

async fn until_total(stub: &PushStub, phones: &[Device], n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let total: usize = attempts(stub, phones).iter().sum();
        if total >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {total} of {n} pushes arrived; problems {:?}", stub.problems());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_mid_fan_out_sends_nothing_twice_and_the_rest_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let (mut first, base) = start(dir.path());
    let key: Value = http.get(format!("{base}/api/v1/push/vapid-public-key")).send().await.unwrap().json().await.unwrap();
    let stub = PushStub::start().await;
    stub.trust(key["public_key"].as_str().unwrap());

    let host = person(&http, &base, "fan_host", 1).await;
    let members = [person(&http, &base, "fan_a", 2).await, person(&http, &base, "fan_b", 3).await, person(&http, &base, "fan_c", 4).await];
    let late = person(&http, &base, "fan_late", 5).await;
    let deadline = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let deal: Value = http
        .post(format!("{base}/api/v1/deals"))
        .bearer_auth(&host)
        .json(&json!({
            "title": "아파트 단지 생수 공동구매", "category_id": 4, "total_price": 60_000, "shares_total": 10, "min_shares": 8,
            "items_per_share": 1, "unit": "묶음", "deadline": deadline,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let join = |who: String| {
        let (http, url) = (http.clone(), format!("{base}/api/v1/deals/{}/members/me", deal["id"].as_str().unwrap()));
        async move {
            let res = http.put(url).bearer_auth(who).json(&json!({"shares": 1})).send().await.unwrap();
            assert_eq!(res.status(), 200);
        }
    };
    for m in &members {
        join(m.clone()).await;
    }
    // Devices only once those joins are in the inbox (handled in the background), so they push
    // nothing: 20 each for the host and the three.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let inbox: Value = http.get(format!("{base}/api/v1/notifications")).bearer_auth(&host).send().await.unwrap().json().await.unwrap();
        if inbox["unread"] == 3 {
            break;
        }
        assert!(Instant::now() < until, "the three joins never reached the host's inbox: {inbox}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut phones = Vec::new();
    for who in std::iter::once(&host).chain(members.iter()) {
        for _ in 0..DEVICES_EACH {
            let phone = stub.device();
            stub.script(&phone, &[Reply::Hold]);
            let res =
                http.post(format!("{base}/api/v1/push/subscriptions")).bearer_auth(who).json(&phone.subscription()).send().await.unwrap();
            assert_eq!(res.status(), 201);
            phones.push(phone);
        }
    }
    // One more join: one notice each to the host and the three members, 80 pushes in all.
    join(late).await;
    until_total(&stub, &phones, 64, "the first 64 pushes").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(attempts(&stub, &phones).iter().sum::<usize>(), 64, "no more in flight to one push service than its cap");

    first.kill().unwrap();
    first.wait().unwrap();
    let (mut second, _) = start(dir.path());
    until_total(&stub, &phones, 80, "the 16 never started, after the restart").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let each = attempts(&stub, &phones);
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(each.iter().all(|&n| n == 1), "each device once: {each:?}");
    assert!(stub.problems().is_empty(), "{:?}", stub.problems());
}
