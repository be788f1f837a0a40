/*
 * routes_devices: boards and getting bundles onto them — device
 * registration (which makes the board's device token, shown once, and its
 * ssh key), assignments, the device-token-only /pull and /pull/report that
 * deploy/kiln-pull.sh talks to, and push deployments.  Deployments are only
 * queued here; deploy/deploy.c's thread does the ssh work, so no handler
 * ever waits on a board.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/app.h"
#include "server/auth.h"
#include "deploy/deploy.h"
#include "deploy/deploy_preview.h"
#include "deploy/device.h"
#include "server/routes.h"
#include "conversion/targets.h"

#define DEVICE_COLS "id, name, target, transport, address, models_dir, token, ssh_public_key," \
	" created_at, last_seen_at, installed_bundle, last_status, last_detail"
#define DEPLOY_COLS "id, device, bundle, state, runs, install, steps, result, error," \
	" created_at, started_at, finished_at, preview IS NOT NULL"
#define REPORT_DETAIL_MAX 1000
#define REPORTS_KEPT 100
/* last_seen_at is refreshed at most this often, so a fleet polling /pull
 * every few seconds reads the database but does not write it. */
#define SEEN_REFRESH_S 60

static void reply_db_error(struct http_req *req, sqlite3 *c, const char *what)
{
	http_reply_error(req, 500, "io_error", NULL, "%s: %s", what,
			 c ? sqlite3_errmsg(c) : "no database connection");
}

static int only_keys(struct http_req *req, const cJSON *body, const char *const *keys)
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

/* The optional string field key: NULL when absent; -1 (replied) when not a string. */
static int opt_string(struct http_req *req, const cJSON *body, const char *key, const char **out)
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

static void add_text_or_null(cJSON *o, const char *key, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddStringToObject(o, key, (const char *)sqlite3_column_text(st, col));
}

static void add_int_or_null(cJSON *o, const char *key, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddNumberToObject(o, key, (double)sqlite3_column_int64(st, col));
}

/* The bundle an assignment resolves to now: the exact one, or the newest of
 * that name for the device's target.  0 when none; -1 on a database error. */
static long long resolve_assignment(sqlite3 *c, long long device, char sha[BLOB_HEX_LEN + 1],
				    char *name, size_t name_cap)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c,
		"SELECT b.id, b.sha256, b.name FROM assignments a JOIN devices d ON d.id = a.device"
		" JOIN bundles b ON (a.bundle IS NOT NULL AND b.id = a.bundle) OR"
		" (a.bundle IS NULL AND b.name = a.model_name AND b.target = d.target)"
		" WHERE a.device = ? ORDER BY b.id DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, device);
	long long id = 0;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		if (sha)
			snprintf(sha, BLOB_HEX_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 1));
		if (name)
			snprintf(name, name_cap, "%s", (const char *)sqlite3_column_text(st, 2));
	} else if (rc != SQLITE_DONE) {
		id = -1;
	}
	sqlite3_finalize(st);
	return id;
}

