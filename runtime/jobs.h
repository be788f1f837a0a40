/*
 * jobs: the job store and queue in sqlite (table `jobs`, schema/002_jobs.sql).
 *
 * Every state change of a job goes through here: the row is written first
 * and then the matching event is published (events.h), so a watcher that
 * sees an event and reads the job sees at least that state.  The HTTP layer
 * calls the first group; the worker pool calls the second.  Knows nothing of
 * HTTP, processes or threads beyond db_conn()'s per-thread connection.
 *
 * States: queued → running → succeeded | failed | cancelled.
 *
 * API for the HTTP layer (any thread)
 *   jobs_submit(j, &new, &id, &cache_hit, err)   202 with jobs_get(id); a cache
 *                                                hit is already succeeded
 *   jobs_get(j, id, &json, err)                  one job (see "JSON" below)
 *   jobs_get_plan(j, id, &json, err)             the stored plan, or JSON null
 *   jobs_list(j, state|NULL, limit, after, &json, err)
 *                                                {"items": [...], "next": id|null};
 *                                                newest first; `after` is the last
 *                                                id of the previous page
 *   jobs_cancel(j, id, err)    queued → cancelled at once; running → cancel
 *                              requested and the worker is told (on_cancel hook);
 *                              already cancelled → 0; finished → KILN_ECONFLICT
 *   jobs_retry(j, id, err)     failed|cancelled → queued as a new attempt
 *                              (submit and retry: KILN_ELIMIT when the owner
 *                              already has max_queued_per_owner queued jobs;
 *                              a cache hit queues nothing and is never refused
 *                              for the limit; submit, cache hit and retry are
 *                              all refused with check_sources's error when the
 *                              model or dataset is gone)
 *   jobs_set_group(j, id, group, err)   marks a job as one board of a
 *                              "targets" submit (group = its first job id)
 *   jobs_group(j, group, ids, cap, &n, err)
 *                              the group's job ids, oldest first (at most cap);
 *                              an unknown group is KILN_ENOTFOUND
 *   jobs_set_cache_key(j, id, key, err)   a forced rebuild's key, set after
 *                              submit so later jobs can reuse its bundle
 *   jobs_each_finished(j, &filter, fn, arg, err)
 *                              fn(arg, id) for each finished job the filter
 *                              picks, each under the write lock with its state
 *                              checked again: no retry can requeue it during fn
 *
 * API for start-up and the worker pool
 *   jobs_open(db, events|NULL, &conf|NULL, &j, err) / jobs_close(j)
 *   jobs_set_hooks(j, on_queued, on_cancel, arg)   set once, before workers start
 *   jobs_recover(j, orphan_fn, arg, &requeued, &failed, err)
 *                              rows left running by a crash: requeued (attempt+1)
 *                              while attempt - attempt_base + 1 < max_attempts,
 *                              else failed "interrupted"; cancel_requested ones
 *                              become cancelled.  orphan_fn runs first for each
 *                              (kill the old process group and containers)
 *   jobs_claim(j, &claim, err)           oldest queued → running (BEGIN IMMEDIATE);
 *                                        claim.id == 0 when the queue is empty
 *   jobs_set_plan, jobs_step, jobs_set_pgid, jobs_progress, jobs_finish,
 *   jobs_cancel_requested, jobs_requeue, jobs_set_slurm, jobs_set_slurm_node,
 *   jobs_requeue_resume, jobs_retry_lost (engine = slurm)
 *
 * JSON of a job: {"id", "model", "dataset", "target", "spec" (jobs_get only),
 *   "state", "step", "step_index", "steps", "progress", "attempt",
 *   "error": {"code", "message"} | null, "cache_key", "cached_from",
 *   "created", "started", "finished", "bundle", "figures": [...],
 *   "cancel_requested", "slurm_job", "slurm_steps" (where each step ran:
 *   [{"attempt", "step", "slurm_job", "node"}]), "group" (null unless one
 *   board of a "targets" submit), "results" (jobs_get only: the figures as
 *   labelled rows, worst output first, see results.h)}
 */
#ifndef KILN_JOBS_H
#define KILN_JOBS_H

#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "runtime/db.h"
#include "runtime/events.h"
#include "runtime/kiln_err.h"
#include "runtime/plan.h"

#define JOBS_DEFAULT_MAX_ATTEMPTS 2
#define JOBS_DEFAULT_LIMIT 50
/* The one rule for every list (README, http_req_page): 1-1000, default 50. */
#define JOBS_MAX_LIMIT 1000
#define JOBS_ID_MAX 128          /* model, dataset, target, bundle ids */
#define JOBS_MAX_SPEC_BYTES (256 * 1024)
#define JOBS_MAX_FIGURES_BYTES (256 * 1024)

