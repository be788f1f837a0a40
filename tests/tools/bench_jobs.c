/*
 * bench_jobs: drives the job engine in-process for tests/bench/bench_jobs.sh.
 *
 *   bench_jobs DATA_DIR N STAMP [WORKERS]
 *
 * STAMP is a tiny program that prints "stamp <CLOCK_MONOTONIC ns>" as the
 * first thing it does; every job is one local step running it.  Phase 1
 * submits N jobs one at a time, each when the pool is idle, and measures
 * submit → the tool's first instruction (the stamp) — the latency a user
 * sees.  Phase 2 submits N jobs at once and measures until the last one
 * succeeded — throughput.  Prints key=value lines for the script.
 */
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/db.h"
#include "runtime/embed.h"
#include "runtime/events.h"
#include "runtime/jobs.h"
#include "runtime/worker.h"

extern char **environ;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;             /* jobs that succeeded */
	int failed;
	int64_t stamp;        /* the last stamp seen */
};

static void on_event(void *arg, const struct events_item *it)
{
	struct state *s = arg;
	if (strcmp(it->type, "log") == 0) {
		const char *p = strstr(it->data, "stamp ");
		if (p) {
			pthread_mutex_lock(&s->lock);
			s->stamp = strtoll(p + 6, NULL, 10);
			pthread_mutex_unlock(&s->lock);
		}
		return;
	}
	if (strcmp(it->type, "state") != 0)
		return;
	int ok = strstr(it->data, "\"succeeded\"") != NULL;
	int bad = strstr(it->data, "\"failed\"") || strstr(it->data, "\"cancelled\"");
	if (!ok && !bad)
		return;
	pthread_mutex_lock(&s->lock);
	s->done += ok;
	s->failed += bad;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int submit(struct jobs *jobs, const struct plan *plan, cJSON *spec)
{
	struct jobs_new n = {.model = "bench", .target = "bench", .spec = spec, .plan = plan};
	int64_t id;
	struct kiln_err err;
	if (jobs_submit(jobs, &n, &id, NULL, &err) != 0) {
		fprintf(stderr, "bench_jobs: submit: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* Waits until `want` jobs have ended. */
static int wait_done(struct state *s, int want)
{
	pthread_mutex_lock(&s->lock);
	while (s->done + s->failed < want)
		pthread_cond_wait(&s->cond, &s->lock);
	int failed = s->failed;
	pthread_mutex_unlock(&s->lock);
	return failed;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench_jobs DATA_DIR N STAMP [WORKERS]\n");
		return 2;
	}
	const char *dir = argv[1];
	int n = atoi(argv[2]);
	int workers = argc > 4 ? atoi(argv[4]) : 1;
	char path[4200];
	snprintf(path, sizeof(path), "%s/kiln.db", dir);
	struct kiln_err err;
	struct db *db;
	struct events *ev;
	struct jobs *jobs;
	struct worker_pool *pool;
	if (db_open(path, &db, &err) != 0 || db_migrate(db, migrations, &err) != 0 ||
	    events_new(NULL, &ev, &err) != 0 || jobs_open(db, ev, NULL, &jobs, &err) != 0) {
		fprintf(stderr, "bench_jobs: %s\n", err.msg);
		return 1;
	}
	struct state s = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct events_sub *sub;
	events_subscribe(ev, 0, on_event, &s, &sub, &err);
	struct worker_conf wc = {.data_dir = dir, .workers = workers, .quiet = 1};
	if (worker_start(jobs, &wc, &pool, &err) != 0) {
		fprintf(stderr, "bench_jobs: %s\n", err.msg);
		return 1;
	}
	struct plan *plan = plan_new();
	const char *sargv[] = {argv[3], NULL};
	struct plan_step_spec step = {.name = "stamp", .argv = sargv, .toolchain = "local",
				      .weight = -1};
	cJSON *spec = cJSON_CreateObject();
	if (plan == NULL || plan_add_step(plan, &step, &err) != 0) {
		fprintf(stderr, "bench_jobs: %s\n", err.msg);
		return 1;
	}

	/* phase 0: the floor — posix_spawn of the same program straight from C,
	 * reading its stamp from a pipe, with no queue, database or log */
	int64_t *direct = calloc((size_t)n, sizeof(int64_t));
	int64_t d0 = now_ns();
	for (int i = 0; i < n; i++) {
		int fds[2];
		if (pipe(fds) != 0)
			return 1;
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
		posix_spawn_file_actions_addclose(&fa, fds[0]);
		char *args[] = {argv[3], NULL};
		pid_t pid;
		int64_t t0 = now_ns();
		if (posix_spawn(&pid, argv[3], &fa, NULL, args, environ) != 0)
			return 1;
		posix_spawn_file_actions_destroy(&fa);
		close(fds[1]);
		char buf[64] = "";
		ssize_t r = read(fds[0], buf, sizeof(buf) - 1);
		close(fds[0]);
		waitpid(pid, NULL, 0);
		direct[i] = (r > 6 ? strtoll(buf + 6, NULL, 10) : t0) - t0;
	}
	double dsecs = (double)(now_ns() - d0) / 1e9;
	qsort(direct, (size_t)n, sizeof(int64_t), cmp64);
	printf("direct_latency_median_ms=%.3f\n", (double)direct[n / 2] / 1e6);
	printf("direct_latency_p99_ms=%.3f\n", (double)direct[(n * 99) / 100] / 1e6);
	printf("direct_jobs_per_s=%.1f\n", n / dsecs);
	free(direct);

	/* phase 1: latency, one job at a time */
	int64_t *lat = calloc((size_t)n, sizeof(int64_t));
	for (int i = 0; i < n; i++) {
		int64_t t0 = now_ns();
		if (submit(jobs, plan, spec) != 0)
			return 1;
		if (wait_done(&s, i + 1) != 0) {
			fprintf(stderr, "bench_jobs: a job failed (see %s/jobs/*/log.txt)\n", dir);
			return 1;
		}
		pthread_mutex_lock(&s.lock);
		lat[i] = s.stamp - t0;
		pthread_mutex_unlock(&s.lock);
	}
	qsort(lat, (size_t)n, sizeof(int64_t), cmp64);
	printf("latency_median_ms=%.3f\n", (double)lat[n / 2] / 1e6);
	printf("latency_p99_ms=%.3f\n", (double)lat[(n * 99) / 100] / 1e6);

	/* phase 2: throughput, all at once */
	int64_t t0 = now_ns();
	for (int i = 0; i < n; i++)
		if (submit(jobs, plan, spec) != 0)
			return 1;
	if (wait_done(&s, 2 * n) != 0) {
		fprintf(stderr, "bench_jobs: a job failed\n");
		return 1;
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	printf("jobs=%d workers=%d seconds=%.3f\n", n, workers, secs);
	printf("jobs_per_s=%.1f\n", n / secs);

	events_unsubscribe(ev, sub);
	worker_stop(pool);
	plan_free(plan);
	cJSON_Delete(spec);
	free(lat);
	jobs_close(jobs);
	events_free(ev);
	db_close(db);
	return 0;
}
