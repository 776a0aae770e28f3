//! The scaled mode's bus: NATS JetStream (`bus = "nats"`), the same [`Bus`] trait as the
//! in-memory one.
//!
//! One stream, `<prefix>_events`, holds every event for a week under `<prefix>.<source>.<type>`;
//! the envelope id is the `Nats-Msg-Id`, so a relay that publishes again after a crash (before it
//! could mark the row) is de-duplicated by the server. A durable pull consumer per consumer name
//! is shared by the instances of a service (each event goes to one of them) and acknowledged
//! after its handler ran; an unacknowledged event comes again after `ack_wait`. The prefix keeps
//! deployments — and tests — on one server apart.
//!
//! NATS 2.9 (this machine's) filters a consumer by one subject, so a consumer reads the whole
//! stream in order and acknowledges the types it does not want at once; ordering across types
//! (a user's registration before their neighbourhood change) matters more than that traffic.

use std::{sync::Arc, time::Duration};

use async_nats::jetstream::{self, consumer::pull, stream};
use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::events::{Ack, Bus, Delivery, Envelope, Subscription};

/// How many fetched deliveries may wait for a consumer's handler.
const PREFETCH: usize = 64;
/// How long the server keeps events (long enough for a consumer that was down to catch up).
const KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct NatsBus {
    js: jetstream::Context,
    prefix: String,
    stream: String,
    ack_wait: Duration,
}

impl NatsBus {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Arc<Self>> {
        Self::connect_with(url, prefix, Duration::from_secs(60)).await
    }

    /// `ack_wait`: how long a delivery may go unacknowledged before the server sends it again.
    pub async fn connect_with(url: &str, prefix: &str, ack_wait: Duration) -> anyhow::Result<Arc<Self>> {
        anyhow::ensure!(
            !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "nats.prefix must be letters, digits, '_' or '-' (it names a stream and its subjects), got {prefix:?}"
        );
        let client = async_nats::connect(url).await.map_err(|e| anyhow::anyhow!("cannot connect to NATS at {url}: {e}"))?;
        let js = jetstream::new(client);
        let stream = format!("{prefix}_events");
        js.get_or_create_stream(stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{prefix}.>")],
            max_age: KEEP_FOR,
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the JetStream stream {stream}: {e}"))?;
        Ok(Arc::new(Self { js, prefix: prefix.to_owned(), stream, ack_wait }))
    }

    /// Removes the stream and everything in it (tests clean up their own prefix).
    pub async fn delete_stream(&self) -> anyhow::Result<()> {
        self.js.delete_stream(&self.stream).await.map_err(|e| anyhow::anyhow!("delete stream: {e}"))?;
        Ok(())
    }

    async fn feed(&self, config: pull::Config, event_types: &[&str]) -> anyhow::Result<Subscription> {
        let stream = self.js.get_stream(&self.stream).await.map_err(|e| anyhow::anyhow!("stream {}: {e}", self.stream))?;
        let consumer = match &config.durable_name {
            Some(name) => stream.get_or_create_consumer(name, config.clone()).await,
            None => stream.create_consumer(config.clone()).await,
        }
        .map_err(|e| anyhow::anyhow!("JetStream consumer: {e}"))?;
        let mut messages = consumer.messages().await.map_err(|e| anyhow::anyhow!("JetStream messages: {e}"))?;
        let wanted: Vec<String> = event_types.iter().map(|t| t.to_string()).collect();
        let (tx, rx) = mpsc::channel(PREFETCH);
        tokio::spawn(async move {
            while let Some(next) = messages.next().await {
                let msg = match next {
                    Ok(msg) => msg,
                    Err(e) => {
                        tracing::warn!(error = %e, "JetStream delivery failed; continuing");
                        continue;
                    }
                };
                let envelope = match serde_json::from_slice::<Envelope>(&msg.payload) {
                    Ok(env) if wanted.contains(&env.event_type) => env,
                    Ok(_) => {
                        let _ = msg.ack().await;
                        continue;
                    }
                    Err(e) => {
                        // Nothing can ever read it; keeping it would only bring it back forever.
                        tracing::error!(error = %e, subject = %msg.subject, "undecodable event dropped");
                        let _ = msg.ack().await;
                        continue;
                    }
                };
                if tx.send(Delivery { envelope, ack: Ack::Broker(Box::new(msg)) }).await.is_err() {
                    return; // the subscriber went away; what it did not ack comes again
                }
            }
            // The client reconnects by itself, so this only happens when it was closed for good.
            tracing::error!("JetStream feed ended; this consumer receives nothing more until restart");
        });
        Ok(Subscription::from_broker(rx))
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, env: &Envelope) -> anyhow::Result<()> {
        let subject = format!("{}.{}.{}", self.prefix, env.source, env.event_type);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", env.id.to_string().as_str());
        let body = serde_json::to_vec(env)?;
        // Waiting for the server's acknowledgement: only a stored event may be marked published.
        self.js
            .publish_with_headers(subject, headers, body.into())
            .await
            .map_err(|e| anyhow::anyhow!("publish: {e}"))?
            .await
            .map_err(|e| anyhow::anyhow!("publish not stored: {e}"))?;
        metrics::counter!("gonggu_events_published_total", "type" => env.event_type.clone()).increment(1);
        Ok(())
    }

    async fn subscribe(&self, consumer: &str, event_types: &[&str]) -> anyhow::Result<Subscription> {
        let config = pull::Config {
            durable_name: Some(consumer.to_owned()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        };
        self.feed(config, event_types).await
    }

    async fn subscribe_each_instance(&self, _consumer: &str, event_types: &[&str], replay: Duration) -> anyhow::Result<Subscription> {
        let since = time::OffsetDateTime::now_utc() - replay;
        let config = pull::Config {
            durable_name: None,
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            deliver_policy: jetstream::consumer::DeliverPolicy::ByStartTime { start_time: since },
            // The server forgets an instance's consumer soon after the instance is gone.
            inactive_threshold: Duration::from_secs(300),
            ..Default::default()
        };
        self.feed(config, event_types).await
    }
}
