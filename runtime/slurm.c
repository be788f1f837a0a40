/*
 * slurm: a step as a Slurm batch job (see slurm.h).
 *
 * kilnd never talks to slurmctld itself: sbatch, scontrol and scancel are
 * the interface every Slurm site supports, and they carry the site's
 * slurm.conf and munge set-up with them.  They are run through exec_run
 * (argv, no shell, a timeout).  Waiting is a poll() on the worker's cancel
 * eventfd with a short timeout, so a cancel acts at once; the log file and
 * the job state are looked at between waits (Slurm has no push interface a
 * client can subscribe to).
 *
 * Vendor facts (Slurm 22.05, github:SchedMD/slurm, tag slurm-22-05-8-1;
 * see tests/toolchain-double/SOURCES.md "Slurm engine"): sbatch --parsable
 * prints "<jobid>[;<cluster>]"; `scontrol show job -o` prints one line of
 * Key=Value fields (JobState=, Reason=, NodeList=); job state names from
 * src/common/slurm_protocol_defs.c job_state_string().
 */
#include "runtime/slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Slurm's client commands answer in well under a second; a hung slurmctld
 * must not hang a worker. */
#define SLURM_CMD_MS 20000

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- running Slurm's commands ------------------------------------------------------ */

struct capture {
	char out[1024];   /* stdout, lines joined by '\n' */
	char errl[512];   /* the last non-empty stderr line */
};

static void capture_line(void *arg, int stream, const char *line, size_t len)
{
	struct capture *c = arg;
	if (stream == 2) {
		if (len > 0)
			snprintf(c->errl, sizeof(c->errl), "%s", line);
		return;
	}
	size_t o = strlen(c->out);
	snprintf(c->out + o, sizeof(c->out) - o, "%s%s", o ? "\n" : "", line);
}

/* 0 when argv exited 0; cap holds what it said. */
static int run_capture(char *const *argv, struct capture *cap)
{
	memset(cap, 0, sizeof(*cap));
	struct exec_req req = {.argv = argv, .timeout_ms = SLURM_CMD_MS, .on_line = capture_line,
			       .arg = cap};
	struct exec_result res;
	struct kiln_err err;
	int rc = exec_run(&req, &res, &err);
	if (rc != 0 && cap->errl[0] == '\0')
		snprintf(cap->errl, sizeof(cap->errl), "%s", err.msg);
	return rc;
}

int slurm_cancel(int64_t slurm_job)
{
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)slurm_job);
	char *argv[] = {"scancel", id, NULL};
	struct capture cap;
	return run_capture(argv, &cap);
}

int64_t slurm_find(const char *name)
{
	char *argv[] = {"squeue", "-h", "-n", (char *)name, "-o", "%i", NULL};
	struct capture cap;
	if (run_capture(argv, &cap) != 0)
		return 0;
	int64_t best = 0;
	for (const char *p = cap.out; *p;) {
		long long v = strtoll(p, NULL, 10);
		if (v > best)
			best = v;
		p += strcspn(p, "\n");
		if (*p == '\n')
			p++;
	}
	return best;
}

/* --- the batch script --------------------------------------------------------------- */

struct buf {
	char *s;
	size_t n, cap;
	int oom;
};

static void put(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t nc = (b->cap ? b->cap * 2 : 1024) + n;
		char *ns = realloc(b->s, nc);
		if (ns == NULL) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = nc;
	}
	memcpy(b->s + b->n, s, n + 1);
	b->n += n;
}

/* One shell word: single-quoted, ' as '\'' — the argv stays one word each. */
static void put_word(struct buf *b, const char *s)
{
	put(b, "'");
	for (const char *p = s; *p; p++) {
		char c[2] = {*p, 0};
		put(b, *p == '\'' ? "'\\''" : c);
	}
	put(b, "'");
}

/* The script: the environment the node engine's command needs beyond what
 * sbatch exports (its PATH, kilnd's KILN_* markers), the command, and its
 * exit status written to <step>.exit (via a rename, so a reader never sees
 * it half written). */
