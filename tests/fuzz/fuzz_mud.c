/*
 * fuzz_mud: the MUD reader (conversion/mud.c) on whatever bytes the fuzzer
 * makes: a .mud comes back from a bundle a user uploaded or a board, and the
 * loader check re-reads the one a job staged.  Parse, then validate against
 * an empty folder (every model file missing is a clean error, never a
 * crash).
 *
 * fuzz-sources: conversion/[a-z]*.c runtime/[a-z]*.c build/gen/onnx.pb-c.c build/gen/migrations.c
 * fuzz-seeds: tests/fuzz/mud_seeds.py
 */
#include <stdint.h>

#include "conversion/mud.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mud *m = NULL;
	struct kiln_err e;
	if (mud_parse_text((const char *)data, size, &m, &e) != 0)
		return 0;
	mud_validate(m, "/nonexistent-kiln-fuzz", &e);
	mud_free(m);
	return 0;
}
