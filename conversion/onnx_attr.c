/*
 * onnx_attr: a node's attributes (found by name, read as ints, ints or a
 * string from the AttributeProto bytes), their one-line summary for the
 * graph view, and the values of constant tensors (initializers and
 * Constant nodes) that inference, suggestions and the board checks read:
 * Reshape shapes, Resize scales, YOLOv5 anchors.
 */
#include "conversion/onnx_priv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- attributes ------------------------------------------------------------ */
const struct onnx_attr *onnx_attr_find(const struct onnx_node *n,
				       const char *name)
{
	for (uint32_t i = 0; i < n->nattr; i++)
		if (strcmp(n->attrs[i].name, name) == 0)
			return &n->attrs[i];
	return NULL;
}

int64_t onnx_attr_int(const struct onnx_node *n, const char *name, int64_t def)
{
	const struct onnx_attr *a = onnx_attr_find(n, name);
	if (a == NULL)
		return def;
	struct pbr r = { a->body, a->body + a->len };
	struct pbf f;
	while (pb_next(&r, &f, "AttributeProto", NULL) > 0)
		if (f.num == 3 && f.wt == 0)
			return (int64_t)f.v;
	return def;
}

int onnx_attr_ints(const struct onnx_node *n, const char *name, int64_t *out,
		   int max)
{
	const struct onnx_attr *a = onnx_attr_find(n, name);
	if (a == NULL)
		return -1;
	struct pbr r = { a->body, a->body + a->len };
	struct pbf f;
	int cnt = 0;
	while (pb_next(&r, &f, "AttributeProto", NULL) > 0) {
		if (f.num != 8)
			continue;
		if (f.wt == 0) {
			if (cnt < max)
				out[cnt] = (int64_t)f.v;
			cnt++;
		} else if (f.wt == 2) {
			const uint8_t *q = f.data, *e = f.data + f.len;
			uint64_t v;
			while (q < e && pb_varint(&q, e, &v) == 0) {
				if (cnt < max)
					out[cnt] = (int64_t)v;
				cnt++;
			}
		}
	}
	return cnt;
}

/* String attribute into buf; false when absent. */
bool onnx_attr_str(const struct onnx_node *n, const char *name, char *buf,
		     size_t size)
{
	const struct onnx_attr *a = onnx_attr_find(n, name);
	if (a == NULL)
		return false;
	struct pbr r = { a->body, a->body + a->len };
	struct pbf f;
	while (pb_next(&r, &f, "AttributeProto", NULL) > 0)
		if (f.num == 4 && f.wt == 2) {
			size_t k = f.len < size - 1 ? f.len : size - 1;
			memcpy(buf, f.data, k);
			buf[k] = '\0';
			return true;
		}
	return false;
}

static float f32_of(uint64_t v)
{
	uint32_t u = (uint32_t)v;
	float x;
	memcpy(&x, &u, sizeof(x));
	return x;
}

/* IEEE 754 binary16 bits as a double (ONNX FLOAT16, TensorProto type 10):
 * a half-precision export (yolov5 export.py --half) keeps its constants
 * so, in raw_data or as 16-bit patterns in int32_data (onnx.proto). */
static double f16_of(uint64_t v)
{
	unsigned sign = (unsigned)(v >> 15) & 1, ex = (unsigned)(v >> 10) & 31,
		 man = (unsigned)v & 1023;
	double d = ex == 0 ? ldexp((double)man, -24)
		 : ex == 31 ? (man ? NAN : INFINITY)
		 : ldexp((double)(man | 1024), (int)ex - 25);
	return sign ? -d : d;
}

/* bfloat16 (type 16): the top half of a float32 */
static double bf16_of(uint64_t v)
{
	return f32_of((v & 0xffff) << 16);
}

static void tensor_brief(const uint8_t *p, size_t len, struct onnx_sbuf *b)
{
	struct pbr r = { p, p ? p + len : p }; /* NULL + 0 is UB */
	struct pbf f;
	int dt = 0, nd = 0;
	int64_t dims[8];
	while (pb_next(&r, &f, "TensorProto", NULL) > 0) {
		if (f.num == 2 && f.wt == 0)
			dt = (int)f.v;
		else if (f.num == 1 && f.wt == 0) {
			if (nd < 8)
				dims[nd] = (int64_t)f.v;
			nd++;
		} else if (f.num == 1 && f.wt == 2) {
			const uint8_t *q = f.data, *e = f.data + f.len;
			uint64_t v;
			while (q < e && pb_varint(&q, e, &v) == 0) {
				if (nd < 8)
					dims[nd] = (int64_t)v;
				nd++;
			}
		}
	}
	onnx_sb_add(b, "tensor(%s,[", onnx_elem_type_name(dt));
	for (int i = 0; i < nd && i < 8; i++)
		onnx_sb_add(b, "%s%lld", i ? "," : "", (long long)dims[i]);
	onnx_sb_add(b, "%s])", nd > 8 ? ",..." : "");
}

