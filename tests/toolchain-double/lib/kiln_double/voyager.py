"""Double of the Axelera Voyager SDK's `deploy.py` (Metis) and `axcompile`.

deploy.py imitates axelera-ai-hub/voyager-sdk release v1.2.5 (commit
38c4bf07b2c69a74f5f2a9325f62083d22dc01fa), read with git; the contract
table, with the file each rule comes from, is in ../../README.md and
../../SOURCES.md ("Metis / Voyager SDK").  In short, as the SDK does:
  - deploy.py, config.py create_deploy_argparser: the arguments, with
    --num-cal-images range-checked 2..2000, --aipu-cores 1..4, --metis.
  - yaml_parser.py: a network is a name or a path registered from
    ax_models/**.yaml under the working directory (paths containing zoo,
    model_cards, customers, reference, tutorials, training_yamls, yolo/cfg
    skipped), each YAML holding the sections axelera-model-format, name,
    description, pipeline, models, datasets; anything else is
    "Invalid network '<x>', ..." from argparse (status 2).
  - device_manager.py: without a Metis card (the double never has one) and
    without --metis, "No devices found".
  - network.py _provisional_model_info_from_yaml: the only keys of
    models.<name>; others are "<k> is not a valid key for model <m>" /
    "<a>, <b> and <c> are not valid keys for model <m>".
  - pipeline.py parse_task / _gen_process_list: task properties, operator
    names with '-' and '_' removed, looked up in the custom operators
    (top-level `operators:` and templates) and the builtins
    ("<op>: Unsupported preprocess operator"); an operator's attributes are
    its class fields (operators/*.py, decoders/yolo.py): an unknown one is
    Python's "<Class>() got an unexpected keyword argument '<a>'".
  - decoders/yolo.py: a YOLOv5-shaped head (3 outputs of 3*(5+classes)
    channels) without extra_kwargs.YOLO.anchors is "Missing YOLO/anchors in
    extra_kwargs for <m>", raised when the pipeline is deployed (so not with
    --model / --models-only, which compile only).
  - pipeline.py _deploy_model, compile.py, constants.py: the build tree
    build/<net>/<model>/{model_info.json, quantized/{quantized_model.json,
    manifest.json}, <cores>/{model.json, manifest.json,
    compile_config.json}}, <cores> = min(--aipu-cores, max_compiler_cores),
    max_compiler_cores 1 unless extra_kwargs sets it (network.py
    determine_deploy_cores, environ.py).  v1.2.5 writes no model.axmodel:
    the compiled model is model.json (manifest model_lib_file).
  - logging_utils.py _Formatter: lines "LEVEL   : message".
deploy.py prints no accuracy or similarity figure, and neither does the
double.  Not imitated: the compiler's real output beyond those files (its
code is not public), datasets other than the default DataAdapter, PyTorch
models, templates (a template_path must exist; its operators are not read).

axcompile follows docs/reference/compiler_cli.md of a later docs commit
(1afcd405); Kiln does not use it.
"""
import argparse
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
    for line in str(msg).splitlines() or [""]:
        out.write("%-8s: %s\n" % (level, line))
    out.flush()


def _range_2_2000(value):
    value = int(value)
    if value < 2 or value > 2000:
        raise argparse.ArgumentTypeError("must be in range 2 to 2000")
    return value


METIS_CHOICES = ["auto", "none", "pcie", "m2"]   # config.py _MetisAction


