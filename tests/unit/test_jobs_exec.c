/*
 * test_jobs_exec: the step executor against real processes — success, exit
 * codes, missing outputs, a 100 MB talker, timeouts, a tool that ignores
 * SIGTERM, a cancel from another thread, leftovers of the process group,
 * the capped log, and orphan clean-up after a crash.
 *
 * Synchronisation is by pipes, pidfds and thread joins; nothing sleeps to
 * wait.  The test process is a child subreaper so processes a step leaves
 * behind become its children and can be checked with waitpid.
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

#include "runtime/exec.h"
#include "kt.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lines seen by the callback. */
struct lines {
	char buf[8192];
	size_t len;
	int n;
	int ready_fd;      /* written once when a line "ready" arrives, or -1 */
};

static void collect(void *arg, int stream, const char *line, size_t len)
{
	struct lines *l = arg;
	int w = snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%d:%.*s\n", stream,
			 (int)len, line);
	if (w > 0 && l->len + (size_t)w < sizeof(l->buf))
		l->len += (size_t)w;
	l->n++;
	if (l->ready_fd >= 0 && len == 5 && memcmp(line, "ready", 5) == 0) {
		ssize_t r = write(l->ready_fd, "r", 1);
		(void)r;
	}
}

static int run_sh(const char *script, const char *cwd, int timeout_ms,
		  const char *const *outputs, struct lines *l, struct exec_result *res,
		  struct kiln_err *err)
{
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	struct exec_req req = {
		.argv = argv, .cwd = cwd, .timeout_ms = timeout_ms, .outputs = outputs,
		.on_line = collect, .arg = l,
	};
	return exec_run(&req, res, err);
}

/* 1 when pid (our child, thanks to the subreaper) has exited within ms. */
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

static void exec_run__success_reads_both_streams(void)
{
	struct lines l = {.ready_fd = -1};
	struct exec_result res;
	struct kiln_err err;
	int rc = run_sh("echo out1; echo err1 >&2; echo out2", NULL, 10000, NULL, &l, &res, &err);
	CHECK_INT(rc, 0);
	CHECK_INT(res.outcome, EXEC_OK);
	CHECK(strstr(l.buf, "1:out1\n") != NULL);
	CHECK(strstr(l.buf, "2:err1\n") != NULL);
	CHECK(strstr(l.buf, "1:out2\n") != NULL);
	CHECK(strstr(l.buf, "1:out1") < strstr(l.buf, "1:out2"));
	CHECK(res.pid > 0);
}

static void exec_run__nonzero_exit_is_a_failure_with_its_status(void)
{
	struct lines l = {.ready_fd = -1};
	struct exec_result res;
	struct kiln_err err;
	int rc = run_sh("echo boom >&2; exit 3", NULL, 10000, NULL, &l, &res, &err);
	CHECK(rc != 0);
	CHECK_INT(res.outcome, EXEC_EXIT);
	CHECK_INT(res.exit_code, 3);
	CHECKF(strstr(err.msg, "status 3") != NULL, "msg: %s", err.msg);
}

static void exec_run__missing_expected_output_names_the_file(void)
{
	const char *dir = kt_tmpdir();
	const char *outs[] = {"made.txt", "sub/never.bin", NULL};
	struct lines l = {.ready_fd = -1};
	struct exec_result res;
	struct kiln_err err;
	int rc = run_sh("echo x > made.txt; mkdir sub", dir, 10000, outs, &l, &res, &err);
	CHECK(rc != 0);
	CHECK_INT(res.outcome, EXEC_MISSING_OUTPUT);
	CHECK_STR(res.missing, "sub/never.bin");
	CHECKF(strstr(err.msg, "'sub/never.bin'") != NULL, "msg: %s", err.msg);
	const char *ok[] = {"made.txt", "sub", NULL};
	rc = run_sh("true", dir, 10000, ok, &l, &res, &err);
	CHECK_INT(rc, 0);
}

static void exec_run__program_not_found_never_starts(void)
{
	char *argv[] = {"kiln-no-such-tool-here", "--x", NULL};
	struct exec_req req = {.argv = argv, .search_path = "/nonexistent:/usr/bin"};
	struct exec_result res;
	struct kiln_err err;
	int rc = exec_run(&req, &res, &err);
	CHECK_INT(rc, KILN_EUNAVAIL);
	CHECK_INT(res.outcome, EXEC_SPAWN_FAILED);
	CHECKF(strstr(err.msg, "kiln-no-such-tool-here") != NULL, "msg: %s", err.msg);
}

