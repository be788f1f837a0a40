/*
 * targets: the one table of boards Kiln converts for.
 *
 * One row per target: its toolchain id, the processor / hardware the tools
 * are told, the quantize modes and calibration methods it accepts, the
 * defaults a job spec gets when it says nothing, and its options
 * (target_options in the job spec) with their types, defaults and allowed
 * values, its short label, its recipe and recipe version, and the test
 * program deploy/ runs on it.  The job-spec validator (spec.c), the recipes
 * (recipe_*.c), GET /api/v1/targets (targets_json), the dashboard (labels,
 * forms) and the deploy runner (through the server) all read this table,
 * so adding a board is one row here plus its recipe file (and, for a new
 * runtime, its tables: operators in target_ops.c, loader rules in
 * loader_check.c, output suggestions in onnx_suggest.c), which the row
 * points to.  No other file compares a board id.
 *
 * API
 *   targets_table(&n)            the rows (static)
 *   targets_find(id)             the row for id, or NULL
 *   target_option_find(t, key)   the option row, or NULL
 *   targets_quantize_ok(t, q)    1 when t accepts quantize mode q
 *   targets_json()               GET /api/v1/targets body (new cJSON; caller
 *                                cJSON_Delete()s): {"targets": [{id, name, label,
 *                                toolchain, hardware, quantize: {default,
 *                                allowed}, calibration: {count, methods,
 *                                default_method}, input: {...defaults},
 *                                tolerance, tolerance_values (1 or 2),
 *                                bundle, limits: {max_ir,
 *                                max_opset, min_opset, static_shape},
 *                                options: [{key, type, default, allowed,
 *                                min, max, help}]}]}
 *   targets_ids_text(buf, cap)   "maixcam, recamera, ..." for messages
 *   targets_deploy_program(id)   the board's test program id, for deploy/
 *
 * Knows nothing of HTTP or threads; everything here is static data.
 */
#ifndef KILN_TARGETS_H
#define KILN_TARGETS_H

#include <stddef.h>

#include <cjson/cJSON.h>

enum target_opt_type {
	TOPT_BOOL,     /* default "true" / "false" */
	TOPT_ENUM,     /* one of allowed[] */
	TOPT_INT,      /* integer in [min, max] */
	TOPT_NUMBER,   /* number in [min, max] */
	TOPT_NUMLIST,  /* 1..max_items numbers, each in [min, max] */
};

struct target_option {
	const char *key;               /* [a-z_]+ */
	enum target_opt_type type;
	const char *def;               /* default as text; NULL = unset (flag omitted) */
	const char *const *allowed;    /* TOPT_ENUM: NULL-terminated */
	double min, max;               /* TOPT_INT / TOPT_NUMBER / TOPT_NUMLIST items */
	int max_items;                 /* TOPT_NUMLIST */
	const char *help;              /* why the option exists, where its default comes from */
};

/* Quantize modes (bits of struct target.quantize). */
enum target_quant {
	TQ_INT8 = 1 << 0,
	TQ_BF16 = 1 << 1,
	TQ_F16 = 1 << 2,
	TQ_MIXED = 1 << 3,
};

/* How a board's runtime sees 4-D outputs (struct target.output_perm). */
enum target_perm {
	TARGET_PERM_NONE,    /* as in the ONNX */
	TARGET_PERM_OPTION,  /* NHWC when target_options.output_layout puts dst_perm
				[0,2,3,1] on them (MaixCAM2's pulsar2 config) */
	TARGET_PERM_ALWAYS,  /* NHWC: the build always asks for it (AXera-Pi's
				pulsar build --output_tensor_layout nhwc) */
};

struct recipe_ctx;
struct recipe_out;
struct kiln_err;
struct job_spec;
struct target_ops;
struct loader_rule;
struct suggest_rule;

struct target {
	const char *id;                /* the board id, [a-z0-9-] (maixcam, ...) */
	const char *name;              /* boards, for people */
	const char *toolchain;         /* tpu-mlir | pulsar2 | pulsar | voyager */
	const char *hardware;          /* what the tools are told: cv181x, AX620E ... */
	const char *seed;              /* the worked example the recipe follows */
	unsigned quantize;             /* enum target_quant bits */
	const char *default_quantize;  /* "int8" */
	int default_calib_count;       /* images the calibration uses */
	const char *const *calib_methods;  /* NULL: the tool has no choice */
	const char *default_calib_method;
	const char *default_tolerance; /* "0.9,0.6" (cos,euclid) or "0.9" (cos); NULL = tool default */
	const char *bundle;            /* the file a user runs: "mud" | "joint" | "network.yaml" (Metis: the
					  network YAML inference.py takes; voyager-sdk v1.2.5 writes
					  build/<net>/<model>/<cores>/model.json, no model.axmodel) */
	const char *mud_type;          /* MUD [basic] type, or NULL */
	int multi_output_cut;          /* 1: the tool cuts at outputs itself (TPU-MLIR
					  --output_names); 0: the ONNX must be cut first */
	const struct target_option *options;
	size_t n_options;
	const char *label;             /* short name for people: "MaixCAM" */
	const char *deploy_program;    /* the test program deploy/ runs on the board
					  (deploy_programs.c row): maixpy | sscma |
					  run_joint | voyager */
	/* Its recipe (recipe_<board>.c) and that recipe's version, part of
	 * the cache key: bump it whenever the recipe's plan or bundle changes,
	 * so bundles of the old recipe are not served for the new one. */
	int (*recipe)(const struct recipe_ctx *c, struct recipe_out *out, struct kiln_err *err);
	const char *recipe_version;    /* "<id>/<n>" */
	/* What its toolchain accepts from an ONNX model (target_ops.c). */
	const struct target_ops *ops;
	/* Its runtime's loader rules, one row per model_type, ended by a row
	 * whose model_type is NULL (loader_check.c; MaixCAM and MaixCAM2
	 * share MaixCDK's). */
	const struct loader_rule *loader_rules;
	/* What its runtime loads, per family and task, best first, ended by
	 * a row whose families[0] is NULL (onnx_suggest.c). */
	const struct suggest_rule *suggest_rules;
	int reads_mud;                 /* 1: the runtime reads the .mud's [extra] (MaixCDK),
					  so the staged .mud is validated */
	enum target_perm output_perm;  /* how its runtime sees 4-D outputs */
	/* Spec checks its plan makes that can be made at submit (NULL: none). */
	int (*submit_check)(const struct job_spec *s, struct kiln_err *err);
};

const struct target *targets_table(size_t *n);
const struct target *targets_find(const char *id);
const struct target_option *target_option_find(const struct target *t, const char *key);
int targets_quantize_ok(const struct target *t, const char *quantize);
/* Bit for a quantize name ("int8" -> TQ_INT8), 0 when unknown. */
unsigned targets_quant_bit(const char *quantize);

/* The target's deploy program id (struct target.deploy_program), NULL
 * for an unknown target: handed to deploy/ by the server, so that deploy/
 * knows programs, not boards. */
const char *targets_deploy_program(const char *id);
/* New object (see above); NULL when out of memory. */
cJSON *targets_json(void);
/* Writes the ids separated by ", " into buf. */
void targets_ids_text(char *buf, size_t cap);

#endif
