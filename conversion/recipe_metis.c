/*
 * recipe_metis: the Axelera Metis flow as a plan, held to the Voyager SDK's
 * own code (axelera-ai-hub/voyager-sdk, release v1.2.5, commit 38c4bf07;
 * every fact below is listed with its file in tests/toolchain-double/
 * SOURCES.md, "Metis / Voyager SDK").
 *
 * The plan writes a network YAML and the class names, puts the YAML where
 * deploy.py finds networks, and runs
 *   deploy.py ax_models/kiln/network.yaml --build-root build --data-root .
 *     --model <name> --mode QUANTCOMPILE --metis pcie|m2 --aipu-cores N
 *     --num-cal-images K
 * which writes build/<name>/<name>/{model_info.json, quantized/, <N>/
 * {model.json, manifest.json, compile_config.json}}.  The bundle keeps the
 * YAML, the class names and that build tree at the same relative paths, so
 * `inference.py ax_models/kiln/network.yaml <source> --build-root build` run
 * in the bundle's directory finds everything.
 *
 * Why it is written the way it is (the SDK's rules, not seed 004's
 * "simplified" model.json, which describes a later SDK and no file format):
 *   - deploy.py takes a network name or a YAML path that yaml_parser.py
 *     registered: only files under ax_models/ (relative to the working
 *     directory, paths containing zoo/reference/tutorials/customers/
 *     model_cards skipped) or the SDK's own folders.  Plan files are flat,
 *     so a step installs network.yaml as ax_models/kiln/network.yaml; the
 *     file name is fixed, so no job name can fall into a skipped path.
 *   - models.<name> takes only the keys _provisional_model_info_from_yaml
 *     pops (network.py); pre/post-processing belong to the pipeline task,
 *     with the SDK's operator names (letterbox, resize, torch-totensor,
 *     normalize, topk; decodeyolo registered from ax_models/decoders/yolo.py
 *     in the top-level operators: section, as ax_models/reference/cascade/
 *     yolov8n-yolov8s.yaml does).  pipeline: null would need a model class
 *     with override_preprocess, which AxONNXModel lacks.
 *   - paths in the YAML are relative to the YAML's directory (utils.py
 *     make_paths_in_dict_absolute), hence "../../".
 *   - deploy.py builds for min(--aipu-cores, extra_kwargs.max_compiler_cores)
 *     cores, the latter 1 unless set (network.py, environ.py): it is set.
 *   - YOLOv5's decodeyolo needs extra_kwargs.YOLO.anchors, rows of 6 pixel
 *     values per level (decoders/yolo.py, base_onnx.py divides by strides).
 *   - without a Metis card in the build machine, --metis must name the board
 *     type or device_manager.py fails with "No devices found".
 *   - --num-cal-images is range-checked to 2..2000 (config.py).
 * deploy.py prints no accuracy or similarity figure, so the step has no
 * log parser and the job reports none.
 *
 * Every string from user input (job name, labels) is written as a YAML
 * double-quoted scalar with YAML's escapes, so `null`, `yes`, `0x1F` or
 * `a: b` read back as those strings under PyYAML's SafeLoader, which the SDK
 * uses (axelera/app/yaml.py).
 */
#include "conversion/recipe_metis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/strbuf.h"

#define T_DEPLOY 10800   /* quantising 200 images on a plain CPU, then compiling */
#define T_INSTALL 60
#define NET_DIR "ax_models/kiln"
#define NET_FILE "network.yaml"
#define LABELS_FILE "labels.yaml"
#define UP "../../"      /* from NET_DIR back to the workspace */
#define MAX_ANCHOR_ROWS 5   /* base_onnx.py: default strides 8, 16, 32, 64, 128 */

#define YS(b, lit) strbuf_add((b), (lit), sizeof(lit) - 1)

/* Decodes one UTF-8 sequence at p (valid: spec.c checked it); *len gets
 * its length. */