static char *script_text(const struct slurm_step *s, const char *exit_path)
{
	struct buf b = {0};
	put(&b, "#!/bin/sh\n# kiln job ");
	char num[32];
	snprintf(num, sizeof(num), "%lld", (long long)s->job);
	put(&b, num);
	put(&b, ", step ");
	put(&b, s->step);
	put(&b, ": written by kilnd (runtime/slurm.c); its exit status goes to ");
	put(&b, s->step);
	put(&b, ".exit\n");
	if (s->cmd->search_path != NULL) {
		put(&b, "PATH=");
		put_word(&b, s->cmd->search_path);
		put(&b, "; export PATH\n");
	}
	for (char **e = s->cmd->envp; e && *e; e++) {
		if (strncmp(*e, "KILN_", 5) != 0 || strchr(*e, '=') == NULL)
			continue;
		size_t k = (size_t)(strchr(*e, '=') - *e);
		char name[64];
		if (k >= sizeof(name))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)k, *e);
		put(&b, name);
		put(&b, "=");
		put_word(&b, *e + k + 1);
		put(&b, "; export ");
		put(&b, name);
		put(&b, "\n");
	}
	put(&b, "cd ");
	put_word(&b, s->workspace);
	put(&b, " || exit 1\n");
	for (size_t i = 0; s->cmd->argv[i]; i++) {
		if (i)
			put(&b, " ");
		put_word(&b, s->cmd->argv[i]);
	}
	put(&b, " </dev/null\nrc=$?\necho \"$rc\" > ");
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", exit_path);
	put_word(&b, tmp);
	put(&b, " && mv ");
	put_word(&b, tmp);
	put(&b, " ");
	put_word(&b, exit_path);
	put(&b, "\nexit \"$rc\"\n");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	size_t n = strlen(text);
	const char *p = text;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return close(fd);
}

/* --- sbatch ------------------------------------------------------------------------- */

/* What to change when sbatch refuses, keyed by its own words (Slurm's
 * slurm_strerror texts, src/common/slurm_errno.c). */
static const struct {
	const char *says;
	const char *fix;
} REFUSALS[] = {
	{"Invalid partition", "set [toolchain.%s] partition to one that `sinfo` lists"},
	{"Requested time limit is invalid", "lower [toolchain.%s] time or the step's timeout "
					    "below the partition's MaxTime"},
	{"Requested node configuration is not available",
	 "lower [toolchain.%s] cpus or mem to what a node of the partition has"},
	{"Memory required by task is not available", "lower [toolchain.%s] mem"},
	{"Invalid account", "fix --account in [toolchain.%s] sbatch_args"},
	{"Invalid qos", "fix --qos in [toolchain.%s] sbatch_args"},
	{"auth", "check that munged runs on this host with the cluster's munge.key "
		 "([toolchain.%s])"},
	{"Unable to contact slurm controller", "check that slurmctld runs and that this "
					       "host's slurm.conf names it ([toolchain.%s])"},
};

/* What to change, in words, for what sbatch said on stderr. */
static void refusal_fix(const char *said, const char *toolchain, char *out, size_t cap)
{
	const char *fix = "check the Slurm settings in [toolchain.%s]";
	for (size_t i = 0; i < sizeof(REFUSALS) / sizeof(REFUSALS[0]); i++)
		if (strstr(said, REFUSALS[i].says) != NULL) {
			fix = REFUSALS[i].fix;
			break;
		}
	snprintf(out, cap, fix, toolchain);
}

/* "--time" for sbatch: the configured limit, else the step's timeout in
 * minutes rounded up plus one (Slurm's is the backstop while kilnd is down;
 * kilnd's own deadline is the exact one). */
static void time_arg(const struct slurm_step *s, char *out, size_t cap)
{
	if (s->conf->time[0] != '\0')
		snprintf(out, cap, "--time=%s", s->conf->time);
	else if (s->timeout_ms > 0)
		snprintf(out, cap, "--time=%d", (s->timeout_ms + 59999) / 60000 + 1);
	else
		out[0] = '\0';
}

