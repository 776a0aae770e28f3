// 공구마켓 chat pages: the room (#room) and the chat list (#room-list), live over the tab's
// socket (window.gongguLive, opened by app.js). Without JavaScript both pages still work: the
// room's composer is a plain form. The room follows the rules of crates/chat/src/pages/render.rs.
const live = window.gongguLive;
const $ = (s) => document.querySelector(s);
const KST = 'Asia/Seoul';
const dayKey = new Intl.DateTimeFormat('en-CA', { timeZone: KST, year: 'numeric', month: '2-digit', day: '2-digit' });
const minuteKey = new Intl.DateTimeFormat('en-GB', { timeZone: KST, hour: '2-digit', minute: '2-digit', hour12: false });
const weekday = new Intl.DateTimeFormat('ko-KR', { timeZone: KST, weekday: 'short' });
const clock = new Intl.DateTimeFormat('ko-KR', { timeZone: KST, hour: 'numeric', minute: '2-digit', hour12: true });
const dayLabel = (d) => {
  const [y, m, dd] = dayKey.format(d).split('-').map(Number);
  return `${y}년 ${m}월 ${dd}일 ${weekday.format(d)}요일`;
};
const preview = (f) => (f.kind === 'image' ? '사진' : (f.body.split('\n')[0] ?? ''));
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
};

