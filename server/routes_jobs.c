/*
 * routes_jobs: conversion jobs over HTTP — submit (spec checked against the
 * model, cache key, queue), list, one, cancel, retry, the plan (JSON or a
 * shell script), the log (Range), the live events (Server-Sent Events) —
 * and GET /api/v1/targets with each toolchain's readiness.
 *
 * The work itself is runtime/ (jobs, events, workers) and conversion/
 * (spec, recipes), reached through server/jobsys.h; this file only turns
 * requests into those calls and their results into replies.
 *
 * SSE: one callback response per watcher (http_reply_stream).  Its read
 * function copies new events out of the job's in-memory ring (which every
 * watcher shares — one reader of the log, however many watchers) and, when
 * there is nothing new, returns 0: the connection is parked, holding no
 * thread, until the events hub's notify wakes it (http_stream_wake) or the
 * keep-alive tick does, and then sends ": keep-alive" when idle that long.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/app.h"
#include "conversion/advice.h"
#include "conversion/bundle.h"
#include "server/diskfree.h"
#include "server/jobcalib.h"
#include "server/jobsys.h"
#include "runtime/plan_sh.h"
#include "conversion/loader_check.h"
#include "conversion/onnx.h"
#include "conversion/recipe.h"
#include "runtime/datasets.h"
#include "server/routes.h"
#include "conversion/spec.h"
#include "conversion/targets.h"

/* How long one SSE read waits for an event before sending a keep-alive:
 * the pool thread serving the stream serves other connections too. */
/* Events read from the ring per refill: bounds one refill's buffer. */
#define SSE_BATCH 64
/* A toolchain probe answer is trusted this long on submit and GET
 * /targets; ?refresh=1 probes again at once. */
#define PROBE_MAX_AGE_S 10

static struct jobsys *jobsys_of(struct http_req *req)
{
	struct app *app = http_req_app(req);
	return app->jobsys;
}

/* Reads {id} of a job that exists; -1 with a 404 (or 500) replied. */
static int job_id_param(struct http_req *req, long long *id)
{
	if (routes_id_param(req, "id", id) != 0)
		return -1;
	struct kiln_err err;
	kiln_err_clear(&err);
	char state[32];
	if (jobs_state(jobsys_jobs(jobsys_of(req)), *id, state, sizeof(state), &err) != 0) {
		http_reply_kerr(req, &err);
		return -1;
	}
	return 0;
}

/* A job record's id field ("dataset": 3) as the text the stores take;
 * 0 when it has none. */
static int job_id_text(const cJSON *job, const char *key, char *buf, size_t cap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(job, key);
	if (cJSON_IsNumber(v) && v->valuedouble >= 1)
		snprintf(buf, cap, "%lld", (long long)v->valuedouble);
	else if (cJSON_IsString(v) && v->valuestring[0])
		snprintf(buf, cap, "%s", v->valuestring);
	else
		return 0;
	return 1;
}

/* The job's record as the reply; 404 when it is gone.  warnings (may be
 * NULL: a cJSON array) is added as "warnings"; the reply owns it then.
 * "advice" says what to try next when the figures are poor (advice.h);
 * a failed job carries it in its error too (below_tolerance, or a tool
 * that checks its own figures: pulsar2's compiler.check), so a script
 * reading only the error gets it. */
static void reply_job_warn(struct http_req *req, unsigned status, long long id, cJSON *warnings)
{
	struct app *app = http_req_app(req);
	cJSON *o = NULL;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (jobs_get(jobsys_jobs(jobsys_of(req)), id, &o, &err) != 0) {
		cJSON_Delete(warnings);
		http_reply_kerr(req, &err);
		return;
	}
	if (warnings && cJSON_GetArraySize(warnings) > 0)
		cJSON_AddItemToObject(o, "warnings", warnings);
	else
		cJSON_Delete(warnings);
	long long images = 0;
	char dsha[BLOB_HEX_LEN + 1], ds[32];
	struct kiln_err ignored;
	kiln_err_clear(&ignored);
	if (!job_id_text(o, "dataset", ds, sizeof(ds)) ||
	    datasets_source(app->db, ds, dsha, &images, &ignored) != 0)
		images = 0;  /* a deleted set: advice without a count */
	cJSON *adv = advice_build(o, images);
	cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
	if (adv && cJSON_IsObject(e))
		cJSON_AddItemToObject(e, "advice", cJSON_Duplicate(adv, 1));
	cJSON_AddItemToObject(o, "advice", adv ? adv : cJSON_CreateNull());
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/jobs/%lld", id);
	http_reply_json(req, status, o);
	http_reply_header(req, "Location", loc);
}

static void reply_job(struct http_req *req, unsigned status, long long id)
{
	reply_job_warn(req, status, id, NULL);
}

/* --- submit --------------------------------------------------------------------- */

/* Ids are numbers in the API, as every record's "id" is (issue 17): {"model":
 * 3}.  A string ("3"), a fraction or 0 is a 400 naming the field, as device
 * assignment answers.  The conversion library's spec holds ids as text
 * (conversion/spec.c), so the number is written into the spec as text here. */
