//! Deal value types and the rules for creating one, parsed once at the edge.

use chrono::{DateTime, Duration, Utc};
use gonggu_kernel::error::FieldErrors;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A deal's total price, in won.
pub const MIN_TOTAL_PRICE: i64 = 100;
pub const MAX_TOTAL_PRICE: i64 = 10_000_000;

/// A whole number a rule bounds. Parsed at the edge, before any arithmetic sees it, so that no
/// sum or product of checked values can overflow and the database's CHECKs only ever back the
/// rules up (a refused value is a 422 naming the field, never a 500).
macro_rules! bounded {
    ($(#[$doc:meta])* $name:ident in $min:expr, $max:expr, $msg:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i64);

        impl $name {
            pub const MIN: i64 = $min;
            pub const MAX: i64 = $max;
            /// Why a value was refused, for the field's 422 message.
            pub const MESSAGE: &'static str = $msg;

            pub fn parse(v: i64) -> Result<Self, &'static str> {
                if (Self::MIN..=Self::MAX).contains(&v) {
                    Ok(Self(v))
                } else {
                    Err($msg)
                }
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }
    };
}

bounded!(
    /// A deal's total price, in won.
    TotalPrice in MIN_TOTAL_PRICE, MAX_TOTAL_PRICE, "총 금액은 100원 이상 10,000,000원 이하여야 합니다."
);
bounded!(
    /// How many shares a deal is split into.
    SharesTotal in 2, 100, "나눌 몫은 2~100개여야 합니다."
);
bounded!(
    /// How many shares one member holds; never more than any deal has.
    Shares in 1, SharesTotal::MAX, "몫은 1개 이상 100개 이하로 골라 주세요."
);
bounded!(
    /// How many items one share holds.
    ItemsPerShare in 1, 10_000, "한 몫의 수량은 1~10,000이어야 합니다."
);
bounded!(
    /// One of [`CATEGORIES`], counted from 1.
    CategoryId in 1, CATEGORIES.len() as i64, "카테고리를 골라 주세요."
);
bounded!(
    /// A bound of a price filter (`min_price`, `max_price`).
    PriceBound in 0, MAX_TOTAL_PRICE, "가격은 0원 이상 10,000,000원 이하로 입력해 주세요."
);

/// Degrees north, finite and within -90..=90.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Latitude(f64);

impl Latitude {
    pub const MESSAGE: &'static str = "위도는 -90 이상 90 이하여야 합니다.";
    pub fn parse(v: f64) -> Result<Self, &'static str> {
        if v.is_finite() && (-90.0..=90.0).contains(&v) {
            Ok(Self(v))
        } else {
            Err(Self::MESSAGE)
        }
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

/// Degrees east, finite and within -180..=180.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Longitude(f64);

impl Longitude {
    pub const MESSAGE: &'static str = "경도는 -180 이상 180 이하여야 합니다.";
    pub fn parse(v: f64) -> Result<Self, &'static str> {
        if v.is_finite() && (-180.0..=180.0).contains(&v) {
            Ok(Self(v))
        } else {
            Err(Self::MESSAGE)
        }
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

/// The 18 categories of the original app, in its order, then the group-buy ones it lacked (food
/// and household goods); ids start at 1 (seeded by migrations).
pub const CATEGORIES: [&str; 25] = [
    "디지털기기",
    "생활가전",
    "가구/인테리어",
    "생활/주방",
    "유아동",
    "유아도서",
    "여성의류",
    "여성잡화",
    "남성패션/잡화",
    "뷰티/미용",
    "스포츠/레저",
    "취미/게임/음반",
    "도서",
    "티켓/교환권",
    "가공식품",
    "반려동물용품",
    "식물",
    "기타 물품",
    "과일·채소",
    "정육·계란",
    "수산·건어물",
    "쌀·잡곡",
    "생수·음료",
    "유제품·간식",
    "생활용품",
];

/// The 12 units of the original app, then rolls, litres, millilitres, eggs and bags (seeded by
/// migrations).
pub const UNITS: [&str; 17] =
    ["개", "권", "병", "장", "팩", "묶음", "박스", "세트", "자루", "켤레", "g", "kg", "롤", "L", "ml", "구", "봉"];

/// `category_id` in the OpenAPI document: 1 ..= the number of categories, from the list itself.
pub fn category_id_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::{schema::SchemaType, ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Integer))
        .minimum(Some(1))
        .maximum(Some(CATEGORIES.len() as i64))
        .description(Some("`GET /api/v1/categories`의 id"))
        .build()
}

/// `unit` in the OpenAPI document: one of [`UNITS`].
pub fn unit_schema() -> utoipa::openapi::Object {
    gonggu_kernel::page::string_enum(&UNITS)
}

/// The same for a field that may be `null` or left out (a patch).
pub fn optional_category_id_schema() -> utoipa::openapi::Object {
    nullable(category_id_schema())
}

pub fn optional_unit_schema() -> utoipa::openapi::Object {
    let mut s = nullable(unit_schema());
    // `null` is a value of the enum too, or a validator refuses it.
    s.enum_values.get_or_insert_with(Vec::new).push(serde_json::Value::Null);
    s
}

fn nullable(mut s: utoipa::openapi::Object) -> utoipa::openapi::Object {
    use utoipa::openapi::{schema::SchemaType, Type};
    if let SchemaType::Type(t) = s.schema_type {
        s.schema_type = SchemaType::from_iter([t, Type::Null]);
    }
    s
}

/// What the deals context publishes (DESIGN §3); every one carries the deal's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealEvent {
    Created,
    Updated,
    MemberJoined,
    MemberSharesChanged,
    MemberLeft,
    Confirmed,
    Cancelled,
    Failed,
    Completed,
    DeadlineSoon,
}