// ------------------------------------------------------------------------------ the room
const room = $('#room');
if (room && live) {
  const id = room.dataset.room, me = room.dataset.me;
  const list = $('#messages'), scroller = $('#room-scroll'), banner = $('#room-banner');
  const jump = $('#jump-latest'), typingLine = $('#typing'), form = $('#composer');
  const input = $('#composer-body');
  const reads = new Map(Object.entries(JSON.parse(room.dataset.reads || '{}')));
  const pending = new Map(); // client id → { li, body, timer }
  const seqs = () => [...list.querySelectorAll('li[data-seq]')].map((li) => +li.dataset.seq);
  let last = Math.max(0, ...seqs());
  let myRead = +room.dataset.readSeq || 0;
  let unseen = 0;

  const atBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
  const toBottom = () => { scroller.scrollTop = scroller.scrollHeight; };

  // Unread per message: how many members have not read it (KakaoTalk's number).
  const paintUnread = (li) => {
    const seq = +li.dataset.seq, badge = li.querySelector('.msg-unread');
    if (!badge || !seq) return;
    let n = 0;
    for (const r of reads.values()) if (r < seq) n++;
    badge.textContent = String(n);
    badge.hidden = n === 0;
  };

  // Day dividers, and names and times by group (same sender, same minute).
  const continues = (a, b) => a && b && a.classList.contains('msg') && b.classList.contains('msg') &&
    a.dataset.sender === b.dataset.sender &&
    dayKey.format(new Date(a.dataset.at)) === dayKey.format(new Date(b.dataset.at)) &&
    minuteKey.format(new Date(a.dataset.at)) === minuteKey.format(new Date(b.dataset.at));
  const relayout = () => {
    for (const d of list.querySelectorAll('.day-divider')) d.remove();
    const items = [...list.querySelectorAll('li[data-at]')];
    let prevDay = null;
    items.forEach((li, i) => {
      const day = dayKey.format(new Date(li.dataset.at));
      if (day !== prevDay) {
        const d = el('li', 'day-divider');
        d.dataset.day = day;
        d.append(el('span', null, dayLabel(new Date(li.dataset.at))));
        li.before(d);
        prevDay = day;
      }
      if (li.classList.contains('msg')) {
        li.classList.toggle('first', !continues(items[i - 1], li));
        li.classList.toggle('last', !continues(li, items[i + 1]));
      }
    });
  };

  const render = (m) => {
    if (m.kind === 'notice') {
      const li = el('li', 'notice');
      Object.assign(li.dataset, { seq: m.seq, at: m.sent_at, kind: 'notice' });
      li.append(el('span', null, m.body));
      return li;
    }
    const who = m.sender?.login_id ?? '';
    const mine = who === me;
    const li = el('li', `msg ${mine ? 'mine' : 'theirs'}`);
    Object.assign(li.dataset, { seq: m.seq ?? '', at: m.sent_at, kind: m.kind, sender: who });
    if (m.client_id) li.dataset.clientId = m.client_id;
    if (!mine) li.append(el('div', 'msg-name', who));
    const row = el('div', 'msg-row');
    const meta = el('span', 'msg-meta');
    const unread = el('span', 'msg-unread');
    unread.hidden = true;
    const time = el('time', 'msg-time', clock.format(new Date(m.sent_at)));
    time.dateTime = m.sent_at;
    meta.append(unread, time);
    let bubble;
    if (m.image) {
      bubble = el('a', 'bubble bubble-photo');
      Object.assign(bubble, { href: m.image.url, target: '_blank', rel: 'noopener' });
      bubble.setAttribute('aria-label', '사진 크게 보기');
      const img = el('img');
      Object.assign(img, { src: m.image.thumbnail_url, alt: '사진', loading: 'lazy', decoding: 'async' });
      bubble.append(img);
    } else bubble = el('p', 'bubble', m.body);
    row.append(bubble, meta);
    li.append(row);
    return li;
  };

  // Follows new messages only when the reader is at the bottom already (or wrote it).
  const sawNew = (follow) => {
    if (follow) {
      toBottom();
      markRead();
    } else {
      unseen++;
      jump.hidden = false;
      jump.textContent = `↓ 새 메시지 ${unseen}`;
    }
  };

  // A stored message, in seq order: one this page has is skipped; one past a hole asks the
  // socket to replay from the newest seq here (the replay brings this one too).
  const add = (m) => {
    if (m.seq <= last) return;
    if (m.seq > last + 1) return live.send({ type: 'resume', rooms: { [id]: last } });
    const wasBottom = atBottom();
    const li = render(m);
    const mine = m.client_id && pending.get(m.client_id);
    if (mine) {
      clearTimeout(mine.timer);
      pending.delete(m.client_id);
      if (mine.file) URL.revokeObjectURL(mine.li.querySelector('img')?.src);
      mine.li.replaceWith(li);
    } else {
      const firstPending = list.querySelector('li.sending, li.failed');
      if (firstPending) firstPending.before(li); else list.append(li);
    }
    $('#room-empty')?.remove();
    last = m.seq;
    if (m.sender?.login_id) reads.set(m.sender.login_id, Math.max(reads.get(m.sender.login_id) ?? 0, m.seq));
    relayout();
    paintUnread(li);
    sawNew(wasBottom || Boolean(mine));
  };

  const markRead = () => {
    if (document.visibilityState !== 'visible' || !atBottom() || last <= myRead) return;
    if (live.send({ type: 'read', room_id: id, seq: last })) myRead = last;
    unseen = 0;
    jump.hidden = true;
  };

  const say = (text, kind) => {
    banner.textContent = text;
    banner.className = `room-banner ${kind ?? ''}`;
    banner.hidden = !text;
  };
  const closeComposer = (text) => {
    say(text, 'room-banner-closed');
    if (form) {
      for (const c of form.elements) c.disabled = true;
    }
  };

  // --- sending: sending → sent (the stored message replaces it) → or failed, with retry
  const transmit = (clientId) => {
    const p = pending.get(clientId);
    if (!p) return;
    p.li.classList.remove('failed');
    p.li.classList.add('sending');
    p.li.querySelector('.msg-state').textContent = '보내는 중';
    clearTimeout(p.timer);
    if (p.file) return upload(clientId, p);
    live.send({ type: 'send', room_id: id, client_id: clientId, body: p.body });
    // Not stored within 10 s (offline, or the socket is reconnecting): failed, with a retry.
    // A retry carries the same client id, so a message that did arrive is never doubled.
    p.timer = setTimeout(() => fail(clientId, '보내지 못했어요'), 10000);
  };
  const fail = (clientId, why) => {
    const p = pending.get(clientId);
    if (!p) return;
    clearTimeout(p.timer);
    p.li.classList.remove('sending');
    p.li.classList.add('failed');
    p.li.querySelector('.msg-state').textContent = why;
  };
  const draftKey = `chat-draft:${me}:${id}`;
  // The composer grows with its text, up to five lines.
  const grow = () => {
    if (!input) return;
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
  };
  // A message of mine on screen before it is stored: 보내는 중, then replaced by the stored one,
  // or failed with 다시 보내기 (same client id) and 삭제.
  const draftBubble = (clientId, m) => {
    const li = render({ ...m, sender: { login_id: me }, sent_at: new Date().toISOString(), client_id: clientId });
    li.classList.add('sending');
    const state = el('span', 'msg-state', '보내는 중');
    const retry = el('button', 'msg-retry', '다시 보내기');
    retry.type = 'button';
    retry.addEventListener('click', () => transmit(clientId));
    const drop = el('button', 'msg-drop', '삭제');
    drop.type = 'button';
    drop.addEventListener('click', () => { clearTimeout(pending.get(clientId)?.timer); pending.delete(clientId); li.remove(); relayout(); });
    li.querySelector('.msg-meta').prepend(state, retry, drop);
    list.append(li);
    $('#room-empty')?.remove();
    relayout();
    toBottom();
    return li;
  };
  const send = () => {
    const body = input.value.trim();
    if (!body) return;
    if ([...body].length > 1000) return say('메시지는 1,000자까지 보낼 수 있어요.', 'room-banner-error');
    const clientId = crypto.randomUUID();
    pending.set(clientId, { li: draftBubble(clientId, { kind: 'text', body }), body });
    input.value = '';
    sessionStorage.removeItem(draftKey);
    grow();
    transmit(clientId);
  };

  // A chosen photo goes at once, in the background: its bubble shows the picture from this
  // device while the page's photo form (media stores it, the room gets it) answers with the
  // stored message. A retry posts the same client id, so a photo that did arrive is not doubled.
  const photo = $('#composer-photo'), photoForm = $('#photo-form');
  const PHOTO_LIMIT = 5 * 1024 * 1024;
  const upload = async (clientId, p) => {
    if (p.uploading) return;
    p.uploading = true;
    const data = new FormData(photoForm);
    data.set('client_id', clientId);
    data.set('photo', p.file);
    try {
      const res = await fetch(photoForm.action, { method: 'POST', body: data, headers: { accept: 'application/json' }, credentials: 'same-origin' });
      const answer = await res.json().catch(() => null);
      if (res.ok && answer?.seq) add(answer);
      else fail(clientId, answer?.error?.message ?? (res.status === 413 ? '사진은 5MB까지 보낼 수 있어요.' : '보내지 못했어요'));
    } catch {
      fail(clientId, '보내지 못했어요');
    } finally {
      p.uploading = false;
    }
  };
  if (photo && photoForm) {
    photo.addEventListener('change', () => {
      const file = photo.files[0];
      photo.value = '';
      if (!file) return;
      if (file.size > PHOTO_LIMIT) return say('사진은 5MB까지 보낼 수 있어요.', 'room-banner-error');
      const clientId = crypto.randomUUID();
      const local = URL.createObjectURL(file);
      const li = draftBubble(clientId, { kind: 'image', image: { url: local, thumbnail_url: local } });
      pending.set(clientId, { li, file });
      transmit(clientId);
    });
  }

  if (form && input) {
    form.addEventListener('submit', (e) => { e.preventDefault(); send(); input.focus(); });
    // Enter sends on a keyboard; Shift+Enter, a phone's Enter and the IME's Enter (choosing a
    // Hangul syllable) do not.
    const coarse = matchMedia('(pointer: coarse)').matches;
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229 && !coarse) {
        e.preventDefault();
        send();
      }
    });
    let typingSent = 0;
    input.addEventListener('input', () => {
      grow();
      if (input.value) sessionStorage.setItem(draftKey, input.value); else sessionStorage.removeItem(draftKey);
      if (input.value && Date.now() - typingSent > 3000) {
        typingSent = Date.now();
        live.send({ type: 'typing', room_id: id });
      }
    });
    // The draft this tab left here (a page the server rendered after a refused post keeps its own).
    if (!input.value) input.value = sessionStorage.getItem(draftKey) ?? '';
    grow();
  }

  // --- frames
  let typingTimer;
  live.addEventListener('frame', ({ detail: f }) => {
    if (f.room_id !== id) return;
    if (f.type === 'message') {
      add(f);
      // Whoever was typing has sent it.
      if (f.sender && typingLine.dataset.who === f.sender.login_id) typingLine.hidden = true;
    }
    else if (f.type === 'read') {
      reads.set(f.login_id, Math.max(reads.get(f.login_id) ?? 0, f.seq));
      for (const li of list.querySelectorAll('li.msg[data-seq]')) paintUnread(li);
    } else if (f.type === 'typing') {
      typingLine.textContent = `${f.login_id}님이 입력하고 있어요…`;
      typingLine.dataset.who = f.login_id;
      typingLine.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { typingLine.hidden = true; }, 4000);
    } else if (f.type === 'error' && f.client_id) {
      fail(f.client_id, f.code === 'rate_limited' ? '너무 빨라요. 잠시 후 다시' : '보내지 못했어요');
      say(f.message, 'room-banner-error');
    } else if (f.type === 'pin') {
      const pin = $('#room-pin');
      $('#room-pin-body').textContent = f.pin?.body ?? '';
      pin.hidden = !f.pin;
    } else if (f.type === 'room' && f.state === 'left') {
      closeComposer('이 채팅방에서 나왔어요. 더는 메시지를 받지 않아요.');
    } else if (f.type === 'room' && f.state === 'closed') {
      closeComposer('공구가 취소되거나 무산되어 이제 글을 쓸 수 없어요.');
    }
  });
  live.addEventListener('open', () => {
    // Everything after the newest seq here, then live; what waits to be sent goes again
    // (same client ids: a message stored before the drop is not stored twice).
    live.send({ type: 'resume', rooms: { [id]: last } });
    for (const clientId of pending.keys()) transmit(clientId);
    if (banner.classList.contains('room-banner-offline')) say('');
    markRead();
    tellViewing();
  });
  live.addEventListener('close', ({ detail: code }) => {
    if (code === 4401 || code === 4403) say('로그인이 끝났어요. 새로고침한 뒤 다시 로그인해 주세요.', 'room-banner-error');
    else say('연결이 끊겼어요. 다시 연결하는 중…', 'room-banner-offline');
  });
  // The room this tab shows while it is on screen, so no push comes for what arrives here.
  const tellViewing = () => live.send({ type: 'viewing', room_id: document.visibilityState === 'visible' ? id : null });
  document.addEventListener('visibilitychange', tellViewing);
  if (live.connected()) {
    live.send({ type: 'resume', rooms: { [id]: last } });
    tellViewing();
  }

  // --- reading and scrolling
  scroller.addEventListener('scroll', () => {
    if (atBottom()) markRead();
    if (scroller.scrollTop < 80) loadOlder();
  }, { passive: true });
  document.addEventListener('visibilitychange', markRead);
  jump.addEventListener('click', () => { toBottom(); markRead(); });

  // --- older messages, kept in place on screen as they are put above
  const older = $('#load-older');
  let loading = false;
  async function loadOlder() {
    if (!older || older.hidden || loading) return;
    loading = true;
    try {
      const r = await fetch(`${room.dataset.olderUrl}?before=${older.dataset.before}`, { headers: { Accept: 'application/json' } });
      if (!r.ok) throw new Error(String(r.status));
      const page = await r.json();
      for (const [login, seq] of Object.entries(page.reads)) reads.set(login, Math.max(reads.get(login) ?? 0, seq));
      const height = scroller.scrollHeight;
      const first = list.firstChild;
      for (const m of page.items) list.insertBefore(render(m), first);
      relayout();
      for (const li of list.querySelectorAll('li.msg[data-seq]')) paintUnread(li);
      scroller.scrollTop += scroller.scrollHeight - height;
      const oldest = page.items[0]?.seq ?? 1;
      older.dataset.before = oldest;
      older.hidden = oldest <= 1 || page.items.length === 0;
    } catch {
      older.textContent = '불러오지 못했어요. 눌러서 다시 시도';
    } finally {
      loading = false;
    }
  }
  older?.addEventListener('click', (e) => { e.preventDefault(); loadOlder(); });

  // First view: the "new messages" divider if there is one, else the newest message.
  const divider = $('#new-divider');
  if (divider) divider.scrollIntoView({ block: 'start' }); else toBottom();
  relayout();
  for (const li of list.querySelectorAll('li.msg[data-seq]')) paintUnread(li);
  markRead();
}