static int id_as_text(cJSON *spec, const char *key, struct kiln_err *err)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
	if (v == NULL)
		return 0;  /* spec_parse says which are required */
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble >= 1e15 ||
	    v->valuedouble != (double)(long long)v->valuedouble)
		return kiln_errf(err, KILN_EINVAL, key, "%s must be the number of a stored %s "
				 "(the \"id\" POST /api/v1/%ss answered), e.g. 3", key, key, key);
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)v->valuedouble);
	cJSON_ReplaceItemInObjectCaseSensitive(spec, key, cJSON_CreateString(buf));
	return 0;
}

/* calibration.count against the dataset's size.  The tools refuse more
 * images than there are (voyager-sdk pipeline.py: "Cannot use N calibration
 * images when dataset only contains M images"), so: a count the user asked
 * for is a 400 naming calibration.count (they meant something else); the
 * target's default is lowered to the dataset's size, the spec (and so the
 * job and its cache key) records the count actually used, and *warning
 * gets {"field", "message", "requested", "used"} for the reply and the
 * job's events. */
static int fit_calibration(const cJSON *body, struct job_spec *s, const char *dataset,
			   long long images, cJSON **warning, struct kiln_err *err)
{
	*warning = NULL;
	if (dataset == NULL || images < 1 || s->calib_count <= images)
		return 0;
	const cJSON *cal = cJSON_GetObjectItemCaseSensitive(body, "calibration");
	if (cJSON_GetObjectItemCaseSensitive(cal, "count"))
		return kiln_errf(err, KILN_EINVAL, "calibration.count", "calibration.count is %d "
				 "but dataset %s has only %lld images; ask for at most %lld, or "
				 "leave calibration.count out to use them all", s->calib_count,
				 dataset, images, images);
	char msg[300];
	snprintf(msg, sizeof(msg), "calibration.count: %s's default of %d images is more than "
		 "dataset %s has; this job calibrates on all %lld of them", s->target,
		 s->calib_count, dataset, images);
	cJSON *w = cJSON_CreateObject();
	if (w == NULL || !cJSON_AddStringToObject(w, "field", "calibration.count") ||
	    !cJSON_AddStringToObject(w, "message", msg) ||
	    !cJSON_AddNumberToObject(w, "requested", s->calib_count) ||
	    !cJSON_AddNumberToObject(w, "used", (double)images)) {
		cJSON_Delete(w);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	s->calib_count = (int)images;
	*warning = w;
	return 0;
}

/* A forced rebuild ("cache": false) is submitted without a key, so it
 * cannot hit; the key is set afterwards so later jobs can reuse its
 * bundle. */
static void set_cache_key(struct http_req *req, long long id, const char *key)
{
	struct app *app = http_req_app(req);
	struct kiln_err err;
	/* On failure only a later cache hit is lost. */
	jobs_set_cache_key(jobsys_jobs(app->jobsys), id, key, &err);
}

/* Every output the spec names must be a tensor of the model: otherwise the
 * job would only fail minutes later, in the tool ("can't find X in model"). */
static int check_outputs(struct http_req *req, const char *model_sha, const struct job_spec *s,
			 struct kiln_err *err)
{
	struct app *app = http_req_app(req);
	char path[4200];
	struct onnx_model *m = NULL;
	int rc = blob_path(app->blobs, model_sha, path, sizeof(path), err);
	if (rc == 0)
		rc = onnx_open(path, &m, err);
	if (rc != 0)
		return rc;
	cJSON *g = onnx_graph_json(m);
	const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(g, "tensors");
	if (g == NULL) {
		onnx_close(m);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	for (size_t i = 0; rc == 0 && i < s->n_outputs; i++) {
		if (cJSON_GetObjectItemCaseSensitive(tensors, s->outputs[i]) == NULL) {
			char field[32];
			snprintf(field, sizeof(field), "outputs[%zu]", i);
			rc = kiln_errf(err, KILN_EINVAL, field,
				       "outputs: '%.120s' is not a tensor of model %s; GET "
				       "/api/v1/models/%s/graph lists them", s->outputs[i], s->model,
				       s->model);
		}
	}
	/* the board's loader on the chosen outputs' shapes (issue 13) */
	if (rc == 0)
		rc = loader_check_onnx(s, m, err);
	onnx_close(m);
	cJSON_Delete(g);
	return rc;
}

/* Checks one board's spec (in, a copy the function may change) and, when
 * create is 1, queues it: *id gets the job.  A toolchain that is not ready
 * is KILN_EUNAVAIL with field "target". */
/* The not-ready message names the engine, image and the command that gets
 * it: longer than a kiln_err message holds. */
#define UNAVAIL_MAX 2048

static int submit_spec(struct http_req *req, cJSON *in, int create, long long *id,
		       cJSON **warnings_out, struct kiln_err *err, char unavail[UNAVAIL_MAX])
{
	struct jobsys *js = jobsys_of(req);
	struct app *app = http_req_app(req);
	cJSON *insp = NULL, *canon_json = NULL, *compared_on = NULL, *warning = NULL;
	cJSON *warnings = NULL;
	long long images = 0;
	struct job_spec *s = NULL;
	char *key_text = NULL;
	char msha[BLOB_HEX_LEN + 1], dsha[BLOB_HEX_LEN + 1] = "", tsha[BLOB_HEX_LEN + 1];
	int rc = 0;
	if ((rc = id_as_text(in, "model", err)) != 0 || (rc = id_as_text(in, "dataset", err)) != 0)
		return rc;
	const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "model"));
	const char *dataset = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "dataset"));
	/* The model first: the spec is checked against its inspection. */
	if ((model && (rc = jobsys_model(js, model, msha, &insp, err)) != 0) ||
	    (dataset && (rc = datasets_source(app->db, dataset, dsha, &images, err)) != 0) ||
	    (rc = spec_parse(in, insp, &s, err)) != 0 ||
	    (rc = fit_calibration(in, s, dataset, images, &warning, err)) != 0 ||
	    (rc = recipe_check(s, err)) != 0 ||
	    (rc = loader_check_submit(s, insp, err)) != 0 ||
	    (rc = check_outputs(req, msha, s, err)) != 0 ||
	    (s->test_image[0] && (rc = datasets_find_image(app->db, s->dataset, s->test_image,
							    tsha, err)) != 0))
		goto out;
	/* Every board compares by default: without a test image the job takes
	 * one of its calibration images, and says which (or why none). */
	if ((rc = jobsys_compared_on(js, s, &compared_on, err)) != 0)
		goto out;
	/* A job whose toolchain cannot run would only fail at its first step;
	 * say so now, with what to run. */
	struct engine_status st;
	if (jobsys_status(js, s->t->toolchain, PROBE_MAX_AGE_S, &st) != 0) {
		snprintf(unavail, UNAVAIL_MAX, "target %s needs the %s toolchain (engine %s%s%s), "
			 "which is not ready: %s%s%s", s->target, s->t->toolchain, st.engine,
			 st.image[0] && strcmp(st.engine, "local") != 0 ? ", image " : "",
			 strcmp(st.engine, "local") != 0 ? st.image : "", st.message,
			 st.fix[0] ? ". To fix it, run: " : "", st.fix);
		rc = kiln_errf(err, KILN_EUNAVAIL, "target", "%.255s", unavail);
		goto out;
	}
	if (!create)
		goto out;
	/* The key hashes the spec as if caching were on, so a forced rebuild
	 * makes a bundle the next ordinary submit can reuse. */
	int cache = s->cache;
	s->cache = 1;
	key_text = spec_canonical(s);
	s->cache = cache;
	canon_json = spec_to_json(s);
	if (key_text == NULL || canon_json == NULL) {
		rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		goto out;
	}
	cJSON_AddItemToObject(canon_json, "compared_on", compared_on);
	compared_on = NULL;
	/* What may make the figures poor, said before the job runs: the
	 * count lowered to the set's size, too few images for the toolchain,
	 * near-duplicates, shapes far from the input (calib_quality.h).  Kept
	 * in the spec, so the job's page shows them after a restart too; not
	 * in the cache key (key_text is made above). */
	warnings = cJSON_CreateArray();
	if (warnings == NULL) {
		rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		goto out;
	}
	if (warning) {
		cJSON_AddItemToArray(warnings, warning);
		warning = NULL;
	}
	if (s->dataset[0]) {
		cJSON *q = NULL;
		struct kiln_err qe;
		kiln_err_clear(&qe);
		if (jobcalib_warnings(app->db, app->blobs, s, &q, &qe) == 0)
			while (q && q->child)
				cJSON_AddItemToArray(warnings, cJSON_DetachItemViaPointer(q, q->child));
		cJSON_Delete(q);  /* a set that cannot be listed: no quality warnings */
	}
	if (cJSON_GetArraySize(warnings) > 0)
		cJSON_AddItemToObject(canon_json, "warnings", cJSON_Duplicate(warnings, 1));
	char image[1100], key[BLOB_HEX_LEN + 1];
	jobsys_image_id(jobsys_engine(js, s->t->toolchain), image, sizeof(image));
	struct bundle_key_in kin = {
		.model_sha256 = msha,
		.dataset_sha256 = dsha,
		.spec_canonical = key_text,
		.toolchain_image = image,
		.recipe_version = recipe_version(s->target),
	};
	bundle_cache_key(&kin, key);
	struct jobs_new jn = {
		.model = s->model,
		.dataset = s->dataset,
		.target = s->target,
		.spec = canon_json,
		.plan = NULL,            /* the worker's planner makes it */
		.cache_key = cache ? key : NULL,
		.owner = http_req_who(req)->token_id,  /* [jobs] max_queued_per_token */
	};
	int64_t jid = 0;
	int hit = 0;
	if ((rc = jobs_submit(jobsys_jobs(js), &jn, &jid, &hit, err)) != 0)
		goto out;
	*id = jid;
	if (!cache)
		set_cache_key(req, jid, key);
	const cJSON *w;
	const cJSON *announce = hit ? NULL : warnings;
	cJSON_ArrayForEach(w, announce) {
		/* Also in the job's events, for whoever watches it. */
		char *text = cJSON_PrintUnformatted(w);
		if (text)
			events_publish(jobs_events(jobsys_jobs(js)), jid, "warning", text, NULL);
		free(text);
	}
	if (warnings_out) {
		*warnings_out = warnings;
		warnings = NULL;
	}
