//! What chat brings to a process (see `gonggu_kernel::module`).

use std::sync::Arc;

use gonggu_kernel::{
    db::SqliteTuning,
    events::OutboxSignal,
    module::{Consumer, Module, Platform},
};

use crate::{api::ChatState, Chat};

pub const NAME: &str = "chat";

pub async fn module(platform: &Platform) -> anyhow::Result<(Arc<Chat>, Module)> {
    use anyhow::Context as _;
    let db = platform.database(NAME, SqliteTuning::default()).await?;
    let signal = OutboxSignal::default();
    let store = crate::store::open(&db, signal.clone()).await.context("chat migrations failed")?;
    let chat = Arc::new(Chat { store: store.clone(), clock: platform.clock.clone() });
    let module = Module::new(NAME)
        .api(crate::api::router(ChatState { chat: chat.clone(), auth: platform.auth.clone() }))
        .database_with_outbox(db, signal, None)
        .consumer(Consumer::new(crate::consumer::CONSUMER, move |bus, shutdown| crate::consumer::spawn_rooms(bus, store, shutdown)));
    Ok((chat, module))
}
