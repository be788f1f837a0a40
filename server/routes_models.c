/*
 * routes_models: ONNX models — streamed upload with inspection, list, one,
 * the bytes, delete, the graph for the viewer, cut and IR rewrite.  The ONNX
 * work itself is conversion/onnx.h; this file only moves bytes and rows.
 *
 * Inspection on upload, cut, rewrite and writing the graph view take
 * seconds on a big model: they run on the work pool (http_req_offload),
 * never on an HTTP thread, and one big parse runs at a time (heavy_lock).
 * The graph view is written once per model content into
 * <data_dir>/graphs/<sha256>.json (temporary name, fsync, rename) and
 * served from the file with sendfile, so twenty slow readers of a 1M-node
 * graph cost twenty file descriptors, not twenty copies of its text; it is
 * removed when the last model with those bytes goes.
 */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/app.h"
#include "runtime/blob.h"
#include "runtime/blobrefs.h"
#include "server/jobsys.h"
#include "conversion/onnx.h"
#include "runtime/models.h"
#include "server/routes.h"
#include "server/upload.h"

#define CUT_MAX_OUTPUTS 256

/* One big ONNX parse at a time.  Parsing a 1M-node model costs ~165 MB
 * for a few seconds, whatever it is for (its graph view, its inspection
 * on upload, a cut or rewrite of it), so N work threads each parsing one
 * would cost N times that.  Every such parse takes this lock; it is only
 * ever waited on by work-pool threads (every route here that parses
 * offloads first), never by an HTTP thread.  A model file under
 * HEAVY_MODEL_BYTES parses in at most about its own size and skips the
 * queue, so a small upload does not wait behind a big model's graph. */
#define HEAVY_MODEL_BYTES (16ull << 20)

static pthread_mutex_t heavy_lock = PTHREAD_MUTEX_INITIALIZER;

/* Takes heavy_lock for a parse of a model file of size bytes when that
 * file is big; returns what heavy_end needs. */
static int heavy_begin(uint64_t size)
{
	if (size < HEAVY_MODEL_BYTES)
		return 0;
	pthread_mutex_lock(&heavy_lock);
	return 1;
}

/* After the parse's model is closed: lets the next big parse in, and gives
 * the parse's memory back to the system rather than keep it in this
 * thread's malloc arena (where the next parse, on another thread, could
 * not reuse it). */
static void heavy_end(int held)
{
	if (held)
		pthread_mutex_unlock(&heavy_lock);
	malloc_trim(0);
}

/* Loads one model's record, a tombstone too; NULL with a reply already
 * set when absent. */
static cJSON *load_record(struct http_req *req, long long id, int full, char *sha_out)
{
	struct app *app = http_req_app(req);
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *o = NULL;
	if (models_get(app->db, id, full, "id", &o, sha_out, &err) != 0)
		http_reply_kerr(req, &err);
	return o;
}

/* As load_record, for what needs the file (bytes, graph, cut, delete): a
 * deleted model's record is still there but its file is not, 410. */
static cJSON *load_model(struct http_req *req, long long id, int full, char *sha_out)
{
	cJSON *o = load_record(req, id, full, sha_out);
	const char *at = cJSON_GetStringValue(cJSON_GetObjectItem(o, "deleted_at"));
	if (o == NULL || at == NULL)
		return o;
	char msg[160];
	snprintf(msg, sizeof(msg), "model %lld was deleted on %.10s; its file is no longer kept",
		 id, at);
	http_reply_error(req, 410, "gone", "id", msg);
	cJSON_Delete(o);
	return NULL;
}

/* Reads {id} and the sha of its model's file, for what needs only the
 * file; -1 with a 404/410 replied. */
static int model_sha_param(struct http_req *req, long long *id, char sha[BLOB_HEX_LEN + 1])
{
	if (routes_id_param(req, "id", id) != 0)
		return -1;
	cJSON *o = load_model(req, *id, 0, sha);
	if (o == NULL)
		return -1;
	cJSON_Delete(o);
	return 0;
}

/* Inserts a model row (or finds the same name+bytes) and replies with it.
 * Called with blobrefs held, right after the blob was committed. */
