//! What the deals store tests share: a service without images, and a deal opened straight
//! through the store.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use gonggu_deals::{
    domain::{DealStatus, MeetingPlace},
    service::{Deals, ImageCatalog},
    store::{DealRecord, MemberRecord},
};
use gonggu_kernel::{clock::Clock, db::Db, events::OutboxSignal};
use uuid::Uuid;

pub struct NoImages;

#[async_trait::async_trait]
impl ImageCatalog for NoImages {
    async fn exists(&self, _: &str) -> anyhow::Result<bool> {
        Ok(false)
    }
    async fn store(&self, _: Vec<u8>) -> anyhow::Result<Result<String, String>> {
        Ok(Err("no images here".into()))
    }
}

/// The service over a store opened on `db`, on a manual clock.
pub fn deals_on(db: &Db, rt: &tokio::runtime::Runtime) -> Deals {
    let store = rt.block_on(gonggu_deals::store::open(db, OutboxSignal::default())).unwrap();
    Deals { store, clock: Clock::manual(Utc::now()), images: Arc::new(NoImages) }
}

/// A recruiting deal of `host` with 5 shares, `taken` of them the host's.
pub struct Opened {
    pub title: String,
    pub taken: i64,
    pub deadline: DateTime<Utc>,
    pub place: Option<MeetingPlace>,
}

/// Opens it through the store (as the service would, minus the checks); answers its id.
pub async fn open(deals: &Deals, host: Uuid, login: &str, o: Opened) -> Uuid {
    let now = deals.clock.now();
    let d = DealRecord {
        seq: 0,
        id: Uuid::now_v7(),
        host_id: host,
        host_login_id: login.into(),
        title: o.title,
        description: String::new(),
        category_id: 1,
        product_url: None,
        total_price: 10_000,
        shares_total: 5,
        shares_taken: o.taken,
        min_shares: 5,
        items_per_share: 1,
        unit: "개".into(),
        deadline: o.deadline,
        meeting_place: o.place,
        keywords: vec![],
        images: vec![],
        status: DealStatus::Recruiting,
        views: 0,
        created_at: now,
    };
    let member = MemberRecord { user_id: host, login_id: login.into(), shares: o.taken, is_host: true, joined_at: now, paid: 0 };
    deals.store.create(&d, &member, now).await.unwrap();
    d.id
}

/// Two days from the service's now.
#[allow(dead_code)] // not every test file uses every helper
pub fn in_two_days(deals: &Deals) -> DateTime<Utc> {
    deals.clock.now() + Duration::days(2)
}
