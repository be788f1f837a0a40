/*
 * onnx_types: tensor types.  TypeProto as the file has it (walked by hand:
 * it nests, and protobuf-c would recurse without a bound), the names of
 * element types and types, shapes as text and JSON, and the merging of
 * equal inferred types (onnx_infer.c builds them, this file keeps one copy
 * of each).
 */
#include "conversion/onnx_read.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- TypeProto (hand-walked: it nests, and protobuf-c would recurse without a
 * bound) ------------------------------------------------------------------- */

static int parse_tensor_type(struct onnx_model *m, const uint8_t *p, size_t len,
			     struct onnx_type *t, struct kiln_err *err)
{
	struct pbr r = { p, p + len };
	struct pbf f;
	int rc;
	const uint8_t *shape = NULL;
	size_t shapelen = 0;
	t->rank = -1;
	while ((rc = pb_next(&r, &f, "TypeProto.Tensor", err)) > 0) {
		if (f.num == 1) {
			if ((rc = onnx_want_wt(&f, 0, "TypeProto.Tensor", "elem_type", err)))
				return rc;
			t->elem = (int)f.v;
			onnx_note_type(m, (int64_t)f.v);
		} else if (f.num == 2) {
			if ((rc = onnx_want_wt(&f, 2, "TypeProto.Tensor", "shape", err)))
				return rc;
			shape = f.data;
			shapelen = f.len;
		}
	}
	if (rc < 0)
		return rc;
	if (shape == NULL)
		return 0;
	/* TensorShapeProto: count the dims, then fill them. */
	int rank = 0;
	r = (struct pbr){ shape, shape + shapelen };
	while ((rc = pb_next(&r, &f, "TensorShapeProto", err)) > 0) {
		if (f.num != 1)
			continue;
		if ((rc = onnx_want_wt(&f, 2, "TensorShapeProto", "dim", err)))
			return rc;
		if (++rank > ONNX_MAX_RANK)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "a tensor type has more than %d dims",
					 ONNX_MAX_RANK);
	}
	if (rc < 0)
		return rc;
	t->rank = rank;
	t->dims = rank ? onnx_arena_alloc(m, rank * sizeof(*t->dims)) : NULL;
	if (rank && t->dims == NULL)
		return onnx_oom(err);
	r = (struct pbr){ shape, shape + shapelen };
	int k = 0;
	while ((rc = pb_next(&r, &f, "TensorShapeProto", err)) > 0) {
		if (f.num != 1)
			continue;
		struct onnx_dim *d = &t->dims[k++];
		d->has_value = false;
		d->value = 0;
		d->param = NULL;
		struct pbr dr = { f.data, f.data + f.len };
		struct pbf g;
		while ((rc = pb_next(&dr, &g, "TensorShapeProto.Dimension", err)) > 0) {
			if (g.num == 1 && g.wt == 0) {
				d->has_value = true;
				d->param = NULL;
				d->value = (int64_t)g.v;
			} else if (g.num == 2 && g.wt == 2) {
				char why[160];
				if (!onnx_name_ok(g.data, g.len, why, sizeof(why)))
					return onnx_bad_name(err, why, "a dim name");
				d->param = onnx_arena_strdup(m, (const char *)g.data, g.len);
				if (d->param == NULL)
					return onnx_oom(err);
				d->has_value = false;
			}
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

static int inner_type(struct onnx_model *m, const uint8_t *p, size_t len,
		      uint32_t field, int depth, struct onnx_type *inner,
		      struct kiln_err *err)
{
	struct pbr r = { p, p + len };
	struct pbf f;
	int rc;
	memset(inner, 0, sizeof(*inner));
	inner->rank = -1;
	while ((rc = pb_next(&r, &f, "TypeProto", err)) > 0) {
		if (f.num == field && f.wt == 2) {
			rc = onnx_parse_type(m, f.data, f.len, depth + 1, inner, err);
			if (rc < 0)
				return rc;
		}
	}
	return rc;
}

int onnx_parse_type(struct onnx_model *m, const uint8_t *p, size_t len,
		      int depth, struct onnx_type *t, struct kiln_err *err)
{
	if (depth > 16)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "a type nests more than 16 levels deep");
	struct pbr r = { p, p + len };
	struct pbf f;
	int rc;
	memset(t, 0, sizeof(*t));
	t->rank = -1;
	while ((rc = pb_next(&r, &f, "TypeProto", err)) > 0) {
		struct onnx_type in;
		char buf[200];
		if (f.wt != 2)
			continue;
		switch (f.num) {
		case 1:
		case 8:
			t->kind = f.num == 1 ? OK_TENSOR : OK_SPARSE;
			rc = parse_tensor_type(m, f.data, f.len, t, err);
			if (rc < 0)
				return rc;
			if (f.num == 8) {
				snprintf(buf, sizeof(buf), "sparse_tensor(%s)",
					 onnx_elem_type_name(t->elem));
				t->desc = onnx_arena_strdup(m, buf, strlen(buf));
			}
			break;
		case 4:
		case 9:
			rc = inner_type(m, f.data, f.len, 1, depth, &in, err);
			if (rc < 0)
				return rc;
			t->kind = f.num == 4 ? OK_SEQUENCE : OK_OPTIONAL;
			t->elem = in.elem;
			snprintf(buf, sizeof(buf), "%s(%s)",
				 f.num == 4 ? "sequence" : "optional",
				 onnx_type_name(&in));
			t->desc = onnx_arena_strdup(m, buf, strlen(buf));
			break;
		case 5: {
			int key = 0;
			struct pbr mr = { f.data, f.data + f.len };
			struct pbf g;
			while ((rc = pb_next(&mr, &g, "TypeProto.Map", err)) > 0)
				if (g.num == 1 && g.wt == 0)
					key = (int)g.v;
			if (rc < 0)
				return rc;
			rc = inner_type(m, f.data, f.len, 2, depth, &in, err);
			if (rc < 0)
				return rc;
			t->kind = OK_MAP;
			t->elem = in.elem;
			snprintf(buf, sizeof(buf), "map(%s,%s)",
				 onnx_elem_type_name(key), onnx_type_name(&in));
			t->desc = onnx_arena_strdup(m, buf, strlen(buf));
			break;
		}
		case 7:
			t->kind = OK_OPAQUE;
			t->desc = "opaque";
			break;
		}
	}
	return rc;
}

const char *onnx_elem_type_name(int t)
{
	/* TensorProto.DataType, in enum order (onnx.proto). */
	static const char *const names[] = {
		"undefined", "float32", "uint8", "int8", "uint16", "int16",
		"int32", "int64", "string", "bool", "float16", "float64",
		"uint32", "uint64", "complex64", "complex128", "bfloat16",
		"float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz",
		"uint4", "int4", "float4e2m1",
	};
	if (t < 0 || (size_t)t >= sizeof(names) / sizeof(names[0]))
		return "undefined";
	return names[t];
}

/* --- type text --------------------------------------------------------------- */
const char *onnx_type_name(const struct onnx_type *t)
{
	if (t == NULL || t->kind == OK_UNKNOWN)
		return "unknown";
	if (t->kind == OK_TENSOR)
		return t->elem ? onnx_elem_type_name(t->elem) : "unknown";
	return t->desc ? t->desc : "unknown";
}

void onnx_shape_text(const struct onnx_type *t, char *buf, size_t size)
{
	struct onnx_sbuf b = { buf, size, 0 };
	if (size == 0)
		return;
	buf[0] = '\0';
	if (t == NULL || t->rank < 0) {
		onnx_sb_add(&b, "?");
		return;
	}
	onnx_sb_add(&b, "[");
	for (int i = 0; i < t->rank; i++) {
		const struct onnx_dim *d = &t->dims[i];
		if (d->has_value)
			onnx_sb_add(&b, "%s%lld", i ? ", " : "", (long long)d->value);
		else if (d->param)
			onnx_sb_add(&b, "%s%s", i ? ", " : "", d->param);
		else
			onnx_sb_add(&b, "%s?", i ? ", " : "");
	}
	onnx_sb_add(&b, "]");
}

cJSON *onnx_shape_json(const struct onnx_type *t)
{
	if (t == NULL || t->rank < 0 || (t->kind != OK_TENSOR && t->kind != OK_SPARSE))
		return cJSON_CreateNull();
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < t->rank; i++) {
		const struct onnx_dim *d = &t->dims[i];
		cJSON *x = d->has_value ? cJSON_CreateNumber((double)d->value)
			 : d->param ? cJSON_CreateString(d->param) : cJSON_CreateNull();
		if (x == NULL) {
			cJSON_Delete(a);
			return NULL;
		}
		cJSON_AddItemToArray(a, x);
	}
	return a;
}

