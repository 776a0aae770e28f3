#!/usr/bin/env bash
# 공구마켓 우리동네 benchmark (issue 12): one run seeds a fresh SQLite deals database with 100,000
# open deals spread across Korea, then measures, on this machine and in this order,
#   1. GET /bare on a bare axum handler (bench/baseline) ............................ the floor
#   2. GET / (the nationwide home page, anonymous, newest first; first page cached) ... the baseline
#   3. GET /?code=11680101 (a visitor who chose 역삼동: open deals within the default
#      5 km, newest first; read through the grid-cell index, never cached) ......... goal: p99 <= 20 ms
#                                                                                      at 64 connections
#   4. GET /?code=11680101&reach=10 .................................................. diagnostic
#   5. GET /api/v1/deals?place=11680101&reach_km=5&limit=20 (the same list as JSON) .. diagnostic
#   6. GET /api/v1/deals?place=11680101&reach_km=5&status=open&limit=20 (the page's own SQL) diagnostic
#   7. GET /?cursor=… (the nationwide page uncached: its second page) ............... diagnostic
#   8. GET /?code=42760250 (평창군 평창읍: a 동 with few deals around it) ............... diagnostic
# and, last, the two feeds again after `ANALYZE` on the run's database (diagnostic: the plan
# fixed, nothing else); plus, before the servers start, the gazetteer's own benchmark
# (`cargo run --release -p gonggu-places --example bench_places`: reverse lookup µs/point, goal
# <= 50 µs; search per query, goal <= 1 ms; embedded data, goal <= 5 MB added to the binary) and
# the size of the release gonggu binary. With BENCH_DIAGNOSE=1 (the default): perf profiles of
# the server during short extra runs (the feed, the uncached nationwide page, the feed after
# ANALYZE), and the feed query's plan and SQLite-only timings, with a few candidate changes, on
# a copy of the seeded database (bench/places_plan.py).
# Writes bench/out/places-<date>.md (printed at the end too).
#
# Seeding, and why through the API: every deal is posted with POST /api/v1/deals (wrk +
# bench/seed_places.lua, 10 hosts, BENCH_SEED_CONNS connections), so the server itself fills
# every column (meeting_code from its own reverse lookup, meeting_cell, the microdegrees,
# search_text and deal_grams, is_open, seq, the host's deal_members row) and writes the
# DealCreated events its consumers then process, exactly as in production: nothing in the
# database is the benchmark's idea of what the server would have written, and a change to the
# schema or to create() needs no change here. Writing rows straight into deals.db would be
# faster but would have to copy store.rs's INSERT by hand and go stale silently. Through the API
# 100,000 deals take 4 to 5 minutes on 2 cores (the rate is in the summary), within the
# 5-minute budget for a benchmark that is run by hand. The meeting places are real 동 centres
# read from the embedded gazetteer (bench/places_points.py, fixed seed, so every run seeds the
# same places): 45 % within 30 km of Seoul city hall, 15 % within 15 km of Busan city hall, 40 %
# over the rest of the country, a 동 picked uniformly within each group. Each deal meets at its
# 동's centre, which is what the deal form's place picker stores.
#
# Usage: bash bench/places.sh                   (10 s per measurement; about 8 minutes plus the build)
#        BENCH_SECONDS=30 bash bench/places.sh
# Knobs: BENCH_WARMUP_SECONDS (2), BENCH_DEALS (100000), BENCH_PLACE (11680101: the 동 of the
#        feed), BENCH_SPARSE_PLACE (42760250: the 동 of the sparse diagnostic), BENCH_POINTS_SEED
#        (12), BENCH_SEED_CONNS (16), BENCH_DIAGNOSE (1), BENCH_STRICT=1 (exit 1 when the feed
#        misses its goal).
# See bench/README.md for what the figures mean.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=places-bench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
read_common_knobs
DEALS=${BENCH_DEALS:-100000}
PLACE=${BENCH_PLACE:-11680101}
SPARSE=${BENCH_SPARSE_PLACE:-42760250}
POINTS_SEED=${BENCH_POINTS_SEED:-12}
SEED_CONNS=${BENCH_SEED_CONNS:-16}
DIAGNOSE=${BENCH_DIAGNOSE:-1}
THREADS=2
CONNS=64
HOSTS=10
GOAL_P99_MS=20
GOAL_REVERSE_US=50
GOAL_SEARCH_US=1000
GOAL_DATA_BYTES=$((5 * 1000 * 1000))
PASSWORD=coffee-and-tissues-42
EMD_BIN=$ROOT/crates/places/data/emd.bin

