//! Push's rules without storage: which endpoints the server may POST to, which keys are keys,
//! what a user chose to hear and when.

use std::net::IpAddr;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Duration, FixedOffset, Timelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest endpoint accepted (push services' URLs are a few hundred characters).
pub const MAX_ENDPOINT: usize = 2048;

/// Whether the server may connect to `ip`: public unicast only. Everything else (loopback,
/// private, link-local, CGNAT, multicast, documentation, unspecified, IPv4-mapped private) could
/// reach into our own network.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b))
        }
    }
}

/// A push service URL the server will POST to: `https` on a host that is not an address of a
/// private network, or — only with the test-only setting — `http://127.0.0.1:<port>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: reqwest::Url,
}

impl Endpoint {
    pub fn parse(raw: &str, allow_loopback: bool) -> Result<Self, &'static str> {
        if raw.len() > MAX_ENDPOINT {
            return Err("알림 주소가 너무 깁니다.");
        }
        let url = reqwest::Url::parse(raw).map_err(|_| "알림 주소가 올바른 URL이 아닙니다.")?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("알림 주소에 계정 정보를 넣을 수 없습니다.");
        }
        let host = url.host().ok_or("알림 주소에 호스트가 없습니다.")?;
        let ip = match host {
            url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
            url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
            url::Host::Domain(_) => None,
        };
        let loopback_stub = allow_loopback && url.scheme() == "http" && ip.is_some_and(|ip| ip.is_loopback());
        if !loopback_stub {
            if url.scheme() != "https" {
                return Err("알림 주소는 https여야 합니다.");
            }
            if ip.is_some_and(|ip| !is_public(ip)) {
                return Err("사설망이나 내부 주소로는 알림을 보낼 수 없습니다.");
            }
            if let url::Host::Domain(d) = host {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal") || d.ends_with(".local") || !d.contains('.') {
                    return Err("사설망이나 내부 주소로는 알림을 보낼 수 없습니다.");
                }
            }
        }
        Ok(Self { url })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// `scheme://host[:port]`: the VAPID audience and the unit of concurrency.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// Whether connecting must skip the public-address check (the test stub on loopback).
    pub fn is_loopback_stub(&self) -> bool {
        self.url.scheme() == "http"
    }
}

/// A subscription's keys as the browser's `PushSubscription.toJSON()` gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key, uncompressed (65 bytes), base64url.
    pub p256dh: String,
    /// The 16-byte authentication secret, base64url.
    pub auth: String,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// Whether `given` is the auth secret stored (base64url) for a subscription, compared in
/// constant time: it is the only proof a service worker has that a subscription is its own.
pub fn same_secret(stored: &str, given: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    b64(stored).is_some_and(|s| s.len() == given.len() && bool::from(s.ct_eq(given)))
}

/// Decodes an auth secret sent as base64url (with or without padding).
pub fn decode_secret(s: &str) -> Option<Vec<u8>> {
    b64(s).filter(|b| b.len() == 16)
}

/// Which field is wrong, and why (Korean).
pub type KeyProblem = (&'static str, &'static str);

impl SubscriptionKeys {
    /// Decoded and checked: `p256dh` a point on P-256 (ece refuses what is not), `auth` 16 bytes.
    pub fn check(&self) -> Result<(Vec<u8>, Vec<u8>), KeyProblem> {
        let p256dh = b64(&self.p256dh).ok_or(("keys.p256dh", "p256dh가 base64url이 아닙니다."))?;
        if p256dh.len() != 65 || p256dh[0] != 4 {
            return Err(("keys.p256dh", "p256dh는 65바이트 P-256 공개키여야 합니다."));
        }
        // A throwaway encryption proves the point is on the curve.
        if ece::encrypt(&p256dh, &[0u8; 16], b"check").is_err() {
            return Err(("keys.p256dh", "p256dh가 P-256 곡선 위의 점이 아닙니다."));
        }
        let auth = b64(&self.auth).ok_or(("keys.auth", "auth가 base64url이 아닙니다."))?;
        if auth.len() != 16 {
            return Err(("keys.auth", "auth는 16바이트여야 합니다."));
        }
        Ok((p256dh, auth))
    }
}

/// The four kinds a user turns on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Joins, leaves and status changes of deals the user is in.
    Deal,
    Chat,
    /// A new deal matches one of the user's interest keywords.
    Keyword,
    Wallet,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deal => "deal",
            Kind::Chat => "chat",
            Kind::Keyword => "keyword",
            Kind::Wallet => "wallet",
        }
    }
}

/// Korea has one zone and no daylight saving, so a fixed +09:00 is Asia/Seoul exactly.
pub fn seoul() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("+09:00")
}

