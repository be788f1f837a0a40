/*
 * transport: ssh/scp/adb argv building and running (see transport.h).
 * Each call is one exec_run() of one client process with a deadline; the
 * client's own stderr line is what a failure message quotes, because
 * "Connection refused" or "Host key verification failed" tells the operator
 * exactly what to fix.
 */
#include "deploy/transport.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/exec.h"

#define ARGV_MAX 64
/* ssh's exit status for its own failures (connection, auth, host key). */
#define SSH_EXIT_FAILURE 255

struct argv_buf {
	char *v[ARGV_MAX + 1];
	char *owned[ARGV_MAX];
	size_t n, n_owned;
	int oom;
};

static void av_add(struct argv_buf *a, const char *s)
{
	if (a->n < ARGV_MAX)
		a->v[a->n++] = (char *)s;
	else
		a->oom = 1;
	a->v[a->n] = NULL;
}

static void av_addf(struct argv_buf *a, const char *fmt, const char *s1, long long n)
{
	char *p = NULL;
	if (s1)
		p = (asprintf(&p, fmt, s1) < 0) ? NULL : p;
	else
		p = (asprintf(&p, fmt, n) < 0) ? NULL : p;
	if (p == NULL || a->n_owned == ARGV_MAX) {
		free(p);
		a->oom = 1;
		return;
	}
	a->owned[a->n_owned++] = p;
	av_add(a, p);
}

static void av_free(struct argv_buf *a)
{
	for (size_t i = 0; i < a->n_owned; i++)
		free(a->owned[i]);
	a->n = a->n_owned = 0;
}

int transport_marker(const char *data_dir, char *buf, size_t cap)
{
	char real[PATH_MAX];
	if (realpath(data_dir, real) == NULL)
		snprintf(real, sizeof(real), "%s", data_dir);
	int n = snprintf(buf, cap, TRANSPORT_MARKER "=%s/deploy", real);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

int transport_open(struct transport *t, enum device_transport kind, const char *address,
		   const char *data_dir, long long device_id, int connect_timeout_s,
		   struct kiln_err *err)
{
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	if (transport_marker(data_dir, t->marker, sizeof(t->marker)) != 0)
		return kiln_errf(err, KILN_EINVAL, "", "data_dir is too long");
	t->connect_timeout_s = connect_timeout_s > 0 ? connect_timeout_s : 10;
	int rc = device_address_check(kind, address, err);
	if (rc != 0)
		return rc;
	if (kind == DEVICE_PULL)
		return kiln_errf(err, KILN_ECONFLICT, "device",
				 "this device is registered for pull only (transport 'pull'); push "
				 "deployments need transport 'ssh' or 'adb'");
	if (kind == DEVICE_ADB) {
		snprintf(t->serial, sizeof(t->serial), "%s", address);
		return 0;
	}
	rc = device_ssh_parse(address, &t->ssh, err);
	if (rc != 0)
		return rc;
	if (device_key_paths(data_dir, device_id, t->key, t->known_hosts, sizeof(t->key)) != 0)
		return kiln_errf(err, KILN_EINVAL, "", "data_dir is too long for key paths");
	return 0;
}

void transport_describe(const struct transport *t, char *buf, size_t cap)
{
	if (t->kind == DEVICE_ADB)
		snprintf(buf, cap, "adb device %s", t->serial);
	else
		snprintf(buf, cap, "ssh %s%s%s%s%s:%d", t->ssh.user, t->ssh.user[0] ? "@" : "",
			 strchr(t->ssh.host, ':') ? "[" : "", t->ssh.host,
			 strchr(t->ssh.host, ':') ? "]" : "", t->ssh.port);
}

/* The options both ssh and scp take, in the same spelling. */
static void ssh_common(struct argv_buf *a, const struct transport *t)
{
	av_add(a, "-F");
	av_add(a, "none");
	av_add(a, "-i");
	av_add(a, t->key);
	av_add(a, "-o");
	av_add(a, "IdentitiesOnly=yes");
	av_add(a, "-o");
	av_add(a, "BatchMode=yes");
	av_add(a, "-o");
	av_addf(a, "ConnectTimeout=%lld", NULL, t->connect_timeout_s);
	av_add(a, "-o");
	av_add(a, "StrictHostKeyChecking=accept-new");
	av_add(a, "-o");
	av_addf(a, "UserKnownHostsFile=%s", t->known_hosts, 0);
	/* A board that dies mid-run is noticed in ~15 s instead of at the step
	 * deadline. */
	av_add(a, "-o");
	av_add(a, "ServerAliveInterval=5");
	av_add(a, "-o");
	av_add(a, "ServerAliveCountMax=3");
	av_add(a, "-o");
	av_add(a, "LogLevel=ERROR");
}

/* One argv element for a remote shell: '...' with each ' as '\''. */
static int quote_arg(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t need = *len + 4 * strlen(s) + 4;
	if (need > *cap) {
		size_t nc = need * 2;
		char *nb = realloc(*buf, nc);
		if (nb == NULL)
			return -1;
		*buf = nb;
		*cap = nc;
	}
	char *p = *buf + *len;
	if (*len)
		*p++ = ' ';
	*p++ = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *s;
		}
	}
	*p++ = '\'';
	*p = '\0';
	*len = (size_t)(p - *buf);
	return 0;
}

