/*
 * toolchain: the rows (see toolchain.h).  Each fact names where it comes
 * from; the seeds are ../shared/seeds/README.md.
 */
#include "runtime/toolchain.h"

#include <stdio.h>
#include <string.h>

static const struct toolchain TOOLCHAINS[] = {
	/* tpuc_dev:v3.1 + tpu_mlir 1.7 (seed 002), built from
	 * deploy/toolchains/tpu-mlir.Containerfile: the vendor image alone
	 * lacks TPU-MLIR.  model_transform / model_deploy --test_input and
	 * --test_reference compare on one image; --tolerance takes cosine and
	 * euclidean and fails the step itself. */
	{"tpu-mlir", "TPU-MLIR (Sophgo)", "localhost/kiln-tpu-mlir:1.7", "tpu-mlir",
	 TOOLCHAIN_CALIB_DIR, TOOLCHAIN_COMPARE_TEST_IMAGE, NULL, NULL, NULL, 2, 0},
	/* seed 000: image loaded from the pulsar2 tarball; calibration_dataset
	 * is a tar; quant.precision_analysis compares on the calibration images
	 * it quantizes with; compiler.check 3 fails on the figures itself. */
	{"pulsar2", "Pulsar2 (AXERA)", "pulsar2:latest", "pulsar2",
	 TOOLCHAIN_CALIB_TAR, TOOLCHAIN_COMPARE_CALIBRATION, "precision_analysis",
	 "target_options.precision_analysis is false: pulsar2 prints no precision table",
	 "pulsar2 compares on the calibration images it quantizes with", 1, 0},
	/* seed 003: dataset_conf_calibration is a tar; `pulsar run --input`
	 * compares on one image and prints a score table it never fails on
	 * (spec.c parse_tolerance), so Kiln holds the cosines itself. */
	{"pulsar", "pulsar (AXERA, legacy)", "sipeed/pulsar:latest", "pulsar",
	 TOOLCHAIN_CALIB_TAR, TOOLCHAIN_COMPARE_TEST_IMAGE, "similarity_check",
	 "target_options.similarity_check is false: pulsar run does not compare", NULL, 1, 1},
	/* The Voyager SDK's deploy.py prints no comparison at all (voyager-sdk
	 * v1.2.5 deploy.py, pipeline.py, compile.py, checked by the helper
	 * session that wrote its recipe); it reads a directory of images. */
	{"voyager", "Voyager SDK (Axelera)", "axelera/voyager-sdk:latest", "none",
	 TOOLCHAIN_CALIB_DIR, TOOLCHAIN_COMPARE_NOTHING, NULL,
	 "the Voyager SDK prints no similarity figure", NULL, 1, 0},
};

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
