/*
 * test_jobs_plan: plans (JSON both ways, bounds, allow-lists), the log
 * parsers on the vendor tools' line shapes (../shared/reference), the
 * events ring, and the engine's command lines and local probes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/engine.h"
#include "runtime/events.h"
#include "runtime/exec.h"
#include "kt.h"
#include "runtime/logparse.h"
#include "runtime/toolchain.h"
#include "runtime/results.h"
#include "runtime/plan.h"
#include "runtime/plan_sh.h"

static const char *GOOD_PLAN =
	"{\"files\": [{\"name\": \"config.json\", \"content\": \"{}\"},"
	"             {\"name\": \"run.sh\", \"content\": \"echo hi\\n\", \"executable\": true}],"
	" \"steps\": [{\"name\": \"transform\", \"argv\": [\"model_transform\", \"--mlir\", \"m.mlir\"],"
	"              \"toolchain\": \"tpu-mlir\", \"timeout_s\": 600, \"outputs\": [\"m.mlir\"],"
	"              \"weight\": 2, \"parser\": \"tpu-mlir\"},"
	"             {\"name\": \"build\", \"argv\": [\"pulsar2\", \"build\"], \"toolchain\": \"pulsar2\","
	"              \"outputs\": [\"output/compiled.axmodel\"]}]}";

static int parse(const char *text, struct plan **p, struct kiln_err *err)
{
	return plan_parse(text, strlen(text), p, err);
}

static void plan_parse__reads_files_and_steps_with_defaults(void)
{
	struct plan *p;
	struct kiln_err err;
	if (!CHECKF(parse(GOOD_PLAN, &p, &err) == 0, "%s", err.msg))
		return;
	CHECK_INT(p->n_files, 2);
	CHECK_STR(p->files[1].name, "run.sh");
	CHECK_INT(p->files[1].executable, 1);
	CHECK_INT(p->n_steps, 2);
	CHECK_STR(p->steps[0].argv[2], "m.mlir");
	CHECK(p->steps[0].argv[3] == NULL);
	CHECK_INT(p->steps[0].timeout_s, 600);
	CHECK_INT(p->steps[1].timeout_s, PLAN_DEFAULT_TIMEOUT_S);
	CHECK(p->steps[1].weight == 1.0);
	CHECK_STR(p->steps[1].parser, "none");
	CHECK(plan_total_weight(p) == 3.0);
	plan_free(p);
}

static void plan_to_string__round_trips(void)
{
	struct plan *p, *q;
	struct kiln_err err;
	if (!CHECK(parse(GOOD_PLAN, &p, &err) == 0))
		return;
	char *s = plan_to_string(p);
	if (!CHECK(s != NULL) || !CHECKF(parse(s, &q, &err) == 0, "%s", err.msg)) {
		free(s);
		plan_free(p);
		return;
	}
	char *s2 = plan_to_string(q);
	CHECK_STR(s2, s);
	free(s);
	free(s2);
	plan_free(p);
	plan_free(q);
}

struct bad {
	const char *json;
	const char *field;
};

static void plan_parse__rejects_bad_names_paths_and_bounds_naming_the_field(void)
{
	static const struct bad bad[] = {
		{"{\"files\":[{\"name\":\"../x\",\"content\":\"\"}],\"steps\":[]}", "files[0].name"},
		{"{\"files\":[{\"name\":\"a/b\",\"content\":\"\"}],\"steps\":[]}", "files[0].name"},
		{"{\"files\":[{\"name\":\".hidden\",\"content\":\"\"}],\"steps\":[]}", "files[0].name"},
		{"{\"files\":[{\"name\":\"a\",\"content\":\"\"},{\"name\":\"a\",\"content\":\"\"}],"
		 "\"steps\":[]}", "files[1].name"},
		{"{\"steps\":[]}", "steps"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[],\"toolchain\":\"local\"}]}", "steps[0].argv"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"\"],\"toolchain\":\"local\"}]}",
		 "steps[0].argv[0]"},
		{"{\"steps\":[{\"name\":\"s t\",\"argv\":[\"x\"],\"toolchain\":\"local\"}]}",
		 "steps[0].name"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"x\"],\"toolchain\":\"bash\"}]}",
		 "steps[0].toolchain"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"x\"],\"toolchain\":\"local\","
		 "\"outputs\":[\"../etc/passwd\"]}]}", "steps[0].outputs[0]"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"x\"],\"toolchain\":\"local\","
		 "\"outputs\":[\"/abs\"]}]}", "steps[0].outputs[0]"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"x\"],\"toolchain\":\"local\","
		 "\"outputs\":[\"a//b\"]}]}", "steps[0].outputs[0]"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"x\"],\"toolchain\":\"local\","
		 "\"timeout_s\":0}]}", "steps[0].timeout_s"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"x\"],\"toolchain\":\"local\","
		 "\"timeout_s\":1.5}]}", "steps[0].timeout_s"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"x\"],\"toolchain\":\"local\","
		 "\"weight\":-1}]}", "steps[0].weight"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"x\"],\"toolchain\":\"local\","
		 "\"parser\":\"regex\"}]}", "steps[0].parser"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"x\"],\"toolchain\":\"local\","
		 "\"shell\":true}]}", "steps[0].shell"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"x\"],\"toolchain\":\"local\"},"
		 "{\"name\":\"s\",\"argv\":[\"y\"],\"toolchain\":\"local\"}]}", "steps[1].name"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[1],\"toolchain\":\"local\"}]}",
		 "steps[0].argv[0]"},
		{"{\"steps\":[],\"env\":{}}", "plan.env"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct plan *p = NULL;
		struct kiln_err err = {0};
		int rc = parse(bad[i].json, &p, &err);
		CHECKF(rc != 0, "accepted: %s", bad[i].json);
		CHECKF(strcmp(err.field, bad[i].field) == 0, "%s: field '%s', want '%s' (%s)",
		       bad[i].json, err.field, bad[i].field, err.msg);
		plan_free(p);
	}
}

static void plan_parse__bounds_steps_args_and_file_sizes(void)
{
	/* 33 steps */
	char *big = malloc(1 << 16);
	size_t o = (size_t)sprintf(big, "{\"steps\":[");
	for (int i = 0; i <= PLAN_MAX_STEPS; i++)
		o += (size_t)sprintf(big + o, "%s{\"name\":\"s%d\",\"argv\":[\"x\"],\"toolchain\":\"local\"}",
				     i ? "," : "", i);
	sprintf(big + o, "]}");
	struct plan *p = NULL;
	struct kiln_err err = {0};
	CHECK_INT(parse(big, &p, &err), KILN_ETOOBIG);
	free(big);
	/* one file over 1 MiB */
	size_t n = PLAN_MAX_FILE_BYTES + 100;
	char *f = malloc(n + 200);
	o = (size_t)sprintf(f, "{\"files\":[{\"name\":\"a\",\"content\":\"");
	memset(f + o, 'x', PLAN_MAX_FILE_BYTES + 1);
	o += PLAN_MAX_FILE_BYTES + 1;
	sprintf(f + o, "\"}],\"steps\":[{\"name\":\"s\",\"argv\":[\"x\"],\"toolchain\":\"local\"}]}");
	CHECK_INT(parse(f, &p, &err), KILN_ETOOBIG);
	CHECK_STR(err.field, "files[0].content");
	free(f);
}

