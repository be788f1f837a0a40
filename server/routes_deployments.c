/*
 * routes_deployments: push deployments — queue one (bundle, device, an
 * optional test image and run count), list, one (with ?wait=N parked until
 * it ends), and its preview JPEG.  Only queued here: the runner in
 * deploy/deploy.c (app->deploy) does the ssh/adb work, so no handler ever
 * waits on a board.  The rows are deploy/deployments.h's.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/app.h"
#include "runtime/bundles.h"
#include "runtime/datasets.h"
#include "deploy/deploy.h"
#include "deploy/deploy_preview.h"
#include "deploy/deployments.h"
#include "deploy/devices.h"
#include "server/routes.h"

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
		char sha[BLOB_HEX_LEN + 1];
		if (datasets_image_at(app->db, (long long)ds->valuedouble,
				      pos ? (long long)pos->valuedouble : 0, sha) != 0) {
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
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *o;
	if (deployments_get(app->db, id, &o, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	http_reply_json(req, status, o);
	if (status == 202) {
		char loc[64];
		snprintf(loc, sizeof(loc), "/api/v1/deployments/%lld", id);
		http_reply_header(req, "Location", loc);
	}
}

void route_deployments_create(struct http_req *req)
{
	struct app *app = http_req_app(req);
	const cJSON *body = http_req_json(req);
	static const char *const keys[] = {"bundle", "device", "test", "install", NULL};
	static const char *const tkeys[] = {"image", "runs", NULL};
	if (routes_only_keys(req, body, keys) != 0)
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
	if (test && routes_only_keys(req, test, tkeys) != 0)
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
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *dev;
	if (devices_get(app->db, device, 0, &dev, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	char dtarget[40], dtransport[8], btarget[BUNDLES_TARGET_MAX];
	snprintf(dtarget, sizeof(dtarget), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(dev, "target")));
	snprintf(dtransport, sizeof(dtransport), "%s",
		 cJSON_GetStringValue(cJSON_GetObjectItem(dev, "transport")));
	cJSON_Delete(dev);
	if (strcmp(dtransport, "pull") == 0) {
		http_reply_error(req, 409, "conflict", "device", "device %lld is registered for pull "
				 "only; push deployments need transport 'ssh' or 'adb'", device);
		return;
	}
	if (bundles_archive(app->db, bundle, "id", NULL, NULL, 0, btarget, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	if (strcmp(btarget, dtarget) != 0) {
		http_reply_error(req, 409, "conflict", "bundle", "bundle %lld is for %s; device %lld "
				 "is a %s", bundle, btarget, device, dtarget);
		return;
	}
	unsigned char *img;
	size_t img_len;
	if (test_image(req, cJSON_GetObjectItemCaseSensitive(test, "image"), &img, &img_len) != 0)
		return;
	struct deployment_row row = {device, bundle, runs ? runs->valueint : 10,
				     inst ? cJSON_IsTrue(inst) : 1, img, img_len};
	long long id = 0;
	int rc = deployments_insert(app->db, &row, &id, &err);
	free(img);
	if (rc != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	deploy_kick(app->deploy);
	reply_deployment(req, id, 202);
}

void route_deployments_list(struct http_req *req)
{
	struct app *app = http_req_app(req);
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
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *o;
	if (deployments_list(app->db, device, after, limit, &o, &err) != 0)
		http_reply_kerr(req, &err);
	else
		http_reply_json(req, 200, o);
}

/* A parked ?wait=N: answers once the deployment has ended (or is gone), or
 * with its current state when the time is up.  Runs after every wake, which
 * the deployment runner gives each time a deployment ends. */
static int deployment_settled(struct http_req *req, void *ctx, int last)
{
	struct app *app = http_req_app(req);
	long long id = *(long long *)ctx;
	char state[16];
	deployments_state(app->db, id, state, sizeof(state));
	if (!last && state[0] != '\0' && strcmp(state, "succeeded") != 0 &&
	    strcmp(state, "failed") != 0)
		return 0;
	reply_deployment(req, id, 200);
	return 1;
}

/* ?wait=N (seconds, at most 60): long-poll until the deployment ends, so a
 * script or the dashboard learns the result without polling.  The request
 * is parked, not its thread: four waits once held four of the 2 x cores
 * HTTP threads for a minute and /healthz went unanswered. */
void route_deployments_get(struct http_req *req)
{
	routes_get_settled(req, deployment_settled);
}

void route_deployments_preview(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	unsigned char *jpeg;
	size_t len;
	if (deployments_preview(app->db, id, &jpeg, &len) == 0)
		http_reply_bytes(req, 200, "image/jpeg", jpeg, len);
	else
		http_reply_error(req, 404, "not_found", "id", "deployment %lld has no preview (none "
				 "yet, no test image, or the test failed)", id);
	free(jpeg);
}
