//! Where users live, from accounts' events (for "nearest to me").

use std::sync::Arc;

use gonggu_kernel::events::{spawn_consumer, tokio_util_shutdown::Shutdown, Bus};
use serde::Deserialize;
use uuid::Uuid;

use crate::store::DealStore;

pub const CONSUMER: &str = "deals-places";

/// The parts of accounts' `UserRegistered` / `NeighborhoodChanged` deals needs; declared here so
/// deals depends on the events' shape, not on the accounts crate.
#[derive(Debug, Deserialize)]
struct PlaceEvent {
    user_id: Uuid,
    neighborhood: Option<Place>,
}

#[derive(Debug, Deserialize)]
struct Place {
    lat: f64,
    lon: f64,
}

pub async fn spawn(bus: Arc<dyn Bus>, store: Arc<dyn DealStore>, shutdown: Shutdown) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sub = bus.subscribe(CONSUMER, &["UserRegistered", "NeighborhoodChanged"]).await?;
    Ok(spawn_consumer(CONSUMER, sub, shutdown, move |env| {
        let store = store.clone();
        async move {
            let e: PlaceEvent = serde_json::from_value(env.payload.clone())?;
            if env.event_type == "UserRegistered" && e.neighborhood.is_none() {
                return Ok(());
            }
            store.set_place(e.user_id, e.neighborhood.map(|p| (p.lat, p.lon)), CONSUMER, env.id).await?;
            Ok(())
        }
    }))
}
