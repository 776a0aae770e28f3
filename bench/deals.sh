#!/usr/bin/env bash
# 공구마켓 deals benchmark: one run seeds a fresh SQLite deals database with 10,000 deals through
# POST /api/v1/deals (bench/seed_deals.lua), then measures, on this machine and in this order,
#   1. GET /bare on a bare axum handler (bench/baseline) .................. the baseline
#   2. GET /healthz on gonggu (full middleware stack, no DB) ............... diagnostic
#   3. GET /api/v1/deals?category=4&limit=20 (20 items with a filter) ...... req/s vs bare
#   4. GET /api/v1/deals?q=휴지&limit=20 (substring search) ................. req/s vs bare
#   5. GET / (the rendered home page, anonymous, default filters) .......... goal: >= 10,000 req/s
#                                                                            and p99 <= 20 ms at 64 connections
# and, with BENCH_DIAGNOSE=1 (the default), where the home page's time goes: the same list
# through the JSON API, the list without a filter, the page gzipped, a perf profile of the
# server during a short extra home-page run, and the list queries' plans and SQLite-only
# timings on a copy of the seeded database (bench/deals_plan.py).
# Writes bench/out/deals-<date>.md (printed at the end too).
#
# Usage: bash bench/deals.sh                  (10 s per measurement; about 3 minutes plus the build)
#        BENCH_SECONDS=30 bash bench/deals.sh
# Knobs: BENCH_WARMUP_SECONDS (2), BENCH_DEALS (10000), BENCH_CANCEL_PCT (10: share of the seeded
#        deals their host cancels, so "open deals" filters something), BENCH_DIAGNOSE (1),
#        BENCH_STRICT=1 (exit 1 when the home page misses its goal).
# See bench/README.md for what the figures mean.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=deals-bench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
read_common_knobs
DEALS=${BENCH_DEALS:-10000}
CANCEL_PCT=${BENCH_CANCEL_PCT:-10}
DIAGNOSE=${BENCH_DIAGNOSE:-1}
THREADS=2
CONNS=64
SEED_CONNS=8
HOSTS=10
GOAL_RPS=10000
GOAL_P99_MS=20
SEARCH_WORD=휴지
CATEGORY=4
PASSWORD=coffee-and-tissues-42

