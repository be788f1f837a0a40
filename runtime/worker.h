/*
 * worker: the pool of threads that run jobs.
 *
 * Each worker claims the oldest queued job (jobs_claim), prepares its
 * workspace <data_dir>/jobs/<id>/work (the plan's files) and its log
 * <data_dir>/jobs/<id>/log.txt, runs the plan's steps in order through the
 * toolchain's engine (engine.h) and the executor (exec.h), turns log lines
 * into figures (logparse.h), and records every change through jobs.h, which
 * publishes the state/step/progress events; the worker itself publishes
 * "log" ({"step","stream","line"}) and "figure" ({"step", ...figure}) events
 * on the same hub.  Subscribe to the hub (events_subscribe on
 * jobs_events(jobs)) to watch them.
 *
 * Workers sleep on a condition variable and are woken by the jobs hooks
 * (submit, retry), never by a polling timer, so a submitted job starts as
 * soon as a worker is free.  A cancel reaches the running step through the
 * worker's eventfd (exec_cancel), from whichever thread called jobs_cancel.
 *
 * API
 *   worker_start(jobs, &conf, &pool, err)   recovers rows left running by a crash
 *                                           (kills their old process groups and
 *                                           containers, then requeues or fails them),
 *                                           sets the jobs hooks, starts the threads
 *   worker_stop(pool)                       stops the running steps, puts their jobs
 *                                           back in the queue (same attempt), joins
 *                                           the threads, frees the pool (accepts NULL)
 *   worker_busy(pool)                       how many workers are running a job
 *
 * Error codes a failed job gets: plan_invalid, no_plan, workspace, inputs,
 * toolchain_unavailable, spawn_failed, step_failed, missing_output,
 * timeout, bundle_failed, internal; a cancelled one: cancelled.
 */
#ifndef KILN_WORKER_H
#define KILN_WORKER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "runtime/engine.h"
#include "runtime/jobs.h"
#include "runtime/kiln_err.h"
#include "runtime/plan.h"

#define WORKER_MAX 64
/* The log keeps its first 4 MiB and last 8 MiB: a conversion's log is
 * usually well under a megabyte; a runaway tool must not fill the disk. */
#define WORKER_DEFAULT_LOG_CAP (16u << 20)
/* Longest log line put in an event; the log file has the whole line. */
#define WORKER_EVENT_LINE_MAX 1024
/* Figures kept per job: a parser fed a runaway log must not grow the row. */
#define WORKER_MAX_FIGURES 256

/* Puts a job's inputs (model, calibration images, test image) into its
 * fresh, empty workspace; called at the start of every attempt, before the
 * planner and before the plan's files are written.  plan is NULL when the
 * job has a stored plan; otherwise the preparer may plan the job from the
 * same reading of its spec and set *plan (a new plan the worker frees),
 * and the planner is not asked.  A preparer that fails while planning
 * returns WORKER_EPLAN (err says why): the job fails as plan_invalid, as
 * when the planner fails, not as inputs. */
typedef int (*worker_prepare_fn)(void *arg, const struct jobs_claim *job, const char *workspace,
				 struct plan **plan, struct kiln_err *err);
#define WORKER_EPLAN 1

/* Makes the plan for a job stored without one (the recipes, later).
 * *out is a new plan the worker frees. */
typedef int (*worker_plan_fn)(void *arg, const struct jobs_claim *job, const char *workspace,
			      struct plan **out, struct kiln_err *err);

/* After every step succeeded: packs the bundle from the workspace and puts
 * its id in bundle (cap bytes).  figures is the job's figure array.  An
 * error with field "tolerance" fails the job as below_tolerance (a figure
 * the tool printed but did not act on), any other as bundle_failed. */
typedef int (*worker_finish_fn)(void *arg, const struct jobs_claim *job,
				const struct plan *plan, const char *workspace,
				const cJSON *figures, char *bundle, size_t cap,
				struct kiln_err *err);

struct worker_conf {
	const char *data_dir;              /* required; jobs/ is created in it */
	int workers;                       /* 0 = 1 */
	const struct engine_conf *engines; /* copied; toolchains not listed fail
					    * their steps (except "local") */
	size_t n_engines;
	size_t log_cap;                    /* 0 = WORKER_DEFAULT_LOG_CAP */
	int grace_ms;                      /* 0 = EXEC_DEFAULT_GRACE_MS */
	worker_prepare_fn preparer;        /* may be NULL */
	void *preparer_arg;
	worker_plan_fn planner;            /* may be NULL */
	void *planner_arg;
	worker_finish_fn finisher;         /* may be NULL: no bundle */
	void *finisher_arg;
	int quiet;                         /* no operator log lines on stderr */
	/* Retention of jobs/<id>/work (README "Disk use").  Removed before the
	 * final state is written, so whoever sees the state sees the workspace
	 * gone; jobs/<id>/log*.txt always stay. */
	int remove_succeeded_workspace;    /* once the finisher stored the bundle */
	int remove_failed_workspace;       /* failed and cancelled ones too */
};

struct worker_pool;

int worker_start(struct jobs *jobs, const struct worker_conf *conf, struct worker_pool **out,
		 struct kiln_err *err);
void worker_stop(struct worker_pool *pool);
int worker_busy(struct worker_pool *pool);

/* Removes everything in <data_dir>/jobs/<id>/ but the job's logs (log.txt,
 * log.<n>.txt): the workspace and anything staged beside it.  The job must
 * not be running.  Returns 1 when something was removed, 0 when there was
 * nothing, -1 (errno set) when something could not be removed. */
int worker_remove_workspace(const char *data_dir, int64_t id);

#endif