impl DealEvent {
    /// The events after which a deal's members, shares, status or text differ.
    pub const CHANGES: [DealEvent; 9] = [
        DealEvent::Created,
        DealEvent::Updated,
        DealEvent::MemberJoined,
        DealEvent::MemberSharesChanged,
        DealEvent::MemberLeft,
        DealEvent::Confirmed,
        DealEvent::Cancelled,
        DealEvent::Failed,
        DealEvent::Completed,
    ];

    /// The name on the bus.
    pub const fn name(self) -> &'static str {
        match self {
            DealEvent::Created => "DealCreated",
            DealEvent::Updated => "DealUpdated",
            DealEvent::MemberJoined => "MemberJoined",
            DealEvent::MemberSharesChanged => "MemberSharesChanged",
            DealEvent::MemberLeft => "MemberLeft",
            DealEvent::Confirmed => "DealConfirmed",
            DealEvent::Cancelled => "DealCancelled",
            DealEvent::Failed => "DealFailed",
            DealEvent::Completed => "DealCompleted",
            DealEvent::DeadlineSoon => "DealDeadlineSoon",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DealStatus {
    /// Open for joining.
    Recruiting,
    /// The tipping point was reached; the buy goes ahead (joining stays open until full or the deadline).
    Confirmed,
    /// The host handed the goods over.
    Completed,
    /// The host called it off.
    Cancelled,
    /// The deadline passed below the tipping point.
    Failed,
}

impl DealStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DealStatus::Recruiting => "recruiting",
            DealStatus::Confirmed => "confirmed",
            DealStatus::Completed => "completed",
            DealStatus::Cancelled => "cancelled",
            DealStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "recruiting" => DealStatus::Recruiting,
            "confirmed" => DealStatus::Confirmed,
            "completed" => DealStatus::Completed,
            "cancelled" => DealStatus::Cancelled,
            "failed" => DealStatus::Failed,
            _ => return None,
        })
    }
    /// Whether members may still join, change or leave.
    pub fn is_open(self) -> bool {
        matches!(self, DealStatus::Recruiting | DealStatus::Confirmed)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MeetingPlace {
    /// 1–50 characters once trimmed.
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// Set by the server (anything sent is ignored): the 법정동 code of the 읍면동 the point lies
    /// in, none outside Korea.
    #[serde(default)]
    #[schema(read_only, example = "11680101")]
    pub code: Option<String>,
    /// Set by the server (anything sent is ignored): that 읍면동's name, e.g. "역삼동".
    #[serde(default)]
    #[schema(read_only, example = "역삼동")]
    pub dong: Option<String>,
}

impl MeetingPlace {
    /// A place at `lat`/`lon`, with the 읍면동 it lies in.
    pub fn at(name: &str, lat: f64, lon: f64) -> Self {
        let dong = gonggu_places::reverse(lat, lon).ok();
        Self { name: name.to_owned(), lat, lon, code: dong.map(|p| p.code.to_string()), dong: dong.map(|p| p.name.to_owned()) }
    }
}

/// `POST /api/v1/deals` as sent.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewDealInput {
    /// 2–60 characters once trimmed.
    #[schema(min_length = 2, max_length = 60)]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: String,
    #[schema(schema_with = category_id_schema)]
    pub category_id: i64,
    /// An `http://` or `https://` address (blank means none).
    #[schema(pattern = r"^\s*(?:[Hh][Tt][Tt][Pp][Ss]?://[^/\s]\S*)?\s*$")]
    pub product_url: Option<String>,
    /// Won.
    #[schema(minimum = 100, maximum = 10_000_000)]
    pub total_price: i64,
    #[schema(minimum = 2, maximum = 100)]
    pub shares_total: i64,
    /// The tipping point (default: all shares); at most `shares_total`.
    #[schema(minimum = 2, maximum = 100)]
    pub min_shares: Option<i64>,
    /// The host's own shares (default 1); fewer than `shares_total`.
    #[schema(minimum = 1, maximum = 99)]
    pub host_shares: Option<i64>,
    #[schema(minimum = 1, maximum = 10_000)]
    pub items_per_share: i64,
    #[schema(schema_with = unit_schema)]
    pub unit: String,
    /// One hour to 14 days from now.
    pub deadline: DateTime<Utc>,
    pub meeting_place: Option<MeetingPlace>,
    /// At most 10 once trimmed and without case-insensitive duplicates; 1–20 characters each.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// At most 5 keys from `POST /api/v1/media`.
    #[serde(default)]
    #[schema(max_items = 5)]
    pub image_keys: Vec<String>,
}

