//! The page layout every context renders into.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::{asset_url, CsrfToken};
use crate::auth::AuthUser;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tab {
    Deals,
    NewDeal,
    Chat,
    Wallet,
    Me,
    None,
}

const TABS: [(Tab, &str, &str, &str); 5] = [
    (Tab::Deals, "/", "공구 목록", "🛒"),
    (Tab::NewDeal, "/deals/new", "공구 등록", "➕"),
    (Tab::Chat, "/chat", "채팅", "💬"),
    (Tab::Wallet, "/wallet", "공구페이", "🪙"),
    (Tab::Me, "/me", "내 정보", "👤"),
];

/// What every page needs to know about the request it renders for.
pub struct Page<'a> {
    pub title: &'a str,
    pub tab: Tab,
    pub user: Option<&'a AuthUser>,
    /// A notice shown on top (e.g. "저장되었습니다").
    pub flash: Option<Flash>,
}

#[derive(Clone, Debug)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Self {
        Self { ok: true, text: text.into() }
    }
    pub fn error(text: impl Into<String>) -> Self {
        Self { ok: false, text: text.into() }
    }
}

pub fn layout(page: Page<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ko" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover";
                title { (page.title) " · 공구마켓" }
                meta name="description" content="우리 동네 이웃과 함께 나누는 공동구매, 공구마켓";
                meta name="theme-color" content="#ff7a00";
                link rel="manifest" href="/manifest.webmanifest";
                link rel="icon" type="image/png" href=(asset_url("icons/favicon-32.png"));
                link rel="apple-touch-icon" href=(asset_url("icons/apple-touch-icon.png"));
                link rel="stylesheet" href=(asset_url("app.css"));
                script type="module" src=(asset_url("app.js")) {}
            }
            // `data-login` tells app.js to open the live socket (unread badge, chat pages).
            body data-login=[page.user.map(|u| u.login_id.as_str())] {
                header.topbar {
                    a.brand href="/" { "공구마켓" }
                    @if let Some(u) = page.user {
                        a.topbar-bell href="/notifications" aria-label="알림" {
                            span aria-hidden="true" { "🔔" }
                            // Filled by app.js (unread notices).
                            span.tab-badge id="notice-badge" hidden {}
                        }
                        a.topbar-user href="/me" { (u.login_id) " 님" }
                    } @else {
                        a.topbar-user href="/login" { "로그인" }
                    }
                }
                main id="main" class="container" {
                    @if let Some(f) = &page.flash { (super::flash(f)) }
                    (body)
                }
                nav.tabbar aria-label="주 메뉴" {
                    @for (tab, href, label, icon) in TABS {
                        a.tab href=(href) aria-current=[(tab == page.tab).then_some("page")] {
                            span.tab-icon aria-hidden="true" { (icon) }
                            span.tab-label { (label) }
                            @if tab == Tab::Chat && page.user.is_some() {
                                // Filled by app.js from the socket (unread messages in all rooms).
                                span.tab-badge id="chat-badge" hidden {}
                            }
                        }
                    }
                }
                div id="update-banner" class="update-banner" hidden {
                    span { "새 버전이 있습니다." }
                    button id="update-reload" type="button" { "새로고침" }
                }
            }
        }
    }
}

pub async fn page_not_found() -> super::PageError {
    super::PageError::not_found("페이지를 찾을 수 없습니다", "주소가 바뀌었거나 아직 준비되지 않은 페이지입니다.")
}

/// Renders a `<input type=hidden>` carrying the CSRF token.
pub fn csrf_field(token: &CsrfToken) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(token.0); }
}

pub fn raw(s: &str) -> PreEscaped<String> {
    PreEscaped(s.to_owned())
}
