/*
 * target_ops: per-target operator support and version limits (target_ops.h).
 *
 * The lists are the vendors' published ones, copied by hand; each names its
 * source.  An op only counts as unsupported when it survives constant
 * folding: every toolchain here runs an onnxsim-style simplifier first, so a
 * Shape -> Gather -> Unsqueeze chain over a static input never reaches the
 * NPU compiler.  Ops of other domains (com.microsoft, custom) are never
 * supported.
 */
#include "conversion/target_ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion/onnx_priv.h"
#include "conversion/targets.h"

/* TPU-MLIR's ONNX front end: the keys of OnnxConverter.onnxop_factory in
 * github.com/sophgo/tpu-mlir python/transform/OnnxConverter.py (commit
 * 0033e680).  The same front end serves MaixCAM and reCamera (cv181x); the
 * 1.7 wheel reCamera pins may lack a few of the newest entries
 * (unverified). */
static const char *const tpu_mlir_ops[] = {
	"Abs", "Add", "Acos", "Atan", "Atanh", "ArgMax", "ArgMin", "And",
	"AveragePool", "BatchNormalization", "Cast", "Ceil", "Concat",
	"Constant", "ConstantOfShape", "Conv", "Cos", "Clip", "ConvTranspose",
	"CumSum", "DepthToSpace", "DequantizeLinear", "Div", "Dropout",
	"Einsum", "Elu", "Erf", "Exp", "Expand", "Equal", "Flatten", "Floor",
	"Gather", "GatherElements", "GatherND", "GELU", "Gelu", "Gemm",
	"GlobalAveragePool", "GlobalMaxPool", "GroupNormalization", "Greater",
	"GreaterOrEqual", "GridSample", "GRU", "HardSigmoid", "HardSwish",
	"Identity", "InstanceNormalization", "LayerNormalization", "LeakyRelu",
	"Log", "LRN", "LSTM", "LogSoftmax", "Less", "LessOrEqual", "MatMul",
	"Max", "MaxPool", "Min", "Mod", "Mul", "Neg", "NonMaxSuppression",
	"Not", "NonZero", "OneHot", "Pad", "PixelNormalization", "PRelu", "Pow",
	"QuantizeLinear", "RandomNormalLike", "Range", "Reciprocal",
	"ReduceMean", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceL1",
	"ReduceProd", "ReduceSum", "Relu", "Reshape", "Resize",
	"ReverseSequence", "RoiAlign", "Round", "ScatterElements", "ScatterND",
	"Shape", "Sigmoid", "Sign", "Sin", "Slice", "Softmax", "Softplus",
	"SpaceToDepth", "Squeeze", "Split", "Sub", "Sum", "Sqrt", "Tanh",
	"Tile", "TopK", "Trilu", "Transpose", "Unsqueeze", "Upsample", "Where",
	"Xor", "If", "Loop", NULL,
};

/* Pulsar2, "NPU Operators support list (AX620E)" (AX630C / AX620Q):
 * github.com/AXERA-TECH/pulsar2-docs-en source/appendix/op_support_list_ax620e.md.
 * It also says "Supported ONNX opset_version >= 11". */
static const char *const pulsar2_ax620e_ops[] = {
	"Abs", "Add", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization",
	"Cast", "Ceil", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv",
	"ConvTranspose", "DepthToSpace", "Div", "Elu", "Equal", "Erf", "Exp",
	"Expand", "Flatten", "Gather", "Gelu", "Gemm", "GlobalAveragePool",
	"GlobalMaxPool", "Greater", "GreaterOrEqual", "GridSample",
	"HardSigmoid", "HardSwish", "Identity", "InstanceNormalization",
	"LayerNormalization", "Less", "LessOrEqual", "LpNormalization", "LSTM",
	"LeakyRelu", "MatMul", "Max", "Min", "Mish", "MaxPool", "Mul", "PRelu",
	"Pad", "Pow", "ReduceL2", "ReduceMax", "ReduceMean", "ReduceSum",
	"Relu", "Reshape", "Resize", "Sigmoid", "Slice", "SpatialTransformer",
	"Split", "Sqrt", "Silu", "Sin", "Swish", "Squeeze", "Softmax",
	"Softplus", "SpaceToDepth", "Sub", "Tanh", "TopK", "Transpose",
	"Unsqueeze", "Where", NULL,
};

/* Legacy Pulsar for AX620A/U (AXera-Pi), "算子支持列表":
 * github.com/AXERA-TECH/pulsar-docs source/appendix/op_support_list.rst
 * (ops listed as CPU there still build, on the CPU backend). */
