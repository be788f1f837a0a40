/*
 * spec: the job spec (schema/job.schema.json) parsed, checked and completed
 * with the target's defaults.
 *
 * A spec is user input that ends up in argv elements, file names and config
 * files, so every string is checked against an allow-list pattern, every
 * list and number has a bound, and unknown keys are errors (a typo must not
 * silently become a default).  Errors name the field ("input.shape",
 * "outputs[2]", "target_options.processor", "mud.labels[3]").
 *
 * Given the model's inspection (onnx_inspect_json), the spec is also checked
 * against the model: a dynamic input dim without input.shape is an error
 * naming input.shape; outputs "suggested" becomes the first of the
 * target's own suggestions (inspection.targets.<id>.suggested_outputs:
 * what that board's runtime loads), or of the general list for a record
 * inspected before those existed; mud.model_type defaults to the
 * suggested one; IR/opset above what the
 * target's toolchain documents (target_ops.h) is refused with what to do.
 *
 * API
 *   spec_parse(json, inspection|NULL, &s, err)     0 or KILN_EINVAL (field set)
 *                                                  / KILN_EUNPROC (model unusable)
 *   spec_parse_text(text, len, inspection, &s, err)
 *   spec_free(s)                                   accepts NULL
 *   spec_to_json(s)        the completed spec (every default filled in), keys
 *                          sorted: what the job row stores and the cache key
 *                          hashes; new cJSON, caller cJSON_Delete()s
 *   spec_canonical(s)      the same as compact text; new string, caller free()s
 *   spec_opt(s, key)       a target option's value as text, NULL when unset
 *   spec_opt_bool(s, key)  1 when the option is "true"
 *   spec_opt_num(s, key)   the option as a number (0 when unset)
 *   spec_fmt_number(v, buf, cap)   shortest text that reads back as v
 *   spec_fmt_list(v, n, sep, buf, cap)
 *   spec_name_ok / spec_id_ok / spec_tensor_ok / spec_label_ok /
 *   spec_model_type_ok     the allow-lists (1 = accepted), for other modules
 *
 * Ownership: a struct job_spec and every pointer in it is owned by the spec
 * and freed by spec_free.  Knows nothing of HTTP, threads or the database.
 */
#ifndef KILN_SPEC_H
#define KILN_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "runtime/kiln_err.h"
#include "conversion/targets.h"

#define SPEC_ID_MAX 128        /* model, dataset, test_image ids */
#define SPEC_NAME_MAX 40       /* bundle name: <name>_cv181x_int8_sym.cvimodel must stay
				  within plan.h's 64-character file names */
#define SPEC_TENSOR_MAX 255    /* ONNX tensor names that reach argv */
#define SPEC_MAX_RANK 8
#define SPEC_MAX_CH 4          /* mean/scale/std values: rgb(a) */
#define SPEC_MAX_OUTPUTS 64
#define SPEC_MAX_LABELS 4096   /* ImageNet has 1000; room for open-vocabulary sets */
#define SPEC_LABEL_MAX 64      /* bytes of one label */
#define SPEC_MAX_ANCHORS 64    /* numbers (pairs x 2) */
#define SPEC_MAX_CALIB 10000
#define SPEC_MAX_EXTRA 32      /* mud.extra keys */

/* MUD cache flags (MaixCAM2 only); -1 = rule of seed 000 decides. */
enum spec_cache_flag { SPEC_INPUT_CACHE, SPEC_OUTPUT_CACHE, SPEC_INPUT_CACHE_FLUSH,
		       SPEC_OUTPUT_CACHE_INVAL, SPEC_N_CACHE_FLAGS };

struct job_spec {
	char model[SPEC_ID_MAX + 1];
	char dataset[SPEC_ID_MAX + 1];
	char target[32];
	const struct target *t;         /* row of targets.h; static */
	char name[SPEC_NAME_MAX + 1];

	/* input */
	char *input_name;               /* the model's input tensor (from inspection), or NULL */
	int rank;                       /* 0 = not known (no shape given, no inspection) */
	int64_t shape[SPEC_MAX_RANK];
	int shape_given;                /* 1: from the spec; 0: from the model or unknown */
	char pixel_format[8];           /* rgb | bgr | gray */
	int n_ch;                       /* values in mean/scale/std */
	double mean[SPEC_MAX_CH];       /* pixel units (0..255), y = (x - mean) * scale */
	double scale[SPEC_MAX_CH];      /* always set (1/std when std was given) */
	double std[SPEC_MAX_CH];        /* always set (1/scale when scale was given) */
	int std_given;                  /* which one the user wrote (kept in the canonical form) */
	int keep_aspect_ratio;
	char layout[8];                 /* nchw | nhwc */

	/* outputs: tensor names, in the order to pass them */
	char **outputs;
	size_t n_outputs;
	int outputs_suggested;          /* "suggested" was asked */

	char quantize[8];               /* int8 | bf16 | f16 | mixed */
	int calib_count;
	char calib_method[16];          /* "" when the toolchain has no choice */
	int n_tol;                      /* 0 (tool default), 1 (cos) or 2 (cos, euclid) */
	double tol[2];

	char **opts;                    /* t->n_options entries, NULL = unset */

	/* mud */
	char model_type[33];            /* "" = none */
	char mud_type[16];              /* yolo11/yolov8 [extra] type, "" = none */
	char **labels;
	size_t n_labels;
	double *anchors;
	size_t n_anchors;
	int cache_flags[SPEC_N_CACHE_FLAGS];
	char **extra_keys, **extra_values;  /* mud.extra: more [extra] keys */
	size_t n_extra;

	char test_image[SPEC_ID_MAX + 1];   /* "" = none */
	int cache;                      /* 0: "cache": false forces a rebuild */
};

int spec_parse(const cJSON *json, const cJSON *inspection, struct job_spec **out,
	       struct kiln_err *err);
int spec_parse_text(const char *text, size_t len, const cJSON *inspection,
		    struct job_spec **out, struct kiln_err *err);
void spec_free(struct job_spec *s);

cJSON *spec_to_json(const struct job_spec *s);
char *spec_canonical(const struct job_spec *s);

const char *spec_opt(const struct job_spec *s, const char *key);
int spec_opt_bool(const struct job_spec *s, const char *key);
/* 1 when the spec's tolerance is the target's default (the user set none,
 * or set exactly that). */
int spec_tolerance_is_default(const struct job_spec *s);
double spec_opt_num(const struct job_spec *s, const char *key);

/* Shortest decimal text that strtod reads back as v ("0.00392156862745098",
 * "0", "255"). */
void spec_fmt_number(double v, char *buf, size_t cap);
/* v[0..n) joined by sep. */
void spec_fmt_list(const double *v, size_t n, const char *sep, char *buf, size_t cap);

int spec_name_ok(const char *s);        /* [A-Za-z0-9][A-Za-z0-9._-]{0,39} */
int spec_id_ok(const char *s);          /* [A-Za-z0-9][A-Za-z0-9._:-]{0,127} */
int spec_tensor_ok(const char *s);      /* [A-Za-z0-9_./:-]{1,255}, not starting with '-' */
int spec_label_ok(const char *s);       /* see schema: no , # ; [ ] or control chars */
int spec_model_type_ok(const char *s);  /* [a-z][a-z0-9_]{0,31} */

#endif