void onnx_attr_summary(const struct onnx_node *n, char *buf, size_t size)
{
	struct onnx_sbuf b = { buf, size, 0 };
	if (size == 0)
		return;
	buf[0] = '\0';
	for (uint32_t i = 0; i < n->nattr; i++) {
		const struct onnx_attr *a = &n->attrs[i];
		struct pbr r = { a->body, a->body + a->len };
		struct pbf f;
		int items = 0;
		bool list = false, shown = false;
		onnx_sb_add(&b, "%s%s=", i ? " " : "", a->name);
		while (pb_next(&r, &f, "AttributeProto", NULL) > 0) {
			switch (f.num) {
			case 2:
				onnx_sb_add(&b, "%g", (double)f32_of(f.v));
				shown = true;
				break;
			case 3:
				onnx_sb_add(&b, "%lld", (long long)(int64_t)f.v);
				shown = true;
				break;
			case 4: {
				char s[40];
				size_t k = 0;
				for (size_t j = 0; j < f.len && k < 32; j++)
					s[k++] = f.data[j] >= 0x20 && f.data[j] < 0x7f && f.data[j] != '\''
						? (char)f.data[j] : '?';
				s[k] = '\0';
				onnx_sb_add(&b, "'%s%s'", s, f.len > 32 ? "..." : "");
				shown = true;
				break;
			}
			case 5:
				tensor_brief(f.data, f.len, &b);
				shown = true;
				break;
			case 6:
			case 11:
				onnx_sb_add(&b, "%s<graph>", items++ ? "," : "");
				shown = true;
				break;
			case 7:
			case 8: {
				if (!list)
					onnx_sb_add(&b, "[");
				list = true;
				if (f.wt == 2) {
					const uint8_t *q = f.data, *e = f.data + f.len;
					while (q < e) {
						uint64_t v = 0;
						if (f.num == 8) {
							if (pb_varint(&q, e, &v) != 0)
								break;
						} else {
							if (e - q < 4)
								break;
							v = (uint64_t)q[0] | (uint64_t)q[1] << 8 |
							    (uint64_t)q[2] << 16 | (uint64_t)q[3] << 24;
							q += 4;
						}
						if (items < 8) {
							if (f.num == 8)
								onnx_sb_add(&b, "%s%lld", items ? "," : "", (long long)(int64_t)v);
							else
								onnx_sb_add(&b, "%s%g", items ? "," : "", (double)f32_of(v));
						} else if (items == 8)
							onnx_sb_add(&b, ",...");
						items++;
					}
				} else {
					if (items < 8) {
						if (f.num == 8)
							onnx_sb_add(&b, "%s%lld", items ? "," : "", (long long)(int64_t)f.v);
						else
							onnx_sb_add(&b, "%s%g", items ? "," : "", (double)f32_of(f.v));
					} else if (items == 8)
						onnx_sb_add(&b, ",...");
					items++;
				}
				break;
			}
			case 9:
				if (!list)
					onnx_sb_add(&b, "[");
				list = true;
				onnx_sb_add(&b, "%s'...'", items++ ? "," : "");
				break;
			case 10:
				if (!list)
					onnx_sb_add(&b, "[");
				list = true;
				onnx_sb_add(&b, "%s", items++ ? ",tensor" : "tensor");
				break;
			}
		}
		if (list)
			onnx_sb_add(&b, "]");
		else if (!shown)
			onnx_sb_add(&b, "?");
	}
}

/* --- constants --------------------------------------------------------------- */

