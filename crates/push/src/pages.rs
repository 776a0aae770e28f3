//! `/notifications`: the 알림 page — every notice, newest first, grouped by deal; tapping one
//! marks it read and opens its deal or room — and this device's push settings: "알림 받기"
//! (permission is asked only when it is pressed), what to be pushed about, quiet hours.
//! Works without JavaScript except turning pushes on, which needs the browser's push API.

use std::sync::Arc;

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use gonggu_kernel::{
    error::asks_for_json,
    web::{asset_url, csrf_field, form_post, layout, see_other, CsrfForm, CsrfToken, Flash, Page, PageError, Tab, WebUser},
    ApiError,
};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    domain::{Preferences, QuietHours, SubscriptionKeys},
    NotificationView, Push,
};

pub fn router(push: Arc<Push>) -> Router {
    Router::new()
        .route("/notifications", get(inbox_page))
        .route("/notifications/unread", get(unread))
        .route("/notifications/read-all", form_post("/notifications", read_all))
        .route("/notifications/preferences", form_post("/notifications#settings", preferences_submit))
        .route("/notifications/devices", form_post("/notifications#settings", device_submit))
        .route("/notifications/devices/remove", form_post("/notifications#settings", device_remove))
        .route("/notifications/{id}", get(open))
        .with_state(push)
}

#[derive(Deserialize)]
pub(crate) struct ReadAllForm {
    #[serde(default)]
    csrf_token: String,
}

#[derive(Deserialize)]
pub(crate) struct PreferencesForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    deal: Option<String>,
    #[serde(default)]
    chat: Option<String>,
    #[serde(default)]
    keyword: Option<String>,
    #[serde(default)]
    wallet: Option<String>,
    #[serde(default)]
    quiet: Option<String>,
    #[serde(default)]
    quiet_start: String,
    #[serde(default)]
    quiet_end: String,
}

#[derive(Deserialize)]
pub(crate) struct DeviceForm {
    #[serde(default)]
    csrf_token: String,
    endpoint: String,
    #[serde(default)]
    p256dh: String,
    #[serde(default)]
    auth: String,
}

gonggu_kernel::csrf_forms!(ReadAllForm, PreferencesForm, DeviceForm);

#[derive(Deserialize)]
pub(crate) struct InboxParams {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

fn failure(e: ApiError) -> Response {
    PageError::from(e).titled("알림을 불러오지 못했습니다").into_response()
}

fn time_label(n: &NotificationView, now: chrono::DateTime<chrono::Utc>) -> String {
    let ago = now - n.updated_at;
    if ago < chrono::Duration::minutes(1) {
        "방금".into()
    } else if ago < chrono::Duration::hours(1) {
        format!("{}분 전", ago.num_minutes())
    } else if ago < chrono::Duration::days(1) {
        format!("{}시간 전", ago.num_hours())
    } else {
        format!("{}일 전", ago.num_days())
    }
}

fn icon(kind: &str) -> &'static str {
    match kind {
        "chat" => "💬",
        "keyword" => "🔎",
        "wallet" => "🪙",
        _ => "🛒",
    }
}

/// Consecutive notices about the same deal form one group (the newest first).
fn groups(items: &[NotificationView]) -> Vec<&[NotificationView]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        if i == items.len() || items[i].deal_id.is_none() || items[i].deal_id != items[start].deal_id {
            out.push(&items[start..i]);
            start = i;
        }
    }
    out
}

