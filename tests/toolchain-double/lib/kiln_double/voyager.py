"""Double of the Axelera Voyager SDK compiler entries (Metis, seed 004):
`deploy.py <network>` and `axcompile -i model.onnx -o out/`.

Sources (looked up with the project's search tool):
  - seed 004 (docs/reference/pipeline/model-formats.md): the build tree
    build/<network>/<model>/1/{model.json, model.axmodel, manifest.json}
    and the model.json shape (name, model, preprocessing, postprocessing).
  - github axelera-ai-hub/voyager-sdk docs/reference/deploy.md: deploy.py
    options --build-root --data-root --model --models-only --pipeline-only
    --mode {QUANTIZE,QUANTCOMPILE,PREQUANTIZED} --pipe {gst,torch,torch-aipu}
    --export --aipu-cores --num-cal-images; model_info.json.
  - the same repo, docs/reference/compiler_cli.md: axcompile options and
    its artifact tree (cli_args.json, conf.json, input_model/,
    quantized_model/, compiled_model/{manifest.json, model.json, ...},
    compilation_report.json with status SUCCEEDED, compilation_log.txt).
  - shared/reference/axera-axelera.md C: the network YAML keys and the
    manifest fields (v1.2.5).
Unverified: deploy.py's log lines and error texts; the double prints
"INFO    :"/"ERROR   :" lines and exits 1 on a deployment error, 2 on a
command-line error (argparse). The `1/` directory of the seed is used as
the default for --aipu-cores (deploy.md says all 4 cores by default).
"""
import argparse
import glob
import json
import os
import shutil
import sys

from . import common as C

VERSION = "1.2.5-kiln-double"


class DeployError(Exception):
    pass


def say(level, msg, out=None):
    out = out or sys.stdout
    out.write("%-8s: %s\n" % (level, msg))
    out.flush()


