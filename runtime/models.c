/*
 * models: the model store (see models.h).  Every statement on `models` is
 * in this file; MODEL_COLS is the one column list the record is built from.
 */
#include "runtime/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/jobs.h"

#define MODEL_COLS \
	"id, name, sha256, size, created_at, inspection, parent, derivation, deleted_at"

/* A model row as its API record.  full = with the inspection. */
static cJSON *model_json(sqlite3_stmt *st, int full)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
	cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 1));
	cJSON_AddStringToObject(o, "sha256", (const char *)sqlite3_column_text(st, 2));
	cJSON_AddNumberToObject(o, "size", (double)sqlite3_column_int64(st, 3));
	cJSON_AddStringToObject(o, "created", (const char *)sqlite3_column_text(st, 4));
	if (sqlite3_column_type(st, 6) == SQLITE_NULL)
		cJSON_AddNullToObject(o, "parent");
	else
		cJSON_AddNumberToObject(o, "parent", (double)sqlite3_column_int64(st, 6));
	cJSON *deriv = sqlite3_column_type(st, 7) == SQLITE_NULL ? NULL :
		       cJSON_Parse((const char *)sqlite3_column_text(st, 7));
	cJSON_AddItemToObject(o, "derivation", deriv ? deriv : cJSON_CreateNull());
	/* A tombstone (schema/013): jobs that used it keep a record to link to. */
	int gone = sqlite3_column_type(st, 8) != SQLITE_NULL;
	cJSON_AddBoolToObject(o, "deleted", gone);
	if (gone)
		cJSON_AddStringToObject(o, "deleted_at", (const char *)sqlite3_column_text(st, 8));
	else
		cJSON_AddNullToObject(o, "deleted_at");
	cJSON *insp = cJSON_Parse((const char *)sqlite3_column_text(st, 5));
	if (insp == NULL)
		return o;
	/* The suggestions are what a user looks for first: lift them to the
	 * record's top level. */
	cJSON *sugg = cJSON_DetachItemFromObject(insp, "suggested_outputs");
	cJSON *mtype = cJSON_DetachItemFromObject(insp, "suggested_model_type");
	cJSON_AddItemToObject(o, "suggested_outputs", sugg ? sugg : cJSON_CreateArray());
	cJSON_AddItemToObject(o, "suggested_model_type", mtype ? mtype : cJSON_CreateNull());
	if (full) {
		cJSON_AddItemToObject(o, "inspection", insp);
	} else {
		cJSON *summary = cJSON_CreateObject();
		static const char *keep[] = {"ir_version", "node_count", "inputs", "outputs"};
		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
			cJSON *v = cJSON_DetachItemFromObject(insp, keep[i]);
			if (v)
				cJSON_AddItemToObject(summary, keep[i], v);
		}
		cJSON_AddItemToObject(o, "summary", summary);
		cJSON_Delete(insp);
	}
	return o;
}

/* The one SELECT of a model by id: fills *json (when json) and sha and
 * *insp (when asked). */
static int select_one(struct db *db, long long id, int full, const char *field, cJSON **json,
		      char *sha, cJSON **insp, int live, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " MODEL_COLS " FROM models WHERE id = ?",
					   -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot read the model");
	sqlite3_bind_int64(st, 1, id);
	int rc = 0, s = sqlite3_step(st);
	if (s == SQLITE_ROW && live && sqlite3_column_type(st, 8) != SQLITE_NULL) {
		/* Its file is gone with it: a job cannot be built from it. */
		rc = kiln_errf(err, KILN_ECONFLICT, field,
			       "model %lld was deleted on %.10s; upload the ONNX again to "
			       "use it (a new upload is a new model)", id,
			       (const char *)sqlite3_column_text(st, 8));
	} else if (s == SQLITE_ROW) {
		if (sha)
			snprintf(sha, BLOB_HEX_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 2));
		if (insp && (*insp = cJSON_Parse((const char *)sqlite3_column_text(st, 5))) == NULL)
			rc = kiln_errf(err, KILN_EINTERNAL, field,
				       "model %lld's stored inspection does not parse", id);
		if (json)
			*json = model_json(st, full);
	} else if (s == SQLITE_DONE) {
		rc = kiln_errf(err, KILN_ENOTFOUND, field, "no model with id %lld", id);
	} else {
		rc = db_err(c, err, "cannot read the model");
	}
	sqlite3_finalize(st);
	return rc;
}

