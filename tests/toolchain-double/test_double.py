#!/usr/bin/python3
"""Tests of the toolchain double (run by tests/run.sh with /usr/bin/python3).

Prints one line per test: `PASS name`, `FAIL name: why` or `SKIP name: why`.
The seeds' own worked-example command lines are copied from
shared/seeds/ (000 MaixCAM2/pulsar2, 001 MaixCAM, 002 reCamera, 003
AXera-Pi/pulsar, 004 Metis/Voyager), run against tiny ONNX models built
here with onnx.helper that carry the seeds' tensor names.
"""
import io
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "bin")
RESULTS = []

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


def make_onnx(path, input_name, input_shape, convs, final=None, graph_outputs=None):
    """convs: [(tensor name, out shape)] produced by Conv nodes from a stem
    conv; final: name of a Concat over them (the model's own output)."""
    import onnx
    from onnx import TensorProto, helper
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    nodes, inits, vinfo = [], [], []
    w = helper.make_tensor("stem_w", TensorProto.FLOAT, [4, input_shape[1], 1, 1], [0.1] * (4 * input_shape[1]))
    inits.append(w)
    nodes.append(helper.make_node("Conv", [input_name, "stem_w"], ["/model.0/conv/Conv_output_0"],
                                  name="/model.0/conv/Conv"))
    vinfo.append(helper.make_tensor_value_info("/model.0/conv/Conv_output_0", TensorProto.FLOAT,
                                               [1, 4, input_shape[2] // 2, input_shape[3] // 2]))
    for i, (name, shape) in enumerate(convs):
        wn = "w%d" % i
        inits.append(helper.make_tensor(wn, TensorProto.FLOAT, [shape[1], 4, 1, 1], [0.01] * (shape[1] * 4)))
        nodes.append(helper.make_node("Conv", ["/model.0/conv/Conv_output_0", wn], [name],
                                      name=name.replace("_output_0", "")))
        vinfo.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    outs = []
    if final:
        flat = []
        for i, (name, shape) in enumerate(convs):
            fn = "%s_flat" % name
            nodes.append(helper.make_node("Flatten", [name], [fn], name="flat%d" % i, axis=2))
            flat.append(fn)
        nodes.append(helper.make_node("Concat", flat, [final], name="/model/Concat", axis=2))
        outs.append(helper.make_tensor_value_info(final, TensorProto.FLOAT, None))
    for name in graph_outputs or []:
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dict(convs)[name]))
    graph = helper.make_graph(nodes, "kiln-double-test", [
        helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)], outs, inits,
        value_info=vinfo)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


YOLOV5_OUTS = [("/model.24/m.0/Conv_output_0", [1, 255, 80, 80]),
               ("/model.24/m.1/Conv_output_0", [1, 255, 40, 40]),
               ("/model.24/m.2/Conv_output_0", [1, 255, 20, 20])]
YOLO11_OUTS = [("/model.23/cv2.0/cv2.0.2/Conv_output_0", [1, 64, 80, 80]),
               ("/model.23/cv3.0/cv3.0.2/Conv_output_0", [1, 80, 80, 80]),
               ("/model.23/cv2.1/cv2.1.2/Conv_output_0", [1, 64, 40, 40]),
               ("/model.23/cv3.1/cv3.1.2/Conv_output_0", [1, 80, 40, 40]),
               ("/model.23/cv2.2/cv2.2.2/Conv_output_0", [1, 64, 20, 20]),
               ("/model.23/cv3.2/cv3.2.2/Conv_output_0", [1, 80, 20, 20])]


def yolov5s(path):
    make_onnx(path, "images", [1, 3, 640, 640], YOLOV5_OUTS, final="output")


def yolo11n(path, cut=False):
    if cut:  # what extract_onnx.py of seed 000 leaves: the six convs are the outputs
        make_onnx(path, "images", [1, 3, 640, 640], YOLO11_OUTS, graph_outputs=[n for n, _ in YOLO11_OUTS])
    else:
        make_onnx(path, "images", [1, 3, 640, 640], YOLO11_OUTS, final="output0")


def mobilenetv2(path):
    make_onnx(path, "input", [1, 3, 224, 224], [("536", [1, 1000, 1, 1])], graph_outputs=["536"])


def images_dir(path, n=3, bad=False):
    os.makedirs(path, exist_ok=True)
    for i in range(n):
        with open(os.path.join(path, "img%03d.jpg" % i), "wb") as f:
            f.write(JPEG if i % 2 == 0 else PNG.replace(b"PNG", b"PNG"))
    if n > 1:  # one PNG named .png too
        with open(os.path.join(path, "extra.png"), "wb") as f:
            f.write(PNG)
    if bad:
        with open(os.path.join(path, "broken.jpg"), "wb") as f:
            f.write(b"this is not a jpeg")


def images_tar(path, n=4, prefix="imgs/"):
    with tarfile.open(path, "w") as tf:
        for i in range(n):
            data = JPEG if i % 2 == 0 else PNG
            ti = tarfile.TarInfo("%simg%03d.%s" % (prefix, i, "jpg" if i % 2 == 0 else "png"))
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))


def write(path, text):
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def env(**kw):
    e = {k: v for k, v in os.environ.items() if not k.startswith("KILN_DOUBLE_")}
    e["PATH"] = BIN + os.pathsep + e.get("PATH", "/usr/bin:/bin")
    e.update(kw)
    return e


def run(argv, cwd, timeout=60, **envkw):
    p = subprocess.run(argv, cwd=cwd, env=env(**envkw), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, text=True)
    return p.returncode, p.stdout, p.stderr


# ---------------------------------------------------------------------------
# harness
# ---------------------------------------------------------------------------


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def expect(res, code, needle=None, where="any"):
    rc, out, err = res
    check(rc == code, "exit %s, want %s; stderr tail: %s; stdout tail: %s" % (
        rc, code, err.strip()[-300:], out.strip()[-300:]))
    if needle is not None:
        hay = {"out": out, "err": err}.get(where, out + err)
        check(needle in hay, "missing %r in output; stderr tail: %s" % (needle, err.strip()[-300:]))


def exists(cwd, *names):
    for n in names:
        check(os.path.exists(os.path.join(cwd, n)), "missing file %s" % n)


