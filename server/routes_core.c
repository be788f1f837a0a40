/*
 * routes_core: liveness, metrics, and the helpers several route files share
 * (the id parameter, ?wait=N, plain lists, JSON bodies).
 * (The dashboard's files are routes_ui.c.)
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "server/app.h"
#include "server/metrics.h"
#include "server/routes.h"

void route_healthz(struct http_req *req)
{
	/* Liveness only: answering proves the HTTP threads run.  Kept constant
	 * so load balancers and the benchmark compare like with like. */
	static const char body[] = "{\"status\":\"ok\"}";
	http_reply_bytes(req, 200, "application/json", body, sizeof(body) - 1);
	http_reply_header(req, "Cache-Control", "no-store");
}

void route_metrics(struct http_req *req)
{
	size_t len = 0;
	char *text = metrics_render(http_server_metrics(http_req_server(req)), &len);
	if (text == NULL) {
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	http_reply_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

/* ?wait=N: *secs 0 when absent; -1 (400 replied) when not 0-ROUTES_WAIT_MAX. */
static int wait_param(struct http_req *req, long *secs)
{
	const char *w = http_req_query(req, "wait");
	*secs = 0;
	if (w == NULL)
		return 0;
	char *end;
	long v = strtol(w, &end, 10);
	if (*w == '\0' || *end != '\0' || v < 0 || v > ROUTES_WAIT_MAX) {
		http_reply_error(req, 400, "invalid", "wait", "wait must be 0-%d seconds",
				 ROUTES_WAIT_MAX);
		return -1;
	}
	*secs = v;
	return 0;
}

/* Parks req for up to secs on check(req, ctx, last) with ctx = a copy of
 * id (freed by the park); 500 replied when out of memory. */
static void park_id(struct http_req *req, long secs, long long id, http_park_fn check)
{
	long long *ctx = malloc(sizeof(*ctx));
	if (ctx == NULL) {
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	*ctx = id;
	http_req_park(req, (int)secs, check, ctx, free);
}

int routes_label_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return 0;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int routes_id_param(struct http_req *req, const char *name, long long *id)
{
	const char *s = http_req_param(req, name);
	char *end;
	errno = 0;
	long long v = s ? strtoll(s, &end, 10) : 0;
	if (s == NULL || *s < '1' || *s > '9' || *end != '\0' || v <= 0) {
		http_reply_error(req, 404, "not_found", name, "'%.64s' is not an id", s ? s : "");
		return -1;
	}
	/* strtoll clamps to LLONG_MAX: such an id must not read as that one. */
	if (errno == ERANGE) {
		http_reply_error(req, 400, "invalid", name,
				 "%s '%.64s' is too large: ids go up to %lld", name, s, LLONG_MAX);
		return -1;
	}
	*id = v;
	return 0;
}

void routes_get_settled(struct http_req *req, http_park_fn settled)
{
	long long id;
	long secs;
	if (routes_id_param(req, "id", &id) != 0 || wait_param(req, &secs) != 0)
		return;
	/* settled replies itself when the record has already settled */
	if (settled(req, &id, secs == 0) == 0)
		park_id(req, secs, id, settled);
}

void routes_reply_list(struct http_req *req, routes_list_fn list)
{
	struct app *app = http_req_app(req);
	int limit;
	long long after;
	if (http_req_page(req, &limit, &after) != 0)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *o;
	if (list(app->db, after, limit, &o, &err) != 0)
		http_reply_kerr(req, &err);
	else
		http_reply_json(req, 200, o);
}

int routes_only_keys(struct http_req *req, const cJSON *body, const char *const *keys)
{
	if (!cJSON_IsObject(body)) {
		http_reply_error(req, 400, "invalid", NULL, "the body must be a JSON object");
		return -1;
	}
	for (const cJSON *it = body->child; it; it = it->next) {
		int known = 0;
		for (size_t i = 0; keys[i]; i++)
			known |= strcmp(it->string, keys[i]) == 0;
		if (!known) {
			http_reply_error(req, 400, "invalid", it->string, "unknown field '%.64s'",
					 it->string);
			return -1;
		}
	}
	return 0;
}

int routes_opt_string(struct http_req *req, const cJSON *body, const char *key, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
	*out = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v)) {
		http_reply_error(req, 400, "invalid", key, "%s must be a string", key);
		return -1;
	}
	*out = v->valuestring;
	return 0;
}
