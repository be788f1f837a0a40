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
        conv_out = name if len(shape) == 4 else name + "/conv"
        nodes.append(helper.make_node("Conv", ["stem", "w%d" % i], [conv_out], name="conv%d" % i))
        if len(shape) == 3:
            # [1, C, A]: a head's per-anchor tensor (keypoints, mask
            # coefficients, the decoded output) is a Conv reshaped
            inits.append(helper.make_tensor("shape%d" % i, TensorProto.INT64, [3], [1, shape[1], -1]))
            nodes.append(helper.make_node("Reshape", [conv_out, "shape%d" % i], [name],
                                          name="reshape%d" % i))
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

YOLOV8_METIS = [("/model.22/cv2.%d/cv2.%d.2/Conv_output_0" % (i, i), [1, 64, 80 >> i, 80 >> i]) for i in range(3)] + \
               [("/model.22/cv3.%d/cv3.%d.2/Conv_output_0" % (i, i), [1, 80, 80 >> i, 80 >> i]) for i in range(3)]
YOLO11_METIS = [(n.replace("/model.22/", "/model.23/"), sh) for n, sh in YOLOV8_METIS]
# yolov5s.yaml's: these cut models have no anchor_grid to take them from
COCO_ANCHORS = [10, 13, 16, 30, 33, 23, 30, 61, 62, 45, 59, 119, 116, 90, 156, 198, 373, 326]
QUOTING_LABELS = ["a: b", "yes", "null", "0x1F", "on", "1:20", "- x", "'q'", 'say "hi" \\ bye',
                  "x\u2028y", "n\u0085l", "% 1", "&a", "*b", "!t", "{c}"]

LABELS_1000 = ["c%d" % i for i in range(1000)]
# MaixPy docs/doc/en/vision/customize_model_yolov8.md "Output Node Selection"
# (sipeed/MaixPy 4ca5228): YOLOv8's per-level Concats are Concat_1..3, YOLO11's
# Concat, Concat_1, Concat_2; pose/seg add /model.N/Concat_output_0 (keypoints
# or mask coefficients) and seg "output1" (the prototypes)
YOLOV8_CONCATS = [("/model.22/Concat_%d_output_0" % (i + 1), [1, 144, 80 >> i, 80 >> i]) for i in range(3)]
POSE_HEADS = [("/model.23/Concat_%d_output_0" % (i + 1), [1, 65, 80 >> i, 80 >> i]) for i in range(3)] + \
             [("/model.23/Concat_output_0", [1, 51, 8400])]
SEG_HEADS = [(n, sh) for n, sh in YOLOV8_CONCATS] + \
            [("/model.22/Concat_output_0", [1, 32, 8400]), ("output1", [1, 32, 160, 160])]
YOLOV8_SIX = [("/model.22/%s.%d/%s.%d.2/Conv_output_0" % (b, i, b, i), [1, 64 if b == "cv2" else 80, 80 >> i, 80 >> i])
              for i in range(3) for b in ("cv2", "cv3")]
CLASSIFIER = dict(input_name="input", input_shape=[1, 3, 224, 224], convs=[("logits", [1, 1000, 1, 1])],
                  graph_outputs=["logits"])


def config_file(out, suffix):
    return [f["content"] for f in out["plan"]["files"] if f["name"].endswith(suffix)]


def mud_text(out):
    return [f["content"] for f in out["bundle"] if f["name"].endswith(".mud") and "content" in f][0]


def step_argv(out, name):
    return [st["argv"] for st in out["plan"]["steps"] if st["name"] == name][0]


def facts_maixcam2(perm):
    """MaixPy docs/doc/zh/ai_model_converter/maixcam2.md: dst_perm [0,2,3,1]
    on each YOLOv8/YOLO11 head; none for YOLOv5, whose MaixCDK decoder
    (maix_nn_yolov5.hpp) reads NCHW."""
    def check(ws, out):
        for text in config_file(out, ".json"):
            cfg = json.loads(text)
            got = [("dst_perm" in p) for p in cfg.get("output_processors", [])]
            assert got and all(g == perm for g in got), (perm, cfg.get("output_processors"))
    return check


def facts_maixcam2_perm_on(names):
    """dst_perm [0,2,3,1] on exactly these (the 4-D) outputs: a 3-D tensor
    has no NHWC (loader_check.c, maix_nn_yolo11.hpp reads 3-D as is)."""
    def check(ws, out):
        for text in config_file(out, ".json"):
            procs = json.loads(text).get("output_processors", [])
            got = sorted(p["tensor_name"] for p in procs if p.get("dst_perm") == [0, 2, 3, 1])
            assert got == sorted(names), (got, procs)
    return check


