use reqwest::{multipart, StatusCode};
use serde_json::Value;

use crate::helpers::{error_of, spawn_app, TestApp};

async fn upload(app: &TestApp, token: Option<&str>, files: Vec<(&str, Vec<u8>)>) -> reqwest::Response {
    let mut form = multipart::Form::new();
    for (name, bytes) in files {
        // The client's file name and content type are lies on purpose: the server sniffs bytes.
        form = form.part("file", multipart::Part::bytes(bytes).file_name(name.to_owned()).mime_str("image/png").unwrap());
    }
    let mut req = app.api.post(app.url("/api/v1/media")).multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn uploads_are_stripped_of_gps_and_all_files_are_returned() {
    let app = spawn_app().await;
    let token = app.token_for("photo_user");
    let res = upload(
        &app,
        Some(&token),
        vec![("a.png", gonggu_media::testdata::jpeg_with_gps()), ("b.png", gonggu_media::testdata::jpeg(800, 600))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "every file of a multi-file upload is returned");
    assert_eq!((items[1]["width"].as_u64(), items[1]["height"].as_u64()), (Some(800), Some(600)));
    for item in items {
        let url = item["url"].as_str().unwrap();
        assert!(url.starts_with("/media/") && url.ends_with(".jpg"));
        let res = app.get(url).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert!(res.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        let bytes = res.bytes().await.unwrap();
        assert!(!bytes.windows(4).any(|w| w == b"Exif") && !bytes.windows(15).any(|w| w == b"GPS-LEAK-CAMERA"), "no EXIF or GPS served");
        assert_eq!(app.get(item["thumbnail_url"].as_str().unwrap()).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn upload_refusals() {
    let app = spawn_app().await;
    let token = app.token_for("photo_refuser");
    assert_eq!(upload(&app, None, vec![("a.jpg", gonggu_media::testdata::jpeg(10, 10))]).await.status(), StatusCode::UNAUTHORIZED);
    let (status, err) = error_of(upload(&app, Some(&token), vec![("evil.png", b"<script>alert(1)</script>".to_vec())]).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["file"].is_string());
    // A form without any `file` field.
    let form = multipart::Form::new().text("note", "사진 없음");
    let res = app.api.post(app.url("/api/v1/media")).bearer_auth(&token).multipart(form).send().await.unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["file"].is_string());
    // Not multipart at all.
    let res = app.api.post(app.url("/api/v1/media")).bearer_auth(&token).body("plain").send().await.unwrap();
    assert_eq!(error_of(res).await.0, StatusCode::BAD_REQUEST);
    let six = (0..6).map(|_| ("x.jpg", gonggu_media::testdata::jpeg(8, 8))).collect();
    let (status, _) = error_of(upload(&app, Some(&token), six).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let big = vec![0xFFu8; 5 * 1024 * 1024 + 10];
    let res = upload(&app, Some(&token), vec![("big.jpg", big)]).await;
    assert!(res.status() == StatusCode::UNPROCESSABLE_ENTITY || res.status() == StatusCode::PAYLOAD_TOO_LARGE, "{}", res.status());
    assert_eq!(app.get("/media/../../jwt.key").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/media/{}.jpg", "0".repeat(40))).await.status(), StatusCode::NOT_FOUND);
}
