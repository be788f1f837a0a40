/*
 * loader_check: the board-loader rules as a table (see loader_check.h).
 *
 * The MaixCDK rules were read from sipeed/MaixCDK at commit
 * d9741a207552b6e1a38eb247cf4bf62fd5df987d; each other board's section
 * names its repository, commit and files.  The quoted log lines are the
 * runtime's own (its spelling kept), so a user can match them to what the
 * board would print.  Where the runtime does not refuse but would decode
 * garbage (YOLOv5's channel check runs only at the first detect, mode-1
 * YOLO11 never compares channels with labels in NCHW), the check still
 * fails: a bundle that loads and finds nothing is not a good bundle.
 * An unknown dim (dynamic, or not inferred) skips the rule that needs it
 * rather than guessing.
 */
#include "conversion/loader_check.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion/mud.h"
#include "conversion/onnx.h"
#include "conversion/onnx_priv.h"
#include "conversion/targets.h"

struct loader_ctx {
	const struct job_spec *s;
	int64_t h, w;                   /* input size, -1 unknown */
	int n_inputs;                   /* the model's graph inputs, -1 unknown */
};

static int check_yolov5(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			struct kiln_err *err);
static int check_yolo11(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			struct kiln_err *err);
static int check_classifier(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			    struct kiln_err *err);
static int check_recamera(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			  struct kiln_err *err);
static int check_axera_yolov5(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			      struct kiln_err *err);
static int check_axera_yolov8(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			      struct kiln_err *err);
static int check_axera_classifier(const struct loader_ctx *c, const struct loader_out *o, size_t n,
				  struct kiln_err *err);
static int check_metis_yolo(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			    struct kiln_err *err);

/* [extra] keys each class needs (model_type, input_type, mean, scale,
 * labels; anchors for YOLOv5) are mud_validate's, run on the staged .mud;
 * this table holds what the outputs must look like.
 *   yolov5: _post_process checks shape[1] == (labels + 5) * anchors / 2 /
 *           outputs and reads [1, C, H, W] (shape[2], shape[3]): NCHW only.
 *   yolov8: class YOLOv8 : public YOLO11 (maix_nn_yolov8.hpp), same load().
 *   yolo11: load() mode 1 (3/4/5 outputs of labels + 64 channels, NCHW or
 *           NHWC by the first head's dim 3) or mode 2 (DFL + Sigmoid).
 *   classifier: forward takes outputs->begin() (first by name) as scores. */
const struct loader_rule LOADER_MAIXCDK[] = {
	{"yolov5", "YOLOv5", "maix_nn_yolov5.hpp", LOADER_NCHW, 0, "yolov5",
	 check_yolov5},
	{"yolov8", "YOLOv8", "maix_nn_yolov8.hpp (the YOLO11 loader)",
	 LOADER_NCHW | LOADER_NHWC, 1, "yolov8", check_yolo11},
	{"yolo11", "YOLO11", "maix_nn_yolo11.hpp", LOADER_NCHW | LOADER_NHWC, 1,
	 "yolov8", check_yolo11},
	{"classifier", "Classifier", "maix_nn_classifier.hpp",
	 LOADER_NCHW | LOADER_NHWC, 0, "classifier", check_classifier},
	{NULL},
};

const struct loader_rule LOADER_RECAMERA[] = {
	/* reCamera: SSCMA-Micro picks the decoder itself (ModelFactory::create,
	 * algorithm 0 as sscma-node sends it), so every model_type is held to
	 * the same emulation of that choice (check_recamera). */
	{"yolov5", "YoloV5", "ma_model_yolov5.cpp", LOADER_NCHW, 0, "yolov5",
	 check_recamera},
	{"yolov8", "YoloV8", "ma_model_yolov8.cpp", LOADER_NCHW, 0, "yolov8",
	 check_recamera},
	{"yolo11", "Yolo11", "ma_model_yolo11.cpp", LOADER_NCHW, 0, "yolov8",
	 check_recamera},
	{"classifier", "Classifier", "ma_model_classifier.cpp", LOADER_NCHW, 0,
	 "classifier", check_recamera},
	{NULL},
};

const struct loader_rule LOADER_AXERA_PI[] = {
	/* AXera-Pi: ax-samples' AX620 programs (one per model kind). */
	{"yolov5", "ax_yolov5s_steps", "examples/ax620/ax_yolov5s_steps.cc",
	 LOADER_NCHW | LOADER_NHWC, 0, "yolov5", check_axera_yolov5},
	{"yolov8", "ax_yolov8s_steps", "examples/ax620/ax_yolov8s_steps.cc",
	 LOADER_NCHW | LOADER_NHWC, 0, "yolov8", check_axera_yolov8},
	{"yolo11", "ax_yolov8s_steps", "examples/ax620/ax_yolov8s_steps.cc",
	 LOADER_NCHW | LOADER_NHWC, 0, "yolov8", check_axera_yolov8},
	{"classifier", "ax_classification_steps",
	 "examples/ax620/ax_classification_steps.cc", LOADER_NCHW | LOADER_NHWC, 0, "classifier",
	 check_axera_classifier},
	{NULL},
};

