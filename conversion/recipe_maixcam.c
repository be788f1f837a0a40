/*
 * recipe_maixcam: Sipeed's MaixCAM conversion (seed 001,
 * convert_yolov5_to_cvimodel.sh) as a plan.
 *
 * Steps, as the seed runs them: model_transform.py (ONNX -> MLIR, with the
 * float check against the test image), optionally model_deploy.py BF16,
 * run_calibration.py, model_deploy.py INT8 --quant_input.  Flags the seed
 * passes are passed in the seed's order; values come from the job spec.
 */
#include "conversion/recipe_maixcam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Step budgets: transform and deploy take minutes on a laptop for a
 * yolov5s; calibration of 200 images ~10-20 min; 4x headroom. */
#define T_TRANSFORM 1800
#define T_CALIB 7200
#define T_DEPLOY 3600

static const struct {
	const char *base, *py;
} TOOLS[] = {
	{"model_transform", "model_transform.py"},
	{"run_calibration", "run_calibration.py"},
	{"run_qtable", "run_qtable.py"},
	{"model_deploy", "model_deploy.py"},
	{"model_tool", "model_tool"},  /* a C++ binary in both installs */
};

const char *recipe_tpumlir_tool(const struct job_spec *s, const char *base)
{
	const char *names = spec_opt(s, "tool_names");
	int py = names && strcmp(names, "py") == 0;
	for (size_t i = 0; i < sizeof(TOOLS) / sizeof(TOOLS[0]); i++)
		if (strcmp(TOOLS[i].base, base) == 0)
			return py ? TOOLS[i].py : TOOLS[i].base;
	return base;
}

int recipe_tpumlir_transform(const struct recipe_ctx *c, struct recipe_out *out,
			     int channel_format, const char *tolerance, struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	struct recipe_argv a = {0};
	char shape[160], mean[256], scale[256], mlir[80], top[80], in_f32[80];
	recipe_shape_text(s, shape, sizeof(shape));
	spec_fmt_list(s->mean, (size_t)s->n_ch, ",", mean, sizeof(mean));
	double sc[SPEC_MAX_CH];
	for (int i = 0; i < s->n_ch; i++)
		sc[i] = s->std_given ? recipe_tidy(s->scale[i]) : s->scale[i];
	spec_fmt_list(sc, (size_t)s->n_ch, ",", scale, sizeof(scale));
	snprintf(mlir, sizeof(mlir), "%s.mlir", s->name);
	snprintf(top, sizeof(top), "%s_top_outputs.npz", s->name);
	snprintf(in_f32, sizeof(in_f32), "%s_in_f32.npz", s->name);
	char *outs = recipe_outputs_joined(s);
	recipe_argv_add(&a, recipe_tpumlir_tool(s, "model_transform"));
	recipe_argv_add(&a, "--model_name");
	recipe_argv_add(&a, s->name);
	recipe_argv_add(&a, "--model_def");
	recipe_argv_add(&a, c->paths->model);
	recipe_argv_add(&a, "--input_shapes");
	recipe_argv_add(&a, shape);
	recipe_argv_add(&a, "--mean");
	recipe_argv_add(&a, mean);
	recipe_argv_add(&a, "--scale");
	recipe_argv_add(&a, scale);
	if (s->keep_aspect_ratio)
		recipe_argv_add(&a, "--keep_aspect_ratio");
	recipe_argv_add(&a, "--pixel_format");
	recipe_argv_add(&a, s->pixel_format);
	if (channel_format || strcmp(s->layout, "nchw") != 0) {
		recipe_argv_add(&a, "--channel_format");
		recipe_argv_add(&a, s->layout);
	}
	recipe_argv_add(&a, "--output_names");
	recipe_argv_add(&a, outs);
	if (c->paths->test_image) {
		recipe_argv_add(&a, "--test_input");
		recipe_argv_add(&a, c->paths->test_image);
		recipe_argv_add(&a, "--test_result");
		recipe_argv_add(&a, top);
		/* The float check only runs with a test input. */
		if (tolerance) {
			recipe_argv_add(&a, "--tolerance");
			recipe_argv_add(&a, tolerance);
		}
	}
	recipe_argv_add(&a, "--mlir");
	recipe_argv_add(&a, mlir);
	const char *with_test[] = {mlir, in_f32, top, NULL};
	const char *no_test[] = {mlir, NULL};
	struct recipe_step_def d = {"transform", &a, "tpu-mlir", T_TRANSFORM,
				    c->paths->test_image ? with_test : no_test, 1, "tpu-mlir"};
	int rc = outs ? recipe_step(out, &d, err) : kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	free(outs);
	recipe_argv_free(&a);
	return rc;
}

