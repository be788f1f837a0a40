/*
 * onnx_json: the model record's inspection and the graph view as cJSON.
 *
 * Both are built from the parsed model only (onnx_priv.h), never from the
 * file again, so they cost memory proportional to the graph, not to the
 * weights.  The HTTP layer stores or serves what comes out; the shape of
 * these objects is the API (see onnx.h).
 */
#include "conversion/onnx_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion/onnx_names.h"
#include "conversion/target_ops.h"

static cJSON *vinfo_json(const struct onnx_model *m, uint32_t vi)
{
	const struct onnx_vinfo *v = &m->vinfos[vi];
	const struct onnx_tensor *t = &m->tensors[v->tensor];
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "name", v->name ? v->name : "");
	const struct onnx_type *ty = v->has_type ? &v->type : NULL;
	cJSON_AddStringToObject(o, "type", onnx_type_name(ty));
	cJSON_AddNumberToObject(o, "elem_type", ty ? ty->elem : 0);
	cJSON_AddItemToObject(o, "shape", onnx_shape_json(ty));
	cJSON *dyn = cJSON_AddArrayToObject(o, "dynamic_dims");
	bool dynamic = ty == NULL || ty->rank < 0;
	for (int i = 0; ty && i < ty->rank; i++) {
		const struct onnx_dim *d = &ty->dims[i];
		if (d->has_value && d->value > 0)
			continue;
		dynamic = true;
		char buf[32];
		if (!d->param)
			snprintf(buf, sizeof(buf), "dim %d", i);
		cJSON_AddItemToArray(dyn, cJSON_CreateString(d->param ? d->param : buf));
	}
	cJSON_AddBoolToObject(o, "dynamic", dynamic);
	if (t->init >= 0)
		cJSON_AddBoolToObject(o, "initializer", true);
	return o;
}

static int cmp_op(const void *a, const void *b, void *ctx)
{
	const struct onnx_model *m = ctx;
	const struct onnx_node *x = &m->nodes[*(const uint32_t *)a];
	const struct onnx_node *y = &m->nodes[*(const uint32_t *)b];
	int c = strcmp(x->domain, y->domain);
	return c ? c : strcmp(x->op, y->op);
}

/* {"Conv": 64, ...}; ops of other domains as "domain:Op". */
static cJSON *histogram(const struct onnx_model *m)
{
	cJSON *h = cJSON_CreateObject();
	uint32_t *idx = malloc((m->nnodes + 1) * sizeof(uint32_t));
	if (h == NULL || idx == NULL) {
		free(idx);
		cJSON_Delete(h);
		return NULL;
	}
	for (uint32_t i = 0; i < m->nnodes; i++)
		idx[i] = i;
	qsort_r(idx, m->nnodes, sizeof(uint32_t), cmp_op, (void *)m);
	for (uint32_t i = 0; i < m->nnodes;) {
		uint32_t j = i;
		while (j < m->nnodes && cmp_op(&idx[i], &idx[j], (void *)m) == 0)
			j++;
		const struct onnx_node *n = &m->nodes[idx[i]];
		char key[ONNX_NAME_MAX * 2 + 2];
		if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
			snprintf(key, sizeof(key), "%s:%s", n->domain, n->op);
		else
			snprintf(key, sizeof(key), "%s", n->op);
		cJSON_AddNumberToObject(h, key, j - i);
		i = j;
	}
	free(idx);
	return h;
}

