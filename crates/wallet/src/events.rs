//! Events the wallet publishes through its outbox.

use gonggu_kernel::events::Event;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Coins arrived in someone's wallet (push tells the receiver).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoinsReceived {
    pub entry_id: Uuid,
    pub receiver_id: Uuid,
    pub receiver_login_id: String,
    pub sender_id: Uuid,
    pub sender_login_id: String,
    pub amount: i64,
    pub memo: Option<String>,
    pub deal_id: Option<Uuid>,
}
impl Event for CoinsReceived {
    const TYPE: &'static str = "CoinsReceived";
    const SOURCE: &'static str = "wallet";
}
