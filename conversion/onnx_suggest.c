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
 *
 * Boards differ in what their runtime loads, so each suggestion names its
 * layout and onnx_suggest_pick() orders them per board from the rules
 * table below (the loaders' own source, cited per row).
 */
#include "conversion/onnx_priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cand {
	const char *family, *model_type, *layout, *task;
	uint32_t tensors[64];
	size_t n;
	char reason[256];
};

struct clist {
	struct cand v[8];
	size_t n;
};

static struct cand *cand_new(struct clist *l, const char *family,
			     const char *model_type, const char *layout)
{
	if (l->n >= sizeof(l->v) / sizeof(l->v[0]))
		return NULL;
	struct cand *c = &l->v[l->n++];
	memset(c, 0, sizeof(*c));
	c->family = family;
	c->model_type = model_type;
	c->layout = layout;
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

/* First node reachable downstream of tensor t within limit nodes (breadth
 * first) for which pred(m, node, ctx) holds, or -1. */
static int32_t find_downstream_if(const struct onnx_model *m, uint32_t t,
				  bool (*pred)(const struct onnx_model *, int32_t, const void *),
				  const void *ctx, uint32_t limit)
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
		if (pred(m, (int32_t)i, ctx)) {
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

static bool op_pred(const struct onnx_model *m, int32_t node, const void *op)
{
	return op_is(m, node, op);
}

/* First node of the given op reachable downstream of tensor t within limit
 * nodes (breadth first), or -1. */
static int32_t find_downstream(const struct onnx_model *m, uint32_t t,
			       const char *op, uint32_t limit)
{
	return find_downstream_if(m, t, op_pred, op, limit);
}

/* Pose and seg heads add, next to Detect, one Concat on the last axis of a
 * per-level Reshape(Conv) (keypoints, or mask coefficients); seg also has
 * the mask prototypes as a second 4-D graph output.  Finds that Concat's
 * output (or ONNX_NONE) and the prototype output (or ONNX_NONE). */
static void find_task_branch(const struct onnx_model *m, int32_t all, uint32_t nl,
			     uint32_t *extra, uint32_t *proto)
{
	*extra = *proto = ONNX_NONE;
	for (uint32_t k = 0; k < m->nnodes && *extra == ONNX_NONE; k++) {
		const struct onnx_node *X = &m->nodes[k];
		int64_t ax = onnx_attr_int(X, "axis", 0);
		if ((int32_t)k == all || !op_is(m, (int32_t)k, "Concat") || X->nin != nl ||
		    (ax != 2 && ax != -1))
			continue;
		bool ok = true;
		for (uint32_t i = 0; ok && i < X->nin; i++) {
			int32_t r = producer_of(m, onnx_node_in(m, X, i));
			ok = op_is(m, r, "Reshape") &&
			     only_consumer(m, onnx_node_in(m, X, i)) == (int32_t)k &&
			     op_is(m, producer_of(m, in_of(m, r, 0)), "Conv");
		}
		if (ok)
			*extra = out0(m, (int32_t)k);
	}
	if (*extra == ONNX_NONE)
		return;
	/* the prototypes: a 4-D graph output other than the first */
	for (uint32_t k = 1; k < m->noutputs && *proto == ONNX_NONE; k++) {
		uint32_t t = m->vinfos[m->outputs[k]].tensor;
		const struct onnx_type *ty = m->tensors[t].ty;
		if (ty && ty->kind == OK_TENSOR && ty->rank == 4)
			*proto = t;
	}
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
		uint32_t lv[16][2], lvc[16];
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
			lvc[nl] = ct;
			nl++;
		}
		if (!ok || nl < 2)
			continue;
		const char *fam = dw ? "yolo11" : "yolov8";
		uint32_t extra, proto;
		find_task_branch(m, all, nl, &extra, &proto);
		const char *task = extra == ONNX_NONE ? "detect" : proto == ONNX_NONE ? "pose" : "seg";
		struct cand *c = cand_new(l, fam, fam, "head-convs");
		if (c == NULL)
			return;
		c->task = task;
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
			struct cand *d = cand_new(l, fam, fam, "dfl-sigmoid");
			if (d == NULL)
				return;
			cand_add(d, out0(m, dfl));
			cand_add(d, out0(m, sig));
			cand_add(d, extra);
			cand_add(d, proto);
			d->task = task;
			snprintf(d->reason, sizeof(d->reason),
				 "%s with the DFL conv and class Sigmoid inside the model (two outputs); keeps more of the head in INT8",
				 dw ? "YOLO11" : "YOLOv8");
		}
		/* Each level's Concat(box, class) before the reshape: three
		 * outputs of classes + 4 x reg_max channels, decoded on the
		 * CPU (MaixCDK's "mode 1"). */
		struct cand *q = cand_new(l, fam, fam, "level-concats");
		if (q == NULL)
			return;
		for (uint32_t i = 0; i < nl; i++)
			cand_add(q, lvc[i]);
		cand_add(q, extra);
		cand_add(q, proto);
		q->task = task;
		snprintf(q->reason, sizeof(q->reason),
			 "%s Detect head cut after each level's Concat of box and class Convs: %u outputs of %lld channels (classes + 4 x reg_max)%s, decoded on the CPU",
			 dw ? "YOLO11" : "YOLOv8", nl,
			 box_ch > 0 && cls_ch > 0 ? (long long)(box_ch + cls_ch) : -1LL,
			 strcmp(task, "pose") == 0 ? ", then the keypoints Concat"
			 : strcmp(task, "seg") == 0 ? ", then the mask coefficients and the prototypes" : "");
		/* The same six Convs, the box Convs of every level first, then
		 * the class Convs: the order voyager-sdk's decodeyolo reads
		 * (ax_models/decoders/yolo.py _guess_yolo_model, "YOLOv8: 6
		 * outputs, 64 x 3 then classes x 3") and ax-samples' AX620
		 * YOLOv8 program (pOutputs[i] DFL, pOutputs[i + 3] classes). */
		struct cand *bf = cand_new(l, fam, fam, "head-convs-boxes-first");
		if (bf == NULL)
			return;
		bf->task = task;
		for (uint32_t i = 0; i < nl; i++)
			cand_add(bf, lv[i][0]);
		for (uint32_t i = 0; i < nl; i++)
			cand_add(bf, lv[i][1]);
		snprintf(bf->reason, sizeof(bf->reason),
			 "%s Detect head: the %u box Convs (%lld ch), then the %u class Convs (%lld ch), decoded on the CPU",
			 dw ? "YOLO11" : "YOLOv8", nl, (long long)box_ch, nl, (long long)cls_ch);
		return;
	}
}

