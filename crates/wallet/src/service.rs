//! What the wallet can do, independent of HTTP.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use gonggu_kernel::{auth::AuthUser, clock::Clock, error::ErrorEnvelope, ApiError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{Amount, IdempotencyKey, Memo},
    store::{
        Direction, Executed, HistoryQuery, HistoryRow, IdempotencyClaim, Movement, MovementKind, Receipt, Refusal, SortBy, WalletStore,
    },
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct WalletView {
    pub login_id: String,
    /// Coins in the wallet (won).
    pub balance: i64,
    /// The simulated bank account (won).
    pub bank_balance: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ReceiptView {
    /// Journal entry id.
    pub id: Uuid,
    /// `charge`, `withdraw` or `transfer`.
    pub kind: String,
    pub amount: i64,
    /// Wallet balance after the movement.
    pub balance: i64,
    pub bank_balance: i64,
    pub to_login_id: Option<String>,
    pub memo: Option<String>,
    pub deal_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct TransactionView {
    pub id: Uuid,
    /// `charge`, `withdraw` or `transfer`.
    pub kind: String,
    /// `in` (money came into the wallet) or `out`.
    pub direction: String,
    pub amount: i64,
    pub balance_after: i64,
    /// The other holder of a transfer.
    pub counterpart: Option<String>,
    pub memo: Option<String>,
    pub deal_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TransactionPage {
    pub items: Vec<TransactionView>,
    pub next_cursor: Option<String>,
}

/// The answer to a money-moving request: stored with its idempotency key and replayed verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyAnswer {
    pub status: StatusCode,
    pub body: String,
    pub replayed: bool,
    kind: MovementKind,
    /// A replayed refusal (a fresh one is an `Err` of the service).
    refusal: Option<Refusal>,
}

impl MoneyAnswer {
    /// The refusal a replayed answer stands for, as an error (for pages, which show it rather
    /// than send the stored body).
    pub fn refusal(&self) -> Option<ApiError> {
        self.refusal.map(|r| refusal_error(r, self.kind))
    }
}

pub struct Wallet {
    pub store: Arc<dyn WalletStore>,
    pub clock: Clock,
    holders: HolderCache,
}

/// Holders are never removed and login ids never change, so what this process has seen stays
/// true: it spares the "is the wallet open?" read and the recipient lookup on every movement.
/// Misses are not remembered (a login id may be registered a moment later).
#[derive(Default)]
struct HolderCache {
    open: dashmap::DashSet<Uuid>,
    by_login: dashmap::DashMap<String, Uuid>,
}

/// Beyond this many entries the cache starts over rather than grow without bound.
const HOLDER_CACHE_CAP: usize = 100_000;

impl HolderCache {
    fn remember_open(&self, user_id: Uuid) {
        if self.open.len() >= HOLDER_CACHE_CAP {
            self.open.clear();
        }
        self.open.insert(user_id);
    }
    fn remember_login(&self, login_id: &str, user_id: Uuid) {
        if self.by_login.len() >= HOLDER_CACHE_CAP {
            self.by_login.clear();
        }
        self.by_login.insert(login_id.to_owned(), user_id);
    }
}

fn insufficient() -> ApiError {
    ApiError::conflict("insufficient_balance", "잔액이 부족합니다.")
}

fn refusal_error(r: Refusal, kind: MovementKind) -> ApiError {
    match (r, kind) {
        (Refusal::InsufficientFunds, MovementKind::Charge) => ApiError::conflict("insufficient_balance", "은행 계좌 잔액이 부족합니다."),
        (Refusal::InsufficientFunds, _) => insufficient(),
        (Refusal::NoSuchHolder, _) => ApiError::not_found("recipient_not_found", "받는 사람을 찾을 수 없습니다."),
        (Refusal::DealTagInvalid, _) => {
            ApiError::field("deal_id", "공구에 참여한 이웃이 공구를 연 이웃에게 보낼 때만 공구를 표시할 수 있습니다.")
                .with_code("deal_tag_invalid")
        }
    }
}

#[derive(Debug, Clone)]
pub struct TransferInput {
    pub to_login_id: String,
    pub amount: i64,
    pub memo: Option<String>,
    pub deal_id: Option<Uuid>,
}

impl Wallet {
    pub fn new(store: Arc<dyn WalletStore>, clock: Clock) -> Self {
        Wallet { store, clock, holders: HolderCache::default() }
    }

    /// Opens the caller's wallet on first use (users who existed before the wallet did).
    pub async fn ensure_open(&self, user: &AuthUser) -> Result<(), ApiError> {
        if self.holders.open.contains(&user.user_id) {
            return Ok(());
        }
        self.store.open(user.user_id, &user.login_id, self.clock.now(), None).await?;
        self.holders.remember_open(user.user_id);
        Ok(())
    }

    async fn holder_by_login(&self, login_id: &str) -> Result<Option<Uuid>, ApiError> {
        if let Some(id) = self.holders.by_login.get(login_id) {
            return Ok(Some(*id));
        }
        let found = self.store.holder_by_login(login_id).await?;
        if let Some(id) = found {
            self.holders.remember_login(login_id, id);
        }
        Ok(found)
    }

    pub async fn summary(&self, user: &AuthUser) -> Result<WalletView, ApiError> {
        self.ensure_open(user).await?;
        let b = self.store.balances(user.user_id).await?.ok_or_else(|| ApiError::internal(anyhow::anyhow!("wallet missing after open")))?;
        Ok(WalletView { login_id: user.login_id.clone(), balance: b.balance, bank_balance: b.bank_balance })
    }

    /// Who a login id is, for the "보낼 사람 확인" step; 404 when no such holder.
    pub async fn recipient(&self, user: &AuthUser, login_id: &str) -> Result<String, ApiError> {
        let login_id = login_id.trim().to_ascii_lowercase();
        if login_id == user.login_id {
            return Err(ApiError::field("to_login_id", "자신에게는 보낼 수 없습니다.").with_code("self_transfer"));
        }
        match self.holder_by_login(&login_id).await? {
            Some(_) => Ok(login_id),
            None => Err(ApiError::not_found("recipient_not_found", "받는 사람을 찾을 수 없습니다.")),
        }
    }

    pub async fn charge(&self, user: &AuthUser, key: Option<&str>, amount: i64) -> Result<MoneyAnswer, ApiError> {
        let amount = Amount::parse(amount).map_err(|e| ApiError::field("amount", e.0))?;
        let movement = Movement::Charge { user_id: user.user_id, amount: amount.won() };
        self.run(user, key, format!("charge|{}", amount.won()), movement, None).await
    }

    pub async fn withdraw(&self, user: &AuthUser, key: Option<&str>, amount: i64) -> Result<MoneyAnswer, ApiError> {
        let amount = Amount::parse(amount).map_err(|e| ApiError::field("amount", e.0))?;
        let movement = Movement::Withdraw { user_id: user.user_id, amount: amount.won() };
        self.run(user, key, format!("withdraw|{}", amount.won()), movement, None).await
    }

    pub async fn transfer(&self, user: &AuthUser, key: Option<&str>, input: TransferInput) -> Result<MoneyAnswer, ApiError> {
        let mut fields = gonggu_kernel::error::FieldErrors::new();
        let amount = Amount::parse(input.amount).map_err(|e| fields.insert("amount".into(), e.0.into())).ok();
        let memo = Memo::parse(input.memo.as_deref()).map_err(|e| fields.insert("memo".into(), e.0.into())).ok();
        let to = input.to_login_id.trim().to_ascii_lowercase();
        let self_transfer = !to.is_empty() && to == user.login_id;
        if to.is_empty() {
            fields.insert("to_login_id".into(), "받는 사람 아이디를 입력해 주세요.".into());
        } else if self_transfer {
            fields.insert("to_login_id".into(), "자신에게는 보낼 수 없습니다.".into());
        }
        let (Some(amount), Some(memo), true) = (amount, memo, fields.is_empty()) else {
            let e = ApiError::validation(fields);
            return Err(if self_transfer { e.with_code("self_transfer") } else { e });
        };
        // The key is checked before the recipient so a replay answers even if things changed since.
        let key = self.key(key)?;
        let receiver = self.holder_by_login(&to).await?;
        let memo = memo.map(|m| m.as_str().to_owned());
        let fingerprint = format!(
            "transfer|{to}|{}|{}|{}",
            amount.won(),
            memo.as_deref().unwrap_or(""),
            input.deal_id.map(|d| d.to_string()).unwrap_or_default()
        );
        let Some(receiver) = receiver else {
            // Unknown recipients are refused without storing anything: registering later makes
            // the same request valid, which is the behaviour a retrying client wants.
            return Err(ApiError::not_found("recipient_not_found", "받는 사람을 찾을 수 없습니다."));
        };
        let movement =
            Movement::Transfer { from: user.user_id, to: receiver, amount: amount.won(), memo: memo.clone(), deal_id: input.deal_id };
        self.run_with_key(user, key, fingerprint, movement, Some(to)).await
    }

    fn key(&self, key: Option<&str>) -> Result<IdempotencyKey, ApiError> {
        let raw = key.ok_or_else(|| ApiError::bad_request("idempotency_key_required", "Idempotency-Key 헤더가 필요합니다."))?;
        IdempotencyKey::parse(raw).map_err(|e| ApiError::bad_request("invalid_idempotency_key", e.0))
    }

    async fn run(
        &self,
        user: &AuthUser,
        key: Option<&str>,
        fingerprint: String,
        movement: Movement,
        to: Option<String>,
    ) -> Result<MoneyAnswer, ApiError> {
        let key = self.key(key)?;
        self.run_with_key(user, key, fingerprint, movement, to).await
    }

    async fn run_with_key(
        &self,
        user: &AuthUser,
        key: IdempotencyKey,
        fingerprint: String,
        movement: Movement,
        to: Option<String>,
    ) -> Result<MoneyAnswer, ApiError> {
        self.ensure_open(user).await?;
        let claim = IdempotencyClaim {
            user_id: user.user_id,
            key: key.as_str().to_owned(),
            request_hash: Sha256::digest(fingerprint.as_bytes()).to_vec(),
        };
        let (memo, deal_id) = match &movement {
            Movement::Transfer { memo, deal_id, .. } => (memo.clone(), *deal_id),
            _ => (None, None),
        };
        let kind = movement.kind();
        let render: crate::store::Render = Arc::new(move |outcome: Result<&Receipt, Refusal>| -> (u16, String) {
            match outcome {
                Ok(r) => {
                    let view = ReceiptView {
                        id: r.entry_id,
                        kind: r.kind.to_owned(),
                        amount: r.amount,
                        balance: r.balance,
                        bank_balance: r.bank_balance,
                        to_login_id: to.clone(),
                        memo: memo.clone(),
                        deal_id,
                        created_at: r.created_at,
                    };
                    (201, serde_json::to_string(&view).expect("a receipt serialises"))
                }
                Err(refusal) => {
                    let e = refusal_error(refusal, kind);
                    (e.status.as_u16(), serde_json::to_string(&ErrorEnvelope { error: e.body() }).expect("an error envelope serialises"))
                }
            }
        });
        match self.store.execute(&movement, &claim, self.clock.now(), render).await? {
            // A live refusal is answered as a live error: the same body as stored, plus the
            // request id the edge adds.
            Executed::Fresh { outcome: Err(refusal), .. } => Err(refusal_error(refusal, kind)),
            Executed::Fresh { outcome: Ok(_), answer } => {
                Ok(MoneyAnswer { status: stored_status(answer.status)?, body: answer.body, replayed: false, kind, refusal: None })
            }
            Executed::Replayed(answer) => {
                Ok(MoneyAnswer { status: stored_status(answer.status)?, body: answer.body, replayed: true, kind, refusal: answer.refusal })
            }
            Executed::KeyReused => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "이미 다른 요청에 사용한 Idempotency-Key입니다. 새 키로 보내 주세요.",
            )),
        }
    }

    pub async fn history(&self, user: &AuthUser, params: HistoryParams) -> Result<TransactionPage, ApiError> {
        self.ensure_open(user).await?;
        let direction = match params.direction.as_deref().unwrap_or("all") {
            "all" => Direction::All,
            "sent" => Direction::Sent,
            "received" => Direction::Received,
            _ => return Err(ApiError::field("direction", "direction은 all, sent, received 중 하나입니다.")),
        };
        let sort = match params.sort.as_deref().unwrap_or("newest") {
            "newest" => SortBy::Newest,
            "amount" => SortBy::Amount,
            _ => return Err(ApiError::field("sort", "sort는 newest, amount 중 하나입니다.")),
        };
        let from_ms = params.from.as_deref().map(|s| parse_bound(s, false)).transpose().map_err(|m| ApiError::field("from", m))?;
        let to_ms = params.to.as_deref().map(|s| parse_bound(s, true)).transpose().map_err(|m| ApiError::field("to", m))?;
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f >= t {
                return Err(ApiError::field("to", "끝 날짜는 시작 날짜보다 뒤여야 합니다."));
            }
        }
        let after = params.cursor.as_deref().map(gonggu_kernel::page::decode_cursor).transpose()?;
        let limit = gonggu_kernel::page::clamp_limit(params.limit);
        let q = HistoryQuery { direction, sort, from_ms, to_ms, after, limit: limit + 1 };
        let mut rows = self.store.history(user.user_id, &q).await?;
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| gonggu_kernel::page::encode_cursor(r.amount, r.seq))
        } else {
            None
        };
        Ok(TransactionPage { items: rows.into_iter().map(transaction_view).collect(), next_cursor })
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct HistoryParams {
    /// `all` (default), `sent` (transfers out) or `received` (transfers in).
    #[param(schema_with = direction_schema)]
    pub direction: Option<String>,
    /// Start, inclusive: RFC 3339 or a date `YYYY-MM-DD` (Asia/Seoul).
    pub from: Option<String>,
    /// End: RFC 3339 (exclusive) or a date `YYYY-MM-DD` (Asia/Seoul, inclusive of that day).
    pub to: Option<String>,
    /// `newest` (default) or `amount` (largest first).
    #[param(schema_with = sort_schema)]
    pub sort: Option<String>,
    #[serde(default, deserialize_with = "gonggu_kernel::page::deserialize_limit")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn direction_schema() -> utoipa::openapi::Object {
    gonggu_kernel::page::string_enum(&["all", "sent", "received"])
}

