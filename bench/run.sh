#!/usr/bin/env bash
# 공구마켓 benchmark harness: one run measures, on this machine and in this order,
#   1. GET /bare on a bare axum handler (bench/baseline) ............ the baseline
#   2. GET /healthz on gonggu (full middleware stack, no auth, no DB) .. diagnostic
#   3. GET /api/v1/me on gonggu with a bearer token .................... goal: >= 40 % of 1.
#   4. POST /api/v1/auth/login, 100 concurrent attempts ................ logins/s, p50/p99
#   5. GET /api/v1/me with 8 connections, alone and during a login flood (responsiveness)
# and writes a Markdown summary to bench/out/accounts-<date>.md (printed at the end too).
#
# Usage: bash bench/run.sh                 (10 s per measurement)
#        BENCH_SECONDS=30 bash bench/run.sh
# Other knobs: BENCH_WARMUP_SECONDS (default 2), BENCH_STRICT=1 (exit 1 when /me < 40 % of bare).
# See bench/README.md for what the figures mean.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_SECONDS=${BENCH_SECONDS:-10}
WARMUP_SECONDS=${BENCH_WARMUP_SECONDS:-2}
THREADS=2
CONNS=64
LOGIN_CONNS=100
LIGHT_CONNS=8
GOAL_PCT=40
LOGIN_ID=bench_user
EMAIL=bench@example.com
PASSWORD=coffee-and-tissues-42

