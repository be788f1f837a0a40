/*
 * target_ops: what each target's toolchain accepts from an ONNX model —
 * supported operators (from the vendors' published lists), IR/opset
 * limits, and whether a fixed input shape is required — and the check of a
 * parsed model against them.  One row per toolchain (and limits); each
 * board's row of targets.c points to its own (struct target.ops), so
 * nothing here names a board.  Used by onnx_inspect_json (the model
 * record), the spec validator and GET /api/v1/targets.
 */
#ifndef KILN_TARGET_OPS_H
#define KILN_TARGET_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct onnx_model;

struct target;

struct target_ops {
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

/* The rows (static), one per toolchain and its limits. */
extern const struct target_ops TARGET_OPS_TPU_MLIR;      /* MaixCAM: no documented limits */
extern const struct target_ops TARGET_OPS_TPU_MLIR_17;   /* reCamera: TPU-MLIR 1.7, IR 8, opset 17 */
extern const struct target_ops TARGET_OPS_PULSAR2_AX620E;
extern const struct target_ops TARGET_OPS_PULSAR_AX620A;
extern const struct target_ops TARGET_OPS_VOYAGER;

/* {"<target id>": {"toolchain", "ok", "unsupported_ops", "cpu_fallback_ops",
 *   "unsupported_ops_before_suggested_cut", "ir", "opset",
 *   "needs_input_shape", "dynamic_inputs", "problems", "warnings",
 *   "suggested_outputs" (what this board's runtime loads, best first; see
 *   onnx_suggest_pick), "suggested_model_type", "suggestion_rule"}, ...};
 * the "before the cut" check uses the target's own first suggestion; 
 * caller cJSON_Delete()s; NULL on OOM. */
cJSON *target_ops_json(const struct onnx_model *m);
/* The same object for one target (its ops and suggestion rows). */
cJSON *target_ops_check_json(const struct onnx_model *m,
			     const struct target *t);

#endif
