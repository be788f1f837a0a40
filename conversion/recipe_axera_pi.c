/*
 * recipe_axera_pi: Sipeed's AXera-Pi (Maix-III, AX620A) guide (seed 003)
 * as a plan: the prototxt of the seed, `pulsar build` -> <name>.joint and
 * the output config (outputs NHWC, as ax-samples reads them), then
 * `pulsar run` against the ONNX with the test image
 * for the cosine figure the seed reads ("cosine-sim: 0.9862").
 *
 * Preprocessing is written as the seed does: affine_preprocess scales the
 * U8 pixel to [0, 1] (slope 1 / slope_divisor 255), then
 * input_normalization applies the training mean/std in that range; the
 * spec's pixel-unit mean/std are divided by 255 for it.
 *
 * Strings are written as protobuf text-format string literals
 * (recipe_pb_quote).  The job name goes into a comment only: spec.c
 * allow-lists it, so it cannot end the comment.
 */
#include "conversion/recipe_axera_pi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_BUILD 7200   /* seed 003: "may take a little while"; 256 images, CPU */
#define T_RUN 1800

static const char *color_space(const char *pf)
{
	return strcmp(pf, "bgr") == 0 ? "TENSOR_COLOR_SPACE_BGR"
	       : strcmp(pf, "gray") == 0 ? "TENSOR_COLOR_SPACE_GRAY" : "TENSOR_COLOR_SPACE_RGB";
}

static char *prototxt(const struct recipe_ctx *c)
{
	const struct job_spec *s = c->s;
	double m[SPEC_MAX_CH], sd[SPEC_MAX_CH];
	for (int i = 0; i < s->n_ch; i++) {
		m[i] = recipe_tidy(s->mean[i] / 255);
		sd[i] = recipe_tidy(s->std[i] / 255);
	}
	char mean[256], std[256];
	spec_fmt_list(m, (size_t)s->n_ch, ",", mean, sizeof(mean));
	spec_fmt_list(sd, (size_t)s->n_ch, ",", std, sizeof(std));
	const char *cs = color_space(s->pixel_format);
	char *path = recipe_pb_quote(c->paths->images_tar);
	if (path == NULL)
		return NULL;
	char *text = NULL;
	int k = asprintf(&text,
		"# Written by Kiln for %s: the configuration of seed 003 (Sipeed's AXera-Pi\n"
		"# guide) with this job's preprocessing and calibration set.\n"
		"input_type: INPUT_TYPE_ONNX\n"
		"output_type: OUTPUT_TYPE_JOINT\n"
		"\n"
		"target_hardware: TARGET_HARDWARE_AX620\n"
		"\n"
		"cpu_backend_settings {\n"
		"    onnx_setting {\n"
		"        mode: DISABLED\n"
		"    }\n"
		"    axe_setting {\n"
		"        mode: ENABLED\n"
		"        axe_param {\n"
		"            optimize_slim_model: %s\n"
		"        }\n"
		"    }\n"
		"}\n"
		"\n"
		"src_input_tensors {\n"
		"    color_space: %s\n"
		"}\n"
		"\n"
		"dst_input_tensors {\n"
		"    color_space: %s\n"
		"}\n"
		"\n"
		"neuwizard_conf {\n"
		"    operator_conf {\n"
		"        input_conf_items {\n"
		"            attributes {\n"
		"                input_modifications {\n"
		"                    # y = x * (slope / slope_divisor) + (bias / bias_divisor): to [0, 1]\n"
		"                    affine_preprocess {\n"
		"                        slope: 1\n"
		"                        slope_divisor: 255\n"
		"                        bias: 0\n"
		"                    }\n"
		"                }\n"
		"                input_modifications {\n"
		"                    # y = (x - mean) / std, channel order of src_input_tensors\n"
		"                    input_normalization {\n"
		"                        mean: [%s]\n"
		"                        std: [%s]\n"
		"                    }\n"
		"                }\n"
		"            }\n"
		"        }\n"
		"    }\n"
		"    dataset_conf_calibration {\n"
		"        path: %s\n"
		"        type: DATASET_TYPE_TAR\n"
		"        size: %d\n"
		"        batch_size: 1\n"
		"    }\n"
		"}\n"
		"\n"
		"pulsar_conf {\n"
		"    # 111: NPU shared with AI-ISP, which the camera turns on (seed 003)\n"
		"    ax620_virtual_npu: AX620_VIRTUAL_NPU_MODE_%s\n"
		"    batch_size: 1\n"
		"}\n",
		s->name, spec_opt_bool(s, "optimize_slim_model") ? "true" : "false", cs, cs, mean,
		std, path, s->calib_count, spec_opt(s, "virtual_npu"));
	free(path);
	return k < 0 ? NULL : text;
}

int recipe_axera_pi_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	char cfg[80], outcfg[96], joint[80];
	snprintf(cfg, sizeof(cfg), "config_%s.prototxt", s->name);
	snprintf(outcfg, sizeof(outcfg), "out_config_%s.prototxt", s->name);
	snprintf(joint, sizeof(joint), "%s.joint", s->name);
	int rc = recipe_file(out, cfg, prototxt(c), err);
	if (rc != 0)
		return rc;
	struct recipe_argv a = {0};
	recipe_argv_add(&a, "pulsar");
	recipe_argv_add(&a, "build");
	recipe_argv_add(&a, "--input");
	recipe_argv_add(&a, c->paths->model);
	recipe_argv_add(&a, "--output");
	recipe_argv_add(&a, joint);
	recipe_argv_add(&a, "--config");
	recipe_argv_add(&a, cfg);
	recipe_argv_add(&a, "--output_config");
	recipe_argv_add(&a, outcfg);
	/* Pulsar writes NCHW outputs by default (axera/neuwizard 0.6.0.1 and
	 * later); ax-samples' programs read channels last, and pulsar-docs
	 * (AXERA-TECH/pulsar-docs @ f391cff2, faq.rst and
	 * user_guides_advanced/advanced_guides.rst "Joint Layout") build
	 * detection models with this flag.  loader_check holds the outputs
	 * to it (struct target.output_perm). */
	recipe_argv_add(&a, "--output_tensor_layout");
	recipe_argv_add(&a, "nhwc");
	const char *outs[] = {joint, outcfg, NULL};
	struct recipe_step_def d = {"build", &a, "pulsar", T_BUILD, outs, 6, "pulsar"};
	rc = recipe_step(out, &d, err);
	recipe_argv_free(&a);
	if (rc == 0 && c->paths->test_image && spec_opt_bool(s, "similarity_check")) {
		recipe_argv_add(&a, "pulsar");
		recipe_argv_add(&a, "run");
		recipe_argv_add(&a, c->paths->model);
		recipe_argv_add(&a, joint);
		recipe_argv_add(&a, "--input");
		recipe_argv_add(&a, c->paths->test_image);
		recipe_argv_add(&a, "--config");
		recipe_argv_add(&a, outcfg);
		recipe_argv_add(&a, "--output_gt");
		recipe_argv_add(&a, "gt");
		struct recipe_step_def r = {"compare", &a, "pulsar", T_RUN, NULL, 1, "pulsar"};
		rc = recipe_step(out, &r, err);
		recipe_argv_free(&a);
	}
	if (rc == 0)
		rc = recipe_bundle(out, joint, joint, NULL, err);
	if (rc == 0)
		rc = recipe_bundle(out, outcfg, outcfg, NULL, err);
	return rc;
}
