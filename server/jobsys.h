/*
 * jobsys: kilnd's job system — the event hub, the job store and the worker
 * pool (runtime/), wired to the models, datasets and bundles kilnd keeps,
 * and to the recipes (conversion/).
 *
 * Started by main.c after the database is migrated and before HTTP starts;
 * stopped after HTTP has stopped (the routes call into it).  It is wiring:
 * the worker hooks find a job's inputs (the model's blob and inspection,
 * the dataset's image hashes, the test image) in kilnd's tables and hand
 * them as paths to the conversion library (conversion/convert.h):
 *   preparer  convert_prepare, then convert_plan when the job has no
 *             stored plan (one parse of the spec for both)
 *   finisher  convert_finish into <job dir>/bundle from the stored plan's
 *             bundle list, then the packed .tar.gz and every file as
 *             blobs, the bundles/bundle_files rows
 *
 * The spec's test_image names an image of the job's own dataset: its
 * sha256, its archive entry name, or that name's last part with or without
 * the extension ("dog" for "photos/dog.jpg").
 *
 * Toolchain readiness (engine_probe: up to 5 s a probe) is cached here:
 * probed once in the background at start, again on request.
 *
 * Ownership: jobsys_start's *out is freed by jobsys_stop (accepts NULL);
 * the cfg, db and blob store given to it must outlive it.
 */
#ifndef KILN_JOBSYS_H
#define KILN_JOBSYS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "runtime/blob.h"
#include "server/config.h"
#include "runtime/db.h"
#include "runtime/engine.h"
#include "runtime/events.h"
#include "runtime/jobs.h"
#include "runtime/kiln_err.h"

struct jobsys;

/* Recovers jobs a crash left running, then starts the workers. */
int jobsys_start(const struct kiln_config *cfg, struct db *db, struct blob_store *bs,
		 struct jobsys **out, struct kiln_err *err);
/* Stops the workers (running jobs go back to the queue), closes the store
 * and the hub.  HTTP must be stopped first. */
void jobsys_stop(struct jobsys *js);

struct jobs *jobsys_jobs(struct jobsys *js);
struct events *jobsys_events(struct jobsys *js);
/* The [toolchain.*] settings as engine confs (TOOLCHAIN_COUNT of them). */
const struct engine_conf *jobsys_engines(const struct jobsys *js, size_t *n);
/* The conf of toolchain id, or NULL. */
const struct engine_conf *jobsys_engine(const struct jobsys *js, const char *toolchain);

/* What the steps run in, for the cache key and the manifest: the image, or
 * "local:<path>" (buf >= 1100 bytes). */
void jobsys_image_id(const struct engine_conf *c, char *buf, size_t cap);

/* A stored model by id: its sha256 and (when insp is not NULL) its
 * inspection (new cJSON, caller cJSON_Delete()s).  KILN_ENOTFOUND with
 * field "model" when there is none. */
int jobsys_model(struct jobsys *js, const char *id, char sha[BLOB_HEX_LEN + 1], cJSON **insp,
		 struct kiln_err *err);
/* jobs_conf.check_sources for kilnd's stores (db is the struct db *): the
 * model is a live one (models_source: KILN_ENOTFOUND, or KILN_ECONFLICT in
 * words for a deleted one) and the dataset (NULL: none) a ready one
 * (datasets_source).  Runs inside the job store's write transaction. */
int jobsys_sources_live(void *db, const char *model, const char *dataset,
			struct kiln_err *err);
/* What the job's figures will be measured on, for the spec's
 * "compared_on" (new object, caller deletes): {"source":"test_image",
 * "entry"}, {"source":"calibration","entry","sha256"} (and then s->test_image
 * is set to that image, so every toolchain that compares on one image gets
 * one), {"source":"calibration","entry":null} for pulsar2, or
 * {"source":"none","why"} where the tool prints no comparison. */
struct job_spec;
int jobsys_compared_on(struct jobsys *js, struct job_spec *s, cJSON **out,
		       struct kiln_err *err);

/* A model (model != NULL) or dataset was deleted: removes the workspaces
 * of the finished jobs made from it (retention.h), so no copy of its bytes
 * stays in jobs/.  Ids as text, as jobs store them. */
void jobsys_forget(struct jobsys *js, const char *model, const char *dataset);

/* The toolchain's readiness into st: the cached probe when it said ready
 * and is younger than max_age_s, else a new probe (slow: call it off the
 * hot path).  Returns 0 when ready, KILN_EUNAVAIL when not, KILN_ENOTFOUND
 * for an unknown toolchain. */
int jobsys_status(struct jobsys *js, const char *toolchain, int max_age_s,
		  struct engine_status *st);
/* [engine_status_json per toolchain], re-probing entries older than
 * max_age_s (0: all).  New cJSON, caller cJSON_Delete()s. */
cJSON *jobsys_toolchains_json(struct jobsys *js, int max_age_s);

#endif
