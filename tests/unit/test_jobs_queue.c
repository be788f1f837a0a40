/*
 * test_jobs_queue: the job store, the queue and the worker pool together,
 * on a real sqlite file with the real migrations and real processes:
 * a job's life and events, failures, timeouts, cancel while running and
 * while queued, retry, 1000 jobs through 2 workers, recovery of rows left
 * running, kill -9 of a "daemon" process mid-step, and an orderly stop.
 *
 * Waiting is done on the events hub (condition variable), FIFOs and pidfds;
 * nothing sleeps to synchronise.  The process is a child subreaper, so a
 * step's orphans become our children and can be waited for.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/db.h"
#include "runtime/embed.h"
#include "runtime/events.h"
#include "runtime/jobs.h"
#include "kt.h"
#include "runtime/worker.h"

struct env {
	char dir[512];
	struct db *db;
	struct events *ev;
	struct jobs *jobs;
	struct worker_pool *pool;
};

static int env_open(struct env *e, const char *dir, int max_attempts)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "%s", dir ? dir : kt_tmpdir());
	char path[600];
	snprintf(path, sizeof(path), "%s/kiln.db", e->dir);
	struct kiln_err err;
	struct jobs_conf jc = {.max_attempts = max_attempts};
	if (!CHECKF(db_open(path, &e->db, &err) == 0, "%s", err.msg) ||
	    !CHECKF(db_migrate(e->db, migrations, &err) == 0, "%s", err.msg) ||
	    !CHECK(events_new(NULL, &e->ev, &err) == 0) ||
	    !CHECK(jobs_open(e->db, e->ev, &jc, &e->jobs, &err) == 0))
		return -1;
	return 0;
}

static int env_start(struct env *e, int workers)
{
	struct kiln_err err;
	struct worker_conf wc = {.data_dir = e->dir, .workers = workers, .grace_ms = 500,
				 .quiet = 1};
	return CHECKF(worker_start(e->jobs, &wc, &e->pool, &err) == 0, "%s", err.msg) ? 0 : -1;
}

static void env_close(struct env *e)
{
	worker_stop(e->pool);
	jobs_close(e->jobs);
	events_free(e->ev);
	db_close(e->db);
	memset(e, 0, sizeof(*e));
}

/* Submits a job whose plan is the JSON text; returns its id or 0. */
static int64_t submit(struct env *e, const char *plan_json)
{
	struct plan *p = NULL;
	struct kiln_err err;
	if (plan_json && !CHECKF(plan_parse(plan_json, strlen(plan_json), &p, &err) == 0,
				 "%s", err.msg))
		return 0;
	cJSON *spec = cJSON_Parse("{\"target\":\"maixcam\"}");
	struct jobs_new n = {.model = "m1", .dataset = "d1", .target = "maixcam", .spec = spec,
			     .plan = p};
	int64_t id = 0;
	int rc = jobs_submit(e->jobs, &n, &id, NULL, &err);
	CHECKF(rc == 0, "%s", err.msg);
	cJSON_Delete(spec);
	plan_free(p);
	return id;
}

/* A one-step local plan running `sh -c script`. */
static char *sh_plan(const char *script, int timeout_s, const char *output)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *steps = cJSON_AddArrayToObject(j, "steps");
	cJSON *s = cJSON_CreateObject();
	cJSON_AddItemToArray(steps, s);
	cJSON_AddStringToObject(s, "name", "main");
	const char *argv[] = {"/bin/sh", "-c", script};
	cJSON_AddItemToObject(s, "argv", cJSON_CreateStringArray(argv, 3));
	cJSON_AddStringToObject(s, "toolchain", "local");
	cJSON_AddNumberToObject(s, "timeout_s", timeout_s);
	if (output)
		cJSON_AddItemToObject(s, "outputs", cJSON_CreateStringArray(&output, 1));
	char *out = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return out;
}

struct last {
	uint64_t id;
	char state[16];
};

static void last_fn(void *arg, const struct events_item *it)
{
	struct last *l = arg;
	l->id = it->id;
	const char *p = strcmp(it->type, "state") == 0 ? strstr(it->data, "\"state\":\"") : NULL;
	if (p)
		snprintf(l->state, sizeof(l->state), "%.*s", (int)strcspn(p + 9, "\""), p + 9);
}

/* The latest state in the job's events into st; returns the last event id. */
static uint64_t last_state(struct env *e, int64_t id, char *st, size_t cap)
{
	struct last l = {0};
	events_read(e->ev, id, 0, 0, last_fn, &l, NULL);
	snprintf(st, cap, "%s", l.state);
	return l.id;
}

static int is_final(const char *s)
{
	return strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 ||
	       strcmp(s, "cancelled") == 0;
}

/* Waits (on the events hub) until the job's latest state event is a final
 * state; returns that state.  The event comes after the row's commit, so
 * this also means jobs_get shows it. */
static const char *wait_final(struct env *e, int64_t id, int timeout_ms)
{
	static char st[16];
	for (;;) {
		uint64_t after = last_state(e, id, st, sizeof(st));
		if (is_final(st))
			return st;
		if (!events_wait(e->ev, id, after, timeout_ms))
			return "timeout";
	}
}

struct scan {
	uint64_t last;
	const char *needle;
	int found;
};

