/*
 * test_loader_check: the board-loader check (conversion/loader_check.c)
 * and the recipe fixes of issue 13 items 4-6, held to the vendors' sources:
 *   MaixCDK d9741a20 components/nn/include/maix_nn_{yolov5,yolo11,
 *     classifier}.hpp (output rules, log lines);
 *   pulsar2-docs-en 83fa86a4 user_guides_config/config.md (QuantMethod,
 *     OnnxOptimizeOption), user_guides_quick/quick_start_ax620e.md;
 *   tpu-mlir 016639d1 include/tpu_mlir/Conversion/TopToTpu/TopLowering.h
 *     (F16 lowered as BF16 on CV18xx); seed 002's F16 deploy tolerance.
 * Shapes are written here as the inspection gives them (a graph output's
 * "shape"), so each case reads as the model a user would upload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kt.h"
#include "conversion/loader_check.h"
#include "conversion/mud.h"
#include "conversion/recipe.h"
#include "conversion/spec.h"

static char *labels_json(int n)
{
	size_t cap = (size_t)n * 8 + 4;
	char *s = malloc(cap);
	size_t off = (size_t)snprintf(s, cap, "[");
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off, "%s\"c%d\"", i ? "," : "", i);
	snprintf(s + off, cap - off, "]");
	return s;
}

/* spec_parse with the inspection; NULL (and a CHECK failure) when refused */
static struct job_spec *parse(const char *spec, const cJSON *insp)
{
	struct kiln_err err = {0};
	struct job_spec *s = NULL;
	if (!CHECKF(spec_parse_text(spec, strlen(spec), insp, &s, &err) == 0, "spec refused: %s: %s",
		    err.field, err.msg))
		return NULL;
	return s;
}

/* An uncut YOLO11n 640x640 (output0 [1,84,8400]) and the six head convs
 * reCamera's guide cuts at (seed 002). */
static const char *INSP_YOLO11N =
	"{\"inputs\":[{\"name\":\"images\",\"shape\":[1,3,640,640]}],"
	"\"outputs\":[{\"name\":\"output0\",\"shape\":[1,84,8400]}],"
	"\"suggested_model_type\":\"yolo11\"}";

static void yolo11_six(struct loader_out *o)
{
	static const char *names[] = {
		"/model.23/cv2.0/cv2.0.2/Conv_output_0", "/model.23/cv3.0/cv3.0.2/Conv_output_0",
		"/model.23/cv2.1/cv2.1.2/Conv_output_0", "/model.23/cv3.1/cv3.1.2/Conv_output_0",
		"/model.23/cv2.2/cv2.2.2/Conv_output_0", "/model.23/cv3.2/cv3.2.2/Conv_output_0"};
	for (int i = 0; i < 6; i++) {
		int64_t hw = 80 >> (i / 2);
		o[i] = (struct loader_out){names[i], 4, {1, i % 2 ? 80 : 64, hw, hw}, 0, 0};
	}
}

/* issue 13 item 2's symptom, caught by the loader check: six outputs on
 * MaixCAM fail with the loader's own layouts named. */
static void loader__yolo11_six_head_convs_are_refused_with_the_layouts_it_takes(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N);
	char *labels = labels_json(80);
	char spec[4096];
	snprintf(spec, sizeof(spec),
		 "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam\",\"name\":\"y\","
		 "\"outputs\":[\"a\"],\"mud\":{\"model_type\":\"yolo11\",\"labels\":%s}}", labels);
	struct job_spec *s = parse(spec, insp);
	if (s) {
		struct loader_out o[6];
		yolo11_six(o);
		struct kiln_err err = {0};
		CHECK_INT(loader_check_outputs(s, o, 6, &err), KILN_EUNPROC);
		CHECKF(strlen(err.msg) < sizeof(err.msg) - 1, "message cut: %s", err.msg);
		CHECKF(strstr(err.msg, "MaixPy's YOLO11 loader wants 3 outputs of 80+64 channels "
			       "or DFL+Sigmoid; this bundle has 6 (maix_nn_yolo11.hpp)"), "%s",
		       err.msg);
		CHECK_STR(err.field, "outputs");
		/* the DFL conv + Sigmoid cut of customize_model_yolov8.md loads */
		struct loader_out two[2] = {
			{"/model.23/dfl/conv/Conv_output_0", 4, {1, 1, 4, 8400}, 0, 0},
			{"/model.23/Sigmoid_output_0", 3, {1, 80, 8400}, 0, 0}};
		CHECKF(loader_check_outputs(s, two, 2, &err) == 0, "%s", err.msg);
		/* ... but not with a class tensor of another label count */
		two[1].d[1] = 3;
		CHECK_INT(loader_check_outputs(s, two, 2, &err), KILN_EUNPROC);
		CHECKF(strlen(err.msg) < sizeof(err.msg) - 1, "message cut: %s", err.msg);
		CHECKF(strstr(err.msg, "can't find DFL or sigmoid output") != NULL, "%s", err.msg);
	}
	spec_free(s);
	free(labels);
	cJSON_Delete(insp);
}

/* A model cut at the three per-level Concats (MaixPy maixcam2.md): on
 * MaixCAM2 dst_perm makes them [1,80,80,144], mode 1 NHWC, which loads;
 * a label count that does not fit the 144 channels is a 400 on mud.labels. */
static const char *INSP_YOLO11N_CONCATS =
	"{\"inputs\":[{\"name\":\"images\",\"shape\":[1,3,640,640]}],"
	"\"outputs\":[{\"name\":\"/model.23/Concat_output_0\",\"shape\":[1,144,80,80]},"
	"{\"name\":\"/model.23/Concat_1_output_0\",\"shape\":[1,144,40,40]},"
	"{\"name\":\"/model.23/Concat_2_output_0\",\"shape\":[1,144,20,20]}]}";

static void loader__maixcam2_yolo11_concats_load_and_labels_must_fit_the_channels(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N_CONCATS);
	for (int nl = 80; nl >= 79; nl--) {
		char *labels = labels_json(nl);
		char spec[4096];
		snprintf(spec, sizeof(spec),
			 "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam2\",\"name\":\"y\","
			 "\"outputs\":[\"/model.23/Concat_output_0\",\"/model.23/Concat_1_output_0\","
			 "\"/model.23/Concat_2_output_0\"],"
			 "\"mud\":{\"model_type\":\"yolo11\",\"type\":\"detector\",\"labels\":%s}}",
			 labels);
		struct job_spec *s = parse(spec, insp);
		if (s) {
			CHECK_INT(loader_check_dst_perm(s), 1);
			struct kiln_err err = {0};
			int rc = loader_check_submit(s, insp, &err);
			if (nl == 80) {
				CHECKF(rc == 0, "%s: %s", err.field, err.msg);
			} else {
				CHECK_INT(rc, KILN_EINVAL);
				CHECK_STR(err.field, "mud.labels");
				CHECKF(strstr(err.msg, "144 channels") != NULL, "%s", err.msg);
			}
		}
		spec_free(s);
		free(labels);
	}
	cJSON_Delete(insp);
}

