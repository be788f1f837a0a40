"""Double of Sophgo TPU-MLIR 1.7 (pip wheel tpu_mlir==1.7, the version seed
002 prescribes for reCamera): model_transform, run_calibration, run_qtable,
model_deploy and model_tool.

Argument definitions follow the argparse code of github.com/sophgo/tpu-mlir
(looked up with the project's search tool; the exact 1.7 tag was not
stored, so the nearest stored versions were used):
  - python/tools/model_transform.py (versions 3423781686 / 0033e680):
    parse_known_args(); unknown options end up in `unknown_params`, which
    utils/preprocess.py (aacdf3e3) parses as mean values -> an unknown flag
    is a ValueError traceback with exit status 1, NOT an argparse exit 2.
  - python/utils/preprocess.py (aacdf3e3): --resize_dims --keep_aspect_ratio
    --keep_ratio_mode --mean --scale --pixel_format --channel_format
    --pad_value --pad_type --preprocess_list --debug_cmd
  - python/tools/model_deploy.py (003df888): parse_args() -> exit 2;
    --chip/--processor required, choices as below.
  - python/tools/run_calibration.py (b94c0ee2): parse_args().
  - python/tools/run_qtable.py (f81c5e48): parse_args(); --calibration_table,
    --chip/--processor and -o required.
  - python/calibration/data_selector.py: dataset selection, "There is no
    inputs", "Please specific dataset path by --dataset".
  - python/utils/... tensor compare print format (npz_tool compare):
    "[{:<32}] {:>12} [{:>6}]", cosine/euclidean/sqnr lines, summary,
    "min_similiarity = (...)", "npz compare FAILED." and the RuntimeError
    "[!Error]: <cmd>" raised by mlir_shell._os_system (exit 1).
"""
import argparse
import ast
import json
import os
import sys

from . import common as C

VERSION = "v1.7-kiln-double"
PKG = "/usr/local/lib/python3.10/dist-packages/tpu_mlir/python"

CHIPS_DEPLOY = ['bm1688', 'bm1684x', 'bm1684', 'bm1690', 'mars3', 'sg2380',
                'cv183x', 'cv182x', 'cv181x', 'cv180x', 'cv186x', 'cpu']
QUANTS = ['F32', 'BF16', 'F16', 'INT8', 'INT4', 'W8F16', 'W8BF16', 'W4F16',
          'W4BF16', 'F8E4M3', 'F8E5M2', 'QDQ']
CUSTOM_FORMATS = ['RGB_PLANAR', 'RGB_PACKED', 'BGR_PLANAR', 'BGR_PACKED',
                  'GRAYSCALE', 'YUV420_PLANAR', 'YUV_NV21', 'YUV_NV12',
                  'RGBA_PLANAR', 'GBRG_RAW', 'GRBG_RAW', 'BGGR_RAW',
                  'RGGB_RAW', '']


class ToolError(Exception):
    """Ends the program with a Python-style traceback and status 1."""

    def __init__(self, exc_line, frames=None, status=1):
        super().__init__(exc_line)
        self.exc_line = exc_line
        self.frames = frames or []
        self.status = status


def log(msg, level="INFO"):
    ts = C.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    print("%s - %s : %s" % (ts, level, msg), flush=True)


def run_main(fn, tool):
    try:
        return fn()
    except ToolError as e:
        sys.stdout.flush()
        C.py_traceback(e.frames, e.exc_line)
        return e.status


def _os_system_fail(tool_file, cmd):
    """The RuntimeError raised by utils/mlir_shell.py:_os_system."""
    raise ToolError(
        "RuntimeError: [!Error]: %s" % cmd,
        [("%s/tools/%s" % (PKG, tool_file), 1, "<module>", "..."),
         ("%s/utils/mlir_shell.py" % PKG, 419, "_os_system",
          'raise RuntimeError("[!Error]: {}".format(cmd_str))')])


def running(cmd):
    print("[Running]: %s" % cmd, flush=True)


def success(cmd):
    print("[Success]: %s" % cmd, flush=True)


# ---------------------------------------------------------------------------
# helpers shared by the TPU-MLIR tools
# ---------------------------------------------------------------------------


def str2list(v):
    files = [s.strip() for s in v.split(',')]
    return [s for s in files if s != '']


class _Str2ShapeError(Exception):
    pass


def str2shape(v):
    # The real str2shape eval()s the string: a bare word is a NameError and
    # a malformed list a SyntaxError, neither caught by argparse.
    try:
        shape = ast.literal_eval(v)
    except (ValueError, SyntaxError):
        word = v.strip().split(",")[0].strip("[] ")
        raise _Str2ShapeError("NameError: name '%s' is not defined" % word
                              if word.isidentifier() else
                              "SyntaxError: invalid syntax")
    if not isinstance(shape, list):
        raise _Str2ShapeError("KeyError: 'not shape list:%s'" % v)
    if not shape:
        return []
    if all(isinstance(x, int) for x in shape):
        return [shape]
    if all(isinstance(x, list) and all(isinstance(y, int) for y in x) for x in shape):
        return shape
    raise _Str2ShapeError("KeyError: 'not shape list:%s'" % v)


def parse_args_catching(parser, argv, known=False):
    try:
        if known:
            return parser.parse_known_args(argv)
        return parser.parse_args(argv)
    except _Str2ShapeError as e:
        raise ToolError(str(e), [("%s/utils/misc.py" % PKG, 40, "str2shape",
                                  "_shape = eval(v)")])


def fmt_shape(shape):
    return "x".join(str(d) for d in shape)


def compare_name(tensor, op_type):
    # TPU-MLIR names a value "<onnx tensor>_<op type>" (e.g. output0_Concat)
    return "%s_%s" % (tensor, op_type) if op_type else tensor


def read_mlir(path, tool_file):
    if not os.path.exists(path):
        raise ToolError("FileNotFoundError: [Errno 2] No such file or directory: '%s'" % path,
                        [("%s/tools/%s" % (PKG, tool_file), 1, "<module>", "..."),
                         ("%s/utils/mlir_parser.py" % PKG, 200, "__init__",
                          "with open(mlir_file, 'r') as f:")])
    head, meta = C.read_marker(path)
    if not head or not isinstance(meta, dict) or meta.get("kind") != "top-mlir":
        raise ToolError(
            "RuntimeError: %s: not a top mlir written by model_transform "
            "(the toolchain double only reads its own files)" % path,
            [("%s/utils/mlir_parser.py" % PKG, 210, "__init__",
              "self.module = pymlir.module(mlir_file)")])
    return meta


def npz_has_marker(path):
    import numpy as np
    try:
        with np.load(path) as z:
            return C.MARKER.replace("-", "_") in z.files, list(z.files)
    except Exception:
        return False, []


def save_npz(path, arrays, digest):
    import numpy as np
    arrays = dict(arrays)
    arrays[C.MARKER.replace("-", "_")] = np.array(
        "simulated by the Kiln toolchain double, inputs-sha256=%s" % digest)
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "wb") as f:  # keep the exact name (np adds .npz otherwise)
        np.savez_compressed(f, **arrays)


def shape_or_one(shape):
    if shape and all(isinstance(d, int) and d > 0 for d in shape):
        return tuple(shape)
    return (1,)


def parse_tolerance(tol, tool_file):
    try:
        parts = [float(x) for x in tol.split(",")]
        if len(parts) < 2:
            raise ValueError
        return parts[0], parts[1]
    except ValueError:
        raise ToolError("ValueError: could not convert string to float: '%s'" % tol,
                        [("%s/tools/npz_tool.py" % PKG, 60, "<module>", "..."),
                         ("%s/numerics/npz_compare.py" % PKG, 180, "npz_compare",
                          "tolerance = [float(x) for x in args.tolerance.split(',')]")])