[[ $DEALS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_DEALS must be a positive integer, got '$DEALS'" >&2; exit 2; }
[[ $PLACE =~ ^[0-9]{8}$ ]] || { echo "BENCH_PLACE must be an 8-digit 법정동 code, got '$PLACE'" >&2; exit 2; }
[[ $SPARSE =~ ^[0-9]{8}$ && $SPARSE != "$PLACE" ]] || { echo "BENCH_SPARSE_PLACE must be another 8-digit 법정동 code, got '$SPARSE'" >&2; exit 2; }
[[ $POINTS_SEED =~ ^[0-9]+$ ]] || { echo "BENCH_POINTS_SEED must be an integer, got '$POINTS_SEED'" >&2; exit 2; }
[[ $SEED_CONNS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_SEED_CONNS must be a positive integer, got '$SEED_CONNS'" >&2; exit 2; }
[[ $DIAGNOSE = 0 || $DIAGNOSE = 1 ]] || { echo "BENCH_DIAGNOSE must be 0 or 1, got '$DIAGNOSE'" >&2; exit 2; }

make_out_dirs raw-places
SUMMARY=$OUT/places-$STAMP.md
GONGGU_LOG=$OUT/gonggu-places-$STAMP.log
BASELINE_LOG=$OUT/baseline-places-$STAMP.log

start_cleanup
install_tools
command -v python3 >/dev/null 2>&1 || die "python3 is needed (bench/places_points.py reads the meeting places from the gazetteer)"
HAVE_SQLITE_PY=0
if python3 -c 'import sqlite3' 2>/dev/null; then HAVE_SQLITE_PY=1; fi
HAVE_PERF=0
if [[ $DIAGNOSE = 1 ]] && command -v perf >/dev/null 2>&1; then HAVE_PERF=1; fi

build_release "gonggu and bench-baseline" gonggu bench-baseline
GONGGU_BYTES=$(stat -c %s "$BIN/gonggu")

# --- the gazetteer's own benchmark, before any server runs ----------------------------------
log "building and running the gazetteer benchmark (cargo run --release -p gonggu-places --example bench_places)"
(cd "$ROOT" && cargo build --release -p gonggu-places --example bench_places) >"$RAW/bench_places-build.txt" 2>&1 ||
    die "could not build the bench_places example (see $RAW/bench_places-build.txt)"
(cd "$ROOT" && cargo run -q --release -p gonggu-places --example bench_places) >"$RAW/bench_places.txt" 2>>"$RAW/bench_places-build.txt" ||
    die "bench_places failed (see $RAW/bench_places.txt)"
# "reverse, 100000 random points in the bounding box (N in Korea): 1.23 µs/point"
REV_RANDOM_US=$(awk '/^reverse, [0-9]+ random points/ { for (i = 1; i <= NF; i++) if ($i == "µs/point") print $(i - 1) }' "$RAW/bench_places.txt")
REV_CENTRES_US=$(awk '/^reverse, all [0-9]+ centre points/ { for (i = 1; i <= NF; i++) if ($i == "µs/point") print $(i - 1) }' "$RAW/bench_places.txt")
REV_P99_US=$(awk '/^reverse, single calls/ { for (i = 1; i <= NF; i++) if ($i == "p99") print $(i + 1) }' "$RAW/bench_places.txt")
SEARCH_MEAN_US=$(awk '/^search, / { for (i = 1; i <= NF; i++) if ($i == "mean") print $(i + 1) }' "$RAW/bench_places.txt")
SEARCH_P99_US=$(awk '/^search, / { for (i = 1; i <= NF; i++) if ($i == "p99") print $(i + 1) }' "$RAW/bench_places.txt")
DATA_BYTES=$(awk '/^embedded data: / { print $3 }' "$RAW/bench_places.txt")
for v in REV_RANDOM_US REV_CENTRES_US REV_P99_US SEARCH_MEAN_US SEARCH_P99_US DATA_BYTES; do
    [[ -n ${!v} ]] || die "could not read $v from $RAW/bench_places.txt"
done
# What gonggu-places itself takes in the release binary: its symbols (code and named statics)
# plus the embedded table, which include_bytes! puts in .rodata without a symbol of its own.
PLACES_SYM_BYTES=n/a
if command -v nm >/dev/null 2>&1; then
    PLACES_SYM_BYTES=$(nm -S -C --size-sort "$BIN/gonggu" 2>/dev/null |
        awk '$4 ~ /^(<)?gonggu_places::/ || $0 ~ / gonggu_places::/ { s += strtonum("0x" $2) } END { print s + 0 }')
fi

# --- meeting places ----------------------------------------------------------------------
POINTS=$TMP/points.tsv
python3 "$ROOT/bench/places_points.py" "$EMD_BIN" "$DEALS" "$POINTS_SEED" "$POINTS" "$PLACE" "$SPARSE" 2>"$RAW/points.txt" ||
    die "bench/places_points.py failed: $(tail -n 3 "$RAW/points.txt")"
cp "$POINTS" "$RAW/points.tsv"
WANT_5=$(result_field "$RAW/points.txt" "within_${PLACE}_5km")
WANT_10=$(result_field "$RAW/points.txt" "within_${PLACE}_10km")
WANT_SPARSE=$(result_field "$RAW/points.txt" "within_${SPARSE}_5km")
GROUPS_MD=$(awk -F'[:,] *' '/^(capital|busan|rest): / { printf "%s%s %s (%s)", sep, $1, $3, $2; sep = ", " }' "$RAW/points.txt")
# "within 5 km of 서울특별시 강남구 역삼동 (11680101): 1457 deals" -> 역삼동
place_name() { awk -v c="($1):" '$1 == "within" && $2 == 5 && $(NF - 2) == c { print $(NF - 3); exit }' "$RAW/points.txt"; }
PLACE_NAME=$(place_name "$PLACE")
SPARSE_NAME=$(place_name "$SPARSE")
[[ -n $PLACE_NAME && -n $SPARSE_NAME ]] || die "could not read the 동 names from $RAW/points.txt"

start_servers

# --- hosts: register and log in, each from its own X-Forwarded-For address ----------------
HOSTS_FILE=$TMP/hosts.txt
: >"$HOSTS_FILE"
for ((i = 0; i < HOSTS; i++)); do
    login=$(printf 'ph_%02d' "$i")
    ip="10.12.$((i / 200)).$((i % 200 + 1))"
    sign_up "$GG_URL" "$login" "$ip" "$TMP/r.json"
    echo "$login $ACCESS_TOKEN" >>"$HOSTS_FILE"
done
# The first place by hand, so that a broken setup fails here with a readable answer, and so that
# the server is seen to resolve a seeded point to the 동 it was taken from.
DEADLINE=$(date -u -d '+3 days' '+%Y-%m-%dT%H:%M:%SZ')
IFS=$'\t' read -r P_LAT P_LON P_CODE P_NAME < <(awk 'NR == 1' "$POINTS")
s=$(curl -sS -o "$TMP/r.json" -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $(awk 'NR == 1 { print $2 }' "$HOSTS_FILE")" \
    -d "{\"title\":\"코스트코 휴지 30롤 #1\",\"description\":\"코스트코에서 휴지 30롤 사서 나눠요.\",\"category_id\":4,\"total_price\":25990,\"shares_total\":3,\"items_per_share\":10,\"unit\":\"팩\",\"deadline\":\"$DEADLINE\",\"keywords\":[\"휴지\",\"코스트코\"],\"meeting_place\":{\"name\":\"$P_NAME 주민센터 앞\",\"lat\":$P_LAT,\"lon\":$P_LON}}" \
    "$GG_URL/api/v1/deals")
[[ $s = 201 ]] || die "a probe deal answered $s: $(cat "$TMP/r.json")"
grep -q "\"code\":\"$P_CODE\"" "$TMP/r.json" || die "the server put the probe deal at $P_LAT,$P_LON in another 동 than $P_CODE: $(cat "$TMP/r.json")"

# --- seeding: the rest through the API, with wrk ----------------------------------------------
now_s() { date +%s.%N; }
SEED_N=$((DEALS - 1))
SEED_RATE="—"
SEED_SECS=0
if ((SEED_N > 0)); then
    log "seeding $SEED_N deals through POST /api/v1/deals ($HOSTS hosts, $SEED_CONNS connections)"
    mkdir -p "$TMP/marks"
    t_seed0=$(now_s)
    # -d is only an upper bound: the threads stop when their share is done (see seed_places.lua).
    wrk -t"$THREADS" -c"$SEED_CONNS" -d1800s --timeout 30s -s "$ROOT/bench/seed_places.lua" "$GG_URL/api/v1/deals" \
        -- "$HOSTS_FILE" "$POINTS" "$THREADS" "$TMP/marks" 2 >"$RAW/seed.txt" 2>&1 &
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
    if [[ -z $seeded || $seeded -ne $SEED_N ]]; then
        die "seeding created ${seeded:-no} deals of $SEED_N: $(grep -m1 -o 'first_error .*' "$RAW/seed.txt" || echo "see $RAW/seed.txt")"
    fi
    SEED_SECS=$(awk -v a="$t_seed0" -v b="$t_seed1" 'BEGIN { printf "%.0f", b - a }')
    SEED_RATE=$(awk -v n="$seeded" -v a="$t_seed0" -v b="$t_seed1" 'BEGIN { printf "%.0f", n / (b - a) }')
    log "seeded $seeded deals in ${SEED_SECS}s ($SEED_RATE deals/s through the API)"
fi

# Let the background work that seeding caused finish before measuring: the outbox relay and
# the consumers of 100,000 DealCreated events, and the deal clock (every 15 s) announcing
# deadlines within 24 hours. One full clock period, then a quiet second.
SETTLE_SECS=0
settle() {
    local t0 t1 start=$SECONDS
    sleep 16
    while ((SECONDS - start < 600)); do
        t0=$(cpu_ticks "$GG_PID")
        sleep 1
        t1=$(cpu_ticks "$GG_PID")
        if ((t1 - t0 <= 2)); then SETTLE_SECS=$((SECONDS - start)); return 0; fi
    done
    SETTLE_SECS=$((SECONDS - start))
    log "warning: gonggu still busy after 600 s of settling; measuring anyway"
}
log "waiting for gonggu's background work to settle"
settle
log "settled after ${SETTLE_SECS}s"

# --- what the measured URLs answer ---------------------------------------------------------
declare -A URL_OF BYTES ITEMS
URL_OF[bare]=$BASE_URL/bare
URL_OF[home]=$GG_URL/
URL_OF[feed]="$GG_URL/?code=$PLACE"
URL_OF[feed10]="$GG_URL/?code=$PLACE&reach=10"
URL_OF[api_feed]="$GG_URL/api/v1/deals?place=$PLACE&reach_km=5&limit=20"
URL_OF[api_feed_open]="$GG_URL/api/v1/deals?place=$PLACE&reach_km=5&status=open&limit=20"
URL_OF[feed_sparse]="$GG_URL/?code=$SPARSE"
next_cursor() { curl -sS --max-time 30 "$1" | grep -o '"next_cursor":"[^"]*"' | cut -d'"' -f4; }
HOME_CURSOR=$(next_cursor "$GG_URL/api/v1/deals?status=open&limit=20")
[[ -n $HOME_CURSOR ]] || die "no second page of open deals"
URL_OF[home_p2]="$GG_URL/?cursor=$HOME_CURSOR"
probe() { # key -> body size and the number of deals in it
    local k=$1 s size
    read -r s size < <(curl -sS -o "$TMP/probe-$k" -w '%{http_code} %{size_download}\n' --max-time 30 "${URL_OF[$k]}")
    [[ $s = 200 ]] || die "GET ${URL_OF[$k]} answered $s: $(head -c 300 "$TMP/probe-$k")"
    BYTES[$k]=$size
    case $k in
        api_*) ITEMS[$k]=$( (grep -o '"share_price":' "$TMP/probe-$k" || true) | wc -l) ;;
        home* | feed*) ITEMS[$k]=$( (grep -o 'class="card deal-card"' "$TMP/probe-$k" || true) | wc -l) ;;
        *) ITEMS[$k]="—" ;;
    esac
}
KEYS=(bare home feed)
DIAG_KEYS=(feed10 api_feed api_feed_open feed_sparse home_p2)
for k in "${KEYS[@]}" "${DIAG_KEYS[@]}"; do probe "$k"; done
for k in home feed feed10 api_feed api_feed_open home_p2; do
    [[ ${ITEMS[$k]} = 20 ]] || die "GET ${URL_OF[$k]} shows ${ITEMS[$k]} deals, expected 20 (see $TMP/probe-$k)"
done
want_sparse_items=$((WANT_SPARSE < 20 ? WANT_SPARSE : 20))
[[ ${ITEMS[feed_sparse]} = "$want_sparse_items" ]] ||
    die "GET ${URL_OF[feed_sparse]} shows ${ITEMS[feed_sparse]} deals, expected $want_sparse_items (see $TMP/probe-feed_sparse)"
grep -q "$PLACE_NAME" "$TMP/probe-feed" || die "the feed page does not name $PLACE_NAME (see $TMP/probe-feed)"
grep -q '5km 이내' "$TMP/probe-feed" || die "the feed page does not say 5km 이내 (see $TMP/probe-feed)"
cp "$TMP/probe-feed" "$RAW/feed.html"
cp "$TMP/probe-home" "$RAW/home.html"
log "bodies: home ${BYTES[home]} bytes, feed ${BYTES[feed]} bytes, feed as JSON ${BYTES[api_feed]} bytes"

# Every deal within reach, counted through the API (100 a page, following the cursor), against
# the count bench/places_points.py made with store.rs's own arithmetic: the grid cells must drop
# nothing (and take nothing beyond the reach).
count_within() { # km -> deals the API lists within km of PLACE
    local km=$1 url cursor="" n=0 pages=0 got
    while :; do
        url="$GG_URL/api/v1/deals?place=$PLACE&reach_km=$km&status=open&limit=100${cursor:+&cursor=$cursor}"
        curl -sS --max-time 30 -o "$TMP/count.json" "$url" || die "GET $url failed"
        got=$( (grep -o '"share_price":' "$TMP/count.json" || true) | wc -l)
        n=$((n + got))
        pages=$((pages + 1))
        cursor=$(grep -o '"next_cursor":"[^"]*"' "$TMP/count.json" | cut -d'"' -f4 || true)
        [[ -n $cursor ]] || break
        ((pages < 10000)) || die "more than 10,000 pages within $km km?"
    done
    echo "$n"
}
GOT_5=$(count_within 5)
GOT_10=$(count_within 10)
COUNT_OK=1
[[ $GOT_5 = "$WANT_5" && $GOT_10 = "$WANT_10" ]] || COUNT_OK=0
((COUNT_OK)) || log "warning: the API lists $GOT_5 deals within 5 km and $GOT_10 within 10 km; the seeded places have $WANT_5 and $WANT_10"
log "within reach of $PLACE_NAME: 5 km $GOT_5 deals (expected $WANT_5), 10 km $GOT_10 (expected $WANT_10); $SPARSE_NAME 5 km: ${ITEMS[feed_sparse]}"

# --- the measurements ----------------------------------------------------------------------
measure() { # key description server-pid [more wrk arguments]
    local key=$1 what=$2 pid=$3
    shift 3
    warm "$CONNS" "${URL_OF[$key]}" "$@"
    run_wrk "$key" "$what" "$CONNS" "$BENCH_SECONDS" "$pid" "$@" "${URL_OF[$key]}"
}
LOAD_BEFORE=$(load_avg)
measure bare "GET /bare — bare axum handler (floor)" "$BASE_PID"
measure home "GET / — nationwide home page, anonymous, newest first (first page cached): the baseline" "$GG_PID"
measure feed "GET /?code=$PLACE — $PLACE_NAME, open deals within 5 km, newest first (never cached)" "$GG_PID"
measure feed10 "GET /?code=$PLACE&reach=10 — the same within 10 km (diagnostic)" "$GG_PID"
measure api_feed "GET /api/v1/deals?place=$PLACE&reach_km=5&limit=20 — the 5 km list as JSON, any status (diagnostic)" "$GG_PID"
measure api_feed_open "GET /api/v1/deals?place=$PLACE&reach_km=5&status=open&limit=20 — the same with the page's own SQL (diagnostic)" "$GG_PID"
measure home_p2 "GET /?cursor=… — nationwide, second page: query + render, uncached (diagnostic)" "$GG_PID"
# Last, as slow answers would keep the server busy after wrk has hung up; wrk waits up to 30 s
# (gonggu's own request timeout) for an answer, so that slow ones are counted, not dropped.
measure feed_sparse "GET /?code=$SPARSE — $SPARSE_NAME, a 동 with $WANT_SPARSE deals within 5 km (diagnostic)" "$GG_PID" --timeout 30s
LOAD_AFTER=$(load_avg)
kill -0 "$GG_PID" 2>/dev/null || die "gonggu died during the benchmark (see $GONGGU_LOG)"
quiet() { # waits (at most 60 s) until gonggu has used no more than 2 ticks of CPU in a second
    local t0 t1 start=$SECONDS
    while ((SECONDS - start < 60)); do
        t0=$(cpu_ticks "$GG_PID")
        sleep 1
        t1=$(cpu_ticks "$GG_PID")
        if ((t1 - t0 <= 2)); then return 0; fi
    done
    log "warning: gonggu still busy 60 s after the last measurement"
}
quiet

# --- diagnostics ---------------------------------------------------------------------------
# CPU profiles of gonggu during short extra runs (perf slows the server a little, so these runs'
# speed is not a measurement; where their samples fall is): the feed, the uncached nationwide
# page for comparison, and the feed again after the ANALYZE below.
P_SECS=$((BENCH_SECONDS < 5 ? BENCH_SECONDS : 5))
declare -A PROFILED
profile() { # name key: $RAW/perf-<name>.txt during GET URL_OF[key]; fails when perf does not work here
    local name=$1 key=$2 p_wrk ok=0
    log "profiling gonggu with perf during ${URL_OF[$key]#"$GG_URL"} ($name, ${P_SECS}s, not a measurement)"
    wrk -t"$THREADS" -c"$CONNS" -d"$((P_SECS + 2))s" "${URL_OF[$key]}" >"$RAW/perf-$name-wrk.txt" 2>&1 &
    p_wrk=$!
    PIDS+=("$p_wrk")
    sleep 1
    if perf record -F 999 -p "$GG_PID" -o "$TMP/perf.data" -- sleep "$P_SECS" >"$RAW/perf-$name-record.txt" 2>&1 &&
        perf report -i "$TMP/perf.data" --no-children --sort dso,sym --stdio -g none >"$RAW/perf-$name.txt" 2>/dev/null; then
        ok=1
        PROFILED[$name]=1
    else
        log "perf did not work here (see $RAW/perf-$name-record.txt); no profile"
    fi
    rm -f "$TMP/perf.data"
    wait "$p_wrk" 2>/dev/null || true
    forget_pid "$p_wrk"
    ((ok))
}
if ((HAVE_PERF)) && profile feed feed; then profile nation-p2 home_p2 || true; fi
# Where a profile's samples fall, by layer (as in bench/deals.sh): C symbols in the gonggu
# binary are SQLite's (bundled by libsqlite3-sys); [k] is the kernel.
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
            else if (sym ~ /maud|gonggu_deals::pages|gonggu_kernel::web::layout|Render/) l = "page rendering (maud, pages, layout)"
            else if (sym ~ /gonggu_places/) l = "gazetteer (gonggu_places)"
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

# The feed's query plans and SQLite-only timings, on a copy of the seeded database (gonggu is
# idle now). The copy is kept for a closer look afterwards: SQLite's backup API writes one
# compact file (the server's own WAL grows to gigabytes while seeding).
PLAN_MD=""
SQL_FEED_US=n/a
SQL_NATION_US=n/a
SQL_SPARSE_US=n/a
DB_KEPT=0
if [[ $DIAGNOSE = 1 ]]; then
    if ((HAVE_SQLITE_PY)); then
        log "the feed query's plan and SQLite-only timings on a copy of deals.db (bench/places_plan.py)"
        if python3 "$ROOT/bench/places_plan.py" "$TMP/data/deals.db" "$TMP/plan" "$EMD_BIN" "$PLACE" "$SPARSE" 0.5 "$RAW/deals.db" \
            >"$RAW/plans.md" 2>"$RAW/plans.err"; then
            PLAN_MD=$(grep -v '^RESULT ' "$RAW/plans.md")
            SQL_FEED_US=$(result_field "$RAW/plans.md" feed5_us)
            SQL_NATION_US=$(result_field "$RAW/plans.md" nation_us)
            SQL_SPARSE_US=$(result_field "$RAW/plans.md" sparse5_us)
            DB_KEPT=1
        else
            PLAN_MD="bench/places_plan.py failed: $(tail -n 3 "$RAW/plans.err")"
        fi
    else
        PLAN_MD="No python3 sqlite3 module: no query plans (the sqlite3 shell cannot build the feed's SQL by itself)."
    fi
fi

# Diagnostic, end to end: the feeds again once SQLite's planner has statistics (ANALYZE on this
# run's own database, nothing else changed; gonggu re-prepares its statements when the schema
# changes, and ANALYZE changes it). What the plan costs over HTTP, and what is left without it.
ANALYZED=0
if [[ $DIAGNOSE = 1 ]]; then
    if ((HAVE_SQLITE_PY)) && python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); c.execute("ANALYZE"); c.commit()' \
        "$TMP/data/deals.db" 2>"$RAW/analyze.err"; then
        ANALYZED=1
    elif command -v sqlite3 >/dev/null 2>&1 && sqlite3 -cmd '.timeout 30000' "$TMP/data/deals.db" 'ANALYZE' 2>"$RAW/analyze.err"; then
        ANALYZED=1
    fi
    if ((ANALYZED)); then
        URL_OF[feed_analyzed]=${URL_OF[feed]}
        URL_OF[feed_sparse_analyzed]=${URL_OF[feed_sparse]}
        probe feed_analyzed
        probe feed_sparse_analyzed
        measure feed_analyzed "GET /?code=$PLACE after \`ANALYZE\` on this run's database (diagnostic: the plan fixed, nothing else)" "$GG_PID"
        measure feed_sparse_analyzed "GET /?code=$SPARSE after \`ANALYZE\` (diagnostic)" "$GG_PID" --timeout 30s
        DIAG_KEYS+=(feed_analyzed feed_sparse_analyzed)
        if [[ ${PROFILED[feed]:-0} = 1 ]]; then profile feed-analyzed feed_analyzed || true; fi
    else
        log "could not run ANALYZE on the benchmark's database (see $RAW/analyze.err); no rows for it"
    fi
    LOAD_AFTER=$(load_avg)
    kill -0 "$GG_PID" 2>/dev/null || die "gonggu died during the benchmark (see $GONGGU_LOG)"
fi

# --- summary ---------------------------------------------------------------------------
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "n/a" && a != "" && a + 0 <= b + 0) }'; }
mark() { if (($1)); then echo "✅"; else echo "❌"; fi; }
P99_OK=0
le "${P99[feed]}" "$GOAL_P99_MS" && P99_OK=1
REV_OK=0
le "$REV_RANDOM_US" "$GOAL_REVERSE_US" && le "$REV_CENTRES_US" "$GOAL_REVERSE_US" && REV_OK=1
SEARCH_OK=0
le "$SEARCH_MEAN_US" "$GOAL_SEARCH_US" && SEARCH_OK=1
DATA_OK=0
le "$DATA_BYTES" "$GOAL_DATA_BYTES" && DATA_OK=1
FEED_VS_HOME=$(pct "${RPS[feed]}" "${RPS[home]}")
SERVER_WARNINGS=$(warning_lines "$GONGGU_LOG")
DB_BYTES=$(($(stat -c %s "$TMP/data/deals.db" 2>/dev/null || echo 0) + $(stat -c %s "$TMP/data/deals.db-wal" 2>/dev/null || echo 0)))
mib() { awk -v b="$1" 'BEGIN { if (b == "n/a") print "n/a"; else printf "%.2f", b / 1048576 }'; }
per_core_cap() { awk -v c="$1" -v n="$(nproc)" 'BEGIN { if (c != "n/a" && c > 0) printf "%.0f", n * 1e6 / c; else print "n/a" }'; }

