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
both() { [ "$1" = yes ] && [ "$2" = yes ] && echo yes || echo no; }
ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
		else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
		else print v + 0 }'
}