/* Pose and seg (MaixPy maixcam2.md: Concat_1..3 + Concat_output_0, + output1
 * for seg): mode 1 with 4 and 5 outputs (maix_nn_yolo11.hpp load()). */
static void loader__yolo11_pose_and_seg_heads_on_maixcam2(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N);
	const char *types[] = {"pose", "seg"};
	for (int t = 0; t < 2; t++) {
		char spec[512];
		snprintf(spec, sizeof(spec),
			 "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam2\",\"name\":\"y\","
			 "\"outputs\":[\"a\"],\"mud\":{\"model_type\":\"yolo11\",\"type\":\"%s\","
			 "\"labels\":[\"person\"]}}", types[t]);
		struct job_spec *s = parse(spec, insp);
		if (s == NULL)
			continue;
		/* already in MaixCAM2's layout: heads NHWC, 3-D tensors as they are */
		struct loader_out o[5] = {
			{"/model.23/Concat_1_output_0", 4, {1, 80, 80, 65}, 1, 0},
			{"/model.23/Concat_2_output_0", 4, {1, 40, 40, 65}, 1, 0},
			{"/model.23/Concat_3_output_0", 4, {1, 20, 20, 65}, 1, 0},
			{"/model.23/Concat_output_0", 3, {1, t ? 32 : 51, 8400}, 0, 0},
			{"output1", 4, {1, 160, 160, 32}, 1, 0}};
		size_t n = t ? 5 : 4;
		struct kiln_err err = {0};
		CHECKF(loader_check_outputs(s, o, n, &err) == 0, "%s: %s", types[t], err.msg);
		/* pose with the seg count, seg without its prototypes */
		CHECK_INT(loader_check_outputs(s, o, t ? 3 : 5, &err), KILN_EUNPROC);
		CHECKF(strlen(err.msg) < sizeof(err.msg) - 1, "message cut: %s", err.msg);
		CHECKF(strstr(err.msg, t ? "wants 5 outputs" : "wants 4 outputs") != NULL, "%s",
		       err.msg);
		spec_free(s);
	}
	cJSON_Delete(insp);
}

/* YOLOv5 640: the decoded output [1,25200,85] says 80 classes. */
static const char *INSP_YOLOV5S =
	"{\"inputs\":[{\"name\":\"images\",\"shape\":[1,3,640,640]}],"
	"\"outputs\":[{\"name\":\"output\",\"shape\":[1,25200,85]}],"
	"\"anchors\":[[10,13,16,30,33,23],[30,61,62,45,59,119],[116,90,156,198,373,326]],"
	"\"suggested_model_type\":\"yolov5\"}";
#define YOLOV5_CONVS "[\"/model.24/m.0/Conv_output_0\",\"/model.24/m.1/Conv_output_0\"," \
	"\"/model.24/m.2/Conv_output_0\"]"

static void loader__three_labels_for_a_255_channel_yolov5_head_is_a_400_naming_mud_labels(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLOV5S);
	const char *spec =
		"{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam\",\"name\":\"y\","
		"\"outputs\":" YOLOV5_CONVS ",\"mud\":{\"model_type\":\"yolov5\","
		"\"labels\":[\"a\",\"b\",\"c\"]}}";
	struct job_spec *s = parse(spec, insp);
	if (s) {
		struct kiln_err err = {0};
		CHECK_INT(loader_check_submit(s, insp, &err), KILN_EINVAL);
		CHECKF(strlen(err.msg) < sizeof(err.msg) - 1, "message cut: %s", err.msg);
		CHECK_STR(err.field, "mud.labels");
		CHECKF(strstr(err.msg, "80 classes") && strstr(err.msg, "255 channels") &&
		       strstr(err.msg, "mud labels or anchors not match model's"), "%s", err.msg);
		/* the same on the head convs' shapes (bundle time) */
		struct loader_out o[3] = {
			{"/model.24/m.0/Conv_output_0", 4, {1, 255, 80, 80}, 0, 0},
			{"/model.24/m.1/Conv_output_0", 4, {1, 255, 40, 40}, 0, 0},
			{"/model.24/m.2/Conv_output_0", 4, {1, 255, 20, 20}, 0, 0}};
		CHECK_INT(loader_check_outputs(s, o, 3, &err), KILN_EINVAL);
		CHECKF(strlen(err.msg) < sizeof(err.msg) - 1, "message cut: %s", err.msg);
		CHECK_STR(err.field, "mud.labels");
		CHECKF(strstr(err.msg, "give 80 labels") != NULL, "%s", err.msg);
	}
	spec_free(s);
	/* anchors that do not fit the head's 3 per level: mud.anchors (on a
	 * model whose anchors Kiln cannot read, or spec_parse would already
	 * refuse them as contradicting the model's) */
	cJSON_DeleteItemFromObject(insp, "anchors");
	spec = "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam\",\"name\":\"y\","
	       "\"outputs\":" YOLOV5_CONVS ",\"mud\":{\"model_type\":\"yolov5\","
	       "\"labels\":%s,\"anchors\":[10,13,16,30,33,23,30,61,62,45,59,119]}}";
	char *labels = labels_json(80);
	char buf[4096];
	snprintf(buf, sizeof(buf), spec, labels);
	s = parse(buf, insp);
	if (s) {
		struct kiln_err err = {0};
		CHECK_INT(loader_check_submit(s, insp, &err), KILN_EINVAL);
		CHECKF(strlen(err.msg) < sizeof(err.msg) - 1, "message cut: %s", err.msg);
		CHECK_STR(err.field, "mud.anchors");
	}
	spec_free(s);
	free(labels);
	cJSON_Delete(insp);
}

