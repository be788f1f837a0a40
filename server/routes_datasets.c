/*
 * routes_datasets: calibration sets — archive upload (streamed into the blob
 * store, then checked entry by entry and normalised by conversion/calib.h),
 * list, one, the contact sheet, delete.
 *
 * The ingest takes seconds to tens of seconds (500 photos: ~20 s on two
 * cores), so it never runs on an HTTP thread: the upload is answered 202
 * with a dataset in state "ingesting", and a task on the ingest pool
 * (app->ingest, apart from app->work so quick offloaded requests never wait
 * behind a 20 s ingest)
 * checks and normalises the archive, writing progress 0..1 to the row as it
 * goes, then makes it "ready" (images stored) or "rejected" (nothing
 * stored; error and report say why).  GET /datasets/{id}?wait=N parks the
 * request until the state changes, so a script needs no polling loop; the
 * dashboard polls the progress.  No synchronous 201 is kept: v1 has no
 * outside users, and two ways to upload would be two things to test.
 * "failed" is an ingest that a restart (or shutdown) cut short.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/app.h"
#include "runtime/blobrefs.h"
#include "server/jobsys.h"
#include "conversion/calib.h"
#include "server/routes.h"
#include "server/upload.h"
#include "runtime/workpool.h"

#define DATASET_COLS "id, name, sha256, size, set_sha256, images, report, created_at, " \
	"state, progress, error"
/* Longest ?wait=N, as for deployments. */
#define DATASET_WAIT_MAX 60

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
	const char *state = (const char *)sqlite3_column_text(st, 8);
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddNumberToObject(o, "progress", sqlite3_column_double(st, 9));
	cJSON *error = sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL :
		       cJSON_Parse((const char *)sqlite3_column_text(st, 10));
	cJSON_AddItemToObject(o, "error", error ? error : cJSON_CreateNull());
	/* Hashes exist only once the set is ready; until then null. */
	const char *sha = (const char *)sqlite3_column_text(st, 2);
	const char *set = (const char *)sqlite3_column_text(st, 4);
	if (sha && sha[0])
		cJSON_AddStringToObject(o, "sha256", sha);
	else
		cJSON_AddNullToObject(o, "sha256");
	cJSON_AddNumberToObject(o, "size", (double)sqlite3_column_int64(st, 3));
	if (set && set[0])
		cJSON_AddStringToObject(o, "set_sha256", set);
	else
		cJSON_AddNullToObject(o, "set_sha256");
	cJSON_AddNumberToObject(o, "images", sqlite3_column_int(st, 5));
	cJSON *report = cJSON_Parse((const char *)sqlite3_column_text(st, 6));
	cJSON *before = report ? cJSON_DetachItemFromObject(report, "entries_before_error") : NULL;
	if (before)
		cJSON_AddItemToObject(o, "entries_before_error", before);
	/* While ingesting the report is {}: empty lists, not missing keys. */
	cJSON *rej = report ? cJSON_DetachItemFromObject(report, "rejected") : NULL;
	cJSON *stats = report ? cJSON_DetachItemFromObject(report, "stats") : NULL;
	cJSON_AddItemToObject(o, "rejected", rej ? rej : cJSON_CreateArray());
	cJSON_AddItemToObject(o, "stats", stats ? stats : cJSON_CreateObject());
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

/* Makes row id ready with the ingest's result, its archive blob and its
 * images, in one transaction. */