static void plan_add_step__builds_a_plan_in_c(void)
{
	struct plan *p = plan_new();
	struct kiln_err err;
	const char *argv[] = {"sh", "-c", "true", NULL};
	const char *outs[] = {"out/x.bin", NULL};
	struct plan_step_spec s = {.name = "one", .argv = argv, .toolchain = "local",
				   .outputs = outs, .weight = -1};
	CHECK_INT(plan_add_step(p, &s, &err), 0);
	CHECK_INT(plan_add_step(p, &s, &err), KILN_EINVAL);  /* same name */
	s.name = "two";
	s.toolchain = "cuda";
	CHECK_INT(plan_add_step(p, &s, &err), KILN_EINVAL);
	CHECK_INT(plan_add_file(p, "cfg.json", "{}", 2, 0, &err), 0);
	CHECK_INT(plan_add_file(p, "..", "", 0, 0, &err), KILN_EINVAL);
	CHECK_INT(plan_validate(p, &err), 0);
	CHECK_INT(p->n_steps, 1);
	CHECK(p->steps[0].weight == 1.0);
	plan_free(p);
}

/* --- log parsers ------------------------------------------------------------ */

static cJSON *feed(const char *parser, const char *text)
{
	struct logparse *lp;
	struct kiln_err err;
	cJSON *figs = cJSON_CreateArray();
	if (toolchain_logparse_new(parser, &lp, &err) != 0)
		return figs;
	const char *s = text;
	while (*s) {
		size_t n = strcspn(s, "\n");
		logparse_line(lp, s, n, figs);
		s += n;
		if (*s == '\n')
			s++;
	}
	logparse_end(lp, figs);
	logparse_free(lp);
	return figs;
}

static double num(cJSON *o, const char *k)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : -999;
}

static const char *str(cJSON *o, const char *k)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static void logparse__tpu_mlir_npz_compare_gives_cosine_per_output(void)
{
	cJSON *f = feed("tpu-mlir",
		"2024-01-01 10:00:00 - INFO : TPU-MLIR v1.7\n"
		"[Running]: npz_tool.py compare m_cv181x_int8_sym_tpu_outputs.npz m_top_outputs.npz\n"
		"[output0                         ]      SIMILAR [PASSED]\n"
		"    cosine_similarity      = 0.998123\n"
		"    euclidean_similarity   = 0.951000\n"
		"    sqnr_similarity        = 26.123000\n"
		"[/model.22/Concat_output_0       ]  NOT_SIMLIAR [FAILED]\n"
		"    cosine_similarity      = 0.759107\n"
		"    euclidean_similarity   = -0.614529\n"
		"    sqnr_similarity        = -16.145944\n"
		"1 compared\n"
		"min_similiarity = (0.7591071724891663, -0.6145298527734675, -16.145944595336914)\n"
		"int8 outputs_cos:0.999317\n"
		"mix model outputs_cos:0.999739\n");
	if (!CHECK_INT(cJSON_GetArraySize(f), 5)) {
		char *s = cJSON_Print(f);
		fprintf(stderr, "%s\n", s);
		free(s);
	}
	cJSON *a = cJSON_GetArrayItem(f, 0);
	CHECK_STR(str(a, "output"), "output0");
	CHECK_STR(str(a, "status"), "SIMILAR");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(a, "passed")));
	CHECK(num(a, "cosine") == 0.998123);
	CHECK(num(a, "euclidean") == 0.951);
	CHECK(num(a, "sqnr") == 26.12);  /* dB, two decimals */
	CHECK_STR(str(a, "compare"), "tpu vs top");
	CHECK_STR(str(a, "kind"), "output");
	cJSON *b = cJSON_GetArrayItem(f, 1);
	CHECK_STR(str(b, "output"), "/model.22/Concat_output_0");
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(b, "passed")));
	CHECK_STR(str(cJSON_GetArrayItem(f, 2), "output"), "min");
	CHECK(num(cJSON_GetArrayItem(f, 2), "cosine") > 0.759 && num(cJSON_GetArrayItem(f, 2), "cosine") < 0.76);
	CHECK_STR(str(cJSON_GetArrayItem(f, 3), "output"), "int8 outputs");
	CHECK(num(cJSON_GetArrayItem(f, 3), "cosine") == 0.999317);
	CHECK_STR(str(cJSON_GetArrayItem(f, 4), "output"), "mix model outputs");
	CHECK_STR(str(a, "parser"), "tpu-mlir");
	cJSON_Delete(f);
}

static void logparse__pulsar_score_table(void)
{
	cJSON *f = feed("pulsar", "Score compare table:\n"
			"Layer: output0  2-norm RE: 4.70%  cosine-sim: 0.9989\n"
			"Layer: 672      2-norm RE: 12.50%  cosine-sim: 0.9921\n");
	CHECK_INT(cJSON_GetArraySize(f), 2);
	cJSON *a = cJSON_GetArrayItem(f, 0);
	CHECK_STR(str(a, "output"), "output0");
	CHECK(num(a, "cosine") == 0.9989);
	CHECK(num(a, "relative_error") > 0.0469 && num(a, "relative_error") < 0.0471);
	cJSON_Delete(f);
}

/* Rows taken from pulsar2-docs' own log (AXERA-TECH/pulsar2-docs
 * source/user_guides_advanced/advanced_build_guides.md @ 7a500409,
 * precision-analysis section: mobilenetv2, the table's first row, its worst
 * row Add_89 and its last row, the model output "output"). */
