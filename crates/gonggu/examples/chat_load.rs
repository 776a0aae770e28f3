//! The load generator of `bench/chat.sh`: one room, N clients, R messages a second, the latency
//! of every delivery (every message to every connected client). One program, two adapters:
//!
//! - `--target gonggu`: our socket (`docs/chat-protocol.md`): `ws://…/ws` without a cookie,
//!   `auth` with an access token, `resume {}`, then `send`; the server acks and fans `message`s out.
//! - `--target socketio`: engine.io v4 / socket.io v5 over a raw WebSocket
//!   (`/socket.io/?EIO=4&transport=websocket`): `0{…}` open, `40` connect, `42[…]` events with
//!   `43<id>[…]` acks, pings `2` answered with `3`. The server is `bench/chat/socketio/server.js`.
//!
//! Every body carries a unique message id, the send time (nanoseconds of the system clock: all
//! clients are in this process), the sender's instance and whether it counts (sent within the
//! measured window, after the warm-up). Every receiver records now − sent for every first
//! delivery, and keeps a bit per message id to count duplicates. The rate is spread over
//! ceil(R ÷ --max-sender-rate) senders (the app allows 10 sends a second per user). Connections
//! open `--batch` at a time; the clock starts once all are signed in (and joined). With several
//! `--url`s, client i uses url i mod n (senders too), and deliveries are split into same-instance
//! and cross-instance ones.
//!
//! Prints one JSON line. With `--idle` it opens the connections, prints `{"ready": n, …}` and
//! holds them (answering pings) for `--hold` seconds, for measuring memory per connection.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::{sync::watch, time::Instant};
use tokio_tungstenite::{
    tungstenite::{protocol::WebSocketConfig, Message},
    MaybeTlsStream, WebSocketStream,
};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    Gonggu,
    Socketio,
}

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, value_enum)]
    target: Target,
    /// Base URL(s), e.g. ws://127.0.0.1:8080 (comma-separated for several instances).
    #[arg(long, value_delimiter = ',', required = true)]
    url: Vec<String>,
    /// gonggu: the file chat_seed wrote (room id, then one token a line).
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// socketio: the room's name.
    #[arg(long, default_value = "bench")]
    room: String,
    #[arg(long)]
    clients: usize,
    /// Messages a second, all senders together.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// The most one sender sends a second.
    #[arg(long, default_value_t = 5.0)]
    max_sender_rate: f64,
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// After the window, how long to wait for deliveries still under way.
    #[arg(long, default_value_t = 5)]
    drain: u64,
    /// Connections opened at once.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Worker threads of the generator's runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Open the connections, say so, and hold them.
    #[arg(long)]
    idle: bool,
    #[arg(long, default_value_t = 600)]
    hold: u64,
    /// Padding so a body is about this long.
    #[arg(long, default_value_t = 64)]
    body_bytes: usize,
    /// Free text copied into the output.
    #[arg(long, default_value = "")]
    label: String,
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos() as u64
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Connecting,
    /// Sending: from `go` (senders start staggered), counting messages sent in [from, until) ns.
    Running {
        go: Instant,
        from: u64,
        until: u64,
    },
    /// Senders stop; receivers keep counting.
    Draining,
    Done,
}

#[derive(Default)]
struct Shared {
    next_id: AtomicU64,
    ready: AtomicUsize,
    failed: AtomicUsize,
    sent_total: AtomicU64,
    acked_total: AtomicU64,
    acked_measured: AtomicU64,
    delivered: AtomicU64,
    /// (send time, sender's instance) of every counted message.
    measured: Mutex<Vec<(u64, usize)>>,
    errors: Mutex<BTreeMap<String, u64>>,
    connect_errors: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    fn error(&self, map: &Mutex<BTreeMap<String, u64>>, what: String) {
        *map.lock().unwrap().entry(what).or_default() += 1;
    }
}