const struct loader_rule LOADER_METIS[] = {
	/* Metis: voyager-sdk's decodeyolo (one decoder for the YOLO family) */
	{"yolov5", "decodeyolo", "ax_models/decoders/yolo.py", LOADER_NCHW, 0, "yolov5",
	 check_metis_yolo},
	{"yolov8", "decodeyolo", "ax_models/decoders/yolo.py", LOADER_NCHW, 0, "yolov8",
	 check_metis_yolo},
	{"yolo11", "decodeyolo", "ax_models/decoders/yolo.py", LOADER_NCHW, 0, "yolov8",
	 check_metis_yolo},
	{"classifier", "topk", "", LOADER_NCHW, 0, "classifier", NULL},
	{NULL},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The board's row for model_type; NULL when that board has none. */
static const struct loader_rule *rule_in(const struct loader_rule *r, const char *model_type)
{
	for (size_t i = 0; r && model_type && r[i].model_type; i++)
		if (strcmp(r[i].model_type, model_type) == 0)
			return &r[i];
	return NULL;
}

static const struct loader_rule *rule_for(const struct job_spec *s, const char *model_type)
{
	return s->t ? rule_in(s->t->loader_rules, model_type) : NULL;
}

/* Any board's row of the same model_type (the family grouping is per type). */
static const struct loader_rule *family_of(const char *model_type)
{
	size_t n;
	const struct target *t = targets_table(&n);
	for (size_t i = 0; model_type && i < n; i++) {
		const struct loader_rule *r = rule_in(t[i].loader_rules, model_type);
		if (r)
			return r;
	}
	return NULL;
}

/* The runtime reads the .mud's [extra] (MaixCDK). */
static int maixcdk(const struct job_spec *s)
{
	return s->t && s->t->reads_mud;
}

static void input_size(const struct job_spec *s, int64_t *h, int64_t *w)
{
	*h = *w = -1;
	if (s->rank != 4)
		return;
	int nhwc = strcmp(s->layout, "nhwc") == 0;
	*h = s->shape[nhwc ? 1 : 2];
	*w = s->shape[nhwc ? 2 : 3];
}

int loader_check_dst_perm(const struct job_spec *s)
{
	const char *opt = spec_opt(s, "output_layout");
	if (opt == NULL || strcmp(opt, "nchw") == 0)
		return 0;
	if (strcmp(opt, "nhwc") == 0)
		return 1;
	const struct loader_rule *r = rule_for(s, s->model_type);
	/* no rule: seed 000's config, dst_perm on every 4-D output */
	return r ? r->perm_by_default : 1;
}

static void shape_text(const struct loader_out *o, char *buf, size_t cap)
{
	size_t off = (size_t)snprintf(buf, cap, "[");
	for (int i = 0; i < o->rank && off < cap; i++) {
		if (o->d[i] < 0)
			off += (size_t)snprintf(buf + off, cap - off, "%s?", i ? "," : "");
		else
			off += (size_t)snprintf(buf + off, cap - off, "%s%lld", i ? "," : "",
						(long long)o->d[i]);
	}
	if (off < cap)
		snprintf(buf + off, cap - off, "]");
}

/* --- YOLOv5 ---------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
	const struct loader_out *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

static int check_yolov5(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	size_t pairs = s->n_anchors / 2, nc = s->n_labels;
	if (n == 0 || n > SPEC_MAX_OUTPUTS)
		return kiln_errf(err, KILN_EUNPROC, "outputs", "MaixCDK's YOLOv5 decoder needs "
				 "the head convs as outputs, one per stride");
	if (pairs % n != 0)
		return kiln_errf(err, KILN_EINVAL, "mud.anchors",
				 "MaixCDK's YOLOv5 decoder (maix_nn_yolov5.hpp) gives each of the "
				 "%zu outputs anchors / 2 / outputs pairs: mud.anchors has %zu pairs, "
				 "not a multiple of %zu", n, pairs, n);
	int64_t per = (int64_t)(pairs / n), want = ((int64_t)nc + 5) * per;
	const struct loader_out *sorted[SPEC_MAX_OUTPUTS];
	for (size_t i = 0; i < n; i++)
		sorted[i] = &o[i];
	qsort(sorted, n, sizeof(sorted[0]), by_name);
	char sh[160];
	for (size_t i = 0; i < n; i++) {
		const struct loader_out *x = sorted[i];
		shape_text(x, sh, sizeof(sh));
		if (x->rank >= 0 && x->rank != 4)
			return kiln_errf(err, KILN_EUNPROC, "outputs",
					 "MaixCDK's YOLOv5 decoder reads each output as [1, (labels + "
					 "5) x anchors, H, W]; %s is %s: cut at the Detect head's convs "
					 "(/model.24/m.0|1|2/Conv_output_0, MaixPy's "
					 "customize_model_yolov5.md)", x->name, sh);
		if (x->rank < 0 || x->d[1] < 0 || x->d[1] == want)
			continue;
		if (x->d[3] == want)
			return kiln_errf(err, KILN_EINVAL, "target_options.output_layout",
					 "%s is NHWC %s; MaixCDK's YOLOv5 decoder reads NCHW "
					 "(shape[1] == (classes+5)*anchors) and would log \"mud labels "
					 "or anchors not match model's\": set "
					 "target_options.output_layout to auto or nchw", x->name, sh);
		if (x->d[1] % per == 0 && x->d[1] / per > 5)
			return kiln_errf(err, KILN_EINVAL, "mud.labels",
					 "the board would log \"mud labels or anchors not match "
					 "model's\": output %s %s has %lld channels = %lld anchors x "
					 "(5 + %lld classes), mud.labels has %zu names: give %lld labels",
					 x->name, sh, (long long)x->d[1], (long long)per,
					 (long long)(x->d[1] / per - 5), nc,
					 (long long)(x->d[1] / per - 5));
		return kiln_errf(err, KILN_EINVAL, "mud.anchors",
				 "the board would log \"mud labels or anchors not match model's\": "
				 "output %s %s has %lld channels, not (%zu labels + 5) x %lld "
				 "anchors per output; check mud.anchors (%zu pairs) and mud.labels",
				 x->name, sh, (long long)x->d[1], nc, (long long)per, pairs);
	}
	/* std::map order: anchor group i goes to the i-th name */
	for (size_t i = 1; i < n; i++) {
		const struct loader_out *a = sorted[i - 1], *b = sorted[i];
		if (a->rank == 4 && b->rank == 4 && a->d[2] > 0 && b->d[2] > 0 &&
		    a->d[2] <= b->d[2])
			return kiln_errf(err, KILN_EUNPROC, "outputs",
					 "MaixCDK's YOLOv5 decoder walks the outputs in name order "
					 "and gives anchor group i to the i-th: %s (H %lld) sorts before "
					 "%s (H %lld), so the stride-8 anchors would go to a coarser "
					 "level; the outputs' names must sort from stride 8 to 32",
					 a->name, (long long)a->d[2], b->name, (long long)b->d[2]);
	}
	return 0;
}

/* --- YOLOv8 / YOLO11 ------------------------------------------------------------- */

static const int STRIDES[3] = {8, 16, 32};

static int64_t anchor_num(const struct loader_ctx *c)
{
	if (c->h <= 0 || c->w <= 0)
		return -1;
	int64_t a = 0;
	for (int i = 0; i < 3; i++)
		a += (c->w / STRIDES[i]) * (c->h / STRIDES[i]);
	return a;
}

/* How many outputs mode 1 wants for the [extra] type (maix_nn_yolo11.hpp
 * load(): 3 detect, 4 pose/obb, 5 seg), and mode 2 (DFL + Sigmoid + the
 * type's extra tensors). */
static const struct {
	const char *type;
	size_t mode1, mode2;
	const char *extra;          /* what mode 1 adds to the three heads */
} Y11_TYPES[] = {
	{"detector", 3, 2, ""},
	{"pose", 4, 3, " + keypoints [1,51,A]"},
	{"obb", 4, 3, " + angle [1,1,A]"},
	{"seg", 5, 4, " + coefficients [1,32,A] + protos"},
};