// ------------------------------------------------------------------------- the chat list
const rooms = $('#room-list');
if (rooms && live) {
  const badge = (li) => {
    const n = live.unread(li.dataset.room);
    const b = li.querySelector('.room-badge');
    b.hidden = n === 0;
    b.textContent = n > 99 ? '99+' : String(n);
    b.setAttribute('aria-label', `안 읽은 메시지 ${n}개`);
  };
  // A room this page does not show yet (just joined): the list again from the server.
  const refresh = async () => {
    try {
      const r = await fetch('/chat', { headers: { Accept: 'text/html' } });
      const fresh = new DOMParser().parseFromString(await r.text(), 'text/html').querySelector('#room-list');
      if (r.ok && fresh) rooms.replaceChildren(...fresh.children);
      for (const li of rooms.children) badge(li);
    } catch { /* the next message tries again */ }
  };
  live.addEventListener('frame', ({ detail: f }) => {
    const li = rooms.querySelector(`li[data-room="${CSS.escape(f.room_id ?? '')}"]`);
    if (f.type === 'hello') for (const item of rooms.children) badge(item);
    if (!f.room_id) return;
    if (!li) return f.type === 'message' && refresh();
    if (f.type === 'message') {
      li.querySelector('.room-preview').textContent = preview(f);
      let time = li.querySelector('.room-time');
      if (!time) {
        time = el('time', 'room-time');
        li.querySelector('.room-side').prepend(time);
      }
      time.dateTime = f.sent_at;
      time.textContent = clock.format(new Date(f.sent_at));
      rooms.prepend(li);
    } else if (f.type === 'room' && f.state === 'left') {
      li.remove();
      return;
    }
    badge(li);
  });
}
