//! The "bare axum handler" that `bench/run.sh` measures `GET /api/v1/me` against.
//!
//! `GET /bare` answers a JSON body of the same shape and about the same size as `/api/v1/me`
//! (fixed values), serialised per request like the real handler does. Nothing else: no
//! middleware, no authentication, no database. Same runtime (multi-threaded tokio) and the
//! same `axum::serve` as the `gonggu` binary, so the ratio between the two is the price of
//! everything the real endpoint adds on top.
//!
//! Usage: `bench-baseline 127.0.0.1:18080`

use axum::{routing::get, Json, Router};
use serde_json::{json, Value};

async fn bare() -> Json<Value> {
    Json(json!({
        "id": "0190f5a2-7c1e-7b3a-9d4e-2f6a8b1c3d5e",
        "login_id": "bench_user",
        "email": "bench@example.com",
        "neighborhood": null,
        "keywords": [],
        "created_at": "2025-01-01T00:00:00.000000Z"
    }))
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18080".to_owned());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bench-baseline: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    eprintln!("bench-baseline listening on {}", listener.local_addr().expect("bound listener"));
    let app = Router::new().route("/bare", get(bare));
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("bench-baseline: {e}");
        std::process::exit(1);
    }
}