/// Quiet hours in Seoul time, `start` to `end` minutes after midnight; may wrap (22:00–07:00).
/// Read from `HH:MM` text through [`QuietHours::parse`], so a start equal to its end, or a time
/// that is no time, never makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "QuietHoursText")]
pub struct QuietHours {
    /// `HH:MM`
    #[schema(value_type = String, example = "22:00")]
    #[serde(serialize_with = "hhmm")]
    pub start: u16,
    #[schema(value_type = String, example = "07:00")]
    #[serde(serialize_with = "hhmm")]
    pub end: u16,
}

fn hhmm<S: serde::Serializer>(m: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{:02}:{:02}", m / 60, m % 60))
}

/// Minutes after midnight of `HH:MM` (the `<input type=time>` value).
fn minutes(v: &str) -> Option<u16> {
    let (h, m) = v.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

#[derive(Deserialize)]
struct QuietHoursText {
    start: String,
    end: String,
}

impl TryFrom<QuietHoursText> for QuietHours {
    type Error = &'static str;
    fn try_from(t: QuietHoursText) -> Result<Self, Self::Error> {
        QuietHours::parse(&t.start, &t.end)
    }
}

impl QuietHours {
    pub fn new(start: u16, end: u16) -> Option<Self> {
        (start < 1440 && end < 1440 && start != end).then_some(Self { start, end })
    }

    /// From `HH:MM` texts, with the reason (Korean) when they make no quiet hours.
    pub fn parse(start: &str, end: &str) -> Result<Self, &'static str> {
        let (Some(start), Some(end)) = (minutes(start), minutes(end)) else {
            return Err("시간은 HH:MM 형식이어야 합니다 (예: 22:00).");
        };
        Self::new(start, end).ok_or("방해 금지 시작과 끝 시간이 같아요.")
    }

    /// When the quiet period `at` falls in ends, or `None` when `at` is not quiet.
    pub fn ends_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&seoul());
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let quiet =
            if self.start < self.end { minute >= self.start && minute < self.end } else { minute >= self.start || minute < self.end };
        if !quiet {
            return None;
        }
        let until = (i64::from(self.end) - i64::from(minute)).rem_euclid(1440);
        let start_of_minute = at - Duration::seconds(i64::from(local.second())) - Duration::nanoseconds(i64::from(local.nanosecond()));
        Some(start_of_minute + Duration::minutes(until))
    }
}

/// What a user chose to be pushed about. Every notice lands in the inbox whatever these say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Preferences {
    pub deal: bool,
    pub chat: bool,
    pub keyword: bool,
    pub wallet: bool,
    /// Pushes wait until they end (chat pushes are dropped); `null` for none.
    pub quiet_hours: Option<QuietHours>,
}

impl Default for Preferences {
    fn default() -> Self {
        Self { deal: true, chat: true, keyword: true, wallet: true, quiet_hours: None }
    }
}

impl Preferences {
    pub fn wants(&self, kind: Kind) -> bool {
        match kind {
            Kind::Deal => self.deal,
            Kind::Chat => self.chat,
            Kind::Keyword => self.keyword,
            Kind::Wallet => self.wallet,
        }
    }

