/*
 * onnx_parse: ModelProto, GraphProto, NodeProto and ValueInfoProto into
 * the in-memory model (onnx_priv.h): every field checked against the end
 * of its message, counts bounded (onnx.h), names checked, subgraphs
 * (If/Loop/Scan bodies) scanned for the outer names they read.  Each
 * message is walked twice: once to count, once to fill arrays of exactly
 * that size.
 *
 * Initializers are onnx_init.c's, types onnx_types.c's; linking and order
 * come after (onnx_link.c).
 */
#include "conversion/onnx_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

/* --- parse state -------------------------------------------------------------- */

/* One arena copy per distinct string: a million Add nodes share "Add". */
static const char *shared_str(struct onnx_parse *ps, const uint8_t *p, size_t n)
{
	uint32_t before = ps->strs.count, k;
	if (onnx_sset_add(&ps->strs, p, n, &k) != 0)
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
static void moved_to(struct onnx_parse *ps, const uint8_t *p)
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
			return onnx_oom(err);
		m->edges = e;
		m->capedges = (uint32_t)cap;
	}
	*at = m->nedges;
	m->nedges += (uint32_t)n;
	return 0;
}

static int add_op(struct onnx_parse *ps, const uint8_t *p, size_t n,
		  struct kiln_err *err)
{
	if (onnx_sset_add(&ps->ops, p, n, NULL) != 0)
		return onnx_oom(err);
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
	if (!onnx_name_ok((const uint8_t *)d, strlen(d), why, sizeof(why)))
		rc = onnx_bad_name(err, why, "an opset domain");
	o->domain = rc ? NULL : onnx_arena_strdup(m, d, strlen(d));
	o->version = e->has_version ? e->version : 0;
	onnx__operator_set_id_proto__free_unpacked(e, NULL);
	if (rc == 0 && o->domain == NULL)
		rc = onnx_oom(err);
	return rc;
}

/* --- subgraphs: which outer names a body reads -------------------------------- */
static int scan_graph(struct onnx_parse *ps, const uint8_t *p, size_t len, int depth,
		      struct onnx_sset *implicit, struct kiln_err *err);

static int scan_attr_graphs(struct onnx_parse *ps, const uint8_t *p, size_t len,
			    int depth, struct onnx_sset *used, struct kiln_err *err)
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
		struct onnx_sset inner = { 0 };
		rc = scan_graph(ps, f.data, f.len, depth + 1, &inner, err);
		for (uint32_t i = 0; rc == 0 && i < inner.count; i++)
			if (onnx_sset_add(used, inner.v[i].p, inner.v[i].n, NULL) != 0)
				rc = onnx_oom(err);
		onnx_sset_free(&inner);
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

static int scan_graph(struct onnx_parse *ps, const uint8_t *p, size_t len, int depth,
		      struct onnx_sset *implicit, struct kiln_err *err)
{
	struct onnx_sset defined = { 0 }, used = { 0 };
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
					if (!onnx_name_ok(g.data, g.len, why, sizeof(why))) {
						rc = onnx_bad_name(err, why,
							      "a name in a subgraph node");
						break;
					}
				}
				if (g.num == 1 && g.len > 0)
					rc = onnx_sset_add(&used, g.data, g.len, NULL) ? onnx_oom(err) : 0;
				else if (g.num == 2 && g.len > 0)
					rc = onnx_sset_add(&defined, g.data, g.len, NULL) ? onnx_oom(err) : 0;
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
				if (!onnx_name_ok(nm, nl, why, sizeof(why)))
					rc = onnx_bad_name(err, why, "a subgraph tensor name");
				else if (onnx_sset_add(&defined, nm, nl, NULL) != 0)
					rc = onnx_oom(err);
			}
		}
		if (rc < 0)
			break;
	}
	for (uint32_t i = 0; rc == 0 && i < used.count; i++)
		if (!onnx_sset_has(&defined, used.v[i].p, used.v[i].n) &&
		    onnx_sset_add(implicit, used.v[i].p, used.v[i].n, NULL) != 0)
			rc = onnx_oom(err);
	onnx_sset_free(&defined);
	onnx_sset_free(&used);
	return rc;
}

