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
use gonggu_accounts::{api::AccountsState, mail::Mailer, password::PasswordHasher, service::Limits, Accounts};
use gonggu_deals::{api::DealsState, cache::FirstPageCache, Deals};
use gonggu_kernel::{
    auth::Authenticator,
    clock::Clock,
    db::{Db, SqliteTuning},
    error::{api_not_found, finish_errors, method_not_allowed},
    events::{spawn_relay, tokio_util_shutdown, Bus, InMemoryBus, OutboxSignal},
    http::{security_headers, ClientIp, TrustProxy, BODY_LIMIT, REQUEST_TIMEOUT},
    web::{self, CookieConfig, WebSession},
};
use gonggu_wallet::{api::WalletState, Wallet};
use sha2_free::derive_key;
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    settings::{BusKind, Settings},
    shell, telemetry,
};

pub struct Application {
    listener: TcpListener,
    router: Router,
    shutdown: tokio_util_shutdown::Trigger,
    shutdown_rx: tokio_util_shutdown::Shutdown,
    background: Vec<tokio::task::JoinHandle<()>>,
    databases: Vec<Db>,
    pub accounts: Arc<Accounts>,
    pub wallet: Arc<Wallet>,
    pub deals: Arc<Deals>,
    pub auth: Arc<Authenticator>,
}

