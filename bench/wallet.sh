#!/usr/bin/env bash
# 공구마켓 wallet benchmark: transfers/s through the HTTP API, on SQLite (synchronous=FULL) and on
# PostgreSQL, against the raw engine ceiling measured in the same run. For each engine:
#   1. gonggu with a fresh database: 50 users registered, logged in and charged 100,000 each, then
#      POST /api/v1/wallet/transfers with 32 connections (bench/transfer.lua) ...... HTTP transfers/s
#   2. bench/baseline's ledger-ceiling: the same transfer SQL shape minus HTTP, auth, idempotency
#      answers, outbox and history columns, 32 clients ............................ the ceiling
#   3. diagnostics (BENCH_DIAGNOSE=1, the default): ledger-ceiling with the wallet's other
#      statements added back (and on SQLite the wallet's group commit), without and with the
#      outbox relay; the outbox backlog left when the load stops; on SQLite the fsyncs per
#      transfer, counted with strace on a short extra run ........................ where time goes
#   4. gonggu wallet verify on the HTTP run's ledger .............................. must say "ledger OK"
# then the bank test (crates/gonggu/tests/bank.rs) in release with GONGGU_BANK_TRANSFERS transfers
# on both engines. Goals: >= 2,000 transfers/s on SQLite and >= 1,500/s on PostgreSQL at 32 clients.
# Writes bench/out/wallet-<date>.md (printed at the end too).
#
# Usage: bash bench/wallet.sh                  (10 s per measurement)
#        BENCH_SECONDS=30 bash bench/wallet.sh
# Knobs: BENCH_WARMUP_SECONDS (2), GONGGU_BANK_TRANSFERS (20000; 0 skips the bank test),
#        BENCH_ENGINES ("sqlite postgres"), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432, no
#        database name), BENCH_DIAGNOSE (1), BENCH_STRICT=1 (exit 1 when a goal is missed).
# See bench/README.md for what the figures mean.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=wallet-bench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
read_common_knobs
BANK_TRANSFERS=${GONGGU_BANK_TRANSFERS:-20000}
ENGINES=${BENCH_ENGINES:-sqlite postgres}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_URL=${PG_URL%/}
DIAGNOSE=${BENCH_DIAGNOSE:-1}
THREADS=2
CONNS=32
USERS=50
CHARGE=100000
PASSWORD=coffee-and-tissues-42
declare -A GOAL=([sqlite]=2000 [postgres]=1500)

[[ $BANK_TRANSFERS =~ ^[0-9]+$ ]] || { echo "GONGGU_BANK_TRANSFERS must be an integer, got '$BANK_TRANSFERS'" >&2; exit 2; }
for e in $ENGINES; do
    [[ $e = sqlite || $e = postgres ]] || { echo "BENCH_ENGINES: unknown engine '$e' (sqlite, postgres)" >&2; exit 2; }
