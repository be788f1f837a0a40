/*
 * test_server: kilnd over real HTTP on a real socket — auth and roles,
 * errors and their JSON shape, tokens, bad input, metrics, the access log,
 * restarts, migrations, configuration errors and a clean shutdown.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "kt.h"
#include "kt_server.h"

static const char *kilnd_path(void)
{
	const char *k = getenv("KILND");
	return k ? k : "build/kilnd";
}

/* The "error" object of a JSON error body; NULL (and a failed check) when
 * the body does not have the documented shape. */
static cJSON *error_of(cJSON *root)
{
	cJSON *e = cJSON_GetObjectItem(root, "error");
	if (!CHECKF(cJSON_IsObject(e), "body has no error object"))
		return NULL;
	CHECK(cJSON_IsString(cJSON_GetObjectItem(e, "code")));
	CHECK(cJSON_IsString(cJSON_GetObjectItem(e, "message")));
	CHECK(cJSON_HasObjectItem(e, "field"));
	return e;
}

static void check_error(struct kt_resp *r, long status, const char *code, const char *field)
{
	CHECKF(r->status == status, "status %ld, want %ld; body %s", r->status, status, r->body);
	cJSON *root = cJSON_Parse(r->body);
	if (!CHECKF(root != NULL, "error body is not JSON: %s", r->body))
		return;
	cJSON *e = error_of(root);
	if (e && code)
		CHECK_STR(cJSON_GetObjectItem(e, "code")->valuestring, code);
	if (e && field) {
		cJSON *f = cJSON_GetObjectItem(e, "field");
		CHECK_STR(cJSON_IsString(f) ? f->valuestring : "(null)", field);
	}
	cJSON_Delete(root);
}

static int still_serving(struct kt_server *s)
{
	struct kt_resp r;
	int ok = kt_http(s, "GET", "/healthz", NULL, NULL, NULL, 0, &r) == 0 && r.status == 200;
	kt_resp_free(&r);
	return ok;
}

static void healthz_needs_no_token(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	struct kt_resp r;
	CHECK(kt_http(&s, "GET", "/healthz", NULL, NULL, NULL, 0, &r) == 0);
	CHECK_INT(r.status, 200);
	char ct[64];
	CHECK_STR(kt_resp_header(&r, "Content-Type", ct, sizeof(ct)), "application/json");
	cJSON *j = cJSON_Parse(r.body);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "status")), "ok");
	cJSON_Delete(j);
	kt_resp_free(&r);
	CHECK_INT(kt_server_stop(&s), 0);
}

static void api_without_token_is_401_with_challenge(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	struct kt_resp r;
	kt_http(&s, "GET", "/api/v1/tokens", NULL, NULL, NULL, 0, &r);
	check_error(&r, 401, "unauthorized", NULL);
	char h[128];
	CHECK(kt_resp_header(&r, "WWW-Authenticate", h, sizeof(h)) != NULL &&
	      strncmp(h, "Bearer", 6) == 0);
	kt_resp_free(&r);
	/* A token of the right shape that was never issued. */
	kt_http(&s, "GET", "/api/v1/tokens",
		"kiln_0000000000000000000000000000000000000000000000000000000000000000",
		NULL, NULL, 0, &r);
	check_error(&r, 401, "unauthorized", NULL);
	kt_resp_free(&r);
	kt_http(&s, "GET", "/api/v1/tokens", "not-a-token", NULL, NULL, 0, &r);
	check_error(&r, 401, "unauthorized", NULL);
	kt_resp_free(&r);
	/* /metrics is not anonymous either. */
	kt_http(&s, "GET", "/metrics", NULL, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 401);
	kt_resp_free(&r);
	CHECK_INT(kt_server_stop(&s), 0);
}

/* Creates a token with the admin token; returns its id and fills secret. */
static long long make_token(struct kt_server *s, const char *name, const char *role,
			    char *secret, size_t cap)
{
	char body[200];
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"%s\"}", name, role);
	struct kt_resp r;
	kt_http(s, "POST", "/api/v1/tokens", s->token, "application/json", body, strlen(body), &r);
	long long id = -1;
	if (CHECKF(r.status == 201, "create token: %ld %s", r.status, r.body)) {
		cJSON *j = cJSON_Parse(r.body);
		id = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id"));
		snprintf(secret, cap, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "token")));
		CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "role")), role);
		CHECK(cJSON_GetObjectItem(j, "hash") == NULL);
		cJSON_Delete(j);
	}
	kt_resp_free(&r);
	return id;
}

