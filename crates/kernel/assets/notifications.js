// The 알림 page's device settings (crates/push/src/pages.rs): shows whether this browser can
// get pushes, asks for permission only when "알림 받기" is pressed, and registers or removes
// this device with the server through the page's own forms (CSRF token included).
const $ = (s) => document.querySelector(s);
const box = $('#push-device');
const state = $('#push-state');
const enable = $('#push-enable');
const disable = $('#push-disable');

const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const fromB64url = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

const post = async (form, fields) => {
  for (const [k, v] of Object.entries(fields)) form.elements[k].value = v;
  const r = await fetch(form.action, {
    method: 'POST',
    body: new URLSearchParams(new FormData(form)),
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
  });
  if (!r.ok) {
    let msg = '잠시 후 다시 시도해 주세요.';
    try { msg = (await r.json()).error.message || msg; } catch { /* keep */ }
    throw new Error(msg);
  }
};

const show = (text, { on = false, off = false } = {}) => {
  state.textContent = text;
  enable.hidden = !on;
  disable.hidden = !off;
};

const isIos = /iPad|iPhone|iPod/.test(navigator.userAgent) || (navigator.platform === 'MacIntel' && navigator.maxTouchPoints > 1);
const standalone = window.matchMedia('(display-mode: standalone)').matches || navigator.standalone === true;

async function register(sub) {
  const json = sub.toJSON();
  await post($('#push-subscribe-form'), { endpoint: json.endpoint, p256dh: json.keys.p256dh, auth: json.keys.auth });
  localStorage.setItem('gonggu-push-endpoint', json.endpoint);
}

async function paint() {
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
    return show(isIos && !standalone
      ? '아이폰·아이패드에서는 Safari 공유 버튼의 "홈 화면에 추가"로 공구마켓을 설치한 뒤 알림을 받을 수 있어요. 알림은 이 페이지에서도 언제든 볼 수 있어요.'
      : '이 브라우저는 푸시 알림을 지원하지 않아요. 알림은 이 페이지에서 확인할 수 있어요.');
  }
  if (Notification.permission === 'denied') {
    return show('알림이 차단되어 있어요. 주소창 왼쪽의 자물쇠(사이트 설정)에서 알림을 "허용"으로 바꾼 뒤 이 페이지를 새로고침해 주세요.');
  }
  const reg = await navigator.serviceWorker.ready;
  const sub = await reg.pushManager.getSubscription();
  if (sub && Notification.permission === 'granted') {
    // A subscription the push service replaced (pushsubscriptionchange) is registered again.
    if (localStorage.getItem('gonggu-push-endpoint') !== sub.endpoint) await register(sub).catch(() => {});
    return show('이 기기에서 알림을 받고 있어요.', { off: true });
  }
  return show('이 기기에서는 아직 알림을 받지 않아요.', { on: true });
}

enable?.addEventListener('click', async () => {
  enable.disabled = true;
  try {
    // Asked only here, after the user pressed the button.
    const permission = await Notification.requestPermission();
    if (permission !== 'granted') return paint();
    state.textContent = '이 기기를 알림 서비스에 등록하는 중이에요…';
    const reg = await navigator.serviceWorker.ready;
    // A browser that cannot reach its push service may never answer: give up after 8 s.
    const sub = await Promise.race([
      reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromB64url(box.dataset.vapidKey) }),
      new Promise((_, fail) => setTimeout(() => fail(new Error('브라우저의 알림 서비스가 응답하지 않아요. 잠시 후 다시 시도해 주세요.')), 8000)),
    ]);
    await register(sub);
    show('알림을 켰어요. 이제 이 기기에서 알림을 받아요.', { off: true });
  } catch (e) {
    show(`알림을 켜지 못했어요: ${e.message || e}`, { on: true });
  } finally {
    enable.disabled = false;
  }
});

disable?.addEventListener('click', async () => {
  disable.disabled = true;
  try {
    const reg = await navigator.serviceWorker.ready;
    const sub = await reg.pushManager.getSubscription();
    if (sub) {
      await post($('#push-unsubscribe-form'), { endpoint: sub.endpoint });
      await sub.unsubscribe();
    }
    localStorage.removeItem('gonggu-push-endpoint');
    show('이 기기에서는 알림을 받지 않아요.', { on: true });
  } catch (e) {
    show(`알림을 끄지 못했어요: ${e.message || e}`, { off: true });
  } finally {
    disable.disabled = false;
  }
});

if (box) paint().catch(() => show('알림 상태를 확인하지 못했어요.'));

// The list is the server's page: when the 🔔 count (app.js) passes what it showed, offer to
// show the new ones rather than reloading under the reader's thumb.
const fresh = $('#notice-fresh');
if (fresh) {
  const shown = Number(fresh.dataset.unread);
  window.addEventListener('gonggu:unread', (e) => { fresh.hidden = !(e.detail > shown); });
}
