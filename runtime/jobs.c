/*
 * jobs: the job rows, the queue and their events (see jobs.h).
 *
 * Every function uses the calling thread's connection (db_conn) and bound
 * parameters only.  A state change is one statement or one BEGIN IMMEDIATE
 * transaction, guarded by the state it expects (`WHERE state = 'running'`),
 * so a cancel racing a claim or a finish cannot leave a job in two states:
 * whichever commits first wins and the other sees zero changed rows.  The
 * event for a change is published after its commit.
 */
#include "runtime/jobs.h"

#include "runtime/results.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jobs {
	/* Serialises this process's write transactions.  sqlite would do it
	 * too, but its busy handler sleeps 1, 2, 5... ms before retrying;
	 * a mutex hands over the moment the other writer is done.  Recursive
	 * because jobs_requeue may finish the job. */
	pthread_mutex_t wlock;
	struct db *db;
	struct events *events;
	int max_attempts;
	int max_queued;              /* per owner; 0 = no limit */
	jobs_check_fn check_sources; /* jobs_conf's; NULL: none */
	void *check_arg;
	jobs_hook on_queued, on_cancel;
	void *hook_arg;
};

/* The columns job_json() reads, in its order. */
#define JOB_COLS "id, model, dataset, target, spec, state, step, step_index, " \
	"json_array_length(plan, '$.steps'), progress, attempt, error_code, error_message, " \
	"cache_key, cached_from, created_at, started_at, finished_at, bundle, figures, " \
	"cancel_requested, slurm_job, slurm_steps, group_id"

static const char *const STATES[] = {
	"queued", "running", "succeeded", "failed", "cancelled", NULL,
};

static int state_ok(const char *s)
{
	for (int i = 0; STATES[i]; i++)
		if (strcmp(s, STATES[i]) == 0)
			return 1;
	return 0;
}

static int id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > JOBS_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

/* --- sqlite helpers ------------------------------------------------------------ */

static sqlite3 *conn(struct jobs *j, struct kiln_err *err)
{
	sqlite3 *c = db_conn(j->db);
	if (c == NULL)
		kiln_errf(err, KILN_EIO, "", "no database connection (see the log)");
	return c;
}

static int prep(sqlite3 *c, const char *sql, sqlite3_stmt **st, struct kiln_err *err)
{
	if (sqlite3_prepare_v2(c, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return db_err(c, err, "database");
	}
	return 0;
}

static int db_fail(sqlite3 *c, sqlite3_stmt *st, struct kiln_err *err)
{
	int rc = db_err(c, err, "database");
	sqlite3_finalize(st);
	return rc;
}

/* Steps st to the end (rows are discarded) and finalizes it. */
static int run(sqlite3 *c, sqlite3_stmt *st, struct kiln_err *err)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		return db_fail(c, st, err);
	sqlite3_finalize(st);
	return 0;
}

/* As run, for an UPDATE ... RETURNING attempt: *attempt the job's attempt
 * when its row changed, 0 when the WHERE matched nothing. */
static int run_attempt(sqlite3 *c, sqlite3_stmt *st, int *attempt, struct kiln_err *err)
{
	int s;
	*attempt = 0;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		*attempt = sqlite3_column_int(st, 0);
	if (s != SQLITE_DONE)
		return db_fail(c, st, err);
	sqlite3_finalize(st);
	return 0;
}

static int exec_sql(sqlite3 *c, const char *sql, struct kiln_err *err)
{
	if (sqlite3_exec(c, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(c, err, "database");
	return 0;
}

static void rollback(sqlite3 *c)
{
	sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

/* --- events ----------------------------------------------------------------- */

static void publish(struct jobs *j, int64_t id, const char *type, cJSON *data)
{
	if (j->events == NULL || data == NULL) {
		cJSON_Delete(data);
		return;
	}
	char *s = cJSON_PrintUnformatted(data);
	cJSON_Delete(data);
	if (s != NULL)
		events_publish(j->events, id, type, s, NULL);
	free(s);
}

static void publish_state(struct jobs *j, int64_t id, const char *state, int attempt,
			  const char *code, const char *msg)
{
	cJSON *d = cJSON_CreateObject();
	if (d == NULL)
		return;
	cJSON_AddStringToObject(d, "state", state);
	cJSON_AddNumberToObject(d, "attempt", attempt);
	if (code != NULL) {
		cJSON *e = cJSON_AddObjectToObject(d, "error");
		if (e) {
			cJSON_AddStringToObject(e, "code", code);
			cJSON_AddStringToObject(e, "message", msg ? msg : "");
		}
	} else {
		cJSON_AddNullToObject(d, "error");
	}
	publish(j, id, "state", d);
	if (j->events && strcmp(state, "queued") != 0 && strcmp(state, "running") != 0)
		events_finish(j->events, id);
}

/* --- open ------------------------------------------------------------------- */

int jobs_open(struct db *db, struct events *events, const struct jobs_conf *conf,
	      struct jobs **out, struct kiln_err *err)
{
	struct jobs *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&j->wlock, &ma);
	pthread_mutexattr_destroy(&ma);
	j->db = db;
	j->events = events;
	j->max_attempts = conf && conf->max_attempts > 0 ? conf->max_attempts
							 : JOBS_DEFAULT_MAX_ATTEMPTS;
	j->max_queued = conf && conf->max_queued_per_owner > 0 ? conf->max_queued_per_owner : 0;
	j->check_sources = conf ? conf->check_sources : NULL;
	j->check_arg = conf ? conf->check_arg : NULL;
	*out = j;
	return 0;
}

void jobs_close(struct jobs *j)
{
	if (j == NULL)
		return;
	pthread_mutex_destroy(&j->wlock);
	free(j);
}

void jobs_set_hooks(struct jobs *j, jobs_hook on_queued, jobs_hook on_cancel, void *arg)
{
	j->on_queued = on_queued;
	j->on_cancel = on_cancel;
	j->hook_arg = arg;
}

struct events *jobs_events(struct jobs *j)
{
	return j->events;
}

/* --- reading ------------------------------------------------------------------ */

static void add_text(cJSON *o, const char *key, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	if (t)
		cJSON_AddStringToObject(o, key, (const char *)t);
	else
		cJSON_AddNullToObject(o, key);
}

static void add_int(cJSON *o, const char *key, sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddNumberToObject(o, key, (double)sqlite3_column_int64(st, i));
}

static void add_json(cJSON *o, const char *key, sqlite3_stmt *st, int i, int array)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	cJSON *v = t ? cJSON_Parse(t) : NULL;
	if (v == NULL)
		v = array ? cJSON_CreateArray() : cJSON_CreateNull();
	cJSON_AddItemToObject(o, key, v);
}

/* The API gives every id as a number (issue 17: "one shape for ids").  A
 * stored spec keeps its ids as text, as the conversion library reads them
 * (conversion/spec.c: an id may be any short name there), so the reply turns
 * an all-digit "model" or "dataset" back into the number the client sent. */
static void spec_ids_as_numbers(cJSON *spec)
{
	static const char *const keys[] = {"model", "dataset"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, keys[i]));
		if (t == NULL || t[0] == '\0' || t[0] == '0' || strlen(t) > 15 ||
		    strspn(t, "0123456789") != strlen(t))
			continue;
		cJSON_ReplaceItemInObjectCaseSensitive(spec, keys[i],
						       cJSON_CreateNumber((double)strtoll(t, NULL, 10)));
	}
}

