/*
 * onnx_infer: a small type/shape inference.
 *
 * The cut needs a type for every new graph output (onnx.checker insists on
 * elem_type and shape), and the graph view shows shapes; exporters often
 * write no value_info.  So the common ops of vision models (conv, pooling,
 * element-wise, reshape/transpose/concat/split/slice/resize, gemm) get their
 * output types computed here in topological order.  What is not covered stays
 * unknown rather than guessed: the caller writes the elem type only.
 * Attributes and constants are onnx_attr.c's; equal types are merged by
 * onnx_types.c.
 */
#include "conversion/onnx_priv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- inference ----------------------------------------------------------------- */

static struct onnx_type *new_type(struct onnx_model *m, int elem, int rank)
{
	if (rank > ONNX_MAX_RANK)
		return NULL;
	struct onnx_type *t = onnx_type_alloc(m, sizeof(*t));
	if (t == NULL)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->kind = OK_TENSOR;
	t->elem = elem;
	t->rank = rank;
	if (rank > 0) {
		t->dims = onnx_type_alloc(m, (size_t)rank * sizeof(*t->dims));
		if (t->dims == NULL)
			return NULL;
		memset(t->dims, 0, (size_t)rank * sizeof(*t->dims));
	}
	return t;
}

static const struct onnx_type *in_ty(const struct onnx_model *m,
				     const struct onnx_node *n, uint32_t k)
{
	uint32_t t = onnx_node_in(m, n, k);
	return t == ONNX_NONE ? NULL : m->tensors[t].ty;
}

static bool shaped(const struct onnx_type *t)
{
	return t && t->kind == OK_TENSOR && t->rank >= 0;
}

static struct onnx_dim dim_known(int64_t v)
{
	return (struct onnx_dim){ .value = v, .has_value = true };
}

static const struct onnx_dim unknown_dim = { 0 };

static bool bcast_dim(struct onnx_dim a, struct onnx_dim b, struct onnx_dim *o)
{
	if (a.has_value && a.value == 1) {
		*o = b;
	} else if (b.has_value && b.value == 1) {
		*o = a;
	} else if (a.has_value && b.has_value) {
		if (a.value != b.value)
			return false;
		*o = a;
	} else if (a.has_value) {
		*o = a;
	} else if (b.has_value) {
		*o = b;
	} else if (a.param && b.param && strcmp(a.param, b.param) == 0) {
		*o = a;
	} else {
		*o = unknown_dim;
	}
	return true;
}

static struct onnx_type *broadcast(struct onnx_model *m, int elem,
				   const struct onnx_type *const *ts, int n)
{
	int rank = 0;
	for (int i = 0; i < n; i++) {
		if (!shaped(ts[i]))
			return NULL;
		if (ts[i]->rank > rank)
			rank = ts[i]->rank;
	}
	struct onnx_type *o = new_type(m, elem, rank);
	if (o == NULL)
		return NULL;
	for (int d = 0; d < rank; d++) {
		struct onnx_dim acc = dim_known(1);
		for (int i = 0; i < n; i++) {
			int k = d - (rank - ts[i]->rank);
			if (k < 0)
				continue;
			if (!bcast_dim(acc, ts[i]->dims[k], &acc))
				return NULL;
		}
		o->dims[d] = acc;
	}
	return o;
}

static struct onnx_type *copy_type(struct onnx_model *m, int elem,
				   const struct onnx_type *t)
{
	if (!shaped(t))
		return NULL;
	struct onnx_type *o = new_type(m, elem, t->rank);
	if (o != NULL && t->rank > 0)
		memcpy(o->dims, t->dims, (size_t)t->rank * sizeof(*o->dims));
	return o;
}

static int64_t norm_axis(int64_t a, int rank)
{
	return a < 0 ? a + rank : a;
}