out:
	cJSON_Delete(warning);
	cJSON_Delete(warnings);
	free(key_text);
	cJSON_Delete(canon_json);
	cJSON_Delete(compared_on);
	spec_free(s);
	cJSON_Delete(insp);
	return rc;
}

static void reply_submit_error(struct http_req *req, const struct kiln_err *err,
			       const char *unavail)
{
	if (err->code == KILN_EUNAVAIL && strcmp(err->field, "target") == 0)
		http_reply_error(req, 503, "toolchain_unavailable", "target", "%s", unavail);
	else
		http_reply_kerr(req, err);
}

/* "targets": [...] in place of "target": one job per board from one spec.
 * Options shared by the boards are given once; "target_options": {board:
 * {...}} holds each board's own.  Every board is checked before anything is
 * queued: one that cannot take the model is a 422 naming it, and nothing is
 * created unless "partial": true (then the others run and "refused" lists
 * it).  Answers {"group": <first job id>, "jobs": [...], "refused": [...]}. */
#define MULTI_MAX 16

/* The spec keys a board may set for itself under target_options.<board>
 * besides its own options: each board has its own quantize modes,
 * calibration methods and tolerance (GET /api/v1/targets), so one shared
 * value would be refused by the others. */
static const char *const BOARD_SPEC_KEYS[] = {"quantize", "calibration", "tolerance", NULL};