static void loader__model_type_contradicting_the_detected_family_is_a_400(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N);
	char *labels = labels_json(80);
	char spec[4096];
	snprintf(spec, sizeof(spec),
		 "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam\",\"name\":\"y\","
		 "\"outputs\":[\"a\"],\"mud\":{\"model_type\":\"yolov5\",\"labels\":%s}}", labels);
	struct job_spec *s = parse(spec, insp);
	if (s) {
		struct kiln_err err = {0};
		CHECK_INT(loader_check_submit(s, insp, &err), KILN_EINVAL);
		CHECKF(strlen(err.msg) < sizeof(err.msg) - 1, "message cut: %s", err.msg);
		CHECK_STR(err.field, "mud.model_type");
		CHECKF(strstr(err.msg, "use mud.model_type yolo11") != NULL, "%s", err.msg);
	}
	spec_free(s);
	/* yolov8 for a YOLO11 head is the same MaixCDK decoder: fine */
	snprintf(spec, sizeof(spec),
		 "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam\",\"name\":\"y\","
		 "\"outputs\":[\"a\"],\"mud\":{\"model_type\":\"yolov8\",\"labels\":%s}}", labels);
	s = parse(spec, insp);
	if (s) {
		struct kiln_err err = {0};
		CHECKF(loader_check_submit(s, insp, &err) == 0, "%s", err.msg);
	}
	spec_free(s);
	free(labels);
	cJSON_Delete(insp);
}

static void loader__classifier_needs_one_label_per_score(void)
{
	cJSON *insp = cJSON_Parse("{\"inputs\":[{\"name\":\"input\",\"shape\":[1,3,224,224]}],"
				  "\"outputs\":[{\"name\":\"536\",\"shape\":[1,1000]}],"
				  "\"suggested_model_type\":\"classifier\"}");
	const char *spec = "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam\","
			   "\"name\":\"c\",\"outputs\":[\"536\"],\"mud\":{\"model_type\":"
			   "\"classifier\",\"labels\":[\"cat\",\"dog\",\"bird\"]}}";
	struct job_spec *s = parse(spec, insp);
	if (s) {
		struct kiln_err err = {0};
		CHECK_INT(loader_check_submit(s, insp, &err), KILN_EINVAL);
		CHECKF(strlen(err.msg) < sizeof(err.msg) - 1, "message cut: %s", err.msg);
		CHECK_STR(err.field, "mud.labels");
		CHECKF(strstr(err.msg, "1000 classes") != NULL, "%s", err.msg);
	}
	spec_free(s);
	cJSON_Delete(insp);
}

/* issue 13 item 4: MaixCDK's YOLOv5 decoder reads NCHW and checks
 * shape[1] == (classes + 5) * anchors, so MaixCAM2 must not dst_perm the
 * head convs; asking for nhwc anyway is a 400 on the option. */
/* A model cut at the head convs has no anchor_grid: the spec gives them. */
#define COCO_ANCHORS "[10,13,16,30,33,23,30,61,62,45,59,119,116,90,156,198,373,326]"
static const char *INSP_YOLOV5S_CUT =
	"{\"inputs\":[{\"name\":\"images\",\"shape\":[1,3,640,640]}],"
	"\"outputs\":[{\"name\":\"/model.24/m.0/Conv_output_0\",\"shape\":[1,255,80,80]},"
	"{\"name\":\"/model.24/m.1/Conv_output_0\",\"shape\":[1,255,40,40]},"
	"{\"name\":\"/model.24/m.2/Conv_output_0\",\"shape\":[1,255,20,20]}]}";

static const cJSON *output_processors(const struct recipe_out *r, size_t file)
{
	static cJSON *keep;
	cJSON_Delete(keep);
	keep = cJSON_Parse(r->plan->files[file].content);
	return cJSON_GetObjectItemCaseSensitive(keep, "output_processors");
}

static void maixcam2__yolov5_heads_stay_nchw_for_maixcdks_decoder(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLOV5S_CUT);
	char *labels = labels_json(80);
	char spec[4096];
	snprintf(spec, sizeof(spec),
		 "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam2\",\"name\":\"y5\","
		 "\"outputs\":" YOLOV5_CONVS ",\"mud\":{\"model_type\":\"yolov5\",\"labels\":%s,"
		 "\"anchors\":" COCO_ANCHORS "}}", labels);
	struct job_spec *s = parse(spec, insp);
	struct recipe_out *r = NULL;
	struct recipe_paths p;
	recipe_paths_default(&p);
	struct kiln_err err = {0};
	if (s && CHECKF(recipe_plan(s, insp, &p, &r, &err) == 0, "%s", err.msg)) {
		CHECK_INT(loader_check_dst_perm(s), 0);
		for (size_t f = 0; f < r->plan->n_files; f++) {
			const cJSON *op;
			int n = 0;
			cJSON_ArrayForEach(op, output_processors(r, f)) {
				n++;
				CHECKF(!cJSON_HasObjectItem(op, "dst_perm"), "%s has a dst_perm: %s",
				       r->plan->files[f].name, r->plan->files[f].content);
			}
			CHECK_INT(n, 3);
		}
		CHECKF(loader_check_submit(s, insp, &err) == 0, "%s: %s", err.field, err.msg);
	}
	recipe_out_free(r);
	spec_free(s);
	snprintf(spec, sizeof(spec),
		 "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam2\",\"name\":\"y5\","
		 "\"outputs\":" YOLOV5_CONVS ",\"target_options\":{\"output_layout\":\"nhwc\"},"
		 "\"mud\":{\"model_type\":\"yolov5\",\"labels\":%s,\"anchors\":" COCO_ANCHORS "}}",
		 labels);
	s = parse(spec, insp);
	if (s) {
		CHECK_INT(loader_check_submit(s, insp, &err), KILN_EINVAL);
		CHECKF(strlen(err.msg) < sizeof(err.msg) - 1, "message cut: %s", err.msg);
		CHECK_STR(err.field, "target_options.output_layout");
		CHECKF(strstr(err.msg, "reads NCHW only") != NULL, "%s", err.msg);
		/* and were it planned so, the bundle check says the board's words */
		struct loader_out o[3] = {
			{"/model.24/m.0/Conv_output_0", 4, {1, 80, 80, 255}, 1, 0},
			{"/model.24/m.1/Conv_output_0", 4, {1, 40, 40, 255}, 1, 0},
			{"/model.24/m.2/Conv_output_0", 4, {1, 20, 20, 255}, 1, 0}};
		CHECK_INT(loader_check_outputs(s, o, 3, &err), KILN_EINVAL);
		CHECKF(strlen(err.msg) < sizeof(err.msg) - 1, "message cut: %s", err.msg);
		CHECKF(strstr(err.msg, "mud labels or anchors not match model's") != NULL, "%s",
		       err.msg);
	}
	spec_free(s);
	free(labels);
	cJSON_Delete(insp);
}