static int submit(const struct slurm_step *s, const char *script, const char *log_path,
		  int64_t *slurm_job, struct exec_result *res, struct kiln_err *err)
{
	char name[160], chdir_a[PATH_MAX + 16], out_a[PATH_MAX + 16], part[96], cpus[48], mem[48],
		tl[48];
	snprintf(name, sizeof(name), "--job-name=kiln-%lld-%s", (long long)s->job, s->step);
	snprintf(chdir_a, sizeof(chdir_a), "--chdir=%s", s->workspace);
	snprintf(out_a, sizeof(out_a), "--output=%s", log_path);
	char *argv[16 + ENGINE_MAX_EXTRA_ARGS];
	int n = 0;
	argv[n++] = "sbatch";
	argv[n++] = "--parsable";
	argv[n++] = name;
	argv[n++] = chdir_a;
	argv[n++] = out_a;
	if (s->conf->partition[0]) {
		snprintf(part, sizeof(part), "--partition=%s", s->conf->partition);
		argv[n++] = part;
	}
	if (s->conf->cpus > 0) {
		snprintf(cpus, sizeof(cpus), "--cpus-per-task=%d", s->conf->cpus);
		argv[n++] = cpus;
	}
	if (s->conf->mem[0]) {
		snprintf(mem, sizeof(mem), "--mem=%s", s->conf->mem);
		argv[n++] = mem;
	}
	time_arg(s, tl, sizeof(tl));
	if (tl[0])
		argv[n++] = tl;
	/* Slurm requeues a batch job on node failure or preemption by default
	 * (JobRequeue=1) and runs it again later, out of kilnd's sight; kilnd
	 * wants the ending and its own attempts.  Before sbatch_args, so a
	 * site's --requeue there still wins. */
	argv[n++] = "--no-requeue";
	char buf[512];
	char *toks[ENGINE_MAX_EXTRA_ARGS];
	int nt = engine_split_args(s->conf->sbatch_args, buf, sizeof(buf), toks,
				   ENGINE_MAX_EXTRA_ARGS);
	for (int i = 0; i < nt; i++)
		argv[n++] = toks[i];
	argv[n++] = (char *)script;
	argv[n] = NULL;
	struct capture cap;
	int rc = run_capture(argv, &cap);
	char *end = NULL;
	long long id = rc == 0 ? strtoll(cap.out, &end, 10) : 0;
	if (rc == 0 && id > 0 && end != cap.out && (*end == '\0' || *end == ';' || *end == '\n')) {
		*slurm_job = id;
		return 0;
	}
	res->outcome = EXEC_SPAWN_FAILED;
	char why[256];
	refusal_fix(cap.errl, s->conf->toolchain, why, sizeof(why));
	return kiln_errf(err, KILN_EUNAVAIL, "", "sbatch refused the step: %.200s; %s",
			 cap.errl[0] ? cap.errl : cap.out, why);
}

/* --- following ---------------------------------------------------------------------- */

struct job_state {
	int known;           /* scontrol knows the job */
	char state[32];      /* JobState=, e.g. RUNNING, NODE_FAIL */
	char reason[96];
	char node[96];       /* NodeList= */
};

static void field(const char *line, const char *key, char *out, size_t cap)
{
	out[0] = '\0';
	size_t kl = strlen(key);
	for (const char *p = line; (p = strstr(p, key)) != NULL; p += kl) {
		if (p != line && p[-1] != ' ')
			continue;
		p += kl;
		size_t n = strcspn(p, " \n");
		snprintf(out, cap, "%.*s", (int)n, p);
		return;
	}
}

/* 0 with st filled (known = 0 when Slurm no longer has the job); -1 when
 * scontrol itself failed (slurmctld unreachable: ask again later). */
static int job_state(int64_t id, struct job_state *st)
{
	memset(st, 0, sizeof(*st));
	char num[32];
	snprintf(num, sizeof(num), "%lld", (long long)id);
	char *argv[] = {"scontrol", "show", "job", "-o", num, NULL};
	struct capture cap;
	if (run_capture(argv, &cap) != 0)
		return strstr(cap.errl, "Invalid job id") != NULL ? 0 : -1;
	st->known = 1;
	field(cap.out, "JobState=", st->state, sizeof(st->state));
	field(cap.out, "Reason=", st->reason, sizeof(st->reason));
	field(cap.out, "NodeList=", st->node, sizeof(st->node));
	return 0;
}

