/*
 * worker: threads that claim jobs and run their plans (see worker.h).
 *
 * The pool's mutex guards only the wake-up sequence number, the stop flag
 * and which job each worker runs; no database call or process wait happens
 * under it.  A wake-up is a counter plus a condition variable: a worker
 * reads the counter, tries to claim, and waits only while the counter is
 * unchanged, so a submit that lands between its claim and its wait is
 * never lost.  Knows nothing of HTTP; the server wires jobs_* to routes
 * and events to SSE.
 */
#include "runtime/worker.h"

#include <dirent.h>
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

#include "runtime/exec.h"
#include "runtime/logparse.h"
#include "runtime/toolchain.h"
#include "runtime/slurm.h"
#include "runtime/fsutil.h"

struct worker {
	struct worker_pool *pool;
	pthread_t thread;
	int started;
	struct exec_cancel *cancel;
	int64_t job;          /* guarded by pool->lock; 0 when idle */
	int shutdown;         /* guarded by pool->lock: the cancel means "stop" */
};

struct worker_pool {
	struct jobs *jobs;
	struct events *events;
	char data_dir[PATH_MAX];   /* absolute */
	struct engine_conf *engines;
	size_t n_engines;
	size_t log_cap;
	int grace_ms;
	worker_prepare_fn preparer;
	void *preparer_arg;
	worker_plan_fn planner;
	void *planner_arg;
	worker_finish_fn finisher;
	void *finisher_arg;
	int quiet;
	int remove_succeeded, remove_failed;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t wake_seq;
	int stopping;
	int n;
	struct worker w[WORKER_MAX];
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- hooks from jobs.c ------------------------------------------------------------ */

static void on_queued(void *arg, int64_t id)
{
	(void)id;
	struct worker_pool *p = arg;
	pthread_mutex_lock(&p->lock);
	p->wake_seq++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void on_cancel(void *arg, int64_t id)
{
	struct worker_pool *p = arg;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->n; i++)
		if (p->w[i].job == id)
			exec_cancel_fire(p->w[i].cancel);
	pthread_mutex_unlock(&p->lock);
}

/* --- files ------------------------------------------------------------------------ */

static int mkdir_p(const char *path)
{
	/* the parent usually exists: one call instead of one per component */
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* log.txt and log.<attempt>.txt, the files a job keeps for good. */
static int is_log_name(const char *name)
{
	if (strcmp(name, "log.txt") == 0)
		return 1;
	if (strncmp(name, "log.", 4) != 0)
		return 0;
	const char *p = name + 4;
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return strcmp(p, ".txt") == 0;
}

int worker_remove_workspace(const char *data_dir, int64_t id)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/jobs/%lld", data_dir, (long long)id);
	DIR *d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	int removed = 0, failed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    is_log_name(de->d_name))
			continue;
		char p[PATH_MAX + 300];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (fs_rm_rf(p) == 0)
			removed = 1;
		else
			failed = 1;
	}
	closedir(d);
	return failed ? -1 : removed;
}

static int write_file(const char *dir, const struct plan_file *f, struct kiln_err *err)
{
	char path[PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	/* O_EXCL|O_NOFOLLOW: the directory is fresh; nothing may be there */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      f->executable ? 0755 : 0644);
	if (fd < 0)
		return kiln_errf(err, KILN_EIO, "", "cannot create %s: %s", path, strerror(errno));
	const char *p = f->content;
	size_t n = f->size;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;
			close(fd);
			return kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", path, strerror(e));
		}
		p += w;
		n -= (size_t)w;
	}
	if (close(fd) != 0)
		return kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* --- text for events ------------------------------------------------------------------ */

/* Copies at most cap-1 bytes of s, replacing bytes that are not valid UTF-8
 * with '?', so every event is valid JSON text for a browser. */
static void utf8_clean(char *dst, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		int ok = len > 0 && i + len <= n && !(len == 2 && c < 0xC2);
		for (size_t k = 1; ok && k < len; k++)
			if (((unsigned char)s[i + k] >> 6) != 2)
				ok = 0;
		if (!ok || o + len + 1 > cap) {
			if (!ok)
				dst[o++] = '?';
			else
				break;
			i++;
			continue;
		}
		memcpy(dst + o, s + i, len);
		o += len;
		i += len;
	}
	dst[o] = '\0';
}

/* --- running one job ---------------------------------------------------------------- */

struct step_ctx {
	struct worker_pool *pool;
	struct worker *w;
	int64_t job;
	const char *step;
	int index, n_steps;
	int recorded;            /* jobs_step was called for this step */
	struct logparse *parser;
	cJSON *figures;          /* the job's; parsers append to it */
	int new_figures;
	int n_figures;           /* in figures, as last counted */
	int n_figures_at_start;  /* before this step's */
	char last_line[200];     /* the last non-empty line: a failure's likely cause */
	double base, share;      /* the job's progress before this step, and the step's part */
	double shown;            /* the job's progress last written */
};