fn settings(csrf: &CsrfToken, prefs: &crate::PreferencesView, public_key: &str) -> Markup {
    let p = &prefs.preferences;
    let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    html! {
        section.card id="settings" {
            h2 { "알림 설정" }
            // Filled in by notifications.js from the browser's state (granted, denied, unsupported).
            div id="push-device" data-vapid-key=(public_key) data-devices=(prefs.devices) {
                p id="push-state" { "이 기기의 알림 상태를 확인하는 중이에요…" }
                button.button.primary id="push-enable" type="button" hidden { "알림 받기" }
                button.button id="push-disable" type="button" hidden { "이 기기에서 알림 끄기" }
            }
            form id="push-subscribe-form" method="post" action="/notifications/devices" hidden {
                (csrf_field(csrf))
                input type="hidden" name="endpoint";
                input type="hidden" name="p256dh";
                input type="hidden" name="auth";
            }
            form id="push-unsubscribe-form" method="post" action="/notifications/devices/remove" hidden {
                (csrf_field(csrf))
                input type="hidden" name="endpoint";
            }
            form.stack method="post" action="/notifications/preferences" {
                (csrf_field(csrf))
                fieldset.checks {
                    legend { "받을 알림" }
                    label { input type="checkbox" name="deal" value="on" checked[p.deal]; " 참여·확정·취소 등 공구 소식" }
                    label { input type="checkbox" name="chat" value="on" checked[p.chat]; " 채팅 새 메시지" }
                    label { input type="checkbox" name="keyword" value="on" checked[p.keyword]; " 관심 키워드 새 공구" }
                    label { input type="checkbox" name="wallet" value="on" checked[p.wallet]; " 공구페이 입금" }
                }
                fieldset.checks {
                    legend { "방해 금지 시간 (한국 시간)" }
                    label { input type="checkbox" name="quiet" value="on" checked[p.quiet_hours.is_some()]; " 이 시간에는 알림을 미뤄요 (채팅 알림은 보내지 않아요)" }
                    div.row {
                        label { "시작 " input type="time" name="quiet_start" value=(p.quiet_hours.map(|q| hhmm(q.start)).unwrap_or_else(|| "22:00".into())); }
                        label { "끝 " input type="time" name="quiet_end" value=(p.quiet_hours.map(|q| hhmm(q.end)).unwrap_or_else(|| "08:00".into())); }
                    }
                }
                p.hint { "알림 설정과 관계없이 모든 소식은 이 알림 페이지에 남아요." }
                button.button.primary type="submit" { "저장" }
            }
        }
    }
}