/* sp gets mine's spec keys over its own (calibration merged key by key)
 * and the rest as its target_options. */
static void board_options(cJSON *sp, const cJSON *mine)
{
	cJSON *opts = cJSON_Duplicate(mine, 1);
	for (int k = 0; opts && BOARD_SPEC_KEYS[k]; k++) {
		cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(opts, BOARD_SPEC_KEYS[k]);
		if (v == NULL)
			continue;
		cJSON *shared = cJSON_GetObjectItemCaseSensitive(sp, BOARD_SPEC_KEYS[k]);
		if (cJSON_IsObject(v) && cJSON_IsObject(shared)) {
			while (v->child) {
				cJSON *x = cJSON_DetachItemViaPointer(v, v->child);
				cJSON_DeleteItemFromObjectCaseSensitive(shared, x->string);
				cJSON_AddItemToObject(shared, x->string, x);
			}
			cJSON_Delete(v);
		} else {
			cJSON_DeleteItemFromObjectCaseSensitive(sp, BOARD_SPEC_KEYS[k]);
			cJSON_AddItemToObject(sp, BOARD_SPEC_KEYS[k], v);
		}
	}
	if (opts && opts->child)
		cJSON_AddItemToObject(sp, "target_options", opts);
	else
		cJSON_Delete(opts);
}

