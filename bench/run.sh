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
BENCH_NAME=bench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
read_common_knobs
THREADS=2
CONNS=64
LOGIN_CONNS=100
LIGHT_CONNS=8
GOAL_PCT=40
LOGIN_ID=bench_user
EMAIL=bench@example.com
PASSWORD=coffee-and-tissues-42

make_out_dirs raw
SUMMARY=$OUT/accounts-$STAMP.md
GONGGU_LOG=$OUT/gonggu-$STAMP.log
BASELINE_LOG=$OUT/baseline-$STAMP.log

start_cleanup
install_tools
build_release "gonggu and bench-baseline" gonggu bench-baseline
start_servers

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

LOAD_BEFORE=$(load_avg)

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

LOAD_AFTER=$(load_avg)
kill -0 "$GG_PID" 2>/dev/null || die "gonggu died during the benchmark (see $GONGGU_LOG)"

# --- summary ---------------------------------------------------------------------------
RATIO=$(pct "${RPS[me]}" "${RPS[bare]}")
HEALTHZ_RATIO=$(pct "${RPS[healthz]}" "${RPS[bare]}")
ME_VS_HEALTHZ=$(pct "${RPS[me]}" "${RPS[healthz]}")
FLOOD_KEEP=$(pct "${RPS[me_flood]}" "${RPS[me_alone]}")
if ge "$RATIO" "$GOAL_PCT"; then
    VERDICT="✅ meets the goal (≥ ${GOAL_PCT} %)"
    MEETS=1
else
    VERDICT="❌ below the goal (≥ ${GOAL_PCT} %)"
    MEETS=0
fi
HASH_WORKERS=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))
SERVER_WARNINGS=$(warning_lines "$GONGGU_LOG")

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
    machine_rows
    echo "| date | $(date -u '+%Y-%m-%dT%H:%M:%SZ') |"
    echo "| git commit | $(git_commit) |"
    echo "| load average (1/5/15 min) before the run / at its end (includes the benchmark's own load) | $LOAD_BEFORE / $LOAD_AFTER |"
    echo "| tools | $(tool_versions) |"
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
