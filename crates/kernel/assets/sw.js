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

// Web Push (crates/push). The payload is JSON: {title, body, url, tag, icon, badge_count, kind}.
self.addEventListener('push', (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: '공구마켓', body: event.data?.text() || '' }; }
  const title = data.title || '공구마켓';
  const shown = self.registration.showNotification(title, {
    body: data.body || '',
    icon: data.icon || '__ICON_192__',
    badge: '__ICON_192__',
    tag: data.tag,
    // A newer notice for the same deal or room replaces the older one, and still alerts.
    renotify: Boolean(data.tag),
    data: { url: data.url || '/notifications' },
    lang: 'ko',
  });
  const badge = typeof data.badge_count === 'number' && 'setAppBadge' in self.navigator
    ? (data.badge_count > 0 ? self.navigator.setAppBadge(data.badge_count) : self.navigator.clearAppBadge()).catch(() => {})
    : Promise.resolve();
  // Open tabs refresh their 🔔 badge.
  const tell = self.clients.matchAll({ type: 'window' })
    .then((tabs) => tabs.forEach((t) => t.postMessage({ type: 'NOTICE', badge_count: data.badge_count })));
  event.waitUntil(Promise.all([shown, badge, tell]));
});

// A tap focuses a tab of the app and takes it to the notice's page, or opens one.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || '/notifications', self.location.origin);
  if (target.origin !== self.location.origin) return;
  event.waitUntil((async () => {
    const tabs = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const tab = tabs.find((t) => new URL(t.url).origin === self.location.origin);
    if (tab) {
      await tab.focus();
      if ('navigate' in tab) return tab.navigate(target.href);
      tab.postMessage({ type: 'OPEN', url: target.pathname + target.search });
      return undefined;
    }
    return self.clients.openWindow(target.href);
  })());
});

// The push service replaced the subscription: take a new one with the same options (unless the
// event brings it) and tell the server, proving the device by the old subscription's auth secret
// (a worker has no session). Without the old subscription there is no proof; the 알림 page
// registers the new endpoint on the next visit instead.
function base64url(buffer) {
  return btoa(String.fromCharCode(...new Uint8Array(buffer))).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

self.addEventListener('pushsubscriptionchange', (event) => {
  const old = event.oldSubscription;
  event.waitUntil((async () => {
    const fresh = event.newSubscription || (old?.options ? await self.registration.pushManager.subscribe(old.options) : null);
    const oldAuth = old?.getKey?.('auth');
    if (!fresh || !oldAuth) return;
    const { endpoint, keys } = fresh.toJSON();
    await fetch('/api/v1/push/subscriptions/renew', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ old_endpoint: old.endpoint, old_auth: base64url(oldAuth), endpoint, keys }),
    });
  })().catch(() => {}));
});
