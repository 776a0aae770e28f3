// The service worker's push handlers (assets/sw.js) run against a stand-in for the worker's
// globals: a push shows the notification from its payload, sets the app badge and tells open
// tabs; a tap focuses an app tab and navigates it, or opens one; another origin's URL is ignored.
// Run by tests/service_worker.rs with Node.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import vm from 'node:vm';

// Objects made inside the worker's context have that context's prototypes: compare as JSON.
const same = (a, b) => assert.equal(JSON.stringify(a), JSON.stringify(b));

const source = readFileSync(new URL('../../assets/sw.js', import.meta.url), 'utf8').replaceAll('__ICON_192__', '/assets/icons/icon-192.png?v=1');

function worker({ tabs = [], fetch = async () => { throw new Error('no network'); } } = {}) {
  const listeners = {};
  const log = { shown: [], badge: [], posted: [], opened: [] };
  const self = {
    location: new URL('https://gonggu.example/sw.js'),
    addEventListener: (type, fn) => { listeners[type] = fn; },
    registration: {
      showNotification: async (title, options) => { log.shown.push({ title, options }); },
      pushManager: {
        subscribe: async (o) => ({ options: o, toJSON: () => ({ endpoint: 'https://push.example/new', expirationTime: null, keys: { p256dh: 'BNEW', auth: 'new-auth' } }) }),
      },
    },
    navigator: {
      setAppBadge: async (n) => { log.badge.push(n); },
      clearAppBadge: async () => { log.badge.push(0); },
    },
    clients: {
      matchAll: async () => tabs,
      openWindow: async (url) => { log.opened.push(url); },
      claim: async () => {},
    },
    skipWaiting: () => {},
  };
  const context = vm.createContext({ self, caches: {}, fetch, btoa, URL, Request: class {}, Response: { error: () => null }, Promise, console });
  vm.runInContext(source, context);
  return { listeners, log };
}

function event(extra) {
  const waits = [];
  return { ...extra, waitUntil: (p) => waits.push(p), done: () => Promise.all(waits) };
}

// A push with the server's payload.
{
  const tab = { url: 'https://gonggu.example/', postMessage: (m) => tab.got.push(m), got: [] };
  const { listeners, log } = worker({ tabs: [tab] });
  const payload = { title: '새 참여자가 있어요', body: 'a님이 참여했어요.', url: '/deals/d1', tag: 'deal-d1', icon: '/assets/icons/icon-192.png', badge_count: 3, kind: 'deal' };
  const e = event({ data: { json: () => payload, text: () => JSON.stringify(payload) } });
  listeners.push(e);
  await e.done();
  assert.equal(log.shown.length, 1);
  assert.equal(log.shown[0].title, '새 참여자가 있어요');
  assert.equal(log.shown[0].options.body, 'a님이 참여했어요.');
  assert.equal(log.shown[0].options.tag, 'deal-d1');
  assert.equal(log.shown[0].options.renotify, true);
  same(log.shown[0].options.data, { url: '/deals/d1' });
  same(log.badge, [3]);
  same(tab.got, [{ type: 'NOTICE', badge_count: 3 }]);
}

// A push whose body is not JSON still shows something, and a zero count clears the badge.
{
  const { listeners, log } = worker();
  const e = event({ data: { json: () => { throw new Error('not json'); }, text: () => '안녕' } });
  listeners.push(e);
  await e.done();
  assert.equal(log.shown[0].title, '공구마켓');
  assert.equal(log.shown[0].options.body, '안녕');
  const z = event({ data: { json: () => ({ title: 't', badge_count: 0 }) } });
  listeners.push(z);
  await z.done();
  same(log.badge, [0]);
}

// A tap with an app tab open: it is focused and taken to the notice's page.
{
  const tab = { url: 'https://gonggu.example/wallet', focused: false, went: null };
  tab.focus = async () => { tab.focused = true; };
  tab.navigate = async (u) => { tab.went = u; };
  const { listeners, log } = worker({ tabs: [tab] });
  let closed = false;
  const e = event({ notification: { data: { url: '/chat/r1' }, close: () => { closed = true; } } });
  listeners.notificationclick(e);
  await e.done();
  assert.ok(closed);
  assert.ok(tab.focused);
  assert.equal(tab.went, 'https://gonggu.example/chat/r1');
  same(log.opened, []);
}

// No tab open: a new one opens at the page. Another origin's URL is never opened.
{
  const { listeners, log } = worker();
  const e = event({ notification: { data: { url: '/deals/d2' }, close: () => {} } });
  listeners.notificationclick(e);
  await e.done();
  same(log.opened, ['https://gonggu.example/deals/d2']);
  const evil = event({ notification: { data: { url: 'https://evil.example/x' }, close: () => {} } });
  listeners.notificationclick(evil);
  await evil.done();
  same(log.opened, ['https://gonggu.example/deals/d2']);
}

// The push service replaced the subscription: a new one is taken with the same options and the
// server is told, with the old endpoint and the old auth secret as proof.
{
  const sent = [];
  const { listeners } = worker({ fetch: async (url, init) => { sent.push({ url, init }); return { ok: true, status: 204 }; } });
  const auth = Uint8Array.from({ length: 16 }, (_, i) => 250 - i); // bytes that need '-' and '_' in base64url
  const old = { endpoint: 'https://push.example/old', options: { userVisibleOnly: true }, getKey: (k) => (k === 'auth' ? auth.buffer : null) };
  const e = event({ oldSubscription: old, newSubscription: null });
  listeners.pushsubscriptionchange(e);
  await e.done();
  assert.equal(sent.length, 1);
  assert.equal(sent[0].url, '/api/v1/push/subscriptions/renew');
  assert.equal(sent[0].init.method, 'POST');
  same(JSON.parse(sent[0].init.body), {
    old_endpoint: 'https://push.example/old',
    old_auth: Buffer.from(auth).toString('base64url'),
    endpoint: 'https://push.example/new',
    keys: { p256dh: 'BNEW', auth: 'new-auth' },
  });
  // Without the old subscription there is nothing to prove the device with: nothing is sent.
  const bare = event({ oldSubscription: null, newSubscription: null });
  listeners.pushsubscriptionchange(bare);
  await bare.done();
  assert.equal(sent.length, 1);
  // The server being unreachable is not an unhandled rejection (the 알림 page registers later).
  const offline = worker();
  const o = event({ oldSubscription: old });
  offline.listeners.pushsubscriptionchange(o);
  await o.done();
}

console.log('service worker push handlers: ok');
