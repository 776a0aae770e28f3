// 공구마켓 front-end. ES module, no dependencies; each part is a no-op
// when its elements are absent.
const $ = (s) => document.querySelector(s);
const say = (el, msg, kind) => {
  if (!el) return;
  el.textContent = msg;
  el.classList.toggle('status-ok', kind === 'ok');
  el.classList.toggle('status-error', kind === 'error');
};

// a. Service worker; updates wait for the user's approval.
const sw = navigator.serviceWorker;
if (sw) {
  const banner = $('#update-banner');
  let waiting, approved, reloaded;
  const offer = (w) => {
    if (w && sw.controller && banner) { waiting = w; banner.hidden = false; }
  };
  $('#update-reload')?.addEventListener('click', (e) => {
    if (!waiting) return;
    approved = e.currentTarget.disabled = true;
    waiting.postMessage({ type: 'SKIP_WAITING' });
  });
  sw.addEventListener('controllerchange', () => {
    if (approved && !reloaded) { reloaded = true; location.reload(); }
  });
  sw.register('/sw.js').then((reg) => {
    offer(reg.waiting);
    reg.addEventListener('updatefound', () => {
      const w = reg.installing;
      w?.addEventListener('statechange', () => w.state === 'installed' && offer(w));
    });
  }).catch(() => {});
}

// b. Live login-id availability check.
const loginId = $('#login_id');
const idStatus = $('#login_id-status');
if (loginId && idStatus) {
  let timer, seq = 0;
  loginId.addEventListener('input', () => {
    clearTimeout(timer);
    const n = ++seq;
    timer = setTimeout(async () => {
      const v = loginId.value, url = loginId.dataset.checkUrl;
      if (!v) return say(idStatus, '');
      if (!/^[a-z0-9_]{3,20}$/.test(v)) {
        return say(idStatus, '아이디는 영어 소문자, 숫자, 밑줄(_)로 3~20자여야 합니다.', 'error');
      }
      if (!url) return;
      try {
        const r = await fetch(`${url}?login_id=${encodeURIComponent(v)}`,
          { headers: { Accept: 'application/json' } });
        if (n !== seq) return;
        if (r.status === 429) return say(idStatus, '잠시 후 다시 시도해 주세요.', 'error');
        const ok = r.ok && (await r.json()).available;
        if (n !== seq) return;
        if (!r.ok) say(idStatus, '');
        else if (ok) say(idStatus, '사용할 수 있는 아이디입니다.', 'ok');
        else say(idStatus, '이미 사용 중인 아이디입니다.', 'error');
      } catch {
        if (n === seq) say(idStatus, '');
      }
    }, 300);
  });
}

// c. Inline validation for <form data-validate novalidate>.
const touched = new WeakSet();
const serverMsg = new WeakSet(); // unedited fields with a server-rendered error
let errId = 0;

const isField = (el) => el?.form?.hasAttribute('data-validate') &&
  el.matches('input,textarea,select') && !/^(hidden|submit|button|reset|image)$/.test(el.type);

function problem(el) {
  if (el.disabled || el.readOnly) return '';
  const v = el.value, s = el.validity, a = (n) => el.getAttribute(n);
  const box = el.type === 'checkbox' || el.type === 'radio';
  if (s.badInput) return '형식이 올바르지 않습니다.';
  if (el.required && (box ? s.valueMissing : !v.trim())) return '필수 입력 항목입니다.';
  if (!v || box) return '';
  if (s.typeMismatch) return el.type === 'email' ? '이메일 형식이 올바르지 않습니다.' : '형식이 올바르지 않습니다.';
  const len = [...v].length, min = a('min'), max = a('max');
  if (a('minlength') && len < +a('minlength')) return `${a('minlength')}자 이상 입력해 주세요.`;
  if (a('maxlength') && len > +a('maxlength')) return `${a('maxlength')}자 이하로 입력해 주세요.`;
  if (s.patternMismatch) return el.dataset.patternMessage || '형식이 올바르지 않습니다.';
  if (s.rangeUnderflow || s.rangeOverflow) {
    return `${min ? min + ' 이상' : ''}${min && max ? ' ' : ''}${max ? max + ' 이하' : ''}${max ? '로' : '으로'} 입력해 주세요.`;
  }
  const other = el.dataset.match && el.form.elements.namedItem(el.dataset.match);
  return other && other.value !== v ? '비밀번호가 일치하지 않습니다.' : '';
}