/* A row of JOB_COLS as JSON; with_spec adds the spec. */
static cJSON *job_json(sqlite3_stmt *st, int with_spec)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	add_int(o, "id", st, 0);
	add_int(o, "model", st, 1);
	add_int(o, "dataset", st, 2);
	add_text(o, "target", st, 3);
	if (with_spec) {
		add_json(o, "spec", st, 4, 0);
		spec_ids_as_numbers(cJSON_GetObjectItemCaseSensitive(o, "spec"));
	}
	add_text(o, "state", st, 5);
	add_text(o, "step", st, 6);
	add_int(o, "step_index", st, 7);
	add_int(o, "steps", st, 8);
	cJSON_AddNumberToObject(o, "progress", sqlite3_column_double(st, 9));
	add_int(o, "attempt", st, 10);
	if (sqlite3_column_type(st, 11) == SQLITE_NULL) {
		cJSON_AddNullToObject(o, "error");
	} else {
		cJSON *e = cJSON_AddObjectToObject(o, "error");
		if (e) {
			add_text(e, "code", st, 11);
			add_text(e, "message", st, 12);
		}
	}
	add_text(o, "cache_key", st, 13);
	add_int(o, "cached_from", st, 14);
	add_text(o, "created", st, 15);
	add_text(o, "started", st, 16);
	add_text(o, "finished", st, 17);
	add_int(o, "bundle", st, 18);
	add_json(o, "figures", st, 19, 1);
	cJSON_AddBoolToObject(o, "cancel_requested", sqlite3_column_int(st, 20) != 0);
	add_int(o, "slurm_job", st, 21);
	add_json(o, "slurm_steps", st, 22, 1);
	add_int(o, "group", st, 23);
	/* One job's page: the figures as labelled rows, worst output first
	 * (results.h).  The list leaves them out: it is read far more often. */
	if (with_spec) {
		cJSON *r = results_build(cJSON_GetObjectItemCaseSensitive(o, "figures"),
					 cJSON_GetObjectItemCaseSensitive(o, "spec"));
		if (r)
			cJSON_AddItemToObject(o, "results", r);
	}
	return o;
}

/* Runs sql (one "?" for the id) and leaves *st on the job's row; a job that
 * does not exist is KILN_ENOTFOUND.  The caller finalizes *st on success. */