static int ended(const char *state)
{
	static const char *const LIVE[] = {"PENDING", "RUNNING", "SUSPENDED", "COMPLETING",
					   "CONFIGURING", "RESIZING", "REQUEUED", "RESV_DEL_HOLD",
					   "REQUEUE_FED", "REQUEUE_HOLD", "SIGNALING", "STAGE_OUT",
					   "STOPPED", NULL};
	for (size_t i = 0; LIVE[i]; i++)
		if (strcmp(state, LIVE[i]) == 0)
			return 0;
	return state[0] != '\0';
}

/* Pending reasons that never clear by waiting (slurm.conf EnforcePartLimits
 * = NO, the default, queues such a job instead of refusing it). */
static const struct {
	const char *reason;
	const char *fix;
} STUCK[] = {
	{"PartitionTimeLimit", "its --time is above the partition's MaxTime: lower time in"},
	{"PartitionNodeLimit", "it asks for more nodes than the partition allows: check"},
	{"PartitionDown", "the partition is down (scontrol show partition): check"},
	{"PartitionInactive", "the partition is inactive (scontrol show partition): check"},
	{"BadConstraints", "its constraints match no node: check sbatch_args in"},
};

static const char *stuck(const struct job_state *st)
{
	if (strcmp(st->state, "PENDING") != 0)
		return NULL;
	for (size_t i = 0; i < sizeof(STUCK) / sizeof(STUCK[0]); i++)
		if (strcmp(st->reason, STUCK[i].reason) == 0)
			return STUCK[i].fix;
	return NULL;
}

/* Slurm's endings in words: what happened and what to change.  lost: the
 * cluster lost the step, not the step's own doing (another attempt may
 * pass).  State names: job_state_string() in src/common/slurm_protocol_defs.c. */
static const struct {
	const char *state;
	int lost;
	const char *says;   /* %lld job, %s node, %s toolchain */
} ENDINGS[] = {
	{"NODE_FAIL", 1, "Slurm job %lld failed with its node %s (NODE_FAIL): check the node "
			 "(scontrol show node; an administrator resumes it) [toolchain.%s]"},
	{"OUT_OF_MEMORY", 0, "Slurm job %lld ran out of memory on %s (OUT_OF_MEMORY: the "
			     "cgroup's OOM killer): raise [toolchain.%s] mem"},
	{"PREEMPTED", 1, "Slurm job %lld was preempted on %s (PREEMPTED) by a higher-priority "
			 "job: choose a partition or QOS without preemption in [toolchain.%s] if "
			 "this happens often"},
	{"BOOT_FAIL", 1, "Slurm job %lld could not boot its node %s (BOOT_FAIL): pick another "
			 "partition in [toolchain.%s] if it goes on"},
	{"DEADLINE", 0, "Slurm job %lld passed its deadline on %s (DEADLINE): check --deadline "
			"in [toolchain.%s] sbatch_args"},
	{"CANCELLED", 0, "Slurm job %lld was cancelled outside kilnd on %s (CANCELLED: scancel "
			 "by a user or an administrator) [toolchain.%s]"},
	{"FAILED", 0, "Slurm job %lld failed on %s before the tool ended (FAILED): is the "
		      "workspace shared with the node at the same path? [toolchain.%s]"},
};

/* Without cgroups (TaskPlugin=task/none) Slurm's memory limit is
 * jobacct_gather's OverMemoryKill: the step is SIGKILLed and the job ends
 * FAILED; only slurmstepd's line in the job's output says why
 * (jobacct_gather_handle_mem_limit() and _acct_kill_step() in
 * src/common/slurm_jobacct_gather.c). */
#define SLURM_OVER_MEM "Exceeded job memory limit"

/* 1 when the last 16 KB of the file hold needle. */
static int tail_has(const char *path, const char *needle)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[16385];
	struct stat sb;
	off_t from = fstat(fd, &sb) == 0 && sb.st_size > 16384 ? sb.st_size - 16384 : 0;
	ssize_t r = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = '\0';
	for (ssize_t i = 0; i < r; i++)  /* a NUL in the log must not hide the rest */
		if (buf[i] == '\0')
			buf[i] = ' ';
	return strstr(buf, needle) != NULL;
}

/* A Slurm ending that explains a step better than its exit status: the
 * ENDINGS row, or NULL (COMPLETED, FAILED with a status of its own...). */
