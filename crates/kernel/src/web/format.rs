//! Numbers and times as people in Korea read them.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

/// Asia/Seoul: UTC+9 all year (no daylight saving since 1988), so a fixed offset is exact.
pub fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("valid offset")
}

/// Formats a UTC instant for people in Korea: `2026년 11월 25일 오후 7:05`.
pub fn format_kst(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let k = t.with_timezone(&kst());
    let (pm, h12) = k.hour12();
    format!("{}년 {}월 {}일 {} {}:{:02}", k.year(), k.month(), k.day(), if pm { "오후" } else { "오전" }, h12, k.minute())
}

/// How long ago, as a feed says it: `방금 전`, `3분 전`, `2시간 전`, `5일 전`, then the date
/// (`11월 25일`, with the year when it is not this year's).
pub fn format_ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    use chrono::Datelike;
    let secs = (now - then).num_seconds().max(0);
    match secs {
        ..60 => "방금 전".into(),
        60..3600 => format!("{}분 전", secs / 60),
        3600..86_400 => format!("{}시간 전", secs / 3600),
        86_400..604_800 => format!("{}일 전", secs / 86_400),
        _ => {
            let (t, n) = (then.with_timezone(&kst()), now.with_timezone(&kst()));
            if t.year() == n.year() {
                format!("{}월 {}일", t.month(), t.day())
            } else {
                format!("{}년 {}월 {}일", t.year(), t.month(), t.day())
            }
        }
    }
}

/// A day as people in Korea write it: `2026년 11월 25일`.
pub fn format_day_kst(t: DateTime<Utc>) -> String {
    use chrono::Datelike;
    let k = t.with_timezone(&kst());
    format!("{}년 {}월 {}일", k.year(), k.month(), k.day())
}

/// Today's date in Korea, `2026-11-25`.
pub fn kst_date(t: DateTime<Utc>) -> String {
    t.with_timezone(&kst()).format("%Y-%m-%d").to_string()
}

/// The value of an `<input type=datetime-local>`, in Korean time.
pub fn kst_input(t: DateTime<Utc>) -> String {
    t.with_timezone(&kst()).format("%Y-%m-%dT%H:%M").to_string()
}

/// An `<input type=datetime-local>`'s text, read as Korean time.
pub fn parse_kst_input(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    let naive =
        NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M").or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")).ok()?;
    kst().from_local_datetime(&naive).single().map(|t| t.with_timezone(&Utc))
}

/// Thousands separators, as Korean prices are written: `1234567` → `1,234,567`.
pub fn group_digits(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An amount of money on a page: `25,990원`.
pub fn won(n: i64) -> String {
    format!("{}원", group_digits(n))
}

#[cfg(test)]
mod number_tests {
    use super::group_digits;
    use proptest::prelude::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(100000), "100,000");
        assert_eq!(group_digits(-1234567), "-1,234,567");
    }

    proptest! {
        #[test]
        fn grouping_round_trips(n in any::<i64>().prop_filter("not MIN", |n| *n != i64::MIN)) {
            prop_assert_eq!(group_digits(n).replace(',', "").parse::<i64>().unwrap(), n);
        }
    }
}

#[cfg(test)]
mod kst_tests {
    use chrono::TimeZone;

    #[test]
    fn formats_in_seoul_time() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 25, 10, 5, 0).unwrap();
        assert_eq!(super::format_kst(t), "2026년 11월 25일 오후 7:05");
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 25, 15, 30, 0).unwrap();
        assert_eq!(super::format_kst(t), "2026년 11월 26일 오전 12:30");
        assert_eq!(super::kst_date(t), "2026-11-26");
        assert_eq!(super::kst_input(t), "2026-11-26T00:30");
        assert_eq!(super::parse_kst_input("2026-11-26T00:30"), Some(t));
        assert_eq!(super::parse_kst_input("26/11/2026"), None);
    }
}

#[cfg(test)]
mod ago_tests {
    use chrono::{TimeZone, Utc};

    use super::format_ago;

    #[test]
    fn ago_as_a_feed_says_it() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap();
        let ago = |secs: i64| format_ago(now - chrono::Duration::seconds(secs), now);
        assert_eq!(ago(-5), "방금 전", "a clock a little ahead");
        assert_eq!(ago(59), "방금 전");
        assert_eq!(ago(60), "1분 전");
        assert_eq!(ago(3599), "59분 전");
        assert_eq!(ago(7200), "2시간 전");
        assert_eq!(ago(6 * 86_400), "6일 전");
        assert_eq!(ago(10 * 86_400), "11월 24일");
        assert_eq!(ago(400 * 86_400), "2025년 10월 30일");
    }
}
