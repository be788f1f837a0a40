/*
 * targets: the table of boards and their options (see targets.h).
 *
 * Every default below names the seed (../shared/seeds) or vendor document
 * it comes from, because a default here becomes a flag on a real command
 * line.  The table is static and read-only, so any thread may read it.
 * IR/opset limits are not repeated here: each row points to its toolchain's
 * row of target_ops (the model-inspection table), its runtime's loader
 * rules and output suggestions.
 */
#include "conversion/targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion/loader_check.h"
#include "conversion/onnx.h"
#include "conversion/recipe_axera_pi.h"
#include "conversion/recipe_maixcam.h"
#include "conversion/recipe_maixcam2.h"
#include "conversion/recipe_metis.h"
#include "conversion/recipe_recamera.h"
#include "conversion/target_ops.h"
#include "runtime/toolchain.h"

static const char *const BOOLS[] = {"true", "false", NULL};
static const char *const CV181X[] = {"cv181x", NULL};
static const char *const TOOL_NAMES[] = {"py", "plain", NULL};
static const char *const CUSTOM_FORMATS[] = {"auto", "RGB_PACKED", "BGR_PACKED", "RGB_PLANAR",
					     "BGR_PLANAR", "GRAYSCALE", NULL};
static const char *const FP_TYPES[] = {"auto", "F16", "F32", "BF16", NULL};
static const char *const AX620E[] = {"AX620E", NULL};
static const char *const NPU_BUILDS[] = {"both", "npu", "vnpu", NULL};
static const char *const OUT_LAYOUTS[] = {"auto", "nhwc", "nchw", NULL};
static const char *const CSC_MODES[] = {"NoCSC", "FullRange", "LimitedRange", NULL};
/* quant.calibration_method: the config proto's enum QuantMethod { MinMax,
 * Percentile, MSE } (AXERA-TECH/pulsar2-docs-en @ 83fa86a4,
 * source/user_guides_config/config.md).  There is no KL. */
static const char *const PULSAR2_CALIB[] = {"MinMax", "Percentile", "MSE", NULL};
static const char *const VNPU_MODES[] = {"111", "0", NULL};
/* task_category: voyager-sdk v1.2.5 docs/tutorials/custom_weights.md (YOLO
 * detectors ObjectDetection, YOLOv8-Pose KeypointDetection, YOLOv8-seg
 * InstanceSegmentation), as the zoo's pose/seg networks say. */
static const char *const TASKS[] = {"auto", "ObjectDetection", "Classification",
				    "KeypointDetection", "InstanceSegmentation", NULL};
/* voyager-sdk config.py, class Metis: pcie, m2 ("none" means detect a card) */
static const char *const METIS_BOARDS[] = {"pcie", "m2", NULL};

/* MaixCAM: Sipeed's guide (seed 001) runs TPU-MLIR from the docker image,
 * so the tools carry their .py names there. */
static const struct target_option MAIXCAM_OPTS[] = {
	{"processor", TOPT_ENUM, "cv181x", CV181X, 0, 0, 0,
	 "TPU-MLIR --processor; MaixCAM and MaixCAM-Pro are SG2002 = cv181x (Sipeed's MaixCAM guide)"},
	{"bf16_model", TOPT_BOOL, "false", BOOLS, 0, 0, 0,
	 "also deploy <name>_bf16.cvimodel, as Sipeed's MaixCAM guide does; useful when INT8 loses too much"},
	{"quant_input", TOPT_BOOL, "true", BOOLS, 0, 0, 0,
	 "INT8 input so maix.nn.NN.forward_image skips a float conversion (Sipeed's MaixCAM guide)"},
	{"transform_tolerance", TOPT_NUMLIST, "0.99,0.99", NULL, -1, 1, 2,
	 "model_transform --tolerance cos,euclid: the float MLIR against ONNX (Sipeed's MaixCAM guide)"},
	{"tool_names", TOPT_ENUM, "py", TOOL_NAMES, 0, 0, 0,
	 "py: model_transform.py (docker image, Sipeed's MaixCAM guide); plain: model_transform (pip wheel)"},
};

