//! Wallet pages (공구페이): balances, charge / withdraw / transfer with a confirmation step, and the
//! transaction history. Plain HTML forms that work without JavaScript; `app.js` adds inline
//! validation and busy buttons on top.
//!
//! Every money movement goes through two requests: `…/confirm` checks the input and shows what
//! will happen, with a fresh idempotency key in a hidden field; the final POST moves the money
//! with that key, so a double click or a resubmitted confirmation replays instead of paying twice.

use std::sync::Arc;

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Extension, Router,
};
use gonggu_kernel::{
    auth::AuthUser,
    error::FieldErrors,
    web::{
        csrf_field, error_status, form_post, format_kst, input, layout, see_other, split_error, urlencode, won, CsrfForm, CsrfToken, Flash,
        FormPage, Input, Page, PageError, Tab, WebUser,
    },
    ApiError,
};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    domain::{Amount, Memo},
    service::{HistoryParams, MoneyAnswer, TransactionView, TransferInput, WalletView},
    Wallet,
};

pub fn router(wallet: Arc<Wallet>) -> Router {
    Router::new()
        .route("/wallet", get(wallet_page))
        // A form's route opened as a page (after login, from history) goes to the form.
        .route("/wallet/charge/confirm", form_post("/wallet#charge", charge_confirm))
        .route("/wallet/charge", form_post("/wallet#charge", charge_submit))
        .route("/wallet/withdraw/confirm", form_post("/wallet#withdraw", withdraw_confirm))
        .route("/wallet/withdraw", form_post("/wallet#withdraw", withdraw_submit))
        .route("/wallet/transfer", get(transfer_page).post(transfer_submit).layer(Extension(FormPage("/wallet/transfer"))))
        .route("/wallet/transfer/confirm", form_post("/wallet/transfer", transfer_confirm))
        .route("/wallet/history", get(history_page))
        .with_state(wallet)
}

gonggu_kernel::csrf_forms!(AmountForm, TransferForm);

/// The original service's words, shown wherever money leaves for another member.
const DISCLAIMER: &str = "우리동네 공구마켓은 회원간의 송금에 책임을 지지 않으며, 실물 거래 현장에서 송금할 것을 강력히 권장합니다.";

/// Messages a redirect can ask `/wallet` to show (`?msg=`), so no text travels in URLs.
fn flash_for(code: Option<&str>) -> Option<Flash> {
    Some(match code? {
        "charged" => Flash::ok("충전했습니다."),
        "withdrew" => Flash::ok("환전했습니다. 은행 계좌로 보냈습니다."),
        "sent" => Flash::ok("송금했습니다."),
        _ => return None,
    })
}

/// The service speaks of the API's `Idempotency-Key` header; on a page, the key is the hidden
/// field of a confirmation screen.
fn page_message(e: ApiError) -> ApiError {
    let message = match e.code {
        "idempotency_key_required" | "invalid_idempotency_key" => "확인 화면이 올바르지 않습니다. 처음부터 다시 시도해 주세요.",
        "idempotency_key_reused" => "이미 사용한 확인 화면입니다. 처음부터 다시 시도해 주세요.",
        _ => return e,
    };
    ApiError { message: message.to_owned(), ..e }
}

/// `"12000"` → 12000 won, with Korean messages for everything else (the form sends text so that
/// a blank or odd value is a message by the field, not a rejected request).
fn parse_amount(raw: &str) -> Result<Amount, String> {
    let cleaned: String = raw.chars().filter(|c| !c.is_whitespace() && *c != ',').collect();
    if cleaned.is_empty() {
        return Err("금액을 입력해 주세요.".into());
    }
    if !cleaned.bytes().all(|b| b.is_ascii_digit()) {
        let negative = cleaned.starts_with('-') && cleaned[1..].bytes().all(|b| b.is_ascii_digit());
        return Err(if negative {
            "금액은 1원 이상이어야 합니다."
        } else {
            "금액은 1원 단위 숫자로 입력해 주세요."
        }
        .into());
    }
    let won = cleaned.parse::<i64>().unwrap_or(i64::MAX);
    Amount::parse(won).map_err(|e| e.0.to_owned())
}

