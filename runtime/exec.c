/*
 * exec: the step executor — spawn, read, watch, stop (see exec.h).
 *
 * One thread runs one step with one poll() over: the stdout pipe, the
 * stderr pipe, the process's pidfd, and the cancel eventfd; the poll
 * timeout is the next deadline (step timeout, SIGKILL time, end of the
 * drain).  Nothing here sleeps to wait: every wake-up is an event or a
 * deadline.  This module knows processes and files only — not jobs,
 * engines' names, the database or HTTP.  Callers: worker.c (steps) and
 * engine.c (status probes).
 */
#include "runtime/exec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- cancel --------------------------------------------------------------- */

struct exec_cancel {
	int fd;   /* eventfd: readable while a cancel is pending */
};

int exec_cancel_new(struct exec_cancel **out, struct kiln_err *err)
{
	struct exec_cancel *c = malloc(sizeof(*c));
	if (c == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->fd < 0) {
		int e = errno;
		free(c);
		return kiln_errf(err, KILN_EIO, "", "eventfd: %s", strerror(e));
	}
	*out = c;
	return 0;
}

void exec_cancel_free(struct exec_cancel *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c);
}

void exec_cancel_fire(struct exec_cancel *c)
{
	uint64_t one = 1;
	/* write(2) is async-signal-safe; a full counter still reads as fired */
	ssize_t r = write(c->fd, &one, sizeof(one));
	(void)r;
}

