/*
 * onnx_inspect_cli: a thin command line over conversion/onnx.h, so the
 * Python tests (tests/onnx/) and the benchmark can drive the C API and
 * compare it with python3-onnx.  Not installed; built by `make tests-build`
 * into $(BUILD)/tools/.
 *
 *   onnx_inspect_cli inspect FILE             inspection JSON
 *   onnx_inspect_cli graph FILE               graph-view JSON
 *   onnx_inspect_cli graph-file FILE OUT      graph-view JSON written to OUT
 *                                             as kilnd writes its graph
 *                                             files (onnx_graph_json_write)
 *   onnx_inspect_cli open FILE                open and close only
 *   onnx_inspect_cli suggest FILE             suggestions JSON
 *   onnx_inspect_cli cut FILE OUT TENSOR...   write the cut to OUT
 *   onnx_inspect_cli rewrite FILE OUT IR [OPSET]
 *   onnx_inspect_cli time-graph FILE N        build+print the graph JSON N
 *                                             times, report ms per run
 *
 * Errors print {"error": {"code", "field", "message"}} and exit 2.  With
 * ONNX_CLI_VMHWM set in the environment, the process's peak RSS
 * (VmHWM, which exec resets: the number is this program's own) goes to
 * stderr as "vmhwm_kb N" at the end.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conversion/onnx.h"

static int fail(const struct kiln_err *err)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddStringToObject(e, "code", kiln_code_name(err->code));
	cJSON_AddStringToObject(e, "field", err->field);
	cJSON_AddStringToObject(e, "message", err->msg);
	char *s = cJSON_PrintUnformatted(o);
	printf("%s\n", s);
	free(s);
	cJSON_Delete(o);
	return 2;
}

static int emit(cJSON *j)
{
	if (j == NULL) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	char *s = cJSON_PrintUnformatted(j);
	printf("%s\n", s);
	free(s);
	cJSON_Delete(j);
	return 0;
}

static void print_vmhwm(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			fprintf(stderr, "vmhwm_kb %ld\n", strtol(line + 6, NULL, 10));
	if (f)
		fclose(f);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s inspect|graph|suggest|cut|rewrite|time-graph FILE ...\n",
			argv[0]);
		return 64;
	}
	struct kiln_err err = { 0 };
	struct onnx_model *m;
	const char *cmd = argv[1];
	double t0 = now_ms();
	if (onnx_open(argv[2], &m, &err) != 0)
		return fail(&err);
	int rc = 0;
	if (strcmp(cmd, "inspect") == 0) {
		rc = emit(onnx_inspect_json(m));
	} else if (strcmp(cmd, "graph") == 0) {
		char *s = onnx_graph_json_text(m, NULL);
		if (s != NULL)
			printf("%s\n", s);
		rc = s == NULL;
		free(s);
	} else if (strcmp(cmd, "graph-file") == 0 && argc >= 4) {
		FILE *f = fopen(argv[3], "w");
		if (f == NULL) {
			perror(argv[3]);
			rc = 1;
		} else {
			rc = onnx_graph_json_write(m, f, &err) != 0 ? fail(&err) : 0;
			if (fclose(f) != 0 && rc == 0)
				rc = 1;
		}
	} else if (strcmp(cmd, "open") == 0) {
		printf("{\"nodes\":%zu}\n", onnx_node_count(m));
	} else if (strcmp(cmd, "suggest") == 0) {
		rc = emit(onnx_suggest_json(m));
	} else if (strcmp(cmd, "cut") == 0 && argc >= 5) {
		struct onnx_cut_stats st = { 0 };
		if (onnx_cut_file(m, (const char *const *)argv + 4, (size_t)(argc - 4),
				  argv[3], &st, &err) != 0) {
			rc = fail(&err);
		} else {
			printf("{\"nodes\":%zu,\"initializers\":%zu,\"inputs\":%zu,"
			       "\"untyped_outputs\":%zu,\"bytes\":%llu}\n",
			       st.nodes, st.initializers, st.inputs, st.untyped_outputs,
			       (unsigned long long)st.bytes);
		}
	} else if (strcmp(cmd, "rewrite") == 0 && argc >= 5) {
		int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			perror(argv[3]);
			rc = 1;
		} else if (onnx_rewrite_ir(m, atoi(argv[4]), argc > 5 ? atoi(argv[5]) : 0,
					   fd, &err) != 0) {
			close(fd);
			unlink(argv[3]);
			rc = fail(&err);
		} else {
			close(fd);
			printf("{\"ok\":true}\n");
		}
	} else if (strcmp(cmd, "time-graph") == 0 && argc >= 4) {
		int n = atoi(argv[3]);
		double open_ms = now_ms() - t0, best = 1e9;
		for (int i = 0; i < n; i++) {
			double a = now_ms();
			char *s = onnx_graph_json_text(m, NULL);
			double d = now_ms() - a;
			if (d < best)
				best = d;
			free(s);
		}
		printf("{\"open_ms\":%.2f,\"graph_json_ms\":%.2f,\"nodes\":%zu}\n",
		       open_ms, best, onnx_node_count(m));
	} else {
		fprintf(stderr, "unknown command or missing arguments: %s\n", cmd);
		rc = 64;
	}
	onnx_close(m);
	if (getenv("ONNX_CLI_VMHWM"))
		print_vmhwm();
	return rc;
}