fn amount_input(id: &str, label: &str, value: &str, error: Option<&String>) -> Markup {
    html! {
        label.field.invalid[error.is_some()] {
            span.label { (label) }
            div.money-input {
                input type="number" name="amount" id=(id) value=(value) inputmode="numeric" min="1" max="10000000" step="1" required
                    autocomplete="off" aria-invalid=[error.map(|_| "true")] autofocus[error.is_some()];
                span.unit aria-hidden="true" { "원" }
            }
            small.field-error { @if let Some(e) = error { (e) } }
        }
    }
}

fn balance_card(view: &WalletView, with_history_link: bool) -> Markup {
    html! {
        section.card.balance-card aria-labelledby="balance-label" {
            p.balance-label id="balance-label" { "공구페이 잔액" }
            p.balance-amount id="wallet-balance" { (won(view.balance)) }
            p.bank-line { span.muted { "연결된 은행 계좌 (모의)" } " " strong id="bank-balance" { (won(view.bank_balance)) } }
            @if with_history_link {
                a.button.secondary.block href="/wallet/history" { "거래 내역 보기" }
            }
        }
    }
}

/// A balance after a movement; never shown below zero (the movement would be refused).
fn after(balance: i64) -> Markup {
    html! {
        @if balance < 0 { strong.short { "잔액 부족" } } @else { strong { (won(balance)) } }
    }
}

fn disclaimer() -> Markup {
    html! { p.disclaimer { (DISCLAIMER) } }
}

async fn load_summary(wallet: &Wallet, user: &AuthUser) -> Result<WalletView, Response> {
    wallet.summary(user).await.map_err(page_failure)
}

fn page_failure(e: ApiError) -> Response {
    PageError::from(e).titled("공구페이를 열 수 없습니다").into_response()
}

// ------------------------------------------------------------------------------------ /wallet

#[derive(Default)]
struct TransferValues {
    to_login_id: String,
    amount: String,
    memo: String,
    deal_id: String,
}

/// What a failed form puts back into `/wallet`.
#[derive(Default)]
struct WalletState {
    flash: Option<Flash>,
    /// `charge.amount`, `withdraw.amount`, `transfer.to_login_id`, …
    errors: FieldErrors,
    charge_amount: String,
    withdraw_amount: String,
    transfer: TransferValues,
}

fn transfer_form(csrf: &CsrfToken, v: &TransferValues, errors: &FieldErrors, prefix: &str) -> Markup {
    let err = |name: &str| errors.get(&format!("{prefix}{name}"));
    let key = |name: &str| format!("{prefix}{name}");
    let (to_key, memo_key) = (key("to_login_id"), key("memo"));
    html! {
        form.stack method="post" action="/wallet/transfer/confirm" data-validate novalidate {
            (csrf_field(csrf))
            @if !v.deal_id.is_empty() { input type="hidden" name="deal_id" value=(v.deal_id); }
            (input(Input { id: Some("transfer-to"), name: "to_login_id", error_key: Some(&to_key), label: "받는 사람 아이디", value: &v.to_login_id, hint: Some("다음 화면에서 받는 사람을 확인합니다."), required: true, maxlength: Some("20"), verbatim: true, ..Default::default() }, errors))
            (amount_input("transfer-amount", "금액", &v.amount, err("amount")))
            (input(Input { id: Some("transfer-memo"), name: "memo", error_key: Some(&memo_key), label: "메모 (선택)", value: &v.memo, hint: Some("예: 휴지 공구 내 몫"), maxlength: Some("100"), verbatim: true, ..Default::default() }, errors))
            (disclaimer())
            button.primary.block type="submit" data-busy-label="확인 중…" { "받는 사람 확인" }
        }
    }
}