def print_compare(target, reference, tol_s, excepts, rows, cmd_file):
    """rows: [(name, shape, kind, cos, euc, sqnr)] kind in SIMILAR/EQUAL.
    Prints the npz_tool compare block; raises the real RuntimeError when a
    tensor is below tolerance."""
    tc, te = parse_tolerance(tol_s, cmd_file)
    cmd = "npz_tool.py compare %s %s --tolerance %s --except %s -vv" % (
        target, reference, tol_s, excepts)
    running(cmd)
    passed = failed = similar = not_similar = equal = 0
    mins = [1.0, 1.0, float("inf")]
    for name, shape, kind, cos, euc, sqnr in rows:
        if kind == "EQUAL":
            ok = True
            equal += 1
            status = "EQUAL"
        else:
            ok = cos > tc and euc > te
            status = "SIMILAR" if ok else "NOT_SIMLIAR"
            if ok:
                similar += 1
            else:
                not_similar += 1
            mins = [min(mins[0], cos), min(mins[1], euc), min(mins[2], sqnr)]
        passed += ok
        failed += not ok
        print("[{:<32}] {:>12} [{:>6}]".format(name, status, "PASSED" if ok else "FAILED"))
        print("    {} {} ".format(tuple(shape), "float32"))
        if kind != "EQUAL":
            print("    cosine_similarity      = {:.6f}".format(cos))
            print("    euclidean_similarity   = {:.6f}".format(euc))
            print("    sqnr_similarity        = {:.6f}".format(sqnr))
        if not ok:
            print("top-k:")
            print(" idx-t  target  idx-r  ref")
            for i in range(3):
                print(" ", int(C.between(0, 20000, name, i, "t")),
                      round(C.between(0, 40, name, i, "tv"), 5),
                      int(C.between(0, 20000, name, i, "r")),
                      round(C.between(100, 640, name, i, "rv"), 5))
    print("%d compared" % len(rows))
    print("%d passed" % passed)
    print("  %d equal, %d close, %d similar" % (equal, 0, similar))
    print("%d failed" % failed)
    print("  %d not equal, %d not similar" % (0, not_similar))
    print("min_similiarity = ({}, {}, {})".format(mins[0], mins[1], mins[2]))
    print("Target    %s" % target)
    print("Reference %s" % reference)
    if failed:
        print("npz compare FAILED.", flush=True)
        raise ToolError("RuntimeError: [!Error]: %s" % cmd, [
            ("%s/tools/%s" % (PKG, cmd_file), 570, "<module>", "..."),
            ("%s/utils/mlir_shell.py" % PKG, 1028, "f32_blobs_compare",
             "_os_system(cmd, log_level=log_level)"),
            ("%s/utils/mlir_shell.py" % PKG, 419, "_os_system",
             'raise RuntimeError("[!Error]: {}".format(cmd_str))')])
    print("npz compare PASSED.", flush=True)
    success(cmd)


def check_image(path, tool_file):
    if not os.path.exists(path):
        print("%s doesn't existed !!!" % path, flush=True)
        raise SystemExit(1)
    if not C.file_image_kind(path):
        sys.stderr.write("[ WARN:0@0.012] global loadsave.cpp:248 findDecoder "
                         "imread_('%s'): can't open/identify image file\n" % path)
        raise ToolError("AttributeError: 'NoneType' object has no attribute 'shape'",
                        [("%s/tools/%s" % (PKG, tool_file), 1, "<module>", "..."),
                         ("%s/utils/preprocess.py" % PKG, 360, "__load_image_and_resize",
                          "ratio = min(self.net_input_dims[0] / image.shape[0], "
                          "self.net_input_dims[1] / image.shape[1])")])


def is_image_name(p):
    return p.lower().endswith(C.IMAGE_EXTS)


def select_dataset(dataset, num, data_list, tool_file):
    """calibration/data_selector.py: DataSelector."""
    frames = [("%s/tools/%s" % (PKG, tool_file), 1, "<module>",
               "selector = DataSelector(args.dataset, args.input_num, args.data_list)"),
              ("%s/calibration/data_selector.py" % PKG, 40, "__init__", "...")]
    files = []
    if data_list:
        if not os.path.exists(data_list):
            raise ToolError("FileNotFoundError: [Errno 2] No such file or directory: '%s'" % data_list, frames)
        with open(data_list) as f:
            files = [ln.strip() for ln in f if ln.strip()]
        if 0 < num < len(files):
            files = files[:num]
    elif dataset:
        import pathlib
        full = sorted(str(p) for p in pathlib.Path(dataset).glob('**/*')
                      if str(p).lower().split('.')[-1] in
                      ('npz', 'npy', 'jpg', 'bmp', 'png', 'jpeg', 'jfif'))
        n = num if len(full) > num else len(full)
        if n == 0:
            n = len(full)
        files = full[:n]
    else:
        raise ToolError("RuntimeError: Please specific dataset path by --dataset", frames)
    if not files:
        raise ToolError("RuntimeError: There is no inputs", frames)
    for p in files:
        if is_image_name(p):
            check_image(p, tool_file)
    return files


# ---------------------------------------------------------------------------
# model_transform
# ---------------------------------------------------------------------------


def transform_parser(prog):
    # The epilog names the double in --help, which is what kilnd's readiness
    # probe runs: "simulated" is decided from the tool itself, not its path.
    p = argparse.ArgumentParser(prog=prog, epilog=C.MARKER + " (simulated by the Kiln toolchain double)")
    p.add_argument("--model_name", required=True, help="model name")
    p.add_argument("--model_def", required=True, help="model definition file.")
    p.add_argument("--model_data", help="caffemodel, only for caffe model")
    p.add_argument("--input_shapes", type=str2shape, default=list(),
                   help="list of input shapes, like:[[1,3,224,224],[10],[16]]")
    p.add_argument("--input_types", type=str2list, default=list(),
                   help="list of input types, like:float32,int32. if not set, float32 as default")
    p.add_argument("--output_names", type=str2list, default=list(),
                   help="if set, will find names in model and set as real outputs")
    p.add_argument("--test_input", default="", type=str2list,
                   help="input jpg/npy/npz file for inference, if has more than one input, join jpg or npy with semicolon")
    p.add_argument("--test_result", default="", type=str,
                   help="if input is set, result is mlir inference result")
    p.add_argument("--tolerance", default='0.99,0.99',
                   help="minimum similarity tolerance to model transform")
    p.add_argument("--excepts", default='-', help="excepts")
    p.add_argument("--add_postprocess", default="", type=str.lower,
                   choices=['', 'yolov3', 'yolov5', 'yolov8', 'ssd'], help="add postprocess for model")
    p.add_argument("--onnx_sim", default="", type=str, choices=['', 'skip_fuse_bn'],
                   help="pass options of onnx-sim, sep by quote without space")
    p.add_argument("--debug", action='store_true', help='to keep all intermediate files for debug')
    p.add_argument("--mlir", type=str, required=True, help="output mlir model file")
    # utils/preprocess.py add_preprocess_parser
    p.add_argument("--resize_dims", type=str,
                   help="Image was resize to fixed 'h,w', default is same as net input dims")
    p.add_argument("--keep_aspect_ratio", action='store_true', default=False,
                   help="Resize image by keeping same ratio, any areas which are not taken are filled with 0")
    p.add_argument("--keep_ratio_mode", choices=['letterbox', 'short_side_scale'], default='letterbox',
                   help="If use keep_aspect_ratio, different mode for resize")
    p.add_argument("--mean", default='0,0,0', nargs='?', help="Per Channel image mean values")
    p.add_argument("--scale", default='1,1,1', help="Per Channel image scale values")
    p.add_argument("--pixel_format", choices=['rgb', 'bgr', 'gray', 'rgba', 'gbrg', 'grbg', 'bggr', 'rggb'],
                   default='bgr', help='fixel format of output data that sent into model')
    p.add_argument("--channel_format", choices=['nhwc', 'nchw', 'none'], default='nchw',
                   help='channel first or channel last, or not image')
    p.add_argument("--pad_value", type=int, default=0, help="pad value when resize ")
    p.add_argument("--pad_type", type=str, choices=['normal', 'center'], default='center',
                   help="type of pad when resize ")
    p.add_argument("--preprocess_list", type=str2list, default=list(),
                   help="choose which input need preprocess, like:'1,3' means input 1&3 need preprocess, default all inputs")
    p.add_argument("--debug_cmd", type=str, default='', help="debug cmd")
    g = p.add_argument_group('avoid options')
    g.add_argument('unknown_params', nargs='?', default=[],
                   help='not parameters but starting with "-"')
    return p


