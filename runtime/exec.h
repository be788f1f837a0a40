/*
 * exec: runs one step's process and decides whether it succeeded.
 *
 * The process is started with posix_spawn from an argv array (never a
 * shell), in its own process group, stdin from /dev/null, with stdout and
 * stderr on two pipes that one poll() loop reads — so a chatty tool never
 * blocks on a full pipe while we wait for it, and no thread is spent per
 * stream.  Lines go to the job's capped log (joblog.h) and to a callback.  The same loop
 * watches the process (a pidfd), the step's deadline and a cancel eventfd,
 * so a cancel from another thread or a timeout acts at once: SIGTERM to the
 * group, SIGKILL after a grace period, and for a container the engine's
 * kill and rm commands.  Exit status and the expected output files decide
 * the outcome.
 *
 * API
 *   exec_cancel_new(&c, err) / exec_cancel_free(c)   one per worker, reusable
 *   exec_cancel_fire(c)      from any thread (async-signal-safe)
 *   exec_cancel_reset(c)     before reusing it for the next job
 *   exec_cancel_fired(c)     1 when fired and not reset
 *   exec_run(&req, &res, err)   runs to the end; 0 only when res.outcome == EXEC_OK
 *   exec_outcome_name(o)        "ok", "exit", "signal", "missing_output", ...
 *   exec_kill_orphans(pgid, marker)   after a crash: kills a process group that
 *                                      a previous kilnd left, if it carries marker
 *   exec_kill_marked(marker)          after a crash: kills every process carrying
 *                                      marker, with its group
 *
 * The daemon must not set SIGCHLD to SIG_IGN (children would be reaped
 * behind our back and their exit status lost).  Children get default signal
 * dispositions and an empty signal mask whatever the daemon uses.
 */
#ifndef KILN_EXEC_H
#define KILN_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/joblog.h"
#include "runtime/kiln_err.h"

/* Longest line passed to the callback; longer output is cut into pieces of
 * this size so one line without '\n' cannot grow memory. */
#define EXEC_LINE_MAX 4096
/* SIGTERM → SIGKILL.  Two seconds lets a tool delete its temporary files
 * and still keeps "cancelled within 5 s" with room for `podman rm`. */
#define EXEC_DEFAULT_GRACE_MS 2000
/* After the process exits, how long we keep reading pipes that something
 * else (a daemon it left behind outside the group) still holds open. */
#define EXEC_DRAIN_MS 1000
/* How long the engine's kill/rm helpers may take before we give up on them. */
#define EXEC_HELPER_MS 2500

/* --- cancel --------------------------------------------------------------- */

struct exec_cancel;

/* Caller frees with exec_cancel_free() (accepts NULL). */
int exec_cancel_new(struct exec_cancel **out, struct kiln_err *err);
void exec_cancel_free(struct exec_cancel *c);
void exec_cancel_fire(struct exec_cancel *c);
void exec_cancel_reset(struct exec_cancel *c);
int exec_cancel_fired(const struct exec_cancel *c);

/* --- running a step -------------------------------------------------------- */

enum exec_outcome {
	EXEC_OK = 0,
	EXEC_EXIT,            /* exited with a non-zero status */
	EXEC_SIGNAL,          /* killed by a signal we did not send */
	EXEC_MISSING_OUTPUT,  /* exited 0 but an expected file is missing */
	EXEC_TIMEOUT,
	EXEC_CANCELLED,
	EXEC_SPAWN_FAILED,    /* never started: program not found, fork failed */
};

/* stream: 1 stdout, 2 stderr.  line is NUL-terminated, without its newline,
 * at most EXEC_LINE_MAX bytes, valid during the call only. */
typedef void (*exec_line_fn)(void *arg, int stream, const char *line, size_t len);

struct exec_req {
	char *const *argv;          /* NULL-terminated; argv[0] without '/' is looked up
				     * on search_path (a relative one is taken from cwd) */
	char *const *envp;          /* NULL = the daemon's environ */
	const char *search_path;    /* NULL = the daemon's $PATH */
	const char *cwd;            /* NULL = the daemon's */
	int timeout_ms;             /* 0 = no timeout */
	int grace_ms;               /* 0 = EXEC_DEFAULT_GRACE_MS */
	const char *const *outputs; /* NULL-terminated paths relative to cwd, or NULL */
	char *const *kill_argv;     /* container engines: run at SIGKILL time when
				     * there is no cleanup_argv */
	char *const *cleanup_argv;  /* container engines: kills and removes the
				     * container; run at SIGKILL time, or after the
				     * process ended if a cancel/timeout stopped it
				     * sooner */
	struct joblog *log;       /* may be NULL */
	exec_line_fn on_line;       /* may be NULL */
	void *arg;                  /* for on_line and on_spawn */
	void (*on_spawn)(void *arg, pid_t pgid);  /* may be NULL; right after spawn */
	struct exec_cancel *cancel; /* may be NULL */
};

struct exec_result {
	enum exec_outcome outcome;
	int exit_code;              /* EXEC_EXIT */
	int signal;                 /* EXEC_SIGNAL */
	char missing[256];          /* EXEC_MISSING_OUTPUT: the first missing file */
	pid_t pid;                  /* also the process group id */
	int64_t spawn_ns;           /* CLOCK_MONOTONIC when the process was started */
	int64_t dur_ms;
	uint64_t out_bytes;         /* bytes read from stdout + stderr */
};

/* Runs req to the end.  Returns 0 when res->outcome is EXEC_OK; otherwise a
 * negative code (KILN_EUNAVAIL when it never started, KILN_EIO otherwise)
 * with err saying what happened in words ("exited with status 3", "expected
 * output 'm.mlir' was not written", "timed out after 10 s"). */
int exec_run(const struct exec_req *req, struct exec_result *res, struct kiln_err *err);

const char *exec_outcome_name(enum exec_outcome o);

/* Kills (SIGKILL) the processes of group pgid whose environment holds the
 * exact "NAME=VALUE" marker — so a recycled pid is never hit.  With pgid <= 1
 * (not recorded yet when the crash came) every process with the marker, and
 * the group it leads.  Returns how many were signalled. */
int exec_kill_orphans(pid_t pgid, const char *marker);

/* Kills (SIGKILL) every process whose environment holds the exact
 * "NAME=VALUE" marker, with its process group (children a previous kilnd
 * left when no pgid was recorded, e.g. a deployment's ssh/scp).  Never this
 * process or its own group.  Returns how many were signalled. */
int exec_kill_marked(const char *marker);

#endif