static void scan_fn(void *arg, const struct events_item *it)
{
	struct scan *s = arg;
	s->last = it->id;
	if (s->needle && strcmp(it->type, "log") == 0 && strstr(it->data, s->needle))
		s->found = 1;
}

/* Waits until a log line of job id contains needle. */
static int wait_log(struct env *e, int64_t id, const char *needle, int timeout_ms)
{
	struct scan s = {.needle = needle};
	for (;;) {
		uint64_t from = s.last;
		events_read(e->ev, id, from, 0, scan_fn, &s, NULL);
		if (s.found)
			return 1;
		if (!events_wait(e->ev, id, s.last, timeout_ms))
			return 0;
	}
}

struct seq {
	char text[4096];
	size_t len;
};

static void seq_fn(void *arg, const struct events_item *it)
{
	struct seq *q = arg;
	int n = snprintf(q->text + q->len, sizeof(q->text) - q->len, "%s %s\n", it->type, it->data);
	if (n > 0 && q->len + (size_t)n < sizeof(q->text))
		q->len += (size_t)n;
}

static int exited_within(pid_t pid, int ms)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return errno == ESRCH;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = poll(&p, 1, ms);
	close(fd);
	if (r == 1)
		waitpid(pid, NULL, WNOHANG);
	return r == 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- tests ----------------------------------------------------------------------------- */

static void worker__runs_a_job_to_succeeded_with_events_in_order(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0 || env_start(&e, 1) != 0)
		return;
	const char *plan =
		"{\"files\":[{\"name\":\"tool.sh\",\"executable\":true,"
		"  \"content\":\"#!/bin/sh\\necho made > \\\"$1\\\"\\necho tool ran\\n\"}],"
		" \"steps\":[{\"name\":\"make\",\"argv\":[\"./tool.sh\",\"out.bin\"],"
		"   \"toolchain\":\"local\",\"outputs\":[\"out.bin\"],\"weight\":3},"
		"  {\"name\":\"check\",\"argv\":[\"/bin/sh\",\"-c\","
		"   \"echo 'Layer: out0  2-norm RE: 1.00%  cosine-sim: 0.9990'\"],"
		"   \"toolchain\":\"local\",\"weight\":1,\"parser\":\"pulsar\"}]}";
	int64_t id = submit(&e, plan);
	CHECK_STR(wait_final(&e, id, 20000), "succeeded");
	cJSON *j = NULL;
	struct kiln_err err;
	if (CHECK_INT(jobs_get(e.jobs, id, &j, &err), 0)) {
		CHECK(cJSON_GetObjectItem(j, "progress")->valuedouble == 1.0);
		CHECK_STR(cJSON_GetObjectItem(j, "step")->valuestring, "check");
		CHECK_INT(cJSON_GetObjectItem(j, "steps")->valueint, 2);
		CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "error")));
		CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"), "target")->valuestring,
			  "maixcam");
		cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "figures"), 0);
		CHECK(f && cJSON_GetObjectItem(f, "cosine")->valuedouble == 0.999);
		CHECK(f && strcmp(cJSON_GetObjectItem(f, "step")->valuestring, "check") == 0);
		cJSON_Delete(j);
	}
	struct seq q = {0};
	int gap;
	events_read(e.ev, id, 0, 0, seq_fn, &q, &gap);
	const char *want[] = {
		"state {\"state\":\"queued\"", "state {\"state\":\"running\"",
		"step {\"index\":0,\"steps\":2,\"name\":\"make\"}",
		"log {\"step\":\"make\",\"stream\":\"stdout\",\"line\":\"tool ran\"}",
		"progress {\"progress\":0.75}", "step {\"index\":1", "figure {", "log {\"step\":\"check\"",
		"progress {\"progress\":1}", "state {\"state\":\"succeeded\"", NULL,
	};
	const char *at = q.text;
	for (int i = 0; want[i]; i++) {
		const char *hit = strstr(at, want[i]);
		if (!CHECKF(hit != NULL, "missing or out of order: %s\nin:\n%s", want[i], q.text))
			break;
		at = hit + 1;
	}
	char path[700];
	snprintf(path, sizeof(path), "%s/jobs/%lld/work/out.bin", e.dir, (long long)id);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/jobs/%lld/log.txt", e.dir, (long long)id);
	char *log = kt_read_file(path, NULL);
	CHECK(log && strstr(log, "tool ran\n") && strstr(log, "[kiln] step 2/2 check"));
	free(log);
	cJSON *pj = NULL;
	CHECK_INT(jobs_get_plan(e.jobs, id, &pj, &err), 0);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(pj, "steps")), 2);
	cJSON_Delete(pj);
	env_close(&e);
}

static int fail_planner(void *arg, const struct jobs_claim *job, const char *ws,
			struct plan **out, struct kiln_err *err)
{
	(void)arg;
	(void)ws;
	const char *argv[] = {"/bin/sh", "-c", "echo compiling; echo 'RuntimeError: [!Error]: x' >&2; exit 1",
			      NULL};
	struct plan_step_spec s = {.name = "deploy", .argv = argv, .toolchain = "local",
				   .weight = -1};
	struct plan *p = plan_new();
	CHECK_STR(job->target, "maixcam");
	if (plan_add_step(p, &s, err) != 0) {
		plan_free(p);
		return KILN_EINVAL;
	}
	*out = p;
	return 0;
}

