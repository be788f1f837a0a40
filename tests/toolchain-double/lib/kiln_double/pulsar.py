"""Double of the legacy AXERA `pulsar` (axera/neuwizard 0.6.1.20, image
sipeed/pulsar) used for the Maix-III AXera-Pi (AX620A, seed 003).

Sources (looked up with the project's search tool):
  - github AXERA-TECH/pulsar-docs-en source/user_guides_quick/quick_start.rst:
    `pulsar --help` (argparse: "usage: pulsar [-h]
    {debug,build,version,info,run,view} ..."), the prototxt config, the
    `pulsar build` and `pulsar run` commands, the log line shapes
    "[09 06:46:16 frozen super_pulsar....:229] ..." and the score table
    "Layer: <out>  2-norm RE: 4.70%  cosine-sim: 0.9989", the gt/ tree.
  - shared/reference/axera-axelera.md section B: --target_hardware
    {AX630,AX620,AX170}, --virtual_npu, --input_tensor_color,
    --output_tensor_layout (advanced_guides.rst).
Unverified: the exact option set of `pulsar run` beyond the documented
command, and the error texts (the double prints an ERROR log line and a
Python traceback, status 1).
"""
import argparse
import json
import os
import re
import sys

from . import common as C

VERSION = "0.6.1.20"

TOP_FIELDS = {"input_type", "output_type", "target_hardware", "input_path", "output_path",
              "cpu_backend_settings", "src_input_tensors", "dst_input_tensors",
              "src_output_tensors", "dst_output_tensors", "neuwizard_conf", "pulsar_conf",
              "onnx_opt", "model_type"}
VNPU = {"AX620_VIRTUAL_NPU_MODE_0", "AX620_VIRTUAL_NPU_MODE_111", "AX620_VIRTUAL_NPU_MODE_112",
        "AX620_VIRTUAL_NPU_MODE_DISABLED"}
HW = {"TARGET_HARDWARE_AX630", "TARGET_HARDWARE_AX620", "TARGET_HARDWARE_AX170"}


class PulsarError(Exception):
    pass


def plog(where, msg, out=None):
    out = out or sys.stdout
    out.write("[%s frozen super_pulsar.%s] %s\n" % (C.now().strftime("%d %H:%M:%S"), where, msg))
    out.flush()


# --- protobuf text format (the subset the configs use) ----------------------

_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|("(?:[^"\\]|\\.)*")|([{}\[\]:,])|([^\s{}\[\]:,#"]+))', re.S)


def _tokens(text):
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise PulsarError("%d: unexpected character %r" % (line, text[pos]))
        line += text.count("\n", pos, m.end())
        pos = m.end()
        if m.group(1):
            continue
        tok = m.group(2) or m.group(3) or m.group(4)
        if tok:
            yield tok, line


def parse_prototxt(text):
    toks = list(_tokens(text))
    i = 0

    def value(tok):
        if tok.startswith('"'):
            return json.loads(tok)
        try:
            return int(tok)
        except ValueError:
            pass
        try:
            return float(tok)
        except ValueError:
            return tok

    def message(end):
        nonlocal i
        out = {}
        while i < len(toks):
            tok, line = toks[i]
            if tok == "}":
                if end:
                    i += 1
                    return out
                raise PulsarError("%d:1 : Expected identifier, got: }" % line)
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", tok):
                raise PulsarError("%d:1 : Expected identifier, got: %s" % (line, tok))
            name = tok
            i += 1
            if i < len(toks) and toks[i][0] == ":":
                i += 1
            if i >= len(toks):
                raise PulsarError("%d:1 : Expected value for field %s" % (line, name))
            tok, line = toks[i]
            if tok == "{":
                i += 1
                v = message(True)
            elif tok == "[":
                i += 1
                v = []
                while i < len(toks) and toks[i][0] != "]":
                    if toks[i][0] != ",":
                        v.append(value(toks[i][0]))
                    i += 1
                i += 1
            else:
                v = value(tok)
                i += 1
            out.setdefault(name, []).append(v)
        if end:
            raise PulsarError("unexpected end of file: missing }")
        return out

    return message(False)


def first(d, *path):
    cur = d
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p][0]
    return cur


