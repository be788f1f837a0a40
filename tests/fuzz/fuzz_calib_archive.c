/*
 * fuzz_calib_archive: the calibration archive reader, end to end.
 *
 * Each input is written to a file and given to calib_ingest() with small
 * bounds (so the fuzzer explores formats, not our patience) and one thread,
 * storing into a throwaway blob store.  Finds crashes, leaks and undefined
 * behaviour in the two passes, the entry rules and the decoders behind them.
 *
 * fuzz-sources: conversion/[a-z]*.c runtime/[a-z]*.c build/gen/onnx.pb-c.c build/gen/migrations.c
 * fuzz-seeds: tests/fuzz/calib_seeds.py archive
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conversion/calib.h"

static struct blob_store *bs;
static char path[512];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_err e;
	if (bs == NULL) {
		/* run.sh points TMPDIR into the build dir and empties it after */
		const char *tmp = getenv("TMPDIR");
		char dir[400];
		snprintf(dir, sizeof(dir), "%s/fuzz-calib-XXXXXX", tmp ? tmp : "/tmp");
		if (mkdtemp(dir) == NULL || blob_store_open(dir, &bs, &e) != 0)
			abort();
		snprintf(path, sizeof(path), "%s/input", dir);
	}
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	struct calib_limits lim;
	calib_limits_default(&lim);
	lim.entries = 1000;
	lim.total_bytes = 64u << 20;
	lim.entry_bytes = 16u << 20;
	lim.max_pixels = 4000000;
	lim.long_side = 256;
	lim.threads = 1;
	struct calib_result *r = NULL;
	calib_ingest(bs, path, &lim, &r, &e);
	if (r) {
		cJSON_Delete(calib_result_json(r));
		calib_result_free(r);
	}
	return 0;
}