static const char *const pulsar_ax620a_ops[] = {
	"Abs", "Add", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization",
	"Clip", "Concat", "Conv", "ConvTranspose", "DepthToSpace", "Div",
	"Flatten", "GRU", "Gemm", "GlobalAveragePool", "GlobalMaxPool",
	"HardSigmoid", "Identity", "LRN", "LSTM", "LeakyRelu", "MatMul",
	"MaxPool", "MaxRoiPool", "Mul", "PRelu", "Pad", "ReduceL2", "ReduceMax",
	"ReduceMean", "ReduceSum", "Relu", "Reshape", "Resize", "Shape",
	"Sigmoid", "Slice", "Softmax", "Softplus", "SpaceToDepth", "Sub",
	"Tanh", "Tile", "Transpose", "Unsqueeze", NULL,
};

/* Axelera Voyager, "AIPU support of ONNX opset17 operators":
 * github.com/axelera-ai-hub/voyager-sdk docs/reference/compiler/
 * onnx-opset17-support.md and onnx-support.md ("opsets 14-17"; anything
 * else runs on the host CPU through ONNX Runtime, the build does not fail). */
static const char *const voyager_ops[] = {
	"Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Conv",
	"ConvTranspose", "Flatten", "Gemm", "GlobalAveragePool",
	"GlobalMaxPool", "HardSigmoid", "HardSwish", "LeakyRelu", "MatMul",
	"MaxPool", "Mul", "PRelu", "Pad", "Relu", "Reshape", "Resize", "Selu",
	"Sigmoid", "Slice", "Softmax", "Split", "Squeeze", "Sub", "Tanh",
	"Transpose", NULL,
};

/* One row per toolchain and its limits; struct target points to its row. */
const struct target_ops TARGET_OPS_TPU_MLIR = {
	"tpu-mlir", 0, 0, 0, false, true, false, tpu_mlir_ops,
	"sophgo/tpu-mlir python/transform/OnnxConverter.py onnxop_factory"};
/* Seeed's reCamera guide (seeds/002): TPU-MLIR 1.7 wants IR <= 8 and
 * opset <= 17. */
const struct target_ops TARGET_OPS_TPU_MLIR_17 = {
	"tpu-mlir", 8, 0, 17, true, true, false, tpu_mlir_ops,
	"sophgo/tpu-mlir OnnxConverter.py; limits from Seeed's reCamera conversion guide"};
const struct target_ops TARGET_OPS_PULSAR2_AX620E = {
	"pulsar2", 0, 11, 0, true, true, false, pulsar2_ax620e_ops,
	"AXERA-TECH/pulsar2-docs-en appendix/op_support_list_ax620e.md"};
/* The op list's "ONNX OpSet" column says v13; the Sipeed guide
 * exports opset 11.  Inferred, so only a warning. */
const struct target_ops TARGET_OPS_PULSAR_AX620A = {
	"pulsar", 0, 0, 13, false, true, false, pulsar_ax620a_ops,
	"AXERA-TECH/pulsar-docs appendix/op_support_list.rst"};
const struct target_ops TARGET_OPS_VOYAGER = {
	"voyager", 0, 14, 17, true, true, true, voyager_ops,
	"axelera-ai-hub/voyager-sdk docs/reference/compiler/onnx-opset17-support.md"};

static bool listed(const char *const *ops, const char *op)
{
	for (; *ops; ops++)
		if (strcmp(*ops, op) == 0)
			return true;
	return false;
}

static bool is_default_domain(const char *d)
{
	return d[0] == '\0' || strcmp(d, "ai.onnx") == 0;
}

/* fold[i]: node i only depends on constants, so a simplifier removes it. */
static uint8_t *foldable(const struct onnx_model *m)
{
	uint8_t *fold = calloc(m->nnodes + 1, 1);
	if (fold == NULL)
		return NULL;
	for (uint32_t k = 0; k < m->nnodes; k++) {
		uint32_t i = m->topo[k];
		const struct onnx_node *n = &m->nodes[i];
		if (n->nimplicit || !is_default_domain(n->domain))
			continue;
		bool c = true;
		if (strcmp(n->op, "Shape") == 0 || strcmp(n->op, "Size") == 0) {
			/* Shape of a fully static tensor is a constant */
			/* in[0] is ONNX_NONE when the input name is "" */
			const struct onnx_type *t = onnx_node_in(m, n, 0) != ONNX_NONE ?
						    m->tensors[onnx_node_in(m, n, 0)].ty : NULL;
			c = t != NULL && t->rank >= 0;
			for (int d = 0; c && d < t->rank; d++)
				c = t->dims[d].has_value;
		} else {
			for (uint32_t j = 0; j < n->nin && c; j++) {
				uint32_t id = onnx_node_in(m, n, j);
				if (id == ONNX_NONE)
					continue;
				const struct onnx_tensor *t = &m->tensors[id];
				c = t->init >= 0 || (t->producer >= 0 && fold[t->producer]);
			}
		}
		/* Random ops are not constants even without inputs. */
		if (strncmp(n->op, "Random", 6) == 0)
			c = false;
		fold[i] = c;
	}
	return fold;
}