static struct onnx_type *infer_conv_pool(struct onnx_model *m,
					 const struct onnx_node *n, int elem,
					 bool conv)
{
	const struct onnx_type *x = in_ty(m, n, 0);
	if (!shaped(x) || x->rank < 3)
		return NULL;
	int sp = x->rank - 2;
	int64_t k[ONNX_MAX_RANK], s[ONNX_MAX_RANK], d[ONNX_MAX_RANK], p[2 * ONNX_MAX_RANK];
	struct onnx_dim outc = x->dims[1];
	int nk = onnx_attr_ints(n, "kernel_shape", k, ONNX_MAX_RANK);
	if (conv) {
		const struct onnx_type *w = in_ty(m, n, 1);
		if (!shaped(w) || w->rank != x->rank)
			return NULL;
		outc = w->dims[0];
		if (nk < 0) {
			for (int i = 0; i < sp; i++) {
				if (!w->dims[2 + i].has_value)
					return NULL;
				k[i] = w->dims[2 + i].value;
			}
			nk = sp;
		}
	}
	if (nk != sp)
		return NULL;
	for (int i = 0; i < sp; i++) {
		s[i] = 1;
		d[i] = 1;
		p[i] = p[sp + i] = 0;
	}
	if (onnx_attr_ints(n, "strides", s, ONNX_MAX_RANK) > sp ||
	    onnx_attr_ints(n, "dilations", d, ONNX_MAX_RANK) > sp ||
	    onnx_attr_ints(n, "pads", p, 2 * ONNX_MAX_RANK) > 2 * sp)
		return NULL;
	char ap[32] = "NOTSET";
	onnx_attr_str(n, "auto_pad", ap, sizeof(ap));
	bool ceil_mode = !conv && onnx_attr_int(n, "ceil_mode", 0) != 0;
	struct onnx_type *o = new_type(m, elem, x->rank);
	if (o == NULL)
		return NULL;
	o->dims[0] = x->dims[0];
	o->dims[1] = outc;
	for (int i = 0; i < sp; i++) {
		struct onnx_dim in = x->dims[2 + i];
		if (!in.has_value || s[i] <= 0) {
			o->dims[2 + i] = unknown_dim;
			continue;
		}
		int64_t ek = (k[i] - 1) * d[i] + 1, v;
		if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0)
			v = (in.value + s[i] - 1) / s[i];
		else if (strcmp(ap, "VALID") == 0)
			v = (in.value - ek) / s[i] + 1;
		else {
			int64_t num = in.value + p[i] + p[sp + i] - ek;
			if (num < 0)
				return NULL;
			v = ceil_mode ? (num + s[i] - 1) / s[i] + 1 : num / s[i] + 1;
			/* ceil mode must not start a window in the padding */
			if (ceil_mode && (v - 1) * s[i] >= in.value + p[i])
				v--;
		}
		o->dims[2 + i] = dim_known(v);
	}
	return o;
}

static struct onnx_type *infer_reshape(struct onnx_model *m,
				       const struct onnx_node *n, int elem)
{
	const struct onnx_type *x = in_ty(m, n, 0);
	int64_t sh[ONNX_MAX_RANK];
	int r = onnx_const_ints(m, onnx_node_in(m, n, 1), sh, ONNX_MAX_RANK);
	if (r < 0 || r > ONNX_MAX_RANK)
		return NULL;
	bool allowzero = onnx_attr_int(n, "allowzero", 0) != 0;
	struct onnx_type *o = new_type(m, elem, r);
	if (o == NULL)
		return NULL;
	int neg = -1;
	for (int i = 0; i < r; i++) {
		if (sh[i] == 0 && !allowzero) {
			o->dims[i] = shaped(x) && i < x->rank ? x->dims[i] : unknown_dim;
		} else if (sh[i] == -1) {
			neg = i;
			o->dims[i] = unknown_dim;
		} else {
			o->dims[i] = dim_known(sh[i]);
		}
	}
	if (neg >= 0 && shaped(x)) {
		int64_t total = 1, rest = 1;
		bool ok = true;
		for (int i = 0; i < x->rank; i++) {
			if (!x->dims[i].has_value)
				ok = false;
			else
				total *= x->dims[i].value;
		}
		for (int i = 0; i < r; i++) {
			if (i == neg)
				continue;
			if (!o->dims[i].has_value)
				ok = false;
			else
				rest *= o->dims[i].value;
		}
		if (ok && rest > 0 && total % rest == 0)
			o->dims[neg] = dim_known(total / rest);
	}
	return o;
}