static unsigned long utf8_cp(const unsigned char *p, int *len)
{
	if (p[0] < 0x80) {
		*len = 1;
		return p[0];
	}
	if ((p[0] >> 5) == 6) {
		*len = 2;
		return ((unsigned long)(p[0] & 0x1f) << 6) | (p[1] & 0x3f);
	}
	if ((p[0] >> 4) == 14) {
		*len = 3;
		return ((unsigned long)(p[0] & 0x0f) << 12) | ((unsigned long)(p[1] & 0x3f) << 6) |
		       (p[2] & 0x3f);
	}
	*len = 4;
	return ((unsigned long)(p[0] & 0x07) << 18) | ((unsigned long)(p[1] & 0x3f) << 12) |
	       ((unsigned long)(p[2] & 0x3f) << 6) | (p[3] & 0x3f);
}

/* A YAML double-quoted scalar (YAML 1.1 section 5.7 escapes, which PyYAML
 * reads): '"' and '\' escaped; C0 controls, DEL and the C1 range as \xNN
 * (PyYAML's reader refuses them raw); NEL, LS and PS as escapes because raw
 * they are line breaks that a double-quoted scalar would fold; the BOM and
 * the noncharacters U+FFFE/U+FFFF likewise.  Anything else is kept as is. */
static void yquote(struct strbuf *b, const char *s)
{
	YS(b, "\"");
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int len;
		unsigned long cp = utf8_cp(p, &len);
		char esc[16];
		if (cp == '"' || cp == '\\') {
			esc[0] = '\\';
			esc[1] = (char)cp;
			strbuf_add(b, esc, 2);
		} else if (cp == '\n') {
			YS(b, "\\n");
		} else if (cp == '\t') {
			YS(b, "\\t");
		} else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			snprintf(esc, sizeof(esc), "\\x%02lX", cp);
			strbuf_add(b, esc, 4);
		} else if (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe ||
			   cp == 0xffff) {
			snprintf(esc, sizeof(esc), "\\u%04lX", cp);
			strbuf_add(b, esc, 6);
		} else {
			strbuf_add(b, (const char *)p, (size_t)len);
		}
		p += len;
	}
	YS(b, "\"");
}

/* --- the network --------------------------------------------------------------- */

/* The network's task, its task_category and its decoder (voyager-sdk
 * v1.2.5: ax_models/zoo/yolo/object_detection/yolov8n-coco-onnx.yaml,
 * keypoint_detection/yolov8npose-coco-onnx.yaml,
 * instance_segmentation/yolov8nseg-coco-onnx.yaml; the decoders'
 * classes in ax_models/decoders/{yolo,yolopose,yoloseg}.py). */
enum task { TASK_DETECT, TASK_CLASSIFY, TASK_POSE, TASK_SEG };
static const struct {
	const char *category, *decoder, *cls, *file;
} TASKS[] = {
	[TASK_DETECT] = {"ObjectDetection", "decodeyolo", "DecodeYolo", "yolo.py"},
	[TASK_CLASSIFY] = {"Classification", NULL, NULL, NULL},
	[TASK_POSE] = {"KeypointDetection", "decodeyolopose", "DecodeYoloPose", "yolopose.py"},
	[TASK_SEG] = {"InstanceSegmentation", "decodeyoloseg", "DecodeYoloSeg", "yoloseg.py"},
};