static int finish_ready(sqlite3 *c, long long id, const char *sha,
			const struct calib_result *res, const char *report)
{
	if (sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	sqlite3_stmt *st = NULL;
	int ok = sqlite3_prepare_v2(c, "UPDATE datasets SET sha256 = ?, set_sha256 = ?, images = ?,"
				    " report = ?, state = 'ready', progress = 1, error = NULL"
				    " WHERE id = ?", -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_text(st, 1, sha, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, res->set_sha256, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)res->n_images);
		sqlite3_bind_text(st, 4, report, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 5, id);
		ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(c) == 1;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (ok)
		ok = sqlite3_prepare_v2(c, "INSERT INTO dataset_images(dataset, position, sha256, entry,"
					" width, height) VALUES (?, ?, ?, ?, ?, ?)",
					-1, &st, NULL) == SQLITE_OK;
	for (size_t i = 0; ok && i < res->n_images; i++) {
		const struct calib_image *im = &res->images[i];
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
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

/* Ends row id in state ("rejected" or "failed") with an error object
 * {code, message, field, status} and, when there is one, the report. */
static void finish_error(sqlite3 *c, long long id, const char *state, int code,
			 const struct kiln_err *err, const char *report)
{
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "code", kiln_code_name(code));
	cJSON_AddStringToObject(e, "message", err->msg[0] ? err->msg : "internal error");
	if (err->field[0])
		cJSON_AddStringToObject(e, "field", err->field);
	else
		cJSON_AddNullToObject(e, "field");
	/* The status the synchronous upload used to answer with (413, 422). */
	cJSON_AddNumberToObject(e, "status", http_status_of(code));
	char *text = cJSON_PrintUnformatted(e);
	cJSON_Delete(e);
	sqlite3_stmt *st = NULL;
	if (c && text && sqlite3_prepare_v2(c, "UPDATE datasets SET state = ?, error = ?,"
					    " report = coalesce(?, report) WHERE id = ?", -1, &st,
					    NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
		if (report)
			sqlite3_bind_text(st, 3, report, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 3);
		sqlite3_bind_int64(st, 4, id);
		if (sqlite3_step(st) != SQLITE_DONE)
			fprintf(stderr, "level=error dataset=%lld msg=\"cannot record the ingest's "
				"end: %s\"\n", id, sqlite3_errmsg(c));
	}
	sqlite3_finalize(st);
	free(text);
}

/* The HTTP server whose parked ?wait=N requests an ingest's end wakes; set
 * by main while the server runs (routes_notify_set). */
static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static struct http_server *notify_srv;

void routes_notify_set(struct http_server *srv)
{
	pthread_mutex_lock(&notify_lock);
	notify_srv = srv;
	pthread_mutex_unlock(&notify_lock);
}

void routes_notify(void)
{
	pthread_mutex_lock(&notify_lock);
	if (notify_srv)
		http_server_wake_parked(notify_srv);
	pthread_mutex_unlock(&notify_lock);
}

/* One ingest on the work pool; owns its share of the upload. */
struct ingest_task {
	struct app *app;
	struct upload *u;
	long long id;
	struct calib_limits lim;
};

/* Set by routes_datasets_stop(): a running ingest ends at its next step. */
static int ingest_stopping;

void routes_datasets_stop(void)
{
	__atomic_store_n(&ingest_stopping, 1, __ATOMIC_RELEASE);
}

static int ingest_progress(void *ctx, double done)
{
	struct ingest_task *t = ctx;
	if (__atomic_load_n(&ingest_stopping, __ATOMIC_ACQUIRE))
		return 1;
	sqlite3 *c = db_conn(t->app->db);
	sqlite3_stmt *st = NULL;
	if (c && sqlite3_prepare_v2(c, "UPDATE datasets SET progress = ? WHERE id = ?"
				    " AND state = 'ingesting'", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_double(st, 1, done > 0.99 ? 0.99 : done); /* 1 = stored */
		sqlite3_bind_int64(st, 2, t->id);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return 0;
}

/* 1 when every image of res is in the blob store (called under the refs
 * lock, so none can go before the rows name them). */
static int images_present(struct blob_store *bs, const struct calib_result *res)
{
	char path[4200];
	for (size_t i = 0; i < res->n_images; i++)
		if (blob_path(bs, res->images[i].sha256, path, sizeof(path), NULL) != 0 ||
		    access(path, F_OK) != 0)
			return 0;
	return 1;
}

static void ingest_run(void *arg, int cancelled)
{
	struct ingest_task *t = arg;
	struct app *app = t->app;
	struct kiln_err err;
	kiln_err_clear(&err);
	sqlite3 *c = db_conn(app->db);
	if (cancelled) {
		kiln_errf(&err, KILN_EUNAVAIL, "", "kilnd stopped before this ingest ran; "
			  "upload the archive again");
		finish_error(c, t->id, "failed", err.code, &err, NULL);
		goto out;
	}
	struct calib_result *res = NULL;
	/* The normalised images become blobs inside calib_ingest.  A delete of
	 * another set with the same image may remove one before our rows name
	 * it; holding the refs lock for the whole ingest (tens of seconds)
	 * would stall every delete, so the images are checked under the lock
	 * afterwards and the rare loser ingests once more. */
	int rc = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		calib_result_free(res);
		res = NULL;
		kiln_err_clear(&err);
		rc = calib_ingest(app->blobs, upload_tmp_path(t->u), &t->lim, &res, &err);
		blobrefs_lock();
		if (rc != 0 || images_present(app->blobs, res))
			break;
		blobrefs_unlock();
		rc = kiln_errf(&err, KILN_EIO, "", "an image was deleted by a concurrent delete "
			       "while the set was ingested; upload the archive again");
		if (attempt == 0)
			continue;
		blobrefs_lock();
	}
	cJSON *report = res ? calib_result_json(res) : NULL;
	cJSON_DeleteItemFromObject(report, "images");
	char *text = report ? cJSON_PrintUnformatted(report) : NULL;
	cJSON_Delete(report);
	char sha[BLOB_HEX_LEN + 1];
	if (rc != 0) {
		/* A refused archive (or one with no usable image): nothing is
		 * stored; the row keeps the error plus the report — every
		 * rejected entry with its reason, and which entries were read
		 * before a corrupt one. */
		blobrefs_unlock();
		/* The archive's fault is "rejected"; ours (disk, memory, a
		 * shutdown) "failed". */
		int refused = rc == KILN_ETOOBIG || rc == KILN_EUNPROC || rc == KILN_EINVAL;
		finish_error(c, t->id, refused ? "rejected" : "failed", rc, &err, text);
	} else if (text == NULL) {
		blobrefs_unlock();
		kiln_errf(&err, KILN_ENOMEM, "", "out of memory");
		finish_error(c, t->id, "failed", err.code, &err, NULL);
	} else if (upload_commit(t->u, sha, &err) != 0) {
		blobrefs_unlock();
		finish_error(c, t->id, "failed", err.code, &err, NULL);
	} else if (c == NULL || finish_ready(c, t->id, sha, res, text) != 0) {
		kiln_errf(&err, KILN_EIO, "", "cannot store the dataset: %s",
			  c ? sqlite3_errmsg(c) : "no database connection");
		blobrefs_unlock();
		finish_error(c, t->id, "failed", err.code, &err, NULL);
		blobrefs_release(app->db, app->blobs, sha);
	} else {
		blobrefs_unlock();
	}
	free(text);
	calib_result_free(res);
out:
	fprintf(stderr, "level=info dataset=%lld msg=\"ingest ended\"%s%s%s\n", t->id,
		err.msg[0] ? " error=\"" : "", err.msg, err.msg[0] ? "\"" : "");
	upload_free(t->u);
	free(t);
	routes_notify();
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
	struct ingest_task *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	t->app = app;
	calib_limits_default(&t->lim);
	t->lim.archive_bytes = (uint64_t)app->cfg->dataset_bytes;
	t->lim.entries = (uint64_t)app->cfg->dataset_entries;
	t->lim.total_bytes = (uint64_t)app->cfg->dataset_total_bytes;
	t->lim.entry_bytes = (uint64_t)app->cfg->dataset_entry_bytes;
	t->lim.max_pixels = (uint64_t)app->cfg->image_pixels;
	t->lim.progress = ingest_progress;
	t->lim.progress_ctx = t;
	/* The row first, so the 202 names a dataset the client can follow. */
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	char now[32];
	db_now(now, sizeof(now));
	if (c == NULL || sqlite3_prepare_v2(c, "INSERT INTO datasets(name, sha256, size, set_sha256,"
					   " images, report, created_at, state, progress)"
					   " VALUES (?, '', ?, '', 0, '{}', ?, 'ingesting', 0)",
					   -1, &st, NULL) != SQLITE_OK) {
		free(t);
		reply_db_error(req, c, "cannot store the dataset");
		return;
	}
	sqlite3_bind_text(st, 1, upload_name(u), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)upload_size(u));
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	int ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok) {
		free(t);
		reply_db_error(req, c, "cannot store the dataset");
		return;
	}
	t->id = sqlite3_last_insert_rowid(c);
	t->u = u;
	/* The reply is made before the task can start: the 202 always shows
	 * the set as it was accepted, "ingesting" at 0. */
	cJSON *rec = NULL;
	st = NULL;
	if (sqlite3_prepare_v2(c, "SELECT " DATASET_COLS " FROM datasets WHERE id = ?", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, t->id);
		if (sqlite3_step(st) == SQLITE_ROW)
			rec = dataset_json(c, st, 0);
	}
	sqlite3_finalize(st);
	upload_keep(u);
	if (rec == NULL || workpool_submit(app->ingest, ingest_run, t, &err) != 0) {
		if (rec == NULL)
			kiln_errf(&err, KILN_EIO, "", "cannot read the dataset back: %s",
				  sqlite3_errmsg(c));
		finish_error(c, t->id, "failed", err.code, &err, NULL);
		cJSON_Delete(rec);
		upload_free(u);
		free(t);
		http_reply_kerr(req, &err);
		return;
	}
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/datasets/%lld",
		 (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(rec, "id")));
	http_reply_json(req, 202, rec); /* t belongs to the task from here */
	http_reply_header(req, "Location", loc);
}

void routes_datasets_recover(struct app *app)
{
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "UPDATE datasets SET state = 'failed', error = ?"
					   " WHERE state = 'ingesting'", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return;
	}
	sqlite3_bind_text(st, 1, "{\"code\":\"unavailable\",\"message\":\"kilnd stopped during "
			  "this ingest; upload the archive again\",\"field\":null,\"status\":503}",
			  -1, SQLITE_STATIC);
	sqlite3_step(st);
	int n = sqlite3_changes(c);
	sqlite3_finalize(st);
	if (n > 0)
		fprintf(stderr, "level=warn msg=\"datasets left ingesting by a restart are failed\" "
			"count=%d\n", n);
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

/* 1 when dataset id is no longer ingesting (or gone), 0 while it is. */
static int dataset_done(struct http_req *req, long long id)
{
	struct app *app = http_req_app(req);
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	int done = 1;
	if (c && sqlite3_prepare_v2(c, "SELECT state = 'ingesting' FROM datasets WHERE id = ?", -1,
				    &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			done = sqlite3_column_int(st, 0) == 0;
	}
	sqlite3_finalize(st);
	return done;
}

static int dataset_settled(struct http_req *req, void *ctx, int last)
{
	long long id = *(long long *)ctx;
	if (!last && !dataset_done(req, id))
		return 0;
	cJSON *o = load_dataset(req, id, 1);
	if (o)
		http_reply_json(req, 200, o);
	return 1;
}

void route_datasets_get(struct http_req *req)
{
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	/* ?wait=N: long-poll (parked, no thread held) until the ingest ends. */
	const char *w = http_req_query(req, "wait");
	if (w) {
		char *end;
		long secs = strtol(w, &end, 10);
		if (*w == '\0' || *end != '\0' || secs < 0 || secs > DATASET_WAIT_MAX) {
			http_reply_error(req, 400, "invalid", "wait", "wait must be 0-%d seconds",
					 DATASET_WAIT_MAX);
			return;
		}
		if (secs > 0 && !dataset_done(req, id)) {
			long long *ctx = malloc(sizeof(*ctx));
			if (ctx == NULL) {
				http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
				return;
			}
			*ctx = id;
			http_req_park(req, (int)secs, dataset_settled, ctx, free);
			return;
		}
	}
	cJSON *o = load_dataset(req, id, 1);
	if (o)
		http_reply_json(req, 200, o);
}

static void datasets_thumbs_work(struct http_req *req)
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

/* The contact sheet decodes up to 64 images: on the work pool. */
void route_datasets_thumbs(struct http_req *req)
{
	http_req_offload(req, datasets_thumbs_work);
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
	if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "state")), "ingesting") == 0) {
		http_reply_error(req, 409, "conflict", "id", "dataset %lld is still being "
				 "ingested; wait for GET /api/v1/datasets/%lld?wait=60", id, id);
		cJSON_Delete(o);
		return;
	}
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
	const char *arch = cJSON_GetStringValue(cJSON_GetObjectItem(o, "sha256"));
	if (arch)
		blobrefs_release(app->db, app->blobs, arch);
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