static int job_row(struct jobs *j, int64_t id, const char *sql, sqlite3_stmt **st,
		   struct kiln_err *err)
{
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	int rc = prep(c, sql, st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(*st, 1, id);
	int s = sqlite3_step(*st);
	if (s == SQLITE_ROW)
		return 0;
	if (s == SQLITE_DONE) {
		sqlite3_finalize(*st);
		return kiln_errf(err, KILN_ENOTFOUND, "id", "job %lld does not exist", (long long)id);
	}
	return db_fail(c, *st, err);
}

int jobs_get(struct jobs *j, int64_t id, cJSON **out, struct kiln_err *err)
{
	sqlite3_stmt *st;
	int rc = job_row(j, id, "SELECT " JOB_COLS " FROM jobs WHERE id = ?", &st, err);
	if (rc != 0)
		return rc;
	*out = job_json(st, 1);
	sqlite3_finalize(st);
	return *out ? 0 : kiln_errf(err, KILN_ENOMEM, "", "out of memory");
}

int jobs_get_plan(struct jobs *j, int64_t id, cJSON **out, struct kiln_err *err)
{
	sqlite3_stmt *st;
	int rc = job_row(j, id, "SELECT plan FROM jobs WHERE id = ?", &st, err);
	if (rc != 0)
		return rc;
	const char *t = (const char *)sqlite3_column_text(st, 0);
	*out = t ? cJSON_Parse(t) : cJSON_CreateNull();
	sqlite3_finalize(st);
	return *out ? 0 : kiln_errf(err, KILN_EIO, "", "job %lld has an unreadable plan",
				    (long long)id);
}

int jobs_state(struct jobs *j, int64_t id, char *buf, size_t cap, struct kiln_err *err)
{
	sqlite3_stmt *st;
	int rc = job_row(j, id, "SELECT state FROM jobs WHERE id = ?", &st, err);
	if (rc != 0)
		return rc;
	snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return 0;
}

int jobs_list(struct jobs *j, const char *state, int limit, int64_t after, cJSON **out,
	      struct kiln_err *err)
{
	if (state != NULL && state[0] == '\0')
		state = NULL;
	if (state != NULL && !state_ok(state))
		return kiln_errf(err, KILN_EINVAL, "state",
				 "state must be queued, running, succeeded, failed or cancelled");
	if (limit == 0)
		limit = JOBS_DEFAULT_LIMIT;
	if (limit < 1 || limit > JOBS_MAX_LIMIT)
		return kiln_errf(err, KILN_EINVAL, "limit", "limit must be 1 to %d", JOBS_MAX_LIMIT);
	if (after < 0)
		return kiln_errf(err, KILN_EINVAL, "after", "after must be a job id");
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	sqlite3_stmt *st;
	int rc = prep(c, state ? "SELECT " JOB_COLS " FROM jobs WHERE state = ?1"
				 " AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?3"
			       : "SELECT " JOB_COLS " FROM jobs WHERE (?2 = 0 OR id < ?2)"
				 " ORDER BY id DESC LIMIT ?3", &st, err);
	if (rc != 0)
		return rc;
	if (state)
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int(st, 3, limit);
	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(o, "items");
	if (items == NULL) {
		cJSON_Delete(o);
		sqlite3_finalize(st);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	int n = 0, s;
	int64_t last = 0;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		cJSON *it = job_json(st, 0);
		if (it == NULL)
			break;
		cJSON_AddItemToArray(items, it);
		last = sqlite3_column_int64(st, 0);
		n++;
	}
	if (s != SQLITE_DONE) {
		cJSON_Delete(o);
		return db_fail(c, st, err);
	}
	sqlite3_finalize(st);
	if (n == limit)
		cJSON_AddNumberToObject(o, "next", (double)last);
	else
		cJSON_AddNullToObject(o, "next");
	*out = o;
	return 0;
}

/* --- submit, cancel, retry ---------------------------------------------------------- */

/* A succeeded job with the same cache key and a bundle: its id, bundle and
 * figures (owned by the caller), or id 0. */
static int cache_lookup(sqlite3 *c, const char *key, int64_t *id, char **bundle,
			char **figures, struct kiln_err *err)
{
	*id = 0;
	sqlite3_stmt *st;
	int rc = prep(c, "SELECT id, bundle, figures FROM jobs WHERE cache_key = ?"
		      " AND state = 'succeeded' AND bundle IS NOT NULL ORDER BY id DESC LIMIT 1",
		      &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*bundle = col_dup(st, 1);
		*figures = col_dup(st, 2);
	} else if (s != SQLITE_DONE) {
		return db_fail(c, st, err);
	}
	sqlite3_finalize(st);
	return 0;
}

/* KILN_ELIMIT when owner (0: nobody) already has the most queued jobs it
 * may; called inside the transaction that would queue one more, so two
 * submits at once cannot both pass. */
static int queue_quota(struct jobs *j, sqlite3 *c, int64_t owner, struct kiln_err *err)
{
	if (owner <= 0 || j->max_queued <= 0)
		return 0;
	sqlite3_stmt *st;
	int rc = prep(c, "SELECT count(*) FROM jobs WHERE owner = ? AND state = 'queued'", &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, owner);
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_fail(c, st, err);
	long long n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (n >= j->max_queued)
		return kiln_errf(err, KILN_ELIMIT, "", "this token already has %lld queued jobs, the "
				 "most it may have ([jobs] max_queued_per_token = %d); wait for one "
				 "to start or cancel one, then submit again", n, j->max_queued);
	return 0;
}

static int submit_unlocked(struct jobs *j, const struct jobs_new *in, int64_t *id_out,
                           int *cache_hit, struct kiln_err *err)
{
	if (cache_hit)
		*cache_hit = 0;
	if (!id_ok(in->model))
		return kiln_errf(err, KILN_EINVAL, "model",
				 "model must be a stored model's id (1-%d characters of "
				 "A-Z a-z 0-9 . _ : -)", JOBS_ID_MAX);
	if (in->dataset != NULL && !id_ok(in->dataset))
		return kiln_errf(err, KILN_EINVAL, "dataset",
				 "dataset must be a stored dataset's id");
	if (!id_ok(in->target))
		return kiln_errf(err, KILN_EINVAL, "target", "target must be a target id");
	if (in->cache_key != NULL && !id_ok(in->cache_key))
		return kiln_errf(err, KILN_EINVAL, "cache_key", "cache_key has bad characters");
	if (!cJSON_IsObject(in->spec))
		return kiln_errf(err, KILN_EINVAL, "spec", "the job spec must be a JSON object");
	int rc = 0;
	if (in->plan != NULL && (rc = plan_validate(in->plan, err)) != 0)
		return rc;
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	char *spec = cJSON_PrintUnformatted(in->spec);
	char *plan = in->plan ? plan_to_string(in->plan) : NULL;
	char *bundle = NULL, *figures = NULL;
	int64_t from = 0;
	int in_txn = 0;
	sqlite3_stmt *st = NULL;
	if (spec == NULL || (in->plan && plan == NULL)) {
		rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		goto out;
	}
	if (strlen(spec) > JOBS_MAX_SPEC_BYTES) {
		rc = kiln_errf(err, KILN_ETOOBIG, "spec", "the job spec is larger than %d bytes",
			       JOBS_MAX_SPEC_BYTES);
		goto out;
	}
	/* The queued event is published inside the transaction: until COMMIT no
	 * worker can claim the row, so its "running" event cannot come first. */
	if ((rc = exec_sql(c, "BEGIN IMMEDIATE", err)) != 0)
		goto out;
	in_txn = 1;
	/* The caller read the model long before (the spec is checked against
	 * its inspection, its file is opened): a delete may have committed
	 * since.  Asked again here, under the write lock, a delete either
	 * committed before (the model is gone: refused) or waits for this
	 * commit and then sees the job. */
	if (j->check_sources &&
	    (rc = j->check_sources(j->check_arg, in->model, in->dataset, err)) != 0)
		goto out;
	if (in->cache_key != NULL &&
	    (rc = cache_lookup(c, in->cache_key, &from, &bundle, &figures, err)) != 0)
		goto out;
	if (from == 0 && (rc = queue_quota(j, c, in->owner, err)) != 0)
		goto out;
	char now[32];
	db_now(now, sizeof(now));
	rc = prep(c, "INSERT INTO jobs (model, dataset, target, spec, plan, cache_key, created_at,"
		  " state, progress, started_at, finished_at, bundle, figures, cached_from, owner)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, coalesce(?12, '[]'), ?13,"
		  " ?14)", &st, err);
	if (rc != 0)
		goto out;
	if (in->owner > 0)
		sqlite3_bind_int64(st, 14, in->owner);
	else
		sqlite3_bind_null(st, 14);
	bind_text(st, 1, in->model);
	bind_text(st, 2, in->dataset);
	bind_text(st, 3, in->target);
	bind_text(st, 4, spec);
	bind_text(st, 5, plan);
	bind_text(st, 6, in->cache_key);
	bind_text(st, 7, now);
	if (from != 0) {
		/* A cache hit is a finished job from the start: same bundle, same
		 * figures, and a pointer to the job that made them. */
		bind_text(st, 8, "succeeded");
		sqlite3_bind_double(st, 9, 1.0);
		bind_text(st, 10, now);
		bind_text(st, 11, bundle);
		bind_text(st, 12, figures);
		sqlite3_bind_int64(st, 13, from);
	} else {
		bind_text(st, 8, "queued");
		sqlite3_bind_double(st, 9, 0.0);
		sqlite3_bind_null(st, 10);
		sqlite3_bind_null(st, 11);
		sqlite3_bind_null(st, 12);
		sqlite3_bind_null(st, 13);
	}
	rc = run(c, st, err);
	if (rc != 0)
		goto out;
	int64_t id = sqlite3_last_insert_rowid(c);
	publish_state(j, id, from != 0 ? "succeeded" : "queued", 1, NULL, NULL);
	rc = exec_sql(c, "COMMIT", err);
	in_txn = 0;
	if (rc != 0) {
		rollback(c);
		goto out;
	}
	*id_out = id;
	if (from != 0) {
		if (cache_hit)
			*cache_hit = 1;
	} else if (j->on_queued) {
		j->on_queued(j->hook_arg, id);
	}
out:
	if (in_txn)
		rollback(c);
	free(spec);
	free(plan);
	free(bundle);
	free(figures);
	return rc;
}

/* Sets *changed to the rows the statement changed. */
static int run_changed(sqlite3 *c, sqlite3_stmt *st, int *changed, struct kiln_err *err)
{
	int rc = run(c, st, err);
	*changed = rc == 0 ? sqlite3_changes(c) : 0;
	return rc;
}

static int cancel_unlocked(struct jobs *j, int64_t id, struct kiln_err *err)
{
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	char now[32];
	db_now(now, sizeof(now));
	sqlite3_stmt *st;
	int rc = prep(c, "UPDATE jobs SET state = 'cancelled', finished_at = ?1,"
		      " error_code = 'cancelled', error_message = 'cancelled before it started'"
		      " WHERE id = ?2 AND state = 'queued' RETURNING attempt", &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	int attempt;
	if ((rc = run_attempt(c, st, &attempt, err)) != 0)
		return rc;
	if (attempt > 0) {
		publish_state(j, id, "cancelled", attempt, "cancelled", "cancelled before it started");
		return 0;
	}
	rc = prep(c, "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'",
		  &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int changed;
	if ((rc = run_changed(c, st, &changed, err)) != 0)
		return rc;
	if (changed) {
		/* The row says so first, so a worker that has claimed the job but
		 * not yet registered it still sees the request. */
		if (j->on_cancel)
			j->on_cancel(j->hook_arg, id);
		return 0;
	}
	char state[16];
	if ((rc = jobs_state(j, id, state, sizeof(state), err)) != 0)
		return rc;
	if (strcmp(state, "cancelled") == 0)
		return 0;
	return kiln_errf(err, KILN_ECONFLICT, "",
			 "job %lld has already %s: there is nothing to cancel", (long long)id, state);
}

static int retry_unlocked(struct jobs *j, int64_t id, struct kiln_err *err)
{
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	sqlite3_stmt *st;
	/* a transaction for the same reason as in jobs_submit: "queued" must
	 * be published before a worker can claim the row */
	int rc = exec_sql(c, "BEGIN IMMEDIATE", err);
	if (rc != 0)
		return rc;
	/* A retry queues the job again, so it counts against its owner's
	 * queue like a submit (otherwise failed jobs retried in bulk would
	 * pass the limit). */
	rc = prep(c, "SELECT owner, model, dataset FROM jobs WHERE id = ?"
		  " AND state IN ('failed', 'cancelled')", &st, err);
	if (rc != 0) {
		rollback(c);
		return rc;
	}
	sqlite3_bind_int64(st, 1, id);
	int row = sqlite3_step(st) == SQLITE_ROW;
	int64_t owner = row ? sqlite3_column_int64(st, 0) : 0;
	/* A retry builds from the model and dataset again: as a submit, they
	 * are asked for under the write lock (jobs_conf.check_sources). */
	if (row && j->check_sources)
		rc = j->check_sources(j->check_arg, (const char *)sqlite3_column_text(st, 1),
				      (const char *)sqlite3_column_text(st, 2), err);
	sqlite3_finalize(st);
	if (rc != 0 || (rc = queue_quota(j, c, owner, err)) != 0) {
		rollback(c);
		return rc;
	}
	rc = prep(c, "UPDATE jobs SET state = 'queued', attempt = attempt + 1,"
		  " attempt_base = attempt + 1, error_code = NULL, error_message = NULL,"
		  " progress = 0, step = NULL, step_index = NULL, started_at = NULL,"
		  " finished_at = NULL, bundle = NULL, figures = '[]', cancel_requested = 0,"
		  " pgid = NULL, slurm_job = NULL, resume_step = NULL"
		  " WHERE id = ? AND state IN ('failed', 'cancelled')"
		  " RETURNING attempt", &st, err);
	if (rc != 0) {
		rollback(c);
		return rc;
	}
	sqlite3_bind_int64(st, 1, id);
	int attempt;
	if ((rc = run_attempt(c, st, &attempt, err)) != 0) {
		rollback(c);
		return rc;
	}
	if (attempt > 0)
		publish_state(j, id, "queued", attempt, NULL, NULL);
	if ((rc = exec_sql(c, "COMMIT", err)) != 0) {
		rollback(c);
		return rc;
	}
	if (attempt == 0) {
		char state[16];
		if ((rc = jobs_state(j, id, state, sizeof(state), err)) != 0)
			return rc;
		return kiln_errf(err, KILN_ECONFLICT, "",
				 "job %lld is %s: only a failed or cancelled job can be retried",
				 (long long)id, state);
	}
	if (j->on_queued)
		j->on_queued(j->hook_arg, id);
	return 0;
}

/* --- recovery and the worker's side ------------------------------------------------ */

struct orphan_row {
	int64_t id;
	pid_t pgid;
	int64_t slurm_job;   /* > 0: the step is a Slurm job, re-attached if not cancelled */
	int step_index;
	int attempt, base, cancel;
	char *plan;
};

/* A Slurm step not cancelled is followed again, not run again. */
#define REATTACH(r) ((r)->slurm_job > 0 && (r)->step_index >= 0 && !(r)->cancel)

static int recover_unlocked(struct jobs *j, jobs_orphan_fn orphan, void *arg, int *requeued,
                            int *failed, struct kiln_err *err)
{
	*requeued = *failed = 0;
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	sqlite3_stmt *st;
	int rc = prep(c, "SELECT id, pgid, attempt, attempt_base, cancel_requested, plan,"
		      " slurm_job, step_index FROM jobs WHERE state = 'running' ORDER BY id", &st, err);
	if (rc != 0)
		return rc;
	struct orphan_row *rows = NULL;
	size_t n = 0, cap = 0;
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct orphan_row *nr = realloc(rows, nc * sizeof(*nr));
			if (nr == NULL)
				break;
			rows = nr;
			cap = nc;
		}
		struct orphan_row *r = &rows[n++];
		r->id = sqlite3_column_int64(st, 0);
		r->pgid = (pid_t)sqlite3_column_int64(st, 1);
		r->attempt = sqlite3_column_int(st, 2);
		r->base = sqlite3_column_int(st, 3);
		r->cancel = sqlite3_column_int(st, 4);
		r->plan = col_dup(st, 5);
		r->slurm_job = sqlite3_column_int64(st, 6);
		r->step_index = sqlite3_column_type(st, 7) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 7);
	}
	if (s != SQLITE_DONE) {
		rc = s == SQLITE_ROW ? kiln_errf(err, KILN_ENOMEM, "", "out of memory")
				     : db_err(c, err, "database");
		sqlite3_finalize(st);
		goto out;
	}
	sqlite3_finalize(st);
	/* Before any row changes: a process the old kilnd left must be gone
	 * before the job can run again in the same workspace. */
	for (size_t i = 0; orphan && i < n; i++)
		rows[i].slurm_job = orphan(arg, rows[i].id, rows[i].pgid, rows[i].slurm_job,
					   rows[i].step_index, rows[i].cancel, rows[i].plan);
	if ((rc = exec_sql(c, "BEGIN IMMEDIATE", err)) != 0)
		goto out;
	char now[32];
	db_now(now, sizeof(now));
	for (size_t i = 0; i < n; i++) {
		struct orphan_row *r = &rows[i];
		int again = !r->cancel && r->attempt - r->base + 1 < j->max_attempts;
		if (REATTACH(r))
			/* the step lives on in Slurm: the same attempt goes on from it */
			rc = prep(c, "UPDATE jobs SET state = 'queued', resume_step = step_index,"
				  " slurm_job = ?2, pgid = NULL WHERE id = ?1 AND state = 'running'",
				  &st, err);
		else if (again)
			rc = prep(c, "UPDATE jobs SET state = 'queued', attempt = attempt + 1,"
				  " progress = 0, step = NULL, step_index = NULL, started_at = NULL,"
				  " pgid = NULL WHERE id = ? AND state = 'running'", &st, err);
		else
			rc = prep(c, "UPDATE jobs SET state = ?2, finished_at = ?3, error_code = ?4,"
				  " error_message = ?5, pgid = NULL WHERE id = ?1 AND state = 'running'",
				  &st, err);
		if (rc != 0)
			break;
		sqlite3_bind_int64(st, 1, r->id);
		if (REATTACH(r))
			sqlite3_bind_int64(st, 2, r->slurm_job);
		char msg[160];
		if (!again && !REATTACH(r)) {
			if (r->cancel)
				snprintf(msg, sizeof(msg), "cancelled; kilnd stopped before the step ended");
			else
				snprintf(msg, sizeof(msg),
					 "kilnd stopped while this job was running, %d time%s: "
					 "retry it to run it again", r->attempt - r->base + 1,
					 r->attempt - r->base + 1 == 1 ? "" : "s");
			sqlite3_bind_text(st, 2, r->cancel ? "cancelled" : "failed", -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, r->cancel ? "cancelled" : "interrupted", -1,
					  SQLITE_STATIC);
			sqlite3_bind_text(st, 5, msg, -1, SQLITE_TRANSIENT);
		}
		if ((rc = run(c, st, err)) != 0)
			break;
		if (again || REATTACH(r))
			(*requeued)++;
		else
			(*failed)++;
	}
	if (rc != 0) {
		rollback(c);
		*requeued = *failed = 0;
		goto out;
	}
	if ((rc = exec_sql(c, "COMMIT", err)) != 0) {
		rollback(c);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct orphan_row *r = &rows[i];
		int again = !r->cancel && r->attempt - r->base + 1 < j->max_attempts;
		if (REATTACH(r))
			publish_state(j, r->id, "queued", r->attempt, NULL, NULL);
		else if (again)
			publish_state(j, r->id, "queued", r->attempt + 1, NULL, NULL);
		else if (r->cancel)
			publish_state(j, r->id, "cancelled", r->attempt, "cancelled",
				      "cancelled; kilnd stopped before the step ended");
		else
			publish_state(j, r->id, "failed", r->attempt, "interrupted",
				      "kilnd stopped while this job was running");
	}
out:
	for (size_t i = 0; i < n; i++)
		free(rows[i].plan);
	free(rows);
	return rc;
}