static void user_token_on_admin_route_is_403(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	char user[128];
	make_token(&s, "alice", "user", user, sizeof(user));
	struct kt_resp r;
	kt_http(&s, "GET", "/api/v1/tokens", user, NULL, NULL, 0, &r);
	check_error(&r, 403, "forbidden", NULL);
	kt_resp_free(&r);
	/* ...but a user may read metrics. */
	kt_http(&s, "GET", "/metrics", user, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 200);
	kt_resp_free(&r);
	CHECK_INT(kt_server_stop(&s), 0);
}

static void unknown_path_is_404_and_wrong_method_is_405_with_allow(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	struct kt_resp r;
	kt_http(&s, "GET", "/api/v1/nothing-here", s.token, NULL, NULL, 0, &r);
	check_error(&r, 404, "not_found", NULL);
	kt_resp_free(&r);
	kt_http(&s, "DELETE", "/healthz", NULL, NULL, NULL, 0, &r);
	check_error(&r, 405, "method_not_allowed", NULL);
	char allow[64];
	CHECK_STR(kt_resp_header(&r, "Allow", allow, sizeof(allow)), "GET, HEAD");
	kt_resp_free(&r);
	kt_http(&s, "PUT", "/api/v1/tokens", s.token, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 405);
	CHECK_STR(kt_resp_header(&r, "Allow", allow, sizeof(allow)), "POST, GET, HEAD");
	kt_resp_free(&r);
	kt_http(&s, "HEAD", "/healthz", NULL, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 200);
	CHECK_INT(r.len, 0);
	kt_resp_free(&r);
	kt_http(&s, "GET", "/api/v1/tokens/abc", s.token, NULL, NULL, 0, &r);
	check_error(&r, 404, "not_found", "id");
	kt_resp_free(&r);
	kt_http(&s, "GET", "/api/v1/tokens/999", s.token, NULL, NULL, 0, &r);
	check_error(&r, 404, "not_found", "id");
	kt_resp_free(&r);
	CHECK_INT(kt_server_stop(&s), 0);
}

static void tokens_create_list_page_revoke(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	char sec[4][128];
	long long ids[4];
	ids[0] = make_token(&s, "ci", "user", sec[0], sizeof(sec[0]));
	ids[1] = make_token(&s, "bob", "user", sec[1], sizeof(sec[1]));
	ids[2] = make_token(&s, "ops", "admin", sec[2], sizeof(sec[2]));
	CHECK(strcmp(sec[0], sec[1]) != 0);
	/* The new user token works where a user may go. */
	struct kt_resp r;
	kt_http(&s, "GET", "/metrics", sec[0], NULL, NULL, 0, &r);
	CHECK_INT(r.status, 200);
	kt_resp_free(&r);
	/* Four tokens (bootstrap admin + 3) in pages of two. */
	kt_http(&s, "GET", "/api/v1/tokens?limit=2", s.token, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 200);
	cJSON *j = cJSON_Parse(r.body);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 2);
	cJSON *next = cJSON_GetObjectItem(j, "next");
	CHECK(cJSON_IsNumber(next));
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/tokens?limit=2&after=%lld",
		 (long long)cJSON_GetNumberValue(next));
	cJSON_Delete(j);
	kt_resp_free(&r);
	kt_http(&s, "GET", path, s.token, NULL, NULL, 0, &r);
	j = cJSON_Parse(r.body);
	cJSON *items = cJSON_GetObjectItem(j, "items");
	CHECK_INT(cJSON_GetArraySize(items), 2);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "next")));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 1), "name")),
		  "ops");
	CHECK(strstr(r.body, "kiln_") == NULL); /* no secret in a listing */
	cJSON_Delete(j);
	kt_resp_free(&r);
	/* Revoke bob: his token stops working at once. */
	snprintf(path, sizeof(path), "/api/v1/tokens/%lld", ids[1]);
	kt_http(&s, "DELETE", path, s.token, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 204);
	kt_resp_free(&r);
	kt_http(&s, "GET", "/metrics", sec[1], NULL, NULL, 0, &r);
	check_error(&r, 401, "unauthorized", NULL);
	CHECK(strstr(r.body, "revoked") != NULL);
	kt_resp_free(&r);
	kt_http(&s, "DELETE", path, s.token, NULL, NULL, 0, &r);
	check_error(&r, 404, "not_found", "id");
	kt_resp_free(&r);
	/* Revoke the bootstrap admin with the other admin, then try to revoke
	 * the last admin: refused so nobody is locked out. */
	kt_http(&s, "DELETE", "/api/v1/tokens/1", sec[2], NULL, NULL, 0, &r);
	CHECK_INT(r.status, 204);
	kt_resp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/tokens/%lld", ids[2]);
	kt_http(&s, "DELETE", path, sec[2], NULL, NULL, 0, &r);
	check_error(&r, 409, "conflict", "id");
	kt_resp_free(&r);
	CHECK_INT(kt_server_stop(&s), 0);
}

