/*
 * plan: what a job runs — files to write into its workspace, then steps.
 *
 * A recipe (conversion/) builds a plan; the job row stores it as JSON so
 * what ran is always visible and can be run again by hand; the worker runs
 * it.  Every name here ends up in a path or a container name, so names are
 * allow-listed and every list and string has a bound.
 *
 * API
 *   plan_new() / plan_free(p)                     an empty plan; free accepts NULL
 *   plan_add_file(p, name, content, len, exec, err)
 *   plan_add_step(p, &spec, err)                  copies a struct plan_step_spec
 *   plan_validate(p, err)                         bounds + allow-lists (also run by
 *                                                 plan_from_json)
 *   plan_from_json(json, &p, err) / plan_parse(text, len, &p, err)
 *   plan_to_json(p) → cJSON* / plan_to_string(p) → char*
 *   plan_total_weight(p)
 *   plan_name_ok(s) / plan_path_ok(s)             the allow-lists, for other modules
 *   plan_toolchain_ok(s)
 *   plan_add_bundle_file(p, name, src, content, err)  a file of the job's result
 *   plan_set_recipe(p, version)                   what made the plan (cache key part)
 *
 * JSON form (unknown keys are rejected so a typo is an error, not a default):
 *   {"files": [{"name": "config.json", "content": "...", "executable": false}],
 *    "steps": [{"name": "transform", "argv": ["model_transform", "--mlir", "m.mlir"],
 *               "toolchain": "tpu-mlir", "timeout_s": 3600,
 *               "outputs": ["m.mlir"], "weight": 1, "parser": "tpu-mlir"}]}
 *   files, outputs, weight (default 1), parser (default "none") and
 *   executable (default false) may be omitted; timeout_s defaults to 3600.
 *   Two optional keys carry what finishing the job needs, so it never has
 *   to plan again: "bundle": [{"name": "m.mud", "content": "..."},
 *   {"name": "m.cvimodel", "src": "m_int8.cvimodel"}] (the files the
 *   result is made of: a workspace path a step writes, or generated text)
 *   and "recipe": "<board>/3" (the recipe version that made the plan).
 *   Both are left out of the JSON when empty.
 *
 * Names (files, steps): 1..64 characters of [A-Za-z0-9._-], starting with a
 * letter or digit (so never "." or ".." or hidden).  Outputs are workspace-
 * relative paths whose '/'-separated parts are each such a name (pulsar2
 * writes into output/).  argv[0] is looked up on the engine's PATH; argv
 * elements are passed as they are, never through a shell.
 */
#ifndef KILN_PLAN_H
#define KILN_PLAN_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "runtime/kiln_err.h"
#include "runtime/logparse.h"

#define PLAN_NAME_MAX 64          /* file and step names, characters */
#define PLAN_PATH_MAX 255         /* expected outputs */
#define PLAN_MAX_FILES 64
#define PLAN_MAX_FILE_BYTES (1 << 20)
#define PLAN_MAX_TOTAL_BYTES (8 << 20)   /* all file contents together */
#define PLAN_MAX_STEPS 32
#define PLAN_MAX_ARGS 256
#define PLAN_MAX_ARG_BYTES 4096
#define PLAN_MAX_ARGV_BYTES 65536        /* one step's argv together */
#define PLAN_MAX_OUTPUTS 64
#define PLAN_MAX_TIMEOUT_S 172800        /* 48 h: the slowest calibration seen is ~1 h */
#define PLAN_DEFAULT_TIMEOUT_S 3600
#define PLAN_MAX_WEIGHT 1000.0
#define PLAN_TOOLCHAIN_MAX 16
#define PLAN_MAX_BUNDLE 1024             /* a manifest lists <= 1024 files */
#define PLAN_RECIPE_MAX 32

struct plan_file {
	char *name;        /* owned by the plan */
	char *content;     /* owned; size bytes plus a NUL */
	size_t size;
	int executable;    /* written with mode 0755 instead of 0644 */
};

struct plan_step {
	char *name;                        /* owned */
	char **argv;                       /* owned; argc entries then NULL */
	size_t argc;
	char toolchain[PLAN_TOOLCHAIN_MAX]; /* tpu-mlir|pulsar2|pulsar|voyager|local */
	int timeout_s;
	char **outputs;                    /* owned; n_outputs entries then NULL */
	size_t n_outputs;
	double weight;                     /* share of the job's progress */
	char parser[LOGPARSE_ID_MAX];      /* logparse id */
};

/* A file of the job's result: copied from the workspace (src) or written
 * from content.  Exactly one of src and content is set. */
struct plan_bundle_file {
	char *name;        /* owned; path inside the bundle (plan_path_ok) */
	char *src;         /* owned; workspace path a step writes, or NULL */
	char *content;     /* owned; generated text, or NULL */
	size_t size;       /* bytes of content */
};

struct plan {
	struct plan_file *files;
	size_t n_files;
	struct plan_step *steps;
	size_t n_steps;
	struct plan_bundle_file *bundle;   /* may be empty (a plan given by hand) */
	size_t n_bundle;
	char recipe[PLAN_RECIPE_MAX];      /* "" when not made by a recipe */
};

/* What plan_add_step copies from (all borrowed). */
struct plan_step_spec {
	const char *name;
	const char *const *argv;      /* NULL-terminated */
	const char *toolchain;
	int timeout_s;                /* 0 = PLAN_DEFAULT_TIMEOUT_S */
	const char *const *outputs;   /* NULL-terminated, or NULL */
	double weight;                /* negative = default 1 */
	const char *parser;           /* NULL = "none" */
};

/* A new empty plan; caller frees with plan_free().  NULL when out of memory. */
struct plan *plan_new(void);
void plan_free(struct plan *p);

/* Copies a file into the plan (checked against the bounds). */
int plan_add_file(struct plan *p, const char *name, const char *content, size_t len,
		  int executable, struct kiln_err *err);

/* Copies a step into the plan (checked against the bounds). */
int plan_add_step(struct plan *p, const struct plan_step_spec *spec, struct kiln_err *err);

/* Copies a bundle file into the plan (name and src checked with
 * plan_path_ok, content bounded by PLAN_MAX_FILE_BYTES). */
int plan_add_bundle_file(struct plan *p, const char *name, const char *src,
			 const char *content, struct kiln_err *err);
/* KILN_EINVAL when version does not fit or holds other than [a-z0-9/._-]. */
int plan_set_recipe(struct plan *p, const char *version, struct kiln_err *err);
/* Checks every bound and allow-list; err->field names the offending element
 * ("steps[1].argv[0]"). */
int plan_validate(const struct plan *p, struct kiln_err *err);

/* Builds and validates a plan from JSON; caller frees *out with plan_free(). */
int plan_from_json(const cJSON *json, struct plan **out, struct kiln_err *err);
int plan_parse(const char *text, size_t len, struct plan **out, struct kiln_err *err);

/* New cJSON object (caller cJSON_Delete()s) or new string (caller free()s);
 * NULL when out of memory. */
cJSON *plan_to_json(const struct plan *p);
char *plan_to_string(const struct plan *p);

double plan_total_weight(const struct plan *p);

/* The allow-lists (1 = accepted). */
int plan_name_ok(const char *s);
int plan_path_ok(const char *s);
int plan_toolchain_ok(const char *s);

#endif