/// A deal that passed every rule.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeal {
    pub title: String,
    pub description: String,
    pub category_id: i64,
    pub product_url: Option<String>,
    pub total_price: i64,
    pub shares_total: u32,
    pub min_shares: u32,
    pub host_shares: u32,
    pub items_per_share: u32,
    pub unit: String,
    pub deadline: DateTime<Utc>,
    pub meeting_place: Option<MeetingPlace>,
    pub keywords: Vec<String>,
    pub image_keys: Vec<String>,
}

/// At most five media keys of the form the media context hands out (`<40 hex>.jpg|png`).
/// Whether they exist is asked of the media catalog by the service.
pub fn parse_image_keys(raw: &[String]) -> Result<Vec<String>, &'static str> {
    if raw.len() > 5 {
        return Err("사진은 5장까지 넣을 수 있습니다.");
    }
    let mut out: Vec<String> = vec![];
    for k in raw {
        if !gonggu_kernel::images::is_image_key(k) {
            return Err("사진을 찾을 수 없습니다. 다시 올려 주세요.");
        }
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    Ok(out)
}

pub fn parse_title(raw: &str) -> Result<String, &'static str> {
    let t = raw.trim();
    let n = t.chars().count();
    if !(2..=60).contains(&n) || t.chars().any(char::is_control) {
        return Err("제목은 2~60자여야 합니다.");
    }
    Ok(t.to_owned())
}

pub fn parse_description(raw: &str) -> Result<String, &'static str> {
    let d = raw.trim();
    if d.chars().count() > 5000 {
        return Err("설명은 5,000자까지 쓸 수 있습니다.");
    }
    Ok(d.to_owned())
}

pub fn parse_url(raw: Option<&str>) -> Result<Option<String>, &'static str> {
    let Some(u) = raw.map(str::trim).filter(|u| !u.is_empty()) else { return Ok(None) };
    let lower = u.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty() && !host.starts_with('/') && u.len() <= 2000 && !u.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(Some(u.to_owned()))
        }
        _ => Err("상품 링크는 http:// 또는 https://로 시작하는 주소여야 합니다."),
    }
}