static int check_yolo11(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	const struct loader_rule *r = rule_for(s, s->model_type);
	const char *type = s->mud_type[0] ? s->mud_type : "detector";
	size_t ti = 0;
	while (ti < N(Y11_TYPES) && strcmp(Y11_TYPES[ti].type, type) != 0)
		ti++;
	if (ti == N(Y11_TYPES))
		return 0;  /* mud_validate says "type [%s] not support" */
	int detect = ti == 0;
	int64_t nc = (int64_t)s->n_labels, ch = nc + 64, A = anchor_num(c);
	char sh[160];
	if (n != Y11_TYPES[ti].mode1 && n != Y11_TYPES[ti].mode2)
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "MaixPy's %s loader wants %zu outputs of %lld+64 channels%s or "
				 "DFL+Sigmoid%s; this bundle has %zu (%s). Cut at the 3 per-level "
				 "Concats (MaixCAM2) or the DFL conv + Sigmoid (MaixCAM)",
				 r->cls, Y11_TYPES[ti].mode1, (long long)nc, Y11_TYPES[ti].extra,
				 detect ? "" : " + the type's own", n, r->header);
	if (c->h <= 0 || c->w <= 0)
		return 0;
	if (n == Y11_TYPES[ti].mode1) {
		/* mode 1: NHWC when a 4-D output is [1, H/8, W/8, labels + 64] */
		int hwc = 0;
		for (size_t i = 0; i < n; i++)
			if ((o[i].rank == 4 && o[i].d[3] == ch && o[i].d[1] == c->h / 8 &&
			     o[i].d[2] == c->w / 8) || o[i].nhwc)
				hwc = 1;
		int seen[3] = {0, 0, 0};
		for (size_t i = 0; i < n; i++) {
			const struct loader_out *x = &o[i];
			int rank = x->rank == 4 && x->d[3] == 1 ? 3 : x->rank;
			shape_text(x, sh, sizeof(sh));
			if (rank < 0)
				return 0;
			if (rank == 4) {
				int proto = ti == 3 &&
					((x->d[1] == 32 && x->d[2] == c->h / 4 && x->d[3] == c->w / 4) ||
					 (x->d[3] == 32 && x->d[1] == c->h / 4 && x->d[2] == c->w / 4));
				if (proto)
					continue;
				int64_t hd = x->d[hwc ? 1 : 2], cc = x->d[hwc ? 3 : 1];
				int lv = -1;
				for (int k = 0; k < 3; k++)
					if (hd == c->h / STRIDES[k])
						lv = k;
				if (lv < 0)
					return kiln_errf(err, KILN_EUNPROC, "outputs",
							 "the board would log \"output node shape error, "
							 "please check 1\": %s %s matches none of the "
							 "strides 8, 16, 32 of a %lldx%lld input (%s)",
							 x->name, sh, (long long)c->h, (long long)c->w,
							 hwc ? "NHWC" : "NCHW");
				if (seen[lv]++)
					return kiln_errf(err, KILN_EUNPROC, "outputs",
							 "two outputs are the stride-%d head (%s is the "
							 "second); %s's loader wants one per stride 8, "
							 "16, 32", STRIDES[lv], x->name, r->cls);
				if (cc >= 0 && cc != ch)
					return kiln_errf(err, cc > 64 ? KILN_EINVAL : KILN_EUNPROC,
							 cc > 64 ? "mud.labels" : "outputs",
							 "head %s %s has %lld channels; %s's decoder "
							 "reads labels + 64 (4 x DFL reg_max 16) = %lld "
							 "with the %lld labels given%s", x->name, sh,
							 (long long)cc, r->cls, (long long)ch,
							 (long long)nc, cc > 64 ? ": give one label per "
							 "class of the head" : "");
			} else if (rank == 3) {
				if (detect)
					return kiln_errf(err, KILN_EUNPROC, "outputs",
							 "the board would log \"output node shape error, "
							 "please check 2\": %s %s is 3-D, a detector's "
							 "three heads are 4-D", x->name, sh);
			} else {
				return kiln_errf(err, KILN_EUNPROC, "outputs",
						 "the board would log \"output node shape error, "
						 "please check 3\": %s %s has rank %d", x->name, sh,
						 x->rank);
			}
		}
		for (int k = 0; k < 3; k++)
			if (!seen[k])
				return kiln_errf(err, KILN_EUNPROC, "outputs",
						 "no output is the stride-%d head (H/%d = %lld); %s's "
						 "loader wants one head per stride 8, 16, 32",
						 STRIDES[k], STRIDES[k],
						 (long long)(c->h / STRIDES[k]), r->cls);
		return 0;
	}
	/* mode 2: the class tensor [1, labels, A] (a 4-D one with a trailing 1
	 * counts as 3-D); for a detector the other output is the DFL */
	if (A < 0)
		return 0;
	int sig = 0;
	for (size_t i = 0; i < n; i++) {
		const struct loader_out *x = &o[i];
		if (x->rank < 0)
			return 0;
		int nchw3 = x->rank == 3 || (x->rank == 4 && x->d[3] == 1);
		if (nchw3 && x->d[1] == nc && x->d[2] == A)
			sig = 1;
	}
	if (!sig) {
		shape_text(&o[0], sh, sizeof(sh));
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "no output is the class Sigmoid [1,%lld,%lld] (labels x anchors, "
				 "%lldx%lld input): the board would log \"can't find DFL or sigmoid "
				 "output\" or find nothing. %s wants %zu heads of %lld+64 channels "
				 "or DFL+Sigmoid; check mud.labels", (long long)nc, (long long)A,
				 (long long)c->h, (long long)c->w, r->cls, Y11_TYPES[ti].mode1,
				 (long long)nc);
	}
	return 0;
}

/* --- classifier ------------------------------------------------------------------ */

static int check_classifier(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			    struct kiln_err *err)
{
	if (n == 0)
		return 0;
	const struct loader_out *first = &o[0];
	for (size_t i = 1; i < n; i++)
		if (strcmp(o[i].name, first->name) < 0)
			first = &o[i];
	if (first->rank < 1)
		return 0;
	int64_t k = 1;
	for (int i = 1; i < first->rank; i++) {
		if (first->d[i] < 0)
			return 0;
		k *= first->d[i];
	}
	if (first->rank == 1)
		k = first->d[0];
	if (k < 0 || k == (int64_t)c->s->n_labels)
		return 0;
	char sh[160];
	shape_text(first, sh, sizeof(sh));
	return kiln_errf(err, KILN_EINVAL, "mud.labels",
			 "MaixCDK's Classifier (maix_nn_classifier.hpp) reads the first output "
			 "by name, %s %s, as one score per label: %lld scores, mud.labels has %zu "
			 "names", first->name, sh, (long long)k, c->s->n_labels);
}

/* --- reCamera: SSCMA-Micro ------------------------------------------------------- *
 *
 * Seeed-Studio/SSCMA-Micro @ 60e2edecebcdff3a331ce796218e322d1813dd18,
 * sscma/core/model/ma_model_factory.cpp ModelFactory::create: with
 * algorithm 0 (sscma-node's default: Seeed-Studio/sscma-example-sg200x
 * @ c705d180 solutions/sscma-node/main/node/model.cpp, algorithm_(0)) it
 * tries FOMO, YoloV5, Classifier, PFLD, YoloV8Pose, YoloV8, NvidiaDet,
 * RTMDet, YoloWorld, Yolo11, Yolo11Pose, Yolo11Seg, Yolo26 and takes the
 * first whose isValid() holds; none: model.cpp throws "Model not
 * supported".  The isValid() rules below are the ma_model_<x>.cpp ones.
 * YoloV8Pose, RTMDet and YoloWorld want 3-D outputs only and NvidiaDet
 * two at input/16, so none of them takes a layout Kiln suggests; they are
 * not modelled.  Each YOLO check compares both dims of a head with the
 * input's width, so the input must be square. */
enum rc_dec { RC_NONE, RC_FOMO, RC_YOLOV5, RC_CLASSIFIER, RC_YOLOV8, RC_YOLO11,
	      RC_YOLO11_POSE, RC_YOLO11_SEG };
static const char *const RC_NAMES[] = {"none", "FOMO", "YoloV5", "Classifier", "YoloV8",
				       "Yolo11", "Yolo11Pose", "Yolo11Seg"};

static int is4(const struct loader_out *o, int64_t c, int64_t hw)
{
	return o->rank == 4 && o->d[0] == 1 && (c < 0 || o->d[1] == c) && o->d[2] == hw &&
	       o->d[3] == hw;
}

static enum rc_dec recamera_decoder(int64_t S, int64_t cin, const struct loader_out *o,
				    size_t n)
{
	int64_t box = ((S >> 5) * (S >> 5) + (S >> 4) * (S >> 4) + (S >> 3) * (S >> 3));
	const struct loader_out *a = &o[0];
	int r34 = a->rank == 3 || a->rank == 4;
	if (n == 1 && a->rank == 4 && a->d[0] == 1 && a->d[1] >= 2 && a->d[1] <= S &&
	    a->d[2] >= 2 && a->d[2] <= S && a->d[3] >= 2)
		return RC_FOMO;
	if (n == 1 && r34 && a->d[0] == 1 && a->d[1] == box * cin && a->d[2] >= 6 &&
	    a->d[2] <= 85)
		return RC_YOLOV5;
	if (n == 1 && a->rank >= 2 && a->d[0] == 1 && a->d[1] >= 2 &&
	    (a->rank != 4 || (a->d[2] == 1 && a->d[3] == 1)))
		return RC_CLASSIFIER;
	if (n >= 6) {
		int v8 = 1, y11 = 1;
		for (int i = 0; i < 3; i++) {
			v8 = v8 && is4(&o[i], 64, S >> (i + 3)) && is4(&o[i + 3], -1, S >> (i + 3));
			y11 = y11 && is4(&o[2 * i], 64, S >> (i + 3)) &&
			      is4(&o[2 * i + 1], -1, S >> (i + 3));
		}
		if (v8)
			return RC_YOLOV8;
		if (y11)
			return RC_YOLO11;
	}
	if (n == 1 && r34 && a->d[0] == 1 && a->d[2] == box && a->d[1] >= 6 &&
	    (a->d[1] - 5) % 3 == 0)
		return RC_YOLO11_POSE;
	if (n == 2 && r34 && o[1].rank == 4 && a->d[0] == 1 && a->d[2] == box &&
	    a->d[1] >= 37 && is4(&o[1], 32, S >> 2))
		return RC_YOLO11_SEG;
	return RC_NONE;
}

