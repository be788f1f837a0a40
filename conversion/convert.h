/*
 * convert: the conversion library's front door, file in and file out.
 *
 * One job is three calls on one parsed job (struct convert_job: the spec,
 * parsed once, and its model's inspection).  Every call takes paths and
 * returns 0 or a negative KILN_E* with err filled; none knows HTTP, SQL,
 * threads or how steps are run.  kilnd's worker hooks (server/jobsys.c),
 * the tests' command line (tests/tools/kiln_recipe_cli.c) and any other
 * front end call the same three:
 *
 *   convert_prepare(job, &inputs, ws, err)
 *       puts the inputs in the workspace under the names the recipes use:
 *       model.onnx (cut at the spec's outputs when the board's tool cannot
 *       cut, recipe_needs_cut), the calibration sample as images/ or
 *       images.tar (the toolchain row's calib layout), the test image as
 *       test.jpg
 *   convert_plan(job, ws, &plan, err)
 *       the recipe's plan for the workspace's model; the plan carries the
 *       bundle's file list and the recipe version (plan.h), so finishing
 *       never plans again.  *plan is new: plan_free().
 *   convert_finish(job, plan, ws, dir, figures, &info, err)
 *       after every step succeeded: holds the figures against the tolerance
 *       where the tool does not (field "tolerance"), stages the plan's
 *       bundle files from ws into dir (created, emptied first), asks the
 *       board's loader rules (loader_check.h) and writes dir/manifest.json
 *       from info (info->simulated is set here: the toolchain double's
 *       marker in what the tool wrote).  Packing dir is the caller's.
 *
 * Ownership: convert_job_open's *out is freed with convert_job_close
 * (accepts NULL); it takes ownership of the inspection given to it.
 */
#ifndef KILN_CONVERT_H
#define KILN_CONVERT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "runtime/blob.h"
#include "runtime/kiln_err.h"
#include "runtime/plan.h"
#include "conversion/bundle.h"
#include "conversion/calib.h"
#include "conversion/spec.h"

/* Where convert_prepare puts the spec's test image in the workspace. */
#define CONVERT_TEST_IMAGE "test.jpg"

struct convert_job {
	struct job_spec *spec;   /* owned */
	cJSON *insp;             /* owned: the stored model's inspection */
	cJSON *cut_insp;         /* owned: the cut model's, read by convert_plan */
	int cut;                 /* recipe_needs_cut(spec, insp) */
};

/* What a job converts, found by the caller (all borrowed). */
struct convert_inputs {
	const char *model_path;         /* the stored ONNX */
	struct blob_store *bs;          /* holds the calibration images */
	const char *const *images;      /* their sha256s, in set order */
	size_t n_images;                /* 0: no calibration set */
	const char *test_image_path;    /* the spec's test image, or NULL */
};

/* Parses spec_json (a stored, completed spec) against insp; takes insp
 * (also on failure). */
int convert_job_open(const char *spec_json, size_t len, cJSON *insp, struct convert_job **out,
		     struct kiln_err *err);
void convert_job_close(struct convert_job *j);

int convert_prepare(const struct convert_job *j, const struct convert_inputs *in,
		    const char *ws, struct kiln_err *err);
int convert_plan(struct convert_job *j, const char *ws, struct plan **out,
		 struct kiln_err *err);
int convert_finish(const struct convert_job *j, const struct plan *p, const char *ws,
		   const char *dir, const cJSON *figures, struct bundle_info *info,
		   struct kiln_err *err);

/* The plan's bundle files, copied from ws into dir (created) and the
 * generated ones written: convert_finish's staging alone. */
int convert_stage(const struct plan *p, const char *ws, const char *dir, struct kiln_err *err);

/* The seed convert_prepare samples the calibration set with: the same set
 * gives the same images, so the cache key stays honest.  One value with
 * calib.h's, which GET /jobs/{id}/calibration lists the sample by. */
#define CONVERT_CALIB_SEED CALIB_JOB_SEED

#endif