/* issue 13 item 5: the cut model is simplified (onnx_opt.enable_onnxsim,
 * off by default in pulsar2). */
static void maixcam2__config_asks_pulsar2_to_simplify_the_cut_model(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N_CONCATS);
	char *labels = labels_json(80);
	char spec[4096];
	snprintf(spec, sizeof(spec),
		 "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam2\",\"name\":\"y\","
		 "\"outputs\":[\"/model.23/Concat_output_0\",\"/model.23/Concat_1_output_0\","
		 "\"/model.23/Concat_2_output_0\"],\"mud\":{\"model_type\":\"yolo11\",\"labels\":%s}}",
		 labels);
	struct job_spec *s = parse(spec, insp);
	struct recipe_out *r = NULL;
	struct recipe_paths p;
	recipe_paths_default(&p);
	struct kiln_err err = {0};
	if (s && CHECKF(recipe_plan(s, insp, &p, &r, &err) == 0, "%s", err.msg)) {
		CHECK_INT(r->plan->n_files, 2);
		for (size_t f = 0; f < r->plan->n_files; f++) {
			cJSON *cfg = cJSON_Parse(r->plan->files[f].content);
			const cJSON *oo = cJSON_GetObjectItemCaseSensitive(cfg, "onnx_opt");
			CHECKF(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(oo, "enable_onnxsim")),
			       "%s", r->plan->files[f].content);
			cJSON_Delete(cfg);
		}
	}
	recipe_out_free(r);
	spec_free(s);
	free(labels);
	cJSON_Delete(insp);
}

/* issue 13 item 6: QuantMethod has MinMax, Percentile, MSE; no KL. */
static void spec__pulsar2_calibration_method_kl_is_refused(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N_CONCATS);
	const char *spec = "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam2\","
			   "\"name\":\"y\",\"calibration\":{\"method\":\"KL\"},"
			   "\"outputs\":[\"/model.23/Concat_output_0\"],"
			   "\"mud\":{\"model_type\":\"yolo11\",\"labels\":[\"a\"]}}";
	struct job_spec *s = NULL;
	struct kiln_err err = {0};
	CHECK_INT(spec_parse_text(spec, strlen(spec), insp, &s, &err), KILN_EINVAL);
	CHECK_STR(err.field, "calibration.method");
	spec_free(s);
	cJSON *t = targets_json();
	char *text = cJSON_PrintUnformatted(t);
	CHECKF(strstr(text, "\"KL\"") == NULL, "targets still offer KL");
	free(text);
	cJSON_Delete(t);
	cJSON_Delete(insp);
}

/* issue 13 item 6: reCamera F16 is BF16 on CV18xx (TopLowering.h), named
 * so, and deployed with seed 002's --tolerance 0.99,0.9. */
static void recamera__f16_is_named_bf16_and_checked_at_seed_002s_tolerance(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N);
	const char *spec = "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"recamera\","
			   "\"name\":\"yolo11n\",\"quantize\":\"f16\",\"outputs\":[\"output0\"],"
			   "\"test_image\":\"dog\",\"mud\":{\"labels\":[\"a\"]}}";
	struct job_spec *s = parse(spec, insp);
	struct recipe_out *r = NULL;
	struct recipe_paths p;
	recipe_paths_default(&p);
	p.test_image = "dog.jpg";
	struct kiln_err err = {0};
	if (s && CHECKF(recipe_plan(s, insp, &p, &r, &err) == 0, "%s", err.msg)) {
		const struct plan_step *d = NULL;
		for (size_t i = 0; i < r->plan->n_steps; i++)
			if (strcmp(r->plan->steps[i].name, "deploy") == 0)
				d = &r->plan->steps[i];
		if (CHECK(d != NULL)) {
			int tol = 0, f16 = 0, model = 0;
			for (size_t k = 0; k + 1 < d->argc; k++) {
				tol |= strcmp(d->argv[k], "--tolerance") == 0 &&
				       strcmp(d->argv[k + 1], "0.99,0.9") == 0;
				f16 |= strcmp(d->argv[k], "--quantize") == 0 &&
				       strcmp(d->argv[k + 1], "F16") == 0;
				model |= strcmp(d->argv[k], "--model") == 0 &&
					 strcmp(d->argv[k + 1], "yolo11n_cv181x_bf16.cvimodel") == 0;
			}
			CHECK(tol);
			CHECK(f16);    /* the seed's own command */
			CHECK(model);  /* what the cvimodel holds */
		}
	}
	recipe_out_free(r);
	spec_free(s);
	cJSON_Delete(insp);
}

/* Before a bundle is marked good, the staged .mud is read back with
 * MaixCDK's rules: one without labels would not load. */
static void loader__bundle_with_a_mud_the_board_refuses_fails(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N);
	const char *spec = "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"maixcam\","
			   "\"name\":\"y\",\"outputs\":[\"output0\"],"
			   "\"mud\":{\"model_type\":\"yolo11\",\"labels\":[\"a\"]}}";
	struct job_spec *s = parse(spec, insp);
	if (s) {
		const char *dir = kt_tmpdir();
		char path[700];
		snprintf(path, sizeof(path), "%s/y.mud", dir);
		const char *mud = "[basic]\ntype = cvimodel\nmodel = y_int8.cvimodel\n\n[extra]\n"
				  "model_type = yolo11\ninput_type = rgb\nmean = 0,0,0\n"
				  "scale = 1,1,1\n";
		CHECK(kt_write_file(path, mud, strlen(mud)) == 0);
		snprintf(path, sizeof(path), "%s/y_int8.cvimodel", dir);
		CHECK(kt_write_file(path, "x", 1) == 0);
		struct kiln_err err = {0};
		CHECK_INT(loader_check_bundle(s, "/nonexistent.onnx", dir, &err), KILN_EUNPROC);
		CHECKF(strlen(err.msg) < sizeof(err.msg) - 1, "message cut: %s", err.msg);
		CHECKF(strstr(err.msg, "would not load on the board") &&
		       strstr(err.msg, "labels key not found"), "%s", err.msg);
	}
	spec_free(s);
	cJSON_Delete(insp);
}


/* --- reCamera, AXera-Pi, Metis (issue 13: a loader row per board) -------------- */

/* A 640x640 model whose head the inspection does not describe. */
static const char *INSP_BARE_640 =
	"{\"inputs\":[{\"name\":\"images\",\"shape\":[1,3,640,640]}],\"outputs\":[]}";