int models_get(struct db *db, long long id, int full, const char *field, cJSON **json,
	       char sha[BLOB_HEX_LEN + 1], struct kiln_err *err)
{
	*json = NULL;
	return select_one(db, id, full, field, json, sha, NULL, 0, err);
}

int models_source(struct db *db, long long id, const char *field, char sha[BLOB_HEX_LEN + 1],
		  cJSON **insp, struct kiln_err *err)
{
	if (insp)
		*insp = NULL;
	return select_one(db, id, 0, field, NULL, sha, insp, 1, err);
}

int models_insert(struct db *db, const struct model_row *m, cJSON **json, int *inserted,
		  struct kiln_err *err)
{
	*json = NULL;
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	char now[32];
	db_now(now, sizeof(now));
	if (c == NULL || sqlite3_prepare_v2(c,
		"INSERT INTO models(name, sha256, size, created_at, inspection, parent, derivation)"
		" VALUES (?, ?, ?, ?, ?, ?, ?)"
		" ON CONFLICT(name, sha256) WHERE deleted_at IS NULL DO NOTHING",
		-1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot store model");
	sqlite3_bind_text(st, 1, m->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, m->sha, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)m->size);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, m->inspection, -1, SQLITE_TRANSIENT);
	if (m->parent > 0)
		sqlite3_bind_int64(st, 6, m->parent);
	else
		sqlite3_bind_null(st, 6);
	if (m->derivation)
		sqlite3_bind_text(st, 7, m->derivation, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 7);
	int rc = sqlite3_step(st);
	*inserted = sqlite3_changes(c) > 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_err(c, err, "cannot store model");
	if (sqlite3_prepare_v2(c, "SELECT " MODEL_COLS " FROM models WHERE name = ? AND sha256 = ?"
			       " AND deleted_at IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot read model");
	sqlite3_bind_text(st, 1, m->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, m->sha, -1, SQLITE_TRANSIENT);
	rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		*json = model_json(st, 1);
	else
		rc = db_err(c, err, "cannot read model");
	sqlite3_finalize(st);
	return rc;
}

static cJSON *list_row(void *ctx, sqlite3_stmt *st)
{
	(void)ctx;
	return model_json(st, 0);
}

int models_list(struct db *db, const char *q, int deleted, long long after, int limit,
		cJSON **json, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	*json = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " MODEL_COLS " FROM models WHERE id > ?"
					   " AND (?2 IS NULL OR instr(name, ?2) > 0)"
					   " AND (?4 OR deleted_at IS NULL)"
					   " ORDER BY id LIMIT ?3", -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot list models");
	sqlite3_bind_int64(st, 1, after);
	if (q)
		sqlite3_bind_text(st, 2, q, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, limit + 1);
	sqlite3_bind_int(st, 4, deleted != 0);
	*json = db_page(st, limit, list_row, NULL);
	return 0;
}

/* 1 when a job (any state) or a cut/rewritten model names the model, so
 * it must stay as a tombstone; 0 when nothing does; -1 on error. */
static int referenced(sqlite3 *c, long long id)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(c, "SELECT EXISTS (SELECT 1 FROM jobs WHERE model = CAST(?1 AS TEXT))"
			       " OR EXISTS (SELECT 1 FROM models WHERE parent = ?1)", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			rc = sqlite3_column_int(st, 0) != 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* models_delete's check and delete, inside its transaction. */
static int delete_unused(struct db *db, sqlite3 *c, long long id, int *kept,
			 struct kiln_err *err)
{
	char jobs[200];
	if (jobs_active_using(db, JOBS_USES_MODEL, id, jobs, sizeof(jobs)) != 0)
		return db_err(c, err, "cannot check the model's jobs");
	if (jobs[0])
		return kiln_errf(err, KILN_ECONFLICT, "id",
				 "model %lld is used by job%s %s, queued or running; cancel "
				 "%s or wait for %s to finish", id, strchr(jobs, ',') ? "s" : "",
				 jobs, strchr(jobs, ',') ? "them" : "it",
				 strchr(jobs, ',') ? "them" : "it");
	int ref = referenced(c, id);
	if (ref < 0)
		return db_err(c, err, "cannot check what names the model");
	sqlite3_stmt *st = NULL;
	char now[32];
	db_now(now, sizeof(now));
	/* Nothing names it: the row goes.  Else a tombstone (schema/013). */
	if (sqlite3_prepare_v2(c, ref ? "UPDATE models SET deleted_at = ?2 WHERE id = ?1"
					" AND deleted_at IS NULL"
				      : "DELETE FROM models WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot delete model");
	sqlite3_bind_int64(st, 1, id);
	if (ref)
		sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_err(c, err, "cannot delete model");
	*kept = ref;
	return 0;
}

int models_delete(struct db *db, long long id, int *kept, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	*kept = 0;
	/* The check for jobs and the delete are one write transaction, and a
	 * submit asks for the model again in the one that queues its job
	 * (jobs_conf.check_sources): IMMEDIATE takes the write lock before
	 * the check, so no job can be queued between the two, and a submit
	 * either committed first (its job is seen: 409) or waits and then
	 * finds the model gone. */
	if (c == NULL || sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot delete model");
	int rc = delete_unused(db, c, id, kept, err);
	if (rc == 0 && sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_err(c, err, "cannot delete model");
	if (rc != 0) {
		sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
		*kept = 0;
	}
	return rc;
}

int models_count_sha(struct db *db, const char *sha)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	int n = -1;
	if (c && sqlite3_prepare_v2(c, "SELECT count(*) FROM models WHERE sha256 = ?"
				    " AND deleted_at IS NULL", -1, &st,
				    NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, sha, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return n;
}

/* Re-inspection at start (server/reinspect.c) reads the stale ids first and
 * writes each record on its own, so no statement stays open while an ONNX
 * file is parsed. */
int models_stale(struct db *db, int version, long long **ids, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 16;
	*ids = malloc(cap * sizeof(**ids));
	if (*ids == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT id FROM models WHERE coalesce(json_extract("
					   "inspection, '$.inspection_version'), 0) < ?"
					   " AND deleted_at IS NULL ORDER BY id", /* a tombstone has no file */
					   -1, &st, NULL) != SQLITE_OK) {
		free(*ids);
		*ids = NULL;
		return db_err(c, err, "cannot re-inspect the models");
	}
	sqlite3_bind_int(st, 1, version);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n + 1 >= cap) {
			long long *x = realloc(*ids, cap * 2 * sizeof(**ids));
			if (x == NULL)
				break;
			*ids = x;
			cap *= 2;
		}
		(*ids)[n++] = sqlite3_column_int64(st, 0);
	}
	(*ids)[n] = -1;
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		free(*ids);
		*ids = NULL;
		return s == SQLITE_ROW ? kiln_errf(err, KILN_ENOMEM, "", "out of memory")
				       : db_err(c, err, "cannot re-inspect the models");
	}
	return 0;
}

int models_set_inspection(struct db *db, long long id, const char *inspection,
			  struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "UPDATE models SET inspection = ? WHERE id = ?", -1,
					   &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot re-inspect the models");
	sqlite3_bind_text(st, 1, inspection, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, id);
	int s = sqlite3_step(st);
	sqlite3_finalize(st);
	return s == SQLITE_DONE ? 0 : db_err(c, err, "cannot re-inspect the models");
}
