/*
 * jobsys: the job system as kilnd runs it (see jobsys.h).
 *
 * Owns the event hub, the job store, the worker pool, the engine confs made
 * from [toolchain.*] and the cached toolchain probes.  The three worker
 * hooks run on worker threads and touch only the database (through
 * db_conn, one connection per thread), the blob store and the job's own
 * directory.  Must never know HTTP: the routes call in, not the reverse.
 */
#include "server/jobsys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/blobrefs.h"
#include "conversion/bundle.h"
#include "conversion/calib.h"
#include "conversion/convert.h"
#include "server/retention.h"
#include "conversion/spec.h"
#include "runtime/worker.h"
#include "runtime/fsutil.h"
#include "runtime/models.h"
#include "runtime/toolchain.h"

/* How long a start-up probe may take per toolchain; engine.h's default. */
#define PROBE_TIMEOUT_MS ENGINE_PROBE_TIMEOUT_MS

struct probe_cache {
	struct engine_status st;
	int rc;
	int have;
	time_t at;
};

struct jobsys {
	const struct kiln_config *cfg;
	struct db *db;
	struct blob_store *bs;
	struct events *ev;
	struct jobs *jobs;
	struct worker_pool *pool;
	struct retention *retention;
	struct engine_conf ec[TOOLCHAIN_COUNT];
	pthread_mutex_t probe_lock;
	struct probe_cache probes[TOOLCHAIN_COUNT];
	pthread_t probe_thread;
	int probe_started;
};

/* --- small helpers ------------------------------------------------------------- */

static int parse_id(const char *text, long long *id)
{
	if (text == NULL || *text == '\0' || strlen(text) > 18)
		return -1;
	char *end;
	long long v = strtoll(text, &end, 10);
	if (*end != '\0' || v <= 0)
		return -1;
	*id = v;
	return 0;
}

static int db_fail(sqlite3 *c, struct kiln_err *err, const char *what)
{
	return kiln_errf(err, KILN_EIO, "", "%s: %s", what,
			 c ? sqlite3_errmsg(c) : "no database connection");
}

/* --- public lookups ------------------------------------------------------------ */

struct jobs *jobsys_jobs(struct jobsys *js) { return js->jobs; }
struct events *jobsys_events(struct jobsys *js) { return js->ev; }

const struct engine_conf *jobsys_engines(const struct jobsys *js, size_t *n)
{
	*n = TOOLCHAIN_COUNT;
	return js->ec;
}

const struct engine_conf *jobsys_engine(const struct jobsys *js, const char *toolchain)
{
	for (int i = 0; toolchain && i < TOOLCHAIN_COUNT; i++)
		if (strcmp(js->ec[i].toolchain, toolchain) == 0)
			return &js->ec[i];
	return NULL;
}

void jobsys_image_id(const struct engine_conf *c, char *buf, size_t cap)
{
	if (strcmp(c->engine, "local") == 0)
		snprintf(buf, cap, "local:%s", c->path);
	else
		snprintf(buf, cap, "%s", c->image);
}

int jobsys_model(struct jobsys *js, const char *id, char sha[BLOB_HEX_LEN + 1], cJSON **insp,
		 struct kiln_err *err)
{
	long long n;
	if (insp)
		*insp = NULL;
	if (parse_id(id, &n) != 0)
		return kiln_errf(err, KILN_ENOTFOUND, "model", "no model with id '%.40s'", id);
	return models_source(js->db, n, "model", sha, insp, err);
}