def facts_mud(**want):
    """The .mud's [extra] keys MaixCDK's class reads (maix_nn_*.hpp load())."""
    def check(ws, out):
        text = mud_text(out)
        for k, v in want.items():
            assert "%s = %s" % (k, v) in text, (k, v, text[:600])
    return check


def facts_output_names(names):
    """TPU-MLIR --output_names: the cvimodel's outputs in this order, the
    order SSCMA-Micro's decoders index (ma_model_yolo11.cpp isValid)."""
    def check(ws, out):
        argv = step_argv(out, "transform")
        assert argv[argv.index("--output_names") + 1] == ",".join(names), argv
    return check


# (label, seed, onnx builder args, spec[, facts(ws, out) | ("refused", field, words)])
CASES = [
    ("maixcam_yolov5s", "001",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV5, final="output"),
     {"target": "maixcam", "name": "yolov5s", "outputs": [n for n, _ in YOLOV5],
      "input": {"mean": [0, 0, 0], "scale": [0.00392156862745098] * 3},
      "calibration": {"count": 3}, "target_options": {"bf16_model": True},
      "mud": {"model_type": "yolov5", "labels": COCO, "anchors": COCO_ANCHORS}}),
    ("recamera_yolo11n_int8", "002",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLO11, final="output0"),
     {"target": "recamera", "name": "yolo11n", "outputs": [n for n, _ in YOLO11],
      "input": {"mean": [0.0, 0.0, 0.0], "scale": [0.0039216] * 3}, "calibration": {"count": 3},
      "mud": {"model_type": "yolo11", "labels": COCO}}),
    ("recamera_yolov5s_mixed", "002",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV5, final="output"),
     {"target": "recamera", "name": "yolov5s", "outputs": ["output"], "quantize": "mixed",
      "input": {"mean": [0.0, 0.0, 0.0], "scale": [0.0039216] * 3}, "calibration": {"count": 3},
      "mud": {"model_type": "yolov5", "labels": COCO, "anchors": COCO_ANCHORS}}),
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
    # Metis: the Voyager SDK v1.2.5's rules (tests/toolchain-double/SOURCES.md,
    # "Metis / Voyager SDK"), not seed 004's "simplified" model.json: where
    # the seed and the SDK's code differ on a file format, the code wins.
    ("metis_yolov5s", "004",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV5,
          graph_outputs=[n for n, _ in YOLOV5]),
     {"target": "metis", "name": "yolov5s-v7-coco", "outputs": [n for n, _ in YOLOV5],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov5", "labels": COCO, "anchors": COCO_ANCHORS}}),
    # decoders/yolo.py _guess_yolo_model: YOLOv8/YOLO11 are 6 outputs, the
    # three 64-channel box convs first, then the three class convs
    ("metis_yolov8n", "004",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV8_METIS,
          graph_outputs=[n for n, _ in YOLOV8_METIS]),
     {"target": "metis", "name": "yolov8n", "outputs": [n for n, _ in YOLOV8_METIS],
      "calibration": {"count": 3}, "target_options": {"aipu_cores": 4},
      "mud": {"model_type": "yolov8", "labels": COCO}}),
    ("metis_yolo11n", "004",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLO11_METIS,
          graph_outputs=[n for n, _ in YOLO11_METIS]),
     {"target": "metis", "name": "yolo11n", "outputs": [n for n, _ in YOLO11_METIS],
      "calibration": {"count": 3}, "mud": {"model_type": "yolo11", "labels": COCO}}),
    ("metis_resnet_classifier", "004",
     dict(input_name="input", input_shape=[1, 3, 224, 224], convs=[("logits", [1, 1000, 1, 1])],
          graph_outputs=["logits"]),
     {"target": "metis", "name": "resnet", "outputs": ["logits"],
      "input": {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 65.025],
                "keep_aspect_ratio": False},
      "calibration": {"count": 3}, "mud": {"model_type": "classifier"}}),
    # --- the board x model matrix (issue 13 "done when") -------------------
    # MaixCAM, YOLOv8 "mode 1" (maix_nn_yolo11.hpp load(): 3 outputs of
    # labels + 64 channels; MaixPy customize_model_yolov8.md scheme 1)
    ("maixcam_yolov8n_concats", "001",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV8_CONCATS, final="output0"),
     {"target": "maixcam", "name": "yolov8n", "outputs": [n for n, _ in YOLOV8_CONCATS],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov8", "labels": COCO}},
     facts_mud(model_type="yolov8")),
    # MaixCAM, YOLO11 pose: mode 1 with 4 outputs, the keypoints [1,51,A]
    ("maixcam_yolo11n_pose", "001",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=POSE_HEADS, final="output0"),
     {"target": "maixcam", "name": "yolo11n_pose", "outputs": [n for n, _ in POSE_HEADS],
      "calibration": {"count": 3}, "mud": {"model_type": "yolo11", "type": "pose", "labels": ["person"]}},
     facts_mud(model_type="yolo11", type="pose")),
    ("maixcam_classifier", "001", CLASSIFIER,
     {"target": "maixcam", "name": "mobilenet", "outputs": ["logits"], "calibration": {"count": 3},
      "mud": {"model_type": "classifier", "labels": LABELS_1000}},
     facts_mud(model_type="classifier")),
    # MaixCAM2, YOLOv5: NCHW heads, no dst_perm
    ("maixcam2_yolov5s", "000",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV5,
          graph_outputs=[n for n, _ in YOLOV5]),
     {"target": "maixcam2", "name": "yolov5s", "outputs": [n for n, _ in YOLOV5],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov5", "labels": COCO, "anchors": COCO_ANCHORS}},
     facts_maixcam2(False)),
    # MaixCAM2, YOLOv8 seg: 5 outputs in mode 1, dst_perm on the 4-D ones
    ("maixcam2_yolov8n_seg", "000",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=SEG_HEADS,
          graph_outputs=[n for n, _ in SEG_HEADS]),
     {"target": "maixcam2", "name": "yolov8n_seg", "outputs": [n for n, _ in SEG_HEADS],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov8", "type": "seg", "labels": COCO}},
     lambda ws, out: (facts_mud(model_type="yolov8", type="seg")(ws, out),
                      facts_maixcam2_perm_on([n for n, sh in SEG_HEADS if len(sh) == 4])(ws, out))),
    ("maixcam2_classifier", "000", CLASSIFIER,
     {"target": "maixcam2", "name": "mobilenet", "outputs": ["logits"], "calibration": {"count": 3},
      "mud": {"model_type": "classifier", "labels": LABELS_1000}},
     facts_mud(model_type="classifier")),
    # reCamera: SSCMA-Micro ma_model_yolov8.cpp / ma_model_yolo11.cpp isValid
    # (six [1,64,S,S] / [1,nc,S,S] convs), ma_model_classifier.cpp ([1,k,1,1]),
    # ma_model_yolo11_seg.cpp ([1,4+nc+32,A] + [1,32,W/4,W/4])
    ("recamera_yolov8n", "002",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV8_SIX, final="output0"),
     {"target": "recamera", "name": "yolov8n", "outputs": [n for n, _ in YOLOV8_SIX],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov8", "labels": COCO}},
     facts_output_names([n for n, _ in YOLOV8_SIX])),
    ("recamera_classifier", "002", CLASSIFIER,
     {"target": "recamera", "name": "mobilenet", "outputs": ["logits"], "calibration": {"count": 3},
      "mud": {"model_type": "classifier", "labels": LABELS_1000}},
     facts_output_names(["logits"])),
    ("recamera_yolo11n_seg", "002",
     dict(input_name="images", input_shape=[1, 3, 640, 640],
          convs=[("output0", [1, 116, 8400]), ("output1", [1, 32, 160, 160])],
          graph_outputs=["output0", "output1"]),
     {"target": "recamera", "name": "yolo11n_seg", "outputs": ["output0", "output1"],
      "quantize": "mixed", "calibration": {"count": 3},
      "mud": {"model_type": "yolo11", "type": "seg", "labels": COCO}},
     facts_output_names(["output0", "output1"])),
    # AXera-Pi: ax-samples examples/ax620/ax_yolov5s_steps.cc (output i is
    # stride 8 << i, 3 x (5 + classes) per cell)
    ("axera_pi_yolov5s", "003",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV5,
          graph_outputs=[n for n, _ in YOLOV5]),
     {"target": "axera-pi", "name": "yolov5s", "outputs": [n for n, _ in YOLOV5],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov5", "labels": COCO}}),
    # what the boards refuse, in their words (no plan is run)
    ("axera_pi_yolov8n_six", "003",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV8_SIX, final="output0"),
     {"target": "axera-pi", "name": "yolov8n", "outputs": [n for n, _ in YOLOV8_SIX],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov8", "labels": COCO}},
     ("refused", "outputs", "ax_yolov8s_steps.cc) reads 9")),
    ("recamera_yolo11n_pose_is_a_classifier_in_auto", "002",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=[("output0", [1, 56, 8400])],
          graph_outputs=["output0"]),
     {"target": "recamera", "name": "yolo11n_pose", "outputs": ["output0"], "calibration": {"count": 3},
      "mud": {"model_type": "yolo11", "type": "pose", "labels": ["person"]}},
     ("refused", "outputs", "as a Classifier")),
    ("metis_yolov8n_interleaved", "004",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=YOLOV8_SIX, final="output0"),
     {"target": "metis", "name": "yolov8n", "outputs": [n for n, _ in YOLOV8_SIX],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov8", "labels": COCO}},
     ("refused", "outputs", "Unknown model type for yolov8n, using generic GST decoder")),
    # Metis pose / seg: the zoo compiles the Ultralytics export uncut
    # (voyager-sdk v1.2.5 ax_models/zoo/yolo/keypoint_detection/
    # yolov8npose-coco-onnx.yaml, instance_segmentation/yolov8nseg-coco-onnx.yaml)
    ("metis_yolov8n_pose", "004",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=[("output0", [1, 56, 8400])],
          graph_outputs=["output0"]),
     {"target": "metis", "name": "yolov8n_pose", "outputs": ["output0"], "calibration": {"count": 3},
      "mud": {"model_type": "yolov8", "type": "pose", "labels": ["person"]}}),
    ("metis_yolov8n_seg", "004",
     dict(input_name="images", input_shape=[1, 3, 640, 640],
          convs=[("output0", [1, 116, 8400]), ("output1", [1, 32, 160, 160])],
          graph_outputs=["output0", "output1"]),
     {"target": "metis", "name": "yolov8n_seg", "outputs": ["output0", "output1"],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov8", "type": "seg", "labels": COCO}}),
    ("metis_yolov8n_pose_cut", "004",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=POSE_HEADS, final="output0"),
     {"target": "metis", "name": "yolov8n_pose", "outputs": [n for n, _ in POSE_HEADS],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov8", "type": "pose", "labels": ["person"]}},
     ("refused", "outputs", "decodeyolopose (ax_models/decoders/yolopose.py) reads the model's own")),
    # AXera-Pi pose: ax_yolov8s_pose_steps.cc reads 3 x 116 channels per cell,
    # which the export's level Concats (65) are not
    ("axera_pi_yolov8n_pose_concats", "003",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=POSE_HEADS[:3], final="output0"),
     {"target": "axera-pi", "name": "yolov8n_pose", "outputs": [n for n, _ in POSE_HEADS[:3]],
      "calibration": {"count": 3}, "mud": {"model_type": "yolov8", "type": "pose", "labels": ["person"]}},
     ("refused", "outputs", "ax_yolov8s_pose_steps.cc reads output 0 as stride 8")),
    # user strings that YAML would read as something else unquoted
    ("metis_quoting", "004",
     dict(input_name="images", input_shape=[1, 3, 640, 640], convs=[
         ("/model.24/m.%d/Conv_output_0" % i, [1, 3 * (5 + 9), 80 >> i, 80 >> i]) for i in range(3)],
          graph_outputs=["/model.24/m.%d/Conv_output_0" % i for i in range(3)]),
     {"target": "metis", "name": "null", "outputs": ["/model.24/m.%d/Conv_output_0" % i for i in range(3)],
      "calibration": {"count": 3},
      "mud": {"model_type": "yolov5", "labels": QUOTING_LABELS, "anchors": COCO_ANCHORS}}),
]


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def cli(*args):
    p = run([CLI] + list(args))
    if p.returncode not in (0, 3):
        raise AssertionError("kiln_recipe_cli %s: status %d: %s" % (args[0], p.returncode, p.stderr))
    return json.loads(p.stdout), p.returncode