static const char P2_DOC_TABLE[] =
	"Building native ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 100% 0:00:00\n"
	"                                             Quant Precision Table【PerLayer Reference】\n"
	"┏━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━┳━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━┓\n"
	"┃ Operator                ┃          Type          ┃ Output Tensor ┃       Shape       ┃ DType ┃ QDType ┃ Cosin   ┃ MSE     ┃\n"
	"┡━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━╇━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━┩\n"
	"│ Conv_0                  │    AxQuantizedConv     │ 317           │ (1, 32, 112, 112) │ FP32  │   U8   │ 0.99993 │ 0.00003 │\n"
	"├─────────────────────────┼────────────────────────┼───────────────┼───────────────────┼───────┼────────┼─────────┼─────────┤\n"
	"│ Add_89                  │     AxQuantizedAdd     │ 452           │  (1, 160, 7, 7)   │ FP32  │   U8   │ 0.97100 │ 0.00809 │\n"
	"├─────────────────────────┼────────────────────────┼───────────────┼───────────────────┼───────┼────────┼─────────┼─────────┤\n"
	"│ output_DequantizeLinear │   AxDequantizeLinear   │ output        │     (1, 1000)     │ FP32  │  FP32  │ 0.99990 │ 0.00173 │\n"
	"└─────────────────────────┴────────────────────────┴───────────────┴───────────────────┴───────┴────────┴─────────┴─────────┘\n"
	"2024-09-25 11:47:01.640 | INFO     | yamain.command.precision_analysis:quant_precision_analysis:401 - save precision analysis table to [output/quant/debug/precision_analysis_table.txt]\n";

/* pulsar2's compiler check, as AXERA-TECH/pulsar2-docs @ b32f7c1d
 * source/user_guides_advanced/advanced_build_guides.md prints it (the
 * passing line, verbatim), and the same line at another level without
 * "successfully": the check failing on that tensor. */
#define P2_CHECK_OK "2024-12-10 14:38:31.797 | INFO     | yamain.command.npu_backend_compiler:" \
	"check_assembled_model:376 - simulate npu graph [subgraph_npu_1_b1]\n" \
	"2024-12-10 14:38:32.352 | SUCCESS  | yamain.common.util:check_data:206 - check npu " \
	"graph [subgraph_npu_1_b1] [op_5:AxQuantizedConv_out], (1, 56, 56, 144), uint8 " \
	"successfully!\n"

static void logparse__pulsar2_compiler_check_failure_is_a_failed_figure(void)
{
	cJSON *f = feed("pulsar2", P2_CHECK_OK);
	CHECK_INT(cJSON_GetArraySize(f), 0);  /* a passing check adds nothing */
	cJSON_Delete(f);
	f = feed("pulsar2", "2024-12-10 14:38:32.352 | ERROR    | yamain.common.util:check_data:206 - "
		 "check npu graph [subgraph_npu_1_b1] [op_5:AxQuantizedConv_out], (1, 56, 56, 144), "
		 "uint8 failed!\n");
	if (CHECK_INT(cJSON_GetArraySize(f), 1)) {
		cJSON *a = cJSON_GetArrayItem(f, 0);
		CHECK_STR(str(a, "parser"), "pulsar2");
		CHECK_STR(str(a, "kind"), "output");
		CHECK_STR(str(a, "output"), "op_5:AxQuantizedConv_out");
		CHECK_STR(str(a, "compare"), "compiler check");
		CHECK(cJSON_IsFalse(cJSON_GetObjectItem(a, "passed")));
	}
	cJSON_Delete(f);
	/* the precision table before it still ends as its own figure */
	char text[sizeof(P2_DOC_TABLE) + 200];
	snprintf(text, sizeof(text), "%s%s", P2_DOC_TABLE, "2024-12-10 14:38:32.352 | ERROR    | "
		 "yamain.common.util:check_data:206 - check npu graph [g] [output], (1, 10), float32\n");
	f = feed("pulsar2", text);
	if (CHECK_INT(cJSON_GetArraySize(f), 2)) {
		CHECK_STR(str(cJSON_GetArrayItem(f, 0), "kind"), "layers");
		CHECK_STR(str(cJSON_GetArrayItem(f, 1), "output"), "output");
	}
	cJSON_Delete(f);
}

static void logparse__pulsar2_precision_table_keeps_every_layer_by_name(void)
{
	cJSON *f = feed("pulsar2", P2_DOC_TABLE);
	if (!CHECK_INT(cJSON_GetArraySize(f), 1))
		return;
	cJSON *a = cJSON_GetArrayItem(f, 0);
	CHECK_STR(str(a, "kind"), "layers");
	CHECK_STR(str(a, "table"), "PerLayer Reference");
	CHECK(num(a, "count") == 3);
	CHECK(num(a, "min_cosine") == 0.971);
	CHECK_STR(str(a, "min_layer"), "Add_89");
	cJSON *rows = cJSON_GetObjectItem(a, "layers");
	CHECK_INT(cJSON_GetArraySize(rows), 3);
	cJSON *last = cJSON_GetArrayItem(rows, 2);
	CHECK_STR(str(last, "layer"), "output_DequantizeLinear");
	CHECK_STR(str(last, "output"), "output");
	CHECK(num(last, "cosine") == 0.9999);
	CHECK(num(last, "mse") == 0.00173);
	cJSON_Delete(f);
}

/* The EndToEnd table: "Cosin Distance" printed in full, no MSE column (a
 * pulsar2 log excerpt, see tests/toolchain-double/SOURCES.md). */
static void logparse__pulsar2_end_to_end_table_rounds_its_cosines(void)
{
	cJSON *f = feed("pulsar2",
		"   Quant Precision Table【EndToEnd Reference】                                 \n"
		"┏━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━┓\n"
		"┃ Operator        ┃ Type               ┃ Output Tensor ┃ Data Type ┃ Shape             ┃ Cosin Distance     ┃\n"
		"┡━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━┩\n"
		"│ Conv_0          │ AxQuantizedConv    │ 128           │ FP32      │ (1, 32, 320, 320) │ 0.997423529624939  │\n"
		"├─────────────────┼────────────────────┼───────────────┼───────────┼───────────────────┼────────────────────┤\n"
		"│ Conv_18         │ AxQuantizedConv    │ 147           │ FP32      │ (1, 64, 160, 160) │ 0.9462912082672119 │\n"
		"└─────────────────┴────────────────────┴───────────────┴───────────┴───────────────────┴────────────────────┘\n");
	if (!CHECK_INT(cJSON_GetArraySize(f), 1))
		return;
	cJSON *a = cJSON_GetArrayItem(f, 0);
	CHECK_STR(str(a, "table"), "EndToEnd Reference");
	CHECK_STR(str(a, "min_layer"), "Conv_18");
	CHECK(num(a, "min_cosine") == 0.946291);
	cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "layers"), 0);
	CHECK(num(r0, "cosine") == 0.997424);
	CHECK(cJSON_GetObjectItem(r0, "mse") == NULL);
	cJSON_Delete(f);
}

/* A big model's table: the figure keeps the worst rows and the last ones
 * (where the outputs are), so two builds stay under the job's figure limit. */