def marked(path):
    with open(path, "rb") as f:
        head = f.read(200)
    check(b"KILN-TOOLCHAIN-DOUBLE" in head, "%s lacks the KILN-TOOLCHAIN-DOUBLE marker" % path)


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def run_test(fn):
    name = fn.__name__[len("test_"):]
    tmp = tempfile.mkdtemp(prefix="kiln-double-")
    try:
        fn(tmp)
        RESULTS.append(("PASS", name, ""))
        print("PASS %s" % name, flush=True)
    except Skip as e:
        print("SKIP %s: %s" % (name, e), flush=True)
    except Fail as e:
        print("FAIL %s: %s" % (name, str(e).replace("\n", " ")), flush=True)
    except Exception:
        print("FAIL %s: %s" % (name, traceback.format_exc().strip().replace("\n", " | ")), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# TPU-MLIR: seed 001 (MaixCAM) and seed 002 (reCamera)
# ---------------------------------------------------------------------------


def seed001_transform(tmp, extra=(), **envkw):
    yolov5s(os.path.join(tmp, "yolov5s.onnx"))
    with open(os.path.join(tmp, "dog.jpg"), "wb") as f:
        f.write(JPEG)
    images_dir(os.path.join(tmp, "images"))
    ws = os.path.join(tmp, "workspace")
    os.makedirs(ws, exist_ok=True)
    argv = ["model_transform.py", "--model_name", "yolov5s", "--model_def", "../yolov5s.onnx",
            "--input_shapes", "[[1,3,640,640]]", "--mean", "0,0,0",
            "--scale", "0.00392156862745098,0.00392156862745098,0.00392156862745098",
            "--keep_aspect_ratio", "--pixel_format", "rgb", "--channel_format", "nchw",
            "--output_names", "/model.24/m.0/Conv_output_0,/model.24/m.1/Conv_output_0,/model.24/m.2/Conv_output_0",
            "--test_input", "../dog.jpg", "--test_result", "yolov5s_top_outputs.npz",
            "--tolerance", "0.99,0.99", "--mlir", "yolov5s.mlir"] + list(extra)
    return ws, run(argv, ws, **envkw)


BF16_001 = ["model_deploy.py", "--mlir", "yolov5s.mlir", "--quantize", "BF16", "--processor", "cv181x",
            "--test_input", "yolov5s_in_f32.npz", "--test_reference", "yolov5s_top_outputs.npz",
            "--model", "yolov5s_bf16.cvimodel"]
CALI_001 = ["run_calibration.py", "yolov5s.mlir", "--dataset", "../images", "--input_num", "200",
            "-o", "yolov5s_cali_table"]
INT8_001 = ["model_deploy.py", "--mlir", "yolov5s.mlir", "--quantize", "INT8", "--quant_input",
            "--calibration_table", "yolov5s_cali_table", "--processor", "cv181x",
            "--test_input", "yolov5s_in_f32.npz", "--test_reference", "yolov5s_top_outputs.npz",
            "--tolerance", "0.9,0.6", "--model", "yolov5s_int8.cvimodel"]


@test
def test_seed001_maixcam_yolov5s_flow(tmp):
    ws, res = seed001_transform(tmp)
    expect(res, 0, "npz compare PASSED.")
    out = res[1]
    for n, _ in YOLOV5_OUTS:
        check("[%-32s]" % (n + "_Conv") in out, "no compare line for %s" % n)
    check("cosine_similarity      = " in out and "euclidean_similarity   = " in out, "no similarity lines")
    check("TPU-MLIR v1.7" in out, "no TPU-MLIR 1.7 banner")
    exists(ws, "yolov5s.mlir", "yolov5s_in_f32.npz", "yolov5s_top_outputs.npz", "yolov5s_top_f32_all_weight.npz")
    check(not os.path.exists(os.path.join(ws, "yolov5s_origin.mlir")), "temporary _origin.mlir left without --debug")
    check(not os.path.exists(os.path.join(ws, "yolov5s_ref_outputs.npz")), "temporary _ref_outputs.npz left")
    marked(os.path.join(ws, "yolov5s.mlir"))
    expect(run(BF16_001, ws), 0, "npz compare PASSED.")
    exists(ws, "yolov5s_bf16.cvimodel", "yolov5s_cv181x_bf16_final.mlir")
    res = run(CALI_001, ws)
    expect(res, 0)
    exists(ws, "yolov5s_cali_table")
    table = open(os.path.join(ws, "yolov5s_cali_table")).read()
    for h in ("# mlir: yolov5s.mlir", "# genetated time:", "# histogram number: 2048", "# sample number: 4",
              "# tune number: 5", "# op_name    threshold    min    max", "/model.24/m.0/Conv_output_0_Conv "):
        check(h in table, "calibration table lacks %r" % h)
    res = run(INT8_001, ws)
    expect(res, 0, "npz compare PASSED.")
    exists(ws, "yolov5s_int8.cvimodel", "yolov5s_cv181x_int8_sym_final.mlir")
    marked(os.path.join(ws, "yolov5s_int8.cvimodel"))
    check("--tolerance 0.9,0.6" in res[1], "the INT8 compare did not use the given tolerance")
    check(not os.path.exists(os.path.join(ws, "yolov5s_cv181x_int8_sym_tpu_outputs.npz")),
          "temporary tpu_outputs.npz left without --debug")


def seed002_yolo11n(tmp):
    yolo11n(os.path.join(tmp, "Workspace", "yolo11n.onnx"))
    images_dir(os.path.join(tmp, "COCO2017"), 5)
    os.makedirs(os.path.join(tmp, "image"), exist_ok=True)
    with open(os.path.join(tmp, "image", "dog.jpg"), "wb") as f:
        f.write(JPEG)
    return os.path.join(tmp, "Workspace")


TRANSFORM_002 = ["model_transform", "--model_name", "yolo11n", "--model_def", "yolo11n.onnx",
                 "--input_shapes", "[[1,3,640,640]]", "--mean", "0.0,0.0,0.0",
                 "--scale", "0.0039216,0.0039216,0.0039216", "--keep_aspect_ratio", "--pixel_format", "rgb",
                 "--output_names", ",".join(n for n, _ in YOLO11_OUTS),
                 "--test_input", "../image/dog.jpg", "--test_result", "yolo11n_top_outputs.npz",
                 "--mlir", "yolo11n.mlir"]
F16_002 = ["model_deploy", "--mlir", "yolo11n.mlir", "--quant_input", "--quantize", "F16",
           "--customization_format", "RGB_PACKED", "--processor", "cv181x", "--test_input", "../image/dog.jpg",
           "--test_reference", "yolo11n_top_outputs.npz", "--fuse_preprocess", "--tolerance", "0.99,0.9",
           "--model", "yolo11n_1684x_f16.cvimodel"]
CALI_002 = ["run_calibration", "yolo11n.mlir", "--dataset", "../COCO2017", "--input_num", "100",
            "-o", "yolo11n_calib_table"]
INT8_002 = ["model_deploy", "--mlir", "yolo11n.mlir", "--quantize", "INT8", "--quant_input", "--processor", "cv181x",
            "--calibration_table", "yolo11n_calib_table", "--test_input", "../image/dog.jpg",
            "--test_reference", "yolo11n_top_outputs.npz", "--customization_format", "RGB_PACKED",
            "--fuse_preprocess", "--aligned_input", "--model", "yolo11n_1684x_int8_sym.cvimodel"]


@test
def test_seed002_recamera_yolo11n_flow(tmp):
    ws = seed002_yolo11n(tmp)
    res = run(TRANSFORM_002, ws)
    expect(res, 0, "npz compare PASSED.")
    check(res[1].count("cosine_similarity") == 6, "want 6 per-output similarity blocks")
    exists(ws, "yolo11n.mlir", "yolo11n_in_f32.npz", "yolo11n_top_outputs.npz")
    expect(run(F16_002, ws), 0, "npz compare PASSED.")
    exists(ws, "yolo11n_1684x_f16.cvimodel", "yolo11n_in_ori.npz")
    expect(run(CALI_002, ws), 0)
    exists(ws, "yolo11n_calib_table")
    res = run(INT8_002, ws)
    expect(res, 0, "npz compare PASSED.")
    exists(ws, "yolo11n_1684x_int8_sym.cvimodel")
    meta = json.loads(open(os.path.join(ws, "yolo11n_1684x_int8_sym.cvimodel")).read().split("\n")[1])
    check(meta["fuse_preprocess"] and meta["aligned_input"] and meta["customization_format"] == "RGB_PACKED",
          "cvimodel metadata does not record the fused preprocess")


MIX_TRANSFORM = ["model_transform", "--model_name", "yolov5s", "--model_def", "yolov5s.onnx",
                 "--input_shapes", "[[1,3,640,640]]", "--mean", "0.0,0.0,0.0",
                 "--scale", "0.0039216,0.0039216,0.0039216", "--keep_aspect_ratio", "--pixel_format", "rgb",
                 "--output_names", "output", "--test_input", "../image/dog.jpg",
                 "--test_result", "yolov5s_top_outputs.npz", "--mlir", "yolov5s.mlir"]
MIX_CALI = ["run_calibration", "yolov5s.mlir", "--dataset", "../COCO2017", "--input_num", "100",
            "-o", "yolov5s_calib_table"]
MIX_QTABLE = ["run_qtable", "yolov5s.mlir", "--dataset", "../COCO2017", "--calibration_table", "yolov5s_calib_table",
              "--processor", "cv181x", "--min_layer_cos", "0.99", "--expected_cos", "0.999", "-o", "yolov5s_qtable"]
MIX_DEPLOY = ["model_deploy", "--mlir", "yolov5s.mlir", "--quantize", "INT8", "--quantize_table", "yolov5s_qtable",
              "--calibration_table", "yolov5s_calib_table", "--customization_format", "RGB_PACKED",
              "--fuse_preprocess", "--aligned_input", "--processor", "cv181x",
              "--model", "yolov5s_mix-precision.cvimodel"]


def seed002_mix_setup(tmp):
    ws = os.path.join(tmp, "workspace")
    yolov5s(os.path.join(ws, "yolov5s.onnx"))
    images_dir(os.path.join(tmp, "COCO2017"), 5)
    os.makedirs(os.path.join(tmp, "image"), exist_ok=True)
    with open(os.path.join(tmp, "image", "dog.jpg"), "wb") as f:
        f.write(JPEG)
    return ws


@test
def test_seed002_recamera_mixed_precision_flow(tmp):
    ws = seed002_mix_setup(tmp)
    res = run(MIX_TRANSFORM, ws)
    expect(res, 0, "[output_Concat ")
    expect(run(MIX_CALI, ws), 0)
    res = run(MIX_QTABLE, ws)
    expect(res, 0, "Output mix quantization table to yolov5s_qtable")
    for s in ("int8 outputs_cos:", "mix model outputs_cos:", "total time:"):
        check(s in res[1], "run_qtable output lacks %r" % s)
    q = open(os.path.join(ws, "yolov5s_qtable")).read()
    check("# op_name   quantize_mode" in q and " BF16\n" in q, "qtable format (cv181x auto -> BF16)")
    exists(ws, "full_loss_table.txt")
    check("# chip: cv181x  mix_mode: BF16" in open(os.path.join(ws, "full_loss_table.txt")).read(), "loss table header")
    expect(run(MIX_DEPLOY, ws), 0)
    exists(ws, "yolov5s_mix-precision.cvimodel")
    res = run(["model_tool", "--info", "yolov5s_mix-precision.cvimodel"], ws)
    expect(res, 0, "TensorMap:")
    check("WeightMap:" in res[1] and "cv181x" in res[1], "model_tool --info output")


@test
def test_tpumlir_unknown_flags(tmp):
    ws, res = seed001_transform(tmp, extra=["--bogus"])
    # model_transform uses parse_known_args: unknown options are parsed as mean values
    expect(res, 1, "ValueError: could not convert string to float: '--bogus'", "err")
    for argv in (["model_deploy.py", "--mlir", "x.mlir", "--processor", "cv181x", "--model", "x.cvimodel", "--bogus"],
                 ["run_calibration.py", "x.mlir", "--bogus"],
                 ["run_qtable.py", "x.mlir", "--calibration_table", "t", "--processor", "cv181x", "-o", "q", "--bogus"]):
        res = run(argv, tmp)
        expect(res, 2, "error: unrecognized arguments: --bogus", "err")
        check(res[2].startswith("usage: %s" % argv[0]), "no argparse usage line for %s" % argv[0])
    expect(run(["model_tool", "--bogus", "x"], tmp), 1, "Usage")


@test
def test_tpumlir_missing_required_flags(tmp):
    expect(run(["model_transform.py", "--model_name", "m", "--model_def", "m.onnx"], tmp), 2,
           "the following arguments are required: --mlir", "err")
    expect(run(["model_deploy.py", "--mlir", "m.mlir", "--processor", "cv181x"], tmp), 2,
           "the following arguments are required: --model", "err")
    expect(run(["run_calibration.py"], tmp), 2, "the following arguments are required: mlir_file", "err")
    expect(run(["run_qtable", "m.mlir", "--processor", "cv181x", "-o", "q"], tmp), 2,
           "the following arguments are required: --calibration_table", "err")


@test
def test_tpumlir_bad_values(tmp):
    ws, res = seed001_transform(tmp, extra=["--pixel_format", "rgbx"])
    expect(res, 2, "argument --pixel_format: invalid choice: 'rgbx'", "err")
    expect(run(["model_deploy.py", "--mlir", "m.mlir", "--processor", "cv181x", "--quantize", "INT9",
                "--model", "m.cvimodel"], tmp), 2, "argument --quantize: invalid choice: 'INT9'", "err")
    expect(run(["model_deploy", "--mlir", "m.mlir", "--processor", "cv999x", "--model", "m.cvimodel"], tmp), 2,
           "argument --chip/--processor: invalid choice: 'cv999x'", "err")
    expect(run(["run_calibration", "m.mlir", "--input_num", "abc"], tmp), 2,
           "argument --input_num: invalid int value: 'abc'", "err")
    expect(run(["run_qtable", "m.mlir", "--calibration_table", "t", "--processor", "cv181x", "-o", "q",
                "--expected_cos", "high"], tmp), 2, "invalid float value: 'high'", "err")
    ws, res = seed001_transform(os.path.join(tmp, "b"), extra=["--input_shapes", "abc"])
    expect(res, 1, "NameError: name 'abc' is not defined", "err")
    # seed 001's INT8 deploy on a cv18xx chip with --asymmetric: cv18xx is symmetric only
    ws, res = seed001_transform(os.path.join(tmp, "c"))
    expect(run(CALI_001, ws), 0)
    res = run(INT8_001[:-2] + ["--asymmetric", "--model", "x.cvimodel"], ws)
    expect(res, 1, "RuntimeError: [!Error]: tpuc-opt", "err")
    check(not os.path.exists(os.path.join(ws, "x.cvimodel")), "model written despite the error")
    # customization_format without fuse_preprocess is an assert in model_deploy
    expect(run(BF16_001[:-2] + ["--customization_format", "RGB_PACKED", "--model", "y.cvimodel"], ws), 1,
           "AssertionError", "err")


@test
def test_tpumlir_missing_inputs(tmp):
    ws, res = seed001_transform(tmp)
    expect(res, 0)
    os.remove(os.path.join(tmp, "yolov5s.onnx"))
    _ws, res = seed001_transform(os.path.join(tmp, "x"))
    # model missing
    res = run(["model_transform", "--model_name", "m", "--model_def", "nope.onnx", "--mlir", "m.mlir"], tmp)
    expect(res, 1, "FileNotFoundError: [Errno 2] No such file or directory: 'nope.onnx'", "err")
    # output tensor name that is not in the model
    yolov5s(os.path.join(tmp, "y.onnx"))
    res = run(["model_transform", "--model_name", "y", "--model_def", "y.onnx", "--output_names", "no/such/tensor",
               "--mlir", "y.mlir"], tmp)
    expect(res, 1, "can't find no/such/tensor in model", "err")
    # test input missing
    res = run(["model_transform", "--model_name", "y", "--model_def", "y.onnx", "--test_input", "cat.jpg",
               "--test_result", "r.npz", "--mlir", "y.mlir"], tmp)
    expect(res, 1, "AssertionError: test_input cat.jpg not exist!", "err")
    # an ONNX that does not parse
    write(os.path.join(tmp, "junk.onnx"), "not a protobuf at all \x01\x02")
    expect(run(["model_transform", "--model_name", "j", "--model_def", "junk.onnx", "--mlir", "j.mlir"], tmp), 1,
           "DecodeError", "err")
    # deploy without the mlir, and with a calibration table that is missing
    expect(run(INT8_001, tmp), 1, "FileNotFoundError", "err")
    expect(run(INT8_001, ws), 1, "RuntimeError: [!Error]: tpuc-opt", "err")
    # calibration: empty dataset dir, broken jpeg, missing mlir
    os.makedirs(os.path.join(tmp, "empty"), exist_ok=True)
    expect(run(["run_calibration", "yolov5s.mlir", "--dataset", "../empty", "-o", "t"], ws), 1,
           "RuntimeError: There is no inputs", "err")
    images_dir(os.path.join(tmp, "badimgs"), 1, bad=True)
    expect(run(["run_calibration", "yolov5s.mlir", "--dataset", "../badimgs", "-o", "t"], ws), 1,
           "can't open/identify image file", "err")
    expect(run(["run_calibration", "nope.mlir", "--dataset", "../images", "-o", "t"], ws), 1,
           "No such file or directory: 'nope.mlir'", "err")
    # an mlir not written by model_transform
    write(os.path.join(ws, "fake.mlir"), "module {}\n")
    expect(run(["run_calibration", "fake.mlir", "--dataset", "../images", "-o", "t"], ws), 1,
           "not a top mlir written by model_transform", "err")
    # run_qtable without the calibration table
    expect(run(["run_qtable", "yolov5s.mlir", "--dataset", "../images", "--calibration_table", "nope",
                "--processor", "cv181x", "-o", "q"], ws), 1, "No such file or directory: 'nope'", "err")
    expect(run(["model_tool", "--info", "nope.cvimodel"], ws), 1, "open file nope.cvimodel failed", "err")


# ---------------------------------------------------------------------------
# failure injection
# ---------------------------------------------------------------------------


def read_until(proc, needle, timeout=30):
    """Read proc.stdout until a line containing needle appears."""
    deadline = time.time() + timeout
    buf = ""
    fd = proc.stdout.fileno()
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
        if not r:
            break
        chunk = os.read(fd, 4096).decode("utf-8", "replace")
        if not chunk:
            break
        buf += chunk
        if needle in buf:
            return buf
    raise Fail("never saw %r; got %r" % (needle, buf[-300:]))


def popen(argv, cwd, **envkw):
    return subprocess.Popen(argv, cwd=cwd, env=env(**envkw), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)


@test
def test_env_fail_step_every_tool(tmp):
    ws, res = seed001_transform(tmp, KILN_DOUBLE_FAIL_STEP="model_transform")
    expect(res, 1, "RuntimeError: [!Error]: tpuc-opt", "err")
    check(not os.path.exists(os.path.join(ws, "yolov5s.mlir")), "mlir written although the step failed")
    ws, res = seed001_transform(os.path.join(tmp, "ok"))
    expect(res, 0)
    expect(run(CALI_001, ws, KILN_DOUBLE_FAIL_STEP="run_calibration"), 1, "RuntimeError", "err")
    expect(run(CALI_001, ws), 0)
    # qualifier: only the INT8 deploy fails, the BF16 one passes
    expect(run(BF16_001, ws, KILN_DOUBLE_FAIL_STEP="model_deploy:INT8"), 0)
    expect(run(INT8_001, ws, KILN_DOUBLE_FAIL_STEP="model_deploy:INT8"), 1, "[!Error]", "err")
    check(not os.path.exists(os.path.join(ws, "yolov5s_int8.cvimodel")), "cvimodel written although failed")
    expect(run(["run_qtable", "yolov5s.mlir", "--dataset", "../images", "--calibration_table", "yolov5s_cali_table",
                "--processor", "cv181x", "-o", "q"], ws, KILN_DOUBLE_FAIL_STEP="run_qtable"), 1, "RuntimeError", "err")


@test
def test_env_low_cosine_model_deploy(tmp):
    ws, res = seed001_transform(tmp)
    expect(run(CALI_001, ws), 0)
    res = run(INT8_001, ws, KILN_DOUBLE_LOW_COSINE="/model.24/m.1/Conv_output_0")
    expect(res, 1, "npz compare FAILED.")
    out = res[1]
    check("[%-32s]  NOT_SIMLIAR [FAILED]" % "/model.24/m.1/Conv_output_0_Conv" in out, "no NOT_SIMLIAR line")
    check("[%-32s]      SIMILAR [PASSED]" % "/model.24/m.0/Conv_output_0_Conv" in out, "other outputs should pass")
    check("min_similiarity = (" in out, "no min_similiarity line")
    check("RuntimeError: [!Error]: npz_tool.py compare yolov5s_cv181x_int8_sym_tpu_outputs.npz "
          "yolov5s_top_outputs.npz --tolerance 0.9,0.6 --except - -vv" in res[2], "no real-looking RuntimeError")
    check(not os.path.exists(os.path.join(ws, "yolov5s_int8.cvimodel")), "cvimodel written despite the failure")
    # "1" hits every output; the float transform is only hit when named
    res = run(INT8_001, ws, KILN_DOUBLE_LOW_COSINE="1")
    expect(res, 1)
    check(res[1].count("NOT_SIMLIAR") == 3, "LOW_COSINE=1 should fail all three outputs")
    _ws, res = seed001_transform(os.path.join(tmp, "t"), KILN_DOUBLE_LOW_COSINE="1")
    expect(res, 0)
    _ws, res = seed001_transform(os.path.join(tmp, "u"), KILN_DOUBLE_LOW_COSINE="model_transform:1")
    expect(res, 1, "npz compare FAILED.")


@test
def test_env_hang_and_ignore_term(tmp):
    ws, res = seed001_transform(tmp)
    expect(res, 0)
    # plain hang: SIGTERM ends it
    p = popen(CALI_001, ws, KILN_DOUBLE_HANG="run_calibration")
    try:
        read_until(p, "activation_collect_and_calc_th")
        try:
            p.wait(timeout=1.5)
            raise Fail("run_calibration did not hang (exit %s)" % p.returncode)
        except subprocess.TimeoutExpired:
            pass
        os.killpg(p.pid, signal.SIGTERM)
        check(p.wait(timeout=10) == -signal.SIGTERM, "SIGTERM did not end the hanging tool")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    check(not os.path.exists(os.path.join(ws, "yolov5s_cali_table")), "table written by a hanging run")
    # hang + ignore SIGTERM: only SIGKILL ends it
    p = popen(BF16_001, ws, KILN_DOUBLE_HANG="model_deploy", KILN_DOUBLE_IGNORE_TERM="model_deploy")
    try:
        read_until(p, "[Running]: tpuc-opt")
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=1.5)
            raise Fail("SIGTERM ended a tool told to ignore it (exit %s)" % p.returncode)
        except subprocess.TimeoutExpired:
            pass
        os.killpg(p.pid, signal.SIGKILL)
        check(p.wait(timeout=10) == -signal.SIGKILL, "SIGKILL did not end it")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    # the other tools hang too
    pulsar2_setup(os.path.join(tmp, "p2"))
    p = popen(PULSAR2_NPU2, os.path.join(tmp, "p2"), KILN_DOUBLE_HANG="pulsar2:NPU2")
    try:
        read_until(p, "File(s) Loaded.")
        try:
            p.wait(timeout=1.5)
            raise Fail("pulsar2 did not hang")
        except subprocess.TimeoutExpired:
            pass
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


