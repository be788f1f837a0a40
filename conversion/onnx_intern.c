/*
 * onnx_intern: the reader's memory.  The arena that holds a model's small
 * copies (one free for all), tensors by name (each name interned once, kept
 * as an offset into the file, found through an open-addressing table) and
 * the sets of byte strings the parse uses for subgraph scopes and op types.
 *
 * Also the dropping of the mapped file's pages (onnx_release_pages), which
 * the parse and the graph writer call as they move through the file.
 * Nothing here reads the file's structure; onnx_parse.c calls in.
 */
#include "conversion/onnx_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

void onnx_arena_free(struct arena *a)
{
	while (a != NULL) {
		struct arena *next = a->next;
		free(a);
		a = next;
	}
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
int onnx_intern(struct onnx_model *m, const uint8_t *p, size_t n,
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
/* Adds p[0..n) unless present; *index (may be NULL) gets its entry. */
int onnx_sset_add(struct onnx_sset *s, const uint8_t *p, size_t n, uint32_t *index)
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
		const struct onnx_sspan *e = &s->v[s->tab[i] - 1];
		if (e->n == n && memcmp(e->p, p, n) == 0) {
			if (index)
				*index = s->tab[i] - 1;
			return 0;
		}
		i = (i + 1) & (s->cap - 1);
	}
	if (s->count == s->vcap) {
		uint32_t vcap = s->vcap ? s->vcap * 2 : 32;
		struct onnx_sspan *v = realloc(s->v, vcap * sizeof(*v));
		if (v == NULL)
			return -1;
		s->v = v;
		s->vcap = vcap;
	}
	s->v[s->count] = (struct onnx_sspan){ p, (uint32_t)n };
	s->tab[i] = ++s->count;
	if (index)
		*index = s->count - 1;
	return 0;
}

bool onnx_sset_has(const struct onnx_sset *s, const uint8_t *p, size_t n)
{
	if (s->cap == 0)
		return false;
	uint32_t i = hash_bytes(p, n) & (s->cap - 1);
	while (s->tab[i] != 0) {
		const struct onnx_sspan *e = &s->v[s->tab[i] - 1];
		if (e->n == n && memcmp(e->p, p, n) == 0)
			return true;
		i = (i + 1) & (s->cap - 1);
	}
	return false;
}

void onnx_sset_free(struct onnx_sset *s)
{
	free(s->v);
	free(s->tab);
	memset(s, 0, sizeof(*s));
}

/* --- the mapped file's pages ---------------------------------------------------- */
void onnx_release_pages(const struct onnx_model *m)
{
	if (m->mapped)
		madvise((void *)m->base, m->size, MADV_DONTNEED);
}