/* reCamera: Seeed's guide (seed 002) uses the pip wheel tpu_mlir==1.7. */
static const struct target_option RECAMERA_OPTS[] = {
	{"processor", TOPT_ENUM, "cv181x", CV181X, 0, 0, 0,
	 "TPU-MLIR --processor; reCamera is SG2002 = cv181x (Seeed's reCamera guide)"},
	{"customization_format", TOPT_ENUM, "auto", CUSTOM_FORMATS, 0, 0, 0,
	 "fused-preprocess input format; auto = RGB_PACKED/BGR_PACKED/GRAYSCALE from "
	 "input.pixel_format (Seeed's reCamera guide uses RGB_PACKED for the camera's frames)"},
	{"fuse_preprocess", TOPT_BOOL, "true", BOOLS, 0, 0, 0,
	 "--fuse_preprocess --aligned_input: the NPU takes the camera frame as is (Seeed's reCamera guide)"},
	{"min_layer_cos", TOPT_NUMBER, "0.99", NULL, 0, 1, 0,
	 "run_qtable --min_layer_cos for quantize=mixed (Seeed's reCamera guide)"},
	{"expected_cos", TOPT_NUMBER, "0.999", NULL, 0, 1, 0,
	 "run_qtable --expected_cos for quantize=mixed (Seeed's reCamera guide)"},
	{"fp_type", TOPT_ENUM, NULL, FP_TYPES, 0, 0, 0,
	 "run_qtable --fp_type; unset = the tool's default (auto)"},
	{"tool_names", TOPT_ENUM, "plain", TOOL_NAMES, 0, 0, 0,
	 "plain: model_transform (pip wheel 1.7, Seeed's reCamera guide); py: model_transform.py"},
};

/* MaixCAM2: Sipeed's guide (seed 000) and its convert.sh / config.json. */
static const struct target_option MAIXCAM2_OPTS[] = {
	{"target_hardware", TOPT_ENUM, "AX620E", AX620E, 0, 0, 0,
	 "pulsar2 --target_hardware; MaixCAM2's AX630C is the AX620E platform (Sipeed's MaixCAM2 guide)"},
	{"npu_builds", TOPT_ENUM, "both", NPU_BUILDS, 0, 0, 0,
	 "both: NPU2 -> <name>_npu.axmodel and NPU1 -> <name>_vnpu.axmodel, so MaixPy can run "
	 "with or without AI-ISP (Sipeed's MaixCAM2 guide)"},
	{"precision_analysis", TOPT_BOOL, "true", BOOLS, 0, 0, 0,
	 "quant.precision_analysis: prints the per-layer cosine table Kiln reports (Sipeed's MaixCAM2 guide)"},
	{"compiler_check", TOPT_INT, "3", NULL, 0, 3, 0,
	 "compiler.check: 3 = cosine check of the outputs against tolerance (Sipeed's MaixCAM2 guide)"},
	{"output_layout", TOPT_ENUM, "auto", OUT_LAYOUTS, 0, 0, 0,
	 "auto: the layout the model_type's MaixCDK decoder reads: dst_perm [0,2,3,1] (NHWC) on "
	 "4-D outputs for yolov8/yolo11 (MaixPy maixcam2.md), none for yolov5 (its decoder "
	 "reads NCHW, maix_nn_yolov5.hpp); nhwc/nchw force it"},
	{"onnxsim", TOPT_BOOL, "true", BOOLS, 0, 0, 0,
	 "onnx_opt.enable_onnxsim: simplify the cut model inside pulsar2 (Sipeed's MaixCAM2 guide runs onnxsim "
	 "after the cut; pulsar2-docs quick_start_ax620e.md; pulsar2's default is false)"},
	{"csc_mode", TOPT_ENUM, "NoCSC", CSC_MODES, 0, 0, 0,
	 "input_processors csc_mode (Sipeed's MaixCAM2 guide)"},
};