static int task_of(const struct job_spec *s, enum task *t, struct kiln_err *err)
{
	const char *opt = spec_opt(s, "task_category");
	int yolo = strcmp(s->model_type, "yolov5") == 0 || strcmp(s->model_type, "yolov8") == 0 ||
		   strcmp(s->model_type, "yolo11") == 0;
	int yolo8 = yolo && strcmp(s->model_type, "yolov5") != 0;
	int pose = strcmp(s->mud_type, "pose") == 0, seg = strcmp(s->mud_type, "seg") == 0;
	if (s->mud_type[0] && !pose && !seg && strcmp(s->mud_type, "detector") != 0)
		return kiln_errf(err, KILN_EUNPROC, "mud.type",
				 "metis: voyager-sdk v1.2.5 has no decoder for mud.type '%s' "
				 "(ax_models/decoders/ holds retinaface, rtmdet, ssd, yolo, yolopose, "
				 "yoloseg): use detector, pose or seg", s->mud_type);
	if ((pose || seg) && !yolo8)
		return kiln_errf(err, KILN_EINVAL, "mud.model_type",
				 "metis: the SDK's %s decoder is the YOLOv8 one (its zoo has "
				 "yolov8*-pose/-seg networks only): mud.model_type must be yolov8 or "
				 "yolo11 (got '%s')", pose ? "pose" : "seg", s->model_type);
	enum task want = pose ? TASK_POSE : seg ? TASK_SEG : yolo ? TASK_DETECT : TASK_CLASSIFY;
	int known = yolo || strcmp(s->model_type, "classifier") == 0;
	if (opt && strcmp(opt, "auto") != 0) {
		enum task k = TASK_DETECT;
		while (strcmp(TASKS[k].category, opt) != 0)
			k++;   /* the option's enum is these categories */
		if (k != TASK_CLASSIFY && !yolo)
			return kiln_errf(err, KILN_EINVAL, "mud.model_type",
					 "metis: %s is written with the SDK's %s, so mud.model_type "
					 "must be %s (got '%s')", opt, TASKS[k].decoder,
					 k == TASK_DETECT ? "yolov5, yolov8 or yolo11" : "yolov8 or yolo11",
					 s->model_type);
		if (k != TASK_CLASSIFY && yolo && k != want)
			return kiln_errf(err, KILN_EINVAL, "target_options.task_category",
					 "metis: target_options.task_category %s contradicts mud.type "
					 "'%s' (%s)", opt, s->mud_type[0] ? s->mud_type : "detector",
					 TASKS[want].category);
		*t = k;
		return 0;
	}
	if (known) {
		*t = want;
		return 0;
	}
	return kiln_errf(err, KILN_EINVAL, "target_options.task_category",
			 "metis needs the task: set target_options.task_category "
			 "(ObjectDetection, Classification, KeypointDetection, InstanceSegmentation) "
			 "or mud.model_type (yolov5, yolov8, yolo11, classifier)");
}

/* "0.485, 0.456, 0.406": Normalize's mean/std are strings (operators/
 * preprocessing.py, `mean: str = '0'`), in [0, 1] units after
 * torch-totensor's scaling. */
static void list_text(const double *v, int n, char *buf, size_t cap)
{
	spec_fmt_list(v, (size_t)n, ", ", buf, cap);
}

static void preprocess(struct strbuf *b, const struct job_spec *s, int64_t w, int64_t h)
{
	int nhwc = strcmp(s->layout, "nhwc") == 0;
	YS(b, "      preprocess:\n");
	if (s->keep_aspect_ratio)
		strbuf_printf(b, "        - letterbox:\n            width: %lld\n            height: %lld\n"
			   "            scaleup: true\n", (long long)w, (long long)h);
	else
		strbuf_printf(b, "        - resize:\n            width: %lld\n            height: %lld\n",
			(long long)w, (long long)h);
	if (nhwc)
		YS(b, "        - torch-totensor:\n            output_layout: NHWC\n");
	else
		YS(b, "        - torch-totensor:\n");
	double m[SPEC_MAX_CH], sd[SPEC_MAX_CH];
	int identity = 1;
	for (int i = 0; i < s->n_ch; i++) {
		m[i] = recipe_tidy(s->mean[i] / 255);
		sd[i] = recipe_tidy(s->std[i] / 255);
		identity &= m[i] == 0 && sd[i] == 1;
	}
	if (identity)
		return;  /* YOLO's 0/255: torch-totensor's /255 is all of it */
	char mean[256], std[256];
	list_text(m, s->n_ch, mean, sizeof(mean));
	list_text(sd, s->n_ch, std, sizeof(std));
	YS(b, "        - normalize:\n            mean: ");
	yquote(b, mean);
	YS(b, "\n            std: ");
	yquote(b, std);
	YS(b, "\n");
	if (nhwc)
		YS(b, "            tensor_layout: NHWC\n");
}

