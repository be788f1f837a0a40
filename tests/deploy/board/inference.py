#!/usr/bin/env python3
"""DOUBLE of the Voyager SDK's ./inference.py on a Metis host (see README.md).

Held to axelera-ai-hub/voyager-sdk v1.2.5, commit 38c4bf07 (inference.py,
axelera/app/config.py create_inference_argparser / _InferenceArgumentParser /
_resolve_network, axelera/app/yaml_parser.py get_model_files / get_info,
axelera/app/network.py read_deployed_model_infos / determine_deploy_cores /
_load_manifest_and_check_batch, axelera/app/pipe/manager.py
_get_or_deploy_models, axelera/app/inf_tracers.py; tests/toolchain-double/
SOURCES.md "Metis on-device test program"):

  inference.py NETWORK SOURCE... [--build-root PATH] [--aipu-cores N]
               [--display | --no-display]

NETWORK is a network name or a YAML path registered from ax_models/**/*.yaml
under the working directory (zoo, model_cards, customers, reference,
tutorials, training_yamls, yolo/cfg skipped); anything else, a model.json
for one, is argparse's error and exit status 2, as in the SDK.  The
compiled model is looked up where the SDK looks:
<build-root>/<network name>/<model>/model_info.json and
<model>/<cores>/manifest.json, cores = min(--aipu-cores (4),
extra_kwargs.max_compiler_cores (1)), the manifest's batch equal to cores.
Where the SDK would then deploy a missing model (it needs the ONNX and a
compiler, which a board has not) the double fails instead.  Log lines are
the SDK's "LEVEL   : message" and, at the end, one line per tracer metric
("<title> : <value><unit>").  No AIPU behind it: the figures are made up.
"""
import json
import os
import sys

import yaml

PROG = "inference.py"
USAGE = (f"usage: {PROG} [-h] [--build-root PATH] [--aipu-cores N] "
         "[--display | --no-display] network [sources ...]")
# yaml_parser.get_model_details: the local ax_models/ tree, without these.
SKIPPED = ["training_yamls", "yolo/cfg", "zoo", "model_cards", "customers", "reference",
           "tutorials"]


def arg_error(msg):
    # argparse.ArgumentParser.error: usage and message on stderr, status 2.
    print(USAGE, file=sys.stderr)
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(2)


def log(level, msg):
    # logging_utils._Formatter: the level left-justified to 8, then ": ".
    print(f"{level:<8}: {msg}", flush=True)


def fail(msg):
    # LOG.exit_with_error_log(e): an ERROR line, status 1.
    log("ERROR", msg)
    sys.exit(1)


def parse(argv):
    ns = {"build_root": "build", "aipu_cores": 4, "display": True, "positional": []}
    it = iter(argv)
    for a in it:
        if a in ("--build-root", "--aipu-cores"):
            v = next(it, None)
            if v is None:
                arg_error(f"argument {a}: expected one argument")
            if a == "--aipu-cores":
                # type=int, choices=range(1, 5) (config.HardwareCaps.add_to_argparser)
                if not v.lstrip("-").isdigit():
                    arg_error(f"argument --aipu-cores: invalid int value: {v!r}")
                if not 1 <= int(v) <= 4:
                    arg_error(f"argument --aipu-cores: invalid choice: {int(v)} "
                              "(choose from 1, 2, 3, 4)")
                ns["aipu_cores"] = int(v)
            else:
                ns["build_root"] = v
        elif a in ("--display", "--no-display"):
            ns["display"] = a == "--display"
        elif a.startswith("-") and a != "-":
            unknown = [a] + [x for x in it]
            arg_error("unrecognized arguments: " + " ".join(unknown))
        else:
            ns["positional"].append(a)
    return ns


def registry():
    """yaml_parser.get_model_files("ax_models") + NetworkYamlInfo.add_info:
    each YAML with a models section, by name and by path."""
    info = {}
    for top, _dirs, files in os.walk("ax_models"):
        for f in files:
            path = os.path.join(top, f)
            if not f.endswith(".yaml") or any(s in path for s in SKIPPED):
                continue
            try:
                with open(path) as fh:
                    net = yaml.safe_load(fh)
            except (OSError, yaml.YAMLError) as e:
                fail(f"{path}: {e}")
            if not isinstance(net, dict) or not net.get("models"):
                fail(f"{path} has no models section!")
            entry = (str(net.get("name")), path, net)
            info[entry[0]] = entry
            info[path] = entry
            info[os.path.abspath(path)] = entry
    return info


def main():
    ns = parse(sys.argv[1:])
    if not ns["positional"]:
        arg_error("the following arguments are required: network")
    network, sources = ns["positional"][0], ns["positional"][1:]
    nets = registry()
    entry = nets.get(network) or nets.get(os.path.abspath(network))
    if entry is None:
        # config._resolve_network -> NetworkYamlInfo.get_info's KeyError.
        arg_error(f"\"Invalid network '{network}', no close match found. "
                  "Please `make help` to see all available models.\"")
    if not sources:
        arg_error("No source provided")
    if ns["display"]:
        # The SDK opens a window (display.App); a board over ssh has no display.
        fail("inference.py (double): no display on a headless board; pass --no-display")
    name, _path, net = entry
    nn_dir = os.path.join(os.path.abspath(ns["build_root"]), name)
    for model, spec in net["models"].items():
        extra = (spec or {}).get("extra_kwargs") or {}
        cores = min(ns["aipu_cores"], int(extra.get("max_compiler_cores", 1)))
        info = os.path.join(nn_dir, model, "model_info.json")
        root = os.path.join(nn_dir, model, str(cores))
        manifest = os.path.join(root, "manifest.json")
        if not os.path.isfile(info) or not os.path.isfile(manifest):
            missing = info if not os.path.isfile(info) else f"No manifest file found in {root}"
            fail(f"{model}: not deployed ({missing}); the SDK would now run deploy.py, "
                 "which a board cannot (inference.py device double)")
        with open(manifest) as fh:
            shapes = json.load(fh).get("input_shapes") or [[0]]
        if shapes[0][0] != cores:
            fail(f"{manifest}: Has wrong batch size ({shapes[0][0]}) for aipu-cores {cores}")
        if not os.path.isfile(os.path.join(root, "model.json")):
            fail(f"{root}/model.json: File not found")
    for src in sources:
        with open(os.path.expanduser(src), "rb") as f:
            if f.read(2) != b"\xff\xd8":
                fail(f"Failed to open source {src}: not an image (inference.py device double)")
    log("INFO", f"inference.py (kiln device double): network={name} "
        f"build={nn_dir} sources={' '.join(sources)}")
    # inference_loop with --no-display: one LOG.info per tracer metric
    # (default tracers: Core Temp, Host, CPU %, End-to-end).
    for title, value, unit in (("Core Temp", 41.0, "°C"), ("Host", 312.4, "fps"),
                               ("CPU %", 12.5, "%"), ("End-to-end", 298.7, "fps")):
        log("INFO", f"{title} : {value:.1f}{unit}")
    return 0


sys.exit(main())