static int check_recamera(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			  struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	if (n == 0 || c->h <= 0 || c->w <= 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (o[i].rank < 0)
			return 0;
		for (int k = 0; k < o[i].rank; k++)
			if (o[i].d[k] < 0)
				return 0;   /* an unknown dim: nothing certain to say */
	}
	if (c->n_inputs > 1)
		return kiln_errf(err, KILN_EUNPROC, "model", "the board would answer \"Model not "
				 "supported\": every SSCMA-Micro decoder wants exactly 1 input "
				 "(ma_model_*.cpp isValid), the model has %d", c->n_inputs);
	int yolo = strcmp(s->model_type, "classifier") != 0;
	if (c->h < 32 || c->h % 32 || c->w < 32 || c->w % 32 || (yolo && c->h != c->w))
		return kiln_errf(err, KILN_EINVAL, "input.shape", "the board would answer \"Model "
				 "not supported\": SSCMA-Micro wants an input side of at least 32 "
				 "and a multiple of 32%s (ma_model_*.cpp isValid); this one is "
				 "%lldx%lld", yolo ? ", square (each head is held to the width)" : "",
				 (long long)c->h, (long long)c->w);
	int64_t cin = s->rank == 4 ? s->shape[strcmp(s->layout, "nhwc") == 0 ? 3 : 1] : 3;
	enum rc_dec d = recamera_decoder(c->w, cin, o, n);
	char sh[160];
	shape_text(&o[0], sh, sizeof(sh));
	if (d == RC_NONE || d == RC_FOMO)
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "the board would answer \"Model not supported\" for %zu output(s) "
				 "(first %s): SSCMA-Micro takes six convs [1,64,S,S],[1,classes,S,S] "
				 "per stride (YOLOv8/YOLO11), one [1,boxes,5+classes] (YOLOv5), one "
				 "[1,classes] (classifier) or YOLO11 seg's two", n, sh);
	const char *want = s->mud_type;
	int ok = strcmp(s->model_type, "yolov5") == 0 ? d == RC_YOLOV5
	       : strcmp(s->model_type, "classifier") == 0 ? d == RC_CLASSIFIER
	       : strcmp(want, "pose") == 0 ? d == RC_YOLO11_POSE
	       : strcmp(want, "seg") == 0 ? d == RC_YOLO11_SEG
	       : strcmp(want, "detector") == 0 ? d == RC_YOLOV8 || d == RC_YOLO11
	       : d == RC_YOLOV8 || d == RC_YOLO11 || d == RC_YOLO11_POSE || d == RC_YOLO11_SEG;
	if (!ok)
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "SSCMA-Micro's ModelFactory::create (auto, as sscma-node asks) would "
				 "take these outputs (first %s) as a %s (the first decoder whose "
				 "isValid holds), not as %s%s%s", sh, RC_NAMES[d], s->model_type,
				 want[0] ? " " : "", want);
	if (s->n_labels == 0)
		return 0;
	int64_t nc = d == RC_YOLOV5 ? o[0].d[2] - 5 : d == RC_YOLOV8 ? o[3].d[1]
		   : d == RC_YOLO11 ? o[1].d[1] : d == RC_YOLO11_SEG ? o[0].d[1] - 36
		   : d == RC_CLASSIFIER ? o[0].d[1] : -1;
	if (d == RC_YOLO11 || d == RC_YOLOV8)
		shape_text(&o[d == RC_YOLO11 ? 1 : 3], sh, sizeof(sh));
	if (nc > 0 && nc != (int64_t)s->n_labels)
		return kiln_errf(err, KILN_EINVAL, "mud.labels",
				 "mud.labels has %zu names but SSCMA-Micro's %s reads %lld classes "
				 "from %s: give one label per class", s->n_labels, RC_NAMES[d],
				 (long long)nc, sh);
	return 0;
}

/* --- AXera-Pi: ax-samples' AX620 programs ------------------------------------------ *
 *
 * AXERA-TECH/ax-samples @ 70a517812b4a81a77950740ae3c335d4f4a866ad (the
 * last tree with examples/ax620/), examples/ax620/ax_yolov5s_steps.cc,
 * ax_yolov8s_steps.cc, ax_classification_steps.cc, and
 * examples/base/detection.hpp (generate_proposals_yolov5 / _yolov8).
 * middleware/io.hpp: "[ERR]: Only single input was accepted(got %u)." */

/* Channels of a 4-D head as the board holds it.  Pulsar (axera/neuwizard
 * 0.6.0.1 and later; the double pins 0.6.1.20) writes a joint's outputs
 * NCHW unless told otherwise, and takes `--output_tensor_layout nhwc`
 * (AXERA-TECH/pulsar-docs @ f391cff2 source/user_guides_advanced/
 * advanced_guides.rst, "Joint Layout配置" and the build options; faq.rst:
 * detection models are built with --output_tensor_layout nhwc).  The
 * ax-samples programs read each cell's channels contiguously
 * (detection.hpp: cls_ptr[h * feat_w * cls_num + w * cls_num + c]), so
 * Kiln's build passes nhwc and the board sees [1, H, W, C] only. */
static int head_dims(const struct loader_out *o, int64_t hw, int64_t *ch)
{
	if (o->rank != 4 || o->d[0] != 1 || o->d[1] != hw || o->d[2] != hw)
		return 0;
	*ch = o->d[3];
	return 1;
}

static int axera_inputs(const struct loader_ctx *c, struct kiln_err *err)
{
	if (c->n_inputs > 1)
		return kiln_errf(err, KILN_EUNPROC, "model", "the board would print \"[ERR]: Only "
				 "single input was accepted(got %d).\" (ax-samples "
				 "examples/ax620/middleware/io.hpp)", c->n_inputs);
	return 0;
}

/* The AX620 programs of ax-samples, for the refusal of a task without one
 * (AXERA-TECH/ax-samples examples/ax620/, the YOLOv8 ones). */
#define AX620_YOLO_PROGRAMS "ax_yolov8s_steps.cc (detect), ax_yolov8s_pose_steps.cc, " \
	"ax_yolov8s_seg_steps.cc"

/* ax-samples' AX620 seg programs read output i as the mask prototypes:
 * 32 channels at H/4 x W/4, channels last (DEFAULT_MASK_PROTO_DIM,
 * DEFAULT_MASK_SAMPLE_STRIDE).  An unknown shape holds nothing. */
static int axera_prototypes(const struct loader_ctx *c, const struct loader_out *x, size_t i,
			    const char *program, struct kiln_err *err)
{
	int64_t pch;
	if (c->h > 0 && x->rank >= 0 && x->d[1] >= 0 &&
	    (!head_dims(x, c->h / 4, &pch) || pch != 32))
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "%s reads output %zu as the prototypes, 32 channels at H/4 x W/4 "
				 "(%lldx%lld, channels last)", program, i, (long long)(c->h / 4),
				 (long long)(c->w / 4));
	return 0;
}

