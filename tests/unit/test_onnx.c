/*
 * Unit tests for conversion/onnx: the reader's bounds and validation, the
 * cut and rewrite writers, and the graph view's order and speed.  Models are
 * built here byte by byte with a tiny protobuf writer, so each test shows
 * exactly which bytes it feeds the reader.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kt.h"
#include "conversion/onnx.h"

/* --- a tiny protobuf writer ------------------------------------------------- */
struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void w_raw(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void w_varint(struct buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t i = 0;
	while (v >= 0x80) {
		t[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	t[i++] = (uint8_t)v;
	w_raw(b, t, i);
}

static void w_int(struct buf *b, uint32_t num, uint64_t v)
{
	w_varint(b, (uint64_t)num << 3);
	w_varint(b, v);
}

static void w_bytes(struct buf *b, uint32_t num, const void *p, size_t n)
{
	w_varint(b, (uint64_t)num << 3 | 2);
	w_varint(b, n);
	w_raw(b, p, n);
}

static void w_str(struct buf *b, uint32_t num, const char *s)
{
	w_bytes(b, num, s, strlen(s));
}

static void w_msg(struct buf *b, uint32_t num, struct buf *sub)
{
	w_bytes(b, num, sub->p, sub->n);
	free(sub->p);
	memset(sub, 0, sizeof(*sub));
}

/* ValueInfoProto float tensor with the given dims into graph field num. */
static void w_vinfo(struct buf *g, uint32_t num, const char *name,
		    const int64_t *dims, int nd)
{
	struct buf vi = { 0 }, ty = { 0 }, tt = { 0 }, sh = { 0 };
	for (int i = 0; i < nd; i++) {
		struct buf d = { 0 };
		w_int(&d, 1, (uint64_t)dims[i]);
		w_msg(&sh, 1, &d);
	}
	w_int(&tt, 1, 1);
	w_msg(&tt, 2, &sh);
	w_msg(&ty, 1, &tt);
	w_str(&vi, 1, name);
	w_msg(&vi, 2, &ty);
	w_msg(g, num, &vi);
}

static void w_node(struct buf *g, const char *op, const char *name,
		   const char *in0, const char *in1, const char *out)
{
	struct buf n = { 0 };
	if (in0)
		w_str(&n, 1, in0);
	if (in1)
		w_str(&n, 1, in1);
	w_str(&n, 2, out);
	w_str(&n, 3, name);
	w_str(&n, 4, op);
	w_msg(g, 1, &n);
}

/* ModelProto around graph (consumed). */
static struct buf w_model(struct buf *graph, int ir, int opset)
{
	struct buf m = { 0 }, o = { 0 };
	w_int(&m, 1, (uint64_t)ir);
	w_str(&m, 2, "kiln-test");
	w_msg(&m, 7, graph);
	w_str(&o, 1, "");
	w_int(&o, 2, (uint64_t)opset);
	w_msg(&m, 8, &o);
	return m;
}

static const int64_t shape4[] = { 1, 3, 8, 8 };

/* x -> Relu -> a -> Sigmoid -> y, with an Add of a constant in between. */
static struct buf small_model(void)
{
	struct buf g = { 0 };
	w_node(&g, "Relu", "relu", "x", NULL, "a");
	w_node(&g, "Add", "add", "a", "bias", "b");
	w_node(&g, "Sigmoid", "sig", "b", NULL, "y");
	w_str(&g, 2, "g");
	struct buf t = { 0 };
	w_int(&t, 1, 1);
	w_int(&t, 2, 1);
	w_str(&t, 8, "bias");
	float one = 1.0f;
	w_bytes(&t, 9, &one, 4);
	w_msg(&g, 5, &t);
	w_vinfo(&g, 11, "x", shape4, 4);
	w_vinfo(&g, 12, "y", shape4, 4);
	return w_model(&g, 8, 17);
}

static int open_buf(const struct buf *b, struct onnx_model **m,
		    struct kiln_err *err)
{
	kiln_err_clear(err);
	return onnx_open_mem(b->p, b->n, m, err);
}

/* --- reader ------------------------------------------------------------------ */
static void onnx_read__reads_small_model(void)
{
	struct buf b = small_model();
	struct onnx_model *m;
	struct kiln_err err;
	if (!CHECK_INT(open_buf(&b, &m, &err), 0)) {
		fprintf(stderr, "%s\n", err.msg);
		free(b.p);
		return;
	}
	CHECK_INT(onnx_ir_version(m), 8);
	CHECK_INT(onnx_opset_version(m, ""), 17);
	CHECK_INT(onnx_opset_version(m, "ai.onnx"), 17);
	CHECK_INT(onnx_node_count(m), 3);
	CHECK_STR(onnx_node_op(m, 1), "Add");
	CHECK_INT(onnx_feed_count(m), 1);
	CHECK_INT(onnx_feed_is_dynamic(m, 0), 0);
	cJSON *j = onnx_inspect_json(m);
	CHECK(j != NULL);
	cJSON *h = cJSON_GetObjectItem(j, "op_histogram");
	CHECK_INT(cJSON_GetObjectItem(h, "Relu")->valueint, 1);
	CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "initializers"), "bytes")->valueint, 4);
	cJSON_Delete(j);
	onnx_close(m);
	free(b.p);
}

