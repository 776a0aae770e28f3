//! Who has paid, on the deal page: each member's payment state and the member's own "내 몫 송금하기".

use gonggu_kernel::web::{urlencode, won};
use maud::{html, Markup};

use crate::{
    domain::DealStatus,
    service::{DealView, MemberView},
};

/// What is still owed: never below zero (a member may send more than their share).
fn left(m: &MemberView) -> i64 {
    (m.amount - m.paid).max(0)
}

/// Members owe their share once the buy goes ahead.
fn payable(d: &DealView) -> bool {
    matches!(d.status, DealStatus::Confirmed | DealStatus::Completed)
}

/// A member row's payment state (nothing for the host, who is paid, not paying, and nothing
/// while nobody owes anything).
pub(super) fn payment_state(d: &DealView, m: &MemberView) -> Markup {
    html! {
        @if !m.is_host && payable(d) {
            @if left(m) == 0 {
                span.badge.badge-ok { "송금 완료" }
            } @else if m.paid > 0 {
                span.badge { (won(left(m))) " 남음" }
            } @else {
                span.badge.badge-off { "송금 전" }
            }
        }
    }
}

/// The signed-in member's own payment: offered once the deal is confirmed (the buy goes ahead),
/// for what is left to send; 송금 완료 once it is all sent.
pub(super) fn pay_action(d: &DealView, me: &MemberView) -> Markup {
    let owed = left(me);
    html! {
        @if payable(d) {
            @if owed == 0 {
                p.notice id="pay-done" role="status" { span.badge.badge-ok { "송금 완료" } " " (won(me.paid)) "을 보냈어요." }
            } @else {
                @if me.paid > 0 { p.meta id="pay-left" { (won(me.paid)) " 보냄 · " (won(owed)) " 남음" } }
                a.button.primary.block id="pay-link"
                    href={ "/wallet/transfer?to=" (urlencode(&d.host.login_id)) "&amount=" (owed) "&deal_id=" (d.id) } { "내 몫 송금하기 · " (won(owed)) }
            }
        } @else if d.status == DealStatus::Recruiting {
            p.meta id="pay-later" { "공구가 확정되면 내 몫을 송금할 수 있어요." }
        }
    }
}
