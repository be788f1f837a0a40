/*
 * onnx: opening and closing a model.  Maps a file read-only (or takes
 * caller memory), runs the reader over it — onnx_parse.c (with
 * onnx_wire.c, onnx_intern.c, onnx_types.c, onnx_init.c), onnx_link.c,
 * then onnx_infer.c's types — and answers the small accessors of onnx.h.
 * The result is the in-memory graph the other onnx_*.c files use
 * (onnx_priv.h): nodes, tensors by name, value infos, initializers as byte
 * ranges, producers, consumers and a topological order.
 *
 * Tensor data is never read: an initializer's raw_data / float_data field is
 * skipped by its length.  Everything that comes from the file is checked
 * before use: lengths against the end of the enclosing message, counts,
 * names (length, control characters, UTF-8), subgraph nesting; the graph
 * must be closed (every input produced somewhere) and acyclic.
 */
#include "conversion/onnx_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int finish(struct onnx_parse *ps, struct kiln_err *err)
{
	struct onnx_model *m = ps->m;
	int rc = onnx_parse_model(ps, err);
	if (rc == 0)
		rc = onnx_link(m, err);
	if (rc == 0) {
		m->all_ops = onnx_arena_alloc(m, (ps->ops.count + 1) * sizeof(char *));
		if (m->all_ops == NULL)
			rc = onnx_oom(err);
		for (uint32_t i = 0; rc == 0 && i < ps->ops.count; i++) {
			m->all_ops[i] = onnx_arena_strdup(m, (const char *)ps->ops.v[i].p,
							  ps->ops.v[i].n);
			if (m->all_ops[i] == NULL)
				rc = onnx_oom(err);
			m->nall_ops++;
		}
	}
	if (rc == 0)
		rc = onnx_infer_types(m, err);
	onnx_sset_free(&ps->ops);
	onnx_sset_free(&ps->strs);
	free(ps->copies);
	/* What the readers touch later (a few names, attributes, small
	 * constants) comes back a page at a time. */
	onnx_release_pages(m);
	return rc;
}

static int open_common(struct onnx_model *m, struct onnx_model **out,
		       struct kiln_err *err)
{
	struct onnx_parse ps = { .m = m };
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
		return onnx_oom(err);
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
 * parse moves on keeps that bounded too; onnx_release_pages is
 * onnx_intern.c's.)  The file is a blob or our own upload, never changed
 * while open.
 */
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
		return onnx_oom(err);
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
	onnx_arena_free(m->arena);
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