static int infer_split(struct onnx_model *m, const struct onnx_node *n, int elem,
		       struct onnx_type **outs)
{
	const struct onnx_type *x = in_ty(m, n, 0);
	if (!shaped(x))
		return -1;
	int64_t axis = norm_axis(onnx_attr_int(n, "axis", 0), x->rank);
	if (axis < 0 || axis >= x->rank)
		return -1;
	int64_t sp[1024];
	int k = onnx_attr_ints(n, "split", sp, 1024);
	if (k < 0 && n->nin > 1)
		k = onnx_const_ints(m, onnx_node_in(m, n, 1), sp, 1024);
	if (k < 0 && x->dims[axis].has_value && n->nout > 0 && n->nout <= 1024) {
		int64_t tot = x->dims[axis].value, per = (tot + n->nout - 1) / n->nout;
		for (uint32_t i = 0; i < n->nout; i++) {
			sp[i] = tot > per ? per : tot;
			tot -= sp[i];
		}
		k = (int)n->nout;
	}
	for (uint32_t i = 0; i < n->nout; i++) {
		outs[i] = copy_type(m, elem, x);
		if (outs[i] == NULL)
			return -1;
		outs[i]->dims[axis] = k == (int)n->nout ? dim_known(sp[i]) : unknown_dim;
	}
	return 0;
}

static struct onnx_type *infer_slice(struct onnx_model *m,
				     const struct onnx_node *n, int elem)
{
	const struct onnx_type *x = in_ty(m, n, 0);
	if (!shaped(x))
		return NULL;
	int64_t st[ONNX_MAX_RANK], en[ONNX_MAX_RANK], ax[ONNX_MAX_RANK], sp[ONNX_MAX_RANK];
	int ns, ne, na, nst;
	if (n->nin >= 3) {
		ns = onnx_const_ints(m, onnx_node_in(m, n, 1), st, ONNX_MAX_RANK);
		ne = onnx_const_ints(m, onnx_node_in(m, n, 2), en, ONNX_MAX_RANK);
		na = onnx_node_in(m, n, 3) != ONNX_NONE
			? onnx_const_ints(m, onnx_node_in(m, n, 3), ax, ONNX_MAX_RANK) : -2;
		nst = onnx_node_in(m, n, 4) != ONNX_NONE
			? onnx_const_ints(m, onnx_node_in(m, n, 4), sp, ONNX_MAX_RANK) : -2;
	} else {
		ns = onnx_attr_ints(n, "starts", st, ONNX_MAX_RANK);
		ne = onnx_attr_ints(n, "ends", en, ONNX_MAX_RANK);
		na = onnx_attr_ints(n, "axes", ax, ONNX_MAX_RANK);
		if (na < 0)
			na = -2;
		nst = -2;
	}
	struct onnx_type *o = copy_type(m, elem, x);
	if (o == NULL)
		return NULL;
	if (ns < 0 || ne != ns || ns > x->rank || (na != -2 && na != ns) ||
	    (nst != -2 && nst != ns)) {
		for (int i = 0; i < o->rank; i++)
			o->dims[i] = unknown_dim;
		return o;
	}
	for (int i = 0; i < ns; i++) {
		int64_t a = na == -2 ? i : norm_axis(ax[i], x->rank);
		int64_t step = nst == -2 ? 1 : sp[i];
		if (a < 0 || a >= x->rank || step == 0)
			return NULL;
		if (!x->dims[a].has_value) {
			o->dims[a] = unknown_dim;
			continue;
		}
		int64_t dim = x->dims[a].value, s = st[i], e = en[i];
		if (s < 0)
			s += dim;
		if (e < 0)
			e += dim;
		if (step > 0) {
			s = s < 0 ? 0 : s > dim ? dim : s;
			e = e < 0 ? 0 : e > dim ? dim : e;
			o->dims[a] = dim_known(e > s ? (e - s + step - 1) / step : 0);
		} else {
			s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
			e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
			o->dims[a] = dim_known(s > e ? (s - e + (-step) - 1) / (-step) : 0);
		}
	}
	return o;
}

