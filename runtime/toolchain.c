/*
 * toolchain: the rows (see toolchain.h).  Each fact names where it comes
 * from; the seeds are ../shared/seeds/README.md.
 */
#include "runtime/toolchain.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "runtime/kiln_err.h"

/* Readiness probes.  tpu-mlir checks both names: seed 001's recipe calls
 * model_transform.py, seed 002's model_transform; sophgo/tpuc_dev:v3.1 is
 * only the environment (seed 002 and TPU-MLIR's
 * docs/quick_start/source_en/02_env.rst pip-install tpu_mlir inside it).
 * `pulsar2 version`: AXERA-TECH/pulsar2-docs-en @ 83fa86a4
 * source/user_guides_quick/quick_start_ax620e.md ("build, run and version").
 * `pulsar version`: AXERA-TECH/pulsar-docs-en source/user_guides_quick/
 * quick_start.rst, usage "pulsar [-h] {debug,build,version,info,run,view}". */
static const char *const TPU_PY[] = {"model_transform.py", "--help", NULL};
static const char *const TPU_PLAIN[] = {"model_transform", "--help", NULL};
static const char *const PULSAR2_VER[] = {"pulsar2", "version", NULL};
static const char *const PULSAR_VER[] = {"pulsar", "version", NULL};
static const char *const VOYAGER_HELP[] = {"deploy.py", "--help", NULL};

static const struct toolchain TOOLCHAINS[] = {
	/* tpuc_dev:v3.1 + tpu_mlir 1.7 (seed 002), built from
	 * deploy/toolchains/tpu-mlir.Containerfile: the vendor image alone
	 * lacks TPU-MLIR.  model_transform / model_deploy --test_input and
	 * --test_reference compare on one image; --tolerance takes cosine and
	 * euclidean and fails the step itself. */
	{"tpu-mlir", "TPU-MLIR (Sophgo)", "localhost/kiln-tpu-mlir:1.7", "tpu-mlir",
	 TOOLCHAIN_CALIB_DIR, TOOLCHAIN_COMPARE_TEST_IMAGE, NULL, NULL, NULL, 2, 0,
	 /* "The number of input data depends on the situation but is
	  * normally around 100 to 1000": sophgo/tpu-mlir @ 8d11f573,
	  * docs/quick_start/source_en/Appx.02_cv18xx_guide.rst, "MLIR to INT8 Model" */
	 .calib_recommended = 100,
	 .calib_recommended_why = "TPU-MLIR's CV18xx guide: \"normally around 100 to 1000\" images",
	 .log = &logparse_tpu_mlir,
	 .program = "model_transform", .probes = {TPU_PY, TPU_PLAIN, NULL},
	 .build = "%s build -t %s -f deploy/toolchains/tpu-mlir.Containerfile deploy/toolchains",
	 .build_tag = "localhost/kiln-tpu-mlir:1.7"},
	/* seed 000: image loaded from the pulsar2 tarball; calibration_dataset
	 * is a tar; quant.precision_analysis compares on the calibration images
	 * it quantizes with; compiler.check 3 fails on the figures itself. */
	{"pulsar2", "Pulsar2 (AXERA)", "pulsar2:latest", "pulsar2",
	 TOOLCHAIN_CALIB_TAR, TOOLCHAIN_COMPARE_CALIBRATION, "precision_analysis",
	 "target_options.precision_analysis is false: pulsar2 prints no precision table",
	 "pulsar2 compares on the calibration images it quantizes with", 1, 0,
	 /* quant.input_configs[].calibration_size defaults to 32
	  * (AXERA-TECH/pulsar2-docs-en, user_guides_config/config.md; see
	  * ../shared/reference/axera-axelera.md) */
	 .calib_recommended = 32,
	 .calib_recommended_why = "Pulsar2's calibration_size default of 32 images",
	 .log = &logparse_pulsar2,
	 .program = "pulsar2", .probes = {PULSAR2_VER, NULL},
	 .install_how = "download pulsar2_<version>.tar.gz from "
			"https://huggingface.co/AXERA-TECH/Pulsar2, then: %s load -i "
			"pulsar2_<version>.tar.gz and tag it as %s"},
	/* seed 003: dataset_conf_calibration is a tar; `pulsar run --input`
	 * compares on one image and prints a score table it never fails on
	 * (spec.c parse_tolerance), so Kiln holds the cosines itself. */
	{"pulsar", "pulsar (AXERA, legacy)", "sipeed/pulsar:latest", "pulsar",
	 TOOLCHAIN_CALIB_TAR, TOOLCHAIN_COMPARE_TEST_IMAGE, "similarity_check",
	 "target_options.similarity_check is false: pulsar run does not compare", NULL, 1, 1,
	 /* dataset_conf_calibration size 256 in Sipeed's `pulsar build`
	  * guide (seed 003; ../shared/reference/axera-axelera.md) */
	 .calib_recommended = 256,
	 .calib_recommended_why = "Sipeed's pulsar build guide: a dataset_conf_calibration size of 256",
	 .log = &logparse_pulsar,
	 .program = "pulsar", .probes = {PULSAR_VER, NULL}},
	/* The Voyager SDK's deploy.py prints no comparison at all (voyager-sdk
	 * v1.2.5 deploy.py, pipeline.py, compile.py, checked by the helper
	 * session that wrote its recipe); it reads a directory of images. */
	{"voyager", "Voyager SDK (Axelera)", "axelera/voyager-sdk:latest", "none",
	 TOOLCHAIN_CALIB_DIR, TOOLCHAIN_COMPARE_NOTHING, NULL,
	 "the Voyager SDK prints no similarity figure", NULL, 1, 0,
	 /* deploy.py --num-cal-images defaults to 200 (2..2000):
	  * voyager-sdk v1.2.5 (38c4bf07) axelera/app/config.py */
	 .calib_recommended = 200,
	 .calib_recommended_why = "the Voyager SDK's --num-cal-images default of 200",
	 .log = NULL,
	 .program = "deploy.py", .probes = {VOYAGER_HELP, NULL},
	 .install_how = "build the Voyager SDK image (github.com/axelera-ai-hub/voyager-sdk) "
			"with %s and tag it as %s"},
};

