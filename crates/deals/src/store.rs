//! Deals storage. Every change to a deal runs as one transaction around a pure decision: the store
//! locks the deal (PostgreSQL `FOR UPDATE`; SQLite `BEGIN IMMEDIATE`), loads it with its members,
//! asks [`crate::rules`] what to do, applies the plan, writes the events to the outbox and commits.
//! The database's CHECK on `shares_taken <= shares_total` and the one-row-per-member primary key
//! hold even if a rule were wrong.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use gonggu_kernel::{
    db::Db,
    events::{Envelope, OutboxExt, OutboxSignal},
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    domain::{DealEvent, DealStatus, MeetingPlace},
    rules::DealError,
    search,
};

#[derive(Debug, Clone, PartialEq)]
pub struct DealRecord {
    pub seq: i64,
    pub id: Uuid,
    pub host_id: Uuid,
    pub host_login_id: String,
    pub title: String,
    pub description: String,
    pub category_id: i64,
    pub product_url: Option<String>,
    pub total_price: i64,
    pub shares_total: i64,
    pub shares_taken: i64,
    pub min_shares: i64,
    pub items_per_share: i64,
    pub unit: String,
    pub deadline: DateTime<Utc>,
    pub meeting_place: Option<MeetingPlace>,
    pub keywords: Vec<String>,
    /// Media keys, the first is the cover.
    pub images: Vec<String>,
    pub status: DealStatus,
    pub views: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub user_id: Uuid,
    pub login_id: String,
    pub shares: i64,
    pub is_host: bool,
    pub joined_at: DateTime<Utc>,
    /// Won received from this member by transfers tagged with the deal.
    pub paid: i64,
}

/// A transfer tagged with a deal, as wallet's `CoinsReceived` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The wallet entry: a payment counts once however often its event arrives.
    pub entry_id: Uuid,
    pub payer_id: Uuid,
    pub receiver_id: Uuid,
    pub amount: i64,
    pub at: DateTime<Utc>,
}

/// What a decision wants done to one deal.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// New values for the deal's editable columns.
    pub edited: Option<DealRecord>,
    pub upsert_member: Option<MemberRecord>,
    pub remove_member: Option<Uuid>,
    pub payment: Option<Payment>,
    pub shares_taken: Option<i64>,
    pub status: Option<DealStatus>,
    /// Event types to publish (`MemberJoined`, `DealConfirmed`, …), with the acting member if any.
    pub events: Vec<DealEvent>,
    pub actor: Option<(Uuid, String, i64)>,
}

impl Plan {
    /// Whether the deal's own row changes (a recorded payment alone does not change it).
    fn changes_the_deal(&self) -> bool {
        self.edited.is_some()
            || self.upsert_member.is_some()
            || self.remove_member.is_some()
            || self.shares_taken.is_some()
            || self.status.is_some()
    }
}

pub type Decide<'a> = &'a (dyn Fn(&DealRecord, &[MemberRecord]) -> Result<Plan, DealError> + Send + Sync);

/// The facts every deal event carries, so chat and push never have to call back.
#[derive(Debug, Clone, Serialize)]
pub struct DealFacts {
    pub deal_id: Uuid,
    pub title: String,
    /// With the keywords, what push matches users' interest keywords against; only on
    /// `DealCreated` (no other event needs the text, and joins are the busiest events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keywords: Option<Vec<String>>,
    pub host_id: Uuid,
    pub host_login_id: String,
    pub status: DealStatus,
    pub shares_taken: i64,
    pub shares_total: i64,
    pub member_ids: Vec<Uuid>,
    /// Everyone in the deal now, host included, with their login ids and shares.
    pub members: Vec<MemberFact>,
    /// The member who joined, changed or left, when the event is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberFact>,
    /// Where it meets, on `DealCreated` (keyword alerts reach only the neighbours it is near).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting_place: Option<PointFact>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PointFact {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberFact {
    pub user_id: Uuid,
    pub login_id: String,
    pub shares: i64,
}

/// The envelope of deal event `e`: the deal's facts as they are now.
pub fn event(
    e: DealEvent,
    deal: &DealRecord,
    members: &[MemberRecord],
    actor: Option<&(Uuid, String, i64)>,
    now: DateTime<Utc>,
) -> Envelope {
    Envelope::named(e.name(), "deals", facts(e, deal, members, actor), now)
}

fn facts(e: DealEvent, deal: &DealRecord, members: &[MemberRecord], actor: Option<&(Uuid, String, i64)>) -> serde_json::Value {
    let created = e == DealEvent::Created;
    serde_json::to_value(DealFacts {
        deal_id: deal.id,
        title: deal.title.clone(),
        description: created.then(|| deal.description.clone()),
        keywords: created.then(|| deal.keywords.clone()),
        host_id: deal.host_id,
        host_login_id: deal.host_login_id.clone(),
        status: deal.status,
        shares_taken: deal.shares_taken,
        shares_total: deal.shares_total,
        member_ids: members.iter().map(|m| m.user_id).collect(),
        members: members.iter().map(|m| MemberFact { user_id: m.user_id, login_id: m.login_id.clone(), shares: m.shares }).collect(),
        member: actor.map(|(id, login, shares)| MemberFact { user_id: *id, login_id: login.clone(), shares: *shares }),
        meeting_place: deal.meeting_place.as_ref().filter(|_| created).map(|p| PointFact { lat: p.lat, lon: p.lon }),
    })
    .expect("facts serialise")
}

