/*
 * onnx_priv: the in-memory model shared by the onnx_*.c files (reader,
 * JSON, suggestions, writer).  Not for other modules: they use onnx.h.
 *
 * Tensor and node names are not copied: they are (offset, length) into the
 * mapped file, read with onnx_tensor_name / onnx_node_name (not
 * NUL-terminated; print them with "%.*s").  A 1M-node model's names are
 * ~100 MB, more than everything else the reader keeps.  Other strings (op
 * types, domains, attribute names, dim names, graph input and output names)
 * are NUL-terminated copies in the model's arena, op types and domains one
 * copy per distinct string.  Every byte range (off, len) points into the
 * mapped file and covers a whole field, tag included, so the writer can
 * copy it verbatim.
 */
#ifndef KILN_ONNX_PRIV_H
#define KILN_ONNX_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conversion/onnx.h"

#define ONNX_NONE UINT32_MAX

/* protobuf wire reader ----------------------------------------------------- */
struct pbr {
	const uint8_t *p, *end;
};
struct pbf {
	uint32_t num;
	int wt;                  /* 0 varint, 1 fixed64, 2 bytes, 5 fixed32 */
	uint64_t v;              /* varint / fixed value */
	const uint8_t *data;     /* wt 2: payload */
	size_t len;
	const uint8_t *start;    /* first byte of the tag */
	const uint8_t *stop;     /* one past the field */
};
/* 1 when a field was read, 0 at the end, <0 on malformed input (err set;
 * what names the message being read). */
int pb_next(struct pbr *r, struct pbf *f, const char *what,
	    struct kiln_err *err);
int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* types -------------------------------------------------------------------- */
enum onnx_kind {
	OK_UNKNOWN = 0, OK_TENSOR, OK_SPARSE, OK_SEQUENCE, OK_MAP, OK_OPTIONAL,
	OK_OPAQUE,
};
struct onnx_dim {
	int64_t value;
	const char *param;       /* named dim, or NULL */
	bool has_value;
};
struct onnx_type {
	int kind;                /* enum onnx_kind */
	int elem;                /* TensorProto.DataType of the (inner) tensor */
	int rank;                /* -1: no shape */
	struct onnx_dim *dims;
	const char *desc;        /* "sequence(tensor(float32))" for non-tensors */
};

struct onnx_vinfo {
	uint32_t tensor;
	const char *name;        /* graph inputs and outputs only, else NULL */
	struct onnx_type type;
	bool has_type;
	size_t off, len;
};

struct onnx_attr {
	const char *name;
	int type;                /* AttributeProto.AttributeType, 0 if absent */
	const uint8_t *body;     /* the AttributeProto message */
	size_t len;
};

struct onnx_node {
	const char *op, *domain; /* shared: one copy per distinct string */
	/* Edges, as tensor ids (ONNX_NONE for "", an omitted optional
	 * input), at m->edges[e_ ..]: nin inputs, nout outputs, then the
	 * nimplicit outer names its subgraphs read.  Read them only through
	 * onnx_node_in/out/use below, never by indexing: a file may give any
	 * op any number of inputs (an Identity with none), so input 0 need not
	 * exist, and only the accessors know.  The trailing underscore marks
	 * the offset as the parser's. */
	uint32_t e_, nin, nout, nimplicit;
	uint32_t nattr;
	uint32_t maxfield;       /* highest NodeProto field number seen */
	uint32_t name_len;       /* name: m->base + name_off (see above) */
	struct onnx_attr *attrs; /* NULL when nattr is 0 */
	uint64_t name_off;
	size_t off, len;
};

struct onnx_init {
	uint32_t tensor;
	int data_type;
	int ndims;
	int64_t *dims;
	uint64_t nbytes;         /* tensor data stored in the file */
	const uint8_t *raw;      /* raw_data payload, or NULL */
	size_t rawlen;
	const uint8_t *body;     /* TensorProto message (values for sparse) */
	size_t bodylen;
	bool sparse;
	bool external;
	const char *location;
	int64_t ext_offset, ext_length;
	bool escapes;            /* location absolute or has a ".." part */
	size_t off, len;
};

struct onnx_tensor {
	uint64_t name_off;       /* name: m->base + name_off (see above) */
	const struct onnx_type *ty; /* best known type (declared or inferred);
				       inferred ones are shared by equal types */
	uint32_t hash;
	int32_t producer;        /* node index or -1 */
	int32_t init;            /* initializer index or -1 */
	int32_t vi;              /* vinfo index (input/output/value_info) or -1 */
	uint16_t name_len;       /* <= ONNX_NAME_MAX */
	bool is_input, is_output;
	bool inferred;
};