static void worker__failed_step_records_the_code_and_the_tools_last_line(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0)
		return;
	struct kiln_err err;
	struct worker_conf wc = {.data_dir = e.dir, .workers = 1, .quiet = 1,
				 .planner = fail_planner};
	if (!CHECKF(worker_start(e.jobs, &wc, &e.pool, &err) == 0, "%s", err.msg))
		return;
	int64_t id = submit(&e, NULL);  /* no plan: the planner makes it */
	CHECK_STR(wait_final(&e, id, 20000), "failed");
	cJSON *j = NULL;
	if (CHECK_INT(jobs_get(e.jobs, id, &j, &err), 0)) {
		cJSON *er = cJSON_GetObjectItem(j, "error");
		CHECK_STR(cJSON_GetObjectItem(er, "code")->valuestring, "step_failed");
		const char *m = cJSON_GetObjectItem(er, "message")->valuestring;
		CHECKF(strstr(m, "step 'deploy' exited with status 1") && strstr(m, "RuntimeError"),
		       "%s", m);
		cJSON_Delete(j);
	}
	cJSON *pj = NULL;
	CHECK_INT(jobs_get_plan(e.jobs, id, &pj, &err), 0);  /* the planner's plan was stored */
	CHECK(cJSON_IsObject(pj));
	cJSON_Delete(pj);
	env_close(&e);
}

static void worker__missing_output_and_timeout_fail_with_their_codes(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0 || env_start(&e, 2) != 0)
		return;
	char *p1 = sh_plan("echo no file here", 60, "model.cvimodel");
	char *p2 = sh_plan("echo started; sleep 1000", 1, NULL);
	int64_t a = submit(&e, p1), b = submit(&e, p2);
	free(p1);
	free(p2);
	int64_t t0 = now_ms();
	CHECK_STR(wait_final(&e, a, 20000), "failed");
	CHECK_STR(wait_final(&e, b, 20000), "failed");
	CHECKF(now_ms() - t0 < 1000 + 5000, "timeout took %lld ms", (long long)(now_ms() - t0));
	struct kiln_err err;
	cJSON *j = NULL;
	if (CHECK_INT(jobs_get(e.jobs, a, &j, &err), 0)) {
		cJSON *er = cJSON_GetObjectItem(j, "error");
		CHECK_STR(cJSON_GetObjectItem(er, "code")->valuestring, "missing_output");
		CHECK(strstr(cJSON_GetObjectItem(er, "message")->valuestring, "'model.cvimodel'"));
		cJSON_Delete(j);
	}
	if (CHECK_INT(jobs_get(e.jobs, b, &j, &err), 0)) {
		cJSON *er = cJSON_GetObjectItem(j, "error");
		CHECK_STR(cJSON_GetObjectItem(er, "code")->valuestring, "timeout");
		cJSON_Delete(j);
	}
	env_close(&e);
}

static void worker__cancel_while_running_ends_cancelled_within_5s(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0 || env_start(&e, 1) != 0)
		return;
	char *p = sh_plan("trap '' TERM; sleep 1000 & echo child $!; echo ready; wait; wait", 600, NULL);
	int64_t id = submit(&e, p);
	free(p);
	if (!CHECK(wait_log(&e, id, "ready", 20000)))
		return;
	struct kiln_err err;
	int64_t t0 = now_ms();
	CHECK_INT(jobs_cancel(e.jobs, id, &err), 0);
	CHECK_STR(wait_final(&e, id, 20000), "cancelled");
	int64_t took = now_ms() - t0;
	CHECKF(took < 5000, "cancel took %lld ms", (long long)took);
	CHECK_INT(jobs_cancel(e.jobs, id, &err), 0);  /* again: nothing to do, no error */
	CHECK_INT(jobs_retry(e.jobs, id, &err), 0);   /* and it can be run again */
	CHECK(wait_log(&e, id, "ready", 20000));
	CHECK_INT(jobs_cancel(e.jobs, id, &err), 0);
	CHECK_STR(wait_final(&e, id, 20000), "cancelled");
	env_close(&e);
}

static void worker__cancel_while_queued_is_immediate_and_the_job_never_runs(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0 || env_start(&e, 1) != 0)
		return;
	char fifo[600], script[1600];
	snprintf(fifo, sizeof(fifo), "%s/gate", e.dir);
	CHECK(mkfifo(fifo, 0600) == 0);
	snprintf(script, sizeof(script), "echo ready; read x < '%s'", fifo);
	char *pa = sh_plan(script, 600, NULL), *pb = sh_plan("echo b ran", 60, NULL);
	int64_t a = submit(&e, pa);
	free(pa);
	if (!CHECK(wait_log(&e, a, "ready", 20000)))
		return;
	int64_t b = submit(&e, pb);
	free(pb);
	struct kiln_err err;
	char st[16];
	CHECK_INT(jobs_cancel(e.jobs, b, &err), 0);
	CHECK_INT(jobs_state(e.jobs, b, st, sizeof(st), &err), 0);
	CHECK_STR(st, "cancelled");
	int fd = open(fifo, O_WRONLY);  /* the worker's step is the reader */
	CHECK(fd >= 0 && write(fd, "go\n", 3) == 3);
	close(fd);
	CHECK_STR(wait_final(&e, a, 20000), "succeeded");
	CHECK_INT(jobs_cancel(e.jobs, a, &err), KILN_ECONFLICT);
	struct seq q = {0};
	events_read(e.ev, b, 0, 0, seq_fn, &q, NULL);
	CHECKF(strstr(q.text, "running") == NULL && strstr(q.text, "\"cancelled\""), "%s", q.text);
	char path[700];
	snprintf(path, sizeof(path), "%s/jobs/%lld", e.dir, (long long)b);
	CHECK(access(path, F_OK) != 0);
	CHECK_INT(jobs_cancel(e.jobs, 999999, &err), KILN_ENOTFOUND);
	env_close(&e);
}

