/*
 * onnx_suggest: where to cut a model before quantization, by graph shape.
 *
 * The seeds all say the same thing: INT8 ruins CPU-style post-processing
 * (YOLO box decode, softmax), so the NPU model should end where that
 * post-processing starts.  The patterns below are the ones the seeds name,
 * recognised by topology (op types and edges), not by names, so a renamed
 * export still matches; for Ultralytics exports the tensors found are the
 * exact names the seeds use (/model.24/m.0/Conv_output_0,
 * /model.23/cv2.0/cv2.0.2/Conv_output_0, ...).
 */
#include "onnx_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cand {
	const char *family, *model_type;
	uint32_t tensors[64];
	size_t n;
	char reason[256];
};

struct clist {
	struct cand v[8];
	size_t n;
};

static struct cand *cand_new(struct clist *l, const char *family,
			     const char *model_type)
{
	if (l->n >= sizeof(l->v) / sizeof(l->v[0]))
		return NULL;
	struct cand *c = &l->v[l->n++];
	memset(c, 0, sizeof(*c));
	c->family = family;
	c->model_type = model_type;
	return c;
}

/* Adds tensor t to c; an omitted tensor (ONNX_NONE) or one past the 64th
 * is not a place to cut, so it is left out. */
static void cand_add(struct cand *c, uint32_t t)
{
	if (t != ONNX_NONE && c->n < sizeof(c->tensors) / sizeof(c->tensors[0]))
		c->tensors[c->n++] = t;
}

static bool op_is(const struct onnx_model *m, int32_t node, const char *op)
{
	const struct onnx_node *n = onnx_node_at(m, node);
	return n && strcmp(n->op, op) == 0 && n->domain[0] == '\0';
}

/* Input k / output k of node (an index that may be -1), or ONNX_NONE. */
static uint32_t in_of(const struct onnx_model *m, int32_t node, uint32_t k)
{
	return onnx_node_in(m, onnx_node_at(m, node), k);
}

static int32_t producer_of(const struct onnx_model *m, uint32_t t)
{
	return t == ONNX_NONE || t >= m->ntensors ? -1 : m->tensors[t].producer;
}

static uint32_t nconsumers(const struct onnx_model *m, uint32_t t)
{
	if (t == ONNX_NONE || t >= m->ntensors)
		return 0;
	return m->cons_start[t + 1] - m->cons_start[t];
}

/* The one node reading tensor t, or -1. */
static int32_t only_consumer(const struct onnx_model *m, uint32_t t)
{
	if (t == ONNX_NONE || nconsumers(m, t) != 1)
		return -1;
	return (int32_t)m->cons[m->cons_start[t]];
}

static uint32_t out0(const struct onnx_model *m, int32_t node)
{
	return onnx_node_out(m, onnx_node_at(m, node), 0);
}

static int64_t conv_channels(const struct onnx_model *m, int32_t node)
{
	uint32_t wt = in_of(m, node, 1);
	if (!op_is(m, node, "Conv") || wt == ONNX_NONE)
		return -1;
	const struct onnx_type *w = m->tensors[wt].ty;
	if (w == NULL || w->rank < 1 || !w->dims[0].has_value)
		return -1;
	return w->dims[0].value;
}

/* A depthwise/grouped Conv within a few producers of node: YOLO11's class
 * branch starts with DWConv, YOLOv8's does not. */
static bool grouped_conv_upstream(const struct onnx_model *m, int32_t node,
				  int depth)
{
	const struct onnx_node *n = onnx_node_at(m, node);
	if (n == NULL || depth < 0)
		return false;
	if (op_is(m, node, "Conv") && onnx_attr_int(n, "group", 1) > 1)
		return true;
	return grouped_conv_upstream(m, producer_of(m, onnx_node_in(m, n, 0)), depth - 1);
}

/* First node of the given op reachable downstream of tensor t within limit
 * nodes (breadth first), or -1. */
