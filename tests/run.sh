#!/usr/bin/env bash
# Runs every test program and prints the closing line `N passed, N failed`.
# Test programs (C binaries in $BUILD/tests, and tests/**/test_*.py run with
# Debian's /usr/bin/python3) print PASS/FAIL/SKIP lines (tests/lib/kt.h);
# a program that crashes or exits non-zero without printing a FAIL counts
# as one failure of its own, so a segfault can never read as green.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export KILN_BUILD=$BUILD KILND="$PWD/$BUILD/kilnd"
export TMPDIR=${TMPDIR:-/tmp}
pass=0 fail=0 skip=0
out=$(mktemp)
run_one() {
	local label=$1; shift
	local t0=$SECONDS
	"$@" >"$out" 2>"$out.err" </dev/null
	local rc=$?
	cat "$out"
	local p f s
	p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out"); s=$(grep -c '^SKIP ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $label: exited with status $rc without a FAIL line; stderr follows"
		f=1
	fi
	if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
		tail -n 40 "$out.err" | sed 's/^/  | /'
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	echo "# $label: $p passed, $f failed, $s skipped ($((SECONDS - t0)) s)" >&2
}
only=${1:-}
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	[ -n "$only" ] && [[ "$t" != *"$only"* ]] && continue
	run_one "$(basename "$t")" "$t"
done
for t in $(find tests -name 'test_*.py' | sort); do
	[ -n "$only" ] && [[ "$t" != *"$only"* ]] && continue
	run_one "$t" /usr/bin/python3 "$t"
done
rm -f "$out" "$out.err"
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
