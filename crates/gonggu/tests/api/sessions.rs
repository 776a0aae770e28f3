use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_of, spawn_app, PASSWORD};

async fn refresh(app: &crate::helpers::TestApp, token: &Value) -> reqwest::Response {
    app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": token})).await
}

#[tokio::test]
async fn refresh_rotates_the_token() {
    let app = spawn_app().await;
    let first = app.signed_in("rot_user").await;
    let res = refresh(&app, &first["refresh_token"]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let second: Value = res.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["user"]["login_id"], "rot_user");
    assert_eq!(app.get_as("/api/v1/me", second["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
    // The rotated-in token works in turn.
    assert_eq!(refresh(&app, &second["refresh_token"]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn reusing_a_rotated_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    let first = app.signed_in("reuse_user").await;
    let other_device = app.login("reuse_user", PASSWORD).await.json::<Value>().await.unwrap();
    let second: Value = refresh(&app, &first["refresh_token"]).await.json().await.unwrap();

    // An attacker replays the stolen, already-used token.
    let (status, err) = error_of(refresh(&app, &first["refresh_token"]).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_reused")));

    // Every token of that family is dead now: the newest refresh token and its access token.
    let (status, _) = error_of(refresh(&app, &second["refresh_token"]).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, err) = error_of(app.get_as("/api/v1/me", second["access_token"].as_str().unwrap()).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("session_revoked")));

    // Another device (another family) is untouched.
    assert_eq!(refresh(&app, &other_device["refresh_token"]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_use_of_one_refresh_token_lets_at_most_one_win() {
    let app = spawn_app().await;
    let first = app.signed_in("race_user").await;
    let attempts = futures::future::join_all((0..8).map(|_| refresh(&app, &first["refresh_token"]))).await;
    let ok = attempts.iter().filter(|r| r.status() == StatusCode::OK).count();
    assert!(ok <= 1, "{ok} refreshes succeeded with one token");
    assert!(attempts.iter().all(|r| r.status() == StatusCode::OK || r.status() == StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn refresh_tokens_have_an_absolute_lifetime_of_14_days() {
    let app = spawn_app().await;
    let mut pair = app.signed_in("old_user").await;
    // Keep refreshing every 5 days: rotation never extends the session.
    for _ in 0..2 {
        app.clock.advance(chrono::Duration::days(5));
        let res = refresh(&app, &pair["refresh_token"]).await;
        assert_eq!(res.status(), StatusCode::OK);
        pair = res.json().await.unwrap();
    }
    assert!(pair["refresh_expires_in"].as_i64().unwrap() <= 4 * 24 * 3600);
    app.clock.advance(chrono::Duration::days(4) + chrono::Duration::seconds(1));
    let (status, err) = error_of(refresh(&app, &pair["refresh_token"]).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_refresh_token")));
}

#[tokio::test]
async fn unknown_refresh_token_is_rejected() {
    let app = spawn_app().await;
    let (status, err) = error_of(refresh(&app, &json!("made-up-token")).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_refresh_token")));
}

#[tokio::test]
async fn logout_revokes_refresh_and_access() {
    let app = spawn_app().await;
    let pair = app.signed_in("bye_user").await;
    let res = app.post_json("/api/v1/auth/logout", &json!({"refresh_token": pair["refresh_token"]})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(refresh(&app, &pair["refresh_token"]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_as("/api/v1/me", pair["access_token"].as_str().unwrap()).await.status(), StatusCode::UNAUTHORIZED);
    // Logging out twice is harmless.
    let res = app.post_json("/api/v1/auth/logout", &json!({"refresh_token": pair["refresh_token"]})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn session_list_revoke_one_and_revoke_others() {
    let app = spawn_app().await;
    let a = app.signed_in("multi_user").await;
    let b: Value = app.login("multi_user", PASSWORD).await.json().await.unwrap();
    let c: Value = app.login("multi_user", PASSWORD).await.json().await.unwrap();
    let token_a = a["access_token"].as_str().unwrap();

    let list: Value = app.get_as("/api/v1/me/sessions", token_a).await.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(list["next_cursor"].is_null());

    // Revoke B by id.
    let b_me: Value = app.get_as("/api/v1/me/sessions", b["access_token"].as_str().unwrap()).await.json().await.unwrap();
    let b_id = b_me["items"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.delete_as(&format!("/api/v1/me/sessions/{b_id}"), token_a).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_as("/api/v1/me", b["access_token"].as_str().unwrap()).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &b["refresh_token"]).await.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = error_of(app.delete_as(&format!("/api/v1/me/sessions/{b_id}"), token_a).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already revoked");

    // Someone else's session id cannot be revoked.
    let stranger = app.signed_in("stranger").await;
    let s_list: Value = app.get_as("/api/v1/me/sessions", stranger["access_token"].as_str().unwrap()).await.json().await.unwrap();
    let s_id = s_list["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = error_of(app.delete_as(&format!("/api/v1/me/sessions/{s_id}"), token_a).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.get_as("/api/v1/me", stranger["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);

    // Revoke all others: C goes, A stays.
    let res: Value = app.delete_as("/api/v1/me/sessions", token_a).await.json().await.unwrap();
    assert_eq!(res["revoked"], 1);
    assert_eq!(app.get_as("/api/v1/me", c["access_token"].as_str().unwrap()).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_as("/api/v1/me", token_a).await.status(), StatusCode::OK);
    let list: Value = app.get_as("/api/v1/me/sessions", token_a).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn events_reach_the_outbox_in_the_same_transaction() {
    let app = spawn_app().await;
    let pair = app.signed_in("evt_user").await;
    let token = pair["access_token"].as_str().unwrap();
    app.put_json_as("/api/v1/me/keywords", token, &json!({"keywords": ["휴지"]})).await;
    app.post_json("/api/v1/auth/logout", &json!({"refresh_token": pair["refresh_token"]})).await;

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.data_dir.path().join("accounts.db").display())).await.unwrap();
    // The relay publishes within moments; wait for it to mark everything published.
    let mut rows: Vec<(String, String, Option<String>)> = vec![];
    for _ in 0..50 {
        rows = sqlx::query_as("SELECT event_type, payload, published_at FROM outbox ORDER BY seq").fetch_all(&pool).await.unwrap();
        if rows.len() == 3 && rows.iter().all(|r| r.2.is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let types: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(types, ["UserRegistered", "KeywordsChanged", "SessionsRevoked"]);
    assert!(rows.iter().all(|r| r.2.is_some()), "relayed: {rows:?}");
    let registered: Value = serde_json::from_str(&rows[0].1).unwrap();
    assert_eq!(registered["login_id"], "evt_user");
    let keywords: Value = serde_json::from_str(&rows[1].1).unwrap();
    assert_eq!(keywords["keywords"], json!(["휴지"]));
    let revoked: Value = serde_json::from_str(&rows[2].1).unwrap();
    assert_eq!(revoked["reason"], "logout");
    assert_eq!(revoked["session_ids"].as_array().unwrap().len(), 1);
}

/// The whole application on PostgreSQL (one schema per context), when a server is configured.
#[tokio::test]
async fn the_app_runs_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("the_app_runs_on_postgres").await else { return };
    let app = crate::helpers::spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await;
    let first = app.signed_in("pg_user").await;
    let token = first["access_token"].as_str().unwrap();
    let me: Value = app.put_json_as("/api/v1/me/keywords", token, &json!({"keywords": ["휴지", "휴지 "]})).await.json().await.unwrap();
    assert_eq!(me["keywords"], json!(["휴지"]));
    let second: Value = refresh(&app, &first["refresh_token"]).await.json().await.unwrap();
    assert_eq!(refresh(&app, &first["refresh_token"]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &second["refresh_token"]).await.status(), StatusCode::UNAUTHORIZED, "family revoked on PostgreSQL too");
    assert_eq!(app.get("/readyz").await.text().await.unwrap(), "ready");
    assert!(!app.data_dir.path().join("accounts.db").exists(), "no SQLite file in PostgreSQL mode");
}

/// The scaled mode's parts together: three instances on one PostgreSQL database and one NATS
/// JetStream bus (when both are configured, as in CI).
#[tokio::test]
async fn instances_share_events_through_nats_jetstream() {
    let Some((nats_url, prefix)) = gonggu_kernel::testkit::nats("instances_share_events_through_nats_jetstream") else { return };
    let Some(pg) = gonggu_kernel::testkit::fresh_postgres("instances_share_events_through_nats_jetstream").await else { return };
    let secret = format!("shared-jwt-key-{}", uuid::Uuid::new_v4().simple());
    let instance = || {
        // Cached deal lists live long here, so only the deal events can refresh them in time.
        crate::helpers::spawn_scaled_instance(&nats_url, &prefix, &pg, &secret, |o| {
            o.list_cache_for = Some(std::time::Duration::from_secs(600))
        })
    };
    let (a, b, c) = (instance().await, instance().await, instance().await);
    let pair = a.signed_in("nats_user").await;
    // UserRegistered: accounts → outbox → relay → JetStream → the wallet's durable consumer
    // (shared by the two instances: one of them opens the wallet).
    let mut opened = false;
    for _ in 0..200 {
        if b.wallet.store.holder_by_login("nats_user").await.unwrap().is_some() {
            opened = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(opened, "the wallet was opened from the event");
    // The wallet trusts the access token alone (no session lookup), so only the instance's own
    // revoked set can refuse it below.
    // SessionsRevoked: a logout on A reaches both other instances (each keeps its own revoked
    // set); a consumer shared by the instances would hand the event to only one of them.
    let token = pair["access_token"].as_str().unwrap();
    for other in [&b, &c] {
        assert_eq!(other.get_as("/api/v1/wallet", token).await.status(), StatusCode::OK);
    }
    let res = a.post_json("/api/v1/auth/logout", &json!({"refresh_token": pair["refresh_token"]})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for other in [&b, &c] {
        let mut refused = false;
        for _ in 0..200 {
            if other.get_as("/api/v1/wallet", token).await.status() == StatusCode::UNAUTHORIZED {
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert!(refused, "the revocation reached every other instance");
    }
    // DealCreated: a deal posted on A shows on B's and C's (cached) home pages.
    for other in [&b, &c] {
        assert!(!other.get("/").await.text().await.unwrap().contains("다른 인스턴스 공구"));
    }
    let host = a.signed_in("nats_host").await;
    let body = json!({"title": "다른 인스턴스 공구", "category_id": 4, "total_price": 10_000, "shares_total": 2, "items_per_share": 1,
        "unit": "개", "deadline": (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339()});
    let res = a.post_json_as("/api/v1/deals", host["access_token"].as_str().unwrap(), &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for other in [&b, &c] {
        let mut shown = false;
        for _ in 0..200 {
            if other.get("/").await.text().await.unwrap().contains("다른 인스턴스 공구") {
                shown = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert!(shown, "the other instance's cached first page was refreshed by the event");
    }
    gonggu_kernel::nats_bus::NatsBus::connect(&nats_url, &prefix).await.unwrap().delete_stream().await.unwrap();
}

/// A restarted instance on the same data must still refuse access tokens of sessions that ended
/// before it started (its revoked set is seeded from the accounts database).
async fn revoked_tokens_stay_refused_after_a_restart_on(database_url: Option<String>) {
    let data = tempfile::tempdir().unwrap();
    let same_data = |s: &mut gonggu::Settings| {
        s.data_dir = data.path().to_path_buf();
        s.database.url = database_url.clone().map(gonggu::settings::Secret::new);
    };
    let before = crate::helpers::spawn_app_with(same_data).await;
    let logged_out = before.signed_in("restart_user").await;
    let revoked = before.login("restart_user", PASSWORD).await.json::<Value>().await.unwrap();
    let kept = before.login("restart_user", PASSWORD).await.json::<Value>().await.unwrap();
    let res = before.post_json("/api/v1/auth/logout", &json!({"refresh_token": logged_out["refresh_token"]})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let sessions: Value = before.get_as("/api/v1/me/sessions", kept["access_token"].as_str().unwrap()).await.json().await.unwrap();
    let revoked_id = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == json!(false))
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .unwrap();
    assert_eq!(
        before.delete_as(&format!("/api/v1/me/sessions/{revoked_id}"), kept["access_token"].as_str().unwrap()).await.status(),
        StatusCode::NO_CONTENT
    );

    let after = crate::helpers::spawn_app_with(same_data).await;
    for (pair, why) in [(&logged_out, "logged out"), (&revoked, "revoked")] {
        let (status, err) = error_of(after.get_as("/api/v1/wallet", pair["access_token"].as_str().unwrap()).await).await;
        assert_eq!((status, err["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("session_revoked")), "{why} before the restart");
    }
    assert_eq!(
        after.get_as("/api/v1/me", kept["access_token"].as_str().unwrap()).await.status(),
        StatusCode::OK,
        "a live session still works"
    );
}

#[tokio::test]
async fn revoked_access_tokens_stay_refused_after_a_restart() {
    revoked_tokens_stay_refused_after_a_restart_on(None).await;
}

#[tokio::test]
async fn revoked_access_tokens_stay_refused_after_a_restart_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("revoked_after_restart").await else { return };
    revoked_tokens_stay_refused_after_a_restart_on(Some(url)).await;
}
