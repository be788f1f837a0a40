/*
 * deploy: push deployments — copy a bundle to a board, unpack it, run the
 * target's test program there, collect its one JSON object, draw the
 * preview, install the bundle as <models_dir>/<name> — on one runner thread,
 * never in an HTTP handler.  The HTTP side only queues a row
 * (deployments_insert, deploy/deployments.h) and calls deploy_kick(); the
 * runner claims rows oldest first and writes state, steps, result, raw
 * output and preview back through the same store.  A push deploy that
 * reaches the board updates the device as a pull report does (devices.h):
 * last seen, and a report that installs the bundle (or says why not).
 *
 * Per board runtime, a test program (deploy_programs.c) is copied next
 * to the bundle and run as  <interpreter> <program> <bundle_dir> <model_file>
 * <runs> [image.jpg].  Its contract: the last line of stdout is one JSON
 * object {runtime, mode, load_ms, runs, latency_ms: [...] and/or
 * latency_avg_ms, detections: [[x, y, w, h, score, class], ...], classes:
 * [[class, score], ...], labels: [...]}; anything else goes to stderr.
 *
 * API
 *   deploy_start(&opts, &runner, err)   starts the runner thread; fails rows
 *                              a previous kilnd left 'running'.  The caller
 *                              owns the runner (main.c: struct app)
 *   deploy_kick(runner)        a row was queued
 *   deploy_stop(runner)        lets the current step end (bounded by its
 *                              timeout), joins the thread and frees the
 *                              runner; call before db_close().  NULL is fine
 *   deploy_set_listener(runner, fn, ctx)  fn(ctx) runs (on the runner thread,
 *                              no lock held but the listener's) each time a
 *                              deployment ends: the HTTP layer wakes its
 *                              parked ?wait=N requests (GET /deployments/{id});
 *                              NULL clears it
 *   deploy_program_find(id)    the test program row ("maixpy", "sscma",
 *                              "run_joint", "voyager"), or NULL
 *   deploy_result_parse(stdout, &obj, err)  the last-line JSON object, checked;
 *                              new cJSON (caller deletes) with "summary" added
 */
#ifndef KILN_DEPLOY_H
#define KILN_DEPLOY_H

#include <cJSON.h>

#include "runtime/blob.h"
#include "runtime/db.h"
#include "runtime/kiln_err.h"

#define DEPLOY_MAX_RUNS 1000
/* The raw output kept on the deployment row: enough to see a traceback. */
#define DEPLOY_RAW_MAX (64 * 1024)
#define DEPLOY_IMAGE_MAX (8 * 1024 * 1024)

struct deploy_opts {
	struct db *db;
	struct blob_store *blobs;
	const char *data_dir;        /* copied */
	int connect_timeout_s;       /* ssh ConnectTimeout */
	int step_timeout_s;          /* copy / test-run deadline */
	/* The test program id a job's target runs (conversion's target row):
	 * deploy/ knows programs, the server knows which board runs which. */
	const char *(*program_of)(const char *target);
};

struct deploy_program {
	const char *id;                /* maixpy | sscma | run_joint | voyager */
	const char *file;            /* name on the board */
	const char *interpreter;     /* "python3" | "sh" */
	const char *model_suffix;    /* which bundle file is the model */
	int uses_image;              /* 0: the runner cannot take a JPEG */
	const char *text;
};

struct deploy_runner;

int deploy_start(const struct deploy_opts *o, struct deploy_runner **out,
		 struct kiln_err *err);
void deploy_kick(struct deploy_runner *r);
void deploy_stop(struct deploy_runner *r);
void deploy_set_listener(struct deploy_runner *r, void (*fn)(void *ctx), void *ctx);
const struct deploy_program *deploy_program_find(const char *id);
int deploy_result_parse(const char *out, cJSON **result, struct kiln_err *err);

#endif
