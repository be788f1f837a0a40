/*
 * recipe_recamera: Seeed's reCamera conversion guide (seed 002) as a plan.
 *
 * TPU-MLIR 1.7 from the pip wheel (tools without .py).  INT8 is symmetric
 * with the preprocessing fused into the model (--fuse_preprocess
 * --customization_format RGB_PACKED --aligned_input), so the NPU takes the
 * camera's packed RGB frame as is; "mixed" adds run_qtable and deploys with
 * --quantize_table, exactly as the seed's yolov5s example; F16/BF16 follow
 * the seed's F16 command.  IR/opset limits are enforced in spec_parse.
 */
#include "conversion/recipe_recamera.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion/recipe_maixcam.h"

#define T_QTABLE 7200   /* run_qtable re-runs the net per layer: slower than calibration */
#define T_DEPLOY 3600
#define T_INFO 300

static const char *custom_format(const struct job_spec *s)
{
	const char *f = spec_opt(s, "customization_format");
	if (f && strcmp(f, "auto") != 0)
		return f;
	if (strcmp(s->pixel_format, "bgr") == 0)
		return "BGR_PACKED";
	if (strcmp(s->pixel_format, "gray") == 0)
		return "GRAYSCALE";
	return "RGB_PACKED";
}

static int tpu_step(struct recipe_out *out, const char *name, struct recipe_argv *a,
		    int timeout, const char *output, double weight, const char *parser,
		    struct kiln_err *err)
{
	const char *outs[] = {output, NULL};
	struct recipe_step_def d = {name, a, "tpu-mlir", timeout, output ? outs : NULL, weight,
				    parser};
	int rc = recipe_step(out, &d, err);
	recipe_argv_free(a);
	return rc;
}

