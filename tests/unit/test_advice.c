/*
 * test_advice: what to try next from a job's figures (conversion/advice.c):
 * the kind of failure each shape of figures is, and that only changes the
 * board really takes are offered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt.h"
#include "conversion/advice.h"

/* A job of target t whose int8 cosines per output are cos[i] (tolerance
 * tol), its spec quantize q, pixel format pf, mean/scale 0/1 when raw. */
static cJSON *job(const char *t, const double *cos, int n, double tol, const char *extra_spec)
{
	char spec[600];
	snprintf(spec, sizeof(spec), "{\"target\":\"%s\",\"quantize\":\"int8\",\"input\":"
		 "{\"pixel_format\":\"rgb\",\"mean\":[0,0,0],\"scale\":[0.00392157,0.00392157,"
		 "0.00392157]},\"calibration\":{\"count\":50%s}%s}", t,
		 strcmp(t, "maixcam2") == 0 ? ",\"method\":\"MinMax\"" : "", extra_spec);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "id", 7);
	cJSON_AddStringToObject(j, "target", t);
	cJSON_AddNumberToObject(j, "model", 3);
	cJSON_AddItemToObject(j, "spec", cJSON_Parse(spec));
	cJSON *res = cJSON_AddObjectToObject(j, "results");
	cJSON *rows = cJSON_AddArrayToObject(res, "rows");
	cJSON *outs = cJSON_AddArrayToObject(res, "outputs");
	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "out%d", i);
		cJSON *r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "step", "deploy_int8");
		cJSON_AddStringToObject(r, "stage", "int8");
		cJSON_AddStringToObject(r, "output", name);
		cJSON_AddStringToObject(r, "metric", "cosine");
		cJSON_AddNumberToObject(r, "value", cos[i]);
		cJSON_AddItemToArray(rows, r);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "output", name);
		cJSON_AddNumberToObject(o, "cosine", cos[i]);
		cJSON_AddItemToArray(outs, o);
	}
	cJSON *tl = cJSON_AddArrayToObject(res, "tolerance");
	cJSON_AddItemToArray(tl, cJSON_CreateNumber(tol));
	cJSON_AddArrayToObject(j, "figures");
	return j;
}

static const cJSON *suggestion(const cJSON *adv, const char *id)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(adv, "suggestions"))
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(s, "id")), id) == 0)
			return s;
	return NULL;
}

static char *change_of(const cJSON *adv, const char *id)
{
	const cJSON *s = suggestion(adv, id);
	const cJSON *c = s ? cJSON_GetObjectItem(s, "change") : NULL;
	return c ? cJSON_PrintUnformatted(c) : NULL;
}

static void advice__nothing_when_every_figure_holds(void)
{
	double c[] = {0.995, 0.999};
	cJSON *j = job("maixcam", c, 2, 0.99, "");
	CHECK(advice_build(j, 100) == NULL);
	cJSON_Delete(j);
}

static void advice__one_low_output_on_maixcam2_offers_another_method_not_mixed(void)
{
	double c[] = {0.95, 0.9995, 0.9993};
	cJSON *j = job("maixcam2", c, 3, 0.99, "");
	cJSON *a = advice_build(j, 0);
	if (!CHECK(a != NULL))
		return;
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "kind")), "head");
	char *m = change_of(a, "calibration_method");
	CHECK_STR(m, "{\"calibration\":{\"method\":\"Percentile\"}}");
	CHECK(suggestion(a, "mixed_precision") == NULL && suggestion(a, "bf16") == NULL);
	CHECK(suggestion(a, "calibration_count") == NULL);  /* set size unknown */
	const cJSON *cut = suggestion(a, "cut_earlier");
	CHECK(cut && !cJSON_GetObjectItem(cut, "change"));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cut, "link")), "/models/3/graph");
	free(m);
	cJSON_Delete(a);
	cJSON_Delete(j);
}

static void advice__recamera_gets_mixed_precision_and_maixcam_bf16(void)
{
	double c[] = {0.95, 0.999};
	cJSON *j = job("recamera", c, 2, 0.99, "");
	cJSON *a = advice_build(j, 200);
	char *m = change_of(a, "mixed_precision"), *n = change_of(a, "calibration_count");
	CHECK_STR(m, "{\"quantize\":\"mixed\"}");
	CHECK(suggestion(a, "calibration_method") == NULL && suggestion(a, "bf16") == NULL);
	CHECK_STR(n, "{\"calibration\":{\"count\":100}}");
	free(m);
	free(n);
	cJSON_Delete(a);
	cJSON_Delete(j);
	j = job("maixcam", c, 2, 0.99, "");
	a = advice_build(j, 50);
	m = change_of(a, "bf16");
	CHECK_STR(m, "{\"quantize\":\"bf16\"}");
	CHECK(suggestion(a, "mixed_precision") == NULL);
	CHECK(suggestion(a, "calibration_count") == NULL);  /* all 50 used already */
	free(m);
	cJSON_Delete(a);
	cJSON_Delete(j);
}

