//! A local push service (RFC 8030) for the tests: each device it hands out has its own P-256
//! key pair and auth secret made here, as a browser's would be. Every push it receives is
//! checked as a real push service checks it — the VAPID JWT against the server's public key,
//! for this origin, not expired — and decrypted (`aes128gcm`) with the device's private key; it
//! answers what the test scripted for that device (a 410, a 429 with `Retry-After`, a 503), else
//! 201.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde_json::{json, Value};

/// A browser's subscription: what it sends the server, and its private half.
pub struct Device {
    pub id: String,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

impl Device {
    /// The body of `POST /api/v1/push/subscriptions`, as `PushSubscription.toJSON()` gives it.
    pub fn subscription(&self) -> Value {
        json!({ "endpoint": self.endpoint, "keys": { "p256dh": self.p256dh, "auth": self.auth } })
    }
}

/// A push the stub accepted (2xx), decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    pub device: String,
    pub payload: Value,
    pub ttl: String,
    pub urgency: Option<String>,
    pub topic: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// 429 with `Retry-After: <secs>`.
    TooMany(u64),
    /// No answer at all (a push service that has not answered yet when the sender dies).
    #[allow(dead_code)] // push_crash.rs
    Hold,
}

struct Keys {
    components: ece::crypto::EcKeyComponents,
    auth: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<String, Keys>,
    script: HashMap<String, VecDeque<Reply>>,
    received: Vec<Received>,
    /// Every request per device, answered or refused.
    attempts: HashMap<String, usize>,
    /// What failed a check (a bad token, a body that does not decrypt): tests assert it is empty.
    problems: Vec<String>,
}

#[derive(Clone)]
pub struct PushStub {
    pub origin: String,
    vapid_key: Arc<Mutex<Option<jsonwebtoken::DecodingKey>>>,
    vapid_raw: Arc<Mutex<String>>,
    inner: Arc<Mutex<Inner>>,
}

impl PushStub {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let stub = PushStub { origin, vapid_key: Default::default(), vapid_raw: Default::default(), inner: Default::default() };
        let app = Router::new().route("/push/{id}", post(receive)).with_state(stub.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        stub
    }

    /// Trusts pushes signed by this VAPID public key (base64url, uncompressed point) only.
    pub fn trust(&self, public_key: &str) {
        let point = URL_SAFE_NO_PAD.decode(public_key).expect("VAPID key is base64url");
        assert_eq!((point.len(), point[0]), (65, 4), "an uncompressed P-256 point");
        let key =
            jsonwebtoken::DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(&point[1..33]), &URL_SAFE_NO_PAD.encode(&point[33..]))
                .unwrap();
        *self.vapid_key.lock().unwrap() = Some(key);
        *self.vapid_raw.lock().unwrap() = public_key.to_owned();
    }

    pub fn device(&self) -> Device {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let device = Device {
            endpoint: format!("{}/push/{id}", self.origin),
            p256dh: URL_SAFE_NO_PAD.encode(pair.pub_as_raw().unwrap()),
            auth: URL_SAFE_NO_PAD.encode(auth),
            id: id.clone(),
        };
        self.inner.lock().unwrap().keys.insert(id, Keys { components: pair.raw_components().unwrap(), auth: auth.to_vec() });
        device
    }

    /// The next answers to pushes for `device` (then 201 again).
    pub fn script(&self, device: &Device, replies: &[Reply]) {
        self.inner.lock().unwrap().script.entry(device.id.clone()).or_default().extend(replies.iter().copied());
    }

    pub fn received(&self, device: &Device) -> Vec<Received> {
        self.inner.lock().unwrap().received.iter().filter(|r| r.device == device.id).cloned().collect()
    }

    pub fn attempts(&self, device: &Device) -> usize {
        self.inner.lock().unwrap().attempts.get(&device.id).copied().unwrap_or(0)
    }

    pub fn problems(&self) -> Vec<String> {
        self.inner.lock().unwrap().problems.clone()
    }

    /// Waits until `device` has received `n` pushes; answers them.
    pub async fn wait_for(&self, device: &Device, n: usize, what: &str) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received(device);
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{what}: {} of {n} pushes arrived; problems {:?}", got.len(), self.problems());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Checks that nothing more arrives for `device` for a while (what must not be pushed).
    pub async fn stays_at(&self, device: &Device, n: usize, what: &str) {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(self.received(device).len(), n, "{what}: {:?}", self.received(device));
    }
}

fn check_vapid(stub: &PushStub, headers: &HeaderMap) -> Result<(), String> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).ok_or("no Authorization header")?;
    let rest = auth.strip_prefix("vapid t=").ok_or_else(|| format!("not a vapid authorization: {auth}"))?;
    let (token, k) = rest.split_once(", k=").ok_or("no k= in the vapid authorization")?;
    if k != *stub.vapid_raw.lock().unwrap() {
        return Err("k= is not the server's VAPID key".into());
    }
    let key = stub.vapid_key.lock().unwrap().clone().ok_or("the stub trusts no key yet")?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[stub.origin.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| format!("VAPID JWT refused: {e}"))?.claims;
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if exp > chrono::Utc::now().timestamp() + 24 * 3600 + 60 {
        return Err(format!("VAPID exp more than 24 h ahead: {claims}"));
    }
    Ok(())
}

async fn receive(State(stub): State<PushStub>, Path(id): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    match answer(&stub, id, &headers, &body) {
        Some(response) => response,
        None => std::future::pending().await,
    }
}

/// The stub's answer to one push; `None`: none at all ([`Reply::Hold`]).
fn answer(stub: &PushStub, id: String, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    let mut inner = stub.inner.lock().unwrap();
    *inner.attempts.entry(id.clone()).or_default() += 1;
    if let Err(problem) = check_vapid(stub, headers) {
        inner.problems.push(problem);
        return Some(StatusCode::UNAUTHORIZED.into_response());
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if header("content-encoding").as_deref() != Some("aes128gcm") {
        inner.problems.push(format!("Content-Encoding {:?}", header("content-encoding")));
        return Some(StatusCode::BAD_REQUEST.into_response());
    }
    let Some(ttl) = header("ttl") else {
        inner.problems.push("no TTL".into());
        return Some(StatusCode::BAD_REQUEST.into_response());
    };
    if body.len() > 4096 {
        inner.problems.push(format!("body of {} bytes", body.len()));
        return Some(StatusCode::PAYLOAD_TOO_LARGE.into_response());
    }
    let Some(keys) = inner.keys.get(&id) else { return Some(StatusCode::GONE.into_response()) };
    let plain = match ece::decrypt(&keys.components, &keys.auth, body) {
        Ok(p) => p,
        Err(e) => {
            inner.problems.push(format!("does not decrypt: {e}"));
            return Some(StatusCode::BAD_REQUEST.into_response());
        }
    };
    let payload: Value = match serde_json::from_slice(&plain) {
        Ok(v) => v,
        Err(e) => {
            inner.problems.push(format!("payload is not JSON: {e}"));
            return Some(StatusCode::BAD_REQUEST.into_response());
        }
    };
    if let Some(reply) = inner.script.get_mut(&id).and_then(VecDeque::pop_front) {
        return match reply {
            Reply::Status(code) => Some(StatusCode::from_u16(code).unwrap().into_response()),
            Reply::TooMany(secs) => Some((StatusCode::TOO_MANY_REQUESTS, [("retry-after", secs.to_string())]).into_response()),
            Reply::Hold => None,
        };
    }
    inner.received.push(Received { device: id, payload, ttl, urgency: header("urgency"), topic: header("topic") });
    Some(StatusCode::CREATED.into_response())
}
