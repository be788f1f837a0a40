/*
 * test_delete_race: deleting a model or a dataset while a job that names
 * it is being submitted (runtime/models.c, runtime/datasets.c: one write
 * transaction from the check for queued jobs to the delete; runtime/jobs.c
 * with server/jobsys.c's jobsys_sources_live: the submit asks for its
 * model and dataset again in the transaction that queues the job).
 *
 * The stores on a real sqlite file with the real migrations, no workers:
 * a queued job stays queued.  Each race is laid out step by step, never
 * by timing: the submit's read of the model before the delete is the
 * route's call done first; the submit that lands between the delete's
 * check and its delete runs on a second thread, started from sqlite's
 * statement trace on the delete's own connection as its DELETE (or
 * UPDATE) begins, with a busy timeout of 0 so it answers at once instead
 * of waiting for the delete's lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt.h"
#include "runtime/datasets.h"
#include "runtime/db.h"
#include "runtime/embed.h"
#include "runtime/jobs.h"
#include "runtime/models.h"
#include "server/jobsys.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct env {
	struct db *db;
	struct jobs *jobs;
	long long model, dataset;
};

/* A store with one live model and one ready (empty) dataset; the job
 * store asks for both as kilnd's does (jobsys_sources_live). */
static int env_open(struct env *e)
{
	memset(e, 0, sizeof(*e));
	char path[600];
	snprintf(path, sizeof(path), "%s/kiln.db", kt_tmpdir());
	struct kiln_err err = {0};
	if (!CHECKF(db_open(path, &e->db, &err) == 0, "%s", err.msg) ||
	    !CHECKF(db_migrate(e->db, migrations, &err) == 0, "%s", err.msg))
		return -1;
	struct jobs_conf jc = {.check_sources = jobsys_sources_live, .check_arg = e->db};
	if (!CHECKF(jobs_open(e->db, NULL, &jc, &e->jobs, &err) == 0, "%s", err.msg))
		return -1;
	struct model_row m = {.name = "m", .sha = SHA_A, .size = 1, .inspection = "{}"};
	cJSON *json = NULL;
	int inserted = 0;
	if (!CHECKF(models_insert(e->db, &m, &json, &inserted, &err) == 0, "%s", err.msg))
		return -1;
	e->model = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(json, "id"));
	cJSON_Delete(json);
	json = NULL;
	if (!CHECKF(datasets_create(e->db, "d", 1, &e->dataset, &json, &err) == 0, "%s", err.msg))
		return -1;
	cJSON_Delete(json);
	if (!CHECKF(datasets_set_ready(e->db, e->dataset, SHA_B, SHA_B, NULL, 0, "{}", &err) == 0,
		    "%s", err.msg))
		return -1;
	return 0;
}

static void env_close(struct env *e)
{
	jobs_close(e->jobs);
	db_close(e->db);
}

/* jobs_submit of a job on the env's model and dataset (dataset 0: none);
 * its status, *id the job. */
static int submit(struct env *e, long long dataset, int64_t *id, struct kiln_err *err)
{
	char m[32], d[32];
	snprintf(m, sizeof(m), "%lld", e->model);
	snprintf(d, sizeof(d), "%lld", dataset);
	cJSON *spec = cJSON_CreateObject();
	struct jobs_new n = {.model = m, .dataset = dataset ? d : NULL, .target = "maixcam",
			     .spec = spec};
	*id = 0;
	int rc = jobs_submit(e->jobs, &n, id, NULL, err);
	cJSON_Delete(spec);
	return rc;
}

/* The ids of the queued or running jobs on the model (what = JOBS_USES_MODEL)
 * or the dataset, as jobs_active_using says them; "" when none. */
static const char *active(struct env *e, enum jobs_uses what)
{
	static char ids[200];
	CHECK(jobs_active_using(e->db, what, what == JOBS_USES_MODEL ? e->model : e->dataset,
				ids, sizeof(ids)) == 0);
	return ids;
}