/* ax-samples @ 70a51781 examples/ax620/ax_yolov5s_seg_steps.cc: outputs 0..2
 * are stride 8 << i, read by detection.hpp generate_proposals_yolov5_seg
 * as 3 anchors x (5 + cls_num + 32 mask coefficients) per cell, channels
 * last; the program passes no cls_num, so the default 80 is what it reads;
 * pOutputs[3] is the 32 prototypes at H/4 x W/4 (DEFAULT_MASK_PROTO_DIM,
 * DEFAULT_MASK_SAMPLE_STRIDE). */
#define AX620_YOLOV5_SEG_CLASSES 80

static int check_axera_yolov5_seg(const struct loader_ctx *c, const struct loader_out *o,
				  size_t n, struct kiln_err *err)
{
	if (c->s->n_labels && c->s->n_labels != AX620_YOLOV5_SEG_CLASSES)
		return kiln_errf(err, KILN_EINVAL, "mud.labels",
				 "ax_yolov5s_seg_steps.cc decodes %d classes (it calls "
				 "generate_proposals_yolov5_seg with its default cls_num); mud.labels "
				 "has %zu names", AX620_YOLOV5_SEG_CLASSES, c->s->n_labels);
	if (n != 4)
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "ax-samples' AX620 YOLOv5 seg program (ax_yolov5s_seg_steps.cc) "
				 "reads 4 outputs: the 3 head Convs, stride 8 first, then the mask "
				 "prototypes; this bundle has %zu", n);
	if (c->h <= 0)
		return 0;
	int64_t want = 3 * (5 + AX620_YOLOV5_SEG_CLASSES + 32);
	for (size_t i = 0; i < 3; i++) {
		int64_t ch, hw = c->h / (8 << i);
		char sh[160];
		shape_text(&o[i], sh, sizeof(sh));
		if (o[i].rank < 0 || o[i].d[1] < 0)
			continue;
		if (!head_dims(&o[i], hw, &ch) || ch != want)
			return kiln_errf(err, KILN_EUNPROC, "outputs",
					 "ax_yolov5s_seg_steps.cc reads output %zu as stride %d, "
					 "[1,%lld,%lld,%lld] (3 anchors x (5 + 80 classes + 32 mask "
					 "coefficients), channels last); %s is %s", i, 8 << i,
					 (long long)hw, (long long)hw, (long long)want, o[i].name, sh);
	}
	return axera_prototypes(c, &o[3], 3, "ax_yolov5s_seg_steps.cc", err);
}

static int check_axera_yolov5(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			      struct kiln_err *err)
{
	int rc = axera_inputs(c, err);
	if (rc != 0)
		return rc;
	/* ax-samples' AX620 YOLOv5 programs: ax_yolov5s_steps.cc (detect) and
	 * ax_yolov5s_seg_steps.cc; no pose or obb one */
	if (strcmp(c->s->mud_type, "seg") == 0)
		return check_axera_yolov5_seg(c, o, n, err);
	if (c->s->mud_type[0] && strcmp(c->s->mud_type, "detector") != 0)
		return kiln_errf(err, KILN_EUNPROC, "mud.type",
				 "ax-samples' AX620 YOLOv5 programs (examples/ax620/) are "
				 "ax_yolov5s_steps.cc (detect) and ax_yolov5s_seg_steps.cc: mud.type "
				 "%s has none; use detector or seg, or yolov8/yolo11 for pose ("
				 AX620_YOLO_PROGRAMS ")", c->s->mud_type);
	if (c->h <= 0)
		return 0;
	int64_t want = 3 * ((int64_t)c->s->n_labels + 5);
	if (n != 3)
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "ax-samples' AX620 YOLOv5 program (ax_yolov5s_steps.cc) reads every "
				 "output i as stride 8 << i: it wants the 3 head Convs, stride 8 "
				 "first; this bundle has %zu", n);
	for (size_t i = 0; i < n; i++) {
		int64_t ch, hw = c->h / (8 << i);
		char sh[160];
		shape_text(&o[i], sh, sizeof(sh));
		if (o[i].rank < 0 || o[i].d[1] < 0)
			continue;
		if (!head_dims(&o[i], hw, &ch))
			return kiln_errf(err, KILN_EUNPROC, "outputs",
					 "ax_yolov5s_steps.cc reads output %zu as stride %d, [1,%lld,%lld,C] "
					 "channels last (the joint is built --output_tensor_layout nhwc); "
					 "%s is %s on the board: list the head Convs stride 8, 16, 32 in "
					 "that order", i, 8 << i, (long long)hw, (long long)hw,
					 o[i].name, sh);
		if (c->s->n_labels && ch != want)
			return kiln_errf(err, ch % 3 == 0 && ch > 15 ? KILN_EINVAL : KILN_EUNPROC,
					 ch % 3 == 0 && ch > 15 ? "mud.labels" : "outputs",
					 "ax-samples' generate_proposals_yolov5 (detection.hpp) reads 3 "
					 "anchors x (5 + classes) per cell: %s %s has %lld channels, "
					 "%zu labels make %lld", o[i].name, sh, (long long)ch,
					 c->s->n_labels, (long long)want);
	}
	return 0;
}

/* ax-samples' YOLOv8 programs read outputs i, i+3, i+6 as stride 8 << i's
 * box head (box_ch channels: DFL, plus mask coefficients for seg), its
 * classes (labels) and its class index (1 channel).  1 when every stride
 * fits, 0 when a shape is not known (nothing to hold), else the refusal. */
static int axera_stride_triples(const struct loader_ctx *c, const struct loader_out *o,
				int64_t box_ch, const char *program, const char *box_what,
				const char *layout_note, struct kiln_err *err)
{
	int64_t nc = (int64_t)c->s->n_labels;
	for (size_t i = 0; c->h > 0 && i < 3; i++) {
		int64_t hw = c->h / (8 << i), ch[3];
		for (int k = 0; k < 3; k++) {
			const struct loader_out *x = &o[i + 3 * (size_t)k];
			if (x->rank < 0 || x->d[1] < 0)
				return 0;
			if (!head_dims(x, hw, &ch[k]))
				ch[k] = -1;
		}
		if (ch[0] != box_ch || ch[2] != 1 || ch[1] < 1 || (nc && ch[1] != nc))
			return kiln_errf(err, KILN_EUNPROC, "outputs",
					 "%s reads outputs %zu, %zu, %zu as stride %d's %s, classes "
					 "(%lld ch) and class index (1 ch), each %lldx%lld%s: they have "
					 "%lld, %lld and %lld", program, i, i + 3, i + 6, 8 << i,
					 box_what, (long long)nc, (long long)hw, (long long)hw,
					 layout_note, (long long)ch[0], (long long)ch[1],
					 (long long)ch[2]);
	}
	return 1;
}

/* ax_yolov8s_pose_steps.cc (ax-samples @ 2f447b6b): outputs 0..2 are
 * strides 8, 16, 32, each read by detection.hpp generate_proposals_yolov8_pose
 * as 1 score + 4 x 16 DFL + 17 x 3 keypoints = 116 per cell, one class
 * (label 0). */
