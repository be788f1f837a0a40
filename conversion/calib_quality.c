/*
 * calib_quality: warnings about a job's calibration sample (see
 * calib_quality.h).  Each check reads the sample list only (the server
 * fills it: server/jobcalib.c); exact copies never get here (ingest drops
 * a second copy of the same bytes), so the duplicates looked for are near
 * ones, by difference hash.
 */
#include "conversion/calib_quality.h"

#include "runtime/toolchain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The least calibration images each toolchain's vendor asks for: the
 * toolchain row's (runtime/toolchain.c, with the sources). */
int calib_quality_recommended(const char *toolchain, const char **source)
{
	const struct toolchain *tc = toolchain_find(toolchain);
	if (source)
		*source = tc ? tc->calib_recommended_why : "";
	return tc ? tc->calib_recommended : 0;
}

static const char *str(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return s ? s : "";
}

static cJSON *warning(cJSON *list, const char *code, const char *msg)
{
	cJSON *w = cJSON_CreateObject();
	if (w == NULL)
		return NULL;
	cJSON_AddStringToObject(w, "field", "calibration");
	cJSON_AddStringToObject(w, "code", code);
	cJSON_AddStringToObject(w, "message", msg);
	cJSON_AddItemToArray(list, w);
	return w;
}

/* A warning that counts images (count_key: n) and names a few (ex, which
 * it takes: freed when the warning cannot be made). */
static cJSON *warning_examples(cJSON *list, const char *code, const char *msg,
			       const char *count_key, int n, cJSON *ex)
{
	cJSON *w = warning(list, code, msg);
	if (w == NULL) {
		cJSON_Delete(ex);
		return NULL;
	}
	cJSON_AddNumberToObject(w, count_key, n);
	cJSON_AddItemToObject(w, "examples", ex);
	return w;
}

static int check_small(const struct calib_quality_in *in, cJSON *out)
{
	const char *src;
	int rec = calib_quality_recommended(in->toolchain, &src);
	int n = cJSON_GetArraySize(in->images);
	if (rec == 0 || n >= rec)
		return 0;
	char msg[400];
	snprintf(msg, sizeof(msg), "this job calibrates on %d image%s, fewer than the %d %s "
		 "recommends%s%s: the ranges it measures may miss what the camera sees; upload "
		 "a larger set", n, n == 1 ? "" : "s", rec, in->toolchain, in->method && in->method[0]
		 ? " for " : "", in->method && in->method[0] ? in->method : "");
	cJSON *w = warning(out, "calibration_small", msg);
	if (w == NULL)
		return 0;
	cJSON_AddNumberToObject(w, "used", n);
	cJSON_AddNumberToObject(w, "recommended", rec);
	cJSON_AddStringToObject(w, "source", src);
	return 1;
}

/* Two pictures are near-duplicates when their 64-bit difference hashes
 * (jobcalib.c: the 9x8 grey thumbnail's left-right gradients, as hex)
 * differ in at most CALIB_QUALITY_NEAR bits: a re-encoded, resized or
 * slightly re-cropped copy of one photo, or two frames of a still scene. */
static int near(const cJSON *a, const cJSON *b)
{
	const char *x = str(a, "dhash"), *y = str(b, "dhash");
	if (strlen(x) != 16 || strlen(y) != 16)
		return strcmp(str(a, "sha256"), str(b, "sha256")) == 0;
	unsigned long long p = strtoull(x, NULL, 16), q = strtoull(y, NULL, 16);
	return __builtin_popcountll(p ^ q) <= CALIB_QUALITY_NEAR;
}

static int check_duplicates(const struct calib_quality_in *in, cJSON *out)
{
	int dups = 0;
	cJSON *ex = cJSON_CreateArray();
	const cJSON *a;
	cJSON_ArrayForEach(a, in->images) {
		const cJSON *b;
		for (b = in->images->child; b != a; b = b->next)
			if (near(a, b))
				break;
		if (b == a)
			continue;
		if (dups++ < 3 && ex)
			cJSON_AddItemToArray(ex, cJSON_CreateString(str(a, "entry")));
	}
	if (dups == 0) {
		cJSON_Delete(ex);
		return 0;
	}
	char msg[400];
	const char *e0 = cJSON_GetStringValue(cJSON_GetArrayItem(ex, 0));
	snprintf(msg, sizeof(msg), "%d of the job's %d calibration images are near-duplicates of "
		 "another one (e.g. %.200s): the same scene again adds nothing to calibration; "
		 "replace them with other scenes", dups, cJSON_GetArraySize(in->images),
		 e0 ? e0 : "");
	return warning_examples(out, "calibration_duplicates", msg, "duplicates", dups, ex) != NULL;
}

static int check_aspect(const struct calib_quality_in *in, cJSON *out)
{
	if (in->in_w == 0 || in->in_h == 0)
		return 0;
	double want = (double)in->in_w / in->in_h;
	int far = 0, n = 0;
	cJSON *ex = cJSON_CreateArray();
	const cJSON *im;
	cJSON_ArrayForEach(im, in->images) {
		double w = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(im, "width"));
		double h = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(im, "height"));
		n++;
		if (!(w > 0 && h > 0))
			continue;
		double r = (w / h) / want;
		if (r < CALIB_QUALITY_ASPECT && r > 1 / CALIB_QUALITY_ASPECT)
			continue;
		if (far++ < 3 && ex) {
			char e[300];
			snprintf(e, sizeof(e), "%.200s (%.0fx%.0f)", str(im, "entry"), w, h);
			cJSON_AddItemToArray(ex, cJSON_CreateString(e));
		}
	}
	if (far == 0) {
		cJSON_Delete(ex);
		return 0;
	}
	char msg[400];
	snprintf(msg, sizeof(msg), "%d of %d calibration images have an aspect ratio more than "
		 "%.0fx away from the model input's %ux%u (e.g. %.200s): once fitted to the input "
		 "they are mostly border", far, n, CALIB_QUALITY_ASPECT, in->in_w, in->in_h,
		 cJSON_GetStringValue(cJSON_GetArrayItem(ex, 0)) ?
		 cJSON_GetStringValue(cJSON_GetArrayItem(ex, 0)) : "");
	cJSON *w = warning_examples(out, "calibration_aspect", msg, "images", far, ex);
	if (w == NULL)
		return 0;
	cJSON *inp = cJSON_AddArrayToObject(w, "input");
	if (inp) {
		cJSON_AddItemToArray(inp, cJSON_CreateNumber(in->in_w));
		cJSON_AddItemToArray(inp, cJSON_CreateNumber(in->in_h));
	}
	return 1;
}

int calib_quality_check(const struct calib_quality_in *in, cJSON *warnings)
{
	if (!cJSON_IsArray(in->images) || !cJSON_IsArray(warnings))
		return 0;
	return check_small(in, warnings) + check_duplicates(in, warnings) + check_aspect(in, warnings);
}
