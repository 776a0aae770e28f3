//! What push hears: deals' events (members' activity, status, a new deal for keyword alerts),
//! the wallet's `CoinsReceived`, chat's `ChatMessagePosted`, accounts' `KeywordsChanged`,
//! `UserRegistered` / `NeighborhoodChanged` (how far a user's keyword alerts reach) and
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
    v.extend(["DealCreated", "CoinsReceived", "ChatMessagePosted", "KeywordsChanged", "UserRegistered", "NeighborhoodChanged"]);
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

/// The part of accounts' `UserRegistered` / `NeighborhoodChanged` push needs.
#[derive(Debug, Deserialize)]
struct NeighborhoodOf {
    user_id: Uuid,
    neighborhood: Option<Neighborhood>,
}

#[derive(Debug, Deserialize)]
struct Neighborhood {
    lat: f64,
    lon: f64,
    /// Absent in events from before reaches existed.
    #[serde(default = "default_reach")]
    reach_km: i64,
}

fn default_reach() -> i64 {
    5
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
                let found: Vec<(Uuid, String)> =
                    index.matches(&[&f.title, &f.description, &tags]).into_iter().filter(|(user, _)| *user != f.host_id).collect();
                // Only neighbours whose reach takes the meeting place in (users without a
                // neighbourhood, and deals without a place, are not narrowed).
                let homes = match f.meeting_place {
                    Some(_) if !found.is_empty() => self.store.homes(&found.iter().map(|(u, _)| *u).collect::<Vec<_>>()).await?,
                    _ => Default::default(),
                };
                let alerts: Vec<_> = found
                    .into_iter()
                    .filter(|(user, _)| match (f.meeting_place, homes.get(user)) {
                        (Some(p), Some(home)) => home.reaches(p.lat, p.lon),
                        _ => true,
                    })
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
            ("accounts", "UserRegistered" | "NeighborhoodChanged") => {
                let e: NeighborhoodOf = decode(env)?;
                let home = e.neighborhood.map(|n| crate::store::Home { lat: n.lat, lon: n.lon, reach_km: n.reach_km });
                self.store.set_home(e.user_id, home, CONSUMER, env.id).await?;
                0
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