void jobs_claim_clear(struct jobs_claim *c)
{
	if (c == NULL)
		return;
	free(c->model);
	free(c->dataset);
	free(c->target);
	free(c->spec_json);
	free(c->plan_json);
	free(c->figures_json);
	memset(c, 0, sizeof(*c));
}

static int claim_unlocked(struct jobs *j, struct jobs_claim *out, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	/* IMMEDIATE takes the write lock before reading, so two workers can
	 * never read the same oldest row and both claim it. */
	int rc = exec_sql(c, "BEGIN IMMEDIATE", err);
	if (rc != 0)
		return rc;
	char now[32];
	db_now(now, sizeof(now));
	sqlite3_stmt *st;
	rc = prep(c, "UPDATE jobs SET state = 'running', started_at = ?1, finished_at = NULL,"
		  " progress = 0, step = NULL, step_index = NULL, pgid = NULL"
		  " WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1)"
		  " RETURNING id, attempt, model, dataset, target, spec, plan, resume_step,"
		  " slurm_job, figures", &st, err);
	if (rc != 0) {
		rollback(c);
		return rc;
	}
	sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		out->id = sqlite3_column_int64(st, 0);
		out->attempt = sqlite3_column_int(st, 1);
		out->model = col_dup(st, 2);
		out->dataset = col_dup(st, 3);
		out->target = col_dup(st, 4);
		out->spec_json = col_dup(st, 5);
		out->plan_json = col_dup(st, 6);
		out->resume_step = sqlite3_column_type(st, 7) == SQLITE_NULL ? -1
										 : sqlite3_column_int(st, 7);
		out->slurm_job = sqlite3_column_int64(st, 8);
		if (out->resume_step >= 0)
			out->figures_json = col_dup(st, 9);
	}
	if (s != SQLITE_DONE) {
		rc = db_fail(c, st, err);
		rollback(c);
		jobs_claim_clear(out);
		return rc;
	}
	sqlite3_finalize(st);
	if ((rc = exec_sql(c, "COMMIT", err)) != 0) {
		rollback(c);
		jobs_claim_clear(out);
		return rc;
	}
	if (out->id != 0 && (out->spec_json == NULL || out->model == NULL || out->target == NULL)) {
		/* the row is claimed; the worker fails it with this message */
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory reading job %lld",
				 (long long)out->id);
	}
	if (out->id != 0)
		publish_state(j, out->id, "running", out->attempt, NULL, NULL);
	return 0;
}

