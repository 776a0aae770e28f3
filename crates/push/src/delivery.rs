//! The delivery worker: claims due pushes, sends them with bounded concurrency per push service
//! (a slow one never holds up the others), and records how each ended — 404/410 delete the
//! subscription, 413 goes again shorter, 429 waits for `Retry-After`, 5xx and no answer are
//! retried with jittered backoff, other refusals give up.

use std::{collections::HashMap, sync::Arc, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::Rng as _;
use tokio::sync::{Notify, Semaphore};

use crate::{
    domain::Endpoint,
    sender::{Answer, Delivery, Payload, Sender, MAX_PAYLOAD},
    store::{Due, Outcome, PushStore},
};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Pushes in flight at once, over all push services.
    pub concurrency: usize,
    /// Pushes in flight at once to one push service.
    pub per_origin: usize,
    /// Attempts before a delivery is given up.
    pub max_attempts: i64,
    /// The first retry waits about this long; each next one twice as long (±50 %).
    pub retry_base: Duration,
    /// Longest wait honoured from a `Retry-After`.
    pub max_retry_after: Duration,
    pub allow_loopback: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 256,
            per_origin: 64,
            max_attempts: 6,
            retry_base: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(3600),
            allow_loopback: false,
        }
    }
}

/// How long a claim may take before it counts as abandoned (well past the send timeout).
pub const LEASE: chrono::Duration = chrono::Duration::seconds(120);

pub struct Worker {
    store: Arc<dyn PushStore>,
    /// What "due" and "retry in 30 s" are measured by (tests move it).
    clock: gonggu_kernel::clock::Clock,
    sender: Arc<Sender>,
    config: WorkerConfig,
    /// Wakes the worker when a notice was stored here.
    pub wake: Arc<Notify>,
    all: Arc<Semaphore>,
    origins: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Outcomes on their way to storage: one writer records them in batches (one transaction
    /// per batch rather than per push).
    outcomes: tokio::sync::mpsc::UnboundedSender<(Due, Outcome, tokio::sync::OwnedSemaphorePermit)>,
}

/// Most outcomes recorded in one transaction.
const OUTCOME_BATCH: usize = 256;

/// Records outcomes as they come, in batches; a delivery's permit is let go once its outcome is
/// stored, so "in flight" counts until then.
async fn record_outcomes(
    store: Arc<dyn PushStore>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(Due, Outcome, tokio::sync::OwnedSemaphorePermit)>,
    wake: Arc<Notify>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < OUTCOME_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (done, permits): (Vec<(Due, Outcome)>, Vec<_>) = batch.into_iter().map(|(d, o, p)| ((d, o), p)).unzip();
        let mut tries = 0;
        while let Err(e) = store.finish_all(&done).await {
            tries += 1;
            tracing::warn!(error = %e, deliveries = done.len(), "could not record push outcomes; trying again");
            if tries >= 5 {
                // Left `sending`: abandoned after the lease, never sent twice.
                break;
            }
            tokio::time::sleep(Duration::from_millis(200 * tries)).await;
        }
        drop(permits);
        wake.notify_one();
    }
}

fn ttl_for(kind: &str) -> u32 {
    match kind {
        "chat" => 3600,
        _ => 24 * 3600,
    }
}

/// One topic per deal or room, so a newer push replaces a waiting older one of the same kind.
fn topic_for(kind: &str, deal_id: Option<uuid::Uuid>) -> Option<String> {
    let id = deal_id?;
    let letter = match kind {
        "chat" => 'c',
        "keyword" => 'k',
        _ => 'd',
    };
    Some(format!("{letter}{}", &id.simple().to_string()[..31]))
}

impl Worker {
    pub fn new(store: Arc<dyn PushStore>, clock: gonggu_kernel::clock::Clock, sender: Arc<Sender>, config: WorkerConfig) -> Arc<Self> {
        let (outcomes, rx) = tokio::sync::mpsc::unbounded_channel();
        let wake = Arc::new(Notify::new());
        tokio::spawn(record_outcomes(store.clone(), rx, wake.clone()));
        Arc::new(Self {
            store,
            clock,
            sender,
            all: Arc::new(Semaphore::new(config.concurrency)),
            config,
            wake,
            origins: Default::default(),
            outcomes,
        })
    }

