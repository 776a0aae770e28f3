#!/usr/bin/env python3
"""Black-box probes for the defects listed in issue 9 ("hardening").

    probe-hardening.py --binary PATH [--postgres-url URL] [--only 1,2,19] [--keep]

Starts `PATH serve` itself (fresh data directory, free port, umask 022), runs every probe from
outside over HTTP (plus `stat` of files in the data directory and /proc of the server pid),
stops the server and prints a markdown table `item | probe | result`.

With --postgres-url (a server URL, e.g. postgres://postgres@127.0.0.1:5432/postgres) the script
creates a fresh database `probe_<random>` on that server with psql, runs the server on it and
drops it at the end (unless --keep).

Results:
  defect present  the observation matches the defect's decision rule
  fixed           the observation does not, and every request the rule depends on was answered
  n/a             the binary lacks what the probe needs (the reason is given)
  error           a request failed (connection error, timeout) or a setup step / control check
                  did not behave as needed, so nothing can be concluded

Client addresses: the server's rate limits are per client address (registration: 10 per address
per hour), so every probe talks from its own loopback address (127.0.x.y, bound as the source
address of the TCP connection). No proxy header is sent and the server runs with its default
settings apart from the address, data directory, public URL and database.

Only the Python standard library and `requests` are needed.
"""

import argparse
import concurrent.futures
import email
import email.policy
import glob
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import uuid
import zlib
from datetime import datetime, timedelta, timezone

import requests
from requests.adapters import HTTPAdapter

DEFECT, FIXED, NA, ERROR = "defect present", "fixed", "n/a", "error"


class ProbeError(Exception):
    """A setup step or a control check failed: the probe cannot decide."""


class NotApplicable(Exception):
    """The binary lacks what the probe needs."""


