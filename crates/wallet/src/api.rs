//! The wallet JSON API (DESIGN §4). Every money-moving POST needs an `Idempotency-Key`.

use std::sync::Arc;

use axum::{
    extract::{FromRef, Path, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use gonggu_kernel::{
    auth::{AuthUser, Authenticator},
    error::ErrorEnvelope,
    ApiError, Json, Query,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::service::{HistoryParams, MoneyAnswer, ReceiptView, TransactionPage, TransferInput, Wallet, WalletView};

#[derive(Clone, FromRef)]
pub struct WalletApiState {
    pub wallet: Arc<Wallet>,
    pub auth: Arc<Authenticator>,
}

pub fn router(state: WalletApiState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(charge))
        .routes(routes!(withdraw))
        .routes(routes!(transfer))
        .routes(routes!(transactions))
        .routes(routes!(recipient))
        .with_state(state)
}

fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    headers.get("idempotency-key").and_then(|v| v.to_str().ok())
}

impl IntoResponse for MoneyAnswer {
    fn into_response(self) -> Response {
        let mut res = (self.status, [(header::CONTENT_TYPE, "application/json")], self.body).into_response();
        if self.replayed {
            res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        res
    }
}

/// Wallet and bank balances (opens the wallet on first use, with 100,000원 in the bank).
#[utoipa::path(get, path = "/api/v1/wallet", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = WalletView), (status = 401, body = ErrorEnvelope)))]
async fn summary(State(s): State<WalletApiState>, user: AuthUser) -> Result<Json<WalletView>, ApiError> {
    Ok(Json(s.wallet.summary(&user).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct AmountInput {
    /// Won, 1 ..= 10,000,000.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub amount: i64,
}

/// Bank → wallet. Needs `Idempotency-Key`; a repeat with the same key and body returns the stored answer.
#[utoipa::path(post, path = "/api/v1/wallet/charge", tag = "wallet", security(("bearer" = [])), request_body = AmountInput,
    params(("Idempotency-Key" = String, Header, description = "unique per operation, e.g. a UUID", pattern = r"^[!-~]{1,255}$")),
    responses((status = 201, body = ReceiptView), (status = 400, description = "missing Idempotency-Key", body = ErrorEnvelope),
              (status = 401, body = ErrorEnvelope), (status = 409, description = "insufficient_balance", body = ErrorEnvelope),
              (status = 422, description = "amount out of range, or key reused with another body", body = ErrorEnvelope)))]
async fn charge(
    State(s): State<WalletApiState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(input): Json<AmountInput>,
) -> Result<MoneyAnswer, ApiError> {
    s.wallet.charge(&user, idempotency_key(&headers), input.amount).await
}

/// Wallet → bank. Needs `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/wallet/withdraw", tag = "wallet", security(("bearer" = [])), request_body = AmountInput,
    params(("Idempotency-Key" = String, Header, description = "unique per operation, e.g. a UUID", pattern = r"^[!-~]{1,255}$")),
    responses((status = 201, body = ReceiptView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn withdraw(
    State(s): State<WalletApiState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(input): Json<AmountInput>,
) -> Result<MoneyAnswer, ApiError> {
    s.wallet.withdraw(&user, idempotency_key(&headers), input.amount).await
}

#[derive(Deserialize, ToSchema)]
pub struct TransferBody {
    #[schema(pattern = r"^\s*[A-Za-z0-9_]{3,20}\s*$")]
    pub to_login_id: String,
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub amount: i64,
    /// At most 100 characters once trimmed; blank means none.
    #[schema(max_length = 100)]
    pub memo: Option<String>,
    /// The group buy this pays for, if any.
    pub deal_id: Option<Uuid>,
}

/// Send coins to another user by login id. Needs `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/wallet/transfers", tag = "wallet", security(("bearer" = [])), request_body = TransferBody,
    params(("Idempotency-Key" = String, Header, description = "unique per operation, e.g. a UUID", pattern = r"^[!-~]{1,255}$")),
    responses((status = 201, body = ReceiptView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 404, description = "recipient_not_found", body = ErrorEnvelope), (status = 409, description = "insufficient_balance", body = ErrorEnvelope),
              (status = 422, description = "validation, self_transfer, idempotency_key_reused", body = ErrorEnvelope)))]
async fn transfer(
    State(s): State<WalletApiState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(b): Json<TransferBody>,
) -> Result<MoneyAnswer, ApiError> {
    let input = TransferInput { to_login_id: b.to_login_id, amount: b.amount, memo: b.memo, deal_id: b.deal_id };
    s.wallet.transfer(&user, idempotency_key(&headers), input).await
}

/// Wallet history, newest first or largest first, cursor-paged.
#[utoipa::path(get, path = "/api/v1/wallet/transactions", tag = "wallet", security(("bearer" = [])), params(HistoryParams),
    responses((status = 200, body = TransactionPage), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn transactions(
    State(s): State<WalletApiState>,
    user: AuthUser,
    Query(q): Query<HistoryParams>,
) -> Result<Json<TransactionPage>, ApiError> {
    Ok(Json(s.wallet.history(&user, q).await?))
}

#[derive(Serialize, ToSchema)]
struct Recipient {
    login_id: String,
}

/// Check a recipient before confirming a transfer.
#[utoipa::path(get, path = "/api/v1/wallet/recipients/{login_id}", tag = "wallet", security(("bearer" = [])), params(("login_id" = String, Path)),
    responses((status = 200, body = Recipient), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn recipient(State(s): State<WalletApiState>, user: AuthUser, Path(login_id): Path<String>) -> Result<Json<Recipient>, ApiError> {
    Ok(Json(Recipient { login_id: s.wallet.recipient(&user, &login_id).await? }))
}
