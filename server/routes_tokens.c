/*
 * routes_tokens: admin endpoints for access tokens.  The secret appears in
 * exactly one response, the 201 of its creation.
 */
#include <string.h>

#include "server/app.h"
#include "server/auth.h"
#include "server/routes.h"

/* Token id's record (never its secret); NULL with the 404/500 replied. */
static cJSON *token_record(struct http_req *req, long long id)
{
	struct app *app = http_req_app(req);
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *o = auth_token_get(app->db, id, &err);
	if (o == NULL)
		http_reply_kerr(req, &err);
	return o;
}

void route_tokens_create(struct http_req *req)
{
	struct app *app = http_req_app(req);
	const cJSON *body = http_req_json(req);
	if (!cJSON_IsObject(body)) {
		http_reply_error(req, 400, "invalid", NULL, "the body must be a JSON object "
				 "like {\"name\": \"ci\", \"role\": \"user\"}");
		return;
	}
	for (const cJSON *it = body->child; it; it = it->next) {
		if (strcmp(it->string, "name") != 0 && strcmp(it->string, "role") != 0) {
			http_reply_error(req, 400, "invalid", it->string,
					 "unknown field '%.64s'; a token has 'name' and 'role'",
					 it->string);
			return;
		}
	}
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(body, "role");
	/* Token names are labels shown in lists and logs: printable, bounded. */
	if (!cJSON_IsString(name) || !routes_label_ok(name->valuestring, 64)) {
		http_reply_error(req, 400, "invalid", "name",
				 "name is required: 1-64 characters of A-Z a-z 0-9 . _ -");
		return;
	}
	enum http_role r = ROLE_USER;
	if (role != NULL && (!cJSON_IsString(role) || auth_role_parse(role->valuestring, &r) != 0 ||
			     r == ROLE_DEVICE)) {
		http_reply_error(req, 400, "invalid", "role",
				 "role must be \"user\" or \"admin\" (device tokens come from "
				 "POST /api/v1/devices)");
		return;
	}
	char token[AUTH_TOKEN_LEN + 1];
	long long id;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (auth_token_create(app->db, name->valuestring, r, token, &id, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	cJSON *o = token_record(req, id);
	if (o == NULL)
		return;
	cJSON_AddStringToObject(o, "token", token);
	http_reply_json(req, 201, o);
}

void route_tokens_list(struct http_req *req)
{
	struct app *app = http_req_app(req);
	int limit;
	long long after, next;
	if (http_req_page(req, &limit, &after) != 0)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *items = auth_token_list(app->db, limit, after, &next, &err);
	if (items == NULL) {
		http_reply_kerr(req, &err);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "items", items);
	if (next)
		cJSON_AddNumberToObject(o, "next", (double)next);
	else
		cJSON_AddNullToObject(o, "next");
	http_reply_json(req, 200, o);
}

void route_tokens_get(struct http_req *req)
{
	long long id;
	cJSON *o = routes_id_param(req, "id", &id) == 0 ? token_record(req, id) : NULL;
	if (o)
		http_reply_json(req, 200, o);
}

void route_tokens_delete(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (auth_token_revoke(app->db, id, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	/* Open event streams were authorised once, when they began: they end
	 * now too, or a revoked token would keep watching. */
	http_server_end_streams(http_req_server(req), id);
	http_reply_empty(req, 204);
}