static struct onnx_type *infer_resize(struct onnx_model *m,
				      const struct onnx_node *n, int elem)
{
	const struct onnx_type *x = in_ty(m, n, 0);
	if (!shaped(x))
		return NULL;
	int64_t sizes[ONNX_MAX_RANK];
	double sc[ONNX_MAX_RANK];
	struct onnx_type *o = copy_type(m, elem, x);
	if (o == NULL)
		return NULL;
	uint32_t si = strcmp(n->op, "Upsample") == 0 || n->nin == 2 ? 1 : 2;
	if (onnx_node_in(m, n, 3) != ONNX_NONE &&
	    onnx_const_ints(m, onnx_node_in(m, n, 3), sizes, ONNX_MAX_RANK) == x->rank) {
		for (int i = 0; i < x->rank; i++)
			o->dims[i] = dim_known(sizes[i]);
		return o;
	}
	int k = onnx_node_in(m, n, si) != ONNX_NONE
		? onnx_const_floats(m, onnx_node_in(m, n, si), sc, ONNX_MAX_RANK) : -1;
	if (k < 0 && onnx_attr_find(n, "scales")) {
		/* Upsample-7 keeps its scales in an attribute of floats */
		k = -1;
	}
	for (int i = 0; i < x->rank; i++) {
		if (k == x->rank && x->dims[i].has_value)
			o->dims[i] = dim_known((int64_t)floor((double)x->dims[i].value * sc[i]));
		else if (k != x->rank)
			o->dims[i] = unknown_dim;
	}
	return o;
}

static int elem_of(const struct onnx_type *t)
{
	return t && (t->kind == OK_TENSOR || t->kind == OK_SPARSE) ? t->elem : 0;
}

static bool is_op(const struct onnx_node *n, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(n->op, *list) == 0)
			return true;
	return false;
}

static const char *const unary_ops[] = {
	"Relu", "Sigmoid", "Tanh", "Exp", "Log", "Abs", "Neg", "Sqrt",
	"LeakyRelu", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu",
	"Softplus", "Softsign", "Erf", "Identity", "Dropout", "Cast", "CastLike",
	"Clip", "Softmax", "LogSoftmax", "Hardmax", "BatchNormalization",
	"InstanceNormalization", "LayerNormalization", "GroupNormalization",
	"LpNormalization", "Floor", "Ceil", "Round", "Reciprocal", "Sin", "Cos",
	"Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh",
	"Atanh", "Not", "Mish", "Gelu", "Sign", "IsNaN", "IsInf", "Shrink",
	"ThresholdedRelu", "LRN", "MeanVarianceNormalization", "QuantizeLinear",
	"DequantizeLinear", "CumSum", "Swish", "Silu", "BitwiseNot",
	"ScatterElements", "ScatterND", "Scatter", "Trilu", "ReverseSequence",
	NULL,
};
static const char *const binary_ops[] = {
	"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean",
	"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And",
	"Or", "Xor", "Where", "PRelu", "Mod", "BitShift", "BitwiseAnd",
	"BitwiseOr", "BitwiseXor", NULL,
};
static const char *const bool_ops[] = {
	"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And",
	"Or", "Xor", "Not", "IsNaN", "IsInf", NULL,
};
static const char *const int64_ops[] = {
	"Shape", "Size", "ArgMax", "ArgMin", "NonZero", "NonMaxSuppression", NULL,
};

