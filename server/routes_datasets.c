/*
 * routes_datasets: calibration sets — archive upload (streamed into the blob
 * store, then checked entry by entry and normalised by conversion/calib.h),
 * list, one, the contact sheet, delete.
 *
 * The ingest runs on the HTTP thread that received the upload: a few hundred
 * photos take seconds to tens of seconds on two cores.  The client waits for
 * the 201 with the full report, which is what a curl user wants; the
 * dashboard shows the upload's own progress meanwhile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/app.h"
#include "server/blobrefs.h"
#include "server/jobsys.h"
#include "conversion/calib.h"
#include "server/routes.h"
#include "server/upload.h"

#define DATASET_COLS "id, name, sha256, size, set_sha256, images, report, created_at"

static void reply_db_error(struct http_req *req, sqlite3 *c, const char *what)
{
	http_reply_error(req, 500, "io_error", NULL, "%s: %s", what,
			 c ? sqlite3_errmsg(c) : "no database connection");
}

/* The images of a dataset in set order, as JSON; NULL on a database error. */
static cJSON *dataset_images_json(sqlite3 *c, long long id)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c, "SELECT sha256, entry, width, height FROM dataset_images"
			       " WHERE dataset = ? ORDER BY position", -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	cJSON *arr = cJSON_CreateArray();
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "sha256", (const char *)sqlite3_column_text(st, 0));
		cJSON_AddStringToObject(o, "entry", (const char *)sqlite3_column_text(st, 1));
		cJSON_AddNumberToObject(o, "width", sqlite3_column_int(st, 2));
		cJSON_AddNumberToObject(o, "height", sqlite3_column_int(st, 3));
		cJSON_AddItemToArray(arr, o);
	}
	sqlite3_finalize(st);
	return arr;
}

/* A datasets row as its API record; with_images adds the image list. */
static cJSON *dataset_json(sqlite3 *c, sqlite3_stmt *st, int with_images)
{
	cJSON *o = cJSON_CreateObject();
	long long id = sqlite3_column_int64(st, 0);
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 1));
	cJSON_AddStringToObject(o, "sha256", (const char *)sqlite3_column_text(st, 2));
	cJSON_AddNumberToObject(o, "size", (double)sqlite3_column_int64(st, 3));
	cJSON_AddStringToObject(o, "set_sha256", (const char *)sqlite3_column_text(st, 4));
	cJSON_AddNumberToObject(o, "images", sqlite3_column_int(st, 5));
	cJSON *report = cJSON_Parse((const char *)sqlite3_column_text(st, 6));
	cJSON_AddItemToObject(o, "rejected", report ? cJSON_DetachItemFromObject(report, "rejected")
					     : cJSON_CreateArray());
	cJSON_AddItemToObject(o, "stats", report ? cJSON_DetachItemFromObject(report, "stats")
					  : cJSON_CreateObject());
	cJSON_Delete(report);
	cJSON_AddStringToObject(o, "created", (const char *)sqlite3_column_text(st, 7));
	if (with_images) {
		cJSON *imgs = dataset_images_json(c, id);
		cJSON_AddItemToObject(o, "image_list", imgs ? imgs : cJSON_CreateArray());
	}
	return o;
}

static int upload_dataset_begin(struct http_req *req, void **state, struct kiln_err *err)
{
	struct app *app = http_req_app(req);
	return upload_begin(req, app->blobs, (uint64_t)app->cfg->dataset_bytes,
			    "limits.dataset_bytes", (struct upload **)state, err);
}

const struct http_stream_ops routes_dataset_upload = {
	upload_dataset_begin, upload_stream_data, upload_stream_free,
};