int jobsys_dataset(struct jobsys *js, const char *id, char set_sha[BLOB_HEX_LEN + 1],
		   long long *images, struct kiln_err *err)
{
	long long n;
	if (parse_id(id, &n) != 0)
		return kiln_errf(err, KILN_ENOTFOUND, "dataset", "no dataset with id '%.40s'", id);
	sqlite3 *c = db_conn(js->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT set_sha256, state, images FROM datasets"
					   " WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return db_fail(c, err, "cannot read the dataset");
	sqlite3_bind_int64(st, 1, n);
	int rc = 0;
	int s = sqlite3_step(st);
	const char *state = s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 1) : NULL;
	/* An upload answers 202 before its images exist: only a finished,
	 * accepted set can calibrate. */
	if (state && strcmp(state, "ready") != 0) {
		rc = kiln_errf(err, strcmp(state, "ingesting") == 0 ? KILN_ECONFLICT : KILN_EUNPROC,
			       "dataset", "dataset %lld is %s%s", n, state,
			       strcmp(state, "ingesting") == 0 ?
			       ": wait for GET /api/v1/datasets/{id}?wait=60 to say ready" :
			       "; it has no images (see its error), upload the archive again");
	} else if (s == SQLITE_ROW) {
		snprintf(set_sha, BLOB_HEX_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
		if (images)
			*images = sqlite3_column_int64(st, 2);
	} else if (s == SQLITE_DONE) {
		rc = kiln_errf(err, KILN_ENOTFOUND, "dataset", "no dataset with id %lld", n);
	} else {
		rc = db_fail(c, err, "cannot read the dataset");
	}
	sqlite3_finalize(st);
	return rc;
}

/* The dataset's image hashes in set order; *out is a new array of new
 * strings, freed with free_list(). */
static int dataset_images(struct jobsys *js, const char *id, char ***out, size_t *n,
			  struct kiln_err *err)
{
	long long ds;
	*out = NULL;
	*n = 0;
	if (parse_id(id, &ds) != 0)
		return kiln_errf(err, KILN_ENOTFOUND, "dataset", "no dataset with id '%.40s'", id);
	sqlite3 *c = db_conn(js->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT sha256 FROM dataset_images WHERE dataset = ?"
					   " ORDER BY position", -1, &st, NULL) != SQLITE_OK)
		return db_fail(c, err, "cannot read the dataset's images");
	sqlite3_bind_int64(st, 1, ds);
	size_t cap = 0;
	int rc = 0, s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nv = realloc(*out, nc * sizeof(char *));
			if (nv == NULL) {
				rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
				break;
			}
			*out = nv;
			cap = nc;
		}
		char *v = strdup((const char *)sqlite3_column_text(st, 0));
		if (v == NULL) {
			rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
			break;
		}
		(*out)[(*n)++] = v;
	}
	if (rc == 0 && s != SQLITE_DONE)
		rc = db_fail(c, err, "cannot read the dataset's images");
	sqlite3_finalize(st);
	if (rc == 0 && *n == 0)
		rc = kiln_errf(err, KILN_ENOTFOUND, "dataset", "dataset %lld has no images", ds);
	return rc;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* 1 when name names the archive entry: the whole entry, its last part, or
 * that part without its extension. */
static int entry_matches(const char *entry, const char *name)
{
	if (strcmp(entry, name) == 0)
		return 1;
	const char *base = strrchr(entry, '/');
	base = base ? base + 1 : entry;
	if (strcmp(base, name) == 0)
		return 1;
	const char *dot = strrchr(base, '.');
	size_t stem = dot ? (size_t)(dot - base) : strlen(base);
	return strlen(name) == stem && strncmp(base, name, stem) == 0;
}

int jobsys_test_image(struct jobsys *js, const char *dataset, const char *name,
		      char sha[BLOB_HEX_LEN + 1], struct kiln_err *err)
{
	long long ds;
	if (parse_id(dataset, &ds) != 0)
		return kiln_errf(err, KILN_ENOTFOUND, "dataset", "no dataset with id '%.40s'",
				 dataset);
	sqlite3 *c = db_conn(js->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT sha256, entry FROM dataset_images"
					   " WHERE dataset = ? ORDER BY position", -1, &st,
					   NULL) != SQLITE_OK)
		return db_fail(c, err, "cannot read the dataset's images");
	sqlite3_bind_int64(st, 1, ds);
	int found = 0;
	while (!found && sqlite3_step(st) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 0);
		const char *e = (const char *)sqlite3_column_text(st, 1);
		if (strcmp(h, name) == 0 || entry_matches(e, name)) {
			snprintf(sha, BLOB_HEX_LEN + 1, "%s", h);
			found = 1;
		}
	}
	sqlite3_finalize(st);
	/* 400, not 404: the request's field is wrong, no path names a missing
	 * record (issue 16: "400 naming the field"). */
	if (!found)
		return kiln_errf(err, KILN_EINVAL, "test_image",
				 "test_image '%.64s' is not an image of dataset %lld: give an image's "
				 "sha256 or its file name from the archive", name, ds);
	return 0;
}

/* The calibration image the job compares on: the first one the job's
 * calibration sample holds (calib_first_pick), so the default is stable and
 * is an image the model was calibrated with. */