static void token_create_rejects_bad_fields(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	static const struct {
		const char *body;
		const char *code;
		const char *field;
	} cases[] = {
		{"{\"role\":\"user\"}", "invalid", "name"},
		{"{\"name\":\"has space\"}", "invalid", "name"},
		{"{\"name\":\"x\",\"role\":\"device\"}", "invalid", "role"},
		{"{\"name\":\"x\",\"role\":\"root\"}", "invalid", "role"},
		{"{\"name\":\"x\",\"colour\":\"red\"}", "invalid", "colour"},
		{"[1,2]", "invalid", NULL},
		{"{\"name\": \"x\"", "invalid_json", NULL},
		{"{\"name\":\"x\"} trailing", "invalid_json", NULL},
		{"", "invalid_json", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_resp r;
		kt_http(&s, "POST", "/api/v1/tokens", s.token, "application/json", cases[i].body,
			strlen(cases[i].body), &r);
		check_error(&r, 400, cases[i].code, cases[i].field);
		kt_resp_free(&r);
	}
	/* A NUL byte inside the body. */
	struct kt_resp r;
	kt_http(&s, "POST", "/api/v1/tokens", s.token, "application/json",
		"{\"name\":\"a\"}\0{}", 15, &r);
	check_error(&r, 400, "invalid_json", NULL);
	kt_resp_free(&r);
	CHECK(still_serving(&s));
	CHECK_INT(kt_server_stop(&s), 0);
}

static void bad_requests_get_4xx_and_server_keeps_serving(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, "[server]\nmax_json_body = 2K\n"
				   "connection_memory_limit = 16K\n", NULL) == 0))
		return;
	struct kt_resp r;
	/* A body on a route that takes none. */
	kt_http(&s, "GET", "/api/v1/tokens", s.token, "application/json", "{}", 2, &r);
	check_error(&r, 400, "body_not_allowed", NULL);
	kt_resp_free(&r);
	/* JSON body over the limit, announced by Content-Length. */
	size_t big = 64 * 1024;
	char *body = malloc(big);
	char *req = malloc(big + 1024);
	/* static: gcc 12 under -fsanitize misjudges a malloc'd one's bounds */
	static char longreq[40000 + 200];
	size_t ulen = 40000;
	if (!CHECK(body && req))
		return;
	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	kt_http(&s, "POST", "/api/v1/tokens", s.token, "application/json", body, big, &r);
	check_error(&r, 413, "too_large", NULL);
	CHECK(strstr(r.body, "max_json_body") != NULL);
	kt_resp_free(&r);
	CHECK(still_serving(&s));
	/* The same over chunked encoding (no Content-Length to check first). */
	char raw[8192];
	int n = snprintf(req, 1024, "POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\n"
			 "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
			 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%zx\r\n",
			 s.token, big);
	memcpy(req + n, body, big);
	memcpy(req + n + big, "\r\n0\r\n\r\n", 7);
	long got = kt_raw(&s, req, (size_t)n + big + 7, raw, sizeof(raw));
	CHECKF(got > 0 && strncmp(raw, "HTTP/1.1 413", 12) == 0, "chunked: %.80s", raw);
	free(req);
	free(body);
	/* A URL longer than the connection's memory: 414 from libmicrohttpd. */
	memcpy(longreq, "GET /", 5);
	memset(longreq + 5, 'a', ulen);
	n = snprintf(longreq + 5 + ulen, 200, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	got = kt_raw(&s, longreq, 5 + ulen + (size_t)n, raw, sizeof(raw));
	CHECKF(got > 0 && (strncmp(raw, "HTTP/1.1 414", 12) == 0), "long URL: %.80s", raw);
	/* A header longer than the connection's memory: 431. */
	memcpy(longreq, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", 39);
	memset(longreq + 39, 'b', ulen);
	n = snprintf(longreq + 39 + ulen, 100, "\r\nConnection: close\r\n\r\n");
	got = kt_raw(&s, longreq, 39 + ulen + (size_t)n, raw, sizeof(raw));
	CHECKF(got > 0 && strncmp(raw, "HTTP/1.1 431", 12) == 0, "long header: %.80s", raw);
	/* Not HTTP at all. */
	got = kt_raw(&s, "\x16\x03\x01\x02\x00garbage\r\n\r\n", 16, raw, sizeof(raw));
	CHECKF(got <= 0 || strncmp(raw, "HTTP/1.1 4", 10) == 0, "garbage: %.80s", raw);
	CHECK(still_serving(&s));
	CHECK_INT(kt_server_stop(&s), 0);
}

/* Parses one sample's value out of a Prometheus text page; -1 if absent. */
static double metric(const char *text, const char *sample)
{
	size_t n = strlen(sample);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, sample, n) == 0 && p[n] == ' ')
			return atof(p + n + 1);
	}
	return -1;
}