/// A user as accounts' `UserRegistered` tells of them.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub user_id: Uuid,
    pub login_id: &'a str,
    pub home: Option<Home>,
    pub joined_at: DateTime<Utc>,
}

/// What deals knows of a user beyond their deals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub joined_at: Option<DateTime<Utc>>,
    pub home: Option<Home>,
}

/// Where a user lives, as deals learns it from accounts: the point and how far their feed reaches.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct Home {
    pub lat: f64,
    pub lon: f64,
    pub reach_km: i64,
}

/// A user's home with the name of the second neighbourhood they can switch to.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Homes {
    #[sqlx(flatten)]
    pub home: Home,
    pub second_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Nearest,
    Newest,
    Deadline,
    Remaining,
    Popular,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub q: Option<String>,
    pub category_id: Option<i64>,
    pub statuses: Vec<DealStatus>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub host_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub sort: Option<Sort>,
    /// The point `Nearest` measures from.
    pub near: Option<(f64, f64)>,
    /// Only deals whose meeting place is within this many metres of this point.
    pub within: Option<((f64, f64), f64)>,
    /// Keyset: the last row's sort key and seq.
    pub after: Option<(i64, i64)>,
    pub limit: u32,
}

#[async_trait]
pub trait DealStore: Send + Sync {
    async fn create(&self, deal: &DealRecord, host: &MemberRecord, now: DateTime<Utc>) -> sqlx::Result<()>;
    async fn get(&self, id: Uuid) -> sqlx::Result<Option<DealRecord>>;
    async fn members(&self, id: Uuid) -> sqlx::Result<Vec<MemberRecord>>;
    /// Runs `decide` on the locked deal and applies its plan. `Ok(None)`: no such deal.
    async fn change(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        decide: Decide<'_>,
    ) -> sqlx::Result<Option<Result<(DealRecord, Vec<MemberRecord>), DealError>>>;
    /// Deals still recruiting past their deadline become `failed`; returns how many.
    async fn fail_overdue(&self, now: DateTime<Utc>) -> sqlx::Result<usize>;
    /// Publishes `DealDeadlineSoon` once for recruiting deals ending within 24 hours.
    async fn announce_deadlines(&self, now: DateTime<Utc>) -> sqlx::Result<usize>;
    async fn list(&self, q: &ListQuery) -> sqlx::Result<Vec<DealRecord>>;
    /// How the engine runs [`DealStore::list`] for `q`, a line per step (for tests and the
    /// benchmark: which index a query reads).
    async fn list_plan(&self, q: &ListQuery) -> sqlx::Result<Vec<String>>;
    async fn host_by_login(&self, login_id: &str) -> sqlx::Result<Option<Uuid>>;
    /// Records (or forgets) where a user lives, once per event.
    async fn set_place(&self, user_id: Uuid, place: Option<Homes>, consumer: &str, event_id: Uuid) -> sqlx::Result<()>;
    /// The user's homes, with the second one's name.
    async fn homes(&self, user_id: Uuid) -> sqlx::Result<Option<Homes>>;
    /// Records a new user (and where they live, if they said), once per event.
    async fn add_user(&self, user: &NewUser<'_>, consumer: &str, event_id: Uuid) -> sqlx::Result<()>;
    /// What a seller page says of a user: since when they are a member, and where they live.
    async fn profile(&self, user_id: Uuid) -> sqlx::Result<Profile>;
    /// The user with this login id, if deals has heard of them.
    async fn user_by_login(&self, login_id: &str) -> sqlx::Result<Option<Uuid>>;
    async fn place(&self, user_id: Uuid) -> sqlx::Result<Option<Home>>;
    /// Counts a view unless this viewer already viewed the deal on `day`.
    async fn record_view(&self, id: Uuid, viewer: &str, day: &str) -> sqlx::Result<()>;
}

pub async fn open(db: &Db, signal: OutboxSignal) -> anyhow::Result<std::sync::Arc<dyn DealStore>> {
    gonggu_kernel::events::create_event_tables(db).await?;
    db.migrate(&sqlx::migrate!("./migrations/sqlite"), &sqlx::migrate!("./migrations/postgres")).await?;
    Ok(match db {
        Db::Sqlite(pool) => {
            let store = SqliteDealStore { pool: pool.clone(), signal };
            store.index_missing().await?;
            std::sync::Arc::new(store)
        }
        Db::Postgres(pool) => {
            let store = PgDealStore { pool: pool.clone(), signal };
            store.index_missing().await?;
            std::sync::Arc::new(store)
        }
    })
}

/// Whole microdegrees (about 11 cm), what `nearest` measures in.
pub fn micro(degrees: f64) -> i64 {
    (degrees * 1_000_000.0).round() as i64
}

/// Grid cells are 1/64° (15,625 microdegrees, about 1.7 × 1.4 km at Seoul) on each side,
/// numbered row by row; see the migration that made them this size.
const CELL_E6: i64 = 15_625;
const CELL_COLUMNS: i64 = 360 * 64;

fn cell_at(lat_e6: i64, lon_e6: i64) -> i64 {
    ((lat_e6 + 90_000_000) / CELL_E6) * CELL_COLUMNS + (lon_e6 + 180_000_000) / CELL_E6
}

/// The grid cell of a meeting place (what `meeting_cell` holds).
pub fn cell_of(p: &MeetingPlace) -> i64 {
    cell_at(micro(p.lat), micro(p.lon))
}

/// Metres per degree of latitude (mean Earth radius 6,371,008.8 m).
const METRES_PER_DEGREE: f64 = 111_195.08;

/// The largest [`nearest_key`] within `metres` of the origin: a deal is within reach when its
/// key is at most this (the same integer arithmetic on both engines and in Rust).
pub fn reach_key(metres: f64) -> i64 {
    let r = (metres / METRES_PER_DEGREE * 1_000_000.0).floor() as i64;
    r * r
}

/// The cells that can hold a point within `metres` of `from`: of those its bounding box
/// touches, the ones whose nearest point is within reach by [`nearest_key`]'s own integer
/// arithmetic (the key grows with |Δlat| and with |Δlon|, so a cell's nearest point is the one
/// closest in each). Around 역삼동: 6, 20, 46 and 156 cells for 1, 3, 5 and 10 km.
pub fn cells_within(from: (f64, f64), metres: f64) -> Vec<i64> {
    // The box a little wider than the circle (the exact test below trims it), so that rounding
    // in degrees can never leave out a cell by a microdegree.
    let dlat = metres / METRES_PER_DEGREE + 0.0001;
    let dlon = dlat / from.0.to_radians().cos().max(0.01);
    let (lat_lo, lat_hi) = (micro(from.0 - dlat).max(-90_000_000), micro(from.0 + dlat).min(89_999_999));
    let (lon_lo, lon_hi) = (micro(from.1 - dlon).max(-180_000_000), micro(from.1 + dlon).min(179_999_999));
    let (row_lo, row_hi) = ((lat_lo + 90_000_000) / CELL_E6, (lat_hi + 90_000_000) / CELL_E6);
    let (col_lo, col_hi) = ((lon_lo + 180_000_000) / CELL_E6, (lon_hi + 180_000_000) / CELL_E6);
    let (lat0, lon0, k) = nearest_origin(from);
    let reach = reach_key(metres);
    // The offset of the nearest microdegree of [lo, hi] from `at` (0 when inside).
    let gap = |at: i64, lo: i64, hi: i64| {
        if at < lo {
            lo - at
        } else if at > hi {
            at - hi
        } else {
            0
        }
    };
    let mut cells = vec![];
    for r in row_lo..=row_hi {
        let lat_min = r * CELL_E6 - 90_000_000;
        let dy = gap(lat0, lat_min, lat_min + CELL_E6 - 1);
        for c in col_lo..=col_hi {
            let lon_min = c * CELL_E6 - 180_000_000;
            if squared_distance(dy, gap(lon0, lon_min, lon_min + CELL_E6 - 1), k) <= reach {
                cells.push(r * CELL_COLUMNS + c);
            }
        }
    }
    cells
}

/// Where a deal without a meeting place sorts under `nearest`: after every real distance (the
/// largest is below 2e17).
const NO_PLACE: i64 = 9_000_000_000_000_000_000;

/// The whole number `nearest` sorts by: the squared equirectangular distance from `from` in
/// microdegrees², with the longitude difference scaled by cos(latitude) in millionths. Only
/// integer `+ - * /` (division truncating toward zero on all three), so Rust, SQLite and
/// PostgreSQL agree exactly and keyset cursors compare exactly; [`nearest_sql`] is the same
/// formula. No overflow: |Δlat| ≤ 1.8e8 and |Δlon·k| ≤ 3.6e8, so the sum stays below 2e17.
pub fn nearest_key(from: (f64, f64), place: Option<&MeetingPlace>) -> i64 {
    let Some(p) = place else { return NO_PLACE };
    let (lat0, lon0, k) = nearest_origin(from);
    squared_distance(micro(p.lat) - lat0, micro(p.lon) - lon0, k)
}

/// [`nearest_key`] of microdegree offsets, the longitude's scaled by `k` (cos(latitude) in
/// millionths).
fn squared_distance(dlat: i64, dlon: i64, k: i64) -> i64 {
    let dx = dlon * k / 1_000_000;
    dlat * dlat + dx * dx
}

fn nearest_origin((lat, lon): (f64, f64)) -> (i64, i64, i64) {
    (micro(lat), micro(lon), micro(lat.to_radians().cos()))
}

/// [`nearest_key`] in SQL, over the stored microdegree columns. Only integers are formatted in.
fn nearest_sql(from: (f64, f64)) -> String {
    let (lat0, lon0, k) = nearest_origin(from);
    format!(
        "(CASE WHEN meeting_lat_e6 IS NULL OR meeting_lon_e6 IS NULL THEN {NO_PLACE} ELSE \
         (meeting_lat_e6 - ({lat0})) * (meeting_lat_e6 - ({lat0})) + \
         ((meeting_lon_e6 - ({lon0})) * {k} / 1000000) * ((meeting_lon_e6 - ({lon0})) * {k} / 1000000) END)"
    )
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(v).single()
}

macro_rules! deal_columns {
    () => {
        "seq, id, host_id, host_login_id, title, description, category_id, product_url, total_price, shares_total, shares_taken, \
         min_shares, items_per_share, unit, deadline, meeting_name, meeting_lat, meeting_lon, meeting_code, keywords, images, status, views, created_at"
    };
}

/// A `deals` row as stored; [`DealRecord::try_from`] checks what the types cannot.
#[derive(sqlx::FromRow)]
struct DealRow {
    seq: i64,
    id: Uuid,
    host_id: Uuid,
    host_login_id: String,
    title: String,
    description: String,
    category_id: i64,
    product_url: Option<String>,
    total_price: i64,
    shares_total: i64,
    shares_taken: i64,
    min_shares: i64,
    items_per_share: i64,
    unit: String,
    deadline: i64,
    meeting_name: Option<String>,
    meeting_lat: Option<f64>,
    meeting_lon: Option<f64>,
    meeting_code: Option<String>,
    keywords: String,
    images: String,
    status: String,
    views: i64,
    created_at: i64,
}

/// A stored value no code writes: an error naming the row, never a quiet default.
fn corrupt(what: &str, seq: i64, detail: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("deal {seq}: corrupt {what}: {detail}").into())
}