def deploy_parser():
    p = argparse.ArgumentParser(prog=os.path.basename(sys.argv[0]) or "deploy.py",
                                description="Deploy a model to Axelera platforms",
                                epilog=C.MARKER + " (simulated by the Kiln toolchain double)")
    p.add_argument("network", help="network to run: a path to a network YAML or its name")
    p.add_argument("--build-root", default="build", metavar="PATH")
    p.add_argument("--data-root", default="data", metavar="PATH")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--model", type=str, default="")
    g.add_argument("--models-only", action="store_true", default=False)
    g.add_argument("--pipeline-only", action="store_true", default=False)
    p.add_argument("--mode", type=str.upper, default="PREQUANTIZED",
                   choices=["QUANTIZE", "QUANTIZE_DEBUG", "QUANTCOMPILE", "PREQUANTIZED"])
    p.add_argument("--emulate", type=str.upper, default="NONE", choices=["NONE", "CPU", "QEMU", "AIPU"],
                   help=argparse.SUPPRESS)
    p.add_argument("--metis", default="auto", choices=METIS_CHOICES)
    p.add_argument("--pipe", type=str.lower, default="gst", choices=["gst", "torch", "torch-aipu"])
    p.add_argument("--export", action="store_true", default=False)
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="count", default=0)
    p.add_argument("--loglevel", default="")
    p.add_argument("--logfile", default="", metavar="PATH")
    p.add_argument("--logtimestamp", action="store_true")
    for cap in ("vaapi", "opencl", "opengl"):
        p.add_argument("--enable-%s" % cap, "--disable-%s" % cap, "--auto-%s" % cap,
                       dest="enable_%s" % cap, action="store_const", const=cap)
    p.add_argument("--aipu-cores", type=int, choices=range(1, 5), default=4)
    p.add_argument("--num-cal-images", type=_range_2_2000, default=200)
    p.add_argument("--calibration-batch", type=int, default=1, help=argparse.SUPPRESS)
    return p


# --- yaml_parser.py: which YAML files are networks ---------------------------

_EXCLUDE = ["training_yamls", "yolo/cfg", "zoo", "model_cards", "customers", "reference", "tutorials"]
_SECTIONS = {"axelera-model-format", "name", "description", "pipeline", "models", "datasets"}


def _registry():
    import yaml
    info = {}
    for root, _dirs, files in os.walk("ax_models"):
        for f in sorted(files):
            path = os.path.join(root, f)
            if not f.endswith(".yaml") or any(d in path for d in _EXCLUDE):
                continue
            try:
                with open(path, encoding="utf-8") as fh:
                    model = yaml.safe_load(fh)
            except (OSError, yaml.YAMLError) as e:
                say("WARNING", "%s: %s" % (path, e), sys.stderr)
                continue
            if not isinstance(model, dict) or not _SECTIONS.issubset(model.keys()):
                say("WARNING", "Unusable model: '%s' since it does not contain the expected sections %s"
                    % (path, sorted(_SECTIONS)), sys.stderr)
                continue
            if model.get("axelera-model-format") != "1.0.0":
                say("WARNING", "%s: Expected axelera-model-format: 1.0.0 but found %s"
                    % (path, model.get("axelera-model-format")), sys.stderr)
            info[str(model.get("name", ""))] = path
            info[path] = path
    return info


def resolve_network(p, network):
    info = _registry()
    if network in info:
        return info[network]
    p.error("Invalid network '%s', no close match found. Please `make help` to see all available models."
            % network)


# --- network.py / pipeline.py: what a network may say ------------------------

MODEL_REQUIRED = ("task_category", "input_tensor_shape", "input_color_format", "input_tensor_layout")
MODEL_OPTIONAL = ("weight_path", "weight_url", "weight_md5", "prequantized_url", "prequantized_md5",
                  "dataset", "base_dir", "class", "class_path", "version", "num_classes", "extra_kwargs")
TASK_PROPERTIES = {"input", "preprocess", "postprocess", "template_path", "operators", "aipu_cores",
                   "meta_key", "model_name"}