static void add_unique(cJSON *arr, const char *s)
{
	cJSON *x;
	cJSON_ArrayForEach(x, arr)
		if (strcmp(x->valuestring, s) == 0)
			return;
	cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

static void problem(cJSON *arr, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(cJSON *arr, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
}

/* The model's suggestions, computed once for every target. */
struct sugg {
	struct onnx_suggestion *all;
	size_t n;
	size_t *idx;             /* scratch for onnx_suggest_pick, n entries */
};

static void sugg_load(const struct onnx_model *m, struct sugg *g)
{
	memset(g, 0, sizeof(*g));
	if (onnx_suggest(m, &g->all, &g->n, NULL) != 0)
		return;
	g->idx = calloc(g->n + 1, sizeof(size_t));
	if (g->idx == NULL) {
		onnx_suggestions_free(g->all, g->n);
		memset(g, 0, sizeof(*g));
	}
}

static void sugg_free(struct sugg *g)
{
	onnx_suggestions_free(g->all, g->n);
	free(g->idx);
}

/* Nodes needed for suggestion s's tensors (NULL when it is just the plain
 * outputs, or on OOM). */
static uint8_t *suggested_region(const struct onnx_model *m,
				 const struct onnx_suggestion *s)
{
	if (s == NULL || strcmp(s->family, "graph-outputs") == 0)
		return NULL;
	uint8_t *mark = calloc(m->nnodes + 1, 1);
	uint32_t *ids = calloc(s->ntensors + 1, sizeof(uint32_t));
	if (mark && ids) {
		for (size_t i = 0; i < s->ntensors; i++)
			ids[i] = onnx_find_tensor(m, s->tensors[i]);
		onnx_needed_nodes(m, ids, s->ntensors, mark);
	}
	free(ids);
	if (ids == NULL) {
		free(mark);
		mark = NULL;
	}
	return mark;
}

/* Adds the target's own suggestions to o: "suggested_outputs" (what this
 * board's runtime loads, best first), "suggested_model_type" and
 * "suggestion_rule" (the board rule and its source, or null); returns the
 * first one (owned by g) or NULL. */
static const struct onnx_suggestion *add_target_suggestions(cJSON *o,
		const struct target *bt, struct sugg *g)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "suggested_outputs");
	const char *why = NULL;
	size_t k = g->n ? onnx_suggest_pick(bt->suggest_rules, g->all, g->n, g->idx, &why) : 0;
	for (size_t i = 0; arr && i < k; i++)
		cJSON_AddItemToArray(arr, onnx_suggestion_json(&g->all[g->idx[i]]));
	const struct onnx_suggestion *first = k ? &g->all[g->idx[0]] : NULL;
	if (first && first->model_type)
		cJSON_AddStringToObject(o, "suggested_model_type", first->model_type);
	else
		cJSON_AddNullToObject(o, "suggested_model_type");
	if (why)
		cJSON_AddStringToObject(o, "suggestion_rule", why);
	else
		cJSON_AddNullToObject(o, "suggestion_rule");
	return first;
}

