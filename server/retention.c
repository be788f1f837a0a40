/*
 * retention: the sweep and the deletes' clean-up (see retention.h for what
 * goes when).
 *
 * Safety: a workspace is removed only for a job in a finished state, read
 * again under the job store's write lock (jobs_each_finished), so a retry
 * cannot start filling it meanwhile.  A blob is removed only through
 * blobrefs_release(), under the lock every "commit a blob, insert its row"
 * holds, and only when older than orphan_grace, so bytes an upload has
 * committed but not yet named are never taken.  Must never know HTTP.
 */
#include "server/retention.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/blobrefs.h"
#include "runtime/worker.h"

struct retention {
	const struct kiln_config *cfg;
	struct db *db;
	struct blob_store *bs;
	struct jobs *jobs;
	char data_dir[PATH_MAX];
	pthread_mutex_t lock;     /* guards stop; one sweep at a time */
	pthread_cond_t cond;
	int stop;
	pthread_t thread;
	int started;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The time `ago` seconds back in db_now()'s format, which sorts as text. */
static void time_ago(long long ago, char *buf, size_t cap)
{
	time_t t = time(NULL) - (time_t)ago;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

struct ws_ctx {
	struct retention *r;
	int removed;
};

static void drop_workspace(void *arg, int64_t id)
{
	struct ws_ctx *w = arg;
	int rc = worker_remove_workspace(w->r->data_dir, id);
	if (rc > 0)
		w->removed++;
	else if (rc < 0)
		fprintf(stderr, "level=warn job=%lld msg=\"cannot remove the workspace: %s\"\n",
			(long long)id, strerror(errno));
}

void retention_sweep(struct retention *r, struct retention_stats *out)
{
	struct retention_stats st = {0};
	struct kiln_err err;
	int64_t t0 = mono_ms();
	char before[64];
	time_ago((long long)r->cfg->failed_workspace_hours * 3600, before, sizeof(before));
	struct jobs_filter f = {.unsuccessful = 1, .finished_before = before};
	struct ws_ctx w = {.r = r};
	if (jobs_each_finished(r->jobs, &f, drop_workspace, &w, &err) != 0)
		fprintf(stderr, "level=warn msg=\"retention: cannot list failed jobs: %s\"\n", err.msg);
	st.workspaces = w.removed;
	time_t grace_end = time(NULL) - r->cfg->orphan_grace;
	if (blobrefs_sweep(r->db, r->bs, grace_end, &st.blobs, &st.bytes, &err) != 0)
		fprintf(stderr, "level=warn msg=\"retention: %s\"\n", err.msg);
	if (st.workspaces + st.blobs > 0)
		fprintf(stderr, "level=info msg=\"retention sweep\" workspaces_removed=%d "
			"orphan_blobs_removed=%d orphan_bytes=%llu dur_ms=%lld\n",
			st.workspaces, st.blobs, st.bytes, (long long)(mono_ms() - t0));
	if (out)
		*out = st;
}

int retention_forget(struct retention *r, const char *model, const char *dataset)
{
	struct kiln_err err;
	struct jobs_filter f = {.model = model, .dataset = dataset};
	struct ws_ctx w = {.r = r};
	if (jobs_each_finished(r->jobs, &f, drop_workspace, &w, &err) != 0)
		fprintf(stderr, "level=warn msg=\"retention: cannot list the jobs of %s %s: %s\"\n",
			model ? "model" : "dataset", model ? model : dataset, err.msg);
	return w.removed;
}

static void *sweeper(void *arg)
{
	struct retention *r = arg;
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += RETENTION_SWEEP_S;
		while (!r->stop && pthread_cond_timedwait(&r->cond, &r->lock, &dl) != ETIMEDOUT)
			;
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->lock);
		retention_sweep(r, NULL);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int retention_start(const struct kiln_config *cfg, struct db *db, struct blob_store *bs,
		    struct jobs *jobs, struct retention **out, struct kiln_err *err)
{
	*out = NULL;
	struct retention *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	r->cfg = cfg;
	r->db = db;
	r->bs = bs;
	r->jobs = jobs;
	/* the worker pool names workspaces from the same absolute path */
	if (realpath(cfg->data_dir, r->data_dir) == NULL) {
		int e = errno;
		free(r);
		return kiln_errf(err, KILN_EIO, "data_dir", "cannot resolve %s: %s", cfg->data_dir,
				 strerror(e));
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* Before kilnd listens: what expired while it was down goes now. */
	retention_sweep(r, NULL);
	r->started = pthread_create(&r->thread, NULL, sweeper, r) == 0;
	if (!r->started)
		fprintf(stderr, "level=warn msg=\"retention: no sweep thread; sweeping at start "
			"only\"\n");
	*out = r;
	return 0;
}

void retention_stop(struct retention *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (r->started)
		pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