/* AXera-Pi: Sipeed's guide (seed 003), legacy pulsar in sipeed/pulsar. */
static const struct target_option AXERA_PI_OPTS[] = {
	{"virtual_npu", TOPT_ENUM, "111", VNPU_MODES, 0, 0, 0,
	 "ax620_virtual_npu: 111 shares the NPU with AI-ISP, which the camera turns on; "
	 "0 = whole NPU (no camera).  112 is reserved for AI-ISP and never offered (Sipeed's AXera-Pi guide)"},
	{"optimize_slim_model", TOPT_BOOL, "true", BOOLS, 0, 0, 0,
	 "cpu_backend_settings.axe_setting.axe_param.optimize_slim_model (Sipeed's AXera-Pi guide)"},
	{"similarity_check", TOPT_BOOL, "true", BOOLS, 0, 0, 0,
	 "run `pulsar run` against the ONNX with the test image for the cosine figure (Sipeed's AXera-Pi guide)"},
};

/* Metis: Voyager SDK v1.2.5 deploy.py with a network YAML (recipe_metis.c). */
static const struct target_option METIS_OPTS[] = {
	{"aipu_cores", TOPT_INT, "1", NULL, 1, 4, 0,
	 "deploy.py --aipu-cores (choices 1-4, config.py); the build tree's <cores>/ directory"},
	{"task_category", TOPT_ENUM, "auto", TASKS, 0, 0, 0,
	 "network YAML task_category; auto = from mud.model_type and mud.type (yolo* -> "
	 "ObjectDetection, pose -> KeypointDetection, seg -> InstanceSegmentation)"},
	{"confidence_threshold", TOPT_NUMBER, "0.25", NULL, 0, 1, 0,
	 "decodeyolo conf_threshold (the SDK's YOLO pipelines use 0.25)"},
	{"nms_iou_threshold", TOPT_NUMBER, "0.45", NULL, 0, 1, 0,
	 "decodeyolo nms_iou_threshold (the SDK's YOLO pipelines use 0.45)"},
	{"metis", TOPT_ENUM, "pcie", METIS_BOARDS, 0, 0, 0,
	 "deploy.py --metis: the board type; without it deploy.py looks for a Metis card in "
	 "the build machine and fails with \"No devices found\" (device_manager.py)"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct target TABLE[] = {
	{"maixcam", "Sipeed MaixCAM / MaixCAM-Pro (SG2002)", "tpu-mlir", "cv181x",
	 "001", TQ_INT8 | TQ_BF16, "int8", 200, NULL, NULL, "0.9,0.6", "mud", "cvimodel", 1,
	 MAIXCAM_OPTS, N(MAIXCAM_OPTS),
	 "MaixCAM", "maixpy", recipe_maixcam_plan, "maixcam/2",
	 &TARGET_OPS_TPU_MLIR, LOADER_MAIXCDK, SUGGEST_MAIXCAM, 1, TARGET_PERM_NONE, NULL},
	{"recamera", "Seeed reCamera (SG2002)", "tpu-mlir", "cv181x",
	 "002", TQ_INT8 | TQ_BF16 | TQ_F16 | TQ_MIXED, "int8", 100, NULL, NULL, NULL, "mud",
	 "cvimodel", 1, RECAMERA_OPTS, N(RECAMERA_OPTS),
	 "reCamera", "sscma", recipe_recamera_plan, "recamera/2",
	 &TARGET_OPS_TPU_MLIR_17, LOADER_RECAMERA, SUGGEST_RECAMERA, 0, TARGET_PERM_NONE, NULL},
	{"maixcam2", "Sipeed MaixCAM2 (AX630C, AX620E platform)", "pulsar2", "AX620E",
	 "000", TQ_INT8, "int8", 64, PULSAR2_CALIB, "MinMax", "0.9", "mud", "axmodel", 0,
	 MAIXCAM2_OPTS, N(MAIXCAM2_OPTS),
	 "MaixCAM2", "maixpy", recipe_maixcam2_plan, "maixcam2/2",
	 &TARGET_OPS_PULSAR2_AX620E, LOADER_MAIXCDK, SUGGEST_MAIXCAM2, 1, TARGET_PERM_OPTION, NULL},
	{"axera-pi", "Sipeed Maix-III AXera-Pi (AX620A)", "pulsar", "AX620",
	 "003", TQ_INT8, "int8", 256, NULL, NULL, NULL, "joint", NULL, 0,
	 AXERA_PI_OPTS, N(AXERA_PI_OPTS),
	 "AXera-Pi", "run_joint", recipe_axera_pi_plan, "axera-pi/2",
	 &TARGET_OPS_PULSAR_AX620A, LOADER_AXERA_PI, SUGGEST_AXERA_PI, 0, TARGET_PERM_ALWAYS, NULL},
	{"metis", "Axelera Metis AIPU", "voyager", "metis",
	 "004", TQ_INT8, "int8", 200, NULL, NULL, NULL, "network.yaml", NULL, 0,
	 METIS_OPTS, N(METIS_OPTS),
	 "Axelera Metis", "voyager", recipe_metis_plan, "metis/3",
	 &TARGET_OPS_VOYAGER, LOADER_METIS, SUGGEST_METIS, 0, TARGET_PERM_NONE, recipe_metis_check},
};

const struct target *targets_table(size_t *n)
{
	*n = N(TABLE);
	return TABLE;
}

const struct target *targets_find(const char *id)
{
	if (id == NULL)
		return NULL;
	for (size_t i = 0; i < N(TABLE); i++)
		if (strcmp(TABLE[i].id, id) == 0)
			return &TABLE[i];
	return NULL;
}

const struct target_option *target_option_find(const struct target *t, const char *key)
{
	for (size_t i = 0; t && key && i < t->n_options; i++)
		if (strcmp(t->options[i].key, key) == 0)
			return &t->options[i];
	return NULL;
}

static const struct {
	const char *name;
	unsigned bit;
} QUANTS[] = {{"int8", TQ_INT8}, {"bf16", TQ_BF16}, {"f16", TQ_F16}, {"mixed", TQ_MIXED}};

unsigned targets_quant_bit(const char *quantize)
{
	for (size_t i = 0; quantize && i < N(QUANTS); i++)
		if (strcmp(QUANTS[i].name, quantize) == 0)
			return QUANTS[i].bit;
	return 0;
}

int targets_quantize_ok(const struct target *t, const char *quantize)
{
	unsigned b = targets_quant_bit(quantize);
	return t && b && (t->quantize & b);
}

void targets_ids_text(char *buf, size_t cap)
{
	size_t off = 0;
	if (cap == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < N(TABLE) && off < cap; i++) {
		int k = snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", TABLE[i].id);
		if (k < 0)
			break;
		off += (size_t)k;
	}
}

static const char *type_name(enum target_opt_type t)
{
	static const char *const names[] = {"boolean", "enum", "integer", "number", "numbers"};
	return names[t];
}

/* A default as JSON of the option's own type, so the dashboard can put it
 * straight into a form field. */
static cJSON *typed_default(const struct target_option *o)
{
	if (o->def == NULL)
		return cJSON_CreateNull();
	switch (o->type) {
	case TOPT_BOOL:
		return cJSON_CreateBool(strcmp(o->def, "true") == 0);
	case TOPT_INT:
	case TOPT_NUMBER: {
		double v = 0;
		sscanf(o->def, "%lf", &v);
		return cJSON_CreateNumber(v);
	}
	case TOPT_NUMLIST: {
		cJSON *a = cJSON_CreateArray();
		const char *p = o->def;
		while (a && *p) {
			char *end;
			double v = strtod(p, &end);
			if (end == p)
				break;
			cJSON_AddItemToArray(a, cJSON_CreateNumber(v));
			p = *end == ',' ? end + 1 : end;
		}
		return a;
	}
	case TOPT_ENUM:
	default:
		return cJSON_CreateString(o->def);
	}
}

static cJSON *strings(const char *const *v)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && v && v[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static cJSON *target_json(const struct target *t)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "id", t->id);
	cJSON_AddStringToObject(o, "name", t->name);
	cJSON_AddStringToObject(o, "label", t->label);
	cJSON_AddStringToObject(o, "toolchain", t->toolchain);
	cJSON_AddStringToObject(o, "hardware", t->hardware);
	cJSON_AddStringToObject(o, "seed", t->seed);
	cJSON *q = cJSON_AddObjectToObject(o, "quantize");
	if (q) {
		cJSON_AddStringToObject(q, "default", t->default_quantize);
		cJSON *a = cJSON_AddArrayToObject(q, "allowed");
		for (size_t i = 0; a && i < N(QUANTS); i++)
			if (t->quantize & QUANTS[i].bit)
				cJSON_AddItemToArray(a, cJSON_CreateString(QUANTS[i].name));
	}
	cJSON *c = cJSON_AddObjectToObject(o, "calibration");
	if (c) {
		cJSON_AddNumberToObject(c, "count", t->default_calib_count);
		cJSON_AddItemToObject(c, "methods", strings(t->calib_methods));
		if (t->default_calib_method)
			cJSON_AddStringToObject(c, "default_method", t->default_calib_method);
		else
			cJSON_AddNullToObject(c, "default_method");
	}
	if (t->default_tolerance)
		cJSON_AddStringToObject(o, "tolerance", t->default_tolerance);
	else
		cJSON_AddNullToObject(o, "tolerance");
	/* how many figures the tolerance takes: the toolchain's row (2: cosine
	 * and euclidean for TPU-MLIR, 1: cosine) */
	const struct toolchain *tc = toolchain_find(t->toolchain);
	cJSON_AddNumberToObject(o, "tolerance_values", tc ? tc->tolerance_values : 1);
	cJSON_AddStringToObject(o, "bundle", t->bundle);
	if (t->mud_type)
		cJSON_AddStringToObject(o, "mud_type", t->mud_type);
	else
		cJSON_AddNullToObject(o, "mud_type");
	cJSON_AddBoolToObject(o, "cuts_outputs_itself", t->multi_output_cut);
	const struct target_ops *ops = t->ops;
	cJSON *l = cJSON_AddObjectToObject(o, "limits");
	if (l && ops) {
		cJSON_AddNumberToObject(l, "max_ir", ops->max_ir);
		cJSON_AddNumberToObject(l, "min_opset", ops->min_opset);
		cJSON_AddNumberToObject(l, "max_opset", ops->max_opset);
		cJSON_AddBoolToObject(l, "static_shape", ops->static_shape);
	}
	cJSON *opts = cJSON_AddArrayToObject(o, "options");
	for (size_t i = 0; opts && i < t->n_options; i++) {
		const struct target_option *op = &t->options[i];
		cJSON *x = cJSON_CreateObject();
		if (x == NULL)
			break;
		cJSON_AddStringToObject(x, "key", op->key);
		cJSON_AddStringToObject(x, "type", type_name(op->type));
		cJSON_AddItemToObject(x, "default", typed_default(op));
		if (op->type == TOPT_ENUM)
			cJSON_AddItemToObject(x, "allowed", strings(op->allowed));
		if (op->type == TOPT_INT || op->type == TOPT_NUMBER || op->type == TOPT_NUMLIST) {
			cJSON_AddNumberToObject(x, "min", op->min);
			cJSON_AddNumberToObject(x, "max", op->max);
		}
		if (op->type == TOPT_NUMLIST)
			cJSON_AddNumberToObject(x, "max_items", op->max_items);
		cJSON_AddStringToObject(x, "help", op->help);
		cJSON_AddItemToArray(opts, x);
	}
	return o;
}

const char *targets_deploy_program(const char *id)
{
	const struct target *t = targets_find(id);
	return t ? t->deploy_program : NULL;
}

cJSON *targets_json(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = o ? cJSON_AddArrayToObject(o, "targets") : NULL;
	if (a == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	for (size_t i = 0; i < N(TABLE); i++) {
		cJSON *t = target_json(&TABLE[i]);
		if (t == NULL) {
			cJSON_Delete(o);
			return NULL;
		}
		cJSON_AddItemToArray(a, t);
	}
	return o;
}