# Builtin operators (the @builtin classes of axelera/app/operators/*.py), by
# name() = class name lower-cased without '-' / '_', with their fields
# (required, optional); None = fields not transcribed, any accepted.
BUILTINS = {
    "letterbox": (["height", "width"], ["scaleup", "half_pixel_centers", "pad_val", "image_width",
                                        "image_height"]),
    "resize": ([], ["width", "height", "size", "half_pixel_centers", "interpolation", "input_color_format"]),
    "centercrop": (["width", "height"], []),
    "torchtotensor": ([], ["input_layout", "output_layout", "datatype", "scale"]),
    "totensor": ([], []),
    "normalize": ([], ["mean", "std", "tensor_layout", "format"]),
    "topk": ([], ["k", "largest", "sorted", "softmax"]),
    "linearscaling": None, "typecast": None, "permutechannels": None, "convertcolor": None,
    "convertcolorinput": None, "facealign": None, "perspective": None, "cameraundistort": None,
    "contrastnormalize": None, "recognition": None, "tracker": None, "filterdetections": None,
    "addclassificationstotracker": None, "addkeypointstotracker": None, "semanticsegmentation": None,
}
PREPROCESS = {"letterbox", "resize", "centercrop", "torchtotensor", "totensor", "normalize", "linearscaling",
              "typecast", "permutechannels", "convertcolor", "convertcolorinput", "facealign",
              "perspective", "cameraundistort", "contrastnormalize"}
CLASS_NAMES = {"letterbox": "Letterbox", "resize": "Resize", "centercrop": "CenterCrop",
               "torchtotensor": "TorchToTensor", "totensor": "ToTensor", "normalize": "Normalize",
               "topk": "TopK", "decodeyolo": "DecodeYolo"}
# Custom operator classes the double knows: (file the SDK ships, class) -> fields
# (voyager-sdk v1.2.5 @ 38c4bf07: the dataclass fields of DecodeYolo,
# DecodeYoloPose and DecodeYoloSeg in ax_models/decoders/{yolo,yolopose,
# yoloseg}.py; each raises "Unknown box format" for other box formats.)
CUSTOM_CLASSES = {
    ("ax_models/decoders/yolo.py", "DecodeYolo"): (
        ["box_format", "normalized_coord"],
        ["label_filter", "label_exclude", "conf_threshold", "max_nms_boxes", "use_multi_label",
         "nms_iou_threshold", "nms_class_agnostic", "nms_top_k", "generic_gst_decoder"]),
    ("ax_models/decoders/yolopose.py", "DecodeYoloPose"): (
        ["box_format", "normalized_coord"],
        ["label_filter", "conf_threshold", "max_nms_boxes", "nms_iou_threshold", "nms_top_k"]),
    ("ax_models/decoders/yoloseg.py", "DecodeYoloSeg"): (
        ["box_format", "normalized_coord"],
        ["label_filter", "label_exclude", "conf_threshold", "max_nms_boxes", "use_multi_label",
         "nms_class_agnostic", "cpp_opt_heatmap", "nms_iou_threshold", "nms_top_k", "unpad"]),
}


def _opname(name):
    return str(name).replace("-", "").replace("_", "").lower()


def _sdk_file(path):
    """The SDK-relative file a class_path names ($AXELERA_FRAMEWORK/... or
    any absolute path ending in it), else None."""
    path = os.path.expandvars(str(path)).replace("\\", "/")
    for known, _cls in CUSTOM_CLASSES:
        if path.endswith("/" + known) or path == known:
            return known
    for known in ("ax_models/base_onnx.py",):
        if path.endswith("/" + known) or path == known:
            return known
    return None


def _import_class(cls, path):
    known = _sdk_file(path)
    module = os.path.splitext(os.path.basename(str(path)))[0].replace("-", "_")
    if known is None:
        raise DeployError("%s: Failed to import module %s : [Errno 2] No such file or directory: '%s'"
                          % (path, module, path))
    if known == "ax_models/base_onnx.py":
        if cls != "AxONNXModel":
            raise DeployError("%s: %s does not contain the class %s" % (path, module, cls))
        return None
    if (known, cls) not in CUSTOM_CLASSES:
        raise DeployError("%s: %s does not contain the class %s" % (path, module, cls))
    return CUSTOM_CLASSES[(known, cls)]