static void metrics_count_requests_by_route_and_status(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	for (int i = 0; i < 3; i++)
		CHECK(still_serving(&s));
	struct kt_resp r;
	kt_http(&s, "GET", "/api/v1/tokens", NULL, NULL, NULL, 0, &r);
	kt_resp_free(&r);
	kt_http(&s, "GET", "/nope", NULL, NULL, NULL, 0, &r);
	kt_resp_free(&r);
	kt_http(&s, "GET", "/metrics", s.token, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 200);
	char ct[80];
	CHECK(strncmp(kt_resp_header(&r, "Content-Type", ct, sizeof(ct)), "text/plain", 10) == 0);
	CHECK(metric(r.body, "kiln_http_requests_total{route=\"healthz\",status=\"200\"}") == 3);
	CHECK(metric(r.body, "kiln_http_requests_total{route=\"tokens_list\",status=\"401\"}") == 1);
	CHECK(metric(r.body, "kiln_http_requests_total{route=\"unmatched\",status=\"404\"}") == 1);
	CHECK(metric(r.body, "kiln_http_request_duration_seconds_count{route=\"healthz\"}") == 3);
	CHECK(metric(r.body, "kiln_http_request_duration_seconds_bucket{route=\"healthz\",le=\"+Inf\"}") == 3);
	CHECK(metric(r.body, "kiln_http_open_connections") >= 1);
	CHECK(metric(r.body, "kiln_uptime_seconds") >= 0);
	CHECK(strstr(r.body, "# TYPE kiln_http_request_duration_seconds histogram") != NULL);
	kt_resp_free(&r);
	CHECK_INT(kt_server_stop(&s), 0);
}

static int count_lines_with(const char *text, const char *needle1, const char *needle2)
{
	int n = 0;
	for (const char *p = text; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[2048];
		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		if (strstr(line, needle1) && strstr(line, needle2))
			n++;
		p = eol ? eol + 1 : NULL;
	}
	return n;
}

