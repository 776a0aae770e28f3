use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_of, spawn_app, spawn_app_with, TestApp};

async fn money(app: &TestApp, path: &str, token: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.api.post(app.url(path)).bearer_auth(token).json(body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    req.send().await.unwrap()
}

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn wallet(app: &TestApp, token: &str) -> Value {
    app.get_as("/api/v1/wallet", token).await.json().await.unwrap()
}

/// A signed-in user whose wallet was opened from the `UserRegistered` event.
async fn holder(app: &TestApp, login_id: &str) -> String {
    let pair = app.signed_in(login_id).await;
    // Wait for the event to open the wallet (the API would also open it on first use).
    for _ in 0..100 {
        if app.wallet.store.holder_by_login(login_id).await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    pair["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_new_user_has_a_wallet_and_100000_in_the_bank() {
    let app = spawn_app().await;
    let token = holder(&app, "new_payer").await;
    assert!(app.wallet.store.holder_by_login("new_payer").await.unwrap().is_some(), "opened from UserRegistered");
    assert_eq!(wallet(&app, &token).await, json!({"login_id": "new_payer", "balance": 0, "bank_balance": 100000}));
}

#[tokio::test]
async fn charge_withdraw_and_their_limits() {
    let app = spawn_app().await;
    let token = holder(&app, "charger").await;
    let res = money(&app, "/api/v1/wallet/charge", &token, Some(&key()), &json!({"amount": 30000})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let receipt: Value = res.json().await.unwrap();
    assert_eq!(
        (receipt["kind"].as_str(), receipt["amount"].as_i64(), receipt["balance"].as_i64(), receipt["bank_balance"].as_i64()),
        (Some("charge"), Some(30000), Some(30000), Some(70000))
    );

    let res = money(&app, "/api/v1/wallet/withdraw", &token, Some(&key()), &json!({"amount": 10000})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(wallet(&app, &token).await["balance"], 20000);

    let (status, err) = error_of(money(&app, "/api/v1/wallet/withdraw", &token, Some(&key()), &json!({"amount": 20001})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("insufficient_balance")));
    let (status, err) = error_of(money(&app, "/api/v1/wallet/charge", &token, Some(&key()), &json!({"amount": 80001})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("insufficient_balance")));
    assert_eq!(
        wallet(&app, &token).await,
        json!({"login_id": "charger", "balance": 20000, "bank_balance": 80000}),
        "refusals moved nothing"
    );

    for bad in [json!({"amount": 0}), json!({"amount": -5000}), json!({"amount": 10_000_001})] {
        for path in ["/api/v1/wallet/charge", "/api/v1/wallet/withdraw"] {
            let (status, err) = error_of(money(&app, path, &token, Some(&key()), &bad).await).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {bad}");
            assert!(err["details"]["fields"]["amount"].is_string());
        }
    }
    let (status, err) = error_of(money(&app, "/api/v1/wallet/charge", &token, None, &json!({"amount": 1000})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::BAD_REQUEST, Some("idempotency_key_required")));
    let (status, _) = error_of(money(&app, "/api/v1/wallet/charge", &token, Some("한글키"), &json!({"amount": 1000})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = error_of(money(&app, "/api/v1/wallet/charge", &token, Some(&key()), &json!({"amount": "1000"})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wallet(&app, &token).await["balance"], 20000);
}

#[tokio::test]
async fn transfers_and_their_rules() {
    let app = spawn_app().await;
    let alice = holder(&app, "alice_pay").await;
    let bob = holder(&app, "bob_pay").await;
    money(&app, "/api/v1/wallet/charge", &alice, Some(&key()), &json!({"amount": 50000})).await;

    let res = money(
        &app,
        "/api/v1/wallet/transfers",
        &alice,
        Some(&key()),
        &json!({"to_login_id": "BOB_PAY", "amount": 12345, "memo": " 휴지 값 "}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    assert_eq!(
        (r["to_login_id"].as_str(), r["memo"].as_str(), r["balance"].as_i64()),
        (Some("bob_pay"), Some("휴지 값"), Some(50000 - 12345))
    );
    assert_eq!(r["deal_id"], Value::Null);
    assert_eq!(wallet(&app, &bob).await["balance"], 12345);

    let cases = [
        (json!({"to_login_id": "alice_pay", "amount": 100}), StatusCode::UNPROCESSABLE_ENTITY, "self_transfer"),
        (json!({"to_login_id": "nobody_here", "amount": 100}), StatusCode::NOT_FOUND, "recipient_not_found"),
        (json!({"to_login_id": "bob_pay", "amount": 50000}), StatusCode::CONFLICT, "insufficient_balance"),
        (json!({"to_login_id": "bob_pay", "amount": -100}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (json!({"to_login_id": "bob_pay", "amount": 0}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (json!({"to_login_id": "bob_pay", "amount": 100, "memo": "가".repeat(101)}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (json!({"to_login_id": "", "amount": 100}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (json!({"to_login_id": "bob_pay", "amount": 100, "deal_id": "not-a-uuid"}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
    ];
    for (body, status, code) in cases {
        let (s, err) = error_of(money(&app, "/api/v1/wallet/transfers", &alice, Some(&key()), &body).await).await;
        assert_eq!((s, err["code"].as_str()), (status, Some(code)), "{body}");
    }
    assert_eq!(wallet(&app, &alice).await["balance"], 50000 - 12345, "refusals moved nothing");
    assert_eq!(wallet(&app, &bob).await["balance"], 12345);

    // Recipient check for the confirmation step.
    assert_eq!(
        app.get_as("/api/v1/wallet/recipients/Bob_Pay", &alice).await.json::<Value>().await.unwrap(),
        json!({"login_id": "bob_pay"})
    );
    assert_eq!(app.get_as("/api/v1/wallet/recipients/ghost", &alice).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get_as("/api/v1/wallet/recipients/alice_pay", &alice).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/v1/wallet").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_replayed_key_returns_the_stored_answer_without_moving_money_again() {
    let app = spawn_app().await;
    let alice = holder(&app, "replay_a").await;
    let _bob = holder(&app, "replay_b").await;
    money(&app, "/api/v1/wallet/charge", &alice, Some(&key()), &json!({"amount": 10000})).await;
    let k = key();
    let body = json!({"to_login_id": "replay_b", "amount": 3000, "memo": "first"});
    let first = money(&app, "/api/v1/wallet/transfers", &alice, Some(&k), &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.text().await.unwrap();
    let again = money(&app, "/api/v1/wallet/transfers", &alice, Some(&k), &body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), first_body, "byte-for-byte the stored answer");
    assert_eq!(wallet(&app, &alice).await["balance"], 7000, "moved once");

    // Same key, other body → 422, nothing moves.
    let (status, err) =
        error_of(money(&app, "/api/v1/wallet/transfers", &alice, Some(&k), &json!({"to_login_id": "replay_b", "amount": 4000})).await)
            .await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused")));
    // Same key on another endpoint is another body too.
    let (status, _) = error_of(money(&app, "/api/v1/wallet/charge", &alice, Some(&k), &json!({"amount": 3000})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wallet(&app, &alice).await["balance"], 7000);

    // A refusal is stored as well: replaying it gives the same 409 even after money arrives.
    let k2 = key();
    let res = money(&app, "/api/v1/wallet/withdraw", &alice, Some(&k2), &json!({"amount": 9000})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    money(&app, "/api/v1/wallet/charge", &alice, Some(&key()), &json!({"amount": 5000})).await;
    let res = money(&app, "/api/v1/wallet/withdraw", &alice, Some(&k2), &json!({"amount": 9000})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(wallet(&app, &alice).await["balance"], 12000);

    // Keys are per user: bob may use alice's key for his own request.
    let bob = app.login("replay_b", crate::helpers::PASSWORD).await.json::<Value>().await.unwrap();
    let res = money(&app, "/api/v1/wallet/charge", bob["access_token"].as_str().unwrap(), Some(&k), &json!({"amount": 1000})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn concurrent_duplicates_move_money_once() {
    let app = spawn_app().await;
    let alice = holder(&app, "dup_a").await;
    let _bob = holder(&app, "dup_b").await;
    money(&app, "/api/v1/wallet/charge", &alice, Some(&key()), &json!({"amount": 10000})).await;
    let k = key();
    let body = json!({"to_login_id": "dup_b", "amount": 1000});
    let answers = futures::future::join_all((0..20).map(|_| money(&app, "/api/v1/wallet/transfers", &alice, Some(&k), &body))).await;
    let mut bodies = vec![];
    for a in answers {
        assert_eq!(a.status(), StatusCode::CREATED);
        bodies.push(a.text().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every duplicate got the same answer");
    assert_eq!(wallet(&app, &alice).await["balance"], 9000);
    assert_eq!(app.wallet.store.count_entries("transfer").await.unwrap(), 1);
}

#[tokio::test]
async fn history_filters_sorts_and_pages() {
    let app = spawn_app().await;
    let alice = holder(&app, "hist_a").await;
    let bob = holder(&app, "hist_b").await;
    money(&app, "/api/v1/wallet/charge", &alice, Some(&key()), &json!({"amount": 50000})).await;
    for amount in [1000, 5000, 3000] {
        money(
            &app,
            "/api/v1/wallet/transfers",
            &alice,
            Some(&key()),
            &json!({"to_login_id": "hist_b", "amount": amount, "memo": format!("m{amount}")}),
        )
        .await;
    }
    money(&app, "/api/v1/wallet/charge", &bob, Some(&key()), &json!({"amount": 2000})).await;
    money(&app, "/api/v1/wallet/transfers", &bob, Some(&key()), &json!({"to_login_id": "hist_a", "amount": 700})).await;

    let page: Value = app.get_as("/api/v1/wallet/transactions", &alice).await.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    let kinds: Vec<(&str, &str, i64)> =
        items.iter().map(|i| (i["kind"].as_str().unwrap(), i["direction"].as_str().unwrap(), i["amount"].as_i64().unwrap())).collect();
    assert_eq!(
        kinds,
        [("transfer", "in", 700), ("transfer", "out", 3000), ("transfer", "out", 5000), ("transfer", "out", 1000), ("charge", "in", 50000)]
    );
    assert_eq!(items[0]["counterpart"], "hist_b");
    assert_eq!(items[1]["counterpart"], "hist_b");
    assert_eq!(items[1]["memo"], "m3000");
    assert_eq!(items[0]["balance_after"], 50000 - 9000 + 700);
    assert!(page["next_cursor"].is_null());

    let sent: Value = app.get_as("/api/v1/wallet/transactions?direction=sent", &alice).await.json().await.unwrap();
    assert_eq!(sent["items"].as_array().unwrap().len(), 3);
    let received: Value = app.get_as("/api/v1/wallet/transactions?direction=received", &alice).await.json().await.unwrap();
    assert_eq!(received["items"].as_array().unwrap().len(), 1);
    let bob_received: Value = app.get_as("/api/v1/wallet/transactions?direction=received", &bob).await.json().await.unwrap();
    assert_eq!(bob_received["items"][0]["counterpart"], "hist_a");

    // Largest first, two at a time, with no repeats or gaps.
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/wallet/transactions?sort=amount&limit=2&cursor={c}"),
            None => "/api/v1/wallet/transactions?sort=amount&limit=2".to_owned(),
        };
        let page: Value = app.get_as(&path, &alice).await.json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|i| i["amount"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [50000, 5000, 3000, 1000, 700]);

    let today = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap()).date_naive();
    let in_range: Value = app.get_as(&format!("/api/v1/wallet/transactions?from={today}&to={today}"), &alice).await.json().await.unwrap();
    assert_eq!(in_range["items"].as_array().unwrap().len(), 5);
    let tomorrow = today.succ_opt().unwrap();
    let none: Value = app.get_as(&format!("/api/v1/wallet/transactions?from={tomorrow}"), &alice).await.json().await.unwrap();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    for (q, status) in [
        ("direction=up", 422),
        ("sort=cheapest", 422),
        ("from=yesterday", 422),
        ("cursor=%21%21", 400),
        ("from=2026-11-25&to=2026-11-01", 422),
    ] {
        let res = app.get_as(&format!("/api/v1/wallet/transactions?{q}"), &alice).await;
        assert_eq!(res.status().as_u16(), status, "{q}");
    }
}

#[tokio::test]
async fn coins_received_goes_through_the_outbox() {
    let app = spawn_app().await;
    let alice = holder(&app, "evt_a").await;
    let _ = holder(&app, "evt_b").await;
    money(&app, "/api/v1/wallet/charge", &alice, Some(&key()), &json!({"amount": 1000})).await;
    money(&app, "/api/v1/wallet/transfers", &alice, Some(&key()), &json!({"to_login_id": "evt_b", "amount": 400, "memo": "고마워요"}))
        .await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.data_dir.path().join("wallet.db").display())).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT event_type, payload FROM outbox").fetch_all(&pool).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "CoinsReceived");
    let payload: Value = serde_json::from_str(&rows[0].1).unwrap();
    assert_eq!(
        (payload["receiver_login_id"].as_str(), payload["sender_login_id"].as_str(), payload["amount"].as_i64(), payload["memo"].as_str()),
        (Some("evt_b"), Some("evt_a"), Some(400), Some("고마워요"))
    );
    // The relay publishes it and the wallet's group-commit writer marks it published.
    let mut published = false;
    for _ in 0..200 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE published_at IS NOT NULL").fetch_one(&pool).await.unwrap();
        if n == 1 {
            published = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(published, "the event was marked published");
}

#[tokio::test]
async fn the_journal_is_immutable_in_the_database() {
    let app = spawn_app().await;
    let alice = holder(&app, "immut").await;
    money(&app, "/api/v1/wallet/charge", &alice, Some(&key()), &json!({"amount": 1000})).await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.data_dir.path().join("wallet.db").display())).await.unwrap();
    assert!(sqlx::query("UPDATE postings SET amount = 999999").execute(&pool).await.is_err());
    assert!(sqlx::query("DELETE FROM journal_entries").execute(&pool).await.is_err());
    assert!(
        sqlx::query("UPDATE ledger_accounts SET balance = -1 WHERE kind = 'wallet'").execute(&pool).await.is_err(),
        "no negative balance"
    );
    let audit = app.wallet.store.audit().await.unwrap();
    assert!(audit.violations.is_empty(), "{:?}", audit.violations);
}

async fn tagged(app: &TestApp, token: &str, key: &str, to: &str, deal: &str) -> reqwest::Response {
    money(app, "/api/v1/wallet/transfers", token, Some(key), &json!({"to_login_id": to, "amount": 1000, "deal_id": deal})).await
}

/// Sends tagged transfers (fresh keys) until one gets `want`; the wallet learns deals from events,
/// so until it has, the answer is the old one. Returns that answer and how many transfers went
/// through before it (each moved 1,000원).
async fn tagged_until(app: &TestApp, token: &str, to: &str, deal: &str, want: StatusCode) -> (reqwest::Response, i64) {
    let mut moved = 0;
    for _ in 0..100 {
        let res = tagged(app, token, &key(), to, deal).await;
        if res.status() == want {
            return (res, moved);
        }
        if res.status() == StatusCode::CREATED {
            moved += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no {want} for a transfer tagged with {deal}");
}

async fn deal_tags(app: TestApp) {
    let host = holder(&app, "tag_host").await;
    let member = holder(&app, "tag_member").await;
    let stranger = holder(&app, "tag_stranger").await;
    for t in [&member, &stranger] {
        money(&app, "/api/v1/wallet/charge", t, Some(&key()), &json!({"amount": 50000})).await;
    }
    let deal = json!({
        "title": "논산 딸기 2kg 공구",
        "description": "딸기 나눠요.",
        "category_id": 4,
        "total_price": 20_000,
        "shares_total": 4,
        "items_per_share": 1,
        "unit": "개",
        "deadline": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
    });
    let res = app.post_json_as("/api/v1/deals", &host, &deal).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let deal_id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let res = app.put_json_as(&format!("/api/v1/deals/{deal_id}/members/me"), &member, &json!({"shares": 1})).await;
    assert_eq!(res.status(), StatusCode::OK);

    // A member paying the host may say which deal it is for.
    let (paid, _) = tagged_until(&app, &member, "tag_host", &deal_id, StatusCode::CREATED).await;
    let paid: Value = paid.json().await.unwrap();
    assert_eq!(paid["deal_id"].as_str(), Some(deal_id.as_str()));

    let refused = |res: reqwest::Response| async move {
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap();
        let err = body["error"].clone();
        assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("deal_tag_invalid")), "{err}");
        assert!(err["details"]["fields"]["deal_id"].as_str().is_some_and(|m| m.chars().any(|c| ('가'..='힣').contains(&c))), "{err}");
    };
    // Not a member.
    refused(tagged(&app, &stranger, &key(), "tag_host", &deal_id).await).await;
    // A member, but not paying the host.
    refused(tagged(&app, &member, &key(), "tag_stranger", &deal_id).await).await;
    // A deal nobody ever opened.
    refused(tagged(&app, &member, &key(), "tag_host", &uuid::Uuid::now_v7().to_string()).await).await;
    // The stored refusal is the answer to a retry with the same key and body.
    let k = key();
    refused(tagged(&app, &stranger, &k, "tag_host", &deal_id).await).await;
    let again = tagged(&app, &stranger, &k, "tag_host", &deal_id).await;
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    refused(again).await;
    // Untagged, the same transfer goes through.
    let res = money(&app, "/api/v1/wallet/transfers", &stranger, Some(&key()), &json!({"to_login_id": "tag_host", "amount": 1000})).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Once the member leaves, the deal is no longer theirs to tag.
    let res = app.delete_as(&format!("/api/v1/deals/{deal_id}/members/me"), &member).await;
    assert!(res.status().is_success(), "{}", res.status());
    // Until the wallet has heard of the leave, a tagged payment still goes through (and moves money).
    let (res, late) = tagged_until(&app, &member, "tag_host", &deal_id, StatusCode::UNPROCESSABLE_ENTITY).await;
    refused(res).await;
    assert_eq!(wallet(&app, &member).await["balance"], 50000 - 1000 - 1000 * late, "refusals moved nothing");
    assert_eq!(wallet(&app, &stranger).await["balance"], 50000 - 1000);
    assert_eq!(wallet(&app, &host).await["balance"], 2000 + 1000 * late);
}

#[tokio::test]
async fn deal_tags_need_a_member_paying_the_host() {
    deal_tags(spawn_app().await).await;
}

#[tokio::test]
async fn deal_tags_need_a_member_paying_the_host_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("deal_tags_on_postgres").await else { return };
    deal_tags(spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await).await;
}
