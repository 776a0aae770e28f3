//! Connection limits (issue 9 item 5): sockets that never finish their headers, idle keep-alive
//! connections and connection floods must not starve the service.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::spawn_app_with;

/// Reads until the server closes the socket (Ok(bytes read)) or `wait` passes (Err).
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Result<usize, ()> {
    let mut buf = vec![0u8; 4096];
    let mut total = 0;
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(total),
            Ok(Ok(n)) => total += n,
            Err(_) => return Err(()),
        }
    }
}

#[tokio::test]
async fn a_socket_that_never_finishes_its_headers_is_closed() {
    let app = spawn_app_with(|s| s.http.header_timeout_secs = 1).await;
    let mut slow = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let started = Instant::now();
    closed_within(&mut slow, Duration::from_secs(5)).await.expect("the server closes a socket whose headers never end");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed by the header timeout, not at once");
}

#[tokio::test]
async fn a_socket_that_sends_nothing_is_closed() {
    let app = spawn_app_with(|s| s.http.header_timeout_secs = 1).await;
    // Not even the first bytes (the server looks at them to tell HTTP/1 from HTTP/2).
    let mut silent = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    closed_within(&mut silent, Duration::from_secs(5)).await.expect("the server closes a socket that never says anything");
    let mut preface = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    closed_within(&mut preface, Duration::from_secs(5)).await.expect("and one that stops inside the HTTP/2 preface");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = spawn_app_with(|s| s.http.header_timeout_secs = 1).await;
    let mut conn = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "first request answered");
    closed_within(&mut conn, Duration::from_secs(5)).await.expect("an idle keep-alive connection is closed");
}

#[tokio::test]
async fn stalled_sockets_beyond_the_cap_do_not_stop_healthz_for_long() {
    let app = spawn_app_with(|s| {
        s.http.header_timeout_secs = 1;
        s.http.max_connections = 20;
    })
    .await;
    let mut stalled = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\n").await;
        stalled.push(s);
    }
    // Past the cap, new sockets are closed at accept rather than left hanging.
    let mut extra = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answered = closed_within(&mut extra, Duration::from_millis(900)).await.expect("a connection over the cap is closed at once");
    assert_eq!(answered, 0, "over the cap: closed without an answer");
    // Once the header timeout has freed the stalled slots, the service answers again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let res = app.api.get(app.url("/healthz")).send().await.expect("healthz answers after the stalled sockets time out");
    assert_eq!(res.status(), 200);
    drop(stalled);
}
