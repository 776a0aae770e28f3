//! What push hears: deals' events (members' activity, status, a new deal for keyword alerts),
//! the wallet's `CoinsReceived`, chat's `ChatMessagePosted`, accounts' `KeywordsChanged` and
//! `SessionsRevoked`. Each is handled once (the inbox claim sits in the store's transaction).

use std::sync::Arc;

use gonggu_kernel::{
    events::{spawn_consumer, Bus, Envelope},
    shutdown::Shutdown,
};
use serde::Deserialize;
use tokio::sync::RwLock;
use uuid::Uuid;

use crate::{
    keywords::KeywordIndex,
    notices::{self, ChatMessagePosted, CoinsReceived, DealFacts},
    store::PushStore,
    Push,
};

pub const CONSUMER: &str = "push-notices";
pub const SESSIONS: &str = "push-sessions";

/// Everything [`CONSUMER`] subscribes to.
pub fn event_types() -> Vec<&'static str> {
    let mut v = notices::DEAL_EVENTS.to_vec();
    v.extend(["DealCreated", "CoinsReceived", "ChatMessagePosted", "KeywordsChanged"]);
    v
}

/// The keyword automaton of this instance, rebuilt when the stored keywords' version moved.
pub struct KeywordMatcher {
    store: Arc<dyn PushStore>,
    index: RwLock<(i64, Arc<KeywordIndex>)>,
}

impl KeywordMatcher {
    pub fn new(store: Arc<dyn PushStore>) -> Self {
        Self { store, index: RwLock::new((-1, Arc::new(KeywordIndex::default()))) }
    }

    /// The index as of the stored keywords now.
    pub async fn current(&self) -> anyhow::Result<Arc<KeywordIndex>> {
        let version = self.store.keywords_version().await?;
        {
            let held = self.index.read().await;
            if held.0 == version {
                return Ok(held.1.clone());
            }
        }
        let mut held = self.index.write().await;
        if held.0 != version {
            let (version, pairs) = self.store.keywords().await?;
            // Building over 100,000 users' keywords is CPU work: off the runtime's threads.
            let index = tokio::task::spawn_blocking(move || KeywordIndex::build(pairs)).await??;
            *held = (version, Arc::new(index));
        }
        Ok(held.1.clone())
    }
}

#[derive(Debug, Deserialize)]
struct KeywordsChanged {
    user_id: Uuid,
    keywords: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct SessionsRevoked {
    session_ids: Vec<Uuid>,
}

fn decode<T: serde::de::DeserializeOwned>(env: &Envelope) -> anyhow::Result<T> {
    serde_json::from_value(env.payload.clone())
        .map_err(|e| anyhow::anyhow!("{} {} from {}: payload without what push needs: {e}", env.event_type, env.id, env.source))
}

impl Push {
    /// Handles one event (see the module's list); a redelivery changes nothing.
    pub async fn handle(&self, env: &Envelope) -> anyhow::Result<()> {
        let now = self.clock.now();
        let stored = match (env.source.as_str(), env.event_type.as_str()) {
            ("deals", "DealCreated") => {
                let f: DealFacts = decode(env)?;
                let index = self.keywords.current().await?;
                let tags = f.keywords.join(" ");
                let found = index.matches(&[&f.title, &f.description, &tags]);
                let alerts: Vec<_> = found
                    .into_iter()
                    .filter(|(user, _)| *user != f.host_id)
                    .map(|(user, keyword)| notices::keyword_alert(user, &keyword, &f))
                    .collect();
                self.store.record(&alerts, CONSUMER, env.id, now).await?
            }
            ("deals", t) if notices::DEAL_EVENTS.contains(&t) => {
                let f: DealFacts = decode(env)?;
                self.store.record(&notices::of_deal_event(t, env.id, &f), CONSUMER, env.id, now).await?
            }
            ("wallet", "CoinsReceived") => {
                let e: CoinsReceived = decode(env)?;
                self.store.record(&[notices::of_coins(&e)], CONSUMER, env.id, now).await?
            }
            ("chat", "ChatMessagePosted") => {
                let e: ChatMessagePosted = decode(env)?;
                self.store.record_chat(&e, CONSUMER, env.id, now).await?
            }
            ("accounts", "KeywordsChanged") => {
                let e: KeywordsChanged = decode(env)?;
                self.store.set_keywords(e.user_id, &e.keywords, CONSUMER, env.id).await?;
                0
            }
            _ => 0,
        };
        if stored > 0 {
            self.woke();
        }
        Ok(())
    }
}

pub async fn spawn_notices(bus: Arc<dyn Bus>, push: Arc<Push>, shutdown: Shutdown) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sub = bus.subscribe(CONSUMER, &event_types()).await?;
    Ok(spawn_consumer(CONSUMER, sub, shutdown, move |env| {
        let push = push.clone();
        async move { push.handle(&env).await }
    }))
}

/// Ended sessions' devices stop receiving (logout unsubscribes that device).
pub async fn spawn_sessions(bus: Arc<dyn Bus>, push: Arc<Push>, shutdown: Shutdown) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sub = bus.subscribe(SESSIONS, &["SessionsRevoked"]).await?;
    Ok(spawn_consumer(SESSIONS, sub, shutdown, move |env| {
        let push = push.clone();
        async move {
            let e: SessionsRevoked = decode(&env)?;
            push.store.forget_sessions(&e.session_ids).await?;
            Ok(())
        }
    }))
}