def dump_prototxt(d, indent=0):
    lines = []
    pad = "  " * indent
    for k, vs in d.items():
        for v in vs:
            if isinstance(v, dict):
                lines.append("%s%s {" % (pad, k))
                lines.append(dump_prototxt(v, indent + 1))
                lines.append("%s}" % pad)
            elif isinstance(v, list):
                lines.append("%s%s: [%s]" % (pad, k, ", ".join(str(x) for x in v)))
            elif isinstance(v, str) and not re.match(r"^[A-Z0-9_]+$", v):
                lines.append("%s%s: %s" % (pad, k, json.dumps(v)))
            else:
                lines.append("%s%s: %s" % (pad, k, str(v).lower() if isinstance(v, bool) else v))
    return "\n".join(x for x in lines if x != "")


# --- command line -------------------------------------------------------------


def parser():
    top = argparse.ArgumentParser(prog="pulsar")
    sub = top.add_subparsers(dest="command")
    sub.required = True
    sub.add_parser("debug", help="score compare debug tool")
    b = sub.add_parser("build", help="from onnx to joint")
    b.add_argument("--input", nargs="+", help="input model file(s)")
    b.add_argument("--output", help="output joint file")
    b.add_argument("--config", nargs="+", help="config prototxt file(s)")
    b.add_argument("--output_config", help="write the merged config here")
    b.add_argument("--target_hardware", choices=["AX630", "AX620", "AX170"])
    b.add_argument("--virtual_npu", choices=["0", "111", "112", "221", "222", "311", "312"])
    b.add_argument("--input_tensor_color", choices=["rgb", "bgr", "gray", "nv12", "nv21"])
    b.add_argument("--output_tensor_layout", choices=["nchw", "nhwc"])
    b.add_argument("--batch_size", type=int)
    sub.add_parser("version", help="version info")
    sub.add_parser("info", help="brief model").add_argument("model")
    r = sub.add_parser("run", help="simulate models")
    r.add_argument("model", nargs="+", help="onnx and/or joint models to run and compare")
    r.add_argument("--input", nargs="+", required=True, help="input image(s)")
    r.add_argument("--config", required=True, help="output config of pulsar build")
    r.add_argument("--output_gt", help="directory for the ground-truth dumps")
    r.add_argument("--batch_size", type=int, default=1)
    sub.add_parser("view", help="neuglass to visualize mermaids")
    return top


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    try:
        if args.command == "version":
            print(VERSION)
            print("kiln-double (simulated)")
            return 0
        if args.command == "build":
            return build(args)
        if args.command == "run":
            return run(args)
        sys.stderr.write("pulsar %s: not simulated by the toolchain double\n" % args.command)
        return 1
    except PulsarError as e:
        plog("func_wrappers.wrapper_pulsar_%s:99" % args.command, "ERROR %s" % e, sys.stderr)
        sys.stderr.write("Traceback (most recent call last):\n  File \"<frozen super_pulsar.func_wrappers."
                         "wrapper_pulsar_%s>\", line 99, in %s\nsuper_pulsar.errors.PulsarError: %s\n"
                         % (args.command, args.command, e))
        return 1