static void logparse__pulsar2_big_table_keeps_worst_and_last_rows(void)
{
	size_t cap = 700 * 120;
	char *t = malloc(cap), *p = t;
	p += sprintf(p, "Quant Precision Table【PerLayer Reference】\n"
		     "┃ Operator ┃ Type ┃ Output Tensor ┃ Shape ┃ DType ┃ QDType ┃ Cosin ┃ MSE ┃\n");
	for (int i = 0; i < 600; i++)
		p += sprintf(p, "│ Conv_%d │ AxQuantizedConv │ %d │ (1, 8, 8, 8) │ FP32 │ U8 │ %.5f │ 0.00001 │\n",
			     i, 1000 + i, i == 300 ? 0.5 : 0.99 + (i % 7) * 0.001);
	p += sprintf(p, "│ out_Dq │ AxDequantizeLinear │ output │ (1, 1000) │ FP32 │ FP32 │ 0.99990 │ 0.00173 │\n"
		     "└──┘\n");
	cJSON *f = feed("pulsar2", t);
	free(t);
	cJSON *a = cJSON_GetArrayItem(f, 0);
	CHECK(num(a, "count") == 601);
	CHECK_STR(str(a, "min_layer"), "Conv_300");
	cJSON *rows = cJSON_GetObjectItem(a, "layers");
	CHECK(cJSON_GetArraySize(rows) <= 400);
	int have_out = 0, have_bad = 0;
	cJSON *r;
	cJSON_ArrayForEach(r, rows) {
		have_out |= strcmp(str(r, "output"), "output") == 0;
		have_bad |= strcmp(str(r, "layer"), "Conv_300") == 0;
	}
	CHECK(have_out && have_bad);
	char *text = cJSON_PrintUnformatted(f);
	CHECK(text && strlen(text) < 64 * 1024);
	free(text);
	cJSON_Delete(f);
}

/* A figure as the worker stores it: the parser's, with the step added. */
static cJSON *step_figs(const char *parser, const char *step, const char *text, cJSON *into)
{
	cJSON *f = feed(parser, text);
	cJSON *x;
	while ((x = cJSON_DetachItemFromArray(f, 0)) != NULL) {
		cJSON_AddStringToObject(x, "step", step);
		cJSON_AddItemToArray(into, x);
	}
	cJSON_Delete(f);
	return into;
}

static cJSON *row_for(cJSON *res, const char *stage, const char *output, const char *metric)
{
	cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(res, "rows"))
		if (strcmp(str(r, "stage"), stage) == 0 && strcmp(str(r, "output"), output) == 0 &&
		    strcmp(str(r, "metric"), metric) == 0)
			return r;
	return NULL;
}

/* MaixCAM2: two outputs, an NPU and a vNPU build.  Each output gets its own
 * row per build, and the worst output comes first (before: one card per
 * build titled with the last row, the min-cosine from another layer). */
static void results__pulsar2_rows_name_each_output_and_build(void)
{
	static const char NPU[] =
		"Quant Precision Table【PerLayer Reference】\n"
		"┃ Operator ┃ Type ┃ Output Tensor ┃ Shape ┃ DType ┃ QDType ┃ Cosin ┃ MSE ┃\n"
		"│ Conv_0 │ AxQuantizedConv │ 317 │ (1, 32, 112, 112) │ FP32 │ U8 │ 0.95000 │ 0.00003 │\n"
		"│ Conv_m1 │ AxQuantizedConv │ /model.24/m.1/Conv_output_0 │ (1, 255, 40, 40) │ FP32 │ U8 │ 0.98100 │ 0.00100 │\n"
		"│ Conv_m2 │ AxQuantizedConv │ /model.24/m.2/Conv_output_0 │ (1, 255, 20, 20) │ FP32 │ U8 │ 0.99900 │ 0.00200 │\n"
		"└──────┘\n";
	static const char VNPU[] =
		"Quant Precision Table【PerLayer Reference】\n"
		"┃ Operator ┃ Type ┃ Output Tensor ┃ Shape ┃ DType ┃ QDType ┃ Cosin ┃ MSE ┃\n"
		"│ Conv_m1 │ AxQuantizedConv │ /model.24/m.1/Conv_output_0 │ (1, 255, 40, 40) │ FP32 │ U8 │ 0.98000 │ 0.00100 │\n"
		"│ Conv_m2 │ AxQuantizedConv │ /model.24/m.2/Conv_output_0 │ (1, 255, 20, 20) │ FP32 │ U8 │ 0.99800 │ 0.00200 │\n"
		"└──────┘\n";
	cJSON *figs = cJSON_CreateArray();
	step_figs("pulsar2", "build_npu", NPU, figs);
	step_figs("pulsar2", "build_vnpu", VNPU, figs);
	cJSON *spec = cJSON_Parse("{\"target\":\"maixcam2\",\"quantize\":\"int8\",\"tolerance\":[0.9],"
				  "\"outputs\":[\"/model.24/m.2/Conv_output_0\","
				  "\"/model.24/m.1/Conv_output_0\"]}");
	cJSON *res = results_build(figs, spec);
	cJSON *r = row_for(res, "int8 npu", "/model.24/m.1/Conv_output_0", "cosine");
	CHECK(r && num(r, "value") == 0.981);
	CHECK_STR(str(r, "step"), "build_npu");
	r = row_for(res, "int8 vnpu", "/model.24/m.1/Conv_output_0", "cosine");
	CHECK(r && num(r, "value") == 0.98);
	r = row_for(res, "int8 vnpu", "/model.24/m.2/Conv_output_0", "cosine");
	CHECK(r && num(r, "value") == 0.998);
	CHECK(row_for(res, "int8 npu", "317", "cosine") == NULL);  /* a layer, not an output */
	cJSON *w = cJSON_GetObjectItem(res, "worst");
	CHECK_STR(str(w, "output"), "/model.24/m.1/Conv_output_0");
	CHECK_STR(str(w, "stage"), "int8 vnpu");
	CHECK_STR(str(cJSON_GetArrayItem(cJSON_GetObjectItem(res, "rows"), 0), "output"),
		  "/model.24/m.1/Conv_output_0");
	/* per layer, worst first, each with its build */
	cJSON *l0 = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "layers"), 0);
	CHECK_STR(str(l0, "layer"), "Conv_0");
	CHECK_STR(str(l0, "stage"), "int8 npu");
	cJSON *tol = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "tolerance"), 0);
	CHECK(tol && tol->valuedouble == 0.9);
	cJSON_Delete(res);
	cJSON_Delete(spec);
	cJSON_Delete(figs);
}

/* reCamera with a test image: model_transform's compare and model_deploy's
 * two (npz_tool compare output as in ../shared/reference/tpu-mlir.md §4,
 * from tpu-mlir issue #186 and Seeed-Studio/wiki-documents issue #2214).
 * Before: nine unlabelled cards, the summaries among them, and
 * "sqnr 55.91374626151228". */