static void infer_node(struct onnx_model *m, const struct onnx_node *n)
{
	struct onnx_type *outs[1024] = { 0 };
	if (n->nout == 0 || n->nout > 1024 || n->domain[0] != '\0')
		return;
	const struct onnx_type *x = in_ty(m, n, 0);
	int elem = elem_of(x);
	if (is_op(n, bool_ops))
		elem = 9;
	else if (is_op(n, int64_ops))
		elem = 7;
	else if (strcmp(n->op, "Cast") == 0)
		elem = (int)onnx_attr_int(n, "to", 0);
	else if (strcmp(n->op, "CastLike") == 0)
		elem = elem_of(in_ty(m, n, 1));
	else if (strcmp(n->op, "Where") == 0)
		elem = elem_of(in_ty(m, n, 1));
	else if (strcmp(n->op, "DequantizeLinear") == 0)
		elem = 1;
	else if (strcmp(n->op, "QuantizeLinear") == 0)
		elem = n->nin > 2 && elem_of(in_ty(m, n, 2)) ? elem_of(in_ty(m, n, 2)) : 2;
	else if (strcmp(n->op, "Constant") == 0 || strcmp(n->op, "ConstantOfShape") == 0)
		elem = 0;

	if (is_op(n, unary_ops)) {
		outs[0] = copy_type(m, elem, x);
	} else if (is_op(n, binary_ops)) {
		const struct onnx_type *ts[64];
		uint32_t k = 0;
		for (; k < n->nin && k < 64; k++)
			ts[k] = in_ty(m, n, k);
		if (k == n->nin)
			outs[0] = broadcast(m, elem, ts, (int)k);
	} else if (strcmp(n->op, "Conv") == 0) {
		outs[0] = infer_conv_pool(m, n, elem, true);
	} else if (strcmp(n->op, "MaxPool") == 0 || strcmp(n->op, "AveragePool") == 0 ||
		   strcmp(n->op, "LpPool") == 0) {
		outs[0] = infer_conv_pool(m, n, elem, false);
		if (outs[0] && n->nout > 1)
			outs[1] = copy_type(m, 7, outs[0]);
	} else if (strcmp(n->op, "GlobalAveragePool") == 0 ||
		   strcmp(n->op, "GlobalMaxPool") == 0 ||
		   strcmp(n->op, "GlobalLpPool") == 0) {
		outs[0] = copy_type(m, elem, x);
		for (int i = 2; outs[0] && i < outs[0]->rank; i++)
			outs[0]->dims[i] = dim_known(1);
	} else if (strcmp(n->op, "Reshape") == 0) {
		outs[0] = infer_reshape(m, n, elem);
	} else if (strcmp(n->op, "Transpose") == 0 && shaped(x)) {
		int64_t perm[ONNX_MAX_RANK];
		int k = onnx_attr_ints(n, "perm", perm, ONNX_MAX_RANK);
		bool valid = true;
		for (int i = 0; i < x->rank; i++) {
			int64_t p = k == x->rank ? perm[i] : x->rank - 1 - i;
			valid = valid && p >= 0 && p < x->rank;
		}
		struct onnx_type *o = valid ? copy_type(m, elem, x) : NULL;
		if (o != NULL)
			for (int i = 0; i < x->rank; i++)
				o->dims[i] = x->dims[k == x->rank ? perm[i] : x->rank - 1 - i];
		outs[0] = o;
	} else if (strcmp(n->op, "Concat") == 0 && shaped(x)) {
		int64_t axis = norm_axis(onnx_attr_int(n, "axis", 0), x->rank);
		outs[0] = axis >= 0 && axis < x->rank ? copy_type(m, elem, x) : NULL;
		int64_t sum = 0;
		bool known = true;
		for (uint32_t k = 0; outs[0] && k < n->nin; k++) {
			const struct onnx_type *t = in_ty(m, n, k);
			if (!shaped(t) || t->rank != x->rank) {
				outs[0] = NULL;
				break;
			}
			if (t->dims[axis].has_value)
				sum += t->dims[axis].value;
			else
				known = false;
		}
		if (outs[0])
			outs[0]->dims[axis] = known ? dim_known(sum) : unknown_dim;
	} else if (strcmp(n->op, "Flatten") == 0 && shaped(x)) {
		int64_t axis = norm_axis(onnx_attr_int(n, "axis", 1), x->rank);
		if (axis >= 0 && axis <= x->rank && (outs[0] = new_type(m, elem, 2))) {
			int64_t a = 1, b = 1;
			bool ka = true, kb = true;
			for (int i = 0; i < x->rank; i++) {
				bool *k = i < axis ? &ka : &kb;
				int64_t *v = i < axis ? &a : &b;
				if (x->dims[i].has_value)
					*v *= x->dims[i].value;
				else
					*k = false;
			}
			outs[0]->dims[0] = ka ? dim_known(a) : axis == 1 ? x->dims[0] : unknown_dim;
			outs[0]->dims[1] = kb ? dim_known(b) : unknown_dim;
		}
	} else if (strcmp(n->op, "Gemm") == 0) {
		const struct onnx_type *b = in_ty(m, n, 1);
		if (shaped(x) && shaped(b) && x->rank == 2 && b->rank == 2 &&
		    (outs[0] = new_type(m, elem, 2))) {
			outs[0]->dims[0] = x->dims[onnx_attr_int(n, "transA", 0) ? 1 : 0];
			outs[0]->dims[1] = b->dims[onnx_attr_int(n, "transB", 0) ? 0 : 1];
		}
	} else if (strcmp(n->op, "MatMul") == 0) {
		const struct onnx_type *b = in_ty(m, n, 1);
		if (shaped(x) && shaped(b) && x->rank >= 2 && b->rank >= 2) {
			struct onnx_type xa = *x, xb = *b;
			xa.rank -= 2;
			xb.rank -= 2;
			const struct onnx_type *ts[2] = { &xa, &xb };
			struct onnx_type *bt = broadcast(m, elem, ts, 2);
			if (bt && (outs[0] = new_type(m, elem, bt->rank + 2))) {
				if (bt->rank)
					memcpy(outs[0]->dims, bt->dims, (size_t)bt->rank * sizeof(*bt->dims));
				outs[0]->dims[bt->rank] = x->dims[x->rank - 2];
				outs[0]->dims[bt->rank + 1] = b->dims[b->rank - 1];
			}
		}
	} else if (strcmp(n->op, "Split") == 0) {
		if (infer_split(m, n, elem, outs) != 0)
			memset(outs, 0, sizeof(outs));
	} else if (strcmp(n->op, "Slice") == 0) {
		outs[0] = infer_slice(m, n, elem);
	} else if (strcmp(n->op, "Resize") == 0 || strcmp(n->op, "Upsample") == 0) {
		outs[0] = infer_resize(m, n, elem);
	} else if ((strcmp(n->op, "Unsqueeze") == 0 || strcmp(n->op, "Squeeze") == 0) &&
		   shaped(x)) {
		int64_t ax[ONNX_MAX_RANK];
		int k = onnx_attr_ints(n, "axes", ax, ONNX_MAX_RANK);
		if (k < 0 && n->nin > 1)
			k = onnx_const_ints(m, onnx_node_in(m, n, 1), ax, ONNX_MAX_RANK);
		bool unsq = n->op[0] == 'U';
		if (unsq && k > 0 && x->rank + k <= ONNX_MAX_RANK &&
		    (outs[0] = new_type(m, elem, x->rank + k))) {
			bool mark[ONNX_MAX_RANK] = { false };
			for (int i = 0; i < k; i++) {
				int64_t a = norm_axis(ax[i], x->rank + k);
				if (a < 0 || a >= x->rank + k)
					return;
				mark[a] = true;
			}
			for (int i = 0, j = 0; i < x->rank + k; i++)
				outs[0]->dims[i] = mark[i] ? dim_known(1) : x->dims[j++];
		} else if (!unsq && k <= ONNX_MAX_RANK) {
			bool drop[ONNX_MAX_RANK] = { false };
			int nd = 0;
			for (int i = 0; i < x->rank; i++) {
				if (k < 0) {
					if (!x->dims[i].has_value)
						return;
					drop[i] = x->dims[i].value == 1;
				}
			}
			for (int i = 0; i < k; i++) {
				int64_t a = norm_axis(ax[i], x->rank);
				if (a < 0 || a >= x->rank)
					return;
				drop[a] = true;
			}
			for (int i = 0; i < x->rank; i++)
				nd += !drop[i];
			if ((outs[0] = new_type(m, elem, nd)))
				for (int i = 0, j = 0; i < x->rank; i++)
					if (!drop[i])
						outs[0]->dims[j++] = x->dims[i];
		}
	} else if (strcmp(n->op, "Shape") == 0 && shaped(x)) {
		if ((outs[0] = new_type(m, 7, 1)))
			outs[0]->dims[0] = dim_known(x->rank);
	} else if (strcmp(n->op, "Constant") == 0 && n->nattr == 1) {
		const struct onnx_attr *a = &n->attrs[0];
		if (strcmp(a->name, "value") == 0) {
			struct pbr r = { a->body, a->body + a->len };
			struct pbf f;
			while (pb_next(&r, &f, "AttributeProto", NULL) > 0) {
				if (f.num != 5 || f.wt != 2)
					continue;
				struct pbr tr = { f.data, f.data + f.len };
				struct pbf g;
				int dt = 0, nd = 0;
				int64_t dims[ONNX_MAX_RANK];
				while (pb_next(&tr, &g, "TensorProto", NULL) > 0) {
					if (g.num == 2 && g.wt == 0)
						dt = (int)g.v;
					else if (g.num == 1 && g.wt == 0 && nd < ONNX_MAX_RANK)
						dims[nd++] = (int64_t)g.v;
					else if (g.num == 1 && g.wt == 2) {
						const uint8_t *q = g.data, *e = g.data + g.len;
						uint64_t v;
						while (q < e && nd < ONNX_MAX_RANK &&
						       pb_varint(&q, e, &v) == 0)
							dims[nd++] = (int64_t)v;
					}
				}
				if ((outs[0] = new_type(m, dt, nd)))
					for (int i = 0; i < nd; i++)
						outs[0]->dims[i] = dim_known(dims[i]);
			}
		} else if (strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_int") == 0) {
			outs[0] = new_type(m, a->name[6] == 'f' ? 1 : 7, 0);
		} else if (strcmp(a->name, "value_ints") == 0 || strcmp(a->name, "value_floats") == 0) {
			int64_t tmp[1];
			int k = onnx_attr_ints(n, a->name, tmp, 1);
			if (a->name[6] == 'f') {
				/* floats: count the packed fixed32 payload */
				struct pbr r = { a->body, a->body + a->len };
				struct pbf f;
				k = 0;
				while (pb_next(&r, &f, "AttributeProto", NULL) > 0)
					if (f.num == 7)
						k += f.wt == 2 ? (int)(f.len / 4) : 1;
			}
			if (k >= 0 && (outs[0] = new_type(m, a->name[6] == 'f' ? 1 : 7, 1)))
				outs[0]->dims[0] = dim_known(k);
		}
	} else if (strcmp(n->op, "ConstantOfShape") == 0) {
		int64_t sh[ONNX_MAX_RANK];
		int k = onnx_const_ints(m, onnx_node_in(m, n, 0), sh, ONNX_MAX_RANK);
		int dt = 1;
		const struct onnx_attr *a = onnx_attr_find(n, "value");
		if (a) {
			struct pbr r = { a->body, a->body + a->len };
			struct pbf f;
			while (pb_next(&r, &f, "AttributeProto", NULL) > 0)
				if (f.num == 5 && f.wt == 2) {
					struct pbr tr = { f.data, f.data + f.len };
					struct pbf g;
					while (pb_next(&tr, &g, "TensorProto", NULL) > 0)
						if (g.num == 2 && g.wt == 0)
							dt = (int)g.v;
				}
		}
		if (k >= 0 && k <= ONNX_MAX_RANK && (outs[0] = new_type(m, dt, k)))
			for (int i = 0; i < k; i++)
				outs[0]->dims[i] = dim_known(sh[i]);
	} else if ((strcmp(n->op, "ArgMax") == 0 || strcmp(n->op, "ArgMin") == 0 ||
		    strncmp(n->op, "Reduce", 6) == 0) && shaped(x)) {
		int64_t ax[ONNX_MAX_RANK];
		int k;
		if (n->op[0] == 'A') {
			ax[0] = onnx_attr_int(n, "axis", 0);
			k = 1;
		} else {
			k = onnx_attr_ints(n, "axes", ax, ONNX_MAX_RANK);
			if (k < 0 && onnx_node_in(m, n, 1) != ONNX_NONE)
				k = onnx_const_ints(m, onnx_node_in(m, n, 1), ax, ONNX_MAX_RANK);
			if (k < 0 && onnx_node_in(m, n, 1) != ONNX_NONE)
				return;
		}
		bool keep = onnx_attr_int(n, "keepdims", 1) != 0;
		bool red[ONNX_MAX_RANK] = { false };
		if (k < 0 || k == 0) {
			if (k == 0 && onnx_attr_int(n, "noop_with_empty_axes", 0))
				return;
			for (int i = 0; i < x->rank; i++)
				red[i] = true;
		}
		for (int i = 0; i < k && i < ONNX_MAX_RANK; i++) {
			int64_t a = norm_axis(ax[i], x->rank);
			if (a < 0 || a >= x->rank)
				return;
			red[a] = true;
		}
		int nd = 0;
		for (int i = 0; i < x->rank; i++)
			nd += keep || !red[i];
		if ((outs[0] = new_type(m, elem, nd)))
			for (int i = 0, j = 0; i < x->rank; i++) {
				if (red[i] && keep)
					outs[0]->dims[j++] = dim_known(1);
				else if (!red[i])
					outs[0]->dims[j++] = x->dims[i];
			}
	} else if (strcmp(n->op, "GatherElements") == 0) {
		outs[0] = copy_type(m, elem, in_ty(m, n, 1));
	} else if (strcmp(n->op, "Gather") == 0 && shaped(x)) {
		const struct onnx_type *ix = in_ty(m, n, 1);
		int64_t axis = norm_axis(onnx_attr_int(n, "axis", 0), x->rank);
		if (shaped(ix) && axis >= 0 && axis < x->rank &&
		    x->rank - 1 + ix->rank <= ONNX_MAX_RANK &&
		    (outs[0] = new_type(m, elem, x->rank - 1 + ix->rank))) {
			int j = 0;
			for (int i = 0; i < axis; i++)
				outs[0]->dims[j++] = x->dims[i];
			for (int i = 0; i < ix->rank; i++)
				outs[0]->dims[j++] = ix->dims[i];
			for (int i = (int)axis + 1; i < x->rank; i++)
				outs[0]->dims[j++] = x->dims[i];
		}
	} else if ((strcmp(n->op, "DepthToSpace") == 0 || strcmp(n->op, "SpaceToDepth") == 0) &&
		   shaped(x) && x->rank == 4) {
		int64_t b = onnx_attr_int(n, "blocksize", 0);
		bool d2s = n->op[0] == 'D';
		if (b > 0 && (outs[0] = copy_type(m, elem, x))) {
			struct onnx_dim *d = outs[0]->dims;
			/* DepthToSpace: C/(b*b), H*b, W*b; SpaceToDepth the
			 * reverse */
			if (d[1].has_value)
				d[1].value = d2s ? d[1].value / (b * b) : d[1].value * b * b;
			for (int i = 2; i < 4; i++)
				if (d[i].has_value)
					d[i].value = d2s ? d[i].value * b : d[i].value / b;
		}
	}
	/* Types the tables above do not cover: at least the elem type of a
	 * same-type op, so the writer can still type an output. */
	for (uint32_t k = 0; k < n->nout; k++) {
		uint32_t t = onnx_node_out(m, n, k);
		if (t == ONNX_NONE)
			continue;
		struct onnx_tensor *tt = &m->tensors[t];
		if (tt->ty != NULL && tt->ty->rank >= 0)
			continue;
		if (outs[k] == NULL && k == 0 && elem != 0 && (tt->ty == NULL || tt->ty->elem == 0))
			outs[k] = new_type(m, elem, -1);
		if (outs[k] == NULL)
			continue;
		if (tt->ty != NULL && tt->ty->kind == OK_TENSOR && tt->ty->elem != 0 &&
		    outs[k]->elem != tt->ty->elem)
			outs[k]->elem = tt->ty->elem;
		tt->ty = outs[k];
		tt->inferred = true;
	}
}