static int ending_row(const char *state)
{
	for (size_t i = 0; i < sizeof(ENDINGS) / sizeof(ENDINGS[0]); i++)
		if (strcmp(state, ENDINGS[i].state) == 0)
			return (int)i;
	return -1;
}

/* Reads what the log file gained since *off into the job log and the line
 * callback; partial last lines wait in line/len for the rest. */
static void pump(const struct slurm_step *s, const char *log_path, off_t *off, char *line,
		 size_t *len, uint64_t *bytes, int final)
{
	int fd = open(log_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[16384];
		ssize_t r;
		while ((r = pread(fd, buf, sizeof(buf), *off)) > 0) {
			*off += r;
			*bytes += (uint64_t)r;
			if (s->log)
				joblog_write(s->log, buf, (size_t)r);
			for (ssize_t i = 0; i < r; i++) {
				if (buf[i] != '\n' && *len < EXEC_LINE_MAX) {
					line[(*len)++] = buf[i];
					continue;
				}
				line[*len] = '\0';
				if (s->on_line)
					s->on_line(s->arg, 1, line, *len);
				*len = 0;
				if (buf[i] != '\n')
					line[(*len)++] = buf[i];
			}
		}
		close(fd);
	}
	if (final && *len > 0) {
		line[*len] = '\0';
		if (s->on_line)
			s->on_line(s->arg, 1, line, *len);
		*len = 0;
	}
}

/* The status the script wrote, or -1 when there is none (yet). */
static int read_exit(const char *path)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	int v = -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int wait_cancel(struct exec_cancel *c, int ms)
{
	if (c == NULL) {
		struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		return 0;
	}
	struct pollfd p = {.fd = exec_cancel_fd(c), .events = POLLIN};
	return poll(&p, 1, ms) > 0 && (p.revents & POLLIN);
}

/* Asks for the job's state until it has ended or Slurm forgot it, at most
 * SLURM_SETTLE_MS; st keeps the last answer. */
static void settle(int64_t id, struct job_state *st)
{
	int64_t until = mono_ms() + SLURM_SETTLE_MS;
	for (;;) {
		struct job_state now;
		if (job_state(id, &now) == 0) {
			*st = now;
			if (!now.known || ended(now.state))
				return;
		}
		if (mono_ms() >= until)
			return;
		wait_cancel(NULL, 250);
	}
}

