/*
 * recipe_maixcam2: Sipeed's MaixCAM2 conversion (seed 000; its config.json
 * and convert.sh are MaixPy's docs/doc/zh/ai_model_converter/maixcam2.md,
 * which the English seed abbreviates to "same as original").
 *
 * One Pulsar2 config per NPU mode (the seed's convert.sh copies the config
 * and seds npu_mode and calibration_size), then `pulsar2 build
 * --target_hardware AX620E --input --output_dir --config` for each:
 * NPU2 (whole NPU) -> <name>_npu.axmodel, NPU1 (NPU shared with AI-ISP)
 * -> <name>_vnpu.axmodel.  The ONNX is the model already cut at the outputs
 * (the seed's extract_onnx.py; here recipe_needs_cut + onnx_cut_file).
 */
#include "conversion/recipe_maixcam2.h"

#include "conversion/loader_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pulsar2 build of a yolo11n with 100 calibration images takes ~5 min
 * on a laptop CPU; precision analysis doubles it. */
#define T_BUILD 7200

static const char *upper_format(const char *pf)
{
	return strcmp(pf, "bgr") == 0 ? "BGR" : strcmp(pf, "gray") == 0 ? "GRAY" : "RGB";
}

static cJSON *numbers(const double *v, int n, int tidy)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(tidy ? recipe_tidy(v[i]) : v[i]));
	return a;
}

/* The config of seed 000, keys in its order. */
static char *config_json(const struct recipe_ctx *c, const char *npu_mode)
{
	const struct job_spec *s = c->s;
	const char *tensor = s->input_name ? s->input_name : "DEFAULT";
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "model_type", "ONNX");
	cJSON_AddStringToObject(o, "npu_mode", npu_mode);
	/* Seed 000 runs onnxsim on the cut model before pulsar2; Kiln's cut
	 * is not simplified, so pulsar2 does it: onnx_opt.enable_onnxsim
	 * (OnnxOptimizeOption, default false) is the flag pulsar2-docs-en
	 * user_guides_quick/quick_start_ax620e.md tells to set when the model
	 * was not simplified first (AXERA-TECH/pulsar2-docs-en @ 83fa86a4,
	 * user_guides_config/config.md). */
	if (spec_opt_bool(s, "onnxsim")) {
		cJSON *oo = cJSON_AddObjectToObject(o, "onnx_opt");
		cJSON_AddBoolToObject(oo, "enable_onnxsim", 1);
	}
	cJSON *q = cJSON_AddObjectToObject(o, "quant");
	cJSON *ics = cJSON_AddArrayToObject(q, "input_configs");
	cJSON *ic = cJSON_CreateObject();
	cJSON_AddItemToArray(ics, ic);
	cJSON_AddStringToObject(ic, "tensor_name", tensor);
	cJSON_AddStringToObject(ic, "calibration_dataset", c->paths->images_tar);
	cJSON_AddNumberToObject(ic, "calibration_size", s->calib_count);
	/* Pulsar2 normalises as (x - mean) / std in pixel units. */
	cJSON_AddItemToObject(ic, "calibration_mean", numbers(s->mean, s->n_ch, 0));
	cJSON_AddItemToObject(ic, "calibration_std", numbers(s->std, s->n_ch, !s->std_given));
	cJSON_AddStringToObject(q, "calibration_method", s->calib_method);
	cJSON_AddBoolToObject(q, "precision_analysis", spec_opt_bool(s, "precision_analysis"));
	cJSON *ips = cJSON_AddArrayToObject(o, "input_processors");
	cJSON *ip = cJSON_CreateObject();
	cJSON_AddItemToArray(ips, ip);
	cJSON_AddStringToObject(ip, "tensor_name", tensor);
	cJSON_AddStringToObject(ip, "tensor_format", upper_format(s->pixel_format));
	cJSON_AddStringToObject(ip, "tensor_layout", strcmp(s->layout, "nhwc") == 0 ? "NHWC" : "NCHW");
	/* The camera hands MaixPy packed U8 frames: the conversion into the
	 * tensor's layout and dtype is compiled into the model. */
	cJSON_AddStringToObject(ip, "src_format", upper_format(s->pixel_format));
	cJSON_AddStringToObject(ip, "src_dtype", "U8");
	cJSON_AddStringToObject(ip, "src_layout", "NHWC");
	cJSON_AddStringToObject(ip, "csc_mode", spec_opt(s, "csc_mode"));
	cJSON *ops = cJSON_AddArrayToObject(o, "output_processors");
	/* The layout the model_type's MaixCDK decoder reads (loader_check's
	 * table): YOLOv8/YOLO11 take NHWC heads (MaixPy's maixcam2.md puts
	 * dst_perm on the three Concats), YOLOv5's decoder reads NCHW only.  A
	 * permutation only means something for the 4-D outputs. */
	int nhwc = loader_check_dst_perm(s);
	for (size_t i = 0; i < s->n_outputs; i++) {
		cJSON *op = cJSON_CreateObject();
		cJSON_AddItemToArray(ops, op);
		cJSON_AddStringToObject(op, "tensor_name", s->outputs[i]);
		if (nhwc && recipe_output_rank(c->insp, s->outputs[i]) == 4) {
			const int perm[] = {0, 2, 3, 1};
			cJSON_AddItemToObject(op, "dst_perm", cJSON_CreateIntArray(perm, 4));
		}
	}
	cJSON *comp = cJSON_AddObjectToObject(o, "compiler");
	int check = (int)spec_opt_num(s, "compiler_check");
	cJSON_AddNumberToObject(comp, "check", check);
	if (check == 3) {
		cJSON_AddStringToObject(comp, "check_mode", "CheckOutput");
		cJSON_AddNumberToObject(comp, "check_cosine_simularity", s->n_tol ? s->tol[0] : 0.9);
	}
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	return text;
}