/* Whether a job's model and dataset (NULL: none) may still be built from,
 * asked inside the write transaction that queues it (submit, retry), on
 * the calling thread's connection: non-zero, with err in words, refuses.
 * A delete checks for queued jobs in one write transaction too
 * (models_delete, datasets_delete), so the two are serialised: the submit
 * sees the model gone, or the delete sees the job. */
typedef int (*jobs_check_fn)(void *arg, const char *model, const char *dataset,
			     struct kiln_err *err);

struct jobs_conf {
	int max_attempts;            /* 0 = JOBS_DEFAULT_MAX_ATTEMPTS */
	int max_queued_per_owner;    /* submit/retry past it: KILN_ELIMIT; 0 = no limit */
	jobs_check_fn check_sources; /* NULL: not asked (the queue's own tests) */
	void *check_arg;
};

struct jobs;

/* Called with the job id after a job became queued (submit, retry) or a
 * cancel of a running job was requested.  Must be quick; may be called from
 * any thread; must not call jobs_* (the worker pool signals a condition
 * variable or an eventfd). */
typedef void (*jobs_hook)(void *arg, int64_t id);

/* After a crash: a job left running.  plan_json may be NULL. */
/* After a crash: a job left running at step step_index (-1: none yet).
 * plan_json may be NULL.  slurm_job > 0: the step is that Slurm job.  The
 * callback returns the Slurm job to follow again (slurm_job, or one it found
 * by the step's job name when the crash came before slurm_job was written),
 * or 0: the job is then run again or, with cancel, cancelled — and a Slurm
 * job of a cancelled one is the callback's to scancel. */
typedef int64_t (*jobs_orphan_fn)(void *arg, int64_t id, pid_t pgid, int64_t slurm_job,
				  int step_index, int cancel, const char *plan_json);

struct jobs_new {
	const char *model;           /* required, 1..JOBS_ID_MAX of [A-Za-z0-9._:-] */
	const char *dataset;         /* may be NULL */
	const char *target;          /* required, same characters */
	const cJSON *spec;           /* required JSON object, up to JOBS_MAX_SPEC_BYTES */
	const struct plan *plan;     /* may be NULL: the worker's planner makes one */
	const char *cache_key;       /* may be NULL */
	int64_t owner;               /* the submitting token's id; 0 = nobody (no limit) */
};

/* What a worker gets from jobs_claim; strings owned, freed by
 * jobs_claim_clear(). */
struct jobs_claim {
	int64_t id;                  /* 0: nothing was queued */
	int attempt;
	char *model, *dataset, *target;
	char *spec_json;
	char *plan_json;             /* NULL when not planned yet */
	/* >= 0: a restart found step resume_step running as Slurm job
	 * slurm_job: follow it, do not start the attempt again; -1 otherwise */
	int resume_step;
	int64_t slurm_job;
	char *figures_json;          /* resume only: the figures recorded so far */
};

/* Caller frees with jobs_close() (accepts NULL).  events may be NULL (no
 * events published).  conf may be NULL. */
/* What a job names, for jobs_active_using. */
enum jobs_uses { JOBS_USES_MODEL, JOBS_USES_DATASET };

/* The ids of the queued or running jobs whose model (or dataset) is id, as
 * "12, 14" (at most 20) in ids; "" when none.  For the model and dataset
 * stores, which refuse to delete what such a job still needs; any thread.
 * 0, or -1 when the jobs table cannot be read. */
int jobs_active_using(struct db *db, enum jobs_uses what, long long id, char *ids, size_t cap);

int jobs_open(struct db *db, struct events *events, const struct jobs_conf *conf,
	      struct jobs **out, struct kiln_err *err);
void jobs_close(struct jobs *j);
void jobs_set_hooks(struct jobs *j, jobs_hook on_queued, jobs_hook on_cancel, void *arg);
struct events *jobs_events(struct jobs *j);

int jobs_submit(struct jobs *j, const struct jobs_new *in, int64_t *id, int *cache_hit,
		struct kiln_err *err);
/* *out: new cJSON, caller cJSON_Delete()s. */
int jobs_get(struct jobs *j, int64_t id, cJSON **out, struct kiln_err *err);
int jobs_get_plan(struct jobs *j, int64_t id, cJSON **out, struct kiln_err *err);
/* The state as a string into buf (>= 16 bytes). */
int jobs_state(struct jobs *j, int64_t id, char *buf, size_t cap, struct kiln_err *err);
int jobs_list(struct jobs *j, const char *state, int limit, int64_t after, cJSON **out,
	      struct kiln_err *err);