row() { # key
    local k=$1 ratio="—"
    [[ $k = bare || $k = home ]] || ratio="$(pct "${RPS[$k]}" "${RPS[home]}") %"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "${WHAT_OF[$k]}" "${RPS[$k]}" "$ratio" "${P50[$k]}" "${P99[$k]}" "${CPU_US[$k]}" \
        "${BYTES[$k]}" "${ITEMS[$k]}" "${REQS[$k]}" "${NON2XX[$k]}" "${SOCKERR[$k]}"
}

{
    echo "# 공구마켓 우리동네 benchmark — $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo
    machine_rows memory
    echo "| date | $(date -u '+%Y-%m-%dT%H:%M:%SZ') |"
    echo "| git commit | $(git_commit) |"
    echo "| load average (1/5/15 min) before the measurements / at their end (includes the benchmark's own load) | $LOAD_BEFORE / $LOAD_AFTER |"
    echo "| tools | $(tool_versions) |"
    echo "| settings | ${BENCH_SECONDS}s per measurement after ${WARMUP_SECONDS}s warm-up of the same URL; $CONNS connections, wrk $THREADS threads; SQLite in a fresh temp dir (WAL, synchronous=NORMAL, pool of 8) |"
    echo "| data | $DEALS open deals posted through \`POST /api/v1/deals\` by $HOSTS hosts in ${SEED_SECS}s ($SEED_RATE deals/s, $SEED_CONNS connections; background work settled ${SETTLE_SECS}s later); meeting places at real 동 centres: $GROUPS_MD; deals.db + WAL $((DB_BYTES / 1024 / 1024)) MiB |"
    echo "| the feed's 동 | $PLACE_NAME ($PLACE): $GOT_5 open deals within 5 km, $GOT_10 within 10 km, as listed by the API page by page $(mark "$COUNT_OK") (the seeded places have $WANT_5 and $WANT_10 by store.rs's arithmetic) |"
    echo
    echo "The client (wrk) runs on the same cores as the servers, so absolute figures are low and"
    echo "noisy; the ratios between rows of the same run are what count. The p99 goal is absolute,"
    echo "so it only means something on a quiet machine (see the load average)."
    echo
    echo "## Requests/s"
    echo
    echo "Body bytes as wrk receives them (no \`Accept-Encoding\`: uncompressed); items: deals in the answer."
    echo
    echo "| measurement | req/s | vs \`/\` | p50 ms | p99 ms | server CPU µs/req | body bytes | items | requests | non-2xx | socket errors |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for k in "${KEYS[@]}" "${DIAG_KEYS[@]}"; do row "$k"; done
    echo
    echo "## Goals"
    echo
    echo "- **우리동네 feed (\`GET /?code=$PLACE\`, $PLACE_NAME within 5 km, $CONNS connections): p99 ${P99[feed]} ms $(mark $P99_OK) (goal ≤ $GOAL_P99_MS ms)**, ${RPS[feed]} req/s = **${FEED_VS_HOME} % of the nationwide \`/\`** (${RPS[home]} req/s, p99 ${P99[home]} ms) in the same run."
    echo "  \`/\`'s first page comes from the first-page cache; the feed is never cached. The uncached nationwide page (\`/?cursor=…\`) runs at ${RPS[home_p2]} req/s (p99 ${P99[home_p2]} ms): the feed reaches $(pct "${RPS[feed]}" "${RPS[home_p2]}") % of it."
    echo "- 10 km (\`&reach=10\`): ${RPS[feed10]} req/s, p99 ${P99[feed10]} ms. The 5 km list as JSON: ${RPS[api_feed]} req/s, p99 ${P99[api_feed]} ms (with \`status=open\`, the page's SQL: ${RPS[api_feed_open]} req/s, p99 ${P99[api_feed_open]} ms)."
    echo "- A sparse 동, $SPARSE_NAME (\`/?code=$SPARSE\`, $WANT_SPARSE deals within 5 km): ${RPS[feed_sparse]} req/s, p99 ${P99[feed_sparse]} ms $(mark "$(le "${P99[feed_sparse]}" "$GOAL_P99_MS" && echo 1 || echo 0)") against the same 20 ms."
    echo "- Server CPU per feed page: ${CPU_US[feed]} µs, so $(nproc) cores can serve at most $(per_core_cap "${CPU_US[feed]}") feed pages/s with no client on the machine (nationwide \`/\`: ${CPU_US[home]} µs; uncached: ${CPU_US[home_p2]} µs)."
    echo "- **Gazetteer** (\`cargo run --release -p gonggu-places --example bench_places\`, before the servers started):"
    echo "  reverse lookup **$REV_RANDOM_US µs/point** over random points in Korea's bounding box, $REV_CENTRES_US µs/point over every 동 centre, p99 of single calls $REV_P99_US µs $(mark $REV_OK) (goal ≤ $GOAL_REVERSE_US µs);"
    echo "  search **$SEARCH_MEAN_US µs/query** mean, p99 $SEARCH_P99_US µs $(mark $SEARCH_OK) (goal ≤ 1 ms);"
    echo "  embedded data **$DATA_BYTES bytes ($(mib "$DATA_BYTES") MiB)** $(mark $DATA_OK) (goal ≤ 5 MB added to the binary); gonggu_places' own symbols in the release binary (code and named statics, not the table): $PLACES_SYM_BYTES bytes."
    echo "- **Release binary** \`target/release/gonggu\`: $GONGGU_BYTES bytes ($(mib "$GONGGU_BYTES") MiB)."
    echo
    echo "### bench_places output"
    echo
    echo '```'
    cat "$RAW/bench_places.txt"
    echo '```'
    if [[ $DIAGNOSE = 1 ]]; then
        echo
        echo "## Where the feed's time goes"
        echo
        echo "| layer | CPU µs/req | from |"
        echo "| --- | ---: | --- |"
        echo "| the 5 km list as JSON with the page's SQL (middleware, query, mapping, JSON) | ${CPU_US[api_feed_open]} | \`/api/v1/deals?place=…&reach_km=5&status=open\` |"
        echo "| … of which SQLite alone runs the feed's query and reads its 21 rows | ${SQL_FEED_US} | Python's sqlite3 on a copy of deals.db (another SQLite build, no HTTP; see below) |"
        echo "| the page instead of JSON: rendering, area bar, web session | $(awk -v a="${CPU_US[feed]}" -v b="${CPU_US[api_feed_open]}" 'BEGIN { if (a != "n/a" && b != "n/a") printf "%.1f", a - b; else print "n/a" }') | feed − JSON (same SQL) |"
        echo "| **the feed page** | **${CPU_US[feed]}** | \`/?code=$PLACE\` |"
        echo "| the nationwide page uncached, for comparison | ${CPU_US[home_p2]} | \`/?cursor=…\`; its query alone in SQLite: ${SQL_NATION_US} µs |"
        echo "| the feed of $SPARSE_NAME ($WANT_SPARSE deals within 5 km) | ${CPU_US[feed_sparse]} | \`/?code=$SPARSE\`; its query alone in SQLite: ${SQL_SPARSE_US} µs |"
        if ((ANALYZED)); then
            echo "| **the feed page with the plan fixed** (\`ANALYZE\`, nothing else) | **${CPU_US[feed_analyzed]}** | \`/?code=$PLACE\` after \`ANALYZE\` |"
            echo "| the feed of $SPARSE_NAME with the plan fixed | ${CPU_US[feed_sparse_analyzed]} | \`/?code=$SPARSE\` after \`ANALYZE\` |"
            echo
            echo "With planner statistics (\`ANALYZE\` on this run's database, diagnostic) the feed runs at ${RPS[feed_analyzed]} req/s with p99 ${P99[feed_analyzed]} ms $(mark "$(le "${P99[feed_analyzed]}" "$GOAL_P99_MS" && echo 1 || echo 0)"),"
            echo "and $SPARSE_NAME's at ${RPS[feed_sparse_analyzed]} req/s with p99 ${P99[feed_sparse_analyzed]} ms $(mark "$(le "${P99[feed_sparse_analyzed]}" "$GOAL_P99_MS" && echo 1 || echo 0)")."
        fi
        if [[ ${PROFILED[feed]:-0} = 1 ]]; then
            echo
            echo "### perf profiles of gonggu (${P_SECS}s each, 999 Hz, flat)"
            echo
            echo "Samples by layer during \`GET /?code=$PLACE\`, during the uncached nationwide page \`GET /?cursor=…\` and, when it ran, during the feed after \`ANALYZE\`:"
            echo
            echo "| layer | % feed | % nationwide uncached | % feed after \`ANALYZE\` |"
            echo "| --- | ---: | ---: | ---: |"
            profile_layers "$RAW/perf-feed.txt" >"$TMP/layers-feed"
            : >"$TMP/layers-nation-p2"
            : >"$TMP/layers-feed-analyzed"
            for name in nation-p2 feed-analyzed; do
                if [[ ${PROFILED[$name]:-0} = 1 ]]; then profile_layers "$RAW/perf-$name.txt" >"$TMP/layers-$name"; fi
            done
            awk -F'|' 'FILENAME ~ /nation-p2$/ { b[$1] = $2; next } FILENAME ~ /feed-analyzed$/ { c[$1] = $2; next }
                { printf "| %s | %s | %s | %s |\n", $1, $2, ($1 in b ? b[$1] : "—"), ($1 in c ? c[$1] : "—") }' \
                "$TMP/layers-nation-p2" "$TMP/layers-feed-analyzed" "$TMP/layers-feed"
            for name in feed nation-p2 feed-analyzed; do
                [[ ${PROFILED[$name]:-0} = 1 ]] || continue
                echo
                echo "Top symbols, $name:"
                echo
                echo '```'
                awk '/^ +[0-9.]+%/ && n++ < 12 { print substr($0, 1, 150) }' "$RAW/perf-$name.txt"
                echo '```'
            done
        fi
        echo
        echo "### The feed's query in SQLite"
        echo
        echo "$PLAN_MD"
    fi
    echo
    echo "## Files"
    echo
    echo "- raw wrk output (seeding included), the pages as served, the seeded places and bench_places' output: \`bench/out/raw-places-$STAMP/\`"
    [[ $DIAGNOSE = 1 ]] && echo "- diagnostics: \`plans.md\`, \`perf-*.txt\`$( ((DB_KEPT)) && echo " and the seeded \`deals.db\` (a compact copy, $(($(stat -c %s "$RAW/deals.db") / 1024 / 1024)) MiB)") in the same directory"
    echo "- gonggu log (stdout + stderr, filter \`warn\`): \`bench/out/gonggu-places-$STAMP.log\` — $SERVER_WARNINGS warning/error lines"
    echo "- baseline log: \`bench/out/baseline-places-$STAMP.log\`"
} >"$SUMMARY"

cat "$SUMMARY"
log "summary written to $SUMMARY"
if [[ ${BENCH_STRICT:-0} = 1 && $P99_OK = 0 ]]; then
    die "the feed misses its goal: p99 ${P99[feed]} ms (≤ $GOAL_P99_MS)"
fi