/* Inserts the dataset and its images in one transaction; *id gets its id. */
static int insert_dataset(sqlite3 *c, const char *name, const char *sha, uint64_t size,
			  const struct calib_result *res, const char *report, long long *id)
{
	if (sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	sqlite3_stmt *st = NULL;
	char now[32];
	db_now(now, sizeof(now));
	int ok = sqlite3_prepare_v2(c, "INSERT INTO datasets(name, sha256, size, set_sha256, images,"
				    " report, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
				    -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, sha, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)size);
		sqlite3_bind_text(st, 4, res->set_sha256, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)res->n_images);
		sqlite3_bind_text(st, 6, report, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 7, now, -1, SQLITE_TRANSIENT);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	*id = sqlite3_last_insert_rowid(c);
	st = NULL;
	if (ok)
		ok = sqlite3_prepare_v2(c, "INSERT INTO dataset_images(dataset, position, sha256, entry,"
					" width, height) VALUES (?, ?, ?, ?, ?, ?)",
					-1, &st, NULL) == SQLITE_OK;
	for (size_t i = 0; ok && i < res->n_images; i++) {
		const struct calib_image *im = &res->images[i];
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		sqlite3_bind_text(st, 3, im->sha256, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, im->entry, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 5, (int)im->width);
		sqlite3_bind_int(st, 6, (int)im->height);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (ok && sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

void route_datasets_create(struct http_req *req)
{
	struct app *app = http_req_app(req);
	struct upload *u = http_req_stream_state(req);
	struct kiln_err err;
	kiln_err_clear(&err);
	if (upload_finish(u, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	struct calib_limits lim;
	calib_limits_default(&lim);
	lim.archive_bytes = (uint64_t)app->cfg->dataset_bytes;
	lim.entries = (uint64_t)app->cfg->dataset_entries;
	lim.total_bytes = (uint64_t)app->cfg->dataset_total_bytes;
	lim.entry_bytes = (uint64_t)app->cfg->dataset_entry_bytes;
	lim.max_pixels = (uint64_t)app->cfg->image_pixels;
	struct calib_result *res = NULL;
	/* The normalised images become blobs inside calib_ingest; hold the refs
	 * lock so a concurrent delete cannot remove one before our rows name it. */
	blobrefs_lock();
	int rc = calib_ingest(app->blobs, upload_tmp_path(u), &lim, &res, &err);
	if (rc != 0) {
		blobrefs_unlock();
		/* A refused archive (or one with no usable image): the error plus
		 * the report — every rejected entry with its reason, and which
		 * entries were read before a corrupt one. */
		cJSON *root = cJSON_CreateObject();
		cJSON *e = cJSON_AddObjectToObject(root, "error");
		cJSON_AddStringToObject(e, "code", kiln_code_name(rc));
		cJSON_AddStringToObject(e, "message", err.msg);
		if (err.field[0])
			cJSON_AddStringToObject(e, "field", err.field);
		else
			cJSON_AddNullToObject(e, "field");
		cJSON *j = res ? calib_result_json(res) : NULL;
		if (j)
			cJSON_AddItemToObject(root, "report", j);
		http_reply_json(req, http_status_of(rc), root);
		calib_result_free(res);
		return;
	}
	cJSON *report = calib_result_json(res);
	cJSON_DeleteItemFromObject(report, "images");
	char *text = cJSON_PrintUnformatted(report);
	cJSON_Delete(report);
	char sha[BLOB_HEX_LEN + 1], name[UPLOAD_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%s", upload_name(u));
	uint64_t size = upload_size(u);
	long long id = 0;
	sqlite3 *c = db_conn(app->db);
	if (text == NULL) {
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
	} else if (upload_commit(u, sha, &err) != 0) {
		http_reply_kerr(req, &err);
	} else if (c == NULL || insert_dataset(c, name, sha, size, res, text, &id) != 0) {
		reply_db_error(req, c, "cannot store the dataset");
	} else {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(c, "SELECT " DATASET_COLS " FROM datasets WHERE id = ?", -1,
				       &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, id);
			if (sqlite3_step(st) == SQLITE_ROW) {
				char loc[64];
				snprintf(loc, sizeof(loc), "/api/v1/datasets/%lld", id);
				http_reply_json(req, 201, dataset_json(c, st, 1));
				http_reply_header(req, "Location", loc);
			}
		}
		sqlite3_finalize(st);
	}
	blobrefs_unlock();
	free(text);
	calib_result_free(res);
}

static cJSON *list_row(void *ctx, sqlite3_stmt *st)
{
	cJSON *d = dataset_json(ctx, st, 0);
	cJSON_DeleteItemFromObject(d, "rejected"); /* lists stay small */
	return d;
}

void route_datasets_list(struct http_req *req)
{
	struct app *app = http_req_app(req);
	int limit;
	long long after;
	if (http_req_page(req, &limit, &after) != 0)
		return;
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " DATASET_COLS " FROM datasets WHERE id > ?"
					   " ORDER BY id LIMIT ?", -1, &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot list datasets");
		return;
	}
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int(st, 2, limit + 1);
	http_reply_json(req, 200, routes_page(st, limit, list_row, c));
}

/* Loads a dataset row into a record; NULL with a 404/500 reply set. */
static cJSON *load_dataset(struct http_req *req, long long id, int with_images)
{
	struct app *app = http_req_app(req);
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " DATASET_COLS " FROM datasets WHERE id = ?",
					   -1, &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot read dataset");
		return NULL;
	}
	sqlite3_bind_int64(st, 1, id);
	cJSON *o = NULL;
	if (sqlite3_step(st) == SQLITE_ROW)
		o = dataset_json(c, st, with_images);
	else
		http_reply_error(req, 404, "not_found", "id", "no dataset with id %lld", id);
	sqlite3_finalize(st);
	return o;
}

void route_datasets_get(struct http_req *req)
{
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	cJSON *o = load_dataset(req, id, 1);
	if (o)
		http_reply_json(req, 200, o);
}

void route_datasets_thumbs(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	cJSON *o = load_dataset(req, id, 1);
	if (o == NULL)
		return;
	cJSON *imgs = cJSON_GetObjectItem(o, "image_list");
	int n = cJSON_GetArraySize(imgs);
	const char **shas = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
	int i = 0;
	for (cJSON *it = imgs ? imgs->child : NULL; shas && it; it = it->next)
		shas[i++] = cJSON_GetStringValue(cJSON_GetObjectItem(it, "sha256"));
	unsigned char *jpeg = NULL;
	size_t len = 0;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (shas == NULL)
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
	else if (calib_contact_sheet(app->blobs, shas, (size_t)n, 0, &jpeg, &len, &err) != 0)
		http_reply_kerr(req, &err);
	else {
		http_reply_bytes(req, 200, "image/jpeg", jpeg, len);
		http_reply_header(req, "Cache-Control", "private, max-age=3600");
	}
	free(jpeg);
	free(shas);
	cJSON_Delete(o);
}

/* 1 when a queued or running job uses the dataset, 0 when none, -1 on error. */
static int dataset_in_use(sqlite3 *c, long long id)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c, "SELECT count(*) FROM jobs WHERE dataset = CAST(? AS TEXT)"
			       " AND state IN ('queued', 'running')", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) > 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

void route_datasets_delete(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	cJSON *o = load_dataset(req, id, 1);
	if (o == NULL)
		return;
	sqlite3 *c = db_conn(app->db);
	int used = dataset_in_use(c, id);
	if (used != 0) {
		if (used > 0)
			http_reply_error(req, 409, "conflict", "id",
					 "dataset %lld is used by a queued or running job; cancel "
					 "the job or wait for it to finish", id);
		else
			reply_db_error(req, c, "cannot check the dataset's jobs");
		cJSON_Delete(o);
		return;
	}
	sqlite3_stmt *st = NULL;
	int ok = sqlite3_prepare_v2(c, "DELETE FROM datasets WHERE id = ?", -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(st, 1, id);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (!ok) {
		reply_db_error(req, c, "cannot delete dataset");
		cJSON_Delete(o);
		return;
	}
	/* The archive and every normalised image no other record names. */
	blobrefs_release(app->db, app->blobs, cJSON_GetStringValue(cJSON_GetObjectItem(o, "sha256")));
	cJSON *imgs = cJSON_GetObjectItem(o, "image_list");
	for (cJSON *it = imgs ? imgs->child : NULL; it; it = it->next)
		blobrefs_release(app->db, app->blobs,
				 cJSON_GetStringValue(cJSON_GetObjectItem(it, "sha256")));
	cJSON_Delete(o);
	char text[32];
	snprintf(text, sizeof(text), "%lld", id);
	jobsys_forget(app->jobsys, NULL, text); /* the images copied into job workspaces */
	http_reply_empty(req, 204);
}