fn wallet_view(csrf: &CsrfToken, user: &AuthUser, view: &WalletView, st: WalletState) -> Markup {
    let e = &st.errors;
    layout(
        Page { title: "공구페이", tab: Tab::Wallet, user: Some(user), flash: st.flash },
        html! {
            h1.page-title { "공구페이" }
            (balance_card(view, true))
            section.card id="charge" {
                h2 { "충전하기" }
                p.muted { "은행 계좌에서 공구페이로 옮깁니다." }
                form.stack method="post" action="/wallet/charge/confirm" data-validate novalidate {
                    (csrf_field(csrf))
                    (amount_input("charge-amount", "충전할 금액", &st.charge_amount, e.get("charge.amount")))
                    button.primary.block type="submit" data-busy-label="확인 중…" { "충전 금액 확인" }
                }
            }
            section.card id="withdraw" {
                h2 { "환전하기" }
                p.muted { "공구페이에서 은행 계좌로 돌려받습니다." }
                form.stack method="post" action="/wallet/withdraw/confirm" data-validate novalidate {
                    (csrf_field(csrf))
                    (amount_input("withdraw-amount", "환전할 금액", &st.withdraw_amount, e.get("withdraw.amount")))
                    button.secondary.block type="submit" data-busy-label="확인 중…" { "환전 금액 확인" }
                }
            }
            section.card id="transfer" {
                h2 { "송금하기" }
                p.muted { "공구마켓 회원의 공구페이로 보냅니다." }
                (transfer_form(csrf, &st.transfer, e, "transfer."))
            }
        },
    )
}

#[derive(Deserialize, Default)]
struct MsgQuery {
    msg: Option<String>,
}

async fn wallet_page(State(wallet): State<Arc<Wallet>>, WebUser(user): WebUser, csrf: CsrfToken, Query(q): Query<MsgQuery>) -> Response {
    let st = WalletState { flash: flash_for(q.msg.as_deref()), ..Default::default() };
    render_wallet(&wallet, &csrf, &user, StatusCode::OK, st).await
}

async fn render_wallet(wallet: &Wallet, csrf: &CsrfToken, user: &AuthUser, status: StatusCode, st: WalletState) -> Response {
    match load_summary(wallet, user).await {
        Ok(view) => (status, wallet_view(csrf, user, &view, st)).into_response(),
        Err(res) => res,
    }
}

// ------------------------------------------------------------------------------- charge / withdraw

#[derive(Clone, Copy, PartialEq, Eq)]
enum Move {
    Charge,
    Withdraw,
}

impl Move {
    fn key(self) -> &'static str {
        match self {
            Move::Charge => "charge",
            Move::Withdraw => "withdraw",
        }
    }
    fn verb(self) -> &'static str {
        match self {
            Move::Charge => "충전",
            Move::Withdraw => "환전",
        }
    }
    fn keep(self, amount: &str, errors: FieldErrors, flash: Option<Flash>) -> WalletState {
        let errors = errors.into_iter().map(|(k, v)| (format!("{}.{k}", self.key()), v)).collect();
        match self {
            Move::Charge => WalletState { charge_amount: amount.to_owned(), errors, flash, ..Default::default() },
            Move::Withdraw => WalletState { withdraw_amount: amount.to_owned(), errors, flash, ..Default::default() },
        }
    }
}

#[derive(Deserialize)]
struct AmountForm {
    csrf_token: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    idempotency_key: String,
}

fn move_confirm_view(csrf: &CsrfToken, user: &AuthUser, view: &WalletView, mv: Move, amount: Amount) -> Markup {
    let n = amount.won();
    let (bank_after, wallet_after) = match mv {
        Move::Charge => (view.bank_balance - n, view.balance + n),
        Move::Withdraw => (view.bank_balance + n, view.balance - n),
    };
    let short = match mv {
        Move::Charge => (view.bank_balance < n).then_some("은행 계좌 잔액이 부족합니다."),
        Move::Withdraw => (view.balance < n).then_some("공구페이 잔액이 부족합니다."),
    };
    let title = format!("{} 확인", mv.verb());
    layout(
        Page { title: &title, tab: Tab::Wallet, user: Some(user), flash: None },
        html! {
            h1.page-title { (title) }
            section.card.confirm {
                p.confirm-lead { (won(n)) "을 " (mv.verb()) "합니다" }
                dl.summary {
                    dt { "은행 계좌 (모의)" }
                    dd { (won(view.bank_balance)) " → " (after(bank_after)) }
                    dt { "공구페이" }
                    dd { (won(view.balance)) " → " (after(wallet_after)) }
                }
                @if let Some(msg) = short {
                    p.flash.flash-error role="alert" { (msg) " " (mv.verb()) "할 수 없습니다." }
                }
                form.stack method="post" action={ "/wallet/" (mv.key()) } {
                    (csrf_field(csrf))
                    input type="hidden" name="amount" value=(n);
                    input type="hidden" name="idempotency_key" value=(Uuid::new_v4());
                    button.primary.block type="submit" disabled[short.is_some()] data-busy-label="처리 중…" { (mv.verb()) "하기" }
                    a.button.block href="/wallet" { "취소" }
                }
            }
        },
    )
}