static void worker__retry_runs_a_new_attempt_and_keeps_the_old_log(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0 || env_start(&e, 1) != 0)
		return;
	char flag[600], script[1600];
	snprintf(flag, sizeof(flag), "%s/second-time", e.dir);
	snprintf(script, sizeof(script),
		 "if [ -e '%s' ]; then echo attempt two; else touch '%s'; echo attempt one; exit 2; fi",
		 flag, flag);
	char *p = sh_plan(script, 60, NULL);
	int64_t id = submit(&e, p);
	free(p);
	struct kiln_err err;
	CHECK_STR(wait_final(&e, id, 20000), "failed");
	CHECK_INT(jobs_retry(e.jobs, id, &err), 0);
	CHECK_INT(jobs_retry(e.jobs, id, &err), KILN_ECONFLICT);  /* queued now */
	CHECK_STR(wait_final(&e, id, 20000), "succeeded");
	cJSON *j = NULL;
	if (CHECK_INT(jobs_get(e.jobs, id, &j, &err), 0)) {
		CHECK_INT(cJSON_GetObjectItem(j, "attempt")->valueint, 2);
		cJSON_Delete(j);
	}
	char path[700];
	snprintf(path, sizeof(path), "%s/jobs/%lld/log.1.txt", e.dir, (long long)id);
	char *old = kt_read_file(path, NULL);
	CHECK(old && strstr(old, "attempt one"));
	free(old);
	snprintf(path, sizeof(path), "%s/jobs/%lld/log.txt", e.dir, (long long)id);
	char *cur = kt_read_file(path, NULL);
	CHECK(cur && strstr(cur, "\nattempt two\n") && !strstr(cur, "\nattempt one\n"));
	free(cur);
	env_close(&e);
}

static void jobs__submit_checks_input_and_list_pages_newest_first(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0)
		return;
	struct kiln_err err;
	cJSON *spec = cJSON_CreateObject();
	struct jobs_new bad = {.model = "../m", .target = "maixcam", .spec = spec};
	int64_t id;
	CHECK_INT(jobs_submit(e.jobs, &bad, &id, NULL, &err), KILN_EINVAL);
	CHECK_STR(err.field, "model");
	struct jobs_new nospec = {.model = "m", .target = "maixcam", .spec = NULL};
	CHECK_INT(jobs_submit(e.jobs, &nospec, &id, NULL, &err), KILN_EINVAL);
	cJSON_Delete(spec);
	for (int i = 0; i < 5; i++)
		submit(&e, NULL);
	cJSON *page = NULL;
	CHECK_INT(jobs_list(e.jobs, "queued", 2, 0, &page, &err), 0);
	cJSON *items = cJSON_GetObjectItem(page, "items");
	CHECK_INT(cJSON_GetArraySize(items), 2);
	CHECK_INT(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "id")->valueint, 5);
	int next = cJSON_GetObjectItem(page, "next")->valueint;
	CHECK_INT(next, 4);
	cJSON_Delete(page);
	CHECK_INT(jobs_list(e.jobs, NULL, 10, next, &page, &err), 0);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(page, "items")), 3);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(page, "next")));
	cJSON_Delete(page);
	CHECK_INT(jobs_list(e.jobs, "done", 10, 0, &page, &err), KILN_EINVAL);
	CHECK_INT(jobs_list(e.jobs, NULL, 100000, 0, &page, &err), KILN_EINVAL);
	env_close(&e);
}

static void jobs__cache_hit_finishes_at_once_with_the_same_bundle(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0)
		return;
	struct kiln_err err;
	cJSON *spec = cJSON_CreateObject();
	struct jobs_new n = {.model = "m", .target = "maixcam", .spec = spec, .cache_key = "k1"};
	int64_t a, b;
	int hit = -1;
	CHECK_INT(jobs_submit(e.jobs, &n, &a, &hit, &err), 0);
	CHECK_INT(hit, 0);
	struct jobs_claim c;
	CHECK_INT(jobs_claim(e.jobs, &c, &err), 0);
	CHECK(c.id == a);
	jobs_claim_clear(&c);
	CHECK_INT(jobs_finish(e.jobs, a, "succeeded", NULL, NULL, "42",
			      "[{\"cosine\":0.99}]", &err), 0);
	CHECK_INT(jobs_submit(e.jobs, &n, &b, &hit, &err), 0);
	CHECK_INT(hit, 1);
	cJSON *j = NULL;
	if (CHECK_INT(jobs_get(e.jobs, b, &j, &err), 0)) {
		CHECK_STR(cJSON_GetObjectItem(j, "state")->valuestring, "succeeded");
		CHECK_INT(cJSON_GetObjectItem(j, "bundle")->valueint, 42); /* a number, as every id */
		CHECK_INT(cJSON_GetObjectItem(j, "cached_from")->valueint, (int)a);
		CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "figures")), 1);
		cJSON_Delete(j);
	}
	cJSON_Delete(spec);
	env_close(&e);
}


