/*
 * test_models: POST/GET/DELETE /api/v1/models over real HTTP — streamed
 * upload (raw and multipart), dedupe, the bytes back, and every bad upload
 * the issue lists: each gets a clear 4xx, leaves no record and no blob, and
 * the server keeps serving.  ONNX files are Debian's libonnx-testdata.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "kt.h"
#include "kt_server.h"

#define CONV "/usr/share/libonnx-testdata/data/node/test_basic_conv_with_padding/model.onnx"
#define RELU "/usr/share/libonnx-testdata/data/node/test_relu/model.onnx"

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char p[1200];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			n += count_files(p);
		else
			n++;
	}
	closedir(d);
	return n;
}

/* Nothing stored: no model row, no blob, no temporary file. */
static void check_nothing_stored(struct kt_server *s)
{
	struct kt_resp r;
	kt_http(s, "GET", "/api/v1/models", s->token, NULL, NULL, 0, &r);
	CHECKF(strstr(r.body, "\"items\":[]") != NULL, "models listed: %.200s", r.body);
	kt_resp_free(&r);
	char p[700];
	snprintf(p, sizeof(p), "%s/blobs/sha256", s->data_dir);
	CHECK_INT(count_files(p), 0);
	snprintf(p, sizeof(p), "%s/blobs/tmp", s->data_dir);
	CHECK_INT(count_files(p), 0);
	kt_http(s, "GET", "/healthz", NULL, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 200);
	kt_resp_free(&r);
}

static void check_error(struct kt_resp *r, long status, const char *field, const char *words)
{
	CHECKF(r->status == status, "status %ld, want %ld: %s", r->status, status, r->body);
	cJSON *j = cJSON_Parse(r->body);
	cJSON *e = cJSON_GetObjectItem(j, "error");
	const char *f = cJSON_GetStringValue(cJSON_GetObjectItem(e, "field"));
	const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(e, "message"));
	if (field)
		CHECKF(f && strcmp(f, field) == 0, "field %s, want %s (%s)", f ? f : "null", field,
		       r->body);
	if (words)
		CHECKF(m && strstr(m, words), "message lacks \"%s\": %s", words, r->body);
	cJSON_Delete(j);
}

static long long upload_raw(struct kt_server *s, const char *path, const char *name,
			    long *status)
{
	size_t len;
	char *bytes = kt_read_file(path, &len);
	char url[200];
	snprintf(url, sizeof(url), "/api/v1/models?name=%s", name);
	struct kt_resp r;
	kt_http(s, "POST", url, s->token, "application/octet-stream", bytes, len, &r);
	free(bytes);
	*status = r.status;
	cJSON *j = cJSON_Parse(r.body);
	long long id = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id"));
	cJSON_Delete(j);
	kt_resp_free(&r);
	return id;
}

