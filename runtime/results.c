/*
 * results: labelled rows from a job's figures (see results.h).
 *
 * The figures arrive in log order, one object per parsed block; the rows
 * here say which build each belongs to.  pulsar2's per-layer table does not
 * mark the model's outputs, so its output rows are the layers whose Output
 * Tensor is one of the spec's outputs.
 */
#include "runtime/results.h"

#include <stdlib.h>
#include <string.h>

/* The recipes' step names (conversion/recipe_*.c) and the build each
 * compares.  Seed 002's single "deploy" is whatever the spec quantizes to. */
static const struct {
	const char *step, *stage;
} STAGES[] = {
	{"transform", "float"},       {"deploy_bf16", "bf16"},   {"deploy_int8", "int8"},
	{"build_npu", "int8 npu"},    {"build_vnpu", "int8 vnpu"}, {"compare", "int8"},
	{"qtable", "mixed search"},   {"deploy", NULL},
};

/* The numbers a row may carry, in the order a table shows them. */
static const char *const METRICS[] = {"cosine", "euclidean", "sqnr", "mse", "relative_error",
				      NULL};

static const char *str(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return s ? s : "";
}

static const char *stage_of(const char *step, const cJSON *spec)
{
	for (size_t i = 0; i < sizeof(STAGES) / sizeof(STAGES[0]); i++)
		if (strcmp(STAGES[i].step, step) == 0) {
			if (STAGES[i].stage)
				return STAGES[i].stage;
			const char *q = str(spec, "quantize");
			return q[0] ? q : step;
		}
	return step;
}

static int is_spec_output(const cJSON *spec, const char *name)
{
	const cJSON *o;
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(spec, "outputs"))
		if (cJSON_IsString(o) && strcmp(o->valuestring, name) == 0)
			return 1;
	return 0;
}

/* The spec output a tool's tensor name stands for.  TPU-MLIR names a value
 * "<onnx tensor>_<op type>" (output0_Concat; ../shared/reference/tpu-mlir.md,
 * the double's compare_name), so "/model.24/m.0/Conv_output_0_Conv" is the
 * spec's "/model.24/m.0/Conv_output_0".  The longest match wins; a name
 * that matches none stays as the tool printed it. */
static const char *spec_output_for(const cJSON *spec, const char *name)
{
	const char *best = NULL;
	size_t best_len = 0;
	const cJSON *o;
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(spec, "outputs")) {
		if (!cJSON_IsString(o))
			continue;
		size_t l = strlen(o->valuestring);
		if (strncmp(name, o->valuestring, l) != 0 || l < best_len)
			continue;
		if (name[l] == '\0' || (name[l] == '_' && name[l + 1] && strchr(name + l, '/') == NULL)) {
			best = o->valuestring;
			best_len = l;
		}
	}
	return best ? best : name;
}

static void add_rows(cJSON *rows, cJSON *outs, const char *step, const char *stage,
		     const char *compare, const char *output, const cJSON *src)
{
	for (int i = 0; METRICS[i]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, METRICS[i]);
		if (!cJSON_IsNumber(v) && !cJSON_IsNull(v))
			continue;
		cJSON *r = cJSON_CreateObject();
		if (r == NULL)
			return;
		cJSON_AddStringToObject(r, "step", step);
		cJSON_AddStringToObject(r, "stage", stage);
		if (compare[0])
			cJSON_AddStringToObject(r, "compare", compare);
		cJSON_AddStringToObject(r, "output", output);
		cJSON_AddStringToObject(r, "metric", METRICS[i]);
		cJSON_AddItemToObject(r, "value", cJSON_Duplicate(v, 0));
		const cJSON *passed = cJSON_GetObjectItemCaseSensitive(src, "passed");
		if (cJSON_IsBool(passed))
			cJSON_AddBoolToObject(r, "passed", cJSON_IsTrue(passed));
		cJSON_AddItemToArray(rows, r);
	}
	/* The worst cosine per output, over every build. */
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(src, "cosine");
	if (!cJSON_IsNumber(c))
		return;
	cJSON *o;
	cJSON_ArrayForEach(o, outs)
		if (strcmp(str(o, "output"), output) == 0)
			break;
	if (o == NULL) {
		o = cJSON_CreateObject();
		if (o == NULL)
			return;
		cJSON_AddStringToObject(o, "output", output);
		cJSON_AddNumberToObject(o, "cosine", c->valuedouble);
		cJSON_AddStringToObject(o, "step", step);
		cJSON_AddStringToObject(o, "stage", stage);
		cJSON_AddItemToArray(outs, o);
	} else if (c->valuedouble < cJSON_GetObjectItemCaseSensitive(o, "cosine")->valuedouble) {
		cJSON_ReplaceItemInObjectCaseSensitive(o, "cosine", cJSON_CreateNumber(c->valuedouble));
		cJSON_ReplaceItemInObjectCaseSensitive(o, "step", cJSON_CreateString(step));
		cJSON_ReplaceItemInObjectCaseSensitive(o, "stage", cJSON_CreateString(stage));
	}
}

