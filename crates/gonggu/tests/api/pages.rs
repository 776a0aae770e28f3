//! Pages with cookie sessions: CSRF protection, login through forms, transparent refresh.

use reqwest::{header, StatusCode};

use crate::helpers::{browser, csrf_token, spawn_app, TestApp, PASSWORD};

async fn form_login(app: &TestApp, client: &reqwest::Client, login_id: &str) {
    let html = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let token = csrf_token(&html);
    let res = client
        .post(app.url("/login"))
        .form(&[("csrf_token", token.as_str()), ("login_id", login_id), ("password", PASSWORD), ("next", "/me")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", res.text().await);
    assert_eq!(res.headers()[header::LOCATION], "/me");
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn register_and_login_through_forms() {
    let app = spawn_app().await;
    let client = browser();
    let html = client.get(app.url("/register")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("data-check-url=\"/api/v1/auth/login-id-available\""));
    let token = csrf_token(&html);
    let base = [("csrf_token", token.as_str()), ("login_id", "form_user"), ("email", "form@example.com"), ("password", PASSWORD)];

    // A mismatched confirmation re-renders with the message and keeps the typed values.
    let mut form = base.to_vec();
    form.push(("password_confirm", "something-else"));
    let res = client.post(app.url("/register")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("비밀번호가 일치하지 않습니다.") && body.contains("value=\"form_user\""));

    let mut form = base.to_vec();
    form.push(("password_confirm", PASSWORD));
    let res = client.post(app.url("/register")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/", "signed in and home after sign-up");

    // Server-side rule messages appear next to the field (a new visitor: the one above is signed in now).
    let client = browser();
    let html = client.get(app.url("/register")).send().await.unwrap().text().await.unwrap();
    let token = csrf_token(&html);
    let mut form = vec![
        ("csrf_token", token.as_str()),
        ("login_id", "form_user"),
        ("email", "x@example.com"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let res = client.post(app.url("/register")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("이미 사용 중인 아이디입니다."));
    form[1] = ("login_id", "ok_id");
    form[3] = ("password", "password1");
    form[4] = ("password_confirm", "password1");
    let body = client.post(app.url("/register")).form(&form).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("너무 흔한 비밀번호"), "common password rejected on the page");

    form_login(&app, &client, "form_user").await;
    let res = client.get(app.url("/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cc = res.headers()[header::CACHE_CONTROL].to_str().unwrap().to_owned();
    assert!(cc.contains("no-store"), "a signed-in page is never stored: {cc}");
    let body = res.text().await.unwrap();
    assert!(body.contains("form@example.com") && body.contains("현재 기기"));
}

#[tokio::test]
async fn wrong_password_on_the_login_page() {
    let app = spawn_app().await;
    app.register("page_user").await;
    let client = browser();
    let token = csrf_token(&client.get(app.url("/login")).send().await.unwrap().text().await.unwrap());
    let res = client
        .post(app.url("/login"))
        .form(&[("csrf_token", token.as_str()), ("login_id", "page_user"), ("password", "nope-nope-nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("아이디 또는 비밀번호가 올바르지 않습니다."));
}

#[tokio::test]
async fn forms_without_a_matching_csrf_token_are_rejected() {
    let app = spawn_app().await;
    app.register("csrf_user").await;
    let client = browser();
    client.get(app.url("/login")).send().await.unwrap();
    // No token at all.
    let res =
        client.post(app.url("/login")).form(&[("csrf_token", ""), ("login_id", "csrf_user"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A made-up token.
    let res = client
        .post(app.url("/login"))
        .form(&[("csrf_token", "A".repeat(43).as_str()), ("login_id", "csrf_user"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Missing field entirely.
    let res = client.post(app.url("/login")).form(&[("login_id", "csrf_user"), ("password", PASSWORD)]).send().await.unwrap();
    assert!(res.status().is_client_error());
    assert!(set_cookies(&res).iter().all(|c| !c.starts_with("gonggu_access")), "no session from a rejected form");
}

#[tokio::test]
async fn cross_site_form_posts_are_rejected_even_with_the_token() {
    let app = spawn_app().await;
    app.register("xs_user").await;
    let client = browser();
    form_login(&app, &client, "xs_user").await;
    let html = client.get(app.url("/me")).send().await.unwrap().text().await.unwrap();
    let token = csrf_token(&html);
    let res = client
        .post(app.url("/me/keywords"))
        .header("origin", "https://evil.example")
        .form(&[("csrf_token", token.as_str()), ("keywords", "해킹")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = client
        .post(app.url("/me/keywords"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf_token", token.as_str()), ("keywords", "해킹")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Same origin with the token works.
    let res = client
        .post(app.url("/me/keywords"))
        .header("origin", app.address.as_str())
        .form(&[("csrf_token", token.as_str()), ("keywords", "휴지, 생수")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let body = client.get(app.url("/me")).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("<li class=\"chip\">휴지</li>") && !body.contains("해킹"));
}

#[tokio::test]
async fn signed_out_profile_redirects_to_login() {
    let app = spawn_app().await;
    let res = app.get("/me").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/login?next=/me");
}

#[tokio::test]
async fn an_expired_access_cookie_is_renewed_from_the_refresh_cookie() {
    let app = spawn_app().await;
    app.register("cookie_user").await;
    let client = browser();
    form_login(&app, &client, "cookie_user").await;
    // Take the refresh cookie alone, as a browser has it once the 15-minute access cookie expired.
    let pair: serde_json::Value = app.login("cookie_user", PASSWORD).await.json().await.unwrap();
    let refresh = pair["refresh_token"].as_str().unwrap();
    let res = app.api.get(app.url("/me")).header(header::COOKIE, format!("gonggu_refresh={refresh}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "served without a login redirect");
    let cookies = set_cookies(&res);
    assert!(cookies.iter().any(|c| c.starts_with("gonggu_access=") && c.contains("HttpOnly") && c.contains("SameSite=Lax")), "{cookies:?}");
    let new_refresh = cookies.iter().find(|c| c.starts_with("gonggu_refresh=")).expect("rotated refresh cookie");
    assert!(!new_refresh.contains(refresh), "the refresh cookie was rotated");
    // The old refresh token is used up; presenting it again is reuse and ends the session.
    let res = app.api.get(app.url("/me")).header(header::COOKIE, format!("gonggu_refresh={refresh}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn neighbourhood_by_typed_name_and_by_location_with_its_verification_expiring() {
    let app = spawn_app().await;
    app.register("dong_page").await;
    let client = browser();
    form_login(&app, &client, "dong_page").await;
    let token = csrf_token(&client.get(app.url("/me")).send().await.unwrap().text().await.unwrap());
    let post = |fields: Vec<(&'static str, String)>| {
        let (client, app, token) = (&client, &app, token.clone());
        async move {
            let mut form: Vec<(&str, String)> = vec![("csrf_token", token)];
            form.extend(fields);
            client.post(app.url("/me/neighborhood")).form(&form).send().await.unwrap()
        }
    };
    let profile = || async { client.get(app.url("/me")).send().await.unwrap().text().await.unwrap() };
    // No script: the typed text must name one 동.
    let res = post(vec![("place", "중앙동".into())]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("같은 이름의 동네가 여럿이에요. 목록에서 골라 주세요."));
    let res = post(vec![("place", "서울특별시 마포구 망원동".into())]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = profile().await;
    assert!(html.contains("망원동") && html.contains("미인증"), "{html}");
    assert!(html.contains(r#"name="code" value="11440123""#), "the picker holds the 동: {html}");
    // "현재 위치로 찾기": the location and the verify flag the picker fills in.
    let res = post(vec![
        ("place", "서울특별시 강남구 역삼동".into()),
        ("code", "11680101".into()),
        ("lat", "37.5006".into()),
        ("lon", "127.0364".into()),
        ("verify", "1".into()),
    ])
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = profile().await;
    assert!(html.contains("역삼동") && html.contains("인증됨"), "{html}");
    // A second 동 that cannot be found: said under the second picker, which stays open.
    let res = client
        .post(app.url("/me/neighborhood/second"))
        .form(&[("csrf_token", token.as_str()), ("place", "없는동네이름")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    let second = &html[html.find("second-hood").expect("the second 동 section")..];
    assert!(second.contains("<details open") && second.contains("에 맞는 동네를 찾지 못했어요"), "{second}");
    // At sea: refused with the reason.
    let res = post(vec![("lat", "36.0".into()), ("lon", "125.0".into()), ("verify", "1".into())]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("대한민국 안의 위치가 아닙니다."));
    // 30 days on, the 인증 must be done again.
    app.clock.advance(chrono::Duration::days(29));
    assert!(profile().await.contains("인증됨"));
    app.clock.advance(chrono::Duration::days(1));
    let html = profile().await;
    assert!(html.contains("인증 만료") && !html.contains(">인증됨<"), "{html}");
}

#[tokio::test]
async fn profile_forms_update_and_logout_ends_the_session() {
    let app = spawn_app().await;
    app.register("prof_user").await;
    let client = browser();
    form_login(&app, &client, "prof_user").await;
    let token = csrf_token(&client.get(app.url("/me")).send().await.unwrap().text().await.unwrap());

    let res = client
        .post(app.url("/me/neighborhood"))
        .form(&[("csrf_token", token.as_str()), ("name", "연남동"), ("lat", "37.56"), ("lon", "126.92")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = client
        .post(app.url("/me/neighborhood"))
        .form(&[("csrf_token", token.as_str()), ("name", "연남동"), ("lat", "99"), ("lon", "126.92")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("위도는 -90 이상 90 이하여야 합니다."));
    let res = client
        .post(app.url("/me/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", "wrong-wrong"),
            ("new_password", "another-fine-pass"),
            ("new_password_confirm", "another-fine-pass"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("현재 비밀번호가 올바르지 않습니다."));

    let body = client.get(app.url("/me")).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("연남동"));

    let res = client.post(app.url("/logout")).form(&[("csrf_token", token.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/login?msg=logged_out");
    assert!(res.headers().get("clear-site-data").is_some());
    let res = client.get(app.url("/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "signed out");
}
