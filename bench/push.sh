#!/usr/bin/env bash
# Push benchmarks (bench/README.md, "Push"): fan-out to 10,000 devices and keyword matching
# over 100,000 users, each against its baseline in the same run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p bench/out
out="bench/out/push-$(date -u +%Y-%m-%d-%H%M%S).md"
cargo build --release -p gonggu-push --examples
{
    echo "# Push benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
    echo
    echo '## Fan-out to 10,000 devices'
    echo '```'
    target/release/examples/bench_fanout "${PUSH_DEVICES:-10000}"
    echo '```'
    echo
    echo '## Keyword matching, 100,000 users'
    echo '```'
    target/release/examples/bench_keywords "${PUSH_USERS:-100000}"
    echo '```'
} | tee "$out"
echo "written: $out"