cJSON *onnx_inspect_json(const struct onnx_model *m)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "inspection_version", ONNX_INSPECTION_VERSION);
	cJSON_AddNumberToObject(o, "ir_version", (double)m->ir_version);
	cJSON *p = cJSON_AddObjectToObject(o, "producer");
	if (p) {
		cJSON_AddStringToObject(p, "name", m->producer_name);
		cJSON_AddStringToObject(p, "version", m->producer_version);
	}
	cJSON_AddStringToObject(o, "domain", m->domain);
	cJSON_AddNumberToObject(o, "model_version", (double)m->model_version);
	cJSON_AddStringToObject(o, "graph_name", m->graph_name);
	cJSON *ops = cJSON_AddArrayToObject(o, "opsets");
	for (uint32_t i = 0; ops && i < m->nopsets; i++) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "domain", m->opsets[i].domain[0]
					? m->opsets[i].domain : "ai.onnx");
		cJSON_AddNumberToObject(x, "version", (double)m->opsets[i].version);
		cJSON_AddItemToArray(ops, x);
	}
	cJSON *in = cJSON_AddArrayToObject(o, "inputs");
	for (uint32_t k = 0; in && k < m->ninputs; k++)
		cJSON_AddItemToArray(in, vinfo_json(m, m->inputs[k]));
	cJSON *out = cJSON_AddArrayToObject(o, "outputs");
	for (uint32_t k = 0; out && k < m->noutputs; k++)
		cJSON_AddItemToArray(out, vinfo_json(m, m->outputs[k]));
	cJSON_AddNumberToObject(o, "node_count", m->nnodes);
	cJSON_AddNumberToObject(o, "subgraph_node_count", m->subgraph_nodes);
	cJSON_AddItemToObject(o, "op_histogram", histogram(m));
	cJSON *ini = cJSON_AddObjectToObject(o, "initializers");
	if (ini) {
		cJSON_AddNumberToObject(ini, "count", m->ninits - m->nsparse);
		cJSON_AddNumberToObject(ini, "sparse_count", m->nsparse);
		cJSON_AddNumberToObject(ini, "bytes", (double)m->init_bytes);
		cJSON_AddNumberToObject(ini, "external_bytes", (double)m->ext_bytes);
	}
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	for (uint32_t i = 0; md && i < m->nmeta; i++)
		if (!cJSON_HasObjectItem(md, m->meta[i].key))
			cJSON_AddStringToObject(md, m->meta[i].key, m->meta[i].value);
	/* Ultralytics' class names, as labels a job takes by default; names
	 * the reader refuses say why, so "none" is not all a person sees */
	const char *ntext = cJSON_GetStringValue(cJSON_GetObjectItem(md, "names"));
	struct kiln_err nerr = {0};
	cJSON *names = ntext ? onnx_names_labels(ntext, &nerr) : NULL;
	if (names)
		cJSON_AddItemToObject(o, "suggested_labels", names);
	else if (ntext && nerr.code == KILN_EINVAL)
		cJSON_AddStringToObject(o, "suggested_labels_error", nerr.msg);
	cJSON *ext = cJSON_AddArrayToObject(o, "external_data");
	for (uint32_t i = 0; ext && i < m->ninits; i++) {
		const struct onnx_init *x = &m->inits[i];
		if (!x->external)
			continue;
		cJSON *e = cJSON_CreateObject();
		char tn[ONNX_NAME_MAX + 1];
		cJSON_AddStringToObject(e, "tensor",
					onnx_tensor_name_copy(m, x->tensor, tn, sizeof(tn)));
		cJSON_AddStringToObject(e, "location", x->location ? x->location : "");
		cJSON_AddNumberToObject(e, "offset", (double)x->ext_offset);
		cJSON_AddNumberToObject(e, "length", (double)x->ext_length);
		/* Reported, never opened.  Locations outside the model's
		 * directory are refused by onnx_open, so this stays false;
		 * kept so a client need not know that rule. */
		cJSON_AddBoolToObject(e, "escapes", x->escapes);
		cJSON_AddItemToArray(ext, e);
	}
	cJSON_AddNumberToObject(o, "functions", m->nfunctions);
	cJSON_AddNumberToObject(o, "training_info", m->ntraining);
	cJSON_AddItemToObject(o, "targets", target_ops_json(m));
	cJSON *sg = onnx_suggest_json(m);
	if (sg) {
		cJSON_AddItemToObject(o, "suggested_outputs",
				      cJSON_DetachItemFromObject(sg, "suggested_outputs"));
		cJSON_AddItemToObject(o, "suggested_model_type",
				      cJSON_DetachItemFromObject(sg, "suggested_model_type"));
		/* [[w,h,...] per level] from the Detect head, or null: the
		 * default for a yolov5 job's mud.anchors (spec.c) */
		cJSON_AddItemToObject(o, "anchors", cJSON_DetachItemFromObject(sg, "anchors"));
		cJSON_Delete(sg);
	}
	return o;
}

