/*
 * fuzz_onnx: the ONNX reader and everything a model upload runs on its
 * bytes — open (the bounded wire-format walk and validation), inspection
 * with per-target support and suggestions, and the graph view — and what a
 * user can then ask for with one request: a cut at the first suggestion and
 * an IR rewrite (both written to /dev/null).  Seeds are real models from
 * Debian's libonnx-testdata.
 *
 * fuzz-sources: conversion/[a-z]*.c runtime/[a-z]*.c build/gen/onnx.pb-c.c build/gen/migrations.c
 * fuzz-seeds: tests/fuzz/onnx_seeds.py
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "conversion/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct onnx_model *m = NULL;
	struct kiln_err err;
	if (onnx_open_mem(data, size, &m, &err) != 0)
		return 0;
	cJSON_Delete(onnx_inspect_json(m));
	free(onnx_graph_json_text(m, NULL));
	static int devnull = -1;
	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct onnx_suggestion *s = NULL;
	size_t n = 0;
	if (onnx_suggest(m, &s, &n, &err) == 0 && n > 0)
		(void)onnx_cut(m, (const char *const *)s[0].tensors, s[0].ntensors,
			       devnull, NULL, &err);
	onnx_suggestions_free(s, n);
	/* the lowest IR a job asks for (reCamera's TPU-MLIR wants <= 8) */
	(void)onnx_rewrite_ir(m, 7, 0, devnull, &err);
	onnx_close(m);
	return 0;
}