pub fn parse_keywords(raw: &[String]) -> Result<Vec<String>, &'static str> {
    let mut out: Vec<String> = vec![];
    for k in raw {
        let k = k.trim();
        let n = k.chars().count();
        if n == 0 || n > 20 || k.chars().any(char::is_control) {
            return Err("키워드는 1~20자여야 합니다.");
        }
        if !out.iter().any(|e| e.to_lowercase() == k.to_lowercase()) {
            out.push(k.to_owned());
        }
    }
    if out.len() > 10 {
        return Err("키워드는 최대 10개까지 넣을 수 있습니다.");
    }
    Ok(out)
}

pub fn parse_meeting_place(p: Option<&MeetingPlace>) -> Result<Option<MeetingPlace>, (&'static str, &'static str)> {
    let Some(p) = p else { return Ok(None) };
    let name = p.name.trim();
    if name.is_empty() || name.chars().count() > 50 {
        return Err(("meeting_place.name", "만날 장소는 1~50자여야 합니다."));
    }
    let lat = Latitude::parse(p.lat).map_err(|m| ("meeting_place.lat", m))?;
    let lon = Longitude::parse(p.lon).map_err(|m| ("meeting_place.lon", m))?;
    Ok(Some(MeetingPlace::at(name, lat.get(), lon.get())))
}

pub fn parse_deadline(deadline: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, &'static str> {
    if deadline < now + Duration::hours(1) || deadline > now + Duration::days(14) {
        return Err("마감 시간은 지금부터 1시간 뒤에서 14일 뒤 사이여야 합니다.");
    }
    Ok(deadline)
}