static int check_axera_pose(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			    struct kiln_err *err)
{
	if (c->s->n_labels > 1)
		return kiln_errf(err, KILN_EINVAL, "mud.labels",
				 "ax_yolov8s_pose_steps.cc reads one class (every box is label 0, "
				 "detection.hpp generate_proposals_yolov8_pose); mud.labels has %zu "
				 "names: give one", c->s->n_labels);
	if (n != 3)
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "ax-samples' AX620 pose program (ax_yolov8s_pose_steps.cc) reads 3 "
				 "outputs, stride 8 << i, of 116 per cell (score, 4 x 16 DFL, 17 x 3 "
				 "keypoints), which no cut of an Ultralytics export gives; this "
				 "bundle has %zu", n);
	for (size_t i = 0; c->h > 0 && i < n; i++) {
		int64_t ch, hw = c->h / (8 << i);
		char sh[160];
		shape_text(&o[i], sh, sizeof(sh));
		if (o[i].rank < 0 || o[i].d[1] < 0)
			continue;
		if (!head_dims(&o[i], hw, &ch) || ch != 116)
			return kiln_errf(err, KILN_EUNPROC, "outputs",
					 "ax_yolov8s_pose_steps.cc reads output %zu as stride %d: "
					 "[1,%lld,%lld,116] (score, 4 x 16 DFL, 17 x 3 keypoints per cell, "
					 "channels last); %s is %s", i, 8 << i, (long long)hw,
					 (long long)hw, o[i].name, sh);
	}
	return 0;
}

/* ax_yolov8s_seg_steps.cc (ax-samples @ 43804670): outputs i (DFL + 32
 * mask coefficients, 96 per cell), i + 3 (classes), i + 6 (class index)
 * per stride and 9 the prototypes, read by generate_proposals_yolov8_seg
 * and get_out_bbox_mask (32 x H/4 x W/4). */
static int check_axera_seg(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			   struct kiln_err *err)
{
	if (n != 10)
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "ax-samples' AX620 seg program (ax_yolov8s_seg_steps.cc) reads 10 "
				 "outputs: 3 DFL + mask coefficients (96 ch), 3 class, 3 class-index "
				 "(an ArgMax per cell, which an Ultralytics export lacks) and the "
				 "prototypes; this bundle has %zu", n);
	int rc = axera_stride_triples(c, o, 96, "ax_yolov8s_seg_steps.cc",
				      "DFL + mask coefficients (96 ch)", " channels last", err);
	if (rc != 1)
		return rc;
	return axera_prototypes(c, &o[9], 9, "ax_yolov8s_seg_steps.cc", err);
}

static int check_axera_yolov8(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			      struct kiln_err *err)
{
	int rc = axera_inputs(c, err);
	if (rc != 0)
		return rc;
	const char *type = c->s->mud_type;
	if (strcmp(type, "pose") == 0)
		return check_axera_pose(c, o, n, err);
	if (strcmp(type, "seg") == 0)
		return check_axera_seg(c, o, n, err);
	if (type[0] && strcmp(type, "detector") != 0)
		return kiln_errf(err, KILN_EUNPROC, "mud.type",
				 "ax-samples has no AX620 program for mud.type %s: its YOLOv8 "
				 "programs (AXERA-TECH/ax-samples examples/ax620/) are "
				 AX620_YOLO_PROGRAMS "; use mud.type detector, pose or seg", type);
	if (n != 9)
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "ax-samples' AX620 YOLOv8 program (ax_yolov8s_steps.cc) reads 9 "
				 "outputs: 3 DFL (64 ch), 3 class and 3 class-index (an ArgMax per "
				 "cell, which an Ultralytics export lacks) per stride; this bundle "
				 "has %zu", n);
	rc = axera_stride_triples(c, o, 64, "ax_yolov8s_steps.cc", "DFL (64 ch)", "", err);
	return rc == 1 ? 0 : rc;
}

static int check_axera_classifier(const struct loader_ctx *c, const struct loader_out *o, size_t n,
				  struct kiln_err *err)
{
	int rc = axera_inputs(c, err);
	if (rc != 0 || c->s->n_labels == 0)
		return rc;
	/* every output is printed as its own top 5: the first holds the classes */
	int64_t k = 1;
	for (int i = 1; n > 0 && i < o[0].rank; i++) {
		if (o[0].d[i] < 0)
			return 0;
		k *= o[0].d[i];
	}
	if (n == 0 || o[0].rank < 2 || k == (int64_t)c->s->n_labels)
		return 0;
	return kiln_errf(err, KILN_EINVAL, "mud.labels",
			 "ax_classification_steps.cc reads output %s as one score per class "
			 "(output.nSize / sizeof(float)): %lld scores, mud.labels has %zu names",
			 o[0].name, (long long)k, c->s->n_labels);
}

/* --- Metis: voyager-sdk's decodeyolo ------------------------------------------------ *
 *
 * axelera-ai-hub/voyager-sdk v1.2.5 @ 38c4bf07b2c69a74f5f2a9325f62083d22dc01fa,
 * ax_models/decoders/yolo.py: configure_model_and_context_info takes the
 * compiled model's output shapes (NHWC, depadded) and num_classes to
 * _guess_yolo_model: YOLOv5 = 3 outputs of 3 x (4 + 1 + num_classes)
 * channels (then "Missing YOLO/anchors in extra_kwargs for <name>"
 * without anchors), YOLOv8 = 6 outputs, channels[:3] all 64 and
 * channels[3:] all num_classes, YOLOX = 9; anything else logs "Unknown
 * model type for <name>, using generic GST decoder", which reads decoded
 * boxes.  The model's own outputs are what the SDK's zoo compiles (the
 * compiler splits the decode off as the manifest's postprocess_graph), so
 * they pass; a cut of raw heads must be one of the patterns. */
/* voyager-sdk v1.2.5 @ 38c4bf07: pose and seg networks of the zoo
 * (ax_models/zoo/yolo/keypoint_detection/yolov8npose-coco-onnx.yaml,
 * instance_segmentation/yolov8nseg-coco-onnx.yaml) compile the export
 * uncut.  decodeyolopose (ax_models/decoders/yolopose.py) passes the GST
 * decoder classes:1 and CocoBodyKeypointsMeta's keypoints_shape [17, 3]
 * (axelera/app/meta/keypoint.py), and reads [1, 4 + 1 + 51, anchors];
 * decodeyoloseg (ax_models/decoders/yoloseg.py) wants "a list of two
 * tensors": [1, 4 + num_classes + 32, anchors] and the 4-D prototypes. */
#define METIS_DECODERS "retinaface, rtmdet, ssd, yolo, yolopose, yoloseg"

static int check_metis_task(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			    int seg, struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	const char *dec = seg ? "decodeyoloseg (ax_models/decoders/yoloseg.py)"
			      : "decodeyolopose (ax_models/decoders/yolopose.py)";
	for (size_t i = 0; i < n; i++)
		if (!o[i].graph_output)
			return kiln_errf(err, KILN_EUNPROC, "outputs",
					 "voyager-sdk's %s reads the model's own outputs, as the "
					 "SDK's zoo compiles the %s export uncut; %s is a cut: give "
					 "outputs \"suggested\" or the model's outputs", dec,
					 seg ? "yolov8n-seg" : "yolov8n-pose", o[i].name);
	size_t want = seg ? 2 : 1;
	if (n != want)
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "voyager-sdk's %s reads %s; this model gives %zu output(s)", dec,
				 seg ? "two: [1, 4 + classes + 32, anchors] and the 4-D prototypes"
				     : "one [1, 56, anchors] (4 box + 1 score + 17 x 3 keypoints)", n);
	const struct loader_out *p = &o[0];
	for (size_t i = 0; i < n; i++)
		if (o[i].rank == 3)
			p = &o[i];
	if (p->rank != 3 || p->d[1] < 0)
		return p->rank < 0 || p->rank == 3 ? 0
		       : kiln_errf(err, KILN_EUNPROC, "outputs", "voyager-sdk's %s reads a 3-D "
				   "[1, channels, anchors] output; the model has none", dec);
	char sh[160];
	shape_text(p, sh, sizeof(sh));
	if (!seg && p->d[1] != 56)
		return kiln_errf(err, KILN_EUNPROC, "outputs",
				 "voyager-sdk's %s reads COCO body keypoints, 17 x 3 "
				 "(CocoBodyKeypointsMeta.keypoints_shape), with one class: [1, 56, "
				 "anchors]; %s is %s", dec, p->name, sh);
	if (!seg && s->n_labels > 1)
		return kiln_errf(err, KILN_EINVAL, "mud.labels",
				 "voyager-sdk's %s decodes one class (classes:1); mud.labels has %zu "
				 "names: give one", dec, s->n_labels);
	if (seg && s->n_labels && p->d[1] - 36 != (int64_t)s->n_labels)
		return kiln_errf(err, KILN_EINVAL, "mud.labels",
				 "mud.labels has %zu names but %s %s holds %lld classes (4 box + "
				 "classes + 32 mask coefficients), which decodeyoloseg reads with "
				 "num_classes: give %lld labels", s->n_labels, p->name, sh,
				 (long long)(p->d[1] - 36), (long long)(p->d[1] - 36));
	return 0;
}

