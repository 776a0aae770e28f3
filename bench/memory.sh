#!/usr/bin/env bash
# Memory after a burst of password hashing: starts the release binary, notes its idle VmRSS (the
# baseline), signs up MEMORY_USERS people MEMORY_CONCURRENCY at a time (each: register, then log
# in twice, so three Argon2id hashes of 19 MiB each), waits MEMORY_IDLE_SECONDS and notes VmRSS
# again. Goal: idle RSS after the load <= 60 MB. Writes bench/out/memory-<date>.md (printed too).
#
# Usage: bash bench/memory.sh
# Knobs: MEMORY_USERS (default 60), MEMORY_CONCURRENCY (16), MEMORY_IDLE_SECONDS (5),
#        MEMORY_GOAL_MB (60), BENCH_STRICT=1 (exit 1 when the goal is missed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=memory
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
USERS=${MEMORY_USERS:-60}
CONCURRENCY=${MEMORY_CONCURRENCY:-16}
IDLE_SECONDS=${MEMORY_IDLE_SECONDS:-5}
GOAL_MB=${MEMORY_GOAL_MB:-60}
PASSWORD=coffee-and-tissues-42
for knob in USERS CONCURRENCY IDLE_SECONDS GOAL_MB; do
    [[ ${!knob} =~ ^[0-9]+$ ]] || { echo "MEMORY_$knob must be an integer, got '${!knob}'" >&2; exit 2; }
done

make_out_dirs memory-raw
SUMMARY=$OUT/memory-$STAMP.md
GONGGU_LOG=$OUT/gonggu-memory-$STAMP.log

start_cleanup
command -v curl >/dev/null 2>&1 || apt_install curl
log "building gonggu (release; this can take several minutes)"
(cd "$ROOT" && cargo build --release -p gonggu) >&2
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
[[ -x $BIN/gonggu ]] || die "release binary not found in $BIN"

port=$(free_port)
start_gonggu "$TMP" "$port" "$GONGGU_LOG"
GG_PID=$!
GG_URL=http://127.0.0.1:$port
wait_up gonggu "$GG_PID" "$GG_URL/healthz"

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; } # pid VmRSS|VmHWM
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
threads() { awk '$1 == "Threads:" { print $2 }' "/proc/$1/status"; }

sleep 2 # let start-up settle (migrations, the dummy hash)
BASE_KB=$(status_kb "$GG_PID" VmRSS)
BASE_THREADS=$(threads "$GG_PID")
log "idle after start: $(mb "$BASE_KB") MB, $BASE_THREADS threads"

# One person: register and log in twice, each from its own address so no per-address limit bites.
one_user() {
    local i=$1 ip s body
    ip="10.$((i / 64516 % 256)).$((i / 254 % 254 + 1)).$((i % 254 + 1))"
    body="{\"login_id\":\"mem_$i\",\"email\":\"mem_$i@example.com\",\"password\":\"$PASSWORD\"}"
    s=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
        -H "X-Forwarded-For: $ip" -d "$body" "$GG_URL/api/v1/auth/register" || echo 000)
    echo "register $s"
    for _ in 1 2; do
        s=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
            -H "X-Forwarded-For: $ip" -d "{\"login_id\":\"mem_$i\",\"password\":\"$PASSWORD\"}" \
            "$GG_URL/api/v1/auth/login" || echo 000)
        echo "login $s"
    done
}
export -f one_user
export GG_URL PASSWORD

log "signing up $USERS people, $CONCURRENCY at a time"
t0=$(date +%s.%N)
seq 1 "$USERS" | xargs -P "$CONCURRENCY" -I{} bash -c 'one_user {}' >"$RAW/statuses.txt"
t1=$(date +%s.%N)
LOAD_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
LOADED_KB=$(status_kb "$GG_PID" VmRSS)
PEAK_KB=$(status_kb "$GG_PID" VmHWM)
LOADED_THREADS=$(threads "$GG_PID")
log "right after the load: $(mb "$LOADED_KB") MB (peak $(mb "$PEAK_KB") MB), $LOADED_THREADS threads"

sleep "$IDLE_SECONDS"
IDLE_KB=$(status_kb "$GG_PID" VmRSS)
IDLE_THREADS=$(threads "$GG_PID")
log "idle ${IDLE_SECONDS}s after the load: $(mb "$IDLE_KB") MB, $IDLE_THREADS threads"

counts=$(sort "$RAW/statuses.txt" | uniq -c | awk '{ printf "%s%s %s × %s", sep, $2, $3, $1; sep = ", " }')
expected_ok=$((USERS * 3))
ok=$(grep -cE '^(register 201|login 200)$' "$RAW/statuses.txt" || true)
IDLE_MB=$(mb "$IDLE_KB")
verdict=met
awk -v a="$IDLE_MB" -v g="$GOAL_MB" 'BEGIN { exit !(a <= g) }' || verdict="missed"

{
    echo "# Memory after password hashing — $STAMP"
    echo
    echo "Commit $(git_commit). $USERS sign-ups (register + 2 logins: $expected_ok Argon2id hashes of 19 MiB), $CONCURRENCY at a time."
    echo
    machine_rows memory
    echo "| load average (1/5/15 min, at the end) | $(load_avg) |"
    echo
    echo "| moment | VmRSS | threads |"
    echo "| --- | ---: | ---: |"
    echo "| idle after start (baseline) | $(mb "$BASE_KB") MB | $BASE_THREADS |"
    echo "| right after the load (${LOAD_SECONDS} s) | $(mb "$LOADED_KB") MB | $LOADED_THREADS |"
    echo "| peak (VmHWM) | $(mb "$PEAK_KB") MB | |"
    echo "| idle ${IDLE_SECONDS} s after the load | **$IDLE_MB MB** | $IDLE_THREADS |"
    echo
    echo "Goal: idle RSS after the load ≤ $GOAL_MB MB — **$verdict** (growth over the baseline: $(mb $((IDLE_KB - BASE_KB))) MB)."
    echo
    echo "Answers: $counts ($ok of $expected_ok succeeded; 503 would be the hashing queue refusing)."
    echo "Server log: $(basename "$GONGGU_LOG"), $(warning_lines "$GONGGU_LOG") warning/error lines."
} >"$SUMMARY"
cat "$SUMMARY"
log "summary written to $SUMMARY"
if [[ ${BENCH_STRICT:-0} = 1 && $verdict != met ]]; then exit 1; fi
