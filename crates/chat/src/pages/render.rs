//! How messages look in a room: KakaoTalk's grouping (inventory §5.6, minus its defects: a day
//! divider compares the whole date, not the day of the month, and the list only follows new
//! messages when the reader is already at the bottom). `chat.js` applies the same rules to the
//! messages that arrive live; the markup here is what it builds too.

use chrono::{DateTime, Datelike, Timelike, Utc};
use gonggu_kernel::web::kst;
use maud::{html, Markup};

use crate::{domain::MessageKind, MessageView};

const WEEKDAYS: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];

/// `2026년 11월 25일 수요일`, in Korean time.
pub fn day_label(t: DateTime<Utc>) -> String {
    let k = t.with_timezone(&kst());
    format!("{}년 {}월 {}일 {}요일", k.year(), k.month(), k.day(), WEEKDAYS[k.weekday().num_days_from_monday() as usize])
}

/// `오후 3:04`, in Korean time.
pub fn clock_label(t: DateTime<Utc>) -> String {
    let k = t.with_timezone(&kst());
    let (pm, h) = k.hour12();
    format!("{} {}:{:02}", if pm { "오후" } else { "오전" }, h, k.minute())
}

/// The chat list's time: the clock today, `어제`, the date this year, the full date before.
pub fn list_time(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let (k, today) = (t.with_timezone(&kst()).date_naive(), now.with_timezone(&kst()).date_naive());
    if k == today {
        clock_label(t)
    } else if today.pred_opt() == Some(k) {
        "어제".into()
    } else if k.year() == today.year() {
        format!("{}월 {}일", k.month(), k.day())
    } else {
        format!("{}. {}. {}.", k.year(), k.month(), k.day())
    }
}

fn same_day(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    a.with_timezone(&kst()).date_naive() == b.with_timezone(&kst()).date_naive()
}

fn same_minute(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    same_day(a, b) && a.with_timezone(&kst()).hour() == b.with_timezone(&kst()).hour() && a.minute() == b.minute()
}

fn sender(m: &MessageView) -> Option<&str> {
    m.sender.as_ref().map(|s| s.login_id.as_str())
}

/// Whether `b` continues `a`'s group (same sender, same minute, neither a notice).
fn continues(a: &MessageView, b: &MessageView) -> bool {
    a.kind != MessageKind::Notice && b.kind != MessageKind::Notice && sender(a) == sender(b) && same_minute(a.sent_at, b.sent_at)
}

/// The messages of a room, oldest first, with day dividers, names on the first of a group,
/// the time on the last, and the "new messages" divider after `read_seq` (when any follow).
pub fn message_list(messages: &[MessageView], me: &str, read_seq: Option<i64>) -> Markup {
    html! {
        @for (i, m) in messages.iter().enumerate() {
            @let prev = i.checked_sub(1).map(|p| &messages[p]);
            @let next = messages.get(i + 1);
            @if prev.is_none_or(|p| !same_day(p.sent_at, m.sent_at)) {
                li.day-divider data-day=(m.sent_at.with_timezone(&kst()).date_naive()) { span { (day_label(m.sent_at)) } }
            }
            @if read_seq.is_some_and(|r| prev.is_some_and(|p| p.seq == r)) {
                li.new-divider id="new-divider" { span { "여기까지 읽었어요" } }
            }
            (message(m, me, prev.is_none_or(|p| !continues(p, m)), next.is_none_or(|n| !continues(m, n))))
        }
    }
}

/// One message. `first`: it starts a group (the name shows); `last`: it ends one (the time shows).
pub fn message(m: &MessageView, me: &str, first: bool, last: bool) -> Markup {
    let at = m.sent_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if m.kind == MessageKind::Notice {
        return html! { li.notice data-seq=(m.seq) data-at=(at) data-kind="notice" { span { (m.body) } } };
    }
    let who = sender(m).unwrap_or_default();
    let mine = who == me;
    html! {
        li.msg.mine[mine].theirs[!mine].first[first].last[last]
            data-seq=(m.seq) data-at=(at) data-kind=(m.kind.as_str()) data-sender=(who)
            data-client-id=[m.client_id.as_deref()] {
            @if !mine { div.msg-name { (who) } }
            div.msg-row {
                @if let Some(image) = &m.image {
                    a.bubble.bubble-photo href=(image.url) target="_blank" rel="noopener" aria-label="사진 크게 보기" {
                        img src=(image.thumbnail_url) alt="사진" loading="lazy" decoding="async";
                    }
                } @else {
                    p.bubble { (m.body) }
                }
                span.msg-meta {
                    span.msg-unread hidden[m.unread_count == 0] { (m.unread_count) }
                    time.msg-time datetime=(at) { (clock_label(m.sent_at)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        kst().with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn days_and_times_read_as_in_korea() {
        assert_eq!(day_label(at(2026, 11, 25, 0, 5)), "2026년 11월 25일 수요일");
        assert_eq!(day_label(at(2026, 11, 29, 23, 59)), "2026년 11월 29일 일요일");
        assert_eq!(clock_label(at(2026, 11, 25, 0, 5)), "오전 12:05");
        assert_eq!(clock_label(at(2026, 11, 25, 12, 0)), "오후 12:00");
        assert_eq!(clock_label(at(2026, 11, 25, 15, 4)), "오후 3:04");
        let now = at(2026, 11, 25, 9, 0);
        assert_eq!(list_time(at(2026, 11, 25, 0, 1), now), "오전 12:01");
        assert_eq!(list_time(at(2026, 11, 24, 23, 59), now), "어제");
        assert_eq!(list_time(at(2026, 1, 2, 8, 0), now), "1월 2일");
        assert_eq!(list_time(at(2025, 12, 31, 8, 0), now), "2025. 12. 31.");
    }

    #[test]
    fn a_day_divider_compares_the_whole_date() {
        // The original compared the day of the month only, so 25 Oct and 25 Nov shared a divider.
        assert!(!same_day(at(2026, 10, 25, 10, 0), at(2026, 11, 25, 10, 0)));
        assert!(!same_minute(at(2026, 10, 25, 10, 0), at(2026, 11, 25, 10, 0)));
        assert!(same_minute(at(2026, 11, 25, 10, 0), at(2026, 11, 25, 10, 0) + chrono::Duration::seconds(59)));
    }
}
