/*
 * slurm: runs one plan step as a Slurm batch job and follows it (issue 18).
 *
 * The step's command is what engine_command() builds for the toolchain's
 * node_engine (local argv with its PATH, or `podman run ...`); this module
 * writes it into a batch script in the workspace, submits it with
 *
 *   sbatch --parsable --job-name kiln-<job>-<step> --chdir <workspace>
 *          --output <workspace>/<step>.log [--partition] [--cpus-per-task]
 *          [--mem] --time <limit> [sbatch_args] <workspace>/.kiln-<step>.sbatch
 *
 * and follows it: new bytes of <step>.log go to the job's log and the line
 * callback (the live log and figures, as for a local step), the job's state
 * comes from `scontrol show job -o <id>` about once a second, and the tool's
 * exit status from <workspace>/<step>.exit, which the script writes when the
 * tool ends, so it is known even after slurmctld has forgotten the job.
 * Cancel is `scancel <id>`; the step's timeout is kilnd's own deadline
 * (then scancel) and, as a backstop while kilnd is down, sbatch --time.
 * Slurm's own endings (NODE_FAIL, OUT_OF_MEMORY, TIMEOUT, PREEMPTED, ...)
 * become errors that say what happened and what to change; they win over
 * the exit status the script may still have written (Slurm killed the tool,
 * the shell wrote 137 or 143).  Steps are submitted with --no-requeue: a
 * node failure or a preemption ends the Slurm job, and kilnd's own attempts
 * decide whether the step runs again (slurm_step.lost says so).
 *
 * Every Slurm command runs with kilnd's environment, so SLURM_CONF and the
 * munge socket work as for any Slurm user on the submit host.
 *
 * API
 *   slurm_run(&step, &res, err)    submit (or, with step.attach, re-attach)
 *                                  and follow to the end; res as exec_run's
 *   slurm_cancel(slurm_job)        scancel, bounded in time
 *   slurm_check_shared(conf, data_dir, timeout_ms, err)
 *                                  a probe job writes a file in the data dir,
 *                                  kilnd reads it back: 0 when shared
 */
#ifndef KILN_SLURM_H
#define KILN_SLURM_H

#include <stdint.h>

#include "runtime/engine.h"
#include "runtime/exec.h"
#include "runtime/joblog.h"
#include "runtime/kiln_err.h"

/* How often the job's state is asked for while it runs: one scontrol per
 * running step per interval, cheap for slurmctld at tens of steps. */
#define SLURM_STATE_MS 1000
/* How often the log file is read for new lines between state looks. */
#define SLURM_LOG_MS 200
/* After scancel, how long we wait for Slurm to report the job ended. */
#define SLURM_CANCEL_WAIT_MS 30000
/* After a non-zero exit status, how long we wait for Slurm's own ending
 * (COMPLETING lasts until the node's processes are gone: KillWait). */
#define SLURM_SETTLE_MS 15000
/* The shared-storage probe at start: one tiny job on an idle cluster. */
#define SLURM_PROBE_TIMEOUT_MS 120000

struct slurm_step {
	const struct engine_conf *conf;   /* engine = slurm */
	int64_t job;
	const char *step;                 /* the plan step's name */
	const char *workspace;            /* absolute; the same path on the nodes */
	const struct engine_cmd *cmd;     /* engine_command() of the node's engine */
	int timeout_ms;                   /* 0 = none (then --time from conf, or none) */
	const char *const *outputs;       /* NULL-terminated, relative to workspace */
	struct joblog *log;               /* may be NULL */
	exec_line_fn on_line;             /* may be NULL; stream is always 1 */
	void *arg;
	/* right after sbatch answered (or at once when attaching) */
	void (*on_submit)(void *arg, int64_t slurm_job);
	struct exec_cancel *cancel;       /* may be NULL */
	int64_t attach;                   /* > 0: follow this Slurm job, submit nothing */
	/* may be NULL; asked when the cancel fires: 1 = kilnd is stopping, leave
	 * the Slurm job running (outcome EXEC_CANCELLED, res->pid = -1) for the
	 * next kilnd to follow, instead of scancel */
	int (*detach)(void *arg);
	/* may be NULL: once Slurm has placed the job, the node(s) it runs on
	 * (NodeList=, e.g. "node07"), for the dashboard */
	void (*on_node)(void *arg, int64_t slurm_job, const char *node);
	/* may be NULL: set to 1 when the cluster lost the step (NODE_FAIL,
	 * PREEMPTED, BOOT_FAIL, or gone from Slurm with no exit status): the
	 * step itself did nothing wrong, so another attempt may pass */
	int *lost;
};

/* Returns 0 when the tool exited 0 and wrote its outputs; otherwise
 * res->outcome says how it ended (EXEC_SPAWN_FAILED: sbatch refused;
 * EXEC_SIGNAL: Slurm ended it: NODE_FAIL, OUT_OF_MEMORY, vanished...) and
 * err says it in words. */
int slurm_run(const struct slurm_step *s, struct exec_result *res, struct kiln_err *err);

/* The newest pending or running Slurm job named name (squeue -n), or 0. */
int64_t slurm_find(const char *name);

/* scancel <slurm_job>; 0 when scancel accepted it. */
int slurm_cancel(int64_t slurm_job);

/* KILN_EUNAVAIL with a message naming the data dir when a probe job cannot
 * write a file there that kilnd reads back (not shared with the nodes, or
 * sbatch refused, or the probe did not end within timeout_ms). */
int slurm_check_shared(const struct engine_conf *c, const char *data_dir, int timeout_ms,
		       struct kiln_err *err);

#endif