static void worker__chatty_tool_is_capped_in_the_log_and_streamed_as_events(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0)
		return;
	struct kiln_err err;
	struct worker_conf wc = {.data_dir = e.dir, .workers = 1, .quiet = 1,
				 .log_cap = 1 << 20};
	if (!CHECKF(worker_start(e.jobs, &wc, &e.pool, &err) == 0, "%s", err.msg))
		return;
	char *p = sh_plan("yes 'chatty line 0123456789' | head -c 30000000; echo; echo last-line",
			  600, NULL);
	int64_t id = submit(&e, p);
	free(p);
	CHECK_STR(wait_final(&e, id, 120000), "succeeded");
	char path[700];
	snprintf(path, sizeof(path), "%s/jobs/%lld/log.txt", e.dir, (long long)id);
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_size <= (1 << 20));
	char *log = kt_read_file(path, NULL);
	CHECK(log && strstr(log, "bytes of output elided") && strstr(log, "\nlast-line\n"));
	free(log);
	struct scan sc = {.needle = "last-line"};
	int gap = 0;
	events_read(e.ev, id, 0, 0, scan_fn, &sc, &gap);
	CHECK(sc.found);  /* the newest lines are in the ring, the oldest dropped */
	env_close(&e);
}


static int stage_inputs(void *arg, const struct jobs_claim *job, const char *ws,
			struct plan **plan, struct kiln_err *err)
{
	(void)arg;
	(void)plan;
	char path[700], text[64];
	snprintf(path, sizeof(path), "%s/model.onnx", ws);
	int n = snprintf(text, sizeof(text), "model for attempt %d\n", job->attempt);
	if (kt_write_file(path, text, (size_t)n) != 0)
		return kiln_errf(err, KILN_EIO, "", "cannot write %s", path);
	return 0;
}

static void worker__preparer_stages_inputs_on_every_attempt(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0)
		return;
	struct kiln_err err;
	struct worker_conf wc = {.data_dir = e.dir, .workers = 1, .quiet = 1,
				 .preparer = stage_inputs};
	if (!CHECKF(worker_start(e.jobs, &wc, &e.pool, &err) == 0, "%s", err.msg))
		return;
	char *p = sh_plan("cat model.onnx; exit 1", 60, NULL);
	int64_t id = submit(&e, p);
	free(p);
	CHECK_STR(wait_final(&e, id, 20000), "failed");
	CHECK(wait_log(&e, id, "model for attempt 1", 0));
	CHECK_INT(jobs_retry(e.jobs, id, &err), 0);
	CHECK_STR(wait_final(&e, id, 20000), "failed");
	CHECK(wait_log(&e, id, "model for attempt 2", 0));
	env_close(&e);
}

/* A preparer that plans (the conversion library reads the spec once for
 * both): its plan runs and is stored, and the planner is not asked; a
 * preparer that fails while planning fails the job as plan_invalid. */
static int planner_must_not_run(void *arg, const struct jobs_claim *job, const char *ws,
				struct plan **out, struct kiln_err *err)
{
	(void)arg;
	(void)job;
	(void)ws;
	(void)out;
	CHECK(!"the planner ran although the preparer planned");
	return kiln_errf(err, KILN_EINTERNAL, "", "planner called");
}

static int stage_and_plan(void *arg, const struct jobs_claim *job, const char *ws,
			  struct plan **plan, struct kiln_err *err)
{
	int *calls = arg;
	(*calls)++;
	if (strcmp(job->target, "maixcam2") == 0) {
		kiln_errf(err, KILN_EINVAL, "outputs", "the recipe refused this spec");
		return WORKER_EPLAN;
	}
	if (stage_inputs(NULL, job, ws, NULL, err) != 0)
		return -1;
	if (plan == NULL)
		return 0;
	char *text = sh_plan("cat model.onnx", 60, NULL);
	int rc = text ? plan_parse(text, strlen(text), plan, err) : KILN_ENOMEM;
	free(text);
	return rc;
}

static void worker__preparer_plans_from_the_same_reading_and_the_planner_is_not_asked(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0)
		return;
	struct kiln_err err;
	int calls = 0;
	struct worker_conf wc = {.data_dir = e.dir, .workers = 1, .quiet = 1,
				 .preparer = stage_and_plan, .preparer_arg = &calls,
				 .planner = planner_must_not_run};
	if (!CHECKF(worker_start(e.jobs, &wc, &e.pool, &err) == 0, "%s", err.msg))
		return;
	int64_t id = submit(&e, NULL);   /* no plan: the preparer makes it */
	CHECK_STR(wait_final(&e, id, 20000), "succeeded");
	CHECK_INT(calls, 1);
	CHECK(wait_log(&e, id, "model for attempt 1", 0));
	cJSON *pj = NULL;
	CHECK_INT(jobs_get_plan(e.jobs, id, &pj, &err), 0);   /* stored, as a planner's */
	CHECK(cJSON_IsObject(pj));
	cJSON_Delete(pj);
	struct jobs_new jn = {.model = "m", .target = "maixcam2", .spec = NULL};
	cJSON *spec = cJSON_CreateObject();
	jn.spec = spec;
	int64_t bad = 0;
	int hit = 0;
	if (CHECKF(jobs_submit(e.jobs, &jn, &bad, &hit, &err) == 0, "%s", err.msg)) {
		CHECK_STR(wait_final(&e, bad, 20000), "failed");
		cJSON *j = NULL;
		if (CHECK_INT(jobs_get(e.jobs, bad, &j, &err), 0)) {
			cJSON *er = cJSON_GetObjectItem(j, "error");
			CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(er, "code")), "plan_invalid");
			cJSON_Delete(j);
		}
	}
	cJSON_Delete(spec);
	env_close(&e);
}

