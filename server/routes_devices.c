/*
 * routes_devices: registered boards — registration (which makes the
 * board's device token, shown once, and its ssh key), list, one, delete,
 * and the assignment a pull board follows.  The rows are deploy/devices.h's;
 * the values are checked by deploy/device.h before they get there.  What a
 * board asks with its token is routes_pull.c; push deployments are
 * routes_deployments.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/app.h"
#include "server/auth.h"
#include "runtime/bundles.h"
#include "deploy/deployments.h"
#include "deploy/device.h"
#include "deploy/devices.h"
#include "server/routes.h"
#include "conversion/targets.h"

/* A device's record, or NULL with a 404/500 replied. */
static cJSON *load_device(struct http_req *req, long long id, int full)
{
	struct app *app = http_req_app(req);
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *o = NULL;
	if (devices_get(app->db, id, full, &o, &err) != 0)
		http_reply_kerr(req, &err);
	return o;
}

void route_devices_create(struct http_req *req)
{
	struct app *app = http_req_app(req);
	const cJSON *body = http_req_json(req);
	static const char *const keys[] = {"name", "target", "transport", "address", "models_dir",
					   "ssh_private_key", NULL};
	if (routes_only_keys(req, body, keys) != 0)
		return;
	const char *name, *target, *transport, *address, *models_dir, *pem;
	if (routes_opt_string(req, body, "name", &name) ||
	    routes_opt_string(req, body, "target", &target) ||
	    routes_opt_string(req, body, "transport", &transport) ||
	    routes_opt_string(req, body, "address", &address) ||
	    routes_opt_string(req, body, "models_dir", &models_dir) ||
	    routes_opt_string(req, body, "ssh_private_key", &pem))
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
	char token[AUTH_TOKEN_LEN + 1], tname[80];
	long long tid;
	snprintf(tname, sizeof(tname), "device:%s", name);
	if (auth_token_create(app->db, tname, ROLE_DEVICE, token, &tid, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	struct device_row row = {name, target, transport, kind == DEVICE_PULL ? NULL : address,
				 models_dir, tid};
	long long id = 0;
	if (devices_insert(app->db, &row, &id, &err) != 0) {
		struct kiln_err rerr;
		auth_token_revoke(app->db, tid, &rerr);
		http_reply_kerr(req, &err);
		return;
	}
	if (kind == DEVICE_SSH) {
		char pub[DEVICE_PUBKEY_MAX] = "";
		int krc = pem ? device_key_install(app->cfg->data_dir, id, pem, &err)
			      : device_keygen(app->cfg->data_dir, id, pub, sizeof(pub), &err);
		if (krc == 0 && pub[0])
			krc = devices_set_ssh_key(app->db, id, pub, &err);
		if (krc != 0) {
			struct kiln_err rerr;
			devices_remove(app->db, id);
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

void route_devices_list(struct http_req *req)
{
	routes_reply_list(req, devices_list);
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
	int busy = deployments_active(app->db, id);
	if (busy < 0) {
		http_reply_error(req, 500, "io_error", NULL, "cannot delete device: the database "
				 "cannot say whether it has deployments");
		return;
	}
	if (busy > 0) {
		http_reply_error(req, 409, "conflict", "id", "device %lld has a deployment queued "
				 "or running; wait for it to finish", id);
		return;
	}
	devices_remove(app->db, id);
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
	if (routes_only_keys(req, body, keys) != 0)
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
	long long bundle = bn ? (long long)bn->valuedouble : 0;
	if (bn) {
		char btarget[BUNDLES_TARGET_MAX];
		if (bundles_archive(app->db, bundle, "bundle", NULL, NULL, 0, btarget, &err) != 0) {
			cJSON_Delete(dev);
			http_reply_kerr(req, &err);
			return;
		}
		if (strcmp(btarget, dtarget) != 0) {
			http_reply_error(req, 409, "conflict", "bundle",
					 "bundle %lld is for %s; device %lld is a %s", bundle, btarget,
					 id, dtarget);
			cJSON_Delete(dev);
			return;
		}
	}
	cJSON_Delete(dev);
	if (devices_assign(app->db, id, mn ? mn->valuestring : NULL, bundle, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	cJSON *o = load_device(req, id, 0);
	if (o)
		http_reply_json(req, 200, o);
}