static void results__tpu_mlir_rows_have_step_stage_and_rounded_figures(void)
{
	static const char TRANSFORM[] =
		"[Running]: npz_tool.py compare m_top_outputs.npz m_ref_outputs.npz --tolerance 0.99,0.99 --except - -vv\n"
		"[output0                         ]      SIMILAR [PASSED]\n"
		"    (1, 84, 8400) float32 \n"
		"    cosine_similarity      = 0.999998\n"
		"    euclidean_similarity   = 0.999412\n"
		"    sqnr_similarity        = 55.913746\n"
		"1 compared\n"
		"1 passed\n"
		"  0 equal, 0 close, 1 similar\n"
		"0 failed\n"
		"  0 not equal, 0 not similar\n"
		"min_similiarity = (0.9999984502792358, 0.9994121193885803, 55.91374626151228)\n"
		"Target    m_top_outputs.npz\n"
		"Reference m_ref_outputs.npz\n"
		"npz compare PASSED.\n";
	static const char DEPLOY[] =
		"[Running]: npz_tool.py compare m_cv181x_int8_sym_tpu_outputs.npz m_top_outputs.npz --tolerance 0.9,0.6 --except - -vv\n"
		"[output0_Conv                    ]      SIMILAR [PASSED]\n"
		"    cosine_similarity      = 0.981234\n"
		"    euclidean_similarity   = 0.801000\n"
		"    sqnr_similarity        = 14.123456\n"
		"min_similiarity = (0.9812344312667847, 0.8010001182556152, 14.123456001281738)\n"
		"[Running]: npz_tool.py compare m_cv181x_int8_sym_model_outputs.npz m_cv181x_int8_sym_tpu_outputs.npz --tolerance 0.99,0.90 --except - -vv\n"
		"[output0                         ]        EQUAL [PASSED]\n"
		"min_similiarity = (1.0, 1.0, inf)\n";
	cJSON *figs = cJSON_CreateArray();
	step_figs("tpu-mlir", "transform", TRANSFORM, figs);
	step_figs("tpu-mlir", "deploy", DEPLOY, figs);
	cJSON *min = cJSON_GetArrayItem(figs, 1);
	CHECK_STR(str(min, "kind"), "summary");
	CHECK(num(min, "sqnr") == 55.91);
	CHECK_STR(str(cJSON_GetArrayItem(figs, 0), "compare"), "top vs onnx");
	cJSON *spec = cJSON_Parse("{\"target\":\"recamera\",\"quantize\":\"int8\","
				  "\"tolerance\":[0.9,0.6],\"outputs\":[\"output0\"]}");
	cJSON *res = results_build(figs, spec);
	cJSON *r = row_for(res, "float", "output0", "sqnr");
	CHECK(r && num(r, "value") == 55.91);
	CHECK_STR(str(r, "compare"), "top vs onnx");
	r = row_for(res, "int8", "output0", "cosine");
	CHECK(r && num(r, "value") == 0.981234);
	CHECK_STR(str(r, "compare"), "tpu vs top");
	CHECK_STR(str(r, "step"), "deploy");
	/* no row comes from a summary line */
	cJSON *x;
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(res, "rows"))
		CHECK(strcmp(str(x, "output"), "min") != 0);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(res, "outputs")), 1);
	CHECK(num(cJSON_GetObjectItem(res, "worst"), "cosine") == 0.981234);
	cJSON_Delete(res);
	cJSON_Delete(spec);
	cJSON_Delete(figs);
}

static void logparse__unknown_id_is_refused_and_none_parses_nothing(void)
{
	struct logparse *lp;
	struct kiln_err err;
	CHECK_INT(toolchain_logparse_new("regex", &lp, &err), KILN_EINVAL);
	cJSON *f = feed("none", "Layer: x  cosine-sim: 0.5\n");
	CHECK_INT(cJSON_GetArraySize(f), 0);
	cJSON_Delete(f);
}

/* --- events ------------------------------------------------------------------ */

struct seen {
	uint64_t ids[64];
	char types[64][16];
	int n;
};

static void seen_fn(void *arg, const struct events_item *it)
{
	struct seen *s = arg;
	if (s->n < 64) {
		s->ids[s->n] = it->id;
		snprintf(s->types[s->n], 16, "%s", it->type);
		s->n++;
	}
}

static void events__ids_increase_ring_drops_oldest_and_reports_the_gap(void)
{
	struct events_conf conf = {.ring_events = 4};
	struct events *ev;
	struct kiln_err err;
	if (!CHECK_INT(events_new(&conf, &ev, &err), 0))
		return;
	uint64_t ids[6];
	for (int i = 0; i < 6; i++)
		CHECK_INT(events_publish(ev, 7, i % 2 ? "log" : "state", "{}", &ids[i]), 0);
	for (int i = 1; i < 6; i++)
		CHECK(ids[i] > ids[i - 1]);
	struct seen s = {0};
	int gap = 0;
	CHECK_INT(events_read(ev, 7, 0, 0, seen_fn, &s, &gap), 4);
	CHECK_INT(gap, 1);
	CHECK(s.ids[0] == ids[2]);
	memset(&s, 0, sizeof(s));
	CHECK_INT(events_read(ev, 7, ids[3], 0, seen_fn, &s, &gap), 2);
	CHECK_INT(gap, 0);
	CHECK(s.ids[0] == ids[4] && s.ids[1] == ids[5]);
	CHECK_STR(s.types[1], "log");
	memset(&s, 0, sizeof(s));
	CHECK_INT(events_read(ev, 7, ids[0], 0, seen_fn, &s, &gap), 4);
	CHECK_INT(gap, 1);  /* ids[1] was dropped */
	CHECK_INT(events_wait(ev, 7, ids[5], 0), 0);
	CHECK_INT(events_wait(ev, 7, ids[4], 0), 1);
	CHECK_INT(events_read(ev, 8, 0, 0, seen_fn, &s, &gap), 0);
	CHECK_INT(gap, 1);
	events_free(ev);
}