/* --- 1000 jobs ------------------------------------------------------------------- */

#define MANY 1000

struct many {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int finished;
	int bad;
	char why[256];
	uint64_t last_id[MANY + 1];
	int stage[MANY + 1];   /* 0 none, 1 queued, 2 running, 3 step, 4 progress 1, 5 succeeded */
};

static void many_fn(void *arg, const struct events_item *it)
{
	struct many *m = arg;
	pthread_mutex_lock(&m->lock);
	int64_t j = it->job;
	if (j < 1 || j > MANY) {
		m->bad++;
		pthread_mutex_unlock(&m->lock);
		return;
	}
	if (it->id <= m->last_id[j] && !m->bad++)
		snprintf(m->why, sizeof(m->why), "job %lld: id %llu after %llu", (long long)j,
			 (unsigned long long)it->id, (unsigned long long)m->last_id[j]);
	m->last_id[j] = it->id;
	int next = strstr(it->data, "\"queued\"") ? 1 : strstr(it->data, "\"running\"") ? 2
		 : strcmp(it->type, "step") == 0 ? 3 : strcmp(it->type, "progress") == 0 ? 4
		 : strstr(it->data, "\"succeeded\"") ? 5 : -1;
	if (next != m->stage[j] + 1 && !m->bad++)
		snprintf(m->why, sizeof(m->why), "job %lld: %s %s after stage %d", (long long)j,
			 it->type, it->data, m->stage[j]);
	m->stage[j] = next;
	if (next == 5)
		m->finished++;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void worker__thousand_jobs_two_workers_all_succeed_events_in_order(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0)
		return;
	struct many *m = calloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	struct events_sub *sub;
	struct kiln_err err;
	CHECK_INT(events_subscribe(e.ev, 0, many_fn, m, &sub, &err), 0);
	if (env_start(&e, 2) != 0)
		return;
	const char *plan = "{\"steps\":[{\"name\":\"t\",\"argv\":[\"true\"],\"toolchain\":\"local\"}]}";
	int64_t t0 = now_ms();
	for (int i = 0; i < MANY; i++)
		submit(&e, plan);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 120;
	pthread_mutex_lock(&m->lock);
	while (m->finished < MANY && m->bad == 0)
		if (pthread_cond_timedwait(&m->cond, &m->lock, &dl) != 0)
			break;
	int finished = m->finished, bad = m->bad;
	pthread_mutex_unlock(&m->lock);
	int64_t took = now_ms() - t0;
	CHECKF(bad == 0, "%s", m->why);
	CHECK_INT(finished, MANY);
	cJSON *page = NULL;
	CHECK_INT(jobs_list(e.jobs, "succeeded", 500, 0, &page, &err), 0);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(page, "items")), 500);
	cJSON_Delete(page);
	events_unsubscribe(e.ev, sub);
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db_conn(e.db), "PRAGMA integrity_check", -1, &st, NULL);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_prepare_v2(db_conn(e.db), "SELECT count(*) FROM jobs WHERE state = 'succeeded'",
			   -1, &st, NULL);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	CHECK_INT(sqlite3_column_int(st, 0), MANY);
	sqlite3_finalize(st);
	env_close(&e);
	fprintf(stderr, "%d jobs through 2 workers in %lld ms\n", MANY, (long long)took);
	free(m);
}

/* --- recovery ------------------------------------------------------------------------ */

/* Starts `sleep 1000` in its own process group with env; returns its pid
 * once it has exec'd (close-on-exec pipe reaches EOF). */
static pid_t start_orphan(const char *env)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		setpgid(0, 0);
		putenv((char *)env);
		execlp("sleep", "sleep", "1000", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char b;
	ssize_t r = read(p[0], &b, 1);
	(void)r;
	close(p[0]);
	return pid;
}