static void exec_run__argv_reaches_the_tool_unchanged_never_a_shell(void)
{
	char *argv[] = {"printf", "%s|", "$(id)", "; rm -rf x", "`true`", "a b", NULL};
	struct lines l = {.ready_fd = -1};
	struct exec_req req = {.argv = argv, .on_line = collect, .arg = &l};
	struct exec_result res;
	struct kiln_err err;
	CHECK_INT(exec_run(&req, &res, &err), 0);
	CHECK_STR(l.buf, "1:$(id)|; rm -rf x|`true`|a b|\n");
}

static void exec_run__stdin_is_dev_null(void)
{
	/* cat on an inherited terminal or pipe would wait forever */
	struct lines l = {.ready_fd = -1};
	struct exec_result res;
	struct kiln_err err;
	CHECK_INT(run_sh("cat; echo after", NULL, 10000, NULL, &l, &res, &err), 0);
	CHECK_STR(l.buf, "1:after\n");
}

static void exec_run__carriage_returns_split_progress_lines(void)
{
	struct lines l = {.ready_fd = -1};
	struct exec_result res;
	struct kiln_err err;
	CHECK_INT(run_sh("printf '\\r10%%\\r20%%\\r\\nend\\r\\n'", NULL, 10000, NULL, &l, &res,
			 &err), 0);
	CHECK_STR(l.buf, "1:10%\n1:20%\n1:end\n");
}

static void exec_run__chatty_100MB_tool_is_read_without_deadlock_and_log_capped(void)
{
	const char *dir = kt_tmpdir();
	char path[600];
	snprintf(path, sizeof(path), "%s/log.txt", dir);
	struct joblog *log;
	struct kiln_err err;
	const size_t cap = 1 << 20;
	if (!CHECK_INT(joblog_open(path, cap, &log, &err), 0))
		return;
	/* 50 MB on each stream at once: a reader that blocks on one pipe
	 * while the tool blocks on the other would hang here. */
	char *argv[] = {"/bin/sh", "-c",
			"echo first-line; (yes 'stderr chatter 0123456789' | head -c 50000000 >&2) & "
			"yes 'stdout chatter 0123456789' | head -c 50000000; wait; echo last-line",
			NULL};
	struct lines l = {.ready_fd = -1};
	struct exec_req req = {.argv = argv, .timeout_ms = 120000, .log = log};
	struct exec_result res;
	(void)l;
	int64_t t0 = now_ms();
	int rc = exec_run(&req, &res, &err);
	int64_t took = now_ms() - t0;
	joblog_close(log);
	CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
	CHECK(res.out_bytes >= 100000000);
	struct stat st;
	if (!CHECK(stat(path, &st) == 0))
		return;
	CHECKF((size_t)st.st_size <= cap, "log is %lld bytes, cap %zu", (long long)st.st_size, cap);
	size_t len;
	char *text = kt_read_file(path, &len);
	if (!CHECK(text != NULL))
		return;
	CHECK(strncmp(text, "first-line\n", 11) == 0);
	CHECK(strstr(text, "bytes of output elided") != NULL);
	/* the two pipes are read independently, so stderr chatter may follow
	 * stdout's last line; it must be in the kept tail all the same */
	CHECK(strstr(text, "last-line\n") != NULL);  /* head -c cut the line before it */
	free(text);
	fprintf(stderr, "100 MB through the executor in %lld ms\n", (long long)took);
}

static void joblog__keeps_head_and_tail_under_the_cap(void)
{
	const char *dir = kt_tmpdir();
	char path[600];
	snprintf(path, sizeof(path), "%s/log.txt", dir);
	struct joblog *log;
	struct kiln_err err;
	if (!CHECK_INT(joblog_open(path, 8192, &log, &err), 0))
		return;
	char line[64];
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(line, sizeof(line), "line %05d\n", i);
		joblog_write(log, line, (size_t)n);
	}
	CHECK(joblog_elided(log) > 0);
	joblog_close(log);
	size_t len;
	char *text = kt_read_file(path, &len);
	if (!CHECK(text != NULL))
		return;
	CHECKF(len <= 8192, "len %zu", len);
	CHECK(strncmp(text, "line 00000\n", 11) == 0);
	CHECK(strstr(text, "line 19999\n") != NULL);
	CHECK(strstr(text, "line 10000\n") == NULL);
	/* after the elision line the tail starts on a whole line */
	char *m = strstr(text, "elided");
	char *nl = m ? strchr(m, '\n') : NULL;
	CHECK(nl != NULL && strncmp(nl + 1, "line ", 5) == 0);
	free(text);
}