/* model_deploy.py for one quantize mode, in seed 001's flag order. */
static int deploy(const struct recipe_ctx *c, struct recipe_out *out, const char *quant,
		  const char *model, double weight, struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	int int8 = strcmp(quant, "INT8") == 0;
	char mlir[80], table[80], in_f32[80], top[80], tol[80], step[32];
	snprintf(mlir, sizeof(mlir), "%s.mlir", s->name);
	snprintf(table, sizeof(table), "%s_cali_table", s->name);
	snprintf(in_f32, sizeof(in_f32), "%s_in_f32.npz", s->name);
	snprintf(top, sizeof(top), "%s_top_outputs.npz", s->name);
	snprintf(step, sizeof(step), "deploy_%s", int8 ? "int8" : "bf16");
	struct recipe_argv a = {0};
	recipe_argv_add(&a, recipe_tpumlir_tool(s, "model_deploy"));
	recipe_argv_add(&a, "--mlir");
	recipe_argv_add(&a, mlir);
	recipe_argv_add(&a, "--quantize");
	recipe_argv_add(&a, quant);
	/* seed 001: INT8 input for maix.nn.NN.forward_image; the BF16 model
	 * keeps float input "for easy coding". */
	if (int8 && spec_opt_bool(s, "quant_input"))
		recipe_argv_add(&a, "--quant_input");
	if (int8) {
		recipe_argv_add(&a, "--calibration_table");
		recipe_argv_add(&a, table);
	}
	recipe_argv_add(&a, "--processor");
	recipe_argv_add(&a, spec_opt(s, "processor"));
	if (c->paths->test_image) {
		recipe_argv_add(&a, "--test_input");
		recipe_argv_add(&a, in_f32);
		recipe_argv_add(&a, "--test_reference");
		recipe_argv_add(&a, top);
		/* seed 001 gives the INT8 deploy its tolerance and leaves the
		 * BF16 one at the tool's default; a tolerance the user set holds
		 * for every build asked for (a BF16 job with tolerance 0.99999
		 * passed at cosine 0.99935 when only INT8 got it). */
		if (s->n_tol == 2 && (int8 || !spec_tolerance_is_default(s))) {
			spec_fmt_list(s->tol, 2, ",", tol, sizeof(tol));
			recipe_argv_add(&a, "--tolerance");
			recipe_argv_add(&a, tol);
		}
	}
	recipe_argv_add(&a, "--model");
	recipe_argv_add(&a, model);
	const char *outs[] = {model, NULL};
	struct recipe_step_def d = {step, &a, "tpu-mlir", T_DEPLOY, outs, weight, "tpu-mlir"};
	int rc = recipe_step(out, &d, err);
	recipe_argv_free(&a);
	return rc;
}

int recipe_tpumlir_calibrate(const struct recipe_ctx *c, struct recipe_out *out, const char *table,
			     struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	char mlir[80];
	snprintf(mlir, sizeof(mlir), "%s.mlir", s->name);
	struct recipe_argv a = {0};
	recipe_argv_add(&a, recipe_tpumlir_tool(s, "run_calibration"));
	recipe_argv_add(&a, mlir);
	recipe_argv_add(&a, "--dataset");
	recipe_argv_add(&a, c->paths->images_dir);
	recipe_argv_add(&a, "--input_num");
	recipe_argv_addf(&a, "%d", s->calib_count);
	recipe_argv_add(&a, "-o");
	recipe_argv_add(&a, table);
	const char *outs[] = {table, NULL};
	struct recipe_step_def d = {"calibrate", &a, "tpu-mlir", T_CALIB, outs, 4, "tpu-mlir"};
	int rc = recipe_step(out, &d, err);
	recipe_argv_free(&a);
	return rc;
}

int recipe_maixcam_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	char bf16[80], int8[80], table[80];
	snprintf(bf16, sizeof(bf16), "%s_bf16.cvimodel", s->name);
	snprintf(int8, sizeof(int8), "%s_int8.cvimodel", s->name);
	snprintf(table, sizeof(table), "%s_cali_table", s->name);
	int rc = recipe_tpumlir_transform(c, out, 1, spec_opt(s, "transform_tolerance"), err);
	int want_int8 = strcmp(s->quantize, "int8") == 0;
	int want_bf16 = !want_int8 || spec_opt_bool(s, "bf16_model");
	if (rc == 0 && want_bf16)
		rc = deploy(c, out, "BF16", bf16, 2, err);
	if (rc == 0 && want_int8)
		rc = recipe_tpumlir_calibrate(c, out, table, err);
	if (rc == 0 && want_int8)
		rc = deploy(c, out, "INT8", int8, 2, err);
	/* The .mud names the model the spec asked for; an extra BF16 model
	 * travels in the bundle beside it. */
	if (rc == 0 && want_int8)
		rc = recipe_bundle(out, int8, int8, NULL, err);
	if (rc == 0 && want_bf16)
		rc = recipe_bundle(out, bf16, bf16, NULL, err);
	if (rc == 0)
		rc = recipe_bundle_mud(out, s, want_int8 ? int8 : bf16, NULL, NULL, err);
	return rc;
}