int slurm_run(const struct slurm_step *s, struct exec_result *res, struct kiln_err *err)
{
	memset(res, 0, sizeof(*res));
	if (s->lost)
		*s->lost = 0;
	int64_t t0 = mono_ms();
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	res->spawn_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	char log_path[PATH_MAX], exit_path[PATH_MAX], script[PATH_MAX];
	if (snprintf(log_path, sizeof(log_path), "%s/%s.log", s->workspace, s->step) >=
		    (int)sizeof(log_path) ||
	    snprintf(exit_path, sizeof(exit_path), "%s/%s.exit", s->workspace, s->step) >=
		    (int)sizeof(exit_path) ||
	    snprintf(script, sizeof(script), "%s/.kiln-%s.sbatch", s->workspace, s->step) >=
		    (int)sizeof(script)) {
		res->outcome = EXEC_SPAWN_FAILED;
		return kiln_errf(err, KILN_EINVAL, "", "the workspace path is too long");
	}
	int64_t id = s->attach;
	if (id <= 0) {
		unlink(exit_path);
		unlink(log_path);
		char *text = script_text(s, exit_path);
		if (text == NULL) {
			res->outcome = EXEC_SPAWN_FAILED;
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		}
		int wr = write_text(script, text, 0755);
		free(text);
		if (wr != 0) {
			res->outcome = EXEC_SPAWN_FAILED;
			return kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", script,
					 strerror(errno));
		}
		int rc = submit(s, script, log_path, &id, res, err);
		if (rc != 0) {
			res->dur_ms = mono_ms() - t0;
			return rc;
		}
		if (s->log)
			joblog_printf(s->log, "step %s: Slurm job %lld submitted", s->step,
				      (long long)id);
	} else if (s->log) {
		joblog_printf(s->log, "step %s: following Slurm job %lld again after a restart",
			      s->step, (long long)id);
	}
	res->pid = 0;
	if (s->on_submit)
		s->on_submit(s->arg, id);

	off_t off = 0;
	char line[EXEC_LINE_MAX + 1];
	size_t len = 0;
	int64_t deadline = s->timeout_ms > 0 ? t0 + s->timeout_ms : 0;
	int64_t next_state = 0, stop_at = 0;
	enum exec_outcome stopped = EXEC_OK;   /* CANCELLED or TIMEOUT once we scancel'd */
	struct job_state st = {0};
	char node[96] = "";
	int status = -1;
	for (;;) {
		pump(s, log_path, &off, line, &len, &res->out_bytes, 0);
		if (stopped == EXEC_OK && (status = read_exit(exit_path)) >= 0)
			break;
		int64_t now = mono_ms();
		if (now >= next_state) {
			next_state = now + SLURM_STATE_MS;
			if (job_state(id, &st) == 0) {
				if (st.node[0] && strcmp(st.node, "(null)") != 0 &&
				    strcmp(st.node, node) != 0) {
					snprintf(node, sizeof(node), "%s", st.node);
					if (s->on_node)
						s->on_node(s->arg, id, node);
				}
				const char *never = stuck(&st);
				if (stopped == EXEC_OK && never != NULL) {
					slurm_cancel(id);
					res->outcome = EXEC_SPAWN_FAILED;
					res->dur_ms = mono_ms() - t0;
					char tl[48];
					time_arg(s, tl, sizeof(tl));
					return kiln_errf(err, KILN_EUNAVAIL, "",
							 "Slurm job %lld would wait for ever (PENDING, "
							 "Reason=%s): %s [toolchain.%s] (%s); scancel'd",
							 (long long)id, st.reason, never,
							 s->conf->toolchain, tl[0] ? tl : "no --time");
				}
				if (!st.known || ended(st.state)) {
					/* the script may have written its status just before */
					pump(s, log_path, &off, line, &len, &res->out_bytes, 1);
					if (stopped == EXEC_OK)
						status = read_exit(exit_path);
					break;
				}
			}
		}
		if (stopped != EXEC_OK && now - stop_at > SLURM_CANCEL_WAIT_MS)
			break;
		if (stopped == EXEC_OK && s->cancel && exec_cancel_fired(s->cancel)) {
			if (s->detach && s->detach(s->arg)) {
				res->outcome = EXEC_CANCELLED;
				res->pid = -1;
				res->dur_ms = mono_ms() - t0;
				if (s->log)
					joblog_printf(s->log, "step %s: kilnd is stopping; Slurm job %lld "
						      "keeps running and is followed again at the "
						      "next start", s->step, (long long)id);
				return kiln_errf(err, KILN_EIO, "", "left running in Slurm (job %lld)",
						 (long long)id);
			}
			slurm_cancel(id);
			stopped = EXEC_CANCELLED;
			stop_at = now;
			next_state = 0;
			continue;
		}
		if (stopped == EXEC_OK && deadline && now >= deadline) {
			slurm_cancel(id);
			stopped = EXEC_TIMEOUT;
			stop_at = now;
			next_state = 0;
			continue;
		}
		int ms = (int)(next_state - now);
		wait_cancel(stopped == EXEC_OK ? s->cancel : NULL,
			    ms < SLURM_LOG_MS ? (ms > 0 ? ms : 1) : SLURM_LOG_MS);
	}
	/* A non-zero status may be Slurm's doing (it signalled the tool for a
	 * time limit, a node failure, preemption, the OOM killer): wait, a
	 * bounded time, for the job's own ending and let it speak. */
	if (stopped == EXEC_OK && status != 0)
		settle(id, &st);
	/* A step quicker than one state poll ends before its node was read
	 * (the exit file comes first): Slurm still knows a finished job for
	 * MinJobAge, so ask it once more, or the dashboard says nothing of
	 * where the step ran (seen on a quiet machine). */
	if (node[0] == '\0' && job_state(id, &st) == 0 && st.node[0] &&
	    strcmp(st.node, "(null)") != 0) {
		snprintf(node, sizeof(node), "%s", st.node);
		if (s->on_node)
			s->on_node(s->arg, id, node);
	}
	pump(s, log_path, &off, line, &len, &res->out_bytes, 1);
	res->dur_ms = mono_ms() - t0;
	if (node[0] && s->log)
		joblog_printf(s->log, "step %s: Slurm job %lld ran on %s", s->step, (long long)id,
			      node);
	if (stopped == EXEC_CANCELLED) {
		res->outcome = EXEC_CANCELLED;
		return kiln_errf(err, KILN_EIO, "", "cancelled (scancel %lld)", (long long)id);
	}
	if (stopped == EXEC_TIMEOUT) {
		res->outcome = EXEC_TIMEOUT;
		return kiln_errf(err, KILN_EIO, "", "timed out after %d s (scancel %lld)",
				 s->timeout_ms / 1000, (long long)id);
	}
	if (status == 0) {
		for (size_t i = 0; s->outputs && s->outputs[i]; i++) {
			char p[PATH_MAX + 300];
			snprintf(p, sizeof(p), "%s/%s", s->workspace, s->outputs[i]);
			if (access(p, F_OK) != 0) {
				res->outcome = EXEC_MISSING_OUTPUT;
				snprintf(res->missing, sizeof(res->missing), "%s", s->outputs[i]);
				return kiln_errf(err, KILN_EIO, "", "expected output '%s' was not written",
						 s->outputs[i]);
			}
		}
		res->outcome = EXEC_OK;
		return 0;
	}
	const char *where = node[0] ? node : "its node";
	if (st.known && strcmp(st.state, "TIMEOUT") == 0) {
		res->outcome = EXEC_TIMEOUT;
		char tl[48];
		time_arg(s, tl, sizeof(tl));
		return kiln_errf(err, KILN_EIO, "",
				 "reached its Slurm time limit on %s (Slurm job %lld TIMEOUT, %s): "
				 "raise [toolchain.%s] time", where, (long long)id,
				 tl[0] ? tl : "the partition's", s->conf->toolchain);
	}
	if (st.known && strcmp(st.state, "FAILED") == 0 && tail_has(log_path, SLURM_OVER_MEM)) {
		res->outcome = EXEC_SIGNAL;
		return kiln_errf(err, KILN_EIO, "",
				 "Slurm job %lld ran out of memory on %s (slurmstepd: \"" SLURM_OVER_MEM
				 "\", killed over its --mem%s%s): raise [toolchain.%s] mem", (long long)id,
				 where, s->conf->mem[0] ? "=" : "", s->conf->mem, s->conf->toolchain);
	}
	int row = st.known ? ending_row(st.state) : -1;
	/* FAILED with a status of the tool's own is the tool's failure */
	if (row >= 0 && !(status > 0 && strcmp(st.state, "FAILED") == 0)) {
		res->outcome = EXEC_SIGNAL;
		if (s->lost)
			*s->lost = ENDINGS[row].lost;
		return kiln_errf(err, KILN_EIO, "", ENDINGS[row].says, (long long)id, where,
				 s->conf->toolchain);
	}
	if (status > 0) {
		res->outcome = EXEC_EXIT;
		res->exit_code = status;
		return kiln_errf(err, KILN_EIO, "", "exited with status %d (Slurm job %lld)", status,
				 (long long)id);
	}
	res->outcome = EXEC_SIGNAL;
	if (!st.known) {
		if (s->lost)
			*s->lost = 1;
		return kiln_errf(err, KILN_EIO, "",
				 "Slurm job %lld is not known to Slurm any more and wrote no exit "
				 "status: it was removed behind kilnd's back or slurmctld lost it",
				 (long long)id);
	}
	return kiln_errf(err, KILN_EIO, "",
			 "Slurm job %lld ended %s (Reason=%s) without the tool's exit status",
			 (long long)id, st.state[0] ? st.state : "in an unknown state", st.reason);
}

