//! How a bounded context plugs into a process.
//!
//! Each context crate has one `module(…)` function that opens its storage (running its migrations)
//! and returns a [`Module`]: everything the context brings — API routes with their OpenAPI
//! description, page routes, public file routes, event consumers, outbox relays, background jobs and
//! the databases to check and close. The binary builds the modules it was asked for and assembles
//! the process from that list ([`Process`]), so a new context (chat, push) is one line in the
//! binary, and one process can run any subset of contexts (svix-style roles from one binary).

use std::{future::Future, path::PathBuf, pin::Pin, sync::Arc, time::Duration};

use axum::Router;
use tokio::task::JoinHandle;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    auth::Authenticator,
    clock::Clock,
    db::{Db, SqliteTuning},
    events::{spawn_relay, Bus, MarkPublished, OutboxSignal},
    shutdown::Shutdown,
};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Subscribes and spawns a consumer, given the bus and the shutdown signal.
type StartConsumer = Box<dyn FnOnce(Arc<dyn Bus>, Shutdown) -> BoxFuture<anyhow::Result<JoinHandle<()>>> + Send>;

/// What the process hands every context: the token verifier, the clock, where data lives. (The bus
/// and the shutdown signal reach a context's consumers and jobs when the process starts them.)
#[derive(Clone)]
pub struct Platform {
    pub auth: Arc<Authenticator>,
    pub clock: Clock,
    pub data_dir: PathBuf,
    /// `postgres://…` puts each context in its own schema; `None` gives each its own SQLite file.
    pub database_url: Option<String>,
    /// Live delivery to the other instances (scaled mode); `None` in one process.
    pub fanout: Option<Arc<dyn crate::fanout::Fanout>>,
}

impl Platform {
    /// The context's own database (its SQLite file or its PostgreSQL schema).
    pub async fn database(&self, context: &'static str, tuning: SqliteTuning) -> anyhow::Result<Db> {
        use anyhow::Context as _;
        Db::connect(self.database_url.as_deref(), &self.data_dir, context, tuning)
            .await
            .with_context(|| format!("cannot open the {context} database"))
    }
}

/// Starts a consumer: subscribes (when called) and returns the running task. The binary starts every
/// consumer before any relay, so no consumer misses an event published at start.
pub struct Consumer {
    pub name: &'static str,
    start: StartConsumer,
}

impl Consumer {
    pub fn new<F, Fut>(name: &'static str, start: F) -> Self
    where
        F: FnOnce(Arc<dyn Bus>, Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<JoinHandle<()>>> + Send + 'static,
    {
        Self { name, start: Box::new(move |bus, shutdown| Box::pin(start(bus, shutdown))) }
    }
}

/// A context's outbox: the relay publishes its rows to the bus.
pub struct Outbox {
    pub db: Db,
    pub signal: OutboxSignal,
    /// Where "published" marks go when the context batches its own writes (the wallet's group commit).
    pub marker: Option<Arc<dyn MarkPublished>>,
}

/// Background work that runs until shutdown.
pub struct Job {
    pub name: &'static str,
    run: Box<dyn FnOnce(Shutdown) -> BoxFuture<()> + Send>,
}

impl Job {
    pub fn new<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self { name, run: Box::new(move |shutdown| Box::pin(run(shutdown))) }
    }

    /// Runs `tick` every `period` until shutdown (first after one period, or at once when
    /// `at_start`); a failed tick is logged and retried next period.
    pub fn every<F, Fut>(name: &'static str, period: Duration, at_start: bool, tick: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Self::new(name, move |shutdown| async move {
            let mut first = at_start;
            loop {
                if !first {
                    tokio::select! {
                        _ = tokio::time::sleep(period) => {}
                        _ = shutdown.wait() => return,
                    }
                }
                first = false;
                if let Err(e) = tick().await {
                    tracing::warn!(job = name, error = %format!("{e:#}"), "background job failed");
                }
            }
        })
    }
}

