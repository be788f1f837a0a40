"""Every model in Debian's libonnx-testdata, inspected by the C reader
(build/tools/onnx_inspect_cli) and by python3-onnx: node count, op types,
input/output names, types and shapes, IR, opsets, initializer count must
agree, with zero mismatches.  Also cuts some of them at an inner tensor and
checks the result with onnx.checker and onnx.utils.extract_model.
Run with Debian's /usr/bin/python3 (tests/run.sh does)."""
import collections
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx  # noqa: E402
import onnx.utils  # noqa: E402
from onnx_fixtures import CLI, Report, cli  # noqa: E402

DATA = "/usr/share/libonnx-testdata/data"
R = Report("test_onnx_testdata")


def py_type(t):
    """(type name, elem, shape) of a TypeProto as our JSON states it."""
    which = t.WhichOneof("value")
    if which == "tensor_type":
        tt = t.tensor_type
        shape = None
        if tt.HasField("shape"):
            shape = []
            for d in tt.shape.dim:
                if d.HasField("dim_value"):
                    shape.append(d.dim_value)
                elif d.HasField("dim_param"):
                    shape.append(d.dim_param)
                else:
                    shape.append(None)
        return ("tensor", tt.elem_type, shape)
    return (which or "unknown", None, None)


def our_type(j):
    t = j["type"]
    for kind, prefix in (("sequence_type", "sequence("), ("map_type", "map("),
                         ("optional_type", "optional("), ("sparse_tensor_type", "sparse_tensor(")):
        if t.startswith(prefix):
            return (kind, None, None)
    if t == "unknown" and j["elem_type"] == 0 and j["shape"] is None:
        return ("unknown", None, None)
    return ("tensor", j["elem_type"], j["shape"])