static void postprocess(struct strbuf *b, const struct job_spec *s, enum task t)
{
	if (t == TASK_CLASSIFY) {
		YS(b, "      postprocess:\n        - topk:\n            k: 1\n");
		return;
	}
	char conf[40], iou[40];
	spec_fmt_number(spec_opt_num(s, "confidence_threshold"), conf, sizeof(conf));
	spec_fmt_number(spec_opt_num(s, "nms_iou_threshold"), iou, sizeof(iou));
	/* The decoders' fields (decoders/yolo.py, yolopose.py, yoloseg.py);
	 * box_format and normalized_coord have no default there and must be
	 * given.  Pose decodes one class (yolopose.py passes classes:1), so
	 * NMS is class-agnostic there and takes no multi-label switch. */
	strbuf_printf(b, "      postprocess:\n        - %s:\n"
		   "            box_format: xywh\n            normalized_coord: false\n"
		   "            max_nms_boxes: 30000\n            conf_threshold: %s\n"
		   "            nms_iou_threshold: %s\n", TASKS[t].decoder, conf, iou);
	if (t == TASK_POSE)
		YS(b, "            nms_top_k: 300\n");
	else
		YS(b, "            nms_class_agnostic: false\n            nms_top_k: 300\n"
		      "            use_multi_label: false\n");
}

/* extra_kwargs: max_compiler_cores, because deploy.py compiles for
 * min(--aipu-cores, max_compiler_cores) cores and the SDK's default for the
 * latter is 1 (network.py determine_deploy_cores, environ.py): without it
 * --aipu-cores 4 would still build into 1/.  YOLO.anchors for YOLOv5. */
static void extra_kwargs(struct strbuf *b, const struct job_spec *s, enum task t)
{
	strbuf_printf(b, "    extra_kwargs:\n      max_compiler_cores: %s\n", spec_opt(s, "aipu_cores"));
	if (t != TASK_DETECT || strcmp(s->model_type, "yolov5") != 0)
		return;
	YS(b, "      YOLO:\n        anchors:\n");
	for (size_t r = 0; r < s->n_anchors / 6; r++) {
		char row[256];
		spec_fmt_list(s->anchors + r * 6, 6, ", ", row, sizeof(row));
		strbuf_printf(b, "          - [%s]\n", row);
	}
}

