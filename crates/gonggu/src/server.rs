//! The HTTP accept loop. `axum::serve` sets no timer, so hyper's header-read timeout never runs
//! and a client that opens sockets and never finishes its headers keeps them (and their file
//! descriptors) forever. This loop bounds every connection: headers must arrive within
//! `header_timeout` (hyper starts that clock whenever the connection waits for a request head, so
//! it also closes idle keep-alive connections), at most `max_connections` are open at once (more
//! are closed at accept, so the descriptors of the ones being served stay available), and at
//! shutdown open connections are drained.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{extract::Request, Router};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::{Service, ServiceExt};

#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    /// How long shutdown waits for open connections to finish.
    pub drain_timeout: Duration,
}

/// Raises this process's open-file limit to its hard limit, so the connection cap (not the file
/// limit) is what refuses connections; returns the limit now in force.
pub fn raise_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft).unwrap_or(1024)
        }
    }
}

/// The connection cap actually used: the setting, but never so close to the file limit that the
/// databases, logs and outgoing connections run out of descriptors.
pub fn effective_cap(setting: usize, file_limit: u64) -> usize {
    const RESERVED: u64 = 256;
    let room = file_limit.saturating_sub(RESERVED).max(16);
    setting.min(usize::try_from(room).unwrap_or(usize::MAX)).max(1)
}

pub async fn serve(listener: TcpListener, router: Router, limits: ConnectionLimits, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    // HTTP/1 only: nothing here speaks HTTP/2, and telling the two apart reads the first bytes
    // with no timer, so a client that sends nothing would keep its socket forever.
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    // Room above our own URI and header limits, so those refusals get an envelope (kernel::http).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(gonggu_kernel::http::HYPER_MAX_BUF_SIZE)
        .max_headers(gonggu_kernel::http::HYPER_MAX_HEADERS);
    let builder = Arc::new(builder);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning on a listener that
                    // cannot accept; the timeouts free descriptors.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::counter!("http_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let tower_service = match make_service.call(peer).await {
            Ok(s) => s,
            Err(never) => match never {},
        };
        // hyper's header timer starts once it waits for a request head, not at accept: a client
        // that sends nothing at all is closed here, if no request has begun by the timeout.
        let started = Arc::new(AtomicBool::new(false));
        let seen = started.clone();
        let service = TowerToHyperService::new(tower_service.map_request(move |req: Request<Incoming>| {
            seen.store(true, Ordering::Relaxed);
            req.map(axum::body::Body::new)
        }));
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            tokio::pin!(conn);
            // Errors here are clients going away or timing out; nothing to answer.
            if tokio::time::timeout(header_timeout, &mut conn).await.is_err() && started.load(Ordering::Relaxed) {
                let _ = conn.await;
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("some connections were still open at the end of the drain; closing them");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::effective_cap;

    #[test]
    fn the_cap_leaves_room_below_the_file_limit() {
        assert_eq!(effective_cap(10_000, 1_048_576), 10_000);
        assert_eq!(effective_cap(10_000, 1_024), 768);
        assert_eq!(effective_cap(10_000, 100), 16);
        assert_eq!(effective_cap(0, 1_024), 1);
    }
}