/* A spec for target with model_type and nl labels (and mud.type when
 * type is not NULL), checked against the uncut YOLO11n / yolov5s. */
static struct job_spec *spec_for(const char *target, const char *model_type, int nl,
				 const char *type, const cJSON *insp)
{
	char *labels = labels_json(nl);
	char spec[4096], ty[64] = "";
	if (type)
		snprintf(ty, sizeof(ty), ",\"type\":\"%s\"", type);
	snprintf(spec, sizeof(spec),
		 "{\"model\":\"m\",\"dataset\":\"d\",\"target\":\"%s\",\"name\":\"y\","
		 "\"outputs\":[\"a\"],\"mud\":{\"model_type\":\"%s\",\"labels\":%s%s}}",
		 target, model_type, labels, ty);
	free(labels);
	return parse(spec, insp);
}

#define WANT_REFUSED(s_, o_, n_, code_, field_, words_)                                  \
	do {                                                                              \
		struct kiln_err e_ = {0};                                                 \
		CHECK_INT(loader_check_outputs((s_), (o_), (n_), &e_), (code_));          \
		CHECKF(strlen(e_.msg) < sizeof(e_.msg) - 1, "message cut: %s", e_.msg);   \
		CHECKF(strstr(e_.msg, (words_)) != NULL, "%s", e_.msg);                   \
		CHECK_STR(e_.field, (field_));                                            \
	} while (0)
#define WANT_LOADS(s_, o_, n_)                                                            \
	do {                                                                              \
		struct kiln_err e_ = {0};                                                 \
		CHECKF(loader_check_outputs((s_), (o_), (n_), &e_) == 0, "%s: %s",        \
		       e_.field, e_.msg);                                                 \
	} while (0)

/* SSCMA-Micro 60e2ede sscma/core/model/ma_model_yolo11.cpp / _yolov8.cpp
 * isValid: six 4-D outputs, box [1,64,S,S] and class [1,nc,S,S] per
 * stride, interleaved (Yolo11) or boxes first (YoloV8); anything else
 * reaches no decoder and sscma-node (model.cpp) throws "Model not
 * supported".  The class channels name the labels. */
static void recamera__yolo_heads_as_sscma_micro_takes_them(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N);
	struct job_spec *s = spec_for("recamera", "yolo11", 80, NULL, insp);
	if (s) {
		struct loader_out o[6];
		yolo11_six(o);
		WANT_LOADS(s, o, 6);
		/* boxes first: YoloV8::isValid (outputs i / i + 3) */
		struct loader_out g[6];
		for (int i = 0; i < 3; i++) {
			g[i] = o[2 * i];
			g[i + 3] = o[2 * i + 1];
		}
		WANT_LOADS(s, g, 6);
		/* MaixCAM2's three Concats reach no decoder */
		struct loader_out c3[3] = {
			{"/model.23/Concat_output_0", 4, {1, 144, 80, 80}, 0, 0},
			{"/model.23/Concat_1_output_0", 4, {1, 144, 40, 40}, 0, 0},
			{"/model.23/Concat_2_output_0", 4, {1, 144, 20, 20}, 0, 0}};
		WANT_REFUSED(s, c3, 3, KILN_EUNPROC, "outputs", "\"Model not supported\"");
		/* a stride-16 box conv where the stride-8 one belongs */
		struct loader_out sw[6];
		memcpy(sw, o, sizeof(sw));
		sw[0] = o[2];
		sw[2] = o[0];
		WANT_REFUSED(s, sw, 6, KILN_EUNPROC, "outputs", "\"Model not supported\"");
	}
	spec_free(s);
	/* 3 labels for the 80-class convs */
	cJSON *bare = cJSON_Parse(INSP_BARE_640);
	s = spec_for("recamera", "yolo11", 3, NULL, bare);
	cJSON_Delete(bare);
	if (s) {
		struct loader_out o[6];
		yolo11_six(o);
		WANT_REFUSED(s, o, 6, KILN_EINVAL, "mud.labels", "reads 80 classes");
	}
	spec_free(s);
	cJSON_Delete(insp);
}

/* ma_model_yolov5.cpp generalValid: one output [1, 3 x (S/32^2 + S/16^2 +
 * S/8^2), 5 + nc] with 6 <= 5 + nc <= 85; the raw head convs reach no
 * decoder.  ma_model_classifier.cpp comes before Yolo11Pose in
 * ModelFactory::create and takes any one [1, >= 2, ...] 3-D output, so a
 * YOLO11-pose model in auto mode is read as a classifier. */
static void recamera__yolov5_pose_seg_and_classifier_in_factory_order(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLOV5S);
	struct job_spec *s = spec_for("recamera", "yolov5", 80, NULL, insp);
	if (s) {
		struct loader_out one = {"output0", 3, {1, 25200, 85}, 0, 1};
		WANT_LOADS(s, &one, 1);
		struct loader_out convs[3] = {
			{"/model.24/m.0/Conv_output_0", 4, {1, 255, 80, 80}, 0, 0},
			{"/model.24/m.1/Conv_output_0", 4, {1, 255, 40, 40}, 0, 0},
			{"/model.24/m.2/Conv_output_0", 4, {1, 255, 20, 20}, 0, 0}};
		WANT_REFUSED(s, convs, 3, KILN_EUNPROC, "outputs", "\"Model not supported\"");
	}
	spec_free(s);
	cJSON *y11 = cJSON_Parse(INSP_YOLO11N);
	s = spec_for("recamera", "yolo11", 1, "pose", y11);
	if (s) {
		struct loader_out pose = {"output0", 3, {1, 56, 8400}, 0, 1};
		WANT_REFUSED(s, &pose, 1, KILN_EUNPROC, "outputs", "as a Classifier");
	}
	spec_free(s);
	s = spec_for("recamera", "yolo11", 80, "seg", y11);
	if (s) {
		struct loader_out seg[2] = {{"output0", 3, {1, 116, 8400}, 0, 1},
					    {"output1", 4, {1, 32, 160, 160}, 0, 1}};
		WANT_LOADS(s, seg, 2);
		seg[1].d[2] = seg[1].d[3] = 80;
		WANT_REFUSED(s, seg, 2, KILN_EUNPROC, "outputs", "\"Model not supported\"");
	}
	spec_free(s);
	s = spec_for("recamera", "yolo11", 79, "seg", y11);
	if (s) {
		struct loader_out seg[2] = {{"output0", 3, {1, 116, 8400}, 0, 1},
					    {"output1", 4, {1, 32, 160, 160}, 0, 1}};
		WANT_REFUSED(s, seg, 2, KILN_EINVAL, "mud.labels", "Yolo11Seg reads 80 classes");
	}
	spec_free(s);
	/* a square input is required by every YOLO decoder */
	cJSON *wide = cJSON_Parse("{\"inputs\":[{\"name\":\"images\",\"shape\":[1,3,480,640]}],"
				  "\"outputs\":[]}");
	s = spec_for("recamera", "yolo11", 80, NULL, wide);
	if (s) {
		struct loader_out o[6];
		yolo11_six(o);
		WANT_REFUSED(s, o, 6, KILN_EINVAL, "input.shape", "square");
	}
	spec_free(s);
	cJSON_Delete(wide);
	cJSON_Delete(y11);
	cJSON_Delete(insp);
}