static void recover__requeues_fails_interrupted_honours_cancel_and_kills_the_orphan(void)
{
	struct env e;
	if (env_open(&e, NULL, 2) != 0)
		return;
	const char *plan = "{\"steps\":[{\"name\":\"t\",\"argv\":[\"true\"],\"toolchain\":\"local\"}]}";
	int64_t a = submit(&e, plan), b = submit(&e, plan), c = submit(&e, plan);
	struct kiln_err err;
	struct jobs_claim cl;
	for (int i = 0; i < 3; i++) {
		CHECK_INT(jobs_claim(e.jobs, &cl, &err), 0);
		jobs_claim_clear(&cl);
	}
	CHECK_INT(jobs_cancel(e.jobs, c, &err), 0);  /* running: only requested */
	sqlite3_exec(db_conn(e.db), "UPDATE jobs SET attempt = 2 WHERE id = 2", NULL, NULL, NULL);
	char real[600], env[700];
	CHECK(realpath(e.dir, real) != NULL);
	snprintf(env, sizeof(env), "KILN_JOB_DIR=%s/jobs/%lld/work", real, (long long)a);
	pid_t orphan = start_orphan(env);
	CHECK_INT(jobs_set_pgid(e.jobs, a, orphan, &err), 0);
	if (env_start(&e, 1) != 0)  /* recovery happens here */
		return;
	int st;
	CHECK(waitpid(orphan, &st, 0) == orphan && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	CHECK_STR(wait_final(&e, a, 20000), "succeeded");
	CHECK_STR(wait_final(&e, b, 20000), "failed");
	CHECK_STR(wait_final(&e, c, 20000), "cancelled");
	cJSON *j = NULL;
	if (CHECK_INT(jobs_get(e.jobs, a, &j, &err), 0)) {
		CHECK_INT(cJSON_GetObjectItem(j, "attempt")->valueint, 2);
		cJSON_Delete(j);
	}
	if (CHECK_INT(jobs_get(e.jobs, b, &j, &err), 0)) {
		cJSON *er = cJSON_GetObjectItem(j, "error");
		CHECK_STR(cJSON_GetObjectItem(er, "code")->valuestring, "interrupted");
		cJSON_Delete(j);
	}
	cJSON *page = NULL;
	CHECK_INT(jobs_list(e.jobs, "running", 10, 0, &page, &err), 0);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(page, "items")), 0);
	cJSON_Delete(page);
	env_close(&e);
}

/* engine = slurm, the store's side: a step the cluster lost runs again as
 * the next attempt while max_attempts allows, then fails with the reason;
 * "slurm_steps" keeps where each Slurm job ran, once per Slurm job. */
static void retry_lost__requeues_then_fails_and_slurm_steps_name_each_node(void)
{
	struct env e;
	if (env_open(&e, NULL, 2) != 0)
		return;
	const char *plan = "{\"steps\":[{\"name\":\"t\",\"argv\":[\"true\"],\"toolchain\":\"local\"}]}";
	int64_t id = submit(&e, plan);
	struct kiln_err err;
	struct jobs_claim cl;
	int requeued = -1;
	for (int attempt = 1; attempt <= 2; attempt++) {
		CHECK_INT(jobs_claim(e.jobs, &cl, &err), 0);
		CHECK(cl.id == id && cl.attempt == attempt);
		jobs_claim_clear(&cl);
		CHECK_INT(jobs_step(e.jobs, id, 0, 1, "t", 0, &err), 0);
		CHECK_INT(jobs_set_slurm(e.jobs, id, "t", 100 + attempt, &err), 0);
		CHECK_INT(jobs_set_slurm(e.jobs, id, "t", 100 + attempt, &err), 0);  /* re-attach */
		CHECK_INT(jobs_set_slurm_node(e.jobs, id, "t", 100 + attempt, attempt == 1 ? "n1" : "n2",
					      &err), 0);
		CHECK_INT(jobs_retry_lost(e.jobs, id, "step_failed", "NODE_FAIL on n1", &requeued, &err),
			  0);
		CHECK_INT(requeued, attempt == 1);
	}
	cJSON *j = NULL;
	if (CHECK_INT(jobs_get(e.jobs, id, &j, &err), 0)) {
		CHECK_STR(cJSON_GetObjectItem(j, "state")->valuestring, "failed");
		CHECK_INT(cJSON_GetObjectItem(j, "attempt")->valueint, 2);
		CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")->valuestring,
			  "NODE_FAIL on n1");
		char *steps = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "slurm_steps"));
		CHECK_STR(steps, "[{\"attempt\":1,\"step\":\"t\",\"slurm_job\":101,\"node\":\"n1\"},"
			  "{\"attempt\":2,\"step\":\"t\",\"slurm_job\":102,\"node\":\"n2\"}]");
		free(steps);
		cJSON_Delete(j);
	}
	env_close(&e);
}

/* Reads one line (a pid) from the FIFO: opening blocks until the step
 * opens it for writing. */
static pid_t read_fifo_pid(const char *fifo)
{
	int fd = open(fifo, O_RDONLY);
	if (fd < 0)
		return -1;
	char buf[32] = "";
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? (pid_t)atoi(buf) : -1;
}