def workspace(tmp, case):
    label, seed, onnx_args, spec = case[:4]
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


def loader_case(tmp, ws, ip, sp):
    """kilnd's submit-time checks beyond the spec (kiln_recipe_cli loader)."""
    p = run([CLI, "loader", sp, ip, os.path.join(ws, "model.onnx")])
    if p.returncode not in (0, 3):
        raise AssertionError("kiln_recipe_cli loader: status %d: %s" % (p.returncode, p.stderr))
    return json.loads(p.stdout)


def plan_case(tmp, case, want_loader=True):
    label, seed, onnx_args, spec = case[:4]
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
    lo = loader_case(tmp, ws, ip, sp)
    if want_loader is not True:
        return ws, lo
    if not lo.get("ok"):
        raise AssertionError("the board's loader refuses it: %s" % lo)
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


# voyager-sdk v1.2.5 axelera/app/network.py _provisional_model_info_from_yaml:
# the only keys of models.<name> (anything else: "... are not valid keys for
# model ...").
METIS_MODEL_KEYS = {"task_category", "input_tensor_shape", "input_color_format", "input_tensor_layout",
                    "weight_path", "weight_url", "weight_md5", "prequantized_url", "prequantized_md5",
                    "dataset", "base_dir", "class", "class_path", "version", "num_classes", "extra_kwargs"}