struct collect {
	struct transport_out *out;
};

static void append(char **buf, size_t *len, int *trunc, const char *line, size_t n)
{
	if (*len + n + 2 > TRANSPORT_OUT_MAX) {
		*trunc = 1;
		return;
	}
	char *nb = realloc(*buf, *len + n + 2);
	if (nb == NULL) {
		*trunc = 1;
		return;
	}
	/* Output is kept and shown as text: a NUL would end it early and other
	 * control bytes would garble a terminal, so each becomes '?'. */
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)line[i];
		nb[*len + i] = (ch < 0x20 && ch != '\t') || ch == 0x7f ? '?' : (char)ch;
	}
	nb[*len + n] = '\n';
	nb[*len + n + 1] = '\0';
	*buf = nb;
	*len += n + 1;
}

static void on_line(void *arg, int stream, const char *line, size_t len)
{
	struct transport_out *o = ((struct collect *)arg)->out;
	if (stream == 1)
		append(&o->out, &o->out_len, &o->truncated, line, len);
	else
		append(&o->err, &o->err_len, &o->truncated, line, len);
}

/* The last non-empty line of text, into buf, for messages. */
static const char *last_line(const char *text, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (text == NULL)
		return buf;
	const char *end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	const char *start = end;
	while (start > text && start[-1] != '\n')
		start--;
	snprintf(buf, cap, "%.*s", (int)(end - start), start);
	return buf;
}

static int run_client(const struct transport *t, struct argv_buf *a, int timeout_ms,
		      const char *what, struct transport_out *out, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	if (a->oom)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory building the %s command",
				 what);
	struct collect col = {out};
	struct exec_req req = {0};
	/* The daemon's environment plus the marker a restart looks for. */
	size_t n_env = 0;
	while (environ[n_env])
		n_env++;
	char **envp = calloc(n_env + 2, sizeof(*envp));
	if (envp == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory building the %s command",
				 what);
	memcpy(envp, environ, n_env * sizeof(*envp));
	envp[n_env] = (char *)t->marker;
	req.envp = envp;
	req.argv = a->v;
	req.timeout_ms = timeout_ms;
	req.on_line = on_line;
	req.arg = &col;
	struct exec_result res;
	struct kiln_err xerr;
	kiln_err_clear(&xerr);
	int rc = exec_run(&req, &res, &xerr);
	free(envp);
	if (out->out == NULL)
		out->out = calloc(1, 1);
	if (out->err == NULL)
		out->err = calloc(1, 1);
	char dev[300], line[300];
	transport_describe(t, dev, sizeof(dev));
	if (res.outcome == EXEC_EXIT || res.outcome == EXEC_OK)
		out->exit_code = res.exit_code;
	if (rc == 0)
		return 0;
	last_line(out->err, line, sizeof(line));
	switch (res.outcome) {
	case EXEC_SPAWN_FAILED:
		return kiln_errf(err, KILN_EUNAVAIL, "", "%s is not installed on the Kiln server "
				 "(Debian: %s): %s", a->v[0],
				 t->kind == DEVICE_ADB ? "adb" : "openssh-client", xerr.msg);
	case EXEC_TIMEOUT:
		out->timed_out = 1;
		return kiln_errf(err, KILN_EIO, "", "%s on %s did not finish within %d s%s%s",
				 what, dev, timeout_ms / 1000, line[0] ? "; last output: " : "",
				 line);
	case EXEC_EXIT:
		if (t->kind == DEVICE_SSH && res.exit_code == SSH_EXIT_FAILURE)
			return kiln_errf(err, KILN_EIO, "", "cannot reach %s: %s", dev,
					 line[0] ? line : "ssh failed without a message");
		if (t->kind == DEVICE_SSH && strcmp(a->v[0], "scp") == 0)
			return kiln_errf(err, KILN_EIO, "", "copying to %s failed: %s", dev,
					 line[0] ? line : "scp failed without a message");
		return kiln_errf(err, KILN_EIO, "", "%s on %s exited with status %d%s%s", what,
				 dev, res.exit_code, line[0] ? ": " : "", line);
	default:
		return kiln_errf(err, KILN_EIO, "", "%s on %s: %s", what, dev, xerr.msg);
	}
}

