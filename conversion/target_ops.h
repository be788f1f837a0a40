/*
 * target_ops: what each target's toolchain accepts from an ONNX model —
 * supported operators (from the vendors' published lists), IR/opset
 * limits, and whether a fixed input shape is required — and the check of a
 * parsed model against them.  One row per target; adding a board adds a
 * row.  Used by onnx_inspect_json (the model record) and by recipes.
 */
#ifndef KILN_TARGET_OPS_H
#define KILN_TARGET_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct onnx_model;

struct target_ops {
	const char *id;           /* "maixcam", "recamera", ... */
	const char *toolchain;    /* "tpu-mlir", "pulsar2", "pulsar", "voyager" */
	int max_ir;               /* highest IR accepted; 0 = none documented */
	int min_opset, max_opset; /* default domain; 0 = none documented */
	bool opset_documented;    /* false: limits inferred, reported as warnings */
	bool static_shape;        /* the compiler needs every input dim fixed */
	bool cpu_fallback;        /* unsupported ops run on the host CPU instead
				     of failing the build (Voyager) */
	const char *const *ops;   /* supported default-domain ops, NULL-ended */
	const char *source;       /* where the list comes from */
};

/* The table; n targets.  Rows are static. */
const struct target_ops *target_ops_table(size_t *n);
/* The row for id, or NULL. */
const struct target_ops *target_ops_find(const char *id);

/* {"<target id>": {"toolchain", "ok", "unsupported_ops", "cpu_fallback_ops",
 *   "unsupported_ops_before_suggested_cut", "ir", "opset",
 *   "needs_input_shape", "dynamic_inputs", "problems", "warnings",
 *   "suggested_outputs" (what this board's runtime loads, best first; see
 *   onnx_suggest_pick), "suggested_model_type", "suggestion_rule"}, ...};
 * the "before the cut" check uses the target's own first suggestion; 
 * caller cJSON_Delete()s; NULL on OOM. */
cJSON *target_ops_json(const struct onnx_model *m);
/* The same object for one target. */
cJSON *target_ops_check_json(const struct onnx_model *m,
			     const struct target_ops *t);

#endif