static void events__subscribers_are_told_once_per_event_until_unsubscribed(void)
{
	struct events *ev;
	struct kiln_err err;
	if (!CHECK_INT(events_new(NULL, &ev, &err), 0))
		return;
	struct seen one = {0}, all = {0};
	struct events_sub *s1, *s2;
	CHECK_INT(events_subscribe(ev, 1, seen_fn, &one, &s1, &err), 0);
	CHECK_INT(events_subscribe(ev, 0, seen_fn, &all, &s2, &err), 0);
	events_publish(ev, 1, "state", "{\"state\":\"queued\"}", NULL);
	events_publish(ev, 2, "state", "{\"state\":\"queued\"}", NULL);
	events_unsubscribe(ev, s1);
	events_publish(ev, 1, "state", "{\"state\":\"running\"}", NULL);
	CHECK_INT(one.n, 1);
	CHECK_INT(all.n, 3);
	events_unsubscribe(ev, s2);
	/* finished rings beyond keep_finished are dropped */
	for (int64_t j = 100; j < 300; j++) {
		events_publish(ev, j, "state", "{}", NULL);
		events_finish(ev, j);
	}
	int gap;
	CHECK_INT(events_read(ev, 100, 0, 0, seen_fn, &one, &gap), 0);
	CHECK_INT(events_read(ev, 299, 0, 0, seen_fn, &one, &gap), 1);
	events_free(ev);
}

/* --- engine ------------------------------------------------------------------ */

static void engine_command__podman_line_matches_the_documented_shape(void)
{
	struct engine_conf c = {.toolchain = "tpu-mlir", .engine = "podman",
				.image = "sophgo/tpuc_dev:v3.1",
				.engine_args = "--runtime runc  --ulimit nofile=1024:1024"};
	char *argv[] = {"model_transform", "--model_name", "a b", NULL};
	struct engine_cmd cmd;
	struct kiln_err err;
	char name[64];
	CHECK_INT(engine_container_name(42, "transform", name, sizeof(name), &err), 0);
	CHECK_STR(name, "kiln-42-transform");
	if (!CHECKF(engine_command(&c, "/data/jobs/42/work", name, argv, NULL, &cmd, &err) == 0,
		    "%s", err.msg))
		return;
	const char *want[] = {"podman", "run", "--rm", "--name", "kiln-42-transform", "-v",
			      "/data/jobs/42/work:/workspace", "-w", "/workspace", "--runtime",
			      "runc", "--ulimit", "nofile=1024:1024", "sophgo/tpuc_dev:v3.1",
			      "model_transform", "--model_name", "a b", NULL};
	for (int i = 0; want[i] || cmd.argv[i]; i++)
		if (!CHECKF(want[i] && cmd.argv[i] && strcmp(want[i], cmd.argv[i]) == 0,
			    "argv[%d]: got %s want %s", i, cmd.argv[i] ? cmd.argv[i] : "NULL",
			    want[i] ? want[i] : "NULL"))
			break;
	CHECK_STR(cmd.kill_argv[1], "kill");
	CHECK_STR(cmd.kill_argv[2], "kiln-42-transform");
	CHECK_STR(cmd.cleanup_argv[1], "rm");
	CHECK_STR(cmd.cleanup_argv[3], "-t");  /* podman: kill now, not after 10 s */
	CHECK_STR(cmd.cleanup_argv[5], "kiln-42-transform");
	engine_cmd_free(&cmd);
	CHECK(engine_command(&c, "relative/dir", name, argv, NULL, &cmd, &err) != 0);
	engine_cmd_free(&cmd);
	strcpy(c.image, "--privileged");
	CHECK_INT(engine_conf_check(&c, &err), KILN_EINVAL);
	strcpy(c.engine, "lxc");
	CHECK_INT(engine_conf_check(&c, &err), KILN_EINVAL);
}

static void engine_command__local_puts_path_first_and_runs_argv_as_is(void)
{
	struct engine_conf c = {.toolchain = "tpu-mlir", .engine = "local",
				.path = "tests/toolchain-double/bin"};
	char *argv[] = {"model_transform", "--x", NULL};
	const char *extra[] = {"KILN_JOB_ID=5", NULL};
	struct engine_cmd cmd;
	struct kiln_err err;
	if (!CHECK_INT(engine_command(&c, "/w", "", argv, extra, &cmd, &err), 0))
		return;
	CHECK_STR(cmd.argv[0], "model_transform");
	CHECK(cmd.argv[2] == NULL);
	CHECK(cmd.kill_argv == NULL && cmd.cleanup_argv == NULL);
	char cwd[512];
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	char want[700];
	snprintf(want, sizeof(want), "%s/tests/toolchain-double/bin:", cwd);
	CHECKF(cmd.search_path && strncmp(cmd.search_path, want, strlen(want)) == 0, "%s",
	       cmd.search_path ? cmd.search_path : "NULL");
	int has_path = 0, has_extra = 0;
	for (int i = 0; cmd.envp[i]; i++) {
		has_path += strncmp(cmd.envp[i], "PATH=", 5) == 0 &&
			    strncmp(cmd.envp[i] + 5, want, strlen(want)) == 0;
		has_extra += strcmp(cmd.envp[i], "KILN_JOB_ID=5") == 0;
	}
	CHECK_INT(has_path, 1);
	CHECK_INT(has_extra, 1);
	engine_cmd_free(&cmd);
	CHECK(engine_find(NULL, 0, "local") == engine_local_conf());
	CHECK(engine_find(&c, 1, "pulsar2") == NULL);
}

static void engine_probe__local_toolchain_says_what_is_missing(void)
{
	const char *dir = kt_tmpdir();
	struct engine_conf c = {.toolchain = "pulsar2", .engine = "local"};
	snprintf(c.path, sizeof(c.path), "%s", dir);
	struct engine_status st;
	CHECK_INT(engine_probe(&c, 0, &st), KILN_EUNAVAIL);
	CHECK(!st.engine_ok);
	CHECKF(strstr(st.message, "pulsar2") != NULL, "%s", st.message);
	CHECKF(strstr(st.fix, "[toolchain.pulsar2]") != NULL, "%s", st.fix);
	char tool[600];
	snprintf(tool, sizeof(tool), "%s/pulsar2", dir);
	CHECK(kt_write_file(tool, "#!/bin/sh\n", 10) == 0);
	chmod(tool, 0755);
	CHECK_INT(engine_probe(&c, 0, &st), 0);
	cJSON *j = engine_status_json(&st);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "ready")));
	cJSON_Delete(j);
}

/* issue 13 item 6: "simulated" comes from what the tool says it is (the
 * double's marker in its --help), not from the text "toolchain-double" in
 * the configured path: the double copied to any folder is still simulated,
 * a tool in a folder of that name that answers as a real one is not. */