def _floats(s, what):
    try:
        return [float(x) for x in s.split(',')]
    except ValueError as e:
        raise ToolError("ValueError: %s" % e, [
            ("%s/tools/model_transform.py" % PKG, 330, "get_model_transform",
             "preprocessor.config(**vars(args))"),
            ("%s/utils/preprocess.py" % PKG, 196, "config",
             "self.%s = np.array([float(s) for s in %s.split(',')], dtype=np.float32)" % (what, what))])


def model_transform_main(argv=None):
    return run_main(lambda: _model_transform(argv), "model_transform")


def _model_transform(argv):
    import numpy as np
    prog = os.path.basename(sys.argv[0])
    tool = "model_transform"
    args, unknown = parse_args_catching(transform_parser(prog), argv, known=True)
    log("TPU-MLIR %s" % VERSION)
    # unknown options land in unknown_params, parsed as mean values
    params = []
    if isinstance(args.unknown_params, str):
        params = list(args.unknown_params)
    params += unknown
    if params:
        for s in params:
            for x in s.split(','):
                try:
                    float(x)
                except ValueError:
                    raise ToolError("ValueError: could not convert string to float: '%s'" % x, [
                        ("%s/tools/model_transform.py" % PKG, 330, "get_model_transform",
                         "preprocessor.config(**vars(args))"),
                        ("%s/utils/preprocess.py" % PKG, 190, "config",
                         "self.mean = np.array([float(s) for sublist in unknown_params "
                         "for s in sublist.split(',')], dtype=np.float32)")])
    mean = _floats(args.mean or '0,0,0', 'mean')
    scale = _floats(args.scale, 'scale')
    channels = {'gray': 1, 'rgba': 4}.get(args.pixel_format, 3)
    if len(mean) < channels or len(scale) < channels:
        raise ToolError("AssertionError", [("%s/utils/preprocess.py" % PKG, 197, "config",
                                            "assert (self.mean.size >= self.channel_num)")])
    log("\n\t _____________________________________________________ \n"
        "\t| preprocess:                                           |\n"
        "\t|   (x - mean) * scale                                  |\n"
        "\t'-------------------------------------------------------'\n"
        "  config Preprocess args : \n"
        "\tresize_dims           : %s\n\tkeep_aspect_ratio     : %s\n"
        "\tkeep_ratio_mode       : %s\n\tpad_value             : %s\n"
        "\tpad_type              : %s\n\t--------------------------\n"
        "\tmean                  : %s\n\tscale                 : %s\n"
        "\t--------------------------\n\tpixel_format          : %s\n"
        "\tchannel_format        : %s\n" % (
            args.resize_dims or 'same to net input dims', args.keep_aspect_ratio,
            args.keep_ratio_mode, args.pad_value, args.pad_type, mean, scale,
            args.pixel_format, args.channel_format))
    for t in args.test_input:
        if not os.path.exists(t):
            raise ToolError("AssertionError: test_input %s not exist!" % t, [
                ("%s/tools/model_transform.py" % PKG, 420, "<module>",
                 'assert os.path.exists(input), f"test_input {input} not exist!"')])
    if not args.mlir.endswith('.mlir'):
        raise ToolError("RuntimeError: your mlir file should endswith .mlir, not:%s" % args.mlir, [
            ("%s/tools/model_transform.py" % PKG, 332, "get_model_transform",
             'raise RuntimeError("your mlir file should endswith .mlir, not:{}".format(args.mlir))')])
    if not args.model_def.endswith('.onnx'):
        raise ToolError("RuntimeError: unsupport model:%s" % args.model_def, [
            ("%s/tools/model_transform.py" % PKG, 360, "get_model_transform",
             'raise RuntimeError("unsupport model:{}".format(args.model_def))')])
    frames_conv = [("%s/tools/model_transform.py" % PKG, 336, "get_model_transform",
                    "tool = OnnxTransformer(args.model_name, ...)"),
                   ("%s/transform/OnnxConverter.py" % PKG, 220, "load_onnx_model",
                    "self.model = onnx.load(model_file)")]
    if not os.path.exists(args.model_def):
        raise ToolError("FileNotFoundError: [Errno 2] No such file or directory: '%s'" % args.model_def,
                        frames_conv)
    try:
        model = C.load_onnx(args.model_def)
    except Exception as e:  # onnx.load on a file that is not ONNX
        raise ToolError("google.protobuf.message.DecodeError: Error parsing message (%s)" % type(e).__name__,
                        frames_conv)
    inputs, outputs, producers, shapes = C.onnx_io(model)
    if not model.graph.node:
        raise ToolError("RuntimeError: the ONNX graph has no nodes", frames_conv)
    # outputs
    if args.output_names:
        names = args.output_names
        known = set(producers) | {o for o, _ in outputs}
        for n in names:
            if n not in known:
                raise ToolError("RuntimeError: Error, can't find %s in model" % n, frames_conv[:1] + [
                    ("%s/transform/OnnxConverter.py" % PKG, 262, "select_output",
                     'raise RuntimeError("Error, can\'t find {} in model".format(x))')])
    else:
        names = [o for o, _ in outputs]
    # input shapes
    if args.input_shapes:
        if len(args.input_shapes) != len(inputs):
            raise ToolError("RuntimeError: input_shapes num %d != model inputs num %d" % (
                len(args.input_shapes), len(inputs)), frames_conv)
        in_shapes = [(n, s) for (n, _), s in zip(inputs, args.input_shapes)]
    else:
        in_shapes = inputs
        for n, s in inputs:
            if not s or not all(isinstance(d, int) and d > 0 for d in s):
                raise ToolError("RuntimeError: %s has dynamic shape %s, please set --input_shapes" % (n, s),
                                frames_conv)
    if args.test_input and not args.test_result:
        raise ToolError("AssertionError", [("%s/tools/model_transform.py" % PKG, 430, "<module>",
                                            "assert (args.test_result)")])
    # the cut: ancestors of the chosen outputs
    by_out = {}
    for node in model.graph.node:
        for o in node.output:
            by_out[o] = node
    keep, stack = [], list(names)
    seen = set()
    while stack:
        t = stack.pop()
        node = by_out.get(t)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        keep.append(node)
        stack.extend(node.input)
    order = {id(n): i for i, n in enumerate(model.graph.node)}
    keep.sort(key=lambda n: order[id(n)])
    layers = [[compare_name(n.output[0], n.op_type), n.op_type] for n in keep if n.output]
    out_meta = [[n, producers.get(n, ""), list(shape_or_one(shapes.get(n)))] for n in names]
    digest = C.inputs_digest([args.model_def] + args.test_input, " ".join(sys.argv[1:]))
    tool_hang = lambda: running("tpuc-opt %s --shape-infer --canonicalize --extra-optimize -o %s" % (
        args.mlir.replace('.mlir', '_origin.mlir', 1), args.mlir))
    C.install_term_handling(tool)
    C.maybe_hang(tool, None, tool_hang)
    meta = {
        "kind": "top-mlir", "tool": "model_transform", "version": VERSION,
        "model_name": args.model_name, "state": "TOP_F32",
        "onnx": args.model_def, "onnx_sha256": C.sha256_file(args.model_def),
        "inputs": [[n, list(s)] for n, s in in_shapes], "outputs": out_meta,
        "layers": layers,
        "preprocess": {"mean": mean, "scale": scale, "pixel_format": args.pixel_format,
                       "channel_format": args.channel_format,
                       "keep_aspect_ratio": args.keep_aspect_ratio,
                       "keep_ratio_mode": args.keep_ratio_mode,
                       "resize_dims": args.resize_dims, "pad_value": args.pad_value,
                       "pad_type": args.pad_type},
        "weight_file": "%s_top_f32_all_weight.npz" % args.model_name,
    }
    origin = args.mlir.replace('.mlir', '_origin.mlir', 1)
    mlir_text = _mlir_text("model_transform", digest, meta, in_shapes, out_meta)
    C.write_text(origin, mlir_text.replace("TOP_F32", "TOP_F32_ORIGIN", 1))
    cmd = "tpuc-opt %s --shape-infer --canonicalize --extra-optimize -o %s" % (origin, args.mlir)
    running(cmd)
    if C.env_matches("KILN_DOUBLE_FAIL_STEP", tool):
        sys.stderr.write("%s:1:1: error: 'top.%s' op shape inference failed "
                         "(KILN_DOUBLE_FAIL_STEP)\n" % (origin, layers[-1][1] if layers else "Conv"))
        _os_system_fail("model_transform.py", cmd)
    C.crash_halfway(tool, None, args.mlir, mlir_text)
    C.write_text(args.mlir, mlir_text)
    success(cmd)
    log("Mlir file generated:%s" % args.mlir)
    save_npz(meta["weight_file"], {"%s_filter" % l[0]: np.zeros((1,), np.float32)
                                   for l in layers[:4]}, digest)
    if args.test_input:
        in_npz = args.model_name + '_in_f32.npz'
        ref_npz = args.model_name + '_ref_outputs.npz'
        arrays = {}
        for (n, s), t in zip(in_shapes, args.test_input + [args.test_input[-1]] * len(in_shapes)):
            if is_image_name(t):
                check_image(t, "model_transform.py")
            elif t.endswith('.npz') or t.endswith('.npy'):
                try:
                    np.load(t)
                except Exception:
                    raise ToolError("ValueError: Cannot load file containing pickled data "
                                    "when allow_pickle=False", frames_conv[:1])
            arrays[n] = np.zeros(shape_or_one(s), np.float32)
        save_npz(in_npz, arrays, digest)
        print("[CMD]: model_runner.py --input %s --model %s --output %s" % (in_npz, args.model_def, ref_npz))
        outs = {compare_name(n, op): np.zeros(tuple(sh), np.float32) for n, op, sh in out_meta}
        save_npz(ref_npz, outs, digest)
        log("Saving %s" % ref_npz)
        print("[CMD]: model_runner.py --input %s --model %s --output %s" % (in_npz, args.mlir, args.test_result))
        save_npz(args.test_result, outs, digest)
        log("Saving %s" % args.test_result)
        rows = []
        for n, op, sh in out_meta:
            name = compare_name(n, op)
            if C.low_cosine_for(tool, n):
                rows.append((name, sh, "SIMILAR", C.between(0.90, 0.95, name, "f32low"),
                             C.between(0.40, 0.60, name, "f32low-e"), C.between(5, 10, name, "q")))
            else:
                rows.append((name, sh, "SIMILAR", C.between(0.999990, 0.999999, name, "f32"),
                             C.between(0.9990, 0.9999, name, "f32e"), C.between(55, 75, name, "sq")))
        print_compare(args.test_result, ref_npz, args.tolerance, args.excepts, rows,
                      "model_transform.py")
        if not args.debug:
            os.remove(ref_npz)
    if not args.debug and os.path.exists(origin):
        os.remove(origin)
    return 0


