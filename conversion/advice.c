/*
 * advice: the kind of failure from a job's figures, and what to try next
 * (see advice.h).
 *
 * Every suggestion is one row of SUGGESTIONS: the kinds it answers, and a
 * function that gives its change for this job's spec and target, or none
 * when the target has no such option (MaixCAM has no qtable, TPU-MLIR no
 * choice of calibration method) or the spec already has it.  A suggestion
 * without a change is still shown, as words (cutting the model is a
 * person's choice of tensors: it links to the graph view).
 */
#include "conversion/advice.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "conversion/targets.h"

enum kind { K_FLOAT = 1, K_EVERYWHERE = 2, K_HEAD = 4 };

static const char *const KIND_NAMES[] = {[K_FLOAT] = "float", [K_EVERYWHERE] = "everywhere",
					  [K_HEAD] = "head"};

/* What one suggestion needs to know about the job. */
struct ctx {
	const cJSON *job, *spec;
	const struct target *t;
	long long images;
	const char *first_bad_layer;   /* log order; NULL when no per-layer table */
};

static const char *str(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return s ? s : "";
}

static double num(const cJSON *o, const char *k, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* {"a": {"b": v}} from "a", "b"; b may be NULL for {"a": v}. */
static cJSON *change(const char *a, const char *b, cJSON *v)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL || v == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(v);
		return NULL;
	}
	if (b == NULL) {
		cJSON_AddItemToObject(o, a, v);
		return o;
	}
	cJSON *in = cJSON_AddObjectToObject(o, a);
	if (in == NULL) {
		cJSON_Delete(v);
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddItemToObject(in, b, v);
	return o;
}

/* --- the suggestions ------------------------------------------------------ */

static cJSON *ch_mixed(const struct ctx *c, char *text, size_t cap)
{
	if (!targets_quantize_ok(c->t, "mixed") || strcmp(str(c->spec, "quantize"), "mixed") == 0)
		return NULL;
	snprintf(text, cap, "Mixed precision: %s's toolchain searches which layers to keep in "
		 "floating point (TPU-MLIR run_qtable) and quantizes the rest to INT8",
		 c->t->id);
	return change("quantize", NULL, cJSON_CreateString("mixed"));
}

/* BF16 only where mixed precision is not offered: it gives up INT8's speed
 * for the whole model. */
static cJSON *ch_bf16(const struct ctx *c, char *text, size_t cap)
{
	const char *q = str(c->spec, "quantize");
	if (!targets_quantize_ok(c->t, "bf16") || targets_quantize_ok(c->t, "mixed") ||
	    strcmp(q, "bf16") == 0)
		return NULL;
	snprintf(text, cap, "BF16 instead of INT8: close to the float model, but larger and "
		 "slower on the NPU");
	return change("quantize", NULL, cJSON_CreateString("bf16"));
}

/* The target's other calibration methods, in the table's order (Pulsar2:
 * MinMax, Percentile, MSE): the first one the job did not use. */
static cJSON *ch_method(const struct ctx *c, char *text, size_t cap)
{
	const char *used = str(cJSON_GetObjectItemCaseSensitive(c->spec, "calibration"), "method");
	for (size_t i = 0; c->t->calib_methods && c->t->calib_methods[i]; i++) {
		const char *m = c->t->calib_methods[i];
		if (strcmp(m, used) == 0)
			continue;
		snprintf(text, cap, "Calibration method %s instead of %s: MinMax lets one outlier "
			 "set the whole range; Percentile and MSE clip it", m,
			 used[0] ? used : "the default");
		return change("calibration", "method", cJSON_CreateString(m));
	}
	return NULL;
}

/* More of the set's images when the job used fewer than it has. */
static cJSON *ch_count(const struct ctx *c, char *text, size_t cap)
{
	double used = num(cJSON_GetObjectItemCaseSensitive(c->spec, "calibration"), "count", 0);
	if (c->images <= 0 || used <= 0 || used >= (double)c->images)
		return NULL;
	double want = used * 2 > (double)c->images ? (double)c->images : used * 2;
	if (want < c->t->default_calib_count && c->t->default_calib_count <= c->images)
		want = c->t->default_calib_count;
	snprintf(text, cap, "Calibrate on %.0f images instead of %.0f (the set has %lld)", want,
		 used, c->images);
	return change("calibration", "count", cJSON_CreateNumber(want));
}

static cJSON *ch_better_images(const struct ctx *c, char *text, size_t cap)
{
	(void)c;
	snprintf(text, cap, "Better calibration images: photos like the ones the camera will "
		 "see (same scenes, light and object sizes), not the same few again");
	return NULL;
}

static cJSON *ch_cut(const struct ctx *c, char *text, size_t cap)
{
	if (c->first_bad_layer)
		snprintf(text, cap, "Cut the model earlier: the figures first fall below the "
			 "tolerance at layer %.120s; cut before it and run the rest on the CPU",
			 c->first_bad_layer);
	else
		snprintf(text, cap, "Cut the model earlier: end it before the post-processing "
			 "(the suggested outputs), which quantizes badly, and run that on the CPU");
	return NULL;
}

