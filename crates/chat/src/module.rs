//! What chat brings to a process (see `gonggu_kernel::module`).

use std::sync::Arc;

use gonggu_kernel::{
    db::SqliteTuning,
    events::OutboxSignal,
    fanout::Fanout,
    module::{Consumer, Job, Module, Platform},
    shutdown::Shutdown,
};

use crate::{api::ChatState, ws::WsState, Chat};

pub const NAME: &str = "chat";

/// Hands the frames other instances publish to this instance's sockets, until shutdown; a lost
/// subscription is opened again (what went by meanwhile is filled from storage by the sockets).
async fn listen_to_other_instances(fanout: Arc<dyn Fanout>, chat: Arc<Chat>, shutdown: Shutdown) {
    use futures::StreamExt as _;
    loop {
        match fanout.subscribe(crate::FANOUT_FAMILY).await {
            Ok(mut feed) => loop {
                tokio::select! {
                    next = feed.next() => match next {
                        Some(payload) => chat.deliver_relayed(&payload),
                        None => break,
                    },
                    _ = shutdown.wait() => return,
                }
            },
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "chat fan-out subscription failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.wait() => return,
        }
    }
}

pub async fn module(platform: &Platform, images: Arc<dyn gonggu_kernel::images::ImageCatalog>) -> anyhow::Result<(Arc<Chat>, Module)> {
    use anyhow::Context as _;
    let db = platform.database(NAME, SqliteTuning::default()).await?;
    let signal = OutboxSignal::default();
    let store = crate::store::open(&db, signal.clone()).await.context("chat migrations failed")?;
    let chat = Arc::new(Chat::new(store, platform.clock.clone(), platform.fanout.clone(), images));
    // The socket sits with the pages: their middleware signs a browser in from its cookie.
    let socket = axum::Router::new()
        .route("/ws", axum::routing::get(crate::ws::upgrade))
        .with_state(WsState { chat: chat.clone(), auth: platform.auth.clone() })
        .merge(crate::pages::router(chat.clone()));
    let (rooms, sessions, notices, rates, viewers) = (chat.clone(), chat.clone(), chat.clone(), chat.clone(), chat.clone());
    let mut module = Module::new(NAME)
        .api(crate::api::router(ChatState { chat: chat.clone(), auth: platform.auth.clone() }))
        .pages(socket)
        .database_with_outbox(db, signal, None)
        .consumer(Consumer::new(crate::consumer::CONSUMER, move |bus, shutdown| crate::consumer::spawn_rooms(bus, rooms, shutdown)))
        .consumer(Consumer::new(crate::consumer::SESSIONS_FEED, move |bus, shutdown| {
            crate::consumer::spawn_sessions(bus, sessions, shutdown)
        }))
        .consumer(Consumer::new(crate::consumer::NOTICES_FEED, move |bus, shutdown| crate::consumer::spawn_notices(bus, notices, shutdown)))
        .job(Job::every("chat-send-rates", std::time::Duration::from_secs(60), false, move || {
            rates.prune();
            async { Ok(()) }
        }))
        .job(Job::every("chat-stale-viewers", std::time::Duration::from_secs(60), false, move || {
            let viewers = viewers.clone();
            async move { viewers.forget_stale_viewers().await }
        }));
    if let Some(fanout) = platform.fanout.clone() {
        let relayed = chat.clone();
        module = module.job(Job::new("chat-fanout", move |shutdown| listen_to_other_instances(fanout, relayed, shutdown)));
    }
    Ok((chat, module))
}