static void submit_many(struct http_req *req, const cJSON *body)
{
	const cJSON *targets = cJSON_GetObjectItemCaseSensitive(body, "targets");
	const cJSON *topts = cJSON_GetObjectItemCaseSensitive(body, "target_options");
	int partial = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "partial"));
	int n = cJSON_IsArray(targets) ? cJSON_GetArraySize(targets) : -1;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (cJSON_GetObjectItemCaseSensitive(body, "target")) {
		http_reply_error(req, 400, "invalid", "target", "give \"target\" or \"targets\", not both");
		return;
	}
	if (n < 1 || n > MULTI_MAX) {
		http_reply_error(req, 400, "invalid", "targets", "targets must be an array of 1 to %d "
				 "target ids (GET /api/v1/targets lists them)", MULTI_MAX);
		return;
	}
	const char *names[MULTI_MAX];
	for (int i = 0; i < n; i++) {
		names[i] = cJSON_GetStringValue(cJSON_GetArrayItem(targets, i));
		for (int k = 0; names[i] && k < i; k++)
			if (strcmp(names[k], names[i]) == 0)
				names[i] = NULL;
		if (names[i] == NULL) {
			char f[32];
			snprintf(f, sizeof(f), "targets[%d]", i);
			http_reply_error(req, 400, "invalid", f, "targets[%d] must be a target id, each "
					 "board once", i);
			return;
		}
	}
	if (topts && !cJSON_IsObject(topts)) {
		size_t nt;
		http_reply_error(req, 400, "invalid", "target_options", "with \"targets\", "
				 "target_options is an object keyed by board: {\"%s\": {...}}",
				 targets_table(&nt)[0].id);
		return;
	}
	const cJSON *o;
	cJSON_ArrayForEach(o, topts) {
		int known = 0;
		for (int i = 0; i < n; i++)
			known |= strcmp(names[i], o->string) == 0;
		if (!known) {
			http_reply_error(req, 400, "invalid", "target_options", "target_options has "
					 "'%.40s', which is not one of targets", o->string);
			return;
		}
	}
	/* One spec per board: the shared fields, the board, its options. */
	cJSON *specs[MULTI_MAX] = {0};
	char unavail[UNAVAIL_MAX];
	int ok[MULTI_MAX] = {0}, n_ok = 0;
	struct kiln_err errs[MULTI_MAX];
	for (int i = 0; i < n; i++) {
		cJSON *sp = cJSON_Duplicate(body, 1);
		if (sp == NULL)
			break;
		cJSON_DeleteItemFromObjectCaseSensitive(sp, "targets");
		cJSON_DeleteItemFromObjectCaseSensitive(sp, "partial");
		cJSON_DeleteItemFromObjectCaseSensitive(sp, "target_options");
		cJSON_AddStringToObject(sp, "target", names[i]);
		const cJSON *mine = cJSON_GetObjectItemCaseSensitive(topts, names[i]);
		if (mine)
			board_options(sp, mine);
		specs[i] = sp;
		kiln_err_clear(&errs[i]);
		cJSON *probe = cJSON_Duplicate(sp, 1);
		long long unused = 0;
		ok[i] = probe && submit_spec(req, probe, 0, &unused, NULL, &errs[i], unavail) == 0;
		n_ok += ok[i];
		cJSON_Delete(probe);
	}
	cJSON *reply = NULL;
	int first_bad = -1;
	for (int i = 0; i < n && first_bad < 0; i++)
		if (!ok[i])
			first_bad = i;
	if (first_bad >= 0 && (!partial || n_ok == 0)) {
		char f[32];
		snprintf(f, sizeof(f), "targets[%d]", first_bad);
		const struct kiln_err *e = &errs[first_bad];
		http_reply_error(req, 422, "target_refused", f, "%s cannot take this model%s%s%s: "
				 "%s; nothing was queued%s", names[first_bad], e->field[0] ? " (" : "",
				 e->field, e->field[0] ? ")" : "", e->msg,
				 n > 1 ? " (\"partial\": true queues the other boards)" : "");
		goto out;
	}
	reply = cJSON_CreateObject();
	cJSON *jobs = cJSON_AddArrayToObject(reply, "jobs");
	cJSON *refused = cJSON_AddArrayToObject(reply, "refused");
	long long group = 0;
	for (int i = 0; i < n; i++) {
		long long id = 0;
		if (ok[i] && submit_spec(req, specs[i], 1, &id, NULL, &err, unavail) != 0) {
			ok[i] = 0;
			errs[i] = err;
		}
		if (!ok[i]) {
			cJSON *r = cJSON_CreateObject();
			cJSON_AddStringToObject(r, "target", names[i]);
			cJSON_AddStringToObject(r, "field", errs[i].field);
			cJSON_AddStringToObject(r, "message", errs[i].msg);
			cJSON_AddItemToArray(refused, r);
			continue;
		}
		if (group == 0)
			group = id;
		/* GET /api/v1/groups/{group} finds them again (a lost mark only
		 * leaves the job out of the grid) */
		struct kiln_err gerr;
		kiln_err_clear(&gerr);
		jobs_set_group(jobsys_jobs(jobsys_of(req)), id, group, &gerr);
		cJSON *j = NULL;
		if (jobs_get(jobsys_jobs(jobsys_of(req)), id, &j, &err) == 0)
			cJSON_AddItemToArray(jobs, j);
	}
	cJSON_AddNumberToObject(reply, "group", (double)group);
	http_reply_json(req, 202, reply);
	reply = NULL;
out:
	cJSON_Delete(reply);
	for (int i = 0; i < n; i++)
		cJSON_Delete(specs[i]);
}

