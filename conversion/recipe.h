/*
 * recipe: turns (job spec, model inspection, workspace paths) into a plan —
 * the files to write and the steps to run, exactly as the seed documents
 * do by hand — plus the list of files that make the bundle.
 *
 * One recipe per target (recipe_<target>.c), found through the target's row
 * (targets.h: recipe, recipe_version).
 * Every path in a plan is relative to the job's workspace (steps run with
 * the workspace as their working directory, /workspace in a container), so
 * the caller must put the model, the calibration images and the test image
 * there under the names in struct recipe_paths before the steps run.
 *
 * API
 *   recipe_paths_default(&p)      "model.onnx", "images", "images.tar", NULL
 *   recipe_plan(spec, inspection, &paths, &out, err)
 *                                 0, or KILN_EINVAL (field set) / KILN_EUNPROC;
 *                                 *out owned by the caller: recipe_out_free()
 *   recipe_needs_cut(spec, inspection)
 *                                 1 when the target's tool cannot cut the graph
 *                                 itself (pulsar2, pulsar, Voyager) and the
 *                                 spec's outputs are not the model's outputs:
 *                                 the caller cuts first (onnx_cut_file) and
 *                                 plans with the cut model's inspection
 *   recipe_check(spec, err)       the plan's spec checks, at submit time
 *   recipe_version(target)        "<target>/<n>", part of the cache key; bump
 *                                 n whenever a recipe's output changes
 *   recipe_stage_bundle(out, workspace, dir, err)
 *                                 copies the bundle files from the finished
 *                                 workspace into dir (created) and writes the
 *                                 generated ones (the .mud)
 *   (the plan as a shell script: runtime/plan_sh.h)
 *
 * Helpers for recipe_<target>.c (one struct recipe_argv per step):
 *   recipe_argv_add(a, s) / recipe_argv_addf(a, fmt, ...) / recipe_argv_free(a)
 *   recipe_step(out, &step, err)           adds a step to out->plan
 *   recipe_file(out, name, text, err)      adds a file to write to out->plan, frees text
 *   recipe_bundle(out, name, src, content, err)
 *   recipe_pb_quote(v)                     "..." escaped for protobuf text format
 *   recipe_tidy(v)                         v rounded to 12 significant digits
 *                                          (255, not 254.99999999999997)
 *
 * Knows nothing of HTTP, threads, the database or how steps are run.
 */
#ifndef KILN_RECIPE_H
#define KILN_RECIPE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "runtime/kiln_err.h"
#include "runtime/plan.h"
#include "conversion/spec.h"

struct recipe_paths {
	const char *model;       /* the ONNX (cut if recipe_needs_cut said so) */
	const char *images_dir;  /* calibration images, one directory (TPU-MLIR, Voyager) */
	const char *images_tar;  /* the same images as a tar (pulsar2, pulsar) */
	const char *test_image;  /* jpg/png for the similarity checks, or NULL */
};

struct recipe_bundle_file {
	char *name;              /* path inside the bundle ([A-Za-z0-9._-] parts) */
	char *src;               /* workspace path a step produces, or NULL */
	char *content;           /* generated text (when src is NULL) */
	size_t size;
};

struct recipe_out {
	struct plan *plan;
	struct recipe_bundle_file *files;
	size_t n_files;
	char version[32];        /* recipe_version() of the target */
};

void recipe_paths_default(struct recipe_paths *p);
int recipe_plan(const struct job_spec *s, const cJSON *inspection,
		const struct recipe_paths *paths, struct recipe_out **out, struct kiln_err *err);
void recipe_out_free(struct recipe_out *r);
int recipe_needs_cut(const struct job_spec *s, const cJSON *inspection);
const char *recipe_version(const char *target);
/* The target's plan-time spec checks that need no files, for submit
 * (0, or KILN_EINVAL naming the field). */
int recipe_check(const struct job_spec *s, struct kiln_err *err);
int recipe_stage_bundle(const struct recipe_out *r, const char *workspace, const char *dir,
			struct kiln_err *err);

/* --- for the recipes -------------------------------------------------------- */

/* What a recipe gets (all borrowed). */
struct recipe_ctx {
	const struct job_spec *s;
	const cJSON *insp;              /* may be NULL */
	const struct recipe_paths *paths;
};

typedef int (*recipe_fn)(const struct recipe_ctx *c, struct recipe_out *out,
			 struct kiln_err *err);

struct recipe_argv {
	const char *v[PLAN_MAX_ARGS + 1];
	char *owned[PLAN_MAX_ARGS];
	size_t n, n_owned;
	int oom;
};

void recipe_argv_add(struct recipe_argv *a, const char *s);
void recipe_argv_addf(struct recipe_argv *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void recipe_argv_free(struct recipe_argv *a);

struct recipe_step_def {
	const char *name;
	struct recipe_argv *argv;
	const char *toolchain;
	int timeout_s;
	const char *const *outputs;     /* NULL-terminated or NULL */
	double weight;
	const char *parser;             /* logparse id */
};

int recipe_step(struct recipe_out *out, const struct recipe_step_def *d, struct kiln_err *err);
/* Takes text, a writer's result (NULL: it ran out of memory, KILN_ENOMEM). */
int recipe_file(struct recipe_out *out, const char *name, char *text, struct kiln_err *err);
int recipe_bundle(struct recipe_out *out, const char *name, const char *src, const char *content,
		  struct kiln_err *err);
double recipe_tidy(double v);
/* A protobuf text-format string literal of v, quotes included; new string,
 * caller free()s; NULL when out of memory. */
char *recipe_pb_quote(const char *v);
/* "[[1,3,640,640]]" */
void recipe_shape_text(const struct job_spec *s, char *buf, size_t cap);
/* "a,b,c" of the spec's outputs; new string, caller free()s. */
char *recipe_outputs_joined(const struct job_spec *s);
/* Rank of a graph output in the inspection, -1 when not an output / unknown. */
int recipe_output_rank(const cJSON *insp, const char *name);
/* Adds the .mud as a generated bundle file <name>.mud. */
int recipe_bundle_mud(struct recipe_out *out, const struct job_spec *s, const char *model,
		      const char *npu, const char *vnpu, struct kiln_err *err);

#endif
