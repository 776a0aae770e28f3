//! What push brings to a process (see `gonggu_kernel::module`).

use std::{sync::Arc, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use gonggu_kernel::{
    db::SqliteTuning,
    events::OutboxSignal,
    module::{Consumer, Job, Module, Platform},
};

use crate::{
    api::PushState,
    delivery::{Worker, WorkerConfig},
    sender::Sender,
    vapid::Vapid,
    Push,
};

pub const NAME: &str = "push";

#[derive(Debug, Clone, Default)]
pub struct PushConfig {
    /// Base64url PKCS#8 P-256 key shared by every instance; `None`: the one made at first start.
    pub vapid_private_key: Option<String>,
    /// The VAPID `sub`: how push services reach the operator (the public URL).
    pub contact: String,
    /// Test only: accept `http://127.0.0.1:<port>` endpoints (local push-service stubs).
    pub allow_insecure_loopback: bool,
    pub worker: WorkerConfig,
    /// How long one push may take.
    pub send_timeout: Option<Duration>,
}

pub async fn module(platform: &Platform, config: PushConfig) -> anyhow::Result<(Arc<Push>, Arc<Worker>, Module)> {
    use anyhow::Context as _;
    let db = platform.database(NAME, SqliteTuning::default()).await?;
    let signal = OutboxSignal::default();
    let store = crate::store::open(&db, signal.clone()).await.context("push migrations failed")?;
    let der = match &config.vapid_private_key {
        Some(k) => URL_SAFE_NO_PAD.decode(k.trim()).context("push.vapid_private_key is not base64url")?,
        None => store.vapid_key(&crate::vapid::generate(), platform.clock.now()).await.context("cannot keep the VAPID key")?,
    };
    let vapid = Arc::new(Vapid::from_pkcs8(&der, &config.contact)?);
    let public_key = vapid.public_key().to_owned();
    let sender = Arc::new(Sender::new(vapid, config.send_timeout.unwrap_or(Duration::from_secs(10)), config.allow_insecure_loopback)?);
    let worker_config = WorkerConfig { allow_loopback: config.allow_insecure_loopback, ..config.worker.clone() };
    let worker = Worker::new(store.clone(), platform.clock.clone(), sender, worker_config);
    let push = Arc::new(Push::new(store.clone(), platform.clock.clone(), public_key, config.allow_insecure_loopback, worker.wake.clone()));
    let (notices, sessions, runner) = (push.clone(), push.clone(), worker.clone());
    let (stale, old) = (store.clone(), store);
    let (clock, stale_clock) = (platform.clock.clone(), platform.clock.clone());
    let module = Module::new(NAME)
        .api(crate::api::router(PushState { push: push.clone(), auth: platform.auth.clone() }))
        .pages(crate::pages::router(push.clone()))
        .database_with_outbox(db, signal, None)
        .consumer(Consumer::new(crate::consumer::CONSUMER, move |bus, shutdown| crate::consumer::spawn_notices(bus, notices, shutdown)))
        .consumer(Consumer::new(crate::consumer::SESSIONS, move |bus, shutdown| crate::consumer::spawn_sessions(bus, sessions, shutdown)))
        .job(Job::new("push-delivery", move |shutdown| runner.run(shutdown)))
        .job(Job::every("push-abandoned", Duration::from_secs(30), true, move || {
            let (stale, now) = (stale.clone(), stale_clock.now());
            async move {
                let n = stale.abandon_stale(now).await?;
                if n > 0 {
                    tracing::warn!(deliveries = n, "pushes whose sender stopped mid-send are not sent again");
                }
                Ok(())
            }
        }))
        .job(Job::every("push-inbox-prune", Duration::from_secs(3600), false, move || {
            let (old, now) = (old.clone(), clock.now());
            async move { old.prune(now - crate::KEEP_FOR).await.map(drop).map_err(Into::into) }
        }));
    Ok((push, worker, module))
}
