/*
 * routes_settings: GET /api/v1/settings, the settings kilnd runs with (the
 * kiln.ini table of server/config.c with the values in force), for the
 * dashboard's read-only settings page.  Changing a setting stays a matter
 * of editing kiln.ini and restarting: nothing here writes.
 */
#include "server/app.h"
#include "server/config.h"
#include "server/routes.h"

void route_settings(struct http_req *req)
{
	struct app *app = http_req_app(req);
	cJSON *o = config_settings_json(app->cfg);
	if (o == NULL) {
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	http_reply_json(req, 200, o);
	http_reply_header(req, "Cache-Control", "no-store");
}
