/*
 * routes_bundles: the finished bundles — list, one (with its manifest and
 * files), the .tar.gz and each file inside, all sent from the blob store
 * with sendfile.  Also routes_send_blob(), the one place that answers
 * ETag / If-None-Match / Range / If-Range for a stored blob; /pull uses it
 * too, so a board and a browser see the same caching rules.
 *
 * Never builds an archive: bundle rows and their blobs are written once by
 * the job that made them (conversion/bundle.h), and this file only reads.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/app.h"
#include "server/routes.h"

#define BUNDLE_COLS "id, job, name, target, sha256, size, manifest, simulated, created_at"
#define BUNDLE_FILE_NAME_MAX 512

static void reply_db_error(struct http_req *req, sqlite3 *c, const char *what)
{
	http_reply_error(req, 500, "io_error", NULL, "%s: %s", what,
			 c ? sqlite3_errmsg(c) : "no database connection");
}

void routes_send_blob(struct http_req *req, const char *sha, const char *content_type,
		      const char *disposition)
{
	struct app *app = http_req_app(req);
	char etag[BLOB_HEX_LEN + 3];
	snprintf(etag, sizeof(etag), "\"%s\"", sha);
	if (http_req_fresh(req, etag)) {
		/* Answered without touching the file: a fleet polling every
		 * minute costs one row lookup each. */
		http_reply_empty(req, 304);
		http_reply_header(req, "ETag", etag);
		return;
	}
	int fd;
	uint64_t size;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (blob_open(app->blobs, sha, &fd, &size, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	http_reply_file(req, fd, size, content_type, etag);
	if (disposition)
		http_reply_header(req, "Content-Disposition", disposition);
}

/* --- records ------------------------------------------------------------------- */

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

int routes_bundle_load(struct http_req *req, long long id, char sha[BLOB_HEX_LEN + 1],
		       char *name, size_t name_cap)
{
	struct app *app = http_req_app(req);
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT sha256, name FROM bundles WHERE id = ?",
					   -1, &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot read bundle");
		return -1;
	}
	sqlite3_bind_int64(st, 1, id);
	int rc = -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(sha, BLOB_HEX_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
		if (name)
			snprintf(name, name_cap, "%s", (const char *)sqlite3_column_text(st, 1));
		rc = 0;
	} else {
		http_reply_error(req, 404, "not_found", "id", "no bundle with id %lld", id);
	}
	sqlite3_finalize(st);
	return rc;
}

/* --- routes ---------------------------------------------------------------------- */

/* One list row: the record without its details. */
static cJSON *bundle_json_row(void *ctx, sqlite3_stmt *st)
{
	return bundle_json(ctx, st, 0);
}

void route_bundles_list(struct http_req *req)
{
	struct app *app = http_req_app(req);
	int limit;
	long long after;
	if (http_req_page(req, &limit, &after) != 0)
		return;
	const char *target = http_req_query(req, "target");
	const char *name = http_req_query(req, "name");
	if ((target && strlen(target) > 32) || (name && strlen(name) > 64)) {
		http_reply_error(req, 400, "invalid", target && strlen(target) > 32 ? "target" : "name",
				 "target is at most 32 characters and name at most 64");
		return;
	}
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " BUNDLE_COLS " FROM bundles WHERE id > ?1"
					   " AND (?2 IS NULL OR target = ?2)"
					   " AND (?3 IS NULL OR name = ?3)"
					   " ORDER BY id LIMIT ?4", -1, &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot list bundles");
		return;
	}
	sqlite3_bind_int64(st, 1, after);
	if (target)
		sqlite3_bind_text(st, 2, target, -1, SQLITE_TRANSIENT);
	if (name)
		sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 4, limit + 1);
	http_reply_json(req, 200, routes_page(st, limit, bundle_json_row, c));
}

void route_bundles_get(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " BUNDLE_COLS " FROM bundles WHERE id = ?",
					   -1, &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot read bundle");
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		http_reply_json(req, 200, bundle_json(c, st, 1));
	else
		http_reply_error(req, 404, "not_found", "id", "no bundle with id %lld", id);
	sqlite3_finalize(st);
}

void route_bundles_archive(struct http_req *req)
{
	long long id;
	char sha[BLOB_HEX_LEN + 1], name[128];
	if (routes_id_param(req, "id", &id) != 0 ||
	    routes_bundle_load(req, id, sha, name, sizeof(name)) != 0)
		return;
	char disp[200];
	/* name was checked against [A-Za-z0-9._-] when the job was submitted. */
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s-%lld.tar.gz\"", name, id);
	routes_send_blob(req, sha, "application/gzip", disp);
}

/* A bundle file's name: segments of [A-Za-z0-9._-], not starting with '.',
 * joined by '/' (schema/manifest.schema.json's pattern). */
static int file_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > BUNDLE_FILE_NAME_MAX)
		return 0;
	int seg_start = 1;
	for (const char *p = s; *p; p++) {
		if (*p == '/') {
			if (seg_start)
				return 0;
			seg_start = 1;
			continue;
		}
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-'))
			return 0;
		if (seg_start && !isalnum((unsigned char)*p))
			return 0;
		seg_start = 0;
	}
	return !seg_start;
}

static const char *content_type_of(const char *name)
{
	static const struct {
		const char *ext, *type;
	} TYPES[] = {
		{".json", "application/json"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
		{".png", "image/png"}, {".mud", "text/plain; charset=utf-8"},
		{".txt", "text/plain; charset=utf-8"}, {".prototxt", "text/plain; charset=utf-8"},
	};
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++) {
		size_t e = strlen(TYPES[i].ext);
		if (n > e && strcasecmp(name + n - e, TYPES[i].ext) == 0)
			return TYPES[i].type;
	}
	return "application/octet-stream";
}

void route_bundles_file(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	/* A tail parameter: a Voyager bundle nests its files under
	 * build/<model>/<model>/1/. */
	const char *name = http_req_param(req, "name");
	if (name == NULL)
		name = "";
	if (!file_name_ok(name)) {
		http_reply_error(req, 404, "not_found", "name", "'%.100s' is not a bundle file name",
				 name);
		return;
	}
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT f.sha256 FROM bundles b LEFT JOIN "
					   "bundle_files f ON f.bundle = b.id AND f.name = ?2"
					   " WHERE b.id = ?1", -1, &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot read bundle");
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	char sha[BLOB_HEX_LEN + 1] = "";
	int found_bundle = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		found_bundle = 1;
		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			snprintf(sha, sizeof(sha), "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (!found_bundle) {
		http_reply_error(req, 404, "not_found", "id", "no bundle with id %lld", id);
		return;
	}
	if (sha[0] == '\0') {
		http_reply_error(req, 404, "not_found", "name",
				 "bundle %lld has no file '%.100s'; GET /api/v1/bundles/%lld lists "
				 "its files", id, name, id);
		return;
	}
	routes_send_blob(req, sha, content_type_of(name), NULL);
}