static void expect_error(const struct buf *b, int code, const char *needle)
{
	struct onnx_model *m = NULL;
	struct kiln_err err;
	int rc = open_buf(b, &m, &err);
	CHECKF(rc == code, "rc %d, want %d (%s)", rc, code, err.msg);
	CHECKF(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
	CHECK(m == NULL);
	onnx_close(m);
}

static void onnx_read__rejects_empty(void)
{
	struct buf b = { (uint8_t *)"", 0, 0 };
	expect_error(&b, KILN_EINVAL, "empty");
}

static void onnx_read__rejects_length_past_end(void)
{
	struct buf b = { 0 };
	w_int(&b, 1, 8);
	w_varint(&b, 7 << 3 | 2);
	w_varint(&b, 1000000);
	w_raw(&b, "abc", 3);
	expect_error(&b, KILN_EINVAL, "claims 1000000 bytes");
	free(b.p);
}

static void onnx_read__rejects_protobuf_that_is_not_a_model(void)
{
	/* a TensorProto: dims, data_type, name, raw_data */
	struct buf b = { 0 };
	w_int(&b, 1, 4);
	w_int(&b, 2, 1);
	w_str(&b, 8, "w");
	w_bytes(&b, 9, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	expect_error(&b, KILN_EINVAL, "not an ONNX model");
	free(b.p);
	/* a ModelProto with no graph */
	struct buf c = { 0 };
	w_int(&c, 1, 8);
	w_str(&c, 2, "x");
	expect_error(&c, KILN_EINVAL, "no graph");
	free(c.p);
}

static void onnx_read__survives_random_bytes(void)
{
	uint32_t s = 12345;
	uint8_t data[512];
	int accepted = 0;
	for (int round = 0; round < 2000; round++) {
		size_t n = 1 + round % sizeof(data);
		for (size_t i = 0; i < n; i++) {
			s = s * 1103515245u + 12345u;
			data[i] = (uint8_t)(s >> 16);
		}
		struct onnx_model *m;
		struct kiln_err err;
		kiln_err_clear(&err);
		if (onnx_open_mem(data, n, &m, &err) == 0) {
			accepted++;
			onnx_close(m);
		} else if (!CHECK(err.msg[0] != '\0')) {
			return;
		}
	}
	CHECK_INT(accepted, 0);
}

static void onnx_read__every_truncation_fails_cleanly(void)
{
	struct buf b = small_model();
	for (size_t n = 0; n < b.n; n++) {
		struct onnx_model *m;
		struct kiln_err err;
		kiln_err_clear(&err);
		int rc = onnx_open_mem(b.p, n, &m, &err);
		if (rc == 0) {
			/* cut exactly after the graph: still a model (the
			 * opset import is optional on the wire) */
			onnx_close(m);
			continue;
		}
		if (!CHECKF(err.msg[0] != '\0' && (rc == KILN_EINVAL || rc == KILN_EUNPROC),
			    "prefix %zu: rc %d '%s'", n, rc, err.msg))
			break;
	}
	free(b.p);
}

static void onnx_read__rejects_control_characters_in_names(void)
{
	struct buf g = { 0 };
	w_node(&g, "Relu", "r", "x", NULL, "bad\nname");
	w_vinfo(&g, 11, "x", shape4, 4);
	w_vinfo(&g, 12, "bad\nname", shape4, 4);
	struct buf b = w_model(&g, 8, 17);
	expect_error(&b, KILN_EINVAL, "control character (0x0a)");
	free(b.p);
}

static void onnx_read__rejects_10kb_names(void)
{
	char *name = malloc(10241);
	memset(name, 'a', 10240);
	name[10240] = '\0';
	struct buf g = { 0 };
	w_node(&g, "Relu", "r", "x", NULL, name);
	w_vinfo(&g, 11, "x", shape4, 4);
	struct buf b = w_model(&g, 8, 17);
	expect_error(&b, KILN_EINVAL, "10240 bytes long");
	free(b.p);
	free(name);
}

static void onnx_read__rejects_inputs_produced_nowhere(void)
{
	struct buf g = { 0 };
	w_node(&g, "Add", "add", "x", "ghost", "y");
	w_vinfo(&g, 11, "x", shape4, 4);
	w_vinfo(&g, 12, "y", shape4, 4);
	struct buf b = w_model(&g, 8, 17);
	expect_error(&b, KILN_EUNPROC, "'ghost', which no node produces");
	free(b.p);
}

static void onnx_read__rejects_cycles(void)
{
	struct buf g = { 0 };
	w_node(&g, "Add", "a", "x", "c", "b");
	w_node(&g, "Relu", "b", "b", NULL, "c");
	w_node(&g, "Relu", "out", "c", NULL, "y");
	w_vinfo(&g, 11, "x", shape4, 4);
	w_vinfo(&g, 12, "y", shape4, 4);
	struct buf b = w_model(&g, 8, 17);
	expect_error(&b, KILN_EUNPROC, "cycle");
	free(b.p);
}

static void onnx_read__rejects_tensor_produced_twice(void)
{
	struct buf g = { 0 };
	w_node(&g, "Relu", "a", "x", NULL, "y");
	w_node(&g, "Sigmoid", "b", "x", NULL, "y");
	w_vinfo(&g, 11, "x", shape4, 4);
	w_vinfo(&g, 12, "y", shape4, 4);
	struct buf b = w_model(&g, 8, 17);
	expect_error(&b, KILN_EUNPROC, "produced twice");
	free(b.p);
}

static void onnx_read__rejects_external_data_outside_model_dir(void)
{
	struct buf g = { 0 }, t = { 0 }, kv = { 0 };
	w_node(&g, "Add", "add", "x", "w", "y");
	w_int(&t, 1, 1);
	w_int(&t, 2, 1);
	w_str(&t, 8, "w");
	w_str(&kv, 1, "location");
	w_str(&kv, 2, "../../etc/passwd");
	w_msg(&t, 13, &kv);
	w_int(&t, 14, 1);
	w_msg(&g, 5, &t);
	w_vinfo(&g, 11, "x", shape4, 4);
	w_vinfo(&g, 12, "y", shape4, 4);
	struct buf b = w_model(&g, 8, 17);
	expect_error(&b, KILN_EINVAL, "../../etc/passwd");
	free(b.p);
}

static void onnx_read__reads_nodes_in_any_order(void)
{
	/* the file lists the consumer first; the graph view must not */
	struct buf g = { 0 };
	w_node(&g, "Sigmoid", "second", "a", NULL, "y");
	w_node(&g, "Relu", "first", "x", NULL, "a");
	w_vinfo(&g, 11, "x", shape4, 4);
	w_vinfo(&g, 12, "y", shape4, 4);
	struct buf b = w_model(&g, 8, 17);
	struct onnx_model *m;
	struct kiln_err err;
	if (!CHECK_INT(open_buf(&b, &m, &err), 0)) {
		free(b.p);
		return;
	}
	cJSON *j = onnx_graph_json(m);
	cJSON *nodes = cJSON_GetObjectItem(j, "nodes");
	CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(nodes, 0), "name")->valuestring, "first");
	CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(nodes, 1), "name")->valuestring, "second");
	/* shapes flow through unary ops */
	cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "tensors"), "a");
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(a, "shape")), 4);
	cJSON_Delete(j);
	onnx_close(m);
	free(b.p);
}