[[ $DEALS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_DEALS must be a positive integer, got '$DEALS'" >&2; exit 2; }
[[ $CANCEL_PCT =~ ^[0-9]+$ ]] && ((CANCEL_PCT <= 100)) || { echo "BENCH_CANCEL_PCT must be 0..100, got '$CANCEL_PCT'" >&2; exit 2; }
[[ $DIAGNOSE = 0 || $DIAGNOSE = 1 ]] || { echo "BENCH_DIAGNOSE must be 0 or 1, got '$DIAGNOSE'" >&2; exit 2; }

make_out_dirs raw-deals
SUMMARY=$OUT/deals-$STAMP.md
GONGGU_LOG=$OUT/gonggu-deals-$STAMP.log
BASELINE_LOG=$OUT/baseline-deals-$STAMP.log

start_cleanup
install_tools
HAVE_PYTHON=0
if command -v python3 >/dev/null 2>&1 && python3 -c 'import sqlite3' 2>/dev/null; then HAVE_PYTHON=1; fi
HAVE_PERF=0
if [[ $DIAGNOSE = 1 ]] && command -v perf >/dev/null 2>&1; then HAVE_PERF=1; fi

build_release "gonggu and bench-baseline" gonggu bench-baseline
start_servers

# --- hosts: register and log in, each from its own X-Forwarded-For address ----------------
# (sign-up is limited to 10/hour and login to 30/min per address).
HOSTS_FILE=$TMP/hosts.txt
: >"$HOSTS_FILE"
for ((i = 0; i < HOSTS; i++)); do
    login=$(printf 'dh_%02d' "$i")
    ip="10.9.$((i / 200)).$((i % 200 + 1))"
    sign_up "$GG_URL" "$login" "$ip" "$TMP/r.json"
    echo "$login $ACCESS_TOKEN" >>"$HOSTS_FILE"
done
# One deal by hand, so a broken setup fails here with a readable answer (it counts as one of
# the deals).
DEADLINE=$(date -u -d '+3 days' '+%Y-%m-%dT%H:%M:%SZ')
s=$(curl -sS -o "$TMP/r.json" -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $(awk 'NR == 1 { print $2 }' "$HOSTS_FILE")" \
    -d "{\"title\":\"코스트코 휴지 30롤 #0\",\"description\":\"코스트코에서 휴지 30롤 사서 나눠요.\",\"category_id\":4,\"total_price\":25990,\"shares_total\":3,\"items_per_share\":10,\"unit\":\"팩\",\"deadline\":\"$DEADLINE\",\"keywords\":[\"휴지\",\"코스트코\"],\"meeting_place\":{\"name\":\"역삼역\",\"lat\":37.5006,\"lon\":127.0364}}" \
    "$GG_URL/api/v1/deals")
[[ $s = 201 ]] || die "a probe deal answered $s: $(cat "$TMP/r.json")"

# --- seeding: the rest of the deals through the API, with wrk ------------------------------
ctx_switches() { # pid -> "tid switches" per thread (voluntary + involuntary)
    local t
    for t in /proc/"$1"/task/*; do
        awk -v tid="${t##*/}" '/^(voluntary|nonvoluntary)_ctxt_switches:/ { n += $2 } END { if (NR) print tid, n + 0 }' "$t/status" 2>/dev/null || true
    done
}
now_s() { date +%s.%N; }
SEED_N=$((DEALS - 1))
SEED_RATE="—"
SEED_CANCELLED=0
if ((SEED_N > 0)); then
    log "seeding $SEED_N deals through POST /api/v1/deals ($HOSTS hosts, $SEED_CONNS connections, ${CANCEL_PCT} % then cancelled)"
    mkdir -p "$TMP/marks"
    t_seed0=$(now_s)
    # -d is only an upper bound: the threads stop when their share is done (see seed_deals.lua).
    wrk -t"$THREADS" -c"$SEED_CONNS" -d1800s --timeout 30s -s "$ROOT/bench/seed_deals.lua" "$GG_URL/api/v1/deals" \
        -- "$HOSTS_FILE" "$SEED_N" "$THREADS" "$CANCEL_PCT" "$TMP/marks" >"$RAW/seed.txt" 2>&1 &
    SEED_PID=$!
    PIDS+=("$SEED_PID")
    while :; do
        n=$(find "$TMP/marks" -name 'seed-*.done' | wc -l)
        ((n >= THREADS)) && break
        kill -0 "$SEED_PID" 2>/dev/null || break
        kill -0 "$GG_PID" 2>/dev/null || die "gonggu died while seeding (see $GONGGU_LOG)"
        sleep 0.2
    done
    t_seed1=$(now_s)
    kill -INT "$SEED_PID" 2>/dev/null || true # wrk prints its summary on SIGINT
    wait "$SEED_PID" 2>/dev/null || true
    forget_pid "$SEED_PID"
    cat "$TMP"/marks/seed-*.done >>"$RAW/seed.txt" 2>/dev/null || true
    seeded=$(awk '/^seed: / { print $2 }' "$RAW/seed.txt")
    SEED_CANCELLED=$(awk '/^seed: / { print $4 }' "$RAW/seed.txt")
    if [[ -z $seeded || $seeded -ne $SEED_N ]]; then
        die "seeding created ${seeded:-no} deals of $SEED_N: $(grep -m1 -o 'first_error .*' "$RAW/seed.txt" || echo "see $RAW/seed.txt")"
    fi
    SEED_RATE=$(awk -v n="$seeded" -v a="$t_seed0" -v b="$t_seed1" 'BEGIN { printf "%.0f", n / (b - a) }')
    log "seeded $seeded deals ($SEED_RATE deals/s through the API), $SEED_CANCELLED of them cancelled"
fi
OPEN_DEALS=$((DEALS - SEED_CANCELLED))

# Let the background work that seeding caused finish before measuring: the outbox relay
# publishing the DealCreated events and the deal clock (every 15 s) announcing deadlines within
# 24 hours. Wait for one full clock period and then for a quiet second.
settle() {
    local t0 t1 start=$SECONDS
    sleep 16
    while ((SECONDS - start < 90)); do
        t0=$(cpu_ticks "$GG_PID")
        sleep 1
        t1=$(cpu_ticks "$GG_PID")
        if ((t1 - t0 <= 2)); then return 0; fi
    done
    log "warning: gonggu still busy after 90 s of settling; measuring anyway"
}
log "waiting for gonggu's background work to settle"
settle

# --- what the measured URLs answer ---------------------------------------------------------
urlencode_bytes() { # percent-encodes every byte outside [A-Za-z0-9._~-]
    local LC_ALL=C s=$1 out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [A-Za-z0-9._~-]) out+=$c ;;
            *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}
Q_ENC=$(urlencode_bytes "$SEARCH_WORD")
declare -A URL_OF HDR_OF BYTES ITEMS
URL_OF[bare]=$BASE_URL/bare
URL_OF[healthz]=$GG_URL/healthz
URL_OF[api_category]="$GG_URL/api/v1/deals?category=$CATEGORY&limit=20"
URL_OF[api_search]="$GG_URL/api/v1/deals?q=$Q_ENC&limit=20"
URL_OF[home]=$GG_URL/
URL_OF[api_open]="$GG_URL/api/v1/deals?status=open&limit=20"
URL_OF[api_all]="$GG_URL/api/v1/deals?limit=20"
URL_OF[home_gzip]=$GG_URL/
# First pages come from the deals' first-page cache (crates/deals/src/cache.rs); a second page
# always runs the query and renders, so these rows show the uncached cost.
next_cursor() { curl -sS --max-time 30 "$1" | grep -o '"next_cursor":"[^"]*"' | cut -d'"' -f4; }
HOME_CURSOR=$(next_cursor "$GG_URL/api/v1/deals?status=open&limit=20")
SEARCH_CURSOR=$(next_cursor "$GG_URL/api/v1/deals?q=$Q_ENC&limit=20")
[[ -n $HOME_CURSOR ]] || die "no second page of open deals"
URL_OF[home_p2]="$GG_URL/?cursor=$HOME_CURSOR"
URL_OF[api_search_p2]="$GG_URL/api/v1/deals?q=$Q_ENC&limit=20${SEARCH_CURSOR:+&cursor=$SEARCH_CURSOR}"
HDR_OF[home_gzip]="Accept-Encoding: gzip, deflate, br"
probe() { # key -> body size and the number of deals in it
    local k=$1 s size
    local -a h=()
    [[ -n ${HDR_OF[$k]:-} ]] && h=(-H "${HDR_OF[$k]}")
    read -r s size < <(curl -sS -o "$TMP/probe-$k" -w '%{http_code} %{size_download}\n' --max-time 30 ${h[@]+"${h[@]}"} "${URL_OF[$k]}")
    [[ $s = 200 ]] || die "GET ${URL_OF[$k]} answered $s: $(head -c 300 "$TMP/probe-$k")"
    BYTES[$k]=$size
    # Deals in the answer: one "share_price" per deal in JSON, one card per deal on the page.
    case $k in
        api_*) ITEMS[$k]=$( (grep -o '"share_price":' "$TMP/probe-$k" || true) | wc -l) ;;
        home | home_analyzed | home_p2) ITEMS[$k]=$( (grep -o 'class="card deal-card"' "$TMP/probe-$k" || true) | wc -l) ;;
        home_gzip) ITEMS[$k]=$( (gzip -dc "$TMP/probe-$k" 2>/dev/null || true) | (grep -o 'class="card deal-card"' || true) | wc -l) ;;
        *) ITEMS[$k]="—" ;;
    esac
}
KEYS=(bare healthz api_category api_search home home_p2 api_search_p2)
DIAG_KEYS=()
[[ $DIAGNOSE = 1 ]] && DIAG_KEYS=(api_open api_all home_gzip)
for k in "${KEYS[@]}" ${DIAG_KEYS[@]+"${DIAG_KEYS[@]}"}; do probe "$k"; done
[[ ${ITEMS[home]} = 20 ]] || die "the home page shows ${ITEMS[home]} deal cards, expected 20 (see $TMP/probe-home)"
[[ ${ITEMS[api_category]} = 20 ]] || die "/api/v1/deals?category=$CATEGORY&limit=20 returned ${ITEMS[api_category]} deals, expected 20"
[[ ${ITEMS[api_search]} = 20 ]] || log "warning: the search for $SEARCH_WORD returned ${ITEMS[api_search]} deals, not 20"
cp "$TMP/probe-home" "$RAW/home.html"
log "bodies: home ${BYTES[home]} bytes (${ITEMS[home]} cards), category list ${BYTES[api_category]} bytes, search ${BYTES[api_search]} bytes"

