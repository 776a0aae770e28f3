//! Deal pages with photos: the no-JavaScript create and edit forms are multipart.

use reqwest::{header, multipart, StatusCode};

use crate::helpers::{browser, csrf_token, spawn_app, spawn_app_with, TestApp};

async fn signed_in_browser(app: &TestApp, login_id: &str) -> (reqwest::Client, String) {
    app.register(login_id).await;
    let client = browser();
    let token = app.form_login(&client, login_id).await;
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

#[tokio::test]
async fn the_edit_form_changes_and_removes_the_meeting_place() {
    let app = spawn_app().await;
    let (client, csrf) = signed_in_browser(&app, "page_place").await;
    let form = deal_form(&csrf, "장소 있는 공구").text("name", "역삼역 2번 출구").text("lat", "37.5006").text("lon", "127.0364");
    let res = client.post(app.url("/deals")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let id = location.trim_start_matches("/deals/").split('?').next().unwrap().to_owned();
    let place =
        || async { app.get(&format!("/api/v1/deals/{id}")).await.json::<serde_json::Value>().await.unwrap()["meeting_place"].clone() };
    assert_eq!(place().await["name"], "역삼역 2번 출구");

    let edit = client.get(app.url(&format!("/deals/{id}/edit"))).send().await.unwrap().text().await.unwrap();
    assert!(edit.contains("value=\"역삼역 2번 출구\""), "the form shows the current place");
    let res = client
        .post(app.url(&format!("/deals/{id}/edit")))
        .multipart(deal_form(&csrf, "장소 있는 공구").text("name", "선릉역 1번 출구").text("lat", "37.5045").text("lon", "127.0490"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", res.text().await);
    assert_eq!(place().await["name"], "선릉역 1번 출구");

    // Emptying the three fields removes the place.
    let res = client.post(app.url(&format!("/deals/{id}/edit"))).multipart(deal_form(&csrf, "장소 있는 공구")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", res.text().await);
    assert!(place().await.is_null());
}

#[tokio::test]
async fn the_home_page_filters_by_price_and_sorts_by_distance() {
    let app = spawn_app().await;
    let host = app.token_for("home_host");
    // (title, total price, meeting place)
    let deals = [
        ("홍대 생수 공구", 9_000, (37.5572, 126.9245)),
        ("강남 휴지 공구", 30_000, (37.4979, 127.0276)),
        ("역삼 쌀 공구", 120_000, (37.5007, 127.0365)),
    ];
    for (title, price, (lat, lon)) in deals {
        let body = serde_json::json!({
            "title": title, "category_id": 4, "total_price": price, "shares_total": 3, "items_per_share": 1, "unit": "개",
            "deadline": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
            "meeting_place": {"name": title, "lat": lat, "lon": lon},
        });
        assert_eq!(app.post_json_as("/api/v1/deals", &host, &body).await.status(), StatusCode::CREATED);
    }
    let order = |html: &str| {
        let mut found: Vec<(usize, &str)> = deals.iter().filter_map(|(t, _, _)| html.find(t).map(|i| (i, *t))).collect();
        found.sort();
        found.into_iter().map(|(_, t)| t.to_owned()).collect::<Vec<_>>()
    };

    let res = app.get("/?min_price=10%2C000&max_price=100000").await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert_eq!(order(&html), ["강남 휴지 공구"], "only the deal between 10,000 and 100,000 won");
    assert!(html.contains("name=\"min_price\"") && html.contains("value=\"10000\""), "the form keeps the bound");

    let res = app.get("/?min_price=abc").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(html.contains("총액 최솟값은 0원에서 10,000,000원 사이의 숫자로 입력해 주세요."), "a named reason");
    assert_eq!(order(&html).len(), 3, "and the default list");
    let res = app.get("/?min_price=50000&max_price=1000").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("총액 최댓값은 최솟값 이상이어야 합니다."));

    // 가까운 순: needs a neighbourhood; an anonymous visitor is told how to get one.
    let res = app.get("/?sort=nearest").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("가까운 순은 로그인한 뒤 내 정보에서 우리 동네를 설정하면 볼 수 있어요."));
    let (client, csrf) = signed_in_browser(&app, "home_near").await;
    let res = client.get(app.url("/?sort=nearest")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("가까운 순으로 보려면 내 정보에서 우리 동네를 설정해 주세요."));
    // Living in 신촌, 홍대 is nearest.
    let res = client
        .post(app.url("/me/neighborhood"))
        .form(&[("csrf_token", csrf.as_str()), ("name", "신촌동"), ("lat", "37.5551"), ("lon", "126.9368")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{:?}", res.text().await);
    let mut seen = vec![];
    for _ in 0..100 {
        let res = client.get(app.url("/?sort=nearest&reach=all")).send().await.unwrap();
        if res.status() == StatusCode::OK {
            let html = res.text().await.unwrap();
            if !html.contains("1.1km") {
                // The neighbourhood has not reached deals yet.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
            assert!(html.contains("1.1km") && html.contains("10.2km"), "the cards say how far: {html}");
            seen = order(&html);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // 우리 동네 first: the feed is what meets within the reach (5 km unless chosen), and says so.
    let html = client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("5km 이내"), "{html}");
    assert_eq!(order(&html), ["홍대 생수 공구"], "강남 and 역삼 are 10 km away");
    assert_eq!(seen, ["홍대 생수 공구", "강남 휴지 공구", "역삼 쌀 공구"]);
}

#[tokio::test]
async fn the_deal_page_buttons_leave_and_complete() {
    let app = spawn_app().await;
    let (host, host_csrf) = signed_in_browser(&app, "button_host").await;
    let res = host.post(app.url("/deals")).multipart(deal_form(&host_csrf, "버튼 공구").text("shares_total", "2")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let deal = res.headers()[header::LOCATION].to_str().unwrap().split('?').next().unwrap().to_owned();
    let (member, csrf) = signed_in_browser(&app, "button_member").await;
    let press = |client: &reqwest::Client, csrf: &str, action: &str| {
        client.post(app.url(&format!("{deal}/{action}"))).form(&[("csrf_token", csrf), ("shares", "1")]).send()
    };
    let status = || async {
        let id = deal.trim_start_matches("/deals/");
        app.get(&format!("/api/v1/deals/{id}")).await.json::<serde_json::Value>().await.unwrap()["status"].as_str().unwrap().to_owned()
    };

    let res = press(&member, &csrf, "join").await.unwrap();
    assert_eq!(res.headers()[header::LOCATION].to_str().unwrap(), format!("{deal}?msg=joined"));
    assert_eq!(status().await, "confirmed", "2 of 2 shares: the tipping point");
    // Confirmed: leaving is refused on the deal page, with the reason.
    let res = press(&member, &csrf, "leave").await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("확정"), "the page says why");
    // Only the host completes.
    let res = press(&member, &csrf, "complete").await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = press(&host, &host_csrf, "complete").await.unwrap();
    assert_eq!(res.headers()[header::LOCATION].to_str().unwrap(), format!("{deal}?msg=completed"));
    assert_eq!(status().await, "completed");
    let page = host.get(app.url(&format!("{deal}?msg=completed"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("거래 완료로 표시했습니다."));
    // Without the form's CSRF token nothing happens.
    let res = member.post(app.url(&format!("{deal}/leave"))).form(&[("shares", "1")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn leaving_through_the_page_while_recruiting() {
    let app = spawn_app().await;
    let (host, host_csrf) = signed_in_browser(&app, "leave_host").await;
    let res = host.post(app.url("/deals")).multipart(deal_form(&host_csrf, "나가기 공구")).send().await.unwrap();
    let deal = res.headers()[header::LOCATION].to_str().unwrap().split('?').next().unwrap().to_owned();
    let (member, csrf) = signed_in_browser(&app, "leave_member").await;
    let res = member.post(app.url(&format!("{deal}/join"))).form(&[("csrf_token", csrf.as_str()), ("shares", "1")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = member.post(app.url(&format!("{deal}/leave"))).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    assert_eq!(res.headers()[header::LOCATION].to_str().unwrap(), format!("{deal}?msg=left"));
    let id = deal.trim_start_matches("/deals/");
    let d: serde_json::Value = app.get(&format!("/api/v1/deals/{id}")).await.json().await.unwrap();
    assert_eq!(d["shares_taken"], 1, "only the host's share is left");
    // The host cannot leave their own deal.
    let res = host.post(app.url(&format!("{deal}/leave"))).form(&[("csrf_token", host_csrf.as_str())]).send().await.unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
}

fn deal_id(location: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(location.trim_start_matches("/deals/").split('?').next().unwrap()).unwrap()
}

#[tokio::test]
async fn the_deal_page_shows_every_photo_and_lists_show_the_thumbnail() {
    let app = spawn_app().await;
    let (client, csrf) = signed_in_browser(&app, "page_photos").await;
    let mut form = deal_form(&csrf, "사진 세 장 공구");
    // Different sizes, different bytes: three stored photos (keys are content addresses).
    for w in [320, 330, 340] {
        form = form.part("photos", multipart::Part::bytes(gonggu_media::testdata::jpeg(w, 240)).file_name(format!("{w}.jpg")));
    }
    let res = client.post(app.url("/deals")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", res.text().await);
    let id = deal_id(res.headers()[header::LOCATION].to_str().unwrap());
    let images = app.deals.get(id).await.unwrap().images;
    assert_eq!(images.len(), 3);
    let html = client.get(app.url(&format!("/deals/{id}"))).send().await.unwrap().text().await.unwrap();
    for (i, img) in images.iter().enumerate() {
        assert!(html.contains(&format!("src=\"{}\"", img.url)), "photo {} of 3 is on the deal page", i + 1);
    }
    let home = app.get("/").await.text().await.unwrap();
    assert!(home.contains(&format!("src=\"{}\"", images[0].thumbnail_url)), "the list shows the cover's thumbnail");
    assert!(!home.contains(&format!("src=\"{}\"", images[0].url)), "not the full-size photo");
}

#[tokio::test]
async fn an_unknown_seller_is_a_404_and_a_quiet_user_an_empty_page() {
    unknown_and_quiet_sellers(spawn_app().await).await;
}

#[tokio::test]
async fn an_unknown_seller_is_a_404_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("an_unknown_seller_is_a_404_on_postgres").await else { return };
    unknown_and_quiet_sellers(spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await).await;
}

async fn unknown_and_quiet_sellers(app: TestApp) {
    let res = app.get("/users/nobody").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("사용자를 찾을 수 없습니다") && !html.contains("아직 연 공구가 없어요"), "{html}");
    // A real user without deals: deals hears of the sign-up from accounts' event.
    app.register("quiet_user").await;
    let mut status = StatusCode::NOT_FOUND;
    for _ in 0..100 {
        let res = app.get("/users/quiet_user").await;
        status = res.status();
        if status == StatusCode::OK {
            assert!(res.text().await.unwrap().contains("아직 연 공구가 없어요"), "the empty state");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, StatusCode::OK, "a registered user's page");
}

#[tokio::test]
async fn group_buy_categories_and_units_and_a_full_deal_reads_closed() {
    group_buy_catalog(spawn_app().await).await;
}

#[tokio::test]
async fn group_buy_categories_and_units_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("group_buy_categories_and_units_on_postgres").await else { return };
    group_buy_catalog(spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await).await;
}

async fn group_buy_catalog(app: TestApp) {
    let (host, csrf) = signed_in_browser(&app, "egg_host").await;
    let form_page = host.get(app.url("/deals/new")).send().await.unwrap().text().await.unwrap();
    // The original's 18 categories and 12 units stay; group-buy ones join them.
    for name in ["디지털기기", "가공식품", "기타 물품", "과일·채소", "정육·계란", "수산·건어물", "생활용품"]
    {
        assert!(form_page.contains(&format!(">{name}</option>")), "category {name}");
    }
    for unit in ["개", "팩", "kg", "롤", "L", "ml", "구", "봉"] {
        assert!(form_page.contains(&format!("<option value=\"{unit}\"")), "unit {unit}");
    }
    let cats: serde_json::Value = app.get("/api/v1/categories").await.json().await.unwrap();
    let names: Vec<&str> = cats["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names[..2], ["디지털기기", "생활가전"], "the original ids keep their names");
    let egg_id = cats["items"].as_array().unwrap().iter().find(|c| c["name"] == "정육·계란").expect("정육·계란")["id"].to_string();

    // 계란 30구, in two shares: stored on this engine (the categories and units tables agree).
    let form = deal_form(&csrf, "신선 계란 30구 나눠요").text("category_id", egg_id).text("unit", "구").text("shares_total", "2");
    let res = host.post(app.url("/deals")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", res.text().await);
    let id = deal_id(res.headers()[header::LOCATION].to_str().unwrap());
    let deal = app.deals.get(id).await.unwrap();
    assert_eq!((deal.category.name.as_str(), deal.unit.as_str()), ("정육·계란", "구"));

    // The last share taken: the list says it is full, not recruiting.
    let (member, member_csrf) = signed_in_browser(&app, "egg_member").await;
    let res = member
        .post(app.url(&format!("/deals/{id}/join")))
        .form(&[("csrf_token", member_csrf.as_str()), ("shares", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let home = app.get("/").await.text().await.unwrap();
    let card = &home[home.find(&format!("href=\"/deals/{id}\"")).expect("the card")..];
    let card = &card[..card.find("</li>").unwrap()];
    assert!(card.contains("badge-full") && card.contains(">마감<"), "a full deal is marked 마감: {card}");
    assert!(card.contains("2/2 몫"), "{card}");
    let detail = member.get(app.url(&format!("/deals/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("모든 몫이 찼어요"), "the deal page says why no one can join");
}

/// The value of the hidden field `name` in a page's form.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_same_form_sent_twice_does_its_work_once() {
    let app = spawn_app().await;
    let (host, _) = signed_in_browser(&app, "twice_host").await;
    let page = host.get(app.url("/deals/new")).send().await.unwrap().text().await.unwrap();
    let (csrf, once) = (csrf_token(&page), hidden(&page, "once"));
    // Created, then back and the button pressed again: the same deal, not a second one.
    let send = || host.post(app.url("/deals")).multipart(deal_form(&csrf, "두 번 누른 공구").text("once", once.clone())).send();
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = send().await.unwrap();
    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    assert_eq!(second.headers()[header::LOCATION], first.headers()[header::LOCATION], "led to the deal already created");
    let found =
        app.deals.list(gonggu_deals::service::ListParams { q: Some("두 번 누른".into()), ..Default::default() }, None, None).await.unwrap();
    assert_eq!(found.items.len(), 1, "one deal");
    let id = deal_id(first.headers()[header::LOCATION].to_str().unwrap());
    // A new form is a new token: a second deal on purpose is still possible.
    let page = host.get(app.url("/deals/new")).send().await.unwrap().text().await.unwrap();
    assert_ne!(hidden(&page, "once"), once);

    // Joining and cancelling: the second press leads where the first did.
    let (member, _) = signed_in_browser(&app, "twice_member").await;
    let page = member.get(app.url(&format!("/deals/{id}"))).send().await.unwrap().text().await.unwrap();
    let join_once = hidden(&page[page.find("/join\"").expect("join form")..], "once");
    let join = || {
        member
            .post(app.url(&format!("/deals/{id}/join")))
            .form(&[("csrf_token", csrf_token(&page).as_str()), ("shares", "1"), ("once", join_once.as_str())])
            .send()
    };
    let first = join().await.unwrap();
    assert_eq!(first.headers()[header::LOCATION].to_str().unwrap(), format!("/deals/{id}?msg=joined"));
    let second = join().await.unwrap();
    assert_eq!(second.headers()[header::LOCATION].to_str().unwrap(), format!("/deals/{id}?msg=joined"), "not 내 몫을 바꿨습니다");
    let page = host.get(app.url(&format!("/deals/{id}"))).send().await.unwrap().text().await.unwrap();
    let cancel_once = hidden(&page[page.find("/cancel\"").expect("cancel form")..], "once");
    let cancel = || {
        host.post(app.url(&format!("/deals/{id}/cancel")))
            .form(&[("csrf_token", csrf_token(&page).as_str()), ("once", cancel_once.as_str())])
            .send()
    };
    assert_eq!(cancel().await.unwrap().status(), StatusCode::SEE_OTHER);
    let again = cancel().await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER, "not 409 already cancelled");
    assert_eq!(again.headers()[header::LOCATION].to_str().unwrap(), format!("/deals/{id}?msg=cancelled"));
}

/// The repeat of a form may land on another instance, or on this one after a restart: it still
/// leads to the deal the first submit created (the claims were in this process's memory before).
#[tokio::test]
async fn a_form_sent_again_to_another_instance_does_its_work_once() {
    let data = tempfile::tempdir().unwrap();
    let same_data = |s: &mut gonggu::Settings| s.data_dir = data.path().to_path_buf();
    let first_instance = crate::helpers::spawn_app_with(same_data).await;
    let second_instance = crate::helpers::spawn_app_with(same_data).await;
    let (host, _) = signed_in_browser(&first_instance, "instances_host").await;
    let page = host.get(first_instance.url("/deals/new")).send().await.unwrap().text().await.unwrap();
    let (csrf, once) = (csrf_token(&page), hidden(&page, "once"));
    let send =
        |app: &TestApp| host.post(app.url("/deals")).multipart(deal_form(&csrf, "두 곳에 보낸 공구").text("once", once.clone())).send();
    let first = send(&first_instance).await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = send(&second_instance).await.unwrap();
    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    assert_eq!(second.headers()[header::LOCATION], first.headers()[header::LOCATION], "led to the deal already created");
    let found = second_instance
        .deals
        .list(gonggu_deals::service::ListParams { q: Some("두 곳에 보낸".into()), ..Default::default() }, None, None)
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1, "one deal");
}

/// Notices exist now (issue 11): every signed-in page leads to them from the top bar, and the
/// deal pages keep their confirmations.
#[tokio::test]
async fn every_signed_in_page_leads_to_the_notices() {
    let app = spawn_app().await;
    let (host, csrf) = signed_in_browser(&app, "promise_host").await;
    let form = host.get(app.url("/deals/new")).send().await.unwrap().text().await.unwrap();
    assert!(form.contains(r#"href="/notifications" aria-label="알림""#), "the 🔔 in the top bar");
    let res = host.post(app.url("/deals")).multipart(deal_form(&csrf, "약속 있는 공구")).send().await.unwrap();
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let detail = host.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("data-confirm=\"공구를 취소할까요?"), "the confirmation is still asked");
    let page = host.get(app.url("/notifications")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("아직 알림이 없어요"));
    let anonymous = app.api.get(app.url("/notifications")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "signed-in only");
}

/// 우리동네 first (issue 12): a visitor picks a 동 and sees what meets near it; a wider reach
/// shows more; a member's feed is their neighbourhood's, and the reach they tap is kept.
#[tokio::test]
async fn the_home_feed_is_the_neighbourhoods_within_its_reach() {
    the_home_feed_story(spawn_app().await).await;
}

#[tokio::test]
async fn the_home_feed_is_the_neighbourhoods_within_its_reach_on_postgres() {
    let Some(url) = gonggu_kernel::testkit::fresh_postgres("the_home_feed_is_the_neighbourhoods_within_its_reach_on_postgres").await else {
        return;
    };
    the_home_feed_story(spawn_app_with(|s| s.database.url = Some(gonggu::settings::Secret::new(url))).await).await;
}

async fn the_home_feed_story(app: TestApp) {
    let host = app.token_for("feed_host");
    let centre: serde_json::Value = app.get("/api/v1/places?q=%EB%A7%9D%EC%9B%90%EB%8F%99").await.json().await.unwrap(); // 망원동
    let (lat0, lon0) = (centre["items"][0]["lat"].as_f64().unwrap(), centre["items"][0]["lon"].as_f64().unwrap());
    // South of 망원동's centre by about 0.6 km, 3.3 km and 15 km (0.009° of latitude is 1 km).
    let deals = [("합정 세제 공구", 0.0054), ("신촌 휴지 공구", 0.03), ("강남 생수 공구", 0.135)];
    for (title, dlat) in deals {
        let (lat, lon) = (lat0 - dlat, lon0);
        let body = serde_json::json!({
            "title": title, "category_id": 4, "total_price": 9_000, "shares_total": 3, "items_per_share": 1, "unit": "개",
            "deadline": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
            "meeting_place": {"name": title, "lat": lat, "lon": lon},
        });
        assert_eq!(app.post_json_as("/api/v1/deals", &host, &body).await.status(), StatusCode::CREATED);
    }
    let titles = |html: &str| {
        let mut found: Vec<(usize, &str)> = deals.iter().filter_map(|(t, _)| html.find(t).map(|i| (i, *t))).collect();
        // Titles appear in the cards only (the page names no deal elsewhere).
        found.sort();
        found.into_iter().map(|(_, t)| t).collect::<Vec<_>>()
    };
    // A visitor sees the whole country and is asked to choose.
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("우리 동네를 골라 보세요") && titles(&html).len() == 3, "{html}");
    // Typed without script: the 동 goes into the address.
    let res = app.get("/?place=%EB%A7%88%ED%8F%AC%EA%B5%AC+%EB%A7%9D%EC%9B%90%EB%8F%99").await; // 마포구 망원동
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/?code=11440123");
    let html = app.get("/?code=11440123").await.text().await.unwrap();
    assert!(html.contains("망원동") && html.contains("5km 이내"), "{html}");
    assert_eq!(titles(&html), ["신촌 휴지 공구", "합정 세제 공구"], "newest first, 5 km");
    assert!(
        html.contains(r#"href="/?code=11440123&amp;sort=deadline""#) && html.contains(r#"href="/?code=11440123&amp;sort=nearest""#),
        "마감 임박 and 가까운 순 one tap away: {html}"
    );
    let listed: serde_json::Value = app.get("/api/v1/deals?q=%ED%95%A9%EC%A0%95").await.json().await.unwrap(); // 합정
    let dong = listed["items"][0]["meeting_place"]["dong"].as_str().expect("the API names the 동").to_owned();
    assert!(html.contains(&format!("{dong} · 6")), "the card names the 동 and how far (about 600 m): {dong} in {html}");
    let html = app.get("/?code=11440123&reach=1").await.text().await.unwrap();
    assert_eq!(titles(&html), ["합정 세제 공구"]);
    let html = app.get("/?code=11440123&reach=all").await.text().await.unwrap();
    assert_eq!(titles(&html).len(), 3);
    let html = app.get("/?code=11440123&reach=all&sort=nearest").await.text().await.unwrap();
    assert_eq!(titles(&html), ["합정 세제 공구", "신촌 휴지 공구", "강남 생수 공구"], "가까운 순 from the chosen 동");
    let res = app.get("/?code=11440123&reach=7").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app.get("/?lat=36.0&lon=125.0").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("대한민국 안의 위치가 아닙니다."));

    // A member's feed is their neighbourhood's; a reach chip saves the reach.
    let (client, csrf) = signed_in_browser(&app, "feed_member").await;
    let res = client
        .post(app.url("/me/neighborhood"))
        .form(&[("csrf_token", csrf.as_str()), ("place", "서울특별시 마포구 망원동"), ("code", "11440123")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    let mut html = String::new();
    for _ in 0..200 {
        html = client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
        if html.contains("5km 이내") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(titles(&html), ["신촌 휴지 공구", "합정 세제 공구"], "{html}");
    let res = client
        .post(app.url("/me/neighborhood/reach"))
        .form(&[("csrf_token", csrf.as_str()), ("km", "10"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!((res.status(), res.headers()["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/"));
    for _ in 0..200 {
        html = client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
        if html.contains("10km 이내") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(html.contains("10km 이내"), "{html}");
    assert_eq!(titles(&html), ["신촌 휴지 공구", "합정 세제 공구"], "the third is 15 km away");

    // A second neighbourhood: "망원동 ▾" on the feed switches to it in one tap.
    let res = client
        .post(app.url("/me/neighborhood/second"))
        .form(&[("csrf_token", csrf.as_str()), ("place", "서울특별시 강남구 역삼동"), ("code", "11680101")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{:?}", res.text().await);
    for _ in 0..200 {
        html = client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
        if html.contains("역삼동으로 바꾸기") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(html.contains("역삼동으로 바꾸기"), "{html}");
    let res = client.post(app.url("/me/neighborhood/switch")).form(&[("csrf_token", csrf.as_str()), ("next", "/")]).send().await.unwrap();
    assert_eq!((res.status(), res.headers()["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/"));
    for _ in 0..200 {
        html = client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
        if html.contains("망원동으로 바꾸기") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(html.contains("망원동으로 바꾸기") && html.contains("10km 이내"), "now around 역삼동, the reach kept: {html}");
    assert!(titles(&html).is_empty(), "all three are more than 10 km from 역삼동: {html}");
    assert!(html.contains("역삼동 가까이에 열린 공구가 없어요"), "the empty feed says where it looked: {html}");
}

/// A seller's page says where they live and since when they are a member (issue 12).
#[tokio::test]
async fn a_seller_page_names_the_sellers_dong_and_since_when() {
    let app = spawn_app().await;
    let pair = app.signed_in("dong_seller").await;
    let seller = pair["access_token"].as_str().unwrap();
    let res = app.put_json_as("/api/v1/me/neighborhood", seller, &serde_json::json!({"code": "11440123"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let since = {
        use chrono::Datelike;
        let k = app.clock.now().with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap());
        format!("{}년 {}월부터 이웃", k.year(), k.month())
    };
    let mut html = String::new();
    for _ in 0..200 {
        html = app.get("/users/dong_seller").await.text().await.unwrap();
        if html.contains("망원동") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(html.contains("📍 망원동") && html.contains(&since), "{html}");
}