/// Everything one bounded context brings to a process.
pub struct Module {
    pub name: &'static str,
    pub api: OpenApiRouter,
    /// Page routes; the binary puts them behind the cookie session.
    pub pages: Router,
    /// Public routes served as they are (e.g. stored images).
    pub files: Router,
    pub consumers: Vec<Consumer>,
    pub outboxes: Vec<Outbox>,
    pub jobs: Vec<Job>,
    /// Checked by `/readyz` and closed at shutdown.
    pub databases: Vec<Db>,
}

impl Module {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            api: OpenApiRouter::new(),
            pages: Router::new(),
            files: Router::new(),
            consumers: Vec::new(),
            outboxes: Vec::new(),
            jobs: Vec::new(),
            databases: Vec::new(),
        }
    }

    pub fn api(mut self, api: OpenApiRouter) -> Self {
        self.api = self.api.merge(api);
        self
    }

    pub fn pages(mut self, pages: Router) -> Self {
        self.pages = self.pages.merge(pages);
        self
    }

    pub fn files(mut self, files: Router) -> Self {
        self.files = self.files.merge(files);
        self
    }

    pub fn consumer(mut self, consumer: Consumer) -> Self {
        self.consumers.push(consumer);
        self
    }

    /// The context's database, when it publishes nothing (checked by `/readyz`, closed at shutdown).
    pub fn database(mut self, db: Db) -> Self {
        self.databases.push(db);
        self
    }

    /// The context's database, with its outbox relayed to the bus.
    pub fn database_with_outbox(mut self, db: Db, signal: OutboxSignal, marker: Option<Arc<dyn MarkPublished>>) -> Self {
        self.databases.push(db.clone());
        self.outboxes.push(Outbox { db, signal, marker });
        self
    }

    pub fn job(mut self, job: Job) -> Self {
        self.jobs.push(job);
        self
    }
}

/// The assembled process: the routes of every module, and what to start and stop.
pub struct Process {
    pub api: OpenApiRouter,
    pub pages: Router,
    pub files: Router,
    pub databases: Vec<Db>,
    consumers: Vec<Consumer>,
    relays: Vec<(&'static str, Outbox)>,
    jobs: Vec<Job>,
}

impl Process {
    pub fn assemble(modules: Vec<Module>) -> Self {
        let mut p = Process {
            api: OpenApiRouter::new(),
            pages: Router::new(),
            files: Router::new(),
            databases: Vec::new(),
            consumers: Vec::new(),
            relays: Vec::new(),
            jobs: Vec::new(),
        };
        for m in modules {
            p.api = p.api.merge(m.api);
            p.pages = p.pages.merge(m.pages);
            p.files = p.files.merge(m.files);
            p.databases.extend(m.databases);
            p.consumers.extend(m.consumers);
            p.relays.extend(m.outboxes.into_iter().map(|o| (m.name, o)));
            p.jobs.extend(m.jobs);
        }
        p
    }

    /// Starts every consumer (each subscribes first), then the relays, then the jobs.
    pub async fn start(&mut self, bus: Arc<dyn Bus>, shutdown: Shutdown) -> anyhow::Result<Vec<JoinHandle<()>>> {
        use anyhow::Context as _;
        let mut tasks = Vec::new();
        for c in std::mem::take(&mut self.consumers) {
            let name = c.name;
            tasks.push((c.start)(bus.clone(), shutdown.clone()).await.with_context(|| format!("cannot start consumer {name}"))?);
        }
        for (name, o) in std::mem::take(&mut self.relays) {
            tasks.push(spawn_relay(name, o.db, bus.clone(), o.signal, o.marker, shutdown.clone()));
        }
        for j in std::mem::take(&mut self.jobs) {
            tasks.push(tokio::spawn((j.run)(shutdown.clone())));
        }
        Ok(tasks)
    }
}