static void access_log_has_one_line_per_request(void)
{
	const char *dir = kt_tmpdir();
	char ini[600], logp[512];
	snprintf(logp, sizeof(logp), "%s/access.log", dir);
	snprintf(ini, sizeof(ini), "[server]\naccess_log = %s\n", logp);
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, ini, NULL) == 0))
		return;
	for (int i = 0; i < 3; i++)
		CHECK(still_serving(&s));
	struct kt_resp r;
	kt_http(&s, "GET", "/x%0Ay\"z", NULL, NULL, NULL, 0, &r);
	kt_resp_free(&r);
	CHECK_INT(kt_server_stop(&s), 0); /* the log is complete once kilnd stops */
	char *log = kt_read_file(logp, NULL);
	if (!CHECK(log != NULL))
		return;
	CHECK_INT(count_lines_with(log, "method=GET path=/healthz status=200 bytes=15 dur_ms=",
				   "route=healthz"), 3);
	/* The decoded newline and quote in the path are escaped, not split. */
	CHECK_INT(count_lines_with(log, "path=/x\\x0ay\\x22z status=404", "time="), 1);
	CHECK_INT(count_lines_with(log, "time=", "method="), 4);
	free(log);
}

static void restart_keeps_data_and_admin_token(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	char first[128], user[128], dir[512];
	snprintf(first, sizeof(first), "%s", s.token);
	snprintf(dir, sizeof(dir), "%s", s.data_dir);
	make_token(&s, "keeper", "user", user, sizeof(user));
	CHECK_INT(kt_server_stop(&s), 0);
	struct stat st;
	char tpath[600];
	snprintf(tpath, sizeof(tpath), "%s/admin.token", dir);
	CHECK(stat(tpath, &st) == 0 && (st.st_mode & 0777) == 0600);
	if (!CHECK(kt_server_start(&s, NULL, dir) == 0))
		return;
	CHECK_STR(s.token, first);
	struct kt_resp r;
	kt_http(&s, "GET", "/metrics", user, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 200);
	kt_resp_free(&r);
	CHECK_INT(kt_server_stop(&s), 0);
	/* The log says where the token is, never the token. */
	char *log = kt_read_file(s.log, NULL);
	CHECK(log && strstr(log, first) == NULL);
	free(log);
}

/* Runs kilnd with args to completion; returns its exit status and leaves
 * its stderr in *out (caller frees). */
