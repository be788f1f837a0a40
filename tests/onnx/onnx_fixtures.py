"""Shared helpers for the ONNX tests: the C inspector CLI and model builders.

The builders make graphs with the topology and node/tensor names of real
Ultralytics exports (YOLOv5 v7.0 Detect, YOLOv8 / YOLO11 Detect with DFL,
a -cls classifier), scaled down to a few channels so the files stay tiny.
Names follow torch.onnx's scheme (/model.N/<module path>/<Op>_output_0),
which is what the seeds quote.
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KILN_BUILD", "build")
CLI = os.path.join(ROOT, BUILD, "tools", "onnx_inspect_cli")


class Report:
    """Prints PASS/FAIL/SKIP lines the way tests/run.sh counts them."""

    def __init__(self, suite):
        self.suite = suite
        self.failed = 0

    def ok(self, name):
        print(f"PASS {self.suite}.{name}", flush=True)

    def fail(self, name, why):
        self.failed += 1
        why = str(why).replace("\n", " ")[:400]
        print(f"FAIL {self.suite}.{name}: {why}", flush=True)

    def skip(self, name, why):
        print(f"SKIP {self.suite}.{name}: {why}", flush=True)

    def check(self, name, fn):
        try:
            fn()
        except AssertionError as e:
            self.fail(name, e or "assertion failed")
        except Exception as e:  # a crash in the test is a failure too
            self.fail(name, f"{type(e).__name__}: {e}")
        else:
            self.ok(name)

    def done(self):
        sys.exit(1 if self.failed else 0)


def cli(*args):
    """Runs the CLI; returns (exit status, parsed JSON or raw text)."""
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True,
                       timeout=120)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        return p.returncode, p.stdout + p.stderr


# --- builders -----------------------------------------------------------------

class G:
    """A tiny graph builder with Ultralytics-style names."""

    def __init__(self, seed=0):
        self.nodes, self.inits = [], []
        self.rng = np.random.default_rng(seed)

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(self, op, path, inputs, n_out=1, **attrs):
        """path like '/model.0/conv' -> node '/model.0/conv/Conv'."""
        base = f"{path}/{op}" if path else op
        outs = [f"{base}_output_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=base, **attrs))
        return outs[0] if n_out == 1 else outs

    def nd(self, op, name, inputs, n_out=1, **attrs):
        """A node named exactly `name`, outputs `name`_output_i."""
        outs = [f"{name}_output_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def conv(self, path, x, cin, cout, k=3, s=1, group=1, bias=True):
        w = self.const(f"{path}.weight",
                       self.rng.standard_normal((cout, cin // group, k, k)).astype(np.float32) * 0.1)
        ins = [x, w]
        if bias:
            ins.append(self.const(f"{path}.bias", np.zeros(cout, np.float32)))
        return self.node("Conv", path, ins, kernel_shape=[k, k], strides=[s, s],
                         pads=[k // 2] * 4, group=group, dilations=[1, 1])

    def conv_silu(self, path, x, cin, cout, k=3, s=1, group=1):
        """Ultralytics Conv: conv (BN fused) + SiLU as Sigmoid*Mul."""
        y = self.conv(f"{path}/conv", x, cin, cout, k, s, group)
        sg = self.node("Sigmoid", f"{path}/act", [y])
        return self.node("Mul", f"{path}/act", [y, sg])

    def model(self, name, inputs, outputs, opset=17, ir=8, metadata=None):
        g = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="pytorch", producer_version="2.1.0")
        m.ir_version = ir
        for k, v in (metadata or {}).items():
            e = m.metadata_props.add()
            e.key, e.value = k, v
        return m


def backbone(g, mid, c=8):
    """Five stride-2 convs: P3 (8x8), P4 (4x4), P5 (2x2) from 64x64."""
    x = "images"
    feats = []
    for i in range(5):
        x = g.conv_silu(f"/model.{i}", x, 3 if i == 0 else c, c, 3, 2)
        if i >= 2:
            feats.append(x)
    return feats


def images_input():
    return helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])


# yolov5s.yaml's anchors (pixels, one row of w,h pairs per stride 8/16/32).
YOLOV5_COCO_ANCHORS = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119],
                       [116, 90, 156, 198, 373, 326]]


def yolov5(nc=3, c=8, anchors=YOLOV5_COCO_ANCHORS, anchor_grid="constant"):
    """YOLOv5 v7.0 Detect (model.24): Conv -> Reshape -> Transpose -> Sigmoid
    -> Split -> xy/wh decode -> Concat -> Reshape; levels concatenated.
    The wh decode multiplies by each level's anchor_grid as Ultralytics
    builds it (ultralytics/yolov5 88f52e8d models/yolo.py,
    Detect._make_grid: (anchors[i] * stride[i]).view((1, na, 1, 1, 2))
    .expand((1, na, ny, nx, 2))): anchor_grid "constant" stores it as a
    traced export does, a [1, na, ny, nx, 2] initializer of pixels;
    "expand" computes it in the graph (Mul, Reshape, Expand from anchors in
    grid units), as a dynamic-shape export does, so no constant holds it."""
    g = G(5)
    feats = backbone(g, 24, c)
    no, na = nc + 5, 3
    outs = []
    for i, (x, hw, stride) in enumerate(zip(feats, [8, 4, 2], [8, 16, 32])):
        sfx = "" if i == 0 else f"_{i}"
        y = g.conv(f"/model.24/m.{i}", x, c, na * no, k=1)
        shp = g.const(f"/model.24/Constant{sfx}_output_0", np.array([1, na, no, hw, hw], np.int64))
        y = g.nd("Reshape", f"/model.24/Reshape{sfx}", [y, shp])
        y = g.nd("Transpose", f"/model.24/Transpose{sfx}", [y], perm=[0, 1, 3, 4, 2])
        y = g.nd("Sigmoid", f"/model.24/Sigmoid{sfx}", [y])
        split = g.const(f"/model.24/split{sfx}", np.array([2, 2, 1 + nc], np.int64))
        xy, wh, conf = g.nd("Split", f"/model.24/Split{sfx}", [y, split], 3, axis=4)
        two = g.const(f"/model.24/two{sfx}", np.array(2.0, np.float32))
        grid = g.const(f"/model.24/grid{sfx}", np.zeros((1, na, hw, hw, 2), np.float32))
        px = np.array(anchors[i], np.float32).reshape(1, na, 1, 1, 2)
        if anchor_grid == "constant":
            ag = g.const(f"/model.24/anchor_grid{sfx}",
                         np.ascontiguousarray(np.broadcast_to(px, (1, na, hw, hw, 2))))
        else:
            units = g.const(f"/model.24/anchors{sfx}", (px / stride).reshape(na, 2))
            stc = g.const(f"/model.24/anchor_stride{sfx}", np.array(float(stride), np.float32))
            ag = g.node("Mul", f"/model.24/anchor_px{sfx}", [units, stc])
            view = g.const(f"/model.24/anchor_view{sfx}", np.array([1, na, 1, 1, 2], np.int64))
            ag = g.node("Reshape", f"/model.24/anchor_view{sfx}", [ag, view])
            full = g.const(f"/model.24/anchor_shape{sfx}", np.array([1, na, hw, hw, 2], np.int64))
            ag = g.node("Expand", f"/model.24/anchor_grid{sfx}", [ag, full])
        st = g.const(f"/model.24/stride{sfx}", np.array(float(stride), np.float32))
        a = g.node("Mul", f"/model.24/xy{sfx}", [xy, two])
        a = g.node("Add", f"/model.24/xy{sfx}", [a, grid])
        a = g.node("Mul", f"/model.24/xys{sfx}", [a, st])
        b = g.node("Mul", f"/model.24/wh{sfx}", [wh, two])
        b = g.node("Pow", f"/model.24/wh{sfx}", [b, two])
        b = g.node("Mul", f"/model.24/whs{sfx}", [b, ag])
        cat = g.node("Concat", f"/model.24/cat{sfx}", [a, b, conf], axis=4)
        shp2 = g.const(f"/model.24/shape2{sfx}", np.array([1, na * hw * hw, no], np.int64))
        outs.append(g.node("Reshape", f"/model.24/flat{sfx}", [cat, shp2]))
    final = helper.make_node("Concat", outs, ["output0"], name="/model.24/Concat_3", axis=1)
    g.nodes.append(final)
    n = 3 * (64 + 16 + 4)
    return g.model("main_graph", [images_input()],
                   [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, n, no])])


def yolov8(nc=4, c=8, eleven=False, task="detect"):
    """YOLOv8 (model.22) / YOLO11 (model.23) Detect with DFL (reg_max 16).
    task "pose" adds Ultralytics' Pose branch (per level cv4 convs, 17
    keypoints x 3, reshaped and concatenated on the last axis before the
    levels are: /model.N/Concat_output_0); "seg" adds Segment's (32 mask
    coefficients the same way, and the Proto upsampled from P3 as the second
    graph output "output1")."""
    g = G(8 if not eleven else 11)
    feats = backbone(g, 22, c)
    m = "/model.23" if eleven else "/model.22"
    reg = 16
    levels = []
    ne = {"pose": 17 * 3, "seg": 32}.get(task)
    extra = []
    for i, x in enumerate(feats):
        if ne:
            e = g.conv_silu(f"{m}/cv4.{i}/cv4.{i}.0", x, c, c)
            e = g.conv_silu(f"{m}/cv4.{i}/cv4.{i}.1", e, c, c)
            e = g.conv(f"{m}/cv4.{i}/cv4.{i}.2", e, c, ne, k=1)
            es = g.const(f"{m}/cv4shape{i}", np.array([1, ne, -1], np.int64))
            extra.append(g.nd("Reshape", f"{m}/Reshape_e{i}", [e, es]))
    if ne:
        kc = helper.make_node("Concat", extra, [f"{m}/Concat_output_0"], name=f"{m}/Concat", axis=-1)
        g.nodes.append(kc)
    for i, x in enumerate(feats):
        p = f"{m}/cv2.{i}"
        a = g.conv_silu(f"{p}/cv2.{i}.0", x, c, c)
        a = g.conv_silu(f"{p}/cv2.{i}.1", a, c, c)
        box = g.conv(f"{p}/cv2.{i}.2", a, c, 4 * reg, k=1)
        q = f"{m}/cv3.{i}"
        if eleven:
            b = g.conv_silu(f"{q}/cv3.{i}.0/cv3.{i}.0.0", x, c, c, 3, 1, group=c)
            b = g.conv_silu(f"{q}/cv3.{i}.0/cv3.{i}.0.1", b, c, c, 1)
            b = g.conv_silu(f"{q}/cv3.{i}.1/cv3.{i}.1.0", b, c, c, 3, 1, group=c)
            b = g.conv_silu(f"{q}/cv3.{i}.1/cv3.{i}.1.1", b, c, c, 1)
        else:
            b = g.conv_silu(f"{q}/cv3.{i}.0", x, c, c)
            b = g.conv_silu(f"{q}/cv3.{i}.1", b, c, c)
        cls = g.conv(f"{q}/cv3.{i}.2", b, c, nc, k=1)
        # per-level Concat names as MaixPy's guide lists them
        # (docs/doc/en/vision/customize_model_yolov8.md): YOLO11
        # Concat, Concat_1, Concat_2; YOLOv8 Concat_1, Concat_2, Concat_3
        k = i if eleven and not ne else i + 1
        sfx = "" if k == 0 else f"_{k}"
        cat = helper.make_node("Concat", [box, cls], [f"{m}/Concat{sfx}_output_0"],
                               name=f"{m}/Concat{sfx}", axis=1)
        g.nodes.append(cat)
        shp = g.const(f"{m}/Constant{sfx}_output_0", np.array([1, 4 * reg + nc, -1], np.int64))
        r = helper.make_node("Reshape", [cat.output[0], shp], [f"{m}/Reshape{sfx}_output_0"],
                             name=f"{m}/Reshape{sfx}")
        g.nodes.append(r)
        levels.append(r.output[0])
    A = 64 + 16 + 4
    n0 = 3 if eleven and not ne else 4  # the next free Concat number
    allc = helper.make_node("Concat", levels, [f"{m}/Concat_{n0}_output_0"], name=f"{m}/Concat_{n0}", axis=2)
    g.nodes.append(allc)
    sp = g.const(f"{m}/split", np.array([4 * reg, nc], np.int64))
    bx, cl = f"{m}/Split_output_0", f"{m}/Split_output_1"
    g.nodes.append(helper.make_node("Split", [allc.output[0], sp], [bx, cl], name=f"{m}/Split", axis=1))
    s1 = g.const(f"{m}/dfl/shape", np.array([1, 4, reg, A], np.int64))
    d = g.node("Reshape", f"{m}/dfl", [bx, s1])
    d = g.node("Transpose", f"{m}/dfl", [d], perm=[0, 2, 1, 3])
    d = g.node("Softmax", f"{m}/dfl", [d], axis=1)
    w = g.const("model.dfl.conv.weight", np.arange(reg, dtype=np.float32).reshape(1, reg, 1, 1))
    d = g.node("Conv", f"{m}/dfl/conv", [d, w], kernel_shape=[1, 1], strides=[1, 1],
               pads=[0, 0, 0, 0], group=1, dilations=[1, 1])
    s2 = g.const(f"{m}/dfl/shape1", np.array([1, 4, A], np.int64))
    dist = helper.make_node("Reshape", [d, s2], [f"{m}/dfl/Reshape_1_output_0"], name=f"{m}/dfl/Reshape_1")
    g.nodes.append(dist)
    st = g.const(f"{m}/starts0", np.array([0], np.int64))
    mid = g.const(f"{m}/mid", np.array([2], np.int64))
    en = g.const(f"{m}/ends1", np.array([4], np.int64))
    ax = g.const(f"{m}/axes", np.array([1], np.int64))
    lt = g.node("Slice", m, [dist.output[0], st, mid, ax])
    rb = helper.make_node("Slice", [dist.output[0], mid, en, ax], [f"{m}/Slice_1_output_0"], name=f"{m}/Slice_1")
    g.nodes.append(rb)
    anchors = g.const(f"{m}/anchors", np.zeros((1, 2, A), np.float32))
    x1y1 = g.node("Sub", m, [anchors, lt])
    x2y2 = g.node("Add", m, [anchors, rb.output[0]])
    s = helper.make_node("Add", [x1y1, x2y2], [f"{m}/Add_1_output_0"], name=f"{m}/Add_1")
    g.nodes.append(s)
    two = g.const(f"{m}/Constant_9_output_0", np.array(2.0, np.float32))
    cxy = g.node("Div", m, [s.output[0], two])
    wh = helper.make_node("Sub", [x2y2, x1y1], [f"{m}/Sub_1_output_0"], name=f"{m}/Sub_1")
    g.nodes.append(wh)
    box = helper.make_node("Concat", [cxy, wh.output[0]], [f"{m}/Concat_{n0 + 1}_output_0"],
                           name=f"{m}/Concat_{n0 + 1}", axis=1)
    g.nodes.append(box)
    strides = g.const(f"{m}/strides", np.ones((1, A), np.float32))
    dbox = g.node("Mul", m, [box.output[0], strides])
    sig = g.node("Sigmoid", m, [cl])
    tail = [dbox, sig]
    outputs = []
    if ne:
        # keypoints / coefficients go on through a small decode
        kscale = g.const(f"{m}/kscale", np.array(2.0, np.float32))
        tail.append(g.node("Mul", f"{m}/kpt", [kc.output[0], kscale]))
    g.nodes.append(helper.make_node("Concat", tail, ["output0"], name=f"{m}/Concat_{n0 + 2}", axis=1))
    outputs.append(helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + nc + (ne or 0), A]))
    if task == "seg":
        p = g.conv_silu(f"{m}/proto/cv1", feats[0], c, c)
        sc = g.const(f"{m}/proto/scales", np.array([1, 1, 2, 2], np.float32))
        p = g.node("Resize", f"{m}/proto/upsample", [p, "", sc], mode="nearest")
        p = g.conv_silu(f"{m}/proto/cv2", p, c, c)
        p = g.conv_silu(f"{m}/proto/cv3", p, c, 32, k=1)
        g.nodes[-1].output[0] = "output1"
        outputs.append(helper.make_tensor_value_info("output1", TensorProto.FLOAT, [1, 32, 16, 16]))
    return g.model("main_graph", [images_input()], outputs,
                   metadata={"task": task, "stride": "32",
                             "names": "{0: 'a', 1: 'b', 2: 'c', 3: 'd'}"})


def classifier(nc=5, c=8):
    """yolov8n-cls style: backbone -> Classify (model.9): conv, pool,
    flatten, linear, softmax."""
    g = G(9)
    x = "images"
    for i in range(3):
        x = g.conv_silu(f"/model.{i}", x, 3 if i == 0 else c, c, 3, 2)
    x = g.conv_silu("/model.9/conv", x, c, 16, 1)
    x = g.node("GlobalAveragePool", "/model.9/pool", [x])
    x = g.node("Flatten", "/model.9", [x], axis=1)
    w = g.const("model.9.linear.weight", g.rng.standard_normal((nc, 16)).astype(np.float32))
    b = g.const("model.9.linear.bias", np.zeros(nc, np.float32))
    x = g.node("Gemm", "/model.9/linear", [x, w, b], alpha=1.0, beta=1.0, transB=1)
    g.nodes.append(helper.make_node("Softmax", [x], ["output0"], name="/model.9/Softmax", axis=1))
    return g.model("main_graph", [images_input()],
                   [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, nc])],
                   metadata={"task": "classify"})


def sigmoid_head():
    """A segmentation-style net whose output is a Sigmoid of a conv."""
    g = G(3)
    x = g.conv_silu("/enc", "images", 3, 8, 3, 2)
    x = g.conv("/head", x, 8, 1, 1)
    g.nodes.append(helper.make_node("Sigmoid", [x], ["mask"], name="/Sigmoid"))
    return g.model("main_graph", [images_input()],
                   [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, 32, 32])])


def half(model, int32_bits=False):
    """The model as a float16 export writes it (ultralytics/yolov5 export.py
    --half: model.half(), so every float weight and constant, the input and
    the outputs are FLOAT16): float32 initializers become float16 ones
    (raw_data, or 16-bit patterns in int32_data when int32_bits, both
    legal per onnx.proto's TensorProto comments), and float32 value types
    float16.  Checked with onnx.checker."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    for i, t in enumerate(g.initializer):
        if t.data_type != TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(t).astype(np.float16)
        if int32_bits:
            # make_tensor stores FLOAT16 values as their bit patterns
            h = helper.make_tensor(t.name, TensorProto.FLOAT16, a.shape,
                                   a.astype(np.float32).flatten().tolist())
            assert len(h.int32_data) == a.size and not h.raw_data
        else:
            h = numpy_helper.from_array(a, t.name)
        g.initializer[i].CopyFrom(h)
    for v in list(g.input) + list(g.output) + list(g.value_info):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
    onnx.checker.check_model(m, full_check=True)
    return m


def save(model, path):
    onnx.save(model, path)
    return path


def _varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


_SMALL = [_varint(v) for v in range(1 << 14)]


def _field(num, data):
    n = len(data)
    return _SMALL[num << 3 | 2] + (_SMALL[n] if n < 1 << 14 else _varint(n)) + data


def _vinfo(name):
    # ValueInfoProto{name, type: tensor_type{elem_type FLOAT, shape [1]}}
    shape = _field(2, _field(1, b"\x08\x01"))
    return _field(1, name) + _field(2, _field(1, b"\x08\x01" + shape))


def big_chain(nodes):
    """The serialized ModelProto of test_offload_http's big_model(nodes) and
    its last output's name, encoded directly (python3-onnx's helper takes
    40 s for 1M nodes; test_onnx_memory checks the encoding on a small one)."""
    parts, prev, tail = [], b"x", _field(1, b"one")
    op = _field(4, b"Add")
    for i in range(nodes):
        out = f"/model.{i // 100}/block.{i % 100}/a_rather_long_tensor_name_{i}_output_0".encode()
        name = f"/model.{i // 100}/block.{i % 100}/Add_{i}".encode()
        parts.append(_field(1, b"".join((_field(1, prev), tail, _field(2, out),
                                         _field(3, name), op))))
        prev = out
    one = b"\x08\x01\x10\x01" + _field(8, b"one") + _field(9, b"\x00\x00\x80\x3f")
    graph = b"".join(parts) + _field(2, b"big") + _field(5, one) + \
        _field(11, _vinfo(b"x")) + _field(12, _vinfo(prev))
    return b"\x08\x08" + _field(7, graph) + _field(8, b"\x10\x11"), prev.decode()
