//! Deal pages with photos: the no-JavaScript create and edit forms are multipart.

use reqwest::{header, multipart, StatusCode};

use crate::helpers::{spawn_app, TestApp, PASSWORD};

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("csrf field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

async fn signed_in_browser(app: &TestApp, login_id: &str) -> (reqwest::Client, String) {
    app.register(login_id).await;
    let client = browser();
    let token = csrf_token(&client.get(app.url("/login")).send().await.unwrap().text().await.unwrap());
    let res = client
        .post(app.url("/login"))
        .form(&[("csrf_token", token.as_str()), ("login_id", login_id), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let token = csrf_token(&client.get(app.url("/deals/new")).send().await.unwrap().text().await.unwrap());
    (client, token)
}

fn deal_form(csrf: &str, title: &str) -> multipart::Form {
    let deadline = (chrono::Utc::now() + chrono::Duration::days(2))
        .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap())
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    multipart::Form::new()
        .text("csrf_token", csrf.to_owned())
        .text("title", title.to_owned())
        .text("category_id", "4")
        .text("total_price", "25990")
        .text("shares_total", "3")
        .text("items_per_share", "10")
        .text("unit", "개")
        .text("deadline", deadline)
}

#[tokio::test]
async fn create_with_a_photo_through_the_page() {
    let app = spawn_app().await;
    let (client, csrf) = signed_in_browser(&app, "page_photo").await;
    let photo = multipart::Part::bytes(gonggu_media::testdata::jpeg_with_gps()).file_name("IMG_0001.jpg");
    let res = client.post(app.url("/deals")).multipart(deal_form(&csrf, "사진 있는 공구").part("photos", photo)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", res.text().await);
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let html = client.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    let src_start = html.find("src=\"/media/").expect("the deal shows its photo") + 5;
    let src = html[src_start..].split('"').next().unwrap();
    let bytes = app.get(src).await.bytes().await.unwrap();
    assert!(!bytes.windows(4).any(|w| w == b"Exif"), "stored without EXIF");
}

#[tokio::test]
async fn a_failed_form_keeps_its_photos_and_bad_files_are_named() {
    let app = spawn_app().await;
    let (client, csrf) = signed_in_browser(&app, "page_keep").await;
    let photo = multipart::Part::bytes(gonggu_media::testdata::jpeg(320, 240)).file_name("a.jpg");
    // A title that is too short: the photo is stored and kept in a hidden field.
    let res = client.post(app.url("/deals")).multipart(deal_form(&csrf, "휴").part("photos", photo)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    let marker = "name=\"image_keys\" value=\"";
    let kept = html[html.find(marker).unwrap() + marker.len()..].split('"').next().unwrap().to_owned();
    assert!(kept.ends_with(".jpg"), "kept: {kept}");
    let res =
        client.post(app.url("/deals")).multipart(deal_form(&csrf, "사진 유지 공구").text("image_keys", kept.clone())).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = app.get("/api/v1/deals?q=%EC%82%AC%EC%A7%84").await.json::<serde_json::Value>().await.unwrap();
    assert_eq!(page["items"][0]["images"][0]["key"], kept.as_str());

    let res = client
        .post(app.url("/deals"))
        .multipart(deal_form(&csrf, "가짜 사진 공구").part("photos", multipart::Part::bytes(b"not an image".to_vec()).file_name("x.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("JPEG, PNG, WebP, GIF 사진만 올릴 수 있습니다."));
    // Without the CSRF token a multipart form is refused like any other.
    let res = client.post(app.url("/deals")).multipart(deal_form("", "토큰 없는 공구")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