static int run_kilnd(char *const args[], char **out)
{
	const char *dir = kt_tmpdir();
	char errp[600];
	snprintf(errp, sizeof(errp), "%s/stderr", dir);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		char *argv[16];
		int n = 0;
		argv[n++] = (char *)kilnd_path();
		for (int i = 0; args[i] && n < 15; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		execv(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	*out = kt_read_file(errp, NULL);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void config_errors_name_the_problem_and_exit_2(void)
{
	const char *dir = kt_tmpdir();
	char ini[600], data[600];
	snprintf(data, sizeof(data), "%s/var", dir);
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{"[server]\nlisten = 127.0.0.1:0\ncolour = blue\n", ":3: unknown key 'colour' in section [server]"},
		{"[server]\nthreads = lots\n", ":2: server.threads = 'lots': need a whole number"},
		{"[server]\nmax_json_body = 12Q\n", "server.max_json_body = '12Q'"},
		{"[server]\nlisten = nowhere\n", "listen 'nowhere'"},
		{"[toolchain.tpu-mlir]\nengine = vmware\n", "must be one of docker|podman|local"},
		{"[toolchain.nvidia]\nengine = local\n", "unknown section [toolchain.nvidia]"},
		{"[server\nlisten = 1\n", ":1: key 'listen' is outside any [section]"},
		{"[server]\nthis line has no equals sign\n", ":2: not an ini line"},
	};
	snprintf(ini, sizeof(ini), "%s/kiln.ini", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kt_write_file(ini, cases[i].text, strlen(cases[i].text));
		char *args[] = {"--config", ini, "--data-dir", data, NULL};
		char *err = NULL;
		CHECK_INT(run_kilnd(args, &err), 2);
		CHECKF(err && strstr(err, cases[i].want), "case %zu: stderr %s lacks \"%s\"", i,
		       err ? err : "(none)", cases[i].want);
		free(err);
	}
	char missing[700];
	snprintf(missing, sizeof(missing), "%s/no-such.ini", dir);
	char *args[] = {"--config", missing, NULL};
	char *err = NULL;
	CHECK_INT(run_kilnd(args, &err), 2);
	CHECK(err && strstr(err, "cannot read") && strstr(err, "no-such.ini"));
	free(err);
	char *args2[] = {"--listen", "127.0.0.1:99999", NULL};
	CHECK_INT(run_kilnd(args2, &err), 2);
	free(err);
	char *args3[] = {"--bogus", NULL};
	CHECK_INT(run_kilnd(args3, &err), 2);
	free(err);
	/* Nothing was created for a configuration that was refused. */
	struct stat st;
	CHECK(stat(data, &st) != 0);
}

static void newer_database_is_refused(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	CHECK_INT(kt_server_stop(&s), 0);
	char dbp[600];
	snprintf(dbp, sizeof(dbp), "%s/kiln.db", s.data_dir);
	sqlite3 *db;
	CHECK(sqlite3_open(dbp, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (9999, 'schema/9999_future.sql',"
			   " '2030-01-01')", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	char *args[] = {"--data-dir", s.data_dir, "--listen", "127.0.0.1:0", NULL};
	char *err = NULL;
	CHECK_INT(run_kilnd(args, &err), 1);
	CHECKF(err && strstr(err, "newer kilnd") && strstr(err, "9999"), "stderr: %s", err);
	free(err);
}

static void sigterm_lets_an_inflight_request_finish(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	/* Headers and half the body now; SIGTERM; the rest afterwards. */
	char host[64];
	snprintf(host, sizeof(host), "%s", s.addr);
	char *colon = strrchr(host, ':');
	*colon = '\0';
	int fd = -1;
	const char *body = "{\"name\":\"late\",\"role\":\"user\"}";
	char head[512];
	int hn = snprintf(head, sizeof(head), "POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\n"
			  "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
			  "Content-Length: %zu\r\nConnection: close\r\n\r\n%.10s",
			  s.token, strlen(body), body);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
	inet_pton(AF_INET, host, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (!CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0))
		return;
	CHECK(send(fd, head, (size_t)hn, 0) == hn);
	/* Wait until kilnd has started this request: the metrics page, itself
	 * a request in flight, shows two.  Each round is a real request, not a
	 * sleep; the bound only stops a broken server from hanging the test. */
	int seen = 0;
	for (int i = 0; i < 100000 && !seen; i++) {
		struct kt_resp r;
		kt_http(&s, "GET", "/metrics", s.token, NULL, NULL, 0, &r);
		seen = metric(r.body, "kiln_http_requests_in_flight") >= 2;
		kt_resp_free(&r);
	}
	CHECK(seen);
	kill(s.pid, SIGTERM);
	const char *rest = body + 10;
	CHECK(send(fd, rest, strlen(rest), 0) == (ssize_t)strlen(rest));
	char reply[4096];
	size_t got = 0;
	ssize_t n;
	while ((n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0)) > 0)
		got += (size_t)n;
	reply[got] = '\0';
	close(fd);
	CHECKF(strncmp(reply, "HTTP/1.1 201", 12) == 0, "in-flight reply: %.100s", reply);
	int st = 0;
	waitpid(s.pid, &st, 0);
	s.pid = 0;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char *log = kt_read_file(s.log, NULL);
	CHECK(log && strstr(log, "msg=\"stopped\""));
	free(log);
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"healthz_needs_no_token", healthz_needs_no_token},
		{"api_without_token_is_401_with_challenge", api_without_token_is_401_with_challenge},
		{"user_token_on_admin_route_is_403", user_token_on_admin_route_is_403},
		{"unknown_path_is_404_and_wrong_method_is_405_with_allow",
		 unknown_path_is_404_and_wrong_method_is_405_with_allow},
		{"tokens_create_list_page_revoke", tokens_create_list_page_revoke},
		{"token_create_rejects_bad_fields", token_create_rejects_bad_fields},
		{"bad_requests_get_4xx_and_server_keeps_serving",
		 bad_requests_get_4xx_and_server_keeps_serving},
		{"metrics_count_requests_by_route_and_status",
		 metrics_count_requests_by_route_and_status},
		{"access_log_has_one_line_per_request", access_log_has_one_line_per_request},
		{"restart_keeps_data_and_admin_token", restart_keeps_data_and_admin_token},
		{"config_errors_name_the_problem_and_exit_2", config_errors_name_the_problem_and_exit_2},
		{"newer_database_is_refused", newer_database_is_refused},
		{"sigterm_lets_an_inflight_request_finish", sigterm_lets_an_inflight_request_finish},
	};
	return kt_main("server", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
