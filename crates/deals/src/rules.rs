//! The rules of a deal's life, as pure decisions over the locked deal and its members. They
//! answer in domain terms ([`DealError`]); what that means in HTTP is decided once, at the edge
//! (`From<DealError> for ApiError`).

use chrono::{DateTime, Utc};
use gonggu_kernel::{error::FieldErrors, ApiError};
use uuid::Uuid;

use crate::{
    domain::{DealEvent, DealStatus, Shares},
    store::{DealRecord, MemberRecord, Payment, Plan},
};

/// Why a rule refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DealError {
    #[error("the deal is {0:?}")]
    Closed(DealStatus),
    #[error("the deadline has passed")]
    DeadlinePassed,
    #[error("a host cannot join their own deal")]
    OwnDeal,
    #[error("only {remaining} shares are left")]
    Full { remaining: i64 },
    #[error("a confirmed deal cannot drop below its tipping point")]
    BelowTippingPoint,
    #[error("nobody leaves a confirmed deal")]
    ConfirmedNoLeaving,
    #[error("the host cannot leave")]
    HostCannotLeave,
    #[error("not a member")]
    NotAMember,
    #[error("only the host may do this")]
    NotHost,
    #[error("the deal is not confirmed")]
    NotConfirmed,
    #[error("the terms are frozen once someone joined")]
    Locked,
    #[error("invalid fields: {0:?}")]
    Invalid(FieldErrors),
}

impl From<DealError> for ApiError {
    fn from(e: DealError) -> Self {
        match e {
            DealError::Closed(status) => ApiError::conflict(
                "deal_closed",
                match status {
                    DealStatus::Cancelled => "취소된 공구입니다.",
                    DealStatus::Failed => "인원이 모이지 않아 무산된 공구입니다.",
                    DealStatus::Completed => "이미 거래가 끝난 공구입니다.",
                    _ => "마감된 공구입니다.",
                },
            ),
            DealError::DeadlinePassed => ApiError::conflict("deadline_passed", "마감 시간이 지난 공구입니다."),
            DealError::OwnDeal => ApiError::conflict("own_deal", "자신이 연 공구에는 참여할 수 없습니다."),
            DealError::Full { remaining } => ApiError::conflict("deal_full", format!("남은 몫이 {remaining}개뿐입니다."))
                .with_details(serde_json::json!({ "remaining": remaining })),
            DealError::BelowTippingPoint => ApiError::conflict("deal_confirmed", "공구가 확정되어 최소 인원 아래로 줄일 수 없습니다."),
            DealError::ConfirmedNoLeaving => {
                ApiError::conflict("deal_confirmed", "확정된 공구에서는 나갈 수 없습니다. 공구를 연 사람과 이야기해 주세요.")
            }
            DealError::HostCannotLeave => {
                ApiError::conflict("host_cannot_leave", "공구를 연 사람은 나갈 수 없습니다. 대신 공구를 취소해 주세요.")
            }
            DealError::NotAMember => ApiError::not_found("not_a_member", "참여하지 않은 공구입니다."),
            DealError::NotHost => ApiError::forbidden("not_host", "공구를 연 사람만 할 수 있습니다."),
            DealError::NotConfirmed => ApiError::conflict("not_confirmed", "최소 인원이 모여 확정된 공구만 거래 완료할 수 있습니다."),
            DealError::Locked => {
                ApiError::conflict("deal_locked", "다른 사람이 참여한 뒤에는 제목, 가격, 몫, 마감 시간을 바꿀 수 없습니다.")
            }
            DealError::Invalid(fields) => ApiError::validation(fields),
        }
    }
}

fn ensure_open(d: &DealRecord, now: DateTime<Utc>) -> Result<(), DealError> {
    if !d.status.is_open() {
        return Err(DealError::Closed(d.status));
    }
    if d.deadline <= now {
        return Err(DealError::DeadlinePassed);
    }
    Ok(())
}