static int check_metis_yolo(const struct loader_ctx *c, const struct loader_out *o, size_t n,
			    struct kiln_err *err)
{
	const struct job_spec *s = c->s;
	const char *type = s->mud_type;
	if (strcmp(type, "pose") == 0 || strcmp(type, "seg") == 0)
		return strcmp(s->model_type, "yolov5") == 0
		       ? kiln_errf(err, KILN_EUNPROC, "mud.type",
				   "voyager-sdk v1.2.5's %s decoder is the YOLOv8 one (its zoo has "
				   "yolov8*-pose and yolov8*seg networks only); a yolov5 %s model has "
				   "no decoder", type, type)
		       : check_metis_task(c, o, n, type[0] == 's', err);
	if (type[0] && strcmp(type, "detector") != 0)
		return kiln_errf(err, KILN_EUNPROC, "mud.type",
				 "voyager-sdk v1.2.5 has no decoder for mud.type %s: "
				 "ax_models/decoders/ holds " METIS_DECODERS "; Metis takes "
				 "mud.type detector, pose or seg", type);
	int own = 1;
	for (size_t i = 0; i < n; i++)
		own = own && o[i].graph_output;
	if (own || n == 0)
		return 0;
	int64_t ch[SPEC_MAX_OUTPUTS], nc = (int64_t)s->n_labels;
	for (size_t i = 0; i < n; i++) {
		if (o[i].rank < 1 || o[i].d[o[i].rank > 1 ? 1 : 0] < 0)
			return 0;
		/* the ONNX's channel axis: NCHW dim 1 (the SDK reports it last) */
		ch[i] = o[i].rank == 4 ? o[i].d[o[i].nhwc ? 3 : 1] : o[i].d[o[i].rank - 1];
	}
	int v5 = n == 3, v8 = n == 6;
	for (size_t i = 0; v5 && i < n; i++)
		v5 = ch[i] == 3 * (5 + nc);
	for (size_t i = 0; v8 && i < n; i++)
		v8 = ch[i] == (i < 3 ? 64 : nc);
	int is_v5 = strcmp(s->model_type, "yolov5") == 0;
	if ((is_v5 && v5) || (!is_v5 && v8))
		return 0;
	char chs[96] = "";
	for (size_t i = 0, off = 0; i < n && off < sizeof(chs) - 8; i++)
		off += (size_t)snprintf(chs + off, sizeof(chs) - off, "%s%lld", i ? "," : "",
					(long long)ch[i]);
	return kiln_errf(err, KILN_EUNPROC, "outputs",
			 "the SDK would log \"Unknown model type for %s, using generic GST "
			 "decoder\" (ax_models/decoders/yolo.py): channels [%s]; decodeyolo wants "
			 "%s with %lld classes", s->name, chs,
			 is_v5 ? "3 head Convs of 3 x (5 + classes)"
			       : "6: the three 64-ch box Convs, then the three class Convs", (long long)nc);
}

/* --- entry points ---------------------------------------------------------------- */

static int run_rule(const struct job_spec *s, const struct loader_out *outs, size_t n,
		    int n_inputs, struct kiln_err *err)
{
	const struct loader_rule *r = rule_for(s, s->model_type);
	if (r == NULL || r->check == NULL)
		return 0;
	struct loader_ctx c = {s, -1, -1, n_inputs};
	input_size(s, &c.h, &c.w);
	return r->check(&c, outs, n, err);
}

int loader_check_outputs(const struct job_spec *s, const struct loader_out *outs, size_t n,
			 struct kiln_err *err)
{
	return run_rule(s, outs, n, -1, err);
}

/* The board's view of an output (struct target.output_perm): MaixCAM2's
 * dst_perm [0,2,3,1] (when loader_check_dst_perm) and AXera-Pi's
 * --output_tensor_layout nhwc turn a 4-D NCHW tensor into NHWC; the other
 * boards keep the ONNX layout. */
static void board_layout(const struct job_spec *s, struct loader_out *o)
{
	if (s->t == NULL || o->rank != 4 || s->t->output_perm == TARGET_PERM_NONE ||
	    (s->t->output_perm == TARGET_PERM_OPTION && !loader_check_dst_perm(s)))
		return;
	int64_t c = o->d[1];
	o->d[1] = o->d[2];
	o->d[2] = o->d[3];
	o->d[3] = c;
	o->nhwc = 1;
}

static void from_json(const cJSON *sh, struct loader_out *o)
{
	o->rank = cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : -1;
	if (o->rank > LOADER_MAX_RANK)
		o->rank = -1;
	int i = 0;
	for (const cJSON *d = cJSON_IsArray(sh) ? sh->child : NULL; d && i < LOADER_MAX_RANK;
	     d = d->next, i++)
		o->d[i] = cJSON_IsNumber(d) && d->valuedouble >= 0 ? (int64_t)d->valuedouble : -1;
}

static const cJSON *graph_output(const cJSON *insp, const char *name)
{
	const cJSON *o;
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(insp, "outputs")) {
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "name"));
		if (n && name && strcmp(n, name) == 0)
			return o;
	}
	return NULL;
}

/* Label count against the uncut model's own outputs (the decode the cut
 * removes still says how many classes the head has). */
