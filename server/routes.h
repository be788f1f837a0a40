/*
 * routes: kilnd's route table (routes.c) and the handlers it names.
 * Adding an endpoint is one row in routes.c plus its handler in the
 * routes_<area>.c file of its area.
 */
#ifndef KILN_ROUTES_H
#define KILN_ROUTES_H

#include <stddef.h>

#include <sqlite3.h>

#include "runtime/db.h"
#include "server/http.h"

extern const struct http_route routes_table[];
extern const size_t routes_count;

/* routes_core.c */
void route_healthz(struct http_req *req);
void route_metrics(struct http_req *req);

/* routes_ui.c: the dashboard's embedded files */
void route_ui_index(struct http_req *req);
void route_ui_file(struct http_req *req);
/* schema/openapi.json, embedded with the dashboard's files */
void route_openapi(struct http_req *req);
/* deploy/kiln-pull.sh, the same way: what a board being set up fetches */
void route_pull_script(struct http_req *req);

/* routes_session.c: dashboard sign-in */
void route_session_create(struct http_req *req);
void route_session_get(struct http_req *req);
void route_session_delete(struct http_req *req);

/* routes_tokens.c */
void route_tokens_create(struct http_req *req);
void route_tokens_list(struct http_req *req);
void route_tokens_get(struct http_req *req);
void route_tokens_delete(struct http_req *req);

/* routes_models.c */
extern const struct http_stream_ops routes_model_upload;
void route_models_create(struct http_req *req);
void route_models_list(struct http_req *req);
void route_models_get(struct http_req *req);
void route_models_file(struct http_req *req);
void route_models_delete(struct http_req *req);
void route_models_graph(struct http_req *req);
void route_models_cut(struct http_req *req);
void route_models_rewrite(struct http_req *req);

/* routes_datasets.c */
extern const struct http_stream_ops routes_dataset_upload;
void route_datasets_create(struct http_req *req);
void route_datasets_list(struct http_req *req);
void route_datasets_get(struct http_req *req);
void route_datasets_thumbs(struct http_req *req);
void route_datasets_image(struct http_req *req);
void route_datasets_delete(struct http_req *req);
struct app;
/* At start, before HTTP: datasets a restart left "ingesting" become
 * "failed" (their ingest died with the previous kilnd). */
void routes_datasets_recover(struct app *app);
/* At shutdown, before the ingest pool is freed: a running ingest stops at
 * its next progress step and its dataset is "failed". */
void routes_datasets_stop(void);
/* At start: temporary graph files a crash left in <data_dir>/graphs. */
void routes_models_recover(struct app *app);

/* Wakes the parked ?wait=N requests of the server set here (NULL: none),
 * when what they wait for may have changed: an ingest or a deployment
 * ended.  Safe from any thread; after routes_notify_set(NULL) returns no
 * wake touches the old server. */
void routes_notify_set(struct http_server *srv);
void routes_notify(void);

/* routes_bundles.c */
void route_bundles_list(struct http_req *req);
void route_bundles_get(struct http_req *req);
void route_bundles_archive(struct http_req *req);
void route_bundles_file(struct http_req *req);
/* Replies with blob sha (sendfile) honouring If-None-Match (304), Range
 * (206/416), If-Range; sets ETag = "sha".  disposition may be NULL. */
void routes_send_blob(struct http_req *req, const char *sha, const char *content_type,
		      const char *disposition);

/* routes_jobs.c: conversion jobs and the targets they can aim at */
void route_jobs_create(struct http_req *req);
void route_jobs_list(struct http_req *req);
void route_jobs_get(struct http_req *req);
void route_jobs_cancel(struct http_req *req);
void route_jobs_retry(struct http_req *req);
void route_jobs_plan(struct http_req *req);
void route_jobs_log(struct http_req *req);
void route_jobs_calibration(struct http_req *req);
void route_groups_get(struct http_req *req);
void route_jobs_events(struct http_req *req);
void route_targets(struct http_req *req);
/* routes_settings.c: the settings in force, read-only (admin) */
void route_settings(struct http_req *req);

/* routes_devices.c: registered boards and what is assigned to them */
void route_devices_create(struct http_req *req);
void route_devices_list(struct http_req *req);
void route_devices_get(struct http_req *req);
void route_devices_delete(struct http_req *req);
void route_devices_assign(struct http_req *req);
/* routes_pull.c: what deploy/kiln-pull.sh asks, with a device token */
void route_pull(struct http_req *req);
void route_pull_report(struct http_req *req);
/* routes_deployments.c: push deployments, run by deploy/deploy.c */
void route_deployments_create(struct http_req *req);
void route_deployments_list(struct http_req *req);
void route_deployments_get(struct http_req *req);
void route_deployments_preview(struct http_req *req);

/* One page of a list: db_page (runtime/db.h), which the stores use.  Kept
 * under this name for routes_tokens.c until its SQL moves into a store. */
typedef db_row_fn routes_row_fn;
static inline cJSON *routes_page(sqlite3_stmt *st, int limit, routes_row_fn row, void *ctx)
{
	return db_page(st, limit, row, ctx);
}

/* 0 when body is a JSON object whose keys are all in keys (NULL-ended);
 * else -1 with a 400 replied naming the first unknown field. */
int routes_only_keys(struct http_req *req, const cJSON *body, const char *const *keys);
/* The optional string field key: *out NULL when absent or null; -1 (400
 * replied) when not a string. */
int routes_opt_string(struct http_req *req, const cJSON *body, const char *key, const char **out);

/* 1 when s is 1-max characters of A-Z a-z 0-9 . _ - (a name shown in lists
 * and logs, safe in a file name but for "." and ".."), else 0. */
int routes_label_ok(const char *s, size_t max);

/* Parses a positive integer id from the route's {name}; replies 404 and
 * returns -1 when it is not one. */
int routes_id_param(struct http_req *req, const char *name, long long *id);

/* GET {id} of a record that changes state (datasets while ingesting,
 * deployments while running), with ?wait=N, 0-ROUTES_WAIT_MAX seconds (400
 * otherwise): settled(req, &id, last) replies and returns 1 once the record
 * has settled or when last, else returns 0 and the request is parked (no
 * thread held) on it for up to N seconds.  Without ?wait, last is 1. */
#define ROUTES_WAIT_MAX 60
void routes_get_settled(struct http_req *req, http_park_fn settled);

/* A list route whose store takes only the page (?limit, ?after). */
typedef int (*routes_list_fn)(struct db *db, long long after, int limit, cJSON **json,
			      struct kiln_err *err);
void routes_reply_list(struct http_req *req, routes_list_fn list);

#endif
