#!/usr/bin/env bash
# make fuzz: builds every tests/fuzz/fuzz_*.c as a libFuzzer binary (clang,
# -fsanitize=fuzzer,address,undefined) and runs each for FUZZ_SECONDS
# (default 60) with -max_total_time, so it stops by itself.
#
# A target names what it needs in its header comment:
#   fuzz-sources: the Kiln .c files to compile in with it (instrumented too);
#   fuzz-seeds:   a script (run with /usr/bin/python3, seeds dir appended)
#                 that writes the seed corpus, made once per build dir.
# Corpora and crash files stay in $BUILD/fuzz/<target>/ for the next run.
# FUZZ_ONLY=name runs one target.  Exit status is non-zero if any target
# found a crash.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SECS=${FUZZ_SECONDS:-60}
OUT=$BUILD/fuzz
mkdir -p "$OUT"
PKGS="libmicrohttpd libcjson libarchive libturbojpeg sqlite3 inih libprotobuf-c libpng libcrypto"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
  -I. -I$BUILD/gen $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lpthread -lm"
rc=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	[ -n "${FUZZ_ONLY:-}" ] && [ "$name" != "$FUZZ_ONLY" ] && continue
	srcs=$(sed -n 's/.*fuzz-sources:\(.*\)/\1/p' "$src" | head -1)
	seeds=$(sed -n 's/.*fuzz-seeds:\(.*\)/\1/p' "$src" | head -1)
	dir=$OUT/$name
	mkdir -p "$dir/corpus"
	echo "== $name: building"
	# shellcheck disable=SC2086
	if ! clang $CFLAGS -o "$dir/$name" "$src" $srcs $LIBS; then
		echo "!! $name: build failed"
		rc=1
		continue
	fi
	if [ -n "$seeds" ] && [ -z "$(ls -A "$dir/corpus")" ]; then
		# shellcheck disable=SC2086
		/usr/bin/python3 $seeds "$dir/corpus" || echo "!! $name: seed script failed"
	fi
	echo "== $name: fuzzing for ${SECS}s"
	rm -rf "$dir/tmp" && mkdir -p "$dir/tmp"
	tmp=$(cd "$dir/tmp" && pwd)
	(cd "$dir" && TMPDIR="$tmp" ASAN_OPTIONS=detect_leaks=1 "./$name" -max_total_time="$SECS" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 corpus >log.txt 2>&1)
	st=$?
	rm -rf "$dir/tmp"
	grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$dir/log.txt" | sed "s/^/   $name /"
	if [ "$st" -ne 0 ]; then
		echo "!! $name: the fuzzer found a problem (exit $st); see $dir/log.txt and $dir/crash-*"
		tail -n 30 "$dir/log.txt"
		rc=1
	else
		echo "== $name: no crash in ${SECS}s"
	fi
done
exit $rc