static void publish_json(struct worker_pool *p, int64_t job, const char *type, cJSON *d)
{
	if (d == NULL)
		return;
	char *s = cJSON_PrintUnformatted(d);
	cJSON_Delete(d);
	if (s != NULL)
		events_publish(p->events, job, type, s, NULL);
	free(s);
}

static void on_line(void *arg, int stream, const char *line, size_t len)
{
	struct step_ctx *c = arg;
	if (len > 0) {
		size_t n = len < sizeof(c->last_line) - 1 ? len : sizeof(c->last_line) - 1;
		utf8_clean(c->last_line, sizeof(c->last_line), line, n);
	}
	if (c->parser && c->n_figures < WORKER_MAX_FIGURES) {
		int before = cJSON_GetArraySize(c->figures);
		int added = logparse_line(c->parser, line, len, c->figures);
		for (int i = 0; i < added; i++) {
			cJSON *f = cJSON_GetArrayItem(c->figures, before + i);
			cJSON_AddStringToObject(f, "step", c->step);
			publish_json(c->pool, c->job, "figure", cJSON_Duplicate(f, 1));
		}
		c->new_figures += added;
		c->n_figures = before + added;
	}
	/* The tool's own progress bar moves the job's progress inside the
	 * step (a Pulsar2 build would otherwise sit at one value for its
	 * whole run); logparse_progress reports only steps of 1 %. */
	double f;
	if (c->parser && logparse_progress(c->parser, line, len, &f)) {
		double prog = c->base + c->share * f;
		struct kiln_err err;
		if (prog > c->shown && jobs_progress(c->pool->jobs, c->job, prog, NULL, &err) == 0)
			c->shown = prog;
	}
	if (c->pool->events == NULL || len == 0)
		return;
	char clean[WORKER_EVENT_LINE_MAX + 1];
	utf8_clean(clean, sizeof(clean), line, len);
	cJSON *d = cJSON_CreateObject();
	if (d == NULL)
		return;
	cJSON_AddStringToObject(d, "step", c->step);
	cJSON_AddStringToObject(d, "stream", stream == 2 ? "stderr" : "stdout");
	cJSON_AddStringToObject(d, "line", clean);
	publish_json(c->pool, c->job, "log", d);
}

/* The step row and event are written once the process exists, so the row
 * carries its process group (for a restart's clean-up) in the same write,
 * and the step event still precedes every log line of the step. */
static void on_spawn(void *arg, pid_t pgid)
{
	struct step_ctx *c = arg;
	struct kiln_err err;
	c->recorded = 1;
	if (jobs_step(c->pool->jobs, c->job, c->index, c->n_steps, c->step, pgid, &err) != 0)
		fprintf(stderr, "level=warn job=%lld msg=\"cannot record step %s: %s\"\n",
			(long long)c->job, c->step, err.msg);
}

/* A Slurm step "exists" once sbatch answered: the row names the step and
 * its Slurm job in two writes (a crash between them reruns the step). */
static void on_submit(void *arg, int64_t slurm_job)
{
	struct step_ctx *c = arg;
	struct kiln_err err;
	on_spawn(arg, 0);
	if (jobs_set_slurm(c->pool->jobs, c->job, c->step, slurm_job, &err) != 0)
		fprintf(stderr, "level=warn job=%lld msg=\"cannot record Slurm job %lld: %s\"\n",
			(long long)c->job, (long long)slurm_job, err.msg);
}

/* Where the Slurm job runs, for the dashboard ("slurm_steps"). */
static void on_node(void *arg, int64_t slurm_job, const char *node)
{
	struct step_ctx *c = arg;
	struct kiln_err err;
	if (jobs_set_slurm_node(c->pool->jobs, c->job, c->step, slurm_job, node, &err) != 0)
		fprintf(stderr, "level=warn job=%lld msg=\"cannot record the node of Slurm job "
			"%lld: %s\"\n", (long long)c->job, (long long)slurm_job, err.msg);
}

/* kilnd is stopping (not a user's cancel): a Slurm step stays in Slurm. */
static int detach(void *arg)
{
	struct step_ctx *c = arg;
	pthread_mutex_lock(&c->pool->lock);
	int stopping = c->w->shutdown;
	pthread_mutex_unlock(&c->pool->lock);
	return stopping;
}

/* The outcome of a job, to be written by finish(). */
struct verdict {
	int resume;              /* with state NULL: requeue to follow the Slurm step again */
	int lost;                /* failed: the cluster lost the step; another attempt if any */
	const char *state;       /* succeeded, failed, cancelled, or NULL = requeue */
	const char *code;
	char msg[sizeof(((struct kiln_err *)0)->msg)];
};

static void fail(struct verdict *v, const char *code, const char *fmt, const char *a,
		 const char *b)
{
	v->state = "failed";
	v->code = code;
	/* messages are cut at the buffer's size; the log has the details */
	if (snprintf(v->msg, sizeof(v->msg), fmt, a, b ? b : "") < 0)
		v->msg[0] = '\0';
}