# --- wrk helpers -----------------------------------------------------------------------
declare -A PID_OF CSW
measure() { # key description server-pid: URL_OF[key] (with HDR_OF[key]) after a warm-up
    local key=$1 what=$2 pid=$3
    local -a h=()
    [[ -n ${HDR_OF[$key]:-} ]] && h=(-H "${HDR_OF[$key]}")
    warm "$CONNS" "${URL_OF[$key]}" ${h[@]+"${h[@]}"}
    ctx_switches "$pid" >"$TMP/csw0"
    run_wrk "$key" "$what" "$CONNS" "$BENCH_SECONDS" "$pid" ${h[@]+"${h[@]}"} "${URL_OF[$key]}"
    PID_OF[$key]=$pid
    # Context switches per request: threads handing work to each other (e.g. sqlx's SQLite
    # worker threads and tokio's) show here. Linux counts them per thread, so a thread that ends
    # during the run is missing (sqlx closes a connection whose query was abandoned when wrk
    # hangs up at the end): a lower bound.
    ctx_switches "$pid" >"$TMP/csw1"
    CSW[$key]=$(awk -v c="$(sum_delta "$TMP/csw0" "$TMP/csw1")" -v n="${REQS[$key]}" 'BEGIN { if (n > 0) printf "%.2f", c / n; else print "n/a" }')
}
sub_us() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "n/a" && b != "n/a") printf "%.1f", a - b; else print "n/a" }'; }

