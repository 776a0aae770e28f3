//! What the wallet learns from other contexts' events: a wallet for every new account, from
//! `UserRegistered`, and who takes part in each deal (so a transfer may be tagged with a deal only
//! by one of its members paying its host), from deals' events.

use std::sync::Arc;

use gonggu_kernel::{
    events::{spawn_consumer, Bus, Event},
    shutdown::Shutdown,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::store::WalletStore;

pub const CONSUMER: &str = "wallet-open";
pub const DEALS_CONSUMER: &str = "wallet-deal-parties";

/// The part of accounts' `UserRegistered` the wallet needs. Declared here rather than imported,
/// so the wallet depends on the event's shape, not on the accounts crate.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub login_id: String,
}
impl Event for UserRegistered {
    const TYPE: &'static str = "UserRegistered";
    const SOURCE: &'static str = "accounts";
}

/// Deals' events whose facts may change who takes part in a deal. Each carries the whole
/// current party, so the newest one alone is the truth.
pub const DEAL_EVENTS: [&str; 9] = [
    "DealCreated",
    "DealUpdated",
    "MemberJoined",
    "MemberSharesChanged",
    "MemberLeft",
    "DealConfirmed",
    "DealCancelled",
    "DealFailed",
    "DealCompleted",
];

/// The part of every deal event the wallet needs (deals' `DealFacts`), declared here for the
/// same reason as [`UserRegistered`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DealParties {
    pub deal_id: Uuid,
    pub host_id: Uuid,
    pub member_ids: Vec<Uuid>,
}

pub async fn spawn_open(bus: Arc<dyn Bus>, store: Arc<dyn WalletStore>, shutdown: Shutdown) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sub = bus.subscribe(CONSUMER, &[UserRegistered::TYPE]).await?;
    Ok(spawn_consumer(CONSUMER, sub, shutdown, move |env| {
        let store = store.clone();
        async move {
            if let Some(event) = env.decode::<UserRegistered>() {
                let e = event?;
                store.open(e.user_id, &e.login_id, env.occurred_at, Some((CONSUMER, env.id))).await?;
            }
            Ok(())
        }
    }))
}

pub async fn spawn_deal_parties(
    bus: Arc<dyn Bus>,
    store: Arc<dyn WalletStore>,
    shutdown: Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sub = bus.subscribe(DEALS_CONSUMER, &DEAL_EVENTS).await?;
    Ok(spawn_consumer(DEALS_CONSUMER, sub, shutdown, move |env| {
        let store = store.clone();
        async move {
            if env.source != "deals" {
                return Ok(());
            }
            let parties: DealParties = serde_json::from_value(env.payload.clone())
                .map_err(|e| anyhow::anyhow!("{} {} from deals: payload is not deal facts: {e}", env.event_type, env.id))?;
            store.record_deal_parties(&parties, env.occurred_at, (DEALS_CONSUMER, env.id)).await?;
            Ok(())
        }
    }))
}