static void join_argv(char *out, size_t cap, char *const *argv)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; argv[i] && o + 1 < cap; i++) {
		int n = snprintf(out + o, cap - o, "%s%s", i ? " " : "", argv[i]);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

/* A step that failed after printing a figure marked FAILED (npz_tool
 * compare's "[out] NOT_SIMLIAR [FAILED]", which makes model_deploy exit 1)
 * failed its tolerance: the job's error names that figure and the
 * tolerance the step was given, not only the tool's last line. */
static int failed_figure(const cJSON *figures, int from, const struct plan_step *s, char *out,
			 size_t cap)
{
	const char *tol = NULL;
	for (size_t i = 0; s->argv[i] && s->argv[i + 1]; i++)
		if (strcmp(s->argv[i], "--tolerance") == 0)
			tol = s->argv[i + 1];
	int n = cJSON_GetArraySize(figures);
	for (int i = from; i < n; i++) {
		const cJSON *f = cJSON_GetArrayItem(figures, i);
		if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(f, "passed")))
			continue;
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(f, "cosine");
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(f, "euclidean");
		const char *cmp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "compare"));
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "output"));
		char figs[96] = "";
		if (cJSON_IsNumber(c) && cJSON_IsNumber(e))
			snprintf(figs, sizeof(figs), "cosine %.6g, euclidean %.6g", c->valuedouble,
				 e->valuedouble);
		else if (cJSON_IsNumber(c))
			snprintf(figs, sizeof(figs), "cosine %.6g", c->valuedouble);
		snprintf(out, cap, "output '%.120s'%s%s%s %s is below the tolerance%s%s (the "
			 "similarity check failed; see the results table)",
			 name ? name : "?", cmp ? " (" : "", cmp ? cmp : "", cmp ? ")" : "", figs, tol ? " " : "",
			 tol ? tol : "");
		return 1;
	}
	return 0;
}

