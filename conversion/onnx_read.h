/*
 * onnx_read: what the reader's files share (onnx.c, onnx_wire.c,
 * onnx_intern.c, onnx_types.c, onnx_init.c, onnx_parse.c, onnx_link.c)
 * and nothing else uses: the parse state, name checks, interning and the
 * message readers each file provides.  The model they build is
 * onnx_priv.h's.
 *
 * The reader's files call down this list and never up it: onnx.c opens
 * and runs onnx_parse_model, onnx_link and onnx_infer_types; onnx_parse.c
 * uses onnx_init.c and onnx_types.c; all of them use onnx_wire.c and
 * onnx_intern.c, which use nothing of the others.
 */
#ifndef KILN_ONNX_READ_H
#define KILN_ONNX_READ_H

#include "conversion/onnx_priv.h"

/* --- onnx_intern.c: sets of byte strings (subgraph scopes, op types) ------ */
struct onnx_sspan {
	const uint8_t *p;
	uint32_t n;
};
struct onnx_sset {
	struct onnx_sspan *v;
	uint32_t count, vcap;
	uint32_t *tab, cap;
};
/* Adds p[0..n) unless present; *index (may be NULL) gets its entry.  0, or
 * -1 when out of memory.  The set keeps p, not a copy. */
int onnx_sset_add(struct onnx_sset *s, const uint8_t *p, size_t n, uint32_t *index);
bool onnx_sset_has(const struct onnx_sset *s, const uint8_t *p, size_t n);
void onnx_sset_free(struct onnx_sset *s);

/* Tensor id of the name p[0..n) (checked by the caller, in the file:
 * p points into m->base), interned on first sight. */
int onnx_intern(struct onnx_model *m, const uint8_t *p, size_t n, uint32_t *id,
		struct kiln_err *err);
/* Frees an arena chain (onnx_close). */
void onnx_arena_free(struct arena *a);

/* --- onnx_parse.c: the parse state ----------------------------------------- */
struct onnx_parse {
	struct onnx_model *m;
	struct onnx_sset ops;          /* distinct op types, nested included */
	uint32_t all_nodes;       /* top-level + nested, for the bound */
	struct onnx_sset strs;         /* op types and domains of nodes ... */
	const char **copies;      /* ... and their one copy each */
	uint32_t copies_cap;
	size_t released;          /* file offset up to which pages were dropped */
};

/* ModelProto at ps->m->base into ps->m (graph, nodes, value infos,
 * initializers, opsets, metadata). */
int onnx_parse_model(struct onnx_parse *ps, struct kiln_err *err);

/* --- onnx_link.c ------------------------------------------------------------ */
/* Producers, checks (closed, no tensor made twice), consumers, topological
 * order. */
int onnx_link(struct onnx_model *m, struct kiln_err *err);

/* --- onnx_wire.c: wire checks and names ------------------------------------- */
/* 0 when f has wire type wt, else KILN_EINVAL naming what.field. */
int onnx_want_wt(const struct pbf *f, int wt, const char *what,
		 const char *field, struct kiln_err *err);
/* Printable excerpt of untrusted bytes for an error message. */
void onnx_show(const uint8_t *s, size_t n, char *buf, size_t size);
/* Checks a name from the file; on failure writes why into why. */
bool onnx_name_ok(const uint8_t *s, size_t n, char *why, size_t wsz);
/* KILN_EINVAL: "<ctx> <why>; names must be ..." */
int onnx_bad_name(struct kiln_err *err, const char *why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Free text (producer, metadata values) as an arena copy, control
 * characters and invalid UTF-8 replaced by '?'; NULL when out of memory. */
const char *onnx_text_copy(struct onnx_model *m, const uint8_t *s, size_t n);

/* --- onnx_types.c / onnx_init.c: messages ----------------------------------- */
/* TypeProto p[0..len) into *t (strings in the arena). */
int onnx_parse_type(struct onnx_model *m, const uint8_t *p, size_t len,
		    int depth, struct onnx_type *t, struct kiln_err *err);
/* StringStringEntryProto field f (at most maxlen bytes) into *kv. */
int onnx_parse_kv(struct onnx_model *m, const struct pbf *f, size_t maxlen,
		  struct onnx_kv *kv, const char *what, struct kiln_err *err);
/* TensorProto p[0..len) into *in: name interned, dims, data checked
 * against them, external data recorded. */
int onnx_parse_init(struct onnx_model *m, const uint8_t *p, size_t len,
		    struct onnx_init *in, struct kiln_err *err);

static inline int onnx_oom(struct kiln_err *err)
{
	return kiln_errf(err, KILN_ENOMEM, "", "out of memory while reading the model");
}

/* Marks TensorProto.DataType t as used somewhere (for the IR rewrite). */
static inline void onnx_note_type(struct onnx_model *m, int64_t t)
{
	if (t > 0 && t < 32)
		m->used_types |= 1u << t;
}

#endif