async fn move_confirm(wallet: &Wallet, csrf: &CsrfToken, user: &AuthUser, mv: Move, form: &AmountForm) -> Response {
    match parse_amount(&form.amount) {
        Ok(amount) => match load_summary(wallet, user).await {
            Ok(view) => move_confirm_view(csrf, user, &view, mv, amount).into_response(),
            Err(res) => res,
        },
        Err(msg) => {
            let errors = FieldErrors::from([("amount".to_owned(), msg)]);
            render_wallet(wallet, csrf, user, StatusCode::UNPROCESSABLE_ENTITY, mv.keep(&form.amount, errors, None)).await
        }
    }
}

async fn move_submit(wallet: &Wallet, csrf: &CsrfToken, user: &AuthUser, mv: Move, form: &AmountForm) -> Response {
    let result = match parse_amount(&form.amount) {
        Err(msg) => Err(ApiError::field("amount", msg)),
        Ok(amount) => {
            let key = Some(form.idempotency_key.as_str()).filter(|k| !k.trim().is_empty());
            match mv {
                Move::Charge => wallet.charge(user, key, amount.won()).await,
                Move::Withdraw => wallet.withdraw(user, key, amount.won()).await,
            }
        }
    };
    let ok = match mv {
        Move::Charge => "charged",
        Move::Withdraw => "withdrew",
    };
    match result.and_then(answer_ok).map_err(page_message) {
        Ok(()) => see_other(&format!("/wallet?msg={ok}")),
        Err(e) => {
            let (errors, flash) = split_error(&e, None);
            render_wallet(wallet, csrf, user, error_status(&e), mv.keep(&form.amount, errors, flash)).await
        }
    }
}

/// A replayed answer may be a stored refusal (e.g. 409): turn it back into an error.
fn answer_ok(answer: MoneyAnswer) -> Result<(), ApiError> {
    answer.refusal().map_or(Ok(()), Err)
}

async fn charge_confirm(
    State(wallet): State<Arc<Wallet>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<AmountForm>,
) -> Response {
    move_confirm(&wallet, &csrf, &user, Move::Charge, &f).await
}

async fn charge_submit(
    State(wallet): State<Arc<Wallet>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<AmountForm>,
) -> Response {
    move_submit(&wallet, &csrf, &user, Move::Charge, &f).await
}

async fn withdraw_confirm(
    State(wallet): State<Arc<Wallet>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<AmountForm>,
) -> Response {
    move_confirm(&wallet, &csrf, &user, Move::Withdraw, &f).await
}

async fn withdraw_submit(
    State(wallet): State<Arc<Wallet>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<AmountForm>,
) -> Response {
    move_submit(&wallet, &csrf, &user, Move::Withdraw, &f).await
}

// ------------------------------------------------------------------------------------ transfer

#[derive(Deserialize, Default)]
struct TransferQuery {
    to: Option<String>,
    amount: Option<String>,
    memo: Option<String>,
    deal_id: Option<String>,
}

#[derive(Deserialize)]
struct TransferForm {
    csrf_token: String,
    #[serde(default)]
    to_login_id: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    memo: String,
    #[serde(default)]
    deal_id: String,
    #[serde(default)]
    idempotency_key: String,
}

impl TransferForm {
    fn values(&self) -> TransferValues {
        TransferValues {
            to_login_id: self.to_login_id.clone(),
            amount: self.amount.clone(),
            memo: self.memo.clone(),
            deal_id: self.deal_id.clone(),
        }
    }
}