@test
def test_env_crash_halfway(tmp):
    ws, res = seed001_transform(tmp)
    expect(res, 0)
    expect(run(CALI_001, ws), 0)
    full = os.path.getsize(os.path.join(ws, "yolov5s_cali_table"))
    res = run(["model_deploy.py"] + INT8_001[1:], ws, KILN_DOUBLE_CRASH_HALFWAY="model_deploy")
    check(res[0] == -signal.SIGKILL, "model_deploy should die by SIGKILL, got %s" % res[0])
    half = os.path.join(ws, "yolov5s_int8.cvimodel")
    check(os.path.exists(half), "no half-written cvimodel")
    expect(run(["model_deploy.py"] + INT8_001[1:-1] + ["ok.cvimodel"], ws), 0)
    check(0 < os.path.getsize(half) < os.path.getsize(os.path.join(ws, "ok.cvimodel")), "cvimodel not half written")
    res = run(CALI_001, ws, KILN_DOUBLE_CRASH_HALFWAY="run_calibration", KILN_DOUBLE_CRASH_SIGNAL="SEGV")
    check(res[0] == -signal.SIGSEGV, "KILN_DOUBLE_CRASH_SIGNAL=SEGV not honoured: %s" % res[0])
    check(os.path.getsize(os.path.join(ws, "yolov5s_cali_table")) < full, "table not half written")