/* --- writers -------------------------------------------------------------------- */
static void onnx_cut__keeps_only_needed_nodes(void)
{
	struct buf b = small_model();
	struct onnx_model *m, *c;
	struct kiln_err err;
	if (!CHECK_INT(open_buf(&b, &m, &err), 0))
		return;
	char path[512];
	snprintf(path, sizeof(path), "%s/cut.onnx", kt_tmpdir());
	const char *outs[] = { "b" };
	struct onnx_cut_stats st = { 0 };
	if (CHECKF(onnx_cut_file(m, outs, 1, path, &st, &err) == 0, "%s", err.msg)) {
		CHECK_INT(st.nodes, 2);
		CHECK_INT(st.initializers, 1);
		CHECK_INT(st.untyped_outputs, 0);
		if (CHECKF(onnx_open(path, &c, &err) == 0, "%s", err.msg)) {
			CHECK_INT(onnx_node_count(c), 2);
			cJSON *j = onnx_inspect_json(c);
			cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "outputs"), 0);
			CHECK_STR(cJSON_GetObjectItem(o, "name")->valuestring, "b");
			CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "shape")), 4);
			cJSON_Delete(j);
			onnx_close(c);
		}
	}
	onnx_close(m);
	free(b.p);
}

static void onnx_cut__unknown_tensor_is_listed(void)
{
	struct buf b = small_model();
	struct onnx_model *m;
	struct kiln_err err;
	if (!CHECK_INT(open_buf(&b, &m, &err), 0))
		return;
	const char *outs[] = { "a", "nope", "also_nope" };
	int fd = open("/dev/null", O_WRONLY);
	CHECK_INT(onnx_cut(m, outs, 3, fd, NULL, &err), KILN_EINVAL);
	CHECK_STR(err.field, "outputs");
	CHECK(strstr(err.msg, "'nope', 'also_nope'") != NULL);
	close(fd);
	onnx_close(m);
	free(b.p);
}

