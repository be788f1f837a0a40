/*
 * onnx: the reader.  Maps a file, walks the ModelProto with a bounded
 * protobuf wire-format reader, and builds the small in-memory graph the
 * other onnx_*.c files use (onnx_priv.h): nodes, tensors by name, value
 * infos, initializers as byte ranges, producers, consumers and a
 * topological order.
 *
 * Tensor data is never read: an initializer's raw_data / float_data field is
 * skipped by its length, so the pages holding weights are never touched.
 * Everything that comes from the file is checked before use: lengths
 * against the end of the enclosing message, counts, names (length, control
 * characters, UTF-8), subgraph nesting; the graph must be closed (every
 * input produced somewhere) and acyclic.
 */
#include "conversion/onnx_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.pb-c.h"

/* --- arena: one free for every string and small array of a model --------- */
struct arena {
	struct arena *next;
	size_t used, cap;
	max_align_t data[];
};

void *onnx_arena_alloc(struct onnx_model *m, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct arena *a = m->arena;
	if (a == NULL || a->cap - a->used < n) {
		size_t cap = n > 60000 ? n : 60000;
		struct arena *b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->used = 0;
		b->cap = cap;
		/* A big block goes behind the current one so the current one
		 * keeps filling. */
		if (a != NULL && n > 60000) {
			b->next = a->next;
			a->next = b;
		} else {
			b->next = a;
			m->arena = b;
		}
		a = b;
	}
	void *p = (char *)a->data + a->used;
	a->used += n;
	return p;
}

char *onnx_arena_strdup(struct onnx_model *m, const char *s, size_t n)
{
	char *d = onnx_arena_alloc(m, n + 1);
	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void arena_free(struct arena *a)
{
	while (a != NULL) {
		struct arena *next = a->next;
		free(a);
		a = next;
	}
}

/* --- wire format ------------------------------------------------------------ */
int pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (p >= end)
			return -1;
		uint8_t b = *p++;
		if (shift == 63 && b > 1)
			return -1;
		x |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*pp = p;
			*v = x;
			return 0;
		}
	}
	return -1;
}

int pb_next(struct pbr *r, struct pbf *f, const char *what,
	    struct kiln_err *err)
{
	if (r->p >= r->end)
		return 0;
	f->start = r->p;
	uint64_t tag;
	if (pb_varint(&r->p, r->end, &tag) != 0)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: truncated field tag in %s",
				 what);
	f->num = (uint32_t)(tag >> 3);
	f->wt = (int)(tag & 7);
	if (tag >> 3 == 0 || tag >> 3 > 536870911u)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: field number %llu in %s",
				 (unsigned long long)(tag >> 3), what);
	f->data = NULL;
	f->len = 0;
	f->v = 0;
	switch (f->wt) {
	case 0:
		if (pb_varint(&r->p, r->end, &f->v) != 0)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "truncated ONNX: varint field %u of %s runs past the end",
					 f->num, what);
		break;
	case 1:
	case 5: {
		size_t w = f->wt == 1 ? 8 : 4;
		if ((size_t)(r->end - r->p) < w)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "truncated ONNX: fixed field %u of %s runs past the end",
					 f->num, what);
		uint64_t x = 0;
		for (size_t i = 0; i < w; i++)
			x |= (uint64_t)r->p[i] << (8 * i);
		f->v = x;
		r->p += w;
		break;
	}
	case 2: {
		uint64_t len;
		if (pb_varint(&r->p, r->end, &len) != 0)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "truncated ONNX: length of field %u of %s runs past the end",
					 f->num, what);
		if (len > (uint64_t)(r->end - r->p))
			return kiln_errf(err, KILN_EINVAL, "model",
					 "truncated or corrupt ONNX: field %u of %s claims %llu bytes but only %zu remain",
					 f->num, what, (unsigned long long)len,
					 (size_t)(r->end - r->p));
		f->data = r->p;
		f->len = (size_t)len;
		r->p += len;
		break;
	}
	default:
		/* 3 and 4 are protobuf groups, which onnx.proto never uses;
		 * 6 and 7 do not exist. */
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: field %u of %s has wire type %d",
				 f->num, what, f->wt);
	}
	f->stop = r->p;
	return 1;
}

static int want_wt(const struct pbf *f, int wt, const char *what,
		   const char *field, struct kiln_err *err)
{
	if (f->wt == wt)
		return 0;
	return kiln_errf(err, KILN_EINVAL, "model",
			 "not an ONNX model: %s.%s (field %u) has wire type %d, expected %d",
			 what, field, f->num, f->wt, wt);
}

/* --- names ------------------------------------------------------------------ */

/* Printable excerpt of untrusted bytes for an error message. */
static void show(const uint8_t *s, size_t n, char *buf, size_t size)
{
	size_t j = 0, lim = size > 4 ? size - 4 : 0;
	for (size_t i = 0; i < n && j < lim && i < 48; i++)
		buf[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
	if ((n > 48 || j >= lim) && size >= 4) {
		memcpy(buf + j, "...", 3);
		j += 3;
	}
	if (size > 0)
		buf[j < size ? j : size - 1] = '\0';
}

static size_t utf8_bad(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1; cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2; cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3; cp = c & 0x07;
		} else {
			return i;
		}
		if (n - i <= k)
			return i;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += k + 1;
	}
	return SIZE_MAX;
}

/* Checks a name from the file; on failure writes why into whybuf. */
static bool name_ok(const uint8_t *s, size_t n, char *why, size_t wsz)
{
	char shown[64];
	if (n > ONNX_NAME_MAX) {
		show(s, n, shown, sizeof(shown));
		snprintf(why, wsz, "is %zu bytes long (limit %d): '%s'", n,
			 ONNX_NAME_MAX, shown);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f) {
			show(s, n, shown, sizeof(shown));
			snprintf(why, wsz,
				 "has a control character (0x%02x) at byte %zu: '%s'",
				 s[i], i, shown);
			return false;
		}
	}
	size_t bad = utf8_bad(s, n);
	if (bad != SIZE_MAX) {
		show(s, n, shown, sizeof(shown));
		snprintf(why, wsz, "is not valid UTF-8 at byte %zu: '%s'", bad,
			 shown);
		return false;
	}
	return true;
}

