/* 공구마켓 service worker. The server substitutes the __X__ placeholders. */
'use strict';

const VERSION = '__BUILD_VERSION__';
const SHELL_CACHE = 'gonggu-shell-' + VERSION;
const PAGES_CACHE = 'gonggu-pages-' + VERSION;
const OFFLINE_URL = '/offline.html';
const PRECACHE = [OFFLINE_URL, '__APP_CSS__', '__APP_JS__', '__ICON_192__', '/manifest.webmanifest'];
const MAX_PAGES = 50;

// Paths that must always go straight to the network and never be cached.
const NEVER_CACHE = ['/api/', '/ws', '/sw.js', '/metrics', '/healthz', '/readyz'];

function neverCache(path) {
  return NEVER_CACHE.some((p) =>
    p.endsWith('/') ? path.startsWith(p) : path === p || path.startsWith(p + '/'));
}

// Pages rendered for a signed-in user are `Cache-Control: no-store` (they name the user and show
// balances), so they are never kept here and never shown to a later session, on this device or
// after the session ended elsewhere. Only the shell and pages seen signed out are cached. A new
// build renames the caches, so caches of older workers (which kept personal pages) are dropped
// when this one activates.
function cacheable(response) {
  if (!response || !response.ok || response.redirected) return false;
  if (response.type !== 'basic' && response.type !== 'default') return false;
  const cc = response.headers.get('Cache-Control') || '';
  return !/no-store/i.test(cc);
}

self.addEventListener('install', (event) => {
  // No skipWaiting() here: the page asks the user before activating an update.
  event.waitUntil(
    caches.open(SHELL_CACHE).then((cache) =>
      cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'reload' }))))
  );
});

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'SKIP_WAITING') self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names
        .filter((n) => n.startsWith('gonggu-') && n !== SHELL_CACHE && n !== PAGES_CACHE)
        .map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

async function trimPages(cache) {
  const keys = await cache.keys();
  for (let i = 0; i < keys.length - MAX_PAGES; i++) await cache.delete(keys[i]);
}

async function assetCacheFirst(request) {
  const cache = await caches.open(SHELL_CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (cacheable(response)) await cache.put(request, response.clone());
  return response;
}

async function pageNetworkFirst(event) {
  const { request } = event;
  try {
    const response = await fetch(request);
    if (cacheable(response)) {
      const copy = response.clone();
      event.waitUntil(caches.open(PAGES_CACHE)
        .then((cache) => cache.put(request, copy).then(() => trimPages(cache)))
        .catch(() => {}));
    }
    return response;
  } catch (err) {
    const pages = await caches.open(PAGES_CACHE);
    const cached = await pages.match(request, { ignoreVary: true });
    if (cached) return cached;
    const offline = await caches.match(OFFLINE_URL);
    return offline || Response.error();
  }
}

async function networkThenCache(request) {
  try {
    return await fetch(request);
  } catch (err) {
    const cached = await caches.match(request);
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (neverCache(url.pathname)) return;

  if (request.mode === 'navigate') {
    event.respondWith(pageNetworkFirst(event));
  } else if (url.pathname.startsWith('/assets/')) {
    event.respondWith(assetCacheFirst(request));
  } else if (url.pathname === '/manifest.webmanifest' || url.pathname === OFFLINE_URL) {
    event.respondWith(networkThenCache(request));
  }
});

// Web Push: the `push` and `notificationclick` handlers are added by a
// later change (see the notifications issue). Keep them below this line.
