/*
 * fuzz_names: the Ultralytics "names" reader (conversion/onnx_names.c),
 * which takes a model's metadata text, anyone's bytes, on every upload.
 * Beyond not crashing, what it reads must hold up: at most ONNX_NAMES_MAX
 * labels, none empty, and the labels written back as a dict (keys bare
 * and quoted in turn, the way str() and JSON write them) read back the
 * same.  fuzz_onnx reaches this reader only through a whole model's
 * metadata_props; here the text is the input.
 *
 * fuzz-sources: conversion/[a-z]*.c runtime/[a-z]*.c build/gen/onnx.pb-c.c build/gen/migrations.c
 * fuzz-seeds: tests/fuzz/names_seeds.py
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversion/onnx_names.h"

/* labels as "{0: 'a', '1': 'b', "2": 'c', ...}" with repr's escapes */
static char *render(const cJSON *a)
{
	size_t cap = 16;
	for (const cJSON *it = a->child; it; it = it->next)
		cap += 2 * strlen(it->valuestring) + 24;
	char *out = malloc(cap), *p = out;
	if (out == NULL)
		abort();
	*p++ = '{';
	int i = 0;
	for (const cJSON *it = a->child; it; it = it->next, i++) {
		static const char *const keyfmt[] = {"%s%d: '", "%s'%d': '", "%s\"%d\": '"};
		p += sprintf(p, keyfmt[i % 3], i ? ", " : "", i);
		for (const char *s = it->valuestring; *s; s++) {
			if (*s == '\'' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '\'';
	}
	strcpy(p, "}");
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	cJSON *a = onnx_names_labels(text);
	free(text);
	if (a == NULL)
		return 0;
	int n = cJSON_GetArraySize(a);
	if (n < 1 || n > ONNX_NAMES_MAX)
		abort();
	for (const cJSON *it = a->child; it; it = it->next)
		if (!cJSON_IsString(it) || it->valuestring[0] == '\0')
			abort();
	char *again = render(a);
	cJSON *b = onnx_names_labels(again);
	if (b == NULL || !cJSON_Compare(a, b, 1)) {
		fprintf(stderr, "labels do not read back from %s\n", again);
		abort();
	}
	free(again);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return 0;
}