struct onnx_opset {
	const char *domain;
	int64_t version;
};
struct onnx_kv {
	const char *key, *value;
};
struct onnx_span {
	uint32_t num;
	size_t off, len;
};

struct arena;

struct onnx_model {
	const uint8_t *base;
	size_t size;
	bool mapped;                  /* base is our read-only map of fd */
	int fd;                       /* the mapped file (closed with the model); -1 */
	struct arena *arena;

	int64_t ir_version;
	const char *producer_name, *producer_version, *domain;
	int64_t model_version;
	struct onnx_opset *opsets;
	uint32_t nopsets;
	struct onnx_kv *meta;
	uint32_t nmeta;
	uint32_t nfunctions, ntraining;
	bool model_has_newer_fields;  /* ModelProto field 26+ (IR 11) */

	struct onnx_span *top;        /* top-level fields in file order */
	uint32_t ntop;
	const char *graph_name;
	size_t graph_off, graph_len;  /* graph field (tag included) */
	struct onnx_span *gextra;     /* graph fields not listed below */
	uint32_t ngextra;
	bool graph_has_metadata;      /* GraphProto.metadata_props (IR 10) */

	struct onnx_node *nodes;
	uint32_t nnodes;
	uint32_t *edges;              /* every node's edges (struct onnx_node) */
	uint32_t nedges, capedges;
	struct onnx_init *inits;
	uint32_t ninits, nsparse;
	struct onnx_vinfo *vinfos;
	uint32_t nvinfos;
	uint32_t *inputs, ninputs;    /* vinfo indexes */
	uint32_t *outputs, noutputs;
	uint32_t *values, nvalues;
	uint64_t init_bytes, ext_bytes;
	uint32_t subgraph_nodes;      /* nodes inside If/Loop/Scan bodies */
	const char **all_ops;         /* distinct op types, nested included */
	uint32_t nall_ops;
	uint32_t used_types;          /* bit i: data type i appears somewhere */

	struct onnx_tensor *tensors;
	uint32_t ntensors, captensors;
	uint32_t *htab;               /* open addressing: tensor id + 1 */
	uint32_t hcap;

	uint32_t *topo;               /* node indexes, topological order */
	uint32_t *cons_start;         /* CSR: consumers of tensor t are */
	uint32_t *cons;               /* cons[cons_start[t]..cons_start[t+1]) */

	/* While types are inferred (onnx_infer_types): a per-node scratch
	 * buffer new types are built in before equal ones are merged. */
	uint8_t *tscratch;
	size_t tscratch_used, tscratch_cap;
};

/* Name of tensor t / node n: *len bytes at the returned pointer, not
 * NUL-terminated; valid while m is open. */
static inline const char *onnx_tensor_name(const struct onnx_model *m,
					   uint32_t t, int *len)
{
	*len = m->tensors[t].name_len;
	return (const char *)m->base + m->tensors[t].name_off;
}
static inline const char *onnx_node_name(const struct onnx_model *m,
					 const struct onnx_node *n, int *len)
{
	*len = (int)n->name_len;
	return (const char *)m->base + n->name_off;
}
/* Tensor t's name as a C string in buf (size > ONNX_NAME_MAX holds any
 * name whole); returns buf. */
char *onnx_tensor_name_copy(const struct onnx_model *m, uint32_t t, char *buf,
			    size_t size);
/* Drops the model file's pages from this process's memory (they stay in
 * the page cache and come back on the next read).  Readers that walk the
 * whole graph, and the writers that copy out of it, call it every few MB
 * so the mapping's resident part stays small; harmless from any thread.
 * No-op for onnx_open_mem models. */
void onnx_release_pages(const struct onnx_model *m);

/* Checked edges of a node.  Each returns a tensor id < m->ntensors, or
 * ONNX_NONE when n is NULL, k is past the node's inputs (outputs), or the
 * slot is an omitted "" input; callers must handle ONNX_NONE. */
static inline uint32_t onnx_edge_(const struct onnx_model *m, uint32_t at,
				  uint32_t nv, uint32_t k)
{
	if (k >= nv || (uint64_t)at + k >= m->nedges ||
	    m->edges[at + k] >= m->ntensors)
		return ONNX_NONE;
	return m->edges[at + k];
}
static inline uint32_t onnx_node_in(const struct onnx_model *m,
				    const struct onnx_node *n, uint32_t k)
{
	return n ? onnx_edge_(m, n->e_, n->nin, k) : ONNX_NONE;
}
static inline uint32_t onnx_node_out(const struct onnx_model *m,
				     const struct onnx_node *n, uint32_t k)
{
	return n ? onnx_edge_(m, n->e_ + n->nin, n->nout, k) : ONNX_NONE;
}
/* Everything node n reads: its inputs, then the outer tensors its
 * subgraphs read; k < onnx_node_nuse(n). */
