//! Wires the contexts into one application. `Application::build` does all the fallible work
//! (settings → storage → migrations → routes → listener), so tests start the real thing on
//! port 0 and `main` only calls `run_until_stopped`.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderName, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::{any, get},
    Extension, Router,
};
use gonggu_accounts::{mail::Mailer, module::AccountsConfig, password::PasswordHasher, Accounts};
use gonggu_deals::{module::DealsConfig, Deals};
use gonggu_kernel::{
    auth::Authenticator,
    clock::Clock,
    db::Db,
    error::{api_not_found, finish_errors, method_not_allowed},
    events::{Bus, InMemoryBus, OutboxSignal},
    fanout::Fanout,
    http::{security_headers, ClientIp, TrustProxy, BODY_LIMIT, REQUEST_TIMEOUT},
    module::{Consumer, Module, Platform, Process},
    shutdown,
    web::{self, CookieConfig, WebSession},
};
use gonggu_media::module::MediaConfig;
use gonggu_wallet::Wallet;
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer, compression::CompressionLayer, request_id::PropagateRequestIdLayer, timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    server::{self, ConnectionLimits},
    settings::{BusKind, Settings},
    shell, telemetry,
};

pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: shutdown::Trigger,
    shutdown_rx: shutdown::Shutdown,
    background: Vec<tokio::task::JoinHandle<()>>,
    databases: Vec<Db>,
    pub accounts: Arc<Accounts>,
    pub wallet: Arc<Wallet>,
    pub deals: Arc<Deals>,
    pub chat: Arc<gonggu_chat::Chat>,
    pub push: Arc<gonggu_push::Push>,
    pub auth: Arc<Authenticator>,
}

/// Everything a test may want to swap.
#[derive(Clone, Default)]
pub struct Overrides {
    pub clock: Option<Clock>,
    pub hasher: Option<PasswordHasher>,
    /// How long a cached first page of deals may live (tests lengthen it to see invalidation).
    pub list_cache_for: Option<Duration>,
    /// Live delivery to other instances in this test process (e.g. one that loses frames).
    pub fanout: Option<Arc<dyn Fanout>>,
    /// How the push worker retries and how long a push may take (tests shorten both).
    pub push_worker: Option<gonggu_push::delivery::WorkerConfig>,
    pub push_send_timeout: Option<Duration>,
}

/// The contexts of one process, built from the settings. Each context crate's `module(…)` opens its
/// storage (running its migrations) and declares its routes, consumers, relays and jobs; the
/// adapters between contexts (deals asks media about images) are the only wiring left here.
struct Contexts {
    modules: Vec<Module>,
    accounts: Arc<Accounts>,
    wallet: Arc<Wallet>,
    deals: Arc<Deals>,
    chat: Arc<gonggu_chat::Chat>,
    push: Arc<gonggu_push::Push>,
}

async fn build_contexts(settings: &Settings, platform: &Platform, secret: &[u8], overrides: &Overrides) -> anyhow::Result<Contexts> {
    let mailer = match &settings.mail.smtp_url {
        Some(url) => Mailer::smtp(url.expose(), &settings.mail.from)?,
        None => Mailer::file(settings.data_dir.join("mail"), &settings.mail.from)?,
    };
    let workers = match settings.auth.hash_workers {
        0 => (std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) / 2).max(1),
        n => n,
    };
    let hasher = overrides.hasher.clone().unwrap_or_else(|| PasswordHasher::new(workers));
    let code_pepper = gonggu_kernel::derive_key(secret, b"gonggu one-time codes");
    let (accounts, accounts_module) = gonggu_accounts::module::module(platform, AccountsConfig { mailer, hasher, code_pepper }).await?;
    let (wallet, wallet_module) = gonggu_wallet::module::module(platform).await?;
    let media_config = match &settings.media.s3_bucket {
        Some(bucket) => MediaConfig::S3 { bucket: bucket.clone(), endpoint: settings.media.s3_endpoint.clone() },
        None => MediaConfig::Local,
    };
    let (media, media_module) = gonggu_media::module::module(platform, &media_config)?;
    let images: Arc<dyn gonggu_kernel::images::ImageCatalog> = Arc::new(MediaCatalog(media));
    let deals_config =
        DealsConfig { images: images.clone(), list_cache_for: overrides.list_cache_for.unwrap_or(gonggu_deals::cache::FRESH_FOR) };
    let (deals, deals_module) = gonggu_deals::module::module(platform, deals_config).await?;
    let (chat, chat_module) = gonggu_chat::module::module(platform, images).await?;
    let push_config = gonggu_push::module::PushConfig {
        vapid_private_key: settings.push.vapid_private_key.as_ref().map(|k| k.expose().to_owned()),
        contact: settings.public_origin(),
        allow_insecure_loopback: settings.push.allow_insecure_loopback,
        worker: overrides.push_worker.clone().unwrap_or_default(),
        send_timeout: overrides.push_send_timeout,
    };
    let (push, _worker, push_module) = gonggu_push::module::module(platform, push_config).await?;
    Ok(Contexts {
        modules: vec![accounts_module, wallet_module, deals_module, media_module, chat_module, push_module, gonggu_places::module()],
        accounts,
        wallet,
        deals,
        chat,
        push,
    })
}