/* What the routes answer 409 and 204 on. */
static void deletes__a_queued_job_holds_its_model_and_dataset_until_it_is_cancelled(void)
{
	struct env e;
	if (env_open(&e) != 0)
		return;
	struct kiln_err err = {0};
	int64_t id;
	int kept = -1;
	if (!CHECKF(submit(&e, e.dataset, &id, &err) == 0, "%s", err.msg))
		goto out;
	char want[32];
	snprintf(want, sizeof(want), "job %lld,", (long long)id);
	CHECK_INT(models_delete(e.db, e.model, &kept, &err), KILN_ECONFLICT);
	CHECKF(strstr(err.msg, want) != NULL, "%s", err.msg);
	snprintf(want, sizeof(want), "(%lld)", (long long)id);
	CHECK_INT(datasets_delete(e.db, e.dataset, &err), KILN_ECONFLICT);
	CHECKF(strstr(err.msg, want) != NULL, "%s", err.msg);
	/* the refusals changed nothing, and left no transaction open */
	char sha[BLOB_HEX_LEN + 1];
	CHECKF(models_source(e.db, e.model, "model", sha, NULL, &err) == 0, "%s", err.msg);
	CHECKF(sqlite3_get_autocommit(db_conn(e.db)), "a transaction was left open");
	CHECKF(jobs_cancel(e.jobs, id, &err) == 0, "%s", err.msg);
	CHECKF(models_delete(e.db, e.model, &kept, &err) == 0, "%s", err.msg);
	CHECK_INT(kept, 1);  /* the cancelled job names it: a tombstone */
	CHECKF(datasets_delete(e.db, e.dataset, &err) == 0, "%s", err.msg);
	CHECKF(sqlite3_get_autocommit(db_conn(e.db)), "a transaction was left open");
out:
	env_close(&e);
}

/* The route reads the model and the dataset (jobsys_model,
 * datasets_source), checks the spec against them, then queues the job: a
 * delete that commits in between leaves the job nothing to build from. */
static void deletes__a_submit_that_read_its_model_before_the_delete_is_refused(void)
{
	struct env e;
	if (env_open(&e) != 0)
		return;
	struct kiln_err err = {0};
	char sha[BLOB_HEX_LEN + 1], id_text[32];
	int64_t id;
	int kept = -1;
	snprintf(id_text, sizeof(id_text), "%lld", e.dataset);
	/* the route's reads, then the delete, then the route's submit */
	CHECKF(models_source(e.db, e.model, "model", sha, NULL, &err) == 0, "%s", err.msg);
	CHECKF(datasets_source(e.db, id_text, sha, NULL, &err) == 0, "%s", err.msg);
	CHECKF(models_delete(e.db, e.model, &kept, &err) == 0, "%s", err.msg);
	CHECK_INT(kept, 0);
	CHECK_INT(submit(&e, e.dataset, &id, &err), KILN_ENOTFOUND);
	CHECK_STR(err.field, "model");
	CHECK_STR(active(&e, JOBS_USES_MODEL), "");
	env_close(&e);

	/* a model jobs used stays as a tombstone: 409 in words, as for a
	 * submit that names a deleted model from the start */
	if (env_open(&e) != 0)
		return;
	if (!CHECKF(submit(&e, 0, &id, &err) == 0, "%s", err.msg) ||
	    !CHECKF(jobs_cancel(e.jobs, id, &err) == 0, "%s", err.msg))
		goto out;
	CHECKF(models_source(e.db, e.model, "model", sha, NULL, &err) == 0, "%s", err.msg);
	CHECKF(models_delete(e.db, e.model, &kept, &err) == 0, "%s", err.msg);
	CHECK_INT(kept, 1);
	CHECK_INT(submit(&e, 0, &id, &err), KILN_ECONFLICT);
	CHECKF(strstr(err.msg, "was deleted on") != NULL, "%s", err.msg);
	CHECK_STR(active(&e, JOBS_USES_MODEL), "");
	/* and the same for a dataset */
	kiln_err_clear(&err);
	snprintf(id_text, sizeof(id_text), "%lld", e.dataset);
	CHECKF(datasets_source(e.db, id_text, sha, NULL, &err) == 0, "%s", err.msg);
	CHECKF(datasets_delete(e.db, e.dataset, &err) == 0, "%s", err.msg);
	e.model = 0;
	struct model_row m = {.name = "m2", .sha = SHA_B, .size = 1, .inspection = "{}"};
	cJSON *json = NULL;
	int inserted;
	CHECKF(models_insert(e.db, &m, &json, &inserted, &err) == 0, "%s", err.msg);
	e.model = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(json, "id"));
	cJSON_Delete(json);
	CHECK_INT(submit(&e, e.dataset, &id, &err), KILN_ENOTFOUND);
	CHECK_STR(err.field, "dataset");
	CHECK_STR(active(&e, JOBS_USES_DATASET), "");