static void onnx_rewrite__lowers_ir_and_refuses_raising(void)
{
	struct buf b = small_model();
	struct onnx_model *m, *r;
	struct kiln_err err;
	if (!CHECK_INT(open_buf(&b, &m, &err), 0))
		return;
	char path[512];
	snprintf(path, sizeof(path), "%s/ir7.onnx", kt_tmpdir());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK_INT(onnx_rewrite_ir(m, 9, 0, fd, &err), KILN_EINVAL);
	/* IR 7 allows opset 14; Relu/Add/Sigmoid changed in 14/13/13? Add
	 * changed in 14, so relabelling 17 -> 14 is fine, 17 -> 13 is not */
	CHECK_INT(onnx_rewrite_ir(m, 7, 0, fd, &err), KILN_EUNPROC);
	CHECK_INT(onnx_rewrite_ir(m, 7, 13, fd, &err), KILN_EUNPROC);
	CHECK(strstr(err.msg, "Add (changed in 14)") != NULL);
	if (CHECKF(onnx_rewrite_ir(m, 7, 14, fd, &err) == 0, "%s", err.msg)) {
		close(fd);
		fd = -1;
		if (CHECKF(onnx_open(path, &r, &err) == 0, "%s", err.msg)) {
			CHECK_INT(onnx_ir_version(r), 7);
			CHECK_INT(onnx_opset_version(r, ""), 14);
			CHECK_INT(onnx_node_count(r), 3);
			onnx_close(r);
		}
	}
	if (fd >= 0)
		close(fd);
	onnx_close(m);
	free(b.p);
}

