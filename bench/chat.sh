#!/usr/bin/env bash
# 공구마켓 chat benchmark (issue 10): one room, N clients, R messages a second, latency over every
# delivery (every message to every connected client), gonggu's socket against a socket.io 4 server
# (bench/chat/socketio, `io.to(room).emit`, websocket transport only) driven by the same load
# generator (crates/gonggu/examples/chat_load.rs) in the same run:
#   (a) 1,000 clients × 50 msg/s          goal: p99 <= 25 ms
#   (b) 5,000 clients × 10 msg/s          goal: p99 <= 100 ms
#   (c) memory per idle connection at 5,000 authenticated idle sockets (RSS growth ÷ 5,000), goal <= 20 KB
#   (d) two instances: gonggu on PostgreSQL + NATS (scaled mode) vs socket.io with
#       @socket.io/redis-adapter on two node processes; clients half/half, senders on both
# and everywhere: a lower p99 than socket.io, 0 messages lost, and (gonggu) as many messages in
# the chat database as were acknowledged. Rooms and tokens come from
# crates/gonggu/examples/chat_seed.rs (no sign-ups). Writes bench/out/chat-<date>.md (printed too).
#
# Usage: bash bench/chat.sh                  (15 s per measurement; about 5 minutes plus the build)
# Knobs: BENCH_SECONDS (15), BENCH_WARMUP_SECONDS (2), BENCH_CHAT_A (1000x50), BENCH_CHAT_B (5000x10),
#        BENCH_IDLE_CLIENTS (5000), BENCH_LOAD_THREADS (1: the generator's worker threads),
#        BENCH_CROSS (1; 0 skips part d), BENCH_CROSS_POINTS ("a b"),
#        BENCH_PG_URL (postgres://postgres@127.0.0.1:5432, no database), BENCH_NATS_URL
#        (nats://127.0.0.1:4222), BENCH_REDIS_URL (redis://127.0.0.1:6379), BENCH_STRICT=1 (exit 1
#        when a goal is missed). See bench/README.md, "Chat".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=chat-bench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
BENCH_SECONDS=${BENCH_SECONDS:-15}
read_common_knobs
POINT_A=${BENCH_CHAT_A:-1000x50}
POINT_B=${BENCH_CHAT_B:-5000x10}
IDLE_CLIENTS=${BENCH_IDLE_CLIENTS:-5000}
LOAD_THREADS=${BENCH_LOAD_THREADS:-1}
CROSS=${BENCH_CROSS:-1}
CROSS_POINTS=${BENCH_CROSS_POINTS:-a b}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_URL=${PG_URL%/}
NATS_URL=${BENCH_NATS_URL:-nats://127.0.0.1:4222}
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
# A fixed prefix: its JetStream stream is deleted before and after the run, so an aborted run
# leaves nothing behind for long.
NATS_PREFIX=gonggu-chatbench
declare -A GOAL_P99=([a]=25 [b]=100)
GOAL_KB=20

for p in "$POINT_A" "$POINT_B"; do
    [[ $p =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || { echo "BENCH_CHAT_A/B must look like 1000x50 (clients x msg/s), got '$p'" >&2; exit 2; }
done
for knob in IDLE_CLIENTS LOAD_THREADS CROSS; do
    [[ ${!knob} =~ ^[0-9]+$ ]] || { echo "BENCH_$knob must be an integer, got '${!knob}'" >&2; exit 2; }
done
declare -A CLIENTS=([a]=${POINT_A%x*} [b]=${POINT_B%x*}) RATE=([a]=${POINT_A#*x} [b]=${POINT_B#*x})
MAX_CLIENTS=$((CLIENTS[a] > CLIENTS[b] ? CLIENTS[a] : CLIENTS[b]))
((IDLE_CLIENTS > MAX_CLIENTS)) && MAX_CLIENTS=$IDLE_CLIENTS

# Every socket is a file: 5,000 of them on each side of loopback. gonggu raises its own limit;
# node and the generator inherit this one.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
((MAX_CLIENTS + 256 <= $(ulimit -n))) || { echo "open-file limit $(ulimit -n) is too low for $MAX_CLIENTS clients" >&2; exit 2; }

make_out_dirs raw-chat
SUMMARY=$OUT/chat-$STAMP.md

PG_DBS=()
SCALED_USED=0
cleanup_external() {
    drop_pg_dbs
    if ((SCALED_USED)); then nats_delete_stream || true; fi
    if [[ -n ${REDIS_KEY:-} ]]; then redis_cleanup || true; fi
}
start_cleanup cleanup_external

# --- tools and build -------------------------------------------------------------------
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((CROSS)); then
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
fi
if ((${#missing[@]})); then apt_install "${missing[@]}"; fi

log "building gonggu, chat_seed and chat_load (release; nice 10; this can take several minutes)"
(cd "$ROOT" && nice -n 10 cargo build --release -p gonggu --bin gonggu --example chat_seed --example chat_load) >&2
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
SEED=$BIN/examples/chat_seed
LOAD=$BIN/examples/chat_load
for b in "$BIN/gonggu" "$SEED" "$LOAD"; do [[ -x $b ]] || die "$b not found after the build"; done

SIO_DIR=$ROOT/bench/chat/socketio
log "installing the socket.io server's packages (npm ci)"
(cd "$SIO_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2
SIO_VERSION=$(cd "$SIO_DIR" && node -p 'require("socket.io/package.json").version')
ADAPTER_VERSION=$(cd "$SIO_DIR" && node -p 'require("@socket.io/redis-adapter/package.json").version')

# --- helpers ---------------------------------------------------------------------------
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; } # pid VmRSS
kb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
sum_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }
jv() { # json-file dotted.path -> the value (empty when absent)
    python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$1" "$2"
}
merge_json() { # file key=value... (numbers stay numbers)
    python3 -c '
import json, sys
f = sys.argv[1]; d = json.load(open(f))
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    try: d[k] = json.loads(v)
    except ValueError: d[k] = v
json.dump(d, open(f, "w"))' "$@"
}

start_sio() { # port log-file [VAR=value...] -> $! is node's pid (in PIDS too)
    local port=$1 log_file=$2
    shift 2
    (cd "$SIO_DIR" && exec env PORT="$port" "$@" node server.js) >"$log_file" 2>&1 &
    PIDS+=("$!")
}
GG_ENV=(GONGGU_HTTP__MAX_CONNECTIONS=$((MAX_CLIENTS * 2 + 1000)))

# Seeds a room of n members into dir's data (or database-url) -> ROOM_FILE path (room id + tokens)
seed_room() { # dir members name [database-url]
    local dir=$1 n=$2 name=$3 url=${4:-} f=$TMP/room-$3.txt
    mkdir -p "$dir/data"
    local -a db=()
    [[ -n $url ]] && db=(--database-url "$url")
    "$SEED" seed --data-dir "$dir/data" ${db[@]+"${db[@]}"} --members "$n" --prefix "$name" --out "$f" >/dev/null ||
        die "chat_seed failed for $name"
    ROOM_FILE=$f
}
persisted() { # dir room-file [database-url]
    local -a db=()
    [[ -n ${3:-} ]] && db=(--database-url "$3")
    "$SEED" count --data-dir "$1/data" ${db[@]+"${db[@]}"} --room "$(head -n1 "$2")" 2>>"$RAW/count.err" || echo "n/a"
}

# One measurement: the generator's JSON line in $RAW/<key>.json, with server CPU seconds added.
run_load() { # key target urls clients rate tokens-file|room server-pid...
    local key=$1 target=$2 urls=$3 clients=$4 rate=$5 src=$6 t0 t1
    shift 6
    local -a source_args=(--room "$src")
    [[ $target = gonggu ]] && source_args=(--tokens "$src")
    log "measuring $key: $target, $clients clients, $rate msg/s, ${BENCH_SECONDS}s (+${WARMUP_SECONDS}s warm-up)"
    t0=$(sum_ticks "$@")
    "$LOAD" --target "$target" --url "$urls" "${source_args[@]}" --clients "$clients" --rate "$rate" \
        --seconds "$BENCH_SECONDS" --warmup "$WARMUP_SECONDS" --threads "$LOAD_THREADS" --label "$key" \
        >"$RAW/$key.json" 2>"$RAW/$key.err" || die "chat_load failed for $key, see $RAW/$key.err"
    t1=$(sum_ticks "$@")
    merge_json "$RAW/$key.json" "server_cpu_s=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }')"
    log "  p99 $(jv "$RAW/$key.json" latency.p99_ms) ms, lost $(jv "$RAW/$key.json" lost), deliveries $(jv "$RAW/$key.json" deliveries)"
}

# (c): RSS of the server before and with n idle signed-in (joined) sockets.
declare -A MEM_BEFORE MEM_AFTER MEM_READY
measure_idle() { # key target url tokens-file|room server-pid
    local key=$1 target=$2 url=$3 src=$4 pid=$5 lp
    local -a source_args=(--room "$src")
    [[ $target = gonggu ]] && source_args=(--tokens "$src")
    sleep 2
    MEM_BEFORE[$key]=$(status_kb "$pid" VmRSS)
    log "memory $key: $target at $(kb "${MEM_BEFORE[$key]}"), opening $IDLE_CLIENTS idle sockets"
    "$LOAD" --target "$target" --url "$url" "${source_args[@]}" --clients "$IDLE_CLIENTS" --idle --hold 300 \
        --threads "$LOAD_THREADS" >"$RAW/$key.json" 2>"$RAW/$key.err" &
    lp=$!
    PIDS+=("$lp")
    for _ in $(seq 1200); do
        grep -q '"ready"' "$RAW/$key.json" 2>/dev/null && break
        kill -0 "$lp" 2>/dev/null || die "chat_load --idle exited, see $RAW/$key.err"
        sleep 0.1
    done
    grep -q '"ready"' "$RAW/$key.json" || die "the idle sockets did not open within 120 s"
    sleep 3
    MEM_AFTER[$key]=$(status_kb "$pid" VmRSS)
    MEM_READY[$key]=$(jv "$RAW/$key.json" ready)
    stop_pids "$lp"
    forget_pid "$lp"
    log "  $(kb "${MEM_AFTER[$key]}") with ${MEM_READY[$key]} sockets"
}

nats_delete_stream() { # the scaled run's JetStream stream, over the plain NATS protocol
    local hostport=${NATS_URL#nats://} out
    hostport=${hostport%/}
    out=$(timeout 5 bash -c '
        exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
        read -r -t 2 _ <&3
        printf "CONNECT {\"verbose\":false}\r\nSUB _INBOX.chatbench 1\r\nPUB \$JS.API.STREAM.DELETE.%s _INBOX.chatbench 0\r\n\r\n" "$2" >&3
        for _ in 1 2 3 4; do read -r -t 2 line <&3 || break; echo "$line"; done' _ "$hostport" "${NATS_PREFIX}_events" 2>/dev/null) || true
    [[ $out = *'"success":true'* || $out = *'stream not found'* ]] || log "could not delete the JetStream stream ${NATS_PREFIX}_events: ${out:-no answer}"
}
redis_cleanup() { # the socket.io adapter's keys (it mostly uses pub/sub; nothing should be left)
    local hostport=${REDIS_URL#redis://}
    hostport=${hostport%/}
    redis-cli -h "${hostport%:*}" -p "${hostport##*:}" --scan --pattern "$REDIS_KEY*" 2>/dev/null |
        xargs -r redis-cli -h "${hostport%:*}" -p "${hostport##*:}" del >/dev/null 2>&1 || true
}

LOAD_BEFORE=$(load_avg)
log "load average before the run: $LOAD_BEFORE"

# --- (a), (b): one instance each ------------------------------------------------------------
GG_DIR=$TMP/gonggu
GONGGU_LOG=$OUT/gonggu-chat-$STAMP.log
SIO_LOG=$OUT/socketio-chat-$STAMP.log
declare -A ROOM_OF
for p in a b; do
    seed_room "$GG_DIR" "${CLIENTS[$p]}" "room_$p"
    ROOM_OF[$p]=$ROOM_FILE
done
log "seeded rooms of ${CLIENTS[a]} and ${CLIENTS[b]} members into $GG_DIR/data/chat.db"

gg_port=$(free_port)
start_gonggu "$GG_DIR" "$gg_port" "$GONGGU_LOG" "${GG_ENV[@]}"
GG_PID=$!
sio_port=$(free_port)
while [[ $sio_port = "$gg_port" ]]; do sio_port=$(free_port); done
start_sio "$sio_port" "$SIO_LOG"
SIO_PID=$!
wait_up gonggu "$GG_PID" "http://127.0.0.1:$gg_port/healthz"
wait_up socket.io "$SIO_PID" "http://127.0.0.1:$sio_port/healthz"
log "gonggu on :$gg_port (pid $GG_PID), socket.io on :$sio_port (pid $SIO_PID)"

declare -A PERSISTED
for p in a b; do
    run_load "$p-gonggu" gonggu "ws://127.0.0.1:$gg_port" "${CLIENTS[$p]}" "${RATE[$p]}" "${ROOM_OF[$p]}" "$GG_PID"
    PERSISTED[$p-gonggu]=$(persisted "$GG_DIR" "${ROOM_OF[$p]}")
    run_load "$p-socketio" socketio "ws://127.0.0.1:$sio_port" "${CLIENTS[$p]}" "${RATE[$p]}" "room-$p" "$SIO_PID"
done
stop_pids "$GG_PID" "$SIO_PID"
forget_pid "$GG_PID"
forget_pid "$SIO_PID"

# --- (c): memory per idle connection, each server fresh -----------------------------------------
seed_room "$GG_DIR" "$IDLE_CLIENTS" room_idle
IDLE_ROOM=$ROOM_FILE
gg_port=$(free_port)
start_gonggu "$GG_DIR" "$gg_port" "$GONGGU_LOG.idle" "${GG_ENV[@]}"
GG_PID=$!
wait_up gonggu "$GG_PID" "http://127.0.0.1:$gg_port/healthz"
measure_idle c-gonggu gonggu "ws://127.0.0.1:$gg_port" "$IDLE_ROOM" "$GG_PID"
stop_pids "$GG_PID"
forget_pid "$GG_PID"
cat "$GONGGU_LOG.idle" >>"$GONGGU_LOG" && rm -f "$GONGGU_LOG.idle"

sio_port=$(free_port)
start_sio "$sio_port" "$SIO_LOG.idle"
SIO_PID=$!
wait_up socket.io "$SIO_PID" "http://127.0.0.1:$sio_port/healthz"
measure_idle c-socketio socketio "ws://127.0.0.1:$sio_port" room-idle "$SIO_PID"
stop_pids "$SIO_PID"
forget_pid "$SIO_PID"
cat "$SIO_LOG.idle" >>"$SIO_LOG" && rm -f "$SIO_LOG.idle"

# --- (d): two instances -------------------------------------------------------------------
CROSS_NOTE=""
if ((CROSS)); then
    nats_hp=${NATS_URL#nats://}
    redis_hp=${REDIS_URL#redis://}
    if ! psql -d "$PG_URL/postgres" -Atqc 'SELECT 1' >/dev/null 2>&1; then
        CROSS_NOTE="skipped: PostgreSQL is not reachable at $PG_URL"
    elif ! port_in_use "${nats_hp##*:}"; then
        CROSS_NOTE="skipped: NATS is not reachable at $NATS_URL"
    elif ! redis-cli -h "${redis_hp%:*}" -p "${redis_hp##*:}" ping >/dev/null 2>&1; then
        CROSS_NOTE="skipped: Redis is not reachable at $REDIS_URL"
    fi
fi
((CROSS)) || CROSS_NOTE="skipped (BENCH_CROSS=0)"
declare -A CROSS_ROOM
if [[ -z $CROSS_NOTE ]]; then
    db="gonggu_chatbench_$(date +%Y%m%d%H%M%S)_$$"
    psql -d "$PG_URL/postgres" -Atqc "CREATE DATABASE $db" >/dev/null || die "CREATE DATABASE $db failed"
    PG_DBS+=("$db")
    DB_URL=$PG_URL/$db
    SCALED_USED=1
    nats_delete_stream # a stream an aborted run left
    REDIS_KEY=gonggu-chatbench-$$
    # Both instances need the same token key; the seeder reads it from the same variable.
    GONGGU_AUTH__JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')
    export GONGGU_AUTH__JWT_SECRET
    for p in $CROSS_POINTS; do
        seed_room "$TMP/scaled" "${CLIENTS[$p]}" "scaled_$p" "$DB_URL"
        CROSS_ROOM[$p]=$ROOM_FILE
    done
    log "scaled mode: database $db, NATS $NATS_URL (prefix $NATS_PREFIX), rooms seeded"
    SCALED_ENV=(GONGGU_BUS=nats GONGGU_NATS__URL="$NATS_URL" GONGGU_NATS__PREFIX="$NATS_PREFIX" GONGGU_DATABASE__URL="$DB_URL"
        GONGGU_AUTH__JWT_SECRET="$GONGGU_AUTH__JWT_SECRET")
    gg_pids=() gg_urls=() sio_pids=() sio_urls=()
    for i in 1 2; do
        port=$(free_port)
        start_gonggu "$TMP/scaled$i" "$port" "$OUT/gonggu-chat-scaled$i-$STAMP.log" "${GG_ENV[@]}" "${SCALED_ENV[@]}"
        gg_pids+=("$!")
        wait_up "gonggu $i" "$!" "http://127.0.0.1:$port/healthz"
        gg_urls+=("ws://127.0.0.1:$port")
    done
    unset GONGGU_AUTH__JWT_SECRET
    for i in 1 2; do
        port=$(free_port)
        start_sio "$port" "$OUT/socketio-chat-scaled$i-$STAMP.log" REDIS_URL="$REDIS_URL" REDIS_KEY="$REDIS_KEY"
        sio_pids+=("$!")
        wait_up "socket.io $i" "$!" "http://127.0.0.1:$port/healthz"
        sio_urls+=("ws://127.0.0.1:$port")
    done
    log "scaled: gonggu ${gg_urls[*]}, socket.io ${sio_urls[*]} (redis adapter)"
    for p in $CROSS_POINTS; do
        run_load "d$p-gonggu" gonggu "$(IFS=,; echo "${gg_urls[*]}")" "${CLIENTS[$p]}" "${RATE[$p]}" "${CROSS_ROOM[$p]}" "${gg_pids[@]}"
        PERSISTED[d$p-gonggu]=$(persisted "$TMP/scaled" "${CROSS_ROOM[$p]}" "$DB_URL")
        run_load "d$p-socketio" socketio "$(IFS=,; echo "${sio_urls[*]}")" "${CLIENTS[$p]}" "${RATE[$p]}" "room-d$p" "${sio_pids[@]}"
    done
    stop_pids "${gg_pids[@]}" "${sio_pids[@]}"
    for p in "${gg_pids[@]}" "${sio_pids[@]}"; do forget_pid "$p"; done
fi
LOAD_AFTER=$(load_avg)

# --- the summary -----------------------------------------------------------------------------
MISSED=()
# One table row per measurement, from the generator's JSON line.
row() { # key point server persisted
    python3 - "$RAW/$1.json" "$2" "$3" "$4" <<'PY'
import json, sys
f, point, server, persisted = sys.argv[1:5]
d = json.load(open(f))
L = d["latency"]
ms = lambda x: "n/a" if x is None else f"{x:.2f}"
n = lambda x: f"{x:,}"
closes = ", ".join(f"{k} × {v}" for k, v in d["closes"].items()) or "0"
refused = ", ".join(f"{k} × {v}" for k, v in d["errors"].items())
acked = f"{n(d['acked_total'])} / {n(d['sent_total'])}" + (f" (refused: {refused})" if refused else "")
lost = n(d["lost"]) + (f" ({n(d['lost_while_connected'])} while connected)" if d["lost"] != d["lost_while_connected"] else "")
print(f"| {point} | {server} | {n(d['clients_ready'])} | {d['rate']:g} ({d['achieved_rate']:g}) | {d['senders']} | "
      f"{ms(L['p50_ms'])} | {ms(L['p90_ms'])} | **{ms(L['p99_ms'])}** | {ms(L['max_ms'])} | "
      f"{n(d['deliveries'])} / {n(d['expected'])} | {lost} | {d['duplicates']} | {closes} | {acked} | {persisted} | {d['server_cpu_s']} |")
PY
}
cross_row() { # key server
    python3 - "$RAW/$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ms = lambda x: "n/a" if x is None else f"{x:.2f}"
for part in ("same_instance", "cross_instance"):
    p = d.get(part)
    if not p: continue
    L = p["latency"]
    print(f"| {d['label']} | {sys.argv[2]} | {part.replace('_', ' ')} | {ms(L['p50_ms'])} | {ms(L['p99_ms'])} | {ms(L['max_ms'])} | {p['deliveries']:,} / {p['expected']:,} | {p['lost']:,} |")
PY
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 < b + 0) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }
goal_lines() { # point-key (a, b, da, db) label p99-goal|-
    local k=$1 label=$2 goal=$3 g s gl sp ack per
    g=$RAW/$k-gonggu.json s=$RAW/$k-socketio.json
    gl=$(jv "$g" latency.p99_ms) sp=$(jv "$s" latency.p99_ms)
    if [[ $goal != - ]]; then
        if le "$gl" "$goal"; then echo "- $label: gonggu p99 $gl ms ≤ $goal ms — **met**"
        else echo "- $label: gonggu p99 $gl ms ≤ $goal ms — **missed**"; MISSED+=("$label p99"); fi
    fi
    if lt "$gl" "$sp"; then echo "- $label: gonggu p99 $gl ms < socket.io's $sp ms — **met**"
    else echo "- $label: gonggu p99 $gl ms < socket.io's $sp ms — **missed**"; MISSED+=("$label vs socket.io"); fi
    if [[ $(jv "$g" lost) = 0 && $(jv "$g" duplicates) = 0 ]]; then echo "- $label: gonggu lost 0 of $(jv "$g" expected) deliveries — **met**"
    else echo "- $label: gonggu lost $(jv "$g" lost) of $(jv "$g" expected) deliveries ($(jv "$g" duplicates) duplicates) — **missed**"; MISSED+=("$label lost"); fi
    ack=$(jv "$g" acked_total) per=${PERSISTED[$k-gonggu]}
    if [[ $per = "$ack" ]]; then echo "- $label: gonggu persisted $per messages = $ack acknowledged — **met**"
    else echo "- $label: gonggu persisted $per messages, $ack acknowledged — **missed**"; MISSED+=("$label persisted"); fi
}
mem_row() { # key server
    local k=$1 per
    per=$(awk -v a="${MEM_AFTER[$k]}" -v b="${MEM_BEFORE[$k]}" -v n="${MEM_READY[$k]}" 'BEGIN { if (n > 0) printf "%.1f", (a - b) / n; else print "n/a" }')
    MEM_PER[$k]=$per
    echo "| $2 | $(kb "${MEM_BEFORE[$k]}") | $(kb "${MEM_AFTER[$k]}") | ${MEM_READY[$k]} | **$per KB** |"
}
declare -A MEM_PER

{
    echo "# Chat benchmark — $STAMP"
    echo
    echo "Commit $(git_commit). One room; every message goes to every client in it (the sender too); latency is receive time − send time of every delivery, both taken from the system clock in the one generator process (crates/gonggu/examples/chat_load.rs, $LOAD_THREADS worker thread(s)), counted over ${BENCH_SECONDS} s after a ${WARMUP_SECONDS} s warm-up. The rate is spread over senders sending ≤ 5 msg/s each."
    echo
    machine_rows memory
    echo "| load average (1/5/15 min) before / at the end (includes the benchmark's own load) | $LOAD_BEFORE / $LOAD_AFTER |"
    echo "| tools | node $(node --version), socket.io $SIO_VERSION, @socket.io/redis-adapter $ADAPTER_VERSION, $(rustc --version 2>/dev/null || echo rustc unknown) |"
    echo
    echo "## One instance: gonggu (SQLite, writes each message before the ack and the broadcast) vs socket.io 4 (stores nothing)"
    echo
    echo "| point | server | clients | msg/s (achieved) | senders | p50 ms | p90 ms | p99 ms | max ms | deliveries / expected | lost | dup | closed by server | acked / sent | rows in chat.db | server CPU s |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
    for p in a b; do
        row "$p-gonggu" "($p) ${CLIENTS[$p]} × ${RATE[$p]}" gonggu "${PERSISTED[$p-gonggu]}"
        row "$p-socketio" "($p) ${CLIENTS[$p]} × ${RATE[$p]}" socket.io "—"
    done
    echo
    echo "## (c) Memory per idle connection ($IDLE_CLIENTS signed-in sockets, joined, idle; fresh server each)"
    echo
    echo "| server | RSS before | RSS with the sockets | sockets | RSS growth per socket |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    mem_row c-gonggu gonggu
    mem_row c-socketio socket.io
    echo
    echo "## (d) Two instances: gonggu (PostgreSQL + NATS) vs socket.io (@socket.io/redis-adapter), clients and senders half on each"
    echo
    if [[ -n $CROSS_NOTE ]]; then
        echo "$CROSS_NOTE"
    else
        echo "| point | server | clients | msg/s (achieved) | senders | p50 ms | p90 ms | p99 ms | max ms | deliveries / expected | lost | dup | closed by server | acked / sent | rows in PostgreSQL | server CPU s (both) |"
        echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
        for p in $CROSS_POINTS; do
            row "d$p-gonggu" "(d$p) ${CLIENTS[$p]} × ${RATE[$p]}" gonggu "${PERSISTED[d$p-gonggu]}"
            row "d$p-socketio" "(d$p) ${CLIENTS[$p]} × ${RATE[$p]}" socket.io "—"
        done
        echo
        echo "| point | server | deliveries | p50 ms | p99 ms | max ms | deliveries / expected | lost |"
        echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
        for p in $CROSS_POINTS; do
            cross_row "d$p-gonggu" gonggu
            cross_row "d$p-socketio" socket.io
        done
    fi
    echo
    echo "## Goals (reported, not asserted)"
    echo
    goal_lines a "(a) ${CLIENTS[a]} × ${RATE[a]}" "${GOAL_P99[a]}"
    goal_lines b "(b) ${CLIENTS[b]} × ${RATE[b]}" "${GOAL_P99[b]}"
    if le "${MEM_PER[c-gonggu]}" "$GOAL_KB"; then echo "- (c) gonggu ${MEM_PER[c-gonggu]} KB per idle connection ≤ $GOAL_KB KB — **met** (socket.io: ${MEM_PER[c-socketio]} KB)"
    else echo "- (c) gonggu ${MEM_PER[c-gonggu]} KB per idle connection ≤ $GOAL_KB KB — **missed** (socket.io: ${MEM_PER[c-socketio]} KB)"; MISSED+=("(c) memory"); fi
    if [[ -z $CROSS_NOTE ]]; then
        for p in $CROSS_POINTS; do goal_lines "d$p" "(d$p) ${CLIENTS[$p]} × ${RATE[$p]}, two instances" -; done
    fi
    echo
    echo "Logs: $(basename "$GONGGU_LOG") ($(warning_lines "$GONGGU_LOG") warning/error lines), $(basename "$SIO_LOG"); raw JSON lines in $(basename "$RAW")/."
} >"$SUMMARY"
cat "$SUMMARY"
log "summary written to $SUMMARY"
if [[ ${BENCH_STRICT:-0} = 1 && ${#MISSED[@]} -gt 0 ]]; then exit 1; fi
