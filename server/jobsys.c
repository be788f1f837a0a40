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
#include "runtime/bundles.h"
#include "runtime/datasets.h"
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

/* A job's model by its id text (models_source). */
static int model_by_text(struct db *db, const char *id, char sha[BLOB_HEX_LEN + 1],
			 cJSON **insp, struct kiln_err *err)
{
	long long n;
	if (insp)
		*insp = NULL;
	if (db_parse_id(id, &n) != 0)
		return kiln_errf(err, KILN_ENOTFOUND, "model", "no model with id '%.40s'", id);
	return models_source(db, n, "model", sha, insp, err);
}

int jobsys_model(struct jobsys *js, const char *id, char sha[BLOB_HEX_LEN + 1], cJSON **insp,
		 struct kiln_err *err)
{
	return model_by_text(js->db, id, sha, insp, err);
}

int jobsys_sources_live(void *db, const char *model, const char *dataset,
			struct kiln_err *err)
{
	char sha[BLOB_HEX_LEN + 1];
	int rc = model_by_text(db, model, NULL, NULL, err);
	if (rc == 0 && dataset)
		rc = datasets_source(db, dataset, sha, NULL, err);
	return rc;
}

/* The datasets store (runtime/datasets.h) names a set by the spec's id text. */
/* The calibration image the job compares on: the first one the job's
 * calibration sample holds (calib_first_pick), so the default is stable and
 * is an image the model was calibrated with. */
static int default_test_image(struct jobsys *js, const char *dataset, int count,
			      char sha[BLOB_HEX_LEN + 1], char *entry, size_t cap,
			      struct kiln_err *err)
{
	char **shas = NULL;
	size_t n = 0;
	int rc = datasets_image_shas(js->db, dataset, &shas, &n, err);
	if (rc != 0)
		return rc;
	size_t at = calib_first_pick(n, count > 0 ? (size_t)count : 0, CONVERT_CALIB_SEED);
	snprintf(sha, BLOB_HEX_LEN + 1, "%s", shas[at]);
	datasets_free_shas(shas, n);
	datasets_image_entry(js->db, dataset, sha, entry, cap);
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
		rc = datasets_image_shas(js->db, job->dataset, &shas, &n, err);
		in.images = (const char *const *)shas;
		in.n_images = n;
	}
	if (rc == 0 && job->dataset != NULL && cj->spec->test_image[0]) {
		char sha[BLOB_HEX_LEN + 1];
		if ((rc = datasets_find_image(js->db, job->dataset, cj->spec->test_image, sha, err)) == 0 &&
		    (rc = blob_path(js->bs, sha, test_path, sizeof(test_path), err)) == 0)
			in.test_image_path = test_path;
	}
	if (rc == 0)
		rc = convert_prepare(cj, &in, ws, err);
	if (rc == 0 && plan != NULL && convert_plan(cj, ws, plan, err) != 0)
		rc = WORKER_EPLAN;
	datasets_free_shas(shas, n);
	convert_job_close(cj);
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
	if (job->dataset && (rc = datasets_source(js->db, job->dataset, set_sha, NULL, err)) != 0)
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
	struct bundle_row row = {
		.job = job->id, .name = cj->spec->name, .target = cj->spec->target,
		.sha256 = tgz, .size = size, .simulated = info.simulated,
	};
	if (rc == 0)
		rc = bundles_insert(js->db, js->bs, &row, dir, &id, err);
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
		snprintf(e->toolchain, sizeof(e->toolchain), "%s", config_toolchain_id(i));
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
		/* a model or set deleted since the route read it is refused
		 * where the job is queued, not left to fail its first step */
		.check_sources = jobsys_sources_live, .check_arg = db,
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