static void engine_probe__simulated_is_what_the_tool_says_not_its_path(void)
{
	const char *tmp = kt_tmpdir();
	char dir[600], tool[700];
	snprintf(dir, sizeof(dir), "%s/elsewhere", tmp);
	mkdir(dir, 0755);
	const char *names[] = {"model_transform", "model_transform.py", NULL};
	for (int i = 0; names[i]; i++) {
		snprintf(tool, sizeof(tool), "%s/%s", dir, names[i]);
		const char *body = "#!/bin/sh\necho 'usage: model_transform.py'\n"
				   "echo 'KILN-TOOLCHAIN-DOUBLE (simulated by the Kiln toolchain double)'\n";
		CHECK(kt_write_file(tool, body, strlen(body)) == 0);
		chmod(tool, 0755);
	}
	struct engine_conf c = {.toolchain = "tpu-mlir", .engine = "local"};
	snprintf(c.path, sizeof(c.path), "%s", dir);
	struct engine_status st;
	CHECK_INT(engine_probe(&c, 0, &st), 0);
	CHECK(st.simulated);
	/* the same tool in a folder named toolchain-double, now answering as a real one */
	snprintf(dir, sizeof(dir), "%s/toolchain-double", tmp);
	mkdir(dir, 0755);
	for (int i = 0; names[i]; i++) {
		snprintf(tool, sizeof(tool), "%s/%s", dir, names[i]);
		const char *body = "#!/bin/sh\necho 'usage: model_transform.py [-h]'\n";
		CHECK(kt_write_file(tool, body, strlen(body)) == 0);
		chmod(tool, 0755);
	}
	snprintf(c.path, sizeof(c.path), "%s", dir);
	CHECK_INT(engine_probe(&c, 0, &st), 0);
	CHECK(!st.simulated);
	cJSON *j = engine_status_json(&st);
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "simulated")));
	cJSON_Delete(j);
	/* a local tool that does not run is not ready either */
	snprintf(tool, sizeof(tool), "%s/model_transform.py", dir);
	CHECK(kt_write_file(tool, "#!/bin/sh\nexit 3\n", 17) == 0);
	CHECK_INT(engine_probe(&c, 0, &st), KILN_EUNAVAIL);
	CHECKF(strstr(st.message, "model_transform.py --help") != NULL, "%s", st.message);
	CHECKF(strstr(st.fix, "tpu-mlir.Containerfile") != NULL, "%s", st.fix);
}

static void engine_probe__missing_engine_says_how_to_install_it(void)
{
	/* an engine binary that is not on this PATH */
	const char *old = getenv("PATH");
	char *saved = old ? strdup(old) : NULL;
	setenv("PATH", "/nonexistent", 1);
	struct engine_conf c = {.toolchain = "tpu-mlir", .engine = "docker",
				.image = "sophgo/tpuc_dev:v3.1"};
	struct engine_status st;
	int rc = engine_probe(&c, 0, &st);
	if (saved) {
		setenv("PATH", saved, 1);
		free(saved);
	}
	CHECK_INT(rc, KILN_EUNAVAIL);
	CHECK(!st.engine_ok && !st.image_ok);
	CHECKF(strstr(st.fix, "apt-get install docker.io") != NULL, "%s", st.fix);
}


static void plan_sh__with_engines_is_a_script_that_repeats_the_job(void)
{
	const char *dir = kt_tmpdir();
	struct plan *p;
	struct kiln_err err;
	const char *json =
		"{\"files\":[{\"name\":\"tool.sh\",\"executable\":true,"
		"  \"content\":\"#!/bin/sh\\nprintf '%s' \\\"$2\\\" > \\\"$1\\\"\\n\"},"
		"  {\"name\":\"cfg.json\",\"content\":\"{\\\"a\\\": \\\"it's\\\"}\"}],"
		" \"steps\":[{\"name\":\"make\",\"argv\":[\"./tool.sh\",\"out.txt\",\"a b'c $HOME\"],"
		"   \"toolchain\":\"local\",\"outputs\":[\"out.txt\"]},"
		"  {\"name\":\"conv\",\"argv\":[\"model_transform\",\"--x\"],\"toolchain\":\"tpu-mlir\"}]}";
	if (!CHECKF(plan_parse(json, strlen(json), &p, &err) == 0, "%s", err.msg))
		return;
	struct engine_conf c = {.toolchain = "tpu-mlir", .engine = "podman",
				.image = "sophgo/tpuc_dev:v3.1", .engine_args = "--runtime runc"};
	char *sh = plan_sh(p, &(struct plan_sh_opts){.confs = &c, .n_confs = 1, .job = 7});
	if (!CHECK(sh != NULL))
		return;
	CHECKF(strstr(sh, "podman run --rm --name kiln-7-conv -v \"$PWD\":/workspace -w /workspace "
			  "--runtime runc sophgo/tpuc_dev:v3.1 model_transform \\\n  --x\n") != NULL, "%s", sh);
	CHECKF(strstr(sh, "./tool.sh out.txt 'a b'\\''c $HOME'\n") != NULL, "%s", sh);
	/* run it up to the container step, which is cut off here */
	char *cut = strstr(sh, "\n# step 2/2");
	if (CHECK(cut != NULL))
		cut[1] = '\0';
	char path[600];
	snprintf(path, sizeof(path), "%s/job.sh", dir);
	CHECK(kt_write_file(path, sh, strlen(sh)) == 0);
	char *argv[] = {"/bin/sh", path, NULL};
	struct exec_req req = {.argv = argv, .cwd = dir};
	struct exec_result res;
	CHECKF(exec_run(&req, &res, &err) == 0, "%s", err.msg);
	snprintf(path, sizeof(path), "%s/out.txt", dir);
	char *out = kt_read_file(path, NULL);
	CHECK_STR(out, "a b'c $HOME");
	free(out);
	snprintf(path, sizeof(path), "%s/cfg.json", dir);
	out = kt_read_file(path, NULL);
	CHECK_STR(out, "{\"a\": \"it's\"}");
	free(out);
	free(sh);
	plan_free(p);
}

/* What finishing a job needs travels with the stored plan: the bundle's
 * files and the recipe version survive the JSON, and a bad entry is
 * refused naming it. */