function show(el, msg) {
  const field = el.closest('.field');
  let err = field?.querySelector('.field-error');
  if (field && !err && msg) {
    err = field.appendChild(document.createElement('small'));
    err.className = 'field-error';
  }
  if (err) {
    err.textContent = msg;
    err.id ||= `field-error-${++errId}`;
    const ids = el.getAttribute('aria-describedby') || '';
    if (!ids.split(' ').includes(err.id)) el.setAttribute('aria-describedby', `${ids} ${err.id}`.trim());
  }
  field?.classList.toggle('invalid', !!msg);
  if (msg) el.setAttribute('aria-invalid', 'true');
  else el.removeAttribute('aria-invalid');
}

function check(el) {
  const msg = problem(el);
  if (serverMsg.has(el) && !msg) return true; // keep the server's message
  serverMsg.delete(el);
  show(el, msg);
  return !msg;
}

function validateForm(form) {
  let first;
  for (const el of form.elements) {
    if (!isField(el)) continue;
    touched.add(el);
    if (!check(el)) first ||= el;
  }
  first?.focus();
  return !first;
}

for (const form of document.querySelectorAll('form[data-validate]')) {
  for (const el of form.elements) {
    if (isField(el) && el.closest('.field')?.querySelector('.field-error')?.textContent.trim()) serverMsg.add(el);
  }
}
document.addEventListener('focusout', ({ target: el }) => {
  if (isField(el) && !serverMsg.has(el)) { touched.add(el); check(el); }
});
document.addEventListener('input', ({ target: el }) => {
  if (!isField(el)) return;
  if (serverMsg.delete(el)) touched.add(el); // edited: the server's message is stale
  if (touched.has(el)) check(el);
  for (const o of el.form.elements) { // e.g. password confirmation
    if (o.dataset?.match === el.name && touched.has(o)) check(o);
  }
});


// d. Place pickers (widgets::place_picker): type to search the 동 list, arrows and Enter to
// pick; "현재 위치로 찾기" asks the browser where it is and which 동 that is (동네 인증). Editing
// the text after a pick drops the pick, so what is posted is always what is shown.
const placeAddress = (p) => [p.sido, p.sigungu, p.name].filter(Boolean).join(' ');
for (const picker of document.querySelectorAll('[data-place-picker]')) {
  const text = picker.querySelector('input[name=place]');
  const list = picker.querySelector('[role=listbox]');
  const hidden = (n) => picker.querySelector(`input[name=${n}]`);
  const status = picker.querySelector('[data-locate-status]');
  const locate = picker.querySelector('[data-locate]');
  let items = [], active = -1, timer, seq = 0;
  const forget = () => { for (const n of ['code', 'lat', 'lon', 'verify']) hidden(n).value = ''; };
  const close = () => {
    list.hidden = true; active = -1;
    text.setAttribute('aria-expanded', 'false');
    text.removeAttribute('aria-activedescendant');
  };
  const choose = (p) => {
    forget();
    text.value = placeAddress(p);
    hidden('code').value = p.code;
    close();
    text.dispatchEvent(new CustomEvent('gonggu:place', { bubbles: true, detail: p }));
  };
  const render = () => {
    list.replaceChildren(...items.map((p, i) => {
      const li = document.createElement('li');
      li.id = `${list.id}-${i}`;
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', String(i === active));
      const name = document.createElement('strong');
      name.textContent = p.name;
      const where = document.createElement('span');
      where.textContent = [p.sido, p.sigungu].filter(Boolean).join(' ');
      li.append(name, where);
      // mousedown, not click: the text field's blur would close the list first.
      li.addEventListener('mousedown', (e) => { e.preventDefault(); choose(p); });
      return li;
    }));
    list.hidden = items.length === 0;
    text.setAttribute('aria-expanded', String(!list.hidden));
    if (active >= 0) text.setAttribute('aria-activedescendant', `${list.id}-${active}`);
  };
  text.addEventListener('input', () => {
    forget();
    say(status, '');
    clearTimeout(timer);
    const q = text.value.trim();
    if (!q) { items = []; render(); return; }
    timer = setTimeout(async () => {
      const mine = ++seq;
      try {
        const res = await fetch(`/api/v1/places?limit=8&q=${encodeURIComponent(q)}`);
        if (!res.ok || mine !== seq) return;
        items = (await res.json()).items;
        active = -1;
        render();
      } catch { /* offline: the server matches the typed text on submit */ }
    }, 120);
  });
  text.addEventListener('keydown', (e) => {
    if (list.hidden || items.length === 0) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      active = (active + (e.key === 'ArrowDown' ? 1 : -1) + items.length) % items.length;
      render();
    } else if (e.key === 'Enter' && active >= 0) {
      e.preventDefault();
      choose(items[active]);
    } else if (e.key === 'Escape') {
      close();
    }
  });
  text.addEventListener('blur', () => setTimeout(close, 150));
  locate?.addEventListener('click', () => {
    const geo = navigator.geolocation;
    if (!geo) return say(status, '이 브라우저는 위치 정보를 지원하지 않아요. 동 이름으로 검색해 주세요.', 'error');
    say(status, '현재 위치를 확인하는 중…');
    locate.disabled = true;
    geo.getCurrentPosition(async ({ coords }) => {
      try {
        const { latitude: lat, longitude: lon } = coords;
        const res = await fetch(`/api/v1/places/reverse?lat=${lat}&lon=${lon}`);
        const body = await res.json();
        if (!res.ok) throw new Error(body.error?.message || '위치로 동네를 찾지 못했어요.');
        choose(body);
        hidden('lat').value = String(lat);
        hidden('lon').value = String(lon);
        hidden('verify').value = '1';
        say(status, `현재 위치는 ${body.name}이에요. 저장하면 동네 인증이 돼요.`, 'ok');
      } catch (err) {
        // The 동 picked before stays, but not as verified: this location did not confirm it.
        for (const n of ['lat', 'lon', 'verify']) hidden(n).value = '';
        say(status, err.message || '위치로 동네를 찾지 못했어요.', 'error');
      } finally {
        locate.disabled = false;
      }
    }, (err) => {
      locate.disabled = false;
      say(status, err.code === 1
        ? '위치 권한이 거부되었어요. 동 이름으로 검색해 주세요.'
        : '위치를 가져오지 못했어요. 동 이름으로 검색해 주세요.', 'error');
    }, { enableHighAccuracy: false, timeout: 10000, maximumAge: 60000 });
  });
}