def _mlir_text(tool, digest, meta, in_shapes, out_meta):
    lines = ["// " + C.header_line(tool, VERSION, digest, meta["kind"]),
             "// " + json.dumps(meta, sort_keys=True),
             '// simulated by the Kiln toolchain double: no real graph below',
             'module attributes {module.chip = "%s", module.name = "%s", module.platform = "ONNX", '
             'module.state = "%s", module.weight_file = "%s"} {' % (
                 meta.get("chip", "ALL"), meta["model_name"], meta["state"], meta["weight_file"])]
    ins = ", ".join("%%arg%d: tensor<%sxf32>" % (i, fmt_shape(s)) for i, (_n, s) in enumerate(in_shapes))
    outs = ", ".join("tensor<%sxf32>" % fmt_shape(sh) for _n, _op, sh in out_meta)
    lines.append("  func.func @main(%s) -> (%s) {" % (ins, outs))
    for i, (n, s) in enumerate(in_shapes):
        lines.append('    %%%d = "top.Input"(%%arg%d) : (tensor<%sxf32>) -> tensor<%sxf32> loc(#loc%d)'
                     % (i, i, fmt_shape(s), fmt_shape(s), i))
    lines.append("    // ... %d simulated ops ..." % len(meta.get("layers", [])))
    lines.append("    return")
    lines.append("  } loc(#loc)")
    lines.append("} loc(#loc)")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# run_calibration
# ---------------------------------------------------------------------------


def calibration_parser(prog):
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument('mlir_file', metavar='mlir_file', help='mlir file')
    p.add_argument('--we', help='weight equalization', action="store_true")
    p.add_argument('--bc', help='bias correction', action="store_true")
    p.add_argument('--dataset', type=str, help='dataset for calibration')
    p.add_argument('--data_list', type=str, help='Input list file contain all input')
    p.add_argument('--input_num', type=int, default=0, help='num of images for calibration')
    p.add_argument('--inference_num', type=int, default=30,
                   help='num of inputs for inference during optimal threshold searching')
    p.add_argument('--bc_inference_num', type=int, default=30,
                   help='num of inputs for inference during bias correction')
    p.add_argument('--tune_list', type=str, default='', help='Tune list file contain all input for tune')
    p.add_argument('--tune_num', type=int, default=5, help='num of images for tune')
    p.add_argument('--histogram_bin_num', type=int, default=2048,
                   help='Specify histogram bin numer for kld calculate')
    p.add_argument('--expected_cos', type=float, default=0.99, help='expected net output cos')
    p.add_argument('--min_layer_cos', type=float, default=0.99, help='minimum cos of layer')
    p.add_argument('--max_float_layers', type=int, default=5, help='num of float layers in search qtable')
    p.add_argument('--cali_method', type=str, default='use_kl', help='method of calibration')
    p.add_argument('--chip', '--processor', default='bm1684x', type=str,
                   choices=['bm1684x', 'bm1684', 'cv183x', 'cv182x', 'cv181x', 'cv180x', 'cv186x',
                            'bm1688', 'bm1690', 'mars3'],
                   help='chip platform name')
    p.add_argument('--fp_type', default='auto', type=str, choices=['auto', 'F16', 'F32', 'BF16'],
                   help='float type of mix precision')
    p.add_argument('--post_process', type=str, default=None, help='post_process program path')
    p.add_argument('--global_compare_layers', type=str, default='',
                   help="global compare layers, for example:'layer1,layer2' or 'layer1:0.3,layer2:0.7'")
    p.add_argument('--search', type=str, default='False',
                   choices=['search_threshold', 'search_qtable', 'False'], help='choose quantization scheme')
    p.add_argument('--transformer', type=str, default='False', help='model include attention structure')
    p.add_argument('--quantize_method_list', type=lambda s: s.split(','), default='MSE',
                   help='threshold method for search qtable')
    p.add_argument('--benchmark_method', type=str, default='cos', choices=['cos', 'snr'],
                   help='method for search optimal threshold')
    p.add_argument('--kurtosis_analysis', help='kurtosis analysis', action="store_true")
    p.add_argument('--part_quantize', help='only quantize conv and matmul', action="store_true")
    p.add_argument('--part_asymmtric', help='some pattern use asymmetric quantize', action='store_true')
    p.add_argument('-o', '--calibration_table', type=str, help='output threshold table')
    p.add_argument('--quantize_table', help='output search qtable')
    p.add_argument('--debug_cmd', type=str, default='', help='debug cmd')
    p.add_argument('--debug_log', action='store_true', help='Enable DEBUG logging level')
    return p