/* YOLOv5 Detect level: the Sigmoid after Conv -> Reshape -> (Transpose),
 * or -1 when conv is not one. */
static int32_t yolov5_level_sigmoid(const struct onnx_model *m, int32_t conv)
{
	if (!op_is(m, conv, "Conv"))
		return -1;
	int32_t r = only_consumer(m, out0(m, conv));
	if (!op_is(m, r, "Reshape"))
		return -1;
	int32_t nx = only_consumer(m, out0(m, r));
	if (op_is(m, nx, "Transpose"))
		nx = only_consumer(m, out0(m, nx));
	return op_is(m, nx, "Sigmoid") ? nx : -1;
}

/* YOLOv5 Detect: Conv -> Reshape -> (Transpose) -> Sigmoid per level. */
static void find_yolov5(const struct onnx_model *m, struct clist *l)
{
	uint32_t hits[64];
	uint32_t nh = 0;
	int64_t ch = -1;
	for (uint32_t i = 0; i < m->nnodes && nh < 64; i++) {
		if (yolov5_level_sigmoid(m, (int32_t)i) < 0)
			continue;
		hits[nh++] = out0(m, (int32_t)i);
		ch = conv_channels(m, (int32_t)i);
	}
	if (nh < 2)
		return;
	struct cand *c = cand_new(l, "yolov5", "yolov5", "anchor-convs");
	if (c == NULL)
		return;
	for (uint32_t i = 0; i < nh; i++)
		cand_add(c, hits[i]);
	snprintf(c->reason, sizeof(c->reason),
		 "YOLOv5 Detect head: %u Convs (%lld ch = anchors x (5 + classes)) each followed by the Reshape/Sigmoid decode; quantize up to them and decode on the CPU",
		 nh, (long long)ch);
}

