/*
 * routes_pull: the two routes a board's device token may call, which
 * deploy/kiln-pull.sh talks to — GET /pull (the assigned bundle, 204 when
 * none, 304 when the board has it) and POST /pull/report (what the board
 * did with it).  Both mark the device seen; the rows are deploy/devices.h's.
 */
#include <stdio.h>
#include <string.h>

#include "server/app.h"
#include "deploy/devices.h"
#include "server/routes.h"

#define REPORT_DETAIL_MAX 1000

/* The registered device behind the caller's device token, and with bundle
 * (may be NULL) the bundle its assignment resolves to; 0 with a reply set
 * when there is none. */
static long long calling_device(struct http_req *req, long long *bundle,
				char sha[BLOB_HEX_LEN + 1], char *name, size_t name_cap)
{
	struct app *app = http_req_app(req);
	const struct http_principal *who = http_req_who(req);
	long long id = 0;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (devices_pull(app->db, who->token_id, &id, bundle, sha, name, name_cap, &err) != 0) {
		http_reply_kerr(req, &err);
		return 0;
	}
	if (id == 0)
		http_reply_error(req, 403, "forbidden", NULL, "this device token belongs to no "
				 "registered device; register the board with POST /api/v1/devices");
	return id;
}

void route_pull(struct http_req *req)
{
	char sha[BLOB_HEX_LEN + 1], name[128];
	long long b = 0;
	if (calling_device(req, &b, sha, name, sizeof(name)) == 0)
		return;
	if (b == 0) {
		/* Nothing assigned (or nothing built yet under the assigned name):
		 * the board keeps what it has. */
		http_reply_empty(req, 204);
		return;
	}
	char disp[200], bid[24];
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s-%lld.tar.gz\"", name, b);
	snprintf(bid, sizeof(bid), "%lld", b);
	routes_send_blob(req, sha, "application/gzip", disp);
	/* kiln-pull.sh reads these to name the directory and check the bytes. */
	http_reply_header(req, "X-Kiln-Bundle", bid);
	http_reply_header(req, "X-Kiln-Bundle-Name", name);
	http_reply_header(req, "X-Kiln-Sha256", sha);
}

void route_pull_report(struct http_req *req)
{
	struct app *app = http_req_app(req);
	const cJSON *body = http_req_json(req);
	static const char *const keys[] = {"bundle", "status", "detail", NULL};
	if (routes_only_keys(req, body, keys) != 0)
		return;
	const cJSON *bn = cJSON_GetObjectItemCaseSensitive(body, "bundle");
	const char *status, *detail;
	if (routes_opt_string(req, body, "status", &status) || routes_opt_string(req, body, "detail", &detail))
		return;
	static const char *const statuses[] = {"installed", "current", "failed", NULL};
	int ok = 0;
	for (size_t i = 0; status && statuses[i]; i++)
		ok |= strcmp(status, statuses[i]) == 0;
	if (!ok) {
		http_reply_error(req, 400, "invalid", "status",
				 "status must be 'installed', 'current' or 'failed'");
		return;
	}
	if (bn && !cJSON_IsNull(bn) && (!cJSON_IsNumber(bn) || bn->valuedouble < 1)) {
		http_reply_error(req, 400, "invalid", "bundle", "bundle must be a bundle id or null");
		return;
	}
	long long bundle = cJSON_IsNumber(bn) ? (long long)bn->valuedouble : 0;
	if (detail && strlen(detail) > REPORT_DETAIL_MAX) {
		http_reply_error(req, 400, "invalid", "detail", "detail is at most %d bytes",
				 REPORT_DETAIL_MAX);
		return;
	}
	long long dev = calling_device(req, NULL, NULL, NULL, 0);
	if (dev == 0)
		return;
	char now[32];
	db_now(now, sizeof(now));
	struct kiln_err err;
	kiln_err_clear(&err);
	if (devices_report(app->db, dev, bundle, status, detail, now, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "device", (double)dev);
	cJSON_AddStringToObject(o, "status", status);
	cJSON_AddStringToObject(o, "recorded", now);
	http_reply_json(req, 201, o);
}