int transport_push(const struct transport *t, const char *const *files, const char *remote_dir,
		   int timeout_ms, struct kiln_err *err)
{
	struct argv_buf a = {0};
	if (t->kind == DEVICE_ADB) {
		av_add(&a, "adb");
		av_add(&a, "-s");
		av_add(&a, t->serial);
		av_add(&a, "push");
		for (size_t i = 0; files[i]; i++)
			av_add(&a, files[i]);
		av_addf(&a, "%s/", remote_dir, 0);
	} else {
		av_add(&a, "scp");
		/* The original scp protocol: the boards' dropbear and busybox images
		 * rarely ship an sftp-server, which OpenSSH 9's scp uses by default. */
		av_add(&a, "-O");
		av_add(&a, "-q");
		ssh_common(&a, t);
		av_add(&a, "-P");
		av_addf(&a, "%lld", NULL, t->ssh.port);
		av_add(&a, "--");
		for (size_t i = 0; files[i]; i++)
			av_add(&a, files[i]);
		char *dest = NULL;
		int v6 = strchr(t->ssh.host, ':') != NULL;
		if (asprintf(&dest, "%s%s%s%s%s:%s/", t->ssh.user, t->ssh.user[0] ? "@" : "",
			     v6 ? "[" : "", t->ssh.host, v6 ? "]" : "", remote_dir) < 0)
			dest = NULL;
		if (dest && a.n_owned < ARGV_MAX) {
			a.owned[a.n_owned++] = dest;
			av_add(&a, dest);
		} else {
			free(dest);
			a.oom = 1;
		}
	}
	struct transport_out out;
	int rc = run_client(t, &a, timeout_ms, "copying files", &out, err);
	transport_out_free(&out);
	av_free(&a);
	return rc;
}

int transport_run(const struct transport *t, const char *const *argv, int timeout_ms,
		  struct transport_out *out, struct kiln_err *err)
{
	char *cmd = NULL;
	size_t len = 0, cap = 0;
	for (size_t i = 0; argv[i]; i++)
		if (quote_arg(&cmd, &len, &cap, argv[i]) != 0) {
			free(cmd);
			memset(out, 0, sizeof(*out));
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		}
	struct argv_buf a = {0};
	if (t->kind == DEVICE_ADB) {
		av_add(&a, "adb");
		av_add(&a, "-s");
		av_add(&a, t->serial);
		av_add(&a, "shell");
	} else {
		av_add(&a, "ssh");
		ssh_common(&a, t);
		av_add(&a, "-p");
		av_addf(&a, "%lld", NULL, t->ssh.port);
		if (t->ssh.user[0]) {
			av_add(&a, "-l");
			av_add(&a, t->ssh.user);
		}
		av_add(&a, "--");
		av_add(&a, t->ssh.host);
	}
	av_add(&a, cmd ? cmd : "");
	char what[80];
	snprintf(what, sizeof(what), "'%.60s'", argv[0]);
	int rc = run_client(t, &a, timeout_ms, what, out, err);
	av_free(&a);
	free(cmd);
	return rc;
}

void transport_out_free(struct transport_out *out)
{
	if (out == NULL)
		return;
	free(out->out);
	free(out->err);
	out->out = out->err = NULL;
}