static int default_test_image(struct jobsys *js, const char *dataset, int count,
			      char sha[BLOB_HEX_LEN + 1], char *entry, size_t cap,
			      struct kiln_err *err)
{
	char **shas = NULL;
	size_t n = 0;
	int rc = dataset_images(js, dataset, &shas, &n, err);
	if (rc != 0)
		return rc;
	size_t at = calib_first_pick(n, count > 0 ? (size_t)count : 0, CONVERT_CALIB_SEED);
	snprintf(sha, BLOB_HEX_LEN + 1, "%s", shas[at]);
	free_list(shas, n);
	long long ds;
	sqlite3 *c = db_conn(js->db);
	sqlite3_stmt *st = NULL;
	entry[0] = '\0';
	if (parse_id(dataset, &ds) != 0 || c == NULL ||
	    sqlite3_prepare_v2(c, "SELECT entry FROM dataset_images WHERE dataset = ? AND"
			       " sha256 = ? ORDER BY position LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return db_fail(c, err, "cannot read the dataset's images");
	sqlite3_bind_int64(st, 1, ds);
	sqlite3_bind_text(st, 2, sha, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(entry, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return 0;
}

int jobsys_compared_on(struct jobsys *js, struct job_spec *s, cJSON **out, struct kiln_err *err)
{
	*out = NULL;
	/* How the toolchain compares the quantized model with the float one,
	 * and the option that turns it off: the toolchain's row. */
	const struct toolchain *tc = toolchain_find(s->t->toolchain);
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	int on = tc != NULL && tc->compare != TOOLCHAIN_COMPARE_NOTHING &&
		 (tc->compare_option == NULL || spec_opt_bool(s, tc->compare_option));
	if (!on) {
		cJSON_AddStringToObject(o, "source", "none");
		cJSON_AddStringToObject(o, "why", tc && tc->no_compare_why ? tc->no_compare_why
					: "this toolchain prints no comparison");
	} else if (tc->compare == TOOLCHAIN_COMPARE_CALIBRATION) {
		cJSON_AddStringToObject(o, "source", "calibration");
		cJSON_AddNullToObject(o, "entry");
		cJSON_AddStringToObject(o, "why", tc->compare_why ? tc->compare_why
					: "the tool compares on the calibration images");
	} else if (s->test_image[0]) {
		cJSON_AddStringToObject(o, "source", "test_image");
		cJSON_AddStringToObject(o, "entry", s->test_image);
	} else if (s->dataset[0]) {
		char sha[BLOB_HEX_LEN + 1], entry[1024];
		int rc = default_test_image(js, s->dataset, s->calib_count, sha, entry,
					    sizeof(entry), err);
		if (rc != 0) {
			cJSON_Delete(o);
			return rc;
		}
		/* by hash: an archive entry may hold a '/', which a test_image
		 * id may not */
		snprintf(s->test_image, sizeof(s->test_image), "%s", sha);
		cJSON_AddStringToObject(o, "source", "calibration");
		cJSON_AddStringToObject(o, "entry", entry);
		cJSON_AddStringToObject(o, "sha256", sha);
	} else {
		cJSON_AddStringToObject(o, "source", "none");
		cJSON_AddStringToObject(o, "why", "the job has no calibration set to take a test "
					"image from");
	}
	*out = o;
	return 0;
}

void jobsys_forget(struct jobsys *js, const char *model, const char *dataset)
{
	if (js == NULL || js->retention == NULL)
		return; /* a test's app without the job system: no workspaces */
	int n = retention_forget(js->retention, model, dataset);
	if (n > 0)
		fprintf(stderr, "level=info %s=%s msg=\"deleted: removed its jobs' workspaces\" "
			"workspaces_removed=%d\n", model ? "model" : "dataset", model ? model : dataset,
			n);
}

/* --- toolchain probes ------------------------------------------------------------ */

int jobsys_status(struct jobsys *js, const char *toolchain, int max_age_s,
		  struct engine_status *st)
{
	const struct engine_conf *ec = jobsys_engine(js, toolchain);
	if (ec == NULL)
		return KILN_ENOTFOUND;
	size_t i = (size_t)(ec - js->ec);
	time_t now = time(NULL);
	pthread_mutex_lock(&js->probe_lock);
	struct probe_cache pc = js->probes[i];
	pthread_mutex_unlock(&js->probe_lock);
	if (pc.have && max_age_s > 0 && now - pc.at < max_age_s) {
		*st = pc.st;
		return pc.rc;
	}
	/* Outside the lock: a probe spawns `<engine> version` and `image
	 * inspect` (seconds when a daemon is slow).  Two callers probing at
	 * once is harmless; the later answer wins. */
	int rc = engine_probe(ec, PROBE_TIMEOUT_MS, st);
	pthread_mutex_lock(&js->probe_lock);
	js->probes[i].st = *st;
	js->probes[i].rc = rc;
	js->probes[i].have = 1;
	js->probes[i].at = time(NULL);
	pthread_mutex_unlock(&js->probe_lock);
	return rc;
}

cJSON *jobsys_toolchains_json(struct jobsys *js, int max_age_s)
{
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; arr && i < TOOLCHAIN_COUNT; i++) {
		struct engine_status st;
		jobsys_status(js, js->ec[i].toolchain, max_age_s, &st);
		cJSON *o = engine_status_json(&st);
		if (o)
			cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* Start-up: probe every toolchain once, in the background so a slow engine
 * does not delay listening, and tell the operator what is missing. */
static void *probe_all(void *arg)
{
	struct jobsys *js = arg;
	for (int i = 0; i < TOOLCHAIN_COUNT; i++) {
		struct engine_status st;
		if (jobsys_status(js, js->ec[i].toolchain, 0, &st) == 0)
			fprintf(stderr, "level=info toolchain=%s engine=%s msg=\"ready\"%s\n",
				st.toolchain, st.engine,
				st.simulated ? " simulated=true" : "");
		else
			fprintf(stderr, "level=warn toolchain=%s engine=%s msg=\"not ready: %s\" "
				"fix=\"%s\"\n", st.toolchain, st.engine, st.message, st.fix);
	}
	return NULL;
}

/* --- the worker hooks ------------------------------------------------------------- */

/* The hooks find a job's inputs in kilnd's tables and blob store and hand
 * them, as paths, to the conversion library (conversion/convert.h); each
 * hook parses the stored spec once (convert_job_open). */

static int open_job(struct jobsys *js, const struct jobs_claim *job, struct convert_job **cj,
		    char model_sha[BLOB_HEX_LEN + 1], struct kiln_err *err)
{
	cJSON *insp = NULL;
	*cj = NULL;
	int rc = jobsys_model(js, job->model, model_sha, &insp, err);
	if (rc != 0)
		return rc;
	return convert_job_open(job->spec_json, strlen(job->spec_json), insp, cj, err);
}

/* Inputs, then (when the job has no stored plan) the plan, from one
 * reading of the spec. */
static int prepare(void *arg, const struct jobs_claim *job, const char *ws, struct plan **plan,
		   struct kiln_err *err)
{
	struct jobsys *js = arg;
	struct convert_job *cj = NULL;
	char model_sha[BLOB_HEX_LEN + 1], model_path[4200], test_path[4200];
	char **shas = NULL;
	size_t n = 0;
	int rc = open_job(js, job, &cj, model_sha, err);
	if (rc == 0)
		rc = blob_path(js->bs, model_sha, model_path, sizeof(model_path), err);
	struct convert_inputs in = {.model_path = model_path, .bs = js->bs};
	if (rc == 0 && job->dataset != NULL) {
		rc = dataset_images(js, job->dataset, &shas, &n, err);
		in.images = (const char *const *)shas;
		in.n_images = n;
	}
	if (rc == 0 && job->dataset != NULL && cj->spec->test_image[0]) {
		char sha[BLOB_HEX_LEN + 1];
		if ((rc = jobsys_test_image(js, job->dataset, cj->spec->test_image, sha, err)) == 0 &&
		    (rc = blob_path(js->bs, sha, test_path, sizeof(test_path), err)) == 0)
			in.test_image_path = test_path;
	}
	if (rc == 0)
		rc = convert_prepare(cj, &in, ws, err);
	if (rc == 0 && plan != NULL && convert_plan(cj, ws, plan, err) != 0)
		rc = WORKER_EPLAN;
	free_list(shas, n);
	convert_job_close(cj);
	return rc;
}

/* Inserts the bundle row and one bundle_files row per file (each file
 * stored as a blob); *id gets the bundle's id.  Called with blobrefs held. */
static int store_bundle(struct jobsys *js, const struct jobs_claim *job,
			const struct job_spec *s, const char *dir, const char *tgz,
			uint64_t size, int simulated, long long *id, struct kiln_err *err)
{
	char path[2 * PATH_MAX];
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return kiln_errf(err, KILN_EIO, "", "cannot read %s: %s", path, strerror(errno));
	static const size_t max = 4u << 20;  /* a manifest lists <= 1024 files */
	char *text = malloc(max + 1);
	size_t len = text ? fread(text, 1, max, f) : 0;
	fclose(f);
	if (text == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	text[len] = '\0';
	cJSON *man = cJSON_Parse(text);
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(man, "files");
	if (!cJSON_IsArray(files)) {
		cJSON_Delete(man);
		free(text);
		return kiln_errf(err, KILN_EINTERNAL, "", "manifest.json has no file list");
	}
	sqlite3 *c = db_conn(js->db);
	sqlite3_stmt *st = NULL;
	char now[32];
	db_now(now, sizeof(now));
	int rc = 0;
	if (c == NULL || sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(c, err, "cannot store the bundle");
		goto out;
	}
	if (sqlite3_prepare_v2(c, "INSERT INTO bundles(job, name, target, sha256, size, manifest,"
			       " simulated, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", -1, &st,
			       NULL) != SQLITE_OK) {
		rc = db_fail(c, err, "cannot store the bundle");
		goto rollback;
	}
	sqlite3_bind_int64(st, 1, job->id);
	sqlite3_bind_text(st, 2, s->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, s->target, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, tgz, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)size);
	sqlite3_bind_text(st, 6, text, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 7, simulated);
	sqlite3_bind_text(st, 8, now, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(c, err, "cannot store the bundle");
		goto rollback;
	}
	sqlite3_finalize(st);
	st = NULL;
	*id = sqlite3_last_insert_rowid(c);
	if (sqlite3_prepare_v2(c, "INSERT INTO bundle_files(bundle, name, sha256, size)"
			       " VALUES (?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(c, err, "cannot store the bundle's files");
		goto rollback;
	}
	/* Every listed file, then manifest.json itself (the manifest does not
	 * list itself, but it is in the archive and worth serving alone). */
	const cJSON *it = files->child;
	for (int last = 0; !last;) {
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
			goto rollback;
		}
		char hex[BLOB_HEX_LEN + 1];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (stat(path, &sb) != 0) {
			rc = kiln_errf(err, KILN_EIO, "", "cannot read %s: %s", path, strerror(errno));
			goto rollback;
		}
		if ((rc = blob_put_file(js->bs, path, hex, err)) != 0)
			goto rollback;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, hex, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)sb.st_size);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = db_fail(c, err, "cannot store the bundle's files");
			goto rollback;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(c, err, "cannot store the bundle");
		goto rollback;
	}
	goto out;
rollback:
	sqlite3_finalize(st);
	st = NULL;
	sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
out:
	cJSON_Delete(man);
	free(text);
	return rc;
}

static int finisher(void *arg, const struct jobs_claim *job, const struct plan *plan,
		    const char *ws, const cJSON *figures, char *bundle, size_t cap,
		    struct kiln_err *err)
{
	struct jobsys *js = arg;
	struct convert_job *cj = NULL;
	struct plan *replanned = NULL;
	char dir[PATH_MAX] = "", set_sha[BLOB_HEX_LEN + 1] = "", image[1100], now[32];
	char model_sha[BLOB_HEX_LEN + 1];
	int rc = open_job(js, job, &cj, model_sha, err);
	if (rc != 0)
		goto out;
	/* A plan stored by a kilnd from before plans carried their bundle list
	 * (a job requeued across the upgrade) is planned again, once. */
	if (plan->n_bundle == 0 && plan->recipe[0] == '\0') {
		if ((rc = convert_plan(cj, ws, &replanned, err)) != 0)
			goto out;
		plan = replanned;
	}
	/* The bundle is staged beside the workspace (<job dir>/bundle), so a
	 * tool's leftovers never end up in it. */
	snprintf(dir, sizeof(dir), "%s", ws);
	char *slash = strrchr(dir, '/');
	if (slash == NULL) {
		rc = kiln_errf(err, KILN_EINTERNAL, "", "workspace path %s has no parent", ws);
		dir[0] = '\0';
		goto out;
	}
	snprintf(slash, sizeof(dir) - (size_t)(slash - dir), "/bundle");
	if (job->dataset && (rc = jobsys_dataset(js, job->dataset, set_sha, NULL, err)) != 0)
		goto out;
	const struct engine_conf *ec = jobsys_engine(js, cj->spec->t->toolchain);
	if (ec == NULL) {
		rc = kiln_errf(err, KILN_EINTERNAL, "", "no settings for toolchain %s",
			       cj->spec->t->toolchain);
		goto out;
	}
	jobsys_image_id(ec, image, sizeof(image));
	db_now(now, sizeof(now));
	struct bundle_info info = {
		.created = now,
		.job = job->id,
		.model_sha256 = model_sha,
		.dataset_sha256 = set_sha[0] ? set_sha : NULL,
		.toolchain_image = image,
	};
	if ((rc = convert_finish(cj, plan, ws, dir, figures, &info, err)) != 0)
		goto out;
	char tgz[BLOB_HEX_LEN + 1];
	uint64_t size = 0;
	long long id = 0;
	/* Held from the first blob to the last row: a delete running at the
	 * same time must not remove a blob these rows are about to name. */
	blobrefs_lock();
	rc = bundle_pack(dir, js->bs, tgz, &size, err);
	if (rc == 0)
		rc = store_bundle(js, job, cj->spec, dir, tgz, size, info.simulated, &id, err);
	blobrefs_unlock();
	if (rc == 0)
		snprintf(bundle, cap, "%lld", id);
out:
	/* Packed and stored as blobs (or failed): the staged copy is not
	 * needed either way, and the workspace still has what made it. */
	if (dir[0] && fs_rm_rf(dir) != 0)
		fprintf(stderr, "level=warn job=%lld msg=\"cannot remove %s: %s\"\n",
			(long long)job->id, dir, strerror(errno));
	plan_free(replanned);
	convert_job_close(cj);
	return rc;
}

/* --- start and stop ----------------------------------------------------------------- */

int jobsys_start(const struct kiln_config *cfg, struct db *db, struct blob_store *bs,
		 struct jobsys **out, struct kiln_err *err)
{
	*out = NULL;
	struct jobsys *js = calloc(1, sizeof(*js));
	if (js == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	js->cfg = cfg;
	js->db = db;
	js->bs = bs;
	pthread_mutex_init(&js->probe_lock, NULL);
	for (int i = 0; i < TOOLCHAIN_COUNT; i++) {
		struct engine_conf *e = &js->ec[i];
		const struct config_toolchain *t = &cfg->toolchains[i];
		snprintf(e->toolchain, sizeof(e->toolchain), "%s", config_toolchain_ids[i]);
		snprintf(e->engine, sizeof(e->engine), "%s", t->engine);
		snprintf(e->image, sizeof(e->image), "%s", t->image);
		snprintf(e->engine_args, sizeof(e->engine_args), "%s", t->engine_args);
		snprintf(e->path, sizeof(e->path), "%s", t->path);
		snprintf(e->node_engine, sizeof(e->node_engine), "%s", t->node_engine);
		snprintf(e->partition, sizeof(e->partition), "%s", t->partition);
		e->cpus = t->cpus;
		snprintf(e->mem, sizeof(e->mem), "%s", t->mem);
		snprintf(e->time, sizeof(e->time), "%s", t->time);
		snprintf(e->sbatch_args, sizeof(e->sbatch_args), "%s", t->sbatch_args);
		int rc = engine_conf_check(e, err);
		if (rc != 0) {
			char msg[sizeof(err->msg)];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			kiln_errf(err, rc, "toolchain", "[toolchain.%s]: %s", e->toolchain, msg);
			jobsys_stop(js);
			return rc;
		}
	}
	int rc = events_new(NULL, &js->ev, err);
	struct jobs_conf jc = {
		.max_attempts = cfg->max_attempts,
		.max_queued_per_owner = cfg->max_queued_per_token,
	};
	if (rc == 0)
		rc = jobs_open(db, js->ev, &jc, &js->jobs, err);
	if (rc == 0)
		rc = retention_start(cfg, db, bs, js->jobs, &js->retention, err);
	struct worker_conf wc = {
		.data_dir = cfg->data_dir,
		.workers = cfg->workers,
		.engines = js->ec,
		.n_engines = TOOLCHAIN_COUNT,
		.preparer = prepare, .preparer_arg = js,
		.finisher = finisher, .finisher_arg = js,
		.remove_succeeded_workspace = 1,
		.remove_failed_workspace = cfg->failed_workspace_hours == 0,
	};
	if (rc == 0)
		rc = worker_start(js->jobs, &wc, &js->pool, err);
	if (rc != 0) {
		jobsys_stop(js);
		return rc;
	}
	js->probe_started = pthread_create(&js->probe_thread, NULL, probe_all, js) == 0;
	*out = js;
	return 0;
}

void jobsys_stop(struct jobsys *js)
{
	if (js == NULL)
		return;
	if (js->probe_started)
		pthread_join(js->probe_thread, NULL);
	worker_stop(js->pool);
	retention_stop(js->retention);
	jobs_close(js->jobs);
	events_free(js->ev);
	pthread_mutex_destroy(&js->probe_lock);
	free(js);
}