static int labels_vs_head(const struct job_spec *s, const cJSON *insp, struct kiln_err *err)
{
	const cJSON *outs = cJSON_GetObjectItemCaseSensitive(insp, "outputs");
	int n = cJSON_GetArraySize(outs);
	if (n < 1)
		return 0;
	struct loader_out o = {0};
	const cJSON *first = cJSON_GetArrayItem(outs, 0);
	o.name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "name"));
	from_json(cJSON_GetObjectItemCaseSensitive(first, "shape"), &o);
	if (o.name == NULL)
		return 0;
	char sh[160];
	shape_text(&o, sh, sizeof(sh));
	size_t nl = s->n_labels;
	if (nl == 0 && !maixcdk(s))
		return 0;   /* no labels to hold to the head (MaixCDK needs them) */
	const char *who = maixcdk(s) ? "MaixCDK would log \"mud labels or anchors not match "
				       "model's\"" : "the board's decoder reads one label per class";
	int64_t h, w;
	input_size(s, &h, &w);
	if (strcmp(s->model_type, "yolov5") == 0 && n == 1 && o.rank == 3 && o.d[2] > 5) {
		/* Detect's decoded output [1, anchors x cells, 5 + classes] */
		int64_t nc = o.d[2] - 5;
		if (nc != (int64_t)nl)
			return kiln_errf(err, KILN_EINVAL, "mud.labels",
					 "mud.labels has %zu names but the model's YOLOv5 head has "
					 "%lld classes (%s %s = 5 + %lld per box; its convs have %lld "
					 "channels at 3 anchors): %s; give %lld labels", nl,
					 (long long)nc, o.name, sh, (long long)nc,
					 (long long)(3 * (nc + 5)), who, (long long)nc);
		if (h > 0 && w > 0 && o.d[1] > 0 && s->n_anchors > 0) {
			int64_t cells = 0;
			for (int k = 0; k < 3; k++)
				cells += (h / STRIDES[k]) * (w / STRIDES[k]);
			if (cells > 0 && o.d[1] % cells == 0 &&
			    (int64_t)(s->n_anchors / 2) != 3 * (o.d[1] / cells))
				return kiln_errf(err, KILN_EINVAL, "mud.anchors",
						 "the model's YOLOv5 head has %lld anchors per level "
						 "(%s %s over 3 levels of a %lldx%lld input); mud.anchors "
						 "gives %zu pairs, the decoder wants %lld (width,height per "
						 "anchor, stride 8 first)", (long long)(o.d[1] / cells),
						 o.name, sh, (long long)h, (long long)w,
						 s->n_anchors / 2, (long long)(3 * (o.d[1] / cells)));
		}
		return 0;
	}
	const char *type = s->mud_type[0] ? s->mud_type : "detector";
	int yolo8 = strcmp(s->model_type, "yolov8") == 0 || strcmp(s->model_type, "yolo11") == 0;
	/* [1, 4 + classes, A]; seg adds 32 mask coefficients and a 2nd output */
	int64_t extra = strcmp(type, "detector") == 0 && n == 1 ? 4
		      : strcmp(type, "seg") == 0 && n == 2 ? 36 : -1;
	if (yolo8 && extra > 0 && o.rank == 3 && o.d[1] > extra && o.d[1] - extra != (int64_t)nl)
		return kiln_errf(err, KILN_EINVAL, "mud.labels",
				 "mud.labels has %zu names but the model's %s head has %lld classes "
				 "(%s %s = %lld + classes): the heads would have %lld+64 channels, "
				 "not %zu+64; give %lld labels", nl, s->model_type,
				 (long long)(o.d[1] - extra), o.name, sh, (long long)extra,
				 (long long)(o.d[1] - extra), nl, (long long)(o.d[1] - extra));
	if (strcmp(s->model_type, "classifier") == 0 && n == 1 && o.rank == 2 && o.d[1] > 0 &&
	    o.d[1] != (int64_t)nl)
		return kiln_errf(err, KILN_EINVAL, "mud.labels",
				 "mud.labels has %zu names but the classifier's output %s %s has "
				 "%lld classes: the board's classifier takes one label per score",
				 nl, o.name, sh, (long long)o.d[1]);
	return 0;
}

int loader_check_submit(const struct job_spec *s, const cJSON *insp, struct kiln_err *err)
{
	const struct loader_rule *r = rule_for(s, s->model_type);
	if (r == NULL || insp == NULL)
		return 0;
	const char *opt = spec_opt(s, "output_layout");
	if (maixcdk(s) && opt && strcmp(opt, "nhwc") == 0 && !(r->layouts & LOADER_NHWC))
		return kiln_errf(err, KILN_EINVAL, "target_options.output_layout",
				 "target_options.output_layout nhwc puts dst_perm [0,2,3,1] on the "
				 "outputs, but MaixCDK's %s decoder (%s) reads NCHW only (it checks "
				 "shape[1] == (classes + 5) * anchors): use auto or nchw", r->cls,
				 r->header);
	const char *fam = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(insp, "suggested_model_type"));
	const struct loader_rule *fr = family_of(fam);
	if (fr && strcmp(fr->group, r->group) != 0)
		return kiln_errf(err, KILN_EINVAL, "mud.model_type",
				 "mud.model_type is %s but the model's head is a %s one: the "
				 "board's %s (%s) could not decode it; use mud.model_type %s (or "
				 "leave it out)", s->model_type, fam, r->cls, r->header,
				 fr->model_type);
	int rc = labels_vs_head(s, insp, err);
	if (rc != 0)
		return rc;
	/* The chosen outputs' shapes are known when they are graph outputs
	 * (a model cut already); intermediate tensors are checked on the
	 * bundle, where the workspace's model gives their shapes. */
	struct loader_out outs[SPEC_MAX_OUTPUTS];
	if (s->n_outputs == 0 || s->n_outputs > SPEC_MAX_OUTPUTS)
		return 0;
	for (size_t i = 0; i < s->n_outputs; i++) {
		const cJSON *g = graph_output(insp, s->outputs[i]);
		if (g == NULL)
			return 0;
		memset(&outs[i], 0, sizeof(outs[i]));
		outs[i].name = s->outputs[i];
		outs[i].graph_output = 1;
		from_json(cJSON_GetObjectItemCaseSensitive(g, "shape"), &outs[i]);
		board_layout(s, &outs[i]);
	}
	int nin = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(insp, "inputs"));
	return run_rule(s, outs, s->n_outputs, nin > 0 ? nin : -1, err);
}

int loader_check_bundle(const struct job_spec *s, const char *model_path,
			const char *bundle_dir, struct kiln_err *err)
{
	if (rule_for(s, s->model_type) == NULL && !maixcdk(s))
		return 0;
	struct kiln_err e;
	int rc;
	if (!maixcdk(s))
		goto outputs;   /* only MaixCDK reads a .mud */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s.mud", bundle_dir, s->name);
	struct mud *m = NULL;
	rc = mud_read(path, &m, &e);
	if (rc == 0)
		rc = mud_validate(m, bundle_dir, &e);
	mud_free(m);
	if (rc != 0)
		return kiln_errf(err, KILN_EUNPROC, e.field, "the bundle's %s.mud would not load "
				 "on the board (MaixCDK): %s", s->name, e.msg);
outputs:;
	struct onnx_model *om = NULL;
	if (onnx_open(model_path, &om, &e) != 0)
		return kiln_errf(err, KILN_EIO, "model", "cannot read %s for the board-loader "
				 "check: %s", model_path, e.msg);
	rc = loader_check_onnx(s, om, err);
	onnx_close(om);
	if (rc != 0) {
		/* a job's failure, with the board's words kept */
		err->code = KILN_EUNPROC;
		return KILN_EUNPROC;
	}
	return 0;
}

int loader_check_onnx(const struct job_spec *s, const struct onnx_model *om,
		      struct kiln_err *err)
{
	if (rule_for(s, s->model_type) == NULL || s->n_outputs == 0 ||
	    s->n_outputs > SPEC_MAX_OUTPUTS)
		return 0;
	int nin = 0;
	for (uint32_t i = 0; i < om->ninputs; i++)
		if (om->tensors[om->vinfos[om->inputs[i]].tensor].init < 0)
			nin++;
	struct loader_out outs[SPEC_MAX_OUTPUTS];
	for (size_t i = 0; i < s->n_outputs; i++) {
		memset(&outs[i], 0, sizeof(outs[i]));
		outs[i].name = s->outputs[i];
		outs[i].rank = -1;
		uint32_t t = onnx_find_tensor(om, s->outputs[i]);
		const struct onnx_type *ty = t != ONNX_NONE ? om->tensors[t].ty : NULL;
		outs[i].graph_output = t != ONNX_NONE && om->tensors[t].is_output;
		if (ty && ty->rank >= 0 && ty->rank <= LOADER_MAX_RANK) {
			outs[i].rank = ty->rank;
			for (int k = 0; k < ty->rank; k++)
				outs[i].d[k] = ty->dims[k].has_value ? ty->dims[k].value : -1;
		}
		board_layout(s, &outs[i]);
	}
	return run_rule(s, outs, s->n_outputs, nin, err);
}