def _check_fields(clsname, fields, attribs, preprocess):
    if fields is None:
        return
    required, optional = fields
    allowed = set(required) | set(optional) | {"eval", "pair_eval"} | ({"stream_match"} if preprocess else set())
    for k in attribs:
        if k not in allowed:
            raise DeployError("%s() got an unexpected keyword argument '%s'" % (clsname, k))
    missing = [k for k in required if k not in attribs]
    if missing:
        names = " and ".join("'%s'" % m for m in missing) if len(missing) <= 2 else \
            ", ".join("'%s'" % m for m in missing[:-1]) + " and '%s'" % missing[-1]
        raise DeployError("%s() missing %d required positional argument%s: %s"
                          % (clsname, len(missing), "" if len(missing) == 1 else "s", names))


def _custom_operators(net):
    ops = {}
    for name, attribs in (net.get("operators") or {}).items():
        if not isinstance(attribs, dict) or "class" not in attribs or "class_path" not in attribs:
            raise DeployError("operators.%s: 'class' and 'class_path' are required" % name)
        ops[_opname(name)] = (attribs["class"], _import_class(attribs["class"], attribs["class_path"]))
    return ops


def _operator_list(steps, target, custom, task_name):
    if steps is None:
        return []
    if not isinstance(steps, list):
        raise DeployError("Task %s must be list (found type %s)" % (target, type(steps).__name__))
    out = []
    for el in steps:
        if not isinstance(el, dict) or len(el) != 1:
            raise DeployError("%s operator properties must be dict (found type %s)" % (target, type(el).__name__))
        (raw, attribs), = el.items()
        if attribs is not None and not isinstance(attribs, dict):
            raise DeployError("%s operator properties must be dict|None (found type %s)"
                              % (target, type(attribs).__name__))
        name = _opname(raw)
        attribs = dict(attribs or {})
        if name in custom:
            clsname, fields = custom[name]
            _check_fields(clsname, fields, attribs, False)
            if clsname.startswith("DecodeYolo") and attribs.get("box_format") not in ("xyxy", "xywh", "ltwh"):
                raise DeployError("Unknown box format %s" % attribs.get("box_format"))
        elif name in BUILTINS:
            _check_fields(CLASS_NAMES.get(name, name), BUILTINS[name], attribs, name in PREPROCESS)
        else:
            raise DeployError("%s: Unsupported %s operator" % (name, target))
        out.append((name, attribs))
    return out


def _provisional_model_info(name, props):
    props = dict(props)
    for k in MODEL_REQUIRED:
        if k not in props:
            raise DeployError("'%s'" % k)   # the SDK's props.pop(k): a bare KeyError
        props.pop(k)
    for k in MODEL_OPTIONAL:
        props.pop(k, None)
    if len(props) == 1:
        raise DeployError("%s is not a valid key for model %s" % (next(iter(props)), name))
    if len(props) > 1:
        keys = sorted(props.keys())
        raise DeployError("%s and %s are not valid keys for model %s" % (", ".join(keys[:-1]), keys[-1], name))


def _validate_datasets(net_name, datasets):
    if datasets is None:
        return
    if not isinstance(datasets, dict):
        raise DeployError("%s: datasets must be dict (found type %s)" % (net_name, type(datasets).__name__))
    for dname, ds in datasets.items():
        if not isinstance(ds, dict):
            raise DeployError("%s: dataset %s must be dict (found type %s)" % (net_name, dname, type(ds).__name__))
        if "data_dir_path" in ds:
            raise DeployError("%s: data_dir_path is a reserved keyword for YAML dataset section" % net_name)
        if ds.get("class") == "DataAdapter":
            if "repr_imgs_dataloader_color_format" in ds and \
                    ds["repr_imgs_dataloader_color_format"] not in ("RGB", "BGR", "GRAY"):
                raise DeployError("%s: repr_imgs_dataloader_color_format must be RGB, BGR, or GRAY" % net_name)
            if "repr_imgs_dir_path" not in ds and ("data_dir_name" not in ds or "repr_imgs_dir_name" not in ds):
                raise DeployError("%s: data_dir_name and repr_imgs_dir_name are both required for dataset %s if "
                                  "you don't specify repr_imgs_dir_path" % (net_name, dname))
        elif "class" in ds and "class_path" not in ds:
            raise DeployError("%s: Missing class_path for dataset %s" % (net_name, dname))
        elif "class_path" in ds and "class" not in ds:
            raise DeployError("%s: Missing class for dataset %s" % (net_name, dname))