_Static_assert(sizeof(TOOLCHAINS) / sizeof(TOOLCHAINS[0]) <= TOOLCHAIN_COUNT_MAX,
	       "TOOLCHAIN_COUNT_MAX is too small for the table");
_Static_assert(sizeof(TOOLCHAINS) / sizeof(TOOLCHAINS[0]) == TOOLCHAIN_COUNT,
	       "TOOLCHAIN_COUNT is not the number of rows");

const struct toolchain *toolchain_table(size_t *n)
{
	*n = sizeof(TOOLCHAINS) / sizeof(TOOLCHAINS[0]);
	return TOOLCHAINS;
}

const struct toolchain *toolchain_find(const char *id)
{
	for (size_t i = 0; id && i < sizeof(TOOLCHAINS) / sizeof(TOOLCHAINS[0]); i++)
		if (strcmp(TOOLCHAINS[i].id, id) == 0)
			return &TOOLCHAINS[i];
	return NULL;
}

void toolchain_ids_text(char *buf, size_t cap)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(TOOLCHAINS) / sizeof(TOOLCHAINS[0]) && used < cap; i++) {
		int w = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", TOOLCHAINS[i].id);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* "" and "none" parse nothing (*kind NULL); any other id is a row's parser.
 * Returns 0 when id is known. */
static int parser_find(const char *id, const struct logparse_kind **kind)
{
	*kind = NULL;
	if (id == NULL || id[0] == '\0' || strcmp(id, "none") == 0)
		return 0;
	for (size_t i = 0; i < sizeof(TOOLCHAINS) / sizeof(TOOLCHAINS[0]); i++)
		if (TOOLCHAINS[i].log != NULL && strcmp(TOOLCHAINS[i].parser, id) == 0) {
			*kind = TOOLCHAINS[i].log;
			return 0;
		}
	return -1;
}

int toolchain_parser_known(const char *id)
{
	const struct logparse_kind *k;
	return parser_find(id, &k) == 0;
}

static const char *parser_ids[TOOLCHAIN_COUNT_MAX + 2];
static pthread_once_t parser_ids_once = PTHREAD_ONCE_INIT;

static void parser_ids_fill(void)
{
	size_t k = 0;
	parser_ids[k++] = "none";
	for (size_t i = 0; i < sizeof(TOOLCHAINS) / sizeof(TOOLCHAINS[0]) &&
			   k < TOOLCHAIN_COUNT_MAX + 1; i++)
		if (TOOLCHAINS[i].log != NULL)
			parser_ids[k++] = TOOLCHAINS[i].parser;
	parser_ids[k] = NULL;
}

const char *const *toolchain_parser_ids(void)
{
	pthread_once(&parser_ids_once, parser_ids_fill);
	return parser_ids;
}

int toolchain_logparse_new(const char *id, struct logparse **out, struct kiln_err *err)
{
	const struct logparse_kind *k;
	if (parser_find(id, &k) != 0) {
		char known[200] = "";
		size_t used = 0;
		const char *const *v = toolchain_parser_ids();
		for (size_t i = 0; v[i] && used < sizeof(known); i++) {
			int w = snprintf(known + used, sizeof(known) - used, "%s%s",
					 i == 0 ? "" : v[i + 1] ? ", " : " or ", v[i]);
			if (w < 0)
				break;
			used += (size_t)w;
		}
		return kiln_errf(err, KILN_EINVAL, "parser", "unknown log parser '%.40s': use %s",
				 id, known);
	}
	return logparse_new(k, id, out, err);
}