static void insert_and_reply(struct http_req *req, const char *name, const char *sha,
			     uint64_t size, const char *inspection, long long parent,
			     const char *derivation)
{
	struct app *app = http_req_app(req);
	struct model_row row = {name, sha, size, inspection, parent, derivation};
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *o;
	int inserted;
	if (models_insert(app->db, &row, &o, &inserted, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/models/%lld",
		 (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "id")));
	/* Same bytes under the same name: the existing record, 200. */
	http_reply_json(req, inserted ? 201 : 200, o);
	http_reply_header(req, "Location", loc);
}

/* --- upload ---------------------------------------------------------------- */

static int upload_model_begin(struct http_req *req, void **state, struct kiln_err *err)
{
	struct app *app = http_req_app(req);
	return upload_begin(req, app->blobs, (uint64_t)app->cfg->model_bytes,
			    "limits.model_bytes", (struct upload **)state, err);
}

const struct http_stream_ops routes_model_upload = {
	upload_model_begin, upload_stream_data, upload_stream_free,
};

static void models_create_work(struct http_req *req)
{
	struct upload *u = http_req_stream_state(req);
	struct kiln_err err;
	kiln_err_clear(&err);
	if (upload_finish(u, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	/* Inspect before the bytes become a blob: a file that is not a model
	 * is refused with nothing stored. */
	struct onnx_model *m = NULL;
	int held = heavy_begin(upload_size(u));
	if (onnx_open(upload_tmp_path(u), &m, &err) != 0) {
		heavy_end(held);
		http_reply_kerr(req, &err);
		return;
	}
	cJSON *insp = onnx_inspect_json(m);
	onnx_close(m);
	heavy_end(held);
	char *text = insp ? cJSON_PrintUnformatted(insp) : NULL;
	cJSON_Delete(insp);
	if (text == NULL) {
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	char sha[BLOB_HEX_LEN + 1];
	uint64_t size = upload_size(u);
	char name[UPLOAD_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%s", upload_name(u));
	blobrefs_lock();
	if (upload_commit(u, sha, &err) != 0)
		http_reply_kerr(req, &err);
	else
		insert_and_reply(req, name, sha, size, text, 0, NULL);
	blobrefs_unlock();
	free(text);
}

void route_models_create(struct http_req *req)
{
	http_req_offload(req, models_create_work);
}

/* --- list, one, bytes, delete ---------------------------------------------- */

void route_models_list(struct http_req *req)
{
	struct app *app = http_req_app(req);
	int limit;
	long long after;
	if (http_req_page(req, &limit, &after) != 0)
		return;
	const char *q = http_req_query(req, "q");
	if (q && strlen(q) > 64) {
		http_reply_error(req, 400, "invalid", "q", "q is at most 64 characters");
		return;
	}
	/* Deleted models (tombstones) are hidden unless asked for. */
	const char *del = http_req_query(req, "deleted");
	if (del && strcmp(del, "include") != 0 && strcmp(del, "exclude") != 0) {
		http_reply_error(req, 400, "invalid", "deleted",
				 "deleted is 'include' or 'exclude' (the default)");
		return;
	}
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *o;
	if (models_list(app->db, q, del && strcmp(del, "include") == 0, after, limit, &o,
			&err) != 0)
		http_reply_kerr(req, &err);
	else
		http_reply_json(req, 200, o);
}

void route_models_get(struct http_req *req)
{
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	cJSON *o = load_record(req, id, 1, NULL);
	if (o)
		http_reply_json(req, 200, o);
}

void route_models_file(struct http_req *req)
{
	long long id;
	char sha[BLOB_HEX_LEN + 1];
	if (routes_id_param(req, "id", &id) != 0)
		return;
	cJSON *o = load_model(req, id, 0, sha);
	if (o == NULL)
		return;
	char disp[160];
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s.onnx\"",
		 cJSON_GetStringValue(cJSON_GetObjectItem(o, "name")));
	cJSON_Delete(o);
	routes_send_blob(req, sha, "application/octet-stream", disp);
}

static void graph_path(const struct app *app, const char *sha, char *out, size_t cap);

/* The graph file of sha goes with the last model that has those bytes. */
static void drop_graph_file(const struct app *app, const char *sha)
{
	if (models_count_sha(app->db, sha) == 0) {
		char path[4200];
		graph_path(app, sha, path, sizeof(path));
		unlink(path);
	}
}

void route_models_delete(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	char sha[BLOB_HEX_LEN + 1];
	if (model_sha_param(req, &id, sha) != 0)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	int kept;
	/* A model jobs used stays as a tombstone (their pages keep the link,
	 * README "Deleting a model"); its file goes either way. */
	if (models_delete(app->db, id, &kept, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	blobrefs_release(app->db, app->blobs, sha);
	char text[32];
	snprintf(text, sizeof(text), "%lld", id);
	jobsys_forget(app->jobsys, text, NULL); /* the copies in job workspaces */
	drop_graph_file(app, sha);
	http_reply_empty(req, 204);
}

/* --- graph, cut, rewrite ----------------------------------------------------- */

/* Opens model id's ONNX; NULL with a reply set on failure. *parent gets
 * its record (caller deletes).  A big model's parse holds heavy_lock until
 * the caller's heavy_end(*held), after its model and the derived model's
 * inspection are done with. */
static struct onnx_model *open_model(struct http_req *req, long long id, cJSON **record,
				     int *held)
{
	struct app *app = http_req_app(req);
	char sha[BLOB_HEX_LEN + 1], path[4200];
	cJSON *o = load_model(req, id, 0, sha);
	if (o == NULL)
		return NULL;
	struct kiln_err err;
	kiln_err_clear(&err);
	struct onnx_model *m = NULL;
	struct stat st;
	*held = 0;
	int rc = blob_path(app->blobs, sha, path, sizeof(path), &err);
	if (rc == 0) {
		*held = heavy_begin(stat(path, &st) == 0 ? (uint64_t)st.st_size : 0);
		rc = onnx_open(path, &m, &err);
	}
	if (rc != 0) {
		heavy_end(*held);
		cJSON_Delete(o);
		http_reply_kerr(req, &err);
		return NULL;
	}
	if (record)
		*record = o;
	else
		cJSON_Delete(o);
	return m;
}

/* <data_dir>/graphs/<sha>.json: the graph view of the model with those
 * bytes.  GRAPH_FORMAT names the text's layout; a kilnd that writes it
 * differently bumps it, and old files are simply not found. */
#define GRAPH_FORMAT "g1"

static void graph_path(const struct app *app, const char *sha, char *out, size_t cap)
{
	snprintf(out, cap, "%s/graphs/%s-%s.json", app->cfg->data_dir, GRAPH_FORMAT, sha);
}

void routes_models_recover(struct app *app)
{
	char dir[4200], path[4500];
	snprintf(dir, sizeof(dir), "%s/graphs", app->cfg->data_dir);
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (strncmp(e->d_name, ".tmp-", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Replies with the cached graph file of sha; 0, or -1 when there is none
 * yet (nothing replied). */
static int send_graph_file(struct http_req *req, const char *sha)
{
	struct app *app = http_req_app(req);
	char path[4200], etag[BLOB_HEX_LEN + 8];
	graph_path(app, sha, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	snprintf(etag, sizeof(etag), "\"%s-%s\"", GRAPH_FORMAT, sha);
	http_reply_file(req, fd, (uint64_t)st.st_size, "application/json", etag);
	http_reply_header(req, "Cache-Control", "private, no-cache");
	return 0;
}

/* Writes sha's graph file from the model at blob path: to a temporary name
 * in the same directory, fsynced, renamed, so a reader sees the whole file
 * or none.  Two requests for a new model may both write it; the second
 * rename replaces identical bytes. */
static int write_graph_file(const struct app *app, const char *sha, struct kiln_err *err)
{
	char dir[4200], path[4200], tmp[4300], model[4200];
	snprintf(dir, sizeof(dir), "%s/graphs", app->cfg->data_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return kiln_errf(err, KILN_EIO, "", "cannot create %s: %s", dir, strerror(errno));
	graph_path(app, sha, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-XXXXXX", dir, sha);
	struct onnx_model *m = NULL;
	if (blob_path(app->blobs, sha, model, sizeof(model), err) != 0 ||
	    onnx_open(model, &m, err) != 0)
		return err->code;
	int fd = mkstemp(tmp);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL) {
		if (fd >= 0)
			close(fd);
		onnx_close(m);
		return kiln_errf(err, KILN_EIO, "", "cannot create a file in %s: %s", dir,
				 strerror(errno));
	}
	int rc = onnx_graph_json_write(m, f, err);
	onnx_close(m);
	if (rc == 0 && (fflush(f) != 0 || fsync(fileno(f)) != 0))
		rc = kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", tmp, strerror(errno));
	if (fclose(f) != 0 && rc == 0)
		rc = kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = kiln_errf(err, KILN_EIO, "", "cannot rename to %s: %s", path, strerror(errno));
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* On the work pool: write the graph file, then send it. */
static void models_graph_work(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	char sha[BLOB_HEX_LEN + 1];
	if (model_sha_param(req, &id, sha) != 0)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	/* Whatever the model's size, one writer at a time (heavy_lock): twenty
	 * first readers of a new model must parse it once, not once per work
	 * thread.  The ones that waited find the file. */
	int held = heavy_begin(UINT64_MAX);
	int rc = send_graph_file(req, sha) == 0 ? 1 : write_graph_file(app, sha, &err);
	heavy_end(held);
	if (rc == 1)
		return; /* another request wrote it meanwhile */
	if (rc != 0)
		http_reply_kerr(req, &err);
	else if (send_graph_file(req, sha) != 0)
		http_reply_error(req, 500, "io_error", NULL, "the graph file vanished");
}

void route_models_graph(struct http_req *req)
{
	long long id;
	char sha[BLOB_HEX_LEN + 1];
	if (model_sha_param(req, &id, sha) != 0)
		return;
	/* Written already: served from here, no work thread needed. */
	if (send_graph_file(req, sha) != 0)
		http_req_offload(req, models_graph_work);
}

/* The derived model's name: the body's "name", else "<parent>-<suffix>". */
static int derived_name(struct http_req *req, const cJSON *body, const cJSON *parent,
			const char *suffix, char *out, size_t cap)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(body, "name");
	if (n != NULL) {
		if (!cJSON_IsString(n) || !upload_name_ok(n->valuestring)) {
			http_reply_error(req, 400, "invalid", "name",
					 "name must be 1-64 characters of A-Z a-z 0-9 . _ -");
			return -1;
		}
		snprintf(out, cap, "%s", n->valuestring);
		return 0;
	}
	const char *pn = cJSON_GetStringValue(cJSON_GetObjectItem(parent, "name"));
	snprintf(out, cap, "%.*s-%s", (int)(UPLOAD_NAME_MAX - strlen(suffix) - 1), pn, suffix);
	return 0;
}

/* What a cut model cannot tell about itself once its head is gone, taken
 * from its parent's inspection (issue 16): the detected family and model
 * type, the YOLOv5 anchors (the anchor_grid constants are cut off) and the
 * class names.  Keys the cut's own inspection has are kept; the derivation
 * says which were inherited. */
static const char *const INHERITED[] = {"suggested_model_type", "anchors", "suggested_labels",
					"family", NULL};

static void inherit_from_parent(cJSON *insp, const cJSON *parent_insp, long long parent,
				cJSON *derivation)
{
	cJSON *took = NULL;
	/* the family is the first suggestion's (onnx_suggest.c) */
	const cJSON *sg = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(parent_insp, "suggested_outputs"), 0);
	for (int i = 0; insp && parent_insp && INHERITED[i]; i++) {
		const char *k = INHERITED[i];
		const cJSON *mine = cJSON_GetObjectItemCaseSensitive(insp, k);
		const cJSON *theirs = strcmp(k, "family") == 0 ? cJSON_GetObjectItemCaseSensitive(sg, k)
							      : cJSON_GetObjectItemCaseSensitive(parent_insp, k);
		if ((mine && !cJSON_IsNull(mine)) || theirs == NULL || cJSON_IsNull(theirs))
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(insp, k);
		cJSON_AddItemToObject(insp, k, cJSON_Duplicate(theirs, 1));
		if (took == NULL && (took = cJSON_CreateArray()) == NULL)
			return;
		cJSON_AddItemToArray(took, cJSON_CreateString(k));
	}
	if (took) {
		cJSON *o = cJSON_AddObjectToObject(derivation, "inherited");
		if (o == NULL) {
			cJSON_Delete(took);
			return;
		}
		cJSON_AddNumberToObject(o, "from", (double)parent);
		cJSON_AddItemToObject(o, "keys", took);
	}
}

/* Adopts the file at tmp as a blob, inspects it and inserts the derived
 * model; replies either way. */
static void store_derived(struct http_req *req, const char *tmp, const char *name,
			  long long parent, cJSON *derivation, const cJSON *parent_insp)
{
	struct app *app = http_req_app(req);
	struct kiln_err err;
	kiln_err_clear(&err);
	struct onnx_model *m = NULL;
	if (onnx_open(tmp, &m, &err) != 0) {
		unlink(tmp);
		/* Our own writer produced something we cannot read: a bug. */
		http_reply_error(req, 500, "internal", NULL, "the derived model does not read "
				 "back: %s", err.msg);
		return;
	}
	cJSON *insp = onnx_inspect_json(m);
	onnx_close(m);
	inherit_from_parent(insp, parent_insp, parent, derivation);
	char *text = insp ? cJSON_PrintUnformatted(insp) : NULL;
	char *deriv = cJSON_PrintUnformatted(derivation);
	cJSON_Delete(insp);
	struct stat st;
	uint64_t size = stat(tmp, &st) == 0 ? (uint64_t)st.st_size : 0;
	char sha[BLOB_HEX_LEN + 1];
	blobrefs_lock();
	if (text == NULL || deriv == NULL)
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
	else if (blob_adopt(app->blobs, tmp, sha, &err) != 0)
		http_reply_kerr(req, &err);
	else
		insert_and_reply(req, name, sha, size, text, parent, deriv);
	blobrefs_unlock();
	unlink(tmp); /* gone already unless something failed before adopt */
	free(text);
	free(deriv);
}

/* A cut's or a rewrite's {id} and JSON body, whose fields must be among
 * keys; NULL with a 400/404 replied. */
static const cJSON *derive_request(struct http_req *req, long long *id, const char *const *keys)
{
	if (routes_id_param(req, "id", id) != 0)
		return NULL;
	const cJSON *body = http_req_json(req);
	return routes_only_keys(req, body, keys) == 0 ? body : NULL;
}

static void models_cut_work(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	static const char *const keys[] = {"outputs", "name", NULL};
	const cJSON *body = derive_request(req, &id, keys);
	if (body == NULL)
		return;
	const cJSON *outs = cJSON_GetObjectItemCaseSensitive(body, "outputs");
	int n = cJSON_GetArraySize(outs);
	if (!cJSON_IsArray(outs) || n < 1 || n > CUT_MAX_OUTPUTS) {
		http_reply_error(req, 400, "invalid", "outputs",
				 "outputs must be a list of 1 to %d tensor names", CUT_MAX_OUTPUTS);
		return;
	}
	const char *names[CUT_MAX_OUTPUTS];
	int i = 0;
	for (const cJSON *it = outs->child; it; it = it->next, i++) {
		if (!cJSON_IsString(it) || it->valuestring[0] == '\0' ||
		    strlen(it->valuestring) > ONNX_NAME_MAX) {
			http_reply_error(req, 400, "invalid", "outputs",
					 "outputs[%d] must be a tensor name", i);
			return;
		}
		names[i] = it->valuestring;
	}
	cJSON *parent = NULL;
	int held;
	struct onnx_model *m = open_model(req, id, &parent, &held);
	if (m == NULL)
		return;
	char name[UPLOAD_NAME_MAX + 1], tmp[4096];
	struct kiln_err err;
	kiln_err_clear(&err);
	struct onnx_cut_stats stats = {0};
	if (derived_name(req, body, parent, "cut", name, sizeof(name)) == 0) {
		if (blob_tmp_path(app->blobs, tmp, sizeof(tmp), &err) != 0 ||
		    onnx_cut_file(m, names, (size_t)n, tmp, &stats, &err) != 0) {
			http_reply_kerr(req, &err);
		} else {
			cJSON *d = cJSON_CreateObject();
			cJSON_AddItemToObject(d, "cut", cJSON_Duplicate(outs, 1));
			cJSON_AddNumberToObject(d, "nodes", (double)stats.nodes);
			cJSON *full = load_model(req, id, 1, NULL);
			const cJSON *pi = cJSON_GetObjectItemCaseSensitive(full, "inspection");
			/* the record lifts these two out of the inspection */
			cJSON *pinsp = pi ? cJSON_Duplicate(pi, 1) : NULL;
			for (int k = 0; pinsp && k < 2; k++) {
				const char *key = k ? "suggested_model_type" : "suggested_outputs";
				const cJSON *v = cJSON_GetObjectItemCaseSensitive(full, key);
				if (v)
					cJSON_AddItemToObject(pinsp, key, cJSON_Duplicate(v, 1));
			}
			store_derived(req, tmp, name, id, d, pinsp);
			cJSON_Delete(pinsp);
			cJSON_Delete(full);
			cJSON_Delete(d);
		}
	}
	onnx_close(m);
	heavy_end(held);
	cJSON_Delete(parent);
}

static void models_rewrite_work(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	static const char *const keys[] = {"ir_version", "opset", "name", NULL};
	const cJSON *body = derive_request(req, &id, keys);
	if (body == NULL)
		return;
	const cJSON *ir = cJSON_GetObjectItemCaseSensitive(body, "ir_version");
	const cJSON *opset = cJSON_GetObjectItemCaseSensitive(body, "opset");
	if (!cJSON_IsNumber(ir) || ir->valuedouble != (double)ir->valueint || ir->valueint < 3 ||
	    ir->valueint > 100) {
		http_reply_error(req, 400, "invalid", "ir_version",
				 "ir_version must be a whole number (e.g. 8 for TPU-MLIR 1.7)");
		return;
	}
	if (opset && (!cJSON_IsNumber(opset) || opset->valuedouble != (double)opset->valueint ||
		      opset->valueint < 1 || opset->valueint > 1000)) {
		http_reply_error(req, 400, "invalid", "opset", "opset must be a whole number");
		return;
	}
	cJSON *parent = NULL;
	int held;
	struct onnx_model *m = open_model(req, id, &parent, &held);
	if (m == NULL)
		return;
	char name[UPLOAD_NAME_MAX + 1], tmp[4096], suffix[32];
	snprintf(suffix, sizeof(suffix), "ir%d", ir->valueint);
	struct kiln_err err;
	kiln_err_clear(&err);
	if (derived_name(req, body, parent, suffix, name, sizeof(name)) == 0) {
		int fd = -1;
		if (blob_tmp_path(app->blobs, tmp, sizeof(tmp), &err) == 0)
			fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			if (err.code == 0)
				kiln_errf(&err, KILN_EIO, "", "cannot create a temporary file");
			http_reply_kerr(req, &err);
		} else if (onnx_rewrite_ir(m, ir->valueint, opset ? opset->valueint : 0, fd,
					   &err) != 0) {
			close(fd);
			unlink(tmp);
			http_reply_kerr(req, &err);
		} else {
			close(fd);
			cJSON *d = cJSON_CreateObject();
			cJSON *r = cJSON_AddObjectToObject(d, "rewrite");
			cJSON_AddNumberToObject(r, "ir_version", ir->valueint);
			if (opset)
				cJSON_AddNumberToObject(r, "opset", opset->valueint);
			store_derived(req, tmp, name, id, d, NULL);
			cJSON_Delete(d);
		}
	}
	onnx_close(m);
	heavy_end(held);
	cJSON_Delete(parent);
}

void route_models_cut(struct http_req *req)
{
	http_req_offload(req, models_cut_work);
}

void route_models_rewrite(struct http_req *req)
{
	http_req_offload(req, models_rewrite_work);
}