static void exec_run__timeout_stops_a_tool_that_never_ends(void)
{
	struct lines l = {.ready_fd = -1};
	struct exec_result res;
	struct kiln_err err;
	int64_t t0 = now_ms();
	int rc = run_sh("sleep 1000 & echo $!; wait; echo never", NULL, 300, NULL, &l, &res, &err);
	int64_t took = now_ms() - t0;
	pid_t child = (pid_t)atoi(l.buf + 2);
	CHECK(rc != 0);
	CHECK_INT(res.outcome, EXEC_TIMEOUT);
	CHECKF(strstr(err.msg, "timed out") != NULL, "msg: %s", err.msg);
	CHECKF(took < 300 + 5000, "took %lld ms", (long long)took);
	CHECK(child > 0 && exited_within(child, 5000));
	CHECK(strstr(l.buf, "never") == NULL);
}

static void exec_run__sigterm_ignored_gets_sigkill_after_grace(void)
{
	const char *dir = kt_tmpdir();
	char path[600];
	snprintf(path, sizeof(path), "%s/log.txt", dir);
	struct joblog *log;
	struct kiln_err err;
	if (!CHECK_INT(joblog_open(path, 1 << 20, &log, &err), 0))
		return;
	char *argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 1000 & echo $!; wait; wait", NULL};
	struct lines l = {.ready_fd = -1};
	struct exec_req req = {.argv = argv, .timeout_ms = 200, .grace_ms = 300, .log = log,
			       .on_line = collect, .arg = &l};
	struct exec_result res;
	int64_t t0 = now_ms();
	int rc = exec_run(&req, &res, &err);
	int64_t took = now_ms() - t0;
	joblog_close(log);
	CHECK(rc != 0);
	CHECK_INT(res.outcome, EXEC_TIMEOUT);
	CHECKF(took >= 500 && took < 5000, "took %lld ms", (long long)took);
	char *text = kt_read_file(path, NULL);
	CHECK(text && strstr(text, "sending SIGTERM") && strstr(text, "sending SIGKILL"));
	free(text);
	pid_t child = (pid_t)atoi(l.buf + 2);
	CHECK(child > 0 && exited_within(child, 5000));
}

struct runner {
	struct exec_req req;
	struct exec_result res;
	struct kiln_err err;
	int rc;
	int64_t ended;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;
	r->rc = exec_run(&r->req, &r->res, &r->err);
	r->ended = now_ms();
	return NULL;
}

static void exec_run__cancel_from_another_thread_ends_it_within_5s(void)
{
	int ready[2];
	if (!CHECK(pipe(ready) == 0))
		return;
	struct exec_cancel *c;
	struct kiln_err err;
	if (!CHECK_INT(exec_cancel_new(&c, &err), 0))
		return;
	struct lines l = {.ready_fd = ready[1]};
	char *argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 1000 & echo $!; echo ready; wait; wait",
			NULL};
	struct runner r = {.req = {.argv = argv, .timeout_ms = 600000, .grace_ms = 1000,
				   .on_line = collect, .arg = &l, .cancel = c}};
	pthread_t t;
	pthread_create(&t, NULL, run_thread, &r);
	char b;
	CHECK(read(ready[0], &b, 1) == 1);  /* the tool is running */
	int64_t fired = now_ms();
	exec_cancel_fire(c);
	pthread_join(t, NULL);
	CHECK(r.rc != 0);
	CHECK_INT(r.res.outcome, EXEC_CANCELLED);
	CHECKF(r.ended - fired < 5000, "ended %lld ms after the cancel",
	       (long long)(r.ended - fired));
	pid_t child = (pid_t)atoi(l.buf + 2);
	CHECK(child > 0 && exited_within(child, 5000));
	/* a cancel that is still set stops the next run before it starts */
	struct exec_result res;
	char *argv2[] = {"true", NULL};
	struct exec_req req2 = {.argv = argv2, .cancel = c};
	CHECK(exec_run(&req2, &res, &err) != 0 && res.outcome == EXEC_CANCELLED);
	exec_cancel_reset(c);
	CHECK(!exec_cancel_fired(c));
	CHECK_INT(exec_run(&req2, &res, &err), 0);
	exec_cancel_free(c);
	close(ready[0]);
	close(ready[1]);
}

static void exec_run__processes_left_in_the_group_die_with_the_step(void)
{
	struct lines l = {.ready_fd = -1};
	struct exec_result res;
	struct kiln_err err;
	/* the background sleep keeps stdout open: without the group kill the
	 * executor would wait for its pipe until the drain time ran out */
	int64_t t0 = now_ms();
	int rc = run_sh("sleep 1000 & echo $!", NULL, 10000, NULL, &l, &res, &err);
	int64_t took = now_ms() - t0;
	CHECK_INT(rc, 0);
	pid_t bg = (pid_t)atoi(l.buf + 2);
	CHECK(bg > 0);
	CHECKF(exited_within(bg, 5000), "background pid %d still alive", (int)bg);
	CHECKF(took < EXEC_DRAIN_MS, "took %lld ms", (long long)took);
}