# ---------------------------------------------------------------------------
# Pulsar2: seed 000 (MaixCAM2)
# ---------------------------------------------------------------------------

PULSAR2_CONFIG = """{
  // yolo11n for MaixCAM2, as in the Pulsar2 config reference (relaxed json)
  "model_type": "ONNX",
  "npu_mode": "NPU1",
  "quant": {
    "input_configs": [
      {
        "tensor_name": "images",
        "calibration_dataset": "calib/cali_images.tar",
        "calibration_size": 4,
        "calibration_mean": [0, 0, 0],
        "calibration_std": [255.0, 255.0, 255.0]
      }
    ],
    "calibration_method": "MinMax",
    "precision_analysis": true,
    "precision_analysis_method": "EndToEnd"
  },
  "input_processors": [
    {
      "tensor_name": "images",
      "tensor_format": "RGB",
      "tensor_layout": "NCHW",
      "src_format": "RGB",
      "src_dtype": "U8",
      "src_layout": "NHWC",
      "csc_mode": "NoCSC",
      "mean": [0, 0, 0],
      "std": [255.0, 255.0, 255.0]
    }
  ],
  "output_processors": [
%s
  ],
  "compiler": {
    "check": 0
  }
}
"""

PULSAR2_NPU2 = ["pulsar2", "build", "--target_hardware", "AX620E", "--input", "yolo11n.onnx",
                "--output_dir", "out_npu", "--config", "config.json", "--npu_mode", "NPU2"]
PULSAR2_NPU1 = ["pulsar2", "build", "--target_hardware", "AX620E", "--input", "yolo11n.onnx",
                "--output_dir", "out_vnpu", "--config", "config.json"]