def _abs(base, value):
    """utils.py _make_path_absolute: $VARS and ~ expanded, relative to the YAML's directory."""
    v = os.path.expanduser(os.path.expandvars(str(value)))
    return v if os.path.isabs(v) else os.path.normpath(os.path.join(base, v))


def parse_network(yaml_path):
    import yaml
    with open(yaml_path, encoding="utf-8") as f:
        net = yaml.safe_load(f)   # axelera/app/yaml.py: LINE_LOADER is a SafeLoader
    base = os.path.dirname(os.path.abspath(yaml_path))
    models = net.get("models") or {}
    if not models:
        raise DeployError("No models defined in network %s" % yaml_path)
    for mname, m in models.items():
        if not isinstance(m, dict):
            raise DeployError("models.%s must be dict (found type %s)" % (mname, type(m).__name__))
        _provisional_model_info(mname, m)
    tasks = []
    pipeline = net.get("pipeline") or []
    if not isinstance(pipeline, list):
        raise DeployError("pipeline must be list (found type %s)" % type(pipeline).__name__)
    names = [next(iter(t.keys())) for t in pipeline if isinstance(t, dict) and t]
    if len(names) != len(set(names)):
        raise DeployError("Duplicate task names in pipeline %s" % yaml_path)
    custom = {}
    for el in pipeline:
        tname = next(iter(el.keys()), "")
        tp = (el.get(tname) or {}).get("template_path") if isinstance(el.get(tname), dict) else None
        if tp and not os.path.isfile(_abs(base, tp)):
            raise DeployError("%s: template %s not found" % (tname, tp))
    custom.update(_custom_operators(net))
    for el in pipeline:
        if not isinstance(el, dict):
            raise DeployError("Task properties must be dict (found type %s)" % type(el).__name__)
        (tname, phases), = el.items()
        if not phases:
            raise DeployError("No pipeline config for %s" % tname)
        if not isinstance(phases, dict):
            raise DeployError("Task properties must be dict (found type %s)" % type(phases).__name__)
        unknown = [k for k in phases if k not in TASK_PROPERTIES]
        if unknown:
            msg = "is not a valid property" if len(unknown) == 1 else "are not valid properties"
            raise DeployError("%s %s of a Task" % (", ".join(unknown), msg))
        mname = phases.get("model_name", tname)
        if mname not in models:
            raise DeployError("Model %s not found in models" % mname)
        pre = _operator_list(phases.get("preprocess"), "preprocess", custom, tname)
        post = _operator_list(phases.get("postprocess"), "postprocess", custom, tname)
        tasks.append({"name": tname, "model": mname, "preprocess": pre, "postprocess": post})
    datasets = net.get("datasets")
    _validate_datasets(net.get("name", ""), datasets)
    if not pipeline:
        for mname, m in models.items():
            ds = (datasets or {}).get(m.get("dataset"), {}) or {}
            if not ds.get("repr_imgs_dataloader_color_format"):
                raise DeployError("Please specify repr_imgs_dataloader_color_format in the dataset section for %s"
                                  % mname)
            tasks.append({"name": "model_deployment_%s" % mname, "model": mname, "preprocess": None,
                          "postprocess": []})
    return net, base, models, tasks


def deploy_main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = deploy_parser()
    args = p.parse_args(argv)
    yaml_path = resolve_network(p, args.network)
    if args.mode in ("QUANTIZE", "QUANTIZE_DEBUG") and not args.model:
        args.models_only = True   # config.py CompileAction
    if args.pipe == "torch-aipu":
        args.aipu_cores = 1
    try:
        if args.pipe != "torch" and args.emulate == "NONE" and args.metis in ("auto", "none"):
            # device_manager.py: runtime.Context().list_devices() found nothing
            raise DeployError("No devices found")
        ok = _deploy(args, yaml_path)
    except DeployError as e:
        say("ERROR", str(e), sys.stderr)
        return 1
    if ok:
        if args.mode not in ("QUANTIZE", "QUANTIZE_DEBUG"):
            say("INFO", "Successfully deployed network")
        return 0
    say("ERROR", "Failed to deploy network", sys.stderr)
    return 1