def compare(path):
    m = onnx.load(path, load_external_data=False)
    rc, j = cli("inspect", path)
    if rc != 0:
        return [f"inspector failed: {j}"]
    bad = []
    g = m.graph
    if j["node_count"] != len(g.node):
        bad.append(f"node_count {j['node_count']} != {len(g.node)}")
    hist = collections.Counter(
        (f"{n.domain}:{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type)
        for n in g.node)
    if dict(hist) != j["op_histogram"]:
        bad.append(f"ops {j['op_histogram']} != {dict(hist)}")
    if j["ir_version"] != m.ir_version:
        bad.append(f"ir {j['ir_version']} != {m.ir_version}")
    ops = {(o.domain or "ai.onnx"): o.version for o in m.opset_import}
    if {o["domain"]: o["version"] for o in j["opsets"]} != ops:
        bad.append(f"opsets {j['opsets']} != {ops}")
    if j["initializers"]["count"] != len(g.initializer):
        bad.append(f"initializers {j['initializers']['count']} != {len(g.initializer)}")
    for role, ours, theirs in (("input", j["inputs"], g.input), ("output", j["outputs"], g.output)):
        if [x["name"] for x in ours] != [x.name for x in theirs]:
            bad.append(f"{role} names {[x['name'] for x in ours]} != {[x.name for x in theirs]}")
            continue
        for a, b in zip(ours, theirs):
            pt = py_type(b.type) if b.HasField("type") else ("unknown", None, None)
            if our_type(a) != pt:
                bad.append(f"{role} {b.name}: {our_type(a)} != {pt}")
    return bad


def test_all_models_match_python():
    models = sorted(glob.glob(f"{DATA}/**/*.onnx", recursive=True))
    assert len(models) > 1000, f"only {len(models)} models under {DATA}"
    groups = collections.defaultdict(list)
    for p in models:
        groups[os.path.relpath(p, DATA).split("/")[0]].append(p)
    for grp, paths in sorted(groups.items()):
        def run(paths=paths):
            mism = []
            for p in paths:
                for b in compare(p):
                    mism.append(f"{os.path.relpath(p, DATA)}: {b}")
            assert not mism, f"{len(mism)} mismatches, first: " + " | ".join(mism[:3])
        print(f"# {grp}: {len(paths)} models", flush=True)
        R.check(f"every_{grp.replace('-', '_')}_model_matches_python", run)


def test_cuts_match_extract_model():
    """Cut each small real model at the first output of its middle node."""
    paths = sorted(glob.glob(f"{DATA}/**/model.onnx", recursive=True))
    done = checked = untyped = 0
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for p in paths:
            m = onnx.load(p)
            g = m.graph
            if len(g.node) < 3 or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                                      for n in g.node for a in n.attribute):
                continue
            node = g.node[len(g.node) // 2]
            if not node.output or not node.output[0]:
                continue
            t = node.output[0]
            out = os.path.join(tmp, "cut.onnx")
            rc, j = cli("cut", p, out, t)
            if rc != 0:
                problems.append(f"{p}: cut failed {j}")
                continue
            done += 1
            if j["untyped_outputs"]:
                # sequences/optionals etc.: no shape to give; the output
                # is still usable by toolchains but not checker-clean
                untyped += 1
                continue
            cm = onnx.load(out)
            try:
                onnx.checker.check_model(cm)
            except Exception as e:
                problems.append(f"{p}: checker: {e}")
                continue
            inits = {i.name for i in g.initializer}
            feeds = [i.name for i in g.input if i.name not in inits]
            ex = os.path.join(tmp, "ex.onnx")
            try:
                onnx.utils.extract_model(p, ex, feeds, [t], check_model=False)
            except Exception:
                continue  # extract_model needs inferable shapes; skip those
            em = onnx.load(ex)
            checked += 1
            ours = [n.name + "|" + ",".join(n.output) for n in cm.graph.node]
            theirs = [n.name + "|" + ",".join(n.output) for n in em.graph.node]
            if sorted(ours) != sorted(theirs):
                problems.append(f"{p}: nodes differ ({len(ours)} vs {len(theirs)})")
            if {i.name for i in cm.graph.initializer} != {i.name for i in em.graph.initializer}:
                problems.append(f"{p}: initializers differ")
    def res():
        assert not problems, f"{len(problems)} problems: " + " | ".join(problems[:3])
        assert done >= 100 and checked >= 50, f"only {done} cuts, {checked} compared"
        assert untyped * 5 < done, f"{untyped} of {done} cuts have untyped outputs"
    print(f"# cuts: {done} made, {done - untyped} typed and checker-clean, "
          f"{checked} compared with extract_model", flush=True)
    R.check("cut_at_inner_tensor_passes_checker_and_matches_extract_model", res)


def test_rewrite_ir_roundtrip():
    """Lowering IR keeps the graph byte-for-byte and passes the checker."""
    src = f"{DATA}/pytorch-converted/test_ConvTranspose2d/model.onnx"
    def run():
        with tempfile.TemporaryDirectory() as tmp:
            m = onnx.load(src)
            m.ir_version = 8
            hi = os.path.join(tmp, "hi.onnx")
            onnx.save(m, hi)
            lo = os.path.join(tmp, "lo.onnx")
            rc, j = cli("rewrite", hi, lo, 4)
            assert rc == 0, j
            r = onnx.load(lo)
            assert r.ir_version == 4
            assert r.graph.SerializeToString() == m.graph.SerializeToString()
            onnx.checker.check_model(r)
    R.check("rewrite_lowers_ir_and_keeps_graph", run)


if __name__ == "__main__":
    if not os.access(CLI, os.X_OK):
        R.skip("all", f"{CLI} not built (make tests-build)")
        sys.exit(0)
    if not os.path.isdir(DATA):
        R.skip("all", "libonnx-testdata is not installed")
        sys.exit(0)
    test_all_models_match_python()
    test_cuts_match_extract_model()
    test_rewrite_ir_roundtrip()
    R.done()