int jobs_cancel(struct jobs *j, int64_t id, struct kiln_err *err);
int jobs_retry(struct jobs *j, int64_t id, struct kiln_err *err);
int jobs_set_group(struct jobs *j, int64_t id, int64_t group, struct kiln_err *err);
int jobs_group(struct jobs *j, int64_t group, int64_t *ids, int cap, int *n,
	       struct kiln_err *err);

/* Which finished jobs jobs_each_finished() visits; every set field must
 * match.  Strings are compared as stored (ids as text, times as db_now()). */
struct jobs_filter {
	int unsuccessful;            /* only failed and cancelled jobs */
	const char *finished_before; /* NULL = any time */
	const char *model;           /* NULL = any */
	const char *dataset;         /* NULL = any */
};
typedef void (*jobs_each_fn)(void *arg, int64_t id);
/* fn must be short (it holds the store's write lock) and must not call
 * jobs_*. */
int jobs_each_finished(struct jobs *j, const struct jobs_filter *f, jobs_each_fn fn, void *arg,
		       struct kiln_err *err);

int jobs_recover(struct jobs *j, jobs_orphan_fn orphan, void *arg, int *requeued,
		 int *failed, struct kiln_err *err);
int jobs_claim(struct jobs *j, struct jobs_claim *out, struct kiln_err *err);
void jobs_claim_clear(struct jobs_claim *c);
int jobs_set_plan(struct jobs *j, int64_t id, const char *plan_json, struct kiln_err *err);
/* Step `index` (of n_steps) named name has started, as process group pgid
 * (0 when it never started).  One write for both: the pgid is what a
 * restart needs to kill an orphan. */
int jobs_step(struct jobs *j, int64_t id, int index, int n_steps, const char *name,
	      pid_t pgid, struct kiln_err *err);
int jobs_set_pgid(struct jobs *j, int64_t id, pid_t pgid, struct kiln_err *err);
int jobs_set_cache_key(struct jobs *j, int64_t id, const char *key, struct kiln_err *err);
/* The running step (named step) is Slurm job slurm_job: stored in the row
 * (JSON "slurm_job") and published as a "slurm" event {"step","slurm_job"}. */
int jobs_set_slurm(struct jobs *j, int64_t id, const char *step, int64_t slurm_job,
		   struct kiln_err *err);
/* Slurm placed the step's job slurm_job on node (NodeList=): stored in its
 * "slurm_steps" entry and published as a "slurm" event {"step","slurm_job","node"}. */
int jobs_set_slurm_node(struct jobs *j, int64_t id, const char *step, int64_t slurm_job,
			const char *node, struct kiln_err *err);
/* The cluster lost the running step (NODE_FAIL, preemption, a Slurm job
 * that vanished): queued again as a new attempt while attempt -
 * attempt_base + 1 < max_attempts (*requeued = 1; the queued event carries
 * code and msg), else failed with them as jobs_finish would.  A cancel
 * requested meanwhile: failed, not run again. */
int jobs_retry_lost(struct jobs *j, int64_t id, const char *code, const char *msg,
		    int *requeued, struct kiln_err *err);
/* figures_json (a JSON array) may be NULL to leave them as they are. */
int jobs_progress(struct jobs *j, int64_t id, double progress, const char *figures_json,
		  struct kiln_err *err);
/* state: "succeeded", "failed" or "cancelled"; error code/message NULL on
 * success; bundle and figures_json may be NULL.  Only a running job is
 * finished (KILN_ECONFLICT otherwise). */
int jobs_finish(struct jobs *j, int64_t id, const char *state, const char *error_code,
		const char *error_message, const char *bundle, const char *figures_json,
		struct kiln_err *err);
int jobs_cancel_requested(struct jobs *j, int64_t id, int *requested, struct kiln_err *err);
/* An orderly shutdown stopped the job: running → queued with the same
 * attempt (it did not fail), or → cancelled when a cancel was requested. */
/* Orderly shutdown with the running step left in Slurm (its slurm_job
 * recorded): back to queued, same attempt, to be followed again from that
 * step by the next claim (a cancel requested meanwhile: cancelled). */
int jobs_requeue_resume(struct jobs *j, int64_t id, struct kiln_err *err);
int jobs_requeue(struct jobs *j, int64_t id, struct kiln_err *err);

#endif