def _load_config(path):
    if not os.path.exists(path):
        raise PulsarError("config file %s does not exist" % path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return parse_prototxt(text)
    except PulsarError as e:
        raise PulsarError("google.protobuf.text_format.ParseError: %s" % e)


def build(args):
    tool = "pulsar"
    if not args.input or not args.output or not args.config:
        raise PulsarError("pulsar build needs --input, --output and --config")
    cfg = {}
    for c in args.config:
        for k, v in _load_config(c).items():
            cfg.setdefault(k, []).extend(v)
    for k in cfg:
        if k not in TOP_FIELDS:
            raise PulsarError('google.protobuf.text_format.ParseError: 1:1 : Message type '
                              '"super_pulsar.proto.Config" has no field named "%s".' % k)
    it = first(cfg, "input_type")
    if it not in (None, "INPUT_TYPE_ONNX"):
        raise PulsarError("input_type %s is not supported by the toolchain double (INPUT_TYPE_ONNX)" % it)
    ot = first(cfg, "output_type")
    if ot not in (None, "OUTPUT_TYPE_JOINT"):
        raise PulsarError("output_type must be OUTPUT_TYPE_JOINT, got %s" % ot)
    hw = "TARGET_HARDWARE_" + args.target_hardware if args.target_hardware else first(cfg, "target_hardware")
    if hw is None:
        raise PulsarError("target_hardware is not set (config target_hardware or --target_hardware)")
    if hw not in HW:
        raise PulsarError("unknown target_hardware %s" % hw)
    vnpu = first(cfg, "pulsar_conf", "ax620_virtual_npu")
    if args.virtual_npu:
        vnpu = "AX620_VIRTUAL_NPU_MODE_" + args.virtual_npu
    if vnpu is not None and vnpu not in VNPU:
        raise PulsarError("unknown ax620_virtual_npu %s" % vnpu)
    cal = first(cfg, "neuwizard_conf", "dataset_conf_calibration")
    if not isinstance(cal, dict) or first(cal, "path") is None:
        raise PulsarError("neuwizard_conf.dataset_conf_calibration.path is required")
    ds = first(cal, "path")
    dtype = first(cal, "type") or "DATASET_TYPE_TAR"
    if dtype != "DATASET_TYPE_TAR":
        raise PulsarError("the toolchain double reads DATASET_TYPE_TAR calibration sets only, got %s" % dtype)
    if not os.path.exists(ds):
        raise PulsarError("calibration dataset %s does not exist" % ds)
    try:
        images = C.archive_images(ds)
    except (ValueError, OSError) as e:
        raise PulsarError("failed to read calibration dataset %s: %s" % (ds, e))
    if not images:
        raise PulsarError("calibration dataset %s holds no image" % ds)
    model_path = args.input[0]
    if not os.path.exists(model_path):
        raise PulsarError("input model %s does not exist" % model_path)
    try:
        model = C.load_onnx(model_path)
    except Exception as e:
        raise PulsarError("failed to load onnx %s: %s" % (model_path, type(e).__name__))
    inputs, outputs, _producers, _shapes = C.onnx_io(model)
    C.install_term_handling(tool, "build")
    plog("proto.configuration_super_pulsar_manip:229",
         "set task task_0's pulsar_conf.output_dir as %s" % os.path.abspath(os.path.dirname(args.output) or "."))
    plog("func_wrappers.wrapper_pulsar_build:28", "planning task task_0")
    plog("func_wrappers.wrapper_pulsar_build:334",
         "#################################### Running task task_0 ####################################")
    plog("toolchain_wrappers.wrapper_neuwizard:31",
         "python3 /root/python_modules/super_pulsar/super_pulsar/toolchain_wrappers/wrapper_neuwizard.py "
         "--config /tmp/tmpkilndouble.prototxt")
    plog("toolchain_wrappers.wrapper_neuwizard:37",
         'DBG [neuwizard] ONNX Model Version %d for "%s"' % (model.ir_version, os.path.abspath(model_path)))
    size = int(first(cal, "size") or len(images))
    plog("toolchain_wrappers.wrapper_neuwizard:37",
         "DBG [neuwizard] calibration with %d image(s) from %s" % (min(size, len(images)), ds))
    C.maybe_hang(tool, "build")
    if C.env_matches("KILN_DOUBLE_FAIL_STEP", tool, "build"):
        raise PulsarError("neuwizard killed by SIGKILL (KILN_DOUBLE_FAIL_STEP)")
    digest = C.inputs_digest([model_path] + list(args.config) + [ds], " ".join(sys.argv[1:]))
    meta = {"kind": "joint", "tool": tool, "version": VERSION, "target_hardware": hw,
            "ax620_virtual_npu": vnpu, "inputs": inputs, "outputs": outputs,
            "onnx_sha256": C.sha256_file(model_path)}
    blob = C.model_blob(tool, VERSION, digest, "joint", meta)
    C.crash_halfway(tool, "build", args.output, blob)
    d = os.path.dirname(args.output)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(args.output, "wb") as f:
        f.write(blob)
    if args.output_config:
        out = dict(cfg)
        out["target_hardware"] = [hw]
        out["input_path"] = [model_path]
        out["output_path"] = [args.output]
        text = "# %s\n# %s\n%s\n" % (C.header_line(tool, VERSION, digest, "output_config"),
                                     json.dumps({"kind": "pulsar-output-config", "joint": args.output,
                                                 "onnx": model_path}), dump_prototxt(out))
        C.write_text(args.output_config, text)
    plog("toolchain_wrappers.wrapper_toolchain:482", "File saved: %s" % os.path.abspath(args.output))
    plog("toolchain_wrappers.wrapper_toolchain:489", "DBG cleared /root/tmpkilndouble")
    return 0


def run(args):
    import numpy as np
    tool = "pulsar"
    onnx_path = next((m for m in args.model if m.endswith(".onnx")), None)
    joint_path = next((m for m in args.model if m.endswith(".joint")), None)
    for m in args.model:
        if not os.path.exists(m):
            raise PulsarError("model %s does not exist" % m)
        if not m.endswith((".onnx", ".joint")):
            raise PulsarError("unsupported model %s (.onnx or .joint)" % m)
    if joint_path:
        head, jm = C.read_marker(joint_path)
        if not head or not isinstance(jm, dict) or jm.get("kind") != "joint":
            raise PulsarError("%s is not a joint model written by the toolchain double" % joint_path)
    else:
        jm = None
    model = None
    if onnx_path:
        try:
            model = C.load_onnx(onnx_path)
        except Exception as e:
            raise PulsarError("failed to load onnx %s: %s" % (onnx_path, type(e).__name__))
    if not os.path.exists(args.config):
        raise PulsarError("config file %s does not exist" % args.config)
    _load_config(args.config)
    for img in args.input:
        if not os.path.exists(img):
            raise PulsarError("input %s does not exist" % img)
        if not C.file_image_kind(img):
            raise PulsarError("input %s is not an image (jpg / png)" % img)
    if model is not None:
        inputs, outputs, _p, shapes = C.onnx_io(model)
    else:
        inputs, outputs, shapes = jm["inputs"], jm["outputs"], {}
    C.install_term_handling(tool, "run")
    C.maybe_hang(tool, "run")
    if C.env_matches("KILN_DOUBLE_FAIL_STEP", tool, "run"):
        raise PulsarError("simulation of %s failed (KILN_DOUBLE_FAIL_STEP)" % (joint_path or onnx_path))
    gt = args.output_gt
    digest = C.inputs_digest(list(args.model) + list(args.input), " ".join(sys.argv[1:]))
    if gt:
        for sub in ("input", "joint", "onnx"):
            os.makedirs(os.path.join(gt, sub), exist_ok=True)
        for n, s in inputs:
            safe = n.replace("/", "_")
            shp = [d if isinstance(d, int) and d > 0 else 1 for d in (s or [1])]
            arr = np.zeros(shp, np.uint8)
            np.save(os.path.join(gt, "input", safe + ".npy"), arr)
            arr.tofile(os.path.join(gt, "input", safe + ".bin"))
        C.write_text(os.path.join(gt, "input", "filename.txt"), "\n".join(args.input) + "\n")
    plog("func_wrappers.wrapper_pulsar_run:138", "=========================")
    for n, s in outputs:
        safe = n.replace("/", "_")
        shp = [d if isinstance(d, int) and d > 0 else 1 for d in (s or [1])]
        if gt:
            for sub in ("joint", "onnx"):
                arr = np.full(shp, C.between(0, 1, n, sub), np.float32)
                np.save(os.path.join(gt, sub, safe + ".npy"), arr)
                arr.tofile(os.path.join(gt, sub, safe + ".bin"))
            plog("func_wrappers.pulsar_run.utils:70", "dumpped '%s' to '%s'." % (
                n, os.path.join(gt, "joint", safe + ".bin")))
    if gt:
        C.write_text(os.path.join(gt, "KILN-TOOLCHAIN-DOUBLE.txt"),
                     C.header_line(tool, VERSION, digest, "pulsar-run-gt") + "\n")
    if onnx_path and joint_path:
        plog("func_wrappers.pulsar_run.compare:97", "###### Comparing %s (with conf) and %s ######" % (
            os.path.basename(onnx_path), os.path.basename(joint_path)))
        plog("func_wrappers.pulsar_run.compare:82", "Score compare table:")
        rows = []
        for n, _s in outputs:
            if C.low_cosine_for(tool, n, "run"):
                cos, re_ = C.between(0.80, 0.88, n, "low"), C.between(45, 70, n, "lowre")
            else:
                cos, re_ = C.between(0.9850, 0.9995, n, "cos"), C.between(2.5, 17.5, n, "re")
            rows.append(("Layer: %s" % n, "2-norm RE: %.2f%%" % re_, "cosine-sim: %.4f" % cos))
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        print("  ".join("-" * x for x in w))
        for r in rows:
            print("  ".join(r[i].ljust(w[i]) for i in range(3)).rstrip())
        sys.stdout.flush()
    return 0