static int32_t find_downstream(const struct onnx_model *m, uint32_t t,
			       const char *op, uint32_t limit)
{
	if (t == ONNX_NONE || t >= m->ntensors)
		return -1;
	uint32_t *q = malloc((limit + 1) * sizeof(uint32_t));
	if (q == NULL)
		return -1;
	uint32_t head = 0, tail = 0;
	int32_t found = -1;
	for (uint32_t c = m->cons_start[t]; c < m->cons_start[t + 1] && tail < limit; c++)
		q[tail++] = m->cons[c];
	while (head < tail && found < 0) {
		uint32_t i = q[head++];
		if (op_is(m, (int32_t)i, op)) {
			found = (int32_t)i;
			break;
		}
		const struct onnx_node *n = &m->nodes[i];
		for (uint32_t k = 0; k < n->nout; k++) {
			uint32_t o = onnx_node_out(m, n, k);
			if (o == ONNX_NONE)
				continue;
			for (uint32_t c = m->cons_start[o]; c < m->cons_start[o + 1] && tail < limit; c++)
				q[tail++] = m->cons[c];
		}
	}
	free(q);
	return found;
}

/* YOLOv8 / YOLO11 Detect: per level Concat(box Conv, cls Conv) on axis 1,
 * each reshaped and concatenated into one tensor that DFL and Sigmoid
 * decode. */
static void find_yolov8(const struct onnx_model *m, struct clist *l)
{
	for (uint32_t k = 0; k < m->nnodes; k++) {
		int32_t all = (int32_t)k;
		if (!op_is(m, all, "Concat") || m->nodes[k].nin < 2)
			continue;
		const struct onnx_node *K = &m->nodes[k];
		uint32_t lv[16][2];
		uint32_t nl = 0;
		bool ok = K->nin <= 16;
		int64_t box_ch = -1, cls_ch = -1;
		bool dw = false;
		for (uint32_t i = 0; ok && i < K->nin; i++) {
			int32_t r = producer_of(m, onnx_node_in(m, K, i));
			if (!op_is(m, r, "Reshape") || only_consumer(m, onnx_node_in(m, K, i)) != all) {
				ok = false;
				break;
			}
			uint32_t ct = in_of(m, r, 0);
			int32_t c = producer_of(m, ct);
			if (!op_is(m, c, "Concat") || m->nodes[c].nin != 2 ||
			    only_consumer(m, ct) != r) {
				ok = false;
				break;
			}
			int64_t ax = onnx_attr_int(&m->nodes[c], "axis", 0);
			int32_t b = producer_of(m, in_of(m, c, 0));
			int32_t s = producer_of(m, in_of(m, c, 1));
			if ((ax != 1 && ax != -3) || !op_is(m, b, "Conv") || !op_is(m, s, "Conv")) {
				ok = false;
				break;
			}
			int64_t bc = conv_channels(m, b), sc = conv_channels(m, s);
			/* box channels are 4 * reg_max (64 for reg_max 16) */
			if (bc > 0 && bc % 4 != 0) {
				ok = false;
				break;
			}
			box_ch = bc;
			cls_ch = sc;
			dw = dw || grouped_conv_upstream(m, s, 6);
			lv[nl][0] = in_of(m, c, 0);
			lv[nl][1] = in_of(m, c, 1);
			nl++;
		}
		if (!ok || nl < 2)
			continue;
		const char *fam = dw ? "yolo11" : "yolov8";
		struct cand *c = cand_new(l, fam, fam);
		if (c == NULL)
			return;
		for (uint32_t i = 0; i < nl; i++) {
			cand_add(c, lv[i][0]);
			cand_add(c, lv[i][1]);
		}
		snprintf(c->reason, sizeof(c->reason),
			 "%s Detect head: %u levels, each a box Conv (%lld ch) and a class Conv (%lld ch) before the DFL/concat decode; quantize up to these %zu Convs and decode on the CPU",
			 dw ? "YOLO11" : "YOLOv8", nl, (long long)box_ch,
			 (long long)cls_ch, c->n);
		/* The older MaixPy flow: the DFL conv output and the class
		 * Sigmoid, decode after them. */
		int32_t sm = find_downstream(m, out0(m, all), "Softmax", 64);
		int32_t dfl = sm >= 0 ? only_consumer(m, out0(m, sm)) : -1;
		int32_t sig = find_downstream(m, out0(m, all), "Sigmoid", 64);
		if (op_is(m, dfl, "Conv") && out0(m, dfl) != ONNX_NONE &&
		    out0(m, sig) != ONNX_NONE) {
			struct cand *d = cand_new(l, fam, fam);
			if (d == NULL)
				return;
			cand_add(d, out0(m, dfl));
			cand_add(d, out0(m, sig));
			snprintf(d->reason, sizeof(d->reason),
				 "%s with the DFL conv and class Sigmoid inside the model (two outputs); keeps more of the head in INT8",
				 dw ? "YOLO11" : "YOLOv8");
		}
		return;
	}
}

