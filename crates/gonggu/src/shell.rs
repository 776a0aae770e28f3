//! Shell pages that belong to no context yet: the home page. The deals context takes over `/`
//! with the deal list.

use axum::{routing::get, Router};
use gonggu_kernel::web::{layout, MaybeWebUser, Page, Tab};
use maud::{html, Markup};

pub fn router() -> Router {
    Router::new().route("/", get(home))
}

async fn home(MaybeWebUser(user): MaybeWebUser) -> Markup {
    layout(
        Page { title: "우리 동네 공동구매", tab: Tab::Deals, user: user.as_ref(), flash: None },
        html! {
            section.hero {
                h1 { "이웃과 함께 사면 더 싸요" }
                p.lead { "코스트코 대용량, 최소 주문 수량이 있는 상품을 우리 동네 이웃과 나눠 사세요." }
                @if let Some(u) = &user {
                    p { (u.login_id) "님, 반가워요!" }
                    div.actions { a.button.primary href="/me" { "내 정보" } }
                } @else {
                    div.actions {
                        a.button.primary href="/register" { "회원가입" }
                        a.button.secondary href="/login" { "로그인" }
                    }
                }
            }
        },
    )
}