/* A `sleep 1000` in its own process group with KILN_JOB_DIR=dir in its
 * environment, as a step kilnd started; returns its pid once it has exec'd
 * (EOF on a close-on-exec pipe: its environ in /proc then holds the
 * marker), or -1. */
static pid_t spawn_marked_sleep(const char *dir)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		setpgid(0, 0);
		setenv("KILN_JOB_DIR", dir, 1);
		execlp("sleep", "sleep", "1000", (char *)NULL);
		ssize_t w = write(p[1], "x", 1);  /* exec failed: say so */
		(void)w;
		_exit(127);
	}
	close(p[1]);
	char b;
	if (pid < 0 || read(p[0], &b, 1) != 0)
		pid = -1;
	close(p[0]);
	return pid;
}

static int killed_by_sigkill(pid_t pid)
{
	int st;
	return waitpid(pid, &st, 0) == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

static void exec_kill_orphans__kills_only_a_group_carrying_the_marker(void)
{
	pid_t pid = spawn_marked_sleep("/tmp/kt-orphan-marker");
	if (!CHECK(pid > 0))
		return;
	CHECK_INT(exec_kill_orphans(pid, "KILN_JOB_DIR=/tmp/other"), 0);
	CHECK(kill(pid, 0) == 0);
	CHECK_INT(exec_kill_orphans(pid, "KILN_JOB_DIR=/tmp/kt-orphan-marker"), 1);
	CHECK(killed_by_sigkill(pid));
}

/* A kill -9 that lands after the spawn but before the job row records the
 * step's group leaves pgid unknown (0): the marker alone finds the step
 * (this once left an orphan under load, seen on a fresh machine). */
static void exec_kill_orphans__finds_by_marker_when_the_group_was_not_recorded(void)
{
	pid_t pid = spawn_marked_sleep("/tmp/kt-orphan-unrecorded");
	if (!CHECK(pid > 0))
		return;
	CHECK_INT(exec_kill_orphans(0, "KILN_JOB_DIR=/tmp/kt-orphan-other"), 0);
	CHECK(kill(pid, 0) == 0);
	CHECK_INT(exec_kill_orphans(0, "KILN_JOB_DIR=/tmp/kt-orphan-unrecorded"), 1);
	CHECK(killed_by_sigkill(pid));
}

static const struct kt_test tests[] = {
	{"exec_run__success_reads_both_streams", exec_run__success_reads_both_streams},
	{"exec_run__nonzero_exit_is_a_failure_with_its_status",
	 exec_run__nonzero_exit_is_a_failure_with_its_status},
	{"exec_run__missing_expected_output_names_the_file",
	 exec_run__missing_expected_output_names_the_file},
	{"exec_run__program_not_found_never_starts", exec_run__program_not_found_never_starts},
	{"exec_run__argv_reaches_the_tool_unchanged_never_a_shell",
	 exec_run__argv_reaches_the_tool_unchanged_never_a_shell},
	{"exec_run__stdin_is_dev_null", exec_run__stdin_is_dev_null},
	{"exec_run__carriage_returns_split_progress_lines",
	 exec_run__carriage_returns_split_progress_lines},
	{"exec_run__chatty_100MB_tool_is_read_without_deadlock_and_log_capped",
	 exec_run__chatty_100MB_tool_is_read_without_deadlock_and_log_capped},
	{"joblog__keeps_head_and_tail_under_the_cap", joblog__keeps_head_and_tail_under_the_cap},
	{"exec_run__timeout_stops_a_tool_that_never_ends",
	 exec_run__timeout_stops_a_tool_that_never_ends},
	{"exec_run__sigterm_ignored_gets_sigkill_after_grace",
	 exec_run__sigterm_ignored_gets_sigkill_after_grace},
	{"exec_run__cancel_from_another_thread_ends_it_within_5s",
	 exec_run__cancel_from_another_thread_ends_it_within_5s},
	{"exec_run__processes_left_in_the_group_die_with_the_step",
	 exec_run__processes_left_in_the_group_die_with_the_step},
	{"exec_kill_orphans__kills_only_a_group_carrying_the_marker",
	 exec_kill_orphans__kills_only_a_group_carrying_the_marker},
	{"exec_kill_orphans__finds_by_marker_when_the_group_was_not_recorded",
	 exec_kill_orphans__finds_by_marker_when_the_group_was_not_recorded},
};

int main(int argc, char **argv)
{
	/* orphans of a step become our children, so tests can wait for them */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return kt_main("test_jobs_exec", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
