/*
 * routes_ui: the dashboard's static files, compiled into kilnd from webui/
 * by runtime/embed.sh.  GET / is webui/index.html; GET /ui/<file> and
 * /ui/<dir>/<file> are webui/<file> and webui/<dir>/<file>.  Anonymous: the
 * files hold no data; everything the page shows comes from /api/v1 with the
 * session cookie.
 *
 * The URLs carry no version (there is no build step to stamp one), so every
 * reply says Cache-Control: no-cache with a strong ETag (sha256 of the
 * bytes): a reload costs one 304 per file, and a new kilnd is seen at once.
 * A name is looked up by exact match in the embedded table, so no path the
 * client sends ever reaches the file system.
 *
 * GET /api/v1/openapi.json is schema/openapi.json from the same table (the
 * Makefile embeds it with the web assets): anonymous too, since it describes
 * the API and holds no data.  /ui/ names always start "webui/", so it is
 * reachable only through its own route.  GET /api/v1/pull/kiln-pull.sh is
 * deploy/kiln-pull.sh the same way, so a board being set up fetches the
 * script of the kilnd it will talk to (it holds no secret: the token is in
 * the board's own /etc/kiln-pull.conf).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "runtime/blob.h"
#include "runtime/embed.h"
#include "server/routes.h"

#define UI_MAX_ASSETS 256

static char etags[UI_MAX_ASSETS][BLOB_HEX_LEN + 3];
static pthread_once_t etags_once = PTHREAD_ONCE_INIT;

static void etags_init(void)
{
	for (size_t i = 0; i < UI_MAX_ASSETS && webui_assets[i].path; i++) {
		char hex[BLOB_HEX_LEN + 1];
		blob_sha256_hex(webui_assets[i].data, webui_assets[i].size, hex);
		snprintf(etags[i], sizeof(etags[i]), "\"%s\"", hex);
	}
}

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".json", "application/json"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".txt", "text/plain; charset=utf-8"},
	{".sh", "text/x-shellscript; charset=utf-8"},
};

static const char *content_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* The page may load only its own scripts, styles and images and talk only
 * to its own origin: an injected string can never run or phone home. */
static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
			  "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
			  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static void serve(struct http_req *req, const char *path)
{
	pthread_once(&etags_once, etags_init);
	size_t i = 0;
	while (i < UI_MAX_ASSETS && webui_assets[i].path && strcmp(webui_assets[i].path, path))
		i++;
	if (i == UI_MAX_ASSETS || webui_assets[i].path == NULL) {
		http_reply_error(req, 404, "not_found", NULL, "no such dashboard file: %.200s",
				 http_req_path(req));
		return;
	}
	const struct embed_file *f = &webui_assets[i];
	const char *type = content_type(f->path);
	const char *inm = http_req_header(req, "If-None-Match");
	if (inm && strstr(inm, etags[i]))
		http_reply_empty(req, 304);
	else
		http_reply_bytes(req, 200, type, f->data, f->size);
	http_reply_header(req, "ETag", etags[i]);
	http_reply_header(req, "Cache-Control", "no-cache");
	http_reply_header(req, "X-Content-Type-Options", "nosniff");
	if (strncmp(type, "text/html", 9) == 0) {
		http_reply_header(req, "Content-Security-Policy", CSP);
		http_reply_header(req, "Referrer-Policy", "no-referrer");
		http_reply_header(req, "X-Frame-Options", "DENY");
	}
}

void route_ui_index(struct http_req *req)
{
	serve(req, "webui/index.html");
}

void route_ui_file(struct http_req *req)
{
	const char *dir = http_req_param(req, "dir");
	const char *file = http_req_param(req, "file");
	char path[600];
	if (dir)
		snprintf(path, sizeof(path), "webui/%s/%s", dir, file);
	else
		snprintf(path, sizeof(path), "webui/%s", file);
	serve(req, path);
}

void route_openapi(struct http_req *req)
{
	serve(req, "schema/openapi.json");
}

void route_pull_script(struct http_req *req)
{
	serve(req, "deploy/kiln-pull.sh");
}