static char *network_yaml(const struct recipe_ctx *c, enum task t)
{
	const struct job_spec *s = c->s;
	int nhwc = strcmp(s->layout, "nhwc") == 0;
	int64_t h = s->shape[nhwc ? 1 : 2], w = s->shape[nhwc ? 2 : 3];
	char shape[160] = "";
	for (int i = 0; i < s->rank; i++)
		snprintf(shape + strlen(shape), sizeof(shape) - strlen(shape), "%s%lld",
			 i ? ", " : "", (long long)s->shape[i]);
	const char *color = strcmp(s->pixel_format, "bgr") == 0 ? "BGR"
			    : strcmp(s->pixel_format, "gray") == 0 ? "GRAY" : "RGB";
	struct strbuf b = {0};
	YS(&b, "# Written by Kiln: the Voyager SDK network of one job (voyager-sdk v1.2.5\n"
		  "# network.py, pipeline.py; see tests/toolchain-double/SOURCES.md).\n");
	YS(&b, "axelera-model-format: 1.0.0\nname: ");
	yquote(&b, s->name);
	YS(&b, "\ndescription: ");
	char desc[96];
	snprintf(desc, sizeof(desc), "%s, converted by Kiln", s->name);
	yquote(&b, desc);
	YS(&b, "\npipeline:\n  - ");
	yquote(&b, s->name);
	YS(&b, ":\n      model_name: ");
	yquote(&b, s->name);
	YS(&b, "\n      input:\n        type: image\n");
	preprocess(&b, s, w, h);
	postprocess(&b, s, t);
	if (TASKS[t].decoder)
		strbuf_printf(&b, "operators:\n  %s:\n    class: %s\n"
			      "    class_path: $AXELERA_FRAMEWORK/ax_models/decoders/%s\n",
			      TASKS[t].decoder, TASKS[t].cls, TASKS[t].file);
	YS(&b, "models:\n  ");
	yquote(&b, s->name);
	YS(&b, ":\n    class: AxONNXModel\n"
		  "    class_path: $AXELERA_FRAMEWORK/ax_models/base_onnx.py\n    weight_path: ");
	char wp[300];
	snprintf(wp, sizeof(wp), UP "%s", c->paths->model);
	yquote(&b, wp);
	strbuf_printf(&b, "\n    task_category: %s\n    input_tensor_layout: %s\n"
		    "    input_tensor_shape: [%s]\n    input_color_format: %s\n",
		TASKS[t].category, nhwc ? "NHWC" : "NCHW",
		shape, color);
	if (s->n_labels)
		strbuf_printf(&b, "    num_classes: %zu\n", s->n_labels);
	YS(&b, "    dataset: calibration\n");
	extra_kwargs(&b, s, t);
	YS(&b, "datasets:\n  calibration:\n    class: DataAdapter\n    repr_imgs_dir_path: ");
	char rp[300];
	snprintf(rp, sizeof(rp), UP "%s", c->paths->images_dir);
	yquote(&b, rp);
	YS(&b, "\n");
	if (s->n_labels)
		YS(&b, "    labels_path: \"" UP LABELS_FILE "\"\n");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* utils.load_labels reads a .yaml labels file as its `names:` list. */
static char *labels_yaml(const struct job_spec *s)
{
	struct strbuf b = {0};
	YS(&b, "# Written by Kiln: class names, in class-id order (Voyager SDK utils.load_labels)\n"
		  "names:\n");
	for (size_t i = 0; i < s->n_labels; i++) {
		YS(&b, "  - ");
		yquote(&b, s->labels[i]);
		YS(&b, "\n");
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

static int check_spec(const struct job_spec *s, enum task t, struct kiln_err *err)
{
	if (s->rank != 4)
		return kiln_errf(err, KILN_EINVAL, "input.shape", "metis takes an image input "
				 "[N, C, H, W]; input.shape has %d dims", s->rank);
	if ((t == TASK_DETECT || t == TASK_SEG) && s->n_labels == 0)
		return kiln_errf(err, KILN_EINVAL, "mud.labels", "mud.labels (the class names) is "
				 "required on metis for a %s: %s needs the class count",
				 t == TASK_SEG ? "segmenter" : "detector", TASKS[t].decoder);
	if (t == TASK_POSE && s->n_labels > 1)
		return kiln_errf(err, KILN_EINVAL, "mud.labels", "metis: decodeyolopose decodes one "
				 "class (classes:1, ax_models/decoders/yolopose.py); mud.labels has "
				 "%zu names: give one", s->n_labels);
	if (t == TASK_DETECT && strcmp(s->model_type, "yolov5") == 0 &&
	    (s->n_anchors == 0 || s->n_anchors % 6 != 0 || s->n_anchors / 6 > MAX_ANCHOR_ROWS))
		return kiln_errf(err, KILN_EINVAL, "mud.anchors",
				 "metis: the SDK's YOLOv5 decoder needs mud.anchors, 6 numbers (3 "
				 "w,h pairs in pixels) per output level, e.g. 10,13,16,30,33,23, "
				 "30,61,62,45,59,119, 116,90,156,198,373,326; got %zu numbers "
				 "(\"Missing YOLO/anchors in extra_kwargs\", decoders/yolo.py)",
				 s->n_anchors);
	if (s->calib_count < 2 || s->calib_count > 2000)
		return kiln_errf(err, KILN_EINVAL, "calibration.count",
				 "metis: deploy.py takes --num-cal-images 2 to 2000 (config.py), so "
				 "the dataset needs at least 2 images; this job would calibrate on %d",
				 s->calib_count);
	return 0;
}

int recipe_metis_check(const struct job_spec *s, struct kiln_err *err)
{
	enum task t;
	int rc = task_of(s, &t, err);
	return rc != 0 ? rc : check_spec(s, t, err);
}

int recipe_metis_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	enum task t;
	int rc = task_of(s, &t, err);
	if (rc == 0)
		rc = check_spec(s, t, err);
	if (rc != 0)
		return rc;
	rc = recipe_file(out, NET_FILE, network_yaml(c, t), err);
	if (rc == 0 && s->n_labels)
		rc = recipe_file(out, LABELS_FILE, labels_yaml(s), err);
	if (rc != 0)
		return rc;

	const char *net = NET_DIR "/" NET_FILE;
	struct recipe_argv a = {0};
	recipe_argv_add(&a, "install");
	recipe_argv_add(&a, "-D");
	recipe_argv_add(&a, "-m");
	recipe_argv_add(&a, "0644");
	recipe_argv_add(&a, NET_FILE);
	recipe_argv_add(&a, net);
	const char *nouts[] = {net, NULL};
	struct recipe_step_def n = {"network", &a, "voyager", T_INSTALL, nouts, 0.1, "none"};
	rc = recipe_step(out, &n, err);
	recipe_argv_free(&a);
	if (rc != 0)
		return rc;

	const char *cores = spec_opt(s, "aipu_cores");
	char mdir[160], cdir[176], info[192], mj[208], mf[208], cc[208];
	snprintf(mdir, sizeof(mdir), "build/%s/%s", s->name, s->name);
	snprintf(cdir, sizeof(cdir), "%s/%s", mdir, cores);
	snprintf(info, sizeof(info), "%s/model_info.json", mdir);
	snprintf(mj, sizeof(mj), "%s/model.json", cdir);
	snprintf(mf, sizeof(mf), "%s/manifest.json", cdir);
	snprintf(cc, sizeof(cc), "%s/compile_config.json", cdir);
	recipe_argv_add(&a, "deploy.py");
	recipe_argv_add(&a, net);
	recipe_argv_add(&a, "--build-root");
	recipe_argv_add(&a, "build");
	recipe_argv_add(&a, "--data-root");
	recipe_argv_add(&a, ".");
	recipe_argv_add(&a, "--model");
	recipe_argv_add(&a, s->name);
	recipe_argv_add(&a, "--mode");
	recipe_argv_add(&a, "QUANTCOMPILE");
	recipe_argv_add(&a, "--metis");
	recipe_argv_add(&a, spec_opt(s, "metis"));
	recipe_argv_add(&a, "--aipu-cores");
	recipe_argv_add(&a, cores);
	recipe_argv_add(&a, "--num-cal-images");
	recipe_argv_addf(&a, "%d", s->calib_count);
	const char *outs[] = {mj, mf, cc, info, NULL};
	/* deploy.py reports no accuracy or similarity figure: no parser. */
	struct recipe_step_def d = {"deploy", &a, "voyager", T_DEPLOY, outs, 8, "none"};
	rc = recipe_step(out, &d, err);
	recipe_argv_free(&a);
	if (rc == 0)
		rc = recipe_bundle(out, net, net, NULL, err);
	if (rc == 0 && s->n_labels)
		rc = recipe_bundle(out, LABELS_FILE, LABELS_FILE, NULL, err);
	for (size_t i = 0; rc == 0 && outs[i]; i++)
		rc = recipe_bundle(out, outs[i], outs[i], NULL, err);
	return rc;
}