int recipe_recamera_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	const char *proc = spec_opt(s, "processor");
	int fuse = spec_opt_bool(s, "fuse_preprocess");
	int mixed = strcmp(s->quantize, "mixed") == 0;
	int int8 = strcmp(s->quantize, "int8") == 0;
	char mlir[80], table[80], qtable[80], top[80], in_f32[80], model[96], tol[80];
	snprintf(mlir, sizeof(mlir), "%s.mlir", s->name);
	snprintf(table, sizeof(table), "%s_calib_table", s->name);
	snprintf(qtable, sizeof(qtable), "%s_qtable", s->name);
	snprintf(top, sizeof(top), "%s_top_outputs.npz", s->name);
	snprintf(in_f32, sizeof(in_f32), "%s_in_f32.npz", s->name);
	/* TPU-MLIR names its files <name>_<chip>_<quant>[_sym]; seed 002's
	 * "yolo11n_1684x_int8_sym" took the chip from a BM1684X example, so
	 * Kiln uses the real one.  The mixed model keeps the seed's name. */
	/* F16 on CV18xx is BF16: TopLowering.h's matchAndRewrite lowers
	 * Mode::F16 with LoweringBF16 when module::isCV18xx()
	 * (sophgo/tpu-mlir include/tpu_mlir/Conversion/TopToTpu/TopLowering.h @
	 * 016639d1013c4c784454af531434b00c3dac8c36), so an "f16" job keeps the
	 * seed's --quantize F16 but its model says what it holds: _bf16. */
	if (mixed)
		snprintf(model, sizeof(model), "%s_mix-precision.cvimodel", s->name);
	else if (int8)
		snprintf(model, sizeof(model), "%s_%s_int8_sym.cvimodel", s->name, proc);
	else
		snprintf(model, sizeof(model), "%s_%s_bf16.cvimodel", s->name, proc);

	int rc = recipe_tpumlir_transform(c, out, 0, NULL, err);
	if (rc != 0)
		return rc;
	struct recipe_argv a = {0};
	if ((int8 || mixed) && (rc = recipe_tpumlir_calibrate(c, out, table, err)) != 0)
		return rc;
	if (mixed) {
		char cos[40], exp[40];
		spec_fmt_number(spec_opt_num(s, "min_layer_cos"), cos, sizeof(cos));
		spec_fmt_number(spec_opt_num(s, "expected_cos"), exp, sizeof(exp));
		recipe_argv_add(&a, recipe_tpumlir_tool(s, "run_qtable"));
		recipe_argv_add(&a, mlir);
		recipe_argv_add(&a, "--dataset");
		recipe_argv_add(&a, c->paths->images_dir);
		recipe_argv_add(&a, "--calibration_table");
		recipe_argv_add(&a, table);
		recipe_argv_add(&a, "--processor");
		recipe_argv_add(&a, proc);
		recipe_argv_add(&a, "--min_layer_cos");
		recipe_argv_addf(&a, "%s", cos);
		recipe_argv_add(&a, "--expected_cos");
		recipe_argv_addf(&a, "%s", exp);
		if (spec_opt(s, "fp_type")) {
			recipe_argv_add(&a, "--fp_type");
			recipe_argv_add(&a, spec_opt(s, "fp_type"));
		}
		recipe_argv_add(&a, "-o");
		recipe_argv_add(&a, qtable);
		if ((rc = tpu_step(out, "qtable", &a, T_QTABLE, qtable, 4, "tpu-mlir", err)) != 0)
			return rc;
	}

	/* model_deploy in the seed's flag order for each mode. */
	recipe_argv_add(&a, recipe_tpumlir_tool(s, "model_deploy"));
	recipe_argv_add(&a, "--mlir");
	recipe_argv_add(&a, mlir);
	if (mixed) {
		/* seed 002 deploys the mixed model without --quant_input and without
		 * a test: run_qtable has already reported the mixed cosine. */
		recipe_argv_add(&a, "--quantize");
		recipe_argv_add(&a, "INT8");
		recipe_argv_add(&a, "--quantize_table");
		recipe_argv_add(&a, qtable);
		recipe_argv_add(&a, "--calibration_table");
		recipe_argv_add(&a, table);
		if (fuse) {
			recipe_argv_add(&a, "--customization_format");
			recipe_argv_add(&a, custom_format(s));
			recipe_argv_add(&a, "--fuse_preprocess");
			recipe_argv_add(&a, "--aligned_input");
		}
		recipe_argv_add(&a, "--processor");
		recipe_argv_add(&a, proc);
	} else {
		if (int8) {
			recipe_argv_add(&a, "--quantize");
			recipe_argv_add(&a, "INT8");
			recipe_argv_add(&a, "--quant_input");
			recipe_argv_add(&a, "--processor");
			recipe_argv_add(&a, proc);
			recipe_argv_add(&a, "--calibration_table");
			recipe_argv_add(&a, table);
		} else {
			recipe_argv_add(&a, "--quant_input");
			recipe_argv_add(&a, "--quantize");
			recipe_argv_add(&a, strcmp(s->quantize, "f16") == 0 ? "F16" : "BF16");
			if (fuse) {
				recipe_argv_add(&a, "--customization_format");
				recipe_argv_add(&a, custom_format(s));
			}
			recipe_argv_add(&a, "--processor");
			recipe_argv_add(&a, proc);
		}
		if (c->paths->test_image) {
			/* fused preprocessing takes the image itself; otherwise the
			 * npz model_transform made from it */
			recipe_argv_add(&a, "--test_input");
			recipe_argv_add(&a, fuse ? c->paths->test_image : in_f32);
			recipe_argv_add(&a, "--test_reference");
			recipe_argv_add(&a, top);
		}
		if (int8 && fuse) {
			recipe_argv_add(&a, "--customization_format");
			recipe_argv_add(&a, custom_format(s));
			recipe_argv_add(&a, "--fuse_preprocess");
			recipe_argv_add(&a, "--aligned_input");
		} else if (!int8 && fuse) {
			recipe_argv_add(&a, "--fuse_preprocess");
		}
		if (c->paths->test_image && s->n_tol == 2) {
			spec_fmt_list(s->tol, 2, ",", tol, sizeof(tol));
			recipe_argv_add(&a, "--tolerance");
			recipe_argv_add(&a, tol);
		} else if (c->paths->test_image && !int8) {
			/* seed 002's F16 deploy passes --tolerance 0.99,0.9; the
			 * tool's own default (0.8,0.5) would let a broken float
			 * model through */
			recipe_argv_add(&a, "--tolerance");
			recipe_argv_add(&a, "0.99,0.9");
		}
	}
	recipe_argv_add(&a, "--model");
	recipe_argv_add(&a, model);
	if ((rc = tpu_step(out, "deploy", &a, T_DEPLOY, model, 2, "tpu-mlir", err)) != 0)
		return rc;
	if (mixed) {
		/* seed 002 looks at the mixed model with model_tool --info */
		recipe_argv_add(&a, recipe_tpumlir_tool(s, "model_tool"));
		recipe_argv_add(&a, "--info");
		recipe_argv_add(&a, model);
		if ((rc = tpu_step(out, "info", &a, T_INFO, NULL, 0.1, "none", err)) != 0)
			return rc;
	}
	if ((rc = recipe_bundle(out, model, model, NULL, err)) != 0)
		return rc;
	return recipe_bundle_mud(out, s, model, NULL, NULL, err);
}