def pulsar2_setup(d):
    os.makedirs(os.path.join(d, "calib"), exist_ok=True)
    yolo11n(os.path.join(d, "yolo11n.onnx"), cut=True)
    images_tar(os.path.join(d, "calib", "cali_images.tar"), 6)
    outs = ",\n".join('    {"tensor_name": "%s", "dst_perm": [0, 2, 3, 1]}' % n for n, _ in YOLO11_OUTS)
    write(os.path.join(d, "config.json"), PULSAR2_CONFIG % outs)


@test
def test_seed000_maixcam2_pulsar2_both_npu_modes(tmp):
    pulsar2_setup(tmp)
    res = run(PULSAR2_NPU2, tmp)
    expect(res, 0, "save optimized onnx to [out_npu/frontend/optimized.onnx]")
    for s in ("patool: Extracting calib/cali_images.tar ...", "quant.axmodel export success: out_npu/quant/quant_axmodel.onnx",
              "QuantAxModel macs:", "Quant Precision Table"):
        check(s in res[1], "pulsar2 log lacks %r" % s)
    check(" | INFO     | yamain.command.build:build:424 - " in res[1], "log lines not in loguru shape")
    # The precision table in the shape of pulsar2's own logs (pulsar2-docs
    # user_guides_advanced/advanced_build_guides.md @ 7a500409; the
    # EndToEnd columns from the excerpt cited in SOURCES.md): after
    # "Building native", a heavy-bordered header, one row per layer with the
    # model outputs among them, light separators, then the "save precision
    # analysis table to" line.
    out = res[1]
    # (the seed config asks for EndToEnd: that table's columns)
    t = out.index("Quant Precision Table\u3010EndToEnd Reference\u3011")
    check(out.rindex("Building native", 0, t) >= 0, "table before Building native")
    lines = out[t:].split("\n")
    check(lines[1].startswith("\u250f\u2501") and lines[3].startswith("\u2521\u2501"), "no heavy border: %r" % lines[1:4])
    head = [c.strip() for c in lines[2].strip("\u2503").split("\u2503")]
    check(head == ["Operator", "Type", "Output Tensor", "Data Type", "Shape", "Cosin Distance"], head)
    rows = [l for l in lines if l.startswith("\u2502")]
    names = [[c.strip() for c in r.strip("\u2502").split("\u2502")][2] for r in rows]
    check(len(rows) == 2 + len(YOLO11_OUTS) and names[2:] == [n for n, _ in YOLO11_OUTS], names)
    check(lines[5].startswith("\u251c\u2500"), "no separator between rows: %r" % lines[5])
    check("save precision analysis table to [out_npu/quant/debug/precision_analysis_table.txt]" in out, "no save line")
    exists(tmp, "out_npu/compiled.axmodel", "out_npu/build_context.json", "out_npu/frontend/optimized.onnx",
           "out_npu/quant/quant_axmodel.json", "out_npu/quant/quant_axmodel.onnx", "out_npu/compiler",
           "out_npu/quant/debug/precision_analysis_table.txt", "out_npu/quant/dataset/images/img000.jpg")
    marked(os.path.join(tmp, "out_npu/compiled.axmodel"))
    ctx = json.load(open(os.path.join(tmp, "out_npu/build_context.json")))
    check(ctx["npu_mode"] == "NPU2" and ctx["target_platform"] == "AX620E", "build_context")
    expect(run(PULSAR2_NPU1, tmp), 0)
    ctx = json.load(open(os.path.join(tmp, "out_vnpu/build_context.json")))
    check(ctx["npu_mode"] == "NPU1", "config npu_mode not used")
    expect(run(PULSAR2_NPU1[:-2] + ["--config", "config.json", "--output_name", "yolo11n_vnpu.axmodel",
                                    "--output_dir", "o3"], tmp), 0)
    exists(tmp, "o3/yolo11n_vnpu.axmodel")


@test
def test_pulsar2_errors(tmp):
    pulsar2_setup(tmp)
    res = run(PULSAR2_NPU2 + ["--bogus"], tmp)
    expect(res, 2, "unrecognized arguments: --bogus", "err")
    expect(run(["pulsar2", "build", "--output_dir", "o", "--config", "config.json"], tmp), 1,
           "input model path is required", "err")
    expect(run(PULSAR2_NPU2[:-1] + ["NPU9"], tmp), 2, "argument --npu_mode: invalid choice: 'NPU9'", "err")
    expect(run(PULSAR2_NPU2[:-1] + ["NPU3"], tmp), 1, "not supported by target_hardware AX620E", "err")
    expect(run(["pulsar2", "build", "--target_hardware", "AX999"], tmp), 2, "invalid choice: 'AX999'", "err")
    expect(run(["pulsar2", "build", "--input", "nope.onnx", "--output_dir", "o", "--config", "config.json"], tmp),
           1, "input model nope.onnx not found", "err")
    cfg = open(os.path.join(tmp, "config.json")).read()
    write(os.path.join(tmp, "c2.json"), cfg.replace('"compiler": {', '"compilr": {'))
    expect(run(PULSAR2_NPU2[:-4] + ["--config", "c2.json"], tmp), 1, 'has no field named "compilr"', "err")
    # QuantMethod is MinMax | Percentile | MSE (pulsar2-docs-en 83fa86a4 config.md): no KL
    write(os.path.join(tmp, "c2k.json"), cfg.replace('"calibration_method": "MinMax"',
                                                     '"calibration_method": "KL"'))
    expect(run(PULSAR2_NPU2[:-4] + ["--config", "c2k.json"], tmp), 1,
           "Invalid enum value KL for enum type quant.calibration_method", "err")
    expect(run(PULSAR2_NPU2 + ["--quant.calibration_method", "KL"], tmp), 2, "invalid choice: 'KL'", "err")
    # OnnxOptimizeOption's fields only; enable_onnxsim is one of them
    write(os.path.join(tmp, "c2o.json"), cfg.replace('"compiler": {',
                                                     '"onnx_opt": {"enable_onnxsimm": true}, "compiler": {'))
    expect(run(PULSAR2_NPU2[:-4] + ["--config", "c2o.json"], tmp), 1,
           'Message type "common.OnnxOptimizeOption" has no field named "enable_onnxsimm"', "err")
    write(os.path.join(tmp, "c2p.json"), cfg.replace('"compiler": {',
                                                     '"onnx_opt": {"enable_onnxsim": true}, "compiler": {'))
    expect(run(PULSAR2_NPU2[:-4] + ["--config", "c2p.json"], tmp), 0, "", "err")
    shutil.rmtree(os.path.join(tmp, "out_npu"))   # the failure cases below check it stays absent
    write(os.path.join(tmp, "c3.json"), cfg.replace("calib/cali_images.tar", "calib/none.tar"))
    expect(run(PULSAR2_NPU2[:-4] + ["--config", "c3.json"], tmp), 1, "calibration dataset calib/none.tar not found", "err")
    with tarfile.open(os.path.join(tmp, "calib", "noimg.tar"), "w") as tf:
        ti = tarfile.TarInfo("readme.txt")
        ti.size = 5
        tf.addfile(ti, io.BytesIO(b"hello"))
    write(os.path.join(tmp, "c4.json"), cfg.replace("calib/cali_images.tar", "calib/noimg.tar"))
    expect(run(PULSAR2_NPU2[:-4] + ["--config", "c4.json"], tmp), 1, "holds no image", "err")
    write(os.path.join(tmp, "c5.json"), cfg.replace('"tensor_name": "/model.23/cv2.0/cv2.0.2/Conv_output_0"',
                                                    '"tensor_name": "nope"'))
    expect(run(PULSAR2_NPU2[:-4] + ["--config", "c5.json"], tmp), 1,
           "output_processors tensor_name nope is not an output", "err")
    # env vars
    expect(run(PULSAR2_NPU2, tmp, KILN_DOUBLE_FAIL_STEP="pulsar2"), 1, "quantization failed", "err")
    check(not os.path.exists(os.path.join(tmp, "out_npu/compiled.axmodel")), "axmodel written although failed")
    res = run(PULSAR2_NPU2 + ["--compiler.check", "3"], tmp, KILN_DOUBLE_LOW_COSINE="/model.23/cv3.2/cv3.2.2/Conv_output_0")
    expect(res, 1, "compiler check failed: cosine simularity of /model.23/cv3.2/cv3.2.2/Conv_output_0", "err")
    res = run(PULSAR2_NPU2 + ["--compiler.check", "3"], tmp)
    expect(res, 0, "cosine simularity: 0.99")
    res = run(PULSAR2_NPU1, tmp, KILN_DOUBLE_CRASH_HALFWAY="pulsar2:NPU1")
    check(res[0] == -signal.SIGKILL, "crash: %s" % res[0])