fn transfer_view(
    csrf: &CsrfToken,
    user: &AuthUser,
    view: &WalletView,
    v: &TransferValues,
    errors: &FieldErrors,
    flash: Option<Flash>,
) -> Markup {
    layout(
        Page { title: "송금하기", tab: Tab::Wallet, user: Some(user), flash },
        html! {
            h1.page-title { "송금하기" }
            (balance_card(view, false))
            section.card id="transfer" {
                @if !v.deal_id.is_empty() { p.muted { "공구 참여금을 보냅니다. 금액과 받는 사람을 확인해 주세요." } }
                (transfer_form(csrf, v, errors, ""))
            }
            p.auth-links { a href="/wallet" { "공구페이로 돌아가기" } }
        },
    )
}

async fn transfer_page(
    State(wallet): State<Arc<Wallet>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Query(q): Query<TransferQuery>,
) -> Response {
    let view = match load_summary(&wallet, &user).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let v = TransferValues {
        to_login_id: q.to.unwrap_or_default(),
        amount: q.amount.unwrap_or_default(),
        memo: q.memo.unwrap_or_default(),
        deal_id: q.deal_id.filter(|d| Uuid::parse_str(d.trim()).is_ok()).unwrap_or_default(),
    };
    transfer_view(&csrf, &user, &view, &v, &FieldErrors::new(), None).into_response()
}

async fn render_transfer(
    wallet: &Wallet,
    csrf: &CsrfToken,
    user: &AuthUser,
    status: StatusCode,
    v: &TransferValues,
    errors: &FieldErrors,
    flash: Option<Flash>,
) -> Response {
    match load_summary(wallet, user).await {
        Ok(view) => (status, transfer_view(csrf, user, &view, v, errors, flash)).into_response(),
        Err(res) => res,
    }
}

/// The checked transfer, ready to confirm.
struct CheckedTransfer {
    to: String,
    amount: Amount,
    memo: Option<String>,
    deal_id: Option<Uuid>,
}

/// Checks the form the way the service will, and that the recipient exists.
/// Errors come back as (status, field messages, notice).
async fn check_transfer(
    wallet: &Wallet,
    user: &AuthUser,
    f: &TransferForm,
) -> Result<CheckedTransfer, (StatusCode, FieldErrors, Option<Flash>)> {
    let mut errors = FieldErrors::new();
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    let mut flash = None;
    let amount = parse_amount(&f.amount).map_err(|m| errors.insert("amount".into(), m)).ok();
    let memo = Memo::parse(Some(&f.memo)).map_err(|e| errors.insert("memo".into(), e.0.into())).ok();
    let deal_id = match f.deal_id.trim() {
        "" => None,
        d => match Uuid::parse_str(d) {
            Ok(id) => Some(id),
            Err(_) => {
                flash = Some(Flash::error("공구 정보가 올바르지 않습니다. 공구 페이지에서 다시 시작해 주세요."));
                None
            }
        },
    };
    let to = f.to_login_id.trim();
    let mut recipient = None;
    if to.is_empty() {
        errors.insert("to_login_id".into(), "받는 사람 아이디를 입력해 주세요.".into());
    } else {
        match wallet.recipient(user, to).await {
            Ok(login_id) => recipient = Some(login_id),
            Err(e) if e.status.is_server_error() => return Err((e.status, FieldErrors::new(), Some(Flash::error(e.message)))),
            Err(e) => {
                let (fields, _) = split_error(&e, None);
                let msg = fields.get("to_login_id").cloned().unwrap_or(e.message.clone());
                errors.insert("to_login_id".into(), msg);
                if e.status == StatusCode::NOT_FOUND {
                    status = StatusCode::NOT_FOUND;
                }
            }
        }
    }
    match (recipient, amount, memo) {
        (Some(to), Some(amount), Some(memo)) if errors.is_empty() && flash.is_none() => {
            Ok(CheckedTransfer { to, amount, memo: memo.map(|m| m.as_str().to_owned()), deal_id })
        }
        _ => Err((status, errors, flash)),
    }
}

