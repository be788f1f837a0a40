/*
 * fuzz_onnx: the ONNX reader and everything a model upload runs on its
 * bytes — open (the bounded wire-format walk and validation), inspection
 * with per-target support and suggestions, and the graph view.  Seeds are
 * real models from Debian's libonnx-testdata.
 *
 * fuzz-sources: conversion/onnx.c conversion/onnx_infer.c conversion/onnx_json.c conversion/onnx_suggest.c conversion/onnx_versions.c conversion/onnx_write.c conversion/target_ops.c runtime/kiln_err.c build/gen/onnx.pb-c.c
 * fuzz-seeds: tests/fuzz/onnx_seeds.py
 */
#include <stdint.h>
#include <stdlib.h>

#include "onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct onnx_model *m = NULL;
	struct kiln_err err;
	if (onnx_open_mem(data, size, &m, &err) != 0)
		return 0;
	cJSON_Delete(onnx_inspect_json(m));
	free(onnx_graph_json_text(m, NULL));
	onnx_close(m);
	return 0;
}