pub(crate) async fn inbox_page(
    State(push): State<Arc<Push>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Query(q): Query<InboxParams>,
) -> Response {
    let inbox = match push.inbox(&user, q.cursor.as_deref(), 30).await {
        Ok(i) => i,
        Err(e) => return failure(e),
    };
    let prefs = match push.preferences(&user).await {
        Ok(p) => p,
        Err(e) => return failure(e),
    };
    let flash = match q.saved.as_deref() {
        Some("prefs") => Some(Flash::ok("알림 설정을 저장했습니다.")),
        Some("device") => Some(Flash::ok("이 기기에서 알림을 받아요.")),
        Some("device_removed") => Some(Flash::ok("이 기기에서는 알림을 받지 않아요.")),
        _ => None,
    };
    let now = push.clock.now();
    let body = html! {
        div.page-head {
            h1.page-title { "알림" }
            @if inbox.unread > 0 {
                form method="post" action="/notifications/read-all" {
                    (csrf_field(&csrf))
                    button.button.small type="submit" { "모두 읽음" }
                }
            }
        }
        @if q.cursor.is_none() {
            // Shown by notifications.js when the unread count passes what this page shows.
            a.card.notice-fresh #notice-fresh href="/notifications" hidden data-unread=(inbox.unread) role="status" {
                "새 알림이 있어요 · 눌러서 보기"
            }
        }
        @if inbox.items.is_empty() && q.cursor.is_none() {
            section.card.empty {
                div.empty-icon aria-hidden="true" { "🔔" }
                h2 { "아직 알림이 없어요" }
                p { "내 공구에 이웃이 참여하거나, 관심 키워드에 맞는 공구가 올라오면 여기에 알려 드려요." }
            }
        } @else {
            @for group in groups(&inbox.items) {
                ul.notice-group {
                    @for n in group {
                        li.notice-item.unread[!n.read] {
                            a.notice-link href=(format!("/notifications/{}", n.id)) {
                                span.notice-icon aria-hidden="true" { (icon(&n.kind)) }
                                span.notice-main {
                                    span.notice-title { (n.title) }
                                    span.notice-body { (n.body) }
                                    @if let Some(k) = &n.keyword { span.notice-keyword { "키워드: " (k) } }
                                }
                                span.notice-side {
                                    time datetime=(n.updated_at.to_rfc3339()) { (time_label(n, now)) }
                                    @if !n.read { span.notice-dot aria-label="안 읽음" {} }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(c) = &inbox.next_cursor {
                a.button.more href=(format!("/notifications?cursor={c}")) { "이전 알림 더 보기" }
            }
        }
        (settings(&csrf, &prefs, push.vapid_public_key()))
        script type="module" src=(asset_url("notifications.js")) {}
    };
    let mut res = layout(Page { title: "알림", tab: Tab::None, user: Some(&user), flash }, body).into_response();
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    res
}

/// The navigation's 🔔 badge (app.js asks on every page and when a push arrives).
pub(crate) async fn unread(State(push): State<Arc<Push>>, WebUser(user): WebUser) -> Response {
    match push.unread(user.user_id).await {
        Ok(n) => Json(serde_json::json!({ "unread": n })).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A tap on a notice: marks it read, then opens its deal or room.
pub(crate) async fn open(State(push): State<Arc<Push>>, WebUser(user): WebUser, Path(id): Path<String>) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return PageError::not_found("알림을 찾을 수 없습니다", "지워졌거나 없는 알림입니다.").into_response();
    };
    match push.open(&user, id).await {
        Ok(Some(url)) => see_other(&url),
        Ok(None) => PageError::not_found("알림을 찾을 수 없습니다", "30일이 지나 지워졌거나 없는 알림입니다.").into_response(),
        Err(e) => failure(e),
    }
}

pub(crate) async fn read_all(State(push): State<Arc<Push>>, WebUser(user): WebUser, CsrfForm(_): CsrfForm<ReadAllForm>) -> Response {
    match push.mark_read(&user, None).await {
        Ok(_) => see_other("/notifications"),
        Err(e) => failure(e),
    }
}

pub(crate) async fn preferences_submit(
    State(push): State<Arc<Push>>,
    WebUser(user): WebUser,
    CsrfForm(f): CsrfForm<PreferencesForm>,
) -> Response {
    let quiet_hours = match f.quiet.is_some().then(|| QuietHours::parse(&f.quiet_start, &f.quiet_end)).transpose() {
        Ok(q) => q,
        Err(why) => return PageError::from(ApiError::field("quiet_hours", why)).titled("저장하지 못했습니다").into_response(),
    };
    let p = Preferences {
        deal: f.deal.is_some(),
        chat: f.chat.is_some(),
        keyword: f.keyword.is_some(),
        wallet: f.wallet.is_some(),
        quiet_hours,
    };
    match push.set_preferences(&user, &p, None).await {
        Ok(_) => see_other("/notifications?saved=prefs#settings"),
        Err(e) => failure(e),
    }
}

/// notifications.js posts the browser's subscription here (with `Accept: application/json`).
pub(crate) async fn device_submit(
    State(push): State<Arc<Push>>,
    WebUser(user): WebUser,
    headers: HeaderMap,
    CsrfForm(f): CsrfForm<DeviceForm>,
) -> Response {
    let keys = SubscriptionKeys { p256dh: f.p256dh, auth: f.auth };
    let done = push.subscribe(&user, &f.endpoint, &keys).await;
    match (done, asks_for_json(&headers)) {
        (Ok(new), true) => {
            (if new { StatusCode::CREATED } else { StatusCode::OK }, Json(serde_json::json!({ "registered": true }))).into_response()
        }
        (Err(e), true) => e.into_response(),
        (Ok(_), false) => see_other("/notifications?saved=device#settings"),
        (Err(e), false) => PageError::from(e).titled("알림을 켜지 못했습니다").into_response(),
    }
}

pub(crate) async fn device_remove(
    State(push): State<Arc<Push>>,
    WebUser(user): WebUser,
    headers: HeaderMap,
    CsrfForm(f): CsrfForm<DeviceForm>,
) -> Response {
    // Already gone is as good as removed.
    let done = match push.unsubscribe(&user, &f.endpoint).await {
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(()),
        other => other,
    };
    match (done, asks_for_json(&headers)) {
        (Ok(()), true) => StatusCode::NO_CONTENT.into_response(),
        (Err(e), true) => e.into_response(),
        (Ok(()), false) => see_other("/notifications?saved=device_removed#settings"),
        (Err(e), false) => failure(e),
    }
}
