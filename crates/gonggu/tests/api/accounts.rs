use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{browser, csrf_token, error_of, spawn_app, PASSWORD};

#[tokio::test]
async fn register_then_login_then_me() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"login_id": "Kim_01", "email": "Kim@Example.com", "password": PASSWORD,
                    "neighborhood": {"name": "역삼동", "lat": 37.5, "lon": 127.03}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let user: serde_json::Value = res.json().await.unwrap();
    assert_eq!(user["login_id"], "kim_01", "login ids are folded to lower case");
    assert_eq!(user["email"], "kim@example.com");
    assert_eq!(user["neighborhood"]["name"], "역삼동");
    assert!(user.get("password_hash").is_none() && !user.to_string().contains("argon2"));

    let res = app.login("KIM_01", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let pair: serde_json::Value = res.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["refresh_expires_in"], 14 * 24 * 3600);
    let access = pair["access_token"].as_str().unwrap();

    let me: serde_json::Value = app.get_as("/api/v1/me", access).await.json().await.unwrap();
    assert_eq!(me["login_id"], "kim_01");
    assert_eq!(me["id"], user["id"]);
}

#[tokio::test]
async fn login_id_availability() {
    let app = spawn_app().await;
    app.register("taken_id").await;
    let v: serde_json::Value = app.get("/api/v1/auth/login-id-available?login_id=taken_id").await.json().await.unwrap();
    assert_eq!(v, json!({"available": false}));
    let v: serde_json::Value = app.get("/api/v1/auth/login-id-available?login_id=Free_ID").await.json().await.unwrap();
    assert_eq!(v, json!({"available": true}));
    let (status, err) = error_of(app.get("/api/v1/auth/login-id-available?login_id=no").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["login_id"].is_string());
    let (status, _) = error_of(app.get("/api/v1/auth/login-id-available").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_registration_rule_answers_422_with_its_field() {
    let app = spawn_app().await;
    let good = json!({"login_id": "valid_id", "email": "v@example.com", "password": PASSWORD});
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("login_id", json!({"login_id": "ab"})),
        ("login_id", json!({"login_id": "has-dash"})),
        ("login_id", json!({"login_id": "a".repeat(21)})),
        ("login_id", json!({"login_id": "한글"})),
        ("email", json!({"email": "not-an-email"})),
        ("email", json!({"email": "a@b"})),
        ("password", json!({"password": "short"})),
        ("password", json!({"password": "x".repeat(129)})),
        ("password", json!({"password": "password123"})),
        ("password", json!({"password": "valid_id", "login_id": "valid_id"})),
        ("neighborhood.lat", json!({"neighborhood": {"name": "동네", "lat": 91.0, "lon": 127.0}})),
        ("neighborhood.lon", json!({"neighborhood": {"name": "동네", "lat": 37.0, "lon": 181.0}})),
        ("neighborhood.name", json!({"neighborhood": {"name": "가".repeat(31), "lat": 37.0, "lon": 127.0}})),
        ("neighborhood.lat", json!({"neighborhood": {"name": "도쿄", "lat": 35.68, "lon": 139.76}})),
        ("neighborhood.code", json!({"neighborhood": {"code": "99999999"}})),
    ];
    for (i, (field, patch)) in cases.into_iter().enumerate() {
        let mut body = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        // A different client each time, so the sign-up rate limit stays out of the way.
        let res = app
            .api
            .post(app.url("/api/v1/auth/register"))
            .header("x-forwarded-for", format!("192.0.2.{i}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, err) = error_of(res).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(err["code"], "validation_failed");
        let msg = err["details"]["fields"][field].as_str().unwrap_or_else(|| panic!("{field} in {err}"));
        assert!(msg.chars().any(|c| ('가'..='힣').contains(&c)), "Korean message for {field}: {msg}");
    }
    // Several problems at once are all reported.
    let (_, err) = error_of(app.post_json("/api/v1/auth/register", &json!({"login_id": "x", "email": "y", "password": "z"})).await).await;
    let fields = err["details"]["fields"].as_object().unwrap();
    assert_eq!(fields.len(), 3, "{err}");
}

#[tokio::test]
async fn malformed_and_mistyped_bodies() {
    let app = spawn_app().await;
    let res =
        app.api.post(app.url("/api/v1/auth/register")).header("content-type", "application/json").body("{not json").send().await.unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));

    let (status, err) =
        error_of(app.post_json("/api/v1/auth/register", &json!({"login_id": 5, "email": "a@b.co", "password": PASSWORD})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["login_id"].is_string(), "{err}");

    let (status, err) = error_of(app.post_json("/api/v1/auth/register", &json!({"email": "a@b.co", "password": PASSWORD})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["login_id"].is_string(), "{err}");

    let res = app.api.post(app.url("/api/v1/auth/login")).body("login_id=a").send().await.unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_media_type")));

    let big = "x".repeat(200 * 1024);
    let res = app.api.post(app.url("/api/v1/auth/login")).header("content-type", "application/json").body(big).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn duplicate_login_id_and_email_conflict() {
    let app = spawn_app().await;
    app.register("dup_user").await;
    let (status, err) = error_of(
        app.post_json("/api/v1/auth/register", &json!({"login_id": "DUP_USER", "email": "other@example.com", "password": PASSWORD})).await,
    )
    .await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("login_id_taken")));
    let (status, err) = error_of(
        app.post_json("/api/v1/auth/register", &json!({"login_id": "another", "email": "Dup_User@Example.com", "password": PASSWORD}))
            .await,
    )
    .await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("email_taken")));
}

