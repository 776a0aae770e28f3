//! Who hears of what: other contexts' events turned into notices, one per recipient. Each
//! event's shape is declared here (push depends on what the events carry, not on the crates
//! that publish them).

use serde::Deserialize;
use uuid::Uuid;

use crate::domain::Kind;

/// RFC 8030 `Urgency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Low,
    Normal,
    High,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "low" => Urgency::Low,
            "high" => Urgency::High,
            _ => Urgency::Normal,
        }
    }
}

/// One notice for one user: an inbox row, and pushes to their devices if they want them.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub user_id: Uuid,
    pub kind: Kind,
    /// What happened (`member_joined`, `deal_confirmed`, `keyword_match`, `coins_received`, …).
    pub event: &'static str,
    pub title: String,
    pub body: String,
    /// Where a tap leads (a path of this app).
    pub url: String,
    /// The deal (or its room) the notice is about: the inbox groups by it, pushes collapse by it.
    pub deal_id: Option<Uuid>,
    /// The keyword that matched (keyword alerts).
    pub keyword: Option<String>,
    /// Unique per user: the same notice is never stored twice (a redelivered event, a second
    /// keyword alert for the same deal).
    pub dedupe: String,
    pub urgency: Urgency,
}

/// Deals' facts, the part push needs.
#[derive(Debug, Deserialize)]
pub struct DealFacts {
    pub deal_id: Uuid,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub host_id: Uuid,
    pub members: Vec<Member>,
    pub member: Option<Member>,
    /// Where it meets (on `DealCreated`): keyword alerts go to users whose reach takes it in.
    #[serde(default)]
    pub meeting_place: Option<Point>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Deserialize)]
pub struct Member {
    pub user_id: Uuid,
    pub login_id: String,
    pub shares: i64,
}

/// The deal events push acts on (`DealCreated` goes to keyword matching instead).
pub const DEAL_EVENTS: [&str; 8] = [
    "MemberJoined",
    "MemberSharesChanged",
    "MemberLeft",
    "DealConfirmed",
    "DealCancelled",
    "DealFailed",
    "DealCompleted",
    "DealDeadlineSoon",
];

fn quoted(title: &str) -> String {
    let short: String = title.chars().take(30).collect();
    if title.chars().count() > 30 {
        format!("‘{short}…’")
    } else {
        format!("‘{short}’")
    }
}

/// The notices a deal event makes, given its id (for dedupe). Never to the member who did it:
/// the joiner, the one who changed or left, the host who cancelled or completed.
pub fn of_deal_event(event_type: &str, event_id: Uuid, f: &DealFacts) -> Vec<Notice> {
    let title = quoted(&f.title);
    let who = f.member.as_ref().map(|m| m.login_id.as_str()).unwrap_or("이웃");
    let actor = match event_type {
        "MemberJoined" | "MemberSharesChanged" | "MemberLeft" => f.member.as_ref().map(|m| m.user_id),
        "DealCancelled" | "DealCompleted" => Some(f.host_id),
        _ => None,
    };
    let (event, head, body, urgency) = match event_type {
        "MemberJoined" => (
            "member_joined",
            "새 참여자가 있어요",
            format!("{who}님이 {title} 공구에 {}개 참여했어요.", f.member.as_ref().map_or(1, |m| m.shares)),
            Urgency::Normal,
        ),
        "MemberSharesChanged" => (
            "member_shares_changed",
            "참여 수량이 바뀌었어요",
            format!("{who}님이 {title} 공구의 몫을 {}개로 바꿨어요.", f.member.as_ref().map_or(0, |m| m.shares)),
            Urgency::Low,
        ),
        "MemberLeft" => ("member_left", "참여를 취소한 이웃이 있어요", format!("{who}님이 {title} 공구에서 나갔어요."), Urgency::Normal),
        "DealConfirmed" => ("deal_confirmed", "공구가 확정됐어요", format!("{title} 공구에 최소 인원이 모였어요."), Urgency::High),
        "DealCancelled" => ("deal_cancelled", "공구가 취소됐어요", format!("공구장이 {title} 공구를 취소했어요."), Urgency::High),
        "DealFailed" => {
            ("deal_failed", "공구가 무산됐어요", format!("마감까지 인원이 모이지 않아 {title} 공구가 무산됐어요."), Urgency::High)
        }
        "DealCompleted" => ("deal_completed", "거래가 완료됐어요", format!("{title} 공구의 거래가 완료됐어요."), Urgency::Normal),
        "DealDeadlineSoon" => ("deal_deadline_soon", "마감이 24시간 남았어요", format!("{title} 공구가 곧 마감돼요."), Urgency::Normal),
        _ => return Vec::new(),
    };
    let mut to: Vec<Uuid> = f.members.iter().map(|m| m.user_id).collect();
    if !to.contains(&f.host_id) {
        to.push(f.host_id);
    }
    to.retain(|u| Some(*u) != actor);
    to.sort();
    to.dedup();
    to.into_iter()
        .map(|user_id| Notice {
            user_id,
            kind: Kind::Deal,
            event,
            title: head.to_owned(),
            body: body.clone(),
            url: format!("/deals/{}", f.deal_id),
            deal_id: Some(f.deal_id),
            keyword: None,
            dedupe: format!("event:{event_id}"),
            urgency,
        })
        .collect()
}

/// A keyword alert for `user_id` about a new deal; at most one per (user, deal) whatever the
/// events.
pub fn keyword_alert(user_id: Uuid, keyword: &str, f: &DealFacts) -> Notice {
    Notice {
        user_id,
        kind: Kind::Keyword,
        event: "keyword_match",
        title: format!("관심 키워드 ‘{keyword}’ 새 공구"),
        body: format!("{} 공구가 올라왔어요.", quoted(&f.title)),
        url: format!("/deals/{}", f.deal_id),
        deal_id: Some(f.deal_id),
        keyword: Some(keyword.to_owned()),
        dedupe: format!("keyword:{}", f.deal_id),
        urgency: Urgency::Normal,
    }
}

