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

fn has_hangul(s: &str) -> bool {
    s.chars().any(|c| ('가'..='힣').contains(&c))
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_quickly() {
    let app = spawn_app().await;
    let token = app.token_for("bomb_maker");
    let bomb = gonggu_media::testdata::png_bomb();
    let started = std::time::Instant::now();
    let (status, err) = error_of(upload(&app, Some(&token), vec![("bomb.png", bomb)]).await).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(has_hangul(err["details"]["fields"]["file"].as_str().unwrap()), "{err}");
    assert!(took < std::time::Duration::from_secs(1), "refused without decoding 40 megapixels: {took:?}");
}

#[tokio::test]
async fn exif_orientation_is_applied_to_uploads() {
    let app = spawn_app().await;
    let token = app.token_for("upright_photos");
    let res = upload(&app, Some(&token), vec![("IMG_0002.jpg", gonggu_media::testdata::jpeg_with_orientation(40, 20, 6))]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let item = &body["items"][0];
    assert_eq!((item["width"].as_u64(), item["height"].as_u64()), (Some(20), Some(40)), "turned upright: {item}");
}

/// Starts an upload whose body is only partly sent, so it stays under way until `finish` is called.
async fn hanging_upload(app: &TestApp, token: &str) -> (tokio::net::TcpStream, Vec<u8>) {
    use tokio::io::AsyncWriteExt;
    let file = gonggu_media::testdata::jpeg(64, 48);
    let mut body =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
    body.extend(&file);
    body.extend(b"\r\n--XyZ--\r\n");
    let head = format!(
        "POST /api/v1/media HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let half = body.len() / 2;
    stream.write_all(&body[..half]).await.unwrap();
    stream.flush().await.unwrap();
    (stream, body[half..].to_vec())
}

#[tokio::test]
async fn one_upload_at_a_time_per_user() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let token = app.token_for("eager_uploader");
    let (mut first, rest) = hanging_upload(&app, &token).await;
    // The first upload holds the user's place once the server has read its head; give it a moment
    // (a second upload that came first would take the place itself), then poll.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut refused = None;
    for _ in 0..100 {
        let res = upload(&app, Some(&token), vec![("b.jpg", gonggu_media::testdata::jpeg(8, 8))]).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status(), StatusCode::CREATED, "before the first upload is seen, the second goes through");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let refused = refused.expect("a second concurrent upload of one user is refused");
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let (_, err) = error_of(refused).await;
    assert_eq!(err["code"], "upload_in_progress");
    assert!(has_hangul(err["message"].as_str().unwrap()));
    // Someone else is not held up meanwhile.
    let other = app.token_for("patient_neighbour");
    assert_eq!(upload(&app, Some(&other), vec![("c.jpg", gonggu_media::testdata::jpeg(8, 8))]).await.status(), StatusCode::CREATED);
    // The first upload finishes normally, and then the user may upload again.
    first.write_all(&rest).await.unwrap();
    let mut answer = String::new();
    first.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(upload(&app, Some(&token), vec![("d.jpg", gonggu_media::testdata::jpeg(8, 8))]).await.status(), StatusCode::CREATED);
}