static cJSON *device_json(sqlite3 *c, sqlite3_stmt *st, int full)
{
	cJSON *o = cJSON_CreateObject();
	long long id = sqlite3_column_int64(st, 0);
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 1));
	cJSON_AddStringToObject(o, "target", (const char *)sqlite3_column_text(st, 2));
	cJSON_AddStringToObject(o, "transport", (const char *)sqlite3_column_text(st, 3));
	add_text_or_null(o, "address", st, 4);
	cJSON_AddStringToObject(o, "models_dir", (const char *)sqlite3_column_text(st, 5));
	cJSON_AddNumberToObject(o, "token_id", (double)sqlite3_column_int64(st, 6));
	add_text_or_null(o, "ssh_public_key", st, 7);
	cJSON_AddStringToObject(o, "created", (const char *)sqlite3_column_text(st, 8));
	add_text_or_null(o, "last_seen", st, 9);
	add_int_or_null(o, "installed_bundle", st, 10);
	add_text_or_null(o, "last_status", st, 11);
	add_text_or_null(o, "last_detail", st, 12);
	sqlite3_stmt *as = NULL;
	cJSON *asg = NULL;
	if (sqlite3_prepare_v2(c, "SELECT model_name, bundle, set_at FROM assignments"
			       " WHERE device = ?", -1, &as, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(as, 1, id);
		if (sqlite3_step(as) == SQLITE_ROW) {
			asg = cJSON_CreateObject();
			add_text_or_null(asg, "model_name", as, 0);
			add_int_or_null(asg, "bundle", as, 1);
			cJSON_AddStringToObject(asg, "set", (const char *)sqlite3_column_text(as, 2));
			long long b = resolve_assignment(c, id, NULL, NULL, 0);
			if (b > 0)
				cJSON_AddNumberToObject(asg, "resolved_bundle", (double)b);
			else
				cJSON_AddNullToObject(asg, "resolved_bundle");
		}
	}
	sqlite3_finalize(as);
	cJSON_AddItemToObject(o, "assignment", asg ? asg : cJSON_CreateNull());
	if (!full)
		return o;
	cJSON *reps = cJSON_AddArrayToObject(o, "reports");
	sqlite3_stmt *rs = NULL;
	if (sqlite3_prepare_v2(c, "SELECT id, bundle, status, detail, created_at FROM"
			       " device_reports WHERE device = ? ORDER BY id DESC LIMIT 10",
			       -1, &rs, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(rs, 1, id);
		while (sqlite3_step(rs) == SQLITE_ROW) {
			cJSON *r = cJSON_CreateObject();
			cJSON_AddNumberToObject(r, "id", (double)sqlite3_column_int64(rs, 0));
			add_int_or_null(r, "bundle", rs, 1);
			cJSON_AddStringToObject(r, "status", (const char *)sqlite3_column_text(rs, 2));
			add_text_or_null(r, "detail", rs, 3);
			cJSON_AddStringToObject(r, "created", (const char *)sqlite3_column_text(rs, 4));
			cJSON_AddItemToArray(reps, r);
		}
	}
	sqlite3_finalize(rs);
	return o;
}

/* A device's record, or NULL with a 404/500 replied. */
static cJSON *load_device(struct http_req *req, long long id, int full)
{
	struct app *app = http_req_app(req);
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " DEVICE_COLS " FROM devices WHERE id = ?",
					   -1, &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot read device");
		return NULL;
	}
	sqlite3_bind_int64(st, 1, id);
	cJSON *o = NULL;
	if (sqlite3_step(st) == SQLITE_ROW)
		o = device_json(c, st, full);
	else
		http_reply_error(req, 404, "not_found", "id", "no device with id %lld", id);
	sqlite3_finalize(st);
	return o;
}

static void ensure_runner(struct http_req *req)
{
	struct app *app = http_req_app(req);
	struct deploy_opts o = {app->db, app->blobs, app->cfg->data_dir,
				app->cfg->deploy_connect_timeout, app->cfg->deploy_step_timeout,
				targets_deploy_program};
	struct kiln_err err;
	kiln_err_clear(&err);
	if (deploy_start(&o, &err) != 0)
		fprintf(stderr, "level=error msg=\"%s\"\n", err.msg);
}

/* --- devices ------------------------------------------------------------------ */

static void delete_device_row(sqlite3 *c, long long id)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c, "DELETE FROM devices WHERE id = ?", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
}