/* Runs "UPDATE jobs SET <one column> WHERE id = ?1" under the lock, with
 * ?2 = text (NULL: null) or, when the SQL names ?3 instead, ?3 = num. */
static int set_column(struct jobs *j, const char *sql, int64_t id, const char *text,
		      int64_t num, struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	sqlite3 *c = conn(j, err);
	sqlite3_stmt *st = NULL;
	int rc = c == NULL ? KILN_EIO : prep(c, sql, &st, err);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_bind_parameter_count(st) >= 3)
			sqlite3_bind_int64(st, 3, num);
		else
			bind_text(st, 2, text);
		rc = run(c, st, err);
	}
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

static int step_unlocked(struct jobs *j, int64_t id, int index, int n_steps,
			 const char *name, pid_t pgid, struct kiln_err *err)
{
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	sqlite3_stmt *st;
	int rc = prep(c, "UPDATE jobs SET step = ?, step_index = ?, pgid = ?, slurm_job = NULL,"
		      " resume_step = NULL WHERE id = ?", &st, err);
	if (rc != 0)
		return rc;
	bind_text(st, 1, name);
	sqlite3_bind_int(st, 2, index);
	if (pgid > 0)
		sqlite3_bind_int64(st, 3, pgid);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, id);
	if ((rc = run(c, st, err)) != 0)
		return rc;
	cJSON *d = cJSON_CreateObject();
	if (d) {
		cJSON_AddNumberToObject(d, "index", index);
		cJSON_AddNumberToObject(d, "steps", n_steps);
		cJSON_AddStringToObject(d, "name", name);
	}
	publish(j, id, "step", d);
	return 0;
}

