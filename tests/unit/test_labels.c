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
	cJSON *a = onnx_names_labels(text);
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
		cJSON *a = onnx_names_labels(big);
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
		cJSON *a = onnx_names_labels(bad[i]);
		CHECKF(a == NULL, "'%s' was read as labels", bad[i]);
		cJSON_Delete(a);
	}
	CHECK(onnx_names_labels(NULL) == NULL);
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"names__a_coco_dict_repr_reads_in_key_order", names__a_coco_dict_repr_reads_in_key_order},
		{"names__quoted_keys_read_the_same", names__quoted_keys_read_the_same},
		{"names__anything_else_is_not_guessed_at", names__anything_else_is_not_guessed_at},
	};
	return kt_main("labels", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