/* --- YOLOv5 anchors ------------------------------------------------------------
 *
 * Ultralytics' Detect keeps its anchors in the exported graph.
 * ultralytics/yolov5 @ 88f52e8d36562b29b6078392ec1a5bbafee8f7de
 * models/yolo.py, Detect._make_grid():
 *     anchor_grid = (self.anchors[i] * self.stride[i])
 *                   .view((1, self.na, 1, 1, 2)).expand(shape)
 * with shape (1, na, ny, nx, 2), and Detect.forward():
 *     wh = (y[..., 2:4] * 2) ** 2 * self.anchor_grid[i]
 * (Model.__init__ divides anchors by stride, so anchors * stride are the
 * yaml's pixels).  Traced for export, each level's anchor_grid is a float
 * constant (initializer or Constant node) of [1, na, ny, nx, 2] -- or
 * [1, na, 1, 1, 2] before the expand is materialised -- every cell the
 * same.  Found by topology, not by name: the first Mul downstream of the
 * level's Sigmoid with such a constant as an input. */
#define GRID_MAX_VALUES (1u << 22)   /* 4M floats: a 1448x1448 stride-8 level */
#define GRID_MAX_ANCHORS 16

struct grid {
	size_t na;
	double wh[GRID_MAX_ANCHORS * 2];
};

/* A float32 as its shortest text reads back (12.34f is
 * 12.340000152587891 as a double): what the user wrote in the yaml. */
static double f32_text(double v)
{
	char b[32];
	snprintf(b, sizeof(b), "%.7g", v);
	return strtod(b, NULL);
}

/* A float16 as its shortest text that reads back to the same half (an
 * export with --half stores 12.34 as 12.34375): the shortest decimal
 * within half an ulp (2^(e-10) for a normal half) of v. */
static double f16_text(double v)
{
	if (!(v > 0) || !isfinite(v))
		return v;
	double ulp = ldexp(1.0, (v < ldexp(1.0, -14) ? -14 : ilogb(v)) - 10);
	char b[32];
	for (int p = 1; p <= 8; p++) {
		snprintf(b, sizeof(b), "%.*g", p, v);
		double x = strtod(b, NULL);
		if (fabs(x - v) < ulp / 2)
			return x;
	}
	return v;
}

/* 1 and g filled when tensor t is an anchor grid constant. */
static int anchor_grid(const struct onnx_model *m, uint32_t t, struct grid *g)
{
	if (t == ONNX_NONE || t >= m->ntensors)
		return 0;
	const struct onnx_type *ty = m->tensors[t].ty;
	if (ty == NULL || ty->kind != OK_TENSOR || ty->rank != 5)
		return 0;
	int64_t d[5];
	for (int i = 0; i < 5; i++) {
		if (!ty->dims[i].has_value || ty->dims[i].value < 1)
			return 0;
		d[i] = ty->dims[i].value;
	}
	if (d[0] != 1 || d[4] != 2 || d[1] > GRID_MAX_ANCHORS ||
	    d[2] > GRID_MAX_VALUES || d[3] > GRID_MAX_VALUES ||
	    (uint64_t)d[1] * (uint64_t)d[2] * (uint64_t)d[3] * 2 > GRID_MAX_VALUES)
		return 0;
	size_t cells = (size_t)(d[2] * d[3]), total = (size_t)d[1] * cells * 2;
	double *v = malloc(total * sizeof(double));
	if (v == NULL)
		return 0;
	int ok = onnx_const_floats(m, t, v, (int)total) == (int)total;
	for (size_t a = 0; ok && a < (size_t)d[1]; a++) {
		const double *p = v + a * cells * 2;
		ok = p[0] > 0 && p[1] > 0;
		/* expand(): every cell of anchor a holds the same pair */
		for (size_t k = 1; ok && k < cells; k++)
			ok = p[2 * k] == p[0] && p[2 * k + 1] == p[1];
		/* float16 (type 10) or bfloat16 (16) from a --half export */
		int half = ty->elem == 10 || ty->elem == 16;
		g->wh[2 * a] = half ? f16_text(p[0]) : f32_text(p[0]);
		g->wh[2 * a + 1] = half ? f16_text(p[1]) : f32_text(p[1]);
	}
	g->na = (size_t)d[1];
	free(v);
	return ok;
}

