/*
 * deploy_programs: the test program each board runtime runs (the "run it
 * once to see that it works" step of every seed), one row per program.
 * Which board runs which is the board's row (conversion/targets.c
 * deploy_program), handed in by the server (deploy_opts.program_of), so
 * this folder names runtimes, not boards.  Each is a file the deploy runner copies next to the bundle and
 * runs as  <interpreter> <file> <bundle_dir> <model_file> <runs> [image.jpg];
 * each prints one JSON object as its last stdout line (deploy.h has the
 * contract) and sends everything else to stderr.  They are plain text kept
 * here so kilnd is one binary; tests/deploy/ runs them against device
 * doubles that honour the same runtimes' contracts.
 */
#include <string.h>

#include "deploy/deploy.h"

/* maixpy (seeds 000, 001): MaixPy's maix.nn loads the .mud;
 * [extra] model_type picks the YOLOv5 / YOLOv8 / YOLO11 decoder, type =
 * classifier the classifier, anything else runs the bare network. */
static const char MAIXPY[] =
	"# Kiln test program for MaixPy boards (maix.nn).\n"
	"# Run by kilnd: python3 kiln_test.py <bundle_dir> <model.mud> <runs> [image.jpg]\n"
	"# The last stdout line is one JSON object; everything else goes to stderr.\n"
	"import configparser, json, sys, time\n"
	"from maix import image, nn\n"
	"\n"
	"def main():\n"
	"    bundle, model, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
	"    img_path = sys.argv[4] if len(sys.argv) > 4 else None\n"
	"    mud = bundle + '/' + model\n"
	"    cfg = configparser.ConfigParser(interpolation=None, strict=False)\n"
	"    cfg.read(mud)\n"
	"    extra = dict(cfg['extra']) if cfg.has_section('extra') else {}\n"
	"    model_type = extra.get('model_type', '').strip().lower()\n"
	"    kind = extra.get('type', '').strip().lower()\n"
	"    makers = {'yolov5': nn.YOLOv5, 'yolov8': nn.YOLOv8, 'yolo11': nn.YOLO11}\n"
	"    t0 = time.time()\n"
	"    if model_type in makers:\n"
	"        net, mode = makers[model_type](model=mud, dual_buff=False), 'detector'\n"
	"    elif kind == 'classifier' or model_type == 'classifier':\n"
	"        net, mode = nn.Classifier(model=mud, dual_buff=False), 'classifier'\n"
	"    else:\n"
	"        net, mode = nn.NN(mud, dual_buff=False), 'raw'\n"
	"    load_ms = (time.time() - t0) * 1000.0\n"
	"    if img_path:\n"
	"        img = image.load(img_path, image.Format.FMT_RGB888)\n"
	"    elif mode == 'raw':\n"
	"        img = image.Image(224, 224, image.Format.FMT_RGB888)\n"
	"    else:\n"
	"        img = image.Image(net.input_width(), net.input_height(), image.Format.FMT_RGB888)\n"
	"    lat, dets, classes, outputs = [], [], [], []\n"
	"    for _ in range(runs):\n"
	"        t = time.time()\n"
	"        if mode == 'detector':\n"
	"            objs = net.detect(img, conf_th=0.5, iou_th=0.45)\n"
	"        elif mode == 'classifier':\n"
	"            res = net.classify(img)\n"
	"        else:\n"
	"            out = net.forward_image(img)\n"
	"        lat.append(round((time.time() - t) * 1000.0, 3))\n"
	"    if mode == 'detector':\n"
	"        dets = [[o.x, o.y, o.w, o.h, round(float(o.score), 4), int(o.class_id)] for o in objs]\n"
	"    elif mode == 'classifier':\n"
	"        classes = [[int(i), round(float(s), 4)] for i, s in list(res)[:5]]\n"
	"    else:\n"
	"        outputs = [{'name': k, 'shape': list(out[k].shape)} for k in out.keys()]\n"
	"    labels = list(getattr(net, 'labels', []) or [])\n"
	"    print(json.dumps({'runtime': 'maixpy', 'mode': mode, 'model_type': model_type,\n"
	"                      'load_ms': round(load_ms, 3), 'runs': runs, 'latency_ms': lat,\n"
	"                      'detections': dets, 'classes': classes, 'outputs': outputs,\n"
	"                      'labels': labels,\n"
	"                      'image': {'width': img.width(), 'height': img.height()}}))\n"
	"\n"
	"main()\n";

/* run_joint (seed 003): `run_joint model.joint --repeat N --warmup W` and its
 * "Run task took N us (K rounds for average)" line.  run_joint feeds raw
 * HWC tensors, not JPEGs, so this runner measures latency only. */
static const char RUN_JOINT[] =
	"#!/bin/sh\n"
	"# Kiln test program: run_joint (seed 003).\n"
	"# Run by kilnd: sh kiln_test.sh <bundle_dir> <model.joint> <runs> [image]\n"
	"dir=$1 model=$2 runs=$3\n"
	"log=$(run_joint \"$dir/$model\" --repeat \"$runs\" --warmup 1 2>&1)\n"
	"rc=$?\n"
	"printf '%s\\n' \"$log\" >&2\n"
	"us=$(printf '%s\\n' \"$log\" | sed -n 's/.*Run task took \\([0-9][0-9]*\\) us.*/\\1/p' | tail -n 1)\n"
	"if [ \"$rc\" -ne 0 ] || [ -z \"$us\" ]; then\n"
	"\techo \"kiln_test: run_joint exited with status $rc; no 'Run task took N us' line\" >&2\n"
	"\texit 3\n"
	"fi\n"
	"ms=$(awk \"BEGIN { printf \\\"%.3f\\\", $us / 1000 }\")\n"
	"printf '{\"runtime\":\"run_joint\",\"mode\":\"latency\",\"load_ms\":null,\"runs\":%s,"
	"\"latency_avg_ms\":%s,\"latency_ms\":[],\"detections\":[]}\\n' \"$runs\" \"$ms\"\n";

