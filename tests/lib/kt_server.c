/*
 * kt_server: start/stop kilnd and talk HTTP to it (see kt_server.h).
 */
#include "kt_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt.h"

static void dump_log(const struct kt_server *s)
{
	char *log = kt_read_file(s->log, NULL);
	fprintf(stderr, "---- kilnd log %s ----\n%s\n----\n", s->log, log ? log : "(none)");
	free(log);
}

int kt_server_start(struct kt_server *s, const char *ini, const char *data_dir)
{
	memset(s, 0, sizeof(*s));
	const char *dir = kt_tmpdir();
	if (data_dir)
		snprintf(s->data_dir, sizeof(s->data_dir), "%s", data_dir);
	else
		snprintf(s->data_dir, sizeof(s->data_dir), "%s/var", dir);
	snprintf(s->log, sizeof(s->log), "%s/kilnd.log", dir);
	if (ini) {
		snprintf(s->config, sizeof(s->config), "%s/kiln.ini", dir);
		if (kt_write_file(s->config, ini, strlen(ini)) != 0)
			return -1;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	const char *kilnd = getenv("KILND");
	if (kilnd == NULL)
		kilnd = "build/kilnd";
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(logfd, 2);
		dup2(p[1], 3); /* dup2 clears O_CLOEXEC on fd 3 */
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		char *argv[12];
		int n = 0;
		argv[n++] = (char *)kilnd;
		if (ini) {
			argv[n++] = "--config";
			argv[n++] = s->config;
		}
		argv[n++] = "--listen";
		argv[n++] = "127.0.0.1:0";
		argv[n++] = "--data-dir";
		argv[n++] = s->data_dir;
		argv[n++] = "--ready-fd";
		argv[n++] = "3";
		argv[n] = NULL;
		execv(kilnd, argv);
		_exit(127);
	}
	close(p[1]);
	s->pid = pid;
	/* Blocks until kilnd writes its address, or exits (EOF). */
	char buf[64] = {0};
	size_t got = 0;
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(p[0], buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	close(p[0]);
	char *nl = memchr(buf, '\n', got);
	if (nl == NULL) {
		int st;
		waitpid(pid, &st, 0);
		s->pid = 0;
		fprintf(stderr, "kilnd did not start (status %d)\n", WEXITSTATUS(st));
		dump_log(s);
		return -1;
	}
	*nl = '\0';
	snprintf(s->addr, sizeof(s->addr), "%s", buf);
	char tpath[600];
	snprintf(tpath, sizeof(tpath), "%s/admin.token", s->data_dir);
	char *tok = kt_read_file(tpath, NULL);
	if (tok) {
		tok[strcspn(tok, "\n")] = '\0';
		snprintf(s->token, sizeof(s->token), "%s", tok);
		free(tok);
	}
	return 0;
}

int kt_server_stop(struct kt_server *s)
{
	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	int st = 0;
	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	s->pid = 0;
	if (WIFSIGNALED(st)) {
		dump_log(s);
		return 128 + WTERMSIG(st);
	}
	if (WEXITSTATUS(st) != 0)
		dump_log(s);
	return WEXITSTATUS(st);
}

void kt_server_kill(struct kt_server *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

struct growbuf {
	char *p;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct growbuf *b = user;
	size_t n = size * nmemb;
	char *np = realloc(b->p, b->len + n + 1);
	if (np == NULL)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

int kt_http(struct kt_server *s, const char *method, const char *path, const char *token,
	    const char *content_type, const void *body, size_t len, struct kt_resp *r)
{
	memset(r, 0, sizeof(*r));
	CURL *c = curl_easy_init();
	if (c == NULL)
		return -1;
	char url[4096 + 128];
	snprintf(url, sizeof(url), "http://%s%s", s->addr, path);
	struct growbuf b = {0}, h = {0};
	struct curl_slist *hdrs = NULL;
	char line[256];
	if (token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", content_type);
		hdrs = curl_slist_append(hdrs, line);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	else
		fprintf(stderr, "curl %s %s: %s\n", method, path, curl_easy_strerror(rc));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	r->body = b.p ? b.p : strdup("");
	r->len = b.len;
	r->headers = h.p ? h.p : strdup("");
	return rc == CURLE_OK ? 0 : -1;
}

const char *kt_resp_header(const struct kt_resp *r, const char *name, char *buf, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *p = r->headers; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = ll - (size_t)(v - p);
			if (vl >= cap)
				vl = cap - 1;
			memcpy(buf, v, vl);
			buf[vl] = '\0';
			return buf;
		}
		if (eol == NULL)
			break;
		p = eol + 2;
	}
	return NULL;
}

void kt_resp_free(struct kt_resp *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

long kt_raw(struct kt_server *s, const void *req, size_t len, char *out, size_t cap)
{
	char host[64];
	snprintf(host, sizeof(host), "%s", s->addr);
	char *colon = strrchr(host, ':');
	if (colon == NULL)
		return -1;
	*colon = '\0';
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
	inet_pton(AF_INET, host, &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = {30, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	const char *p = req;
	size_t left = len;
	while (left > 0) {
		ssize_t n = send(fd, p, left, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server may answer and close before reading it all */
		p += n;
		left -= (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	size_t got = 0;
	while (got + 1 < cap) {
		ssize_t n = recv(fd, out + got, cap - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	close(fd);
	return (long)got;
}
