//! The rules of a deal's life, as pure decisions over the locked deal and its members.

use chrono::{DateTime, Utc};
use gonggu_kernel::ApiError;
use uuid::Uuid;

use crate::{
    domain::DealStatus,
    store::{DealRecord, MemberRecord, Plan},
};

fn closed(d: &DealRecord) -> ApiError {
    let msg = match d.status {
        DealStatus::Cancelled => "취소된 공구입니다.",
        DealStatus::Failed => "인원이 모이지 않아 무산된 공구입니다.",
        DealStatus::Completed => "이미 거래가 끝난 공구입니다.",
        _ => "마감된 공구입니다.",
    };
    ApiError::conflict("deal_closed", msg)
}

fn ensure_open(d: &DealRecord, now: DateTime<Utc>) -> Result<(), ApiError> {
    if !d.status.is_open() {
        return Err(closed(d));
    }
    if d.deadline <= now {
        return Err(ApiError::conflict("deadline_passed", "마감 시간이 지난 공구입니다."));
    }
    Ok(())
}

/// Join with `shares`, or change one's shares to `shares`.
pub fn set_shares(
    d: &DealRecord,
    members: &[MemberRecord],
    user: Uuid,
    login_id: &str,
    shares: i64,
    now: DateTime<Utc>,
) -> Result<Plan, ApiError> {
    if shares < 1 {
        return Err(ApiError::field("shares", "1개 이상의 몫을 골라 주세요."));
    }
    if d.host_id == user {
        return Err(ApiError::conflict("own_deal", "자신이 연 공구에는 참여할 수 없습니다."));
    }
    ensure_open(d, now)?;
    let current = members.iter().find(|m| m.user_id == user);
    let old = current.map_or(0, |m| m.shares);
    if old == shares {
        return Ok(Plan::default());
    }
    let taken = d.shares_taken - old + shares;
    if taken > d.shares_total {
        let left = d.shares_total - d.shares_taken + old;
        return Err(
            ApiError::conflict("deal_full", format!("남은 몫이 {left}개뿐입니다.")).with_details(serde_json::json!({ "remaining": left }))
        );
    }
    if d.status == DealStatus::Confirmed && taken < d.min_shares {
        return Err(ApiError::conflict("deal_confirmed", "공구가 확정되어 최소 인원 아래로 줄일 수 없습니다."));
    }
    let mut plan = Plan {
        upsert_member: Some(MemberRecord {
            user_id: user,
            login_id: login_id.to_owned(),
            shares,
            is_host: false,
            joined_at: current.map_or(now, |m| m.joined_at),
        }),
        shares_taken: Some(taken),
        events: vec![if current.is_some() { "MemberSharesChanged" } else { "MemberJoined" }],
        actor: Some((user, login_id.to_owned(), shares)),
        ..Default::default()
    };
    if d.status == DealStatus::Recruiting && taken >= d.min_shares {
        plan.status = Some(DealStatus::Confirmed);
        plan.events.push("DealConfirmed");
    }
    Ok(plan)
}

pub fn leave(d: &DealRecord, members: &[MemberRecord], user: Uuid, now: DateTime<Utc>) -> Result<Plan, ApiError> {
    if d.host_id == user {
        return Err(ApiError::conflict("host_cannot_leave", "공구를 연 사람은 나갈 수 없습니다. 대신 공구를 취소해 주세요."));
    }
    let Some(member) = members.iter().find(|m| m.user_id == user) else {
        return Err(ApiError::not_found("not_a_member", "참여하지 않은 공구입니다."));
    };
    if d.status == DealStatus::Confirmed {
        return Err(ApiError::conflict("deal_confirmed", "확정된 공구에서는 나갈 수 없습니다. 공구를 연 사람과 이야기해 주세요."));
    }
    ensure_open(d, now)?;
    Ok(Plan {
        remove_member: Some(user),
        shares_taken: Some(d.shares_taken - member.shares),
        events: vec!["MemberLeft"],
        actor: Some((user, member.login_id.clone(), 0)),
        ..Default::default()
    })
}

fn host_only(d: &DealRecord, user: Uuid) -> Result<(), ApiError> {
    if d.host_id != user {
        return Err(ApiError::forbidden("not_host", "공구를 연 사람만 할 수 있습니다."));
    }
    Ok(())
}

pub fn cancel(d: &DealRecord, user: Uuid) -> Result<Plan, ApiError> {
    host_only(d, user)?;
    if !d.status.is_open() {
        return Err(closed(d));
    }
    Ok(Plan { status: Some(DealStatus::Cancelled), events: vec!["DealCancelled"], ..Default::default() })
}