static void run_steps(struct worker *w, const struct jobs_claim *job, struct plan *plan,
		      const char *workdir, struct joblog *log, cJSON *figures,
		      struct verdict *v)
{
	struct worker_pool *p = w->pool;
	struct kiln_err err;
	double total = plan_total_weight(plan), done = 0;
	char marker_id[64], marker_dir[PATH_MAX + 64];
	snprintf(marker_id, sizeof(marker_id), "KILN_JOB_ID=%lld", (long long)job->id);
	snprintf(marker_dir, sizeof(marker_dir), "KILN_JOB_DIR=%s", workdir);
	/* The marker lets a restarted kilnd recognise processes this one left */
	const char *extra_env[] = {marker_id, marker_dir, NULL};
	size_t first = job->resume_step > 0 ? (size_t)job->resume_step : 0;
	for (size_t i = 0; i < first && i < plan->n_steps; i++)
		done += plan->steps[i].weight;
	for (size_t i = first; i < plan->n_steps; i++) {
		const struct plan_step *s = &plan->steps[i];
		if (exec_cancel_fired(w->cancel)) {
			v->state = "cancelled";
			v->code = "cancelled";
			snprintf(v->msg, sizeof(v->msg), "cancelled before step '%s'", s->name);
			return;
		}
		const struct engine_conf *ec = engine_find(p->engines, p->n_engines, s->toolchain);
		if (ec == NULL) {
			jobs_step(p->jobs, job->id, (int)i, (int)plan->n_steps, s->name, 0, &err);
			fail(v, "toolchain_unavailable",
			     "toolchain '%s' is not configured: add a [toolchain.%s] section to kiln.ini",
			     s->toolchain, s->toolchain);
			return;
		}
		char cname[128];
		struct engine_cmd cmd;
		memset(&cmd, 0, sizeof(cmd));
		if (engine_container_name(job->id, s->name, cname, sizeof(cname), &err) != 0 ||
		    engine_command(ec, workdir, cname, s->argv, extra_env, &cmd, &err) != 0) {
			engine_cmd_free(&cmd);
			fail(v, "toolchain_unavailable", "step '%s': %s", s->name, err.msg);
			return;
		}
		char shown[1024];
		join_argv(shown, sizeof(shown), cmd.argv);
		joblog_printf(log, "step %zu/%zu %s (%s, %s): %s", i + 1, plan->n_steps, s->name,
				s->toolchain, ec->engine, shown);
		struct step_ctx ctx = {
			.pool = p, .w = w, .job = job->id, .step = s->name, .figures = figures,
			.index = (int)i, .n_steps = (int)plan->n_steps,
			.n_figures = cJSON_GetArraySize(figures),
			.n_figures_at_start = cJSON_GetArraySize(figures),
			.base = total > 0 ? done / total : (double)i / (double)plan->n_steps,
			.share = total > 0 ? s->weight / total : 1.0 / (double)plan->n_steps,
		};
		ctx.shown = ctx.base;
		if (toolchain_logparse_new(s->parser, &ctx.parser, &err) != 0) {
			engine_cmd_free(&cmd);
			fail(v, "plan_invalid", "step '%s': %s", s->name, err.msg);
			return;
		}
		struct exec_req req = {
			.argv = cmd.argv, .envp = cmd.envp, .search_path = cmd.search_path,
			.cwd = workdir, .timeout_ms = s->timeout_s * 1000, .grace_ms = p->grace_ms,
			.outputs = (const char *const *)s->outputs, .kill_argv = cmd.kill_argv,
			.cleanup_argv = cmd.cleanup_argv, .log = log, .on_line = on_line,
			.arg = &ctx, .on_spawn = on_spawn, .cancel = w->cancel,
		};
		struct exec_result res;
		int rc, lost = 0;
		if (engine_is_slurm(ec)) {
			struct slurm_step ss = {
				.conf = ec, .job = job->id, .step = s->name, .workspace = workdir,
				.cmd = &cmd, .timeout_ms = s->timeout_s * 1000,
				.outputs = (const char *const *)s->outputs, .log = log,
				.on_line = on_line, .arg = &ctx, .on_submit = on_submit,
				.cancel = w->cancel, .detach = detach, .on_node = on_node,
				.lost = &lost,
				.attach = job->resume_step >= 0 && i == (size_t)job->resume_step
						  ? job->slurm_job : 0,
			};
			rc = slurm_run(&ss, &res, &err);
		} else {
			rc = exec_run(&req, &res, &err);
		}
		if (!ctx.recorded) {  /* never started: the row still names the step */
			struct kiln_err e2;
			jobs_step(p->jobs, job->id, (int)i, (int)plan->n_steps, s->name, 0, &e2);
		}
		int before = cJSON_GetArraySize(figures);
		int added = logparse_end(ctx.parser, figures);
		for (int k = 0; k < added; k++) {
			cJSON *f = cJSON_GetArrayItem(figures, before + k);
			cJSON_AddStringToObject(f, "step", s->name);
			publish_json(p, job->id, "figure", cJSON_Duplicate(f, 1));
		}
		ctx.new_figures += added;
		logparse_free(ctx.parser);
		engine_cmd_free(&cmd);
		joblog_printf(log, "step %s: %s (%s) after %lld ms", s->name,
				rc == 0 ? "ok" : err.msg, exec_outcome_name(res.outcome),
				(long long)res.dur_ms);
		if (!p->quiet)
			fprintf(stderr, "level=info job=%lld step=%s msg=\"%s\" dur_ms=%lld\n",
				(long long)job->id, s->name, rc == 0 ? "ok" : err.msg,
				(long long)res.dur_ms);
		if (rc != 0) {
			switch (res.outcome) {
			case EXEC_CANCELLED:
				if (res.pid == -1) {  /* left in Slurm by detach() */
					v->state = NULL;
					v->code = NULL;
					v->resume = 1;
					return;
				}
				v->state = "cancelled";
				v->code = "cancelled";
				snprintf(v->msg, sizeof(v->msg), "cancelled during step '%s'", s->name);
				return;
			case EXEC_TIMEOUT:
				fail(v, "timeout", "step '%s' %s", s->name, err.msg);
				return;
			case EXEC_MISSING_OUTPUT:
				fail(v, "missing_output", "step '%s' %s", s->name, err.msg);
				return;
			case EXEC_SPAWN_FAILED:
				fail(v, "spawn_failed", "step '%s': %s", s->name, err.msg);
				return;
			default: {
				char why[1024];  /* err.msg and the last line; fail() cuts it to the verdict */
				if (failed_figure(figures, ctx.n_figures_at_start, s, why,
						  sizeof(why))) {
					fail(v, "below_tolerance", "step '%s': %s", s->name, why);
					return;
				}
				snprintf(why, sizeof(why), "%s%s%s", err.msg,
					 ctx.last_line[0] ? ": " : "", ctx.last_line);
				fail(v, "step_failed", "step '%s' %s", s->name, why);
				v->lost = lost;
				return;
			}
			}
		}
		done += s->weight;
		if (i + 1 < plan->n_steps) {
			double prog = total > 0 ? done / total : (double)(i + 1) / (double)plan->n_steps;
			char *fj = ctx.new_figures ? cJSON_PrintUnformatted(figures) : NULL;
			if (jobs_progress(p->jobs, job->id, prog, fj, &err) != 0 && !p->quiet)
				fprintf(stderr, "level=warn job=%lld msg=\"%s\"\n", (long long)job->id,
					err.msg);
			free(fj);
		}
	}
	v->state = "succeeded";
	v->code = NULL;
	v->msg[0] = '\0';
}