/* sscma (seed 002): `sscma-model model.cvimodel in.jpg out.jpg`, timed
 * per run from /proc/uptime (busybox has no sub-second date). */
static const char SSCMA[] =
	"#!/bin/sh\n"
	"# Kiln test program: sscma-model (seed 002).\n"
	"# Run by kilnd: sh kiln_test.sh <bundle_dir> <model.cvimodel> <runs> <image.jpg>\n"
	"dir=$1 model=$2 runs=$3 img=${4:-}\n"
	"[ -n \"$img\" ] || { echo 'kiln_test: sscma-model needs a test image' >&2; exit 2; }\n"
	"i=0 lat=''\n"
	"while [ \"$i\" -lt \"$runs\" ]; do\n"
	"\tt0=$(cut -d' ' -f1 /proc/uptime)\n"
	"\tsscma-model \"$dir/$model\" \"$img\" \"$dir/../out.jpg\" >&2 || "
	"{ echo \"kiln_test: sscma-model exited with status $?\" >&2; exit 3; }\n"
	"\tt1=$(cut -d' ' -f1 /proc/uptime)\n"
	"\tlat=\"$lat${lat:+,}$(awk \"BEGIN { printf \\\"%.0f\\\", ($t1 - $t0) * 1000 }\")\"\n"
	"\ti=$((i + 1))\n"
	"done\n"
	"printf '{\"runtime\":\"sscma-model\",\"mode\":\"latency\",\"load_ms\":null,\"runs\":%s,"
	"\"latency_ms\":[%s],\"clock\":\"proc_uptime_10ms\",\"detections\":[]}\\n' \"$runs\" \"$lat\"\n";

/* voyager (seed 004): the Voyager SDK's ./inference.py, run the way the SDK
 * takes it (axelera-ai-hub/voyager-sdk v1.2.5, commit 38c4bf07: inference.py,
 * axelera/app/config.py create_inference_argparser / _resolve_network,
 * axelera/app/yaml_parser.py; tests/toolchain-double/SOURCES.md, the
 * section on the on-device test program): the network is a name or a YAML registered
 * from ax_models/ under the working directory, never a model.json, and the
 * compiled model is found under --build-root as <net>/<model>/<cores>/.  So
 * the program runs from the unpacked bundle, which the board's recipe
 * lays out as ax_models/kiln/network.yaml + build/<name>/<name>/...; the
 * image path is made absolute first, as the cd would break a relative one.
 * Timed per run the same way as sscma-model. */
static const char VOYAGER[] =
	"#!/bin/sh\n"
	"# Kiln test program: Voyager SDK inference.py (seed 004).\n"
	"# Run by kilnd: sh kiln_test.sh <bundle_dir> <ax_models/kiln/network.yaml> <runs> <image.jpg>\n"
	"dir=$1 net=$2 runs=$3 img=${4:-}\n"
	"[ -n \"$img\" ] || { echo 'kiln_test: inference.py needs a test image' >&2; exit 2; }\n"
	"case $img in /*) ;; *) img=$PWD/$img ;; esac\n"
	"cd \"$dir\" || { echo \"kiln_test: cannot enter $dir\" >&2; exit 2; }\n"
	"i=0 lat=''\n"
	"while [ \"$i\" -lt \"$runs\" ]; do\n"
	"\tt0=$(cut -d' ' -f1 /proc/uptime)\n"
	"\tinference.py \"$net\" \"$img\" --build-root build --no-display >&2 || "
	"{ echo \"kiln_test: inference.py exited with status $?\" >&2; exit 3; }\n"
	"\tt1=$(cut -d' ' -f1 /proc/uptime)\n"
	"\tlat=\"$lat${lat:+,}$(awk \"BEGIN { printf \\\"%.0f\\\", ($t1 - $t0) * 1000 }\")\"\n"
	"\ti=$((i + 1))\n"
	"done\n"
	"printf '{\"runtime\":\"voyager\",\"mode\":\"latency\",\"load_ms\":null,\"runs\":%s,"
	"\"latency_ms\":[%s],\"clock\":\"proc_uptime_10ms\",\"detections\":[]}\\n' \"$runs\" \"$lat\"\n";

static const struct deploy_program PROGRAMS[] = {
	{"maixpy", "kiln_test.py", "python3", ".mud", 1, MAIXPY},
	{"run_joint", "kiln_test.sh", "sh", ".joint", 0, RUN_JOINT},
	{"sscma", "kiln_test.sh", "sh", ".cvimodel", 1, SSCMA},
	{"voyager", "kiln_test.sh", "sh", "ax_models/kiln/network.yaml", 1, VOYAGER},
};

const struct deploy_program *deploy_program_find(const char *id)
{
	for (size_t i = 0; i < sizeof(PROGRAMS) / sizeof(PROGRAMS[0]); i++)
		if (id && strcmp(PROGRAMS[i].id, id) == 0)
			return &PROGRAMS[i];
	return NULL;
}
