/*
 * datasets: the calibration-set store in sqlite (tables `datasets` and
 * `dataset_images`).  The one place that reads or writes those rows for the
 * HTTP layer: routes_datasets.c (upload, ingest, list, delete) and the
 * deployments' test image.  In conversion/ because a set's rows are made
 * from an ingest's result (calib.h); knows nothing of HTTP.
 *
 * States: ingesting → ready | rejected | failed (see routes_datasets.c).
 *
 * API (any thread)
 *   datasets_create(db, name, size, &id, &json, err)
 *                      a new row "ingesting" at 0; json is its record
 *   datasets_progress(db, id, done)      0..0.99 while ingesting
 *   datasets_set_ready(db, id, sha, res, report, err)
 *                      the archive's blob, the images and the report, in one
 *                      transaction
 *   datasets_set_error(db, id, state, error_json, report|NULL)
 *                      "rejected" or "failed" with the error object's text
 *   datasets_recover(db, error_json)     rows left ingesting → failed; count
 *   datasets_get(db, id, with_images, &json, err)
 *                      the record (with "image_list" when asked)
 *   datasets_list(db, after, limit, &json, err)
 *                      {"items": [...], "next"}: records without "rejected"
 *   datasets_ingesting(db, id)           1 while ingesting, else 0
 *   datasets_delete(db, id, err)         KILN_ECONFLICT while ingesting or
 *                                        while a queued or running job uses it
 *   datasets_image_at(db, id, position, sha)   0, or KILN_ENOTFOUND
 */
#ifndef KILN_DATASETS_H
#define KILN_DATASETS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "conversion/calib.h"
#include "runtime/blob.h"
#include "runtime/db.h"
#include "runtime/kiln_err.h"

int datasets_create(struct db *db, const char *name, uint64_t size, long long *id,
		    cJSON **json, struct kiln_err *err);
void datasets_progress(struct db *db, long long id, double done);
int datasets_set_ready(struct db *db, long long id, const char *sha,
		       const struct calib_result *res, const char *report, struct kiln_err *err);
void datasets_set_error(struct db *db, long long id, const char *state, const char *error_json,
			const char *report);
int datasets_recover(struct db *db, const char *error_json);
int datasets_get(struct db *db, long long id, int with_images, cJSON **json,
		 struct kiln_err *err);
int datasets_list(struct db *db, long long after, int limit, cJSON **json, struct kiln_err *err);
int datasets_ingesting(struct db *db, long long id);
int datasets_delete(struct db *db, long long id, struct kiln_err *err);
int datasets_image_at(struct db *db, long long id, long long position,
		      char sha[BLOB_HEX_LEN + 1]);

#endif