/* The "slurm" event: where a step runs (node NULL until Slurm says). */
static void publish_slurm(struct jobs *j, int64_t id, const char *step, int64_t slurm_job,
			  const char *node)
{
	cJSON *d = cJSON_CreateObject();
	if (d) {
		cJSON_AddStringToObject(d, "step", step);
		cJSON_AddNumberToObject(d, "slurm_job", (double)slurm_job);
		if (node)
			cJSON_AddStringToObject(d, "node", node);
	}
	publish(j, id, "slurm", d);
}

/* The two Slurm writes share their parameters: ?1 the Slurm job, ?2 the
 * job row, ?3 the step, ?4 the node. */
static const char SLURM_ATTACH_SQL[] =
	/* One entry per Slurm job: a re-attach after a restart names the same
	 * job again and adds nothing. */
	"UPDATE jobs SET slurm_job = ?1, slurm_steps = CASE WHEN EXISTS"
	" (SELECT 1 FROM json_each(coalesce(slurm_steps, '[]'))"
	"  WHERE json_extract(value, '$.slurm_job') = ?1) THEN slurm_steps"
	" ELSE json_insert(coalesce(slurm_steps, '[]'), '$[#]', json_object("
	"  'attempt', attempt, 'step', ?3, 'slurm_job', ?1, 'node', NULL)) END"
	" WHERE id = ?2";
static const char SLURM_NODE_SQL[] =
	"UPDATE jobs SET slurm_steps = (SELECT json_group_array(CASE"
	" WHEN json_extract(value, '$.slurm_job') = ?1 THEN json_set(value, '$.node', ?4)"
	" ELSE json(value) END) FROM json_each(slurm_steps))"
	" WHERE id = ?2 AND slurm_steps IS NOT NULL";

/* Runs one of the Slurm writes above under the lock, then publishes the
 * "slurm" event (node NULL for the attach). */
static int slurm_write(struct jobs *j, const char *sql, int64_t id, const char *step,
		       int64_t slurm_job, const char *node, struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	sqlite3 *c = conn(j, err);
	sqlite3_stmt *st = NULL;
	int rc = c == NULL ? KILN_EIO : prep(c, sql, &st, err);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, slurm_job);
		sqlite3_bind_int64(st, 2, id);
		bind_text(st, 3, step);
		if (node)
			bind_text(st, 4, node);
		rc = run(c, st, err);
	}
	if (rc == 0)
		publish_slurm(j, id, step, slurm_job, node);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

int jobs_set_slurm(struct jobs *j, int64_t id, const char *step, int64_t slurm_job,
		   struct kiln_err *err)
{
	return slurm_write(j, SLURM_ATTACH_SQL, id, step, slurm_job, NULL, err);
}

int jobs_set_slurm_node(struct jobs *j, int64_t id, const char *step, int64_t slurm_job,
			const char *node, struct kiln_err *err)
{
	return slurm_write(j, SLURM_NODE_SQL, id, step, slurm_job, node, err);
}

static int finish_unlocked(struct jobs *j, int64_t id, const char *state,
			   const char *error_code, const char *error_message,
			   const char *bundle, const char *figures_json, struct kiln_err *err);