static int bad_name(struct kiln_err *err, const char *why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad_name(struct kiln_err *err, const char *why, const char *fmt, ...)
{
	char ctx[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	return kiln_errf(err, KILN_EINVAL, "model",
			 "%s %s; names must be printable UTF-8 of at most %d bytes",
			 ctx, why, ONNX_NAME_MAX);
}

/* Free text (producer, metadata values): kept, with control characters and
 * invalid UTF-8 replaced by '?' so the JSON stays clean. */
static const char *text_copy(struct onnx_model *m, const uint8_t *s, size_t n)
{
	char *d = onnx_arena_alloc(m, n + 1);
	if (d == NULL)
		return NULL;
	size_t i = 0;
	while (i < n) {
		size_t bad = utf8_bad(s + i, n - i);
		size_t good = bad == SIZE_MAX ? n - i : bad;
		for (size_t j = 0; j < good; j++) {
			uint8_t c = s[i + j];
			d[i + j] = (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f
				? '?' : (char)c;
		}
		i += good;
		if (i < n)
			d[i++] = '?';
	}
	d[n] = '\0';
	return d;
}

/* --- tensors by name -------------------------------------------------------- */
static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint32_t lookup(const struct onnx_model *m, const uint8_t *p, size_t n,
		       uint32_t h, uint32_t *slot)
{
	if (m->hcap == 0) {
		*slot = 0;
		return ONNX_NONE;
	}
	uint32_t i = h & (m->hcap - 1);
	for (;;) {
		uint32_t e = m->htab[i];
		if (e == 0) {
			*slot = i;
			return ONNX_NONE;
		}
		const struct onnx_tensor *t = &m->tensors[e - 1];
		if (t->hash == h && t->name_len == n &&
		    memcmp(m->base + t->name_off, p, n) == 0)
			return e - 1;
		i = (i + 1) & (m->hcap - 1);
	}
}

char *onnx_tensor_name_copy(const struct onnx_model *m, uint32_t t, char *buf,
			    size_t size)
{
	int n;
	const char *s = onnx_tensor_name(m, t, &n);
	snprintf(buf, size, "%.*s", n, s);
	return buf;
}

uint32_t onnx_find_tensor(const struct onnx_model *m, const char *name)
{
	size_t n = strlen(name);
	uint32_t slot;
	return lookup(m, (const uint8_t *)name, n,
		      hash_bytes((const uint8_t *)name, n), &slot);
}

static int rehash(struct onnx_model *m)
{
	uint32_t cap = m->hcap ? m->hcap * 2 : 1024;
	uint32_t *tab = calloc(cap, sizeof(*tab));
	if (tab == NULL)
		return KILN_ENOMEM;
	for (uint32_t t = 0; t < m->ntensors; t++) {
		uint32_t i = m->tensors[t].hash & (cap - 1);
		while (tab[i] != 0)
			i = (i + 1) & (cap - 1);
		tab[i] = t + 1;
	}
	free(m->htab);
	m->htab = tab;
	m->hcap = cap;
	return 0;
}

/* The caller has checked the name, which is in the file (p points into
 * m->base): the tensor keeps its offset, not a copy. */
static int intern(struct onnx_model *m, const uint8_t *p, size_t n,
		  uint32_t *id, struct kiln_err *err)
{
	uint32_t h = hash_bytes(p, n), slot;
	uint32_t t = lookup(m, p, n, h, &slot);
	if (t != ONNX_NONE) {
		*id = t;
		return 0;
	}
	if (m->ntensors >= ONNX_MAX_TENSORS)
		return kiln_errf(err, KILN_ETOOBIG, "model",
				 "the model names more than %u tensors",
				 ONNX_MAX_TENSORS);
	if ((m->ntensors + 1) * 2 > m->hcap) {
		if (rehash(m) != 0)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		lookup(m, p, n, h, &slot);
	}
	if (m->ntensors == m->captensors) {
		uint32_t cap = m->captensors ? m->captensors * 2 : 1024;
		struct onnx_tensor *nt = realloc(m->tensors, cap * sizeof(*nt));
		if (nt == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		m->tensors = nt;
		m->captensors = cap;
	}
	struct onnx_tensor *x = &m->tensors[m->ntensors];
	x->name_off = (uint64_t)(p - m->base);
	x->name_len = (uint16_t)n;
	x->hash = h;
	x->producer = -1;
	x->init = -1;
	x->vi = -1;
	x->is_input = x->is_output = false;
	x->ty = NULL;
	x->inferred = false;
	m->htab[slot] = m->ntensors + 1;
	*id = m->ntensors++;
	return 0;
}

/* --- a set of byte strings (subgraph scopes, op types) ---------------------- */
struct sspan {
	const uint8_t *p;
	uint32_t n;
};
struct sset {
	struct sspan *v;
	uint32_t count, vcap;
	uint32_t *tab, cap;
};

/* Adds p[0..n) unless present; *index (may be NULL) gets its entry. */
static int sset_add(struct sset *s, const uint8_t *p, size_t n, uint32_t *index)
{
	if ((s->count + 1) * 2 > s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 64;
		uint32_t *tab = calloc(cap, sizeof(*tab));
		if (tab == NULL)
			return -1;
		for (uint32_t k = 0; k < s->count; k++) {
			uint32_t i = hash_bytes(s->v[k].p, s->v[k].n) & (cap - 1);
			while (tab[i] != 0)
				i = (i + 1) & (cap - 1);
			tab[i] = k + 1;
		}
		free(s->tab);
		s->tab = tab;
		s->cap = cap;
	}
	uint32_t i = hash_bytes(p, n) & (s->cap - 1);
	while (s->tab[i] != 0) {
		const struct sspan *e = &s->v[s->tab[i] - 1];
		if (e->n == n && memcmp(e->p, p, n) == 0) {
			if (index)
				*index = s->tab[i] - 1;
			return 0;
		}
		i = (i + 1) & (s->cap - 1);
	}
	if (s->count == s->vcap) {
		uint32_t vcap = s->vcap ? s->vcap * 2 : 32;
		struct sspan *v = realloc(s->v, vcap * sizeof(*v));
		if (v == NULL)
			return -1;
		s->v = v;
		s->vcap = vcap;
	}
	s->v[s->count] = (struct sspan){ p, (uint32_t)n };
	s->tab[i] = ++s->count;
	if (index)
		*index = s->count - 1;
	return 0;
}

static bool sset_has(const struct sset *s, const uint8_t *p, size_t n)
{
	if (s->cap == 0)
		return false;
	uint32_t i = hash_bytes(p, n) & (s->cap - 1);
	while (s->tab[i] != 0) {
		const struct sspan *e = &s->v[s->tab[i] - 1];
		if (e->n == n && memcmp(e->p, p, n) == 0)
			return true;
		i = (i + 1) & (s->cap - 1);
	}
	return false;
}

static void sset_free(struct sset *s)
{
	free(s->v);
	free(s->tab);
	memset(s, 0, sizeof(*s));
}

/* --- parse state -------------------------------------------------------------- */
struct parse {
	struct onnx_model *m;
	struct sset ops;          /* distinct op types, nested included */
	uint32_t all_nodes;       /* top-level + nested, for the bound */
	struct sset strs;         /* op types and domains of nodes ... */
	const char **copies;      /* ... and their one copy each */
	uint32_t copies_cap;
	size_t released;          /* file offset up to which pages were dropped */
};

static int oom(struct kiln_err *err)
{
	return kiln_errf(err, KILN_ENOMEM, "", "out of memory while reading the model");
}

/* One arena copy per distinct string: a million Add nodes share "Add". */
static const char *shared_str(struct parse *ps, const uint8_t *p, size_t n)
{
	uint32_t before = ps->strs.count, k;
	if (sset_add(&ps->strs, p, n, &k) != 0)
		return NULL;
	if (ps->strs.count == before)
		return ps->copies[k];
	if (k >= ps->copies_cap) {
		uint32_t cap = ps->copies_cap ? ps->copies_cap * 2 : 32;
		const char **c = realloc(ps->copies, cap * sizeof(*c));
		if (c == NULL)
			return NULL;
		ps->copies = c;
		ps->copies_cap = cap;
	}
	ps->copies[k] = onnx_arena_strdup(ps->m, (const char *)p, n);
	return ps->copies[k];
}

/* Called as the parse moves through the file: every 2 MB, the pages
 * behind are dropped, so reading a model costs what the parse keeps, not
 * the file's size (weights' headers included: with large page-cache
 * folios one touch maps 2 MB). */
static void moved_to(struct parse *ps, const uint8_t *p)
{
	size_t at = (size_t)(p - ps->m->base);
	if (at - ps->released >= (2u << 20)) {
		onnx_release_pages(ps->m);
		ps->released = at;
	}
}

/* Room for n more edges in m->edges; their first index in *at. */
static int reserve_edges(struct onnx_model *m, uint64_t n, uint32_t *at,
			 struct kiln_err *err)
{
	if (m->nedges + n > UINT32_MAX - 1)
		return kiln_errf(err, KILN_ETOOBIG, "model",
				 "the model's nodes have more than %u inputs and outputs in all",
				 UINT32_MAX - 1);
	if (m->nedges + n > m->capedges) {
		uint64_t cap = m->capedges ? m->capedges : 4096;
		while (cap < m->nedges + n)
			cap *= 2;
		if (cap > UINT32_MAX)
			cap = UINT32_MAX;
		uint32_t *e = realloc(m->edges, (size_t)cap * sizeof(*e));
		if (e == NULL)
			return oom(err);
		m->edges = e;
		m->capedges = (uint32_t)cap;
	}
	*at = m->nedges;
	m->nedges += (uint32_t)n;
	return 0;
}

static int add_op(struct parse *ps, const uint8_t *p, size_t n,
		  struct kiln_err *err)
{
	if (sset_add(&ps->ops, p, n, NULL) != 0)
		return oom(err);
	return 0;
}

static void note_type(struct onnx_model *m, int64_t t)
{
	if (t > 0 && t < 32)
		m->used_types |= 1u << t;
}

/* --- TypeProto (hand-walked: it nests, and protobuf-c would recurse without a
 * bound) ------------------------------------------------------------------- */
static int parse_type(struct onnx_model *m, const uint8_t *p, size_t len,
		      int depth, struct onnx_type *t, struct kiln_err *err);

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
			if ((rc = want_wt(&f, 0, "TypeProto.Tensor", "elem_type", err)))
				return rc;
			t->elem = (int)f.v;
			note_type(m, (int64_t)f.v);
		} else if (f.num == 2) {
			if ((rc = want_wt(&f, 2, "TypeProto.Tensor", "shape", err)))
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
		if ((rc = want_wt(&f, 2, "TensorShapeProto", "dim", err)))
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
		return oom(err);
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
				if (!name_ok(g.data, g.len, why, sizeof(why)))
					return bad_name(err, why, "a dim name");
				d->param = onnx_arena_strdup(m, (const char *)g.data, g.len);
				if (d->param == NULL)
					return oom(err);
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
			rc = parse_type(m, f.data, f.len, depth + 1, inner, err);
			if (rc < 0)
				return rc;
		}
	}
	return rc;
}

static int parse_type(struct onnx_model *m, const uint8_t *p, size_t len,
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

/* --- small messages through protobuf-c --------------------------------------- */
static int parse_kv(struct onnx_model *m, const struct pbf *f, size_t maxlen,
		    struct onnx_kv *kv, const char *what, struct kiln_err *err)
{
	if (f->len > maxlen)
		return kiln_errf(err, KILN_ETOOBIG, "model",
				 "a %s entry is %zu bytes (limit %zu)", what,
				 f->len, maxlen);
	Onnx__StringStringEntryProto *e =
		onnx__string_string_entry_proto__unpack(NULL, f->len, f->data);
	if (e == NULL)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: a malformed %s entry", what);
	const char *k = e->key ? e->key : "";
	const char *v = e->value ? e->value : "";
	kv->key = text_copy(m, (const uint8_t *)k, strlen(k));
	kv->value = text_copy(m, (const uint8_t *)v, strlen(v));
	onnx__string_string_entry_proto__free_unpacked(e, NULL);
	if (kv->key == NULL || kv->value == NULL)
		return oom(err);
	return 0;
}

static int parse_opset(struct onnx_model *m, const struct pbf *f,
		       struct onnx_opset *o, struct kiln_err *err)
{
	if (f->len > 4096)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "an opset_import entry is %zu bytes long", f->len);
	Onnx__OperatorSetIdProto *e =
		onnx__operator_set_id_proto__unpack(NULL, f->len, f->data);
	if (e == NULL)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: a malformed opset_import entry");
	const char *d = e->domain ? e->domain : "";
	char why[160];
	int rc = 0;
	if (!name_ok((const uint8_t *)d, strlen(d), why, sizeof(why)))
		rc = bad_name(err, why, "an opset domain");
	o->domain = rc ? NULL : onnx_arena_strdup(m, d, strlen(d));
	o->version = e->has_version ? e->version : 0;
	onnx__operator_set_id_proto__free_unpacked(e, NULL);
	if (rc == 0 && o->domain == NULL)
		rc = oom(err);
	return rc;
}

/* --- subgraphs: which outer names a body reads -------------------------------- */
static int scan_graph(struct parse *ps, const uint8_t *p, size_t len, int depth,
		      struct sset *implicit, struct kiln_err *err);

static int scan_attr_graphs(struct parse *ps, const uint8_t *p, size_t len,
			    int depth, struct sset *used, struct kiln_err *err)
{
	struct pbr r = { p, p + len };
	struct pbf f;
	int rc;
	while ((rc = pb_next(&r, &f, "AttributeProto", err)) > 0) {
		if ((f.num != 6 && f.num != 11) || f.wt != 2)
			continue;
		if (depth + 1 > ONNX_MAX_DEPTH)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "subgraphs nest more than %d levels deep",
					 ONNX_MAX_DEPTH);
		struct sset inner = { 0 };
		rc = scan_graph(ps, f.data, f.len, depth + 1, &inner, err);
		for (uint32_t i = 0; rc == 0 && i < inner.count; i++)
			if (sset_add(used, inner.v[i].p, inner.v[i].n, NULL) != 0)
				rc = oom(err);
		sset_free(&inner);
		if (rc < 0)
			return rc;
	}
	return rc;
}

