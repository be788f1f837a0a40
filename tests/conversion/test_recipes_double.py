#!/usr/bin/python3
"""Each seed's worked example, planned by the C recipes (kiln_recipe_cli) from
the real inspection of a tiny ONNX with the seed's tensor names
(onnx_inspect_cli), then run step by step against the toolchain double in a
temporary workspace: the double must accept every command and config file
and write every output the plan promises.  The staged bundle's .mud must pass
MaixPy's checks (mud-check), and the packed bundle's manifest must match
schema/manifest.schema.json; packing twice must give the same bytes.

Prints PASS/FAIL/SKIP lines (tests/run.sh).  Run with Debian's /usr/bin/python3
(python3-onnx, python3-jsonschema).
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("KILN_BUILD", "build"))
CLI = os.path.join(BUILD, "tools", "kiln_recipe_cli")
INSPECT = os.path.join(BUILD, "tools", "onnx_inspect_cli")
DOUBLE = os.path.join(ROOT, "tests", "toolchain-double", "bin")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
COCO = ("person, bicycle, car, motorcycle, airplane, bus, train, truck, boat, traffic light, "
        "fire hydrant, stop sign, parking meter, bench, bird, cat, dog, horse, sheep, cow, "
        "elephant, bear, zebra, giraffe, backpack, umbrella, handbag, tie, suitcase, frisbee, "
        "skis, snowboard, sports ball, kite, baseball bat, baseball glove, skateboard, "
        "surfboard, tennis racket, bottle, wine glass, cup, fork, knife, spoon, bowl, banana, "
        "apple, sandwich, orange, broccoli, carrot, hot dog, pizza, donut, cake, chair, couch, "
        "potted plant, bed, dining table, toilet, tv, laptop, mouse, remote, keyboard, "
        "cell phone, microwave, oven, toaster, sink, refrigerator, book, clock, vase, "
        "scissors, teddy bear, hair drier, toothbrush").split(", ")


def make_onnx(path, input_name, input_shape, convs, final=None, graph_outputs=None):
    """A stem Conv, then one Conv per (name, shape) in convs; final: a Concat
    over them as the graph output (an uncut export); graph_outputs: the
    convs themselves are outputs (a model cut at them)."""
    import onnx
    from onnx import TensorProto, helper
    nodes, inits, vinfo = [], [], []
    inits.append(helper.make_tensor("stem_w", TensorProto.FLOAT, [4, input_shape[1], 1, 1],
                                    [0.1] * (4 * input_shape[1])))
    nodes.append(helper.make_node("Conv", [input_name, "stem_w"], ["stem"], name="stem"))
    for i, (name, shape) in enumerate(convs):
        inits.append(helper.make_tensor("w%d" % i, TensorProto.FLOAT, [shape[1], 4, 1, 1],
                                        [0.01] * (shape[1] * 4)))
        nodes.append(helper.make_node("Conv", ["stem", "w%d" % i], [name], name="conv%d" % i))
        vinfo.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    outs = []
    if final:
        flat = []
        for i, (name, _s) in enumerate(convs):
            nodes.append(helper.make_node("Flatten", [name], [name + "_flat"], axis=2))
            flat.append(name + "_flat")
        nodes.append(helper.make_node("Concat", flat, [final], axis=2))
        outs.append(helper.make_tensor_value_info(final, TensorProto.FLOAT, None))
    for name in graph_outputs or []:
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dict(convs)[name]))
    graph = helper.make_graph(nodes, "kiln-recipe-test", [
        helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)], outs, inits,
        value_info=vinfo)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


YOLOV5 = [("/model.24/m.0/Conv_output_0", [1, 255, 80, 80]),
          ("/model.24/m.1/Conv_output_0", [1, 255, 40, 40]),
          ("/model.24/m.2/Conv_output_0", [1, 255, 20, 20])]
YOLO11 = [("/model.23/cv2.0/cv2.0.2/Conv_output_0", [1, 64, 80, 80]),
          ("/model.23/cv3.0/cv3.0.2/Conv_output_0", [1, 80, 80, 80]),
          ("/model.23/cv2.1/cv2.1.2/Conv_output_0", [1, 64, 40, 40]),
          ("/model.23/cv3.1/cv3.1.2/Conv_output_0", [1, 80, 40, 40]),
          ("/model.23/cv2.2/cv2.2.2/Conv_output_0", [1, 64, 20, 20]),
          ("/model.23/cv3.2/cv3.2.2/Conv_output_0", [1, 80, 20, 20])]
YOLO11_CONCAT = [("/model.23/Concat_output_0", [1, 144, 60, 80]),
                 ("/model.23/Concat_1_output_0", [1, 144, 30, 40]),
                 ("/model.23/Concat_2_output_0", [1, 144, 15, 20])]

# (label, seed, onnx builder args, spec)
CASES = [
    ("maixcam_yolov5s", "001",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV5, final="output"),
     {"target": "maixcam", "name": "yolov5s", "outputs": [n for n, _ in YOLOV5],
      "input": {"mean": [0, 0, 0], "scale": [0.00392156862745098] * 3},
      "calibration": {"count": 3}, "target_options": {"bf16_model": True},
      "mud": {"model_type": "yolov5", "labels": COCO}}),
    ("recamera_yolo11n_int8", "002",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLO11, final="output0"),
     {"target": "recamera", "name": "yolo11n", "outputs": [n for n, _ in YOLO11],
      "input": {"mean": [0.0, 0.0, 0.0], "scale": [0.0039216] * 3}, "calibration": {"count": 3},
      "mud": {"model_type": "yolo11", "labels": COCO}}),
    ("recamera_yolov5s_mixed", "002",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV5, final="output"),
     {"target": "recamera", "name": "yolov5s", "outputs": ["output"], "quantize": "mixed",
      "input": {"mean": [0.0, 0.0, 0.0], "scale": [0.0039216] * 3}, "calibration": {"count": 3},
      "mud": {"model_type": "yolov5", "labels": COCO}}),
    ("maixcam2_yolo11n", "000",
     dict(input_name="images", input_shape=[1, 3, 480, 640], convs=YOLO11_CONCAT,
          graph_outputs=[n for n, _ in YOLO11_CONCAT]),
     {"target": "maixcam2", "name": "yolo11n_640x480", "outputs": [n for n, _ in YOLO11_CONCAT],
      "calibration": {"count": 3}, "mud": {"model_type": "yolo11", "type": "detector", "labels": COCO}}),
    ("axera_pi_mobilenetv2", "003",
     dict(input_name="input", input_shape=[1, 3, 224, 224], convs=[("536", [1, 1000, 1, 1])],
          graph_outputs=["536"]),
     {"target": "axera-pi", "name": "mobilenetv2", "outputs": ["536"],
      "input": {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 65.025],
                "keep_aspect_ratio": False},
      "calibration": {"count": 3}}),
    ("metis_yolov5s", "004",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV5,
          graph_outputs=[n for n, _ in YOLOV5]),
     {"target": "metis", "name": "yolov5s-v7-coco", "outputs": [n for n, _ in YOLOV5],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov5", "labels": COCO}}),
]


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def cli(*args):
    p = run([CLI] + list(args))
    if p.returncode not in (0, 3):
        raise AssertionError("kiln_recipe_cli %s: status %d: %s" % (args[0], p.returncode, p.stderr))
    return json.loads(p.stdout), p.returncode


def workspace(tmp, case):
    label, seed, onnx_args, spec = case
    ws = os.path.join(tmp, "ws")
    os.makedirs(os.path.join(ws, "images"))
    make_onnx(os.path.join(ws, "model.onnx"), **onnx_args)
    for i in range(3):
        with open(os.path.join(ws, "images", "img%d.jpg" % i), "wb") as f:
            f.write(JPEG)
    with tarfile.open(os.path.join(ws, "images.tar"), "w") as tf:
        for i in range(3):
            ti = tarfile.TarInfo("img%d.jpg" % i)
            ti.size = len(JPEG)
            tf.addfile(ti, io.BytesIO(JPEG))
    with open(os.path.join(ws, "test.jpg"), "wb") as f:
        f.write(JPEG)
    return ws


def plan_case(tmp, case):
    label, seed, onnx_args, spec = case
    ws = workspace(tmp, case)
    insp = run([INSPECT, "inspect", os.path.join(ws, "model.onnx")])
    if insp.returncode != 0:
        raise AssertionError("onnx_inspect_cli failed: %s %s" % (insp.stdout, insp.stderr))
    ip = os.path.join(tmp, "insp.json")
    with open(ip, "w") as f:
        f.write(insp.stdout)
    full = dict(spec, model="m-" + label, dataset="d-" + label)
    sp = os.path.join(tmp, "spec.json")
    with open(sp, "w") as f:
        json.dump(full, f)
    out, rc = cli("plan", sp, ip, "test.jpg")
    if rc != 0:
        raise AssertionError("plan refused: %s" % out)
    return ws, out


def run_plan(ws, out):
    plan = out["plan"]
    for f in plan.get("files", []):
        with open(os.path.join(ws, f["name"]), "w") as fh:
            fh.write(f["content"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_DOUBLE_")}
    env["PATH"] = DOUBLE + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    for st in plan["steps"]:
        p = subprocess.run(st["argv"], cwd=ws, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        if p.returncode != 0:
            raise AssertionError("step %s (%s) failed with %d:\n%s" % (
                st["name"], " ".join(st["argv"]), p.returncode, p.stdout[-3000:]))
        for o in st.get("outputs", []):
            if not os.path.exists(os.path.join(ws, o)):
                raise AssertionError("step %s did not write %s" % (st["name"], o))


def check_bundle(tmp, ws, out):
    op = os.path.join(tmp, "planout.json")
    with open(op, "w") as f:
        json.dump(out, f)
    bdir = os.path.join(tmp, "bundle")
    res, rc = cli("stage", op, ws, bdir)
    if rc != 0:
        raise AssertionError("stage: %s" % res)
    for name in os.listdir(bdir):
        if name.endswith(".mud"):
            res, rc = cli("mud-check", os.path.join(bdir, name))
            if rc != 0:
                raise AssertionError("the bundle's .mud fails MaixPy's checks: %s" % res)
    res, rc = cli("bundle", bdir, os.path.join(tmp, "a.tar.gz"))
    if rc != 0:
        raise AssertionError("bundle: %s" % res)
    res2, rc = cli("bundle", bdir, os.path.join(tmp, "b.tar.gz"))
    a = open(os.path.join(tmp, "a.tar.gz"), "rb").read()
    b = open(os.path.join(tmp, "b.tar.gz"), "rb").read()
    if a != b:
        raise AssertionError("packing the same bundle twice gave different bytes")
    names = sorted(f["name"] for f in res["manifest"]["files"])
    want = sorted(f["name"] for f in out["bundle"])
    if names != want:
        raise AssertionError("manifest files %s != bundle %s" % (names, want))
    with tarfile.open(os.path.join(tmp, "a.tar.gz")) as tf:
        members = tf.getnames()
        if members != sorted(members) or "manifest.json" not in members:
            raise AssertionError("archive entries not sorted or manifest missing: %s" % members)
    validate_manifest(res["manifest"])


def validate_manifest(m):
    import jsonschema
    with open(os.path.join(ROOT, "schema", "manifest.schema.json")) as f:
        schema = json.load(f)
    jsonschema.validate(m, schema)


def test_case(case):
    label = case[0]
    tmp = tempfile.mkdtemp(prefix="kiln-recipe-")
    try:
        ws, out = plan_case(tmp, case)
        run_plan(ws, out)
        check_bundle(tmp, ws, out)
        if label.startswith("metis"):
            mj = json.load(open(os.path.join(ws, "build", "yolov5s-v7-coco", "yolov5s-v7-coco", "1",
                                             "model.json")))
            # seed 004's model.json: resize 640 letterbox, normalize 0/1,
            # decode_yolov5 80 classes at 0.25, nms 0.45
            want_pre = [{"type": "resize", "width": 640, "height": 640, "letterbox": True},
                        {"type": "normalize", "mean": [0, 0, 0], "std": [1, 1, 1]}]
            want_post = [{"type": "decode_yolov5", "classes": 80, "confidence_threshold": 0.25},
                         {"type": "nms", "iou_threshold": 0.45}]
            assert mj["preprocessing"] == want_pre, mj["preprocessing"]
            assert mj["postprocessing"] == want_post, mj["postprocessing"]
            assert mj["model"] == "yolov5s-v7-coco/1/model.axmodel", mj["model"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_double_fails_the_plan_on_low_cosine():
    """A tolerance failure of the real kind stops the INT8 deploy (status 1, no model)."""
    case = CASES[0]
    tmp = tempfile.mkdtemp(prefix="kiln-recipe-")
    try:
        ws, out = plan_case(tmp, case)
        os.environ["KILN_DOUBLE_LOW_COSINE"] = "model_deploy:/model.24/m.0/Conv_output_0"
        try:
            env = dict(os.environ, PATH=DOUBLE + os.pathsep + os.environ.get("PATH", ""))
            failed = None
            for st in out["plan"]["steps"]:
                p = subprocess.run(st["argv"], cwd=ws, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, timeout=300)
                if p.returncode != 0:
                    failed = st["name"]
                    assert "NOT_SIMLIAR" in p.stdout, p.stdout[-2000:]
                    break
            assert failed and failed.startswith("deploy"), failed
        finally:
            del os.environ["KILN_DOUBLE_LOW_COSINE"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    results = []
    missing = [p for p in (CLI, INSPECT) if not os.path.exists(p)]
    try:
        import onnx  # noqa: F401
        import jsonschema  # noqa: F401
    except ImportError as e:
        missing.append(str(e))
    tests = [("recipe_double__%s_seed_%s_runs" % (c[0], c[1]), lambda c=c: test_case(c)) for c in CASES]
    tests.append(("recipe_double__low_cosine_fails_int8_deploy", test_double_fails_the_plan_on_low_cosine))
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    for name, fn in tests:
        if only and only not in name:
            continue
        if missing:
            print("SKIP %s: missing %s" % (name, ", ".join(missing)))
            continue
        try:
            fn()
            print("PASS %s" % name)
        except Exception as e:  # noqa: BLE001
            msg = str(e).replace("\n", "\n  ")
            print("FAIL %s: %s" % (name, msg))
            traceback.print_exc(file=sys.stderr)
            results.append(name)
    return 1 if results else 0


if __name__ == "__main__":
    sys.exit(main())
