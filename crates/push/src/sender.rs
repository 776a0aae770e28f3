//! One push to one device (RFC 8030): the payload encrypted for the browser (RFC 8291
//! `aes128gcm`), signed with VAPID (RFC 8292), POSTed to its push service — which must be on a
//! public address: names are resolved here and a private or loopback answer is refused, and no
//! redirect is followed.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    domain::{is_public, Endpoint},
    vapid::Vapid,
};

/// RFC 8291 leaves 4,096 bytes per record; 3,993 is what is left for the plaintext once the
/// header, padding delimiter and tag are in (the limit push services hold senders to).
pub const MAX_PAYLOAD: usize = 3993;

/// What the service worker shows.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Payload {
    pub title: String,
    pub body: String,
    pub url: String,
    /// A newer notification with the same tag replaces the older one on the device.
    pub tag: String,
    pub icon: String,
    /// The app badge: the user's unread notices.
    pub badge_count: i64,
    pub kind: String,
}

impl Payload {
    /// The JSON, shortened to fit [`MAX_PAYLOAD`] (the body gives way first) or to `limit`.
    pub fn encode(&self, limit: usize) -> Vec<u8> {
        let mut p = self.clone();
        loop {
            let bytes = serde_json::to_vec(&p).expect("payload serialises");
            if bytes.len() <= limit || (p.body.is_empty() && p.title.chars().count() <= 10) {
                return bytes;
            }
            if p.body.is_empty() {
                p.title = p.title.chars().take(p.title.chars().count() / 2).collect();
            } else {
                let keep = p.body.chars().count() / 2;
                p.body = p.body.chars().take(keep).collect();
                if keep > 0 {
                    p.body.push('…');
                }
            }
        }
    }
}

/// The headers that go with a push besides the body.
#[derive(Debug, Clone)]
pub struct Delivery<'a> {
    /// Parsed, so never a private address (a loopback stub only with the test-only setting).
    pub endpoint: &'a Endpoint,
    pub origin: &'a str,
    pub p256dh: &'a [u8],
    pub auth: &'a [u8],
    /// Seconds the push service keeps it for an offline device.
    pub ttl: u32,
    pub urgency: &'static str,
    /// Replaces a waiting push with the same topic (≤ 32 base64url characters).
    pub topic: Option<String>,
}

/// What the push service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// Not sent, and sending again would not help (a private address, keys that do not work).
    Refused(String),
    /// No answer: connection error or timeout (a name resolving to a private address too).
    Unreachable(String),
}

/// Refuses names that resolve to anything but public addresses (DNS rebinding included: the
/// address checked is the address connected to).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 443)).await?.collect();
            let public: Vec<SocketAddr> = addrs.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() || public.len() != addrs.len() {
                return Err(format!("{host} resolves to a private or loopback address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

pub struct Sender {
    public: reqwest::Client,
    /// Only with `push.allow_insecure_loopback` (tests' push-service stubs on 127.0.0.1).
    loopback: Option<reqwest::Client>,
    vapid: Arc<Vapid>,
}

impl Sender {
    pub fn new(vapid: Arc<Vapid>, timeout: Duration, allow_loopback: bool) -> anyhow::Result<Self> {
        let build = |public: bool| {
            let b = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent("gonggu-push/1")
                .pool_max_idle_per_host(64);
            if public { b.https_only(true).dns_resolver(Arc::new(PublicOnly)) } else { b }.build()
        };
        Ok(Self { public: build(true)?, loopback: if allow_loopback { Some(build(false)?) } else { None }, vapid })
    }

    pub fn vapid(&self) -> &Vapid {
        &self.vapid
    }

    pub async fn send(&self, d: &Delivery<'_>, plaintext: &[u8], now: DateTime<Utc>) -> Answer {
        let client = match (d.endpoint.is_loopback_stub(), &self.loopback) {
            (false, _) => &self.public,
            (true, Some(loopback)) => loopback,
            (true, None) => return Answer::Refused("loopback push services are off".into()),
        };
        let body = match ece::encrypt(d.p256dh, d.auth, plaintext) {
            Ok(b) => b,
            Err(e) => return Answer::Refused(format!("cannot encrypt for this subscription: {e}")),
        };
        let authorization = match self.vapid.authorization(d.origin, now) {
            Ok(a) => a,
            Err(e) => return Answer::Refused(format!("cannot sign VAPID: {e}")),
        };
        let mut req = client
            .post(d.endpoint.url().clone())
            .header("TTL", d.ttl.to_string())
            .header("Urgency", d.urgency)
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", authorization)
            .body(body);
        if let Some(topic) = &d.topic {
            req = req.header("Topic", topic);
        }
        match req.send().await {
            Ok(resp) => {
                let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| retry_after(v, now));
                Answer::Status { code: resp.status().as_u16(), retry_after }
            }
            Err(e) => Answer::Unreachable(format!("{e:#}")),
        }
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(v: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(v.trim()).ok()?.with_timezone(&Utc);
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_payload_gives_way_body_first() {
        let p = Payload {
            title: "공구".into(),
            body: "가".repeat(5000),
            url: "/deals/x".into(),
            tag: "deal-x".into(),
            icon: "/assets/icons/icon-192.png".into(),
            badge_count: 3,
            kind: "deal".into(),
        };
        let bytes = p.encode(MAX_PAYLOAD);
        assert!(bytes.len() <= MAX_PAYLOAD);
        let back: Payload = serde_json::from_slice(&bytes).unwrap();
        assert_eq!((back.title.as_str(), back.url.as_str()), ("공구", "/deals/x"));
        assert!(back.body.ends_with('…'));
        assert!(p.encode(200).len() <= 200);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Thu, 03 Dec 2026 00:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("soon", now), None);
    }
}