fn transfer_confirm_view(csrf: &CsrfToken, user: &AuthUser, view: &WalletView, t: &CheckedTransfer) -> Markup {
    let n = t.amount.won();
    let short = view.balance < n;
    layout(
        Page { title: "송금 확인", tab: Tab::Wallet, user: Some(user), flash: None },
        html! {
            h1.page-title { "송금 확인" }
            section.card.confirm {
                p.confirm-lead { (t.to) "님에게 " (won(n)) "을 보냅니다" }
                dl.summary {
                    dt { "받는 사람" } dd id="confirm-to" { strong { (t.to) } }
                    dt { "금액" } dd id="confirm-amount" { strong { (won(n)) } }
                    dt { "메모" } dd id="confirm-memo" { @match &t.memo { Some(m) => (m), None => span.muted { "없음" } } }
                    @if t.deal_id.is_some() { dt { "공구" } dd { "공구 참여금" } }
                    dt { "보낸 뒤 잔액" } dd { (won(view.balance)) " → " (after(view.balance - n)) }
                }
                @if short {
                    div.flash.flash-error role="alert" {
                        p { "공구페이 잔액(" (won(view.balance)) ")이 부족합니다. " (won(n - view.balance)) " 이상 충전한 뒤 보내 주세요." }
                        a.button.secondary.block href="/wallet#charge" { "충전하러 가기" }
                    }
                }
                (disclaimer())
                form.stack method="post" action="/wallet/transfer" {
                    (csrf_field(csrf))
                    input type="hidden" name="to_login_id" value=(t.to);
                    input type="hidden" name="amount" value=(n);
                    input type="hidden" name="memo" value=(t.memo.as_deref().unwrap_or(""));
                    @if let Some(d) = t.deal_id { input type="hidden" name="deal_id" value=(d); }
                    input type="hidden" name="idempotency_key" value=(Uuid::new_v4());
                    button.primary.block type="submit" disabled[short] data-busy-label="보내는 중…" { "송금하기" }
                    a.button.block href=(back_to_form(t)) { "취소" }
                }
            }
        },
    )
}

/// The transfer form again, filled in, for "취소".
fn back_to_form(t: &CheckedTransfer) -> String {
    let mut url = format!("/wallet/transfer?to={}&amount={}", urlencode(&t.to), t.amount.won());
    if let Some(m) = &t.memo {
        url.push_str(&format!("&memo={}", urlencode(m)));
    }
    if let Some(d) = t.deal_id {
        url.push_str(&format!("&deal_id={d}"));
    }
    url
}

async fn transfer_confirm(
    State(wallet): State<Arc<Wallet>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<TransferForm>,
) -> Response {
    match check_transfer(&wallet, &user, &f).await {
        Ok(t) => match load_summary(&wallet, &user).await {
            Ok(view) => transfer_confirm_view(&csrf, &user, &view, &t).into_response(),
            Err(res) => res,
        },
        Err((status, errors, flash)) => render_transfer(&wallet, &csrf, &user, status, &f.values(), &errors, flash).await,
    }
}

async fn transfer_submit(
    State(wallet): State<Arc<Wallet>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<TransferForm>,
) -> Response {
    let result = match parse_amount(&f.amount) {
        Err(msg) => Err(ApiError::field("amount", msg)),
        Ok(amount) => {
            let deal_id = match f.deal_id.trim() {
                "" => Ok(None),
                d => Uuid::parse_str(d).map(Some).map_err(|_| {
                    ApiError::bad_request("invalid_deal", "공구 정보가 올바르지 않습니다. 공구 페이지에서 다시 시작해 주세요.")
                }),
            };
            match deal_id {
                Err(e) => Err(e),
                Ok(deal_id) => {
                    let input =
                        TransferInput { to_login_id: f.to_login_id.clone(), amount: amount.won(), memo: Some(f.memo.clone()), deal_id };
                    let key = Some(f.idempotency_key.as_str()).filter(|k| !k.trim().is_empty());
                    wallet.transfer(&user, key, input).await
                }
            }
        }
    };
    match result.and_then(answer_ok).map_err(page_message) {
        Ok(()) => see_other("/wallet?msg=sent"),
        Err(e) => {
            let (mut errors, mut flash) = split_error(&e, None);
            if e.code == "recipient_not_found" {
                errors.insert("to_login_id".into(), e.message.clone());
                flash = None;
            }
            if e.code == "deal_tag_invalid" {
                // The deal is a hidden field: say it above the form.
                flash = Some(Flash::error(e.message.clone()));
            }
            render_transfer(&wallet, &csrf, &user, error_status(&e), &f.values(), &errors, flash).await
        }
    }
}

