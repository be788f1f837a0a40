/*
 * test_labels: the class names of an Ultralytics export's metadata (its
 * exporter writes str(model.names), a Python dict repr) read as labels
 * (conversion/onnx_names.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt.h"
#include "conversion/onnx_names.h"

static char *labels(const char *text)
{
	cJSON *a = onnx_names_labels(text, NULL);
	char *s = a ? cJSON_PrintUnformatted(a) : NULL;
	cJSON_Delete(a);
	return s;
}

static void names__a_coco_dict_repr_reads_in_key_order(void)
{
	char *s = labels("{0: 'person', 1: 'bicycle', 2: 'traffic light', 3: \"women's\"}");
	CHECK_STR(s, "[\"person\",\"bicycle\",\"traffic light\",\"women's\"]");
	free(s);
	s = labels("{0: 'it\\'s'}");
	CHECK_STR(s, "[\"it's\"]");
	free(s);
}

/* str() of names whose keys are strings (read back from YAML or JSON), and
 * JSON itself: the keys are quoted, in either quote. */
static void names__quoted_keys_read_the_same(void)
{
	char *s = labels("{'0': 'person', '1': 'bicycle', '2': \"women's\"}");
	CHECK_STR(s, "[\"person\",\"bicycle\",\"women's\"]");
	free(s);
	s = labels("{\"0\": \"person\", \"1\": \"bicycle\"}");
	CHECK_STR(s, "[\"person\",\"bicycle\"]");
	free(s);
	s = labels("{0: 'a', '1': 'b', \"2\": 'c'}");
	CHECK_STR(s, "[\"a\",\"b\",\"c\"]");
	free(s);
	/* ONNX_NAMES_MAX quoted keys: the longest a dict may be; one more is
	 * refused */
	for (int n = ONNX_NAMES_MAX; n <= ONNX_NAMES_MAX + 1; n++) {
		char *big = malloc((size_t)n * 24 + 4), *p = big;
		CHECK(big != NULL);
		if (big == NULL)
			return;
		*p++ = '{';
		for (int i = 0; i < n; i++)
			p += sprintf(p, "%s'%d': 'c%d'", i ? ", " : "", i, i);
		strcpy(p, "}");
		cJSON *a = onnx_names_labels(big, NULL);
		if (n == ONNX_NAMES_MAX) {
			CHECK(cJSON_GetArraySize(a) == ONNX_NAMES_MAX);
			CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(a, n - 1)), "c4095");
		} else {
			CHECK(a == NULL);
		}
		cJSON_Delete(a);
		free(big);
	}
}

/* Escapes as Debian's Python 3.11 writes them (onnx_names.c has the
 * command): json.dumps with ensure_ascii writes every non-ASCII character
 * as \uXXXX, astral ones as a surrogate pair; str() (repr) keeps printable
 * ones as they are and writes \xNN, \uXXXX, \UXXXXXXXX for the rest. */
static void names__escapes_decode_to_utf8(void)
{
	/* json.dumps({"0": "人", "1": "café", "2": "😀"}) */
	char *s = labels("{\"0\": \"\\u4eba\", \"1\": \"caf\\u00e9\", \"2\": \"\\ud83d\\ude00\"}");
	CHECK_STR(s, "[\"\xe4\xba\xba\",\"caf\xc3\xa9\",\"\xf0\x9f\x98\x80\"]");
	free(s);
	/* str({0: 'café', 1: 'no\xa0break', 2: 'zero\u200bwidth', 3: '\U000e0001'}):
	 * printable as it is, the rest escaped; upper- and lower-case hex */
	s = labels("{0: 'caf\xc3\xa9', 1: 'no\\xa0break', 2: 'zero\\u200Bwidth', 3: 'tag\\U000e0001'}");
	CHECK_STR(s, "[\"caf\xc3\xa9\",\"no\xc2\xa0" "break\",\"zero\xe2\x80\x8bwidth\","
		  "\"tag\xf3\xa0\x80\x81\"]");
	free(s);
	/* \\ \' \" \/ and an escaped ASCII letter */
	s = labels("{0: 'b\\\\s', 1: 'a\\'b\"c', 2: \"x\\\"y\", 3: \"a\\/b\", 4: '\\x41\\u0042'}");
	CHECK_STR(s, "[\"b\\\\s\",\"a'b\\\"c\",\"x\\\"y\",\"a/b\",\"AB\"]");
	free(s);
	/* U+10FFFF, the last code point, and a pair at the top of the range */
	s = labels("{0: '\\U0010ffff', 1: \"\\udbff\\udfff\"}");
	CHECK_STR(s, "[\"\xf4\x8f\xbf\xbf\",\"\xf4\x8f\xbf\xbf\"]");
	free(s);
}