fn platform(settings: &Settings, auth: Arc<Authenticator>, clock: Clock, fanout: Option<Arc<dyn Fanout>>) -> Platform {
    Platform {
        fanout,
        auth,
        clock,
        data_dir: settings.data_dir.clone(),
        database_url: settings.database.url.as_ref().map(|s| s.expose().to_owned()),
    }
}

/// What every process runs whatever its contexts: the token verifier's view of revoked sessions.
fn gateway_module(auth: Arc<Authenticator>) -> Module {
    Module::new("gateway").consumer(Consumer::new(REVOCATIONS_FEED, move |bus, shutdown| spawn_revocation_listener(bus, auth, shutdown)))
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Overrides::default()).await
    }

    pub async fn build_with(settings: Settings, overrides: Overrides) -> anyhow::Result<Self> {
        gonggu_kernel::fs::prepare_private_dir(&settings.data_dir).with_context(|| format!("data_dir {}", settings.data_dir.display()))?;
        // Install the recorder before the first request so that nothing goes uncounted.
        telemetry::metrics_handle();
        let secret = load_or_create_secret(&settings)?;
        let auth = Authenticator::new(&secret);
        let (bus, fanout): (Arc<dyn Bus>, Option<Arc<dyn Fanout>>) = match settings.bus {
            BusKind::Memory => (InMemoryBus::new(), None),
            BusKind::Nats => {
                let url = settings.nats.url.as_deref().context("bus = \"nats\" needs nats.url")?;
                let prefix = &settings.nats.prefix;
                let bus = gonggu_kernel::nats_bus::NatsBus::connect(url, prefix).await.context("nats (GONGGU_NATS__URL)")?;
                let fanout = gonggu_kernel::fanout::NatsFanout::connect(url, prefix).await.context("nats (GONGGU_NATS__URL)")?;
                (bus, Some(fanout))
            }
        };
        let (shutdown, shutdown_rx) = shutdown::channel();
        let fanout = overrides.fanout.clone().or(fanout);
        let platform = platform(&settings, auth.clone(), overrides.clock.clone().unwrap_or_default(), fanout);
        let Contexts { mut modules, accounts, wallet, deals, chat, push } =
            build_contexts(&settings, &platform, &secret, &overrides).await?;
        modules.push(gateway_module(auth.clone()));
        let mut process = Process::assemble(modules);
        // Consumers subscribe before any relay starts, so they see every event.
        let background = process.start(bus, shutdown_rx.clone()).await?;

        // HTTP
        let (api, openapi) = OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi()).merge(process.api).split_for_parts();
        let openapi_json = Arc::new(crate::openapi::complete(openapi).to_pretty_json()?);

        let web_session = WebSession {
            auth: auth.clone(),
            refresher: Some(accounts.clone()),
            cookies: CookieConfig { secure: settings.is_https() },
            public_origin: settings.public_origin(),
            csrf_key: web::CsrfKey::derive(&secret),
        };
        let pages = process.pages.merge(shell::router()).layer(middleware::from_fn_with_state(web_session.clone(), web::web_session));

        let databases = process.databases;
        let metrics_token = settings.ops.metrics_token.as_ref().map(|t| Arc::<str>::from(t.expose()));
        let ops = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .with_state(Arc::new(databases.clone()))
            .route("/metrics", get(move |ip: ClientIp, headers: HeaderMap| metrics(metrics_token.clone(), ip, headers)));

        let hsts = settings.is_https();
        let router = Router::new()
            .merge(api)
            .route("/api/openapi.json", get(move || openapi_doc(openapi_json.clone())))
            .route("/api/{*rest}", any(api_not_found))
            .merge(pages)
            .merge(ops)
            .merge(process.files)
            .route("/assets/{*path}", get(web::serve_asset))
            .route("/sw.js", get(web::serve_service_worker))
            .route("/manifest.webmanifest", get(web::serve_manifest))
            .route("/offline.html", get(web::serve_offline))
            .method_not_allowed_fallback(method_not_allowed);
        let router = edge(router, EdgeConfig { hsts, trust_proxy: settings.http.trust_proxy, timeout: REQUEST_TIMEOUT });

        let listener = TcpListener::bind(settings.http.addr)
            .await
            .with_context(|| format!("cannot listen on {} (http.addr / GONGGU_HTTP__ADDR)", settings.http.addr))?;
        let file_limit = server::raise_file_limit();
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(settings.http.header_timeout_secs),
            max_connections: server::effective_cap(settings.http.max_connections, file_limit),
            drain_timeout: DRAIN_TIMEOUT,
        };
        Ok(Self { listener, router, limits, shutdown, shutdown_rx, background, databases, accounts, wallet, deals, chat, push, auth })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// Serves until Ctrl-C or SIGTERM (or `stop` in tests), then drains in-flight requests,
    /// stops background work and closes the databases.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application { listener, router, limits, shutdown, shutdown_rx, background, databases, .. } = self;
        let stop = shutdown_rx.clone();
        let signal = async move {
            tokio::select! {
                _ = os_signal() => {}
                _ = stop.wait() => {}
            }
        };
        server::serve(listener, router, limits, signal).await?;
        shutdown.fire();
        for task in background {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        for db in databases {
            db.close().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// How long shutdown waits for open requests to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

async fn os_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        _ = term => tracing::info!("SIGTERM received; shutting down"),
    }
}