#[derive(Default)]
struct ConnStats {
    instance: usize,
    lat_same: Vec<u32>,
    lat_cross: Vec<u32>,
    duplicates: u64,
    /// When the server closed it (ns) and why.
    closed: Option<(u64, String)>,
}

struct Conn {
    instance: usize,
    target: Target,
    ws: Socket,
    seen: Vec<u64>,
    stats: ConnStats,
    shared: Arc<Shared>,
    room: String,
    pad: String,
}

/// The text of `"key":"…"` in a frame (our bodies and ids hold no quotes or escapes).
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(key)? + key.len();
    let rest = &text[at..];
    Some(&rest[..rest.find('"')?])
}

impl Conn {
    async fn put(&mut self, text: String) -> anyhow::Result<()> {
        self.ws.send(Message::Text(text.into())).await?;
        Ok(())
    }

    /// The next text frame (socket.io pings answered), or an error saying why the socket ended.
    async fn next_text(&mut self) -> anyhow::Result<String> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    if self.target == Target::Socketio && t.as_str() == "2" {
                        self.put("3".into()).await?;
                        continue;
                    }
                    return Ok(t.as_str().to_owned());
                }
                Some(Ok(Message::Close(c))) => anyhow::bail!("closed {}", c.map(|c| u16::from(c.code).to_string()).unwrap_or("-".into())),
                Some(Ok(_)) => {}
                Some(Err(e)) => anyhow::bail!("error {e}"),
                None => anyhow::bail!("ended"),
            }
        }
    }

    async fn expect(&mut self, what: &str, ok: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let t = tokio::time::timeout_at(until, self.next_text()).await.with_context(|| format!("no {what} within 30 s"))??;
            if ok(&t) {
                return Ok(());
            }
            if t.starts_with("{\"type\":\"error\"") {
                anyhow::bail!("{what}: {t}");
            }
        }
    }

    async fn open(instance: usize, args: &Args, url: &str, token: Option<&str>, room: &str, shared: Arc<Shared>) -> anyhow::Result<Conn> {
        let url = match args.target {
            Target::Gonggu => format!("{url}/ws"),
            Target::Socketio => format!("{url}/socket.io/?EIO=4&transport=websocket"),
        };
        // tungstenite's default 128 KiB read buffer is zero-filled per socket; frames here are < 1 KiB.
        // TCP_NODELAY, as both servers set on their side: a send is never held back by Nagle.
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(&url, Some(config), true).await.map_err(|e| anyhow::anyhow!("connect: {e}"))?;
        let pad = "x".repeat(args.body_bytes.saturating_sub(40));
        let mut c = Conn {
            instance,
            target: args.target,
            ws,
            seen: vec![],
            stats: ConnStats { instance, ..Default::default() },
            shared,
            room: room.to_owned(),
            pad,
        };
        match args.target {
            Target::Gonggu => {
                let token = token.context("no token")?;
                c.put(json!({"type": "auth", "access_token": token}).to_string()).await?;
                c.expect("hello", |t| t.starts_with("{\"type\":\"hello\"")).await?;
                c.put(r#"{"type":"resume","rooms":{}}"#.into()).await?;
            }
            Target::Socketio => {
                c.expect("open packet", |t| t.starts_with("0{")).await?;
                c.put("40".into()).await?;
                c.expect("namespace connect", |t| t.starts_with("40")).await?;
                c.put(format!("420{}", json!(["join", room]))).await?;
                c.expect("join ack", |t| t.starts_with("430")).await?;
            }
        }
        Ok(c)
    }

    async fn send_one(&mut self, from: u64, until: u64) -> anyhow::Result<()> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let t = now_ns();
        let counted = t >= from && t < until;
        let flag = if counted { 'm' } else { 'w' };
        let body = format!("{id} {t} {} {flag} {}", self.instance, self.pad);
        let client_id = format!("{flag}{id}");
        let frame = match self.target {
            Target::Gonggu => json!({"type": "send", "room_id": self.room, "client_id": client_id, "body": body}).to_string(),
            Target::Socketio => format!("42{id}{}", json!(["send", {"room": self.room, "client_id": client_id, "body": body}])),
        };
        if counted {
            self.shared.measured.lock().unwrap().push((t, self.instance));
        }
        self.shared.sent_total.fetch_add(1, Ordering::Relaxed);
        self.put(frame).await
    }

    fn on_frame(&mut self, text: &str) {
        let message = match self.target {
            Target::Gonggu => text.starts_with("{\"type\":\"message\""),
            Target::Socketio => text.starts_with("42[\"message\""),
        };
        if message {
            let now = now_ns();
            let Some(body) = field(text, "\"body\":\"") else { return };
            let mut parts = body.split(' ');
            let (Some(id), Some(sent), Some(inst), Some(flag)) = (parts.next(), parts.next(), parts.next(), parts.next()) else { return };
            let (Ok(id), Ok(sent), Ok(inst)) = (id.parse::<usize>(), sent.parse::<u64>(), inst.parse::<usize>()) else { return };
            let (word, bit) = (id / 64, 1u64 << (id % 64));
            if self.seen.len() <= word {
                self.seen.resize(word + 64, 0);
            }
            if self.seen[word] & bit != 0 {
                self.stats.duplicates += 1;
                return;
            }
            self.seen[word] |= bit;
            if flag == "m" {
                let us = (now.saturating_sub(sent) / 1_000).min(u32::MAX as u64) as u32;
                if inst == self.instance {
                    self.stats.lat_same.push(us);
                } else {
                    self.stats.lat_cross.push(us);
                }
                self.shared.delivered.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        match self.target {
            Target::Gonggu => {
                if text.starts_with("{\"type\":\"ack\"") {
                    self.shared.acked_total.fetch_add(1, Ordering::Relaxed);
                    if field(text, "\"client_id\":\"").is_some_and(|c| c.starts_with('m')) {
                        self.shared.acked_measured.fetch_add(1, Ordering::Relaxed);
                    }
                } else if text.starts_with("{\"type\":\"error\"") {
                    self.shared.error(&self.shared.errors, field(text, "\"code\":\"").unwrap_or("?").to_owned());
                }
            }
            Target::Socketio => {
                if text.starts_with("43") {
                    self.shared.acked_total.fetch_add(1, Ordering::Relaxed);
                    if text.contains("\"client_id\":\"m") {
                        self.shared.acked_measured.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Reads (and, as a sender, sends) until the phase is Done or the server closes.
    async fn run(mut self, mut phase: watch::Receiver<Phase>, sender: Option<(usize, usize)>, rate: f64) -> ConnStats {
        let mut tick: Option<tokio::time::Interval> = None;
        let mut window = (0u64, 0u64);
        loop {
            let sending = tick.is_some();
            tokio::select! {
                changed = phase.changed() => {
                    if changed.is_err() { break; }
                    let p = *phase.borrow_and_update();
                    match p {
                        Phase::Running { go, from, until } => {
                            if let Some((k, n)) = sender {
                                // Sender k of n sends every n/rate s, starting k/rate s after go.
                                let period = Duration::from_secs_f64(n as f64 / rate);
                                let start = go + Duration::from_secs_f64(k as f64 / rate);
                                let mut t = tokio::time::interval_at(start, period);
                                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                                tick = Some(t);
                                window = (from, until);
                            }
                        }
                        Phase::Draining => tick = None,
                        Phase::Done => break,
                        Phase::Connecting => {}
                    }
                }
                _ = async { tick.as_mut().unwrap().tick().await }, if sending => {
                    if now_ns() >= window.1 {
                        tick = None;
                    } else if let Err(e) = self.send_one(window.0, window.1).await {
                        self.stats.closed = Some((now_ns(), format!("send failed: {e}")));
                        return self.stats;
                    }
                }
                incoming = self.next_text() => match incoming {
                    Ok(t) => self.on_frame(&t),
                    Err(e) => {
                        self.stats.closed = Some((now_ns(), e.to_string()));
                        return self.stats;
                    }
                }
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
        self.stats
    }
}

fn percentile(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[i.clamp(1, sorted.len()) - 1] as f64 / 1000.0)
}

fn summary(mut v: Vec<u32>) -> serde_json::Value {
    v.sort_unstable();
    let r = |x: Option<f64>| x.map(|x| (x * 100.0).round() / 100.0);
    json!({
        "n": v.len(),
        "p50_ms": r(percentile(&v, 50.0)),
        "p90_ms": r(percentile(&v, 90.0)),
        "p99_ms": r(percentile(&v, 99.0)),
        "max_ms": r(v.last().map(|m| *m as f64 / 1000.0)),
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.clients >= 1, "--clients must be at least 1");
    anyhow::ensure!(args.rate > 0.0 && args.max_sender_rate > 0.0, "rates must be positive");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads.max(1)).enable_all().build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let args = Arc::new(args);
    let (room, tokens): (String, Vec<String>) = match args.target {
        Target::Gonggu => {
            let path = args.tokens.as_ref().context("--target gonggu needs --tokens")?;
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let mut lines = text.lines().filter(|l| !l.is_empty());
            let room = lines.next().context("empty tokens file")?.to_owned();
            let tokens: Vec<String> = lines.map(str::to_owned).collect();
            anyhow::ensure!(tokens.len() >= args.clients, "{} tokens for {} clients", tokens.len(), args.clients);
            (room, tokens)
        }
        Target::Socketio => (args.room.clone(), vec![]),
    };
    let senders = if args.idle { 0 } else { ((args.rate / args.max_sender_rate).ceil() as usize).clamp(1, args.clients) };
    let shared = Arc::new(Shared::default());
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let n_urls = args.url.len();
    let mut per_instance = vec![0usize; n_urls];
    let mut handles = Vec::with_capacity(args.clients);
    let t_connect = Instant::now();
    let mut spawned = 0;
    while spawned < args.clients {
        let end = (spawned + args.batch.max(1)).min(args.clients);
        for i in spawned..end {
            let (args, shared, room, phase) = (args.clone(), shared.clone(), room.clone(), phase_rx.clone());
            let token = tokens.get(i).cloned();
            let instance = i % n_urls;
            let sender = (i < senders).then_some((i, senders));
            handles.push(tokio::spawn(async move {
                let url = &args.url[instance];
                match Conn::open(instance, &args, url, token.as_deref(), &room, shared.clone()).await {
                    Ok(c) => {
                        shared.ready.fetch_add(1, Ordering::SeqCst);
                        Some(c.run(phase, sender, args.rate).await)
                    }
                    Err(e) => {
                        let what = e.to_string();
                        shared.error(&shared.connect_errors, what.chars().take(80).collect());
                        shared.failed.fetch_add(1, Ordering::SeqCst);
                        None
                    }
                }
            }));
        }
        spawned = end;
        let limit = Instant::now() + Duration::from_secs(60);
        while shared.ready.load(Ordering::SeqCst) + shared.failed.load(Ordering::SeqCst) < spawned {
            anyhow::ensure!(Instant::now() < limit, "connections did not open within 60 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let ready = shared.ready.load(Ordering::SeqCst);
    for i in 0..args.clients {
        per_instance[i % n_urls] += 1;
    }
    let connect_seconds = t_connect.elapsed().as_secs_f64();
    let connect_errors = shared.connect_errors.lock().unwrap().clone();
    if args.idle {
        println!(
            "{}",
            json!({"ready": ready, "failed": shared.failed.load(Ordering::SeqCst), "connect_seconds": connect_seconds, "connect_errors": connect_errors})
        );
        tokio::time::sleep(Duration::from_secs(args.hold)).await;
        std::process::exit(0);
    }

    // The clock: warm-up, then the counted window.
    let go = Instant::now();
    let from = now_ns() + args.warmup * 1_000_000_000;
    let until = from + args.seconds * 1_000_000_000;
    phase_tx.send(Phase::Running { go, from, until })?;
    tokio::time::sleep(Duration::from_nanos(until.saturating_sub(now_ns()))).await;
    // Let the last sends (scheduled before `until`) go out, then stop the senders.
    tokio::time::sleep(Duration::from_millis(50)).await;
    phase_tx.send(Phase::Draining)?;
    let counted = shared.measured.lock().unwrap().len() as u64;
    let expected_now = counted * ready as u64;
    let drain_limit = Instant::now() + Duration::from_secs(args.drain);
    while shared.delivered.load(Ordering::Relaxed) < expected_now && Instant::now() < drain_limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain_seconds = (Instant::now() - (drain_limit - Duration::from_secs(args.drain))).as_secs_f64();
    phase_tx.send(Phase::Done)?;

    let mut stats = vec![];
    for h in handles {
        if let Ok(Some(s)) = h.await {
            stats.push(s);
        }
    }
    let measured = shared.measured.lock().unwrap().clone();
    let mut ready_per_instance = vec![0u64; n_urls];
    for s in &stats {
        ready_per_instance[s.instance] += 1;
    }
    let mut expected_same = 0u64;
    let mut expected_cross = 0u64;
    for (_, inst) in &measured {
        for (i, n) in ready_per_instance.iter().enumerate() {
            if i == *inst {
                expected_same += n;
            } else {
                expected_cross += n;
            }
        }
    }
    // Messages sent while each client was connected (a client the server closed expects none after).
    let mut expected_while_connected = 0u64;
    let mut closes: BTreeMap<String, u64> = BTreeMap::new();
    for s in &stats {
        match &s.closed {
            None => expected_while_connected += measured.len() as u64,
            Some((at, why)) => {
                expected_while_connected += measured.iter().filter(|(t, _)| t < at).count() as u64;
                *closes.entry(why.clone()).or_default() += 1;
            }
        }
    }
    let (mut same, mut cross, mut dups) = (vec![], vec![], 0u64);
    for s in stats {
        same.extend(s.lat_same);
        cross.extend(s.lat_cross);
        dups += s.duplicates;
    }
    let delivered_same = same.len() as u64;
    let delivered_cross = cross.len() as u64;
    let delivered = delivered_same + delivered_cross;
    let mut all = same.clone();
    all.extend_from_slice(&cross);
    let expected = expected_same + expected_cross;
    let mut out = json!({
        "label": args.label,
        "target": format!("{:?}", args.target).to_lowercase(),
        "instances": n_urls,
        "clients": args.clients,
        "clients_ready": ready,
        "clients_per_instance": per_instance,
        "rate": args.rate,
        "senders": senders,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "threads": args.threads,
        "connect_seconds": (connect_seconds * 10.0).round() / 10.0,
        "drain_seconds": (drain_seconds * 100.0).round() / 100.0,
        "sent_total": shared.sent_total.load(Ordering::Relaxed),
        "acked_total": shared.acked_total.load(Ordering::Relaxed),
        "sent": measured.len(),
        "achieved_rate": (measured.len() as f64 / args.seconds as f64 * 10.0).round() / 10.0,
        "acked": shared.acked_measured.load(Ordering::Relaxed),
        "errors": *shared.errors.lock().unwrap(),
        "connect_errors": connect_errors,
        "deliveries": delivered,
        "expected": expected,
        "lost": expected.saturating_sub(delivered),
        "lost_while_connected": expected_while_connected.saturating_sub(delivered),
        "duplicates": dups,
        "disconnected": closes.values().sum::<u64>(),
        "closes": closes,
        "latency": summary(all),
    });
    if n_urls > 1 {
        out["same_instance"] = json!({
            "deliveries": delivered_same, "expected": expected_same, "lost": expected_same.saturating_sub(delivered_same),
            "latency": summary(same),
        });
        out["cross_instance"] = json!({
            "deliveries": delivered_cross, "expected": expected_cross, "lost": expected_cross.saturating_sub(delivered_cross),
            "latency": summary(cross),
        });
    }
    println!("{out}");
    Ok(())
}
