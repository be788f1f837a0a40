#!/usr/bin/env bash
# make bench: runs every tests/bench/bench_*.sh in turn.  Each one measures
# Kiln and a named peer on the same input in the same run and prints the
# ratio last; each also records its rows (tests/bench/lib.sh summary_row),
# and one table of every ratio and the goal it is held to (issue 19) closes
# the run.  Not part of make test: speed is measured here, never asserted
# in a timed test.  BENCH_ONLY=http,bundles runs only those benches;
# BENCH_ROUNDS=N (3) sets how many rounds in turns the compared rows take.
set -u
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}
export BENCH_SUMMARY
BENCH_SUMMARY=$(mktemp)
trap 'rm -f "$BENCH_SUMMARY"' EXIT
rc=0
for b in tests/bench/bench_*.sh; do
	name=${b#tests/bench/bench_}
	name=${name%.sh}
	if [ -n "${BENCH_ONLY:-}" ] && [[ ",$BENCH_ONLY," != *",$name,"* ]]; then
		continue
	fi
	echo "== $b"
	if ! bash "$b"; then
		echo "!! $b failed"
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "bench_$name" "FAILED" "-" "-" "-" "no" >> "$BENCH_SUMMARY"
		rc=1
	fi
done
echo
echo "== summary: every ratio against its peer, same run ($(nproc) cores, $(date -u +%FT%TZ))"
awk -F'\t' 'BEGIN { h[1] = "work"; h[2] = "kilnd"; h[3] = "peer"; h[4] = "ratio"; h[5] = "goal"; h[6] = "met" }
	{ n++; for (i = 1; i <= 6; i++) { c[n, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
	END {
		for (i = 1; i <= 6; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
		line = ""
		for (i = 1; i <= 6; i++) line = line sprintf("%-" w[i] "s  ", h[i])
		print line
		for (r = 1; r <= n; r++) {
			line = ""
			for (i = 1; i <= 6; i++) line = line sprintf("%-" w[i] "s  ", c[r, i])
			print line
			if (c[r, 6] == "yes") met++; else if (c[r, 6] == "no") missed++
		}
		printf "%d goals met, %d not met\n", met, missed
	}' "$BENCH_SUMMARY"
exit $rc