static void raw_upload_inspects_and_dedupes(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	size_t len;
	char *bytes = kt_read_file(CONV, &len);
	struct kt_resp r;
	kt_http(&s, "POST", "/api/v1/models?name=conv", s.token, "application/octet-stream",
		bytes, len, &r);
	CHECKF(r.status == 201, "%ld %s", r.status, r.body);
	cJSON *j = cJSON_Parse(r.body);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "name")), "conv");
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "size")), len);
	cJSON *insp = cJSON_GetObjectItem(j, "inspection");
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(insp, "node_count")), 1);
	CHECK(cJSON_IsArray(cJSON_GetObjectItem(j, "suggested_outputs")));
	char sha[80];
	snprintf(sha, sizeof(sha), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "sha256")));
	cJSON_Delete(j);
	kt_resp_free(&r);
	/* The same bytes under the same name: the same record, 200. */
	long st;
	CHECK_INT(upload_raw(&s, CONV, "conv", &st), 1);
	CHECK_INT(st, 200);
	/* Under another name: a second record on the same blob. */
	CHECK_INT(upload_raw(&s, CONV, "conv-again", &st), 2);
	CHECK_INT(st, 201);
	char p[700];
	snprintf(p, sizeof(p), "%s/blobs/sha256", s.data_dir);
	CHECK_INT(count_files(p), 1);
	/* Pages of one. */
	kt_http(&s, "GET", "/api/v1/models?limit=1", s.token, NULL, NULL, 0, &r);
	j = cJSON_Parse(r.body);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 1);
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "next")), 1);
	cJSON_Delete(j);
	kt_resp_free(&r);
	kt_http(&s, "GET", "/api/v1/models?limit=1&after=1", s.token, NULL, NULL, 0, &r);
	j = cJSON_Parse(r.body);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(
		cJSON_GetObjectItem(j, "items"), 0), "name")), "conv-again");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "next")));
	cJSON_Delete(j);
	kt_resp_free(&r);
	kt_http(&s, "GET", "/api/v1/models?limit=0", s.token, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 400);
	kt_resp_free(&r);
	/* The bytes come back as they went in, with the sha256 as ETag. */
	kt_http(&s, "GET", "/api/v1/models/2/file", s.token, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 200);
	CHECK(r.len == len && memcmp(r.body, bytes, len) == 0);
	char etag[100], want[100];
	snprintf(want, sizeof(want), "\"%s\"", sha);
	CHECK_STR(kt_resp_header(&r, "ETag", etag, sizeof(etag)), want);
	kt_resp_free(&r);
	/* Deleting one record keeps the blob the other still names. */
	kt_http(&s, "DELETE", "/api/v1/models/1", s.token, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 204);
	kt_resp_free(&r);
	CHECK_INT(count_files(p), 1);
	kt_http(&s, "DELETE", "/api/v1/models/2", s.token, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 204);
	kt_resp_free(&r);
	CHECK_INT(count_files(p), 0);
	kt_http(&s, "GET", "/api/v1/models/2", s.token, NULL, NULL, 0, &r);
	check_error(&r, 404, "id", NULL);
	kt_resp_free(&r);
	free(bytes);
	CHECK_INT(kt_server_stop(&s), 0);
}

/* A multipart/form-data body with the given parts ("name" → value, "file"
 * → bytes); returns its length and fills out. */
static size_t multipart(char *out, size_t cap, const char *boundary, const char *const *fields,
			const char *const *values, const size_t *lens, int n)
{
	size_t o = 0;
	for (int i = 0; i < n; i++) {
		int file = strcmp(fields[i], "file") == 0;
		o += (size_t)snprintf(out + o, cap - o,
				      "--%s\r\nContent-Disposition: form-data; name=\"%s\"%s\r\n%s\r\n",
				      boundary, fields[i], file ? "; filename=\"yolo11n.onnx\"" : "",
				      file ? "Content-Type: application/octet-stream\r\n" : "");
		memcpy(out + o, values[i], lens[i]);
		o += lens[i];
		o += (size_t)snprintf(out + o, cap - o, "\r\n");
	}
	o += (size_t)snprintf(out + o, cap - o, "--%s--\r\n", boundary);
	return o;
}

static void multipart_upload_takes_name_from_field_or_filename(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	size_t len;
	char *bytes = kt_read_file(RELU, &len);
	char body[8192];
	const char *ct = "multipart/form-data; boundary=XyZ";
	const char *f1[] = {"name", "file"};
	const char *v1[] = {"relu-from-form", bytes};
	size_t l1[] = {14, len};
	size_t n = multipart(body, sizeof(body), "XyZ", f1, v1, l1, 2);
	struct kt_resp r;
	kt_http(&s, "POST", "/api/v1/models", s.token, ct, body, n, &r);
	CHECKF(r.status == 201, "%ld %s", r.status, r.body);
	CHECK(strstr(r.body, "\"name\":\"relu-from-form\"") != NULL);
	kt_resp_free(&r);
	const char *f2[] = {"file"};
	const char *v2[] = {bytes};
	size_t l2[] = {len};
	n = multipart(body, sizeof(body), "XyZ", f2, v2, l2, 1);
	kt_http(&s, "POST", "/api/v1/models", s.token, ct, body, n, &r);
	CHECKF(r.status == 201, "%ld %s", r.status, r.body);
	CHECK(strstr(r.body, "\"name\":\"yolo11n\"") != NULL);
	kt_resp_free(&r);
	free(bytes);
	CHECK_INT(kt_server_stop(&s), 0);
}