// h. Drafts. A <form data-draft="login id" data-draft-page="/path"> leaves what was typed in
// this tab's sessionStorage when it is sent. If the post could not be taken because the session
// had ended, login leads back to that page, which fills the form in again for the same user.
// Any other page drops the draft (the post went through, or someone else is here now). Only
// visible text goes in: never passwords, files, hidden tokens or the CSRF field.
const DRAFT = 'gonggu-draft';
const draftFields = (form) => [...form.elements].filter((el) => el.name &&
  el.matches('input,textarea,select') && !/^(hidden|password|file|submit|button|reset|image|checkbox|radio)$/.test(el.type));
const saveDraft = (form) => {
  const values = {};
  for (const el of draftFields(form)) values[el.name] = el.value;
  const photos = [...form.querySelectorAll('input[type=file]')].some((i) => i.files.length > 0);
  try {
    sessionStorage.setItem(DRAFT, JSON.stringify(
      { page: form.dataset.draftPage, owner: form.dataset.draft, at: Date.now(), values, photos }));
  } catch { /* storage full or disabled: the form still posts */ }
};
try {
  const draft = JSON.parse(sessionStorage.getItem(DRAFT) || 'null');
  const form = document.querySelector('form[data-draft]');
  if (draft && form && location.pathname === draft.page && form.dataset.draftPage === draft.page &&
      form.dataset.draft === draft.owner && Date.now() - draft.at < 3600e3) {
    let restored = false;
    for (const el of draftFields(form)) {
      const v = draft.values[el.name];
      if (typeof v !== 'string' || v === el.value) continue;
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      restored = true;
    }
    if (restored) {
      const note = document.createElement('p');
      note.className = 'flash flash-info';
      note.setAttribute('role', 'status');
      note.textContent = '보내지 못한 내용을 다시 채워 두었어요.' + (draft.photos ? ' 사진은 다시 골라 주세요.' : '');
      form.prepend(note);
    }
  }
  if (draft && location.pathname !== '/login') sessionStorage.removeItem(DRAFT);
} catch { /* no storage, or a draft that is not ours */ }

// c, e, f, h. Submit: validate, then confirm, then keep a draft and mark busy.
document.addEventListener('submit', (e) => {
  const form = e.target;
  if (form.hasAttribute('data-validate') && !validateForm(form)) return e.preventDefault();
  const q = form.dataset.confirm;
  if (q && !confirm(q)) return e.preventDefault();
  if (e.defaultPrevented) return;
  if (form.dataset.draft) saveDraft(form);
  // Deferred so a named submitter button is still part of the form data.
  setTimeout(() => {
    for (const b of form.querySelectorAll('button[data-busy-label]')) {
      b.dataset.idleLabel ??= b.textContent;
      b.textContent = b.dataset.busyLabel;
      b.disabled = true;
    }
  });
});
// Back/forward cache: make busy buttons usable again.
addEventListener('pageshow', (e) => {
  if (!e.persisted) return;
  for (const b of document.querySelectorAll('button[data-idle-label]')) {
    b.textContent = b.dataset.idleLabel;
    b.disabled = false;
  }
});