/* A 4-D output as the AXera-Pi holds it: pulsar builds the joint with
 * --output_tensor_layout nhwc (pulsar-docs f391cff2 advanced_guides.rst
 * "Joint Layout"; NCHW is its default), as ax-samples reads it. */
static void to_nhwc(struct loader_out *o, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (o[i].rank != 4)
			continue;
		int64_t c = o[i].d[1];
		o[i].d[1] = o[i].d[2];
		o[i].d[2] = o[i].d[3];
		o[i].d[3] = c;
		o[i].nhwc = 1;
	}
}

/* ax-samples 70a5178 examples/ax620/ax_yolov5s_steps.cc: output i is
 * stride (1 << i) * 8; detection.hpp generate_proposals_yolov5 reads 3
 * anchors x (5 + classes) per cell, channels last.  ax_yolov8s_steps.cc:
 * pOutputs[i] DFL, [i + 3] classes, [i + 6] class index: 9 outputs. */
static void axera_pi__ax_samples_programs_read_outputs_by_position(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLOV5S);
	struct job_spec *s = spec_for("axera-pi", "yolov5", 80, NULL, insp);
	struct loader_out convs[3] = {
		{"/model.24/m.0/Conv_output_0", 4, {1, 255, 80, 80}, 0, 0},
		{"/model.24/m.1/Conv_output_0", 4, {1, 255, 40, 40}, 0, 0},
		{"/model.24/m.2/Conv_output_0", 4, {1, 255, 20, 20}, 0, 0}};
	if (s) {
		/* NCHW on the board (pulsar's default) is refused */
		WANT_REFUSED(s, convs, 3, KILN_EUNPROC, "outputs", "channels last");
		to_nhwc(convs, 3);
		WANT_LOADS(s, convs, 3);
		struct loader_out rev[3] = {convs[2], convs[1], convs[0]};
		WANT_REFUSED(s, rev, 3, KILN_EUNPROC, "outputs", "reads output 0 as stride 8");
		WANT_REFUSED(s, convs, 2, KILN_EUNPROC, "outputs", "this bundle has 2");
	}
	spec_free(s);
	cJSON *bare = cJSON_Parse(INSP_BARE_640);
	s = spec_for("axera-pi", "yolov5", 3, NULL, bare);
	cJSON_Delete(bare);
	if (s)
		WANT_REFUSED(s, convs, 3, KILN_EINVAL, "mud.labels", "3 anchors x (5 + classes)");
	spec_free(s);
	cJSON_Delete(insp);
	insp = cJSON_Parse(INSP_YOLO11N);
	s = spec_for("axera-pi", "yolo11", 80, NULL, insp);
	if (s) {
		struct loader_out o[9];
		yolo11_six(o);
		struct loader_out g[9];
		for (int i = 0; i < 3; i++) {
			g[i] = o[2 * i];
			g[i + 3] = o[2 * i + 1];
		}
		WANT_REFUSED(s, g, 6, KILN_EUNPROC, "outputs", "reads 9 outputs");
		for (int i = 0; i < 3; i++)
			g[i + 6] = (struct loader_out){"argmax", 4, {1, 1, 80 >> i, 80 >> i}, 0, 0};
		to_nhwc(g, 9);
		WANT_LOADS(s, g, 9);
		g[7].d[3] = 80;
		WANT_REFUSED(s, g, 9, KILN_EUNPROC, "outputs", "class index (1 ch)");
	}
	spec_free(s);
	cJSON_Delete(insp);
}

/* ax-samples 2f447b6 examples/ax620/ax_yolov8s_pose_steps.cc: 3 outputs,
 * stride 8 << i, 1 + 64 + 17 x 3 = 116 per cell (detection.hpp
 * generate_proposals_yolov8_pose), one class; 4380467
 * ax_yolov8s_seg_steps.cc: 10 outputs (DFL + 32 coefficients, classes,
 * class index per stride, then the 32 x H/4 x W/4 prototypes).  No AX620
 * program decodes oriented boxes: obb is a 422 naming the programs. */
