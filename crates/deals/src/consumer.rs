//! What deals learns from other contexts' events: who exists (for the seller pages) and where
//! users live (for "nearest to me"), from accounts'; who has paid, from wallet's transfers tagged
//! with a deal.

use std::sync::Arc;

use gonggu_kernel::{
    events::{spawn_consumer, Bus},
    shutdown::Shutdown,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    rules,
    store::{DealRecord, DealStore, MemberRecord, Payment},
};

pub const CONSUMER: &str = "deals-places";
pub const PAYMENTS: &str = "deals-payments";

/// The parts of accounts' `UserRegistered` / `NeighborhoodChanged` deals needs; declared here so
/// deals depends on the events' shape, not on the accounts crate.
#[derive(Debug, Deserialize)]
struct PlaceEvent {
    user_id: Uuid,
    /// Only in `UserRegistered`.
    login_id: Option<String>,
    neighborhood: Option<Place>,
    /// Only in `NeighborhoodChanged`: the other neighbourhood kept to switch to.
    #[serde(default)]
    second: Option<SecondPlace>,
}

#[derive(Debug, Deserialize)]
struct SecondPlace {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Place {
    lat: f64,
    lon: f64,
    /// Absent in events from before reaches existed.
    #[serde(default = "default_reach")]
    reach_km: i64,
}

fn default_reach() -> i64 {
    5
}

/// The part of wallet's `CoinsReceived` deals needs; declared here so deals depends on the
/// event's shape, not on the wallet crate.
#[derive(Debug, Deserialize)]
struct CoinsReceived {
    entry_id: Uuid,
    receiver_id: Uuid,
    sender_id: Uuid,
    amount: i64,
    deal_id: Option<Uuid>,
}

/// The accounts events [`PlaceEvent`] reads.
const USER_REGISTERED: &str = "UserRegistered";
const NEIGHBORHOOD_CHANGED: &str = "NeighborhoodChanged";
/// The wallet event [`CoinsReceived`] reads.
const COINS_RECEIVED: &str = "CoinsReceived";

pub async fn spawn_payments(
    bus: Arc<dyn Bus>,
    store: Arc<dyn DealStore>,
    shutdown: Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sub = bus.subscribe(PAYMENTS, &[COINS_RECEIVED]).await?;
    Ok(spawn_consumer(PAYMENTS, sub, shutdown, move |env| {
        let store = store.clone();
        async move {
            let e: CoinsReceived = serde_json::from_value(env.payload.clone())?;
            let Some(deal_id) = e.deal_id else { return Ok(()) };
            let payment =
                Payment { entry_id: e.entry_id, payer_id: e.sender_id, receiver_id: e.receiver_id, amount: e.amount, at: env.occurred_at };
            let decide = |d: &DealRecord, m: &[MemberRecord]| Ok(rules::record_payment(d, m, &payment));
            // A tag naming no deal, or a transfer that is not a member paying the host, changes
            // nothing: there is nothing to retry.
            store.change(deal_id, env.occurred_at, &decide).await?;
            Ok(())
        }
    }))
}

pub async fn spawn_places(bus: Arc<dyn Bus>, store: Arc<dyn DealStore>, shutdown: Shutdown) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sub = bus.subscribe(CONSUMER, &[USER_REGISTERED, NEIGHBORHOOD_CHANGED]).await?;
    Ok(spawn_consumer(CONSUMER, sub, shutdown, move |env| {
        let store = store.clone();
        async move {
            let e: PlaceEvent = serde_json::from_value(env.payload.clone())?;
            let place = e.neighborhood.map(|p| crate::store::Home { lat: p.lat, lon: p.lon, reach_km: p.reach_km });
            let second_name = e.second.map(|s| s.name);
            if env.event_type == USER_REGISTERED {
                let login_id = e.login_id.ok_or_else(|| anyhow::anyhow!("UserRegistered {} without login_id", env.id))?;
                let user = crate::store::NewUser { user_id: e.user_id, login_id: &login_id, home: place, joined_at: env.occurred_at };
                store.add_user(&user, CONSUMER, env.id).await?;
            } else {
                let homes = place.map(|home| crate::store::Homes { home, second_name });
                store.set_place(e.user_id, homes, CONSUMER, env.id).await?;
            }
            Ok(())
        }
    }))
}
