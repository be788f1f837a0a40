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
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/app.h"
#include "runtime/blobrefs.h"
#include "server/jobsys.h"
#include "conversion/calib.h"
#include "runtime/datasets.h"
#include "server/routes.h"
#include "server/upload.h"
#include "runtime/workpool.h"

static int upload_dataset_begin(struct http_req *req, void **state, struct kiln_err *err)
{
	struct app *app = http_req_app(req);
	return upload_begin(req, app->blobs, (uint64_t)app->cfg->dataset_bytes,
			    "limits.dataset_bytes", (struct upload **)state, err);
}

const struct http_stream_ops routes_dataset_upload = {
	upload_dataset_begin, upload_stream_data, upload_stream_free,
};

/* Ends row id in state ("rejected" or "failed") with an error object
 * {code, message, field, status} and, when there is one, the report. */
static void finish_error(struct db *db, long long id, const char *state, int code,
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
	datasets_set_error(db, id, state, text, report);
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
	datasets_progress(t->app->db, t->id, done);
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

/* The ingest's images as the store's rows (the store knows no calib.h). */
static int set_ready(struct db *db, long long id, const char *sha, const struct calib_result *res,
		     const char *report, struct kiln_err *err)
{
	struct datasets_image *im = calloc(res->n_images ? res->n_images : 1, sizeof(*im));
	if (im == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	for (size_t i = 0; i < res->n_images; i++)
		im[i] = (struct datasets_image){res->images[i].sha256, res->images[i].entry,
						res->images[i].width, res->images[i].height};
	int rc = datasets_set_ready(db, id, sha, res->set_sha256, im, res->n_images, report, err);
	free(im);
	return rc;
}

static void ingest_run(void *arg, int cancelled)
{
	struct ingest_task *t = arg;
	struct app *app = t->app;
	struct kiln_err err;
	kiln_err_clear(&err);
	struct db *db = app->db;
	if (cancelled) {
		kiln_errf(&err, KILN_EUNAVAIL, "", "kilnd stopped before this ingest ran; "
			  "upload the archive again");
		finish_error(db, t->id, "failed", err.code, &err, NULL);
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
		finish_error(db, t->id, refused ? "rejected" : "failed", rc, &err, text);
	} else if (text == NULL) {
		blobrefs_unlock();
		kiln_errf(&err, KILN_ENOMEM, "", "out of memory");
		finish_error(db, t->id, "failed", err.code, &err, NULL);
	} else if (upload_commit(t->u, sha, &err) != 0) {
		blobrefs_unlock();
		finish_error(db, t->id, "failed", err.code, &err, NULL);
	} else if (set_ready(db, t->id, sha, res, text, &err) != 0) {
		blobrefs_unlock();
		finish_error(db, t->id, "failed", err.code, &err, NULL);
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
	cJSON *rec = NULL;
	if (datasets_create(app->db, upload_name(u), upload_size(u), &t->id, &rec, &err) != 0 &&
	    t->id == 0) {
		free(t);
		http_reply_kerr(req, &err);
		return;
	}
	t->u = u;
	/* The reply is made before the task can start: the 202 always shows
	 * the set as it was accepted, "ingesting" at 0. */
	upload_keep(u);
	if (rec == NULL || workpool_submit(app->ingest, ingest_run, t, &err) != 0) {
		finish_error(app->db, t->id, "failed", err.code, &err, NULL);
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
	int n = datasets_recover(app->db, "{\"code\":\"unavailable\",\"message\":\"kilnd "
				 "stopped during this ingest; upload the archive again\","
				 "\"field\":null,\"status\":503}");
	if (n > 0)
		fprintf(stderr, "level=warn msg=\"datasets left ingesting by a restart are failed\" "
			"count=%d\n", n);
}

void route_datasets_list(struct http_req *req)
{
	routes_reply_list(req, datasets_list);
}

/* Loads a dataset row into a record; NULL with a 404/500 reply set. */
static cJSON *load_dataset(struct http_req *req, long long id, int with_images)
{
	struct app *app = http_req_app(req);
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *o = NULL;
	if (datasets_get(app->db, id, with_images, &o, &err) != 0)
		http_reply_kerr(req, &err);
	return o;
}

/* Reads {id} and its dataset's record, images included; NULL with a 404
 * (or 500) replied. */
static cJSON *dataset_param(struct http_req *req, long long *id)
{
	if (routes_id_param(req, "id", id) != 0)
		return NULL;
	return load_dataset(req, *id, 1);
}

/* 1 when dataset id is no longer ingesting (or gone), 0 while it is. */
static int dataset_done(struct http_req *req, long long id)
{
	struct app *app = http_req_app(req);
	return !datasets_ingesting(app->db, id);
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

/* ?wait=N: long-poll until the ingest ends. */
void route_datasets_get(struct http_req *req)
{
	routes_get_settled(req, dataset_settled);
}

static void datasets_thumbs_work(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	cJSON *o = dataset_param(req, &id);
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

/* One accepted image (n = its place in image_list, from 1) as kiln stored
 * it: the re-encoded JPEG, for the set page's gallery.  The blob's own
 * ETag (its sha256) lets the browser keep it. */
void route_datasets_image(struct http_req *req)
{
	long long id, n;
	if (routes_id_param(req, "id", &id) != 0 || routes_id_param(req, "n", &n) != 0)
		return;
	cJSON *o = load_dataset(req, id, 1);
	if (o == NULL)
		return;
	const cJSON *im = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "image_list"), (int)(n - 1));
	const char *sha = cJSON_GetStringValue(cJSON_GetObjectItem(im, "sha256"));
	if (n > INT_MAX || sha == NULL)
		http_reply_error(req, 404, "not_found", "n", "calibration set %lld has %lld images",
				 id, (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "images")));
	else
		routes_send_blob(req, sha, "image/jpeg", NULL);
	cJSON_Delete(o);
}

/* The contact sheet decodes up to 64 images: on the work pool. */
void route_datasets_thumbs(struct http_req *req)
{
	http_req_offload(req, datasets_thumbs_work);
}

void route_datasets_delete(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	cJSON *o = dataset_param(req, &id);
	if (o == NULL)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (datasets_delete(app->db, id, &err) != 0) {
		http_reply_kerr(req, &err);
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