# ---------------------------------------------------------------------------
# legacy pulsar: seed 003 (AXera-Pi)
# ---------------------------------------------------------------------------

SEED003_PROTOTXT = """# 基本配置参数：输入输出
input_type: INPUT_TYPE_ONNX
output_type: OUTPUT_TYPE_JOINT

# 硬件平台选择
target_hardware: TARGET_HARDWARE_AX620

# CPU 后端选择，默认采用 AXE
cpu_backend_settings {
    onnx_setting {
        mode: DISABLED
    }
    axe_setting {
        mode: ENABLED
        axe_param {
            optimize_slim_model: true
        }
    }
}

# onnx 模型输入数据类型描述
src_input_tensors {
    color_space: TENSOR_COLOR_SPACE_RGB
}

# joint 模型输入数据类型设置
dst_input_tensors {
    color_space: TENSOR_COLOR_SPACE_RGB
}

# neuwizard 工具的配置参数
neuwizard_conf {
    operator_conf {
        input_conf_items {
            attributes {
                input_modifications {
                    # y = x * (slope / slope_divisor) + (bias / bias_divisor)
                    # 这里就是先把数据归一到[0, 1]
                    affine_preprocess {
                        slope: 1
                        slope_divisor: 255
                        bias: 0
                    }
                }
                input_modifications {
                    # y = (x - mean) / std
                    # 按照训练的时候的参数标准化
                    input_normalization {
                        mean: [0.485,0.456,0.406]  ## 均值， 注意这里的顺序根据 src_input_tensors.color_space 而定， 比如这里是 [R G B]
                        std: [0.229,0.224,0.255]   ## 方差
                    }
                }
            }
        }
    }
    dataset_conf_calibration {
        path: "imagenet-1k-images-rgb.tar" # 设置 PTQ 校准数据集路径
        type: DATASET_TYPE_TAR         # 数据集类型：tar 包
        size: 256                      # 量化校准过程中实际使用的图片张数
        batch_size: 1
}
}

# pulsar compiler 的 batch size 配置参数
pulsar_conf {
    ax620_virtual_npu: AX620_VIRTUAL_NPU_MODE_111 # 使用虚拟 NPU， NPU 和 AI-ISP 各分一半， 111 代表 NPU
                    #  AX620_VIRTUAL_NPU_MODE_0   # 不使用虚拟 NPU， 全部算力给 NPU
                    #  AX620_VIRTUAL_NPU_MODE_112 # 使用虚拟 NPU， NPU 和 AI-ISP 各分一半， 112 代表 AI-ISP 特用，千万别乱设置
    batch_size: 1
}
"""

PULSAR_BUILD = ["pulsar", "build", "--input", "mobilenetv2.onnx", "--output", "mobilenetv2.joint",
                "--config", "config_mobilenetv2.prototxt", "--output_config", "out_config_mobilenet_v2.prototxt"]
PULSAR_RUN = ["pulsar", "run", "mobilenetv2.onnx", "mobilenetv2.joint", "--input", "cat.jpg",
              "--config", "out_config_mobilenet_v2.prototxt", "--output_gt", "gt"]


def pulsar_setup(d):
    mobilenetv2(os.path.join(d, "mobilenetv2.onnx"))
    write(os.path.join(d, "config_mobilenetv2.prototxt"), SEED003_PROTOTXT)
    images_tar(os.path.join(d, "imagenet-1k-images-rgb.tar"), 4, prefix="")
    with open(os.path.join(d, "cat.jpg"), "wb") as f:
        f.write(JPEG)


@test
def test_seed003_axera_pi_pulsar_build_and_run(tmp):
    pulsar_setup(tmp)
    res = run(PULSAR_BUILD, tmp)
    expect(res, 0, "File saved: %s" % os.path.join(os.path.realpath(tmp), "mobilenetv2.joint"))
    check(" frozen super_pulsar.func_wrappers.wrapper_pulsar_build:28] planning task task_0" in res[1], "log shape")
    exists(tmp, "mobilenetv2.joint", "out_config_mobilenet_v2.prototxt")
    marked(os.path.join(tmp, "mobilenetv2.joint"))
    res = run(PULSAR_RUN, tmp)
    expect(res, 0, "Score compare table:")
    import re
    check(re.search(r"Layer: 536  2-norm RE: \d+\.\d\d%  cosine-sim: 0\.9\d{3}", res[1]), "no cosine line: %s" % res[1][-300:])
    exists(tmp, "gt/input/input.bin", "gt/input/input.npy", "gt/joint/536.bin", "gt/onnx/536.npy")


@test
def test_pulsar_errors(tmp):
    pulsar_setup(tmp)
    expect(run(PULSAR_BUILD + ["--bogus"], tmp), 2, "unrecognized arguments: --bogus", "err")
    expect(run(["pulsar", "build", "--input", "mobilenetv2.onnx", "--config", "config_mobilenetv2.prototxt"], tmp), 1,
           "pulsar build needs --input, --output and --config", "err")
    expect(run(PULSAR_BUILD + ["--target_hardware", "AX999"], tmp), 2, "invalid choice: 'AX999'", "err")
    expect(run(["pulsar", "run", "mobilenetv2.onnx", "--config", "c"], tmp), 2,
           "the following arguments are required: --input", "err")
    os.rename(os.path.join(tmp, "imagenet-1k-images-rgb.tar"), os.path.join(tmp, "x.tar"))
    expect(run(PULSAR_BUILD, tmp), 1, "calibration dataset imagenet-1k-images-rgb.tar does not exist", "err")
    os.rename(os.path.join(tmp, "x.tar"), os.path.join(tmp, "imagenet-1k-images-rgb.tar"))
    write(os.path.join(tmp, "bad.prototxt"), SEED003_PROTOTXT + "\nfoo_setting { a: 1 }\n")
    expect(run(PULSAR_BUILD[:7] + ["bad.prototxt"], tmp), 1, 'has no field named "foo_setting"', "err")
    write(os.path.join(tmp, "bad2.prototxt"), SEED003_PROTOTXT.replace("pulsar_conf {", "pulsar_conf "))
    expect(run(PULSAR_BUILD[:7] + ["bad2.prototxt"], tmp), 1, "ParseError", "err")
    expect(run(PULSAR_RUN, tmp), 1, "model mobilenetv2.joint does not exist", "err")
    # env vars
    expect(run(PULSAR_BUILD, tmp, KILN_DOUBLE_FAIL_STEP="pulsar:build"), 1, "neuwizard killed by SIGKILL", "err")
    check(not os.path.exists(os.path.join(tmp, "mobilenetv2.joint")), "joint written although failed")
    expect(run(PULSAR_BUILD, tmp), 0)
    res = run(PULSAR_RUN, tmp, KILN_DOUBLE_LOW_COSINE="536")
    expect(res, 0, "cosine-sim: 0.8")  # pulsar run reports, it does not judge
    expect(run(PULSAR_RUN, tmp, KILN_DOUBLE_FAIL_STEP="pulsar:run"), 1, "simulation of", "err")
    res = run(PULSAR_BUILD, tmp, KILN_DOUBLE_CRASH_HALFWAY="pulsar")
    check(res[0] == -signal.SIGKILL, "crash: %s" % res[0])


# ---------------------------------------------------------------------------
# Voyager: seed 004 (Metis)
# ---------------------------------------------------------------------------

