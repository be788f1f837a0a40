/*
 * recipe_metis: the Axelera Metis flow (seed 004) as a plan: a network YAML
 * describing the custom ONNX (axelera-model-format 1.0.0, one AxONNXModel,
 * its calibration images) and `deploy.py <name>.yaml --model <name> --mode
 * QUANTCOMPILE`, which compiles into build/<name>/<name>/<cores>/ the
 * model.json pipeline, model.axmodel and manifest.json of the seed.  The
 * bundle keeps that tree under <name>/<cores>/ so model.json's relative
 * "model" path stays valid.  Every value written to the YAML passed an
 * allow-list (names, workspace paths) or is a number.
 */
#include "recipe_metis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_DEPLOY 10800   /* seed 004: "2-5 minutes" on the SDK's machine; calibration
			    of 200 images on a plain CPU is far slower */

static const char *task_of(const struct job_spec *s)
{
	const char *t = spec_opt(s, "task_category");
	if (t && strcmp(t, "auto") != 0)
		return t;
	if (strncmp(s->model_type, "yolo", 4) == 0)
		return "ObjectDetection";
	if (strcmp(s->model_type, "classifier") == 0)
		return "Classification";
	return NULL;
}

static char *network_yaml(const struct recipe_ctx *c, const char *task)
{
	const struct job_spec *s = c->s;
	int64_t h = s->rank == 4 ? s->shape[strcmp(s->layout, "nhwc") == 0 ? 1 : 2] : 0;
	int64_t w = s->rank == 4 ? s->shape[strcmp(s->layout, "nhwc") == 0 ? 2 : 3] : 0;
	char shape[160] = "", mean[256], std[256], conf[40], iou[40];
	for (int i = 0; i < s->rank; i++)
		snprintf(shape + strlen(shape), sizeof(shape) - strlen(shape), "%s%lld",
			 i ? ", " : "", (long long)s->shape[i]);
	double m[SPEC_MAX_CH], sd[SPEC_MAX_CH];
	for (int i = 0; i < s->n_ch; i++) {
		/* Voyager normalises after scaling pixels to [0, 1] (seed 004's
		 * model.json: mean [0,0,0], std [1,1,1] for YOLO) */
		m[i] = recipe_tidy(s->mean[i] / 255);
		sd[i] = recipe_tidy(s->std[i] / 255);
	}
	spec_fmt_list(m, (size_t)s->n_ch, ", ", mean, sizeof(mean));
	spec_fmt_list(sd, (size_t)s->n_ch, ", ", std, sizeof(std));
	spec_fmt_number(spec_opt_num(s, "confidence_threshold"), conf, sizeof(conf));
	spec_fmt_number(spec_opt_num(s, "nms_iou_threshold"), iou, sizeof(iou));
	char post[512];
	if (strcmp(task, "ObjectDetection") == 0)
		snprintf(post, sizeof(post),
			 "      - decode_%s:\n          classes: %zu\n"
			 "          confidence_threshold: %s\n"
			 "      - nms:\n          iou_threshold: %s\n",
			 s->model_type, s->n_labels, conf, iou);
	else
		snprintf(post, sizeof(post), "      - topk:\n          k: 1\n");
	const char *color = strcmp(s->pixel_format, "bgr") == 0 ? "BGR"
			    : strcmp(s->pixel_format, "gray") == 0 ? "GRAY" : "RGB";
	char *text = NULL;
	int k = asprintf(&text,
		"# Written by Kiln: network description of %s for the Voyager SDK (seed 004).\n"
		"axelera-model-format: 1.0.0\n"
		"name: %s\n"
		"description: %s converted by Kiln\n"
		"pipeline: null\n"
		"models:\n"
		"  %s:\n"
		"    class: AxONNXModel\n"
		"    weight_path: %s\n"
		"    task_category: %s\n"
		"    input_tensor_layout: %s\n"
		"    input_tensor_shape: [%s]\n"
		"    input_color_format: %s\n"
		"    num_classes: %zu\n"
		"    dataset: calibration\n"
		"    preprocess:\n"
		"      - resize:\n          width: %lld\n          height: %lld\n"
		"          letterbox: %s\n"
		"      - normalize:\n          mean: [%s]\n          std: [%s]\n"
		"    postprocess:\n%s"
		"datasets:\n"
		"  calibration:\n"
		"    class: DataAdapter\n"
		"    repr_imgs_dir_path: %s\n",
		s->name, s->name, s->name, s->name, c->paths->model, task,
		strcmp(s->layout, "nhwc") == 0 ? "NHWC" : "NCHW", shape, color, s->n_labels,
		(long long)w, (long long)h, s->keep_aspect_ratio ? "true" : "false", mean, std,
		post, c->paths->images_dir);
	return k < 0 ? NULL : text;
}