/// Every instance keeps its own revoked-session set, fed by this per-instance feed.
const REVOCATIONS_FEED: &str = "gateway-revocations";

async fn spawn_revocation_listener(
    bus: Arc<dyn Bus>,
    auth: Arc<Authenticator>,
    shutdown: shutdown::Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use gonggu_accounts::events::SessionsRevoked;
    use gonggu_kernel::events::Event;
    // Every instance keeps its own revoked set, so every instance reads every revocation, starting
    // one access-token lifetime back (older sessions' tokens have expired anyway).
    let sub = bus
        .subscribe_each_instance(REVOCATIONS_FEED, &[SessionsRevoked::TYPE], gonggu_kernel::auth::ACCESS_TTL.to_std().unwrap_or_default())
        .await?;
    Ok(gonggu_kernel::events::spawn_consumer(REVOCATIONS_FEED, sub, shutdown, move |env| {
        let auth = auth.clone();
        async move {
            if let Some(event) = env.decode::<SessionsRevoked>() {
                auth.revoke_sessions(event?.session_ids, chrono::Utc::now());
            }
            Ok(())
        }
    }))
}

/// Deals and chat ask media about photos, in-process.
struct MediaCatalog(Arc<gonggu_media::Media>);

#[async_trait::async_trait]
impl gonggu_kernel::images::ImageCatalog for MediaCatalog {
    async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        self.0.exists(key).await
    }

    async fn store(&self, bytes: Vec<u8>) -> anyhow::Result<Result<String, String>> {
        Ok(self.0.upload(bytes).await?.map(|p| p.key).map_err(|r| r.message().to_owned()))
    }
}

async fn readyz(State(dbs): State<Arc<Vec<Db>>>) -> Response {
    for db in dbs.iter() {
        if let Err(e) = db.ping().await {
            tracing::warn!(error = %e, backend = db.backend(), "readiness check failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response();
        }
    }
    "ready".into_response()
}

/// Route names, counts and latencies are internals: only this machine or the holder of
/// `ops.metrics_token` may read them.
async fn metrics(token: Option<Arc<str>>, ClientIp(ip): ClientIp, headers: HeaderMap) -> Response {
    match token {
        Some(token) => {
            let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
            let matches = given.is_some_and(|g| bool::from(subtle::ConstantTimeEq::ct_eq(g.as_bytes(), token.as_bytes())));
            if !matches {
                return gonggu_kernel::ApiError::unauthorized("metrics_token_required", "메트릭을 보려면 ops.metrics_token이 필요합니다.")
                    .into_response();
            }
        }
        None if !ip.is_loopback() => {
            return gonggu_kernel::ApiError::forbidden(
                "metrics_local_only",
                "메트릭은 서버 안에서만 볼 수 있습니다. 밖에서 수집하려면 ops.metrics_token을 설정하세요.",
            )
            .into_response();
        }
        None => {}
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], telemetry::metrics_handle().render()).into_response()
}

async fn openapi_doc(json: Arc<String>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json.as_str().to_owned()).into_response()
}

/// The access-token key: from settings, or generated once into `<data_dir>/jwt.key` (0600).
pub fn load_or_create_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = &settings.auth.jwt_secret {
        return Ok(s.expose().as_bytes().to_vec());
    }
    let path = settings.data_dir.join("jwt.key");
    if path.exists() {
        let key = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        anyhow::ensure!(key.len() >= 32, "{} is shorter than 32 bytes; delete it to generate a new key", path.display());
        return Ok(key);
    }
    let mut key = vec![0u8; 64];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    write_private(&path, &key)?;
    tracing::info!(path = %path.display(), "generated a new access-token key");
    Ok(key)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

