/*
 * models: the model store in sqlite (table `models`, schema/001_init.sql and
 * later).  The one place that reads or writes model rows: the HTTP layer's
 * routes_models.c and the job system's spec checks both come here, so the
 * record's shape and the "no model with id N" wording exist once.  Knows
 * nothing of HTTP or ONNX: the inspection is stored and returned as JSON
 * text the caller made.
 *
 * API (any thread; db_conn() gives each its connection)
 *   models_get(db, id, full, field, &json, sha|NULL, err)
 *                     the API record (full: with "inspection", else its
 *                     "summary"); KILN_ENOTFOUND naming `field` when absent.
 *                     A deleted model (a tombstone, schema/013) is returned
 *                     with "deleted": true and its "deleted_at"
 *   models_source(db, id, field, sha, &insp|NULL, err)
 *                     what a job needs: the bytes' hash and the parsed
 *                     inspection (new cJSON, caller deletes); KILN_ECONFLICT
 *                     in words for a deleted model
 *   models_insert(db, &row, &json, &inserted, err)
 *                     a new row, or the existing one with the same name and
 *                     live bytes (inserted = 0); json is its full record.
 *                     A tombstone is never resurrected: same bytes again
 *                     make a fresh row
 *   models_list(db, q|NULL, deleted, after, limit, &json, err)
 *                     {"items": [...summaries], "next": id|null}, oldest
 *                     first; q keeps names that contain it; deleted = 0
 *                     hides tombstones
 *   models_delete(db, id, &kept, err)
 *                     KILN_ECONFLICT naming the queued or running jobs that
 *                     use it; else the row goes, or (kept = 1) stays as a
 *                     tombstone when a job or a derived model names it
 *   models_count_sha(db, sha)   live rows naming those bytes (-1 on error)
 *   models_stale(db, version, &ids, err)
 *                     ids (-1 terminated, malloc'd) of the live records
 *                     whose inspection_version is below version, oldest
 *                     first (a tombstone has no file to re-inspect)
 *   models_set_inspection(db, id, text, err)   a record's new inspection
 */
#ifndef KILN_MODELS_H
#define KILN_MODELS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "runtime/blob.h"
#include "runtime/db.h"
#include "runtime/kiln_err.h"

struct model_row {
	const char *name;
	const char *sha;
	uint64_t size;
	const char *inspection;      /* JSON text */
	long long parent;            /* 0: none */
	const char *derivation;      /* JSON text or NULL */
};

int models_get(struct db *db, long long id, int full, const char *field, cJSON **json,
	       char sha[BLOB_HEX_LEN + 1], struct kiln_err *err);
int models_source(struct db *db, long long id, const char *field, char sha[BLOB_HEX_LEN + 1],
		  cJSON **insp, struct kiln_err *err);
int models_insert(struct db *db, const struct model_row *row, cJSON **json, int *inserted,
		  struct kiln_err *err);
int models_list(struct db *db, const char *q, int deleted, long long after, int limit,
		cJSON **json, struct kiln_err *err);
int models_delete(struct db *db, long long id, int *kept, struct kiln_err *err);
int models_count_sha(struct db *db, const char *sha);
int models_stale(struct db *db, int version, long long **ids, struct kiln_err *err);
int models_set_inspection(struct db *db, long long id, const char *inspection,
			  struct kiln_err *err);

#endif