/* --- nodes -------------------------------------------------------------------- */
static int parse_node(struct onnx_parse *ps, const struct pbf *nf, uint32_t idx,
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
			if ((rc = onnx_want_wt(&f, 2, "NodeProto", "input/output/name/op_type/attribute/domain", err)))
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
	if (nm && !onnx_name_ok(nm, nml, why, sizeof(why)))
		return onnx_bad_name(err, why, "the name of node %u", idx);
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
	if (!onnx_name_ok(op, opl, why, sizeof(why)))
		return onnx_bad_name(err, why, "the op_type of node %u ('%.*s')", idx, nnl, nn);
	if (dom && !onnx_name_ok(dom, doml, why, sizeof(why)))
		return onnx_bad_name(err, why, "the domain of node %u ('%.*s')", idx, nnl, nn);
	n->op = shared_str(ps, op, opl);
	n->domain = shared_str(ps, dom ? dom : (const uint8_t *)"", doml);
	if (n->op == NULL || n->domain == NULL)
		return onnx_oom(err);
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
			return onnx_oom(err);
	}

	struct onnx_sset implicit = { 0 };
	uint32_t kin = 0, kout = 0;
	r = (struct pbr){ nf->data, nf->data + nf->len };
	while ((rc = pb_next(&r, &f, "NodeProto", err)) > 0) {
		if (f.num == 1 || f.num == 2) {
			uint32_t id = ONNX_NONE;
			if (f.len > 0) {
				if (!onnx_name_ok(f.data, f.len, why, sizeof(why))) {
					rc = onnx_bad_name(err, why, "%s %u of node %u ('%.*s', %s)",
						      f.num == 1 ? "input" : "output",
						      f.num == 1 ? kin : kout,
						      idx, nnl, nn, n->op);
					break;
				}
				if ((rc = onnx_intern(m, f.data, f.len, &id, err)))
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
			if (!onnx_name_ok(an, anl, why, sizeof(why))) {
				rc = onnx_bad_name(err, why, "an attribute name of node %u ('%.*s')",
					      idx, nnl, nn);
				break;
			}
			a->name = shared_str(ps, an, anl);
			if (a->name == NULL) {
				rc = onnx_oom(err);
				break;
			}
			if (anl == 2 && memcmp(an, "to", 2) == 0 &&
			    (strcmp(n->op, "Cast") == 0))
				onnx_note_type(m, ival);
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
			rc = onnx_intern(m, implicit.v[i].p, implicit.v[i].n, &id, err);
			if (rc == 0)
				m->edges[at + n->nimplicit++] = id;
		}
	}
	onnx_sset_free(&implicit);
	return rc;
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
			if ((rc = onnx_want_wt(&f, 2, "ValueInfoProto", "name", err)))
				return rc;
			nm = f.data;
			nml = f.len;
		} else if (f.num == 2) {
			if ((rc = onnx_want_wt(&f, 2, "ValueInfoProto", "type", err)))
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
	if (!onnx_name_ok(nm, nml, why, sizeof(why)))
		return onnx_bad_name(err, why, "the name of graph %s %u", role, k);
	if ((rc = onnx_intern(m, nm, nml, &v->tensor, err)))
		return rc;
	/* Graph inputs and outputs are few and named by the API as C
	 * strings (onnx_feed_name, the inspection); value_info may be one per
	 * tensor and keeps its name in the file. */
	if (strcmp(role, "value_info") != 0 &&
	    (v->name = onnx_arena_strdup(m, (const char *)nm, nml)) == NULL)
		return onnx_oom(err);
	if (ty != NULL) {
		if ((rc = onnx_parse_type(m, ty, tyl, 0, &v->type, err)))
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
			return onnx_oom(err);
		*v = nv;
	}
	(*v)[(*n)++] = (struct onnx_span){ f->num,
		(size_t)(f->start - m->base), (size_t)(f->stop - f->start) };
	return 0;
}

static int parse_graph(struct onnx_parse *ps, const uint8_t *p, size_t len,
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
			if ((rc = onnx_want_wt(&f, 2, "GraphProto", "node/initializer/input/output/value_info", err)))
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
		return onnx_oom(err);

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
			if ((rc = onnx_want_wt(&f, 2, "GraphProto", "name", err)))
				break;
			if (!onnx_name_ok(f.data, f.len, why, sizeof(why))) {
				rc = onnx_bad_name(err, why, "the graph name");
				break;
			}
			m->graph_name = onnx_arena_strdup(m, (const char *)f.data, f.len);
			if (m->graph_name == NULL)
				rc = onnx_oom(err);
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
			rc = onnx_parse_init(m, body, blen, in, err);
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
int onnx_parse_model(struct onnx_parse *ps, struct kiln_err *err)
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
			if ((rc = onnx_want_wt(&f, 0, "ModelProto", "ir_version", err)))
				return rc;
			has_ir = true;
			m->ir_version = (int64_t)f.v;
			break;
		case 2: case 3: case 4: case 6:
			if ((rc = onnx_want_wt(&f, 2, "ModelProto", "string field", err)))
				return rc;
			if (f.num != 6 && f.len > 4096)
				return kiln_errf(err, KILN_EINVAL, "model",
						 "ModelProto field %u is %zu bytes (limit 4096)",
						 f.num, f.len);
			if (f.num == 2)
				m->producer_name = onnx_text_copy(m, f.data, f.len);
			else if (f.num == 3)
				m->producer_version = onnx_text_copy(m, f.data, f.len);
			else if (f.num == 4)
				m->domain = onnx_text_copy(m, f.data, f.len);
			break;
		case 5:
			if ((rc = onnx_want_wt(&f, 0, "ModelProto", "model_version", err)))
				return rc;
			m->model_version = (int64_t)f.v;
			break;
		case 7:
			if ((rc = onnx_want_wt(&f, 2, "ModelProto", "graph", err)))
				return rc;
			if (has_graph)
				return kiln_errf(err, KILN_EINVAL, "model",
						 "the model has two graph fields");
			has_graph = true;
			graph = f;
			break;
		case 8:
			if ((rc = onnx_want_wt(&f, 2, "ModelProto", "opset_import", err)))
				return rc;
			nops++;
			break;
		case 14:
			if ((rc = onnx_want_wt(&f, 2, "ModelProto", "metadata_props", err)))
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
		return onnx_oom(err);
	r = (struct pbr){ m->base, m->base + m->size };
	while ((rc = pb_next(&r, &f, "ModelProto", err)) > 0) {
		if (f.num == 8)
			rc = parse_opset(m, &f, &m->opsets[m->nopsets++], err);
		else if (f.num == 14)
			rc = onnx_parse_kv(m, &f, 1u << 20, &m->meta[m->nmeta++],
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
