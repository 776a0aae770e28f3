//! Assets, embedded in the binary and addressed by content hash.

use std::sync::OnceLock;

use axum::{
    extract::Path,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $ct:literal) => {
        Asset { path: $path, content_type: $ct, bytes: include_bytes!(concat!("../../assets/", $path)) }
    };
}

pub static ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("chat.js", "text/javascript; charset=utf-8"),
    asset!("notifications.js", "text/javascript; charset=utf-8"),
    asset!("icons/icon-192.png", "image/png"),
    asset!("icons/icon-512.png", "image/png"),
    asset!("icons/maskable-512.png", "image/png"),
    asset!("icons/apple-touch-icon.png", "image/png"),
    asset!("icons/favicon-32.png", "image/png"),
];

static SERVICE_WORKER: &[u8] = include_bytes!("../../assets/sw.js");
static MANIFEST: &[u8] = include_bytes!("../../assets/manifest.webmanifest");
static OFFLINE: &[u8] = include_bytes!("../../assets/offline.html");

fn hashes() -> &'static Vec<(&'static str, String)> {
    static H: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    H.get_or_init(|| ASSETS.iter().map(|a| (a.path, hex(&Sha256::digest(a.bytes)[..6]))).collect())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `/assets/<path>?v=<hash>`: the URL changes whenever the file does, so it can be cached forever.
pub fn asset_url(path: &str) -> String {
    let hash = hashes().iter().find(|(p, _)| *p == path).map(|(_, h)| h.as_str()).unwrap_or("0");
    format!("/assets/{path}?v={hash}")
}

/// A version string for the service worker's caches: changes whenever any asset does.
pub fn build_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut h = Sha256::new();
        for a in ASSETS {
            h.update(a.bytes);
        }
        h.update(SERVICE_WORKER);
        h.update(OFFLINE);
        h.update(env!("CARGO_PKG_VERSION"));
        hex(&h.finalize()[..6])
    })
}

pub async fn serve_asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => ([(header::CONTENT_TYPE, a.content_type), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], a.bytes)
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The service worker, at the root so that its scope is the whole site. Never cached by HTTP,
/// so that an update reaches users on their next visit; its cache name carries the build version.
pub async fn serve_service_worker() -> Response {
    let body = String::from_utf8_lossy(SERVICE_WORKER)
        .replace("__BUILD_VERSION__", build_version())
        .replace("__APP_CSS__", &asset_url("app.css"))
        .replace("__APP_JS__", &asset_url("app.js"))
        .replace("__ICON_192__", &asset_url("icons/icon-192.png"));
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

pub async fn serve_manifest() -> Response {
    let body = String::from_utf8_lossy(MANIFEST)
        .replace("__ICON_192__", &asset_url("icons/icon-192.png"))
        .replace("__ICON_512__", &asset_url("icons/icon-512.png"))
        .replace("__MASKABLE_512__", &asset_url("icons/maskable-512.png"));
    ([(header::CONTENT_TYPE, "application/manifest+json"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

pub async fn serve_offline() -> Response {
    let body = String::from_utf8_lossy(OFFLINE).replace("__APP_CSS__", &asset_url("app.css"));
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_urls_carry_hashes() {
        let u = asset_url("app.css");
        assert!(u.starts_with("/assets/app.css?v=") && u.len() > "/assets/app.css?v=".len() + 6, "{u}");
    }
}
