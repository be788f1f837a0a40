"""Writes fuzz_spec's seed corpus: the job spec examples and counterexamples
of schema/ (the documented shapes), one spec per target with every option
set, and strings a writer must quote (YAML's null/yes/0x1F, prototxt and
INI specials); and, next to the corpus, inspection.json: a YOLO11-shaped
model's inspection by kilnd's own reader (build/tools/onnx_inspect_cli), so
outputs "suggested" and the label checks are reached."""
import json
import os
import subprocess
import sys

out = sys.argv[1]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
schema = json.load(open(os.path.join(ROOT, "schema", "job.schema.json")))
counter = json.load(open(os.path.join(ROOT, "schema", "job.counterexamples.json")))
seeds = list(schema.get("examples", []))
for c in counter.get("counterexamples", []):
    seeds.append(c.get("spec", c) if isinstance(c, dict) else c)
tricky = ["null", "yes", "0x1F", "a: b", "#x", "x\"y", "x\\y", "[s]", "a=b", "k;v"]
for t in ("maixcam", "maixcam2", "recamera", "axera-pi", "metis"):
    seeds.append({"model": 1, "dataset": 1, "target": t, "name": "yolo11n", "outputs": "suggested",
                  "input": {"mean": [0, 0, 0], "scale": [0.0039, 0.0039, 0.0039]},
                  "calibration": {"count": 10},
                  "mud": {"model_type": "yolo11", "labels": ["person", "bicycle", "car"]}})
    seeds.append({"model": 1, "dataset": 1, "target": t, "name": "n", "mud": {"labels": tricky[:3]}})
for i, s in enumerate(seeds):
    with open(os.path.join(out, f"seed{i:03d}.json"), "w") as f:
        json.dump(s, f)

sys.path.insert(0, os.path.join(ROOT, "tests", "onnx"))
import onnx_fixtures as F  # noqa: E402

model = os.path.join(os.path.dirname(out), "yolo11.onnx")
F.save(F.yolov8(nc=3, eleven=True), model)
cli = os.path.join(ROOT, BUILD, "tools", "onnx_inspect_cli")
p = subprocess.run([cli, "inspect", model], capture_output=True, text=True)
if p.returncode == 0:
    with open(os.path.join(os.path.dirname(out), "inspection.json"), "w") as f:
        f.write(p.stdout)
else:
    print(f"spec_seeds: no inspection ({cli}: {p.stderr.strip()[:200]})", file=sys.stderr)