def deploy_parser():
    p = argparse.ArgumentParser(prog=os.path.basename(sys.argv[0]) or "deploy.py",
                                description="Deploy a network for the Metis AIPU",
                                epilog=C.MARKER + " (simulated by the Kiln toolchain double)")
    p.add_argument("network", help="network name or path to the network YAML")
    p.add_argument("--build-root", default="build", help="build directory (default: build)")
    p.add_argument("--data-root", default="data", help="dataset directory (default: data)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--model", help="compile only this model of the network")
    g.add_argument("--models-only", action="store_true", help="compile all models, do not deploy the pipeline")
    g.add_argument("--pipeline-only", action="store_true", help="deploy the pipeline only")
    p.add_argument("--mode", type=str.upper, default="PREQUANTIZED",
                   choices=["QUANTIZE", "QUANTCOMPILE", "PREQUANTIZED"])
    p.add_argument("--pipe", type=str.lower, default="gst", choices=["gst", "torch", "torch-aipu"])
    p.add_argument("--export", action="store_true", help="zip the deployed model into exported/")
    p.add_argument("--aipu-cores", type=int, choices=[1, 2, 3, 4], default=None,
                   help="number of AIPU cores the network may use")
    p.add_argument("--num-cal-images", type=int, default=200, help="calibration images (default 200)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def resolve_network(p, network):
    if network.endswith((".yaml", ".yml")):
        if not os.path.exists(network):
            p.error("argument network: Invalid network '%s': file not found" % network)
        return network
    hits = sorted(glob.glob(os.path.join("ax_models", "**", network + ".yaml"), recursive=True))
    if not hits:
        p.error("argument network: Invalid network '%s', no close match found" % network)
    return hits[0]


def _find(path, *bases):
    if os.path.isabs(path):
        return path if os.path.exists(path) else None
    for b in bases:
        cand = os.path.join(b, path)
        if os.path.exists(cand):
            return cand
    return None


def load_network(yaml_path, data_root):
    import yaml
    with open(yaml_path, encoding="utf-8") as f:
        try:
            net = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise DeployError("%s: invalid YAML: %s" % (yaml_path, e))
    if not isinstance(net, dict):
        raise DeployError("%s: not a network YAML" % yaml_path)
    for k in ("axelera-model-format", "name", "models"):
        if k not in net:
            raise DeployError("%s: missing required key '%s'" % (yaml_path, k))
    if not isinstance(net["models"], dict) or not net["models"]:
        raise DeployError("%s: 'models' must name at least one model" % yaml_path)
    datasets = net.get("datasets") or {}
    ydir = os.path.dirname(yaml_path)
    models = {}
    for mname, m in net["models"].items():
        if not isinstance(m, dict):
            raise DeployError("models.%s must be a mapping" % mname)
        for k in ("class", "weight_path", "task_category", "input_tensor_layout", "input_tensor_shape",
                  "input_color_format", "dataset"):
            if k not in m:
                raise DeployError("models.%s: missing required key '%s'" % (mname, k))
        if m["input_tensor_layout"] not in ("NCHW", "NHWC"):
            raise DeployError("models.%s.input_tensor_layout must be NCHW or NHWC" % mname)
        if m["input_color_format"] not in ("RGB", "BGR", "GRAY"):
            raise DeployError("models.%s.input_color_format must be RGB, BGR or GRAY" % mname)
        shape = m["input_tensor_shape"]
        if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape)):
            raise DeployError("models.%s.input_tensor_shape must be [N, C, H, W]" % mname)
        wp = _find(str(m["weight_path"]), ".", ydir)
        if not wp:
            raise DeployError("models.%s: weight_path %s not found" % (mname, m["weight_path"]))
        try:
            onnx_model = C.load_onnx(wp)
        except Exception as e:
            raise DeployError("models.%s: %s is not a loadable ONNX model (%s)" % (mname, wp, type(e).__name__))
        ds_name = m["dataset"]
        ds = datasets.get(ds_name)
        if not isinstance(ds, dict):
            raise DeployError("models.%s: dataset '%s' is not defined under datasets" % (mname, ds_name))
        rp = ds.get("repr_imgs_dir_path")
        if not rp:
            raise DeployError("datasets.%s: repr_imgs_dir_path is required for calibration" % ds_name)
        rdir = _find(str(rp), data_root, ".", ydir)
        if not rdir or not os.path.isdir(rdir):
            raise DeployError("datasets.%s: repr_imgs_dir_path %s not found" % (ds_name, rp))
        imgs = sorted(os.path.join(r, f) for r, _d, fs in os.walk(rdir) for f in fs
                      if C.file_image_kind(os.path.join(r, f)))
        if not imgs:
            raise DeployError("datasets.%s: no images in %s" % (ds_name, rdir))
        models[mname] = (m, wp, onnx_model, imgs)
    return net, models


def deploy_main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = deploy_parser()
    args = p.parse_args(argv)
    yaml_path = resolve_network(p, args.network)
    try:
        return _deploy(args, yaml_path)
    except DeployError as e:
        say("ERROR", str(e), sys.stderr)
        return 1


def _preprocessing(m):
    steps = []
    for st in m.get("preprocess") or []:
        if isinstance(st, dict):
            for k, v in st.items():
                d = {"type": k}
                if isinstance(v, dict):
                    d.update(v)
                steps.append(d)
    if not steps:
        _n, _c, h, w = m["input_tensor_shape"]
        steps = [{"type": "resize", "width": w, "height": h, "letterbox": True},
                 {"type": "normalize", "mean": [0, 0, 0], "std": [1, 1, 1]}]
    return steps


def _postprocessing(m):
    steps = []
    for st in m.get("postprocess") or []:
        if isinstance(st, dict):
            for k, v in st.items():
                d = {"type": k}
                if isinstance(v, dict):
                    d.update(v)
                steps.append(d)
    if steps:
        return steps
    if m["task_category"] == "ObjectDetection":
        return [{"type": "decode_yolov5", "classes": int(m.get("num_classes", 80)),
                 "confidence_threshold": 0.25}, {"type": "nms", "iou_threshold": 0.45}]
    if m["task_category"] == "Classification":
        return [{"type": "topk", "k": 1}]
    return []


