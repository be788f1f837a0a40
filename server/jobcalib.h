/*
 * jobcalib: which calibration images a job uses, listed from the dataset's
 * records and the job's seeded sample (calib_sample with CALIB_JOB_SEED, the
 * same pick calib_materialize makes for the job's workspace), and the
 * quality warnings about them (conversion/calib_quality.h).
 *
 * API
 *   jobcalib_sample(db, bs, dataset, count, hashes, &json, err)
 *     {"dataset", "count" (images used), "of" (the set's size), "images":
 *      [{"entry", "sha256", "width", "height"[, "dhash"]}]} in set order;
 *     hashes = 1 adds each image's difference hash, to the first
 *     JOBCALIB_MAX_HASH images: it decodes each one (at the smallest DCT
 *     scale), about 2 ms of CPU per 1024x768 photo (432 ms for 200 real
 *     photos, 1.4 s for 200 of noise), and it runs in the submit request.
 *   jobcalib_warnings(db, bs, spec, &warnings, err)
 *     the quality warnings for a parsed spec (new cJSON array).
 */
#ifndef KILN_JOBCALIB_H
#define KILN_JOBCALIB_H

#include <cjson/cJSON.h>

#include "runtime/blob.h"
#include "runtime/db.h"
#include "runtime/kiln_err.h"

#define JOBCALIB_MAX_HASH 500

struct job_spec;

int jobcalib_sample(struct db *db, struct blob_store *bs, const char *dataset, int count,
		    int hashes, cJSON **out, struct kiln_err *err);
int jobcalib_warnings(struct db *db, struct blob_store *bs, const struct job_spec *s,
		      cJSON **out, struct kiln_err *err);

#endif