fn json_list(what: &str, seq: i64, raw: &str) -> sqlx::Result<Vec<String>> {
    serde_json::from_str(raw).map_err(|e| corrupt(what, seq, format!("{e} in {raw:?}")))
}

impl TryFrom<DealRow> for DealRecord {
    type Error = sqlx::Error;

    fn try_from(r: DealRow) -> sqlx::Result<Self> {
        let seq = r.seq;
        let meeting_place = match (r.meeting_name, r.meeting_lat, r.meeting_lon) {
            (Some(name), Some(lat), Some(lon)) => {
                let dong = r.meeting_code.as_deref().and_then(gonggu_places::get).map(|p| p.name.to_owned());
                Some(MeetingPlace { name, lat, lon, code: r.meeting_code, dong })
            }
            (None, None, None) => None,
            partial => return Err(corrupt("meeting place", seq, format!("{partial:?}"))),
        };
        Ok(DealRecord {
            seq,
            id: r.id,
            host_id: r.host_id,
            host_login_id: r.host_login_id,
            title: r.title,
            description: r.description,
            category_id: r.category_id,
            product_url: r.product_url,
            total_price: r.total_price,
            shares_total: r.shares_total,
            shares_taken: r.shares_taken,
            min_shares: r.min_shares,
            items_per_share: r.items_per_share,
            unit: r.unit,
            deadline: from_ms(r.deadline).ok_or_else(|| corrupt("deadline", seq, r.deadline))?,
            meeting_place,
            keywords: json_list("keywords", seq, &r.keywords)?,
            images: json_list("images", seq, &r.images)?,
            status: DealStatus::parse(&r.status).ok_or_else(|| corrupt("status", seq, &r.status))?,
            views: r.views,
            created_at: from_ms(r.created_at).ok_or_else(|| corrupt("created_at", seq, r.created_at))?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: Uuid,
    login_id: String,
    shares: i64,
    is_host: bool,
    joined_at: i64,
    paid: i64,
}

fn member_from_row(r: MemberRow) -> sqlx::Result<MemberRecord> {
    let joined_at = from_ms(r.joined_at)
        .ok_or_else(|| sqlx::Error::Decode(format!("member {}: corrupt joined_at {}", r.user_id, r.joined_at).into()))?;
    Ok(MemberRecord { user_id: r.user_id, login_id: r.login_id, shares: r.shares, is_host: r.is_host, joined_at, paid: r.paid })
}

fn members_from_rows(rows: Vec<MemberRow>) -> sqlx::Result<Vec<MemberRecord>> {
    rows.into_iter().map(member_from_row).collect()
}

const MEMBERS_SQL: &str = "SELECT user_id, login_id, CAST(shares AS BIGINT) AS shares, is_host, joined_at, \
     CAST(COALESCE((SELECT SUM(p.amount) FROM deal_payments p WHERE p.deal_id = m.deal_id AND p.user_id = m.user_id), 0) AS BIGINT) AS paid \
     FROM deal_members m WHERE deal_id = $1 ORDER BY is_host DESC, joined_at, user_id";

macro_rules! sql_deal_store {
    ($name:ident, $db:ty, $begin:literal, $lock:literal, $sqlite:literal) => {
        pub struct $name {
            pool: sqlx::Pool<$db>,
            signal: OutboxSignal,
        }

        impl $name {
            /// Replaces a deal's bigrams in the search index.
            async fn index_text(tx: &mut sqlx::Transaction<'static, $db>, seq: i64, text: &str) -> sqlx::Result<()> {
                sqlx::query("DELETE FROM deal_grams WHERE deal_seq = $1").bind(seq).execute(&mut **tx).await?;
                let grams: Vec<String> = search::grams(text).into_iter().collect();
                // Well under either engine's limit on bound parameters per statement.
                for chunk in grams.chunks(1_000) {
                    let mut b = sqlx::QueryBuilder::<$db>::new("INSERT INTO deal_grams (gram, deal_seq) ");
                    b.push_values(chunk, |mut row, g| {
                        row.push_bind(g.as_str()).push_bind(seq);
                    });
                    b.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// Indexes the deals written before the search index (or its current folding) existed.
            async fn put_home(tx: &mut sqlx::Transaction<'static, $db>, user_id: Uuid, home: Home) -> sqlx::Result<()> {
                sqlx::query(
                    "INSERT INTO user_places (user_id, lat, lon, reach_km) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, reach_km = excluded.reach_km",
                )
                .bind(user_id).bind(home.lat).bind(home.lon).bind(home.reach_km).execute(&mut **tx).await?;
                Ok(())
            }

            /// The SQL of [`DealStore::list`], after `head` (an `EXPLAIN` for [`DealStore::list_plan`]).
            fn list_sql<'q>(q: &'q ListQuery, head: &str) -> sqlx::QueryBuilder<'q, $db> {
                let mut b = sqlx::QueryBuilder::<$db>::new(head);
                // A local feed picks its page's seqs from the cell index alone (it holds the point
                // and seq), then reads just those rows. The unary `+` in its ORDER BY keeps SQLite,
                // which has no statistics, from walking every open deal newest first instead, to
                // spare a sort of a few hundred index entries.
                let local = q.within.is_some();
                b.push(concat!("SELECT ", deal_columns!(), " FROM deals WHERE "));
                b.push(if local { "seq IN (SELECT seq FROM deals WHERE 1 = 1" } else { "1 = 1" });
                match search::parse_query(q.q.as_deref()) {
                    search::Query::Everything => {}
                    search::Query::Nothing => {
                        b.push(" AND 1 = 0");
                    }
                    search::Query::Words(words) => {
                        for gram in search::query_grams(&words) {
                            b.push(" AND seq IN (SELECT deal_seq FROM deal_grams WHERE gram = ").push_bind(gram).push(")");
                        }
                        // Folded words hold only letters, digits and marks, never a LIKE wildcard.
                        for w in words {
                            b.push(" AND search_text LIKE ").push_bind(format!("%{w}%"));
                        }
                    }
                }
                if let Some(c) = q.category_id {
                    b.push(" AND category_id = ").push_bind(c);
                }
                let open = [DealStatus::Recruiting, DealStatus::Confirmed];
                // A local feed tests `status` itself, which the cell index holds (see the migration).
                if !local && q.statuses.len() == 2 && open.iter().all(|s| q.statuses.contains(s)) {
                    b.push(" AND is_open = TRUE");
                } else if !q.statuses.is_empty() {
                    b.push(" AND status IN (");
                    let mut sep = b.separated(", ");
                    for s in &q.statuses {
                        sep.push_bind(s.as_str());
                    }
                    b.push(")");
                }
                if let Some(p) = q.min_price {
                    b.push(" AND total_price >= ").push_bind(p);
                }
                if let Some(p) = q.max_price {
                    b.push(" AND total_price <= ").push_bind(p);
                }
                if let Some(h) = q.host_id {
                    b.push(" AND host_id = ").push_bind(h);
                }
                if let Some(m) = q.member_id {
                    b.push(" AND id IN (SELECT deal_id FROM deal_members WHERE user_id = ").push_bind(m).push(" AND NOT is_host)");
                }
                if let Some((from, metres)) = q.within {
                    // The cells first (an index range each), then the exact distance.
                    b.push(" AND meeting_cell IN (");
                    let mut sep = b.separated(", ");
                    for c in cells_within(from, metres) {
                        sep.push_bind(c);
                    }
                    b.push(format!(") AND {} <= {}", nearest_sql(from), reach_key(metres)));
                }
                // Nearest: deals without a place come last.
                let distance = nearest_sql(q.near.unwrap_or((0.0, 0.0)));
                let key = match q.sort.unwrap_or(Sort::Newest) {
                    Sort::Nearest => distance.as_str(),
                    Sort::Newest => "seq",
                    Sort::Deadline => "deadline",
                    Sort::Remaining => "(shares_total - shares_taken)",
                    Sort::Popular => "views",
                };
                let ascending = matches!(q.sort, Some(Sort::Deadline) | Some(Sort::Remaining) | Some(Sort::Nearest));
                if let Some((k, seq)) = q.after {
                    let cmp = if ascending { ">" } else { "<" };
                    b.push(format!(" AND ({key} {cmp} ")).push_bind(k);
                    b.push(format!(" OR ({key} = ")).push_bind(k);
                    b.push(format!(" AND seq {} ", if ascending { ">" } else { "<" })).push_bind(seq).push("))");
                }
                let dir = if ascending { "ASC" } else { "DESC" };
                let plus = if local { "+" } else { "" };
                b.push(format!(" ORDER BY {plus}{key} {dir}, {plus}seq {dir} LIMIT ")).push_bind(i64::from(q.limit));
                if local {
                    b.push(format!(") ORDER BY {key} {dir}, seq {dir}"));
                }
                b
            }

            async fn index_missing(&self) -> sqlx::Result<usize> {
                // `search_text` is written with the grams in one transaction, so a deal without it
                // is one to index (a text with no bigram has no grams and must not come back at
                // every start).
                let rows: Vec<(i64, String, String, String)> =
                    sqlx::query_as("SELECT seq, title, description, keywords FROM deals WHERE search_text IS NULL")
                        .fetch_all(&self.pool).await?;
                for (seq, title, description, keywords) in &rows {
                    // One corrupt row must not keep the whole service from starting: reads of it
                    // still fail loudly.
                    let keywords = match json_list("keywords", *seq, keywords) {
                        Ok(k) => k,
                        Err(e) => {
                            tracing::error!(deal_seq = seq, error = %e, "deal not indexed for search: corrupt keywords");
                            continue;
                        }
                    };
                    let text = search::searchable(title, description, &keywords);
                    let mut tx = self.pool.begin_with($begin).await?;
                    sqlx::query("UPDATE deals SET search_text = $1 WHERE seq = $2").bind(&text).bind(*seq).execute(&mut *tx).await?;
                    Self::index_text(&mut tx, *seq, &text).await?;
                    tx.commit().await?;
                }
                let places: Vec<(i64, f64, f64)> = sqlx::query_as(
                    "SELECT seq, meeting_lat, meeting_lon FROM deals \
                     WHERE meeting_lat IS NOT NULL AND meeting_lon IS NOT NULL AND meeting_lat_e6 IS NULL",
                )
                .fetch_all(&self.pool).await?;
                for (seq, lat, lon) in &places {
                    sqlx::query("UPDATE deals SET meeting_lat_e6 = $1, meeting_lon_e6 = $2, meeting_cell = $3 WHERE seq = $4")
                        .bind(micro(*lat)).bind(micro(*lon)).bind(cell_at(micro(*lat), micro(*lon))).bind(*seq).execute(&self.pool).await?;
                }
                // Deals placed before places existed learn their 읍면동 (abroad stays unknown).
                let unnamed: Vec<(i64, f64, f64)> = sqlx::query_as(
                    "SELECT seq, meeting_lat, meeting_lon FROM deals WHERE meeting_lat IS NOT NULL AND meeting_lon IS NOT NULL AND meeting_code IS NULL",
                )
                .fetch_all(&self.pool).await?;
                for (seq, lat, lon) in &unnamed {
                    if let Ok(p) = gonggu_places::reverse(*lat, *lon) {
                        sqlx::query("UPDATE deals SET meeting_code = $1 WHERE seq = $2").bind(p.code.to_string()).bind(*seq).execute(&self.pool).await?;
                    }
                }
                Ok(rows.len())
            }
        }

        #[async_trait]
        impl DealStore for $name {
            async fn create(&self, d: &DealRecord, host: &MemberRecord, now: DateTime<Utc>) -> sqlx::Result<()> {
                let text = search::searchable(&d.title, &d.description, &d.keywords);
                let mut tx = self.pool.begin_with($begin).await?;
                let mp = d.meeting_place.as_ref();
                let seq = sqlx::query(
                    "INSERT INTO deals (id, host_id, host_login_id, title, description, category_id, product_url, total_price, shares_total, \
                     shares_taken, min_shares, items_per_share, unit, deadline, meeting_name, meeting_lat, meeting_lon, keywords, status, \
                     views, created_at, updated_at, images, search_text, meeting_lat_e6, meeting_lon_e6, meeting_code, meeting_cell) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, 0, $20, $20, $21, $22, $23, $24, $25, $26) \
                     RETURNING seq",
                )
                .bind(d.id).bind(d.host_id).bind(&d.host_login_id).bind(&d.title).bind(&d.description).bind(d.category_id)
                .bind(&d.product_url).bind(d.total_price).bind(d.shares_total as i32).bind(d.shares_taken as i32)
                .bind(d.min_shares as i32).bind(d.items_per_share as i32).bind(&d.unit).bind(ms(d.deadline))
                .bind(mp.map(|m| m.name.clone())).bind(mp.map(|m| m.lat)).bind(mp.map(|m| m.lon))
                .bind(serde_json::to_string(&d.keywords).unwrap_or_else(|_| "[]".into())).bind(d.status.as_str()).bind(ms(d.created_at))
                .bind(serde_json::to_string(&d.images).unwrap_or_else(|_| "[]".into())).bind(&text)
                .bind(mp.map(|m| micro(m.lat))).bind(mp.map(|m| micro(m.lon)))
                .bind(mp.and_then(|m| m.code.clone())).bind(mp.map(cell_of))
                .fetch_one(&mut *tx).await?;
                let seq: i64 = sqlx::Row::get(&seq, 0);
                Self::index_text(&mut tx, seq, &text).await?;
                sqlx::query("INSERT INTO deal_members (deal_id, user_id, login_id, shares, is_host, joined_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(d.id).bind(host.user_id).bind(&host.login_id).bind(host.shares as i32).bind(true).bind(ms(host.joined_at))
                    .execute(&mut *tx).await?;
                let mut events = vec![DealEvent::Created];
                if d.status == DealStatus::Confirmed {
                    events.push(DealEvent::Confirmed);
                }
                for e in events {
                    (&mut *tx).enqueue(&event(e, d, std::slice::from_ref(host), None, now)).await?;
                }
                tx.commit().await?;
                self.signal.notify();
                Ok(())
            }

            async fn get(&self, id: Uuid) -> sqlx::Result<Option<DealRecord>> {
                let row: Option<DealRow> =
                    sqlx::query_as(concat!("SELECT ", deal_columns!(), " FROM deals WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?;
                row.map(DealRecord::try_from).transpose()
            }

            async fn members(&self, id: Uuid) -> sqlx::Result<Vec<MemberRecord>> {
                members_from_rows(sqlx::query_as(MEMBERS_SQL).bind(id).fetch_all(&self.pool).await?)
            }

            async fn change(&self, id: Uuid, now: DateTime<Utc>, decide: Decide<'_>) -> sqlx::Result<Option<Result<(DealRecord, Vec<MemberRecord>), DealError>>> {
                let mut tx = self.pool.begin_with($begin).await?;
                let row: Option<DealRow> =
                    sqlx::query_as(concat!("SELECT ", deal_columns!(), " FROM deals WHERE id = $1", $lock)).bind(id).fetch_optional(&mut *tx).await?;
                let Some(mut deal) = row.map(DealRecord::try_from).transpose()? else { return Ok(None) };
                let mut members = members_from_rows(sqlx::query_as(MEMBERS_SQL).bind(id).fetch_all(&mut *tx).await?)?;
                let plan = match decide(&deal, &members) {
                    Ok(plan) => plan,
                    Err(e) => return Ok(Some(Err(e))),
                };
                if let Some(m) = &plan.upsert_member {
                    sqlx::query(
                        "INSERT INTO deal_members (deal_id, user_id, login_id, shares, is_host, joined_at) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (deal_id, user_id) DO UPDATE SET shares = excluded.shares",
                    )
                    .bind(id).bind(m.user_id).bind(&m.login_id).bind(m.shares as i32).bind(m.is_host).bind(ms(m.joined_at))
                    .execute(&mut *tx).await?;
                    match members.iter_mut().find(|x| x.user_id == m.user_id) {
                        Some(x) => x.shares = m.shares,
                        None => members.push(m.clone()),
                    }
                }
                if let Some(user) = plan.remove_member {
                    sqlx::query("DELETE FROM deal_members WHERE deal_id = $1 AND user_id = $2").bind(id).bind(user).execute(&mut *tx).await?;
                    members.retain(|m| m.user_id != user);
                }
                if let Some(p) = &plan.payment {
                    let added = sqlx::query(
                        "INSERT INTO deal_payments (entry_id, deal_id, user_id, amount, paid_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (entry_id) DO NOTHING",
                    )
                    .bind(p.entry_id).bind(id).bind(p.payer_id).bind(p.amount).bind(ms(p.at))
                    .execute(&mut *tx).await?;
                    if added.rows_affected() == 1 {
                        if let Some(m) = members.iter_mut().find(|m| m.user_id == p.payer_id) {
                            m.paid += p.amount;
                        }
                    }
                }
                if let Some(e) = &plan.edited {
                    let mp = e.meeting_place.as_ref();
                    sqlx::query(
                        "UPDATE deals SET title = $1, description = $2, category_id = $3, product_url = $4, total_price = $5, shares_total = $6, \
                         min_shares = $7, items_per_share = $8, unit = $9, deadline = $10, meeting_name = $11, meeting_lat = $12, meeting_lon = $13, \
                         keywords = $14, images = $16, deadline_notice_sent = CASE WHEN deadline = $10 THEN deadline_notice_sent ELSE FALSE END, \
                         meeting_lat_e6 = $17, meeting_lon_e6 = $18, meeting_code = $19, meeting_cell = $20 WHERE id = $15",
                    )
                    .bind(&e.title).bind(&e.description).bind(e.category_id).bind(&e.product_url).bind(e.total_price).bind(e.shares_total as i32)
                    .bind(e.min_shares as i32).bind(e.items_per_share as i32).bind(&e.unit).bind(ms(e.deadline))
                    .bind(mp.map(|m| m.name.clone())).bind(mp.map(|m| m.lat)).bind(mp.map(|m| m.lon))
                    .bind(serde_json::to_string(&e.keywords).unwrap_or_else(|_| "[]".into())).bind(id)
                    .bind(serde_json::to_string(&e.images).unwrap_or_else(|_| "[]".into()))
                    .bind(mp.map(|m| micro(m.lat))).bind(mp.map(|m| micro(m.lon)))
                    .bind(mp.and_then(|m| m.code.clone())).bind(mp.map(cell_of))
                    .execute(&mut *tx).await?;
                    let (before, after) = (
                        search::searchable(&deal.title, &deal.description, &deal.keywords),
                        search::searchable(&e.title, &e.description, &e.keywords),
                    );
                    if before != after {
                        sqlx::query("UPDATE deals SET search_text = $1 WHERE seq = $2").bind(&after).bind(deal.seq).execute(&mut *tx).await?;
                        Self::index_text(&mut tx, deal.seq, &after).await?;
                    }
                    let keep = (deal.seq, deal.id, deal.host_id, deal.host_login_id.clone(), deal.shares_taken, deal.status, deal.views, deal.created_at);
                    deal = e.clone();
                    (deal.seq, deal.id, deal.host_id, deal.host_login_id, deal.shares_taken, deal.status, deal.views, deal.created_at) = keep;
                }
                if let Some(taken) = plan.shares_taken {
                    deal.shares_taken = taken;
                }
                if let Some(status) = plan.status {
                    deal.status = status;
                }
                if plan.changes_the_deal() {
                    sqlx::query("UPDATE deals SET shares_taken = $1, status = $2, updated_at = $3 WHERE id = $4")
                        .bind(deal.shares_taken as i32).bind(deal.status.as_str()).bind(ms(now)).bind(id)
                        .execute(&mut *tx).await?;
                }
                for e in &plan.events {
                    (&mut *tx).enqueue(&event(*e, &deal, &members, plan.actor.as_ref(), now)).await?;
                }
                tx.commit().await?;
                if !plan.events.is_empty() {
                    self.signal.notify();
                }
                Ok(Some(Ok((deal, members))))
            }

            async fn fail_overdue(&self, now: DateTime<Utc>) -> sqlx::Result<usize> {
                let ids: Vec<(Uuid,)> = sqlx::query_as("SELECT id FROM deals WHERE status = 'recruiting' AND deadline <= $1")
                    .bind(ms(now)).fetch_all(&self.pool).await?;
                let mut failed = 0;
                for (id,) in ids {
                    let decide = |d: &DealRecord, _: &[MemberRecord]| -> Result<Plan, DealError> {
                        if d.status == DealStatus::Recruiting && d.deadline <= now {
                            Ok(Plan { status: Some(DealStatus::Failed), events: vec![DealEvent::Failed], ..Default::default() })
                        } else {
                            Ok(Plan::default())
                        }
                    };
                    if let Some(Ok((d, _))) = self.change(id, now, &decide).await? {
                        failed += usize::from(d.status == DealStatus::Failed);
                    }
                }
                Ok(failed)
            }

            async fn announce_deadlines(&self, now: DateTime<Utc>) -> sqlx::Result<usize> {
                let soon = ms(now + chrono::Duration::hours(24));
                let ids: Vec<(Uuid,)> = sqlx::query_as(
                    "SELECT id FROM deals WHERE status = 'recruiting' AND NOT deadline_notice_sent AND deadline <= $1 AND deadline > $2",
                )
                .bind(soon).bind(ms(now)).fetch_all(&self.pool).await?;
                let mut sent = 0;
                for (id,) in ids {
                    let mut tx = self.pool.begin_with($begin).await?;
                    let marked = sqlx::query("UPDATE deals SET deadline_notice_sent = TRUE WHERE id = $1 AND NOT deadline_notice_sent")
                        .bind(id).execute(&mut *tx).await?;
                    if marked.rows_affected() == 1 {
                        let row: DealRow =
                            sqlx::query_as(concat!("SELECT ", deal_columns!(), " FROM deals WHERE id = $1")).bind(id).fetch_one(&mut *tx).await?;
                        let deal = DealRecord::try_from(row)?;
                        let members = members_from_rows(sqlx::query_as(MEMBERS_SQL).bind(id).fetch_all(&mut *tx).await?)?;
                        (&mut *tx).enqueue(&event(DealEvent::DeadlineSoon, &deal, &members, None, now)).await?;
                        sent += 1;
                    }
                    tx.commit().await?;
                }
                if sent > 0 {
                    self.signal.notify();
                }
                Ok(sent)
            }

            async fn set_place(&self, user_id: Uuid, place: Option<Homes>, consumer: &str, event_id: Uuid) -> sqlx::Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                if !(&mut *tx).claim_event(consumer, event_id).await? {
                    return Ok(());
                }
                match place {
                    Some(homes) => {
                        Self::put_home(&mut tx, user_id, homes.home).await?;
                        sqlx::query("UPDATE user_places SET second_name = $1 WHERE user_id = $2")
                            .bind(homes.second_name).bind(user_id).execute(&mut *tx).await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM user_places WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await
            }

            async fn add_user(&self, u: &NewUser<'_>, consumer: &str, event_id: Uuid) -> sqlx::Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                if !(&mut *tx).claim_event(consumer, event_id).await? {
                    return Ok(());
                }
                sqlx::query("INSERT INTO known_users (user_id, login_id, joined_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(u.user_id).bind(u.login_id).bind(ms(u.joined_at)).execute(&mut *tx).await?;
                if let Some(home) = u.home {
                    Self::put_home(&mut tx, u.user_id, home).await?;
                }
                tx.commit().await
            }

            async fn homes(&self, user_id: Uuid) -> sqlx::Result<Option<Homes>> {
                sqlx::query_as("SELECT lat, lon, reach_km, second_name FROM user_places WHERE user_id = $1")
                    .bind(user_id).fetch_optional(&self.pool).await
            }

            async fn profile(&self, user_id: Uuid) -> sqlx::Result<Profile> {
                let joined: Option<(Option<i64>,)> = sqlx::query_as("SELECT joined_at FROM known_users WHERE user_id = $1")
                    .bind(user_id).fetch_optional(&self.pool).await?;
                Ok(Profile { joined_at: joined.and_then(|(at,)| at).and_then(from_ms), home: self.place(user_id).await? })
            }

            async fn user_by_login(&self, login_id: &str) -> sqlx::Result<Option<Uuid>> {
                let row: Option<(Uuid,)> = sqlx::query_as("SELECT user_id FROM known_users WHERE login_id = $1")
                    .bind(login_id).fetch_optional(&self.pool).await?;
                Ok(row.map(|r| r.0))
            }

            async fn place(&self, user_id: Uuid) -> sqlx::Result<Option<Home>> {
                sqlx::query_as("SELECT lat, lon, reach_km FROM user_places WHERE user_id = $1").bind(user_id).fetch_optional(&self.pool).await
            }

            async fn record_view(&self, id: Uuid, viewer: &str, day: &str) -> sqlx::Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                let first = sqlx::query("INSERT INTO deal_views (deal_id, viewer, day) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(id.to_string()).bind(viewer).bind(day).execute(&mut *tx).await?;
                if first.rows_affected() == 1 {
                    sqlx::query("UPDATE deals SET views = views + 1 WHERE id = $1").bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await
            }

            async fn host_by_login(&self, login_id: &str) -> sqlx::Result<Option<Uuid>> {
                let row: Option<(Uuid,)> = sqlx::query_as("SELECT host_id FROM deals WHERE host_login_id = $1 LIMIT 1")
                    .bind(login_id).fetch_optional(&self.pool).await?;
                Ok(row.map(|r| r.0))
            }

            async fn list(&self, q: &ListQuery) -> sqlx::Result<Vec<DealRecord>> {
                let rows: Vec<DealRow> = Self::list_sql(q, "").build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter().map(DealRecord::try_from).collect()
            }

            async fn list_plan(&self, q: &ListQuery) -> sqlx::Result<Vec<String>> {
                let explain = if $sqlite { "EXPLAIN QUERY PLAN " } else { "EXPLAIN " };
                let rows = Self::list_sql(q, explain).build().fetch_all(&self.pool).await?;
                // SQLite: (id, parent, notused, detail); PostgreSQL: one text column.
                rows.iter().map(|row| sqlx::Row::try_get::<String, _>(row, if $sqlite { 3 } else { 0 })).collect()
            }
        }
    };
}

sql_deal_store!(SqliteDealStore, sqlx::Sqlite, "BEGIN IMMEDIATE", "", true);
sql_deal_store!(PgDealStore, sqlx::Postgres, "BEGIN", " FOR UPDATE", false);