static int tensor_name_field(const uint8_t *p, size_t len, uint32_t field,
			     const char *what, const uint8_t **name,
			     size_t *nlen, struct kiln_err *err)
{
	*name = NULL;
	*nlen = 0;
	if (p == NULL)
		return 0;
	struct pbr r = { p, p + len };
	struct pbf f;
	int rc;
	while ((rc = pb_next(&r, &f, what, err)) > 0)
		if (f.num == field && f.wt == 2) {
			*name = f.data;
			*nlen = f.len;
		}
	return rc;
}

static int scan_graph(struct parse *ps, const uint8_t *p, size_t len, int depth,
		      struct sset *implicit, struct kiln_err *err)
{
	struct sset defined = { 0 }, used = { 0 };
	struct pbr r = { p, p + len };
	struct pbf f;
	int rc;
	char why[160];
	while ((rc = pb_next(&r, &f, "GraphProto (subgraph)", err)) > 0) {
		const uint8_t *nm;
		size_t nl;
		if (f.wt != 2)
			continue;
		if (f.num == 1) {
			if (++ps->all_nodes > ONNX_MAX_NODES) {
				rc = kiln_errf(err, KILN_ETOOBIG, "model",
					       "the model has more than %u nodes",
					       ONNX_MAX_NODES);
				break;
			}
			ps->m->subgraph_nodes++;
			struct pbr nr = { f.data, f.data + f.len };
			struct pbf g;
			while ((rc = pb_next(&nr, &g, "NodeProto", err)) > 0) {
				if (g.wt != 2)
					continue;
				if (g.num <= 4 || g.num == 7) {
					if (!name_ok(g.data, g.len, why, sizeof(why))) {
						rc = bad_name(err, why,
							      "a name in a subgraph node");
						break;
					}
				}
				if (g.num == 1 && g.len > 0)
					rc = sset_add(&used, g.data, g.len, NULL) ? oom(err) : 0;
				else if (g.num == 2 && g.len > 0)
					rc = sset_add(&defined, g.data, g.len, NULL) ? oom(err) : 0;
				else if (g.num == 4)
					rc = add_op(ps, g.data, g.len, err);
				else if (g.num == 5)
					rc = scan_attr_graphs(ps, g.data, g.len, depth, &used, err);
				if (rc < 0)
					break;
			}
		} else if (f.num == 5 || f.num == 11 || f.num == 15) {
			/* initializer, input, sparse_initializer: define a name */
			const uint8_t *body = f.data;
			size_t blen = f.len;
			if (f.num == 15) {
				rc = tensor_name_field(f.data, f.len, 1, "SparseTensorProto",
						       &body, &blen, err);
				if (rc < 0 || body == NULL)
					continue;
			}
			rc = tensor_name_field(body, blen, f.num == 11 ? 1 : 8,
					       "subgraph tensor", &nm, &nl, err);
			if (rc == 0 && nm != NULL) {
				if (!name_ok(nm, nl, why, sizeof(why)))
					rc = bad_name(err, why, "a subgraph tensor name");
				else if (sset_add(&defined, nm, nl, NULL) != 0)
					rc = oom(err);
			}
		}
		if (rc < 0)
			break;
	}
	for (uint32_t i = 0; rc == 0 && i < used.count; i++)
		if (!sset_has(&defined, used.v[i].p, used.v[i].n) &&
		    sset_add(implicit, used.v[i].p, used.v[i].n, NULL) != 0)
			rc = oom(err);
	sset_free(&defined);
	sset_free(&used);
	return rc;
}

/* --- nodes -------------------------------------------------------------------- */
static int parse_node(struct parse *ps, const struct pbf *nf, uint32_t idx,
		      struct kiln_err *err)
{
	struct onnx_model *m = ps->m;
	struct onnx_node *n = &m->nodes[idx];
	struct pbr r = { nf->data, nf->data + nf->len };
	struct pbf f;
	int rc;
	char why[160];
	const uint8_t *nm = NULL, *op = NULL, *dom = NULL;
	size_t nml = 0, opl = 0, doml = 0;
	uint32_t nin = 0, nout = 0, nattr = 0;