pub fn complete(d: &DealRecord, user: Uuid) -> Result<Plan, ApiError> {
    host_only(d, user)?;
    match d.status {
        DealStatus::Confirmed => Ok(Plan { status: Some(DealStatus::Completed), events: vec!["DealCompleted"], ..Default::default() }),
        DealStatus::Recruiting => Err(ApiError::conflict("not_confirmed", "최소 인원이 모여 확정된 공구만 거래 완료할 수 있습니다.")),
        _ => Err(closed(d)),
    }
}

/// The host edits a deal. Fields that change what members agreed to (price, shares, deadline, …)
/// are frozen once anyone else joined.
pub fn edit(
    d: &DealRecord,
    members: &[MemberRecord],
    user: Uuid,
    p: &crate::domain::DealPatch,
    now: DateTime<Utc>,
) -> Result<Plan, ApiError> {
    use crate::domain::{
        parse_deadline, parse_description, parse_keywords, parse_meeting_place, parse_title, parse_url, CATEGORIES, UNITS,
    };
    host_only(d, user)?;
    if !d.status.is_open() {
        return Err(closed(d));
    }
    let mut e = d.clone();
    let mut errors = gonggu_kernel::error::FieldErrors::new();
    let mut put = |f: &str, m: &str| {
        errors.insert(f.to_owned(), m.to_owned());
    };
    if let Some(v) = &p.description {
        parse_description(v).map(|v| e.description = v).unwrap_or_else(|m| put("description", m));
    }
    if let Some(v) = &p.keywords {
        parse_keywords(v).map(|v| e.keywords = v).unwrap_or_else(|m| put("keywords", m));
    }
    if let Some(v) = &p.meeting_place {
        parse_meeting_place(v.as_ref()).map(|v| e.meeting_place = v).unwrap_or_else(|(f, m)| put(f, m));
    }
    if let Some(v) = &p.image_keys {
        crate::domain::parse_image_keys(v).map(|v| e.images = v).unwrap_or_else(|m| put("image_keys", m));
    }
    if let Some(v) = &p.title {
        parse_title(v).map(|v| e.title = v).unwrap_or_else(|m| put("title", m));
    }
    if let Some(v) = p.category_id {
        if (1..=CATEGORIES.len() as i64).contains(&v) {
            e.category_id = v
        } else {
            put("category_id", "카테고리를 골라 주세요.")
        }
    }
    if let Some(v) = &p.product_url {
        parse_url(Some(v)).map(|v| e.product_url = v).unwrap_or_else(|m| put("product_url", m));
    }
    if let Some(v) = p.total_price {
        if (crate::domain::MIN_TOTAL_PRICE..=crate::domain::MAX_TOTAL_PRICE).contains(&v) {
            e.total_price = v
        } else {
            put("total_price", "총 금액은 100원 이상 10,000,000원 이하여야 합니다.")
        }
    }
    if let Some(v) = p.shares_total {
        if (2..=100).contains(&v) && v >= d.shares_taken {
            e.shares_total = v
        } else {
            put("shares_total", "나눌 몫은 2~100개이고 이미 잡힌 몫보다 적을 수 없습니다.")
        }
    }
    if let Some(v) = p.min_shares {
        e.min_shares = v;
    }
    if e.min_shares < 2 || e.min_shares > e.shares_total {
        put("min_shares", "최소 인원(몫)은 2개 이상, 전체 몫 이하여야 합니다.");
    }
    if let Some(v) = p.items_per_share {
        if (1..=10_000).contains(&v) {
            e.items_per_share = v
        } else {
            put("items_per_share", "한 몫의 수량은 1~10,000이어야 합니다.")
        }
    }
    if let Some(v) = &p.unit {
        if UNITS.contains(&v.as_str()) {
            e.unit = v.clone()
        } else {
            put("unit", "단위를 골라 주세요.")
        }
    }
    if let Some(v) = p.deadline {
        if v != d.deadline {
            parse_deadline(v, now).map(|v| e.deadline = v).unwrap_or_else(|m| put("deadline", m));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let frozen_changed = e.title != d.title
        || e.category_id != d.category_id
        || e.product_url != d.product_url
        || e.total_price != d.total_price
        || e.shares_total != d.shares_total
        || e.min_shares != d.min_shares
        || e.items_per_share != d.items_per_share
        || e.unit != d.unit
        || e.deadline != d.deadline;
    if frozen_changed && members.iter().any(|m| !m.is_host) {
        return Err(ApiError::conflict("deal_locked", "다른 사람이 참여한 뒤에는 제목, 가격, 몫, 마감 시간을 바꿀 수 없습니다."));
    }
    let mut plan = Plan { events: vec!["DealUpdated"], ..Default::default() };
    if d.status == DealStatus::Recruiting && d.shares_taken >= e.min_shares {
        plan.status = Some(DealStatus::Confirmed);
        plan.events.push("DealConfirmed");
    }
    plan.edited = Some(e);
    Ok(plan)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::Duration;

    pub(crate) fn deal(status: DealStatus, taken: i64) -> DealRecord {
        let now = Utc::now();
        DealRecord {
            seq: 1,
            id: Uuid::now_v7(),
            host_id: Uuid::from_u128(1),
            host_login_id: "host".into(),
            title: "휴지".into(),
            description: String::new(),
            category_id: 1,
            product_url: None,
            total_price: 10_000,
            shares_total: 10,
            shares_taken: taken,
            min_shares: 5,
            items_per_share: 1,
            unit: "개".into(),
            deadline: now + Duration::days(1),
            meeting_place: None,
            keywords: vec![],
            images: vec![],
            status,
            views: 0,
            created_at: now,
        }
    }

    #[test]
    fn joining_confirms_at_the_tipping_point() {
        let d = deal(DealStatus::Recruiting, 1);
        let p = set_shares(&d, &[], Uuid::from_u128(2), "a", 4, Utc::now()).unwrap();
        assert_eq!((p.shares_taken, p.status), (Some(5), Some(DealStatus::Confirmed)));
        assert_eq!(p.events, ["MemberJoined", "DealConfirmed"]);
        let p = set_shares(&d, &[], Uuid::from_u128(2), "a", 3, Utc::now()).unwrap();
        assert_eq!((p.shares_taken, p.status), (Some(4), None));
    }

    #[test]
    fn refusals() {
        let now = Utc::now();
        let d = deal(DealStatus::Recruiting, 8);
        assert_eq!(set_shares(&d, &[], Uuid::from_u128(2), "a", 3, now).unwrap_err().code, "deal_full");
        assert_eq!(set_shares(&d, &[], Uuid::from_u128(2), "a", 0, now).unwrap_err().code, "validation_failed");
        assert_eq!(set_shares(&d, &[], Uuid::from_u128(1), "host", 1, now).unwrap_err().code, "own_deal");
        assert_eq!(set_shares(&deal(DealStatus::Cancelled, 1), &[], Uuid::from_u128(2), "a", 1, now).unwrap_err().code, "deal_closed");
        let mut late = deal(DealStatus::Recruiting, 1);
        late.deadline = now - Duration::seconds(1);
        assert_eq!(set_shares(&late, &[], Uuid::from_u128(2), "a", 1, now).unwrap_err().code, "deadline_passed");
        assert_eq!(leave(&d, &[], Uuid::from_u128(1), now).unwrap_err().code, "host_cannot_leave");
        assert_eq!(leave(&d, &[], Uuid::from_u128(3), now).unwrap_err().code, "not_a_member");
        assert_eq!(cancel(&d, Uuid::from_u128(2)).unwrap_err().code, "not_host");
        assert_eq!(complete(&d, Uuid::from_u128(1)).unwrap_err().code, "not_confirmed");
        assert!(complete(&deal(DealStatus::Confirmed, 6), Uuid::from_u128(1)).is_ok());
    }

    #[test]
    fn no_leaving_after_confirmation() {
        let d = deal(DealStatus::Confirmed, 5);
        let m = MemberRecord { user_id: Uuid::from_u128(2), login_id: "a".into(), shares: 2, is_host: false, joined_at: Utc::now() };
        assert_eq!(leave(&d, std::slice::from_ref(&m), m.user_id, Utc::now()).unwrap_err().code, "deal_confirmed");
        assert_eq!(set_shares(&d, std::slice::from_ref(&m), m.user_id, "a", 1, Utc::now()).unwrap_err().code, "deal_confirmed");
        assert!(set_shares(&d, std::slice::from_ref(&m), m.user_id, "a", 3, Utc::now()).is_ok(), "more is fine");
        let d = deal(DealStatus::Confirmed, 6);
        assert!(set_shares(&d, std::slice::from_ref(&m), m.user_id, "a", 1, Utc::now()).is_ok(), "fewer, still at the tipping point");
    }
}