done
[[ $PG_URL =~ ^postgres(ql)?://[^/]+$ ]] || { echo "BENCH_PG_URL must be postgres://user@host:port without a database, got '$PG_URL'" >&2; exit 2; }

make_out_dirs raw-wallet
SUMMARY=$OUT/wallet-$STAMP.md

PG_DBS=()
# 10 s rather than 5 for each process to stop: gonggu is stopped mid-run here, before
# `gonggu wallet verify` reads its database.
STOP_GRACE=100
start_cleanup drop_pg_dbs

# --- tools -----------------------------------------------------------------------------
extra_packages=()
if [[ $ENGINES = *postgres* ]] && ! command -v psql >/dev/null 2>&1; then extra_packages+=(postgresql-client); fi
install_tools ${extra_packages[@]+"${extra_packages[@]}"}
if [[ $ENGINES = *postgres* ]]; then
    psql -d "$PG_URL/postgres" -Atqc 'SELECT 1' >/dev/null 2>&1 ||
        die "PostgreSQL is not reachable at $PG_URL/postgres (start it, set BENCH_PG_URL, or BENCH_ENGINES=sqlite)"
fi

# --- build -----------------------------------------------------------------------------
build_release "gonggu, ledger-ceiling and the bank test" gonggu ledger-ceiling
if ((BANK_TRANSFERS > 0)); then
    (cd "$ROOT" && cargo test --release -p gonggu --test bank --no-run) >&2
fi

# --- measuring helpers -----------------------------------------------------------------
comm_ticks() { # name -> "pid ticks" for every process called that (e.g. all postgres backends)
    local f c pid
    for f in /proc/[0-9]*/comm; do
        c=$(cat "$f" 2>/dev/null) || continue
        [[ $c = "$1" ]] || continue
        pid=${f#/proc/}
        pid=${pid%/comm}
        awk -v p="$pid" '{ print p, $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || true
    done
}
# The block device under the temp dir, for its flush counter (fsyncs that reach the disk).
BLOCK_DEV=""
src=$(df --output=source "$TMP" 2>/dev/null | tail -n1)
dev=$(basename "$src")
if [[ -e /sys/block/$dev/stat ]]; then
    BLOCK_DEV=$dev
elif [[ -e /sys/class/block/$dev/partition ]]; then
    BLOCK_DEV=$(basename "$(dirname "$(readlink -f "/sys/class/block/$dev")")")
fi
[[ -n $BLOCK_DEV && -e /sys/block/$BLOCK_DEV/stat ]] || BLOCK_DEV=""
flushes() { if [[ -n $BLOCK_DEV ]]; then awk '{ print $16 }' "/sys/block/$BLOCK_DEV/stat"; else echo ""; fi; }
pg_wal() { # db -> "wal-bytes wal-syncs" (cluster-wide; pg_stat_wal lags up to 1 s)
    psql -d "$PG_URL/$1" -Atqc "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint || ' ' || wal_sync FROM pg_stat_wal" 2>/dev/null || echo ""
}
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" 'BEGIN { if (a != "" && b > 0) printf f, a / b; else print "n/a" }'; }
outbox_backlog() { # engine data-dir db -> outbox rows not yet published (empty when it cannot tell)
    if [[ $1 = sqlite ]]; then
        command -v python3 >/dev/null 2>&1 || return 0
        python3 -c 'import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=10)
print(c.execute("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL").fetchone()[0])' "$2/wallet.db" 2>/dev/null || true
    else
        psql -d "$PG_URL/$3" -Atqc "SELECT COUNT(*) FROM wallet.outbox WHERE published_at IS NULL" 2>/dev/null || true
    fi
}
wait_drained() { # engine data-dir db -> seconds until the outbox relay has published everything (max 120)
    local t0=$SECONDS n
    while ((SECONDS - t0 < 120)); do
        n=$(outbox_backlog "$@")
        [[ -z $n || $n = 0 ]] && break
        sleep 0.2
    done
    echo $((SECONDS - t0))
}

declare -A HTTP_RPS HTTP_TPS P50 P99 MADE REFUSED OTHER STATUSES SOCKERR GG_CPU PG_CPU FLUSH WALB WALS
declare -A CEIL_TPS CEIL_P99 CEIL_CPU CEIL_SRV CEIL_FLUSH CEIL_WALB CEIL_WALS CEIL_ERR
# Diagnostic runs of ledger-ceiling, "<engine> <arguments>|<what it is>", shown from the HTTP
# run down to the raw ceiling. They mirror the wallet's current code: on SQLite its group commit.
DIAG_RUNS=(
    "sqlite --extras lean,batchrelay --group-commit 64"
    "sqlite --extras lean --group-commit 64"
    "sqlite --group-commit 64"
    "postgres --extras lean,batchrelay"
    "postgres --extras lean"
)
declare -A DIAG_WHAT=(
    ["sqlite --extras lean,batchrelay --group-commit 64"]="the wallet's statement sequence + group commit + batch outbox relay, no HTTP"
    ["sqlite --extras lean --group-commit 64"]="the wallet's statement sequence + group commit, no HTTP"
    ["sqlite --group-commit 64"]="the raw transfer + group commit"
    ["postgres --extras lean,batchrelay"]="the wallet's statement sequence + batch outbox relay, no HTTP"
    ["postgres --extras lean"]="the wallet's statement sequence, no HTTP"
)
declare -A DIAG VERIFY VERIFY_OK WARNINGS BANK BANK_OK FSYNCS BACKLOG DRAIN SUSTAINED ALL_MADE
FAILURES=()

# --- one engine: HTTP measurement, ceiling, diagnostics, verify ---------------------------
rand_octet() { echo $((RANDOM % 254 + 1)); }
run_engine() { # sqlite|postgres
    local engine=$1 idx=$2
    local dir=$TMP/$engine db="" db_url="" port url gg_pid log_file=$OUT/gonggu-wallet-$engine-$STAMP.log
    mkdir -p "$dir/data"
    local -a env_db=()
    if [[ $engine = postgres ]]; then
        db="gonggu_bench_$(date +%Y%m%d%H%M%S)_$$"
        psql -d "$PG_URL/postgres" -Atqc "CREATE DATABASE $db" >/dev/null || die "CREATE DATABASE $db failed"
        PG_DBS+=("$db")
        db_url="$PG_URL/$db"
        env_db=(GONGGU_DATABASE__URL="$db_url")
        log "postgres: database $db"
    fi

    port=$(free_port)
    url=http://127.0.0.1:$port
    start_gonggu "$dir" "$port" "$log_file" ${env_db[@]+"${env_db[@]}"}
    gg_pid=$!
    wait_up gonggu "$gg_pid" "$url/healthz"
    log "$engine: gonggu on $url (pid $gg_pid); creating $USERS users"

    # Users: register, log in and charge each one, every user from its own X-Forwarded-For
    # address (sign-up is limited to 10/hour and login to 30/min per address).
    local users_file=$dir/users.txt i login ip s
    : >"$users_file"
    for ((i = 0; i < USERS; i++)); do
        login=$(printf 'wb_%02d' "$i")
        ip="10.$idx.$((i / 200)).$((i % 200 + 1))"
        sign_up "$url" "$login" "$ip" "$dir/r.json" "$engine: "
        s=$(curl -sS -o "$dir/r.json" -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' -H "X-Forwarded-For: $ip" \
            -H "Authorization: Bearer $ACCESS_TOKEN" -H "Idempotency-Key: bench-charge-$STAMP-$i" \
            -d "{\"amount\":$CHARGE}" "$url/api/v1/wallet/charge")
        [[ $s = 201 ]] || die "$engine: charge for $login answered $s: $(cat "$dir/r.json")"
        echo "$login $ACCESS_TOKEN" >>"$users_file"
    done
    # One transfer by hand, so a broken setup fails here with a readable answer.
    s=$(curl -sS -o "$dir/r.json" -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $(awk 'NR == 1 { print $2 }' "$users_file")" -H "Idempotency-Key: bench-probe-$STAMP" \
        -d '{"to_login_id":"wb_01","amount":1}' "$url/api/v1/wallet/transfers")
    [[ $s = 201 ]] || die "$engine: a probe transfer answered $s: $(cat "$dir/r.json")"

    local target=$url/api/v1/wallet/transfers
    local wrk_args=(-t"$THREADS" -c"$CONNS" --timeout 10s -s "$ROOT/bench/transfer.lua" "$target" -- "$users_file")
    if ((WARMUP_SECONDS > 0)); then
        log "$engine: warm-up (${WARMUP_SECONDS}s)"
        wrk -d"${WARMUP_SECONDS}s" "${wrk_args[@]}" >"$RAW/http-$engine-warmup.txt" 2>&1 || die "wrk warm-up failed, see $RAW/http-$engine-warmup.txt"
    fi

    log "$engine: measuring POST /api/v1/wallet/transfers ($CONNS connections, ${BENCH_SECONDS}s)"
    local f=$RAW/http-$engine.txt t0 t1 fl0 fl1 wal0="" wal1=""
    t0=$(cpu_ticks "$gg_pid")
    comm_ticks postgres >"$dir/pg0"
    fl0=$(flushes)
    [[ $engine = postgres ]] && wal0=$(pg_wal "$db")
    wrk -d"${BENCH_SECONDS}s" --latency "${wrk_args[@]}" >"$f" 2>&1 || die "wrk failed, see $f"
    t1=$(cpu_ticks "$gg_pid")
    comm_ticks postgres >"$dir/pg1"
    fl1=$(flushes)
    [[ $engine = postgres ]] && wal1=$(pg_wal "$db")
    # Each transfer writes a CoinsReceived event to the outbox; the relay publishes it later.
    # What it has not published when the load stops is work the measured window left undone.
    local drain_start
    drain_start=$(date +%s.%N)
    BACKLOG[$engine]=$(outbox_backlog "$engine" "$dir/data" "$db")
    BACKLOG[$engine]=${BACKLOG[$engine]:-n/a}
    DRAIN[$engine]=n/a
    if [[ ${BACKLOG[$engine]} != n/a ]]; then
        wait_drained "$engine" "$dir/data" "$db" >/dev/null
        DRAIN[$engine]=$(awk -v a="$drain_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    fi

    local secs reqs
    HTTP_RPS[$engine]=$(wrk_rps "$f")
    [[ -n ${HTTP_RPS[$engine]} ]] || die "could not parse wrk output $f"
    reqs=$(wrk_requests "$f")
    secs=$(awk '/ requests in / { v = $4; sub(/,$/, "", v); print v }' "$f")
    secs=$(awk -v ms="$(to_ms "$secs")" 'BEGIN { printf "%.3f", ms / 1000 }')
    P50[$engine]=$(wrk_latency_ms "$f" 50)
    P99[$engine]=$(wrk_latency_ms "$f" 99)
    MADE[$engine]=$(awk '/^transfers: / { print $2 }' "$f")
    REFUSED[$engine]=$(awk '/^transfers: / { print $5 }' "$f")
    OTHER[$engine]=$(awk '/^transfers: / { print $8 }' "$f")
    # Every status but 201, e.g. "409 × 3, 500 × 1".
    STATUSES[$engine]=$(awk '/^status [0-9]+: / && $2 != "201:" { c = $2; sub(/:$/, "", c); printf "%s%s × %s", sep, c, $3; sep = ", " }' "$f")
    SOCKERR[$engine]=$(wrk_socket_errors "$f")
    HTTP_TPS[$engine]=$(div "${MADE[$engine]:-0}" "$secs" "%.0f")
    # Transfers per second of warm-up + window + drain: the rate at which transfers *and* their
    # events got done (the warm-up counts because its events are part of the backlog too).
    local w_made=0 w_secs=0
    if [[ -s $RAW/http-$engine-warmup.txt ]]; then
        w_made=$(awk '/^transfers: / { print $2 }' "$RAW/http-$engine-warmup.txt")
        w_secs=$(awk '/ requests in / { v = $4; sub(/,$/, "", v); print v }' "$RAW/http-$engine-warmup.txt")
        w_secs=$(awk -v ms="$(to_ms "$w_secs")" 'BEGIN { printf "%.3f", ms / 1000 }')
    fi
    ALL_MADE[$engine]=$(( ${w_made:-0} + ${MADE[$engine]:-0} ))
    SUSTAINED[$engine]=n/a
    [[ ${DRAIN[$engine]} = n/a ]] ||
        SUSTAINED[$engine]=$(div "${ALL_MADE[$engine]}" "$(awk -v a="$secs" -v b="${DRAIN[$engine]}" -v c="${w_secs:-0}" 'BEGIN { print a + b + c }')" "%.0f")
    GG_CPU[$engine]=$(div "$(((t1 - t0) * 1000000 / CLK_TCK))" "$reqs")
    PG_CPU[$engine]="—"
    if [[ $engine = postgres ]]; then
        PG_CPU[$engine]=$(div "$(($(sum_delta "$dir/pg0" "$dir/pg1") * 1000000 / CLK_TCK))" "$reqs")
    fi
    FLUSH[$engine]=$( [[ -n $fl0 ]] && div "$((fl1 - fl0))" "$reqs" "%.2f" || echo n/a)
    WALB[$engine]="—"
    WALS[$engine]="—"
    if [[ -n $wal0 && -n $wal1 ]]; then
        WALB[$engine]=$(div "$((${wal1% *} - ${wal0% *}))" "$reqs" "%.0f")
        WALS[$engine]=$(div "$((${wal1#* } - ${wal0#* }))" "$reqs" "%.2f")
    fi

    kill -0 "$gg_pid" 2>/dev/null || die "gonggu died during the benchmark (see $log_file)"

    # Diagnostic, SQLite: fsyncs per transfer, counted by strace on a short extra run (strace
    # slows the server, so this run's speed is not a measurement; the count per transfer is).
    FSYNCS[$engine]="—"
    if [[ $DIAGNOSE = 1 && $engine = sqlite ]] && command -v strace >/dev/null 2>&1; then
        local st_secs=$((BENCH_SECONDS < 5 ? BENCH_SECONDS : 5)) st_pid st_reqs st_calls
        log "sqlite: counting fsyncs per transfer with strace (${st_secs}s, not a measurement)"
        strace -f -qq -c -e trace=fsync,fdatasync -o "$RAW/strace-sqlite.txt" -p "$gg_pid" 2>/dev/null &
        st_pid=$!
        PIDS+=("$st_pid")
        sleep 1
        wrk -d"${st_secs}s" "${wrk_args[@]}" >"$RAW/http-sqlite-strace.txt" 2>&1 || true
        wait_drained "$engine" "$dir/data" "$db" >/dev/null # the relay's commits for these transfers
        sleep 0.5
        kill -TERM "$st_pid" 2>/dev/null || true # (a background job ignores SIGINT)
        wait "$st_pid" 2>/dev/null || true
        forget_pid "$st_pid"
        st_reqs=$(wrk_requests "$RAW/http-sqlite-strace.txt")
        st_calls=$(awk '$NF == "fsync" || $NF == "fdatasync" { n += $4 } END { print n + 0 }' "$RAW/strace-sqlite.txt" 2>/dev/null || echo 0)
        if [[ -n $st_reqs && $st_calls -gt 0 ]]; then FSYNCS[$engine]=$(div "$st_calls" "$st_reqs" "%.2f"); fi
    fi
    stop_pids "$gg_pid"
    forget_pid "$gg_pid"
    WARNINGS[$engine]=$(warning_lines "$log_file")

    # The ceiling, same engine, same clients, same durations.
    local c_args=(--engine "$engine" --clients "$CONNS" --seconds "$BENCH_SECONDS" --warmup-seconds "$WARMUP_SECONDS")
    [[ -n $BLOCK_DEV ]] && c_args+=(--block-dev "$BLOCK_DEV")
    if [[ $engine = sqlite ]]; then
        c_args+=(--url "$dir/ceiling.db")
    else
        c_args+=(--url "$db_url" --server-comm postgres)
    fi
    log "$engine: measuring the raw engine ceiling ($CONNS clients, ${BENCH_SECONDS}s)"
    f=$RAW/ceiling-$engine.txt
    "$BIN/ledger-ceiling" "${c_args[@]}" >"$f" 2>&1 || die "ledger-ceiling failed on $engine (see $f)"
    CEIL_TPS[$engine]=$(result_field "$f" tps | awk '{ printf "%.0f", $1 }')
    CEIL_P99[$engine]=$(result_field "$f" p99_ms)
    CEIL_CPU[$engine]=$(result_field "$f" cpu_us)
    CEIL_SRV[$engine]=$(result_field "$f" server_cpu_us)
    CEIL_FLUSH[$engine]=$(result_field "$f" flushes)
    CEIL_WALB[$engine]=$(result_field "$f" wal_bytes)
    CEIL_WALS[$engine]=$(result_field "$f" wal_syncs)
    CEIL_ERR[$engine]=$(result_field "$f" errors)
    [[ -n ${CEIL_TPS[$engine]} ]] || die "no RESULT line in $f"

    # Diagnostics: the wallet's whole statement sequence without HTTP, without and with the relay.
    # On SQLite they use the wallet's group commit (one writer, up to 64 movements per commit,
    # a savepoint each: `write_batches` in crates/wallet/src/store.rs), as the app does.
    if [[ $DIAGNOSE = 1 ]]; then
        local d
        for d in "${DIAG_RUNS[@]}"; do
            [[ $d = "$engine "* ]] || continue
            local -a d_args
            read -r -a d_args <<<"${d#* }"
            f=$RAW/ceiling-$engine$(printf '%s' "${d#* }" | tr -s ' ,' '--' | sed 's/--*/-/g').txt
            log "$engine: diagnostic ledger-ceiling ${d#* }"
            if [[ $engine = sqlite ]]; then rm -f "$dir"/ceiling.db*; fi
            "$BIN/ledger-ceiling" "${c_args[@]}" "${d_args[@]}" >"$f" 2>&1 || die "ledger-ceiling ${d#* } failed on $engine (see $f)"
            DIAG[$d]="$(result_field "$f" tps | awk '{ printf "%.0f", $1 }')|$(result_field "$f" p99_ms)|$(result_field "$f" cpu_us)|$(result_field "$f" server_cpu_us)|$(result_field "$f" flushes)|$(result_field "$f" wal_bytes)|$(result_field "$f" backlog)"
        done
    fi

    # The HTTP run's ledger must hold every invariant.
    log "$engine: gonggu wallet verify"
    local out
    if out=$(cd "$dir" && env GONGGU_DATA_DIR="$dir/data" GONGGU_LOG__FILTER=warn ${env_db[@]+"${env_db[@]}"} "$BIN/gonggu" wallet verify 2>&1); then :; fi
    echo "$out" >"$RAW/verify-$engine.txt"
    VERIFY[$engine]=$(grep -m1 -E 'ledger OK|VIOLATION|error' <<<"$out" || echo "$out" | head -n1)
    if grep -q 'ledger OK' <<<"$out"; then
        VERIFY_OK[$engine]=1
    else
        VERIFY_OK[$engine]=0
        FAILURES+=("gonggu wallet verify on $engine: ${VERIFY[$engine]}")
    fi
}

LOAD_BEFORE=$(load_avg)
FSYNC_US=n/a
# How long one durable 4 KiB write takes where the SQLite files live (what a commit waits for).
if dd if=/dev/zero of="$TMP/fsync-probe" bs=4k count=500 oflag=dsync 2>"$TMP/dd.txt" >/dev/null; then
    FSYNC_US=$(awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") t = $(i - 1) } END { if (t != "") printf "%.0f", t * 1e6 / 500; else print "n/a" }' "$TMP/dd.txt")
fi
rm -f "$TMP/fsync-probe"

i=0
for engine in $ENGINES; do
    run_engine "$engine" "$i"
    i=$((i + 1))
done

# --- the bank test, in release, one engine at a time ------------------------------------
run_bank() { # sqlite|postgres
    local engine=$1 f=$RAW/bank-$1.txt
    log "bank test on $engine ($BANK_TRANSFERS transfers)"
    if (cd "$ROOT" && env GONGGU_BANK_TRANSFERS="$BANK_TRANSFERS" GONGGU_TEST_DATABASE_URL="$PG_URL/postgres" GONGGU_REQUIRE_POSTGRES=1 \
        cargo test --release -p gonggu --test bank -- --nocapture --exact "bank_test_on_$engine") >"$f" 2>&1; then
        BANK_OK[$engine]=1
    else
        BANK_OK[$engine]=0
        FAILURES+=("bank test on $engine failed (see bench/out/raw-wallet-$STAMP/bank-$engine.txt)")
    fi
    BANK[$engine]=$(grep -m1 '^bank test:' "$f" || echo "no 'bank test:' line (see bench/out/raw-wallet-$STAMP/bank-$engine.txt)")
}
if ((BANK_TRANSFERS > 0)); then
    for engine in $ENGINES; do run_bank "$engine"; done
fi

LOAD_AFTER=$(load_avg)

# --- summary ---------------------------------------------------------------------------
FS_TYPE=$(df --output=fstype "$TMP" 2>/dev/null | tail -n1)
PG_INFO="not measured"
if [[ $ENGINES = *postgres* ]]; then
    PG_INFO=$(psql -d "$PG_URL/postgres" -Atqc "SELECT split_part(version(), ' ', 2) || ', synchronous_commit=' || current_setting('synchronous_commit')
        || ', fsync=' || current_setting('fsync') || ', wal_sync_method=' || current_setting('wal_sync_method')
        || ', shared_buffers=' || current_setting('shared_buffers')" 2>/dev/null || echo unknown)
fi

declare -A PCT VERDICT
ALL_MET=1
for engine in $ENGINES; do
    PCT[$engine]=$(pct "${HTTP_TPS[$engine]}" "${CEIL_TPS[$engine]}")
    if ge "${HTTP_TPS[$engine]}" "${GOAL[$engine]}"; then
        VERDICT[$engine]="✅ ≥ ${GOAL[$engine]}/s"
    else
        VERDICT[$engine]="❌ < ${GOAL[$engine]}/s"
        ALL_MET=0
    fi
done
name_of() { [[ $1 = sqlite ]] && echo "SQLite (WAL, synchronous=FULL)" || echo "PostgreSQL (synchronous_commit=on)"; }

{
    echo "# 공구마켓 wallet benchmark — $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo
    machine_rows memory
    echo "| disk | SQLite files on ${FS_TYPE:-unknown} (${BLOCK_DEV:-device unknown}); one 4 KiB O_DSYNC write takes ${FSYNC_US} µs |"
    echo "| PostgreSQL | $PG_INFO |"
    echo "| date | $(date -u '+%Y-%m-%dT%H:%M:%SZ') |"
    echo "| git commit | $(git_commit) |"
    echo "| load average (1/5/15 min) before the run / at its end (includes the benchmark's own load) | $LOAD_BEFORE / $LOAD_AFTER |"
    echo "| tools | $(tool_versions) |"
    echo "| settings | ${BENCH_SECONDS}s per measurement after ${WARMUP_SECONDS}s warm-up; $CONNS connections / clients; wrk $THREADS threads; $USERS users charged $CHARGE each; amounts 1..1000 |"
    echo
    echo "The client (wrk) runs on the same cores as the server and the database, so absolute figures"
    echo "are low and noisy; the ratio to the ceiling of the same run is what counts."
    echo
    echo "## Transfers/s"
    echo
    echo "| engine | HTTP transfers/s (201) | HTTP req/s | p50 ms | p99 ms | non-2xx | socket errors | raw ceiling transfers/s | HTTP % of ceiling | goal | sustained with the outbox relay's work |"
    echo "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: |"
    for engine in $ENGINES; do
        non2xx=$(( ${REFUSED[$engine]:-0} + ${OTHER[$engine]:-0} ))
        breakdown=""
        [[ -n ${STATUSES[$engine]} ]] && breakdown=" (${STATUSES[$engine]})"
        printf '| %s | %s | %s | %s | %s | %s%s | %s | %s | %s %% | %s | %s |\n' \
            "$(name_of "$engine")" "${HTTP_TPS[$engine]}" "${HTTP_RPS[$engine]}" "${P50[$engine]}" "${P99[$engine]}" \
            "$non2xx" "$breakdown" "${SOCKERR[$engine]}" \
            "${CEIL_TPS[$engine]}" "${PCT[$engine]}" "${VERDICT[$engine]}" "${SUSTAINED[$engine]}"
    done
    echo
    echo "## Where the time goes"
    echo
    echo "Per transfer, during the measured window. CPU from \`/proc/<pid>/stat\` (user + system, all"
    echo "threads); \"database server\" is every \`postgres\` process. Device flushes are the disk's flush"
    echo "requests (\`/sys/block/${BLOCK_DEV:-?}/stat\`, whole machine): what the fsyncs of a commit cost on the disk."
    echo "WAL figures are cluster-wide (\`pg_current_wal_lsn\`, \`pg_stat_wal\`)."
    echo
    echo "Outbox: every transfer writes an event that the relay publishes afterwards. Events not yet"
    echo "published when the load stopped (of the transfers made in warm-up + window), the time the relay"
    echo "then needed to publish them, and transfers per second of warm-up + window + that time — the"
    echo "rate at which transfers *and* their events got done, which is what a longer run would sustain:"
    echo
    for engine in $ENGINES; do
        echo "- $engine: ${BACKLOG[$engine]} unpublished of ${ALL_MADE[$engine]} made, drained in ${DRAIN[$engine]} s → **${SUSTAINED[$engine]} transfers/s including the relay's work**."
    done
    if [[ ${FSYNCS[sqlite]:-—} != — ]]; then
        echo
        echo "SQLite, counted with strace on a short extra HTTP run, relay drain included: **${FSYNCS[sqlite]} fsync calls"
        echo "per HTTP transfer** in gonggu (synchronous=FULL fsyncs the WAL once per commit; SQLite commits one at a time)."
    fi
    echo
    echo "| engine | run | transfers/s | p99 ms | app / client CPU µs | database server CPU µs | device flushes | WAL bytes | outbox backlog at the end |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for engine in $ENGINES; do
        printf '| %s | HTTP API (gonggu) | %s | %s | %s | %s | %s | %s | %s |\n' "$engine" "${HTTP_TPS[$engine]}" "${P99[$engine]}" \
            "${GG_CPU[$engine]}" "${PG_CPU[$engine]}" "${FLUSH[$engine]}" "${WALB[$engine]}" "${BACKLOG[$engine]}"
        if [[ $DIAGNOSE = 1 ]]; then
            for d in "${DIAG_RUNS[@]}"; do
                [[ $d = "$engine "* && -n ${DIAG[$d]:-} ]] || continue
                IFS='|' read -r d_tps d_p99 d_cpu d_srv d_fl d_wal d_bl <<<"${DIAG[$d]}"
                [[ $engine = sqlite ]] && d_srv="—" && d_wal="—"
                [[ $d_bl = n/a ]] && d_bl="—"
                printf '| %s | %s: `ledger-ceiling %s` | %s | %s | %s | %s | %s | %s | %s |\n' "$engine" "${DIAG_WHAT[$d]}" "${d#* }" \
                    "$d_tps" "$d_p99" "$d_cpu" "$d_srv" "$d_fl" "$d_wal" "$d_bl"
            done
        fi
        srv=${CEIL_SRV[$engine]}
        wal=${CEIL_WALB[$engine]}
        [[ $engine = sqlite ]] && srv="—" && wal="—"
        printf '| %s | **raw ceiling**, one transfer per transaction: `ledger-ceiling` | %s | %s | %s | %s | %s | %s | — |\n' "$engine" "${CEIL_TPS[$engine]}" "${CEIL_P99[$engine]}" \
            "${CEIL_CPU[$engine]}" "$srv" "${CEIL_FLUSH[$engine]}" "$wal"
    done
    echo
    echo "## Correctness"
    echo
    for engine in $ENGINES; do
        mark=✅
        [[ ${VERIFY_OK[$engine]} = 1 ]] || mark=❌
        echo "- **gonggu wallet verify ($engine, after the HTTP run):** $mark \`${VERIFY[$engine]}\`"
        [[ ${CEIL_ERR[$engine]:-0} = 0 ]] || echo "- ledger-ceiling on $engine reported ${CEIL_ERR[$engine]} failed transactions (see its raw output)."
    done
    if ((BANK_TRANSFERS > 0)); then
        for engine in $ENGINES; do
            mark=✅
            [[ ${BANK_OK[$engine]} = 1 ]] || mark=❌
            echo "- **bank test ($engine, GONGGU_BANK_TRANSFERS=$BANK_TRANSFERS, release):** $mark \`${BANK[$engine]}\`"
        done
    else
        echo "- bank test skipped (GONGGU_BANK_TRANSFERS=0)"
    fi
    echo
    echo "## Goals"
    echo
    for engine in $ENGINES; do
        echo "- **$(name_of "$engine")**: ${HTTP_TPS[$engine]} durable transfers/s through the HTTP API at $CONNS connections, ${PCT[$engine]} % of the raw ceiling (${CEIL_TPS[$engine]}/s) — ${VERDICT[$engine]}."
    done
    echo
    echo "## Files"
    echo
    echo "- raw output (wrk, ledger-ceiling, verify, bank test): \`bench/out/raw-wallet-$STAMP/\`"
    for engine in $ENGINES; do
        echo "- gonggu log on $engine (filter \`warn\`): \`bench/out/gonggu-wallet-$engine-$STAMP.log\` — ${WARNINGS[$engine]} warning/error lines"
    done
} >"$SUMMARY"

cat "$SUMMARY"
log "summary written to $SUMMARY"
if ((${#FAILURES[@]})); then
    for f in "${FAILURES[@]}"; do log "FAILED: $f"; done
    exit 1
fi
if [[ ${BENCH_STRICT:-0} = 1 && $ALL_MET = 0 ]]; then
    die "a transfers/s goal was missed"
fi