static int build(const struct recipe_ctx *c, struct recipe_out *out, const char *kind,
		 const char *npu_mode, struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	char cfg[64], dir[16], compiled[48], bundled[96], step[32];
	snprintf(cfg, sizeof(cfg), "config_%s.json", kind);
	snprintf(dir, sizeof(dir), "%s", kind);
	snprintf(compiled, sizeof(compiled), "%s/compiled.axmodel", kind);
	snprintf(bundled, sizeof(bundled), "%s_%s.axmodel", s->name, kind);
	snprintf(step, sizeof(step), "build_%s", kind);
	int rc = recipe_file(out, cfg, config_json(c, npu_mode), err);
	if (rc != 0)
		return rc;
	struct recipe_argv a = {0};
	recipe_argv_add(&a, "pulsar2");
	recipe_argv_add(&a, "build");
	recipe_argv_add(&a, "--target_hardware");
	recipe_argv_add(&a, spec_opt(s, "target_hardware"));
	recipe_argv_add(&a, "--input");
	recipe_argv_add(&a, c->paths->model);
	recipe_argv_add(&a, "--output_dir");
	recipe_argv_add(&a, dir);
	recipe_argv_add(&a, "--config");
	recipe_argv_add(&a, cfg);
	const char *outs[] = {compiled, NULL};
	struct recipe_step_def d = {step, &a, "pulsar2", T_BUILD, outs, 5, "pulsar2"};
	rc = recipe_step(out, &d, err);
	recipe_argv_free(&a);
	if (rc == 0)
		rc = recipe_bundle(out, bundled, compiled, NULL, err);
	return rc;
}

int recipe_maixcam2_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	const char *which = spec_opt(s, "npu_builds");
	int npu = strcmp(which, "vnpu") != 0, vnpu = strcmp(which, "npu") != 0;
	char npu_name[96], vnpu_name[96];
	snprintf(npu_name, sizeof(npu_name), "%s_npu.axmodel", s->name);
	snprintf(vnpu_name, sizeof(vnpu_name), "%s_vnpu.axmodel", s->name);
	int rc = 0;
	if (npu)
		rc = build(c, out, "npu", "NPU2", err);
	if (rc == 0 && vnpu)
		rc = build(c, out, "vnpu", "NPU1", err);
	if (rc == 0)
		rc = recipe_bundle_mud(out, s, NULL, npu ? npu_name : NULL, vnpu ? vnpu_name : NULL,
				       err);
	return rc;
}