int recipe_metis_plan(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	const char *task = task_of(s);
	if (task == NULL)
		return kiln_errf(err, KILN_EINVAL, "target_options.task_category",
				 "metis needs the task: set target_options.task_category "
				 "(ObjectDetection, Classification) or mud.model_type");
	if (s->rank != 4)
		return kiln_errf(err, KILN_EINVAL, "input.shape", "metis takes an image input "
				 "[N, C, H, W]; input.shape has %d dims", s->rank);
	if (strcmp(task, "ObjectDetection") == 0 && s->n_labels == 0)
		return kiln_errf(err, KILN_EINVAL, "mud.labels", "mud.labels (the class names) is "
				 "required on metis for a detector: the decoder needs the class count");
	char yaml[80];
	snprintf(yaml, sizeof(yaml), "%s.yaml", s->name);
	char *text = network_yaml(c, task);
	if (text == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	int rc = recipe_file(out, yaml, text, err);
	free(text);
	if (rc != 0)
		return rc;
	const char *cores = spec_opt(s, "aipu_cores");
	char dir[160], mj[192], ax[192], mf[192], bdir[96], bmj[128], bax[128], bmf[128];
	snprintf(dir, sizeof(dir), "build/%s/%s/%s", s->name, s->name, cores);
	snprintf(mj, sizeof(mj), "%s/model.json", dir);
	snprintf(ax, sizeof(ax), "%s/model.axmodel", dir);
	snprintf(mf, sizeof(mf), "%s/manifest.json", dir);
	snprintf(bdir, sizeof(bdir), "%s/%s", s->name, cores);
	snprintf(bmj, sizeof(bmj), "%s/model.json", bdir);
	snprintf(bax, sizeof(bax), "%s/model.axmodel", bdir);
	snprintf(bmf, sizeof(bmf), "%s/manifest.json", bdir);
	struct recipe_argv a = {0};
	recipe_argv_add(&a, "deploy.py");
	recipe_argv_add(&a, yaml);
	recipe_argv_add(&a, "--build-root");
	recipe_argv_add(&a, "build");
	recipe_argv_add(&a, "--data-root");
	recipe_argv_add(&a, ".");
	recipe_argv_add(&a, "--model");
	recipe_argv_add(&a, s->name);
	recipe_argv_add(&a, "--mode");
	recipe_argv_add(&a, "QUANTCOMPILE");
	recipe_argv_add(&a, "--aipu-cores");
	recipe_argv_add(&a, cores);
	recipe_argv_add(&a, "--num-cal-images");
	recipe_argv_addf(&a, "%d", s->calib_count);
	const char *outs[] = {mj, ax, mf, NULL};
	/* No Voyager log parser yet: its log text is unverified (toolchain
	 * double README), so the step reports no figures. */
	struct recipe_step_def d = {"deploy", &a, "voyager", T_DEPLOY, outs, 8, "none"};
	rc = recipe_step(out, &d, err);
	recipe_argv_free(&a);
	if (rc == 0)
		rc = recipe_bundle(out, bmj, mj, NULL, err);
	if (rc == 0)
		rc = recipe_bundle(out, bax, ax, NULL, err);
	if (rc == 0)
		rc = recipe_bundle(out, bmf, mf, NULL, err);
	return rc;
}
