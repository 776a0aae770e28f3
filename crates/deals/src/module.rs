//! What deals brings to a process (see `gonggu_kernel::module`).

use std::{sync::Arc, time::Duration};

use gonggu_kernel::{
    db::SqliteTuning,
    events::{spawn_consumer, OutboxSignal},
    module::{Consumer, Job, Module, Platform},
    once::OnceTokens,
};

use crate::{api::DealsState, cache::FirstPageCache, domain::DealEvent, service::ImageCatalog, Deals};

pub const NAME: &str = "deals";

/// Deals past their deadline below the tipping point fail, and deals within 24 hours of it are
/// announced once; checked this often.
const DEADLINE_PASS_EVERY: Duration = Duration::from_secs(15);

/// The feed that tells this process's list cache about deal writes made by other processes.
const LIST_CACHE_FEED: &str = "deals-list-cache";

pub struct DealsConfig {
    /// Whether images named in a deal exist, and storing uploads from the page forms (media, in-process).
    pub images: Arc<dyn ImageCatalog>,
    /// How long a cached first page of deals may live.
    pub list_cache_for: Duration,
}

pub async fn module(platform: &Platform, config: DealsConfig) -> anyhow::Result<(Arc<Deals>, Module)> {
    use anyhow::Context as _;
    let db = platform.database(NAME, SqliteTuning::default()).await?;
    let signal = OutboxSignal::default();
    let store = crate::store::open(&db, signal.clone()).await.context("deals migrations failed")?;
    let once = OnceTokens::open(&db).await.context("deals form tokens")?;
    let cache = FirstPageCache::shared(store, config.list_cache_for);
    let deals = Arc::new(Deals { store: cache.clone(), clock: platform.clock.clone(), images: config.images });
    let (places, payments, ticking) = (deals.store.clone(), deals.store.clone(), deals.clone());
    let module = Module::new(NAME)
        .api(crate::api::router(DealsState { deals: deals.clone(), auth: platform.auth.clone() }))
        .pages(crate::pages::router(deals.clone(), once))
        .database_with_outbox(db, signal, None)
        .consumer(Consumer::new(crate::consumer::CONSUMER, move |bus, shutdown| crate::consumer::spawn_places(bus, places, shutdown)))
        .consumer(Consumer::new(crate::consumer::PAYMENTS, move |bus, shutdown| crate::consumer::spawn_payments(bus, payments, shutdown)))
        // Its own writes invalidate the cache directly; other processes' arrive as events, on a
        // feed of this process's own (every instance must hear every write).
        .consumer(Consumer::new(LIST_CACHE_FEED, move |bus, shutdown| async move {
            let sub = bus.subscribe_each_instance(LIST_CACHE_FEED, &DealEvent::CHANGES.map(DealEvent::name), Duration::ZERO).await?;
            Ok(spawn_consumer(LIST_CACHE_FEED, sub, shutdown, move |_| {
                cache.invalidate();
                async { Ok(()) }
            }))
        }))
        .job(Job::every("deals-deadline-pass", DEADLINE_PASS_EVERY, true, move || {
            let deals = ticking.clone();
            async move {
                deals.tick().await?;
                Ok(())
            }
        }));
    Ok((deals, module))
}