	memset(n, 0, sizeof(*n));
	n->off = (size_t)(nf->start - m->base);
	n->len = (size_t)(nf->stop - nf->start);
	n->name_off = n->off;
	while ((rc = pb_next(&r, &f, "NodeProto", err)) > 0) {
		if (f.num > n->maxfield)
			n->maxfield = f.num;
		switch (f.num) {
		case 1: case 2: case 3: case 4: case 5: case 7:
			if ((rc = want_wt(&f, 2, "NodeProto", "input/output/name/op_type/attribute/domain", err)))
				return rc;
			break;
		default:
			continue;
		}
		if (f.num == 1)
			nin++;
		else if (f.num == 2)
			nout++;
		else if (f.num == 3) {
			nm = f.data; nml = f.len;
		} else if (f.num == 4) {
			op = f.data; opl = f.len;
		} else if (f.num == 5)
			nattr++;
		else {
			dom = f.data; doml = f.len;
		}
	}
	if (rc < 0)
		return rc;
	if (nm && !name_ok(nm, nml, why, sizeof(why)))
		return bad_name(err, why, "the name of node %u", idx);
	/* the name stays in the file (onnx_priv.h) */
	if (nm) {
		n->name_off = (uint64_t)(nm - m->base);
		n->name_len = (uint32_t)nml;
	}
	const char *nn = nm ? (const char *)nm : "";
	int nnl = (int)(nml > 80 ? 80 : nml);
	if (op == NULL || opl == 0)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "node %u ('%.*s') has no op_type", idx, nnl, nn);
	if (!name_ok(op, opl, why, sizeof(why)))
		return bad_name(err, why, "the op_type of node %u ('%.*s')", idx, nnl, nn);
	if (dom && !name_ok(dom, doml, why, sizeof(why)))
		return bad_name(err, why, "the domain of node %u ('%.*s')", idx, nnl, nn);
	n->op = shared_str(ps, op, opl);
	n->domain = shared_str(ps, dom ? dom : (const uint8_t *)"", doml);
	if (n->op == NULL || n->domain == NULL)
		return oom(err);
	if ((rc = add_op(ps, op, opl, err)))
		return rc;
	if (nin > ONNX_MAX_NODE_IO || nout > ONNX_MAX_NODE_IO)
		return kiln_errf(err, KILN_ETOOBIG, "model",
				 "node %u ('%.*s', %s) has %u inputs and %u outputs (limit %d each)",
				 idx, nnl, nn, n->op, nin, nout, ONNX_MAX_NODE_IO);
	if (nattr > ONNX_MAX_ATTRS)
		return kiln_errf(err, KILN_ETOOBIG, "model",
				 "node %u ('%.*s', %s) has %u attributes (limit %d)",
				 idx, nnl, nn, n->op, nattr, ONNX_MAX_ATTRS);
	if ((rc = reserve_edges(m, (uint64_t)nin + nout, &n->e_, err)))
		return rc;
	n->nin = nin;
	n->nout = nout;
	if (nattr > 0) {
		n->attrs = onnx_arena_alloc(m, nattr * sizeof(*n->attrs));
		if (n->attrs == NULL)
			return oom(err);
	}

	struct sset implicit = { 0 };
	uint32_t kin = 0, kout = 0;
	r = (struct pbr){ nf->data, nf->data + nf->len };
	while ((rc = pb_next(&r, &f, "NodeProto", err)) > 0) {
		if (f.num == 1 || f.num == 2) {
			uint32_t id = ONNX_NONE;
			if (f.len > 0) {
				if (!name_ok(f.data, f.len, why, sizeof(why))) {
					rc = bad_name(err, why, "%s %u of node %u ('%.*s', %s)",
						      f.num == 1 ? "input" : "output",
						      f.num == 1 ? kin : kout,
						      idx, nnl, nn, n->op);
					break;
				}
				if ((rc = intern(m, f.data, f.len, &id, err)))
					break;
			}
			if (f.num == 1)
				m->edges[n->e_ + kin++] = id;
			else
				m->edges[n->e_ + nin + kout++] = id;
		} else if (f.num == 5) {
			struct onnx_attr *a = &n->attrs[n->nattr++];
			a->body = f.data;
			a->len = f.len;
			a->type = 0;
			a->name = "";
			struct pbr ar = { f.data, f.data + f.len };
			struct pbf g;
			bool graphs = false;
			const uint8_t *an = NULL;
			size_t anl = 0;
			int64_t ival = 0;
			while ((rc = pb_next(&ar, &g, "AttributeProto", err)) > 0) {
				if (g.num == 1 && g.wt == 2) {
					an = g.data; anl = g.len;
				} else if (g.num == 20 && g.wt == 0)
					a->type = (int)g.v;
				else if (g.num == 3 && g.wt == 0)
					ival = (int64_t)g.v;
				else if ((g.num == 6 || g.num == 11) && g.wt == 2)
					graphs = true;
			}
			if (rc < 0)
				break;
			if (an == NULL || anl == 0) {
				rc = kiln_errf(err, KILN_EINVAL, "model",
					       "node %u ('%.*s', %s) has an attribute without a name",
					       idx, nnl, nn, n->op);
				break;
			}
			if (!name_ok(an, anl, why, sizeof(why))) {
				rc = bad_name(err, why, "an attribute name of node %u ('%.*s')",
					      idx, nnl, nn);
				break;
			}
			a->name = shared_str(ps, an, anl);
			if (a->name == NULL) {
				rc = oom(err);
				break;
			}
			if (anl == 2 && memcmp(an, "to", 2) == 0 &&
			    (strcmp(n->op, "Cast") == 0))
				note_type(m, ival);
			if (graphs) {
				rc = scan_attr_graphs(ps, f.data, f.len, 0, &implicit, err);
				if (rc < 0)
					break;
			}
		}
	}
	if (rc == 0 && implicit.count > 0) {
		uint32_t at;
		rc = reserve_edges(m, implicit.count, &at, err);
		/* contiguous with this node's inputs and outputs: nothing
		 * else reserved edges since */
		for (uint32_t i = 0; rc == 0 && i < implicit.count; i++) {
			uint32_t id;
			rc = intern(m, implicit.v[i].p, implicit.v[i].n, &id, err);
			if (rc == 0)
				m->edges[at + n->nimplicit++] = id;
		}
	}
	sset_free(&implicit);
	return rc;
}

/* --- initializers -------------------------------------------------------------- */

/* Bits one element takes in raw_data, by TensorProto.DataType (onnx.proto:
 * "raw_data ... fixed-width, little-endian"; the 4-bit types are packed two
 * to a byte).  0: no fixed width (string) or a type this table predates. */
static const uint8_t elem_bits[] = {
	0, 32, 8, 8, 16, 16, 32, 64, 0, 8, 16, 64, 32, 64, 64, 128, 16,
	8, 8, 8, 8, 4, 4, 4,
};

/* Values one typed-field entry holds for an element: complex numbers take
 * two floats/doubles; the 4-bit types pack two elements per int32_data
 * entry (onnx.proto, int32_data), which count_for() handles. */
static uint64_t count_for(int dt, uint64_t nelem)
{
	if (dt == 14 || dt == 15)
		return nelem * 2;
	if (dt == 21 || dt == 22 || dt == 23)
		return (nelem + 1) / 2;
	return nelem;
}

/* Entries in one occurrence of a typed data field: packed fixed-width
 * payloads by length, packed varints by their last bytes, strings one each. */
static uint64_t typed_count(const struct pbf *f)
{
	if (f->wt != 2 || f->num == 6)
		return 1;
	if (f->num == 4)
		return f->len / 4;
	if (f->num == 10)
		return f->len / 8;
	uint64_t n = 0;
	for (size_t i = 0; i < f->len; i++)
		n += f->data[i] < 0x80;
	return n;
}

/* The data an initializer holds must be what its dims say: a file claiming
 * 2^62 elements over 16 bytes would make every reader that trusts dims
 * (the toolchains, onnxruntime's "size does not match" check, our own
 * const folding) misbehave.  Checks what onnx.checker checks (one value
 * field, none for 0 elements, no strings in raw_data) plus the sizes that
 * onnxruntime's tensor unpacking enforces, with the product of dims
 * checked for overflow. */