def _deploy_cores(m, requested):
    ek = m.get("extra_kwargs") or {}
    desired = ek.get("aipu_cores", requested)
    return min(int(desired), int(ek.get("max_compiler_cores", os.environ.get("AXELERA_MAX_COMPILER_CORES", 1))))


def _images(ds, base, data_root):
    rp = ds.get("repr_imgs_dir_path")
    rdir = _abs(base, rp) if rp else os.path.join(data_root, str(ds.get("data_dir_name", "")),
                                                   str(ds.get("repr_imgs_dir_name", "")))
    if not os.path.isdir(rdir):
        # unverified: types.DataAdapter is not in the public repository
        raise DeployError("(double) representative images directory %s not found" % rdir)
    return sorted(os.path.join(r, f) for r, _d, fs in os.walk(rdir) for f in fs
                  if C.file_image_kind(os.path.join(r, f)))


def _labels(ds, base):
    lp = ds.get("labels_path")
    if not lp:
        return []
    path = _abs(base, lp)
    if not os.path.isfile(path):
        raise DeployError("Labels file %s not found" % path)
    if path.lower().endswith((".yaml", ".yml")):
        import yaml
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
        if not isinstance(data, dict) or "names" not in data:
            raise DeployError("YAML file %s must contain a 'names' key" % path)
        names = data["names"]
        if isinstance(names, dict):
            return [names[k] for k in sorted(names)]
        return list(names)
    with open(path, encoding="utf-8") as f:
        return [x for x in f.read().splitlines() if x]


def _yolo_family(outputs, nc):
    """decoders/yolo.py _guess_yolo_model on the ONNX outputs' channels."""
    ch = [s[1] if len(s) == 4 else None for _n, s in outputs]
    if len(ch) == 3 and all(c == 3 * (5 + nc) for c in ch):
        return "YOLOv5"
    if len(ch) == 6 and all(c == 64 for c in ch[:3]) and all(c == nc for c in ch[3:]):
        return "YOLOv8"
    if len(ch) == 9 and ch == [nc, 1, nc, 1, nc, 1, 4, 4, 4]:
        return "YOLOX"
    return "Unknown"


def _deploy(args, yaml_path):
    tool = "deploy.py"
    net, base, models, tasks = parse_network(yaml_path)
    net_name = str(net.get("name", ""))
    datasets = net.get("datasets") or {}
    build = os.path.join(args.build_root, net_name)
    C.install_term_handling(tool, net_name)
    quantize_only = args.mode in ("QUANTIZE", "QUANTIZE_DEBUG")
    models_only = args.models_only or (tasks and tasks[0]["preprocess"] is None)
    if not args.pipeline_only:
        verb = "Quantizing" if quantize_only else "Compiling"
        say("INFO", "## %s network %s **%s**%s" % (verb, net_name, yaml_path, " " + args.model if args.model else ""))
        found = False
        for task in tasks:
            mname = task["model"]
            if args.model:
                if mname != args.model:
                    continue
                found = True
            say("INFO", "Compile model: %s" % mname)
            if not _deploy_model(args, tool, yaml_path, base, net_name, build, task, models[mname], datasets):
                return False
            if args.model:
                say("INFO", "## Finished %s network %s: model '%s'" % (verb.lower(), net_name, mname))
                return True
        if args.model and not found:
            say("INFO", "## Deploy network %s: model '%s' not found in %s"
                % (net_name, args.model, os.path.basename(yaml_path)))
            return False
    if models_only or quantize_only:
        return True
    return _deploy_pipeline(args, net_name, build, models, tasks)