// g. Share steppers: <input data-amounts="8,663원|17,326원|…"> gets its −/+ buttons
// ([data-step], hidden until now) and the form's [data-amount]/[data-shares] follow the choice.
// The amounts are rendered by the server, exact to the won; the form works without this.
for (const input of document.querySelectorAll('input[data-amounts]')) {
  const form = input.form;
  const amounts = input.dataset.amounts.split('|');
  const min = +input.min || 1, max = +input.max || amounts.length;
  const amount = form?.querySelector('[data-amount]'), shares = form?.querySelector('[data-shares]');
  const buttons = form ? [...form.querySelectorAll('button[data-step]')] : [];
  const update = () => {
    const k = Number(input.value);
    const ok = Number.isInteger(k) && k >= min && k <= max;
    if (amount) amount.textContent = ok ? amounts[k - 1] : '-';
    if (shares) shares.textContent = ok ? String(k) : '-';
    for (const b of buttons) b.disabled = ok && (+b.dataset.step < 0 ? k <= min : k >= max);
  };
  for (const b of buttons) {
    b.hidden = false;
    b.addEventListener('click', () => {
      const k = Math.trunc(Number(input.value)) || 0;
      input.value = String(Math.min(max, Math.max(min, k + Number(b.dataset.step))));
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
  }
  input.addEventListener('input', update);
  update();
}

// Photo previews: <input type=file data-preview="id"> shows the chosen images in #id.
for (const input of document.querySelectorAll('input[type=file][data-preview]')) {
  const list = document.getElementById(input.dataset.preview);
  if (!list) continue;
  input.addEventListener('change', () => {
    for (const img of list.querySelectorAll('img')) URL.revokeObjectURL(img.src);
    list.replaceChildren();
    for (const file of Array.from(input.files).slice(0, 5)) {
      const li = document.createElement('li');
      const img = document.createElement('img');
      img.src = URL.createObjectURL(file);
      img.alt = file.name;
      li.append(img);
      list.append(li);
    }
  });
}

// i. The live socket (GET /ws, protocol in docs/chat-protocol.md): one per tab, on every page
// of a signed-in user. It keeps the chat tab's unread badge current and hands every frame to
// the chat pages (chat.js) as `frame` events on window.gongguLive.
const me = document.body.dataset.login;
if (me && 'WebSocket' in window) {
  const live = new EventTarget();
  window.gongguLive = live;
  const rooms = new Map(); // room id → { last, read }
  const badge = $('#chat-badge');
  let ws, tries = 0, timer;
  live.unread = (id) => { const r = rooms.get(id); return r ? Math.max(0, r.last - r.read) : 0; };
  live.connected = () => ws?.readyState === WebSocket.OPEN;
  live.send = (frame) => {
    if (!live.connected()) return false;
    ws.send(JSON.stringify(frame));
    return true;
  };
  const paint = () => {
    let n = 0;
    for (const id of rooms.keys()) n += live.unread(id);
    if (badge) {
      badge.hidden = n === 0;
      badge.textContent = n > 99 ? '99+' : String(n);
      badge.setAttribute('aria-label', `안 읽은 메시지 ${n}개`);
    }
  };
  const track = (f) => {
    const room = (id) => rooms.get(id) ?? rooms.set(id, { last: 0, read: 0 }).get(id);
    if (f.type === 'hello') {
      rooms.clear();
      for (const r of f.rooms) rooms.set(r.room_id, { last: r.last_seq, read: r.read_seq });
    } else if (f.type === 'message') {
      const r = room(f.room_id);
      r.last = Math.max(r.last, f.seq);
      if (f.sender?.login_id === me) r.read = Math.max(r.read, f.seq);
    } else if (f.type === 'read' && f.login_id === me) {
      const r = room(f.room_id);
      r.read = Math.max(r.read, f.seq);
    } else if (f.type === 'room' && f.state === 'left') {
      rooms.delete(f.room_id);
    } else return;
    paint();
  };
  const connect = () => {
    clearTimeout(timer);
    ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    ws.addEventListener('open', () => {
      tries = 0;
      // Live frames start with the first frame; a chat page sends its own resume on `open`.
      ws.send(JSON.stringify({ type: 'resume', rooms: {} }));
      live.dispatchEvent(new Event('open'));
    });
    ws.addEventListener('message', (e) => {
      let f;
      try { f = JSON.parse(e.data); } catch { return; }
      track(f);
      live.dispatchEvent(new CustomEvent('frame', { detail: f }));
    });
    ws.addEventListener('close', (e) => {
      live.dispatchEvent(new CustomEvent('close', { detail: e.code }));
      // 4401/4403: signed out (the next page load goes to the login page); otherwise retry,
      // at once after "too slow" (4408), then backing off up to 15 s.
      if (e.code === 4401 || e.code === 4403) return;
      timer = setTimeout(connect, e.code === 4408 ? 100 : Math.min(15000, 1000 * 2 ** tries++));
    });
  };
  // A tab coming back from the background reconnects at once rather than at the next retry.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && ws?.readyState === WebSocket.CLOSED) connect();
  });
  connect();
}