# pipeline.py TASK_PROPERTIES
METIS_TASK_KEYS = {"input", "preprocess", "postprocess", "template_path", "operators", "aipu_cores",
                   "meta_key", "model_name"}


def check_metis(ws, out, case):
    """The network YAML as the SDK reads it (PyYAML SafeLoader, axelera/app/
    yaml.py), the argv deploy.py's argparse takes, the build tree."""
    import yaml
    label, _seed, _o, spec = case[:4]
    name = spec["name"]
    opts = spec.get("target_options", {})
    cores = str(opts.get("aipu_cores", 1))
    net = yaml.safe_load(open(os.path.join(ws, "ax_models", "kiln", "network.yaml")))
    assert net["axelera-model-format"] == "1.0.0", net
    # yaml_parser.py model_sanity_check: every section present
    assert {"axelera-model-format", "name", "description", "pipeline", "models", "datasets"} <= set(net)
    assert net["name"] == name and list(net["models"]) == [name], (net["name"], list(net["models"]))
    m = net["models"][name]
    assert set(m) <= METIS_MODEL_KEYS, set(m) - METIS_MODEL_KEYS
    assert m["class"] == "AxONNXModel" and m["class_path"] == "$AXELERA_FRAMEWORK/ax_models/base_onnx.py"
    assert m["extra_kwargs"]["max_compiler_cores"] == int(cores), m["extra_kwargs"]
    (tname, task), = net["pipeline"][0].items()
    assert tname == name and task["model_name"] == name and set(task) <= METIS_TASK_KEYS, task
    pre = [next(iter(x)) for x in task["preprocess"]]
    post = [next(iter(x)) for x in task["postprocess"]]
    mt = spec["mud"]["model_type"]
    if mt == "classifier":
        # pipeline-template/torch-imagenet.yaml's operators, with the job's size and mean/std
        assert m["task_category"] == "Classification", m
        assert pre == ["resize", "torch-totensor", "normalize"] and post == ["topk"], (pre, post)
        norm = task["preprocess"][2]["normalize"]
        assert norm == {"mean": "0.485, 0.456, 0.406", "std": "0.229, 0.224, 0.255"}, norm
        assert task["preprocess"][0]["resize"] == {"width": 224, "height": 224}, task["preprocess"]
    else:
        # ax_models/reference/cascade/yolov8n-yolov8s.yaml's detection task;
        # pose / seg as the zoo's keypoint_detection/yolov8npose-coco-onnx.yaml
        # and instance_segmentation/yolov8nseg-coco-onnx.yaml (task_category,
        # decodeyolopose / decodeyoloseg from pipeline-template/yolo{pose,seg}-
        # letterbox.yaml, classes in ax_models/decoders/yolo{pose,seg}.py)
        kind = spec["mud"].get("type", "detector")
        cat, op, cls, py = {"detector": ("ObjectDetection", "decodeyolo", "DecodeYolo", "yolo.py"),
                            "pose": ("KeypointDetection", "decodeyolopose", "DecodeYoloPose", "yolopose.py"),
                            "seg": ("InstanceSegmentation", "decodeyoloseg", "DecodeYoloSeg",
                                    "yoloseg.py")}[kind]
        assert m["task_category"] == cat and m["num_classes"] == len(spec["mud"]["labels"]), m
        assert pre == ["letterbox", "torch-totensor"] and post == [op], (pre, post)
        assert task["preprocess"][0]["letterbox"] == {"width": 640, "height": 640, "scaleup": True}
        dec = task["postprocess"][0][op]
        assert dec["box_format"] == "xywh" and dec["normalized_coord"] is False, dec
        assert dec["conf_threshold"] == 0.25 and dec["nms_iou_threshold"] == 0.45, dec
        # DecodeYoloPose has no nms_class_agnostic / use_multi_label fields
        assert ("nms_class_agnostic" in dec) == (kind != "pose"), dec
        assert net["operators"] == {op: {
            "class": cls, "class_path": "$AXELERA_FRAMEWORK/ax_models/decoders/" + py}}, net["operators"]
        labels = yaml.safe_load(open(os.path.join(ws, "labels.yaml")))["names"]
        assert labels == spec["mud"]["labels"], labels
        if mt == "yolov5":
            # decoders/yolo.py: rows of 6 per level (base_onnx.py divides by strides)
            assert m["extra_kwargs"]["YOLO"]["anchors"] == [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119],
                                                            [116, 90, 156, 198, 373, 326]], m["extra_kwargs"]
        else:
            assert "YOLO" not in m["extra_kwargs"], m["extra_kwargs"]
    deploy = [st for st in out["plan"]["steps"] if st["name"] == "deploy"][0]
    assert deploy["argv"] == ["deploy.py", "ax_models/kiln/network.yaml", "--build-root", "build",
                              "--data-root", ".", "--model", name, "--mode", "QUANTCOMPILE",
                              "--metis", "pcie", "--aipu-cores", cores, "--num-cal-images", "3"], deploy["argv"]
    base = "build/%s/%s/" % (name, name)
    want = sorted(["ax_models/kiln/network.yaml", base + "model_info.json", base + cores + "/model.json",
                   base + cores + "/manifest.json", base + cores + "/compile_config.json"] +
                  (["labels.yaml"] if mt != "classifier" else []))
    assert sorted(f["name"] for f in out["bundle"]) == want, [f["name"] for f in out["bundle"]]
    info = json.load(open(os.path.join(ws, base + "model_info.json")))
    if mt != "classifier":
        assert info["labels"] == spec["mud"]["labels"], info["labels"]
    man = json.load(open(os.path.join(ws, base + cores + "/manifest.json")))
    # network.py _load_manifest_and_check_batch: batch == deploy cores
    assert man["input_shapes"][0][0] == int(cores), man["input_shapes"]