LOAD_BEFORE=$(load_avg)

# --- 1-5: the measurements ---------------------------------------------------------------
measure bare "GET /bare — bare axum handler (baseline)" "$BASE_PID"
measure healthz "GET /healthz — gonggu middleware only (diagnostic)" "$GG_PID"
measure api_category "GET /api/v1/deals?category=$CATEGORY&limit=20 — 20 items, category filter" "$GG_PID"
measure api_search "GET /api/v1/deals?q=$SEARCH_WORD&limit=20 — substring search" "$GG_PID"
measure home "GET / — home page, anonymous (open deals, newest first, 20 cards)" "$GG_PID"
measure home_p2 "GET /?cursor=… — the home page's second page (never cached: query + render every time)" "$GG_PID"
measure api_search_p2 "GET /api/v1/deals?q=$SEARCH_WORD&limit=20&cursor=… — search, second page (never cached)" "$GG_PID"

# --- diagnostics -----------------------------------------------------------------------
if [[ $DIAGNOSE = 1 ]]; then
    measure api_open "GET /api/v1/deals?status=open&limit=20 — the home page's list as JSON (diagnostic)" "$GG_PID"
    measure api_all "GET /api/v1/deals?limit=20 — no filter (diagnostic)" "$GG_PID"
    measure home_gzip "GET / with Accept-Encoding: gzip — what a browser gets (diagnostic)" "$GG_PID"
fi
LOAD_AFTER=$(load_avg)
kill -0 "$GG_PID" 2>/dev/null || die "gonggu died during the benchmark (see $GONGGU_LOG)"