def _deploy_model(args, tool, yaml_path, base, net_name, build, task, m, datasets):
    """pipeline.py _deploy_model: errors are logged and the deployment fails."""
    mname = task["model"]
    try:
        _import_class(m.get("class", ""), m.get("class_path", ""))
        if task["preprocess"] is None or not task["preprocess"]:
            # network.py attach_model_specific_preprocess; AxONNXModel has no override_preprocess
            raise DeployError("Missing section preprocess in pipeline. Add to YAML or implement "
                              "AxONNXModel.override_preprocess")
        wp = _abs(base, m.get("weight_path", ""))
        if not os.path.isfile(wp):
            raise DeployError("No suitable weights found for %s at %s and no weight_url specified" % (mname, wp))
        try:
            onnx_model = C.load_onnx(wp)
        except Exception as e:
            raise DeployError("%s: not a loadable ONNX model (%s)" % (wp, type(e).__name__))
        if not datasets:
            raise DeployError("Missing definition of top-level datasets section")
        if m.get("dataset") not in datasets:
            raise DeployError("Missing definition of dataset %s" % m.get("dataset"))
        ds = datasets[m["dataset"]]
        imgs = _images(ds, base, args.data_root)
        if args.num_cal_images > len(imgs):
            raise DeployError(
                "Cannot use %d calibration images when dataset only contains %d images. Please either:\n"
                "  1. Reduce --num-cal-images to %d or less\n"
                "  2. Add more images to the calibration dataset" % (args.num_cal_images, len(imgs), len(imgs)))
        labels = _labels(ds, base)
    except DeployError as e:
        say("ERROR", str(e), sys.stderr)
        return False
    imgs = imgs[:args.num_cal_images]
    inputs, outputs, _p, _s = C.onnx_io(onnx_model)
    mdir = os.path.join(build, mname)
    cores = _deploy_cores(m, args.aipu_cores)
    digest = C.inputs_digest([yaml_path, wp] + imgs, " ".join(sys.argv[1:]))
    qdir = os.path.join(mdir, "quantized")
    if args.mode in ("QUANTIZE", "QUANTIZE_DEBUG", "QUANTCOMPILE"):
        if args.mode == "QUANTCOMPILE":
            say("INFO", "Prequantizing %s: %s" % (net_name, mname))
        n = len(imgs)
        for i in sorted({1, max(1, n // 2), n}):
            print("Calibrating %s: %3d%%| %d/%d" % (mname, i * 100 // n, i, n), flush=True)
            if i >= max(1, n // 2):
                C.maybe_hang(tool, net_name)
        if C.env_matches("KILN_DOUBLE_FAIL_STEP", tool, net_name):
            say("ERROR", "QTOOLS_ERROR: Error during quantization with QTools (KILN_DOUBLE_FAIL_STEP)", sys.stderr)
            if args.mode == "QUANTCOMPILE":
                say("ERROR", "Failed to prequantize %s: %s" % (net_name, mname), sys.stderr)
            return False
        os.makedirs(qdir, exist_ok=True)
        C.write_json(os.path.join(qdir, "quantized_model.json"),
                     {"kiln_toolchain_double": {"simulated": True, "inputs_sha256": digest}})
        C.write_json(os.path.join(qdir, "manifest.json"), _manifest(mname, m, outputs, 1, digest, True))
        if args.mode == "QUANTCOMPILE":
            say("INFO", "Successfully prequantized %s: %s" % (net_name, mname))
    if args.mode in ("QUANTIZE", "QUANTIZE_DEBUG"):
        _model_info(mdir, mname, m, wp, labels)
        return True
    if not os.path.isfile(os.path.join(qdir, "quantized_model.json")):
        say("ERROR", "(double) no prequantized model in %s: run with --mode QUANTCOMPILE" % qdir, sys.stderr)
        return False
    out_dir = os.path.join(mdir, str(cores))
    os.makedirs(out_dir, exist_ok=True)
    model_json = {"kiln_toolchain_double": {"simulated": True, "inputs_sha256": digest, "version": VERSION,
                                            "what": "compiled model (closed format in the real SDK)"},
                  "network": net_name, "model": mname, "aipu_cores": cores,
                  "inputs": inputs, "outputs": outputs}
    C.crash_halfway(tool, net_name, os.path.join(out_dir, "model.json"),
                    json.dumps(model_json).encode())
    C.write_json(os.path.join(out_dir, "model.json"), model_json)
    C.write_json(os.path.join(out_dir, "manifest.json"), _manifest(mname, m, outputs, cores, digest, False))
    C.write_json(os.path.join(out_dir, "compile_config.json"),
                 {"kiln_toolchain_double": {"simulated": True},
                  "backend_config": {"aipu_cores": cores}, "num_cal_images": len(imgs), "mode": args.mode})
    _model_info(mdir, mname, m, wp, labels)
    if args.export:
        os.makedirs("exported", exist_ok=True)
        shutil.make_archive(os.path.join("exported", mname), "zip", build)
    return True


def _manifest(mname, m, outputs, batch, digest, quantized):
    shape = list(m["input_tensor_shape"])
    shape[0] = batch
    nhwc = lambda s: [s[0], s[2], s[3], s[1]] if len(s) == 4 else s   # noqa: E731 (AIPU is NHWC)
    return {"kiln_toolchain_double": {"simulated": True, "inputs_sha256": digest, "version": VERSION},
            "manifest_version": 1,
            "input_shapes": [shape],
            "quantize_params": [[round(C.between(0.003, 0.02, mname, "iq"), 6), 0]],
            "dequantize_params": [[round(C.between(0.01, 0.2, o, "s"), 6), int(C.between(-20, 20, o, "z"))]
                                  for o, _ in outputs],
            "output_shapes": [nhwc(s) for _o, s in outputs],
            "n_padded_ch_inputs": [[0, 0, 0, 0, 0, 0, 0, 1]],
            "n_padded_ch_outputs": [[0] * 8 for _ in outputs],
            "preprocess_graph": None, "postprocess_graph": None,
            "model_lib_file": None if quantized else "model.json",
            "quantized_model_file": "quantized_model.json" if quantized else None}


def _model_info(mdir, mname, m, wp, labels):
    os.makedirs(mdir, exist_ok=True)
    C.write_json(os.path.join(mdir, "model_info.json"),
                 {"kiln_toolchain_double": {"simulated": True}, "name": mname,
                  "task_category": m["task_category"], "input_tensor_layout": m["input_tensor_layout"],
                  "input_tensor_shape": m["input_tensor_shape"], "input_color_format": m["input_color_format"],
                  "num_classes": m.get("num_classes", 1), "labels": labels, "weight_path": wp,
                  "class_name": m.get("class", ""), "class_path": m.get("class_path", "")})


def _deploy_pipeline(args, net_name, build, models, tasks):
    """pipeline.py _deploy_pipeline: needs every model compiled; the decoders
    configure themselves from the compiled outputs (decoders/yolo.py)."""
    for task in tasks:
        mname = task["model"]
        m = models[mname]
        cores = _deploy_cores(m, args.aipu_cores)
        mj = os.path.join(build, mname, str(cores), "model.json")
        if not os.path.isfile(mj) or not os.path.isfile(os.path.join(build, mname, "model_info.json")):
            say("ERROR", "Model(s): %s not deployed" % mname, sys.stderr)
            return False
        with open(mj) as f:
            compiled = json.load(f)
        for name, _attribs in task["postprocess"]:
            if name != "decodeyolo":
                continue
            nc = int(m.get("num_classes", 1))
            if _yolo_family(compiled.get("outputs", []), nc) == "YOLOv5":
                anchors = ((m.get("extra_kwargs") or {}).get("YOLO") or {}).get("anchors")
                if anchors is None:
                    say("ERROR", "Missing YOLO/anchors in extra_kwargs for %s" % mname, sys.stderr)
                    return False
                if not isinstance(anchors, (list, tuple)) or not anchors:
                    say("ERROR", "Invalid anchors in extra_kwargs for %s: should be list of N lists of 6 "
                        "elements, got %r" % (mname, anchors), sys.stderr)
                    return False
    say("INFO", "Compile %s:pipeline" % net_name)
    return True


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
