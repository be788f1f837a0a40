#!/usr/bin/env bash
# Inspect benchmark (issue 4): Kiln's ONNX inspector (mmap + wire walker,
# through build/tools/onnx_inspect_cli) against python3-onnx doing
# `onnx.load` and the same summary (IR, opsets, IO shapes, op histogram,
# initializer count and bytes), on a generated ~470 MB model (200 3x3 convs
# of 256 channels) and on a small YOLO11-shaped one.  Prints both times, both
# peak RSS (/usr/bin/time -v) and the ratios last.
# Target on the big model: >= 5x faster, <= 1/10 the peak memory.
set -eu
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh
BUILD=${BUILD:-build}
CLI=$BUILD/tools/onnx_inspect_cli
PY=/usr/bin/python3
[ -x "$CLI" ] || make --no-print-directory "$CLI" >/dev/null
[ -x /usr/bin/time ] || { echo "bench_inspect: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-inspect.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

$PY - "$WORK" <<'PYEOF'
import sys, os
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
sys.path.insert(0, "tests/onnx")
import onnx_fixtures as F
work = sys.argv[1]
rng = np.random.default_rng(1)
nodes, inits = [], []
x = "input"
for i in range(200):
    w = rng.standard_normal((256, 256, 3, 3), dtype=np.float32)
    inits.append(numpy_helper.from_array(w, f"conv{i}.weight"))
    nodes.append(helper.make_node("Conv", [x, f"conv{i}.weight"], [f"conv{i}_out"],
                                  name=f"/conv{i}/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    x = f"conv{i}_out"
g = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 256, 32, 32])],
                      [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 256, 32, 32])], initializer=inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
m.ir_version = 8
onnx.save(m, os.path.join(work, "big.onnx"))
F.save(F.yolov8(eleven=True), os.path.join(work, "small.onnx"))
chain = [helper.make_node("Relu" if i % 2 else "Sigmoid", ["x" if i == 0 else f"t{i-1}"],
                          ["y" if i == 9999 else f"t{i}"], name=f"/layer.{i}/Act") for i in range(10000)]
g = helper.make_graph(chain, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), os.path.join(work, "chain10k.onnx"))
PYEOF

cat > "$WORK/summary.py" <<'PYEOF'
import collections, sys
import onnx
m = onnx.load(sys.argv[1])
g = m.graph
def shape(v):
    t = v.type.tensor_type
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]
s = {
    "ir_version": m.ir_version,
    "opsets": [(o.domain, o.version) for o in m.opset_import],
    "inputs": [(v.name, v.type.tensor_type.elem_type, shape(v)) for v in g.input],
    "outputs": [(v.name, v.type.tensor_type.elem_type, shape(v)) for v in g.output],
    "node_count": len(g.node),
    "ops": collections.Counter(n.op_type for n in g.node),
    "initializers": len(g.initializer),
    "bytes": sum(len(t.raw_data) for t in g.initializer),
}
print(s["node_count"], s["initializers"], s["bytes"])
PYEOF

# best of 3 runs: prints "seconds max_rss_kb" (wall time from date's
# nanoseconds; /usr/bin/time's own clock has 10 ms steps)
measure() {
	local best_t="" best_m=""
	for _ in 1 2 3; do
		local a b t m
		a=$(date +%s%N)
		/usr/bin/time -v -o "$WORK/t" "$@" >/dev/null
		b=$(date +%s%N)
		t=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
		m=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/t")
		if [ -z "$best_t" ] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; fi
		if [ -z "$best_m" ] || [ "$m" -lt "$best_m" ]; then best_m=$m; fi
	done
	echo "$best_t $best_m"
}

# the graph view: 10k nodes must be served in under 100 ms
g=$("$CLI" time-graph "$WORK/chain10k.onnx" 5 |
	awk -F'[:,}]' '{ printf "%.1f %.1f", $2, $4 }')
read -r gopen gjson <<<"$g"
gsum=$(awk -v a="$gopen" -v b="$gjson" 'BEGIN { printf "%.1f", a + b }')
echo "graph view 10k nodes: open $gopen ms + graph JSON $gjson ms = $gsum ms (target < 100 ms)"
summary_row "graph view, 10k-node model" "$gsum ms (open + JSON)" "-" "-" "< 100 ms" \
	"$(awk -v a="$gsum" 'BEGIN { print (a < 100) ? "yes" : "no" }')"

# The graph view's JSON written to a file (what kilnd serves, streamed) for
# chains of 10k and 1M nodes of one shape (tests/onnx/onnx_fixtures.py's
# big_chain, the model test_onnx_memory bounds): the time per node must not
# grow with the graph (issue 19: linear or better), and the peak RSS is
# printed beside it.
$PY - "$WORK" <<'PYEOF'
import os, sys
sys.path.insert(0, "tests/onnx")
import onnx_fixtures as F
for n, name in ((10_000, "chain_10k"), (1_000_000, "chain_1m")):
    data, _ = F.big_chain(n)
    with open(os.path.join(sys.argv[1], name + ".onnx"), "wb") as f:
        f.write(data)
PYEOF
read -r g10t g10m < <(measure "$CLI" graph-file "$WORK/chain_10k.onnx" "$WORK/g10k.json")
read -r g1mt g1mm < <(measure "$CLI" graph-file "$WORK/chain_1m.onnx" "$WORK/g1m.json")
g1mj=$(stat -c %s "$WORK/g1m.json")
per=$(awk -v a="$g10t" -v b="$g1mt" 'BEGIN { printf "%.2f", (b / 1000000) / (a / 10000) }')
echo "graph JSON to a file: 10k nodes ${g10t} s, ${g10m} KB peak; 1M nodes ${g1mt} s," \
	"${g1mm} KB peak, $((g1mj / 1000000)) MB of JSON; time per node 1M / 10k = $per (target <= 1.00: linear or better)"
summary_row "graph JSON, 1M-node chain vs 10k" "${g1mt} s, ${g1mm} KB peak, $((g1mj / 1000000)) MB" \
	"10k nodes ${g10t} s, ${g10m} KB peak" "per node ${per}x the 10k case" \
	"<= 1.00 (linear or better)" "$(le "$per" 1.0)"
rm -f "$WORK/g10k.json" "$WORK/g1m.json"

for model in small big; do
	f="$WORK/$model.onnx"
	size=$(stat -c %s "$f")
	read -r kt km < <(measure "$CLI" inspect "$f")
	read -r pt pm < <(measure "$PY" "$WORK/summary.py" "$f")
	echo "inspect $model ($((size / 1000000)) MB): kiln ${kt}s ${km} KB peak RSS; python3-onnx ${pt}s ${pm} KB peak RSS"
	awk -v kt="$kt" -v pt="$pt" -v km="$km" -v pm="$pm" -v n="$model" 'BEGIN {
		printf "ratio %s: kiln is %.1fx faster, uses %.3f of the peak memory (target on big: >= 5x, <= 0.100)\n", n, pt / kt, km / pm }'
	if [ "$model" = big ]; then
		fx=$(awk -v kt="$kt" -v pt="$pt" 'BEGIN { printf "%.1f", pt / kt }')
		mf=$(awk -v km="$km" -v pm="$pm" 'BEGIN { printf "%.3f", km / pm }')
		summary_row "inspect a $((size / 1000000)) MB ONNX" "${kt} s, ${km} KB peak" \
			"python3-onnx ${pt} s, ${pm} KB" "${fx}x faster, ${mf} of the memory" \
			">= 5x faster, <= 0.100 of the memory" "$(both "$(ge "$fx" 5)" "$(le "$mf" 0.1)")"
	fi
done