static double cos_of(const cJSON *o)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "cosine");
	return cJSON_IsNumber(c) ? c->valuedouble : 2;
}

static int by_cosine(const void *a, const void *b)
{
	double x = cos_of(*(cJSON *const *)a), y = cos_of(*(cJSON *const *)b);
	return x < y ? -1 : x > y;
}

/* Rebuilds arr sorted by ascending cosine (stable for equal ones, since
 * qsort is not, by falling back to the original index). */
static cJSON *sorted(cJSON *arr, size_t cap)
{
	int n = cJSON_GetArraySize(arr);
	cJSON **v = malloc(sizeof(*v) * (size_t)(n ? n : 1));
	cJSON *out = cJSON_CreateArray();
	if (v == NULL || out == NULL) {
		free(v);
		cJSON_Delete(out);
		return arr;
	}
	for (int i = 0; i < n; i++)
		v[i] = cJSON_DetachItemFromArray(arr, 0);
	qsort(v, (size_t)n, sizeof(*v), by_cosine);
	for (int i = 0; i < n; i++) {
		if ((size_t)i < cap)
			cJSON_AddItemToArray(out, v[i]);
		else
			cJSON_Delete(v[i]);
	}
	free(v);
	cJSON_Delete(arr);
	return out;
}

/* Rows ordered by their output's rank in outs (worst output first), then
 * in log order. */
static cJSON *rows_by_output(cJSON *rows, const cJSON *outs)
{
	cJSON *out = cJSON_CreateArray();
	if (out == NULL)
		return rows;
	const cJSON *o;
	cJSON_ArrayForEach(o, outs) {
		cJSON *r = rows->child;
		while (r) {
			cJSON *next = r->next;
			if (strcmp(str(r, "output"), str(o, "output")) == 0)
				cJSON_AddItemToArray(out, cJSON_DetachItemViaPointer(rows, r));
			r = next;
		}
	}
	while (rows->child)
		cJSON_AddItemToArray(out, cJSON_DetachItemViaPointer(rows, rows->child));
	cJSON_Delete(rows);
	return out;
}

cJSON *results_build(const cJSON *figures, const cJSON *spec)
{
	cJSON *res = cJSON_CreateObject();
	cJSON *rows = cJSON_CreateArray(), *outs = cJSON_CreateArray(), *layers = cJSON_CreateArray();
	if (res == NULL || rows == NULL || outs == NULL || layers == NULL) {
		cJSON_Delete(res);
		cJSON_Delete(rows);
		cJSON_Delete(outs);
		cJSON_Delete(layers);
		return NULL;
	}
	const cJSON *f;
	cJSON_ArrayForEach(f, figures) {
		const char *step = str(f, "step"), *kind = str(f, "kind");
		const char *stage = stage_of(step, spec);
		if (strcmp(kind, "layers") == 0) {
			const cJSON *l;
			cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(f, "layers")) {
				const char *name = str(l, "output");
				if (is_spec_output(spec, name))
					add_rows(rows, outs, step, stage, "", name, l);
				cJSON *c = cJSON_Duplicate(l, 1);
				if (c == NULL)
					continue;
				cJSON_AddStringToObject(c, "step", step);
				cJSON_AddStringToObject(c, "stage", stage);
				cJSON_AddItemToArray(layers, c);
			}
		} else if (strcmp(kind, "summary") != 0) {
			/* "output" and "model" figures; figures stored before kinds
			 * existed have none and are outputs, except tpu-mlir's "min" */
			if (kind[0] == '\0' && strcmp(str(f, "output"), "min") == 0)
				continue;
			add_rows(rows, outs, step, stage, str(f, "compare"),
				 spec_output_for(spec, str(f, "output")), f);
		}
	}
	outs = sorted(outs, (size_t)-1);
	layers = sorted(layers, RESULTS_MAX_LAYERS);
	rows = rows_by_output(rows, outs);
	cJSON_AddItemToObject(res, "rows", rows);
	cJSON_AddItemToObject(res, "outputs", outs);
	cJSON *w = cJSON_GetArrayItem(outs, 0);
	cJSON_AddItemToObject(res, "worst", w ? cJSON_Duplicate(w, 1) : cJSON_CreateNull());
	cJSON_AddItemToObject(res, "layers", layers);
	const cJSON *tol = cJSON_GetObjectItemCaseSensitive(spec, "tolerance");
	cJSON_AddItemToObject(res, "tolerance", tol ? cJSON_Duplicate(tol, 1) : cJSON_CreateNull());
	const cJSON *on = cJSON_GetObjectItemCaseSensitive(spec, "compared_on");
	cJSON_AddItemToObject(res, "compared_on", on ? cJSON_Duplicate(on, 1) : cJSON_CreateNull());
	return res;
}