// j. The 🔔 badge (unread notices): asked on every page of a signed-in user, again when the
// tab comes back, when the chat socket says the inbox changed, and when a push arrives (the service worker tells open tabs); a tap on a
// notification that the worker could not navigate to arrives here as OPEN.
const noticeBadge = $('#notice-badge');
if (me && noticeBadge) {
  const refresh = async () => {
    try {
      const r = await fetch('/notifications/unread', { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (!r.ok) return;
      const n = (await r.json()).unread;
      noticeBadge.hidden = n === 0;
      noticeBadge.textContent = n > 99 ? '99+' : String(n);
      noticeBadge.setAttribute('aria-label', `안 읽은 알림 ${n}개`);
      window.dispatchEvent(new CustomEvent('gonggu:unread', { detail: n }));
    } catch { /* offline: keep what is shown */ }
  };
  refresh();
  document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && refresh());
  // Live while the chat socket is open: the server says when the inbox changed (a new notice,
  // or read on another device). The socket's hello asks again, for what changed before the
  // socket was registered (or while it was away). A chat message's notice is written a moment
  // after the message, so that one is asked later.
  window.gongguLive?.addEventListener('frame', (e) => {
    const type = e.detail.type;
    if (type === 'notices' || type === 'hello') refresh();
    else if (type === 'message') setTimeout(refresh, 1500);
  });
  sw?.addEventListener('message', (e) => {
    if (e.data?.type === 'NOTICE') refresh();
    if (e.data?.type === 'OPEN' && typeof e.data.url === 'string' && e.data.url.startsWith('/') && !e.data.url.startsWith('//')) {
      location.href = e.data.url;
    }
  });
}

// k. Logging out also stops pushes to this device (the server forgets it with the session too).
document.querySelectorAll('form[action="/logout"]').forEach((f) => f.addEventListener('submit', () => {
  sw?.getRegistration().then((reg) => reg?.pushManager.getSubscription()).then((s) => s?.unsubscribe()).catch(() => {});
}));

// l. The offer to turn pushes on: after the first join, the first deal or the first message
// sent, never on page load otherwise, and once (a "나중에" is remembered). The permission itself
// is asked on the 알림 page, when "알림 받기" is pressed there.
const offerPush = () => {
  if (!me || !('Notification' in window) || !('PushManager' in window) || Notification.permission !== 'default') return;
  if (localStorage.getItem('gonggu-push-offer') || $('#push-offer') || location.pathname === '/notifications') return;
  localStorage.setItem('gonggu-push-offer', 'shown');
  const box = document.createElement('aside');
  box.id = 'push-offer';
  box.className = 'card push-offer';
  box.setAttribute('role', 'status');
  const text = document.createElement('p');
  text.textContent = '참여한 공구가 확정되거나 새 메시지가 오면 알림으로 알려 드릴까요?';
  const go = document.createElement('a');
  go.className = 'button primary';
  go.href = '/notifications#settings';
  go.textContent = '알림 설정하기';
  const later = document.createElement('button');
  later.type = 'button';
  later.className = 'button';
  later.textContent = '나중에';
  later.addEventListener('click', () => box.remove());
  const row = document.createElement('div');
  row.className = 'row';
  row.append(go, later);
  box.append(text, row);
  $('#main')?.prepend(box);
};
if (/[?&]msg=(joined|created)(&|$)/.test(location.search)) offerPush();
window.gongguLive?.addEventListener('frame', (e) => e.detail.type === 'ack' && offerPush());