void exec_cancel_reset(struct exec_cancel *c)
{
	uint64_t v;
	while (read(c->fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}

int exec_cancel_fired(const struct exec_cancel *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/* --- spawning ---------------------------------------------------------------- */

/* Finds name on search (a PATH string).  The result is absolute, because
 * the child changes directory before exec and a relative PATH entry would
 * then point somewhere else. */
static int resolve(const char *name, const char *search, char *out, size_t cap)
{
	if (strchr(name, '/') != NULL) {
		snprintf(out, cap, "%s", name);
		return 0;
	}
	if (search == NULL)
		search = getenv("PATH");
	if (search == NULL)
		search = "/usr/local/bin:/usr/bin:/bin";
	char cwd[PATH_MAX] = "";
	const char *s = search;
	for (;;) {
		size_t n = strcspn(s, ":");
		char dir[PATH_MAX];
		if (n == 0)
			snprintf(dir, sizeof(dir), ".");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)n, s);
		if (dir[0] != '/') {
			if (cwd[0] == '\0' && getcwd(cwd, sizeof(cwd)) == NULL)
				cwd[0] = '\0';
			char abs[PATH_MAX];
			int w = snprintf(abs, sizeof(abs), "%s/%s", cwd, dir);
			if (w > 0 && (size_t)w < sizeof(abs))
				memcpy(dir, abs, (size_t)w + 1);
		}
		char cand[PATH_MAX];
		int w = snprintf(cand, sizeof(cand), "%s/%s", dir, name);
		struct stat st;
		if (w > 0 && (size_t)w < sizeof(cand) && stat(cand, &st) == 0 &&
		    S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
			snprintf(out, cap, "%s", cand);
			return 0;
		}
		if (s[n] == '\0')
			return -1;
		s += n + 1;
	}
}

/* posix_spawn: glibc implements it with clone(CLONE_VM|CLONE_VFORK), which
 * costs far less than fork() in a daemon with a big heap, and reports an
 * exec failure as the return value.  Returns 0 or an errno value. */
static int spawn(const char *path, char *const *argv, char *const *envp, const char *cwd,
		 int out_fd, int err_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t empty, def;
	int rc = posix_spawn_file_actions_init(&fa);
	if (rc != 0)
		return rc;
	rc = posix_spawnattr_init(&at);
	if (rc != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (rc == 0)
		rc = out_fd >= 0 ? posix_spawn_file_actions_adddup2(&fa, out_fd, 1)
				 : posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (rc == 0)
		rc = err_fd >= 0 ? posix_spawn_file_actions_adddup2(&fa, err_fd, 2)
				 : posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (rc == 0 && cwd != NULL)
		rc = posix_spawn_file_actions_addchdir_np(&fa, cwd);
	/* Descriptors of other threads (sockets, the database) that were
	 * opened without O_CLOEXEC must not leak into a vendor tool. */
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	sigemptyset(&empty);
	sigfillset(&def);
	sigdelset(&def, SIGKILL);
	sigdelset(&def, SIGSTOP);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&at, &empty);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&at, &def);
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(&at, 0);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	if (rc == 0)
		rc = posix_spawn(pid, path, &fa, &at, argv, envp ? envp : environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

static int pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* The engine's kill/rm commands: output discarded, reaped by helpers_wait. */
struct helper {
	pid_t pid;
	int pidfd;
};

static void helper_start(struct helper *h, char *const *argv, struct joblog *log)
{
	char path[PATH_MAX];
	h->pid = -1;
	h->pidfd = -1;
	if (argv == NULL || argv[0] == NULL)
		return;
	if (resolve(argv[0], NULL, path, sizeof(path)) != 0) {
		joblog_printf(log, "cannot run '%s': not found on PATH", argv[0]);
		return;
	}
	pid_t pid;
	int rc = spawn(path, argv, NULL, NULL, -1, -1, &pid);
	if (rc != 0) {
		joblog_printf(log, "cannot run '%s': %s", argv[0], strerror(rc));
		return;
	}
	joblog_printf(log, "ran %s %s %s", argv[0], argv[1] ? argv[1] : "",
			argv[1] && argv[2] ? argv[2] : "");
	h->pid = pid;
	h->pidfd = pidfd_of(pid);
}

/* Waits for the helpers until deadline (monotonic ns), then kills them. */
static void helpers_wait(struct helper *hs, int n, int64_t deadline)
{
	for (int i = 0; i < n; i++) {
		struct helper *h = &hs[i];
		if (h->pid <= 0)
			continue;
		for (;;) {
			int64_t left = deadline - now_ns();
			if (waitpid(h->pid, NULL, WNOHANG) != 0)
				break;
			if (left <= 0) {
				kill(h->pid, SIGKILL);
				waitpid(h->pid, NULL, 0);
				break;
			}
			struct pollfd p = {.fd = h->pidfd, .events = POLLIN};
			if (h->pidfd < 0)  /* no pidfd (old kernel): check every 20 ms */
				poll(NULL, 0, left / 1000000 < 20 ? (int)(left / 1000000) + 1 : 20);
			else
				poll(&p, 1, (int)(left / 1000000) + 1);
		}
		if (h->pidfd >= 0)
			close(h->pidfd);
		h->pid = -1;
		h->pidfd = -1;
	}
}

/* --- reading output ------------------------------------------------------------ */

struct stream {
	int fd;
	int id;          /* 1 stdout, 2 stderr */
	int last_cr;     /* the previous byte was '\r': a following '\n' is the same end */
	size_t len;
	char line[EXEC_LINE_MAX + 1];
};

static void emit(const struct exec_req *r, struct stream *s)
{
	s->line[s->len] = '\0';
	if (r->log) {
		joblog_write(r->log, s->line, s->len);
		joblog_write(r->log, "\n", 1);
	}
	if (r->on_line)
		r->on_line(r->arg, s->id, s->line, s->len);
	s->len = 0;
}

/* Splits on '\n', and on '\r' too: progress bars redraw with '\r' and each
 * redraw is what a person watching the terminal would have seen. */
static void feed(const struct exec_req *r, struct stream *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '\n') {
			if (!s->last_cr)
				emit(r, s);
			s->last_cr = 0;
			continue;
		}
		if (c == '\r') {
			if (s->len > 0)
				emit(r, s);
			s->last_cr = 1;
			continue;
		}
		s->last_cr = 0;
		s->line[s->len++] = c;
		if (s->len == EXEC_LINE_MAX)
			emit(r, s);
	}
}

/* Reads what is there (a few chunks, so one stream cannot starve the other
 * or the cancel check).  Returns bytes read; closes the fd at EOF. */
