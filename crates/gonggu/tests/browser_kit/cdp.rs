//! The Chrome DevTools protocol beside WebDriver, for what WebDriver cannot do: grant a
//! permission as a person's tap on 허용 would, say where the device is, and hand a push message
//! to a page's service worker as the browser's push service would (headless Chromium has no
//! push service to subscribe with). Spoken over the browser's own DevTools socket, whose address
//! chromedriver reports in the session's capabilities.

use std::time::Duration;

use fantoccini::Client;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

use super::WAIT;

pub struct Cdp {
    ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    next_id: u64,
    /// Events read while waiting for a command's answer, for `event` to find later.
    events: Vec<Value>,
    /// The page attached to last: its origin and session.
    page: Option<(String, String)>,
}

impl Cdp {
    /// The DevTools socket of the browser behind `c`.
    pub async fn of(c: &Client) -> Self {
        let caps = c.capabilities().expect("the session's capabilities");
        let address = caps
            .get("goog:chromeOptions")
            .and_then(|o| o["debuggerAddress"].as_str())
            .expect("chromedriver reports the browser's DevTools address")
            .to_owned();
        let version: Value = reqwest::get(format!("http://{address}/json/version")).await.unwrap().json().await.unwrap();
        let url = version["webSocketDebuggerUrl"].as_str().expect("the browser's DevTools socket");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap_or_else(|e| panic!("DevTools socket {url}: {e}"));
        Self { ws, next_id: 0, events: Vec::new(), page: None }
    }

    /// Sends `method` (to the attached target `session`, or to the browser) and answers its
    /// result; a protocol error fails the test.
    pub async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            command["sessionId"] = json!(s);
        }
        self.ws.send(Message::Text(command.to_string().into())).await.unwrap();
        loop {
            let m = self.read(method).await;
            if m["id"] == id {
                assert!(m.get("error").is_none(), "{method}: {m}");
                return m["result"].clone();
            }
            if m.get("method").is_some() {
                self.events.push(m);
            }
        }
    }

    /// The first event `method` (seen already or still to come) whose params pass `check`.
    pub async fn event(&mut self, method: &str, check: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method && check(&e["params"])) {
            return self.events.remove(i)["params"].clone();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no {method} event");
            let m = self.read(method).await;
            if m["method"] == method && check(&m["params"]) {
                return m["params"].clone();
            }
        }
    }

    async fn read(&mut self, what: &str) -> Value {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("DevTools did not answer {what} within {WAIT:?}"))
                .expect("the DevTools socket stays open")
                .unwrap();
            if let Message::Text(t) = m {
                return serde_json::from_str(&t).unwrap();
            }
        }
    }

    /// Allows notifications for `origin`, as tapping 허용 in the permission prompt would.
    pub async fn grant_notifications(&mut self, origin: &str) {
        self.call(None, "Browser.grantPermissions", json!({ "origin": origin, "permissions": ["notifications"] })).await;
    }

    /// Lets `origin` read the device's location, as tapping 허용 in the prompt would.
    pub async fn grant_geolocation(&mut self, origin: &str) {
        self.call(None, "Browser.grantPermissions", json!({ "origin": origin, "permissions": ["geolocation"] })).await;
    }

    /// `origin`'s open page finds itself at `lat`, `lon` (10 m accurate) when it asks
    /// `navigator.geolocation`, for as long as this socket is open.
    pub async fn set_geolocation(&mut self, origin: &str, lat: f64, lon: f64) {
        let session = self.page(origin).await;
        self.call(Some(&session), "Emulation.setGeolocationOverride", json!({ "latitude": lat, "longitude": lon, "accuracy": 10 })).await;
    }

    /// A DevTools session on `origin`'s open page (attached once).
    pub async fn page(&mut self, origin: &str) -> String {
        if let Some((o, session)) = &self.page {
            if o == origin {
                return session.clone();
            }
        }
        let targets = self.call(None, "Target.getTargets", json!({})).await;
        let page = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(origin)))
            .unwrap_or_else(|| panic!("no page of {origin} is open: {targets}"))
            .clone();
        let attached = self.call(None, "Target.attachToTarget", json!({ "targetId": page["targetId"], "flatten": true })).await;
        let session = attached["sessionId"].as_str().unwrap().to_owned();
        self.page = Some((origin.to_owned(), session.clone()));
        session
    }

    /// Runs `script` in `origin`'s open page before its own scripts, from its next load on (to
    /// take away what a browser might not have: `delete window.WebSocket;`).
    pub async fn before_load(&mut self, origin: &str, script: &str) {
        let session = self.page(origin).await;
        self.call(Some(&session), "Page.enable", json!({})).await;
        self.call(Some(&session), "Page.addScriptToEvaluateOnNewDocument", json!({ "source": script })).await;
    }

    /// The page of `origin` presents itself as `user_agent` from its next load on.
    pub async fn user_agent(&mut self, origin: &str, user_agent: &str) {
        let session = self.page(origin).await;
        self.call(Some(&session), "Emulation.setUserAgentOverride", json!({ "userAgent": user_agent })).await;
    }

    /// Hands `data` to the service worker of `origin`'s open page as a push message.
    pub async fn deliver_push(&mut self, origin: &str, data: &str) {
        let session = self.page(origin).await;
        self.call(Some(&session), "ServiceWorker.enable", json!({})).await;
        let scope = format!("{origin}/");
        let update = self
            .event("ServiceWorker.workerRegistrationUpdated", |p| {
                p["registrations"].as_array().is_some_and(|rs| rs.iter().any(|r| r["scopeURL"] == scope && r["isDeleted"] == false))
            })
            .await;
        let registration = update["registrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["scopeURL"] == scope)
            .map(|r| r["registrationId"].clone())
            .unwrap();
        self.call(
            Some(&session),
            "ServiceWorker.deliverPushMessage",
            json!({ "origin": origin, "registrationId": registration, "data": data }),
        )
        .await;
        // Let the worker's handler run before the test looks at what it did.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