/* --- graph view speed ------------------------------------------------------------ */
static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void onnx_graph_json__10k_nodes_stay_linear(void)
{
	struct buf g = { 0 };
	char in[32], out[32], name[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(in, sizeof(in), i ? "t%d" : "x", i - 1);
		snprintf(out, sizeof(out), i == 9999 ? "y" : "t%d", i);
		snprintf(name, sizeof(name), "/layer.%d/Relu", i);
		w_node(&g, i % 2 ? "Relu" : "Sigmoid", name, in, NULL, out);
	}
	w_vinfo(&g, 11, "x", shape4, 4);
	w_vinfo(&g, 12, "y", shape4, 4);
	struct buf b = w_model(&g, 8, 17);
	double best = 1e9;
	for (int round = 0; round < 3; round++) {
		double t0 = now_ms();
		struct onnx_model *m;
		struct kiln_err err;
		if (!CHECK_INT(open_buf(&b, &m, &err), 0))
			break;
		size_t len = 0;
		char *s = onnx_graph_json_text(m, &len);
		double d = now_ms() - t0;
		best = d < best ? d : best;
		CHECK(s != NULL && len > 10000 * 40);
		if (round == 0) {
			/* the text is the JSON the cJSON variant describes */
			cJSON *j = cJSON_Parse(s);
			CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "nodes")), 10000);
			cJSON_Delete(j);
		}
		free(s);
		onnx_close(m);
	}
	/* Speed is measured in tests/bench/bench_inspect.sh, never asserted
	 * here: a loaded machine is slow, not wrong. */
	printf("# open + graph JSON of 10k nodes: %.1f ms\n", best);
	free(b.p);
}

/* Found by tests/fuzz/fuzz_onnx.c: a ConstantOfShape node left with no
 * input made shape inference index past the tensor table (a crash on
 * upload).  The model is valid enough to open; it must not crash. */
static const unsigned char FUZZ_CONSTANTOFSHAPE_NO_INPUT[] = {
	0x08, 0x04, 0x12, 0x0c, 0x62, 0x61, 0x63, 0x6b, 0x65, 0x6e, 0x64, 0x2d, 0x74, 0x65, 0x73,
	0x74, 0x3a, 0x7b, 0x0a, 0x33, 0x4a, 0x01, 0x78, 0x12, 0x01, 0x79, 0x22, 0x0f, 0x43, 0x6f,
	0x6e, 0x73, 0x74, 0x61, 0x6e, 0x74, 0x4f, 0x66, 0x53, 0x68, 0x61, 0x70, 0x65, 0x2a, 0x1a,
	0x0a, 0x05, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2a, 0x0e, 0x08, 0x01, 0x18, 0x06, 0x2a, 0x01,
	0x00, 0x42, 0x05, 0x76, 0x61, 0x6c, 0x75, 0x65, 0xa0, 0x01, 0x04, 0x12, 0x1e, 0x74, 0x65,
	0x73, 0x74, 0x5f, 0x63, 0x6f, 0x6e, 0x73, 0x74, 0x61, 0x6e, 0x74, 0x6f, 0x66, 0x73, 0x68,
	0x61, 0x70, 0x65, 0x5f, 0x69, 0x6e, 0x74, 0x5f, 0x7a, 0x65, 0x72, 0x6f, 0x73, 0x5a, 0x0f,
	0x0a, 0x01, 0x78, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x31, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x02,
	0x62, 0x13, 0x0a, 0x01, 0x79, 0x12, 0x0e, 0x0a, 0x0c, 0x08, 0x06, 0x12, 0x08, 0x0a, 0x02,
	0x08, 0x0a, 0x0a, 0x02, 0x08, 0x06, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x09
};

static void onnx_open__node_with_fewer_inputs_than_its_op_does_not_crash(void)
{
	struct onnx_model *m = NULL;
	struct kiln_err err;
	int rc = onnx_open_mem(FUZZ_CONSTANTOFSHAPE_NO_INPUT, sizeof(FUZZ_CONSTANTOFSHAPE_NO_INPUT),
			       &m, &err);
	if (rc == 0) {
		cJSON *j = onnx_inspect_json(m);
		CHECK(j != NULL);
		cJSON_Delete(j);
		free(onnx_graph_json_text(m, NULL));
		onnx_close(m);
	} else {
		CHECK(err.msg[0] != '\0');
	}
}