fn sort_schema() -> utoipa::openapi::Object {
    gonggu_kernel::page::string_enum(&["newest", "amount"])
}

fn transaction_view(r: HistoryRow) -> TransactionView {
    TransactionView {
        id: r.entry_id,
        kind: r.kind,
        direction: if r.delta > 0 { "in".into() } else { "out".into() },
        amount: r.amount,
        balance_after: r.balance_after,
        counterpart: r.counterpart,
        memo: r.memo,
        deal_id: r.deal_id,
        created_at: r.created_at,
    }
}

fn stored_status(status: u16) -> Result<StatusCode, ApiError> {
    StatusCode::from_u16(status).map_err(|_| ApiError::internal(anyhow::anyhow!("stored answer has status {status}")))
}

/// A date is a whole day in Korea: `from=2026-11-25` starts at 00:00 KST, `to=2026-11-25` ends at
/// the next midnight KST.
fn parse_bound(s: &str, end: bool) -> Result<i64, &'static str> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "날짜는 YYYY-MM-DD 또는 RFC 3339 형식이어야 합니다.")?;
    let d = if end { d.succ_opt().ok_or("날짜가 너무 큽니다.")? } else { d };
    let kst = chrono::FixedOffset::east_opt(9 * 3600).expect("offset");
    let t = d.and_hms_opt(0, 0, 0).expect("midnight").and_local_timezone(kst).single().ok_or("날짜가 올바르지 않습니다.")?;
    Ok(t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn dates_are_korean_days() {
        // 2026-11-25 00:00 KST = 2026-11-24 15:00 UTC
        let from = parse_bound("2026-11-25", false).unwrap();
        assert_eq!(from, Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap().timestamp_millis());
        let to = parse_bound("2026-11-25", true).unwrap();
        assert_eq!(to - from, 24 * 3600 * 1000);
        assert!(parse_bound("2026-13-01", false).is_err());
        assert_eq!(
            parse_bound("2026-11-25T00:00:00Z", false).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap().timestamp_millis()
        );
    }
}
