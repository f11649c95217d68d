#!/bin/sh
# bench/compare/run.sh — paygate's whole payment flow against the
# hand-written floor, on the same machine, in alternating runs.
#
# It builds the floor (a plain five-transaction flow on database/sql with no
# guarantees; it lives outside this repository) and the root package's test
# binary once, then runs them in turn, floor first, ROUNDS times, with the
# same concurrent buyers and flows: the floor, then BenchmarkFlow (MariaDB,
# the PG answering in process). Each round prints both figures and their
# ratio; the last line is the median of the rounds' ratios. A machine whose
# speed moves from minute to minute moves both runs of a round alike, so
# the median of alternating rounds is the figure to read, not one run.
#
# Each round then runs BenchmarkFlowByHand: the floor's flow, statement
# for statement, in this repository's benchmarks, which times what the
# floor's own output does not — its approval (the claim before the PG call
# and the outcome after it). paygate's own time per approve
# (overhead-p50-ms: Approve minus its PG call) is printed against it, and
# the last line gives the median of those ratios too.
#
# Beside flows/s each run's CPU a flow is printed: the database server's
# (from /proc/<pid>/stat of the local mariadbd or mysqld, when there is
# one) and the client process's (the shell's children times). CPU a flow
# moves less with the machine than flows/s does.
#
#   bench/compare/run.sh                  # from anywhere in the repository
#
# Environment (defaults in brackets):
#   PAYGATE_FLOOR_DIR       the floor's directory [/work/shared/bench/floor]
#   PAYGATE_BENCH_BUYERS    concurrent buyers, both sides [32]
#   PAYGATE_BENCH_FLOWS     flows a run, both sides [10000]
#   PAYGATE_COMPARE_ROUNDS  rounds of one floor run and one paygate run [3]
#   PAYGATE_FLOOR_DSN       the floor's -dsn [the floor's own default]
#   PAYGATE_TEST_MYSQL_DSN  the server BenchmarkFlow uses (see store/storetest)
set -eu

floor_dir=${PAYGATE_FLOOR_DIR:-/work/shared/bench/floor}
buyers=${PAYGATE_BENCH_BUYERS:-32}
flows=${PAYGATE_BENCH_FLOWS:-10000}
rounds=${PAYGATE_COMPARE_ROUNDS:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)

if [ ! -f "$floor_dir/main.go" ]; then
	echo "compare: no floor at $floor_dir (set PAYGATE_FLOOR_DIR)" >&2
	exit 2
fi
case $rounds in
'' | *[!0-9]* | 0)
	echo "compare: PAYGATE_COMPARE_ROUNDS must be a positive number, not '$rounds'" >&2
	exit 2
	;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
(cd "$floor_dir" && go build -o "$work/floor" .)
(cd "$root" && go test -c -o "$work/paygate.test" .)

cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "machine: $cores cores${model:+, $model}; load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
echo "floor: $floor_dir (PAYGATE_FLOOR_DIR); $buyers buyers, $flows flows a run, $rounds rounds"

server_pid=$(pidof mariadbd 2>/dev/null || pidof mysqld 2>/dev/null || true)
server_pid=${server_pid%% *}
ticks=$(getconf CLK_TCK)

# server_cpu prints the database server's CPU time so far, in ticks, or
# nothing when it is not a local process this user can read.
server_cpu() {
	if [ -n "$server_pid" ] && [ -r "/proc/$server_pid/stat" ]; then
		# Fields 14 and 15 (user, system) counted after the process name,
		# which is in parentheses and may hold spaces.
		sed 's/^.*) //' "/proc/$server_pid/stat" | awk '{ print $12 + $13 }'
	fi
}

# client_cpu prints the CPU seconds of this shell's finished children
# (times runs in this shell, not in a command substitution's subshell,
# whose children are not this shell's).
client_cpu() {
	times >"$work/times"
	awk 'NR == 2 {
		total = 0
		for (i = 1; i <= 2; i++) {
			split($i, t, "m"); sub("s", "", t[2]); total += t[1] * 60 + t[2]
		}
		printf "%.3f\n", total
	}' "$work/times"
}

# cpu_line prints the server's and the client's CPU a flow between two
# readings.
cpu_line() {
	awk -v s0="$1" -v s1="$2" -v c0="$3" -v c1="$4" -v hz="$ticks" -v n="$flows" 'BEGIN {
		if (s0 != "" && s1 != "") printf "server %.2f, ", (s1 - s0) * 1000 / hz / n
		printf "client %.2f ms CPU a flow", (c1 - c0) * 1000 / n
	}'
}