static inline uint32_t onnx_node_nuse(const struct onnx_node *n)
{
	return n ? n->nin + n->nimplicit : 0;
}
static inline uint32_t onnx_node_use(const struct onnx_model *m,
				     const struct onnx_node *n, uint32_t k)
{
	if (n == NULL)
		return ONNX_NONE;
	return k < n->nin ? onnx_edge_(m, n->e_, n->nin, k)
			  : onnx_edge_(m, n->e_ + n->nin + n->nout, n->nimplicit,
				       k - n->nin);
}
/* Node i, or NULL when i is not a node index (-1 for "no producer"). */
static inline const struct onnx_node *onnx_node_at(const struct onnx_model *m,
						   int64_t i)
{
	return i >= 0 && i < (int64_t)m->nnodes ? &m->nodes[i] : NULL;
}

void *onnx_arena_alloc(struct onnx_model *m, size_t n);
char *onnx_arena_strdup(struct onnx_model *m, const char *s, size_t n);
/* Tensor id of name, or ONNX_NONE. */
uint32_t onnx_find_tensor(const struct onnx_model *m, const char *name);

/* A text buffer that stops at its size (onnx_types.c). */
struct onnx_sbuf {
	char *p;
	size_t size, len;
};
void onnx_sb_add(struct onnx_sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Attribute helpers (walk the AttributeProto bytes; onnx_attr.c). */
const struct onnx_attr *onnx_attr_find(const struct onnx_node *n,
				       const char *name);
int64_t onnx_attr_int(const struct onnx_node *n, const char *name,
		      int64_t def);
/* Copies up to max ints; returns how many the attribute has (-1 absent). */
int onnx_attr_ints(const struct onnx_node *n, const char *name, int64_t *out,
		   int max);
/* String attribute into buf; false when absent. */
bool onnx_attr_str(const struct onnx_node *n, const char *name, char *buf,
		   size_t size);
/* Short human text of a node's attributes into buf. */
void onnx_attr_summary(const struct onnx_node *n, char *buf, size_t size);
/* Values of a constant int tensor (initializer or Constant node output):
 * copies up to max; returns the count or -1 when not a known constant. */
int onnx_const_ints(const struct onnx_model *m, uint32_t t, int64_t *out,
		    int max);
/* Same for float constants (scales of Resize/Upsample). */
int onnx_const_floats(const struct onnx_model *m, uint32_t t, double *out,
		      int max);

/* Sets mark[i] = 1 for every node needed to compute tensors ids[0..n)
 * (ONNX_NONE entries are skipped); mark has nnodes bytes. */
void onnx_needed_nodes(const struct onnx_model *m, const uint32_t *ids,
		       size_t n, uint8_t *mark);

/* The distinct inferred types, open addressing. */
struct onnx_tyset {
	const struct onnx_type **v;
	uint32_t count, cap;
};

/* Memory for a new type: m->tscratch while inference runs (see
 * onnx_model), else the arena. */
void *onnx_type_alloc(struct onnx_model *m, size_t n);
/* The one copy of types equal to t in s: one seen before, else t itself
 * (copied out of the scratch); NULL when out of memory.  Free s->v after. */
const struct onnx_type *onnx_type_settle(struct onnx_model *m, struct onnx_tyset *s,
					 const struct onnx_type *t);

/* Fills every tensor's ty (declared, or inferred for common ops). */
int onnx_infer_types(struct onnx_model *m, struct kiln_err *err);
/* Writes "[1, 3, 'H', ?]"-style text (JSON-ish) of a type's shape. */
void onnx_shape_text(const struct onnx_type *t, char *buf, size_t size);
/* JSON array of dims (int / string / null), or JSON null without shape. */
cJSON *onnx_shape_json(const struct onnx_type *t);
/* Type name of t: "float32" for tensors, desc for others. */
const char *onnx_type_name(const struct onnx_type *t);

/* Version history of default-domain ops (onnx_versions.c). */
struct onnx_op_versions {
	const char *op;
	const uint8_t *since;    /* ascending, 0-terminated */
	uint32_t types_only;     /* bit v-16: version v only added types */
};
const struct onnx_op_versions *onnx_op_history(const char *op);

#endif
