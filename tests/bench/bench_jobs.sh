#!/usr/bin/env bash
# bench_jobs: what the job engine costs per job (issue 6).  The same trivial
# program (it prints its CLOCK_MONOTONIC time and exits) is run N times:
#   - in a plain shell loop (the named peer), run before and after Kiln, and
#     the faster of the two kept, so the machine's noise favours the peer;
#   - as N Kiln jobs of one local step through one worker (tests/tools/
#     bench_jobs.c: submit → sqlite queue → worker → executor → log → events);
#   - spawned straight from C with posix_spawn (the floor for latency).
# Prints submit-to-first-exec latency (median, p99), jobs/s for each, and the
# overhead per job last.  Target: overhead <= 5 ms per job.
set -eu
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh
BUILD=${BUILD:-build}
N=${BENCH_JOBS:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[ -x "$BUILD/tools/bench_jobs" ] || make --no-print-directory "$BUILD/tools/bench_jobs" >/dev/null
cat > "$work/stamp.c" <<'EOF'
#include <stdio.h>
#include <time.h>
int main(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	printf("stamp %lld\n", (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
	return 0;
}
EOF
cc -O2 -o "$work/stamp" "$work/stamp.c"

shell_loop() {
	local t0 t1 i
	t0=$(date +%s%N)
	for ((i = 0; i < N; i++)); do "$work/stamp" >/dev/null; done
	t1=$(date +%s%N)
	echo $((t1 - t0))
}

s1=$(shell_loop)
mkdir "$work/data"
"$BUILD/tools/bench_jobs" "$work/data" "$N" "$work/stamp" 1 > "$work/kiln.txt"
s2=$(shell_loop)
shell_ns=$((s1 < s2 ? s1 : s2))

val() { sed -n "s/^$1=//p" "$work/kiln.txt"; }
awk -v n="$N" -v shell_ns="$shell_ns" -v kps="$(val jobs_per_s)" \
    -v lmed="$(val latency_median_ms)" -v lp99="$(val latency_p99_ms)" \
    -v dmed="$(val direct_latency_median_ms)" -v dp99="$(val direct_latency_p99_ms)" \
    -v dps="$(val direct_jobs_per_s)" 'BEGIN {
	shell_ms = shell_ns / 1e6 / n
	kiln_ms = 1000 / kps
	printf "jobs: %d, one local step each, 1 worker\n", n
	printf "shell loop:   %8.1f runs/s  (%6.2f ms per run)\n", 1000 / shell_ms, shell_ms
	printf "kiln:         %8.1f jobs/s  (%6.2f ms per job)\n", kps, kiln_ms
	printf "posix_spawn:  %8.1f runs/s  (%6.2f ms per run)\n", dps, 1000 / dps
	printf "submit -> first exec, kiln:        median %6.2f ms, p99 %6.2f ms\n", lmed, lp99
	printf "spawn  -> first exec, posix_spawn: median %6.2f ms, p99 %6.2f ms\n", dmed, dp99
	printf "latency overhead vs posix_spawn: median %.2f ms\n", lmed - dmed
	printf "overhead per job vs posix_spawn: %.2f ms\n", kiln_ms - 1000 / dps
	printf "overhead per job vs shell loop: %.2f ms (target <= 5 ms)\n", kiln_ms - shell_ms
}'
over=$(awk -v n="$N" -v shell_ns="$shell_ns" -v kps="$(val jobs_per_s)" \
	'BEGIN { printf "%.2f", 1000 / kps - shell_ns / 1e6 / n }')
summary_row "jobs: $N one-step local jobs, 1 worker" "$(val jobs_per_s) jobs/s" \
	"shell loop $(awk -v n="$N" -v s="$shell_ns" 'BEGIN { printf "%.1f", n / (s / 1e9) }') runs/s" \
	"$over ms overhead per job" "<= 5 ms per job" "$(le "$over" 5)"
