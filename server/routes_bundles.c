/*
 * routes_bundles: the finished bundles — list, one (with its manifest and
 * files), the .tar.gz and each file inside, all sent from the blob store
 * with sendfile.  Also routes_send_blob(), the one place that answers
 * ETag / If-None-Match / Range / If-Range for a stored blob; /pull uses it
 * too, so a board and a browser see the same caching rules.
 *
 * Never builds an archive: bundle rows and their blobs are written once by
 * the job that made them (conversion/bundle.h), and this file only reads
 * them, through runtime/bundles.h.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/bundles.h"
#include "server/app.h"
#include "server/routes.h"

#define BUNDLE_FILE_NAME_MAX 512

void routes_send_blob(struct http_req *req, const char *sha, const char *content_type,
		      const char *disposition)
{
	struct app *app = http_req_app(req);
	char etag[BLOB_HEX_LEN + 3];
	snprintf(etag, sizeof(etag), "\"%s\"", sha);
	if (http_req_fresh(req, etag)) {
		/* Answered without touching the file: a fleet polling every
		 * minute costs one row lookup each. */
		http_reply_empty(req, 304);
		http_reply_header(req, "ETag", etag);
		return;
	}
	int fd;
	uint64_t size;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (blob_open(app->blobs, sha, &fd, &size, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	http_reply_file(req, fd, size, content_type, etag);
	if (disposition)
		http_reply_header(req, "Content-Disposition", disposition);
}

/* --- routes ---------------------------------------------------------------------- */

void route_bundles_list(struct http_req *req)
{
	struct app *app = http_req_app(req);
	int limit;
	long long after;
	if (http_req_page(req, &limit, &after) != 0)
		return;
	const char *target = http_req_query(req, "target");
	const char *name = http_req_query(req, "name");
	if ((target && strlen(target) > 32) || (name && strlen(name) > 64)) {
		http_reply_error(req, 400, "invalid", target && strlen(target) > 32 ? "target" : "name",
				 "target is at most 32 characters and name at most 64");
		return;
	}
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *o;
	if (bundles_list(app->db, target, name, after, limit, &o, &err) != 0)
		http_reply_kerr(req, &err);
	else
		http_reply_json(req, 200, o);
}

void route_bundles_get(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *o;
	if (bundles_get(app->db, id, 1, &o, &err) != 0)
		http_reply_kerr(req, &err);
	else
		http_reply_json(req, 200, o);
}

void route_bundles_archive(struct http_req *req)
{
	long long id;
	char sha[BLOB_HEX_LEN + 1], name[128], target[BUNDLES_TARGET_MAX];
	if (routes_id_param(req, "id", &id) != 0)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	struct app *app = http_req_app(req);
	if (bundles_archive(app->db, id, "id", sha, name, sizeof(name), target, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	char disp[300];
	/* <name>-<board>-<id>.tar.gz, so five boards' downloads of one model
	 * do not look alike (issue 17).  The archive has no top folder: it
	 * unpacks where it is put (kiln-pull.sh unpacks into <models>/<name>).
	 * name and target were checked against [A-Za-z0-9._-] at submit. */
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s-%s-%lld.tar.gz\"", name, target, id);
	routes_send_blob(req, sha, "application/gzip", disp);
}

/* A bundle file's name: segments of [A-Za-z0-9._-], not starting with '.',
 * joined by '/' (schema/manifest.schema.json's pattern). */
static int file_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > BUNDLE_FILE_NAME_MAX)
		return 0;
	int seg_start = 1;
	for (const char *p = s; *p; p++) {
		if (*p == '/') {
			if (seg_start)
				return 0;
			seg_start = 1;
			continue;
		}
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-'))
			return 0;
		if (seg_start && !isalnum((unsigned char)*p))
			return 0;
		seg_start = 0;
	}
	return !seg_start;
}

static const char *content_type_of(const char *name)
{
	static const struct {
		const char *ext, *type;
	} TYPES[] = {
		{".json", "application/json"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
		{".png", "image/png"}, {".mud", "text/plain; charset=utf-8"},
		{".txt", "text/plain; charset=utf-8"}, {".prototxt", "text/plain; charset=utf-8"},
	};
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++) {
		size_t e = strlen(TYPES[i].ext);
		if (n > e && strcasecmp(name + n - e, TYPES[i].ext) == 0)
			return TYPES[i].type;
	}
	return "application/octet-stream";
}

void route_bundles_file(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	/* A tail parameter: a Voyager bundle nests its files under
	 * build/<model>/<model>/1/. */
	const char *name = http_req_param(req, "name");
	if (name == NULL)
		name = "";
	if (!file_name_ok(name)) {
		http_reply_error(req, 404, "not_found", "name", "'%.100s' is not a bundle file name",
				 name);
		return;
	}
	char sha[BLOB_HEX_LEN + 1];
	struct kiln_err err;
	kiln_err_clear(&err);
	if (bundles_file(app->db, id, name, sha, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	routes_send_blob(req, sha, content_type_of(name), NULL);
}
