/*
 * onnx_link: the parsed graph's edges.  Each tensor gets its producer,
 * initializer and declared type; a tensor produced twice, an input no node
 * produces or a graph output nothing makes is refused, naming it.  Then the
 * consumers of every tensor (CSR arrays) and a topological order that stays
 * as close to the file's order as the edges allow; a cycle is named.
 */
#include "conversion/onnx_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		return onnx_oom(err);
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
		return onnx_oom(err);
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
		return onnx_oom(err);
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

/* Links, checks and orders the parsed graph: producers, consumers and a
 * topological order (the cycle is named when there is none). */
int onnx_link(struct onnx_model *m, struct kiln_err *err)
{
	int rc = link_graph(m, err);
	if (rc == 0)
		rc = build_consumers(m, err);
	if (rc == 0)
		rc = topo_sort(m, err);
	return rc;
}
