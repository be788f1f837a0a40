/*
 * jobcalib: a job's calibration sample and its quality warnings (see
 * jobcalib.h).  Reads the set's images from the datasets store
 * (runtime/datasets.h) and their blobs; writes nothing.  Called by routes_jobs.c on submit (the
 * warnings) and for GET /api/v1/jobs/{id}/calibration (the list).
 */
#include "server/jobcalib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conversion/calib.h"
#include "conversion/calib_img.h"
#include "conversion/calib_quality.h"
#include "conversion/spec.h"
#include "conversion/targets.h"
#include "runtime/datasets.h"

/* A normalised image is a JPEG of at most 1024 px a side: never near this. */
#define MAX_IMAGE_BYTES (32u << 20)

/* The difference hash: the picture squeezed to 9x8 grey, one bit per
 * pair of horizontal neighbours (left brighter than right).  Unreadable
 * images get none: the checks then fall back to the sha256. */
static int dhash(struct calib_img_dec *d, struct blob_store *bs, const char *sha, char hex[17])
{
	unsigned char *buf = NULL, rgb[9 * 8 * 3];
	size_t len = 0;
	struct kiln_err e;
	kiln_err_clear(&e);
	struct calib_img_limits lim = {.max_pixels = 64u << 20, .min_side = 1};
	if (blob_read(bs, sha, MAX_IMAGE_BYTES, &buf, &len, &e) != 0)
		return -1;
	int rc = calib_img_stretch(d, buf, len, &lim, 9, 8, rgb, &e);
	free(buf);
	if (rc != 0)
		return -1;
	unsigned long long h = 0;
	for (int y = 0; y < 8; y++)
		for (int x = 0; x < 8; x++) {
			const unsigned char *p = rgb + (y * 9 + x) * 3, *q = p + 3;
			unsigned a = p[0] * 299u + p[1] * 587u + p[2] * 114u;
			unsigned b = q[0] * 299u + q[1] * 587u + q[2] * 114u;
			h = (h << 1) | (a > b);
		}
	snprintf(hex, 17, "%016llx", h);
	return 0;
}

int jobcalib_sample(struct db *db, struct blob_store *bs, const char *dataset, int count,
		    int hashes, cJSON **out, struct kiln_err *err)
{
	*out = NULL;
	char *end = NULL;
	long long ds = dataset ? strtoll(dataset, &end, 10) : 0;
	if (dataset == NULL || ds < 1 || *end)
		return kiln_errf(err, KILN_ENOTFOUND, "dataset", "the job has no calibration set");
	cJSON *all = NULL;
	int rc = datasets_images_json(db, dataset, &all, err);
	if (rc != 0)
		return rc;
	size_t n = (size_t)cJSON_GetArraySize(all), k = 0, *idx = NULL;
	cJSON *o = cJSON_CreateObject(), *pick = cJSON_CreateArray();
	if (all == NULL || o == NULL || pick == NULL ||
	    calib_sample(n, count > 0 ? (size_t)count : 0, CALIB_JOB_SEED, &idx, &k) != 0) {
		cJSON_Delete(all);
		cJSON_Delete(o);
		cJSON_Delete(pick);
		free(idx);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	struct calib_img_dec *d = NULL;
	struct kiln_err derr;
	kiln_err_clear(&derr);
	if (hashes && calib_img_dec_new(&d, &derr) != 0)
		d = NULL;  /* no hashes: the duplicate check falls back to sha256 */
	for (size_t i = 0; i < k; i++) {
		cJSON *im = cJSON_Duplicate(cJSON_GetArrayItem(all, (int)idx[i]), 1);
		char hex[17];
		if (im && d && i < JOBCALIB_MAX_HASH &&
		    dhash(d, bs, cJSON_GetStringValue(cJSON_GetObjectItem(im, "sha256")), hex) == 0)
			cJSON_AddStringToObject(im, "dhash", hex);
		cJSON_AddItemToArray(pick, im);
	}
	calib_img_dec_free(d);
	free(idx);
	cJSON_Delete(all);
	cJSON_AddNumberToObject(o, "dataset", (double)ds);
	cJSON_AddNumberToObject(o, "count", (double)k);
	cJSON_AddNumberToObject(o, "of", (double)n);
	cJSON_AddItemToObject(o, "images", pick);
	*out = o;
	return 0;
}

int jobcalib_warnings(struct db *db, struct blob_store *bs, const struct job_spec *s,
		      cJSON **out, struct kiln_err *err)
{
	*out = NULL;
	cJSON *sample = NULL;
	int rc = jobcalib_sample(db, bs, s->dataset, s->calib_count, 1, &sample, err);
	if (rc != 0)
		return rc;
	/* the input's height and width: NCHW unless the spec says NHWC */
	unsigned w = 0, h = 0;
	if (s->rank == 4) {
		int nhwc = strcmp(s->layout, "nhwc") == 0;
		h = s->shape[nhwc ? 1 : 2] > 0 ? (unsigned)s->shape[nhwc ? 1 : 2] : 0;
		w = s->shape[nhwc ? 2 : 3] > 0 ? (unsigned)s->shape[nhwc ? 2 : 3] : 0;
	}
	struct calib_quality_in in = {
		.toolchain = s->t->toolchain,
		.method = s->calib_method,
		.images = cJSON_GetObjectItemCaseSensitive(sample, "images"),
		.in_w = w,
		.in_h = h,
	};
	cJSON *warnings = cJSON_CreateArray();
	if (warnings == NULL) {
		cJSON_Delete(sample);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	calib_quality_check(&in, warnings);
	cJSON_Delete(sample);
	*out = warnings;
	return 0;
}