# A CPU profile of gonggu during a short extra home-page run (perf slows the server a little,
# so this run's speed is not a measurement; where its samples fall is). Taken twice: now, and
# after the ANALYZE below.
P_SECS=$((BENCH_SECONDS < 5 ? BENCH_SECONDS : 5))
profile_home() { # name -> $RAW/perf-<name>.txt; fails when perf does not work here
    local name=$1 p_wrk ok=0
    log "profiling gonggu with perf during GET / ($name, ${P_SECS}s, not a measurement)"
    wrk -t"$THREADS" -c"$CONNS" -d"$((P_SECS + 2))s" "${URL_OF[home]}" >"$RAW/perf-$name-wrk.txt" 2>&1 &
    p_wrk=$!
    PIDS+=("$p_wrk")
    sleep 1
    if perf record -F 999 -p "$GG_PID" -o "$TMP/perf.data" -- sleep "$P_SECS" >"$RAW/perf-$name-record.txt" 2>&1 &&
        perf report -i "$TMP/perf.data" --no-children --sort dso,sym --stdio -g none >"$RAW/perf-$name.txt" 2>/dev/null; then
        ok=1
    else
        log "perf did not work here (see $RAW/perf-$name-record.txt); no profile"
    fi
    rm -f "$TMP/perf.data"
    wait "$p_wrk" 2>/dev/null || true
    forget_pid "$p_wrk"
    ((ok))
}
PROFILE_OK=0
PROFILE2_OK=0
if ((HAVE_PERF)) && profile_home home; then PROFILE_OK=1; fi
# Where a profile's samples fall, by layer. Rust symbols are told apart by crate; the only C
# code in the gonggu binary is SQLite (bundled by libsqlite3-sys), so native symbols there count
# as SQLite; [k] is the kernel (sockets, epoll, scheduling).
profile_layers() { # perf report file -> "layer|percent" lines, largest first
    awk '
        /^#/ || NF < 4 { next }
        {
            p = $1; sub(/%$/, "", p); if (p !~ /^[0-9.]+$/) next
            dso = $2; sym = ""; for (i = 4; i <= NF; i++) sym = sym (i > 4 ? " " : "") $i
            if ($3 == "[k]") l = "kernel (TCP, epoll, scheduling)"
            else if (dso ~ /^(libc|ld-linux|libm|libgcc)/) l = "libc (memcpy, malloc, free)"
            else if (sym ~ /^0x/) l = "unresolved"
            else if (sym !~ /::/ && sym !~ /^__rust/) l = "SQLite (C code in the gonggu binary)"
            else if (sym ~ /maud|gonggu_deals::pages|gonggu_kernel::web::layout|Render/) l = "page rendering (maud, pages.rs, layout)"
            else if (sym ~ /serde_json|serde::/) l = "JSON (serde)"
            else if (sym ~ /sqlx/) l = "sqlx (driver, rows, statements)"
            else if (sym ~ /hyper|httparse|http::|h1::/) l = "HTTP (hyper, http)"
            else if (sym ~ /tokio|mio::|parking_lot|crossbeam|futures/) l = "tokio runtime, futures"
            else if (sym ~ /tower|axum|tracing|metrics|cookie|rand|chacha|gonggu_kernel|gonggu::/) l = "middleware, web session, tracing, metrics"
            else if (sym ~ /chrono/) l = "chrono (dates)"
            else if (sym ~ /gonggu_deals/) l = "deals service (views, mapping)"
            else if (sym ~ /alloc|core::fmt|core::str|drop_in_place|__rust|String|Vec|clone/) l = "Rust alloc, drop, fmt, strings"
            else l = "other Rust"
            s[l] += p
        }
        END { for (l in s) printf "%s|%.1f\n", l, s[l] }' "$1" | sort -t'|' -k2,2 -gr
}

# Query plans and SQLite-only timings, on a copy of the seeded database.
PLAN_MD=""
SQL_HOME_US=n/a
SQL_ALL_US=n/a
if [[ $DIAGNOSE = 1 ]]; then
    if ((HAVE_PYTHON)); then
        log "query plans and SQLite-only timings on a copy of deals.db (bench/deals_plan.py)"
        if python3 "$ROOT/bench/deals_plan.py" "$TMP/data/deals.db" "$TMP/plan" 0.5 >"$RAW/plans.md" 2>"$RAW/plans.err"; then
            PLAN_MD=$(grep -v '^RESULT ' "$RAW/plans.md")
            SQL_HOME_US=$(result_field "$RAW/plans.md" home_us)
            SQL_ALL_US=$(result_field "$RAW/plans.md" all_us)
            SQL_HOME_US=${SQL_HOME_US:-n/a}
            SQL_ALL_US=${SQL_ALL_US:-n/a}
        else
            PLAN_MD="bench/deals_plan.py failed: $(tail -n 3 "$RAW/plans.err")"
        fi
    elif command -v sqlite3 >/dev/null 2>&1; then
        PLAN_MD=$(sqlite3 "file:$TMP/data/deals.db?mode=ro" "EXPLAIN QUERY PLAN SELECT * FROM deals WHERE 1 = 1 AND status IN ('recruiting', 'confirmed') ORDER BY seq DESC, seq DESC LIMIT 21" 2>&1 |
            sed 's/^/    /')
        PLAN_MD="No python3 with sqlite3; the home page's query plan from the sqlite3 shell:"$'\n\n'"$PLAN_MD"
    else
        PLAN_MD="Neither python3 (with sqlite3) nor the sqlite3 shell is installed: no query plans."
    fi
fi
# The seeded database, for a closer look afterwards (gonggu is idle now; the WAL goes with it).
for f in deals.db deals.db-wal; do
    if [[ -e $TMP/data/$f ]]; then cp "$TMP/data/$f" "$RAW/$f"; fi
done