static int retry_lost_unlocked(struct jobs *j, int64_t id, const char *code, const char *msg,
			       int *requeued, struct kiln_err *err)
{
	*requeued = 0;
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	sqlite3_stmt *st;
	/* the same rule as a restart's (jobs_recover): attempts counted from
	 * the last user's retry */
	int rc = prep(c, "UPDATE jobs SET state = 'queued', attempt = attempt + 1, progress = 0,"
		      " step = NULL, step_index = NULL, started_at = NULL, pgid = NULL,"
		      " slurm_job = NULL, resume_step = NULL"
		      " WHERE id = ?1 AND state = 'running' AND cancel_requested = 0"
		      " AND attempt - attempt_base + 1 < ?2 RETURNING attempt", &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, j->max_attempts);
	int attempt;
	if ((rc = run_attempt(c, st, &attempt, err)) != 0)
		return rc;
	if (attempt > 0) {
		*requeued = 1;
		/* the queued event carries why the attempt before ended */
		publish_state(j, id, "queued", attempt, code, msg);
		return 0;
	}
	return finish_unlocked(j, id, "failed", code, msg, NULL, NULL, err);
}

int jobs_retry_lost(struct jobs *j, int64_t id, const char *code, const char *msg,
		    int *requeued, struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	int rc = retry_lost_unlocked(j, id, code, msg, requeued, err);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

int jobs_set_cache_key(struct jobs *j, int64_t id, const char *key, struct kiln_err *err)
{
	return set_column(j, "UPDATE jobs SET cache_key = ?2 WHERE id = ?1", id, key, 0, err);
}

static int progress_unlocked(struct jobs *j, int64_t id, double progress,
                             const char *figures_json, struct kiln_err *err)
{
	if (progress < 0)
		progress = 0;
	if (progress > 1)
		progress = 1;
	if (figures_json && strlen(figures_json) > JOBS_MAX_FIGURES_BYTES)
		figures_json = NULL;  /* keep the last figures that fitted */
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	sqlite3_stmt *st;
	int rc = prep(c, "UPDATE jobs SET progress = ?, figures = coalesce(?, figures)"
		      " WHERE id = ?", &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_double(st, 1, progress);
	bind_text(st, 2, figures_json);
	sqlite3_bind_int64(st, 3, id);
	if ((rc = run(c, st, err)) != 0)
		return rc;
	cJSON *d = cJSON_CreateObject();
	if (d)
		cJSON_AddNumberToObject(d, "progress", progress);
	publish(j, id, "progress", d);
	return 0;
}

static int finish_unlocked(struct jobs *j, int64_t id, const char *state,
                           const char *error_code, const char *error_message,
                           const char *bundle, const char *figures_json, struct kiln_err *err)
{
	if (strcmp(state, "succeeded") != 0 && strcmp(state, "failed") != 0 &&
	    strcmp(state, "cancelled") != 0)
		return kiln_errf(err, KILN_EINTERNAL, "", "jobs_finish: bad state '%s'", state);
	if (figures_json && strlen(figures_json) > JOBS_MAX_FIGURES_BYTES)
		figures_json = NULL;
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	char now[32];
	db_now(now, sizeof(now));
	sqlite3_stmt *st;
	int rc = prep(c, "UPDATE jobs SET state = ?1, finished_at = ?2, error_code = ?3,"
		      " error_message = ?4, bundle = coalesce(?5, bundle),"
		      " figures = coalesce(?6, figures),"
		      " progress = CASE WHEN ?1 = 'succeeded' THEN 1 ELSE progress END, pgid = NULL,"
		      " resume_step = NULL"
		      " WHERE id = ?7 AND state = 'running' RETURNING attempt", &st, err);
	if (rc != 0)
		return rc;
	bind_text(st, 1, state);
	bind_text(st, 2, now);
	bind_text(st, 3, error_code);
	bind_text(st, 4, error_message);
	bind_text(st, 5, bundle);
	bind_text(st, 6, figures_json);
	sqlite3_bind_int64(st, 7, id);
	int attempt;
	if ((rc = run_attempt(c, st, &attempt, err)) != 0)
		return rc;
	if (attempt == 0)
		return kiln_errf(err, KILN_ECONFLICT, "", "job %lld is not running", (long long)id);
	if (strcmp(state, "succeeded") == 0) {
		cJSON *d = cJSON_CreateObject();
		if (d)
			cJSON_AddNumberToObject(d, "progress", 1.0);
		publish(j, id, "progress", d);
	}
	publish_state(j, id, state, attempt, error_code, error_message);
	return 0;
}

int jobs_cancel_requested(struct jobs *j, int64_t id, int *requested, struct kiln_err *err)
{
	*requested = 0;
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	sqlite3_stmt *st;
	int rc = prep(c, "SELECT cancel_requested FROM jobs WHERE id = ?", &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*requested = sqlite3_column_int(st, 0) != 0;
	else if (s != SQLITE_DONE)
		return db_fail(c, st, err);
	sqlite3_finalize(st);
	return 0;
}

static int requeue_unlocked(struct jobs *j, int64_t id, int resume, struct kiln_err *err)
{
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	sqlite3_stmt *st;
	int rc = resume
		? prep(c, "UPDATE jobs SET state = 'queued', resume_step = step_index, pgid = NULL"
		       " WHERE id = ? AND state = 'running' AND cancel_requested = 0"
		       " AND slurm_job IS NOT NULL AND step_index IS NOT NULL"
		       " RETURNING attempt", &st, err)
		: prep(c, "UPDATE jobs SET state = 'queued', progress = 0, step = NULL,"
		       " step_index = NULL, started_at = NULL, pgid = NULL, resume_step = NULL"
		       " WHERE id = ? AND state = 'running' AND cancel_requested = 0"
		       " RETURNING attempt", &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int attempt;
	if ((rc = run_attempt(c, st, &attempt, err)) != 0)
		return rc;
	if (attempt > 0) {
		publish_state(j, id, "queued", attempt, NULL, NULL);
		return 0;
	}
	/* a cancel was requested meanwhile: honour it */
	rc = jobs_finish(j, id, "cancelled", "cancelled", "cancelled", NULL, NULL, err);
	return rc == KILN_ECONFLICT ? 0 : rc;
}

/* --- the public writers: one at a time within this process ------------------ */

int jobs_submit(struct jobs *j, const struct jobs_new *in, int64_t *id_out, int *cache_hit,
		struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	int rc = submit_unlocked(j, in, id_out, cache_hit, err);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

int jobs_cancel(struct jobs *j, int64_t id, struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	int rc = cancel_unlocked(j, id, err);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

int jobs_retry(struct jobs *j, int64_t id, struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	int rc = retry_unlocked(j, id, err);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

int jobs_each_finished(struct jobs *j, const struct jobs_filter *f, jobs_each_fn fn, void *arg,
		       struct kiln_err *err)
{
	static const char *const FINAL = "('succeeded', 'failed', 'cancelled')";
	static const char *const FAILED = "('failed', 'cancelled')";
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	/* The ids first, without the lock (a read); then each job on its own
	 * under the lock, its state read again, so a long list never holds up
	 * the workers' writes and a job retried meanwhile is skipped. */
	char sql[400];
	snprintf(sql, sizeof(sql), "SELECT id FROM jobs WHERE state IN %s"
		 " AND (?1 IS NULL OR finished_at < ?1) AND (?2 IS NULL OR model = ?2)"
		 " AND (?3 IS NULL OR dataset = ?3) ORDER BY id", f->unsuccessful ? FAILED : FINAL);
	sqlite3_stmt *st;
	int rc = prep(c, sql, &st, err);
	if (rc != 0)
		return rc;
	bind_text(st, 1, f->finished_before);
	bind_text(st, 2, f->model);
	bind_text(st, 3, f->dataset);
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			int64_t *nv = realloc(ids, nc * sizeof(*ids));
			if (nv == NULL) {
				free(ids);
				sqlite3_finalize(st);
				return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
			}
			ids = nv;
			cap = nc;
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	if (s != SQLITE_DONE) {
		free(ids);
		return db_fail(c, st, err);
	}
	sqlite3_finalize(st);
	snprintf(sql, sizeof(sql), "SELECT 1 FROM jobs WHERE id = ? AND state IN %s",
		 f->unsuccessful ? FAILED : FINAL);
	if ((rc = prep(c, sql, &st, err)) != 0) {
		free(ids);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&j->wlock);
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, ids[i]);
		if (sqlite3_step(st) == SQLITE_ROW)
			fn(arg, ids[i]);
		pthread_mutex_unlock(&j->wlock);
	}
	sqlite3_finalize(st);
	free(ids);
	return 0;
}

int jobs_recover(struct jobs *j, jobs_orphan_fn orphan, void *arg, int *requeued,
		 int *failed, struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	int rc = recover_unlocked(j, orphan, arg, requeued, failed, err);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

int jobs_claim(struct jobs *j, struct jobs_claim *out, struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	int rc = claim_unlocked(j, out, err);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

int jobs_set_plan(struct jobs *j, int64_t id, const char *plan_json, struct kiln_err *err)
{
	return set_column(j, "UPDATE jobs SET plan = ?2 WHERE id = ?1", id, plan_json, 0, err);
}

int jobs_step(struct jobs *j, int64_t id, int index, int n_steps, const char *name,
	      pid_t pgid, struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	int rc = step_unlocked(j, id, index, n_steps, name, pgid, err);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

int jobs_set_pgid(struct jobs *j, int64_t id, pid_t pgid, struct kiln_err *err)
{
	return set_column(j, "UPDATE jobs SET pgid = ?3 WHERE id = ?1", id, NULL, pgid, err);
}

int jobs_progress(struct jobs *j, int64_t id, double progress, const char *figures_json,
		  struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	int rc = progress_unlocked(j, id, progress, figures_json, err);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

int jobs_finish(struct jobs *j, int64_t id, const char *state, const char *error_code,
		const char *error_message, const char *bundle, const char *figures_json,
		struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	int rc = finish_unlocked(j, id, state, error_code, error_message, bundle, figures_json, err);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

int jobs_requeue(struct jobs *j, int64_t id, struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	int rc = requeue_unlocked(j, id, 0, err);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

int jobs_requeue_resume(struct jobs *j, int64_t id, struct kiln_err *err)
{
	pthread_mutex_lock(&j->wlock);
	int rc = requeue_unlocked(j, id, 1, err);
	pthread_mutex_unlock(&j->wlock);
	return rc;
}

/* --- groups (several boards from one submit) ---------------------------------- */

int jobs_set_group(struct jobs *j, int64_t id, int64_t group, struct kiln_err *err)
{
	return set_column(j, "UPDATE jobs SET group_id = ?3 WHERE id = ?1", id, NULL, group, err);
}

int jobs_group(struct jobs *j, int64_t group, int64_t *ids, int cap, int *n,
	       struct kiln_err *err)
{
	*n = 0;
	sqlite3 *c = conn(j, err);
	if (c == NULL)
		return KILN_EIO;
	sqlite3_stmt *st;
	int rc = prep(c, "SELECT id FROM jobs WHERE group_id = ? ORDER BY id LIMIT ?", &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, group);
	sqlite3_bind_int(st, 2, cap);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	if (s != SQLITE_DONE && s != SQLITE_ROW)
		return db_fail(c, st, err);
	sqlite3_finalize(st);
	if (*n == 0)
		return kiln_errf(err, KILN_ENOTFOUND, "id", "no job group %lld (a group is the "
				 "first job id of a \"targets\" submit)", (long long)group);
	return 0;
}

int jobs_active_using(struct db *db, enum jobs_uses what, long long id, char *ids, size_t cap)
{
	/* one text per column: the column is never spliced in from a caller */
	static const char *const SQL[] = {
		[JOBS_USES_MODEL] = "SELECT group_concat(id, ', ') FROM (SELECT id FROM jobs"
				    " WHERE model = CAST(? AS TEXT) AND state IN ('queued', 'running')"
				    " ORDER BY id LIMIT 20)",
		[JOBS_USES_DATASET] = "SELECT group_concat(id, ', ') FROM (SELECT id FROM jobs"
				      " WHERE dataset = CAST(? AS TEXT) AND state IN ('queued',"
				      " 'running') ORDER BY id LIMIT 20)",
	};
	ids[0] = '\0';
	sqlite3_stmt *st = db_stmt(db, SQL[what]);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
	if (rc == 0 && sqlite3_column_text(st, 0))
		snprintf(ids, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	db_stmt_done(st);
	return rc;
}