/// Everything a test may want to swap.
#[derive(Clone, Default)]
pub struct Overrides {
    pub clock: Option<Clock>,
    pub hasher: Option<PasswordHasher>,
    /// How long a cached first page of deals may live (tests lengthen it to see invalidation).
    pub list_cache_for: Option<Duration>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "공구마켓 API", version = "1", description = "우리 동네 공동구매 공구마켓의 JSON API. 오류는 `{\"error\": {code, message, details}}` 형식입니다."),
    modifiers(&BearerAuth),
    components(schemas(gonggu_kernel::error::ErrorEnvelope, gonggu_kernel::error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Overrides::default()).await
    }

    pub async fn build_with(settings: Settings, overrides: Overrides) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| format!("cannot create data_dir {}", settings.data_dir.display()))?;
        let clock = overrides.clock.unwrap_or_default();
        // Install the recorder before the first request so that nothing goes uncounted.
        telemetry::metrics_handle();
        let secret = load_or_create_secret(&settings)?;
        let auth = Authenticator::new(&secret);
        let bus: Arc<dyn Bus> = match settings.bus {
            BusKind::Memory => InMemoryBus::new(),
            BusKind::Nats => {
                let url = settings.nats.url.as_deref().context("bus = \"nats\" needs nats.url")?;
                gonggu_kernel::nats_bus::NatsBus::connect(url, &settings.nats.prefix).await.context("nats (GONGGU_NATS__URL)")?
            }
        };
        let (shutdown, shutdown_rx) = tokio_util_shutdown::channel();
        let database_url = settings.database.url.as_ref().map(|s| s.expose().to_owned());

        // accounts
        let accounts_db = Db::connect(database_url.as_deref(), &settings.data_dir, "accounts", SqliteTuning::default())
            .await
            .context("cannot open the accounts database")?;
        let accounts_signal = OutboxSignal::default();
        let store = gonggu_accounts::store::open(&accounts_db, accounts_signal.clone()).await.context("accounts migrations failed")?;
        let mailer = match &settings.mail.smtp_url {
            Some(url) => Mailer::smtp(url.expose(), &settings.mail.from)?,
            None => Mailer::file(settings.data_dir.join("mail"), &settings.mail.from)?,
        };
        let workers = match settings.auth.hash_workers {
            0 => (std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) / 2).max(1),
            n => n,
        };
        let accounts = Arc::new(Accounts {
            store,
            auth: auth.clone(),
            hasher: overrides.hasher.unwrap_or_else(|| PasswordHasher::new(workers)),
            mailer,
            clock: clock.clone(),
            limits: Limits::default(),
            profiles: Default::default(),
            code_pepper: derive_key(&secret, b"gonggu one-time codes"),
        });
        accounts.load_revocations().await.context("cannot load revoked sessions")?;

        // wallet: money, so SQLite fsyncs every commit.
        let wallet_db = Db::connect(database_url.as_deref(), &settings.data_dir, "wallet", WALLET_TUNING)
            .await
            .context("cannot open the wallet database")?;
        let wallet_signal = OutboxSignal::default();
        let wallet_store = gonggu_wallet::store::open(&wallet_db, wallet_signal.clone()).await.context("wallet migrations failed")?;
        let wallet = Arc::new(Wallet::new(wallet_store.clone(), clock.clone()));

        // deals
        let deals_db = Db::connect(database_url.as_deref(), &settings.data_dir, "deals", SqliteTuning::default())
            .await
            .context("cannot open the deals database")?;
        let deals_signal = OutboxSignal::default();
        let deals_store = gonggu_deals::store::open(&deals_db, deals_signal.clone()).await.context("deals migrations failed")?;

        // media
        let media = Arc::new(match &settings.media.s3_bucket {
            Some(bucket) => gonggu_media::Media::s3(bucket, settings.media.s3_endpoint.as_deref()).context("media.s3_bucket")?,
            None => gonggu_media::Media::local(&settings.data_dir.join("media"))?,
        });

        let list_cache = FirstPageCache::shared(deals_store, overrides.list_cache_for.unwrap_or(gonggu_deals::cache::FRESH_FOR));
        let deals = Arc::new(Deals { store: list_cache.clone(), clock: clock.clone(), images: Arc::new(MediaCatalog(media.clone())) });

        // Consumers subscribe before any relay starts, so they see every event.
        let mut background = vec![gonggu_wallet::consumer::spawn(bus.clone(), wallet_store.clone(), shutdown_rx.clone()).await?];
        background.push(gonggu_deals::consumer::spawn(bus.clone(), deals.store.clone(), shutdown_rx.clone()).await?);
        background.push(spawn_relay("accounts", accounts_db.clone(), bus.clone(), accounts_signal, None, shutdown_rx.clone()));
        background.push(spawn_relay(
            "wallet",
            wallet_db.clone(),
            bus.clone(),
            wallet_signal,
            wallet_store.outbox_marker(),
            shutdown_rx.clone(),
        ));
        background.push(spawn_relay("deals", deals_db.clone(), bus.clone(), deals_signal, None, shutdown_rx.clone()));
        background.push(spawn_deal_clock(deals.clone(), shutdown_rx.clone()));
        background.push(spawn_key_pruner(wallet_store, clock.clone(), shutdown_rx.clone()));
        background.push(spawn_revocation_listener(bus.clone(), auth.clone(), shutdown_rx.clone()).await?);
        background.push(spawn_list_cache_listener(bus.clone(), list_cache, shutdown_rx.clone()).await?);
        background.push(spawn_limit_pruner(accounts.clone(), shutdown_rx.clone()));

        // HTTP
        let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
            .merge(gonggu_accounts::api::router(AccountsState { accounts: accounts.clone(), auth: auth.clone() }))
            .merge(gonggu_wallet::api::router(WalletState { wallet: wallet.clone(), auth: auth.clone() }))
            .merge(gonggu_deals::api::router(DealsState { deals: deals.clone(), auth: auth.clone() }))
            .merge(gonggu_media::api::router(gonggu_media::api::MediaState { media: media.clone(), auth: auth.clone() }))
            .split_for_parts();
        let openapi_json = Arc::new(openapi.to_pretty_json()?);

        let web_session = WebSession {
            auth: auth.clone(),
            refresher: Some(accounts.clone()),
            cookies: CookieConfig { secure: settings.is_https() },
            public_origin: settings.public_origin(),
        };
        let pages = Router::new()
            .merge(gonggu_accounts::pages::router(accounts.clone()))
            .merge(gonggu_wallet::pages::router(wallet.clone()))
            .merge(gonggu_deals::pages::router(deals.clone()))
            .merge(shell::router())
            .layer(middleware::from_fn_with_state(web_session.clone(), web::web_session));

        let databases = vec![accounts_db, wallet_db, deals_db];
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
            .merge(gonggu_media::api::files(media.clone()))
            .route("/assets/{*path}", get(web::serve_asset))
            .route("/sw.js", get(web::serve_service_worker))
            .route("/manifest.webmanifest", get(web::serve_manifest))
            .route("/offline.html", get(web::serve_offline))
            .fallback(web::page_not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(Extension(TrustProxy(settings.http.trust_proxy)))
            .layer(middleware::from_fn(gonggu_kernel::http::finish_writes))
            .layer(middleware::from_fn(telemetry::track_metrics))
            .layer(middleware::from_fn(finish_errors))
            .layer(middleware::from_fn(move |req, next| security_headers(hsts, req, next)))
            .layer(CompressionLayer::new())
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
            // Per-route limits (uploads) override this default.
            .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
            .layer(CatchPanicLayer::custom(|_| gonggu_kernel::ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()))
            .layer(PropagateRequestIdLayer::new(HeaderName::from_static("x-request-id")))
            .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %request_id)
            }))
            .layer(SetRequestIdLayer::new(HeaderName::from_static("x-request-id"), MakeRequestUuid));

        let listener = TcpListener::bind(settings.http.addr)
            .await
            .with_context(|| format!("cannot listen on {} (http.addr / GONGGU_HTTP__ADDR)", settings.http.addr))?;
        Ok(Self { listener, router, shutdown, shutdown_rx, background, databases, accounts, wallet, deals, auth })
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
        let Application { listener, router, shutdown, shutdown_rx, background, databases, .. } = self;
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        let stop = shutdown_rx.clone();
        let signal = async move {
            tokio::select! {
                _ = os_signal() => {}
                _ = stop.wait() => {}
            }
        };
        axum::serve(listener, app).with_graceful_shutdown(signal).await?;
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