/// The wallet's `CoinsReceived`, the part push needs.
#[derive(Debug, Deserialize)]
pub struct CoinsReceived {
    pub entry_id: Uuid,
    pub receiver_id: Uuid,
    pub sender_login_id: String,
    pub amount: i64,
    pub memo: Option<String>,
}

pub fn of_coins(e: &CoinsReceived) -> Notice {
    let amount = gonggu_kernel::web::won(e.amount);
    let body = match e.memo.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        Some(memo) => format!("{}님이 {amount}을 보냈어요: {memo}", e.sender_login_id),
        None => format!("{}님이 {amount}을 보냈어요.", e.sender_login_id),
    };
    Notice {
        user_id: e.receiver_id,
        kind: Kind::Wallet,
        event: "coins_received",
        title: "공구페이가 들어왔어요".to_owned(),
        body,
        url: "/wallet/history".to_owned(),
        deal_id: None,
        keyword: None,
        dedupe: format!("coins:{}", e.entry_id),
        urgency: Urgency::Normal,
    }
}

/// Chat's `ChatMessagePosted`, the part push needs.
#[derive(Debug, Deserialize)]
pub struct ChatMessagePosted {
    pub room_id: Uuid,
    pub seq: i64,
    pub sender_id: Uuid,
    pub sender_login_id: String,
    pub title: String,
    pub preview: String,
    pub member_ids: Vec<Uuid>,
    #[serde(default)]
    pub viewing_ids: Vec<Uuid>,
}

impl ChatMessagePosted {
    /// Members to tell: not the sender, not those looking at the room now.
    pub fn recipients(&self) -> Vec<Uuid> {
        self.member_ids.iter().copied().filter(|u| *u != self.sender_id && !self.viewing_ids.contains(u)).collect()
    }
}

/// The room's one inbox notice while it is unread: `count` new messages, the latest shown.
pub fn of_chat(user_id: Uuid, e: &ChatMessagePosted, count: i64) -> Notice {
    let body = if count > 1 {
        format!("새 메시지 {count}개 · {}: {}", e.sender_login_id, e.preview)
    } else {
        format!("{}: {}", e.sender_login_id, e.preview)
    };
    Notice {
        user_id,
        kind: Kind::Chat,
        event: "chat_message",
        title: quoted(&e.title),
        body,
        url: format!("/chat/{}", e.room_id),
        deal_id: Some(e.room_id),
        keyword: None,
        dedupe: format!("chat:{}", e.room_id),
        urgency: Urgency::High,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(host: u128, members: &[u128], actor: Option<u128>) -> DealFacts {
        let m = |id: u128| Member { user_id: Uuid::from_u128(id), login_id: format!("user{id}"), shares: 2 };
        DealFacts {
            deal_id: Uuid::from_u128(99),
            title: "제주 삼다수 2L 12병".into(),
            description: String::new(),
            keywords: vec![],
            host_id: Uuid::from_u128(host),
            members: members.iter().map(|&id| m(id)).collect(),
            member: actor.map(m),
            meeting_place: None,
        }
    }

    fn to(ns: &[Notice]) -> Vec<u128> {
        ns.iter().map(|n| n.user_id.as_u128()).collect()
    }

    #[test]
    fn the_member_who_did_it_hears_nothing() {
        let id = Uuid::from_u128(7);
        assert_eq!(to(&of_deal_event("MemberJoined", id, &facts(1, &[1, 2, 3], Some(3)))), [1, 2]);
        assert_eq!(to(&of_deal_event("MemberSharesChanged", id, &facts(1, &[1, 2, 3], Some(2)))), [1, 3]);
        assert_eq!(to(&of_deal_event("MemberLeft", id, &facts(1, &[1, 2], Some(3)))), [1, 2]);
        assert_eq!(to(&of_deal_event("DealCancelled", id, &facts(1, &[1, 2, 3], None))), [2, 3]);
        assert_eq!(to(&of_deal_event("DealCompleted", id, &facts(1, &[1, 2], None))), [2]);
        assert_eq!(to(&of_deal_event("DealConfirmed", id, &facts(1, &[1, 2], None))), [1, 2]);
        assert_eq!(to(&of_deal_event("DealFailed", id, &facts(1, &[1], None))), [1]);
        assert!(of_deal_event("DealUpdated", id, &facts(1, &[1], None)).is_empty());
        let n = &of_deal_event("MemberJoined", id, &facts(1, &[1, 3], Some(3)))[0];
        assert_eq!(n.body, "user3님이 ‘제주 삼다수 2L 12병’ 공구에 2개 참여했어요.");
        assert_eq!(n.url, "/deals/00000000-0000-0000-0000-000000000063");
    }

    #[test]
    fn chat_skips_the_sender_and_whoever_has_the_room_open() {
        let e = ChatMessagePosted {
            room_id: Uuid::from_u128(9),
            seq: 4,
            sender_id: Uuid::from_u128(1),
            sender_login_id: "host".into(),
            title: "t".into(),
            preview: "안녕하세요".into(),
            member_ids: (1..=4).map(Uuid::from_u128).collect(),
            viewing_ids: vec![Uuid::from_u128(3)],
        };
        assert_eq!(e.recipients(), [Uuid::from_u128(2), Uuid::from_u128(4)]);
        assert_eq!(of_chat(Uuid::from_u128(2), &e, 3).body, "새 메시지 3개 · host: 안녕하세요");
    }
}