static size_t drain(const struct exec_req *r, struct stream *s)
{
	char buf[65536];
	size_t got = 0;
	for (int i = 0; i < 4 && s->fd >= 0; i++) {
		ssize_t n = read(s->fd, buf, sizeof(buf));
		if (n > 0) {
			feed(r, s, buf, (size_t)n);
			got += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		close(s->fd);  /* EOF or a real error */
		s->fd = -1;
	}
	return got;
}

/* --- the run loop ---------------------------------------------------------------- */

const char *exec_outcome_name(enum exec_outcome o)
{
	switch (o) {
	case EXEC_OK: return "ok";
	case EXEC_EXIT: return "exit";
	case EXEC_SIGNAL: return "signal";
	case EXEC_MISSING_OUTPUT: return "missing_output";
	case EXEC_TIMEOUT: return "timeout";
	case EXEC_CANCELLED: return "cancelled";
	case EXEC_SPAWN_FAILED: return "spawn_failed";
	}
	return "unknown";
}

static int check_outputs(const struct exec_req *r, struct exec_result *res)
{
	for (size_t i = 0; r->outputs && r->outputs[i]; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", r->cwd ? r->cwd : ".", r->outputs[i]);
		struct stat st;
		/* lstat: a symlink is not the file the tool was meant to write */
		if (lstat(path, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
			snprintf(res->missing, sizeof(res->missing), "%s", r->outputs[i]);
			return -1;
		}
	}
	return 0;
}

static int open_pipe(int fds[2], struct kiln_err *err)
{
	if (pipe2(fds, O_CLOEXEC) != 0)
		return kiln_errf(err, KILN_EIO, "", "pipe: %s", strerror(errno));
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	return 0;
}

int exec_run(const struct exec_req *r, struct exec_result *res, struct kiln_err *err)
{
	memset(res, 0, sizeof(*res));
	res->pid = -1;
	int64_t t0 = now_ns();
	if (r->cancel && exec_cancel_fired(r->cancel)) {
		res->outcome = EXEC_CANCELLED;
		return kiln_errf(err, KILN_EIO, "", "cancelled before it started");
	}
	char path[PATH_MAX];
	if (r->argv == NULL || r->argv[0] == NULL ||
	    resolve(r->argv[0], r->search_path, path, sizeof(path)) != 0) {
		res->outcome = EXEC_SPAWN_FAILED;
		joblog_printf(r->log, "cannot run '%s': not found on PATH",
				r->argv && r->argv[0] ? r->argv[0] : "");
		return kiln_errf(err, KILN_EUNAVAIL, "",
				 "cannot run '%.100s': not found on PATH (%.100s)",
				 r->argv && r->argv[0] ? r->argv[0] : "",
				 r->search_path ? r->search_path : "the daemon's PATH");
	}
	int po[2], pe[2];
	int rc = open_pipe(po, err);
	if (rc != 0) {
		res->outcome = EXEC_SPAWN_FAILED;
		return rc;
	}
	rc = open_pipe(pe, err);
	if (rc != 0) {
		close(po[0]);
		close(po[1]);
		res->outcome = EXEC_SPAWN_FAILED;
		return rc;
	}
	pid_t pid;
	int src = spawn(path, r->argv, r->envp, r->cwd, po[1], pe[1], &pid);
	close(po[1]);
	close(pe[1]);
	if (src != 0) {
		close(po[0]);
		close(pe[0]);
		res->outcome = EXEC_SPAWN_FAILED;
		joblog_printf(r->log, "cannot run '%s': %s", r->argv[0], strerror(src));
		return kiln_errf(err, KILN_EUNAVAIL, "", "cannot run '%.100s': %s", r->argv[0],
				 strerror(src));
	}
	res->pid = pid;
	res->spawn_ns = now_ns();
	if (r->on_spawn)
		r->on_spawn(r->arg, pid);
	int pidfd = pidfd_of(pid);

	struct stream *so = malloc(sizeof(*so)), *se = malloc(sizeof(*se));
	if (so == NULL || se == NULL) {
		/* cannot read its output: stop it rather than let it block */
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		free(so);
		free(se);
		close(po[0]);
		close(pe[0]);
		if (pidfd >= 0)
			close(pidfd);
		res->outcome = EXEC_SPAWN_FAILED;
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	so->fd = po[0];
	so->id = 1;
	so->len = 0;
	so->last_cr = 0;
	se->fd = pe[0];
	se->id = 2;
	se->len = 0;
	se->last_cr = 0;

	int64_t deadline = r->timeout_ms > 0 ? res->spawn_ns + (int64_t)r->timeout_ms * 1000000
					     : INT64_MAX;
	int grace_ms = r->grace_ms > 0 ? r->grace_ms : EXEC_DEFAULT_GRACE_MS;
	enum exec_outcome stop_reason = EXEC_OK;
	int terminating = 0, killed = 0, exited = 0, status = 0, cleaned = 0;
	int64_t kill_at = INT64_MAX, drain_until = INT64_MAX;
	struct helper helpers[2] = {{-1, -1}, {-1, -1}};

	for (;;) {
		struct pollfd pfd[4];
		int n = 0, i_out = -1, i_err = -1, i_cancel = -1, i_pid = -1;
		if (so->fd >= 0) {
			pfd[n] = (struct pollfd){.fd = so->fd, .events = POLLIN};
			i_out = n++;
		}
		if (se->fd >= 0) {
			pfd[n] = (struct pollfd){.fd = se->fd, .events = POLLIN};
			i_err = n++;
		}
		if (!terminating && !exited && r->cancel) {
			pfd[n] = (struct pollfd){.fd = r->cancel->fd, .events = POLLIN};
			i_cancel = n++;
		}
		if (!exited && pidfd >= 0) {
			pfd[n] = (struct pollfd){.fd = pidfd, .events = POLLIN};
			i_pid = n++;
		}
		if (exited && so->fd < 0 && se->fd < 0)
			break;
		int64_t wake = INT64_MAX;
		if (exited)
			wake = drain_until;
		else if (!terminating)
			wake = deadline;
		else if (!killed)
			wake = kill_at;
		int64_t now = now_ns();
		int tmo = -1;
		if (wake != INT64_MAX) {
			int64_t ms = wake > now ? (wake - now + 999999) / 1000000 : 0;
			tmo = ms > INT_MAX ? INT_MAX : (int)ms;
		}
		if (pidfd < 0 && !exited && (tmo < 0 || tmo > 20))
			tmo = 20;  /* no pidfd (kernel < 5.3): check for exit every 20 ms */
		int pr = poll(pfd, (nfds_t)n, tmo);
		if (pr < 0 && errno != EINTR) {
			/* cannot wait any more: stop the process rather than leak it */
			kill(-pid, SIGKILL);
			if (!exited && waitpid(pid, &status, 0) == pid)
				exited = 1;
			break;
		}
		if (pr > 0) {
			if (i_out >= 0 && pfd[i_out].revents)
				res->out_bytes += drain(r, so);
			if (i_err >= 0 && pfd[i_err].revents)
				res->out_bytes += drain(r, se);
		}
		joblog_flush(r->log);
		now = now_ns();
		if (!terminating && !exited) {
			if (i_cancel >= 0 && pr > 0 && (pfd[i_cancel].revents & POLLIN))
				stop_reason = EXEC_CANCELLED;
			else if (now >= deadline)
				stop_reason = EXEC_TIMEOUT;
			if (stop_reason != EXEC_OK) {
				terminating = 1;
				kill_at = now + (int64_t)grace_ms * 1000000;
				joblog_printf(r->log, "%s: sending SIGTERM to process group %d",
						stop_reason == EXEC_TIMEOUT ? "timed out" : "cancelled",
						(int)pid);
				kill(-pid, SIGTERM);
			}
		}
		if (terminating && !killed && !exited && now >= kill_at) {
			killed = 1;
			joblog_printf(r->log, "still running %d ms after SIGTERM: sending SIGKILL",
					grace_ms);
			kill(-pid, SIGKILL);
			/* The engine client dying does not stop its container: the
			 * engine's own command does.  `rm -f` kills and removes in
			 * one call, which matters when each engine call takes a
			 * few hundred ms and the whole stop has 5 s. */
			helper_start(&helpers[0], r->cleanup_argv ? r->cleanup_argv : r->kill_argv,
				     r->log);
			cleaned = r->cleanup_argv != NULL;
		}
		int gone = 0;
		if (!exited) {
			if (i_pid >= 0 && pr > 0 && (pfd[i_pid].revents & POLLIN))
				gone = 1;
			else if (pidfd < 0) {
				siginfo_t si;
				si.si_pid = 0;
				/* WNOWAIT: stays a zombie, so -pid stays ours */
				gone = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
				       si.si_pid == pid;
			}
		}
		if (gone) {
			/* The rest of the group goes with the step.  Killed before
			 * reaping: until then the pid cannot be reused, so -pid
			 * cannot name some other process group. */
			kill(-pid, SIGKILL);
			if (waitpid(pid, &status, 0) == pid) {
				exited = 1;
				drain_until = now_ns() + (int64_t)EXEC_DRAIN_MS * 1000000;
			}
		}
		if (exited && now_ns() >= drain_until)
			break;
	}
	if (so->len > 0)
		emit(r, so);
	if (se->len > 0)
		emit(r, se);
	if (so->fd >= 0)
		close(so->fd);
	if (se->fd >= 0)
		close(se->fd);
	free(so);
	free(se);
	if (pidfd >= 0)
		close(pidfd);
	/* stopped before the grace ran out (the client handled SIGTERM): the
	 * container may still be there, so remove it now */
	if (terminating && r->cleanup_argv && !cleaned)
		helper_start(&helpers[1], r->cleanup_argv, r->log);
	helpers_wait(helpers, 2, now_ns() + (int64_t)EXEC_HELPER_MS * 1000000);
	res->dur_ms = (now_ns() - t0) / 1000000;

	if (stop_reason == EXEC_CANCELLED) {
		res->outcome = EXEC_CANCELLED;
		rc = kiln_errf(err, KILN_EIO, "", "cancelled");
	} else if (stop_reason == EXEC_TIMEOUT) {
		res->outcome = EXEC_TIMEOUT;
		rc = kiln_errf(err, KILN_EIO, "", "timed out after %d s (the step's timeout_s)",
			       (r->timeout_ms + 999) / 1000);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (check_outputs(r, res) == 0) {
			res->outcome = EXEC_OK;
			rc = 0;
		} else {
			res->outcome = EXEC_MISSING_OUTPUT;
			rc = kiln_errf(err, KILN_EIO, "",
				       "exited 0 but did not write the expected output '%s'",
				       res->missing);
		}
	} else if (WIFEXITED(status)) {
		res->outcome = EXEC_EXIT;
		res->exit_code = WEXITSTATUS(status);
		rc = kiln_errf(err, KILN_EIO, "", "exited with status %d", res->exit_code);
	} else {
		res->outcome = EXEC_SIGNAL;
		res->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		rc = kiln_errf(err, KILN_EIO, "", "killed by signal %d (%s)", res->signal,
			       strsignal(res->signal));
	}
	joblog_flush(r->log);
	return rc;
}

/* --- orphans after a crash ---------------------------------------------------------- */

static int environ_has(pid_t pid, const char *marker)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* The environment of a process we started is small; 256 KiB is far
	 * more than ARG_MAX-sized ones we would create. */
	size_t cap = 256 * 1024, n = 0;
	char *buf = malloc(cap + 1);
	if (buf == NULL) {
		close(fd);
		return 0;
	}
	ssize_t r;
	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	int found = 0;
	size_t ml = strlen(marker);
	for (size_t i = 0; i < n;) {
		size_t l = strnlen(buf + i, n - i);
		if (l == ml && memcmp(buf + i, marker, ml) == 0) {
			found = 1;
			break;
		}
		i += l + 1;
	}
	free(buf);
	return found;
}

static pid_t pgrp_of(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) state ppid pgrp ...": comm may hold spaces and ')' */
	char *p = strrchr(buf, ')');
	int ppid, pgrp;
	char state;
	if (p == NULL || sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
		return -1;
	return (pid_t)pgrp;
}

int exec_kill_orphans(pid_t pgid, const char *marker)
{
	if (marker == NULL || marker[0] == '\0')
		return 0;
	DIR *d = opendir("/proc");
	if (d == NULL)
		return 0;
	int hits = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end != '\0' || pid <= 1 || pid == (long)getpid())
			continue;
		/* pgid <= 1: the crash came between the spawn and the row that
		 * records its group; the marker alone (it names the data dir and
		 * the job) then picks the processes out. */
		pid_t pg = pgrp_of((pid_t)pid);
		if ((pgid > 1 && pg != pgid) || !environ_has((pid_t)pid, marker))
			continue;
		kill((pid_t)pid, SIGKILL);
		if (pgid <= 1 && pg == (pid_t)pid)  /* a step leads its own group */
			kill(-pg, SIGKILL);
		hits++;
	}
	closedir(d);
	/* One verified member proves the group is the one we started (a
	 * process group id is not reused while a member lives); members that
	 * rewrote their environment go with it. */
	if (hits > 0 && pgid > 1)
		kill(-pgid, SIGKILL);
	return hits;
}

int exec_kill_marked(const char *marker)
{
	if (marker == NULL || marker[0] == '\0')
		return 0;
	DIR *d = opendir("/proc");
	if (d == NULL)
		return 0;
	pid_t self = getpid(), own_group = getpgrp();
	int hits = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end != '\0' || pid <= 1 || pid == (long)self)
			continue;
		if (!environ_has((pid_t)pid, marker))
			continue;
		/* Each client was started in a group of its own (posix_spawn
		 * with setpgid): the group takes what it started too. */
		pid_t g = pgrp_of((pid_t)pid);
		if (g > 1 && g != own_group)
			kill(-g, SIGKILL);
		kill((pid_t)pid, SIGKILL);
		hits++;
	}
	closedir(d);
	return hits;
}
