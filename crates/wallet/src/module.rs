//! What the wallet brings to a process (see `gonggu_kernel::module`).

use std::{sync::Arc, time::Duration};

use gonggu_kernel::{
    db::SqliteTuning,
    events::OutboxSignal,
    module::{Consumer, Job, Module, Platform},
};

use crate::{api::WalletApiState, Wallet};

pub const NAME: &str = "wallet";

/// Money: the wallet's SQLite file fsyncs every commit (group-committed, see the store).
pub const TUNING: SqliteTuning = SqliteTuning { synchronous_full: true, max_connections: 8 };

/// Idempotency keys are kept 48 hours (the promise is at least 24).
const KEYS_KEPT: chrono::Duration = chrono::Duration::hours(48);

pub async fn module(platform: &Platform) -> anyhow::Result<(Arc<Wallet>, Module)> {
    use anyhow::Context as _;
    let db = platform.database(NAME, TUNING).await?;
    let signal = OutboxSignal::default();
    let store = crate::store::open(&db, signal.clone()).await.context("wallet migrations failed")?;
    let wallet = Arc::new(Wallet::new(store.clone(), platform.clock.clone()));
    let (opens, parties, pruned, clock) = (store.clone(), store.clone(), store.clone(), platform.clock.clone());
    let module = Module::new(NAME)
        .api(crate::api::router(WalletApiState { wallet: wallet.clone(), auth: platform.auth.clone() }))
        .pages(crate::pages::router(wallet.clone()))
        .database_with_outbox(db, signal, store.outbox_marker())
        .consumer(Consumer::new(crate::consumer::CONSUMER, move |bus, shutdown| crate::consumer::spawn_open(bus, opens, shutdown)))
        .consumer(Consumer::new(crate::consumer::DEALS_CONSUMER, move |bus, shutdown| {
            crate::consumer::spawn_deal_parties(bus, parties, shutdown)
        }))
        .job(Job::every("wallet-key-pruner", Duration::from_secs(3600), false, move || {
            let (store, before) = (pruned.clone(), clock.now() - KEYS_KEPT);
            async move {
                store.prune_keys(before).await?;
                Ok(())
            }
        }));
    Ok((wallet, module))
}