static void axera_pi__pose_seg_programs_and_no_obb(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N);
	struct job_spec *s = spec_for("axera-pi", "yolo11", 1, "pose", insp);
	if (s) {
		struct loader_out p[3] = {{"p8", 4, {1, 116, 80, 80}, 0, 0},
					  {"p16", 4, {1, 116, 40, 40}, 0, 0},
					  {"p32", 4, {1, 116, 20, 20}, 0, 0}};
		to_nhwc(p, 3);
		WANT_LOADS(s, p, 3);
		/* Ultralytics' pose outputs: the level Concats [1,65,H,W] */
		p[0].d[3] = p[1].d[3] = p[2].d[3] = 65;
		WANT_REFUSED(s, p, 3, KILN_EUNPROC, "outputs", "[1,80,80,116]");
		struct loader_out own = {"output0", 3, {1, 56, 8400}, 0, 1};
		WANT_REFUSED(s, &own, 1, KILN_EUNPROC, "outputs", "ax_yolov8s_pose_steps.cc");
	}
	spec_free(s);
	s = spec_for("axera-pi", "yolo11", 2, "pose", insp);
	if (s) {
		struct loader_out own = {"output0", 3, {1, 56, 8400}, 0, 1};
		WANT_REFUSED(s, &own, 1, KILN_EINVAL, "mud.labels", "one class");
	}
	spec_free(s);
	s = spec_for("axera-pi", "yolov8", 80, "seg", insp);
	if (s) {
		struct loader_out g[10];
		for (int i = 0; i < 3; i++) {
			int64_t hw = 80 >> i;
			g[i] = (struct loader_out){"dfl", 4, {1, 96, hw, hw}, 0, 0};
			g[i + 3] = (struct loader_out){"cls", 4, {1, 80, hw, hw}, 0, 0};
			g[i + 6] = (struct loader_out){"idx", 4, {1, 1, hw, hw}, 0, 0};
		}
		g[9] = (struct loader_out){"proto", 4, {1, 32, 160, 160}, 0, 0};
		to_nhwc(g, 10);
		WANT_LOADS(s, g, 10);
		WANT_REFUSED(s, g, 9, KILN_EUNPROC, "outputs", "reads 10 outputs");
		g[9].d[3] = 16;
		WANT_REFUSED(s, g, 10, KILN_EUNPROC, "outputs", "output 9 as the prototypes");
		struct loader_out own[2] = {{"output0", 3, {1, 116, 8400}, 0, 1},
					    {"output1", 4, {1, 32, 160, 160}, 0, 1}};
		WANT_REFUSED(s, own, 2, KILN_EUNPROC, "outputs", "class-index");
	}
	spec_free(s);
	s = spec_for("axera-pi", "yolov8", 80, "obb", insp);
	if (s) {
		struct loader_out own = {"output0", 3, {1, 85, 8400}, 0, 1};
		WANT_REFUSED(s, &own, 1, KILN_EUNPROC, "mud.type", "ax_yolov8s_pose_steps.cc");
	}
	spec_free(s);
	cJSON_Delete(insp);
	/* ax-samples @ 70a51781 examples/ax620/ax_yolov5s_seg_steps.cc: a yolov5
	 * seg job is held to the seg program, not passed as a detect one: 3
	 * heads of 3 x (5 + 80 + 32) = 351 channels last (generate_proposals_
	 * yolov5_seg's default cls_num 80, which the program does not change),
	 * then the 32 prototypes at H/4 */
	insp = cJSON_Parse(INSP_YOLOV5S);
	s = spec_for("axera-pi", "yolov5", 80, "seg", insp);
	if (s) {
		struct loader_out convs[4] = {
			{"/model.24/m.0/Conv_output_0", 4, {1, 80, 80, 255}, 1, 0},
			{"/model.24/m.1/Conv_output_0", 4, {1, 40, 40, 255}, 1, 0},
			{"/model.24/m.2/Conv_output_0", 4, {1, 20, 20, 255}, 1, 0},
			{"output1", 4, {1, 160, 160, 32}, 1, 0}};
		WANT_REFUSED(s, convs, 3, KILN_EUNPROC, "outputs", "reads 4 outputs");
		WANT_REFUSED(s, convs, 4, KILN_EUNPROC, "outputs", "[1,80,80,351]");
		for (int i = 0; i < 3; i++)
			convs[i].d[3] = 351;
		WANT_LOADS(s, convs, 4);
		convs[3].d[3] = 16;
		WANT_REFUSED(s, convs, 4, KILN_EUNPROC, "outputs", "output 3 as the prototypes");
		convs[3].d[3] = 32;
		struct job_spec *few = spec_for("axera-pi", "yolov5", 3, "seg", insp);
		if (few)
			WANT_REFUSED(few, convs, 4, KILN_EINVAL, "mud.labels", "decodes 80 classes");
		spec_free(few);
	}
	spec_free(s);
	s = spec_for("axera-pi", "yolov5", 80, "pose", insp);
	if (s) {
		struct loader_out own = {"output0", 3, {1, 25200, 85}, 0, 1};
		WANT_REFUSED(s, &own, 1, KILN_EUNPROC, "mud.type", "ax_yolov5s_seg_steps.cc");
	}
	spec_free(s);
	cJSON_Delete(insp);
}

/* voyager-sdk v1.2.5 @ 38c4bf07: the zoo's yolov8npose-coco-onnx.yaml and
 * yolov8nseg-coco-onnx.yaml compile the export uncut; decodeyolopose
 * (decoders/yolopose.py) decodes classes:1 with COCO's 17 x 3 keypoints,
 * decodeyoloseg (decoders/yoloseg.py) reads two tensors with num_classes;
 * ax_models/decoders/ has no oriented-box decoder. */
static void metis__pose_and_seg_decoders_read_the_model_own_outputs(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N);
	struct job_spec *s = spec_for("metis", "yolo11", 1, "pose", insp);
	if (s) {
		struct loader_out own = {"output0", 3, {1, 56, 8400}, 0, 1};
		WANT_LOADS(s, &own, 1);
		own.d[1] = 59;   /* 18 keypoints: not COCO body */
		WANT_REFUSED(s, &own, 1, KILN_EUNPROC, "outputs", "17 x 3");
		struct loader_out cut[3] = {{"/model.23/Concat_output_0", 4, {1, 65, 80, 80}, 0, 0},
					    {"/model.23/Concat_1_output_0", 4, {1, 65, 40, 40}, 0, 0},
					    {"/model.23/Concat_2_output_0", 4, {1, 65, 20, 20}, 0, 0}};
		WANT_REFUSED(s, cut, 3, KILN_EUNPROC, "outputs", "is a cut");
	}
	spec_free(s);
	s = spec_for("metis", "yolo11", 3, "pose", insp);
	if (s) {
		struct loader_out own = {"output0", 3, {1, 56, 8400}, 0, 1};
		WANT_REFUSED(s, &own, 1, KILN_EINVAL, "mud.labels", "classes:1");
	}
	spec_free(s);
	s = spec_for("metis", "yolov8", 80, "seg", insp);
	if (s) {
		struct loader_out own[2] = {{"output0", 3, {1, 116, 8400}, 0, 1},
					    {"output1", 4, {1, 32, 160, 160}, 0, 1}};
		WANT_LOADS(s, own, 2);
		WANT_REFUSED(s, own, 1, KILN_EUNPROC, "outputs", "reads two");
	}
	spec_free(s);
	s = spec_for("metis", "yolov8", 79, "seg", insp);
	if (s) {
		struct loader_out own[2] = {{"output0", 3, {1, 116, 8400}, 0, 1},
					    {"output1", 4, {1, 32, 160, 160}, 0, 1}};
		WANT_REFUSED(s, own, 2, KILN_EINVAL, "mud.labels", "give 80 labels");
	}
	spec_free(s);
	s = spec_for("metis", "yolov8", 80, "obb", insp);
	if (s) {
		struct loader_out own = {"output0", 3, {1, 85, 8400}, 0, 1};
		WANT_REFUSED(s, &own, 1, KILN_EUNPROC, "mud.type", "yolopose, yoloseg");
	}
	spec_free(s);
	cJSON_Delete(insp);
}

