#!/usr/bin/env bash
# Fuzzes the JSON API from its own OpenAPI document with Schemathesis: a freshly started
# `gonggu` (fresh data dir) on a free port, every phase (examples, coverage, fuzzing, stateful),
# once anonymous and once signed in. Fails on any server error, any answer that its documented
# schema does not allow, invalid input that was accepted, or an operation that ignores its auth.
#
#   tools/fuzz-api.sh                  # SQLite
#   GONGGU_FUZZ_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres tools/fuzz-api.sh
#
# Environment:
#   GONGGU_FUZZ_SECONDS       time budget of each of the two runs (default 60)
#   GONGGU_FUZZ_DATABASE_URL  a PostgreSQL server URL: a fresh database is created on it and
#                             dropped afterwards; unset means SQLite
#   GONGGU_FUZZ_BIN           the binary (default: target/debug/gonggu, built first)
#   GONGGU_FUZZ_SEED          Schemathesis seed, to replay a run (default: random, printed)
# Reports (JUnit, NDJSON, a pytest file reproducing failures) and the server log go to
# target/fuzz/<engine>/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd -P)"
seconds="${GONGGU_FUZZ_SECONDS:-60}"
seed="${GONGGU_FUZZ_SEED:-$RANDOM$RANDOM}"
engine=sqlite
[ -n "${GONGGU_FUZZ_DATABASE_URL:-}" ] && engine=postgres
out="$repo/target/fuzz/$engine"
rm -rf "$out"
mkdir -p "$out"

log() { printf '\n--- fuzz (%s): %s\n' "$engine" "$*"; }

# --- Schemathesis in its own virtualenv, reinstalled when the pinned set changes.
requirements="$repo/tools/fuzz/requirements.txt"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/gonggu-fuzz/venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/schemathesis" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Schemathesis into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" >"$stamp"
fi
py="$venv/bin/python"

# --- The binary.
# Built unless one is given: cargo does nothing when it is fresh, and an old binary would fuzz old code.
if [ -n "${GONGGU_FUZZ_BIN:-}" ]; then
    bin="$GONGGU_FUZZ_BIN"
else
    bin="$repo/target/debug/gonggu"
    cargo build -p gonggu --bin gonggu
fi

# --- A fresh app on a free port.
data="$(mktemp -d)"
pid=""
dbname=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if [ -n "$dbname" ]; then
        psql -q "$GONGGU_FUZZ_DATABASE_URL" -c "DROP DATABASE IF EXISTS \"$dbname\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT

export GONGGU_DATA_DIR="$data"
export GONGGU_HTTP__ADDR=127.0.0.1:0
export GONGGU_BUS=memory
export GONGGU_LOG__FORMAT=json
export GONGGU_LOG__FILTER=info
unset GONGGU_DATABASE__URL
if [ "$engine" = postgres ]; then
    dbname="gonggu_fuzz_$$_$RANDOM"
    psql -q "$GONGGU_FUZZ_DATABASE_URL" -c "CREATE DATABASE \"$dbname\"" >/dev/null
    export GONGGU_DATABASE__URL="$("$py" -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$GONGGU_FUZZ_DATABASE_URL" "$dbname")"
fi

"$bin" serve >"$out/server.log" 2>&1 &
pid=$!
base=""
for _ in $(seq 100); do
    base="$(sed -n 's/.*"message":"gonggu listening".*"addr":"\([^"]*\)".*/\1/p; s/.*"addr":"\([^"]*\)".*"message":"gonggu listening".*/\1/p' "$out/server.log" | head -1)"
    [ -n "$base" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$out/server.log" >&2; echo "gonggu exited before listening" >&2; exit 1; }
    sleep 0.2
done
[ -n "$base" ] || { cat "$out/server.log" >&2; echo "gonggu did not report its address" >&2; exit 1; }
base="http://$base"
curl -fsS "$base/readyz" >/dev/null
log "gonggu at $base (data dir $data)"

# --- A signed-in user for the authenticated run.
login_id="fuzz_$RANDOM"
password="fuzzing-correct-horse-$RANDOM"
curl -fsS -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"login_id\":\"$login_id\",\"email\":\"$login_id@example.com\",\"password\":\"$password\",\"neighborhood\":{\"name\":\"역삼동\",\"lat\":37.5,\"lon\":127.03}}" >/dev/null
token="$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"login_id\":\"$login_id\",\"password\":\"$password\"}" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"

# Every check but two: `positive_data_acceptance` would call a business refusal of schema-valid
# input (a full deal, an insufficient balance, a taken login id) a failure, and
# `object_level_authorization` needs a second user's resources to compare with.
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,missing_required_header,unsupported_method,use_after_free,ensure_resource_availability,ignored_auth

# One worker: with two, CPython 3.11's ast module (Hypothesis parses source to describe its
# filters) fails now and then with "SystemError: AST constructor recursion depth mismatch"
# (cpython#106905), a tool error that would fail the run; the server is the bottleneck anyway.
run() {
    local name="$1"
    shift
    log "schemathesis, $name, ${seconds}s, seed $seed"
    # Its cache directory (.schemathesis/) lands in the working directory: keep it out of the repo.
    (cd "$out" && "$venv/bin/schemathesis" run "$base/api/openapi.json" \
        --phases examples,coverage,fuzzing,stateful \
        --checks "$checks" \
        --max-time "$seconds" \
        --workers 1 \
        --seed "$seed" \
        --request-timeout 35 \
        --generation-database none \
        --no-color \
        --report junit,ndjson,pytest \
        --report-dir "$out/$name" \
        "$@")
}

status=0
run anonymous || status=1
run signed-in -H "Authorization: Bearer $token" || status=1

if ! kill -0 "$pid" 2>/dev/null; then
    log "gonggu died during the run"
    tail -50 "$out/server.log" >&2
    status=1
fi
if grep -q '"level":"ERROR"' "$out/server.log"; then
    log "the server logged errors:"
    grep '"level":"ERROR"' "$out/server.log" | head -20 >&2
    status=1
fi
kill -TERM "$pid"
wait "$pid" || { log "gonggu did not stop cleanly"; status=1; }
pid=""

# What the fuzzer did to money must still balance.
log "gonggu wallet verify"
"$bin" wallet verify || status=1

[ "$status" -eq 0 ] && log "no failures" || log "FAILED (reports and server log in $out)"
exit "$status"
