# tests/bench/lib.sh: sourced by the bench_*.sh scripts.
#
# summary_row WORK KILND PEER RATIO GOAL MET
#   records one row of `make bench`'s closing table: what was measured, the
#   kilnd and peer figures (free text, same run), the ratio, the goal it is
#   held to (issue 19), and "yes"/"no"/"-" for whether it is met.  run.sh
#   sets BENCH_SUMMARY to a file and prints the rows of every bench last;
#   a bench run alone prints its own rows at its end.
#
# ge A B: "yes" when A >= B, else "no" (floating point, via awk).
# le A B: "yes" when A <= B.
# ms VALUE: wrk's latency ("655.12ms", "1.32s", "812.00us") in ms.
#
# Rounds in turns (issue 19: one burst of noise on one side must not move a
# ratio): a bench measures kilnd and its peer ROUNDS times, alternately, and
# reports the median of each side and the ratio of the medians.
# ROUNDS is BENCH_ROUNDS, 3 unless set.
# turn_order R: "kilnd peer" for odd rounds, "peer kilnd" for even ones, so
#   neither side always runs first (a cache the first one warms, or the
#   writeback it leaves, would otherwise favour one side every time).
# median N...: the median of the numbers (the mean of the two middle ones
#   for an even count).
# span N...: "MIN..MAX" of the numbers (2 decimals), the spread next to a
#   median.

summary_row() {
	local line
	line=$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$1" "$2" "$3" "$4" "$5" "$6")
	if [ -n "${BENCH_SUMMARY:-}" ]; then
		printf '%s\n' "$line" >> "$BENCH_SUMMARY"
	else
		printf 'summary: %s\n' "$line" | tr '\t' '|'
	fi
}

ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? "yes" : "no" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? "yes" : "no" }'; }
ROUNDS=${BENCH_ROUNDS:-3}
case $ROUNDS in '' | *[!0-9]* | 0) echo "BENCH_ROUNDS must be a positive integer, not '$ROUNDS'" >&2; exit 2 ;; esac
turn_order() { if [ $(($1 % 2)) = 1 ]; then echo kilnd peer; else echo peer kilnd; fi; }
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) exit 1; printf "%.10g\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
span() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f..%.2f\n", lo, hi }'; }
both() { [ "$1" = yes ] && [ "$2" = yes ] && echo yes || echo no; }
ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
		else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
		else print v + 0 }'
}