static void run_job(struct worker *w, const struct jobs_claim *job)
{
	struct worker_pool *p = w->pool;
	struct kiln_err err;
	struct verdict v = {.state = "failed", .code = "internal", .msg = "internal error"};
	char dir[PATH_MAX + 32], workdir[PATH_MAX + 40], logpath[PATH_MAX + 48];
	struct joblog *log = NULL;
	struct plan *plan = NULL;
	cJSON *figures = cJSON_CreateArray();
	char bundle[JOBS_ID_MAX + 1] = "";
	int64_t t0 = mono_ms();
	int requested = 0;

	/* A cancel that arrived between the claim and here was written to the
	 * row first (jobs_cancel), so reading the row now cannot miss it. */
	if (jobs_cancel_requested(p->jobs, job->id, &requested, &err) == 0 && requested)
		exec_cancel_fire(w->cancel);

	snprintf(dir, sizeof(dir), "%s/jobs/%lld", p->data_dir, (long long)job->id);
	snprintf(workdir, sizeof(workdir), "%s/work", dir);
	snprintf(logpath, sizeof(logpath), "%s/log.txt", dir);
	if (figures == NULL || mkdir_p(dir) != 0) {
		fail(&v, "workspace", "cannot create %s: %s", dir, strerror(errno));
		goto finish;
	}
	int resume = job->resume_step >= 0 && job->slurm_job > 0;
	char *old_log = NULL;
	size_t old_len = 0;
	if (resume) {
		/* the same attempt goes on: its log so far stays at the top */
		FILE *f = fopen(logpath, "re");
		if (f != NULL) {
			old_log = malloc(p->log_cap);
			old_len = old_log ? fread(old_log, 1, p->log_cap, f) : 0;
			fclose(f);
		}
	} else if (job->attempt > 1) {
		/* keep the previous attempt's log beside the new one */
		char old[PATH_MAX + 64];
		snprintf(old, sizeof(old), "%s/log.%d.txt", dir, job->attempt - 1);
		rename(logpath, old);
	}
	if (joblog_open(logpath, p->log_cap, &log, &err) != 0) {
		free(old_log);
		fail(&v, "workspace", "%s%s", err.msg, NULL);
		goto finish;
	}
	if (old_len > 0)
		joblog_write(log, old_log, old_len);
	free(old_log);
	if (resume) {
		joblog_printf(log, "kilnd restarted: job %lld attempt %d goes on at step %d, "
				"Slurm job %lld", (long long)job->id, job->attempt,
				job->resume_step + 1, (long long)job->slurm_job);
		if (job->figures_json != NULL) {
			cJSON *fj = cJSON_Parse(job->figures_json);
			if (cJSON_IsArray(fj)) {
				cJSON_Delete(figures);
				figures = fj;
			} else {
				cJSON_Delete(fj);
			}
		}
		if (job->plan_json == NULL ||
		    plan_parse(job->plan_json, strlen(job->plan_json), &plan, &err) != 0 ||
		    (size_t)job->resume_step >= plan->n_steps) {
			fail(&v, "internal", "cannot re-attach to the Slurm job: the stored plan is "
			     "missing or does not have step %s%s", "", NULL);
			goto finish;
		}
		run_steps(w, job, plan, workdir, log, figures, &v);
		goto finished_steps;
	}
	joblog_printf(log, "job %lld attempt %d: model %s, target %s", (long long)job->id,
			job->attempt, job->model, job->target);
	/* A new attempt starts from the plan's files only, as a person re-running
	 * the commands in a clean directory would. */
	if (fs_rm_rf(workdir) != 0 || mkdir_p(workdir) != 0) {
		fail(&v, "workspace", "cannot prepare %s: %s", workdir, strerror(errno));
		goto finish;
	}
	if (p->preparer != NULL) {
		int rc = p->preparer(p->preparer_arg, job, workdir,
				     job->plan_json != NULL ? NULL : &plan, &err);
		if (rc == WORKER_EPLAN) {
			fail(&v, "plan_invalid", "cannot plan this job: %s%s", err.msg, NULL);
			goto finish;
		}
		if (rc != 0) {
			fail(&v, "inputs", "cannot put the job's inputs in its workspace: %s%s",
			     err.msg, NULL);
			goto finish;
		}
	}
	if (job->plan_json != NULL) {
		if (plan_parse(job->plan_json, strlen(job->plan_json), &plan, &err) != 0) {
			fail(&v, "plan_invalid", "the stored plan is not valid: %s%s", err.msg, NULL);
			goto finish;
		}
	} else if (plan != NULL || p->planner != NULL) {
		if (plan == NULL && p->planner(p->planner_arg, job, workdir, &plan, &err) != 0) {
			fail(&v, "plan_invalid", "cannot plan this job: %s%s", err.msg, NULL);
			goto finish;
		}
		if (plan_validate(plan, &err) != 0) {
			fail(&v, "plan_invalid", "the recipe made an invalid plan: %s%s", err.msg, NULL);
			goto finish;
		}
		char *pj = plan_to_string(plan);
		int rc = pj ? jobs_set_plan(p->jobs, job->id, pj, &err) : KILN_ENOMEM;
		free(pj);
		if (rc != 0) {
			fail(&v, "internal", "cannot store the plan: %s%s", err.msg, NULL);
			goto finish;
		}
	} else {
		fail(&v, "no_plan", "the job has no plan and kilnd has no planner for target %s%s",
		     job->target, NULL);
		goto finish;
	}
	for (size_t i = 0; i < plan->n_files; i++) {
		if (write_file(workdir, &plan->files[i], &err) != 0) {
			fail(&v, "workspace", "%s%s", err.msg, NULL);
			goto finish;
		}
	}
	run_steps(w, job, plan, workdir, log, figures, &v);
finished_steps:
	if (v.state != NULL && strcmp(v.state, "succeeded") == 0 && p->finisher != NULL) {
		if (p->finisher(p->finisher_arg, job, plan, workdir, figures, bundle, sizeof(bundle),
				&err) != 0) {
			/* the finisher's own similarity check (worker.h) */
			if (strcmp(err.field, "tolerance") == 0)
				fail(&v, "below_tolerance", "%s%s", err.msg, NULL);
			else
				fail(&v, "bundle_failed", "cannot make the bundle: %s%s", err.msg, NULL);
		}
	}
	if (v.state != NULL && strcmp(v.state, "cancelled") == 0) {
		pthread_mutex_lock(&p->lock);
		if (w->shutdown) {
			v.state = NULL;  /* kilnd is stopping: the job goes back in the queue */
			v.code = NULL;
		}
		pthread_mutex_unlock(&p->lock);
	}
finish:;
	/* A succeeded job's workspace has given what it made to the bundle
	 * (blobs now); a failed one is evidence, kept unless told otherwise
	 * (the server's sweep removes it when it expires).  Requeued: kept,
	 * the next attempt starts by emptying it anyway. */
	if (v.state != NULL && (strcmp(v.state, "succeeded") == 0 ? p->remove_succeeded
								   : p->remove_failed) &&
	    fs_rm_rf(workdir) != 0)
		fprintf(stderr, "level=warn job=%lld msg=\"cannot remove the workspace %s: %s\"\n",
			(long long)job->id, workdir, strerror(errno));
	char *fj = figures ? cJSON_PrintUnformatted(figures) : NULL;
	int rc;
	int again = 0;
	if (v.state != NULL && v.lost)
		rc = jobs_retry_lost(p->jobs, job->id, v.code, v.msg, &again, &err);
	else if (v.state == NULL && v.resume)
		rc = jobs_requeue_resume(p->jobs, job->id, &err);
	else if (v.state == NULL)
		rc = jobs_requeue(p->jobs, job->id, &err);
	else
		rc = jobs_finish(p->jobs, job->id, v.state, v.code,
				 v.code ? v.msg : NULL, bundle[0] ? bundle : NULL, fj, &err);
	if (again)
		joblog_printf(log, "job attempt %d failed: %s; the cluster lost the step, so it "
				"runs again as attempt %d", job->attempt, v.msg, job->attempt + 1);
	else
		joblog_printf(log, "job %s%s%s", v.state ? v.state : "requeued (kilnd is stopping)",
				v.code ? ": " : "", v.code ? v.msg : "");
	if (rc != 0)
		fprintf(stderr, "level=error job=%lld msg=\"cannot record the result: %s\"\n",
			(long long)job->id, err.msg);
	if (!p->quiet)
		fprintf(stderr, "level=info job=%lld state=%s code=%s dur_ms=%lld\n",
			(long long)job->id, v.state && !again ? v.state : "queued", v.code ? v.code : "-",
			(long long)(mono_ms() - t0));
	free(fj);
	cJSON_Delete(figures);
	plan_free(plan);
	joblog_close(log);
}