static cJSON *check(const struct onnx_model *m, const struct target *bt,
		    const uint8_t *fold, struct sugg *g)
{
	const struct target_ops *t = bt->ops;
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "toolchain", t->toolchain);
	/* ops after this board's own cut do not reach its compiler */
	uint8_t *region = suggested_region(m, add_target_suggestions(o, bt, g));
	cJSON *problems = cJSON_CreateArray();
	cJSON *warnings = cJSON_CreateArray();
	cJSON *unsup = cJSON_CreateArray();
	cJSON *in_cut = cJSON_CreateArray();
	for (uint32_t i = 0; i < m->nnodes; i++) {
		const struct onnx_node *n = &m->nodes[i];
		if (fold && fold[i])
			continue;
		char name[ONNX_NAME_MAX * 2 + 2];
		bool ok = is_default_domain(n->domain) && listed(t->ops, n->op);
		if (ok)
			continue;
		if (is_default_domain(n->domain))
			snprintf(name, sizeof(name), "%s", n->op);
		else
			snprintf(name, sizeof(name), "%s:%s", n->domain, n->op);
		add_unique(unsup, name);
		if (region && region[i])
			add_unique(in_cut, name);
	}
	/* Ops inside If/Loop/Scan bodies are compiled too. */
	for (uint32_t i = 0; i < m->nall_ops && m->subgraph_nodes; i++)
		if (!listed(t->ops, m->all_ops[i]))
			add_unique(unsup, m->all_ops[i]);
	int nunsup = cJSON_GetArraySize(unsup);
	cJSON_AddItemToObject(o, t->cpu_fallback ? "cpu_fallback_ops" : "unsupported_ops", unsup);
	if (!t->cpu_fallback)
		cJSON_AddItemToObject(o, "cpu_fallback_ops", cJSON_CreateArray());
	else
		cJSON_AddItemToObject(o, "unsupported_ops", cJSON_CreateArray());
	if (region)
		cJSON_AddItemToObject(o, "unsupported_ops_before_suggested_cut", in_cut);
	else
		cJSON_Delete(in_cut);
	if (nunsup > 0 && !t->cpu_fallback) {
		char list[256] = "";
		cJSON *x;
		cJSON_ArrayForEach(x, unsup) {
			size_t l = strlen(list);
			snprintf(list + l, sizeof(list) - l, "%s%s", l ? ", " : "", x->valuestring);
		}
		if (region && cJSON_GetArraySize(in_cut) == 0)
			problem(warnings, "%s does not list %s, but all of them come after the suggested output tensors; cut the model there",
				t->toolchain, list);
		else
			problem(problems, "%s does not support: %s", t->toolchain, list);
	} else if (nunsup > 0) {
		problem(warnings, "%d op type(s) will run on the host CPU, not the accelerator",
			nunsup);
	}

	cJSON *ir = cJSON_AddObjectToObject(o, "ir");
	bool ir_ok = t->max_ir == 0 || m->ir_version <= t->max_ir;
	cJSON_AddNumberToObject(ir, "model", (double)m->ir_version);
	if (t->max_ir)
		cJSON_AddNumberToObject(ir, "max", t->max_ir);
	else
		cJSON_AddNullToObject(ir, "max");
	cJSON_AddBoolToObject(ir, "ok", ir_ok);
	if (!ir_ok)
		problem(problems, "IR version %lld is above %d, the highest %s accepts; rewrite it with ir_version %d",
			(long long)m->ir_version, t->max_ir, t->toolchain, t->max_ir);

	int64_t ov = onnx_opset_version(m, "");
	cJSON *op = cJSON_AddObjectToObject(o, "opset");
	cJSON_AddNumberToObject(op, "model", (double)ov);
	if (t->min_opset)
		cJSON_AddNumberToObject(op, "min", t->min_opset);
	else
		cJSON_AddNullToObject(op, "min");
	if (t->max_opset)
		cJSON_AddNumberToObject(op, "max", t->max_opset);
	else
		cJSON_AddNullToObject(op, "max");
	bool op_ok = (t->min_opset == 0 || ov >= t->min_opset) &&
		     (t->max_opset == 0 || ov <= t->max_opset);
	cJSON_AddBoolToObject(op, "ok", op_ok);
	cJSON_AddBoolToObject(op, "documented", t->opset_documented);
	if (!op_ok)
		problem(t->opset_documented ? problems : warnings,
			"default-domain opset %lld is outside %s's range %d..%d%s",
			(long long)ov, t->toolchain, t->min_opset,
			t->max_opset ? t->max_opset : 999,
			t->opset_documented ? "" : " (inferred from its op list)");

	cJSON *dyn = cJSON_AddArrayToObject(o, "dynamic_inputs");
	size_t nf = onnx_feed_count(m);
	bool need = false;
	for (size_t i = 0; i < nf; i++) {
		if (!onnx_feed_is_dynamic(m, i))
			continue;
		char shape[256];
		onnx_feed_shape_text(m, i, shape, sizeof(shape));
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "name", onnx_feed_name(m, i));
		cJSON_AddStringToObject(d, "shape", shape);
		cJSON_AddItemToArray(dyn, d);
		need = t->static_shape;
		if (need)
			problem(warnings, "input.shape is required: the model's input '%.80s' has dynamic dims %s",
				onnx_feed_name(m, i), shape);
	}
	cJSON_AddBoolToObject(o, "needs_input_shape", need);
	cJSON_AddBoolToObject(o, "ok", cJSON_GetArraySize(problems) == 0);
	cJSON_AddItemToObject(o, "problems", problems);
	cJSON_AddItemToObject(o, "warnings", warnings);
	cJSON_AddStringToObject(o, "source", t->source);
	free(region);
	return o;
}

cJSON *target_ops_check_json(const struct onnx_model *m,
			     const struct target *t)
{
	uint8_t *fold = foldable(m);
	struct sugg g;
	sugg_load(m, &g);
	cJSON *o = check(m, t, fold, &g);
	sugg_free(&g);
	free(fold);
	return o;
}

cJSON *target_ops_json(const struct onnx_model *m)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	uint8_t *fold = foldable(m);
	struct sugg g;
	sugg_load(m, &g);
	size_t n;
	const struct target *t = targets_table(&n);
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToObject(o, t[i].id, check(m, &t[i], fold, &g));
	sugg_free(&g);
	free(fold);
	return o;
}
