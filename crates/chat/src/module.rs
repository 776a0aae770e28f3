//! What chat brings to a process (see `gonggu_kernel::module`).

use std::sync::Arc;

use gonggu_kernel::{
    db::SqliteTuning,
    events::OutboxSignal,
    module::{Consumer, Job, Module, Platform},
};

use crate::{api::ChatState, ws::WsState, Chat};

pub const NAME: &str = "chat";

pub async fn module(platform: &Platform) -> anyhow::Result<(Arc<Chat>, Module)> {
    use anyhow::Context as _;
    let db = platform.database(NAME, SqliteTuning::default()).await?;
    let signal = OutboxSignal::default();
    let store = crate::store::open(&db, signal.clone()).await.context("chat migrations failed")?;
    let chat = Arc::new(Chat::new(store, platform.clock.clone()));
    // The socket sits with the pages: their middleware signs a browser in from its cookie.
    let socket = axum::Router::new()
        .route("/ws", axum::routing::get(crate::ws::upgrade))
        .with_state(WsState { chat: chat.clone(), auth: platform.auth.clone() });
    let (rooms, sessions, rates) = (chat.clone(), chat.clone(), chat.clone());
    let module = Module::new(NAME)
        .api(crate::api::router(ChatState { chat: chat.clone(), auth: platform.auth.clone() }))
        .pages(socket)
        .database_with_outbox(db, signal, None)
        .consumer(Consumer::new(crate::consumer::CONSUMER, move |bus, shutdown| crate::consumer::spawn_rooms(bus, rooms, shutdown)))
        .consumer(Consumer::new(crate::consumer::SESSIONS_FEED, move |bus, shutdown| {
            crate::consumer::spawn_sessions(bus, sessions, shutdown)
        }))
        .job(Job::every("chat-send-rates", std::time::Duration::from_secs(60), false, move || {
            rates.prune_rates();
            async { Ok(()) }
        }));
    Ok((chat, module))
}