static cJSON *ch_pixel_format(const struct ctx *c, char *text, size_t cap)
{
	const char *pf = str(cJSON_GetObjectItemCaseSensitive(c->spec, "input"), "pixel_format");
	const char *other = strcmp(pf, "rgb") == 0 ? "bgr" : strcmp(pf, "bgr") == 0 ? "rgb" : NULL;
	if (other == NULL)
		return NULL;
	snprintf(text, cap, "Pixel format %s instead of %s: a model trained on %s images and "
		 "fed %s sees swapped colours from its first layer", other, pf, other, pf);
	return change("input", "pixel_format", cJSON_CreateString(other));
}

/* A model fed 0..255 where it was trained on 0..1 (mean 0, scale 1) is the
 * common mistake that one click can mend: YOLO's 1/255.  Any other mean
 * and scale is only named. */
static cJSON *ch_scale(const struct ctx *c, char *text, size_t cap)
{
	const cJSON *in = cJSON_GetObjectItemCaseSensitive(c->spec, "input");
	const cJSON *mean = cJSON_GetObjectItemCaseSensitive(in, "mean");
	const cJSON *scale = cJSON_GetObjectItemCaseSensitive(in, "scale");
	int unscaled = cJSON_IsArray(scale) && cJSON_GetArraySize(scale) > 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, scale)
		unscaled &= cJSON_IsNumber(v) && fabs(v->valuedouble - 1) < 1e-9;
	cJSON_ArrayForEach(v, mean)
		unscaled &= cJSON_IsNumber(v) && v->valuedouble == 0;
	if (!unscaled) {
		snprintf(text, cap, "Check input.mean and input.scale (or std) against the training "
			 "preprocessing: YOLO is mean 0, scale 1/255; ImageNet models mean "
			 "123.675,116.28,103.53, std 58.395,57.12,57.375");
		return NULL;
	}
	snprintf(text, cap, "Scale 1/255 instead of 1: the model gets 0..255 pixels, and "
		 "most are trained on 0..1 (YOLO: mean 0, scale 0.00392157)");
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < cJSON_GetArraySize(scale); i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(0.00392157));
	return change("input", "scale", a);
}

static cJSON *ch_float(const struct ctx *c, char *text, size_t cap)
{
	(void)c;
	snprintf(text, cap, "The float model already differs from the ONNX, before any "
		 "quantization: check the chosen outputs and the log for an operator the tool "
		 "converted differently; calibration changes will not help");
	return NULL;
}

static const struct {
	const char *id;
	unsigned kinds;
	cJSON *(*make)(const struct ctx *c, char *text, size_t cap);
	int always;   /* shown as words even without a change */
	const char *link;  /* "graph": the model's graph view; "edit": the form */
} SUGGESTIONS[] = {
	{"float_differs", K_FLOAT, ch_float, 1, "graph"},
	{"pixel_format", K_EVERYWHERE, ch_pixel_format, 0, NULL},
	{"mean_scale", K_EVERYWHERE, ch_scale, 1, "edit"},
	{"mixed_precision", K_HEAD, ch_mixed, 0, NULL},
	{"bf16", K_HEAD, ch_bf16, 0, NULL},
	{"calibration_method", K_HEAD, ch_method, 0, NULL},
	{"calibration_count", K_HEAD, ch_count, 0, NULL},
	{"better_images", K_HEAD, ch_better_images, 1, "dataset"},
	{"cut_earlier", K_HEAD, ch_cut, 1, "graph"},
};

/* --- classifying ------------------------------------------------------------ */

/* The cosine tolerance: the spec's first number, else the worker's
 * verdict alone (rows with passed = false). */
static double tolerance_of(const cJSON *res)
{
	const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "tolerance"), 0);
	return cJSON_IsNumber(t) ? t->valuedouble : NAN;
}

static int row_bad(const cJSON *r, double tol)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "passed");
	if (cJSON_IsFalse(p))
		return 1;
	return strcmp(str(r, "metric"), "cosine") == 0 && !isnan(tol) &&
	       num(r, "value", 1) < tol;
}

/* The first layer below tol in the per-layer table, in log (graph) order,
 * and whether it lies in the first quarter of the table.  The results keep
 * the table worst first, so the order comes from the raw figures. */
static const char *first_bad_layer(const cJSON *figures, double tol, int *early)
{
	*early = 0;
	if (isnan(tol))
		return NULL;
	const cJSON *f;
	cJSON_ArrayForEach(f, figures) {
		if (strcmp(str(f, "kind"), "layers") != 0)
			continue;
		const cJSON *layers = cJSON_GetObjectItemCaseSensitive(f, "layers");
		int n = cJSON_GetArraySize(layers), i = 0;
		const cJSON *l;
		cJSON_ArrayForEach(l, layers) {
			if (num(l, "cosine", 1) < tol) {
				*early = n >= 4 && i < n / 4;
				return str(l, "layer");
			}
			i++;
		}
	}
	return NULL;
}