static int check_init_size(const struct onnx_model *m, const struct onnx_init *in,
			   uint64_t nvals, uint32_t nfields, struct kiln_err *err)
{
	char name[100];
	onnx_tensor_name_copy(m, in->tensor, name, sizeof(name));
	uint64_t nelem = 1;
	bool zero = false, big = false;
	for (int k = 0; k < in->ndims; k++) {
		if (in->dims[k] < 0)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "initializer '%.80s' has dim %d = %lld; dims of stored data must be >= 0",
					 name, k, (long long)in->dims[k]);
		zero = zero || in->dims[k] == 0;
	}
	/* Past ONNX_MAX_INIT_ELEMS no file holds the data (and bytes =
	 * elements x 16 must not wrap), so stop multiplying there. */
	for (int k = 0; !zero && !big && k < in->ndims; k++)
		big = __builtin_mul_overflow(nelem, (uint64_t)in->dims[k], &nelem) ||
		      nelem > ONNX_MAX_INIT_ELEMS;
	if (zero)
		nelem = 0;
	int dt = in->data_type;
	const char *tn = onnx_elem_type_name(dt);
	if (big) {
		char dims[160];
		size_t o = 0;
		for (int k = 0; k < in->ndims && o < sizeof(dims) - 24; k++)
			o += (size_t)snprintf(dims + o, sizeof(dims) - o, "%s%lld",
					      k ? ", " : "", (long long)in->dims[k]);
		return kiln_errf(err, KILN_EINVAL, "model",
				 "initializer '%.80s' claims dims [%s], more than 2^50 elements, over %llu bytes of data: its dims are wrong",
				 name, dims, (unsigned long long)in->nbytes);
	}
	if (in->external) {
		uint64_t bits = (size_t)dt < sizeof(elem_bits) ? elem_bits[dt] : 0;
		uint64_t want = (nelem * bits + 7) / 8;
		if (bits && in->ext_length > 0 && (uint64_t)in->ext_length != want)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "initializer '%.80s' is %llu elements of %s (%llu bytes) but its external data length is %lld",
					 name, (unsigned long long)nelem, tn,
					 (unsigned long long)want, (long long)in->ext_length);
		return 0;
	}
	int nset = __builtin_popcount(nfields);
	if (nelem == 0 && nset != 0)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "initializer '%.80s' has 0 elements but holds data", name);
	if (nelem == 0)
		return 0;
	if (nset != 1)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "initializer '%.80s' (%llu elements) must hold its values in exactly one data field; it has %d",
				 name, (unsigned long long)nelem, nset);
	if (nfields & (1u << 9)) {
		if (dt == 8)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "initializer '%.80s' stores strings in raw_data, which ONNX does not allow",
					 name);
		uint64_t bits = (size_t)dt < sizeof(elem_bits) ? elem_bits[dt] : 0;
		uint64_t want = (nelem * bits + 7) / 8;
		if (bits && in->rawlen != want)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "initializer '%.80s' is %llu elements of %s (%llu bytes) but holds %zu bytes of raw data",
					 name, (unsigned long long)nelem, tn,
					 (unsigned long long)want, in->rawlen);
		return 0;
	}
	uint64_t want = count_for(dt, nelem);
	if (nvals != want)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "initializer '%.80s' is %llu elements of %s but holds %llu values",
				 name, (unsigned long long)nelem, tn,
				 (unsigned long long)nvals);
	return 0;
}
static int parse_init(struct onnx_model *m, const uint8_t *p, size_t len,
		      struct onnx_init *in, struct kiln_err *err)
{
	struct pbr r = { p, p + len };
	struct pbf f;
	int rc;
	char why[160];
	const uint8_t *nm = NULL;
	size_t nml = 0;
	int nd = 0;
	uint64_t nvals = 0;      /* values in the typed fields (float_data, ...) */
	uint32_t nfields = 0;    /* bit f: data field f is present */
	in->body = p;
	in->bodylen = len;
	while ((rc = pb_next(&r, &f, "TensorProto", err)) > 0) {
		switch (f.num) {
		case 1:
			if (f.wt == 0) {
				nd++;
			} else if (f.wt == 2) {
				const uint8_t *q = f.data, *e = f.data + f.len;
				uint64_t v;
				while (q < e) {
					if (pb_varint(&q, e, &v) != 0)
						return kiln_errf(err, KILN_EINVAL, "model",
								 "not an ONNX model: bad packed dims in a TensorProto");
					nd++;
				}
			}
			if (nd > ONNX_MAX_RANK)
				return kiln_errf(err, KILN_EINVAL, "model",
						 "an initializer has more than %d dims",
						 ONNX_MAX_RANK);
			break;
		case 2:
			if ((rc = want_wt(&f, 0, "TensorProto", "data_type", err)))
				return rc;
			in->data_type = (int)f.v;
			note_type(m, (int64_t)f.v);
			break;
		case 4: case 5: case 6: case 7: case 10: case 11:
			in->nbytes += f.wt == 2 ? f.len : 8;
			/* an empty field counts as absent, as onnx.checker
			 * counts field().size() */
			if (typed_count(&f) > 0) {
				nvals += typed_count(&f);
				nfields |= 1u << f.num;
			}
			break;
		case 8:
			if ((rc = want_wt(&f, 2, "TensorProto", "name", err)))
				return rc;
			nm = f.data;
			nml = f.len;
			break;
		case 9:
			if ((rc = want_wt(&f, 2, "TensorProto", "raw_data", err)))
				return rc;
			in->raw = f.data;
			in->rawlen = f.len;
			in->nbytes += f.len;
			if (f.len > 0)
				nfields |= 1u << 9;
			break;
		case 13: {
			if ((rc = want_wt(&f, 2, "TensorProto", "external_data", err)))
				return rc;
			struct onnx_kv kv;
			if ((rc = parse_kv(m, &f, 8192, &kv, "external_data", err)))
				return rc;
			if (strcmp(kv.key, "location") == 0) {
				if (!name_ok((const uint8_t *)kv.value, strlen(kv.value),
					     why, sizeof(why)))
					return bad_name(err, why, "an external data location");
				in->location = kv.value;
			} else if (strcmp(kv.key, "offset") == 0)
				in->ext_offset = strtoll(kv.value, NULL, 10);
			else if (strcmp(kv.key, "length") == 0)
				in->ext_length = strtoll(kv.value, NULL, 10);
			break;
		}
		case 14:
			if (f.wt == 0 && f.v == 1)
				in->external = true;
			break;
		}
	}
	if (rc < 0)
		return rc;
	if (nm == NULL || nml == 0)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "an initializer has no name");
	if (!name_ok(nm, nml, why, sizeof(why)))
		return bad_name(err, why, "an initializer name");
	if ((rc = intern(m, nm, nml, &in->tensor, err)))
		return rc;
	in->ndims = nd;
	in->dims = onnx_arena_alloc(m, (nd + 1) * sizeof(int64_t));
	if (in->dims == NULL)
		return oom(err);
	nd = 0;
	r = (struct pbr){ p, p + len };
	while ((rc = pb_next(&r, &f, "TensorProto", err)) > 0) {
		if (f.num != 1)
			continue;
		if (f.wt == 0) {
			in->dims[nd++] = (int64_t)f.v;
		} else if (f.wt == 2) {
			const uint8_t *q = f.data, *e = f.data + f.len;
			uint64_t v;
			while (q < e && pb_varint(&q, e, &v) == 0)
				in->dims[nd++] = (int64_t)v;
		}
	}
	if (in->location != NULL)
		in->external = true;
	if ((rc = check_init_size(m, in, nvals, nfields, err)))
		return rc;
	if (in->location != NULL) {
		const char *s = in->location;
		in->escapes = s[0] == '/' || s[0] == '\\' || strstr(s, ":") != NULL;
		/* a ".." path component anywhere, with / or \ separators */
		for (const char *q = s; *q; q++) {
			bool start = q == s || q[-1] == '/' || q[-1] == '\\';
			if (start && q[0] == '.' && q[1] == '.' &&
			    (q[2] == '\0' || q[2] == '/' || q[2] == '\\'))
				in->escapes = true;
		}
		/* Never opened either way; but a path out of the model's own
		 * directory is an attack on whoever loads the file next, so
		 * the model is refused rather than stored. */
		if (in->escapes) {
			char shown[64], tn[64];
			show((const uint8_t *)s, strlen(s), shown, sizeof(shown));
			return kiln_errf(err, KILN_EINVAL, "model",
					 "initializer '%s' keeps its data in '%s', outside the model's directory; external data must be a plain relative file name",
					 onnx_tensor_name_copy(m, in->tensor, tn, sizeof(tn)), shown);
		}
	} else if (in->external) {
		char tn[ONNX_NAME_MAX + 1];
		return kiln_errf(err, KILN_EINVAL, "model",
				 "initializer '%s' says its data is external but names no location",
				 onnx_tensor_name_copy(m, in->tensor, tn, sizeof(tn)));
	}
	return 0;
}

/* --- value infos ---------------------------------------------------------------- */
static int parse_vinfo(struct onnx_model *m, const struct pbf *vf,
		       struct onnx_vinfo *v, const char *role, uint32_t k,
		       struct kiln_err *err)
{
	struct pbr r = { vf->data, vf->data + vf->len };
	struct pbf f;
	int rc;
	char why[160];
	const uint8_t *nm = NULL, *ty = NULL;
	size_t nml = 0, tyl = 0;
	memset(v, 0, sizeof(*v));
	v->off = (size_t)(vf->start - m->base);
	v->len = (size_t)(vf->stop - vf->start);
	v->type.rank = -1;
	while ((rc = pb_next(&r, &f, "ValueInfoProto", err)) > 0) {
		if (f.num == 1) {
			if ((rc = want_wt(&f, 2, "ValueInfoProto", "name", err)))
				return rc;
			nm = f.data;
			nml = f.len;
		} else if (f.num == 2) {
			if ((rc = want_wt(&f, 2, "ValueInfoProto", "type", err)))
				return rc;
			ty = f.data;
			tyl = f.len;
		}
	}
	if (rc < 0)
		return rc;
	if (nm == NULL || nml == 0)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "graph %s %u has no name", role, k);
	if (!name_ok(nm, nml, why, sizeof(why)))
		return bad_name(err, why, "the name of graph %s %u", role, k);
	if ((rc = intern(m, nm, nml, &v->tensor, err)))
		return rc;
	/* Graph inputs and outputs are few and named by the API as C
	 * strings (onnx_feed_name, the inspection); value_info may be one per
	 * tensor and keeps its name in the file. */
	if (strcmp(role, "value_info") != 0 &&
	    (v->name = onnx_arena_strdup(m, (const char *)nm, nml)) == NULL)
		return oom(err);
	if (ty != NULL) {
		if ((rc = parse_type(m, ty, tyl, 0, &v->type, err)))
			return rc;
		v->has_type = true;
	}
	return 0;
}

