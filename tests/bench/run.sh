#!/usr/bin/env bash
# make bench: runs every tests/bench/bench_*.sh in turn.  Each one measures
# Kiln and a named peer on the same input in the same run and prints the
# ratio last.  Not part of make test: speed is measured here, never asserted
# in a timed test.
set -u
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}
rc=0
for b in tests/bench/bench_*.sh; do
	echo "== $b"
	bash "$b" || { echo "!! $b failed"; rc=1; }
done
exit $rc
