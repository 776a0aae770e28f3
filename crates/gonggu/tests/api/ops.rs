use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{error_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.text().await.unwrap(), "ready");
    app.get("/api/v1/auth/login-id-available?login_id=someone").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/api/v1/auth/login-id-available\""), "route label: {metrics}");
}

#[tokio::test]
async fn metrics_are_for_this_machine_or_the_token_holder() {
    let app = spawn_app().await;
    let from_outside = app.api.get(app.url("/metrics")).header("x-forwarded-for", "203.0.113.7").send().await.unwrap();
    let (status, err) = error_of(from_outside).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::FORBIDDEN, Some("metrics_local_only")));

    let token = "scrape-0123456789-abcdefghij";
    let app = spawn_app_with(|s| s.ops.metrics_token = Some(gonggu::settings::Secret::new(token))).await;
    let scrape = |auth: Option<&str>| {
        let mut req = app.api.get(app.url("/metrics")).header("x-forwarded-for", "203.0.113.7");
        if let Some(a) = auth {
            req = req.bearer_auth(a);
        }
        req.send()
    };
    let (status, err) = error_of(scrape(None).await.unwrap()).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("metrics_token_required")));
    assert_eq!(scrape(Some("scrape-0123456789-abcdefghiX")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let res = scrape(Some(token)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("http_requests_total"));
    // With a token set, loopback needs it too: one rule, no exceptions.
    assert_eq!(app.get("/metrics").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = spawn_app().await;
    for path in ["/healthz", "/api/v1/me", "/login", "/no-such-page"] {
        let res = app.get(path).await;
        let h = res.headers();
        assert!(h.get("x-request-id").is_some(), "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
    }
    let res = app.api.get(app.url("/healthz")).header("x-request-id", "my-trace-123").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "my-trace-123", "a caller's id is kept");
    let res = app.get("/api/v1/me").await;
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (_, err) = error_of(res).await;
    assert_eq!(err["request_id"], id.as_str(), "the envelope names the request");
    assert_eq!(app.get("/api/v1/me").await.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn unknown_api_routes_and_methods_get_envelopes() {
    let app = spawn_app().await;
    let (status, err) = error_of(app.get("/api/v1/nothing-here").await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::NOT_FOUND, Some("route_not_found")));
    let res = app.api.delete(app.url("/api/v1/auth/login")).send().await.unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
    let res = app.get("/no-such-page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("페이지를 찾을 수 없습니다"));
}

/// Every path in the OpenAPI document is routed (probing it never hits the "no such route"
/// fallback), and every routed API handler is in the document: the API routers are built only
/// from `utoipa_axum::routes!`, which registers a handler and its documentation together, and
/// this test checks the list of documented operations against the endpoints DESIGN §4 names.
#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = vec![];
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            documented.push(format!("{} {}", method.to_uppercase(), path));
            let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000").replace("{login_id}", "someone");
            let res = app.api.request(method.to_uppercase().parse().unwrap(), app.url(&concrete)).send().await.unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            assert!(
                !body.contains("route_not_found") && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed ({status}: {body})"
            );
        }
    }
    documented.sort();
    let mut expected: Vec<String> = [
        "POST /api/v1/auth/register",
        "GET /api/v1/auth/login-id-available",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/refresh",
        "POST /api/v1/auth/logout",
        "POST /api/v1/auth/password-reset",
        "POST /api/v1/auth/password-reset/confirm",
        "GET /api/v1/me",
        "PUT /api/v1/me/keywords",
        "PUT /api/v1/me/neighborhood",
        "PUT /api/v1/me/neighborhood/reach",
        "PUT /api/v1/me/neighborhood/second",
        "DELETE /api/v1/me/neighborhood/second",
        "POST /api/v1/me/neighborhood/switch",
        "DELETE /api/v1/me/neighborhood",
        "POST /api/v1/me/password",
        "POST /api/v1/me/email",
        "POST /api/v1/me/email/verify",
        "GET /api/v1/me/sessions",
        "DELETE /api/v1/me/sessions",
        "DELETE /api/v1/me/sessions/{id}",
        "GET /api/v1/wallet",
        "POST /api/v1/wallet/charge",
        "POST /api/v1/wallet/withdraw",
        "POST /api/v1/wallet/transfers",
        "GET /api/v1/wallet/transactions",
        "GET /api/v1/wallet/recipients/{login_id}",
        "GET /api/v1/categories",
        "POST /api/v1/media",
        "GET /api/v1/deals",
        "POST /api/v1/deals",
        "GET /api/v1/deals/{id}",
        "DELETE /api/v1/deals/{id}",
        "PATCH /api/v1/deals/{id}",
        "POST /api/v1/deals/{id}/complete",
        "GET /api/v1/deals/{id}/members",
        "PUT /api/v1/deals/{id}/members/me",
        "DELETE /api/v1/deals/{id}/members/me",
        "GET /api/v1/me/deals",
        "GET /api/v1/users/{login_id}/deals",
        "GET /api/v1/rooms",
        "GET /api/v1/rooms/{id}/messages",
        "POST /api/v1/rooms/{id}/messages",
        "POST /api/v1/rooms/{id}/read",
        "PUT /api/v1/rooms/{id}/pin",
        "DELETE /api/v1/rooms/{id}/pin",
        "GET /api/v1/push/vapid-public-key",
        "POST /api/v1/push/subscriptions",
        "POST /api/v1/push/subscriptions/renew",
        "GET /api/v1/places",
        "GET /api/v1/places/reverse",
        "DELETE /api/v1/push/subscriptions",
        "GET /api/v1/push/preferences",
        "PUT /api/v1/push/preferences",
        "PUT /api/v1/push/muted-rooms/{id}",
        "DELETE /api/v1/push/muted-rooms/{id}",
        "GET /api/v1/notifications",
        "POST /api/v1/notifications/read",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    expected.sort();
    assert_eq!(documented, expected);
    // Undocumented API paths are not routed (they fall through to the envelope 404).
    for probe in ["/api/v1/users", "/api/v1/me/secret", "/api/v1/auth"] {
        let (status, _) = error_of(app.get(probe).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{probe}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn pwa_assets_are_served() {
    let app = spawn_app().await;
    let manifest: Value = app.get("/manifest.webmanifest").await.json().await.unwrap();
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["display"], "standalone");
    let icons = manifest["icons"].as_array().unwrap();
    assert!(icons.iter().any(|i| i["purpose"] == "maskable"));
    for icon in icons {
        let src = icon["src"].as_str().unwrap();
        let res = app.get(src).await;
        assert_eq!(res.status(), StatusCode::OK, "{src}");
        assert_eq!(res.headers()["content-type"], "image/png");
        assert!(res.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        assert_eq!(&res.bytes().await.unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    }
    let sw = app.get("/sw.js").await;
    assert_eq!(sw.headers()["cache-control"], "no-cache");
    let sw = sw.text().await.unwrap();
    assert!(!sw.contains("__BUILD_VERSION__") && sw.contains("/offline.html"));
    let offline = app.get("/offline.html").await.text().await.unwrap();
    assert!(offline.contains("lang=\"ko\"") && !offline.contains("__APP_CSS__"));
    let home = app.get("/").await.text().await.unwrap();
    assert!(home.contains("rel=\"manifest\"") && home.contains("/assets/app.css?v="));
    for label in ["공구 목록", "공구 등록", "채팅", "공구페이", "내 정보"] {
        assert!(home.contains(label), "nav item {label}");
    }
}
