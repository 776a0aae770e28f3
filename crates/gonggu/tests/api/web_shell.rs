//! The web shell's defences as an outside client sees them: where redirects may go, which
//! characters any text may hold, request ids, CSRF tokens bound to the session, private files,
//! personal pages kept out of caches, and error pages that stay pages.

use reqwest::{header, StatusCode};
use serde_json::json;

use crate::helpers::{browser, csrf_token, error_of, spawn_app, spawn_app_with, TestApp, PASSWORD};

async fn form_login(app: &TestApp, client: &reqwest::Client, login_id: &str, next: &str) -> reqwest::Response {
    let html = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let token = csrf_token(&html);
    client
        .post(app.url("/login"))
        .form(&[("csrf_token", token.as_str()), ("login_id", login_id), ("password", PASSWORD), ("next", next)])
        .send()
        .await
        .unwrap()
}

async fn signed_in_browser(app: &TestApp, login_id: &str) -> reqwest::Client {
    app.register(login_id).await;
    let client = browser();
    let res = form_login(app, &client, login_id, "/me").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    client
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

fn content_type(res: &reqwest::Response) -> String {
    res.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

// ------------------------------------------------------------------------- 1: open redirects

#[tokio::test]
async fn next_never_leaves_the_site() {
    let app = spawn_app().await;
    let client = signed_in_browser(&app, "next_user").await;
    for evil in ["/%09/evil.example/x", "/%0a", "%2F%2Fevil.example", "/%5Cevil.example", "/%2509/evil.example", "https://evil.example"] {
        let res = client.get(app.url(&format!("/login?next={evil}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{evil}");
        assert_eq!(location(&res), "/", "{evil}");
    }
    let res = client.get(app.url("/login?next=/wallet%3Fmsg%3Dsent")).send().await.unwrap();
    assert_eq!(location(&res), "/wallet?msg=sent", "a local path is followed");

    // The login form's own `next` field, as a tampered form would send it.
    let other = browser();
    let res = form_login(&app, &other, "next_user", "/\t/evil.example/x").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
}

// ------------------------------------------------------------- 32 + 14: control characters

#[tokio::test]
async fn control_characters_are_refused_in_every_text() {
    let app = spawn_app().await;
    control_characters_refused(&app).await;
}

#[tokio::test]
async fn control_characters_are_refused_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("control_characters_are_refused_on_postgres").await else { return };
    let app = spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await;
    control_characters_refused(&app).await;
}

async fn control_characters_refused(app: &TestApp) {
    let pair = app.signed_in("ctl_user").await;
    let token = pair["access_token"].as_str().unwrap();
    for bad in ["휴지\u{0}", "a\u{202e}gpj.exe", "\u{7}", "\u{85}x", "\u{2066}x"] {
        let res = app.put_json_as("/api/v1/me/keywords", token, &json!({"keywords": ["생수", bad]})).await;
        let (status, err) = error_of(res).await;
        assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_characters")), "{bad:?}");
        assert!(err["details"]["fields"]["keywords[1]"].is_string(), "the field is named: {err}");
    }
    let me: serde_json::Value = app.get_as("/api/v1/me", token).await.json().await.unwrap();
    assert_eq!(me["keywords"], json!([]), "nothing was stored");
    // Ordinary text still goes through.
    let res = app.put_json_as("/api/v1/me/keywords", token, &json!({"keywords": ["휴지 30롤"]})).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Query strings and paths.
    let (status, err) = error_of(app.get("/api/v1/deals?q=%00").await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_characters")));
    assert!(err["details"]["fields"]["q"].is_string(), "{err}");
    let (status, err) = error_of(app.get("/api/v1/users/a%E2%80%AEb/deals").await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_characters")));
    let (status, err) = error_of(app.get("/api/v1/users/%FF%FE/deals").await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_path")));

    // Forms on pages: an HTML page, not JSON, and nothing saved.
    let client = browser();
    form_login(app, &client, "ctl_user", "/me").await;
    let csrf = csrf_token(&client.get(app.url("/me")).send().await.unwrap().text().await.unwrap());
    let res = client.post(app.url("/me/keywords")).form(&[("csrf_token", csrf.as_str()), ("keywords", "휴지\u{0}")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(content_type(&res).starts_with("text/html"), "{}", content_type(&res));
    assert!(res.text().await.unwrap().contains("쓸 수 없는 문자"));
    let res = client.get(app.url("/users/%FF")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(content_type(&res).starts_with("text/html"));
}

#[tokio::test]
async fn oversized_requests_get_envelopes() {
    let app = spawn_app().await;
    let long = "a".repeat(20 * 1024);
    let (status, err) = error_of(app.get(&format!("/api/v1/deals?q={long}")).await).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::URI_TOO_LONG, Some("uri_too_long")));
    let res = app.api.get(app.url("/api/v1/deals")).header("x-padding", long.as_str()).send().await.unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, Some("headers_too_large")));
    let res = app.get(&format!("/?q={long}")).await;
    assert_eq!(res.status(), StatusCode::URI_TOO_LONG);
    assert!(content_type(&res).starts_with("text/html"), "a page route answers a page");
    // Many small headers (hyper alone answered an empty 431 past 128 of them).
    let mut many = app.api.get(app.url("/api/v1/deals"));
    for i in 0..200 {
        many = many.header(format!("x-h{i}"), "1");
    }
    let (status, err) = error_of(many.send().await.unwrap()).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, Some("headers_too_large")));
}

// ------------------------------------------------------------------------- 13: request ids

#[tokio::test]
async fn only_safe_request_ids_are_echoed() {
    let app = spawn_app().await;
    let res = app.api.get(app.url("/healthz")).header("x-request-id", "trace-01.AB_c").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-01.AB_c");
    for bad in ["<script>alert(1)</script>", "a b", &"x".repeat(65), "é", "\"quoted\""] {
        let res = app.api.get(app.url("/api/v1/me")).header("x-request-id", bad).send().await.unwrap();
        let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(echoed, bad);
        assert!(echoed.len() <= 64 && echoed.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{echoed}");
        let (_, err) = error_of(res).await;
        assert_eq!(err["request_id"], echoed.as_str(), "the envelope names the new id");
    }
}

// ------------------------------------------------------------------------------ 12: CSRF

#[tokio::test]
async fn a_client_chosen_csrf_pair_is_refused() {
    let app = spawn_app().await;
    app.register("pair_user").await;
    let chosen = "A".repeat(43);
    let res = app
        .api
        .post(app.url("/login"))
        .header(header::COOKIE, format!("gonggu_csrf={chosen}"))
        .form(&[("csrf_token", chosen.as_str()), ("login_id", "pair_user"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(content_type(&res).starts_with("text/html"));
}

#[tokio::test]
async fn the_csrf_token_changes_at_login_and_logout() {
    let app = spawn_app().await;
    app.register("rot_user").await;
    let client = browser();
    let anonymous = csrf_token(&client.get(app.url("/login")).send().await.unwrap().text().await.unwrap());
    assert_eq!(anonymous, csrf_token(&client.get(app.url("/register")).send().await.unwrap().text().await.unwrap()), "stable per visitor");
    let res = form_login(&app, &client, "rot_user", "/me").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let signed_in = csrf_token(&client.get(app.url("/me")).send().await.unwrap().text().await.unwrap());
    assert_ne!(signed_in, anonymous, "rotated at login");
    // The pre-login token no longer works for the signed-in session.
    let res = client.post(app.url("/me/keywords")).form(&[("csrf_token", anonymous.as_str()), ("keywords", "휴지")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = client.post(app.url("/logout")).form(&[("csrf_token", signed_in.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let after = csrf_token(&client.get(app.url("/login")).send().await.unwrap().text().await.unwrap());
    assert_ne!(after, signed_in, "rotated at logout");
    assert_ne!(after, anonymous, "a new visitor id after logout");
}

// ------------------------------------------------------------------------- 11: file modes

#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    app.register("mode_user").await;
    let res = app.post_json("/api/v1/auth/password-reset", &json!({"email": "mode_user@example.com"})).await;
    assert!(res.status().is_success(), "{}", res.status());
    app.mail_to("mode_user@example.com").await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = app.data_dir.path();
    assert_eq!(mode(dir), 0o700, "data dir");
    assert_eq!(mode(&app.mail_dir()), 0o700, "mail dir");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap().chain(std::fs::read_dir(app.mail_dir()).unwrap()) {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            checked += 1;
        }
    }
    assert!(dir.join("accounts.db").exists() && checked >= 3, "{checked} files");
}

// ----------------------------------------------------------------- 10: personal pages, caches

#[tokio::test]
async fn personal_pages_are_never_stored() {
    let app = spawn_app().await;
    let client = signed_in_browser(&app, "cache_user").await;
    for path in ["/wallet", "/me", "/wallet/history", "/"] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let cc = res.headers()[header::CACHE_CONTROL].to_str().unwrap().to_owned();
        assert!(cc.contains("no-store"), "{path}: {cc}");
    }
    // Signed out, the public list may be kept for offline use.
    let res = app.get("/").await;
    let cc = res.headers()[header::CACHE_CONTROL].to_str().unwrap().to_owned();
    assert!(!cc.contains("no-store") && cc.contains("private"), "{cc}");
    // The service worker keeps nothing marked no-store.
    let sw = app.get("/sw.js").await.text().await.unwrap();
    assert!(sw.contains("no-store"), "the worker honours no-store");
}

// ----------------------------------------------------- 18 + 36: pages answer pages, with the user

#[tokio::test]
async fn an_ended_session_returns_to_the_forms_page() {
    let app = spawn_app().await;
    let anon = browser();
    anon.get(app.url("/login")).send().await.unwrap();
    let deal = uuid::Uuid::now_v7();
    for (path, page) in [
        ("/me/keywords".to_owned(), "/me%23keywords".to_owned()),
        ("/wallet/charge".into(), "/wallet%23charge".into()),
        ("/wallet/charge/confirm".into(), "/wallet%23charge".into()),
        ("/wallet/transfer/confirm".into(), "/wallet/transfer".into()),
        ("/deals".into(), "/deals/new".into()),
        (format!("/deals/{deal}/edit"), format!("/deals/{deal}/edit")),
        (format!("/deals/{deal}/join"), format!("/deals/{deal}")),
        (format!("/deals/{deal}/leave"), format!("/deals/{deal}")),
        (format!("/deals/{deal}/cancel"), format!("/deals/{deal}")),
        (format!("/deals/{deal}/complete"), format!("/deals/{deal}")),
    ] {
        let res = anon.post(app.url(&path)).form(&[("csrf_token", "x")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&res), format!("/login?next={page}"), "{path}");
    }
}

#[tokio::test]
async fn post_only_page_routes_opened_directly_go_to_their_form() {
    let app = spawn_app().await;
    let client = signed_in_browser(&app, "direct_user").await;
    let deal = uuid::Uuid::now_v7();
    for (path, page) in [
        ("/me/keywords".to_owned(), "/me#keywords".to_owned()),
        ("/wallet/charge".into(), "/wallet#charge".into()),
        ("/wallet/transfer/confirm".into(), "/wallet/transfer".into()),
        ("/deals".into(), "/deals/new".into()),
        (format!("/deals/{deal}/join"), format!("/deals/{deal}")),
        (format!("/deals/{deal}/leave"), format!("/deals/{deal}")),
        (format!("/deals/{deal}/complete"), format!("/deals/{deal}")),
    ] {
        let res = client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&res), page, "{path}");
    }
    // A page route with no GET at all still answers a page, never JSON.
    let res = client.put(app.url("/me/keywords")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(content_type(&res).starts_with("text/html"), "{}", content_type(&res));
}

#[tokio::test]
async fn error_pages_show_the_signed_in_header_and_the_request_id() {
    let app = spawn_app().await;
    let client = signed_in_browser(&app, "hdr_user").await;
    let res = client.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = res.text().await.unwrap();
    assert!(body.contains("hdr_user 님"), "404 shows who is signed in");
    assert!(body.contains(&id), "404 shows the request id");

    let res = client.post(app.url("/me/keywords")).form(&[("csrf_token", "forged"), ("keywords", "x")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("hdr_user 님"), "the CSRF page shows who is signed in");
}