def run_calibration_main(argv=None):
    return run_main(lambda: _run_calibration(argv), "run_calibration")


def _progress(label, total, step_fn=None):
    # tqdm's bar with kld_calibrator's set_description per item: label may
    # be a function of the item's index (SOURCES.md, "Progress inside a step").
    total = max(total, 1)
    marks = sorted(set([1, total] + [max(1, total * k // 10) for k in range(1, 10)]))
    for i in marks:
        pct = i * 100 // total
        bar = ("\u2588" * (pct // 10)).ljust(10)
        desc = label(i - 1) if callable(label) else label
        print("%s: %3d%%|%s| %d/%d [00:%02d<00:00, %.2fit/s]" % (
            desc, pct, bar, i, total, i // 50, C.between(20, 60, desc, i)), flush=True)
        if step_fn:
            step_fn(i)


def _run_calibration(argv):
    prog = os.path.basename(sys.argv[0])
    tool = "run_calibration"
    args = parse_args_catching(calibration_parser(prog), argv)
    print("TPU-MLIR %s" % VERSION, flush=True)
    meta = read_mlir(args.mlir_file, "run_calibration.py")
    files = select_dataset(args.dataset, args.input_num, args.data_list, "run_calibration.py")
    if not args.calibration_table:
        raise ToolError("TypeError: expected str, bytes or os.PathLike object, not NoneType", [
            ("%s/tools/run_calibration.py" % PKG, 110, "<module>", "calibrator.run()"),
            ("%s/calibration/kld_calibrator.py" % PKG, 600, "run",
             "with open(self.args.calibration_table, 'w') as f:")])
    C.install_term_handling(tool)
    log("prepare data from %d" % len(files))
    mid = max(1, len(files) // 2)

    def step(i):
        if i >= mid:
            C.maybe_hang(tool)
            if C.env_matches("KILN_DOUBLE_FAIL_STEP", tool):
                raise ToolError("RuntimeError: activation collect failed at sample %d "
                                "(KILN_DOUBLE_FAIL_STEP)" % i, [
                                    ("%s/tools/run_calibration.py" % PKG, 110, "<module>", "calibrator.run()"),
                                    ("%s/calibration/kld_calibrator.py" % PKG, 480,
                                     "activation_collect_and_calc_th", "...")])
    _progress(lambda i: "activation_collect_and_calc_th for sample: %d" % i, len(files), step)
    layer_names = [n for n, _op in meta["layers"]] or ["output"]
    _progress(lambda i: "[%d] threshold: %s" % (args.histogram_bin_num, layer_names[min(i, len(layer_names) - 1)]),
              len(layer_names))
    if args.tune_num > 0:  # SimpleTuner: one bar item per tensor
        _progress(lambda i: "tune op: %s" % layer_names[min(i, len(layer_names) - 1)], len(layer_names))
    digest = C.inputs_digest([args.mlir_file] + files, " ".join(sys.argv[1:]))
    hdr = {"kind": "cali-table", "tool": tool, "version": VERSION, "mlir": args.mlir_file,
           "model_name": meta["model_name"], "sample_number": len(files)}
    lines = ["# " + C.header_line(tool, VERSION, digest, "calibration-table"),
             "# " + json.dumps(hdr, sort_keys=True),
             "# mlir version: %s" % VERSION,
             "# mlir: %s" % args.mlir_file,
             "# genetated time: %s" % C.now().strftime("%Y-%m-%d %H:%M:%S.%f"),
             "# quantization threshold calculation method: %s" % args.cali_method,
             "# histogram number: %d" % args.histogram_bin_num,
             "# sample number: %d" % len(files),
             "###",
             "# tune number: %d" % args.tune_num,
             "###",
             "# op_name    threshold    min    max"]
    for n, s in meta["inputs"]:
        lines.append("%s %.7f %.7f %.7f" % (n, 1.0, 0.0, 1.0))
    for name, _op in meta["layers"]:
        mx = C.between(2, 120, name, "max")
        mn = -C.between(0, mx, name, "min")
        lines.append("%s %.7f %.7f %.7f" % (name, C.between(0.6, 1.0, name, "thr") * mx, mn, mx))
    text = "\n".join(lines) + "\n"
    C.crash_halfway(tool, None, args.calibration_table, text)
    C.write_text(args.calibration_table, text)
    log("calibration table generated: %s" % args.calibration_table)
    return 0


# ---------------------------------------------------------------------------
# run_qtable
# ---------------------------------------------------------------------------


def qtable_parser(prog):
    p = argparse.ArgumentParser(prog=prog, description="Generate quantization table")
    p.add_argument('mlir_file', help='fp32 mlir file')
    p.add_argument('--dataset', help='dataset path for mix precision searching')
    p.add_argument("--data_list", help="specify a file with inputs's absolute path for mix precision searching")
    p.add_argument('--input_num', type=int, default=10, help='num of inputs for quantization searching')
    p.add_argument('--expected_cos', type=float, default=0.99, help='expected net output cos')
    p.add_argument('--global_compare_layers', type=str, default='',
                   help="global compare layers, for example:'layer1,layer2' or 'layer1:0.3,layer2:0.7'")
    p.add_argument('--min_layer_cos', type=float, default=0.99, help='minimum cos of layer')
    p.add_argument('--calibration_table', required=True,
                   help='calibration table generated by calibration or tune tool')
    p.add_argument('--chip', '--processor', required=True, type=str.lower,
                   choices=['bm1684x', 'bm1684', 'cv183x', 'cv182x', 'cv181x', 'cv180x', 'bm1690',
                            'bm1688', 'cv186x', 'mars3'],
                   help='chip platform name')
    p.add_argument('--fp_type', default='auto', type=str, choices=['auto', 'F16', 'F32', 'BF16'],
                   help='float type of mix precision')
    p.add_argument('--loss_table', default='full_loss_table.txt',
                   help="output all loss of layers if each layer is quantized to f16")
    p.add_argument('-b', '--base_quantize_table', required=False, type=str, default="",
                   help=argparse.SUPPRESS)
    p.add_argument('-o', '--quantize_table', required=True, help='output searched bf16 layer table')
    p.add_argument('--debug_cmd', type=str, default='', help='debug cmd')
    return p


def read_cali_table(path, tool_file):
    frames = [("%s/tools/%s" % (PKG, tool_file), 1, "<module>", "..."),
              ("%s/calibration/mix_precision.py" % PKG, 120, "__init__",
               "self.cali_table = CaliTable(args.calibration_table)")]
    if not os.path.exists(path):
        raise ToolError("FileNotFoundError: [Errno 2] No such file or directory: '%s'" % path, frames)
    head, meta = C.read_marker(path)
    if not head or not isinstance(meta, dict) or meta.get("kind") != "cali-table":
        raise ToolError("RuntimeError: %s: not a calibration table written by run_calibration "
                        "(the toolchain double only reads its own files)" % path, frames)
    entries = 0
    with open(path) as f:
        for ln in f:
            if ln.startswith("#") or not ln.strip():
                continue
            parts = ln.split()
            if len(parts) != 4:
                raise ToolError("ValueError: bad calibration table line: %r" % ln.strip(), frames)
            entries += 1
    if entries == 0:
        raise ToolError("RuntimeError: calibration table %s is empty" % path, frames)
    return meta


def run_qtable_main(argv=None):
    return run_main(lambda: _run_qtable(argv), "run_qtable")


def _run_qtable(argv):
    import time
    prog = os.path.basename(sys.argv[0])
    tool = "run_qtable"
    t0 = time.time()
    args = parse_args_catching(qtable_parser(prog), argv)
    print("TPU-MLIR %s" % VERSION, flush=True)
    meta = read_mlir(args.mlir_file, "run_qtable.py")
    read_cali_table(args.calibration_table, "run_qtable.py")
    files = select_dataset(args.dataset, args.input_num, args.data_list, "run_qtable.py")
    C.install_term_handling(tool)
    fp = args.fp_type
    if fp == 'auto':
        fp = 'BF16' if args.chip.startswith('cv18') else 'F16'
    layers = meta["layers"]
    low = any(C.low_cosine_for(tool, n) for n, _op, _sh in meta["outputs"])
    int8_cos = C.between(0.62, 0.70, meta["model_name"], "i8low") if low else \
        C.between(0.90, 0.985, meta["model_name"], "i8")
    _progress("the loss of layers", len(layers) or 1,
              lambda i: C.maybe_hang(tool) if i >= max(1, len(layers) // 2) else None)
    if C.env_matches("KILN_DOUBLE_FAIL_STEP", tool):
        raise ToolError("RuntimeError: [!Error]: mix precision search failed (KILN_DOUBLE_FAIL_STEP)", [
            ("%s/tools/run_qtable.py" % PKG, 60, "<module>", "searcher.run()"),
            ("%s/calibration/mix_precision.py" % PKG, 900, "run", "...")])
    print("int8 outputs_cos:%f" % int8_cos, flush=True)
    # choose the float layers: the last ones (the head) plus a few sensitive ones
    scored = sorted(layers, key=lambda l: C.unit(l[0], "sens"))
    chosen = [l[0] for l in layers[-min(3, len(layers)):]]
    for l in scored[:2]:
        if l[0] not in chosen:
            chosen.append(l[0])
    mix_cos = C.between(args.expected_cos - 0.05, args.expected_cos - 0.02, "mixlow") if low else \
        min(0.999999, C.between(max(args.expected_cos, int8_cos), 1.0, meta["model_name"], "mix"))
    print("mix model outputs_cos:%f" % mix_cos, flush=True)
    digest = C.inputs_digest([args.mlir_file, args.calibration_table] + files, " ".join(sys.argv[1:]))
    loss = ["# " + C.header_line(tool, VERSION, digest, "loss-table"),
            "# chip: %s  mix_mode: %s" % (args.chip, fp), "###"]
    for i, l in enumerate(sorted(layers, key=lambda l: C.unit(l[0], "sens"))):
        loss.append("No.%-4d: Layer: %-50s\t\tCos: %f" % (i, l[0], C.between(0.90, 0.9999, l[0], "cos")))
    C.write_text(args.loss_table, "\n".join(loss) + "\n")
    hdr = {"kind": "qtable", "tool": tool, "version": VERSION, "mlir": args.mlir_file,
           "model_name": meta["model_name"], "fp_type": fp}
    q = ["# " + C.header_line(tool, VERSION, digest, "quantize-table"),
         "# " + json.dumps(hdr, sort_keys=True),
         "# op_name   quantize_mode"]
    q += ["%s %s" % (name, fp) for name in chosen]
    text = "\n".join(q) + "\n"
    C.crash_halfway(tool, None, args.quantize_table, text)
    C.write_text(args.quantize_table, text)
    print("Output mix quantization table to %s" % args.quantize_table)
    print("total time:%d second" % int(time.time() - t0), flush=True)
    return 0


# ---------------------------------------------------------------------------
# model_deploy
# ---------------------------------------------------------------------------


def deploy_parser(prog):
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--mlir", required=True, help="top mlir from model_transform.py")
    p.add_argument("--chip", "--processor", required=True, type=str.lower, choices=CHIPS_DEPLOY,
                   help="chip platform name")
    p.add_argument("--quantize", default="F32", type=str.upper, choices=QUANTS,
                   help="set default qauntization type")
    p.add_argument("--model", required=True, help='output model')
    p.add_argument("--not_gen_bmodel", action="store_true", help="for qat intergation")
    p.add_argument("--calibration_table", help="calibration table for int8 quantization")
    p.add_argument("--quantize_table", help="table of OPs that quantized to specific mode")
    p.add_argument("--asymmetric", action='store_true', help="do INT8 asymmetric quantization")
    p.add_argument("--q_group_size", default=64, type=int,
                   help="group size for per-group quant, only used in W4A16 quant mode")
    p.add_argument("--quant_input", action="store_true",
                   help="strip input type cast in bmodel, need outside type conversion")
    p.add_argument("--quant_output", action="store_true",
                   help="strip output type cast in bmodel, need outside type conversion")
    p.add_argument("--quant_input_list", default="", type=str,
                   help="choose index to strip cast, such as 1,3 means first & third input`s cast")
    p.add_argument("--quant_output_list", default="", type=str,
                   help="choose index to strip cast, such as 1,3 means first & third output`s cast")
    p.add_argument("--ignore_f16_overflow", action='store_true',
                   help="some ops convert from f16 to f32, to avoid f16 overflow.")
    p.add_argument("--test_input", default="", type=str2list,
                   help="input npy/npz/image file for inference; image if fuse preprocess")
    p.add_argument("--test_reference", default="", help="reference npz file; if none, will run inner")
    p.add_argument("--compare_all", action="store_true", help="Decide if compare all tensors when lowering")
    p.add_argument("--tolerance", default='0.8,0.5', help="tolerance for compare")
    p.add_argument("--excepts", default='-', help="excepts tensors no compare")
    p.add_argument("--skip_validation", action='store_true', help='skip checking the correctness of bmodel.')
    p.add_argument("--cache_skip", action='store_true',
                   help='skip checking the correctness when generate same mlir and bmodel.')
    p.add_argument("--fazzy_match", action="store_true", help="do fazzy match bettwen target and ref data")
    p.add_argument("--fuse_preprocess", action='store_true',
                   help="add tpu preprocesses (mean/scale/channel_swap) in the front of model")
    p.add_argument("--customization_format", default='', type=str.upper, choices=CUSTOM_FORMATS,
                   help="pixel format of input frame to the model")
    p.add_argument("--aligned_input", action='store_true', help='if the input frame is width/channel aligned')
    p.add_argument("--num_device", default=1, type=int,
                   help="The number of devices to run for distributed computation.")
    p.add_argument("--num_core", default=1, type=int,
                   help="The number of TPU cores used for parallel computation.")
    p.add_argument("--group_by_cores", default="auto", type=str.lower, choices=['auto', 'true', 'false'],
                   help="whether layer groups force group by cores")
    p.add_argument("--dynamic", action='store_true', help="do compile dynamic")
    p.add_argument("--opt", default=2, type=int, choices=[1, 2], help="Optimization level")
    p.add_argument("--addr_mode", default="auto", type=str.lower,
                   choices=['auto', 'basic', 'io_alone', 'io_tag'],
                   help="set address assign mode, if not set, auto as default")
    p.add_argument("--debug", action='store_true', help='to keep all intermediate files for debug')
    p.add_argument("--disable_layer_group", action="store_true", help="Whether to enable layer group pass")
    p.add_argument("--op_divide", action="store_true", help="if do large global op divide.")
    p.add_argument("--merge_weight", action="store_true", default=False,
                   help="merge weights into one weight binary with previous generated cvimodel")
    p.add_argument("--model_version", default="latest",
                   help="if need old version cvimodel, set the verion, such as 1.2")
    p.add_argument("--do_winograd", action="store_true", default=False, help="do_winograd")
    p.add_argument("--includeWeight", action='store_true', help="include weight in tosa.mlir")
    p.add_argument("--compress_mode", default="none", type=str.lower,
                   choices=["none", "weight", "activation", "all"], help="set compress mode")
    p.add_argument("--io_alone", action="store_true", default=False,
                   help="DEPRECATED, please use --addr_mode io_alone")
    return p


def model_deploy_main(argv=None):
    return run_main(lambda: _model_deploy(argv), "model_deploy")


def _deploy_frame(line, func, code):
    return ("%s/tools/model_deploy.py" % PKG, line, func, code)


def _model_deploy(argv):
    import numpy as np
    prog = os.path.basename(sys.argv[0])
    tool = "model_deploy"
    args = parse_args_catching(deploy_parser(prog), argv)
    log("TPU-MLIR %s" % VERSION)
    q = args.quantize
    if args.io_alone:
        raise ToolError("RuntimeError: DEPRECATED, please use --addr_mode io_alone",
                        [_deploy_frame(540, "deprecated_option", "raise RuntimeError(msg)")])
    if args.customization_format.startswith("YUV"):
        args.aligned_input = True
    if not args.fuse_preprocess and args.customization_format:
        raise ToolError("AssertionError", [_deploy_frame(
            546, "<module>",
            'assert (0 and "Error! If not fuse_preprocess, customization_format shouldn\'t be set.")')])
    meta = read_mlir(args.mlir, "model_deploy.py")
    name = meta["model_name"]
    chip = args.chip
    cv18 = chip.startswith("cv18")
    prefix = "%s_%s_%s" % (name, chip, q.lower())
    if q in ("INT8", "INT4"):
        prefix += "_asym" if args.asymmetric else "_sym"
    tpu_mlir = prefix + "_tpu.mlir"
    final_mlir = prefix + "_final.mlir"
    tpu_npz = prefix + "_tpu_outputs.npz"
    model_npz = prefix + "_model_outputs.npz"
    in_npz = name + "_in_f32.npz"
    frames_prep = [_deploy_frame(555, "<module>", "tool = DeployTool(args)"),
                   _deploy_frame(120, "__init__", "self._prepare_input_npz()")]
    # validation inputs (DeployTool._prepare_input_npz)
    ref_npz = args.test_reference
    if args.test_input:
        if args.fuse_preprocess and not args.test_input[0].lower().endswith(('.jpg', '.jpeg', '.png')):
            raise ToolError("AssertionError", frames_prep + [_deploy_frame(
                180, "_prepare_input_npz", "assert (self.test_input[0].endswith(('.jpg', '.jpeg', '.png')))")])
        for t in args.test_input:
            if not os.path.exists(t):
                raise ToolError("FileNotFoundError: [Errno 2] No such file or directory: '%s'" % t,
                                frames_prep)
            if t.endswith(".npz"):
                ok, keys = npz_has_marker(t)
                missing = [n for n, _s in meta["inputs"] if n not in keys]
                if not ok or missing:
                    raise ToolError("KeyError: '%s is not a file in the archive'" % (
                        missing[0] if missing else meta["inputs"][0][0]), frames_prep)
            elif is_image_name(t):
                check_image(t, "model_deploy.py")
            elif not t.endswith(".npy"):
                raise ToolError("TypeError: Unsupport input type *%s" % str(os.path.splitext(t)), frames_prep)
        if ref_npz:
            if not os.path.exists(ref_npz):
                raise ToolError("FileNotFoundError: [Errno 2] No such file or directory: '%s'" % ref_npz,
                                frames_prep)
            ok, keys = npz_has_marker(ref_npz)
            if not ok:
                raise ToolError("RuntimeError: %s was not written by the toolchain double's "
                                "model_transform" % ref_npz, frames_prep)
    if args.aligned_input and not args.fuse_preprocess:
        raise ToolError("RuntimeError: Not support now, aligned_input requires fuse_preprocess to be set to True.",
                        frames_prep)
    if cv18 and not args.model.endswith(".cvimodel"):
        raise ToolError("RuntimeError: %s: the model of a %s must be a .cvimodel" % (args.model, chip),
                        [_deploy_frame(560, "<module>", "tpu_patterns = tool.build_model()")])
    if not cv18 and chip != "cpu" and not args.model.endswith(".bmodel"):
        raise ToolError("RuntimeError: %s: the model of a %s must be a .bmodel" % (args.model, chip),
                        [_deploy_frame(560, "<module>", "tpu_patterns = tool.build_model()")])
    # lowering
    digest = C.inputs_digest([args.mlir, args.calibration_table, args.quantize_table] + args.test_input,
                             " ".join(sys.argv[1:]))
    lower_cmd = ('tpuc-opt %s --processor-assign="chip=%s mode=%s num_device=%d num_core=%d addr_mode=%s" '
                 '%s--processor-top-optimize --convert-top-to-tpu="%sasymmetric=%s doWinograd=%s '
                 'ignore_f16_overflow=%s" --canonicalize --weight-fold -o %s') % (
        args.mlir, chip, q, args.num_device, args.num_core, args.addr_mode,
        ('--import-calibration-table="file=%s asymmetric=%s" ' % (args.calibration_table, args.asymmetric))
        if args.calibration_table else "",
        ('qtable=%s ' % args.quantize_table) if args.quantize_table else "",
        args.asymmetric, args.do_winograd, args.ignore_f16_overflow, tpu_mlir)
    C.install_term_handling(tool, q)
    running(lower_cmd)
    C.maybe_hang(tool, q)
    err = None
    if cv18 and q not in ("BF16", "INT8", "F16", "F32"):
        err = "%s does not support %s quantization (cv18xx: BF16 and symmetric INT8)" % (chip, q)
    elif cv18 and q == "INT8" and args.asymmetric:
        err = "%s only supports symmetric INT8 (cv18xx: BF16 and symmetric INT8)" % chip
    elif chip == "bm1684" and q in ("F16", "BF16"):
        err = "bm1684 does not support %s" % q
    elif q in ("INT8", "INT4") and meta["state"] == "TOP_F32" and not args.calibration_table:
        err = "%s quantization needs a calibration table (--calibration_table)" % q
    if not err and args.calibration_table:
        if not os.path.exists(args.calibration_table):
            err = "can't open calibration table %s" % args.calibration_table
        else:
            head, cm = C.read_marker(args.calibration_table)
            if not head or not isinstance(cm, dict) or cm.get("kind") != "cali-table":
                err = "%s is not a calibration table written by the toolchain double" % args.calibration_table
    if not err and args.quantize_table:
        if not os.path.exists(args.quantize_table):
            err = "can't open quantize table %s" % args.quantize_table
        else:
            head, qm = C.read_marker(args.quantize_table)
            if not head or not isinstance(qm, dict) or qm.get("kind") != "qtable":
                err = "%s is not a quantize table written by the toolchain double" % args.quantize_table
    if not err and C.env_matches("KILN_DOUBLE_FAIL_STEP", tool, q):
        err = "'tpu.Conv2D' op lowering failed (KILN_DOUBLE_FAIL_STEP)"
    if err:
        sys.stderr.write("%s:1:1: error: %s\n" % (args.mlir, err))
        _os_system_fail("model_deploy.py", lower_cmd)
    C.write_text(tpu_mlir, "// " + C.header_line(tool, VERSION, digest, "tpu-mlir") + "\n"
                 + "// " + json.dumps({"kind": "tpu-mlir", "chip": chip, "quantize": q}) + "\n")
    success(lower_cmd)
    out_meta = meta["outputs"]
    if args.test_input:
        if args.fuse_preprocess and is_image_name(args.test_input[0]):
            in_npz = name + "_in_ori.npz"
            save_npz(in_npz, {n + "_raw": np.zeros((1,), np.uint8) for n, _s in meta["inputs"]}, digest)
        elif not args.test_input[0].endswith(".npz"):
            save_npz(in_npz, {n: np.zeros(shape_or_one(s), np.float32) for n, s in meta["inputs"]}, digest)
        else:
            in_npz = args.test_input[0]
        if not ref_npz:
            ref_npz = name + "_top_outputs.npz"
            print("[CMD]: model_runner.py --input %s --model %s --output %s" % (in_npz, args.mlir, ref_npz))
            save_npz(ref_npz, {compare_name(n, op): np.zeros(tuple(sh), np.float32)
                               for n, op, sh in out_meta}, digest)
        print("[CMD]: model_runner.py --input %s --model %s --output %s" % (in_npz, tpu_mlir, tpu_npz))
        save_npz(tpu_npz, {compare_name(n, op): np.zeros(tuple(sh), np.float32)
                           for n, op, sh in out_meta}, digest)
        rows = []
        ranges = {"F32": (0.999995, 0.999999, 0.9995, 0.9999, 60, 80),
                  "F16": (0.99990, 0.99999, 0.985, 0.995, 35, 45),
                  "BF16": (0.9990, 0.9998, 0.95, 0.98, 25, 35)}
        base = ranges.get(q, (0.975, 0.995, 0.78, 0.90, 12, 20))
        if args.quantize_table:
            base = (0.990, 0.998, 0.86, 0.94, 18, 26)
        for n, op, sh in out_meta:
            cn = compare_name(n, op)
            if C.low_cosine_for(tool, n, q):
                rows.append((cn, sh, "SIMILAR", C.between(0.55, 0.75, cn, q, "low"),
                             C.between(-0.7, 0.3, cn, q, "lowe"), C.between(-17, 2, cn, q, "lows")))
            else:
                rows.append((cn, sh, "SIMILAR", C.between(base[0], base[1], cn, q),
                             C.between(base[2], base[3], cn, q, "e"), C.between(base[4], base[5], cn, q, "s")))
        print_compare(tpu_npz, ref_npz, args.tolerance, args.excepts, rows, "model_deploy.py")
    final_cmd = ('tpuc-opt %s --mlir-disable-threading --strip-io-quant="quant_input=%s quant_output=%s '
                 'quant_input_list=%s quant_output_list=%s" --processor-tpu-optimize --layer-group="opt=%d" '
                 '--address-assign -o %s') % (tpu_mlir, args.quant_input, args.quant_output,
                                               args.quant_input_list, args.quant_output_list, args.opt, final_mlir)
    running(final_cmd)
    C.write_text(final_mlir, "// " + C.header_line(tool, VERSION, digest, "final-mlir") + "\n"
                 + "// " + json.dumps({"kind": "final-mlir", "chip": chip, "quantize": q}) + "\n")
    success(final_cmd)
    translate = "tpuc-translate %s --mlir-to-%s --%s %s" % (
        final_mlir, "cvimodel" if cv18 else "bmodel", "cvimodel" if cv18 else "bmodel", args.model)
    running(translate)
    model_meta = {"kind": "cvimodel" if cv18 else "bmodel", "tool": tool, "version": VERSION,
                  "model_name": name, "chip": chip, "quantize": q, "asymmetric": args.asymmetric,
                  "quant_input": args.quant_input, "quant_output": args.quant_output,
                  "fuse_preprocess": args.fuse_preprocess,
                  "customization_format": args.customization_format,
                  "aligned_input": args.aligned_input,
                  "calibration_table": args.calibration_table, "quantize_table": args.quantize_table,
                  "inputs": meta["inputs"], "outputs": out_meta, "preprocess": meta["preprocess"],
                  "layers": len(meta["layers"])}
    blob = C.model_blob(tool, VERSION, digest, model_meta["kind"], model_meta)
    C.crash_halfway(tool, q, args.model, blob)
    d = os.path.dirname(args.model)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(args.model, "wb") as f:
        f.write(blob)
    success(translate)
    if args.test_input and not args.skip_validation:
        print("[CMD]: model_runner.py --input %s --model %s --output %s" % (in_npz, args.model, model_npz))
        save_npz(model_npz, {compare_name(n, op): np.zeros(tuple(sh), np.float32)
                             for n, op, sh in out_meta}, digest)
        correctness = "0.99,0.85" if args.quantize_table else "0.99,0.90"
        print_compare(model_npz, tpu_npz, correctness, args.excepts,
                      [(compare_name(n, op), sh, "EQUAL", 1, 1, 0) for n, op, sh in out_meta],
                      "model_deploy.py")
    if not args.debug:
        for p in (tpu_mlir, tpu_npz, model_npz):
            if os.path.exists(p):
                os.remove(p)
    return 0


# ---------------------------------------------------------------------------
# model_tool
# ---------------------------------------------------------------------------

MODEL_TOOL_USAGE = """Usage:
  model_tool [--info|--print|--chip|--extract|--weight|--update_weight|--encrypt|--decrypt] file
  --info model_file : show brief model info
  --print model_file : show detailed model info
  --chip model_file : show chip of model
  --extract model_file : extract one multi-net bmodel to multi one-net bmodels
  --weight model_file : show the weight info of model
"""


def model_tool_main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("--info", "--print", "--chip", "--weight"):
        sys.stdout.write(MODEL_TOOL_USAGE)
        return 1  # status (unverified): the C++ tool's usage path
    opt, path = argv
    if not os.path.exists(path):
        sys.stderr.write("Error: open file %s failed\n" % path)
        return 1
    head, meta = C.read_marker(path)
    if not head or not isinstance(meta, dict) or meta.get("kind") not in ("cvimodel", "bmodel"):
        sys.stderr.write("Error: %s is not a model written by the toolchain double\n" % path)
        return 1
    if opt == "--chip":
        print(meta["chip"])
        return 0
    print("%s (simulated by the Kiln toolchain double)" % C.MARKER)
    print("Cvimodel Info:" if meta["kind"] == "cvimodel" else "bmodel info:")
    print("    Version: 1.4.0")
    print("    %s Build at %s" % (meta["model_name"], C.now().strftime("%Y-%m-%d %H:%M:%S")))
    print("    For %s chip ONLY" % meta["chip"])
    print("    CviModel Need ION Memory Size: (%.2f MB)" % C.between(3, 12, meta["model_name"], "ion"))
    print()
    print("Sections:")
    print("ID   TYPE      NAME                     SIZE        OFFSET      ENCRYPT MD5")
    print("000  weight    weight                   %-11d 0           False   %s" % (
        int(C.between(1e6, 8e6, meta["model_name"], "w")), head.split("inputs-sha256=")[1][:32]))
    print("001  cmdbuf    subfunc_0                %-11d %-11d False   %s" % (
        int(C.between(1e5, 9e5, meta["model_name"], "c")), 0, head.split("inputs-sha256=")[1][32:64]))
    print()
    print("WeightMap:")
    print("ID  OFFSET      SIZE        TYPE  N   C    H    W    NAME")
    print("000 0           %-11d int8  1   %-4d 1    1    simulated_weight" % (
        int(C.between(1e3, 1e5, meta["model_name"], "wm")), 32))
    print()
    print("Program #0")
    print("    batch_num   : 1")
    print("    private_gmem_size: %d" % int(C.between(1e5, 4e6, meta["model_name"], "g")))
    print("    shared_gmem_size: %d" % int(C.between(1e5, 4e6, meta["model_name"], "s")))
    ins = ["%s%s" % (n, "_quant" if meta.get("quant_input") else "") for n, _s in meta["inputs"]]
    outs = [compare_name(n, op) + "_f32" for n, op, _sh in meta["outputs"]]
    print("    inputs      : %s" % ",".join(ins))
    print("    outputs     : %s" % ",".join(outs))
    print()
    print("    Routine #0")
    print("        type    : tpu")
    print("        inputs  : %s" % ",".join(ins))
    print("        outputs : %s" % ",".join(outs))
    print("        section : subfunc_0")
    print()
    print("    TensorMap:")
    print("        ID  OFFSET      TYPE  N   C    H    W    QSCALE     MEM     NAME")
    i = 0
    for (n, s), nm in zip(meta["inputs"], ins):
        s = list(s) + [1] * (4 - len(s))
        print("        %03d %-11d %-5s %-3s %-4s %-4s %-4s %-10s %-7s %s" % (
            i, 0, "int8" if meta.get("quant_input") else "fp32", s[0], s[1], s[2], s[3],
            "%.6f" % C.between(0.5, 2, nm) if meta.get("quant_input") else "-", "io_mem", nm))
        i += 1
    for (_n, _op, sh), nm in zip(meta["outputs"], outs):
        sh = list(sh) + [1] * (4 - len(sh))
        print("        %03d %-11d %-5s %-3s %-4s %-4s %-4s %-10s %-7s %s" % (
            i, 0, "fp32", sh[0], sh[1], sh[2], sh[3], "-", "io_mem", nm))
        i += 1
    return 0