# --------------------------------------------------------------------------------- the server


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, workdir, db_url=None):
        self.binary = os.path.abspath(binary)
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("GONGGU_") or k == "RUST_LOG":
                del self.env[k]
        self.env.update(
            {
                "GONGGU_HTTP__ADDR": f"127.0.0.1:{self.port}",
                "GONGGU_DATA_DIR": self.data_dir,
                "GONGGU_PUBLIC_URL": self.base,
                "GONGGU_LOG__FILTER": "warn",
            }
        )
        if db_url:
            self.env["GONGGU_DATABASE__URL"] = db_url
        self.proc = None
        self.log_path = os.path.join(workdir, "server.log")
        self.starts = 0

    def check_config(self):
        """`gonggu config` with our environment: the binary must accept every key we pass."""
        r = subprocess.run([self.binary, "config"], env=self.env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise SystemExit(f"`{self.binary} config` refused the environment:\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def start(self):
        self.starts += 1
        log = open(self.log_path, "a")
        log.write(f"\n===== start {self.starts} =====\n")
        log.flush()
        self.proc = subprocess.Popen(
            [self.binary, "serve"],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.umask(0o022),
        )
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; log: {self.log_path}")
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit(f"server not ready after 90 s; log: {self.log_path}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def status_kib(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise ProbeError(f"no {key} in /proc/{self.proc.pid}/status")

    def rss_kib(self):
        return self.status_kib("VmRSS")


# --------------------------------------------------------------------------------- clients

_ADDR = itertools.count(1)


class SourceAddressAdapter(HTTPAdapter):
    def __init__(self, source, **kw):
        self.source = source
        super().__init__(**kw)

    def init_poolmanager(self, *a, **kw):
        kw["source_address"] = (self.source, 0)
        super().init_poolmanager(*a, **kw)


class Client:
    """A requests session talking from its own loopback address."""

    def __init__(self, srv, addr=None):
        self.srv = srv
        n = next(_ADDR) if addr is None else addr
        self.addr = f"127.0.{10 + n // 250}.{1 + n % 250}"
        self.s = requests.Session()
        self.s.mount("http://", SourceAddressAdapter(self.addr))
        self.token = None

    def req(self, method, path, token=None, timeout=30, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        tok = token if token is not None else self.token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        kw.setdefault("allow_redirects", False)
        return self.s.request(method, self.srv.base + path, headers=headers, timeout=timeout, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, **kw):
        return self.req("POST", path, **kw)


def rid(prefix):
    return f"{prefix}_{secrets.token_hex(4)}"[:20]


def strong_password():
    return "Pq7-" + secrets.token_urlsafe(12) + "-zX"


def envelope(resp):
    """The error envelope's code, or None when the body is not the documented envelope."""
    try:
        body = resp.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict) and isinstance(body["error"].get("code"), str):
        return body["error"]["code"]
    return None


def brief(resp):
    code = envelope(resp)
    return f"{resp.status_code}" + (f" {code}" if code else "")


def expect(resp, *statuses, what=""):
    if resp.status_code not in statuses:
        raise ProbeError(f"{what}: expected {statuses}, got {resp.status_code} {resp.text[:200]!r}")
    return resp


def register(c, login_id=None, password=None, email_addr=None):
    login_id = login_id or rid("pr")
    password = password or strong_password()
    email_addr = email_addr or f"{login_id}@example.com"
    r = c.post("/api/v1/auth/register", json={"login_id": login_id, "email": email_addr, "password": password})
    expect(r, 200, 201, what=f"register {login_id}")
    return login_id, password, email_addr


def login(c, login_id, password):
    r = c.post("/api/v1/auth/login", json={"login_id": login_id, "password": password})
    expect(r, 200, what=f"login {login_id}")
    return r.json()


def new_user(srv):
    """A registered and logged-in user with its own client address."""
    c = Client(srv)
    c.login_id, c.password, c.email = register(c)
    c.tokens = login(c, c.login_id, c.password)
    c.token = c.tokens["access_token"]
    return c


def deal_body(title, **over):
    body = {
        "title": title,
        "description": "블랙박스 점검용 공구입니다.",
        "category_id": 15,
        "total_price": 30000,
        "shares_total": 3,
        "items_per_share": 1,
        "unit": "개",
        "deadline": (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "keywords": [],
    }
    body.update(over)
    return body


def create_deal(c, title, **over):
    r = c.post("/api/v1/deals", json=deal_body(title, **over))
    expect(r, 200, 201, what=f"create deal {title!r}")
    return r.json()


def get_deal(c, deal_id):
    return expect(c.get(f"/api/v1/deals/{deal_id}"), 200, what="get deal").json()


def join(c, deal_id, shares):
    return c.req("PUT", f"/api/v1/deals/{deal_id}/members/me", json={"shares": shares})


def hidden(html, name):
    m = re.search(r'<input[^>]*name="%s"[^>]*value="([^"]*)"' % re.escape(name), html)
    if not m:
        m = re.search(r'<input[^>]*value="([^"]*)"[^>]*name="%s"' % re.escape(name), html)
    return m.group(1) if m else None


def form_login(c, login_id, password):
    """Sign in through the HTML form; returns the POST's response."""
    page = expect(c.get("/login"), 200, what="GET /login")
    csrf = hidden(page.text, "csrf_token")
    if not csrf:
        raise ProbeError("no csrf_token field on /login")
    return c.post(
        "/login",
        data={"csrf_token": csrf, "next": "/", "login_id": login_id, "password": password},
        headers={"Origin": c.srv.base},
    )


def signed_in_cookie(resp):
    return any(k.endswith("gonggu_access") for k in resp.cookies.keys())


def search_ids(c, q, **params):
    params = dict(params, q=q, limit=100)
    r = c.get("/api/v1/deals", params=params)
    expect(r, 200, what=f"GET /api/v1/deals?q={q!r}")
    return [d["id"] for d in r.json()["items"]]


def mail_files(srv):
    return sorted(glob.glob(os.path.join(srv.data_dir, "mail", "*.eml")))


def mail_text(path):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            try:
                parts.append(part.get_content())
            except Exception:
                parts.append(part.get_payload(decode=True).decode("utf-8", "replace"))
    return str(msg["To"]) + "\n" + "\n".join(parts)


def newest_code_for(srv, address, after=0.0):
    for path in sorted(mail_files(srv), key=os.path.getmtime, reverse=True):
        if os.path.getmtime(path) + 1 < after:
            continue
        text = mail_text(path)
        if address.lower() in text.lower():
            m = re.search(r"(?<!\d)(\d{3}[ -]?\d{3})(?!\d)", text)
            if m:
                return re.sub(r"\D", "", m.group(1))
    return None


# --------------------------------------------------------------------------------- probes

PROBES = []


def probe(item, title, engines=("sqlite", "postgres")):
    def wrap(fn):
        PROBES.append((item, title, engines, fn))
        return fn

    return wrap


@probe("1", "open redirect via next= after a form sign-in; next=/%0a")
def p_open_redirect(srv):
    """Sign in through the HTML form (GET /login, POST /login with its csrf field), then, not
    following redirects:
      a) GET /login?next=/%09/evil.example/x — defect if Location starts with "/\\t", or once tabs
         and newlines are stripped (as browsers do) it resolves to host evil.example;
      b) GET /login?next=/%0a — defect if the answer is a 5xx, or a 4xx that is not the JSON
         error envelope.
    The form sign-in must answer 303 with a session cookie (control), else error."""
    c = Client(srv)
    login_id, pw, _ = register(c)
    r = form_login(c, login_id, pw)
    if r.status_code != 303 or not signed_in_cookie(r):
        raise ProbeError(f"form sign-in answered {r.status_code} without a session cookie")
    ra = c.get("/login?next=/%09/evil.example/x")
    loc = ra.headers.get("Location")
    a_defect = False
    if loc is not None:
        cleaned = re.sub(r"[\t\r\n]", "", loc)
        host = urllib.parse.urlsplit(urllib.parse.urljoin(srv.base + "/login", cleaned)).hostname
        a_defect = loc.startswith("/\t") or host == "evil.example"
    rb = c.get("/login?next=/%0a")
    b_defect = rb.status_code >= 500 or (rb.status_code >= 400 and envelope(rb) is None)
    detail = f"a) {ra.status_code} Location={loc!r}; b) {brief(rb)} Location={rb.headers.get('Location')!r}"
    return (DEFECT if a_defect or b_defect else FIXED), detail


@probe("2", "logged-out access token after a restart")
def p_revoked_after_restart(srv):
    """Log in twice (sessions A and B), log out A (POST /api/v1/auth/logout with its refresh
    token), restart the binary on the same data directory, GET /api/v1/me with A's access token:
    defect if 200. Control: B's access token must still answer 200 after the restart (else
    error: the restart changed something else, e.g. the token key)."""
    c = Client(srv)
    login_id, pw, _ = register(c)
    a = login(c, login_id, pw)
    b = login(c, login_id, pw)
    expect(c.post("/api/v1/auth/logout", json={"refresh_token": a["refresh_token"]}), 200, 204, what="logout A")
    before = c.get("/api/v1/me", token=a["access_token"]).status_code
    srv.restart()
    c2 = Client(srv)
    ra = c2.get("/api/v1/me", token=a["access_token"])
    rb = c2.get("/api/v1/me", token=b["access_token"])
    if rb.status_code != 200:
        raise ProbeError(f"control: the live session's token answered {rb.status_code} after restart")
    detail = f"A before restart {before}; A after restart {brief(ra)}; B after restart {rb.status_code}"
    return (DEFECT if ra.status_code == 200 else FIXED), detail


@probe("3", "email change with an access token only")
def p_email_change(srv):
    """POST /api/v1/me/email {"email": new} with a bearer token and no current password:
    defect if 2xx. Control when refused: the same with "current_password" must be 2xx (else error:
    the endpoint refuses for another reason)."""
    c = new_user(srv)
    r = c.post("/api/v1/me/email", json={"email": rid("chg") + "@example.com"})
    if r.status_code == 404 and envelope(r) in (None, "not_found"):
        raise NotApplicable("no POST /api/v1/me/email")
    if 200 <= r.status_code < 300:
        return DEFECT, f"without password: {r.status_code}"
    ctl = c.post("/api/v1/me/email", json={"email": rid("chg") + "@example.com", "current_password": c.password})
    if not 200 <= ctl.status_code < 300:
        raise ProbeError(f"without password {brief(r)}, but with it {brief(ctl)} too")
    return FIXED, f"without password: {brief(r)}; with it: {ctl.status_code}"


@probe("4a", "40 wrong current passwords on /api/v1/me/password")
def p_password_change_guesses(srv):
    """40 POST /api/v1/me/password with a wrong current_password, 8 at a time, from one address:
    defect if none is 429. Error if any request fails to connect or none is a 4xx."""
    c = new_user(srv)

    def one(i):
        return c.post(
            "/api/v1/me/password",
            json={"current_password": f"wrong-guess-{i}-xx", "new_password": strong_password()},
            timeout=60,
        )

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(one, range(40)))
    hist = {}
    for r in rs:
        hist[brief(r)] = hist.get(brief(r), 0) + 1
    if not any(400 <= r.status_code < 500 for r in rs):
        raise ProbeError(f"no 4xx at all: {hist}")
    n429 = sum(r.status_code == 429 for r in rs)
    first = next((i + 1 for i, r in enumerate(rs) if r.status_code == 429), None)
    detail = f"statuses {hist}" + (f"; first 429 at request #{first} (in send order)" if first else "")
    return (DEFECT if n429 == 0 else FIXED), detail


@probe("4b", "6 successful logins of one user in a minute, one address")
def p_six_logins(srv):
    """Six POST /api/v1/auth/login with the right password, one after another, from one fresh
    address: defect if the 6th is 429. Control: the first five must be 200."""
    c = Client(srv)
    login_id, pw, _ = register(c)
    c2 = Client(srv)
    rs = [c2.post("/api/v1/auth/login", json={"login_id": login_id, "password": pw}) for _ in range(6)]
    codes = [r.status_code for r in rs]
    if codes[:5] != [200] * 5:
        raise ProbeError(f"control: first five logins {codes[:5]}")
    return (DEFECT if codes[5] == 429 else FIXED), f"statuses {codes}"


@probe("6", "common passwords at sign-up")
def p_common_passwords(srv):
    """POST /api/v1/auth/register with password2, sunshine1, test1234, aaaaaaaa (each from its own
    address): defect if any is 2xx. Control: a random strong password must be accepted."""
    ctl = Client(srv)
    register(ctl)
    out, accepted = [], []
    for pw in ["password2", "sunshine1", "test1234", "aaaaaaaa"]:
        c = Client(srv)
        lid = rid("cp")
        r = c.post("/api/v1/auth/register", json={"login_id": lid, "email": f"{lid}@example.com", "password": pw})
        if r.status_code == 429:
            raise ProbeError(f"{pw}: rate limited")
        out.append(f"{pw}: {brief(r)}")
        if 200 <= r.status_code < 300:
            accepted.append(pw)
    return (DEFECT if accepted else FIXED), "; ".join(out)


@probe("8", "password-reset confirm: unknown email vs real email with a wrong code")
def p_reset_confirm(srv):
    """Register a user, request a reset code for it (read the real code from the .eml outbox so
    the wrong code surely differs), then POST /api/v1/auth/password-reset/confirm with a wrong
    code for it and with the same code for an unknown address: defect if (status, error code)
    differ. Also shown, not decided on: a real address that has no code pending."""
    c = Client(srv)
    login_id, pw, addr = register(c)
    t0 = time.time()
    expect(c.post("/api/v1/auth/password-reset", json={"email": addr}), 200, 202, 204, what="reset request")
    real = None
    for _ in range(50):
        real = newest_code_for(srv, addr, after=t0)
        if real:
            break
        time.sleep(0.1)
    if not real:
        raise ProbeError("no reset mail with a code in the outbox")
    wrong = "%06d" % ((int(real) + 1) % 1000000)
    np = strong_password()
    r_real = Client(srv).post("/api/v1/auth/password-reset/confirm", json={"email": addr, "code": wrong, "new_password": np})
    r_unknown = Client(srv).post(
        "/api/v1/auth/password-reset/confirm", json={"email": rid("nobody") + "@example.com", "code": wrong, "new_password": np}
    )
    c3 = Client(srv)
    _, _, addr3 = register(c3)
    r_nopending = Client(srv).post("/api/v1/auth/password-reset/confirm", json={"email": addr3, "code": wrong, "new_password": np})
    a, b = (r_real.status_code, envelope(r_real)), (r_unknown.status_code, envelope(r_unknown))
    detail = f"real+wrong code: {brief(r_real)}; unknown: {brief(r_unknown)}; real, no code pending: {brief(r_nopending)}"
    return (DEFECT if a != b else FIXED), detail


@probe("9", "join with shares = i64::MAX")
def p_shares_overflow(srv):
    """Another user's deal; PUT /api/v1/deals/{id}/members/me {"shares": 9223372036854775807}:
    defect if 5xx (a 2xx would be overbooking: also reported as defect)."""
    host = new_user(srv)
    d = create_deal(host, "점검 큰 숫자 공구")
    m = new_user(srv)
    r = join(m, d["id"], 9223372036854775807)
    return (DEFECT if r.status_code >= 500 or 200 <= r.status_code < 300 else FIXED), brief(r)


@probe("11", "file modes of accounts.db and mails")
def p_file_modes(srv):
    """After a sign-up and a password-reset request (mail goes to <data>/mail/*.eml), stat
    <data>/accounts.db and every .eml (server started with umask 022): defect if any of them is
    group- or other-readable. Error if accounts.db or no .eml exists (e.g. on PostgreSQL there is
    no accounts.db: then only the mails are judged)."""
    c = Client(srv)
    _, _, addr = register(c)
    expect(c.post("/api/v1/auth/password-reset", json={"email": addr}), 200, 202, 204, what="reset request")
    for _ in range(50):
        if mail_files(srv):
            break
        time.sleep(0.1)
    files = mail_files(srv)
    db = os.path.join(srv.data_dir, "accounts.db")
    if os.path.exists(db):
        files = [db] + files
    elif srv.env.get("GONGGU_DATABASE__URL") is None:
        raise ProbeError("no accounts.db in the data dir")
    if not any(f.endswith(".eml") for f in files):
        raise ProbeError("no .eml in <data>/mail")
    modes = {f: stat.S_IMODE(os.stat(f).st_mode) for f in files}
    bad = [f for f, m in modes.items() if m & 0o044]
    dmode = stat.S_IMODE(os.stat(srv.data_dir).st_mode)
    mdir = stat.S_IMODE(os.stat(os.path.join(srv.data_dir, "mail")).st_mode)
    shown = sorted({(os.path.basename(f) if f == db else "*.eml", oct(m)) for f, m in modes.items()})
    detail = f"data dir {oct(dmode)}, mail dir {oct(mdir)}; " + ", ".join(f"{n} {m}" for n, m in shown)
    return (DEFECT if bad else FIXED), detail


@probe("12", "CSRF: attacker-chosen cookie = form field")
def p_csrf_fixation(srv):
    """POST /login (valid credentials, Origin = the server) with only a cookie gonggu_csrf=43×'A'
    and csrf_token=43×'A' in the form: defect if it answers 303 with a session cookie (signed in).
    The CSRF cookie is gonggu_csrf in the old and the new source (plain http). Control: the real
    form sign-in works (303 + session cookie)."""
    c = Client(srv)
    login_id, pw, _ = register(c)
    ctl = form_login(Client(srv), login_id, pw)
    if ctl.status_code != 303 or not signed_in_cookie(ctl):
        raise ProbeError(f"control form sign-in: {ctl.status_code}")
    fake = "A" * 43
    a = Client(srv)
    a.s.cookies.set("gonggu_csrf", fake, domain="127.0.0.1", path="/")
    r = a.post(
        "/login",
        data={"csrf_token": fake, "next": "/", "login_id": login_id, "password": pw},
        headers={"Origin": srv.base},
    )
    accepted = r.status_code == 303 and signed_in_cookie(r)
    return (DEFECT if accepted else FIXED), f"{r.status_code} Location={r.headers.get('Location')!r} session cookie={signed_in_cookie(r)}"


@probe("13", "X-Request-Id: <script> echoed")
def p_request_id(srv):
    """GET /api/v1/no-such-thing with X-Request-Id: <script>: defect if the response's
    X-Request-Id header or the envelope's request_id is "<script>" verbatim."""
    c = Client(srv)
    r = c.get("/api/v1/no-such-thing", headers={"X-Request-Id": "<script>"})
    h = r.headers.get("X-Request-Id")
    try:
        body_id = r.json()["error"].get("request_id")
    except Exception:
        body_id = None
    return (DEFECT if "<script>" in (h or "") or "<script>" in (body_id or "") else FIXED), f"{r.status_code} header={h!r} body request_id={body_id!r}"


def charged_pair(srv):
    s = new_user(srv)
    rcpt = new_user(srv)
    r = s.post("/api/v1/wallet/charge", json={"amount": 10000}, headers={"Idempotency-Key": str(uuid.uuid4())})
    expect(r, 200, 201, what="charge")
    return s, rcpt


def transfer(s, to, amount=100, **extra):
    return s.post(
        "/api/v1/wallet/transfers",
        json=dict({"to_login_id": to.login_id, "amount": amount}, **extra),
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )


@probe("14", "transfer tagged with a random deal_id; memo with U+202E")
def p_transfer_checks(srv):
    """Charge 10,000, then POST /api/v1/wallet/transfers to another user: with deal_id = a random
    UUID (defect if 2xx), and with memo "abc\\u202edef" (defect if 2xx). Control: a plain transfer
    must be 2xx."""
    s, rcpt = charged_pair(srv)
    ctl = transfer(s, rcpt)
    if not 200 <= ctl.status_code < 300:
        raise ProbeError(f"control transfer: {brief(ctl)}")
    r1 = transfer(s, rcpt, deal_id=str(uuid.uuid4()))
    r2 = transfer(s, rcpt, memo="abc\u202edef")
    bad = [n for n, r in (("deal_id", r1), ("memo", r2)) if 200 <= r.status_code < 300]
    return (DEFECT if bad else FIXED), f"random deal_id: {brief(r1)}; U+202E memo: {brief(r2)}" + (f" (accepted: {', '.join(bad)})" if bad else "")


@probe("19", "Korean word search")
def p_search(srv):
    """Deals "코스트코 키친타올 휴지 30롤 나눠요" and "논산 딸기 2kg 공구"; GET /api/v1/deals
    (limit=100) with q=휴지 코스트코, q=딸기 공구 (expect the second deal) and q=논산딸기:
    defect if any does not return its deal; q=" : defect if it returns the same set as no q.
    (No status filter is sent: the default list holds the open deals these are.) Control: q=휴지,
    one word that is a substring of the title, must find the first deal (else error)."""
    h = new_user(srv)
    d1 = create_deal(h, "코스트코 키친타올 휴지 30롤 나눠요")
    d2 = create_deal(h, "논산 딸기 2kg 공구")
    if d1["id"] not in search_ids(h, "휴지"):
        raise ProbeError("control: q=휴지 (one word, a substring of the title) does not find the deal")
    misses, out = [], ["control q=휴지: hit"]
    for q, want in (("휴지 코스트코", d1["id"]), ("딸기 공구", d2["id"]), ("논산딸기", d2["id"])):
        ids = search_ids(h, q)
        out.append(f"q={q}: {len(ids)} found, {'hit' if want in ids else 'MISS'}")
        if want not in ids:
            misses.append(q)
    all_ids = search_ids(h, None)
    quote = search_ids(h, '"')
    every = sorted(quote) == sorted(all_ids) and len(all_ids) > 0
    out.append(f'q=": {len(quote)} of {len(all_ids)}')
    return (DEFECT if misses or every else FIXED), "; ".join(out)


@probe("22", "GET /users/nobody")
def p_unknown_user_page(srv):
    """GET /users/<a login id nobody has>: defect if 200."""
    r = Client(srv).get("/users/" + rid("nobody"))
    r2 = Client(srv).get("/users/nobody")
    return (DEFECT if 200 in (r.status_code, r2.status_code) else FIXED), f"/users/nobody {r2.status_code}; /users/<random> {r.status_code}"


@probe("23", "HTML sign-up leaves you signed in")
def p_form_signup(srv):
    """GET /register, POST /register with its csrf field (Origin = the server), then GET /me
    (no redirects followed): defect if /me redirects to /login. Control: the POST must be a
    redirect (303) — an error page means the form itself failed."""
    c = Client(srv)
    page = expect(c.get("/register"), 200, what="GET /register")
    csrf = hidden(page.text, "csrf_token")
    lid = rid("fs")
    pw = strong_password()
    r = c.post(
        "/register",
        data={"csrf_token": csrf, "next": "/", "login_id": lid, "email": f"{lid}@example.com", "password": pw, "password_confirm": pw, "name": "", "lat": "", "lon": ""},
        headers={"Origin": srv.base},
    )
    if r.status_code not in (302, 303):
        raise ProbeError(f"POST /register answered {r.status_code}")
    me = c.get("/me")
    loc = me.headers.get("Location", "")
    detail = f"POST /register {r.status_code} → {r.headers.get('Location')!r}; GET /me {me.status_code} {loc!r}"
    return (DEFECT if me.status_code in (301, 302, 303, 307) and loc.startswith("/login") else FIXED), detail


def home_card(html, deal_id):
    i = html.find(f'href="/deals/{deal_id}"')
    if i < 0:
        return None
    j = html.rfind("<li", 0, i)
    k = html.find("</li>", i)
    return html[j if j >= 0 else i : k if k >= 0 else i + 2000]


@probe("26", "full deal (3/3) in the list and on the home page")
def p_full_deal(srv):
    """Deal with 3 shares (host 1), two others join 1 each (3/3). Rule from the brief: defect if
    GET /api/v1/deals lists it as recruiting or its home-page card shows 모집 중. Also shown (the
    fix's claim, not decided on here; see 26b): whether the card marks it full."""
    h = new_user(srv)
    d = create_deal(h, "점검 꽉 찬 공구", shares_total=3)
    for _ in range(2):
        expect(join(new_user(srv), d["id"], 1), 200, 201, what="join")
    items = expect(h.get("/api/v1/deals", params={"limit": 100}), 200).json()["items"]
    listed = next((x for x in items if x["id"] == d["id"]), None)
    home = expect(Client(srv).get("/"), 200, what="GET /").text
    card = home_card(home, d["id"])
    api_status = listed["status"] if listed else "not listed"
    taken = f"{listed['shares_taken']}/{listed['shares_total']}" if listed else "?"
    if card is None:
        raise ProbeError(f"deal not on the home page (API: {api_status})")
    card_text = re.sub(r"<[^>]+>", " ", card)
    defect = api_status == "recruiting" or "모집 중" in card_text
    full_mark = ">마감<" in card or "모두 찼어요" in card
    srv.notes["26b"] = (
        (FIXED if full_mark else DEFECT),
        f"card text: {' '.join(card_text.split())[:160]!r}",
    )
    return (DEFECT if defect else FIXED), f"API status {api_status} {taken}; card has 모집 중: {'모집 중' in card_text}; card marks full (마감 badge/모두 찼어요): {full_mark}"


@probe("26b", "full deal's card marks it full (마감 / 모두 찼어요)")
def p_full_deal_b(srv):
    """From probe 26's home page card: defect if the card of the 3/3 deal has neither a 마감
    badge (">마감<") nor 모두 찼어요 (it reads like any open deal)."""
    if "26b" not in srv.notes:
        raise ProbeError("probe 26 did not run or failed")
    return srv.notes["26b"]


def raise_min(h, d_id):
    r = h.req("PATCH", f"/api/v1/deals/{d_id}", json={"min_shares": 4})
    after = get_deal(h, d_id)
    return r, after


@probe("27", "raising min_shares above the taken shares (host's own shares confirmed it)")
def p_tipping_point(srv):
    """(a) the issue's case: host creates shares_total 4, min_shares 2, host_shares 2 (confirmed
    by the host alone), PATCH min_shares 4: defect if the PATCH is 2xx and the deal is still
    confirmed with 2 of 4 taken and min_shares 4.
    (b) the brief's case: host_shares 1, another user joins 1 (2/4, confirmed), PATCH min_shares 4:
    same rule (a refused PATCH leaves min_shares 2, so confirmed is then right)."""
    h = new_user(srv)
    out, defect = [], False
    da = create_deal(h, "점검 최소 인원 공구 A", shares_total=4, min_shares=2, host_shares=2)
    sa = get_deal(h, da["id"])["status"]
    r, after = raise_min(h, da["id"])
    da_def = 200 <= r.status_code < 300 and after["status"] == "confirmed" and after["min_shares"] == 4
    out.append(f"a) before {sa}; PATCH {brief(r)}; after {after['status']} {after['shares_taken']}/{after['shares_total']} min {after['min_shares']}")
    db = create_deal(h, "점검 최소 인원 공구 B", shares_total=4, min_shares=2)
    expect(join(new_user(srv), db["id"], 1), 200, 201, what="join")
    sb = get_deal(h, db["id"])["status"]
    r, after = raise_min(h, db["id"])
    db_def = 200 <= r.status_code < 300 and after["status"] == "confirmed" and after["min_shares"] == 4
    out.append(f"b) before {sb}; PATCH {brief(r)}; after {after['status']} {after['shares_taken']}/{after['shares_total']} min {after['min_shares']}")
    if sa != "confirmed":
        raise ProbeError("; ".join(out) + " — (a) was not confirmed by the host's shares")
    srv.notes["27b"] = ((DEFECT if db_def else FIXED), out[1])
    return (DEFECT if da_def else FIXED), out[0]


@probe("27b", "raising min_shares after another member joined (brief's scenario)")
def p_tipping_point_b(srv):
    """Case (b) of probe 27: host 1 share + a member 1 share of 4, min 2 (confirmed), PATCH
    min_shares 4: defect if the PATCH is 2xx and the deal stays confirmed with min_shares 4."""
    if "27b" not in srv.notes:
        raise ProbeError("probe 27 did not run or failed")
    return srv.notes["27b"]


@probe("29", "case-folded search: CAFÉ / café")
def p_cafe(srv):
    """Deal "CAFÉ 원두 1kg"; GET /api/v1/deals?q=café (default status filter): defect if it is not found.
    (The issue names SQLite; the probe runs on either engine and the run says which.) Control:
    q=원두 must find it (else error). q=CAFÉ is shown too."""
    h = new_user(srv)
    d = create_deal(h, "CAFÉ 원두 1kg")
    if d["id"] not in search_ids(h, "원두"):
        raise ProbeError("control: q=원두 does not find the deal")
    ids = search_ids(h, "café")
    ids2 = search_ids(h, "CAFÉ")
    return (DEFECT if d["id"] not in ids else FIXED), f"q=café {'hit' if d['id'] in ids else 'MISS'}; q=CAFÉ {'hit' if d['id'] in ids2 else 'MISS'}"


@probe("32", "NUL (U+0000) in memo, title, q")
def p_nul(srv):
    """A NUL in a transfer memo, in a new deal's title and in q of GET /api/v1/deals: defect if
    any is a 5xx. (The issue names PostgreSQL; the probe runs on either engine.)"""
    s, rcpt = charged_pair(srv)
    r1 = transfer(s, rcpt, memo="a\u0000b")
    r2 = s.post("/api/v1/deals", json=deal_body("널\u0000문자 공구"))
    r3 = s.get("/api/v1/deals", params={"q": "a\u0000b"})
    rs = (("memo", r1), ("title", r2), ("q", r3))
    return (DEFECT if any(r.status_code >= 500 for _, r in rs) else FIXED), "; ".join(f"{n}: {brief(r)}" for n, r in rs)


@probe("33", "memory: 300 list queries with distinct min_price")
def p_list_cache_memory(srv):
    """Create 100 deals with 5,000-character descriptions, read VmRSS of the server pid, run 300
    GET /api/v1/deals?limit=100&min_price=<100..399> (each a distinct first page, all 100 deals
    match), read VmRSS again: defect if it grew by more than 200 MB (204,800 KiB)."""
    h = new_user(srv)
    desc = ("가나다라마바사아자차" * 500)[:5000]
    for i in range(100):
        create_deal(h, f"점검 메모리 공구 {i}", description=desc)
    expect(h.get("/api/v1/deals", params={"limit": 100}), 200)
    before = srv.rss_kib()
    t0 = time.time()
    for p in range(100, 400):
        expect(h.get("/api/v1/deals", params={"limit": 100, "min_price": p}), 200, what="list")
    took = time.time() - t0
    after = srv.rss_kib()
    grew = after - before
    return (DEFECT if grew > 204800 else FIXED), f"VmRSS {before} → {after} KiB (+{grew / 1024:.1f} MiB) over 300 queries in {took:.1f} s"


def png_1bit(side):
    raw = b"".join(b"\x00" + b"\x00" * ((side + 7) // 8) for _ in range(side))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


@probe("7", "6324×6324 1-bit PNG upload")
def p_png_bomb(srv):
    """POST /api/v1/media with one `file` field: a 6,324×6,324 1-bit grayscale PNG (a few KB,
    just under 40 megapixels): defect if the answer takes more than 2 s or is a 5xx. The server's
    peak RSS (VmHWM) before and after is shown, not decided on."""
    c = new_user(srv)
    png = png_1bit(6324)
    hwm0 = srv.status_kib("VmHWM")
    t0 = time.time()
    r = c.post("/api/v1/media", files={"file": ("bomb.png", png, "image/png")}, timeout=120)
    took = time.time() - t0
    hwm1 = srv.status_kib("VmHWM")
    msg = ""
    if envelope(r):
        msg = " " + repr(r.json()["error"].get("message", ""))[:120]
    return (DEFECT if took > 2.0 or r.status_code >= 500 else FIXED), f"{len(png)} bytes; {brief(r)}{msg} in {took:.2f} s; server peak RSS (VmHWM) {hwm0} → {hwm1} KiB"


# run the restart last: it resets in-memory state of the earlier probes
PROBES.append(PROBES.pop(next(i for i, p in enumerate(PROBES) if p[0] == "2")))


def run_probe(srv, fn):
    try:
        res = fn(srv)
        return res
    except NotApplicable as e:
        return NA, str(e)
    except ProbeError as e:
        return ERROR, str(e)
    except requests.RequestException as e:
        return ERROR, f"request failed: {type(e).__name__}: {e}"
    except Exception as e:  # a bug in the probe, or an unexpected body
        return ERROR, f"{type(e).__name__}: {e} @ {traceback.format_exc().strip().splitlines()[-3].strip()}"


def psql(url, sql):
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True, capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--postgres-url", help="PostgreSQL server URL; a fresh database is created on it")
    ap.add_argument("--only", help="comma-separated items to run, e.g. 1,19,32")
    ap.add_argument("--keep", action="store_true", help="keep the data directory and the database")
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="probe-hardening-")
    db_url = dbname = None
    engine = "sqlite"
    if args.postgres_url:
        engine = "postgres"
        dbname = "probe_" + secrets.token_hex(6)
        psql(args.postgres_url, f"CREATE DATABASE {dbname}")
        u = urllib.parse.urlsplit(args.postgres_url)
        db_url = urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, ""))
    srv = Server(args.binary, workdir, db_url)
    srv.notes = {}
    only = set(args.only.split(",")) if args.only else None
    rows = []
    try:
        srv.check_config()
        srv.start()
        version = ""
        try:
            version = subprocess.run([srv.binary, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            pass
        print(f"# probe-hardening: {args.binary} ({version}), engine {engine}, data {srv.data_dir}" + (f", database {dbname}" if dbname else ""), file=sys.stderr)
        for item, title, engines, fn in PROBES:
            if only and item not in only:
                continue
            t0 = time.time()
            if engine not in engines:
                res = (NA, f"{engine} run; the item is about {'/'.join(engines)}")
            else:
                res = run_probe(srv, fn)
            if srv.proc is None or srv.proc.poll() is not None:
                res = (ERROR, f"server not running after the probe ({res[0]}: {res[1]})")
                srv.start()
            rows.append((item, title, res))
            print(f"  {item}: {res[0]} — {res[1]} ({time.time() - t0:.1f} s)", file=sys.stderr)
    finally:
        srv.stop()
        if dbname and not args.keep:
            try:
                psql(args.postgres_url, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
            except subprocess.CalledProcessError as e:
                print(f"could not drop {dbname}: {e.stderr}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}", file=sys.stderr)

    print(f"Binary: `{args.binary}`, engine: {engine}\n")
    print("| item | probe | result |")
    print("|---|---|---|")
    for item, title, (verdict, detail) in rows:
        detail = detail.replace("|", "\\|").replace("\n", " ")
        print(f"| {item} | {title} | **{verdict}**: {detail} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