/* --- text buffers ------------------------------------------------------------ */
void onnx_sb_add(struct onnx_sbuf *b, const char *fmt, ...)
{
	if (b->len + 1 >= b->size)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	if (k > 0)
		b->len += (size_t)k < b->size - b->len ? (size_t)k : b->size - b->len - 1;
}


/* --- merging equal types ------------------------------------------------------- */
/* New types are built in m->tscratch (reset for every node) and merged
 * with an equal type seen before once the node is done (onnx_type_settle): a
 * chain of a million Adds of [1, 3, 640, 640] holds one inferred type, not
 * a million.  A node that overflows the scratch gets arena types, which
 * are merged all the same. */
void *onnx_type_alloc(struct onnx_model *m, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (m->tscratch != NULL && m->tscratch_cap - m->tscratch_used >= n) {
		void *p = m->tscratch + m->tscratch_used;
		m->tscratch_used += n;
		return p;
	}
	return onnx_arena_alloc(m, n);
}

static bool in_scratch(const struct onnx_model *m, const struct onnx_type *t)
{
	return m->tscratch != NULL && (const uint8_t *)t >= m->tscratch &&
	       (const uint8_t *)t < m->tscratch + m->tscratch_cap;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static uint32_t str_hash(uint32_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return (h ^ 0xff) * 16777619u;
}

static uint32_t type_hash(const struct onnx_type *t)
{
	uint32_t h = 2166136261u;
	int64_t head[3] = { t->kind, t->elem, t->rank };
	for (int i = 0; i < 3; i++)
		h = (h ^ (uint32_t)head[i]) * 16777619u;
	for (int i = 0; i < t->rank; i++) {
		const struct onnx_dim *d = &t->dims[i];
		uint64_t v = d->has_value ? (uint64_t)d->value : UINT64_MAX;
		h = (h ^ (uint32_t)v) * 16777619u;
		h = (h ^ (uint32_t)(v >> 32)) * 16777619u;
		h = str_hash(h, d->param);
	}
	return str_hash(h, t->desc);
}

static bool type_eq(const struct onnx_type *a, const struct onnx_type *b)
{
	if (a->kind != b->kind || a->elem != b->elem || a->rank != b->rank ||
	    !same_str(a->desc, b->desc))
		return false;
	for (int i = 0; i < a->rank; i++) {
		const struct onnx_dim *x = &a->dims[i], *y = &b->dims[i];
		if (x->has_value != y->has_value || (x->has_value && x->value != y->value) ||
		    !same_str(x->param, y->param))
			return false;
	}
	return true;
}

/* The merged type equal to t: one seen before, else t itself (copied out
 * of the scratch).  NULL when out of memory. */
const struct onnx_type *onnx_type_settle(struct onnx_model *m, struct onnx_tyset *s,
				      const struct onnx_type *t)
{
	if ((s->count + 1) * 2 > s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 256;
		const struct onnx_type **v = calloc(cap, sizeof(*v));
		if (v == NULL)
			return NULL;
		for (uint32_t k = 0; k < s->cap; k++) {
			if (s->v[k] == NULL)
				continue;
			uint32_t i = type_hash(s->v[k]) & (cap - 1);
			while (v[i] != NULL)
				i = (i + 1) & (cap - 1);
			v[i] = s->v[k];
		}
		free(s->v);
		s->v = v;
		s->cap = cap;
	}
	uint32_t i = type_hash(t) & (s->cap - 1);
	for (; s->v[i] != NULL; i = (i + 1) & (s->cap - 1))
		if (type_eq(s->v[i], t))
			return s->v[i];
	if (in_scratch(m, t)) {
		struct onnx_type *c = onnx_arena_alloc(m, sizeof(*c));
		if (c == NULL)
			return NULL;
		*c = *t;
		if (t->rank > 0) {
			c->dims = onnx_arena_alloc(m, (size_t)t->rank * sizeof(*c->dims));
			if (c->dims == NULL)
				return NULL;
			memcpy(c->dims, t->dims, (size_t)t->rank * sizeof(*c->dims));
		}
		t = c;
	}
	s->v[i] = t;
	s->count++;
	return t;
}