/// Other instances (and, in split mode, other services) learn about revoked sessions from
/// `SessionsRevoked`; in one process this is a second, harmless confirmation.
/// Deal writes by other processes reach this one's first-page cache as events (its own writes
/// invalidate it directly).
async fn spawn_list_cache_listener(
    bus: Arc<dyn Bus>,
    cache: Arc<FirstPageCache>,
    shutdown: tokio_util_shutdown::Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let sub = bus.subscribe_each_instance("deals-list-cache", &gonggu_deals::cache::DEAL_EVENTS, Duration::ZERO).await?;
    Ok(gonggu_kernel::events::spawn_consumer("deals-list-cache", sub, shutdown, move |_| {
        cache.invalidate();
        async { Ok(()) }
    }))
}

async fn spawn_revocation_listener(
    bus: Arc<dyn Bus>,
    auth: Arc<Authenticator>,
    shutdown: tokio_util_shutdown::Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use gonggu_accounts::events::SessionsRevoked;
    use gonggu_kernel::events::Event;
    // Every instance keeps its own revoked set, so every instance reads every revocation, starting
    // one access-token lifetime back (older sessions' tokens have expired anyway).
    let sub = bus
        .subscribe_each_instance(
            "gateway-revocations",
            &[SessionsRevoked::TYPE],
            gonggu_kernel::auth::ACCESS_TTL.to_std().unwrap_or_default(),
        )
        .await?;
    Ok(gonggu_kernel::events::spawn_consumer("gateway-revocations", sub, shutdown, move |env| {
        let auth = auth.clone();
        async move {
            if let Some(event) = env.decode::<SessionsRevoked>() {
                auth.revoke_sessions(event?.session_ids, chrono::Utc::now());
            }
            Ok(())
        }
    }))
}

/// Deals asks media whether an image key exists, in-process.
struct MediaCatalog(Arc<gonggu_media::Media>);

#[async_trait::async_trait]
impl gonggu_deals::service::ImageCatalog for MediaCatalog {
    async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        self.0.exists(key).await
    }

    async fn store(&self, bytes: Vec<u8>) -> anyhow::Result<Result<String, String>> {
        Ok(self.0.upload(bytes).await?.map(|p| p.key).map_err(|r| r.message().to_owned()))
    }
}

/// Deadlines: every 15 seconds, deals past their deadline below the tipping point fail, and deals
/// within 24 hours of it are announced once.
fn spawn_deal_clock(deals: Arc<Deals>, shutdown: tokio_util_shutdown::Shutdown) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = deals.tick().await {
                tracing::warn!(error = %format!("{e:#}"), "deal deadline pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(15)) => {}
                _ = shutdown.wait() => return,
            }
        }
    })
}

const WALLET_TUNING: SqliteTuning = SqliteTuning { synchronous_full: true, max_connections: 8 };

/// Idempotency keys are kept 48 hours (the promise is at least 24).
fn spawn_key_pruner(
    store: Arc<dyn gonggu_wallet::store::WalletStore>,
    clock: Clock,
    shutdown: tokio_util_shutdown::Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {
                    if let Err(e) = store.prune_keys(clock.now() - chrono::Duration::hours(48)).await {
                        tracing::warn!(error = %e, "pruning idempotency keys failed");
                    }
                }
                _ = shutdown.wait() => return,
            }
        }
    })
}

fn spawn_limit_pruner(accounts: Arc<Accounts>, shutdown: tokio_util_shutdown::Shutdown) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(300)) => accounts.limits.prune(),
                _ = shutdown.wait() => return,
            }
        }
    })
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
fn load_or_create_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
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

/// Key derivation for secondary keys (code pepper) from the main secret.
mod sha2_free {
    pub fn derive_key(secret: &[u8], label: &[u8]) -> Vec<u8> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(label);
        h.update([0]);
        h.update(secret);
        h.finalize().to_vec()
    }
}

/// `gonggu migrate`: opens every context's storage, which runs its migrations, then exits.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database.url.as_ref().map(|s| s.expose().to_owned());
    let db = Db::connect(url.as_deref(), &settings.data_dir, "accounts", SqliteTuning::default()).await?;
    gonggu_accounts::store::open(&db, OutboxSignal::default()).await?;
    db.close().await;
    let wallet = Db::connect(url.as_deref(), &settings.data_dir, "wallet", WALLET_TUNING).await?;
    gonggu_wallet::store::open(&wallet, OutboxSignal::default()).await?;
    wallet.close().await;
    let deals = Db::connect(url.as_deref(), &settings.data_dir, "deals", SqliteTuning::default()).await?;
    gonggu_deals::store::open(&deals, OutboxSignal::default()).await?;
    deals.close().await;
    tracing::info!(backend = db.backend(), "migrations applied");
    Ok(())
}

/// `gonggu wallet verify`: checks every ledger invariant; an error when any is violated.
pub async fn verify_wallet(settings: &Settings) -> anyhow::Result<gonggu_wallet::store::Audit> {
    let url = settings.database.url.as_ref().map(|s| s.expose().to_owned());
    let db = Db::connect(url.as_deref(), &settings.data_dir, "wallet", WALLET_TUNING).await?;
    let store = gonggu_wallet::store::open(&db, OutboxSignal::default()).await?;
    let audit = store.audit().await?;
    db.close().await;
    Ok(audit)
}
