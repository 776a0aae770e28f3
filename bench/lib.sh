# shellcheck shell=bash
# shellcheck disable=SC2034 # the arrays filled here are read by the scripts that source this file
# What bench/run.sh, bench/wallet.sh and bench/deals.sh have in common. Each script sets ROOT
# (the work tree) and BENCH_NAME (the prefix of its log lines and of its temp dir) and then
# sources this file under its own `set -euo pipefail`. The wrk helpers also read the script's
# THREADS, RAW and WARMUP_SECONDS.

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# --- knobs and output ------------------------------------------------------------------
read_common_knobs() { # -> BENCH_SECONDS, WARMUP_SECONDS
    BENCH_SECONDS=${BENCH_SECONDS:-10}
    WARMUP_SECONDS=${BENCH_WARMUP_SECONDS:-2}
    [[ $BENCH_SECONDS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_SECONDS must be a positive integer, got '$BENCH_SECONDS'" >&2; exit 2; }
    [[ $WARMUP_SECONDS =~ ^[0-9]+$ ]] || { echo "BENCH_WARMUP_SECONDS must be an integer, got '$WARMUP_SECONDS'" >&2; exit 2; }
}
make_out_dirs() { # raw-dir-prefix -> OUT, STAMP, RAW=$OUT/<prefix>-$STAMP (both created)
    OUT=$ROOT/bench/out
    STAMP=$(date +%Y-%m-%d-%H%M%S)
    RAW=$OUT/$1-$STAMP
    mkdir -p "$OUT" "$RAW"
}

# --- cleanup: everything started or created here goes away on any exit ----------------------
PIDS=()
STOP_GRACE=50 # tenths of a second a process gets between TERM and KILL
CLEANUP_HOOK=""
stop_pids() { # pid... (all are sent TERM first, so their grace periods overlap)
    local pid
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$@"; do
        for _ in $(seq "$STOP_GRACE"); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
forget_pid() { # a pid stopped already: no longer cleanup's business
    local p kept=()
    for p in ${PIDS[@]+"${PIDS[@]}"}; do [[ $p = "$1" ]] || kept+=("$p"); done
    PIDS=(${kept[@]+"${kept[@]}"})
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pids ${PIDS[@]+"${PIDS[@]}"}
    if [[ -n $CLEANUP_HOOK ]]; then "$CLEANUP_HOOK"; fi
    rm -rf "$TMP"
    exit "$rc"
}
# shellcheck disable=SC2120 # the argument is optional
start_cleanup() { # [function to run once the processes are stopped] -> TMP, the run's temp dir
    CLEANUP_HOOK=${1:-}
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/gonggu-$BENCH_NAME.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# --- tools and build -------------------------------------------------------------------
apt_install() {
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then sudo=sudo; fi
    log "installing $* with apt-get"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
# shellcheck disable=SC2120 # the arguments are optional
install_tools() { # [more packages known to be missing]: wrk and curl too, if missing
    local missing=()
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    missing+=("$@")
    if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
    command -v wrk >/dev/null 2>&1 || die "wrk is still missing after apt-get"
}
build_release() { # what-for-the-log binary... -> BIN, the directory holding those binaries
    log "building $1 (release; this can take several minutes)"
    shift
    (cd "$ROOT" && cargo build --release -p gonggu -p gonggu-bench-baseline) >&2
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
    [[ $BIN = /* ]] || BIN=$ROOT/$BIN
    local b
    for b in "$@"; do
        [[ -x $BIN/$b ]] || die "release binaries not found in $BIN"
    done
}

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
start_gonggu() { # dir port log-file [VAR=value...] -> $! is its pid (in PIDS too); data in <dir>/data
    local dir=$1 port=$2 log_file=$3
    shift 3
    mkdir -p "$dir/data"
    # Started from the temp dir so that no ./gonggu.toml of the work tree is picked up.
    (
        cd "$dir" || exit
        exec env GONGGU_DATA_DIR="$dir/data" \
            GONGGU_HTTP__ADDR="127.0.0.1:$port" \
            GONGGU_PUBLIC_URL="http://127.0.0.1:$port" \
            GONGGU_HTTP__TRUST_PROXY=true \
            GONGGU_LOG__FILTER=warn \
            "$@" \
            "$BIN/gonggu" serve
    ) >"$log_file" 2>&1 &
    PIDS+=("$!")
}
start_servers() { # bench-baseline and gonggu (data in $TMP/data), logging to BASELINE_LOG and GONGGU_LOG
    # -> BASE_PID, BASE_URL, GG_PID, GG_URL, both answering
    local base_port gg_port
    base_port=$(free_port)
    "$BIN/bench-baseline" "127.0.0.1:$base_port" >"$BASELINE_LOG" 2>&1 &
    BASE_PID=$!
    PIDS+=("$BASE_PID")

    gg_port=$(free_port)
    while [[ $gg_port = "$base_port" ]]; do gg_port=$(free_port); done
    start_gonggu "$TMP" "$gg_port" "$GONGGU_LOG"
    GG_PID=$!

    BASE_URL=http://127.0.0.1:$base_port
    GG_URL=http://127.0.0.1:$gg_port
    wait_up bench-baseline "$BASE_PID" "$BASE_URL/bare"
    wait_up gonggu "$GG_PID" "$GG_URL/healthz"
    log "baseline on $BASE_URL (pid $BASE_PID), gonggu on $GG_URL (pid $GG_PID)"
}
sign_up() { # url login ip scratch-file [die-prefix] -> ACCESS_TOKEN: register, then log in with the script's PASSWORD
    local url=$1 login=$2 ip=$3 r=$4 what=${5:-} s
    s=$(curl -sS -o "$r" -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' -H "X-Forwarded-For: $ip" \
        -d "{\"login_id\":\"$login\",\"email\":\"$login@example.com\",\"password\":\"$PASSWORD\"}" "$url/api/v1/auth/register")
    [[ $s = 201 ]] || die "${what}register $login answered $s: $(cat "$r")"
    s=$(curl -sS -o "$r" -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' -H "X-Forwarded-For: $ip" \
        -d "{\"login_id\":\"$login\",\"password\":\"$PASSWORD\"}" "$url/api/v1/auth/login")
    [[ $s = 200 ]] || die "${what}login $login answered $s: $(cat "$r")"
    ACCESS_TOKEN=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$r")
    [[ -n $ACCESS_TOKEN ]] || die "${what}no access_token in the login answer for $login"
}

# --- measuring -------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime of a process, all threads
sum_delta() { # before-file after-file of "id count" lines -> growth summed over the ids alive at the end (new ones count from 0)
    awk 'NR == FNR { b[$1] = $2; next } { d += $2 - ($1 in b ? b[$1] : 0) } END { print d + 0 }' "$1" "$2"
}
result_field() { # file key -> value from a "RESULT key=value ..." line (ledger-ceiling, deals_plan.py)
    awk -v k="$2" '/^RESULT / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$1"
}
to_ms() { # "612.5us" / "1.20ms" / "2.01s" / "1.5m" -> milliseconds
    awk -v v="$1" 'BEGIN {
        n = v; sub(/[a-z]+$/, "", n); u = v; sub(/^[0-9.]+/, "", u)
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
        if (v == "" || f < 0) print "n/a"; else printf "%.2f\n", n * f
    }'
}
wrk_rps() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$1"; }
wrk_latency_ms() { # file percentile -> milliseconds, from wrk --latency
    to_ms "$(awk -v p="$2%" '/Latency Distribution/ { d = 1; next } d && $1 == p { print $2; exit }' "$1")"
}
wrk_requests() { awk '/ requests in / { print $1 }' "$1"; }
wrk_socket_errors() { # connect + read + write + timeout
    local n
    n=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$1")
    echo "${n:-0}"
}

# Filled by parse_wrk and run_wrk, one entry a measurement key.
declare -A RPS P50 P99 NON2XX SOCKERR REQS CONN_OF WHAT_OF STATUSES CPU_US
parse_wrk() { # key file
    local f=$2
    RPS[$1]=$(wrk_rps "$f")
    P50[$1]=$(wrk_latency_ms "$f" 50)
    P99[$1]=$(wrk_latency_ms "$f" 99)
    NON2XX[$1]=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f")
    NON2XX[$1]=${NON2XX[$1]:-0}
    SOCKERR[$1]=$(wrk_socket_errors "$f")
    REQS[$1]=$(wrk_requests "$f")
    # The "status <code>: <count>" lines that bench/*.lua print, e.g. "200 × 5, 429 × 1".
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
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "n/a" && b != "n/a" && b > 0) printf "%.1f", 100 * a / b; else print "n/a" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "n/a" && a + 0 >= b + 0) }'; }

# --- the summary ----------------------------------------------------------------------
load_avg() { cut -d' ' -f1-3 /proc/loadavg; } # 1, 5 and 15 minutes
# shellcheck disable=SC2120 # the argument is optional
machine_rows() { # [memory]: the machine table's header and rows up to the kernel
    local cpu
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    echo "| machine | |"
    echo "| --- | --- |"
    echo "| cores (nproc) | $(nproc) |"
    echo "| CPU | ${cpu:-unknown} |"
    if [[ ${1:-} = memory ]]; then awk '/^MemTotal:/ { printf "| memory | %.1f GiB |\n", $2 / 1048576 }' /proc/meminfo; fi
    echo "| kernel | $(uname -r) |"
}
git_commit() {
    local c
    c=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then c="$c (work tree has uncommitted changes)"; fi
    echo "$c"
}
# (awk rather than head: no SIGPIPE under pipefail)
tool_versions() { echo "$(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }'), $(rustc --version 2>/dev/null || echo rustc unknown)"; }
warning_lines() { grep -ciE '"level":"(WARN|ERROR)"|panicked' "$1" || true; } # in a gonggu log

# --- PostgreSQL databases a benchmark made (PG_DBS, PG_URL): dropped on any exit ------------
drop_pg_dbs() {
    local db
    for db in ${PG_DBS[@]+"${PG_DBS[@]}"}; do
        psql -d "$PG_URL/postgres" -Atqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $db; drop it by hand"
    done
}
