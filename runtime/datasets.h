/*
 * datasets: the calibration-set store in sqlite (tables `datasets` and
 * `dataset_images`).  The one place that reads or writes those rows for the
 * rest of kilnd: routes_datasets.c (upload, ingest, list, delete), the
 * deployments' test image, the job system's inputs (server/jobsys.c) and a
 * job's calibration sample (server/jobcalib.c).  In runtime/ because it is
 * storage: conversion/ stays file-in, file-out; the ingest's result reaches
 * here as plain image rows (struct datasets_image), not calib.h's types.
 * Knows nothing of HTTP.
 *
 * States: ingesting → ready | rejected | failed (see routes_datasets.c).
 *
 * API (any thread)
 *   datasets_create(db, name, size, &id, &json, err)
 *                      a new row "ingesting" at 0; json is its record
 *   datasets_progress(db, id, done)      0..0.99 while ingesting
 *   datasets_set_ready(db, id, sha, set_sha, images, n, report, err)
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
 * For jobs (ids as the spec gives them, text; "no dataset with id" on
 * field "dataset" when absent):
 *   datasets_source(db, id, set_sha, &images|NULL, err)
 *                      a ready set's hash and image count; KILN_ECONFLICT
 *                      while ingesting, KILN_EUNPROC when it has no images
 *   datasets_image_shas(db, id, &shas, &n, err)
 *                      the image hashes in set order (datasets_free_shas);
 *                      KILN_ENOTFOUND when there are none
 *   datasets_find_image(db, id, name, sha, err)
 *                      the image named by hash, archive entry, its last part
 *                      or that without extension; KILN_EINVAL on
 *                      "test_image" when none matches
 *   datasets_image_entry(db, id, sha, entry, cap)   the archive entry of an
 *                      image ("" when unknown)
 *   datasets_images_json(db, id, &json, err)
 *                      [{"sha256", "entry", "width", "height"}...] in set
 *                      order (the record's "image_list")
 */
#ifndef KILN_DATASETS_H
#define KILN_DATASETS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "runtime/blob.h"
#include "runtime/db.h"
#include "runtime/kiln_err.h"

/* One image of a set as the ingest made it (the normalised blob). */
struct datasets_image {
	const char *sha256;
	const char *entry;
	unsigned width, height;
};

int datasets_create(struct db *db, const char *name, uint64_t size, long long *id,
		    cJSON **json, struct kiln_err *err);
void datasets_progress(struct db *db, long long id, double done);
int datasets_set_ready(struct db *db, long long id, const char *sha, const char *set_sha,
		       const struct datasets_image *images, size_t n, const char *report,
		       struct kiln_err *err);
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
int datasets_source(struct db *db, const char *id, char set_sha[BLOB_HEX_LEN + 1],
		    long long *images, struct kiln_err *err);
int datasets_image_shas(struct db *db, const char *id, char ***shas, size_t *n,
			struct kiln_err *err);
void datasets_free_shas(char **shas, size_t n);
int datasets_find_image(struct db *db, const char *id, const char *name,
			char sha[BLOB_HEX_LEN + 1], struct kiln_err *err);
void datasets_image_entry(struct db *db, const char *id, const char *sha, char *entry,
			  size_t cap);
int datasets_images_json(struct db *db, const char *id, cJSON **json, struct kiln_err *err);

#endif