void route_devices_create(struct http_req *req)
{
	struct app *app = http_req_app(req);
	const cJSON *body = http_req_json(req);
	static const char *const keys[] = {"name", "target", "transport", "address", "models_dir",
					   "ssh_private_key", NULL};
	if (only_keys(req, body, keys) != 0)
		return;
	const char *name, *target, *transport, *address, *models_dir, *pem;
	if (opt_string(req, body, "name", &name) || opt_string(req, body, "target", &target) ||
	    opt_string(req, body, "transport", &transport) ||
	    opt_string(req, body, "address", &address) ||
	    opt_string(req, body, "models_dir", &models_dir) ||
	    opt_string(req, body, "ssh_private_key", &pem))
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	enum device_transport kind;
	char ids[160];
	if (device_name_check(name, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	if (target == NULL || targets_find(target) == NULL) {
		targets_ids_text(ids, sizeof(ids));
		http_reply_error(req, 400, "invalid", "target", "target must be one of: %s", ids);
		return;
	}
	if (device_transport_parse(transport, &kind) != 0) {
		http_reply_error(req, 400, "invalid", "transport",
				 "transport must be 'ssh', 'adb' or 'pull'");
		return;
	}
	if (models_dir == NULL)
		models_dir = DEVICE_DEFAULT_MODELS_DIR;
	if (device_address_check(kind, address, &err) != 0 ||
	    device_models_dir_check(models_dir, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	if (pem && kind != DEVICE_SSH) {
		http_reply_error(req, 400, "invalid", "ssh_private_key",
				 "ssh_private_key is only for transport 'ssh'");
		return;
	}
	sqlite3 *c = db_conn(app->db);
	if (c == NULL) {
		reply_db_error(req, c, "cannot store device");
		return;
	}
	char token[AUTH_TOKEN_LEN + 1], tname[80];
	long long tid;
	snprintf(tname, sizeof(tname), "device:%s", name);
	if (auth_token_create(app->db, tname, ROLE_DEVICE, token, &tid, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	char now[32];
	db_now(now, sizeof(now));
	sqlite3_stmt *st = NULL;
	long long id = 0;
	int rc = SQLITE_ERROR;
	if (sqlite3_prepare_v2(c, "INSERT INTO devices(name, target, transport, address, models_dir,"
			       " token, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, target, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, transport, -1, SQLITE_TRANSIENT);
		if (kind == DEVICE_PULL)
			sqlite3_bind_null(st, 4);
		else
			sqlite3_bind_text(st, 4, address, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, models_dir, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 6, tid);
		sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		id = sqlite3_last_insert_rowid(c);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		int dup = sqlite3_extended_errcode(c) == SQLITE_CONSTRAINT_UNIQUE;
		struct kiln_err rerr;
		auth_token_revoke(app->db, tid, &rerr);
		if (dup)
			http_reply_error(req, 409, "conflict", "name", "a device named '%s' exists; "
					 "pick another name or DELETE it first", name);
		else
			reply_db_error(req, c, "cannot store device");
		return;
	}
	if (kind == DEVICE_SSH) {
		char pub[DEVICE_PUBKEY_MAX] = "";
		int krc = pem ? device_key_install(app->cfg->data_dir, id, pem, &err)
			      : device_keygen(app->cfg->data_dir, id, pub, sizeof(pub), &err);
		if (krc == 0 && pub[0]) {
			if (sqlite3_prepare_v2(c, "UPDATE devices SET ssh_public_key = ? WHERE id = ?",
					       -1, &st, NULL) == SQLITE_OK) {
				sqlite3_bind_text(st, 1, pub, -1, SQLITE_TRANSIENT);
				sqlite3_bind_int64(st, 2, id);
				if (sqlite3_step(st) != SQLITE_DONE)
					krc = kiln_errf(&err, KILN_EIO, "", "cannot store the public key");
			}
			sqlite3_finalize(st);
		}
		if (krc != 0) {
			struct kiln_err rerr;
			delete_device_row(c, id);
			device_key_remove(app->cfg->data_dir, id);
			auth_token_revoke(app->db, tid, &rerr);
			http_reply_kerr(req, &err);
			return;
		}
	}
	cJSON *o = load_device(req, id, 1);
	if (o == NULL)
		return;
	/* Shown once: only its hash is stored (auth.h). */
	cJSON_AddStringToObject(o, "token", token);
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/devices/%lld", id);
	http_reply_json(req, 201, o);
	http_reply_header(req, "Location", loc);
}

/* One list row: the record without its details. */
static cJSON *device_json_row(void *ctx, sqlite3_stmt *st)
{
	return device_json(ctx, st, 0);
}

void route_devices_list(struct http_req *req)
{
	struct app *app = http_req_app(req);
	int limit;
	long long after;
	if (http_req_page(req, &limit, &after) != 0)
		return;
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " DEVICE_COLS " FROM devices WHERE id > ?"
					   " ORDER BY id LIMIT ?", -1, &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot list devices");
		return;
	}
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int(st, 2, limit + 1);
	http_reply_json(req, 200, routes_page(st, limit, device_json_row, c));
}

void route_devices_get(struct http_req *req)
{
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	cJSON *o = load_device(req, id, 1);
	if (o)
		http_reply_json(req, 200, o);
}

void route_devices_delete(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	cJSON *o = load_device(req, id, 0);
	if (o == NULL)
		return;
	long long tid = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "token_id"));
	cJSON_Delete(o);
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT count(*) FROM deployments WHERE device = ?"
					   " AND state IN ('queued', 'running')", -1, &st,
					   NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot delete device");
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	int busy = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	if (busy) {
		http_reply_error(req, 409, "conflict", "id", "device %lld has a deployment queued "
				 "or running; wait for it to finish", id);
		return;
	}
	delete_device_row(c, id);
	/* The board's token goes with it; already revoked by hand is fine. */
	struct kiln_err err;
	kiln_err_clear(&err);
	if (auth_token_revoke(app->db, tid, &err) != 0 && err.code != KILN_ENOTFOUND)
		fprintf(stderr, "level=warn device=%lld msg=\"cannot revoke token %lld: %s\"\n", id,
			tid, err.msg);
	device_key_remove(app->cfg->data_dir, id);
	http_reply_empty(req, 204);
}

void route_devices_assign(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	const cJSON *body = http_req_json(req);
	static const char *const keys[] = {"model_name", "bundle", NULL};
	if (only_keys(req, body, keys) != 0)
		return;
	const cJSON *mn = cJSON_GetObjectItemCaseSensitive(body, "model_name");
	const cJSON *bn = cJSON_GetObjectItemCaseSensitive(body, "bundle");
	if ((mn == NULL) == (bn == NULL)) {
		http_reply_error(req, 400, "invalid", NULL,
				 "give exactly one of {\"model_name\": ...} (the newest bundle of "
				 "that name) or {\"bundle\": id} (that exact bundle)");
		return;
	}
	struct kiln_err err;
	kiln_err_clear(&err);
	if (mn && (!cJSON_IsString(mn) || device_name_check(mn->valuestring, &err) != 0)) {
		http_reply_error(req, 400, "invalid", "model_name",
				 "model_name must be a bundle name: 1-64 characters of A-Z a-z 0-9 . _ -");
		return;
	}
	if (bn && (!cJSON_IsNumber(bn) || bn->valuedouble < 1 ||
		   bn->valuedouble != (double)(long long)bn->valuedouble)) {
		http_reply_error(req, 400, "invalid", "bundle", "bundle must be a bundle id");
		return;
	}
	cJSON *dev = load_device(req, id, 0);
	if (dev == NULL)
		return;
	const char *dtarget = cJSON_GetStringValue(cJSON_GetObjectItem(dev, "target"));
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (bn) {
		if (sqlite3_prepare_v2(c, "SELECT target FROM bundles WHERE id = ?", -1, &st,
				       NULL) != SQLITE_OK) {
			cJSON_Delete(dev);
			reply_db_error(req, c, "cannot read bundle");
			return;
		}
		sqlite3_bind_int64(st, 1, (long long)bn->valuedouble);
		int found = sqlite3_step(st) == SQLITE_ROW;
		char btarget[40] = "";
		if (found)
			snprintf(btarget, sizeof(btarget), "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		if (!found || strcmp(btarget, dtarget) != 0) {
			if (found)
				http_reply_error(req, 409, "conflict", "bundle",
						 "bundle %lld is for %s; device %lld is a %s",
						 (long long)bn->valuedouble, btarget, id, dtarget);
			else
				http_reply_error(req, 404, "not_found", "bundle", "no bundle with id %lld",
						 (long long)bn->valuedouble);
			cJSON_Delete(dev);
			return;
		}
	}
	cJSON_Delete(dev);
	char now[32];
	db_now(now, sizeof(now));
	if (sqlite3_prepare_v2(c, "INSERT INTO assignments(device, model_name, bundle, set_at)"
			       " VALUES (?, ?, ?, ?) ON CONFLICT(device) DO UPDATE SET"
			       " model_name = excluded.model_name, bundle = excluded.bundle,"
			       " set_at = excluded.set_at", -1, &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot store assignment");
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	if (mn)
		sqlite3_bind_text(st, 2, mn->valuestring, -1, SQLITE_TRANSIENT);
	if (bn)
		sqlite3_bind_int64(st, 3, (long long)bn->valuedouble);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		reply_db_error(req, c, "cannot store assignment");
		return;
	}
	cJSON *o = load_device(req, id, 0);
	if (o)
		http_reply_json(req, 200, o);
}

/* --- pull ------------------------------------------------------------------------ */

/* The registered device behind the caller's device token; 0 with a reply
 * set when there is none. */
static long long calling_device(struct http_req *req, sqlite3 *c)
{
	const struct http_principal *who = http_req_who(req);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT id, last_seen_at IS NULL OR last_seen_at <"
					   " strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) FROM devices"
					   " WHERE token = ?", -1, &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot read device");
		return 0;
	}
	char ago[32];
	snprintf(ago, sizeof(ago), "-%d seconds", SEEN_REFRESH_S);
	sqlite3_bind_text(st, 1, ago, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, who->token_id);
	long long id = 0;
	int stale = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		stale = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	if (id == 0) {
		http_reply_error(req, 403, "forbidden", NULL, "this device token belongs to no "
				 "registered device; register the board with POST /api/v1/devices");
		return 0;
	}
	if (stale) {
		char now[32];
		db_now(now, sizeof(now));
		if (sqlite3_prepare_v2(c, "UPDATE devices SET last_seen_at = ? WHERE id = ?", -1, &st,
				       NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, id);
			sqlite3_step(st);
		}
		sqlite3_finalize(st);
	}
	return id;
}

void route_pull(struct http_req *req)
{
	struct app *app = http_req_app(req);
	sqlite3 *c = db_conn(app->db);
	long long dev = calling_device(req, c);
	if (dev == 0)
		return;
	char sha[BLOB_HEX_LEN + 1], name[128];
	long long b = resolve_assignment(c, dev, sha, name, sizeof(name));
	if (b < 0) {
		reply_db_error(req, c, "cannot resolve the assignment");
		return;
	}
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
	if (only_keys(req, body, keys) != 0)
		return;
	const cJSON *bn = cJSON_GetObjectItemCaseSensitive(body, "bundle");
	const char *status, *detail;
	if (opt_string(req, body, "status", &status) || opt_string(req, body, "detail", &detail))
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
	sqlite3 *c = db_conn(app->db);
	long long dev = calling_device(req, c);
	if (dev == 0)
		return;
	char now[32];
	db_now(now, sizeof(now));
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK &&
	    sqlite3_prepare_v2(c, "INSERT INTO device_reports(device, bundle, status, detail,"
			       " created_at) VALUES (?, ?, ?, ?, ?)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, dev);
		if (bundle)
			sqlite3_bind_int64(st, 2, bundle);
		sqlite3_bind_text(st, 3, status, -1, SQLITE_TRANSIENT);
		if (detail)
			sqlite3_bind_text(st, 4, detail, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	} else {
		rc = SQLITE_ERROR;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc == SQLITE_OK &&
	    sqlite3_prepare_v2(c, "UPDATE devices SET last_seen_at = ?2, last_status = ?3,"
			       " last_detail = ?4, installed_bundle = CASE WHEN ?3 = 'installed'"
			       " OR (?3 = 'current' AND ?5 IS NOT NULL) THEN ?5 ELSE"
			       " installed_bundle END WHERE id = ?1", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, dev);
		sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, status, -1, SQLITE_TRANSIENT);
		if (detail)
			sqlite3_bind_text(st, 4, detail, -1, SQLITE_TRANSIENT);
		if (bundle)
			sqlite3_bind_int64(st, 5, bundle);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	} else if (rc == SQLITE_OK) {
		rc = SQLITE_ERROR;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* Keep the newest REPORTS_KEPT per device: a board reporting from cron
	 * every minute must not grow the database without bound. */
	if (rc == SQLITE_OK &&
	    sqlite3_prepare_v2(c, "DELETE FROM device_reports WHERE device = ?1 AND id <="
			       " (SELECT id FROM device_reports WHERE device = ?1 ORDER BY id DESC"
			       " LIMIT 1 OFFSET ?2)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, dev);
		sqlite3_bind_int(st, 2, REPORTS_KEPT);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		reply_db_error(req, c, "cannot store the report");
		sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	sqlite3_exec(c, "COMMIT", NULL, NULL, NULL);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "device", (double)dev);
	cJSON_AddStringToObject(o, "status", status);
	cJSON_AddStringToObject(o, "recorded", now);
	http_reply_json(req, 201, o);
}

/* --- deployments ---------------------------------------------------------------- */

static cJSON *deployment_json(sqlite3_stmt *st)
{
	cJSON *o = cJSON_CreateObject();
	long long id = sqlite3_column_int64(st, 0);
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddNumberToObject(o, "device", (double)sqlite3_column_int64(st, 1));
	cJSON_AddNumberToObject(o, "bundle", (double)sqlite3_column_int64(st, 2));
	cJSON_AddStringToObject(o, "state", (const char *)sqlite3_column_text(st, 3));
	cJSON_AddNumberToObject(o, "runs", sqlite3_column_int(st, 4));
	cJSON_AddBoolToObject(o, "install", sqlite3_column_int(st, 5) != 0);
	cJSON *steps = cJSON_Parse((const char *)sqlite3_column_text(st, 6));
	cJSON_AddItemToObject(o, "steps", steps ? steps : cJSON_CreateArray());
	cJSON *res = sqlite3_column_type(st, 7) == SQLITE_NULL ? NULL :
		     cJSON_Parse((const char *)sqlite3_column_text(st, 7));
	cJSON_AddItemToObject(o, "result", res ? res : cJSON_CreateNull());
	add_text_or_null(o, "error", st, 8);
	cJSON_AddStringToObject(o, "created", (const char *)sqlite3_column_text(st, 9));
	add_text_or_null(o, "started", st, 10);
	add_text_or_null(o, "finished", st, 11);
	if (sqlite3_column_int(st, 12)) {
		char href[80];
		snprintf(href, sizeof(href), "/api/v1/deployments/%lld/preview", id);
		cJSON_AddStringToObject(o, "preview", href);
	} else {
		cJSON_AddNullToObject(o, "preview");
	}
	return o;
}

/* The test image from the request: base64 JPEG text, or {"dataset", "position"}.
 * *img is malloc'd (caller frees); -1 with a reply set on error. */
static int test_image(struct http_req *req, const cJSON *v, unsigned char **img, size_t *len)
{
	struct app *app = http_req_app(req);
	*img = NULL;
	*len = 0;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsString(v)) {
		size_t n = strlen(v->valuestring);
		if (n == 0 || n % 4 != 0 || n / 4 * 3 > DEPLOY_IMAGE_MAX) {
			http_reply_error(req, 400, "invalid", "test.image",
					 "test.image must be a JPEG as base64 text (at most %d bytes "
					 "decoded) or {\"dataset\": id, \"position\": n}", DEPLOY_IMAGE_MAX);
			return -1;
		}
		unsigned char *buf = malloc(n / 4 * 3 + 1);
		int got = buf ? EVP_DecodeBlock(buf, (const unsigned char *)v->valuestring, (int)n) : -1;
		if (got < 0) {
			free(buf);
			http_reply_error(req, 400, "invalid", "test.image", "test.image is not valid base64");
			return -1;
		}
		/* EVP_DecodeBlock counts the '=' padding as zero bytes. */
		size_t pad = (v->valuestring[n - 1] == '=') + (v->valuestring[n - 2] == '=');
		*img = buf;
		*len = (size_t)got - pad;
	} else if (cJSON_IsObject(v)) {
		const cJSON *ds = cJSON_GetObjectItemCaseSensitive(v, "dataset");
		const cJSON *pos = cJSON_GetObjectItemCaseSensitive(v, "position");
		if (!cJSON_IsNumber(ds) || (pos && !cJSON_IsNumber(pos))) {
			http_reply_error(req, 400, "invalid", "test.image",
					 "test.image needs {\"dataset\": id, \"position\": n}");
			return -1;
		}
		sqlite3 *c = db_conn(app->db);
		sqlite3_stmt *st = NULL;
		char sha[BLOB_HEX_LEN + 1] = "";
		if (c && sqlite3_prepare_v2(c, "SELECT sha256 FROM dataset_images WHERE dataset = ?"
					    " AND position = ?", -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, (long long)ds->valuedouble);
			sqlite3_bind_int64(st, 2, pos ? (long long)pos->valuedouble : 0);
			if (sqlite3_step(st) == SQLITE_ROW)
				snprintf(sha, sizeof(sha), "%s", (const char *)sqlite3_column_text(st, 0));
		}
		sqlite3_finalize(st);
		if (sha[0] == '\0') {
			http_reply_error(req, 404, "not_found", "test.image",
					 "dataset %lld has no image at position %lld",
					 (long long)ds->valuedouble, pos ? (long long)pos->valuedouble : 0);
			return -1;
		}
		int fd;
		uint64_t size;
		struct kiln_err err;
		kiln_err_clear(&err);
		if (blob_open(app->blobs, sha, &fd, &size, &err) != 0 || size > DEPLOY_IMAGE_MAX) {
			if (err.code == 0) {
				close(fd);
				kiln_errf(&err, KILN_ETOOBIG, "test.image", "the dataset image is larger "
					  "than %d bytes", DEPLOY_IMAGE_MAX);
			}
			http_reply_kerr(req, &err);
			return -1;
		}
		unsigned char *buf = malloc(size ? size : 1);
		ssize_t got = buf ? pread(fd, buf, size, 0) : -1;
		close(fd);
		if (got != (ssize_t)size) {
			free(buf);
			http_reply_error(req, 500, "io_error", NULL, "cannot read the dataset image");
			return -1;
		}
		*img = buf;
		*len = size;
	} else {
		http_reply_error(req, 400, "invalid", "test.image",
				 "test.image must be base64 JPEG text or {\"dataset\": id, \"position\": n}");
		return -1;
	}
	int w, h;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (deploy_preview_check(*img, *len, &w, &h, &err) != 0) {
		free(*img);
		*img = NULL;
		http_reply_kerr(req, &err);
		return -1;
	}
	return 0;
}

static void reply_deployment(struct http_req *req, long long id, unsigned status)
{
	struct app *app = http_req_app(req);
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " DEPLOY_COLS ", raw_output FROM deployments"
					   " WHERE id = ?", -1, &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot read deployment");
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *o = deployment_json(st);
		add_text_or_null(o, "raw_output", st, 13);
		http_reply_json(req, status, o);
		if (status == 202) {
			char loc[64];
			snprintf(loc, sizeof(loc), "/api/v1/deployments/%lld", id);
			http_reply_header(req, "Location", loc);
		}
	} else {
		http_reply_error(req, 404, "not_found", "id", "no deployment with id %lld", id);
	}
	sqlite3_finalize(st);
}

void route_deployments_create(struct http_req *req)
{
	struct app *app = http_req_app(req);
	ensure_runner(req);
	const cJSON *body = http_req_json(req);
	static const char *const keys[] = {"bundle", "device", "test", "install", NULL};
	static const char *const tkeys[] = {"image", "runs", NULL};
	if (only_keys(req, body, keys) != 0)
		return;
	const cJSON *bn = cJSON_GetObjectItemCaseSensitive(body, "bundle");
	const cJSON *dn = cJSON_GetObjectItemCaseSensitive(body, "device");
	const cJSON *test = cJSON_GetObjectItemCaseSensitive(body, "test");
	const cJSON *inst = cJSON_GetObjectItemCaseSensitive(body, "install");
	if (!cJSON_IsNumber(bn) || !cJSON_IsNumber(dn) || bn->valuedouble < 1 ||
	    dn->valuedouble < 1) {
		http_reply_error(req, 400, "invalid", !cJSON_IsNumber(bn) ? "bundle" : "device",
				 "bundle and device are required ids");
		return;
	}
	if (inst && !cJSON_IsBool(inst)) {
		http_reply_error(req, 400, "invalid", "install", "install must be true or false");
		return;
	}
	if (test && only_keys(req, test, tkeys) != 0)
		return;
	const cJSON *runs = cJSON_GetObjectItemCaseSensitive(test, "runs");
	if (runs && (!cJSON_IsNumber(runs) || runs->valuedouble < 1 ||
		     runs->valuedouble > DEPLOY_MAX_RUNS ||
		     runs->valuedouble != (double)(int)runs->valuedouble)) {
		http_reply_error(req, 400, "invalid", "test.runs",
				 "test.runs must be a whole number from 1 to %d", DEPLOY_MAX_RUNS);
		return;
	}
	long long bundle = (long long)bn->valuedouble, device = (long long)dn->valuedouble;
	cJSON *dev = load_device(req, device, 0);
	if (dev == NULL)
		return;
	char dtarget[40], dtransport[8], sha[BLOB_HEX_LEN + 1];
	snprintf(dtarget, sizeof(dtarget), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(dev, "target")));
	snprintf(dtransport, sizeof(dtransport), "%s",
		 cJSON_GetStringValue(cJSON_GetObjectItem(dev, "transport")));
	cJSON_Delete(dev);
	if (strcmp(dtransport, "pull") == 0) {
		http_reply_error(req, 409, "conflict", "device", "device %lld is registered for pull "
				 "only; push deployments need transport 'ssh' or 'adb'", device);
		return;
	}
	if (routes_bundle_load(req, bundle, sha, NULL, 0) != 0)
		return;
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	char btarget[40] = "";
	if (sqlite3_prepare_v2(c, "SELECT target FROM bundles WHERE id = ?", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_int64(st, 1, bundle);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(btarget, sizeof(btarget), "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (strcmp(btarget, dtarget) != 0) {
		http_reply_error(req, 409, "conflict", "bundle", "bundle %lld is for %s; device %lld "
				 "is a %s", bundle, btarget, device, dtarget);
		return;
	}
	unsigned char *img;
	size_t img_len;
	if (test_image(req, cJSON_GetObjectItemCaseSensitive(test, "image"), &img, &img_len) != 0)
		return;
	char now[32];
	db_now(now, sizeof(now));
	long long id = 0;
	int rc = SQLITE_ERROR;
	if (sqlite3_prepare_v2(c, "INSERT INTO deployments(device, bundle, runs, install, test_image,"
			       " created_at) VALUES (?, ?, ?, ?, ?, ?)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, device);
		sqlite3_bind_int64(st, 2, bundle);
		sqlite3_bind_int(st, 3, runs ? runs->valueint : 10);
		sqlite3_bind_int(st, 4, inst ? cJSON_IsTrue(inst) : 1);
		if (img)
			sqlite3_bind_blob(st, 5, img, (int)img_len, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		id = sqlite3_last_insert_rowid(c);
	}
	sqlite3_finalize(st);
	free(img);
	if (rc != SQLITE_DONE) {
		reply_db_error(req, c, "cannot queue the deployment");
		return;
	}
	deploy_kick();
	reply_deployment(req, id, 202);
}

void route_deployments_list(struct http_req *req)
{
	struct app *app = http_req_app(req);
	ensure_runner(req);
	int limit;
	long long after;
	if (http_req_page(req, &limit, &after) != 0)
		return;
	const char *dq = http_req_query(req, "device");
	char *end = NULL;
	long long device = dq ? strtoll(dq, &end, 10) : 0;
	if (dq && (*dq == '\0' || *end != '\0' || device < 1)) {
		http_reply_error(req, 400, "invalid", "device", "device must be a device id");
		return;
	}
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT " DEPLOY_COLS " FROM deployments WHERE id > ?1"
					   " AND (?2 = 0 OR device = ?2) ORDER BY id LIMIT ?3", -1,
					   &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot list deployments");
		return;
	}
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, device);
	sqlite3_bind_int(st, 3, limit + 1);
	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(o, "items");
	int n = 0;
	long long last = 0, next = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == limit) {
			next = last;
			break;
		}
		last = sqlite3_column_int64(st, 0);
		cJSON_AddItemToArray(items, deployment_json(st));
		n++;
	}
	sqlite3_finalize(st);
	if (next)
		cJSON_AddNumberToObject(o, "next", (double)next);
	else
		cJSON_AddNullToObject(o, "next");
	http_reply_json(req, 200, o);
}

/* The row's state, or "" when it does not exist. */
static void deployment_state(sqlite3 *c, long long id, char *state, size_t cap)
{
	sqlite3_stmt *st = NULL;
	state[0] = '\0';
	if (c && sqlite3_prepare_v2(c, "SELECT state FROM deployments WHERE id = ?", -1, &st,
				    NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(state, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
}

/* A parked ?wait=N: answers once the deployment has ended (or is gone), or
 * with its current state when the time is up.  Runs after every wake, which
 * the deployment runner gives each time a deployment ends. */
static int deployment_settled(struct http_req *req, void *ctx, int last)
{
	struct app *app = http_req_app(req);
	long long id = *(long long *)ctx;
	char state[16];
	deployment_state(db_conn(app->db), id, state, sizeof(state));
	if (!last && state[0] != '\0' && strcmp(state, "succeeded") != 0 &&
	    strcmp(state, "failed") != 0)
		return 0;
	reply_deployment(req, id, 200);
	return 1;
}

void route_deployments_get(struct http_req *req)
{
	long long id;
	ensure_runner(req);
	if (routes_id_param(req, "id", &id) != 0)
		return;
	/* ?wait=N (seconds, at most 60): long-poll until the deployment ends, so
	 * a script or the dashboard learns the result without polling.  The
	 * request is parked, not its thread: four waits once held four of the
	 * 2 x cores HTTP threads for a minute and /healthz went unanswered. */
	const char *w = http_req_query(req, "wait");
	if (w) {
		char *end;
		long secs = strtol(w, &end, 10);
		if (*w == '\0' || *end != '\0' || secs < 0 || secs > 60) {
			http_reply_error(req, 400, "invalid", "wait", "wait must be 0-60 seconds");
			return;
		}
		long long *ctx = malloc(sizeof(*ctx));
		if (ctx == NULL) {
			http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
			return;
		}
		*ctx = id;
		if (secs > 0 && deployment_settled(req, ctx, 0) == 0) {
			http_req_park(req, (int)secs, deployment_settled, ctx, free);
			return;
		}
		free(ctx);
		if (secs > 0)
			return; /* deployment_settled replied */
	}
	reply_deployment(req, id, 200);
}

void route_deployments_preview(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	sqlite3 *c = db_conn(app->db);
	sqlite3_stmt *st = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, "SELECT preview FROM deployments WHERE id = ?", -1,
					   &st, NULL) != SQLITE_OK) {
		reply_db_error(req, c, "cannot read deployment");
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) > 0)
		http_reply_bytes(req, 200, "image/jpeg", sqlite3_column_blob(st, 0),
				 (size_t)sqlite3_column_bytes(st, 0));
	else
		http_reply_error(req, 404, "not_found", "id", "deployment %lld has no preview (none "
				 "yet, no test image, or the test failed)", id);
	sqlite3_finalize(st);
}