impl NewDealInput {
    /// Checks every rule and reports each broken one by field.
    pub fn parse(&self, now: DateTime<Utc>) -> Result<NewDeal, FieldErrors> {
        let mut e = FieldErrors::new();
        let mut put = |f: &str, m: &str| {
            e.insert(f.to_owned(), m.to_owned());
        };
        let title = parse_title(&self.title).map_err(|m| put("title", m)).ok();
        let description = parse_description(&self.description).map_err(|m| put("description", m)).ok();
        let category_id = CategoryId::parse(self.category_id).map_err(|m| put("category_id", m)).ok();
        let product_url = parse_url(self.product_url.as_deref()).map_err(|m| put("product_url", m)).ok();
        let total_price = TotalPrice::parse(self.total_price).map_err(|m| put("total_price", m)).ok();
        let shares_total = SharesTotal::parse(self.shares_total).map_err(|m| put("shares_total", m)).ok();
        // Compared with the checked total only, so a wild value cannot reach the arithmetic.
        let min_shares = shares_total.and_then(|total| {
            let min = self.min_shares.unwrap_or(total.get());
            (2..=total.get()).contains(&min).then_some(min).or_else(|| {
                put("min_shares", "최소 인원(몫)은 2개 이상, 전체 몫 이하여야 합니다.");
                None
            })
        });
        let host_shares = shares_total.and_then(|total| {
            let host = self.host_shares.unwrap_or(1);
            (1..total.get()).contains(&host).then_some(host).or_else(|| {
                put("host_shares", "내 몫은 1개 이상, 전체 몫보다 적어야 합니다.");
                None
            })
        });
        let items_per_share = ItemsPerShare::parse(self.items_per_share).map_err(|m| put("items_per_share", m)).ok();
        if !UNITS.contains(&self.unit.as_str()) {
            put("unit", "단위를 골라 주세요.");
        }
        let deadline = parse_deadline(self.deadline, now).map_err(|m| put("deadline", m)).ok();
        let meeting_place = parse_meeting_place(self.meeting_place.as_ref()).map_err(|(f, m)| put(f, m)).ok();
        let keywords = parse_keywords(&self.keywords).map_err(|m| put("keywords", m)).ok();
        let image_keys = parse_image_keys(&self.image_keys).map_err(|m| put("image_keys", m)).ok();
        if !e.is_empty() {
            return Err(e);
        }
        Ok(NewDeal {
            title: title.expect("checked"),
            description: description.expect("checked"),
            category_id: category_id.expect("checked").get(),
            product_url: product_url.expect("checked"),
            total_price: total_price.expect("checked").get(),
            shares_total: shares_total.expect("checked").get() as u32,
            min_shares: min_shares.expect("checked") as u32,
            host_shares: host_shares.expect("checked") as u32,
            items_per_share: items_per_share.expect("checked").get() as u32,
            unit: self.unit.clone(),
            deadline: deadline.expect("checked"),
            meeting_place: meeting_place.expect("checked"),
            keywords: keywords.expect("checked"),
            image_keys: image_keys.expect("checked"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(now: DateTime<Utc>) -> NewDealInput {
        NewDealInput {
            title: "코스트코 휴지 30롤".into(),
            description: "나눠요".into(),
            category_id: 4,
            product_url: Some("https://www.costco.co.kr/p/1".into()),
            total_price: 25_990,
            shares_total: 3,
            min_shares: None,
            host_shares: None,
            items_per_share: 10,
            unit: "개".into(),
            deadline: now + Duration::days(2),
            meeting_place: None,
            keywords: vec!["휴지".into(), "코스트코".into(), "휴지 ".into()],
            image_keys: vec![],
        }
    }

    #[test]
    fn a_good_deal_parses_with_defaults() {
        let now = Utc::now();
        let d = input(now).parse(now).unwrap();
        assert_eq!((d.min_shares, d.host_shares), (3, 1));
        assert_eq!(d.keywords, ["휴지", "코스트코"]);
    }

    proptest::proptest! {
        /// Every bounded number accepts exactly its range and keeps the value.
        #[test]
        fn bounded_numbers_accept_exactly_their_range(v in proptest::num::i64::ANY, near in -5i64..=10_000_005) {
            fn check<T>(v: i64, min: i64, max: i64, parse: fn(i64) -> Result<T, &'static str>, get: fn(T) -> i64) -> Result<(), proptest::test_runner::TestCaseError> {
                match parse(v) {
                    Ok(t) => proptest::prop_assert!((min..=max).contains(&v) && get(t) == v),
                    Err(m) => proptest::prop_assert!(!(min..=max).contains(&v) && !m.is_empty()),
                }
                Ok(())
            }
            for v in [v, near] {
                check(v, TotalPrice::MIN, TotalPrice::MAX, TotalPrice::parse, TotalPrice::get)?;
                check(v, SharesTotal::MIN, SharesTotal::MAX, SharesTotal::parse, SharesTotal::get)?;
                check(v, Shares::MIN, Shares::MAX, Shares::parse, Shares::get)?;
                check(v, ItemsPerShare::MIN, ItemsPerShare::MAX, ItemsPerShare::parse, ItemsPerShare::get)?;
                check(v, CategoryId::MIN, CategoryId::MAX, CategoryId::parse, CategoryId::get)?;
                check(v, PriceBound::MIN, PriceBound::MAX, PriceBound::parse, PriceBound::get)?;
            }
        }

        #[test]
        fn coordinates_accept_only_finite_degrees_in_range(v in proptest::num::f64::ANY) {
            proptest::prop_assert_eq!(Latitude::parse(v).is_ok(), v.is_finite() && (-90.0..=90.0).contains(&v));
            proptest::prop_assert_eq!(Longitude::parse(v).is_ok(), v.is_finite() && (-180.0..=180.0).contains(&v));
        }

        /// No number in a new deal, however wild, gets past parsing unchecked or makes it panic.
        #[test]
        fn any_numbers_in_a_new_deal_parse_or_name_their_field(
            total in proptest::num::i64::ANY, shares in proptest::num::i64::ANY, min in proptest::option::of(proptest::num::i64::ANY),
            host in proptest::option::of(proptest::num::i64::ANY), items in proptest::num::i64::ANY,
        ) {
            let now = Utc::now();
            let i = NewDealInput { total_price: total, shares_total: shares, min_shares: min, host_shares: host, items_per_share: items, ..input(now) };
            match i.parse(now) {
                Ok(d) => {
                    proptest::prop_assert!((2..=100).contains(&d.shares_total) && (2..=d.shares_total).contains(&d.min_shares));
                    proptest::prop_assert!((1..d.shares_total).contains(&d.host_shares));
                }
                Err(e) => proptest::prop_assert!(!e.is_empty()),
            }
        }
    }

    #[test]
    fn each_rule_names_its_field() {
        let now = Utc::now();
        type Break = Box<dyn Fn(&mut NewDealInput)>;
        let cases: Vec<(&str, Break)> = vec![
            ("title", Box::new(|i| i.title = "a".into())),
            ("title", Box::new(|i| i.title = "가".repeat(61))),
            ("category_id", Box::new(|i| i.category_id = CATEGORIES.len() as i64 + 1)),
            ("category_id", Box::new(|i| i.category_id = 0)),
            ("product_url", Box::new(|i| i.product_url = Some("javascript:alert(1)".into()))),
            ("product_url", Box::new(|i| i.product_url = Some("ftp://x".into()))),
            ("total_price", Box::new(|i| i.total_price = 99)),
            ("total_price", Box::new(|i| i.total_price = 10_000_001)),
            ("shares_total", Box::new(|i| i.shares_total = 1)),
            ("shares_total", Box::new(|i| i.shares_total = 101)),
            ("min_shares", Box::new(|i| i.min_shares = Some(1))),
            ("min_shares", Box::new(|i| i.min_shares = Some(4))),
            ("host_shares", Box::new(|i| i.host_shares = Some(3))),
            ("host_shares", Box::new(|i| i.host_shares = Some(0))),
            ("items_per_share", Box::new(|i| i.items_per_share = 0)),
            ("unit", Box::new(|i| i.unit = "톤".into())),
            ("deadline", Box::new(move |i| i.deadline = now + Duration::minutes(59))),
            ("deadline", Box::new(move |i| i.deadline = now + Duration::days(14) + Duration::minutes(1))),
            ("keywords", Box::new(|i| i.keywords = (0..11).map(|n| format!("k{n}")).collect())),
            ("keywords", Box::new(|i| i.keywords = vec![" ".into()])),
            ("meeting_place.lat", Box::new(|i| i.meeting_place = Some(MeetingPlace::at("역", 91.0, 0.0)))),
        ];
        for (field, change) in cases {
            let mut i = input(now);
            change(&mut i);
            let e = i.parse(now).unwrap_err();
            assert!(e.contains_key(field), "{field}: {e:?}");
        }
    }
}

/// `PATCH /api/v1/deals/{id}`: every field optional. Description, keywords and meeting place may
/// change any time the deal is open; the rest only while nobody but the host has joined.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct DealPatch {
    #[schema(min_length = 2, max_length = 60)]
    pub title: Option<String>,
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    #[schema(schema_with = optional_category_id_schema)]
    pub category_id: Option<i64>,
    /// An empty string removes the link.
    #[schema(pattern = r"^\s*(?:[Hh][Tt][Tt][Pp][Ss]?://[^/\s]\S*)?\s*$")]
    pub product_url: Option<String>,
    #[schema(minimum = 100, maximum = 10_000_000)]
    pub total_price: Option<i64>,
    #[schema(minimum = 2, maximum = 100)]
    pub shares_total: Option<i64>,
    #[schema(minimum = 2, maximum = 100)]
    pub min_shares: Option<i64>,
    #[schema(minimum = 1, maximum = 10_000)]
    pub items_per_share: Option<i64>,
    #[schema(schema_with = optional_unit_schema)]
    pub unit: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    /// Absent keeps the place; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<MeetingPlace>, nullable)]
    pub meeting_place: Option<Option<MeetingPlace>>,
    pub keywords: Option<Vec<String>>,
    #[schema(max_items = 5)]
    pub image_keys: Option<Vec<String>>,
}

/// For a field where `null` means something (remove) and absence means "leave as is": a present
/// field becomes `Some(value or None)`; an absent one stays `None` through `#[serde(default)]`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