/* voyager-sdk v1.2.5 ax_models/decoders/yolo.py _guess_yolo_model: YOLOv8
 * is 6 outputs with channels[:3] == 64 and channels[3:] == num_classes,
 * YOLOv5 3 outputs of 3 x (5 + num_classes); others "Unknown model type
 * for <name>, using generic GST decoder".  The model's own outputs are
 * what the SDK's zoo compiles, so they pass. */
static void metis__decodeyolo_wants_box_convs_first(void)
{
	cJSON *insp = cJSON_Parse(INSP_YOLO11N);
	struct job_spec *s = spec_for("metis", "yolo11", 80, NULL, insp);
	if (s) {
		struct loader_out o[6], g[6];
		yolo11_six(o);
		WANT_REFUSED(s, o, 6, KILN_EUNPROC, "outputs",
			     "\"Unknown model type for y, using generic GST decoder\"");
		for (int i = 0; i < 3; i++) {
			g[i] = o[2 * i];
			g[i + 3] = o[2 * i + 1];
		}
		WANT_LOADS(s, g, 6);
		struct loader_out own = {"output0", 3, {1, 84, 8400}, 0, 1};
		WANT_LOADS(s, &own, 1);
	}
	spec_free(s);
	cJSON_Delete(insp);
	insp = cJSON_Parse(INSP_YOLOV5S);
	s = spec_for("metis", "yolov5", 80, NULL, insp);
	if (s) {
		struct loader_out convs[3] = {
			{"/model.24/m.0/Conv_output_0", 4, {1, 255, 80, 80}, 0, 0},
			{"/model.24/m.1/Conv_output_0", 4, {1, 255, 40, 40}, 0, 0},
			{"/model.24/m.2/Conv_output_0", 4, {1, 255, 20, 20}, 0, 0}};
		WANT_LOADS(s, convs, 3);
		convs[1].d[1] = 24;
		WANT_REFUSED(s, convs, 3, KILN_EUNPROC, "outputs", "channels [255,24,255]");
	}
	spec_free(s);
	cJSON_Delete(insp);
}

/* Labels against the head's channels on every board, at submit: 3 labels
 * for yolov5s's 80-class output0 [1,25200,85] (and 79 for YOLO11n's
 * [1,84,8400]) are a 400 naming mud.labels whatever the board. */
static void loader__labels_against_the_head_on_every_board(void)
{
	static const char *const boards[] = {"maixcam", "maixcam2", "recamera", "axera-pi",
					     "metis"};
	cJSON *v5 = cJSON_Parse(INSP_YOLOV5S), *y11 = cJSON_Parse(INSP_YOLO11N);
	for (size_t b = 0; b < sizeof(boards) / sizeof(boards[0]); b++) {
		for (int k = 0; k < 2; k++) {
			struct job_spec *s = spec_for(boards[b], k ? "yolo11" : "yolov5", k ? 79 : 3,
						      NULL, k ? y11 : v5);
			if (s == NULL)
				continue;
			struct kiln_err err = {0};
			CHECKF(loader_check_submit(s, k ? y11 : v5, &err) == KILN_EINVAL &&
			       strcmp(err.field, "mud.labels") == 0 &&
			       strstr(err.msg, "has 80 classes"),
			       "%s %s: %s: %s", boards[b], k ? "yolo11" : "yolov5", err.field,
			       err.msg);
			spec_free(s);
			s = spec_for(boards[b], k ? "yolo11" : "yolov5", 80, NULL, k ? y11 : v5);
			if (s)
				CHECKF(loader_check_submit(s, k ? y11 : v5, &err) == 0, "%s: %s: %s",
				       boards[b], err.field, err.msg);
			spec_free(s);
		}
	}
	cJSON_Delete(v5);
	cJSON_Delete(y11);
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"loader__yolo11_six_head_convs_are_refused_with_the_layouts_it_takes",
		 loader__yolo11_six_head_convs_are_refused_with_the_layouts_it_takes},
		{"loader__maixcam2_yolo11_concats_load_and_labels_must_fit_the_channels",
		 loader__maixcam2_yolo11_concats_load_and_labels_must_fit_the_channels},
		{"loader__yolo11_pose_and_seg_heads_on_maixcam2", loader__yolo11_pose_and_seg_heads_on_maixcam2},
		{"loader__three_labels_for_a_255_channel_yolov5_head_is_a_400_naming_mud_labels",
		 loader__three_labels_for_a_255_channel_yolov5_head_is_a_400_naming_mud_labels},
		{"loader__model_type_contradicting_the_detected_family_is_a_400",
		 loader__model_type_contradicting_the_detected_family_is_a_400},
		{"loader__classifier_needs_one_label_per_score",
		 loader__classifier_needs_one_label_per_score},
		{"loader__bundle_with_a_mud_the_board_refuses_fails",
		 loader__bundle_with_a_mud_the_board_refuses_fails},
		{"maixcam2__yolov5_heads_stay_nchw_for_maixcdks_decoder",
		 maixcam2__yolov5_heads_stay_nchw_for_maixcdks_decoder},
		{"maixcam2__config_asks_pulsar2_to_simplify_the_cut_model",
		 maixcam2__config_asks_pulsar2_to_simplify_the_cut_model},
		{"spec__pulsar2_calibration_method_kl_is_refused",
		 spec__pulsar2_calibration_method_kl_is_refused},
		{"recamera__f16_is_named_bf16_and_checked_at_seed_002s_tolerance",
		 recamera__f16_is_named_bf16_and_checked_at_seed_002s_tolerance},
		{"recamera__yolo_heads_as_sscma_micro_takes_them",
		 recamera__yolo_heads_as_sscma_micro_takes_them},
		{"recamera__yolov5_pose_seg_and_classifier_in_factory_order",
		 recamera__yolov5_pose_seg_and_classifier_in_factory_order},
		{"axera_pi__ax_samples_programs_read_outputs_by_position",
		 axera_pi__ax_samples_programs_read_outputs_by_position},
		{"axera_pi__pose_seg_programs_and_no_obb", axera_pi__pose_seg_programs_and_no_obb},
		{"metis__pose_and_seg_decoders_read_the_model_own_outputs",
		 metis__pose_and_seg_decoders_read_the_model_own_outputs},
		{"metis__decodeyolo_wants_box_convs_first", metis__decodeyolo_wants_box_convs_first},
		{"loader__labels_against_the_head_on_every_board",
		 loader__labels_against_the_head_on_every_board},
	};
	return kt_main("test_loader_check", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