// ------------------------------------------------------------------------------------ history

#[derive(Deserialize, Default, Clone)]
struct HistoryQuery {
    direction: Option<String>,
    sort: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

impl HistoryQuery {
    fn normalized(&self) -> Self {
        Self {
            direction: non_empty(&self.direction),
            sort: non_empty(&self.sort),
            from: non_empty(&self.from),
            to: non_empty(&self.to),
            cursor: non_empty(&self.cursor),
        }
    }

    fn filtered(&self) -> bool {
        self.direction.as_deref().is_some_and(|d| d != "all") || self.from.is_some() || self.to.is_some()
    }

    /// `/wallet/history?…` with these filters and another cursor.
    fn url_with_cursor(&self, cursor: &str) -> String {
        let mut parts = Vec::new();
        for (k, v) in [("direction", &self.direction), ("sort", &self.sort), ("from", &self.from), ("to", &self.to)] {
            if let Some(v) = v {
                parts.push(format!("{k}={}", urlencode(v)));
            }
        }
        parts.push(format!("cursor={}", urlencode(cursor)));
        format!("/wallet/history?{}", parts.join("&"))
    }
}

fn row_label(t: &TransactionView) -> String {
    let who = t.counterpart.as_deref().unwrap_or("알 수 없는 회원");
    match (t.kind.as_str(), t.direction.as_str()) {
        ("charge", _) => "충전".into(),
        ("withdraw", _) => "환전".into(),
        ("transfer", "out") => format!("{who}님에게 송금"),
        ("transfer", _) => format!("{who}님에게서 입금"),
        (other, _) => other.to_owned(),
    }
}

fn history_row(t: &TransactionView) -> Markup {
    let incoming = t.direction == "in";
    html! {
        li.list-item.tx {
            div.list-main {
                strong.tx-label { (row_label(t)) @if t.deal_id.is_some() { span.badge { "공구" } } }
                @if let Some(m) = &t.memo { p.tx-memo { (m) } }
                span.meta { (format_kst(t.created_at)) " · " span.tx-balance { "잔액 " (won(t.balance_after)) } }
            }
            div.list-side {
                span.amount.amount-in[incoming].amount-out[!incoming] {
                    (if incoming { "+" } else { "−" }) (won(t.amount))
                }
            }
        }
    }
}

fn select_options(current: Option<&str>, options: &[(&str, &str)]) -> Markup {
    let current = current.unwrap_or(options[0].0);
    html! {
        @for (value, label) in options {
            option value=(value) selected[*value == current] { (label) }
        }
    }
}

/// Service messages about the query, said for people using the filter form.
fn history_error(e: &ApiError) -> (FieldErrors, Flash) {
    let (mut fields, _) = split_error(e, None);
    for (name, msg) in [("direction", "보기 조건을 다시 골라 주세요."), ("sort", "정렬 조건을 다시 골라 주세요.")] {
        if let Some(m) = fields.get_mut(name) {
            *m = msg.to_owned();
        }
    }
    let notice = match e.code {
        "invalid_cursor" => "더 보기 주소가 올바르지 않습니다. 처음부터 다시 조회해 주세요.".to_owned(),
        _ if !fields.is_empty() => "조회 조건을 확인해 주세요.".to_owned(),
        _ => e.message.clone(),
    };
    (fields, Flash::error(notice))
}

async fn history_page(State(wallet): State<Arc<Wallet>>, WebUser(user): WebUser, Query(q): Query<HistoryQuery>) -> Response {
    let q = q.normalized();
    let params = HistoryParams {
        direction: q.direction.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
        sort: q.sort.clone(),
        limit: Some(20),
        cursor: q.cursor.clone(),
    };
    let (status, page, errors, flash) = match wallet.history(&user, params).await {
        Ok(page) => (StatusCode::OK, Some(page), FieldErrors::new(), None),
        Err(e) if e.status.is_server_error() => return page_failure(e),
        Err(e) => {
            let (errors, flash) = history_error(&e);
            (error_status(&e), None, errors, Some(flash))
        }
    };
    let body = html! {
        h1.page-title { "거래 내역" }
        section.card {
            form.stack.history-filter method="get" action="/wallet/history" {
                div.row {
                    label.field.invalid[errors.contains_key("direction")] {
                        span.label { "종류" }
                        select name="direction" id="direction" {
                            (select_options(q.direction.as_deref(), &[("all", "전체"), ("sent", "보낸 송금"), ("received", "받은 송금")]))
                        }
                        small.field-error { @if let Some(m) = errors.get("direction") { (m) } }
                    }
                    label.field.invalid[errors.contains_key("sort")] {
                        span.label { "정렬" }
                        select name="sort" id="sort" {
                            (select_options(q.sort.as_deref(), &[("newest", "최신순"), ("amount", "금액순")]))
                        }
                        small.field-error { @if let Some(m) = errors.get("sort") { (m) } }
                    }
                }
                div.row {
                    label.field.invalid[errors.contains_key("from")] {
                        span.label { "시작일" }
                        input type="date" name="from" id="from" value=(q.from.as_deref().unwrap_or(""));
                        small.field-error { @if let Some(m) = errors.get("from") { (m) } }
                    }
                    label.field.invalid[errors.contains_key("to")] {
                        span.label { "종료일" }
                        input type="date" name="to" id="to" value=(q.to.as_deref().unwrap_or(""));
                        small.field-error { @if let Some(m) = errors.get("to") { (m) } }
                    }
                }
                button.secondary.block type="submit" { "조회" }
            }
        }
        @if let Some(page) = &page {
            @if page.items.is_empty() {
                section.card.empty {
                    div.empty-icon aria-hidden="true" { "🧾" }
                    h2 { "거래 내역이 없습니다" }
                    @if q.filtered() {
                        p { "조건에 맞는 거래가 없습니다. 조건을 바꿔 보세요." }
                        a.button href="/wallet/history" { "전체 보기" }
                    } @else {
                        p { "충전하거나 송금하면 여기에 표시됩니다." }
                        a.button.primary href="/wallet#charge" { "충전하러 가기" }
                    }
                }
            } @else {
                section.card {
                    ul.list.tx-list { @for t in &page.items { (history_row(t)) } }
                }
                @if let Some(c) = &page.next_cursor {
                    a.button.block.more href=(q.url_with_cursor(c)) { "더 보기" }
                }
            }
        }
        p.auth-links { a href="/wallet" { "공구페이로 돌아가기" } }
    };
    (status, layout(Page { title: "거래 내역", tab: Tab::Wallet, user: Some(&user), flash }, body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_from_forms() {
        assert_eq!(parse_amount(" 12,000 ").unwrap().won(), 12_000);
        assert_eq!(parse_amount("").unwrap_err(), "금액을 입력해 주세요.");
        assert_eq!(parse_amount("0").unwrap_err(), "금액은 1원 이상이어야 합니다.");
        assert_eq!(parse_amount("-5").unwrap_err(), "금액은 1원 이상이어야 합니다.");
        assert_eq!(parse_amount("1.5").unwrap_err(), "금액은 1원 단위 숫자로 입력해 주세요.");
        assert_eq!(parse_amount("99999999999999999999999").unwrap_err(), "한 번에 10,000,000원까지 보낼 수 있습니다.");
    }

    #[test]
    fn more_link_keeps_filters() {
        let q = HistoryQuery {
            direction: Some("sent".into()),
            sort: None,
            from: Some("2026-11-01".into()),
            to: None,
            cursor: Some("old".into()),
        };
        assert_eq!(q.url_with_cursor("abc"), "/wallet/history?direction=sent&from=2026-11-01&cursor=abc");
    }

    #[test]
    fn labels() {
        let mut t = TransactionView {
            id: Uuid::nil(),
            kind: "transfer".into(),
            direction: "out".into(),
            amount: 12_000,
            balance_after: 18_000,
            counterpart: Some("pay_receiver".into()),
            memo: None,
            deal_id: None,
            created_at: chrono::Utc::now(),
        };
        assert_eq!(row_label(&t), "pay_receiver님에게 송금");
        t.direction = "in".into();
        assert_eq!(row_label(&t), "pay_receiver님에게서 입금");
        t.kind = "charge".into();
        assert_eq!(row_label(&t), "충전");
    }
}