static void *worker_main(void *arg)
{
	/* its own name in profiles and top, not its creator's ("MHD-worker") */
	pthread_setname_np(pthread_self(), "kiln-worker");
	struct worker *w = arg;
	struct worker_pool *p = w->pool;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		uint64_t seen = p->wake_seq;
		int stop = p->stopping;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			break;
		struct jobs_claim job;
		struct kiln_err err;
		int rc = jobs_claim(p->jobs, &job, &err);
		if (rc == 0 && job.id != 0) {
			pthread_mutex_lock(&p->lock);
			w->job = job.id;
			w->shutdown = p->stopping;
			exec_cancel_reset(w->cancel);
			if (p->stopping)
				exec_cancel_fire(w->cancel);
			pthread_mutex_unlock(&p->lock);
			run_job(w, &job);
			pthread_mutex_lock(&p->lock);
			w->job = 0;
			pthread_mutex_unlock(&p->lock);
			jobs_claim_clear(&job);
			continue;
		}
		if (rc != 0) {
			fprintf(stderr, "level=error msg=\"cannot claim a job: %s\"\n", err.msg);
			if (job.id != 0) {
				/* claimed but unreadable: fail it rather than leave it running */
				jobs_finish(p->jobs, job.id, "failed", "internal", err.msg, NULL, NULL,
					    &err);
				jobs_claim_clear(&job);
				continue;
			}
		}
		pthread_mutex_lock(&p->lock);
		if (rc != 0 && p->wake_seq == seen && !p->stopping) {
			/* The database refused (busy, disk): try again in a second
			 * rather than spin; a submit still wakes us at once. */
			struct timespec dl;
			clock_gettime(CLOCK_MONOTONIC, &dl);
			dl.tv_sec += 1;
			pthread_cond_timedwait(&p->cond, &p->lock, &dl);
		}
		while (rc == 0 && p->wake_seq == seen && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

/* --- start, recovery, stop --------------------------------------------------------- */

/* The Slurm job of step step_index when the row has none: the crash came
 * between sbatch's answer and the row's write; squeue knows it by name. */
static int64_t find_slurm_step(struct worker_pool *p, int64_t id, int step_index,
			       const char *plan_json)
{
	struct plan *plan = NULL;
	struct kiln_err err;
	int64_t found = 0;
	if (step_index < 0 || plan_json == NULL ||
	    plan_parse(plan_json, strlen(plan_json), &plan, &err) != 0)
		return 0;
	if ((size_t)step_index < plan->n_steps) {
		const struct plan_step *s = &plan->steps[step_index];
		const struct engine_conf *ec = engine_find(p->engines, p->n_engines, s->toolchain);
		char name[128];
		if (ec != NULL && engine_is_slurm(ec) &&
		    engine_container_name(id, s->name, name, sizeof(name), &err) == 0)
			found = slurm_find(name);
	}
	plan_free(plan);
	return found;
}

static int64_t orphan(void *arg, int64_t id, pid_t pgid, int64_t slurm_job, int step_index,
		      int cancel, const char *plan_json)
{
	struct worker_pool *p = arg;
	int found = 0;
	if (slurm_job <= 0 && (slurm_job = find_slurm_step(p, id, step_index, plan_json)) > 0)
		found = 1;
	if (slurm_job > 0) {
		/* nothing of the step runs here: it is the Slurm job, followed again
		 * or, for a job cancelled meanwhile, cancelled */
		int cancelled = cancel && slurm_cancel(slurm_job) == 0;
		if (!p->quiet)
			fprintf(stderr, "level=warn job=%lld msg=\"was running when kilnd stopped\" "
				"slurm_job=%lld%s %s\n", (long long)id, (long long)slurm_job,
				found ? " found_by_name=1" : "",
				!cancel ? "reattach=1" : cancelled ? "scancel=1" : "scancel=0");
		return cancel ? 0 : slurm_job;
	}
	char marker[PATH_MAX + 64];
	snprintf(marker, sizeof(marker), "KILN_JOB_DIR=%s/jobs/%lld/work", p->data_dir,
		 (long long)id);
	int killed = exec_kill_orphans(pgid, marker);
	int removed = 0;
	struct plan *plan = NULL;
	struct kiln_err err;
	if (plan_json && plan_parse(plan_json, strlen(plan_json), &plan, &err) == 0) {
		for (size_t i = 0; i < plan->n_steps; i++) {
			const struct engine_conf *ec = engine_find(p->engines, p->n_engines,
								   plan->steps[i].toolchain);
			char name[128];
			if (ec == NULL || strcmp(ec->engine, "local") == 0 ||
			    engine_container_name(id, plan->steps[i].name, name, sizeof(name), &err) != 0)
				continue;
			if (engine_remove_container(ec, name) == 0)
				removed++;
		}
	}
	plan_free(plan);
	if (!p->quiet)
		fprintf(stderr, "level=warn job=%lld msg=\"was running when kilnd stopped\" "
			"processes_killed=%d containers_removed=%d\n", (long long)id, killed, removed);
	return 0;
}

/* What worker_start made, once its threads are gone or were never started:
 * the first p->n cancel handles, the lock, the condition, the pool. */
static void pool_free(struct worker_pool *p)
{
	for (int i = 0; i < p->n; i++)
		exec_cancel_free(p->w[i].cancel);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->engines);
	free(p);
}

int worker_start(struct jobs *jobs, const struct worker_conf *conf, struct worker_pool **out,
		 struct kiln_err *err)
{
	if (conf->data_dir == NULL || conf->data_dir[0] == '\0')
		return kiln_errf(err, KILN_EINVAL, "data_dir", "the worker pool needs a data_dir");
	int n = conf->workers > 0 ? conf->workers : 1;
	if (n > WORKER_MAX)
		return kiln_errf(err, KILN_EINVAL, "workers", "workers must be 1 to %d", WORKER_MAX);
	for (size_t i = 0; i < conf->n_engines; i++) {
		int rc = engine_conf_check(&conf->engines[i], err);
		if (rc != 0)
			return rc;
	}
	struct worker_pool *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	char jobs_dir[PATH_MAX + 8];
	snprintf(jobs_dir, sizeof(jobs_dir), "%s/jobs", conf->data_dir);
	if (mkdir_p(jobs_dir) != 0 || realpath(conf->data_dir, p->data_dir) == NULL) {
		int e = errno;
		free(p);
		return kiln_errf(err, KILN_EIO, "data_dir", "cannot create %s: %s", jobs_dir,
				 strerror(e));
	}
	/* every path under it (jobs/<id>/work/<file>) must still fit PATH_MAX */
	if (strlen(p->data_dir) > PATH_MAX - 256) {
		free(p);
		return kiln_errf(err, KILN_EINVAL, "data_dir", "data_dir %.100s... is too long",
				 p->data_dir);
	}
	if (strchr(p->data_dir, ':') || strchr(p->data_dir, ',')) {
		free(p);
		return kiln_errf(err, KILN_EINVAL, "data_dir",
				 "data_dir %s contains ':' or ',', which container mounts cannot "
				 "express: use another directory", conf->data_dir);
	}
	if (conf->n_engines > 0) {
		p->engines = malloc(conf->n_engines * sizeof(*p->engines));
		if (p->engines == NULL) {
			free(p);
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		}
		memcpy(p->engines, conf->engines, conf->n_engines * sizeof(*p->engines));
		p->n_engines = conf->n_engines;
	}
	/* engine = slurm: the nodes must see the workspaces at the same path;
	 * one probe job per distinct partition and sbatch_args */
	for (size_t i = 0; i < p->n_engines; i++) {
		const struct engine_conf *e = &p->engines[i];
		int seen = !engine_is_slurm(e);
		for (size_t k = 0; k < i && !seen; k++)
			seen = engine_is_slurm(&p->engines[k]) &&
			       strcmp(p->engines[k].partition, e->partition) == 0 &&
			       strcmp(p->engines[k].sbatch_args, e->sbatch_args) == 0;
		if (seen)
			continue;
		int64_t t = mono_ms();
		int rc = slurm_check_shared(e, p->data_dir, SLURM_PROBE_TIMEOUT_MS, err);
		if (rc != 0) {
			free(p->engines);
			free(p);
			return rc;
		}
		if (!conf->quiet)
			fprintf(stderr, "level=info toolchain=%s msg=\"the data dir is shared with the "
				"Slurm nodes\" probe_ms=%lld\n", e->toolchain,
				(long long)(mono_ms() - t));
	}
	p->jobs = jobs;
	p->events = jobs_events(jobs);
	p->log_cap = conf->log_cap ? conf->log_cap : WORKER_DEFAULT_LOG_CAP;
	p->grace_ms = conf->grace_ms;
	p->preparer = conf->preparer;
	p->preparer_arg = conf->preparer_arg;
	p->planner = conf->planner;
	p->planner_arg = conf->planner_arg;
	p->finisher = conf->finisher;
	p->finisher_arg = conf->finisher_arg;
	p->quiet = conf->quiet;
	p->remove_succeeded = conf->remove_succeeded_workspace;
	p->remove_failed = conf->remove_failed_workspace;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);

	int requeued = 0, failed = 0;
	int rc = jobs_recover(jobs, orphan, p, &requeued, &failed, err);
	if (rc != 0)
		goto fail;
	if (!p->quiet && requeued + failed > 0)
		fprintf(stderr, "level=warn msg=\"recovered jobs left running\" requeued=%d failed=%d\n",
			requeued, failed);
	for (int i = 0; i < n; i++) {
		p->w[i].pool = p;
		if ((rc = exec_cancel_new(&p->w[i].cancel, err)) != 0)
			goto fail;
		p->n = i + 1;
	}
	jobs_set_hooks(jobs, on_queued, on_cancel, p);
	for (int i = 0; i < n; i++) {
		if (pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]) != 0) {
			rc = kiln_errf(err, KILN_EIO, "", "cannot start worker thread %d", i);
			worker_stop(p);
			return rc;
		}
		p->w[i].started = 1;
	}
	*out = p;
	return 0;
fail:
	pool_free(p);
	return rc;
}

void worker_stop(struct worker_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	for (int i = 0; i < p->n; i++)
		if (p->w[i].job != 0) {
			p->w[i].shutdown = 1;
			exec_cancel_fire(p->w[i].cancel);
		}
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->n; i++)
		if (p->w[i].started)
			pthread_join(p->w[i].thread, NULL);
	/* Nobody may wake a freed pool: the hooks go before the memory. */
	jobs_set_hooks(p->jobs, NULL, NULL, NULL);
	pool_free(p);
}

int worker_busy(struct worker_pool *p)
{
	int busy = 0;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->n; i++)
		busy += p->w[i].job != 0;
	pthread_mutex_unlock(&p->lock);
	return busy;
}