# Diagnostic, end to end: the same home page once SQLite's planner has statistics (ANALYZE on
# this run's own database, nothing else changed; gonggu re-prepares its statements when the
# schema changes). What the query plan costs over HTTP, and what is left without it.
ANALYZED=0
if [[ $DIAGNOSE = 1 ]]; then
    if ((HAVE_PYTHON)) && python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); c.execute("ANALYZE"); c.commit()' \
        "$TMP/data/deals.db" 2>"$RAW/analyze.err"; then
        ANALYZED=1
    elif command -v sqlite3 >/dev/null 2>&1 && sqlite3 -cmd '.timeout 30000' "$TMP/data/deals.db" 'ANALYZE' 2>"$RAW/analyze.err"; then
        ANALYZED=1
    fi
    if ((ANALYZED)); then
        URL_OF[home_analyzed]=$GG_URL/
        probe home_analyzed
        measure home_analyzed "GET / after \`ANALYZE\` on this run's database (diagnostic: the query plan fixed, nothing else)" "$GG_PID"
        DIAG_KEYS+=(home_analyzed)
        if ((PROFILE_OK)) && profile_home home-analyzed; then PROFILE2_OK=1; fi
    else
        log "could not run ANALYZE on the benchmark's database (see $RAW/analyze.err); no row for it"
    fi
    LOAD_AFTER=$(load_avg)
    kill -0 "$GG_PID" 2>/dev/null || die "gonggu died during the benchmark (see $GONGGU_LOG)"
fi

# --- summary ---------------------------------------------------------------------------
HOME_PCT=$(pct "${RPS[home]}" "${RPS[bare]}")
RPS_OK=0
P99_OK=0
ge "${RPS[home]}" "$GOAL_RPS" && RPS_OK=1
awk -v p="${P99[home]}" -v g="$GOAL_P99_MS" 'BEGIN { exit !(p != "n/a" && p + 0 <= g) }' && P99_OK=1
MEETS=$((RPS_OK && P99_OK))
mark() { if (($1)); then echo "✅"; else echo "❌"; fi; }
if ((MEETS)); then
    VERDICT="✅ meets the goal (≥ ${GOAL_RPS} req/s and p99 ≤ ${GOAL_P99_MS} ms)"
else
    VERDICT="❌ misses the goal (≥ ${GOAL_RPS} req/s and p99 ≤ ${GOAL_P99_MS} ms)"
fi
SERVER_WARNINGS=$(warning_lines "$GONGGU_LOG")
DB_BYTES=$(($(stat -c %s "$TMP/data/deals.db" 2>/dev/null || echo 0) + $(stat -c %s "$TMP/data/deals.db-wal" 2>/dev/null || echo 0)))

row() { # key
    local k=$1 ratio="—"
    [[ $k = bare ]] || ratio="$(pct "${RPS[$k]}" "${RPS[bare]}") %"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "${WHAT_OF[$k]}" "${RPS[$k]}" "$ratio" "${P50[$k]}" "${P99[$k]}" "${CPU_US[$k]}" "${CSW[$k]}" \
        "${BYTES[$k]}" "${ITEMS[$k]}" "${REQS[$k]}" "${NON2XX[$k]}" "${SOCKERR[$k]}"
}

