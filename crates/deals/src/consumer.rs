//! Who exists (for the seller pages) and where users live (for "nearest to me"), from accounts'
//! events.

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
    /// Only in `UserRegistered`.
    login_id: Option<String>,
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
            let place = e.neighborhood.map(|p| (p.lat, p.lon));
            if env.event_type == "UserRegistered" {
                let login_id = e.login_id.ok_or_else(|| anyhow::anyhow!("UserRegistered {} without login_id", env.id))?;
                store.add_user(e.user_id, &login_id, place, CONSUMER, env.id).await?;
            } else {
                store.set_place(e.user_id, place, CONSUMER, env.id).await?;
            }
            Ok(())
        }
    }))
}