out:
	env_close(&e);
}

/* A retry builds from the model and dataset again: refused in the
 * transaction that would queue it, once either is gone. */
static void deletes__a_retry_after_the_model_or_dataset_went_is_refused(void)
{
	struct env e;
	if (env_open(&e) != 0)
		return;
	struct kiln_err err = {0};
	int64_t a, b;
	int kept;
	if (!CHECKF(submit(&e, e.dataset, &a, &err) == 0, "%s", err.msg) ||
	    !CHECKF(jobs_cancel(e.jobs, a, &err) == 0, "%s", err.msg))
		goto out;
	CHECKF(datasets_delete(e.db, e.dataset, &err) == 0, "%s", err.msg);
	CHECK_INT(jobs_retry(e.jobs, a, &err), KILN_ENOTFOUND);
	CHECK_STR(err.field, "dataset");
	if (!CHECKF(submit(&e, 0, &b, &err) == 0, "%s", err.msg) ||
	    !CHECKF(jobs_cancel(e.jobs, b, &err) == 0, "%s", err.msg))
		goto out;
	CHECKF(models_delete(e.db, e.model, &kept, &err) == 0, "%s", err.msg);
	CHECK_INT(jobs_retry(e.jobs, b, &err), KILN_ECONFLICT);
	CHECKF(strstr(err.msg, "was deleted on") != NULL, "%s", err.msg);
	char state[16];
	CHECKF(jobs_state(e.jobs, b, state, sizeof(state), &err) == 0, "%s", err.msg);
	CHECK_STR(state, "cancelled");
	CHECK_STR(active(&e, JOBS_USES_MODEL), "");
out:
	env_close(&e);
}

/* --- a submit between the delete's check and its delete ---------------------- */

/* The second thread: opens its connection, makes it answer SQLITE_BUSY at
 * once (the delete holds the write lock when the fix is in, and waiting
 * for it from inside the delete would wait for ever), then submits when
 * told to. */