static void advice__every_output_far_off_is_the_input_not_quantization(void)
{
	double c[] = {0.42, 0.55};
	cJSON *j = job("maixcam", c, 2, 0.99, "");
	cJSON *a = advice_build(j, 0);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "kind")), "everywhere");
	char *m = change_of(a, "pixel_format");
	CHECK_STR(m, "{\"input\":{\"pixel_format\":\"bgr\"}}");
	CHECK(suggestion(a, "mean_scale") != NULL && suggestion(a, "bf16") == NULL);
	free(m);
	cJSON_Delete(a);
	cJSON_Delete(j);
	/* unscaled 0..255 input: one click gives 1/255 */
	j = job("maixcam", c, 2, 0.99, "");
	cJSON *in = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"), "input");
	cJSON_ReplaceItemInObject(in, "scale", cJSON_Parse("[1,1,1]"));
	a = advice_build(j, 0);
	m = change_of(a, "mean_scale");
	CHECK(m && strstr(m, "\"scale\":[0.00392157,0.00392157,0.00392157]"));
	free(m);
	cJSON_Delete(a);
	cJSON_Delete(j);
}

static void advice__low_from_the_first_layers_is_the_input(void)
{
	double c[] = {0.93};
	cJSON *j = job("maixcam2", c, 1, 0.99, "");
	cJSON *f = cJSON_Parse("[{\"kind\":\"layers\",\"layers\":[{\"layer\":\"op_0\",\"cosine\":0.9},"
			       "{\"layer\":\"op_1\",\"cosine\":0.95},{\"layer\":\"op_2\",\"cosine\":0.97},"
			       "{\"layer\":\"op_3\",\"cosine\":0.97},{\"layer\":\"op_4\",\"cosine\":0.93}]}]");
	cJSON_ReplaceItemInObject(j, "figures", f);
	cJSON *a = advice_build(j, 0);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "kind")), "everywhere");
	cJSON_Delete(a);
	/* the same table breaking only at its end is the head */
	cJSON_ReplaceItemInObject(j, "figures", cJSON_Parse(
		"[{\"kind\":\"layers\",\"layers\":[{\"layer\":\"op_0\",\"cosine\":0.999},"
		"{\"layer\":\"op_1\",\"cosine\":0.999},{\"layer\":\"op_2\",\"cosine\":0.998},"
		"{\"layer\":\"op_3\",\"cosine\":0.97},{\"layer\":\"op_4\",\"cosine\":0.93}]}]"));
	a = advice_build(j, 0);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "kind")), "head");
	const cJSON *cut = suggestion(a, "cut_earlier");
	CHECK(cut && strstr(cJSON_GetStringValue(cJSON_GetObjectItem(cut, "text")), "op_3"));
	cJSON_Delete(a);
	cJSON_Delete(j);
}

static void advice__a_float_stage_below_tolerance_is_not_quantization(void)
{
	double c[] = {0.999};
	cJSON *j = job("maixcam", c, 1, 0.99, "");
	cJSON *rows = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "results"), "rows");
	cJSON_AddItemToArray(rows, cJSON_Parse("{\"step\":\"transform\",\"stage\":\"float\","
					       "\"output\":\"out0\",\"metric\":\"cosine\",\"value\":0.9}"));
	cJSON *a = advice_build(j, 0);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "kind")), "float");
	const cJSON *s = cJSON_GetObjectItem(a, "suggestions");
	CHECK_INT(cJSON_GetArraySize(s), 1);
	CHECK(!cJSON_GetObjectItem(cJSON_GetArrayItem(s, 0), "change"));
	cJSON_Delete(a);
	cJSON_Delete(j);
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"advice__nothing_when_every_figure_holds", advice__nothing_when_every_figure_holds},
		{"advice__one_low_output_on_maixcam2_offers_another_method_not_mixed",
		 advice__one_low_output_on_maixcam2_offers_another_method_not_mixed},
		{"advice__recamera_gets_mixed_precision_and_maixcam_bf16",
		 advice__recamera_gets_mixed_precision_and_maixcam_bf16},
		{"advice__every_output_far_off_is_the_input_not_quantization",
		 advice__every_output_far_off_is_the_input_not_quantization},
		{"advice__low_from_the_first_layers_is_the_input",
		 advice__low_from_the_first_layers_is_the_input},
		{"advice__a_float_stage_below_tolerance_is_not_quantization",
		 advice__a_float_stage_below_tolerance_is_not_quantization},
	};
	return kt_main("advice", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