/* Reads numbers of a TensorProto body: ints (as int64) or floats. */
static int tensor_values(const uint8_t *p, size_t len, bool want_float,
			 int64_t *iv, double *fv, int max)
{
	struct pbr r = { p, p + len };
	struct pbf f;
	int dt = 0, cnt = 0;
	const uint8_t *raw = NULL;
	size_t rawlen = 0;
	bool typed = false;
	while (pb_next(&r, &f, "TensorProto", NULL) > 0) {
		if (f.num == 2 && f.wt == 0)
			dt = (int)f.v;
		else if (f.num == 9 && f.wt == 2) {
			raw = f.data;
			rawlen = f.len;
		} else if (f.num == 14 && f.wt == 0 && f.v == 1)
			return -1; /* external: never opened */
	}
	r = (struct pbr){ p, p + len };
	while (raw == NULL && pb_next(&r, &f, "TensorProto", NULL) > 0) {
		/* int32_data(5) and int64_data(7) are varints; float_data(4)
		 * and double_data(10) fixed; packed (wt 2) or not */
		if (f.num != 4 && f.num != 5 && f.num != 7 && f.num != 10)
			continue;
		typed = true;
		const uint8_t *q = f.wt == 2 ? f.data : NULL, *e = q ? f.data + f.len : NULL;
		for (;;) {
			uint64_t v;
			if (q == NULL) {
				v = f.v;
			} else if (q >= e) {
				break;
			} else if (f.num == 5 || f.num == 7) {
				if (pb_varint(&q, e, &v) != 0)
					break;
			} else {
				size_t w = f.num == 4 ? 4 : 8;
				if ((size_t)(e - q) < w)
					break;
				v = 0;
				for (size_t k = 0; k < w; k++)
					v |= (uint64_t)q[k] << (8 * k);
				q += w;
			}
			if (cnt < max) {
				double d;
				int64_t i;
				if (f.num == 4) {
					d = f32_of(v); i = (int64_t)d;
				} else if (f.num == 10) {
					memcpy(&d, &v, sizeof(d)); i = (int64_t)d;
				} else if (f.num == 5 && (dt == 10 || dt == 16)) {
					/* float16/bfloat16 bits in int32_data */
					d = dt == 10 ? f16_of(v) : bf16_of(v);
					i = isfinite(d) ? (int64_t)d : 0;
				} else if (f.num == 5) {
					i = (int32_t)(uint32_t)v; d = (double)i;
				} else {
					i = (int64_t)v; d = (double)i;
				}
				if (want_float)
					fv[cnt] = d;
				else
					iv[cnt] = i;
			}
			cnt++;
			if (q == NULL)
				break;
		}
	}
	if (raw != NULL) {
		size_t w = dt == 7 || dt == 11 ? 8 : dt == 1 || dt == 6 ? 4
			 : dt == 10 || dt == 16 ? 2 : 0;
		if (w == 0 || rawlen % w != 0)
			return -1;
		for (size_t k = 0; k < rawlen / w; k++, cnt++) {
			if (cnt >= max)
				continue;
			uint64_t v = 0;
			for (size_t j = 0; j < w; j++)
				v |= (uint64_t)raw[k * w + j] << (8 * j);
			double d;
			int64_t i;
			if (dt == 7) {
				i = (int64_t)v; d = (double)i;
			} else if (dt == 6) {
				i = (int32_t)(uint32_t)v; d = (double)i;
			} else if (dt == 1) {
				d = f32_of(v); i = (int64_t)d;
			} else if (dt == 10 || dt == 16) {
				d = dt == 10 ? f16_of(v) : bf16_of(v); i = isfinite(d) ? (int64_t)d : 0;
			} else {
				memcpy(&d, &v, sizeof(d)); i = (int64_t)d;
			}
			if (want_float)
				fv[cnt] = d;
			else
				iv[cnt] = i;
		}
		return cnt;
	}
	return typed || dt != 0 ? cnt : -1;
}

static int const_values(const struct onnx_model *m, uint32_t t, bool want_float,
			int64_t *iv, double *fv, int max)
{
	if (t == ONNX_NONE || t >= m->ntensors) /* a node may have fewer inputs than its op */
		return -1;
	const struct onnx_tensor *x = &m->tensors[t];
	if (x->init >= 0) {
		const struct onnx_init *in = &m->inits[x->init];
		if (in->sparse || in->external)
			return -1;
		return tensor_values(in->body, in->bodylen, want_float, iv, fv, max);
	}
	if (x->producer < 0)
		return -1;
	const struct onnx_node *n = &m->nodes[x->producer];
	if (strcmp(n->op, "Constant") != 0 || n->nattr != 1)
		return -1;
	const struct onnx_attr *a = &n->attrs[0];
	struct pbr r = { a->body, a->body + a->len };
	struct pbf f;
	if (strcmp(a->name, "value") == 0) {
		while (pb_next(&r, &f, "AttributeProto", NULL) > 0)
			if (f.num == 5 && f.wt == 2)
				return tensor_values(f.data, f.len, want_float, iv, fv, max);
		return -1;
	}
	if (strcmp(a->name, "value_ints") == 0 || strcmp(a->name, "value_int") == 0) {
		int64_t tmp[64];
		int k;
		if (a->name[9] == '\0') {
			tmp[0] = onnx_attr_int(n, "value_int", 0);
			k = 1;
		} else {
			k = onnx_attr_ints(n, "value_ints", tmp, 64);
		}
		for (int i = 0; i < k && i < max && i < 64; i++) {
			if (want_float)
				fv[i] = (double)tmp[i];
			else
				iv[i] = tmp[i];
		}
		return k;
	}
	return -1;
}

int onnx_const_ints(const struct onnx_model *m, uint32_t t, int64_t *out, int max)
{
	return const_values(m, t, false, out, NULL, max);
}

int onnx_const_floats(const struct onnx_model *m, uint32_t t, double *out, int max)
{
	return const_values(m, t, true, NULL, out, max);
}