static void bad_uploads_are_refused_and_store_nothing(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, "[limits]\nmodel_bytes = 4K\n", NULL) == 0))
		return;
	size_t len;
	char *bytes = kt_read_file(CONV, &len);
	struct kt_resp r;
	const char *raw = "application/octet-stream";
	kt_http(&s, "POST", "/api/v1/models?name=e", s.token, raw, "", 0, &r);
	check_error(&r, 400, "file", "empty");
	kt_resp_free(&r);
	char rnd[3000];
	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (char)((i * 2654435761u) >> 13);
	kt_http(&s, "POST", "/api/v1/models?name=r", s.token, raw, rnd, sizeof(rnd), &r);
	check_error(&r, 400, "model", NULL);
	kt_resp_free(&r);
	kt_http(&s, "POST", "/api/v1/models?name=t", s.token, raw, bytes, len / 2, &r);
	check_error(&r, 400, "model", NULL);
	kt_resp_free(&r);
	kt_http(&s, "POST", "/api/v1/models", s.token, raw, bytes, len, &r);
	check_error(&r, 400, "name", "name");
	kt_resp_free(&r);
	kt_http(&s, "POST", "/api/v1/models?name=../../etc/x", s.token, raw, bytes, len, &r);
	check_error(&r, 400, "name", NULL);
	kt_resp_free(&r);
	kt_http(&s, "POST", "/api/v1/models?name=a%0Ab", s.token, raw, bytes, len, &r);
	check_error(&r, 400, "name", NULL);
	kt_resp_free(&r);
	/* Over the limit, announced: refused before the body is read. */
	char big[6000];
	memset(big, 'x', sizeof(big));
	kt_http(&s, "POST", "/api/v1/models?name=b", s.token, raw, big, sizeof(big), &r);
	check_error(&r, 413, "limits.model_bytes", "limits.model_bytes");
	kt_resp_free(&r);
	/* Multipart without a file part, and with two. */
	char body[16384];
	const char *ct = "multipart/form-data; boundary=B0undary";
	const char *f1[] = {"name"};
	const char *v1[] = {"x"};
	size_t l1[] = {1};
	size_t n = multipart(body, sizeof(body), "B0undary", f1, v1, l1, 1);
	kt_http(&s, "POST", "/api/v1/models", s.token, ct, body, n, &r);
	check_error(&r, 400, "file", "no 'file' part");
	kt_resp_free(&r);
	const char *f2[] = {"file", "file"};
	const char *v2[] = {bytes, bytes};
	size_t l2[] = {len, len};
	n = multipart(body, sizeof(body), "B0undary", f2, v2, l2, 2);
	kt_http(&s, "POST", "/api/v1/models", s.token, ct, body, n, &r);
	check_error(&r, 400, "file", "more than one");
	kt_resp_free(&r);
	kt_http(&s, "POST", "/api/v1/models", s.token, "multipart/form-data", body, n, &r);
	check_error(&r, 400, "file", "boundary");
	kt_resp_free(&r);
	/* A device would not get here; nor does a missing token. */
	kt_http(&s, "POST", "/api/v1/models?name=n", NULL, raw, bytes, len, &r);
	CHECK_INT(r.status, 401);
	kt_resp_free(&r);
	check_nothing_stored(&s);
	free(bytes);
	CHECK_INT(kt_server_stop(&s), 0);
}

/* Reads one Prometheus sample; -1 when absent. */
static double metric(struct kt_server *s, const char *sample)
{
	struct kt_resp r;
	kt_http(s, "GET", "/metrics", s->token, NULL, NULL, 0, &r);
	double v = -1;
	const char *p = strstr(r.body, sample);
	if (p && p[strlen(sample)] == ' ')
		v = atof(p + strlen(sample) + 1);
	kt_resp_free(&r);
	return v;
}