{
    echo "# 공구마켓 deals benchmark — $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo
    machine_rows memory
    echo "| date | $(date -u '+%Y-%m-%dT%H:%M:%SZ') |"
    echo "| git commit | $(git_commit) |"
    echo "| load average (1/5/15 min) before the measurements / at their end (includes the benchmark's own load) | $LOAD_BEFORE / $LOAD_AFTER |"
    echo "| tools | $(tool_versions) |"
    echo "| settings | ${BENCH_SECONDS}s per measurement after ${WARMUP_SECONDS}s warm-up of the same URL; $CONNS connections, wrk $THREADS threads; SQLite in a fresh temp dir (WAL, synchronous=NORMAL, pool of 8) |"
    echo "| data | $DEALS deals posted through \`POST /api/v1/deals\` by $HOSTS hosts ($SEED_RATE deals/s, $SEED_CONNS connections), $SEED_CANCELLED of them then cancelled by their host: $OPEN_DEALS open; deals.db + WAL $((DB_BYTES / 1024)) KiB |"
    echo
    echo "The client (wrk) runs on the same cores as the servers, so absolute figures are low and"
    echo "noisy; the ratios between rows of the same run are what count. The goal is absolute, so it"
    echo "only means something on a quiet machine (see the load average)."
    echo
    echo "## Requests/s"
    echo
    echo "Body bytes as wrk receives them (wrk sends no \`Accept-Encoding\`, so uncompressed unless the row says gzip); items: deals in the answer."
    echo
    echo "| measurement | req/s | vs bare | p50 ms | p99 ms | server CPU µs/req | server context switches/req | body bytes | items | requests | non-2xx | socket errors |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for k in "${KEYS[@]}" ${DIAG_KEYS[@]+"${DIAG_KEYS[@]}"}; do row "$k"; done
    echo
    echo "## Goal"
    echo
    echo "- **Home page (\`GET /\`, anonymous, $CONNS connections): ${RPS[home]} req/s $(mark $RPS_OK) (goal ≥ $GOAL_RPS), p99 ${P99[home]} ms $(mark $P99_OK) (goal ≤ $GOAL_P99_MS ms)** — $VERDICT."
    echo "  It reaches ${HOME_PCT} % of the bare handler's requests/s in the same run."
    echo "- \`/api/v1/deals?category=$CATEGORY&limit=20\`: ${RPS[api_category]} req/s, $(pct "${RPS[api_category]}" "${RPS[bare]}") % of bare, p99 ${P99[api_category]} ms."
    echo "- \`/api/v1/deals?q=$SEARCH_WORD&limit=20\`: ${RPS[api_search]} req/s, $(pct "${RPS[api_search]}" "${RPS[bare]}") % of bare, p99 ${P99[api_search]} ms."
    echo "- Uncached (second pages, which always query and render): home page ${RPS[home_p2]} req/s, p99 ${P99[home_p2]} ms; search ${RPS[api_search_p2]} req/s, p99 ${P99[api_search_p2]} ms."
    echo "  First pages (the rows above) come from the first-page cache, invalidated by every deal write and at most 2 s old."
    echo "- \`/healthz\` (middleware only): ${RPS[healthz]} req/s, $(pct "${RPS[healthz]}" "${RPS[bare]}") % of bare."
    if [[ $DIAGNOSE = 1 ]]; then
        echo
        echo "## Where the home page's time goes"
        echo
        echo "Server CPU per request (user + system, all threads, from \`/proc/<pid>/stat\`), split by the"
        echo "differences between rows of the table above. A difference is only as good as the two rows it"
        echo "comes from: on a busy machine (see the load average) small or negative ones are noise."
        echo
        echo "| layer | CPU µs/req | from |"
        echo "| --- | ---: | --- |"
        echo "| hyper + axum + the machine's TCP, nothing else | ${CPU_US[bare]} | \`/bare\` (the baseline process) |"
        echo "| gonggu's middleware stack | $(sub_us "${CPU_US[healthz]}" "${CPU_US[bare]}") | \`/healthz\` − \`/bare\` |"
        echo "| a list page of 20 deals without a filter: query + sqlx + view mapping + JSON | $(sub_us "${CPU_US[api_all]}" "${CPU_US[healthz]}") | \`/api/v1/deals?limit=20\` − \`/healthz\` |"
        echo "| … of which SQLite alone runs that query and reads its 21 rows | ${SQL_ALL_US} | Python's sqlite3 on a copy of deals.db (another SQLite build, no HTTP; see below) |"
        echo "| … the rest: sqlx (pool, worker thread, row copies), DealRecord → DealView, JSON | $(sub_us "$(sub_us "${CPU_US[api_all]}" "${CPU_US[healthz]}")" "${SQL_ALL_US}") | the two rows above |"
        echo "| the open-deals filter on top (\`status IN ('recruiting', 'confirmed')\`) | $(sub_us "${CPU_US[api_open]}" "${CPU_US[api_all]}") | \`?status=open\` − \`?limit=20\` |"
        echo "| … of which SQLite alone | $(sub_us "${SQL_HOME_US}" "${SQL_ALL_US}") | Python's sqlite3, the same two queries |"
        if ((ANALYZED)); then
            # After ANALYZE the page's query walks the deals newest-first like the unfiltered list,
            # so the two differ (almost) only by the page: a steadier figure than two sorted rows.
            echo "| the page instead of JSON: maud rendering + web session (CSRF cookie) | $(sub_us "${CPU_US[home_analyzed]}" "${CPU_US[api_all]}") | \`/\` after \`ANALYZE\` − \`/api/v1/deals?limit=20\` (same plan) |"
        else
            echo "| the page instead of JSON: maud rendering + web session (CSRF cookie) | $(sub_us "${CPU_US[home]}" "${CPU_US[api_open]}") | \`/\` − \`/api/v1/deals?status=open\` |"
        fi
        echo "| **the home page** | **${CPU_US[home]}** | \`/\` |"
        if ((ANALYZED)); then
            echo "| the home page with the query plan fixed (\`ANALYZE\`, nothing else) | ${CPU_US[home_analyzed]} | \`/\` after \`ANALYZE\` |"
        fi
        echo "| gzip on top (what a browser asks for) | $(sub_us "${CPU_US[home_gzip]}" "${CPU_US[home]}") | \`/\` gzip − \`/\` |"
        echo
        echo "At ${CPU_US[home]} µs of server CPU per page, $(nproc) cores can serve at most $(awk -v c="${CPU_US[home]}" -v n="$(nproc)" 'BEGIN { if (c > 0) printf "%.0f", n * 1e6 / c; else print "n/a" }') pages/s even with"
        echo "no client on the machine; $GOAL_RPS req/s on $(nproc) cores needs ≤ $(awk -v n="$(nproc)" -v g="$GOAL_RPS" 'BEGIN { printf "%.0f", n * 1e6 / g }') µs per page, less what wrk takes here."
        if ((ANALYZED)); then
            echo "With the query plan fixed (planner statistics, diagnostic) the page takes ${CPU_US[home_analyzed]} µs (at most $(awk -v c="${CPU_US[home_analyzed]}" -v n="$(nproc)" 'BEGIN { if (c > 0) printf "%.0f", n * 1e6 / c; else print "n/a" }') pages/s"
            echo "on $(nproc) cores) and runs at ${RPS[home_analyzed]} req/s with p99 ${P99[home_analyzed]} ms: $(mark "$(awk -v r="${RPS[home_analyzed]}" -v g="$GOAL_RPS" 'BEGIN { print (r + 0 >= g) ? 1 : 0 }')") ≥ $GOAL_RPS req/s, $(mark "$(awk -v p="${P99[home_analyzed]}" -v g="$GOAL_P99_MS" 'BEGIN { print (p != "n/a" && p + 0 <= g) ? 1 : 0 }')") p99 ≤ $GOAL_P99_MS ms."
        fi
        if ((PROFILE_OK)); then
            echo
            echo "### perf profile of gonggu during \`GET /\` (${P_SECS}s, 999 Hz, flat)"
            echo
            echo "Samples by layer (symbols classified by crate; C symbols in the gonggu binary are SQLite),"
            echo "as is and, when it ran, after \`ANALYZE\` (the plan fixed):"
            echo
            echo "| layer | % of samples, as is | % after \`ANALYZE\` |"
            echo "| --- | ---: | ---: |"
            profile_layers "$RAW/perf-home.txt" >"$TMP/layers-1"
            : >"$TMP/layers-2"
            if ((PROFILE2_OK)); then profile_layers "$RAW/perf-home-analyzed.txt" >"$TMP/layers-2"; fi
            awk -F'|' 'NR == FNR { b[$1] = $2; next } { printf "| %s | %s | %s |\n", $1, $2, ($1 in b ? b[$1] : "—"); seen[$1] = 1 }
                END { for (l in b) if (!(l in seen)) printf "| %s | — | %s |\n", l, b[l] }' "$TMP/layers-2" "$TMP/layers-1"
            # (awk rather than head: no SIGPIPE under pipefail)
            for name in home home-analyzed; do
                [[ -s $RAW/perf-$name.txt ]] || continue
                echo
                echo "Top symbols, $name:"
                echo
                echo '```'
                awk '/^ +[0-9.]+%/ && n++ < 15 { print substr($0, 1, 150) }' "$RAW/perf-$name.txt"
                echo '```'
            done
        fi
        echo
        echo "### The list queries in SQLite"
        echo
        echo "$PLAN_MD"
    fi
    echo
    echo "## Files"
    echo
    echo "- raw wrk output (seeding included) and the home page as served: \`bench/out/raw-deals-$STAMP/\`"
    [[ $DIAGNOSE = 1 ]] && echo "- diagnostics: \`plans.md\`, \`perf-home.txt\`, \`perf-home-analyzed.txt\` and the seeded \`deals.db\` (before \`ANALYZE\`) in the same directory"
    echo "- gonggu log (stdout + stderr, filter \`warn\`): \`bench/out/gonggu-deals-$STAMP.log\` — $SERVER_WARNINGS warning/error lines"
    echo "- baseline log: \`bench/out/baseline-deals-$STAMP.log\`"
} >"$SUMMARY"

cat "$SUMMARY"
log "summary written to $SUMMARY"
if [[ ${BENCH_STRICT:-0} = 1 && $MEETS = 0 ]]; then
    die "the home page misses its goal: ${RPS[home]} req/s (≥ $GOAL_RPS), p99 ${P99[home]} ms (≤ $GOAL_P99_MS)"
fi