static void restart__kill9_mid_step_requeues_the_job_and_leaves_no_orphan(void)
{
	const char *dir = kt_tmpdir();
	char fifo[600], script[1600];
	snprintf(fifo, sizeof(fifo), "%s/pid.fifo", dir);
	CHECK(mkfifo(fifo, 0600) == 0);
	snprintf(script, sizeof(script), "echo $$ > '%s'; exec sleep 1000", fifo);
	char *plan = sh_plan(script, 600, NULL);
	pid_t daemon = fork();
	if (daemon == 0) {
		/* the "kilnd" that will be killed: its own db, hub, jobs, pool */
		struct env e;
		if (env_open(&e, dir, 2) != 0 || env_start(&e, 1) != 0)
			_exit(3);
		submit(&e, plan);
		for (;;)
			pause();
	}
	pid_t step = read_fifo_pid(fifo);
	CHECK(step > 0);
	kill(daemon, SIGKILL);
	int st;
	CHECK(waitpid(daemon, &st, 0) == daemon && WIFSIGNALED(st));
	CHECK(kill(step, 0) == 0);  /* the step outlived its daemon: an orphan */
	struct env e;
	if (env_open(&e, dir, 2) != 0)
		return;
	char state[16];
	struct kiln_err err;
	CHECK_INT(jobs_state(e.jobs, 1, state, sizeof(state), &err), 0);
	CHECK_STR(state, "running");
	if (env_start(&e, 1) != 0)  /* the restart */
		return;
	CHECKF(exited_within(step, 5000), "orphan %d still alive", (int)step);
	pid_t again = read_fifo_pid(fifo);  /* the requeued job runs again */
	CHECK(again > 0 && again != step);
	cJSON *j = NULL;
	if (CHECK_INT(jobs_get(e.jobs, 1, &j, &err), 0)) {
		CHECK_INT(cJSON_GetObjectItem(j, "attempt")->valueint, 2);
		CHECK_STR(cJSON_GetObjectItem(j, "state")->valuestring, "running");
		cJSON_Delete(j);
	}
	CHECK_INT(jobs_cancel(e.jobs, 1, &err), 0);
	CHECK_STR(wait_final(&e, 1, 20000), "cancelled");
	CHECK(exited_within(again, 5000));
	char path[700];
	snprintf(path, sizeof(path), "%s/jobs/1/log.1.txt", dir);
	CHECK(access(path, F_OK) == 0);
	free(plan);
	env_close(&e);
}

static void shutdown__worker_stop_requeues_the_running_job_and_stops_its_process(void)
{
	struct env e;
	if (env_open(&e, NULL, 0) != 0 || env_start(&e, 1) != 0)
		return;
	char *p = sh_plan("sleep 1000 & echo child $!; echo ready; wait", 600, NULL);
	int64_t id = submit(&e, p);
	free(p);
	if (!CHECK(wait_log(&e, id, "ready", 20000)))
		return;
	char log[700];
	snprintf(log, sizeof(log), "%s/jobs/%lld/log.txt", e.dir, (long long)id);
	worker_stop(e.pool);
	e.pool = NULL;
	char *text = kt_read_file(log, NULL);
	char *c = text ? strstr(text, "\nchild ") : NULL;
	pid_t child = c ? (pid_t)atoi(c + 7) : -1;
	CHECK(child > 0 && exited_within(child, 5000));
	free(text);
	struct kiln_err err;
	cJSON *j = NULL;
	if (CHECK_INT(jobs_get(e.jobs, id, &j, &err), 0)) {
		CHECK_STR(cJSON_GetObjectItem(j, "state")->valuestring, "queued");
		CHECK_INT(cJSON_GetObjectItem(j, "attempt")->valueint, 1);
		cJSON_Delete(j);
	}
	env_close(&e);
}

static const struct kt_test tests[] = {
	{"worker__runs_a_job_to_succeeded_with_events_in_order",
	 worker__runs_a_job_to_succeeded_with_events_in_order},
	{"worker__failed_step_records_the_code_and_the_tools_last_line",
	 worker__failed_step_records_the_code_and_the_tools_last_line},
	{"worker__missing_output_and_timeout_fail_with_their_codes",
	 worker__missing_output_and_timeout_fail_with_their_codes},
	{"worker__cancel_while_running_ends_cancelled_within_5s",
	 worker__cancel_while_running_ends_cancelled_within_5s},
	{"worker__cancel_while_queued_is_immediate_and_the_job_never_runs",
	 worker__cancel_while_queued_is_immediate_and_the_job_never_runs},
	{"worker__retry_runs_a_new_attempt_and_keeps_the_old_log",
	 worker__retry_runs_a_new_attempt_and_keeps_the_old_log},
	{"worker__chatty_tool_is_capped_in_the_log_and_streamed_as_events",
	 worker__chatty_tool_is_capped_in_the_log_and_streamed_as_events},
	{"worker__preparer_stages_inputs_on_every_attempt",
	 worker__preparer_stages_inputs_on_every_attempt},
	{"worker__preparer_plans_from_the_same_reading_and_the_planner_is_not_asked",
	 worker__preparer_plans_from_the_same_reading_and_the_planner_is_not_asked},
	{"jobs__submit_checks_input_and_list_pages_newest_first",
	 jobs__submit_checks_input_and_list_pages_newest_first},
	{"jobs__cache_hit_finishes_at_once_with_the_same_bundle",
	 jobs__cache_hit_finishes_at_once_with_the_same_bundle},
	{"worker__thousand_jobs_two_workers_all_succeed_events_in_order",
	 worker__thousand_jobs_two_workers_all_succeed_events_in_order},
	{"recover__requeues_fails_interrupted_honours_cancel_and_kills_the_orphan",
	 recover__requeues_fails_interrupted_honours_cancel_and_kills_the_orphan},
	{"retry_lost__requeues_then_fails_and_slurm_steps_name_each_node",
	 retry_lost__requeues_then_fails_and_slurm_steps_name_each_node},
	{"restart__kill9_mid_step_requeues_the_job_and_leaves_no_orphan",
	 restart__kill9_mid_step_requeues_the_job_and_leaves_no_orphan},
	{"shutdown__worker_stop_requeues_the_running_job_and_stops_its_process",
	 shutdown__worker_stop_requeues_the_running_job_and_stops_its_process},
};

int main(int argc, char **argv)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return kt_main("test_jobs_queue", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