# A network as voyager-sdk v1.2.5 takes it: the detection task of
# ax_models/reference/cascade/yolov8n-yolov8s.yaml (letterbox,
# torch-totensor, decodeyolo registered under operators:), the model keys
# network.py allows, YOLOv5 anchors in extra_kwargs (decoders/yolo.py), the
# default DataAdapter over a directory of images (t1-simplest-onnx.yaml).
NETWORK_YAML = """axelera-model-format: 1.0.0
name: yolov5s-v7-coco
description: custom yolov5s from ONNX (test network of the Kiln toolchain double)
pipeline:
  - yolov5s-v7-coco:
      model_name: yolov5s-v7-coco
      input:
        type: image
      preprocess:
        - letterbox:
            width: 640
            height: 640
            scaleup: True
        - torch-totensor:
      postprocess:
        - decodeyolo:
            box_format: xywh
            normalized_coord: False
            conf_threshold: 0.25
            nms_iou_threshold: 0.45
operators:
  decodeyolo:
    class: DecodeYolo
    class_path: $AXELERA_FRAMEWORK/ax_models/decoders/yolo.py
models:
  yolov5s-v7-coco:
    class: AxONNXModel
    class_path: $AXELERA_FRAMEWORK/ax_models/base_onnx.py
    weight_path: ../../weights/yolov5s.onnx
    task_category: ObjectDetection
    input_tensor_layout: NCHW
    input_tensor_shape: [1, 3, 640, 640]
    input_color_format: RGB
    num_classes: 80
    dataset: CalibrationDataset
    extra_kwargs:
      YOLO:
        anchors:
          - [10, 13, 16, 30, 33, 23]
          - [30, 61, 62, 45, 59, 119]
          - [116, 90, 156, 198, 373, 326]
datasets:
  CalibrationDataset:
    class: DataAdapter
    repr_imgs_dir_path: ../../data/calib_images
"""
NET = "ax_models/custom/yolov5s-v7-coco.yaml"
DEPLOY = ["deploy.py", NET, "--metis", "pcie", "--num-cal-images", "3"]


def voyager_setup(d, text=NETWORK_YAML, path=NET):
    yolov5s(os.path.join(d, "weights", "yolov5s.onnx"))
    write(os.path.join(d, path), text)
    images_dir(os.path.join(d, "data", "calib_images"), 3)


@test
def test_seed004_metis_deploy_tree(tmp):
    voyager_setup(tmp)
    res = run(["deploy.py", "yolov5s-v7-coco", "--metis", "pcie", "--num-cal-images", "3",
               "--model", "yolov5s-v7-coco", "--mode", "QUANTCOMPILE"], tmp)
    expect(res, 0, "## Finished compiling network yolov5s-v7-coco: model 'yolov5s-v7-coco'", "out")
    expect(res, 0, "Successfully deployed network", "out")
    # compile.py / constants.py: quantized/, <cores>/{model.json, manifest.json,
    # compile_config.json}, model_info.json; v1.2.5 writes no model.axmodel.
    # --aipu-cores defaults to 4 but max_compiler_cores to 1: the build is 1/.
    m = "build/yolov5s-v7-coco/yolov5s-v7-coco/"
    exists(tmp, m + "model_info.json", m + "quantized/quantized_model.json", m + "quantized/manifest.json",
           m + "1/model.json", m + "1/manifest.json", m + "1/compile_config.json")
    check(not os.path.exists(os.path.join(tmp, m + "1/model.axmodel")), "model.axmodel written")
    man = json.load(open(os.path.join(tmp, m + "1/manifest.json")))
    for k in ("quantize_params", "dequantize_params", "input_shapes", "n_padded_ch_outputs"):
        check(k in man, "manifest lacks %s" % k)
    check(man["model_lib_file"] == "model.json" and man["input_shapes"][0][0] == 1, "manifest %s" % man)
    check(man["kiln_toolchain_double"]["simulated"] is True, "manifest not marked simulated")
    check(json.load(open(os.path.join(tmp, m + "1/model.json")))["kiln_toolchain_double"]["simulated"], "model.json")
    # the whole network (pipeline too), by path, 4 cores when the model allows them
    text = NETWORK_YAML.replace("    extra_kwargs:\n", "    extra_kwargs:\n      max_compiler_cores: 4\n")
    write(os.path.join(tmp, NET), text)
    res = run(DEPLOY + ["--aipu-cores", "4", "--build-root", "b2", "--mode", "QUANTCOMPILE"], tmp)
    expect(res, 0, "Compile yolov5s-v7-coco:pipeline", "out")
    exists(tmp, "b2/yolov5s-v7-coco/yolov5s-v7-coco/4/model.json")
    check(json.load(open(os.path.join(tmp, "b2/yolov5s-v7-coco/yolov5s-v7-coco/4/manifest.json")))
          ["input_shapes"][0][0] == 4, "batch != cores")
    res = run(["axcompile", "-i", "weights/yolov5s.onnx", "-o", "axc", "--imageset", "data/calib_images"], tmp)
    expect(res, 0)
    exists(tmp, "axc/cli_args.json", "axc/conf.json", "axc/input_model/fp32_model.onnx",
           "axc/quantized_model/quantized_model_manifest.json", "axc/compiled_model/manifest.json",
           "axc/compiled_model/model.json", "axc/compilation_report.json", "axc/compilation_log.txt")
    check(json.load(open(os.path.join(tmp, "axc/compilation_report.json")))["status"] == "SUCCEEDED", "report")


@test
def test_voyager_refuses_what_the_sdk_refuses(tmp):
    """Each refusal with the SDK's own words (voyager-sdk v1.2.5; the file is
    named per case)."""
    voyager_setup(tmp)

    def net(text, name="t"):
        path = "ax_models/custom/%s.yaml" % name
        write(os.path.join(tmp, path), text.replace("name: yolov5s-v7-coco", "name: " + name, 1))
        return ["deploy.py", path, "--metis", "pcie", "--num-cal-images", "3", "--mode", "QUANTCOMPILE"]

    # network.py _provisional_model_info_from_yaml: what Kiln wrote before
    old = NETWORK_YAML.replace("    dataset: CalibrationDataset\n", "    dataset: CalibrationDataset\n"
                               "    preprocess:\n      - resize:\n          width: 640\n"
                               "    postprocess:\n      - nms:\n          iou_threshold: 0.45\n")
    expect(run(net(old), tmp), 1, "postprocess and preprocess are not valid keys for model yolov5s-v7-coco", "err")
    one = NETWORK_YAML.replace("    num_classes: 80\n", "    num_classes: 80\n    labels: coco.names\n")
    expect(run(net(one), tmp), 1, "labels is not a valid key for model yolov5s-v7-coco", "err")
    expect(run(net(NETWORK_YAML.replace("    task_category: ObjectDetection\n", "")), tmp), 1,
           "ERROR   : 'task_category'", "err")
    # pipeline.py _gen_process_list: operator names of the registry only
    expect(run(net(NETWORK_YAML.replace("- torch-totensor:", "- normalise:")), tmp), 1,
           "normalise: Unsupported preprocess operator", "err")
    expect(run(net(NETWORK_YAML.replace("- decodeyolo:", "- decode_yolov5:")), tmp), 1,
           "decodeyolov5: Unsupported postprocess operator", "err")
    no_ops = NETWORK_YAML[:NETWORK_YAML.index("operators:")] + NETWORK_YAML[NETWORK_YAML.index("models:"):]
    expect(run(net(no_ops), tmp), 1, "decodeyolo: Unsupported postprocess operator", "err")
    # an operator's fields are its class's (operators/custom_preprocessing.py, decoders/yolo.py)
    expect(run(net(NETWORK_YAML.replace("scaleup: True", "letterbox: True")), tmp), 1,
           "Letterbox() got an unexpected keyword argument 'letterbox'", "err")
    expect(run(net(NETWORK_YAML.replace("            box_format: xywh\n", "")), tmp), 1,
           "DecodeYolo() missing 1 required positional argument: 'box_format'", "err")
    # pipeline.py parse_task
    expect(run(net(NETWORK_YAML.replace("      model_name:", "      decoder: x\n      model_name:")), tmp), 1,
           "decoder is not a valid property of a Task", "err")
    # pipeline: null needs override_preprocess, which AxONNXModel lacks (network.py)
    nopipe = "pipeline: null\n" + NETWORK_YAML[NETWORK_YAML.index("models:"):]
    nopipe = NETWORK_YAML[:NETWORK_YAML.index("pipeline:")] + nopipe
    expect(run(net(nopipe), tmp), 1,
           "Please specify repr_imgs_dataloader_color_format in the dataset section for yolov5s-v7-coco", "err")
    nopipe = nopipe + "    repr_imgs_dataloader_color_format: RGB\n"
    expect(run(net(nopipe), tmp), 1, "Missing section preprocess in pipeline. Add to YAML or implement "
           "AxONNXModel.override_preprocess", "err")
    # decoders/yolo.py: a YOLOv5 head needs anchors, checked when the pipeline is deployed
    # (the double reads the head from the ONNX's outputs, so the model is cut at the three convs)
    make_onnx(os.path.join(tmp, "weights", "cut.onnx"), "images", [1, 3, 640, 640], YOLOV5_OUTS,
              graph_outputs=[n for n, _ in YOLOV5_OUTS])
    noanch = NETWORK_YAML[:NETWORK_YAML.index("    extra_kwargs:")] + NETWORK_YAML[NETWORK_YAML.index("datasets:"):]
    noanch = noanch.replace("weights/yolov5s.onnx", "weights/cut.onnx")
    expect(run(net(noanch.replace("datasets:", "    extra_kwargs:\n      YOLO:\n        anchors: []\ndatasets:")),
               tmp), 1, "Invalid anchors in extra_kwargs for yolov5s-v7-coco", "err")
    res = run(net(noanch), tmp)
    expect(res, 1, "Missing YOLO/anchors in extra_kwargs for yolov5s-v7-coco", "err")
    expect(res, 1, "Failed to deploy network", "err")
    expect(run(net(noanch) + ["--model", "yolov5s-v7-coco"], tmp), 0)  # compile only: not checked
    # yaml_parser.py: only registered networks; the sections; skipped folders
    expect(run(["deploy.py", "nosuchnet", "--metis", "pcie"], tmp), 2,
           "Invalid network 'nosuchnet', no close match found", "err")
    write(os.path.join(tmp, "net.yaml"), NETWORK_YAML)
    expect(run(["deploy.py", "net.yaml", "--metis", "pcie"], tmp), 2, "Invalid network 'net.yaml'", "err")
    write(os.path.join(tmp, "ax_models/zoo/z.yaml"), NETWORK_YAML.replace("name: yolov5s-v7-coco", "name: z"))
    expect(run(["deploy.py", "ax_models/zoo/z.yaml", "--metis", "pcie"], tmp), 2, "Invalid network", "err")
    nodesc = NETWORK_YAML.replace("description: custom", "summary: custom")
    res = run(net(nodesc, "nodesc"), tmp)
    expect(res, 2, "Invalid network", "err")
    expect(res, 2, "Unusable model", "err")
    # device_manager.py: no Metis card here, so the board type must be given
    expect(run(["deploy.py", NET], tmp), 1, "ERROR   : No devices found", "err")
    # config.py: --num-cal-images 2..2000; pipeline.py: no more than the dataset holds
    expect(run(["deploy.py", NET, "--metis", "pcie", "--num-cal-images", "1"], tmp), 2,
           "argument --num-cal-images: must be in range 2 to 2000", "err")
    expect(run(["deploy.py", NET, "--metis", "pcie", "--num-cal-images", "50"], tmp), 1,
           "Cannot use 50 calibration images when dataset only contains 4 images", "err")
    expect(run(["deploy.py", NET, "--metis", "pcie", "--aipu-cores", "5"], tmp), 2,
           "argument --aipu-cores: invalid choice: 5", "err")
    res = run(DEPLOY + ["--model", "other"], tmp)
    expect(res, 1, "## Deploy network yolov5s-v7-coco: model 'other' not found in yolov5s-v7-coco.yaml", "out")


