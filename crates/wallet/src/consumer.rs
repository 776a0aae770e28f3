//! Opens a wallet for every new account, from `UserRegistered`.

use std::sync::Arc;

use gonggu_kernel::events::{spawn_consumer, tokio_util_shutdown::Shutdown, Bus, Event};
use serde::Deserialize;
use uuid::Uuid;

use crate::store::WalletStore;

pub const CONSUMER: &str = "wallet-open";

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

pub async fn spawn(bus: Arc<dyn Bus>, store: Arc<dyn WalletStore>, shutdown: Shutdown) -> anyhow::Result<tokio::task::JoinHandle<()>> {
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
