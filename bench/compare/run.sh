#!/bin/sh
# bench/compare/run.sh — paygate's whole payment flow against the
# hand-written floor, in the same run on the same machine.
#
# It runs the floor (a plain five-transaction flow on database/sql with no
# guarantees; it lives outside this repository) and then BenchmarkFlow
# (MariaDB, the PG answering in process), with the same number of
# concurrent buyers, and prints both figures and their ratio.
#
#   bench/compare/run.sh                  # from the repository root
#
# Environment (defaults in brackets):
#   PAYGATE_FLOOR_DIR     the floor's directory [/work/shared/bench/floor]
#   PAYGATE_BENCH_BUYERS  concurrent buyers, both sides [32]
#   PAYGATE_BENCH_FLOWS   flows, both sides [10000]
#   PAYGATE_FLOOR_DSN     the floor's -dsn [the floor's own default]
#   PAYGATE_TEST_MYSQL_DSN  the server BenchmarkFlow uses (see store/storetest)
set -eu

floor_dir=${PAYGATE_FLOOR_DIR:-/work/shared/bench/floor}
buyers=${PAYGATE_BENCH_BUYERS:-32}
flows=${PAYGATE_BENCH_FLOWS:-10000}
root=$(cd "$(dirname "$0")/../.." && pwd)

if [ ! -f "$floor_dir/main.go" ]; then
	echo "compare: no floor at $floor_dir (set PAYGATE_FLOOR_DIR)" >&2
	exit 2
fi
echo "floor: $floor_dir (PAYGATE_FLOOR_DIR), $buyers buyers, $flows flows"

set -- -c "$buyers" -n "$flows"
if [ -n "${PAYGATE_FLOOR_DSN:-}" ]; then
	set -- "$@" -dsn "$PAYGATE_FLOOR_DSN"
fi
floor_out=$(cd "$floor_dir" && go run . "$@")
echo "$floor_out"

bench_out=$(cd "$root" && CI=true PAYGATE_BENCH_BUYERS="$buyers" \
	go test -run '^$' -bench 'BenchmarkFlow$' -benchtime "${flows}x" -count 1 .)
echo "$bench_out" | grep -E '^(Benchmark|    bench_test)' || true

floor_rate=$(echo "$floor_out" | sed -n 's/.* \([0-9.]*\) flows\/s.*/\1/p')
paygate_rate=$(echo "$bench_out" | awk '/^BenchmarkFlow/ { for (i = 2; i <= NF; i++) if ($i == "flows/s") print $(i-1) }')
if [ -z "$floor_rate" ] || [ -z "$paygate_rate" ]; then
	echo "compare: could not read flows/s from both runs" >&2
	exit 1
fi
awk -v f="$floor_rate" -v p="$paygate_rate" -v c="$buyers" 'BEGIN {
	printf "paygate %.0f flows/s, floor %.0f flows/s, %d buyers: paygate/floor = %.2f\n", p, f, c, p / f
}'