/* Surrogates with no pair, code points past Unicode, control characters
 * however written, and escapes neither repr nor JSON writes: refused, and
 * the words say which. */
static void names__bad_escapes_are_refused_with_words(void)
{
	static const struct { const char *text, *words; } bad[] = {
		{"{0: '\\ud83d'}", "\\ud83d is a high surrogate not followed by a low one"},
		{"{0: \"\\ud83dx\"}", "high surrogate not followed"},
		{"{0: \"\\ud83d\\u0041\"}", "high surrogate not followed"},
		{"{0: \"\\ud83d\\ud83d\"}", "high surrogate not followed"},
		{"{0: \"\\ud83d\\ude0\"}", "high surrogate not followed"},
		{"{0: 'a', 1: '\\ude00'}", "the name of key 1: \\ude00 is a low surrogate"},
		{"{0: '\\U0000d800'}", "\\U0000d800 is a surrogate"},
		{"{0: '\\U00110000'}", "\\U00110000 is past U+10FFFF"},
		{"{0: '\\xa'}", "\\x needs 2 hex digits"},
		{"{0: '\\u12'}", "\\u needs 4 hex digits"},
		{"{0: '\\U0001f60'}", "\\U needs 8 hex digits"},
		{"{0: 'a\\nb'}", "\\n is a control character"},
		{"{0: 'a\\tb'}", "\\t is a control character"},
		{"{0: \"a\\bb\"}", "\\b is a control character"},
		{"{0: 'a\\x00b'}", "control character 0x00"},
		{"{0: \"a\\u0000b\"}", "control character 0x00"},
		{"{0: \"\\u001b[31m\"}", "control character 0x1b"},
		{"{0: 'del\\x7f'}", "control character 0x7f"},
		{"{0: 'a\tb'}", "control character 0x09"},
		{"{0: '\\a'}", "\\a is not an escape"},
		{"{0: '\\0'}", "\\0 is not an escape"},
		{"{0: '\\N{BULLET}'}", "\\N is not an escape"},
		{"{0: 'a\\", "is not an escape"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kiln_err err = {0};
		cJSON *a = onnx_names_labels(bad[i].text, &err);
		CHECKF(a == NULL, "'%s' was read as labels", bad[i].text);
		CHECKF(err.code == KILN_EINVAL && strstr(err.msg, bad[i].words) != NULL,
		       "'%s': wanted \"%s\" in: %s", bad[i].text, bad[i].words, err.msg);
		cJSON_Delete(a);
	}
}

static void names__anything_else_is_not_guessed_at(void)
{
	static const char *const bad[] = {
		"['person', 'car']",             /* a list */
		"{1: 'person'}",                 /* keys not from 0 */
		"{0: 'a', 2: 'b'}",              /* a gap */
		"{0: 'a', 1: 'b'",               /* unterminated */
		"{0: 'a'} trailing",
		"{0: ''}",
		"{0: 'a\\nb'}",
		"{}",
		"coco.yaml",
		"",
		"{'1': 'person'}",               /* quoted, not from 0 */
		"{'0': 'a', '2': 'b'}",
		"{'': 'a'}",                     /* not a number */
		"{'x': 'a'}",
		"{'0 ': 'a'}",
		"{' 0': 'a'}",
		"{'+0': 'a'}",
		"{'-0': 'a'}",
		"{0: 'a', '01': 'b'}",           /* a leading zero */
		"{0: 'a', 01: 'b'}",
		"{'0\": 'a'}",                  /* quotes that do not pair */
		"{'0: 'a'}",
		"{'99999999999999999999': 'a'}", /* out of range */
		"{'0'",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kiln_err err = {0};
		cJSON *a = onnx_names_labels(bad[i], &err);
		CHECKF(a == NULL, "'%s' was read as labels", bad[i]);
		CHECKF(err.code == KILN_EINVAL && strstr(err.msg, "'names'") != NULL,
		       "'%s': no words: %d %s", bad[i], err.code, err.msg);
		cJSON_Delete(a);
	}
	CHECK(onnx_names_labels(NULL, NULL) == NULL);
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"names__a_coco_dict_repr_reads_in_key_order", names__a_coco_dict_repr_reads_in_key_order},
		{"names__quoted_keys_read_the_same", names__quoted_keys_read_the_same},
		{"names__escapes_decode_to_utf8", names__escapes_decode_to_utf8},
		{"names__bad_escapes_are_refused_with_words", names__bad_escapes_are_refused_with_words},
		{"names__anything_else_is_not_guessed_at", names__anything_else_is_not_guessed_at},
	};
	return kt_main("labels", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