def test_metis_names_read_back():
    """Job names YAML 1.1 would read as null, bool, int, float or a date
    come back from the network YAML as the same strings."""
    import yaml
    case = CASES[[c[0] for c in CASES].index("metis_quoting")]
    tmp = tempfile.mkdtemp(prefix="kiln-recipe-")
    try:
        for name in ["null", "Null", "yes", "No", "on", "OFF", "y", "0x1F", "0o17", "017", "1_000", "1e3",
                     "1.5", "NaN", "2001-12-14", "1_2.5"]:
            spec = dict(case[3], name=name)
            ws, out = plan_case(tmp, (case[0], case[1], case[2], spec))
            text = [f["content"] for f in out["plan"]["files"] if f["name"] == "network.yaml"][0]
            net = yaml.safe_load(text)
            (tname, task), = net["pipeline"][0].items()
            got = (net["name"], list(net["models"]), tname, task["model_name"])
            assert got == (name, [name], name, name), "%s read back as %r" % (name, got)
            shutil.rmtree(ws)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_case(case):
    label = case[0]
    facts = case[4] if len(case) > 4 else None
    tmp = tempfile.mkdtemp(prefix="kiln-recipe-")
    try:
        if isinstance(facts, tuple):
            _, field, words = facts
            ws, lo = plan_case(tmp, case, want_loader=False)
            err = lo.get("error") or {}
            assert not lo.get("ok") and err.get("field") == field, lo
            assert words in err.get("message", ""), lo
            return
        ws, out = plan_case(tmp, case)
        run_plan(ws, out)
        check_bundle(tmp, ws, out)
        if label.startswith("metis"):
            check_metis(ws, out, case)
        if facts:
            facts(ws, out)
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
    tests.append(("recipe_double__metis_names_read_back_as_strings", test_metis_names_read_back))
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
