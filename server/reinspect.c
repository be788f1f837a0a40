/*
 * reinspect: re-inspects stored models whose inspection predates this
 * kilnd's (see reinspect.h).  The stale ids are read first and each model
 * is then inspected and written on its own, so no statement stays open
 * while an ONNX file is parsed.
 */
#include "server/reinspect.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "conversion/onnx.h"

static int db_fail(sqlite3 *c, struct kiln_err *err)
{
	return kiln_errf(err, KILN_EIO, "", "cannot re-inspect the models: %s",
			 c ? sqlite3_errmsg(c) : "no database connection");
}

/* ids of the stale records, -1 terminated (malloc'd) */
static int stale_ids(sqlite3 *c, long long **ids, struct kiln_err *err)
{
	sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 16;
	*ids = malloc(cap * sizeof(**ids));
	if (*ids == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	if (sqlite3_prepare_v2(c, "SELECT id FROM models WHERE coalesce(json_extract("
			       "inspection, '$.inspection_version'), 0) < ?"
			       " AND deleted_at IS NULL ORDER BY id", /* a tombstone has no file */
			       -1, &st, NULL) != SQLITE_OK) {
		free(*ids);
		*ids = NULL;
		return db_fail(c, err);
	}
	sqlite3_bind_int(st, 1, ONNX_INSPECTION_VERSION);
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
				       : db_fail(c, err);
	}
	return 0;
}

/* The record's new inspection text, or NULL (err says why). */
static char *inspect_blob(const struct blob_store *blobs, const char *sha, struct kiln_err *err)
{
	char path[4200];
	struct onnx_model *m = NULL;
	if (blob_path(blobs, sha, path, sizeof(path), err) != 0 || onnx_open(path, &m, err) != 0)
		return NULL;
	cJSON *insp = onnx_inspect_json(m);
	onnx_close(m);
	char *text = insp ? cJSON_PrintUnformatted(insp) : NULL;
	cJSON_Delete(insp);
	malloc_trim(0);  /* as after an upload: a big model's parse goes back */
	if (text == NULL)
		kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	return text;
}

int reinspect_stale(struct db *db, const struct blob_store *blobs, int *done, int *failed,
		    struct kiln_err *err)
{
	*done = *failed = 0;
	sqlite3 *c = db_conn(db);
	if (c == NULL)
		return db_fail(c, err);
	long long *ids = NULL;
	int rc = stale_ids(c, &ids, err);
	for (size_t i = 0; rc == 0 && ids[i] >= 0; i++) {
		sqlite3_stmt *st = NULL;
		char sha[BLOB_HEX_LEN + 1] = "";
		if (sqlite3_prepare_v2(c, "SELECT sha256 FROM models WHERE id = ?", -1, &st,
				       NULL) != SQLITE_OK) {
			rc = db_fail(c, err);
			break;
		}
		sqlite3_bind_int64(st, 1, ids[i]);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			snprintf(sha, sizeof(sha), "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		if (sha[0] == '\0')
			continue;   /* deleted meanwhile */
		struct kiln_err e;
		kiln_err_clear(&e);
		char *text = inspect_blob(blobs, sha, &e);
		if (text == NULL) {
			fprintf(stderr, "level=warn msg=\"model %lld keeps its old inspection: %s\"\n",
				ids[i], e.msg);
			(*failed)++;
			continue;
		}
		if (sqlite3_prepare_v2(c, "UPDATE models SET inspection = ? WHERE id = ?", -1, &st,
				       NULL) != SQLITE_OK) {
			free(text);
			rc = db_fail(c, err);
			break;
		}
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, ids[i]);
		int s = sqlite3_step(st);
		sqlite3_finalize(st);
		free(text);
		if (s != SQLITE_DONE) {
			rc = db_fail(c, err);
			break;
		}
		(*done)++;
	}
	free(ids);
	return rc;
}