# metric OUTPUT BENCHMARK UNIT prints the benchmark's figure in UNIT.
metric() {
	echo "$1" | awk -v b="$2" -v u="$3" '$1 ~ "^" b "(-[0-9]+)?$" { for (i = 2; i <= NF; i++) if ($i == u) print $(i-1) }'
}

set -- -c "$buyers" -n "$flows"
if [ -n "${PAYGATE_FLOOR_DSN:-}" ]; then
	set -- "$@" -dsn "$PAYGATE_FLOOR_DSN"
fi

ratios=""
approves=""
floors=""
paygates=""
round=1
while [ "$round" -le "$rounds" ]; do
	s0=$(server_cpu)
	client_cpu >"$work/c0"
	floor_out=$("$work/floor" "$@")
	s1=$(server_cpu)
	client_cpu >"$work/c1"
	bench_out=$(cd "$root" && CI=true PAYGATE_BENCH_BUYERS="$buyers" \
		"$work/paygate.test" -test.run '^$' -test.bench 'BenchmarkFlow$' -test.benchtime "${flows}x" -test.count 1)
	s2=$(server_cpu)
	client_cpu >"$work/c2"
	hand_out=$(cd "$root" && CI=true PAYGATE_BENCH_BUYERS="$buyers" \
		"$work/paygate.test" -test.run '^$' -test.bench 'BenchmarkFlowByHand$' -test.benchtime "${flows}x" -test.count 1)
	c0=$(cat "$work/c0") c1=$(cat "$work/c1") c2=$(cat "$work/c2")

	floor_rate=$(echo "$floor_out" | sed -n 's/.* \([0-9.]*\) flows\/s.*/\1/p')
	paygate_rate=$(metric "$bench_out" BenchmarkFlow flows/s)
	paygate_own=$(metric "$bench_out" BenchmarkFlow overhead-p50-ms)
	paygate_own99=$(metric "$bench_out" BenchmarkFlow overhead-p99-ms)
	hand_approve=$(metric "$hand_out" BenchmarkFlowByHand approve-p50-ms)
	hand_approve99=$(metric "$hand_out" BenchmarkFlowByHand approve-p99-ms)
	if [ -z "$floor_rate" ] || [ -z "$paygate_rate" ] || [ -z "$paygate_own" ] || [ -z "$hand_approve" ]; then
		echo "$floor_out"
		echo "$bench_out"
		echo "$hand_out"
		echo "compare: could not read flows/s and the approvals' times from the runs of round $round" >&2
		exit 1
	fi
	echo "round $round:"
	echo "  $floor_out; $(cpu_line "$s0" "$s1" "$c0" "$c1")"
	echo "$bench_out" | awk '/^BenchmarkFlow/ {
		line = "  paygate: " $2 " flows, " buyers " buyers"
		for (i = 3; i < NF; i += 2)
			if ($(i+1) ~ /^(flows\/s|approve-p50-ms|overhead-p50-ms|overhead-p99-ms|order-p99-ms|stmts\/flow|commits\/flow|write-commits\/flow)$/)
				line = line ", " $i " " $(i+1)
		print line
	}' buyers="$buyers"
	echo "  paygate: $(cpu_line "$s1" "$s2" "$c1" "$c2")"
	ratio=$(awk -v f="$floor_rate" -v p="$paygate_rate" 'BEGIN { printf "%.2f", p / f }')
	echo "  paygate/floor = $ratio"
	approve_ratio=$(awk -v h="$hand_approve" -v p="$paygate_own" 'BEGIN { printf "%.2f", p / h }')
	echo "  the floor's approval by hand: p50 $hand_approve ms, p99 $hand_approve99 ms; paygate's own time per approve: p50 $paygate_own ms, p99 $paygate_own99 ms; paygate/by hand = $approve_ratio"
	approves="$approves $approve_ratio"
	ratios="$ratios $ratio"
	floors="$floors $floor_rate"
	paygates="$paygates $paygate_rate"
	round=$((round + 1))
done

median() {
	echo "$@" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
	}'
}
echo "median of $rounds rounds: paygate $(median $paygates) flows/s, floor $(median $floors) flows/s, $buyers buyers: paygate/floor = $(median $ratios)"
echo "median of $rounds rounds: paygate's own time per approve against the floor's approval by hand (p50): $(median $approves)"