/* --- graph ---------------------------------------------------------------------- */
static int grow_spans(struct onnx_model *m, struct onnx_span **v, uint32_t *n,
		      const struct pbf *f, struct kiln_err *err)
{
	/* Spans are few (model fields, graph extras); grow by doubling in the
	 * arena is wasteful, so use a power-of-two realloc on the heap. */
	(void)m;
	if (*n == 0 || (*n >= 8 && (*n & (*n - 1)) == 0)) {
		uint32_t cap = *n ? *n * 2 : 8;
		struct onnx_span *nv = realloc(*v, cap * sizeof(**v));
		if (nv == NULL)
			return oom(err);
		*v = nv;
	}
	(*v)[(*n)++] = (struct onnx_span){ f->num,
		(size_t)(f->start - m->base), (size_t)(f->stop - f->start) };
	return 0;
}

static int parse_graph(struct parse *ps, const uint8_t *p, size_t len,
		       struct kiln_err *err)
{
	struct onnx_model *m = ps->m;
	struct pbr r = { p, p + len };
	struct pbf f;
	int rc;
	uint32_t nn = 0, ni = 0, nv = 0, nin = 0, nout = 0, nval = 0;

	while ((rc = pb_next(&r, &f, "GraphProto", err)) > 0) {
		moved_to(ps, f.stop);
		switch (f.num) {
		case 1: case 5: case 11: case 12: case 13: case 15:
			if ((rc = want_wt(&f, 2, "GraphProto", "node/initializer/input/output/value_info", err)))
				return rc;
			break;
		default:
			continue;
		}
		if (f.num == 1)
			nn++;
		else if (f.num == 5 || f.num == 15)
			ni++;
		else {
			nv++;
			nin += f.num == 11;
			nout += f.num == 12;
			nval += f.num == 13;
		}
	}
	if (rc < 0)
		return rc;
	if (nn > ONNX_MAX_NODES || ni > ONNX_MAX_TENSORS || nv > ONNX_MAX_TENSORS)
		return kiln_errf(err, KILN_ETOOBIG, "model",
				 "the graph has %u nodes, %u initializers and %u value infos (limits %u nodes, %u tensors)",
				 nn, ni, nv, ONNX_MAX_NODES, ONNX_MAX_TENSORS);
	ps->all_nodes = nn;
	m->nodes = calloc(nn + 1, sizeof(*m->nodes));
	m->inits = calloc(ni + 1, sizeof(*m->inits));
	m->vinfos = calloc(nv + 1, sizeof(*m->vinfos));
	m->inputs = malloc((nin + 1) * sizeof(uint32_t));
	m->outputs = malloc((nout + 1) * sizeof(uint32_t));
	m->values = malloc((nval + 1) * sizeof(uint32_t));
	if (!m->nodes || !m->inits || !m->vinfos || !m->inputs || !m->outputs ||
	    !m->values)
		return oom(err);

	r = (struct pbr){ p, p + len };
	ps->released = 0;
	while ((rc = pb_next(&r, &f, "GraphProto", err)) > 0) {
		moved_to(ps, f.stop);
		switch (f.num) {
		case 1:
			rc = parse_node(ps, &f, m->nnodes, err);
			m->nnodes++;
			break;
		case 2: {
			char why[160];
			if ((rc = want_wt(&f, 2, "GraphProto", "name", err)))
				break;
			if (!name_ok(f.data, f.len, why, sizeof(why))) {
				rc = bad_name(err, why, "the graph name");
				break;
			}
			m->graph_name = onnx_arena_strdup(m, (const char *)f.data, f.len);
			if (m->graph_name == NULL)
				rc = oom(err);
			break;
		}
		case 5:
		case 15: {
			struct onnx_init *in = &m->inits[m->ninits];
			in->off = (size_t)(f.start - m->base);
			in->len = (size_t)(f.stop - f.start);
			const uint8_t *body = f.data;
			size_t blen = f.len;
			if (f.num == 15) {
				/* SparseTensorProto: the name lives in values */
				in->sparse = true;
				m->nsparse++;
				rc = tensor_name_field(f.data, f.len, 1, "SparseTensorProto",
						       &body, &blen, err);
				if (rc == 0 && body == NULL)
					rc = kiln_errf(err, KILN_EINVAL, "model",
						       "a sparse initializer has no values");
				if (rc < 0)
					break;
			}
			rc = parse_init(m, body, blen, in, err);
			if (rc == 0) {
				in->off = (size_t)(f.start - m->base);
				in->len = (size_t)(f.stop - f.start);
				if (in->external)
					m->ext_bytes += in->ext_length > 0 ? (uint64_t)in->ext_length : 0;
				else
					m->init_bytes += in->nbytes;
				m->ninits++;
			}
			break;
		}
		case 11:
		case 12:
		case 13: {
			const char *role = f.num == 11 ? "input" : f.num == 12 ? "output" : "value_info";
			uint32_t k = f.num == 11 ? m->ninputs : f.num == 12 ? m->noutputs : m->nvalues;
			rc = parse_vinfo(m, &f, &m->vinfos[m->nvinfos], role, k, err);
			if (rc == 0) {
				if (f.num == 11)
					m->inputs[m->ninputs++] = m->nvinfos;
				else if (f.num == 12)
					m->outputs[m->noutputs++] = m->nvinfos;
				else
					m->values[m->nvalues++] = m->nvinfos;
				m->nvinfos++;
			}
			break;
		}
		default:
			if (f.num == 16)
				m->graph_has_metadata = true;
			rc = grow_spans(m, &m->gextra, &m->ngextra, &f, err);
			break;
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* --- model ---------------------------------------------------------------------- */
static int parse_model(struct parse *ps, struct kiln_err *err)
{
	struct onnx_model *m = ps->m;
	struct pbr r = { m->base, m->base + m->size };
	struct pbf f, graph = { 0 };
	bool has_ir = false, has_graph = false;
	int rc;
	uint32_t nops = 0, nmeta = 0;

	if (m->size == 0)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "the file is empty; an ONNX model is a serialized ModelProto");
	while ((rc = pb_next(&r, &f, "ModelProto", err)) > 0) {
		switch (f.num) {
		case 1:
			if ((rc = want_wt(&f, 0, "ModelProto", "ir_version", err)))
				return rc;
			has_ir = true;
			m->ir_version = (int64_t)f.v;
			break;
		case 2: case 3: case 4: case 6:
			if ((rc = want_wt(&f, 2, "ModelProto", "string field", err)))
				return rc;
			if (f.num != 6 && f.len > 4096)
				return kiln_errf(err, KILN_EINVAL, "model",
						 "ModelProto field %u is %zu bytes (limit 4096)",
						 f.num, f.len);
			if (f.num == 2)
				m->producer_name = text_copy(m, f.data, f.len);
			else if (f.num == 3)
				m->producer_version = text_copy(m, f.data, f.len);
			else if (f.num == 4)
				m->domain = text_copy(m, f.data, f.len);
			break;
		case 5:
			if ((rc = want_wt(&f, 0, "ModelProto", "model_version", err)))
				return rc;
			m->model_version = (int64_t)f.v;
			break;
		case 7:
			if ((rc = want_wt(&f, 2, "ModelProto", "graph", err)))
				return rc;
			if (has_graph)
				return kiln_errf(err, KILN_EINVAL, "model",
						 "the model has two graph fields");
			has_graph = true;
			graph = f;
			break;
		case 8:
			if ((rc = want_wt(&f, 2, "ModelProto", "opset_import", err)))
				return rc;
			nops++;
			break;
		case 14:
			if ((rc = want_wt(&f, 2, "ModelProto", "metadata_props", err)))
				return rc;
			nmeta++;
			break;
		case 20:
			m->ntraining++;
			break;
		case 25:
			m->nfunctions++;
			break;
		default:
			if (f.num > 25)
				m->model_has_newer_fields = true;
			break;
		}
		if ((rc = grow_spans(m, &m->top, &m->ntop, &f, err)))
			return rc;
		if (m->ntop > 100000)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "not an ONNX model: more than 100000 top-level fields");
	}
	if (rc < 0)
		return rc;
	if (!has_graph)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: the ModelProto has no graph%s",
				 has_ir ? "" : " and no ir_version");
	if (!has_ir)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: the ModelProto has no ir_version");
	if (m->ir_version < 1 || m->ir_version > 64)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: ir_version %lld is not an ONNX IR version",
				 (long long)m->ir_version);
	if (nops > ONNX_MAX_OPSETS || nmeta > ONNX_MAX_META)
		return kiln_errf(err, KILN_ETOOBIG, "model",
				 "the model has %u opset imports and %u metadata entries (limits %d, %d)",
				 nops, nmeta, ONNX_MAX_OPSETS, ONNX_MAX_META);
	m->opsets = onnx_arena_alloc(m, (nops + 1) * sizeof(*m->opsets));
	m->meta = onnx_arena_alloc(m, (nmeta + 1) * sizeof(*m->meta));
	if (m->opsets == NULL || m->meta == NULL)
		return oom(err);
	r = (struct pbr){ m->base, m->base + m->size };
	while ((rc = pb_next(&r, &f, "ModelProto", err)) > 0) {
		if (f.num == 8)
			rc = parse_opset(m, &f, &m->opsets[m->nopsets++], err);
		else if (f.num == 14)
			rc = parse_kv(m, &f, 1u << 20, &m->meta[m->nmeta++],
				      "metadata_props", err);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	m->graph_off = (size_t)(graph.start - m->base);
	m->graph_len = (size_t)(graph.stop - graph.start);
	return parse_graph(ps, graph.data, graph.len, err);
}

