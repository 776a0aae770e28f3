//! What the deals context can do, independent of HTTP.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gonggu_kernel::{auth::AuthUser, clock::Clock, ApiError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{CategoryId, DealStatus, Latitude, Longitude, MeetingPlace, NewDealInput, PriceBound, Shares, CATEGORIES},
    money,
    rules::{self, DealError},
    store::{DealRecord, DealStore, ListQuery, MemberRecord, Plan, Sort},
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Category {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct HostView {
    pub login_id: String,
}

pub use gonggu_kernel::images::{ImageCatalog, ImageView};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DealView {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub category: Category,
    pub product_url: Option<String>,
    pub total_price: i64,
    /// The larger per-share price when the total does not divide evenly (never more than 1 won apart).
    pub share_price: i64,
    pub shares_total: i64,
    pub shares_taken: i64,
    pub min_shares: i64,
    pub items_per_share: i64,
    pub unit: String,
    pub deadline: DateTime<Utc>,
    pub meeting_place: Option<MeetingPlace>,
    pub keywords: Vec<String>,
    pub images: Vec<ImageView>,
    pub host: HostView,
    pub status: DealStatus,
    pub views: i64,
    pub created_at: DateTime<Utc>,
    /// Metres from the point the list measured from (`lat`/`lon`, `place`, or the signed-in
    /// user's neighbourhood); absent when there is none, and for deals without a meeting place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct MemberView {
    pub login_id: String,
    pub shares: i64,
    /// What this member owes for their shares, in won.
    pub amount: i64,
    /// What this member has sent the host by transfers tagged with the deal, in won (0 for the
    /// host). Paid in full once `paid >= amount`.
    pub paid: i64,
    pub is_host: bool,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DealPage {
    pub items: Vec<DealView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// Words to find in title, description or keywords: every word must occur, in any order, also
    /// inside longer words; spacing, case, accents and punctuation do not matter. A query with no
    /// letter or digit finds nothing.
    #[param(max_length = 100)]
    pub q: Option<String>,
    #[param(schema_with = crate::domain::category_id_schema)]
    pub category: Option<i64>,
    /// `recruiting`, `confirmed`, `completed`, `cancelled`, `failed`, or `open` (recruiting + confirmed);
    /// empty means any.
    #[param(schema_with = status_filter_schema)]
    pub status: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// `newest` (default), `deadline`, `remaining` (fewest shares left first), `popular`, `nearest`
    /// (from `lat`/`lon`, or the signed-in user's neighbourhood).
    #[param(schema_with = sort_schema)]
    pub sort: Option<String>,
    #[serde(default, deserialize_with = "gonggu_kernel::geo::latitude")]
    #[param(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    #[serde(default, deserialize_with = "gonggu_kernel::geo::longitude")]
    #[param(minimum = -180, maximum = 180)]
    pub lon: Option<f64>,
    /// A 읍면동 (법정동 code from `GET /api/v1/places`) to measure from when `lat`/`lon` are not
    /// given; otherwise the signed-in user's neighbourhood.
    #[param(pattern = "^[0-9]{8}$")]
    pub place: Option<String>,
    /// Only deals meeting within this many km (1, 3, 5 or 10) of `lat`/`lon`, `place` or my
    /// neighbourhood.
    pub reach_km: Option<i64>,
    #[serde(default, deserialize_with = "gonggu_kernel::page::deserialize_limit")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The reaches a feed may have, in km (as accounts offers them).
pub const REACHES_KM: [i64; 4] = [1, 3, 5, 10];

/// The values `list_for` understands, for the OpenAPI document.
pub const SORTS: [&str; 5] = ["newest", "deadline", "remaining", "popular", "nearest"];
pub const STATUS_FILTERS: [&str; 7] = ["", "open", "recruiting", "confirmed", "completed", "cancelled", "failed"];

fn sort_schema() -> utoipa::openapi::Object {
    gonggu_kernel::page::string_enum(&SORTS)
}

fn status_filter_schema() -> utoipa::openapi::Object {
    gonggu_kernel::page::string_enum(&STATUS_FILTERS)
}

pub struct Deals {
    pub store: Arc<dyn DealStore>,
    pub clock: Clock,
    pub images: Arc<dyn ImageCatalog>,
}

/// Longest search text, as the home page's search box allows.
pub const MAX_QUERY_CHARS: usize = 100;

/// `/media/<key>` and its thumbnail `/media/<hash>_t.<ext>`.
pub fn image_view(key: &str) -> ImageView {
    ImageView::of(key)
}

fn not_found() -> ApiError {
    ApiError::not_found("deal_not_found", "공구를 찾을 수 없습니다.")
}

pub fn view(d: &DealRecord) -> DealView {
    DealView {
        id: d.id,
        title: d.title.clone(),
        description: d.description.clone(),
        category: Category {
            id: d.category_id,
            name: CATEGORIES.get((d.category_id - 1) as usize).copied().unwrap_or("기타 물품").to_owned(),
        },
        product_url: d.product_url.clone(),
        total_price: d.total_price,
        share_price: money::share_price(d.total_price, d.shares_total as u32),
        shares_total: d.shares_total,
        shares_taken: d.shares_taken,
        min_shares: d.min_shares,
        items_per_share: d.items_per_share,
        unit: d.unit.clone(),
        deadline: d.deadline,
        meeting_place: d.meeting_place.clone(),
        keywords: d.keywords.clone(),
        images: d.images.iter().map(|k| image_view(k)).collect(),
        host: HostView { login_id: d.host_login_id.clone() },
        status: d.status,
        views: d.views,
        created_at: d.created_at,
        distance_m: None,
    }
}

pub fn member_views(d: &DealRecord, members: &[MemberRecord]) -> Vec<MemberView> {
    let holdings: Vec<u32> = members.iter().map(|m| m.shares as u32).collect();
    let amounts = money::amounts(d.total_price, d.shares_total as u32, &holdings);
    members
        .iter()
        .zip(amounts)
        .map(|(m, amount)| MemberView {
            login_id: m.login_id.clone(),
            shares: m.shares,
            amount,
            paid: m.paid,
            is_host: m.is_host,
            joined_at: m.joined_at,
        })
        .collect()
}

impl Deals {
    pub fn categories(&self) -> Vec<Category> {
        CATEGORIES.iter().enumerate().map(|(i, n)| Category { id: i as i64 + 1, name: (*n).to_owned() }).collect()
    }

    pub async fn create(&self, user: &AuthUser, input: NewDealInput) -> Result<DealView, ApiError> {
        let now = self.clock.now();
        let d = input.parse(now).map_err(ApiError::validation)?;
        self.check_images(&d.image_keys).await?;
        let status = if i64::from(d.host_shares) >= i64::from(d.min_shares) { DealStatus::Confirmed } else { DealStatus::Recruiting };
        let record = DealRecord {
            seq: 0,
            id: Uuid::now_v7(),
            host_id: user.user_id,
            host_login_id: user.login_id.clone(),
            title: d.title,
            description: d.description,
            category_id: d.category_id,
            product_url: d.product_url,
            total_price: d.total_price,
            shares_total: d.shares_total.into(),
            shares_taken: d.host_shares.into(),
            min_shares: d.min_shares.into(),
            items_per_share: d.items_per_share.into(),
            unit: d.unit,
            deadline: d.deadline,
            meeting_place: d.meeting_place,
            keywords: d.keywords,
            images: d.image_keys,
            status,
            views: 0,
            created_at: now,
        };
        let host = MemberRecord {
            user_id: user.user_id,
            login_id: user.login_id.clone(),
            shares: d.host_shares.into(),
            is_host: true,
            joined_at: now,
            paid: 0,
        };
        self.store.create(&record, &host, now).await?;
        self.get(record.id).await
    }

    pub async fn get(&self, id: Uuid) -> Result<DealView, ApiError> {
        Ok(view(&self.store.get(id).await?.ok_or_else(not_found)?))
    }

    /// A deal as someone opens it: counts the view once per viewer per day (Asia/Seoul).
    pub async fn open_deal(&self, id: Uuid, viewer: Option<&str>) -> Result<DealView, ApiError> {
        if let Some(viewer) = viewer {
            let day =
                self.clock.now().with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("offset")).format("%Y-%m-%d").to_string();
            if self.store.get(id).await?.is_some() {
                self.store.record_view(id, viewer, &day).await?;
            }
        }
        self.get(id).await
    }

    async fn check_images(&self, keys: &[String]) -> Result<(), ApiError> {
        for k in keys {
            if !self.images.exists(k).await? {
                return Err(ApiError::field("image_keys", "사진을 찾을 수 없습니다. 다시 올려 주세요."));
            }
        }
        Ok(())
    }

    /// Stores photos from a page form; at most five.
    pub async fn store_photos(&self, files: Vec<Vec<u8>>) -> Result<Vec<String>, ApiError> {
        if files.len() > 5 {
            return Err(ApiError::field("image_keys", "사진은 5장까지 넣을 수 있습니다."));
        }
        let mut keys = vec![];
        for bytes in files {
            match self.images.store(bytes).await? {
                Ok(key) => keys.push(key),
                Err(reason) => return Err(ApiError::field("image_keys", reason)),
            }
        }
        Ok(keys)
    }

    pub async fn update(&self, user: &AuthUser, id: Uuid, patch: crate::domain::DealPatch) -> Result<DealView, ApiError> {
        if let Some(keys) = &patch.image_keys {
            self.check_images(keys).await?;
        }
        let uid = user.user_id;
        let (d, _) = self.change(id, move |d, m, now| rules::edit(d, m, uid, &patch, now)).await?;
        Ok(view(&d))
    }

    pub async fn members(&self, id: Uuid) -> Result<Vec<MemberView>, ApiError> {
        let d = self.store.get(id).await?.ok_or_else(not_found)?;
        let members = self.store.members(id).await?;
        Ok(member_views(&d, &members))
    }

    async fn change(
        &self,
        id: Uuid,
        decide: impl Fn(&DealRecord, &[MemberRecord], DateTime<Utc>) -> Result<Plan, DealError> + Send + Sync,
    ) -> Result<(DealRecord, Vec<MemberRecord>), ApiError> {
        let now = self.clock.now();
        let f = move |d: &DealRecord, m: &[MemberRecord]| decide(d, m, now);
        self.store.change(id, now, &f).await?.ok_or_else(not_found)?.map_err(ApiError::from)
    }

    pub async fn set_shares(&self, user: &AuthUser, id: Uuid, shares: i64) -> Result<(DealView, Vec<MemberView>), ApiError> {
        let shares = Shares::parse(shares).map_err(|m| ApiError::field("shares", m))?;
        let (uid, login) = (user.user_id, user.login_id.clone());
        let (d, m) = self.change(id, move |d, m, now| rules::set_shares(d, m, uid, &login, shares, now)).await?;
        Ok((view(&d), member_views(&d, &m)))
    }

    pub async fn leave(&self, user: &AuthUser, id: Uuid) -> Result<(), ApiError> {
        let uid = user.user_id;
        self.change(id, move |d, m, now| rules::leave(d, m, uid, now)).await?;
        Ok(())
    }

    pub async fn cancel(&self, user: &AuthUser, id: Uuid) -> Result<DealView, ApiError> {
        let uid = user.user_id;
        let (d, _) = self.change(id, move |d, _, _| rules::cancel(d, uid)).await?;
        Ok(view(&d))
    }

    pub async fn complete(&self, user: &AuthUser, id: Uuid) -> Result<DealView, ApiError> {
        let uid = user.user_id;
        let (d, _) = self.change(id, move |d, _, _| rules::complete(d, uid)).await?;
        Ok(view(&d))
    }

    pub async fn list(&self, params: ListParams, host: Option<Uuid>, member: Option<Uuid>) -> Result<DealPage, ApiError> {
        self.list_for(params, host, member, None).await
    }

    /// `viewer` lets "nearest" start from the viewer's neighbourhood.
    pub async fn list_for(
        &self,
        params: ListParams,
        host: Option<Uuid>,
        member: Option<Uuid>,
        viewer: Option<Uuid>,
    ) -> Result<DealPage, ApiError> {
        let sort = match params.sort.as_deref().unwrap_or("newest") {
            "newest" => Sort::Newest,
            "deadline" => Sort::Deadline,
            "remaining" => Sort::Remaining,
            "popular" => Sort::Popular,
            "nearest" => Sort::Nearest,
            _ => return Err(ApiError::field("sort", "sort는 newest, deadline, remaining, popular 중 하나입니다.")),
        };
        let statuses = match params.status.as_deref() {
            None | Some("") => vec![],
            Some("open") => vec![DealStatus::Recruiting, DealStatus::Confirmed],
            Some(s) => vec![DealStatus::parse(s).ok_or_else(|| ApiError::field("status", "알 수 없는 상태입니다."))?],
        };
        if params.q.as_deref().is_some_and(|q| q.trim().chars().count() > MAX_QUERY_CHARS) {
            return Err(ApiError::field("q", "검색어는 100자 이하로 입력해 주세요."));
        }
        if let Some(c) = params.category {
            CategoryId::parse(c).map_err(|_| ApiError::field("category", "알 수 없는 카테고리입니다."))?;
        }
        for (field, bound) in [("min_price", params.min_price), ("max_price", params.max_price)] {
            if let Some(v) = bound {
                PriceBound::parse(v).map_err(|m| ApiError::field(field, m))?;
            }
        }
        if let (Some(a), Some(b)) = (params.min_price, params.max_price) {
            if a > b {
                return Err(ApiError::field("max_price", "총액 최댓값은 최솟값 이상이어야 합니다."));
            }
        }
        let origin = self.origin(&params, viewer).await?;
        let near = match (sort, origin) {
            (Sort::Nearest, None) => {
                return Err(ApiError::field(
                    "sort",
                    "가까운 순으로 보려면 내 정보에서 우리 동네를 설정하거나 위치(lat, lon)를 보내 주세요.",
                ))
            }
            (Sort::Nearest, Some(from)) => Some(from),
            _ => None,
        };
        let within = match (params.reach_km, origin) {
            (None, _) => None,
            (Some(km), _) if !REACHES_KM.contains(&km) => {
                return Err(ApiError::field("reach_km", "동네 범위는 1, 3, 5, 10km 중 하나입니다."))
            }
            (Some(_), None) => return Err(ApiError::field("reach_km", "동네 범위를 쓰려면 우리 동네를 설정하거나 위치를 보내 주세요.")),
            (Some(km), Some(from)) => Some((from, km as f64 * 1000.0)),
        };
        let after = params.cursor.as_deref().map(gonggu_kernel::page::decode_cursor).transpose()?;
        let limit = gonggu_kernel::page::clamp_limit(params.limit);
        let q = ListQuery {
            q: params.q.clone(),
            category_id: params.category,
            statuses,
            min_price: params.min_price,
            max_price: params.max_price,
            host_id: host,
            member_id: member,
            sort: Some(sort),
            near,
            within,
            after,
            limit: limit + 1,
        };
        let mut rows = self.store.list(&q).await?;
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|d| {
                let key = match sort {
                    Sort::Nearest => crate::store::nearest_key(near.unwrap_or_default(), d.meeting_place.as_ref()),
                    Sort::Newest => d.seq,
                    Sort::Deadline => d.deadline.timestamp_millis(),
                    Sort::Remaining => d.shares_total - d.shares_taken,
                    Sort::Popular => d.views,
                };
                gonggu_kernel::page::encode_cursor(key, d.seq)
            })
        } else {
            None
        };
        let items = rows.iter().map(|d| DealView { distance_m: origin.and_then(|from| distance_m(from, d)), ..view(d) }).collect();
        Ok(DealPage { items, next_cursor })
    }

    /// Where distances are measured from: the point sent, the 동 sent, or the viewer's home.
    async fn origin(&self, params: &ListParams, viewer: Option<Uuid>) -> Result<Option<(f64, f64)>, ApiError> {
        if let (Some(lat), Some(lon)) = (params.lat, params.lon) {
            let lat = Latitude::parse(lat).map_err(|m| ApiError::field("lat", m))?;
            let lon = Longitude::parse(lon).map_err(|m| ApiError::field("lon", m))?;
            return Ok(Some((lat.get(), lon.get())));
        }
        if let Some(code) = params.place.as_deref() {
            let p = gonggu_places::get(code)
                .ok_or_else(|| ApiError::field("place", "place는 8자리 법정동 코드입니다 (GET /api/v1/places)."))?;
            return Ok(Some((p.lat, p.lon)));
        }
        Ok(match viewer {
            Some(v) => self.store.place(v).await?.map(|h| (h.lat, h.lon)),
            None => None,
        })
    }

    /// What a seller page says of a user beyond their deals.
    pub async fn profile(&self, user_id: Uuid) -> Result<crate::store::Profile, ApiError> {
        Ok(self.store.profile(user_id).await?)
    }

    /// The viewer's neighbourhoods as deals knows them (the active one's point and reach, the
    /// second one's name).
    pub async fn homes_of(&self, viewer: Uuid) -> Result<Option<crate::store::Homes>, ApiError> {
        Ok(self.store.homes(viewer).await?)
    }

    /// The viewer's neighbourhood as deals knows it (point and reach).
    pub async fn home_of(&self, viewer: Uuid) -> Result<Option<crate::store::Home>, ApiError> {
        Ok(self.store.place(viewer).await?)
    }

    /// Background work: fail overdue deals and announce deadlines within 24 hours.
    pub async fn tick(&self) -> anyhow::Result<(usize, usize)> {
        let now = self.clock.now();
        Ok((self.store.fail_overdue(now).await?, self.store.announce_deadlines(now).await?))
    }
}

/// Great-circle distance to the deal's meeting place, in metres.
fn distance_m((lat0, lon0): (f64, f64), d: &DealRecord) -> Option<i64> {
    let p = d.meeting_place.as_ref()?;
    Some(gonggu_places::distance_m(lat0, lon0, p.lat, p.lon).round() as i64)
}

#[cfg(test)]
mod distance_tests {
    use super::*;

    #[test]
    fn metres_between_two_stations() {
        // 역삼역 → 강남역 is about 800 m.
        let mut d = crate::rules::tests::deal(crate::domain::DealStatus::Recruiting, 1);
        d.meeting_place = Some(crate::domain::MeetingPlace::at("강남역", 37.4979, 127.0276));
        let m = distance_m((37.5007, 127.0365), &d).unwrap();
        assert!((750..=900).contains(&m), "{m}");
        d.meeting_place = None;
        assert_eq!(distance_m((37.5, 127.0), &d), None);
    }
}
