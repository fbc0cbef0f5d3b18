#!/bin/sh
# The benchmark command (README): builds the workspace in release mode, then runs
# the whole benchmark suite (switch latency, decision throughput, AWS call economy,
# footprint), prints a table and writes JSON to <target dir>/bench/ (latest.json and
# one file per run). Run as root on Debian: it creates users, installs setuid test
# clients and a PAM service in temporary places, and removes them again.
#
# Arguments are passed to ssm-runas-bench, e.g.
#   scripts/bench.sh --quick                      (1 s runs, 2 repetitions)
#   scripts/bench.sh --parts throughput,footprint (only some parts)
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/bench.sh: run as root (the suite creates users and setuid clients)" >&2
    exit 2
fi
scripts/deps.sh
start=$(date +%s)
cargo build --release --workspace --locked
BENCH_BUILD_SECS=$(($(date +%s) - start))
export BENCH_BUILD_SECS
echo "scripts/bench.sh: release build took ${BENCH_BUILD_SECS} s" >&2
target=$(cargo metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
CARGO=$(command -v cargo)
export CARGO
exec "$target/release/ssm-runas-bench" --out "$target/bench" "$@"