static const char *tensor_kind(const struct onnx_tensor *t)
{
	if (t->init >= 0)
		return "initializer";
	if (t->is_input)
		return "input";
	if (t->is_output)
		return "output";
	return "intermediate";
}

/* The graph view is written as text in one growing buffer: a cJSON tree of
 * a 10k-node graph is ~250k small allocations, which alone costs more than
 * the 100 ms the dashboard is promised.  With a file (onnx_graph_json_write)
 * the buffer is flushed every JB_FLUSH bytes, so a 1M-node graph's ~200 MB
 * of text never sits in memory. */
#define JB_FLUSH (256 * 1024)

struct jb {
	char *p;
	size_t n, cap;
	bool oom;      /* or a write error, with f */
	FILE *f;       /* NULL: keep everything in p */
	const struct onnx_model *m;
	size_t since;  /* bytes flushed since the model's pages were dropped */
};

static void jb_raw(struct jb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->f && b->n + n > JB_FLUSH) {
		if (b->n && fwrite(b->p, 1, b->n, b->f) != b->n)
			b->oom = true;
		/* The names come from the model's file (onnx_priv.h): drop
		 * its pages now and then, or writing the graph would bring the
		 * whole file into memory page by page. */
		b->since += b->n;
		if (b->since >= ((size_t)4 << 20)) {
			onnx_release_pages(b->m);
			b->since = 0;
		}
		b->n = 0;
		if (n > JB_FLUSH) {
			if (fwrite(s, 1, n, b->f) != n)
				b->oom = true;
			return;
		}
	}
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void jb_lit(struct jb *b, const char *s)
{
	jb_raw(b, s, strlen(s));
}

/* s[0..len) as a JSON string. */
static void jb_strn(struct jb *b, const char *s, size_t len)
{
	jb_raw(b, "\"", 1);
	const char *run = s, *end = s + len;
	for (; s < end; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jb_raw(b, run, (size_t)(s - run));
		char esc[8];
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		jb_lit(b, esc);
		run = s + 1;
	}
	jb_raw(b, run, (size_t)(s - run));
	jb_raw(b, "\"", 1);
}

static void jb_str(struct jb *b, const char *s)
{
	jb_strn(b, s, strlen(s));
}

static void jb_tensor(struct jb *b, const struct onnx_model *m, uint32_t t)
{
	int len;
	const char *s = onnx_tensor_name(m, t, &len);
	jb_strn(b, s, (size_t)len);
}

static void jb_num(struct jb *b, long long v)
{
	char t[24];
	int k = snprintf(t, sizeof(t), "%lld", v);
	jb_raw(b, t, (size_t)k);
}

/* The names of node n's inputs ('i'), outputs ('o') or implicit subgraph
 * inputs ('u'); an omitted input is "". */
static void jb_names(struct jb *b, const struct onnx_model *m,
		     const struct onnx_node *n, char which)
{
	uint32_t cnt = which == 'i' ? n->nin : which == 'o' ? n->nout : n->nimplicit;
	jb_raw(b, "[", 1);
	for (uint32_t k = 0; k < cnt; k++) {
		uint32_t id = which == 'i' ? onnx_node_in(m, n, k)
			    : which == 'o' ? onnx_node_out(m, n, k)
			    : onnx_node_use(m, n, n->nin + k);
		if (k)
			jb_raw(b, ",", 1);
		if (id == ONNX_NONE)
			jb_raw(b, "\"\"", 2);
		else
			jb_tensor(b, m, id);
	}
	jb_raw(b, "]", 1);
}

