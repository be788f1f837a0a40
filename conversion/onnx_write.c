/*
 * onnx_write: the cut and the IR rewrite.
 *
 * Both write a new ModelProto by copying byte ranges of the mapped file:
 * a kept node or initializer is its original field, tag and all, so weights
 * go from the page cache to the output without being decoded or buffered.
 * Only the graph's length prefix, the new graph outputs (ValueInfoProto,
 * packed with protobuf-c) and the changed version fields are new bytes.
 * Field order inside a message does not matter to protobuf.
 *
 * The bytes are copied out of the model's own read-only mapping, and its
 * pages are dropped every WR_DROP_EVERY bytes written (onnx_release_pages,
 * as the parser does behind its cursor): copying a 173 MB model costs a
 * few MB of resident pages, not 173 MB.
 */
#include "conversion/onnx_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "onnx.pb-c.h"

/* --- output ----------------------------------------------------------------- */
#define WR_DROP_EVERY ((size_t)2 << 20)

struct wr {
	int fd;
	int err_no;
	size_t n;
	uint64_t total;
	const struct onnx_model *m;  /* whose pages the bytes come from */
	size_t since;                /* bytes put since its pages were dropped */
	uint8_t buf[1 << 16];
};

static int write_all(struct wr *w, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(w->fd, p, n > (1u << 30) ? (1u << 30) : n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			w->err_no = errno;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int wr_flush(struct wr *w)
{
	if (w->n == 0)
		return 0;
	int rc = write_all(w, w->buf, w->n);
	w->n = 0;
	return rc;
}

/* After n more bytes were read out of the mapping (copied into buf or
 * written): every WR_DROP_EVERY, its pages go.  Bytes that are not the
 * model's (headers, packed messages) count too; they are few. */
static void wr_moved(struct wr *w, size_t n)
{
	w->since += n;
	if (w->since >= WR_DROP_EVERY) {
		onnx_release_pages(w->m);
		w->since = 0;
	}
}

static int wr_put(struct wr *w, const void *p, size_t n)
{
	if (w->err_no)
		return -1;
	w->total += n;
	if (n > sizeof(w->buf) / 4) {
		if (wr_flush(w) != 0)
			return -1;
		/* in slices, so that a weight or graph of hundreds of MB is
		 * not all resident by the end of one write */
		for (const uint8_t *q = p; n > 0;) {
			size_t k = n < WR_DROP_EVERY ? n : WR_DROP_EVERY;
			if (write_all(w, q, k) != 0)
				return -1;
			wr_moved(w, k);
			q += k;
			n -= k;
		}
		return 0;
	}
	if (w->n + n > sizeof(w->buf) && wr_flush(w) != 0)
		return -1;
	memcpy(w->buf + w->n, p, n);
	w->n += n;
	wr_moved(w, n);
	return 0;
}

static void wr_init(struct wr *w, const struct onnx_model *m, int fd)
{
	memset(w, 0, offsetof(struct wr, buf));
	w->fd = fd;
	w->m = m;
}

static size_t varint_enc(uint8_t *b, uint64_t v)
{
	size_t i = 0;
	while (v >= 0x80) {
		b[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[i++] = (uint8_t)v;
	return i;
}

static size_t varint_len(uint64_t v)
{
	uint8_t b[10];
	return varint_enc(b, v);
}

/* A piece of a message: an optional new header, then bytes. */
struct piece {
	uint8_t hdr[24];
	size_t hn;
	const uint8_t *p;
	size_t n;
};

struct pieces {
	struct piece *v;
	size_t n, cap;
	uint8_t **owned;          /* buffers to free (packed messages) */
	size_t nowned, capowned;
};

static struct piece *piece_add(struct pieces *ps)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 256;
		struct piece *v = realloc(ps->v, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		ps->v = v;
		ps->cap = cap;
	}
	struct piece *x = &ps->v[ps->n++];
	memset(x, 0, sizeof(*x));
	return x;
}

static uint8_t *own(struct pieces *ps, size_t n)
{
	if (ps->nowned == ps->capowned) {
		size_t cap = ps->capowned ? ps->capowned * 2 : 16;
		uint8_t **v = realloc(ps->owned, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		ps->owned = v;
		ps->capowned = cap;
	}
	uint8_t *b = malloc(n ? n : 1);
	if (b != NULL)
		ps->owned[ps->nowned++] = b;
	return b;
}

static void pieces_free(struct pieces *ps)
{
	for (size_t i = 0; i < ps->nowned; i++)
		free(ps->owned[i]);
	free(ps->owned);
	free(ps->v);
}

/* Verbatim bytes (a whole field, tag included).  Bytes that follow the
 * previous piece's in the file extend it: a cut of an exporter's graph
 * (nodes stored in topological order) is a few pieces, not one per node. */
static int add_raw(struct pieces *ps, const uint8_t *p, size_t n)
{
	struct piece *prev = ps->n ? &ps->v[ps->n - 1] : NULL;
	if (prev && prev->hn == 0 && prev->p && prev->p + prev->n == p) {
		prev->n += n;
		return 0;
	}
	struct piece *x = piece_add(ps);
	if (x == NULL)
		return -1;
	x->p = p;
	x->n = n;
	return 0;
}

/* A length-delimited field with a new tag around body bytes. */
static int add_field(struct pieces *ps, uint32_t num, const uint8_t *body,
		     size_t n)
{
	struct piece *x = piece_add(ps);
	if (x == NULL)
		return -1;
	x->hn = varint_enc(x->hdr, (uint64_t)num << 3 | 2);
	x->hn += varint_enc(x->hdr + x->hn, n);
	x->p = body;
	x->n = n;
	return 0;
}

static uint64_t pieces_size(const struct pieces *ps)
{
	uint64_t s = 0;
	for (size_t i = 0; i < ps->n; i++)
		s += ps->v[i].hn + ps->v[i].n;
	return s;
}

static int pieces_write(struct wr *w, const struct pieces *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->v[i].hn && wr_put(w, ps->v[i].hdr, ps->v[i].hn) != 0)
			return -1;
		if (ps->v[i].n && wr_put(w, ps->v[i].p, ps->v[i].n) != 0)
			return -1;
	}
	return 0;
}

/* The model's bytes, read front to back by a writer: readahead may
 * run further while it copies (its pages are dropped behind it either
 * way); reading_done restores the default for whoever reads m next. */
static const uint8_t *reading(const struct onnx_model *m)
{
	if (m->mapped)
		madvise((void *)m->base, m->size, MADV_SEQUENTIAL);
	return m->base;
}

static void reading_done(const struct onnx_model *m)
{
	if (m->mapped)
		madvise((void *)m->base, m->size, MADV_NORMAL);
	onnx_release_pages(m);
}

/* Body of the length-delimited field at src + off. */
static void field_body(const uint8_t *src, size_t off, size_t len,
		       const uint8_t **body, size_t *blen)
{
	const uint8_t *p = src + off, *end = p + len;
	uint64_t v;
	pb_varint(&p, end, &v);
	pb_varint(&p, end, &v);
	*body = p;
	*blen = (size_t)(end - p);
}

/* --- which nodes ------------------------------------------------------------- */
void onnx_needed_nodes(const struct onnx_model *m, const uint32_t *ids,
		       size_t n, uint8_t *mark)
{
	uint32_t *stack = malloc(((size_t)m->nnodes + n + 1) * sizeof(uint32_t));
	size_t sp = 0;
	if (stack == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		int32_t p = ids[i] == ONNX_NONE ? -1 : m->tensors[ids[i]].producer;
		if (p >= 0 && !mark[p]) {
			mark[p] = 1;
			stack[sp++] = (uint32_t)p;
		}
	}
	while (sp > 0) {
		const struct onnx_node *nd = &m->nodes[stack[--sp]];
		for (uint32_t k = 0; k < onnx_node_nuse(nd); k++) {
			uint32_t id = onnx_node_use(m, nd, k);
			if (id == ONNX_NONE)
				continue;
			int32_t p = m->tensors[id].producer;
			if (p >= 0 && !mark[p]) {
				mark[p] = 1;
				stack[sp++] = (uint32_t)p;
			}
		}
	}
	free(stack);
}

/* A new ValueInfoProto field (graph output) for tensor t, packed with
 * protobuf-c from the best type known; *typed says whether it has a shape. */
static int add_new_vinfo(struct pieces *ps, const struct onnx_model *m,
			 uint32_t t, bool *typed)
{
	const struct onnx_tensor *x = &m->tensors[t];
	const struct onnx_type *ty = x->ty;
	Onnx__ValueInfoProto vi = ONNX__VALUE_INFO_PROTO__INIT;
	Onnx__TypeProto tp = ONNX__TYPE_PROTO__INIT;
	Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
	Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
	Onnx__TensorShapeProto__Dimension dims[ONNX_MAX_RANK];
	Onnx__TensorShapeProto__Dimension *dimp[ONNX_MAX_RANK];
	char name[ONNX_NAME_MAX + 1];
	vi.name = onnx_tensor_name_copy(m, t, name, sizeof(name));
	*typed = false;
	if (ty != NULL && ty->kind == OK_TENSOR && ty->elem != 0) {
		tt.has_elem_type = 1;
		tt.elem_type = ty->elem;
		tp.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
		tp.tensor_type = &tt;
		vi.type = &tp;
		if (ty->rank >= 0) {
			for (int i = 0; i < ty->rank; i++) {
				onnx__tensor_shape_proto__dimension__init(&dims[i]);
				if (ty->dims[i].has_value) {
					dims[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
					dims[i].dim_value = ty->dims[i].value;
				} else if (ty->dims[i].param) {
					dims[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
					dims[i].dim_param = (char *)ty->dims[i].param;
				}
				dimp[i] = &dims[i];
			}
			shape.n_dim = (size_t)ty->rank;
			shape.dim = dimp;
			tt.shape = &shape;
			*typed = true;
		}
	}
	size_t n = onnx__value_info_proto__get_packed_size(&vi);
	uint8_t *b = own(ps, n);
	if (b == NULL)
		return -1;
	onnx__value_info_proto__pack(&vi, b);
	return add_field(ps, 12, b, n);
}

static int list_unknown(const struct onnx_model *m, const char *const *outputs,
			size_t n, struct kiln_err *err)
{
	char list[200] = "";
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t t = outputs[i] ? onnx_find_tensor(m, outputs[i]) : ONNX_NONE;
		const struct onnx_tensor *x = t == ONNX_NONE ? NULL : &m->tensors[t];
		if (x && (x->producer >= 0 || x->init >= 0 || x->is_input))
			continue;
		size_t l = strlen(list);
		if (l + 8 < sizeof(list))
			snprintf(list + l, sizeof(list) - l, "%s'%.60s'", l ? ", " : "",
				 outputs[i] ? outputs[i] : "(null)");
		bad++;
	}
	if (bad == 0)
		return 0;
	return kiln_errf(err, KILN_EINVAL, "outputs",
			 "%zu output tensor(s) not in the model: %s; use names from the graph view (node outputs, graph inputs or initializers)",
			 bad, list);
}

int onnx_cut(const struct onnx_model *m, const char *const *outputs, size_t n,
	     int fd, struct onnx_cut_stats *st, struct kiln_err *err)
{
	if (n == 0)
		return kiln_errf(err, KILN_EINVAL, "outputs",
				 "no output tensors given; pass at least one tensor name");
	if (n > ONNX_MAX_NODE_IO)
		return kiln_errf(err, KILN_EINVAL, "outputs",
				 "%zu output tensors given (limit %d)", n, ONNX_MAX_NODE_IO);
	int rc = list_unknown(m, outputs, n, err);
	if (rc < 0)
		return rc;
	uint32_t *ids = malloc(n * sizeof(uint32_t));
	uint8_t *mark = calloc(m->nnodes + 1, 1);
	uint8_t *tmark = calloc(m->ntensors + 1, 1);   /* 1 used, 2 output */
	struct pieces g = { 0 }, top = { 0 };
	struct wr *w = malloc(sizeof(*w));
	struct onnx_cut_stats s = { 0 };
	const uint8_t *src = reading(m);
	if (ids == NULL || mark == NULL || tmark == NULL || w == NULL) {
		rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ids[i] = onnx_find_tensor(m, outputs[i]);
		if (tmark[ids[i]] & 2) {
			rc = kiln_errf(err, KILN_EINVAL, "outputs",
				       "output tensor '%.80s' is listed twice", outputs[i]);
			goto out;
		}
		tmark[ids[i]] |= 2;
	}
	onnx_needed_nodes(m, ids, n, mark);
	for (uint32_t i = 0; i < m->nnodes; i++) {
		if (!mark[i])
			continue;
		const struct onnx_node *nd = &m->nodes[i];
		for (uint32_t k = 0; k < onnx_node_nuse(nd); k++) {
			uint32_t id = onnx_node_use(m, nd, k);
			if (id != ONNX_NONE)
				tmark[id] |= 1;
		}
		for (uint32_t k = 0; k < nd->nout; k++)
			if (onnx_node_out(m, nd, k) != ONNX_NONE)
				tmark[onnx_node_out(m, nd, k)] |= 1;
	}

	/* the graph, in a valid field order: nodes (topological), name,
	 * initializers, inputs, outputs, value_info, metadata */
	int fail = 0;
	for (uint32_t k = 0; k < m->nnodes && !fail; k++) {
		uint32_t i = m->topo[k];
		if (mark[i]) {
			fail = add_raw(&g, src + m->nodes[i].off, m->nodes[i].len);
			s.nodes++;
		}
	}
	const char *gname = m->graph_name[0] ? m->graph_name : "graph";
	fail = fail || add_field(&g, 2, (const uint8_t *)gname, strlen(gname));
	for (uint32_t i = 0; i < m->ninits && !fail; i++) {
		const struct onnx_init *in = &m->inits[i];
		if (tmark[in->tensor]) {
			fail = add_raw(&g, src + in->off, in->len);
			s.initializers++;
		}
	}
	for (uint32_t k = 0; k < m->ninputs && !fail; k++) {
		const struct onnx_vinfo *v = &m->vinfos[m->inputs[k]];
		if (tmark[v->tensor]) {
			fail = add_raw(&g, src + v->off, v->len);
			s.inputs++;
		}
	}
	for (size_t i = 0; i < n && !fail; i++) {
		const struct onnx_tensor *x = &m->tensors[ids[i]];
		const struct onnx_vinfo *v = x->vi >= 0 ? &m->vinfos[x->vi] : NULL;
		if (v != NULL && x->ty == &v->type && v->type.rank >= 0) {
			/* declared with a shape: keep the original bytes,
			 * doc_string and denotations included */
			const uint8_t *body;
			size_t blen;
			field_body(src, v->off, v->len, &body, &blen);
			fail = add_field(&g, 12, body, blen);
		} else {
			bool typed;
			fail = add_new_vinfo(&g, m, ids[i], &typed);
			s.untyped_outputs += !typed;
		}
	}
	for (uint32_t k = 0; k < m->nvalues && !fail; k++) {
		const struct onnx_vinfo *v = &m->vinfos[m->values[k]];
		const struct onnx_tensor *x = &m->tensors[v->tensor];
		if (tmark[v->tensor] == 1 && x->producer >= 0 && mark[x->producer])
			fail = add_raw(&g, src + v->off, v->len);
	}
	for (uint32_t k = 0; k < m->ngextra && !fail; k++)
		if (m->gextra[k].num == 16)
			fail = add_raw(&g, src + m->gextra[k].off, m->gextra[k].len);

	/* the model: every top-level field but graph and training_info */
	uint64_t glen = pieces_size(&g);
	for (uint32_t k = 0; k < m->ntop && !fail; k++) {
		const struct onnx_span *f = &m->top[k];
		if (f->num == 20)
			continue;
		if (f->num != 7) {
			fail = add_raw(&top, src + f->off, f->len);
			continue;
		}
		struct piece *x = piece_add(&top);
		if (x == NULL) {
			fail = 1;
			break;
		}
		x->hn = varint_enc(x->hdr, 7 << 3 | 2);
		x->hn += varint_enc(x->hdr + x->hn, glen);
		/* the graph's pieces follow right after this header */
		x->p = NULL;
		x->n = 0;
	}
	if (fail) {
		rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		goto out;
	}
	wr_init(w, m, fd);
	for (size_t k = 0; k < top.n && !fail; k++) {
		const struct piece *x = &top.v[k];
		if (x->hn && wr_put(w, x->hdr, x->hn) != 0)
			fail = 1;
		if (!fail && x->n && wr_put(w, x->p, x->n) != 0)
			fail = 1;
		if (!fail && x->hn && x->p == NULL && pieces_write(w, &g) != 0)
			fail = 1;
	}
	if (!fail && wr_flush(w) != 0)
		fail = 1;
	if (fail) {
		rc = kiln_errf(err, KILN_EIO, "", "writing the cut model failed: %s",
			       strerror(w->err_no ? w->err_no : EIO));
		goto out;
	}
	s.bytes = w->total;
	if (st)
		*st = s;
	(void)varint_len;
out:
	reading_done(m);
	pieces_free(&g);
	pieces_free(&top);
	free(w);
	free(ids);
	free(mark);
	free(tmark);
	return rc;
}

/* tmp file in the same directory, fsync, rename, fsync the directory */
static int write_file(const char *path,
		      int (*fn)(const void *ctx, int fd, struct kiln_err *err),
		      const void *ctx, struct kiln_err *err)
{
	size_t pl = strlen(path);
	char *tmp = malloc(pl + 32);
	char *dir = strdup(path);
	if (tmp == NULL || dir == NULL) {
		free(tmp);
		free(dir);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
	int rc;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = kiln_errf(err, KILN_EIO, "", "cannot create %s: %s", tmp,
			       strerror(errno));
		goto out;
	}
	rc = fn(ctx, fd, err);
	if (rc == 0 && fsync(fd) != 0)
		rc = kiln_errf(err, KILN_EIO, "", "fsync %s: %s", tmp, strerror(errno));
	if (close(fd) != 0 && rc == 0)
		rc = kiln_errf(err, KILN_EIO, "", "close %s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = kiln_errf(err, KILN_EIO, "", "rename to %s: %s", path, strerror(errno));
	if (rc != 0) {
		unlink(tmp);
		goto out;
	}
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	free(tmp);
	free(dir);
	return rc;
}

struct cut_ctx {
	const struct onnx_model *m;
	const char *const *outputs;
	size_t n;
	struct onnx_cut_stats *st;
};

static int cut_fn(const void *ctx, int fd, struct kiln_err *err)
{
	const struct cut_ctx *c = ctx;
	return onnx_cut(c->m, c->outputs, c->n, fd, c->st, err);
}

int onnx_cut_file(const struct onnx_model *m, const char *const *outputs,
		  size_t n, const char *path, struct onnx_cut_stats *st,
		  struct kiln_err *err)
{
	struct cut_ctx c = { m, outputs, n, st };
	return write_file(path, cut_fn, &c, err);
}

/* --- IR / opset rewrite ------------------------------------------------------ */
int onnx_max_opset_for_ir(int ir)
{
	/* ONNX's release table (onnx.helper.VERSION_TABLE): the newest
	 * default-domain opset released with each IR version. */
	static const int max_opset[] = { 0, 0, 0, 8, 9, 10, 11, 14, 18, 20, 22, 23 };
	if (ir < 0)
		return 0;
	if ((size_t)ir >= sizeof(max_opset) / sizeof(max_opset[0]))
		return 1000;
	return max_opset[ir];
}

/* Ops of the model whose definition differs between opset lo and hi;
 * written as "Resize (18, 19), Pad (18)" into buf. Returns the count. */
static int changed_ops(const struct onnx_model *m, int lo, int hi, char *buf,
		       size_t size)
{
	/* types beyond float32 etc. that the "types only" versions added */
	bool new_types = (m->used_types & 0xff0000u) != 0;
	int cnt = 0;
	size_t len = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < m->nall_ops; i++) {
		const struct onnx_op_versions *h = onnx_op_history(m->all_ops[i]);
		char vs[64] = "";
		size_t vl = 0;
		if (h == NULL)
			continue;
		bool existed = h->since[0] <= lo;
		for (const uint8_t *v = h->since; *v; v++) {
			if (*v <= lo || *v > hi)
				continue;
			bool benign = *v >= 16 && (h->types_only >> (*v - 16) & 1) && !new_types;
			if (benign && existed)
				continue;
			vl += (size_t)snprintf(vs + vl, sizeof(vs) - vl, "%s%d", vl ? ", " : "", *v);
			if (vl >= sizeof(vs))
				vl = sizeof(vs) - 1;
		}
		if (vs[0] == '\0')
			continue;
		cnt++;
		if (len + 4 < size) {
			int k = snprintf(buf + len, size - len, "%s%s (%s %s)", len ? ", " : "",
					 m->all_ops[i], existed ? "changed in" : "added in", vs);
			len += k > 0 ? (size_t)k : 0;
			if (len >= size)
				len = size - 1;
		}
	}
	return cnt;
}

/* What in the model needs IR > ir, or NULL. */
static const char *needs_newer_ir(const struct onnx_model *m, int ir)
{
	if (ir < 11 && (m->used_types & (1u << 23)))
		return "float4e2m1 tensors (IR 11)";
	if (ir < 11 && m->model_has_newer_fields)
		return "ModelProto fields added in IR 11";
	if (ir < 10 && (m->used_types & (3u << 21)))
		return "int4/uint4 tensors (IR 10)";
	if (ir < 10 && m->graph_has_metadata)
		return "graph metadata_props (IR 10)";
	for (uint32_t i = 0; ir < 10 && i < m->nnodes; i++)
		if (m->nodes[i].maxfield >= 8)
			return "node overload / metadata_props fields (IR 10)";
	if (ir < 9 && (m->used_types & (0xfu << 17)))
		return "float8 tensors (IR 9)";
	if (ir < 8 && m->nfunctions > 0)
		return "model-local functions (IR 8)";
	if (ir < 7 && m->ntraining > 0)
		return "training_info (IR 7)";
	if (ir < 5 && m->nsparse > 0)
		return "sparse initializers (IR 5)";
	for (uint32_t i = 0; ir < 4 && i < m->ninits; i++)
		if (!m->tensors[m->inits[i].tensor].is_input)
			return "initializers that are not graph inputs (IR 4)";
	return NULL;
}

int onnx_rewrite_ir(const struct onnx_model *m, int ir, int opset, int fd,
		    struct kiln_err *err)
{
	char list[200];
	int64_t cur = onnx_opset_version(m, "");
	if (ir < 3)
		return kiln_errf(err, KILN_EINVAL, "ir_version",
				 "ir_version %d is not supported; IR 3 is the first with opset imports", ir);
	if (ir > m->ir_version)
		return kiln_errf(err, KILN_EINVAL, "ir_version",
				 "the model is already IR %lld; this only lowers versions",
				 (long long)m->ir_version);
	if (opset < 0 || (opset > 0 && cur >= 0 && opset > cur))
		return kiln_errf(err, KILN_EINVAL, "opset",
				 "opset %d is above the model's %lld; this only lowers versions",
				 opset, (long long)cur);
	int target = opset > 0 ? opset : (int)cur;
	int maxop = onnx_max_opset_for_ir(ir);
	if (cur >= 0 && target > maxop) {
		int k = changed_ops(m, maxop, (int)cur, list, sizeof(list));
		if (opset > 0 || k > 0)
			return kiln_errf(err, KILN_EUNPROC, "opset",
					 "IR %d allows opset <= %d but the model uses opset %lld%s%s%s", ir,
					 maxop, (long long)cur,
					 k ? "; ops whose definition changed: " : "", list,
					 k ? " (convert the model with a newer exporter setting)" : "");
		return kiln_errf(err, KILN_EUNPROC, "opset",
				 "IR %d allows opset <= %d but the model uses opset %lld; none of its ops changed, so ask for opset %d as well",
				 ir, maxop, (long long)cur, maxop);
	}
	if (cur >= 0 && target < cur) {
		int k = changed_ops(m, target, (int)cur, list, sizeof(list));
		if (k > 0)
			return kiln_errf(err, KILN_EUNPROC, "opset",
					 "cannot relabel opset %lld as %d: %d op(s) differ between them: %s",
					 (long long)cur, target, k, list);
	}
	const char *why = needs_newer_ir(m, ir);
	if (why != NULL)
		return kiln_errf(err, KILN_EUNPROC, "ir_version",
				 "cannot lower to IR %d: the model uses %s", ir, why);

	struct pieces top = { 0 };
	struct wr *w = malloc(sizeof(*w));
	const uint8_t *src = reading(m);
	int fail = w == NULL;
	for (uint32_t k = 0; k < m->ntop && !fail; k++) {
		const struct onnx_span *f = &m->top[k];
		if (f->num == 1) {
			struct piece *x = piece_add(&top);
			if (x == NULL) {
				fail = 1;
				break;
			}
			x->hn = varint_enc(x->hdr, 1 << 3 | 0);
			x->hn += varint_enc(x->hdr + x->hn, (uint64_t)ir);
			continue;
		}
		if (f->num == 8 && target != cur) {
			const uint8_t *body;
			size_t blen;
			field_body(src, f->off, f->len, &body, &blen);
			Onnx__OperatorSetIdProto *o =
				onnx__operator_set_id_proto__unpack(NULL, blen, body);
			if (o != NULL && (o->domain == NULL || o->domain[0] == '\0' ||
					  strcmp(o->domain, "ai.onnx") == 0)) {
				o->has_version = 1;
				o->version = target;
				size_t n = onnx__operator_set_id_proto__get_packed_size(o);
				uint8_t *b = own(&top, n);
				if (b == NULL)
					fail = 1;
				else {
					onnx__operator_set_id_proto__pack(o, b);
					fail = add_field(&top, 8, b, n);
				}
				onnx__operator_set_id_proto__free_unpacked(o, NULL);
				continue;
			}
			if (o != NULL)
				onnx__operator_set_id_proto__free_unpacked(o, NULL);
		}
		fail = add_raw(&top, src + f->off, f->len);
	}
	int rc = 0;
	if (fail) {
		rc = kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	} else {
		wr_init(w, m, fd);
		if (pieces_write(w, &top) != 0 || wr_flush(w) != 0)
			rc = kiln_errf(err, KILN_EIO, "", "writing the rewritten model failed: %s",
				       strerror(w->err_no ? w->err_no : EIO));
	}
	reading_done(m);
	pieces_free(&top);
	free(w);
	return rc;
}