/* --- links, validation, order ---------------------------------------------------- */
static const char *node_label(const struct onnx_model *m, uint32_t i, char *buf,
			      size_t size)
{
	const struct onnx_node *n = &m->nodes[i];
	int len;
	const char *name = onnx_node_name(m, n, &len);
	if (len > 0)
		snprintf(buf, size, "node '%.*s' (%s)", len > 80 ? 80 : len, name, n->op);
	else
		snprintf(buf, size, "node %u (%s)", i, n->op);
	return buf;
}

/* The first 100 bytes of t's name, for a message. */
static const char *tname(const struct onnx_model *m, const struct onnx_tensor *t,
			 char buf[104])
{
	int n = t->name_len > 100 ? 100 : t->name_len;
	snprintf(buf, 104, "%.*s", n, (const char *)m->base + t->name_off);
	return buf;
}

static bool defined(const struct onnx_tensor *t)
{
	return t->producer >= 0 || t->init >= 0 || t->is_input;
}

static int link_graph(struct onnx_model *m, struct kiln_err *err)
{
	char a[128], b[128], tn[104];
	for (uint32_t i = 0; i < m->ninits; i++) {
		struct onnx_tensor *t = &m->tensors[m->inits[i].tensor];
		if (t->init >= 0)
			return kiln_errf(err, KILN_EUNPROC, "model",
					 "initializer '%s' is given twice", tname(m, t, tn));
		t->init = (int32_t)i;
	}
	for (uint32_t k = 0; k < m->ninputs; k++) {
		struct onnx_tensor *t = &m->tensors[m->vinfos[m->inputs[k]].tensor];
		t->is_input = true;
		if (t->vi < 0)
			t->vi = (int32_t)m->inputs[k];
	}
	for (uint32_t k = 0; k < m->noutputs; k++) {
		struct onnx_tensor *t = &m->tensors[m->vinfos[m->outputs[k]].tensor];
		t->is_output = true;
		if (t->vi < 0)
			t->vi = (int32_t)m->outputs[k];
	}
	for (uint32_t k = 0; k < m->nvalues; k++) {
		struct onnx_tensor *t = &m->tensors[m->vinfos[m->values[k]].tensor];
		if (t->vi < 0)
			t->vi = (int32_t)m->values[k];
	}
	for (uint32_t i = 0; i < m->nnodes; i++) {
		const struct onnx_node *n = &m->nodes[i];
		for (uint32_t k = 0; k < n->nout; k++) {
			if (onnx_node_out(m, n, k) == ONNX_NONE)
				continue;
			struct onnx_tensor *t = &m->tensors[onnx_node_out(m, n, k)];
			if (t->producer >= 0)
				return kiln_errf(err, KILN_EUNPROC, "model",
						 "tensor '%.80s' is produced twice: by %s and by %s",
						 tname(m, t, tn), node_label(m, (uint32_t)t->producer, a, sizeof(a)),
						 node_label(m, i, b, sizeof(b)));
			if (t->init >= 0 || t->is_input)
				return kiln_errf(err, KILN_EUNPROC, "model",
						 "tensor '%.80s' is a graph %s and also an output of %s",
						 tname(m, t, tn), t->init >= 0 ? "initializer" : "input",
						 node_label(m, i, a, sizeof(a)));
			t->producer = (int32_t)i;
		}
	}
	for (uint32_t i = 0; i < m->nnodes; i++) {
		const struct onnx_node *n = &m->nodes[i];
		for (uint32_t k = 0; k < onnx_node_nuse(n); k++) {
			uint32_t id = onnx_node_use(m, n, k);
			if (id == ONNX_NONE || defined(&m->tensors[id]))
				continue;
			return kiln_errf(err, KILN_EUNPROC, "model",
					 "%s reads '%.80s'%s, which no node produces and which is neither a graph input nor an initializer",
					 node_label(m, i, a, sizeof(a)), tname(m, &m->tensors[id], tn),
					 k < n->nin ? "" : " (inside a subgraph)");
		}
	}
	for (uint32_t k = 0; k < m->noutputs; k++) {
		const struct onnx_tensor *t = &m->tensors[m->vinfos[m->outputs[k]].tensor];
		if (!defined(t))
			return kiln_errf(err, KILN_EUNPROC, "model",
					 "graph output '%s' is produced by no node", tname(m, t, tn));
	}
	return 0;
}

static int build_consumers(struct onnx_model *m, struct kiln_err *err)
{
	m->cons_start = calloc((size_t)m->ntensors + 1, sizeof(uint32_t));
	size_t total = 0;
	for (uint32_t i = 0; i < m->nnodes; i++)
		total += m->nodes[i].nin + m->nodes[i].nimplicit;
	m->cons = malloc((total + 1) * sizeof(uint32_t));
	uint32_t *fill = calloc((size_t)m->ntensors + 1, sizeof(uint32_t));
	if (m->cons_start == NULL || m->cons == NULL || fill == NULL) {
		free(fill);
		return oom(err);
	}
	for (uint32_t i = 0; i < m->nnodes; i++) {
		const struct onnx_node *n = &m->nodes[i];
		for (uint32_t k = 0; k < onnx_node_nuse(n); k++) {
			uint32_t id = onnx_node_use(m, n, k);
			if (id != ONNX_NONE)
				m->cons_start[id + 1]++;
		}
	}
	for (uint32_t t = 0; t < m->ntensors; t++)
		m->cons_start[t + 1] += m->cons_start[t];
	for (uint32_t i = 0; i < m->nnodes; i++) {
		const struct onnx_node *n = &m->nodes[i];
		for (uint32_t k = 0; k < onnx_node_nuse(n); k++) {
			uint32_t id = onnx_node_use(m, n, k);
			if (id != ONNX_NONE)
				m->cons[m->cons_start[id] + fill[id]++] = i;
		}
	}
	free(fill);
	return 0;
}

/* Min-heap of node indexes, so the topological order stays as close to the
 * file's order as the edges allow. */
static void heap_push(uint32_t *h, uint32_t *n, uint32_t v)
{
	uint32_t i = (*n)++;
	while (i > 0 && h[(i - 1) / 2] > v) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = v;
}

static uint32_t heap_pop(uint32_t *h, uint32_t *n)
{
	uint32_t top = h[0], v = h[--(*n)], i = 0;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1] < h[c])
			c++;
		if (h[c] >= v)
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n > 0)
		h[i] = v;
	return top;
}

static int topo_sort(struct onnx_model *m, struct kiln_err *err)
{
	uint32_t nn = m->nnodes;
	m->topo = malloc((nn + 1) * sizeof(uint32_t));
	if (m->topo == NULL)
		return oom(err);
	bool sorted = true;
	for (uint32_t i = 0; i < nn && sorted; i++) {
		const struct onnx_node *n = &m->nodes[i];
		for (uint32_t k = 0; k < onnx_node_nuse(n); k++) {
			uint32_t id = onnx_node_use(m, n, k);
			if (id != ONNX_NONE && m->tensors[id].producer >= (int32_t)i)
				sorted = false;
		}
	}
	if (sorted) {
		for (uint32_t i = 0; i < nn; i++)
			m->topo[i] = i;
		return 0;
	}
	uint32_t *indeg = calloc(nn + 1, sizeof(uint32_t));
	uint32_t *heap = malloc((nn + 1) * sizeof(uint32_t));
	if (indeg == NULL || heap == NULL) {
		free(indeg);
		free(heap);
		return oom(err);
	}
	for (uint32_t i = 0; i < nn; i++) {
		const struct onnx_node *n = &m->nodes[i];
		for (uint32_t k = 0; k < onnx_node_nuse(n); k++) {
			uint32_t id = onnx_node_use(m, n, k);
			if (id != ONNX_NONE && m->tensors[id].producer >= 0)
				indeg[i]++;
		}
	}
	uint32_t hn = 0, done = 0;
	for (uint32_t i = 0; i < nn; i++)
		if (indeg[i] == 0)
			heap_push(heap, &hn, i);
	while (hn > 0) {
		uint32_t i = heap_pop(heap, &hn);
		m->topo[done++] = i;
		const struct onnx_node *n = &m->nodes[i];
		for (uint32_t k = 0; k < n->nout; k++) {
			uint32_t t = onnx_node_out(m, n, k);
			if (t == ONNX_NONE)
				continue;
			for (uint32_t c = m->cons_start[t]; c < m->cons_start[t + 1]; c++)
				if (--indeg[m->cons[c]] == 0)
					heap_push(heap, &hn, m->cons[c]);
		}
	}
	int rc = 0;
	if (done < nn) {
		/* Walk back from a stuck node through stuck producers; after nn
		 * steps the walk is inside a cycle. */
		uint32_t cur = 0;
		while (indeg[cur] == 0)
			cur++;
		for (uint32_t step = 0; step < nn; step++) {
			const struct onnx_node *n = &m->nodes[cur];
			for (uint32_t k = 0; k < onnx_node_nuse(n); k++) {
				uint32_t id = onnx_node_use(m, n, k);
				if (id == ONNX_NONE)
					continue;
				int32_t p = m->tensors[id].producer;
				if (p >= 0 && indeg[p] > 0) {
					cur = (uint32_t)p;
					break;
				}
			}
		}
		char a[128], b[128], tn[104];
		const struct onnx_node *n = &m->nodes[cur];
		uint32_t via = ONNX_NONE;
		for (uint32_t k = 0; k < onnx_node_nuse(n) && via == ONNX_NONE; k++) {
			uint32_t id = onnx_node_use(m, n, k);
			if (id != ONNX_NONE && m->tensors[id].producer >= 0 &&
			    indeg[m->tensors[id].producer] > 0)
				via = id;
		}
		rc = kiln_errf(err, KILN_EUNPROC, "model",
			       "the graph has a cycle: %s reads '%.60s' from %s, which depends on it again (%u of %u nodes are on or behind a cycle)",
			       node_label(m, cur, a, sizeof(a)),
			       via != ONNX_NONE ? tname(m, &m->tensors[via], tn) : "?",
			       node_label(m, via != ONNX_NONE ? (uint32_t)m->tensors[via].producer : cur, b, sizeof(b)),
			       nn - done, nn);
	}
	free(indeg);
	free(heap);
	return rc;
}