int onnx_infer_types(struct onnx_model *m, struct kiln_err *err)
{
	struct onnx_tyset set = { 0 };
	int rc = 0;
	m->tscratch_cap = 64 * 1024;
	m->tscratch_used = 0;
	m->tscratch = malloc(m->tscratch_cap);
	if (m->tscratch == NULL)
		rc = KILN_ENOMEM;
	for (uint32_t t = 0; rc == 0 && t < m->ntensors; t++) {
		struct onnx_tensor *x = &m->tensors[t];
		if (x->vi >= 0 && m->vinfos[x->vi].has_type)
			x->ty = &m->vinfos[x->vi].type;
		if (x->init >= 0 && (x->ty == NULL || x->ty->rank < 0)) {
			const struct onnx_init *in = &m->inits[x->init];
			m->tscratch_used = 0;
			struct onnx_type *ty = new_type(m, in->data_type, in->ndims);
			if (ty == NULL) {
				rc = KILN_ENOMEM;
				break;
			}
			if (in->sparse)
				ty->kind = OK_SPARSE;
			for (int i = 0; i < in->ndims; i++)
				ty->dims[i] = dim_known(in->dims[i]);
			if ((x->ty = onnx_type_settle(m, &set, ty)) == NULL)
				rc = KILN_ENOMEM;
		}
	}
	for (uint32_t i = 0; rc == 0 && i < m->nnodes; i++) {
		const struct onnx_node *n = &m->nodes[m->topo[i]];
		m->tscratch_used = 0;
		infer_node(m, n);
		for (uint32_t k = 0; rc == 0 && k < n->nout; k++) {
			uint32_t t = onnx_node_out(m, n, k);
			if (t == ONNX_NONE || !m->tensors[t].inferred ||
			    m->tensors[t].ty == NULL)
				continue;
			if ((m->tensors[t].ty = onnx_type_settle(m, &set, m->tensors[t].ty)) == NULL)
				rc = KILN_ENOMEM;
		}
	}
	free(set.v);
	free(m->tscratch);
	m->tscratch = NULL;
	if (rc != 0)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	return 0;
}
