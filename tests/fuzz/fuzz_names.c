/*
 * fuzz_names: the Ultralytics "names" reader (conversion/onnx_names.c),
 * which takes a model's metadata text, anyone's bytes, on every upload.
 * Beyond not crashing, what it reads must hold up: at most ONNX_NAMES_MAX
 * labels, none empty or with a control character, and the labels written
 * back as a dict (keys bare and quoted in turn, non-ASCII names as they
 * are, in repr's escapes or in JSON's, the way str() and json.dumps write
 * them) read back the same.  fuzz_onnx reaches this reader only through a whole model's
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

/* The valid UTF-8 sequence at s as its code point (*len bytes), or -1
 * (a raw byte the reader keeps as it is) */
static long utf8_at(const unsigned char *s, int *len)
{
	static const unsigned char min_lead[] = {0, 0, 0xc2, 0xe0, 0xf0};
	int k = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;
	if (k == 1 || s[0] < min_lead[k] || s[0] > 0xf4)
		return -1;
	long cp = s[0] & (0x7f >> k);
	for (int j = 1; j < k; j++) {
		if ((s[j] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[j] & 0x3f);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = k;
	return cp;
}

/* labels as "{0: 'a', '1': 'b', "2": "c", ...}": keys bare and quoted in
 * turn, and each name in one of the ways a writer escapes non-ASCII:
 * as it is (repr of printables), repr's \xNN/\uXXXX/\UXXXXXXXX, or
 * json.dumps's \uXXXX with surrogate pairs */
static char *render(const cJSON *a)
{
	size_t cap = 16;
	for (const cJSON *it = a->child; it; it = it->next)
		cap += 12 * strlen(it->valuestring) + 24;
	char *out = malloc(cap), *p = out;
	if (out == NULL)
		abort();
	*p++ = '{';
	int i = 0;
	for (const cJSON *it = a->child; it; it = it->next, i++) {
		static const char *const keyfmt[] = {"%s%d: ", "%s'%d': ", "%s\"%d\": "};
		int how = (i + i / 3) % 3;  /* 0 as it is, 1 repr, 2 JSON */
		char q = how == 2 ? '"' : '\'';
		p += sprintf(p, keyfmt[i % 3], i ? ", " : "", i);
		*p++ = q;
		for (const unsigned char *s = (const unsigned char *)it->valuestring; *s;) {
			int len = 1;
			long cp = *s >= 0x80 && how ? utf8_at(s, &len) : -1;
			if (cp < 0) {
				if (*s == q || *s == '\\')
					*p++ = '\\';
				*p++ = (char)*s++;
			} else if (how == 1) {
				p += sprintf(p, cp < 0x100 ? "\\x%02lx" : cp < 0x10000 ? "\\u%04lx"
					     : "\\U%08lx", cp);
				s += len;
			} else {
				if (cp >= 0x10000)
					p += sprintf(p, "\\u%04lx\\u%04lx", 0xd800 + ((cp - 0x10000) >> 10),
						     0xdc00 + ((cp - 0x10000) & 0x3ff));
				else
					p += sprintf(p, "\\u%04lx", cp);
				s += len;
			}
		}
		*p++ = q;
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
	cJSON *a = onnx_names_labels(text, NULL);
	free(text);
	if (a == NULL)
		return 0;
	int n = cJSON_GetArraySize(a);
	if (n < 1 || n > ONNX_NAMES_MAX)
		abort();
	for (const cJSON *it = a->child; it; it = it->next) {
		if (!cJSON_IsString(it) || it->valuestring[0] == '\0')
			abort();
		/* no ASCII control character, raw or escaped, gets through */
		for (const char *c = it->valuestring; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				abort();
	}
	char *again = render(a);
	cJSON *b = onnx_names_labels(again, NULL);
	if (b == NULL || !cJSON_Compare(a, b, 1)) {
		fprintf(stderr, "labels do not read back from %s\n", again);
		abort();
	}
	free(again);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return 0;
}