static int finish(struct parse *ps, struct kiln_err *err)
{
	struct onnx_model *m = ps->m;
	int rc = parse_model(ps, err);
	if (rc == 0)
		rc = link_graph(m, err);
	if (rc == 0)
		rc = build_consumers(m, err);
	if (rc == 0)
		rc = topo_sort(m, err);
	if (rc == 0) {
		m->all_ops = onnx_arena_alloc(m, (ps->ops.count + 1) * sizeof(char *));
		if (m->all_ops == NULL)
			rc = oom(err);
		for (uint32_t i = 0; rc == 0 && i < ps->ops.count; i++) {
			m->all_ops[i] = onnx_arena_strdup(m, (const char *)ps->ops.v[i].p,
							  ps->ops.v[i].n);
			if (m->all_ops[i] == NULL)
				rc = oom(err);
			m->nall_ops++;
		}
	}
	if (rc == 0)
		rc = onnx_infer_types(m, err);
	sset_free(&ps->ops);
	sset_free(&ps->strs);
	free(ps->copies);
	/* What the readers touch later (a few names, attributes, small
	 * constants) comes back a page at a time. */
	onnx_release_pages(m);
	return rc;
}

static int open_common(struct onnx_model *m, struct onnx_model **out,
		       struct kiln_err *err)
{
	struct parse ps = { .m = m };
	m->producer_name = m->producer_version = m->domain = m->graph_name = "";
	int rc = finish(&ps, err);
	if (rc < 0) {
		onnx_close(m);
		return rc;
	}
	*out = m;
	return 0;
}

int onnx_open_mem(const void *buf, size_t len, struct onnx_model **out,
		  struct kiln_err *err)
{
	*out = NULL;
	if (len > ONNX_MAX_FILE)
		return kiln_errf(err, KILN_ETOOBIG, "model",
				 "the model is %zu bytes (limit %zu)", len, ONNX_MAX_FILE);
	struct onnx_model *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return oom(err);
	m->fd = -1;
	m->base = buf;
	m->size = len;
	return open_common(m, out, err);
}

/* --- loading a file ---------------------------------------------------------
 *
 * The file is mapped read-only and parsed in place; the mapping's pages are
 * dropped every 2 MB of progress and at the end (onnx_release_pages), so
 * neither the weights nor the graph's own bytes stay in memory: what is
 * resident afterwards is what the parse built.  (The weights' pages are
 * never read, but kernels with large page-cache folios map a whole 2 MB
 * folio on the first touch of a weight's header; dropping them as the
 * parse moves on keeps that bounded too.)  The file is a blob or our own
 * upload, never changed while open.
 */
void onnx_release_pages(const struct onnx_model *m)
{
	if (m->mapped)
		madvise((void *)m->base, m->size, MADV_DONTNEED);
}

int onnx_open(const char *path, struct onnx_model **out, struct kiln_err *err)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_errf(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EIO,
				 "model", "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return kiln_errf(err, KILN_EIO, "model", "%s is not a regular file", path);
	}
	if ((uint64_t)st.st_size > ONNX_MAX_FILE) {
		close(fd);
		return kiln_errf(err, KILN_ETOOBIG, "model",
				 "the model is %lld bytes (limit %zu)",
				 (long long)st.st_size, ONNX_MAX_FILE);
	}
	struct onnx_model *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		close(fd);
		return oom(err);
	}
	m->fd = fd;
	m->size = (size_t)st.st_size;
	m->base = (const uint8_t *)"";
	if (m->size > 0) {
		void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			int e = errno;
			onnx_close(m);
			return kiln_errf(err, KILN_ENOMEM, "model",
					 "cannot map %s (%zu bytes): %s", path,
					 (size_t)st.st_size, strerror(e));
		}
		m->base = p;
		m->mapped = true;
	}
	return open_common(m, out, err);
}

void onnx_close(struct onnx_model *m)
{
	if (m == NULL)
		return;
	if (m->mapped)
		munmap((void *)m->base, m->size);
	if (m->fd >= 0)
		close(m->fd);
	free(m->nodes);
	free(m->edges);
	free(m->inits);
	free(m->vinfos);
	free(m->inputs);
	free(m->outputs);
	free(m->values);
	free(m->tensors);
	free(m->htab);
	free(m->topo);
	free(m->cons_start);
	free(m->cons);
	free(m->top);
	free(m->gextra);
	arena_free(m->arena);
	free(m);
}

/* --- accessors ------------------------------------------------------------------- */
int64_t onnx_ir_version(const struct onnx_model *m)
{
	return m->ir_version;
}

int64_t onnx_opset_version(const struct onnx_model *m, const char *domain)
{
	bool want_default = domain == NULL || domain[0] == '\0' ||
			    strcmp(domain, "ai.onnx") == 0;
	for (uint32_t i = 0; i < m->nopsets; i++) {
		const char *d = m->opsets[i].domain;
		bool is_default = d[0] == '\0' || strcmp(d, "ai.onnx") == 0;
		if (want_default ? is_default : strcmp(d, domain) == 0)
			return m->opsets[i].version;
	}
	return -1;
}

size_t onnx_node_count(const struct onnx_model *m)
{
	return m->nnodes;
}

const char *onnx_node_op(const struct onnx_model *m, size_t i)
{
	return i < m->nnodes ? m->nodes[i].op : NULL;
}

const char *onnx_node_domain(const struct onnx_model *m, size_t i)
{
	return i < m->nnodes ? m->nodes[i].domain : NULL;
}

static const struct onnx_vinfo *feed(const struct onnx_model *m, size_t i)
{
	for (uint32_t k = 0; k < m->ninputs; k++) {
		const struct onnx_vinfo *v = &m->vinfos[m->inputs[k]];
		if (m->tensors[v->tensor].init >= 0)
			continue;
		if (i-- == 0)
			return v;
	}
	return NULL;
}

size_t onnx_feed_count(const struct onnx_model *m)
{
	size_t n = 0;
	for (uint32_t k = 0; k < m->ninputs; k++)
		n += m->tensors[m->vinfos[m->inputs[k]].tensor].init < 0;
	return n;
}

const char *onnx_feed_name(const struct onnx_model *m, size_t i)
{
	const struct onnx_vinfo *v = feed(m, i);
	return v ? v->name : NULL;
}

int onnx_feed_is_dynamic(const struct onnx_model *m, size_t i)
{
	const struct onnx_vinfo *v = feed(m, i);
	if (v == NULL)
		return 0;
	if (!v->has_type || v->type.kind != OK_TENSOR || v->type.rank < 0)
		return 1;
	for (int k = 0; k < v->type.rank; k++)
		if (!v->type.dims[k].has_value || v->type.dims[k].value <= 0)
			return 1;
	return 0;
}

void onnx_feed_shape_text(const struct onnx_model *m, size_t i, char *buf,
			  size_t size)
{
	const struct onnx_vinfo *v = feed(m, i);
	if (v == NULL) {
		snprintf(buf, size, "?");
		return;
	}
	onnx_shape_text(&v->type, buf, size);
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