/* Also found by fuzz_onnx: a Shape node whose input name is "" made the
 * per-target check index the tensor table with ONNX_NONE (a crash). */
static const unsigned char FUZZ_SHAPE_OF_NOTHING[] = {
	0x08, 0x07, 0x12, 0x0c, 0x62, 0x61, 0x63, 0x6b, 0x65, 0x6e, 0x64, 0x2d, 0x74, 0x65, 0x73,
	0x74, 0x3a, 0x50, 0x0a, 0x10, 0x80, 0x01, 0x78, 0x0a, 0x00, 0x0a, 0x00, 0x12, 0x01, 0x79,
	0x22, 0x04, 0x53, 0x69, 0x7a, 0x65, 0x12, 0x1a, 0x74, 0x65, 0x73, 0x74, 0x5f, 0x63, 0x6c,
	0x69, 0x70, 0x55, 0x6e, 0x73, 0x71, 0x75, 0x65, 0x65, 0x7a, 0x5f, 0x69, 0x6e, 0x62, 0x6f,
	0x75, 0x6e, 0x64, 0x73, 0x5a, 0x0f, 0x0a, 0x01, 0x78, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x01,
	0x12, 0x04, 0x0a, 0x02, 0x08, 0x03, 0x62, 0x0f, 0x0a, 0x01, 0x79, 0x12, 0x0a, 0x60, 0x08,
	0x08, 0x01, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x03, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x0d
};

static void onnx_inspect__shape_of_an_omitted_input_does_not_crash(void)
{
	struct onnx_model *m = NULL;
	struct kiln_err err;
	if (onnx_open_mem(FUZZ_SHAPE_OF_NOTHING, sizeof(FUZZ_SHAPE_OF_NOTHING), &m, &err) != 0) {
		CHECK(err.msg[0] != '\0');
		return;
	}
	cJSON *j = onnx_inspect_json(m);
	CHECK(j != NULL);
	cJSON_Delete(j);
	onnx_close(m);
}

/* Issue 14 item 1: a 138-byte upload (an Identity with no inputs) crashed
 * kilnd: the suggester read in[0] past the node's inputs and used the
 * arena's garbage as a tensor index.  Every edge read now goes through
 * onnx_node_in/out/use.  The slot read is inside the arena, so ASan cannot
 * see it; M_PERTURB fills fresh heap memory with a pattern so that the old
 * read is a wild index (a segfault) instead of whatever the heap held.
 * The bytes are the issue's base64:
 * CAYSDGJhY2tlbmQtdGVzdDp4CilAAIoKAXkSAXoiCElkZW50aXR5KhQKCWRpcmVjdGlvbiIE
 * TAVGVKABAxIYdGVzdF9iaXRzaGlmdF9sZWZ0X3VpbnRbWg8KAXgSCgoICAISBAoCCANaDwoB
 * eRIKCggIAhIECgIIA2IPCgF6EgQKAggDQgQKABAL
 */
static const unsigned char ISSUE14_IDENTITY_WITHOUT_INPUT[] = {
	0x08, 0x06, 0x12, 0x0c, 0x62, 0x61, 0x63, 0x6b, 0x65, 0x6e, 0x64, 0x2d, 0x74, 0x65, 0x73,
	0x74, 0x3a, 0x78, 0x0a, 0x29, 0x40, 0x00, 0x8a, 0x0a, 0x01, 0x79, 0x12, 0x01, 0x7a, 0x22,
	0x08, 0x49, 0x64, 0x65, 0x6e, 0x74, 0x69, 0x74, 0x79, 0x2a, 0x14, 0x0a, 0x09, 0x64, 0x69,
	0x72, 0x65, 0x63, 0x74, 0x69, 0x6f, 0x6e, 0x22, 0x04, 0x4c, 0x05, 0x46, 0x54, 0xa0, 0x01,
	0x03, 0x12, 0x18, 0x74, 0x65, 0x73, 0x74, 0x5f, 0x62, 0x69, 0x74, 0x73, 0x68, 0x69, 0x66,
	0x74, 0x5f, 0x6c, 0x65, 0x66, 0x74, 0x5f, 0x75, 0x69, 0x6e, 0x74, 0x5b, 0x5a, 0x0f, 0x0a,
	0x01, 0x78, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x02, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x03, 0x5a,
	0x0f, 0x0a, 0x01, 0x79, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x02, 0x12, 0x04, 0x0a, 0x02, 0x08,
	0x03, 0x62, 0x0f, 0x0a, 0x01, 0x7a, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x03, 0x42, 0x04, 0x0a,
	0x00, 0x10, 0x0b
};