/* --- shared storage ------------------------------------------------------------------- */

static int read_nonce(const char *path, char *got, size_t cap)
{
	got[0] = '\0';
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	if (fgets(got, (int)cap, f) == NULL)
		got[0] = '\0';
	fclose(f);
	got[strcspn(got, "\n")] = '\0';
	return 0;
}

int slurm_check_shared(const struct engine_conf *c, const char *data_dir, int timeout_ms,
		       struct kiln_err *err)
{
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return kiln_errf(err, KILN_EIO, "", "getrandom: %s", strerror(errno));
	char nonce[32];
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
	char dir[PATH_MAX], path[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/slurm-probe", data_dir);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return kiln_errf(err, KILN_EIO, "data_dir", "cannot create %s: %s", dir,
				 strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", dir, nonce);
	char wrap[PATH_MAX + 128], part[96], tl[32];
	/* the nonce is hex; the path is quoted for a data dir with spaces */
	snprintf(wrap, sizeof(wrap), "--wrap=echo %s > '%s'", nonce, path);
	/* one minute, the least --time can say: fits any partition's MaxTime */
	snprintf(tl, sizeof(tl), "--time=1");
	char *argv[12 + ENGINE_MAX_EXTRA_ARGS];
	int n = 0;
	argv[n++] = "sbatch";
	argv[n++] = "--parsable";
	argv[n++] = "--job-name=kiln-storage-probe";
	argv[n++] = "--output=/dev/null";
	argv[n++] = tl;
	if (c->partition[0]) {
		snprintf(part, sizeof(part), "--partition=%s", c->partition);
		argv[n++] = part;
	}
	char buf[512];
	char *toks[ENGINE_MAX_EXTRA_ARGS];
	int nt = engine_split_args(c->sbatch_args, buf, sizeof(buf), toks, ENGINE_MAX_EXTRA_ARGS);
	for (int i = 0; i < nt; i++)
		argv[n++] = toks[i];
	argv[n++] = wrap;
	argv[n] = NULL;
	struct capture cap;
	long long id = run_capture(argv, &cap) == 0 ? strtoll(cap.out, NULL, 10) : 0;
	if (id <= 0) {
		char why[256];
		refusal_fix(cap.errl, c->toolchain, why, sizeof(why));
		return kiln_errf(err, KILN_EUNAVAIL, "toolchain",
				 "[toolchain.%s] engine = slurm: sbatch refused the storage probe "
				 "job: %.200s; %s", c->toolchain, cap.errl[0] ? cap.errl : cap.out, why);
	}
	/* The file appears when the probe ran; the job's end without it means
	 * the node wrote somewhere this host cannot see. */
	int64_t t0 = mono_ms(), next_state = t0 + SLURM_STATE_MS;
	char got[64];
	for (;;) {
		if (read_nonce(path, got, sizeof(got)) == 0 && strcmp(got, nonce) == 0) {
			unlink(path);
			return 0;
		}
		int64_t now = mono_ms();
		struct job_state st;
		if (now >= next_state) {
			next_state = now + SLURM_STATE_MS;
			if (job_state(id, &st) == 0 && stuck(&st) != NULL) {
				slurm_cancel(id);
				return kiln_errf(err, KILN_EUNAVAIL, "toolchain",
						 "[toolchain.%s] engine = slurm: the storage probe (Slurm "
						 "job %lld) would wait for ever (PENDING, Reason=%s): %s "
						 "[toolchain.%s]", c->toolchain, id, st.reason, stuck(&st),
						 c->toolchain);
			}
			if (job_state(id, &st) == 0 && (!st.known || ended(st.state))) {
				if (read_nonce(path, got, sizeof(got)) == 0 && strcmp(got, nonce) == 0) {
					unlink(path);
					return 0;
				}
				break;
			}
		}
		if (now - t0 > timeout_ms) {
			slurm_cancel(id);
			return kiln_errf(err, KILN_EUNAVAIL, "toolchain",
					 "[toolchain.%s] engine = slurm: the storage probe (Slurm job "
					 "%lld) did not run within %d s: is the partition up and are "
					 "its nodes idle (sinfo)?", c->toolchain, id, timeout_ms / 1000);
		}
		wait_cancel(NULL, 50);
	}
	unlink(path);
	return kiln_errf(err, KILN_EUNAVAIL, "data_dir",
			 "[toolchain.%s] engine = slurm needs the data dir %s shared with the Slurm "
			 "nodes at the same path: a probe job (Slurm job %lld) ended but the file "
			 "it writes, %s, is not there for kilnd; mount the data dir on every node "
			 "(NFS or another shared filesystem) or use another engine", c->toolchain,
			 data_dir, id, path);
}