@test
def test_voyager_errors(tmp):
    voyager_setup(tmp)
    expect(run(DEPLOY + ["--bogus"], tmp), 2, "unrecognized arguments: --bogus", "err")
    expect(run(["deploy.py"], tmp), 2, "the following arguments are required: network", "err")
    expect(run(DEPLOY + ["--mode", "FOO"], tmp), 2, "argument --mode: invalid choice", "err")
    os.rename(os.path.join(tmp, "weights"), os.path.join(tmp, "w"))
    expect(run(DEPLOY, tmp), 1, "No suitable weights found for yolov5s-v7-coco", "err")
    os.rename(os.path.join(tmp, "w"), os.path.join(tmp, "weights"))
    expect(run(["axcompile", "-i", "weights/yolov5s.onnx"], tmp), 2, "required: -o/--output", "err")
    expect(run(["axcompile", "-i", "nope.onnx", "-o", "o"], tmp), 2, "nope.onnx does not exist", "err")
    expect(run(["axcompile", "-i", "weights/yolov5s.onnx", "-o", "o", "--color-format", "XYZ"], tmp), 2,
           "invalid choice: 'XYZ'", "err")
    expect(run(DEPLOY + ["--mode", "QUANTCOMPILE"], tmp, KILN_DOUBLE_FAIL_STEP="deploy.py"), 1, "QTOOLS_ERROR",
           "err")
    check(not os.path.exists(os.path.join(tmp, "build/yolov5s-v7-coco/yolov5s-v7-coco/1/model.json")), "written")
    res = run(DEPLOY + ["--mode", "QUANTCOMPILE"], tmp, KILN_DOUBLE_CRASH_HALFWAY="deploy.py")
    check(res[0] == -signal.SIGKILL, "crash: %s" % res[0])
    expect(run(["axcompile", "-i", "weights/yolov5s.onnx", "-o", "o"], tmp, KILN_DOUBLE_FAIL_STEP="axcompile"), 1)
    check(json.load(open(os.path.join(tmp, "o/compilation_report.json")))["status"] == "QTOOLS_ERROR", "status")
    p = popen(DEPLOY + ["--mode", "QUANTCOMPILE"], tmp, KILN_DOUBLE_HANG="deploy.py")
    try:
        read_until(p, "Calibrating yolov5s-v7-coco")
        try:
            p.wait(timeout=1.5)
            raise Fail("deploy.py did not hang")
        except subprocess.TimeoutExpired:
            pass
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


# ---------------------------------------------------------------------------
# the OCI image (podman import) and a run of seed 001's transform inside it
# ---------------------------------------------------------------------------


def podman_usable():
    if not shutil.which("podman"):
        return False
    try:
        r = subprocess.run(["podman", "--runtime", "runc", "info"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@test
def test_podman_image(tmp):
    if not podman_usable():
        raise Skip("skipped: podman unavailable")
    tag = "localhost/kiln-toolchain-double-test:%d" % os.getpid()
    r = subprocess.run(["sh", os.path.join(HERE, "make-image.sh"), tag], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    check(r.returncode == 0, "make-image.sh failed: %s" % r.stderr[-400:])
    try:
        yolov5s(os.path.join(tmp, "yolov5s.onnx"))
        with open(os.path.join(tmp, "dog.jpg"), "wb") as f:
            f.write(JPEG)
        ws = os.path.join(tmp, "workspace")
        os.makedirs(ws)
        base = ["podman", "--runtime", "runc", "run", "--rm", "--ulimit", "nofile=1024:1024",
                "--ulimit", "nproc=1024:1024", "-v", "/usr:/usr:ro", "-v", "%s:/workspace" % tmp,
                "-w", "/workspace/workspace", tag]
        argv = base + ["model_transform.py", "--model_name", "yolov5s", "--model_def", "../yolov5s.onnx",
                       "--input_shapes", "[[1,3,640,640]]", "--mean", "0,0,0", "--scale", "0.0039216,0.0039216,0.0039216",
                       "--keep_aspect_ratio", "--pixel_format", "rgb", "--output_names",
                       "/model.24/m.0/Conv_output_0,/model.24/m.1/Conv_output_0,/model.24/m.2/Conv_output_0",
                       "--test_input", "../dog.jpg", "--test_result", "yolov5s_top_outputs.npz",
                       "--mlir", "yolov5s.mlir"]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=180)
        check(r.returncode == 0, "container run failed (%d): %s" % (r.returncode, r.stderr[-400:]))
        check("npz compare PASSED." in r.stdout, "no compare in the container's log")
        exists(ws, "yolov5s.mlir", "yolov5s_in_f32.npz", "yolov5s_top_outputs.npz")
        r = subprocess.run(base + ["model_deploy", "--bogus"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        check(r.returncode == 2 and "usage: model_deploy" in r.stderr, "argparse error inside the container")
    finally:
        subprocess.run(["podman", "rmi", "-f", tag], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120)


if __name__ == "__main__":
    only = sys.argv[1:]
    for t in TESTS:
        if not only or any(o in t.__name__ for o in only):
            run_test(t)
    sys.exit(0)