def _deploy(args, yaml_path):
    tool = "deploy.py"
    net, models = load_network(yaml_path, args.data_root)
    net_name = str(net["name"])
    if args.model and args.model not in models:
        raise DeployError("model '%s' is not part of network %s (models: %s)"
                          % (args.model, net_name, ", ".join(models)))
    if args.aipu_cores and len(models) > 1:
        raise DeployError("--aipu-cores can only be used with a network of a single model")
    cores = str(args.aipu_cores or 1)
    C.install_term_handling(tool, net_name)
    say("INFO", "Deploying network %s (%s) with %s, pipe=%s" % (net_name, yaml_path, args.mode, args.pipe))
    todo = [args.model] if args.model else list(models)
    for mname in todo:
        m, wp, onnx_model, imgs = models[mname]
        n_cal = min(args.num_cal_images, len(imgs))
        out_dir = os.path.join(args.build_root, net_name, mname, cores)
        if args.pipeline_only:
            if not os.path.exists(os.path.join(out_dir, "model.axmodel")):
                raise DeployError("--pipeline-only: %s has not been compiled (%s missing)"
                                  % (mname, os.path.join(out_dir, "model.axmodel")))
            continue
        digest = C.inputs_digest([yaml_path, wp] + imgs[:n_cal], " ".join(sys.argv[1:]))
        inputs, outputs, _p, _s = C.onnx_io(onnx_model)
        say("INFO", "Compiling %s for Metis (%s cores), %d calibration image(s) from %s"
            % (mname, cores, n_cal, os.path.dirname(imgs[0])))
        for i in sorted({1, max(1, n_cal // 2), n_cal}):
            print("Quantizing %s: %3d%%| %d/%d" % (mname, i * 100 // n_cal, i, n_cal), flush=True)
            if i >= max(1, n_cal // 2):
                C.maybe_hang(tool, net_name)
        if C.env_matches("KILN_DOUBLE_FAIL_STEP", tool, net_name):
            say("ERROR", "Compilation of %s failed: QTOOLS_ERROR: Error during quantization with QTools "
                "(KILN_DOUBLE_FAIL_STEP)" % mname, sys.stderr)
            return 1
        os.makedirs(out_dir, exist_ok=True)
        quant = {o: {"scale": round(C.between(0.01, 0.2, o, "s"), 6),
                     "zero_point": int(C.between(-20, 20, o, "z"))} for o, _ in outputs}
        manifest = {"kiln_toolchain_double": {"simulated": True, "inputs_sha256": digest, "version": VERSION},
                    "manifest_version": 1,
                    "input_shapes": [list(m["input_tensor_shape"])],
                    "quantize_params": [[round(C.between(0.003, 0.02, mname, "iq"), 6), 0]],
                    "dequantize_params": [[quant[o]["scale"], quant[o]["zero_point"]] for o, _ in outputs],
                    "output_names": [o for o, _ in outputs],
                    "n_padded_ch_inputs": [[0, 0, 0, 0, 0, 0, 0, 1]],
                    "preprocess_graph": None, "postprocess_graph": None,
                    "model_lib_file": "model.axmodel", "quantized_model_file": "model.axmodel"}
        if args.mode == "QUANTIZE":
            C.write_json(os.path.join(out_dir, "quantized_model_manifest.json"), manifest)
            say("INFO", "Quantized %s (QUANTIZE: not compiled)" % mname)
            continue
        blob = C.model_blob(tool, VERSION, digest, "model.axmodel",
                            {"kind": "metis-axmodel", "network": net_name, "model": mname,
                             "aipu_cores": int(cores), "inputs": inputs, "outputs": outputs})
        C.crash_halfway(tool, net_name, os.path.join(out_dir, "model.axmodel"), blob)
        with open(os.path.join(out_dir, "model.axmodel"), "wb") as f:
            f.write(blob)
        C.write_json(os.path.join(out_dir, "manifest.json"), manifest)
        C.write_json(os.path.join(out_dir, "compile_config.json"),
                     {"kiln_toolchain_double": {"simulated": True}, "aipu_cores": int(cores),
                      "num_cal_images": n_cal, "mode": args.mode})
        C.write_json(os.path.join(args.build_root, net_name, mname, "model_info.json"),
                     {"kiln_toolchain_double": {"simulated": True}, "model_name": mname,
                      "task_category": m["task_category"], "input_tensor_layout": m["input_tensor_layout"],
                      "input_tensor_shape": m["input_tensor_shape"],
                      "input_color_format": m["input_color_format"],
                      "num_classes": m.get("num_classes"), "weight_path": wp})
        model_json = {"kiln_toolchain_double": {"simulated": True, "inputs_sha256": digest},
                      "name": net_name, "model": "%s/%s/model.axmodel" % (mname, cores),
                      "preprocessing": _preprocessing(m), "postprocessing": _postprocessing(m)}
        C.write_json(os.path.join(out_dir, "model.json"), model_json)
        say("INFO", "Compiled %s -> %s" % (mname, out_dir))
        if args.export:
            os.makedirs("exported", exist_ok=True)
            shutil.make_archive(os.path.join("exported", mname), "zip", out_dir)
    if not (args.model or args.models_only) and args.mode != "QUANTIZE":
        say("INFO", "Deployed pipeline for %s (%s)" % (net_name, args.pipe))
    return 0


# ---------------------------------------------------------------------------
# axcompile
# ---------------------------------------------------------------------------


def axcompile_parser():
    p = argparse.ArgumentParser(prog="axcompile", description="Axelera compiler CLI")
    p.add_argument("-i", "--input", help="input ONNX model or quantized_model_manifest.json")
    p.add_argument("-o", "--output", help="output directory")
    p.add_argument("--conf", help="compiler configuration JSON")
    p.add_argument("--generate-config", metavar="DIR", help="write default_conf.json to DIR and exit")
    p.add_argument("--quantize-only", action="store_true")
    p.add_argument("--input-shape", help="static input shape, e.g. 1,3,224,224")
    p.add_argument("--imageset", help="directory of calibration images (default: random data)")
    p.add_argument("--transform", help="python file defining get_preprocess_transform()")
    p.add_argument("--input-data-layout", choices=["NCHW", "NHWC"], default="NCHW")
    p.add_argument("--color-format", choices=["RGB", "BGR", "GRAY"], default="RGB")
    p.add_argument("--imreader-backend", choices=["PIL", "OPENCV"], default="PIL")
    p.add_argument("--cli-args", help="reuse arguments from a cli_args.json")
    return p


def axcompile_main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = axcompile_parser()
    args = p.parse_args(argv)
    tool = "axcompile"
    if args.generate_config:
        os.makedirs(args.generate_config, exist_ok=True)
        C.write_json(os.path.join(args.generate_config, "default_conf.json"),
                     {"kiln_toolchain_double": {"simulated": True}, "quantization": {"num_samples": 200}})
        return 0
    if not args.input:
        p.error("the following arguments are required: -i/--input")
    if not args.output:
        p.error("the following arguments are required: -o/--output")
    if not os.path.exists(args.input):
        p.error("argument -i/--input: %s does not exist" % args.input)
    out = args.output
    os.makedirs(out, exist_ok=True)
    log_lines = []

    def status(st, msg=None):
        C.write_json(os.path.join(out, "compilation_report.json"),
                     {"kiln_toolchain_double": {"simulated": True}, "status": st, "error": msg})
        C.write_text(os.path.join(out, "compilation_log.txt"), "\n".join(log_lines) + "\n")

    def info(msg):
        log_lines.append(msg)
        say("INFO", msg)

    try:
        model = C.load_onnx(args.input)
    except Exception as e:
        status("INITIALIZE_CLI_ERROR", "cannot load %s: %s" % (args.input, type(e).__name__))
        say("ERROR", "cannot load %s as ONNX" % args.input, sys.stderr)
        return 1
    inputs, outputs, _p, _s = C.onnx_io(model)
    dyn = any(not all(isinstance(d, int) and d > 0 for d in s) for _n, s in inputs)
    if dyn and not args.input_shape:
        status("INITIALIZE_CLI_ERROR", "dynamic input shape: use --input-shape")
        say("ERROR", "the model has a dynamic input shape: give --input-shape", sys.stderr)
        return 1
    imgs = []
    if args.imageset:
        if not os.path.isdir(args.imageset):
            status("INITIALIZE_CLI_ERROR", "--imageset %s is not a directory" % args.imageset)
            say("ERROR", "--imageset %s is not a directory" % args.imageset, sys.stderr)
            return 1
        imgs = sorted(os.path.join(r, f) for r, _d, fs in os.walk(args.imageset) for f in fs
                      if C.file_image_kind(os.path.join(r, f)))
        if not imgs:
            status("QTOOLS_ERROR", "no images in %s" % args.imageset)
            say("ERROR", "no images in %s" % args.imageset, sys.stderr)
            return 1
    C.install_term_handling(tool)
    digest = C.inputs_digest([args.input, args.conf] + imgs, " ".join(sys.argv[1:]))
    C.write_json(os.path.join(out, "cli_args.json"), {k: v for k, v in vars(args).items()})
    C.write_json(os.path.join(out, "conf.json"), {"kiln_toolchain_double": {"simulated": True}})
    os.makedirs(os.path.join(out, "input_model"), exist_ok=True)
    shutil.copyfile(args.input, os.path.join(out, "input_model", "fp32_model.onnx"))
    info("Quantizing %s with %s" % (args.input, "%d images" % len(imgs) if imgs else "random data"))
    C.maybe_hang(tool)
    if C.env_matches("KILN_DOUBLE_FAIL_STEP", tool):
        status("QTOOLS_ERROR", "Error during quantization with QTools (KILN_DOUBLE_FAIL_STEP)")
        say("ERROR", "Compilation failed: QTOOLS_ERROR", sys.stderr)
        return 1
    qdir = os.path.join(out, "quantized_model")
    manifest = {"kiln_toolchain_double": {"simulated": True, "inputs_sha256": digest},
                "input_shapes": [s for _n, s in inputs], "output_names": [o for o, _ in outputs]}
    C.write_json(os.path.join(qdir, "quantized_model_manifest.json"), manifest)
    C.write_json(os.path.join(qdir, "quantized_model.json"), {"kiln_toolchain_double": {"simulated": True}})
    C.write_text(os.path.join(qdir, "quantized_model.txt"), C.header_line(tool, VERSION, digest, "quantized") + "\n")
    C.write_json(os.path.join(qdir, "report.json"), {"status": "SUCCEEDED"})
    if not args.quantize_only:
        cdir = os.path.join(out, "compiled_model")
        blob = C.model_blob(tool, VERSION, digest, "compiled-model", manifest)
        C.crash_halfway(tool, None, os.path.join(cdir, "model.json"), blob)
        C.write_json(os.path.join(cdir, "manifest.json"), manifest)
        C.write_json(os.path.join(cdir, "model.json"), {"kiln_toolchain_double": {"simulated": True,
                                                                                  "inputs_sha256": digest}})
        C.write_json(os.path.join(cdir, "quantized_model.json"), {"kiln_toolchain_double": {"simulated": True}})
        C.write_text(os.path.join(cdir, "kernel_function.c"), "/* %s */\n" % C.header_line(tool, VERSION, digest, "kernel"))
        with open(os.path.join(cdir, "pool_l2_const.bin"), "wb") as f:
            f.write(C.header_line(tool, VERSION, digest, "pool_l2_const").encode() + b"\n")
        C.write_json(os.path.join(cdir, "report.json"), {"status": "SUCCEEDED"})
        info("Compiled model written to %s" % cdir)
    status("SUCCEEDED")
    return 0