static bool anchor_mul(const struct onnx_model *m, int32_t node, const void *ctx)
{
	(void)ctx;
	struct grid g;
	return op_is(m, node, "Mul") &&
	       (anchor_grid(m, in_of(m, node, 0), &g) || anchor_grid(m, in_of(m, node, 1), &g));
}

size_t onnx_yolov5_anchors(const struct onnx_model *m, double *out, size_t max,
			   size_t *per_level)
{
	size_t nl = 0, na = 0, k = 0;
	*per_level = 0;
	for (uint32_t i = 0; i < m->nnodes; i++) {
		int32_t sig = yolov5_level_sigmoid(m, (int32_t)i);
		if (sig < 0)
			continue;
		/* Split, Mul, Pow, Mul: a dozen nodes covers the inplace
		 * (Slice/ScatterND) exports too */
		int32_t mul = find_downstream_if(m, out0(m, sig), anchor_mul, NULL, 32);
		struct grid g;
		if (mul < 0 || !(anchor_grid(m, in_of(m, mul, 0), &g) ||
				 anchor_grid(m, in_of(m, mul, 1), &g)))
			return 0;       /* a level without its anchors: none known */
		if ((nl > 0 && g.na != na) || k + 2 * g.na > max)
			return 0;
		na = g.na;
		memcpy(out + k, g.wh, 2 * g.na * sizeof(double));
		k += 2 * g.na;
		nl++;
	}
	if (nl < 2)
		return 0;
	*per_level = 2 * na;
	return nl;
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
		if (c == NULL && (c = cand_new(l, "classifier", "classifier", "logits")) == NULL)
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
		if (c == NULL && (c = cand_new(l, "sigmoid-head", NULL, "logits")) == NULL)
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
	struct cand *c = cand_new(l, "graph-outputs", NULL, "graph-outputs");
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
		s[i].layout = c->layout;
		s[i].task = c->task;
		memcpy(s[i].reason, c->reason, sizeof(s[i].reason));
		s[i].tensors = calloc(c->n + 1, sizeof(char *));
		for (size_t k = 0; s[i].tensors && k < c->n; k++) {
			int nl;
			const char *nm = onnx_tensor_name(m, c->tensors[k], &nl);
			s[i].tensors[k] = strndup(nm, (size_t)nl);
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

/* --- per board --------------------------------------------------------------
 *
 * What each board's runtime loads, by family, best first (struct
 * suggest_rule, onnx.h); a board's row of targets.c points to its table.  A
 * family without a row takes the board-independent order (onnx_suggest's). */

const struct suggest_rule SUGGEST_MAIXCAM[] = {
	/* sipeed/MaixCDK d9741a2 components/nn/include/maix_nn_yolo11.hpp
	 * (YOLOv8 derives from it, maix_nn_yolov8.hpp), load(): "mode 1" is
	 * exactly 3 outputs of labels + reg_max*4 channels at strides
	 * 8/16/32; anything else is "mode 2", which needs a DFL output and a
	 * class Sigmoid output or logs "can't find DFL or sigmoid output".
	 * sipeed/MaixPy 4ca5228 docs/doc/en/vision/customize_model_yolov8.md
	 * ("Output Node Selection"): scheme 1 (the Concats) for MaixCAM2 and
	 * MaixCAM, scheme 2 (DFL conv + Sigmoid) also for MaixCAM. */
	{ { "yolov8", "yolo11" }, { NULL }, { "level-concats", "dfl-sigmoid" },
	  "MaixCDK's YOLOv8/YOLO11 loader (components/nn/include/maix_nn_yolo11.hpp) takes 3 outputs of classes + 64 channels, or the DFL conv and the class Sigmoid; MaixPy's guide (docs/doc/en/vision/customize_model_yolov8.md) lists both for MaixCAM" },
	{ { NULL }, { NULL }, { NULL }, NULL },
};

const struct suggest_rule SUGGEST_MAIXCAM2[] = {
	/* The same loader; MaixPy's guide: scheme 2 "Quantization fails on
	 * MaixCAM2 in practice"; sipeed/MaixPy 93f04f5
	 * docs/doc/zh/ai_model_converter/maixcam2.md cuts at the three
	 * Concats (with dst_perm [0,2,3,1] on each). */
	{ { "yolov8", "yolo11" }, { NULL }, { "level-concats" },
	  "MaixCDK's YOLOv8/YOLO11 loader (components/nn/include/maix_nn_yolo11.hpp) takes 3 outputs of classes + 64 channels; MaixPy's MaixCAM2 guide (docs/doc/zh/ai_model_converter/maixcam2.md) cuts at the three per-level Concats, and its YOLOv8 guide says the DFL+Sigmoid cut fails to quantize on MaixCAM2" },
	{ { NULL }, { NULL }, { NULL }, NULL },
};

const struct suggest_rule SUGGEST_RECAMERA[] = {
	/* seed 002: reCamera's TPU-MLIR flow cuts at the six cv2/cv3 Convs;
	 * Seeed-Studio/SSCMA-Micro 60e2ede sscma/core/model/ma_model_yolo11.cpp
	 * Yolo11::isValid: outputs 2i / 2i+1 are box [1,64,S,S] / class
	 * [1,nc,S,S] at S = W/8, W/16, W/32. */
	{ { "yolov8", "yolo11" }, { "detect" }, { "head-convs" },
	  "Seeed's reCamera guide cuts at the six cv2/cv3 head Convs, box and class per level, as SSCMA-Micro's Yolo11 decoder reads them (sscma/core/model/ma_model_yolo11.cpp isValid), and decodes on the CPU" },
	/* SSCMA-Micro ma_model_yolo11_pose.cpp / ma_model_yolo11_seg.cpp
	 * isValid: one output [1, 5 + 3k, A] (pose), or [1, >= 37, A] and the
	 * prototypes [1, 32, W/4, W/4] (seg): the export's own outputs. */
	{ { "yolov8", "yolo11" }, { "seg" }, { "graph-outputs" },
	  "SSCMA-Micro's YOLO11 seg decoder (sscma/core/model/ma_model_yolo11_seg.cpp isValid) takes the model's own outputs: [1, 4 + classes + 32, anchors] and the [1, 32, W/4, W/4] prototypes" },
	/* Yolo11Pose takes the one decoded output, but ModelFactory::create
	 * tries Classifier first, whose isValid holds for any [1, >= 2, A]:
	 * in auto mode (sscma-node's) a pose model loads as a classifier, and
	 * the loader check refuses it. */
	{ { "yolov8", "yolo11" }, { "pose" }, { "graph-outputs" },
	  "SSCMA-Micro's YOLO11 pose decoder (sscma/core/model/ma_model_yolo11_pose.cpp) takes the model's own [1, 5 + 3 x keypoints, anchors] output, but in auto mode (sscma-node's) ModelFactory::create (ma_model_factory.cpp) tries Classifier first and takes it as one: Kiln refuses the job" },
	/* SSCMA-Micro ma_model_yolov5.cpp generalValid: exactly one output
	 * [1, 3 x (S/8^2 + S/16^2 + S/32^2), 5 + nc] with 6 <= 5 + nc <= 85;
	 * seed 002 keeps that output and quantizes with run_qtable. */
	{ { "yolov5" }, { NULL }, { "graph-outputs" },
	  "SSCMA-Micro's YOLOv5 decoder (sscma/core/model/ma_model_yolov5.cpp generalValid) takes one decoded output [1, boxes, 5 + classes], up to 80 classes; Seeed's reCamera guide keeps the model's output and quantizes it with quantize: mixed" },
	{ { NULL }, { NULL }, { NULL }, NULL },
};

const struct suggest_rule SUGGEST_AXERA_PI[] = {
	/* AXERA-TECH/ax-samples 70a5178 examples/ax620/ax_yolov5s_steps.cc:
	 * output i is stride 8 << i, read per cell as 3 x (5 + nc) logits
	 * (examples/base/detection.hpp generate_proposals_yolov5, ac324de). */
	{ { "yolov5" }, { NULL }, { "anchor-convs" },
	  "ax-samples' AX620 YOLOv5 program (examples/ax620/ax_yolov5s_steps.cc) reads output i as stride 8 << i, 3 anchors x (5 + classes) per cell: the three head Convs, stride 8 first" },
	/* ax-samples 70a5178 examples/ax620/ax_yolov8s_steps.cc: pOutputs[i]
	 * the DFL (64 per cell), pOutputs[i + 3] the classes, pOutputs[i + 6]
	 * each cell's class index; the box Convs first is as close as a cut
	 * of an Ultralytics export gets (it has no class-index outputs). */
	{ { "yolov8", "yolo11" }, { "detect" }, { "head-convs-boxes-first" },
	  "ax-samples' AX620 YOLOv8 program (examples/ax620/ax_yolov8s_steps.cc) reads 9 outputs: 3 DFL (64 ch), 3 class (classes ch) and 3 class-index (an ArgMax per cell, which an Ultralytics export lacks); these are its first six" },
	/* ax-samples 2f447b6 examples/ax620/ax_yolov8s_pose_steps.cc and
	 * 4380467 ax_yolov8s_seg_steps.cc read tensors no cut of an
	 * Ultralytics export has (detection.hpp: per level one
	 * score+DFL+keypoints tensor of 116 channels; for seg the class-index
	 * outputs again).  No layout is offered: the general order is shown
	 * with this rule's words, and the loader check refuses. */
	{ { "yolov8", "yolo11" }, { "pose" }, { "none" },
	  "ax-samples' AX620 pose program (examples/ax620/ax_yolov8s_pose_steps.cc) reads 3 outputs of 116 channels per cell (score, 4 x 16 DFL, 17 x 3 keypoints), which an Ultralytics export has no tensor for: Kiln refuses the job" },
	{ { "yolov8", "yolo11" }, { "seg" }, { "none" },
	  "ax-samples' AX620 seg program (examples/ax620/ax_yolov8s_seg_steps.cc) reads 10 outputs: DFL + mask coefficients, classes and class-index (an ArgMax per cell, which an Ultralytics export lacks) per stride, then the prototypes: Kiln refuses the job" },
	{ { NULL }, { NULL }, { NULL }, NULL },
};

const struct suggest_rule SUGGEST_METIS[] = {
	/* axelera-ai-hub/voyager-sdk v1.2.5 (38c4bf07)
	 * ax_models/decoders/yolo.py _guess_yolo_model: YOLOv8 = 6 outputs,
	 * channels [64, 64, 64, nc, nc, nc]; YOLOv5 = 3 outputs of
	 * 3 x (5 + nc); anything else "Unknown model type". */
	/* Second choice: the model uncut, as the SDK's own zoo compiles
	 * ax_models/zoo/yolo/object_detection/yolov8n-coco-onnx.yaml (the
	 * compiler splits the decode off as the manifest's
	 * postprocess_graph, which decodeyolo runs; not public: unverified). */
	{ { "yolov8", "yolo11" }, { "detect" }, { "head-convs-boxes-first", "graph-outputs" },
	  "voyager-sdk's decodeyolo (ax_models/decoders/yolo.py _guess_yolo_model) recognises YOLOv8 by 6 outputs: the three 64-channel box Convs, then the three class Convs; the SDK's zoo compiles the uncut model" },
	{ { "yolov5" }, { NULL }, { "anchor-convs" },
	  "voyager-sdk's decodeyolo (ax_models/decoders/yolo.py _guess_yolo_model) recognises YOLOv5 by 3 outputs of 3 x (5 + classes) channels: the head Convs; anchors go in extra_kwargs.YOLO.anchors" },
	/* voyager-sdk v1.2.5 ax_models/zoo/yolo/keypoint_detection/
	 * yolov8npose-coco-onnx.yaml and instance_segmentation/
	 * yolov8nseg-coco-onnx.yaml compile the Ultralytics export uncut;
	 * decoders/yolopose.py reads [1, 56, A], decoders/yoloseg.py "a list
	 * of two tensors" (the 3-D predictions and the 4-D prototypes). */
	{ { "yolov8", "yolo11" }, { "pose" }, { "graph-outputs" },
	  "voyager-sdk's decodeyolopose (ax_models/decoders/yolopose.py) reads the model's own [1, 56, anchors] output (17 x 3 COCO keypoints, one class), as the SDK's zoo compiles yolov8n-pose uncut (ax_models/zoo/yolo/keypoint_detection/yolov8npose-coco-onnx.yaml)" },
	{ { "yolov8", "yolo11" }, { "seg" }, { "graph-outputs" },
	  "voyager-sdk's decodeyoloseg (ax_models/decoders/yoloseg.py) reads the model's own two outputs, [1, 4 + classes + 32, anchors] and the prototypes, as the SDK's zoo compiles yolov8n-seg uncut (ax_models/zoo/yolo/instance_segmentation/yolov8nseg-coco-onnx.yaml)" },
	{ { NULL }, { NULL }, { NULL }, NULL },
};

static bool listed_in(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

size_t onnx_suggest_pick(const struct suggest_rule *rules, const struct onnx_suggestion *all,
			 size_t n, size_t *idx, const char **why)
{
	const struct suggest_rule *r = NULL;
	for (size_t i = 0; rules && n > 0 && rules[i].families[0]; i++)
		if (listed_in(rules[i].families, 3, all[0].family) &&
		    (rules[i].tasks[0] == NULL ||
		     (all[0].task && listed_in(rules[i].tasks, 3, all[0].task))))
			r = &rules[i];
	size_t k = 0;
	for (size_t j = 0; r && j < 3 && r->layouts[j]; j++)
		for (size_t i = 0; i < n; i++)
			if (all[i].layout && strcmp(all[i].layout, r->layouts[j]) == 0)
				idx[k++] = i;
	if (k == 0) {
		/* no rule, or the model lacks every layout the rule lists:
		 * the general order, said as such; a rule of layout "none"
		 * (the board loads no cut of this task) keeps its words */
		if (r && strcmp(r->layouts[0], "none") != 0)
			r = NULL;
		for (size_t i = 0; i < n; i++)
			idx[k++] = i;
	}
	if (why)
		*why = r ? r->why : NULL;
	return k;
}

cJSON *onnx_suggestion_json(const struct onnx_suggestion *s)
{
	cJSON *c = cJSON_CreateObject();
	if (c == NULL)
		return NULL;
	cJSON *t = cJSON_AddArrayToObject(c, "tensors");
	for (size_t k = 0; t && k < s->ntensors; k++)
		cJSON_AddItemToArray(t, cJSON_CreateString(s->tensors[k]));
	cJSON_AddStringToObject(c, "family", s->family);
	if (s->model_type)
		cJSON_AddStringToObject(c, "model_type", s->model_type);
	else
		cJSON_AddNullToObject(c, "model_type");
	cJSON_AddStringToObject(c, "layout", s->layout ? s->layout : "graph-outputs");
	if (s->task)
		cJSON_AddStringToObject(c, "task", s->task);
	else
		cJSON_AddNullToObject(c, "task");
	cJSON_AddStringToObject(c, "reason", s->reason);
	return c;
}

cJSON *onnx_yolov5_anchors_json(const struct onnx_model *m)
{
	double v[ONNX_MAX_ANCHORS];
	size_t per;
	size_t nl = onnx_yolov5_anchors(m, v, ONNX_MAX_ANCHORS, &per);
	if (nl == 0)
		return cJSON_CreateNull();
	cJSON *rows = cJSON_CreateArray();
	for (size_t i = 0; rows && i < nl; i++) {
		cJSON *r = cJSON_CreateDoubleArray(v + i * per, (int)per);
		if (r == NULL) {
			cJSON_Delete(rows);
			return NULL;
		}
		cJSON_AddItemToArray(rows, r);
	}
	return rows;
}

cJSON *onnx_suggest_json(const struct onnx_model *m)
{
	struct onnx_suggestion *s;
	size_t n;
	if (onnx_suggest(m, &s, &n, NULL) != 0)
		return NULL;
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "suggested_outputs");
	for (size_t i = 0; arr && i < n; i++)
		cJSON_AddItemToArray(arr, onnx_suggestion_json(&s[i]));
	if (n > 0 && s[0].model_type)
		cJSON_AddStringToObject(o, "suggested_model_type", s[0].model_type);
	else
		cJSON_AddNullToObject(o, "suggested_model_type");
	onnx_suggestions_free(s, n);
	cJSON_AddItemToObject(o, "anchors", onnx_yolov5_anchors_json(m));
	return o;
}