static void onnx_suggest__identity_without_inputs_does_not_crash(void)
{
	struct onnx_model *m = NULL;
	struct kiln_err err;
#ifdef M_PERTURB
	mallopt(M_PERTURB, 0x5a);
#endif
	int rc = onnx_open_mem(ISSUE14_IDENTITY_WITHOUT_INPUT,
			       sizeof(ISSUE14_IDENTITY_WITHOUT_INPUT), &m, &err);
	CHECKF(rc == 0, "%s", err.msg);
	if (rc == 0) {
		cJSON *j = onnx_inspect_json(m);
		CHECK(j != NULL);
		/* the Identity reads nothing, so nothing is a place to cut but
		 * the graph output itself */
		cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "suggested_outputs"), 0);
		cJSON *t = cJSON_GetObjectItem(s, "tensors");
		CHECK(cJSON_GetArraySize(t) == 1 &&
		      strcmp(cJSON_GetArrayItem(t, 0)->valuestring, "z") == 0);
		cJSON_Delete(j);
		char *g = onnx_graph_json_text(m, NULL);
		CHECK(g != NULL && strstr(g, "\"inputs\":[]") != NULL);
		free(g);
		onnx_close(m);
	}
#ifdef M_PERTURB
	mallopt(M_PERTURB, 0);
#endif
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"onnx_suggest__identity_without_inputs_does_not_crash",
		 onnx_suggest__identity_without_inputs_does_not_crash},
		{"onnx_inspect__shape_of_an_omitted_input_does_not_crash",
		 onnx_inspect__shape_of_an_omitted_input_does_not_crash},
		{"onnx_open__node_with_fewer_inputs_than_its_op_does_not_crash",
		 onnx_open__node_with_fewer_inputs_than_its_op_does_not_crash},
		{ "onnx_read__reads_small_model", onnx_read__reads_small_model },
		{ "onnx_read__rejects_empty", onnx_read__rejects_empty },
		{ "onnx_read__rejects_length_past_end", onnx_read__rejects_length_past_end },
		{ "onnx_read__rejects_protobuf_that_is_not_a_model", onnx_read__rejects_protobuf_that_is_not_a_model },
		{ "onnx_read__survives_random_bytes", onnx_read__survives_random_bytes },
		{ "onnx_read__every_truncation_fails_cleanly", onnx_read__every_truncation_fails_cleanly },
		{ "onnx_read__rejects_control_characters_in_names", onnx_read__rejects_control_characters_in_names },
		{ "onnx_read__rejects_10kb_names", onnx_read__rejects_10kb_names },
		{ "onnx_read__rejects_inputs_produced_nowhere", onnx_read__rejects_inputs_produced_nowhere },
		{ "onnx_read__rejects_cycles", onnx_read__rejects_cycles },
		{ "onnx_read__rejects_tensor_produced_twice", onnx_read__rejects_tensor_produced_twice },
		{ "onnx_read__rejects_external_data_outside_model_dir", onnx_read__rejects_external_data_outside_model_dir },
		{ "onnx_read__reads_nodes_in_any_order", onnx_read__reads_nodes_in_any_order },
		{ "onnx_cut__keeps_only_needed_nodes", onnx_cut__keeps_only_needed_nodes },
		{ "onnx_cut__unknown_tensor_is_listed", onnx_cut__unknown_tensor_is_listed },
		{ "onnx_rewrite__lowers_ir_and_refuses_raising", onnx_rewrite__lowers_ir_and_refuses_raising },
		{ "onnx_graph_json__10k_nodes_stay_linear", onnx_graph_json__10k_nodes_stay_linear },
	};
	return kt_main("test_onnx", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