struct racer {
	struct env *e;
	long long dataset;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ready, go, done, fired;
	int rc;
	int64_t id;
	const char *stmt;            /* the delete's statement the trace waits for */
	struct kiln_err err;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	sqlite3 *c = db_conn(r->e->db);
	if (c)
		sqlite3_busy_timeout(c, 0);
	pthread_mutex_lock(&r->mu);
	r->ready = 1;
	pthread_cond_broadcast(&r->cv);
	while (!r->go)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	r->rc = c ? submit(r->e, r->dataset, &r->id, &r->err) : KILN_EIO;
	pthread_mutex_lock(&r->mu);
	r->done = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* sqlite's trace of each statement the delete's connection begins: at the
 * delete itself, after every check ran, the other thread submits. */
static int on_stmt(unsigned type, void *ctx, void *p, void *x)
{
	(void)type, (void)p;
	struct racer *r = ctx;
	if (r->fired || strncmp((const char *)x, r->stmt, strlen(r->stmt)) != 0)
		return 0;
	r->fired = 1;
	pthread_mutex_lock(&r->mu);
	r->go = 1;
	pthread_cond_broadcast(&r->cv);
	while (!r->done)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

/* Deletes the model (dataset = 0) or the dataset with a submit racing in
 * at the delete statement; returns the delete's status. */
static int race(struct env *e, long long dataset, const char *stmt, struct racer *r,
		struct kiln_err *err)
{
	memset(r, 0, sizeof(*r));
	r->e = e;
	r->dataset = e->dataset;
	r->stmt = stmt;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	pthread_t t;
	if (!CHECK(pthread_create(&t, NULL, racer_main, r) == 0))
		return KILN_EINTERNAL;
	pthread_mutex_lock(&r->mu);
	while (!r->ready)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	sqlite3 *c = db_conn(e->db);
	sqlite3_trace_v2(c, SQLITE_TRACE_STMT, on_stmt, r);
	int kept, rc = dataset ? datasets_delete(e->db, dataset, err)
			       : models_delete(e->db, e->model, &kept, err);
	sqlite3_trace_v2(c, 0, NULL, NULL);
	if (!r->fired) {  /* the delete stopped before its statement: no race */
		pthread_mutex_lock(&r->mu);
		r->go = 1;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
	}
	pthread_join(t, NULL);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	return rc;
}

static void deletes__no_job_is_queued_between_the_check_and_the_delete(void)
{
	static const struct {
		const char *stmt;
		int tombstone;           /* a cancelled job names the model first */
		int dataset;
	} cases[] = {
		{"DELETE FROM models", 0, 0},
		{"UPDATE models SET deleted_at", 1, 0},
		{"DELETE FROM datasets", 0, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct env e;
		if (env_open(&e) != 0)
			return;
		struct kiln_err err = {0};
		int64_t id;
		if (cases[i].tombstone &&
		    (!CHECKF(submit(&e, 0, &id, &err) == 0, "%s", err.msg) ||
		     !CHECKF(jobs_cancel(e.jobs, id, &err) == 0, "%s", err.msg))) {
			env_close(&e);
			return;
		}
		struct racer r;
		int rc = race(&e, cases[i].dataset ? e.dataset : 0, cases[i].stmt, &r, &err);
		CHECKF(r.fired, "%s: the delete never reached its statement: %s", cases[i].stmt,
		       err.msg);
		/* Either the delete answered 409 naming the job, or the
		 * submit did not queue one: never both a 204 and a queued
		 * job with nothing to build from. */
		const char *left = active(&e, cases[i].dataset ? JOBS_USES_DATASET : JOBS_USES_MODEL);
		CHECKF(rc == KILN_ECONFLICT || (rc == 0 && left[0] == '\0'),
		       "%s: the delete answered %d (%s) and job(s) '%s' were queued on what it "
		       "deleted (the racing submit: %d %s)", cases[i].stmt, rc, err.msg, left,
		       r.rc, r.err.msg);
		/* the racing submit met the delete's lock; after its commit,
		 * the same submit is refused in words */
		if (rc == 0 && r.rc != 0) {
			CHECKF(r.rc == KILN_EUNAVAIL && strstr(r.err.msg, "locked") != NULL,
			       "%d %s", r.rc, r.err.msg);
			CHECK(submit(&e, e.dataset, &id, &err) == (cases[i].tombstone ?
								  KILN_ECONFLICT : KILN_ENOTFOUND));
		}
		env_close(&e);
	}
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"deletes__a_queued_job_holds_its_model_and_dataset_until_it_is_cancelled",
		 deletes__a_queued_job_holds_its_model_and_dataset_until_it_is_cancelled},
		{"deletes__a_submit_that_read_its_model_before_the_delete_is_refused",
		 deletes__a_submit_that_read_its_model_before_the_delete_is_refused},
		{"deletes__a_retry_after_the_model_or_dataset_went_is_refused",
		 deletes__a_retry_after_the_model_or_dataset_went_is_refused},
		{"deletes__no_job_is_queued_between_the_check_and_the_delete",
		 deletes__no_job_is_queued_between_the_check_and_the_delete},
	};
	return kt_main("test_delete_race", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
