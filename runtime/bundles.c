/*
 * bundles: reading bundle rows (see bundles.h).  BUNDLE_COLS is the one
 * column list the record is built from.
 */
#include "runtime/bundles.h"

#include <stdio.h>
#include <string.h>

#define BUNDLE_COLS "id, job, name, target, sha256, size, manifest, simulated, created_at"

/* A bundle row (BUNDLE_COLS) as its API record; full adds manifest and files. */
static cJSON *bundle_json(sqlite3 *c, sqlite3_stmt *st, int full)
{
	cJSON *o = cJSON_CreateObject();
	long long id = sqlite3_column_int64(st, 0);
	cJSON_AddNumberToObject(o, "id", (double)id);
	if (sqlite3_column_type(st, 1) == SQLITE_NULL)
		cJSON_AddNullToObject(o, "job");
	else
		cJSON_AddNumberToObject(o, "job", (double)sqlite3_column_int64(st, 1));
	cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 2));
	cJSON_AddStringToObject(o, "target", (const char *)sqlite3_column_text(st, 3));
	cJSON_AddStringToObject(o, "sha256", (const char *)sqlite3_column_text(st, 4));
	cJSON_AddNumberToObject(o, "size", (double)sqlite3_column_int64(st, 5));
	cJSON_AddBoolToObject(o, "simulated", sqlite3_column_int(st, 7) != 0);
	cJSON_AddStringToObject(o, "created", (const char *)sqlite3_column_text(st, 8));
	char href[80];
	snprintf(href, sizeof(href), "/api/v1/bundles/%lld/archive", id);
	cJSON_AddStringToObject(o, "archive", href);
	if (!full)
		return o;
	cJSON *man = cJSON_Parse((const char *)sqlite3_column_text(st, 6));
	cJSON_AddItemToObject(o, "manifest", man ? man : cJSON_CreateNull());
	cJSON *files = cJSON_AddArrayToObject(o, "files");
	sqlite3_stmt *fs = NULL;
	if (sqlite3_prepare_v2(c, "SELECT name, sha256, size FROM bundle_files WHERE bundle = ?"
			       " ORDER BY name", -1, &fs, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(fs, 1, id);
		while (sqlite3_step(fs) == SQLITE_ROW) {
			cJSON *f = cJSON_CreateObject();
			cJSON_AddStringToObject(f, "name", (const char *)sqlite3_column_text(fs, 0));
			cJSON_AddStringToObject(f, "sha256", (const char *)sqlite3_column_text(fs, 1));
			cJSON_AddNumberToObject(f, "size", (double)sqlite3_column_int64(fs, 2));
			cJSON_AddItemToArray(files, f);
		}
	}
	sqlite3_finalize(fs);
	return o;
}

int bundles_get(struct db *db, long long id, int full, cJSON **json, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	*json = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " BUNDLE_COLS " FROM bundles WHERE id = ?",
					   -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot read bundle");
	sqlite3_bind_int64(st, 1, id);
	int rc = 0, s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*json = bundle_json(c, st, full);
	else if (s == SQLITE_DONE)
		rc = kiln_errf(err, KILN_ENOTFOUND, "id", "no bundle with id %lld", id);
	else
		rc = db_err(c, err, "cannot read bundle");
	sqlite3_finalize(st);
	return rc;
}

/* One list row: the record without its details. */
static cJSON *bundle_json_row(void *ctx, sqlite3_stmt *st)
{
	return bundle_json(ctx, st, 0);
}

int bundles_list(struct db *db, const char *target, const char *name, long long after,
		 int limit, cJSON **json, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	*json = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " BUNDLE_COLS " FROM bundles WHERE id > ?1"
					   " AND (?2 IS NULL OR target = ?2)"
					   " AND (?3 IS NULL OR name = ?3)"
					   " ORDER BY id LIMIT ?4", -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot list bundles");
	sqlite3_bind_int64(st, 1, after);
	if (target)
		sqlite3_bind_text(st, 2, target, -1, SQLITE_TRANSIENT);
	if (name)
		sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 4, limit + 1);
	*json = db_page(st, limit, bundle_json_row, c);
	return 0;
}

int bundles_archive(struct db *db, long long id, const char *field, char sha[BLOB_HEX_LEN + 1],
		    char *name, size_t name_cap, char target[BUNDLES_TARGET_MAX],
		    struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	/* Every download and 304 revalidation asks this: prepared once per
	 * thread (db_stmt), as parsing it cost more than running it (issue 19). */
	sqlite3_stmt *st = c ? db_stmt(db, "SELECT sha256, name, target FROM bundles WHERE id = ?")
			     : NULL;
	if (st == NULL)
		return db_err(c, err, "cannot read bundle");
	sqlite3_bind_int64(st, 1, id);
	int rc = 0, s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		if (sha)
			snprintf(sha, BLOB_HEX_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
		if (name)
			snprintf(name, name_cap, "%s", (const char *)sqlite3_column_text(st, 1));
		if (target)
			snprintf(target, BUNDLES_TARGET_MAX, "%s",
				 (const char *)sqlite3_column_text(st, 2));
	} else if (s == SQLITE_DONE) {
		rc = kiln_errf(err, KILN_ENOTFOUND, field, "no bundle with id %lld", id);
	} else {
		rc = db_err(c, err, "cannot read bundle");
	}
	db_stmt_done(st);
	return rc;
}

int bundles_file(struct db *db, long long id, const char *name, char sha[BLOB_HEX_LEN + 1],
		 struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT f.sha256 FROM bundles b LEFT JOIN "
					   "bundle_files f ON f.bundle = b.id AND f.name = ?2"
					   " WHERE b.id = ?1", -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot read bundle");
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	sha[0] = '\0';
	int found_bundle = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		found_bundle = 1;
		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			snprintf(sha, BLOB_HEX_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (!found_bundle)
		return kiln_errf(err, KILN_ENOTFOUND, "id", "no bundle with id %lld", id);
	if (sha[0] == '\0')
		return kiln_errf(err, KILN_ENOTFOUND, "name",
				 "bundle %lld has no file '%.100s'; GET /api/v1/bundles/%lld lists "
				 "its files", id, name, id);
	return 0;
}
