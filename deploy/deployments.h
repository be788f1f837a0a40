/*
 * deployments: the push-deployment store in sqlite (table `deployments`).
 * The one owner of those rows: the HTTP side queues one
 * (deployments_insert) and reads them; the runner (deploy.c) claims one,
 * reads what it needs to run it, and writes its steps and its end.
 *
 * States: queued → running → succeeded | failed.
 *
 * API for the HTTP side (any thread)
 *   deployments_insert(db, &row, &id, err)       a 'queued' row
 *   deployments_get(db, id, &json, err)          the record with raw_output
 *   deployments_list(db, device|0, after, limit, &json, err)
 *                                                {"items", "next"}, oldest first
 *   deployments_state(db, id, state, cap)        "" when there is no such row
 *   deployments_preview(db, id, &jpeg, &len)     malloc'd copy; 0, or
 *                                                KILN_ENOTFOUND when none
 *   deployments_active(db, device)               queued or running ones (-1: error)
 * API for the runner
 *   deployments_claim(db)                        oldest queued → running; its
 *                                                id, 0 when none, -1 on error
 *   deployments_load(db, id, &work, err)         device, bundle and test inputs
 *   deployments_set_steps(db, id, steps_json)
 *   deployments_finish(db, id, &end)             state, error, result, ... at once
 *   deployments_fail_interrupted(db)             rows a stopped kilnd left running
 */
#ifndef KILN_DEPLOYMENTS_H
#define KILN_DEPLOYMENTS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "runtime/blob.h"
#include "runtime/db.h"
#include "runtime/kiln_err.h"

struct deployment_row {
	long long device, bundle;
	int runs, install;
	const unsigned char *image;  /* test JPEG or NULL */
	size_t image_len;
};

/* What the runner needs to run one deployment: its row, its device and its
 * bundle.  manifest and image are malloc'd (deployments_work_free). */
struct deployment_work {
	long long id, device, bundle;
	int runs, install;
	char name[128], target[32], transport[8], address[256], models_dir[256];
	char bundle_name[128], bundle_target[32], sha[BLOB_HEX_LEN + 1];
	char *manifest;
	unsigned char *image;
	size_t image_len;
};

struct deployment_end {
	const char *state;           /* "succeeded" | "failed" */
	const char *error;           /* or NULL */
	const char *result;          /* JSON text or NULL */
	const char *raw;             /* NULL keeps what the row has */
	const unsigned char *preview;
	size_t preview_len;
	const char *steps;           /* JSON text */
};

int deployments_insert(struct db *db, const struct deployment_row *row, long long *id,
		       struct kiln_err *err);
int deployments_get(struct db *db, long long id, cJSON **json, struct kiln_err *err);
int deployments_list(struct db *db, long long device, long long after, int limit, cJSON **json,
		     struct kiln_err *err);
void deployments_state(struct db *db, long long id, char *state, size_t cap);
int deployments_preview(struct db *db, long long id, unsigned char **jpeg, size_t *len);
int deployments_active(struct db *db, long long device);

long long deployments_claim(struct db *db);
int deployments_load(struct db *db, long long id, struct deployment_work *w,
		     struct kiln_err *err);
void deployments_work_free(struct deployment_work *w);
void deployments_set_steps(struct db *db, long long id, const char *steps);
void deployments_finish(struct db *db, long long id, const struct deployment_end *end);
int deployments_fail_interrupted(struct db *db);

#endif
