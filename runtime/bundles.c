/*
 * bundles: the bundle rows (see bundles.h).  BUNDLE_COLS is the one
 * column list the record is built from.
 */
#include "runtime/bundles.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* One list row: the record without its details. */
static cJSON *bundle_json_row(void *ctx, sqlite3_stmt *st)
{
	return bundle_json(ctx, st, 0);
}

static cJSON *bundle_full_row(void *ctx, sqlite3_stmt *st)
{
	return bundle_json(ctx, st, 1);
}

int bundles_get(struct db *db, long long id, int full, cJSON **json, struct kiln_err *err)
{
	return db_get(db, "SELECT " BUNDLE_COLS " FROM bundles WHERE id = ?", id,
		      full ? bundle_full_row : bundle_json_row, db_conn(db), "bundle",
		      "cannot read bundle", json, err);
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

/* dir/manifest.json, parsed; *text its bytes (caller frees both). */
static int read_manifest(const char *dir, char **text, size_t *len, cJSON **man,
			 struct kiln_err *err)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return kiln_errf(err, KILN_EIO, "", "cannot read %s: %s", path, strerror(errno));
	static const size_t max = 4u << 20;  /* a manifest lists <= 1024 files */
	*text = malloc(max + 1);
	*len = *text ? fread(*text, 1, max, f) : 0;
	fclose(f);
	if (*text == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	(*text)[*len] = '\0';
	*man = cJSON_Parse(*text);
	if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(*man, "files")))
		return kiln_errf(err, KILN_EINTERNAL, "", "manifest.json has no file list");
	return 0;
}

/* One bundle_files row per listed file, then manifest.json itself (the
 * manifest does not list itself, but it is in the archive and worth serving
 * alone); each file becomes a blob. */
static int insert_files(sqlite3 *c, struct blob_store *bs, long long id, const char *dir,
			const cJSON *files, struct kiln_err *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c, "INSERT INTO bundle_files(bundle, name, sha256, size)"
			       " VALUES (?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, "cannot store the bundle's files");
	int rc = 0;
	const cJSON *it = files->child;
	for (int last = 0; rc == 0 && !last;) {
		const char *name;
		if (it != NULL) {
			name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));
			it = it->next;
		} else {
			name = "manifest.json";
			last = 1;
		}
		if (name == NULL) {
			rc = kiln_errf(err, KILN_EINTERNAL, "", "manifest.json lists a file without "
				       "a name");
			break;
		}
		char hex[BLOB_HEX_LEN + 1], path[2 * PATH_MAX];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (stat(path, &sb) != 0) {
			rc = kiln_errf(err, KILN_EIO, "", "cannot read %s: %s", path, strerror(errno));
			break;
		}
		if ((rc = blob_put_file(bs, path, hex, err)) != 0)
			break;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, hex, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)sb.st_size);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = db_err(c, err, "cannot store the bundle's files");
	}
	sqlite3_finalize(st);
	return rc;
}

int bundles_insert(struct db *db, struct blob_store *bs, const struct bundle_row *row,
		   const char *dir, long long *id, struct kiln_err *err)
{
	char *text = NULL;
	size_t len = 0;
	cJSON *man = NULL;
	int rc = read_manifest(dir, &text, &len, &man, err);
	sqlite3 *c = rc == 0 ? db_conn(db) : NULL;
	sqlite3_stmt *st = NULL;
	char now[32];
	db_now(now, sizeof(now));
	if (rc != 0)
		goto out;
	if (c == NULL || sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_err(c, err, "cannot store the bundle");
		goto out;
	}
	if (sqlite3_prepare_v2(c, "INSERT INTO bundles(job, name, target, sha256, size, manifest,"
			       " simulated, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", -1, &st,
			       NULL) != SQLITE_OK) {
		rc = db_err(c, err, "cannot store the bundle");
		goto rollback;
	}
	sqlite3_bind_int64(st, 1, row->job);
	sqlite3_bind_text(st, 2, row->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, row->target, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, row->sha256, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)row->size);
	sqlite3_bind_text(st, 6, text, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 7, row->simulated);
	sqlite3_bind_text(st, 8, now, -1, SQLITE_TRANSIENT);
	int s = sqlite3_step(st);
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		rc = db_err(c, err, "cannot store the bundle");
		goto rollback;
	}
	*id = sqlite3_last_insert_rowid(c);
	rc = insert_files(c, bs, *id, dir, cJSON_GetObjectItemCaseSensitive(man, "files"), err);
	if (rc != 0)
		goto rollback;
	if (sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		goto out;
	rc = db_err(c, err, "cannot store the bundle");
rollback:
	sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
out:
	cJSON_Delete(man);
	free(text);
	return rc;
}