static unsigned classify(const cJSON *job, double tol, const char **layer, char *why, size_t cap)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(job, "results");
	const cJSON *rows = cJSON_GetObjectItemCaseSensitive(res, "rows");
	int n_out = 0, n_bad_out = 0, float_bad = 0;
	double best_bad = -2;   /* the best cosine among the bad outputs */
	const char *bad_name = "";
	const cJSON *o;
	/* outputs: the worst cosine of each output over the quantized builds */
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(res, "outputs")) {
		const char *out = str(o, "output");
		double worst = 2;
		int bad = 0;
		const cJSON *r;
		cJSON_ArrayForEach(r, rows) {
			if (strcmp(str(r, "output"), out) != 0)
				continue;
			if (strcmp(str(r, "stage"), "float") == 0) {
				float_bad |= row_bad(r, tol);
				continue;
			}
			if (strcmp(str(r, "metric"), "cosine") == 0 && cJSON_IsNumber(
				    cJSON_GetObjectItemCaseSensitive(r, "value")))
				worst = fmin(worst, num(r, "value", 2));
			bad |= row_bad(r, tol);
		}
		n_out++;
		if (bad) {
			if (n_bad_out++ == 0)
				bad_name = out;
			best_bad = fmax(best_bad, worst);
		}
	}
	int early = 0;
	*layer = first_bad_layer(cJSON_GetObjectItemCaseSensitive(job, "figures"), tol, &early);
	if (float_bad) {
		snprintf(why, cap, "the float conversion is already below the tolerance");
		return K_FLOAT;
	}
	if (n_bad_out == 0)
		return 0;
	if (early || (n_bad_out == n_out && best_bad < ADVICE_EVERYWHERE_COS)) {
		if (early)
			snprintf(why, cap, "the figures are low from the first layers on (%.100s): the "
				 "input the model sees differs from what it was trained on", *layer);
		else
			snprintf(why, cap, "every output is far below the tolerance (best %.4f < %.2f): "
				 "the input the model sees differs from what it was trained on",
				 best_bad, ADVICE_EVERYWHERE_COS);
		return K_EVERYWHERE;
	}
	if (n_bad_out == n_out)
		snprintf(why, cap, "every output is below the tolerance but close to it (best "
			 "%.4f): quantization loses too much", best_bad);
	else
		snprintf(why, cap, "%d of %d outputs fall below the tolerance (%.100s first) while "
			 "the others hold: quantization loses too much at the head", n_bad_out,
			 n_out, bad_name);
	return K_HEAD;
}

cJSON *advice_build(const cJSON *job, long long dataset_images)
{
	struct ctx c = {
		.job = job,
		.spec = cJSON_GetObjectItemCaseSensitive(job, "spec"),
		.t = targets_find(str(job, "target")),
		.images = dataset_images,
	};
	if (c.t == NULL)
		return NULL;
	double tol = tolerance_of(cJSON_GetObjectItemCaseSensitive(job, "results"));
	char why[300];
	unsigned kind = classify(job, tol, &c.first_bad_layer, why, sizeof(why));
	if (kind == 0)
		return NULL;
	cJSON *o = cJSON_CreateObject();
	cJSON *list = o ? cJSON_CreateArray() : NULL;
	if (list == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddStringToObject(o, "kind", KIND_NAMES[kind]);
	cJSON_AddStringToObject(o, "why", why);
	cJSON_AddItemToObject(o, "suggestions", list);
	for (size_t i = 0; i < sizeof(SUGGESTIONS) / sizeof(SUGGESTIONS[0]); i++) {
		if (!(SUGGESTIONS[i].kinds & kind))
			continue;
		char text[400] = "";
		cJSON *ch = SUGGESTIONS[i].make(&c, text, sizeof(text));
		if (ch == NULL && !SUGGESTIONS[i].always)
			continue;
		cJSON *s = cJSON_CreateObject();
		if (s == NULL) {
			cJSON_Delete(ch);
			break;
		}
		cJSON_AddStringToObject(s, "id", SUGGESTIONS[i].id);
		cJSON_AddStringToObject(s, "text", text);
		if (ch)
			cJSON_AddItemToObject(s, "change", ch);
		const char *link = SUGGESTIONS[i].link;
		char path[128];
		if (link && strcmp(link, "graph") == 0)
			snprintf(path, sizeof(path), "/models/%.0f/graph", num(job, "model", 0));
		else if (link && strcmp(link, "dataset") == 0)
			snprintf(path, sizeof(path), "/datasets");
		else if (link && strcmp(link, "edit") == 0)
			snprintf(path, sizeof(path), "/convert?from=%.0f", num(job, "id", 0));
		if (link)
			cJSON_AddStringToObject(s, "link", path);
		cJSON_AddItemToArray(list, s);
	}
	return o;
}