    /// When a push of `kind` made at `now` may go: now, later (quiet hours), or never (chat in
    /// quiet hours: a late "new message" is noise, the room shows it anyway).
    pub fn due(&self, kind: Kind, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.wants(kind) {
            return None;
        }
        match self.quiet_hours.and_then(|q| q.ends_after(now)) {
            None => Some(now),
            Some(_) if kind == Kind::Chat => None,
            Some(end) => Some(end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn only_https_on_public_hosts_is_an_endpoint() {
        for ok in ["https://fcm.googleapis.com/fcm/send/abc", "https://updates.push.services.mozilla.com/wpush/v2/x", "https://8.8.8.8/x"] {
            assert!(Endpoint::parse(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://fcm.googleapis.com/x",
            "https://127.0.0.1/x",
            "https://10.0.0.5/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://100.64.0.1/x",
            "https://localhost/x",
            "https://metadata.google.internal/x",
            "https://intranet/x",
            "https://user:pw@push.example.com/x",
            "ftp://push.example.com/x",
            "not a url",
        ] {
            assert!(Endpoint::parse(bad, false).is_err(), "{bad}");
        }
        let long = format!("https://push.example.com/{}", "a".repeat(MAX_ENDPOINT));
        assert!(Endpoint::parse(&long, false).is_err());
    }

    #[test]
    fn the_test_setting_lets_in_loopback_http_only() {
        assert!(Endpoint::parse("http://127.0.0.1:9000/push/1", true).is_ok());
        assert!(Endpoint::parse("http://127.0.0.1:9000/push/1", false).is_err());
        assert!(Endpoint::parse("http://10.0.0.1:9000/push/1", true).is_err());
        assert!(Endpoint::parse("http://push.example.com/x", true).is_err());
    }

    #[test]
    fn keys_must_be_a_curve_point_and_sixteen_bytes() {
        let (local, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        let p256dh = URL_SAFE_NO_PAD.encode(local.pub_as_raw().unwrap());
        let good = SubscriptionKeys { p256dh: p256dh.clone(), auth: URL_SAFE_NO_PAD.encode(auth) };
        assert!(good.check().is_ok());
        let mut off_curve = vec![4u8];
        off_curve.extend([1u8; 64]);
        for (keys, field) in [
            (SubscriptionKeys { p256dh: URL_SAFE_NO_PAD.encode(&off_curve), auth: good.auth.clone() }, "keys.p256dh"),
            (SubscriptionKeys { p256dh: "!!".into(), auth: good.auth.clone() }, "keys.p256dh"),
            (SubscriptionKeys { p256dh: p256dh.clone(), auth: URL_SAFE_NO_PAD.encode([0u8; 8]) }, "keys.auth"),
        ] {
            assert_eq!(keys.check().unwrap_err().0, field);
        }
    }

    fn seoul_time(h: u32, m: u32) -> DateTime<Utc> {
        seoul().with_ymd_and_hms(2026, 12, 3, h, m, 30).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn quiet_hours_wrap_midnight_and_end_on_the_minute() {
        let q = QuietHours::new(22 * 60, 7 * 60).unwrap();
        assert_eq!(q.ends_after(seoul_time(21, 59)), None);
        let end = q.ends_after(seoul_time(23, 10)).unwrap().with_timezone(&seoul());
        assert_eq!((end.format("%d %H:%M:%S").to_string()), "04 07:00:00");
        let end = q.ends_after(seoul_time(3, 0)).unwrap().with_timezone(&seoul());
        assert_eq!((end.format("%d %H:%M:%S").to_string()), "03 07:00:00");
        assert_eq!(q.ends_after(seoul_time(7, 0)), None);
        let prefs = Preferences { quiet_hours: Some(q), ..Default::default() };
        assert_eq!(prefs.due(Kind::Chat, seoul_time(23, 0)), None, "chat is dropped in quiet hours");
        assert!(prefs.due(Kind::Deal, seoul_time(23, 0)).unwrap() > seoul_time(23, 0));
        assert_eq!(prefs.due(Kind::Deal, seoul_time(12, 0)), Some(seoul_time(12, 0)));
        let off = Preferences { wallet: false, ..Default::default() };
        assert_eq!(off.due(Kind::Wallet, seoul_time(12, 0)), None);
    }

    #[test]
    fn quiet_hours_text_that_makes_none_is_refused() {
        let read = |j: &str| serde_json::from_str::<QuietHours>(j);
        assert_eq!(read(r#"{"start":"22:00","end":"07:30"}"#).unwrap(), QuietHours::new(1320, 450).unwrap());
        for bad in [r#"{"start":"07:00","end":"07:00"}"#, r#"{"start":"25:00","end":"07:00"}"#, r#"{"start":"7:00","end":"08:00"}"#] {
            assert!(read(bad).is_err(), "{bad}");
        }
        assert_eq!(QuietHours::parse("23:00", "23:00"), Err("방해 금지 시작과 끝 시간이 같아요."));
    }

    proptest! {
        #[test]
        fn a_quiet_moment_ends_within_a_day_at_the_end_minute(start in 0u16..1440, end in 0u16..1440, offset in 0i64..86_400) {
            prop_assume!(start != end);
            let q = QuietHours::new(start, end).unwrap();
            let at = seoul_time(0, 0) + Duration::seconds(offset);
            if let Some(until) = q.ends_after(at) {
                prop_assert!(until > at - Duration::seconds(60) && until <= at + Duration::days(1));
                let local = until.with_timezone(&seoul());
                prop_assert_eq!((local.hour() * 60 + local.minute()) as u16, end);
                prop_assert_eq!(q.ends_after(until), None);
            }
        }

        #[test]
        fn hhmm_round_trips(m in 0u16..1440) {
            let q = QuietHours { start: m, end: (m + 1) % 1440 };
            let json = serde_json::to_string(&q).unwrap();
            prop_assert_eq!(serde_json::from_str::<QuietHours>(&json).unwrap(), q);
        }
    }
}