static void a_client_that_stops_half_way_leaves_nothing(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	char host[64];
	snprintf(host, sizeof(host), "%s", s.addr);
	char *colon = strrchr(host, ':');
	*colon = '\0';
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
	inet_pton(AF_INET, host, &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (!CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0))
		return;
	char head[512];
	int hn = snprintf(head, sizeof(head), "POST /api/v1/models?name=half HTTP/1.1\r\nHost: x\r\n"
			  "Authorization: Bearer %s\r\nContent-Type: application/octet-stream\r\n"
			  "Content-Length: 100000\r\n\r\n", s.token);
	CHECK(send(fd, head, (size_t)hn, 0) == hn);
	char chunk[40000];
	memset(chunk, 'q', sizeof(chunk));
	CHECK(send(fd, chunk, sizeof(chunk), 0) == (ssize_t)sizeof(chunk));
	close(fd);
	/* kilnd counts the abandoned request as status 499 once it has torn it
	 * down; each poll is a real request, bounded against a broken server. */
	int done = 0;
	for (int i = 0; i < 100000 && !done; i++)
		done = metric(&s, "kiln_http_requests_total{route=\"models_create\",status=\"499\"}") == 1;
	CHECK(done);
	check_nothing_stored(&s);
	CHECK_INT(kt_server_stop(&s), 0);
}

static void graph_lists_nodes_and_tensors(void)
{
	struct kt_server s;
	if (!CHECK(kt_server_start(&s, NULL, NULL) == 0))
		return;
	long st;
	long long id = upload_raw(&s, CONV, "conv", &st);
	char path[100];
	snprintf(path, sizeof(path), "/api/v1/models/%lld/graph", id);
	struct kt_resp r;
	kt_http(&s, "GET", path, s.token, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 200);
	cJSON *j = cJSON_Parse(r.body);
	cJSON *nodes = cJSON_GetObjectItem(j, "nodes");
	CHECK_INT(cJSON_GetArraySize(nodes), 1);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(nodes, 0), "op")), "Conv");
	CHECK(cJSON_IsObject(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "tensors"), "y")));
	cJSON_Delete(j);
	kt_resp_free(&r);
	kt_http(&s, "GET", "/api/v1/models/77/graph", s.token, NULL, NULL, 0, &r);
	CHECK_INT(r.status, 404);
	kt_resp_free(&r);
	/* Cut at a tensor that does not exist: 400 naming it. */
	snprintf(path, sizeof(path), "/api/v1/models/%lld/cut", id);
	const char *b = "{\"outputs\": [\"no_such_tensor\"]}";
	kt_http(&s, "POST", path, s.token, "application/json", b, strlen(b), &r);
	check_error(&r, 400, NULL, "no_such_tensor");
	kt_resp_free(&r);
	b = "{\"outputs\": []}";
	kt_http(&s, "POST", path, s.token, "application/json", b, strlen(b), &r);
	check_error(&r, 400, "outputs", NULL);
	kt_resp_free(&r);
	b = "{\"outputs\": [\"y\"], \"name\": \"a b\"}";
	kt_http(&s, "POST", path, s.token, "application/json", b, strlen(b), &r);
	check_error(&r, 400, "name", NULL);
	kt_resp_free(&r);
	CHECK_INT(kt_server_stop(&s), 0);
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"raw_upload_inspects_and_dedupes", raw_upload_inspects_and_dedupes},
		{"multipart_upload_takes_name_from_field_or_filename",
		 multipart_upload_takes_name_from_field_or_filename},
		{"bad_uploads_are_refused_and_store_nothing", bad_uploads_are_refused_and_store_nothing},
		{"a_client_that_stops_half_way_leaves_nothing",
		 a_client_that_stops_half_way_leaves_nothing},
		{"graph_lists_nodes_and_tensors", graph_lists_nodes_and_tensors},
	};
	return kt_main("models", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