#[tokio::test]
async fn unknown_id_and_wrong_password_look_the_same() {
    let app = spawn_app().await;
    app.register("real_user").await;
    let before = app.accounts.hasher.verifications();
    let (s1, e1) = error_of(app.login("real_user", "wrong-password-1").await).await;
    let (s2, e2) = error_of(app.login("ghost_user", "wrong-password-1").await).await;
    let (s3, e3) = error_of(app.login("!!", "wrong-password-1").await).await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!((s1, &e1["code"], &e1["message"]), (s2, &e2["code"], &e2["message"]));
    assert_eq!((s1, &e1["code"], &e1["message"]), (s3, &e3["code"], &e3["message"]));
    // Unknown and malformed ids still pay for a hash verification (timing parity).
    assert_eq!(app.accounts.hasher.verifications(), before + 3);
}

#[tokio::test]
async fn login_is_rate_limited_per_client_without_locking_out_the_owner() {
    let app = spawn_app().await;
    app.register("victim").await;
    let attempt = |ip: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.api
                .post(app.url("/api/v1/auth/login"))
                .header("x-forwarded-for", ip)
                .json(&json!({"login_id": "victim", "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("203.0.113.9", "guess-guess-guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    let res = attempt("203.0.113.9", "guess-guess-guess").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    let (_, err) = error_of(res).await;
    assert_eq!(err["code"], "rate_limited");
    // The attacker is throttled even with the right password …
    assert_eq!(attempt("203.0.113.9", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // … while the owner, from their own address, logs in normally.
    assert_eq!(attempt("198.51.100.7", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn registration_is_rate_limited_per_address() {
    let app = spawn_app().await;
    let mut statuses = vec![];
    for i in 0..11 {
        let res = app
            .api
            .post(app.url("/api/v1/auth/register"))
            .header("x-forwarded-for", "192.0.2.44")
            .json(&json!({"login_id": format!("bulk_{i}"), "email": format!("bulk{i}@example.com"), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        statuses.push(res.status());
    }
    assert!(statuses[..10].iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn keywords_are_trimmed_deduplicated_and_bounded() {
    let app = spawn_app().await;
    let pair = app.signed_in("kw_user").await;
    let token = pair["access_token"].as_str().unwrap();
    let res = app.put_json_as("/api/v1/me/keywords", token, &json!({"keywords": [" 휴지 ", "Costco", "costco", "생수"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: serde_json::Value = res.json().await.unwrap();
    assert_eq!(me["keywords"], json!(["휴지", "Costco", "생수"]));
    let me: serde_json::Value = app.get_as("/api/v1/me", token).await.json().await.unwrap();
    assert_eq!(me["keywords"], json!(["휴지", "Costco", "생수"]), "persisted");

    for bad in [
        json!({"keywords": [""]}),
        json!({"keywords": ["가".repeat(21)]}),
        json!({"keywords": (0..21).map(|i| format!("k{i}")).collect::<Vec<_>>()}),
    ] {
        let (status, err) = error_of(app.put_json_as("/api/v1/me/keywords", token, &bad).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(err["details"]["fields"]["keywords"].is_string());
    }
    let me: serde_json::Value = app.get_as("/api/v1/me", token).await.json().await.unwrap();
    assert_eq!(me["keywords"], json!(["휴지", "Costco", "생수"]), "rejected input changed nothing");
    let res = app.put_json_as("/api/v1/me/keywords", token, &json!({"keywords": []})).await;
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["keywords"], json!([]));
}

#[tokio::test]
async fn neighborhood_set_validate_and_clear() {
    let app = spawn_app().await;
    let pair = app.signed_in("hood_user").await;
    let token = pair["access_token"].as_str().unwrap();
    let res = app.put_json_as("/api/v1/me/neighborhood", token, &json!({"name": " 망원동 ", "lat": 37.556, "lon": 126.91})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        me["neighborhood"],
        json!({"name": "망원동", "lat": 37.556, "lon": 126.91, "code": "11440123", "verified_at": null, "reach_km": 5}),
        "a point names the 동 it lies in"
    );
    for (body, field) in [
        (json!({"name": "x", "lat": -90.5, "lon": 0}), "lat"),
        (json!({"name": "x", "lat": 0, "lon": 180.1}), "lon"),
        (json!({"name": "x", "lat": 0, "lon": 0}), "lat"),
        (json!({"name": "가".repeat(31), "lat": 37.556, "lon": 126.91}), "name"),
        (json!({"lat": 37.556}), "lon"),
        (json!({}), "code"),
        (json!({"code": "1168010"}), "code"),
        (json!({"verify": true}), "lat"),
        (json!({"verify": true, "code": "11680101", "lat": 37.556, "lon": 126.91}), "code"),
    ] {
        let (status, err) = error_of(app.put_json_as("/api/v1/me/neighborhood", token, &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err["details"]["fields"][field].is_string(), "{field}: {err}");
    }
    let me: serde_json::Value = app.delete_as("/api/v1/me/neighborhood", token).await.json().await.unwrap();
    assert!(me["neighborhood"].is_null());
}

#[tokio::test]
async fn a_neighbourhood_by_place_code_and_by_verified_location() {
    a_neighbourhood_by_place_code_and_by_verified_location_story(spawn_app().await).await;
}

#[tokio::test]
async fn a_neighbourhood_by_place_code_and_by_verified_location_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("a_neighbourhood_by_place_code_and_by_verified_location_on_postgres").await
    else {
        return;
    };
    a_neighbourhood_by_place_code_and_by_verified_location_story(
        crate::helpers::spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await,
    )
    .await;
}

async fn a_neighbourhood_by_place_code_and_by_verified_location_story(app: crate::helpers::TestApp) {
    let pair = app.signed_in("dong_user").await;
    let token = pair["access_token"].as_str().unwrap();
    // Picked from the place search: named after the 동, at its centre, not verified.
    let place: serde_json::Value = app.get("/api/v1/places?q=%EC%97%AD%EC%82%BC").await.json().await.unwrap();
    let place = &place["items"][0];
    let me: serde_json::Value =
        app.put_json_as("/api/v1/me/neighborhood", token, &json!({"code": place["code"]})).await.json().await.unwrap();
    let hood = &me["neighborhood"];
    assert_eq!((hood["name"].as_str(), hood["code"].as_str()), (Some("역삼동"), Some("11680101")), "{me}");
    assert_eq!((&hood["lat"], &hood["lon"]), (&place["lat"], &place["lon"]));
    assert!(hood["verified_at"].is_null());
    // 동네 인증 from the phone's location: the 동 it is in, verified now, at the 동's centre
    // (where the phone was is not kept).
    let me: serde_json::Value = app
        .put_json_as("/api/v1/me/neighborhood", token, &json!({"lat": 37.5006, "lon": 127.0364, "verify": true}))
        .await
        .json()
        .await
        .unwrap();
    let hood = &me["neighborhood"];
    assert_eq!(hood["code"], "11680101");
    assert_eq!((&hood["lat"], &hood["lon"]), (&place["lat"], &place["lon"]), "{me}");
    let verified_at = hood["verified_at"].as_str().expect("verified").to_owned();
    // Picking the same 동 again keeps the 인증; another 동 drops it.
    let me: serde_json::Value = app.put_json_as("/api/v1/me/neighborhood", token, &json!({"code": "11680101"})).await.json().await.unwrap();
    assert_eq!(me["neighborhood"]["verified_at"].as_str(), Some(verified_at.as_str()));
    let me: serde_json::Value = app.put_json_as("/api/v1/me/neighborhood", token, &json!({"code": "11440123"})).await.json().await.unwrap();
    assert_eq!((me["neighborhood"]["name"].as_str(), me["neighborhood"]["verified_at"].is_null()), (Some("망원동"), true), "{me}");
    // The session sees what it saved.
    let me: serde_json::Value = app.get_as("/api/v1/me", token).await.json().await.unwrap();
    assert_eq!(me["neighborhood"]["code"], "11440123");
    // How far the feed reaches: 5 km unless chosen, one of 1/3/5/10, kept when the 동 changes.
    assert_eq!(me["neighborhood"]["reach_km"], 5);
    let me: serde_json::Value = app.put_json_as("/api/v1/me/neighborhood/reach", token, &json!({"km": 10})).await.json().await.unwrap();
    assert_eq!(me["neighborhood"]["reach_km"], 10);
    let (status, err) = error_of(app.put_json_as("/api/v1/me/neighborhood/reach", token, &json!({"km": 7})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let me: serde_json::Value = app.put_json_as("/api/v1/me/neighborhood", token, &json!({"code": "11680101"})).await.json().await.unwrap();
    assert_eq!((me["neighborhood"]["name"].as_str(), me["neighborhood"]["reach_km"].as_i64()), (Some("역삼동"), Some(10)));
    let me: serde_json::Value =
        app.put_json_as("/api/v1/me/neighborhood", token, &json!({"code": "11680101", "reach_km": 1})).await.json().await.unwrap();
    assert_eq!(me["neighborhood"]["reach_km"], 1);
    app.delete_as("/api/v1/me/neighborhood", token).await;
    let (status, err) = error_of(app.put_json_as("/api/v1/me/neighborhood/reach", token, &json!({"km": 3})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("no_neighborhood")), "{err}");
}

#[tokio::test]
async fn protected_endpoints_need_a_valid_token() {
    let app = spawn_app().await;
    let (status, err) = error_of(app.get("/api/v1/me").await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("missing_token")));
    let (status, err) = error_of(app.get_as("/api/v1/me", "not.a.jwt").await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
    let res = app.api.get(app.url("/api/v1/me")).header("authorization", "Basic abc").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    for (method, path) in
        [("PUT", "/api/v1/me/keywords"), ("POST", "/api/v1/me/password"), ("GET", "/api/v1/me/sessions"), ("POST", "/api/v1/me/email")]
    {
        let res = app.api.request(method.parse().unwrap(), app.url(path)).json(&json!({})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn password_change_needs_the_current_password_and_ends_other_sessions() {
    let app = spawn_app().await;
    let phone = app.signed_in("pw_user").await;
    let laptop: serde_json::Value = app.login("pw_user", PASSWORD).await.json().await.unwrap();
    let phone_token = phone["access_token"].as_str().unwrap();

    let (status, err) = error_of(
        app.post_json_as(
            "/api/v1/me/password",
            phone_token,
            &json!({"current_password": "wrong-one-123", "new_password": "a-brand-new-secret"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["current_password"].is_string());
    let (status, err) = error_of(
        app.post_json_as("/api/v1/me/password", phone_token, &json!({"current_password": PASSWORD, "new_password": "short"})).await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["new_password"].is_string());

    let res = app
        .post_json_as("/api/v1/me/password", phone_token, &json!({"current_password": PASSWORD, "new_password": "a-brand-new-secret"}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // This device keeps working; the other one is logged out (access and refresh).
    assert_eq!(app.get_as("/api/v1/me", phone_token).await.status(), StatusCode::OK);
    let (status, err) = error_of(app.get_as("/api/v1/me", laptop["access_token"].as_str().unwrap()).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("session_revoked")));
    let res = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": laptop["refresh_token"]})).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(app.login("pw_user", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("pw_user", "a-brand-new-secret").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn email_change_by_code() {
    let app = spawn_app().await;
    let pair = app.signed_in("mail_user").await;
    let token = pair["access_token"].as_str().unwrap();
    app.register("other_user").await;

    let change = |email: &str| json!({"email": email, "current_password": PASSWORD});
    let (status, err) = error_of(app.post_json_as("/api/v1/me/email", token, &change("other_user@example.com")).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("email_taken")));
    let (status, _) = error_of(app.post_json_as("/api/v1/me/email", token, &change("bad")).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let res = app.post_json_as("/api/v1/me/email", token, &change("New@Example.com")).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mail = app.mail_to("new@example.com").await;
    assert!(mail.contains("Subject:"), "{mail}");
    let code = crate::helpers::extract_code(&mail);

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, err) = error_of(app.post_json_as("/api/v1/me/email/verify", token, &json!({"code": wrong})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_code")));
    let me: serde_json::Value = app.get_as("/api/v1/me", token).await.json().await.unwrap();
    assert_eq!(me["email"], "mail_user@example.com", "unchanged until verified");

    let res = app.post_json_as("/api/v1/me/email/verify", token, &json!({"code": code})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["email"], "new@example.com");
    // A code works once.
    let (status, err) = error_of(app.post_json_as("/api/v1/me/email/verify", token, &json!({"code": code})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("code_expired")));
}

#[tokio::test]
async fn password_reset_flow_and_enumeration_resistance() {
    let app = spawn_app().await;
    let old = app.signed_in("reset_user").await;

    let known = app.post_json("/api/v1/auth/password-reset", &json!({"email": "reset_user@example.com"})).await;
    let unknown = app.post_json("/api/v1/auth/password-reset", &json!({"email": "nobody@example.com"})).await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    let code = app.code_for("reset_user@example.com").await;
    assert!(!std::fs::read_dir(app.mail_dir())
        .unwrap()
        .any(|e| std::fs::read_to_string(e.unwrap().path()).unwrap().contains("nobody@example.com")));

    let confirm = |email: &str, code: &str, pw: &str| json!({"email": email, "code": code, "new_password": pw});
    // Unknown address: the same answer as a wrong code (see the test below).
    let (status, err) =
        error_of(app.post_json("/api/v1/auth/password-reset/confirm", &confirm("nobody@example.com", "123456", "new-secret-pass")).await)
            .await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_code")));
    let (status, err) =
        error_of(app.post_json("/api/v1/auth/password-reset/confirm", &confirm("reset_user@example.com", &code, "password")).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["new_password"].is_string());

    let res = app.post_json("/api/v1/auth/password-reset/confirm", &confirm("reset_user@example.com", &code, "new-secret-pass")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.login("reset_user", "new-secret-pass").await.status(), StatusCode::OK);
    assert_eq!(app.login("reset_user", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    // Every earlier session ended.
    assert_eq!(app.get_as("/api/v1/me", old["access_token"].as_str().unwrap()).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": old["refresh_token"]})).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn reset_code_allows_five_attempts_then_burns() {
    let app = spawn_app().await;
    app.register("guess_user").await;
    app.post_json("/api/v1/auth/password-reset", &json!({"email": "guess_user@example.com"})).await;
    let code = app.code_for("guess_user@example.com").await;
    let wrong = if code == "999999" { "888888" } else { "999999" };
    for i in 1..=5 {
        let (_, err) = error_of(
            app.post_json(
                "/api/v1/auth/password-reset/confirm",
                &json!({"email": "guess_user@example.com", "code": wrong, "new_password": "new-secret-pass"}),
            )
            .await,
        )
        .await;
        // No count of attempts left: an unknown address could not show one.
        assert_eq!(err["code"], "invalid_code", "attempt {i}");
    }
    // The fifth wrong guess burned it: even the right code no longer works.
    let (_, err) = error_of(
        app.post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"email": "guess_user@example.com", "code": code, "new_password": "new-secret-pass"}),
        )
        .await,
    )
    .await;
    assert_eq!(err["code"], "invalid_code");
}

#[tokio::test]
async fn reset_code_expires_after_ten_minutes() {
    let app = spawn_app().await;
    app.register("slow_user").await;
    app.post_json("/api/v1/auth/password-reset", &json!({"email": "slow_user@example.com"})).await;
    let code = app.code_for("slow_user@example.com").await;
    app.clock.advance(chrono::Duration::minutes(10) + chrono::Duration::seconds(1));
    let (_, err) = error_of(
        app.post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"email": "slow_user@example.com", "code": code, "new_password": "new-secret-pass"}),
        )
        .await,
    )
    .await;
    assert_eq!(err["code"], "invalid_code");
}

#[tokio::test]
async fn reset_requests_are_rate_limited_per_address() {
    let app = spawn_app().await;
    app.register("flood_user").await;
    let mut last = StatusCode::OK;
    for _ in 0..4 {
        last = app.post_json("/api/v1/auth/password-reset", &json!({"email": "flood_user@example.com"})).await.status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "three mails per address per 15 minutes");
}

#[tokio::test]
async fn reset_confirm_answers_an_unknown_address_exactly_like_a_wrong_code() {
    let app = spawn_app().await;
    app.register("real_user").await;
    app.post_json("/api/v1/auth/password-reset", &json!({"email": "real_user@example.com"})).await;
    let code = app.code_for("real_user@example.com").await;
    let wrong = if code == "246810" { "135791" } else { "246810" };
    let confirm = |email: &str| json!({"email": email, "code": wrong, "new_password": "new-secret-pass"});
    let (real_status, real) = error_of(app.post_json("/api/v1/auth/password-reset/confirm", &confirm("real_user@example.com")).await).await;
    let (unknown_status, unknown) =
        error_of(app.post_json("/api/v1/auth/password-reset/confirm", &confirm("nobody_here@example.com")).await).await;
    assert_eq!(real_status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(real_status, unknown_status);
    assert_eq!(real["code"], unknown["code"]);
    assert_eq!(real["message"], unknown["message"]);
    assert_eq!(real["details"], unknown["details"]);
    // A new password equal to the login id is refused without telling outsiders the id.
    let as_id = |email: &str| json!({"email": email, "code": wrong, "new_password": "real_user"});
    let (_, real) = error_of(app.post_json("/api/v1/auth/password-reset/confirm", &as_id("real_user@example.com")).await).await;
    let (_, unknown) = error_of(app.post_json("/api/v1/auth/password-reset/confirm", &as_id("nobody_here@example.com")).await).await;
    assert_eq!((&real["code"], &real["message"]), (&unknown["code"], &unknown["message"]));
    // The right code still works (two wrong guesses so far).
    let res = app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"email": "real_user@example.com", "code": code, "new_password": "new-secret-pass"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_most_common_passwords_are_refused_with_the_weak_password_answer() {
    let app = spawn_app().await;
    for (i, weak) in ["password2", "sunshine1", "test1234", "aaaaaaaa"].into_iter().enumerate() {
        let body = json!({"login_id": format!("weak_{i}"), "email": format!("weak{i}@example.com"), "password": weak});
        let (status, err) = error_of(app.post_json("/api/v1/auth/register", &body).await).await;
        assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")), "{weak}");
        assert!(err["details"]["fields"]["password"].as_str().unwrap().contains("흔한 비밀번호"), "{weak}: {err}");
    }
    let strong = json!({"login_id": "strong_1", "email": "strong@example.com", "password": "딸기-세-팩-나눠요-7"});
    assert_eq!(app.post_json("/api/v1/auth/register", &strong).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn successful_logins_never_count_toward_the_per_address_and_id_limit() {
    let app = spawn_app().await;
    app.register("daily_user").await;
    for i in 0..8 {
        assert_eq!(app.login("daily_user", PASSWORD).await.status(), StatusCode::OK, "successful login {i} within 5 minutes");
    }
    for i in 0..5 {
        assert_eq!(app.login("daily_user", "not-my-password").await.status(), StatusCode::UNAUTHORIZED, "failure {i}");
    }
    let res = app.login("daily_user", "not-my-password").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "failed ones are still limited");
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn guesses_sent_at_once_are_limited_like_guesses_sent_one_by_one() {
    let app = spawn_app().await;
    app.register("burst_target").await;
    let guesses = (0..20).map(|i| {
        let app = &app;
        async move { app.login("burst_target", &format!("wrong-guess-{i}")).await.status() }
    });
    let answers = futures::future::join_all(guesses).await;
    let tried = answers.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert!(tried <= 5, "at most 5 guesses are checked per address and id, not {tried}: {answers:?}");
    assert!(answers.iter().all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS), "{answers:?}");
}

#[tokio::test]
async fn password_change_is_rate_limited_per_user_and_per_address() {
    let app = spawn_app().await;
    let change = |token: String, ip: &'static str| {
        let app = &app;
        async move {
            app.api
                .post(app.url("/api/v1/me/password"))
                .bearer_auth(token)
                .header("x-forwarded-for", ip)
                .json(&json!({"current_password": "a-wrong-guess", "new_password": "a-brand-new-secret"}))
                .send()
                .await
                .unwrap()
        }
    };
    // Per user: five guesses, whatever address they come from.
    let victim = app.signed_in("guessed_user").await["access_token"].as_str().unwrap().to_owned();
    let ips = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"];
    for ip in ips {
        assert_eq!(change(victim.clone(), ip).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let res = change(victim.clone(), "198.51.100.6").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(error_of(res).await.1["code"], "rate_limited");

    // Per address: twenty guesses spread over several accounts.
    let mut tokens = vec![];
    for i in 0..5 {
        tokens.push(app.signed_in(&format!("spread_{i}")).await["access_token"].as_str().unwrap().to_owned());
    }
    let mut statuses = vec![];
    for (i, token) in tokens.iter().enumerate() {
        for _ in 0..(if i < 4 { 5 } else { 1 }) {
            statuses.push(change(token.clone(), "203.0.113.77").await.status());
        }
    }
    assert!(statuses[..20].iter().all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY), "{statuses:?}");
    assert_eq!(statuses[20], StatusCode::TOO_MANY_REQUESTS, "the 21st guess from one address");
}

#[tokio::test]
async fn email_change_needs_the_current_password_and_tells_the_old_address() {
    let app = spawn_app().await;
    let pair = app.signed_in("moving_user").await;
    let token = pair["access_token"].as_str().unwrap();

    // A stolen access token alone cannot move the account.
    let (status, err) = error_of(app.post_json_as("/api/v1/me/email", token, &json!({"email": "thief@example.com"})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("current_password_required")));
    assert!(err["details"]["fields"]["current_password"].is_string());
    let wrong = json!({"email": "thief@example.com", "current_password": "a-guessed-password"});
    let (status, err) = error_of(app.post_json_as("/api/v1/me/email", token, &wrong).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_current_password")));
    assert_eq!(app.mail_count(), 0, "no code went out");

    let right = json!({"email": "moved@example.com", "current_password": PASSWORD});
    assert_eq!(app.post_json_as("/api/v1/me/email", token, &right).await.status(), StatusCode::ACCEPTED);
    let code = app.code_for("moved@example.com").await;
    let res = app.post_json_as("/api/v1/me/email/verify", token, &json!({"code": code})).await;
    assert_eq!(res.status(), StatusCode::OK);

    // The old address hears of it: when (KST) and what to do if it was not them.
    let notice = mail_text(&app.mail_to("moving_user@example.com").await);
    let now = gonggu_kernel::web::format_kst(app.clock.now());
    assert!(notice.contains(&now) && notice.contains("한국 시간"), "time in KST ({now}): {notice}");
    assert!(notice.contains("mo***@example.com"), "the new address, masked: {notice}");
    assert!(notice.contains("답장해 신고") && notice.contains("비밀번호를 바꾸"), "how to report and recover: {notice}");
    assert!(!notice.contains(&code), "no code in the notice");
}

/// A mail's text, whichever of lettre's encodings it went out in (Korean text goes as base64).
fn mail_text(eml: &str) -> String {
    use base64::Engine;
    let (headers, body) = eml.split_once("\r\n\r\n").or_else(|| eml.split_once("\n\n")).expect("headers and body");
    let headers = headers.to_ascii_lowercase();
    if headers.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(joined).expect("base64 body")).expect("utf-8 body")
    } else {
        assert!(!headers.contains("quoted-printable"), "a quoted-printable body: {eml}");
        body.to_owned()
    }
}

#[tokio::test]
async fn sign_up_on_the_page_signs_the_user_in_and_goes_where_they_were_going() {
    let app = spawn_app().await;
    for (login_id, next, lands) in [("page_joiner", None, "/"), ("next_joiner", Some("/wallet"), "/wallet")] {
        let client = browser();
        let url = match next {
            Some(n) => app.url(&format!("/register?next={n}")),
            None => app.url("/register"),
        };
        let html = client.get(url).send().await.unwrap().text().await.unwrap();
        let token = csrf_token(&html);
        let email = format!("{login_id}@example.com");
        let mut form = vec![
            ("csrf_token", token.as_str()),
            ("login_id", login_id),
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ];
        if let Some(n) = next {
            form.push(("next", n));
        }
        let res = client.post(app.url("/register")).form(&form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{login_id}");
        assert_eq!(res.headers()[reqwest::header::LOCATION], lands, "{login_id}");
        let cookies: Vec<String> =
            res.headers().get_all(reqwest::header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        for name in ["gonggu_access=", "gonggu_refresh="] {
            assert!(cookies.iter().any(|c| c.starts_with(name) && c.contains("HttpOnly")), "{name} set: {cookies:?}");
        }
        let me = client.get(app.url("/me")).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::OK, "signed in without logging in again");
        assert!(me.text().await.unwrap().contains(&email));
    }
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_at_owasp_cost() {
    // The one API test that keeps the production hasher (the others use a cheap one).
    let app = crate::helpers::spawn_app_tuned(|_| {}, |o| o.hasher = Some(gonggu_accounts::password::PasswordHasher::new(1))).await;
    app.register("real_hash").await;
    let stored = app.accounts.store.user_by_login("real_hash").await.unwrap().unwrap().password_hash;
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    assert!(!stored.contains(PASSWORD));
    assert_eq!(app.login("real_hash", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.login("real_hash", "not-the-password").await.status(), StatusCode::UNAUTHORIZED);
}

/// Two neighbourhoods (issue 12): a second one is kept to switch to; the feed follows the active.
#[tokio::test]
async fn a_second_neighbourhood_to_switch_to() {
    a_second_neighbourhood_to_switch_to_story(spawn_app().await).await;
}

#[tokio::test]
async fn a_second_neighbourhood_to_switch_to_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("a_second_neighbourhood_to_switch_to_on_postgres").await else { return };
    a_second_neighbourhood_to_switch_to_story(
        crate::helpers::spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await,
    )
    .await;
}

async fn a_second_neighbourhood_to_switch_to_story(app: crate::helpers::TestApp) {
    let pair = app.signed_in("two_hoods").await;
    let token = pair["access_token"].as_str().unwrap();
    let (status, err) = error_of(app.put_json_as("/api/v1/me/neighborhood/second", token, &json!({"code": "11440123"})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("no_neighborhood")), "a second needs a first: {err}");
    app.put_json_as("/api/v1/me/neighborhood", token, &json!({"code": "11680101", "reach_km": 3})).await;
    let (status, err) = error_of(app.put_json_as("/api/v1/me/neighborhood/second", token, &json!({"code": "11680101"})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the same 동 twice: {err}");
    let me: serde_json::Value =
        app.put_json_as("/api/v1/me/neighborhood/second", token, &json!({"code": "11440123"})).await.json().await.unwrap();
    assert_eq!((me["neighborhood"]["name"].as_str(), me["second_neighborhood"]["name"].as_str()), (Some("역삼동"), Some("망원동")), "{me}");
    let me: serde_json::Value = app.post_json_as("/api/v1/me/neighborhood/switch", token, &json!({})).await.json().await.unwrap();
    assert_eq!((me["neighborhood"]["name"].as_str(), me["second_neighborhood"]["name"].as_str()), (Some("망원동"), Some("역삼동")), "{me}");
    assert_eq!(me["neighborhood"]["reach_km"], 3, "the reach is the user's, not the 동's");
    let me: serde_json::Value = app.get_as("/api/v1/me", token).await.json().await.unwrap();
    assert_eq!(me["neighborhood"]["code"], "11440123", "kept: {me}");
    // Clearing the active one makes the second the active one.
    let me: serde_json::Value = app.delete_as("/api/v1/me/neighborhood", token).await.json().await.unwrap();
    assert_eq!((me["neighborhood"]["name"].as_str(), me["second_neighborhood"].is_null()), (Some("역삼동"), true), "{me}");
    let (status, err) = error_of(app.post_json_as("/api/v1/me/neighborhood/switch", token, &json!({})).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("no_second_neighborhood")), "{err}");
    app.put_json_as("/api/v1/me/neighborhood/second", token, &json!({"code": "11440123"})).await;
    let me: serde_json::Value = app.delete_as("/api/v1/me/neighborhood/second", token).await.json().await.unwrap();
    assert!(me["second_neighborhood"].is_null(), "{me}");
}