static void jb_shape(struct jb *b, const struct onnx_type *t)
{
	if (t == NULL || t->rank < 0 || (t->kind != OK_TENSOR && t->kind != OK_SPARSE)) {
		jb_lit(b, "null");
		return;
	}
	jb_raw(b, "[", 1);
	for (int i = 0; i < t->rank; i++) {
		if (i)
			jb_raw(b, ",", 1);
		if (t->dims[i].has_value)
			jb_num(b, t->dims[i].value);
		else if (t->dims[i].param)
			jb_str(b, t->dims[i].param);
		else
			jb_lit(b, "null");
	}
	jb_raw(b, "]", 1);
}

static void graph_text(const struct onnx_model *m, struct jb *bp)
{
	struct jb b = *bp;
	char attrs[512];
	jb_lit(&b, "{\"nodes\":[");
	for (uint32_t i = 0; i < m->nnodes && !b.oom; i++) {
		const struct onnx_node *n = &m->nodes[m->topo[i]];
		int nl;
		const char *nm = onnx_node_name(m, n, &nl);
		jb_lit(&b, i ? ",{\"name\":" : "{\"name\":");
		jb_strn(&b, nm, (size_t)nl);
		jb_lit(&b, ",\"op\":");
		jb_str(&b, n->op);
		if (n->domain[0]) {
			jb_lit(&b, ",\"domain\":");
			jb_str(&b, n->domain);
		}
		jb_lit(&b, ",\"inputs\":");
		jb_names(&b, m, n, 'i');
		jb_lit(&b, ",\"outputs\":");
		jb_names(&b, m, n, 'o');
		if (n->nimplicit) {
			jb_lit(&b, ",\"implicit_inputs\":");
			jb_names(&b, m, n, 'u');
		}
		onnx_attr_summary(n, attrs, sizeof(attrs));
		jb_lit(&b, ",\"attrs\":");
		jb_str(&b, attrs);
		jb_raw(&b, "}", 1);
	}
	jb_lit(&b, "],\"tensors\":{");
	for (uint32_t t = 0; t < m->ntensors && !b.oom; t++) {
		const struct onnx_tensor *x = &m->tensors[t];
		if (t)
			jb_raw(&b, ",", 1);
		jb_tensor(&b, m, t);
		jb_lit(&b, ":{\"kind\":");
		jb_str(&b, tensor_kind(x));
		jb_lit(&b, ",\"type\":");
		jb_str(&b, onnx_type_name(x->ty));
		jb_lit(&b, ",\"shape\":");
		jb_shape(&b, x->ty);
		if (x->inferred)
			jb_lit(&b, ",\"inferred\":true");
		jb_raw(&b, "}", 1);
	}
	jb_lit(&b, "},\"inputs\":[");
	for (uint32_t k = 0; k < m->ninputs; k++) {
		if (k)
			jb_raw(&b, ",", 1);
		jb_tensor(&b, m, m->vinfos[m->inputs[k]].tensor);
	}
	jb_lit(&b, "],\"outputs\":[");
	for (uint32_t k = 0; k < m->noutputs; k++) {
		if (k)
			jb_raw(&b, ",", 1);
		jb_tensor(&b, m, m->vinfos[m->outputs[k]].tensor);
	}
	jb_lit(&b, "]}");
	*bp = b;
}

char *onnx_graph_json_text(const struct onnx_model *m, size_t *len)
{
	struct jb b = { .m = m };
	graph_text(m, &b);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	if (len)
		*len = b.n;
	return b.p;
}

int onnx_graph_json_write(const struct onnx_model *m, FILE *f, struct kiln_err *err)
{
	struct jb b = { .m = m };
	b.f = f;
	graph_text(m, &b);
	if (!b.oom && b.n && fwrite(b.p, 1, b.n, f) != b.n)
		b.oom = true;
	free(b.p);
	if (b.oom || ferror(f))
		return kiln_errf(err, KILN_EIO, "", "cannot write the graph view (disk full?)");
	return 0;
}

cJSON *onnx_graph_json(const struct onnx_model *m)
{
	char *s = onnx_graph_json_text(m, NULL);
	if (s == NULL)
		return NULL;
	cJSON *j = cJSON_Parse(s);
	free(s);
	return j;
}