/// Join with `shares`, or change one's shares to `shares`.
pub fn set_shares(
    d: &DealRecord,
    members: &[MemberRecord],
    user: Uuid,
    login_id: &str,
    shares: Shares,
    now: DateTime<Utc>,
) -> Result<Plan, DealError> {
    let shares = shares.get();
    if d.host_id == user {
        return Err(DealError::OwnDeal);
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
        return Err(DealError::Full { remaining: left });
    }
    if d.status == DealStatus::Confirmed && taken < d.min_shares {
        return Err(DealError::BelowTippingPoint);
    }
    let mut plan = Plan {
        upsert_member: Some(MemberRecord {
            user_id: user,
            login_id: login_id.to_owned(),
            shares,
            is_host: false,
            joined_at: current.map_or(now, |m| m.joined_at),
            paid: current.map_or(0, |m| m.paid),
        }),
        shares_taken: Some(taken),
        events: vec![if current.is_some() { DealEvent::MemberSharesChanged } else { DealEvent::MemberJoined }],
        actor: Some((user, login_id.to_owned(), shares)),
        ..Default::default()
    };
    if d.status == DealStatus::Recruiting && taken >= d.min_shares {
        plan.status = Some(DealStatus::Confirmed);
        plan.events.push(DealEvent::Confirmed);
    }
    Ok(plan)
}

pub fn leave(d: &DealRecord, members: &[MemberRecord], user: Uuid, now: DateTime<Utc>) -> Result<Plan, DealError> {
    if d.host_id == user {
        return Err(DealError::HostCannotLeave);
    }
    let Some(member) = members.iter().find(|m| m.user_id == user) else {
        return Err(DealError::NotAMember);
    };
    if d.status == DealStatus::Confirmed {
        return Err(DealError::ConfirmedNoLeaving);
    }
    ensure_open(d, now)?;
    Ok(Plan {
        remove_member: Some(user),
        shares_taken: Some(d.shares_taken - member.shares),
        events: vec![DealEvent::MemberLeft],
        actor: Some((user, member.login_id.clone(), 0)),
        ..Default::default()
    })
}

/// A transfer tagged with this deal counts as a member paying their share only when it went from
/// a member (not the host) to the host; any other tag is ignored, not an error: the money moved
/// either way, and the event must not be retried.
pub fn record_payment(d: &DealRecord, members: &[MemberRecord], p: &Payment) -> Plan {
    let member = members.iter().any(|m| m.user_id == p.payer_id && !m.is_host);
    if p.receiver_id != d.host_id || !member || p.amount <= 0 {
        return Plan::default();
    }
    Plan { payment: Some(p.clone()), ..Default::default() }
}

fn host_only(d: &DealRecord, user: Uuid) -> Result<(), DealError> {
    if d.host_id != user {
        return Err(DealError::NotHost);
    }
    Ok(())
}

pub fn cancel(d: &DealRecord, user: Uuid) -> Result<Plan, DealError> {
    host_only(d, user)?;
    if !d.status.is_open() {
        return Err(DealError::Closed(d.status));
    }
    Ok(Plan { status: Some(DealStatus::Cancelled), events: vec![DealEvent::Cancelled], ..Default::default() })
}

