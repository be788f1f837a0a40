/*
 * test_labels: the class names of an Ultralytics export's metadata (its
 * exporter writes str(model.names), a Python dict repr) read as labels
 * (conversion/onnx_names.c).
 */
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
		{"names__anything_else_is_not_guessed_at", names__anything_else_is_not_guessed_at},
	};
	return kt_main("labels", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