/* YOLOv5 Detect: Conv -> Reshape -> (Transpose) -> Sigmoid per level. */
static void find_yolov5(const struct onnx_model *m, struct clist *l)
{
	uint32_t hits[64];
	uint32_t nh = 0;
	int64_t ch = -1;
	for (uint32_t i = 0; i < m->nnodes && nh < 64; i++) {
		if (!op_is(m, (int32_t)i, "Conv"))
			continue;
		uint32_t t = out0(m, (int32_t)i);
		int32_t r = only_consumer(m, t);
		if (!op_is(m, r, "Reshape"))
			continue;
		int32_t nx = only_consumer(m, out0(m, r));
		if (op_is(m, nx, "Transpose"))
			nx = only_consumer(m, out0(m, nx));
		if (!op_is(m, nx, "Sigmoid"))
			continue;
		hits[nh++] = t;
		ch = conv_channels(m, (int32_t)i);
	}
	if (nh < 2)
		return;
	struct cand *c = cand_new(l, "yolov5", "yolov5");
	if (c == NULL)
		return;
	for (uint32_t i = 0; i < nh; i++)
		cand_add(c, hits[i]);
	snprintf(c->reason, sizeof(c->reason),
		 "YOLOv5 Detect head: %u Convs (%lld ch = anchors x (5 + classes)) each followed by the Reshape/Sigmoid decode; quantize up to them and decode on the CPU",
		 nh, (long long)ch);
}

/* Walks back from a graph output through shape-only ops. */
static int32_t through_shape_ops(const struct onnx_model *m, uint32_t t)
{
	int32_t p = producer_of(m, t);
	for (int d = 0; d < 8 && p >= 0; d++) {
		const char *op = m->nodes[p].op;
		if (strcmp(op, "Flatten") && strcmp(op, "Reshape") &&
		    strcmp(op, "Identity") && strcmp(op, "Squeeze") &&
		    strcmp(op, "Unsqueeze"))
			return p;
		p = producer_of(m, in_of(m, p, 0));
	}
	return p;
}

static void find_classifier(const struct onnx_model *m, struct clist *l)
{
	struct cand *c = NULL;
	const char *op = "Softmax";
	for (uint32_t k = 0; k < m->noutputs; k++) {
		int32_t p = through_shape_ops(m, m->vinfos[m->outputs[k]].tensor);
		if ((!op_is(m, p, "Softmax") && !op_is(m, p, "LogSoftmax")) ||
		    in_of(m, p, 0) == ONNX_NONE)
			continue;
		if (c == NULL && (c = cand_new(l, "classifier", "classifier")) == NULL)
			return;
		op = m->nodes[p].op;
		cand_add(c, in_of(m, p, 0));
	}
	if (c)
		snprintf(c->reason, sizeof(c->reason),
			 "the output comes from a %s; quantize the logits before it and apply it on the CPU",
			 op);
}