pub fn complete(d: &DealRecord, user: Uuid) -> Result<Plan, DealError> {
    host_only(d, user)?;
    match d.status {
        DealStatus::Confirmed => Ok(Plan { status: Some(DealStatus::Completed), events: vec![DealEvent::Completed], ..Default::default() }),
        DealStatus::Recruiting => Err(DealError::NotConfirmed),
        _ => Err(DealError::Closed(d.status)),
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
) -> Result<Plan, DealError> {
    use crate::domain::{
        parse_deadline, parse_description, parse_keywords, parse_meeting_place, parse_title, parse_url, CategoryId, ItemsPerShare,
        SharesTotal, TotalPrice, UNITS,
    };
    host_only(d, user)?;
    if !d.status.is_open() {
        return Err(DealError::Closed(d.status));
    }
    let mut e = d.clone();
    let mut errors = FieldErrors::new();
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
        CategoryId::parse(v).map(|v| e.category_id = v.get()).unwrap_or_else(|m| put("category_id", m));
    }
    if let Some(v) = &p.product_url {
        parse_url(Some(v)).map(|v| e.product_url = v).unwrap_or_else(|m| put("product_url", m));
    }
    if let Some(v) = p.total_price {
        TotalPrice::parse(v).map(|v| e.total_price = v.get()).unwrap_or_else(|m| put("total_price", m));
    }
    if let Some(v) = p.shares_total {
        match SharesTotal::parse(v) {
            Ok(v) if v.get() >= d.shares_taken => e.shares_total = v.get(),
            _ => put("shares_total", "나눌 몫은 2~100개이고 이미 잡힌 몫보다 적을 수 없습니다."),
        }
    }
    if let Some(v) = p.min_shares {
        e.min_shares = v;
    }
    if e.min_shares < 2 || e.min_shares > e.shares_total {
        put("min_shares", "최소 인원(몫)은 2개 이상, 전체 몫 이하여야 합니다.");
    }
    if let Some(v) = p.items_per_share {
        ItemsPerShare::parse(v).map(|v| e.items_per_share = v.get()).unwrap_or_else(|m| put("items_per_share", m));
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
        return Err(DealError::Invalid(errors));
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
        return Err(DealError::Locked);
    }
    // The status follows the tipping point both ways. Only the host can be in when it moves
    // (it is frozen once anyone else joined), so undoing a confirmation breaks no one's deal.
    let mut plan = Plan { events: vec![DealEvent::Updated], ..Default::default() };
    let tipped = d.shares_taken >= e.min_shares;
    match d.status {
        DealStatus::Recruiting if tipped => {
            plan.status = Some(DealStatus::Confirmed);
            plan.events.push(DealEvent::Confirmed);
        }
        DealStatus::Confirmed if !tipped => plan.status = Some(DealStatus::Recruiting),
        _ => {}
    }
    plan.edited = Some(e);
    Ok(plan)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::Duration;

    fn n(v: i64) -> Shares {
        Shares::parse(v).unwrap()
    }

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
        let p = set_shares(&d, &[], Uuid::from_u128(2), "a", n(4), Utc::now()).unwrap();
        assert_eq!((p.shares_taken, p.status), (Some(5), Some(DealStatus::Confirmed)));
        assert_eq!(p.events, [DealEvent::MemberJoined, DealEvent::Confirmed]);
        let p = set_shares(&d, &[], Uuid::from_u128(2), "a", n(3), Utc::now()).unwrap();
        assert_eq!((p.shares_taken, p.status), (Some(4), None));
    }

    #[test]
    fn refusals() {
        let now = Utc::now();
        let d = deal(DealStatus::Recruiting, 8);
        assert_eq!(set_shares(&d, &[], Uuid::from_u128(2), "a", n(3), now).map_err(ApiError::from).unwrap_err().code, "deal_full");
        assert_eq!(set_shares(&d, &[], Uuid::from_u128(1), "host", n(1), now).map_err(ApiError::from).unwrap_err().code, "own_deal");
        assert_eq!(
            set_shares(&deal(DealStatus::Cancelled, 1), &[], Uuid::from_u128(2), "a", n(1), now).map_err(ApiError::from).unwrap_err().code,
            "deal_closed"
        );
        let mut late = deal(DealStatus::Recruiting, 1);
        late.deadline = now - Duration::seconds(1);
        assert_eq!(set_shares(&late, &[], Uuid::from_u128(2), "a", n(1), now).map_err(ApiError::from).unwrap_err().code, "deadline_passed");
        assert_eq!(leave(&d, &[], Uuid::from_u128(1), now).map_err(ApiError::from).unwrap_err().code, "host_cannot_leave");
        assert_eq!(leave(&d, &[], Uuid::from_u128(3), now).map_err(ApiError::from).unwrap_err().code, "not_a_member");
        assert_eq!(cancel(&d, Uuid::from_u128(2)).map_err(ApiError::from).unwrap_err().code, "not_host");
        assert_eq!(complete(&d, Uuid::from_u128(1)).map_err(ApiError::from).unwrap_err().code, "not_confirmed");
        assert!(complete(&deal(DealStatus::Confirmed, 6), Uuid::from_u128(1)).is_ok());
    }

    #[test]
    fn no_leaving_after_confirmation() {
        let d = deal(DealStatus::Confirmed, 5);
        let m =
            MemberRecord { user_id: Uuid::from_u128(2), login_id: "a".into(), shares: 2, is_host: false, joined_at: Utc::now(), paid: 0 };
        assert_eq!(leave(&d, std::slice::from_ref(&m), m.user_id, Utc::now()).map_err(ApiError::from).unwrap_err().code, "deal_confirmed");
        assert_eq!(
            set_shares(&d, std::slice::from_ref(&m), m.user_id, "a", n(1), Utc::now()).map_err(ApiError::from).unwrap_err().code,
            "deal_confirmed"
        );
        assert!(set_shares(&d, std::slice::from_ref(&m), m.user_id, "a", n(3), Utc::now()).is_ok(), "more is fine");
        let d = deal(DealStatus::Confirmed, 6);
        assert!(set_shares(&d, std::slice::from_ref(&m), m.user_id, "a", n(1), Utc::now()).is_ok(), "fewer, still at the tipping point");
    }

    #[test]
    fn only_a_member_paying_the_host_counts() {
        let d = deal(DealStatus::Confirmed, 6);
        let m =
            MemberRecord { user_id: Uuid::from_u128(2), login_id: "a".into(), shares: 2, is_host: false, joined_at: Utc::now(), paid: 0 };
        let host = MemberRecord { user_id: d.host_id, login_id: "host".into(), shares: 4, is_host: true, joined_at: Utc::now(), paid: 0 };
        let members = [host, m.clone()];
        let pay = |payer: u128, receiver: Uuid, amount: i64| Payment {
            entry_id: Uuid::now_v7(),
            payer_id: Uuid::from_u128(payer),
            receiver_id: receiver,
            amount,
            at: Utc::now(),
        };
        let p = pay(2, d.host_id, 2_000);
        assert_eq!(record_payment(&d, &members, &p).payment, Some(p));
        for p in [pay(3, d.host_id, 2_000), pay(2, Uuid::from_u128(9), 2_000), pay(1, d.host_id, 2_000), pay(2, d.host_id, 0)] {
            assert_eq!(record_payment(&d, &members, &p).payment, None, "{p:?}");
        }
    }

    proptest::proptest! {
        /// After any edit the host may make, an open deal is confirmed exactly when the shares
        /// taken reach its tipping point (issue 9, item 27).
        #[test]
        fn edits_keep_the_status_true_to_the_tipping_point(
            confirmed in proptest::bool::ANY, taken in 1i64..=10, min in proptest::option::of(-3i64..=12),
            total in proptest::option::of(0i64..=12), others in proptest::bool::ANY,
        ) {
            let status = if confirmed { DealStatus::Confirmed } else { DealStatus::Recruiting };
            let mut d = deal(status, taken);
            d.min_shares = if confirmed { taken.clamp(2, 10) } else { (taken + 1).clamp(2, 10) };
            proptest::prop_assume!((d.shares_taken >= d.min_shares) == confirmed);
            let members = if others {
                vec![MemberRecord { user_id: Uuid::from_u128(2), login_id: "a".into(), shares: 1, is_host: false, joined_at: Utc::now(), paid: 0 }]
            } else {
                vec![]
            };
            let patch = crate::domain::DealPatch { min_shares: min, shares_total: total, ..Default::default() };
            if let Ok(plan) = edit(&d, &members, d.host_id, &patch, Utc::now()) {
                let e = plan.edited.expect("an edit");
                let after = plan.status.unwrap_or(d.status);
                proptest::prop_assert_eq!(after == DealStatus::Confirmed, d.shares_taken >= e.min_shares);
                proptest::prop_assert!(e.min_shares <= e.shares_total && d.shares_taken <= e.shares_total);
            }
        }

        /// Whatever number a client sends, the rule sees only a checked one, and then joining
        /// never overbooks and never leaves a recruiting deal at its tipping point.
        #[test]
        fn any_number_of_shares_is_refused_or_fits(raw in proptest::num::i64::ANY, taken in 1i64..=10, joined in 0i64..=3) {
            let Ok(shares) = Shares::parse(raw) else {
                proptest::prop_assert!(!(1..=100).contains(&raw));
                return Ok(());
            };
            let d = deal(DealStatus::Recruiting, taken);
            let member = MemberRecord { user_id: Uuid::from_u128(2), login_id: "a".into(), shares: joined, is_host: false, joined_at: Utc::now(), paid: 0 };
            let members = if joined > 0 && joined < taken { vec![member] } else { vec![] };
            if let Ok(plan) = set_shares(&d, &members, Uuid::from_u128(2), "a", shares, Utc::now()) {
                let after = plan.shares_taken.unwrap_or(d.shares_taken);
                proptest::prop_assert!(after <= d.shares_total);
                proptest::prop_assert_eq!(after >= d.min_shares, plan.status == Some(DealStatus::Confirmed));
            }
        }
    }
}