[[ $BENCH_SECONDS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_SECONDS must be a positive integer, got '$BENCH_SECONDS'" >&2; exit 2; }
[[ $WARMUP_SECONDS =~ ^[0-9]+$ ]] || { echo "BENCH_WARMUP_SECONDS must be an integer, got '$WARMUP_SECONDS'" >&2; exit 2; }

OUT=$ROOT/bench/out
STAMP=$(date +%Y-%m-%d-%H%M%S)
RAW=$OUT/raw-$STAMP
SUMMARY=$OUT/accounts-$STAMP.md
GONGGU_LOG=$OUT/gonggu-$STAMP.log
BASELINE_LOG=$OUT/baseline-$STAMP.log
mkdir -p "$OUT" "$RAW"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# --- cleanup: everything started here is stopped on any exit ------------------------------
PIDS=()
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gonggu-bench.XXXXXX")
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools -----------------------------------------------------------------------------
apt_install() {
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then sudo=sudo; fi
    log "installing $* with apt-get"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
command -v wrk >/dev/null 2>&1 || die "wrk is still missing after apt-get"

# --- build -----------------------------------------------------------------------------
log "building gonggu and bench-baseline (release; this can take several minutes)"
(cd "$ROOT" && cargo build --release -p gonggu -p gonggu-bench-baseline) >&2
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
[[ -x $BIN/gonggu && -x $BIN/bench-baseline ]] || die "release binaries not found in $BIN"

# --- servers ---------------------------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 12000))  # below the kernel's ephemeral range (32768+)
        if ! port_in_use "$p"; then echo "$p"; return 0; fi
    done
    die "no free port found"
}
wait_up() { # name pid url
    for _ in $(seq 300); do
        kill -0 "$2" 2>/dev/null || die "$1 exited during start-up (see its log)"
        if curl -fsS -o /dev/null --max-time 1 "$3" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "$1 did not answer $3 within 30 s"
}

BASE_PORT=$(free_port)
"$BIN/bench-baseline" "127.0.0.1:$BASE_PORT" >"$BASELINE_LOG" 2>&1 &
BASE_PID=$!
PIDS+=("$BASE_PID")

GG_PORT=$(free_port)
while [[ $GG_PORT = "$BASE_PORT" ]]; do GG_PORT=$(free_port); done
mkdir -p "$TMP/data"
# Started from the temp dir so that no ./gonggu.toml of the work tree is picked up.
(
    cd "$TMP"
    exec env GONGGU_DATA_DIR="$TMP/data" \
        GONGGU_HTTP__ADDR="127.0.0.1:$GG_PORT" \
        GONGGU_PUBLIC_URL="http://127.0.0.1:$GG_PORT" \
        GONGGU_HTTP__TRUST_PROXY=true \
        GONGGU_LOG__FILTER=warn \
        "$BIN/gonggu" serve
) >"$GONGGU_LOG" 2>&1 &
GG_PID=$!
PIDS+=("$GG_PID")

BASE_URL=http://127.0.0.1:$BASE_PORT
GG_URL=http://127.0.0.1:$GG_PORT
wait_up bench-baseline "$BASE_PID" "$BASE_URL/bare"
wait_up gonggu "$GG_PID" "$GG_URL/healthz"
log "baseline on $BASE_URL (pid $BASE_PID), gonggu on $GG_URL (pid $GG_PID)"

# --- account and token -----------------------------------------------------------------
# Each call carries its own X-Forwarded-For so the per-address limits never bite.
rand_ip() { echo "127.$((RANDOM % 256)).$((RANDOM % 256)).$((RANDOM % 254 + 1))"; }
post_json() { # path body outfile -> prints the HTTP status
    curl -sS -o "$3" -w '%{http_code}' --max-time 30 \
        -H 'Content-Type: application/json' -H "X-Forwarded-For: $(rand_ip)" \
        -d "$2" "$GG_URL$1"
}
status=$(post_json /api/v1/auth/register \
    "{\"login_id\":\"$LOGIN_ID\",\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$TMP/register.json")
[[ $status = 201 ]] || die "register answered $status: $(cat "$TMP/register.json")"

fresh_token() { # logs in and prints an access token (they live 15 minutes)
    local s t
    s=$(post_json /api/v1/auth/login "{\"login_id\":\"$LOGIN_ID\",\"password\":\"$PASSWORD\"}" "$TMP/login.json")
    [[ $s = 200 ]] || die "login answered $s: $(cat "$TMP/login.json")"
    t=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$TMP/login.json")
    [[ -n $t ]] || die "no access_token in the login answer"
    s=$(curl -sS -o "$TMP/me.json" -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $t" "$GG_URL/api/v1/me")
    [[ $s = 200 ]] || die "GET /api/v1/me answered $s: $(cat "$TMP/me.json")"
    echo "$t"
}
TOKEN=$(fresh_token)
ME_BYTES=$(wc -c <"$TMP/me.json")
BARE_BYTES=$(curl -sS "$BASE_URL/bare" | wc -c)
log "registered $LOGIN_ID; /api/v1/me body $ME_BYTES bytes, /bare body $BARE_BYTES bytes"

# --- wrk helpers -----------------------------------------------------------------------
declare -A RPS P50 P99 NON2XX SOCKERR REQS CONN_OF WHAT_OF STATUSES CPU_US
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime of a process, all threads
to_ms() { # "612.5us" / "1.20ms" / "2.01s" / "1.5m" -> milliseconds
    awk -v v="$1" 'BEGIN {
        n = v; sub(/[a-z]+$/, "", n); u = v; sub(/^[0-9.]+/, "", u)
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
        if (v == "" || f < 0) print "n/a"; else printf "%.2f\n", n * f
    }'
}
parse_wrk() { # key file
    local f=$2
    RPS[$1]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$f")
    P50[$1]=$(to_ms "$(awk '/Latency Distribution/ { d = 1; next } d && $1 == "50%" { print $2; exit }' "$f")")
    P99[$1]=$(to_ms "$(awk '/Latency Distribution/ { d = 1; next } d && $1 == "99%" { print $2; exit }' "$f")")
    NON2XX[$1]=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f")
    NON2XX[$1]=${NON2XX[$1]:-0}
    SOCKERR[$1]=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$f")
    SOCKERR[$1]=${SOCKERR[$1]:-0}
    REQS[$1]=$(awk '/ requests in / { print $1 }' "$f")
    STATUSES[$1]=$(awk '/^status [0-9]+: / { printf "%s%s %s", sep, $2, $3; sep = ", " }' "$f" | sed 's/: / × /g; s/:$//')
    [[ -n ${RPS[$1]} ]] || die "could not parse wrk output $f"
}
run_wrk() { # key description conns seconds server-pid|- wrk-args... (output kept in $RAW/<key>.txt)
    local key=$1 what=$2 conns=$3 secs=$4 pid=$5 t0=""
    shift 5
    log "measuring $what ($conns connections, ${secs}s)"
    [[ $pid = - ]] || t0=$(cpu_ticks "$pid")
    wrk -t"$THREADS" -c"$conns" -d"${secs}s" --latency "$@" >"$RAW/$key.txt" 2>&1 || die "wrk failed, see $RAW/$key.txt"
    CONN_OF[$key]=$conns
    WHAT_OF[$key]=$what
    parse_wrk "$key" "$RAW/$key.txt"
    # The server's CPU time per request: steadier than req/s when the machine is shared.
    CPU_US[$key]="—"
    if [[ $pid != - ]]; then
        CPU_US[$key]=$(awk -v t="$(($(cpu_ticks "$pid") - t0))" -v hz="$CLK_TCK" -v n="${REQS[$key]}" \
            'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "n/a" }')
    fi
}
warm() { # conns url wrk-args...
    local conns=$1 url=$2
    shift 2
    ((WARMUP_SECONDS > 0)) || return 0
    wrk -t"$THREADS" -c"$conns" -d"${WARMUP_SECONDS}s" "$@" "$url" >/dev/null 2>&1 || true
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", 100 * a / b; else print "n/a" }'; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1-3: throughput against the baseline ----------------------------------------------
AUTH=(-H "Authorization: Bearer $TOKEN")
warm "$CONNS" "$BASE_URL/bare"
run_wrk bare "GET /bare — bare axum handler (baseline)" "$CONNS" "$BENCH_SECONDS" "$BASE_PID" "$BASE_URL/bare"
warm "$CONNS" "$GG_URL/healthz"
run_wrk healthz "GET /healthz — gonggu middleware only (diagnostic)" "$CONNS" "$BENCH_SECONDS" "$GG_PID" "$GG_URL/healthz"
TOKEN=$(fresh_token)
AUTH=(-H "Authorization: Bearer $TOKEN")
warm "$CONNS" "$GG_URL/api/v1/me" "${AUTH[@]}"
run_wrk me "GET /api/v1/me — authenticated" "$CONNS" "$BENCH_SECONDS" "$GG_PID" "${AUTH[@]}" "$GG_URL/api/v1/me"

# --- 4: login throughput ---------------------------------------------------------------
# --timeout 30s: 100 queued Argon2id hashes take seconds each way; wrk's 2 s default would
# count them as timeouts and leave them out of the latency figures. 30 s is the server's own
# request timeout.
LOGIN_ARGS=(--timeout 30s -s "$ROOT/bench/login.lua" "$GG_URL/api/v1/auth/login" -- "$LOGIN_ID" "$PASSWORD")
run_wrk login "POST /api/v1/auth/login — 100 concurrent attempts" "$LOGIN_CONNS" "$BENCH_SECONDS" "$GG_PID" "${LOGIN_ARGS[@]}"

# --- 5: responsiveness: /me with few connections, alone and during a login flood --------
TOKEN=$(fresh_token)
AUTH=(-H "Authorization: Bearer $TOKEN")
warm "$LIGHT_CONNS" "$GG_URL/api/v1/me" "${AUTH[@]}"
run_wrk me_alone "GET /api/v1/me — alone" "$LIGHT_CONNS" "$BENCH_SECONDS" "$GG_PID" "${AUTH[@]}" "$GG_URL/api/v1/me"

# The flood starts 1 s before and ends about 2 s after the /me measurement, so it covers it.
FLOOD_SECONDS=$((BENCH_SECONDS + 3))
log "starting the login flood ($LOGIN_CONNS connections, ${FLOOD_SECONDS}s) in the background"
wrk -t"$THREADS" -c"$LOGIN_CONNS" -d"${FLOOD_SECONDS}s" --latency "${LOGIN_ARGS[@]}" >"$RAW/login_flood.txt" 2>&1 &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
sleep 1
kill -0 "$FLOOD_PID" 2>/dev/null || die "the login flood did not start, see $RAW/login_flood.txt"
run_wrk me_flood "GET /api/v1/me — during the login flood" "$LIGHT_CONNS" "$BENCH_SECONDS" - "${AUTH[@]}" "$GG_URL/api/v1/me"
log "waiting for the login flood to finish"
wait "$FLOOD_PID" || die "the login flood failed, see $RAW/login_flood.txt"
CONN_OF[login_flood]=$LOGIN_CONNS
WHAT_OF[login_flood]="POST /api/v1/auth/login — the flood during the row above (${FLOOD_SECONDS}s)"
parse_wrk login_flood "$RAW/login_flood.txt"
CPU_US[login_flood]="—"

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
kill -0 "$GG_PID" 2>/dev/null || die "gonggu died during the benchmark (see $GONGGU_LOG)"

# --- summary ---------------------------------------------------------------------------
RATIO=$(pct "${RPS[me]}" "${RPS[bare]}")
HEALTHZ_RATIO=$(pct "${RPS[healthz]}" "${RPS[bare]}")
ME_VS_HEALTHZ=$(pct "${RPS[me]}" "${RPS[healthz]}")
FLOOD_KEEP=$(pct "${RPS[me_flood]}" "${RPS[me_alone]}")
if awk -v r="$RATIO" -v g="$GOAL_PCT" 'BEGIN { exit !(r + 0 >= g) }'; then
    VERDICT="✅ meets the goal (≥ ${GOAL_PCT} %)"
    MEETS=1
else
    VERDICT="❌ below the goal (≥ ${GOAL_PCT} %)"
    MEETS=0
fi
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then COMMIT="$COMMIT (work tree has uncommitted changes)"; fi
HASH_WORKERS=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))
SERVER_WARNINGS=$(grep -ciE '"level":"(WARN|ERROR)"|panicked' "$GONGGU_LOG" || true)

row() { # key
    local k=$1 extra=""
    [[ -n ${STATUSES[$k]:-} ]] && extra=" (${STATUSES[$k]})"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s%s | %s |\n' \
        "${WHAT_OF[$k]}" "${CONN_OF[$k]}" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" "${CPU_US[$k]}" "${REQS[$k]}" \
        "${NON2XX[$k]}" "$extra" "${SOCKERR[$k]}"
}

{
    echo "# 공구마켓 accounts benchmark — $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo
    echo "| machine | |"
    echo "| --- | --- |"
    echo "| cores (nproc) | $(nproc) |"
    echo "| CPU | ${CPU_MODEL:-unknown} |"
    echo "| kernel | $(uname -r) |"
    echo "| date | $(date -u '+%Y-%m-%dT%H:%M:%SZ') |"
    echo "| git commit | $COMMIT |"
    echo "| load average (1/5/15 min) before the run / at its end (includes the benchmark's own load) | $LOAD_BEFORE / $LOAD_AFTER |"
    echo "| tools | $(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }'), $(rustc --version 2>/dev/null || echo rustc unknown) |"
    echo "| settings | ${BENCH_SECONDS}s per measurement after ${WARMUP_SECONDS}s warm-up, wrk ${THREADS} threads; SQLite in a fresh temp dir; Argon2id hash workers: $HASH_WORKERS |"
    echo "| bodies | /api/v1/me $ME_BYTES bytes, /bare $BARE_BYTES bytes |"
    echo
    echo "The client (wrk) runs on the same cores as the servers, so absolute figures are low and"
    echo "noisy; the ratios between rows of the same run are what count."
    echo
    echo "| measurement | connections | req/s | p50 ms | p99 ms | server CPU µs/req | requests | non-2xx | socket errors |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for k in bare healthz me login me_alone me_flood login_flood; do row "$k"; done
    echo
    echo "## Goals"
    echo
    echo "- **/api/v1/me vs bare handler: ${RATIO} %** of the bare handler's requests/s — $VERDICT."
    echo "  - diagnostic: /healthz (same middleware, no auth, no DB) reaches ${HEALTHZ_RATIO} % of bare; /me reaches ${ME_VS_HEALTHZ} % of /healthz."
    echo "  - server CPU per request: bare ${CPU_US[bare]} µs, /healthz ${CPU_US[healthz]} µs, /me ${CPU_US[me]} µs."
    echo "- **Login throughput:** ${RPS[login]} logins/s with ${LOGIN_CONNS} concurrent attempts, p50 ${P50[login]} ms, p99 ${P99[login]} ms, ${NON2XX[login]} non-2xx, ${SOCKERR[login]} socket errors."
    echo "- **Responsiveness during a login flood:** /api/v1/me (${LIGHT_CONNS} connections) keeps ${FLOOD_KEEP} % of its requests/s"
    echo "  (${RPS[me_alone]} → ${RPS[me_flood]} req/s); p50 ${P50[me_alone]} → ${P50[me_flood]} ms, p99 ${P99[me_alone]} → ${P99[me_flood]} ms."
    echo
    echo "## Files"
    echo
    echo "- raw wrk output: \`bench/out/raw-$STAMP/\`"
    echo "- gonggu log (stdout + stderr, filter \`warn\`): \`bench/out/gonggu-$STAMP.log\` — $SERVER_WARNINGS warning/error lines"
    echo "- baseline log: \`bench/out/baseline-$STAMP.log\`"
} >"$SUMMARY"

cat "$SUMMARY"
log "summary written to $SUMMARY"
if [[ ${BENCH_STRICT:-0} = 1 && $MEETS = 0 ]]; then
    die "/api/v1/me is at ${RATIO} % of the bare handler (goal ≥ ${GOAL_PCT} %)"
fi