void route_jobs_create(struct http_req *req)
{
	const cJSON *body = http_req_json(req);
	struct kiln_err err;
	kiln_err_clear(&err);
	if (!cJSON_IsObject(body)) {
		http_reply_error(req, 400, "invalid", NULL, "the body must be a job spec (a JSON "
				 "object; see schema/job.schema.json)");
		return;
	}
	/* A job copies its model and images into a workspace: none on a disk
	 * that is nearly full. */
	if (diskfree_check(((struct app *)http_req_app(req))->cfg, 0, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	if (cJSON_GetObjectItemCaseSensitive(body, "targets")) {
		submit_many(req, body);
		return;
	}
	cJSON *in = cJSON_Duplicate(body, 1);
	if (in == NULL) {
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	long long id = 0;
	char unavail[UNAVAIL_MAX] = "";
	cJSON *warnings = NULL;
	if (submit_spec(req, in, 1, &id, &warnings, &err, unavail) != 0)
		reply_submit_error(req, &err, unavail);
	else
		reply_job_warn(req, 202, id, warnings);
	cJSON_Delete(in);
}

/* --- groups and calibration samples ----------------------------------------------- */

/* GET /api/v1/groups/{id}: the jobs of one "targets" submit, each as GET
 * /jobs/{id} gives it (figures, advice, bundle), for the boards grid. */
void route_groups_get(struct http_req *req)
{
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	struct jobs *jobs = jobsys_jobs(jobsys_of(req));
	int64_t ids[MULTI_MAX];
	int n = 0;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (jobs_group(jobs, id, ids, MULTI_MAX, &n, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "jobs");
	if (arr == NULL) {
		cJSON_Delete(o);
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	cJSON_AddNumberToObject(o, "group", (double)id);
	for (int i = 0; i < n; i++) {
		cJSON *j = NULL;
		if (jobs_get(jobs, ids[i], &j, &err) != 0)
			continue;  /* deleted between the two reads */
		cJSON_DeleteItemFromObjectCaseSensitive(j, "figures");  /* "results" has them */
		cJSON_AddItemToArray(arr, j);
	}
	http_reply_json(req, 200, o);
}

/* GET /api/v1/jobs/{id}/calibration: which images the job calibrated on
 * (the seeded sample, listed again from the set; jobcalib.h). */
void route_jobs_calibration(struct http_req *req)
{
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	struct app *app = http_req_app(req);
	cJSON *j = NULL, *o = NULL;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (jobs_get(jobsys_jobs(jobsys_of(req)), id, &j, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(j, "spec");
	const cJSON *cal = cJSON_GetObjectItemCaseSensitive(spec, "calibration");
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(cal, "count");
	char ds[32];
	if (!job_id_text(j, "dataset", ds, sizeof(ds)))
		ds[0] = '\0';
	if (jobcalib_sample(app->db, app->blobs, ds[0] ? ds : NULL,
			    cJSON_IsNumber(count) ? count->valueint : 0, 0, &o, &err) != 0) {
		cJSON_Delete(j);
		http_reply_kerr(req, &err);
		return;
	}
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(cal, "method");
	cJSON_AddItemToObject(o, "method", m ? cJSON_Duplicate(m, 0) : cJSON_CreateNull());
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(spec, "warnings");
	cJSON_AddItemToObject(o, "warnings", w ? cJSON_Duplicate(w, 1) : cJSON_CreateArray());
	cJSON_Delete(j);
	http_reply_json(req, 200, o);
}

/* --- list, one, cancel, retry ------------------------------------------------------ */

void route_jobs_list(struct http_req *req)
{
	int limit;
	long long after;
	if (http_req_page(req, &limit, &after) != 0)
		return;
	cJSON *o = NULL;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (jobs_list(jobsys_jobs(jobsys_of(req)), http_req_query(req, "state"), limit, after, &o,
		      &err) != 0)
		http_reply_kerr(req, &err);
	else
		http_reply_json(req, 200, o);
}

void route_jobs_get(struct http_req *req)
{
	long long id;
	if (routes_id_param(req, "id", &id) == 0)
		reply_job(req, 200, id);
}

void route_jobs_cancel(struct http_req *req)
{
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	/* A running job is still running when this returns: the worker stops
	 * its step and the events say "cancelled" moments later. */
	if (jobs_cancel(jobsys_jobs(jobsys_of(req)), id, &err) != 0)
		http_reply_kerr(req, &err);
	else
		reply_job(req, 202, id);
}

/* A retry builds from the model and dataset again: a deleted one is
 * refused in words by the job store, in the transaction that would queue
 * the job (jobsys_sources_live), not left to fail as a step. */
void route_jobs_retry(struct http_req *req)
{
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	if (diskfree_check(((struct app *)http_req_app(req))->cfg, 0, &err) != 0 ||
	    jobs_retry(jobsys_jobs(jobsys_of(req)), id, &err) != 0)
		http_reply_kerr(req, &err);
	else
		reply_job(req, 202, id);
}

/* --- plan and log ------------------------------------------------------------------- */

void route_jobs_plan(struct http_req *req)
{
	long long id;
	if (routes_id_param(req, "id", &id) != 0)
		return;
	struct jobs *jobs = jobsys_jobs(jobsys_of(req));
	const char *format = http_req_query(req, "format");
	if (format && strcmp(format, "sh") != 0 && strcmp(format, "json") != 0) {
		http_reply_error(req, 400, "invalid", "format", "format must be json or sh");
		return;
	}
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *plan = NULL;
	if (jobs_get_plan(jobs, id, &plan, &err) != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	long long shown = id;
	if (cJSON_IsNull(plan)) {
		/* A cache hit ran nothing itself: show what made its bundle. */
		cJSON *job = NULL;
		if (jobs_get(jobs, id, &job, &err) == 0) {
			const cJSON *from = cJSON_GetObjectItemCaseSensitive(job, "cached_from");
			if (cJSON_IsNumber(from) && from->valuedouble >= 1) {
				shown = (long long)from->valuedouble;
				cJSON_Delete(plan);
				plan = NULL;
				if (jobs_get_plan(jobs, shown, &plan, &err) != 0)
					plan = cJSON_CreateNull();
			}
		}
		cJSON_Delete(job);
	}
	if (format == NULL || strcmp(format, "json") == 0) {
		http_reply_json(req, 200, plan);
		return;
	}
	if (cJSON_IsNull(plan)) {
		cJSON_Delete(plan);
		http_reply_error(req, 409, "conflict", "id", "job %lld has no plan yet: a worker "
				 "makes it when the job starts", id);
		return;
	}
	struct plan *p = NULL;
	int rc = plan_from_json(plan, &p, &err);
	cJSON_Delete(plan);
	if (rc != 0) {
		http_reply_kerr(req, &err);
		return;
	}
	char title[96];
	snprintf(title, sizeof(title), "Kiln job %lld", shown);
	/* The commands kilnd really runs: each step through its toolchain's
	 * engine (the container command, or the local tool with its PATH). */
	size_t n_confs = 0;
	const struct engine_conf *confs = jobsys_engines(jobsys_of(req), &n_confs);
	struct plan_sh_opts so = {.title = title, .confs = confs, .n_confs = n_confs,
				  .job = shown};
	char *sh = plan_sh(p, &so);
	plan_free(p);
	if (sh == NULL) {
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	http_reply_bytes(req, 200, "text/x-shellscript; charset=utf-8", sh, strlen(sh));
	free(sh);
	char disp[96];
	snprintf(disp, sizeof(disp), "inline; filename=\"kiln-job-%lld.sh\"", id);
	http_reply_header(req, "Content-Disposition", disp);
}

void route_jobs_log(struct http_req *req)
{
	struct app *app = http_req_app(req);
	long long id;
	if (job_id_param(req, &id) != 0)
		return;
	char path[1200];
	snprintf(path, sizeof(path), "%s/jobs/%lld/log.txt", app->cfg->data_dir, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0) {
		if (fd >= 0)
			close(fd);
		if (errno != ENOENT) {
			http_reply_error(req, 500, "io_error", NULL, "cannot read the log: %s",
					 strerror(errno));
			return;
		}
		/* Not started yet (or a cache hit): nothing written, nothing to show. */
		http_reply_bytes(req, 200, "text/plain; charset=utf-8", "", 0);
		http_reply_header(req, "Accept-Ranges", "bytes");
		return;
	}
	/* The log grows while a step runs: the reply is the file as it is now,
	 * with no validator (its bytes change); Range reads the tail. */
	http_reply_file(req, fd, (uint64_t)sb.st_size, "text/plain; charset=utf-8", NULL);
}

/* --- events (SSE) ------------------------------------------------------------------- */

struct sse {
	struct jobs *jobs;
	struct events *ev;
	int64_t job;
	uint64_t after;         /* last event id sent */
	char *buf;              /* text not yet taken by the client */
	size_t len, off, cap;
	uint64_t snap_after;    /* `after` right after the last snapshot was sent */
	int snapped;            /* a snapshot was sent */
	int final_state;        /* the last state event read was a final one */
	int end;                /* end the stream once buf is drained */
	int oom;
	time_t last_sent;       /* for keep-alives while idle */
	struct http_stream *stream;   /* to wake the parked connection */
	struct events_sub *sub;       /* notify on this job's new events */
};

/* The hub's notify, under its lock: only wake the connection. */
static void sse_notify(void *arg, const struct events_item *it)
{
	(void)it;
	struct sse *s = arg;
	http_stream_wake(s->stream);
}

static void sse_append(struct sse *s, const char *p, size_t n)
{
	if (s->oom)
		return;
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *nb = realloc(s->buf, cap);
		if (nb == NULL) {
			s->oom = 1;
			return;
		}
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

static void sse_printf(struct sse *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sse_printf(struct sse *s, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		sse_append(s, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* "data: ..." lines: one per line of the data (SSE joins them with \n),
 * then the blank line that ends the event. */
static void sse_data(struct sse *s, const char *data, size_t len)
{
	size_t i = 0;
	do {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (data + i)) : len - i;
		sse_append(s, "data: ", 6);
		sse_append(s, data + i, n);
		sse_append(s, "\n", 1);
		i += n + (nl ? 1 : 0);
	} while (i < len);
	sse_append(s, "\n", 1);
}

static int state_is_final(const char *state)
{
	return state && (strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
			 strcmp(state, "cancelled") == 0);
}

/* events_read's callback: runs under the hub's lock, so it only copies. */
static void sse_collect(void *arg, const struct events_item *it)
{
	struct sse *s = arg;
	sse_printf(s, "id: %llu\nevent: %s\n", (unsigned long long)it->id, it->type);
	sse_data(s, it->data, it->len);
	s->after = it->id;
	if (strcmp(it->type, "state") == 0) {
		cJSON *d = cJSON_ParseWithLength(it->data, it->len);
		s->final_state = state_is_final(
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "state")));
		cJSON_Delete(d);
	}
}

/* Reads what the ring holds past s->after into the (empty) buffer, with a
 * snapshot of the job first when events were missed; returns how many
 * events were read. */
static size_t sse_fill(struct sse *s)
{
	int gap = 0;
	size_t n = events_read(s->ev, s->job, s->after, SSE_BATCH, sse_collect, s, &gap);
	/* A gap is answered once.  A job with no ring (queued before a
	 * restart: nothing of it is held) reports a gap on every read; when
	 * nothing was read and the position has not moved since the last
	 * snapshot, it is the gap already answered, and another snapshot would
	 * only repeat itself as fast as the socket drains (issue 14 item 3: 129
	 * MB in 5 s).  So a stream sends at most one snapshot per read that
	 * found events, plus the first: its bytes stay bounded by the events. */
	if (gap && s->snapped && n == 0 && s->after == s->snap_after)
		gap = 0;
	if (gap) {
		/* Missed events (a new client, or a slow one the ring overtook):
		 * the job as it is now comes first, without an id, so a
		 * reconnect resumes from the last real event. */
		cJSON *o = NULL;
		struct kiln_err err;
		char *text = NULL;
		if (jobs_get(s->jobs, s->job, &o, &err) == 0)
			text = cJSON_PrintUnformatted(o);
		if (text) {
			struct sse snap = {0};
			sse_append(&snap, "event: job\n", 11);
			sse_data(&snap, text, strlen(text));
			sse_append(&snap, s->buf ? s->buf : "", s->len);
			if (snap.oom) {
				s->oom = 1;
			} else {
				free(s->buf);
				s->buf = snap.buf;
				s->len = snap.len;
				s->cap = snap.cap;
			}
			/* A finished job whose events are gone ends with its snapshot. */
			const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o,
												 "state"));
			if (state_is_final(st) && (n == 0 || s->final_state))
				s->end = 1;
		} else {
			s->end = 1;  /* the job is gone */
		}
		free(text);
		cJSON_Delete(o);
		s->snapped = 1;
		s->snap_after = s->after;
	}
	if (s->final_state && n < SSE_BATCH)
		s->end = 1;
	return n;
}

static long sse_read(void *ctx, char *out, size_t max)
{
	struct sse *s = ctx;
	for (;;) {
		if (s->off < s->len) {
			size_t n = s->len - s->off < max ? s->len - s->off : max;
			memcpy(out, s->buf + s->off, n);
			s->off += n;
			s->last_sent = time(NULL);
			return (long)n;
		}
		if (s->end || s->oom)
			return -1;
		s->off = s->len = 0;
		if (sse_fill(s) > 0 || s->len > 0)
			continue;
		if (time(NULL) - s->last_sent < HTTP_STREAM_TICK_S)
			return 0; /* park until an event or the tick */
		sse_append(s, ": keep-alive\n\n", 14);
	}
}

static void sse_free(void *ctx)
{
	struct sse *s = ctx;
	if (s->sub) /* after this returns, sse_notify is not running */
		events_unsubscribe(s->ev, s->sub);
	free(s->buf);
	free(s);
}

void route_jobs_events(struct http_req *req)
{
	struct jobsys *js = jobsys_of(req);
	long long id;
	if (job_id_param(req, &id) != 0)
		return;
	struct kiln_err err;
	kiln_err_clear(&err);
	/* EventSource sends Last-Event-ID when it reconnects; a first
	 * connection can give the same as ?last_event_id=. */
	const char *last = http_req_header(req, "Last-Event-ID");
	if (last == NULL)
		last = http_req_query(req, "last_event_id");
	uint64_t after = 0;
	if (last && *last) {
		char *end;
		unsigned long long v = strtoull(last, &end, 10);
		if (*last < '0' || *last > '9' || *end != '\0') {
			http_reply_error(req, 400, "invalid", "Last-Event-ID",
					 "Last-Event-ID must be the id of an event this stream sent");
			return;
		}
		after = v;
	}
	struct sse *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	s->jobs = jobsys_jobs(js);
	s->ev = jobsys_events(js);
	s->job = id;
	s->after = after;
	s->last_sent = time(NULL);
	http_reply_stream(req, 200, "text/event-stream; charset=utf-8", sse_read, sse_free, s,
			  &s->stream);
	/* Subscribed before this handler returns, so before the first read:
	 * an event published after that read finds the subscription. */
	if (s->stream && events_subscribe(s->ev, id, sse_notify, s, &s->sub, &err) != 0)
		fprintf(stderr, "level=warn msg=\"SSE without live updates\" job=%lld error=\"%s\"\n",
			id, err.msg);
	http_reply_header(req, "X-Accel-Buffering", "no");  /* a proxy must not hold events */
}

/* --- targets ------------------------------------------------------------------------ */

void route_targets(struct http_req *req)
{
	struct jobsys *js = jobsys_of(req);
	const char *refresh = http_req_query(req, "refresh");
	int max_age = refresh && strcmp(refresh, "1") == 0 ? 0 : PROBE_MAX_AGE_S;
	cJSON *o = targets_json();
	cJSON *tcs = jobsys_toolchains_json(js, max_age);
	if (o == NULL || tcs == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(tcs);
		http_reply_error(req, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	/* Each target carries its toolchain's status, so a form can grey out a
	 * board whose image is missing and show the command that gets it. */
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(o, "targets")) {
		const char *tc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "toolchain"));
		const cJSON *x;
		cJSON_ArrayForEach(x, tcs) {
			const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x,
											 "toolchain"));
			if (tc && id && strcmp(tc, id) == 0) {
				cJSON_AddItemToObject((cJSON *)t, "toolchain_status",
						      cJSON_Duplicate(x, 1));
				break;
			}
		}
	}
	cJSON_AddItemToObject(o, "toolchains", tcs);
	http_reply_json(req, 200, o);
}