static void plan_parse__keeps_the_bundle_list_and_recipe_version(void)
{
	const char *json =
		"{\"steps\":[{\"name\":\"s\",\"argv\":[\"true\"],\"toolchain\":\"local\"}],"
		" \"bundle\":[{\"name\":\"m.mud\",\"content\":\"[basic]\\n\"},"
		"  {\"name\":\"build/m/m.cvimodel\",\"src\":\"out/m_int8.cvimodel\"}],"
		" \"recipe\":\"maixcam/3\"}";
	struct plan *p, *q;
	struct kiln_err err;
	if (!CHECKF(parse(json, &p, &err) == 0, "%s", err.msg))
		return;
	CHECK_INT(p->n_bundle, 2);
	CHECK_STR(p->recipe, "maixcam/3");
	CHECK_STR(p->bundle[0].content, "[basic]\n");
	CHECK(p->bundle[0].src == NULL);
	CHECK_STR(p->bundle[1].src, "out/m_int8.cvimodel");
	char *s = plan_to_string(p);
	if (CHECK(s != NULL) && CHECKF(parse(s, &q, &err) == 0, "%s", err.msg)) {
		CHECK_INT(q->n_bundle, 2);
		CHECK_STR(q->bundle[1].name, "build/m/m.cvimodel");
		CHECK_STR(q->recipe, "maixcam/3");
		plan_free(q);
	}
	free(s);
	plan_free(p);
	static const struct bad bad[] = {
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"true\"],\"toolchain\":\"local\"}],"
		 "\"bundle\":[{\"name\":\"../m\",\"src\":\"m\"}]}", "bundle[0]"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"true\"],\"toolchain\":\"local\"}],"
		 "\"bundle\":[{\"name\":\"m\",\"src\":\"m\",\"content\":\"x\"}]}", "bundle[0]"},
		{"{\"steps\":[{\"name\":\"s\",\"argv\":[\"true\"],\"toolchain\":\"local\"}],"
		 "\"recipe\":\"Maix Cam\"}", "recipe"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kiln_err_clear(&err);
		CHECKF(parse(bad[i].json, &p, &err) != 0, "%s", bad[i].json);
		CHECK_STR(err.field, bad[i].field);
	}
}

/* Without engines the script is the tools' own commands, and a file that
 * does not end in a newline is written byte for byte (the seeds'
 * here-document would add one). */
static void plan_sh__writes_files_exactly_and_steps_in_the_seeds_style(void)
{
	const char *dir = kt_tmpdir();
	const char *json =
		"{\"files\":[{\"name\":\"a.txt\",\"content\":\"no newline $HOME\"},"
		"  {\"name\":\"b.txt\",\"content\":\"line 'one'\\nKILN_EOF\\n\"}],"
		" \"steps\":[{\"name\":\"s\",\"argv\":[\"cp\",\"-f\",\"a.txt\",\"c.txt\"],"
		"   \"toolchain\":\"tpu-mlir\",\"outputs\":[\"c.txt\"]}]}";
	struct plan *p;
	struct kiln_err err;
	if (!CHECKF(parse(json, &p, &err) == 0, "%s", err.msg))
		return;
	char *sh = plan_sh(p, &(struct plan_sh_opts){.title = "t"});
	if (!CHECK(sh != NULL))
		return;
	CHECKF(strstr(sh, "cp \\\n  -f a.txt c.txt\n") != NULL, "%s", sh);
	CHECKF(strstr(sh, "<<'KILN_EOF_1'\n") != NULL, "%s", sh);
	char path[600];
	snprintf(path, sizeof(path), "%s/job.sh", dir);
	CHECK(kt_write_file(path, sh, strlen(sh)) == 0);
	char *argv[] = {"/bin/sh", path, NULL};
	struct exec_req req = {.argv = argv, .cwd = dir};
	struct exec_result res;
	CHECKF(exec_run(&req, &res, &err) == 0 && res.exit_code == 0, "%s", err.msg);
	const char *want[][2] = {{"a.txt", "no newline $HOME"}, {"b.txt", "line 'one'\nKILN_EOF\n"},
				 {"c.txt", "no newline $HOME"}};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, want[i][0]);
		char *out = kt_read_file(path, NULL);
		CHECK_STR(out, want[i][1]);
		free(out);
	}
	free(sh);
	plan_free(p);
}

static const struct kt_test tests[] = {
	{"plan_parse__reads_files_and_steps_with_defaults",
	 plan_parse__reads_files_and_steps_with_defaults},
	{"plan_to_string__round_trips", plan_to_string__round_trips},
	{"plan_parse__keeps_the_bundle_list_and_recipe_version",
	 plan_parse__keeps_the_bundle_list_and_recipe_version},
	{"plan_sh__writes_files_exactly_and_steps_in_the_seeds_style",
	 plan_sh__writes_files_exactly_and_steps_in_the_seeds_style},
	{"plan_parse__rejects_bad_names_paths_and_bounds_naming_the_field",
	 plan_parse__rejects_bad_names_paths_and_bounds_naming_the_field},
	{"plan_parse__bounds_steps_args_and_file_sizes", plan_parse__bounds_steps_args_and_file_sizes},
	{"plan_add_step__builds_a_plan_in_c", plan_add_step__builds_a_plan_in_c},
	{"logparse__tpu_mlir_npz_compare_gives_cosine_per_output",
	 logparse__tpu_mlir_npz_compare_gives_cosine_per_output},
	{"logparse__pulsar_score_table", logparse__pulsar_score_table},
	{"logparse__pulsar2_compiler_check_failure_is_a_failed_figure",
	 logparse__pulsar2_compiler_check_failure_is_a_failed_figure},
	{"logparse__pulsar2_precision_table_keeps_every_layer_by_name",
	 logparse__pulsar2_precision_table_keeps_every_layer_by_name},
	{"logparse__pulsar2_end_to_end_table_rounds_its_cosines",
	 logparse__pulsar2_end_to_end_table_rounds_its_cosines},
	{"logparse__pulsar2_big_table_keeps_worst_and_last_rows",
	 logparse__pulsar2_big_table_keeps_worst_and_last_rows},
	{"results__pulsar2_rows_name_each_output_and_build",
	 results__pulsar2_rows_name_each_output_and_build},
	{"results__tpu_mlir_rows_have_step_stage_and_rounded_figures",
	 results__tpu_mlir_rows_have_step_stage_and_rounded_figures},
	{"logparse__unknown_id_is_refused_and_none_parses_nothing",
	 logparse__unknown_id_is_refused_and_none_parses_nothing},
	{"events__ids_increase_ring_drops_oldest_and_reports_the_gap",
	 events__ids_increase_ring_drops_oldest_and_reports_the_gap},
	{"events__subscribers_are_told_once_per_event_until_unsubscribed",
	 events__subscribers_are_told_once_per_event_until_unsubscribed},
	{"engine_command__podman_line_matches_the_documented_shape",
	 engine_command__podman_line_matches_the_documented_shape},
	{"engine_command__local_puts_path_first_and_runs_argv_as_is",
	 engine_command__local_puts_path_first_and_runs_argv_as_is},
	{"engine_probe__local_toolchain_says_what_is_missing",
	 engine_probe__local_toolchain_says_what_is_missing},
	{"engine_probe__simulated_is_what_the_tool_says_not_its_path",
	 engine_probe__simulated_is_what_the_tool_says_not_its_path},
	{"engine_probe__missing_engine_says_how_to_install_it",
	 engine_probe__missing_engine_says_how_to_install_it},
	{"plan_sh__with_engines_is_a_script_that_repeats_the_job",
	 plan_sh__with_engines_is_a_script_that_repeats_the_job},
};

int main(int argc, char **argv)
{
	return kt_main("test_jobs_plan", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
