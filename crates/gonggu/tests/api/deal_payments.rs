//! Who has paid (issue 9, item 24): transfers tagged with a deal, from a member to its host,
//! show on the member rows and on the deal page.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{browser, TestApp};

/// A registered user whose wallet is open, with an API token and a signed-in page session.
async fn person(app: &TestApp, login_id: &str) -> (String, reqwest::Client) {
    let pair = app.signed_in(login_id).await;
    let mut open = false;
    for _ in 0..250 {
        open = app.wallet.store.holder_by_login(login_id).await.unwrap().is_some();
        if open {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(open, "{login_id}'s wallet never opened");
    let client = browser();
    app.form_login(&client, login_id).await;
    (pair["access_token"].as_str().unwrap().to_owned(), client)
}

async fn post_money(app: &TestApp, path: &str, token: &str, body: &Value) -> Value {
    let res = app
        .api
        .post(app.url(path))
        .bearer_auth(token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

/// A transfer tagged with `deal`. The wallet learns who takes part in a deal from deals' events
/// in the background, so until it has, it refuses the tag (`deal_tag_invalid`, nothing moves);
/// the test waits for that rather than racing it.
async fn pay_for_deal(app: &TestApp, token: &str, body: &Value) -> Value {
    for _ in 0..250 {
        let res = app
            .api
            .post(app.url("/api/v1/wallet/transfers"))
            .bearer_auth(token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        if status.is_success() {
            return v;
        }
        assert_eq!((status, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("deal_tag_invalid")), "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the wallet never learnt the deal's members");
}

/// The member row of `login_id`, once its `paid` reaches `paid` (the event is handled in the
/// background).
async fn row_once_paid(app: &TestApp, token: &str, deal: &str, login_id: &str, paid: i64) -> Value {
    let mut last = Value::Null;
    for _ in 0..250 {
        let v: Value = app.get_as(&format!("/api/v1/deals/{deal}/members"), token).await.json().await.unwrap();
        last = v["items"].as_array().unwrap().iter().find(|m| m["login_id"] == login_id).cloned().unwrap();
        if last["paid"] == paid {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{login_id} never showed paid {paid}: {last}");
}

async fn page(client: &reqwest::Client, app: &TestApp, deal: &str) -> String {
    let res = client.get(app.url(&format!("/deals/{deal}"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

#[tokio::test]
async fn members_pay_their_share_by_tagged_transfer() {
    let app = crate::helpers::spawn_app().await;
    let (host, _) = person(&app, "pay_host").await;
    let (member, member_page) = person(&app, "pay_member").await;
    let body = json!({
        "title": "코스트코 휴지 30롤", "category_id": 4, "total_price": 25_990, "shares_total": 3, "min_shares": 3,
        "items_per_share": 10, "unit": "개", "deadline": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
    });
    let d: Value = app.post_json_as("/api/v1/deals", &host, &body).await.json().await.unwrap();
    let id = d["id"].as_str().unwrap();
    let join = |token: String, shares: i64| {
        let app = &app;
        async move { app.put_json_as(&format!("/api/v1/deals/{id}/members/me"), &token, &json!({ "shares": shares })).await }
    };
    assert_eq!(join(member.clone(), 1).await.status(), StatusCode::OK);
    let html = page(&member_page, &app, id).await;
    assert!(!html.contains("내 몫 송금하기"), "nothing to pay before the deal is confirmed");
    assert!(!html.contains("송금 전"), "nor does any member row say someone owes money yet");

    // A second member confirms the deal: now each member owes their share (8,663 won each).
    let second = app.token_for("pay_second");
    assert_eq!(join(second, 1).await.status(), StatusCode::OK);
    let row = row_once_paid(&app, &member, id, "pay_member", 0).await;
    assert_eq!((row["amount"].as_i64(), row["paid"].as_i64()), (Some(8_663), Some(0)));
    let html = page(&member_page, &app, id).await;
    assert!(html.contains("내 몫 송금하기") && html.contains("amount=8663"), "the whole share is left: {html}");

    post_money(&app, "/api/v1/wallet/charge", &member, &json!({"amount": 20_000})).await;
    // An untagged transfer is not a payment for the deal.
    post_money(&app, "/api/v1/wallet/transfers", &member, &json!({"to_login_id": "pay_host", "amount": 100})).await;
    pay_for_deal(&app, &member, &json!({"to_login_id": "pay_host", "amount": 5_000, "deal_id": id})).await;
    row_once_paid(&app, &member, id, "pay_member", 5_000).await;
    let html = page(&member_page, &app, id).await;
    assert!(html.contains("내 몫 송금하기") && html.contains("amount=3663"), "the rest is offered: {html}");
    assert!(html.contains("3,663원 남음"), "{html}");

    pay_for_deal(&app, &member, &json!({"to_login_id": "pay_host", "amount": 3_663, "deal_id": id})).await;
    let row = row_once_paid(&app, &member, id, "pay_member", 8_663).await;
    assert_eq!(row["amount"], 8_663);
    let html = page(&member_page, &app, id).await;
    assert!(html.contains("송금 완료") && !html.contains("내 몫 송금하기"), "{html}");
    // The host sees each member's state.
    let hosts: Value = app.get_as(&format!("/api/v1/deals/{id}/members"), &host).await.json().await.unwrap();
    let paid: Vec<(String, i64)> = hosts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["login_id"].as_str().unwrap().to_owned(), m["paid"].as_i64().unwrap()))
        .collect();
    assert_eq!(paid, [("pay_host".to_owned(), 0), ("pay_member".to_owned(), 8_663), ("pay_second".to_owned(), 0)]);
}