/// `gonggu migrate`: builds every context (opening its storage runs its migrations), starts nothing, exits.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    gonggu_kernel::fs::prepare_private_dir(&settings.data_dir).with_context(|| format!("data_dir {}", settings.data_dir.display()))?;
    let secret = load_or_create_secret(settings)?;
    let platform = platform(settings, Authenticator::new(&secret), Clock::default(), None);
    let contexts = build_contexts(settings, &platform, &secret, &Overrides::default()).await?;
    for m in &contexts.modules {
        for db in &m.databases {
            db.close().await;
        }
    }
    tracing::info!(contexts = ?contexts.modules.iter().map(|m| m.name).collect::<Vec<_>>(), "migrations applied");
    Ok(())
}

/// `gonggu wallet verify`: checks every ledger invariant; an error when any is violated.
pub async fn verify_wallet(settings: &Settings) -> anyhow::Result<gonggu_wallet::store::Audit> {
    gonggu_kernel::fs::prepare_private_dir(&settings.data_dir).with_context(|| format!("data_dir {}", settings.data_dir.display()))?;
    let url = settings.database.url.as_ref().map(|s| s.expose().to_owned());
    let db = Db::connect(url.as_deref(), &settings.data_dir, gonggu_wallet::module::NAME, gonggu_wallet::module::TUNING).await?;
    let store = gonggu_wallet::store::open(&db, OutboxSignal::default()).await?;
    let audit = store.audit().await?;
    db.close().await;
    Ok(audit)
}

/// What the layers around every route need to know.
struct EdgeConfig {
    hsts: bool,
    trust_proxy: bool,
    timeout: Duration,
}

/// The layers every request passes, outermost last. A handler that panics or runs past the
/// timeout leaves a bare status inside `finish_errors`, which makes it the envelope or an
/// error page with the request id like any other refusal (outside it they were an empty 408
/// and a JSON 500 even on pages, without security headers).
fn edge(router: Router, config: EdgeConfig) -> Router {
    let EdgeConfig { hsts, trust_proxy, timeout } = config;
    router
        .layer(Extension(TrustProxy(trust_proxy)))
        .layer(middleware::from_fn(gonggu_kernel::http::finish_writes))
        .layer(middleware::from_fn(telemetry::track_metrics))
        .layer(CatchPanicLayer::custom(|panic: Box<dyn std::any::Any + Send>| {
            let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
            tracing::error!(panic = what.as_deref().unwrap_or("(not a string)"), "handler panicked");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(middleware::from_fn(gonggu_kernel::http::refuse_unreadable))
        .layer(middleware::from_fn(finish_errors))
        .layer(middleware::from_fn(move |req, next| security_headers(hsts, req, next)))
        .layer(CompressionLayer::new())
        // Per-route limits (uploads) override this default.
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(PropagateRequestIdLayer::new(HeaderName::from_static("x-request-id")))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %request_id)
        }))
        .layer(middleware::from_fn(gonggu_kernel::http::safe_request_id))
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt as _;

    use super::*;

    fn app() -> Router {
        async fn boom() -> &'static str {
            panic!("went wrong")
        }
        async fn slow() -> &'static str {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }
        let router = Router::new()
            .route("/boom", get(boom))
            .route("/api/v1/boom", get(boom))
            .route("/slow", get(slow))
            .route("/api/v1/slow", get(slow));
        edge(router, EdgeConfig { hsts: false, trust_proxy: false, timeout: Duration::from_millis(50) })
    }

    async fn fetch(path: &str) -> (StatusCode, String, String, String) {
        let res = app().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let header = |n: &str| res.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let (status, ctype, id, csp) = (res.status(), header("content-type"), header("x-request-id"), header("content-security-policy"));
        let body = String::from_utf8(axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
        assert!(!id.is_empty() && body.contains(&id), "{path}: the answer names its request id {id:?}: {body}");
        assert!(!csp.is_empty(), "{path}: security headers");
        (status, ctype, body, id)
    }

    #[tokio::test]
    async fn a_panic_is_an_error_page_or_the_envelope() {
        let (status, ctype, body, _) = fetch("/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(ctype.starts_with("text/html"), "{ctype}");
        assert!(!body.contains("went wrong"), "the panic stays in the log");
        let (status, ctype, body, _) = fetch("/api/v1/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(ctype.starts_with("application/json"), "{ctype}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "internal_error", "{v}");
    }

    #[tokio::test]
    async fn a_timeout_is_an_error_page_or_the_envelope() {
        let (status, ctype, _, _) = fetch("/slow").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert!(ctype.starts_with("text/html"), "{ctype}");
        let (status, ctype, body, _) = fetch("/api/v1/slow").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert!(ctype.starts_with("application/json"), "{ctype}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string(), "{v}");
    }
}