    fn origin(&self, origin: &str) -> Arc<Semaphore> {
        self.origins
            .lock()
            .expect("origins")
            .entry(origin.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_origin)))
            .clone()
    }

    /// Runs until shutdown: every wake-up (or second) hands out what is due.
    pub async fn run(self: Arc<Self>, shutdown: gonggu_kernel::shutdown::Shutdown) {
        loop {
            if let Err(e) = self.drain().await {
                tracing::warn!(error = %format!("{e:#}"), "push delivery round failed");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    /// Claims and starts sending everything due now, as concurrency allows. Each push service
    /// gets only as many claims as it has free lanes, so every claim is sent at once (a claim is
    /// never handed out again: one left waiting in memory by a process that died would be lost).
    /// A finished push wakes the worker for the next.
    pub async fn drain(self: &Arc<Self>) -> anyhow::Result<usize> {
        let mut started = 0;
        loop {
            let mut claimed = 0;
            for origin in self.store.due_origins(self.clock.now(), 100).await? {
                let lane = self.origin(&origin);
                let free = lane.available_permits().min(self.all.available_permits()).min(200);
                // A busy push service waits for a handful of free lanes: a claim per finished
                // push would cost a transaction per push.
                let busy = lane.available_permits() < self.config.per_origin;
                if free == 0 || (busy && free < (self.config.per_origin / 8).max(1)) {
                    continue;
                }
                for d in self.store.claim_due(self.clock.now(), LEASE, &origin, free as u32).await? {
                    claimed += 1;
                    // At once: only this loop takes permits, and it asked for no more than are
                    // free. Taken here, not in the task, so the next claim sees them taken.
                    let permit = self.all.clone().acquire_owned().await?;
                    let lane = lane.clone().acquire_owned().await?;
                    let worker = self.clone();
                    tokio::spawn(async move {
                        let outcome = worker.deliver(&d).await;
                        drop(lane);
                        worker.wake.notify_one();
                        // The global permit travels with the outcome until it is stored.
                        let _ = worker.outcomes.send((d, outcome, permit));
                    });
                }
            }
            if claimed == 0 {
                return Ok(started);
            }
            started += claimed;
        }
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let base = self.config.retry_base.as_secs_f64() * 2f64.powi((attempts - 1).clamp(0, 16) as i32);
        Duration::from_secs_f64(base * rand::thread_rng().gen_range(0.5..1.5))
    }

    fn retry(&self, d: &Due, status: Option<u16>, wait: Option<Duration>) -> Outcome {
        if d.attempts >= self.config.max_attempts {
            return Outcome::Failed(status);
        }
        let wait = wait.map(|w| w.min(self.config.max_retry_after)).unwrap_or_else(|| self.backoff(d.attempts));
        Outcome::Retry { status, at: self.clock.now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1)) }
    }

    async fn deliver(&self, d: &Due) -> Outcome {
        let (Some(p256dh), Some(auth)) = (&d.p256dh, &d.auth) else { return Outcome::Gone(0) };
        let (Ok(p256dh), Ok(auth)) = (URL_SAFE_NO_PAD.decode(p256dh), URL_SAFE_NO_PAD.decode(auth)) else { return Outcome::Failed(None) };
        let Ok(endpoint) = Endpoint::parse(&d.endpoint, self.config.allow_loopback) else { return Outcome::Failed(None) };
        let n = &d.notice;
        let payload = Payload {
            title: n.title.clone(),
            body: n.body.clone(),
            url: n.url.clone(),
            tag: match n.deal_id {
                Some(id) => format!("{}-{id}", n.kind),
                None => format!("{}-{}", n.kind, n.id),
            },
            icon: "/assets/icons/icon-192.png".to_owned(),
            badge_count: d.unread,
            kind: n.kind.clone(),
        };
        let delivery = Delivery {
            endpoint: &endpoint,
            origin: &d.origin,
            p256dh: &p256dh,
            auth: &auth,
            ttl: ttl_for(&n.kind),
            urgency: n.urgency().as_str(),
            topic: topic_for(&n.kind, n.deal_id),
        };
        let mut limit = MAX_PAYLOAD;
        loop {
            match self.sender.send(&delivery, &payload.encode(limit), self.clock.now()).await {
                Answer::Status { code, .. } if (200..300).contains(&code) => return Outcome::Sent(code),
                Answer::Status { code: code @ (404 | 410), .. } => return Outcome::Gone(code),
                // Too large for this push service: the same notice, shorter, once.
                Answer::Status { code: 413, .. } if limit == MAX_PAYLOAD => limit = 1024,
                Answer::Status { code: 429, retry_after } => return self.retry(d, Some(429), retry_after),
                Answer::Status { code, .. } if code >= 500 => return self.retry(d, Some(code), None),
                Answer::Status { code, .. } => {
                    tracing::warn!(status = code, endpoint = %d.endpoint, "push service refused a push");
                    return Outcome::Failed(Some(code));
                }
                Answer::Refused(why) => {
                    tracing::warn!(reason = %why, endpoint = %d.endpoint, "push not sent");
                    return Outcome::Failed(None);
                }
                Answer::Unreachable(why) => {
                    tracing::debug!(reason = %why, endpoint = %d.endpoint, "push service unreachable; will retry");
                    return self.retry(d, None, None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_short_base64url_and_per_kind() {
        let id = uuid::Uuid::now_v7();
        let t = topic_for("chat", Some(id)).unwrap();
        assert_eq!(t.len(), 32);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(t, topic_for("deal", Some(id)).unwrap());
        assert_eq!(topic_for("wallet", None), None);
    }
}
