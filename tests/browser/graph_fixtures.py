"""Graphs for the graph view's browser test and benchmark, built with
python3-onnx (Debian's package, the reference implementation).

ppocr_det(): the topology of a PaddleOCR det export (PP-OCR det, DBNet on a
MobileNetV3 backbone, as paddle2onnx writes it): 672 nodes of which 342 are
Constant nodes (paddle2onnx emits every scalar of hard_swish, hard_sigmoid,
Clip bounds and Resize scales as its own Constant node), a dynamic input
"x", one output "sigmoid_0.tmp_0".  Those are the counts the issue measured
on the real PP-OCR det model; the channels are scaled down so the file is
small.  The layer names follow paddle's "<op>_<n>.tmp_<k>" scheme.

chain(n): an n-node model of stacked residual blocks (Conv, Relu, Add,
with a Constant per Mul), for the 10 000-node layout benchmark.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class P2O:
    def __init__(self):
        self.nodes, self.inits = [], []
        self.n = {}
        self.rng = np.random.default_rng(1)

    def name(self, op):
        i = self.n.get(op, 0)
        self.n[op] = i + 1
        return f"{op}_{i}"

    def const(self, value, dtype=np.float32):
        nm = self.name("p2o.Constant")
        t = numpy_helper.from_array(np.asarray(value, dtype), nm + ".value")
        self.nodes.append(helper.make_node("Constant", [], [nm + ".tmp_0"], name=nm, value=t))
        return nm + ".tmp_0"

    def op(self, op, inputs, **attrs):
        nm = self.name(op.lower())
        out = nm + ".tmp_0"
        self.nodes.append(helper.make_node(op, inputs, [out], name="p2o." + nm, **attrs))
        return out

    def conv(self, x, cin, cout, k=1, s=1, group=1):
        nm = f"conv2d_{len(self.inits)}"
        w = numpy_helper.from_array((self.rng.standard_normal((cout, cin // group, k, k)) * 0.1).astype(np.float32), nm + ".w_0")
        self.inits.append(w)
        return self.op("Conv", [x, w.name], kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4, group=group)

    def hard_swish(self, x):
        # paddle2onnx: x * clip(x + 3, 0, 6) / 6
        a = self.op("Add", [x, self.const(3.0)])
        c = self.op("Clip", [a, self.const(0.0), self.const(6.0)])
        m = self.op("Mul", [x, c])
        return self.op("Div", [m, self.const(6.0)])

    def hard_sigmoid(self, x):
        m = self.op("Mul", [x, self.const(0.2)])
        a = self.op("Add", [m, self.const(0.5)])
        return self.op("Clip", [a, self.const(0.0), self.const(1.0)])

    def se(self, x, c):
        p = self.op("GlobalAveragePool", [x])
        r = self.op("Relu", [self.conv(p, c, c // 4 or 1)])
        return self.op("Mul", [x, self.hard_sigmoid(self.conv(r, c // 4 or 1, c))])

    def resize2(self, x):
        return self.op("Resize", [x, self.const([], np.float32), self.const([1, 1, 2, 2])], mode="nearest")


def ppocr_det(nodes=672, constants=342):
    g = P2O()
    c = 8
    x = g.hard_swish(g.conv("x", 3, c, 3, 2))
    feats = []
    # MobileNetV3 bneck blocks; stride 2 at the four stages' starts.
    plan = [(1, False, "relu")] * 2 + [(2, False, "relu")] + [(1, False, "relu")] + \
        [(2, True, "relu")] + [(1, True, "relu")] * 2 + \
        [(2, False, "hs")] + [(1, False, "hs")] * 3 + [(1, True, "hs")] * 2 + \
        [(2, True, "hs")] + [(1, True, "hs")] * 2
    act = {"relu": lambda v: g.op("Relu", [v]), "hs": g.hard_swish}
    for i, (s, se, a) in enumerate(plan):
        if s == 2 and i:
            feats.append(x)
        y = act[a](g.conv(x, c, 2 * c))
        y = act[a](g.conv(y, 2 * c, 2 * c, 3, s, group=2 * c))
        if se:
            y = g.se(y, 2 * c)
        y = g.conv(y, 2 * c, c)
        x = g.op("Add", [x, y]) if s == 1 else y
    feats.append(x)
    # DBFPN: laterals, top-down adds, 3x3 convs, upsample to 1/4, concat.
    lat = [g.conv(f, c, c) for f in feats]
    for i in range(len(lat) - 1, 0, -1):
        lat[i - 1] = g.op("Add", [lat[i - 1], g.resize2(lat[i])])
    outs = [g.conv(v, c, c // 2, 3) for v in lat]
    for i in range(1, len(outs)):
        for _ in range(i):
            outs[i] = g.resize2(outs[i])
    y = g.op("Concat", outs, axis=1)
    # DBHead: conv-bn-relu, two transposed convs, sigmoid.  The filler
    # before it brings the counts to the real export's (paddle2onnx adds
    # a Constant-scaled Mul per folded batch-norm scale it cannot fuse).
    def count():
        k = sum(1 for n in g.nodes if n.op_type == "Constant")
        return len(g.nodes), k
    head_ops = 6
    while True:
        n, k = count()
        need, room = constants - k, nodes - head_ops - n
        if need >= 4 and room >= 5 and room - 5 >= need - 4:
            # paddle2onnx's slice: starts, ends, axes, steps as Constants
            y = g.op("Slice", [y, g.const([0], np.int64), g.const([2 ** 31 - 1], np.int64),
                               g.const([1], np.int64), g.const([1], np.int64)])
        elif need >= 1 and room >= 2:
            y = g.op("Mul", [y, g.const(1.0)])
        elif n + head_ops < nodes:
            y = g.op("Relu", [y])
        else:
            break
    y = g.op("Relu", [g.conv(y, 2 * c, c, 3)])
    wt = numpy_helper.from_array((g.rng.standard_normal((c, c, 2, 2)) * 0.1).astype(np.float32), "conv2d_transpose_0.w_0")
    wt2 = numpy_helper.from_array((g.rng.standard_normal((c, 1, 2, 2)) * 0.1).astype(np.float32), "conv2d_transpose_1.w_0")
    g.inits += [wt, wt2]
    y = g.op("Relu", [g.op("ConvTranspose", [y, wt.name], strides=[2, 2])])
    y = g.op("ConvTranspose", [y, wt2.name], strides=[2, 2])
    g.nodes.append(helper.make_node("Sigmoid", [y], ["sigmoid_0.tmp_0"], name="p2o.Sigmoid.0"))
    n, k = count()
    assert (n, k) == (nodes, constants), f"built {n} nodes, {k} Constants"
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["DynamicDimension.0", 3, "DynamicDimension.1", "DynamicDimension.2"])
    out = helper.make_tensor_value_info("sigmoid_0.tmp_0", TensorProto.FLOAT, ["DynamicDimension.0", 1, "DynamicDimension.1", "DynamicDimension.2"])
    graph = helper.make_graph(g.nodes, "paddle-det", [inp], [out], initializer=g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], producer_name="PaddlePaddle")
    m.ir_version = 6
    onnx.checker.check_model(m)
    return m


def chain(n=10000):
    """n nodes: residual blocks of Conv, Mul by a Constant, Relu, Add."""
    g = P2O()
    x = "x"
    c = 4
    while len(g.nodes) + 5 <= n - 1:
        y = g.conv(x, c if x != "x" else 3, c, 3)
        y = g.op("Relu", [g.op("Mul", [y, g.const(0.5)])])
        x = g.op("Add", [y, x]) if x != "x" else y
    while len(g.nodes) < n:
        x = g.op("Relu", [x])
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])
    out = helper.make_tensor_value_info(x, TensorProto.FLOAT, None)
    graph = helper.make_graph(g.nodes, "chain", [inp], [out], initializer=g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    return m


if __name__ == "__main__":
    which, path = sys.argv[1], sys.argv[2]
    onnx.save(ppocr_det() if which == "ppocr" else chain(int(sys.argv[3]) if len(sys.argv) > 3 else 10000), path)