static void find_sigmoid_head(const struct onnx_model *m, struct clist *l)
{
	struct cand *c = NULL;
	for (uint32_t k = 0; k < m->noutputs; k++) {
		int32_t p = through_shape_ops(m, m->vinfos[m->outputs[k]].tensor);
		if (!op_is(m, p, "Sigmoid") || in_of(m, p, 0) == ONNX_NONE)
			continue;
		if (c == NULL && (c = cand_new(l, "sigmoid-head", NULL)) == NULL)
			return;
		cand_add(c, in_of(m, p, 0));
	}
	if (c)
		snprintf(c->reason, sizeof(c->reason),
			 "%zu output(s) end in Sigmoid; INT8 squashes its tails, so quantize the logits before it and apply sigmoid on the CPU",
			 c->n);
}

static void plain(const struct onnx_model *m, struct clist *l)
{
	struct cand *c = cand_new(l, "graph-outputs", NULL);
	if (c == NULL)
		return;
	for (uint32_t k = 0; k < m->noutputs; k++)
		cand_add(c, m->vinfos[m->outputs[k]].tensor);
	snprintf(c->reason, sizeof(c->reason),
		 "the model's own outputs, unchanged (no known post-processing found after them)");
}

int onnx_suggest(const struct onnx_model *m, struct onnx_suggestion **out,
		 size_t *n, struct kiln_err *err)
{
	struct clist *l = calloc(1, sizeof(*l));
	*out = NULL;
	*n = 0;
	if (l == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	find_yolov8(m, l);
	if (l->n == 0)
		find_yolov5(m, l);
	if (l->n == 0)
		find_classifier(m, l);
	if (l->n == 0)
		find_sigmoid_head(m, l);
	plain(m, l);
	struct onnx_suggestion *s = calloc(l->n, sizeof(*s));
	if (s == NULL) {
		free(l);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct cand *c = &l->v[i];
		s[i].family = c->family;
		s[i].model_type = c->model_type;
		memcpy(s[i].reason, c->reason, sizeof(s[i].reason));
		s[i].tensors = calloc(c->n + 1, sizeof(char *));
		for (size_t k = 0; s[i].tensors && k < c->n; k++) {
			s[i].tensors[k] = strdup(m->tensors[c->tensors[k]].name);
			if (s[i].tensors[k] == NULL)
				break;
			s[i].ntensors++;
		}
		if (s[i].tensors == NULL || s[i].ntensors != c->n) {
			onnx_suggestions_free(s, l->n);
			free(l);
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		}
	}
	*out = s;
	*n = l->n;
	free(l);
	return 0;
}

void onnx_suggestions_free(struct onnx_suggestion *s, size_t n)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; s[i].tensors && k < s[i].ntensors; k++)
			free(s[i].tensors[k]);
		free(s[i].tensors);
	}
	free(s);
}

cJSON *onnx_suggest_json(const struct onnx_model *m)
{
	struct onnx_suggestion *s;
	size_t n;
	if (onnx_suggest(m, &s, &n, NULL) != 0)
		return NULL;
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "suggested_outputs");
	for (size_t i = 0; arr && i < n; i++) {
		cJSON *c = cJSON_CreateObject();
		cJSON *t = cJSON_AddArrayToObject(c, "tensors");
		for (size_t k = 0; t && k < s[i].ntensors; k++)
			cJSON_AddItemToArray(t, cJSON_CreateString(s[i].tensors[k]));
		cJSON_AddStringToObject(c, "family", s[i].family);
		if (s[i].model_type)
			cJSON_AddStringToObject(c, "model_type", s[i].model_type);
		else
			cJSON_AddNullToObject(c, "model_type");
		cJSON_AddStringToObject(c, "reason", s[i].reason);
		cJSON_AddItemToArray(arr, c);
	}
	if (n > 0 && s[0].model_type)
		cJSON_AddStringToObject(o, "suggested_model_type", s[0].model_type);
	else
		cJSON_AddNullToObject(o, "suggested_model_type");
	onnx_suggestions_free(s, n);
	return o;
}
